use std::fs::File;
use std::path::Path;

use rustix::fs::FlockOperation;

use crate::{Result, StoreError};

/// The store's GC lock: held shared by writers that put files in place, exclusively by GC and check.
/// Released when dropped.
pub struct GcLock {
    _file: File,
}

impl GcLock {
    fn take(root: &Path, op: FlockOperation) -> Result<Option<Self>> {
        let path = root.join("gc.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StoreError::io("open", &path))?;
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(StoreError::Io {
                op: "lock",
                path,
                source: e.into(),
            }),
        }
    }

    pub fn shared(root: &Path) -> Result<Self> {
        Ok(Self::take(root, FlockOperation::LockShared)?.expect("blocking lock"))
    }

    pub fn exclusive(root: &Path) -> Result<Self> {
        Ok(Self::take(root, FlockOperation::LockExclusive)?.expect("blocking lock"))
    }

    /// The exclusive lock if no writer holds it now.
    pub fn try_exclusive(root: &Path) -> Result<Option<Self>> {
        Self::take(root, FlockOperation::NonBlockingLockExclusive)
    }
}
