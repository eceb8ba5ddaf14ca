//! What a registry sends berth, on arbitrary bytes: the first line is a header value (a
//! `WWW-Authenticate` challenge, a `Content-Type`), the rest an answer's body (an error, a
//! manifest or index, an image config). Nothing may panic, and what berth prints of an error
//! carries no control characters.
#![no_main]

use berth_registry::fuzzing;
use berth_types::image::{ImageConfig, Index, Manifest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let _ = fuzzing::challenge(&head);
    let status = 400 + u16::from(body.first().copied().unwrap_or(0)) % 200;
    let said = fuzzing::error_text(status, body);
    assert!(!said.chars().any(char::is_control), "{said:?}");
    if fuzzing::manifest_media_type(&head, body).is_ok() {
        let _ = serde_json::from_slice::<Manifest>(body);
        let _ = serde_json::from_slice::<Index>(body);
    }
    let _ = serde_json::from_slice::<ImageConfig>(body);
});
