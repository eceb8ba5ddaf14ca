//! Namespaces: which ones a spec asks for, joining those given by path, and sysctls.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use berth_types::runtime::Namespace;
use rustix::fs::{Mode, OFlags};
use rustix::thread::LinkNameSpaceType;

use crate::error::{Context, Result, RuntimeError};

/// `clone` flags for the namespaces the spec wants new (those without a path).
pub(crate) fn clone_flags(namespaces: &[Namespace]) -> Result<u64> {
    use berth_sys::clone_flags as f;
    let mut flags = 0;
    for ns in namespaces {
        let flag = match ns.kind.as_str() {
            "mount" => f::NEWNS,
            "uts" => f::NEWUTS,
            "ipc" => f::NEWIPC,
            "user" => f::NEWUSER,
            "pid" => f::NEWPID,
            "network" => f::NEWNET,
            // Unshared by the init once it is in its cgroup, so the cgroup is its root.
            "cgroup" => 0,
            "time" => {
                return Err(RuntimeError::Config(
                    "time namespaces are not supported".into(),
                ));
            }
            other => {
                return Err(RuntimeError::Config(format!(
                    "unknown namespace type {other:?}"
                )));
            }
        };
        if ns.path.is_none() {
            flags |= flag;
        }
    }
    Ok(flags)
}

pub(crate) fn wants_new(namespaces: &[Namespace], kind: &str) -> bool {
    namespaces
        .iter()
        .any(|ns| ns.kind == kind && ns.path.is_none())
}

fn link_type(kind: &str) -> Option<LinkNameSpaceType> {
    Some(match kind {
        "mount" => LinkNameSpaceType::Mount,
        "uts" => LinkNameSpaceType::HostNameAndNISDomainName,
        "ipc" => LinkNameSpaceType::InterProcessCommunication,
        "user" => LinkNameSpaceType::User,
        "pid" => LinkNameSpaceType::ProcessID,
        "network" => LinkNameSpaceType::Network,
        "cgroup" => LinkNameSpaceType::ControlGroup,
        _ => return None,
    })
}

/// Opens every namespace handle first, then joins them user namespace first and mount namespace
/// last, so a later `open` cannot be affected by an earlier join.
pub(crate) fn join(handles: &[(String, OwnedFd)]) -> Result<()> {
    let order = ["user", "ipc", "uts", "network", "pid", "cgroup", "mount"];
    for kind in order {
        for (k, fd) in handles.iter().filter(|(k, _)| k == kind) {
            let t = link_type(k)
                .ok_or_else(|| RuntimeError::Config(format!("unknown namespace {k}")))?;
            rustix::thread::move_into_link_name_space(fd.as_fd(), Some(t))
                .context(|| format!("joining the {k} namespace"))?;
        }
    }
    Ok(())
}

pub(crate) fn open(kind: &str, path: &str) -> Result<(String, OwnedFd)> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .context(|| format!("opening {kind} namespace {path}"))?;
    Ok((kind.to_owned(), fd))
}

/// Joins the namespaces the spec gives by path (all but pid, which the runtime joins before
/// cloning so that the child is born in it).
pub(crate) fn join_paths(namespaces: &[Namespace]) -> Result<()> {
    let handles = namespaces
        .iter()
        .filter(|ns| ns.kind != "pid")
        .filter_map(|ns| ns.path.as_ref().map(|p| open(&ns.kind, p)))
        .collect::<Result<Vec<_>>>()?;
    join(&handles)
}

/// Writes `linux.sysctl` through the container's verified procfs. Only namespaced keys make sense
/// here; the kernel refuses the rest.
pub(crate) fn write_sysctls(sysctl: &BTreeMap<String, String>) -> Result<()> {
    if sysctl.is_empty() {
        return Ok(());
    }
    let proc = crate::rootfs::verified_proc()?;
    for (key, value) in sysctl {
        if key.split('.').any(|c| c.is_empty() || c == "..") || key.contains('/') {
            return Err(RuntimeError::Config(format!("invalid sysctl {key:?}")));
        }
        let path = format!("sys/{}", key.replace('.', "/"));
        let fd = rustix::fs::openat(
            &proc,
            path.as_str(),
            OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .context(|| format!("opening sysctl {key}"))?;
        std::fs::File::from(fd)
            .write_all(value.as_bytes())
            .context(|| format!("writing sysctl {key}"))?;
    }
    Ok(())
}
