//! `berth sbom`: an image's software bill of materials.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use berth_engine::Engine;
use berth_scan::sbom;
use clap::{Args, ValueEnum};

use crate::CmdResult;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SbomFormat {
    /// berth's inventory: OS, layers, packages and warnings.
    Json,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

#[derive(Args)]
pub struct SbomArgs {
    #[arg(required_unless_present = "input")]
    image: Option<String>,
    /// Read a docker-archive or OCI archive (a plain tar) in place instead of a stored image.
    #[arg(long, conflicts_with = "image")]
    input: Option<PathBuf>,
    /// json, cyclonedx or spdx.
    #[arg(long, value_enum, default_value = "json")]
    format: SbomFormat,
    /// Write to a file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// A random (version 4) UUID, for the CycloneDX serial number.
fn uuid() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

pub fn sbom(engine: &Engine, a: &SbomArgs) -> CmdResult {
    let (name, id, inventory) = match (&a.input, &a.image) {
        (Some(path), _) => engine.inventory_of_archive(path, false)?,
        (None, Some(image)) => {
            let (record, inventory) = engine.inventory(image)?;
            (image.clone(), record.id.to_string(), inventory)
        }
        (None, None) => unreachable!("clap requires an image or --input"),
    };
    for w in &inventory.warnings {
        eprintln!("warning: {w}");
    }
    let subject = sbom::Subject { name, id };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let doc = match a.format {
        SbomFormat::Json => serde_json::to_value(&inventory).context("encoding the inventory")?,
        SbomFormat::Cyclonedx => sbom::cyclonedx(&inventory, &subject, &uuid()?, &now),
        SbomFormat::Spdx => sbom::spdx(&inventory, &subject, &uuid()?, &now),
    };
    let mut text = serde_json::to_vec_pretty(&doc).context("encoding the SBOM")?;
    text.push(b'\n');
    match &a.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout()
            .write_all(&text)
            .context("writing the SBOM")?,
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
    /// SARIF 2.1.0, as GitHub code scanning reads it.
    Sarif,
    /// CycloneDX 1.5: the SBOM with its vulnerabilities.
    Cyclonedx,
}

#[derive(Args)]
pub struct ScanArgs {
    #[arg(required_unless_present = "input")]
    image: Option<String>,
    /// Scan a docker-archive or OCI archive (a plain tar) in place, without loading it.
    #[arg(long, conflicts_with = "image")]
    input: Option<PathBuf>,
    /// table, json, sarif or cyclonedx.
    #[arg(long, value_enum, default_value = "table")]
    format: ScanFormat,
    /// Report only these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).
    #[arg(long, value_delimiter = ',')]
    severity: Vec<String>,
    /// Leave out vulnerabilities that no version fixes yet.
    #[arg(long)]
    ignore_unfixed: bool,
    /// Exit with this status when anything is reported (for CI gating).
    #[arg(long, default_value_t = 0)]
    exit_code: u8,
    /// What to look for: vuln, secret, or both (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "vuln,secret")]
    scanners: Vec<String>,
    /// Look for secrets only (the same as --scanners secret).
    #[arg(long, conflicts_with = "scanners")]
    secrets: bool,
    /// Never fetch the vulnerability database. Without it, an empty database is first filled
    /// from osv.dev (`berth db update`) when the network allows; an existing one is used as it
    /// is, so scans are offline whenever the database exists.
    #[arg(long)]
    offline: bool,
    /// Findings to leave out: one advisory id, alias or secret rule per line, or
    /// `path:PATTERN` to allow secrets in matching files (.dockerignore patterns, `**` too:
    /// `path:app/testdata/**`), optionally with `exp:YYYY-MM-DD` (ignored until then) and a
    /// `# reason`.
    #[arg(long)]
    ignore_file: Option<PathBuf>,
}

/// One line of an ignore file.
#[derive(Debug, PartialEq)]
struct Ignore {
    id: String,
    /// Until when (`YYYY-MM-DD`, inclusive) the entry holds; `None` for always.
    until: Option<chrono::NaiveDate>,
}

/// Reads an ignore file: `ID [exp:YYYY-MM-DD] [# reason]` lines; blank lines and comments are
/// skipped. A malformed date is an error naming the line.
fn read_ignores(text: &str) -> anyhow::Result<Vec<Ignore>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let Some(id) = words.next() else { continue };
        let mut until = None;
        for w in words {
            let date = w
                .strip_prefix("exp:")
                .ok_or_else(|| anyhow::anyhow!("ignore file line {}: unexpected {w:?}", i + 1))?;
            until = Some(
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                    .with_context(|| format!("ignore file line {}: bad date {date:?}", i + 1))?,
            );
        }
        out.push(Ignore {
            id: id.to_owned(),
            until,
        });
    }
    Ok(out)
}

/// `berth scan`: the advisories that affect an image's packages, most severe first, each with
/// the layer that brought the package in.
pub fn scan(engine: &Engine, a: &ScanArgs) -> CmdResult {
    let scanners: Vec<String> = if a.secrets {
        vec!["secret".into()]
    } else {
        a.scanners
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect()
    };
    if let Some(bad) = scanners
        .iter()
        .find(|s| !matches!(s.as_str(), "vuln" | "secret"))
    {
        return Err(crate::Failure::with_code(
            crate::EXIT_FAILURE,
            anyhow::anyhow!("unknown scanner {bad:?}: use vuln, secret or both"),
        ));
    }
    let (vulns, secrets) = (
        scanners.iter().any(|s| s == "vuln"),
        scanners.iter().any(|s| s == "secret"),
    );
    if vulns
        && engine
            .vulndb()?
            .status()
            .map_err(berth_engine::EngineError::from)?
            .is_empty()
    {
        let sources: Vec<String> = berth_engine::OSV_SOURCES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let fetched = if a.offline {
            Err(anyhow::anyhow!("--offline was given"))
        } else {
            engine.db_update(&sources).map_err(anyhow::Error::from)
        };
        if let Err(e) = fetched {
            eprintln!(
                "warning: the vulnerability database is empty and was not fetched ({e:#}); \
                 import advisories with berth db import, or fetch them with berth db update"
            );
        }
    }
    let (name, id, inventory, findings) = match (&a.input, &a.image) {
        (Some(path), _) => engine.scan_archive(path, vulns, secrets)?,
        (None, Some(image)) => {
            let (record, inventory, findings) = engine.scan(image, vulns, secrets)?;
            (image.clone(), record.id.to_string(), inventory, findings)
        }
        (None, None) => unreachable!("clap requires an image or --input"),
    };
    for w in &inventory.warnings {
        eprintln!("warning: {w}");
    }
    let wanted: Vec<String> = a
        .severity
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    let ignores = match &a.ignore_file {
        Some(p) => read_ignores(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => Vec::new(),
    };
    let today = chrono::Utc::now().date_naive();
    let ignored = |ids: &[&str]| {
        ignores
            .iter()
            .any(|i| ids.contains(&i.id.as_str()) && i.until.is_none_or(|d| today <= d))
    };
    let shown = |r: berth_scan::severity::Rating| {
        wanted.is_empty() || wanted.iter().any(|w| w == severity_name(r))
    };
    let findings: Vec<_> = findings
        .into_iter()
        .filter(|f| !a.ignore_unfixed || f.fixed.is_some())
        .filter(|f| shown(f.severity))
        .filter(|f| {
            let mut ids = vec![f.id.as_str()];
            ids.extend(f.aliases.iter().map(String::as_str));
            !ignored(&ids)
        })
        .collect();
    // `path:` entries allow-list the files they match, as a .dockerignore excludes them.
    let allowed_paths: Vec<String> = ignores
        .iter()
        .filter(|i| i.until.is_none_or(|d| today <= d))
        .filter_map(|i| i.id.strip_prefix("path:").map(str::to_owned))
        .collect();
    let allow = berth_build::Ignore::parse(&allowed_paths.join("\n"))
        .map_err(|e| anyhow::anyhow!("ignore file: {e}"))?;
    let found_secrets: Vec<_> = inventory
        .secrets
        .iter()
        .filter(|s| shown(s.severity))
        .filter(|s| !ignored(&[&s.rule]))
        .filter(|s| allow.is_empty() || !allow.excludes(&s.path))
        .collect();
    match a.format {
        ScanFormat::Sarif => {
            let doc = berth_scan::report::sarif(&inventory, &findings, &found_secrets);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).context("encoding the report")?
            );
        }
        ScanFormat::Cyclonedx => {
            let subject = sbom::Subject {
                name: name.clone(),
                id: id.clone(),
            };
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let doc =
                berth_scan::report::cyclonedx(&inventory, &subject, &findings, &uuid()?, &now);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).context("encoding the report")?
            );
        }
        ScanFormat::Json => {
            let doc = serde_json::json!({
                "image": name,
                "id": id,
                "os": inventory.os,
                "layers": inventory.layers,
                "packages": inventory.packages.len(),
                "vulnerabilities": findings,
                "secrets": found_secrets,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).context("encoding the report")?
            );
        }
        ScanFormat::Table => {
            let os = inventory.os.as_ref().map_or("unknown OS".to_owned(), |o| {
                format!("{} {}", o.id, o.version_id)
            });
            let mut counts = std::collections::BTreeMap::new();
            for f in &findings {
                *counts
                    .entry(std::cmp::Reverse(f.severity))
                    .or_insert(0usize) += 1;
            }
            let summary: Vec<String> = counts
                .iter()
                .map(|(s, n)| format!("{}: {n}", severity_name(s.0)))
                .collect();
            println!(
                "{} ({os}): {} packages, {} vulnerabilities{}{}{}",
                name,
                inventory.packages.len(),
                findings.len(),
                if summary.is_empty() { "" } else { " — " },
                summary.join(", "),
                if secrets {
                    format!("; {} secrets", found_secrets.len())
                } else {
                    String::new()
                }
            );
            if !findings.is_empty() {
                println!();
                let mut rows = vec![
                    [
                        "SEVERITY",
                        "PACKAGE",
                        "INSTALLED",
                        "FIXED",
                        "ID",
                        "ALIASES",
                        "LAYER",
                    ]
                    .map(String::from)
                    .to_vec(),
                ];
                for f in &findings {
                    let layer = inventory.layers.get(f.layer).map_or(String::new(), |l| {
                        let by = l.created_by.as_deref().unwrap_or("");
                        let by: String = by.chars().take(40).collect();
                        format!("#{} {by}", l.index)
                    });
                    let mut aliases = f
                        .aliases
                        .iter()
                        .take(2)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",");
                    if f.aliases.len() > 2 {
                        aliases.push_str(&format!(",+{}", f.aliases.len() - 2));
                    }
                    rows.push(vec![
                        severity_name(f.severity).into(),
                        f.package.clone(),
                        f.installed.clone(),
                        f.fixed.clone().unwrap_or_default(),
                        f.id.clone(),
                        aliases,
                        layer,
                    ]);
                }
                crate::format::print_table(&rows).context("writing the table")?;
            }
            if !found_secrets.is_empty() {
                println!();
                let mut rows = vec![
                    ["SEVERITY", "RULE", "WHERE", "LAYER", "MATCH"]
                        .map(String::from)
                        .to_vec(),
                ];
                for s in &found_secrets {
                    let place = if s.line > 0 {
                        format!("/{}:{}", s.path, s.line)
                    } else {
                        s.path.clone()
                    };
                    let layer = match s.layer {
                        Some(l) if s.deleted => format!("#{l} (deleted later)"),
                        Some(l) => format!("#{l}"),
                        None => "config".into(),
                    };
                    rows.push(vec![
                        severity_name(s.severity).into(),
                        s.rule.clone(),
                        place,
                        layer,
                        s.redacted.clone(),
                    ]);
                }
                crate::format::print_table(&rows).context("writing the table")?;
            }
        }
    }
    if a.exit_code != 0 && (!findings.is_empty() || !found_secrets.is_empty()) {
        return Err(crate::Failure::silent(a.exit_code));
    }
    Ok(())
}

fn severity_name(r: berth_scan::severity::Rating) -> &'static str {
    use berth_scan::severity::Rating;
    match r {
        Rating::Critical => "CRITICAL",
        Rating::High => "HIGH",
        Rating::Medium => "MEDIUM",
        Rating::Low => "LOW",
        Rating::None => "NONE",
        Rating::Unknown => "UNKNOWN",
    }
}

#[derive(clap::Subcommand)]
pub enum DbCommand {
    /// Import advisories: OSV JSON records (files, directories, JSON lines), Debian security
    /// tracker lists (DSA/DLA/DTSA), Alpine secdb (YAML or JSON).
    Import(DbImportArgs),
    /// Show the database's sources, record counts and ages.
    Status,
    /// Fetch advisories over HTTP(S) and import them: osv.dev's exports for every ecosystem
    /// berth matches, or the given sources.
    Update(DbUpdateArgs),
}

#[derive(Args)]
pub struct DbUpdateArgs {
    /// A URL to fetch instead of osv.dev's exports (repeatable): an OSV zip or any file
    /// `db import` reads.
    #[arg(long = "source")]
    sources: Vec<String>,
}

#[derive(Args)]
pub struct DbImportArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub fn db(engine: &Engine, cmd: &DbCommand) -> CmdResult {
    let mut db = engine.vulndb()?;
    match cmd {
        DbCommand::Import(a) => {
            let started = std::time::Instant::now();
            let report = db
                .import(&a.paths)
                .map_err(berth_engine::EngineError::from)?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "imported {} advisories from {} files ({} skipped: withdrawn or nothing to match) in {:.1} s",
                report.advisories,
                report.files,
                report.skipped,
                started.elapsed().as_secs_f64()
            );
        }
        DbCommand::Update(u) => {
            let sources: Vec<String> = if u.sources.is_empty() {
                berth_engine::OSV_SOURCES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                u.sources.clone()
            };
            let started = std::time::Instant::now();
            let report = engine.db_update(&sources)?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "imported {} advisories from {} sources in {:.1} s",
                report.advisories,
                sources.len(),
                started.elapsed().as_secs_f64()
            );
        }
        DbCommand::Status => {
            let now = chrono::Utc::now().timestamp();
            let mut rows = vec![
                ["SOURCE", "ADVISORIES", "IMPORTED"]
                    .map(String::from)
                    .to_vec(),
            ];
            for s in db.status().map_err(berth_engine::EngineError::from)? {
                rows.push(vec![
                    s.source,
                    s.advisories.to_string(),
                    format!("{} ago", crate::format::human_duration(now - s.imported_at)),
                ]);
            }
            crate::format::print_table(&rows).context("writing the table")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_files_take_ids_dates_and_reasons() {
        let text = "# accepted risks\nCVE-2023-1 exp:2030-01-31 # no fix upstream\n\nprivate-key\n";
        let got = read_ignores(text).unwrap();
        assert_eq!(
            got,
            [
                Ignore {
                    id: "CVE-2023-1".into(),
                    until: chrono::NaiveDate::from_ymd_opt(2030, 1, 31),
                },
                Ignore {
                    id: "private-key".into(),
                    until: None,
                },
            ]
        );
        let bad = read_ignores("CVE-1 exp:2030-13-01\n").unwrap_err();
        assert!(format!("{bad:#}").contains("line 1"), "{bad:#}");
        assert!(read_ignores("CVE-1 until-tomorrow\n").is_err());
    }
}
