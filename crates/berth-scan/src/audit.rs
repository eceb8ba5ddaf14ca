//! `berth audit`: misconfiguration checks on a stored image (CIS Docker Benchmark section 4 and
//! Dockle's checkpoints) and on a container's effective configuration (CIS section 5).
//!
//! Checks have berth's own stable ids (`IMG…`, `CTR…`) with the CIS and Dockle ids alongside.
//! The image checks read the image config, its history and the merged file list (built from
//! the layer streams by [`FileTree`], whiteouts applied); the container checks read
//! [`ContainerFacts`], which the engine fills from the container's options.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lint::Level;

/// A check's description.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cis: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockle: Option<&'static str>,
    pub title: &'static str,
}

macro_rules! checks {
    ($($name:ident = $id:literal, $level:ident, $cis:expr, $dockle:expr, $title:literal;)*) => {
        $(pub const $name: Check = Check {
            id: $id, level: Level::$level, cis: $cis, dockle: $dockle, title: $title,
        };)*
        /// Every check, image checks first.
        pub static CHECKS: &[Check] = &[$($name),*];
    };
}

checks! {
    ROOT_USER = "IMG001", Warning, Some("4.1"), Some("CIS-DI-0001"), "The image runs as root: create a user and set USER";
    NO_HEALTHCHECK = "IMG002", Info, Some("4.6"), Some("CIS-DI-0006"), "The image has no HEALTHCHECK";
    UPDATE_ONLY = "IMG003", Warning, Some("4.7"), Some("CIS-DI-0007"), "A RUN updates the package index without installing in the same step: the cached index goes stale";
    SETUID = "IMG004", Info, Some("4.8"), Some("CIS-DI-0008"), "setuid or setgid files: remove the bits unless the program needs them";
    ADD_USED = "IMG005", Warning, Some("4.9"), Some("CIS-DI-0009"), "ADD was used to build the image: use COPY";
    SECRETS = "IMG006", Error, Some("4.10"), Some("CIS-DI-0010"), "Secrets in the image's environment, labels, history or files";
    LATEST = "IMG007", Warning, None, Some("DKL-DI-0006"), "The image is named by the latest tag: pin a version";
    PACKAGE_CACHE = "IMG008", Info, None, Some("DKL-DI-0005"), "Package manager caches were left in the image";
    WORLD_WRITABLE = "IMG009", Warning, None, None, "World-writable files or directories without the sticky bit";
    CREDENTIAL_FILES = "IMG010", Error, None, Some("CIS-DI-0010"), "Credential files in the image (SSH keys, cloud and registry credentials)";
    PRIVILEGED = "CTR001", Error, Some("5.4"), None, "The container is privileged";
    CAPS_ADDED = "CTR002", Warning, Some("5.3"), None, "Capabilities are added to the container";
    HOST_NETWORK = "CTR003", Warning, Some("5.9"), None, "The container shares the host's network namespace";
    HOST_PID = "CTR004", Warning, Some("5.15"), None, "The container shares the host's process namespace";
    HOST_IPC = "CTR005", Warning, Some("5.16"), None, "The container shares the host's IPC namespace";
    HOST_UTS = "CTR006", Warning, Some("5.20"), None, "The container shares the host's UTS namespace";
    SENSITIVE_MOUNT = "CTR007", Error, Some("5.5"), None, "A sensitive host path is mounted into the container";
    ENGINE_SOCKET = "CTR008", Error, Some("5.31"), None, "The container engine's socket is mounted into the container";
    NO_MEMORY_LIMIT = "CTR009", Warning, Some("5.10"), None, "The container has no memory limit";
    NO_PIDS_LIMIT = "CTR010", Warning, Some("5.28"), None, "The container has no PIDs limit";
    WRITABLE_ROOT = "CTR011", Info, Some("5.12"), None, "The container's root filesystem is writable";
    NEW_PRIVILEGES = "CTR012", Warning, Some("5.25"), None, "Processes in the container may gain new privileges (no-new-privileges is off)";
    SECCOMP_OFF = "CTR013", Error, Some("5.21"), None, "The container runs without a seccomp profile";
    CONTAINER_ROOT = "CTR014", Warning, Some("4.1"), None, "The container's process runs as root";
    RESTART_ALWAYS = "CTR015", Info, Some("5.14"), None, "The restart policy restarts without a limit: use on-failure with a maximum";
}

/// The check with this id (berth's, CIS's `CIS-x.y` or Dockle's).
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| {
        c.id.eq_ignore_ascii_case(id)
            || c.dockle.is_some_and(|d| d.eq_ignore_ascii_case(id))
            || c.cis
                .is_some_and(|n| id.eq_ignore_ascii_case(&format!("CIS-{n}")))
    })
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    pub check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cis: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockle: Option<&'static str>,
    pub level: Level,
    pub title: &'static str,
    /// What was found, specifically.
    pub detail: String,
}

fn finding(c: &'static Check, detail: impl Into<String>) -> AuditFinding {
    AuditFinding {
        check: c.id,
        cis: c.cis,
        dockle: c.dockle,
        level: c.level,
        title: c.title,
        detail: detail.into(),
    }
}

/// One path of an image's merged filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub mode: u32,
    pub dir: bool,
    pub regular: bool,
    pub size: u64,
}

/// An image's merged file list, built layer by layer from tar entries.
#[derive(Debug, Default)]
pub struct FileTree {
    files: BTreeMap<String, FileInfo>,
    /// Paths the current layer added (an opaque directory keeps them).
    this_layer: Vec<String>,
}

impl FileTree {
    /// Starts the next layer.
    pub fn begin_layer(&mut self) {
        self.this_layer.clear();
    }

    /// Records one tar entry of the current layer (`path` as in the tar, `./` allowed):
    /// `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its directory of lower layers' files.
    pub fn entry(&mut self, path: &str, info: FileInfo) {
        let path = path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/');
        if path.is_empty() {
            return;
        }
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", path),
        };
        if name == ".wh..wh..opq" {
            let prefix = format!("{dir}/");
            let keep = &self.this_layer;
            self.files
                .retain(|p, _| !p.starts_with(&prefix) || keep.iter().any(|o| o == p));
            return;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let gone = if dir.is_empty() {
                hidden.to_owned()
            } else {
                format!("{dir}/{hidden}")
            };
            let prefix = format!("{gone}/");
            self.files
                .retain(|p, _| *p != gone && !p.starts_with(&prefix));
            return;
        }
        self.this_layer.push(path.to_owned());
        self.files.insert(path.to_owned(), info);
    }

    pub fn files(&self) -> &BTreeMap<String, FileInfo> {
        &self.files
    }
}

/// What the image checks read.
#[derive(Debug)]
pub struct ImageFacts<'a> {
    /// The name the user gave (for the tag check).
    pub name: &'a str,
    pub user: &'a str,
    pub healthcheck: Option<&'a serde_json::Value>,
    /// `created_by` of every history entry, oldest first.
    pub history: &'a [String],
    pub files: &'a FileTree,
    /// Secrets the scanner found (titles with where).
    pub secrets: &'a [String],
}

const CREDENTIAL_NAMES: &[&str] = &[
    ".aws/credentials",
    ".docker/config.json",
    ".git-credentials",
    ".netrc",
    ".pgpass",
    ".ssh/id_rsa",
    ".ssh/id_dsa",
    ".ssh/id_ecdsa",
    ".ssh/id_ed25519",
    ".kube/config",
    ".config/gcloud/credentials.db",
];

const CACHES: &[&str] = &[
    "var/cache/apk/",
    "var/lib/apt/lists/",
    "var/cache/yum/",
    "var/cache/dnf/",
    "root/.cache/pip/",
    "root/.npm/_cacache/",
];

/// Whether a USER value means root.
pub fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default().trim();
    name.is_empty() || name == "root" || name == "0"
}

fn list(paths: &[&str]) -> String {
    let shown: Vec<&str> = paths.iter().take(5).copied().collect();
    let more = paths.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The image checks.
pub fn audit_image(f: &ImageFacts<'_>) -> Vec<AuditFinding> {
    let mut out = Vec::new();
    if is_root(f.user) {
        out.push(finding(&ROOT_USER, format!("USER is {:?}", f.user)));
    }
    let disabled = f
        .healthcheck
        .and_then(|h| h["Test"][0].as_str())
        .is_some_and(|t| t == "NONE");
    if f.healthcheck.is_none() || disabled {
        out.push(finding(&NO_HEALTHCHECK, "no HEALTHCHECK in the config"));
    }
    for h in f.history {
        let script = h.trim_start_matches("/bin/sh -c ");
        let parsed = crate::lint::shell::parse(script);
        let updates = parsed.commands.iter().any(|c| {
            matches!(c.name.as_str(), "apt-get" | "apt" | "yum" | "dnf" | "apk")
                && c.subcommand_is(&["update"])
        });
        let installs = parsed.commands.iter().any(|c| {
            matches!(c.name.as_str(), "apt-get" | "apt" | "yum" | "dnf" | "apk")
                && c.subcommand_is(&["install", "add", "upgrade", "dist-upgrade"])
        });
        if updates && !installs {
            out.push(finding(&UPDATE_ONLY, h.clone()));
        }
    }
    // The base image's own root filesystem (the first ADD, to /) is how images start.
    for h in f.history {
        let add = h.contains("#(nop) ADD ") || h.starts_with("ADD ");
        let rootfs = h.contains("ADD file:") && h.trim_end().ends_with(" in /");
        if add && !rootfs {
            out.push(finding(&ADD_USED, h.clone()));
        }
    }
    if !f.secrets.is_empty() {
        out.push(finding(
            &SECRETS,
            list(&f.secrets.iter().map(String::as_str).collect::<Vec<_>>()),
        ));
    }
    let tag = f
        .name
        .rsplit('/')
        .next()
        .and_then(|n| n.split_once(':'))
        .map(|(_, t)| t);
    if !f.name.contains('@')
        && !f.name.starts_with("sha256:")
        && matches!(tag, None | Some("latest"))
        && !f.name.chars().all(|c| c.is_ascii_hexdigit())
    {
        out.push(finding(&LATEST, format!("{} uses latest", f.name)));
    }
    let files = f.files.files();
    let setuid: Vec<&str> = files
        .iter()
        .filter(|(_, i)| i.regular && i.mode & 0o6000 != 0)
        .map(|(p, _)| p.as_str())
        .collect();
    if !setuid.is_empty() {
        out.push(finding(&SETUID, list(&setuid)));
    }
    let writable: Vec<&str> = files
        .iter()
        .filter(|(_, i)| {
            (i.regular || i.dir) && i.mode & 0o002 != 0 && !(i.dir && i.mode & 0o1000 != 0)
        })
        .map(|(p, _)| p.as_str())
        .collect();
    if !writable.is_empty() {
        out.push(finding(&WORLD_WRITABLE, list(&writable)));
    }
    let caches: Vec<&str> = CACHES
        .iter()
        .filter(|c| {
            files.iter().any(|(p, i)| {
                i.regular && p.starts_with(*c) && !p.ends_with("/lock") && !p.contains("/partial/")
            })
        })
        .copied()
        .collect();
    if !caches.is_empty() {
        out.push(finding(&PACKAGE_CACHE, list(&caches)));
    }
    let creds: Vec<&str> = files
        .iter()
        .filter(|(p, i)| i.regular && CREDENTIAL_NAMES.iter().any(|c| p.ends_with(c)))
        .map(|(p, _)| p.as_str())
        .collect();
    if !creds.is_empty() {
        out.push(finding(&CREDENTIAL_FILES, list(&creds)));
    }
    out
}

/// A bind mount of the host into the container.
#[derive(Debug, Clone)]
pub struct HostMount {
    pub source: String,
    pub target: String,
    pub readonly: bool,
}

/// A container's effective configuration, as the container checks read it.
#[derive(Debug, Clone, Default)]
pub struct ContainerFacts {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_uts: bool,
    pub mounts: Vec<HostMount>,
    pub memory_limit: bool,
    pub pids_limit: bool,
    pub read_only: bool,
    pub no_new_privileges: bool,
    pub seccomp: bool,
    /// The user the process runs as (after `-u` and the image's USER).
    pub user: String,
    /// `--restart`.
    pub restart: Option<String>,
    /// Paths that are the engine's own (its store, its run directory, its API socket).
    pub engine_paths: Vec<String>,
}

const SENSITIVE: &[&str] = &[
    "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/var/lib", "/root",
];

const SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/run/berth/berth.sock",
];

/// The container checks.
pub fn audit_container(c: &ContainerFacts) -> Vec<AuditFinding> {
    let mut out = Vec::new();
    if c.privileged {
        out.push(finding(&PRIVILEGED, "--privileged"));
    }
    if !c.cap_add.is_empty() {
        out.push(finding(&CAPS_ADDED, c.cap_add.join(", ")));
    }
    for (on, check, what) in [
        (c.host_network, &HOST_NETWORK, "--network host"),
        (c.host_pid, &HOST_PID, "--pid host"),
        (c.host_ipc, &HOST_IPC, "--ipc host"),
        (c.host_uts, &HOST_UTS, "--uts host"),
    ] {
        if on {
            out.push(finding(check, what));
        }
    }
    for m in &c.mounts {
        let source = m.source.trim_end_matches('/');
        let source = if source.is_empty() { "/" } else { source };
        let is_socket = SOCKETS.contains(&source)
            || c.engine_paths.iter().any(|p| {
                source == p.trim_end_matches('/')
                    || source.starts_with(&format!("{}/", p.trim_end_matches('/')))
            });
        if is_socket {
            out.push(finding(
                &ENGINE_SOCKET,
                format!("{} on {}", m.source, m.target),
            ));
        } else if SENSITIVE.contains(&source) {
            let how = if m.readonly {
                "read-only"
            } else {
                "read-write"
            };
            out.push(finding(
                &SENSITIVE_MOUNT,
                format!("{} on {} ({how})", m.source, m.target),
            ));
        }
    }
    if !c.memory_limit {
        out.push(finding(&NO_MEMORY_LIMIT, "no --memory"));
    }
    if !c.pids_limit {
        out.push(finding(&NO_PIDS_LIMIT, "--pids-limit is unlimited"));
    }
    if !c.read_only {
        out.push(finding(&WRITABLE_ROOT, "no --read-only"));
    }
    if !c.no_new_privileges {
        out.push(finding(
            &NEW_PRIVILEGES,
            "--security-opt no-new-privileges=false",
        ));
    }
    if !c.seccomp {
        out.push(finding(&SECCOMP_OFF, "--security-opt seccomp=unconfined"));
    }
    if is_root(&c.user) {
        out.push(finding(&CONTAINER_ROOT, format!("user {:?}", c.user)));
    }
    if c.restart
        .as_deref()
        .is_some_and(|r| r == "always" || r == "unless-stopped")
    {
        out.push(finding(
            &RESTART_ALWAYS,
            format!("--restart {}", c.restart.as_deref().unwrap_or_default()),
        ));
    }
    out
}

/// Findings as SARIF 2.1.0, located at `what` (the image or container).
pub fn sarif(what: &str, findings: &[AuditFinding]) -> serde_json::Value {
    use serde_json::json;
    let level = crate::report::sarif_level;
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for f in findings {
        if !ids.contains(&f.check) {
            ids.push(f.check);
            rules.push(json!({
                "id": f.check,
                "shortDescription": {"text": f.title},
                "defaultConfiguration": {"level": level(f.level)},
                "properties": {"cis": f.cis, "dockle": f.dockle},
            }));
        }
    }
    let results: Vec<_> = findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.check,
                "ruleIndex": ids.iter().position(|i| *i == f.check),
                "level": level(f.level),
                "message": {"text": format!("{}: {}", f.title, f.detail)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": what}}}],
            })
        })
        .collect();
    crate::report::sarif_log("berth audit", rules, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(mode: u32) -> FileInfo {
        FileInfo {
            mode,
            dir: false,
            regular: true,
            size: 1,
        }
    }

    #[test]
    fn whiteouts_and_opaque_directories() {
        let mut t = FileTree::default();
        t.begin_layer();
        t.entry("./a/x", info(0o644));
        t.entry("a/y", info(0o644));
        t.entry("b/z", info(0o4755));
        t.begin_layer();
        t.entry("a/.wh.x", info(0));
        t.entry("b/new", info(0o644));
        t.entry("b/.wh..wh..opq", info(0));
        let files: Vec<&String> = t.files().keys().collect();
        assert_eq!(files, ["a/y", "b/new"]);
    }

    #[test]
    fn every_container_check_has_one_trigger() {
        let clean = ContainerFacts {
            memory_limit: true,
            pids_limit: true,
            read_only: true,
            no_new_privileges: true,
            seccomp: true,
            user: "1000".into(),
            ..Default::default()
        };
        assert!(audit_container(&clean).is_empty());
        let mut priv_ = clean.clone();
        priv_.privileged = true;
        assert_eq!(audit_container(&priv_)[0].check, "CTR001");
        let mut sock = clean.clone();
        sock.mounts.push(HostMount {
            source: "/var/run/docker.sock".into(),
            target: "/var/run/docker.sock".into(),
            readonly: false,
        });
        assert_eq!(audit_container(&sock)[0].check, "CTR008");
        assert!(is_root("") && is_root("0:0") && is_root("root") && !is_root("1000"));
        assert_eq!(check("CIS-DI-0001").unwrap().id, "IMG001");
        assert_eq!(check("CIS-5.4").unwrap().id, "CTR001");
    }
}
