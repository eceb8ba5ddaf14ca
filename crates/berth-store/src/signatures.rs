//! What the store remembers about registries: image signatures, kept by the manifest digest they
//! sign (verified when used, by the trust policy, not when stored: these tables only remember
//! what a registry or an archive gave), and the digests layers had once compressed for a push.

use berth_types::Digest;
use rusqlite::{OptionalExtension, params};

use crate::{Result, Store};

/// One signature: the payload as signed and its base64 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    pub payload: Vec<u8>,
    pub signature: String,
}

impl Store {
    /// Remembers signatures of a manifest digest (those already known are kept once).
    pub fn add_signatures(&self, digest: &Digest, records: &[SignatureRecord]) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            for r in records {
                tx.execute(
                    "INSERT OR IGNORE INTO signatures (manifest_digest, payload, signature) VALUES (?1, ?2, ?3)",
                    params![digest.to_string(), r.payload, r.signature],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The signatures known for a manifest digest.
    pub fn signatures(&self, digest: &Digest) -> Result<Vec<SignatureRecord>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT payload, signature FROM signatures WHERE manifest_digest = ?1 ORDER BY rowid",
            )?;
            let rows = stmt
                .query_map([digest.to_string()], |r| {
                    Ok(SignatureRecord {
                        payload: r.get(0)?,
                        signature: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

impl Store {
    /// Keeps a manifest or index that a signature names.
    pub fn put_signed_manifest(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        self.db.with(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO signed_manifests (digest, bytes) VALUES (?1, ?2)",
                params![digest.to_string(), bytes],
            )?;
            Ok(digest)
        })
    }

    /// A manifest or index kept by [`Store::put_signed_manifest`].
    pub fn signed_manifest(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        use rusqlite::OptionalExtension;
        self.db.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT bytes FROM signed_manifests WHERE digest = ?1",
                    [digest.to_string()],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }
}

impl Store {
    /// Remembers the digest and size of a layer (by DiffID) once compressed as `media_type`:
    /// berth's compression gives the same bytes every time, so a later push can ask the
    /// registry for that blob before compressing the layer again.
    pub fn remember_compressed_layer(
        &self,
        diff_id: &Digest,
        media_type: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        self.db.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO compressed_layers (diff_id, media_type, digest, size)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    diff_id.to_string(),
                    media_type,
                    digest.to_string(),
                    size as i64
                ],
            )?;
            Ok(())
        })
    }

    /// The digest and size a layer had once compressed as `media_type`, if remembered.
    pub fn compressed_layer(
        &self,
        diff_id: &Digest,
        media_type: &str,
    ) -> Result<Option<(Digest, u64)>> {
        self.db.with(|conn| {
            let row = conn
                .query_row(
                    "SELECT digest, size FROM compressed_layers WHERE diff_id = ?1 AND media_type = ?2",
                    params![diff_id.to_string(), media_type],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()?;
            row.map(|(d, size)| Ok((crate::db::parse(&d)?, size as u64)))
                .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of(b"m");
        let r = SignatureRecord {
            payload: b"{}".to_vec(),
            signature: "c2ln".into(),
        };
        store.add_signatures(&d, &[r.clone(), r.clone()]).unwrap();
        store.add_signatures(&d, std::slice::from_ref(&r)).unwrap();
        assert_eq!(store.signatures(&d).unwrap(), vec![r]);
        assert!(store.signatures(&Digest::of(b"x")).unwrap().is_empty());
    }

    #[test]
    fn gc_keeps_only_what_an_image_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r = SignatureRecord {
            payload: b"{}".to_vec(),
            signature: "c2ln".into(),
        };
        let named = Digest::of(b"index");
        let orphan = Digest::of(b"orphan");
        store
            .add_signatures(&named, std::slice::from_ref(&r))
            .unwrap();
        store
            .add_signatures(&orphan, std::slice::from_ref(&r))
            .unwrap();
        store.put_signed_manifest(b"index").unwrap();
        store.put_signed_manifest(b"orphan").unwrap();
        let id = Digest::of(b"config");
        store
            .commit_image(&crate::NewImage {
                id,
                manifest: None,
                created: None,
                layers: vec![],
                tags: vec![],
                repo_digests: vec![
                    berth_types::Reference::parse_normalized_named(&format!("localhost/x@{named}"))
                        .unwrap(),
                ],
                intermediate: false,
            })
            .unwrap();
        store.gc().unwrap();
        assert_eq!(store.signatures(&named).unwrap().len(), 1);
        assert!(store.signed_manifest(&named).unwrap().is_some());
        assert!(store.signatures(&orphan).unwrap().is_empty());
        assert!(store.signed_manifest(&orphan).unwrap().is_none());
        store.delete_image(&id).unwrap();
        store.gc().unwrap();
        assert!(store.signatures(&named).unwrap().is_empty());
    }

    #[test]
    fn compressed_layers_are_remembered_while_a_layer_has_the_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (diff_id, gz, zst) = (Digest::of(b"tar"), "tar+gzip", "tar+zstd");
        assert_eq!(store.compressed_layer(&diff_id, gz).unwrap(), None);
        store
            .remember_compressed_layer(&diff_id, gz, &Digest::of(b"a"), 1)
            .unwrap();
        store
            .remember_compressed_layer(&diff_id, gz, &Digest::of(b"b"), 2)
            .unwrap();
        assert_eq!(
            store.compressed_layer(&diff_id, gz).unwrap(),
            Some((Digest::of(b"b"), 2))
        );
        assert_eq!(store.compressed_layer(&diff_id, zst).unwrap(), None);
        // No layer has that DiffID: collected.
        store.gc().unwrap();
        assert_eq!(store.compressed_layer(&diff_id, gz).unwrap(), None);
    }
}
