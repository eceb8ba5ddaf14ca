//! The build driver: stages, steps, configs, history and cache keys.

use std::collections::BTreeMap;
use std::io::Write;

use berth_dockerfile::{
    ArgScope, Command, CopyArgs, Dockerfile, Healthcheck, Instruction, InstructionKind, KeyValues,
    Protocol, SubstError, parse_port, substitute,
};
use berth_types::Digest;
use berth_types::image::{ContainerConfig, History, ImageConfig, RootFs};
use sha2::{Digest as _, Sha256};

use crate::duration::parse_go_duration;
use crate::plan::{self, PlanError, StageRefs};
use crate::sources::{Entry, EntryKind, Source, SourceError, SourceRoot, content_hash};

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An image a step starts from or makes. `id` is `None` only for `FROM scratch` before any
/// step: an empty root.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: Option<Digest>,
    pub config: ImageConfig,
}

/// RUN's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A network namespace with loopback only: the default.
    None,
    /// The host's network (`RUN --network=host`).
    Host,
}

/// A command to run in a container made from the parent image.
#[derive(Debug, Clone)]
pub struct RunStep {
    /// The full command line (SHELL already applied to the shell form).
    pub argv: Vec<String>,
    /// The build arguments the command sees, `KEY=VALUE`, on top of the image's Env.
    pub env: Vec<String>,
    pub network: Network,
    /// The command as Docker prints it in errors.
    pub display: String,
}

/// Where COPY's files come from.
#[derive(Debug)]
pub enum CopyFrom {
    /// The build context (and heredocs), already resolved.
    Context { sources: Vec<Source> },
    /// Another image's root (`--from=stage|image`): the runner resolves the patterns there.
    Image { id: Digest, patterns: Vec<String> },
}

/// COPY or ADD.
#[derive(Debug)]
pub struct CopyStep {
    pub from: CopyFrom,
    /// Absolute, after substitution and WORKDIR; a trailing `/` kept (it means a directory).
    pub dest: String,
    /// `--chown`, resolved by the runner against the image's `/etc/passwd` and `/etc/group`.
    pub chown: Option<String>,
    /// `--chmod`, octal.
    pub chmod: Option<u32>,
    /// ADD: a local tar archive (plain, gzip or zstd) is extracted at the destination.
    pub extract_archives: bool,
}

/// What a step does to the filesystem.
#[derive(Debug)]
pub enum Change {
    Run(RunStep),
    Copy(CopyStep),
    /// WORKDIR: make the directory (and its parents) if missing.
    Mkdir(String),
}

/// What the engine does for the builder.
pub trait StepRunner {
    /// Finds a FROM image (or a `COPY --from` image) in the local store.
    fn base_image(&mut self, name: &str) -> Result<(Digest, ImageConfig), BuildError>;
    /// The image a cache key was recorded for, if it is still there.
    fn cached(&mut self, key: &Digest) -> Option<(Digest, ImageConfig)>;
    /// Makes the step's image: applies `change` (if any) on top of `parent` and stores an
    /// image with `config` (plus the new layer's DiffID, and `empty_layer` set in the last
    /// history entry if the change turned out to change nothing), recorded under `key`.
    fn apply(
        &mut self,
        parent: &Image,
        change: Option<&Change>,
        context: Option<&SourceRoot>,
        config: ImageConfig,
        key: &Digest,
        out: &mut dyn Write,
    ) -> Result<(Digest, ImageConfig), BuildError>;
}

/// `berth build`'s options that reach the builder.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--label`: set on the final image, over the Dockerfile's.
    pub labels: BTreeMap<String, String>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{at}: {message}")]
    Instruction { at: String, message: String },
    #[error("{at}: {source}")]
    Substitution { at: String, source: SubstError },
    #[error("{at}: COPY failed: {source}")]
    Source { at: String, source: SourceError },
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error("{0}")]
    Runner(String),
}

impl BuildError {
    /// An engine failure, in words.
    pub fn runner(e: impl std::fmt::Display) -> Self {
        Self::Runner(e.to_string())
    }
}

/// The platform berth builds for, as `os/arch`.
pub fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

/// Builds `df` and returns the final image's ID. Progress goes to `out` in `docker build`'s
/// classic format.
pub fn build(
    runner: &mut dyn StepRunner,
    df: &Dockerfile,
    context: Option<&SourceRoot>,
    opts: &BuildOptions,
    out: &mut dyn Write,
) -> Result<Digest, BuildError> {
    let (os, arch) = platform();
    let mut globals = ArgScope::new(opts.build_args.clone())
        .with_automatic("TARGETPLATFORM", &format!("{os}/{arch}"))
        .with_automatic("TARGETOS", os)
        .with_automatic("TARGETARCH", arch)
        .with_automatic("BUILDPLATFORM", &format!("{os}/{arch}"))
        .with_automatic("BUILDOS", os)
        .with_automatic("BUILDARCH", arch);
    for arg in df.global_args() {
        globals
            .apply(arg, df.escape)
            .map_err(|source| subst_error(df, arg, source))?;
    }
    let stages = df.stages();
    let mut refs = Vec::with_capacity(stages.len());
    for stage in &stages {
        let base = substitute(&stage.from.image, &|n| globals.lookup_global(n), df.escape)
            .map_err(|source| subst_error(df, stage.from_instruction, source))?;
        let mut copy_from = Vec::new();
        for i in stage.instructions {
            if let InstructionKind::Copy(c) | InstructionKind::Add(c) = &i.kind
                && let Some(from) = &c.from
            {
                copy_from.push(
                    substitute(from, &|n| globals.lookup_global(n), df.escape)
                        .map_err(|source| subst_error(df, i, source))?,
                );
            }
        }
        refs.push(StageRefs {
            name: stage.from.stage_name.clone(),
            base,
            copy_from,
        });
    }
    let order = plan::order(&refs, opts.target.as_deref())?;
    let total: usize = order
        .iter()
        .map(|&i| 1 + stages[i].instructions.len())
        .sum();
    let mut b = Builder {
        runner,
        df,
        context,
        opts,
        out,
        refs: &refs,
        built: vec![None; stages.len()],
        step: 0,
        total,
    };
    let mut last = None;
    for &i in &order {
        let image = b.stage(i, &stages[i], &globals)?;
        b.built[i] = Some(image.clone());
        last = Some(image);
    }
    let mut image = last.ok_or(PlanError::NoStages)?;
    if !opts.labels.is_empty() {
        let mut config = image.config.clone();
        let labels = container(&mut config)
            .labels
            .get_or_insert_with(BTreeMap::new);
        labels.extend(opts.labels.clone());
        let text = opts
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        image = b.commit(&image, config, nop(&format!(" LABEL {text}")), None, &[])?;
    }
    if image.id.is_none() {
        // `FROM scratch` and nothing that made a step: an empty image.
        let config = image.config.clone();
        image = b.commit(&image, config, nop(" FROM scratch"), None, &[])?;
    }
    let mut unused: Vec<&str> = opts
        .build_args
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !berth_dockerfile::PROXY_ARGS.contains(k)
                && !df.instructions.iter().any(|i| declares(i, k))
        })
        .collect();
    unused.sort();
    if !unused.is_empty() {
        let _ = writeln!(
            b.out,
            "[Warning] One or more build-args [{}] were not consumed",
            unused.join(" ")
        );
    }
    image
        .id
        .ok_or_else(|| BuildError::Runner("the build made no image".into()))
}

fn declares(i: &Instruction, name: &str) -> bool {
    matches!(&i.kind, InstructionKind::Arg(decls) if decls.iter().any(|d| d.name == name))
}

fn at(df: &Dockerfile, i: &Instruction) -> String {
    format!("{}:{}", df.name, i.span.start.line)
}

fn subst_error(df: &Dockerfile, i: &Instruction, source: SubstError) -> BuildError {
    BuildError::Substitution {
        at: at(df, i),
        source,
    }
}

fn container(config: &mut ImageConfig) -> &mut ContainerConfig {
    config.config.get_or_insert_with(ContainerConfig::default)
}

/// Docker's history text for a step that runs nothing: `/bin/sh -c #(nop) ` and the comment.
fn nop(comment: &str) -> String {
    format!("/bin/sh -c #(nop) {comment}")
}

/// Go's `%q` of a string slice, as Docker writes CMD and ENTRYPOINT in history.
fn go_quoted(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| serde_json::to_string(w).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(" "))
}

struct Builder<'a> {
    runner: &'a mut dyn StepRunner,
    df: &'a Dockerfile,
    context: Option<&'a SourceRoot>,
    opts: &'a BuildOptions,
    out: &'a mut dyn Write,
    refs: &'a [StageRefs],
    built: Vec<Option<Image>>,
    step: usize,
    total: usize,
}

/// A stage's state between steps.
struct StageState {
    image: Image,
    scope: ArgScope,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

impl Builder<'_> {
    fn say(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }

    fn stage(
        &mut self,
        index: usize,
        stage: &berth_dockerfile::Stage<'_>,
        globals: &ArgScope,
    ) -> Result<Image, BuildError> {
        let from = stage.from_instruction;
        self.step += 1;
        let line = format!("Step {}/{} : {}", self.step, self.total, from.line);
        self.say(&line);
        let mut scope = globals.clone();
        scope.enter_stage();
        if let Some(p) = &stage.from.platform {
            let p = substitute(p, &|n| globals.lookup_global(n), self.df.escape)
                .map_err(|source| subst_error(self.df, from, source))?;
            let (os, arch) = platform();
            let wanted = format!("{os}/{arch}");
            if p != wanted && p != os && !p.starts_with(&format!("{wanted}/")) {
                return Err(BuildError::Instruction {
                    at: at(self.df, from),
                    message: format!(
                        "FROM --platform={p}: berth builds for {wanted} only and does not emulate other platforms"
                    ),
                });
            }
        }
        let base = self.refs[index].base.clone();
        let image = if let Some(j) = plan::stage_ref(self.refs, &base, index, false) {
            self.built[j]
                .clone()
                .ok_or_else(|| BuildError::Runner(format!("stage {base} was not built")))?
        } else if base.eq_ignore_ascii_case("scratch") {
            let (os, arch) = platform();
            Image {
                id: None,
                config: ImageConfig {
                    architecture: arch.into(),
                    os: os.into(),
                    config: Some(ContainerConfig {
                        env: Some(vec![DEFAULT_PATH.into()]),
                        ..Default::default()
                    }),
                    rootfs: RootFs {
                        kind: "layers".into(),
                        diff_ids: Vec::new(),
                    },
                    ..Default::default()
                },
            }
        } else {
            let (id, config) = self.runner.base_image(&base).map_err(|e| match e {
                BuildError::Runner(m) => BuildError::Instruction {
                    at: at(self.df, from),
                    message: m,
                },
                e => e,
            })?;
            Image {
                id: Some(id),
                config,
            }
        };
        self.show_current(&image);
        let mut image = image;
        let env = container(&mut image.config)
            .env
            .get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            // As Docker and Buildah do: a base image without PATH gets the default one.
            env.insert(0, DEFAULT_PATH.into());
        }
        let mut st = StageState {
            image,
            scope,
            cmd_set: false,
        };
        let triggers = st
            .image
            .config
            .config
            .as_ref()
            .and_then(|c| c.on_build.clone())
            .unwrap_or_default();
        if !triggers.is_empty() {
            let line = format!(
                " ---> Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            );
            self.say(&line);
            // A child build runs its parent's triggers and does not inherit them.
            container(&mut st.image.config).on_build = None;
            for trigger in &triggers {
                let parsed = berth_dockerfile::parse("ONBUILD trigger", trigger).map_err(|e| {
                    BuildError::Instruction {
                        at: at(self.df, from),
                        message: format!("invalid ONBUILD trigger {trigger:?}: {e}"),
                    }
                })?;
                for i in &parsed.instructions {
                    if matches!(
                        i.kind,
                        InstructionKind::From(_)
                            | InstructionKind::Onbuild(_)
                            | InstructionKind::Maintainer(_)
                    ) {
                        return Err(BuildError::Instruction {
                            at: at(self.df, from),
                            message: format!("{} isn't allowed as an ONBUILD trigger", i.keyword),
                        });
                    }
                    self.instruction(&mut st, i)?;
                }
            }
        }
        for i in stage.instructions {
            self.step += 1;
            let line = format!("Step {}/{} : {}", self.step, self.total, i.line);
            self.say(&line);
            self.instruction(&mut st, i)?;
        }
        Ok(st.image)
    }

    /// Expands `word` with the stage's ENV (which wins) and ARGs.
    fn expand(&self, st: &StageState, i: &Instruction, word: &str) -> Result<String, BuildError> {
        let env = st
            .image
            .config
            .config
            .as_ref()
            .and_then(|c| c.env.clone())
            .unwrap_or_default();
        let lookup = |name: &str| {
            env.iter()
                .rev()
                .find_map(|e| {
                    e.split_once('=')
                        .filter(|(k, _)| *k == name)
                        .map(|(_, v)| v.to_owned())
                })
                .or_else(|| st.scope.lookup(name))
        };
        substitute(word, &lookup, self.df.escape).map_err(|source| subst_error(self.df, i, source))
    }

    fn refuse(&self, i: &Instruction, message: impl Into<String>) -> BuildError {
        BuildError::Instruction {
            at: at(self.df, i),
            message: message.into(),
        }
    }

    fn check_flags(&self, i: &Instruction, allowed: &[&str]) -> Result<(), BuildError> {
        match i.flags.iter().find(|f| !allowed.contains(&f.name.as_str())) {
            Some(f) => Err(self.refuse(
                i,
                format!(
                    "{} --{} is not supported by berth build",
                    i.keyword.to_uppercase(),
                    f.name
                ),
            )),
            None => Ok(()),
        }
    }

    fn shell(&self, st: &StageState) -> Vec<String> {
        st.image
            .config
            .config
            .as_ref()
            .and_then(|c| c.shell.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    fn command(&self, st: &StageState, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(words) => words.clone(),
            Command::Shell(text) => {
                let mut argv = self.shell(st);
                argv.push(text.clone());
                argv
            }
        }
    }

    fn instruction(&mut self, st: &mut StageState, i: &Instruction) -> Result<(), BuildError> {
        let mut config = st.image.config.clone();
        let created_by;
        let mut change = None;
        let mut key_extra: Vec<u8> = Vec::new();
        match &i.kind {
            InstructionKind::From(_) => return Err(self.refuse(i, "FROM inside a stage")),
            InstructionKind::Arg(_) => {
                st.scope
                    .apply(i, self.df.escape)
                    .map_err(|source| subst_error(self.df, i, source))?;
                self.show_current(&st.image);
                return Ok(());
            }
            InstructionKind::Env(kv) => {
                let pairs = self.pairs(st, i, kv)?;
                let env = container(&mut config).env.get_or_insert_with(Vec::new);
                for (k, v) in &pairs {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                    env.push(format!("{k}={v}"));
                }
                created_by = nop(&format!(" ENV {}", join_pairs(&pairs)));
            }
            InstructionKind::Label(kv) => {
                let pairs = self.pairs(st, i, kv)?;
                let labels = container(&mut config)
                    .labels
                    .get_or_insert_with(BTreeMap::new);
                for (k, v) in &pairs {
                    labels.insert(k.clone(), v.clone());
                }
                created_by = nop(&format!(" LABEL {}", join_pairs(&pairs)));
            }
            InstructionKind::Maintainer(name) => {
                config.author = Some(name.clone());
                created_by = nop(&format!(" MAINTAINER {name}"));
            }
            InstructionKind::Expose(words) => {
                let mut ports = Vec::new();
                for w in words {
                    let w = self.expand(st, i, w)?;
                    for word in w.split_whitespace() {
                        let spec = parse_port(word).map_err(|m| self.refuse(i, m))?;
                        let proto = match spec.protocol {
                            Protocol::Tcp => "tcp",
                            Protocol::Udp => "udp",
                            Protocol::Sctp => "sctp",
                        };
                        for p in spec.start..=spec.end {
                            ports.push(format!("{p}/{proto}"));
                        }
                    }
                }
                let exposed = container(&mut config)
                    .exposed_ports
                    .get_or_insert_with(BTreeMap::new);
                for p in &ports {
                    exposed.insert(p.clone(), serde_json::json!({}));
                }
                created_by = nop(&format!(" EXPOSE {}", ports.join(" ")));
            }
            InstructionKind::Volume(paths) => {
                let mut vols = Vec::new();
                for p in &paths.paths {
                    let p = self.expand(st, i, p)?;
                    if p.trim().is_empty() {
                        return Err(self.refuse(i, "VOLUME specified can not be an empty string"));
                    }
                    vols.push(p);
                }
                let volumes = container(&mut config)
                    .volumes
                    .get_or_insert_with(BTreeMap::new);
                for v in &vols {
                    volumes.insert(v.clone(), serde_json::json!({}));
                }
                created_by = nop(&format!(" VOLUME [{}]", vols.join(" ")));
            }
            InstructionKind::User(user) => {
                let user = self.expand(st, i, user)?;
                if user.is_empty() {
                    return Err(self.refuse(i, "USER requires exactly one argument"));
                }
                container(&mut config).user = Some(user.clone());
                created_by = nop(&format!(" USER {user}"));
            }
            InstructionKind::Workdir(dir) => {
                let dir = self.expand(st, i, dir)?;
                let current = config
                    .config
                    .as_ref()
                    .and_then(|c| c.working_dir.clone())
                    .unwrap_or_else(|| "/".into());
                let path = absolute(&current, &dir);
                container(&mut config).working_dir = Some(path.clone());
                created_by = nop(&format!("WORKDIR {path}"));
                change = Some(Change::Mkdir(path));
            }
            InstructionKind::Stopsignal(sig) => {
                let sig = self.expand(st, i, sig)?;
                container(&mut config).stop_signal = Some(sig.clone());
                created_by = nop(&format!(" STOPSIGNAL {sig}"));
            }
            InstructionKind::Shell(words) => {
                container(&mut config).shell = Some(words.clone());
                created_by = nop(&format!(" SHELL {}", go_quoted(words)));
            }
            InstructionKind::Cmd(c) => {
                let argv = self.command(st, c);
                container(&mut config).cmd = Some(argv.clone());
                st.cmd_set = true;
                created_by = nop(&format!(" CMD {}", go_quoted(&argv)));
            }
            InstructionKind::Entrypoint(c) => {
                let argv = self.command(st, c);
                let cc = container(&mut config);
                cc.entrypoint = Some(argv.clone());
                // An ENTRYPOINT drops the CMD inherited from the base image, as in Docker.
                if !st.cmd_set {
                    cc.cmd = None;
                }
                created_by = nop(&format!(" ENTRYPOINT {}", go_quoted(&argv)));
            }
            InstructionKind::Healthcheck(h) => {
                let value = self.healthcheck(i, h)?;
                let text = i.line.split_once(char::is_whitespace).map_or("", |x| x.1);
                container(&mut config).healthcheck = Some(value);
                created_by = nop(&format!(" HEALTHCHECK {}", text.trim()));
            }
            InstructionKind::Onbuild(trigger) => {
                let text = trigger.line.clone();
                container(&mut config)
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(text.clone());
                created_by = nop(&format!(" ONBUILD {text}"));
            }
            InstructionKind::Run(run) => {
                self.check_flags(i, &["mount", "network", "security"])?;
                if !run.mounts.is_empty() {
                    return Err(self.refuse(i, "RUN --mount is not supported by berth build"));
                }
                let network = match run.network.as_deref() {
                    None | Some("none") | Some("default") => Network::None,
                    Some("host") => Network::Host,
                    Some(other) => {
                        return Err(self.refuse(
                            i,
                            format!("RUN --network={other}: unknown network; use none or host"),
                        ));
                    }
                };
                if let Some(s) = run.security.as_deref()
                    && s != "sandbox"
                {
                    return Err(self.refuse(
                        i,
                        format!(
                            "RUN --security={s} is not supported: build steps always run confined"
                        ),
                    ));
                }
                let argv = match (&run.command, i.heredocs.as_slice()) {
                    (Command::Shell(text), [doc])
                        if text.trim().starts_with("<<")
                            && text.split_whitespace().count() == 1 =>
                    {
                        let mut argv = self.shell(st);
                        argv.push(doc.content.clone());
                        argv
                    }
                    (Command::Shell(text), docs) if !docs.is_empty() => {
                        // The shell reads the heredocs itself.
                        let mut script = text.clone();
                        for d in docs {
                            script.push('\n');
                            script.push_str(&d.content);
                            script.push_str(&d.name);
                        }
                        let mut argv = self.shell(st);
                        argv.push(script);
                        argv
                    }
                    (c, _) => self.command(st, c),
                };
                let image_env: Vec<String> = config
                    .config
                    .as_ref()
                    .and_then(|c| c.env.clone())
                    .unwrap_or_default();
                let env: Vec<String> = st
                    .scope
                    .run_environment()
                    .into_iter()
                    .filter(|(k, _)| {
                        !image_env
                            .iter()
                            .any(|e| e.split_once('=').is_some_and(|(ek, _)| ek == k))
                    })
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let display = argv.join(" ");
                created_by = if env.is_empty() {
                    display.clone()
                } else {
                    format!("|{} {} {display}", env.len(), env.join(" "))
                };
                key_extra.extend_from_slice(format!("network={network:?}").as_bytes());
                change = Some(Change::Run(RunStep {
                    argv,
                    env,
                    network,
                    display,
                }));
            }
            InstructionKind::Copy(args) | InstructionKind::Add(args) => {
                let add = matches!(i.kind, InstructionKind::Add(_));
                let (step, by, extra) = self.copy(st, i, args, add)?;
                created_by = by;
                key_extra = extra;
                change = Some(Change::Copy(step));
            }
        }
        let image = st.image.clone();
        st.image = self.commit(&image, config, created_by, change.as_ref(), &key_extra)?;
        Ok(())
    }

    /// ` ---> ID` for a step that made no image of its own.
    fn show_current(&mut self, image: &Image) {
        if let Some(id) = &image.id {
            let line = format!(" ---> {}", short(id));
            self.say(&line);
        }
    }

    /// Finds the step in the cache or has the runner make it, with `config` plus the step's
    /// history entry.
    fn commit(
        &mut self,
        parent: &Image,
        mut config: ImageConfig,
        created_by: String,
        change: Option<&Change>,
        key_extra: &[u8],
    ) -> Result<Image, BuildError> {
        config.created = Some(now());
        config.history.push(History {
            created: config.created.clone(),
            created_by: Some(created_by.clone()),
            empty_layer: change.is_none(),
            ..Default::default()
        });
        let mut h = Sha256::new();
        h.update(b"berth build cache v2\0");
        h.update(parent.id.map(|d| d.to_string()).unwrap_or_default());
        h.update([0]);
        h.update(created_by.as_bytes());
        h.update([0]);
        h.update(key_extra);
        let key = Digest::from_bytes(h.finalize().into());
        if !self.opts.no_cache
            && let Some((id, config)) = self.runner.cached(&key)
        {
            self.say(" ---> CACHED");
            self.say(&format!(" ---> {}", short(&id)));
            return Ok(Image {
                id: Some(id),
                config,
            });
        }
        let (id, config) =
            self.runner
                .apply(parent, change, self.context, config, &key, &mut *self.out)?;
        self.say(&format!(" ---> {}", short(&id)));
        Ok(Image {
            id: Some(id),
            config,
        })
    }

    fn pairs(
        &self,
        st: &StageState,
        i: &Instruction,
        kv: &KeyValues,
    ) -> Result<Vec<(String, String)>, BuildError> {
        kv.pairs
            .iter()
            .map(|p| {
                let key = self.expand(st, i, &p.key)?;
                if key.is_empty() {
                    return Err(self.refuse(i, "a name can not be blank"));
                }
                Ok((key, self.expand(st, i, &p.value)?))
            })
            .collect()
    }

    fn healthcheck(
        &self,
        i: &Instruction,
        h: &Healthcheck,
    ) -> Result<serde_json::Value, BuildError> {
        let Healthcheck::Cmd {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } = h
        else {
            return Ok(serde_json::json!({ "Test": ["NONE"] }));
        };
        let test: Vec<String> = match command {
            Command::Exec(words) => std::iter::once("CMD".to_owned())
                .chain(words.iter().cloned())
                .collect(),
            Command::Shell(text) => vec!["CMD-SHELL".into(), text.clone()],
        };
        let mut value = serde_json::json!({ "Test": test });
        for (name, field) in [
            ("Interval", interval),
            ("Timeout", timeout),
            ("StartPeriod", start_period),
            ("StartInterval", start_interval),
        ] {
            if let Some(text) = field {
                let ns = parse_go_duration(text).ok_or_else(|| {
                    self.refuse(i, format!("HEALTHCHECK: invalid duration {text:?}"))
                })?;
                value[name] = ns.into();
            }
        }
        if let Some(r) = retries {
            value["Retries"] = (*r).into();
        }
        Ok(value)
    }

    fn copy(
        &mut self,
        st: &StageState,
        i: &Instruction,
        args: &CopyArgs,
        add: bool,
    ) -> Result<(CopyStep, String, Vec<u8>), BuildError> {
        let name = if add { "ADD" } else { "COPY" };
        let allowed: &[&str] = if add {
            &["chown", "chmod", "link", "checksum", "keep-git-dir"]
        } else {
            &["from", "chown", "chmod", "link"]
        };
        self.check_flags(i, allowed)?;
        if i.flag("checksum").is_some() || i.flag("keep-git-dir").is_some() {
            return Err(self.refuse(i, format!("{name} --checksum and --keep-git-dir are for remote sources, which berth build does not fetch")));
        }
        let chown = args
            .chown
            .as_deref()
            .map(|c| self.expand(st, i, c))
            .transpose()?;
        let chmod = match &args.chmod {
            Some(c) => {
                let c = self.expand(st, i, c)?;
                Some(
                    u32::from_str_radix(&c, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| {
                            self.refuse(
                                i,
                                format!("{name} --chmod={c}: only an octal mode is supported"),
                            )
                        })?,
                )
            }
            None => None,
        };
        let raw_dest = self.expand(st, i, &args.dest)?;
        let workdir = st
            .image
            .config
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .unwrap_or_else(|| "/".into());
        let mut dest = absolute(&workdir, &raw_dest);
        if (raw_dest.ends_with('/') || raw_dest == "." || raw_dest.ends_with("/."))
            && !dest.ends_with('/')
        {
            dest.push('/');
        }
        let mut srcs = Vec::new();
        for s in &args.sources {
            srcs.push(if s.starts_with("<<") {
                s.clone()
            } else {
                self.expand(st, i, s)?
            });
        }
        let mut key = Vec::new();
        key.extend_from_slice(format!("chown={chown:?} chmod={chmod:?}\0").as_bytes());
        let hash;
        let from = if let Some(from) = &args.from {
            let from = self.expand(st, i, from)?;
            let id = match plan::stage_ref(self.refs, &from, self.refs.len(), true) {
                Some(j) => self.built[j]
                    .as_ref()
                    .and_then(|img| img.id)
                    .ok_or_else(|| {
                        self.refuse(i, format!("COPY --from={from}: that stage has no files"))
                    })?,
                None => {
                    self.runner
                        .base_image(&from)
                        .map_err(|e| self.refuse(i, format!("COPY --from={from}: {e}")))?
                        .0
                }
            };
            key.extend_from_slice(id.to_string().as_bytes());
            for s in &srcs {
                key.extend_from_slice(s.as_bytes());
                key.push(0);
            }
            hash = Digest::of(&key).hex();
            CopyFrom::Image {
                id,
                patterns: srcs.clone(),
            }
        } else {
            let mut sources = Vec::new();
            for s in &srcs {
                if let Some(doc_name) = s.strip_prefix("<<") {
                    let doc_name = doc_name
                        .trim_start_matches('-')
                        .trim_matches(|c| c == '"' || c == '\'');
                    let doc = i
                        .heredocs
                        .iter()
                        .find(|d| d.name == doc_name)
                        .ok_or_else(|| self.refuse(i, format!("no heredoc named {doc_name}")))?;
                    let content = if doc.expand {
                        self.expand_heredoc(st, i, &doc.content)?
                    } else {
                        doc.content.clone()
                    };
                    sources.push(inline_source(doc_name, content.into_bytes()));
                    continue;
                }
                if add && is_remote(s) {
                    return Err(self.refuse(i, format!("ADD {s}: berth build works offline and does not download remote sources; fetch the file into the build context and ADD it from there")));
                }
                let root = self.context.ok_or_else(|| {
                    self.refuse(i, format!("{name} {s}: there is no build context (the Dockerfile came from standard input)"))
                })?;
                sources.extend(root.collect(s).map_err(|source| BuildError::Source {
                    at: at(self.df, i),
                    source,
                })?);
            }
            let digest =
                content_hash(self.context, &sources).map_err(|source| BuildError::Source {
                    at: at(self.df, i),
                    source,
                })?;
            key.extend_from_slice(digest.to_string().as_bytes());
            hash = digest.hex();
            let many = sources.len() > 1;
            if many && !dest.ends_with('/') {
                return Err(self.refuse(i, format!("When using {name} with more than one source file, the destination must be a directory and end with a /")));
            }
            let kind = match sources.as_slice() {
                [one] if one.is_dir => "dir",
                [_] => "file",
                _ => "multi",
            };
            let created_by = nop(&format!("{name} {kind}:{hash} in {dest} "));
            return Ok((
                CopyStep {
                    from: CopyFrom::Context { sources },
                    dest,
                    chown,
                    chmod,
                    extract_archives: add,
                },
                created_by,
                key,
            ));
        };
        let created_by = nop(&format!("{name} dir:{hash} in {dest} "));
        Ok((
            CopyStep {
                from,
                dest,
                chown,
                chmod,
                extract_archives: add,
            },
            created_by,
            key,
        ))
    }

    fn expand_heredoc(
        &self,
        st: &StageState,
        i: &Instruction,
        text: &str,
    ) -> Result<String, BuildError> {
        // As in a shell heredoc, only `$` references expand (and an escaped `$` stays a `$`):
        // quotes and every other escape character are literal, so they are escaped for the
        // word lexer first.
        let esc = self.df.escape;
        let mut quoted = String::with_capacity(text.len() + 16);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == esc && chars.peek() == Some(&'$') {
                quoted.push(c);
                continue;
            }
            if c == esc || c == '\'' || c == '"' {
                quoted.push(esc);
            }
            quoted.push(c);
        }
        self.expand(st, i, &quoted)
    }
}

fn is_remote(src: &str) -> bool {
    src.starts_with("http://")
        || src.starts_with("https://")
        || src.starts_with("git@")
        || src.starts_with("git://")
}

fn inline_source(name: &str, data: Vec<u8>) -> Source {
    Source {
        name: name.into(),
        is_dir: false,
        entries: vec![Entry {
            rel: Default::default(),
            path: Default::default(),
            size: data.len() as u64,
            kind: EntryKind::Data(data),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: (0, 0),
        }],
    }
}

fn join_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `path` made absolute against `base` and cleaned (Docker's WORKDIR and COPY destinations).
fn absolute(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut out: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    format!("/{}", out.join("/"))
}

fn short(id: &Digest) -> String {
    id.hex()[..12].to_owned()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_against_workdir() {
        assert_eq!(absolute("/", "app"), "/app");
        assert_eq!(absolute("/srv", "a/../b/./c"), "/srv/b/c");
        assert_eq!(absolute("/srv", "/abs/"), "/abs");
        assert_eq!(absolute("/srv", "../../.."), "/");
    }

    #[test]
    fn history_quoting_follows_docker() {
        assert_eq!(
            go_quoted(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
    }
}
