//! `berth audit`: fixture images built to trip one image check each trip exactly it, a clean
//! image trips none; each container check is tripped by its `run` flag and only by it.

mod common;

use common::{Env, ready};

fn checks(env: &Env, args: &[&str]) -> Vec<String> {
    let out = env.ok(&[&["audit"][..], args, &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

const CLEAN: &str = "FROM busybox\n#RUN\nUSER 1000\nHEALTHCHECK CMD [\"true\"]\n";

#[test]
fn image_checks_trip_one_fixture_each() {
    if !ready(&["busybox", "runc"]) {
        return;
    }
    let env = Env::new("audit-image");
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "file\n").unwrap();
    let fixtures: &[(&str, &str, &str)] = &[
        ("clean", "", ""),
        ("IMG001", "", "USER 1000\n"),
        ("IMG002", "", "HEALTHCHECK CMD [\"true\"]\n"),
        (
            "IMG003",
            "RUN printf '#!/bin/sh\\n' > /bin/apt-get && chmod 755 /bin/apt-get && apt-get update\n",
            "",
        ),
        ("IMG004", "RUN touch /x && chmod 4755 /x\n", ""),
        ("IMG005", "ADD f /f\n", ""),
        (
            "IMG006",
            "ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYzKqx3b2aLp9Q\n",
            "",
        ),
        (
            "IMG008",
            "RUN mkdir -p /var/cache/apk && echo x > /var/cache/apk/APKINDEX.abc.tar.gz\n",
            "",
        ),
        ("IMG009", "RUN touch /w && chmod 666 /w\n", ""),
        (
            "IMG010",
            "RUN mkdir -p /home/app/.aws && echo x > /home/app/.aws/credentials\n",
            "",
        ),
    ];
    for (check, run, remove) in fixtures {
        let mut dockerfile = CLEAN.replace("#RUN\n", run);
        if !remove.is_empty() {
            dockerfile = dockerfile.replace(remove, "");
        }
        std::fs::write(ctx.join("Dockerfile"), &dockerfile).unwrap();
        let tag = format!("fixture-{}:1", check.to_ascii_lowercase());
        env.ok(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
        let found = checks(&env, &["image", &tag]);
        let want: Vec<String> = if *check == "clean" {
            Vec::new()
        } else {
            vec![check.to_string()]
        };
        assert_eq!(found, want, "{check}:\n{dockerfile}");
    }
    // The latest tag (named as such, or implied).
    env.ok(&["tag", "fixture-clean:1", "fixture-clean:latest"]);
    assert_eq!(checks(&env, &["image", "fixture-clean"]), ["IMG007"]);
    // SARIF and the failure threshold.
    let out = env.berth(&[
        "audit",
        "image",
        "fixture-img010:1",
        "--format",
        "sarif",
        "--failure-threshold",
        "error",
    ]);
    assert_eq!(out.status.code(), Some(1));
    common::assert_valid_sarif(&out.stdout);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "IMG010");
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["dockle"],
        "CIS-DI-0010"
    );
}

#[test]
fn container_checks_trip_on_their_flag_only() {
    if !ready(&["busybox", "runc"]) {
        return;
    }
    let env = Env::new("audit-container");
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "busybox:1"]);
    let root = env.root();
    let own = format!("{}:/berth", root.display());
    let clean = ["--memory", "64m", "--read-only", "-u", "1000"];
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("clean", &[], &[]),
        ("CTR001", &["--privileged"], &[]),
        ("CTR002", &["--cap-add", "NET_ADMIN"], &[]),
        ("CTR003", &["--network", "host"], &[]),
        ("CTR004", &["--pid", "host"], &[]),
        ("CTR005", &["--ipc", "host"], &[]),
        ("CTR006", &["--uts", "host"], &[]),
        ("CTR007", &["-v", "/etc:/host-etc:ro"], &[]),
        ("CTR008", &["-v", &own], &[]),
        ("CTR009", &[], &["--memory"]),
        ("CTR010", &["--pids-limit", "-1"], &[]),
        ("CTR011", &[], &["--read-only"]),
        (
            "CTR012",
            &["--security-opt", "no-new-privileges=false"],
            &[],
        ),
        ("CTR013", &["--security-opt", "seccomp=unconfined"], &[]),
        ("CTR014", &["-u", "0"], &[]),
        ("CTR015", &["--restart", "always"], &[]),
    ];
    for (check, add, remove) in cases {
        let mut args: Vec<&str> = vec!["create", "--name", check];
        let mut skip = false;
        for (i, a) in clean.iter().enumerate() {
            if skip {
                skip = false;
                continue;
            }
            if remove.contains(a) {
                skip = *a == "--memory";
                continue;
            }
            // `-u 0` replaces the clean user.
            if *a == "-u" && add.contains(&"-u")
                || i > 0 && clean[i - 1] == "-u" && add.contains(&"-u")
            {
                continue;
            }
            args.push(a);
        }
        args.extend(*add);
        args.extend(["busybox:1", "true"]);
        env.ok(&args);
        let want: Vec<String> = if *check == "clean" {
            Vec::new()
        } else {
            vec![check.to_string()]
        };
        assert_eq!(checks(&env, &["container", check]), want, "{args:?}");
    }
    let out = env.ok(&["audit", "container", "--all", "--format", "json"]);
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all.as_array().unwrap().len(), cases.len());
}

#[test]
fn admission_policy_denies_warns_and_records_overrides() {
    if !ready(&["busybox", "runc"]) {
        return;
    }
    let env = Env::new("admission");
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "busybox:1"]);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:1\nENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYzKqx3b2aLp9Q\n",
    )
    .unwrap();
    env.ok(&["build", "-q", "-t", "leaky:1", ctx.to_str().unwrap()]);
    let policy = env.path("policy.toml");
    std::fs::write(
        &policy,
        "[[rule]]\nname = \"no-secrets\"\naction = \"deny\"\nsecrets = true\n\
         [[rule]]\nname = \"no-privileged\"\naction = \"deny\"\nprivileged = true\ncapabilities = true\n\
         [[rule]]\nname = \"audit-mounts\"\naction = \"deny\"\naudit = [\"CTR007\"]\n\
         [[rule]]\nname = \"registries\"\naction = \"deny\"\nregistries = [\"docker.io\"]\n\
         [[rule]]\nname = \"root\"\naction = \"warn\"\nuser-root = true\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let denied = |args: &[&str], rule: &str| {
        let out = env.berth(&[&["--policy", p], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(
            err.contains(&format!("policy rule \"{rule}\"")),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("--policy-override {rule}=REASON")),
            "{err}"
        );
    };
    denied(&["run", "--rm", "leaky:1", "true"], "no-secrets");
    denied(
        &["run", "--rm", "--privileged", "busybox:1", "true"],
        "no-privileged",
    );
    denied(
        &["create", "--cap-add", "NET_ADMIN", "busybox:1", "true"],
        "no-privileged",
    );
    denied(
        &["run", "--rm", "-v", "/etc:/e:ro", "busybox:1", "true"],
        "audit-mounts",
    );
    env.ok(&["tag", "busybox:1", "quay.io/other/busybox:1"]);
    denied(
        &["run", "--rm", "quay.io/other/busybox:1", "true"],
        "registries",
    );
    // Named by ID, the image's registry is its first tag's (docker.io here): allowed.
    let id = env.ok(&["images", "-q", "busybox:1"]);
    let out = env.berth(&["--policy", p, "run", "--rm", id.trim(), "true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.ok(&["ps", "-aq"]), "", "nothing was created");

    // A warn rule runs and prints.
    let out = env.berth(&["--policy", p, "run", "--rm", "busybox:1", "echo", "ran"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: policy rule \"root\""));

    // An override with a reason runs, and is recorded in inspect and in the events.
    env.ok(&[
        "--policy",
        p,
        "create",
        "--name",
        "allowed",
        "--policy-override",
        "no-secrets=rotating the key next week",
        "leaky:1",
        "true",
    ]);
    assert_eq!(
        common::inspect_container(&env, "allowed", "{{json .PolicyOverrides}}"),
        r#"[{"Rule":"no-secrets","Reason":"rotating the key next week"}]"#
    );
    let events = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--format",
        "{{json .}}",
    ]);
    assert!(
        events.contains("policy-override") && events.contains("rotating the key next week"),
        "{events}"
    );
    // start checks again, with the recorded override.
    env.ok(&["--policy", p, "start", "allowed"]);
    // A container created before the policy is refused at start, unless overridden there.
    env.ok(&[
        "create",
        "--name",
        "older",
        "--policy",
        "/dev/null",
        "leaky:1",
        "true",
    ]);
    let out = env.berth(&["--policy", p, "start", "older"]);
    assert_eq!(out.status.code(), Some(125));
    env.ok(&[
        "--policy",
        p,
        "start",
        "--policy-override",
        "no-secrets=audited by hand",
        "older",
    ]);
    assert!(
        common::inspect_container(&env, "older", "{{json .PolicyOverrides}}")
            .contains("audited by hand")
    );
    // Overrides need a reason and a rule the policy has.
    let out = env.berth(&[
        "--policy",
        p,
        "run",
        "--rm",
        "--policy-override",
        "no-secrets",
        "leaky:1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let out = env.berth(&[
        "--policy",
        p,
        "run",
        "--rm",
        "--policy-override",
        "nope=x",
        "busybox:1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    // A broken policy file refuses to guess.
    std::fs::write(&policy, "[[rule]]\nname = \"x\"\naction = \"deny\"\n").unwrap();
    let out = env.berth(&["--policy", p, "run", "--rm", "busybox:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no condition"));
    // No policy file: berth warns about privileges but runs.
    let out = env.berth(&[
        "--policy",
        "/nonexistent/policy.toml",
        "run",
        "--rm",
        "busybox:1",
        "true",
    ]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "an explicit policy must exist"
    );
    let out = env
        .command(&["run", "--rm", "--cap-add", "NET_ADMIN", "busybox:1", "true"])
        .env_remove("BERTH_POLICY")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: policy rule \"capabilities\""));
}
