//! Scan results for other tools: SARIF 2.1.0 (as GitHub code scanning reads it) and CycloneDX
//! 1.5 with a `vulnerabilities` section.

use serde_json::{Value, json};

use crate::inventory::Inventory;
use crate::sbom::{self, Subject};
use crate::secrets::Secret;
use crate::severity::Rating;
use crate::vulndb::Finding;

/// SARIF's level for a severity: error for critical and high, warning for medium, note below.
fn level(r: Rating) -> &'static str {
    match r {
        Rating::Critical | Rating::High => "error",
        Rating::Medium => "warning",
        _ => "note",
    }
}

/// GitHub's `security-severity`: the CVSS score when known, else a score inside the rating's band.
fn security_severity(r: Rating, score: Option<f64>) -> String {
    let s = score.unwrap_or(match r {
        Rating::Critical => 9.5,
        Rating::High => 8.0,
        Rating::Medium => 5.5,
        Rating::Low => 2.0,
        Rating::None | Rating::Unknown => 0.0,
    });
    format!("{s:.1}")
}

fn rating_word(r: Rating) -> &'static str {
    match r {
        Rating::Critical => "critical",
        Rating::High => "high",
        Rating::Medium => "medium",
        Rating::Low => "low",
        Rating::None => "none",
        Rating::Unknown => "unknown",
    }
}

fn location(path: &str, line: usize, note: &str) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": {"uri": path, "uriBaseId": "ROOTPATH"},
            "region": {"startLine": line.max(1)},
        },
        "message": {"text": note},
    })
}

fn layer_note(inv: &Inventory, layer: Option<usize>) -> String {
    match layer.and_then(|l| inv.layers.get(l)) {
        Some(l) => match &l.created_by {
            Some(by) => format!("layer {} ({}): {by}", l.index, l.diff_id),
            None => format!("layer {} ({})", l.index, l.diff_id),
        },
        None => "the image config".into(),
    }
}

/// SARIF 2.1.0: one rule per advisory or secret rule, one result per finding, located at the
/// package database or the file (relative to the image root).
pub fn sarif(inv: &Inventory, findings: &[Finding], secrets: &[&Secret]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut index = std::collections::BTreeMap::new();
    let mut rule_of = |id: &str, rule: Value| -> usize {
        *index.entry(id.to_owned()).or_insert_with(|| {
            rules.push(rule);
            rules.len() - 1
        })
    };
    let mut results = Vec::new();
    for f in findings {
        let text = if f.summary.is_empty() {
            f.id.clone()
        } else {
            f.summary.clone()
        };
        let i = rule_of(
            &f.id,
            json!({
                "id": f.id,
                "name": "PackageVulnerability",
                "shortDescription": {"text": text},
                "fullDescription": {"text": format!("{text} ({})", f.aliases.join(", "))},
                "help": {"text": format!("{}: {}", f.id, text)},
                "defaultConfiguration": {"level": level(f.severity)},
                "properties": {
                    "security-severity": security_severity(f.severity, f.score),
                    "tags": ["vulnerability", "security", rating_word(f.severity)],
                },
            }),
        );
        let fixed = f.fixed.as_deref().unwrap_or("no fixed version yet");
        results.push(json!({
            "ruleId": f.id,
            "ruleIndex": i,
            "level": level(f.severity),
            "message": {"text": format!(
                "{} {} is affected by {}; fixed in {fixed}. Brought in by {}.",
                f.package, f.installed, f.id, layer_note(inv, Some(f.layer))
            )},
            "locations": [location(&f.path, 1, &f.purl)],
        }));
    }
    for s in secrets {
        let i = rule_of(
            &s.rule,
            json!({
                "id": s.rule,
                "name": "Secret",
                "shortDescription": {"text": s.title},
                "fullDescription": {"text": s.title},
                "help": {"text": format!("{}: remove it from the image and revoke it", s.title)},
                "defaultConfiguration": {"level": level(s.severity)},
                "properties": {
                    "security-severity": security_severity(s.severity, None),
                    "tags": ["secret", "security", rating_word(s.severity)],
                },
            }),
        );
        results.push(json!({
            "ruleId": s.rule,
            "ruleIndex": i,
            "level": level(s.severity),
            "message": {"text": format!("{}: {} in {}", s.title, s.redacted, layer_note(inv, s.layer))},
            "locations": [location(&s.path, s.line, &s.redacted)],
        }));
    }
    sarif_log("berth", rules, results)
}

/// A SARIF 2.1.0 log of one run of `tool` (`berth`, `berth lint`, `berth audit`).
pub(crate) fn sarif_log(tool: &str, rules: Vec<Value>, results: Vec<Value>) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": tool,
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/berth/berth",
                "rules": rules,
            }},
            "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
            "results": results,
        }],
    })
}

/// SARIF's level for a lint or audit level.
pub(crate) fn sarif_level(l: crate::lint::Level) -> &'static str {
    use crate::lint::Level;
    match l {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info | Level::Style => "note",
    }
}

/// CycloneDX 1.5: the SBOM and its vulnerabilities, each affecting the component it was found
/// in (by purl), with its rating, the CVSS vector and the fixing version as the recommendation.
pub fn cyclonedx(
    inv: &Inventory,
    subject: &Subject,
    findings: &[Finding],
    serial: &str,
    timestamp: &str,
) -> Value {
    let mut doc = sbom::cyclonedx(inv, subject, serial, timestamp);
    let refs = sbom::bom_refs(inv);
    // The component a finding was made on: same package, version and database file.
    let component = |f: &Finding| {
        inv.packages
            .iter()
            .zip(&refs)
            .find(|(p, _)| p.name == f.package && p.version == f.installed && p.path == f.path)
            .map_or_else(|| f.purl.clone(), |(_, r)| r.clone())
    };
    let vulns: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut rating = json!({"severity": rating_word(f.severity)});
            if let (Some(score), Some(vector)) = (f.score, &f.cvss) {
                rating["score"] = json!(score);
                rating["vector"] = json!(vector);
                rating["method"] = json!(if vector.starts_with("CVSS:4.0") {
                    "CVSSv4"
                } else if vector.starts_with("CVSS:3.1") {
                    "CVSSv31"
                } else {
                    "CVSSv3"
                });
            }
            let target = component(f);
            let mut v = json!({
                "bom-ref": format!("{}@{target}", f.id),
                "id": f.id,
                "ratings": [rating],
                "affects": [{"ref": target}],
            });
            if !f.summary.is_empty() {
                v["description"] = json!(f.summary);
            }
            if let Some(fixed) = &f.fixed {
                v["recommendation"] = json!(format!("Upgrade {} to {fixed}", f.package));
            }
            if !f.aliases.is_empty() {
                v["references"] = json!(
                    f.aliases
                        .iter()
                        .map(|a| json!({"id": a, "source": {"name": "alias"}}))
                        .collect::<Vec<_>>()
                );
            }
            v
        })
        .collect();
    doc["vulnerabilities"] = json!(vulns);
    doc
}
