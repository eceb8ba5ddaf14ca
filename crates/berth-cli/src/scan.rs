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
    image: String,
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
    let (image, inventory) = engine.inventory(&a.image)?;
    for w in &inventory.warnings {
        eprintln!("warning: {w}");
    }
    let subject = sbom::Subject {
        name: a.image.clone(),
        id: image.id.to_string(),
    };
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
