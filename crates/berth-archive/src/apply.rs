//! Applying a layer's changes to an empty directory that becomes an overlay lower directory.
//!
//! Each entry's parent is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` relative to
//! the root's file descriptor, and the entry is then made with an `*at` call on that parent. OCI
//! whiteouts become overlayfs whiteouts: `.wh.NAME` a 0/0 character device, `.wh..wh..opq` the
//! `trusted.overlay.opaque` xattr.

use std::cell::Cell;
use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_types::{Digest, Sha256Writer};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;

use crate::read::{Bounded, FlagErrors};
use crate::stream::{EntryKind, EntryMeta, for_each_entry};
use crate::{ArchiveError, Compression, HashingReader, Limits};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const COPY_BUFFER: usize = 256 << 10;
const MAX_REMOVE_DEPTH: usize = 4096;
/// Files at least this large have their writeback started as soon as they are written.
const WRITE_BEHIND_MIN: u64 = 64 << 10;

/// What applying a layer found out about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyReport {
    pub compression: Compression,
    /// The digest and size of the stream as given (the blob).
    pub digest: Digest,
    pub compressed_size: u64,
    /// The digest and size of the uncompressed tar (the DiffID).
    pub diff_id: Digest,
    pub size: u64,
    pub entries: u64,
    /// The archive's own root entry (`./`), which is not applied (the directory applied to keeps
    /// its mode and owner): `(mode, uid, gid)`. ADD in a build gives it to the destination.
    pub root: Option<(u32, u32, u32)>,
}

/// Applies the layer read from `src` (tar, tar+gzip or tar+zstd) to the directory `root`, which
/// should be empty, and reports the layer's digests.
///
/// On error the directory holds a partial result; the caller discards it.
pub fn apply_layer(
    src: impl Read,
    root: &Path,
    limits: &Limits,
) -> Result<ApplyReport, ArchiveError> {
    apply(
        BufReader::with_capacity(COPY_BUFFER, src),
        root,
        limits,
        true,
    )
}

/// As [`apply_layer`], reading straight out of the buffer of `src` (a pipeline's chunks), with
/// no buffer of its own.
pub fn apply_buffered_layer(
    src: impl BufRead,
    root: &Path,
    limits: &Limits,
) -> Result<ApplyReport, ArchiveError> {
    apply(src, root, limits, true)
}

/// As [`apply_buffered_layer`], for a layer whose blob the caller hashes as it hands the bytes
/// over: the report's `digest` is zero, and so is its `diff_id` when the stream is not
/// compressed (the DiffID is then the blob's digest). The caller fills them in.
pub fn apply_layer_unhashed(
    src: impl BufRead,
    root: &Path,
    limits: &Limits,
) -> Result<ApplyReport, ArchiveError> {
    apply(src, root, limits, false)
}

fn apply(
    src: impl BufRead,
    root: &Path,
    limits: &Limits,
    hash: bool,
) -> Result<ApplyReport, ArchiveError> {
    let root_fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("", "open layer root", root, e))?;
    let mut compressed = if hash {
        HashingReader::new(src)
    } else {
        HashingReader::counting(src)
    };
    let compression =
        Compression::sniff(&mut compressed).map_err(|source| ArchiveError::Read { source })?;
    let decode_failed = Cell::new(false);
    let exceeded = Cell::new(false);
    let decoder =
        compression
            .decoder(&mut compressed)
            .map_err(|source| ArchiveError::Decompress {
                format: compression.name(),
                source,
            })?;
    let bounded = Bounded {
        inner: FlagErrors {
            inner: decoder,
            failed: &decode_failed,
        },
        // Uncompressed, the blob digest is the DiffID: hash once.
        hash: (compression != Compression::None).then(Sha256Writer::new),
        count: 0,
        limit: limits.max_uncompressed,
        exceeded: &exceeded,
    };
    let mut applier = Applier {
        root: root_fd,
        dirs: Vec::new(),
        parent: None,
        buf: vec![0; COPY_BUFFER],
        entries: 0,
        root_entry: None,
    };
    let classify =
        |e: ArchiveError| classify_error(e, compression, &decode_failed, &exceeded, limits);
    let mut rest = for_each_entry(bounded, limits, |meta, data| applier.entry(meta, data))
        .map_err(classify)?;
    // The DiffID covers the whole stream, including padding after the end-of-archive blocks.
    io::copy(&mut rest, &mut io::sink())
        .map_err(|source| classify(ArchiveError::Tar { source }))?;
    applier.finish()?;
    let (uncompressed_hash, size) = (rest.hash.take(), rest.count);
    drop(rest);
    let (digest, compressed_size) = compressed.finish();
    let diff_id = uncompressed_hash.map_or(digest, |h| h.finish().0);
    Ok(ApplyReport {
        compression,
        digest,
        compressed_size,
        diff_id,
        size,
        entries: applier.entries,
        root: applier.root_entry,
    })
}

fn classify_error(
    e: ArchiveError,
    compression: Compression,
    decode_failed: &Cell<bool>,
    exceeded: &Cell<bool>,
    limits: &Limits,
) -> ArchiveError {
    if exceeded.get() {
        return ArchiveError::TooLarge {
            limit: limits.max_uncompressed,
        };
    }
    if decode_failed.get() && compression != Compression::None {
        let source = match e {
            ArchiveError::Tar { source } | ArchiveError::Read { source } => source,
            other => io::Error::other(other.to_string()),
        };
        return ArchiveError::Decompress {
            format: compression.name(),
            source,
        };
    }
    e
}

fn io_err(entry: &str, op: &'static str, path: &Path, e: impl Into<io::Error>) -> ArchiveError {
    ArchiveError::Io {
        entry: entry.to_owned(),
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

/// A cleaned relative path: components without `.`, empty parts or `..`.
struct CleanPath {
    parent: PathBuf,
    name: Vec<u8>,
}

/// Cleans an archive path. `None` is the root itself; `..` and absolute paths are refused.
fn clean_path(raw: &[u8], entry: &str) -> Result<Option<CleanPath>, ArchiveError> {
    if raw.first() == Some(&b'/') {
        return Err(ArchiveError::Escape {
            entry: entry.to_owned(),
        });
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(ArchiveError::Escape {
                    entry: entry.to_owned(),
                });
            }
            p => parts.push(p),
        }
    }
    let Some(name) = parts.pop() else {
        return Ok(None);
    };
    let mut parent = PathBuf::new();
    for p in parts {
        parent.push(OsStr::from_bytes(p));
    }
    Ok(Some(CleanPath {
        parent,
        name: name.to_vec(),
    }))
}

/// Whether a symlink target, taken from the directory `parent`, leaves the root.
fn symlink_escapes(parent: &Path, target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return true;
    }
    let mut depth = parent.components().count() as i64;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

struct Applier {
    root: OwnedFd,
    /// Directories whose times are set once everything inside them exists.
    dirs: Vec<(PathBuf, Timestamps)>,
    /// The most recently opened parent directory, reused while entries stay in it.
    parent: Option<(PathBuf, OwnedFd)>,
    buf: Vec<u8>,
    entries: u64,
    root_entry: Option<(u32, u32, u32)>,
}

fn timestamps(meta: &EntryMeta) -> Timestamps {
    let ts = |(s, n): (i64, u32)| rustix::fs::Timespec {
        tv_sec: s,
        tv_nsec: n.into(),
    };
    Timestamps {
        last_access: ts(meta.atime.unwrap_or(meta.mtime)),
        last_modification: ts(meta.mtime),
    }
}

impl Applier {
    fn entry(&mut self, meta: &EntryMeta, data: &mut dyn Read) -> Result<(), ArchiveError> {
        self.entries += 1;
        let shown = meta.display_path();
        let Some(path) = clean_path(&meta.path, &shown)? else {
            // The root's own entry: the layer directory keeps its mode; the report tells.
            if meta.kind == EntryKind::Dir {
                self.root_entry = Some((meta.mode & 0o7777, meta.uid, meta.gid));
            }
            return Ok(());
        };
        if path.name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(&path, &shown);
        }
        let parent = self.open_parent(&path.parent, &shown)?;
        let name = Path::new(OsStr::from_bytes(&path.name));
        let full = path.parent.join(name);
        match meta.kind {
            EntryKind::Dir => self.make_dir(parent.as_fd(), name, &full, meta, &shown)?,
            EntryKind::File => self.make_file(parent.as_fd(), name, &full, meta, data, &shown)?,
            EntryKind::Symlink => {
                let target = meta.link.as_deref().unwrap_or_default();
                self.make_node(
                    parent.as_fd(),
                    name,
                    &full,
                    &shown,
                    Some(&path.parent),
                    target,
                    |fd| rustix::fs::symlinkat(OsStr::from_bytes(target), fd, name),
                )?;
                self.set_owner_times(parent.as_fd(), name, &full, meta, &shown, false)?;
            }
            EntryKind::Hardlink => self.make_hardlink(parent.as_fd(), name, &full, meta, &shown)?,
            EntryKind::Char | EntryKind::Block | EntryKind::Fifo => {
                let ft = match meta.kind {
                    EntryKind::Char => FileType::CharacterDevice,
                    EntryKind::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(meta.dev.0, meta.dev.1);
                self.make_node(parent.as_fd(), name, &full, &shown, None, b"", |fd| {
                    rustix::fs::mknodat(fd, name, ft, Mode::from_raw_mode(meta.mode & 0o777), dev)
                })?;
                self.set_owner_times(parent.as_fd(), name, &full, meta, &shown, true)?;
            }
        }
        self.parent = Some((path.parent, parent));
        Ok(())
    }

    /// Opens (creating as needed, mode 0755) the directory `rel` under the root, never leaving it.
    fn open_parent(&mut self, rel: &Path, shown: &str) -> Result<OwnedFd, ArchiveError> {
        if let Some((cached, fd)) = self.parent.take()
            && cached == rel
        {
            return Ok(fd);
        }
        match self.resolve(rel, shown) {
            Err(Errno::NOENT) => {}
            other => return other.map_err(|e| self.resolve_error(e, rel, shown)),
        }
        let mut cur = PathBuf::new();
        for comp in rel.components() {
            let dir = self
                .resolve(&cur, shown)
                .map_err(|e| self.resolve_error(e, &cur, shown))?;
            cur.push(comp);
            match rustix::fs::mkdirat(&dir, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err(shown, "create directory", &cur, e)),
            }
        }
        self.resolve(rel, shown)
            .map_err(|e| self.resolve_error(e, rel, shown))
    }

    fn resolve(&self, rel: &Path, _shown: &str) -> Result<OwnedFd, Errno> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        rustix::fs::openat2(
            &self.root,
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
    }

    fn resolve_error(&self, e: Errno, rel: &Path, shown: &str) -> ArchiveError {
        match e {
            Errno::XDEV => ArchiveError::SymlinkEscape {
                entry: shown.to_owned(),
            },
            Errno::LOOP => ArchiveError::SymlinkLoop {
                entry: shown.to_owned(),
            },
            e => io_err(shown, "open parent directory", rel, e),
        }
    }

    /// Removes whatever is at `name` so a new entry can take its place.
    fn clear(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &Path,
        full: &Path,
        shown: &str,
    ) -> Result<(), ArchiveError> {
        self.parent = None;
        match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR) => {
                remove_tree(parent, name, 0).map_err(|e| io_err(shown, "remove directory", full, e))
            }
            Err(e) => Err(io_err(shown, "remove", full, e)),
        }
    }

    /// Makes a non-directory with `create`, replacing what was there. `symlink_from` is the
    /// directory of a symlink being made, to refuse one that would replace a directory and lead out.
    #[allow(clippy::too_many_arguments)]
    fn make_node(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &Path,
        full: &Path,
        shown: &str,
        symlink_from: Option<&Path>,
        target: &[u8],
        create: impl Fn(BorrowedFd<'_>) -> Result<(), Errno>,
    ) -> Result<(), ArchiveError> {
        match create(parent) {
            Ok(()) => return Ok(()),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err(shown, "create", full, e)),
        }
        if let Some(from) = symlink_from {
            let is_dir = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
            if is_dir && symlink_escapes(from, target) {
                return Err(ArchiveError::DirToEscapingSymlink {
                    entry: shown.to_owned(),
                    target: String::from_utf8_lossy(target).into_owned(),
                });
            }
        }
        self.clear(parent, name, full, shown)?;
        create(parent).map_err(|e| io_err(shown, "create", full, e))
    }

    fn make_dir(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &Path,
        full: &Path,
        meta: &EntryMeta,
        shown: &str,
    ) -> Result<(), ArchiveError> {
        match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_err(shown, "stat", full, e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.clear(parent, name, full, shown)?;
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| io_err(shown, "create directory", full, e))?;
                }
            }
            Err(e) => return Err(io_err(shown, "create directory", full, e)),
        }
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(shown, "open directory", full, e))?;
        self.set_fd_meta(&fd, full, meta, shown, false)?;
        self.dirs.push((full.to_owned(), timestamps(meta)));
        Ok(())
    }

    fn make_file(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &Path,
        full: &Path,
        meta: &EntryMeta,
        data: &mut dyn Read,
        shown: &str,
    ) -> Result<(), ArchiveError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Made with its permission bits (never set-id or sticky: those wait for the owner),
        // so that most files need no chmod afterwards.
        let create_mode = Mode::from_raw_mode(meta.mode & 0o777);
        let open = |fd: BorrowedFd<'_>| rustix::fs::openat(fd, name, flags, create_mode);
        let fd = match open(parent) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.clear(parent, name, full, shown)?;
                open(parent).map_err(|e| io_err(shown, "create file", full, e))?
            }
            Err(e) => return Err(io_err(shown, "create file", full, e)),
        };
        let mut file = std::fs::File::from(fd);
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(ArchiveError::Tar { source }),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| io_err(shown, "write", full, e))?;
            written += n as u64;
        }
        if written >= WRITE_BEHIND_MIN {
            // The file starts going to disk now, while the rest of the layer is made, so the
            // sync before the layer is used has less to wait for. (DONTNEED starts the
            // writeback of dirty pages and drops only clean ones.) Advice only.
            let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        }
        let fd = OwnedFd::from(file);
        self.set_fd_meta(&fd, full, meta, shown, true)?;
        rustix::fs::futimens(&fd, &timestamps(meta))
            .map_err(|e| io_err(shown, "set times", full, e))
    }

    fn make_hardlink(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &Path,
        full: &Path,
        meta: &EntryMeta,
        shown: &str,
    ) -> Result<(), ArchiveError> {
        let raw_target = meta.link.as_deref().unwrap_or_default();
        let target_shown = String::from_utf8_lossy(raw_target).into_owned();
        let escape = || ArchiveError::HardlinkEscape {
            entry: shown.to_owned(),
            target: target_shown.clone(),
        };
        let target = clean_path(raw_target, shown)
            .map_err(|_| escape())?
            .ok_or_else(escape)?;
        let tparent = match self.resolve(&target.parent, shown) {
            Ok(fd) => fd,
            Err(Errno::XDEV) => return Err(escape()),
            Err(Errno::NOENT) => {
                return Err(ArchiveError::HardlinkMissing {
                    entry: shown.to_owned(),
                    target: target_shown,
                });
            }
            Err(e) => return Err(self.resolve_error(e, &target.parent, shown)),
        };
        let tname = Path::new(OsStr::from_bytes(&target.name));
        if target.parent == full.parent().unwrap_or(Path::new("")) && tname == name {
            return Ok(()); // A link to itself changes nothing.
        }
        let link =
            |fd: BorrowedFd<'_>| rustix::fs::linkat(&tparent, tname, fd, name, AtFlags::empty());
        match link(parent) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => Err(ArchiveError::HardlinkMissing {
                entry: shown.to_owned(),
                target: target_shown,
            }),
            Err(Errno::EXIST) => {
                self.clear(parent, name, full, shown)?;
                link(parent).map_err(|e| io_err(shown, "hard link", full, e))
            }
            Err(e) => Err(io_err(shown, "hard link", full, e)),
        }
    }

    /// Owner, then mode (chown clears set-id bits), then xattrs, through an open descriptor.
    /// With `only_if_needed` (a file just made), the owner and mode it already has are looked
    /// at first, and left alone when right: most files are made by root for root, with their
    /// permission bits, and a stat costs less than two metadata updates.
    fn set_fd_meta(
        &self,
        fd: &OwnedFd,
        full: &Path,
        meta: &EntryMeta,
        shown: &str,
        only_if_needed: bool,
    ) -> Result<(), ArchiveError> {
        let has = if only_if_needed {
            let st = rustix::fs::fstat(fd).map_err(|e| io_err(shown, "stat", full, e))?;
            Some((st.st_uid, st.st_gid, st.st_mode & 0o7777))
        } else {
            None
        };
        if has.is_none_or(|(u, g, _)| (u, g) != (meta.uid, meta.gid)) {
            rustix::fs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))
                .map_err(|e| io_err(shown, "change owner", full, e))?;
        }
        // A file made without set-id bits loses none to chown, so the mode seen before it
        // still tells whether a chmod is needed.
        if has.is_none_or(|(_, _, m)| m != meta.mode & 0o7777) {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))
                .map_err(|e| io_err(shown, "change mode", full, e))?;
        }
        for (key, value) in &meta.xattrs {
            if key.starts_with(OVERLAY_XATTR_PREFIX) {
                tracing::warn!(entry = shown, xattr = %String::from_utf8_lossy(key), "dropping an overlay xattr set by the layer");
                continue;
            }
            match rustix::fs::fsetxattr(
                fd,
                OsStr::from_bytes(key),
                value,
                rustix::fs::XattrFlags::empty(),
            ) {
                Ok(()) => {}
                Err(Errno::NOTSUP) => {
                    tracing::warn!(entry = shown, "xattrs not supported here; dropped")
                }
                Err(e) => return Err(io_err(shown, "set xattr", full, e)),
            }
        }
        Ok(())
    }

    fn set_owner_times(
        &self,
        parent: BorrowedFd<'_>,
        name: &Path,
        full: &Path,
        meta: &EntryMeta,
        shown: &str,
        chmod: bool,
    ) -> Result<(), ArchiveError> {
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        rustix::fs::chownat(
            parent,
            name,
            Some(uid(meta.uid)),
            Some(gid(meta.gid)),
            nofollow,
        )
        .map_err(|e| io_err(shown, "change owner", full, e))?;
        if chmod {
            rustix::fs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(|e| io_err(shown, "change mode", full, e))?;
        }
        rustix::fs::utimensat(parent, name, &timestamps(meta), nofollow)
            .map_err(|e| io_err(shown, "set times", full, e))
    }

    fn whiteout(&mut self, path: &CleanPath, shown: &str) -> Result<(), ArchiveError> {
        let parent = self.open_parent(&path.parent, shown)?;
        if path.name == WHITEOUT_OPAQUE {
            rustix::fs::fsetxattr(
                reopen_dir(&parent, &path.parent, shown)?,
                OVERLAY_OPAQUE_XATTR,
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| io_err(shown, "mark opaque", &path.parent, e))?;
        } else if path.name.starts_with(WHITEOUT_META_PREFIX) {
            tracing::debug!(entry = shown, "skipping whiteout metadata");
        } else {
            let hidden = &path.name[WHITEOUT_PREFIX.len()..];
            if matches!(hidden, b"" | b"." | b"..") || hidden.contains(&b'/') {
                return Err(ArchiveError::BadWhiteout {
                    entry: shown.to_owned(),
                });
            }
            let name = Path::new(OsStr::from_bytes(hidden));
            let full = path.parent.join(name);
            self.make_node(parent.as_fd(), name, &full, shown, None, b"", |fd| {
                rustix::fs::mknodat(
                    fd,
                    name,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
            })?;
        }
        self.parent = Some((path.parent.clone(), parent));
        Ok(())
    }

    /// Sets directory times last, deepest first, once nothing more is created inside them.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        self.parent = None;
        while let Some((dir, ts)) = self.dirs.pop() {
            let shown = dir.to_string_lossy().into_owned();
            let fd = match rustix::fs::openat2(
                &self.root,
                &dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR) => continue, // replaced later in the layer
                Err(e) => return Err(self.resolve_error(e, &dir, &shown)),
            };
            rustix::fs::futimens(&fd, &ts).map_err(|e| io_err(&shown, "set times", &dir, e))?;
        }
        Ok(())
    }
}

fn reopen_dir(path_fd: &OwnedFd, rel: &Path, shown: &str) -> Result<OwnedFd, ArchiveError> {
    rustix::fs::openat(
        path_fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(shown, "open directory", rel, e))
}

fn uid(v: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(v)
}

fn gid(v: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(v)
}

/// Removes the directory `name` under `parent` and everything in it, without following symlinks.
fn remove_tree(parent: BorrowedFd<'_>, name: &Path, depth: usize) -> io::Result<()> {
    if depth > MAX_REMOVE_DEPTH {
        return Err(io::Error::other("directory nesting too deep to remove"));
    }
    let dir = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((n.to_vec(), entry.file_type() == FileType::Directory));
        }
    }
    for (n, is_dir) in names {
        let p = Path::new(OsStr::from_bytes(&n));
        match rustix::fs::unlinkat(&dir, p, AtFlags::empty()) {
            Err(Errno::ISDIR) => remove_tree(dir.as_fd(), p, depth + 1)?,
            Err(Errno::PERM) if is_dir => remove_tree(dir.as_fd(), p, depth + 1)?,
            r => r?,
        }
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        let c = clean_path(b"./usr//bin/./sh", "x").unwrap().unwrap();
        assert_eq!(c.parent, Path::new("usr/bin"));
        assert_eq!(c.name, b"sh");
        assert!(clean_path(b"./", "x").unwrap().is_none());
        assert!(clean_path(b"/etc/passwd", "x").is_err());
        assert!(clean_path(b"a/../../b", "x").is_err());
        assert!(clean_path(b"..", "x").is_err());
    }

    #[test]
    fn symlink_escape_is_lexical() {
        assert!(symlink_escapes(Path::new(""), b"/etc"));
        assert!(symlink_escapes(Path::new("a"), b"../.."));
        assert!(!symlink_escapes(Path::new("a/b"), b"../c"));
        assert!(!symlink_escapes(Path::new(""), b"usr/lib"));
    }
}
