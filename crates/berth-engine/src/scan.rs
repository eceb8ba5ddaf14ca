//! Image security analysis over the store: the package inventory of an image, read from its
//! layer blobs as streams (nothing is unpacked, mounted or run), for `berth sbom`; the local
//! vulnerability database (`<root>/vulndb`), and `berth scan`.

use berth_archive::Compression;
use berth_scan::inventory::{Collector, Inventory};
use berth_scan::vulndb::{Finding, VulnDb};
use berth_store::ImageRecord;

use crate::{Engine, EngineError, Result};

impl Engine {
    /// The packages image `name` installs, each with the layer (and its `created_by`) that
    /// brought it in.
    pub fn inventory(&self, name: &str) -> Result<(ImageRecord, Inventory)> {
        self.read_image(name, false)
    }

    /// The inventory, and with `secrets` every file and the config searched for secrets.
    fn read_image(&self, name: &str, secrets: bool) -> Result<(ImageRecord, Inventory)> {
        let image = self.resolve_image(name)?;
        let (_, config) = self.image_config(&image)?;
        let (mut collector, mut made_by) = start(&config, secrets);
        for layer in &image.layers {
            let created_by = made_by.next().flatten();
            let name = format!("blob {}", layer.blob_digest);
            let mut blob = std::io::BufReader::new(self.store.open_blob(&layer.blob_digest)?);
            let compression =
                Compression::sniff(&mut blob).map_err(EngineError::io("read", &name))?;
            let diff_id = layer.diff_id.to_string();
            if compression == Compression::None {
                // A plain tar on disk: what the scan does not read is skipped by seeking.
                collector.add_layer_seekable(&diff_id, created_by.as_deref(), blob);
            } else {
                let decoded = compression
                    .decoder(blob)
                    .map_err(EngineError::io("read", &name))?;
                collector.add_layer(&diff_id, created_by.as_deref(), decoded);
            }
        }
        let mut inventory = collector.finish();
        if secrets {
            inventory.secrets.extend(config_secrets(&config));
        }
        Ok((image, inventory))
    }
}

impl Engine {
    /// The vulnerability database, created empty on first use.
    pub fn vulndb(&self) -> Result<VulnDb> {
        Ok(VulnDb::open(&self.store.root().join("vulndb"))?)
    }

    /// `berth scan`: the image's packages and, as asked, the advisories that affect them
    /// (`vulns`) and the secrets in its files and config (`secrets`, in the inventory).
    pub fn scan(
        &self,
        name: &str,
        vulns: bool,
        secrets: bool,
    ) -> Result<(ImageRecord, Inventory, Vec<Finding>)> {
        // Results are kept per image and scanners until the next database import.
        let image = self.resolve_image(name)?;
        let db = self.vulndb()?;
        let key = format!("vuln={vulns},secret={secrets}");
        let id = image.id.to_string();
        if let Some(text) = db.cached(&id, &key)?
            && let Ok((inventory, findings)) =
                serde_json::from_str::<(Inventory, Vec<Finding>)>(&text)
        {
            return Ok((image, inventory, findings));
        }
        let (image, inventory) = self.read_image(&id, secrets)?;
        let findings = if vulns {
            berth_scan::vulndb::find(&inventory, &db)?
        } else {
            Vec::new()
        };
        if let Ok(text) = serde_json::to_string(&(&inventory, &findings)) {
            db.cache(&id, &key, &text)?;
        }
        Ok((image, inventory, findings))
    }
}

/// A collector for an image with `config` (searching for secrets too with `secrets`), and how
/// each of its layers was made: the `created_by` of the history entries that made a layer, in
/// order.
fn start(
    config: &berth_types::image::ImageConfig,
    secrets: bool,
) -> (Collector, impl Iterator<Item = Option<String>> + '_) {
    let collector = if secrets {
        Collector::new().with_secrets()
    } else {
        Collector::new()
    };
    let made_by = config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone());
    (collector, made_by)
}

/// Secrets in an image config's Env, Labels and history.
fn config_secrets(config: &berth_types::image::ImageConfig) -> Vec<berth_scan::secrets::Secret> {
    let c = config.config.clone().unwrap_or_default();
    let labels: Vec<(String, String)> = c.labels.unwrap_or_default().into_iter().collect();
    let history: Vec<Option<String>> = config
        .history
        .iter()
        .map(|h| h.created_by.clone())
        .collect();
    berth_scan::secrets::scan_config(&c.env.unwrap_or_default(), &labels, &history)
}

/// Largest JSON member (manifest, index, config) read from an archive.
const MAX_ARCHIVE_JSON: u64 = 4 << 20;

/// A tar member: where its contents start and how long they are.
#[derive(Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

/// One docker-archive `manifest.json` entry.
#[derive(serde::Deserialize)]
struct ArchiveImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

impl Engine {
    /// `berth scan --input` and `berth sbom --input`: the inventory of the first image in a
    /// docker-archive or OCI archive (a plain tar), read in place: nothing is loaded into the
    /// store. Returns the image's name (its first tag, or the archive's file name), its ID and
    /// the inventory.
    pub fn inventory_of_archive(
        &self,
        path: &std::path::Path,
        secrets: bool,
    ) -> Result<(String, String, Inventory)> {
        use std::io::{Read, Seek, SeekFrom};
        let file = std::fs::File::open(path).map_err(EngineError::io("open", path))?;
        let mut reader = std::io::BufReader::new(file);
        if Compression::sniff(&mut reader).map_err(EngineError::io("read", path))?
            != Compression::None
        {
            return Err(EngineError::InvalidArchive(format!(
                "{}: a compressed archive; scan the uncompressed tar",
                path.display()
            )));
        }
        // Pass one: where every member is.
        let mut members = std::collections::HashMap::new();
        {
            let mut archive = tar::Archive::new(&mut reader);
            let not_tar = |e: std::io::Error| {
                EngineError::InvalidArchive(format!("{}: not a tar archive: {e}", path.display()))
            };
            let entries = archive.entries_with_seek().map_err(not_tar)?;
            for entry in entries {
                let entry = entry.map_err(not_tar)?;
                let name = String::from_utf8_lossy(&entry.path_bytes())
                    .trim_start_matches("./")
                    .to_owned();
                members.insert(
                    name,
                    Member {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    },
                );
            }
        }
        let mut file = reader.into_inner();
        let mut read_json = |name: &str| -> Result<Vec<u8>> {
            let m = members.get(name).copied().ok_or_else(|| {
                EngineError::InvalidArchive(format!("{}: no {name}", path.display()))
            })?;
            if m.size > MAX_ARCHIVE_JSON {
                return Err(EngineError::InvalidArchive(format!(
                    "{}: {name} is larger than {MAX_ARCHIVE_JSON} bytes",
                    path.display()
                )));
            }
            let mut data = Vec::new();
            file.seek(SeekFrom::Start(m.offset))
                .and_then(|_| (&mut file).take(m.size).read_to_end(&mut data))
                .map_err(EngineError::io("read", path))?;
            Ok(data)
        };
        let invalid = |what: &str, e: serde_json::Error| {
            EngineError::InvalidArchive(format!("{}: {what}: {e}", path.display()))
        };
        let blob = |d: &berth_types::Digest| format!("blobs/sha256/{}", d.hex());
        // docker-archive: manifest.json; OCI: index.json, its first manifest.
        let (name, config_name, layer_names) = if members.contains_key("manifest.json") {
            let images: Vec<ArchiveImage> = serde_json::from_slice(&read_json("manifest.json")?)
                .map_err(|e| invalid("manifest.json", e))?;
            let first = images.into_iter().next().ok_or_else(|| {
                EngineError::InvalidArchive(format!(
                    "{}: manifest.json lists no image",
                    path.display()
                ))
            })?;
            let name = first.repo_tags.and_then(|t| t.into_iter().next());
            (name, first.config, first.layers)
        } else {
            let index: berth_types::image::Index =
                serde_json::from_slice(&read_json("index.json")?)
                    .map_err(|e| invalid("index.json", e))?;
            let desc = index.manifests.first().ok_or_else(|| {
                EngineError::InvalidArchive(format!(
                    "{}: index.json lists no manifest",
                    path.display()
                ))
            })?;
            let name = desc
                .annotations
                .get("org.opencontainers.image.ref.name")
                .cloned();
            let manifest: berth_types::image::Manifest =
                serde_json::from_slice(&read_json(&blob(&desc.digest))?)
                    .map_err(|e| invalid("the image manifest", e))?;
            let layers = manifest.layers.iter().map(|l| blob(&l.digest)).collect();
            (name, blob(&manifest.config.digest), layers)
        };
        let config_raw = read_json(&config_name)?;
        let config: berth_types::image::ImageConfig =
            serde_json::from_slice(&config_raw).map_err(|e| invalid("the image config", e))?;
        let id = berth_types::Digest::of(&config_raw).to_string();
        let (mut collector, mut made_by) = start(&config, secrets);
        for (i, layer) in layer_names.iter().enumerate() {
            let m = members
                .get(layer.trim_start_matches("./"))
                .copied()
                .ok_or_else(|| {
                    EngineError::InvalidArchive(format!("{}: no layer {layer}", path.display()))
                })?;
            file.seek(SeekFrom::Start(m.offset))
                .map_err(EngineError::io("read", path))?;
            let mut member = std::io::BufReader::new((&mut file).take(m.size));
            let compression =
                Compression::sniff(&mut member).map_err(EngineError::io("read", path))?;
            let decoded = compression
                .decoder(member)
                .map_err(EngineError::io("read", path))?;
            let diff_id = config
                .rootfs
                .diff_ids
                .get(i)
                .map_or_else(|| layer.clone(), ToString::to_string);
            collector.add_layer(&diff_id, made_by.next().flatten().as_deref(), decoded);
        }
        let mut inventory = collector.finish();
        if secrets {
            inventory.secrets.extend(config_secrets(&config));
        }
        let name = name.unwrap_or_else(|| {
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        });
        Ok((name, id, inventory))
    }
}

impl Engine {
    /// `berth scan --input ARCHIVE`: [`Engine::scan`] for an archive read in place.
    pub fn scan_archive(
        &self,
        path: &std::path::Path,
        vulns: bool,
        secrets: bool,
    ) -> Result<(String, String, Inventory, Vec<Finding>)> {
        let (name, id, inventory) = self.inventory_of_archive(path, secrets)?;
        let findings = if vulns {
            berth_scan::vulndb::find(&inventory, &self.vulndb()?)?
        } else {
            Vec::new()
        };
        Ok((name, id, inventory, findings))
    }
}

/// osv.dev's exports, one zip per ecosystem berth matches: what `berth db update` fetches when
/// given no `--source`.
pub const OSV_SOURCES: &[&str] = &[
    "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Alpine/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/AlmaLinux/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Go/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/crates.io/all.zip",
    "https://osv-vulnerabilities.storage.googleapis.com/Maven/all.zip",
];

/// The largest download accepted.
const MAX_DOWNLOAD: u64 = 4 << 30;

impl Engine {
    /// `berth db update`: fetches each source (an OSV zip, or any file `db import` reads) over
    /// HTTP or HTTPS and imports it. Connections time out after 10 s and downloads after 10
    /// minutes, so an offline machine gets an error naming the source, not a hang.
    pub fn db_update(&self, sources: &[String]) -> Result<berth_scan::vulndb::ImportReport> {
        use std::io::Read;
        let fetch_error = |url: &str, message: String| EngineError::Fetch {
            url: url.to_owned(),
            message,
        };
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(600))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fetch_error("https", e.to_string()))?;
        let dir = self.store.root().join("vulndb").join("download");
        std::fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
        let mut files = Vec::new();
        let result = (|| {
            for (i, url) in sources.iter().enumerate() {
                let response = client.get(url).send().map_err(|e| {
                    fetch_error(
                        url,
                        format!("cannot be reached ({e}); is this machine offline?"),
                    )
                })?;
                if !response.status().is_success() {
                    return Err(fetch_error(url, format!("answered {}", response.status())));
                }
                // Named so the import knows a zip from a list.
                let name = url
                    .rsplit('/')
                    .next()
                    .unwrap_or("download")
                    .replace("%20", " ");
                let path = dir.join(format!("{i}-{name}"));
                let mut file =
                    std::fs::File::create(&path).map_err(EngineError::io("create", &path))?;
                files.push(path.clone());
                let copied = std::io::copy(&mut response.take(MAX_DOWNLOAD + 1), &mut file)
                    .map_err(|e| fetch_error(url, format!("download failed: {e}")))?;
                if copied > MAX_DOWNLOAD {
                    return Err(fetch_error(
                        url,
                        format!("larger than {MAX_DOWNLOAD} bytes"),
                    ));
                }
            }
            Ok(self.vulndb()?.import(&files)?)
        })();
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        result
    }
}
