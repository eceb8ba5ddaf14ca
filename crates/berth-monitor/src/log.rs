//! The container's output in Docker's json-file format: one object per line, `{"log": …,
//! "stream": "stdout"|"stderr", "time": RFC 3339 with nanoseconds}`, rotated by size the way
//! `--log-opt max-size` and `max-file` ask: `x.log` becomes `x.log.1`, `x.log.1` becomes
//! `x.log.2`, and the oldest beyond `max-file` goes.

use core::fmt::Write;

use crate::sys::{self, Fd};
use crate::text::{Buf, json_escape, rfc3339};

/// The longest line kept in one entry; a longer one is split, as Docker splits at 16 KiB.
pub const MAX_LINE: usize = 16 * 1024;

pub struct JsonLog {
    fd: Fd,
    path: Buf<4096>,
    size: u64,
    /// Bytes a file may reach before it is rotated; 0 never rotates.
    max_size: u64,
    /// Files kept, the live one included.
    max_file: u32,
}

impl JsonLog {
    pub fn open(path: &[u8], max_size: u64, max_file: u32) -> sys::Res<JsonLog> {
        let mut p = Buf::new();
        if !p.push(path) {
            return Err(sys::Errno(libc::ENAMETOOLONG));
        }
        let fd = open_append(&mut p)?;
        Ok(JsonLog {
            fd,
            size: sys::file_size(fd),
            path: p,
            max_size,
            max_file: max_file.max(1),
        })
    }

    /// Logs one line (with its newline, if it had one) of `stream`, stamped now.
    pub fn write(&mut self, stream: &str, line: &[u8]) {
        let (secs, nanos) = sys::now();
        self.write_at(stream, line, secs, nanos);
    }

    fn write_at(&mut self, stream: &str, line: &[u8], secs: i64, nanos: u32) {
        let line = &line[..line.len().min(MAX_LINE)];
        let mut stamp = Buf::<64>::new();
        let _ = rfc3339(&mut stamp, secs, nanos);
        let mut len = 0u64;
        entry(stream, line, stamp.bytes(), |p| len += p.len() as u64);
        if self.max_size > 0 && self.size > 0 && self.size + len > self.max_size {
            self.rotate();
        }
        // Most entries go out in one write; a long one in pieces of the buffer's size.
        let mut out = Buf::<8192>::new();
        let mut failed = false;
        entry(stream, line, stamp.bytes(), |p| {
            if !out.push(p) {
                failed |= sys::write_all(self.fd, out.bytes()).is_err();
                out.clear();
                for piece in p.chunks(4096) {
                    out.push(piece);
                    if out.len() >= 4096 {
                        failed |= sys::write_all(self.fd, out.bytes()).is_err();
                        out.clear();
                    }
                }
            }
        });
        failed |= sys::write_all(self.fd, out.bytes()).is_err();
        if !failed {
            self.size += len;
        }
    }

    fn rotate(&mut self) {
        if self.max_file <= 1 {
            sys::truncate(self.fd);
            self.size = 0;
            return;
        }
        let (mut from, mut to) = (Buf::<4200>::new(), Buf::<4200>::new());
        for n in (1..self.max_file).rev() {
            from.clear();
            to.clear();
            from.push(self.path.bytes());
            to.push(self.path.bytes());
            if n > 1 {
                let _ = write!(from, ".{}", n - 1);
            }
            let _ = write!(to, ".{n}");
            if let (Some(f), Some(t)) = (from.c_str(), to.c_str()) {
                let _ = sys::rename(f, t);
            }
        }
        if let Ok(fd) = open_append(&mut self.path) {
            sys::close(self.fd);
            self.fd = fd;
            self.size = 0;
        }
    }
}

/// One json-file entry, in pieces.
fn entry(stream: &str, line: &[u8], time: &[u8], mut emit: impl FnMut(&[u8])) {
    emit(b"{\"log\":\"");
    json_escape(line, &mut emit);
    emit(b"\",\"stream\":\"");
    emit(stream.as_bytes());
    emit(b"\",\"time\":\"");
    emit(time);
    emit(b"\"}\n");
}

fn open_append(path: &mut Buf<4096>) -> sys::Res<Fd> {
    let c = path.c_str().ok_or(sys::Errno(libc::EINVAL))?;
    sys::open(c, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o640)
}

/// Splits a stream's output into log lines: complete lines go out as they end, a line longer
/// than [`MAX_LINE`] goes out in pieces, and whatever is left goes out at the end.
pub struct Lines {
    buf: [u8; MAX_LINE],
    len: usize,
}

impl Lines {
    pub const fn new() -> Lines {
        Lines {
            buf: [0; MAX_LINE],
            len: 0,
        }
    }

    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            let room = MAX_LINE - self.len;
            let take = match data[..data.len().min(room)]
                .iter()
                .position(|b| *b == b'\n')
            {
                Some(i) => i + 1,
                None => data.len().min(room),
            };
            self.buf[self.len..self.len + take].copy_from_slice(&data[..take]);
            self.len += take;
            data = &data[take..];
            if self.buf[self.len - 1] == b'\n' || self.len == MAX_LINE {
                emit(&self.buf[..self.len]);
                self.len = 0;
            }
        }
    }

    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if self.len > 0 {
            emit(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn entries_are_docker_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(path.as_os_str().as_encoded_bytes(), 0, 1).unwrap();
        log.write_at("stdout", b"hello \"world\"\n", 1_700_000_000, 5);
        log.write_at("stderr", b"no newline", 1_700_000_001, 0);
        let e = entries(&path);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0]["log"], "hello \"world\"\n");
        assert_eq!(e[0]["stream"], "stdout");
        assert_eq!(e[0]["time"], "2023-11-14T22:13:20.000000005Z");
        assert_eq!(e[1]["log"], "no newline");
        assert_eq!(e[1]["stream"], "stderr");
    }

    #[test]
    fn rotation_keeps_max_file_files_under_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(path.as_os_str().as_encoded_bytes(), 300, 3).unwrap();
        for i in 0..40 {
            log.write("stdout", format!("line {i}\n").as_bytes());
        }
        let rotated = |n: u32| dir.path().join(format!("c-json.log.{n}"));
        assert!(rotated(1).exists() && rotated(2).exists());
        assert!(
            !rotated(3).exists(),
            "max-file=3 keeps the live file and two more"
        );
        for p in [path.clone(), rotated(1), rotated(2)] {
            assert!(std::fs::metadata(&p).unwrap().len() <= 300, "{p:?}");
        }
        let last = entries(&path);
        assert_eq!(last.last().unwrap()["log"], "line 39\n");
        let older = entries(&rotated(1));
        let n = |v: &serde_json::Value| {
            v["log"].as_str().unwrap()[5..]
                .trim()
                .parse::<u32>()
                .unwrap()
        };
        assert_eq!(n(older.last().unwrap()) + 1, n(&last[0]), "no line is lost");
    }

    #[test]
    fn one_file_is_truncated_rather_than_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open(path.as_os_str().as_encoded_bytes(), 200, 1).unwrap();
        for _ in 0..10 {
            log.write("stdout", b"filler line\n");
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        assert!(!dir.path().join("c-json.log.1").exists());
    }

    #[test]
    fn lines_split_at_newlines_and_at_the_limit() {
        let mut lines = Lines::new();
        let mut out: Vec<Vec<u8>> = Vec::new();
        lines.feed(b"one\ntw", |l| out.push(l.to_vec()));
        lines.feed(b"o\nthree", |l| out.push(l.to_vec()));
        assert_eq!(out, [b"one\n".to_vec(), b"two\n".to_vec()]);
        lines.finish(|l| out.push(l.to_vec()));
        assert_eq!(out[2], b"three");
        out.clear();
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        lines.feed(&long, |l| out.push(l.to_vec()));
        lines.finish(|l| out.push(l.to_vec()));
        let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_LINE, MAX_LINE, 10]);
    }
}
