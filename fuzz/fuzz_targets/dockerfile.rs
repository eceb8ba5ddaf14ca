//! The Dockerfile parser on arbitrary bytes, then variable substitution on every word of
//! every instruction, then the linter (and its shell reader) on what parsed: none may panic.
#![no_main]

use berth_dockerfile::{parse_bytes, substitute};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(dockerfile) = parse_bytes("fuzz", data) else {
        return;
    };
    let vars = |name: &str| (name.len() % 2 == 0).then(|| name.to_string());
    for instruction in &dockerfile.instructions {
        for word in instruction.line.split_whitespace() {
            let _ = substitute(word, &vars, dockerfile.escape);
        }
        for heredoc in &instruction.heredocs {
            let _ = substitute(&heredoc.content, &vars, dockerfile.escape);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = berth_scan::lint::lint(
        &dockerfile,
        &text,
        &berth_scan::lint::Config::default(),
        &berth_scan::lint::NoImages,
    );
});
