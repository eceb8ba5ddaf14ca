//! RPM databases in the SQLite format (`var/lib/rpm/rpmdb.sqlite`, rpm 4.16 and later, as
//! Fedora, RHEL 9, AlmaLinux, Rocky and UBI images ship them). The database is opened from
//! memory, read-only; each row of its `Packages` table is an RPM header blob:
//! a big-endian count of index entries and of data bytes, the 16-byte entries (tag, type,
//! offset, count) and the data they point into. Every offset is checked.

use rusqlite::{Connection, MAIN_DB, OpenFlags};

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;
/// Headers larger than this are refused.
const MAX_HEADER: usize = 64 << 20;

/// One installed RPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpm {
    pub name: String,
    /// `[EPOCH:]VERSION-RELEASE`, as rpm orders it.
    pub version: String,
    pub arch: Option<String>,
    /// The source package's name and `VERSION-RELEASE`, from `SOURCERPM`.
    pub source: Option<(String, String)>,
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one header blob.
pub fn parse_header(blob: &[u8]) -> Result<Rpm, String> {
    let bad = |why: &str| format!("a package header is malformed: {why}");
    if blob.len() > MAX_HEADER {
        return Err(bad("too large"));
    }
    let il = be32(blob, 0).ok_or_else(|| bad("truncated"))? as usize;
    let dl = be32(blob, 4).ok_or_else(|| bad("truncated"))? as usize;
    let start = il
        .checked_mul(16)
        .and_then(|n| n.checked_add(8))
        .ok_or_else(|| bad("entry count"))?;
    let data = blob
        .get(start..start.checked_add(dl).ok_or_else(|| bad("data length"))?)
        .ok_or_else(|| bad("truncated"))?;
    let mut fields: std::collections::HashMap<u32, String> = Default::default();
    for i in 0..il {
        let e = 8 + i * 16;
        let (tag, kind, offset) = (
            be32(blob, e).ok_or_else(|| bad("truncated"))?,
            be32(blob, e + 4).ok_or_else(|| bad("truncated"))?,
            be32(blob, e + 8).ok_or_else(|| bad("truncated"))? as usize,
        );
        if ![
            TAG_NAME,
            TAG_VERSION,
            TAG_RELEASE,
            TAG_EPOCH,
            TAG_ARCH,
            TAG_SOURCERPM,
        ]
        .contains(&tag)
        {
            continue;
        }
        let value = match kind {
            TYPE_STRING | TYPE_I18NSTRING => {
                let rest = data.get(offset..).ok_or_else(|| bad("offset"))?;
                let end = rest
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| bad("unterminated"))?;
                String::from_utf8_lossy(&rest[..end]).into_owned()
            }
            TYPE_INT32 => be32(data, offset).ok_or_else(|| bad("offset"))?.to_string(),
            _ => continue,
        };
        fields.insert(tag, value);
    }
    let name = fields.remove(&TAG_NAME).ok_or_else(|| bad("no name"))?;
    let version = fields
        .remove(&TAG_VERSION)
        .ok_or_else(|| bad("no version"))?;
    let release = fields.remove(&TAG_RELEASE).unwrap_or_default();
    let mut evr = version;
    if !release.is_empty() {
        evr = format!("{evr}-{release}");
    }
    if let Some(epoch) = fields.remove(&TAG_EPOCH).filter(|e| e != "0") {
        evr = format!("{epoch}:{evr}");
    }
    // `openssl-3.0.7-24.el9.src.rpm`: the name is all but the last two dash-separated parts.
    let source = fields.remove(&TAG_SOURCERPM).and_then(|s| {
        let stem = s
            .strip_suffix(".src.rpm")
            .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
        let (rest, release) = stem.rsplit_once('-')?;
        let (name, version) = rest.rsplit_once('-')?;
        Some((name.to_owned(), format!("{version}-{release}")))
    });
    Ok(Rpm {
        name,
        version: evr,
        arch: fields.remove(&TAG_ARCH),
        source,
    })
}

/// Every package in an rpmdb.sqlite file's bytes. Headers that cannot be read are counted in
/// the returned warnings, and the rest are still listed.
pub fn from_sqlite(db: &[u8]) -> Result<(Vec<Rpm>, Vec<String>), String> {
    let err = |e: rusqlite::Error| format!("is not a readable rpm database: {e}");
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.deserialize_read_exact(MAIN_DB, db, db.len(), true)
        .map_err(err)?;
    let mut stmt = conn.prepare("SELECT blob FROM Packages").map_err(err)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .map_err(err)?;
    let (mut out, mut warnings) = (Vec::new(), Vec::new());
    for row in rows {
        match row.map_err(err).and_then(|blob| parse_header(&blob)) {
            Ok(rpm) if rpm.name != "gpg-pubkey" => out.push(rpm),
            Ok(_) => {}
            Err(e) => warnings.push(e),
        }
    }
    Ok((out, warnings))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header blob with the given (tag, value) fields; integers are given as `#N`.
    pub(crate) fn header(fields: &[(u32, &str)]) -> Vec<u8> {
        let mut entries = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in fields {
            let (kind, bytes) = match value.strip_prefix('#') {
                Some(n) => {
                    while data.len() % 4 != 0 {
                        data.push(0);
                    }
                    (TYPE_INT32, n.parse::<u32>().unwrap().to_be_bytes().to_vec())
                }
                None => (TYPE_STRING, [value.as_bytes(), &[0]].concat()),
            };
            entries.extend(tag.to_be_bytes());
            entries.extend(kind.to_be_bytes());
            entries.extend((data.len() as u32).to_be_bytes());
            entries.extend(1u32.to_be_bytes());
            data.extend(bytes);
        }
        let mut out = (fields.len() as u32).to_be_bytes().to_vec();
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(entries);
        out.extend(data);
        out
    }

    /// An rpmdb.sqlite's bytes holding `headers`.
    pub(crate) fn database(headers: &[Vec<u8>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
        )
        .unwrap();
        for h in headers {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [h])
                .unwrap();
        }
        drop(conn);
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn packages_with_epochs_and_source_rpms() {
        let db = database(&[
            header(&[
                (TAG_NAME, "openssl-libs"),
                (TAG_VERSION, "3.0.7"),
                (TAG_RELEASE, "24.el9"),
                (TAG_EPOCH, "#1"),
                (TAG_ARCH, "x86_64"),
                (TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
            ]),
            header(&[
                (TAG_NAME, "bash"),
                (TAG_VERSION, "5.1.8"),
                (TAG_RELEASE, "6.el9"),
            ]),
            header(&[(TAG_NAME, "gpg-pubkey"), (TAG_VERSION, "fd431d51")]),
            b"\xff\xff\xff\xff".to_vec(),
        ]);
        let (rpms, warnings) = from_sqlite(&db).unwrap();
        assert_eq!(
            rpms,
            [
                Rpm {
                    name: "openssl-libs".into(),
                    version: "1:3.0.7-24.el9".into(),
                    arch: Some("x86_64".into()),
                    source: Some(("openssl".into(), "3.0.7-24.el9".into())),
                },
                Rpm {
                    name: "bash".into(),
                    version: "5.1.8-6.el9".into(),
                    arch: None,
                    source: None,
                },
            ]
        );
        assert_eq!(
            warnings.len(),
            1,
            "the broken header is reported, the rest listed"
        );
    }

    #[test]
    fn hostile_headers_and_databases_are_errors() {
        let good = header(&[(TAG_NAME, "a"), (TAG_VERSION, "1")]);
        for cut in 0..good.len() {
            let _ = parse_header(&good[..cut]);
        }
        let mut lying = good.clone();
        lying[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header(&lying).is_err());
        assert!(from_sqlite(b"not a database at all").is_err());
        let db = database(&[good]);
        for cut in [0, 100, db.len() / 2] {
            let _ = from_sqlite(&db[..cut]);
        }
    }
}
