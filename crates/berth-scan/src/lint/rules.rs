//! The rules and the walk that applies them.

use berth_dockerfile::{Command, Dockerfile, Instruction, InstructionKind, Stage};

use super::shell::{self, Cmd, Script};
use super::{Config, ImageFacts, Level, Rule};

macro_rules! rules {
    ($($name:ident = $id:literal, $level:ident, $dl:expr, $ds:expr, $why:literal;)*) => {
        $(pub(super) const $name: Rule = Rule {
            id: $id,
            level: Level::$level,
            hadolint: $dl,
            trivy: $ds,
            rationale: $why,
        };)*
        /// Every rule, in id order.
        pub static RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    UNTAGGED = "DF001", Warning, Some("DL3006"), Some("DS001"), "Tag the FROM image: an untagged name means `latest`, which changes under you.";
    LATEST = "DF002", Warning, Some("DL3007"), Some("DS001"), "Pin FROM to a release tag, not `latest`, so rebuilds are reproducible.";
    LAST_USER_ROOT = "DF003", Warning, Some("DL3002"), Some("DS002"), "Do not leave the last USER as root: the container then runs as root.";
    APT_YES = "DF004", Warning, Some("DL3014"), None, "Use `apt-get install -y`: a build cannot answer prompts.";
    APT_RECOMMENDS = "DF005", Info, Some("DL3015"), Some("DS029"), "Use `--no-install-recommends`: recommended packages bloat the image and its attack surface.";
    APT_PIN = "DF006", Warning, Some("DL3008"), None, "Pin apt packages (`pkg=version`) so rebuilds install the same software.";
    APT_LISTS = "DF007", Info, Some("DL3009"), Some("DS025"), "Delete /var/lib/apt/lists after installing: the lists are dead weight in the layer.";
    APK_PIN = "DF008", Warning, Some("DL3018"), None, "Pin apk packages (`pkg=version`) so rebuilds install the same software.";
    APK_CACHE = "DF009", Info, Some("DL3019"), Some("DS025"), "Use `apk add --no-cache`: the index cache is dead weight in the layer.";
    PIP_PIN = "DF010", Warning, Some("DL3013"), None, "Pin pip packages (`pkg==version`) or install from a requirements file.";
    PIP_CACHE = "DF011", Warning, Some("DL3042"), None, "Use `pip install --no-cache-dir`: the wheel cache is dead weight in the layer.";
    DNF_YES = "DF012", Warning, Some("DL3038"), None, "Use `dnf install -y`: a build cannot answer prompts.";
    CD = "DF013", Warning, Some("DL3003"), None, "Use WORKDIR to change directory: a `cd` lasts one RUN and hides where files go.";
    WORKDIR_RELATIVE = "DF014", Error, Some("DL3000"), None, "Use an absolute WORKDIR: a relative one depends on every WORKDIR before it.";
    ADD_FILES = "DF015", Error, Some("DL3020"), Some("DS005"), "Use COPY for files and directories: ADD also fetches URLs and unpacks archives, which surprises.";
    ADD_URL = "DF016", Warning, None, Some("DS005"), "Do not ADD a URL: download with a checksum check in RUN (or COPY a vetted file), so the content is known.";
    MULTIPLE_CMD = "DF017", Warning, Some("DL4003"), Some("DS016"), "Only the last CMD takes effect: remove the others.";
    MULTIPLE_ENTRYPOINT = "DF018", Error, Some("DL4004"), None, "Only the last ENTRYPOINT takes effect: remove the others.";
    SHELL_FORM = "DF019", Warning, Some("DL3025"), None, "Use the JSON form of CMD and ENTRYPOINT: the shell form runs under `sh -c`, which swallows signals.";
    SUDO = "DF020", Error, Some("DL3004"), Some("DS010"), "Do not use sudo: build steps run as the USER already, and sudo has unpredictable TTY and signal behaviour.";
    PIPEFAIL = "DF021", Warning, Some("DL4006"), None, "Set `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before a RUN with a pipe, or a failing first command goes unnoticed.";
    COPY_FROM_SELF = "DF022", Error, Some("DL3023"), None, "COPY --from cannot name its own stage.";
    DUPLICATE_STAGE = "DF023", Error, Some("DL3024"), None, "Stage names must be unique.";
    BAD_PORT = "DF024", Error, Some("DL3011"), None, "EXPOSE ports must be between 0 and 65535.";
    MAINTAINER = "DF025", Error, Some("DL4000"), Some("DS022"), "MAINTAINER is deprecated: use `LABEL org.opencontainers.image.authors=…`.";
    APT = "DF026", Warning, Some("DL3027"), Some("DS027"), "Use apt-get or apt-cache, not apt, whose interface is not stable for scripts.";
    USERADD_LOG = "DF027", Warning, Some("DL3046"), None, "Use `useradd -l` with a large UID: without it the lastlog file grows sparse and huge.";
    CURL_AND_WGET = "DF028", Warning, Some("DL4001"), Some("DS014"), "Use either wget or curl, not both: one tool fewer in the image.";
    CHMOD_777 = "DF029", Warning, None, None, "Do not make files world-writable (chmod 777): any process in the container can change them.";
    CONSECUTIVE_RUN = "DF030", Info, Some("DL3059"), None, "Join consecutive RUN instructions: each one is a layer.";
    WGET_PROGRESS = "DF031", Info, Some("DL3047"), None, "Use `wget --progress=dot:giga` (or -q/-nv): the default progress bar floods the build log.";
    USER_NAME = "DF032", Info, Some("DL3066"), None, "Use a numeric USER: a name may not resolve on the host, which matters for files on volumes and for policy checks.";
    COPY_FROM_UNKNOWN = "DF033", Warning, Some("DL3022"), None, "COPY --from should name a stage defined above (or a pinned image).";
    COPY_RELATIVE = "DF034", Warning, Some("DL3045"), None, "Set WORKDIR before COPY to a relative destination, or the destination depends on the base image.";
    GO_PIN = "DF035", Warning, Some("DL3062"), None, "Pin `go install` packages (`pkg@version`).";
    COPY_WHOLE_STAGE = "DF036", Warning, Some("DL3067"), None, "Do not copy a whole filesystem from another stage: copy what the image needs.";
    DNF_PIN = "DF037", Warning, Some("DL3041"), None, "Pin dnf packages (`pkg-version`).";
    GEM_PIN = "DF038", Warning, Some("DL3028"), None, "Pin gems (`gem install pkg:version`).";
    PLATFORM_DEFAULT = "DF039", Warning, Some("DL3065"), None, "`FROM --platform=$TARGETPLATFORM` is the default: drop it.";
    YUM_CLEAN = "DF040", Warning, Some("DL3032"), None, "Run `yum clean all` after `yum install`: the cache is dead weight in the layer.";
    DNF_CLEAN = "DF041", Warning, Some("DL3040"), None, "Run `dnf clean all` after `dnf install`: the cache is dead weight in the layer.";
    SECRET = "DF100", Error, None, Some("DS031"), "Do not put secrets in ENV, ARG or LABEL: they stay in the image config and its history for anyone who pulls it.";
    CRITICAL_BASE = "DF101", Error, None, None, "The FROM image has critical vulnerabilities (from berth's stored scan): update the base image.";
    NO_HEALTHCHECK = "DF102", Info, None, Some("DS026"), "A service image (one that EXPOSEs a port) should have a HEALTHCHECK so the engine can tell it is serving.";
    BUILD_TOOL_LEFT = "DF103", Warning, None, None, "A compiler or build tool installed in the final stage of a multi-stage build: build in an earlier stage and copy the result.";
    UNTRUSTED_REGISTRY = "DF104", Error, None, None, "FROM names an image from a registry not in the configured trusted list.";
}

type Raw = (&'static Rule, usize, usize, String);

/// The script a RUN instruction runs, as the rules read it: the exec form's words joined
/// (`["sh", "-c", "a | b"]` runs a pipe too), the shell form's text, and for `RUN <<EOF` the
/// heredoc body.
fn run_script(i: &Instruction) -> Option<Script> {
    let InstructionKind::Run(run) = &i.kind else {
        return None;
    };
    Some(match &run.command {
        Command::Exec(words) => shell::parse(&words.join(" ")),
        Command::Shell(text) => match i.heredocs.as_slice() {
            [doc] if text.trim().starts_with("<<") && text.split_whitespace().count() == 1 => {
                shell::parse(&doc.content)
            }
            _ => shell::parse(text),
        },
    })
}

/// Commands named one of `names` (a path such as `/usr/bin/apt-get` counts too).
fn named<'a>(s: &'a Script, names: &'a [&str]) -> impl Iterator<Item = &'a Cmd> + 'a {
    s.commands.iter().filter(move |c| {
        let base = c.name.rsplit('/').next().unwrap_or(&c.name);
        names.contains(&base)
    })
}

/// Commands named one of `names` with one of `subs` among their arguments.
fn with_arg<'a>(s: &'a Script, names: &'a [&str], subs: &'a [&str]) -> Vec<&'a Cmd> {
    named(s, names)
        .filter(|c| c.args.iter().any(|a| subs.contains(&a.as_str())))
        .collect()
}

/// The operands of `c` other than `skip` words, with the values of the options in `valued`
/// (given as a separate word) left out.
fn operands<'a>(c: &'a Cmd, valued: &[&str], skip: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut args = c.args.iter().map(String::as_str);
    while let Some(a) = args.next() {
        if a.starts_with('-') && a != "-" && a != "--" {
            if !a.contains('=') && valued.contains(&a) {
                args.next();
            }
            continue;
        }
        if !skip.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// How many times the short flag `f` (one letter) or the long flag `long` is given.
fn count_flag(c: &Cmd, f: char, long: &str) -> usize {
    c.args
        .iter()
        .map(|a| {
            if let Some(l) = a.strip_prefix("--") {
                usize::from(l.split('=').next() == Some(long))
            } else if let Some(short) = a.strip_prefix('-') {
                short.chars().filter(|&ch| ch == f).count()
            } else {
                0
            }
        })
        .sum()
}

/// Whether SHELL sets pipefail (or names a shell without pipes to guard: PowerShell, cmd).
fn shell_is_safe(words: &[String]) -> bool {
    let text = words.join(" ");
    if ["pwsh", "powershell", "cmd"]
        .iter()
        .any(|p| text.to_ascii_lowercase().starts_with(p))
    {
        return true;
    }
    shell::parse(&text).commands.iter().any(|c| {
        let base = c.name.rsplit('/').next().unwrap_or(&c.name);
        matches!(base, "bash" | "zsh" | "ash")
            && count_flag(c, 'o', "o") > 0
            && c.args.iter().any(|a| a == "pipefail")
    })
}

fn has_tag(image: &str) -> bool {
    image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

fn tag_of(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next()?;
    last.split_once(':').map(|(_, t)| t)
}

/// The registry an image name points at, normalised as the engine normalises references.
fn registry_of(image: &str) -> String {
    berth_types::Reference::parse_normalized(image)
        .map_or_else(|_| "docker.io".into(), |r| r.domain().to_owned())
}

const BUILD_TOOLS: &[&str] = &[
    "gcc",
    "g++",
    "make",
    "build-essential",
    "build-base",
    "clang",
    "cmake",
    "golang",
    "golang-go",
    "rustc",
    "cargo",
    "maven",
    "gradle",
    "autoconf",
    "automake",
    "libtool",
];

const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar", ".Z", ".bz2", ".gz", ".lz", ".lzma", ".tZ", ".tb2", ".tbz", ".tbz2", ".tgz", ".tlz",
    ".tpz", ".txz", ".xz", ".zst",
];

const TRUTHY: &[&str] = &[
    "1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES",
];

/// What a stage passes on to stages built FROM it.
#[derive(Debug, Clone, Copy, Default)]
struct Inherited {
    workdir: bool,
    pip_no_cache: bool,
}

pub(super) fn check(df: &Dockerfile, config: &Config, images: &dyn ImageFacts) -> Vec<Raw> {
    let mut out: Vec<Raw> = Vec::new();
    let stages = df.stages();
    let last = stages.len().saturating_sub(1);
    // Stages other stages are built FROM.
    let bases: Vec<bool> = stages
        .iter()
        .map(|s| {
            s.from
                .stage_name
                .as_ref()
                .is_some_and(|n| stages.iter().any(|o| o.from.image.eq_ignore_ascii_case(n)))
        })
        .collect();
    let args: Vec<&str> = df
        .instructions
        .iter()
        .filter_map(|i| match &i.kind {
            InstructionKind::Arg(d) => Some(d.iter().map(|d| d.name.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    let mut inherited: Vec<(String, Inherited)> = Vec::new();
    let mut aliases: Vec<&str> = Vec::new();
    for (si, stage) in stages.iter().enumerate() {
        let from = stage.from_instruction;
        let (fl, fc) = at(from);
        let image = stage.from.image.as_str();
        let is_stage_ref = aliases.iter().any(|n| n.eq_ignore_ascii_case(image));
        if let Some(name) = &stage.from.stage_name {
            if aliases.contains(&name.as_str()) {
                out.push((
                    &DUPLICATE_STAGE,
                    fl,
                    fc,
                    format!("stage name {name:?} is used twice"),
                ));
            }
            aliases.push(name);
        }
        if !is_stage_ref && !image.eq_ignore_ascii_case("scratch") && !image.starts_with('$') {
            if !has_tag(image) {
                out.push((&UNTAGGED, fl, fc, format!("FROM {image} has no tag")));
            } else if tag_of(image) == Some("latest") {
                out.push((&LATEST, fl, fc, format!("FROM {image} uses latest")));
            }
        }
        if !is_stage_ref && !image.eq_ignore_ascii_case("scratch") && !image.contains('$') {
            if let Some(summary) = images.critical(image) {
                out.push((&CRITICAL_BASE, fl, fc, format!("FROM {image}: {summary}")));
            }
            if !config.trusted_registries.is_empty() {
                let registry = registry_of(image);
                if !config.trusted_registries.iter().any(|r| r == &registry) {
                    out.push((
                        &UNTRUSTED_REGISTRY,
                        fl,
                        fc,
                        format!("FROM {image}: registry {registry} is not trusted"),
                    ));
                }
            }
        }
        if let Some(p) = &stage.from.platform
            && matches!(p.as_str(), "$TARGETPLATFORM" | "${TARGETPLATFORM}")
        {
            out.push((
                &PLATFORM_DEFAULT,
                fl,
                fc,
                "FROM --platform=$TARGETPLATFORM".into(),
            ));
        }
        let key = stage
            .from
            .stage_name
            .clone()
            .unwrap_or_else(|| image_name(image));
        let start = inherited
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(&image_name(image)))
            .map(|(_, v)| *v)
            .unwrap_or_default();
        let ctx = StageCtx {
            index: si,
            stages: &stages,
            aliases: &aliases,
            args: &args,
            apt_lists_matter: si == last || bases[si],
        };
        let end = stage_rules(stage, &ctx, start, &mut out);
        inherited.push((key, end));
    }
    out
}

/// The image name without tag or digest (how stages are keyed for inheritance).
fn image_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name.to_owned(),
        _ => no_digest.to_owned(),
    }
}

fn at(i: &Instruction) -> (usize, usize) {
    (i.span.start.line, i.span.start.column.max(1))
}

struct StageCtx<'a> {
    index: usize,
    stages: &'a [Stage<'a>],
    /// Stage names defined up to and including this stage.
    aliases: &'a [&'a str],
    /// Every ARG name in the file.
    args: &'a [&'a str],
    /// The final stage, or one another stage is built FROM: its apt lists end up in an image.
    apt_lists_matter: bool,
}

fn stage_rules(
    stage: &Stage<'_>,
    ctx: &StageCtx<'_>,
    start: Inherited,
    out: &mut Vec<Raw>,
) -> Inherited {
    let mut state = start;
    let mut pipefail = false;
    let mut cmds = 0;
    let mut entrypoints = 0;
    let mut last_root_user: Option<(usize, usize, String)> = None;
    let mut exposes = false;
    let mut healthcheck = false;
    let mut curl_wget = (false, false);
    // The previous instruction, if a RUN: its flags and how many commands it has.
    let mut prev_run: Option<(Vec<berth_dockerfile::Flag>, usize)> = None;
    for i in stage.instructions {
        let (line, col) = at(i);
        let script = run_script(i);
        // Consecutive RUNs with the same flags, each a single command (more suggests the split
        // is deliberate), as Hadolint counts them.
        let this_run = script.as_ref().map(|s| (i.flags.clone(), s.commands.len()));
        if let (Some((flags, n)), Some((prev_flags, prev_n))) = (&this_run, &prev_run)
            && flags == prev_flags
            && *n <= 1
            && *prev_n <= 1
        {
            out.push((&CONSECUTIVE_RUN, line, col, "RUN follows RUN".into()));
        } else {
            prev_run = this_run;
        }
        if script.is_none() {
            prev_run = None;
        }
        match &i.kind {
            InstructionKind::Shell(words) => pipefail = shell_is_safe(words),
            InstructionKind::Workdir(dir) => {
                state.workdir = true;
                let d = dir.trim_matches(['"', '\'']);
                let windows = d.len() >= 2
                    && d.as_bytes()[0].is_ascii_alphabetic()
                    && d.as_bytes()[1] == b':';
                if !d.starts_with('/') && !d.starts_with('$') && !windows {
                    out.push((
                        &WORKDIR_RELATIVE,
                        line,
                        col,
                        format!("WORKDIR {d} is relative"),
                    ));
                }
            }
            InstructionKind::Cmd(c) => {
                cmds += 1;
                if cmds > 1 {
                    out.push((
                        &MULTIPLE_CMD,
                        line,
                        col,
                        "more than one CMD in the stage".into(),
                    ));
                }
                if matches!(c, Command::Shell(_)) {
                    out.push((&SHELL_FORM, line, col, "CMD in shell form".into()));
                }
            }
            InstructionKind::Entrypoint(c) => {
                entrypoints += 1;
                if entrypoints > 1 {
                    out.push((
                        &MULTIPLE_ENTRYPOINT,
                        line,
                        col,
                        "more than one ENTRYPOINT in the stage".into(),
                    ));
                }
                if matches!(c, Command::Shell(_)) {
                    out.push((&SHELL_FORM, line, col, "ENTRYPOINT in shell form".into()));
                }
            }
            InstructionKind::Healthcheck(h) => {
                healthcheck = true;
                if matches!(
                    h,
                    berth_dockerfile::Healthcheck::Cmd {
                        command: Command::Shell(_),
                        ..
                    }
                ) {
                    out.push((
                        &SHELL_FORM,
                        line,
                        col,
                        "HEALTHCHECK CMD in shell form".into(),
                    ));
                }
            }
            InstructionKind::User(u) => {
                let name = u.split(':').next().unwrap_or_default();
                if name == "root" || name == "0" {
                    last_root_user = Some((line, col, u.clone()));
                } else {
                    last_root_user = None;
                }
                let names_arg = ctx
                    .args
                    .iter()
                    .any(|a| u.contains(&format!("${a}")) || u.contains(&format!("${{{a}}}")));
                if !name.chars().all(|c| c.is_ascii_digit()) && !names_arg {
                    out.push((&USER_NAME, line, col, format!("USER {u} is not numeric")));
                }
            }
            InstructionKind::Maintainer(_) => {
                out.push((&MAINTAINER, line, col, "MAINTAINER is deprecated".into()));
            }
            InstructionKind::Expose(ports) => {
                exposes = true;
                for p in ports {
                    if p.contains('$') {
                        continue;
                    }
                    let num = p.split('/').next().unwrap_or_default();
                    let ok = num
                        .split('-')
                        .all(|n| n.parse::<u64>().is_ok_and(|v| v <= 65535));
                    if !ok {
                        out.push((
                            &BAD_PORT,
                            line,
                            col,
                            format!("EXPOSE {p} is not a valid port"),
                        ));
                    }
                }
            }
            InstructionKind::Env(kv) | InstructionKind::Label(kv) => {
                for pair in &kv.pairs {
                    if matches!(i.kind, InstructionKind::Env(_)) && pair.key == "PIP_NO_CACHE_DIR" {
                        state.pip_no_cache = TRUTHY.contains(&pair.value.trim_matches(['"', '\'']));
                    }
                    secret_check(&pair.key, &pair.value, i, out);
                }
            }
            InstructionKind::Arg(decls) => {
                for d in decls {
                    if let Some(v) = &d.default {
                        secret_check(&d.name, v, i, out);
                    }
                }
            }
            InstructionKind::Add(args) => {
                for s in &args.sources {
                    if s.starts_with("http://") || s.starts_with("https://") {
                        out.push((&ADD_URL, line, col, format!("ADD {s}")));
                    }
                }
                let fine = |s: &str| {
                    let s = s.trim_matches(['"', '\'']);
                    s.starts_with("http://")
                        || s.starts_with("https://")
                        || ARCHIVE_SUFFIXES.iter().any(|e| s.ends_with(e))
                };
                if !args.sources.iter().all(|s| fine(s)) {
                    out.push((&ADD_FILES, line, col, "ADD of files or directories".into()));
                }
            }
            InstructionKind::Copy(args) => copy_rules(stage, ctx, &state, args, line, col, out),
            InstructionKind::Run(_) => {
                let Some(script) = &script else { continue };
                if script.has_pipe && !pipefail {
                    out.push((
                        &PIPEFAIL,
                        line,
                        col,
                        "RUN with a pipe and no pipefail".into(),
                    ));
                }
                let raw_pip_env =
                    i.line
                        .split_once("PIP_NO_CACHE_DIR=")
                        .is_some_and(|(_, rest)| {
                            TRUTHY
                                .iter()
                                .any(|t| rest.trim_start_matches(['"', '\'']).starts_with(t))
                        });
                let pip_cache_mounted = cache_mount(i, &[".cache/pip"]);
                run_rules(
                    script,
                    line,
                    col,
                    state.pip_no_cache || raw_pip_env || pip_cache_mounted,
                    out,
                );
                if ctx.apt_lists_matter && apt_lists_left(script, i) {
                    out.push((&APT_LISTS, line, col, "apt lists are not deleted".into()));
                }
                let uses_curl = named(script, &["curl"]).next().is_some();
                let uses_wget = named(script, &["wget"]).next().is_some();
                curl_wget.0 |= uses_curl;
                curl_wget.1 |= uses_wget;
                if (uses_curl || uses_wget) && curl_wget.0 && curl_wget.1 {
                    out.push((
                        &CURL_AND_WGET,
                        line,
                        col,
                        "both curl and wget are used".into(),
                    ));
                }
                if ctx.index + 1 == ctx.stages.len() && ctx.stages.len() > 1 {
                    build_tools(script, line, col, out);
                }
            }
            _ => {}
        }
    }
    if let Some((line, col, u)) = last_root_user {
        out.push((&LAST_USER_ROOT, line, col, format!("the last USER is {u}")));
    }
    if ctx.index + 1 == ctx.stages.len() && exposes && !healthcheck {
        let (line, col) = at(stage.from_instruction);
        out.push((
            &NO_HEALTHCHECK,
            line,
            col,
            "the image EXPOSEs a port but has no HEALTHCHECK".into(),
        ));
    }
    state
}

fn copy_rules(
    stage: &Stage<'_>,
    ctx: &StageCtx<'_>,
    state: &Inherited,
    args: &berth_dockerfile::CopyArgs,
    line: usize,
    col: usize,
    out: &mut Vec<Raw>,
) {
    if let Some(from) = &args.from {
        let from = from.trim_matches(['"', '\'']);
        if stage
            .from
            .stage_name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(from))
        {
            out.push((
                &COPY_FROM_SELF,
                line,
                col,
                format!("COPY --from={from} names its own stage"),
            ));
        } else {
            let known = from.contains(':')
                || ctx.aliases.iter().any(|n| n.eq_ignore_ascii_case(from))
                || from.parse::<usize>().is_ok_and(|n| n <= ctx.index);
            if !known {
                out.push((
                    &COPY_FROM_UNKNOWN,
                    line,
                    col,
                    format!("COPY --from={from} names no stage above and no tagged image"),
                ));
            }
        }
        if args
            .sources
            .iter()
            .any(|s| s.trim_matches(['"', '\'']) == "/")
            && args.dest.trim_matches(['"', '\'']) == "/"
        {
            out.push((
                &COPY_WHOLE_STAGE,
                line,
                col,
                format!("COPY --from={from} / /"),
            ));
        }
    }
    let dest = args.dest.trim_matches(['"', '\'']);
    let windows =
        dest.len() >= 2 && dest.as_bytes()[0].is_ascii_alphabetic() && dest.as_bytes()[1] == b':';
    if !state.workdir && !dest.starts_with('/') && !dest.starts_with('$') && !windows {
        out.push((
            &COPY_RELATIVE,
            line,
            col,
            format!("COPY to {dest} with no WORKDIR set"),
        ));
    }
}

/// A RUN that updates the apt lists and leaves them in its layer.
fn apt_lists_left(script: &Script, i: &Instruction) -> bool {
    let updates = with_arg(script, &["apt-get", "apt", "aptitude"], &["update"]).len()
        + named(script, &["apt-get", "apt"])
            .filter(|c| c.subcommand_is(&["install"]) && c.has_flag(&["--update"]))
            .count();
    if updates == 0 {
        return false;
    }
    let cleans = named(script, &["rm"]).any(|c| {
        c.args
            .iter()
            .any(|a| a == "-rf" || a.starts_with("/var/lib/apt/lists"))
    }) || named(script, &["apt-get", "apt"]).any(|c| c.subcommand_is(&["dist-clean"]));
    !cleans && !cache_mount(i, &["/var/lib/apt"])
}

/// Whether a `RUN --mount=type=cache|tmpfs` targets a path containing one of `paths`: what is
/// written there stays out of the layer.
fn cache_mount(i: &Instruction, paths: &[&str]) -> bool {
    i.flags.iter().any(|f| {
        f.name == "mount"
            && f.value.as_deref().is_some_and(|v| {
                (v.contains("type=cache") || v.contains("type=tmpfs"))
                    && paths.iter().any(|p| v.contains(p))
            })
    })
}

fn build_tools(script: &Script, line: usize, col: usize, out: &mut Vec<Raw>) {
    let installs = with_arg(
        script,
        &["apt-get", "apt", "dnf", "yum", "microdnf"],
        &["install"],
    )
    .into_iter()
    .chain(with_arg(script, &["apk"], &["add"]));
    for c in installs {
        for p in operands(c, &["-o", "-t", "--virtual", "-X"], &["install", "add"]) {
            let name = p.split(['=', '~']).next().unwrap_or(p);
            if BUILD_TOOLS.contains(&name) {
                out.push((
                    &BUILD_TOOL_LEFT,
                    line,
                    col,
                    format!("{name} is installed in the final stage"),
                ));
            }
        }
    }
}

fn secret_check(key: &str, value: &str, i: &Instruction, out: &mut Vec<Raw>) {
    let (line, col) = at(i);
    let v = value.trim_matches(['"', '\'']);
    if crate::secrets::secret_name(key) && crate::secrets::real_value(v) {
        out.push((
            &SECRET,
            line,
            col,
            format!("{key} holds a literal secret value"),
        ));
    } else if let Some(title) = crate::secrets::token_in(v) {
        out.push((&SECRET, line, col, format!("{key} holds a {title}")));
    }
}

fn is_pip_install(c: &Cmd) -> bool {
    let base = c.name.rsplit('/').next().unwrap_or(&c.name);
    (base.starts_with("pip")
        && !base.starts_with("pipenv")
        && c.args.iter().any(|a| a == "install"))
        || (base.starts_with("python")
            && c.args
                .windows(3)
                .any(|w| w[0] == "-m" && w[1] == "pip" && w[2] == "install"))
}

const PIP_VALUED: &[&str] = &[
    "--abi",
    "-b",
    "--build",
    "-e",
    "--editable",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-i",
    "--index-url",
    "--implementation",
    "--no-binary",
    "--only-binary",
    "--platform",
    "--prefix",
    "--progress-bar",
    "--proxy",
    "--python",
    "--python-version",
    "--root",
    "--root-user-action",
    "--src",
    "-t",
    "--target",
    "--trusted-host",
    "--upgrade-strategy",
];

fn pip_pinned(p: &str) -> bool {
    const VCS: &[&str] = &["git+", "git", "hg+", "svn", "bzr+"];
    ["==", ">=", "<=", ">", "<", "!=", "~=", "==="]
        .iter()
        .any(|op| p.contains(op))
        || (VCS.iter().any(|v| p.starts_with(v)) && p.contains('@'))
        || p.ends_with(".whl")
        || p.ends_with(".tar.gz")
        || (!VCS.iter().any(|v| p.starts_with(v)) && p.contains('/'))
}

fn dnf_pinned(p: &str) -> bool {
    let parts: Vec<&str> = p.split('-').collect();
    if parts.len() <= 1 {
        return false;
    }
    if p.ends_with(".rpm") || p.contains('$') {
        return true;
    }
    parts[1..].iter().all(|part| {
        part.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".~^_:+".contains(c))
    }) && parts[1..]
        .iter()
        .any(|part| part.starts_with(|c: char| c.is_ascii_digit()))
}

fn run_rules(script: &Script, line: usize, col: usize, pip_no_cache: bool, out: &mut Vec<Raw>) {
    let mut push = |r: &'static Rule, msg: String| out.push((r, line, col, msg));
    let apt = with_arg(script, &["apt-get"], &["install"]);
    if apt.iter().any(|c| {
        !(c.has_flag(&["-y", "--yes", "--assume-yes", "-qq"])
            || count_flag(c, 'q', "quiet") == 2
            || c.args.iter().any(|a| a == "-q=2"))
    }) {
        push(&APT_YES, "apt-get install without -y".into());
    }
    if apt.iter().any(|c| {
        !c.has_flag(&["--no-install-recommends"])
            && !c.args.iter().any(|a| a == "APT::Install-Recommends=false")
    }) {
        push(
            &APT_RECOMMENDS,
            "apt-get install without --no-install-recommends".into(),
        );
    }
    let unpinned: Vec<&str> = apt
        .iter()
        .flat_map(|c| operands(c, &["-t", "--target-release", "-o"], &["install"]))
        .filter(|p| !p.contains('=') && !p.contains('/') && !p.ends_with(".deb"))
        .collect();
    if !unpinned.is_empty() {
        push(&APT_PIN, format!("unpinned: {}", unpinned.join(" ")));
    }
    if named(script, &["apt"]).next().is_some() {
        push(&APT, "apt used in a script".into());
    }
    let apk = with_arg(script, &["apk"], &["add"]);
    let unpinned: Vec<&str> = apk
        .iter()
        .flat_map(|c| operands(c, &["-t", "--virtual", "--repository", "-X"], &["add"]))
        .filter(|p| !p.contains(['=', '~', '>', '<']) && !p.ends_with(".apk"))
        .collect();
    if !unpinned.is_empty() {
        push(&APK_PIN, format!("unpinned: {}", unpinned.join(" ")));
    }
    if apk.iter().any(|c| !c.has_flag(&["--no-cache"])) {
        push(&APK_CACHE, "apk add without --no-cache".into());
    }
    let pips: Vec<&Cmd> = script
        .commands
        .iter()
        .filter(|c| is_pip_install(c))
        .collect();
    let pip_unpinned: Vec<&str> = pips
        .iter()
        .filter(|c| {
            !c.args
                .iter()
                .any(|a| a == "--requirement" || a == "-r" || a == ".")
                && !c.has_flag(&["-c", "--constraint"])
        })
        .flat_map(|c| {
            let ops = operands(c, PIP_VALUED, &[]);
            let from = ops
                .iter()
                .position(|o| *o == "install")
                .map_or(0, |p| p + 1);
            ops[from..].to_vec()
        })
        .filter(|p| *p != "install" && !pip_pinned(p))
        .collect();
    if !pip_unpinned.is_empty() {
        push(&PIP_PIN, format!("unpinned: {}", pip_unpinned.join(" ")));
    }
    if !pip_no_cache
        && pips
            .iter()
            .any(|c| !c.args.iter().any(|a| a == "--no-cache-dir") && !c.name.contains("pipx"))
    {
        push(&PIP_CACHE, "pip install without --no-cache-dir".into());
    }
    let dnf = with_arg(
        script,
        &["dnf", "microdnf"],
        &["install", "groupinstall", "localinstall"],
    );
    if dnf.iter().any(|c| !c.has_flag(&["-y", "--assumeyes"])) {
        push(&DNF_YES, "dnf install without -y".into());
    }
    let dnf_unpinned: Vec<&str> = with_arg(script, &["dnf", "microdnf"], &["install"])
        .into_iter()
        .filter(|c| !c.args.iter().any(|a| a == "module" || a == "group"))
        .flat_map(|c| operands(c, &[], &["install"]))
        .filter(|p| !dnf_pinned(p))
        .collect();
    if !dnf_unpinned.is_empty() {
        push(&DNF_PIN, format!("unpinned: {}", dnf_unpinned.join(" ")));
    }
    let installs_before_clean = |tools: &[&str]| {
        let install = script.commands.iter().position(|c| {
            tools.contains(&c.name.as_str())
                && c.args.iter().any(|a| {
                    [
                        "install",
                        "in",
                        "upgrade",
                        "up",
                        "upgrade-minimal",
                        "reinstall",
                    ]
                    .contains(&a.as_str())
                })
        });
        let clean = script.commands.iter().position(|c| {
            (tools.contains(&c.name.as_str()) && c.args.iter().any(|a| a == "clean"))
                || (c.name == "rm"
                    && c.args
                        .iter()
                        .any(|a| a == "-rf" || a.starts_with("/var/cache/")))
        });
        matches!((install, clean), (Some(_), None))
            || matches!((install, clean), (Some(i), Some(c)) if c < i)
    };
    if installs_before_clean(&["dnf"]) || installs_before_clean(&["microdnf"]) {
        push(&DNF_CLEAN, "dnf install without dnf clean all".into());
    }
    if installs_before_clean(&["yum"]) {
        push(&YUM_CLEAN, "yum install without yum clean all".into());
    }
    for c in with_arg(script, &["gem"], &["install", "i"]) {
        if c.args
            .iter()
            .any(|a| a == "-v" || a == "--version" || a.starts_with("--version="))
        {
            continue;
        }
        let mut gems = Vec::new();
        let mut args = c.args.iter().take_while(|a| *a != "--");
        while let Some(a) = args.next() {
            if a.starts_with('-') {
                args.next();
            } else if a != "install" && a != "i" {
                gems.push(a.as_str());
            }
        }
        let unpinned: Vec<&str> = gems.into_iter().filter(|g| !g.contains(':')).collect();
        if !unpinned.is_empty() {
            push(&GEM_PIN, format!("unpinned: {}", unpinned.join(" ")));
        }
    }
    let go_pinned = |p: &str| {
        p == "."
            || p.starts_with('/')
            || p.starts_with('.')
            || (p.contains('@') && !p.ends_with("@latest") && !p.ends_with("@none"))
    };
    let go_runs = with_arg(script, &["go"], &["run"]);
    let go_unpinned: Vec<&str> = if go_runs.is_empty() {
        with_arg(script, &["go"], &["install", "get"])
            .into_iter()
            .flat_map(|c| operands(c, &[], &["install", "get", "tool"]))
            .filter(|p| !go_pinned(p))
            .collect()
    } else {
        go_runs
            .into_iter()
            .flat_map(|c| {
                operands(c, &[], &[])
                    .into_iter()
                    .take(2)
                    .filter(|p| *p != "run")
            })
            .filter(|p| !go_pinned(p))
            .collect()
    };
    if !go_unpinned.is_empty() {
        push(&GO_PIN, format!("unpinned: {}", go_unpinned.join(" ")));
    }
    if named(script, &["cd"]).next().is_some() {
        push(&CD, "cd in RUN".into());
    }
    if named(script, &["sudo"]).next().is_some() {
        push(&SUDO, "sudo in RUN".into());
    }
    if named(script, &["wget"]).any(|c| {
        !(c.has_flag(&[
            "--progress",
            "-q",
            "--quiet",
            "-o",
            "--output-file",
            "-a",
            "--append-output",
            "--no-verbose",
            "-nv",
        ]))
    }) {
        push(&WGET_PROGRESS, "wget without --progress".into());
    }
    for c in named(script, &["useradd"]) {
        let long_uid = c.args.windows(2).any(|w| {
            w[0].starts_with('-') && !w[0].starts_with("--") && w[0].contains('u') && w[1].len() > 5
        });
        if long_uid && !c.has_flag(&["-l", "--no-log-init"]) {
            push(&USERADD_LOG, "useradd with a large UID and no -l".into());
        }
    }
    if named(script, &["chmod"]).any(|c| {
        c.args
            .iter()
            .any(|a| matches!(a.as_str(), "777" | "0777" | "a+rwx" | "ugo+rwx"))
    }) {
        push(&CHMOD_777, "chmod 777".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_registries() {
        assert!(has_tag("debian:12"));
        assert!(has_tag("localhost:5000/app:1"));
        assert!(!has_tag("localhost:5000/app"));
        assert!(has_tag("alpine@sha256:abc"));
        assert_eq!(tag_of("x/y:latest"), Some("latest"));
        assert_eq!(registry_of("debian"), "docker.io");
        assert_eq!(registry_of("quay.io/x/y"), "quay.io");
        assert_eq!(registry_of("library/debian"), "docker.io");
    }
}
