//! Container rows: identity, name, image, and the engine's JSON record. The store does not read
//! the record; it keeps names unique and images referenced.

use berth_types::Digest;
use rusqlite::{OptionalExtension, params};

use crate::db::parse;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image_id: Digest,
    /// Unix seconds.
    pub created: i64,
    pub record: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, i64, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_row(
    (id, name, image_id, created, record): (String, String, String, i64, String),
) -> Result<ContainerRow> {
    Ok(ContainerRow {
        id,
        name,
        image_id: parse(&image_id)?,
        created,
        record,
    })
}

impl Store {
    /// Records a new container; fails with [`StoreError::NameInUse`] when the name is taken.
    pub fn insert_container(&self, c: &ContainerRow) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let holder: Option<String> =
                tx.query_row("SELECT id FROM containers WHERE name = ?1", [&c.name], |r| r.get(0)).optional()?;
            if let Some(id) = holder {
                return Err(StoreError::NameInUse { name: c.name.clone(), id });
            }
            tx.execute(
                "INSERT INTO containers (id, name, image_id, created, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.id, c.name, c.image_id.to_string(), c.created, c.record],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Rewrites a container's record in one write transaction: `f` gets the stored record and
    /// returns the new one, so concurrent writers never lose each other's changes. Returns the
    /// new record, or `None` when the container does not exist.
    pub fn modify_container<E: From<StoreError>>(
        &self,
        id: &str,
        f: impl FnOnce(&str) -> Result<String, E>,
    ) -> Result<Option<String>, E> {
        let run = |conn: &mut rusqlite::Connection| -> Result<Result<Option<String>, E>> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let Some(old): Option<String> = tx
                .query_row("SELECT record FROM containers WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?
            else {
                return Ok(Ok(None));
            };
            let new = match f(&old) {
                Ok(new) => new,
                Err(e) => return Ok(Err(e)),
            };
            tx.execute(
                "UPDATE containers SET record = ?2 WHERE id = ?1",
                params![id, new],
            )?;
            tx.commit()?;
            Ok(Ok(Some(new)))
        };
        self.db.with(run).map_err(E::from)?
    }

    /// Renames a container; fails with [`StoreError::NameInUse`] when the name is taken.
    pub fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let holder: Option<String> = tx
                .query_row(
                    "SELECT id FROM containers WHERE name = ?1 AND id != ?2",
                    params![name, id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(holder) = holder {
                return Err(StoreError::NameInUse {
                    name: name.to_owned(),
                    id: holder,
                });
            }
            tx.execute(
                "UPDATE containers SET name = ?2 WHERE id = ?1",
                params![id, name],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn delete_container(&self, id: &str) -> Result<bool> {
        self.db
            .with(|conn| Ok(conn.execute("DELETE FROM containers WHERE id = ?1", [id])? == 1))
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRow>> {
        self.db.with(|conn| {
            let mut stmt =
                conn.prepare("SELECT id, name, image_id, created, record FROM containers ORDER BY created DESC, rowid DESC")?;
            let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(to_row).collect()
        })
    }

    /// The containers `name` can mean, as Docker resolves it: the one with that full ID, else the
    /// one with that name, else those whose ID starts with it (at most two, enough to tell an
    /// ambiguous prefix).
    pub fn find_containers(&self, name: &str) -> Result<Vec<ContainerRow>> {
        self.db.with(|conn| {
            let query = |sql: &str, arg: &str| -> Result<Vec<ContainerRow>> {
                let mut stmt = conn.prepare_cached(sql)?;
                let rows = stmt
                    .query_map([arg], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.into_iter().map(to_row).collect()
            };
            const COLUMNS: &str = "SELECT id, name, image_id, created, record FROM containers";
            let exact = query(&format!("{COLUMNS} WHERE id = ?1"), name)?;
            if !exact.is_empty() {
                return Ok(exact);
            }
            let named = query(&format!("{COLUMNS} WHERE name = ?1"), name)?;
            if !named.is_empty() || name.is_empty() || !name.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Ok(named);
            }
            query(
                &format!("{COLUMNS} WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2"),
                name,
            )
        })
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRow>> {
        self.db.with(|conn| {
            let found = conn
                .query_row(
                    "SELECT id, name, image_id, created, record FROM containers WHERE id = ?1",
                    [id],
                    row,
                )
                .optional()?;
            found.map(to_row).transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rows_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let image_id = Digest::of(b"{}");
        store
            .commit_image(&crate::NewImage {
                id: image_id,
                manifest: None,
                created: None,
                layers: vec![],
                tags: vec![],
                intermediate: false,
                repo_digests: Vec::new(),
            })
            .unwrap();
        let c = ContainerRow {
            id: "a".repeat(64),
            name: "web".into(),
            image_id,
            created: 5,
            record: "{}".into(),
        };
        store.insert_container(&c).unwrap();
        let clash = ContainerRow {
            id: "b".repeat(64),
            ..c.clone()
        };
        assert!(matches!(
            store.insert_container(&clash),
            Err(StoreError::NameInUse { .. })
        ));
        store
            .modify_container::<StoreError>(&c.id, |_| Ok("{\"x\":1}".to_owned()))
            .unwrap();
        assert_eq!(store.container(&c.id).unwrap().unwrap().record, "{\"x\":1}");
        assert_eq!(store.containers().unwrap().len(), 1);
        assert_eq!(store.find_containers("web").unwrap().len(), 1);
        assert_eq!(store.find_containers(&c.id).unwrap().len(), 1);
        assert_eq!(store.find_containers("aaaa").unwrap().len(), 1);
        assert!(store.find_containers("nope").unwrap().is_empty());
        let new = store
            .modify_container::<StoreError>(&c.id, |old| Ok(format!("{old}!")))
            .unwrap();
        assert_eq!(new.as_deref(), Some("{\"x\":1}!"));
        assert_eq!(
            store
                .modify_container::<StoreError>("nope", |o| Ok(o.to_owned()))
                .unwrap(),
            None
        );
        store
            .insert_container(&ContainerRow {
                id: "c".repeat(64),
                name: "other".into(),
                ..c.clone()
            })
            .unwrap();
        assert!(matches!(
            store.rename_container(&c.id, "other"),
            Err(StoreError::NameInUse { .. })
        ));
        store.rename_container(&c.id, "renamed").unwrap();
        assert!(store.delete_container(&c.id).unwrap());
        assert!(store.container(&c.id).unwrap().is_none());
    }
}
