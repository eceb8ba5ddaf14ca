//! `berth run`, `create`, `start`, `exec` and `rm` as root against the kernel: isolation, the
//! writable layer, mounts, users, Docker's override rules and exit codes, limits, the default
//! seccomp profile and capabilities, and escape attempts that must fail. The isolation checks run
//! again with `--runtime runc`, which proves the checks themselves.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, ready, sh};

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(env: &Env, args: &[&str]) -> Ran {
    let out = env.berth(args);
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `berth run --rm [flags] busybox ARGS`, which must succeed; returns stdout.
fn run_ok(env: &Env, flags: &[&str], args: &[&str]) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(flags);
    all.push("busybox");
    all.extend_from_slice(args);
    let r = run(env, &all);
    assert_eq!(r.code, 0, "berth {all:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// A store with a busybox image (users root and app:1000, group wheel with app) named `busybox`.
fn setup(name: &str, changes: &[&str]) -> Env {
    let env = Env::new(name);
    let tar = env.busybox_tar();
    let mut args = vec![
        "import".to_owned(),
        tar.to_string_lossy().into_owned(),
        "busybox".to_owned(),
    ];
    for c in changes {
        args.push("--change".into());
        args.push((*c).into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&args);
    env
}

fn container_ids(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.root().join("containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until `berth run` in the background runs `program` (as the container's init
/// or its child), and returns the container's init pid as the host sees it.
fn wait_for_pid(env: &Env, program: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let comm = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    loop {
        for id in container_ids(env) {
            let Ok(pid) = std::fs::read_to_string(env.path("run").join(&id).join("pid")) else {
                continue;
            };
            let pid = pid.trim();
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            if comm(pid).trim() == program
                || children
                    .split_whitespace()
                    .any(|c| comm(c).trim() == program)
            {
                return pid.parse().unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the container did not start {program}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&*dir.to_string_lossy()))
        .map(str::to_owned)
        .collect()
}

/// No mount, cgroup or container state left once every container is gone.
fn assert_no_leftovers(env: &Env) {
    assert!(
        container_ids(env).is_empty(),
        "containers left: {:?}",
        container_ids(env)
    );
    assert!(
        mounts_under(&env.path("")).is_empty(),
        "mounts left: {:?}",
        mounts_under(&env.path(""))
    );
    for controller in ["memory", "pids", "freezer"] {
        let dir = Path::new("/sys/fs/cgroup").join(controller).join("berth");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let ours: Vec<_> = left
            .iter()
            .filter(|n| container_ids(env).iter().any(|id| **n == **id))
            .collect();
        assert!(
            ours.is_empty(),
            "cgroups left in {}: {ours:?}",
            dir.display()
        );
    }
}

/// Whether the tests can run under `runtime` (berth-runtime is built with the tests).
fn runtime_ready(runtime: &str) -> bool {
    if runtime == "runc" {
        ready(&["busybox", "runc"])
    } else {
        ready(&["busybox"])
    }
}

/// PID 1, its own hostname, no host network device, and a mount table that shows no host path.
fn isolation(runtime: &str) {
    if !runtime_ready(runtime) {
        return;
    }
    let env = setup(&format!("isolation-{runtime}"), &[]);
    let rt = ["--runtime", runtime];
    let out = run_ok(
        &env,
        &[&rt[..], &["--hostname", "boxy"]].concat(),
        &[
            "sh",
            "-c",
            "echo $$; hostname; ls /sys/class/net; cat /proc/mounts",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the container's program is its PID 1");
    assert_eq!(lines[1], "boxy");
    assert_eq!(lines[2], "lo", "--network none shows only loopback: {out}");
    // The root overlay's options name its layer directories, as with Docker; no other mount may
    // show a host path.
    let host = env.path("").to_string_lossy().into_owned();
    let leaks: Vec<&&str> = lines[3..]
        .iter()
        .filter(|l| !l.contains(" / overlay ") && l.contains(&*host))
        .collect();
    assert!(
        leaks.is_empty(),
        "host paths leak into the mount table: {leaks:?}"
    );
    let host_name = sh("hostname");
    let default_name = run_ok(&env, &rt, &["hostname"]);
    assert_ne!(default_name.trim(), host_name.trim());
    assert_eq!(
        default_name.trim().len(),
        12,
        "the default hostname is the short container id"
    );
    // Masked and read-only paths.
    let out = run_ok(
        &env,
        &rt,
        &[
            "sh",
            "-c",
            // Masked files read as empty (this kernel may lack /proc/kcore and sysrq-trigger:
            // then they must stay absent); read-only ones refuse writes.
            "for f in /proc/kcore /proc/keys /proc/timer_list /proc/interrupts; do [ -e $f ] && echo $f $(cat $f | wc -c); done; \
             echo $(ls -A /proc/acpi) $(ls -A /sys/firmware) | wc -w; \
             echo 1 > /proc/sys/kernel/ns_last_pid && echo WROTE-SYS; echo h > /proc/sysrq-trigger && echo WROTE-SYSRQ; \
             echo x > /sys/kernel/uevent_helper && echo WROTE-SYSFS; true",
        ],
    );
    let mut lines = out.lines();
    for line in lines.by_ref().take_while(|l| l.starts_with("/proc/")) {
        assert!(line.ends_with(" 0"), "a masked file has content: {line}");
    }
    assert!(out.contains("/proc/keys 0"), "{out}");
    assert!(
        out.lines().any(|l| l == "0"),
        "masked directories are empty: {out}"
    );
    assert!(
        !out.contains("WROTE"),
        "a kernel interface was writable: {out}"
    );
    assert_no_leftovers(&env);
}

#[test]
fn kernel_isolation_with_berth_runtime() {
    isolation("berth-runtime");
}

#[test]
fn kernel_isolation_with_runc() {
    isolation("runc");
}

#[test]
fn kernel_writes_land_in_the_upper_layer_only() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("upper", &[]);
    let snapshot = || {
        sh(&format!(
            "cd {} && find . -printf '%p %s %m %T@\\n' | sort | sha256sum",
            env.root().join("layers").display()
        ))
    };
    let before = snapshot();
    env.ok(&[
        "create",
        "--name",
        "a",
        "busybox",
        "sh",
        "-c",
        "echo one > /etc/new; rm /bin/ls; echo changed >> /etc/passwd",
    ]);
    let a = run(&env, &["start", "-a", "a"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(snapshot(), before, "the image's layer directories changed");
    let id = container_ids(&env).pop().unwrap();
    let upper = env.root().join("containers").join(&id).join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("etc/new")).unwrap(),
        "one\n"
    );
    assert!(
        std::fs::symlink_metadata(upper.join("bin/ls")).is_ok(),
        "the deletion is a whiteout in the upper layer"
    );
    let b = run_ok(
        &env,
        &[],
        &[
            "sh",
            "-c",
            "cat /etc/new 2>&1; ls /bin/ls; grep -c changed /etc/passwd; true",
        ],
    );
    assert!(
        b.contains("No such file"),
        "another container sees a's write: {b}"
    );
    assert!(b.contains("/bin/ls"));
    assert!(b.trim_end().ends_with('0'));
    env.ok(&["rm", "a"]);
    assert_no_leftovers(&env);
}

#[test]
fn kernel_read_only_root_bind_mounts_and_tmpfs() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("mounts", &[]);
    let host = env.path("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--read-only",
            "--tmpfs",
            "/scratch",
            "busybox",
            "sh",
            "-c",
            "echo t > /scratch/ok && cat /scratch/ok; touch /x",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "t\n");
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    let ro = format!("{}:/v:ro", host.display());
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "-v",
            &ro,
            "busybox",
            "sh",
            "-c",
            "cat /v/f; echo no > /v/g",
        ],
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "from host\n");
    assert!(!host.join("g").exists());
    let rw = format!("{}:/v", host.display());
    run_ok(&env, &["-v", &rw], &["sh", "-c", "echo yes > /v/g"]);
    assert_eq!(std::fs::read_to_string(host.join("g")).unwrap(), "yes\n");
    let m = format!("type=bind,source={},target=/m,readonly", host.display());
    assert_eq!(run_ok(&env, &["--mount", &m], &["cat", "/m/g"]), "yes\n");
    let r = run(&env, &["run", "--rm", "-v", "named:/x", "busybox", "true"]);
    assert_eq!(
        r.code, 125,
        "named volumes are refused before anything runs"
    );
    assert_no_leftovers(&env);
}

#[test]
fn kernel_users_from_the_image_and_the_command_line() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("users", &["USER app"]);
    assert_eq!(
        run_ok(&env, &[], &["id"]).trim(),
        "uid=1000(app) gid=1000(app) groups=10(wheel),1000(app)"
    );
    assert_eq!(run_ok(&env, &["-u", "0"], &["id", "-u"]).trim(), "0");
    assert_eq!(
        run_ok(&env, &["-u", "4242:77"], &["id"]).trim(),
        "uid=4242 gid=77 groups=77"
    );
    let caps = run_ok(&env, &[], &["grep", "CapEff", "/proc/self/status"]);
    assert!(
        caps.contains("0000000000000000"),
        "a non-root user has no effective capabilities: {caps}"
    );
    let r = run(&env, &["run", "--rm", "-u", "nobody", "busybox", "id"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("unable to find user nobody"),
        "{}",
        r.stderr
    );
    assert_no_leftovers(&env);
}

#[test]
fn kernel_entrypoint_cmd_env_and_workdir_follow_dockers_rules() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup(
        "override",
        &[
            "ENTRYPOINT [\"echo\", \"ep\"]",
            "CMD [\"default\"]",
            "ENV A=image B=image",
            "WORKDIR /tmp",
        ],
    );
    assert_eq!(run_ok(&env, &[], &[]), "ep default\n");
    assert_eq!(run_ok(&env, &[], &["given"]), "ep given\n");
    assert_eq!(run_ok(&env, &["--entrypoint", "pwd"], &[]), "/tmp\n");
    assert_eq!(run_ok(&env, &["--entrypoint", "echo"], &["only"]), "only\n");
    assert_eq!(
        run_ok(&env, &["--entrypoint", "", "-w", "/etc"], &["pwd"]),
        "/etc\n"
    );
    assert_eq!(
        run_ok(&env, &["--entrypoint", "", "-w", "/made/by/run"], &["pwd"]),
        "/made/by/run\n"
    );
    let out = run_ok(
        &env,
        &["--entrypoint", "sh", "-e", "B=run", "-e", "C=run"],
        &["-c", "echo $A $B $C $HOSTNAME"],
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&words[..3], ["image", "run", "run"]);
    assert_eq!(words[3].len(), 12);
    let envfile = env.path("env.list");
    std::fs::write(&envfile, "# comment\nFROMFILE=yes\n").unwrap();
    let out = run_ok(
        &env,
        &[
            "--entrypoint",
            "sh",
            "--env-file",
            &envfile.to_string_lossy(),
        ],
        &["-c", "echo $FROMFILE"],
    );
    assert_eq!(out, "yes\n");
    assert_no_leftovers(&env);
}

#[test]
fn kernel_exit_codes_follow_docker() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("exit", &[]);
    for (args, want) in [
        (vec!["true"], 0),
        (vec!["false"], 1),
        (vec!["sh", "-c", "exit 42"], 42),
        (vec!["/etc"], 126),
        (vec!["/etc/passwd"], 126),
        (vec!["no-such-program"], 127),
        (vec!["/no/such/path"], 127),
    ] {
        let mut all = vec!["run", "--rm", "busybox"];
        all.extend(&args);
        let r = run(&env, &all);
        assert_eq!(r.code, want, "{args:?}: {}", r.stderr);
    }
    // SIGKILL from the host: 128 + 9.
    let mut child = env
        .command(&["run", "--rm", "busybox", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_for_pid(&env, "sleep");
    sh(&format!("kill -KILL {pid}"));
    assert_eq!(child.wait().unwrap().code(), Some(137));
    // SIGTERM to `berth run` is passed on; with --init the program gets it and dies of it: 128 + 15.
    let mut child = env
        .command(&["run", "--rm", "--init", "busybox", "sleep", "60"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_pid(&env, "sleep");
    sh(&format!("kill -TERM {}", child.id()));
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert_no_leftovers(&env);
}

#[test]
fn kernel_tty_gives_a_terminal() {
    if !ready(&["busybox", "script"]) {
        return;
    }
    let env = setup("tty", &[]);
    let cmd = format!(
        "{} --root {} --runroot {} run --rm -t busybox sh -c 'tty; test -t 0 && echo is-a-tty; echo $TERM'",
        common::BERTH,
        env.root().display(),
        env.path("run").display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("/dev/pts/0") && text.contains("is-a-tty") && text.contains("xterm"),
        "{text}"
    );
    let plain = run_ok(&env, &[], &["sh", "-c", "test -t 1 || echo no-tty"]);
    assert_eq!(plain, "no-tty\n");
    assert_no_leftovers(&env);
}

#[test]
fn kernel_memory_and_pids_limits() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("limits", &[]);
    // tail keeps a line with no newline in memory: 256 MiB of zeros cannot fit in 32 MiB.
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--memory",
            "32m",
            "busybox",
            "sh",
            "-c",
            "head -c 268435456 /dev/zero | tail > /dev/null",
        ],
    );
    assert_eq!(
        r.code, 137,
        "the allocating process is OOM-killed: {}",
        r.stderr
    );
    let ok = run_ok(
        &env,
        &["--memory", "64m"],
        &["sh", "-c", "head -c 1048576 /dev/zero | tail | wc -c"],
    );
    assert_eq!(ok.trim(), "1048576");
    // A fork bomb stops at the pids limit, and the container still ends.
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--pids-limit",
            "16",
            "busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done; echo spawned-all",
        ],
    );
    assert!(
        r.stderr.contains("can't fork") || r.stderr.contains("Resource temporarily unavailable"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("spawned-all"));
    let spec: serde_json::Value = {
        env.ok(&["create", "--name", "spec", "busybox", "true"]);
        let id = container_ids(&env).pop().unwrap();
        let r = run(&env, &["start", "-a", "spec"]);
        assert_eq!(r.code, 0);
        serde_json::from_slice(
            &std::fs::read(env.root().join("containers").join(&id).join("config.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(spec["linux"]["resources"]["pids"]["limit"], 2048);
    env.ok(&["rm", "spec"]);
    assert_no_leftovers(&env);
}

/// The default seccomp profile, capabilities and device rules, under `runtime`.
fn seccomp_and_capabilities(runtime: &str) {
    if !runtime_ready(runtime) {
        return;
    }
    let env = setup(&format!("seccomp-{runtime}"), &[]);
    let rt = ["--runtime", runtime];
    // unshare(CLONE_NEWUSER) needs no capability; only the default profile denies it.
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "unshare",
            "-U",
            "true",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Operation not permitted"), "{}", r.stderr);
    run_ok(
        &env,
        &["--runtime", runtime, "--security-opt", "seccomp=unconfined"],
        &["unshare", "-U", "true"],
    );
    let status = run_ok(
        &env,
        &rt,
        &[
            "grep",
            "-E",
            "^(Seccomp|NoNewPrivs|CapBnd):",
            "/proc/self/status",
        ],
    );
    assert!(
        status.contains("Seccomp:\t2") && status.contains("NoNewPrivs:\t1"),
        "{status}"
    );
    assert!(
        status.contains("CapBnd:\t00000000800405fb"),
        "Podman's 11 capabilities: {status}"
    );
    run_ok(&env, &rt, &["chown", "1", "/tmp"]);
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--cap-drop",
            "chown",
            "busybox",
            "chown",
            "1",
            "/tmp",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("Operation not permitted"), "{}", r.stderr);
    let r = run(
        &env,
        &[
            "run", "--rm", "busybox", "mount", "-t", "tmpfs", "t", "/mnt",
        ],
    );
    assert_ne!(r.code, 0, "mounting needs CAP_SYS_ADMIN");
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "ping",
            "-c1",
            "127.0.0.1",
        ],
    );
    assert_ne!(r.code, 0, "no NET_RAW by default");
    let privileged = run_ok(
        &env,
        &["--runtime", runtime, "--privileged"],
        &[
            "sh",
            "-c",
            "grep -E '^(Seccomp|CapEff):' /proc/self/status; mkdir -p /mnt && mount -t tmpfs t /mnt && echo mounted",
        ],
    );
    assert!(
        privileged.contains("Seccomp:\t0") && privileged.contains("mounted"),
        "{privileged}"
    );
    let profile = env.path("profile.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--security-opt",
            &format!("seccomp={}", profile.display()),
            "busybox",
            "mkdir",
            "/d",
        ],
    );
    assert_eq!(r.code, 1, "a profile file is applied: {}", r.stderr);
    // The device cgroup: even with CAP_MKNOD, a disk device cannot be opened.
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "--cap-add",
            "MKNOD",
            "busybox",
            "sh",
            "-c",
            "mknod /tmp/loop b 7 0 && head -c1 /tmp/loop",
        ],
    );
    assert_ne!(r.code, 0);
    // Refused by the nodev root (EACCES) before the device cgroup (EPERM) is asked.
    assert!(
        r.stderr.contains("Operation not permitted") || r.stderr.contains("Permission denied"),
        "{}",
        r.stderr
    );
    assert_no_leftovers(&env);
}

#[test]
fn kernel_seccomp_and_capabilities_restrict_the_container() {
    seccomp_and_capabilities("berth-runtime");
}

#[test]
fn kernel_seccomp_and_capabilities_with_runc() {
    seccomp_and_capabilities("runc");
}

#[test]
fn kernel_exec_joins_with_the_containers_view_and_restrictions() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("exec", &[]);
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--hostname",
        "inside",
        "--cap-drop",
        "chown",
        "busybox",
        "sleep",
        "600",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let out = env.ok(&["exec", "box", "sh", "-c", "hostname; ls /sys/class/net; tr '\\0' ' ' < /proc/1/cmdline; echo; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status"]);
    assert!(out.starts_with("inside\nlo\nsleep 600 \n"), "{out}");
    assert!(
        out.contains("Seccomp:\t2") && out.contains("NoNewPrivs:\t1"),
        "{out}"
    );
    assert!(
        out.contains("CapEff:\t00000000800405fa"),
        "exec keeps the container's dropped CHOWN: {out}"
    );
    let r = run(&env, &["exec", "box", "chown", "1", "/tmp"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        env.ok(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "X=1",
            "box",
            "sh",
            "-c",
            "id -u; pwd; echo $X"
        ]),
        "1000\n/tmp\n1\n"
    );
    assert_eq!(run(&env, &["exec", "box", "sh", "-c", "exit 7"]).code, 7);
    assert_eq!(run(&env, &["exec", "box", "nosuch"]).code, 127);
    let r = run(&env, &["rm", "box"]);
    assert_eq!(r.code, 1, "a running container is not removed without -f");
    assert!(r.stderr.contains("container is running"), "{}", r.stderr);
    env.ok(&["rm", "-f", "box"]);
    assert_eq!(run(&env, &["exec", "box", "true"]).code, 1);
    assert_no_leftovers(&env);
}

/// A leaked host directory fd and a working directory through it must not reach the host
/// (CVE-2024-21626); no descriptor but stdio reaches the program.
#[test]
fn kernel_escape_through_a_leaked_fd_or_cwd_fails() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("leak", &[]);
    let base = format!(
        "{} --root {} --runroot {}",
        common::BERTH,
        env.root().display(),
        env.path("run").display()
    );
    let fds = sh(&format!(
        "exec 7</etc; {base} run --rm busybox ls /proc/self/fd"
    ));
    let fds: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "only stdio (and ls's own directory) is open"
    );
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("exec 7</etc; {base} run --rm -w /proc/self/fd/7 busybox cat hostname"),
        ])
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "a cwd through a leaked fd must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_no_leftovers(&env);
}

/// A bind-mount destination that is a symlink out of the root lands inside the root
/// (CVE-2021-30465).
#[test]
fn kernel_escape_through_a_symlinked_mount_destination_fails() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("symlink", &[]);
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("mark"), "m\n").unwrap();
    // The image's /evil points at a host directory by absolute path.
    let rootfs = env.path("rootfs");
    std::os::unix::fs::symlink(&outside, rootfs.join("evil")).unwrap();
    sh(&format!(
        "tar --numeric-owner -C {} -cf {} .",
        rootfs.display(),
        env.path("evil.tar").display()
    ));
    env.ok(&["import", &env.path("evil.tar").to_string_lossy(), "evil"]);
    let v = format!("{}:/evil/x", src.display());
    let r = run(
        &env,
        &[
            "run",
            "--rm",
            "-v",
            &v,
            "evil",
            "sh",
            "-c",
            "cat /evil/x/mark",
        ],
    );
    assert_eq!(r.stdout, "m\n", "{}", r.stderr);
    assert!(
        !outside.join("x").exists(),
        "the mount point was created outside the root"
    );
    assert!(mounts_under(&outside).is_empty());
    assert_no_leftovers(&env);
}

/// The runtime re-executes itself from a read-only handle before it joins a container, so a
/// container that reaches the runtime's binary through /proc/PID/exe (here by making `exec` run
/// `#!/proc/self/exe`) finds an immutable copy, never the host's file (CVE-2019-5736).
#[test]
fn kernel_runtime_binary_cannot_be_overwritten_from_inside() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("exe", &[]);
    let runtime = Path::new(common::BERTH).with_file_name("berth-runtime");
    let before = sh(&format!("sha256sum < {}", runtime.display()));
    env.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "600"]);
    // While an exec is in progress, the runtime process serving it runs from a sealed memfd.
    let mut joined = env
        .command(&["exec", "target", "sleep", "3"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let runtime_pid = loop {
        let children = std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            joined.id(),
            joined.id()
        ))
        .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            break pid.to_owned();
        }
        assert!(Instant::now() < deadline, "no runtime process appeared");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(300));
    let exe = std::fs::read_link(format!("/proc/{runtime_pid}/exe")).unwrap();
    // A detached read-only bind of the binary (shown as "/", the root of that detached mount) or a
    // sealed memfd copy: never the host's file.
    assert_ne!(
        exe,
        runtime.canonicalize().unwrap(),
        "the runtime runs from the host's binary"
    );
    let name = exe.to_string_lossy();
    assert!(
        name == "/" || name.starts_with("/memfd:berth-runtime"),
        "the runtime runs from {name}"
    );
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{runtime_pid}/exe"));
    assert!(
        write.is_err(),
        "the runtime's binary is writable through /proc/PID/exe"
    );
    assert!(joined.wait().unwrap().success());
    // The classic attack: the container's program is a script whose interpreter is the runtime.
    env.ok(&[
        "exec",
        "target",
        "sh",
        "-c",
        "printf '#!/proc/self/exe\\n' > /evil && chmod +x /evil",
    ]);
    for _ in 0..5 {
        let _ = run(&env, &["exec", "target", "/evil"]);
        let r = run(
            &env,
            &[
                "exec",
                "target",
                "sh",
                "-c",
                "for p in /proc/[0-9]*; do echo x >> $p/exe 2>/dev/null && echo WROTE $p; done; true",
            ],
        );
        assert!(!r.stdout.contains("WROTE"), "{}", r.stdout);
    }
    assert_eq!(sh(&format!("sha256sum < {}", runtime.display())), before);
    env.ok(&["rm", "-f", "target"]);
    assert_no_leftovers(&env);
}

#[test]
fn kernel_cpu_limit_ulimits_and_stdin() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("cpu", &[]);
    let id = env.ok(&["run", "-d", "--cpus", "0.5", "busybox", "sleep", "600"]);
    let id = id.trim();
    let quota = std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/berth/{id}/cpu.cfs_quota_us"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/cpu.max")))
        .unwrap();
    assert!(
        quota.trim() == "50000" || quota.starts_with("50000 100000"),
        "{quota}"
    );
    env.ok(&["rm", "-f", id]);
    let limits = run_ok(
        &env,
        &["--ulimit", "nofile=512:1024"],
        &["sh", "-c", "ulimit -n; ulimit -Hn"],
    );
    assert_eq!(limits, "512\n1024\n");
    // -i passes stdin through; without it the program reads nothing.
    let out = env.berth_stdin(
        &["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"],
        Some(b"piped\n"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\ndone\n");
    let out = env.berth_stdin(
        &["run", "--rm", "busybox", "sh", "-c", "cat; echo done"],
        Some(b"piped\n"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    assert_no_leftovers(&env);
}

/// crun 1.8 refuses this machine's hybrid layout (its cgroup2 mount carries a controller); berth
/// passes the refusal on as a start failure (125). With the unified mount hidden, as on a host
/// crun supports, the same container runs with berth's defaults.
#[test]
fn kernel_crun_runs_where_its_cgroup_support_allows() {
    if !ready(&["busybox", "crun", "unshare"]) {
        return;
    }
    let env = setup("crun", &[]);
    let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    if hybrid {
        let r = run(
            &env,
            &["run", "--rm", "--runtime", "crun", "busybox", "true"],
        );
        assert_eq!(r.code, 125, "{}", r.stderr);
        assert!(r.stderr.contains("hybrid"), "{}", r.stderr);
    }
    let script = format!(
        "umount -l /sys/fs/cgroup/unified 2>/dev/null; {} --root {} --runroot {} run --rm --runtime crun busybox sh -c 'echo \\$\\$; grep -E \"^(NoNewPrivs|Seccomp):\" /proc/self/status; ls /sys/class/net'",
        common::BERTH,
        env.root().display(),
        env.path("run").display()
    );
    let out = sh(&format!(
        "unshare -m --propagation private sh -c \"{}\"",
        script.replace('"', "\\\"")
    ));
    assert_eq!(out, "1\nNoNewPrivs:\t1\nSeccomp:\t2\nlo\n");
    assert_no_leftovers(&env);
}

/// A device node shipped in an image (or made in the writable layer) cannot be opened: the root
/// is mounted nodev, also read-only, and only the container's own /dev has devices.
#[test]
fn kernel_device_nodes_from_the_image_are_inert() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("nodev", &[]);
    let rootfs = env.path("rootfs");
    sh(&format!(
        "mknod {}/mynull c 1 3 && tar --numeric-owner -C {} -cf {} .",
        rootfs.display(),
        rootfs.display(),
        env.path("dev.tar").display()
    ));
    env.ok(&["import", &env.path("dev.tar").to_string_lossy(), "withdev"]);
    for flags in [&[][..], &["--read-only"][..]] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend([
            "withdev",
            "sh",
            "-c",
            "echo x > /mynull && echo OPENED; echo y > /dev/null && echo devnull-ok",
        ]);
        let r = run(&env, &args);
        assert!(
            !r.stdout.contains("OPENED"),
            "an image's device node opened ({flags:?}): {}",
            r.stdout
        );
        assert!(r.stdout.contains("devnull-ok"), "{}{}", r.stdout, r.stderr);
    }
    assert_no_leftovers(&env);
}
