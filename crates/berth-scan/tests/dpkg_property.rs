//! Checks berth's Debian version order against the real `dpkg --compare-versions`.
//!
//! The pairs are pseudo-random versions from a fixed seed (epochs, `~`, `+`, `.`, `-`, letters,
//! digits, leading zeros, near-identical pairs) plus pairs drawn from the Debian vector files.
//! All pairs go to one `sh` process that runs dpkg twice per pair (`lt`, then `eq`), so the test
//! takes a few seconds. Pairs dpkg calls invalid (exit status other than 0 or 1) are skipped. The
//! test is skipped, with a message, where dpkg is not installed.

use std::cmp::Ordering;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use berth_scan::version::{Scheme, compare};

/// Random pairs to generate.
const RANDOM_PAIRS: usize = 1500;
/// Pairs to draw from the vector files.
const VECTOR_PAIRS: usize = 500;

mod common;
use common::Rng;

/// A random string of version characters from `alphabet`, starting with a digit if `digit_first`.
fn random_part(rng: &mut Rng, alphabet: &[&str], digit_first: bool) -> String {
    let digits = [
        "0",
        "1",
        "2",
        "9",
        "10",
        "00",
        "007",
        "99",
        "123456789012345678901234567890",
    ];
    let mut part = String::new();
    if digit_first {
        part.push_str(rng.pick(&digits));
    }
    for _ in 0..rng.below(6) {
        if rng.below(2) == 0 {
            part.push_str(rng.pick(&digits));
        } else {
            part.push_str(rng.pick(alphabet));
        }
    }
    part
}

/// A random version dpkg accepts: `[epoch:]upstream[-revision]`, the upstream starting with a
/// digit, `-` only before the revision and `:` only after the epoch.
fn random_version(rng: &mut Rng) -> String {
    let upstream_chars = [
        "a", "b", "z", "A", "Z", ".", "+", "~", "~~", "dfsg", "rc", ".",
    ];
    let revision_chars = ["a", "b", "z", ".", "+", "~", "ubuntu", "deb", "build"];
    let mut version = String::new();
    if rng.below(4) == 0 {
        version.push_str(&format!("{}:", rng.pick(&["0", "1", "2", "10", "00"])));
    }
    version.push_str(&random_part(rng, &upstream_chars, true));
    if rng.below(2) == 0 {
        version.push('-');
        version.push_str(&random_part(rng, &revision_chars, true));
    }
    version
}

/// A variation of `v`: a character appended, removed or swapped, so pairs are often close.
fn mutate(rng: &mut Rng, v: &str) -> String {
    let mut s = v.to_owned();
    match rng.below(4) {
        0 => s.push_str(rng.pick(&["~", "+", ".0", "a", "0", "~rc1", "1"])),
        1 if s.len() > 1 && !s.ends_with([':', '-']) => {
            s.pop();
        }
        2 => s = s.replacen('.', "~", 1),
        _ => s = s.replacen('0', "00", 1),
    }
    s
}

/// Pairs from the Debian vector files, evenly spaced.
fn vector_pairs() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/version-vectors");
    let mut pairs = Vec::new();
    for file in ["debian-versions.txt", "debian-versions-generated.txt"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("vector file");
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [a, _, b] = fields[..]
                && !line.starts_with('#')
            {
                pairs.push((a.to_owned(), b.to_owned()));
            }
        }
    }
    let step = (pairs.len() / VECTOR_PAIRS).max(1);
    pairs.into_iter().step_by(step).take(VECTOR_PAIRS).collect()
}

/// dpkg's answer for each pair (`None` where dpkg reports an invalid version), from one `sh`.
fn dpkg_orders(pairs: &[(String, String)]) -> Option<Vec<Option<Ordering>>> {
    let script = r#"while IFS=' ' read -r a b; do
        dpkg --compare-versions "$a" lt "$b" 2>/dev/null; lt=$?
        dpkg --compare-versions "$a" eq "$b" 2>/dev/null; eq=$?
        echo "$lt $eq"
    done"#;
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut input = String::new();
    for (a, b) in pairs {
        input.push_str(&format!("{a} {b}\n"));
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing pairs to sh");
    let output = child.wait_with_output().expect("sh");
    let text = String::from_utf8(output.stdout).expect("sh output");
    let orders: Vec<Option<Ordering>> = text
        .lines()
        .map(|line| match line {
            "0 1" => Some(Ordering::Less),
            "1 0" => Some(Ordering::Equal),
            "1 1" => Some(Ordering::Greater),
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), pairs.len(), "one dpkg answer per pair");
    Some(orders)
}

#[test]
fn berth_agrees_with_dpkg() {
    if Command::new("dpkg").arg("--version").output().is_err() {
        eprintln!("dpkg is not installed; skipping the comparison with it");
        return;
    }
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut pairs = Vec::with_capacity(RANDOM_PAIRS + VECTOR_PAIRS);
    for _ in 0..RANDOM_PAIRS {
        let a = random_version(&mut rng);
        let b = if rng.below(2) == 0 {
            mutate(&mut rng, &a)
        } else {
            random_version(&mut rng)
        };
        pairs.push((a, b));
    }
    pairs.extend(vector_pairs());

    let orders = dpkg_orders(&pairs).expect("running sh");
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for ((a, b), dpkg) in pairs.iter().zip(orders) {
        let Some(dpkg) = dpkg else { continue };
        compared += 1;
        let berth = compare(Scheme::Dpkg, a, b);
        if berth != dpkg {
            disagreements.push(format!("{a} vs {b}: dpkg {dpkg:?}, berth {berth:?}"));
        }
    }
    println!("{compared} of {} pairs compared with dpkg", pairs.len());
    assert!(
        compared >= pairs.len() * 9 / 10,
        "dpkg rejected too many pairs ({compared} valid)"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements with dpkg:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
