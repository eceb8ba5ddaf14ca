//! Rust: the dependency list `cargo auditable` embeds in a binary, and `Cargo.lock` files.
//!
//! An auditable binary carries an ELF section `.dep-v0` holding zlib-compressed JSON:
//! `{"packages": [{"name", "version", "source": "crates.io"|"git"|"local"|…, "root"?: bool}]}`.
//! The section is found through the ELF section headers (32- or 64-bit, little- or big-endian),
//! every offset checked against the file. A `Cargo.lock` lists `[[package]]` tables with `name`,
//! `version` and `source`; only packages from a registry are reported.

use std::io::Read;

/// The largest decompressed dependency list read.
const MAX_JSON: u64 = 16 << 20;

/// One crate: name, version, and whether it comes from crates.io (the only source advisories
/// name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    pub registry: bool,
}

/// The bytes of the ELF section `name`, if `data` is an ELF file that has one.
fn elf_section<'a>(data: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if !data.starts_with(b"\x7fELF") || data.len() < 64 {
        return None;
    }
    let wide = data[4] == 2;
    let little = data[5] == 1;
    let int = |at: usize, len: usize| -> Option<u64> {
        let bytes = data.get(at..at.checked_add(len)?)?;
        let mut v = 0u64;
        for i in 0..len {
            let b = if little { bytes[len - 1 - i] } else { bytes[i] };
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    };
    let (shoff, shentsize, shnum, shstrndx) = if wide {
        (int(0x28, 8)?, int(0x3a, 2)?, int(0x3c, 2)?, int(0x3e, 2)?)
    } else {
        (int(0x20, 4)?, int(0x2e, 2)?, int(0x30, 2)?, int(0x32, 2)?)
    };
    // (name offset, file offset, size) of section `i`.
    let section = |i: u64| -> Option<(u64, u64, u64)> {
        let base = usize::try_from(shoff.checked_add(i.checked_mul(shentsize)?)?).ok()?;
        if wide {
            Some((int(base, 4)?, int(base + 0x18, 8)?, int(base + 0x20, 8)?))
        } else {
            Some((int(base, 4)?, int(base + 0x10, 4)?, int(base + 0x14, 4)?))
        }
    };
    let bytes = |offset: u64, size: u64| -> Option<&'a [u8]> {
        let start = usize::try_from(offset).ok()?;
        data.get(start..start.checked_add(usize::try_from(size).ok()?)?)
    };
    let (_, str_off, str_size) = section(shstrndx)?;
    let names = bytes(str_off, str_size)?;
    for i in 0..shnum.min(65_535) {
        let (name_off, off, size) = section(i)?;
        let start = usize::try_from(name_off).ok()?;
        let n = names.get(start..)?;
        let end = n.iter().position(|b| *b == 0)?;
        if &n[..end] == name {
            return bytes(off, size);
        }
    }
    None
}

#[derive(serde::Deserialize)]
struct DepInfo {
    packages: Vec<DepPackage>,
}

#[derive(serde::Deserialize)]
struct DepPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
}

/// The crates an auditable binary was built from; `None` when it has no `.dep-v0` section,
/// `Err` when the section cannot be read.
pub fn auditable(data: &[u8]) -> Option<Result<Vec<Crate>, String>> {
    let section = elf_section(data, b".dep-v0")?;
    let mut json = Vec::new();
    let read = flate2::read::ZlibDecoder::new(section)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json);
    if let Err(e) = read {
        return Some(Err(format!("its .dep-v0 section does not decompress: {e}")));
    }
    if json.len() as u64 > MAX_JSON {
        return Some(Err(format!(
            "its .dep-v0 section decompresses to more than {MAX_JSON} bytes"
        )));
    }
    Some(match serde_json::from_slice::<DepInfo>(&json) {
        Ok(info) => Ok(info
            .packages
            .into_iter()
            .map(|p| Crate {
                registry: p.source == "crates.io" || p.source.starts_with("registry"),
                name: p.name,
                version: p.version,
            })
            .collect()),
        Err(e) => Err(format!("its .dep-v0 section is not a dependency list: {e}")),
    })
}

/// The `[[package]]` tables of a Cargo.lock.
pub fn cargo_lock(text: &str) -> Vec<Crate> {
    let mut out = Vec::new();
    let mut current: Option<Crate> = None;
    let value = |v: &str| v.trim().trim_matches('"').to_owned();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            out.extend(
                current
                    .take()
                    .filter(|c| !c.name.is_empty() && !c.version.is_empty()),
            );
            if line == "[[package]]" {
                current = Some(Crate {
                    name: String::new(),
                    version: String::new(),
                    registry: false,
                });
            }
            continue;
        }
        let Some(c) = current.as_mut() else { continue };
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "name" => c.name = value(v),
                "version" => c.version = value(v),
                "source" => c.registry = value(v).starts_with("registry+"),
                _ => {}
            }
        }
    }
    out.extend(current.filter(|c| !c.name.is_empty() && !c.version.is_empty()));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal little-endian ELF64 file with the sections given.
    pub(crate) fn elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_offsets = Vec::new();
        for (n, _) in sections.iter().chain([(".shstrtab", &[][..])].iter()) {
            name_offsets.push(names.len() as u32);
            names.extend_from_slice(n.as_bytes());
            names.push(0);
        }
        let mut out = vec![0u8; 64];
        out[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let mut placed = Vec::new();
        for (_, data) in sections {
            placed.push((out.len() as u64, data.len() as u64));
            out.extend_from_slice(data);
        }
        placed.push((out.len() as u64, names.len() as u64));
        out.extend_from_slice(&names);
        let shoff = out.len() as u64;
        // The null section, then each section, then the name table.
        out.extend([0u8; 64]);
        for (i, (off, size)) in placed.iter().enumerate() {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name_offsets[i].to_le_bytes());
            h[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            h[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            out.extend(h);
        }
        out[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        out[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        out[0x3c..0x3e].copy_from_slice(&((placed.len() + 1) as u16).to_le_bytes());
        out[0x3e..0x40].copy_from_slice(&(placed.len() as u16).to_le_bytes());
        out
    }

    pub(crate) fn dep_v0(json: &str) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json.as_bytes()).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn auditable_binaries_list_their_crates() {
        let json = r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true},{"name":"smallvec","version":"1.6.0","source":"crates.io"}]}"#;
        let bin = elf(&[(".text", b"\x90\x90"), (".dep-v0", &dep_v0(json))]);
        let crates = auditable(&bin).unwrap().unwrap();
        assert_eq!(
            crates,
            [
                Crate {
                    name: "app".into(),
                    version: "0.1.0".into(),
                    registry: false
                },
                Crate {
                    name: "smallvec".into(),
                    version: "1.6.0".into(),
                    registry: true
                },
            ]
        );
        assert!(auditable(&elf(&[(".text", b"x")])).is_none());
        // Corrupt: not zlib, not JSON, and every truncation.
        assert!(
            auditable(&elf(&[(".dep-v0", b"garbage")]))
                .unwrap()
                .is_err()
        );
        assert!(
            auditable(&elf(&[(".dep-v0", &dep_v0("[1,2]"))]))
                .unwrap()
                .is_err()
        );
        for cut in 0..bin.len() {
            let _ = auditable(&bin[..cut]);
        }
    }

    #[test]
    fn cargo_lock_packages() {
        let lock = "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"time\",\n]\n\n[[package]]\nname = \"time\"\nversion = \"0.1.43\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ca\"\n\n[metadata]\nx = 1\n";
        assert_eq!(
            cargo_lock(lock),
            [
                Crate {
                    name: "app".into(),
                    version: "0.1.0".into(),
                    registry: false
                },
                Crate {
                    name: "time".into(),
                    version: "0.1.43".into(),
                    registry: true
                },
            ]
        );
        assert!(cargo_lock("[[package]]\nname = \"half\"\n").is_empty());
    }
}
