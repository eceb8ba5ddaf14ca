//! Every Dockerfile of the shared corpus (`/work/shared/dockerfiles`, read in place; the files
//! are not copied into the repository) must parse, with as many instructions as a simple,
//! independent count finds.

use std::path::PathBuf;

use berth_dockerfile::{InstructionKind, parse_bytes};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dockerfiles")
}

fn corpus() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: no Dockerfile corpus at {}", dir.display());
        return None;
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".Dockerfile"))
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).expect("read corpus file");
            (name, bytes)
        })
        .collect();
    files.sort();
    Some(files)
}

const KEYWORDS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Counts instructions the simple way: join continued lines (skipping comment lines), skip
/// heredoc bodies, and count the logical lines whose first word is an instruction keyword.
fn count_instructions(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let backtick = lines
        .iter()
        .take_while(|l| l.starts_with('#'))
        .any(|l| l.replace(' ', "") == "#escape=`");
    let escape = if backtick { '`' } else { '\\' };
    let continues = |line: &str| {
        let line = line.trim_end();
        line.ends_with(escape) && !line.ends_with(&format!("{escape}{escape}"))
    };
    let mut count = 0;
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with('#') {
            i += 1;
            continue;
        }
        let mut logical = lines[i].to_string();
        let mut continued = continues(lines[i]);
        i += 1;
        while continued && i < lines.len() {
            if !lines[i].trim_start().starts_with('#') {
                logical.push_str(lines[i]);
                continued = continues(lines[i]);
            }
            i += 1;
        }
        let first = logical.split_whitespace().next().unwrap_or("");
        if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(first)) {
            continue;
        }
        count += 1;
        if !["RUN", "COPY", "ADD", "ONBUILD"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(first))
        {
            continue;
        }
        // Heredoc terminators, in order: `<<`, an optional `-`, an optional quote, a word.
        let mut terminators = Vec::new();
        let mut rest = logical.as_str();
        while let Some(at) = rest.find("<<") {
            rest = &rest[at + 2..];
            let word: String = rest
                .trim_start_matches('-')
                .trim_start_matches(['\'', '"'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() {
                terminators.push(word);
            }
        }
        for terminator in terminators {
            while i < lines.len() && lines[i].trim() != terminator {
                i += 1;
            }
            i += 1;
        }
    }
    count
}

#[test]
fn every_corpus_dockerfile_parses_with_the_expected_instruction_count() {
    let Some(files) = corpus() else { return };
    assert!(
        files.len() >= 100,
        "only {} files in the corpus",
        files.len()
    );
    let mut failures = Vec::new();
    for (name, bytes) in &files {
        match parse_bytes(name, bytes) {
            Err(e) => failures.push(format!("{e}")),
            Ok(dockerfile) => {
                let expected = count_instructions(&String::from_utf8_lossy(bytes));
                if dockerfile.instructions.len() != expected {
                    failures.push(format!(
                        "{name}: {} instructions parsed, {expected} counted",
                        dockerfile.instructions.len()
                    ));
                }
                assert!(!dockerfile.stages().is_empty(), "{name}: no stages");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    eprintln!("{} corpus Dockerfiles parsed", files.len());
}

/// The files hadolint 2.15.1 cannot parse (see the corpus README): heredocs, a Windows COPY
/// ending in `\\` before a blank line, and a JSON ENTRYPOINT spread over lines.
#[test]
fn files_hadolint_cannot_parse_do_parse() {
    let Some(files) = corpus() else { return };
    let hadolint_failures = [
        "docker-library__mongo__8.0_windows_nanoserver-ltsc2022_Dockerfile.Dockerfile",
        "docker__awesome-compose__fastapi_Dockerfile.Dockerfile",
        "docker__awesome-compose__flask-redis_Dockerfile.Dockerfile",
        "docker__awesome-compose__flask_app_Dockerfile.Dockerfile",
        "docker__awesome-compose__react-java-mysql_backend_Dockerfile.Dockerfile",
        "docker__awesome-compose__wasmedge-kafka-mysql_etl_Dockerfile.Dockerfile",
        "docker__docker-py__tests_Dockerfile-dind-certs.Dockerfile",
        "google__osv-scanner__action.dockerfile.Dockerfile",
        "moby__moby__Dockerfile.simple.Dockerfile",
    ];
    for wanted in hadolint_failures {
        let (name, bytes) = files
            .iter()
            .find(|(name, _)| name == wanted)
            .unwrap_or_else(|| panic!("{wanted} missing from the corpus"));
        let dockerfile = parse_bytes(name, bytes).unwrap_or_else(|e| panic!("{e}"));
        match wanted {
            w if w.starts_with("docker-library__mongo") => {
                let copy = dockerfile
                    .instructions
                    .iter()
                    .find_map(|i| match &i.kind {
                        InstructionKind::Copy(c) if c.sources.len() > 1 => Some(c),
                        _ => None,
                    })
                    .expect("the multi-line COPY");
                assert_eq!(copy.dest, r"C:\\Windows\\System32\\");
            }
            w if w.starts_with("google__osv-scanner") => {
                let last = dockerfile.instructions.last().expect("instructions");
                assert!(
                    matches!(&last.kind, InstructionKind::Entrypoint(berth_dockerfile::Command::Exec(a)) if a.len() == 3),
                    "{:?}",
                    last.kind
                );
                assert_eq!(dockerfile.warnings.len(), 1);
            }
            _ => assert!(
                dockerfile
                    .instructions
                    .iter()
                    .any(|i| !i.heredocs.is_empty()),
                "{wanted}: no heredoc found"
            ),
        }
    }
}

/// The fuzz target's hand-written seeds are valid Dockerfiles.
#[test]
fn fuzz_seeds_parse() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dockerfile");
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert!(!entries.is_empty(), "no corpus in {}", dir.display());
    for path in entries {
        let bytes = std::fs::read(&path).expect("read corpus file");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Inputs the fuzzer kept (named by their SHA-1) need only not panic; the hand-written
        // seeds are valid Dockerfiles and must parse.
        let found = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let result = parse_bytes(&name, &bytes);
        if !found {
            result.unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
