//! The syntax tree: a [`Dockerfile`] is its parser directives and a list of [`Instruction`]s,
//! each with its span, its text and a typed [`InstructionKind`].
//!
//! Values are kept as written (quotes and `$VAR` references included) wherever Docker expands
//! variables later: the builder passes them through [`crate::substitute`], which also removes
//! the quotes, exactly as Docker's shell lexer does.

use serde::Serialize;

use crate::error::Span;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// The file name given to [`crate::parse`], used in error messages.
    pub name: String,
    /// The parser directives found at the top (`# syntax=…`, `# escape=…`, `# check=…`).
    pub directives: Vec<Directive>,
    /// The escape character: `\` unless `# escape=` set it to `` ` ``. Pass it to
    /// [`crate::substitute`].
    pub escape: char,
    /// Every instruction, in file order. [`Dockerfile::global_args`] and
    /// [`Dockerfile::stages`] group them.
    pub instructions: Vec<Instruction>,
    /// Things Docker accepts with a warning (empty continuation lines) and the one place
    /// berth is more lenient than Docker (JSON arrays spread over lines without continuation
    /// characters). A linter should report these.
    pub warnings: Vec<Warning>,
}

impl Dockerfile {
    /// The value of the `# syntax=` directive, if there is one.
    pub fn syntax(&self) -> Option<&str> {
        self.directive("syntax")
    }

    /// The value of the named parser directive (names are lower case).
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }

    /// The ARG instructions before the first FROM (the parser allows nothing else there).
    pub fn global_args(&self) -> &[Instruction] {
        let first_from = self
            .instructions
            .iter()
            .position(|i| matches!(i.kind, InstructionKind::From(_)))
            .unwrap_or(self.instructions.len());
        &self.instructions[..first_from]
    }

    /// The build stages: each FROM with the instructions that follow it up to the next FROM.
    pub fn stages(&self) -> Vec<Stage<'_>> {
        let mut stages = Vec::new();
        let mut rest = &self.instructions[self.global_args().len()..];
        while let Some((from, tail)) = rest.split_first() {
            let end = tail
                .iter()
                .position(|i| matches!(i.kind, InstructionKind::From(_)))
                .unwrap_or(tail.len());
            if let InstructionKind::From(base) = &from.kind {
                stages.push(Stage {
                    from: base,
                    from_instruction: from,
                    instructions: &tail[..end],
                });
            }
            rest = &tail[end..];
        }
        stages
    }
}

/// One build stage, borrowed from a [`Dockerfile`].
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
    /// The stage's FROM.
    pub from: &'a From,
    /// The FROM instruction itself (span, text).
    pub from_instruction: &'a Instruction,
    /// The instructions after FROM, up to the next FROM.
    pub instructions: &'a [Instruction],
}

/// A parser directive: `# name=value` in the first lines of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// The directive's name, lower-cased: `syntax`, `escape` or `check`.
    pub name: String,
    /// Its value, trimmed.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// Something Docker accepts but warns about, or berth accepts where Docker would not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Where.
    pub span: Span,
    /// What.
    pub message: String,
}

/// One instruction, with ONBUILD's trigger nested inside [`InstructionKind::Onbuild`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// From the keyword to the end of the last line (heredoc terminators included).
    pub span: Span,
    /// The keyword as written (`run`, `Run`, `RUN`); the kind says which instruction it is.
    pub keyword: String,
    /// The source text of every line the instruction covers, verbatim: continuation
    /// characters, comment lines inside it and heredoc bodies included.
    pub original: String,
    /// The logical line Docker works on: continuation lines joined with the escape character
    /// and line ending removed, comment and empty lines inside dropped, heredoc bodies not
    /// included.
    pub line: String,
    /// The `--name=value` flags between the keyword and the arguments, as parsed (quotes
    /// removed, no variables expanded). The typed kinds interpret the ones Docker knows; the
    /// builder should refuse what it does not support (for example RUN `--security=insecure`).
    pub flags: Vec<Flag>,
    /// The instruction and its arguments.
    pub kind: InstructionKind,
    /// Heredoc bodies (`<<EOF`) of RUN, COPY and ADD, in the order they appear on the line.
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    /// The value of the last `--name` flag (`Some("")` for `--name` with no `=`).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.as_deref().unwrap_or(""))
    }

    /// Whether Docker expands `$VAR` in this instruction's arguments before running it: ADD,
    /// ARG, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR do (ARG
    /// expands its default values, as BuildKit does). RUN, CMD, ENTRYPOINT, SHELL and
    /// HEALTHCHECK leave that to the shell (RUN's `--mount` values are expanded, though). An
    /// ONBUILD trigger is expanded when it runs in the child build, so this is `false` for
    /// ONBUILD itself; ask the trigger.
    pub fn expands_variables(&self) -> bool {
        matches!(
            self.kind,
            InstructionKind::Add(_)
                | InstructionKind::Arg(_)
                | InstructionKind::Copy(_)
                | InstructionKind::Env(_)
                | InstructionKind::Expose(_)
                | InstructionKind::From(_)
                | InstructionKind::Label(_)
                | InstructionKind::Stopsignal(_)
                | InstructionKind::User(_)
                | InstructionKind::Volume(_)
                | InstructionKind::Workdir(_)
        )
    }
}

/// A `--name=value` flag. `--link` has no value; `--link=` has an empty one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// The name without the leading `--`.
    pub name: String,
    /// What followed `=`, if anything did.
    pub value: Option<String>,
}

/// A heredoc body attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, unquoted (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The file descriptor written before `<<` (`3<<EOF`), if any.
    pub file_descriptor: Option<u32>,
    /// `false` when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): the body is used as is.
    /// `true` means the builder expands variables in the body (for COPY/ADD; for RUN the
    /// shell does).
    pub expand: bool,
    /// `<<-EOF`: leading tabs were removed from every body line and from the terminator.
    pub chomp: bool,
    /// The body: every line between the instruction and the terminator, each ending in `\n`
    /// (line endings kept as in the file otherwise), leading tabs removed when `chomp`.
    pub content: String,
    /// From the first body line to the terminator line.
    pub span: Span,
}

/// A command in exec (JSON array) form or shell form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Command {
    /// `["executable", "arg"]`: run without a shell.
    Exec(Vec<String>),
    /// `executable arg`: run with the stage's SHELL (default `/bin/sh -c`), text as written.
    Shell(String),
}

/// Every Dockerfile instruction, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum InstructionKind {
    /// `ADD [flags] <src>... <dest>`.
    Add(CopyArgs),
    /// `ARG name[=default] ...`.
    Arg(Vec<ArgDecl>),
    /// `CMD` in exec or shell form.
    Cmd(Command),
    /// `COPY [flags] <src>... <dest>`.
    Copy(CopyArgs),
    /// `ENTRYPOINT` in exec or shell form.
    Entrypoint(Command),
    /// `ENV k=v ...` or the legacy `ENV k v`.
    Env(KeyValues),
    /// `EXPOSE port[/proto] ...`: the words as written; see [`crate::parse_port`].
    Expose(Vec<String>),
    /// `FROM [--platform=…] image [AS name]`.
    From(From),
    /// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD …`.
    Healthcheck(Healthcheck),
    /// `LABEL k=v ...` or the legacy `LABEL k v`.
    Label(KeyValues),
    /// `MAINTAINER name` (deprecated; the text as written).
    Maintainer(String),
    /// `ONBUILD <instruction>`: the trigger, parsed. Never ONBUILD, FROM or MAINTAINER.
    Onbuild(Box<Instruction>),
    /// `RUN [flags] command`.
    Run(Run),
    /// `SHELL ["executable", "parameters"]` (JSON form only, as Docker requires).
    Shell(Vec<String>),
    /// `STOPSIGNAL signal` (the text as written).
    Stopsignal(String),
    /// `USER user[:group]` (the text as written).
    User(String),
    /// `VOLUME path ...` or `VOLUME ["path", ...]`.
    Volume(Paths),
    /// `WORKDIR path` (the text as written).
    Workdir(String),
}

/// FROM's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct From {
    /// The image reference as written (may contain `$VAR`), or a previous stage's name.
    pub image: String,
    /// The `AS name` stage name, lower-cased as Docker does.
    pub stage_name: Option<String>,
    /// `--platform=` as written: `os[/arch[/variant]]` or containing `$VAR`.
    pub platform: Option<String>,
}

/// RUN's arguments. The raw flags are on [`Instruction::flags`]; these are the ones Docker
/// defines, not validated: the builder refuses what it does not support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// The command. With heredocs, the shell form text still contains the `<<EOF` words.
    pub command: Command,
    /// Each `--mount=` value, as written.
    pub mounts: Vec<String>,
    /// `--network=` (Docker knows `default`, `none` and `host`).
    pub network: Option<String>,
    /// `--security=` (Docker knows `sandbox` and `insecure`).
    pub security: Option<String>,
}

/// COPY's and ADD's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyArgs {
    /// The sources as written (a heredoc source is its `<<EOF` word; the body is in
    /// [`Instruction::heredocs`]).
    pub sources: Vec<String>,
    /// The destination as written.
    pub dest: String,
    /// Whether the JSON form was used (then no heredocs, and paths may contain spaces).
    pub json: bool,
    /// `--from=` (a stage name, stage index or image).
    pub from: Option<String>,
    /// `--chown=`.
    pub chown: Option<String>,
    /// `--chmod=`.
    pub chmod: Option<String>,
    /// `--link` (`--link=false` is false).
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// Every `--exclude=` pattern.
    pub exclude: Vec<String>,
}

/// Key/value pairs of ENV or LABEL. Keys and values are raw: quotes are removed by
/// [`crate::substitute`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValues {
    /// The pairs, in order.
    pub pairs: Vec<KeyValue>,
    /// The legacy `ENV key value` form was used: one pair, whose value is the rest of the
    /// line, spaces included.
    pub legacy: bool,
}

/// One `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The key, as written.
    pub key: String,
    /// The value, as written (quotes included).
    pub value: String,
}

/// One name declared by ARG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default, as written (quotes included), when `name=default` was given.
    pub default: Option<String>,
}

/// VOLUME's paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paths {
    /// The paths as written.
    pub paths: Vec<String>,
    /// Whether the JSON form was used.
    pub json: bool,
}

/// HEALTHCHECK's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [options] CMD command`. Durations are as written (Go durations such as
    /// `30s`, `1m30s`); the builder parses them.
    Cmd {
        /// The check command.
        command: Command,
        /// `--interval=`.
        interval: Option<String>,
        /// `--timeout=`.
        timeout: Option<String>,
        /// `--start-period=`.
        start_period: Option<String>,
        /// `--start-interval=`.
        start_interval: Option<String>,
        /// `--retries=`, checked to be a non-negative integer.
        retries: Option<u32>,
    },
}

/// A port from EXPOSE, after substitution: a number or a range, and a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    /// The first port (1–65535).
    pub start: u16,
    /// The last port: equal to `start` unless a range `8000-8010` was given.
    pub end: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// A port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// `/tcp`, the default.
    Tcp,
    /// `/udp`.
    Udp,
    /// `/sctp`.
    Sctp,
}
