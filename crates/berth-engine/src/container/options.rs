//! What a user asks of a container, as `docker run` flags, and the checks and parsing of each.

use serde::{Deserialize, Serialize};

use crate::{EngineError, Result};

/// The options of `berth create` and `berth run`, recorded with the container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub image: String,
    pub name: Option<String>,
    /// The command after the image name.
    pub cmd: Vec<String>,
    /// `--entrypoint`; `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    /// `KEY=VALUE` entries, already merged from `--env-file` and `-e`.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub auto_remove: bool,
    /// `-v HOST:CTR[:ro]`.
    pub volumes: Vec<String>,
    /// `--mount type=bind|tmpfs,...`.
    pub mounts: Vec<String>,
    /// `--tmpfs PATH[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    /// `none` (default) or `host`.
    pub network: Option<String>,
    /// `--pid host`: share the host's process namespace.
    #[serde(default)]
    pub pid: Option<String>,
    /// `--ipc host`: share the host's IPC namespace.
    #[serde(default)]
    pub ipc: Option<String>,
    /// `--uts host`: share the host's hostname.
    #[serde(default)]
    pub uts: Option<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    pub init: bool,
    pub runtime: Option<String>,
    pub labels: Vec<String>,
    /// `--restart`: no, on-failure[:N], always or unless-stopped.
    #[serde(default)]
    pub restart: Option<String>,
    /// `--log-opt KEY=VALUE` for the json-file log (`max-size`, `max-file`).
    #[serde(default)]
    pub log_opts: Vec<String>,
    /// `--policy-override RULE=REASON`: admission policy rules this container may break.
    #[serde(default)]
    pub policy_overrides: Vec<String>,
}

/// Parses a size such as `512m`, `1g` or `1048576` as Docker's `--memory` does.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let bad = || EngineError::InvalidOption(format!("invalid size: {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 1i64 << 10),
        Some((i, 'm')) => (&t[..i], 1 << 20),
        Some((i, 'g')) => (&t[..i], 1 << 30),
        Some((i, 't')) => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    let value: f64 = num.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok((value * mult as f64) as i64)
}

/// A bind or tmpfs mount the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UserMount {
    Bind {
        source: String,
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        options: Vec<String>,
    },
}

fn absolute(path: &str, what: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(EngineError::InvalidOption(format!(
            "invalid {what}: {path:?} is not an absolute path"
        )));
    }
    Ok(path.to_owned())
}

impl RunOptions {
    /// Every mount from `-v`, `--mount` and `--tmpfs`, checked.
    pub(crate) fn user_mounts(&self) -> Result<Vec<UserMount>> {
        let mut out = Vec::new();
        for v in &self.volumes {
            let parts: Vec<&str> = v.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [s, t] => (*s, *t, ""),
                [s, t, m] => (*s, *t, *m),
                _ => {
                    return Err(EngineError::InvalidOption(format!(
                        "invalid volume specification: {v:?}"
                    )));
                }
            };
            if !source.starts_with('/') {
                return Err(EngineError::InvalidOption(format!(
                    "invalid volume specification: {v:?}: named volumes are not supported yet; use an absolute host path"
                )));
            }
            let readonly = match mode {
                "" | "rw" => false,
                "ro" => true,
                m => {
                    return Err(EngineError::InvalidOption(format!(
                        "invalid mode {m:?} in volume specification {v:?}"
                    )));
                }
            };
            out.push(UserMount::Bind {
                source: source.to_owned(),
                target: absolute(target, "volume target")?,
                readonly,
            });
        }
        for m in &self.mounts {
            out.push(parse_mount(m)?);
        }
        for t in &self.tmpfs {
            let (target, opts) = t.split_once(':').unwrap_or((t, ""));
            let options = opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
            out.push(UserMount::Tmpfs {
                target: absolute(target, "tmpfs target")?,
                options,
            });
        }
        Ok(out)
    }

    /// Which of the pid, ipc and uts namespaces are the host's (`--pid host` …); anything but
    /// `host` is refused.
    pub(crate) fn host_namespaces(&self) -> Result<Vec<&'static str>> {
        let mut host = Vec::new();
        for (kind, value) in [("pid", &self.pid), ("ipc", &self.ipc), ("uts", &self.uts)] {
            match value.as_deref() {
                None | Some("") | Some("private") => {}
                Some("host") => host.push(kind),
                Some(other) => {
                    return Err(EngineError::InvalidOption(format!(
                        "--{kind} {other:?} is not supported: use --{kind} host"
                    )));
                }
            }
        }
        Ok(host)
    }

    pub(crate) fn network_mode(&self) -> Result<&str> {
        match self.network.as_deref().unwrap_or("none") {
            n @ ("none" | "host") => Ok(n),
            other => Err(EngineError::InvalidOption(format!(
                "network {other:?} is not supported: use --network none (the default) or --network host"
            ))),
        }
    }

    /// `(no_new_privileges, seccomp)` from `--security-opt`: seccomp is `None` for the default
    /// profile, `Some(None)` for unconfined, `Some(Some(path))` for a profile file.
    pub(crate) fn security(&self) -> Result<(bool, Option<Option<String>>)> {
        let mut nnp = true;
        let mut seccomp = None;
        for opt in &self.security_opt {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt, ""));
            match key {
                "no-new-privileges" => {
                    nnp = match value {
                        "" | "true" => true,
                        "false" => false,
                        v => {
                            return Err(EngineError::InvalidOption(format!(
                                "invalid no-new-privileges value {v:?}"
                            )));
                        }
                    }
                }
                "seccomp" if value == "unconfined" => seccomp = Some(None),
                "seccomp" if !value.is_empty() => seccomp = Some(Some(value.to_owned())),
                "label" | "apparmor" => {}
                _ => {
                    return Err(EngineError::InvalidOption(format!(
                        "invalid --security-opt: {opt:?}"
                    )));
                }
            }
        }
        Ok((nnp, seccomp))
    }
}

fn parse_mount(spec: &str) -> Result<UserMount> {
    let bad = |why: &str| {
        EngineError::InvalidOption(format!(
            "invalid argument {spec:?} for \"--mount\" flag: {why}"
        ))
    };
    let mut kind = "volume";
    let (mut source, mut target, mut readonly) = (None, None, false);
    let mut options = Vec::new();
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v,
            "source" | "src" => source = Some(v.to_owned()),
            "target" | "destination" | "dst" => target = Some(v.to_owned()),
            "readonly" | "ro" => readonly = matches!(v, "" | "true" | "1"),
            "tmpfs-size" => options.push(format!("size={v}")),
            "tmpfs-mode" => options.push(format!("mode={v}")),
            "bind-propagation" => options.push(v.to_owned()),
            _ => return Err(bad(&format!("unexpected key {k:?}"))),
        }
    }
    let target = absolute(
        &target.ok_or_else(|| bad("target is required"))?,
        "mount target",
    )?;
    match kind {
        "bind" => {
            let source = source.ok_or_else(|| bad("source is required"))?;
            if !std::path::Path::new(&source).exists() {
                return Err(bad(&format!("bind source path does not exist: {source}")));
            }
            Ok(UserMount::Bind {
                source: absolute(&source, "mount source")?,
                target,
                readonly,
            })
        }
        "tmpfs" => Ok(UserMount::Tmpfs { target, options }),
        other => Err(bad(&format!(
            "mount type {other:?} is not supported (bind or tmpfs)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_docker_does() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("64MB").unwrap(), 64 << 20);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1m").is_err());
    }

    #[test]
    fn volumes_mounts_and_tmpfs() {
        let o = RunOptions {
            volumes: vec!["/src:/dst:ro".into(), "/a:/b".into()],
            mounts: vec![
                "type=tmpfs,target=/t,tmpfs-size=1m".into(),
                "type=bind,src=/tmp,dst=/h,readonly".into(),
            ],
            tmpfs: vec!["/run:rw,size=2m".into()],
            ..Default::default()
        };
        let m = o.user_mounts().unwrap();
        assert_eq!(
            m[0],
            UserMount::Bind {
                source: "/src".into(),
                target: "/dst".into(),
                readonly: true
            }
        );
        assert_eq!(
            m[1],
            UserMount::Bind {
                source: "/a".into(),
                target: "/b".into(),
                readonly: false
            }
        );
        assert_eq!(
            m[2],
            UserMount::Tmpfs {
                target: "/t".into(),
                options: vec!["size=1m".into()]
            }
        );
        assert_eq!(
            m[3],
            UserMount::Bind {
                source: "/tmp".into(),
                target: "/h".into(),
                readonly: true
            }
        );
        assert_eq!(
            m[4],
            UserMount::Tmpfs {
                target: "/run".into(),
                options: vec!["rw".into(), "size=2m".into()]
            }
        );
        for bad in ["named:/x", "/a:relative", "/a:/b:rx", "/a"] {
            let o = RunOptions {
                volumes: vec![bad.into()],
                ..Default::default()
            };
            assert!(o.user_mounts().is_err(), "{bad}");
        }
        let o = RunOptions {
            mounts: vec!["type=volume,target=/x".into()],
            ..Default::default()
        };
        assert!(o.user_mounts().is_err());
    }

    #[test]
    fn security_options() {
        let o = RunOptions::default();
        assert_eq!(o.security().unwrap(), (true, None));
        let o = RunOptions {
            security_opt: vec![
                "no-new-privileges=false".into(),
                "seccomp=unconfined".into(),
            ],
            ..Default::default()
        };
        assert_eq!(o.security().unwrap(), (false, Some(None)));
        let o = RunOptions {
            security_opt: vec!["seccomp:/p.json".into()],
            ..Default::default()
        };
        assert_eq!(o.security().unwrap(), (true, Some(Some("/p.json".into()))));
        let o = RunOptions {
            security_opt: vec!["bogus".into()],
            ..Default::default()
        };
        assert!(o.security().is_err());
    }
}
