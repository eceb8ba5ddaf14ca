//! CVSS scoring: published scores, scores cross-checked against an independent implementation
//! (`tests/data/cvss-scores.txt`), invalid vectors, hostile input, and ratings.

use berth_scan::severity::{Rating, base_score, rating, rating_from_text};

/// Vectors with the scores FIRST's specification examples, NVD and FIRST's calculators publish.
const KNOWN: &[(&str, f64)] = &[
    // v3.1
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 5.5),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 5.4),
    // v3.0, from the examples document of the v3.0 specification: Heartbleed, Shellshock,
    // POODLE, phpMyAdmin reflected XSS.
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ("CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
    ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
    // v4.0
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        9.3,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
        10.0,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N",
        6.9,
    ),
    (
        "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        8.5,
    ),
    (
        "CVSS:4.0/AV:P/AC:H/AT:N/PR:H/UI:P/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A",
        7.3,
    ),
    (
        "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
        1.0,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
        0.0,
    ),
];

/// Vectors whose score depends on v4.0 threat and environmental metrics, with the scores of the
/// Python `cvss` package (FIRST's algorithm).
const KNOWN_V4_THREAT_ENVIRONMENTAL: &[(&str, f64)] = &[
    // Exploit Maturity lowers the score; Attacked is the default.
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A",
        9.3,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:X",
        9.3,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:P",
        8.9,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U",
        8.1,
    ),
    // The lowest score above zero.
    (
        "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
        0.1,
    ),
    // A low confidentiality requirement.
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N/CR:L",
        7.9,
    ),
    // Modified impacts replace the base impacts, both ways.
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MVC:N/MVI:N/MVA:N",
        0.0,
    ),
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/MSI:S",
        8.9,
    ),
    (
        "CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:H/VI:L/VA:N/SC:L/SI:H/SA:N/E:P/CR:M/IR:L/AR:H/MAV:L/MSA:S",
        3.9,
    ),
    // Supplemental metrics do not change the score.
    (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:P/AU:Y/R:I/V:C/RE:H/U:Red",
        9.3,
    ),
];

#[test]
fn published_scores() {
    for (vector, score) in KNOWN.iter().chain(KNOWN_V4_THREAT_ENVIRONMENTAL) {
        assert_eq!(base_score(vector), Some(*score), "{vector}");
    }
}

#[test]
fn scores_match_the_python_cvss_package() {
    let data = include_str!("data/cvss-scores.txt");
    let mut checked = [("CVSS:3.0/", 0), ("CVSS:3.1/", 0), ("CVSS:4.0/", 0)];
    let mut mismatches = Vec::new();
    for line in data.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (vector, expected) = line.split_once(' ').expect("vector and score");
        let expected: f64 = expected.parse().expect("score");
        let got = base_score(vector);
        if got != Some(expected) {
            mismatches.push(format!("{vector}: expected {expected}, got {got:?}"));
        }
        let (_, count) = checked
            .iter_mut()
            .find(|(prefix, _)| vector.starts_with(prefix))
            .expect("a CVSS v3.0, v3.1 or v4.0 vector");
        *count += 1;
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    for (prefix, count) in checked {
        assert!(count >= 100, "only {count} {prefix} vectors checked");
    }
}

#[test]
fn temporal_and_environmental_metrics_do_not_change_a_v3_base_score() {
    let base = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    let extended =
        format!("{base}/E:U/RL:O/RC:U/CR:L/IR:L/AR:L/MAV:P/MAC:H/MPR:H/MUI:R/MS:C/MC:N/MI:N/MA:N");
    assert_eq!(base_score(&extended), Some(9.8));
    let all_x =
        format!("{base}/E:X/RL:X/RC:X/CR:X/IR:X/AR:X/MAV:X/MAC:X/MPR:X/MUI:X/MS:X/MC:X/MI:X/MA:X");
    assert_eq!(base_score(&all_x), Some(9.8));
}

#[test]
fn metric_order_does_not_matter() {
    assert_eq!(
        base_score("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N"),
        Some(9.8)
    );
    assert_eq!(
        base_score("CVSS:4.0/SA:N/SI:N/SC:N/VA:H/VI:H/VC:H/UI:N/PR:N/AT:N/AC:L/AV:N"),
        Some(9.3)
    );
}

#[test]
fn invalid_vectors_have_no_score() {
    let invalid = [
        "",
        "CVSS:3.1/",
        "CVSS:4.0/",
        "CVSS:3.1",
        // Unsupported versions and prefixes.
        "CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        " CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        // A missing base metric.
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
        "CVSS:4.0/AV:N/AC:L/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        // Duplicates, even with the same value.
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/E:X",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/E:P",
        // Unknown metrics and values, and metrics of another version.
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:n/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:X",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:A",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:P/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/AT:N/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MSC:S",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:F",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/U:red",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:U",
        "CVSS:4.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        // Malformed pairs.
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
        "CVSS:3.1//AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L//PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/AH",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H ",
        "CVSS:3.1/AV: N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/",
    ];
    for vector in invalid {
        assert_eq!(base_score(vector), None, "{vector:?}");
    }
}

#[test]
fn hostile_input_does_not_panic() {
    let v3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MSI:S/E:P";
    for vector in [v3, v4] {
        // Every prefix and suffix, every single byte removed or replaced.
        for i in 0..=vector.len() {
            let _ = base_score(&vector[..i]);
            let _ = base_score(&vector[i..]);
        }
        for i in 0..vector.len() {
            let removed = format!("{}{}", &vector[..i], &vector[i + 1..]);
            let _ = base_score(&removed);
            for replacement in ["/", ":", "X", "S", "é", "\0", "💥", ""] {
                let replaced = format!("{}{replacement}{}", &vector[..i], &vector[i + 1..]);
                let _ = base_score(&replaced);
            }
        }
    }
    let huge_pairs = format!("{v3}{}", "/E:X".repeat(100_000));
    assert_eq!(base_score(&huge_pairs), None);
    let huge_value = format!("{v3}/E:{}", "X".repeat(1_000_000));
    assert_eq!(base_score(&huge_value), None);
    for garbage in [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Ĥ",
        "CVSS:4.0/ÄV:N",
        "CVSS:4.0/\u{feff}AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:3.1/////////",
        "CVSS:3.1/::::::::",
        "日本語",
        "\0\0\0",
    ] {
        assert_eq!(base_score(garbage), None, "{garbage:?}");
    }
}

#[test]
fn ratings_of_scores() {
    assert_eq!(rating(0.0), Rating::None);
    assert_eq!(rating(0.1), Rating::Low);
    assert_eq!(rating(3.9), Rating::Low);
    assert_eq!(rating(4.0), Rating::Medium);
    assert_eq!(rating(6.9), Rating::Medium);
    assert_eq!(rating(7.0), Rating::High);
    assert_eq!(rating(8.9), Rating::High);
    assert_eq!(rating(9.0), Rating::Critical);
    assert_eq!(rating(10.0), Rating::Critical);
    assert_eq!(rating(f64::NAN), Rating::Unknown);
    let scored: Vec<Rating> = KNOWN
        .iter()
        .map(|(vector, _)| rating(base_score(vector).expect("valid")))
        .collect();
    assert_eq!(scored[0], Rating::Critical);
    assert_eq!(scored[4], Rating::Medium);
    assert_eq!(scored[5], Rating::None);
}

#[test]
fn ratings_of_advisory_words() {
    let words = [
        ("LOW", Rating::Low),
        ("low", Rating::Low),
        ("MODERATE", Rating::Medium),
        ("Moderate", Rating::Medium),
        ("MEDIUM", Rating::Medium),
        ("medium", Rating::Medium),
        ("HIGH", Rating::High),
        ("important", Rating::High),
        ("CRITICAL", Rating::Critical),
        ("Critical", Rating::Critical),
        ("negligible", Rating::Low),
        ("unimportant", Rating::Low),
        ("NONE", Rating::None),
        (" high\n", Rating::High),
        ("", Rating::Unknown),
        ("unknown", Rating::Unknown),
        ("not yet assigned", Rating::Unknown),
        ("untriaged", Rating::Unknown),
        ("HIGHEST", Rating::Unknown),
        ("9.8", Rating::Unknown),
        ("crıtical", Rating::Unknown),
    ];
    for (text, expected) in words {
        assert_eq!(rating_from_text(text), expected, "{text:?}");
    }
}
