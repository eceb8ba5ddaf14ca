//! `docker container inspect`'s document for a container, with Docker's field names.

use berth_types::state::Status;
use serde_json::{Value, json};

use super::options::UserMount;
use super::{Container, spec};
use crate::{Engine, Result};

impl Engine {
    /// The inspect document of a container (its state corrected first).
    pub fn inspect_container(&self, name: &str) -> Result<Value> {
        let c = self.current(name)?;
        let image_config = self
            .store
            .image(&c.image_id)?
            .map(|i| self.image_config(&i))
            .transpose()?
            .and_then(|(_, config)| config.config)
            .unwrap_or_default();
        let args = spec::process_args(&c.options, &image_config).unwrap_or_default();
        let dir = self.container_dir(&c.id);
        let lowers: Vec<String> = self
            .store
            .image(&c.image_id)?
            .map(|i| {
                i.layers
                    .iter()
                    .rev()
                    .map(|l| self.store.layer_path(&l.chain_id).display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let o = &c.options;
        let mounts: Vec<Value> = o
            .user_mounts()
            .unwrap_or_default()
            .into_iter()
            .map(|m| match m {
                UserMount::Bind { source, target, readonly } => json!({
                    "Type": "bind", "Source": source, "Destination": target, "Mode": if readonly { "ro" } else { "" },
                    "RW": !readonly, "Propagation": "rprivate"
                }),
                UserMount::Tmpfs { target, .. } => json!({
                    "Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": true, "Propagation": ""
                }),
            })
            .collect();
        let hostname = o.hostname.clone().unwrap_or_else(|| c.id[..12].to_owned());
        Ok(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.iter().skip(1).collect::<Vec<_>>(),
            "State": state_doc(&c),
            "Image": c.image_id.to_string(),
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": self.log_path(&c.id),
            "Name": format!("/{}", c.name),
            "RestartCount": c.state.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            // The admission policy rules overridden for this container, with the reasons given.
            "PolicyOverrides": o.policy_overrides.iter().map(|ov| {
                let (rule, reason) = ov.split_once('=').unwrap_or((ov, ""));
                json!({"Rule": rule, "Reason": reason})
            }).collect::<Vec<_>>(),
            "HostConfig": {
                "Binds": o.volumes,
                "NetworkMode": o.network.clone().unwrap_or_else(|| "none".into()),
                "AutoRemove": o.auto_remove,
                "CapAdd": o.cap_add,
                "CapDrop": o.cap_drop,
                "Privileged": o.privileged,
                "ReadonlyRootfs": o.read_only,
                "SecurityOpt": o.security_opt,
                "Memory": o.memory.unwrap_or(0),
                "NanoCpus": o.cpus.map_or(0, |c| (c * 1e9) as i64),
                "PidsLimit": o.pids_limit.unwrap_or(spec::DEFAULT_PIDS_LIMIT),
                "Ulimits": o.ulimits,
                "Init": o.init,
                "Runtime": o.runtime.clone().unwrap_or_else(|| "berth-runtime".into()),
                "Tmpfs": o.tmpfs,
                "LogConfig": {"Type": "json-file", "Config": o.log_opts.iter().map(|l| l.split_once('=').unwrap_or((l, ""))).map(|(k, v)| (k.to_owned(), Value::from(v))).collect::<serde_json::Map<_, _>>()},
                "RestartPolicy": restart_policy(o.restart.as_deref()),
            },
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": lowers.join(":"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                    "MergedDir": self.rootfs_dir(&c.id),
                },
            },
            "Mounts": mounts,
            "Config": {
                "Hostname": hostname,
                "User": o.user.clone().or(image_config.user.clone()).unwrap_or_default(),
                "AttachStdin": o.interactive,
                "Tty": o.tty,
                "OpenStdin": o.interactive,
                "Env": spec::environment(o, &image_config, &hostname),
                "Cmd": if o.cmd.is_empty() && o.entrypoint.is_none() { image_config.cmd.clone().unwrap_or_default() } else { o.cmd.clone() },
                "Image": c.image,
                "WorkingDir": o.workdir.clone().or(image_config.working_dir.clone()).unwrap_or_default(),
                "Entrypoint": match &o.entrypoint { Some(e) if e.is_empty() => vec![], Some(e) => vec![e.clone()], None => image_config.entrypoint.clone().unwrap_or_default() },
                "Labels": o.labels.iter().map(|l| l.split_once('=').unwrap_or((l, ""))).map(|(k, v)| (k.to_owned(), Value::from(v))).collect::<serde_json::Map<_, _>>(),
                "StopSignal": c.stop_signal,
            },
        }))
    }
}

/// `State` as Docker shows it.
pub(crate) fn state_doc(c: &Container) -> Value {
    let s = &c.state;
    let zero = "0001-01-01T00:00:00Z";
    json!({
        "Status": s.status.as_str(),
        "Running": matches!(s.status, Status::Running | Status::Paused),
        "Paused": s.status == Status::Paused,
        "Restarting": s.status == Status::Restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.status == Status::Dead,
        "Pid": s.pid,
        "ExitCode": s.exit_code.unwrap_or(0),
        "Error": s.error,
        "StartedAt": s.started_at.clone().unwrap_or_else(|| zero.into()),
        "FinishedAt": s.finished_at.clone().unwrap_or_else(|| zero.into()),
    })
}

impl Engine {
    /// The program and arguments of each container, reading each image's config once.
    pub fn process_args_all(&self, list: &[Container]) -> Vec<Vec<String>> {
        let mut configs = std::collections::HashMap::new();
        list.iter()
            .map(|c| {
                let config = configs.entry(c.image_id).or_insert_with(|| {
                    self.store
                        .image(&c.image_id)
                        .ok()
                        .flatten()
                        .and_then(|i| self.image_config(&i).ok())
                        .and_then(|(_, config)| config.config)
                        .unwrap_or_default()
                });
                spec::process_args(&c.options, config).unwrap_or_default()
            })
            .collect()
    }

    /// Bytes in the container's writable layer (`ps -s`).
    pub fn writable_layer_size(&self, id: &str) -> u64 {
        fn walk(dir: &std::path::Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                    _ => 0,
                })
                .sum()
        }
        walk(&self.container_dir(id).join("upper"))
    }

    /// The size of the container's image.
    pub fn image_size(&self, c: &Container) -> u64 {
        self.store
            .image(&c.image_id)
            .ok()
            .flatten()
            .map_or(0, |i| i.size)
    }
}

/// `HostConfig.RestartPolicy` as Docker shows it.
fn restart_policy(policy: Option<&str>) -> Value {
    let policy = policy.unwrap_or("no");
    let (name, max) = policy.split_once(':').unwrap_or((policy, "0"));
    json!({"Name": name, "MaximumRetryCount": max.parse::<u32>().unwrap_or(0)})
}
