//! CVE-2019-5736: a container process must never be able to write to the runtime's binary, even
//! while the runtime joins it. Before touching a container, the runtime re-executes itself from a
//! sealed memfd copy, so `/proc/PID/exe` names an immutable in-memory file, not the host binary.

use std::os::fd::AsFd;

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};

use crate::error::{Context, Result, RuntimeError};

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Whether this process already runs from a sealed copy.
fn is_sealed(exe: impl AsFd) -> bool {
    rustix::fs::fcntl_get_seals(exe).is_ok_and(|s| s.contains(SEALS))
}

/// Re-executes the current binary from a sealed memfd unless it already runs from one. Returns only
/// when already sealed.
pub fn ensure_sealed_binary() -> Result<()> {
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(|| "opening /proc/self/exe".into())?;
    if is_sealed(&exe) {
        return Ok(());
    }
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let memfd = rustix::fs::memfd_create("berth-runtime", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("berth-runtime", flags))
        .context(|| "memfd_create".into())?;
    let size = rustix::fs::fstat(&exe)
        .context(|| "stat of the runtime binary".into())?
        .st_size as usize;
    let mut copied = 0;
    while copied < size {
        let n = rustix::fs::sendfile(&memfd, &exe, None, size - copied)
            .context(|| "copying the runtime binary".into())?;
        if n == 0 {
            break;
        }
        copied += n;
    }
    rustix::fs::fcntl_add_seals(&memfd, SEALS).context(|| "sealing the runtime copy".into())?;
    let args: Vec<String> = std::env::args().collect();
    let env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let err = berth_sys::fexecve(&memfd, &args, &env);
    Err(RuntimeError::Os {
        what: "re-executing the sealed runtime copy".into(),
        source: err,
    })
}
