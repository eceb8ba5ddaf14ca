//! CVE-2019-5736: a container process must never be able to write to the runtime's binary, even
//! while the runtime joins it. Before touching a container, the runtime re-executes itself from a
//! handle that cannot be written: the binary bind-mounted read-only with the mount detached at
//! once (no copy, so it is cheap), or, where mounting is not allowed, a sealed memfd copy. Either
//! way `/proc/PID/exe` then names a file nobody can open for writing.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags, StatVfsMountFlags};

use crate::error::{Context, Result, RuntimeError};

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Whether this process runs from a sealed memfd copy.
fn is_sealed(exe: impl AsFd) -> bool {
    rustix::fs::fcntl_get_seals(exe).is_ok_and(|s| s.contains(SEALS))
}

/// Whether this process runs from a read-only mount (a detached read-only bind, or a binary
/// installed on a read-only filesystem).
fn is_read_only(exe: impl AsFd) -> bool {
    rustix::fs::fstatvfs(exe).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY))
}

/// Re-executes the current binary from a handle that cannot be written, unless it already runs
/// from one. Returns only when it does.
pub fn ensure_sealed_binary() -> Result<()> {
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(|| "opening /proc/self/exe".into())?;
    if is_sealed(&exe) || is_read_only(&exe) {
        return Ok(());
    }
    let (args, env) = args_and_env();
    let scratch = std::env::temp_dir();
    if let Ok(handle) =
        berth_sys::read_only_exec_handle(std::path::Path::new("/proc/self/exe"), &scratch)
    {
        let err = berth_sys::fexecve(&handle, &args, &env);
        tracing::debug!("re-executing through a read-only bind failed: {err}");
    }
    let memfd = sealed_copy(&exe)?;
    let err = berth_sys::fexecve(&memfd, &args, &env);
    Err(RuntimeError::Os {
        what: "re-executing the sealed runtime copy".into(),
        source: err,
    })
}

fn args_and_env() -> (Vec<String>, Vec<String>) {
    let args = std::env::args().collect();
    let env = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    (args, env)
}

/// Copies this binary into a memfd and seals it against every change.
fn sealed_copy(exe: &OwnedFd) -> Result<OwnedFd> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let memfd = rustix::fs::memfd_create("berth-runtime", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("berth-runtime", flags))
        .context(|| "memfd_create".into())?;
    let size = rustix::fs::fstat(exe)
        .context(|| "stat of the runtime binary".into())?
        .st_size as usize;
    let mut copied = 0;
    while copied < size {
        let n = rustix::fs::sendfile(&memfd, exe, None, size - copied)
            .context(|| "copying the runtime binary".into())?;
        if n == 0 {
            break;
        }
        copied += n;
    }
    rustix::fs::fcntl_add_seals(&memfd, SEALS).context(|| "sealing the runtime copy".into())?;
    Ok(memfd)
}
