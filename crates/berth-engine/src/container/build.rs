//! `berth build`: the engine's side of berth-build's [`StepRunner`]. A RUN step runs in a
//! container made from the parent step's image, exactly as `berth run` would run it (with no
//! network unless `--network=host`); COPY, ADD and WORKDIR write into the overlay root of a
//! container that never starts. Either way the container's writable layer becomes the step's
//! layer, as `berth commit` makes one, and the container is removed.
//!
//! Everything written into a step's root goes through descriptors: parents are opened with
//! `openat2(RESOLVE_IN_ROOT)`, entries are made with `*at` calls and `O_NOFOLLOW`, so a symlink
//! in the image never sends a copy outside the root.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_build::{
    BuildError, BuildOptions, Change, CopyFrom, CopyStep, EntryKind, Ignore, Image, Network,
    Resolve, Source, SourceRoot, StepRunner,
};
use berth_types::image::ImageConfig;
use berth_types::{Digest, Reference};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

use super::{RunOptions, Stdio, user};
use crate::{Engine, EngineError, Result};

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum DockerfileSource {
    /// A path inside the context (`Dockerfile` by default, or `-f` naming one there).
    InContext(PathBuf),
    /// Given whole: `-f PATH` outside the context, or `-f -`.
    Text { name: String, bytes: Vec<u8> },
}

/// Where the build context comes from.
pub enum ContextSource {
    /// A directory.
    Dir(PathBuf),
    /// A tar stream (plain, gzip or zstd), as `berth build - < context.tar` gives it.
    Tar(Box<dyn Read>),
    /// No context: `berth build - < Dockerfile`.
    None,
}

impl std::fmt::Debug for ContextSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            Self::Tar(_) => f.write_str("Tar"),
            Self::None => f.write_str("None"),
        }
    }
}

/// One `berth build`.
#[derive(Debug)]
pub struct BuildRequest {
    pub context: ContextSource,
    pub dockerfile: DockerfileSource,
    pub options: BuildOptions,
    pub tags: Vec<Reference>,
    /// `-q`: no progress and no RUN output.
    pub quiet: bool,
}

const MAX_DOCKERFILE: u64 = 16 << 20;

fn build_error(e: impl std::fmt::Display) -> BuildError {
    BuildError::runner(e)
}

impl Engine {
    /// `berth build`: returns the image's ID. Progress goes to `out`.
    pub fn build(&self, req: BuildRequest, out: &mut dyn Write) -> Result<Digest> {
        // A tar context is unpacked (by the layer extractor, which refuses `..`, absolute
        // names and symlink tricks) into a directory removed when the build ends.
        let _lock = self.store.writer_lock()?;
        let mut unpacked = None;
        let dir: Option<PathBuf> = match req.context {
            ContextSource::Dir(d) => Some(d),
            ContextSource::Tar(reader) => {
                let staging = self.store.staging_dir()?;
                berth_archive::apply_layer(reader, staging.path(), &self.limits).map_err(
                    |source| EngineError::Layer {
                        layer: "the build context".into(),
                        source,
                    },
                )?;
                let path = staging.path().to_path_buf();
                unpacked = Some(staging);
                Some(path)
            }
            ContextSource::None => None,
        };
        let (name, bytes) = match &req.dockerfile {
            DockerfileSource::Text { name, bytes } => (name.clone(), bytes.clone()),
            DockerfileSource::InContext(rel) => {
                let root = dir.as_ref().ok_or_else(|| {
                    EngineError::Build("no build context to find the Dockerfile in".into())
                })?;
                let root_fd = rustix::fs::open(
                    root,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| EngineError::io("open", root)(e.into()))?;
                let bytes = super::confined::read_regular(&root_fd, rel, MAX_DOCKERFILE)
                    .map_err(EngineError::io("read", root.join(rel)))?
                    .ok_or_else(|| {
                        EngineError::Build(format!(
                            "Cannot locate specified Dockerfile: {}",
                            rel.display()
                        ))
                    })?;
                (rel.display().to_string(), bytes)
            }
        };
        let df = berth_dockerfile::parse_bytes(&name, &bytes)
            .map_err(|e| EngineError::Build(e.to_string()))?;
        let context = match &dir {
            Some(d) => {
                let root_fd = rustix::fs::open(
                    d,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| EngineError::io("open build context", d)(e.into()))?;
                let text = super::confined::read_regular(
                    &root_fd,
                    Path::new(".dockerignore"),
                    MAX_DOCKERFILE,
                )
                .map_err(EngineError::io("read", d.join(".dockerignore")))?
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
                let ignore = Ignore::parse(&text).map_err(|e| EngineError::Build(e.to_string()))?;
                Some(
                    SourceRoot::open(d, Resolve::Beneath, ignore)
                        .map_err(|e| EngineError::Build(e.to_string()))?,
                )
            }
            None => None,
        };
        let mut sink = std::io::sink();
        let out: &mut dyn Write = if req.quiet { &mut sink } else { out };
        let mut runner = Runner {
            engine: self,
            quiet: req.quiet,
        };
        let id = berth_build::build(&mut runner, &df, context.as_ref(), &req.options, out)
            .map_err(|e| EngineError::Build(e.to_string()))?;
        drop(unpacked);
        self.store.set_final(&id)?;
        let _ = writeln!(out, "Successfully built {}", &id.hex()[..12]);
        for tag in &req.tags {
            self.store.tag(&id, tag)?;
            let _ = writeln!(out, "Successfully tagged {}", tag.familiar());
        }
        Ok(id)
    }

    /// `berth builder prune`: forgets the build cache and removes the step images only it
    /// kept. Returns the bytes freed.
    pub fn prune_build_cache(&self) -> Result<u64> {
        let removed = self.store.prune_build_cache()?;
        let report = self.store.gc()?;
        tracing::debug!(images = removed.len(), "build cache pruned");
        Ok(report.bytes)
    }
}

struct Runner<'e> {
    engine: &'e Engine,
    quiet: bool,
}

/// Removes a step's container however the step ends.
struct StepContainer<'e> {
    engine: &'e Engine,
    id: String,
}

impl Drop for StepContainer<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.engine.remove_container(&self.id, true) {
            tracing::warn!(id = %self.id, error = %e, "could not remove a build step's container");
        }
    }
}

impl Runner<'_> {
    /// The parent as a stored image; `FROM scratch` becomes an empty image first.
    fn parent_record(&self, parent: &Image) -> Result<berth_store::ImageRecord> {
        let id = match parent.id {
            Some(id) => id,
            None => self
                .engine
                .commit_image_with_layer(&parent.config, &[], None, None, true)?,
        };
        self.engine
            .store
            .image(&id)?
            .ok_or_else(|| EngineError::NoSuchImage(id.to_string()))
    }

    fn step_container(&self, image: &Digest, options: RunOptions) -> Result<StepContainer<'_>> {
        let c = self.engine.create_container(RunOptions {
            image: image.to_string(),
            ..options
        })?;
        Ok(StepContainer {
            engine: self.engine,
            id: c.id,
        })
    }

    fn run(
        &self,
        base: &berth_store::ImageRecord,
        step: &berth_build::RunStep,
        config: ImageConfig,
        out: &mut dyn Write,
    ) -> Result<Digest, BuildError> {
        let c = self
            .step_container(
                &base.id,
                RunOptions {
                    cmd: step.argv.clone(),
                    entrypoint: Some(String::new()),
                    env: step.env.clone(),
                    network: Some(
                        match step.network {
                            Network::None => "none",
                            Network::Host => "host",
                        }
                        .into(),
                    ),
                    ..Default::default()
                },
            )
            .map_err(build_error)?;
        let _ = writeln!(out, " ---> Running in {}", &c.id[..12]);
        let _ = out.flush();
        let code = self
            .engine
            .run_attached(
                &c.id,
                Stdio {
                    quiet: self.quiet,
                    ..Default::default()
                },
            )
            .map_err(build_error)?;
        if code != 0 {
            return Err(BuildError::RunFailed {
                command: step.display.clone(),
                code,
            });
        }
        let upper = self.engine.container_dir(&c.id).join("upper");
        let layer = self
            .engine
            .layer_of_upper(&upper, "a RUN step's layer")
            .map_err(build_error)?;
        let id = self
            .engine
            .commit_layer(layer, config, &base.layers, None, true)
            .map_err(build_error)?;
        let short = c.id[..12].to_owned();
        drop(c);
        let _ = writeln!(out, " ---> Removed intermediate container {short}");
        Ok(id)
    }

    /// COPY, ADD and WORKDIR: changes made in the root of a container that never starts.
    fn write_step(
        &self,
        base: &berth_store::ImageRecord,
        change: &Change,
        context: Option<&SourceRoot>,
        mut config: ImageConfig,
    ) -> Result<Digest> {
        let c = self.step_container(
            &base.id,
            RunOptions {
                cmd: vec!["/".into()],
                entrypoint: Some(String::new()),
                network: Some("none".into()),
                ..Default::default()
            },
        )?;
        let changed = self.engine.with_root(&c.id, |root| match change {
            Change::Mkdir(path) => Ok(ensure_dir(root, Path::new(path), None)?.1),
            Change::Copy(step) => {
                self.copy(root, step, context)?;
                Ok(true)
            }
            Change::Run(_) => Err(EngineError::Build("RUN is not a write step".into())),
        })?;
        if !changed {
            // WORKDIR of a directory that exists: the config changes, the files do not.
            if let Some(h) = config.history.last_mut() {
                h.empty_layer = true;
            }
            return self
                .engine
                .commit_image_with_layer(&config, &base.layers, None, None, true);
        }
        let upper = self.engine.container_dir(&c.id).join("upper");
        let layer = self.engine.layer_of_upper(&upper, "a build step's layer")?;
        if let Some(h) = config.history.last_mut() {
            h.empty_layer = false;
        }
        self.engine
            .commit_layer(layer, config, &base.layers, None, true)
    }

    fn copy(&self, root: &OwnedFd, step: &CopyStep, context: Option<&SourceRoot>) -> Result<()> {
        let root_path = PathBuf::from(format!("/proc/self/fd/{}", root.as_raw_fd()));
        let owner = match &step.chown {
            Some(spec) => {
                let u = user::resolve(&root_path, spec)?;
                Some((u.uid, u.gid))
            }
            None => None,
        };
        match &step.from {
            CopyFrom::Context { sources } => {
                for s in sources {
                    self.place(root, step, context, s, owner, true)?;
                }
                Ok(())
            }
            CopyFrom::Image { id, patterns } => {
                let c = self.step_container(
                    id,
                    RunOptions {
                        cmd: vec!["/".into()],
                        entrypoint: Some(String::new()),
                        network: Some("none".into()),
                        ..Default::default()
                    },
                )?;
                self.engine.with_root(&c.id, |from| {
                    let from_root = SourceRoot::open(
                        Path::new(&format!("/proc/self/fd/{}", from.as_raw_fd())),
                        Resolve::InRoot,
                        Ignore::default(),
                    )
                    .map_err(|e| EngineError::Build(format!("COPY --from: {e}")))?;
                    let mut sources = Vec::new();
                    for p in patterns {
                        sources.extend(
                            from_root
                                .collect(p)
                                .map_err(|e| EngineError::Build(format!("COPY failed: {e}")))?,
                        );
                    }
                    if sources.len() > 1 && !step.dest.ends_with('/') {
                        return Err(EngineError::Build("When using COPY with more than one source file, the destination must be a directory and end with a /".into()));
                    }
                    // Files from an image keep their owners unless --chown says otherwise.
                    for s in &sources {
                        self.place(root, step, Some(&from_root), s, owner, false)?;
                    }
                    Ok(())
                })
            }
        }
    }

    /// Copies one source to the destination, as Docker decides where it goes: a directory's
    /// contents into `dest`; a file into `dest/` if `dest` ends with `/` or is a directory,
    /// else to `dest` itself. ADD extracts a local archive into `dest` instead, with the
    /// archive's owners. Context files (`from_context`) belong to root unless `owner` (--chown)
    /// says otherwise; files from an image keep their owners.
    fn place(
        &self,
        root: &OwnedFd,
        step: &CopyStep,
        from: Option<&SourceRoot>,
        s: &Source,
        chown: Option<(u32, u32)>,
        from_context: bool,
    ) -> Result<()> {
        let dest = Path::new(&step.dest);
        let dest_is_dir = step.dest.ends_with('/')
            || matches!(locate_kind(root, dest), Some(FileType::Directory));
        if step.extract_archives
            && !s.is_dir
            && let (Some(from), Some(top)) = (from, s.entries.first())
            && top.kind == EntryKind::File
            && is_archive(from, top)?
        {
            return self.extract(root, dest, from, top, chown);
        }
        let owner = match (chown, from_context) {
            (Some(o), _) => Some(o),
            (None, true) => Some((0, 0)),
            (None, false) => None,
        };
        let target = if s.is_dir {
            dest.to_path_buf()
        } else if dest_is_dir {
            dest.join(&s.name)
        } else {
            dest.to_path_buf()
        };
        for e in &s.entries {
            let path = if e.rel.as_os_str().is_empty() {
                target.clone()
            } else {
                target.join(&e.rel)
            };
            let (uid, gid) = owner.unwrap_or((e.uid, e.gid));
            let mode = match (step.chmod, &e.kind) {
                (_, EntryKind::Symlink(_)) => 0o777,
                (Some(m), _) => m,
                (None, _) => e.mode,
            };
            if e.kind == EntryKind::Dir {
                let (dir, created) = ensure_dir(root, &path, owner)?;
                // The destination directory keeps its metadata if it was there.
                if created || !e.rel.as_os_str().is_empty() {
                    rustix::fs::fchown(
                        &dir,
                        Some(rustix::process::Uid::from_raw(uid)),
                        Some(rustix::process::Gid::from_raw(gid)),
                    )
                    .map_err(os_error("chown", &path))?;
                    rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode))
                        .map_err(os_error("chmod", &path))?;
                }
                continue;
            }
            let parent_path = path.parent().unwrap_or(Path::new("/"));
            let name = path.file_name().ok_or_else(|| {
                EngineError::Build(format!("invalid destination {}", path.display()))
            })?;
            let (parent, _) = ensure_dir(root, parent_path, owner)?;
            write_entry(&parent, name, e, from, (uid, gid), mode, &path)?;
        }
        Ok(())
    }

    /// ADD of a local archive: unpacked by the layer extractor into a scratch directory, then
    /// copied into `dest` with the archive's owners (unless --chown).
    fn extract(
        &self,
        root: &OwnedFd,
        dest: &Path,
        from: &SourceRoot,
        top: &berth_build::Entry,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        let staging = self.engine.store.staging_dir()?;
        let file = from
            .open_file(top)
            .map_err(EngineError::io("read", &top.path))?;
        let report = berth_archive::apply_layer(
            std::io::BufReader::new(file),
            staging.path(),
            &self.engine.limits,
        )
        .map_err(|source| EngineError::Layer {
            layer: format!("ADD {}", top.path.display()),
            source,
        })?;
        let unpacked = SourceRoot::open(staging.path(), Resolve::InRoot, Ignore::default())
            .map_err(|e| EngineError::Build(e.to_string()))?;
        let mut sources = unpacked
            .collect(".")
            .map_err(|e| EngineError::Build(e.to_string()))?;
        // The archive's own `./` entry describes the destination directory, as in Docker.
        if let (Some((mode, uid, gid)), Some(top)) = (
            report.root,
            sources.first_mut().and_then(|s| s.entries.first_mut()),
        ) {
            (top.mode, top.uid, top.gid) = (mode, uid, gid);
        }
        let step = CopyStep {
            from: CopyFrom::Context {
                sources: Vec::new(),
            },
            dest: format!("{}/", dest.display()),
            chown: None,
            chmod: None,
            extract_archives: false,
        };
        for s in &sources {
            self.place(root, &step, Some(&unpacked), s, owner, false)?;
        }
        Ok(())
    }
}

impl StepRunner for Runner<'_> {
    fn base_image(&mut self, name: &str) -> Result<(Digest, ImageConfig), BuildError> {
        let image = self.engine.resolve_image(name).map_err(|e| match e {
            EngineError::NoSuchImage(_) => BuildError::Runner(format!(
                "image {name} is not in the local store: load or import it first (berth build uses local images only)"
            )),
            e => build_error(e),
        })?;
        let (_, config) = self.engine.image_config(&image).map_err(build_error)?;
        Ok((image.id, config))
    }

    fn cached(&mut self, key: &Digest) -> Option<(Digest, ImageConfig)> {
        let id = self.engine.store.build_step(key).ok()??;
        let image = self.engine.store.image(&id).ok()??;
        // A step image whose layers are gone cannot be built on.
        if !image
            .layers
            .iter()
            .all(|l| self.engine.store.has_layer_dir(&l.chain_id))
        {
            return None;
        }
        let (_, config) = self.engine.image_config(&image).ok()?;
        Some((id, config))
    }

    fn apply(
        &mut self,
        parent: &Image,
        change: Option<&Change>,
        context: Option<&SourceRoot>,
        config: ImageConfig,
        key: &Digest,
        out: &mut dyn Write,
    ) -> Result<(Digest, ImageConfig), BuildError> {
        let id = match change {
            None => {
                // A config-only step keeps the parent's layers (none under FROM scratch).
                let layers = match parent.id {
                    Some(_) => self.parent_record(parent).map_err(build_error)?.layers,
                    None => Vec::new(),
                };
                self.engine
                    .commit_image_with_layer(&config, &layers, None, None, true)
                    .map_err(build_error)?
            }
            Some(Change::Run(step)) => {
                if parent.id.is_none() {
                    return Err(BuildError::Runner(
                        "RUN in an empty image (FROM scratch): there is no command to run".into(),
                    ));
                }
                let base = self.parent_record(parent).map_err(build_error)?;
                self.run(&base, step, config, out)?
            }
            Some(change) => {
                let base = self.parent_record(parent).map_err(build_error)?;
                self.write_step(&base, change, context, config)
                    .map_err(build_error)?
            }
        };
        self.engine
            .store
            .record_build_step(key, &id)
            .map_err(build_error)?;
        let image = self
            .engine
            .store
            .image(&id)
            .map_err(build_error)?
            .ok_or_else(|| BuildError::Runner(format!("image {id} vanished")))?;
        let (_, config) = self.engine.image_config(&image).map_err(build_error)?;
        Ok((id, config))
    }
}

fn os_error(what: &'static str, path: &Path) -> impl FnOnce(Errno) -> EngineError + use<> {
    let path = path.to_path_buf();
    move |e| EngineError::io(what, path)(e.into())
}

/// What `path` is inside the root (symlinks followed inside it), if it exists.
fn locate_kind(root: &OwnedFd, path: &Path) -> Option<FileType> {
    let fd = super::confined::locate(root, path).ok()?;
    rustix::fs::fstat(&fd)
        .ok()
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

/// Opens directory `path` in the root, making it and its missing parents (mode 0755, owned by
/// `owner` or root). Says whether it was made.
fn ensure_dir(root: &OwnedFd, path: &Path, owner: Option<(u32, u32)>) -> Result<(OwnedFd, bool)> {
    let open = |p: &Path| {
        rustix::fs::openat2(
            root,
            if p.as_os_str().is_empty() {
                Path::new("/")
            } else {
                p
            },
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    match open(path) {
        Ok(fd) => return Ok((fd, false)),
        Err(Errno::NOENT) => {}
        Err(Errno::NOTDIR) => {
            return Err(EngineError::Build(format!(
                "cannot copy to {}: a file in the image is in the way",
                path.display()
            )));
        }
        Err(e) => return Err(os_error("open", path)(e)),
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(os_error("open", path)(Errno::NOENT));
    };
    let (parent_fd, _) = ensure_dir(root, parent, owner)?;
    match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(os_error("create directory", path)(e)),
    }
    let fd = rustix::fs::openat(
        &parent_fd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(os_error("open", path))?;
    // mkdir's mode is cut by the umask; Docker's directories are 0755 regardless.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(os_error("chmod", path))?;
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(
            &fd,
            Some(rustix::process::Uid::from_raw(uid)),
            Some(rustix::process::Gid::from_raw(gid)),
        )
        .map_err(os_error("chown", path))?;
    }
    Ok((fd, true))
}

/// Makes a file or symlink `name` in `parent` from entry `e`, replacing a file or symlink
/// there (never a directory).
fn write_entry(
    parent: &OwnedFd,
    name: &OsStr,
    e: &berth_build::Entry,
    from: Option<&SourceRoot>,
    (uid, gid): (u32, u32),
    mode: u32,
    shown: &Path,
) -> Result<()> {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            return Err(EngineError::Build(format!(
                "cannot replace directory {} with a file",
                shown.display()
            )));
        }
        Ok(_) => rustix::fs::unlinkat(parent, name, AtFlags::empty())
            .map_err(os_error("replace", shown))?,
        Err(_) => {}
    }
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: e.mtime.0,
            tv_nsec: e.mtime.1 as _,
        },
        last_modification: Timespec {
            tv_sec: e.mtime.0,
            tv_nsec: e.mtime.1 as _,
        },
    };
    let uid = Some(rustix::process::Uid::from_raw(uid));
    let gid = Some(rustix::process::Gid::from_raw(gid));
    match &e.kind {
        EntryKind::Symlink(target) => {
            rustix::fs::symlinkat(target, parent, name).map_err(os_error("create link", shown))?;
            rustix::fs::chownat(parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(os_error("chown", shown))?;
            let _ = rustix::fs::utimensat(parent, name, &times, AtFlags::SYMLINK_NOFOLLOW);
        }
        EntryKind::File | EntryKind::Data(_) => {
            let fd = rustix::fs::openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(os_error("create", shown))?;
            let mut to = std::fs::File::from(fd);
            match &e.kind {
                EntryKind::Data(d) => to.write_all(d).map_err(EngineError::io("write", shown))?,
                _ => {
                    let from = from.ok_or_else(|| {
                        EngineError::Build(format!("no source for {}", shown.display()))
                    })?;
                    let mut src = from
                        .open_file(e)
                        .map_err(EngineError::io("read", &e.path))?;
                    std::io::copy(&mut src, &mut to).map_err(EngineError::io("write", shown))?;
                }
            }
            rustix::fs::fchown(&to, uid, gid).map_err(os_error("chown", shown))?;
            // After chown, which clears setuid and setgid.
            rustix::fs::fchmod(&to, Mode::from_raw_mode(mode)).map_err(os_error("chmod", shown))?;
            if !matches!(e.kind, EntryKind::Data(_)) {
                rustix::fs::futimens(&to, &times).map_err(os_error("set times of", shown))?;
            }
        }
        EntryKind::Dir => unreachable!("directories are made by ensure_dir"),
    }
    Ok(())
}

/// Whether a file is an archive ADD unpacks (see [`berth_archive::Compression::is_archive`]).
fn is_archive(from: &SourceRoot, e: &berth_build::Entry) -> Result<bool> {
    let mut head = Vec::with_capacity(512);
    from.open_file(e)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(EngineError::io("read", &e.path))?;
    Ok(berth_archive::Compression::is_archive(&head))
}
