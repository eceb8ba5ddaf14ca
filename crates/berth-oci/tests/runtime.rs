//! The `berth-runtime` binary as an engine drives it, as root against the kernel: the runc
//! command line, state transitions, pause and resume through the freezer, `ps`, `features`,
//! errors as JSON log lines, rlimits clamped to the host, and a user namespace from the spec.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RUNTIME: &str = env!("CARGO_BIN_EXE_berth-runtime");

fn ready() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let busybox = Path::new("/bin/busybox").exists();
    if root && busybox {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run as root with busybox-static"
    );
    eprintln!("skipped: needs root and /bin/busybox");
    false
}

/// A bundle with a busybox root, a state root, and a log file; containers are deleted on drop.
struct Bundle {
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl Bundle {
    fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-runtime-test-")
            .tempdir_in("/tmp")
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "sleep", "cat", "id", "true", "grep", "echo", "ulimit"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let b = Bundle {
            dir,
            ids: Vec::new(),
        };
        b.write_spec(args, |_| {});
        b
    }

    fn write_spec(&self, args: &[&str], edit: impl FnOnce(&mut Value)) {
        let mut spec = json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": args, "env": ["PATH=/bin"], "cwd": "/",
                        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
                        "noNewPrivileges": true},
            "root": {"path": "rootfs"},
            "hostname": "rt",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}],
                "cgroupsPath": format!("/berth-runtime-test/{}", self.dir.path().file_name().unwrap().to_string_lossy()),
                "resources": {"pids": {"limit": 64}},
                "maskedPaths": ["/proc/keys"],
                "readonlyPaths": ["/proc/sys"]
            }
        });
        edit(&mut spec);
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn runtime(&self, args: &[&str]) -> Output {
        Command::new(RUNTIME)
            .arg("--root")
            .arg(self.path("state"))
            .arg("--log")
            .arg(self.path("log.json"))
            .arg("--log-format")
            .arg("json")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a command whose container inherits its stdio (`create`, `run --detach`): its output
    /// is not collected, since the container's process keeps the pipes open.
    fn quiet(&self, args: &[&str]) {
        let status = Command::new(RUNTIME)
            .arg("--root")
            .arg(self.path("state"))
            .arg("--log")
            .arg(self.path("log.json"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "berth-runtime {args:?}: {}",
            std::fs::read_to_string(self.path("log.json")).unwrap_or_default()
        );
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.runtime(args);
        assert!(
            out.status.success(),
            "berth-runtime {args:?}: {}",
            std::fs::read_to_string(self.path("log.json")).unwrap_or_default()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn status(&self, id: &str) -> String {
        let state: Value = serde_json::from_str(&self.ok(&["state", id])).unwrap();
        state["status"].as_str().unwrap().to_owned()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status(id) != want {
            assert!(Instant::now() < deadline, "{id} never became {want}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.runtime(&["delete", "--force", id]);
        }
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(hierarchy.path().join("berth-runtime-test"));
        }
    }
}

fn cgroup_dirs_left(name: &str) -> Vec<String> {
    ["memory", "pids", "freezer", "cpu", "unified"]
        .iter()
        .map(|c| format!("/sys/fs/cgroup/{c}/berth-runtime-test/{name}"))
        .filter(|p| Path::new(p).exists())
        .collect()
}

#[test]
fn kernel_lifecycle_through_the_runc_command_line() {
    if !ready() {
        return;
    }
    let mut b = Bundle::new(&["sleep", "600"]);
    b.ids.push("life".into());
    b.quiet(&["create", "--bundle", ".", "--pid-file", "pid", "life"]);
    assert_eq!(b.status("life"), "created");
    let state: Value = serde_json::from_str(&b.ok(&["state", "life"])).unwrap();
    assert_eq!(
        state["pid"].to_string(),
        std::fs::read_to_string(b.path("pid")).unwrap()
    );
    assert_eq!(state["ociVersion"], "1.0.2");
    b.ok(&["start", "life"]);
    b.wait_status("life", "running");
    let pids: Vec<i32> = serde_json::from_str(&b.ok(&["ps", "--format", "json", "life"])).unwrap();
    assert_eq!(pids, [state["pid"].as_i64().unwrap() as i32]);
    b.ok(&["pause", "life"]);
    assert_eq!(b.status("life"), "paused");
    let refused = b.runtime(&["pause", "life"]);
    assert!(
        !refused.status.success(),
        "pausing a paused container is refused"
    );
    b.ok(&["resume", "life"]);
    assert_eq!(b.status("life"), "running");
    let refused = b.runtime(&["delete", "life"]);
    assert!(
        !refused.status.success(),
        "a running container is not deleted without --force"
    );
    let out = b.ok(&["exec", "life", "sh", "-c", "echo $$; hostname; id -u"]);
    assert_eq!(
        out, "2\nrt\n0\n",
        "exec joins the container's PID and UTS namespaces"
    );
    b.ok(&["kill", "life", "KILL"]);
    b.wait_status("life", "stopped");
    b.ok(&["delete", "life"]);
    let gone = b.runtime(&["state", "life"]);
    assert!(!gone.status.success());
    assert!(cgroup_dirs_left(&b.dir.path().file_name().unwrap().to_string_lossy()).is_empty());
}

#[test]
fn kernel_errors_are_json_log_lines() {
    if !ready() {
        return;
    }
    let b = Bundle::new(&["no-such-program"]);
    let out = b.runtime(&["run", "--bundle", ".", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.is_empty(),
        "with --log, errors go to the log only"
    );
    let log = std::fs::read_to_string(b.path("log.json")).unwrap();
    let line: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("executable file not found in $PATH"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    let bad = b.runtime(&["state", "../escape"]);
    assert!(!bad.status.success());
    let bad = b.runtime(&["kill", "nothing", "SIGNOPE"]);
    assert!(!bad.status.success());
}

#[test]
fn kernel_run_reports_exit_status_and_signals() {
    if !ready() {
        return;
    }
    let b = Bundle::new(&["sh", "-c", "exit 42"]);
    assert_eq!(b.runtime(&["run", "r1"]).status.code(), Some(42));
    b.write_spec(&["sh", "-c", "kill -KILL $$"], |_| {});
    // A shell is not PID 1 here: the spec's program runs under `sh -c`, so the kill lands.
    b.write_spec(&["sh", "-c", "sh -c 'kill -KILL $$'; exit $?"], |_| {});
    assert_eq!(b.runtime(&["run", "r2"]).status.code(), Some(137));
}

#[test]
fn kernel_rlimits_are_clamped_and_masked_paths_hidden() {
    if !ready() {
        return;
    }
    let b = Bundle::new(&[
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; cat /proc/keys | grep -c . ; echo x > /proc/sys/kernel/hostname || echo ro",
    ]);
    let hard: u64 = String::from_utf8(
        Command::new("sh")
            .args(["-c", "ulimit -Hn"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    b.write_spec(&["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/keys | grep -c . ; echo x > /proc/sys/kernel/hostname || echo ro"], |s| {
        s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 4_000_000_000u64, "hard": 4_000_000_000u64}]);
    });
    let out = Command::new(RUNTIME)
        .arg("--root")
        .arg(b.path("state"))
        .args(["run", "lim"])
        .current_dir(b.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        hard.to_string(),
        "the soft limit is clamped to the host's hard limit: {text}"
    );
    assert_eq!(lines[1], hard.to_string());
    assert_eq!(lines[2], "0", "/proc/keys is masked");
    assert_eq!(lines[3], "ro", "/proc/sys is read-only");
}

#[test]
fn kernel_user_namespace_from_the_spec() {
    if !ready() {
        return;
    }
    let b = Bundle::new(&["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.path("rootfs"))
        .status()
        .unwrap();
    b.write_spec(&["sh", "-c", "id -u; cat /proc/self/uid_map"], |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let out = b.runtime(&["run", "userns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        std::fs::read_to_string(b.path("log.json")).unwrap_or_default()
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "root inside");
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        map,
        ["0", "100000", "65536"],
        "mapped to an unprivileged range outside"
    );
}

#[test]
fn features_describe_the_runtime() {
    let out = Command::new(RUNTIME).arg("features").output().unwrap();
    assert!(out.status.success());
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMax"], "1.0.2");
    let ns = f["linux"]["namespaces"].as_array().unwrap();
    for kind in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.iter().any(|n| n == kind), "{kind}");
    }
    assert!(
        f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN")
    );
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
}

/// A `/dev/null` that is not the null device, or a `/proc` that is not procfs, is refused before
/// anything is mounted over or written through it (CVE-2025-31133, CVE-2025-52881).
#[test]
fn kernel_fake_dev_null_and_proc_are_refused() {
    if !ready() {
        return;
    }
    let b = Bundle::new(&["true"]);
    let fake = b.path("fakedev");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("null"), "not a device").unwrap();
    b.write_spec(&["true"], |s| {
        s["mounts"][1] = json!({"destination": "/dev", "type": "bind", "source": "fakedev", "options": ["rbind"]});
    });
    let out = b.runtime(&["run", "fake-null"]);
    assert!(!out.status.success());
    let log = std::fs::read_to_string(b.path("log.json")).unwrap();
    assert!(log.contains("/dev/null is not the null device"), "{log}");
    assert_eq!(
        std::fs::read_to_string(fake.join("null")).unwrap(),
        "not a device"
    );
    b.write_spec(&["true"], |s| {
        s["mounts"][0] = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
    });
    let out = b.runtime(&["run", "fake-proc"]);
    assert!(!out.status.success());
    let log = std::fs::read_to_string(b.path("log.json")).unwrap();
    assert!(log.contains("/proc is not a procfs mount root"), "{log}");
}
