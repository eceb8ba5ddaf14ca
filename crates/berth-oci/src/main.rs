//! `berth-runtime`: an OCI runtime with runc's command line, so engines that drive runc (berth,
//! containerd, podman) can drive it. Errors go to stderr and, with `--log`, to the log file as
//! JSON lines of the shape containerd's shim reads.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_runtime::{CreateOptions, Runtime, RuntimeError};
use berth_types::runtime::Process;
use clap::{Parser, Subcommand};
use rustix::process::Signal;

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version,
    about = "berth's OCI runtime (runc-compatible command line)"
)]
struct Cli {
    /// Directory for the containers' state.
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    root: PathBuf,
    /// Append errors to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of the log file: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    debug: bool,
    /// Accepted for runc compatibility; berth-runtime writes cgroupfs directly.
    #[arg(long, global = true, hide = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct SpawnArgs {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_new_keyring: bool,
    container_id: String,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container, leaving it waiting for `start`.
    Create(SpawnArgs),
    /// Start a created container's process.
    Start { container_id: String },
    /// Print a container's state as JSON.
    State { container_id: String },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        container_id: String,
        signal: Option<String>,
    },
    /// Remove a stopped container's state.
    Delete {
        /// Kill the container first if it is running.
        #[arg(short, long)]
        force: bool,
        container_id: String,
    },
    /// Create and start a container, and wait for it.
    Run {
        #[command(flatten)]
        spawn: SpawnArgs,
        /// Do not wait: print nothing and leave the container running.
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a process inside a running container.
    Exec {
        /// process.json describing the process.
        #[arg(short, long)]
        process: Option<PathBuf>,
        #[arg(short, long)]
        detach: bool,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[arg(long)]
        console_socket: Option<PathBuf>,
        #[arg(short, long)]
        tty: bool,
        #[arg(long)]
        cwd: Option<String>,
        #[arg(short, long)]
        env: Vec<String>,
        /// UID[:GID]
        #[arg(short, long)]
        user: Option<String>,
        container_id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the processes of a container.
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        container_id: String,
    },
    /// Freeze every process of a container.
    Pause { container_id: String },
    /// Thaw a paused container.
    Resume { container_id: String },
    /// List containers.
    List {
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print what this runtime supports, as JSON.
    Features,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Opened before anything else: `exec` joins the container's mount namespace, where this
    // path would name another file or none.
    let log = cli.log.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    match run(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            report(&cli, log, &e);
            ExitCode::from(1)
        }
    }
}

fn report(cli: &Cli, log: Option<std::fs::File>, e: &RuntimeError) {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    // With a log file the caller reads the error there; without one, stderr is the only place.
    let Some(mut log) = log else {
        eprintln!("berth-runtime: {message}");
        return;
    };
    let line = if cli.log_format == "json" {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        serde_json::json!({"level": "error", "msg": message, "time": time}).to_string()
    } else {
        format!("berth-runtime: {message}")
    };
    let _ = writeln!(log, "{line}");
}

fn parse_signal(s: &str) -> Result<Signal, RuntimeError> {
    let name = s.trim_start_matches("SIG").to_ascii_uppercase();
    let number = match name.as_str() {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        n => n
            .parse()
            .map_err(|_| RuntimeError::Config(format!("unknown signal {s:?}")))?,
    };
    Signal::from_named_raw(number)
        .ok_or_else(|| RuntimeError::Config(format!("unknown signal {s:?}")))
}

fn create_options(a: &SpawnArgs) -> CreateOptions {
    CreateOptions {
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
    }
}

fn run(cli: &Cli) -> Result<i32, RuntimeError> {
    let rt = Runtime::new(&cli.root);
    match &cli.command {
        Command::Create(a) => {
            berth_runtime::ensure_sealed_binary()?;
            rt.create(&a.container_id, &a.bundle, &create_options(a))?;
        }
        Command::Start { container_id } => rt.start(container_id)?,
        Command::State { container_id } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&rt.state(container_id)?).expect("state serialises")
            );
        }
        Command::Kill {
            all,
            container_id,
            signal,
        } => {
            rt.kill(
                container_id,
                parse_signal(signal.as_deref().unwrap_or("TERM"))?,
                *all,
            )?;
        }
        Command::Delete {
            force,
            container_id,
        } => rt.delete(container_id, *force)?,
        Command::Run { spawn, detach } => {
            berth_runtime::ensure_sealed_binary()?;
            if *detach {
                rt.create(&spawn.container_id, &spawn.bundle, &create_options(spawn))?;
                rt.start(&spawn.container_id)?;
            } else {
                return rt.run(&spawn.container_id, &spawn.bundle, &create_options(spawn));
            }
        }
        Command::Exec {
            process,
            detach,
            pid_file,
            console_socket,
            tty,
            cwd,
            env,
            user,
            container_id,
            command,
        } => {
            berth_runtime::ensure_sealed_binary()?;
            let process = exec_process(
                &rt,
                container_id,
                process.as_ref(),
                *tty,
                cwd,
                env,
                user.as_deref(),
                command,
            )?;
            let options = CreateOptions {
                pid_file: pid_file.clone(),
                console_socket: console_socket.clone(),
            };
            let code = rt.exec(container_id, &process, &options, *detach)?;
            return Ok(if *detach { 0 } else { code });
        }
        Command::Ps {
            format,
            container_id,
        } => {
            let pids = rt.ps(container_id)?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids).expect("pids serialise"));
            } else {
                println!("PID");
                for pid in pids {
                    println!("{pid}");
                }
            }
        }
        Command::Pause { container_id } => rt.pause(container_id)?,
        Command::Resume { container_id } => rt.resume(container_id)?,
        Command::List { quiet } => {
            for c in rt.list()? {
                if *quiet {
                    println!("{}", c.id);
                } else {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.id,
                        c.pid,
                        rt.status(&c).as_str(),
                        c.bundle.display()
                    );
                }
            }
        }
        Command::Features => println!("{}", features()),
    }
    Ok(0)
}

/// The process for `exec`: from `--process`, or from the container's own process with the command
/// line's overrides, as runc builds it.
#[allow(clippy::too_many_arguments)]
fn exec_process(
    rt: &Runtime,
    id: &str,
    file: Option<&PathBuf>,
    tty: bool,
    cwd: &Option<String>,
    env: &[String],
    user: Option<&str>,
    command: &[String],
) -> Result<Process, RuntimeError> {
    if let Some(path) = file {
        let bytes = std::fs::read(path).map_err(|e| RuntimeError::Read {
            path: path.clone(),
            source: e,
        })?;
        return serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Spec {
            path: path.clone(),
            source: e,
        });
    }
    if command.is_empty() {
        return Err(RuntimeError::Config(
            "exec needs --process or a command".into(),
        ));
    }
    let spec = berth_runtime::read_spec(&rt.load(id)?.bundle)?;
    let mut p = spec.process.unwrap_or_default();
    p.args = command.to_vec();
    p.terminal = tty;
    p.env.extend(env.iter().cloned());
    if let Some(cwd) = cwd {
        p.cwd = cwd.clone();
    }
    if let Some(user) = user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        p.user.uid = uid
            .parse()
            .map_err(|_| RuntimeError::Config(format!("invalid uid {uid:?}")))?;
        p.user.gid = gid
            .parse()
            .map_err(|_| RuntimeError::Config(format!("invalid gid {gid:?}")))?;
    }
    Ok(p)
}

fn features() -> String {
    let caps: Vec<String> = (0..64)
        .filter_map(|bit| rustix::thread::CapabilitySet::from_bits(1u64 << bit))
        .filter_map(|c| c.iter_names().next().map(|(n, _)| format!("CAP_{n}")))
        .collect();
    let features = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": berth_types::runtime::OCI_VERSION,
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
            "noatime", "nodiratime", "relatime", "strictatime", "sync", "dirsync", "nosymfollow",
            "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"], "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        }
    });
    serde_json::to_string_pretty(&features).expect("features serialise")
}
