use std::io;
use std::path::PathBuf;

/// Why an archive or layer was refused. The entry is named as it appears in the archive; the caller
/// adds which layer or archive it was.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("entry {entry:?} escapes the root (absolute path or '..')")]
    Escape { entry: String },
    #[error("entry {entry:?} would be written through a symlink that leads outside the root")]
    SymlinkEscape { entry: String },
    #[error("entry {entry:?} is reached through a symlink loop")]
    SymlinkLoop { entry: String },
    #[error("entry {entry:?} is a hard link to {target:?}, outside the root")]
    HardlinkEscape { entry: String, target: String },
    #[error("entry {entry:?} is a hard link to {target:?}, which is not in this layer")]
    HardlinkMissing { entry: String, target: String },
    #[error(
        "entry {entry:?} would turn a directory into a symlink to {target:?}, outside the root"
    )]
    DirToEscapingSymlink { entry: String, target: String },
    #[error("entry {entry:?} is an invalid whiteout")]
    BadWhiteout { entry: String },
    #[error("entry {entry:?}: {what} is not supported")]
    Unsupported { entry: String, what: String },
    #[error("entry {entry:?}: header extension of {size} bytes exceeds the bound of {limit} bytes")]
    HeaderTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error("entry {entry:?}: malformed header: {why}")]
    BadHeader { entry: String, why: String },
    #[error("uncompressed size exceeds the bound of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("corrupt or truncated {format} stream")]
    Decompress {
        format: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("malformed or truncated tar stream")]
    Tar {
        #[source]
        source: io::Error,
    },
    #[error("entry {entry:?}: {op} {path:?}")]
    Io {
        entry: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("read archive")]
    Read {
        #[source]
        source: io::Error,
    },
}
