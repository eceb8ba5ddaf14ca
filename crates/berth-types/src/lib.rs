//! berth's shared vocabulary: content digests, image references with Docker's normalisation, and the
//! JSON shapes of the OCI and Docker image formats and of the OCI runtime spec.
//!
//! Invariants: every value here is validated on construction, so holding a [`Digest`] or a
//! [`Reference`] means it is well formed. This crate does no I/O and has no unsafe code; it must not
//! depend on any other berth crate.

mod digest;
pub mod image;
mod reference;
pub mod runtime;
pub mod state;

pub use digest::{ChainId, Digest, DigestError, Sha256Writer, chain_ids};
pub use reference::{Reference, ReferenceError};
