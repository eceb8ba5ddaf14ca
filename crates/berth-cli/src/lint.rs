//! `berth lint`: Dockerfile rules, with what berth knows of the images they name.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use berth_engine::Engine;
use berth_scan::lint::{self, Config, Finding, ImageFacts, Level, RULES};
use berth_scan::severity::Rating;
use clap::Args;

use crate::{CmdResult, EXIT_FAILURE, Failure};

#[derive(Args)]
pub struct LintArgs {
    /// Dockerfiles to lint (`-` for standard input); `Dockerfile` when none is given.
    files: Vec<PathBuf>,
    /// text, json or sarif.
    #[arg(long, default_value = "text")]
    format: String,
    /// Exit with 1 when a finding is at least this severe: error, warning, info, style or none.
    #[arg(long, value_name = "LEVEL")]
    failure_threshold: Option<String>,
    /// The config file (default: .berth-lint.toml in the current directory, if there is one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Ignore a rule (berth id or Hadolint code); repeatable.
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<String>,
    /// Print every rule instead of linting.
    #[arg(long)]
    list_rules: bool,
    /// Do not look up FROM images in the local store (the critical-vulnerability rule).
    #[arg(long)]
    no_image_checks: bool,
}

/// FROM images as berth's store and scanner see them.
struct StoreImages<'a>(&'a Engine);

impl ImageFacts for StoreImages<'_> {
    fn critical(&self, image: &str) -> Option<String> {
        let (_, _, findings) = self.0.scan(image, true, false).ok()?;
        let ids: Vec<&str> = findings
            .iter()
            .filter(|f| f.severity == Rating::Critical)
            .map(|f| f.id.as_str())
            .collect();
        (!ids.is_empty()).then(|| {
            let shown: Vec<&str> = ids.iter().take(3).copied().collect();
            format!(
                "{} critical vulnerabilities ({}{})",
                ids.len(),
                shown.join(", "),
                if ids.len() > 3 { ", …" } else { "" }
            )
        })
    }
}

fn user_error(e: anyhow::Error) -> Failure {
    Failure::with_code(EXIT_FAILURE, e)
}

pub fn lint(engine: Option<&Engine>, a: &LintArgs) -> CmdResult {
    if a.list_rules {
        return list_rules(&a.format);
    }
    let config_path = a.config.clone().or_else(|| {
        let default = PathBuf::from(".berth-lint.toml");
        default.exists().then_some(default)
    });
    let (mut config, file_threshold) = match &config_path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("read {}", p.display()))
                .map_err(user_error)?;
            Config::parse(&text).map_err(|e| user_error(anyhow!("{}: {e}", p.display())))?
        }
        None => (Config::default(), None),
    };
    config.ignored.extend(a.ignore.iter().cloned());
    let threshold = match a.failure_threshold.as_deref() {
        Some("none") => None,
        Some(t) => Some(
            Level::parse(t)
                .ok_or_else(|| user_error(anyhow!("unknown failure threshold {t:?}")))?,
        ),
        None => Some(file_threshold.unwrap_or(Level::Info)),
    };
    let files = if a.files.is_empty() {
        vec![PathBuf::from("Dockerfile")]
    } else {
        a.files.clone()
    };
    let facts: Box<dyn ImageFacts> = match engine {
        Some(e) if !a.no_image_checks => Box::new(StoreImages(e)),
        _ => Box::new(lint::NoImages),
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut sources: Vec<(String, String)> = Vec::new();
    for f in &files {
        let (name, bytes) = if f.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("read standard input")?;
            ("-".to_owned(), b)
        } else {
            let b = std::fs::read(f)
                .with_context(|| format!("read {}", f.display()))
                .map_err(user_error)?;
            (f.display().to_string(), b)
        };
        let df =
            berth_dockerfile::parse_bytes(&name, &bytes).map_err(|e| user_error(anyhow!("{e}")))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        findings.extend(lint::lint(&df, &text, &config, facts.as_ref()));
        sources.push((name, text));
    }
    match a.format.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&findings).context("JSON")?
        ),
        "sarif" => println!(
            "{}",
            serde_json::to_string_pretty(&lint::sarif(&findings)).context("SARIF")?
        ),
        "text" => {
            for f in &findings {
                let mapped = f.hadolint.map(|h| format!(" ({h})")).unwrap_or_default();
                let rationale = lint::rule(f.rule).map_or("", |r| r.rationale);
                println!(
                    "{}:{}:{}: {} {}{}: {}: {}",
                    f.file,
                    f.line,
                    f.column,
                    f.level.as_str(),
                    f.rule,
                    mapped,
                    f.message,
                    rationale
                );
                if let Some(line) = sources
                    .iter()
                    .find(|(n, _)| *n == f.file)
                    .and_then(|(_, t)| t.lines().nth(f.line.saturating_sub(1)))
                {
                    println!("{:>5} | {line}", f.line);
                    println!("      | {}^", " ".repeat(f.column.saturating_sub(1)));
                }
            }
        }
        other => {
            return Err(user_error(anyhow!(
                "unknown format {other:?}: use text, json or sarif"
            )));
        }
    }
    if let Some(t) = threshold
        && findings.iter().any(|f| f.level >= t)
    {
        return Err(Failure::silent(EXIT_FAILURE));
    }
    Ok(())
}

fn list_rules(format: &str) -> CmdResult {
    match format {
        "json" => {
            let rules: Vec<_> = RULES
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).expect("a rule serialises");
                    v["documentation"] = r.doc().into();
                    v
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rules).context("JSON")?);
        }
        "text" => {
            let mut rows: Vec<Vec<String>> = vec![
                ["RULE", "SEVERITY", "HADOLINT", "TRIVY", "RATIONALE"]
                    .map(str::to_owned)
                    .to_vec(),
            ];
            rows.extend(RULES.iter().map(|r| {
                vec![
                    r.id.to_owned(),
                    r.level.as_str().to_owned(),
                    r.hadolint.unwrap_or("-").to_owned(),
                    r.trivy.unwrap_or("-").to_owned(),
                    r.rationale.to_owned(),
                ]
            }));
            crate::format::print_table(&rows).context("write the table")?;
        }
        other => {
            return Err(user_error(anyhow!(
                "unknown format {other:?}: use text or json"
            )));
        }
    }
    Ok(())
}
