//! Layer apply on arbitrary bytes: must never panic, and never write outside its root.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let limits = berth_archive::Limits { max_header: 64 << 10, max_uncompressed: 16 << 20 };
    let _ = berth_archive::apply_layer(data, &root, &limits);
    let outside: Vec<_> = std::fs::read_dir(dir.path()).expect("read_dir").collect();
    assert_eq!(outside.len(), 1, "something was written beside the layer root");
});
