//! Talking to one registry: the transport (TLS, plain HTTP for loopback registries, timeouts,
//! redirects), authentication, and the `/v2/` calls for manifests and blobs.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_types::Digest;
use berth_types::image::{Index, media_type};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::{AuthFile, Challenge, Credentials};
use crate::blob::BlobReader;
use crate::tls::{self, Identity};
use crate::{MAX_MANIFEST, MAX_REDIRECTS, RegistryError, Result, error_chain};

/// The manifest types berth asks for and reads.
const MANIFEST_TYPES: [&str; 4] = [
    media_type::OCI_INDEX,
    media_type::OCI_MANIFEST,
    media_type::DOCKER_MANIFEST_LIST,
    media_type::DOCKER_MANIFEST,
];
/// The longest a manifest, token or error answer may take to arrive whole.
const SMALL_ANSWER_DEADLINE: Duration = Duration::from_secs(60);
/// The largest token-endpoint answer or error body read.
const MAX_SMALL_ANSWER: u64 = 1 << 20;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `Some(false)`: accept any certificate and fall back to plain HTTP. `None`: verify, but a
    /// registry on a loopback address may be spoken to over plain HTTP, as Docker allows.
    pub tls_verify: Option<bool>,
    /// A directory of `*.crt` CA certificates to trust besides the system's, and of a client
    /// certificate (`NAME.cert`) with its key (`NAME.key`) to present, as Docker lays them out
    /// (`--cert-dir`). When unset, `/etc/berth/certs.d/<registry>/`,
    /// `/etc/containers/certs.d/<registry>/` and `/etc/docker/certs.d/<registry>/` are read.
    pub cert_dir: Option<PathBuf>,
    /// Credentials given on the command line (`--creds`), used instead of the auth file's.
    pub credentials: Option<Credentials>,
    /// Where credentials are filed (`--authfile`); Docker's `config.json` when unset.
    pub auth_file: Option<PathBuf>,
    /// The longest wait for a connection, or for any read or write on one (default 30 s).
    pub timeout: Option<Duration>,
}

impl Options {
    pub fn auth_file(&self) -> AuthFile {
        AuthFile::new(
            self.auth_file
                .clone()
                .unwrap_or_else(AuthFile::default_path),
        )
    }
}

/// Where a registry is: its name in references and the address berth speaks to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// As in an image reference: `docker.io`, `localhost:5000`.
    pub domain: String,
    /// `https://host[:port]` or `http://host[:port]`.
    pub base: String,
}

/// Whether a registry name is a loopback address, which Docker speaks to over plain HTTP.
fn is_loopback(domain: &str) -> bool {
    let host = if let Some(rest) = domain.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        domain.rsplit_once(':').map_or(domain, |(h, _)| h)
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host that serves a registry's API.
fn api_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        d => d,
    }
}

/// A connection to one registry, after its `/v2/` answered.
#[derive(Debug)]
pub struct Registry {
    endpoint: Endpoint,
    http: Client,
    credentials: Option<Credentials>,
    challenge: Option<Challenge>,
    /// `--tls-verify=false`: certificates are not checked, plain HTTP is allowed.
    insecure: bool,
}

/// Whether credentials may be sent to a token realm: over HTTPS, or over plain HTTP only when
/// the registry itself is spoken to that way (a loopback registry, or `--tls-verify=false`).
fn check_realm(
    realm: &reqwest::Url,
    base: &str,
    insecure: bool,
) -> std::result::Result<(), String> {
    match realm.scheme() {
        "https" => Ok(()),
        "http" if insecure || base.starts_with("http://") => Ok(()),
        "http" => Err(format!(
            "token realm {realm} is plain HTTP for a registry reached over HTTPS: credentials \
             are not sent in clear (--tls-verify=false allows it)"
        )),
        other => Err(format!("token realm {realm} is not HTTP(S) but {other:?}")),
    }
}

/// What a certificate directory holds: CA certificates (`*.crt`) and client certificates
/// (`NAME.cert`, each with its key `NAME.key`), in name order.
#[derive(Default)]
struct CertDir {
    roots: Vec<(PathBuf, CertificateDer<'static>)>,
    identities: Vec<Identity>,
}

fn read_cert_dir(dir: &Path, required: bool) -> Result<CertDir> {
    let local = |path: &Path, message: String| RegistryError::Local {
        path: path.display().to_string(),
        message,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CertDir::default());
        }
        Err(e) => return Err(local(dir, e.to_string())),
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let has_ext = |p: &Path, ext: &str| p.extension().is_some_and(|x| x == ext);
    let read = |path: &Path| std::fs::read(path).map_err(|e| local(path, e.to_string()));
    let certificates = |path: &Path| -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_slice_iter(&read(path)?)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| local(path, format!("not a PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(local(path, "no certificate in the file".into()));
        }
        Ok(certs)
    };
    let mut out = CertDir::default();
    for path in &names {
        if has_ext(path, "crt") {
            out.roots
                .extend(certificates(path)?.into_iter().map(|c| (path.clone(), c)));
        } else if has_ext(path, "cert") {
            let key = path.with_extension("key");
            if !names.contains(&key) {
                return Err(local(
                    path,
                    format!(
                        "client certificate without its key {} (CA certificates end in .crt)",
                        key.display()
                    ),
                ));
            }
            let chain = certificates(path)?;
            let key = PrivateKeyDer::from_pem_slice(&read(&key)?)
                .map_err(|e| local(&key, format!("not a PEM private key: {e}")))?;
            out.identities.push(Identity {
                path: path.clone(),
                chain,
                key,
            });
        } else if has_ext(path, "key") && !names.contains(&path.with_extension("cert")) {
            return Err(local(
                path,
                format!(
                    "key without its client certificate {}",
                    path.with_extension("cert").display()
                ),
            ));
        }
    }
    Ok(out)
}

impl Registry {
    /// Connects to a registry (`docker.io`, `localhost:5000`): reads its CA certificates and
    /// credentials and asks its `/v2/` what authentication it wants.
    pub fn connect(domain: &str, options: &Options) -> Result<Self> {
        let timeout = options.timeout.unwrap_or(Duration::from_secs(30));
        let builder = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(8);
        let cert_dirs: Vec<(PathBuf, bool)> = match &options.cert_dir {
            Some(d) => vec![(d.clone(), true)],
            None => [
                "/etc/berth/certs.d",
                "/etc/containers/certs.d",
                "/etc/docker/certs.d",
            ]
            .iter()
            .map(|d| (Path::new(d).join(domain), false))
            .collect(),
        };
        let mut roots = RootCertStore::empty();
        let mut identities = Vec::new();
        for (dir, required) in &cert_dirs {
            let found = read_cert_dir(dir, *required)?;
            for (path, cert) in found.roots {
                roots.add(cert).map_err(|e| RegistryError::Local {
                    path: path.display().to_string(),
                    message: format!("not a usable CA certificate: {e}"),
                })?;
            }
            identities.extend(found.identities);
        }
        let insecure = options.tls_verify == Some(false);
        let tls = tls::client_config(roots, identities, insecure).map_err(|e| match e {
            tls::ConfigError::Identity(path, e) => RegistryError::Local {
                path: path.display().to_string(),
                message: format!("client certificate and key not usable: {e}"),
            },
            tls::ConfigError::Tls(e) => RegistryError::Unreachable {
                registry: domain.into(),
                message: e.to_string(),
            },
        })?;
        let http =
            builder
                .use_preconfigured_tls(tls)
                .build()
                .map_err(|e| RegistryError::Unreachable {
                    registry: domain.into(),
                    message: error_chain(&e),
                })?;
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => options.auth_file().get(domain)?,
        };
        let host = api_host(domain);
        let https = format!("https://{host}");
        let (base, ping) = match http.get(format!("{https}/v2/")).send() {
            Ok(r) => (https, r),
            Err(e) if insecure || (options.tls_verify.is_none() && is_loopback(domain)) => {
                // Plain HTTP only when a registry answers on it: a TLS-only server answers an
                // HTTP request with 400, and then the TLS error is the one to report.
                let plain = format!("http://{host}");
                match http.get(format!("{plain}/v2/")).send() {
                    Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => {
                        (plain, r)
                    }
                    _ => {
                        return Err(RegistryError::Unreachable {
                            registry: domain.into(),
                            message: error_chain(&e),
                        });
                    }
                }
            }
            Err(e) => {
                return Err(RegistryError::Unreachable {
                    registry: domain.into(),
                    message: error_chain(&e),
                });
            }
        };
        let challenge = match ping.status() {
            s if s.is_success() => None,
            StatusCode::UNAUTHORIZED => {
                let header = ping
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                Some(Challenge::parse(header).ok_or_else(|| {
                    RegistryError::invalid(
                        format!("registry {domain}"),
                        format!("unsupported authentication challenge {header:?}"),
                    )
                })?)
            }
            s => {
                return Err(RegistryError::Status {
                    what: format!("registry {domain}"),
                    status: s.as_u16(),
                    message: format!("GET /v2/ answered {s}: not an OCI registry"),
                });
            }
        };
        Ok(Self {
            endpoint: Endpoint {
                domain: domain.into(),
                base,
            },
            http,
            credentials,
            challenge,
            insecure,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Checks that the credentials in use are accepted (`berth login`). A token service asked
    /// for offline access may answer with a refresh token: that identity token is returned, for
    /// `login` to keep instead of the password, as Docker does.
    pub fn check_login(&self) -> Result<Option<String>> {
        let what = format!("login to {}", self.endpoint.domain);
        match &self.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => {
                let Some(creds) = &self.credentials else {
                    return Err(RegistryError::Unauthorized {
                        what,
                        message: "the registry wants credentials".into(),
                    });
                };
                let r = self
                    .http
                    .get(format!("{}/v2/", self.endpoint.base))
                    .header(AUTHORIZATION, creds.basic_header())
                    .send()
                    .map_err(|e| self.unreachable(&e))?;
                check(r, &what).map(|_| None)
            }
            Some(Challenge::Bearer { .. }) => self
                .token_answer(&[], &what, true)
                .map(|(_, refresh)| refresh),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> RegistryError {
        if e.is_redirect() {
            return RegistryError::invalid(
                format!("registry {}", self.endpoint.domain),
                error_chain(e),
            );
        }
        RegistryError::Unreachable {
            registry: self.endpoint.domain.clone(),
            message: error_chain(e),
        }
    }

    /// A bearer token for `scopes` from the registry's token endpoint.
    fn token(&self, scopes: &[String], what: &str) -> Result<String> {
        self.token_answer(scopes, what, false)
            .map(|(token, _)| token)
    }

    /// A bearer token for `scopes`, and with `offline` (a login with a password) the refresh
    /// token the service gives, if any (`offline_token=true`, the distribution token spec).
    fn token_answer(
        &self,
        scopes: &[String],
        what: &str,
        offline: bool,
    ) -> Result<(String, Option<String>)> {
        let Some(Challenge::Bearer { realm, service }) = &self.challenge else {
            unreachable!("token asked of a registry without a bearer challenge");
        };
        let realm_url = reqwest::Url::parse(realm).map_err(|e| {
            RegistryError::invalid(
                format!("registry {}", self.endpoint.domain),
                format!("token realm {realm:?} is not a URL: {e}"),
            )
        })?;
        check_realm(&realm_url, &self.endpoint.base, self.insecure).map_err(|message| {
            RegistryError::invalid(format!("registry {}", self.endpoint.domain), message)
        })?;
        let req = match self
            .credentials
            .as_ref()
            .and_then(|c| c.as_identity_token())
        {
            // An identity token is an OAuth2 refresh token: posted, with the same service and
            // scopes (space-separated), for an access token.
            Some(refresh) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", refresh.to_owned()),
                    ("client_id", "berth".to_owned()),
                    ("scope", scopes.join(" ")),
                ];
                if let Some(s) = service {
                    form.push(("service", s.clone()));
                }
                self.http.post(realm_url).form(&form)
            }
            // Otherwise a GET with the service and scopes in the query, and the user's
            // credentials if any.
            None => {
                let mut url = realm_url;
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                    if offline && self.credentials.is_some() {
                        q.append_pair("offline_token", "true");
                        q.append_pair("client_id", "berth");
                    }
                }
                let req = self.http.get(url);
                match &self.credentials {
                    Some(c) => req.header(AUTHORIZATION, c.basic_header()),
                    None => req,
                }
            }
        };
        let resp = req.send().map_err(|e| self.unreachable(&e))?;
        let resp = check(resp, &format!("{what}: token"))?;
        let body = read_limited(resp, MAX_SMALL_ANSWER, "token")?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            refresh_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::invalid(format!("{what}: token"), format!("invalid JSON: {e}"))
        })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                RegistryError::invalid(format!("{what}: token"), "the answer has no token")
            })?;
        let refresh = answer.refresh_token.filter(|t| offline && !t.is_empty());
        Ok((token, refresh))
    }

    /// A repository of this registry; `push` asks for write access too, `mount_from` for read
    /// access to repositories blobs may be mounted from.
    pub fn repository(
        &self,
        path: &str,
        push: bool,
        mount_from: &[String],
    ) -> Result<Repository<'_>> {
        let mut scopes = vec![format!(
            "repository:{path}:{}",
            if push { "pull,push" } else { "pull" }
        )];
        scopes.extend(
            mount_from
                .iter()
                .filter(|p| *p != path)
                .map(|p| format!("repository:{p}:pull")),
        );
        let repo = Repository {
            registry: self,
            path: path.into(),
            scopes,
            authorization: Mutex::new(None),
        };
        repo.authorize()?;
        Ok(repo)
    }
}

/// Reads a whole answer, refusing one longer than `limit`.
pub(crate) fn read_limited(resp: Response, limit: u64, what: &str) -> Result<Vec<u8>> {
    if let Some(len) = resp.content_length()
        && len > limit
    {
        return Err(RegistryError::invalid(
            what,
            format!("the answer is {len} bytes, more than the {limit} allowed"),
        ));
    }
    // A whole answer within a minute (each read may wait the client's timeout besides): a
    // registry that drips bytes cannot hold berth for long.
    let deadline = std::time::Instant::now() + SMALL_ANSWER_DEADLINE;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    let mut resp = resp.take(limit + 1);
    loop {
        let n = resp.read(&mut chunk).map_err(|e| RegistryError::Transfer {
            what: what.into(),
            message: error_chain(&e),
        })?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if std::time::Instant::now() > deadline {
            return Err(RegistryError::Transfer {
                what: what.into(),
                message: format!(
                    "the answer took longer than {} s",
                    SMALL_ANSWER_DEADLINE.as_secs()
                ),
            });
        }
    }
    if buf.len() as u64 > limit {
        return Err(RegistryError::invalid(
            what,
            format!("the answer is longer than the {limit} bytes allowed"),
        ));
    }
    Ok(buf)
}

/// The registry's error answer in words: `manifest unknown: manifest unknown`.
fn error_message(resp: Response) -> String {
    let status = resp.status();
    let body = read_limited(resp, 64 << 10, "error").unwrap_or_default();
    error_text(status, &body)
}

/// An error answer's body in words, for [`error_message`]: the distribution spec's `errors`
/// list when there is one, else the body's printable text, else the status.
pub(crate) fn error_text(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body)
        && !e.errors.is_empty()
    {
        return e
            .errors
            .iter()
            .take(5)
            .map(|e| {
                let code = printable(e.code.as_deref().unwrap_or("error"), 64)
                    .to_ascii_lowercase()
                    .replace('_', " ");
                match &e.message {
                    Some(m) if !m.is_empty() => format!("{code}: {}", printable(m, 300)),
                    _ => code,
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = printable(String::from_utf8_lossy(body).trim(), 200);
    if text.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {text}")
    }
}

/// The most pages of a referrers answer read.
pub const MAX_REFERRER_PAGES: usize = 16;

/// The `rel="next"` target of an answer's `Link` header (RFC 8288), relative to `base`.
fn next_link(resp: &Response, base: &reqwest::Url) -> Option<reqwest::Url> {
    resp.headers()
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .any(|p| {
                    let p = p.trim().replace(' ', "");
                    p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
                })
                .then(|| base.join(target).ok())?
        })
}

/// An answer's media type: its `Content-Type` without parameters.
fn content_type(resp: &Response) -> String {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default()
}

/// Registry text as berth prints it: no control characters (no terminal escapes), at most
/// `max` characters.
pub(crate) fn printable(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Turns an error status into an error naming `what`.
pub(crate) fn check(resp: Response, what: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let message = error_message(resp);
    let what = what.to_owned();
    Err(match status {
        StatusCode::NOT_FOUND => RegistryError::NotFound { what, message },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            RegistryError::Unauthorized { what, message }
        }
        s => RegistryError::Status {
            what,
            status: s.as_u16(),
            message,
        },
    })
}

/// A manifest or index as the registry gave it, checked against its digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// An upload session (`Location` of `POST /v2/<name>/blobs/uploads/`).
#[derive(Debug)]
pub struct Upload {
    location: String,
}

/// One repository of a registry, with the access it was opened for.
pub struct Repository<'r> {
    registry: &'r Registry,
    path: String,
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
}

impl std::fmt::Debug for Repository<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("registry", &self.registry.endpoint)
            .field("path", &self.path)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Repository<'_> {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn domain(&self) -> &str {
        &self.registry.endpoint.domain
    }

    fn what(&self) -> String {
        format!("{}/{}", self.registry.endpoint.domain, self.path)
    }

    /// Works out the `Authorization` header for this repository's scopes.
    fn authorize(&self) -> Result<()> {
        let header = match &self.registry.challenge {
            None => None,
            Some(Challenge::Basic) => self.registry.credentials.as_ref().map(|c| c.basic_header()),
            Some(Challenge::Bearer { .. }) => Some(format!(
                "Bearer {}",
                self.registry.token(&self.scopes, &self.what())?
            )),
        };
        *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = header;
        Ok(())
    }

    /// Whether `url` is on the registry's own scheme, host and port.
    fn is_own(&self, url: &reqwest::Url) -> bool {
        reqwest::Url::parse(&self.registry.endpoint.base).is_ok_and(|base| {
            base.scheme() == url.scheme()
                && base.host_str() == url.host_str()
                && base.port_or_known_default() == url.port_or_known_default()
        })
    }

    pub(crate) fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.registry.endpoint.base, self.path)
    }

    /// Sends a request built by `build`, with this repository's authorization; a bearer token
    /// refused (expired) is renewed once and the request sent again.
    pub(crate) fn send(&self, build: impl Fn(&Client) -> RequestBuilder) -> Result<Response> {
        for attempt in 0..2 {
            let (client, req) = build(&self.registry.http).build_split();
            let mut req = req.map_err(|e| self.registry.unreachable(&e))?;
            // Credentials go to the registry itself only, never to another host an upload
            // Location names.
            if self.is_own(req.url())
                && let Some(h) = self
                    .authorization
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                && let Ok(value) = reqwest::header::HeaderValue::from_str(&h)
            {
                req.headers_mut().insert(AUTHORIZATION, value);
            }
            let resp = reqwest::blocking::RequestBuilder::from_parts(client, req)
                .send()
                .map_err(|e| self.registry.unreachable(&e))?;
            if resp.status() == StatusCode::UNAUTHORIZED
                && attempt == 0
                && matches!(self.registry.challenge, Some(Challenge::Bearer { .. }))
            {
                self.authorize()?;
                continue;
            }
            return Ok(resp);
        }
        unreachable!("the loop returns")
    }

    /// `GET /v2/<name>/manifests/<reference>`: a manifest or index by tag or digest.
    pub fn manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let sep = if reference.contains(':') { '@' } else { ':' };
        let what = format!("manifest {}{sep}{reference}", self.what());
        let wanted = match reference.strip_prefix("sha256:") {
            Some(hex) => Some(
                Digest::from_hex(hex).map_err(|e| RegistryError::invalid(&what, e.to_string()))?,
            ),
            None if reference.contains(':') => {
                return Err(RegistryError::invalid(
                    &what,
                    "only sha256 digests are supported",
                ));
            }
            None => None,
        };
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(|c| c.get(&url).header(ACCEPT, MANIFEST_TYPES.join(", ")))?;
        let resp = check(resp, &what)?;
        let content_type = content_type(&resp);
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("sha256:"))
            .map(|h| Digest::from_hex(h.trim()));
        let bytes = read_limited(resp, MAX_MANIFEST, &what)?;
        let digest = Digest::of(&bytes);
        if let Some(w) = wanted
            && w != digest
        {
            return Err(RegistryError::invalid(
                &what,
                format!("the registry sent content with digest {digest}"),
            ));
        }
        match claimed {
            Some(Ok(c)) if c != digest => {
                return Err(RegistryError::invalid(
                    &what,
                    format!("the registry says its digest is {c}, the content's is {digest}"),
                ));
            }
            Some(Err(_)) => {
                return Err(RegistryError::invalid(
                    &what,
                    "the registry's Docker-Content-Digest is not a sha256 digest",
                ));
            }
            _ => {}
        }
        let media_type = manifest_media_type(&content_type, &bytes)
            .map_err(|m| RegistryError::invalid(&what, m))?;
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// A blob, streamed and resumed if the connection is cut (see [`BlobReader`]).
    pub fn blob(&self, digest: &Digest, size: u64) -> BlobReader<'_> {
        BlobReader::new(self, *digest, size)
    }

    /// A small blob (a config) whole, checked against its digest and size.
    pub fn blob_bytes(&self, digest: &Digest, size: u64, limit: u64) -> Result<Vec<u8>> {
        let what = format!("blob {digest}");
        if size > limit {
            return Err(RegistryError::invalid(
                what,
                format!("its descriptor says {size} bytes, more than the {limit} allowed"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.blob(digest, size)
            .read_to_end(&mut buf)
            .map_err(|e| crate::blob::from_io(e, &what))?;
        let actual = Digest::of(&buf);
        if actual != *digest {
            return Err(RegistryError::invalid(
                what,
                format!("the registry sent content with digest {actual}"),
            ));
        }
        Ok(buf)
    }

    /// Whether the repository has a blob (`HEAD`); its size if it has.
    pub fn has_blob(&self, digest: &Digest) -> Result<Option<u64>> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(|c| c.head(&url))?;
        match resp.status() {
            // The header, not the body's length, which an answer to HEAD never has.
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => check(resp, &format!("blob {digest}")).map(|_| None),
        }
    }

    fn upload_location(&self, resp: &Response, what: &str) -> Result<String> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::invalid(what, "the registry gave no upload Location"))?;
        let base = reqwest::Url::parse(&self.url("blobs/uploads/")).expect("a valid URL");
        base.join(loc)
            .map(|u| u.to_string())
            .map_err(|e| RegistryError::invalid(what, format!("bad upload Location {loc:?}: {e}")))
    }

    /// Starts an upload, or mounts `digest` from repository `from` of the same registry.
    /// `Ok(None)`: mounted, nothing to upload.
    pub fn start_upload(&self, mount: Option<(&Digest, &str)>) -> Result<Option<Upload>> {
        let what = format!("upload to {}", self.what());
        let mut url = self.url("blobs/uploads/");
        if let Some((digest, from)) = mount {
            url = format!("{url}?mount={digest}&from={from}");
        }
        let resp = self.send(|c| c.post(&url).header(CONTENT_LENGTH, 0))?;
        let resp = check(resp, &what)?;
        if mount.is_some() && resp.status() == StatusCode::CREATED {
            return Ok(None);
        }
        if resp.status() != StatusCode::ACCEPTED {
            return Err(RegistryError::invalid(
                what,
                format!("expected 202 Accepted, got {}", resp.status()),
            ));
        }
        Ok(Some(Upload {
            location: self.upload_location(&resp, &what)?,
        }))
    }

    /// Uploads `size` bytes of `file` (from its start) as blob `digest`: in one `PUT`, or, with
    /// `chunk`, as `PATCH` requests of that many bytes and a closing `PUT`.
    pub fn upload(
        &self,
        upload: Upload,
        digest: &Digest,
        size: u64,
        file: Arc<File>,
        chunk: Option<u64>,
    ) -> Result<()> {
        let what = format!("blob {digest}");
        let mut location = upload.location;
        let mut offset = 0u64;
        if let Some(chunk) = chunk.filter(|c| *c > 0) {
            while offset < size {
                let n = chunk.min(size - offset);
                let start = offset;
                let resp = self.send(|c| {
                    c.patch(&location)
                        .timeout(upload_timeout(n))
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header("Content-Range", format!("{start}-{}", start + n - 1))
                        .body(Part::body(&file, start, n))
                })?;
                let resp = check(resp, &what)?;
                location = self.upload_location(&resp, &what)?;
                offset += n;
            }
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let resp = self.send(|c| {
            c.put(&url)
                .timeout(upload_timeout(size - offset))
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(Part::body(&file, offset, size - offset))
        })?;
        let resp = check(resp, &what)?;
        stored_as(&resp, digest, &what)
    }

    /// Uploads a small blob from memory unless the repository has it; its digest.
    pub fn push_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest)?.is_some() {
            return Ok(digest);
        }
        let upload = self.start_upload(None)?.expect("an upload without a mount");
        let what = format!("blob {digest}");
        let sep = if upload.location.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}digest={digest}", upload.location);
        let resp = self.send(|c| {
            c.put(&url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes.to_vec())
        })?;
        check(resp, &what)?;
        Ok(digest)
    }

    /// `PUT /v2/<name>/manifests/<reference>`; the manifest's digest.
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        self.put_manifest_answer(reference, media_type, bytes)
            .map(|(digest, _)| digest)
    }

    /// Puts a manifest that has a `subject` by its digest (OCI 1.1). Returns whether the
    /// registry keeps the subject's referrers itself: it then answers with `OCI-Subject`, and
    /// otherwise the pusher maintains the referrers tag ([`crate::referrers_tag`]).
    pub fn put_referrer(&self, media_type: &str, bytes: &[u8], subject: &Digest) -> Result<bool> {
        let reference = Digest::of(bytes).to_string();
        let (_, said) = self.put_manifest_answer(&reference, media_type, bytes)?;
        Ok(said.is_some_and(|s| s.trim() == subject.to_string()))
    }

    fn put_manifest_answer(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Option<String>)> {
        let sep = if reference.contains(':') { '@' } else { ':' };
        let what = format!("manifest {}{sep}{reference}", self.what());
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(|c| {
            c.put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(bytes.to_vec())
        })?;
        let resp = check(resp, &what)?;
        let digest = Digest::of(bytes);
        stored_as(&resp, &digest, &what)?;
        let subject = resp
            .headers()
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((digest, subject))
    }

    /// `GET /v2/<name>/referrers/<digest>`: the manifests whose subject is `digest`, the pages
    /// the registry links with `Link: <...>; rel="next"` put together (at most
    /// [`MAX_REFERRER_PAGES`], on the registry itself), or `None` when the registry has no
    /// referrers API (it answers 404, and the referrers tag ([`crate::referrers_tag`]) stands in
    /// for it).
    pub fn referrers(&self, digest: &Digest) -> Result<Option<Index>> {
        let what = format!("referrers of {}@{digest}", self.what());
        let mut url = reqwest::Url::parse(&self.url(&format!("referrers/{digest}")))
            .map_err(|e| RegistryError::invalid(&what, e.to_string()))?;
        let mut all: Option<Index> = None;
        for _ in 0..MAX_REFERRER_PAGES {
            let resp = self.send(|c| c.get(url.clone()).header(ACCEPT, media_type::OCI_INDEX))?;
            if resp.status() == StatusCode::NOT_FOUND && all.is_none() {
                return Ok(None);
            }
            let resp = check(resp, &what)?;
            let content_type = content_type(&resp);
            if content_type != media_type::OCI_INDEX {
                return Err(RegistryError::invalid(
                    &what,
                    format!(
                        "the registry sent Content-Type {:?}, not an image index",
                        printable(&content_type, 100)
                    ),
                ));
            }
            let next = next_link(&resp, &url);
            let page: Index = serde_json::from_slice(&read_limited(resp, MAX_MANIFEST, &what)?)
                .map_err(|e| RegistryError::invalid(&what, format!("invalid JSON: {e}")))?;
            match &mut all {
                None => all = Some(page),
                Some(index) => index.manifests.extend(page.manifests),
            }
            match next {
                // Only pages of the registry itself, which the credentials belong to.
                Some(n) if self.is_own(&n) => url = n,
                _ => return Ok(all),
            }
        }
        Ok(all)
    }

    /// Opens `GET /v2/<name>/blobs/<digest>` from `offset`.
    pub(crate) fn get_blob(&self, digest: &Digest, offset: u64) -> Result<Response> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(|c| {
            let r = c.get(&url);
            if offset > 0 {
                r.header("Range", format!("bytes={offset}-"))
            } else {
                r
            }
        })?;
        check(resp, &format!("blob {digest}"))
    }
}

/// How long an upload of `len` bytes may take: the usual 30 s, plus a second per 256 KiB (so a
/// 64 MiB chunk gets about 5 minutes, a 2 Mbit/s uplink's pace).
fn upload_timeout(len: u64) -> Duration {
    Duration::from_secs(30 + len / (256 << 10))
}

/// Checks the digest a registry says it stored an upload as, when it says.
fn stored_as(resp: &Response, digest: &Digest, what: &str) -> Result<()> {
    match resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(c) if c != digest.to_string() => Err(RegistryError::invalid(
            what,
            format!("the registry stored it as {c}, not {digest}"),
        )),
        _ => Ok(()),
    }
}

/// A range of a file as a request body, read with `pread` so that a request sent again (after a
/// token renewal) reads the same bytes.
struct Part {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Part {
    fn body(file: &Arc<File>, start: u64, len: u64) -> reqwest::blocking::Body {
        let part = Part {
            file: Arc::clone(file),
            pos: start,
            end: start + len,
        };
        reqwest::blocking::Body::sized(part, len)
    }
}

impl Read for Part {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the blob file is shorter than its size",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The media type of a manifest: the registry's `Content-Type` when it is a manifest type,
/// else the document's own `mediaType`; the two must agree when both are given.
pub(crate) fn manifest_media_type(content_type: &str, bytes: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        #[serde(rename = "schemaVersion")]
        schema_version: Option<i64>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a JSON manifest (Content-Type {content_type:?}): {e}"))?;
    if probe.schema_version == Some(1)
        || content_type.starts_with("application/vnd.docker.distribution.manifest.v1")
    {
        return Err("Docker schema 1 manifests are not supported".into());
    }
    if probe.schema_version != Some(2) {
        return Err(format!(
            "schemaVersion is {:?}, not 2",
            probe.schema_version
        ));
    }
    let declared = probe.media_type.as_deref();
    let from_header = MANIFEST_TYPES.contains(&content_type);
    let mt = if from_header {
        content_type.to_owned()
    } else if !content_type.is_empty()
        && !matches!(
            content_type,
            "application/json" | "text/plain" | "application/octet-stream"
        )
    {
        return Err(format!(
            "the registry sent Content-Type {content_type:?}, not an image manifest or index"
        ));
    } else if let Some(d) = declared {
        d.to_owned()
    } else if probe.manifests.is_some() {
        media_type::OCI_INDEX.to_owned()
    } else if probe.config.is_some() {
        media_type::OCI_MANIFEST.to_owned()
    } else {
        return Err("neither a manifest nor an index".into());
    };
    if !MANIFEST_TYPES.contains(&mt.as_str()) {
        return Err(format!(
            "media type {mt:?} is not an image manifest or index"
        ));
    }
    if let Some(d) = declared
        && d != mt
    {
        return Err(format!(
            "the registry sent Content-Type {mt:?} for a document whose mediaType is {d:?}"
        ));
    }
    if probe.manifests.is_some() && probe.config.is_some() {
        return Err("the document has the fields of both a manifest and an index".into());
    }
    let is_index = media_type::is_index(&mt);
    if is_index && probe.manifests.is_none() || !is_index && probe.config.is_none() {
        return Err(format!("the document does not have the fields of a {mt}"));
    }
    Ok(mt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_told_in_printable_words() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no\u001b[2Jsuch tag"},{"code":"DENIED"}]}"#;
        assert_eq!(
            error_text(StatusCode::NOT_FOUND, body),
            "manifest unknown: no[2Jsuch tag; denied"
        );
        // Not the spec's shape: the text itself, without control characters, cut short.
        let long = format!("oops\r\n{}", "x".repeat(500));
        let said = error_text(StatusCode::BAD_GATEWAY, long.as_bytes());
        assert!(said.starts_with("502 Bad Gateway: oops"), "{said}");
        assert!(
            !said.chars().any(char::is_control) && said.len() < 260,
            "{said}"
        );
        assert_eq!(error_text(StatusCode::FORBIDDEN, b"  "), "403 Forbidden");
        assert_eq!(
            error_text(StatusCode::FORBIDDEN, br#"{"errors":[]}"#),
            r#"403 Forbidden: {"errors":[]}"#
        );
    }

    #[test]
    fn token_realms_that_would_leak_credentials_are_refused() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let https = "https://registry.example";
        assert!(check_realm(&url("https://auth.example/token"), https, false).is_ok());
        let e = check_realm(&url("http://auth.example/token"), https, false).unwrap_err();
        assert!(
            e.contains("plain HTTP") && e.contains("auth.example"),
            "{e}"
        );
        // A registry already spoken to over HTTP, or with --tls-verify=false, may use one.
        assert!(
            check_realm(
                &url("http://127.0.0.1:1/token"),
                "http://127.0.0.1:5000",
                false
            )
            .is_ok()
        );
        assert!(check_realm(&url("http://auth.example/token"), https, true).is_ok());
        for bad in ["file:///etc/passwd", "ftp://auth.example/token"] {
            let e = check_realm(&url(bad), https, true).unwrap_err();
            assert!(e.contains("not HTTP(S)"), "{e}");
        }
    }

    #[test]
    fn loopback_names() {
        for d in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(d), "{d}");
        }
        for d in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:1",
        ] {
            assert!(!is_loopback(d), "{d}");
        }
    }

    #[test]
    fn manifest_types() {
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
        assert_eq!(
            manifest_media_type(media_type::OCI_MANIFEST, oci).unwrap(),
            media_type::OCI_MANIFEST
        );
        assert_eq!(
            manifest_media_type("application/json", oci).unwrap(),
            media_type::OCI_MANIFEST
        );
        let bare = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            manifest_media_type("", bare).unwrap(),
            media_type::OCI_INDEX
        );
        for (ct, body, why) in [
            ("text/html", &oci[..], "not an image manifest"),
            (media_type::OCI_INDEX, &oci[..], "whose mediaType is"),
            (
                media_type::DOCKER_MANIFEST,
                &bare[..],
                "does not have the fields",
            ),
            ("", br#"{"schemaVersion":1,"fsLayers":[]}"#, "schema 1"),
            ("", b"<html>", "not a JSON manifest"),
            ("", br#"{"schemaVersion":3,"config":{}}"#, "not 2"),
            ("", br#"{"schemaVersion":2}"#, "neither"),
            (
                "",
                b"{\"schemaVersion\":2,\"mediaType\":\"\\u001b[31mred\",\"config\":{}}",
                "not an image manifest",
            ),
            (
                "",
                br#"{"schemaVersion":2,"manifests":[],"config":{},"layers":[]}"#,
                "both a manifest and an index",
            ),
            (
                "",
                br#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart","config":{}}"#,
                "not an image manifest",
            ),
        ] {
            let e = manifest_media_type(ct, body).unwrap_err();
            assert!(
                e.contains(why),
                "{ct} {}: {e}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
