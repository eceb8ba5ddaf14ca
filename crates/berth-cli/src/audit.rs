//! `berth audit image` and `berth audit container`.

use anyhow::{Context, anyhow};
use berth_engine::Engine;
use berth_scan::audit::{AuditFinding, sarif};
use berth_scan::lint::Level;
use clap::{Args, Subcommand};

use crate::{CmdResult, EXIT_FAILURE, Failure};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check a stored image (CIS Docker Benchmark section 4, Dockle's checkpoints).
    Image(ImageArgs),
    /// Check containers' configuration (CIS Docker Benchmark section 5).
    Container(ContainerArgs),
}

#[derive(Args)]
pub struct Output {
    /// text, json or sarif.
    #[arg(long, default_value = "text")]
    format: String,
    /// Exit with 1 when a finding is at least this severe: error, warning, info or none.
    #[arg(long, value_name = "LEVEL", default_value = "none")]
    failure_threshold: String,
}

#[derive(Args)]
pub struct ImageArgs {
    image: String,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
pub struct ContainerArgs {
    /// Containers to check.
    containers: Vec<String>,
    /// Check every container.
    #[arg(short, long)]
    all: bool,
    #[command(flatten)]
    output: Output,
}

fn user_error(e: anyhow::Error) -> Failure {
    Failure::with_code(EXIT_FAILURE, e)
}

fn report(out: &Output, results: &[(String, Vec<AuditFinding>)]) -> CmdResult {
    let threshold = match out.failure_threshold.as_str() {
        "none" => None,
        t => Some(
            Level::parse(t)
                .ok_or_else(|| user_error(anyhow!("unknown failure threshold {t:?}")))?,
        ),
    };
    match out.format.as_str() {
        "json" => {
            let v: Vec<_> = results
                .iter()
                .map(|(what, f)| serde_json::json!({"target": what, "findings": f}))
                .collect();
            let v = if v.len() == 1 {
                v[0].clone()
            } else {
                serde_json::Value::Array(v)
            };
            println!("{}", serde_json::to_string_pretty(&v).context("JSON")?);
        }
        "sarif" => {
            let all: Vec<AuditFinding> = results.iter().flat_map(|(_, f)| f.clone()).collect();
            let what = results
                .iter()
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(",");
            println!(
                "{}",
                serde_json::to_string_pretty(&sarif(&what, &all)).context("SARIF")?
            );
        }
        "text" => {
            let mut rows = vec![
                ["TARGET", "CHECK", "LEVEL", "CIS", "DOCKLE", "FINDING"]
                    .map(str::to_owned)
                    .to_vec(),
            ];
            for (what, findings) in results {
                for f in findings {
                    rows.push(vec![
                        what.clone(),
                        f.check.to_owned(),
                        f.level.as_str().to_owned(),
                        f.cis.unwrap_or("-").to_owned(),
                        f.dockle.unwrap_or("-").to_owned(),
                        format!("{}: {}", f.title, f.detail),
                    ]);
                }
            }
            crate::format::print_table(&rows).context("write the table")?;
        }
        other => {
            return Err(user_error(anyhow!(
                "unknown format {other:?}: use text, json or sarif"
            )));
        }
    }
    if let Some(t) = threshold
        && results.iter().flat_map(|(_, f)| f).any(|f| f.level >= t)
    {
        return Err(Failure::silent(EXIT_FAILURE));
    }
    Ok(())
}

pub fn audit(engine: &Engine, cmd: &AuditCommand) -> CmdResult {
    match cmd {
        AuditCommand::Image(a) => {
            let (_, findings) = engine.audit_image(&a.image)?;
            report(&a.output, &[(a.image.clone(), findings)])
        }
        AuditCommand::Container(a) => {
            let names: Vec<String> = if a.all {
                engine.containers()?.into_iter().map(|c| c.name).collect()
            } else if a.containers.is_empty() {
                return Err(user_error(anyhow!("name a container, or use --all")));
            } else {
                a.containers.clone()
            };
            let mut results = Vec::new();
            for n in &names {
                results.push(engine.audit_container(n)?);
            }
            report(&a.output, &results)
        }
    }
}
