//! `berth attach`: a background container's monitor serves a unix socket
//! (`<runroot>/<id>/attach.sock`); a client receives the output as it comes, framed as Docker
//! frames multiplexed streams, and its input goes to the container's stdin (`-i`) or terminal
//! (`-t`), whose size follows the user's through the monitor's `ctl` fifo. Ctrl-p ctrl-q
//! detaches the client and leaves the container running.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_types::state::{Action, Verdict};

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

/// Tells the monitor the user's terminal size, through its `ctl` fifo (`ROWS COLS` lines).
fn send_window_size(ctl: &Path) {
    if let Ok(size) = rustix::termios::tcgetwinsize(std::io::stdout())
        && let Ok(mut fifo) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(ctl)
    {
        // One write, so the monitor never reads half a line.
        let _ = fifo.write_all(format!("{} {}\n", size.ws_row, size.ws_col).as_bytes());
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
        if c.options.tty && rustix::termios::isatty(std::io::stdout()) {
            const WINCH: i32 = 28;
            let ctl = self.container_run_dir(&c.id).join("ctl");
            send_window_size(&ctl);
            // Blocked before any thread starts, so only the waiting thread takes it.
            if berth_sys::block_signals(&[WINCH]).is_ok() {
                std::thread::spawn(move || {
                    loop {
                        match berth_sys::wait_signal(&[WINCH], Duration::from_secs(3600)) {
                            Ok(Some(_)) => send_window_size(&ctl),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                });
            }
        }
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
