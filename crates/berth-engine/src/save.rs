//! `berth save`: images out as a docker-archive (Docker 25+'s combined layout, which Docker, Podman and
//! skopeo all read) or an OCI archive.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use berth_archive::Compression;
use berth_store::ImageRecord;
use berth_types::image::{
    self, ArchiveManifestEntry, Descriptor, Index, Manifest, OciLayout, media_type,
};
use berth_types::{Digest, Reference};

use crate::load::blob_name;
use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
}

struct Writer<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<Digest>,
}

impl<W: Write> Writer<W> {
    fn header(path: &str, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let _ = path;
        h
    }

    fn file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut h = Self::header(path, data.len() as u64);
        self.tar
            .append_data(&mut h, path, data)
            .map_err(EngineError::io("write", path))
    }

    fn blob(&mut self, digest: &Digest, size: u64, data: impl Read) -> Result<()> {
        if self.written.insert(*digest) {
            let path = blob_name(digest);
            let mut h = Self::header(&path, size);
            self.tar
                .append_data(&mut h, &path, data)
                .map_err(EngineError::io("write", &path))?;
        }
        Ok(())
    }
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialising plain data")
}

impl Engine {
    /// Writes the named images to `out`.
    pub fn save(&self, names: &[String], format: SaveFormat, out: impl Write) -> Result<()> {
        let mut w = Writer {
            tar: tar::Builder::new(out),
            written: HashSet::new(),
        };
        w.file(
            "oci-layout",
            &json(&OciLayout {
                image_layout_version: media_type::OCI_LAYOUT_VERSION.into(),
            }),
        )?;
        let mut index = Index {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        };
        let mut docker_manifest = Vec::new();
        let mut seen = HashSet::new();
        let mut signatures = Vec::new();
        let mut signed_images = HashSet::new();
        for name in names {
            let (image, tag) = self.resolve_with_ref(name)?;
            if !seen.insert((image.id, tag.clone())) {
                continue;
            }
            if signed_images.insert(image.id) {
                signatures.extend(self.archived_signatures(&image)?);
            }
            let tags: Vec<Reference> = tag.into_iter().collect();
            let (manifest_desc, layer_paths) = match format {
                SaveFormat::DockerArchive => self.write_uncompressed(&mut w, &image)?,
                SaveFormat::OciArchive => self.write_as_stored(&mut w, &image)?,
            };
            for t in tags.iter().map(Some).chain(tags.is_empty().then_some(None)) {
                let mut d = manifest_desc.clone();
                if let Some(t) = t {
                    d.annotations
                        .insert(image::ANNOTATION_CONTAINERD_NAME.into(), t.to_string());
                    d.annotations.insert(
                        image::ANNOTATION_REF_NAME.into(),
                        if format == SaveFormat::OciArchive {
                            t.to_string()
                        } else {
                            t.tag().unwrap_or("latest").into()
                        },
                    );
                }
                index.manifests.push(d);
            }
            docker_manifest.push(ArchiveManifestEntry {
                config: blob_name(&image.id),
                repo_tags: Some(tags.iter().map(Reference::familiar).collect()),
                layers: layer_paths,
                layer_sources: None,
            });
        }
        w.file("index.json", &json(&index))?;
        if !signatures.is_empty() {
            w.file(crate::signature::SIGNATURES_FILE, &json(&signatures))?;
        }
        if format == SaveFormat::DockerArchive {
            w.file("manifest.json", &json(&docker_manifest))?;
        }
        w.tar
            .into_inner()
            .and_then(|mut o| o.flush())
            .map_err(EngineError::io("write", "archive"))?;
        Ok(())
    }

    fn write_config(&self, w: &mut Writer<impl Write>, image: &ImageRecord) -> Result<Descriptor> {
        let (raw, _) = self.image_config(image)?;
        w.blob(&image.id, raw.len() as u64, &raw[..])?;
        Ok(Descriptor::new(
            media_type::OCI_CONFIG,
            image.id,
            raw.len() as u64,
        ))
    }

    fn write_manifest(
        &self,
        w: &mut Writer<impl Write>,
        manifest: &Manifest,
    ) -> Result<Descriptor> {
        let bytes = json(manifest);
        let digest = Digest::of(&bytes);
        w.blob(&digest, bytes.len() as u64, &bytes[..])?;
        Ok(Descriptor::new(
            media_type::OCI_MANIFEST,
            digest,
            bytes.len() as u64,
        ))
    }

    /// docker-archive: layers uncompressed, so each blob's digest is its DiffID.
    fn write_uncompressed(
        &self,
        w: &mut Writer<impl Write>,
        image: &ImageRecord,
    ) -> Result<(Descriptor, Vec<String>)> {
        let config = self.write_config(w, image)?;
        let mut layers = Vec::new();
        for l in &image.layers {
            let mut blob = std::io::BufReader::new(self.store.open_blob(&l.blob_digest)?);
            let compression = Compression::sniff(&mut blob)
                .map_err(EngineError::io("read", blob_name(&l.blob_digest)))?;
            let decoded = compression
                .decoder(blob)
                .map_err(EngineError::io("read", blob_name(&l.blob_digest)))?;
            w.blob(&l.diff_id, l.size, decoded.take(l.size))?;
            layers.push(Descriptor::new(media_type::OCI_LAYER, l.diff_id, l.size));
        }
        let paths = layers.iter().map(|d| blob_name(&d.digest)).collect();
        let manifest = Manifest::oci(config, layers);
        Ok((self.write_manifest(w, &manifest)?, paths))
    }

    /// OCI archive: the blobs as stored, and the stored manifest when it is an OCI one.
    fn write_as_stored(
        &self,
        w: &mut Writer<impl Write>,
        image: &ImageRecord,
    ) -> Result<(Descriptor, Vec<String>)> {
        let config = self.write_config(w, image)?;
        let mut layers = Vec::new();
        for l in &image.layers {
            let blob = self.store.open_blob(&l.blob_digest)?;
            w.blob(&l.blob_digest, l.compressed_size, blob)?;
            let mt = oci_layer_type(&l.media_type);
            layers.push(Descriptor::new(mt, l.blob_digest, l.compressed_size));
        }
        let paths = layers.iter().map(|d| blob_name(&d.digest)).collect();
        if let Some((digest, mt)) = &image.manifest
            && mt == media_type::OCI_MANIFEST
        {
            let raw = self
                .store
                .read_blob(digest, crate::image::MAX_METADATA_BLOB)?;
            w.blob(digest, raw.len() as u64, &raw[..])?;
            return Ok((
                Descriptor::new(mt.clone(), *digest, raw.len() as u64),
                paths,
            ));
        }
        let manifest = Manifest::oci(config, layers);
        Ok((self.write_manifest(w, &manifest)?, paths))
    }
}

pub(crate) fn oci_layer_type(mt: &str) -> &str {
    match mt {
        media_type::DOCKER_LAYER => media_type::OCI_LAYER,
        media_type::DOCKER_LAYER_GZIP | media_type::DOCKER_FOREIGN_LAYER => {
            media_type::OCI_LAYER_GZIP
        }
        media_type::DOCKER_LAYER_ZSTD => media_type::OCI_LAYER_ZSTD,
        other => other,
    }
}
