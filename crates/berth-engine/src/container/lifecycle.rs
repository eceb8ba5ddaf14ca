//! The commands that move a running container between states (stop, kill, pause, unpause, wait,
//! remove, rename), the truth check every command starts with, and `ps`'s filters.
//!
//! Who runs a container holds its lifecycle lock (`containers/<id>/lock`) until it has recorded
//! the exit: so a live state whose lock is free means that process is gone (killed, or the host
//! rebooted), and the state is corrected before anything is decided on it.

use std::time::{Duration, Instant};

use berth_types::state::{Action, Status, Verdict};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags};

use super::{Container, now_rfc3339};
use crate::{Engine, EngineError, Result};

/// A wait that starts short and grows to 20 ms: most waits here end within a few milliseconds.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_micros(500))
    }

    fn sleep(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(20));
    }
}

fn refuse(verdict: Verdict) -> Result<bool> {
    match verdict {
        Verdict::Proceed => Ok(true),
        Verdict::Nothing => Ok(false),
        Verdict::Refuse(m) => Err(EngineError::ContainerState(m)),
    }
}

/// Waits until process `pid` has exited, for at most `limit` (forever with `None`). Returns
/// whether it has.
fn wait_exit(pid: i32, limit: Option<Duration>) -> bool {
    let Some(pid) = Pid::from_raw(pid) else {
        return true;
    };
    let Ok(fd) = rustix::process::pidfd_open(pid, PidfdFlags::empty()) else {
        return true;
    };
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let timeout = left.map(|l| rustix::event::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: l.subsec_nanos() as i64,
        });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return true,
        }
    }
}

/// `berth ps --filter` conditions, all of which must hold.
#[derive(Debug, Clone, Default)]
pub struct PsFilter {
    pub status: Vec<Status>,
    pub name: Vec<String>,
    pub id: Vec<String>,
    pub label: Vec<String>,
    pub ancestor: Vec<String>,
    pub exited: Vec<i32>,
}

impl PsFilter {
    /// Parses `key=value` filters as `docker ps --filter` takes them.
    pub fn parse(filters: &[String]) -> Result<PsFilter> {
        let mut f = PsFilter::default();
        for filter in filters {
            let (key, value) = filter.split_once('=').ok_or_else(|| {
                EngineError::InvalidOption(format!(
                    "bad format of filter (expected name=value): {filter}"
                ))
            })?;
            match key {
                "status" => f.status.push(Status::parse(value).ok_or_else(|| {
                    EngineError::InvalidOption(format!(
                        "invalid filter 'status={value}': use created, restarting, running, removing, paused, exited or dead"
                    ))
                })?),
                "name" => f.name.push(value.to_owned()),
                "id" => f.id.push(value.to_owned()),
                "label" => f.label.push(value.to_owned()),
                "ancestor" => f.ancestor.push(value.to_owned()),
                "exited" => f.exited.push(
                    value.parse().map_err(|_| EngineError::InvalidOption(format!("invalid filter 'exited={value}'")))?,
                ),
                _ => return Err(EngineError::InvalidOption(format!("invalid filter '{key}'"))),
            }
        }
        Ok(f)
    }

    fn matches(&self, c: &Container, ancestors: &[berth_types::Digest]) -> bool {
        let any = |list: &Vec<String>, f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        (self.status.is_empty() || self.status.contains(&c.state.status))
            && any(&self.name, &|v| c.name.contains(v))
            && any(&self.id, &|v| c.id.starts_with(v))
            && any(&self.label, &|v| {
                let (k, want) = v.split_once('=').map_or((v, None), |(k, w)| (k, Some(w)));
                c.options.labels.iter().any(|l| {
                    let (lk, lv) = l.split_once('=').unwrap_or((l, ""));
                    lk == k && want.is_none_or(|w| w == lv)
                })
            })
            && (self.ancestor.is_empty() || ancestors.contains(&c.image_id))
            && (self.exited.is_empty()
                || (c.state.status == Status::Exited
                    && c.state.exit_code.is_some_and(|e| self.exited.contains(&e))))
    }
}

impl Engine {
    /// The container, with its state corrected first if whoever ran it is gone.
    pub fn current(&self, name: &str) -> Result<Container> {
        let c = self.container(name)?;
        self.reconcile(c)
    }

    fn reconcile(&self, c: Container) -> Result<Container> {
        if !c.state.status.is_live() && c.state.status != Status::Removing {
            return Ok(c);
        }
        let lock = match self.lock_container(&c.id, false) {
            Ok(lock) => lock,
            // Its directory is gone: a removal is finishing; the record goes next.
            Err(EngineError::NoSuchContainer(_)) => return Ok(c),
            Err(e) => return Err(e),
        };
        let Some(_lock) = lock else {
            return Ok(c);
        };
        // Nobody holds the lock: nothing watches the container any more. A process still
        // running would have no one to reap it or keep its logs, so it is stopped for good.
        tracing::debug!(id = %c.id, status = %c.state.status, "the container's monitor is gone");
        let _ = self.runtime_delete(&c, true);
        let _ = self.release_rootfs(&c);
        let was_removing = c.state.status == Status::Removing;
        self.set_state(&c.id, |s| {
            s.status = if was_removing { Status::Dead } else { Status::Exited };
            s.pid = 0;
            s.exit_code = Some(s.exit_code.unwrap_or(255));
            s.finished_at = Some(now_rfc3339());
            s.error = "the process that ran the container exited without recording how the container ended".into();
        })
    }

    /// Every container, newest first, states corrected.
    pub fn containers_now(&self) -> Result<Vec<Container>> {
        self.containers()?
            .into_iter()
            .map(|c| self.reconcile(c))
            .collect()
    }

    /// `berth ps`: the containers `filter` selects (running ones unless `all`).
    pub fn ps(&self, all: bool, filter: &PsFilter) -> Result<Vec<Container>> {
        let ancestors = filter
            .ancestor
            .iter()
            .filter_map(|a| self.resolve_image(a).ok().map(|i| i.id))
            .collect::<Vec<_>>();
        if !filter.ancestor.is_empty() && ancestors.is_empty() {
            return Ok(Vec::new());
        }
        let all = all || !filter.status.is_empty() || !filter.exited.is_empty();
        Ok(self
            .containers_now()?
            .into_iter()
            .filter(|c| all || c.state.status.is_live())
            .filter(|c| filter.matches(c, &ancestors))
            .collect())
    }

    /// `berth kill [-s SIGNAL]`.
    pub fn kill(&self, name: &str, signal: &str) -> Result<Container> {
        let c = self.current(name)?;
        refuse(c.state.status.check(Action::Kill, &c.name))?;
        let signal = signal.trim_start_matches("SIG").to_ascii_uppercase();
        self.runtime_action(&c, &["kill", &c.id, &signal])?;
        // A kill meant to end the container cancels the restart policy; other signals do not.
        let stop_signal = c.stop_signal.trim_start_matches("SIG").to_ascii_uppercase();
        if signal == "KILL" || signal == "9" || signal == stop_signal {
            self.set_state(&c.id, |s| s.manually_stopped = true)?;
        }
        self.event("kill", &c, &[("signal", signal)]);
        Ok(c)
    }

    /// `berth stop [-t]`: the stop signal, then SIGKILL after `timeout`; returns once the
    /// container's exit is recorded.
    pub fn stop(&self, name: &str, timeout: Duration) -> Result<Container> {
        let c = self.current(name)?;
        if !refuse(c.state.status.check(Action::Stop, &c.name))? {
            return Ok(c);
        }
        // A manual stop cancels the restart policy, also while it waits to restart.
        self.set_state(&c.id, |s| s.manually_stopped = true)?;
        self.event("stop", &c, &[]);
        if c.state.status == Status::Paused {
            // A frozen process cannot act on a signal, not even SIGKILL.
            self.runtime_action(&c, &["resume", &c.id])?;
        }
        if c.state.status == Status::Restarting {
            // Nothing runs: the monitor waits out the back-off, and gives up when told.
            self.signal_monitor(&c.id);
        } else {
            let signal = c.stop_signal.trim_start_matches("SIG").to_ascii_uppercase();
            let sent = self.runtime_action(&c, &["kill", &c.id, &signal]);
            if sent.is_err() || !wait_exit(c.state.pid, Some(timeout)) {
                let _ = self.runtime_action(&c, &["kill", &c.id, "KILL"]);
                wait_exit(c.state.pid, Some(Duration::from_secs(10)));
            }
        }
        // The monitor releases the lock once it has recorded the exit. A restart that raced
        // this stop may have started the program again: it is killed until the monitor,
        // which sees the manual stop, lets go.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut backoff = Backoff::new();
        while self.lock_container(&c.id, false)?.is_none() {
            if Instant::now() > deadline {
                return Err(EngineError::ContainerState(format!(
                    "container {} did not stop",
                    c.name
                )));
            }
            if let Ok(now) = self.container(&c.id) {
                if now.state.status == Status::Running && now.state.pid != c.state.pid {
                    let _ = self.runtime_action(&now, &["kill", &now.id, "KILL"]);
                } else if now.state.status == Status::Restarting {
                    self.signal_monitor(&c.id);
                }
            }
            backoff.sleep();
        }
        self.current(&c.id)
    }

    /// `berth pause` and `berth unpause`, through the freezer.
    pub fn pause(&self, name: &str, pause: bool) -> Result<Container> {
        let c = self.current(name)?;
        let (action, verb, status) = if pause {
            (Action::Pause, "pause", Status::Paused)
        } else {
            (Action::Unpause, "resume", Status::Running)
        };
        refuse(c.state.status.check(action, &c.name))?;
        self.runtime_action(&c, &[verb, &c.id])?;
        self.event(if pause { "pause" } else { "unpause" }, &c, &[]);
        self.set_state(&c.id, |s| {
            if s.status.is_live() {
                s.status = status;
            }
        })
    }

    /// `berth wait`: blocks until the container stops, and returns its exit code.
    pub fn wait(&self, name: &str) -> Result<i32> {
        let c = self.current(name)?;
        if c.state.status.is_live() {
            wait_exit(c.state.pid, None);
            drop(self.lock_container(&c.id, true)?);
        }
        let c = self.current(&c.id)?;
        Ok(c.state.exit_code.unwrap_or(0))
    }

    /// `berth rm [-f]`: refuses what Docker refuses, shows `removing` while it works, and leaves
    /// the container `dead` when the removal fails.
    pub fn remove_container(&self, name: &str, force: bool) -> Result<String> {
        let c = self.current(name)?;
        refuse(c.state.status.check(Action::Remove { force }, &c.name))?;
        let was_live = c.state.status.is_live();
        // Removing also cancels the restart policy.
        self.set_state(&c.id, |s| {
            s.status = Status::Removing;
            s.manually_stopped = true;
        })?;
        let result = (|| {
            if was_live {
                self.runtime_delete(&c, true)?;
            }
            if !force {
                return self.remove_record(&c);
            }
            // A start may be under way that the recorded state does not show yet: whatever runs
            // is killed until whoever started it lets go.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut backoff = Backoff::new();
            let mut killed = was_live;
            loop {
                match self.lock_container(&c.id, false) {
                    Ok(Some(lock)) => return self.remove_locked(&c, Some(lock)),
                    Ok(None) => {}
                    // No directory (a create killed half way): only the record is left.
                    Err(EngineError::NoSuchContainer(_)) => return self.remove_locked(&c, None),
                    Err(e) => return Err(e),
                }
                if Instant::now() > deadline {
                    return Err(EngineError::ContainerState(format!(
                        "container {} did not stop",
                        c.name
                    )));
                }
                // Killed once already: give whoever runs it a moment to let go before again.
                if !killed || backoff.0 >= Duration::from_millis(20) {
                    let _ = self.runtime_delete(&c, true);
                    // A monitor waiting to restart gives up (its hook sees the removal).
                    self.signal_monitor(&c.id);
                }
                killed = true;
                backoff.sleep();
            }
        })();
        if let Err(e) = result {
            let _ = self.set_state(&c.id, |s| {
                s.status = Status::Dead;
                s.error = format!("removal failed: {e}");
            });
            return Err(e);
        }
        Ok(c.id)
    }

    /// `berth rename`.
    pub fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        let c = self.container(name)?;
        if !super::valid_name(new_name) {
            return Err(EngineError::InvalidOption(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        self.store.rename_container(&c.id, new_name)?;
        self.store.modify_container::<EngineError>(&c.id, |old| {
            let mut record: serde_json::Value =
                serde_json::from_str(old).map_err(|source| EngineError::InvalidJson {
                    what: format!("record of container {}", c.id),
                    source,
                })?;
            record["name"] = new_name.into();
            Ok(record.to_string())
        })?;
        Ok(())
    }
}
