//! Replays the fuzz targets' corpora (fuzz/corpus/package_databases and advisories) through the
//! same entry points, so every input the fuzzer kept stays a test.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

const PATHS: [&str; 8] = [
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/pkg",
    "lib/apk/db/installed",
    "usr/lib/python3/site-packages/x-1.dist-info/METADATA",
    "app/node_modules/x/package.json",
    "etc/os-release",
    "root/.docker/config.json",
    "srv/.env",
];

#[test]
fn package_database_corpus() {
    for file in corpus("package_databases") {
        let data = std::fs::read(&file).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for path in PATHS {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, &data[..]).unwrap();
        }
        let layer = b.into_inner().unwrap();
        let mut c = berth_scan::inventory::Collector::new().with_secrets();
        c.add_layer("sha256:0", None, &layer[..]);
        c.add_layer("sha256:1", None, &data[..]);
        let inv = c.finish();
        serde_json::to_vec(&inv).unwrap();
    }
}

#[test]
fn advisory_corpus() {
    use berth_scan::vulndb::{Format, parse};
    for file in corpus("advisories") {
        let data = std::fs::read(&file).unwrap();
        for format in [Format::Osv, Format::DebianList, Format::AlpineSecdb] {
            let _ = parse(format, &file.display().to_string(), &data);
        }
    }
}
