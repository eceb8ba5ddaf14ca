//! Running a container's process through an OCI runtime with runc's command line, and staying
//! with it: berth becomes the child subreaper, so the container's init is its child once the
//! runtime's `create` exits; signals sent to berth are passed on; a terminal is proxied.

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_types::runtime::Process;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use rustix::process::{Pid, Signal, WaitOptions};

use berth_types::state::{Action, Status, Verdict};

use super::logs::{JsonLog, Rotation, tee};
use super::{Container, now_rfc3339, overlay, user};
use crate::{Engine, EngineError, Result};

/// How the user's terminal connects to the container's process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdio {
    pub tty: bool,
    /// Keep stdin open (`-i`); otherwise the process reads /dev/null.
    pub stdin: bool,
    /// Output goes to the container's log only (`berth build -q`).
    pub quiet: bool,
}

const FORWARDED: &[i32] = &[
    libc_signal::HUP,
    libc_signal::INT,
    libc_signal::QUIT,
    libc_signal::TERM,
    libc_signal::USR1,
    libc_signal::USR2,
];

mod libc_signal {
    pub const HUP: i32 = 1;
    pub const INT: i32 = 2;
    pub const QUIT: i32 = 3;
    pub const USR1: i32 = 10;
    pub const USR2: i32 = 12;
    pub const TERM: i32 = 15;
    pub const CHLD: i32 = 17;
    pub const WINCH: i32 = 28;
}

/// The OCI runtime a container uses and where it keeps its state.
pub(super) struct RuntimeCmd {
    pub(super) name: String,
    pub(super) binary: PathBuf,
    pub(super) root: PathBuf,
}

pub(super) fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file())
}

impl RuntimeCmd {
    fn command(&self, log: &Path) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&self.binary);
        cmd.arg0(&self.name);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json");
        cmd
    }
}

/// The last error the runtime logged (JSON lines of `level` and `msg`), or its plain text.
pub(super) fn runtime_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut last = None;
    for line in text.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v["level"] == "error" || v["level"] == "fatal" => {
                last = v["msg"].as_str().map(str::to_owned)
            }
            Ok(_) => {}
            Err(_) if !line.trim().is_empty() => last = Some(line.to_owned()),
            Err(_) => {}
        }
    }
    last
}

/// Docker's exit status for a start failure: 127 when the program is missing, 126 when it cannot
/// be executed, 125 otherwise.
pub(super) fn start_error(message: String) -> EngineError {
    let code = berth_types::runtime::start_failure_code(&message);
    EngineError::Start { message, code }
}

fn read_pid(path: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(path).map_err(EngineError::io("read", path))?;
    text.trim()
        .parse()
        .map_err(|_| EngineError::io("parse pid in", path)(std::io::ErrorKind::InvalidData.into()))
}

/// A console socket for the runtime to connect to. Socket addresses hold 108 bytes, so it lives
/// in `<runroot>/sock/` under a short name rather than in the container's run directory.
fn console_listener(runroot: &Path, name: &str) -> Result<(UnixListener, PathBuf)> {
    let dir = runroot.join("sock");
    std::fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(EngineError::io("listen on", &path))?;
    Ok((listener, path))
}

/// Receives the pty master the runtime sends over the console socket.
fn receive_console(listener: &UnixListener) -> Result<OwnedFd> {
    let (stream, _) = listener
        .accept()
        .map_err(EngineError::io("accept on", "console socket"))?;
    receive_from(&stream)
}

/// Receives the pty master sent as SCM_RIGHTS on a connected console socket.
fn receive_from(stream: &std::os::unix::net::UnixStream) -> Result<OwnedFd> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    rustix::net::recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| EngineError::io("receive the terminal from", "console socket")(e.into()))?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(EngineError::io(
        "receive the terminal from",
        "console socket",
    )(std::io::ErrorKind::InvalidData.into()))
}

/// A shared pty master, read by the output copier while the input copier writes to it.
struct ArcFile(std::sync::Arc<File>);

impl Read for ArcFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

/// Copies between the user's terminal and the container's pty until the container side closes.
struct TerminalProxy {
    saved: Option<rustix::termios::Termios>,
    output: std::thread::JoinHandle<()>,
}

impl TerminalProxy {
    /// Proxies between the pty and this process's stdio; the output also goes to `log` (a run's,
    /// not an exec's).
    fn start(
        master: OwnedFd,
        stdin: bool,
        log: Option<std::sync::Arc<JsonLog>>,
    ) -> Result<TerminalProxy> {
        let master = std::sync::Arc::new(std::fs::File::from(master));
        let saved = rustix::termios::tcgetattr(std::io::stdin()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                &raw,
            );
        }
        resize(&master);
        if stdin {
            let m = master.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut input = std::io::stdin().lock();
                while let Ok(n) = input.read(&mut buf) {
                    if n == 0 || (&*m).write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
        let output = tee(
            ArcFile(master.clone()),
            std::io::stdout(),
            log.map(|l| (l, "stdout")),
        );
        Ok(TerminalProxy { saved, output })
    }

    fn finish(self) {
        // The pty reports EIO once the container's last holder of the terminal is gone.
        for _ in 0..200 {
            if self.output.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

fn resize(master: &impl AsFd) {
    if let Ok(size) = rustix::termios::tcgetwinsize(std::io::stdout()) {
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

/// Waits for `pid` (a child of this process), passing on forwarded signals and terminal resizes.
fn wait_forwarding(pid: Pid, master: Option<&OwnedFd>) -> i32 {
    let mut watched = FORWARDED.to_vec();
    watched.extend([libc_signal::CHLD, libc_signal::WINCH]);
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => return berth_sys::shell_status(status),
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => continue,
            // Not our child yet: a runtime whose intermediate process has not exited (crun)
            // leaves the init to be reparented to this subreaper a moment later.
            Err(rustix::io::Errno::CHILD) if rustix::process::test_kill_process(pid).is_ok() => {}
            Err(_) => return 255,
        }
        match berth_sys::wait_signal(&watched, Duration::from_millis(100)) {
            Ok(Some(libc_signal::WINCH)) => {
                if let Some(m) = master {
                    resize(m);
                }
            }
            Ok(Some(libc_signal::CHLD)) | Ok(None) | Err(_) => {}
            Ok(Some(sig)) => {
                if let Some(s) = Signal::from_named_raw(sig) {
                    let _ = rustix::process::kill_process(pid, s);
                }
            }
        }
    }
}

impl Engine {
    pub(super) fn runtime(&self, c: &Container) -> Result<RuntimeCmd> {
        let name = c
            .options
            .runtime
            .clone()
            .unwrap_or_else(|| "berth-runtime".into());
        let binary = if name.contains('/') {
            PathBuf::from(&name)
        } else if name == "berth-runtime" {
            std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("berth-runtime")))
                .filter(|p| p.is_file())
                .or_else(|| find_in_path(&name))
                .ok_or_else(|| {
                    EngineError::InvalidOption(
                        "the berth-runtime binary was not found next to berth or in PATH".into(),
                    )
                })?
        } else {
            find_in_path(&name).ok_or_else(|| {
                EngineError::InvalidOption(format!("unknown runtime {name:?}: not found in PATH"))
            })?
        };
        let short = Path::new(&name)
            .file_name()
            .map_or(name.clone(), |n| n.to_string_lossy().into_owned());
        // berth-runtime is started from a read-only handle, so it runs protected from the start
        // and need not re-execute itself (CVE-2019-5736); runc and crun protect themselves.
        let binary = if short == "berth-runtime" {
            let handle = self.runtime_exe.get_or_init(|| {
                std::fs::create_dir_all(&self.runroot).ok()?;
                berth_sys::read_only_exec_handle(&binary, &self.runroot).ok()
            });
            match handle {
                Some(fd) => PathBuf::from(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(fd)
                )),
                None => binary,
            }
        } else {
            binary
        };
        Ok(RuntimeCmd {
            name: short.clone(),
            binary,
            root: self.runroot.join("runtime").join(short),
        })
    }

    /// Runs one runtime action to completion; its logged error becomes the failure.
    pub(crate) fn runtime_action(&self, c: &Container, args: &[&str]) -> Result<()> {
        self.spawn_runtime_action(c, args)?.finish()
    }

    /// Starts one runtime action; [`RuntimeCall::finish`] waits for it.
    fn spawn_runtime_action(&self, c: &Container, args: &[&str]) -> Result<RuntimeCall> {
        let rt = self.runtime(c)?;
        let log = self
            .container_run_dir(&c.id)
            .join(format!("runtime-{}.log", args[0]));
        let _ = std::fs::remove_file(&log);
        let child = rt
            .command(&log)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(EngineError::io("run", &rt.binary))?;
        Ok(RuntimeCall {
            child,
            log,
            runtime: rt.name,
            action: args[0].to_owned(),
        })
    }

    pub(crate) fn runtime_delete(&self, c: &Container, force: bool) -> Result<()> {
        std::fs::create_dir_all(self.container_run_dir(&c.id))
            .map_err(EngineError::io("create", self.container_run_dir(&c.id)))?;
        let args: &[&str] = if force {
            &["delete", "--force", &c.id]
        } else {
            &["delete", &c.id]
        };
        self.runtime_action(c, args)
    }

    /// `berth start -a` and `berth run`: starts the container with the user's stdio attached,
    /// waits for it, records how it ended and releases its root. Returns its exit status. (In
    /// the background, `berth-monitor` does this instead; see `monitor.rs`.)
    pub fn run_attached(&self, name: &str, stdio: Stdio) -> Result<i32> {
        let mut c = self.current(name)?;
        match c.state.status.check(Action::Start, &c.name) {
            Verdict::Refuse(m) => return Err(EngineError::ContainerState(m)),
            Verdict::Nothing => {
                return Err(EngineError::ContainerState(format!(
                    "container {} is already running",
                    c.name
                )));
            }
            Verdict::Proceed => {}
        }
        let Some(lock) = self.lock_container(&c.id, false)? else {
            return Err(EngineError::ContainerState(format!(
                "container {} is already running",
                c.name
            )));
        };
        let mut watched = FORWARDED.to_vec();
        watched.extend([libc_signal::CHLD, libc_signal::WINCH]);
        berth_sys::block_signals(&watched).map_err(EngineError::io("block signals in", "berth"))?;
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| EngineError::io("become the subreaper of", "the container")(e.into()))?;
        // Checked again under the lock: a removal may have begun since.
        c = self.container(&c.id)?;
        if let Verdict::Refuse(m) = c.state.status.check(Action::Start, &c.name) {
            return Err(EngineError::ContainerState(m));
        }
        c = self.set_state(&c.id, |s| s.manually_stopped = false)?;
        let code = self.run_once(&mut c, stdio)?;
        drop(lock);
        if c.options.auto_remove {
            self.remove_record(&c)?;
        }
        Ok(code)
    }

    /// One run: start, wait, record the exit and release the root.
    fn run_once(&self, c: &mut Container, stdio: Stdio) -> Result<i32> {
        tracing::debug!(id = %c.id, "starting");
        let started = self.start_process(c, stdio);
        tracing::debug!(id = %c.id, "started");
        let result = match started {
            Ok(started) => {
                let proxy = match started.master {
                    Some(m) => {
                        let code_master = m.try_clone().ok();
                        Some((
                            TerminalProxy::start(m, stdio.stdin, Some(started.log.clone()))?,
                            code_master,
                        ))
                    }
                    None => None,
                };
                let code =
                    wait_forwarding(started.pid, proxy.as_ref().and_then(|(_, m)| m.as_ref()));
                if let Some((p, _)) = proxy {
                    p.finish();
                }
                for copier in started.copiers {
                    let _ = copier.join();
                }
                Ok(code)
            }
            Err(e) => Err(e),
        };
        tracing::debug!(id = %c.id, "exited");
        let cleanup = self.stopped(c, result.as_ref().ok().copied());
        tracing::debug!(id = %c.id, "released");
        let code = result?;
        cleanup?;
        Ok(code)
    }

    /// Mounts the root, writes the bundle, and has the runtime create and start the container.
    /// Returns the init's pid (now a child of this process) and the pty master with a tty.
    fn start_process(&self, c: &mut Container, stdio: Stdio) -> Result<Started> {
        let run_dir = self.container_run_dir(&c.id);
        std::fs::create_dir_all(&run_dir).map_err(EngineError::io("create", &run_dir))?;
        let rt = self.runtime(c)?;
        // A leftover from a run that was killed: the runtime's state must go first.
        if rt.root.join(&c.id).exists() {
            let _ = self.runtime_action(c, &["delete", "--force", &c.id]);
        }
        let rootfs = self.mount_rootfs(c)?;
        tracing::debug!(id = %c.id, "root mounted");
        let bundle = self.write_bundle(c, &rootfs)?;
        tracing::debug!(id = %c.id, "bundle written");
        let pid_file = run_dir.join("pid");
        let log = run_dir.join("runtime-run.log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = rt.command(&log);
        // `run --detach` is create and start in one runtime process; berth stays the subreaper.
        cmd.arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        let mut console_path = None;
        let listener = if stdio.tty {
            let (l, path) = console_listener(&self.runroot, &format!("{}.console", &c.id[..16]))?;
            cmd.arg("--console-socket").arg(&path);
            console_path = Some(path);
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null());
            Some(l)
        } else {
            if !stdio.stdin {
                cmd.stdin(std::process::Stdio::null());
            }
            None
        };
        // The output reaches the user as it comes and the json-file log by lines, as in the
        // background, so `berth logs` shows a foreground run too.
        let json_log = JsonLog::open(&self.log_path(&c.id), Rotation::parse(&c.options.log_opts)?)?;
        let mut pipes = Vec::new();
        if !stdio.tty {
            for stream in ["stdout", "stderr"] {
                let (reader, writer) = std::io::pipe().map_err(EngineError::io(
                    "create a pipe for",
                    "the container's output",
                ))?;
                if stream == "stdout" {
                    cmd.stdout(writer);
                } else {
                    cmd.stderr(writer);
                }
                pipes.push((reader, stream));
            }
        }
        cmd.arg(&c.id);
        let status = cmd.status().map_err(EngineError::io("run", &rt.binary))?;
        // Our copies of the write ends go, so the copiers see the end of the output.
        drop(cmd);
        let copiers = pipes
            .into_iter()
            .map(|(reader, stream)| {
                let sink = Some((json_log.clone(), stream));
                let echo: Box<dyn std::io::Write + Send> = match (stdio.quiet, stream) {
                    (true, _) => Box::new(std::io::sink()),
                    (false, "stdout") => Box::new(std::io::stdout()),
                    (false, _) => Box::new(std::io::stderr()),
                };
                tee(reader, echo, sink)
            })
            .collect();
        if !status.success() {
            let message = runtime_error(&log)
                .unwrap_or_else(|| format!("{} run exited with {status}", rt.name));
            return Err(start_error(message));
        }
        let master = listener.as_ref().map(receive_console).transpose();
        if let Some(p) = &console_path {
            let _ = std::fs::remove_file(p);
        }
        let master = master?;
        let pid = read_pid(&pid_file)?;
        *c = self.set_state(&c.id, |s| {
            // A removal that began meanwhile keeps its state; it kills what runs.
            let status = if s.status == Status::Removing {
                Status::Removing
            } else {
                Status::Running
            };
            *s = super::ContainerState {
                status,
                pid,
                started_at: Some(now_rfc3339()),
                restart_count: s.restart_count,
                manually_stopped: s.manually_stopped,
                ..Default::default()
            }
        })?;
        self.event("start", c, &[]);
        let pid = Pid::from_raw(pid).ok_or_else(|| {
            EngineError::io("parse pid in", &pid_file)(std::io::ErrorKind::InvalidData.into())
        })?;
        Ok(Started {
            pid,
            master,
            log: json_log,
            copiers,
        })
    }

    /// The oom and die events of a run that ended with `code`; returns whether the kernel's
    /// OOM killer struck. Called before the runtime removes the cgroup that counted it.
    pub(super) fn end_run(&self, c: &Container, code: i32) -> bool {
        let oom = self.oom_killed(&c.id);
        if oom {
            self.event("oom", c, &[]);
        }
        self.event("die", c, &[("exitCode", code.to_string())]);
        oom
    }

    /// Records the end of a run and releases the runtime state and the root mount. The runtime's
    /// `delete` and the unmount run side by side; a container about to be removed (`--rm`) is
    /// not recorded as exited first.
    pub(super) fn stopped(&self, c: &mut Container, code: Option<i32>) -> Result<()> {
        let oom = code.is_some_and(|code| self.end_run(c, code));
        let delete = self.spawn_runtime_action(c, &["delete", "--force", &c.id]);
        let unmounted = overlay::unmount(&self.rootfs_dir(&c.id));
        let saved = if c.options.auto_remove {
            Ok(())
        } else {
            self.set_state(&c.id, |s| {
                if s.status != Status::Removing {
                    s.status = if code.is_some() {
                        Status::Exited
                    } else {
                        Status::Created
                    };
                }
                s.oom_killed = oom;
                s.pid = 0;
                s.exit_code = code;
                s.finished_at = code.map(|_| now_rfc3339());
            })
            .map(|new| *c = new)
        };
        let deleted = delete.and_then(RuntimeCall::finish);
        deleted.and(unmounted).and(saved)?;
        self.release_rootfs(c)
    }

    /// `berth exec`: runs `args` in a running container, in its namespaces, cgroup and under its
    /// restrictions (the container's capabilities, no_new_privs, seccomp and rlimits).
    pub fn exec(
        &self,
        name: &str,
        args: Vec<String>,
        opts: ExecOptions,
        stdio: Stdio,
    ) -> Result<i32> {
        let c = self.current(name)?;
        if let Verdict::Refuse(m) = c.state.status.check(Action::Exec, &c.name) {
            return Err(EngineError::ContainerState(m));
        }
        let dir = self.container_dir(&c.id);
        let spec = berth_types_spec(&dir)?;
        let mut process: Process = spec
            .process
            .ok_or_else(|| EngineError::InvalidOption("the container has no process".into()))?;
        process.args = args;
        process.terminal = stdio.tty;
        for e in opts.env {
            let key = e.split('=').next().unwrap_or_default().to_owned();
            process
                .env
                .retain(|x| x.split('=').next() != Some(key.as_str()));
            process.env.push(e);
        }
        if let Some(w) = opts.workdir {
            process.cwd = w;
        }
        if let Some(u) = opts.user {
            let resolved = user::resolve(&self.rootfs_dir(&c.id), &u)?;
            process.user.uid = resolved.uid;
            process.user.gid = resolved.gid;
            process.user.additional_gids = resolved.additional_gids;
            if resolved.uid != 0
                && let Some(caps) = &mut process.capabilities
            {
                caps.effective.clear();
                caps.permitted.clear();
            }
        }
        let run_dir = self.container_run_dir(&c.id);
        let tag = hex::encode(rand::random::<[u8; 6]>());
        let process_file = run_dir.join(format!("exec-{tag}.json"));
        std::fs::write(
            &process_file,
            serde_json::to_vec(&process).expect("process serialises"),
        )
        .map_err(EngineError::io("write", &process_file))?;
        let result = self.exec_process(&c, &process_file, &tag, stdio);
        let _ = std::fs::remove_file(&process_file);
        result
    }

    fn exec_process(
        &self,
        c: &Container,
        process_file: &Path,
        tag: &str,
        stdio: Stdio,
    ) -> Result<i32> {
        let rt = self.runtime(c)?;
        let run_dir = self.container_run_dir(&c.id);
        let log = run_dir.join(format!("exec-{tag}.log"));
        let mut cmd = rt.command(&log);
        cmd.arg("exec").arg("--process").arg(process_file);
        if !stdio.stdin {
            cmd.stdin(std::process::Stdio::null());
        }
        let failed = |status: std::process::ExitStatus| {
            let message = runtime_error(&log)
                .unwrap_or_else(|| format!("{} exec exited with {status}", rt.name));
            let _ = std::fs::remove_file(&log);
            start_error(message)
        };
        if !stdio.tty {
            cmd.arg(&c.id);
            let status = cmd.status().map_err(EngineError::io("run", &rt.binary))?;
            let logged = runtime_error(&log).is_some();
            if logged {
                return Err(failed(status));
            }
            let _ = std::fs::remove_file(&log);
            return Ok(status.code().unwrap_or(255));
        }
        // With a terminal the runtime detaches and hands over the pty; the process becomes this
        // process's child through the subreaper.
        let mut watched = FORWARDED.to_vec();
        watched.extend([libc_signal::CHLD, libc_signal::WINCH]);
        berth_sys::block_signals(&watched).map_err(EngineError::io("block signals in", "berth"))?;
        rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(|e| {
            EngineError::io("become the subreaper of", "the exec process")(e.into())
        })?;
        let (listener, sock) =
            console_listener(&self.runroot, &format!("{}.exec-{tag}", &c.id[..16]))?;
        let pid_file = run_dir.join(format!("exec-{tag}.pid"));
        cmd.arg("--detach")
            .arg("--console-socket")
            .arg(&sock)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&c.id);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        let mut child = cmd.spawn().map_err(EngineError::io("run", &rt.binary))?;
        // The runtime connects only if it gets that far: wait for either.
        listener
            .set_nonblocking(true)
            .map_err(EngineError::io("listen on", &sock))?;
        let master = loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    break receive_from(&stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if child
                        .try_wait()
                        .map_err(EngineError::io("wait for", &rt.binary))?
                        .is_some()
                    {
                        break Err(EngineError::io(
                            "receive the terminal from",
                            "console socket",
                        )(
                            std::io::ErrorKind::NotConnected.into()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => break Err(EngineError::io("accept on", "console socket")(e)),
            }
        };
        let status = child
            .wait()
            .map_err(EngineError::io("wait for", &rt.binary))?;
        let _ = std::fs::remove_file(&sock);
        if !status.success() {
            return Err(failed(status));
        }
        let master = master?;
        let pid = read_pid(&pid_file)?;
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&log);
        let pid = Pid::from_raw(pid).ok_or_else(|| {
            EngineError::io("parse pid in", &pid_file)(std::io::ErrorKind::InvalidData.into())
        })?;
        let code_master = master.try_clone().ok();
        let proxy = TerminalProxy::start(master, stdio.stdin, None)?;
        let code = wait_forwarding(pid, code_master.as_ref());
        proxy.finish();
        Ok(code)
    }
}

/// `--restart`: no, on-failure[:N], always or unless-stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartPolicy {
    No,
    OnFailure(Option<u32>),
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    pub(crate) fn parse(s: Option<&str>) -> Result<RestartPolicy> {
        let bad = |s: &str| {
            EngineError::InvalidOption(format!(
                "invalid restart policy {s:?}: use no, on-failure[:N], always or unless-stopped"
            ))
        };
        Ok(match s.unwrap_or("no") {
            "no" | "" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure(None),
            other => match other.strip_prefix("on-failure:") {
                Some(n) => RestartPolicy::OnFailure(Some(n.parse().map_err(|_| bad(other))?)),
                None => return Err(bad(other)),
            },
        })
    }

    /// Whether a container that exited with `code` after `restarts` restarts again.
    pub(crate) fn restarts_after(self, code: i32, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
        }
    }
}

/// A container the runtime has started.
struct Started {
    pid: Pid,
    /// The pty master, with a terminal.
    master: Option<OwnedFd>,
    log: std::sync::Arc<JsonLog>,
    /// Threads copying the container's stdout and stderr to the user and the log.
    copiers: Vec<std::thread::JoinHandle<()>>,
}

/// A runtime action in progress.
struct RuntimeCall {
    child: std::process::Child,
    log: PathBuf,
    runtime: String,
    action: String,
}

impl RuntimeCall {
    /// Waits for the action; its logged error becomes the failure.
    fn finish(self) -> Result<()> {
        let output = self
            .child
            .wait_with_output()
            .map_err(EngineError::io("wait for", &self.runtime))?;
        if output.status.success() {
            return Ok(());
        }
        let message = runtime_error(&self.log)
            .unwrap_or_else(|| String::from_utf8_lossy(&output.stderr).trim().to_owned());
        Err(EngineError::Runtime {
            runtime: self.runtime,
            action: self.action,
            message,
        })
    }
}

/// Options of `berth exec` besides the command.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

fn berth_types_spec(bundle: &Path) -> Result<berth_types::runtime::Spec> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(EngineError::io("read", &path))?;
    serde_json::from_slice(&bytes).map_err(|source| EngineError::InvalidJson {
        what: format!("bundle config {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_dockers_exit_codes() {
        let code = |m: &str| match start_error(m.into()) {
            EngineError::Start { code, .. } => code,
            _ => unreachable!(),
        };
        assert_eq!(
            code("exec: \"nosuch\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            code("exec: \"/x\": stat /x: no such file or directory"),
            127
        );
        assert_eq!(code("exec: \"/etc\": permission denied"), 126);
        assert_eq!(code("pivot_root: invalid argument"), 125);
    }

    #[test]
    fn the_last_logged_error_is_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(
            &log,
            "{\"level\":\"info\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"boom\"}\n",
        )
        .unwrap();
        assert_eq!(runtime_error(&log).as_deref(), Some("boom"));
        std::fs::write(&log, "plain text failure\n").unwrap();
        assert_eq!(runtime_error(&log).as_deref(), Some("plain text failure"));
        assert_eq!(runtime_error(&dir.path().join("none")), None);
    }
}
