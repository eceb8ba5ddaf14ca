use std::cell::Cell;
use std::io::{self, BufRead, Read, Write};

use berth_types::{Digest, Sha256Writer};

/// A buffered reader that hashes and counts every byte it takes from the reader under it (or only
/// counts, for a stream another thread hashes). Bytes are hashed as they first appear in the
/// buffer, so reading through it copies nothing more than the buffer under it does; bytes
/// buffered but never consumed are counted too, as they were taken from the source.
///
/// `inner` must be a buffer that hands out the same bytes again until they are consumed (as
/// `BufReader`, a slice, and the pipelines' chunk reader do).
pub struct HashingReader<R> {
    inner: R,
    hash: Option<Sha256Writer>,
    count: u64,
    /// Bytes at the front of `inner`'s buffer already hashed.
    seen: usize,
}

impl<R: BufRead> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hash: Some(Sha256Writer::new()),
            count: 0,
            seen: 0,
        }
    }

    /// Counts without hashing: [`HashingReader::finish`] gives a zero digest.
    pub fn counting(inner: R) -> Self {
        Self {
            inner,
            hash: None,
            count: 0,
            seen: 0,
        }
    }

    /// Bytes taken from the source so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The digest (zero when only counting) and length of everything taken from the source.
    pub fn finish(self) -> (Digest, u64) {
        match self.hash {
            Some(h) => h.finish(),
            None => (Digest::from_bytes([0; 32]), self.count),
        }
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let buf = self.inner.fill_buf()?;
        if let Some(new) = buf.get(self.seen..) {
            if let Some(h) = self.hash.as_mut() {
                h.update(new);
            }
            self.count += new.len() as u64;
            self.seen = buf.len();
        }
        Ok(buf)
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.seen = self.seen.saturating_sub(n);
    }
}

impl<R: BufRead> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn hashes_every_byte_taken_once_however_it_is_read() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let (want, _) = {
            let mut h = Sha256Writer::new();
            h.update(&data);
            h.finish()
        };
        // Reads, peeks without consuming, and partial consumes mixed, through a small buffer.
        let mut r = HashingReader::new(BufReader::with_capacity(64, &data[..]));
        let mut out = Vec::new();
        let mut buf = [0u8; 50];
        loop {
            let peek = r.fill_buf().unwrap().len();
            let again = r.fill_buf().unwrap().len();
            assert_eq!(peek, again);
            if peek == 0 {
                break;
            }
            let half = r.fill_buf().unwrap()[..peek / 2].to_vec();
            out.extend_from_slice(&half);
            r.consume(half.len());
            let n = r.read(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, data);
        assert_eq!(r.len(), data.len() as u64);
        assert_eq!(r.finish(), (want, data.len() as u64));
    }

    #[test]
    fn counts_bytes_buffered_but_not_consumed() {
        let data = [1u8; 100];
        let mut r = HashingReader::new(&data[..]);
        assert_eq!(r.fill_buf().unwrap().len(), 100);
        r.consume(10);
        let (digest, len) = r.finish();
        let mut h = Sha256Writer::new();
        h.update(&data);
        assert_eq!((digest, len), h.finish());
        let mut counting = HashingReader::counting(&data[..]);
        io::copy(&mut counting, &mut io::sink()).unwrap();
        assert_eq!(counting.finish(), (Digest::from_bytes([0; 32]), 100));
    }
}
