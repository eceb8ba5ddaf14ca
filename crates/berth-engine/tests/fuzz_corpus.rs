//! Replays the fuzz targets' corpora (fuzz/corpus) through the same entry points, so every input a
//! fuzzer ever kept is checked in the normal test run. Hand-written seeds are named for what they
//! are and must succeed or fail accordingly; inputs the fuzzer found (named by their SHA-1) may do
//! either, but must not panic, write outside the root, or leave the store unclean.

use std::path::{Path, PathBuf};

use berth_archive::Limits;
use berth_engine::{Engine, LoadSource};

const LIMITS: Limits = Limits {
    max_header: 64 << 10,
    max_uncompressed: 16 << 20,
};

/// Whether a corpus file was found by the fuzzer (named by the SHA-1 of its content).
fn found_by_fuzzer(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

#[test]
fn apply_layer_corpus() {
    for file in corpus("apply_layer") {
        let data = std::fs::read(&file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let result = berth_archive::apply_layer(&data[..], &root, &LIMITS);
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let escaping = name.starts_with("dotdot") || name.starts_with("symlink-escape");
        if !found_by_fuzzer(&name) {
            assert_eq!(result.is_err(), escaping, "{name}: {result:?}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "{name} wrote beside the root"
        );
    }
}

#[test]
fn load_archive_corpus() {
    for file in corpus("load_archive") {
        let data = std::fs::read(&file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap().with_limits(LIMITS);
        let result = engine.load(LoadSource::Stream(Box::new(&data[..])));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !found_by_fuzzer(&name) {
            assert_eq!(
                result.is_err(),
                name.starts_with("bad-"),
                "{name}: {:?}",
                result.as_ref().err().map(|e| format!("{e:#?}"))
            );
        }
        assert!(
            engine.store().check().unwrap().is_empty(),
            "{name}: store not clean after load"
        );
    }
}
