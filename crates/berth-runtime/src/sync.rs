//! The channel between the runtime and a process it starts: a SOCK_SEQPACKET pair, so each message
//! arrives whole, and a closed end reads as end of file.

use std::os::fd::OwnedFd;

use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::error::{Context, Result, RuntimeError};

const ERROR_PREFIX: &str = "error:";

pub(crate) struct Channel(OwnedFd);

pub(crate) fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .context(|| "creating a socket pair".into())?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub(crate) fn send(&self, message: &str) -> Result<()> {
        rustix::io::write(&self.0, message.as_bytes())
            .context(|| "writing to the sync socket".into())?;
        Ok(())
    }

    pub(crate) fn send_error(&self, error: &RuntimeError) {
        let mut message = format!("{ERROR_PREFIX}{error}");
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        let _ = self.send(&message);
    }

    /// Waits for `expected`; an error message from the other side becomes [`RuntimeError::Init`].
    pub(crate) fn expect(&self, expected: &str) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match rustix::io::read(&self.0, &mut buf) {
                Err(rustix::io::Errno::INTR) => continue,
                r => break r.context(|| "reading the sync socket".into())?,
            }
        };
        let message = String::from_utf8_lossy(&buf[..n]);
        if message == expected {
            Ok(())
        } else if let Some(error) = message.strip_prefix(ERROR_PREFIX) {
            Err(RuntimeError::Init(error.to_owned()))
        } else if n == 0 {
            Err(RuntimeError::Init(
                "the container process exited before it was ready".into(),
            ))
        } else {
            Err(RuntimeError::Init(format!(
                "unexpected message {message:?} from the container process"
            )))
        }
    }
}
