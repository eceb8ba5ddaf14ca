use std::cell::Cell;
use std::io::{self, Read, Write};

use berth_types::{Digest, Sha256Writer};

/// A reader that hashes and counts everything read through it (or only counts, for a stream
/// another thread hashes).
pub struct HashingReader<R> {
    inner: R,
    hash: Option<Sha256Writer>,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hash: Some(Sha256Writer::new()),
            count: 0,
        }
    }

    /// Counts without hashing: [`HashingReader::finish`] gives a zero digest.
    pub fn counting(inner: R) -> Self {
        Self {
            inner,
            hash: None,
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The digest (zero when only counting) and length of everything read.
    pub fn finish(self) -> (Digest, u64) {
        match self.hash {
            Some(h) => h.finish(),
            None => (Digest::from_bytes([0; 32]), self.count),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hash.as_mut() {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that copies everything read through it to a writer (a blob being ingested while a layer is
/// applied from the same bytes).
pub struct TeeReader<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    pub fn new(inner: R, out: W) -> Self {
        Self { inner, out }
    }

    pub fn into_inner(self) -> (R, W) {
        (self.inner, self.out)
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Marks errors that come out of a decompressor, so they can be told apart from tar errors.
pub(crate) struct FlagErrors<'a, R> {
    pub inner: R,
    pub failed: &'a Cell<bool>,
}

impl<R: Read> Read for FlagErrors<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
    }
}

/// Counts (and optionally hashes) a decompressed stream, failing once it passes `limit` bytes.
pub(crate) struct Bounded<'a, R> {
    pub inner: R,
    pub hash: Option<Sha256Writer>,
    pub count: u64,
    pub limit: u64,
    pub exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            self.exceeded.set(true);
            return Err(io::Error::other("size bound exceeded"));
        }
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}
