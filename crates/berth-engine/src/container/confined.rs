//! Opening files inside a container's root from the host side, where the container controls
//! every name: paths are resolved by the kernel under the root (`RESOLVE_IN_ROOT`), and a file
//! is only read or written after it is known to be a regular file or a directory, never a FIFO
//! (which would hang berth) or a device node (whose open can act on the host).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// `path` under `root` as an `O_PATH` handle: nothing is opened for I/O yet.
pub(crate) fn locate(root: impl AsFd, path: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Opens the file behind an `O_PATH` handle for reading, if it is a regular file or a directory.
pub(crate) fn open_for_reading(handle: OwnedFd) -> rustix::io::Result<(OwnedFd, FileType)> {
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&handle)?.st_mode);
    let flags = match kind {
        FileType::Directory => OFlags::RDONLY | OFlags::DIRECTORY,
        FileType::RegularFile => OFlags::RDONLY | OFlags::NONBLOCK,
        _ => return Err(Errno::PERM),
    };
    let fd = rustix::fs::open(
        format!("/proc/self/fd/{}", handle.as_raw_fd()),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((fd, kind))
}

/// Reads a regular file inside `root`, up to `limit` bytes; `None` when it does not exist.
pub(crate) fn read_regular(
    root: impl AsFd,
    path: &Path,
    limit: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let handle = match locate(root, path) {
        Ok(h) => h,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (fd, kind) = open_for_reading(handle).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("{} is not a regular file", path.display()),
        )
    })?;
    if kind != FileType::RegularFile {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_escaping_links_are_not_followed_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "data").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::os::unix::fs::symlink("/../../etc/hostname", dir.path().join("up")).unwrap();
        let root =
            rustix::fs::open(dir.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert_eq!(
            read_regular(&root, Path::new("/file"), 100)
                .unwrap()
                .unwrap(),
            b"data"
        );
        assert!(
            read_regular(&root, Path::new("fifo"), 100).is_err(),
            "a FIFO is refused, not read"
        );
        assert!(
            read_regular(&root, Path::new("/up"), 100)
                .unwrap()
                .is_none(),
            "resolved inside the root"
        );
        assert_eq!(
            read_regular(&root, Path::new("/file"), 2).unwrap().unwrap(),
            b"da"
        );
    }
}
