//! The database on disk: `<root>/vulndb/vulndb.sqlite`, SQLite in WAL mode. Advisories are stored
//! whole (JSON of [`Advisory`]) under their source and id; an index maps each (ecosystem,
//! package) to the advisories naming it. Importing a source again replaces its records.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Advisory, Format, Parsed, parse};

const SCHEMA_VERSION: i64 = 1;
/// Largest file read for import.
const MAX_FILE: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("vulnerability database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: not a format berth imports (OSV JSON or JSON lines, a Debian tracker list, an Alpine secdb)"
    )]
    UnknownFormat { path: PathBuf },
}

pub struct VulnDb {
    conn: Connection,
    path: PathBuf,
}

/// What one `berth db import` did.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    pub files: usize,
    pub advisories: usize,
    pub skipped: usize,
    pub warnings: Vec<String>,
}

/// One source, for `berth db status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub advisories: u64,
    /// Seconds since the epoch of the last import.
    pub imported_at: i64,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What a file is, from its name and first bytes.
fn detect(path: &Path, head: &[u8]) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy();
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "list" && matches!(parent.as_str(), "DSA" | "DLA" | "DTSA") {
        return Some(Format::DebianList);
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return Some(Format::AlpineSecdb);
    }
    let head = head.trim_ascii_start();
    if name.ends_with(".json") || name.ends_with(".jsonl") || head.starts_with(b"{") {
        // Alpine's JSON secdb names its release at the top.
        let peek = String::from_utf8_lossy(&head[..head.len().min(4096)]);
        if peek.contains("\"distroversion\"") {
            return Some(Format::AlpineSecdb);
        }
        return Some(Format::Osv);
    }
    None
}

impl VulnDb {
    /// Opens (creating) the database in `dir`.
    pub fn open(dir: &Path) -> Result<VulnDb, DbError> {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("vulndb.sqlite");
        let err = |source| DbError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        // Scans write their cached results; another berth importing meanwhile is waited for.
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS advisories (
                 source TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
                 PRIMARY KEY (source, id));
             CREATE TABLE IF NOT EXISTS affects (
                 ecosystem TEXT NOT NULL, package TEXT NOT NULL, source TEXT NOT NULL, id TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS affects_package ON affects (ecosystem, package);
             CREATE INDEX IF NOT EXISTS affects_record ON affects (source, id);
             CREATE TABLE IF NOT EXISTS sources (
                 source TEXT PRIMARY KEY, imported_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
             CREATE TABLE IF NOT EXISTS scan_cache (
                 image TEXT NOT NULL, scanners TEXT NOT NULL, generation INTEGER NOT NULL,
                 data TEXT NOT NULL, PRIMARY KEY (image, scanners));",
        )
        .map_err(err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version == 0 {
            conn.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
                .map_err(err)?;
        }
        Ok(VulnDb { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        |source| DbError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Imports files and directories (walked recursively), each in the format its name and
    /// content say. Files that are not advisories are skipped with a warning.
    pub fn import(&mut self, paths: &[PathBuf]) -> Result<ImportReport, DbError> {
        let mut files = Vec::new();
        for p in paths {
            collect_files(p, &mut files)?;
        }
        let mut report = ImportReport::default();
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| DbError::Sqlite {
            path: path.clone(),
            source,
        })?;
        for file in files {
            let data = read_bounded(&file)?;
            if data.starts_with(b"PK\x03\x04") {
                // An osv.dev export: one OSV record per member.
                let parsed = parse_zip(&file, &data);
                report.files += 1;
                store(&tx, &file, Format::Osv, parsed, &mut report).map_err(|source| {
                    DbError::Sqlite {
                        path: path.clone(),
                        source,
                    }
                })?;
                continue;
            }
            let Some(format) = detect(&file, &data) else {
                report
                    .warnings
                    .push(format!("{}: not an advisory file; skipped", file.display()));
                continue;
            };
            let parsed = parse(format, &file.display().to_string(), &data);
            report.files += 1;
            store(&tx, &file, format, parsed, &mut report).map_err(|source| DbError::Sqlite {
                path: path.clone(),
                source,
            })?;
        }
        // Every import makes earlier cached scan results stale.
        tx.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
            [],
        )
        .and_then(|_| tx.execute("DELETE FROM scan_cache", []))
        .map_err(|source| DbError::Sqlite {
            path: path.clone(),
            source,
        })?;
        tx.commit()
            .map_err(|source| DbError::Sqlite { path, source })?;
        Ok(report)
    }

    /// The advisories naming `package` in `ecosystem`.
    pub fn advisories_for(&self, ecosystem: &str, package: &str) -> Result<Vec<Advisory>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT a.data FROM affects f JOIN advisories a
                 ON a.source = f.source AND a.id = f.id
                 WHERE f.ecosystem = ?1 AND f.package = ?2",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![ecosystem, package], |r| r.get::<_, String>(0))
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(self.err())?;
            // Written by berth itself; a row that no longer reads is passed over.
            if let Ok(a) = serde_json::from_str(&text) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Each source's record count and import time.
    pub fn status(&self) -> Result<Vec<SourceStatus>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.source, s.imported_at, (SELECT COUNT(*) FROM advisories a WHERE a.source = s.source)
                 FROM sources s ORDER BY s.source",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SourceStatus {
                    source: r.get(0)?,
                    imported_at: r.get(1)?,
                    advisories: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// A number that changes with every import: scan results cached under it stay valid until
    /// the database changes.
    pub fn generation(&self) -> Result<i64, DbError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(self.err())
    }

    /// The scan result stored for `image` (an image ID) and `scanners` under the current
    /// generation.
    pub fn cached(&self, image: &str, scanners: &str) -> Result<Option<String>, DbError> {
        let generation = self.generation()?;
        self.conn
            .query_row(
                "SELECT data FROM scan_cache WHERE image = ?1 AND scanners = ?2 AND generation = ?3",
                params![image, scanners, generation],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Stores a scan result for `image` and `scanners` under the current generation.
    pub fn cache(&self, image: &str, scanners: &str, data: &str) -> Result<(), DbError> {
        let generation = self.generation()?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO scan_cache (image, scanners, generation, data)
                 VALUES (?1, ?2, ?3, ?4)",
                params![image, scanners, generation, data],
            )
            .map(drop)
            .map_err(self.err())
    }
}

/// The largest member of a zip read.
const MAX_ZIP_MEMBER: u64 = 16 << 20;
/// The most members of a zip read.
const MAX_ZIP_MEMBERS: usize = 1 << 20;

/// Every `.json` member of an OSV zip (as osv.dev publishes one per ecosystem), parsed as OSV.
/// A member that is too large or unreadable is a warning naming it.
fn parse_zip(file: &Path, data: &[u8]) -> Parsed {
    use std::io::Read;
    let mut out = Parsed::default();
    let name = file.display().to_string();
    let mut zip = match zip::ZipArchive::new(std::io::Cursor::new(data)) {
        Ok(z) => z,
        Err(e) => {
            out.warnings
                .push(format!("{name}: not a readable zip: {e}"));
            return out;
        }
    };
    if zip.len() > MAX_ZIP_MEMBERS {
        out.warnings.push(format!(
            "{name}: more than {MAX_ZIP_MEMBERS} members; not read"
        ));
        return out;
    }
    for i in 0..zip.len() {
        let mut member = match zip.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                out.warnings.push(format!("{name}: member {i}: {e}"));
                continue;
            }
        };
        let member_name = String::from_utf8_lossy(member.name_raw()).into_owned();
        if !member_name.ends_with(".json") {
            continue;
        }
        let shown = format!("{name}!/{member_name}");
        let mut json = Vec::new();
        match (&mut member)
            .take(MAX_ZIP_MEMBER + 1)
            .read_to_end(&mut json)
        {
            Ok(n) if n as u64 <= MAX_ZIP_MEMBER => {
                let parsed = parse(Format::Osv, &shown, &json);
                out.advisories.extend(parsed.advisories);
                out.skipped += parsed.skipped;
                out.warnings.extend(parsed.warnings);
            }
            Ok(_) => out.warnings.push(format!(
                "{shown}: larger than {MAX_ZIP_MEMBER} bytes; skipped"
            )),
            Err(e) => out.warnings.push(format!("{shown}: {e}")),
        }
    }
    out
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), DbError> {
    let io = |source| DbError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().map(|n| n.to_string_lossy().into_owned());
            if name
                .as_deref()
                .is_some_and(|n| n.starts_with('.') || n.ends_with(".md"))
            {
                continue;
            }
            collect_files(&e, out)?;
        }
    } else if meta.is_file() {
        out.push(path.to_owned());
    }
    Ok(())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, DbError> {
    use std::io::Read;
    let io = |source| DbError::Io {
        path: path.to_owned(),
        source,
    };
    let mut data = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_FILE {
        return Err(io(std::io::Error::other(format!(
            "larger than {MAX_FILE} bytes"
        ))));
    }
    Ok(data)
}

/// The source a file's records are filed under: `debian:DSA`, `alpine:v3.10/main`,
/// `osv:PyPI` (by the records' ecosystem).
fn source_name(file: &Path, format: Format, parsed: &Parsed) -> String {
    let parent = |n: usize| {
        file.ancestors()
            .nth(n)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match format {
        Format::DebianList => format!("debian:{}", parent(1)),
        Format::AlpineSecdb => {
            let release = parsed
                .advisories
                .first()
                .and_then(|a| a.affected.first())
                .map(|a| a.ecosystem.trim_start_matches("Alpine:").to_owned())
                .unwrap_or_else(|| parent(1));
            let repo = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("alpine:{release}/{repo}")
        }
        Format::Osv => {
            let ecosystem = parsed
                .advisories
                .first()
                .and_then(|a| a.affected.first())
                .map(|a| a.ecosystem.split(':').next().unwrap_or("").to_owned())
                .unwrap_or_else(|| "unknown".into());
            format!("osv:{ecosystem}")
        }
    }
}

fn store(
    tx: &rusqlite::Transaction,
    file: &Path,
    format: Format,
    parsed: Parsed,
    report: &mut ImportReport,
) -> rusqlite::Result<()> {
    let source = source_name(file, format, &parsed);
    report.skipped += parsed.skipped;
    report.warnings.extend(parsed.warnings);
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO advisories (source, id, data) VALUES (?1, ?2, ?3)",
    )?;
    let mut clear = tx.prepare_cached("DELETE FROM affects WHERE source = ?1 AND id = ?2")?;
    let mut index = tx.prepare_cached(
        "INSERT INTO affects (ecosystem, package, source, id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for a in &parsed.advisories {
        let data = serde_json::to_string(a).expect("an advisory serialises");
        insert.execute(params![source, a.id, data])?;
        clear.execute(params![source, a.id])?;
        let mut seen = std::collections::BTreeSet::new();
        for f in &a.affected {
            let key = super::matching::package_key(&f.ecosystem, &f.package);
            if seen.insert((f.ecosystem.clone(), key.clone())) {
                index.execute(params![f.ecosystem, key, source, a.id])?;
            }
        }
        report.advisories += 1;
    }
    if !parsed.advisories.is_empty() {
        tx.execute(
            "INSERT OR REPLACE INTO sources (source, imported_at) VALUES (?1, ?2)",
            params![source, now()],
        )?;
    }
    Ok(())
}
