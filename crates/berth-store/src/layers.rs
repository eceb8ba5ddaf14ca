use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_types::ChainId;

use crate::blobs::{random_name, sync_dir};
use crate::{Result, Store, StoreError};

/// A directory under `ingest/` that a layer is applied to before it is moved into `layers/`.
/// Dropping it removes it.
pub struct StagingDir {
    path: Option<PathBuf>,
}

impl StagingDir {
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("staging dir")
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

impl Store {
    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// The unpacked layer, usable as an overlay lower directory.
    pub fn layer_path(&self, chain_id: &ChainId) -> PathBuf {
        self.layers_dir().join(chain_id.hex())
    }

    pub fn has_layer_dir(&self, chain_id: &ChainId) -> bool {
        self.layer_path(chain_id).is_dir()
    }

    /// A new empty directory to apply a layer to. Hold [`Store::writer_lock`].
    pub fn staging_dir(&self) -> Result<StagingDir> {
        let path = self.ingest_dir().join(random_name("layer"));
        std::fs::create_dir(&path).map_err(StoreError::io("create", &path))?;
        Ok(StagingDir { path: Some(path) })
    }

    /// Syncs the store's filesystem (the applied layer, and any blob committed with
    /// [`crate::Ingest::commit_unsynced`]) and moves the layer into place as
    /// `layers/<chain_id>`. If that layer is already there, the staged copy is dropped.
    pub fn commit_layer_dir(&self, mut staging: StagingDir, chain_id: &ChainId) -> Result<()> {
        let path = staging.path.take().expect("staging dir");
        let dest = self.layer_path(chain_id);
        let dir = std::fs::File::open(&path).map_err(StoreError::io("open", &path))?;
        rustix::fs::syncfs(dir.as_fd()).map_err(|e| StoreError::Io {
            op: "sync filesystem",
            path: path.clone(),
            source: e.into(),
        })?;
        if dest.exists() {
            let _ = std::fs::remove_dir_all(&path);
            return Ok(());
        }
        match std::fs::rename(&path, &dest) {
            Ok(()) => sync_dir(&self.layers_dir()),
            // Another writer put the same layer in place first.
            Err(_) if dest.is_dir() => {
                let _ = std::fs::remove_dir_all(&path);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&path);
                Err(StoreError::Io {
                    op: "rename into place",
                    path: dest,
                    source: e,
                })
            }
        }
    }
}
