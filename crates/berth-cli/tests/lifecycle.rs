//! Containers that outlive the command that started them: the seven states and Docker's
//! refusals, `ps` and its filters, `stop`, `kill`, `wait`, `pause`, `restart`, `rename`,
//! `inspect`, json-file logs, and the truth after a monitor is killed.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Env, ready, sh};

fn setup(name: &str) -> Env {
    let env = Env::new(name);
    let tar = env.busybox_tar();
    env.ok(&[
        "import",
        &tar.to_string_lossy(),
        "busybox",
        "--change",
        "STOPSIGNAL SIGUSR1",
    ]);
    env
}

/// `berth attach NAME` from a terminal (`script` gives one), after the shell commands `setup`.
fn attach_in_terminal(env: &Env, setup: &str, name: &str) -> std::process::Output {
    let cmd = format!(
        "{setup}{} --root {} --runroot {} attach {name}",
        common::BERTH,
        env.root().display(),
        env.path("run").display()
    );
    std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn fails(env: &Env, args: &[&str]) -> String {
    let out: Output = env.berth(args);
    assert!(!out.status.success(), "berth {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn status(env: &Env, name: &str) -> String {
    env.ok(&["inspect", "--format", "{{.State.Status}}", name])
        .trim()
        .to_owned()
}

/// `rm -f` of every container there is, then the checks of [`no_leftovers`] and no container
/// cgroup left on the host.
fn remove_everything(env: &Env) {
    let ids = env.ok(&["ps", "-aq"]);
    let ids: Vec<&str> = ids.lines().collect();
    if !ids.is_empty() {
        let mut rm = vec!["rm", "-f"];
        rm.extend(ids);
        env.ok(&rm);
    }
    no_leftovers(env);
    let cgroups =
        sh("ls /sys/fs/cgroup/memory/berth 2>/dev/null | grep -c '^[0-9a-f]\\{64\\}$' || true");
    assert_eq!(cgroups.trim(), "0", "cgroups left");
}

fn no_leftovers(env: &Env) {
    assert_eq!(env.ok(&["ps", "-aq"]), "", "containers left");
    let mounts = sh(&format!(
        "grep -c ' {}' /proc/self/mountinfo || true",
        env.path("").display()
    ));
    assert_eq!(mounts.trim(), "0", "mounts left");
    // A monitor releases the container a moment before it exits.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pattern = format!(
        "pgrep -f 'berth-monito[r] .*{}' | wc -l",
        env.path("").display()
    );
    while sh(&pattern).trim() != "0" {
        assert!(Instant::now() < deadline, "monitors left");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kernel_states_and_dockers_refusals() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("states");
    env.ok(&["create", "--name", "c", "busybox", "sleep", "600"]);
    assert_eq!(status(&env, "c"), "created");
    assert!(fails(&env, &["pause", "c"]).contains("container c is not running"));
    assert!(fails(&env, &["exec", "c", "true"]).contains("is not running"));
    assert!(fails(&env, &["kill", "c"]).contains("is not running"));
    env.ok(&["start", "c"]);
    assert_eq!(status(&env, "c"), "running");
    assert_eq!(
        env.ok(&["start", "c"]),
        "c\n",
        "starting a running container does nothing"
    );
    assert!(fails(&env, &["unpause", "c"]).contains("container c is not paused"));
    env.ok(&["pause", "c"]);
    assert_eq!(status(&env, "c"), "paused");
    assert!(fails(&env, &["pause", "c"]).contains("is already paused"));
    assert!(fails(&env, &["exec", "c", "true"]).contains("is paused"));
    let rm = fails(&env, &["rm", "c"]);
    assert!(
        rm.contains(
            "cannot remove container \"/c\": container is paused and must be unpaused first"
        ),
        "{rm}"
    );
    assert!(fails(&env, &["start", "c"]).contains("unpause"));
    env.ok(&["unpause", "c"]);
    assert_eq!(status(&env, "c"), "running");
    let rm = fails(&env, &["rm", "c"]);
    assert!(
        rm.contains("container is running: stop the container before removing or force remove"),
        "{rm}"
    );
    // The image's STOPSIGNAL (SIGUSR1) kills a shell-less sleep only as PID 1 ignores it: the
    // timeout then sends SIGKILL.
    let started = Instant::now();
    env.ok(&["stop", "-t", "1", "c"]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "stop waited for the timeout"
    );
    assert_eq!(status(&env, "c"), "exited");
    assert_eq!(
        env.ok(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}} {{.Config.StopSignal}}",
            "c"
        ]),
        "137 SIGUSR1\n"
    );
    assert_eq!(
        env.ok(&["stop", "c"]),
        "c\n",
        "stopping a stopped container does nothing"
    );
    env.ok(&["start", "c"]);
    env.ok(&["kill", "c"]);
    assert_eq!(
        env.ok(&["wait", "c"]),
        "137\n",
        "kill sends SIGKILL by default"
    );
    env.ok(&["rename", "c", "renamed"]);
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.Name}}", "renamed"]),
        "/renamed\n"
    );
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "renamed\n");
    assert!(fails(&env, &["inspect", "zz-gone"]).contains("No such object: zz-gone"));
    env.ok(&["rm", "renamed"]);
    no_leftovers(&env);
}

#[test]
fn kernel_ps_columns_filters_and_formats() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("ps");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "busybox",
        "sleep",
        "600",
    ]);
    env.ok(&["run", "--name", "ok", "busybox", "true"]);
    let failed = env.berth(&["run", "--name", "bad", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(failed.status.code(), Some(3));
    env.ok(&["create", "--name", "new", "busybox", "true"]);
    let table = env.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND       CREATED"),
        "{table}"
    );
    assert!(lines[0].ends_with("PORTS     NAMES"), "{table}");
    assert_eq!(lines.len(), 2, "ps shows running containers only: {table}");
    assert!(
        lines[1].contains("\"sleep 600\"") && lines[1].contains("Up ") && lines[1].ends_with("web"),
        "{table}"
    );
    let names = |args: &[&str]| {
        let mut all = vec!["ps", "--format", "{{.Names}}"];
        all.extend_from_slice(args);
        let mut v: Vec<String> = env.ok(&all).lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["-a"]), ["bad", "new", "ok", "web"]);
    assert_eq!(names(&["--filter", "status=exited"]), ["bad", "ok"]);
    assert_eq!(names(&["--filter", "exited=3"]), ["bad"]);
    assert_eq!(names(&["--filter", "status=created"]), ["new"]);
    assert_eq!(names(&["-a", "--filter", "label=tier=front"]), ["web"]);
    assert_eq!(names(&["-a", "--filter", "name=ok"]), ["ok"]);
    assert_eq!(names(&["-a", "--filter", "ancestor=busybox"]).len(), 4);
    assert_eq!(names(&["-l"]), ["new"]);
    assert_eq!(names(&["-n", "2"]), ["bad", "new"]);
    let exited = env.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=bad",
        "--format",
        "{{.Status}}",
    ]);
    assert!(
        exited.starts_with("Exited (3) ") && exited.trim_end().ends_with(" ago"),
        "{exited}"
    );
    let json = env.ok(&["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(v["Names"], "web");
    assert_eq!(v["State"], "running");
    let ids = env.ok(&["ps", "-aq", "--no-trunc"]);
    assert!(ids.lines().all(|l| l.len() == 64));
    assert!(fails(&env, &["ps", "--filter", "status=bogus"]).contains("invalid filter"));
    let doc: serde_json::Value =
        serde_json::from_str(&env.ok(&["container", "inspect", "web"])).unwrap();
    let doc = &doc[0];
    assert_eq!(doc["Name"], "/web");
    assert_eq!(doc["State"]["Running"], true);
    assert_eq!(doc["Path"], "sleep");
    assert_eq!(doc["Args"], serde_json::json!(["600"]));
    assert_eq!(doc["GraphDriver"]["Name"], "overlay");
    assert_eq!(doc["HostConfig"]["NetworkMode"], "none");
    env.ok(&["rm", "-f", "web", "ok", "bad", "new"]);
    no_leftovers(&env);
}

#[test]
fn kernel_logs_are_json_file_and_rotate() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("logs");
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; echo three",
    ]);
    assert_eq!(env.ok(&["wait", "talk"]), "0\n");
    let out = env.berth(&["logs", "talk"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\nthree\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "two\n");
    let last = env.berth(&["logs", "--tail", "1", "talk"]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&last.stdout),
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(
        shown.lines().count(),
        1,
        "--tail counts lines of both streams: {shown}"
    );
    let stamped = env.ok(&["logs", "-t", "talk"]);
    assert!(stamped.lines().all(|l| l.contains("Z ")), "{stamped}");
    assert_eq!(env.ok(&["logs", "--since", "1h", "talk"]), "one\nthree\n");
    assert_eq!(env.ok(&["logs", "--until", "1h", "talk"]), "");
    let raw = std::fs::read_to_string(
        env.root()
            .join("containers")
            .join(id.trim())
            .join(format!("{}-json.log", id.trim())),
    )
    .unwrap();
    // stdout and stderr are separate streams: their relative order is not kept, as with Docker.
    let entries: Vec<serde_json::Value> = raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let one = entries.iter().find(|e| e["log"] == "one\n").unwrap();
    assert_eq!(one["stream"], "stdout");
    assert!(one["time"].as_str().unwrap().ends_with('Z'));
    let two = entries.iter().find(|e| e["log"] == "two\n").unwrap();
    assert_eq!(two["stream"], "stderr");
    // Follow ends when the container does.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ticks",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.1; done",
    ]);
    assert_eq!(env.ok(&["logs", "-f", "ticks"]), "tick 1\ntick 2\ntick 3\n");
    // Rotation keeps at most max-file files of at most max-size bytes.
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done",
    ]);
    env.ok(&["wait", "chatty"]);
    let dir = env.root().join("containers").join(id.trim());
    let log = dir.join(format!("{}-json.log", id.trim()));
    assert!(std::fs::metadata(&log).unwrap().len() <= 1024);
    assert!(dir.join(format!("{}-json.log.1", id.trim())).exists());
    assert!(!dir.join(format!("{}-json.log.2", id.trim())).exists());
    let tail = env.ok(&["logs", "--tail", "1", "chatty"]);
    assert_eq!(tail, "line 199\n");
    env.ok(&["rm", "talk", "ticks", "chatty"]);
    no_leftovers(&env);
}

/// A monitor killed with SIGKILL: the next command sees the truth (exited, not running), and
/// `rm` cleans everything.
#[test]
fn kernel_a_killed_monitor_leaves_a_truthful_state() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("truth");
    let id = env.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "600"]);
    let id = id.trim();
    assert_eq!(status(&env, "orphan"), "running");
    sh(&format!("pkill -KILL -f 'berth-monito[r] --id {id}'"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while sh(&format!("pgrep -f 'berth-monito[r] --id {id}' || true")).trim() != "" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status(&env, "orphan"), "exited");
    let doc = env.ok(&[
        "inspect",
        "--format",
        "{{.State.Running}} {{.State.Error}}",
        "orphan",
    ]);
    assert!(
        doc.starts_with("false ") && doc.contains("exited without recording"),
        "{doc}"
    );
    assert_eq!(env.ok(&["ps", "-q"]), "");
    env.ok(&["rm", "orphan"]);
    no_leftovers(&env);
}

/// Restart policies with Docker's back-off (100 ms, doubling), `restarting` while waiting, a
/// manual stop cancelling the policy, and the events stream recording each step in order.
#[test]
fn kernel_restart_policies_and_events() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("restart");
    let refused = fails(
        &env,
        &["run", "--rm", "--restart", "always", "busybox", "true"],
    );
    assert!(refused.contains("--restart and --rm"), "{refused}");
    assert!(
        fails(
            &env,
            &["run", "-d", "--restart", "sometimes", "busybox", "true"]
        )
        .contains("invalid restart policy")
    );
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]);
    // Three restarts take 100 + 200 + 400 ms of back-off: wait for the final state, bounded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = env.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            "flaky",
        ]);
        if s.trim() == "exited 3" {
            break;
        }
        assert!(Instant::now() < deadline, "flaky never settled: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(env.ok(&["wait", "flaky"]), "5\n");
    let events = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "container=flaky",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    assert_eq!(actions[..3], ["create", "start", "die"]);
    assert_eq!(
        actions.iter().filter(|a| **a == "start").count(),
        4,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "restart").count(),
        3,
        "{actions:?}"
    );
    // The back-off doubles: the gaps between a restart event and the next start grow.
    let json = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "container=flaky",
        "--format",
        "json",
    ]);
    let times: Vec<(String, i64)> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["Action"].as_str().unwrap().to_owned(),
                v["timeNano"].as_i64().unwrap(),
            )
        })
        .collect();
    let gaps: Vec<i64> = times
        .windows(2)
        .filter(|w| w[0].0 == "restart" && w[1].0 == "start")
        .map(|w| (w[1].1 - w[0].1) / 1_000_000)
        .collect();
    assert_eq!(gaps.len(), 3);
    assert!(
        gaps[0] >= 100 && gaps[1] >= 200 && gaps[2] >= 400,
        "back-off in ms: {gaps:?}"
    );
    assert!(
        gaps[1] > gaps[0] && gaps[2] > gaps[1],
        "back-off in ms: {gaps:?}"
    );
    let die = json.lines().find(|l| l.contains("\"die\"")).unwrap();
    assert!(die.contains("\"exitCode\":\"5\""), "{die}");
    // always: restarts a clean exit until stopped by hand.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "forever",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while env
        .ok(&["inspect", "--format", "{{.RestartCount}}", "forever"])
        .trim()
        == "0"
    {
        assert!(Instant::now() < deadline, "always never restarted");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ok(&["stop", "forever"]);
    assert_eq!(
        status(&env, "forever"),
        "exited",
        "a manual stop cancels the policy"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&env, "forever"), "exited");
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted Containers:") && pruned.lines().count() >= 4,
        "{pruned}"
    );
    let destroyed = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=destroy",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    let mut names: Vec<&str> = destroyed.lines().collect();
    names.sort();
    assert_eq!(names, ["flaky", "forever"]);
    no_leftovers(&env);
}

/// 100 detached containers: `ps` shows them all running, `stop` ends them all, and nothing is
/// left; then 50 parallel `run -d` racing 50 `rm -f` from other processes leave nothing orphaned.
#[test]
fn kernel_scale_and_races() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("scale");
    let spawn_all = |args: Vec<Vec<String>>| -> Vec<std::process::Child> {
        args.into_iter()
            .map(|a| {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                env.command(&a)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect()
    };
    // Started ten at a time: two cores.
    for batch in 0..10 {
        let runs = (0..10)
            .map(|i| {
                vec![
                    "run".into(),
                    "-d".into(),
                    "--name".into(),
                    format!("s{}", batch * 10 + i),
                    "busybox".into(),
                    "sleep".into(),
                    "600".into(),
                ]
            })
            .collect();
        for mut child in spawn_all(runs) {
            assert!(child.wait().unwrap().success());
        }
    }
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 100);
    let names: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    let mut stop = vec!["stop", "-t", "0"];
    stop.extend(names.iter().map(String::as_str));
    env.ok(&stop);
    assert_eq!(env.ok(&["ps", "-q"]), "");
    assert_eq!(
        env.ok(&["ps", "-aq", "--filter", "status=exited"])
            .lines()
            .count(),
        100
    );
    let mut rm = vec!["rm"];
    rm.extend(names.iter().map(String::as_str));
    env.ok(&rm);
    no_leftovers(&env);
    // Races: each pair is a run -d and an rm -f of the same name, from separate processes.
    let mut children = Vec::new();
    for i in 0..50 {
        let name = format!("race{i}");
        children.extend(spawn_all(vec![
            vec![
                "run".into(),
                "-d".into(),
                "--name".into(),
                name.clone(),
                "busybox".into(),
                "sleep".into(),
                "600".into(),
            ],
            vec!["rm".into(), "-f".into(), name],
        ]));
        if children.len() >= 10 {
            for mut c in children.drain(..) {
                let _ = c.wait();
            }
        }
    }
    for mut c in children {
        let _ = c.wait();
    }
    // Whatever won each race, one more rm -f of everything leaves nothing behind.
    remove_everything(&env);
}

/// `stats` reads the container's cgroups; `top` lists its processes.
#[test]
fn kernel_stats_and_top() {
    if !ready(&["busybox", "ps"]) {
        return;
    }
    let env = setup("stats");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 600 & while true; do :; done",
    ]);
    let line = env.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}",
        "busy",
    ]);
    let f: Vec<&str> = line.trim().split('|').collect();
    assert_eq!(f[0], "busy");
    let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0, "a busy loop shows CPU use: {line}");
    assert!(f[2].ends_with("/ 64MiB"), "the memory limit: {line}");
    assert_eq!(f[3], "2", "sh and sleep: {line}");
    let top = env.ok(&["top", "busy"]);
    assert!(top.starts_with("  UID") || top.contains("PID"), "{top}");
    assert!(top.contains("sleep 600"), "{top}");
    assert_eq!(top.lines().count(), 3, "{top}");
    assert!(fails(&env, &["top", "nonesuch"]).contains("No such container"));
    env.ok(&["rm", "-f", "busy"]);
    no_leftovers(&env);
}

/// A simulated reboot (every monitor and container process killed, the runroot emptied):
/// `ps -a` tells the truth, and `system boot` starts `always` and `unless-stopped` containers
/// again, but not one stopped by hand.
#[test]
fn kernel_reboot_then_system_boot() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("boot");
    for (name, policy) in [
        ("a", "always"),
        ("b", "unless-stopped"),
        ("c", "unless-stopped"),
        ("d", "no"),
    ] {
        env.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "600",
        ]);
    }
    env.ok(&["stop", "-t", "0", "c"]);
    let ids = env.ok(&["ps", "-aq", "--no-trunc"]);
    // The reboot: monitors and containers die, mounts and the runroot go, cgroups empty out.
    let run = env.path("run");
    sh(&format!(
        "pkill -KILL -f 'berth-monito[r] .*{}' || true",
        run.display()
    ));
    for id in ids.lines() {
        sh(&format!(
            "cat /sys/fs/cgroup/pids/berth/{id}/cgroup.procs 2>/dev/null | xargs -r kill -KILL"
        ));
    }
    std::thread::sleep(Duration::from_millis(200));
    sh(&format!(
        "grep -o ' {}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l; rm -rf {}",
        run.display(),
        run.display()
    ));
    for id in ids.lines() {
        sh(&format!(
            "for c in /sys/fs/cgroup/*/berth/{id}; do rmdir $c 2>/dev/null; done; true"
        ));
    }
    assert_eq!(
        env.ok(&["ps", "-q"]),
        "",
        "nothing claims to run after the reboot"
    );
    for name in ["a", "b", "c", "d"] {
        assert_eq!(status(&env, name), "exited", "{name}");
    }
    let started = env.ok(&["system", "boot"]);
    let mut started: Vec<&str> = started.lines().collect();
    started.sort();
    assert_eq!(started, ["a", "b"]);
    assert_eq!(status(&env, "a"), "running");
    assert_eq!(status(&env, "b"), "running");
    assert_eq!(status(&env, "c"), "exited");
    assert_eq!(status(&env, "d"), "exited");
    env.ok(&["rm", "-f", "a", "b", "c", "d"]);
    no_leftovers(&env);
}

/// `cp` in both directions, running or stopped; a container symlink pointing at the host's
/// root is followed as the container sees it, never out of it (CVE-2018-15664).
#[test]
fn kernel_cp_stays_inside_the_container() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("cp");
    env.ok(&["run", "-d", "--name", "box", "busybox", "sh", "-c", "echo inside > /etc/secret; mkdir -p /data/sub; echo deep > /data/sub/f; ln -s / /escape; ln -s /etc/secret /data/link; sleep 600"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env
        .berth(&["exec", "box", "test", "-L", "/escape"])
        .status
        .code()
        != Some(0)
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = out.to_string_lossy().into_owned();
    env.ok(&["cp", "box:/etc/secret", &format!("{o}/secret")]);
    assert_eq!(
        std::fs::read_to_string(out.join("secret")).unwrap(),
        "inside\n"
    );
    // /escape -> / inside the container: /escape/etc/secret is the container's file (the host
    // has none), and /escape/etc/passwd is the image's, not the host's.
    env.ok(&["cp", "box:/escape/etc/secret", &format!("{o}/via-link")]);
    assert_eq!(
        std::fs::read_to_string(out.join("via-link")).unwrap(),
        "inside\n"
    );
    env.ok(&["cp", "box:/escape/etc/passwd", &format!("{o}/passwd")]);
    let copied = std::fs::read_to_string(out.join("passwd")).unwrap();
    assert_ne!(
        copied,
        std::fs::read_to_string("/etc/passwd").unwrap(),
        "the host's /etc/passwd was copied"
    );
    assert!(copied.contains("app:x:1000"), "{copied}");
    // A directory, with its symlink copied as a link.
    env.ok(&["cp", "box:/data", &o]);
    assert_eq!(
        std::fs::read_to_string(out.join("data/sub/f")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("data/link")).unwrap(),
        Path::new("/etc/secret")
    );
    // Into the container, through the same symlink: lands inside the root.
    let src = env.path("payload");
    std::fs::write(&src, "payload\n").unwrap();
    env.ok(&["cp", &src.to_string_lossy(), "box:/escape/tmp/payload"]);
    assert_eq!(env.ok(&["exec", "box", "cat", "/tmp/payload"]), "payload\n");
    assert!(
        !Path::new("/tmp/payload").exists(),
        "the copy went to the host's /tmp"
    );
    // A stopped container is copied from its writable layer and image.
    env.ok(&["stop", "-t", "0", "box"]);
    env.ok(&["cp", "box:/tmp/payload", &format!("{o}/again")]);
    assert_eq!(
        std::fs::read_to_string(out.join("again")).unwrap(),
        "payload\n"
    );
    assert!(fails(&env, &["cp", "box:/nonexistent", &o]).contains("Could not find the file"));
    env.ok(&["rm", "box"]);
    no_leftovers(&env);
}

/// `attach` shows output as it comes and returns the exit code, passes input to a `-i`
/// container, and ctrl-p ctrl-q detaches, leaving the container running.
#[test]
fn kernel_attach_and_detach() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("attach");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; echo late; echo oops >&2; exit 3",
    ]);
    let out = env.berth(&["attach", "--no-stdin", "late"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "late\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    env.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "read x; echo got $x",
    ]);
    let out = env.berth_stdin(&["attach", "reader"], Some(b"hello\n"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello\n");
    assert_eq!(out.status.code(), Some(0));
    env.ok(&["run", "-d", "--name", "stay", "busybox", "sleep", "600"]);
    let out = env.berth_stdin(&["attach", "stay"], Some(b"\x10\x11"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        status(&env, "stay"),
        "running",
        "detaching leaves the container running"
    );
    assert!(fails(&env, &["attach", "late"]).contains("is not running"));
    // A terminal container, attached from a terminal (script gives one).
    if ready(&["script"]) {
        env.ok(&[
            "run",
            "-d",
            "-t",
            "--name",
            "term",
            "busybox",
            "sh",
            "-c",
            "sleep 0.5; echo from-tty; exit 4",
        ]);
        let out = attach_in_terminal(&env, "", "term");
        assert_eq!(out.status.code(), Some(4));
        assert!(String::from_utf8_lossy(&out.stdout).contains("from-tty"));
        env.ok(&["rm", "term"]);
    }
    env.ok(&["rm", "-f", "late", "reader", "stay"]);
    no_leftovers(&env);
}

/// A `run -d` killed at any point leaves nothing that `rm -f` cannot clean.
#[test]
fn kernel_a_killed_run_d_leaves_nothing_rm_cannot_clean() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("killed");
    for i in 0..12u64 {
        let mut child = env
            .command(&[
                "run",
                "-d",
                "--name",
                &format!("k{i}"),
                "busybox",
                "sleep",
                "600",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread over the whole command: before the record, during the start, after.
        std::thread::sleep(Duration::from_millis(i * 4));
        let _ = child.kill();
        let _ = child.wait();
    }
    remove_everything(&env);
}

/// The monitor's memory budget, per background container: at most 1 MiB resident and 0.3 MiB
/// proportional set, with ten containers logging and one client attached.
#[test]
fn kernel_monitor_memory_budget() {
    if !ready(&["busybox"]) {
        return;
    }
    let monitor = std::env::var("BERTH_MONITOR").expect(
        "BERTH_MONITOR must name the monitor as it ships: scripts/test.sh builds it with \
         scripts/build-monitor.sh",
    );
    let env = setup("memory");
    for i in 0..10 {
        env.ok(&[
            "run",
            "-d",
            "--name",
            &format!("m{i}"),
            "busybox",
            "sh",
            "-c",
            "while true; do echo tick; echo tock >&2; sleep 0.1; done",
        ]);
    }
    let mut attached = env
        .command(&["attach", "m0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 4];
    std::io::Read::read_exact(attached.stdout.as_mut().unwrap(), &mut first).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pids = sh(&format!(
        "pgrep -f '^{monitor} .*{}'",
        env.path("").display()
    ));
    let pids: Vec<&str> = pids.lines().collect();
    assert_eq!(pids.len(), 10, "one monitor per container");
    let (mut rss, mut pss) = (0u64, 0u64);
    for pid in &pids {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
        let field = |name: &str| -> u64 {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap()
        };
        let (r, p) = (field("Rss:"), field("Pss:"));
        assert!(r <= 1024, "monitor {pid}: {r} KiB resident, over 1 MiB");
        rss += r;
        pss += p;
    }
    let n = pids.len() as u64;
    eprintln!("per monitor: {} KiB RSS, {} KiB PSS", rss / n, pss / n);
    assert!(
        pss / n <= 300,
        "{} KiB PSS per monitor, over 0.3 MiB",
        pss / n
    );
    let _ = attached.kill();
    let _ = attached.wait();
    remove_everything(&env);
}

/// Attach passes output on as it comes (a prompt without a newline shows at once), and a
/// background terminal takes the attaching terminal's size, through the monitor.
#[test]
fn kernel_attach_streams_and_resizes() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("stream");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "prompt",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; printf 'name? '; sleep 600",
    ]);
    let mut client = env
        .command(&["attach", "--no-stdin", "prompt"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = [0u8; 6];
    std::io::Read::read_exact(client.stdout.as_mut().unwrap(), &mut seen).unwrap();
    assert_eq!(
        &seen, b"name? ",
        "the partial line arrives while the line is open"
    );
    let _ = client.kill();
    let _ = client.wait();
    if ready(&["script", "stty"]) {
        env.ok(&[
            "run",
            "-d",
            "-t",
            "--name",
            "sized",
            "busybox",
            "sh",
            "-c",
            "sleep 0.5; stty size; exit 5",
        ]);
        let out = attach_in_terminal(&env, "stty rows 33 cols 111; ", "sized");
        assert_eq!(out.status.code(), Some(5));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("33 111"), "{text}");
    }
    remove_everything(&env);
}

/// A container run in the foreground keeps its log too, as Docker's does: the user sees the
/// output as it comes, and `logs` shows it afterwards, streams apart.
#[test]
fn kernel_a_foreground_run_keeps_its_log() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("fglog");
    let out = env.berth(&[
        "run",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; printf partial",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\npartial");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let logs = env.berth(&["logs", "fg"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\npartial");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "err\n");
    env.ok(&["rm", "fg"]);
    no_leftovers(&env);
}

/// `run -d --rm`: the monitor removes the container once it exits, leaving nothing behind.
#[test]
fn kernel_a_detached_rm_container_removes_itself() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("detachedrm");
    env.ok(&[
        "run", "-d", "--rm", "--name", "brief", "busybox", "sh", "-c", "echo bye",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["ps", "-aq"]).is_empty() {
        assert!(Instant::now() < deadline, "the container was not removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    no_leftovers(&env);
}

/// `berth diff`: Docker's A/C/D lines for what the container added, changed and deleted, without
/// berth's own mount points and generated /etc files.
#[test]
fn kernel_diff_shows_what_a_container_changed() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("diff");
    env.ok(&["run", "--name", "quiet", "busybox", "true"]);
    assert_eq!(
        env.ok(&["diff", "quiet"]),
        "",
        "a container that changed nothing"
    );
    env.ok(&[
        "run",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /srv/data; echo x > /srv/data/new; echo y >> /etc/passwd; rm /bin/ash",
    ]);
    assert_eq!(
        env.ok(&["container", "diff", "busy"]),
        "C /bin\nD /bin/ash\nC /etc\nC /etc/passwd\nA /srv\nA /srv/data\nA /srv/data/new\n"
    );
    assert!(fails(&env, &["diff", "nosuch"]).contains("No such container"));
    env.ok(&["rm", "quiet", "busy"]);
    no_leftovers(&env);
}

/// `berth export`: the container's whole filesystem as a tar, changes included and deletions
/// gone, symlinks kept as links; stopped (mounted read-only for the export) or running.
#[test]
fn kernel_export_writes_the_containers_filesystem() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("export");
    env.ok(&[
        "run",
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "echo hello > /tmp/new; rm /etc/passwd",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo live > /tmp/live; sleep 600",
    ]);
    for (name, file, content) in [
        ("done", "tmp/new", "hello\n"),
        ("live", "tmp/live", "live\n"),
    ] {
        let out = env.path(&format!("{name}.tar"));
        // The running container may still be writing its file: wait for it to appear.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            env.ok(&["export", "-o", out.to_str().unwrap(), name]);
            let listing = sh(&format!("tar -tvf {}", out.display()));
            if listing.contains(file) || Instant::now() > deadline {
                assert!(listing.contains(" bin/sh -> busybox"), "{listing}");
                assert!(
                    !listing.contains("etc/passwd") || name == "live",
                    "{listing}"
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = sh(&format!("tar -xOf {} {file}", out.display()));
        assert_eq!(text, content);
    }
    env.ok(&["rm", "-f", "done", "live"]);
    no_leftovers(&env);
}

/// `berth commit`: the container's changes, deletions included, become a new image on top of its
/// image, with the `-c` changes and a history entry; a running container is frozen meanwhile.
#[test]
fn kernel_commit_makes_an_image_of_the_changes() {
    if !ready(&["busybox"]) {
        return;
    }
    let env = setup("commit");
    env.ok(&[
        "run",
        "--name",
        "work",
        "busybox",
        "sh",
        "-c",
        "echo made > /srv.txt; rm /etc/passwd; mkdir -p /data/empty",
    ]);
    let id = env.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/srv.txt\"]",
        "-m",
        "the work",
        "-a",
        "tester",
        "work",
        "snap:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(env.ok(&["run", "--rm", "snap:1"]), "made\n");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "snap:1",
            "sh",
            "-c",
            "test -e /etc/passwd || echo gone; test -d /data/empty && echo kept"
        ]),
        "gone\nkept\n"
    );
    let history = env.ok(&["history", "--no-trunc", "snap:1"]);
    assert!(history.contains("the work"), "{history}");
    let doc: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "snap:1"])).unwrap();
    assert_eq!(doc[0]["Author"], "tester");
    assert_eq!(doc[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    // A running container: committed while paused, left running.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo on > /on; sleep 600",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env
        .berth(&["exec", "live", "test", "-e", "/on"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["commit", "live", "snap:2"]);
    assert_eq!(status(&env, "live"), "running");
    assert_eq!(env.ok(&["run", "--rm", "snap:2", "cat", "/on"]), "on\n");
    env.ok(&["rm", "-f", "work", "live"]);
    no_leftovers(&env);
}
