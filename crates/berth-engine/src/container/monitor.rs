//! Background containers under `berth-monitor`. berth prepares the container (root mounted,
//! bundle written, lifecycle lock held) and starts the monitor with the lock's descriptor; the
//! monitor detaches, has the runtime start the container, says `started PID` on a socket, and
//! from then on keeps the container's stdio, log and attach socket. It calls back into berth (the
//! hidden `container-hook` command) to record each restart and exit: the database is berth's.
//!
//! The monitor holds the lock until it is gone, so the rule that a live state with a free lock
//! means nobody watches the container any more still holds.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;

use berth_types::state::{Action, Status, Verdict};

use super::logs::Rotation;
use super::now_rfc3339;
use super::supervise::{RestartPolicy, runtime_error, start_error};
use crate::{Engine, EngineError, Result};

/// `BERTH_MONITOR`, or `berth-monitor` next to the running binary, or on PATH.
fn monitor_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_MONITOR") {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("berth-monitor")))
        .filter(|p| p.is_file())
        .or_else(|| super::supervise::find_in_path("berth-monitor"))
        .ok_or_else(|| {
            EngineError::InvalidOption(
                "the berth-monitor binary was not found next to berth or in PATH".into(),
            )
        })
}

/// Marks `fds` inheritable for the next program started, and close-on-exec again when dropped.
struct Inherit<'a>(Vec<BorrowedFd<'a>>);

impl<'a> Inherit<'a> {
    fn new(fds: Vec<BorrowedFd<'a>>) -> Result<Inherit<'a>> {
        for fd in &fds {
            berth_sys::keep_on_exec(*fd)
                .map_err(EngineError::io("pass a descriptor to", "berth-monitor"))?;
        }
        Ok(Inherit(fds))
    }
}

impl Drop for Inherit<'_> {
    fn drop(&mut self) {
        for fd in &self.0 {
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        }
    }
}

impl Engine {
    /// `berth run -d` and `berth start`: starts the container under its own monitor and returns
    /// once it runs (or with the runtime's error). `hook` is the command the monitor runs to
    /// record restarts and exits: berth's hidden `container-hook`, with the global options.
    pub fn start_background(&self, name: &str, hook: &[OsString]) -> Result<()> {
        let c = self.current(name)?;
        let already =
            || EngineError::ContainerState(format!("container {} is already running", c.name));
        match c.state.status.check(Action::Start, &c.name) {
            Verdict::Refuse(m) => return Err(EngineError::ContainerState(m)),
            Verdict::Nothing => return Err(already()),
            Verdict::Proceed => {}
        }
        let Some(lock) = self.lock_container(&c.id, false)? else {
            return Err(already());
        };
        // Checked again under the lock: a removal may have begun since.
        let c = self.container(&c.id)?;
        if let Verdict::Refuse(m) = c.state.status.check(Action::Start, &c.name) {
            return Err(EngineError::ContainerState(m));
        }
        RestartPolicy::parse(c.options.restart.as_deref())?;
        let rotation = Rotation::parse(&c.options.log_opts)?;
        // A start by hand clears an earlier manual stop; the monitor's restarts keep it.
        let mut c = self.set_state(&c.id, |s| s.manually_stopped = false)?;
        let monitor = monitor_binary()?;
        let run_dir = self.container_run_dir(&c.id);
        std::fs::create_dir_all(&run_dir).map_err(EngineError::io("create", &run_dir))?;
        let rt = self.runtime(&c)?;
        // A leftover from a run that was killed: the runtime's state must go first.
        if rt.root.join(&c.id).exists() {
            let _ = self.runtime_action(&c, &["delete", "--force", &c.id]);
        }
        let _ = std::fs::remove_file(run_dir.join("runtime-run.log"));
        let prepared = self
            .mount_rootfs(&c)
            .and_then(|rootfs| self.write_bundle(&c, &rootfs));
        let bundle = match prepared {
            Ok(b) => b,
            Err(e) => {
                let _ = self.release_rootfs(&c);
                return Err(e);
            }
        };
        let (ours, theirs) =
            UnixStream::pair().map_err(EngineError::io("create a socket for", "berth-monitor"))?;
        let mut cmd = Command::new(&monitor);
        cmd.arg("--id")
            .arg(&c.id)
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--runtime")
            .arg(&rt.binary)
            .arg("--runtime-name")
            .arg(&rt.name)
            .arg("--runtime-root")
            .arg(&rt.root)
            .arg("--log")
            .arg(self.log_path(&c.id))
            .arg("--lock-fd")
            .arg(lock.0.as_raw_fd().to_string())
            .arg("--status-fd")
            .arg(theirs.as_raw_fd().to_string());
        if let Some(max) = rotation.max_size {
            cmd.arg("--max-size")
                .arg(max.to_string())
                .arg("--max-file")
                .arg(rotation.max_file.to_string());
        }
        if c.options.tty {
            cmd.arg("--tty");
        }
        if c.options.interactive {
            cmd.arg("--stdin");
        }
        for part in hook {
            cmd.arg("--hook").arg(part);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut passed = vec![lock.0.as_fd(), theirs.as_fd()];
        if let Some(Some(handle)) = self.runtime_exe.get() {
            passed.push(handle.as_fd());
        }
        let spawned = {
            let _inherit = Inherit::new(passed)?;
            cmd.spawn()
        };
        drop(theirs);
        let report = spawned
            .map_err(EngineError::io("run", &monitor))
            .and_then(|child| {
                // The monitor's first process exits as soon as it has detached.
                let output = child
                    .wait_with_output()
                    .map_err(EngineError::io("run", &monitor))?;
                let mut line = String::new();
                let _ = BufReader::new(&ours).read_line(&mut line);
                if line.is_empty() && !output.status.success() {
                    line = format!("error {}", String::from_utf8_lossy(&output.stderr).trim());
                }
                Ok(line)
            });
        let pid = match report {
            Ok(line) => match line.trim().strip_prefix("started ") {
                Some(pid) => pid.parse::<i32>().ok(),
                None => {
                    let detail = line.trim().trim_start_matches("error").trim();
                    let message = runtime_error(&run_dir.join("runtime-run.log"))
                        .or_else(|| (!detail.is_empty()).then(|| detail.to_owned()))
                        .unwrap_or_else(|| format!("{} could not start the container", rt.name));
                    let _ = self.runtime_delete(&c, true);
                    let _ = self.release_rootfs(&c);
                    return Err(start_error(message));
                }
            },
            Err(e) => {
                let _ = self.release_rootfs(&c);
                return Err(e);
            }
        };
        c = self.set_state(&c.id, |s| {
            // A removal that began meanwhile keeps its state; it kills what runs.
            let status = if s.status == Status::Removing {
                Status::Removing
            } else {
                Status::Running
            };
            *s = super::ContainerState {
                status,
                pid: pid.unwrap_or(0),
                started_at: Some(now_rfc3339()),
                restart_count: s.restart_count,
                manually_stopped: s.manually_stopped,
                ..Default::default()
            }
        })?;
        self.event("start", &c, &[]);
        // Closing our end tells the monitor the start is recorded: only then may it record an
        // exit. Our copy of the lock goes too; the monitor's keeps it held.
        drop(ours);
        drop(lock);
        Ok(())
    }

    /// The hidden `container-hook ID ACTION ARG`, run by the monitor (which holds the lock):
    /// - `restarted PID`: the restart policy started the container again;
    /// - `exited CODE`: the container ended; answers `restart` when the policy restarts it
    ///   (the root stays mounted, the state shows `restarting`), else releases it;
    /// - `stopped start-failed|""`: the monitor gives up (a manual stop during the back-off, or
    ///   a restart the runtime refused); the container is released.
    pub fn monitor_hook(&self, id: &str, action: &str, arg: &str) -> Result<String> {
        let mut c = self.container(id)?;
        match action {
            "restarted" => {
                let pid = arg.parse().unwrap_or(0);
                c = self.set_state(id, |s| {
                    if s.status == Status::Restarting {
                        s.status = Status::Running;
                    }
                    s.pid = pid;
                    s.started_at = Some(now_rfc3339());
                    s.restart_count += 1;
                    s.exit_code = None;
                    s.finished_at = None;
                })?;
                self.event("start", &c, &[]);
                Ok(String::new())
            }
            "exited" => {
                let code: i32 = arg.parse().unwrap_or(255);
                let policy = RestartPolicy::parse(c.options.restart.as_deref())?;
                let restart = !c.state.manually_stopped
                    && c.state.status != Status::Removing
                    && !c.options.auto_remove
                    && policy.restarts_after(code, c.state.restart_count);
                if !restart {
                    self.stopped(&mut c, Some(code))?;
                    if c.options.auto_remove {
                        self.remove_locked(&c, None)?;
                    }
                    return Ok("done".into());
                }
                let oom = self.end_run(&c, code);
                self.runtime_delete(&c, true)?;
                c = self.set_state(id, |s| {
                    s.status = Status::Restarting;
                    s.pid = 0;
                    s.exit_code = Some(code);
                    s.oom_killed = oom;
                    s.finished_at = Some(now_rfc3339());
                })?;
                self.event("restart", &c, &[]);
                Ok("restart".into())
            }
            "stopped" => {
                let error = if arg == "start-failed" {
                    runtime_error(&self.container_run_dir(id).join("runtime-run.log"))
                        .unwrap_or_else(|| "the runtime could not restart the container".into())
                } else {
                    String::new()
                };
                let _ = self.runtime_delete(&c, true);
                self.release_rootfs(&c)?;
                c = self.set_state(id, |s| {
                    if s.status != Status::Removing {
                        s.status = Status::Exited;
                    }
                    s.pid = 0;
                    s.error = error.clone();
                })?;
                if c.options.auto_remove {
                    self.remove_locked(&c, None)?;
                }
                Ok("done".into())
            }
            other => Err(EngineError::InvalidOption(format!(
                "unknown monitor hook {other:?}"
            ))),
        }
    }

    /// Asks the container's monitor to give up a pending restart (`berth stop` or `rm -f` of a
    /// `restarting` container). The monitor ignores the signal while the container runs.
    pub(crate) fn signal_monitor(&self, id: &str) {
        let path = self.container_run_dir(id).join("monitor.pid");
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}
