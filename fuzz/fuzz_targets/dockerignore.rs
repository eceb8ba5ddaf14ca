//! `.dockerignore` parsing and matching, and COPY's wildcard patterns, on arbitrary input: the
//! text before the first NUL byte is the file, the rest a path to match. Nothing may panic.
#![no_main]

use berth_build::{Ignore, pattern};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..split]);
    let path = String::from_utf8_lossy(data.get(split + 1..).unwrap_or_default());
    if let Ok(ignore) = Ignore::parse(&text) {
        let _ = ignore.excludes(&path);
    }
    for line in text.lines() {
        let _ = pattern::has_wildcards(line);
        let _ = pattern::matches(line, &path);
    }
});
