//! berth-archive is the boundary where hostile bytes come in: tar streams, gzip and zstd
//! decompression, digest-computing readers, and applying a layer to a directory.
//!
//! Invariants:
//! - Every path taken from an archive is resolved against a directory file descriptor with
//!   `openat2(RESOLVE_BENEATH)`; host path strings are never joined with archive paths, and a symlink
//!   inside a layer can never lead a write outside the layer root.
//! - Everything read is bounded: header extensions by [`Limits::max_header`], a layer's uncompressed
//!   size by [`Limits::max_uncompressed`].
//! - Decompression, hashing (compressed and uncompressed) and extraction happen in one streaming pass.
//!
//! The `tar` crate is used as a parser only, in raw mode; its `unpack` is never used. This crate has no
//! unsafe code and must not depend on the store or anything above it.

mod apply;
mod compression;
mod error;
mod read;
mod stream;

pub use apply::{ApplyReport, apply_buffered_layer, apply_layer, apply_layer_unhashed};
pub use compression::{Compression, gzip};
pub use error::ArchiveError;
pub use read::{HashingReader, TeeReader};
pub use stream::{EntryKind, EntryMeta, for_each_entry, for_each_entry_seekable};

/// Bounds on what a hostile archive may make berth read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest GNU long name, long link or PAX header body, in bytes.
    pub max_header: u64,
    /// Largest uncompressed layer, in bytes (a tar bomb stops here).
    pub max_uncompressed: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header: 1 << 20,
            max_uncompressed: 64 << 30,
        }
    }
}
