//! The OCI runtime spec for a container: Docker's rules for the process (entrypoint, command, env,
//! working directory), berth's safer defaults (Podman's capabilities, no_new_privs, the default
//! seccomp profile, a pids limit, masked and read-only paths) and what the user's flags change.

use std::collections::BTreeMap;
use std::path::Path;

use berth_types::image::ContainerConfig;
use berth_types::runtime::{
    Capabilities, CpuResources, Device, DeviceRule, Linux, MemoryResources, Mount, Namespace,
    PidsResources, Process, Resources, Rlimit, Root, Spec, User,
};

use super::options::{RunOptions, UserMount};
use crate::{EngineError, Result};

/// Docker's 14 default capabilities minus NET_RAW, MKNOD and AUDIT_WRITE, as Podman grants.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Every capability the kernel names, in the kernel's order (bit 0 first).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PIDS_LIMIT: i64 = 2048;
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program and its arguments, by Docker's rules: `--entrypoint` replaces the image's
/// entrypoint and drops the image's command; command-line arguments replace the image's command.
pub fn process_args(options: &RunOptions, image: &ContainerConfig) -> Result<Vec<String>> {
    let (entrypoint, default_cmd) = match &options.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            image.cmd.clone().unwrap_or_default(),
        ),
    };
    let cmd = if options.cmd.is_empty() {
        default_cmd
    } else {
        options.cmd.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(EngineError::InvalidOption("no command specified".into()));
    }
    Ok(args)
}

/// The environment: the image's, then `-e` by key, with `PATH`, `HOSTNAME` and (with a tty)
/// `TERM` as Docker adds them.
pub fn environment(options: &RunOptions, image: &ContainerConfig, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |entry: String| {
        let key = entry.split('=').next().unwrap_or_default().to_owned();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    };
    set(DEFAULT_PATH.to_owned());
    set(format!("HOSTNAME={hostname}"));
    for e in image.env.iter().flatten() {
        set(e.clone());
    }
    if options.tty {
        set("TERM=xterm".to_owned());
    }
    for e in &options.env {
        set(e.clone());
    }
    env
}

/// The capability set after `--privileged`, `--cap-add` and `--cap-drop` (names with or without
/// `CAP_`, any case, `ALL`).
pub fn capabilities(options: &RunOptions) -> Result<Vec<String>> {
    if options.privileged {
        return Ok(host_capabilities());
    }
    let norm = |c: &str| -> Result<String> {
        let upper = c.to_ascii_uppercase();
        let name = if upper == "ALL" || upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        if name != "ALL" && !ALL_CAPABILITIES.contains(&name.as_str()) {
            return Err(EngineError::InvalidOption(format!(
                "unknown capability: {c:?}"
            )));
        }
        Ok(name)
    };
    let add = options
        .cap_add
        .iter()
        .map(|c| norm(c))
        .collect::<Result<Vec<_>>>()?;
    let drop = options
        .cap_drop
        .iter()
        .map(|c| norm(c))
        .collect::<Result<Vec<_>>>()?;
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    if add.iter().any(|c| c == "ALL") {
        caps = host_capabilities();
    } else {
        for c in add {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

/// Every capability in this process's bounding set: what "all" can mean on this host (here,
/// root may lack CAP_SYS_RESOURCE), in kernel order.
fn host_capabilities() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .map(|(_, c)| (*c).to_owned())
        .collect()
}

fn rlimit(spec: &str) -> Result<Rlimit> {
    let bad =
        || EngineError::InvalidOption(format!("invalid ulimit {spec:?}: use NAME=SOFT[:HARD]"));
    let (name, values) = spec.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let parse = |v: &str| -> Result<u64> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    let known = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !known.contains(&name) {
        return Err(bad());
    }
    let (soft, hard) = (parse(soft)?, parse(hard)?);
    if soft > hard {
        return Err(EngineError::InvalidOption(format!(
            "ulimit {spec:?}: soft limit is above the hard limit"
        )));
    }
    Ok(Rlimit {
        kind: format!("RLIMIT_{}", name.to_ascii_uppercase()),
        soft,
        hard,
    })
}

/// The resolved numeric identity of the container's user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

pub struct SpecInputs<'a> {
    pub options: &'a RunOptions,
    pub image: &'a ContainerConfig,
    pub user: ResolvedUser,
    pub rootfs: &'a Path,
    /// Holds the generated hostname, hosts and resolv.conf.
    pub files_dir: &'a Path,
    pub hostname: &'a str,
    pub cgroups_path: String,
    /// The default seccomp profile for a capability set.
    pub default_seccomp: &'a dyn Fn(&[String]) -> berth_types::runtime::Seccomp,
}

fn m(dest: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount::new(dest, kind, source, options)
}

pub fn build(i: &SpecInputs<'_>) -> Result<Spec> {
    let o = i.options;
    let network = o.network_mode()?;
    let caps = capabilities(o)?;
    let (nnp, seccomp_choice) = o.security()?;
    let mut mounts = vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &[
                "nosuid",
                "noexec",
                "nodev",
                if o.privileged { "rw" } else { "ro" },
            ],
        ),
        m(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        ),
    ];
    for file in ["resolv.conf", "hostname", "hosts"] {
        let source = i.files_dir.join(file);
        mounts.push(m(
            &format!("/etc/{file}"),
            "bind",
            &source.to_string_lossy(),
            &["rbind", "rprivate"],
        ));
    }
    for um in o.user_mounts()? {
        mounts.push(match um {
            UserMount::Bind {
                source,
                target,
                readonly,
            } => {
                let mut opts = vec!["rbind", "rprivate"];
                if readonly {
                    opts.push("ro");
                }
                m(&target, "bind", &source, &opts)
            }
            UserMount::Tmpfs { target, options } => {
                let mut opts: Vec<&str> = vec!["nosuid", "nodev", "noexec"];
                opts.extend(options.iter().map(String::as_str));
                m(&target, "tmpfs", "tmpfs", &opts)
            }
        });
    }

    let seccomp = match (o.privileged, seccomp_choice) {
        (true, _) | (false, Some(None)) => None,
        (false, None) => Some((i.default_seccomp)(&caps)),
        (false, Some(Some(path))) => {
            let bytes =
                std::fs::read(&path).map_err(EngineError::io("read seccomp profile", &path))?;
            Some(
                serde_json::from_slice(&bytes).map_err(|source| EngineError::InvalidJson {
                    what: format!("seccomp profile {path}"),
                    source,
                })?,
            )
        }
    };
    let root_user = i.user.uid == 0;
    let process = Process {
        terminal: o.tty,
        console_size: None,
        user: User {
            uid: i.user.uid,
            gid: i.user.gid,
            umask: None,
            additional_gids: i.user.additional_gids.clone(),
        },
        args: process_args(o, i.image)?,
        env: environment(o, i.image, i.hostname),
        cwd: o
            .workdir
            .clone()
            .or_else(|| i.image.working_dir.clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into()),
        capabilities: Some(Capabilities {
            bounding: caps.clone(),
            // A non-root user starts with no effective or permitted capabilities, as with Docker.
            effective: if root_user { caps.clone() } else { Vec::new() },
            permitted: if root_user { caps.clone() } else { Vec::new() },
            inheritable: Vec::new(),
            ambient: Vec::new(),
        }),
        rlimits: o.ulimits.iter().map(|u| rlimit(u)).collect::<Result<_>>()?,
        no_new_privileges: nnp && !o.privileged,
        oom_score_adj: None,
    };
    if !process.cwd.starts_with('/') {
        return Err(EngineError::InvalidOption(format!(
            "the working directory {:?} is invalid: it needs to be an absolute path",
            process.cwd
        )));
    }
    let host = o.host_namespaces()?;
    let mut namespaces: Vec<Namespace> = ["pid", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .filter(|k| !host.contains(k))
        .map(|k| Namespace {
            kind: (*k).into(),
            path: None,
        })
        .collect();
    if network == "none" {
        namespaces.push(Namespace {
            kind: "network".into(),
            path: None,
        });
    }
    let resources = Resources {
        memory: o.memory.map(|limit| MemoryResources {
            limit: Some(limit),
            swap: Some(limit.saturating_mul(2)),
        }),
        cpu: o.cpus.map(|c| CpuResources {
            quota: Some((c * 100_000.0) as i64),
            period: Some(100_000),
            shares: None,
        }),
        devices: device_rules(o.privileged),
        pids: Some(PidsResources {
            limit: o.pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT),
        }),
    };
    let linux = Linux {
        namespaces,
        cgroups_path: Some(i.cgroups_path.clone()),
        resources: Some(resources),
        seccomp,
        masked_paths: if o.privileged {
            Vec::new()
        } else {
            MASKED_PATHS.iter().map(|p| (*p).into()).collect()
        },
        readonly_paths: if o.privileged {
            Vec::new()
        } else {
            READONLY_PATHS.iter().map(|p| (*p).into()).collect()
        },
        devices: if o.privileged {
            host_devices()
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    let mut annotations = BTreeMap::new();
    if o.init {
        annotations.insert(
            berth_types::runtime::INIT_ANNOTATION.to_owned(),
            "true".to_owned(),
        );
    }
    Ok(Spec {
        oci_version: berth_types::runtime::OCI_VERSION.into(),
        process: Some(process),
        root: Some(Root {
            path: i.rootfs.to_string_lossy().into_owned(),
            readonly: o.read_only,
        }),
        hostname: (network == "none" && !host.contains(&"uts")).then(|| i.hostname.to_owned()),
        mounts,
        annotations,
        linux: Some(linux),
    })
}

/// Docker's device cgroup rules: everything for `--privileged`; otherwise nothing but mknod, the
/// default devices, ptys and /dev/net/tun.
fn device_rules(privileged: bool) -> Vec<DeviceRule> {
    let rule = |allow: bool, kind: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        DeviceRule {
            allow,
            kind: Some(kind.into()),
            major,
            minor,
            access: Some(access.into()),
        }
    };
    if privileged {
        return vec![rule(true, "a", None, None, "rwm")];
    }
    let mut rules = vec![
        rule(false, "a", None, None, "rwm"),
        rule(true, "c", None, None, "m"),
        rule(true, "b", None, None, "m"),
    ];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(true, "c", Some(major), Some(minor), "rwm"));
    }
    rules.push(rule(true, "c", Some(136), None, "rwm"));
    rules
}

/// The host's device nodes directly under `/dev`, which `--privileged` passes through.
fn host_devices() -> Vec<Device> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    let mut devices = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let kind = if meta.file_type().is_char_device() {
            "c"
        } else if meta.file_type().is_block_device() {
            "b"
        } else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if matches!(name.as_str(), "console" | "ptmx" | "tty") {
            continue;
        }
        let rdev = meta.rdev();
        devices.push(Device {
            path: format!("/dev/{name}"),
            kind: kind.into(),
            major: rustix::fs::major(rdev) as i64,
            minor: rustix::fs::minor(rdev) as i64,
            file_mode: Some(meta.mode() & 0o7777),
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        });
    }
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerConfig {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
        ContainerConfig {
            entrypoint: entrypoint.map(v),
            cmd: cmd.map(v),
            ..Default::default()
        }
    }

    fn run(entrypoint: Option<&str>, cmd: &[&str]) -> RunOptions {
        RunOptions {
            entrypoint: entrypoint.map(str::to_owned),
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    /// Image entrypoint and cmd, run-time entrypoint and cmd, and the expected args.
    type Case<'a> = (
        Option<&'a [&'a str]>,
        Option<&'a [&'a str]>,
        Option<&'a str>,
        &'a [&'a str],
        Option<&'a [&'a str]>,
    );

    /// Docker's documented ENTRYPOINT/CMD interaction, plus the run-time overrides.
    #[test]
    fn entrypoint_and_cmd_follow_dockers_rules() {
        let cases: &[Case] = &[
            (None, Some(&["sh"]), None, &[], Some(&["sh"])),
            (
                None,
                Some(&["sh"]),
                None,
                &["echo", "hi"],
                Some(&["echo", "hi"]),
            ),
            (Some(&["/ep"]), None, None, &[], Some(&["/ep"])),
            (
                Some(&["/ep", "-x"]),
                Some(&["a"]),
                None,
                &[],
                Some(&["/ep", "-x", "a"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                None,
                &["b"],
                Some(&["/ep", "b"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some("/other"),
                &[],
                Some(&["/other"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some("/other"),
                &["b"],
                Some(&["/other", "b"]),
            ),
            (
                Some(&["/ep"]),
                Some(&["a"]),
                Some(""),
                &["b", "c"],
                Some(&["b", "c"]),
            ),
            (Some(&["/ep"]), Some(&["a"]), Some(""), &[], None),
            (None, None, None, &[], None),
        ];
        for (ep, cmd, run_ep, run_cmd, want) in cases {
            let got = process_args(&run(*run_ep, run_cmd), &image(*ep, *cmd)).ok();
            let want = want.map(|w| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            assert_eq!(
                got, want,
                "image {ep:?}/{cmd:?}, run {run_ep:?}/{run_cmd:?}"
            );
        }
    }

    #[test]
    fn env_merges_by_key() {
        let img = ContainerConfig {
            env: Some(vec!["PATH=/img".into(), "A=1".into(), "B=2".into()]),
            ..Default::default()
        };
        let o = RunOptions {
            env: vec!["A=x".into(), "C=3".into()],
            tty: true,
            ..Default::default()
        };
        let env = environment(&o, &img, "h1");
        assert_eq!(
            env,
            [
                "HOSTNAME=h1",
                "PATH=/img",
                "B=2",
                "TERM=xterm",
                "A=x",
                "C=3"
            ]
        );
        let env = environment(&RunOptions::default(), &ContainerConfig::default(), "h");
        assert!(env.contains(&DEFAULT_PATH.to_owned()));
    }

    #[test]
    fn capabilities_default_add_drop_privileged() {
        let caps = capabilities(&RunOptions::default()).unwrap();
        assert_eq!(caps.len(), 11);
        assert!(
            !caps.contains(&"CAP_NET_RAW".to_owned()) && !caps.contains(&"CAP_MKNOD".to_owned())
        );
        let o = RunOptions {
            cap_add: vec!["net_admin".into()],
            cap_drop: vec!["CAP_CHOWN".into()],
            ..Default::default()
        };
        let caps = capabilities(&o).unwrap();
        assert!(
            caps.contains(&"CAP_NET_ADMIN".to_owned()) && !caps.contains(&"CAP_CHOWN".to_owned())
        );
        let o = RunOptions {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["KILL".into()],
            ..Default::default()
        };
        assert_eq!(capabilities(&o).unwrap(), ["CAP_KILL"]);
        let o = RunOptions {
            privileged: true,
            ..Default::default()
        };
        let all = capabilities(&o).unwrap();
        assert!(all.contains(&"CAP_SYS_ADMIN".to_owned()) && all.len() <= ALL_CAPABILITIES.len());
        let o = RunOptions {
            cap_add: vec!["FLY".into()],
            ..Default::default()
        };
        assert!(capabilities(&o).is_err());
    }

    #[test]
    fn ulimits_parse() {
        assert_eq!(
            rlimit("nofile=1024:2048").unwrap(),
            Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                soft: 1024,
                hard: 2048
            }
        );
        assert_eq!(rlimit("nproc=10").unwrap().hard, 10);
        assert!(rlimit("nofile=10:5").is_err());
        assert!(rlimit("bogus=1").is_err());
    }
}
