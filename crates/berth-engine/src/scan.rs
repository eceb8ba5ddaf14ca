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
        // History entries that made a layer, in order, say how each layer was made.
        let mut made_by = config
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .map(|h| h.created_by.clone());
        let mut collector = if secrets {
            Collector::new().with_secrets()
        } else {
            Collector::new()
        };
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
            let c = config.config.unwrap_or_default();
            let labels: Vec<(String, String)> = c.labels.unwrap_or_default().into_iter().collect();
            let history: Vec<Option<String>> =
                config.history.into_iter().map(|h| h.created_by).collect();
            inventory.secrets.extend(berth_scan::secrets::scan_config(
                &c.env.unwrap_or_default(),
                &labels,
                &history,
            ));
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
        let (image, inventory) = self.read_image(name, secrets)?;
        let findings = if vulns {
            berth_scan::vulndb::find(&inventory, &self.vulndb()?)?
        } else {
            Vec::new()
        };
        Ok((image, inventory, findings))
    }
}
