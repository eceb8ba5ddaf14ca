//! berth's Dockerfile builder.
//!
//! [`build`] walks a parsed Dockerfile the way Docker's classic builder does: one step per
//! instruction, each step an image whose config records what the instruction changed, with a
//! layer when the instruction changes the filesystem (RUN, COPY, ADD, and WORKDIR when it makes
//! its directory). Everything that needs the kernel or the store (running a command in a
//! container, copying into a root, storing an image, the cache table) is the engine's, through
//! the [`StepRunner`] trait; this crate decides what each step is, what its cache key is, and
//! what Docker would write in the config and the history.
//!
//! The cache key of a step is the parent image ID, the instruction after substitution (as its
//! history `created_by`, which for RUN includes the build arguments it sees), and for COPY and
//! ADD a hash of the files copied, metadata included ([`sources::content_hash`]).

mod builder;
mod duration;
pub mod ignore;
pub mod pattern;
pub mod plan;
pub mod sources;

pub use builder::{
    BuildError, BuildOptions, Change, CopyFrom, CopyStep, Image, Network, RunStep, StepRunner,
    build, platform,
};
pub use ignore::Ignore;
pub use sources::{Entry, EntryKind, Resolve, Source, SourceError, SourceRoot};
