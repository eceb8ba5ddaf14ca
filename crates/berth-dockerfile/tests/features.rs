//! The parser's features, one test each, and hostile inputs.

use std::collections::{BTreeMap, HashMap};

use berth_dockerfile::{
    ArgScope, Command, Dockerfile, Healthcheck, Instruction, InstructionKind,
    MAX_SUBSTITUTION_DEPTH, Protocol, SubstError, parse, parse_bytes, parse_port, substitute,
};

fn ok(text: &str) -> Dockerfile {
    parse("Dockerfile", text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse("Dockerfile", text) {
        Ok(d) => panic!("parsed: {:?}", d.instructions),
        Err(e) => e.message,
    }
}

/// The instructions after `FROM scratch`.
fn body(text: &str) -> Vec<Instruction> {
    let mut d = ok(&format!("FROM scratch\n{text}"));
    d.instructions.remove(0);
    d.instructions
}

fn one(text: &str) -> Instruction {
    let mut all = body(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn sub(word: &str, vars: &[(&str, &str)]) -> Result<String, SubstError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    substitute(word, &|n| vars.get(n).cloned(), '\\')
}

#[test]
fn directives_at_the_top_only() {
    let d = ok("# syntax=docker/dockerfile:1\n# ESCAPE = `\nFROM a\n");
    assert_eq!(d.syntax(), Some("docker/dockerfile:1"));
    assert_eq!(d.escape, '`');
    assert_eq!(d.directives[1].line, 2);
    // After a comment, a blank line or an instruction, directives are plain comments.
    for text in [
        "# hello\n# escape=`\nFROM a\n",
        "\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\n",
        "# unknown=x\n# escape=`\nFROM a\n",
    ] {
        let d = ok(text);
        assert_eq!(d.escape, '\\', "{text:?}");
        assert!(d.directives.is_empty());
    }
    assert_eq!(
        err("# escape=x\nFROM a\n"),
        "invalid escape token 'x' does not match ` or \\"
    );
    assert_eq!(
        err("# syntax=a\n# syntax=b\nFROM a\n"),
        "only one syntax parser directive can be used"
    );
}

#[test]
fn backtick_escape_changes_continuation() {
    let d = ok("# escape=`\nFROM a\nRUN dir C:\\ `\n  && echo hi\nCOPY a C:\\dest\\\n");
    let run = &d.instructions[1];
    assert_eq!(run.line, "RUN dir C:\\   && echo hi");
    assert_eq!(run.span.start.line, 3);
    assert_eq!(run.span.end.line, 4);
    let InstructionKind::Copy(copy) = &d.instructions[2].kind else {
        panic!()
    };
    assert_eq!(copy.dest, "C:\\dest\\");
}

#[test]
fn continuations_with_comments_and_empty_lines() {
    let d = ok(
        "FROM a\nRUN apt-get update \\\n  # a comment inside\n\n    && apt-get install -y x \\\n\t  y\nUSER me\n",
    );
    let run = &d.instructions[1];
    assert_eq!(
        run.line,
        "RUN apt-get update     && apt-get install -y x \t  y"
    );
    assert_eq!((run.span.start.line, run.span.end.line), (2, 6));
    assert!(run.original.contains("# a comment inside"));
    assert_eq!(d.warnings.len(), 1, "empty continuation line warned about");
    assert_eq!(d.instructions[2].span.start.line, 7);
    // An escaped escape character does not continue the line.
    assert_eq!(body("RUN echo \\\\\nUSER x\n").len(), 2);
    // A continuation at the end of the file just ends the instruction.
    assert_eq!(one("RUN echo \\").line, "RUN echo ");
}

#[test]
fn columns_and_keywords_are_case_insensitive() {
    let d = ok("from a\n   rUn echo\n");
    assert_eq!(d.instructions[1].span.start.column, 4);
    assert_eq!(d.instructions[1].keyword, "rUn");
    assert!(matches!(d.instructions[1].kind, InstructionKind::Run(_)));
}

#[test]
fn heredocs() {
    let run = one("RUN <<EOF\necho $HOME\nEOF\n");
    assert_eq!(run.heredocs.len(), 1);
    let h = &run.heredocs[0];
    assert_eq!(
        (h.name.as_str(), h.content.as_str()),
        ("EOF", "echo $HOME\n")
    );
    assert!(h.expand && !h.chomp);
    assert_eq!((run.span.end.line, h.span.start.line), (4, 3));

    let run = one("RUN <<-EOT bash\n\t\techo a\n\tEOT\n");
    assert_eq!(run.heredocs[0].content, "echo a\n");
    assert!(run.heredocs[0].chomp);

    for quoted in ["<<'EOF'", "<<\"EOF\""] {
        let copy = one(&format!("COPY {quoted} /x\n$A\nEOF\n"));
        assert!(!copy.heredocs[0].expand, "{quoted}");
        assert_eq!(copy.heredocs[0].content, "$A\n");
    }

    let run = one("RUN <<A cat - /dev/fd/3 3<<B\na\nA\nb\nB\n");
    let names: Vec<_> = run.heredocs.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["A", "B"]);
    assert_eq!(run.heredocs[1].file_descriptor, Some(3));

    let copy = one("COPY <<EOF1 <<EOF2 /dir/\none\nEOF1\ntwo\nEOF2\n");
    let InstructionKind::Copy(args) = &copy.kind else {
        panic!()
    };
    assert_eq!(args.sources, ["<<EOF1", "<<EOF2"]);
    assert_eq!(args.dest, "/dir/");
    assert_eq!(copy.heredocs[1].content, "two\n");

    // Instructions after a heredoc are parsed normally; a heredoc body line that looks like
    // an instruction is not one.
    let all = body("RUN <<EOF\nRUN not me\nEOF\nUSER x\n");
    assert_eq!(all.len(), 2);

    // ONBUILD RUN carries its heredoc on the trigger.
    let onbuild = one("ONBUILD RUN <<EOF\nx\nEOF\n");
    let InstructionKind::Onbuild(trigger) = &onbuild.kind else {
        panic!()
    };
    assert_eq!(trigger.heredocs[0].content, "x\n");
    assert_eq!(trigger.span.start.column, 9);

    // Exec form and other instructions have no heredocs.
    assert!(one("RUN [\"cat\", \"<<EOF\"]").heredocs.is_empty());
    assert!(one("RUN echo '<<EOF'").heredocs.is_empty());
    assert_eq!(body("LABEL a=<<EOF\nUSER x\n").len(), 2);
}

#[test]
fn exec_and_shell_forms() {
    let cmd = |t: &str| match one(t).kind {
        InstructionKind::Cmd(c) | InstructionKind::Entrypoint(c) => c,
        InstructionKind::Run(r) => r.command,
        k => panic!("{k:?}"),
    };
    assert_eq!(
        cmd(r#"CMD ["nginx", "-g", "daemon off;"]"#),
        Command::Exec(vec!["nginx".into(), "-g".into(), "daemon off;".into()])
    );
    assert_eq!(cmd("ENTRYPOINT echo hi"), Command::Shell("echo hi".into()));
    // Malformed JSON falls back to the shell form, as Docker does.
    assert_eq!(
        cmd("RUN [\"a\", 'b']"),
        Command::Shell("[\"a\", 'b']".into())
    );
    assert_eq!(cmd("CMD [ -f x ]"), Command::Shell("[ -f x ]".into()));
    // A JSON array with a non-string is refused.
    assert_eq!(
        err("FROM a\nCMD [\"a\", 1]"),
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
    let InstructionKind::Shell(shell) = one(r#"SHELL ["powershell", "-Command"]"#).kind else {
        panic!()
    };
    assert_eq!(shell, ["powershell", "-Command"]);
    assert_eq!(
        err("FROM a\nSHELL /bin/bash -c"),
        "SHELL requires the arguments to be in JSON form"
    );
    let InstructionKind::Volume(v) = one(r#"VOLUME ["/a b", "/c"]"#).kind else {
        panic!()
    };
    assert!(v.json);
    assert_eq!(v.paths, ["/a b", "/c"]);
    let InstructionKind::Copy(c) = one(r#"COPY ["a b", "/c d/"]"#).kind else {
        panic!()
    };
    assert!(c.json);
    assert_eq!((c.sources[0].as_str(), c.dest.as_str()), ("a b", "/c d/"));
}

#[test]
fn multiline_json_is_accepted_with_a_warning() {
    let d = ok("FROM a\nENTRYPOINT [\n  \"bash\",\n  \"-c\"\n]\nUSER x\n");
    assert_eq!(d.instructions.len(), 3);
    assert!(
        matches!(&d.instructions[1].kind, InstructionKind::Entrypoint(Command::Exec(a)) if a == &["bash", "-c"])
    );
    assert_eq!(d.instructions[1].span.end.line, 5);
    assert_eq!(d.warnings.len(), 1);
    // Not valid JSON after all: Docker's behaviour, the next line is an unknown instruction.
    assert_eq!(
        err("FROM a\nCMD [\n  bash\n]\n"),
        "unknown instruction \"bash\""
    );
}

#[test]
fn from() {
    let d = ok(
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\nFROM --platform=linux/arm64/v8 alpine\n",
    );
    let stages = d.stages();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].from.image, "golang:1.22");
    assert_eq!(stages[0].from.stage_name.as_deref(), Some("build"));
    assert_eq!(stages[0].from.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(stages[1].from.platform.as_deref(), Some("linux/arm64/v8"));
    assert!(err("FROM --platform=linux//x a").starts_with("invalid platform"));
    assert!(err("FROM --platform=a/b/c/d a").starts_with("invalid platform"));
    assert_eq!(
        err("FROM a b"),
        "FROM requires either one or three arguments"
    );
    assert!(err("FROM a AS 1x").starts_with("invalid name for build stage"));
    assert_eq!(err("FROM --foo=x a"), "unknown flag: foo");
}

#[test]
fn run_flags_are_kept_not_judged() {
    let run = one(
        "RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=x --network=none --security=insecure --weird echo",
    );
    let InstructionKind::Run(r) = &run.kind else {
        panic!()
    };
    assert_eq!(
        r.mounts,
        ["type=cache,target=/root/.cache", "type=secret,id=x"]
    );
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.security.as_deref(), Some("insecure"));
    assert_eq!(run.flag("weird"), Some(""));
    assert_eq!(r.command, Command::Shell("echo".into()));
}

#[test]
fn label_and_env_both_forms() {
    let kv = |t: &str| match one(t).kind {
        InstructionKind::Label(k) | InstructionKind::Env(k) => k,
        k => panic!("{k:?}"),
    };
    let l = kv(r#"LABEL a=b "c d"="e f" g='h i' j=k\ l"#);
    assert!(!l.legacy);
    let pairs: Vec<_> = l
        .pairs
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("a", "b"),
            ("\"c d\"", "\"e f\""),
            ("g", "'h i'"),
            ("j", r"k\ l")
        ]
    );
    assert_eq!(sub(&l.pairs[1].value, &[]).unwrap(), "e f");
    let legacy = kv("LABEL maintainer  Jane Doe <jane@example.com>");
    assert!(legacy.legacy);
    assert_eq!(legacy.pairs[0].value, "Jane Doe <jane@example.com>");
    let e = kv(r#"ENV k=v k2="v 2""#);
    assert_eq!(e.pairs[1].value, "\"v 2\"");
    let e = kv("ENV PATH /usr/local/bin:$PATH with spaces");
    assert!(e.legacy);
    assert_eq!(e.pairs[0].value, "/usr/local/bin:$PATH with spaces");
    assert_eq!(err("FROM a\nENV k"), "ENV must have two arguments");
    assert!(err("FROM a\nENV a=b c").starts_with("Syntax error - can't find = in \"c\""));
    assert_eq!(err("FROM a\nLABEL =x"), "LABEL names can not be blank");
}

#[test]
fn copy_and_add_flags() {
    let i = one(
        "COPY --from=build --chown=1000:1000 --chmod=755 --link --parents --exclude=*.md --exclude=.git a b /dest/",
    );
    let InstructionKind::Copy(c) = &i.kind else {
        panic!()
    };
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.chmod.as_deref(), Some("755"));
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, ["*.md", ".git"]);
    assert_eq!((c.sources.len(), c.dest.as_str()), (2, "/dest/"));
    let InstructionKind::Copy(c) = one("COPY --link=false a b").kind else {
        panic!()
    };
    assert!(!c.link);
    let InstructionKind::Add(a) = one("ADD --checksum=sha256:abc https://x/y /y").kind else {
        panic!()
    };
    assert_eq!(a.sources, ["https://x/y"]);
    assert_eq!(err("FROM a\nADD --from=x a b"), "unknown flag: from");
    assert!(err("FROM a\nCOPY a").starts_with("COPY requires at least two arguments"));
    assert_eq!(
        err("FROM a\nCOPY --from a b"),
        "missing a value on flag: from"
    );
    assert_eq!(
        err("FROM a\nCOPY --link=maybe a b"),
        "expecting boolean value for flag link, not: maybe"
    );
}

#[test]
fn simple_instructions() {
    assert!(matches!(one("USER app:app").kind, InstructionKind::User(u) if u == "app:app"));
    assert!(matches!(one("WORKDIR /a b").kind, InstructionKind::Workdir(w) if w == "/a b"));
    assert!(
        matches!(one("STOPSIGNAL SIGTERM").kind, InstructionKind::Stopsignal(s) if s == "SIGTERM")
    );
    assert!(matches!(one("MAINTAINER Jane").kind, InstructionKind::Maintainer(m) if m == "Jane"));
    assert!(
        matches!(one("EXPOSE 80/tcp 53/udp $P").kind, InstructionKind::Expose(p) if p == ["80/tcp", "53/udp", "$P"])
    );
    assert_eq!(err("FROM a\nUSER"), "USER requires exactly one argument");
    assert_eq!(
        err("FROM a\nEXPOSE"),
        "EXPOSE requires at least one argument"
    );
    let InstructionKind::Arg(args) = one("ARG a b=2 c=\"x y\"").kind else {
        panic!()
    };
    assert_eq!(args.len(), 3);
    assert_eq!(args[0].default, None);
    assert_eq!(args[2].default.as_deref(), Some("\"x y\""));
}

#[test]
fn expose_ports_are_validated_by_parse_port() {
    let p = parse_port("8000-8010/udp").unwrap();
    assert_eq!((p.start, p.end, p.protocol), (8000, 8010, Protocol::Udp));
    assert_eq!(parse_port("80").unwrap().protocol, Protocol::Tcp);
    for bad in ["0", "65536", "80/icmp", "x", "90-80", "+80", ""] {
        assert!(parse_port(bad).is_err(), "{bad}");
    }
}

#[test]
fn onbuild() {
    let i = one("ONBUILD COPY . /app");
    let InstructionKind::Onbuild(t) = &i.kind else {
        panic!()
    };
    assert!(matches!(t.kind, InstructionKind::Copy(_)));
    assert_eq!(
        err("FROM a\nONBUILD ONBUILD RUN x"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("FROM a\nONBUILD FROM x"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nonbuild maintainer x"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD"),
        "ONBUILD requires at least one argument"
    );
}

#[test]
fn healthcheck() {
    assert!(matches!(
        one("HEALTHCHECK NONE").kind,
        InstructionKind::Healthcheck(Healthcheck::None)
    ));
    let i = one(
        "HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 CMD [\"curl\", \"-f\", \"http://localhost/\"]",
    );
    let InstructionKind::Healthcheck(Healthcheck::Cmd {
        command,
        interval,
        retries,
        start_interval,
        ..
    }) = i.kind
    else {
        panic!()
    };
    assert!(matches!(command, Command::Exec(c) if c.len() == 3));
    assert_eq!(interval.as_deref(), Some("30s"));
    assert_eq!(start_interval.as_deref(), Some("1s"));
    assert_eq!(retries, Some(3));
    assert_eq!(
        err("FROM a\nHEALTHCHECK NONE x"),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        err("FROM a\nHEALTHCHECK CMD"),
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        err("FROM a\nHEALTHCHECK --retries=-1 CMD x"),
        "--retries cannot be negative (-1)"
    );
    assert!(err("FROM a\nHEALTHCHECK RUN x").starts_with("Unknown type"));
}

#[test]
fn structure_errors() {
    assert_eq!(
        err("RUN x\nFROM a"),
        "RUN is not allowed before the first FROM; only ARG is"
    );
    assert_eq!(err(""), "file with no instructions");
    assert_eq!(err("# only\n# comments\n"), "file with no instructions");
    assert_eq!(err("ARG a\n"), "file with no FROM instruction");
    let d = ok("ARG V=1\nFROM a:$V\nRUN x\nFROM b\n");
    assert_eq!(d.global_args().len(), 1);
    assert_eq!(d.stages()[0].instructions.len(), 1);
}

#[test]
fn error_rendering_with_caret() {
    let e = parse(
        "Dockerfile",
        "FROM alpine\nRUN true\n  RUNN apt-get update\n",
    )
    .unwrap_err();
    assert_eq!((e.line, e.column), (3, 3));
    assert_eq!(
        e.to_string(),
        "Dockerfile:3:3: unknown instruction \"RUNN\"\n  |\n3 |   RUNN apt-get update\n  |   ^^^^"
    );
    let e = parse("x", "FROM a\nCOPY --bogus=1 a b\n").unwrap_err();
    assert_eq!((e.column, e.width), (6, 7));
}

#[test]
fn substitution_follows_docker() {
    let set = [("foo", "x"), ("empty", ""), ("B", "bee")];
    let cases = [
        ("$foo", "x"),
        ("${foo}bar", "xbar"),
        ("$unset", ""),
        ("${unset:-bar}", "bar"),
        ("${empty:-bar}", "bar"),
        ("${empty-bar}", ""),
        ("${unset-bar}", "bar"),
        ("${foo:-bar}", "x"),
        ("${foo:+alt}", "alt"),
        ("${empty:+alt}", ""),
        ("${empty+alt}", "alt"),
        ("${unset+alt}", ""),
        ("${unset:-${B}}", "bee"),
        ("${unset:-${unset2:-deep}}", "deep"),
        (r"\$foo", "$foo"),
        ("'$foo'", "$foo"),
        ("\"$foo\"", "x"),
        (r#""a\"b\$c\n""#, r#"a"b$c\n"#),
        ("a$", "a$"),
        ("$1x", "x"),
        (r"C:\\dir", r"C:\dir"),
    ];
    for (word, want) in cases {
        assert_eq!(sub(word, &set).unwrap(), want, "{word}");
    }
    assert_eq!(
        sub("${unset:?must be set}", &set).unwrap_err().to_string(),
        "unset: must be set"
    );
    assert_eq!(
        sub("${empty:?}", &set).unwrap_err().to_string(),
        "empty: is not allowed to be empty"
    );
    assert_eq!(sub("${empty?}", &set).unwrap(), "");
    assert_eq!(sub("${foo", &set), Err(SubstError::MissingBrace));
    assert_eq!(sub("${}", &set), Err(SubstError::BadSubstitution));
    assert!(matches!(
        sub("${foo#x}", &set),
        Err(SubstError::UnsupportedModifier(_))
    ));
    assert!(matches!(
        sub("'abc", &set),
        Err(SubstError::UnterminatedQuote(_))
    ));
    // With the backtick escape, backslashes are literal.
    assert_eq!(
        substitute(r"C:\dir `$x", &|_| None, '`').unwrap(),
        r"C:\dir $x"
    );
}

#[test]
fn arg_scoping() {
    let d = ok(
        "ARG BASE=alpine\nARG VER\nFROM $BASE:$VER\nARG BASE\nARG LOCAL=${BASE}-x\nRUN x\nFROM b\nRUN y\n",
    );
    let build_args = BTreeMap::from([
        ("VER".to_string(), "3.20".to_string()),
        ("HTTP_PROXY".to_string(), "http://proxy".to_string()),
        ("UNUSED".to_string(), "1".to_string()),
    ]);
    let mut scope = ArgScope::new(build_args);
    let mut seen_from = 0;
    for ins in &d.instructions {
        if let InstructionKind::From(f) = &ins.kind {
            let image = substitute(&f.image, &|n| scope.lookup_global(n), d.escape).unwrap();
            if seen_from == 0 {
                assert_eq!(image, "alpine:3.20");
            }
            seen_from += 1;
        }
        scope.apply(ins, d.escape).unwrap();
        if ins.line == "RUN x" {
            assert_eq!(scope.lookup("BASE").as_deref(), Some("alpine"));
            assert_eq!(scope.lookup("LOCAL").as_deref(), Some("alpine-x"));
            assert_eq!(scope.lookup("VER"), None, "not re-declared in the stage");
            assert_eq!(
                scope
                    .run_environment()
                    .get("HTTP_PROXY")
                    .map(String::as_str),
                Some("http://proxy")
            );
        }
        if ins.line == "RUN y" {
            assert_eq!(scope.lookup("LOCAL"), None, "stage ARGs end with the stage");
        }
        if ins.line == "FROM b" {
            assert!(scope.lookup("BASE").is_none());
        }
    }
    assert_eq!(scope.unused_build_args(), ["UNUSED"]);
    assert!(scope.is_accepted("no_proxy"));
}

#[test]
fn hostile_inputs_do_not_panic() {
    // A 1 MB line.
    let long = format!("FROM a\nRUN echo {}\n", "x".repeat(1 << 20));
    assert_eq!(ok(&long).instructions.len(), 2);
    // 10,000 nested defaults: parsed fine, substitution refuses past the depth limit.
    let mut nested = "x".to_string();
    for _ in 0..10_000 {
        nested = format!("${{a:-{nested}}}");
    }
    let d = ok(&format!("FROM a\nENV v={nested}\n"));
    let InstructionKind::Env(kv) = &d.instructions[1].kind else {
        panic!()
    };
    assert_eq!(
        sub(&kv.pairs[0].value, &[]),
        Err(SubstError::TooDeep(MAX_SUBSTITUTION_DEPTH))
    );
    assert!(err("FROM a\nRUN <<EOF\necho\n").starts_with("unterminated heredoc"));
    // Unterminated quotes parse (Docker keeps them); substitution reports them.
    let i = one("ENV a=\"unterminated");
    let InstructionKind::Env(kv) = i.kind else {
        panic!()
    };
    assert!(sub(&kv.pairs[0].value, &[]).is_err());
    assert!(parse("x", "FROM a\nRUN \0\0\nLABEL \0=\0\n").is_ok());
    assert!(parse_bytes("x", b"FROM a\nRUN \xff\xfe\n").is_ok());
    assert!(parse_bytes("x", b"\xff\xfe\x00").is_err());
    for text in [
        "\\",
        "`",
        "#",
        "FROM",
        "FROM a\nONBUILD ONBUILD",
        "\u{feff}FROM a",
        "FROM a\nCOPY <<",
        "\r\n\r\n",
    ] {
        let _ = parse("x", text);
    }
}
