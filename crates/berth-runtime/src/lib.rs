//! berth-runtime: the OCI runtime library. A runtime-spec bundle (config.json and a root
//! filesystem) becomes an isolated process: namespaces, a pivoted root with masked and read-only
//! paths, cgroup limits, rlimits, capabilities, no_new_privs and seccomp.
//!
//! Invariants: it is synchronous and clones only from a single-threaded process (the
//! `berth-runtime` binary); every path inside a container root is resolved under that root; no
//! host descriptor survives into a container's program. It must not depend on the store or engine.

mod cgroup;
mod console;
mod container;
mod error;
mod init;
mod namespace;
mod process;
mod reaper;
mod rootfs;
mod seccomp;
mod selfclone;
mod sync;

pub use cgroup::Cgroup;
pub use console::send_fd;
pub use container::{Container, CreateOptions, Runtime, Status, read_spec, valid_id, wait_child};
pub use error::{Result, RuntimeError};
pub use process::capability;
pub use selfclone::ensure_sealed_binary;
