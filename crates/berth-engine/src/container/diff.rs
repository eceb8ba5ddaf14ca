//! `berth diff`: what a container changed in its filesystem, read from its writable layer (the
//! overlay upper directory) against the image's layers, as Docker prints it: `A` added, `C`
//! changed, `D` deleted, one path per line, sorted.
//!
//! Nothing is followed: the upper directory is walked with `symlink_metadata`, and whether a
//! path exists below is decided component by component in each image layer, a symlink or a
//! whiteout ending the search as it ends the path in the overlay.

use std::path::{Path, PathBuf};

use super::overlay::{RUNTIME_PATHS, is_opaque, is_whiteout};
use crate::{Engine, EngineError, Result};

/// Whether `rel` exists in the merged view of `lowers` (topmost first).
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    for lower in lowers {
        let mut at = lower.clone();
        let mut hidden_below = false;
        let mut found = true;
        let parts: Vec<_> = rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(meta) if is_whiteout(&meta) => return false,
                Ok(meta) if i + 1 < parts.len() && !meta.is_dir() => return false,
                Ok(meta) => {
                    if meta.is_dir() && i + 1 < parts.len() && is_opaque(&at) {
                        hidden_below = true;
                    }
                }
                Err(_) => {
                    found = false;
                    break;
                }
            }
        }
        if found {
            return true;
        }
        if hidden_below {
            return false;
        }
    }
    false
}

/// Drops berth's own runtime paths, and the directories that hold nothing else that changed.
fn without_runtime_paths(all: Vec<(char, String)>) -> Vec<(char, String)> {
    let runtime = |p: &str| RUNTIME_PATHS.iter().any(|r| p.strip_prefix('/') == Some(r));
    let kept: Vec<&(char, String)> = all.iter().filter(|(_, p)| !runtime(p)).collect();
    kept.iter()
        .filter(|(_, p)| {
            let holds_runtime_path = RUNTIME_PATHS
                .iter()
                .any(|r| format!("/{r}").starts_with(&format!("{p}/")));
            let prefix = format!("{p}/");
            !holds_runtime_path || kept.iter().any(|(_, q)| q.starts_with(&prefix))
        })
        .map(|e| (*e).clone())
        .collect()
}

impl Engine {
    /// `berth diff`: the container's changes as (kind, path) pairs, `kind` being `A`, `C` or `D`.
    pub fn diff(&self, name: &str) -> Result<Vec<(char, String)>> {
        let c = self.current(name)?;
        let image = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| EngineError::NoSuchImage(c.image_id.to_string()))?;
        let lowers: Vec<PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| self.store.layer_path(&l.chain_id))
            .collect();
        let upper = self.container_dir(&c.id).join("upper");
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let dir = upper.join(&rel);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(EngineError::io("read", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(EngineError::io("read", &dir))?;
                let path = rel.join(entry.file_name());
                let meta = entry
                    .metadata()
                    .map_err(EngineError::io("read", entry.path()))?;
                let shown = format!("/{}", path.display());
                if is_whiteout(&meta) {
                    out.push(('D', shown));
                    continue;
                }
                out.push((if in_lowers(&lowers, &path) { 'C' } else { 'A' }, shown));
                if meta.is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(without_runtime_paths(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_paths_and_their_otherwise_unchanged_directories_are_hidden() {
        let all = vec![
            ('C', "/etc".to_string()),
            ('A', "/etc/hosts".to_string()),
            ('A', "/etc/resolv.conf".to_string()),
            ('A', "/proc".to_string()),
            ('A', "/srv".to_string()),
            ('C', "/var".to_string()),
            ('A', "/var/log".to_string()),
        ];
        assert_eq!(
            without_runtime_paths(all),
            [
                ('A', "/srv".to_string()),
                ('C', "/var".to_string()),
                ('A', "/var/log".to_string())
            ]
        );
        let with_change = vec![
            ('C', "/etc".to_string()),
            ('A', "/etc/hosts".to_string()),
            ('C', "/etc/passwd".to_string()),
        ];
        assert_eq!(
            without_runtime_paths(with_change),
            [('C', "/etc".to_string()), ('C', "/etc/passwd".to_string())]
        );
    }
}
