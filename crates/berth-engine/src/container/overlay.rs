//! A container's root filesystem: its image's layer directories, read-only, under its own upper
//! and work directories, mounted with overlayfs.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags};

use crate::{EngineError, Result};

fn mount_error(target: &Path) -> impl FnOnce(rustix::io::Errno) -> EngineError + '_ {
    move |e| EngineError::io("mount overlay on", target)(e.into())
}

/// Mounts `lowers` (top layer first) under `writable` (the upper and work directories) at
/// `target`; without `writable` the mount is read-only (it then needs two lowers or more). Each
/// layer is passed to the kernel on its own (`lowerdir+`), so no layer count overflows the
/// one-page option string.
/// With `nodev`, device nodes in the image or the writable layer cannot be opened: a container's
/// devices come from its /dev only (the device cgroup is no guard on cgroup v2 yet).
pub(crate) fn mount(
    lowers: &[PathBuf],
    writable: Option<(&Path, &Path)>,
    target: &Path,
    nodev: bool,
) -> Result<()> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(mount_error(target))?;
    let set = |key: &str, value: &Path| rustix::mount::fsconfig_set_string(&fs, key, value);
    let per_layer = lowers.iter().try_for_each(|l| set("lowerdir+", l));
    match per_layer {
        Ok(()) => {}
        // Kernels before 6.8 take only the joined list.
        Err(rustix::io::Errno::INVAL) => {
            let joined = lowers
                .iter()
                .map(|l| l.to_string_lossy())
                .collect::<Vec<_>>()
                .join(":");
            return mount_classic(&joined, writable, target, nodev);
        }
        Err(e) => return Err(mount_error(target)(e)),
    }
    if let Some((upper, work)) = writable {
        set("upperdir", upper).map_err(mount_error(target))?;
        set("workdir", work).map_err(mount_error(target))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(mount_error(target))?;
    let mut attrs = MountAttrFlags::empty();
    if nodev {
        attrs |= MountAttrFlags::MOUNT_ATTR_NODEV;
    }
    if writable.is_none() {
        attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
    }
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(mount_error(target))?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(mount_error(target))
}

fn mount_classic(
    lowers: &str,
    writable: Option<(&Path, &Path)>,
    target: &Path,
    nodev: bool,
) -> Result<()> {
    let data = match writable {
        Some((upper, work)) => format!(
            "lowerdir={lowers},upperdir={},workdir={}",
            upper.display(),
            work.display()
        ),
        None => format!("lowerdir={lowers}"),
    };
    let data = std::ffi::CString::new(data)
        .map_err(|_| EngineError::InvalidOption("a layer path holds a NUL".into()))?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        if nodev {
            rustix::mount::MountFlags::NODEV
        } else {
            rustix::mount::MountFlags::empty()
        } | if writable.is_none() {
            rustix::mount::MountFlags::RDONLY
        } else {
            rustix::mount::MountFlags::empty()
        },
        data.as_c_str(),
    )
    .map_err(mount_error(target))
}

/// Unmounts `target` if it is mounted.
pub(crate) fn unmount(target: &Path) -> Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(EngineError::io("unmount", target)(e.into())),
    }
}

/// What berth itself puts in a container's upper directory to run it, relative to the root: the
/// mount points and the generated network files. Docker keeps these in a separate init layer,
/// so neither `diff` nor `commit` shows them.
pub(crate) const RUNTIME_PATHS: &[&str] = &[
    "dev",
    "proc",
    "sys",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/mtab",
];

/// Whether `meta` is an overlay whiteout: a character device 0:0.
pub(crate) fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether the directory `dir` is opaque: it hides everything the layers below have in it.
pub(crate) fn is_opaque(dir: &Path) -> bool {
    rustix::fs::getxattr(dir, "trusted.overlay.opaque", &mut [0u8; 1]).is_ok_and(|n| n == 1)
}
