//! Package inventory from layer tar streams: real dpkg data, attribution to layers, whiteouts,
//! and hostile input.

use std::collections::BTreeSet;

use berth_scan::inventory::{Collector, Inventory, Kind};
use berth_scan::sbom;

mod common;
use common::{go_binary, layer, layer_with_modes};

fn collect(layers: &[Vec<u8>]) -> Inventory {
    let mut c = Collector::new();
    for (i, l) in layers.iter().enumerate() {
        c.add_layer(
            &format!("sha256:{i:064}"),
            Some(&format!("RUN step {i}")),
            &l[..],
        );
    }
    c.finish()
}

fn names(inv: &Inventory, kind: Kind) -> Vec<(String, String, usize)> {
    inv.packages
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| (p.name.clone(), p.version.clone(), p.layer))
        .collect()
}

/// The host is Debian: berth's reading of its dpkg database equals dpkg-query's.
#[test]
fn dpkg_status_matches_dpkg_query() {
    let Ok(status) = std::fs::read("/var/lib/dpkg/status") else {
        return;
    };
    let query = std::process::Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version}\n",
        ])
        .output()
        .expect("dpkg-query runs on Debian");
    let expected: BTreeSet<(String, String, String, String)> =
        String::from_utf8_lossy(&query.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() == 5 && f[0] == "installed")
                    .then(|| (f[1].into(), f[2].into(), f[3].into(), f[4].into()))
            })
            .collect();
    assert!(expected.len() > 50, "a Debian host has many packages");
    let inv = collect(&[layer(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        ("var/lib/dpkg/status", &status),
    ])]);
    let got: BTreeSet<(String, String, String, String)> = inv
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.source.clone().unwrap(),
                p.source_version.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String, String, String)>::new()
    );
    let os = inv.os.unwrap();
    assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
}

#[test]
fn packages_are_attributed_to_the_layer_that_added_them() {
    let status1 = b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nSource: glibc\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
    let status2 = b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\nSource: glibc\n\nPackage: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\nDescription: x\n multi-line\n .\n continued\n\nPackage: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl (3.0.11-1~deb12u2)\n";
    let metadata =
        b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\n\nlong description: Version: 9\n";
    let pkg = br#"{"name":"@babel/core","version":"7.23.0"}"#;
    let inv = collect(&[
        layer(&[("./var/lib/dpkg/status", status1)]),
        layer(&[
            ("var/lib/dpkg/status", status2),
            (
                "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                metadata,
            ),
            ("app/node_modules/@babel/core/package.json", pkg),
            ("app/package.json", br#"{"name":"app"}"#),
        ]),
    ]);
    assert_eq!(
        names(&inv, Kind::Deb),
        [
            ("curl".into(), "7.88.1-10+deb12u5".into(), 1),
            ("libc6".into(), "2.36-9".into(), 0),
            ("libssl3".into(), "3.0.11-1~deb12u2".into(), 1),
        ]
    );
    let ssl = inv.packages.iter().find(|p| p.name == "libssl3").unwrap();
    assert_eq!(ssl.source.as_deref(), Some("openssl"));
    assert_eq!(ssl.source_version.as_deref(), Some("3.0.11-1~deb12u2"));
    assert_eq!(
        names(&inv, Kind::Python),
        [("Requests".into(), "2.31.0".into(), 1)]
    );
    assert_eq!(
        names(&inv, Kind::Npm),
        [("@babel/core".into(), "7.23.0".into(), 1)]
    );
    assert_eq!(inv.layers[1].created_by.as_deref(), Some("RUN step 1"));
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
}

#[test]
fn whiteouts_and_opaque_directories_remove_packages() {
    let metadata = b"Name: six\nVersion: 1.16.0\n";
    let pkg = br#"{"name":"left-pad","version":"1.3.0"}"#;
    let apk =
        b"C:Q1abc=\nP:musl\nV:1.1.24-r2\nA:x86_64\no:musl\n\nP:busybox\nV:1.31.1-r9\no:busybox\n";
    let inv = collect(&[
        layer(&[
            ("lib/apk/db/installed", apk),
            ("etc/alpine-release", b"3.11.6\n"),
            (
                "usr/lib/python3.8/site-packages/six-1.16.0.dist-info/METADATA",
                metadata,
            ),
            ("srv/node_modules/left-pad/package.json", pkg),
        ]),
        layer(&[
            (
                "usr/lib/python3.8/site-packages/.wh.six-1.16.0.dist-info",
                b"",
            ),
            ("srv/node_modules/", b""),
            ("srv/node_modules/.wh..wh..opq", b""),
        ]),
    ]);
    assert!(names(&inv, Kind::Python).is_empty());
    assert!(names(&inv, Kind::Npm).is_empty());
    assert_eq!(
        names(&inv, Kind::Apk),
        [
            ("busybox".into(), "1.31.1-r9".into(), 0),
            ("musl".into(), "1.1.24-r2".into(), 0)
        ]
    );
    let musl = inv.packages.iter().find(|p| p.name == "musl").unwrap();
    assert_eq!(musl.source.as_deref(), Some("musl"));
    assert_eq!(musl.arch.as_deref(), Some("x86_64"));
    let os = inv.os.clone().unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_str()),
        ("alpine", "3.11.6")
    );
    // A later layer that deletes the whole database deletes every package in it.
    let gone = collect(&[
        layer(&[("lib/apk/db/installed", apk)]),
        layer(&[("lib/apk/db/.wh.installed", b"")]),
    ]);
    assert!(gone.packages.is_empty());
}

#[test]
fn bad_input_is_a_warning_naming_the_file_and_the_scan_goes_on() {
    let huge_metadata = [
        b"Name: big\nVersion: 1.0\n\n".as_slice(),
        &vec![b'x'; 3 << 20],
    ]
    .concat();
    let mut truncated = layer(&[(
        "var/lib/dpkg/status",
        b"Package: a\nVersion: 1\nStatus: install ok installed\n",
    )]);
    truncated.truncate(700);
    let inv = collect(&[
        layer(&[
            ("var/lib/dpkg/status", &[0xff, 0xfe, 0x00, 0x01, 0x02][..]),
            ("x/node_modules/bad/package.json", b"{not json"),
            (
                "usr/lib/python3/site-packages/big-1.0.dist-info/METADATA",
                &huge_metadata,
            ),
            (
                "usr/lib/python3/site-packages/nover-1.dist-info/METADATA",
                b"Name: nover\n",
            ),
        ]),
        truncated,
        layer(&[("lib/apk/db/installed", b"P:ok\nV:1-r0\n")]),
    ]);
    let text = inv.warnings.join("\n");
    assert!(
        text.contains("/var/lib/dpkg/status holds no dpkg stanza"),
        "{text}"
    );
    assert!(
        text.contains("/x/node_modules/bad/package.json is not valid JSON"),
        "{text}"
    );
    assert!(
        text.contains("nover-1.dist-info/METADATA lacks Name or Version"),
        "{text}"
    );
    assert!(
        text.contains("layer 1"),
        "the truncated layer is named: {text}"
    );
    // A huge METADATA still yields its headers; the layers after the bad one still count.
    assert_eq!(names(&inv, Kind::Python), [("big".into(), "1.0".into(), 0)]);
    assert_eq!(names(&inv, Kind::Apk), [("ok".into(), "1-r0".into(), 2)]);
}

#[test]
fn sboms_carry_purls_and_layers() {
    let inv = collect(&[layer(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n"),
        (
            "var/lib/dpkg/status",
            b"Package: libssl3\nStatus: install ok installed\nVersion: 1:3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n",
        ),
        ("usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info/METADATA", b"Name: Foo_Bar\nVersion: 1.0\n"),
        ("n/node_modules/@types/node/package.json", br#"{"name":"@types/node","version":"20.1.0"}"#),
    ])]);
    let purls: Vec<String> = inv.packages.iter().map(|p| sbom::purl(p, &inv)).collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/libssl3@1%3A3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
            "pkg:pypi/foo-bar@1.0",
            "pkg:npm/%40types/node@20.1.0",
        ]
    );
    let subject = sbom::Subject {
        name: "demo:1".into(),
        id: format!("sha256:{}", "a".repeat(64)),
    };
    let cdx = sbom::cyclonedx(
        &inv,
        &subject,
        "00000000-0000-4000-8000-000000000000",
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(cdx["specVersion"], "1.5");
    assert_eq!(cdx["components"].as_array().unwrap().len(), 3);
    assert_eq!(cdx["components"][0]["purl"], purls[0]);
    let props = cdx["components"][0]["properties"].to_string();
    assert!(
        props.contains("RUN step 0") && props.contains("/var/lib/dpkg/status"),
        "{props}"
    );
    let doc = sbom::spdx(&inv, &subject, "x", "2026-01-01T00:00:00Z");
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(
        doc["packages"].as_array().unwrap().len(),
        4,
        "the image and three packages"
    );
    assert_eq!(doc["relationships"].as_array().unwrap().len(), 4);
    assert_eq!(
        doc["packages"][2]["externalRefs"][0]["referenceLocator"],
        purls[1]
    );
}

#[test]
fn go_binaries_list_their_modules() {
    let bin = go_binary(
        "go1.20.4",
        "path\texample.com/tool\nmod\texample.com/tool\tv1.2.0\th1:a=\ndep\tgolang.org/x/net\tv0.7.0\th1:b=\n",
    );
    let layer = layer_with_modes(&[
        ("usr/local/bin/tool", 0o755, &bin[..]),
        ("usr/share/tool.data", 0o644, &bin[..]),
    ]);
    let inv = collect(&[layer]);
    let go: Vec<(String, String, String)> = inv
        .packages
        .iter()
        .filter(|p| p.kind == Kind::Go)
        .map(|p| (p.name.clone(), p.version.clone(), p.path.clone()))
        .collect();
    assert_eq!(
        go,
        [
            (
                "example.com/tool".into(),
                "v1.2.0".into(),
                "usr/local/bin/tool".into()
            ),
            (
                "golang.org/x/net".into(),
                "v0.7.0".into(),
                "usr/local/bin/tool".into()
            ),
            (
                "stdlib".into(),
                "1.20.4".into(),
                "usr/local/bin/tool".into()
            ),
        ],
        "a file that is not executable is not read as a binary"
    );
    let net = inv
        .packages
        .iter()
        .find(|p| p.name == "golang.org/x/net")
        .unwrap();
    assert_eq!(sbom::purl(net, &inv), "pkg:golang/golang.org/x/net@v0.7.0");
}

#[test]
fn rust_crates_from_cargo_lock() {
    let lock = b"version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    let inv = collect(&[layer(&[("src/app/Cargo.lock", lock)])]);
    let crates: Vec<(String, String)> = inv
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    assert_eq!(
        crates,
        [("smallvec".to_string(), "1.6.0".to_string())],
        "local crates are left out"
    );
    assert_eq!(
        sbom::purl(&inv.packages[0], &inv),
        "pkg:cargo/smallvec@1.6.0"
    );
}

#[test]
fn npm_lock_files_of_both_layouts() {
    let v3 = br#"{"name":"app","lockfileVersion":3,"packages":{
        "":{"name":"app","version":"1.0.0"},
        "node_modules/express":{"version":"4.17.1"},
        "node_modules/express/node_modules/qs":{"version":"6.7.0"},
        "node_modules/@babel/core":{"version":"7.23.0","dev":true},
        "node_modules/local":{"link":true}}}"#;
    let v1 = br#"{"lockfileVersion":1,"dependencies":{
        "lodash":{"version":"4.17.20"},
        "jest":{"version":"29.0.0","dev":true},
        "a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0"}}}}}"#;
    let inv = collect(&[layer(&[
        ("srv/app/package-lock.json", v3),
        ("srv/old/package-lock.json", v1),
        ("srv/app/node_modules/.package-lock.json", v3),
        ("srv/bad/package-lock.json", b"[1, 2]"),
    ])]);
    let mut got: Vec<(String, String, String)> = inv
        .packages
        .iter()
        .map(|p| (p.path.clone(), p.name.clone(), p.version.clone()))
        .collect();
    got.sort();
    let want: Vec<(String, String, String)> = [
        ("srv/app/package-lock.json", "express", "4.17.1"),
        ("srv/app/package-lock.json", "qs", "6.7.0"),
        ("srv/old/package-lock.json", "a", "1.0.0"),
        ("srv/old/package-lock.json", "b", "2.0.0"),
        ("srv/old/package-lock.json", "lodash", "4.17.20"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(
        got, want,
        "dev and linked packages, and npm's own copy, are left out"
    );
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("srv/bad/package-lock.json"))
    );
}
