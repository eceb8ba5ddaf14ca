//! The Debian security tracker's advisory lists (`data/DSA/list`, `DLA/list`, `DTSA/list`):
//!
//! ```text
//! [29 Mar 2023] DSA-5380-1 xorg-server - security update
//!     {CVE-2023-1393}
//!     [bullseye] - xorg-server 2:1.20.11-1+deb11u6
//!     [buster] - foo <not-affected> (reason)
//! ```
//! (the indentation is a tab).
//! Each release line says the source package is fixed in that release at that version, which
//! berth records as the range "introduced 0, fixed VERSION" for ecosystem `Debian:N`. `<unfixed>`
//! is affected with no fix; `<not-affected>` and `<end-of-life>` say nothing to match.

use super::{Advisory, Affected, Event, Parsed, Range};

/// Debian's release code names and numbers.
const RELEASES: &[(&str, &str)] = &[
    ("buzz", "1.1"),
    ("rex", "1.2"),
    ("bo", "1.3"),
    ("hamm", "2.0"),
    ("slink", "2.1"),
    ("potato", "2.2"),
    ("woody", "3.0"),
    ("sarge", "3.1"),
    ("etch", "4"),
    ("lenny", "5"),
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
    ("forky", "14"),
];

/// `12` for `bookworm`.
pub fn release_number(code_name: &str) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|(n, _)| *n == code_name)
        .map(|(_, v)| *v)
}

pub(super) fn parse(name: &str, data: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(data);
    let mut out = Parsed::default();
    let mut current: Option<Advisory> = None;
    let finish = |a: Option<Advisory>, out: &mut Parsed| {
        if let Some(a) = a {
            if a.affected.is_empty() {
                out.skipped += 1;
            } else {
                out.advisories.push(a);
            }
        }
    };
    for (i, line) in text.lines().enumerate() {
        let where_ = || format!("{name} line {}", i + 1);
        if line.starts_with('[') {
            // `[date] ID package - description`
            finish(current.take(), &mut out);
            let Some((_, rest)) = line.split_once("] ") else {
                out.warnings.push(format!("{}: no advisory id", where_()));
                continue;
            };
            let mut words = rest.split_whitespace();
            let (Some(id), Some(_package)) = (words.next(), words.next()) else {
                out.warnings.push(format!("{}: no advisory id", where_()));
                continue;
            };
            let summary = rest.split_once(" - ").map_or("", |(_, s)| s).to_owned();
            current = Some(Advisory {
                id: id.to_owned(),
                aliases: Vec::new(),
                summary,
                cvss: Vec::new(),
                rating: None,
                affected: Vec::new(),
            });
            continue;
        }
        let Some(a) = current.as_mut() else {
            continue;
        };
        let body = line.trim();
        if let Some(ids) = body.strip_prefix('{').and_then(|b| b.strip_suffix('}')) {
            a.aliases.extend(ids.split_whitespace().map(str::to_owned));
        } else if let Some(rest) = body.strip_prefix('[') {
            // `[release] - package version-or-<tag> (note)`
            let Some((release, rest)) = rest.split_once(']') else {
                out.warnings.push(format!("{}: bad release line", where_()));
                continue;
            };
            let mut words = rest.trim_start().trim_start_matches('-').split_whitespace();
            let (Some(package), Some(version)) = (words.next(), words.next()) else {
                out.warnings.push(format!("{}: bad release line", where_()));
                continue;
            };
            let Some(number) = release_number(release.trim()) else {
                continue;
            };
            let events = match version {
                "<unfixed>" => vec![Event::Introduced("0".into())],
                v if v.starts_with('<') => continue,
                v => vec![Event::Introduced("0".into()), Event::Fixed(v.to_owned())],
            };
            a.affected.push(Affected {
                ecosystem: format!("Debian:{number}"),
                package: package.to_owned(),
                ranges: vec![Range {
                    semver: false,
                    events,
                }],
                versions: Vec::new(),
            });
        }
    }
    finish(current.take(), &mut out);
    out
}
