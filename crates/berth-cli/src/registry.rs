//! `berth pull`, `push`, `login`, `logout` and `manifest inspect`.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::anyhow;
use berth_engine::registry::{Credentials, Options, Registry};
use berth_engine::{Engine, LayerStatus, Transfer};
use berth_types::Digest;
use clap::{Args, ValueEnum};

use crate::{CmdResult, EXIT_FAILURE, Failure};

/// How to reach a registry: the flags podman and skopeo share.
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Require HTTPS and verify certificates (--tls-verify=false allows plain HTTP and any
    /// certificate). Registries on loopback addresses may use plain HTTP, as Docker allows.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    tls_verify: Option<bool>,
    /// A directory of *.crt CA certificates for the registry, and of a client certificate
    /// (NAME.cert) with its key (NAME.key).
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Credentials (USERNAME[:PASSWORD]) to use instead of the stored ones.
    #[arg(long, value_name = "USERNAME[:PASSWORD]")]
    creds: Option<String>,
    /// The credentials file (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "PATH")]
    authfile: Option<PathBuf>,
}

impl RegistryArgs {
    fn options(&self) -> Result<Options, Failure> {
        let credentials = match &self.creds {
            None => None,
            Some(c) => {
                let (u, p) = match c.split_once(':') {
                    Some((u, p)) => (u.to_owned(), p.to_owned()),
                    None => (c.clone(), read_password("Password: ")?),
                };
                if u.is_empty() {
                    return Err(Failure::with_code(
                        EXIT_FAILURE,
                        anyhow!("--creds: the user name is empty"),
                    ));
                }
                Some(Credentials {
                    username: u,
                    password: p,
                })
            }
        };
        Ok(Options {
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            credentials,
            auth_file: self.authfile.clone(),
            timeout: None,
        })
    }
}

#[derive(Args)]
pub struct PullArgs {
    /// NAME[:TAG|@DIGEST]
    name: String,
    /// The platform to pull from a multi-platform image (os/arch[/variant]).
    #[arg(long)]
    platform: Option<String>,
    /// Print only the image's reference.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub struct PushArgs {
    /// NAME[:TAG]
    name: String,
    /// Where to push, when not NAME itself (as podman's `push IMAGE DESTINATION`).
    destination: Option<String>,
    /// Print only the pushed manifest's digest.
    #[arg(short, long)]
    quiet: bool,
    /// Upload blobs in chunks of this many bytes (default: in one request up to 64 MiB).
    #[arg(long, hide = true)]
    chunk_size: Option<u64>,
    /// Write the pushed manifest's digest to this file.
    #[arg(long)]
    digestfile: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub struct LoginArgs {
    /// The registry (default docker.io).
    server: Option<String>,
    #[arg(short, long)]
    username: Option<String>,
    /// The password (prefer --password-stdin).
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The registry (default docker.io).
    server: Option<String>,
    /// The credentials file (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "PATH")]
    authfile: Option<PathBuf>,
}

#[derive(Args)]
pub struct ManifestInspectArgs {
    /// NAME[:TAG|@DIGEST]
    name: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Prints transfers as `docker pull` and `docker push` do: one line per layer, redrawn in place
/// on a terminal, one line per change of state otherwise.
struct Reporter {
    tty: bool,
    quiet: bool,
    state: Mutex<ReporterState>,
}

#[derive(Default)]
struct ReporterState {
    order: Vec<Digest>,
    lines: HashMap<Digest, String>,
    drawn: usize,
}

fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

fn bar(current: u64, total: u64) -> String {
    let width = 50;
    let filled = if total == 0 {
        width
    } else {
        ((current as f64 / total as f64) * width as f64) as usize
    }
    .min(width);
    let mut s = String::with_capacity(width + 2);
    s.push('[');
    for i in 0..width {
        s.push(if i < filled.saturating_sub(1) {
            '='
        } else if i + 1 == filled {
            '>'
        } else {
            ' '
        });
    }
    s.push(']');
    s
}

impl Reporter {
    fn new(quiet: bool) -> Self {
        Self {
            tty: std::io::stdout().is_terminal(),
            quiet,
            state: Mutex::default(),
        }
    }

    fn report(&self, t: Transfer) {
        if self.quiet {
            return;
        }
        let short = &t.digest.hex()[..12];
        let (text, progress) = match &t.status {
            LayerStatus::Waiting => ("Pulling fs layer".to_owned(), false),
            LayerStatus::AlreadyExists => ("Already exists".into(), false),
            LayerStatus::Downloading => ("Downloading".into(), true),
            LayerStatus::Pushing => ("Pushing".into(), true),
            LayerStatus::DownloadComplete => ("Download complete".into(), false),
            LayerStatus::PullComplete => ("Pull complete".into(), false),
            LayerStatus::Preparing => ("Preparing".into(), false),
            LayerStatus::LayerExists => ("Layer already exists".into(), false),
            LayerStatus::MountedFrom(r) => (format!("Mounted from {r}"), false),
            LayerStatus::Pushed => ("Pushed".into(), false),
        };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let line = if progress {
            format!(
                "{short}: {text} {} {}/{}",
                bar(t.current, t.total),
                human(t.current),
                human(t.total)
            )
        } else {
            format!("{short}: {text}")
        };
        let mut out = std::io::stdout().lock();
        if !self.tty {
            if !progress {
                let _ = writeln!(out, "{line}");
            }
            return;
        }
        if !st.lines.contains_key(&t.digest) {
            st.order.push(t.digest);
        }
        st.lines.insert(t.digest, line);
        // Redraw every layer's line in place.
        if st.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", st.drawn);
        }
        for d in &st.order {
            let _ = writeln!(out, "\x1b[2K{}", st.lines[d]);
        }
        st.drawn = st.order.len();
        let _ = out.flush();
    }
}

pub fn pull(engine: &Engine, a: &PullArgs, policy: &berth_scan::policy::Policy) -> CmdResult {
    let options = a.registry.options()?;
    let reference = berth_types::Reference::parse_normalized(&a.name)
        .map_err(|e| Failure::with_code(EXIT_FAILURE, e.into()))?;
    if !a.quiet {
        match reference.tag() {
            Some(t) if reference.digest().is_none() => {
                println!("{t}: Pulling from {}", reference.path())
            }
            _ => println!(
                "{}: Pulling from {}",
                reference
                    .digest()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                reference.path()
            ),
        }
    }
    let reporter = Reporter::new(a.quiet);
    let report = |t: Transfer| reporter.report(t);
    let pulled = engine.pull(&a.name, &options, a.platform.as_deref(), policy, &report)?;
    if pulled.unchecked {
        eprintln!(
            "warning: no trust policy covers {}: its signatures were not checked",
            pulled.reference.name()
        );
    }
    for v in &pulled.verified {
        eprintln!(
            "Signature: accepted, signed by key {} for {}",
            v.key, v.payload.reference
        );
    }
    if !a.quiet {
        println!("Digest: {}", pulled.digest);
        let name = pulled.reference.familiar();
        if pulled.downloaded {
            println!("Status: Downloaded newer image for {name}");
        } else {
            println!("Status: Image is up to date for {name}");
        }
    }
    println!("{}", pulled.reference);
    Ok(())
}

pub fn push(engine: &Engine, a: &PushArgs) -> CmdResult {
    let options = a.registry.options()?;
    let target = a.destination.as_deref().unwrap_or(&a.name);
    if !a.quiet
        && let Ok(r) = berth_types::Reference::parse_normalized_named(target)
    {
        println!("The push refers to repository [{}]", r.name());
    }
    let reporter = Reporter::new(a.quiet);
    let report = |t: Transfer| reporter.report(t);
    let pushed = engine.push(
        &a.name,
        a.destination.as_deref(),
        &options,
        a.chunk_size,
        &report,
    )?;
    if a.quiet {
        println!("{}", pushed.digest);
    } else {
        println!(
            "{}: digest: {} size: {}",
            pushed.reference.tag().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        );
    }
    if let Some(path) = &a.digestfile {
        std::fs::write(path, pushed.digest.to_string()).map_err(|e| {
            Failure::with_code(EXIT_FAILURE, anyhow!("write {}: {e}", path.display()))
        })?;
    }
    Ok(())
}

/// Reads a password from the terminal without echo, or a line from stdin.
fn read_password(prompt: &str) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let t = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &t {
            let mut quiet = t.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ =
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        }
        t
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t);
        eprintln!();
    }
    read.map_err(|e| Failure::with_code(EXIT_FAILURE, anyhow!("read the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn server_domain(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        s => s.to_owned(),
    }
}

pub fn login(a: &LoginArgs) -> CmdResult {
    let domain = server_domain(a.server.as_deref());
    let user_fail = |m: String| Failure::with_code(EXIT_FAILURE, anyhow!(m));
    if a.password.is_some() && a.password_stdin {
        return Err(user_fail(
            "--password and --password-stdin are mutually exclusive".into(),
        ));
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None if a.password_stdin => {
            return Err(user_fail(
                "Must provide --username with --password-stdin".into(),
            ));
        }
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(user_fail(
                    "cannot prompt for a user name: stdin is not a terminal (use --username)"
                        .into(),
                ));
            }
            eprint!("Username: ");
            let _ = std::io::stderr().flush();
            let mut u = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut u)
                .map_err(|e| user_fail(format!("read the user name: {e}")))?;
            u.trim().to_owned()
        }
    };
    if username.is_empty() {
        return Err(user_fail("the user name is empty".into()));
    }
    let password = match &a.password {
        Some(p) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        None => read_password("Password: ")?,
    };
    if password.is_empty() {
        return Err(user_fail("the password is empty".into()));
    }
    let mut options = a.registry.options()?;
    let creds = Credentials { username, password };
    options.credentials = Some(creds.clone());
    let registry = Registry::connect(&domain, &options)
        .map_err(|e| Failure::with_code(EXIT_FAILURE, e.into()))?;
    let identity_token = registry
        .check_login()
        .map_err(|e| Failure::with_code(EXIT_FAILURE, e.into()))?;
    // A token service that gives an identity token gets it back instead of the password,
    // which is then not written anywhere.
    let stored = match &identity_token {
        Some(token) => options
            .auth_file()
            .store_identity_token(&domain, &creds.username, token),
        None => options.auth_file().store(&domain, &creds),
    };
    stored.map_err(|e| Failure::with_code(EXIT_FAILURE, e.into()))?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(a: &LogoutArgs) -> CmdResult {
    let domain = server_domain(a.server.as_deref());
    let options = Options {
        auth_file: a.authfile.clone(),
        ..Options::default()
    };
    let key = berth_engine::registry::auth_key(&domain);
    let removed = options
        .auth_file()
        .remove(&domain)
        .map_err(|e| Failure::with_code(EXIT_FAILURE, e.into()))?;
    if removed {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}

pub fn manifest_inspect(engine: &Engine, a: &ManifestInspectArgs) -> CmdResult {
    let options = a.registry.options()?;
    let m = engine.inspect_remote(&a.name, &options)?;
    let v: serde_json::Value = serde_json::from_slice(&m.bytes)
        .map_err(|e| Failure::with_code(EXIT_FAILURE, anyhow!("manifest {}: {e}", m.digest)))?;
    let text = serde_json::to_string_pretty(&v).expect("plain JSON");
    println!("{text}");
    Ok(())
}

#[derive(Args)]
pub struct KeyGenerateArgs {
    /// Write PREFIX.key and PREFIX.pub (cosign's file names by default).
    #[arg(long, default_value = "cosign")]
    output_key_prefix: String,
    /// Replace existing files.
    #[arg(short, long)]
    force: bool,
}

/// `--registry-referrers-mode`, as cosign names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReferrersModeArg {
    /// The `sha256-<hex>.sig` tag, which cosign, podman and skopeo read.
    Legacy,
    /// An OCI 1.1 referrer of the image's manifest (through the registry's referrers API, or
    /// its `sha256-<hex>` referrers tag).
    #[value(name = "oci-1-1")]
    Oci11,
}

#[derive(Args)]
pub struct SignArgs {
    /// The encrypted private key (from `berth key generate` or cosign).
    #[arg(long)]
    key: PathBuf,
    /// Where the signature goes.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ReferrersModeArg::Legacy)]
    registry_referrers_mode: ReferrersModeArg,
    /// NAME[:TAG|@DIGEST] in a registry.
    image: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// A public key to accept signatures of (repeatable).
    #[arg(long, required = true)]
    key: Vec<PathBuf>,
    /// NAME[:TAG|@DIGEST] in a registry.
    image: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub struct TrustArgs {
    /// An image in the store.
    image: String,
}

/// The passphrase of a private key: `BERTH_PASSWORD` or `COSIGN_PASSWORD` when set (even
/// empty), else a prompt on a terminal (twice when `confirm`), else stdin's first line.
fn passphrase(confirm: bool) -> Result<String, Failure> {
    for var in ["BERTH_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            return Ok(p);
        }
    }
    let first = read_password("Enter password for private key: ")?;
    if confirm && std::io::stdin().is_terminal() {
        let again = read_password("Enter password for private key again: ")?;
        if again != first {
            return Err(Failure::with_code(
                EXIT_FAILURE,
                anyhow!("the passwords do not match"),
            ));
        }
    }
    Ok(first)
}

fn user_err(e: impl Into<anyhow::Error>) -> Failure {
    Failure::with_code(EXIT_FAILURE, e.into())
}

pub fn key_generate(a: &KeyGenerateArgs) -> CmdResult {
    use std::os::unix::fs::OpenOptionsExt;
    let private = PathBuf::from(format!("{}.key", a.output_key_prefix));
    let public = PathBuf::from(format!("{}.pub", a.output_key_prefix));
    for p in [&private, &public] {
        if p.exists() && !a.force {
            return Err(user_err(anyhow!(
                "{} exists: remove it or use --force",
                p.display()
            )));
        }
    }
    let pass = passphrase(true)?;
    let key = berth_scan::sign::PrivateKey::generate();
    let pem = key.encrypt(pass.as_bytes()).map_err(user_err)?;
    // A file replaced with --force is removed first (a symlink too, not what it points at),
    // so the new one is created with its mode: the private key is never readable by others.
    let write = |path: &PathBuf, data: &str, mode: u32| -> Result<(), Failure> {
        if a.force && std::fs::symlink_metadata(path).is_ok() {
            std::fs::remove_file(path)
                .map_err(|e| user_err(anyhow!("remove {}: {e}", path.display())))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| user_err(anyhow!("write {}: {e}", path.display())))?;
        f.write_all(data.as_bytes())
            .map_err(|e| user_err(anyhow!("write {}: {e}", path.display())))
    };
    write(&private, &pem, 0o600)?;
    write(&public, &key.public().to_pem(), 0o644)?;
    eprintln!("Private key written to {}", private.display());
    eprintln!("Public key written to {}", public.display());
    Ok(())
}

pub fn sign(engine: &Engine, a: &SignArgs) -> CmdResult {
    let pem = std::fs::read_to_string(&a.key)
        .map_err(|e| user_err(anyhow!("read {}: {e}", a.key.display())))?;
    let key = berth_scan::sign::PrivateKey::decrypt(&pem, passphrase(false)?.as_bytes())
        .map_err(|e| user_err(anyhow!("{}: {e}", a.key.display())))?;
    let options = a.registry.options()?;
    let mode = match a.registry_referrers_mode {
        ReferrersModeArg::Legacy => berth_engine::ReferrersMode::Legacy,
        ReferrersModeArg::Oci11 => berth_engine::ReferrersMode::Oci11,
    };
    let digest = engine.sign(&a.image, &key, &options, mode)?;
    eprintln!("Pushing signature to: {}", a.image);
    println!("{digest}");
    Ok(())
}

fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<berth_scan::sign::PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| {
            let pem = std::fs::read_to_string(p)
                .map_err(|e| user_err(anyhow!("read {}: {e}", p.display())))?;
            berth_scan::sign::PublicKey::from_pem(&pem)
                .map_err(|e| user_err(anyhow!("{}: {e}", p.display())))
        })
        .collect()
}

fn payload_json(v: &berth_scan::trust::Verified) -> serde_json::Value {
    serde_json::json!({
        "critical": {
            "identity": {"docker-reference": v.payload.reference},
            "image": {"docker-manifest-digest": v.payload.manifest_digest.to_string()},
            "type": berth_scan::sign::PAYLOAD_TYPE,
        },
        "key": v.key,
    })
}

pub fn verify(engine: &Engine, a: &VerifyArgs) -> CmdResult {
    let keys = read_public_keys(&a.key)?;
    let options = a.registry.options()?;
    let (digest, result) = engine.verify(&a.image, &keys, &options)?;
    match result {
        Ok(verified) => {
            eprintln!("\nVerification for {} --", a.image);
            eprintln!("The following checks were performed on each of these signatures:");
            eprintln!("  - The signature was made by one of the given keys");
            eprintln!("  - The signed manifest digest is {digest}");
            eprintln!(
                "  - The signed identity names this repository (and this tag, if named by tag)\n"
            );
            let out: Vec<_> = verified.iter().map(payload_json).collect();
            println!("{}", serde_json::to_string(&out).expect("plain JSON"));
            Ok(())
        }
        Err(reasons) => Err(user_err(anyhow!(
            "no valid signature for {} ({digest}): {}",
            a.image,
            reasons.join("; ")
        ))),
    }
}

pub fn trust(engine: &Engine, a: &TrustArgs, policy: &berth_scan::policy::Policy) -> CmdResult {
    let (image, named) = engine.resolve_with_ref(&a.image)?;
    let reference = named.or_else(|| image.tags.first().cloned());
    println!("Image:  {}", a.image);
    let Some(reference) = reference else {
        println!("Scope:  none (the image has no name)");
        return Ok(());
    };
    println!("Name:   {}", reference.familiar());
    let decision = engine.trust_decision(&reference, policy)?;
    match decision.scope() {
        None => {
            println!("Scope:  none");
            println!("Rule:   accept (no trust scope applies: signatures are not checked)");
            return Ok(());
        }
        Some(s) => {
            println!("Scope:  {}", s.scope);
            println!("Rule:   {}", s.kind.name());
            for k in &s.keys {
                println!("Key:    {}", k.display());
            }
        }
    }
    match engine.check_trust_local(&a.image, policy, None) {
        Ok(Some(verified)) => {
            for v in verified {
                println!(
                    "Status: accepted: signed by key {} for {} ({})",
                    v.key, v.payload.reference, v.payload.manifest_digest
                );
            }
        }
        Ok(None) => println!("Status: accepted"),
        Err(e) => println!("Status: refused: {e}"),
    }
    Ok(())
}
