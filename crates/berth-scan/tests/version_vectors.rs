//! Checks berth's version ordering against the ecosystems' own comparison vectors.
//!
//! The vector files under `tests/data/version-vectors/` come unchanged from google/osv-scalibr
//! (see the README there). Each line is `a < b`, `a = b` or `a > b`; lines starting with `#` or
//! `//` are comments and blank lines are ignored. Every comparison is checked in both directions,
//! and a failing test lists every line that failed, not only the first.

use std::cmp::Ordering;
use std::path::Path;

use berth_scan::version::{Scheme, compare};

/// The comparisons in one vector file: (line number, line, a, expected order, b).
fn read_vectors(file: &str) -> Vec<(usize, String, String, Ordering, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/version-vectors")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut vectors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("//") {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(' ').collect();
        let [a, op, b] = fields[..] else {
            panic!("{file}:{}: not `a OP b`: {line:?}", index + 1);
        };
        let expected = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("{file}:{}: unknown operator in {line:?}", index + 1),
        };
        vectors.push((
            index + 1,
            line.to_owned(),
            a.to_owned(),
            expected,
            b.to_owned(),
        ));
    }
    vectors
}

/// A vector line that is not checked: (file, exact line, why).
type Skip = (&'static str, &'static str, &'static str);

/// Lines of `alpine-versions.txt` on which apk-tools 2 (the `apk` of Alpine 3.x, whose order
/// berth implements and which every line of `alpine-versions-generated.txt` agrees with) and
/// apk-tools 3 disagree, and the file records apk-tools 3's answer. All of them involve strings
/// both versions of apk-tools reject as invalid (`-r` without digits, a `.` or `-` where apk
/// expects a number, upper-case letters); the file's own comments say so for lines 4, 5, 27, 28,
/// 40 and 47 ("on latest apk these are ... but on 3.x they're ..."). Lines 15 and 24 are the same
/// case without a comment: apk-tools 2 reads `0.r1` as `0` `.` (empty number) `r` `1` and ranks it
/// above `0r2`, apk-tools 3 stops at the invalid `.r` and ranks it below.
const APK_TOOLS_3_ONLY: &[Skip] = &[
    (
        "alpine-versions.txt",
        "1-r-0 < 1-r0",
        "apk-tools 3 answer (file comment)",
    ),
    (
        "alpine-versions.txt",
        "1-r-1 < 1-r0",
        "apk-tools 3 answer (file comment)",
    ),
    (
        "alpine-versions.txt",
        "0.r1 < 0r2",
        "apk-tools 3 answer; apk-tools 2 says >",
    ),
    (
        "alpine-versions.txt",
        "0.8.21.r2 < 0.8.21r2",
        "apk-tools 3 answer; apk-tools 2 says >",
    ),
    (
        "alpine-versions.txt",
        "1.2.0A < 1.2.0d",
        "apk-tools 3 answer (file comment)",
    ),
    (
        "alpine-versions.txt",
        "1.2.0D < 1.2.0d",
        "apk-tools 3 answer (file comment)",
    ),
    (
        "alpine-versions.txt",
        "1 > 1-ruff",
        "apk-tools 3 answer (file comment)",
    ),
    (
        "alpine-versions.txt",
        "1-ruff2 = 1--ruff1",
        "apk-tools 3 answer (file comment)",
    ),
];

/// Lines of `maven-versions.txt` that Maven itself answers differently. Checked against the
/// `ComparableVersion` in Maven 3.8.7's `maven-artifact` jar (osv-scalibr generated its Maven
/// vectors with 3.8.6): `java -cp maven-artifact.jar
/// org.apache.maven.artifact.versioning.ComparableVersion 1-1 1-ga-1` prints `1-1 > 1-ga-1`, with
/// the tokens `[1, [1]]` and `[1, [[1]]]`. The line is osv-scalibr's expectation, not Maven's.
const NOT_MAVEN: &[Skip] = &[(
    "maven-versions.txt",
    "1-1 = 1-ga-1",
    "Maven's ComparableVersion says 1-1 > 1-ga-1",
)];

/// Checks every comparison in `files` under `scheme`, both ways round, except the `skips`;
/// panics listing every failure. Returns the number of comparisons checked.
fn check(scheme: Scheme, files: &[&str], skips: &[Skip]) -> usize {
    let mut checked = 0;
    let mut skipped = 0;
    let mut failures = Vec::new();
    for file in files {
        for (number, line, a, expected, b) in read_vectors(file) {
            if skips.iter().any(|(f, l, _)| f == file && *l == line.trim()) {
                skipped += 1;
                continue;
            }
            let forward = compare(scheme, &a, &b);
            let backward = compare(scheme, &b, &a);
            if forward != expected || backward != expected.reverse() {
                failures.push(format!(
                    "{file}:{number}: {line}  (berth: a?b = {forward:?}, b?a = {backward:?})"
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no vectors in {files:?}");
    assert_eq!(
        skipped,
        skips.len(),
        "every skipped line must exist exactly once"
    );
    println!("{scheme:?}: {checked} comparisons checked both ways, {skipped} skipped");
    assert!(
        failures.is_empty(),
        "{scheme:?}: {} of {checked} comparisons failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn dpkg_vectors() {
    check(
        Scheme::Dpkg,
        &["debian-versions.txt", "debian-versions-generated.txt"],
        &[],
    );
}

#[test]
fn apk_vectors() {
    check(
        Scheme::Apk,
        &["alpine-versions.txt", "alpine-versions-generated.txt"],
        APK_TOOLS_3_ONLY,
    );
}

#[test]
fn rpm_vectors() {
    check(Scheme::Rpm, &["redhat-versions.txt"], &[]);
}

#[test]
fn semver_vectors() {
    check(Scheme::Semver, &["semver-versions.txt"], &[]);
}

#[test]
fn pep440_vectors() {
    check(
        Scheme::Pep440,
        &["pypi-versions.txt", "pypi-versions-generated.txt"],
        &[],
    );
}

#[test]
fn maven_vectors() {
    check(
        Scheme::Maven,
        &["maven-versions.txt", "maven-versions-generated.txt"],
        NOT_MAVEN,
    );
}
