//! `--init`: a minimal PID 1 for containers whose program does not reap or handle signals. The
//! container's init forks the program, keeps only CAP_KILL, passes every catchable signal on to
//! the program, reaps every orphan, and exits with the program's status.

use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::error::{Context, Result};

/// Signals passed on to the program (all but SIGKILL, SIGSTOP and SIGCHLD).
const FORWARDED: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    30, 31,
];
const SIGCHLD: i32 = 17;

/// Forks: returns in the child, which goes on to exec the program; the parent becomes the reaper
/// and never returns. The reaper keeps nothing it does not need: no descriptor, no capability
/// but CAP_KILL (bounding set included), not dumpable, and under the container's seccomp filter.
pub(crate) fn fork_reaper(seccomp: Option<&[u8]>) -> Result<()> {
    let mut watched = FORWARDED.to_vec();
    watched.push(SIGCHLD);
    // Blocked before the fork so no signal is lost in between; the child unblocks them.
    berth_sys::block_signals(&watched).context(|| "blocking signals in the init".into())?;
    let child = match berth_sys::clone_process(0).context(|| "forking the program".into())? {
        None => {
            berth_sys::unblock_signals(&watched).context(|| "unblocking signals".into())?;
            return Ok(());
        }
        Some(pid) => pid,
    };
    if let Err(e) = confine(seccomp) {
        eprintln!("berth-runtime init: {e}");
        let _ = rustix::process::kill_process(child, Signal::KILL);
        std::process::exit(125);
    }
    std::process::exit(reap(child, &watched))
}

fn confine(seccomp: Option<&[u8]>) -> Result<()> {
    let kill = CapabilitySet::KILL;
    berth_sys::close_from(3).context(|| "closing descriptors in the init".into())?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .context(|| "making the init not dumpable".into())?;
    for bit in 0..64 {
        if let Some(cap) = CapabilitySet::from_bits(1u64 << bit).filter(|c| *c != kill) {
            let _ = rustix::thread::remove_capability_from_bounding_set(cap);
        }
    }
    rustix::thread::set_no_new_privs(true).context(|| "no_new_privs in the init".into())?;
    let sets = CapabilitySets {
        effective: kill,
        permitted: kill,
        inheritable: CapabilitySet::empty(),
    };
    rustix::thread::set_capabilities(None, sets)
        .context(|| "dropping capabilities in the init".into())?;
    if let Some(bpf) = seccomp {
        berth_sys::load_seccomp_program(bpf).context(|| "seccomp in the init".into())?;
    }
    Ok(())
}

fn reap(child: Pid, watched: &[i32]) -> i32 {
    loop {
        loop {
            match rustix::process::waitpid(None, WaitOptions::NOHANG) {
                Ok(Some((pid, status))) if pid == child => return berth_sys::shell_status(status),
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return 255,
            }
        }
        match berth_sys::wait_signal(watched, Duration::from_secs(1)) {
            Ok(Some(SIGCHLD)) | Ok(None) | Err(_) => {}
            Ok(Some(sig)) => {
                if let Some(s) = Signal::from_named_raw(sig) {
                    let _ = rustix::process::kill_process(child, s);
                }
            }
        }
    }
}
