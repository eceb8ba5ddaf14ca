//! The container's terminal: a pty made inside the container's own devpts, whose master end is
//! sent to the engine over `--console-socket`, as runc does.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_types::runtime::ConsoleSize;
use rustix::fs::{Mode, OFlags};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::OpenptFlags;

use crate::error::{Context, Result};

/// Opens a new pty in the current root; returns (master, slave).
/// With `console`, `/dev/console` becomes the terminal too (the container's init only; an
/// `exec` must not retarget a running container's console).
pub(crate) fn open_pty(size: Option<ConsoleSize>, console: bool) -> Result<(OwnedFd, OwnedFd)> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .context(|| "opening /dev/ptmx".into())?;
    rustix::pty::grantpt(&master).context(|| "grantpt".into())?;
    rustix::pty::unlockpt(&master).context(|| "unlockpt".into())?;
    let name = rustix::pty::ptsname(&master, Vec::new()).context(|| "ptsname".into())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("opening {}", name.to_string_lossy()))?;
    if let Some(s) = size {
        let winsize = rustix::termios::Winsize {
            ws_row: s.height,
            ws_col: s.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, winsize)
            .context(|| "setting the terminal size".into())?;
    }
    if console {
        // Make /dev/console this terminal, as the runtime spec asks when there is one.
        let console = Path::new("/dev/console");
        if rustix::fs::open(
            console,
            OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o600),
        )
        .is_ok()
        {
            let _ = rustix::mount::mount_bind(name.as_c_str(), console);
        }
    }
    Ok((master, slave))
}

/// Sends `fd` over the connected unix socket `socket` as SCM_RIGHTS.
pub fn send_fd(socket: impl AsFd, fd: impl AsFd, name: &str) -> Result<()> {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(name.as_bytes())],
        &mut control,
        SendFlags::empty(),
    )
    .context(|| "sending the terminal over the console socket".into())?;
    Ok(())
}
