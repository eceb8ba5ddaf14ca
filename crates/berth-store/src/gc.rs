use std::collections::HashSet;
use std::path::Path;

use berth_types::Digest;

use crate::db::parse;
use crate::{GcLock, Result, Store, StoreError};

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub blobs: u64,
    pub layers: u64,
    pub ingest: u64,
    pub bytes: u64,
}

impl Store {
    /// The digests of every blob the database references.
    pub(crate) fn referenced_blobs(&self) -> Result<HashSet<Digest>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM images UNION SELECT manifest_digest FROM images WHERE manifest_digest IS NOT NULL UNION SELECT blob_digest FROM layers")?;
            let v = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            v.iter().map(|s| parse(s)).collect()
        })
    }

    pub(crate) fn layer_chain_ids(&self) -> Result<HashSet<Digest>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT chain_id FROM layers")?;
            let v = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v.iter().map(|s| parse(s)).collect()
        })
    }

    /// Removes every layer no image uses, every blob nothing references, and what interrupted
    /// writers left in `ingest/`. Waits for running writers to finish.
    pub fn gc(&self) -> Result<GcReport> {
        let lock = GcLock::exclusive(&self.root)?;
        self.gc_locked(&lock)
    }

    /// [`Store::gc`] if no writer is running now; otherwise leaves the work to a later GC.
    pub fn try_gc(&self) -> Result<Option<GcReport>> {
        match GcLock::try_exclusive(&self.root)? {
            Some(lock) => self.gc_locked(&lock).map(Some),
            None => Ok(None),
        }
    }

    fn gc_locked(&self, _lock: &GcLock) -> Result<GcReport> {
        let mut report = GcReport::default();
        // Unused layers go child first, so parents become unused in turn.
        report.bytes += self.db.with(|conn| {
            let mut freed = 0u64;
            loop {
                let mut stmt = conn.prepare(
                    "DELETE FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)
                       AND chain_id NOT IN (SELECT parent FROM layers WHERE parent IS NOT NULL) RETURNING size",
                )?;
                let sizes = stmt.query_map([], |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
                if sizes.is_empty() {
                    return Ok(freed);
                }
                freed += sizes.iter().map(|&s| s as u64).sum::<u64>();
            }
        })?;
        // Signatures and signed manifests go with the last image that names their digest.
        self.db.with(|conn| {
            let known = "SELECT manifest_digest FROM images WHERE manifest_digest IS NOT NULL
                         UNION SELECT substr(name, instr(name, '@') + 1) FROM repo_digests";
            conn.execute(
                &format!("DELETE FROM signatures WHERE manifest_digest NOT IN ({known})"),
                [],
            )?;
            conn.execute(
                &format!("DELETE FROM signed_manifests WHERE digest NOT IN ({known})"),
                [],
            )?;
            // A compressed form is remembered while a layer has its DiffID.
            conn.execute(
                "DELETE FROM compressed_layers WHERE diff_id NOT IN (SELECT diff_id FROM layers)",
                [],
            )?;
            Ok(())
        })?;
        let blobs = self.referenced_blobs()?;
        for (name, path) in list(&self.blobs_dir())? {
            if Digest::from_hex(&name).is_ok_and(|d| blobs.contains(&d)) {
                continue;
            }
            report.bytes += path.metadata().map_or(0, |m| m.len());
            std::fs::remove_file(&path).map_err(StoreError::io("remove", &path))?;
            report.blobs += 1;
        }
        let layers = self.layer_chain_ids()?;
        for (name, path) in list(&self.layers_dir())? {
            if Digest::from_hex(&name).is_ok_and(|d| layers.contains(&d)) {
                continue;
            }
            std::fs::remove_dir_all(&path).map_err(StoreError::io("remove", &path))?;
            report.layers += 1;
        }
        for (_, path) in list(&self.ingest_dir())? {
            let r = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            r.map_err(StoreError::io("remove", &path))?;
            report.ingest += 1;
        }
        Ok(report)
    }
}

pub(crate) fn list(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StoreError::io("list", dir))? {
        let entry = entry.map_err(StoreError::io("list", dir))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}
