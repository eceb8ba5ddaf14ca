//! `berth sign`, `berth verify`, and the trust policy at pull and at run.
//!
//! Signatures are stored as cosign stores them: in the image's repository, under the tag
//! `sha256-<hex>.sig`, an OCI manifest whose layers are simple-signing payloads, each with its
//! signature in the `dev.cosignproject.cosign/signature` annotation. `--registry-referrers-mode
//! oci-1-1` publishes them as cosign's OCI 1.1 mode does instead: one artifact manifest per
//! signature (artifact type [`COSIGN_SIG_ARTIFACT`], the empty config, the payload as its layer)
//! whose `subject` is the signed manifest, found through the registry's referrers API or, where
//! there is none, the `sha256-<hex>` referrers tag. Reading looks in both places. A pull that a
//! `signed-by` scope governs keeps the signatures it checked, so that `run` can check them again
//! offline.

use std::collections::BTreeMap;

use berth_registry::{Options, Repository, referrers_tag};
use berth_scan::sign::{
    MAX_PAYLOAD, Payload, PrivateKey, PublicKey, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE,
    signature_tag,
};
use berth_scan::trust::{self, TrustScope, TrustType, Verified};
use berth_store::SignatureRecord;
use berth_types::image::{Descriptor, Index, Manifest, media_type};
use berth_types::{Digest, Reference};

use crate::distribution::{manifest_ref, with_repository};
use crate::{Engine, EngineError, Result};

/// The most signatures read for one manifest.
const MAX_SIGNATURES: usize = 64;
/// The artifact type of a cosign signature published as an OCI 1.1 referrer.
pub const COSIGN_SIG_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// The empty JSON object, an artifact manifest's config.
const EMPTY_JSON: &[u8] = b"{}";

/// Where `berth sign` publishes a signature (`--registry-referrers-mode`, as cosign names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersMode {
    /// The `sha256-<hex>.sig` tag, which cosign, podman and skopeo read.
    Legacy,
    /// An OCI 1.1 referrer of the signed manifest.
    Oci11,
}

/// The signatures accepted, or why none was.
pub type VerifyOutcome = std::result::Result<Vec<Verified>, Vec<String>>;

/// What the trust policy says of an image.
#[derive(Debug, Clone)]
pub enum TrustDecision {
    /// No scope applies.
    NoPolicy,
    Accept(TrustScope),
    Reject(TrustScope),
    SignedBy(TrustScope, Vec<PublicKey>),
}

impl TrustDecision {
    pub fn scope(&self) -> Option<&TrustScope> {
        match self {
            Self::NoPolicy => None,
            Self::Accept(s) | Self::Reject(s) | Self::SignedBy(s, _) => Some(s),
        }
    }
}

/// The scope and rule, as refusals name them.
fn rule_name(scope: &TrustScope) -> String {
    format!("trust scope {:?} ({})", scope.scope, scope.kind.name())
}

/// The identity a signature made now names: the repository and, for an image named by tag,
/// the tag.
fn identity(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (None, Some(t)) => format!("{}:{t}", reference.name()),
        _ => reference.name(),
    }
}

/// Reads the signatures stored for `digest` in a repository: under the `.sig` tag, then among
/// its OCI 1.1 referrers.
fn fetch_signatures(repo: &Repository<'_>, digest: &Digest) -> Result<Vec<SignatureRecord>> {
    let mut out = fetch_tagged_signatures(repo, digest)?;
    let referred = match fetch_referrer_signatures(repo, digest) {
        Ok(r) => r,
        // The `.sig` tag's signatures stand without the referrers; with none there, the
        // referrers' error is the one to tell.
        Err(e) if !out.is_empty() => {
            tracing::warn!("reading the referrers of {digest}: {e}");
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    for record in referred {
        if out.len() >= MAX_SIGNATURES {
            break;
        }
        if !out
            .iter()
            .any(|r| r.payload == record.payload && r.signature == record.signature)
        {
            out.push(record);
        }
    }
    Ok(out)
}

/// The signatures in one signature manifest's layers (the `.sig` tag's, or a referrer's).
fn signatures_in(
    repo: &Repository<'_>,
    m: &Manifest,
    out: &mut Vec<SignatureRecord>,
) -> Result<()> {
    for layer in m
        .layers
        .iter()
        .filter(|l| l.media_type == SIMPLESIGNING_MEDIA_TYPE)
    {
        if out.len() >= MAX_SIGNATURES {
            break;
        }
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        let payload = repo.blob_bytes(&layer.digest, layer.size, MAX_PAYLOAD)?;
        out.push(SignatureRecord {
            payload,
            signature: signature.clone(),
        });
    }
    Ok(())
}

/// The signatures among the referrers of `digest`: the registry's referrers API, or the
/// referrers tag where the registry has no such API.
fn fetch_referrer_signatures(
    repo: &Repository<'_>,
    digest: &Digest,
) -> Result<Vec<SignatureRecord>> {
    let index = match repo.referrers(digest)? {
        Some(index) => index,
        None => match repo.manifest(&referrers_tag(digest)) {
            Ok(m) if media_type::is_index(&m.media_type) => {
                serde_json::from_slice::<Index>(&m.bytes).map_err(|source| {
                    EngineError::InvalidJson {
                        what: format!("referrers tag {}", referrers_tag(digest)),
                        source,
                    }
                })?
            }
            // Not an index: not a referrers tag (nothing of berth's or cosign's).
            Ok(_) => return Ok(Vec::new()),
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        },
    };
    let mut out = Vec::new();
    for d in index
        .manifests
        .iter()
        .filter(|d| d.artifact_type.as_deref() == Some(COSIGN_SIG_ARTIFACT))
        .take(MAX_SIGNATURES)
    {
        // Fetched by digest, so checked against it. One listed but gone is skipped.
        let Some(m) = signature_manifest(repo, &d.digest.to_string())? else {
            continue;
        };
        // A referrers tag is anyone's to write: a manifest listed there counts only when it
        // says itself whose signature it is.
        if m.subject.as_ref().map(|s| s.digest) != Some(*digest)
            || m.artifact_type.as_deref() != Some(COSIGN_SIG_ARTIFACT)
        {
            continue;
        }
        signatures_in(repo, &m, &mut out)?;
    }
    Ok(out)
}

/// The signatures under the `.sig` tag of `digest` (none if the tag is not there).
fn fetch_tagged_signatures(repo: &Repository<'_>, digest: &Digest) -> Result<Vec<SignatureRecord>> {
    let mut out = Vec::new();
    if let Some(m) = signature_manifest(repo, &signature_tag(digest))? {
        signatures_in(repo, &m, &mut out)?;
    }
    Ok(out)
}

/// A signature manifest by tag or digest; `None` if the registry does not have it.
fn signature_manifest(repo: &Repository<'_>, reference: &str) -> Result<Option<Manifest>> {
    let fetched = match repo.manifest(reference) {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&fetched.bytes)
        .map(Some)
        .map_err(|source| EngineError::InvalidJson {
            what: format!("signature manifest {}", fetched.digest),
            source,
        })
}

fn pairs(records: &[SignatureRecord]) -> Vec<(Vec<u8>, String)> {
    records
        .iter()
        .map(|r| (r.payload.clone(), r.signature.clone()))
        .collect()
}

impl Engine {
    /// What the policy's trust scopes say of `reference`, with the keys read.
    pub fn trust_decision(
        &self,
        reference: &Reference,
        policy: &berth_scan::policy::Policy,
    ) -> Result<TrustDecision> {
        let Some(scope) = trust::scope_for(&policy.trust, &reference.name()) else {
            return Ok(TrustDecision::NoPolicy);
        };
        Ok(match scope.kind {
            TrustType::Accept => TrustDecision::Accept(scope.clone()),
            TrustType::Reject => TrustDecision::Reject(scope.clone()),
            TrustType::SignedBy => TrustDecision::SignedBy(
                scope.clone(),
                trust::load_keys(scope).map_err(EngineError::InvalidOption)?,
            ),
        })
    }

    /// The check `pull` makes before fetching anything else: a refused image is not pulled.
    /// Returns the signatures to keep with the image, and those that were accepted.
    pub(crate) fn check_trust_remote(
        &self,
        repo: &Repository<'_>,
        reference: &Reference,
        digest: &Digest,
        decision: &TrustDecision,
    ) -> Result<(Vec<SignatureRecord>, Vec<Verified>)> {
        match decision {
            TrustDecision::NoPolicy | TrustDecision::Accept(_) => Ok((Vec::new(), Vec::new())),
            TrustDecision::Reject(scope) => Err(EngineError::PolicyDenied(format!(
                "{} refused by {}",
                reference.familiar(),
                rule_name(scope)
            ))),
            TrustDecision::SignedBy(scope, keys) => {
                let records = fetch_signatures(repo, digest)?;
                let verified = trust::verify_signatures(reference, digest, &pairs(&records), keys)
                    .map_err(|reasons| {
                        EngineError::PolicyDenied(format!(
                            "{} refused by {}: {}",
                            reference.familiar(),
                            rule_name(scope),
                            reasons.join("; ")
                        ))
                    })?;
                Ok((records, verified))
            }
        }
    }

    /// The check `run`, `create` and `start` make: the image as named, against the signatures
    /// kept with it. `pinned` is the image a container was created from: `start` judges that
    /// image, and refuses if the name now stands for another.
    pub fn check_trust_local(
        &self,
        name: &str,
        policy: &berth_scan::policy::Policy,
        pinned: Option<&Digest>,
    ) -> Result<Option<Vec<Verified>>> {
        if policy.trust.is_empty() {
            return Ok(None);
        }
        let (image, _) = self.resolve_with_ref(name)?;
        if let Some(p) = pinned
            && *p != image.id
        {
            return Err(EngineError::PolicyDenied(format!(
                "{name} now names image {}, not the container's image {}: the trust policy cannot vouch for it",
                image.id.short(),
                p.short()
            )));
        }
        // The name as given decides the scope and what a signature must bind (a digest name
        // included); only an image named by ID is judged by its first tag's repository.
        let reference = Reference::parse_normalized(name)
            .ok()
            .or_else(|| image.tags.first().cloned());
        let Some(reference) = reference else {
            // Untagged and unnamed: only a catch-all scope can apply.
            let any = Reference::parse_normalized_named("localhost/untagged")?;
            return match self.trust_decision(&any, policy)? {
                TrustDecision::SignedBy(scope, _) | TrustDecision::Reject(scope)
                    if scope.scope == "*" =>
                {
                    Err(EngineError::PolicyDenied(format!(
                        "image {} has no name that {} could vouch for",
                        image.id.short(),
                        rule_name(&scope)
                    )))
                }
                _ => Ok(None),
            };
        };
        match self.trust_decision(&reference, policy)? {
            TrustDecision::NoPolicy | TrustDecision::Accept(_) => Ok(None),
            TrustDecision::Reject(scope) => Err(EngineError::PolicyDenied(format!(
                "{} refused by {}",
                reference.familiar(),
                rule_name(&scope)
            ))),
            TrustDecision::SignedBy(scope, keys) => {
                // The digests known to be this image's (its manifest, and the manifests or
                // indexes it was pulled, pushed or loaded by, each checked to lead to it).
                let known: Vec<Digest> = image
                    .repo_digests
                    .iter()
                    .filter_map(|r| r.digest().copied())
                    .chain(image.manifest.as_ref().map(|m| m.0))
                    .collect();
                let digests: Vec<Digest> = match reference.digest() {
                    // Named by digest: that digest, if it is this image's.
                    Some(d) => known.iter().filter(|k| *k == d).copied().collect(),
                    // Named by tag: the digests recorded for this repository, and the manifest.
                    None => image
                        .repo_digests
                        .iter()
                        .filter(|r| r.name() == reference.name())
                        .filter_map(|r| r.digest().copied())
                        .chain(image.manifest.as_ref().map(|m| m.0))
                        .collect(),
                };
                let mut reasons = Vec::new();
                if digests.is_empty() {
                    reasons.push("berth has no manifest digest of it from that repository (pull it, or load it with its signatures)".to_owned());
                }
                for d in &digests {
                    let records = self.store.signatures(d)?;
                    match trust::verify_signatures(&reference, d, &pairs(&records), &keys) {
                        Ok(v) => return Ok(Some(v)),
                        Err(r) => reasons.extend(r),
                    }
                }
                Err(EngineError::PolicyDenied(format!(
                    "{} refused by {}: {}",
                    reference.familiar(),
                    rule_name(&scope),
                    reasons.join("; ")
                )))
            }
        }
    }

    /// `berth sign --key K IMAGE`: signs the manifest the registry has for IMAGE and appends the
    /// signature to its `sha256-<hex>.sig` tag, or publishes it as a referrer of the manifest.
    /// Returns the digest signed.
    pub fn sign(
        &self,
        name: &str,
        key: &PrivateKey,
        options: &Options,
        mode: ReferrersMode,
    ) -> Result<Digest> {
        let reference = Reference::parse_normalized(name)?;
        with_repository(&reference, options, true, &[], |repo| {
            let signed = repo.manifest(&manifest_ref(&reference))?;
            let digest = signed.digest;
            let payload = Payload {
                reference: identity(&reference),
                manifest_digest: digest,
            }
            .to_bytes(concat!("berth ", env!("CARGO_PKG_VERSION")));
            let signature = key.sign(&payload);
            match mode {
                ReferrersMode::Legacy => {
                    self.append_signature(repo, &digest, &payload, &signature)?
                }
                ReferrersMode::Oci11 => {
                    let subject =
                        Descriptor::new(&signed.media_type, digest, signed.bytes.len() as u64);
                    publish_referrer(repo, subject, &payload, &signature)?
                }
            }
            Ok(digest)
        })
    }

    fn append_signature(
        &self,
        repo: &Repository<'_>,
        digest: &Digest,
        payload: &[u8],
        signature: &str,
    ) -> Result<()> {
        let tag = signature_tag(digest);
        let mut layers: Vec<Descriptor> = match repo.manifest(&tag) {
            Ok(m) => {
                let m: Manifest = serde_json::from_slice(&m.bytes).map_err(|source| {
                    EngineError::InvalidJson {
                        what: format!("signature manifest {}", m.digest),
                        source,
                    }
                })?;
                m.layers
            }
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let payload_digest = Digest::of(payload);
        if layers.iter().any(|l| {
            l.digest == payload_digest
                && l.annotations.get(SIGNATURE_ANNOTATION).map(String::as_str) == Some(signature)
        }) {
            return Ok(());
        }
        repo.push_bytes(payload)?;
        let mut annotations = BTreeMap::new();
        annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature.to_owned());
        let mut layer = Descriptor::new(
            SIMPLESIGNING_MEDIA_TYPE,
            payload_digest,
            payload.len() as u64,
        );
        layer.annotations = annotations;
        layers.push(layer);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
            },
        }))
        .expect("plain JSON");
        repo.push_bytes(&config)?;
        let manifest = Manifest::oci(
            Descriptor::new(
                media_type::OCI_CONFIG,
                Digest::of(&config),
                config.len() as u64,
            ),
            layers,
        );
        let bytes = serde_json::to_vec(&manifest).expect("plain JSON");
        repo.put_manifest(&tag, media_type::OCI_MANIFEST, &bytes)?;
        Ok(())
    }

    /// `berth verify --key PUB IMAGE`: the signatures in the registry that `keys` made for what
    /// IMAGE names there.
    pub fn verify(
        &self,
        name: &str,
        keys: &[PublicKey],
        options: &Options,
    ) -> Result<(Digest, VerifyOutcome)> {
        let reference = Reference::parse_normalized(name)?;
        with_repository(&reference, options, false, &[], |repo| {
            let digest = repo.manifest(&manifest_ref(&reference))?.digest;
            let records = fetch_signatures(repo, &digest)?;
            Ok((
                digest,
                trust::verify_signatures(&reference, &digest, &pairs(&records), keys),
            ))
        })
    }
}

/// Publishes a signature as an OCI 1.1 referrer of `subject`: an artifact manifest put by its
/// digest, and, when the registry does not keep referrers itself, an entry in the referrers tag
/// (read, added to, put back: two signers at the same moment can lose one entry, as with the
/// `.sig` tag).
fn publish_referrer(
    repo: &Repository<'_>,
    subject: Descriptor,
    payload: &[u8],
    signature: &str,
) -> Result<()> {
    let digest = subject.digest;
    repo.push_bytes(payload)?;
    repo.push_bytes(EMPTY_JSON)?;
    let mut layer = Descriptor::new(
        SIMPLESIGNING_MEDIA_TYPE,
        Digest::of(payload),
        payload.len() as u64,
    );
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_owned(), signature.to_owned());
    let mut manifest = Manifest::oci(
        Descriptor::new(
            media_type::OCI_EMPTY,
            Digest::of(EMPTY_JSON),
            EMPTY_JSON.len() as u64,
        ),
        vec![layer],
    );
    manifest.artifact_type = Some(COSIGN_SIG_ARTIFACT.into());
    manifest.subject = Some(subject);
    let bytes = serde_json::to_vec(&manifest).expect("plain JSON");
    if repo.put_referrer(media_type::OCI_MANIFEST, &bytes, &digest)? {
        return Ok(());
    }
    // No referrers API: the referrers tag lists the manifest, beside whatever it listed.
    let tag = referrers_tag(&digest);
    let mut index = match repo.manifest(&tag) {
        Ok(m) if media_type::is_index(&m.media_type) => serde_json::from_slice::<Index>(&m.bytes)
            .map_err(|source| {
            EngineError::InvalidJson {
                what: format!("referrers tag {tag}"),
                source,
            }
        })?,
        Ok(m) => {
            return Err(EngineError::InvalidManifest(format!(
                "the referrers tag {tag} holds a {}, not an image index",
                m.media_type
            )));
        }
        Err(e) if e.is_not_found() => Index {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        },
        Err(e) => return Err(e.into()),
    };
    let referrer = Digest::of(&bytes);
    if index.manifests.iter().any(|d| d.digest == referrer) {
        return Ok(());
    }
    let mut entry = Descriptor::new(media_type::OCI_MANIFEST, referrer, bytes.len() as u64);
    entry.artifact_type = Some(COSIGN_SIG_ARTIFACT.into());
    index.manifests.push(entry);
    let bytes = serde_json::to_vec(&index).expect("plain JSON");
    repo.put_manifest(&tag, media_type::OCI_INDEX, &bytes)?;
    Ok(())
}

/// The file `save` adds to an archive for the signatures of its images (other tools ignore it).
pub(crate) const SIGNATURES_FILE: &str = "berth-signatures.json";
/// The most entries read from an archive's signatures file.
const MAX_ARCHIVED: usize = 256;

/// One signed digest of a saved image: the name it was pulled by, the manifests from that
/// digest down to the image (an index, then its manifest; or the manifest alone), and the
/// signatures of the digest.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArchivedSignatures {
    image: Digest,
    name: String,
    chain: Vec<String>,
    signatures: Vec<ArchivedSignature>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchivedSignature {
    payload: String,
    signature: String,
}

/// Checked signatures from an archive, ready to record with their image.
pub(crate) struct ArchivedChecked {
    pub image: Digest,
    pub name: Reference,
    chain: Vec<Vec<u8>>,
    signatures: Vec<SignatureRecord>,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str, what: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| {
            EngineError::InvalidArchive(format!("{SIGNATURES_FILE}: {what} is not base64"))
        })
}

impl Engine {
    /// The signatures `save` writes for an image.
    pub(crate) fn archived_signatures(
        &self,
        image: &berth_store::ImageRecord,
    ) -> Result<Vec<ArchivedSignatures>> {
        let mut out = Vec::new();
        for name in &image.repo_digests {
            let Some(digest) = name.digest() else {
                continue;
            };
            let records = self.store.signatures(digest)?;
            let Some(top) = self.store.signed_manifest(digest)? else {
                continue;
            };
            if records.is_empty() {
                continue;
            }
            let mut chain = vec![b64(&top)];
            if digest != &image.manifest.as_ref().map_or(*digest, |m| m.0) {
                let Some((m, _)) = &image.manifest else {
                    continue;
                };
                let bytes = match self.store.signed_manifest(m)? {
                    Some(b) => b,
                    None => self.store.read_blob(m, crate::image::MAX_METADATA_BLOB)?,
                };
                chain.push(b64(&bytes));
            }
            out.push(ArchivedSignatures {
                image: image.id,
                name: name.to_string(),
                chain,
                signatures: records
                    .iter()
                    .map(|r| ArchivedSignature {
                        payload: b64(&r.payload),
                        signature: r.signature.clone(),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Reads an archive's signatures file, keeping only what provably belongs to an image of
    /// the archive: the chain must lead from the signed digest to that image's config. Anything
    /// else is refused: an archive must not attach another image's signatures to its own.
    pub(crate) fn check_archived_signatures(
        &self,
        raw: &[u8],
        images: &[Digest],
    ) -> Result<Vec<ArchivedChecked>> {
        let bad = |m: String| EngineError::InvalidArchive(format!("{SIGNATURES_FILE}: {m}"));
        let entries: Vec<ArchivedSignatures> =
            serde_json::from_slice(raw).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        if entries.len() > MAX_ARCHIVED {
            return Err(bad(format!("more than {MAX_ARCHIVED} entries")));
        }
        let mut out = Vec::new();
        for e in entries {
            let name = Reference::parse_normalized_named(&e.name)
                .map_err(|err| bad(format!("{:?}: {err}", e.name)))?;
            let Some(digest) = name.digest().copied() else {
                return Err(bad(format!("{:?} names no digest", e.name)));
            };
            if !images.contains(&e.image) {
                return Err(bad(format!("image {} is not in the archive", e.image)));
            }
            if e.chain.is_empty() || e.chain.len() > 2 || e.signatures.len() > MAX_SIGNATURES {
                return Err(bad(format!("entry {:?} is malformed", e.name)));
            }
            let chain: Vec<Vec<u8>> = e
                .chain
                .iter()
                .map(|c| unb64(c, "a manifest"))
                .collect::<Result<_>>()?;
            if Digest::of(&chain[0]) != digest {
                return Err(bad(format!(
                    "the manifest given for {} has another digest",
                    e.name
                )));
            }
            let last = chain.last().expect("not empty");
            if chain.len() == 2 {
                let index: berth_types::image::Index = serde_json::from_slice(&chain[0])
                    .map_err(|err| bad(format!("the index of {}: {err}", e.name)))?;
                let d = Digest::of(last);
                if !index.manifests.iter().any(|m| m.digest == d) {
                    return Err(bad(format!("the index of {} does not list {d}", e.name)));
                }
            }
            let m: Manifest = serde_json::from_slice(last)
                .map_err(|err| bad(format!("the manifest of {}: {err}", e.name)))?;
            if m.config.digest != e.image {
                return Err(bad(format!(
                    "{} is the manifest of {}, not of {}",
                    e.name, m.config.digest, e.image
                )));
            }
            let signatures = e
                .signatures
                .iter()
                .map(|s| {
                    Ok(SignatureRecord {
                        payload: unb64(&s.payload, "a payload")?,
                        signature: s.signature.clone(),
                    })
                })
                .collect::<Result<_>>()?;
            out.push(ArchivedChecked {
                image: e.image,
                name,
                chain,
                signatures,
            });
        }
        Ok(out)
    }

    /// Records checked archive signatures (after their images are committed).
    pub(crate) fn record_archived_signatures(&self, checked: &[ArchivedChecked]) -> Result<()> {
        for c in checked {
            let digest = c.name.digest().copied().expect("checked");
            for bytes in &c.chain {
                self.store.put_signed_manifest(bytes)?;
            }
            self.store.add_signatures(&digest, &c.signatures)?;
            self.store.add_repo_digest(&c.image, &c.name)?;
        }
        Ok(())
    }
}
