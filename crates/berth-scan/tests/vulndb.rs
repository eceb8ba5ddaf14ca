//! The vulnerability database: importing each source's format, and matching an inventory with
//! each ecosystem's version order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_scan::inventory::{Collector, Inventory};
use berth_scan::vulndb::{VulnDb, find};

mod common;
use common::{go_binary, layer, layer_with_modes};

fn inventory(files: &[(&str, &[u8])]) -> Inventory {
    let mut c = Collector::new();
    c.add_layer("sha256:0", Some("ADD rootfs"), &layer(files)[..]);
    c.finish()
}

fn found(inv: &Inventory, db: &VulnDb) -> BTreeSet<(String, String, Option<String>)> {
    find(inv, db)
        .unwrap()
        .into_iter()
        .map(|f| (f.package, f.id, f.fixed))
        .collect()
}

/// Advisory files written for the tests in each source's format (the facts are real: DSA-5380-1
/// fixed xorg-server 2:1.20.11-1+deb11u6 in bullseye, and so on).
fn fixtures(dir: &Path) {
    let debian = dir.join("debian/DSA");
    std::fs::create_dir_all(&debian).unwrap();
    std::fs::write(
        debian.join("list"),
        "[29 Mar 2023] DSA-5380-1 xorg-server - security update\n\t{CVE-2023-1393}\n\t[bullseye] - xorg-server 2:1.20.11-1+deb11u6\n\
         [20 Mar 2023] DSA-5376-1 apache2 - security update\n\t{CVE-2022-36760 CVE-2023-25690}\n\t[bullseye] - apache2 2.4.56-1~deb11u1\n\
         [07 Mar 2023] DSA-5370-1 apr - security update\n\t{CVE-2022-24963}\n\t[bullseye] - apr 1.7.0-6+deb11u2\n\t[buster] - apr <not-affected> (Vulnerable code not present)\n\
         [01 Jan 2023] DSA-9999-1 ancient - security update\n\t[buster] - apr 1.0-1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.yaml"),
        "---\ndistroversion: v3.10\nreponame: main\npackages:\n  - pkg:\n      name: musl\n      secfixes:\n        1.1.22-r3:\n          - CVE-2019-14697\n        \"0\":\n          - CVE-2000-0001\n  - pkg:\n      name: busybox\n      secfixes:\n        1.30.1-r2:\n          - CVE-2019-5747\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("requests.json"),
        r#"{"id":"PYSEC-2023-74","aliases":["CVE-2023-32681"],"summary":"proxy credentials leak",
            "affected":[{"package":{"ecosystem":"PyPI","name":"requests"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.3.0"},{"fixed":"2.31.0"}]},
                        {"type":"GIT","repo":"x","events":[{"introduced":"0"},{"fixed":"abc"}]}]}],
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("withdrawn.jsonl"),
        "{\"id\":\"GHSA-x\",\"withdrawn\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":{\"ecosystem\":\"npm\",\"name\":\"left-pad\"},\"versions\":[\"1.3.0\"]}]}\n\
         {\"id\":\"GHSA-y\",\"affected\":[{\"package\":{\"ecosystem\":\"npm\",\"name\":\"left-pad\"},\"ranges\":[{\"type\":\"SEMVER\",\"events\":[{\"introduced\":\"0\"},{\"last_affected\":\"1.3.0\"}]}]}]}\n\
         not json at all\n",
    )
    .unwrap();
}

#[test]
fn each_source_matches_with_its_ecosystems_order() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(&dir.path().join("in"));
    let mut db = VulnDb::open(&dir.path().join("db")).unwrap();
    let report = db.import(&[dir.path().join("in")]).unwrap();
    assert_eq!(report.files, 4);
    assert_eq!(
        report.skipped, 2,
        "a withdrawn record and a never-affected fix"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("withdrawn.jsonl line 3")),
        "{:?}",
        report.warnings
    );
    // Debian 11: source packages, epochs and `~` in dpkg's order.
    let debian = inventory(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"11\"\n"),
        (
            "var/lib/dpkg/status",
            b"Package: xserver-xorg-core\nStatus: install ok installed\nVersion: 2:1.20.11-1+deb11u5\nSource: xorg-server\n\n\
              Package: apache2-bin\nStatus: install ok installed\nVersion: 2.4.56-1~deb11u1\nSource: apache2\n\n\
              Package: libapr1\nStatus: install ok installed\nVersion: 1.7.0-6+deb11u1\nSource: apr\n",
        ),
    ]);
    assert_eq!(
        found(&debian, &db),
        BTreeSet::from([
            (
                "libapr1".into(),
                "DSA-5370-1".into(),
                Some("1.7.0-6+deb11u2".into())
            ),
            (
                "xserver-xorg-core".into(),
                "DSA-5380-1".into(),
                Some("2:1.20.11-1+deb11u6".into())
            ),
        ]),
        "apache2 is at the fixed version; buster's entries do not apply to 11"
    );
    // Alpine 3.10: origins and apk's order; a fix at "0" is not a finding.
    let alpine = inventory(&[
        ("etc/os-release", b"ID=alpine\nVERSION_ID=3.10.2\n"),
        (
            "lib/apk/db/installed",
            b"P:musl\nV:1.1.22-r2\no:musl\n\nP:busybox\nV:1.30.1-r2\no:busybox\n",
        ),
    ]);
    assert_eq!(
        found(&alpine, &db),
        BTreeSet::from([(
            "musl".into(),
            "CVE-2019-14697".into(),
            Some("1.1.22-r3".into())
        )])
    );
    // PyPI by normalised name and PEP 440; npm by SemVer with last_affected; severity from CVSS.
    let python = inventory(&[
        (
            "usr/lib/python3/site-packages/Requests-2.30.0.dist-info/METADATA",
            b"Name: Requests\nVersion: 2.30.0\n",
        ),
        (
            "usr/lib/python3/site-packages/old-1.dist-info/METADATA",
            b"Name: requests\nVersion: 2.2.1\n",
        ),
        (
            "a/node_modules/left-pad/package.json",
            br#"{"name":"left-pad","version":"1.3.0"}"#,
        ),
        (
            "b/node_modules/left-pad/package.json",
            br#"{"name":"left-pad","version":"1.3.1"}"#,
        ),
    ]);
    let findings = find(&python, &db).unwrap();
    let ids: BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| (f.package.clone(), f.installed.clone(), f.id.clone()))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            ("Requests".into(), "2.30.0".into(), "PYSEC-2023-74".into()),
            ("left-pad".into(), "1.3.0".into(), "GHSA-y".into()),
        ]),
        "2.2.1 predates the introduced version, 1.3.1 is past last_affected, GHSA-x is withdrawn"
    );
    let requests = findings.iter().find(|f| f.id == "PYSEC-2023-74").unwrap();
    assert_eq!(requests.fixed.as_deref(), Some("2.31.0"));
    assert_eq!(requests.aliases, ["CVE-2023-32681"]);
    // Importing again replaces rather than duplicates.
    db.import(&[dir.path().join("in")]).unwrap();
    assert_eq!(find(&python, &db).unwrap().len(), 2);
    let status = db.status().unwrap();
    let sources: Vec<&str> = status.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(
        sources,
        ["alpine:v3.10/main", "debian:DSA", "osv:PyPI", "osv:npm"]
    );
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vulndb");
    p.join("README.md").exists().then_some(p)
}

/// The files of an advisory directory, sorted.
fn record_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// An OSV record reduced to what the range tests use: its first package and that package's
/// first range, when the record is not withdrawn and the range has an introduced and a fixed
/// version.
struct Ranged {
    id: String,
    package: String,
    introduced: String,
    fixed: String,
    events: usize,
}

fn ranged(file: &Path) -> Option<Ranged> {
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    if record.get("withdrawn").is_some() {
        return None;
    }
    let affected = &record["affected"][0];
    let events = affected["ranges"][0]["events"].as_array()?;
    let first = |key: &str| {
        events
            .iter()
            .find_map(|e| e[key].as_str())
            .map(str::to_owned)
    };
    Some(Ranged {
        id: record["id"].as_str()?.to_owned(),
        package: affected["package"]["name"].as_str()?.to_owned(),
        introduced: first("introduced")?,
        fixed: first("fixed")?,
        events: events.len(),
    })
}

fn dpkg_lt(a: &str, b: &str) -> bool {
    std::process::Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .unwrap()
        .success()
}

/// The real data: all of it imports in well under 10 s, and a Debian 11 package database at
/// versions the DSA list names gets exactly the DSAs that dpkg itself says are unfixed.
#[test]
fn real_advisories_import_and_match_like_dpkg_says() {
    let Some(data) = shared() else {
        eprintln!("../shared/vulndb is not here; the real-data test has nothing to read");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let started = std::time::Instant::now();
    let report = db.import(std::slice::from_ref(&data)).unwrap();
    let took = started.elapsed();
    eprintln!(
        "imported {} advisories from {} files in {took:?}",
        report.advisories, report.files
    );
    assert!(report.advisories > 25_000);
    assert!(took.as_secs() < 10, "import took {took:?}");
    // Every bullseye fix in the DSA list, by source package.
    let list = std::fs::read_to_string(data.join("debian/security-tracker/DSA/list")).unwrap();
    let mut fixes: Vec<(String, String, String)> = Vec::new();
    let mut id = String::new();
    for line in list.lines() {
        if line.starts_with('[') {
            id = line
                .split_whitespace()
                .find(|w| w.starts_with("DSA-"))
                .unwrap_or("")
                .into();
        } else if let Some(rest) = line.trim().strip_prefix("[bullseye] - ") {
            let mut w = rest.split_whitespace();
            if let (Some(p), Some(v)) = (w.next(), w.next())
                && !v.starts_with('<')
            {
                fixes.push((p.into(), v.into(), id.clone()));
            }
        }
    }
    // Twenty packages with several fixes each, installed at their oldest fixed version.
    let mut packages: Vec<String> = fixes.iter().map(|f| f.0.clone()).collect();
    packages.sort();
    packages.dedup_by(|a, b| a == b);
    let busy: Vec<String> = packages
        .into_iter()
        .filter(|p| fixes.iter().filter(|f| &f.0 == p).count() >= 3)
        .take(20)
        .collect();
    assert!(busy.len() >= 10);
    let mut status = String::new();
    let mut expected = BTreeSet::new();
    for p in &busy {
        let versions: Vec<&String> = fixes.iter().filter(|f| &f.0 == p).map(|f| &f.1).collect();
        let oldest = versions
            .iter()
            .copied()
            .reduce(|a, b| if dpkg_lt(b, a) { b } else { a })
            .unwrap();
        status.push_str(&format!(
            "Package: bin-{p}\nStatus: install ok installed\nVersion: {oldest}\nSource: {p}\n\n"
        ));
        for f in fixes.iter().filter(|f| &f.0 == p) {
            if dpkg_lt(oldest, &f.1) {
                expected.insert((format!("bin-{p}"), f.2.clone()));
            }
        }
    }
    let inv = inventory(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"11\"\n"),
        ("var/lib/dpkg/status", status.as_bytes()),
    ]);
    let got: BTreeSet<(String, String)> = find(&inv, &db)
        .unwrap()
        .into_iter()
        .filter(|f| f.id.starts_with("DSA-"))
        .map(|f| (f.package, f.id))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        got.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new()
    );
    // PYSEC records' explicit version lists: a listed version is reported with its record.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("pypi/PYSEC-2021-368.json")).unwrap())
            .unwrap();
    let listed = record["affected"][0]["versions"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let inv = inventory(&[(
        "usr/lib/python3/site-packages/Zope-x.dist-info/METADATA",
        format!("Name: Zope\nVersion: {listed}\n").as_bytes(),
    )]);
    let ids: Vec<String> = find(&inv, &db).unwrap().into_iter().map(|f| f.id).collect();
    assert!(
        ids.contains(&"PYSEC-2021-368".to_string()),
        "{listed}: {ids:?}"
    );
    let inv = inventory(&[(
        "usr/lib/python3/site-packages/Zope-5.3.dist-info/METADATA",
        b"Name: Zope\nVersion: 99.0\n",
    )]);
    assert!(
        find(&inv, &db)
            .unwrap()
            .iter()
            .all(|f| f.id != "PYSEC-2021-368")
    );
}

/// A Go binary's modules match the Go vulnerability database's records: for a sample of real
/// records, a binary built with a module at a version the record's own range says is affected
/// gets that record, and the fixed version does not.
#[test]
fn go_modules_match_real_go_advisories() {
    let Some(data) = shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    db.import(&[data.join("go")]).unwrap();
    let mut checked = 0;
    for file in record_files(&data.join("go")).iter().step_by(23) {
        let Some(r) = ranged(file) else {
            continue;
        };
        let (id, module, introduced, fixed) = (&r.id, r.package.as_str(), &r.introduced, &r.fixed);
        if introduced == "0" || module == "stdlib" || module == "toolchain" {
            continue;
        }
        for (version, expect) in [(introduced, true), (fixed, false)] {
            let bin = go_binary_with(module, &format!("v{version}"));
            let tar = layer_with_modes(&[("app", 0o755, &bin[..])]);
            let mut c = Collector::new();
            c.add_layer("sha256:0", None, &tar[..]);
            let inv = c.finish();
            let ids: Vec<String> = find(&inv, &db).unwrap().into_iter().map(|f| f.id).collect();
            assert_eq!(
                ids.contains(&id.to_string()),
                expect,
                "{id}: {module} v{version}: {ids:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} records checked");
    eprintln!("{checked} Go records checked");
}

fn go_binary_with(module: &str, version: &str) -> Vec<u8> {
    go_binary(
        "go1.22.0",
        &format!("path\tapp\nmod\tapp\t(devel)\t\ndep\t{module}\t{version}\th1:x=\n"),
    )
}

/// Alpine 3.10 with packages at versions Alpine's real secdb names: each package installed at
/// the oldest fixing version it lists gets every CVE fixed later (apk's order, itself checked
/// against apk-tools' vectors) and none fixed at that version or before.
#[test]
fn alpine_packages_match_the_real_secdb() {
    let Some(data) = shared() else {
        return;
    };
    use berth_scan::version::{Scheme, compare};
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let secdb = data.join("alpine/secdb/v3.10/main.yaml");
    db.import(std::slice::from_ref(&secdb)).unwrap();
    // package -> [(fixed version, CVE)], read here with a plain line walk of the file.
    let text = std::fs::read_to_string(&secdb).unwrap();
    let mut fixes: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    let (mut package, mut version) = (String::new(), String::new());
    for line in text.lines() {
        let t = line.trim();
        if let Some(n) = t.strip_prefix("name: ") {
            package = n.to_owned();
        } else if let Some(id) = t.strip_prefix("- ").filter(|i| i.starts_with("CVE-")) {
            fixes.entry(package.clone()).or_default().push((
                version.clone(),
                id.split_whitespace().next().unwrap().to_owned(),
            ));
        } else if let Some(v) = t.strip_suffix(':').filter(|v| !v.contains(' ')) {
            version = v.trim_matches('"').to_owned();
        }
    }
    let mut installed = String::new();
    let mut expected = BTreeSet::new();
    for (package, list) in fixes.iter().filter(|(_, l)| l.len() >= 3).take(25) {
        let oldest = list
            .iter()
            .map(|(v, _)| v.as_str())
            .filter(|v| *v != "0")
            .min_by(|a, b| compare(Scheme::Apk, a, b))
            .unwrap();
        installed.push_str(&format!("P:{package}\nV:{oldest}\no:{package}\n\n"));
        for (v, id) in list {
            if v != "0" && compare(Scheme::Apk, oldest, v) == std::cmp::Ordering::Less {
                expected.insert((package.clone(), id.clone()));
            }
        }
    }
    assert!(expected.len() > 25);
    let inv = inventory(&[
        ("etc/os-release", b"ID=alpine\nVERSION_ID=3.10.9\n"),
        ("lib/apk/db/installed", installed.as_bytes()),
    ]);
    let got: BTreeSet<(String, String)> = find(&inv, &db)
        .unwrap()
        .into_iter()
        .map(|f| (f.package, f.id))
        .collect();
    assert_eq!(
        got.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new()
    );
}

/// Rust crates, from a Cargo.lock, match RustSec's real records: each sampled record is reported
/// at its introduced version and not at its fixed one.
#[test]
fn crates_match_real_rustsec_advisories() {
    let Some(data) = shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    db.import(&[data.join("crates")]).unwrap();
    let mut checked = 0;
    for file in &record_files(&data.join("crates")) {
        let Some(r) = ranged(file) else {
            continue;
        };
        let (id, name, introduced, fixed) = (&r.id, r.package.as_str(), &r.introduced, &r.fixed);
        if introduced.starts_with("0.0.0") || r.events != 2 {
            continue;
        }
        for (version, expect) in [(introduced, true), (fixed, false)] {
            let lock = format!(
                "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
            );
            let inv = inventory(&[("srv/app/Cargo.lock", lock.as_bytes())]);
            let ids: Vec<String> = find(&inv, &db).unwrap().into_iter().map(|f| f.id).collect();
            assert_eq!(
                ids.contains(&id.to_string()),
                expect,
                "{id}: {name} {version}: {ids:?}"
            );
        }
        checked += 1;
        if checked == 40 {
            eprintln!("{checked} RustSec records checked");
            break;
        }
    }
    assert!(checked >= 20, "only {checked} records checked");
}

/// A jar with a pom.properties: the artifact's coordinates and version.
fn jar(group: &str, artifact: &str, version: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        format!("META-INF/maven/{group}/{artifact}/pom.properties"),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    write!(
        w,
        "groupId={group}\nartifactId={artifact}\nversion={version}\n"
    )
    .unwrap();
    w.finish().unwrap().into_inner()
}

/// Java archives match GitHub's real Maven advisories (the osv-scanner fixture in
/// ../shared/vulndb): each sampled record is reported for a jar at a version it lists and not for
/// a jar at its fixed version; the jar sits inside a WAR's WEB-INF/lib.
#[test]
fn jars_match_real_maven_advisories() {
    let Some(data) = shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let fixture = data.join("maven-ghsa-fixture");
    db.import(std::slice::from_ref(&fixture)).unwrap();
    let lines = std::fs::read_dir(&fixture)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let mut checked = 0;
    for line in lines.lines().step_by(9) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let affected = &record["affected"][0];
        let name = affected["package"]["name"].as_str().unwrap();
        let Some((group, artifact)) = name.split_once(':') else {
            continue;
        };
        let listed = affected["versions"][0].as_str();
        let fixed = affected["ranges"][0]["events"]
            .as_array()
            .and_then(|e| e.iter().find_map(|e| e["fixed"].as_str()));
        let (Some(listed), Some(fixed)) = (listed, fixed) else {
            continue;
        };
        let id = record["id"].as_str().unwrap();
        for (version, expect) in [(listed, true), (fixed, false)] {
            let inner = jar(group, artifact, version);
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            w.start_file(
                "WEB-INF/lib/dep.jar",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            std::io::Write::write_all(&mut w, &inner).unwrap();
            let war = w.finish().unwrap().into_inner();
            let inv = inventory(&[("usr/local/tomcat/webapps/app.war", &war)]);
            let ids: Vec<String> = find(&inv, &db).unwrap().into_iter().map(|f| f.id).collect();
            assert_eq!(
                ids.contains(&id.to_string()),
                expect,
                "{id}: {name} {version}: {ids:?}"
            );
        }
        checked += 1;
    }
    eprintln!("{checked} Maven records checked");
    assert!(checked >= 20, "only {checked} records checked");
}

/// osv.dev publishes each ecosystem as one zip of OSV records: it imports like the files would,
/// and its bad members are warnings naming them.
#[test]
fn osv_zips_import() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    w.start_file("PYSEC-2023-74.json", opts).unwrap();
    w.write_all(br#"{"id":"PYSEC-2023-74","affected":[{"package":{"ecosystem":"PyPI","name":"requests"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.3.0"},{"fixed":"2.31.0"}]}]}]}"#).unwrap();
    w.start_file("README.txt", opts).unwrap();
    w.write_all(b"not a record").unwrap();
    w.start_file("broken.json", opts).unwrap();
    w.write_all(b"{\"id\": ").unwrap();
    let zip = dir.path().join("all.zip");
    std::fs::write(&zip, w.finish().unwrap().into_inner()).unwrap();
    let mut db = VulnDb::open(&dir.path().join("db")).unwrap();
    let report = db.import(std::slice::from_ref(&zip)).unwrap();
    assert_eq!(report.advisories, 1);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("all.zip!/broken.json")),
        "{:?}",
        report.warnings
    );
    let inv = inventory(&[(
        "usr/lib/python3/site-packages/requests-2.30.0.dist-info/METADATA",
        b"Name: requests\nVersion: 2.30.0\n",
    )]);
    assert_eq!(find(&inv, &db).unwrap()[0].id, "PYSEC-2023-74");
    // A file that only looks like a zip.
    std::fs::write(dir.path().join("fake.zip"), b"PK\x03\x04 and nothing else").unwrap();
    let report = db.import(&[dir.path().join("fake.zip")]).unwrap();
    assert!(report.warnings.iter().any(|w| w.contains("fake.zip")));
}

/// The real records shipped with these tests (tests/data/advisories, one per ecosystem, with
/// their licences): each matches a package at an affected version and not at its fixed one.
#[test]
fn shipped_real_records_match_each_ecosystem() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = VulnDb::open(dir.path()).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/advisories");
    let report = db.import(&[data]).unwrap();
    assert_eq!(report.advisories, 4, "{:?}", report.warnings);
    let lock = |name: &str, version: &str| {
        format!(
            "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        )
    };
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, u32)> = vec![
        (
            "PYSEC-2023-74",
            b"Name: requests\nVersion: 2.30.0\n".to_vec(),
            b"Name: requests\nVersion: 2.31.0\n".to_vec(),
            0o644,
        ),
        (
            "RUSTSEC-2018-0005",
            lock("serde_yaml", "0.6.0-rc1").into_bytes(),
            lock("serde_yaml", "0.8.4").into_bytes(),
            0o644,
        ),
        (
            "GO-2020-0004",
            go_binary_with(
                "github.com/nanobox-io/golang-nanoauth",
                "v0.0.0-20160722212129-ac0cc4484ad4",
            ),
            go_binary_with(
                "github.com/nanobox-io/golang-nanoauth",
                "v0.0.0-20200131131040-063a3fb69896",
            ),
            0o755,
        ),
        (
            "GHSA-vmfg-rjjm-rjrj",
            jar("ch.qos.logback", "logback-classic", "0.3"),
            jar("ch.qos.logback", "logback-classic", "1.2.0"),
            0o644,
        ),
    ];
    for (id, affected, fixed, mode) in cases {
        let path = match id {
            "PYSEC-2023-74" => "usr/lib/python3/site-packages/requests.dist-info/METADATA",
            "RUSTSEC-2018-0005" => "src/Cargo.lock",
            "GO-2020-0004" => "usr/local/bin/app",
            _ => "opt/app/lib/logback-classic.jar",
        };
        for (content, expect) in [(&affected, true), (&fixed, false)] {
            let tar = layer_with_modes(&[(path, mode, content)]);
            let mut c = Collector::new();
            c.add_layer("sha256:0", None, &tar[..]);
            let ids: Vec<String> = find(&c.finish(), &db)
                .unwrap()
                .into_iter()
                .map(|f| f.id)
                .collect();
            assert_eq!(ids.contains(&id.to_string()), expect, "{id}: {ids:?}");
        }
    }
}

/// A binary built by a real Go toolchain (Debian's golang-go): its build information names the
/// Go version the toolchain reports, and the Go vulnerability database's stdlib records match it.
#[test]
fn a_real_go_binary_is_read_and_matched() {
    let go = |args: &[&str], dir: &Path| {
        std::process::Command::new("go")
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .env("GOCACHE", dir.join("cache"))
            .env("GOPATH", dir.join("gopath"))
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .output()
    };
    let dir = tempfile::tempdir().unwrap();
    let Ok(version) = go(&["env", "GOVERSION"], dir.path()) else {
        eprintln!("no Go toolchain (Debian's golang-go); scripts/test.sh installs it");
        return;
    };
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    std::fs::write(
        dir.path().join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n",
    )
    .unwrap();
    let built = go(&["build", "-o", "app", "main.go"], dir.path()).unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let bin = std::fs::read(dir.path().join("app")).unwrap();
    let tar = layer_with_modes(&[("usr/local/bin/app", 0o755, &bin[..])]);
    let mut c = Collector::new();
    c.add_layer("sha256:0", None, &tar[..]);
    let inv = c.finish();
    let stdlib = inv.packages.iter().find(|p| p.name == "stdlib").unwrap();
    let expected = version.trim_start_matches("go");
    assert!(
        stdlib.version == expected || stdlib.version == format!("{expected}.0"),
        "{} from {version}",
        stdlib.version
    );
    let Some(data) = shared() else {
        return;
    };
    let mut db = VulnDb::open(&dir.path().join("db")).unwrap();
    db.import(&[data.join("go")]).unwrap();
    let found = find(&inv, &db).unwrap();
    eprintln!("{} stdlib advisories for {version}", found.len());
    assert!(
        found
            .iter()
            .all(|f| f.package == "stdlib" && f.fixed.is_some())
    );
    // Debian 12's Go (1.19) predates many standard-library fixes.
    if expected.starts_with("1.19") {
        assert!(found.len() > 10, "{}", found.len());
    }
}
