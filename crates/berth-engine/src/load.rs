//! `berth load` and `berth import`: archives in, images out, in one streaming pass.
//!
//! Every file of the archive is read once. Small files (configs, manifests) are kept in memory; large
//! ones are written to the blob ingest area and, in the same pass, applied as a layer to a staging
//! directory. Once the archive's manifests are read, each layer's DiffID is checked against its
//! image config before anything is put in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use berth_archive::{
    ApplyReport, ArchiveError, Compression, EntryKind, TeeReader, apply_layer,
    apply_layer_unhashed, for_each_entry,
};
use berth_store::{LayerRecord, NewImage, StagingDir};
use berth_types::image::{
    self, ArchiveManifestEntry, ContainerConfig, ImageConfig, Index, Manifest, RootFs, media_type,
};
use berth_types::{Digest, Reference, chain_ids};

use crate::change::apply_change;
use crate::image::MAX_METADATA_BLOB;
use crate::pipeline::{Drain, pipelined};
use crate::{Engine, EngineError, Result};

/// Total bytes of small files an archive may make berth hold in memory.
const MAX_METADATA_TOTAL: u64 = 64 << 20;
/// Deepest nesting of indexes followed.
const MAX_INDEX_DEPTH: usize = 4;

/// Where `berth load` reads from.
pub enum LoadSource<'a> {
    /// A tar stream (docker-archive or OCI layout), possibly compressed.
    Stream(Box<dyn Read + 'a>),
    /// An OCI image layout directory.
    Dir(PathBuf),
}

/// A file of the archive as read.
enum Item {
    Small(Vec<u8>),
    /// `layer` is `None` once taken: a blob listed twice is applied again from the store.
    Large {
        digest: Digest,
        size: u64,
        layer: Option<Result<(ApplyReport, StagingDir), ArchiveError>>,
    },
}

struct Ingested {
    items: HashMap<String, Item>,
    small_total: u64,
}

/// An archive path, normalised so that `./a//b` and `a/b` name the same file.
fn normalize(name: &str) -> String {
    name.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A layer ready to be put in place.
struct ReadyLayer {
    report: ApplyReport,
    media_type: String,
    staging: Option<StagingDir>,
}

impl Engine {
    /// Loads every image in the archive; returns each image with the tags it got.
    pub fn load(&self, source: LoadSource<'_>) -> Result<Vec<(Digest, Vec<Reference>)>> {
        let result = self.load_locked(source);
        self.clean_after(&result);
        if let Ok(images) = &result {
            for (id, tags) in images {
                let name = tags.first().map(Reference::familiar);
                self.image_event("load", &id.to_string(), name.as_deref());
            }
        }
        result
    }

    /// A refused archive may have put blobs or layers in place before it was found out, and an
    /// archive may carry a second copy of a layer the store has in another compression: collect them
    /// now, once this writer's lock is released, unless another writer is busy.
    pub(crate) fn clean_after<T>(&self, _result: &Result<T>) {
        if let Err(e) = self.store.try_gc() {
            tracing::warn!("collecting garbage after a failed write: {e}");
        }
    }

    fn load_locked(&self, source: LoadSource<'_>) -> Result<Vec<(Digest, Vec<Reference>)>> {
        let _lock = self.store.writer_lock()?;
        let mut ingested = Ingested {
            items: HashMap::new(),
            small_total: 0,
        };
        match source {
            LoadSource::Stream(r) => self.ingest_stream(r, &mut ingested)?,
            LoadSource::Dir(dir) => self.ingest_dir(&dir, &dir, &mut ingested, 0)?,
        }
        let images = if ingested.items.contains_key("manifest.json") {
            self.docker_archive_images(&mut ingested)?
        } else if ingested.items.contains_key("index.json") {
            self.oci_layout_images(&mut ingested)?
        } else {
            return Err(EngineError::InvalidArchive("neither manifest.json nor index.json found: not a docker-archive or OCI image layout".into()));
        };
        // Signatures are checked against the archive's images before anything is committed.
        let signatures = match ingested.items.get(crate::signature::SIGNATURES_FILE) {
            None => Vec::new(),
            Some(Item::Small(raw)) => {
                let ids: Vec<Digest> = images.iter().map(|i| i.id).collect();
                self.check_archived_signatures(raw, &ids)?
            }
            Some(Item::Large { .. }) => {
                return Err(EngineError::InvalidArchive(format!(
                    "{} is larger than {MAX_METADATA_BLOB} bytes",
                    crate::signature::SIGNATURES_FILE
                )));
            }
        };
        let mut out = Vec::new();
        for image in images {
            self.store.commit_image(&image)?;
            out.push((image.id, image.tags));
        }
        self.record_archived_signatures(&signatures)?;
        Ok(out)
    }

    fn ingest_stream(&self, r: Box<dyn Read + '_>, ingested: &mut Ingested) -> Result<()> {
        let mut buffered = BufReader::with_capacity(256 << 10, r);
        let compression =
            Compression::sniff(&mut buffered).map_err(EngineError::io("read", "archive"))?;
        let decoder = compression
            .decoder(buffered)
            .map_err(EngineError::io("read", "archive"))?;
        let mut failed = None;
        let walked = for_each_entry(decoder, &self.limits, |meta, data| {
            if meta.kind != EntryKind::File {
                return Ok(());
            }
            let name = normalize(&meta.display_path());
            self.ingest_file(&name, meta.size, data, ingested)
                .map_err(|e| {
                    failed = Some(e);
                    ArchiveError::Read {
                        source: std::io::Error::other("stopped"),
                    }
                })
        });
        match (failed, walked) {
            (Some(e), _) => Err(e),
            (None, Err(source)) => Err(EngineError::ArchiveEntry {
                entry: "(archive)".into(),
                source,
            }),
            (None, Ok(_)) => Ok(()),
        }
    }

    fn ingest_dir(
        &self,
        base: &Path,
        dir: &Path,
        ingested: &mut Ingested,
        depth: usize,
    ) -> Result<()> {
        if depth > 8 {
            return Err(EngineError::InvalidArchive(format!(
                "{} nests too deep for an OCI layout",
                dir.display()
            )));
        }
        let entries = std::fs::read_dir(dir).map_err(EngineError::io("read directory", dir))?;
        for entry in entries {
            let entry = entry.map_err(EngineError::io("read directory", dir))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(EngineError::io("stat", &path))?;
            if ft.is_dir() {
                self.ingest_dir(base, &path, ingested, depth + 1)?;
            } else if ft.is_file() {
                let name = path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let file = File::open(&path).map_err(EngineError::io("open", &path))?;
                let size = file
                    .metadata()
                    .map_err(EngineError::io("stat", &path))?
                    .len();
                self.ingest_file(&normalize(&name), size, &mut BufReader::new(file), ingested)?;
            }
        }
        Ok(())
    }

    /// Reads one file of an archive: small ones into memory, large ones into the store as a blob and,
    /// if they are a layer, applied to a staging directory in the same pass.
    fn ingest_file(
        &self,
        name: &str,
        size: u64,
        data: &mut dyn Read,
        ingested: &mut Ingested,
    ) -> Result<()> {
        if size <= MAX_METADATA_BLOB && ingested.small_total + size <= MAX_METADATA_TOTAL {
            let mut buf = Vec::with_capacity(size as usize);
            data.take(size)
                .read_to_end(&mut buf)
                .map_err(EngineError::io("read", name))?;
            ingested.small_total += size;
            ingested.items.insert(name.to_owned(), Item::Small(buf));
            return Ok(());
        }
        let mut ingest = self.store.ingest()?;
        let staging = self.store.staging_dir()?;
        // The blob's write and hash on this thread, the unpacking on another; whatever the
        // unpacking did not read still goes to the blob. The blob is hashed once: an
        // uncompressed layer's DiffID is its digest.
        let (applied, read) = pipelined(
            || Ok(&mut *data),
            &mut ingest,
            Drain::ToEnd,
            |r| apply_layer_unhashed(r, staging.path(), &self.limits),
        );
        read.map_err(EngineError::io("read", name))?;
        let claimed = name
            .strip_prefix("blobs/sha256/")
            .and_then(|h| Digest::from_hex(h).ok());
        let (digest, size) = ingest.commit(None)?;
        let layer = Some(applied.map(|mut report| {
            report.digest = digest;
            if report.compression == Compression::None {
                report.diff_id = digest;
            }
            (report, staging)
        }));
        if let Some(claimed) = claimed
            && claimed != digest
        {
            return Err(EngineError::DigestMismatch {
                what: format!("blob {name}"),
                expected: claimed,
                actual: digest,
            });
        }
        ingested.items.insert(
            name.to_owned(),
            Item::Large {
                digest,
                size,
                layer,
            },
        );
        Ok(())
    }

    fn small<'a>(&self, ingested: &'a Ingested, name: &str, what: &str) -> Result<&'a [u8]> {
        match ingested.items.get(&normalize(name)) {
            Some(Item::Small(b)) => Ok(b),
            Some(Item::Large { .. }) => Err(EngineError::InvalidArchive(format!(
                "{what} {name} is larger than {MAX_METADATA_BLOB} bytes"
            ))),
            None => Err(EngineError::InvalidArchive(format!(
                "{what} {name} is not in the archive"
            ))),
        }
    }

    /// Takes a layer out of the ingested files: applied already if it was large, applied now if small.
    fn take_layer(&self, ingested: &mut Ingested, name: &str) -> Result<ReadyLayer> {
        let key = normalize(name);
        let layer_err = |source| EngineError::Layer {
            layer: key.clone(),
            source,
        };
        match ingested.items.get_mut(&key) {
            None => Err(EngineError::InvalidArchive(format!(
                "layer {name} is not in the archive"
            ))),
            Some(Item::Small(bytes)) => {
                let staging = self.store.staging_dir()?;
                let report =
                    apply_layer(&bytes[..], staging.path(), &self.limits).map_err(layer_err)?;
                self.store.put_blob(bytes)?;
                Ok(ReadyLayer {
                    media_type: report.compression.oci_layer_media_type().into(),
                    report,
                    staging: Some(staging),
                })
            }
            Some(Item::Large {
                digest,
                size,
                layer,
            }) => {
                let (digest, size) = (*digest, *size);
                let (report, staging) = match layer.take() {
                    Some(Ok((report, staging))) => (report, Some(staging)),
                    Some(Err(e)) => return Err(layer_err(e)),
                    None => {
                        let staging = self.store.staging_dir()?;
                        let file = self.store.open_blob(&digest)?;
                        (
                            apply_layer(file, staging.path(), &self.limits).map_err(layer_err)?,
                            Some(staging),
                        )
                    }
                };
                if report.digest != digest || report.compressed_size != size {
                    return Err(EngineError::DigestMismatch {
                        what: format!("layer {key}"),
                        expected: digest,
                        actual: report.digest,
                    });
                }
                Ok(ReadyLayer {
                    media_type: report.compression.oci_layer_media_type().into(),
                    report,
                    staging,
                })
            }
        }
    }

    /// Checks the layers against the config's DiffIDs, puts them in place, and describes the image.
    fn assemble(
        &self,
        config_bytes: &[u8],
        layers: Vec<(String, ReadyLayer)>,
        tags: Vec<Reference>,
        manifest: Option<(Digest, String)>,
    ) -> Result<NewImage> {
        let id = Digest::of(config_bytes);
        let config: ImageConfig =
            serde_json::from_slice(config_bytes).map_err(|source| EngineError::InvalidJson {
                what: format!("image config {id}"),
                source,
            })?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != layers.len() {
            return Err(EngineError::InvalidArchive(format!(
                "image {id}: the config lists {} layers, the manifest {}",
                diff_ids.len(),
                layers.len()
            )));
        }
        for ((name, layer), expected) in layers.iter().zip(diff_ids) {
            if layer.report.diff_id != *expected {
                return Err(EngineError::DiffIdMismatch {
                    layer: name.clone(),
                    expected: *expected,
                    actual: layer.report.diff_id,
                });
            }
        }
        let chain = chain_ids(diff_ids);
        let mut records = Vec::with_capacity(layers.len());
        for ((_, layer), chain_id) in layers.into_iter().zip(&chain) {
            if !self.store.has_layer_dir(chain_id) {
                let staging = match layer.staging {
                    Some(s) => s,
                    None => {
                        let s = self.store.staging_dir()?;
                        apply_layer(
                            self.store.open_blob(&layer.report.digest)?,
                            s.path(),
                            &self.limits,
                        )
                        .map_err(|source| EngineError::Layer {
                            layer: layer.report.digest.to_string(),
                            source,
                        })?;
                        s
                    }
                };
                self.store.commit_layer_dir(staging, chain_id)?;
            }
            records.push(LayerRecord {
                chain_id: *chain_id,
                diff_id: layer.report.diff_id,
                blob_digest: layer.report.digest,
                media_type: layer.media_type,
                compressed_size: layer.report.compressed_size,
                size: layer.report.size,
            });
        }
        self.store.put_blob(config_bytes)?;
        Ok(NewImage {
            id,
            manifest,
            created: config.created,
            layers: records,
            tags,
            intermediate: false,
            repo_digests: Vec::new(),
        })
    }

    fn docker_archive_images(&self, ingested: &mut Ingested) -> Result<Vec<NewImage>> {
        let raw = self.small(ingested, "manifest.json", "manifest")?;
        let entries: Vec<ArchiveManifestEntry> =
            serde_json::from_slice(raw).map_err(|source| EngineError::InvalidJson {
                what: "manifest.json".into(),
                source,
            })?;
        let mut images = Vec::new();
        for entry in entries {
            let config = self.small(ingested, &entry.config, "config")?.to_vec();
            let tags = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse_normalized(t))
                .collect::<Result<Vec<_>, _>>()?;
            let mut layers = Vec::new();
            for name in &entry.layers {
                layers.push((name.clone(), self.take_layer(ingested, name)?));
            }
            images.push(self.assemble(&config, layers, tags, None)?);
        }
        Ok(images)
    }

    fn oci_layout_images(&self, ingested: &mut Ingested) -> Result<Vec<NewImage>> {
        let raw = self.small(ingested, "index.json", "index")?;
        let index: Index =
            serde_json::from_slice(raw).map_err(|source| EngineError::InvalidJson {
                what: "index.json".into(),
                source,
            })?;
        let mut images = Vec::new();
        for desc in index.manifests {
            let tags = oci_tags(&desc.annotations);
            let (manifest_desc, manifest) = self.find_manifest(ingested, desc, 0)?;
            let config = self
                .blob_bytes(ingested, &manifest.config, "config")?
                .to_vec();
            let mut layers = Vec::new();
            for l in &manifest.layers {
                if !media_type::is_layer(&l.media_type) {
                    return Err(EngineError::InvalidArchive(format!(
                        "layer {} has media type {:?}, not a layer",
                        l.digest, l.media_type
                    )));
                }
                let mut layer = self.take_layer(ingested, &blob_name(&l.digest))?;
                if layer.report.digest != l.digest || layer.report.compressed_size != l.size {
                    return Err(EngineError::DigestMismatch {
                        what: format!("layer {}", l.digest),
                        expected: l.digest,
                        actual: layer.report.digest,
                    });
                }
                layer.media_type = l.media_type.clone();
                layers.push((blob_name(&l.digest), layer));
            }
            let manifest_bytes = self
                .blob_bytes(ingested, &manifest_desc, "manifest")?
                .to_vec();
            self.store.put_blob(&manifest_bytes)?;
            let mt = manifest
                .media_type
                .clone()
                .unwrap_or_else(|| manifest_desc.media_type.clone());
            images.push(self.assemble(&config, layers, tags, Some((manifest_desc.digest, mt)))?);
        }
        Ok(images)
    }

    /// Follows indexes down to the manifest for this platform.
    fn find_manifest(
        &self,
        ingested: &Ingested,
        desc: image::Descriptor,
        depth: usize,
    ) -> Result<(image::Descriptor, Manifest)> {
        if depth > MAX_INDEX_DEPTH {
            return Err(EngineError::InvalidArchive(
                "image indexes nest too deep".into(),
            ));
        }
        let bytes = self.blob_bytes(ingested, &desc, "manifest")?;
        if media_type::is_index(&desc.media_type) {
            let index: Index =
                serde_json::from_slice(bytes).map_err(|source| EngineError::InvalidJson {
                    what: format!("index {}", desc.digest),
                    source,
                })?;
            let pick = index
                .manifests
                .into_iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_none_or(|p| p.os == "linux" && p.architecture == host_arch())
                })
                .ok_or_else(|| {
                    EngineError::InvalidArchive(format!(
                        "index {} has no manifest for linux/{}",
                        desc.digest,
                        host_arch()
                    ))
                })?;
            return self.find_manifest(ingested, pick, depth + 1);
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|source| EngineError::InvalidJson {
                what: format!("manifest {}", desc.digest),
                source,
            })?;
        Ok((desc, manifest))
    }

    /// A small blob of an OCI layout, checked against its descriptor.
    fn blob_bytes<'a>(
        &self,
        ingested: &'a Ingested,
        desc: &image::Descriptor,
        what: &str,
    ) -> Result<&'a [u8]> {
        let bytes = self.small(ingested, &blob_name(&desc.digest), what)?;
        let actual = Digest::of(bytes);
        if actual != desc.digest {
            return Err(EngineError::DigestMismatch {
                what: format!("{what} {}", desc.digest),
                expected: desc.digest,
                actual,
            });
        }
        if bytes.len() as u64 != desc.size {
            return Err(EngineError::SizeMismatch {
                what: format!("{what} {}", desc.digest),
                expected: desc.size,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// `berth import`: a root filesystem tar becomes a one-layer image.
    pub fn import(
        &self,
        src: impl Read,
        source_name: &str,
        tag: Option<Reference>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<Digest> {
        let mut container_config = ContainerConfig::default();
        for c in changes {
            apply_change(&mut container_config, c)?;
        }
        let _lock = self.store.writer_lock()?;
        let mut ingest = self.store.ingest()?;
        let staging = self.store.staging_dir()?;
        let mut tee = TeeReader::new(src, &mut ingest);
        let report = apply_layer(&mut tee, staging.path(), &self.limits).map_err(|source| {
            EngineError::Layer {
                layer: source_name.to_owned(),
                source,
            }
        })?;
        drop(tee);
        ingest.commit(Some(&report.digest))?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let config = ImageConfig {
            created: Some(now.clone()),
            architecture: host_arch().into(),
            os: "linux".into(),
            config: Some(container_config),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![report.diff_id],
            },
            history: vec![image::History {
                created: Some(now),
                created_by: None,
                comment: Some(
                    message.map_or_else(|| format!("Imported from {source_name}"), str::to_owned),
                ),
                ..Default::default()
            }],
            ..Default::default()
        };
        let config_bytes =
            serde_json::to_vec(&config).map_err(|source| EngineError::InvalidJson {
                what: "image config".into(),
                source,
            })?;
        let ready = ReadyLayer {
            media_type: report.compression.oci_layer_media_type().into(),
            report,
            staging: Some(staging),
        };
        let image = self.assemble(
            &config_bytes,
            vec![(source_name.to_owned(), ready)],
            tag.into_iter().collect(),
            None,
        )?;
        self.store.commit_image(&image)?;
        Ok(image.id)
    }
}

impl Engine {
    /// Stores an image made of `base`'s layers and one new layer, applied in `staging`, with
    /// `config` (whose DiffIDs must list them all): `berth commit`.
    pub(crate) fn commit_image_with_layer(
        &self,
        config: &ImageConfig,
        base_layers: &[berth_store::LayerRecord],
        layer: Option<(ApplyReport, StagingDir)>,
        tag: Option<Reference>,
        intermediate: bool,
    ) -> Result<Digest> {
        let config_bytes =
            serde_json::to_vec(config).map_err(|source| EngineError::InvalidJson {
                what: "image config".into(),
                source,
            })?;
        // The base's layers are in the store already: nothing of them is applied again.
        let mut layers: Vec<(String, ReadyLayer)> = base_layers
            .iter()
            .map(|l| {
                let ready = ReadyLayer {
                    report: ApplyReport {
                        compression: Compression::None,
                        digest: l.blob_digest,
                        compressed_size: l.compressed_size,
                        diff_id: l.diff_id,
                        size: l.size,
                        entries: 0,
                        root: None,
                    },
                    media_type: l.media_type.clone(),
                    staging: None,
                };
                (l.diff_id.to_string(), ready)
            })
            .collect();
        if let Some((report, staging)) = layer {
            layers.push((
                "the new layer".into(),
                ReadyLayer {
                    media_type: report.compression.oci_layer_media_type().into(),
                    report,
                    staging: Some(staging),
                },
            ));
        }
        let mut image = self.assemble(&config_bytes, layers, tag.into_iter().collect(), None)?;
        image.intermediate = intermediate;
        self.store.commit_image(&image)?;
        Ok(image.id)
    }
}

pub(crate) fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The names an OCI layout gives an image: containerd's full name, else a ref.name that is a
/// whole reference. A bare tag names no repository, so the image loads untagged.
fn oci_tags(annotations: &std::collections::BTreeMap<String, String>) -> Vec<Reference> {
    let name = annotations
        .get(image::ANNOTATION_CONTAINERD_NAME)
        .or_else(|| {
            annotations
                .get(image::ANNOTATION_REF_NAME)
                .filter(|n| n.contains(['/', ':']))
        });
    name.and_then(|n| Reference::parse_normalized(n).ok())
        .into_iter()
        .collect()
}
