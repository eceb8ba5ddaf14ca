use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use berth_types::{Digest, Sha256Writer};

use crate::{Result, Store, StoreError};

/// A blob being written: bytes go to a temporary file under `ingest/` and are hashed on the way.
/// Nothing is visible until [`Ingest::commit`]; dropping it removes the temporary file.
pub struct Ingest {
    file: Option<File>,
    path: PathBuf,
    hash: Sha256Writer,
    blobs: PathBuf,
    /// Bytes already handed to the kernel's writeback (see [`WRITE_BEHIND`]).
    written_behind: u64,
}

/// How many bytes of a blob being written collect in the page cache before their writeback
/// is started.
const WRITE_BEHIND: u64 = 8 << 20;

pub(crate) fn random_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

impl Ingest {
    /// Checks the digest (against `expected` when given), fsyncs, and moves the blob into place.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.finish(expected, true)
    }

    /// As [`Ingest::commit`], without the fsyncs: for a blob whose layer is about to go through
    /// [`Store::commit_layer_dir`], whose sync of the whole filesystem makes both durable at once
    /// (one flush instead of two). Nothing may reference the blob before that.
    pub fn commit_unsynced(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.finish(expected, false)
    }

    fn finish(mut self, expected: Option<&Digest>, sync: bool) -> Result<(Digest, u64)> {
        let file = self.file.take().expect("ingest file");
        let (digest, size) = std::mem::take(&mut self.hash).finish();
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(StoreError::DigestMismatch {
                expected: *expected,
                actual: digest,
            });
        }
        if sync {
            file.sync_all()
                .map_err(StoreError::io("sync", &self.path))?;
        }
        drop(file);
        let dest = self.blobs.join(digest.hex());
        std::fs::rename(&self.path, &dest).map_err(StoreError::io("rename into place", &dest))?;
        if sync {
            sync_dir(&self.blobs)?;
        }
        Ok((digest, size))
    }

    pub fn len(&self) -> u64 {
        self.hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hash.is_empty()
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().expect("ingest file");
        let n = file.write(buf)?;
        self.hash.update(&buf[..n]);
        let written = self.hash.len();
        if written - self.written_behind >= WRITE_BEHIND {
            // The bytes just written start going to disk now, while the writing goes on, so
            // the commit's flush has little left to wait for. (DONTNEED starts the writeback
            // of dirty pages and drops only clean ones, which these are not yet.) Advice
            // only: errors are for the commit's flush to report.
            let _ = rustix::fs::fadvise(
                &*file,
                self.written_behind,
                std::num::NonZeroU64::new(written - self.written_behind),
                rustix::fs::Advice::DontNeed,
            );
            self.written_behind = written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(crate) fn sync_dir(dir: &std::path::Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("sync directory", dir))
}

impl Store {
    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    /// An empty file in the ingest area, already unlinked, for bytes that are needed for a while
    /// and then never again (a layer compressed for a push). It goes when it is closed.
    pub fn scratch_file(&self) -> Result<File> {
        let path = self.ingest_dir().join(random_name("scratch"));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(StoreError::io("create", &path))?;
        std::fs::remove_file(&path).map_err(StoreError::io("remove", &path))?;
        Ok(file)
    }

    /// Starts writing a blob. Hold [`Store::writer_lock`] until it is referenced.
    pub fn ingest(&self) -> Result<Ingest> {
        let path = self.ingest_dir().join(random_name("blob"));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::io("create", &path))?;
        Ok(Ingest {
            file: Some(file),
            path,
            hash: Sha256Writer::new(),
            blobs: self.blobs_dir(),
            written_behind: 0,
        })
    }

    /// Stores `data` and returns its digest.
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::of(data);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut ingest = self.ingest()?;
        ingest
            .write_all(data)
            .map_err(StoreError::io("write", &ingest.path))?;
        Ok(ingest.commit(Some(&digest))?.0)
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        File::open(self.blob_path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing { digest: *digest },
            _ => StoreError::Io {
                op: "open",
                path: self.blob_path(digest),
                source: e,
            },
        })
    }

    /// Reads a small blob (a config or manifest) whole, checking its digest on the way.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let file = self.open_blob(digest)?;
        let size = file
            .metadata()
            .map_err(StoreError::io("stat", self.blob_path(digest)))?
            .len();
        if size > limit {
            return Err(StoreError::BlobTooLarge {
                digest: *digest,
                size,
                limit,
            });
        }
        let mut data = Vec::with_capacity(size as usize);
        file.take(limit)
            .read_to_end(&mut data)
            .map_err(StoreError::io("read", self.blob_path(digest)))?;
        let actual = Digest::of(&data);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: *digest,
                actual,
            });
        }
        Ok(data)
    }
}
