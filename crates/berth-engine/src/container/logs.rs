//! A container's output in Docker's json-file format: one JSON object per line, `{"log": …,
//! "stream": "stdout"|"stderr", "time": RFC 3339 with nanoseconds}`, rotated by size
//! (`--log-opt max-size=10m --log-opt max-file=3`). `berth-monitor` writes it for a background
//! container, berth itself for one in the foreground; berth reads it back for `berth logs`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The longest line kept in one entry, Docker's split size (as berth-monitor splits).
const MAX_LINE: usize = 16 * 1024;

/// The log of a container run in the foreground (`berth run` without `-d`), where berth itself
/// holds the output; in the background berth-monitor writes the same format.
pub(crate) struct JsonLog {
    path: PathBuf,
    rotation: Rotation,
    file: Mutex<(File, u64)>,
}

impl JsonLog {
    pub(crate) fn open(path: &Path, rotation: Rotation) -> Result<Arc<JsonLog>> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(EngineError::io("open", path))?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(Arc::new(JsonLog {
            path: path.to_owned(),
            rotation,
            file: Mutex::new((file, size)),
        }))
    }

    fn write_line(&self, stream: &str, line: &[u8]) {
        let entry = LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.to_owned(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        };
        let mut json = serde_json::to_vec(&entry).expect("entry serialises");
        json.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(max) = self.rotation.max_size
            && guard.1 > 0
            && guard.1 + json.len() as u64 > max
        {
            self.rotate(&mut guard);
        }
        if guard.0.write_all(&json).is_ok() {
            guard.1 += json.len() as u64;
        }
    }

    /// `x.log` becomes `x.log.1`, `x.log.1` becomes `x.log.2`, … and the oldest beyond
    /// `max-file` goes.
    fn rotate(&self, guard: &mut (File, u64)) {
        let keep = self.rotation.max_file;
        if keep <= 1 {
            let _ = guard.0.set_len(0);
            guard.1 = 0;
            return;
        }
        for n in (1..keep).rev() {
            let from = if n == 1 {
                self.path.clone()
            } else {
                rotated(&self.path, n - 1)
            };
            let _ = std::fs::rename(from, rotated(&self.path, n));
        }
        if let Ok(f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            *guard = (f, 0);
        }
    }
}

/// Copies `reader` to `echo` as it comes and, with `log`, into that log as the stream named,
/// a line per entry, until end of file (or EIO, a terminal whose other side has closed).
pub(crate) fn tee(
    mut reader: impl Read + Send + 'static,
    mut echo: impl Write + Send + 'static,
    log: Option<(Arc<JsonLog>, &'static str)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        let mut line = Vec::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = echo.write_all(&buf[..n]).and_then(|()| echo.flush());
            let Some((log, stream)) = &log else {
                continue;
            };
            for piece in buf[..n].split_inclusive(|b| *b == b'\n') {
                line.extend_from_slice(piece);
                if line.ends_with(b"\n") || line.len() >= MAX_LINE {
                    log.write_line(stream, &line);
                    line.clear();
                }
            }
        }
        if let Some((log, stream)) = &log
            && !line.is_empty()
        {
            log.write_line(stream, &line);
        }
    })
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
    fn the_foreground_tee_echoes_and_logs_with_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let log = JsonLog::open(
            &path,
            Rotation::parse(&["max-size=300".into(), "max-file=2".into()]).unwrap(),
        )
        .unwrap();
        let echo = dir.path().join("echo");
        let out = File::create(&echo).unwrap();
        let mut input = b"one\ntwo\n".to_vec();
        for i in 0..20 {
            input.extend(format!("line {i}\n").as_bytes());
        }
        input.extend(b"no newline");
        tee(
            std::io::Cursor::new(input.clone()),
            out,
            Some((log, "stderr")),
        )
        .join()
        .unwrap();
        assert_eq!(std::fs::read(&echo).unwrap(), input, "echoed as it came");
        let entries = read_log(&path);
        assert_eq!(entries.last().unwrap().log, "no newline");
        assert!(entries.iter().all(|e| e.stream == "stderr"));
        assert!(rotated(&path, 1).exists() && !rotated(&path, 2).exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 300);
    }

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
