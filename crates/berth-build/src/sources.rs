//! The files a COPY or ADD source names, found in the build context or in an image's root.
//!
//! A context is hostile input: every path in it is resolved by the kernel beneath the context's
//! directory (`openat2(RESOLVE_BENEATH)`), so neither `..` nor a symlink leads COPY out of it;
//! either is an error that names the source. In an image's root (`COPY --from`), paths resolve
//! as the image sees them (`RESOLVE_IN_ROOT`): an absolute symlink points inside that root.
//!
//! What is found is a list of [`Entry`]s whose paths contain no symlink; the copier opens each
//! again with `RESOLVE_NO_SYMLINKS`, so a context changed meanwhile cannot redirect it.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_types::Digest;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::ignore::Ignore;
use crate::pattern;

/// How paths are resolved under a [`SourceRoot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// A build context: leaving it (by `..` or a symlink) is an error.
    Beneath,
    /// An image's root: symlinks resolve inside it, as in a container.
    InRoot,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    /// A symlink, copied as a symlink with this target.
    Symlink(PathBuf),
    /// A file whose content is given here (a heredoc source).
    Data(Vec<u8>),
}

/// One file or directory to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it goes, relative to where its source goes (empty for the source itself).
    pub rel: PathBuf,
    /// Where it is, relative to the root, with no symlink on the way.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits, setuid, setgid and sticky included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Modification time (seconds, nanoseconds), kept by the copy as Docker keeps it.
    pub mtime: (i64, i64),
}

/// One source after wildcards are expanded: a file, a directory (whose contents are copied), or
/// inline data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its base name: a file copied into a directory keeps it.
    pub name: OsString,
    /// A directory: its contents, not itself, go to the destination.
    pub is_dir: bool,
    /// The source itself first (`rel` empty), then everything under a directory, parents
    /// before children.
    pub entries: Vec<Entry>,
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("forbidden path outside the build context: {0}")]
    OutsideContext(String),
    #[error("{0} leads outside the build context through a symlink")]
    SymlinkEscape(String),
    #[error("file not found in build context or excluded by .dockerignore: {0}")]
    NotFound(String),
    #[error("no source files were specified: nothing matches {0}")]
    NoMatch(String),
    #[error("invalid pattern {0:?}")]
    BadPattern(String),
    #[error("{0} is not a regular file, directory or symlink")]
    Special(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(Errno) -> SourceError + use<> {
    let path = path.display().to_string();
    move |e| SourceError::Io {
        path,
        source: e.into(),
    }
}

/// A directory that sources are read from: a build context or an image's root.
#[derive(Debug)]
pub struct SourceRoot {
    fd: OwnedFd,
    real: PathBuf,
    resolve: Resolve,
    ignore: Ignore,
}

impl SourceRoot {
    /// Opens `dir` as a root. `ignore` applies to context paths (pass an empty one for an image).
    pub fn open(dir: &Path, resolve: Resolve, ignore: Ignore) -> Result<Self, SourceError> {
        let fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_error(dir))?;
        let real = fd_path(&fd).map_err(io_error(dir))?;
        Ok(Self {
            fd,
            real,
            resolve,
            ignore,
        })
    }

    /// The root's `.dockerignore` rules.
    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }

    fn resolve_flags(&self) -> ResolveFlags {
        ResolveFlags::NO_MAGICLINKS
            | match self.resolve {
                Resolve::Beneath => ResolveFlags::BENEATH,
                Resolve::InRoot => ResolveFlags::IN_ROOT,
            }
    }

    fn excluded(&self, rel: &Path) -> bool {
        self.resolve == Resolve::Beneath
            && !self.ignore.is_empty()
            && self.ignore.excludes(&rel.to_string_lossy())
    }

    /// The sources `src` names (as written after substitution; relative to the root, a leading
    /// `/` allowed), wildcards expanded, sorted by path.
    pub fn collect(&self, src: &str) -> Result<Vec<Source>, SourceError> {
        let rel = self.clean(src)?;
        if !pattern::has_wildcards(src) {
            return Ok(vec![self.source(&rel, src)?]);
        }
        let pattern_text = rel.to_string_lossy().into_owned();
        pattern::matches(&pattern_text, "").map_err(|_| SourceError::BadPattern(src.into()))?;
        // Walk from the deepest directory without wildcards, as deep as the pattern goes.
        let parts: Vec<&str> = pattern_text.split('/').collect();
        let fixed = parts
            .iter()
            .take_while(|p| !pattern::has_wildcards(p))
            .count();
        let base: PathBuf = parts[..fixed].iter().collect();
        let mut found = Vec::new();
        self.find(&base, parts.len() - fixed, &pattern_text, &mut found)?;
        if found.is_empty() {
            return Err(SourceError::NoMatch(src.into()));
        }
        found
            .iter()
            .map(|p| self.source(p, &p.to_string_lossy()))
            .collect()
    }

    /// `src` as a clean path relative to the root; `..` above the context is an error.
    fn clean(&self, src: &str) -> Result<PathBuf, SourceError> {
        let mut out = PathBuf::new();
        for c in Path::new(src).components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::ParentDir => {
                    if !out.pop() && self.resolve == Resolve::Beneath {
                        return Err(SourceError::OutsideContext(src.into()));
                    }
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        Ok(out)
    }

    /// Paths under `dir` (relative to the root), `depth` levels down, that match `pattern`.
    fn find(
        &self,
        dir: &Path,
        depth: usize,
        pattern_text: &str,
        found: &mut Vec<PathBuf>,
    ) -> Result<(), SourceError> {
        let fd = match self.open_dir_plain(dir) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
            Err(Errno::XDEV) => {
                return Err(SourceError::SymlinkEscape(dir.display().to_string()));
            }
            Err(e) => return Err(io_error(dir)(e)),
        };
        for (name, kind) in read_dir(&fd).map_err(io_error(dir))? {
            let path = dir.join(&name);
            if self.excluded(&path) && !self.ignore.has_exceptions() {
                continue;
            }
            let text = path.to_string_lossy();
            if depth == 1 {
                if pattern::matches(pattern_text, &text).unwrap_or(false) && !self.excluded(&path) {
                    found.push(path);
                }
            } else if kind == FileType::Directory {
                self.find(&path, depth - 1, pattern_text, found)?;
            }
        }
        Ok(())
    }

    fn open_dir_plain(&self, rel: &Path) -> rustix::io::Result<OwnedFd> {
        let path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        rustix::fs::openat2(
            &self.fd,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            self.resolve_flags(),
        )
    }

    /// Resolves one source (symlinks on its path followed, within the root) and lists it.
    fn source(&self, rel: &Path, shown: &str) -> Result<Source, SourceError> {
        if self.excluded(rel) {
            return Err(SourceError::NotFound(shown.into()));
        }
        let path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let handle = rustix::fs::openat2(
            &self.fd,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            self.resolve_flags(),
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => SourceError::NotFound(shown.into()),
            Errno::XDEV => SourceError::SymlinkEscape(shown.into()),
            e => io_error(rel)(e),
        })?;
        // Where the kernel ended up, with every symlink on the way resolved.
        let real = fd_path(&handle).map_err(io_error(rel))?;
        let resolved = real
            .strip_prefix(&self.real)
            .map(Path::to_path_buf)
            .map_err(|_| SourceError::SymlinkEscape(shown.into()))?;
        if resolved != rel && self.excluded(&resolved) {
            return Err(SourceError::NotFound(shown.into()));
        }
        let st = rustix::fs::fstat(&handle).map_err(io_error(rel))?;
        let name = rel
            .file_name()
            .map(ToOwned::to_owned)
            .unwrap_or_else(|| OsString::from("."));
        let top = entry_from_stat(PathBuf::new(), resolved.clone(), &st, None);
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut entries = vec![top];
        match kind {
            FileType::Directory => self.walk(&resolved, &PathBuf::new(), &mut entries)?,
            FileType::RegularFile => {}
            _ => return Err(SourceError::Special(shown.into())),
        }
        Ok(Source {
            name,
            is_dir: kind == FileType::Directory,
            entries,
        })
    }

    /// Lists everything under the directory `dir` (root-relative, no symlinks in it).
    fn walk(&self, dir: &Path, rel: &Path, out: &mut Vec<Entry>) -> Result<(), SourceError> {
        let fd = rustix::fs::openat2(
            &self.fd,
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            },
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            self.resolve_flags() | ResolveFlags::NO_SYMLINKS,
        )
        .map_err(io_error(dir))?;
        for (name, _) in read_dir(&fd).map_err(io_error(dir))? {
            let path = dir.join(&name);
            let child_rel = rel.join(&name);
            let excluded = self.excluded(&path);
            if excluded && !self.ignore.has_exceptions() {
                continue;
            }
            let st = rustix::fs::statat(&fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io_error(&path))?;
            let kind = FileType::from_raw_mode(st.st_mode);
            let link = if kind == FileType::Symlink {
                let target = rustix::fs::readlinkat(&fd, name.as_os_str(), Vec::new())
                    .map_err(io_error(&path))?;
                Some(PathBuf::from(std::ffi::OsStr::from_bytes(
                    target.to_bytes(),
                )))
            } else {
                None
            };
            match kind {
                FileType::Directory => {
                    let at = out.len();
                    if !excluded {
                        out.push(entry_from_stat(child_rel.clone(), path.clone(), &st, None));
                    }
                    self.walk(&path, &child_rel, out)?;
                    // An excluded directory is still made when something under it is copied.
                    if excluded && out.len() > at {
                        out.insert(at, entry_from_stat(child_rel, path, &st, None));
                    }
                }
                FileType::RegularFile | FileType::Symlink if !excluded => {
                    out.push(entry_from_stat(child_rel, path, &st, link));
                }
                // Whiteouts of an image's layers, devices, FIFOs and sockets are not copied.
                _ => {}
            }
        }
        Ok(())
    }

    /// Opens a [`EntryKind::File`] entry for reading, refusing any symlink on its path.
    pub fn open_file(&self, entry: &Entry) -> std::io::Result<File> {
        let fd = rustix::fs::openat2(
            &self.fd,
            &entry.path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
            self.resolve_flags() | ResolveFlags::NO_SYMLINKS,
        )?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(std::io::Error::other(format!(
                "{} is no longer a regular file",
                entry.path.display()
            )));
        }
        Ok(File::from(fd))
    }
}

fn entry_from_stat(
    rel: PathBuf,
    path: PathBuf,
    st: &rustix::fs::Stat,
    link: Option<PathBuf>,
) -> Entry {
    let kind = match (FileType::from_raw_mode(st.st_mode), link) {
        (FileType::Directory, _) => EntryKind::Dir,
        (_, Some(target)) => EntryKind::Symlink(target),
        _ => EntryKind::File,
    };
    Entry {
        rel,
        path,
        size: if kind == EntryKind::File {
            st.st_size as u64
        } else {
            0
        },
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: (st.st_mtime, st.st_mtime_nsec as i64),
    }
}

/// A directory's entries other than `.` and `..`, sorted by name.
fn read_dir(fd: &OwnedFd) -> rustix::io::Result<Vec<(OsString, FileType)>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        names.push((
            std::ffi::OsStr::from_bytes(name).to_owned(),
            entry.file_type(),
        ));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(names)
}

fn fd_path(fd: &OwnedFd) -> rustix::io::Result<PathBuf> {
    let link = rustix::fs::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()), Vec::new())?;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(link.to_bytes())))
}

/// A digest of what the sources would copy: names, kinds, modes, owners, sizes, symlink targets
/// and contents. Modification times are left out, as Docker's classic builder leaves them out.
/// `root` is where [`EntryKind::File`] entries are read; without one, only inline data can be
/// hashed.
pub fn content_hash(root: Option<&SourceRoot>, sources: &[Source]) -> Result<Digest, SourceError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    for s in sources {
        h.update(s.name.as_bytes());
        h.update([0, u8::from(s.is_dir)]);
        for e in &s.entries {
            h.update(e.rel.as_os_str().as_bytes());
            h.update([0]);
            h.update(format!("{:o} {} {} {}\0", e.mode, e.uid, e.gid, e.size).as_bytes());
            match &e.kind {
                EntryKind::Dir => h.update(b"d"),
                EntryKind::Symlink(t) => {
                    h.update(b"l");
                    h.update(t.as_os_str().as_bytes());
                }
                EntryKind::Data(d) => {
                    h.update(b"f");
                    h.update(d);
                }
                EntryKind::File => {
                    h.update(b"f");
                    let root =
                        root.ok_or_else(|| SourceError::NotFound(e.path.display().to_string()))?;
                    let mut f = root.open_file(e).map_err(|source| SourceError::Io {
                        path: e.path.display().to_string(),
                        source,
                    })?;
                    loop {
                        let n = f.read(&mut buf).map_err(|source| SourceError::Io {
                            path: e.path.display().to_string(),
                            source,
                        })?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                }
            }
            h.update([0]);
        }
    }
    Ok(Digest::from_bytes(h.finalize().into()))
}
