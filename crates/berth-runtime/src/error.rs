use std::io;
use std::path::PathBuf;

/// What went wrong in the runtime. Messages name the container, path or setting to fix; the OS
/// error is the source.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid container id {0:?}: use letters, digits, '_', '-' and '.'")]
    InvalidId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {id} is {status}: {action} needs it {needs}")]
    WrongState {
        id: String,
        status: &'static str,
        action: &'static str,
        needs: &'static str,
    },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a valid runtime spec: {source}")]
    Spec {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{what}")]
    Os {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("cgroup {path}: {what}")]
    Cgroup {
        path: PathBuf,
        what: String,
        #[source]
        source: io::Error,
    },
    /// The container's init reported a failure before the user process started.
    #[error("{0}")]
    Init(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Attaches what was being done to an OS error.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<io::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| RuntimeError::Os {
            what: what(),
            source: e.into(),
        })
    }
}
