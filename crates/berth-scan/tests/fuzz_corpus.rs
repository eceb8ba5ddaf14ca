//! Replays the fuzz targets' corpora (fuzz/corpus/package_databases, advisories and signatures)
//! through the same entry points, so every input the fuzzer kept stays a test.

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

#[test]
fn signature_corpus() {
    use berth_scan::policy::Policy;
    use berth_scan::sign::{Payload, PrivateKey, PublicKey};
    use berth_scan::trust::verify_signatures;
    use berth_types::{Digest, Reference};
    let key = PrivateKey::generate();
    let wanted = Reference::parse_normalized("registry.example/team/app:1").unwrap();
    let digest = Digest::of(b"the manifest");
    let mut parsed = 0;
    for file in corpus("signatures") {
        let data = std::fs::read(&file).unwrap();
        let signatures = [(data.clone(), key.sign(&data))];
        if verify_signatures(&wanted, &digest, &signatures, &[key.public()]).is_ok() {
            let payload = Payload::parse(&data).unwrap();
            assert_eq!(payload.manifest_digest, digest, "{}", file.display());
            let signed = Reference::parse_normalized_named(&payload.reference).unwrap();
            assert_eq!(signed.name(), wanted.name(), "{}", file.display());
        }
        parsed += usize::from(Payload::parse(&data).is_ok());
        let text = String::from_utf8_lossy(&data);
        if let Ok(public) = PublicKey::from_pem(&text) {
            assert!(public.verify(b"payload", "c2lnbmF0dXJl").is_err());
        }
        let _ = PrivateKey::decrypt(&text, b"passphrase");
        let _ = Policy::parse(&text);
        for line in text.lines().take(8) {
            let _ = Reference::parse_normalized(line);
        }
    }
    assert!(parsed >= 1, "the seed payload parses");
}
