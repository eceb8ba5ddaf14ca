//! `berth lint` against Hadolint 2.15.1 on the shared corpus of real Dockerfiles
//! (`/work/shared/dockerfiles`, read in place, with `hadolint.json`: Hadolint's findings).
//!
//! For the rules mapped to a Hadolint code, the (file, line, code) triples of both tools must
//! agree on at least 95% of their union, over the files Hadolint could parse. Every triple
//! only one tool reports is listed, with the reason, in `tests/data/hadolint-differences.tsv`;
//! the test fails on an unlisted difference and on a listed one that no longer occurs.
//! `BERTH_LINT_DIFF=1` prints the differences in that file's format.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use berth_scan::lint::{Config, NoImages, RULES, lint};

type Triple = (String, usize, String);

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dockerfiles")
}

#[test]
fn agrees_with_hadolint_on_the_corpus() {
    let dir = corpus_dir();
    let Ok(raw) = std::fs::read(dir.join("hadolint.json")) else {
        eprintln!("skipping: no corpus at {}", dir.display());
        return;
    };
    let hadolint: BTreeMap<String, Vec<serde_json::Value>> = serde_json::from_slice(&raw).unwrap();
    let mapped: BTreeSet<&str> = RULES.iter().filter_map(|r| r.hadolint).collect();
    let mut theirs: BTreeSet<Triple> = BTreeSet::new();
    let mut unparsed: BTreeSet<String> = BTreeSet::new();
    for (file, findings) in &hadolint {
        for f in findings {
            let code = f["code"].as_str().unwrap();
            if code == "DL1000" {
                unparsed.insert(file.clone());
            }
            if mapped.contains(code) {
                theirs.insert((
                    file.clone(),
                    f["line"].as_u64().unwrap() as usize,
                    code.into(),
                ));
            }
        }
    }
    let mut ours: BTreeSet<Triple> = BTreeSet::new();
    let mut ours_unparsed = 0;
    for file in hadolint.keys() {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let df = berth_dockerfile::parse_bytes(file, &bytes).expect("the corpus parses");
        for f in lint(&df, &text, &Config::default(), &NoImages) {
            if let Some(code) = f.hadolint {
                if unparsed.contains(file) {
                    ours_unparsed += 1;
                    continue;
                }
                ours.insert((file.clone(), f.line, code.to_owned()));
            }
        }
    }
    let both = ours.intersection(&theirs).count();
    let only_ours: Vec<&Triple> = ours.difference(&theirs).collect();
    let only_theirs: Vec<&Triple> = theirs.difference(&ours).collect();
    let union = both + only_ours.len() + only_theirs.len();
    let agreement = both as f64 / union as f64;
    eprintln!(
        "agreement {:.1}%: {both} shared, {} berth only, {} Hadolint only; {ours_unparsed} berth findings in the {} files Hadolint cannot parse",
        agreement * 100.0,
        only_ours.len(),
        only_theirs.len(),
        unparsed.len()
    );
    let listed_text = include_str!("data/hadolint-differences.tsv");
    let listed: BTreeSet<(String, String, usize, String)> = listed_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 5, "bad line {l:?}");
            (
                cols[0].into(),
                cols[1].into(),
                cols[2].parse().unwrap(),
                cols[3].into(),
            )
        })
        .collect();
    let mut actual: BTreeSet<(String, String, usize, String)> = BTreeSet::new();
    for (who, set) in [("berth", &only_ours), ("hadolint", &only_theirs)] {
        for (file, line, code) in set.iter() {
            actual.insert((who.into(), file.clone(), *line, code.clone()));
        }
    }
    if std::env::var_os("BERTH_LINT_DIFF").is_some() {
        for (who, file, line, code) in &actual {
            println!("{who}\t{file}\t{line}\t{code}\t?");
        }
    }
    let unlisted: Vec<_> = actual.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&actual).collect();
    assert!(
        unlisted.is_empty(),
        "differences not explained in the table: {unlisted:#?}"
    );
    assert!(
        stale.is_empty(),
        "listed differences that no longer occur: {stale:#?}"
    );
    assert!(
        agreement >= 0.95,
        "agreement {:.1}% < 95%",
        agreement * 100.0
    );
}
