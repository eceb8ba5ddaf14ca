//! The metadata database: images, their layers, tags, and the containers that use images.

use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use berth_types::{ChainId, Digest, Reference};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Result, Store, StoreError};

const SCHEMA_VERSION: i64 = 6;

const SCHEMA_V1: &str = "
CREATE TABLE layers (
    chain_id        TEXT PRIMARY KEY,
    diff_id         TEXT NOT NULL,
    parent          TEXT REFERENCES layers(chain_id),
    blob_digest     TEXT NOT NULL,
    media_type      TEXT NOT NULL,
    compressed_size INTEGER NOT NULL,
    size            INTEGER NOT NULL
);
CREATE TABLE images (
    id                  TEXT PRIMARY KEY,
    manifest_digest     TEXT,
    manifest_media_type TEXT,
    created             TEXT,
    size                INTEGER NOT NULL,
    added_at            INTEGER NOT NULL,
    last_tag_time       INTEGER
);
CREATE TABLE image_layers (
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    chain_id  TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE TABLE tags (
    name      TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE repo_digests (
    name      TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE containers (
    id        TEXT PRIMARY KEY,
    name      TEXT UNIQUE,
    image_id  TEXT NOT NULL REFERENCES images(id)
);
";

/// Version 2: a container's creation time and the engine's JSON record of it.
const SCHEMA_V2: &str = "
ALTER TABLE containers ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN record TEXT NOT NULL DEFAULT '{}';
";

/// Version 3: the events stream (`berth events`).
const SCHEMA_V3: &str = "
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    time_nano   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    attributes  TEXT NOT NULL
);
CREATE INDEX events_time ON events(time_nano);
";

/// Version 4: the build cache. A build step's image is `intermediate` (hidden from `images`
/// unless asked for) until a build ends with it; `build_cache` maps a step's cache key to it.
const SCHEMA_V4: &str = "
ALTER TABLE images ADD COLUMN intermediate INTEGER NOT NULL DEFAULT 0;
CREATE TABLE build_cache (
    key       TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created   INTEGER NOT NULL
);
CREATE INDEX build_cache_image ON build_cache(image_id);
";

/// Version 5: image signatures (cosign's simple signing) kept from pulls and loads, by the
/// manifest digest they sign, and the manifests and indexes they sign (the chain from a signed
/// digest to an image, which `save` writes out again).
const SCHEMA_V5: &str = "
CREATE TABLE signatures (
    manifest_digest TEXT NOT NULL,
    payload         BLOB NOT NULL,
    signature       TEXT NOT NULL,
    PRIMARY KEY (manifest_digest, signature)
);
CREATE TABLE signed_manifests (
    digest  TEXT PRIMARY KEY,
    bytes   BLOB NOT NULL
);
";

/// Version 6: the digest each layer had once compressed for a push, so that pushing it again
/// compresses it again only when the registry lacks that blob.
const SCHEMA_V6: &str = "
CREATE TABLE compressed_layers (
    diff_id     TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (diff_id, media_type)
);
";

pub(crate) struct Db {
    conn: Mutex<Connection>,
}

/// One layer of an image, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: ChainId,
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub media_type: String,
    pub compressed_size: u64,
    /// Uncompressed size of the layer tar.
    pub size: u64,
}

/// What is needed to record a new image. Its files must already be in the store.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub id: Digest,
    pub manifest: Option<(Digest, String)>,
    pub created: Option<String>,
    pub layers: Vec<LayerRecord>,
    pub tags: Vec<Reference>,
    /// `repository@digest` names it was pulled or pushed by.
    pub repo_digests: Vec<Reference>,
    /// A build step's image, not (yet) the result of a build.
    pub intermediate: bool,
}

#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest: Option<(Digest, String)>,
    pub created: Option<String>,
    pub size: u64,
    pub added_at: i64,
    pub last_tag_time: Option<i64>,
    pub tags: Vec<Reference>,
    pub repo_digests: Vec<Reference>,
    pub layers: Vec<LayerRecord>,
    pub containers: u64,
    /// A build step's image: `images` lists it only with `-a`.
    pub intermediate: bool,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn parse<T: FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("unparsable value {s:?}")))
}

impl Db {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(60))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // The common case, a current schema, needs no write transaction.
        let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current == SCHEMA_VERSION {
            return Ok(Self {
                conn: Mutex::new(conn),
            });
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: path.to_owned(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(SCHEMA_V2)?;
        }
        if version < 3 {
            tx.execute_batch(SCHEMA_V3)?;
        }
        if version < 4 {
            tx.execute_batch(SCHEMA_V4)?;
        }
        if version < 5 {
            tx.execute_batch(SCHEMA_V5)?;
        }
        if version < 6 {
            tx.execute_batch(SCHEMA_V6)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }
}

fn layer_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, String, i64, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

impl Store {
    /// Records an image and points its tags at it, in one transaction. Returns the images that lost
    /// a tag to it.
    pub fn commit_image(&self, image: &NewImage) -> Result<Vec<Digest>> {
        self.db.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut parent: Option<String> = None;
            for l in &image.layers {
                tx.execute(
                    "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, blob_digest, media_type, compressed_size, size)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![l.chain_id.to_string(), l.diff_id.to_string(), parent, l.blob_digest.to_string(), l.media_type, l.compressed_size as i64, l.size as i64],
                )?;
                parent = Some(l.chain_id.to_string());
            }
            let id = image.id.to_string();
            let size: u64 = image.layers.iter().map(|l| l.size).sum();
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO images (id, manifest_digest, manifest_media_type, created, size, added_at, intermediate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    image.manifest.as_ref().map(|m| m.0.to_string()),
                    image.manifest.as_ref().map(|m| m.1.clone()),
                    image.created,
                    size as i64,
                    now(),
                    image.intermediate,
                ],
            )?;
            if inserted == 0 && !image.intermediate {
                tx.execute("UPDATE images SET intermediate = 0 WHERE id = ?1", [&id])?;
            }
            if inserted == 0
                && let Some((digest, mt)) = &image.manifest
            {
                // Loaded before without a manifest (from a docker-archive): keep this one.
                tx.execute(
                    "UPDATE images SET manifest_digest = ?2, manifest_media_type = ?3 WHERE id = ?1 AND manifest_digest IS NULL",
                    params![id, digest.to_string(), mt],
                )?;
            }
            if inserted == 1 {
                for (i, l) in image.layers.iter().enumerate() {
                    tx.execute("INSERT INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)", params![id, i as i64, l.chain_id.to_string()])?;
                }
            }
            for name in &image.repo_digests {
                set_repo_digest(&tx, name, &id)?;
            }
            let mut displaced = Vec::new();
            for tag in &image.tags {
                if let Some(prev) = set_tag(&tx, tag, &id)? {
                    displaced.push(prev);
                }
            }
            tx.commit()?;
            Ok(displaced)
        })
    }

    /// Points `tag` at image `id`; returns the image it pointed at before, if another.
    pub fn tag(&self, id: &Digest, tag: &Reference) -> Result<Option<Digest>> {
        self.db.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let prev = set_tag(&tx, tag, &id.to_string())?;
            tx.commit()?;
            Ok(prev)
        })
    }

    /// Records that `name` (`repository@digest`) names image `id`.
    pub fn add_repo_digest(&self, id: &Digest, name: &Reference) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            set_repo_digest(&tx, name, &id.to_string())?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The layer recorded under a ChainID.
    pub fn layer(&self, chain_id: &ChainId) -> Result<Option<LayerRecord>> {
        self.db.with(|conn| {
            let row = conn
                .query_row(
                    "SELECT chain_id, diff_id, blob_digest, media_type, compressed_size, size FROM layers WHERE chain_id = ?1",
                    [chain_id.to_string()],
                    layer_from_row,
                )
                .optional()?;
            row.map(|(c, d, b, mt, cs, s)| {
                Ok(LayerRecord { chain_id: parse(&c)?, diff_id: parse(&d)?, blob_digest: parse(&b)?, media_type: mt, compressed_size: cs as u64, size: s as u64 })
            })
            .transpose()
        })
    }

    /// Removes a tag; returns the image it pointed at.
    pub fn untag(&self, tag: &Reference) -> Result<Option<Digest>> {
        self.db.with(|conn| {
            let prev: Option<String> = conn
                .query_row(
                    "DELETE FROM tags WHERE name = ?1 RETURNING image_id",
                    [tag.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            prev.map(|s| parse(&s)).transpose()
        })
    }

    /// Deletes an image's record (its tags go with it). Its files stay until [`Store::gc`].
    pub fn delete_image(&self, id: &Digest) -> Result<bool> {
        self.db.with(|conn| {
            Ok(conn.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])? == 1)
        })
    }

    /// The image a tag points at.
    pub fn lookup_tag(&self, tag: &Reference) -> Result<Option<Digest>> {
        self.db.with(|conn| {
            let id: Option<String> = conn
                .query_row(
                    "SELECT image_id FROM tags WHERE name = ?1",
                    [tag.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|s| parse(&s)).transpose()
        })
    }

    /// Image IDs starting with `prefix` (hex, without `sha256:`).
    pub fn image_ids_with_prefix(&self, prefix: &str) -> Result<Vec<Digest>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM images WHERE substr(id, 8, ?2) = ?1")?;
            let ids = stmt
                .query_map(params![prefix, prefix.len() as i64], |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            ids.iter().map(|s| parse(s)).collect()
        })
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        Ok(self.load_images(Some(id))?.pop())
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        self.load_images(None)
    }

    fn load_images(&self, only: Option<&Digest>) -> Result<Vec<ImageRecord>> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            let filter = only.map(|d| d.to_string());
            let mut stmt = tx.prepare(
                "SELECT id, manifest_digest, manifest_media_type, created, size, added_at, last_tag_time,
                        (SELECT COUNT(*) FROM containers c WHERE c.image_id = images.id), intermediate
                 FROM images WHERE ?1 IS NULL OR id = ?1 ORDER BY created DESC, added_at DESC",
            )?;
            type Row = (String, Option<String>, Option<String>, Option<String>, i64, i64, Option<i64>, i64, bool);
            let rows: Vec<Row> = stmt
                .query_map([&filter], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, md, mmt, created, size, added_at, last_tag_time, containers, intermediate) in rows {
                let manifest = match (md, mmt) {
                    (Some(d), Some(mt)) => Some((parse(&d)?, mt)),
                    _ => None,
                };
                let names = |table: &str| -> Result<Vec<Reference>> {
                    let mut s = tx.prepare(&format!("SELECT name FROM {table} WHERE image_id = ?1 ORDER BY rowid"))?;
                    let v = s.query_map([&id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
                    v.iter().map(|n| parse(n)).collect()
                };
                let mut ls = tx.prepare(
                    "SELECT l.chain_id, l.diff_id, l.blob_digest, l.media_type, l.compressed_size, l.size
                     FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ?1 ORDER BY il.position",
                )?;
                let layers = ls
                    .query_map([&id], layer_from_row)?
                    .map(|row| {
                        let (c, d, b, mt, cs, s) = row?;
                        Ok(LayerRecord { chain_id: parse(&c)?, diff_id: parse(&d)?, blob_digest: parse(&b)?, media_type: mt, compressed_size: cs as u64, size: s as u64 })
                    })
                    .collect::<Result<Vec<_>>>()?;
                out.push(ImageRecord {
                    id: parse(&id)?,
                    manifest,
                    created,
                    size: size as u64,
                    added_at,
                    last_tag_time,
                    tags: names("tags")?,
                    repo_digests: names("repo_digests")?,
                    layers,
                    containers: containers as u64,
                    intermediate,
                });
            }
            Ok(out)
        })
    }
}

/// Points a `repository@digest` name at an image; a repository keeps one such name per digest.
fn set_repo_digest(tx: &rusqlite::Transaction<'_>, name: &Reference, id: &str) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?1, ?2)",
        params![name.to_string(), id],
    )?;
    Ok(())
}

fn set_tag(tx: &rusqlite::Transaction<'_>, tag: &Reference, id: &str) -> Result<Option<Digest>> {
    let prev: Option<String> = tx
        .query_row(
            "SELECT image_id FROM tags WHERE name = ?1",
            [tag.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT OR REPLACE INTO tags (name, image_id) VALUES (?1, ?2)",
        params![tag.to_string(), id],
    )?;
    tx.execute(
        "UPDATE images SET last_tag_time = ?2 WHERE id = ?1",
        params![id, now()],
    )?;
    match prev {
        Some(p) if p != id => Ok(Some(parse(&p)?)),
        _ => Ok(None),
    }
}
