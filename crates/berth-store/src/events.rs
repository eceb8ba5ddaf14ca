//! The events stream: what happened to containers and images, in order, kept in the database.

use rusqlite::params;

use crate::{Result, Store};

/// One event, as `berth events` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i64,
    /// `container` or `image`.
    pub kind: String,
    pub action: String,
    /// The container or image ID.
    pub actor: String,
    /// JSON object of attributes (name, image, exitCode, …).
    pub attributes: String,
}

/// Events older than this many are dropped as new ones come, so the table stays small.
const KEEP: i64 = 100_000;

impl Store {
    pub fn record_event(
        &self,
        kind: &str,
        action: &str,
        actor: &str,
        attributes: &str,
    ) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        self.db.with(|conn| {
            conn.execute(
                "INSERT INTO events (time_nano, kind, action, actor, attributes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now, kind, action, actor, attributes],
            )?;
            let seq = conn.last_insert_rowid();
            if seq % 1000 == 0 {
                conn.execute("DELETE FROM events WHERE seq <= ?1", [seq - KEEP])?;
            }
            Ok(())
        })
    }

    /// Events after sequence number `after`, with times in `[since, until]` (nanoseconds).
    pub fn events(&self, after: i64, since: i64, until: i64) -> Result<Vec<Event>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, time_nano, kind, action, actor, attributes FROM events
                 WHERE seq > ?1 AND time_nano >= ?2 AND time_nano <= ?3 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![after, since, until], |r| {
                Ok(Event {
                    seq: r.get(0)?,
                    time_nano: r.get(1)?,
                    kind: r.get(2)?,
                    action: r.get(3)?,
                    actor: r.get(4)?,
                    attributes: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_in_order_and_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .record_event("container", "create", "a", "{}")
            .unwrap();
        store.record_event("container", "start", "a", "{}").unwrap();
        store
            .record_event("image", "tag", "sha256:x", "{\"name\":\"t\"}")
            .unwrap();
        let all = store.events(0, 0, i64::MAX).unwrap();
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "start", "tag"]);
        assert!(all.windows(2).all(|w| w[0].time_nano <= w[1].time_nano));
        assert_eq!(store.events(all[1].seq, 0, i64::MAX).unwrap().len(), 1);
        assert!(store.events(0, 0, 1).unwrap().is_empty());
    }
}
