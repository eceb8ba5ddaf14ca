//! The parser: directives, logical lines (continuations, comments), heredoc bodies, and the
//! typed arguments of each instruction.

use crate::ast::{
    ArgDecl, Command, CopyArgs, Directive, Dockerfile, Flag, From, Healthcheck, Heredoc,
    Instruction, InstructionKind, KeyValue, KeyValues, Paths, Run, Warning,
};
use crate::error::{ParseError, Position, Span};
use crate::words::{
    MaybeJson, extract_flags, heredoc_markers, maybe_json, parse_words, split_keyword, split_plain,
    trim_continuation,
};

/// Every instruction keyword Docker knows, lower case.
const KEYWORDS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Whether `word` is an instruction keyword (case-insensitive).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Instructions whose arguments may be a JSON array.
const JSON_CAPABLE: [&str; 7] = ["add", "cmd", "copy", "entrypoint", "run", "shell", "volume"];

/// How many lines a JSON array may spread over without continuation characters.
const MAX_JSON_LINES: usize = 200;

/// Parses a Dockerfile. `name` is used in error messages only.
///
/// Follows Docker's (BuildKit's) parser: parser directives at the top, continuation lines,
/// comment and empty lines inside continued instructions dropped, heredocs, exec and shell
/// forms. Refuses what Docker refuses when it reads the file: unknown instructions, unknown
/// flags (except on RUN, whose flags are kept for the builder to judge), wrong argument
/// counts, instructions other than ARG before the first FROM, and a file with no
/// instructions.
///
/// One leniency: a JSON array spread over several lines without continuation characters
/// (`ENTRYPOINT [` then `"a",` … `]`) is accepted, with a [`Warning`], where Docker fails on
/// the second line as an unknown instruction.
pub fn parse(name: &str, text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Parser {
        file: name,
        lines: text.split('\n').collect(),
        escape: '\\',
        warnings: Vec::new(),
    }
    .run()
}

/// [`parse`] for raw bytes: invalid UTF-8 is replaced with U+FFFD first.
pub fn parse_bytes(name: &str, bytes: &[u8]) -> Result<Dockerfile, ParseError> {
    parse(name, &String::from_utf8_lossy(bytes))
}

/// A line without its line ending (Docker trims every trailing `\r` and `\n`).
fn content(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Number of characters in `text`.
fn width(text: &str) -> usize {
    text.chars().count()
}

/// A `# name=value` parser directive Docker knows (`syntax`, `escape`, `check`).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_len..].trim_start().strip_prefix('=')?.trim();
    let name = name.to_ascii_lowercase();
    (!value.is_empty() && matches!(name.as_str(), "syntax" | "escape" | "check"))
        .then(|| (name, value.to_string()))
}

/// An error found in an instruction's arguments, before it is given a location.
struct Problem {
    message: String,
    /// Text to point at on the instruction's first line; the keyword if absent or not found.
    token: Option<String>,
}

fn problem(message: impl Into<String>) -> Problem {
    Problem {
        message: message.into(),
        token: None,
    }
}

fn problem_at(message: impl Into<String>, token: &str) -> Problem {
    Problem {
        message: message.into(),
        token: Some(token.to_string()),
    }
}

struct Parser<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    escape: char,
    warnings: Vec<Warning>,
}

impl Parser<'_> {
    fn error(
        &self,
        line: usize,
        column: usize,
        width: usize,
        message: impl Into<String>,
    ) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            column,
            width,
            message: message.into(),
            source_line: self
                .lines
                .get(line.wrapping_sub(1))
                .map(|l| content(l).to_string())
                .unwrap_or_default(),
        }
    }

    fn line_end(&self, line: usize) -> Position {
        Position {
            line,
            column: width(content(self.lines[line - 1])) + 1,
        }
    }

    fn run(mut self) -> Result<Dockerfile, ParseError> {
        let mut directives: Vec<Directive> = Vec::new();
        let mut i = 0;
        while let Some((name, value)) = self.lines.get(i).and_then(|l| directive(content(l))) {
            let line_width = width(content(self.lines[i]));
            if directives.iter().any(|d| d.name == name) {
                let message = format!("only one {name} parser directive can be used");
                return Err(self.error(i + 1, 1, line_width, message));
            }
            if name == "escape" {
                self.escape = match value.as_str() {
                    "`" => '`',
                    "\\" => '\\',
                    _ => {
                        let message =
                            format!("invalid escape token '{value}' does not match ` or \\");
                        return Err(self.error(i + 1, 1, line_width, message));
                    }
                };
            }
            directives.push(Directive {
                name,
                value,
                line: i + 1,
            });
            i += 1;
        }

        let mut instructions = Vec::new();
        while i < self.lines.len() {
            let first = content(self.lines[i]);
            let trimmed = first.trim_start();
            let start_line = i + 1;
            i += 1;
            if trimmed.starts_with('#') {
                continue;
            }
            let (text, continues) = trim_continuation(trimmed, self.escape);
            let mut done = !continues;
            if done && text.is_empty() {
                continue;
            }
            let mut logical = text.to_string();
            let mut empty_continuation = false;
            while !done && i < self.lines.len() {
                let raw = content(self.lines[i]);
                i += 1;
                let lead = raw.trim_start();
                if lead.starts_with('#') {
                    continue;
                }
                if lead.is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (text, continues) = trim_continuation(raw, self.escape);
                logical.push_str(text);
                done = !continues;
            }
            if logical.trim().is_empty() {
                continue;
            }
            let start = Position {
                line: start_line,
                column: width(first) - width(trimmed) + 1,
            };
            if empty_continuation {
                self.warnings.push(Warning {
                    span: Span {
                        start,
                        end: self.line_end(i),
                    },
                    message: "empty continuation line; Docker warns that these will become errors"
                        .to_string(),
                });
            }
            i = self.multiline_json(&mut logical, start, i);

            let keyword = split_keyword(logical.trim()).0;
            let mut instruction = build(&logical, self.escape).map_err(|p| {
                let token = p.token.as_deref().unwrap_or(keyword);
                let (column, token_width) = match first.find(token) {
                    Some(offset) if !token.is_empty() => {
                        (width(&first[..offset]) + 1, width(token))
                    }
                    _ => (start.column, width(keyword)),
                };
                self.error(start_line, column, token_width, p.message)
            })?;

            let mut heredocs = Vec::new();
            if heredoc_capable(&instruction.kind) && logical.contains("<<") {
                for marker in heredoc_markers(&logical) {
                    let body_start = i + 1;
                    let mut body = String::new();
                    let mut terminated = false;
                    while i < self.lines.len() {
                        let raw = self.lines[i];
                        i += 1;
                        let candidate = if marker.chomp {
                            content(raw).trim_start_matches('\t')
                        } else {
                            content(raw)
                        };
                        if candidate == marker.name {
                            terminated = true;
                            break;
                        }
                        body.push_str(if marker.chomp {
                            raw.trim_start_matches('\t')
                        } else {
                            raw
                        });
                        body.push('\n');
                    }
                    if !terminated {
                        let message = format!("unterminated heredoc {:?}", marker.name);
                        return Err(self.error(start_line, start.column, width(keyword), message));
                    }
                    heredocs.push(Heredoc {
                        name: marker.name,
                        file_descriptor: marker.file_descriptor,
                        expand: marker.expand,
                        chomp: marker.chomp,
                        content: body,
                        span: Span {
                            start: Position {
                                line: body_start,
                                column: 1,
                            },
                            end: self.line_end(i),
                        },
                    });
                }
            }

            let span = Span {
                start,
                end: self.line_end(i),
            };
            let original = self.lines[start_line - 1..i]
                .iter()
                .map(|l| content(l))
                .collect::<Vec<_>>()
                .join("\n");
            instruction.span = span;
            instruction.original.clone_from(&original);
            match &mut instruction.kind {
                InstructionKind::Onbuild(trigger) => {
                    // Point at the trigger's keyword when it is on the first line.
                    let keyword_start = first.len() - trimmed.len();
                    let column = first
                        .get(keyword_start + keyword.len()..)
                        .and_then(|after| {
                            let offset = after.find(trigger.keyword.as_str())?;
                            Some(start.column + width(keyword) + width(&after[..offset]))
                        })
                        .unwrap_or(start.column);
                    trigger.span = Span {
                        start: Position {
                            line: start_line,
                            column,
                        },
                        end: span.end,
                    };
                    trigger.original = original;
                    trigger.heredocs = heredocs;
                }
                _ => instruction.heredocs = heredocs,
            }
            instructions.push(instruction);
        }

        if let Some(misplaced) = instructions
            .iter()
            .take_while(|i| !matches!(i.kind, InstructionKind::From(_)))
            .find(|i| !matches!(i.kind, InstructionKind::Arg(_)))
        {
            let message = format!(
                "{} is not allowed before the first FROM; only ARG is",
                misplaced.keyword.to_ascii_uppercase()
            );
            return Err(self.error(
                misplaced.span.start.line,
                misplaced.span.start.column,
                width(&misplaced.keyword),
                message,
            ));
        }
        if !instructions
            .iter()
            .any(|i| matches!(i.kind, InstructionKind::From(_)))
        {
            let message = if instructions.is_empty() {
                "file with no instructions"
            } else {
                "file with no FROM instruction"
            };
            return Err(self.error(self.lines.len(), 1, 1, message));
        }

        Ok(Dockerfile {
            name: self.file.to_string(),
            directives,
            escape: self.escape,
            instructions,
            warnings: self.warnings,
        })
    }

    /// berth's one leniency: when an instruction that takes a JSON array has arguments that
    /// start with `[` but are not valid JSON, and the following lines (up to one ending in
    /// `]`, none starting with an instruction keyword) complete a valid array of strings,
    /// those lines are joined to it. Returns the index of the next line to read.
    fn multiline_json(&mut self, logical: &mut String, start: Position, next: usize) -> usize {
        let (keyword, rest) = split_keyword(logical.trim());
        if !JSON_CAPABLE.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
            return next;
        }
        let args = extract_flags(rest, self.escape).1;
        if !args.starts_with('[') || !matches!(maybe_json(args), MaybeJson::NotJson) {
            return next;
        }
        let mut joined = args.to_string();
        let mut extra = String::new();
        let last = self.lines.len().min(next + MAX_JSON_LINES);
        for j in next..last {
            let line = content(self.lines[j]).trim();
            if line.starts_with('#') {
                continue;
            }
            if is_keyword(split_keyword(line).0) {
                return next;
            }
            joined.push(' ');
            joined.push_str(line);
            extra.push(' ');
            extra.push_str(line);
            if line.ends_with(']') {
                if !matches!(maybe_json(&joined), MaybeJson::Array(_)) {
                    return next;
                }
                logical.push_str(&extra);
                self.warnings.push(Warning {
                    span: Span {
                        start,
                        end: self.line_end(j + 1),
                    },
                    message: format!(
                        "JSON array continues over {} lines without line continuation characters; Docker's parser rejects this",
                        j + 2 - start.line
                    ),
                });
                return j + 1;
            }
        }
        next
    }
}

/// Whether Docker reads heredoc bodies for this instruction: RUN, COPY and ADD in shell form.
fn heredoc_capable(kind: &InstructionKind) -> bool {
    match kind {
        InstructionKind::Run(run) => matches!(run.command, Command::Shell(_)),
        InstructionKind::Copy(c) | InstructionKind::Add(c) => !c.json,
        InstructionKind::Onbuild(trigger) => heredoc_capable(&trigger.kind),
        _ => false,
    }
}

/// Parses one logical line into an instruction (span, original text and heredocs are filled
/// in by the caller).
fn build(logical: &str, escape: char) -> Result<Instruction, Problem> {
    let line = logical.trim();
    let (keyword, rest) = split_keyword(line);
    let (flag_words, args) = extract_flags(rest, escape);
    let flags: Vec<Flag> = flag_words
        .iter()
        .map(|w| {
            let w = w.strip_prefix("--").unwrap_or(w);
            match w.split_once('=') {
                Some((name, value)) => Flag {
                    name: name.to_string(),
                    value: Some(value.to_string()),
                },
                None => Flag {
                    name: w.to_string(),
                    value: None,
                },
            }
        })
        .collect();
    let lower = keyword.to_ascii_lowercase();
    let upper = keyword.to_ascii_uppercase();
    let flags_for = |allowed: &[&str], booleans: &[&str], repeatable: &[&str]| {
        check_flags(&flags, allowed, booleans, repeatable)
    };
    let kind = match lower.as_str() {
        "from" => {
            flags_for(&["platform"], &[], &[])?;
            let platform = string_flag(&flags, "platform");
            if let Some(p) = &platform
                && !valid_platform(p)
            {
                return Err(problem_at(
                    format!("invalid platform {p:?}: expected os[/arch[/variant]] or a $variable"),
                    p,
                ));
            }
            let words = split_plain(args);
            let stage_name = match words.as_slice() {
                [_] => None,
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let lower = name.to_ascii_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(problem_at(
                            format!(
                                "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                            ),
                            name,
                        ));
                    }
                    Some(lower)
                }
                _ => return Err(problem("FROM requires either one or three arguments")),
            };
            InstructionKind::From(From {
                image: words[0].clone(),
                stage_name,
                platform,
            })
        }
        "run" => InstructionKind::Run(Run {
            command: command(args)?,
            mounts: flags
                .iter()
                .filter(|f| f.name == "mount")
                .map(|f| f.value.clone().unwrap_or_default())
                .collect(),
            network: string_flag(&flags, "network"),
            security: string_flag(&flags, "security"),
        }),
        "cmd" => {
            flags_for(&[], &[], &[])?;
            InstructionKind::Cmd(command(args)?)
        }
        "entrypoint" => {
            flags_for(&[], &[], &[])?;
            InstructionKind::Entrypoint(command(args)?)
        }
        "shell" => {
            flags_for(&[], &[], &[])?;
            match maybe_json(args) {
                MaybeJson::Array(words) if !words.is_empty() => InstructionKind::Shell(words),
                MaybeJson::NotStrings => return Err(problem(NOT_STRINGS)),
                _ if args.is_empty() || args == "[]" => {
                    return Err(problem("SHELL requires at least one argument"));
                }
                _ => return Err(problem("SHELL requires the arguments to be in JSON form")),
            }
        }
        "env" | "label" => {
            flags_for(&[], &[], &[])?;
            let pairs = key_values(args, &upper, escape)?;
            if lower == "env" {
                InstructionKind::Env(pairs)
            } else {
                InstructionKind::Label(pairs)
            }
        }
        "expose" => {
            flags_for(&[], &[], &[])?;
            let ports = split_plain(args);
            if ports.is_empty() {
                return Err(problem("EXPOSE requires at least one argument"));
            }
            InstructionKind::Expose(ports)
        }
        "copy" => {
            flags_for(
                &["from", "chown", "chmod", "link", "parents", "exclude"],
                &["link", "parents"],
                &["exclude"],
            )?;
            InstructionKind::Copy(copy_args(args, &flags, &upper)?)
        }
        "add" => {
            flags_for(
                &[
                    "chown",
                    "chmod",
                    "link",
                    "exclude",
                    "checksum",
                    "keep-git-dir",
                    "unpack",
                ],
                &["link", "keep-git-dir", "unpack"],
                &["exclude"],
            )?;
            InstructionKind::Add(copy_args(args, &flags, &upper)?)
        }
        "volume" => {
            flags_for(&[], &[], &[])?;
            let (paths, json) = match maybe_json(args) {
                MaybeJson::Array(paths) => (paths, true),
                MaybeJson::NotStrings => return Err(problem(NOT_STRINGS)),
                MaybeJson::NotJson => (split_plain(args), false),
            };
            if paths.is_empty() {
                return Err(problem("VOLUME requires at least one argument"));
            }
            if paths.iter().any(|p| p.trim().is_empty()) {
                return Err(problem("VOLUME specified can not be an empty string"));
            }
            InstructionKind::Volume(Paths { paths, json })
        }
        "user" | "workdir" | "stopsignal" | "maintainer" => {
            flags_for(&[], &[], &[])?;
            if args.is_empty() {
                return Err(problem(format!("{upper} requires exactly one argument")));
            }
            let value = args.to_string();
            match lower.as_str() {
                "user" => InstructionKind::User(value),
                "workdir" => InstructionKind::Workdir(value),
                "stopsignal" => InstructionKind::Stopsignal(value),
                _ => InstructionKind::Maintainer(value),
            }
        }
        "arg" => {
            flags_for(&[], &[], &[])?;
            let words = parse_words(args, escape);
            if words.is_empty() {
                return Err(problem("ARG requires at least one argument"));
            }
            let decls = words
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some((name, default)) => ArgDecl {
                        name: name.to_string(),
                        default: Some(default.to_string()),
                    },
                    None => ArgDecl {
                        name: w,
                        default: None,
                    },
                })
                .collect::<Vec<_>>();
            if decls.iter().any(|d| d.name.is_empty()) {
                return Err(problem("ARG names can not be blank"));
            }
            InstructionKind::Arg(decls)
        }
        "onbuild" => {
            flags_for(&[], &[], &[])?;
            if args.is_empty() {
                return Err(problem("ONBUILD requires at least one argument"));
            }
            let trigger_keyword = split_keyword(args).0;
            match trigger_keyword.to_ascii_lowercase().as_str() {
                "onbuild" => {
                    return Err(problem_at(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                        trigger_keyword,
                    ));
                }
                "from" | "maintainer" => {
                    return Err(problem_at(
                        format!(
                            "{} isn't allowed as an ONBUILD trigger",
                            trigger_keyword.to_ascii_uppercase()
                        ),
                        trigger_keyword,
                    ));
                }
                _ => {}
            }
            InstructionKind::Onbuild(Box::new(build(args, escape)?))
        }
        "healthcheck" => {
            flags_for(
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
                &[],
                &[],
            )?;
            InstructionKind::Healthcheck(healthcheck(args, &flags)?)
        }
        _ => {
            return Err(problem_at(
                format!("unknown instruction {keyword:?}"),
                keyword,
            ));
        }
    };
    Ok(Instruction {
        span: Span {
            start: Position { line: 0, column: 0 },
            end: Position { line: 0, column: 0 },
        },
        keyword: keyword.to_string(),
        original: String::new(),
        line: logical.to_string(),
        flags,
        kind,
        heredocs: Vec::new(),
    })
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// Refuses flags Docker does not define for the instruction, string flags without a value
/// or given twice, and boolean flags with a value other than true or false.
fn check_flags(
    flags: &[Flag],
    allowed: &[&str],
    booleans: &[&str],
    repeatable: &[&str],
) -> Result<(), Problem> {
    for (n, flag) in flags.iter().enumerate() {
        let name = flag.name.as_str();
        let shown = format!("--{name}");
        if !allowed.contains(&name) {
            return Err(problem_at(format!("unknown flag: {name}"), &shown));
        }
        if booleans.contains(&name) {
            if let Some(v) = &flag.value
                && !(v.is_empty()
                    || v.eq_ignore_ascii_case("true")
                    || v.eq_ignore_ascii_case("false"))
            {
                return Err(problem_at(
                    format!("expecting boolean value for flag {name}, not: {v}"),
                    &shown,
                ));
            }
            continue;
        }
        if flag.value.is_none() {
            return Err(problem_at(
                format!("missing a value on flag: {name}"),
                &shown,
            ));
        }
        if !repeatable.contains(&name) && flags[..n].iter().any(|f| f.name == name) {
            return Err(problem_at(
                format!("duplicate flag specified: {name}"),
                &shown,
            ));
        }
    }
    Ok(())
}

fn string_flag(flags: &[Flag], name: &str) -> Option<String> {
    flags
        .iter()
        .rev()
        .find(|f| f.name == name)
        .and_then(|f| f.value.clone())
}

fn bool_flag(flags: &[Flag], name: &str) -> bool {
    flags
        .iter()
        .rev()
        .find(|f| f.name == name)
        .is_some_and(|f| {
            !f.value
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("false"))
        })
}

/// Exec form if the arguments are a JSON array of strings, shell form otherwise (a malformed
/// array included, as Docker does).
fn command(args: &str) -> Result<Command, Problem> {
    match maybe_json(args) {
        MaybeJson::Array(words) => Ok(Command::Exec(words)),
        MaybeJson::NotStrings => Err(problem(NOT_STRINGS)),
        MaybeJson::NotJson => Ok(Command::Shell(args.to_string())),
    }
}

/// ENV and LABEL: `k=v k2="v 2"`, or the legacy `k v with spaces` when the first word has no
/// `=`.
fn key_values(args: &str, keyword: &str, escape: char) -> Result<KeyValues, Problem> {
    let words = parse_words(args, escape);
    let Some(first) = words.first() else {
        return Err(problem(format!("{keyword} requires at least one argument")));
    };
    if !first.contains('=') {
        let (key, value) = split_keyword(args);
        if value.is_empty() {
            return Err(problem(format!("{keyword} must have two arguments")));
        }
        return Ok(KeyValues {
            pairs: vec![KeyValue {
                key: key.to_string(),
                value: value.to_string(),
            }],
            legacy: true,
        });
    }
    let mut pairs = Vec::new();
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(problem_at(
                format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"),
                word,
            ));
        };
        if key.is_empty() {
            return Err(problem(format!("{keyword} names can not be blank")));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(KeyValues {
        pairs,
        legacy: false,
    })
}

fn copy_args(args: &str, flags: &[Flag], keyword: &str) -> Result<CopyArgs, Problem> {
    let (mut paths, json) = match maybe_json(args) {
        MaybeJson::Array(paths) => (paths, true),
        MaybeJson::NotStrings => return Err(problem(NOT_STRINGS)),
        MaybeJson::NotJson => (split_plain(args), false),
    };
    match paths.len() {
        0 => {
            return Err(problem(format!(
                "{keyword} requires at least two arguments"
            )));
        }
        1 => {
            return Err(problem(format!(
                "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
            )));
        }
        _ => {}
    }
    let dest = paths.pop().unwrap_or_default();
    Ok(CopyArgs {
        sources: paths,
        dest,
        json,
        from: string_flag(flags, "from"),
        chown: string_flag(flags, "chown"),
        chmod: string_flag(flags, "chmod"),
        link: bool_flag(flags, "link"),
        parents: bool_flag(flags, "parents"),
        exclude: flags
            .iter()
            .filter(|f| f.name == "exclude")
            .filter_map(|f| f.value.clone())
            .collect(),
    })
}

fn healthcheck(args: &str, flags: &[Flag]) -> Result<Healthcheck, Problem> {
    let (kind, rest) = match args.find(char::is_whitespace) {
        Some(i) => (&args[..i], args[i..].trim_start()),
        None => (args, ""),
    };
    if kind.is_empty() {
        return Err(problem("HEALTHCHECK requires at least one argument"));
    }
    if kind.eq_ignore_ascii_case("none") {
        if !rest.is_empty() {
            return Err(problem("HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(Healthcheck::None);
    }
    if !kind.eq_ignore_ascii_case("cmd") {
        return Err(problem_at(
            format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"),
            kind,
        ));
    }
    if rest.is_empty() {
        return Err(problem("Missing command after HEALTHCHECK CMD"));
    }
    let retries = match string_flag(flags, "retries") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n < 0 => {
                return Err(problem(format!("--retries cannot be negative ({n})")));
            }
            Ok(n) => {
                Some(u32::try_from(n).map_err(|_| problem_at("--retries is too large", &text))?)
            }
            Err(_) => {
                return Err(problem_at(
                    format!("--retries must be a number, not {text:?}"),
                    &text,
                ));
            }
        },
    };
    Ok(Healthcheck::Cmd {
        command: command(rest)?,
        interval: string_flag(flags, "interval"),
        timeout: string_flag(flags, "timeout"),
        start_period: string_flag(flags, "start-period"),
        start_interval: string_flag(flags, "start-interval"),
        retries,
    })
}

/// `os[/arch[/variant]]` with each part made of letters, digits, `_`, `.` and `-`; anything
/// containing `$` is accepted as it is expanded later.
fn valid_platform(platform: &str) -> bool {
    if platform.contains('$') {
        return true;
    }
    let parts: Vec<&str> = platform.split('/').collect();
    parts.len() <= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        })
}

/// Docker's stage names: a letter, then letters, digits, `-`, `_` and `.` (lower-cased).
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}
