//! A container's output in Docker's json-file format: one JSON object per line, `{"log": …,
//! "stream": "stdout"|"stderr", "time": RFC 3339 with nanoseconds}`, rotated by size
//! (`--log-opt max-size=10m --log-opt max-file=3`), and read back by `berth logs`.

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

/// The writer side, shared by the stdout and stderr copiers.
pub(crate) struct JsonLog {
    path: PathBuf,
    rotation: Rotation,
    file: Mutex<(File, u64)>,
    /// `berth attach` clients, sent every line as it is logged (see [`frame`]).
    attached: Mutex<Vec<std::os::unix::net::UnixStream>>,
}

/// Docker's multiplexed stream frame: the stream (1 stdout, 2 stderr), three zero bytes, the
/// payload's length (big-endian u32), the payload.
pub(crate) fn frame(stream: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.push(if stream == "stderr" { 2 } else { 1 });
    out.extend([0, 0, 0]);
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
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
            attached: Mutex::new(Vec::new()),
        }))
    }

    /// Sends every later line to `client` too, until it goes away.
    pub(crate) fn attach(&self, client: std::os::unix::net::UnixStream) {
        self.attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(client);
    }

    /// Closes every attached client's connection: the container has ended.
    pub(crate) fn detach_all(&self) {
        self.attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn write_line(&self, stream: &str, line: &[u8]) {
        {
            let mut clients = self.attached.lock().unwrap_or_else(|e| e.into_inner());
            let framed = frame(stream, line);
            clients.retain_mut(|c| c.write_all(&framed).is_ok());
        }
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
        let _ = std::fs::remove_file(rotated(&self.path, keep - 1));
        for n in (1..keep - 1).rev() {
            let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
        }
        let _ = std::fs::rename(&self.path, rotated(&self.path, 1));
        if let Ok(f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            *guard = (f, 0);
        }
    }

    /// Copies `reader` into the log as `stream`, a line per entry (a final line without a
    /// newline is kept as is), until end of file.
    pub(crate) fn copy_from(
        self: &Arc<Self>,
        reader: impl Read + Send + 'static,
        stream: &'static str,
    ) -> std::thread::JoinHandle<()> {
        let log = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(16 * 1024, reader);
            let mut line = Vec::new();
            loop {
                line.clear();
                // Bounded lines: a program that never writes a newline still gets logged.
                match (&mut reader).take(16 * 1024).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => log.write_line(stream, &line),
                }
            }
        })
    }
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
    fn lines_become_entries_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let log = JsonLog::open(
            &path,
            Rotation::parse(&["max-size=200".into(), "max-file=3".into()]).unwrap(),
        )
        .unwrap();
        let out = log.copy_from(
            std::io::Cursor::new(b"one\ntwo\nno newline".to_vec()),
            "stdout",
        );
        out.join().unwrap();
        let err = log.copy_from(std::io::Cursor::new(b"oops\n".to_vec()), "stderr");
        err.join().unwrap();
        let entries = read_log(&path);
        let logs: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            logs,
            [
                ("stdout", "one\n"),
                ("stdout", "two\n"),
                ("stdout", "no newline"),
                ("stderr", "oops\n")
            ]
        );
        assert!(
            rotated(&path, 1).exists(),
            "200 bytes hold fewer than four entries"
        );
        for _ in 0..20 {
            log.write_line("stdout", b"filler line\n");
        }
        assert!(
            !rotated(&path, 3).exists(),
            "max-file=3 keeps the live file and two more"
        );
        assert!(read_log(&path).len() < 24);
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
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
