//! The build cache: which image a build step's cache key made.

use berth_types::Digest;
use rusqlite::{OptionalExtension, params};

use crate::db::parse;
use crate::{Result, Store};

impl Store {
    /// Records that the build step with cache key `key` made image `id`.
    pub fn record_build_step(&self, key: &Digest, id: &Digest) -> Result<()> {
        self.db.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?1, ?2, strftime('%s','now'))",
                params![key.to_string(), id.to_string()],
            )?;
            Ok(())
        })
    }

    /// The image a build step's cache key made, if it is still stored.
    pub fn build_step(&self, key: &Digest) -> Result<Option<Digest>> {
        self.db.with(|conn| {
            let id: Option<String> = conn
                .query_row(
                    "SELECT image_id FROM build_cache WHERE key = ?1",
                    [key.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|s| parse(&s)).transpose()
        })
    }

    /// Marks an image as a build's result: `images` lists it from now on.
    pub fn set_final(&self, id: &Digest) -> Result<()> {
        self.db.with(|conn| {
            conn.execute(
                "UPDATE images SET intermediate = 0 WHERE id = ?1",
                [id.to_string()],
            )?;
            Ok(())
        })
    }

    /// `builder prune`: forgets every cache key and removes the build steps' images that no
    /// container uses and no build ended with. Returns the images removed; their files go at
    /// the next [`Store::gc`].
    pub fn prune_build_cache(&self) -> Result<Vec<Digest>> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM build_cache", [])?;
            let ids = {
                let mut stmt = tx.prepare(
                    "DELETE FROM images WHERE intermediate = 1
                       AND id NOT IN (SELECT image_id FROM containers) RETURNING id",
                )?;
                stmt.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            ids.iter().map(|s| parse(s)).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewImage;

    #[test]
    fn steps_are_found_until_pruned_and_results_survive() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let step = Digest::of(b"step");
        let result = Digest::of(b"result");
        for (id, intermediate) in [(step, true), (result, true)] {
            store
                .commit_image(&NewImage {
                    id,
                    manifest: None,
                    created: None,
                    layers: vec![],
                    tags: vec![],
                    intermediate,
                    repo_digests: Vec::new(),
                })
                .unwrap();
        }
        let key = Digest::of(b"key");
        store.record_build_step(&key, &step).unwrap();
        store
            .record_build_step(&Digest::of(b"key2"), &result)
            .unwrap();
        assert_eq!(store.build_step(&key).unwrap(), Some(step));
        store.set_final(&result).unwrap();
        assert!(!store.image(&result).unwrap().unwrap().intermediate);
        assert!(store.image(&step).unwrap().unwrap().intermediate);
        assert_eq!(store.prune_build_cache().unwrap(), vec![step]);
        assert_eq!(store.build_step(&key).unwrap(), None);
        assert!(
            store.image(&result).unwrap().is_some(),
            "a build's result stays"
        );
        assert!(store.image(&step).unwrap().is_none());
    }
}
