//! A container's output in Docker's json-file format: one JSON object per line, `{"log": …,
//! "stream": "stdout"|"stderr", "time": RFC 3339 with nanoseconds}`, rotated by size
//! (`--log-opt max-size=10m --log-opt max-file=3`). `berth-monitor` writes it; berth checks the
//! options and reads it back for `berth logs`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{EngineError, Result};

/// One line of a json-file log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Rotation settings from `--log-opt`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rotation {
    /// Bytes a file may reach before it is rotated; `None` never rotates.
    pub max_size: Option<u64>,
    /// How many files are kept, the live one included.
    pub max_file: u32,
}

impl Rotation {
    pub(crate) fn parse(opts: &[String]) -> Result<Rotation> {
        let mut r = Rotation {
            max_size: None,
            max_file: 1,
        };
        for opt in opts {
            let (k, v) = opt.split_once('=').ok_or_else(|| {
                EngineError::InvalidOption(format!("invalid log option {opt:?}: use KEY=VALUE"))
            })?;
            match k {
                "max-size" => r.max_size = Some(super::parse_bytes(v)?.max(1) as u64),
                "max-file" => {
                    r.max_file = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        EngineError::InvalidOption(format!("invalid max-file {v:?}"))
                    })?
                }
                _ => {
                    return Err(EngineError::InvalidOption(format!(
                        "unknown log option {k:?} for the json-file driver"
                    )));
                }
            }
        }
        if r.max_file > 1 && r.max_size.is_none() {
            return Err(EngineError::InvalidOption("max-file needs max-size".into()));
        }
        Ok(r)
    }
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

/// Every entry of the log at `path`, oldest first, rotated files included.
pub fn read_log(path: &Path) -> Vec<LogEntry> {
    let mut files: Vec<PathBuf> = (1..100)
        .map(|n| rotated(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_owned());
    let mut out = Vec::new();
    for f in files {
        if let Ok(file) = File::open(&f) {
            out.extend(
                BufReader::new(file)
                    .lines()
                    .map_while(std::io::Result::ok)
                    .filter_map(|l| serde_json::from_str::<LogEntry>(&l).ok()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_are_read_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let line = |n: u32| {
            format!(
                "{{\"log\":\"{n}\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:0{n}.000000000Z\"}}\n"
            )
        };
        std::fs::write(rotated(&path, 2), line(1)).unwrap();
        std::fs::write(rotated(&path, 1), line(2) + "not json\n").unwrap();
        std::fs::write(&path, line(3)).unwrap();
        let logs: Vec<String> = read_log(&path).into_iter().map(|e| e.log).collect();
        assert_eq!(logs, ["1\n", "2\n", "3\n"]);
    }

    #[test]
    fn log_options_are_checked() {
        assert_eq!(
            Rotation::parse(&[]).unwrap(),
            Rotation {
                max_size: None,
                max_file: 1
            }
        );
        assert!(Rotation::parse(&["max-file=2".into()]).is_err());
        assert!(Rotation::parse(&["mode=non-blocking".into()]).is_err());
        assert!(Rotation::parse(&["max-size=1k".into(), "max-file=0".into()]).is_err());
    }
}
