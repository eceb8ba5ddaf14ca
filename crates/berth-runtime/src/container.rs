//! A container's lifecycle as the runtime spec defines it: create, start, state, kill, delete,
//! plus run, exec, ps, pause and resume. State lives in `<root>/<id>/state.json`; the status is
//! derived from the live process, never trusted from the file alone.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_types::runtime::{OCI_VERSION, Process, Spec, State};
use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal};
use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroup;
use crate::error::{Context, Result, RuntimeError};
use crate::init::{self, InitContext};
use crate::{namespace, process, sync};

const STATE_FILE: &str = "state.json";
const EXEC_FIFO: &str = "exec.fifo";

/// Where the runtime keeps its state, runc's `--root`.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

/// What the runtime records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub pid: i32,
    /// The init's start time in clock ticks since boot, so a reused pid is never mistaken for it.
    pub pid_start: u64,
    pub created: String,
    pub cgroup: Cgroup,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The status the runtime spec names, derived from the live system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Options of `create` and `run`.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
}

/// Reads a process's start time from `/proc/PID/stat`; `None` once it is gone or a zombie.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

pub fn valid_id(id: &str) -> bool {
    // A leading letter or digit keeps ids apart from the runtime's own dot-entries (`.seccomp`).
    id.len() <= 1024
        && id.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.+".contains(&b))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .context(|| format!("writing {}", path.display()))
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into() }
    }

    fn dir(&self, id: &str) -> Result<PathBuf> {
        if !valid_id(id) {
            return Err(RuntimeError::InvalidId(id.to_owned()));
        }
        Ok(self.root.join(id))
    }

    pub fn load(&self, id: &str) -> Result<Container> {
        let path = self.dir(id)?.join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.to_owned()));
            }
            Err(e) => return Err(RuntimeError::Read { path, source: e }),
        };
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Spec { path, source: e })
    }

    /// Every container under the root, in id order.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(RuntimeError::Read {
                    path: self.root.clone(),
                    source: e,
                });
            }
        };
        for entry in entries.flatten() {
            if let Some(id) = entry.file_name().to_str()
                && let Ok(c) = self.load(id)
            {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub fn status(&self, c: &Container) -> Status {
        if c.pid <= 0 || start_time(c.pid) != Some(c.pid_start) {
            Status::Stopped
        } else if self.root.join(&c.id).join(EXEC_FIFO).exists() {
            Status::Created
        } else if c.cgroup.is_frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }

    pub fn state(&self, id: &str) -> Result<State> {
        let c = self.load(id)?;
        let status = self.status(&c);
        Ok(State {
            oci_version: OCI_VERSION.into(),
            id: c.id.clone(),
            status: status.as_str().into(),
            pid: if status == Status::Stopped { 0 } else { c.pid },
            bundle: c.bundle.to_string_lossy().into_owned(),
            annotations: c.annotations,
        })
    }

    /// `create`: sets the container up and leaves its init waiting for `start`.
    pub fn create(&self, id: &str, bundle: &Path, options: &CreateOptions) -> Result<Container> {
        self.spawn(id, bundle, options, true)
    }

    fn spawn(
        &self,
        id: &str,
        bundle: &Path,
        options: &CreateOptions,
        with_fifo: bool,
    ) -> Result<Container> {
        let dir = self.dir(id)?;
        let bundle = std::path::absolute(bundle)
            .context(|| format!("resolving bundle {}", bundle.display()))?;
        let spec = read_spec(&bundle)?;
        let rootfs = rootfs_path(&spec, &bundle)?;
        let linux = spec.linux.clone().unwrap_or_default();
        if let Some(caps) = spec.process.as_ref().and_then(|p| p.capabilities.as_ref()) {
            process::validate_capabilities(caps)?;
        }
        let flags = namespace::clone_flags(&linux.namespaces)?;
        let cgroup = Cgroup::locate(
            linux
                .cgroups_path
                .as_deref()
                .unwrap_or(&format!("/berth-runtime/{id}")),
        )?;

        fs::create_dir_all(&self.root).context(|| format!("creating {}", self.root.display()))?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Exists(id.to_owned()));
            }
            Err(e) => return Err(e).context(|| format!("creating {}", dir.display())),
        }
        let result = (|| {
            let fifo = if with_fifo {
                let path = dir.join(EXEC_FIFO);
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &path,
                    rustix::fs::FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .context(|| format!("creating {}", path.display()))?;
                Some(
                    rustix::fs::open(&path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                        .context(|| "opening the exec fifo".into())?,
                )
            } else {
                None
            };
            let console_socket = options
                .console_socket
                .as_ref()
                .map(|p| connect(p))
                .transpose()?;
            let pid_ns = linux
                .namespaces
                .iter()
                .find(|n| n.kind == "pid")
                .and_then(|n| n.path.clone());
            if let Some(path) = pid_ns {
                namespace::join(&[namespace::open("pid", &path)?])?;
            }
            let seccomp = self.seccomp_program(&linux)?;
            let (parent, child) = sync::pair()?;
            let pid = match berth_sys::clone_process(flags)
                .context(|| "cloning the container process".into())?
            {
                None => {
                    drop(parent);
                    init::run(InitContext {
                        spec: &spec,
                        bundle: &bundle,
                        rootfs: &rootfs,
                        channel: child,
                        fifo,
                        console_socket,
                        seccomp,
                    })
                }
                Some(pid) => pid,
            };
            drop(child);
            let container = Container {
                id: id.to_owned(),
                bundle: bundle.clone(),
                pid: pid.as_raw_nonzero().get(),
                pid_start: start_time(pid.as_raw_nonzero().get()).unwrap_or(0),
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                cgroup: cgroup.clone(),
                annotations: spec.annotations.clone(),
            };
            let setup = (|| {
                cgroup.create(linux.resources.as_ref())?;
                cgroup.add(container.pid)?;
                write_id_maps(container.pid, &linux)?;
                // An init that failed early has closed its end: its reason is waiting in the
                // socket, and says more than the broken pipe.
                let sent = parent.send("go");
                parent.expect("ready").and(sent)
            })();
            if let Err(e) = setup {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                return Err(e);
            }
            let recorded = write_atomic(
                &dir.join(STATE_FILE),
                &serde_json::to_vec(&container).expect("state serialises"),
            )
            .and_then(|()| match &options.pid_file {
                Some(pid_file) => write_atomic(pid_file, container.pid.to_string().as_bytes()),
                None => Ok(()),
            });
            if let Err(e) = recorded {
                // Nobody could ever start or delete an init the state does not record.
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                return Err(e);
            }
            Ok(container)
        })();
        if result.is_err() {
            let _ = cgroup.destroy();
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    /// The container's seccomp program, compiled once per profile (see [`crate::seccomp`]).
    fn seccomp_program(&self, linux: &berth_types::runtime::Linux) -> Result<Option<Vec<u8>>> {
        linux
            .seccomp
            .as_ref()
            .map(|s| crate::seccomp::program(s, &self.root.join(".seccomp")))
            .transpose()
    }

    /// `start`: lets a created container's init exec the user's program.
    pub fn start(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        let status = self.status(&c);
        if status != Status::Created {
            return Err(wrong_state(&c, status, "start", "created"));
        }
        let path = self.root.join(id).join(EXEC_FIFO);
        let fifo = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .context(|| format!("opening {}", path.display()))?;
        let mut byte = [0u8; 1];
        loop {
            match rustix::io::read(&fifo, &mut byte) {
                Ok(1) => break,
                Ok(_) | Err(rustix::io::Errno::AGAIN) => {
                    if start_time(c.pid) != Some(c.pid_start) {
                        return Err(RuntimeError::Init(format!(
                            "container {id}'s init exited before start"
                        )));
                    }
                    let mut fds = [PollFd::new(&fifo, PollFlags::IN)];
                    let timeout = rustix::event::Timespec {
                        tv_sec: 0,
                        tv_nsec: 10_000_000,
                    };
                    let _ = rustix::event::poll(&mut fds, Some(&timeout));
                }
                Err(e) => return Err(e).context(|| "reading the exec fifo".into()),
            }
        }
        fs::remove_file(&path).context(|| format!("removing {}", path.display()))
    }

    /// `run`: create, start, and wait; returns the exit status as a shell reports it.
    pub fn run(&self, id: &str, bundle: &Path, options: &CreateOptions) -> Result<i32> {
        let c = self.spawn(id, bundle, options, false)?;
        let status = wait_child(c.pid);
        self.cleanup(&c)?;
        Ok(status)
    }

    /// Sends `signal` to the init, or with `all` to every process of the container.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<()> {
        let c = self.load(id)?;
        let status = self.status(&c);
        if status == Status::Stopped {
            return Err(wrong_state(&c, status, "kill", "running"));
        }
        if all {
            for pid in c.cgroup.pids()? {
                if let Some(pid) = Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, signal);
                }
            }
            return Ok(());
        }
        let pidfd = self.pidfd(&c)?;
        rustix::process::pidfd_send_signal(&pidfd, signal)
            .context(|| format!("signalling container {id}"))
    }

    /// A pidfd for the init, checked to be the same process the state names.
    fn pidfd(&self, c: &Container) -> Result<OwnedFd> {
        let pid = Pid::from_raw(c.pid).ok_or_else(|| RuntimeError::NotFound(c.id.clone()))?;
        let fd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .context(|| format!("pidfd of container {}", c.id))?;
        if start_time(c.pid) != Some(c.pid_start) {
            return Err(wrong_state(c, Status::Stopped, "signal", "running"));
        }
        Ok(fd)
    }

    /// `delete`: removes a stopped (or, with `force`, any) container's state and cgroup.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let c = match self.load(id) {
            Ok(c) => c,
            Err(RuntimeError::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let status = self.status(&c);
        match status {
            Status::Stopped => {}
            Status::Created => self.kill_and_wait(&c)?,
            _ if force => self.kill_and_wait(&c)?,
            _ => return Err(wrong_state(&c, status, "delete", "stopped (or --force)")),
        }
        self.cleanup(&c)
    }

    fn kill_and_wait(&self, c: &Container) -> Result<()> {
        let pidfd = self.pidfd(c).ok();
        c.cgroup.kill_all()?;
        if c.cgroup.is_frozen() {
            c.cgroup.freeze(false)?;
        }
        if let Some(fd) = &pidfd {
            let _ = rustix::process::pidfd_send_signal(fd, Signal::KILL);
            wait_pidfd(fd, Duration::from_secs(10));
        }
        Ok(())
    }

    fn cleanup(&self, c: &Container) -> Result<()> {
        c.cgroup.kill_all()?;
        c.cgroup.destroy()?;
        let dir = self.dir(&c.id)?;
        fs::remove_dir_all(&dir).context(|| format!("removing {}", dir.display()))
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        match self.status(&c) {
            Status::Running => c.cgroup.freeze(true),
            s => Err(wrong_state(&c, s, "pause", "running")),
        }
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        match self.status(&c) {
            Status::Paused => c.cgroup.freeze(false),
            s => Err(wrong_state(&c, s, "resume", "paused")),
        }
    }

    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        self.load(id)?.cgroup.pids()
    }

    /// `exec`: runs `process` inside a running container, in its namespaces and cgroup and under
    /// its seccomp profile. Returns the process's pid when `detach`, else its exit status.
    pub fn exec(
        &self,
        id: &str,
        process: &Process,
        options: &CreateOptions,
        detach: bool,
    ) -> Result<i32> {
        let c = self.load(id)?;
        let status = self.status(&c);
        if status != Status::Running {
            return Err(wrong_state(&c, status, "exec", "running"));
        }
        let spec = read_spec(&c.bundle)?;
        let linux = spec.linux.clone().unwrap_or_default();
        let kinds = ["user", "ipc", "uts", "network", "pid", "cgroup", "mount"];
        let handles = kinds
            .iter()
            .filter(|k| linux.namespaces.iter().any(|n| n.kind == **k))
            .map(|k| namespace::open(k, &format!("/proc/{}/ns/{}", c.pid, ns_file(k))))
            .collect::<Result<Vec<_>>>()?;
        if start_time(c.pid) != Some(c.pid_start) {
            return Err(wrong_state(&c, Status::Stopped, "exec", "running"));
        }
        // Opened and read before joining: the paths are the host's.
        let seccomp = self.seccomp_program(&linux)?;
        let pid_file = options
            .pid_file
            .as_ref()
            .map(|p| fs::File::create(p).context(|| format!("creating {}", p.display())))
            .transpose()?;
        let console_socket = options
            .console_socket
            .as_ref()
            .map(|p| connect(p))
            .transpose()?;
        // Nothing in the container may open this process through /proc while it joins.
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .context(|| "prctl".into())?;
        c.cgroup
            .add(rustix::process::getpid().as_raw_nonzero().get())?;
        namespace::join(&handles)?;
        let (parent, child) = sync::pair()?;
        let pid = match berth_sys::clone_process(0).context(|| "forking the exec process".into())? {
            None => {
                drop(parent);
                let error = match exec_child(process, seccomp.as_deref(), console_socket) {
                    Ok(never) => match never {},
                    Err(e) => e,
                };
                child.send_error(&error);
                std::process::exit(1)
            }
            Some(pid) => pid,
        };
        drop(child);
        // The child's "ready" never comes: it execs; its sync end closes on exec (EOF) or it
        // reports an error first.
        match parent.expect("") {
            Ok(()) => {}
            Err(e) => {
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                return Err(e);
            }
        }
        if let Some(mut file) = pid_file {
            use std::io::Write;
            file.write_all(pid.as_raw_nonzero().get().to_string().as_bytes())
                .context(|| "writing the pid file".into())?;
        }
        if detach {
            return Ok(pid.as_raw_nonzero().get());
        }
        Ok(wait_child(pid.as_raw_nonzero().get()))
    }
}

fn exec_child(
    p: &Process,
    seccomp: Option<&[u8]>,
    console_socket: Option<OwnedFd>,
) -> Result<std::convert::Infallible> {
    if p.terminal {
        let socket = console_socket.ok_or_else(|| {
            RuntimeError::Config("process.terminal needs --console-socket".into())
        })?;
        let (master, slave) = crate::console::open_pty(p.console_size, false)?;
        crate::console::send_fd(&socket, &master, "console")?;
        process::use_terminal(&slave)?;
    }
    process::apply_rlimits(&p.rlimits)?;
    process::enter_cwd(&p.cwd)?;
    let first = p
        .args
        .first()
        .ok_or_else(|| RuntimeError::Config("process.args is empty".into()))?;
    let program = process::find_program(first, &p.env)?;
    process::exec(p, &program, seccomp)
}

fn ns_file(kind: &str) -> &str {
    match kind {
        "mount" => "mnt",
        "network" => "net",
        k => k,
    }
}

fn connect(path: &Path) -> Result<OwnedFd> {
    let stream = std::os::unix::net::UnixStream::connect(path)
        .context(|| format!("connecting to console socket {}", path.display()))?;
    Ok(stream.into())
}

fn wrong_state(
    c: &Container,
    status: Status,
    action: &'static str,
    needs: &'static str,
) -> RuntimeError {
    RuntimeError::WrongState {
        id: c.id.clone(),
        status: status.as_str(),
        action,
        needs,
    }
}

pub fn read_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = fs::read(&path).map_err(|e| RuntimeError::Read {
        path: path.clone(),
        source: e,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Spec { path, source: e })
}

fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root
        .as_ref()
        .ok_or_else(|| RuntimeError::Config("the spec has no root".into()))?;
    let path = bundle.join(&root.path);
    if !path.is_dir() {
        return Err(RuntimeError::Config(format!(
            "root {} is not a directory",
            path.display()
        )));
    }
    Ok(path)
}

fn write_id_maps(pid: i32, linux: &berth_types::runtime::Linux) -> Result<()> {
    let write = |file: &str, maps: &[berth_types::runtime::IdMapping]| -> Result<()> {
        if maps.is_empty() {
            return Ok(());
        }
        let text: String = maps
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
            .collect();
        fs::write(format!("/proc/{pid}/{file}"), text).context(|| format!("writing {file}"))
    };
    write("uid_map", &linux.uid_mappings)?;
    write("gid_map", &linux.gid_mappings)
}

/// Waits for a child and returns its status as a shell reports it (128+signal when killed).
pub fn wait_child(pid: i32) -> i32 {
    let Some(pid) = Pid::from_raw(pid) else {
        return 255;
    };
    loop {
        match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => return berth_sys::shell_status(status),
            Err(rustix::io::Errno::INTR) => continue,
            _ => return 255,
        }
    }
}

fn wait_pidfd(fd: &impl AsFd, limit: Duration) {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let timeout = rustix::event::Timespec {
        tv_sec: limit.as_secs() as i64,
        tv_nsec: 0,
    };
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
}
