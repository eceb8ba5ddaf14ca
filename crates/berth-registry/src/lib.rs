//! berth's client for the OCI distribution spec (v1.1): the `/v2/` API of a registry.
//!
//! Everything a registry answers is hostile input. Manifests are read whole but never past
//! [`MAX_MANIFEST`] and are checked against the digest asked for (or the one the registry claims);
//! blobs are streamed, never past their descriptor's size, and a cut connection is resumed with a
//! `Range` request ([`BlobReader`]). Every request has a bounded timeout, redirects are followed at
//! most [`MAX_REDIRECTS`] times, and authentication follows the registry's `WWW-Authenticate`
//! challenge: HTTP basic, or a bearer token from the registry's token endpoint.
//!
//! This crate moves bytes; it does not know the store. The engine streams blobs into the store and
//! decides what an image is.

mod auth;
mod blob;
mod client;
mod tls;

pub use auth::{AuthFile, Credentials, auth_key};
pub use blob::{BlobReader, from_io as blob_error};
pub use client::{Endpoint, FetchedManifest, Options, Registry, Repository, Upload};

/// The largest manifest or index berth reads (the limit the distribution spec suggests).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// The tag that stands in for the referrers API of a registry without one (OCI distribution
/// 1.1's referrers tag schema): `sha256-<hex>`, an image index of the manifests whose subject is
/// `digest`, kept up to date by whoever pushes them.
pub fn referrers_tag(digest: &berth_types::Digest) -> String {
    format!("sha256-{}", digest.hex())
}

/// The readers of what a registry sends (headers and small answers), open to the fuzz targets.
#[doc(hidden)]
pub mod fuzzing {
    /// A `WWW-Authenticate` value: whether berth found a challenge it speaks.
    pub fn challenge(header: &str) -> bool {
        crate::auth::Challenge::parse(header).is_some()
    }

    /// An error answer's body, in the words berth prints.
    pub fn error_text(status: u16, body: &[u8]) -> String {
        let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::OK);
        crate::client::error_text(status, body)
    }

    /// A manifest's media type from its `Content-Type` and bytes.
    pub fn manifest_media_type(content_type: &str, bytes: &[u8]) -> Result<String, String> {
        crate::client::manifest_media_type(content_type, bytes)
    }
}
/// Redirects followed for one request before it fails.
pub const MAX_REDIRECTS: usize = 10;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Nothing answered: no route, refused, DNS failure, TLS failure, timeout.
    #[error("cannot reach registry {registry}: {message}")]
    Unreachable { registry: String, message: String },
    /// The registry answered with an error status.
    #[error("{what}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    /// The registry said that the thing asked for does not exist.
    #[error("{what} not found: {message}")]
    NotFound { what: String, message: String },
    /// The registry refused the credentials (or wanted some).
    #[error("{what}: unauthorized: {message}")]
    Unauthorized { what: String, message: String },
    /// The answer is not what was asked for: too large, wrong type, wrong digest, malformed.
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    /// The connection failed part way through an answer, after every retry.
    #[error("{what}: {message}")]
    Transfer { what: String, message: String },
    /// A local file (credentials, certificates) could not be used.
    #[error("{path}: {message}")]
    Local { path: String, message: String },
}

impl RegistryError {
    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Whether the registry answered that the thing is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// An error's message with its causes, without the repetitions that layered HTTP errors carry.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    // The innermost causes say what happened; the outer ones repeat the URL.
    let useful: Vec<&String> = parts
        .iter()
        .filter(|p| !p.starts_with("error sending request") && !p.starts_with("client error"))
        .collect();
    if useful.is_empty() {
        parts.join(": ")
    } else {
        useful
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(": ")
    }
}
