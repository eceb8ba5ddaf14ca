//! `berth lint` as a user runs it: formats, exit codes by threshold, the config file, standard
//! input and the rule list. Needs no root and no store.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn lint(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BERTH)
        .arg("--root")
        .arg(dir.join("root"))
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

const DOCKERFILE: &str =
    "FROM debian:12\nRUN apt-get update && apt-get install -y curl\nUSER app\n";

#[test]
fn formats_thresholds_config_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Dockerfile"), DOCKERFILE).unwrap();

    // Text: file:line:column, the rule and its Hadolint code, the line and a caret.
    let out = lint(d, &[], None);
    assert_eq!(out.status.code(), Some(1), "findings at or above info fail");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Dockerfile:2:1: warning DF006 (DL3008): unpinned: curl"),
        "{text}"
    );
    assert!(text.contains("    2 | RUN apt-get update"), "{text}");
    assert!(text.contains("      | ^"), "{text}");

    // JSON: berth's id and, where mapped, the Hadolint code.
    let out = lint(d, &["--format", "json", "Dockerfile"], None);
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pin = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "DF006")
        .unwrap();
    assert_eq!(pin["hadolint"], "DL3008");
    assert_eq!(pin["line"], 2);
    assert_eq!(pin["level"], "warning");
    let secret_free = findings
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["rule"] != "DF100");
    assert!(secret_free);

    // SARIF: one result per finding, located, with the rule described.
    let out = lint(d, &["--format", "sarif"], None);
    common::assert_valid_sarif(&out.stdout);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.as_array().unwrap().len());
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["helpUri"]
                .as_str()
                .unwrap()
                .starts_with("docs/lint.md#df"))
    );

    // Only warnings and infos: an error threshold passes.
    assert_eq!(
        lint(d, &["--failure-threshold", "error"], None)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        lint(d, &["--failure-threshold", "none"], None)
            .status
            .code(),
        Some(0)
    );

    // The config file in the current directory: ignored rules and a threshold.
    std::fs::write(
        d.join(".berth-lint.toml"),
        "ignore = [\"DL3008\", \"DF007\", \"DF032\", \"DF005\"]\nfailure-threshold = \"warning\"\n",
    )
    .unwrap();
    let out = lint(d, &["--format", "json"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(d.join(".berth-lint.toml"), "ignore = [\"DF999\"]\n").unwrap();
    let out = lint(d, &[], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown rule \"DF999\""));
    std::fs::remove_file(d.join(".berth-lint.toml")).unwrap();

    // Standard input, and a Dockerfile that does not parse.
    let out = lint(
        d,
        &["--format", "json", "-"],
        Some("FROM alpine:3\nRUN apk add curl\n"),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "DF009" && f["file"] == "-")
    );
    let out = lint(d, &["-"], Some("FROM alpine:3\nFROB x\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("-:2:1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The rule list.
    let out = lint(d, &["--list-rules", "--format", "json"], None);
    assert!(out.status.success());
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = rules.as_array().unwrap();
    assert!(rules.len() >= 40);
    let df006 = rules.iter().find(|r| r["id"] == "DF006").unwrap();
    assert_eq!(df006["hadolint"], "DL3008");
    assert!(!df006["rationale"].as_str().unwrap().is_empty());
    assert_eq!(df006["documentation"], "docs/lint.md#df006");
}
