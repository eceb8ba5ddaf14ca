//! The trust policy: which images berth accepts, by registry or repository, and whose
//! signatures they need. It lives in the policy file:
//!
//! ```toml
//! [[trust]]
//! scope = "registry.example.com/team"   # a registry, a namespace or a repository; "*" for all
//! type = "signed-by"                     # accept | reject | signed-by
//! keys = ["/etc/berth/keys/team.pub"]    # cosign public keys (signed-by)
//! ```
//!
//! The longest scope that contains an image's repository applies. With no scope for it, the
//! image is accepted (and `pull` warns that nothing checked it).
//!
//! A signature is accepted only if it binds everything the image was named by: the manifest
//! digest always, the repository always, and, when the image is named by tag, that tag. A
//! signature whose identity is a bare repository (as cosign writes them) is accepted for an image
//! named by digest, but not for one named by tag: it does not say which tag it signed, and
//! accepting it would let any signed image of the repository stand in for the tag asked for.

use berth_types::{Digest, Reference};
use serde::Deserialize;

use crate::sign::{Payload, PublicKey};

/// What a scope requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustType {
    Accept,
    Reject,
    SignedBy,
}

impl TrustType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::SignedBy => "signed-by",
        }
    }
}

/// One `[[trust]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustScope {
    pub scope: String,
    #[serde(rename = "type")]
    pub kind: TrustType,
    #[serde(default)]
    pub keys: Vec<std::path::PathBuf>,
}

/// A scope in the form image names are compared in: `*`, a registry (`localhost:5000`,
/// `docker.io`), or a repository or namespace as Docker normalises it (`busybox` is
/// `docker.io/library/busybox`). Tags, digests, schemes and wildcards are refused: a scope that
/// could never match would let images through unchecked.
fn normalize_scope(scope: &str) -> Result<String, String> {
    let s = scope.trim_end_matches('/');
    if s == "*" {
        return Ok(s.into());
    }
    if s.is_empty() || s.contains("://") || s.contains('*') || s.contains('@') {
        return Err(format!(
            "trust scope {scope:?}: not a registry or repository name"
        ));
    }
    if !s.contains('/') && (s.contains('.') || s.contains(':') || s == "localhost") {
        let domain = s.to_ascii_lowercase();
        return Ok(match domain.as_str() {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
            _ => domain,
        });
    }
    let r =
        Reference::parse_normalized_named(s).map_err(|e| format!("trust scope {scope:?}: {e}"))?;
    if r.tag().is_some() || r.digest().is_some() {
        return Err(format!(
            "trust scope {scope:?}: a scope names a repository, not a tag or digest"
        ));
    }
    Ok(format!("{}/{}", r.domain().to_ascii_lowercase(), r.path()))
}

/// A repository name as scopes are compared with it.
fn comparable(repository: &str) -> String {
    match repository.split_once('/') {
        Some((domain, path)) => format!("{}/{path}", domain.to_ascii_lowercase()),
        None => repository.to_ascii_lowercase(),
    }
}

/// Checks a policy's trust scopes when it is read, and normalises them.
pub(crate) fn check_scopes(scopes: &mut [TrustScope]) -> Result<(), String> {
    for s in scopes.iter_mut() {
        s.scope = normalize_scope(&s.scope)?;
        for k in &s.keys {
            if !k.is_absolute() {
                return Err(format!(
                    "trust scope {:?}: key {} must be an absolute path",
                    s.scope,
                    k.display()
                ));
            }
        }
    }
    for (i, s) in scopes.iter().enumerate() {
        if scopes[..i].iter().any(|o| o.scope == s.scope) {
            return Err(format!("trust scope {:?} is defined twice", s.scope));
        }
        match s.kind {
            TrustType::SignedBy if s.keys.is_empty() => {
                return Err(format!(
                    "trust scope {:?}: signed-by needs at least one key",
                    s.scope
                ));
            }
            TrustType::Accept | TrustType::Reject if !s.keys.is_empty() => {
                return Err(format!(
                    "trust scope {:?}: keys are only for signed-by",
                    s.scope
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `scope` contains the repository `name` (`host/path`).
fn contains(scope: &str, name: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    scope == "*" || name == scope || name.starts_with(&format!("{scope}/"))
}

/// The scope that applies to a repository (`host/path`): the longest that contains it.
pub fn scope_for<'a>(scopes: &'a [TrustScope], repository: &str) -> Option<&'a TrustScope> {
    let repository = comparable(repository);
    scopes
        .iter()
        .filter(|s| contains(&s.scope, &repository))
        .max_by_key(|s| if s.scope == "*" { 0 } else { s.scope.len() + 1 })
}

/// A signature that was accepted.
#[derive(Debug, Clone)]
pub struct Verified {
    pub payload: Payload,
    pub key: String,
}

/// Why a signature was not accepted for an image named `wanted` with manifest `digest`.
fn identity_problem(payload: &Payload, wanted: &Reference, digest: &Digest) -> Option<String> {
    if payload.manifest_digest != *digest {
        return Some(format!(
            "it signs manifest {}, not {digest}",
            payload.manifest_digest
        ));
    }
    let signed = match Reference::parse_normalized_named(&payload.reference) {
        Ok(r) => r,
        Err(e) => {
            return Some(format!(
                "its identity {:?} is not a reference: {e}",
                payload.reference
            ));
        }
    };
    if signed.digest().is_some() {
        return Some(format!(
            "its identity {:?} names a digest, not a repository",
            payload.reference
        ));
    }
    if signed.name() != wanted.name() {
        return Some(format!(
            "it is for repository {}, not {}",
            signed.name(),
            wanted.name()
        ));
    }
    if wanted.digest().is_none()
        && let Some(tag) = wanted.tag()
    {
        match signed.tag() {
            Some(t) if t == tag => {}
            Some(t) => return Some(format!("it is for tag {t}, not {tag}")),
            None => {
                return Some(format!(
                    "it names repository {} without a tag, so it cannot vouch for tag {tag} (name the image by digest to use it)",
                    signed.name()
                ));
            }
        }
    }
    None
}

/// Checks signatures (payload bytes and base64 signature) of manifest `digest`, for an image
/// named `wanted`, against `keys`. Returns the accepted ones, or every reason none was.
pub fn verify_signatures(
    wanted: &Reference,
    digest: &Digest,
    signatures: &[(Vec<u8>, String)],
    keys: &[PublicKey],
) -> Result<Vec<Verified>, Vec<String>> {
    let mut verified = Vec::new();
    let mut reasons = Vec::new();
    if signatures.is_empty() {
        reasons.push(format!("no signature for {digest}"));
    }
    for (i, (payload, signature)) in signatures.iter().enumerate() {
        let n = i + 1;
        let Some(key) = keys.iter().find(|k| k.verify(payload, signature).is_ok()) else {
            reasons.push(format!("signature {n}: not made by any trusted key"));
            continue;
        };
        let parsed = match Payload::parse(payload) {
            Ok(p) => p,
            Err(e) => {
                reasons.push(format!("signature {n}: {e}"));
                continue;
            }
        };
        match identity_problem(&parsed, wanted, digest) {
            Some(p) => reasons.push(format!("signature {n}: {p}")),
            None => verified.push(Verified {
                payload: parsed,
                key: key.fingerprint(),
            }),
        }
    }
    if verified.is_empty() {
        Err(reasons)
    } else {
        Ok(verified)
    }
}

/// Reads the public keys a scope names.
pub fn load_keys(scope: &TrustScope) -> Result<Vec<PublicKey>, String> {
    scope
        .keys
        .iter()
        .map(|path| {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                format!("trust scope {:?}: key {}: {e}", scope.scope, path.display())
            })?;
            PublicKey::from_pem(&pem)
                .map_err(|e| format!("trust scope {:?}: key {}: {e}", scope.scope, path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::PrivateKey;

    fn scope(s: &str, kind: TrustType) -> TrustScope {
        TrustScope {
            scope: s.into(),
            kind,
            keys: vec![],
        }
    }

    #[test]
    fn longest_scope_wins() {
        let scopes = vec![
            scope("*", TrustType::Reject),
            scope("localhost:5000", TrustType::Accept),
            scope("localhost:5000/team", TrustType::SignedBy),
        ];
        let kind = |r: &str| scope_for(&scopes, r).map(|s| s.kind);
        assert_eq!(kind("localhost:5000/team/app"), Some(TrustType::SignedBy));
        assert_eq!(kind("localhost:5000/team"), Some(TrustType::SignedBy));
        assert_eq!(kind("localhost:5000/teamx/app"), Some(TrustType::Accept));
        assert_eq!(kind("docker.io/library/busybox"), Some(TrustType::Reject));
        assert_eq!(
            scope_for(&scopes[1..], "docker.io/library/x").map(|s| s.kind),
            None
        );
    }

    #[test]
    fn scopes_are_checked() {
        let mut s = scope("x", TrustType::SignedBy);
        assert!(check_scopes(&mut [s.clone()]).is_err());
        s.keys.push("/k.pub".into());
        assert!(check_scopes(&mut [s.clone()]).is_ok());
        assert!(check_scopes(&mut [s.clone(), s.clone()]).is_err());
        let mut relative = s.clone();
        relative.keys = vec!["k.pub".into()];
        assert!(check_scopes(&mut [relative]).is_err());
        let mut a = scope("y", TrustType::Accept);
        a.keys.push("/k.pub".into());
        assert!(check_scopes(&mut [a]).is_err());
        assert!(check_scopes(&mut [scope("", TrustType::Accept)]).is_err());
        for bad in [
            "registry.example.com/*",
            "localhost:5000/app:v1",
            "https://x.io/a",
            "x.io/a@sha256:00",
        ] {
            assert!(
                check_scopes(&mut [scope(bad, TrustType::Reject)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_are_normalised_as_image_names_are() {
        let mut scopes = vec![
            scope("busybox", TrustType::Reject),
            scope("Registry.Example.com/team/", TrustType::Accept),
            scope("index.docker.io", TrustType::Accept),
            scope("localhost:5000", TrustType::Reject),
        ];
        check_scopes(&mut scopes).unwrap();
        let names: Vec<&str> = scopes.iter().map(|s| s.scope.as_str()).collect();
        assert_eq!(
            names,
            [
                "docker.io/library/busybox",
                "registry.example.com/team",
                "docker.io",
                "localhost:5000"
            ]
        );
        let kind = |r: &str| scope_for(&scopes, r).map(|s| s.kind);
        assert_eq!(kind("docker.io/library/busybox"), Some(TrustType::Reject));
        assert_eq!(kind("docker.io/library/alpine"), Some(TrustType::Accept));
        assert_eq!(
            kind("REGISTRY.example.com/team/app"),
            Some(TrustType::Accept)
        );
        assert_eq!(kind("localhost:5000/x"), Some(TrustType::Reject));
        assert_eq!(kind("localhost:50001/x"), None);
    }

    #[test]
    fn signatures_bind_digest_repository_and_tag() {
        let key = PrivateKey::generate();
        let keys = [key.public()];
        let d = Digest::of(b"manifest");
        let sign = |reference: &str, digest: Digest| {
            let p = Payload {
                reference: reference.into(),
                manifest_digest: digest,
            }
            .to_bytes("test");
            let s = key.sign(&p);
            vec![(p, s)]
        };
        let by_tag = Reference::parse_normalized("localhost:5000/app:1").unwrap();
        let by_digest = Reference::parse_normalized(&format!("localhost:5000/app@{d}")).unwrap();
        // Tag-bound signatures verify by tag and by digest.
        let tagged = sign("localhost:5000/app:1", d);
        assert!(verify_signatures(&by_tag, &d, &tagged, &keys).is_ok());
        assert!(verify_signatures(&by_digest, &d, &tagged, &keys).is_ok());
        // A repository-only signature verifies by digest only.
        let bare = sign("localhost:5000/app", d);
        assert!(verify_signatures(&by_digest, &d, &bare, &keys).is_ok());
        let e = verify_signatures(&by_tag, &d, &bare, &keys).unwrap_err();
        assert!(e[0].contains("without a tag"), "{e:?}");
        // Another tag, another repository, another digest.
        let e =
            verify_signatures(&by_tag, &d, &sign("localhost:5000/app:2", d), &keys).unwrap_err();
        assert!(e[0].contains("for tag 2, not 1"), "{e:?}");
        let e =
            verify_signatures(&by_tag, &d, &sign("localhost:5000/other:1", d), &keys).unwrap_err();
        assert!(
            e[0].contains("for repository localhost:5000/other"),
            "{e:?}"
        );
        let e = verify_signatures(
            &by_tag,
            &d,
            &sign("localhost:5000/app:1", Digest::of(b"x")),
            &keys,
        )
        .unwrap_err();
        assert!(e[0].contains("it signs manifest"), "{e:?}");
        // A tampered payload, a wrong key, no signature.
        let mut tampered = tagged.clone();
        let i = tampered[0].0.len() - 3;
        tampered[0].0[i] ^= 1;
        assert!(verify_signatures(&by_tag, &d, &tampered, &keys).is_err());
        let other = [PrivateKey::generate().public()];
        let e = verify_signatures(&by_tag, &d, &tagged, &other).unwrap_err();
        assert!(e[0].contains("not made by any trusted key"), "{e:?}");
        assert!(verify_signatures(&by_tag, &d, &[], &keys).is_err());
        // Docker Hub's names normalise both ways.
        let hub = Reference::parse_normalized("busybox:1").unwrap();
        assert!(
            verify_signatures(&hub, &d, &sign("docker.io/library/busybox:1", d), &keys).is_ok()
        );
    }
}
