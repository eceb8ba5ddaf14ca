//! Image signatures in sigstore's cosign key-pair format, readable by cosign and by
//! containers/image's `sigstoreSigned` policy.
//!
//! - A private key is an ECDSA P-256 key in PKCS#8 DER, encrypted with NaCl secretbox under a key
//!   derived from the passphrase with scrypt, as JSON inside a PEM block labelled
//!   `ENCRYPTED COSIGN PRIVATE KEY` (read also as `ENCRYPTED SIGSTORE PRIVATE KEY`). berth writes
//!   scrypt's N = 2^15, which every cosign and containers/image version reads, and reads 2^15,
//!   2^16 and 2^17, refusing other parameters (a key file must not make berth spin).
//! - A public key is a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
//! - A signature is ECDSA over SHA-256 of a "simple signing" payload that names the manifest
//!   digest and the image's identity, DER-encoded and base64'd.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use berth_types::Digest;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde_json::{Map, Value};

/// The media type of a signature layer (its blob is the payload).
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation that holds the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type`.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";
/// The largest payload read.
pub const MAX_PAYLOAD: u64 = 64 << 10;

const PRIVATE_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
const PRIVATE_LABELS: [&str; 2] = [PRIVATE_LABEL, "ENCRYPTED SIGSTORE PRIVATE KEY"];
const PUBLIC_LABEL: &str = "PUBLIC KEY";
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_ACCEPTED_LOG_N: [u8; 3] = [15, 16, 17];

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Key(String),
    #[error("the passphrase does not open the private key")]
    Passphrase,
    #[error("invalid signature payload: {0}")]
    Payload(String),
    #[error("{0}")]
    Signature(String),
}

type Result<T> = std::result::Result<T, SignError>;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

/// The base64 body of the one PEM block labelled with one of `labels`.
fn pem_body(pem: &str, labels: &[&str]) -> Result<Vec<u8>> {
    let mut lines = pem.lines().map(str::trim).skip_while(|l| l.is_empty());
    let first = lines
        .next()
        .ok_or_else(|| SignError::Key("the key file is empty".into()))?;
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| SignError::Key("not a PEM file".into()))?;
    if !labels.contains(&label) {
        return Err(SignError::Key(format!(
            "a PEM {label:?}, not {}",
            labels
                .iter()
                .map(|l| format!("{l:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    let end = format!("-----END {label}-----");
    let mut b64 = String::new();
    for line in lines.by_ref() {
        if line == end {
            return STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| SignError::Key(format!("bad base64 in the PEM block: {e}")));
        }
        if line.contains(':') {
            return Err(SignError::Key("PEM headers are not supported".into()));
        }
        b64.push_str(line);
        if b64.len() > 1 << 20 {
            return Err(SignError::Key("the PEM block is too large".into()));
        }
    }
    Err(SignError::Key(format!("no {end:?} line")))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn derive(passphrase: &[u8], salt: &[u8], log_n: u8) -> Result<[u8; 32]> {
    let params = scrypt::Params::new(log_n, 8, 1, 32)
        .map_err(|e| SignError::Key(format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, salt, &params, &mut key)
        .map_err(|e| SignError::Key(format!("scrypt: {e}")))?;
    Ok(key)
}

/// A private signing key.
pub struct PrivateKey(SigningKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// A new random key.
    pub fn generate() -> Self {
        loop {
            let bytes: [u8; 32] = random_bytes();
            if let Ok(k) = SigningKey::from_slice(&bytes) {
                return Self(k);
            }
        }
    }

    /// The key as cosign writes it: encrypted under `passphrase` (which may be empty).
    pub fn encrypt(&self, passphrase: &[u8]) -> Result<String> {
        let der = self
            .0
            .to_pkcs8_der()
            .map_err(|e| SignError::Key(format!("encoding the key: {e}")))?;
        let salt: [u8; 32] = random_bytes();
        let nonce: [u8; 24] = random_bytes();
        let key = derive(passphrase, &salt, SCRYPT_LOG_N)?;
        let sealed = XSalsa20Poly1305::new(&key.into())
            .encrypt(&nonce.into(), der.as_bytes())
            .map_err(|_| SignError::Key("encrypting the key failed".into()))?;
        let json = serde_json::json!({
            "kdf": {
                "name": "scrypt",
                "params": {"N": 1u32 << SCRYPT_LOG_N, "r": 8, "p": 1},
                "salt": STANDARD.encode(salt),
            },
            "cipher": {"name": "nacl/secretbox", "nonce": STANDARD.encode(nonce)},
            "ciphertext": STANDARD.encode(sealed),
        });
        Ok(pem_encode(
            PRIVATE_LABEL,
            &serde_json::to_vec(&json).expect("plain JSON"),
        ))
    }

    /// Opens an encrypted key file's contents.
    pub fn decrypt(pem: &str, passphrase: &[u8]) -> Result<Self> {
        let body = pem_body(pem, &PRIVATE_LABELS)?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| SignError::Key(format!("the encrypted key is not JSON: {e}")))?;
        let field =
            |path: &[&str]| -> Option<&Value> { path.iter().try_fold(&v, |cur, k| cur.get(*k)) };
        let text = |path: &[&str]| -> Result<&str> {
            field(path).and_then(Value::as_str).ok_or_else(|| {
                SignError::Key(format!("the encrypted key has no {}", path.join(".")))
            })
        };
        let bytes = |path: &[&str]| -> Result<Vec<u8>> {
            STANDARD
                .decode(text(path)?)
                .map_err(|_| SignError::Key(format!("{} is not base64", path.join("."))))
        };
        if text(&["kdf", "name"])? != "scrypt" {
            return Err(SignError::Key("the key's KDF is not scrypt".into()));
        }
        if text(&["cipher", "name"])? != "nacl/secretbox" {
            return Err(SignError::Key(
                "the key's cipher is not nacl/secretbox".into(),
            ));
        }
        let num = |k: &str| field(&["kdf", "params", k]).and_then(Value::as_u64);
        let (n, r, p) = (num("N"), num("r"), num("p"));
        let log_n = SCRYPT_ACCEPTED_LOG_N
            .iter()
            .copied()
            .find(|l| n == Some(1u64 << l))
            .filter(|_| r == Some(8) && p == Some(1))
            .ok_or_else(|| {
                SignError::Key(format!(
                    "unexpected scrypt parameters N={n:?} r={r:?} p={p:?} (berth reads N of 2^15, 2^16 or 2^17 with r=8, p=1)"
                ))
            })?;
        let salt = bytes(&["kdf", "salt"])?;
        let nonce = bytes(&["cipher", "nonce"])?;
        if nonce.len() != 24 {
            return Err(SignError::Key("the nonce is not 24 bytes".into()));
        }
        let sealed = bytes(&["ciphertext"])?;
        let key = derive(passphrase, &salt, log_n)?;
        let nonce: [u8; 24] = nonce.try_into().expect("checked");
        let der = XSalsa20Poly1305::new(&key.into())
            .decrypt(&nonce.into(), sealed.as_slice())
            .map_err(|_| SignError::Passphrase)?;
        let key = SigningKey::from_pkcs8_der(&der).map_err(|e| {
            SignError::Key(format!("the decrypted key is not a PKCS#8 P-256 key: {e}"))
        })?;
        Ok(Self(key))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }

    /// The base64 DER signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> String {
        let sig: Signature = self.0.sign(payload);
        STANDARD.encode(sig.to_der().as_bytes())
    }
}

/// A public key that signatures are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<Self> {
        // The label is checked first, for a clear error when given the private key.
        pem_body(pem, &[PUBLIC_LABEL])?;
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|e| SignError::Key(format!("not a P-256 public key: {e}")))
    }

    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes")
    }

    /// A short name for the key: the start of its SubjectPublicKeyInfo's SHA-256.
    pub fn fingerprint(&self) -> String {
        let der = self.0.to_public_key_der().expect("a P-256 key encodes");
        Digest::of(der.as_bytes()).hex()[..16].to_owned()
    }

    /// Checks a base64 DER signature of `payload` (the bytes as stored, never re-serialised).
    pub fn verify(&self, payload: &[u8], signature_b64: &str) -> Result<()> {
        let der = STANDARD
            .decode(signature_b64.trim())
            .map_err(|_| SignError::Signature("the signature is not base64".into()))?;
        let sig = Signature::from_der(&der).map_err(|_| {
            SignError::Signature("the signature is not a DER ECDSA signature".into())
        })?;
        self.0
            .verify(payload, &sig)
            .map_err(|_| SignError::Signature(format!("not signed by key {}", self.fingerprint())))
    }
}

/// What a signature says: the manifest digest and the identity it was signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `docker-reference`: a repository (`host/ns/repo`), or a repository and tag.
    pub reference: String,
    pub manifest_digest: Digest,
}

impl Payload {
    /// The payload bytes to sign, in cosign's key order.
    pub fn to_bytes(&self, creator: &str) -> Vec<u8> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let v = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": self.reference},
                "image": {"docker-manifest-digest": self.manifest_digest.to_string()},
                "type": PAYLOAD_TYPE,
            },
            "optional": {"creator": creator, "timestamp": now},
        });
        serde_json::to_vec(&v).expect("plain JSON")
    }

    /// Reads a payload strictly, as containers/image does: exactly the known fields in
    /// `critical`, and `optional` present (possibly null).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() as u64 > MAX_PAYLOAD {
            return Err(SignError::Payload(format!(
                "{} bytes, more than {MAX_PAYLOAD}",
                bytes.len()
            )));
        }
        let bad = |m: &str| SignError::Payload(m.into());
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let top = v.as_object().ok_or_else(|| bad("not an object"))?;
        exact_fields(top, &["critical", "optional"], "the payload")?;
        if !(top["optional"].is_null() || top["optional"].is_object()) {
            return Err(bad("optional is neither null nor an object"));
        }
        let critical = top["critical"]
            .as_object()
            .ok_or_else(|| bad("critical is not an object"))?;
        exact_fields(critical, &["identity", "image", "type"], "critical")?;
        if critical["type"].as_str() != Some(PAYLOAD_TYPE) {
            return Err(bad(&format!("critical.type is not {PAYLOAD_TYPE:?}")));
        }
        let image = critical["image"]
            .as_object()
            .ok_or_else(|| bad("critical.image is not an object"))?;
        exact_fields(image, &["docker-manifest-digest"], "critical.image")?;
        let digest = image["docker-manifest-digest"]
            .as_str()
            .and_then(|d| d.parse::<Digest>().ok())
            .ok_or_else(|| bad("docker-manifest-digest is not a sha256 digest"))?;
        let identity = critical["identity"]
            .as_object()
            .ok_or_else(|| bad("critical.identity is not an object"))?;
        exact_fields(identity, &["docker-reference"], "critical.identity")?;
        let reference = identity["docker-reference"]
            .as_str()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("docker-reference is not a string"))?;
        Ok(Self {
            reference: reference.to_owned(),
            manifest_digest: digest,
        })
    }
}

fn exact_fields(m: &Map<String, Value>, want: &[&str], what: &str) -> Result<()> {
    for k in m.keys() {
        if !want.contains(&k.as_str()) {
            return Err(SignError::Payload(format!(
                "{what} has an unknown field {k:?}"
            )));
        }
    }
    for k in want {
        if !m.contains_key(*k) {
            return Err(SignError::Payload(format!("{what} has no {k:?}")));
        }
    }
    Ok(())
}

/// The tag cosign stores an image's signatures under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_signatures() {
        let key = PrivateKey::generate();
        let pem = key.encrypt(b"correct horse").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        let opened = PrivateKey::decrypt(&pem, b"correct horse").unwrap();
        assert_eq!(opened.public(), key.public());
        assert!(matches!(
            PrivateKey::decrypt(&pem, b"wrong"),
            Err(SignError::Passphrase)
        ));
        // The newer label reads the same.
        let relabelled = pem.replace("COSIGN PRIVATE", "SIGSTORE PRIVATE");
        assert!(PrivateKey::decrypt(&relabelled, b"correct horse").is_ok());
        let public = PublicKey::from_pem(&key.public().to_pem()).unwrap();
        let payload = Payload {
            reference: "localhost:5000/app:1".into(),
            manifest_digest: Digest::of(b"manifest"),
        }
        .to_bytes("berth test");
        let sig = key.sign(&payload);
        public.verify(&payload, &sig).unwrap();
        let mut tampered = payload.clone();
        tampered[10] ^= 1;
        assert!(public.verify(&tampered, &sig).is_err());
        let other = PrivateKey::generate().public();
        assert!(
            other
                .verify(&payload, &sig)
                .unwrap_err()
                .to_string()
                .contains("not signed by key")
        );
        assert!(public.verify(&payload, "%%%").is_err());
        assert!(public.verify(&payload, "AAAA").is_err());
        let parsed = Payload::parse(&payload).unwrap();
        assert_eq!(parsed.reference, "localhost:5000/app:1");
        assert_eq!(parsed.manifest_digest, Digest::of(b"manifest"));
    }

    #[test]
    fn empty_passphrase_still_encrypts() {
        let key = PrivateKey::generate();
        let pem = key.encrypt(b"").unwrap();
        assert!(PrivateKey::decrypt(&pem, b"").is_ok());
        assert!(PrivateKey::decrypt(&pem, b"x").is_err());
    }

    #[test]
    fn hostile_key_files() {
        let key = PrivateKey::generate();
        let pem = key.encrypt(b"pw").unwrap();
        let body = pem_body(&pem, &PRIVATE_LABELS).unwrap();
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        let rewrap = |v: &Value| pem_encode(PRIVATE_LABEL, &serde_json::to_vec(v).unwrap());
        let mut slow = v.clone();
        slow["kdf"]["params"]["N"] = Value::from(1u64 << 30);
        assert!(
            PrivateKey::decrypt(&rewrap(&slow), b"pw")
                .unwrap_err()
                .to_string()
                .contains("unexpected scrypt parameters")
        );
        let mut r = v.clone();
        r["kdf"]["params"]["r"] = Value::from(1024);
        assert!(PrivateKey::decrypt(&rewrap(&r), b"pw").is_err());
        v["cipher"]["name"] = Value::from("aes-gcm");
        assert!(PrivateKey::decrypt(&rewrap(&v), b"pw").is_err());
        for bad in [
            "",
            "not pem",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n%%%\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nAAAA\n",
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nW10=\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
        ] {
            assert!(PrivateKey::decrypt(bad, b"pw").is_err(), "{bad}");
        }
        // A private key given where a public one is wanted says so.
        let e = PublicKey::from_pem(&pem).unwrap_err().to_string();
        assert!(e.contains("not \"PUBLIC KEY\""), "{e}");
    }

    #[test]
    fn payloads_are_read_strictly() {
        let d = Digest::of(b"m").to_string();
        let ok = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        assert!(Payload::parse(ok.as_bytes()).is_ok());
        for bad in [
            ok.replace(r#","optional":null"#, ""),
            ok.replace(r#""type""#, r#""extra":1,"type""#),
            ok.replace("cosign container image signature", "something else"),
            ok.replace(&d, "sha512:00"),
            ok.replace(r#""r""#, r#""""#),
            ok.replace(r#""optional":null"#, r#""optional":3"#),
            ok.replace("docker-reference", "docker-ref"),
            "[]".into(),
            "{".into(),
        ] {
            assert!(Payload::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let big = vec![b' '; MAX_PAYLOAD as usize + 1];
        assert!(Payload::parse(&big).is_err());
    }
}
