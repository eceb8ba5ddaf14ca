use berth_store::{GcReport, ImageRecord};
use berth_types::image::ImageConfig;
use berth_types::{Digest, Reference};

use crate::{Engine, EngineError, Result};

/// Largest config or manifest berth reads into memory.
pub(crate) const MAX_METADATA_BLOB: u64 = 4 << 20;

/// One line of what `rmi` or `image prune` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    Untagged(Reference),
    Deleted(Digest),
}

#[derive(Debug, Default)]
pub struct Removed {
    pub events: Vec<RemoveEvent>,
    pub gc: Option<GcReport>,
}

impl Engine {
    /// Finds an image by reference, full ID, or unique ID prefix, as Docker does.
    pub fn resolve_image(&self, name: &str) -> Result<ImageRecord> {
        self.resolve_with_ref(name).map(|(image, _)| image)
    }

    /// Like [`Engine::resolve_image`], and says which tag (if any) the name was.
    pub fn resolve_with_ref(&self, name: &str) -> Result<(ImageRecord, Option<Reference>)> {
        let not_found = || EngineError::NoSuchImage(name.to_owned());
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let looks_like_id = !hex.is_empty()
            && hex.len() <= 64
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if let Ok(reference) = Reference::parse_normalized(name) {
            let found = match reference.digest() {
                Some(d) => self.store.images()?.into_iter().find(|i| {
                    i.repo_digests.iter().any(|r| r.digest() == Some(d))
                        || i.manifest.as_ref().is_some_and(|m| m.0 == *d)
                }),
                None => self
                    .store
                    .lookup_tag(&reference)?
                    .and_then(|id| self.store.image(&id).transpose())
                    .transpose()?,
            };
            if let Some(image) = found {
                let tag = reference.digest().is_none().then_some(reference);
                return Ok((image, tag));
            }
        }
        if looks_like_id && (hex.len() >= 4 || name.starts_with("sha256:")) {
            let ids = self.store.image_ids_with_prefix(hex)?;
            return match ids.as_slice() {
                [] => Err(not_found()),
                [id] => Ok((self.store.image(id)?.ok_or_else(not_found)?, None)),
                _ => Err(EngineError::Ambiguous {
                    name: name.to_owned(),
                }),
            };
        }
        Err(not_found())
    }

    /// The image's config as stored.
    pub fn image_config(&self, image: &ImageRecord) -> Result<(Vec<u8>, ImageConfig)> {
        let raw = self.store.read_blob(&image.id, MAX_METADATA_BLOB)?;
        let config = serde_json::from_slice(&raw).map_err(|source| EngineError::InvalidJson {
            what: format!("image config {}", image.id),
            source,
        })?;
        Ok((raw, config))
    }

    /// `berth tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let image = self.resolve_image(source)?;
        let target = Reference::parse_normalized(target)?;
        if target.digest().is_some() {
            return Err(EngineError::InvalidArchive(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        self.store.tag(&image.id, &target)?;
        self.image_event("tag", &image.id.to_string(), Some(&target.familiar()));
        Ok(())
    }

    /// `berth rmi [-f] NAME`: untags, and deletes the image once nothing names or uses it.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Removed> {
        let (image, tag) = self.resolve_with_ref(name)?;
        let mut removed = Removed::default();
        let short = image.id.short();
        if let Some(tag) = &tag
            && image.tags.len() > 1
        {
            self.store.untag(tag)?;
            self.image_event("untag", &image.id.to_string(), Some(&tag.familiar()));
            removed.events.push(RemoveEvent::Untagged(tag.clone()));
            return Ok(removed);
        }
        if image.containers > 0 && !force {
            return Err(EngineError::Conflict {
                id: short,
                why: format!("image is being used by {} container(s)", image.containers),
            });
        }
        if tag.is_none() && image.tags.len() > 1 && !force {
            return Err(EngineError::Conflict {
                id: short,
                why: "image is referenced in multiple repositories".into(),
            });
        }
        self.delete(&image, &mut removed)?;
        removed.gc = self.store.try_gc()?;
        Ok(removed)
    }

    fn delete(&self, image: &ImageRecord, removed: &mut Removed) -> Result<()> {
        for t in &image.tags {
            self.store.untag(t)?;
            self.image_event("untag", &image.id.to_string(), Some(&t.familiar()));
            removed.events.push(RemoveEvent::Untagged(t.clone()));
        }
        for d in &image.repo_digests {
            removed.events.push(RemoveEvent::Untagged(d.clone()));
        }
        if self.store.delete_image(&image.id)? {
            self.image_event("delete", &image.id.to_string(), None);
            removed.events.push(RemoveEvent::Deleted(image.id));
        }
        Ok(())
    }

    /// `berth image prune [-a]`: removes dangling images (with `all`, every image no container
    /// uses), then collects garbage.
    pub fn prune_images(&self, all: bool) -> Result<Removed> {
        let mut removed = Removed::default();
        for image in self.store.images()? {
            // A build step's image is the build cache's (`builder prune`), not dangling.
            if image.containers == 0 && (all || (image.tags.is_empty() && !image.intermediate)) {
                self.delete(&image, &mut removed)?;
            }
        }
        removed.gc = Some(self.store.gc()?);
        Ok(removed)
    }
}
