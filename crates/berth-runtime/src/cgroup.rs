//! Control groups on pure cgroup v2 and on the v1 + v2 hybrid layout: create a container's group in
//! every hierarchy berth uses, apply memory, CPU and pids limits, move a process in, freeze, list,
//! kill and remove.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_types::runtime::Resources;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// The v1 hierarchies a container joins; others (cpuset needs its cpus and mems seeded, named
/// hierarchies belong to the init system) are left alone.
const V1_CONTROLLERS: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "freezer", "devices", "blkio",
];

/// Whether `/sys/fs/cgroup` is the unified (v2) hierarchy.
pub(crate) fn is_v2_host() -> bool {
    rustix::fs::statfs(CGROUP_ROOT).is_ok_and(|s| s.f_type == CGROUP2_SUPER_MAGIC)
}

/// A container's control group: its directory in each hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cgroup {
    /// The unified (v2) directory: the only one on pure v2; on the hybrid layout it only tracks
    /// membership, since its controllers are mounted elsewhere.
    pub unified: Option<PathBuf>,
    /// Whether limits go through the unified directory (pure v2).
    pub v2: bool,
    /// v1 controller name → directory.
    pub v1: Vec<(String, PathBuf)>,
}

impl Cgroup {
    /// The group at `path` (relative to each hierarchy's root) on this host's layout. Nothing is
    /// created yet.
    pub fn locate(path: &str) -> Result<Cgroup> {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() || rel.split('/').any(|c| c == ".." || c == ".") {
            return Err(RuntimeError::Config(format!(
                "cgroupsPath {path:?} is not a clean path"
            )));
        }
        let root = Path::new(CGROUP_ROOT);
        let fs = rustix::fs::statfs(root).map_err(|e| RuntimeError::Cgroup {
            path: root.into(),
            what: "reading the cgroup mount".into(),
            source: e.into(),
        })?;
        if fs.f_type == CGROUP2_SUPER_MAGIC {
            return Ok(Cgroup {
                unified: Some(root.join(rel)),
                v2: true,
                v1: Vec::new(),
            });
        }
        let mut cgroup = Cgroup::default();
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").map_err(|e| RuntimeError::Read {
                path: "/proc/self/mountinfo".into(),
                source: e,
            })?;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = left.split(' ').nth(4).unwrap_or_default();
            let mut right = right.split(' ');
            let (fstype, _source, options) =
                (right.next(), right.next(), right.next().unwrap_or(""));
            match fstype {
                Some("cgroup2") if cgroup.unified.is_none() => {
                    cgroup.unified = Some(Path::new(mount_point).join(rel));
                }
                Some("cgroup") => {
                    for option in options.split(',') {
                        if V1_CONTROLLERS.contains(&option) {
                            cgroup
                                .v1
                                .push((option.to_owned(), Path::new(mount_point).join(rel)));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(cgroup)
    }

    /// Every distinct directory of the group.
    pub fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = self.unified.iter().map(PathBuf::as_path).collect();
        for (_, dir) in &self.v1 {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }

    fn controller(&self, name: &str) -> Option<&Path> {
        if self.v2 {
            return self.unified.as_deref();
        }
        self.v1
            .iter()
            .find(|(c, _)| c == name)
            .map(|(_, d)| d.as_path())
    }

    /// Creates the group's directories, enables the v2 controllers it needs, and applies `resources`.
    pub fn create(&self, resources: Option<&Resources>) -> Result<()> {
        for dir in self.dirs() {
            // A concurrent removal of the last sibling may take the parent away once.
            fs::create_dir_all(dir)
                .or_else(|_| fs::create_dir_all(dir))
                .map_err(|e| cgroup_error(dir, "creating", e))?;
        }
        if self.v2 {
            self.enable_v2_controllers()?;
        }
        if let Some(r) = resources {
            self.apply(r)?;
        }
        Ok(())
    }

    fn enable_v2_controllers(&self) -> Result<()> {
        let Some(dir) = &self.unified else {
            return Ok(());
        };
        let root = Path::new(CGROUP_ROOT);
        let mut parent = root.to_path_buf();
        let Ok(rel) = dir.strip_prefix(root) else {
            return Ok(());
        };
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let wanted: Vec<String> = ["memory", "cpu", "pids"]
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .map(|c| format!("+{c}"))
            .collect();
        for component in rel.components() {
            write_file(&parent, "cgroup.subtree_control", &wanted.join(" "))?;
            parent.push(component);
        }
        Ok(())
    }

    /// Writes the limits in `r` to the controllers that carry them.
    pub fn apply(&self, r: &Resources) -> Result<()> {
        if let Some(memory) = &r.memory
            && let (Some(limit), Some(dir)) = (memory.limit, self.controller("memory"))
        {
            if self.v2 {
                write_file(dir, "memory.max", &max_or(limit))?;
                if let Some(swap) = memory.swap {
                    // v2 counts swap apart from memory; the spec's value is memory + swap.
                    let swap = if swap < 0 {
                        "max".into()
                    } else {
                        (swap - limit).max(0).to_string()
                    };
                    write_optional(dir, "memory.swap.max", &swap)?;
                }
            } else {
                write_file(dir, "memory.limit_in_bytes", &limit.to_string())?;
                if let Some(swap) = memory.swap {
                    write_optional(dir, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                }
            }
        }
        if let (Some(cpu), Some(dir)) = (&r.cpu, self.controller("cpu")) {
            let period = cpu.period.unwrap_or(100_000);
            if self.v2 {
                if let Some(quota) = cpu.quota {
                    write_file(dir, "cpu.max", &format!("{} {period}", max_or(quota)))?;
                }
                if let Some(shares) = cpu.shares {
                    // The kernel's mapping of v1 shares [2, 262144] onto v2 weights [1, 10000].
                    let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                    write_file(dir, "cpu.weight", &weight.to_string())?;
                }
            } else {
                if let Some(quota) = cpu.quota {
                    write_file(dir, "cpu.cfs_period_us", &period.to_string())?;
                    write_file(dir, "cpu.cfs_quota_us", &quota.to_string())?;
                }
                if let Some(shares) = cpu.shares {
                    write_file(dir, "cpu.shares", &shares.to_string())?;
                }
            }
        }
        if !self.v2
            && !r.devices.is_empty()
            && let Some(dir) = self.controller("devices")
        {
            // Each rule in order, as the kernel's list is built: a leading deny-all clears it.
            for rule in &r.devices {
                let file = if rule.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write_file(dir, file, &rule.v1_line())?;
            }
        }
        if let (Some(pids), Some(dir)) = (&r.pids, self.controller("pids")) {
            write_file(dir, "pids.max", &max_or(pids.limit))?;
        }
        Ok(())
    }

    /// Moves process `pid` into every directory of the group.
    pub fn add(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write_file(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the group.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self
            .controller("pids")
            .or_else(|| self.dirs().first().copied())
        else {
            return Ok(Vec::new());
        };
        match fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(cgroup_error(dir, "listing processes", e)),
        }
    }

    /// Whether the group is frozen.
    pub fn is_frozen(&self) -> bool {
        if self.v2 {
            let Some(dir) = &self.unified else {
                return false;
            };
            return fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1");
        }
        self.controller("freezer")
            .and_then(|d| fs::read_to_string(d.join("freezer.state")).ok())
            .is_some_and(|s| s.trim() != "THAWED")
    }

    /// Freezes (`true`) or thaws the group, waiting until the kernel reports it done.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let (dir, file, value, done) = if self.v2 {
            let dir = self.unified.as_deref();
            (
                dir,
                "cgroup.freeze",
                if frozen { "1" } else { "0" },
                if frozen { "1" } else { "0" },
            )
        } else {
            let dir = self.controller("freezer");
            let value = if frozen { "FROZEN" } else { "THAWED" };
            (dir, "freezer.state", value, value)
        };
        let Some(dir) = dir else {
            return Err(RuntimeError::Config(
                "no freezer controller is mounted".into(),
            ));
        };
        write_file(dir, file, value)?;
        for _ in 0..1000 {
            let now = if self.v2 {
                fs::read_to_string(dir.join("cgroup.events"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("frozen ").map(str::to_owned))
                    })
            } else {
                fs::read_to_string(dir.join(file)).ok()
            };
            if now.as_deref().map(str::trim) == Some(done) {
                return Ok(());
            }
            if !self.v2 {
                write_file(dir, file, value)?;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(cgroup_error(
            dir,
            "freezing",
            io::ErrorKind::TimedOut.into(),
        ))
    }

    /// Sends SIGKILL to every process in the group.
    pub fn kill_all(&self) -> Result<()> {
        for pid in self.pids()? {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        Ok(())
    }

    /// Removes the group's directories. The group must be empty: a process that is still exiting
    /// keeps a directory busy for a moment, so removal retries for up to a second.
    pub fn destroy(&self) -> Result<()> {
        for dir in self.dirs() {
            let mut tries = 0;
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error())
                            && tries < 1000 =>
                    {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => return Err(cgroup_error(dir, "removing", e)),
                }
            }
            // The parent was made for containers; it goes with the last of them. A parent still
            // in use answers EBUSY and stays.
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(())
    }
}

fn max_or(value: i64) -> String {
    if value <= 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

fn cgroup_error(dir: &Path, what: &str, source: io::Error) -> RuntimeError {
    RuntimeError::Cgroup {
        path: dir.to_path_buf(),
        what: what.to_owned(),
        source,
    }
}

fn write_file(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| cgroup_error(dir, &format!("writing {value:?} to {file}"), e))
}

/// Like [`write_file`], for files a kernel may lack (swap accounting off).
fn write_optional(dir: &Path, file: &str, value: &str) -> Result<()> {
    if dir.join(file).exists() {
        write_file(dir, file, value)
    } else {
        Ok(())
    }
}
