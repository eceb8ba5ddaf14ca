//! `berth sbom` of a real Debian image (debootstrap's minbase bookworm, which scripts/test.sh
//! builds once and caches) lists exactly the packages, versions, source packages and source
//! versions that `dpkg-query -W` reports for that root.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{Env, ready, sh};

type Row = (String, String, String, String);

#[test]
fn sbom_of_a_debootstrap_image_matches_dpkg_query() {
    if !ready(&["dpkg-query", "tar"]) {
        return;
    }
    let rootfs = PathBuf::from(
        std::env::var("BERTH_DEBIAN_ROOTFS")
            .unwrap_or_else(|_| "/var/cache/berth-bench/rootfs".into()),
    );
    if !rootfs.join("etc/debian_version").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs the debootstrap root at {} (scripts/test.sh makes it)",
            rootfs.display()
        );
        eprintln!("skipped: no debootstrap root at {}", rootfs.display());
        return;
    }
    let query = std::process::Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            rootfs.join("var/lib/dpkg").display()
        ))
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version}\n",
        ])
        .output()
        .unwrap();
    assert!(query.status.success());
    let expected: BTreeSet<Row> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 5 && f[0] == "installed")
                .then(|| (f[1].into(), f[2].into(), f[3].into(), f[4].into()))
        })
        .collect();
    assert!(
        expected.len() > 80,
        "minbase has about 90 packages: {}",
        expected.len()
    );

    let env = Env::new("debian");
    let tar = env.path("rootfs.tar");
    sh(&format!(
        "tar --numeric-owner -C {} -cf {} .",
        rootfs.display(),
        tar.display()
    ));
    env.ok(&["import", tar.to_str().unwrap(), "debian:minbase"]);
    let sbom: serde_json::Value =
        serde_json::from_str(&env.ok(&["sbom", "--format", "json", "debian:minbase"])).unwrap();
    assert_eq!(sbom["os"]["id"], "debian");
    let got: BTreeSet<Row> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "deb")
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            (s("name"), s("version"), s("source"), s("source_version"))
        })
        .collect();
    let only_berth: Vec<&Row> = got.difference(&expected).collect();
    let only_dpkg: Vec<&Row> = expected.difference(&got).collect();
    assert!(
        only_berth.is_empty() && only_dpkg.is_empty(),
        "berth only: {only_berth:#?}\ndpkg-query only: {only_dpkg:#?}"
    );
}
