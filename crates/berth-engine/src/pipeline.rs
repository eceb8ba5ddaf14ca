//! Reading a stream once for two consumers on two threads: the bytes go to a sink (a blob being
//! ingested) on the reading thread and, through a bounded channel, to a consumer (unpacking) on
//! another. A pull chains two of these (download, decompression, unpacking); a load one.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

/// Bytes handed over at a time.
pub(crate) const CHUNK: usize = 256 << 10;
/// Chunks in flight between the threads (so at most 2 MiB).
const CHUNKS_IN_FLIGHT: usize = 8;

/// What the reading side does once the consumer stops early.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Reads on to the end, into the sink (a blob must be whole to be checked).
    ToEnd,
    /// Stops (a decompressor's output is not worth producing for nobody).
    Stop,
}

/// The consuming side of [`pipelined`].
pub(crate) struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    /// Read chunks go back to the reading side to be filled again: a fresh 256 KiB buffer for
    /// every chunk would be zeroed (and faulted in) each time.
    used: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    let done = std::mem::replace(&mut self.cur, c);
                    let _ = self.used.send(done);
                    self.pos = 0;
                }
                Err(_) => break,
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Reads the source `open` makes to its end on this thread, writing every byte to `sink`, while
/// `consume` reads the same bytes on another thread. Returns what `consume` returned and how the
/// reading ended (an error from `open`, the source or the sink).
pub(crate) fn pipelined<R: Read, T: Send>(
    open: impl FnOnce() -> io::Result<R>,
    sink: &mut impl Write,
    drain: Drain,
    consume: impl FnOnce(&mut ChunkReader) -> T + Send,
) -> (T, io::Result<()>) {
    let (tx, rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let (used, recycled) = channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut reader = ChunkReader {
                rx,
                used,
                cur: Vec::new(),
                pos: 0,
            };
            // The receiver goes with the reader when `consume` returns: the reading side then
            // stops handing over.
            consume(&mut reader)
        });
        let produced = (|| -> io::Result<()> {
            let mut src = open()?;
            let mut consumer_gone = false;
            loop {
                // At most CHUNKS_IN_FLIGHT + 2 buffers ever exist: one is made only when none
                // has come back.
                let mut buf = recycled.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                while filled < CHUNK {
                    match src.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if filled == 0 {
                    return Ok(());
                }
                buf.truncate(filled);
                sink.write_all(&buf)?;
                if !consumer_gone && tx.send(buf).is_err() {
                    if drain == Drain::Stop {
                        return Ok(());
                    }
                    consumer_gone = true;
                }
            }
        })();
        // End of stream for the consumer, however the reading ended.
        drop(tx);
        let out = consumer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (out, produced)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_see_every_byte() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let mut sink = Vec::new();
        let (seen, read) = pipelined(
            || Ok(&data[..]),
            &mut sink,
            Drain::ToEnd,
            |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                v
            },
        );
        read.unwrap();
        assert!(seen == data && sink == data);
    }

    #[test]
    fn the_consumer_reads_straight_out_of_the_chunks() {
        let data: Vec<u8> = (0..2 * CHUNK + 5).map(|i| (i % 13) as u8).collect();
        let (seen, read) = pipelined(
            || Ok(&data[..]),
            &mut io::sink(),
            Drain::ToEnd,
            |r| {
                let mut v = Vec::new();
                loop {
                    let buf = r.fill_buf().unwrap();
                    if buf.is_empty() {
                        break;
                    }
                    // Whole chunks are handed out; a partial consume leaves the rest.
                    assert!(buf.len() <= CHUNK);
                    let n = buf.len().div_ceil(2);
                    v.extend_from_slice(&buf[..n]);
                    r.consume(n);
                }
                v
            },
        );
        read.unwrap();
        assert!(seen == data);
    }

    #[test]
    fn a_consumer_that_stops_early_still_leaves_the_sink_whole() {
        let data = vec![7u8; 40 * CHUNK];
        let mut sink = Vec::new();
        let (n, read) = pipelined(
            || Ok(&data[..]),
            &mut sink,
            Drain::ToEnd,
            |r| r.read(&mut [0u8; 10]).unwrap(),
        );
        read.unwrap();
        assert_eq!(n, 10);
        assert_eq!(sink.len(), data.len());
        // With Drain::Stop the reading stops instead.
        let mut sink = Vec::new();
        let _ = pipelined(|| Ok(&data[..]), &mut sink, Drain::Stop, |_| ());
        assert!(sink.len() < data.len());
    }

    #[test]
    fn a_read_error_ends_the_consumer_and_is_returned() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("cut"));
                }
                self.0 -= 1;
                buf[0] = 1;
                Ok(1)
            }
        }
        let (got, read) = pipelined(
            || Ok(Failing(5)),
            &mut io::sink(),
            Drain::ToEnd,
            |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                v.len()
            },
        );
        assert_eq!(read.unwrap_err().to_string(), "cut");
        assert!(got <= 5);
    }
}
