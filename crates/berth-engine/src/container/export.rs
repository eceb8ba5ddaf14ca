//! `berth export`: a container's whole filesystem as one tar stream, the image's layers with the
//! container's changes on top. A running container's root is read where it is mounted; a
//! stopped one's is mounted read-only for the export (the upper directory as the top lower
//! layer, no upper), then unmounted. Symlinks are archived as links, never followed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::overlay;
use crate::{Engine, EngineError, Result};

/// Archives every entry below `root` into `out`, sorted, paths relative to `root`.
fn archive(root: &Path, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let mut names: Vec<_> = std::fs::read_dir(root)
        .map_err(EngineError::io("read", root))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let path = root.join(&name);
        let meta = std::fs::symlink_metadata(&path).map_err(EngineError::io("read", &path))?;
        let written = if meta.is_dir() {
            b.append_dir_all(&name, &path)
        } else {
            b.append_path_with_name(&path, &name)
        };
        written.map_err(EngineError::io("archive", &path))?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(EngineError::io("write", "the export"))
}

impl Engine {
    /// `berth export`: the container's filesystem as a tar stream written to `out`.
    pub fn export(&self, name: &str, out: impl Write) -> Result<()> {
        let c = self.current(name)?;
        if c.state.status.is_live() && self.rootfs_dir(&c.id).join("etc").exists() {
            return archive(&self.rootfs_dir(&c.id), out);
        }
        let image = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| EngineError::NoSuchImage(c.image_id.to_string()))?;
        let dir = self.container_dir(&c.id);
        let mut lowers: Vec<PathBuf> = vec![dir.join("upper")];
        lowers.extend(
            image
                .layers
                .iter()
                .rev()
                .map(|l| self.store.layer_path(&l.chain_id)),
        );
        if lowers.len() < 2 {
            let empty = dir.join("empty");
            std::fs::create_dir_all(&empty).map_err(EngineError::io("create", &empty))?;
            lowers.push(empty);
        }
        let target = self
            .container_run_dir(&c.id)
            .join(format!("export-{}", std::process::id()));
        std::fs::create_dir_all(&target).map_err(EngineError::io("create", &target))?;
        let result = overlay::mount(&lowers, None, &target, true).and_then(|()| {
            let archived = archive(&target, out);
            overlay::unmount(&target).and(archived)
        });
        let _ = std::fs::remove_dir(&target);
        result
    }
}
