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

/// The user name under which Docker files an identity token (an OAuth2 refresh token) instead
/// of a password, in credential helpers' answers.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

impl Credentials {
    /// An identity token: exchanged at the token endpoint (`grant_type=refresh_token`), never
    /// sent as a password.
    pub fn identity_token(token: impl Into<String>) -> Self {
        Self {
            username: IDENTITY_TOKEN_USER.into(),
            password: token.into(),
        }
    }

    /// The identity token these credentials are, if they are one.
    pub fn as_identity_token(&self) -> Option<&str> {
        (self.username == IDENTITY_TOKEN_USER).then_some(self.password.as_str())
    }

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

    /// The credentials filed for a registry, if any: from its credential helper when the file
    /// names one (`credHelpers`, else `credsStore`), else from `auths`.
    pub fn get(&self, domain: &str) -> Result<Option<Credentials>> {
        let config = self.read()?;
        if let Some(helper) = self.helper(&config, domain)? {
            return helper.get(&auth_key(domain));
        }
        let Some(Value::Object(auths)) = config.get("auths") else {
            return Ok(None);
        };
        let want = key_host(&auth_key(domain)).to_owned();
        let Some((key, entry)) = auths.iter().find(|(k, _)| key_host(k) == want) else {
            return Ok(None);
        };
        // A registry that gave an identity token at login is asked for tokens with it.
        if let Some(token) = entry.get("identitytoken").and_then(Value::as_str)
            && !token.is_empty()
        {
            return Ok(Some(Credentials::identity_token(token)));
        }
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

    /// Files credentials for a registry (replacing any), keeping the rest of the file. With a
    /// credential helper the secret goes to the helper, and `auths` only records the registry
    /// (an empty entry, as Docker writes it).
    pub fn store(&self, domain: &str, creds: &Credentials) -> Result<()> {
        let auth = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
        self.store_entry(domain, creds, [("auth", auth)])
    }

    /// Files the identity token a registry gave `username` at login, in place of the password,
    /// as Docker files it: `auth` holds the user name alone and `identitytoken` the token (a
    /// credential helper is given user `<token>`).
    pub fn store_identity_token(&self, domain: &str, username: &str, token: &str) -> Result<()> {
        let auth = STANDARD.encode(format!("{username}:"));
        self.store_entry(
            domain,
            &Credentials::identity_token(token),
            [("auth", auth), ("identitytoken", token.to_owned())],
        )
    }

    /// Files `creds` with the registry's credential helper if it has one, else the `fields` of
    /// its `auths` entry.
    fn store_entry<const N: usize>(
        &self,
        domain: &str,
        creds: &Credentials,
        fields: [(&str, String); N],
    ) -> Result<()> {
        let mut config = self.read()?;
        let helper = self.helper(&config, domain)?;
        if let Some(helper) = &helper {
            helper.store(&auth_key(domain), creds)?;
        }
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
        if helper.is_none() {
            for (k, v) in fields {
                entry.insert(k.into(), Value::String(v));
            }
        }
        auths.insert(auth_key(domain), Value::Object(entry));
        self.write(&config)
    }

    /// Forgets a registry's credentials (in its credential helper too); whether there were any.
    pub fn remove(&self, domain: &str) -> Result<bool> {
        let mut config = self.read()?;
        let erased = match self.helper(&config, domain)? {
            Some(helper) => helper.erase(&auth_key(domain))?,
            None => false,
        };
        let Some(Value::Object(auths)) = config.get_mut("auths") else {
            return Ok(erased);
        };
        let want = key_host(&auth_key(domain)).to_owned();
        let before = auths.len();
        auths.retain(|k, _| key_host(k) != want);
        if auths.len() == before {
            return Ok(erased);
        }
        self.write(&config)?;
        Ok(true)
    }

    /// The credential helper for a registry: `credHelpers` by registry, else `credsStore`.
    fn helper(&self, config: &Map<String, Value>, domain: &str) -> Result<Option<Helper>> {
        let want = key_host(&auth_key(domain)).to_owned();
        let by_registry = match config.get("credHelpers") {
            Some(Value::Object(m)) => m.iter().find(|(k, _)| key_host(k) == want).map(|(_, v)| v),
            Some(Value::Null) | None => None,
            Some(_) => return Err(self.local("credHelpers is not an object")),
        };
        let name = match by_registry.or_else(|| config.get("credsStore")) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(n)) if n.is_empty() => return Ok(None),
            Some(Value::String(n)) => n,
            Some(_) => return Err(self.local("a credential helper name is not a string")),
        };
        // The name becomes part of a program name looked up on PATH: nothing path-like.
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            || name.starts_with('.')
        {
            return Err(self.local(format!("credential helper name {name:?} is not valid")));
        }
        Ok(Some(Helper {
            program: format!("docker-credential-{name}"),
        }))
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

/// A Docker credential helper: `docker-credential-NAME get|store|erase`, which reads the
/// registry (or, for `store`, a JSON object) on stdin and answers `get` with a JSON object.
struct Helper {
    program: String,
}

/// What a helper says when it has nothing for a registry.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";
/// The longest a helper may take (it may be asking a keyring, or a person).
const HELPER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// The most of a helper's answer read.
const MAX_HELPER_ANSWER: u64 = 1 << 20;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperCredentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    username: String,
    secret: String,
}

impl Helper {
    fn error(&self, message: impl Into<String>) -> RegistryError {
        RegistryError::Local {
            path: self.program.clone(),
            message: message.into(),
        }
    }

    /// Runs the helper; its exit status and its output (stdout, else stderr), trimmed.
    fn run(&self, action: &str, input: &[u8]) -> Result<(bool, String)> {
        use std::io::Read;
        use std::process::{Command, Stdio};
        let mut child = Command::new(&self.program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.error(format!("cannot run the credential helper: {e}")))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (status, stdout, stderr) = std::thread::scope(|s| {
            let out = s.spawn(move || {
                let mut b = Vec::new();
                let _ = (&mut stdout).take(MAX_HELPER_ANSWER).read_to_end(&mut b);
                b
            });
            let err = s.spawn(move || {
                let mut b = Vec::new();
                let _ = (&mut stderr).take(MAX_HELPER_ANSWER).read_to_end(&mut b);
                b
            });
            // A helper that stops reading early must not block us: errors are its answer.
            let _ = stdin.write_all(input);
            drop(stdin);
            let deadline = std::time::Instant::now() + HELPER_DEADLINE;
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Ok(None) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break Err(self.error(format!(
                            "the credential helper did not answer within {} s",
                            HELPER_DEADLINE.as_secs()
                        )));
                    }
                    Err(e) => break Err(self.error(e.to_string())),
                }
            };
            let out = out.join().unwrap_or_default();
            let err = err.join().unwrap_or_default();
            (status, out, err)
        });
        let status = status?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
        let said = if stdout.iter().any(|b| !b.is_ascii_whitespace()) {
            text(&stdout)
        } else {
            text(&stderr)
        };
        Ok((status.success(), said))
    }

    fn get(&self, server: &str) -> Result<Option<Credentials>> {
        let (ok, said) = self.run("get", server.as_bytes())?;
        if !ok {
            if said.contains(HELPER_NOT_FOUND) {
                return Ok(None);
            }
            return Err(self.error(format!(
                "get failed: {}",
                crate::client::printable(&said, 512)
            )));
        }
        let c: HelperCredentials = serde_json::from_str(&said).map_err(|e| {
            self.error(format!("get answered something else than credentials: {e}"))
        })?;
        Ok(Some(Credentials {
            username: c.username,
            password: c.secret,
        }))
    }

    fn store(&self, server: &str, creds: &Credentials) -> Result<()> {
        let input = serde_json::to_vec(&HelperCredentials {
            server_url: server.into(),
            username: creds.username.clone(),
            secret: creds.password.clone(),
        })
        .expect("plain JSON");
        match self.run("store", &input)? {
            (true, _) => Ok(()),
            (false, said) => Err(self.error(format!(
                "store failed: {}",
                crate::client::printable(&said, 512)
            ))),
        }
    }

    fn erase(&self, server: &str) -> Result<bool> {
        match self.run("erase", server.as_bytes())? {
            (true, _) => Ok(true),
            (false, said) if said.contains(HELPER_NOT_FOUND) => Ok(false),
            (false, said) => Err(self.error(format!(
                "erase failed: {}",
                crate::client::printable(&said, 512)
            ))),
        }
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
