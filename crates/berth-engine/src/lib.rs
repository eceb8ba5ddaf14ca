//! berth-engine: what the `berth` commands do, over the store: images (load, save, import, resolve,
//! tag, remove, prune) and containers (create, run through an OCI runtime, exec, remove).
//!
//! Invariants: every archive and layer is treated as hostile and goes through berth-archive; files are
//! put in the store under its writer lock and referenced in the database only once they exist.
//! It must not depend on the CLI.

mod audit;
mod change;
mod container;
mod distribution;
mod error;
mod events;
mod image;
mod load;
mod pipeline;
mod save;
mod scan;
mod seccomp;
mod signature;

pub use berth_build::BuildOptions;
pub use berth_registry as registry;
pub use berth_store::Event;
pub use container::{
    BuildRequest, CommitOptions, Container, ContainerState, ContextSource, DockerfileSource,
    ExecOptions, LogEntry, PsFilter, RunOptions, Stdio, Usage, parse_bytes, read_log,
};
pub use distribution::{LayerStatus, Progress, Pulled, Pushed, Transfer};
pub use error::EngineError;
pub use events::{EventFilter, event_json};
pub use image::{RemoveEvent, Removed};
pub use load::LoadSource;
pub use save::SaveFormat;
pub use scan::OSV_SOURCES;
pub use signature::{ReferrersMode, TrustDecision};

use berth_archive::Limits;
use berth_store::Store;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The engine over one store.
pub struct Engine {
    store: Store,
    limits: Limits,
    runroot: std::path::PathBuf,
    /// berth-runtime through a detached read-only mount, made on first use (see
    /// `container::supervise`).
    runtime_exe: std::sync::OnceLock<Option<std::os::fd::OwnedFd>>,
}

impl Engine {
    pub fn open(root: &std::path::Path) -> Result<Self> {
        Ok(Self {
            store: Store::open(root)?,
            limits: Limits::default(),
            runroot: "/run/berth".into(),
            runtime_exe: std::sync::OnceLock::new(),
        })
    }

    /// Where containers' mount points, sockets and runtime state live.
    pub fn with_runroot(mut self, runroot: &std::path::Path) -> Self {
        self.runroot = runroot.to_owned();
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
