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
        let image = self.resolve_image(name)?;
        let (_, config) = self.image_config(&image)?;
        // History entries that made a layer, in order, say how each layer was made.
        let mut made_by = config
            .history
            .iter()
            .filter(|h| !h.empty_layer)
            .map(|h| h.created_by.clone());
        let mut collector = Collector::new();
        for layer in &image.layers {
            let created_by = made_by.next().flatten();
            let name = format!("blob {}", layer.blob_digest);
            let mut blob = std::io::BufReader::new(self.store.open_blob(&layer.blob_digest)?);
            let compression =
                Compression::sniff(&mut blob).map_err(EngineError::io("read", &name))?;
            let decoded = compression
                .decoder(blob)
                .map_err(EngineError::io("read", &name))?;
            collector.add_layer(&layer.diff_id.to_string(), created_by.as_deref(), decoded);
        }
        Ok((image, collector.finish()))
    }
}

impl Engine {
    /// The vulnerability database, created empty on first use.
    pub fn vulndb(&self) -> Result<VulnDb> {
        Ok(VulnDb::open(&self.store.root().join("vulndb"))?)
    }

    /// `berth scan`: the image's packages and the advisories that affect them.
    pub fn scan(&self, name: &str) -> Result<(ImageRecord, Inventory, Vec<Finding>)> {
        let (image, inventory) = self.inventory(name)?;
        let db = self.vulndb()?;
        let findings = berth_scan::vulndb::find(&inventory, &db)?;
        Ok((image, inventory, findings))
    }
}
