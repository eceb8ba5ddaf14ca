//! Java archives (JAR, WAR, EAR): the Maven coordinates each names, from
//! `META-INF/maven/**/pom.properties` (several in a shaded jar), else from `META-INF/MANIFEST.MF`,
//! else from the file name (`name-1.2.3.jar`). Archives nested inside (`WEB-INF/lib/*.jar`,
//! `BOOT-INF/lib/*.jar`, an EAR's modules) are read too, to a bounded depth and size, so a zip
//! bomb or a corrupt archive is a warning rather than a hang.

use std::io::{Cursor, Read};

/// How deep archives inside archives are followed.
const MAX_DEPTH: usize = 3;
/// The largest member (a nested archive, a properties file) read.
const MAX_MEMBER: u64 = 64 << 20;
/// The most members looked at in one archive.
const MAX_ENTRIES: usize = 100_000;

/// One Maven artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `groupId:artifactId`, as the Maven ecosystem names packages; the bare name when the
    /// group is unknown.
    pub name: String,
    pub version: String,
}

/// Whether `path` is a Java archive by its name.
pub fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".jar", ".war", ".ear", ".jpi", ".hpi"]
        .iter()
        .any(|e| lower.ends_with(e))
}

fn properties(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| {
        let l = l.trim();
        if l.starts_with('#') || l.starts_with('!') {
            return None;
        }
        let (k, v) = l.split_once(['=', ':'])?;
        Some((k.trim(), v.trim()))
    })
}

fn read_member(
    file: &mut zip::read::ZipFile<'_, Cursor<&[u8]>>,
    member: &str,
) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    file.take(MAX_MEMBER + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{member}: {e}"))?;
    if data.len() as u64 > MAX_MEMBER {
        return Err(format!("{member} is larger than {MAX_MEMBER} bytes"));
    }
    Ok(data)
}

/// The artifacts in the archive `data` named `name`, and warnings for what could not be read.
pub fn artifacts(name: &str, data: &[u8]) -> (Vec<Artifact>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    walk(name, data, 0, &mut out, &mut warnings);
    (out, warnings)
}

fn walk(
    name: &str,
    data: &[u8],
    depth: usize,
    out: &mut Vec<Artifact>,
    warnings: &mut Vec<String>,
) {
    let mut zip = match zip::ZipArchive::new(Cursor::new(data)) {
        Ok(z) => z,
        Err(e) => {
            warnings.push(format!("{name}: not a readable archive: {e}"));
            return;
        }
    };
    if zip.len() > MAX_ENTRIES {
        warnings.push(format!("{name}: more than {MAX_ENTRIES} entries; not read"));
        return;
    }
    let mut found = Vec::new();
    let mut manifest = None;
    let mut nested = Vec::new();
    for i in 0..zip.len() {
        let mut file = match zip.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                warnings.push(format!("{name}: entry {i}: {e}"));
                continue;
            }
        };
        let member = String::from_utf8_lossy(file.name_raw()).into_owned();
        let wanted = (member.starts_with("META-INF/maven/") && member.ends_with("/pom.properties"))
            || member.eq_ignore_ascii_case("META-INF/MANIFEST.MF")
            || (depth < MAX_DEPTH && is_archive(&member));
        if !wanted || file.is_dir() {
            continue;
        }
        let data = match read_member(&mut file, &member) {
            Ok(d) => d,
            Err(e) => {
                warnings.push(format!("{name}: {e}"));
                continue;
            }
        };
        if member.ends_with("/pom.properties") {
            let text = String::from_utf8_lossy(&data);
            let (mut g, mut a, mut v) = (None, None, None);
            for (k, val) in properties(&text) {
                match k {
                    "groupId" => g = Some(val.to_owned()),
                    "artifactId" => a = Some(val.to_owned()),
                    "version" => v = Some(val.to_owned()),
                    _ => {}
                }
            }
            if let (Some(g), Some(a), Some(v)) = (g, a, v) {
                found.push(Artifact {
                    name: format!("{g}:{a}"),
                    version: v,
                });
            }
        } else if member.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
            manifest = Some(String::from_utf8_lossy(&data).into_owned());
        } else {
            nested.push((member, data));
        }
    }
    if found.is_empty() {
        found.extend(from_manifest(manifest.as_deref()).or_else(|| from_file_name(name)));
    }
    out.extend(found);
    for (member, data) in nested {
        walk(
            &format!("{name}!/{member}"),
            &data,
            depth + 1,
            out,
            warnings,
        );
    }
}

/// Coordinates from a manifest's attributes, when it names a version.
fn from_manifest(text: Option<&str>) -> Option<Artifact> {
    let text = text?;
    let get = |key: &str| {
        properties(text)
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.to_owned())
    };
    let version = get("Implementation-Version").or_else(|| get("Bundle-Version"))?;
    let artifact = get("Bundle-SymbolicName")
        .map(|s| s.split(';').next().unwrap_or("").to_owned())
        .or_else(|| get("Implementation-Title"))?;
    let name = match get("Implementation-Vendor-Id") {
        Some(group) if !artifact.contains('.') || !artifact.starts_with(&group) => {
            format!("{group}:{artifact}")
        }
        _ => artifact,
    };
    Some(Artifact { name, version })
}

/// `commons-text-1.9.jar` is commons-text 1.9.
fn from_file_name(path: &str) -> Option<Artifact> {
    let file = path.rsplit(['/', '!']).next()?;
    let stem = file.rsplit_once('.')?.0;
    let at = stem
        .match_indices('-')
        .find(|(i, _)| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))?
        .0;
    Some(Artifact {
        name: stem[..at].to_owned(),
        version: stem[at + 1..].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn jar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn coordinates_from_pom_manifest_or_name_and_nested_archives() {
        let inner = jar(&[(
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
            b"#Generated\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n",
        )]);
        let manifest_only = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nBundle-SymbolicName: com.example.tool;singleton:=true\nBundle-Version: 3.1.0\n",
        )]);
        let war = jar(&[
            ("WEB-INF/web.xml", b"<web-app/>"),
            ("WEB-INF/lib/log4j-core-2.14.1.jar", &inner),
            ("WEB-INF/lib/tool.jar", &manifest_only),
            (
                "WEB-INF/lib/commons-text-1.9.jar",
                &jar(&[("x.class", b"\xca\xfe")]),
            ),
        ]);
        let (found, warnings) = artifacts("app.war", &war);
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|a| (a.name.as_str(), a.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("org.apache.logging.log4j:log4j-core", "2.14.1"),
                ("com.example.tool", "3.1.0"),
                ("commons-text", "1.9"),
            ]
        );
    }

    #[test]
    fn corrupt_and_nested_bombs_are_bounded() {
        let good = jar(&[(
            "META-INF/maven/g/a/pom.properties",
            b"groupId=g\nartifactId=a\nversion=1\n",
        )]);
        for cut in (0..good.len()).step_by(7) {
            let _ = artifacts("cut.jar", &good[..cut]);
        }
        let (_, warnings) = artifacts("junk.jar", b"PK\x03\x04 not really");
        assert!(warnings.iter().any(|w| w.contains("junk.jar")));
        // Archives nested deeper than the limit are not opened.
        let mut nested = good.clone();
        for _ in 0..6 {
            nested = jar(&[("inner.jar", &nested)]);
        }
        let (found, _) = artifacts("deep.jar", &nested);
        assert!(found.iter().all(|a| a.name != "g:a"), "{found:?}");
    }
}
