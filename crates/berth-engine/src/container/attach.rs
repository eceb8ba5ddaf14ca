//! `berth attach`: the process that supervises a background container serves a unix socket
//! (`<runroot>/<id>/attach.sock`); a client receives every output line as it is logged, framed
//! as Docker frames multiplexed streams, and its input goes to the container's stdin (`-i`) or
//! terminal (`-t`). Ctrl-p ctrl-q detaches the client and leaves the container running.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_types::state::{Action, Verdict};

use super::logs::JsonLog;
use crate::{Engine, EngineError, Result};

/// A path for a socket in `dir` that fits a unix socket address (108 bytes) however long `dir`
/// is: the directory through a handle, `/proc/self/fd/N/NAME`. The handle must outlive its use.
pub(crate) fn socket_path(dir: &Path, name: &str) -> Result<(std::os::fd::OwnedFd, PathBuf)> {
    use std::os::fd::AsRawFd;
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| EngineError::io("open", dir)(e.into()))?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{name}", fd.as_raw_fd()));
    Ok((fd, path))
}

/// Ctrl-p then ctrl-q, Docker's default detach keys.
const DETACH: [u8; 2] = [0x10, 0x11];

pub(crate) struct AttachServer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    path: PathBuf,
    log: Arc<JsonLog>,
}

impl AttachServer {
    /// Serves attach clients at `path`, feeding their input to `input` when there is one.
    pub(crate) fn start(
        path: &Path,
        log: Arc<JsonLog>,
        input: Option<File>,
    ) -> Result<AttachServer> {
        let _ = std::fs::remove_file(path);
        let dir = path.parent().unwrap_or(Path::new("/"));
        let name = path
            .file_name()
            .map_or("attach.sock".into(), |n| n.to_string_lossy().into_owned());
        let (_dir, short) = socket_path(dir, &name)?;
        let listener = UnixListener::bind(&short).map_err(EngineError::io("listen on", path))?;
        listener
            .set_nonblocking(true)
            .map_err(EngineError::io("listen on", path))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, sink) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let (Some(input), Ok(reader)) = (
                            input.as_ref().and_then(|i| i.try_clone().ok()),
                            client.try_clone(),
                        ) {
                            std::thread::spawn(move || forward(reader, input));
                        }
                        sink.attach(client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(AttachServer {
            stop,
            thread,
            path: path.to_owned(),
            log,
        })
    }

    /// Stops serving and closes every client's connection: the container has ended. The
    /// accepting thread sees the flag within its next poll; nothing waits for it.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
        self.log.detach_all();
        drop(self.thread);
    }
}

fn forward(mut from: UnixStream, mut to: File) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

impl Engine {
    /// `berth attach`: shows the container's output as it comes and passes `stdin` in (when
    /// `with_stdin`); returns the container's exit code, or `None` when the user detached.
    pub fn attach(&self, name: &str, with_stdin: bool) -> Result<Option<i32>> {
        let c = self.current(name)?;
        if let Verdict::Refuse(m) = c.state.status.check(Action::Attach, &c.name) {
            return Err(EngineError::ContainerState(m));
        }
        let path = self.container_run_dir(&c.id).join("attach.sock");
        let (_dir, short) = socket_path(&self.container_run_dir(&c.id), "attach.sock")?;
        let mut socket = UnixStream::connect(&short).map_err(|_| {
            EngineError::ContainerState(format!(
                "container {} cannot be attached: it was not started in the background",
                c.name
            ))
        })?;
        let detached = Arc::new(AtomicBool::new(false));
        if with_stdin {
            let (mut to, flag) = (
                socket
                    .try_clone()
                    .map_err(EngineError::io("attach to", &path))?,
                detached.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut last = 0u8;
                let mut stdin = std::io::stdin().lock();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let data = &buf[..n];
                    let escaped = data.windows(2).any(|w| w == DETACH)
                        || (last == DETACH[0] && data[0] == DETACH[1]);
                    if escaped {
                        flag.store(true, Ordering::Relaxed);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                    last = data[n - 1];
                    if to.write_all(data).is_err() {
                        break;
                    }
                }
            });
        }
        // A terminal container gets the user's keys as typed: raw mode until the attach ends.
        let saved = if c.options.tty && with_stdin {
            rustix::termios::tcgetattr(std::io::stdin()).ok()
        } else {
            None
        };
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                &raw,
            );
        }
        let restore = || {
            if let Some(t) = &saved {
                let _ = rustix::termios::tcsetattr(
                    std::io::stdin(),
                    rustix::termios::OptionalActions::Now,
                    t,
                );
            }
        };
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let mut header = [0u8; 8];
        while socket.read_exact(&mut header).is_ok() {
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let mut payload = vec![0u8; len.min(1 << 20)];
            if socket.read_exact(&mut payload).is_err() {
                break;
            }
            let sink: &mut dyn Write = if header[0] == 2 { &mut err } else { &mut out };
            let _ = sink.write_all(&payload).and_then(|()| sink.flush());
        }
        restore();
        if detached.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.wait(&c.id).map(Some)
    }
}
