//! Signature and trust inputs on arbitrary bytes: a simple-signing payload (as if signed by a
//! trusted key, so that its identity checks are reached), PEM keys, an encrypted key file, the
//! policy file and image references. Nothing may panic, and a payload is accepted only for the
//! digest and repository it names.
#![no_main]

use std::sync::OnceLock;

use berth_scan::policy::Policy;
use berth_scan::sign::{Payload, PrivateKey, PublicKey};
use berth_scan::trust::verify_signatures;
use berth_types::{Digest, Reference};

fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(PrivateKey::generate)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let key = key();
    let signature = key.sign(data);
    let wanted = Reference::parse_normalized("registry.example/team/app:1").unwrap();
    let digest = Digest::of(b"the manifest");
    let signatures = [(data.to_vec(), signature)];
    if let Ok(ok) = verify_signatures(&wanted, &digest, &signatures, &[key.public()]) {
        // Accepted: the payload names exactly this digest and repository.
        let parsed = Payload::parse(data).expect("accepted, so it parses");
        assert_eq!(parsed.manifest_digest, digest);
        let signed = Reference::parse_normalized_named(&parsed.reference).unwrap();
        assert_eq!(signed.name(), wanted.name());
        assert_eq!(ok.len(), 1);
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(public) = PublicKey::from_pem(&text) {
        let _ = public.verify(b"payload", "c2lnbmF0dXJl");
        let _ = public.fingerprint();
    }
    let _ = PrivateKey::decrypt(&text, b"passphrase");
    let _ = Policy::parse(&text);
    for line in text.lines().take(8) {
        let _ = Reference::parse_normalized(line);
    }
});
