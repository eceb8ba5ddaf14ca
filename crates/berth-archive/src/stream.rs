use std::io::{self, Read, Seek};

use crate::{ArchiveError, Limits};

/// What a tar entry makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

/// One tar entry with its GNU and PAX extensions already folded in.
#[derive(Debug, Clone)]
pub struct EntryMeta {
    pub path: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    pub atime: Option<(i64, u32)>,
    pub size: u64,
    pub dev: (u32, u32),
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EntryMeta {
    /// The entry's path for messages.
    pub fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    pax: Vec<PaxRecord>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.path.is_none() && self.link.is_none() && self.pax.is_empty()
    }
}

/// Walks a tar stream, folding GNU long names and PAX headers into each entry under the bounds of
/// `limits`, and calls `f` with each entry and a reader of its contents.
///
/// The contents not read by `f` are skipped. Sparse files, multi-volume archives and unknown entry
/// types are refused.
pub fn for_each_entry<R: Read>(
    reader: R,
    limits: &Limits,
    f: impl FnMut(&EntryMeta, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<R, ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|source| ArchiveError::Tar { source })?;
    walk(entries, limits, f)?;
    Ok(archive.into_inner())
}

/// [`for_each_entry`] over a seekable stream (an uncompressed layer file): the contents `f`
/// does not read are skipped by seeking instead of reading them.
pub fn for_each_entry_seekable<R: Read + Seek>(
    reader: R,
    limits: &Limits,
    f: impl FnMut(&EntryMeta, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<R, ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries_with_seek()
        .map_err(|source| ArchiveError::Tar { source })?;
    walk(entries, limits, f)?;
    Ok(archive.into_inner())
}

fn walk<R: Read>(
    entries: tar::Entries<'_, R>,
    limits: &Limits,
    mut f: impl FnMut(&EntryMeta, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    {
        let entries = entries.raw(true);
        let mut pending = Pending::default();
        for entry in entries {
            let mut entry = entry.map_err(|source| ArchiveError::Tar { source })?;
            let header = entry.header().clone();
            let raw_path = entry.path_bytes().into_owned();
            let shown =
                || String::from_utf8_lossy(pending_or(&pending.path, &raw_path)).into_owned();
            let size = header.entry_size().map_err(|e| bad(&shown(), e))?;
            let t = header.entry_type();
            let kind = match t {
                tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
                | tar::EntryType::XHeader
                | tar::EntryType::XGlobalHeader => {
                    if size > limits.max_header {
                        return Err(ArchiveError::HeaderTooLarge {
                            entry: shown(),
                            size,
                            limit: limits.max_header,
                        });
                    }
                    let mut body = Vec::with_capacity(size as usize);
                    (&mut entry)
                        .take(size)
                        .read_to_end(&mut body)
                        .map_err(|source| ArchiveError::Tar { source })?;
                    match t {
                        tar::EntryType::GNULongName => pending.path = Some(trim_nul(body)),
                        tar::EntryType::GNULongLink => pending.link = Some(trim_nul(body)),
                        tar::EntryType::XHeader => {
                            pending.pax.extend(parse_pax(&body).map_err(|why| {
                                ArchiveError::BadHeader {
                                    entry: shown(),
                                    why,
                                }
                            })?)
                        }
                        _ => {} // Global PAX headers carry nothing berth applies.
                    }
                    continue;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Dir,
                tar::EntryType::Symlink => EntryKind::Symlink,
                tar::EntryType::Link => EntryKind::Hardlink,
                tar::EntryType::Char => EntryKind::Char,
                tar::EntryType::Block => EntryKind::Block,
                tar::EntryType::Fifo => EntryKind::Fifo,
                tar::EntryType::GNUSparse => {
                    return Err(ArchiveError::Unsupported {
                        entry: shown(),
                        what: "a sparse file".into(),
                    });
                }
                other => {
                    return Err(ArchiveError::Unsupported {
                        entry: shown(),
                        what: format!("entry type {:?}", other.as_byte() as char),
                    });
                }
            };
            let meta = build_meta(std::mem::take(&mut pending), raw_path, &header, kind, size)?;
            f(&meta, &mut entry)?;
        }
        if !pending.is_empty() {
            return Err(ArchiveError::Tar {
                source: io::Error::other("extension headers describe an entry that never follows"),
            });
        }
    }
    Ok(())
}

fn pending_or<'a>(p: &'a Option<Vec<u8>>, raw: &'a [u8]) -> &'a [u8] {
    p.as_deref().unwrap_or(raw)
}

fn bad(entry: &str, e: io::Error) -> ArchiveError {
    ArchiveError::BadHeader {
        entry: entry.to_owned(),
        why: e.to_string(),
    }
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn build_meta(
    p: Pending,
    raw_path: Vec<u8>,
    h: &tar::Header,
    kind: EntryKind,
    size: u64,
) -> Result<EntryMeta, ArchiveError> {
    let mut path = p.path.unwrap_or(raw_path);
    let mut link = p
        .link
        .or_else(|| h.link_name_bytes().map(|l| l.into_owned()));
    let shown = String::from_utf8_lossy(&path).into_owned();
    // Like Go's archive/tar, a numeric field left empty (NULs or spaces) reads as 0.
    let num = |r: io::Result<u64>, field: &[u8]| -> Result<u64, ArchiveError> {
        match r {
            Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
            r => r.map_err(|e| bad(&shown, e)),
        }
    };
    let old = h.as_old();
    let id = |v: u64| -> Result<u32, ArchiveError> {
        u32::try_from(v).map_err(|_| ArchiveError::BadHeader {
            entry: shown.clone(),
            why: format!("id {v} out of range"),
        })
    };
    let mut meta = EntryMeta {
        path: Vec::new(),
        link: None,
        kind,
        mode: h.mode().map_err(|e| bad(&shown, e))? & 0o7777,
        uid: id(num(h.uid(), &old.uid)?)?,
        gid: id(num(h.gid(), &old.gid)?)?,
        mtime: (
            i64::try_from(num(h.mtime(), &old.mtime)?).unwrap_or(i64::MAX),
            0,
        ),
        atime: None,
        size,
        dev: (0, 0),
        xattrs: Vec::new(),
    };
    if matches!(kind, EntryKind::Char | EntryKind::Block) {
        // Like Go's archive/tar, an empty device field reads as 0.
        let major = h.device_major().ok().flatten().unwrap_or(0);
        let minor = h.device_minor().ok().flatten().unwrap_or(0);
        meta.dev = (major, minor);
    }
    for (key, value) in p.pax {
        let text = || String::from_utf8_lossy(&value).into_owned();
        match key.as_slice() {
            b"path" => path = value,
            b"linkpath" => link = Some(value),
            b"uid" => meta.uid = id(text().parse().map_err(|_| pax_bad(&shown, "uid"))?)?,
            b"gid" => meta.gid = id(text().parse().map_err(|_| pax_bad(&shown, "gid"))?)?,
            b"mtime" => {
                meta.mtime = parse_pax_time(&text()).ok_or_else(|| pax_bad(&shown, "mtime"))?
            }
            b"atime" => {
                meta.atime = Some(parse_pax_time(&text()).ok_or_else(|| pax_bad(&shown, "atime"))?)
            }
            b"size" => {
                if text().parse::<u64>().ok() != Some(size) {
                    return Err(ArchiveError::Unsupported {
                        entry: shown,
                        what: "a PAX size that differs from the header".into(),
                    });
                }
            }
            k if k.starts_with(b"GNU.sparse.") => {
                return Err(ArchiveError::Unsupported {
                    entry: shown,
                    what: "a PAX sparse file".into(),
                });
            }
            k => {
                if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                    meta.xattrs.push((name.to_vec(), value));
                }
            }
        }
    }
    if path.contains(&0) || link.as_ref().is_some_and(|l| l.contains(&0)) {
        return Err(ArchiveError::BadHeader {
            entry: shown,
            why: "NUL byte in a path".into(),
        });
    }
    meta.path = path;
    meta.link = if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) {
        link
    } else {
        None
    };
    if meta.link.as_ref().is_none_or(|l| l.is_empty())
        && matches!(kind, EntryKind::Symlink | EntryKind::Hardlink)
    {
        return Err(ArchiveError::BadHeader {
            entry: meta.display_path(),
            why: "link without a target".into(),
        });
    }
    Ok(meta)
}

fn pax_bad(entry: &str, key: &str) -> ArchiveError {
    ArchiveError::BadHeader {
        entry: entry.to_owned(),
        why: format!("bad PAX {key}"),
    }
}

/// `mtime=1700000000.123456789`; negative times are allowed, as in PAX.
fn parse_pax_time(s: &str) -> Option<(i64, u32)> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = frac
        .as_bytes()
        .iter()
        .take(9)
        .map(|b| u32::from(b - b'0'))
        .collect::<Vec<_>>();
    digits.resize(9, 0);
    let nanos = digits.iter().fold(0u32, |acc, d| acc * 10 + d);
    Some((secs, nanos))
}

/// Parses PAX records, `"%d %s=%s\n"`, where the length counts the whole record.
/// A PAX record: key and value bytes.
type PaxRecord = (Vec<u8>, Vec<u8>);

fn parse_pax(mut body: &[u8]) -> Result<Vec<PaxRecord>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.iter().all(|&b| b == 0) {
            break;
        }
        let sp = body
            .iter()
            .position(|&b| b == b' ')
            .ok_or("PAX record without a length")?;
        let len: usize = std::str::from_utf8(&body[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad PAX record length")?;
        if len <= sp + 1 || len > body.len() || body[len - 1] != b'\n' {
            return Err("PAX record length out of bounds".into());
        }
        let record = &body[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("PAX record without '='")?;
        out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        body = &body[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records() {
        let recs = parse_pax(b"30 mtime=1700000000.123456789\n12 path=abc\n").unwrap();
        assert_eq!(
            recs[0],
            (b"mtime".to_vec(), b"1700000000.123456789".to_vec())
        );
        assert_eq!(recs[1], (b"path".to_vec(), b"abc".to_vec()));
        assert_eq!(
            parse_pax_time("1700000000.5"),
            Some((1700000000, 500_000_000))
        );
        assert_eq!(parse_pax_time("-1"), Some((-1, 0)));
        for bad in [
            &b"99 path=x\n"[..],
            b"x path=y\n",
            b"3 a\n",
            b"11 pathabc\n",
            b"1 \n",
        ] {
            assert!(
                parse_pax(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
