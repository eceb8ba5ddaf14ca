//! The last steps of a container process before `execve`: rlimits, the user and groups, the five
//! capability sets, no_new_privs, seccomp, the working directory, and finding the program.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_types::runtime::{Capabilities, Process, Rlimit};
use rustix::fs::{Access, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit as Limit};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::error::{Context, Result, RuntimeError};

/// Parses a `CAP_*` name.
pub fn capability(name: &str) -> Option<CapabilitySet> {
    CapabilitySet::from_name(name.strip_prefix("CAP_").unwrap_or(name))
}

fn capability_set(names: &[String]) -> Result<CapabilitySet> {
    names.iter().try_fold(CapabilitySet::empty(), |set, name| {
        capability(name)
            .map(|c| set | c)
            .ok_or_else(|| RuntimeError::Config(format!("unknown capability {name:?}")))
    })
}

/// Checks the spec's capability names, so a typo fails at create time.
pub(crate) fn validate_capabilities(caps: &Capabilities) -> Result<()> {
    for set in [
        &caps.bounding,
        &caps.effective,
        &caps.permitted,
        &caps.inheritable,
        &caps.ambient,
    ] {
        capability_set(set)?;
    }
    Ok(())
}

fn resource(kind: &str) -> Option<Resource> {
    Some(match kind {
        "RLIMIT_CPU" => Resource::Cpu,
        "RLIMIT_FSIZE" => Resource::Fsize,
        "RLIMIT_DATA" => Resource::Data,
        "RLIMIT_STACK" => Resource::Stack,
        "RLIMIT_CORE" => Resource::Core,
        "RLIMIT_RSS" => Resource::Rss,
        "RLIMIT_NPROC" => Resource::Nproc,
        "RLIMIT_NOFILE" => Resource::Nofile,
        "RLIMIT_MEMLOCK" => Resource::Memlock,
        "RLIMIT_AS" => Resource::As,
        "RLIMIT_LOCKS" => Resource::Locks,
        "RLIMIT_SIGPENDING" => Resource::Sigpending,
        "RLIMIT_MSGQUEUE" => Resource::Msgqueue,
        "RLIMIT_NICE" => Resource::Nice,
        "RLIMIT_RTPRIO" => Resource::Rtprio,
        "RLIMIT_RTTIME" => Resource::Rttime,
        _ => return None,
    })
}

/// Applies the spec's rlimits. Without CAP_SYS_RESOURCE a hard limit cannot be raised, so each
/// value is clamped to the current hard limit instead of failing the container.
pub(crate) fn apply_rlimits(rlimits: &[Rlimit]) -> Result<()> {
    for r in rlimits {
        let res = resource(&r.kind)
            .ok_or_else(|| RuntimeError::Config(format!("unknown rlimit {:?}", r.kind)))?;
        let wanted = Limit {
            current: Some(r.soft),
            maximum: Some(r.hard),
        };
        if rustix::process::setrlimit(res, wanted).is_ok() {
            continue;
        }
        let host_hard = rustix::process::getrlimit(res).maximum;
        let clamp = |v: u64| host_hard.map_or(v, |h| v.min(h));
        let clamped = Limit {
            current: Some(clamp(r.soft)),
            maximum: Some(clamp(r.hard)),
        };
        rustix::process::setrlimit(res, clamped).context(|| format!("setting {}", r.kind))?;
    }
    Ok(())
}

/// Writes `oom_score_adj` through the verified procfs.
pub(crate) fn set_oom_score_adj(value: i32) -> Result<()> {
    let proc = crate::rootfs::verified_proc()?;
    let fd = rustix::fs::openat(
        &proc,
        "self/oom_score_adj",
        OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .context(|| "opening oom_score_adj".into())?;
    std::fs::File::from(fd)
        .write_all(value.to_string().as_bytes())
        .context(|| "writing oom_score_adj".into())
}

/// Switches to the process's user and groups and sets its capabilities: the bounding set is
/// narrowed first, capabilities are kept across the uid change, then the other four sets are set.
pub(crate) fn apply_credentials(p: &Process) -> Result<()> {
    let caps = p.capabilities.clone().unwrap_or_default();
    let bounding = capability_set(&caps.bounding)?;
    for bit in 0..64 {
        let Some(cap) = CapabilitySet::from_bits(1u64 << bit) else {
            continue;
        };
        if !bounding.contains(cap) {
            match rustix::thread::remove_capability_from_bounding_set(cap) {
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => {
                    return Err(e).context(|| format!("dropping {cap:?} from the bounding set"));
                }
            }
        }
    }
    rustix::thread::set_keep_capabilities(true).context(|| "keeping capabilities".into())?;
    let groups: Vec<_> = p
        .user
        .additional_gids
        .iter()
        .map(|g| rustix::process::Gid::from_raw(*g))
        .collect();
    rustix::thread::set_thread_groups(&groups).context(|| "setting supplementary groups".into())?;
    let gid = rustix::process::Gid::from_raw(p.user.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .context(|| format!("setting gid {}", p.user.gid))?;
    let uid = rustix::process::Uid::from_raw(p.user.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .context(|| format!("setting uid {}", p.user.uid))?;
    rustix::thread::set_keep_capabilities(false).context(|| "keeping capabilities".into())?;
    let sets = CapabilitySets {
        effective: capability_set(&caps.effective)?,
        permitted: capability_set(&caps.permitted)?,
        inheritable: capability_set(&caps.inheritable)?,
    };
    rustix::thread::set_capabilities(None, sets).context(|| "setting capabilities".into())?;
    rustix::thread::clear_ambient_capability_set()
        .context(|| "clearing ambient capabilities".into())?;
    for name in &caps.ambient {
        let cap = capability_set(std::slice::from_ref(name))?;
        // The kernel raises an ambient capability only if it is also permitted and inheritable;
        // like runc, a spec asking for more is not an error.
        match rustix::thread::configure_capability_in_ambient_set(cap, true) {
            Ok(()) | Err(Errno::PERM) => {}
            Err(e) => return Err(e).context(|| format!("raising ambient {name}")),
        }
    }
    Ok(())
}

/// The environment's `PATH`, or the default one.
fn search_path(env: &[String]) -> &str {
    env.iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

/// Finds the program `args[0]` names, as `execvp` would, in the container's root. The error text
/// matches runc's, which engines map to exit codes 127 (not found) and 126 (not executable).
pub(crate) fn find_program(program: &str, env: &[String]) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        search_path(env)
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(program))
            .collect()
    };
    let mut denied = false;
    for candidate in &candidates {
        match rustix::fs::stat(candidate) {
            Ok(st)
                if rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::Directory =>
            {
                denied = true
            }
            Ok(_) => match rustix::fs::access(candidate, Access::EXEC_OK) {
                Ok(()) => return Ok(candidate.clone()),
                Err(_) => denied = true,
            },
            Err(_) => {}
        }
    }
    let message = if denied {
        format!("exec: {program:?}: permission denied")
    } else if program.contains('/') {
        format!("exec: {program:?}: stat {program}: no such file or directory")
    } else {
        format!("exec: {program:?}: executable file not found in $PATH")
    };
    Err(RuntimeError::Init(message))
}

/// Enters the working directory and checks it lies inside the container's root: a directory
/// handle leaked from the host would show as "(unreachable)" (CVE-2024-21626).
pub(crate) fn enter_cwd(cwd: &str) -> Result<()> {
    rustix::process::chdir(cwd).context(|| format!("chdir to {cwd}"))?;
    let now = rustix::process::getcwd(Vec::new()).context(|| "getcwd".into())?;
    if !now.to_bytes().starts_with(b"/") {
        return Err(RuntimeError::Init(format!(
            "working directory {cwd} is outside the container"
        )));
    }
    Ok(())
}

/// Drops into the user's credentials, applies no_new_privs and the compiled seccomp program in the
/// order the kernel allows, closes every inherited descriptor above stdio, and executes the program.
pub(crate) fn exec(
    p: &Process,
    program: &Path,
    seccomp: Option<&[u8]>,
) -> Result<std::convert::Infallible> {
    let load = |bpf: &[u8]| {
        berth_sys::load_seccomp_program(bpf)
            .map_err(|e| RuntimeError::Seccomp(format!("loading the filter: {e}")))
    };
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the user may lose below.
    if !p.no_new_privileges
        && let Some(bpf) = seccomp
    {
        load(bpf)?;
    }
    apply_credentials(p)?;
    if p.no_new_privileges {
        rustix::thread::set_no_new_privs(true).context(|| "setting no_new_privs".into())?;
        if let Some(bpf) = seccomp {
            load(bpf)?;
        }
    }
    berth_sys::cloexec_from(3).context(|| "closing inherited descriptors".into())?;
    let err = berth_sys::execve(&program.to_string_lossy(), &p.args, &p.env);
    Err(RuntimeError::Init(format!(
        "exec {}: {err}",
        program.display()
    )))
}

/// Makes stdio the given terminal, as the controlling terminal of a new session.
pub(crate) fn use_terminal(tty: impl AsFd) -> Result<()> {
    rustix::process::setsid().context(|| "setsid".into())?;
    rustix::process::ioctl_tiocsctty(&tty).context(|| "TIOCSCTTY".into())?;
    rustix::stdio::dup2_stdin(&tty).context(|| "dup2 onto stdin".into())?;
    rustix::stdio::dup2_stdout(&tty).context(|| "dup2 onto stdout".into())?;
    rustix::stdio::dup2_stderr(&tty).context(|| "dup2 onto stderr".into())?;
    Ok(())
}
