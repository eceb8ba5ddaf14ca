//! berth-store owns everything under `<root>`: immutable blobs by sha256, unpacked layers by ChainID,
//! and the SQLite database of images, tags, layers and containers.
//!
//! Invariants:
//! - A blob becomes visible under `blobs/` only after its bytes are fsynced and its digest checked;
//!   a layer directory appears under `layers/` only after the filesystem is synced. Both are renamed
//!   into place from `ingest/`.
//! - A database transaction references only files that already exist; whatever a crash leaves
//!   unreferenced, [`Store::gc`] removes.
//! - Writers that put files in place hold the store's GC lock shared; [`Store::gc`] holds it
//!   exclusively, so it never removes a file that a running writer is about to reference.
//!
//! It knows nothing about archive formats or containers' processes.

mod blobs;
mod cache;
mod check;
mod containers;
mod db;
mod error;
mod events;
mod gc;
mod layers;
mod lock;
mod signatures;

use std::path::{Path, PathBuf};

pub use blobs::Ingest;
pub use check::Problem;
pub use containers::ContainerRow;
pub use db::{ImageRecord, LayerRecord, NewImage};
pub use error::StoreError;
pub use events::Event;
pub use gc::GcReport;
pub use layers::StagingDir;
pub use lock::GcLock;
pub use signatures::SignatureRecord;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open store at a root directory.
pub struct Store {
    root: PathBuf,
    db: db::Db,
}

impl Store {
    /// Opens the store at `root`, creating its layout and database on first use.
    pub fn open(root: &Path) -> Result<Self> {
        for dir in ["blobs/sha256", "ingest", "layers"] {
            let p = root.join(dir);
            std::fs::create_dir_all(&p).map_err(|source| StoreError::Io {
                op: "create directory",
                path: p,
                source,
            })?;
        }
        let db = db::Db::open(&root.join("berth.db"))?;
        Ok(Self {
            root: root.to_owned(),
            db,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Takes the GC lock shared: files put in place while it is held survive until referenced.
    pub fn writer_lock(&self) -> Result<GcLock> {
        GcLock::shared(&self.root)
    }
}
