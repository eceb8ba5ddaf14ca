//! OSV records (schema 1.x): one JSON document, or JSON lines.

use serde::Deserialize;

use super::{Advisory, Affected, Event, Parsed, Range};

/// A list that may also be `null` or absent.
fn list<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default, deserialize_with = "list")]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "list")]
    severity: Vec<Severity>,
    #[serde(default, deserialize_with = "list")]
    affected: Vec<RecordAffected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Severity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RecordAffected {
    package: Option<Package>,
    #[serde(default, deserialize_with = "list")]
    ranges: Vec<RecordRange>,
    #[serde(default, deserialize_with = "list")]
    versions: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    severity: Vec<Severity>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RecordRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "list")]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

fn event(map: &serde_json::Map<String, serde_json::Value>) -> Option<Event> {
    let (k, v) = map.iter().next()?;
    let v = v.as_str()?.to_owned();
    Some(match k.as_str() {
        "introduced" => Event::Introduced(v),
        "fixed" => Event::Fixed(v),
        "last_affected" => Event::LastAffected(v),
        "limit" => Event::Limit(v),
        _ => return None,
    })
}

/// One record as berth's model; `None` when it is withdrawn or names nothing berth can match
/// (only GIT ranges, say).
fn convert(r: Record) -> Option<Advisory> {
    if r.withdrawn.is_some() {
        return None;
    }
    let mut cvss: Vec<String> = r
        .severity
        .iter()
        .chain(r.affected.iter().flat_map(|a| a.severity.iter()))
        .filter(|s| s.kind.starts_with("CVSS_"))
        .map(|s| s.score.clone())
        .collect();
    cvss.dedup();
    let affected: Vec<Affected> = r
        .affected
        .into_iter()
        .filter_map(|a| {
            let package = a.package?;
            let ranges: Vec<Range> = a
                .ranges
                .into_iter()
                .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
                .map(|r| Range {
                    semver: r.kind == "SEMVER",
                    events: r.events.iter().filter_map(event).collect(),
                })
                .filter(|r| !r.events.is_empty())
                .collect();
            (!ranges.is_empty() || !a.versions.is_empty()).then_some(Affected {
                ecosystem: package.ecosystem,
                package: package.name,
                ranges,
                versions: a.versions,
            })
        })
        .collect();
    if affected.is_empty() {
        return None;
    }
    let rating = r
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    Some(Advisory {
        id: r.id,
        aliases: r.aliases,
        summary: r
            .summary
            .or_else(|| r.details.map(|d| d.lines().next().unwrap_or("").to_owned()))
            .unwrap_or_default(),
        cvss,
        rating,
        affected,
    })
}

/// One OSV document, or JSON lines of them.
pub(super) fn parse(name: &str, data: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let one =
        |line: &[u8], what: &str, out: &mut Parsed| match serde_json::from_slice::<Record>(line) {
            Ok(r) => match convert(r) {
                Some(a) => out.advisories.push(a),
                None => out.skipped += 1,
            },
            Err(e) => out.warnings.push(format!("{what}: not an OSV record: {e}")),
        };
    let trimmed = data.trim_ascii_start();
    // A document spanning lines is one record; one record per line is JSON lines.
    let single = serde_json::from_slice::<serde_json::Value>(trimmed).is_ok();
    if single {
        one(trimmed, name, &mut out);
    } else {
        for (i, line) in data.split(|b| *b == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            one(line, &format!("{name} line {}", i + 1), &mut out);
        }
    }
    out
}
