//! Package inventory: what an image's layers install, read as tar streams, layer by layer.
//!
//! Package databases are recognised by path: dpkg's `var/lib/dpkg/status` and `status.d/*`
//! (distroless), apk's `lib/apk/db/installed`, Python's `*.dist-info/METADATA` and
//! `*.egg-info/PKG-INFO`, npm's `node_modules/**/package.json`, and the OS from `os-release` (or
//! `debian_version`, `alpine-release`). Whiteouts in later layers delete what they cover, so a
//! package whose files a later layer removed is not counted. Each package records the layer that
//! first brought it in at that version, with the layer's `created_by`.
//!
//! Everything is hostile input: a database that cannot be read is a warning naming the layer and
//! the file, and the scan goes on.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

/// Largest package database read whole (dpkg status, apk installed).
const MAX_DATABASE: u64 = 64 << 20;
/// Largest per-package metadata file read (METADATA, PKG-INFO, package.json, os-release).
const MAX_METADATA: u64 = 1 << 20;
/// Largest executable searched for Go build information.
const MAX_BINARY: u64 = 256 << 20;

/// Which database a package was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Deb,
    Apk,
    Python,
    Npm,
    /// A Go module (or `stdlib`) a Go binary was built with.
    Go,
    /// A crate from crates.io, in an auditable Rust binary or a Cargo.lock.
    Cargo,
    /// A Maven artifact (`groupId:artifactId`) in a Java archive.
    Maven,
    /// An RPM from the rpm database.
    Rpm,
}

impl Kind {
    /// The package URL type.
    pub fn purl_type(self) -> &'static str {
        match self {
            Kind::Deb => "deb",
            Kind::Apk => "apk",
            Kind::Python => "pypi",
            Kind::Npm => "npm",
            Kind::Go => "golang",
            Kind::Cargo => "cargo",
            Kind::Maven => "maven",
            Kind::Rpm => "rpm",
        }
    }
}

/// The layer a finding comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// 0 for the base layer.
    pub index: usize,
    pub diff_id: String,
    /// The history entry's `created_by`, where the image has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package (dpkg) or origin (apk) and its version: advisories are keyed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// The database file it was read from, relative to the image root.
    pub path: String,
    /// Index into [`Inventory::layers`].
    pub layer: usize,
}

impl Package {
    /// A package with no architecture or source package.
    fn plain(
        kind: Kind,
        name: impl Into<String>,
        version: impl Into<String>,
        path: impl Into<String>,
        layer: usize,
    ) -> Package {
        Package {
            kind,
            name: name.into(),
            version: version.into(),
            arch: None,
            source: None,
            source_version: None,
            path: path.into(),
            layer,
        }
    }
}

/// The operating system an image says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    /// `ID` from os-release (`debian`, `alpine`, `ubuntu`…).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`).
    pub version_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
}

/// Everything found in an image.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Inventory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    pub layers: Vec<Layer>,
    pub packages: Vec<Package>,
    /// Files that could not be read, each naming the layer and the path.
    pub warnings: Vec<String>,
    /// Secrets in the layers' files, when the collector searched for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<crate::secrets::Secret>,
}

/// What one database file holds.
#[derive(Debug, Clone)]
enum Found {
    Packages(Vec<Package>),
    Os(Os),
}

/// Builds an [`Inventory`] from an image's layers, given base first.
#[derive(Debug, Default)]
pub struct Collector {
    /// Whether every file is searched for secrets too.
    secrets: bool,
    found_secrets: Vec<crate::secrets::Secret>,
    layers: Vec<Layer>,
    /// What each recognised path holds now, by normalised path.
    files: BTreeMap<String, (usize, Found)>,
    warnings: Vec<String>,
}

/// A layer path without `./` or `/` in front and without a trailing `/`.
fn normalise(path: &[u8]) -> String {
    let text = String::from_utf8_lossy(path);
    let mut p: &str = &text;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.trim_end_matches('/').to_owned()
}

/// The database a path is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Database {
    DpkgStatus,
    DpkgStatusD,
    ApkInstalled,
    RpmSqlite,
    PythonMetadata,
    Npm,
    NpmLock,
    CargoLock,
    OsRelease,
    DebianVersion,
    AlpineRelease,
}

fn database(path: &str) -> Option<Database> {
    Some(match path {
        "var/lib/dpkg/status" => Database::DpkgStatus,
        "lib/apk/db/installed" => Database::ApkInstalled,
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => Database::RpmSqlite,
        "etc/os-release" | "usr/lib/os-release" => Database::OsRelease,
        "etc/debian_version" => Database::DebianVersion,
        "etc/alpine-release" => Database::AlpineRelease,
        p if p.starts_with("var/lib/dpkg/status.d/") && !p[22..].contains('/') => {
            // Distroless keeps one stanza per package here, with `.md5sums` files beside them.
            if p.ends_with(".md5sums") {
                return None;
            }
            Database::DpkgStatusD
        }
        p if (p.ends_with(".dist-info/METADATA") || p.ends_with(".egg-info/PKG-INFO"))
            && (p.contains("site-packages/") || p.contains("dist-packages/")) =>
        {
            Database::PythonMetadata
        }
        p if p.ends_with("/package.json") && is_npm_package_dir(&p[..p.len() - 13]) => {
            Database::Npm
        }
        p if p == "Cargo.lock" || p.ends_with("/Cargo.lock") => Database::CargoLock,
        // A project's lock file; npm's own copy inside node_modules repeats what is installed.
        p if (p == "package-lock.json" || p.ends_with("/package-lock.json"))
            && !p.contains("node_modules/") =>
        {
            Database::NpmLock
        }
        _ => return None,
    })
}

/// `…/node_modules/NAME` or `…/node_modules/@SCOPE/NAME`.
fn is_npm_package_dir(dir: &str) -> bool {
    let Some(i) = dir.rfind("node_modules/") else {
        return false;
    };
    let rest = &dir[i + 13..];
    match rest.split('/').collect::<Vec<_>>()[..] {
        [name] => !name.is_empty(),
        [scope, name] => scope.starts_with('@') && !name.is_empty(),
        _ => false,
    }
}

impl Collector {
    pub fn new() -> Collector {
        Collector::default()
    }

    /// Searches every file (up to [`crate::secrets::MAX_FILE`]) for secrets as well.
    pub fn with_secrets(mut self) -> Collector {
        self.secrets = true;
        self
    }

    /// Reads the next layer's tar stream (uncompressed). A layer that is not a valid tar stops
    /// where it breaks, with a warning; what was read before counts.
    pub fn add_layer(&mut self, diff_id: &str, created_by: Option<&str>, tar: impl Read) {
        let index = self.start_layer(diff_id, created_by);
        let limits = berth_archive::Limits::default();
        let result = berth_archive::for_each_entry(tar, &limits, |meta, content| {
            self.entry(index, meta, content)
        });
        self.end_layer(index, diff_id, result.map(drop));
    }

    /// [`Collector::add_layer`] for an uncompressed layer that can seek: file contents nothing
    /// needs are skipped without being read.
    pub fn add_layer_seekable(
        &mut self,
        diff_id: &str,
        created_by: Option<&str>,
        tar: impl Read + std::io::Seek,
    ) {
        let index = self.start_layer(diff_id, created_by);
        let limits = berth_archive::Limits::default();
        let result = berth_archive::for_each_entry_seekable(tar, &limits, |meta, content| {
            self.entry(index, meta, content)
        });
        self.end_layer(index, diff_id, result.map(drop));
    }

    fn start_layer(&mut self, diff_id: &str, created_by: Option<&str>) -> usize {
        let index = self.layers.len();
        self.layers.push(Layer {
            index,
            diff_id: diff_id.to_owned(),
            created_by: created_by.map(str::to_owned),
        });
        index
    }

    fn end_layer(
        &mut self,
        index: usize,
        diff_id: &str,
        result: Result<(), berth_archive::ArchiveError>,
    ) {
        if let Err(e) = result {
            self.warnings
                .push(format!("layer {index} ({diff_id}): stopped reading: {e}"));
        }
    }

    /// One entry of layer `index`.
    fn entry(
        &mut self,
        index: usize,
        meta: &berth_archive::EntryMeta,
        content: &mut dyn Read,
    ) -> Result<(), berth_archive::ArchiveError> {
        let path = normalise(&meta.path);
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", path.as_str()),
        };
        if name == ".wh..wh..opq" {
            self.delete_below(dir, index);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                hidden.to_owned()
            } else {
                format!("{dir}/{hidden}")
            };
            self.delete(&target, index);
            return Ok(());
        }
        // Whatever this layer puts at a path replaces what lower layers had there.
        if meta.kind == berth_archive::EntryKind::Dir {
            return Ok(());
        }
        let before = self.files.remove(&path);
        if meta.kind != berth_archive::EntryKind::File {
            return Ok(());
        }
        let db = database(&path);
        let search = self.secrets && meta.size <= crate::secrets::MAX_FILE;
        let executable = meta.mode & 0o111 != 0 && meta.size >= 64 && meta.size <= MAX_BINARY;
        let java = crate::java::is_archive(&path) && meta.size <= MAX_BINARY;
        if db.is_none() && !search && !executable && !java {
            return Ok(());
        }
        let limit = match db {
            Some(
                Database::DpkgStatus
                | Database::ApkInstalled
                | Database::RpmSqlite
                | Database::CargoLock
                | Database::NpmLock,
            ) => MAX_DATABASE,
            Some(_) => MAX_METADATA,
            None => 0,
        };
        let mut data = Vec::new();
        let read = limit
            .max(if search { crate::secrets::MAX_FILE } else { 0 })
            .max(if executable || java { MAX_BINARY } else { 0 });
        if let Err(e) = content.take(read + 1).read_to_end(&mut data) {
            self.warn(index, &path, &format!("cannot be read: {e}"));
            return Ok(());
        }
        if search && data.len() as u64 <= crate::secrets::MAX_FILE {
            self.found_secrets
                .extend(crate::secrets::scan_file(&path, &data, index));
        }
        if java {
            let (artifacts, warnings) = crate::java::artifacts(&path, &data);
            for w in warnings {
                self.warn(index, &path, &format!("({w})"));
            }
            let packages = artifacts
                .into_iter()
                .map(|a| Package::plain(Kind::Maven, a.name, a.version, path.as_str(), index))
                .collect();
            self.files.insert(path, (index, Found::Packages(packages)));
            return Ok(());
        }
        if executable && crate::gobinary::looks_executable(&data) {
            match crate::gobinary::parse(&data) {
                Some(Ok(info)) => {
                    let packages = go_packages(&info, &path, index);
                    self.files.insert(path, (index, Found::Packages(packages)));
                    return Ok(());
                }
                Some(Err(why)) => self.warn(index, &path, &why),
                None => {}
            }
            match crate::rust::auditable(&data) {
                Some(Ok(crates)) => {
                    let packages = cargo_packages(&crates, &path, index);
                    self.files.insert(path, (index, Found::Packages(packages)));
                    return Ok(());
                }
                Some(Err(why)) => self.warn(index, &path, &why),
                None => {}
            }
        }
        let Some(db) = db else {
            return Ok(());
        };
        if data.len() as u64 > limit && db != Database::PythonMetadata {
            self.warn(
                index,
                &path,
                &format!("is larger than {limit} bytes; skipped"),
            );
            return Ok(());
        }
        data.truncate(limit as usize);
        match parse(db, &path, index, &data, before.as_ref().map(|(_, f)| f)) {
            Ok(found) => {
                self.files.insert(path, (index, found));
            }
            Err(why) => self.warn(index, &path, &why),
        }
        Ok(())
    }

    fn warn(&mut self, layer: usize, path: &str, why: &str) {
        self.warnings.push(format!("layer {layer}: /{path} {why}"));
    }

    /// A whiteout: `target` and everything below it, from lower layers, is gone.
    fn delete(&mut self, target: &str, layer: usize) {
        let below = format!("{target}/");
        for s in &mut self.found_secrets {
            if s.layer.is_some_and(|l| l < layer)
                && (s.path == target || s.path.starts_with(&below))
            {
                s.deleted = true;
            }
        }
        self.files
            .retain(|p, (l, _)| *l >= layer || !(p == target || p.starts_with(&below)));
    }

    /// An opaque directory: everything below `dir` from lower layers is gone.
    fn delete_below(&mut self, dir: &str, layer: usize) {
        let below = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        for s in &mut self.found_secrets {
            if s.layer.is_some_and(|l| l < layer) && s.path.starts_with(&below) {
                s.deleted = true;
            }
        }
        self.files
            .retain(|p, (l, _)| *l >= layer || !p.starts_with(&below));
    }
}

/// Reads database `db` at `path`; `before` is what a lower layer had there.
fn parse(
    db: Database,
    path: &str,
    layer: usize,
    data: &[u8],
    before: Option<&Found>,
) -> Result<Found, String> {
    let text = String::from_utf8_lossy(data);
    let packages = match db {
        Database::OsRelease => return Ok(Found::Os(parse_os_release(&text))),
        Database::DebianVersion => {
            return Ok(Found::Os(Os {
                id: "debian".into(),
                version_id: text.trim().split('.').next().unwrap_or("").to_owned(),
                pretty_name: String::new(),
            }));
        }
        Database::AlpineRelease => {
            return Ok(Found::Os(Os {
                id: "alpine".into(),
                version_id: text.trim().to_owned(),
                pretty_name: String::new(),
            }));
        }
        Database::DpkgStatus | Database::DpkgStatusD => parse_dpkg(&text, path, layer)?,
        Database::ApkInstalled => parse_apk(&text, path, layer)?,
        Database::RpmSqlite => {
            let (rpms, broken) = crate::rpm::from_sqlite(data)?;
            if rpms.is_empty() && !broken.is_empty() {
                return Err(broken.join("; "));
            }
            rpms.into_iter()
                .map(|r| {
                    let (source, source_version) = r.source.unzip();
                    Package {
                        kind: Kind::Rpm,
                        name: r.name,
                        version: r.version,
                        arch: r.arch,
                        source,
                        source_version,
                        path: path.to_owned(),
                        layer,
                    }
                })
                .collect()
        }
        Database::PythonMetadata => parse_python(&text, path, layer)?,
        Database::Npm => parse_npm(data, path, layer)?,
        Database::NpmLock => parse_npm_lock(data, path, layer)?,
        Database::CargoLock => cargo_packages(&crate::rust::cargo_lock(&text), path, layer),
    };
    // A database rewritten by this layer keeps the attribution of packages it already had.
    let packages = match before {
        Some(Found::Packages(before)) => packages
            .into_iter()
            .map(|mut p| {
                if let Some(old) = before
                    .iter()
                    .find(|o| o.name == p.name && o.version == p.version)
                {
                    p.layer = old.layer;
                }
                p
            })
            .collect(),
        _ => packages,
    };
    Ok(Found::Packages(packages))
}

impl Collector {
    /// The inventory of everything added so far.
    pub fn finish(self) -> Inventory {
        let mut inv = Inventory {
            layers: self.layers,
            warnings: self.warnings,
            secrets: self.found_secrets,
            ..Default::default()
        };
        // os-release wins over the fallbacks; /etc over /usr/lib.
        let os_rank = |p: &str| match p {
            "etc/os-release" => 0,
            "usr/lib/os-release" => 1,
            _ => 2,
        };
        let mut best: Option<(i32, Os)> = None;
        for (path, (_, found)) in self.files {
            match found {
                Found::Packages(p) => inv.packages.extend(p),
                Found::Os(os) => {
                    let rank = os_rank(&path);
                    if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                        best = Some((rank, os));
                    }
                }
            }
        }
        inv.os = best.map(|(_, os)| os);
        inv.packages.sort_by(|a, b| {
            (a.kind, &a.name, &a.version, &a.path).cmp(&(b.kind, &b.name, &b.version, &b.path))
        });
        inv
    }
}

/// `KEY=value` lines, values optionally quoted.
fn parse_os_release(text: &str) -> Os {
    let mut os = Os::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_owned();
        match k.trim() {
            "ID" => os.id = v,
            "VERSION_ID" => os.version_id = v,
            "PRETTY_NAME" => os.pretty_name = v,
            _ => {}
        }
    }
    os
}

/// RFC 822-style stanzas: `Field: value` lines, continuation lines starting with a space or tab,
/// stanzas separated by blank lines. Returns each stanza's fields (first value kept).
fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut current = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        // Continuations matter for no field berth reads; they only must not start a field.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current
                .entry(k.trim().to_owned())
                .or_insert_with(|| v.trim().to_owned());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// dpkg's status database: installed packages only (`Status: … installed`), with their source
/// package (`Source: name` or `Source: name (version)`).
fn parse_dpkg(text: &str, path: &str, layer: usize) -> Result<Vec<Package>, String> {
    let all = stanzas(text);
    if all.is_empty() && !text.trim().is_empty() {
        return Err("holds no dpkg stanza".into());
    }
    let mut out = Vec::new();
    for s in all {
        let (Some(name), Some(version)) = (s.get("Package"), s.get("Version")) else {
            continue;
        };
        // status.d stanzas (distroless) carry no Status field: they are installed.
        let installed = s
            .get("Status")
            .is_none_or(|st| st.split_whitespace().nth(2) == Some("installed"));
        if !installed || name.is_empty() || version.is_empty() {
            continue;
        }
        let (source, source_version) = match s.get("Source") {
            Some(src) => match src.split_once('(') {
                Some((n, v)) => (
                    n.trim().to_owned(),
                    v.trim_end_matches(')').trim().to_owned(),
                ),
                None => (src.trim().to_owned(), version.clone()),
            },
            None => (name.clone(), version.clone()),
        };
        out.push(Package {
            kind: Kind::Deb,
            name: name.clone(),
            version: version.clone(),
            arch: s.get("Architecture").cloned(),
            source: Some(source),
            source_version: Some(source_version),
            path: path.to_owned(),
            layer,
        });
    }
    Ok(out)
}

/// apk's installed database: `P:` name, `V:` version, `A:` arch, `o:` origin, stanzas separated
/// by blank lines.
fn parse_apk(text: &str, path: &str, layer: usize) -> Result<Vec<Package>, String> {
    let mut out = Vec::new();
    let mut fields: BTreeMap<char, String> = BTreeMap::new();
    let mut flush = |fields: &mut BTreeMap<char, String>| {
        if let (Some(name), Some(version)) = (fields.get(&'P'), fields.get(&'V')) {
            let origin = fields.get(&'o').cloned();
            out.push(Package {
                kind: Kind::Apk,
                name: name.clone(),
                version: version.clone(),
                arch: fields.get(&'A').cloned(),
                source_version: origin.as_ref().map(|_| version.clone()),
                source: origin,
                path: path.to_owned(),
                layer,
            });
        }
        fields.clear();
    };
    let mut lines = 0usize;
    for line in text.lines() {
        if line.is_empty() {
            flush(&mut fields);
            continue;
        }
        let mut chars = line.chars();
        if let (Some(k), Some(':')) = (chars.next(), chars.next()) {
            lines += 1;
            fields.entry(k).or_insert_with(|| chars.as_str().to_owned());
        }
    }
    flush(&mut fields);
    if lines == 0 && !text.trim().is_empty() {
        return Err("holds no apk entry".into());
    }
    Ok(out)
}

/// A Python distribution's METADATA or PKG-INFO: the `Name` and `Version` headers.
fn parse_python(text: &str, path: &str, layer: usize) -> Result<Vec<Package>, String> {
    let headers = stanzas(text.split("\n\n").next().unwrap_or(""));
    let header = headers.first().ok_or("has no headers")?;
    let (Some(name), Some(version)) = (header.get("Name"), header.get("Version")) else {
        return Err("lacks Name or Version".into());
    };
    Ok(vec![Package::plain(
        Kind::Python,
        name.as_str(),
        version.as_str(),
        path,
        layer,
    )])
}

/// `go1.21.5` as the SemVer OSV uses for the standard library: `1.21.5`; `go1.21` is `1.21.0`,
/// `go1.21rc2` is `1.21.0-rc.2`.
fn go_semver(go: &str) -> String {
    let v = go.trim_start_matches("go");
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let mut parts: Vec<&str> = release.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    let mut out = parts.join(".");
    if let Some(pre) = pre {
        let digits = pre.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let word = &pre[..pre.len() - digits.len()];
        out.push_str(&format!("-{word}.{digits}"));
    }
    out
}

/// The crates.io crates among `crates` (local and git crates have no advisories to match).
fn cargo_packages(crates: &[crate::rust::Crate], path: &str, layer: usize) -> Vec<Package> {
    crates
        .iter()
        .filter(|c| c.registry)
        .map(|c| {
            Package::plain(
                Kind::Cargo,
                c.name.as_str(),
                c.version.as_str(),
                path,
                layer,
            )
        })
        .collect()
}

/// The modules a Go binary names, the standard library among them.
fn go_packages(info: &crate::gobinary::BuildInfo, path: &str, layer: usize) -> Vec<Package> {
    let go = |name: &str, version: &str| Package::plain(Kind::Go, name, version, path, layer);
    let mut out = Vec::new();
    if info.go_version.starts_with("go") {
        out.push(go("stdlib", &go_semver(&info.go_version)));
    }
    if let Some((m, v)) = &info.main
        && v != "(devel)"
        && !v.is_empty()
    {
        out.push(go(m, v));
    }
    out.extend(info.deps.iter().map(|(m, v)| go(m, v)));
    out
}

/// PEP 503's normalised project name.
pub fn normalise_pypi(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// An npm lock file: lockfileVersion 2 and 3 list `packages` by install path
/// (`node_modules/a/node_modules/@s/b`); version 1 nests `dependencies`. Development
/// dependencies (`"dev": true`) are not part of what runs, and are left out.
fn parse_npm_lock(data: &[u8], path: &str, layer: usize) -> Result<Vec<Package>, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| format!("is not valid JSON: {e}"))?;
    let npm = |name: &str, version: &str| Package::plain(Kind::Npm, name, version, path, layer);
    let mut out = Vec::new();
    if let Some(packages) = doc.get("packages").and_then(|p| p.as_object()) {
        for (install_path, entry) in packages {
            let Some(i) = install_path.rfind("node_modules/") else {
                continue;
            };
            let name = &install_path[i + 13..];
            if entry.get("dev").and_then(|d| d.as_bool()) == Some(true)
                || entry.get("link").and_then(|l| l.as_bool()) == Some(true)
            {
                continue;
            }
            if let Some(version) = entry.get("version").and_then(|v| v.as_str()) {
                out.push(npm(name, version));
            }
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(|d| d.as_object()) {
        // Version 1: walked without recursion, so a deeply nested file cannot exhaust the stack.
        let mut stack: Vec<&serde_json::Map<String, serde_json::Value>> = vec![deps];
        while let Some(map) = stack.pop() {
            for (name, entry) in map {
                if entry.get("dev").and_then(|d| d.as_bool()) == Some(true) {
                    continue;
                }
                if let Some(version) = entry.get("version").and_then(|v| v.as_str()) {
                    out.push(npm(name, version));
                }
                if let Some(nested) = entry.get("dependencies").and_then(|d| d.as_object()) {
                    stack.push(nested);
                }
            }
        }
    } else {
        return Err("has neither packages nor dependencies".into());
    }
    Ok(out)
}

/// An installed npm package's package.json: `name` and `version`.
fn parse_npm(data: &[u8], path: &str, layer: usize) -> Result<Vec<Package>, String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        name: Option<String>,
        version: Option<String>,
    }
    let m: Manifest =
        serde_json::from_slice(data).map_err(|e| format!("is not valid JSON: {e}"))?;
    match (m.name, m.version) {
        (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => {
            Ok(vec![Package::plain(Kind::Npm, name, version, path, layer)])
        }
        // A package.json without both is a project file, not an installed package.
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_databases_are_listed_and_matched() {
        use crate::rpm::tests::{database, header};
        let db = database(&[
            header(&[
                (1000, "openssl-libs"),
                (1001, "3.0.7"),
                (1002, "24.el9"),
                (1003, "#1"),
                (1022, "x86_64"),
                (1044, "openssl-3.0.7-24.el9.src.rpm"),
            ]),
            header(&[(1000, "bash"), (1001, "5.1.8"), (1002, "6.el9")]),
        ]);
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in [
            (
                "etc/os-release",
                &b"ID=\"almalinux\"\nVERSION_ID=\"9.3\"\n"[..],
            ),
            ("usr/lib/sysimage/rpm/rpmdb.sqlite", &db[..]),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, data).unwrap();
        }
        let mut c = Collector::new();
        c.add_layer("sha256:0", None, &b.into_inner().unwrap()[..]);
        let inv = c.finish();
        let purls: Vec<String> = inv
            .packages
            .iter()
            .map(|p| crate::sbom::purl(p, &inv))
            .collect();
        assert_eq!(
            purls,
            [
                "pkg:rpm/almalinux/bash@5.1.8-6.el9?distro=almalinux-9.3",
                "pkg:rpm/almalinux/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=almalinux-9.3&epoch=1",
            ]
        );
        // An AlmaLinux advisory fixed in a later release of the package, in rpm's order.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ALSA-2024-0310.json"),
            r#"{"id":"ALSA-2024:0310","affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"openssl-libs"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-25.el9_3"}]}]}]}"#,
        )
        .unwrap();
        let mut vdb = crate::vulndb::VulnDb::open(&dir.path().join("db")).unwrap();
        vdb.import(&[dir.path().join("ALSA-2024-0310.json")])
            .unwrap();
        let found = crate::vulndb::find(&inv, &vdb).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].fixed.as_deref(), Some("1:3.0.7-25.el9_3"));
    }

    #[test]
    fn auditable_rust_binaries_are_read_in_the_layer_pass() {
        let json = r#"{"packages":[{"name":"tool","version":"1.0.0","source":"local","root":true},{"name":"regex","version":"1.5.4","source":"crates.io"}]}"#;
        let bin = crate::rust::tests::elf(&[(".dep-v0", &crate::rust::tests::dep_v0(json))]);
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(bin.len() as u64);
        h.set_mode(0o755);
        b.append_data(&mut h, "usr/bin/tool", &bin[..]).unwrap();
        let mut c = Collector::new();
        c.add_layer("sha256:0", Some("COPY tool"), &b.into_inner().unwrap()[..]);
        let inv = c.finish();
        let got: Vec<(Kind, &str, &str, &str)> = inv
            .packages
            .iter()
            .map(|p| (p.kind, p.name.as_str(), p.version.as_str(), p.path.as_str()))
            .collect();
        assert_eq!(got, [(Kind::Cargo, "regex", "1.5.4", "usr/bin/tool")]);
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    }
}
