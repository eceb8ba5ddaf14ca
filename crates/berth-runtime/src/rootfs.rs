//! The container's filesystem view, built inside its new mount namespace: the root bind-mounted
//! onto itself, the spec's mounts with every destination resolved inside the root, a tmpfs `/dev`
//! with the default devices, `pivot_root`, then masked and read-only paths.
//!
//! Every destination is opened with `openat2(RESOLVE_IN_ROOT)` from a handle on the root, and the
//! mount goes onto that handle (`/proc/self/fd/N`), so a symlink planted in an image can never send a
//! mount outside the root (CVE-2021-30465).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_types::runtime::{Device, Linux, Mount};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::error::{Context, Result, RuntimeError};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// A path under `/proc/self/fd` that names `fd`: how a mount is pointed at a handle.
fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens `path` inside `root`: every component, `..` and symlink resolved as if `root` were `/`.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        path,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Opens `path` inside `root`, creating the missing directories on the way and, when `file` is
/// set, an empty file as the last component.
pub(crate) fn make_in_root(root: BorrowedFd<'_>, path: &Path, file: bool) -> Result<OwnedFd> {
    match open_in_root(root, path, OFlags::PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e).context(|| format!("opening {} in the container", path.display())),
    }
    // Walk the path from the root, following symlinks as the container would see them (an
    // absolute target starts again at the container's root), and create what is missing.
    let mut todo: std::collections::VecDeque<std::ffi::OsString> = components(path).collect();
    let mut current = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            current.pop();
            continue;
        }
        let parent = open_in_root(root, &current, OFlags::PATH | OFlags::DIRECTORY)
            .context(|| format!("opening {} in the container", current.display()))?;
        let shown = current.join(&name);
        match rustix::fs::statat(
            &parent,
            name.as_os_str(),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                links += 1;
                if links > 40 {
                    return Err(Errno::LOOP)
                        .context(|| format!("resolving {} in the container", path.display()));
                }
                let target = rustix::fs::readlinkat(&parent, name.as_os_str(), Vec::new())
                    .context(|| format!("reading the link {}", shown.display()))?;
                let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.to_bytes()));
                if target.is_absolute() {
                    current = PathBuf::from("/");
                }
                for (i, c) in components(&target).enumerate() {
                    todo.insert(i, c);
                }
                continue;
            }
            Ok(_) => {}
            Err(Errno::NOENT) => {
                let made = if todo.is_empty() && file {
                    rustix::fs::openat(
                        &parent,
                        name.as_os_str(),
                        OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::WRONLY
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop)
                } else {
                    rustix::fs::mkdirat(&parent, name.as_os_str(), Mode::from_raw_mode(0o755))
                };
                match made {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(e)
                            .context(|| format!("creating {} in the container", shown.display()));
                    }
                }
            }
            Err(e) => {
                return Err(e).context(|| format!("checking {} in the container", shown.display()));
            }
        }
        current = shown;
    }
    open_in_root(root, path, OFlags::PATH)
        .context(|| format!("opening {} in the container", path.display()))
}

/// The normal and `..` components of a path.
fn components(path: &Path) -> impl Iterator<Item = std::ffi::OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

/// Creates the working directory inside the root if it is missing, as Docker does.
pub(crate) fn ensure_dir(path: &str) -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(|| "opening /".into())?;
    make_in_root(root.as_fd(), Path::new(path), false).map(drop)
}

/// Mount options split into flags, propagation and the data string for the filesystem.
#[derive(Debug, PartialEq)]
pub(crate) struct MountOptions {
    pub flags: MountFlags,
    pub propagation: Option<MountPropagationFlags>,
    pub bind: bool,
    pub data: Vec<String>,
}

pub(crate) fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions {
        flags: MountFlags::empty(),
        propagation: None,
        bind: false,
        data: Vec::new(),
    };
    for option in options {
        let (set, clear) = match option.as_str() {
            "ro" => (MountFlags::RDONLY, MountFlags::empty()),
            "rw" => (MountFlags::empty(), MountFlags::RDONLY),
            "nosuid" => (MountFlags::NOSUID, MountFlags::empty()),
            "suid" => (MountFlags::empty(), MountFlags::NOSUID),
            "nodev" => (MountFlags::NODEV, MountFlags::empty()),
            "dev" => (MountFlags::empty(), MountFlags::NODEV),
            "noexec" => (MountFlags::NOEXEC, MountFlags::empty()),
            "exec" => (MountFlags::empty(), MountFlags::NOEXEC),
            "noatime" => (MountFlags::NOATIME, MountFlags::empty()),
            "nodiratime" => (MountFlags::NODIRATIME, MountFlags::empty()),
            "relatime" => (MountFlags::RELATIME, MountFlags::empty()),
            "strictatime" => (MountFlags::STRICTATIME, MountFlags::empty()),
            "sync" => (MountFlags::SYNCHRONOUS, MountFlags::empty()),
            "dirsync" => (MountFlags::DIRSYNC, MountFlags::empty()),
            "nosymfollow" => (MountFlags::NOSYMFOLLOW, MountFlags::empty()),
            "defaults" | "async" | "atime" | "diratime" => {
                (MountFlags::empty(), MountFlags::empty())
            }
            "bind" => {
                o.bind = true;
                (MountFlags::BIND, MountFlags::empty())
            }
            "rbind" => {
                o.bind = true;
                (MountFlags::BIND | MountFlags::REC, MountFlags::empty())
            }
            p @ ("private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
            | "unbindable" | "runbindable") => {
                o.propagation = Some(propagation(p));
                (MountFlags::empty(), MountFlags::empty())
            }
            other => {
                o.data.push(other.to_owned());
                (MountFlags::empty(), MountFlags::empty())
            }
        };
        o.flags = (o.flags | set) - clear;
    }
    o
}

fn propagation(name: &str) -> MountPropagationFlags {
    let rec = if name.starts_with('r') {
        MountPropagationFlags::REC
    } else {
        MountPropagationFlags::empty()
    };
    let kind = match name.trim_start_matches('r') {
        "shared" => MountPropagationFlags::SHARED,
        "slave" => MountPropagationFlags::DOWNSTREAM,
        "unbindable" => MountPropagationFlags::UNBINDABLE,
        _ => MountPropagationFlags::PRIVATE,
    };
    kind | rec
}

/// Builds the container's root at `rootfs` and pivots into it. Runs in the container's init,
/// inside its new mount namespace.
pub(crate) fn setup(rootfs: &Path, mounts: &[Mount], linux: &Linux, bundle: &Path) -> Result<()> {
    // Nothing mounted here may propagate back to the host.
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .context(|| "making the mount namespace private".into())?;
    rustix::mount::mount_bind_recursive(rootfs, rootfs)
        .context(|| format!("bind-mounting the root {}", rootfs.display()))?;
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("opening the root {}", rootfs.display()))?;

    let mut dev_is_tmpfs = false;
    for m in mounts {
        mount_one(root.as_fd(), m, bundle)?;
        dev_is_tmpfs |=
            m.destination.trim_end_matches('/') == "/dev" && m.kind.as_deref() == Some("tmpfs");
    }
    if dev_is_tmpfs {
        populate_dev(root.as_fd(), &linux.devices)?;
    }
    pivot(root)?;
    if let Some(p) = &linux.rootfs_propagation {
        rustix::mount::mount_change("/", propagation(p))
            .context(|| format!("setting rootfs propagation {p}"))?;
    }
    Ok(())
}

/// The steps after `pivot_root` that the container sees last: masked and read-only paths, and a
/// read-only root. `/proc` is verified to be procfs before any handle under it is used.
pub(crate) fn finish(linux: &Linux, readonly_root: bool) -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(|| "opening /".into())?;
    verified_proc()?;
    if !linux.masked_paths.is_empty() {
        let null = verified_dev_null(root.as_fd())?;
        for path in &linux.masked_paths {
            mask(root.as_fd(), Path::new(path), null.as_fd())?;
        }
    }
    for path in &linux.readonly_paths {
        let fd = match open_in_root(root.as_fd(), Path::new(path), OFlags::PATH) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e).context(|| format!("opening read-only path {path}")),
        };
        let target = fd_path(fd.as_fd());
        rustix::mount::mount_bind_recursive(&target, &target)
            .context(|| format!("binding read-only path {path}"))?;
        let fd = open_in_root(root.as_fd(), Path::new(path), OFlags::PATH)
            .context(|| format!("reopening read-only path {path}"))?;
        remount_readonly(
            &fd_path(fd.as_fd()),
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        )
        .context(|| format!("making {path} read-only"))?;
    }
    if readonly_root {
        remount_readonly("/", MountFlags::empty())
            .context(|| "making the root read-only".into())?;
    }
    Ok(())
}

fn remount_readonly(target: &str, extra: MountFlags) -> rustix::io::Result<()> {
    // A remount replaces the mount's flags: keep the restrictions it already has (a nodev root).
    let mut kept = MountFlags::empty();
    if let Ok(st) = rustix::fs::statvfs(target) {
        use rustix::fs::StatVfsMountFlags as F;
        for (have, flag) in [
            (F::NODEV, MountFlags::NODEV),
            (F::NOSUID, MountFlags::NOSUID),
            (F::NOEXEC, MountFlags::NOEXEC),
        ] {
            if st.f_flag.contains(have) {
                kept |= flag;
            }
        }
    }
    let flags = MountFlags::BIND | MountFlags::RDONLY | extra | kept;
    rustix::mount::mount_remount(target, flags, "").or_else(|e| {
        // A mount with locked flags (nosuid, nodev, noexec inherited from a user namespace's
        // parent) refuses a remount that drops them; keep them all.
        if e == Errno::PERM {
            rustix::mount::mount_remount(
                target,
                flags | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                "",
            )
        } else {
            Err(e)
        }
    })
}

/// Checks that `/proc` is the procfs this init mounted, so no write meant for the kernel can be
/// redirected to a file the image planted (CVE-2025-52881).
pub(crate) fn verified_proc() -> Result<OwnedFd> {
    let proc = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .context(|| "opening /proc".into())?;
    let fs = rustix::fs::fstatfs(&proc).context(|| "checking /proc".into())?;
    let st = rustix::fs::fstat(&proc).context(|| "checking /proc".into())?;
    if fs.f_type as i64 != PROC_SUPER_MAGIC || st.st_ino != 1 {
        return Err(RuntimeError::Init(
            "/proc is not a procfs mount root; refusing to use it".into(),
        ));
    }
    Ok(proc)
}

/// Opens the container's `/dev/null` and checks it is the real character device 1:3 before it is
/// bind-mounted over masked paths (CVE-2025-31133).
fn verified_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let null = open_in_root(
        root,
        Path::new("/dev/null"),
        OFlags::PATH | OFlags::NOFOLLOW,
    )
    .context(|| "opening /dev/null".into())?;
    let st = rustix::fs::fstat(&null).context(|| "checking /dev/null".into())?;
    let is_char = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice;
    if !is_char || st.st_rdev != rustix::fs::makedev(1, 3) {
        return Err(RuntimeError::Init(
            "/dev/null is not the null device; refusing to mask paths with it".into(),
        ));
    }
    Ok(null)
}

fn mask(root: BorrowedFd<'_>, path: &Path, null: BorrowedFd<'_>) -> Result<()> {
    let fd = match open_in_root(root, path, OFlags::PATH | OFlags::NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e).context(|| format!("opening masked path {}", path.display())),
    };
    let st =
        rustix::fs::fstat(&fd).context(|| format!("checking masked path {}", path.display()))?;
    let target = fd_path(fd.as_fd());
    let result = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        rustix::mount::mount("tmpfs", &target, "tmpfs", MountFlags::RDONLY, c"size=0")
    } else {
        rustix::mount::mount_bind(fd_path(null), &target)
    };
    result.context(|| format!("masking {}", path.display()))
}

fn mount_one(root: BorrowedFd<'_>, m: &Mount, bundle: &Path) -> Result<()> {
    let options = parse_options(&m.options);
    let kind = m
        .kind
        .as_deref()
        .unwrap_or(if options.bind { "bind" } else { "" });
    let dest = Path::new(&m.destination);
    if !dest.is_absolute() {
        return Err(RuntimeError::Config(format!(
            "mount destination {:?} is not absolute",
            m.destination
        )));
    }
    if options.bind || kind == "bind" {
        return bind_mount(root, m, dest, &options, bundle);
    }
    if kind == "cgroup" || kind == "cgroup2" {
        return mount_cgroup(root, dest, &options);
    }
    let target = make_in_root(root, dest, false)?;
    let data = CString::new(options.data.join(","))
        .map_err(|_| RuntimeError::Config("mount data has a NUL".into()))?;
    let source = m.source.as_deref().unwrap_or(kind);
    let result = rustix::mount::mount(
        source,
        fd_path(target.as_fd()),
        kind,
        options.flags,
        data.as_c_str(),
    );
    match result {
        // sysfs cannot be mounted from a network namespace the container does not own (host
        // network); bind the host's instead, read-only.
        Err(Errno::PERM) if kind == "sysfs" => {
            rustix::mount::mount_bind_recursive("/sys", fd_path(target.as_fd()))
                .context(|| "binding /sys".into())?;
            let mounted = reopen(root, dest)?;
            remount_readonly(
                &fd_path(mounted.as_fd()),
                options.flags & !MountFlags::RDONLY,
            )
            .context(|| "making /sys read-only".into())
        }
        r => r.context(|| format!("mounting {kind} on {}", m.destination)),
    }?;
    set_propagation(root, dest, options.propagation)
}

/// Opens a destination again after mounting on it: the handle used to mount names the directory
/// under the new mount, and remounts and propagation changes must reach the mount itself.
fn reopen(root: BorrowedFd<'_>, dest: &Path) -> Result<OwnedFd> {
    open_in_root(root, dest, OFlags::PATH).context(|| format!("reopening {}", dest.display()))
}

fn set_propagation(
    root: BorrowedFd<'_>,
    dest: &Path,
    propagation: Option<MountPropagationFlags>,
) -> Result<()> {
    let Some(p) = propagation else { return Ok(()) };
    let mounted = reopen(root, dest)?;
    rustix::mount::mount_change(fd_path(mounted.as_fd()), p)
        .context(|| format!("propagation of {}", dest.display()))
}

fn bind_mount(
    root: BorrowedFd<'_>,
    m: &Mount,
    dest: &Path,
    options: &MountOptions,
    bundle: &Path,
) -> Result<()> {
    let source = m.source.as_deref().ok_or_else(|| {
        RuntimeError::Config(format!("bind mount on {} has no source", m.destination))
    })?;
    let source = bundle.join(source);
    let meta = std::fs::metadata(&source).map_err(|e| RuntimeError::Read {
        path: source.clone(),
        source: e,
    })?;
    let target = make_in_root(root, dest, !meta.is_dir())?;
    let flags = options.flags & (MountFlags::BIND | MountFlags::REC);
    rustix::mount::mount(&source, fd_path(target.as_fd()), "", flags, None)
        .context(|| format!("bind-mounting {} on {}", source.display(), m.destination))?;
    let extra = options.flags - (MountFlags::BIND | MountFlags::REC);
    if !extra.is_empty() {
        let mounted = reopen(root, dest)?;
        rustix::mount::mount_remount(fd_path(mounted.as_fd()), MountFlags::BIND | extra, "")
            .context(|| format!("setting options of {}", m.destination))?;
    }
    set_propagation(root, dest, options.propagation)
}

/// A `cgroup` mount: the unified hierarchy where the host has one at `/sys/fs/cgroup`; on v1 hosts
/// a read-only empty tmpfs, since the container's own v1 view needs one bind per controller.
fn mount_cgroup(root: BorrowedFd<'_>, dest: &Path, options: &MountOptions) -> Result<()> {
    let target = make_in_root(root, dest, false)?;
    let target = fd_path(target.as_fd());
    let flags = options.flags | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let v2 = crate::cgroup::is_v2_host();
    let result = if v2 {
        rustix::mount::mount("cgroup2", &target, "cgroup2", flags, None)
    } else {
        rustix::mount::mount(
            "tmpfs",
            &target,
            "tmpfs",
            flags | MountFlags::RDONLY,
            c"size=0",
        )
    };
    result.context(|| format!("mounting cgroup on {}", dest.display()))
}

fn populate_dev(root: BorrowedFd<'_>, devices: &[Device]) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), OFlags::PATH | OFlags::DIRECTORY)
        .context(|| "opening /dev".into())?;
    let extra = devices.iter().map(|d| {
        let name = d.path.trim_start_matches("/dev/").to_owned();
        (
            name,
            d.kind.as_str(),
            d.major as u32,
            d.minor as u32,
            d.file_mode.unwrap_or(0o666),
            d.uid.unwrap_or(0),
            d.gid.unwrap_or(0),
        )
    });
    let defaults = DEFAULT_DEVICES
        .iter()
        .map(|(n, ma, mi)| ((*n).to_owned(), "c", *ma, *mi, 0o666, 0, 0));
    for (name, kind, major, minor, mode, uid, gid) in defaults.chain(extra) {
        if name.contains('/') || name.is_empty() || name == ".." {
            return Err(RuntimeError::Config(format!(
                "device path /dev/{name} is not a plain name under /dev"
            )));
        }
        let file_type = if kind == "b" {
            FileType::BlockDevice
        } else {
            FileType::CharacterDevice
        };
        let made = rustix::fs::mknodat(
            &dev,
            name.as_str(),
            file_type,
            Mode::from_raw_mode(mode),
            rustix::fs::makedev(major, minor),
        );
        match made {
            Ok(()) => {
                rustix::fs::chmodat(
                    &dev,
                    name.as_str(),
                    Mode::from_raw_mode(mode),
                    rustix::fs::AtFlags::empty(),
                )
                .context(|| format!("chmod /dev/{name}"))?;
                if uid != 0 || gid != 0 {
                    rustix::fs::chownat(
                        &dev,
                        name.as_str(),
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .context(|| format!("chown /dev/{name}"))?;
                }
            }
            Err(Errno::EXIST) => {}
            // In a user namespace mknod is refused: bind the host's node instead.
            Err(Errno::PERM | Errno::OVERFLOW) => {
                let fd = rustix::fs::openat(
                    &dev,
                    name.as_str(),
                    OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                    Mode::from_raw_mode(0o644),
                )
                .context(|| format!("creating /dev/{name}"))?;
                rustix::mount::mount_bind(format!("/dev/{name}"), fd_path(fd.as_fd()))
                    .context(|| format!("binding /dev/{name}"))?;
            }
            Err(e) => return Err(e).context(|| format!("creating /dev/{name}")),
        }
    }
    for (name, target) in DEV_LINKS {
        match rustix::fs::symlinkat(*target, &dev, *name) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e).context(|| format!("linking /dev/{name}")),
        }
    }
    Ok(())
}

/// Makes the root the container's `/`: `pivot_root(".", ".")` stacks the old root on the new one,
/// and detaching it leaves no path back to the host.
fn pivot(root: OwnedFd) -> Result<()> {
    // Reopen after the self-bind so the handle is on the new mount, not the directory under it.
    rustix::process::fchdir(&root).context(|| "entering the root".into())?;
    rustix::process::pivot_root(".", ".").context(|| "pivot_root".into())?;
    rustix::mount::unmount(".", UnmountFlags::DETACH)
        .context(|| "detaching the old root".into())?;
    rustix::process::chdir("/").context(|| "chdir /".into())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "strictatime".into(),
            "mode=755".into(),
            "size=65536k".into(),
        ]);
        assert_eq!(o.flags, MountFlags::NOSUID | MountFlags::STRICTATIME);
        assert_eq!(o.data, ["mode=755", "size=65536k"]);
        let o = parse_options(&["rbind".into(), "ro".into(), "rprivate".into()]);
        assert!(o.bind);
        assert_eq!(
            o.flags,
            MountFlags::BIND | MountFlags::REC | MountFlags::RDONLY
        );
        assert_eq!(
            o.propagation,
            Some(MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        );
        let o = parse_options(&["ro".into(), "rw".into()]);
        assert!(!o.flags.contains(MountFlags::RDONLY));
    }
}
