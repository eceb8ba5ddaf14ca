//! Checks berth's Maven version order against Maven's own `ComparableVersion`.
//!
//! Pseudo-random versions from a fixed seed (numbers with and without leading zeros, known and
//! unknown qualifiers in mixed case, `.`/`-`/no separator) go, in one sequence, to one run of the
//! `maven-artifact` jar's `ComparableVersion` main class, which compares each version with the
//! next. The test is skipped, with a message, where `java` or the jar is missing.
//!
//! Berth implements the order of Maven 3.8.6 (the version osv-scalibr's vectors come from). Maven
//! 3.8.7 changed one rule: a qualifier right after a `.` that ends the version or is followed by a
//! digit is read as if after a `-`. Pairs in which either version has a letter right after a `.`
//! are therefore not compared, so the test holds for the jar of any Maven 3.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_scan::version::{Scheme, compare};

/// Versions to generate (each is compared with the next).
const VERSIONS: usize = 3000;

mod common;
use common::Rng;

/// A random Maven version.
fn random_version(rng: &mut Rng) -> String {
    let tokens = [
        "0",
        "1",
        "2",
        "00",
        "01",
        "10",
        "9",
        "1234567890123",
        "alpha",
        "a",
        "b",
        "m",
        "Beta",
        "RC",
        "cr",
        "SNAPSHOT",
        "ga",
        "final",
        "release",
        "sp",
        "foo",
        "x",
        "milestone",
        "",
    ];
    let separators = [".", ".", "-", "-", ""];
    let mut version = rng.pick(&tokens[..8]).to_owned();
    for _ in 0..(rng.next() % 6) {
        version.push_str(rng.pick(&separators));
        version.push_str(rng.pick(&tokens));
    }
    version
}

/// The `maven-artifact` jar of the installed Maven, if there is one.
fn maven_artifact_jar() -> Option<PathBuf> {
    let lib = Path::new("/usr/share/maven/lib");
    std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("maven-artifact-") && n.ends_with(".jar"))
        })
}

#[test]
fn berth_agrees_with_maven() {
    let Some(jar) = maven_artifact_jar() else {
        eprintln!("no maven-artifact jar; skipping the comparison with Maven");
        return;
    };
    let mut rng = Rng(0xfeed_beef_cafe_f00d);
    let versions: Vec<String> = (0..VERSIONS).map(|_| random_version(&mut rng)).collect();
    let output = match Command::new("java")
        .arg("-cp")
        .arg(&jar)
        .arg("org.apache.maven.artifact.versioning.ComparableVersion")
        .args(&versions)
        .output()
    {
        Ok(output) if output.status.success() => output,
        _ => {
            eprintln!("java could not run ComparableVersion; skipping the comparison with Maven");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    // Lines "   A OP B" give Maven's answer for each adjacent pair.
    let answers: Vec<(String, Ordering, String)> = text
        .lines()
        .filter(|line| line.starts_with("   "))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [a, op, b] = fields[..] else { return None };
            let order = match op {
                "<" => Ordering::Less,
                "==" => Ordering::Equal,
                ">" => Ordering::Greater,
                _ => return None,
            };
            Some((a.to_owned(), order, b.to_owned()))
        })
        .collect();
    assert_eq!(
        answers.len(),
        VERSIONS - 1,
        "one Maven answer per adjacent pair"
    );
    // The one rule that differs between Maven releases: a letter right after a `.`.
    let dot_letter = |v: &str| {
        v.as_bytes()
            .windows(2)
            .any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic())
    };
    let comparable: Vec<&(String, Ordering, String)> = answers
        .iter()
        .filter(|(a, _, b)| !dot_letter(a) && !dot_letter(b))
        .collect();
    let disagreements: Vec<String> = comparable
        .iter()
        .filter(|(a, maven, b)| compare(Scheme::Maven, a, b) != *maven)
        .map(|(a, maven, b)| {
            let berth = compare(Scheme::Maven, a, b);
            format!("{a} vs {b}: Maven {maven:?}, berth {berth:?}")
        })
        .collect();
    println!(
        "{} of {} pairs compared with Maven's ComparableVersion",
        comparable.len(),
        answers.len()
    );
    assert!(
        comparable.len() >= answers.len() / 4,
        "too few comparable pairs"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements with Maven:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
