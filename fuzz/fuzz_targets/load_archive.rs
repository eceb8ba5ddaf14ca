//! `berth load` on arbitrary archives: must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = berth_engine::Engine::open(dir.path()).expect("store").with_limits(berth_archive::Limits { max_header: 64 << 10, max_uncompressed: 16 << 20 });
    let _ = engine.load(berth_engine::LoadSource::Stream(Box::new(data)));
});
