//! What the end-to-end tests share: the real `berth` binary against a temporary store, root checks,
//! a busybox image from Debian's busybox-static, and podman with its own store.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Whether a test that needs root and `tools` can run: skips outside CI, fails in CI.
pub fn ready(tools: &[&str]) -> bool {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let missing: Vec<_> = tools
        .iter()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    if is_root() && missing.is_empty() {
        return true;
    }
    assert!(
        !ci,
        "CI must run as root with {tools:?} installed (missing {missing:?})"
    );
    eprintln!("skipped: needs root and {tools:?}");
    false
}

/// A temporary store and work directory, removed on drop.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new(name: &str) -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix(&format!("berth-e2e-{name}-"))
                .tempdir_in("/tmp")
                .unwrap(),
        }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_stdin(args, None)
    }
    pub fn berth_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(data) = stdin {
            child.stdin.take().unwrap().write_all(data).unwrap();
        }
        child.wait_with_output().unwrap()
    }
    /// `berth --root ROOT --runroot RUN ARGS`, not yet started; registry credentials go to the
    /// test's own directory, never the host's.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BERTH);
        cmd.env("DOCKER_CONFIG", self.path("docker"))
            .env_remove("REGISTRY_AUTH_FILE")
            .arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.path("run"))
            .args(args);
        cmd
    }
    /// Runs berth and returns its stdout, failing the test if it failed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    pub fn assert_clean(&self) {
        let out = self.berth(&["system", "check"]);
        assert!(
            out.status.success(),
            "store not clean:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    /// A busybox root filesystem tar, from Debian's busybox-static.
    pub fn busybox_tar(&self) -> PathBuf {
        let rootfs = self.path("rootfs");
        let tar = self.path("busybox.tar");
        let script = format!(
            "set -e; mkdir -p {r}/bin {r}/etc {r}/tmp; cp /bin/busybox {r}/bin/; \
             for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || ln -s busybox {r}/bin/$a; done; \
             printf 'root:x:0:0:root:/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' > {r}/etc/passwd; \
             printf 'root:x:0:\\napp:x:1000:\\nwheel:x:10:app\\n' > {r}/etc/group; \
             tar --numeric-owner -C {r} -cf {t} .",
            r = rootfs.display(),
            t = tar.display()
        );
        sh(&script);
        tar
    }
    pub fn podman(&self, args: &[&str]) -> Output {
        let conf = self.path("containers.conf");
        if !conf.exists() {
            std::fs::write(
                &conf,
                "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n",
            )
            .unwrap();
        }
        Command::new("podman")
            .env("CONTAINERS_CONF", &conf)
            .arg("--root")
            .arg(self.path("podman-root"))
            .arg("--runroot")
            .arg(self.path("podman-run"))
            .arg("--tmpdir")
            .arg(self.path("podman-tmp"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            .args(args)
            .output()
            .unwrap()
    }
    pub fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Env {
    /// Leaves nothing behind, even after a failed test: containers are force-removed (which
    /// kills their processes and removes their cgroups), podman's store is reset, and any mount
    /// left under the temporary directory is detached.
    fn drop(&mut self) {
        if self.path("run").exists() {
            for dir in std::fs::read_dir(self.root().join("containers"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let id = dir.file_name().to_string_lossy().into_owned();
                let _ = self.berth(&["rm", "-f", &id]);
                for controller in [
                    "memory",
                    "cpu,cpuacct",
                    "pids",
                    "freezer",
                    "devices",
                    "blkio",
                    "unified",
                ] {
                    let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{controller}/berth/{id}"));
                }
            }
        }
        // The parent group runtimes make for berth's containers goes once it is empty (runc leaves
        // it in the cpuset and named hierarchies too).
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(hierarchy.path().join("berth"));
        }
        if self.path("podman-root").exists() {
            let _ = self.podman(&["system", "reset", "--force"]);
        }
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "grep -o ' {}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l",
                    self.dir.path().display()
                ),
            ])
            .status();
    }
}

pub fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn inspect(env: &Env, name: &str, template: &str) -> String {
    env.ok(&["image", "inspect", "--format", template, name])
        .trim()
        .to_owned()
}

pub fn inspect_container(env: &Env, name: &str, template: &str) -> String {
    env.ok(&["container", "inspect", "--format", template, name])
        .trim()
        .to_owned()
}

/// Checks a SARIF log against the SARIF 2.1.0 JSON schema itself (the file `BERTH_SARIF_SCHEMA`
/// names; scripts/test.sh takes it from npm's `@microsoft/sarif-multitool-linux`, which ships
/// it) with Python's jsonschema. Outside CI, without the schema, it says so and checks nothing.
pub fn assert_valid_sarif(log: &[u8]) {
    let schema = std::env::var("BERTH_SARIF_SCHEMA").unwrap_or_default();
    if schema.is_empty() || !std::path::Path::new(&schema).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have the SARIF schema (scripts/test.sh sets BERTH_SARIF_SCHEMA)"
        );
        eprintln!("BERTH_SARIF_SCHEMA is not set: SARIF not checked against the schema");
        return;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(sys.stdin)))\n\
             for e in errors[:10]: print(list(e.path), e.message[:300])\n\
             sys.exit(1 if errors else 0)",
            &schema,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(log).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SARIF does not validate against the 2.1.0 schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
