//! The `dockerignore` fuzz target's corpus, replayed: every kept input runs through the same
//! calls as the target, and the hand-written seeds also mean what they say.

use std::path::PathBuf;

use berth_build::{Ignore, pattern};

fn run(data: &[u8]) -> Option<bool> {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..split]);
    let path = String::from_utf8_lossy(data.get(split + 1..).unwrap_or_default());
    for line in text.lines() {
        let _ = pattern::has_wildcards(line);
        let _ = pattern::matches(line, &path);
    }
    Ignore::parse(&text).ok().map(|i| i.excludes(&path))
}

#[test]
fn corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dockerignore");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let verdict = run(&data);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            // keep.log is excepted again.
            "seed-basic" => assert_eq!(verdict, Some(false), "{name}"),
            // abc.txt matches [a-z]*.t?t.
            "seed-classes" => assert_eq!(verdict, Some(true), "{name}"),
            // Everything is excluded but what is named keep.
            "seed-double-star" => assert_eq!(verdict, Some(false), "{name}"),
            _ => {}
        }
        n += 1;
    }
    assert!(n >= 3, "the seeds are there");
}
