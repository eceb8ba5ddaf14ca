use berth_archive::ArchiveError;
use berth_store::StoreError;
use berth_types::{Digest, ReferenceError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    #[error("conflict: unable to delete {id} (must be forced) - {why}")]
    Conflict { id: String, why: String },
    #[error("{name:?} matches more than one image")]
    Ambiguous { name: String },
    #[error("archive entry {entry:?}")]
    ArchiveEntry {
        entry: String,
        #[source]
        source: ArchiveError,
    },
    #[error("layer {layer}")]
    Layer {
        layer: String,
        #[source]
        source: ArchiveError,
    },
    #[error(
        "layer {layer}: DiffID mismatch: the image config says {expected}, the layer is {actual}"
    )]
    DiffIdMismatch {
        layer: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A registry's manifest or index is not a usable image.
    #[error("{0}")]
    InvalidManifest(String),
    #[error(transparent)]
    Registry(#[from] berth_registry::RegistryError),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("invalid {what}")]
    InvalidJson {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid --change {0:?}")]
    InvalidChange(String),
    #[error("{0}")]
    InvalidOption(String),
    /// A build failed; the message names the Dockerfile line where it could.
    #[error("{0}")]
    Build(String),
    /// The admission policy refused the container.
    #[error("{0}")]
    PolicyDenied(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// A container is in a state that refuses the action; the message is Docker's.
    #[error("{0}")]
    ContainerState(String),
    /// The runtime could not start the container's program; `code` is Docker's exit status for
    /// it: 127 not found, 126 not executable, 125 otherwise.
    #[error("{message}")]
    Start { message: String, code: i32 },
    #[error("runtime {runtime} {action} failed: {message}")]
    Runtime {
        runtime: String,
        action: String,
        message: String,
    },
    #[error("store")]
    Store(#[from] StoreError),
    #[error("{0}")]
    VulnDb(#[from] berth_scan::vulndb::DbError),
    /// A download failed: the source cannot be reached, or answered with an error.
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// Whether the user asked for something that is not there or not allowed (Docker exits 1), as
    /// opposed to berth itself failing (exit 125).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Self::Store(_)
                | Self::Io { .. }
                | Self::Runtime { .. }
                | Self::InvalidOption(_)
                | Self::PolicyDenied(_)
                | Self::VulnDb(_)
                | Self::Fetch { .. }
        )
    }

    /// Docker's exit status for a command that failed with this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Start { code, .. } => *code,
            e if e.is_user_error() => 1,
            _ => 125,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}
