//! Go binaries: the build information the Go linker embeds (Go 1.18 and later) names the Go
//! version, the main module and every dependency module with its version.
//!
//! The information sits behind a 14-byte magic, `\xff Go buildinf:`, followed by the pointer
//! size, a flags byte and padding to 32 bytes. With flag bit 2 set (every Go from 1.18), the Go
//! version and the module information follow inline as two strings, each prefixed by its length
//! as an unsigned varint. The module information is framed by 16 sentinel bytes at each end and
//! holds tab-separated lines: `path`, `mod PATH VERSION SUM`, `dep PATH VERSION SUM`, and `=>`
//! lines that replace the dependency before them.

use memchr::memmem;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const FLAG_INLINE: u8 = 0x2;
/// The longest string read from build information.
const MAX_STRING: u64 = 1 << 20;

/// What a Go binary says it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.21.5`.
    pub go_version: String,
    /// The main module and its version (`(devel)` for a local build).
    pub main: Option<(String, String)>,
    /// Dependency modules and versions, replacements applied.
    pub deps: Vec<(String, String)>,
}

/// An unsigned LEB128 varint at the start of `data`: its value and length.
fn varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn string(data: &[u8]) -> Option<(&[u8], usize)> {
    let (len, n) = varint(data)?;
    if len > MAX_STRING {
        return None;
    }
    let end = n.checked_add(len as usize)?;
    Some((data.get(n..end)?, end))
}

/// Whether `data` is an executable format Go produces (ELF, Mach-O, PE).
pub fn looks_executable(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
        || data.starts_with(b"MZ")
        || data.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
        || data.starts_with(&[0xfe, 0xed, 0xfa, 0xcf])
}

/// The build information in a binary; `None` when it has none. `Err` says why information that
/// is there cannot be read (an old pre-1.18 layout, or truncated).
pub fn parse(data: &[u8]) -> Option<Result<BuildInfo, String>> {
    let at = memmem::find(data, MAGIC)?;
    let header = data.get(at..at + HEADER);
    let Some(header) = header else {
        return Some(Err("build information is truncated".into()));
    };
    if header[15] & FLAG_INLINE == 0 {
        return Some(Err(
            "build information in the pre-Go 1.18 layout, which berth does not read".into(),
        ));
    }
    let rest = &data[at + HEADER..];
    let Some((version, used)) = string(rest) else {
        return Some(Err("build information is truncated".into()));
    };
    let Some((modinfo, _)) = string(&rest[used..]) else {
        return Some(Err("build information is truncated".into()));
    };
    // The sentinels around the module information.
    let modinfo = if modinfo.len() >= 33 {
        &modinfo[16..modinfo.len() - 16]
    } else {
        &[][..]
    };
    let mut info = BuildInfo {
        go_version: String::from_utf8_lossy(version).into_owned(),
        main: None,
        deps: Vec::new(),
    };
    for line in String::from_utf8_lossy(modinfo).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["mod", path, version, ..] => info.main = Some((path.into(), version.into())),
            ["dep", path, version, ..] => info.deps.push((path.into(), version.into())),
            ["=>", path, version, ..] => {
                if let Some(last) = info.deps.last_mut() {
                    *last = (path.into(), version.into());
                }
            }
            _ => {}
        }
    }
    Some(Ok(info))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A blob laid out as the Go linker lays out inline build information.
    pub(crate) fn blob(go: &str, modinfo: &str) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, s: &[u8]) {
            let mut n = s.len();
            loop {
                let b = (n & 0x7f) as u8;
                n >>= 7;
                out.push(if n > 0 { b | 0x80 } else { b });
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(s);
        }
        let mut out = b"\x7fELF\x02\x01\x01 junk before the section ".to_vec();
        out.extend_from_slice(MAGIC);
        out.push(8);
        out.push(FLAG_INLINE);
        out.resize(out.len() + 16, 0);
        put(&mut out, go.as_bytes());
        let framed = [&[0x30u8; 16][..], modinfo.as_bytes(), &[0xf9u8; 16][..]].concat();
        put(&mut out, &framed);
        out.extend_from_slice(b"rest of the binary");
        out
    }

    #[test]
    fn modules_and_replacements_are_read() {
        let data = blob(
            "go1.21.5",
            "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.6\th1:x=\ndep\tgithub.com/a/b\tv1.0.0\th1:y=\n=>\tgithub.com/fork/b\tv1.0.1\th1:z=\nbuild\t-compiler=gc\n",
        );
        let info = parse(&data).unwrap().unwrap();
        assert_eq!(info.go_version, "go1.21.5");
        assert_eq!(
            info.main,
            Some(("example.com/app".into(), "(devel)".into()))
        );
        assert_eq!(
            info.deps,
            [
                ("golang.org/x/text".to_string(), "v0.3.6".to_string()),
                ("github.com/fork/b".to_string(), "v1.0.1".to_string())
            ]
        );
    }

    #[test]
    fn truncated_and_old_layouts_are_errors_not_panics() {
        let data = blob("go1.20", "mod\tm\tv1\t\n");
        for cut in 0..data.len() {
            let _ = parse(&data[..cut]);
        }
        let at = memmem::find(&data, MAGIC).unwrap();
        let mut old = data.clone();
        old[at + 15] = 0;
        assert!(parse(&old).unwrap().is_err());
        assert!(parse(&data[..at + 20]).unwrap().is_err());
        assert!(parse(b"no magic here").is_none());
        // A length prefix that claims more than there is.
        let mut huge = data[..at + HEADER].to_vec();
        huge.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(parse(&huge).unwrap().is_err());
    }
}
