use std::fmt;
use std::str::FromStr;

use crate::Digest;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// An image reference, normalised the way Docker normalises it: `busybox` is
/// `docker.io/library/busybox:latest`, `localhost:5000/x` keeps its registry, and a reference with
/// neither tag nor digest gets the tag `latest`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: {0:?}")]
    Format(String),
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid reference format: repository name {0:?} must not be more than 255 characters")]
    NameTooLong(String),
    #[error("invalid reference format: bad tag in {0:?}")]
    Tag(String),
    #[error("invalid reference format: bad digest in {0:?}")]
    Digest(String),
}

impl Reference {
    /// Parses and normalises `s`, adding `:latest` when it has neither tag nor digest.
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_normalized_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".to_owned());
        }
        Ok(r)
    }

    /// Parses and normalises `s` without adding a default tag.
    pub fn parse_normalized_named(s: &str) -> Result<Self, ReferenceError> {
        if is_full_hex_id(s) {
            return Err(ReferenceError::HexName(s.to_owned()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(
                    d.parse::<Digest>()
                        .map_err(|_| ReferenceError::Digest(s.to_owned()))?,
                ),
            ),
            None => (s, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(ReferenceError::Tag(s.to_owned()));
        }
        let (domain, path) = split_domain(name);
        if path.to_lowercase() != path {
            return Err(ReferenceError::Uppercase(path));
        }
        if !valid_domain(&domain) || !valid_path(&path) {
            return Err(ReferenceError::Format(s.to_owned()));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong(s.to_owned()));
        }
        Ok(Self {
            domain,
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The whole reference in its familiar form: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag(tag.to_owned()));
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository with a digest and no tag, as `RepoDigests` lists it.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }
}

fn push_suffix(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_normalized(s)
    }
}

fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Splits `name:tag`, where the tag separator is the last colon after the last slash (a colon before
/// a slash is a registry port).
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_owned()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= TAG_LENGTH_MAX
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || domain.starts_with('[') => (h, Some(p)),
        _ => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[') {
        return v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

/// `path-component := [a-z0-9]+ (separator [a-z0-9]+)*`, `separator := [_.] | __ | -+`.
fn valid_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(valid_path_component)
}

fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse_normalized(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(norm("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(norm("localhost/x"), "localhost/x:latest");
        assert_eq!(norm("quay.io/a/b/c:t"), "quay.io/a/b/c:t");
        assert_eq!(norm("[::1]:5000/app"), "[::1]:5000/app:latest");
        assert_eq!(
            norm("a__b/c-d.e_f---g"),
            "docker.io/a__b/c-d.e_f---g:latest"
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
    }

    #[test]
    fn familiar_forms() {
        let r = |s: &str| Reference::parse_normalized(s).unwrap();
        assert_eq!(r("docker.io/library/busybox").familiar(), "busybox:latest");
        assert_eq!(r("docker.io/library/busybox").familiar_name(), "busybox");
        assert_eq!(r("docker.io/user/app:v1").familiar(), "user/app:v1");
        assert_eq!(r("docker.io/library/a/b").familiar_name(), "library/a/b");
        assert_eq!(r("localhost:5000/x:1").familiar(), "localhost:5000/x:1");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for bad in [
            "",
            "Busybox",
            "user/App",
            "busybox:",
            ":tag",
            "busybox:-tag",
            "busybox:a/b",
            "a//b",
            "a/",
            "/a",
            "a..b",
            "a-",
            "-a",
            "busybox@sha256:abc",
            "busybox@md5:abc",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "host:port/x",
            "exa_mple.com/x",
            "a b",
        ] {
            assert!(
                Reference::parse_normalized(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        let long = format!("x/{}", "a".repeat(260));
        assert!(matches!(
            Reference::parse_normalized(&long),
            Err(ReferenceError::NameTooLong(_))
        ));
        let long_tag = format!("x:{}", "a".repeat(129));
        assert!(Reference::parse_normalized(&long_tag).is_err());
    }

    #[test]
    fn uppercase_domain_is_a_registry() {
        // Docker treats an uppercase first component as a registry host.
        assert_eq!(norm("Example/app"), "Example/app:latest");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(r) = Reference::parse_normalized(&s) {
                let again = Reference::parse_normalized(&r.to_string()).unwrap();
                proptest::prop_assert_eq!(&again, &r);
                let familiar = Reference::parse_normalized(&r.familiar()).unwrap();
                proptest::prop_assert_eq!(familiar, r);
            }
        }
    }
}
