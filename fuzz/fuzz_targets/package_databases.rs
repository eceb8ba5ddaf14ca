//! The package-database parsers and the secret scanner on arbitrary bytes: the input is placed at
//! every path berth reads a database from, in one layer, and the inventory must never panic.
#![no_main]

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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut b = tar::Builder::new(Vec::new());
    for path in PATHS {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data).expect("an in-memory tar");
    }
    let layer = b.into_inner().expect("an in-memory tar");
    let mut c = berth_scan::inventory::Collector::new().with_secrets();
    c.add_layer("sha256:0", None, &layer[..]);
    // The raw bytes as a layer of their own: a hostile tar stream.
    c.add_layer("sha256:1", None, data);
    let inv = c.finish();
    let _ = serde_json::to_vec(&inv);
});
