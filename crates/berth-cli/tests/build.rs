//! `berth build` end to end: the example Dockerfiles in `examples/build/` built by berth and by
//! `podman build` on the same machine must give the same files and config; the cache is reused
//! and invalidated exactly; bad input fails clearly and leaves no image behind.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::{Env, ready, sh};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/build")
}

/// A copy of an example's directory (the context is never changed in place). The `context`
/// example also gets the archive its ADD unpacks, owned by 1000:1000 inside.
fn example(env: &Env, name: &str) -> PathBuf {
    let dir = env.path(&format!("ex-{name}"));
    sh(&format!(
        "cp -a {}/{name} {}",
        examples().display(),
        dir.display()
    ));
    if name == "context" {
        let b = env.path("bundle");
        sh(&format!(
            "mkdir -p {b}/sub && echo x > {b}/sub/x && ln -s sub/x {b}/link && \
             tar --numeric-owner --owner=1000 --group=1000 -C {b} -czf {d}/bundle.tar.gz .",
            b = b.display(),
            d = dir.display()
        ));
    }
    dir
}

/// A busybox image named `busybox` in berth's store and, if asked, in podman's.
fn busybox(env: &Env, podman: bool) {
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    if podman {
        let saved = env.path("busybox-saved.tar");
        env.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
        env.podman_ok(&["load", "-i", saved.to_str().unwrap()]);
    }
}

type Listing = BTreeMap<String, (char, u32, u64, u64, String, String)>;

/// Every entry of a filesystem tar: type, mode, owner, link target and content hash (times
/// are left out). What a runtime adds to a container's root is left out too.
fn listing(tar_path: &Path) -> Listing {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let name = name
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        let top = name.split('/').next().unwrap_or_default();
        if name.is_empty()
            || matches!(top, "dev" | "proc" | "sys" | "run")
            || matches!(
                name.as_str(),
                "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | ".containerenv"
            )
        {
            continue;
        }
        let h = e.header().clone();
        let mut content = Vec::new();
        e.read_to_end(&mut content).unwrap();
        let hash = if h.entry_type().is_file() {
            hex(&Sha256::digest(&content))
        } else {
            String::new()
        };
        let link = h
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.insert(
            name,
            (
                h.entry_type().as_byte() as char,
                h.mode().unwrap() & 0o7777,
                h.uid().unwrap(),
                h.gid().unwrap(),
                link,
                hash,
            ),
        );
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The config fields the images must agree on; empty and missing are the same, and Buildah's
/// own version label is not part of the build.
fn config_fields(config: &Value) -> BTreeMap<&'static str, Value> {
    let mut out = BTreeMap::new();
    for field in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
    ] {
        let mut v = config.get(field).cloned().unwrap_or(Value::Null);
        if let Some(labels) = v.as_object_mut() {
            labels.remove("io.buildah.version");
        }
        let empty = match &v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        out.insert(field, if empty { Value::Null } else { v });
    }
    out
}

#[test]
fn examples_build_like_podman() {
    if !ready(&["busybox", "podman", "runc"]) {
        return;
    }
    let env = Env::new("build-podman");
    busybox(&env, true);
    for name in ["multistage", "context", "config"] {
        let dir = example(&env, name);
        let dir = dir.to_str().unwrap();
        let tag = format!("ex-{name}:1");
        env.ok(&[
            "build",
            "-q",
            "--build-arg",
            "FLAVOR=special",
            "-t",
            &tag,
            dir,
        ]);
        env.podman_ok(&[
            "build",
            "--pull=never",
            "-q",
            "--build-arg",
            "FLAVOR=special",
            "-t",
            &tag,
            dir,
        ]);
        let ours = env.path(&format!("berth-{name}.tar"));
        let theirs = env.path(&format!("podman-{name}.tar"));
        env.ok(&["create", "--name", name, &tag, "true"]);
        env.ok(&["export", "-o", ours.to_str().unwrap(), name]);
        env.ok(&["rm", name]);
        env.podman_ok(&["create", "--name", name, &tag, "true"]);
        env.podman_ok(&["export", "-o", theirs.to_str().unwrap(), name]);
        env.podman_ok(&["rm", name]);
        let (ours, theirs) = (listing(&ours), listing(&theirs));
        assert!(ours.len() > 100, "{name}: busybox and more: {}", ours.len());
        for (path, entry) in &theirs {
            assert_eq!(ours.get(path), Some(entry), "{name}: {path}");
        }
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{name}: the same paths"
        );
        let our_config: Value = serde_json::from_str(&env.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config}}",
            &tag,
        ]))
        .unwrap();
        let their_config: Value = serde_json::from_str(&env.podman_ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config}}",
            &tag,
        ]))
        .unwrap();
        assert_eq!(
            config_fields(&our_config),
            config_fields(&their_config),
            "{name}: config"
        );
    }
    // What the examples are for, seen from inside.
    let run = |args: &[&str]| env.ok(&[&["run", "--rm"][..], args].concat());
    assert_eq!(run(&["ex-multistage:1"]), "built in stage builder\n");
    assert_eq!(
        run(&["ex-context:1", "ls", "/app/src"]),
        "keep.log\nlib\nmain.c\n",
        ".dockerignore: build.log excluded, keep.log excepted"
    );
    assert_eq!(run(&["ex-context:1", "ls", "/docs"]), "a.txt\nb.txt\n");
    assert_eq!(run(&["ex-config:1"]), "1.2.3 special\n");
    assert_eq!(run(&["ex-config:1", "id -u; pwd"]), "1000\n/srv/app/data\n");
}

#[test]
fn heredocs_progress_and_options() {
    if !ready(&["busybox", "runc"]) {
        return;
    }
    let env = Env::new("build-heredoc");
    busybox(&env, false);
    let dir = example(&env, "heredoc");
    let out = env.ok(&["build", "-t", "heredoc:1", dir.to_str().unwrap()]);
    for expected in [
        "Step 1/6 : FROM busybox\n",
        "Step 3/6 : RUN <<EOF\n",
        " ---> Running in ",
        " ---> Removed intermediate container ",
        "Successfully built ",
        "Successfully tagged heredoc:1\n",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "heredoc:1",
            "cat",
            "/data/one",
            "/data/two",
            "/etc/motd",
            "/etc/literal"
        ]),
        "one\ntwo\nWelcome to berth\nLiteral: C:\\temp \"q\" 'q' $NAME\nNot expanded: $NAME\n"
    );
    // History as Docker writes it.
    let history = env.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "heredoc:1",
    ]);
    assert!(
        history.contains("/bin/sh -c #(nop)  ENV NAME=berth"),
        "{history}"
    );
    assert!(
        history.contains("/bin/sh -c #(nop) COPY file:"),
        "{history}"
    );

    // A Dockerfile on standard input, with no context; -q, --iidfile, --label, --target.
    let dockerfile = b"FROM busybox AS one\nRUN echo one > /one\nFROM one AS two\nRUN echo two > /two\nFROM busybox\nRUN exit 1\n";
    let iid = env.path("iid");
    let out = env.berth_stdin(
        &[
            "build",
            "-q",
            "--target",
            "two",
            "--label",
            "team=ships",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            "stdin:1",
            "-",
        ],
        Some(dockerfile),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    assert!(
        id.trim().starts_with("sha256:") && id.lines().count() == 1,
        "{id}"
    );
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id.trim());
    assert_eq!(
        env.ok(&["run", "--rm", "stdin:1", "cat", "/one", "/two"]),
        "one\ntwo\n"
    );
    assert_eq!(
        common::inspect(&env, "stdin:1", "{{json .Config.Labels}}"),
        r#"{"team":"ships"}"#
    );
    // FROM scratch, COPY --from an image in the store, SHELL, --pull=false.
    let out = env.berth_stdin(
        &["build", "-q", "--pull=false", "-t", "scratch:1", "-"],
        Some(b"FROM scratch\nCOPY --from=busybox /bin/busybox /busybox\nSHELL [\"/busybox\", \"sh\", \"-c\"]\nRUN /busybox echo shell=$0 > /made\nCMD [\"/busybox\", \"cat\", \"/made\"]\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.ok(&["run", "--rm", "scratch:1"]), "shell=sh\n");
    let layers: Vec<String> = serde_json::from_str(&common::inspect(
        &env,
        "scratch:1",
        "{{json .RootFS.Layers}}",
    ))
    .unwrap();
    assert_eq!(
        layers.len(),
        2,
        "one layer per COPY and RUN, none for FROM scratch or SHELL"
    );
    // COPY with no context is refused clearly.
    let out = env.berth_stdin(&["build", "-"], Some(b"FROM busybox\nCOPY x /x\n"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no build context"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A context tar on standard input.
    let ctx = env.path("tarctx");
    sh(&format!(
        "mkdir -p {c} && echo from-tar > {c}/f && printf 'FROM busybox\\nCOPY f /f\\n' > {c}/Dockerfile && tar -C {c} -cf {c}.tar .",
        c = ctx.display()
    ));
    let tar = std::fs::read(format!("{}.tar", ctx.display())).unwrap();
    let out = env.berth_stdin(&["build", "-q", "-t", "fromtar:1", "-"], Some(&tar));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.ok(&["run", "--rm", "fromtar:1", "cat", "/f"]),
        "from-tar\n"
    );
    assert_eq!(env.ok(&["ps", "-aq"]), "", "no build container is left");

    // The README's example: a web server whose loopback answers inside its own network
    // namespace (a new network namespace has `lo` down until the runtime brings it up).
    let app = example(&env, "app");
    env.ok(&["build", "-q", "-t", "web:1", app.to_str().unwrap()]);
    env.ok(&["run", "-d", "--name", "web", "web:1"]);
    let mut page = String::new();
    for _ in 0..50 {
        let out = env.berth(&["exec", "web", "wget", "-qO-", "http://127.0.0.1:8080/"]);
        if out.status.success() {
            page = String::from_utf8(out.stdout).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(page.contains("Built by berth."), "{page}");
    env.ok(&["rm", "-f", "web"]);
}

/// The steps of a build's output that were taken from the cache, by step number.
fn cached_steps(output: &str) -> Vec<usize> {
    let mut step = 0;
    let mut cached = Vec::new();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("Step ") {
            step = rest.split('/').next().unwrap().parse().unwrap();
        } else if line == " ---> CACHED" {
            cached.push(step);
        }
    }
    cached
}

fn layer_count(env: &Env) -> usize {
    std::fs::read_dir(env.root().join("layers"))
        .unwrap()
        .count()
}

#[test]
fn cache_is_reused_and_invalidated_from_the_changed_copy_on() {
    if !ready(&["busybox", "runc"]) {
        return;
    }
    let env = Env::new("build-cache");
    busybox(&env, false);
    let dir = example(&env, "context");
    let d = dir.to_str().unwrap();
    let first = env.ok(&["build", "-t", "ctx:1", d]);
    assert!(cached_steps(&first).is_empty(), "{first}");
    let layers = layer_count(&env);
    let id = env.ok(&["images", "-q", "--no-trunc", "ctx:1"]);

    // Unchanged, under another tag: every step from the cache, no new layer, the same image.
    let again = env.ok(&["build", "-t", "ctx:2", d]);
    assert_eq!(cached_steps(&again), vec![2, 3, 4, 5, 6, 7], "{again}");
    assert_eq!(layer_count(&env), layers);
    assert_eq!(env.ok(&["images", "-q", "--no-trunc", "ctx:2"]), id);

    // A file's content changes: the COPY that reads it and every step after it are rebuilt.
    std::fs::write(dir.join("src/main.c"), "int main(void) { return 1; }\n").unwrap();
    let changed = env.ok(&["build", "-t", "ctx:3", d]);
    assert_eq!(cached_steps(&changed), vec![2], "{changed}");
    // Metadata counts too: a mode change of one file invalidates the same way.
    sh(&format!("chmod 0700 {d}/config.ini"));
    let chmodded = env.ok(&["build", "-t", "ctx:4", d]);
    assert_eq!(cached_steps(&chmodded), vec![2, 3, 4], "{chmodded}");
    // An ignored file changing changes nothing.
    std::fs::write(dir.join("src/build.log"), "other").unwrap();
    assert_eq!(
        cached_steps(&env.ok(&["build", "-t", "ctx:5", d])),
        vec![2, 3, 4, 5, 6, 7]
    );
    assert_eq!(
        cached_steps(&env.ok(&["build", "--no-cache", d])),
        Vec::<usize>::new()
    );

    // Intermediate images are listed only with -a; builder prune forgets them.
    let all = env.ok(&["images", "-a", "-q"]).lines().count();
    let listed = env.ok(&["images", "-q"]).lines().count();
    assert!(all > listed, "{all} > {listed}");
    let pruned = env.ok(&["builder", "prune", "-f"]);
    assert!(pruned.starts_with("Total reclaimed space: "), "{pruned}");
    assert_eq!(env.ok(&["images", "-a", "-q"]).lines().count(), listed);
    assert!(cached_steps(&env.ok(&["build", d])).is_empty());
    env.ok(&["run", "--rm", "ctx:1", "true"]);
}

fn fails(env: &Env, args: &[&str], stdin: Option<&[u8]>, needle: &str) {
    let images = env.ok(&["images", "-q"]);
    let out = env.berth_stdin(args, stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(needle), "{args:?}: {needle:?} in {err}");
    assert_eq!(env.ok(&["images", "-q"]), images, "{args:?}: no new image");
    assert_eq!(env.ok(&["ps", "-aq"]), "", "{args:?}: no container left");
}

#[test]
fn bad_builds_fail_clearly_and_leave_nothing() {
    if !ready(&["busybox", "runc"]) {
        return;
    }
    let env = Env::new("build-bad");
    busybox(&env, false);
    let ctx = env.path("ctx");
    sh(&format!(
        "mkdir -p {c}/sub && echo ok > {c}/ok && ln -s /etc/shadow {c}/abs && ln -s ../../outside {c}/sub/up && echo secret > {}/outside",
        env.path("").display(),
        c = ctx.display()
    ));
    let c = ctx.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n",
            "circular dependency",
        ),
        ("FROM busybox\nFROB x\n", "unknown instruction"),
        ("FROM busybox\nCOPY --from=nowhere /x /x\n", "nowhere"),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "outside the build context",
        ),
        (
            "FROM busybox\nCOPY sub/up /x\n",
            "outside the build context",
        ),
        ("FROM busybox\nCOPY abs /x\n", "outside the build context"),
        (
            "FROM busybox\nCOPY missing /x\n",
            "file not found in build context",
        ),
        (
            "FROM busybox\nCOPY ok ok /x\n",
            "must be a directory and end with a /",
        ),
        (
            "FROM busybox\nADD https://example.com/a.tgz /x\n",
            "does not download",
        ),
        (
            "FROM busybox\nRUN --mount=type=cache,target=/c true\n",
            "--mount is not supported",
        ),
        ("FROM busybox\nRUN exit 7\n", "returned a non-zero code: 7"),
        ("FROM nosuchimage\n", "not in the local store"),
        ("FROM busybox\n", "target stage \"x\" could not be found"),
    ];
    for (i, (dockerfile, needle)) in cases.iter().enumerate() {
        let file = env.path(&format!("Dockerfile.{i}"));
        std::fs::write(&file, dockerfile).unwrap();
        let mut args = vec!["build", "-t", "bad:1", "-f", file.to_str().unwrap(), c];
        if needle.contains("target stage") {
            args.splice(1..1, ["--target", "x"]);
        }
        fails(&env, &args, None, needle);
    }
    // A context tar whose entry climbs out.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    let data = b.into_inner().unwrap();
    fails(
        &env,
        &["build", "-t", "bad:1", "-"],
        Some(&data),
        "escapes the root",
    );
    assert!(!env.path("escape").exists());
    assert!(!Path::new("/escape").exists());
}
