//! Secret scanning: credentials left in an image's files (in every layer, including files a later
//! layer deleted, which are still in the image) and in its config (Env, Labels, history).
//!
//! Detection is anchored: each rule looks for a fixed marker (`-----BEGIN`, `AKIA`, `ghp_`…)
//! with one fast substring search per marker, then checks the shape around it. Every match is
//! reported redacted: the first four characters of the secret, the rest masked.

use memchr::memmem;
use serde::Serialize;

use crate::severity::Rating;

/// Files larger than this are not searched.
pub const MAX_FILE: u64 = 10 << 20;

/// One secret found.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Secret {
    /// berth's rule id (`aws-access-key-id`, `private-key`…).
    pub rule: String,
    pub title: String,
    pub severity: Rating,
    /// Index into the inventory's layers; `None` for the image config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The file, relative to the image root, or `config:Env`, `config:Labels`, `history[N]`.
    pub path: String,
    /// 1-based; 0 where lines do not apply.
    pub line: usize,
    /// The match with the secret masked.
    pub redacted: String,
    /// A later layer deleted the file; the secret is still in the image's lower layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

struct Rule {
    id: &'static str,
    title: &'static str,
    severity: Rating,
}

const PRIVATE_KEY: Rule = Rule {
    id: "private-key",
    title: "Private key",
    severity: Rating::High,
};
const AWS_KEY_ID: Rule = Rule {
    id: "aws-access-key-id",
    title: "AWS access key ID",
    severity: Rating::Critical,
};
const AWS_SECRET: Rule = Rule {
    id: "aws-secret-access-key",
    title: "AWS secret access key",
    severity: Rating::Critical,
};
const GCP: Rule = Rule {
    id: "gcp-service-account",
    title: "GCP service account key",
    severity: Rating::Critical,
};
const AZURE: Rule = Rule {
    id: "azure-storage-key",
    title: "Azure storage account or shared access key",
    severity: Rating::Critical,
};
const GITHUB: Rule = Rule {
    id: "github-token",
    title: "GitHub token",
    severity: Rating::Critical,
};
const GITLAB: Rule = Rule {
    id: "gitlab-token",
    title: "GitLab personal access token",
    severity: Rating::Critical,
};
const SLACK: Rule = Rule {
    id: "slack-token",
    title: "Slack token or webhook",
    severity: Rating::High,
};
const STRIPE: Rule = Rule {
    id: "stripe-key",
    title: "Stripe live secret key",
    severity: Rating::Critical,
};
const DOTENV: Rule = Rule {
    id: "dotenv-secret",
    title: "Secret in a .env file",
    severity: Rating::High,
};
const NPMRC: Rule = Rule {
    id: "npmrc-token",
    title: "npm registry credential in .npmrc",
    severity: Rating::High,
};
const PYPIRC: Rule = Rule {
    id: "pypirc-password",
    title: "PyPI password in .pypirc",
    severity: Rating::High,
};
const DOCKER_AUTH: Rule = Rule {
    id: "docker-config-auth",
    title: "Registry credential in .docker/config.json",
    severity: Rating::High,
};
const PASSWORD_HASH: Rule = Rule {
    id: "password-hash",
    title: "Password hash outside /etc/shadow",
    severity: Rating::Medium,
};
const CONFIG: Rule = Rule {
    id: "config-secret",
    title: "Secret in the image config",
    severity: Rating::High,
};

/// Paths whose files are test data or documentation, where keys are expected and harmless.
fn allowed(path: &str) -> bool {
    path.starts_with("usr/share/doc/")
        || path.split('/').any(|c| {
            matches!(
                c,
                "test" | "tests" | "testdata" | "testing" | "fixtures" | "examples"
            )
        })
}

/// Masks all but the first four characters.
fn redact(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let shown: String = text.chars().take(4).collect();
    let hidden = text.chars().count().saturating_sub(4).clamp(4, 32);
    format!("{shown}{}", "*".repeat(hidden))
}

fn line_of(data: &[u8], pos: usize) -> usize {
    memchr::memchr_iter(b'\n', &data[..pos]).count() + 1
}

fn run_len(data: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    data[from.min(data.len())..]
        .iter()
        .take_while(|b| ok(**b))
        .count()
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Whether the secret-like name of a variable says it holds a secret.
pub(crate) fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Whether a value is a real value rather than empty, a reference or a placeholder.
pub(crate) fn real_value(v: &str) -> bool {
    let v = v.trim().trim_matches('"').trim_matches('\'');
    !v.is_empty()
        && !v.starts_with('$')
        && !v.starts_with('<')
        && !v.starts_with('/')
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "null" | "none" | "false" | "true" | "changeme" | "xxx" | "****" | "redacted"
        )
}

/// The title of the first known token format (a GitHub token, an AWS key…) found in `text`.
pub(crate) fn token_in(text: &str) -> Option<&'static str> {
    let mut hits = Vec::new();
    token_hits(text.as_bytes(), &mut hits);
    hits.first().map(|h| h.rule.title)
}

/// A hit in a file: rule, byte offset, the matched secret.
struct Hit {
    rule: &'static Rule,
    at: usize,
    secret: Vec<u8>,
}

/// Every occurrence of `needle` in `data`.
fn each<'a>(data: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    memmem::find_iter(data, needle)
}

fn token_hits(data: &[u8], hits: &mut Vec<Hit>) {
    // Fixed-prefix tokens: (prefix, rule, minimum length after the prefix).
    const PREFIXED: &[(&[u8], &Rule, usize)] = &[
        (b"ghp_", &GITHUB, 36),
        (b"gho_", &GITHUB, 36),
        (b"ghu_", &GITHUB, 36),
        (b"ghs_", &GITHUB, 36),
        (b"ghr_", &GITHUB, 36),
        (b"github_pat_", &GITHUB, 82),
        (b"glpat-", &GITLAB, 20),
        (b"xoxb-", &SLACK, 10),
        (b"xoxp-", &SLACK, 10),
        (b"xoxa-", &SLACK, 10),
        (b"xoxr-", &SLACK, 10),
        (b"xoxs-", &SLACK, 10),
        (b"hooks.slack.com/services/T", &SLACK, 20),
        (b"sk_live_", &STRIPE, 24),
        (b"rk_live_", &STRIPE, 24),
    ];
    for (prefix, rule, min) in PREFIXED {
        for at in each(data, prefix) {
            // A token starts at a word boundary.
            if at > 0 && is_token_byte(data[at - 1]) && !prefix.starts_with(b"hooks") {
                continue;
            }
            let body = run_len(data, at + prefix.len(), |b| is_token_byte(b) || b == b'/');
            if body >= *min {
                hits.push(Hit {
                    rule,
                    at,
                    secret: data[at..at + prefix.len() + body].to_vec(),
                });
            }
        }
    }
    // AWS access key IDs: AKIA or ASIA and 16 upper-case base32 characters, alone.
    for prefix in [&b"AKIA"[..], b"ASIA"] {
        for at in each(data, prefix) {
            let body = run_len(data, at + 4, |b| {
                b.is_ascii_uppercase() || b.is_ascii_digit()
            });
            let before_ok = at == 0 || !data[at - 1].is_ascii_alphanumeric();
            if body == 16 && before_ok {
                hits.push(Hit {
                    rule: &AWS_KEY_ID,
                    at,
                    secret: data[at..at + 20].to_vec(),
                });
            }
        }
    }
    // AWS secret keys: 40 base64 characters after a name that says so.
    for name in [
        &b"secret_access_key"[..],
        b"SECRET_ACCESS_KEY",
        b"SecretAccessKey",
        b"secretAccessKey",
    ] {
        for at in each(data, name) {
            let start = at + name.len();
            let sep = run_len(data, start, |b| b" \t\"':=".contains(&b));
            let value = run_len(data, start + sep, |b| {
                b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
            });
            if value == 40 {
                let v = start + sep;
                hits.push(Hit {
                    rule: &AWS_SECRET,
                    at: v,
                    secret: data[v..v + 40].to_vec(),
                });
            }
        }
    }
    for name in [&b"AccountKey="[..], b"SharedAccessKey="] {
        for at in each(data, name) {
            let v = at + name.len();
            let value = run_len(data, v, |b| {
                b.is_ascii_alphanumeric() || b"+/=".contains(&b)
            });
            if value >= 40 {
                hits.push(Hit {
                    rule: &AZURE,
                    at: v,
                    secret: data[v..v + value].to_vec(),
                });
            }
        }
    }
}

fn key_hits(data: &[u8], hits: &mut Vec<Hit>) {
    for at in each(data, b"PRIVATE KEY-----") {
        let line_start = data[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let head = &data[line_start..at];
        if let Some(begin) = memmem::find(head, b"-----BEGIN ") {
            let marker = &data[line_start + begin..at + 16];
            hits.push(Hit {
                rule: &PRIVATE_KEY,
                at: line_start + begin,
                secret: marker.to_vec(),
            });
        }
    }
    for at in each(data, b"PuTTY-User-Key-File-") {
        if (at == 0 || data[at - 1] == b'\n') && memmem::find(data, b"Private-Lines:").is_some() {
            hits.push(Hit {
                rule: &PRIVATE_KEY,
                at,
                secret: b"PuTTY-User-Key-File".to_vec(),
            });
        }
    }
    if memmem::find(data, b"\"service_account\"").is_some()
        && let Some(at) = memmem::find(data, b"\"private_key\"")
    {
        hits.push(Hit {
            rule: &GCP,
            at,
            secret: b"\"private_key\"".to_vec(),
        });
    }
}

/// `KEY=VALUE` lines whose key names a secret.
fn assignment_hits(
    data: &[u8],
    rule: &'static Rule,
    keys: impl Fn(&str) -> bool,
    hits: &mut Vec<Hit>,
) {
    let mut offset = 0;
    for line in data.split(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let t = text.trim_start().trim_start_matches("export ");
        if let Some((k, v)) = t.split_once('=').or_else(|| t.split_once(':'))
            && keys(k.trim())
            && real_value(v)
        {
            let v = v.trim().trim_matches('"').trim_matches('\'');
            hits.push(Hit {
                rule,
                at: offset,
                secret: v.as_bytes().to_vec(),
            });
        }
        offset += line.len() + 1;
    }
}

fn file_rules(path: &str, data: &[u8], hits: &mut Vec<Hit>) {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == ".env" || name.starts_with(".env.") || name.ends_with(".env") {
        assignment_hits(data, &DOTENV, secret_name, hits);
    }
    if name == ".npmrc" {
        assignment_hits(
            data,
            &NPMRC,
            |k| k.ends_with("_authToken") || k.ends_with("_auth") || k.ends_with("_password"),
            hits,
        );
    }
    if name == ".pypirc" {
        assignment_hits(data, &PYPIRC, |k| k == "password", hits);
    }
    if path.ends_with(".docker/config.json") {
        for at in each(data, b"\"auth\"") {
            let v = at + 6;
            let sep = run_len(data, v, |b| b" \t:".contains(&b));
            if data.get(v + sep) == Some(&b'"') {
                let len = run_len(data, v + sep + 1, |b| b != b'"');
                if len > 0 {
                    hits.push(Hit {
                        rule: &DOCKER_AUTH,
                        at,
                        secret: data[v + sep + 1..v + sep + 1 + len].to_vec(),
                    });
                }
            }
        }
    }
    let shadow = matches!(
        path,
        "etc/shadow" | "etc/shadow-" | "etc/gshadow" | "etc/gshadow-"
    );
    if !shadow {
        for marker in [
            &b":$1$"[..],
            b":$5$",
            b":$6$",
            b":$y$",
            b":$2a$",
            b":$2b$",
            b":$2y$",
            b":$apr1$",
            b":{SHA}",
        ] {
            for at in each(data, marker) {
                let user_start = data[..at]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1);
                let user = &data[user_start..at];
                let hash = run_len(data, at + 1, |b| !b.is_ascii_whitespace() && b != b':');
                if !user.is_empty()
                    && user.iter().all(|b| is_token_byte(*b) || *b == b'.')
                    && hash > 12
                {
                    hits.push(Hit {
                        rule: &PASSWORD_HASH,
                        at: user_start,
                        secret: data[at + 1..at + 1 + hash].to_vec(),
                    });
                }
            }
        }
    }
}

/// The secrets in one file's contents. Binary files (a NUL in the first 8 KiB) and allow-listed
/// paths are skipped.
pub fn scan_file(path: &str, data: &[u8], layer: usize) -> Vec<Secret> {
    if allowed(path) || memchr::memchr(0, &data[..data.len().min(8192)]).is_some() {
        return Vec::new();
    }
    let mut hits = Vec::new();
    token_hits(data, &mut hits);
    key_hits(data, &mut hits);
    file_rules(path, data, &mut hits);
    hits.sort_by_key(|h| h.at);
    hits.dedup_by(|a, b| a.at == b.at && a.rule.id == b.rule.id);
    hits.into_iter()
        .map(|h| Secret {
            rule: h.rule.id.to_owned(),
            title: h.rule.title.to_owned(),
            severity: h.rule.severity,
            layer: Some(layer),
            path: path.to_owned(),
            line: line_of(data, h.at),
            redacted: redact(&h.secret),
            deleted: false,
        })
        .collect()
}

/// Secrets in the image config: Env and Labels whose names say they hold one, and tokens in
/// any of them or in the history's `created_by` (RUN lines and ARG values).
pub fn scan_config(
    env: &[String],
    labels: &[(String, String)],
    history: &[Option<String>],
) -> Vec<Secret> {
    // (where, secret, rule)
    let mut found: Vec<(String, Vec<u8>, &'static Rule)> = Vec::new();
    let check = |found: &mut Vec<(String, Vec<u8>, &'static Rule)>,
                 path: String,
                 name: Option<&str>,
                 value: &str| {
        let mut hits = Vec::new();
        token_hits(value.as_bytes(), &mut hits);
        if hits.is_empty() {
            if name.is_some_and(secret_name) && real_value(value) {
                found.push((path, value.as_bytes().to_vec(), &CONFIG));
            }
        } else {
            found.extend(hits.into_iter().map(|h| (path.clone(), h.secret, h.rule)));
        }
    };
    for e in env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        check(&mut found, format!("config:Env {k}"), Some(k), v);
    }
    for (k, v) in labels {
        check(&mut found, format!("config:Labels {k}"), Some(k), v);
    }
    for (i, h) in history.iter().enumerate() {
        let Some(created_by) = h else { continue };
        // Build arguments show as `|N NAME=VALUE … /bin/sh -c …` or `ARG NAME=VALUE`.
        let before = found.len();
        for word in created_by.split_whitespace() {
            if let Some((k, v)) = word.split_once('=')
                && secret_name(k)
                && real_value(v)
                && !k.contains('$')
            {
                found.push((format!("history[{i}] {k}"), v.as_bytes().to_vec(), &CONFIG));
            }
        }
        if found.len() == before {
            check(&mut found, format!("history[{i}]"), None, created_by);
        }
    }
    found
        .into_iter()
        .map(|(path, secret, rule)| Secret {
            rule: rule.id.to_owned(),
            title: rule.title.to_owned(),
            severity: rule.severity,
            layer: None,
            path,
            line: 0,
            redacted: redact(&secret),
            deleted: false,
        })
        .collect()
}
