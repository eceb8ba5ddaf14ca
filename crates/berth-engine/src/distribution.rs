//! `berth pull` and `berth push`: images between the store and a registry.
//!
//! A pull streams each layer from the registry into the blob ingest area and, in the same pass,
//! applies it to a staging directory, three layers at a time; a layer the store has is not fetched.
//! Nothing is referenced before every digest (manifest, config, blobs) and every DiffID is
//! checked, so a refused pull leaves only garbage that the collection after it removes.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::io::BufReader;
use std::sync::OnceLock;

use berth_archive::{ApplyReport, ArchiveError, Compression, apply_buffered_layer};
use berth_registry::{FetchedManifest, Options, Registry, Repository};
use berth_store::{LayerRecord, NewImage, StagingDir, StoreError};
use berth_types::image::{Descriptor, ImageConfig, Index, Manifest, Platform, media_type};
use berth_types::{Digest, Reference, Sha256Writer, chain_ids};

use crate::image::MAX_METADATA_BLOB;
use crate::load::host_arch;
use crate::pipeline::{CHUNK, Drain, pipelined};
use crate::{Engine, EngineError, Result};

/// Layers moved at the same time.
const PARALLEL_LAYERS: usize = 3;
/// Blobs larger than this are uploaded with a PATCH and a closing PUT, smaller ones in one PUT.
const MONOLITHIC_MAX: u64 = 64 << 20;
/// The most layers an image may have (overlayfs mounts far fewer; Docker allows 127).
const MAX_LAYERS: usize = 256;
/// Deepest nesting of indexes followed.
const MAX_INDEX_DEPTH: usize = 4;

/// A layer downloaded and applied to a staging directory.
type Unpacked = (ApplyReport, StagingDir);

/// Where a layer's transfer is, as `docker pull` and `docker push` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    /// Pull: queued.
    Waiting,
    /// Pull: the store has the layer.
    AlreadyExists,
    /// Pull or push: bytes moved so far (`current` of `total`).
    Downloading,
    Pushing,
    /// Pull: the blob is in the store, digest checked.
    DownloadComplete,
    /// Pull: the layer is unpacked and checked against the config.
    PullComplete,
    /// Push: about to look at the registry.
    Preparing,
    /// Push: the registry has it already.
    LayerExists,
    /// Push: mounted from another repository of the registry.
    MountedFrom(String),
    Pushed,
}

/// One progress report.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub digest: Digest,
    pub status: LayerStatus,
    pub current: u64,
    pub total: u64,
}

/// Receives progress reports, from several threads.
pub type Progress<'a> = &'a (dyn Fn(Transfer) + Sync);

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub id: Digest,
    /// The reference pulled, normalised (tag `latest` when none was given).
    pub reference: Reference,
    /// The digest the reference resolved to (an index's, for a multi-platform image).
    pub digest: Digest,
    /// Whether anything was fetched (Docker's "Downloaded newer image" against "up to date").
    pub downloaded: bool,
    /// No trust scope applied: nothing checked who made the image.
    pub unchecked: bool,
    /// The signatures the trust policy accepted.
    pub verified: Vec<berth_scan::trust::Verified>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: Reference,
    pub digest: Digest,
    pub size: u64,
}

/// A `--platform` value: `os/arch[/variant]`, or the host's `linux/<arch>`.
fn platform(spec: Option<&str>) -> Result<Platform> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return Ok(Platform {
            os: "linux".into(),
            architecture: host_arch().into(),
            variant: None,
        });
    };
    let parts: Vec<&str> = spec.split('/').collect();
    let bad =
        || EngineError::InvalidOption(format!("invalid platform {spec:?}: want os/arch[/variant]"));
    match parts.as_slice() {
        [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: (*os).into(),
            architecture: (*arch).into(),
            variant: None,
        }),
        [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
            Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: Some((*variant).into()),
            })
        }
        _ => Err(bad()),
    }
}

fn platform_matches(have: Option<&Platform>, want: &Platform) -> bool {
    let Some(have) = have else { return false };
    have.os == want.os
        && have.architecture == want.architecture
        && match (&want.variant, &have.variant) {
            (None, _) => true,
            (Some(w), Some(h)) => w == h,
            // arm64's only variant is v8, which indexes often leave out.
            (Some(w), None) => want.architecture == "arm64" && w == "v8",
        }
}

/// What to ask a repository's manifests endpoint for: the reference's digest, else its tag.
pub(crate) fn manifest_ref(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.unwrap_or("latest").to_owned(),
    }
}

/// Connects to `reference`'s registry and runs `f` on its repository, opened for pulling, or
/// for pushing with read access to `mount_from` too.
pub(crate) fn with_repository<T>(
    reference: &Reference,
    options: &Options,
    push: bool,
    mount_from: &[String],
    f: impl FnOnce(&Repository<'_>) -> Result<T>,
) -> Result<T> {
    let registry = Registry::connect(reference.domain(), options)?;
    let repo = registry.repository(reference.path(), push, mount_from)?;
    f(&repo)
}

impl Engine {
    /// `berth pull NAME[:TAG|@DIGEST]`.
    pub fn pull(
        &self,
        name: &str,
        options: &Options,
        platform_spec: Option<&str>,
        policy: &berth_scan::policy::Policy,
        progress: Progress<'_>,
    ) -> Result<Pulled> {
        let reference = Reference::parse_normalized(name)?;
        let want = platform(platform_spec)?;
        let decision = self.trust_decision(&reference, policy)?;
        let result = with_repository(&reference, options, false, &[], |repo| {
            self.pull_from(repo, &reference, &want, &decision, progress)
        });
        self.clean_after(&result);
        let pulled = result?;
        let name = pulled.reference.familiar();
        self.image_event("pull", &pulled.id.to_string(), Some(&name));
        Ok(pulled)
    }

    /// Follows `top` (what `reference` resolved to) down to the manifest for `want`: `top`
    /// itself, or the one an index lists for the platform. Returns that manifest.
    fn resolve_manifest(
        &self,
        repo: &Repository<'_>,
        reference: &Reference,
        top: &FetchedManifest,
        want: &Platform,
    ) -> Result<(FetchedManifest, Manifest)> {
        let mut fetched = top.clone();
        for depth in 0.. {
            if !media_type::is_index(&fetched.media_type) {
                break;
            }
            if depth >= MAX_INDEX_DEPTH {
                return Err(EngineError::InvalidManifest(format!(
                    "{}: image indexes nest deeper than {MAX_INDEX_DEPTH}",
                    reference.familiar()
                )));
            }
            let index: Index = serde_json::from_slice(&fetched.bytes).map_err(|source| {
                EngineError::InvalidJson {
                    what: format!("index {}", fetched.digest),
                    source,
                }
            })?;
            let pick = index
                .manifests
                .iter()
                .find(|m| platform_matches(m.platform.as_ref(), want))
                .cloned()
                .ok_or_else(|| {
                    let have: Vec<String> = index
                        .manifests
                        .iter()
                        .filter_map(|m| m.platform.as_ref())
                        .take(32)
                        .map(|p| {
                            let s = match &p.variant {
                                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                                None => format!("{}/{}", p.os, p.architecture),
                            };
                            s.chars().filter(|c| !c.is_control()).take(64).collect::<String>()
                        })
                        .collect();
                    EngineError::InvalidManifest(format!(
                        "no matching manifest for {}/{}{} in the manifest list entries (it has: {})",
                        want.os,
                        want.architecture,
                        want.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default(),
                        if have.is_empty() { "none".into() } else { have.join(", ") }
                    ))
                })?;
            let next = repo.manifest(&pick.digest.to_string())?;
            check_descriptor(&pick, &next)?;
            fetched = next;
        }
        let manifest: Manifest =
            serde_json::from_slice(&fetched.bytes).map_err(|source| EngineError::InvalidJson {
                what: format!("manifest {}", fetched.digest),
                source,
            })?;
        Ok((fetched, manifest))
    }

    fn pull_from(
        &self,
        repo: &Repository<'_>,
        reference: &Reference,
        want: &Platform,
        decision: &crate::signature::TrustDecision,
        progress: Progress<'_>,
    ) -> Result<Pulled> {
        let top_fetched = repo.manifest(&manifest_ref(reference))?;
        let top = top_fetched.digest;
        // Trust first: a refused image is not fetched at all.
        let (signatures, verified) = self.check_trust_remote(repo, reference, &top, decision)?;
        let (fetched, manifest) = self.resolve_manifest(repo, reference, &top_fetched, want)?;
        if !matches!(
            manifest.config.media_type.as_str(),
            media_type::OCI_CONFIG | media_type::DOCKER_CONFIG
        ) {
            return Err(EngineError::InvalidManifest(format!(
                "{} is not a container image: its config has media type {:?}",
                reference.familiar(),
                manifest.config.media_type
            )));
        }
        if manifest.layers.len() > MAX_LAYERS {
            return Err(EngineError::InvalidManifest(format!(
                "{} has {} layers, more than the {MAX_LAYERS} berth takes",
                reference.familiar(),
                manifest.layers.len()
            )));
        }
        for l in &manifest.layers {
            if !media_type::is_layer(&l.media_type) {
                return Err(EngineError::InvalidManifest(format!(
                    "layer {} has media type {:?}, not a layer",
                    l.digest, l.media_type
                )));
            }
        }
        let id = manifest.config.digest;
        let config_bytes = if self.store.has_blob(&id) {
            self.store.read_blob(&id, MAX_METADATA_BLOB)?
        } else {
            repo.blob_bytes(&id, manifest.config.size, MAX_METADATA_BLOB)?
        };
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|source| EngineError::InvalidJson {
                what: format!("image config {id}"),
                source,
            })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            return Err(EngineError::InvalidManifest(format!(
                "image {id}: the config lists {} layers, the manifest {}",
                diff_ids.len(),
                manifest.layers.len()
            )));
        }
        let chain = chain_ids(diff_ids);
        let _lock = self.store.writer_lock()?;
        // A layer is skipped when the store has it unpacked from this same blob.
        let mut have: Vec<Option<LayerRecord>> = Vec::with_capacity(chain.len());
        for (c, desc) in chain.iter().zip(&manifest.layers) {
            let rec = self
                .store
                .layer(c)?
                .filter(|r| r.blob_digest == desc.digest && self.store.has_layer_dir(c));
            have.push(rec);
        }
        let existing = self.store.image(&id)?;
        let downloaded = existing.is_none() || have.iter().any(Option::is_none);
        for (desc, rec) in manifest.layers.iter().zip(&have) {
            progress(Transfer {
                digest: desc.digest,
                status: if rec.is_some() {
                    LayerStatus::AlreadyExists
                } else {
                    LayerStatus::Waiting
                },
                current: 0,
                total: desc.size,
            });
        }
        let todo: Vec<usize> = (0..have.len()).filter(|i| have[*i].is_none()).collect();
        let mut fetched_layers = self.download_layers(repo, &manifest.layers, &todo, progress)?;
        let mut records = Vec::with_capacity(chain.len());
        for (i, ((desc, chain_id), expected)) in
            manifest.layers.iter().zip(&chain).zip(diff_ids).enumerate()
        {
            if let Some(rec) = have[i].take() {
                records.push(rec);
                continue;
            }
            let (report, staging) = fetched_layers[i].take().expect("downloaded");
            if report.diff_id != *expected {
                return Err(EngineError::DiffIdMismatch {
                    layer: desc.digest.to_string(),
                    expected: *expected,
                    actual: report.diff_id,
                });
            }
            self.store.commit_layer_dir(staging, chain_id)?;
            progress(Transfer {
                digest: desc.digest,
                status: LayerStatus::PullComplete,
                current: desc.size,
                total: desc.size,
            });
            records.push(LayerRecord {
                chain_id: *chain_id,
                diff_id: report.diff_id,
                blob_digest: desc.digest,
                media_type: desc.media_type.clone(),
                compressed_size: desc.size,
                size: report.size,
            });
        }
        self.store.put_blob(&config_bytes)?;
        self.store.put_blob(&fetched.bytes)?;
        let repo_ref = Reference::parse_normalized_named(&reference.name())?;
        self.store.commit_image(&NewImage {
            id,
            manifest: Some((fetched.digest, fetched.media_type.clone())),
            created: config.created.clone(),
            layers: records,
            tags: reference
                .digest()
                .is_none()
                .then(|| reference.clone())
                .into_iter()
                .collect(),
            repo_digests: vec![repo_ref.with_digest(top)],
            intermediate: false,
        })?;
        if !signatures.is_empty() {
            // The chain from the signed digest to this image, for `save` to carry.
            self.store.put_signed_manifest(&top_fetched.bytes)?;
            self.store.put_signed_manifest(&fetched.bytes)?;
            self.store.add_signatures(&top, &signatures)?;
        }
        Ok(Pulled {
            id,
            reference: reference.clone(),
            digest: top,
            downloaded,
            unchecked: matches!(decision, crate::signature::TrustDecision::NoPolicy),
            verified,
        })
    }

    /// Downloads and unpacks the layers at `todo`, [`PARALLEL_LAYERS`] at a time. The first
    /// failure stops the queue; its error is returned.
    fn download_layers(
        &self,
        repo: &Repository<'_>,
        layers: &[Descriptor],
        todo: &[usize],
        progress: Progress<'_>,
    ) -> Result<Vec<Option<Unpacked>>> {
        let mut out: Vec<Option<Unpacked>> = (0..layers.len()).map(|_| None).collect();
        let results = in_parallel(todo, |_, &i| {
            self.download_layer(repo, &layers[i], progress)
        });
        let mut first_error = None;
        for (k, r) in results {
            let i = todo[k];
            match r {
                Ok(v) => out[i] = Some(v),
                Err(e) => {
                    if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_error = Some((i, e));
                    }
                }
            }
        }
        if let Some((_, e)) = first_error {
            return Err(e);
        }
        if todo.iter().any(|i| out[*i].is_none()) {
            return Err(EngineError::InvalidManifest(
                "a layer download stopped without an error".into(),
            ));
        }
        Ok(out)
    }

    /// Streams one layer into the ingest area and a staging directory at once, in three
    /// threads: the download (with the blob's hash and write), the decompression, and the
    /// unpacking (with the DiffID's hash and the files).
    fn download_layer(
        &self,
        repo: &Repository<'_>,
        desc: &Descriptor,
        progress: Progress<'_>,
    ) -> Result<Unpacked> {
        let what = format!("layer {}", desc.digest);
        let mut ingest = self.store.ingest()?;
        let staging = self.store.staging_dir()?;
        let (digest, total) = (desc.digest, desc.size);
        let mut last = 0u64;
        let reader = repo.blob(&desc.digest, desc.size).on_progress(move |n| {
            // A report every 512 KiB is enough for a bar.
            if n - last >= 512 << 10 || n == total {
                last = n;
                progress(Transfer {
                    digest,
                    status: LayerStatus::Downloading,
                    current: n,
                    total,
                });
            }
        });
        let compression = OnceLock::new();
        // The decompression thread only inflates (the busiest stage); the unpacking thread
        // hashes the DiffID as it makes the files.
        let ((applied, decoded), downloaded) = pipelined(
            || Ok(reader),
            &mut ingest,
            Drain::ToEnd,
            |compressed| {
                pipelined(
                    || {
                        let c = Compression::sniff(compressed)?;
                        let _ = compression.set(c);
                        c.decoder(compressed)
                    },
                    &mut std::io::sink(),
                    Drain::Stop,
                    |plain| apply_buffered_layer(plain, staging.path(), &self.limits),
                )
            },
        );
        if let Err(e) = downloaded {
            return Err(EngineError::Registry(berth_registry::blob_error(e, &what)));
        }
        // The digest explains a failure to apply better than the apply error does.
        // The layer's commit syncs the filesystem, the blob with it.
        let (actual, size) = match ingest.commit_unsynced(Some(&desc.digest)) {
            Ok(v) => v,
            Err(StoreError::DigestMismatch { expected, actual }) => {
                return Err(EngineError::DigestMismatch {
                    what,
                    expected,
                    actual,
                });
            }
            Err(e) => return Err(e.into()),
        };
        if size != desc.size {
            return Err(EngineError::SizeMismatch {
                what,
                expected: desc.size,
                actual: size,
            });
        }
        let format = compression.get().copied().unwrap_or(Compression::None);
        if let Err(source) = decoded {
            return Err(EngineError::Layer {
                layer: desc.digest.to_string(),
                source: ArchiveError::Decompress {
                    format: format.name(),
                    source,
                },
            });
        }
        let mut report = applied.map_err(|source| EngineError::Layer {
            layer: desc.digest.to_string(),
            source,
        })?;
        // The unpacking saw the decompressed stream: its digest is the DiffID. A stream that is
        // compressed again inside would be unpacked differently by other tools.
        if report.compression != Compression::None {
            return Err(EngineError::InvalidManifest(format!(
                "{what}: compressed twice ({} inside {})",
                report.compression.name(),
                format.name()
            )));
        }
        // The unpacking read the whole decompressed stream (or it would have failed, or the
        // decompression would have): the digest it took is the DiffID.
        report.digest = actual;
        report.compressed_size = size;
        report.compression = format;
        progress(Transfer {
            digest: desc.digest,
            status: LayerStatus::DownloadComplete,
            current: size,
            total: size,
        });
        Ok((report, staging))
    }

    /// `berth push NAME[:TAG] [DESTINATION]`.
    pub fn push(
        &self,
        name: &str,
        destination: Option<&str>,
        options: &Options,
        chunk_size: Option<u64>,
        progress: Progress<'_>,
    ) -> Result<Pushed> {
        let (image, named) = self.resolve_with_ref(name)?;
        let dest = match (destination, named) {
            (Some(d), _) => Reference::parse_normalized(d)?,
            (None, Some(r)) => r,
            (None, None) => {
                return Err(EngineError::InvalidOption(format!(
                    "{name} is an image ID: give a destination to push it to"
                )));
            }
        };
        if dest.digest().is_some() {
            return Err(EngineError::InvalidOption(format!(
                "cannot push to a digest reference: {}",
                dest.familiar()
            )));
        }
        let tag = dest.tag().unwrap_or("latest").to_owned();
        let mount_from: Vec<String> = image
            .repo_digests
            .iter()
            .chain(&image.tags)
            .filter(|r| r.domain() == dest.domain() && r.path() != dest.path())
            .map(|r| r.path().to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // The registry is reached first: layers compressed for the push are not compressed
        // for nothing when it cannot be.
        let (digest, manifest_size) = with_repository(&dest, options, true, &mount_from, |repo| {
            let (manifest_bytes, manifest_mt, manifest, sources) =
                self.push_manifest(repo, &image)?;
            let mut blobs: Vec<(&Descriptor, &BlobSource)> =
                manifest.layers.iter().zip(&sources).collect();
            blobs.push((&manifest.config, &BlobSource::Store));
            let last = blobs.len() - 1;
            for (_, r) in in_parallel(&blobs, |k, (desc, source)| {
                let push = PushBlob {
                    desc,
                    source,
                    report: k != last,
                };
                self.push_blob(repo, push, &mount_from, chunk_size, progress)
            }) {
                r?;
            }
            let digest = repo.put_manifest(&tag, &manifest_mt, &manifest_bytes)?;
            Ok((digest, manifest_bytes.len() as u64))
        })?;
        let repo_ref = Reference::parse_normalized_named(&dest.name())?;
        self.store
            .add_repo_digest(&image.id, &repo_ref.with_digest(digest))?;
        let pushed = dest.with_tag(&tag)?;
        self.image_event("push", &image.id.to_string(), Some(&pushed.familiar()));
        Ok(Pushed {
            reference: pushed,
            digest,
            size: manifest_size,
        })
    }

    /// The manifest to push: the one the image came with, when the store has every blob it
    /// names, else an OCI manifest of the stored blobs, with uncompressed layers compressed
    /// with gzip for the push (as Docker pushes them), each into a scratch file returned
    /// beside its descriptor.
    fn push_manifest(
        &self,
        repo: &Repository<'_>,
        image: &berth_store::ImageRecord,
    ) -> Result<PushManifest> {
        if let Some((digest, mt)) = &image.manifest
            && matches!(
                mt.as_str(),
                media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST
            )
            && let Ok(bytes) = self.store.read_blob(digest, MAX_METADATA_BLOB)
            && let Ok(m) = serde_json::from_slice::<Manifest>(&bytes)
            && m.config.digest == image.id
            && m.layers.len() == image.layers.len()
            && m.layers
                .iter()
                .zip(&image.layers)
                .all(|(d, l)| d.digest == l.blob_digest && d.size == l.compressed_size)
        {
            let sources = (0..m.layers.len()).map(|_| BlobSource::Store).collect();
            return Ok((bytes, mt.clone(), m, sources));
        }
        let (config, _) = self.image_config(image)?;
        let mut done = in_parallel(&image.layers, |_, l| self.push_layer(repo, l));
        done.sort_by_key(|(k, _)| *k);
        let mut layers = Vec::new();
        let mut sources = Vec::new();
        for (_, r) in done {
            let (desc, source) = r?;
            layers.push(desc);
            sources.push(source);
        }
        let manifest = Manifest::oci(
            Descriptor::new(media_type::OCI_CONFIG, image.id, config.len() as u64),
            layers,
        );
        let bytes = serde_json::to_vec(&manifest).expect("plain data");
        Ok((bytes, media_type::OCI_MANIFEST.into(), manifest, sources))
    }

    /// A stored layer as pushed: as stored when compressed, else compressed with gzip into a
    /// scratch file (the same bytes every time, so a second push finds it in the registry).
    /// The digest it had compressed is remembered: when the registry already has that blob,
    /// the layer is not compressed again (as Docker remembers the digests it pushed).
    fn push_layer(
        &self,
        repo: &Repository<'_>,
        l: &LayerRecord,
    ) -> Result<(Descriptor, BlobSource)> {
        let mt = crate::save::oci_layer_type(&l.media_type);
        if mt != media_type::OCI_LAYER {
            return Ok((
                Descriptor::new(mt, l.blob_digest, l.compressed_size),
                BlobSource::Store,
            ));
        }
        let gzip = media_type::OCI_LAYER_GZIP;
        if let Some((digest, size)) = self.store.compressed_layer(&l.diff_id, gzip)?
            && repo.has_blob(&digest)? == Some(size)
        {
            return Ok((Descriptor::new(gzip, digest, size), BlobSource::InRegistry));
        }
        let what = format!("layer {}", l.blob_digest);
        let stored = self.store.open_blob(&l.blob_digest)?;
        let mut hashed = HashingWriter {
            inner: self.store.scratch_file()?,
            hash: Sha256Writer::new(),
        };
        hashed = berth_archive::gzip(BufReader::with_capacity(CHUNK, stored), hashed)
            .map_err(EngineError::io("compress", what))?;
        let (digest, size) = hashed.hash.finish();
        self.store
            .remember_compressed_layer(&l.diff_id, gzip, &digest, size)?;
        Ok((
            Descriptor::new(gzip, digest, size),
            BlobSource::Scratch(Arc::new(hashed.inner)),
        ))
    }

    fn push_blob(
        &self,
        repo: &Repository<'_>,
        blob: PushBlob<'_>,
        mount_from: &[String],
        chunk_size: Option<u64>,
        progress: Progress<'_>,
    ) -> Result<()> {
        let PushBlob {
            desc,
            source,
            report,
        } = blob;
        let say = |status, current| {
            if report {
                progress(Transfer {
                    digest: desc.digest,
                    status,
                    current,
                    total: desc.size,
                });
            }
        };
        say(LayerStatus::Preparing, 0);
        if matches!(source, BlobSource::InRegistry) || repo.has_blob(&desc.digest)?.is_some() {
            say(LayerStatus::LayerExists, desc.size);
            return Ok(());
        }
        // A failed mount starts an ordinary upload, so one source is tried.
        let mount = mount_from.first().map(|from| (&desc.digest, from.as_str()));
        let Some(upload) = repo.start_upload(mount)? else {
            let from = mount.map(|m| m.1.to_owned()).unwrap_or_default();
            say(LayerStatus::MountedFrom(from), desc.size);
            return Ok(());
        };
        let file = match source {
            BlobSource::Scratch(f) => f.clone(),
            _ => Arc::new(self.store.open_blob(&desc.digest)?),
        };
        let len = file
            .metadata()
            .map_err(EngineError::io("stat", self.store.blob_path(&desc.digest)))?
            .len();
        if len != desc.size {
            return Err(EngineError::SizeMismatch {
                what: format!("stored blob {}", desc.digest),
                expected: desc.size,
                actual: len,
            });
        }
        say(LayerStatus::Pushing, 0);
        // A large blob goes in one PATCH and the closing PUT, as Docker and skopeo send it (some
        // registries refuse large monolithic PUTs); chunks would only cost the registry a saved
        // hash state each (0.04 s more for a 95 MB layer in 64 MiB chunks here).
        let chunk = match chunk_size {
            Some(c) => Some(c),
            None if desc.size > MONOLITHIC_MAX => Some(desc.size),
            None => None,
        };
        repo.upload(upload, &desc.digest, desc.size, file, chunk)?;
        say(LayerStatus::Pushed, desc.size);
        Ok(())
    }

    /// `berth manifest inspect`: the manifest or index a reference names, as the registry has it.
    pub fn inspect_remote(&self, name: &str, options: &Options) -> Result<FetchedManifest> {
        let reference = Reference::parse_normalized(name)?;
        with_repository(&reference, options, false, &[], |repo| {
            Ok(repo.manifest(&manifest_ref(&reference))?)
        })
    }
}

/// A manifest to push: its bytes, media type and parsed form, and where each layer's bytes are.
type PushManifest = (Vec<u8>, String, Manifest, Vec<BlobSource>);

/// Where the bytes of a blob to push are.
enum BlobSource {
    /// The stored blob of that digest.
    Store,
    /// A scratch file: the layer compressed for this push.
    Scratch(Arc<File>),
    /// Nowhere here: the layer's remembered compressed digest, which the registry was just
    /// found to have.
    InRegistry,
}

/// One blob of a push: its descriptor, where its bytes are, and whether its progress is shown
/// (the config's is not).
struct PushBlob<'a> {
    desc: &'a Descriptor,
    source: &'a BlobSource,
    report: bool,
}

/// Hashes what it writes on its way to `inner`.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256Writer,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Runs `f` on every item, [`PARALLEL_LAYERS`] at a time; after the first failure no new item
/// is started. Returns each item's index and result, in no particular order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(usize, &T) -> Result<R> + Sync,
) -> Vec<(usize, Result<R>)> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..PARALLEL_LAYERS.min(items.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(k) else { break };
                        let r = f(k, item);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        done.push((k, r));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// A manifest fetched through an index entry must be what the entry describes.
fn check_descriptor(desc: &Descriptor, fetched: &FetchedManifest) -> Result<()> {
    if fetched.bytes.len() as u64 != desc.size {
        return Err(EngineError::SizeMismatch {
            what: format!("manifest {}", desc.digest),
            expected: desc.size,
            actual: fetched.bytes.len() as u64,
        });
    }
    if fetched.media_type != desc.media_type {
        return Err(EngineError::InvalidManifest(format!(
            "manifest {}: the index says {:?}, the registry sent {:?}",
            desc.digest, desc.media_type, fetched.media_type
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        let p = platform(Some("linux/arm64/v8")).unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert!(platform_matches(
            Some(&Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: None
            }),
            &p
        ));
        let amd = platform(Some("linux/amd64")).unwrap();
        assert!(!platform_matches(None, &amd));
        assert!(platform_matches(
            Some(&Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: Some("v3".into())
            }),
            &amd
        ));
        let arm7 = platform(Some("linux/arm/v7")).unwrap();
        assert!(!platform_matches(
            Some(&Platform {
                os: "linux".into(),
                architecture: "arm".into(),
                variant: Some("v6".into())
            }),
            &arm7
        ));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/arm/"] {
            assert!(platform(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(platform(None).unwrap().os, "linux");
    }
}
