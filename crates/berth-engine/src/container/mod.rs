//! Containers: creating one from an image and Docker-style options, preparing its bundle (the
//! overlay root, generated `/etc` files and the OCI spec), running it through an OCI runtime, and
//! removing it.

mod attach;
mod build;
mod commit;
mod confined;
mod copy;
mod diff;
mod export;
mod inspect;
mod lifecycle;
mod logs;
mod monitor;
mod options;
mod overlay;
mod spec;
mod stats;
pub(crate) mod supervise;
mod user;

use std::path::{Path, PathBuf};

use berth_store::ContainerRow;
use berth_types::Digest;
use berth_types::state::Status;
use serde::{Deserialize, Serialize};

pub use build::{BuildRequest, ContextSource, DockerfileSource};
pub use commit::CommitOptions;
pub use lifecycle::PsFilter;
pub use logs::{LogEntry, read_log};
pub(crate) use options::UserMount;
pub use options::{RunOptions, parse_bytes};
pub use stats::Usage;
pub use supervise::{ExecOptions, Stdio};

use crate::{Engine, EngineError, Result};

/// A container's state as berth records it, with Docker's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: Status,
    pub pid: i32,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Why the container is not running as expected, in words.
    #[serde(default)]
    pub error: String,
    /// Restarts made by the restart policy.
    #[serde(default)]
    pub restart_count: u32,
    /// Set by `stop` and `kill`: the restart policy does not apply.
    #[serde(default)]
    pub manually_stopped: bool,
}

/// Everything berth keeps about a container, stored as JSON in its database row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: Digest,
    /// The image as the user named it.
    pub image: String,
    pub created: String,
    pub options: RunOptions,
    /// The signal that asks the program to stop: the image's STOPSIGNAL, else SIGTERM.
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    pub state: ContainerState,
}

fn default_stop_signal() -> String {
    "SIGTERM".into()
}

/// An exclusive hold on a container's lifecycle, released on drop.
pub(crate) struct ContainerLock(#[allow(dead_code)] std::fs::File);

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "deft", "eager", "fleet", "gentle", "hardy", "keen", "lucid",
    "merry", "nimble", "quiet", "rapid", "steady", "swift", "tidy", "vivid", "wise", "zesty",
];
const NOUNS: &[&str] = &[
    "anchor", "beacon", "bollard", "buoy", "capstan", "davit", "galley", "harbor", "hawser",
    "jetty", "keel", "lantern", "mooring", "pier", "quay", "rudder", "schooner", "tender", "wharf",
    "windlass",
];

fn random_name() -> String {
    use rand::seq::IndexedRandom;
    let mut rng = rand::rng();
    format!(
        "{}_{}",
        ADJECTIVES.choose(&mut rng).unwrap_or(&"calm"),
        NOUNS.choose(&mut rng).unwrap_or(&"quay")
    )
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Engine {
    fn containers_dir(&self) -> PathBuf {
        self.store.root().join("containers")
    }

    /// `<root>/containers/<id>`: the bundle (config.json), the writable layer, generated files.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    /// `<runroot>/<id>`: the merged root's mount point and sockets.
    pub fn container_run_dir(&self, id: &str) -> PathBuf {
        self.runroot.join(id)
    }

    /// `berth create`: records a container and makes its writable layer. Nothing runs yet.
    pub fn create_container(&self, options: RunOptions) -> Result<Container> {
        let image = self.resolve_image(&options.image)?;
        // Every option is checked now, so `start` cannot fail on a typo.
        options.user_mounts()?;
        options.network_mode()?;
        options.host_namespaces()?;
        options.security()?;
        spec::capabilities(&options)?;
        logs::Rotation::parse(&options.log_opts)?;
        let policy = supervise::RestartPolicy::parse(options.restart.as_deref())?;
        if options.auto_remove && policy != supervise::RestartPolicy::No {
            return Err(EngineError::InvalidOption(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        let runtime = options.runtime.as_deref().unwrap_or("berth-runtime");
        if options.init && !runtime.ends_with("berth-runtime") {
            return Err(EngineError::InvalidOption(format!(
                "--init runs berth-runtime's own reaper as PID 1; runtime {runtime:?} has none"
            )));
        }
        let (_, config) = self.image_config(&image)?;
        let image_config = config.config.unwrap_or_default();
        spec::process_args(&options, &image_config)?;
        if let Some(name) = &options.name
            && !valid_name(name)
        {
            return Err(EngineError::InvalidOption(format!(
                "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        // The record comes first: a berth killed after it leaves a container that rm can remove,
        // never a directory that nothing refers to.
        let dir = self.container_dir(&id);
        let mut container = Container {
            id: id.clone(),
            name: options.name.clone().unwrap_or_else(random_name),
            image_id: image.id,
            image: options.image.clone(),
            created: now_rfc3339(),
            options,
            stop_signal: image_config
                .stop_signal
                .filter(|s| !s.is_empty())
                .unwrap_or_else(default_stop_signal),
            state: ContainerState::default(),
        };
        let mut attempts = 0;
        loop {
            let row = ContainerRow {
                id: id.clone(),
                name: container.name.clone(),
                image_id: image.id,
                created: chrono::Utc::now().timestamp(),
                record: serde_json::to_string(&container).expect("container serialises"),
            };
            match self.store.insert_container(&row) {
                Ok(()) => {
                    for sub in ["upper", "work"] {
                        if let Err(e) = std::fs::create_dir_all(dir.join(sub)) {
                            let _ = std::fs::remove_dir_all(&dir);
                            let _ = self.store.delete_container(&id);
                            return Err(EngineError::io("create", dir.join(sub))(e));
                        }
                    }
                    self.event("create", &container, &[]);
                    for ov in &container.options.policy_overrides {
                        let (rule, reason) = ov.split_once('=').unwrap_or((ov, ""));
                        self.event(
                            "policy-override",
                            &container,
                            &[("rule", rule.to_owned()), ("reason", reason.to_owned())],
                        );
                    }
                    return Ok(container);
                }
                Err(berth_store::StoreError::NameInUse { .. })
                    if container.options.name.is_none() && attempts < 20 =>
                {
                    attempts += 1;
                    container.name = format!("{}{}", random_name(), attempts);
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e.into());
                }
            }
        }
    }

    /// Finds a container by full ID, name, or unique ID prefix, as Docker does.
    pub fn container(&self, name: &str) -> Result<Container> {
        let name = name.strip_prefix('/').unwrap_or(name);
        let rows = self.store.find_containers(name)?;
        let row = match rows.as_slice() {
            [one] => one,
            [] => return Err(EngineError::NoSuchContainer(name.to_owned())),
            _ => {
                return Err(EngineError::Ambiguous {
                    name: name.to_owned(),
                });
            }
        };
        serde_json::from_str(&row.record).map_err(|source| EngineError::InvalidJson {
            what: format!("record of container {}", row.id),
            source,
        })
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        self.store
            .containers()?
            .into_iter()
            .map(|row| {
                serde_json::from_str(&row.record).map_err(|source| EngineError::InvalidJson {
                    what: format!("record of container {}", row.id),
                    source,
                })
            })
            .collect()
    }

    /// Records admission policy overrides (`RULE=REASON`) given when a container is started:
    /// kept with its options, as those given at create are, and sent as events.
    pub fn add_policy_overrides(&self, name: &str, overrides: &[String]) -> Result<Container> {
        if overrides.is_empty() {
            return self.container(name);
        }
        let id = self.container(name)?.id;
        let mut updated = None;
        self.store.modify_container::<EngineError>(&id, |old| {
            let mut c: Container =
                serde_json::from_str(old).map_err(|source| EngineError::InvalidJson {
                    what: format!("record of container {id}"),
                    source,
                })?;
            for ov in overrides {
                if !c.options.policy_overrides.contains(ov) {
                    c.options.policy_overrides.push(ov.clone());
                }
            }
            let new = serde_json::to_string(&c).expect("container serialises");
            updated = Some(c);
            Ok(new)
        })?;
        let c = updated.ok_or_else(|| EngineError::NoSuchContainer(id.clone()))?;
        for ov in overrides {
            let (rule, reason) = ov.split_once('=').unwrap_or((ov, ""));
            self.event(
                "policy-override",
                &c,
                &[("rule", rule.to_owned()), ("reason", reason.to_owned())],
            );
        }
        Ok(c)
    }

    /// Changes a container's recorded state in one transaction (a concurrent `pause` and the
    /// monitor recording an exit never lose each other's change) and returns the new record.
    pub(crate) fn set_state(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerState),
    ) -> Result<Container> {
        let mut updated = None;
        self.store.modify_container::<EngineError>(id, |old| {
            let mut c: Container =
                serde_json::from_str(old).map_err(|source| EngineError::InvalidJson {
                    what: format!("record of container {id}"),
                    source,
                })?;
            f(&mut c.state);
            let new = serde_json::to_string(&c).expect("container serialises");
            updated = Some(c);
            Ok(new)
        })?;
        updated.ok_or_else(|| EngineError::NoSuchContainer(id.to_owned()))
    }

    /// Removes a container that no longer runs: its root mount, directories and record.
    pub(crate) fn remove_record(&self, c: &Container) -> Result<()> {
        // Waits for whoever ran the container to finish releasing it. A directory already gone
        // (a removal that failed half way) leaves only the record to delete.
        let lock = match self.lock_container(&c.id, true) {
            Err(EngineError::NoSuchContainer(_)) => None,
            lock => lock?,
        };
        self.remove_locked(c, lock)
    }

    /// Removes a container whose lifecycle lock is held.
    pub(crate) fn remove_locked(&self, c: &Container, _lock: Option<ContainerLock>) -> Result<()> {
        self.release_rootfs(c)?;
        let dir = self.container_dir(&c.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io("remove", dir)(e)),
        }
        self.store.delete_container(&c.id)?;
        self.event("destroy", c, &[]);
        Ok(())
    }

    /// Holds the container's lifecycle lock: one run, and one removal, at a time. With `wait`
    /// false, `None` says another process holds it.
    pub(crate) fn lock_container(&self, id: &str, wait: bool) -> Result<Option<ContainerLock>> {
        use rustix::fs::FlockOperation;
        let path = self.container_dir(id).join("lock");
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EngineError::NoSuchContainer(id.to_owned()));
            }
            Err(e) => return Err(EngineError::io("open", &path)(e)),
        };
        let op = if wait {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&file, op) {
            // Locked a file a removal has unlinked meanwhile: the container is gone.
            Ok(()) if rustix::fs::fstat(&file).is_ok_and(|st| st.st_nlink == 0) => {
                Err(EngineError::NoSuchContainer(id.to_owned()))
            }
            Ok(()) => Ok(Some(ContainerLock(file))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(EngineError::io("lock", &path)(e.into())),
        }
    }

    /// Whether the kernel's OOM killer killed a process of the container (read from its memory
    /// cgroup, on v1 or v2).
    fn oom_killed(&self, id: &str) -> bool {
        [Some("memory"), None].into_iter().any(|controller| {
            let dir = stats::cgroup_dir(id, controller);
            ["memory.oom_control", "memory.events"].iter().any(|f| {
                std::fs::read_to_string(dir.join(f)).ok().is_some_and(|t| {
                    t.lines()
                        .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"))
                })
            })
        })
    }

    /// The container's log, in Docker's json-file format.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// The merged root's mount point.
    pub(crate) fn rootfs_dir(&self, id: &str) -> PathBuf {
        self.container_run_dir(id).join("rootfs")
    }

    /// Mounts the container's overlay root (image layers under its writable layer).
    fn mount_rootfs(&self, c: &Container) -> Result<PathBuf> {
        let image = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| EngineError::NoSuchImage(c.image_id.to_string()))?;
        let dir = self.container_dir(&c.id);
        let mut lowers: Vec<PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| self.store.layer_path(&l.chain_id))
            .collect();
        if lowers.is_empty() {
            let empty = dir.join("empty");
            std::fs::create_dir_all(&empty).map_err(EngineError::io("create", &empty))?;
            lowers.push(empty);
        }
        let target = self.rootfs_dir(&c.id);
        std::fs::create_dir_all(&target).map_err(EngineError::io("create", &target))?;
        overlay::unmount(&target)?;
        overlay::mount(
            &lowers,
            Some((&dir.join("upper"), &dir.join("work"))),
            &target,
            !c.options.privileged,
        )?;
        Ok(target)
    }

    /// Unmounts the container's root and removes its run directory.
    pub(crate) fn release_rootfs(&self, c: &Container) -> Result<()> {
        let target = self.rootfs_dir(&c.id);
        overlay::unmount(&target)?;
        let run = self.container_run_dir(&c.id);
        match std::fs::remove_dir_all(&run) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::io("remove", run)(e)),
        }
    }

    /// Writes the bundle: generated `/etc` files and config.json, for a mounted root.
    fn write_bundle(&self, c: &Container, rootfs: &Path) -> Result<PathBuf> {
        let image = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| EngineError::NoSuchImage(c.image_id.to_string()))?;
        let (_, config) = self.image_config(&image)?;
        let image_config = config.config.unwrap_or_default();
        let o = &c.options;
        let host_network = o.network_mode()? == "host";
        let hostname = match (&o.hostname, host_network) {
            (Some(h), _) => h.clone(),
            (None, true) => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            (None, false) => c.id[..12].to_owned(),
        };
        let dir = self.container_dir(&c.id);
        write_etc_files(&dir, &hostname, host_network)?;
        let user_spec = o
            .user
            .clone()
            .or_else(|| image_config.user.clone())
            .unwrap_or_default();
        let user = user::resolve(rootfs, &user_spec)?;
        let seccomp = |caps: &[String]| crate::seccomp::default_profile(caps);
        let spec = spec::build(&spec::SpecInputs {
            options: o,
            image: &image_config,
            user,
            rootfs,
            files_dir: &dir,
            hostname: &hostname,
            cgroups_path: format!("/{}/{}", stats::CGROUP_PARENT, c.id),
            default_seccomp: &seccomp,
        })?;
        let path = dir.join("config.json");
        let bytes = serde_json::to_vec(&spec).expect("spec serialises");
        std::fs::write(&path, bytes).map_err(EngineError::io("write", &path))?;
        Ok(dir)
    }
}

/// `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` for the container. With no network, name
/// servers on the host's loopback are dropped: the container cannot reach them.
fn write_etc_files(dir: &Path, hostname: &str, host_network: bool) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(EngineError::io("write", &path))
    };
    write("hostname", format!("{hostname}\n"))?;
    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.0.1\t{hostname}\n"
        )
    };
    write("hosts", hosts)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv: String = host_resolv
        .lines()
        .filter(|l| host_network || !is_loopback_nameserver(l))
        .map(|l| format!("{l}\n"))
        .collect();
    write("resolv.conf", resolv)
}

fn is_loopback_nameserver(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("nameserver")
        && words
            .next()
            .is_some_and(|a| a.starts_with("127.") || a == "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["web", "a", "web-1", "w_e.b"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-web", "/web", "we b", "we/b", ".web"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_name(&random_name()));
    }

    #[test]
    fn records_without_a_stop_signal_default_to_sigterm() {
        let json = r#"{"id":"a","name":"n","image_id":"sha256:0000000000000000000000000000000000000000000000000000000000000000","image":"i","created":"t","options":{"image":"i","name":null,"cmd":[],"entrypoint":null,"env":[],"workdir":null,"user":null,"hostname":null,"tty":false,"interactive":false,"auto_remove":false,"volumes":[],"mounts":[],"tmpfs":[],"read_only":false,"network":null,"cap_add":[],"cap_drop":[],"privileged":false,"security_opt":[],"memory":null,"cpus":null,"pids_limit":null,"ulimits":[],"init":false,"runtime":null,"labels":[]},"state":{"Status":"created","Pid":0,"ExitCode":null,"StartedAt":null,"FinishedAt":null,"OOMKilled":false}}"#;
        let c: Container = serde_json::from_str(json).unwrap();
        assert_eq!(c.stop_signal, "SIGTERM");
    }

    #[test]
    fn loopback_nameservers_are_dropped() {
        assert!(is_loopback_nameserver("nameserver 127.0.0.53"));
        assert!(is_loopback_nameserver("nameserver ::1"));
        assert!(!is_loopback_nameserver("nameserver 10.0.0.1"));
        assert!(!is_loopback_nameserver("search example.org"));
    }
}
