//! Matching an inventory against the database: each package is looked up under the ecosystem and
//! name its advisories use (Debian by release and source package, Alpine by release and origin,
//! PyPI by normalised name), and OSV ranges are evaluated as the OSV schema defines them, in the
//! ecosystem's own version order.

use std::cmp::Ordering;

use serde::Serialize;

use super::store::{DbError, VulnDb};
use super::{Advisory, Affected, Event, Range};
use crate::inventory::{Inventory, Kind, Package, normalise_pypi};
use crate::severity::{self, Rating};
use crate::version::{Scheme, compare};

/// One vulnerable package.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Finding {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    pub package: String,
    pub kind: Kind,
    pub installed: String,
    /// The first version that fixes it, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub severity: Rating,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<String>,
    /// Index into the inventory's layers.
    pub layer: usize,
    /// The package database it was found in.
    pub path: String,
    /// The package's URL, as the SBOM names it.
    pub purl: String,
}

/// The ecosystem, advisory package name, version and order under which `p` is looked up.
fn lookup(p: &Package, inv: &Inventory) -> Option<(String, String, String, Scheme)> {
    let os = inv.os.as_ref();
    Some(match p.kind {
        Kind::Deb => {
            let os = os.filter(|o| o.id == "debian")?;
            let major = os.version_id.split('.').next()?;
            (
                format!("Debian:{major}"),
                p.source.clone().unwrap_or_else(|| p.name.clone()),
                p.source_version
                    .clone()
                    .unwrap_or_else(|| p.version.clone()),
                Scheme::Dpkg,
            )
        }
        Kind::Apk => {
            let os = os.filter(|o| o.id == "alpine")?;
            let mut parts = os.version_id.split('.');
            let release = format!("v{}.{}", parts.next()?, parts.next()?);
            (
                format!("Alpine:{release}"),
                p.source.clone().unwrap_or_else(|| p.name.clone()),
                p.version.clone(),
                Scheme::Apk,
            )
        }
        Kind::Python => (
            "PyPI".into(),
            normalise_pypi(&p.name),
            p.version.clone(),
            Scheme::Pep440,
        ),
        Kind::Npm => (
            "npm".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Semver,
        ),
        Kind::Rpm => {
            // OSV's RPM distributions that publish by release: AlmaLinux and Rocky Linux.
            let os = os?;
            let distro = match os.id.as_str() {
                "almalinux" => "AlmaLinux",
                "rocky" => "Rocky Linux",
                _ => return None,
            };
            let major = os.version_id.split('.').next()?;
            (
                format!("{distro}:{major}"),
                p.name.clone(),
                p.version.clone(),
                Scheme::Rpm,
            )
        }
        Kind::Maven => (
            "Maven".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Maven,
        ),
        Kind::Cargo => (
            "crates.io".into(),
            p.name.clone(),
            p.version.clone(),
            Scheme::Semver,
        ),
        // OSV writes Go module versions without the leading `v`.
        Kind::Go => (
            "Go".into(),
            p.name.clone(),
            p.version.trim_start_matches('v').to_owned(),
            Scheme::Semver,
        ),
    })
}

fn event_version(e: &Event) -> &str {
    match e {
        Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
    }
}

/// Whether `version` falls in `range`, by the OSV schema's evaluation: events sorted by version
/// ("introduced 0" first), an introduced at or below the version opens, a fixed at or below it
/// closes, a last_affected below it closes; a limit bounds the whole range from above. Returns
/// the fixing version that applies, if any.
fn in_range(version: &str, range: &Range, scheme: Scheme) -> Option<Option<String>> {
    let scheme = if range.semver { Scheme::Semver } else { scheme };
    let cmp = |a: &str, b: &str| compare(scheme, a, b);
    let mut events: Vec<&Event> = range
        .events
        .iter()
        .filter(|e| !matches!(e, Event::Limit(_)))
        .collect();
    events.sort_by(|a, b| match (a, b) {
        (Event::Introduced(x), _) if x == "0" => Ordering::Less,
        (_, Event::Introduced(y)) if y == "0" => Ordering::Greater,
        _ => cmp(event_version(a), event_version(b)),
    });
    let limits: Vec<&str> = range
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Limit(v) if v != "*" => Some(v.as_str()),
            _ => None,
        })
        .collect();
    if !limits.is_empty() && limits.iter().all(|l| cmp(version, l) != Ordering::Less) {
        return None;
    }
    let mut affected = false;
    for e in &events {
        match e {
            Event::Introduced(v) => {
                if v == "0" || cmp(version, v) != Ordering::Less {
                    affected = true;
                }
            }
            Event::Fixed(v) => {
                if cmp(version, v) != Ordering::Less {
                    affected = false;
                }
            }
            Event::LastAffected(v) => {
                if cmp(version, v) == Ordering::Greater {
                    affected = false;
                }
            }
            Event::Limit(_) => {}
        }
    }
    if !affected {
        return None;
    }
    let fixed = events
        .iter()
        .filter_map(|e| match e {
            Event::Fixed(v) if cmp(version, v) == Ordering::Less => Some(v.clone()),
            _ => None,
        })
        .min_by(|a, b| cmp(a, b));
    Some(fixed)
}

/// Whether `version` is affected per `affected`; with the fixing version when one is known.
fn affects(version: &str, affected: &Affected, scheme: Scheme) -> Option<Option<String>> {
    let mut hit: Option<Option<String>> = None;
    for range in &affected.ranges {
        if let Some(fixed) = in_range(version, range, scheme) {
            hit = Some(match (hit.flatten(), fixed) {
                (Some(a), Some(b)) => Some(if compare(scheme, &a, &b) == Ordering::Greater {
                    b
                } else {
                    a
                }),
                (a, b) => a.or(b),
            });
        }
    }
    if hit.is_none()
        && affected
            .versions
            .iter()
            .any(|v| compare(scheme, v, version) == Ordering::Equal)
    {
        hit = Some(None);
    }
    hit
}

/// The severity of an advisory: the highest CVSS base score among its vectors, else the
/// source's own rating, else unknown.
fn severity_of(a: &Advisory) -> (Rating, Option<f64>, Option<String>) {
    let best = a
        .cvss
        .iter()
        .filter_map(|v| severity::base_score(v).map(|s| (s, v)))
        .max_by(|x, y| x.0.total_cmp(&y.0));
    if let Some((score, vector)) = best {
        return (severity::rating(score), Some(score), Some(vector.clone()));
    }
    let rating = a
        .rating
        .as_deref()
        .map_or(Rating::Unknown, severity::rating_from_text);
    (rating, None, None)
}

/// The name an advisory's package is indexed under in `ecosystem`.
pub(super) fn package_key(ecosystem: &str, package: &str) -> String {
    if ecosystem == "PyPI" {
        normalise_pypi(package)
    } else {
        package.to_owned()
    }
}

/// Every advisory that affects a package of `inv`.
pub fn find(inv: &Inventory, db: &VulnDb) -> Result<Vec<Finding>, DbError> {
    let mut out = Vec::new();
    for p in &inv.packages {
        let Some((ecosystem, name, version, scheme)) = lookup(p, inv) else {
            continue;
        };
        for advisory in db.advisories_for(&ecosystem, &name)? {
            let hit = advisory
                .affected
                .iter()
                .filter(|a| {
                    a.ecosystem == ecosystem && package_key(&a.ecosystem, &a.package) == name
                })
                .filter_map(|a| affects(&version, a, scheme))
                .next();
            let Some(fixed) = hit else {
                continue;
            };
            let (severity, score, cvss) = severity_of(&advisory);
            out.push(Finding {
                id: advisory.id.clone(),
                aliases: advisory.aliases.clone(),
                summary: advisory.summary.clone(),
                package: p.name.clone(),
                kind: p.kind,
                installed: p.version.clone(),
                fixed,
                severity,
                score,
                cvss,
                layer: p.layer,
                path: p.path.clone(),
                purl: crate::sbom::purl(p, inv),
            });
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(out)
}
