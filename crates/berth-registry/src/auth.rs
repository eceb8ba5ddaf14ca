//! Credentials (Docker's `config.json`) and the registry's authentication challenge.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::{RegistryError, Result};

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The value of a basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The key under which Docker files a registry's credentials: Docker Hub keeps its historical
/// index URL, every other registry its host (and port).
pub fn auth_key(domain: &str) -> String {
    match domain {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".into()
        }
        d => d.into(),
    }
}

/// A key of `auths` reduced to the host it names: `https://host:5000/v1/` is `host:5000`.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// Docker's client configuration file, where `login` keeps credentials (`auths`). Keys berth does
/// not use are kept as they are when it writes the file.
#[derive(Debug)]
pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where Docker keeps it: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return PathBuf::from(dir).join("config.json");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".docker/config.json")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn local(&self, message: impl Into<String>) -> RegistryError {
        RegistryError::Local {
            path: self.path.display().to_string(),
            message: message.into(),
        }
    }

    fn read(&self) -> Result<Map<String, Value>> {
        let raw = match std::fs::read(&self.path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(self.local(e.to_string())),
        };
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(&raw) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(self.local("not a JSON object")),
            Err(e) => Err(self.local(format!("invalid JSON: {e}"))),
        }
    }

    /// The credentials filed for a registry, if any.
    pub fn get(&self, domain: &str) -> Result<Option<Credentials>> {
        let config = self.read()?;
        let Some(Value::Object(auths)) = config.get("auths") else {
            return Ok(None);
        };
        let want = key_host(&auth_key(domain)).to_owned();
        let Some((key, entry)) = auths.iter().find(|(k, _)| key_host(k) == want) else {
            return Ok(None);
        };
        let Some(encoded) = entry.get("auth").and_then(Value::as_str) else {
            return Ok(None);
        };
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| self.local(format!("the auth of {key:?} is not base64")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| self.local(format!("the auth of {key:?} is not UTF-8")))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| self.local(format!("the auth of {key:?} is not user:password")))?;
        Ok(Some(Credentials {
            username: username.into(),
            password: password.into(),
        }))
    }

    /// Files credentials for a registry (replacing any), keeping the rest of the file.
    pub fn store(&self, domain: &str, creds: &Credentials) -> Result<()> {
        let mut config = self.read()?;
        let auths = config
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let auths = auths.as_object_mut().expect("an object");
        let want = key_host(&auth_key(domain)).to_owned();
        auths.retain(|k, _| key_host(k) != want);
        let mut entry = Map::new();
        entry.insert(
            "auth".into(),
            Value::String(STANDARD.encode(format!("{}:{}", creds.username, creds.password))),
        );
        auths.insert(auth_key(domain), Value::Object(entry));
        self.write(&config)
    }

    /// Forgets a registry's credentials; whether there were any.
    pub fn remove(&self, domain: &str) -> Result<bool> {
        let mut config = self.read()?;
        let Some(Value::Object(auths)) = config.get_mut("auths") else {
            return Ok(false);
        };
        let want = key_host(&auth_key(domain)).to_owned();
        let before = auths.len();
        auths.retain(|k, _| key_host(k) != want);
        if auths.len() == before {
            return Ok(false);
        }
        self.write(&config)?;
        Ok(true)
    }

    /// Writes the file whole, readable by its owner only, through a rename so that a crash
    /// leaves the old file or the new one.
    fn write(&self, config: &Map<String, Value>) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| self.local(e.to_string()))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let tmp = dir.join(format!(
            ".{}.{}",
            self.path
                .file_name()
                .map_or("config.json".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        let mut bytes = serde_json::to_vec_pretty(config).expect("plain JSON");
        bytes.push(b'\n');
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.local(e.to_string()));
        }
        Ok(())
    }
}

/// What a registry's `WWW-Authenticate` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    /// Reads the first challenge berth knows from a `WWW-Authenticate` value.
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = auth_params(rest);
        let realm = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("realm"))?
            .1
            .clone();
        let service = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("service"))
            .map(|(_, v)| v.clone());
        Some(Self::Bearer { realm, service })
    }
}

/// `k="v", k2=v2` pairs of an auth header (RFC 7235), quoted strings with backslash escapes.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value.trim_end().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            Challenge::parse(r#"bearer service=x, realm="http://h/t\"q""#),
            Some(Challenge::Bearer {
                realm: "http://h/t\"q".into(),
                service: Some("x".into())
            })
        );
        // A bearer challenge without a realm cannot be answered.
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse(""), None);
        assert_eq!(Challenge::parse("Bearer realm"), None);
        assert_eq!(Challenge::parse("Bearer ==,,=\"\\"), None);
    }

    #[test]
    fn auth_file_round_trip_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"https://localhost:5000/v1/":{"auth":"b2xkOm9sZA=="}},"detachKeys":"ctrl-x"}"#,
        )
        .unwrap();
        let file = AuthFile::new(&path);
        assert_eq!(file.get("localhost:5000").unwrap().unwrap().username, "old");
        let creds = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        file.store("localhost:5000", &creds).unwrap();
        assert_eq!(file.get("localhost:5000").unwrap(), Some(creds));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["detachKeys"], "ctrl-x");
        assert_eq!(v["auths"].as_object().unwrap().len(), 1);
        assert!(file.remove("localhost:5000").unwrap());
        assert!(!file.remove("localhost:5000").unwrap());
        assert_eq!(file.get("localhost:5000").unwrap(), None);
        assert_eq!(file.get("docker.io").unwrap(), None);
    }

    #[test]
    fn bad_auth_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let file = AuthFile::new(&path);
        assert_eq!(file.get("x").unwrap(), None);
        for bad in [
            "[1]",
            "{",
            r#"{"auths":{"x":{"auth":"%%%"}}}"#,
            r#"{"auths":{"x":{"auth":"bm9jb2xvbg=="}}}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = file.get("x").unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
        }
        // A file berth cannot read is not overwritten.
        std::fs::write(&path, "{").unwrap();
        let creds = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(file.store("x", &creds).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"{");
    }

    #[test]
    fn docker_hub_key() {
        assert_eq!(auth_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(key_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(auth_key("localhost:5000"), "localhost:5000");
    }
}
