//! `berth pull`, `push`, `login`, `logout` and `manifest inspect` against Debian's
//! docker-registry on 127.0.0.1 (plain, and with TLS and htpasswd), against skopeo and podman,
//! and against a scripted registry that answers what a hostile one would.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, sh};
use sha2::{Digest as _, Sha256};

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(b)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's docker-registry on 127.0.0.1, storing in a temporary directory; killed on drop.
struct RealRegistry {
    child: Child,
    port: u16,
    /// The registry's storage, removed after it stops.
    _dir: tempfile::TempDir,
}

struct RegistryTls {
    ca: PathBuf,
    htpasswd: PathBuf,
    /// Whether the registry asks every client for a certificate signed by the CA.
    client_certs: bool,
}

impl RealRegistry {
    fn start(tls: Option<&RegistryTls>, dir: tempfile::TempDir) -> Self {
        // A port picked free may be taken before the registry binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            );
            if let Some(t) = tls {
                let d = t.ca.parent().unwrap();
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n\
                     auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    d.join("server.crt").display(),
                    d.join("server.key").display(),
                    t.htpasswd.display()
                ));
                if t.client_certs {
                    config = config.replace(
                        "  tls:\n",
                        &format!("  tls:\n    clientcas:\n      - {}\n", t.ca.display()),
                    );
                }
            }
            let conf = dir.path().join("config.yml");
            std::fs::write(&conf, config).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return RealRegistry {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// berth (with `DOCKER_CONFIG` in the test's directory, as every test's berth has).
fn berth(env: &Env, args: &[&str], stdin: Option<&[u8]>) -> Output {
    env.berth_stdin(args, stdin)
}

/// Runs berth, which must fail with `code` and say `expect` on stderr.
fn berth_fails(env: &Env, args: &[&str], code: i32, expect: &str) {
    let out = berth(env, args, None);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "berth {args:?}: {e}");
    assert!(
        e.contains(expect),
        "berth {args:?}: expected {expect:?} in {e}"
    );
}

fn berth_ok(env: &Env, args: &[&str]) -> String {
    let out = berth(env, args, None);
    assert!(
        out.status.success(),
        "berth {args:?} failed: {}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A two-layer busybox image (the second layer adds a file) in a docker-archive.
fn two_layer_archive(env: &Env) -> PathBuf {
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "reg-base:1"]);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM reg-base:1\nCOPY hello /hello\nCMD [\"cat\", \"/hello\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("hello"), "hello from the registry\n").unwrap();
    env.ok(&["build", "-q", "-t", "reg-app:1", ctx.to_str().unwrap()]);
    let out = env.path("app.tar");
    env.ok(&["save", "-o", out.to_str().unwrap(), "reg-app:1"]);
    out
}

/// Builds the two-layer image and has skopeo push it to `dest` (`docker://…`), compressing
/// the layers with gzip on the way.
fn skopeo_push_two_layers(env: &Env, dest: &str) {
    let archive = two_layer_archive(env);
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", archive.display()),
        dest,
    ]);
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(out.status.success(), "skopeo {args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn store_is_empty_and_clean(env: &Env) {
    let images = berth_ok(env, &["images", "-a", "-q"]);
    assert!(images.trim().is_empty(), "images left: {images}");
    env.assert_clean();
    let ingest: Vec<_> = std::fs::read_dir(env.root().join("ingest"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(ingest.is_empty(), "ingest left: {ingest:?}");
    let blobs = std::fs::read_dir(env.root().join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "blobs left in the store");
}

#[test]
fn skopeo_pushes_berth_pulls_and_berth_pushes_skopeo_and_podman_read() {
    if !common::ready(&["docker-registry", "skopeo", "podman"]) {
        return;
    }
    let env = Env::new("reg-roundtrip");
    let reg = RealRegistry::start(None, tempfile::tempdir_in("/tmp").unwrap());
    let src = format!("docker://{}/skopeo/app:1", reg.addr());
    skopeo_push_two_layers(&env, &src);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &src]);
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let config: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &src,
    ]))
    .unwrap();

    let puller = Env::new("reg-puller");
    let name = format!("{}/skopeo/app:1", reg.addr());
    let out = berth_ok(&puller, &["pull", &name]);
    assert!(out.contains("1: Pulling from skopeo/app"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(
        out.contains(&format!("Digest: {}", sha256(raw.as_bytes()))),
        "{out}"
    );
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), name);
    // The image ID is the config's digest and the DiffIDs are the config's.
    assert_eq!(common::inspect(&puller, &name, "{{.Id}}"), config_digest);
    let diff_ids = common::inspect(&puller, &name, "{{json .RootFS.Layers}}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&diff_ids).unwrap(),
        config["rootfs"]["diff_ids"]
    );
    assert_eq!(
        common::inspect(&puller, &name, "{{json .RepoDigests}}"),
        format!("[\"{}/skopeo/app@{}\"]", reg.addr(), sha256(raw.as_bytes()))
    );
    // The pulled image runs.
    let run = berth_ok(&puller, &["run", "--rm", &name]);
    assert_eq!(run, "hello from the registry\n");
    // Pulling again fetches nothing.
    let again = berth_ok(&puller, &["pull", &name]);
    assert!(again.contains("Status: Image is up to date"), "{again}");
    assert!(!again.contains("Pull complete"), "{again}");
    puller.assert_clean();

    // berth pushes what it built; skopeo reads it back byte for byte.
    let dest = format!("{}/berth/app:v2", reg.addr());
    let out = berth_ok(&env, &["push", "reg-app:1", &dest]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/berth/app]",
            reg.addr()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let pushed_line = out.lines().last().unwrap();
    assert!(pushed_line.starts_with("v2: digest: sha256:"), "{out}");
    let raw2 = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]);
    let digest = sha256(raw2.as_bytes());
    assert!(pushed_line.contains(&digest), "{out} vs {digest}");
    assert!(
        pushed_line.ends_with(&format!("size: {}", raw2.len())),
        "{out}"
    );
    let oci = env.path("from-registry");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{dest}"),
        &format!("dir:{}", oci.display()),
    ]);
    // The dir: transport keeps blobs and the manifest exactly as the registry gave them.
    assert_eq!(
        std::fs::read_to_string(oci.join("manifest.json")).unwrap(),
        raw2
    );
    let m: serde_json::Value = serde_json::from_str(&raw2).unwrap();
    // The built image's layers are stored uncompressed; the push gzips them, as Docker does,
    // and each decompresses to the stored layer (whose digest is its DiffID).
    let stored = |hexd: &str| std::fs::read(env.root().join("blobs/sha256").join(hexd)).unwrap();
    let built_config: serde_json::Value =
        serde_json::from_str(&berth_ok(&env, &["image", "inspect", "reg-app:1"])).unwrap();
    let diff_ids = built_config[0]["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .clone();
    for (i, d) in m["layers"].as_array().unwrap().iter().enumerate() {
        let digest = d["digest"].as_str().unwrap();
        assert_eq!(
            d["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let theirs = std::fs::read(oci.join(digest.strip_prefix("sha256:").unwrap())).unwrap();
        assert_eq!(sha256(&theirs), digest);
        let plain = gunzip(&theirs);
        let diff_id = diff_ids[i].as_str().unwrap();
        assert_eq!(sha256(&plain), diff_id);
        assert!(plain == stored(diff_id.strip_prefix("sha256:").unwrap()));
        assert!(theirs.len() < plain.len(), "layer {i} was not compressed");
    }
    let config_hex = m["config"]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    assert!(std::fs::read(oci.join(config_hex)).unwrap() == stored(config_hex));
    let id = common::inspect(&env, "reg-app:1", "{{.Id}}");
    assert_eq!(m["config"]["digest"].as_str().unwrap(), id);
    assert!(
        common::inspect(&env, "reg-app:1", "{{json .RepoDigests}}")
            .contains(&format!("{}/berth/app@{digest}", reg.addr()))
    );
    // Pushing again finds every blob there, without compressing the layers again: the digests
    // they had compressed are remembered and asked for, so the stored layers are not even read
    // (they are moved aside meanwhile).
    let aside: Vec<(PathBuf, PathBuf)> = diff_ids
        .iter()
        .map(|d| {
            let path = env
                .root()
                .join("blobs/sha256")
                .join(d.as_str().unwrap().strip_prefix("sha256:").unwrap());
            let moved = path.with_extension("aside");
            std::fs::rename(&path, &moved).unwrap();
            (path, moved)
        })
        .collect();
    let again = berth(&env, &["push", "reg-app:1", &dest], None);
    for (path, moved) in &aside {
        std::fs::rename(moved, path).unwrap();
    }
    assert!(again.status.success(), "{}", stderr(&again));
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(again.contains(&digest), "{again}");
    // A push to another repository compresses them again, to the same digests, and mounts them.
    let mounted = berth_ok(
        &env,
        &["push", "reg-app:1", &format!("{}/berth/copy:1", reg.addr())],
    );
    assert!(mounted.contains("Mounted from berth/app"), "{mounted}");
    // Chunked uploads give the same manifest.
    let chunked = berth_ok(
        &env,
        &[
            "push",
            "--chunk-size",
            "65536",
            "reg-base:1",
            &format!("{}/chunked/base:1", reg.addr()),
        ],
    );
    assert!(chunked.contains(": Pushed"), "{chunked}");
    let raw3 = skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/chunked/base:1", reg.addr()),
    ]);
    assert_eq!(
        sha256(raw3.as_bytes()),
        common::inspect(&env, "reg-base:1", "{{.Id}}")
    );
    // podman pulls what berth pushed, with the same image ID, and runs it.
    env.podman_ok(&["pull", "-q", "--tls-verify=false", &dest]);
    let podman_id = env.podman_ok(&["image", "inspect", "--format", "{{.Id}}", &dest]);
    assert_eq!(format!("sha256:{}", podman_id.trim()), id);
    let podman_run = env.podman_ok(&["run", "--rm", &dest]);
    assert_eq!(podman_run, "hello from the registry\n");
    // manifest inspect shows the registry's manifest.
    let shown = berth_ok(&env, &["manifest", "inspect", &dest]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown, m);
    // A tag that is not there.
    let missing = berth(
        &env,
        &["pull", &format!("{}/berth/app:nope", reg.addr())],
        None,
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("not found: manifest unknown"),
        "{}",
        stderr(&missing)
    );
    env.assert_clean();
}

#[test]
fn pull_draws_its_progress_in_place_on_a_terminal() {
    if !common::ready(&["docker-registry", "skopeo", "script"]) {
        return;
    }
    let env = Env::new("reg-tty");
    let reg = RealRegistry::start(None, tempfile::tempdir_in("/tmp").unwrap());
    let name = format!("{}/tty/app:1", reg.addr());
    skopeo_push_two_layers(&env, &format!("docker://{name}"));
    let layers: Vec<String> = {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{name}"),
        ]);
        let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap()[7..19].to_owned())
            .collect()
    };
    assert_eq!(layers.len(), 2);
    // Under a terminal (script(1) gives berth one), every layer has a line, redrawn in place.
    let puller = Env::new("reg-tty-pull");
    let cmd = format!(
        "DOCKER_CONFIG={} {} --root {} --runroot {} pull {name}",
        puller.path("docker").display(),
        common::BERTH,
        puller.root().display(),
        puller.path("run").display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(shown.contains("1: Pulling from tty/app"), "{shown}");
    // Each redraw moves up over the layers' lines and clears each before writing it.
    assert!(
        shown.contains("\x1b[2A"),
        "no redraw over two lines: {shown:?}"
    );
    for l in &layers {
        let bar = format!("\x1b[2K{l}: Downloading [");
        assert!(shown.contains(&bar), "no progress bar for {l}: {shown:?}");
    }
    // The last drawing shows both layers complete, then Docker's status line.
    let last = shown.rsplit("\x1b[2A").next().unwrap();
    for l in &layers {
        assert!(
            last.contains(&format!("\x1b[2K{l}: Pull complete")),
            "{l} is not complete in the last drawing: {last:?}"
        );
    }
    assert!(
        shown.contains(&format!("Status: Downloaded newer image for {name}")),
        "{shown}"
    );
    // Not on a terminal: plain lines, no escape sequences and no bars.
    let plain = Env::new("reg-tty-plain");
    let text = berth_ok(&plain, &["pull", &name]);
    assert!(
        !text.contains('\x1b') && !text.contains("Downloading ["),
        "{text:?}"
    );
    for l in &layers {
        assert!(text.contains(&format!("{l}: Pull complete\n")), "{text}");
    }
}

/// An OCI layout with one image index over two platforms' manifests.
fn multi_arch_layout(env: &Env) -> (PathBuf, [String; 2]) {
    let dir = env.path("multi");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| -> (String, usize) {
        let d = sha256(b);
        std::fs::write(blobs.join(d.strip_prefix("sha256:").unwrap()), b).unwrap();
        (d, b.len())
    };
    let mut configs = Vec::new();
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut tar = tar::Builder::new(Vec::new());
        let body = format!("built for {arch}\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "arch", body.as_bytes()).unwrap();
        let layer = tar.into_inner().unwrap();
        let (ld, ls) = put(&layer);
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{ld}"]}}}}"#
        );
        let (cd, cs) = put(config.as_bytes());
        configs.push(cd.clone());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{ld}","size":{ls}}}]}}"#
        );
        let (md, ms) = put(manifest.as_bytes());
        manifests.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{ms},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
        ));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        // arm64 first, so that taking the first entry would be wrong.
        [manifests[1].clone(), manifests[0].clone()].join(",")
    );
    let (id, is) = put(index.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{id}","size":{is},"annotations":{{"org.opencontainers.image.ref.name":"multi"}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    (dir, [configs[0].clone(), configs[1].clone()])
}

#[test]
fn multi_arch_index_picks_the_platform() {
    if !common::ready(&["docker-registry", "skopeo"]) {
        return;
    }
    let env = Env::new("reg-multi");
    let reg = RealRegistry::start(None, tempfile::tempdir_in("/tmp").unwrap());
    let (layout, [amd64, arm64]) = multi_arch_layout(&env);
    let name = format!("{}/multi/app:1", reg.addr());
    skopeo(&[
        "copy",
        "-q",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{name}"),
    ]);
    berth_ok(&env, &["pull", "-q", &name]);
    assert_eq!(common::inspect(&env, &name, "{{.Id}}"), amd64);
    assert_eq!(common::inspect(&env, &name, "{{.Architecture}}"), "amd64");
    let arm = format!("{}/multi/app:1", reg.addr());
    berth_ok(&env, &["pull", "-q", "--platform", "linux/arm64", &arm]);
    assert_eq!(common::inspect(&env, &arm, "{{.Id}}"), arm64);
    let none = berth(&env, &["pull", "--platform", "linux/s390x", &name], None);
    assert_eq!(none.status.code(), Some(1));
    let e = stderr(&none);
    assert!(
        e.contains("no matching manifest for linux/s390x")
            && e.contains("linux/arm64, linux/amd64"),
        "{e}"
    );
    env.assert_clean();
}

/// A proxy in front of a registry that cuts the first `cuts` blob downloads part way.
struct CuttingProxy {
    addr: SocketAddr,
    /// Answers cut short.
    cut: Arc<AtomicUsize>,
    /// Requests that asked for a range (resumptions).
    ranges: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    fn start(upstream: String, cuts: usize, after: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicUsize::new(0));
        let ranges = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, r, s) = (cut.clone(), ranges.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let (upstream, c, r) = (upstream.clone(), c.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = proxy_one(client, &upstream, &c, &r, cuts, after);
                });
            }
        });
        Self {
            addr,
            cut,
            ranges,
            stop,
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request head.
fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
        if lines.len() > 100 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

/// Passes a request head on to `up`, asking for the connection to be closed after the answer.
fn forward_head(up: &mut TcpStream, head: &[String]) -> std::io::Result<()> {
    let mut out = String::new();
    for l in head {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())
}

/// One request per connection: the head is passed on with `Connection: close`, and a blob's
/// answer is cut after `after` bytes while cuts remain.
fn proxy_one(
    client: TcpStream,
    upstream: &str,
    cut: &AtomicUsize,
    ranges: &AtomicUsize,
    cuts: usize,
    after: usize,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    forward_head(&mut up, &head)?;
    let is_blob = head[0].starts_with("GET ") && head[0].contains("/blobs/sha256:");
    if head
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("range: bytes="))
    {
        ranges.fetch_add(1, Ordering::SeqCst);
    }
    let mut budget = (is_blob && cut.load(Ordering::SeqCst) < cuts).then_some(after);
    let mut client = client;
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = up.read(&mut buf)?;
        if n == 0 {
            break;
        }
        match &mut budget {
            Some(b) if n >= *b => {
                // Counted only when the answer really is cut short.
                client.write_all(&buf[..*b])?;
                cut.fetch_add(1, Ordering::SeqCst);
                break;
            }
            Some(b) => {
                *b -= n;
                client.write_all(&buf[..n])?;
            }
            None => client.write_all(&buf[..n])?,
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

#[test]
fn an_interrupted_pull_resumes() {
    if !common::ready(&["docker-registry", "skopeo"]) {
        return;
    }
    let env = Env::new("reg-resume");
    let reg = RealRegistry::start(None, tempfile::tempdir_in("/tmp").unwrap());
    // A layer of a few MiB of incompressible bytes.
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let mut noise = vec![0u8; 3 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(ctx.join("noise"), &noise).unwrap();
    let tar = env.path("noise.tar");
    sh(&format!(
        "tar --numeric-owner -C {} -cf {} noise",
        ctx.display(),
        tar.display()
    ));
    env.ok(&["import", tar.to_str().unwrap(), "noise:1"]);
    let upstream = reg.addr();
    env.ok(&["push", "-q", "noise:1", &format!("{upstream}/noise:1")]);
    let id = common::inspect(&env, "noise:1", "{{.Id}}");
    // Every blob answer is cut twice, 1 MiB in (headers included).
    let proxy = CuttingProxy::start(upstream, 2, 1 << 20);
    let puller = Env::new("reg-resume-pull");
    let name = format!("127.0.0.1:{}/noise:1", proxy.addr.port());
    let out = berth_ok(&puller, &["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    // Two answers were cut short, and each was resumed with a range request.
    assert_eq!(
        proxy.cut.load(Ordering::SeqCst),
        2,
        "the proxy did not cut twice"
    );
    assert!(
        proxy.ranges.load(Ordering::SeqCst) >= 2,
        "no resumption asked for a range"
    );
    assert_eq!(common::inspect(&puller, &name, "{{.Id}}"), id);
    // The same ID means the same DiffIDs, which berth checked against the bytes it unpacked.
    let exported = puller.path("noise.out");
    berth_ok(&puller, &["create", "--name", "n", &name, "/x"]);
    berth_ok(&puller, &["cp", "n:/noise", exported.to_str().unwrap()]);
    assert!(
        std::fs::read(&exported).unwrap() == noise,
        "the layer's file differs"
    );
    puller.assert_clean();
}

/// A scripted registry: answers each request with what the test's handler returns.
struct Mock {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// The body, when it is small (a form); larger ones are read and dropped.
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Body {
    Bytes(Vec<u8>),
    /// These bytes, then zeros until the client goes (at most 1 GiB).
    Endless(Vec<u8>),
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Resp {
    fn ok(content_type: &str, body: Vec<u8>) -> Self {
        Resp {
            status: 200,
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Docker-Content-Digest".into(), sha256(&body)),
            ],
            body: Body::Bytes(body),
        }
    }
    fn status(status: u16) -> Self {
        Resp {
            status,
            headers: vec![],
            body: Body::Bytes(br#"{"errors":[{"code":"UNKNOWN","message":"scripted"}]}"#.to_vec()),
        }
    }
}

type Handler = Arc<dyn Fn(&Req, SocketAddr) -> Resp + Send + Sync>;

impl Mock {
    fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, l) = (handler.clone(), l.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &h, &l, addr);
                });
            }
        });
        Mock { addr, stop, log }
    }

    fn name(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.addr.port())
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_one(
    conn: TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<String>>,
    addr: SocketAddr,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let head = read_head(&mut reader)?;
    let mut first = head[0].split(' ');
    let req = Req {
        method: first.next().unwrap_or("").into(),
        path: first.next().unwrap_or("").into(),
        headers: head[1..]
            .iter()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        body: Vec::new(),
    };
    let mut req = req;
    if let Some(n) = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        if n <= 64 << 10 {
            (&mut reader).take(n).read_to_end(&mut req.body)?;
        } else {
            std::io::copy(&mut (&mut reader).take(n), &mut std::io::sink())?;
        }
    }
    log.lock()
        .unwrap()
        .push(format!("{} {}", req.method, req.path));
    let resp = handler(&req, addr);
    let mut conn = conn;
    let mut head = format!("HTTP/1.1 {} Scripted\r\nConnection: close\r\n", resp.status);
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &resp.body {
        Body::Bytes(b) => head.push_str(&format!("Content-Length: {}\r\n\r\n", b.len())),
        Body::Endless(_) => head.push_str("\r\n"),
    }
    conn.write_all(head.as_bytes())?;
    if req.method == "HEAD" {
        return Ok(());
    }
    match resp.body {
        Body::Bytes(b) => conn.write_all(&b)?,
        Body::Endless(b) => {
            conn.write_all(&b)?;
            let zeros = vec![0u8; 64 << 10];
            for _ in 0..(1 << 14) {
                conn.write_all(&zeros)?;
            }
        }
    }
    Ok(())
}

/// A one-layer image as a registry serves it.
struct TinyImage {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn tar_of(content: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "file", content.as_bytes()).unwrap();
    tar.into_inner().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn tiny_image(content: &str) -> TinyImage {
    let layer = tar_of(content);
    let diff_id = sha256(&layer);
    image_of(layer, &diff_id, "application/vnd.oci.image.layer.v1.tar")
}

/// An image of one layer blob, whatever it holds, and the DiffID its config claims.
fn image_of(layer: Vec<u8>, diff_id: &str, layer_type: &str) -> TinyImage {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"{layer_type}","digest":"{}","size":{}}}]}}"#,
        sha256(&config),
        config.len(),
        sha256(&layer),
        layer.len()
    )
    .into_bytes();
    TinyImage {
        layer,
        config,
        manifest,
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The honest answers for `img`, which each case below spoils in one way.
fn serve_tiny(img: &TinyImage, req: &Req) -> Resp {
    let p = req.path.as_str();
    if p == "/v2/" {
        return Resp::ok("application/json", b"{}".to_vec());
    }
    if p.starts_with("/v2/img/manifests/") {
        return Resp::ok(OCI_MANIFEST, img.manifest.clone());
    }
    for b in [&img.layer, &img.config] {
        if p == format!("/v2/img/blobs/{}", sha256(b)) {
            return Resp::ok("application/octet-stream", b.clone());
        }
    }
    Resp::status(404)
}

#[test]
fn credentials_stay_with_the_registry_across_redirects() {
    if !common::ready(&[]) {
        return;
    }
    let env = Env::new("reg-redirect");
    let img = Arc::new(tiny_image("content served from elsewhere\n"));
    // Blob storage on another port, as registries redirect to, noting what it is sent.
    let seen = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let (stored, noted) = (img.clone(), seen.clone());
    let storage = Mock::start(Arc::new(move |r: &Req, _| {
        noted
            .lock()
            .unwrap()
            .push(r.header("authorization").map(str::to_owned));
        for b in [&stored.layer, &stored.config] {
            if r.path == format!("/storage/{}", sha256(b)) {
                return Resp::ok("application/octet-stream", b.clone());
            }
        }
        Resp::status(404)
    }));
    let storage_port = storage.addr.port();
    // The registry wants basic auth (user u, password p) and redirects every blob.
    let served = img.clone();
    let registry = Mock::start(Arc::new(move |r: &Req, _| {
        if r.header("authorization") != Some("Basic dTpw") {
            let mut resp = Resp::status(401);
            resp.headers.push((
                "WWW-Authenticate".into(),
                "Basic realm=\"berth-test\"".into(),
            ));
            return resp;
        }
        if let Some(digest) = r.path.strip_prefix("/v2/img/blobs/") {
            return Resp {
                status: 307,
                headers: vec![(
                    "Location".into(),
                    format!("http://127.0.0.1:{storage_port}/storage/{digest}"),
                )],
                body: Body::Bytes(Vec::new()),
            };
        }
        serve_tiny(&served, r)
    }));
    let name = registry.name("img");
    berth_ok(&env, &["pull", "-q", "--creds", "u:p", &name]);
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() >= 2,
        "the blobs were not fetched from storage: {seen:?}"
    );
    assert!(
        seen.iter().all(Option::is_none),
        "credentials were sent to another host: {seen:?}"
    );
}

#[test]
fn hostile_registry_answers_are_refused_and_leave_nothing() {
    if !common::ready(&[]) {
        return;
    }
    let img = Arc::new(tiny_image("the real content\n"));
    let other = Arc::new(tiny_image("some other content\n"));
    type Case = (&'static str, Handler, &'static str);
    type Answer = Box<dyn Fn(&Req, &TinyImage) -> Resp + Send + Sync>;
    let layer_path = format!("/v2/img/blobs/{}", sha256(&img.layer));
    let config_path = format!("/v2/img/blobs/{}", sha256(&img.config));
    let manifests = |r: &Req| r.path.contains("/manifests/");
    // The honest registry, but for the requests `when` picks, which get `answer`.
    let spoiled = |when: Box<dyn Fn(&Req) -> bool + Send + Sync>, answer: Answer| -> Handler {
        let img = img.clone();
        Arc::new(move |r: &Req, _| {
            if when(r) {
                answer(r, &img)
            } else {
                serve_tiny(&img, r)
            }
        })
    };
    let path_is = |p: &String| {
        let p = p.clone();
        Box::new(move |r: &Req| r.path == p) as Box<dyn Fn(&Req) -> bool + Send + Sync>
    };
    let o = other.clone();
    let cases: Vec<Case> = vec![
        (
            "a manifest whose claimed digest does not match",
            spoiled(
                Box::new(manifests),
                Box::new(|r, i| {
                    let mut resp = serve_tiny(i, r);
                    resp.headers[1].1 = sha256(b"something else");
                    resp
                }),
            ),
            "the registry says its digest is",
        ),
        (
            "a manifest by digest that is another manifest",
            spoiled(
                Box::new(manifests),
                Box::new(move |_, _| Resp::ok(OCI_MANIFEST, o.manifest.clone())),
            ),
            "the registry sent content with digest",
        ),
        (
            "a layer blob whose content does not match its digest",
            spoiled(
                path_is(&layer_path),
                Box::new(|_, i| {
                    let mut b = i.layer.clone();
                    let at = b.len() / 2;
                    b[at] ^= 0xff;
                    Resp::ok("application/octet-stream", b)
                }),
            ),
            "digest mismatch",
        ),
        (
            "a config blob whose content does not match its digest",
            spoiled(
                path_is(&config_path),
                Box::new(|_, i| {
                    let mut b = i.config.clone();
                    b[0] = b' ';
                    Resp::ok("application/octet-stream", b)
                }),
            ),
            "the registry sent content with digest",
        ),
        (
            "a manifest over 4 MiB",
            spoiled(
                Box::new(manifests),
                Box::new(|_, i| {
                    let mut big = i.manifest.clone();
                    big.pop();
                    big.extend(format!(",\"pad\":\"{}\"}}", "x".repeat(5 << 20)).bytes());
                    Resp::ok(OCI_MANIFEST, big)
                }),
            ),
            "more than the 4194304 allowed",
        ),
        (
            "a redirect loop",
            spoiled(
                Box::new(manifests),
                Box::new(|r, _| {
                    let mut resp = Resp::status(307);
                    resp.headers.push(("Location".into(), r.path.clone()));
                    resp
                }),
            ),
            "too many redirects",
        ),
        (
            "an endless blob",
            spoiled(
                path_is(&layer_path),
                Box::new(|_, i| Resp {
                    status: 200,
                    headers: vec![],
                    body: Body::Endless(i.layer.clone()),
                }),
            ),
            "more than the",
        ),
        (
            "an endless manifest",
            spoiled(
                Box::new(manifests),
                Box::new(|_, _| Resp {
                    status: 200,
                    headers: vec![("Content-Type".into(), OCI_MANIFEST.into())],
                    body: Body::Endless(b"{\"schemaVersion\":2,\"x\":\"".to_vec()),
                }),
            ),
            "longer than the 4194304 bytes allowed",
        ),
        (
            "a wrong media type",
            spoiled(
                Box::new(manifests),
                Box::new(|r, i| {
                    let mut resp = serve_tiny(i, r);
                    resp.headers[0].1 = "text/html".into();
                    resp
                }),
            ),
            "not an image manifest",
        ),
        (
            "a manifest with more layers than berth takes",
            spoiled(
                Box::new(manifests),
                Box::new(|_, i| {
                    let m: serde_json::Value = serde_json::from_slice(&i.manifest).unwrap();
                    let mut m = m;
                    let layer = m["layers"][0].clone();
                    m["layers"] = serde_json::Value::Array(vec![layer; 300]);
                    Resp::ok(OCI_MANIFEST, serde_json::to_vec(&m).unwrap())
                }),
            ),
            "has 300 layers, more than the 256",
        ),
        (
            "a layer that is not a layer",
            spoiled(
                Box::new(manifests),
                Box::new(|_, i| {
                    let m = String::from_utf8(i.manifest.clone())
                        .unwrap()
                        .replace("image.layer.v1.tar", "image.config.v1+json");
                    Resp::ok(OCI_MANIFEST, m.into_bytes())
                }),
            ),
            "not a layer",
        ),
    ];
    // Layers whose blob matches its digest but whose content is bad.
    let tar = tar_of("inside\n");
    let mut corrupt = gzip(&tar);
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x55;
    let twice = gzip(&gzip(&tar));
    let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
    let mut cases = cases;
    for (what, image, expect) in [
        (
            "a corrupt gzip layer",
            image_of(corrupt, &sha256(&tar), gz),
            "corrupt or truncated gzip stream",
        ),
        (
            "a layer compressed twice",
            image_of(twice.clone(), &sha256(&gzip(&tar)), gz),
            "compressed twice",
        ),
        (
            "a layer whose DiffID is not the config's",
            image_of(gzip(&tar), &sha256(b"not it"), gz),
            "DiffID mismatch",
        ),
    ] {
        let image = Arc::new(image);
        cases.push((
            what,
            Arc::new(move |r: &Req, _| serve_tiny(&image, r)),
            expect,
        ));
    }
    for (what, handler, expect) in cases {
        let env = Env::new("reg-hostile");
        let mock = Mock::start(handler);
        let name = if what.contains("by digest") {
            format!("{}@{}", mock.name("img"), sha256(&img.manifest))
        } else {
            format!("{}:1", mock.name("img"))
        };
        let started = Instant::now();
        berth_fails(&env, &["pull", &name], 1, expect);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} took too long"
        );
        store_is_empty_and_clean(&env);
    }
    // A registry that fails a blob once with 503 is tried again.
    let env = Env::new("reg-503");
    let failed_once = Arc::new(AtomicBool::new(false));
    let (i, f) = (img.clone(), failed_once.clone());
    let lp = layer_path.clone();
    let mock = Mock::start(Arc::new(move |r: &Req, _| {
        if r.path == lp && !f.swap(true, Ordering::SeqCst) {
            return Resp::status(503);
        }
        serve_tiny(&i, r)
    }));
    berth_ok(&env, &["pull", "-q", &format!("{}:1", mock.name("img"))]);
    assert!(failed_once.load(Ordering::SeqCst));
    // And the honest registry's image pulls.
    let env = Env::new("reg-honest");
    let i = img.clone();
    let mock = Mock::start(Arc::new(move |r: &Req, _| serve_tiny(&i, r)));
    berth_ok(&env, &["pull", "-q", &format!("{}:1", mock.name("img"))]);
    assert_eq!(
        common::inspect(&env, &format!("{}:1", mock.name("img")), "{{.Id}}"),
        sha256(&img.config)
    );
}

#[test]
fn bearer_token_flow() {
    if !common::ready(&[]) {
        return;
    }
    let img = Arc::new(tiny_image("behind a token\n"));
    let mock = behind_tokens(
        img.clone(),
        // user:secret
        |r| r.header("authorization") == Some("Basic dXNlcjpzZWNyZXQ="),
        br#"{"token":"tok-1","expires_in":60}"#,
    );
    let env = Env::new("reg-bearer");
    let server = format!("127.0.0.1:{}", mock.addr.port());
    let server = server.as_str();
    let name = format!("{}:1", mock.name("img"));
    let denied = berth(&env, &["pull", &name], None);
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains("unauthorized"),
        "{}",
        stderr(&denied)
    );
    store_is_empty_and_clean(&env);
    berth_fails(
        &env,
        &["pull", "--creds", "user:wrong", &name],
        1,
        "unauthorized",
    );
    berth_ok(&env, &["pull", "-q", "--creds", "user:secret", &name]);
    assert_eq!(common::inspect(&env, &name, "{{.Id}}"), sha256(&img.config));
    let log = mock.log.lock().unwrap().clone();
    assert!(
        log.iter().any(
            |l| l.starts_with("GET /token?service=mock+registry&scope=repository%3Aimg%3Apull")
        ),
        "{log:?}"
    );
    // login keeps the credentials, mode 0600, and pull uses them.
    let login = berth(
        &env,
        &["login", "-u", "user", "--password-stdin", server],
        Some(b"secret\n"),
    );
    assert!(login.status.success(), "{}", stderr(&login));
    assert_eq!(String::from_utf8_lossy(&login.stdout), "Login Succeeded\n");
    let config = env.path("docker/config.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The token service gave no refresh token: the password is what is kept.
    let filed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        filed["auths"][server]["auth"], "dXNlcjpzZWNyZXQ=",
        "{filed}"
    );
    assert!(
        filed["auths"][server].get("identitytoken").is_none(),
        "{filed}"
    );
    berth_ok(&env, &["rmi", &name]);
    berth_ok(&env, &["pull", "-q", &name]);
    let out = berth_ok(&env, &["logout", server]);
    assert!(
        out.starts_with("Removing login credentials for 127.0.0.1:"),
        "{out}"
    );
    let bad = berth(
        &env,
        &["login", "-u", "user", "--password-stdin", server],
        Some(b"nope\n"),
    );
    assert_eq!(bad.status.code(), Some(1));
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        kept["auths"].as_object().unwrap().len(),
        0,
        "a failed login stored credentials"
    );
}

#[test]
fn identity_tokens_are_exchanged_for_access_tokens() {
    if !common::ready(&[]) {
        return;
    }
    let img = Arc::new(tiny_image("behind an identity token\n"));
    let posted = Arc::new(Mutex::new(Vec::<String>::new()));
    let p = posted.clone();
    // Only the OAuth2 refresh-token grant is answered; a password is never asked for.
    let mock = behind_tokens(
        img.clone(),
        move |r| {
            let form = String::from_utf8_lossy(&r.body).into_owned();
            p.lock().unwrap().push(form.clone());
            let mut fields: Vec<&str> = form.split('&').collect();
            fields.sort();
            r.method == "POST"
                && fields
                    == [
                        "client_id=berth",
                        "grant_type=refresh_token",
                        "refresh_token=idtok-1",
                        "scope=repository%3Aimg%3Apull",
                        "service=mock+registry",
                    ]
        },
        br#"{"access_token":"tok-1","expires_in":60}"#,
    );
    let env = Env::new("reg-idtoken");
    let server = format!("127.0.0.1:{}", mock.addr.port());
    std::fs::create_dir_all(env.path("docker")).unwrap();
    std::fs::write(
        env.path("docker/config.json"),
        serde_json::json!({ "auths": { server.clone(): { "identitytoken": "idtok-1" } } })
            .to_string(),
    )
    .unwrap();
    let name = format!("{}:1", mock.name("img"));
    berth_ok(&env, &["pull", "-q", &name]);
    assert_eq!(common::inspect(&env, &name, "{{.Id}}"), sha256(&img.config));
    let posted = posted.lock().unwrap().clone();
    assert!(!posted.is_empty(), "no token was asked for");
    let log = mock.log.lock().unwrap().clone();
    assert!(
        !log.iter().any(|l| l.starts_with("GET /token")),
        "the identity token was not used as a refresh token: {log:?}"
    );
    // A wrong identity token gets no access token, and the pull says so.
    std::fs::write(
        env.path("docker/config.json"),
        serde_json::json!({ "auths": { server: { "identitytoken": "stale" } } }).to_string(),
    )
    .unwrap();
    berth_ok(&env, &["rmi", &name]);
    berth_fails(&env, &["pull", &name], 1, "unauthorized");
}

#[test]
fn login_keeps_the_identity_token_the_registry_gives() {
    if !common::ready(&[]) {
        return;
    }
    let img = Arc::new(tiny_image("behind a refresh token\n"));
    // user:secret asking for offline access gets a refresh token; the refresh token gets access
    // tokens; nothing else does.
    let mock = behind_tokens(
        img.clone(),
        |r| {
            let form = String::from_utf8_lossy(&r.body).into_owned();
            (r.method == "GET"
                && r.header("authorization") == Some("Basic dXNlcjpzZWNyZXQ=")
                && r.path.contains("offline_token=true")
                && r.path.contains("client_id=berth"))
                || (r.method == "POST"
                    && form.contains("grant_type=refresh_token")
                    && form.contains("refresh_token=idtok-9"))
        },
        br#"{"token":"tok-1","refresh_token":"idtok-9","expires_in":60}"#,
    );
    let env = Env::new("reg-login-idtoken");
    let server = format!("127.0.0.1:{}", mock.addr.port());
    let login = berth(
        &env,
        &["login", "-u", "user", "--password-stdin", &server],
        Some(b"secret"),
    );
    assert!(login.status.success(), "{}", stderr(&login));
    // As Docker files it: the user name alone in auth, the token beside it, no password.
    let config = std::fs::read_to_string(env.path("docker/config.json")).unwrap();
    let filed: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        filed["auths"][&server]["identitytoken"], "idtok-9",
        "{filed}"
    );
    assert_eq!(filed["auths"][&server]["auth"], "dXNlcjo=", "{filed}");
    assert!(
        !config.contains("c2VjcmV0") && !config.contains("secret"),
        "{config}"
    );
    // The pull trades the identity token for access tokens (a POST), never the password.
    let before = mock.log.lock().unwrap().len();
    let name = format!("{}:1", mock.name("img"));
    berth_ok(&env, &["pull", "-q", &name]);
    assert_eq!(common::inspect(&env, &name, "{{.Id}}"), sha256(&img.config));
    let log = mock.log.lock().unwrap()[before..].to_vec();
    assert!(log.iter().any(|l| l.starts_with("POST /token")), "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("GET /token")), "{log:?}");
}

/// A registry serving `img` to requests bearing `Bearer tok-1`, with a token endpoint (`/token`)
/// that answers `answer` to the requests `grant` accepts and 401 to others.
fn behind_tokens(
    img: Arc<TinyImage>,
    grant: impl Fn(&Req) -> bool + Send + Sync + 'static,
    answer: &'static [u8],
) -> Mock {
    Mock::start(Arc::new(move |r: &Req, addr| {
        if r.path.starts_with("/token") {
            return if grant(r) {
                Resp::ok("application/json", answer.to_vec())
            } else {
                Resp::status(401)
            };
        }
        if r.header("authorization") != Some("Bearer tok-1") {
            let mut resp = Resp::status(401);
            resp.headers.push((
                "WWW-Authenticate".into(),
                format!(
                    "Bearer realm=\"http://{addr}/token\",service=\"mock registry\",scope=\"repository:img:pull\""
                ),
            ));
            return resp;
        }
        serve_tiny(&img, r)
    }))
}

/// `berth login --cert-dir CERTS -u tester --password-stdin REGISTRY`, given the password.
fn login_tester(env: &Env, certs: &str, registry: &str, password: &[u8]) -> Output {
    berth(
        env,
        &[
            "login",
            "--cert-dir",
            certs,
            "-u",
            "tester",
            "--password-stdin",
            registry,
        ],
        Some(password),
    )
}

fn make_tls(dir: &Path) -> RegistryTls {
    sh(&format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-ca -keyout ca.key -out ca.crt 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null; \
         printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext; \
         openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt 2>/dev/null; \
         mkdir certs; cp ca.crt certs/; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=berth-client -keyout client.key -out client.csr 2>/dev/null; \
         printf 'extendedKeyUsage=clientAuth\\n' > client-ext; \
         openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile client-ext -out client.cert 2>/dev/null; \
         mkdir client; cp ca.crt client.cert client.key client/; \
         mkdir nokey; cp ca.crt client.cert nokey/; \
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=berth-other-ca -keyout other-ca.key -out other-ca.crt 2>/dev/null; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=berth-client -keyout other.key -out other.csr 2>/dev/null; \
         openssl x509 -req -in other.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -days 2 -extfile client-ext -out other.cert 2>/dev/null; \
         mkdir two; cp ca.crt two/; cp other.cert two/a-other.cert; cp other.key two/a-other.key; cp client.cert client.key two/; \
         mkdir other; cp ca.crt other.cert other.key other/; \
         mkdir mismatch; cp ca.crt client.cert mismatch/; cp other.key mismatch/client.key; \
         htpasswd -Bbn tester s3cret > htpasswd",
        d = dir.display()
    ));
    RegistryTls {
        ca: dir.join("ca.crt"),
        htpasswd: dir.join("htpasswd"),
        client_certs: false,
    }
}

#[test]
fn tls_and_basic_auth() {
    if !common::ready(&["docker-registry", "openssl", "htpasswd"]) {
        return;
    }
    let env = Env::new("reg-tls");
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let tls = make_tls(dir.path());
    let reg = RealRegistry::start(Some(&tls), tempfile::tempdir_in("/tmp").unwrap());
    let certs = dir.path().join("certs");
    let certs = certs.to_str().unwrap();
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "tls-app:1"]);
    let dest = format!("{}/tls/app:1", reg.addr());
    // The test CA is not trusted by default: the error says what failed.
    let untrusted = berth(&env, &["push", "tls-app:1", &dest], None);
    assert_eq!(untrusted.status.code(), Some(1));
    let e = stderr(&untrusted);
    assert!(
        e.contains(&format!("cannot reach registry {}", reg.addr())),
        "{e}"
    );
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // The system's CA certificates are read when a server's certificate is checked: the test CA
    // given as the system's bundle (SSL_CERT_FILE, as OpenSSL reads it) is trusted, so the
    // handshake passes and the registry asks for credentials.
    let system = env
        .command(&["push", "tls-app:1", &dest])
        .env("SSL_CERT_FILE", &tls.ca)
        .env("SSL_CERT_DIR", dir.path().join("no-such-dir"))
        .output()
        .unwrap();
    assert_eq!(system.status.code(), Some(1));
    assert!(
        stderr(&system).contains("unauthorized"),
        "{}",
        stderr(&system)
    );
    // Trusted, but without credentials.
    let anonymous = berth(
        &env,
        &["push", "--cert-dir", certs, "tls-app:1", &dest],
        None,
    );
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(
        stderr(&anonymous).contains("unauthorized"),
        "{}",
        stderr(&anonymous)
    );
    let wrong = login_tester(&env, certs, &reg.addr(), b"wrong\n");
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("unauthorized"),
        "{}",
        stderr(&wrong)
    );
    assert!(
        !env.path("docker/config.json").exists(),
        "a failed login stored credentials"
    );
    let login = login_tester(&env, certs, &reg.addr(), b"s3cret\n");
    assert!(login.status.success(), "{}", stderr(&login));
    berth_ok(
        &env,
        &["push", "-q", "--cert-dir", certs, "tls-app:1", &dest],
    );
    // --tls-verify=false accepts the certificate without the CA.
    let puller = Env::new("reg-tls-pull");
    std::fs::create_dir_all(puller.path("docker")).unwrap();
    std::fs::copy(
        env.path("docker/config.json"),
        puller.path("docker/config.json"),
    )
    .unwrap();
    berth_ok(&puller, &["pull", "-q", "--tls-verify=false", &dest]);
    assert_eq!(
        common::inspect(&puller, &dest, "{{.Id}}"),
        common::inspect(&env, "tls-app:1", "{{.Id}}")
    );
    // skopeo reads it with the same CA and credentials.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        certs,
        "--creds",
        "tester:s3cret",
        &format!("docker://{dest}"),
    ]);
    assert!(raw.contains(&common::inspect(&env, "tls-app:1", "{{.Id}}")));
}

#[test]
fn client_certificates_from_the_cert_dir() {
    if !common::ready(&["docker-registry", "openssl", "htpasswd"]) {
        return;
    }
    let env = Env::new("reg-mtls");
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let mut tls = make_tls(dir.path());
    tls.client_certs = true;
    let reg = RealRegistry::start(Some(&tls), tempfile::tempdir_in("/tmp").unwrap());
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "mtls-app:1"]);
    let dest = format!("{}/mtls/app:1", reg.addr());
    let certs_dir = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let login = |certs: &str| login_tester(&env, certs, &reg.addr(), b"s3cret\n");
    // The CA alone: the registry ends the handshake, and the error says it could not be reached.
    let refused = login(&certs_dir("certs"));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("cannot reach registry {}", reg.addr())),
        "{}",
        stderr(&refused)
    );
    // A client certificate without its key is refused before anything is sent, naming the key.
    let nokey = login(&certs_dir("nokey"));
    assert!(!nokey.status.success());
    let e = stderr(&nokey);
    assert!(
        e.contains("client.cert") && e.contains("without its key") && e.contains("client.key"),
        "{e}"
    );
    // A key that is not the certificate's is refused before anything is sent, naming the file.
    let mismatch = login(&certs_dir("mismatch"));
    assert!(!mismatch.status.success());
    let e = stderr(&mismatch);
    assert!(e.contains("client.cert") && e.contains("not usable"), "{e}");
    // A client certificate from a CA the registry does not accept is not sent: refused alike.
    let other = login(&certs_dir("other"));
    assert_eq!(other.status.code(), Some(1), "{}", stderr(&other));
    assert!(
        stderr(&other).contains(&format!("cannot reach registry {}", reg.addr())),
        "{}",
        stderr(&other)
    );
    // Of two client certificates, the one issued by a CA the registry names is presented, though
    // the other comes first by name.
    let two = login(&certs_dir("two"));
    assert!(two.status.success(), "{}", stderr(&two));
    // With the client certificate and key: login, push and pull.
    let ok = login(&certs_dir("client"));
    assert!(ok.status.success(), "{}", stderr(&ok));
    let client = certs_dir("client");
    berth_ok(
        &env,
        &["push", "-q", "--cert-dir", &client, "mtls-app:1", &dest],
    );
    let puller = Env::new("reg-mtls-pull");
    std::fs::create_dir_all(puller.path("docker")).unwrap();
    std::fs::copy(
        env.path("docker/config.json"),
        puller.path("docker/config.json"),
    )
    .unwrap();
    berth_ok(&puller, &["pull", "-q", "--cert-dir", &client, &dest]);
    assert_eq!(
        common::inspect(&puller, &dest, "{{.Id}}"),
        common::inspect(&env, "mtls-app:1", "{{.Id}}")
    );
    // skopeo, given the same directory, reads what berth pushed.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &client,
        "--creds",
        "tester:s3cret",
        &format!("docker://{dest}"),
    ]);
    assert!(raw.contains(&common::inspect(&env, "mtls-app:1", "{{.Id}}")));
}

/// A credential helper speaking Docker's protocol, filing credentials as JSON files in
/// `$BERTH_TEST_HELPER_DIR` and logging each action it is asked for.
const FILE_HELPER: &str = r#"#!/usr/bin/env python3
import json, os, sys
d = os.environ["BERTH_TEST_HELPER_DIR"]
op, data = sys.argv[1], sys.stdin.read()
open(os.path.join(d, "log"), "a").write(op + "\n")
def path(url):
    return os.path.join(d, url.replace("/", "_") + ".json")
if op == "store":
    j = json.loads(data)
    open(path(j["ServerURL"]), "w").write(data)
elif op in ("get", "erase"):
    p = path(data.strip())
    if not os.path.exists(p):
        print("credentials not found in native keychain")
        sys.exit(1)
    if op == "get":
        print(open(p).read())
    else:
        os.remove(p)
else:
    sys.exit(2)
"#;

#[test]
fn credential_helpers() {
    if !common::ready(&["docker-registry", "openssl", "htpasswd", "python3"]) {
        return;
    }
    let env = Env::new("reg-credhelper");
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let tls = make_tls(dir.path());
    let reg = RealRegistry::start(Some(&tls), tempfile::tempdir_in("/tmp").unwrap());
    let certs = dir.path().join("certs").to_str().unwrap().to_owned();
    let bin = dir.path().join("bin");
    let filed = dir.path().join("filed");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&filed).unwrap();
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, FILE_HELPER).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = |args: &[&str], stdin: Option<&[u8]>| {
        let mut cmd = env.command(args);
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path).env("BERTH_TEST_HELPER_DIR", &filed);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let config = env.path("docker/config.json");
    std::fs::create_dir_all(env.path("docker")).unwrap();
    let write_config = |v: serde_json::Value| std::fs::write(&config, v.to_string()).unwrap();
    let log = || std::fs::read_to_string(filed.join("log")).unwrap_or_default();
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), "helped:1"]);
    let dest = format!("{}/helped/app:1", reg.addr());
    let push = |what: &str| {
        let out = run(
            &["push", "-q", "--cert-dir", &certs, "helped:1", &dest],
            None,
        );
        (out.status.success(), format!("{what}: {}", stderr(&out)))
    };

    // credsStore: login files the secret with the helper; config.json only names the registry.
    write_config(serde_json::json!({ "credsStore": "berthtest", "kept": 1 }));
    let login = run(
        &[
            "login",
            "--cert-dir",
            &certs,
            "-u",
            "tester",
            "--password-stdin",
            &reg.addr(),
        ],
        Some(b"s3cret\n"),
    );
    assert!(login.status.success(), "{}", stderr(&login));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("s3cret") && !text.contains("dGVzdGVy"),
        "{text}"
    );
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["auths"][reg.addr()], serde_json::json!({}), "{text}");
    assert_eq!(file["kept"], 1);
    let filed_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(filed.join(format!("{}.json", reg.addr()))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        filed_json,
        serde_json::json!({ "ServerURL": reg.addr(), "Username": "tester", "Secret": "s3cret" })
    );
    // push asks the helper.
    let (ok, why) = push("with credsStore");
    assert!(ok, "{why}");
    assert!(log().contains("get"), "{}", log());

    // credHelpers for this registry wins over a wrong password in auths.
    let wrong = "dGVzdGVyOndyb25n"; // base64 of tester:wrong
    write_config(serde_json::json!({
        "auths": { reg.addr(): { "auth": wrong } },
        "credHelpers": { reg.addr(): "berthtest" },
    }));
    let (ok, why) = push("with credHelpers");
    assert!(ok, "{why}");
    // Without the helper the wrong password is used, and refused.
    write_config(serde_json::json!({ "auths": { reg.addr(): { "auth": wrong } } }));
    let (ok, why) = push("with the file's wrong password");
    assert!(!ok && why.contains("unauthorized"), "{why}");

    // logout erases the helper's entry; then nothing is sent and the push is refused.
    write_config(serde_json::json!({ "credsStore": "berthtest" }));
    let out = run(&["logout", &reg.addr()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(log().contains("erase"), "{}", log());
    assert!(!filed.join(format!("{}.json", reg.addr())).exists());
    let (ok, why) = push("after logout");
    assert!(!ok && why.contains("unauthorized"), "{why}");

    // A helper that is not installed, and a name that could leave PATH, are named.
    write_config(serde_json::json!({ "credsStore": "absent" }));
    let (ok, why) = push("with an absent helper");
    assert!(!ok && why.contains("docker-credential-absent"), "{why}");
    write_config(serde_json::json!({ "credsStore": "../../bin/sh" }));
    let (ok, why) = push("with a path as helper");
    assert!(!ok && why.contains("is not valid"), "{why}");
}

#[test]
fn unreachable_registry_fails_plainly_and_fast() {
    if !common::ready(&[]) {
        return;
    }
    let env = Env::new("reg-unreachable");
    let port = free_port();
    let started = Instant::now();
    let out = berth(&env, &["pull", &format!("127.0.0.1:{port}/x:1")], None);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("cannot reach registry 127.0.0.1:{port}")) && e.contains("refused"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A name that does not resolve: no hang, a plain error.
    berth_fails(
        &env,
        &["pull", "no-such-host.invalid/x:1"],
        1,
        "cannot reach registry no-such-host.invalid",
    );
    store_is_empty_and_clean(&env);
}

const COSIGN_REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cosign_ref.py");

/// Whether the signature tests can run: a registry, skopeo, and Python with PyNaCl and
/// cryptography for the independent implementation (which CI must have).
fn signing_ready() -> bool {
    if !common::ready(&["docker-registry", "skopeo", "python3"]) {
        return false;
    }
    if !python_has_crypto() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have PyNaCl and cryptography (scripts/test.sh installs them)"
        );
        eprintln!("skipped: needs PyNaCl and cryptography");
        return false;
    }
    true
}

fn python_has_crypto() -> bool {
    Command::new("python3")
        .args(["-c", "import nacl, cryptography"])
        .status()
        .is_ok_and(|s| s.success())
}

fn with_password(env: &Env, args: &[&str], password: &str) -> Output {
    let mut cmd = env.command(args);
    cmd.env("COSIGN_PASSWORD", password)
        .current_dir(env.path(""));
    cmd.output().unwrap()
}

/// Puts a signature manifest (OCI, one simple-signing layer per payload) under `tag` with skopeo.
fn push_signature_manifest(env: &Env, dest: &str, layers: &[(Vec<u8>, String)]) {
    let dir = env.path(&format!(
        "sig-{}",
        sha256(dest.as_bytes())[7..19].to_owned()
    ));
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = sha256(b);
        std::fs::write(blobs.join(&d[7..]), b).unwrap();
        (d, b.len())
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (payload, sig) in layers {
        let (d, n) = put(payload);
        diff_ids.push(format!("\"{d}\""));
        descs.push(format!(
            r#"{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{d}","size":{n},"annotations":{{"dev.cosignproject.cosign/signature":"{sig}"}}}}"#
        ));
    }
    let config = format!(
        r#"{{"architecture":"","os":"","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let (cd, cn) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cn}}},"layers":[{}]}}"#,
        descs.join(",")
    );
    let (md, mn) = put(manifest.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{mn},"annotations":{{"org.opencontainers.image.ref.name":"sig"}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{}:sig", dir.display()),
        &format!("docker://{dest}"),
    ]);
}

/// The payloads and signatures under a `.sig` tag, as the registry has them.
fn signature_layers(reg: &RealRegistry, repo: &str, digest: &str) -> Vec<(Vec<u8>, String)> {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/{repo}:{tag}", reg.addr()),
    ]);
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    fetch_layers(reg, repo, &m)
}

fn fetch_layers(reg: &RealRegistry, repo: &str, m: &serde_json::Value) -> Vec<(Vec<u8>, String)> {
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let d = l["digest"].as_str().unwrap();
            let mut s = TcpStream::connect(reg.addr()).unwrap();
            write!(
                s,
                "GET /v2/{repo}/blobs/{d} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                reg.addr()
            )
            .unwrap();
            let mut resp = Vec::new();
            // The registry redirects nothing for the filesystem driver: the body follows the head.
            s.read_to_end(&mut resp).unwrap();
            let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            (
                resp[at..].to_vec(),
                l["annotations"]["dev.cosignproject.cosign/signature"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn signatures_and_trust_policy() {
    if !signing_ready() {
        return;
    }
    let env = Env::new("reg-sign");
    let (reg, signed, digest) = registry_with_image(&env, "sign-src:1", "team/app:v1");
    let a = reg.addr();

    // berth's key pair: an independent implementation opens the private key to the same public key.
    let out = with_password(&env, &["key", "generate"], "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    let key = env.path("cosign.key");
    let public = env.path("cosign.pub");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let theirs = Command::new("python3")
        .args([COSIGN_REF, "pubkey", key.to_str().unwrap(), "s3cret"])
        .output()
        .unwrap();
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert_eq!(theirs.stdout, std::fs::read(&public).unwrap());
    // A wrong passphrase does not sign.
    let wrong = with_password(
        &env,
        &["sign", "--key", key.to_str().unwrap(), &signed],
        "nope",
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("passphrase"), "{}", stderr(&wrong));

    // Sign; the reference implementation verifies what berth stored; berth verifies it.
    let out = with_password(
        &env,
        &["sign", "--key", key.to_str().unwrap(), &signed],
        "s3cret",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    let theirs = Command::new("python3")
        .args([
            COSIGN_REF,
            "verify-remote",
            &a,
            "team/app",
            &digest,
            public.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert_eq!(String::from_utf8_lossy(&theirs.stdout).trim(), signed);
    let ok = berth_ok(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &signed],
    );
    assert!(ok.contains(&digest) && ok.contains(&signed), "{ok}");
    berth_ok(
        &env,
        &[
            "verify",
            "--key",
            public.to_str().unwrap(),
            &format!("{a}/team/app@{digest}"),
        ],
    );

    // A key made the way cosign 2.2+ makes them (scrypt N=2^16, the SIGSTORE label) signs too.
    let made = Command::new("python3")
        .args([
            COSIGN_REF,
            "genkey",
            env.path("ref").to_str().unwrap(),
            "pw",
            "16",
            "ENCRYPTED SIGSTORE PRIVATE KEY",
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let out = with_password(
        &env,
        &[
            "sign",
            "--key",
            env.path("ref.key").to_str().unwrap(),
            &signed,
        ],
        "pw",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    berth_ok(
        &env,
        &[
            "verify",
            "--key",
            env.path("ref.pub").to_str().unwrap(),
            &signed,
        ],
    );

    // A wrong key.
    with_password(
        &env,
        &["key", "generate", "--output-key-prefix", "other"],
        "x",
    );
    let other = env.path("other.pub");
    berth_fails(
        &env,
        &["verify", "--key", other.to_str().unwrap(), &signed],
        1,
        "not made by any trusted key",
    );

    let layers = signature_layers(&reg, "team/app", &digest);
    assert_eq!(layers.len(), 2);
    let berth_sig = vec![layers[0].clone()];
    // A tampered payload, with the signature kept, on another image's tag in the same repository.
    env.ok(&["tag", "sign-src:1", "sign-src:2"]);
    let other_image = format!("{a}/team/app:v2");
    let ctx = env.path("ctx2");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM sign-src:1\nLABEL changed=yes\n",
    )
    .unwrap();
    env.ok(&["build", "-q", "-t", "sign-changed:1", ctx.to_str().unwrap()]);
    berth_ok(&env, &["push", "-q", "sign-changed:1", &other_image]);
    let other_digest = remote_digest(&other_image);
    let tampered_payload = String::from_utf8(berth_sig[0].0.clone())
        .unwrap()
        .replace(&digest, &other_digest)
        .replace(":v1", ":v2")
        .into_bytes();
    let other_tag = format!("{a}/team/app:{}.sig", other_digest.replace(':', "-"));
    push_signature_manifest(
        &env,
        &other_tag,
        &[(tampered_payload, berth_sig[0].1.clone())],
    );
    berth_fails(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &other_image],
        1,
        "not made by any trusted key",
    );
    // The genuine signature of v1 put under v2's digest: it signs another digest.
    push_signature_manifest(&env, &other_tag, &berth_sig);
    berth_fails(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &other_image],
        1,
        "it signs manifest",
    );
    // The same image and signature copied to another repository: signed for another repository.
    let elsewhere = format!("{a}/attacker/app:v1");
    berth_ok(&env, &["push", "-q", "sign-src:1", &elsewhere]);
    push_signature_manifest(
        &env,
        &format!("{a}/attacker/app:{}.sig", digest.replace(':', "-")),
        &berth_sig,
    );
    berth_fails(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &elsewhere],
        1,
        "it is for repository",
    );
    // Tag substitution: v1's signed manifest served as :latest does not pass as :latest.
    let latest = format!("{a}/team/app:latest");
    berth_ok(&env, &["push", "-q", "sign-src:1", &latest]);
    berth_fails(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &latest],
        1,
        "it is for tag v1, not latest",
    );

    // The trust policy: signed-by for team/, reject for attacker/.
    let policy = env.path("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[trust]]\nscope = \"{a}/team\"\ntype = \"signed-by\"\nkeys = [\"{}\"]\n\n\
             [[trust]]\nscope = \"{a}/attacker\"\ntype = \"reject\"\n",
            public.display()
        ),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let puller = Env::new("reg-trust");
    berth_fails(
        &puller,
        &["--policy", p, "pull", &other_image],
        125,
        &format!("trust scope \"{a}/team\" (signed-by)"),
    );
    store_is_empty_and_clean(&puller);
    berth_fails(
        &puller,
        &["--policy", p, "pull", &elsewhere],
        125,
        &format!("trust scope \"{a}/attacker\" (reject)"),
    );
    let out = berth(&puller, &["--policy", p, "pull", &signed], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Signature: accepted"),
        "{}",
        stderr(&out)
    );
    // Without a scope for it, an image is accepted with a warning at pull.
    let out = berth(&Env::new("reg-trust-none"), &["pull", "-q", &signed], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: no trust policy covers"),
        "{}",
        stderr(&out)
    );
    // An unsigned image from a repository no scope covers, for the digest check below.
    berth_ok(
        &env,
        &[
            "push",
            "-q",
            "sign-changed:1",
            &format!("{a}/other/plain:1"),
        ],
    );
    berth_ok(
        &puller,
        &["--policy", p, "pull", "-q", &format!("{a}/other/plain:1")],
    );
    let unsigned_digest = remote_digest(&format!("{a}/other/plain:1"));
    // run checks the signatures kept with the image, offline.
    drop(reg);
    let run = berth(
        &puller,
        &["--policy", p, "run", "--rm", &signed, "true"],
        None,
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let shown = berth_ok(&puller, &["--policy", p, "image", "trust", &signed]);
    assert!(
        shown.contains("Rule:   signed-by") && shown.contains("Status: accepted: signed by key"),
        "{shown}"
    );
    // An unsigned image named into the scope is refused at run and create.
    puller.ok(&[
        "import",
        env.path("busybox.tar").to_str().unwrap(),
        &format!("{a}/team/local:1"),
    ]);
    for cmd in ["run", "create"] {
        let out = berth(
            &puller,
            &["--policy", p, cmd, &format!("{a}/team/local:1"), "true"],
            None,
        );
        assert_eq!(out.status.code(), Some(125), "{cmd}: {}", stderr(&out));
        assert!(stderr(&out).contains("(signed-by)"), "{}", stderr(&out));
    }
    let shown = berth_ok(
        &puller,
        &[
            "--policy",
            p,
            "image",
            "trust",
            &format!("{a}/team/local:1"),
        ],
    );
    assert!(shown.contains("Status: refused"), "{shown}");

    // Named by digest, an image is judged by the repository of that name: an unsigned image
    // pulled from elsewhere cannot be run as team/app@its-digest.
    berth_fails(
        &puller,
        &[
            "--policy",
            p,
            "run",
            "--rm",
            &format!("{a}/team/app@{unsigned_digest}"),
            "true",
        ],
        125,
        "(signed-by)",
    );
    // start judges the container's own image: a tag moved to a signed image since create does
    // not let the old one start.
    let moving = format!("{a}/team/moving:1");
    puller.ok(&["tag", &format!("{a}/other/plain:1"), &moving]);
    let created = puller.ok(&["create", &moving, "true"]);
    puller.ok(&["tag", &signed, &moving]);
    berth_fails(
        &puller,
        &["--policy", p, "start", created.trim()],
        125,
        "not the container's image",
    );
    puller.ok(&["rm", created.trim()]);

    // Signatures travel with save and load: the loaded image runs under the policy.
    let archive = puller.path("signed.tar");
    let local = format!("{a}/team/local:1");
    puller.ok(&["save", "-o", archive.to_str().unwrap(), &signed, &local]);
    let loader = Env::new("reg-trust-load");
    loader.ok(&["load", "-i", archive.to_str().unwrap()]);
    let run = berth(
        &loader,
        &["--policy", p, "run", "--rm", &signed, "true"],
        None,
    );
    assert!(run.status.success(), "{}", stderr(&run));
    // podman loads the same archive (it ignores the signatures file).
    let podman_loaded = loader.podman(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert!(podman_loaded.status.success(), "{}", stderr(&podman_loaded));
    // An archive that attaches the signed image's signatures to another image is refused.
    let unpacked = puller.path("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    sh(&format!(
        "tar -C {} -xf {}",
        unpacked.display(),
        archive.display()
    ));
    let sigs_path = unpacked.join("berth-signatures.json");
    let local_id = common::inspect(&puller, &local, "{{.Id}}");
    let signed_id = common::inspect(&puller, &signed, "{{.Id}}");
    let forged = std::fs::read_to_string(&sigs_path)
        .unwrap()
        .replace(&signed_id, &local_id);
    std::fs::write(&sigs_path, forged).unwrap();
    let forged_tar = puller.path("forged.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        unpacked.display(),
        forged_tar.display()
    ));
    let forger = Env::new("reg-trust-forged");
    let out = berth(&forger, &["load", "-i", forged_tar.to_str().unwrap()], None);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&format!(
            "is the manifest of {signed_id}, not of {local_id}"
        )),
        "{}",
        stderr(&out)
    );
    store_is_empty_and_clean(&forger);
}

/// A registry with the OCI 1.1 referrers API, in front of a docker-registry (which has none): a
/// manifest put with a `subject` is remembered and its answer carries `OCI-Subject`, `GET
/// /v2/<name>/referrers/<digest>` answers with an index of those remembered, one per page
/// (`?page=N`, linked with `Link: <...>; rel="next"`), and every other request goes to the
/// registry behind, one per connection.
struct ReferrersApi {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// (repository, subject digest, descriptor) of each referrer put.
    seen: Arc<Mutex<Vec<(String, String, serde_json::Value)>>>,
    /// How many referrers queries were answered.
    queries: Arc<AtomicUsize>,
    /// Answer referrers queries with a server error.
    broken: Arc<AtomicBool>,
}

impl ReferrersApi {
    fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let queries = Arc::new(AtomicUsize::new(0));
        let broken = Arc::new(AtomicBool::new(false));
        let (s, v, q, x) = (stop.clone(), seen.clone(), queries.clone(), broken.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (up, v, q, x) = (upstream.clone(), v.clone(), q.clone(), x.clone());
                std::thread::spawn(move || {
                    let _ = referrers_one(conn, &up, &v, &q, &x);
                });
            }
        });
        Self {
            addr,
            stop,
            seen,
            queries,
            broken,
        }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for ReferrersApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn referrers_one(
    client: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<(String, String, serde_json::Value)>>,
    queries: &AtomicUsize,
    broken: &AtomicBool,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    let mut first = head[0].split(' ');
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let len: usize = head
        .iter()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let mut client = client;
    if method == "GET"
        && let Some((repo, digest)) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split_once("/referrers/"))
    {
        queries.fetch_add(1, Ordering::SeqCst);
        let (digest, page) = match digest.split_once("?page=") {
            Some((d, p)) => (d, p.parse::<usize>().unwrap()),
            None => (digest, 0),
        };
        if broken.load(Ordering::SeqCst) {
            client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        let manifests: Vec<serde_json::Value> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, s, _)| r == repo && s == digest)
            .map(|(_, _, d)| d.clone())
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests.get(page).into_iter().collect::<Vec<_>>(),
        })
        .to_string();
        let link = if page + 1 < manifests.len() {
            format!(
                "Link: </v2/{repo}/referrers/{digest}?page={}>; rel=\"next\"\r\n",
                page + 1
            )
        } else {
            String::new()
        };
        write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\n\
             {link}Content-Length: {}\r\nConnection: close\r\n\r\n{index}",
            index.len()
        )?;
        return Ok(());
    }
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    forward_head(&mut up, &head)?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let subject = (method == "PUT" && path.contains("/manifests/"))
        .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|m| {
            let subject = m["subject"]["digest"].as_str()?.to_owned();
            Some((m, subject))
        });
    if let Some((m, subject)) = subject
        && answer.starts_with(b"HTTP/1.1 201")
    {
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split_once("/manifests/"))
            .unwrap()
            .0
            .to_owned();
        let descriptor = serde_json::json!({
            "mediaType": m["mediaType"],
            "digest": sha256(&body),
            "size": body.len(),
            "artifactType": m["artifactType"],
        });
        seen.lock()
            .unwrap()
            .push((repo, subject.clone(), descriptor));
        let at = answer.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let header = format!("OCI-Subject: {subject}\r\n");
        answer.splice(at..at, header.into_bytes());
    }
    client.write_all(&answer)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

#[test]
fn signatures_published_as_oci_referrers() {
    if !signing_ready() {
        return;
    }
    let env = Env::new("reg-referrers");
    let (reg, signed, digest) = registry_with_image(&env, "ref-src:1", "team/app:v1");
    let a = reg.addr();
    let out = with_password(&env, &["key", "generate"], "pw");
    assert!(out.status.success(), "{}", stderr(&out));
    let (key, public) = (env.path("cosign.key"), env.path("cosign.pub"));
    let sign = |image: &str, key: &Path, password: &str| {
        let out = with_password(
            &env,
            &[
                "sign",
                "--registry-referrers-mode",
                "oci-1-1",
                "--key",
                key.to_str().unwrap(),
                image,
            ],
            password,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    };
    let referrers_tag = format!("docker://{a}/team/app:{}", digest.replace(':', "-"));
    let tag_index = || -> serde_json::Value {
        serde_json::from_str(&skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &referrers_tag,
        ]))
        .unwrap()
    };
    let reference = |args: &[&str]| {
        Command::new("python3")
            .arg(COSIGN_REF)
            .args(args)
            .output()
            .unwrap()
    };

    // docker-registry has no referrers API: the signature goes to the referrers tag, and no
    // .sig tag is made.
    sign(&signed, &key, "pw");
    let index = tag_index();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(
        entries[0]["artifactType"],
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    );
    let sig_tag = format!("docker://{a}/team/app:{}.sig", digest.replace(':', "-"));
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &sig_tag])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a .sig tag was made");
    // The independent implementation finds and verifies it; so does berth.
    let theirs = reference(&[
        "verify-referrers",
        &a,
        "team/app",
        &digest,
        public.to_str().unwrap(),
    ]);
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert_eq!(String::from_utf8_lossy(&theirs.stdout).trim(), signed);
    let ok = berth_ok(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &signed],
    );
    assert!(ok.contains(&digest), "{ok}");
    // Signing again adds a signature beside the first (its payload has its own time, in
    // seconds; within the same second the same manifest would be put again, and listed once).
    std::thread::sleep(Duration::from_millis(1100));
    sign(&signed, &key, "pw");
    let index = tag_index();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    assert_ne!(entries[0]["digest"], entries[1]["digest"]);

    // A signature the independent implementation publishes as a referrer verifies with berth,
    // and is listed beside berth's.
    let made = reference(&[
        "genkey",
        env.path("ref").to_str().unwrap(),
        "pw2",
        "15",
        "ENCRYPTED COSIGN PRIVATE KEY",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let manifest_raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{signed}"),
    ]);
    let media_type = serde_json::from_str::<serde_json::Value>(&manifest_raw).unwrap()["mediaType"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = reference(&[
        "sign-referrer",
        &a,
        "team/app",
        &digest,
        &media_type,
        &manifest_raw.len().to_string(),
        env.path("ref.key").to_str().unwrap(),
        "pw2",
        &signed,
    ]);
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert_eq!(tag_index()["manifests"].as_array().unwrap().len(), 3);
    berth_ok(
        &env,
        &[
            "verify",
            "--key",
            env.path("ref.pub").to_str().unwrap(),
            &signed,
        ],
    );

    // A referrer listed under this digest whose subject is another manifest does not count:
    // the referrers tag is anyone's to write.
    let other = format!("{a}/team/app:other");
    let ctx = env.path("ctx-other");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM ref-src:1\nLABEL other=1\n").unwrap();
    env.ok(&["build", "-q", "-t", "ref-other:1", ctx.to_str().unwrap()]);
    berth_ok(&env, &["push", "-q", "ref-other:1", &other]);
    let other_digest = remote_digest(&other);
    let copied = serde_json::to_string(&tag_index()).unwrap();
    let tag = other_digest.replace(':', "-");
    assert_eq!(
        http_put(
            &a,
            &format!("/v2/team/app/manifests/{tag}"),
            "application/vnd.oci.image.index.v1+json",
            copied.as_bytes()
        ),
        201
    );
    berth_fails(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &other],
        1,
        "no signature",
    );

    // A wrong key is refused.
    with_password(
        &env,
        &["key", "generate", "--output-key-prefix", "wrong"],
        "x",
    );
    berth_fails(
        &env,
        &[
            "verify",
            "--key",
            env.path("wrong.pub").to_str().unwrap(),
            &signed,
        ],
        1,
        "not made by any trusted key",
    );

    // A signed-by scope accepts the pull with the signature found among the referrers, and
    // refuses an image that has none.
    let policy = env.path("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[trust]]\nscope = \"{a}/team\"\ntype = \"signed-by\"\nkeys = [\"{}\"]\n",
            public.display()
        ),
    )
    .unwrap();
    let puller = Env::new("reg-referrers-pull");
    let pull = |image: &str| {
        let mut cmd = puller.command(&["--policy", policy.to_str().unwrap(), "pull", "-q", image]);
        cmd.output().unwrap()
    };
    let out = pull(&signed);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = pull(&other);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("(signed-by): no signature"),
        "{}",
        stderr(&out)
    );

    // A registry with the referrers API: the manifest's PUT answers OCI-Subject, so no referrers
    // tag is written, and both readers find the signature through the API.
    let api = ReferrersApi::start(a.clone());
    let b = api.addr();
    let via_api = format!("{b}/team/api:v1");
    berth_ok(&env, &["push", "-q", "ref-src:1", &via_api]);
    // The wrong key's signature first: the right one is then on the answer's second page.
    sign(&via_api, &env.path("wrong.key"), "x");
    sign(&via_api, &key, "pw");
    assert_eq!(api.seen.lock().unwrap().len(), 2);
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{a}/team/api:{}", digest.replace(':', "-")),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a referrers tag was written");
    let ok = berth_ok(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &via_api],
    );
    assert!(ok.contains(&digest), "{ok}");
    let theirs = reference(&[
        "verify-referrers",
        &b,
        "team/api",
        &digest,
        public.to_str().unwrap(),
    ]);
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert!(api.queries.load(Ordering::SeqCst) >= 2);

    // With the referrers API broken, a signature under the .sig tag still verifies (with a
    // warning); with none there, the referrers' error is what verify says.
    api.broken.store(true, Ordering::SeqCst);
    berth_fails(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &via_api],
        1,
        "referrers of",
    );
    let out = with_password(
        &env,
        &["sign", "--key", key.to_str().unwrap(), &via_api],
        "pw",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = berth(
        &env,
        &["verify", "--key", public.to_str().unwrap(), &via_api],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reading the referrers of"),
        "{}",
        stderr(&out)
    );
}

/// A PUT over plain HTTP, one connection; the answer's status.
fn http_put(addr: &str, path: &str, content_type: &str, body: &[u8]) -> u16 {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_referrers_answers_are_refused() {
    if !common::ready(&[]) {
        return;
    }
    let env = Env::new("reg-referrers-hostile");
    let out = with_password(&env, &["key", "generate"], "pw");
    assert!(out.status.success(), "{}", stderr(&out));
    let public = env.path("cosign.pub");
    let img = Arc::new(tiny_image("an image whose referrers lie\n"));
    let bad = Arc::new(AtomicUsize::new(0));
    let pages = Arc::new(AtomicUsize::new(0));
    let (served, which, asked) = (img.clone(), bad.clone(), pages.clone());
    let registry = Mock::start(Arc::new(move |r: &Req, addr| {
        if r.path.contains("/referrers/") {
            asked.fetch_add(1, Ordering::SeqCst);
            return match which.load(Ordering::SeqCst) {
                // Not an index.
                0 => Resp::ok("text/html", b"<html>referrers</html>".to_vec()),
                // An index too large to read.
                1 => {
                    let mut big =
                        br#"{"schemaVersion":2,"manifests":[],"annotations":{"x":""#.to_vec();
                    big.resize(5 << 20, b'a');
                    big.extend_from_slice(br#""}}"#);
                    Resp::ok("application/vnd.oci.image.index.v1+json", big)
                }
                // Not JSON.
                2 => Resp::ok("application/vnd.oci.image.index.v1+json", b"{oops".to_vec()),
                // A server error.
                3 => Resp::status(500),
                // Pages that link to themselves for ever, or to another host.
                _ => {
                    let mut resp = Resp::ok(
                        "application/vnd.oci.image.index.v1+json",
                        br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
                    );
                    let next = if which.load(Ordering::SeqCst) == 4 {
                        r.path.clone()
                    } else {
                        format!("http://localhost:{}{}", addr.port(), r.path)
                    };
                    resp.headers
                        .push(("Link".into(), format!("<{next}>; rel=\"next\"")));
                    resp
                }
            };
        }
        if r.path.contains(".sig") || r.path.contains("/manifests/sha256-") {
            return Resp::status(404);
        }
        serve_tiny(&served, r)
    }));
    let image = format!("{}/img:1", registry.addr);
    for (i, expect) in [
        "not an image index",
        "more than the",
        "referrers of",
        "unknown: scripted",
    ]
    .into_iter()
    .enumerate()
    {
        bad.store(i, Ordering::SeqCst);
        berth_fails(
            &env,
            &["verify", "--key", public.to_str().unwrap(), &image],
            1,
            expect,
        );
    }
    // A page linking to itself is followed a bounded number of times; one linking to another
    // host (which would get the credentials) is not followed at all.
    for (i, asked) in [(4, 16), (5, 1)] {
        bad.store(i, Ordering::SeqCst);
        pages.store(0, Ordering::SeqCst);
        berth_fails(
            &env,
            &["verify", "--key", public.to_str().unwrap(), &image],
            1,
            "no signature",
        );
        assert_eq!(pages.load(Ordering::SeqCst), asked, "case {i}");
    }
}

/// A docker-registry holding busybox, imported as `local` and pushed as `remote` (a repository
/// and tag); the registry, the pushed image's name and its digest.
fn registry_with_image(env: &Env, local: &str, remote: &str) -> (RealRegistry, String, String) {
    let reg = RealRegistry::start(None, tempfile::tempdir_in("/tmp").unwrap());
    let tar = env.busybox_tar();
    env.ok(&["import", tar.to_str().unwrap(), local]);
    let image = format!("{}/{remote}", reg.addr());
    berth_ok(env, &["push", "-q", local, &image]);
    let digest = remote_digest(&image);
    (reg, image, digest)
}

/// The digest a registry gives for an image (`skopeo inspect`).
fn remote_digest(image: &str) -> String {
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{image}"),
    ])
    .trim()
    .to_owned()
}
