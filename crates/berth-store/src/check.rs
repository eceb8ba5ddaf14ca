use std::fmt;
use std::fs::File;
use std::path::PathBuf;

use berth_types::{Digest, Sha256Writer};

use crate::db::parse;
use crate::gc::list;
use crate::{GcLock, Result, Store, StoreError};

/// One thing wrong with a store, precise enough to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    BlobCorrupt {
        path: PathBuf,
        actual: Digest,
    },
    BlobBadName {
        path: PathBuf,
    },
    BlobMissing {
        digest: Digest,
        referenced_by: String,
    },
    BlobUnreferenced {
        digest: Digest,
    },
    LayerDirMissing {
        chain_id: Digest,
    },
    LayerDirUnreferenced {
        path: PathBuf,
    },
    LayerUnused {
        chain_id: Digest,
    },
    IngestLeftover {
        path: PathBuf,
    },
    Database(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BlobCorrupt { path, actual } => write!(
                f,
                "blob {} is corrupt: its content hashes to {actual}",
                path.display()
            ),
            Self::BlobBadName { path } => {
                write!(f, "blob {} is not named by a sha256 digest", path.display())
            }
            Self::BlobMissing {
                digest,
                referenced_by,
            } => write!(
                f,
                "blob {digest} is missing (referenced by {referenced_by})"
            ),
            Self::BlobUnreferenced { digest } => write!(
                f,
                "blob {digest} is not referenced (berth image prune removes it)"
            ),
            Self::LayerDirMissing { chain_id } => {
                write!(f, "layer {chain_id} has no unpacked directory")
            }
            Self::LayerDirUnreferenced { path } => write!(
                f,
                "layer directory {} is not referenced (berth image prune removes it)",
                path.display()
            ),
            Self::LayerUnused { chain_id } => write!(
                f,
                "layer {chain_id} is used by no image (berth image prune removes it)"
            ),
            Self::IngestLeftover { path } => write!(
                f,
                "{} was left by an interrupted write (berth image prune removes it)",
                path.display()
            ),
            Self::Database(s) => write!(f, "database: {s}"),
        }
    }
}

impl Store {
    /// Verifies every blob's digest and every database reference. Waits for running writers, so
    /// it sees a store at rest.
    pub fn check(&self) -> Result<Vec<Problem>> {
        let _lock = GcLock::exclusive(&self.root)?;
        let mut problems = Vec::new();
        self.check_database(&mut problems)?;
        let referenced = self.referenced_blobs()?;
        for (name, path) in list(&self.blobs_dir())? {
            let Ok(digest) = Digest::from_hex(&name) else {
                problems.push(Problem::BlobBadName { path });
                continue;
            };
            let mut hash = Sha256Writer::new();
            let mut file = File::open(&path).map_err(StoreError::io("open", &path))?;
            std::io::copy(&mut file, &mut hash).map_err(StoreError::io("read", &path))?;
            let actual = hash.finish().0;
            if actual != digest {
                problems.push(Problem::BlobCorrupt { path, actual });
            } else if !referenced.contains(&digest) {
                problems.push(Problem::BlobUnreferenced { digest });
            }
        }
        let layers = self.layer_chain_ids()?;
        for (name, path) in list(&self.layers_dir())? {
            if !Digest::from_hex(&name).is_ok_and(|d| layers.contains(&d)) {
                problems.push(Problem::LayerDirUnreferenced { path });
            }
        }
        for (_, path) in list(&self.ingest_dir())? {
            problems.push(Problem::IngestLeftover { path });
        }
        Ok(problems)
    }

    fn check_database(&self, problems: &mut Vec<Problem>) -> Result<()> {
        let rows = self.db.with(|conn| {
            let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if integrity != "ok" {
                problems.push(Problem::Database(format!("integrity check: {integrity}")));
            }
            let mut fk = conn.prepare("PRAGMA foreign_key_check")?;
            for row in fk.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))? {
                let (table, rowid, parent) = row?;
                problems.push(Problem::Database(format!("{table} row {rowid} references a missing {parent} row")));
            }
            let mut refs = conn.prepare(
                "SELECT 'image ' || id, id FROM images
                 UNION ALL SELECT 'image ' || id || ' (manifest)', manifest_digest FROM images WHERE manifest_digest IS NOT NULL
                 UNION ALL SELECT 'layer ' || chain_id, blob_digest FROM layers",
            )?;
            let blob_refs = refs.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut unused = conn.prepare("SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers) AND chain_id NOT IN (SELECT parent FROM layers WHERE parent IS NOT NULL)")?;
            let unused = unused.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((blob_refs, unused))
        })?;
        let (blob_refs, unused) = rows;
        for (by, digest) in blob_refs {
            let digest: Digest = parse(&digest)?;
            if !self.has_blob(&digest) {
                problems.push(Problem::BlobMissing {
                    digest,
                    referenced_by: by,
                });
            }
        }
        for chain_id in self.layer_chain_ids()? {
            if !self.has_layer_dir(&chain_id) {
                problems.push(Problem::LayerDirMissing { chain_id });
            }
        }
        for c in unused {
            problems.push(Problem::LayerUnused {
                chain_id: parse(&c)?,
            });
        }
        Ok(())
    }
}
