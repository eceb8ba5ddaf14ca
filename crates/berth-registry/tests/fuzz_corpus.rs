//! Replays the registry_answers fuzz corpus (fuzz/corpus/registry_answers) through the same
//! entry points, so every input the fuzzer kept stays a test.

use std::path::PathBuf;

use berth_registry::fuzzing;
use berth_types::image::{ImageConfig, Index, Manifest};

#[test]
fn registry_answer_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/registry_answers");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 100, "too small a corpus in {}", dir.display());
    let (mut challenges, mut manifests) = (0, 0);
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let (head, body) = match data.iter().position(|b| *b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&data[..], &[][..]),
        };
        let head = String::from_utf8_lossy(head);
        challenges += usize::from(fuzzing::challenge(&head));
        let status = 400 + u16::from(body.first().copied().unwrap_or(0)) % 200;
        let said = fuzzing::error_text(status, body);
        assert!(
            !said.chars().any(char::is_control),
            "{}: {said:?}",
            file.display()
        );
        if fuzzing::manifest_media_type(&head, body).is_ok() {
            manifests += 1;
            let _ = serde_json::from_slice::<Manifest>(body);
            let _ = serde_json::from_slice::<Index>(body);
        }
        let _ = serde_json::from_slice::<ImageConfig>(body);
    }
    // The seeds alone give a bearer and a basic challenge and two manifests.
    assert!(
        challenges >= 2 && manifests >= 2,
        "{challenges} {manifests}"
    );
}
