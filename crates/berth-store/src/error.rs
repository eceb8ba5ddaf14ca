use std::io;
use std::path::PathBuf;

use berth_types::Digest;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("database")]
    Db(#[from] rusqlite::Error),
    #[error(
        "database at {path:?} has schema version {found}, newer than this berth knows ({known})"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest} is not in the store")]
    BlobMissing { digest: Digest },
    #[error(
        "blob {digest} is {size} bytes, over the bound of {limit} bytes for this kind of content"
    )]
    BlobTooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error(
        "the container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("the database is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}
