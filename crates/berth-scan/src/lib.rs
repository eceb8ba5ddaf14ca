//! berth's unprivileged image security analysis. Everything here reads image content as hostile
//! streams: nothing is mounted or run.
//! - [`version`]: each ecosystem's version order (dpkg, apk, rpm, SemVer, PEP 440, Maven).
//! - [`gobinary`]: the module list a Go binary embeds.
//! - [`inventory`]: the packages an image's layers install, each attributed to its layer.
//! - [`java`]: the Maven artifacts in JAR, WAR and EAR files, nested ones included.
//! - [`report`]: scan results as SARIF 2.1.0 or CycloneDX 1.5 with vulnerabilities.
//! - [`rpm`]: installed RPMs from the SQLite rpm database.
//! - [`rust`]: the crates an auditable Rust binary or a Cargo.lock names.
//! - [`sbom`]: an inventory as CycloneDX 1.5 or SPDX 2.3 JSON, with package URLs.
//! - [`secrets`]: credentials in layer files (deleted ones too) and in the image config.
//! - [`severity`]: CVSS v3.x and v4.0 base scores from vectors, and ratings.
//! - [`vulndb`]: the local vulnerability database (OSV, Debian, Alpine) and matching.

pub mod audit;
pub mod gobinary;
pub mod inventory;
pub mod java;
pub mod lint;
pub mod policy;
pub mod report;
pub mod rpm;
pub mod rust;
pub mod sbom;
pub mod secrets;
pub mod severity;
pub mod sign;
pub mod trust;
pub mod version;
pub mod vulndb;
