//! The container commands: create, start, run, exec and rm.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use berth_engine::{
    Container, Engine, EngineError, ExecOptions, PsFilter, RunOptions, Stdio, parse_bytes,
};
use clap::Args;

use crate::format::{human_duration, human_size};
use crate::{CmdResult, EXIT_ENGINE, EXIT_FAILURE as EXIT_FAILURE_CODE, Failure};

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
    /// PID namespace: "host" shares the host's.
    #[arg(long)]
    pid: Option<String>,
    /// IPC namespace: "host" shares the host's.
    #[arg(long)]
    ipc: Option<String>,
    /// UTS namespace: "host" shares the host's hostname.
    #[arg(long)]
    uts: Option<String>,
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
    /// Restart policy: no, on-failure[:N], always or unless-stopped.
    #[arg(long)]
    restart: Option<String>,
    /// Log driver options: max-size=SIZE, max-file=N (json-file).
    #[arg(long)]
    log_opt: Vec<String>,
    /// Break an admission policy rule on purpose: RULE=REASON (recorded in events and inspect).
    #[arg(long, value_name = "RULE=REASON")]
    policy_override: Vec<String>,
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
    /// Break an admission policy rule on purpose: RULE=REASON (recorded in events and inspect).
    #[arg(long, value_name = "RULE=REASON")]
    policy_override: Vec<String>,
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
pub struct HookArgs {
    container: String,
    action: String,
    arg: Option<String>,
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
        pid: a.pid.clone(),
        ipc: a.ipc.clone(),
        uts: a.uts.clone(),
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
        log_opts: a.log_opt.clone(),
        policy_overrides: a.policy_override.clone(),
        restart: a.restart.clone(),
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

pub fn create(engine: &Engine, a: &CreateArgs, cli: &crate::Cli) -> CmdResult {
    let options = run_options(a).map_err(|e| Failure::with_code(EXIT_ENGINE, e))?;
    admit(engine, cli, &options, None)?;
    let c = engine.create_container(options).map_err(run_failure)?;
    println!("{}", c.id);
    Ok(())
}

pub fn run(engine: &Engine, a: &RunArgs, cli: &crate::Cli) -> CmdResult {
    let options = run_options(&a.create).map_err(|e| Failure::with_code(EXIT_ENGINE, e))?;
    let stdio = Stdio {
        tty: options.tty,
        stdin: options.interactive,
        quiet: false,
    };
    let auto_remove = options.auto_remove;
    admit(engine, cli, &options, None)?;
    let c = engine.create_container(options).map_err(run_failure)?;
    tracing::debug!(id = %c.id, "created");
    if a.detach {
        start_detached(engine, cli, &c.id).map_err(run_failure)?;
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

/// The admission policy's check before a container is created or started: warnings go to
/// standard error, a denial fails the command with status 125.
pub(crate) fn admit(
    engine: &Engine,
    cli: &crate::Cli,
    options: &RunOptions,
    pinned: Option<&berth_types::Digest>,
) -> CmdResult {
    let policy = crate::policy(cli)?;
    let warnings = engine
        .admit_image(options, &policy, pinned)
        .map_err(|e| Failure::with_code(EXIT_ENGINE, e.into()))?;
    for w in warnings {
        eprintln!("WARNING: policy rule {:?}: {}", w.rule, w.finding);
    }
    Ok(())
}

pub fn start(engine: &Engine, a: &StartArgs, cli: &crate::Cli) -> CmdResult {
    for name in &a.containers {
        let c = engine.container(name).map_err(run_failure)?;
        let mut options = c.options.clone();
        options
            .policy_overrides
            .extend(a.policy_override.iter().cloned());
        admit(engine, cli, &options, Some(&c.image_id))?;
        engine
            .add_policy_overrides(&c.id, &a.policy_override)
            .map_err(run_failure)?;
    }
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
            quiet: false,
        };
        let code = engine.run_attached(&c.id, stdio).map_err(run_failure)?;
        return exit_with(code);
    }
    let mut failed = None;
    for name in &a.containers {
        let result = engine
            .current(name)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                use berth_types::state::{Action, Verdict};
                match c.state.status.check(Action::Start, &c.name) {
                    Verdict::Nothing => Ok(()),
                    Verdict::Refuse(m) => Err(anyhow!(m)),
                    Verdict::Proceed => start_detached(engine, cli, &c.id).map_err(Into::into),
                }
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

/// Starts a container in the background under its own `berth-monitor`, which calls this binary
/// back (`container-hook`) to record restarts and exits. Returns once the container runs.
fn start_detached(engine: &Engine, cli: &crate::Cli, id: &str) -> berth_engine::Result<()> {
    let exe = std::env::current_exe().unwrap_or_else(|_| "berth".into());
    let hook: Vec<std::ffi::OsString> = vec![
        exe.into(),
        "--root".into(),
        cli.root.clone().into(),
        "--runroot".into(),
        cli.runroot.clone().into(),
        "container-hook".into(),
    ];
    engine.start_background(id, &hook)
}

/// The hidden `container-hook` command, run by a container's monitor: records a restart or an
/// exit and prints what the monitor is to do next.
pub fn hook(engine: &Engine, a: &HookArgs) -> CmdResult {
    let answer = engine.monitor_hook(&a.container, &a.action, a.arg.as_deref().unwrap_or(""))?;
    println!("{answer}");
    Ok(())
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
        quiet: false,
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
    each(&a.containers, |n| {
        engine.remove_container(n, a.force).map(drop)
    })
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show the latest created container.
    #[arg(short, long)]
    latest: bool,
    /// Show the n last created containers.
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Display total file sizes.
    #[arg(short, long)]
    size: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Filter output (status=, name=, id=, label=, ancestor=, exited=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout", default_value_t = 10)]
    time: u64,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

/// Runs `f` on every named container, printing each name as Docker does and each failure as
/// Docker's daemon would; fails (exit 1) if any failed.
fn each<E>(names: &[String], mut f: impl FnMut(&str) -> Result<(), E>) -> CmdResult
where
    E: std::fmt::Display,
    Failure: From<E>,
{
    let mut failed = None;
    for name in names {
        match f(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = Some(Failure::from(e));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

pub fn stop(engine: &Engine, a: &StopArgs) -> CmdResult {
    each(&a.containers, |n| {
        engine
            .stop(n, std::time::Duration::from_secs(a.time))
            .map(drop)
    })
}

pub fn kill(engine: &Engine, a: &KillArgs) -> CmdResult {
    each(&a.containers, |n| engine.kill(n, &a.signal).map(drop))
}

pub fn pause(engine: &Engine, a: &NamesArgs, pause: bool) -> CmdResult {
    each(&a.containers, |n| engine.pause(n, pause).map(drop))
}

pub fn restart(engine: &Engine, a: &StopArgs, cli: &crate::Cli) -> CmdResult {
    each(&a.containers, |n| {
        engine
            .stop(n, std::time::Duration::from_secs(a.time))
            .map_err(anyhow::Error::from)
            .and_then(|c| start_detached(engine, cli, &c.id).map_err(Into::into))
    })
}

pub fn wait(engine: &Engine, a: &NamesArgs) -> CmdResult {
    let mut failed = None;
    for name in &a.containers {
        match engine.wait(name) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = Some(Failure::from(e));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

pub fn rename(engine: &Engine, a: &RenameArgs) -> CmdResult {
    Ok(engine.rename(&a.container, &a.new_name)?)
}

/// The `COMMAND` column: the process's command line, quoted, cut to 20 characters.
fn command_line(args: &[String], no_trunc: bool) -> String {
    let line = args.join(" ");
    if no_trunc || line.chars().count() <= 20 {
        format!("\"{line}\"")
    } else {
        format!("\"{}…\"", line.chars().take(19).collect::<String>())
    }
}

fn ago(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
        })
}

/// The `STATUS` column as Docker words it.
fn status_text(c: &Container) -> String {
    use berth_types::state::Status;
    let s = &c.state;
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", human_duration(ago(s.started_at.as_deref()))),
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(ago(s.started_at.as_deref()))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code.unwrap_or(0),
            human_duration(ago(s.finished_at.as_deref()))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code.unwrap_or(0),
            human_duration(ago(s.finished_at.as_deref()))
        ),
        Status::Dead => "Dead".into(),
    }
}

pub fn ps(engine: &Engine, a: &PsArgs) -> CmdResult {
    let filter = PsFilter::parse(&a.filter)?;
    let mut list = engine.ps(a.all || a.latest || a.last.is_some(), &filter)?;
    if a.latest {
        list.truncate(1);
    }
    if let Some(n) = a.last {
        list.truncate(n);
    }
    if a.quiet {
        for c in &list {
            println!("{}", if a.no_trunc { &c.id[..] } else { &c.id[..12] });
        }
        return Ok(());
    }
    let commands = engine.process_args_all(&list);
    let rows: Vec<serde_json::Value> = list
        .iter()
        .zip(commands)
        .map(|(c, args)| {
            let created = chrono::DateTime::parse_from_rfc3339(&c.created).ok();
            let size = if a.size {
                let bytes = engine.writable_layer_size(&c.id);
                format!("{} (virtual {})", human_size(bytes), human_size(bytes + engine.image_size(c)))
            } else {
                String::new()
            };
            serde_json::json!({
                "Command": command_line(&args, a.no_trunc),
                "CreatedAt": created.map(|t| t.format("%Y-%m-%d %H:%M:%S %z UTC").to_string()).unwrap_or_default(),
                "ID": if a.no_trunc { c.id.clone() } else { c.id[..12].to_owned() },
                "Image": c.image,
                "Labels": c.options.labels.join(","),
                "LocalVolumes": "0",
                "Mounts": "",
                "Names": c.name,
                "Networks": c.options.network.clone().unwrap_or_else(|| "none".into()),
                "Ports": "",
                "RunningFor": format!("{} ago", human_duration(ago(Some(&c.created)))),
                "Size": size,
                "State": c.state.status.as_str(),
                "Status": status_text(c),
            })
        })
        .collect();
    let mut columns = vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    let mut fields = vec![
        "ID",
        "Image",
        "Command",
        "RunningFor",
        "Status",
        "Ports",
        "Names",
    ];
    if a.size {
        columns.push("SIZE");
        fields.push("Size");
    }
    crate::images::print_rows(a.format.as_deref(), &rows, &columns, &fields)
}

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since a timestamp (RFC 3339 or Unix seconds) or a relative time (e.g. 42m).
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or a relative time.
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

/// A `--since`/`--until` value as a UTC time: RFC 3339, Unix seconds, or a Go-style duration
/// back from now (`90s`, `10m`, `1h30m`).
fn parse_time(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return chrono::DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
            .ok_or_else(|| anyhow!("invalid time {s:?}"));
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        number.clear();
        number.push_str(&rest[..split]);
        rest = &rest[split..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let value: f64 = number.parse().map_err(|_| anyhow!("invalid time {s:?}"))?;
        total += value
            * match unit {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => {
                    return Err(anyhow!(
                        "invalid time {s:?}: use RFC 3339, Unix seconds, or a duration like 10m"
                    ));
                }
            };
    }
    Ok(chrono::Utc::now() - chrono::Duration::milliseconds((total * 1000.0) as i64))
}

fn print_entry(e: &berth_engine::LogEntry, timestamps: bool) {
    let text = if timestamps {
        format!("{} {}", e.time, e.log)
    } else {
        e.log.clone()
    };
    if e.stream == "stderr" {
        let mut err = std::io::stderr();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    } else {
        let mut out = std::io::stdout();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

pub fn logs(engine: &Engine, a: &LogsArgs) -> CmdResult {
    let c = engine.current(&a.container)?;
    let path = engine.log_path(&c.id);
    let since = a
        .since
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(|e| Failure::with_code(EXIT_FAILURE_CODE, e))?;
    let until = a
        .until
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(|e| Failure::with_code(EXIT_FAILURE_CODE, e))?;
    let when = |e: &berth_engine::LogEntry| {
        chrono::DateTime::parse_from_rfc3339(&e.time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let in_window = |e: &berth_engine::LogEntry| {
        let t = when(e);
        since.is_none_or(|s| t.is_some_and(|t| t >= s))
            && until.is_none_or(|u| t.is_some_and(|t| t <= u))
    };
    let mut entries: Vec<_> = berth_engine::read_log(&path)
        .into_iter()
        .filter(|e| in_window(e))
        .collect();
    if a.tail != "all" {
        let n: usize = a.tail.parse().map_err(|_| {
            Failure::with_code(EXIT_FAILURE_CODE, anyhow!("invalid --tail {:?}", a.tail))
        })?;
        entries.drain(..entries.len().saturating_sub(n));
    }
    let mut last = entries.last().map(|e| e.time.clone());
    for e in &entries {
        print_entry(e, a.timestamps);
    }
    if !a.follow || until.is_some() {
        return Ok(());
    }
    // Follow until the container stops, then print what it wrote last.
    loop {
        let live = engine
            .current(&c.id)
            .map(|c| c.state.status.is_live())
            .unwrap_or(false);
        for e in berth_engine::read_log(&path) {
            if last.as_ref().is_none_or(|l| e.time > *l) {
                print_entry(&e, a.timestamps);
                last = Some(e.time.clone());
            }
        }
        if !live {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[derive(Args)]
pub struct EventsArgs {
    /// Show events created since this time (RFC 3339, Unix seconds, or a duration like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this time; without it, events are followed until interrupted.
    #[arg(long)]
    until: Option<String>,
    /// Filter output (type=, event=, container=, image=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output: json, or a Go template.
    #[arg(long)]
    format: Option<String>,
}

fn nanos(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

pub fn events(engine: &Engine, a: &EventsArgs) -> CmdResult {
    let bad = |e| Failure::with_code(EXIT_FAILURE_CODE, e);
    let filter = berth_engine::EventFilter::parse(&a.filter)?;
    let since = a
        .since
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(bad)?
        .map_or(0, nanos);
    let until = a
        .until
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(bad)?;
    let template = match a.format.as_deref() {
        None | Some("json") => None,
        Some(t) => Some(crate::format::Template::parse(t).map_err(bad)?),
    };
    // Without --since, only what happens from now on.
    let start = if a.since.is_some() {
        since
    } else {
        nanos(chrono::Utc::now())
    };
    let mut after = 0;
    loop {
        let end = until.map_or(i64::MAX, nanos);
        for e in engine.events(after, start, end, &filter)? {
            after = e.seq;
            let doc = berth_engine::event_json(&e);
            match (&template, a.format.as_deref()) {
                (Some(t), _) => println!("{}", t.render(&doc).map_err(bad)?),
                (None, Some("json")) => println!("{doc}"),
                (None, _) => {
                    let time = chrono::DateTime::from_timestamp_nanos(e.time_nano)
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                    let attrs: Vec<String> = doc["Actor"]["Attributes"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                .collect()
                        })
                        .unwrap_or_default();
                    println!(
                        "{time} {} {} {} ({})",
                        e.kind,
                        e.action,
                        e.actor,
                        attrs.join(", ")
                    );
                }
            }
        }
        let _ = std::io::stdout().flush();
        if until.is_some_and(|u| chrono::Utc::now() >= u) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub fn prune(engine: &Engine, _a: &PruneArgs) -> CmdResult {
    use berth_types::state::Status;
    let mut deleted = Vec::new();
    for c in engine.containers_now()? {
        if matches!(
            c.state.status,
            Status::Created | Status::Exited | Status::Dead
        ) && engine.remove_container(&c.id, false).is_ok()
        {
            deleted.push(c.id);
        }
    }
    println!("Deleted Containers:");
    for id in &deleted {
        println!("{id}");
    }
    println!();
    println!("Total reclaimed space: 0B");
    Ok(())
}

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Print one reading and exit instead of refreshing every second.
    #[arg(long)]
    no_stream: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// Options for ps (default -o uid,pid,ppid,c,stime,tty,time,cmd).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn top(engine: &Engine, a: &TopArgs) -> CmdResult {
    print!("{}", engine.top(&a.container, &a.ps_args)?);
    Ok(())
}

pub fn stats(engine: &Engine, a: &StatsArgs) -> CmdResult {
    use berth_types::state::Status;
    let pick = || -> Result<Vec<Container>, Failure> {
        if a.containers.is_empty() {
            Ok(engine.ps(a.all, &PsFilter::default())?)
        } else {
            a.containers
                .iter()
                .map(|n| engine.current(n).map_err(Failure::from))
                .collect()
        }
    };
    // CPU % is the CPU time used between two readings over the wall time between them.
    let interval = std::time::Duration::from_millis(500);
    let mut first = true;
    loop {
        let list = pick()?;
        let before: Vec<_> = list
            .iter()
            .map(|c| (engine.usage(c), std::time::Instant::now()))
            .collect();
        std::thread::sleep(interval);
        let rows: Vec<serde_json::Value> = list
            .iter()
            .zip(before)
            .map(|(c, (u0, t0))| {
                let live = c.state.status == Status::Running || c.state.status == Status::Paused;
                let u = if live { engine.usage(c) } else { Default::default() };
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                let elapsed = t0.elapsed().as_nanos() as f64;
                let cpu = if live && elapsed > 0.0 { (u.cpu_nanos.saturating_sub(u0.cpu_nanos)) as f64 / elapsed * 100.0 } else { 0.0 };
                let mem_pct = if u.memory_limit > 0 { u.memory as f64 / u.memory_limit as f64 * 100.0 } else { 0.0 };
                serde_json::json!({
                    "BlockIO": format!("{} / {}", human_size(u.block_read), human_size(u.block_write)),
                    "CPUPerc": format!("{:.2}%", cpu.min(100.0 * cpus)),
                    "Container": if a.no_trunc { c.id.clone() } else { c.id[..12].to_owned() },
                    "ID": if a.no_trunc { c.id.clone() } else { c.id[..12].to_owned() },
                    "MemPerc": format!("{mem_pct:.2}%"),
                    "MemUsage": format!("{} / {}", human_bytes(u.memory), human_bytes(u.memory_limit)),
                    "Name": c.name,
                    "NetIO": "0B / 0B",
                    "PIDs": u.pids.to_string(),
                })
            })
            .collect();
        if !a.no_stream && !first {
            print!("\x1b[2J\x1b[H");
        }
        first = false;
        crate::images::print_rows(
            a.format.as_deref(),
            &rows,
            &[
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "NET I/O",
                "BLOCK I/O",
                "PIDS",
            ],
            &[
                "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
            ],
        )?;
        let _ = std::io::stdout().flush();
        if a.no_stream {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Memory as Docker's stats shows it: binary units (`1.5MiB`, `7.6GiB`).
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", UNITS[unit]).replace(".000", "")
    }
}

/// `berth system boot`: after the host starts, records every container's true state and starts
/// again those whose policy says so: `always`, and `unless-stopped` unless stopped by hand.
pub fn boot(engine: &Engine, cli: &crate::Cli) -> CmdResult {
    let mut failed = None;
    for c in engine.containers_now()? {
        let policy = c.options.restart.as_deref().unwrap_or("no");
        let wanted =
            policy == "always" || (policy == "unless-stopped" && !c.state.manually_stopped);
        if !wanted || c.state.status.is_live() {
            continue;
        }
        match start_detached(engine, cli, &c.id).map_err(anyhow::Error::from) {
            Ok(()) => println!("{}", c.name),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = Some(Failure::from(e));
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

#[derive(Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH or a host path.
    src: String,
    /// A host path or CONTAINER:DEST_PATH.
    dest: String,
}

/// `CONTAINER:PATH`, as `docker cp` reads it: a host path starts with `/` or `.`, or has no colon.
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub fn cp(engine: &Engine, a: &CpArgs) -> CmdResult {
    match (container_path(&a.src), container_path(&a.dest)) {
        (Some((c, path)), None) => {
            Ok(engine.copy_from_container(c, path, std::path::Path::new(&a.dest))?)
        }
        (None, Some((c, path))) => {
            Ok(engine.copy_to_container(c, std::path::Path::new(&a.src), path)?)
        }
        (Some(_), Some(_)) => Err(Failure::with_code(
            EXIT_FAILURE_CODE,
            anyhow!("copying between containers is not supported"),
        )),
        (None, None) => Err(Failure::with_code(
            EXIT_FAILURE_CODE,
            anyhow!("must specify at least one container source"),
        )),
    }
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long)]
    no_stdin: bool,
    container: String,
}

pub fn attach(engine: &Engine, a: &AttachArgs) -> CmdResult {
    match engine.attach(&a.container, !a.no_stdin)? {
        Some(code) => exit_with(code),
        None => Ok(()),
    }
}

#[derive(Args)]
pub struct DiffArgs {
    container: String,
}

/// `berth diff`: Docker's `A|C|D /path` lines.
pub fn diff(engine: &Engine, a: &DiffArgs) -> CmdResult {
    let mut out = std::io::stdout().lock();
    for (kind, path) in engine.diff(&a.container)? {
        writeln!(out, "{kind} {path}").map_err(anyhow::Error::from)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    container: String,
    /// Write to a file instead of stdout.
    #[arg(short, long)]
    output: Option<std::path::PathBuf>,
}

/// `berth export [-o FILE] CONTAINER`. To a file, the archive is written beside it and renamed
/// into place once complete, so a failed export leaves nothing half written.
pub fn export(engine: &Engine, a: &ExportArgs) -> CmdResult {
    match &a.output {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(std::path::Path::new(".")))
                .context("creating the output file")?;
            engine.export(&a.container, std::io::BufWriter::new(tmp.as_file()))?;
            tmp.persist(path)
                .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::from(anyhow!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                )));
            }
            engine.export(
                &a.container,
                std::io::BufWriter::new(std::io::stdout().lock()),
            )?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    container: String,
    /// The new image's name, `REPOSITORY[:TAG]`.
    reference: Option<String>,
    /// A Dockerfile instruction to apply to the image's config (CMD, ENTRYPOINT, ENV, …).
    #[arg(short, long)]
    change: Vec<String>,
    /// The commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// The author.
    #[arg(short, long)]
    author: Option<String>,
    /// Freeze the container while its changes are read.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
}

/// `berth commit`: prints the new image's ID.
pub fn commit(engine: &Engine, a: &CommitArgs) -> CmdResult {
    let tag = a
        .reference
        .as_deref()
        .map(berth_types::Reference::parse_normalized)
        .transpose()
        .map_err(berth_engine::EngineError::from)?;
    let opts = berth_engine::CommitOptions {
        changes: a.change.clone(),
        message: a.message.clone(),
        author: a.author.clone(),
        pause: a.pause,
    };
    let id = engine.commit(&a.container, tag, &opts)?;
    println!("{id}");
    Ok(())
}
