//! The container commands: create, start, run, exec and rm.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use berth_engine::{Engine, EngineError, ExecOptions, RunOptions, Stdio, parse_bytes};
use clap::Args;

use crate::{CmdResult, EXIT_ENGINE, Failure};

/// The flags `run`, `create` and `exec` share: how the process runs.
#[derive(Args)]
pub struct ProcessArgs {
    /// Keep STDIN open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    user: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass the host's value).
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    process: ProcessArgs,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Read environment variables from a file.
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// Overwrite the image's default ENTRYPOINT.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro]).
    #[arg(short, long)]
    volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|tmpfs,source=,target=,readonly).
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS]).
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    read_only: bool,
    /// Network: "none" (the default, until berth has container networking) or "host".
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Add Linux capabilities.
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    privileged: bool,
    /// Security options: no-new-privileges[=false], seccomp=unconfined, seccomp=PROFILE.json.
    #[arg(long)]
    security_opt: Vec<String>,
    /// Memory limit (e.g. 512m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited; default 2048).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Ulimit options (NAME=SOFT[:HARD]).
    #[arg(long)]
    ulimit: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    init: bool,
    /// OCI runtime: berth-runtime (default), runc, crun, or a path.
    #[arg(long)]
    runtime: Option<String>,
    /// Set metadata on a container.
    #[arg(short, long)]
    label: Vec<String>,
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args)]
pub struct RunArgs {
    /// Run the container in the background and print its ID.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    attach: bool,
    /// Attach the container's STDIN.
    #[arg(short, long)]
    interactive: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct ExecArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    process: ProcessArgs,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container.
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes (berth has none yet).
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct SuperviseArgs {
    container: String,
}

/// `-e KEY` takes the host's value, or drops the variable when the host has none.
fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_owned())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

fn read_env_file(path: &PathBuf) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.with_context(|| format!("read {}", path.display()))?;
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.extend(env_entry(line));
    }
    Ok(out)
}

fn run_options(a: &CreateArgs) -> anyhow::Result<RunOptions> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.process.env.iter().filter_map(|e| env_entry(e)));
    Ok(RunOptions {
        image: a.image.clone(),
        name: a.name.clone(),
        cmd: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        env,
        workdir: a.process.workdir.clone(),
        user: a.process.user.clone(),
        hostname: a.hostname.clone(),
        tty: a.process.tty,
        interactive: a.process.interactive,
        auto_remove: a.rm,
        volumes: a.volume.clone(),
        mounts: a.mount.clone(),
        tmpfs: a.tmpfs.clone(),
        read_only: a.read_only,
        network: a.network.clone(),
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        security_opt: a.security_opt.clone(),
        memory: a.memory.as_deref().map(parse_bytes).transpose()?,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        ulimits: a.ulimit.clone(),
        init: a.init,
        runtime: a.runtime.clone(),
        labels: a.label.clone(),
    })
}

/// Docker's status for a failed run/create/start: the start failure's own code, else 125.
fn run_failure(e: EngineError) -> Failure {
    let code = match &e {
        EngineError::Start { code, .. } => *code as u8,
        _ => EXIT_ENGINE,
    };
    Failure::with_code(code, anyhow::Error::from(e))
}

fn exit_with(code: i32) -> CmdResult {
    if code == 0 {
        return Ok(());
    }
    Err(Failure::silent(code.clamp(0, 255) as u8))
}

pub fn create(engine: &Engine, a: &CreateArgs) -> CmdResult {
    let options = run_options(a).map_err(|e| Failure::with_code(EXIT_ENGINE, e))?;
    let c = engine.create_container(options).map_err(run_failure)?;
    println!("{}", c.id);
    Ok(())
}

pub fn run(engine: &Engine, a: &RunArgs, cli: &crate::Cli) -> CmdResult {
    let options = run_options(&a.create).map_err(|e| Failure::with_code(EXIT_ENGINE, e))?;
    let stdio = Stdio {
        tty: options.tty,
        stdin: options.interactive,
    };
    let auto_remove = options.auto_remove;
    let c = engine.create_container(options).map_err(run_failure)?;
    tracing::debug!(id = %c.id, "created");
    if a.detach {
        start_detached(cli, &c.id).map_err(|e| Failure::with_code(EXIT_ENGINE, e))?;
        println!("{}", c.id);
        return Ok(());
    }
    match engine.run_attached(&c.id, stdio) {
        Ok(code) => exit_with(code),
        Err(e) => {
            if auto_remove {
                let _ = engine.remove_container(&c.id, true);
            }
            Err(run_failure(e))
        }
    }
}

pub fn start(engine: &Engine, a: &StartArgs, cli: &crate::Cli) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::with_code(
                EXIT_ENGINE,
                anyhow!("you cannot start and attach multiple containers at once"),
            ));
        }
        let c = engine.container(&a.containers[0]).map_err(run_failure)?;
        let stdio = Stdio {
            tty: c.options.tty,
            stdin: a.interactive,
        };
        let code = engine.run_attached(&c.id, stdio).map_err(run_failure)?;
        return exit_with(code);
    }
    let mut failed = None;
    for name in &a.containers {
        let result = engine
            .container(name)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                if engine.is_running(&c) {
                    return Ok(());
                }
                start_detached(cli, &c.id)
            });
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = Some(anyhow!("failed to start containers: {name}"));
            }
        }
    }
    failed.map_or(Ok(()), |e| Err(Failure::from(e)))
}

/// Starts a container in the background: a detached `berth` process stays with it, reaps it and
/// releases its root when it exits. Returns once the container runs, or with the start error.
fn start_detached(cli: &crate::Cli, id: &str) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("locating the berth binary")?;
    let mut child = std::process::Command::new(exe)
        .arg("--root")
        .arg(&cli.root)
        .arg("--runroot")
        .arg(&cli.runroot)
        .arg("container-supervise")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the container's supervisor")?;
    let mut report = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut report)
        .context("reading the supervisor")?;
    if report.trim() == "started" {
        return Ok(());
    }
    let _ = child.wait();
    Err(anyhow!("{}", report.trim()))
}

/// The hidden `container-supervise` command: runs a container with no terminal attached, tells
/// the starting `berth` on stdout once it runs (or why it could not), and stays until it exits.
pub fn supervise(engine: &Engine, a: &SuperviseArgs) -> CmdResult {
    let c = engine.container(&a.container)?;
    let stdio = Stdio {
        tty: c.options.tty,
        stdin: false,
    };
    let report = |text: &str| {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
        // Nothing more goes to the starting process; it stops reading at end of file.
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let _ = rustix::stdio::dup2_stdout(&null);
        }
    };
    match engine.run_detached(&c.id, stdio, &|| report("started")) {
        Ok(_) => Ok(()),
        Err(e) => {
            report(&format!("{e:#}"));
            Err(Failure::silent(EXIT_ENGINE))
        }
    }
}

pub fn exec(engine: &Engine, a: &ExecArgs) -> CmdResult {
    let opts = ExecOptions {
        env: a.process.env.iter().filter_map(|e| env_entry(e)).collect(),
        workdir: a.process.workdir.clone(),
        user: a.process.user.clone(),
    };
    let stdio = Stdio {
        tty: a.process.tty,
        stdin: a.process.interactive,
    };
    let code = engine
        .exec(&a.container, a.command.clone(), opts, stdio)
        .map_err(|e| match e {
            EngineError::NoSuchContainer(_) | EngineError::ContainerState(_) => Failure::from(e),
            e => run_failure(e),
        })?;
    exit_with(code)
}

pub fn rm(engine: &Engine, a: &RmArgs) -> CmdResult {
    let mut failed = None;
    for name in &a.containers {
        match engine.remove_container(name, a.force) {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = Some(Failure::from(e));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}
