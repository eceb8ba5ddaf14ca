//! `berth stats` and `berth top`: a running container's usage from its cgroups (v1 controllers
//! or the unified hierarchy), and its processes.

use std::path::{Path, PathBuf};

use super::Container;
use crate::{Engine, EngineError, Result};

/// The cgroup parent every container's spec names (`cgroupsPath` = `/berth/<id>`).
pub(crate) const CGROUP_PARENT: &str = "berth";

/// A container's cgroup directory: in the v1 `controller` hierarchy, or in the unified
/// hierarchy (`None`, under `/sys/fs/cgroup` on v2 hosts).
pub(crate) fn cgroup_dir(id: &str, controller: Option<&str>) -> PathBuf {
    let root = Path::new("/sys/fs/cgroup");
    controller
        .map_or(root.to_path_buf(), |c| root.join(c))
        .join(CGROUP_PARENT)
        .join(id)
}

/// One reading of a container's cgroups.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU time used, nanoseconds.
    pub cpu_nanos: u64,
    pub memory: u64,
    /// The memory limit, or the host's memory when unlimited.
    pub memory_limit: u64,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kib| kib * 1024)
}

impl Engine {
    /// The container's cgroup usage now.
    pub fn usage(&self, c: &Container) -> Usage {
        let v1 = |controller: &str| cgroup_dir(&c.id, Some(controller));
        let v2 = cgroup_dir(&c.id, None);
        let mut u = Usage::default();
        if v1("memory").exists() {
            u.cpu_nanos = read_u64(&v1("cpuacct").join("cpuacct.usage")).unwrap_or(0);
            u.memory = read_u64(&v1("memory").join("memory.usage_in_bytes")).unwrap_or(0);
            u.memory_limit =
                read_u64(&v1("memory").join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
            u.pids = read_u64(&v1("pids").join("pids.current")).unwrap_or(0);
            let io = std::fs::read_to_string(v1("blkio").join("blkio.throttle.io_service_bytes"))
                .unwrap_or_default();
            for line in io.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let [_, op, n] = f.as_slice() {
                    let n: u64 = n.parse().unwrap_or(0);
                    match *op {
                        "Read" => u.block_read += n,
                        "Write" => u.block_write += n,
                        _ => {}
                    }
                }
            }
        } else if v2.exists() {
            let stat = std::fs::read_to_string(v2.join("cpu.stat")).unwrap_or_default();
            u.cpu_nanos = stat
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok())
                .unwrap_or(0)
                * 1000;
            u.memory = read_u64(&v2.join("memory.current")).unwrap_or(0);
            u.memory_limit = read_u64(&v2.join("memory.max")).unwrap_or(u64::MAX);
            u.pids = read_u64(&v2.join("pids.current")).unwrap_or(0);
            let io = std::fs::read_to_string(v2.join("io.stat")).unwrap_or_default();
            for field in io.split_whitespace() {
                if let Some(n) = field.strip_prefix("rbytes=") {
                    u.block_read += n.parse::<u64>().unwrap_or(0);
                } else if let Some(n) = field.strip_prefix("wbytes=") {
                    u.block_write += n.parse::<u64>().unwrap_or(0);
                }
            }
        }
        let host = host_memory();
        if u.memory_limit == 0 || u.memory_limit > host {
            u.memory_limit = host;
        }
        u
    }

    /// `berth top`: the container's processes, as the host's `ps` shows them with `ps_args`.
    pub fn top(&self, name: &str, ps_args: &[String]) -> Result<String> {
        let c = self.current(name)?;
        if !c.state.status.is_live() {
            return Err(EngineError::ContainerState(format!(
                "container {} is not running",
                c.name
            )));
        }
        let procs = std::fs::read_to_string(cgroup_dir(&c.id, Some("pids")).join("cgroup.procs"))
            .or_else(|_| std::fs::read_to_string(cgroup_dir(&c.id, None).join("cgroup.procs")))
            .map_err(EngineError::io("list the processes of", &c.id))?;
        let pids: Vec<&str> = procs.split_whitespace().collect();
        let mut cmd = std::process::Command::new("ps");
        if ps_args.is_empty() {
            cmd.args(["-o", "uid,pid,ppid,c,stime,tty,time,cmd"]);
        } else {
            cmd.args(ps_args);
        }
        let out = cmd
            .arg("-p")
            .arg(pids.join(","))
            .output()
            .map_err(EngineError::io("run", "ps"))?;
        if !out.status.success() && out.stdout.is_empty() {
            return Err(EngineError::InvalidOption(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
