//! `berth cp`: files between a container and the host. Every path inside the container is
//! resolved by the kernel in one `openat2(RESOLVE_IN_ROOT)` call from a handle on the container's
//! root, and every entry under it is opened relative to its parent's handle with `O_NOFOLLOW`:
//! a container symlink can point anywhere, but it is read as the container sees it and never
//! leads out of the root, even if the container swaps it while the copy runs (CVE-2018-15664).
//! Nothing from the container is executed or loaded (CVE-2019-14271).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::confined::{locate, open_for_reading};
use super::overlay;
use crate::{Engine, EngineError, Result};

fn os_error(what: &str, path: &Path) -> impl FnOnce(Errno) -> EngineError + use<> {
    let (what, path) = (what.to_owned(), path.to_path_buf());
    move |e| EngineError::io("copy", path)(std::io::Error::other(format!("{what}: {e}")))
}

/// A directory behind an `O_PATH` handle, opened for use as a parent; anything else is refused.
pub(crate) fn open_dir(handle: OwnedFd) -> rustix::io::Result<OwnedFd> {
    match open_for_reading(handle)? {
        (fd, FileType::Directory) => Ok(fd),
        _ => Err(Errno::NOTDIR),
    }
}

/// Copies the open file or directory `src` (named `name` inside `dir`) to the host.
fn copy_out(src: OwnedFd, dest: &Path) -> Result<()> {
    let st = rustix::fs::fstat(&src).map_err(os_error("stat", dest))?;
    let mode = st.st_mode & 0o7777;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            std::fs::create_dir_all(dest).map_err(EngineError::io("create", dest))?;
            let dir = rustix::fs::Dir::read_from(&src).map_err(os_error("read directory", dest))?;
            for entry in dir {
                let entry = entry.map_err(os_error("read directory", dest))?;
                let name = entry.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                let name = std::ffi::OsStr::from_bytes(name);
                let target = dest.join(name);
                let st = rustix::fs::statat(&src, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(os_error("stat", &target))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                    let link = rustix::fs::readlinkat(&src, name, Vec::new())
                        .map_err(os_error("read link", &target))?;
                    let _ = std::fs::remove_file(&target);
                    std::os::unix::fs::symlink(
                        std::ffi::OsStr::from_bytes(link.to_bytes()),
                        &target,
                    )
                    .map_err(EngineError::io("create link", &target))?;
                    continue;
                }
                let handle = rustix::fs::openat(
                    &src,
                    name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(os_error("open", &target))?;
                let (child, _) = open_for_reading(handle)
                    .map_err(os_error("open (not a file or directory)", &target))?;
                copy_out(child, &target)?;
            }
        }
        FileType::RegularFile => {
            let mut from = File::from(src);
            let mut to = File::create(dest).map_err(EngineError::io("create", dest))?;
            std::io::copy(&mut from, &mut to).map_err(EngineError::io("write", dest))?;
        }
        _ => {
            return Err(EngineError::InvalidOption(format!(
                "{} is not a file or directory",
                dest.display()
            )));
        }
    }
    std::fs::set_permissions(dest, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(EngineError::io("chmod", dest))
}

/// Copies the host path `src` to `name` inside the container directory `dir`.
fn copy_in(src: &Path, dir: &OwnedFd, name: &std::ffi::OsStr) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).map_err(EngineError::io("stat", src))?;
    let mode =
        Mode::from_raw_mode(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777);
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(src).map_err(EngineError::io("read link", src))?;
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        return rustix::fs::symlinkat(&link, dir, name).map_err(os_error("create link", src));
    }
    if meta.is_dir() {
        match rustix::fs::mkdirat(dir, name, mode) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(os_error("create directory", src)(e)),
        }
        let child = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(os_error("open directory", src))?;
        for entry in std::fs::read_dir(src).map_err(EngineError::io("read", src))? {
            let entry = entry.map_err(EngineError::io("read", src))?;
            copy_in(&entry.path(), &child, &entry.file_name())?;
        }
        return Ok(());
    }
    // Only a regular file is overwritten: never a device, FIFO or socket the container put there.
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile => {
            return Err(EngineError::InvalidOption(format!(
                "cannot overwrite non-regular file {} in the container",
                name.to_string_lossy()
            )));
        }
        _ => {}
    }
    let to = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::TRUNC
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC,
        mode,
    )
    .map_err(os_error("create", src))?;
    if rustix::fs::fstat(&to).map(|st| FileType::from_raw_mode(st.st_mode))
        != Ok(FileType::RegularFile)
    {
        return Err(EngineError::InvalidOption(format!(
            "{} in the container is not a regular file",
            name.to_string_lossy()
        )));
    }
    let mut from = File::open(src).map_err(EngineError::io("open", src))?;
    let mut to = File::from(to);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).map_err(EngineError::io("read", src))?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])
            .map_err(EngineError::io("write", src))?;
    }
    rustix::fs::fchmod(&to, mode).map_err(os_error("chmod", src))
}

impl Engine {
    /// Runs `f` with a handle on the container's root: the live overlay while it runs, or the
    /// overlay mounted for the moment when it does not.
    pub(crate) fn with_root<T>(
        &self,
        name: &str,
        f: impl FnOnce(&OwnedFd) -> Result<T>,
    ) -> Result<T> {
        let c = self.current(name)?;
        let lock = if c.state.status.is_live() {
            None
        } else {
            self.lock_container(&c.id, true)?
        };
        let mounted_here = lock.is_some();
        let root = if mounted_here {
            self.mount_rootfs(&c)?
        } else {
            self.rootfs_dir(&c.id)
        };
        let result = rustix::fs::open(
            &root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| EngineError::io("open", &root)(e.into()))
        .and_then(|fd| f(&fd));
        if mounted_here {
            overlay::unmount(&root)?;
            let _ = std::fs::remove_dir_all(self.container_run_dir(&c.id));
        }
        drop(lock);
        result
    }

    /// `berth cp CONTAINER:SRC DEST`.
    pub fn copy_from_container(&self, name: &str, src: &str, dest: &Path) -> Result<()> {
        self.with_root(name, |root| {
            let fd = locate(root, Path::new(src))
                .and_then(|h| open_for_reading(h).map(|(fd, _)| fd))
                .map_err(|e| match e {
                    Errno::NOENT => EngineError::InvalidOption(format!(
                        "Could not find the file {src} in container {name}"
                    )),
                    e => os_error("open", Path::new(src))(e),
                })?;
            let is_dir = rustix::fs::fstat(&fd)
                .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
            let base = Path::new(src)
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            let target = if dest.is_dir()
                && !(is_dir && !dest.join(&base).exists() && src.ends_with("/."))
            {
                dest.join(&base)
            } else {
                dest.to_path_buf()
            };
            copy_out(fd, &target)
        })
    }

    /// `berth cp SRC CONTAINER:DEST`.
    pub fn copy_to_container(&self, name: &str, src: &Path, dest: &str) -> Result<()> {
        self.with_root(name, |root| {
            let dest_path = Path::new(dest);
            // Into an existing directory: keep the source's name; else `dest` names the copy.
            let (dir, file_name) = match locate(root, dest_path).and_then(open_dir) {
                Ok(dir) => (
                    dir,
                    src.file_name().map(ToOwned::to_owned).ok_or_else(|| {
                        EngineError::InvalidOption(format!("{} has no file name", src.display()))
                    })?,
                ),
                Err(_) => {
                    let parent = dest_path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("/"));
                    let dir = locate(root, parent)
                        .and_then(open_dir)
                        .map_err(|e| match e {
                            Errno::NOENT => EngineError::InvalidOption(format!(
                                "Could not find the file {} in container {name}",
                                parent.display()
                            )),
                            e => os_error("open", parent)(e),
                        })?;
                    let file_name =
                        dest_path
                            .file_name()
                            .map(ToOwned::to_owned)
                            .ok_or_else(|| {
                                EngineError::InvalidOption(format!("invalid destination {dest}"))
                            })?;
                    (dir, file_name)
                }
            };
            copy_in(src, &dir, &file_name)
        })
    }
}
