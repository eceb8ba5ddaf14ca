//! Streaming a blob: never past the size its descriptor gives, resumed with a `Range` request
//! when the connection is cut part way.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use berth_types::Digest;
use reqwest::StatusCode;
use reqwest::blocking::Response;

use crate::client::Repository;
use crate::{RegistryError, error_chain};

/// Times a cut blob download is resumed before the pull fails.
const MAX_RESUMES: u32 = 5;
/// A download that brings fewer than [`STALL_MIN_BYTES`] in a whole [`STALL_WINDOW`] has
/// stalled: every read within the connection's timeout is not enough, or a registry sending a
/// byte at a time would hold a pull for ever.
const STALL_WINDOW: Duration = Duration::from_secs(60);
const STALL_MIN_BYTES: u64 = 64 << 10;

/// Watches a transfer's rate, window by window.
#[derive(Debug)]
struct Stall {
    window: Duration,
    min_bytes: u64,
    start: Instant,
    bytes: u64,
}

impl Stall {
    fn new(window: Duration, min_bytes: u64, now: Instant) -> Self {
        Self {
            window,
            min_bytes,
            start: now,
            bytes: 0,
        }
    }

    /// Notes `n` bytes read at `now`: an error once a whole window brought too few.
    fn note(&mut self, n: u64, now: Instant) -> Result<(), String> {
        self.bytes += n;
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < self.window {
            return Ok(());
        }
        if self.bytes < self.min_bytes {
            return Err(format!(
                "the transfer stalled: {} bytes in {} s (at least {} expected)",
                self.bytes,
                elapsed.as_secs(),
                self.min_bytes
            ));
        }
        self.start = now;
        self.bytes = 0;
        Ok(())
    }
}

/// Reads a blob of known size from a registry. A connection that fails or ends early is opened
/// again from the current offset (`Range: bytes=N-`); a registry that ignores the range has
/// the bytes already read skipped. More bytes than the size are an error, so an endless answer
/// ends. Digests are the caller's to check: the reader sees only bytes.
///
/// Errors are `io::Error`s wrapping a [`RegistryError`] ([`from_io`] gets it back).
pub struct BlobReader<'r> {
    repo: &'r Repository<'r>,
    digest: Digest,
    size: u64,
    offset: u64,
    resp: Option<Response>,
    resumes: u32,
    stall: Stall,
    /// Called with the byte count after every read (progress bars).
    progress: Option<Box<dyn FnMut(u64) + Send + 'r>>,
}

impl std::fmt::Debug for BlobReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("offset", &self.offset)
            .field("resumes", &self.resumes)
            .finish()
    }
}

/// The registry error inside an `io::Error` from a [`BlobReader`], or the I/O error as one.
pub fn from_io(e: io::Error, what: &str) -> RegistryError {
    if e.get_ref().is_some_and(|inner| inner.is::<RegistryError>()) {
        return *e
            .into_inner()
            .expect("checked")
            .downcast::<RegistryError>()
            .expect("checked");
    }
    RegistryError::Transfer {
        what: what.into(),
        message: error_chain(&e),
    }
}

impl<'r> BlobReader<'r> {
    pub(crate) fn new(repo: &'r Repository<'r>, digest: Digest, size: u64) -> Self {
        Self {
            repo,
            digest,
            size,
            offset: 0,
            resp: None,
            resumes: 0,
            stall: Stall::new(STALL_WINDOW, STALL_MIN_BYTES, Instant::now()),
            progress: None,
        }
    }

    /// Calls `f` with the total bytes read after every read.
    pub fn on_progress(mut self, f: impl FnMut(u64) + Send + 'r) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// How many times the download was resumed.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    fn what(&self) -> String {
        format!("blob {}", self.digest)
    }

    fn open(&mut self) -> Result<Response, RegistryError> {
        let mut resp = self.repo.get_blob(&self.digest, self.offset)?;
        if self.offset == 0 {
            return Ok(resp);
        }
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            let start = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if start != Some(self.offset) {
                return Err(RegistryError::invalid(
                    self.what(),
                    format!(
                        "asked to resume at byte {}, the registry answered with Content-Range {:?}",
                        self.offset,
                        resp.headers()
                            .get("content-range")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                    ),
                ));
            }
            return Ok(resp);
        }
        // The registry ignored the range: skip what was read already.
        let skipped =
            io::copy(&mut (&mut resp).take(self.offset), &mut io::sink()).map_err(|e| {
                RegistryError::Transfer {
                    what: self.what(),
                    message: error_chain(&e),
                }
            })?;
        if skipped < self.offset {
            return Err(RegistryError::Transfer {
                what: self.what(),
                message: "the connection closed while skipping to the resume point".into(),
            });
        }
        Ok(resp)
    }

    /// Notes a failed read; an error once resumes are used up.
    fn resume(&mut self, why: String) -> io::Result<()> {
        self.resp = None;
        self.resumes += 1;
        if self.resumes > MAX_RESUMES {
            return Err(io::Error::other(RegistryError::Transfer {
                what: self.what(),
                message: format!(
                    "{why} after {} of {} bytes, {MAX_RESUMES} resumes tried",
                    self.offset, self.size
                ),
            }));
        }
        tracing::debug!("{}: {why} at byte {}; resuming", self.what(), self.offset);
        std::thread::sleep(Duration::from_millis(50 << self.resumes.min(5)));
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.resp.is_none() {
                if self.offset == self.size && self.size > 0 {
                    return Ok(0);
                }
                match self.open() {
                    Ok(r) => self.resp = Some(r),
                    // A cut connection, and a busy or failing server (408, 429, 5xx), are
                    // tried again from where the download stopped.
                    Err(e @ RegistryError::Unreachable { .. }) => {
                        self.resume(e.to_string())?;
                        continue;
                    }
                    Err(e @ RegistryError::Status { status, .. })
                        if status == 408 || status == 429 || status >= 500 =>
                    {
                        self.resume(e.to_string())?;
                        continue;
                    }
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            let resp = self.resp.as_mut().expect("opened");
            if self.offset == self.size {
                // The blob is complete; the answer must be too.
                let mut probe = [0u8; 1];
                return match resp.read(&mut probe) {
                    Ok(0) => Ok(0),
                    Ok(_) => Err(io::Error::other(RegistryError::invalid(
                        self.what(),
                        format!(
                            "the registry sent more than the {} bytes of its descriptor",
                            self.size
                        ),
                    ))),
                    // A connection reset after the last byte loses nothing.
                    Err(_) => Ok(0),
                };
            }
            let max = buf.len().min((self.size - self.offset) as usize);
            match resp.read(&mut buf[..max]) {
                Ok(0) => self.resume("the connection closed".into())?,
                Ok(n) => {
                    if let Err(message) = self.stall.note(n as u64, Instant::now()) {
                        return Err(io::Error::other(RegistryError::Transfer {
                            what: self.what(),
                            message: format!(
                                "{message}, after {} of {} bytes",
                                self.offset, self.size
                            ),
                        }));
                    }
                    self.offset += n as u64;
                    if let Some(p) = self.progress.as_mut() {
                        p(self.offset);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(error_chain(&e))?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dripping_transfer_is_a_stall_and_a_slow_steady_one_is_not() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // A byte every 29 s (each read within the connection's timeout): stalled after 60 s.
        let mut drip = Stall::new(STALL_WINDOW, STALL_MIN_BYTES, t0);
        let mut failed = None;
        for i in 1..10 {
            if let Err(e) = drip.note(1, at(29 * i)) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.expect("a drip must stall");
        assert_eq!(i, 3, "{e}");
        assert!(
            e.contains("stalled") && e.contains("3 bytes in 87 s"),
            "{e}"
        );
        // 2 KiB/s, window after window, is slow but moving.
        let mut slow = Stall::new(STALL_WINDOW, STALL_MIN_BYTES, t0);
        for s in 1..600 {
            slow.note(2048, at(s)).unwrap();
        }
        // A burst then silence within one window is fine; the next window judges afresh.
        let mut burst = Stall::new(STALL_WINDOW, STALL_MIN_BYTES, t0);
        burst.note(1 << 20, at(1)).unwrap();
        burst.note(1, at(61)).unwrap();
        assert!(burst.note(1, at(122)).is_err());
    }
}
