//! The local vulnerability database (`<root>/vulndb/`): advisories imported from OSV records,
//! the Debian security tracker's DSA/DLA/DTSA lists and Alpine's secdb, normalised into one model
//! ([`Advisory`]), kept in SQLite and matched against an [`Inventory`](crate::inventory).
//!
//! Every imported file is hostile input: a record that cannot be read is a warning naming the
//! file, and the import goes on.

mod alpine;
mod debian;
mod matching;
mod osv;
mod store;

use serde::{Deserialize, Serialize};

pub use matching::{Finding, find};
pub use store::{DbError, ImportReport, SourceStatus, VulnDb};

/// One advisory, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// `PYSEC-2021-368`, `DSA-5380-1`, `CVE-2019-10206` (Alpine's secdb is keyed by CVE).
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// CVSS vectors (`CVSS:3.1/…`), as OSV's `severity` lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<String>,
    /// A qualitative rating the source gives (`HIGH`, `moderate`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<String>,
    pub affected: Vec<Affected>,
}

/// The versions of one package an advisory concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// OSV's ecosystem names: `PyPI`, `npm`, `Go`, `crates.io`, `Maven`, `Debian:12`,
    /// `Alpine:v3.19`.
    pub ecosystem: String,
    /// For Debian the source package, for Alpine the origin.
    pub package: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Versions listed explicitly as affected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// An OSV range: events in the ecosystem's order (or SemVer's, with `semver`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(default)]
    pub semver: bool,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// What a file held: the advisories read, the records skipped (withdrawn, or nothing that berth
/// can match), and warnings naming what could not be read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub advisories: Vec<Advisory>,
    pub skipped: usize,
    pub warnings: Vec<String>,
}

/// The formats `berth db import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One OSV record, or OSV JSON lines.
    Osv,
    /// The Debian security tracker's `DSA/list`, `DLA/list` or `DTSA/list`.
    DebianList,
    /// Alpine secdb, YAML or JSON.
    AlpineSecdb,
}

/// Parses `data` (named `name` in messages) as `format`.
pub fn parse(format: Format, name: &str, data: &[u8]) -> Parsed {
    match format {
        Format::Osv => osv::parse(name, data),
        Format::DebianList => debian::parse(name, data),
        Format::AlpineSecdb => alpine::parse(name, data),
    }
}
