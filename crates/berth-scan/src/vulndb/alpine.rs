//! Alpine's secdb (`v3.19/main.yaml`, or its JSON form): per origin package, the version that
//! fixed each CVE. berth records each CVE as an advisory with the range "introduced 0, fixed
//! VERSION" for ecosystem `Alpine:v3.19`. A fix at version `0` means the package was never
//! affected, which says nothing to match.
//!
//! The YAML is read line by line for exactly the shape secdb has (`distroversion:`, `- pkg:`,
//! `name:`, `secfixes:`, version keys and `- ID` items), so no general YAML parser sees hostile
//! input.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Advisory, Affected, Event, Parsed, Range};

/// (package, fixed version, advisory id) triples, and the release.
#[derive(Default)]
struct Fixes {
    release: String,
    fixes: Vec<(String, String, String)>,
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
}

fn from_yaml(text: &str) -> Fixes {
    let mut f = Fixes::default();
    let mut package = String::new();
    let mut in_secfixes = false;
    let mut version = String::new();
    for line in text.lines() {
        let body = line.split(" #").next().unwrap_or("").trim_end();
        let trimmed = body.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(v) = trimmed.strip_prefix("distroversion:") {
            f.release = unquote(v).to_owned();
        } else if trimmed == "- pkg:" || trimmed.starts_with("- pkg:") {
            package.clear();
            in_secfixes = false;
        } else if let Some(n) = trimmed.strip_prefix("name:") {
            package = unquote(n).to_owned();
            in_secfixes = false;
        } else if trimmed == "secfixes:" {
            in_secfixes = true;
            version.clear();
        } else if in_secfixes && let Some(item) = trimmed.strip_prefix("- ") {
            for id in item.split_whitespace().map(unquote) {
                if !package.is_empty() && !version.is_empty() && !id.is_empty() {
                    f.fixes
                        .push((package.clone(), version.clone(), id.to_owned()));
                }
            }
        } else if in_secfixes && let Some(key) = trimmed.strip_suffix(':') {
            version = unquote(key).to_owned();
        } else if !line.starts_with(' ') {
            in_secfixes = false;
        }
    }
    f
}

#[derive(Deserialize)]
struct JsonDb {
    distroversion: String,
    #[serde(default)]
    packages: Vec<JsonPackage>,
}

#[derive(Deserialize)]
struct JsonPackage {
    pkg: JsonPkg,
}

#[derive(Deserialize)]
struct JsonPkg {
    name: String,
    #[serde(default)]
    secfixes: BTreeMap<String, Option<Vec<String>>>,
}

pub(super) fn parse(name: &str, data: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let fixes = if data.trim_ascii_start().starts_with(b"{") {
        match serde_json::from_slice::<JsonDb>(data) {
            Ok(db) => Fixes {
                release: db.distroversion,
                fixes: db
                    .packages
                    .into_iter()
                    .flat_map(|p| {
                        let name = p.pkg.name;
                        p.pkg.secfixes.into_iter().flat_map(move |(v, ids)| {
                            let name = name.clone();
                            ids.unwrap_or_default()
                                .into_iter()
                                .flat_map(|i| {
                                    i.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
                                })
                                .map(move |id| (name.clone(), v.clone(), id))
                        })
                    })
                    .collect(),
            },
            Err(e) => {
                out.warnings
                    .push(format!("{name}: not an Alpine secdb: {e}"));
                return out;
            }
        }
    } else {
        from_yaml(&String::from_utf8_lossy(data))
    };
    if fixes.release.is_empty() {
        out.warnings
            .push(format!("{name}: not an Alpine secdb: no distroversion"));
        return out;
    }
    let release = if fixes.release.starts_with('v') {
        fixes.release.clone()
    } else {
        format!("v{}", fixes.release)
    };
    let mut by_id: BTreeMap<String, Advisory> = BTreeMap::new();
    for (package, version, id) in fixes.fixes {
        if version == "0" {
            out.skipped += 1;
            continue;
        }
        let advisory = by_id.entry(id.clone()).or_insert_with(|| Advisory {
            id,
            aliases: Vec::new(),
            summary: String::new(),
            cvss: Vec::new(),
            rating: None,
            affected: Vec::new(),
        });
        advisory.affected.push(Affected {
            ecosystem: format!("Alpine:{release}"),
            package,
            ranges: vec![Range {
                semver: false,
                events: vec![Event::Introduced("0".into()), Event::Fixed(version)],
            }],
            versions: Vec::new(),
        });
    }
    out.advisories = by_id.into_values().collect();
    out
}
