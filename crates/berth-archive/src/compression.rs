use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::sync::Mutex;
use std::sync::mpsc::{channel, sync_channel};

use flate2::{Compress, FlushCompress, Status};

use berth_types::image::media_type;

/// How a layer stream is compressed, told by its magic bytes (as Docker does), never by the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// zstd frames may ask for a window of up to 2^27 bytes (zstd's own default decoding limit).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// How much of the input each block of [`gzip`] holds.
const GZIP_BLOCK: usize = 1 << 20;
/// Deflate's window: each block is primed with this much of the input before it.
const DEFLATE_WINDOW: usize = 32 << 10;
/// A gzip header with no name, no time and an unknown OS, so that it never varies.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Compresses `src` into `dst` with gzip at the default level, with no file name or time in
/// the header, so that the same input always gives the same bytes (and the same digest).
/// Returns `dst`.
///
/// The input is compressed in blocks of 1 MiB on as many threads as there are CPUs (at most 8),
/// as pigz and pgzip do: each block is deflated on its own with the 32 KiB before it as its
/// dictionary and ends with a sync flush, and the blocks, joined in order, are one deflate
/// stream. The block size is fixed, so the output depends on the input alone, not on the
/// number of threads.
pub fn gzip<W: Write>(src: impl Read, mut dst: W) -> io::Result<W> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    dst.write_all(&GZIP_HEADER)?;
    let (crc, len) = deflate_blocks(src, &mut dst, threads)?;
    dst.write_all(&crc.to_le_bytes())?;
    dst.write_all(&len.to_le_bytes())?;
    Ok(dst)
}

/// One block to deflate: its place, its input, the input before it (empty for the first) and
/// whether it ends the stream.
struct Block {
    index: usize,
    data: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
}

/// Deflates `src` into `dst` in [`GZIP_BLOCK`]s on `threads` threads; returns the CRC-32 and
/// the length (modulo 2^32) of the input, as gzip's trailer holds them.
fn deflate_blocks(
    mut src: impl Read,
    dst: &mut impl Write,
    threads: usize,
) -> io::Result<(u32, u32)> {
    let (jobs, queue) = sync_channel::<Block>(threads);
    let queue = Mutex::new(queue);
    let (done, results) = channel::<(usize, io::Result<Vec<u8>>)>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let done = done.clone();
            let queue = &queue;
            s.spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(block) = next else { break };
                    if done.send((block.index, deflate_block(&block))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        let mut crc = flate2::Crc::new();
        // Blocks deflated but not yet written, because one before them is not done.
        let mut ready: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let (mut sent, mut written) = (0usize, 0usize);
        let mut write_ready = |ready: &mut BTreeMap<usize, Vec<u8>>, written: &mut usize| {
            while let Some(out) = ready.remove(written) {
                dst.write_all(&out)?;
                *written += 1;
            }
            io::Result::Ok(())
        };
        let mut next = read_block(&mut src)?;
        let mut dictionary = Vec::new();
        let result = loop {
            let data = next;
            let last = data.len() < GZIP_BLOCK;
            next = if last {
                Vec::new()
            } else {
                read_block(&mut src)?
            };
            let last = last || next.is_empty();
            crc.update(&data);
            let tail = data[data.len().saturating_sub(DEFLATE_WINDOW)..].to_vec();
            let block = Block {
                index: sent,
                data,
                dictionary: std::mem::replace(&mut dictionary, tail),
                last,
            };
            if jobs.send(block).is_err() {
                break Err(io::Error::other("compression threads ended"));
            }
            sent += 1;
            // At most two blocks per thread (and two more) are in flight or waiting to be
            // written: about 24 MiB with eight threads.
            while sent - written >= 2 * threads + 2 || (last && written < sent) {
                let Ok((index, out)) = results.recv() else {
                    return Err(io::Error::other("compression threads ended"));
                };
                ready.insert(index, out?);
                write_ready(&mut ready, &mut written)?;
            }
            if last {
                break Ok((crc.sum(), crc.amount()));
            }
        };
        drop(jobs);
        result
    })
}

/// Reads up to [`GZIP_BLOCK`] bytes: a shorter block ends the input.
fn read_block(src: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut block = Vec::with_capacity(GZIP_BLOCK);
    src.take(GZIP_BLOCK as u64).read_to_end(&mut block)?;
    Ok(block)
}

/// Deflates one block, primed with its dictionary, ending it with a sync flush (or, for the
/// last, the end of the stream).
fn deflate_block(block: &Block) -> io::Result<Vec<u8>> {
    let mut z = Compress::new(flate2::Compression::default(), false);
    if !block.dictionary.is_empty() {
        z.set_dictionary(&block.dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if block.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(block.data.len() / 2 + 1024);
    loop {
        let consumed = z.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let before = z.total_out();
        let status = z
            .compress_vec(&block.data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = z.total_in() as usize == block.data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and room was left over.
            _ if !block.last && all_in && out.len() < out.capacity() => return Ok(out),
            _ if z.total_out() == before && all_in && out.len() < out.capacity() => {
                return Err(io::Error::other("deflate made no progress"));
            }
            _ => {}
        }
    }
}

impl Compression {
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(GZIP_MAGIC) {
            Self::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// Whether `head` (the first 512 bytes or fewer) starts a tar archive that berth can read:
    /// gzip or zstd by magic number, or a plain tar by its first header's `ustar` magic.
    pub fn is_archive(head: &[u8]) -> bool {
        Self::detect(head) != Self::None || head.get(257..262) == Some(b"ustar".as_slice())
    }

    /// Peeks at `r` and tells its compression without consuming anything.
    pub fn sniff(r: &mut impl BufRead) -> io::Result<Self> {
        let mut head = r.fill_buf()?;
        // A short first read can split the magic; zstd's is four bytes.
        if head.len() < ZSTD_MAGIC.len() && !head.is_empty() {
            head = r.fill_buf()?;
        }
        Ok(Self::detect(head))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "tar",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The OCI layer media type for a layer compressed this way.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Self::None => media_type::OCI_LAYER,
            Self::Gzip => media_type::OCI_LAYER_GZIP,
            Self::Zstd => media_type::OCI_LAYER_ZSTD,
        }
    }

    /// A reader of the decompressed stream.
    pub fn decoder<'a, R: BufRead + 'a>(self, r: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Self::None => Box::new(r),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Self::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(r)?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Box::new(d)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn with_threads(data: &[u8], threads: usize) -> Vec<u8> {
        let mut out = GZIP_HEADER.to_vec();
        let (crc, len) = deflate_blocks(data, &mut out, threads).unwrap();
        out.extend(crc.to_le_bytes());
        out.extend(len.to_le_bytes());
        out
    }

    #[test]
    fn gzip_in_blocks_is_one_stream_whatever_the_threads() {
        // Text-like data that compresses, with repeats that cross block boundaries.
        let data: Vec<u8> = (0..3 * GZIP_BLOCK + GZIP_BLOCK / 2)
            .map(|i| b"berth layer data "[i % 17] ^ ((i / 4099) % 7) as u8)
            .collect();
        for len in [
            0,
            1,
            DEFLATE_WINDOW,
            GZIP_BLOCK - 1,
            GZIP_BLOCK,
            GZIP_BLOCK + 1,
            2 * GZIP_BLOCK,
            data.len(),
        ] {
            let input = &data[..len];
            let one = with_threads(input, 1);
            assert_eq!(one, with_threads(input, 3), "length {len}");
            assert_eq!(one, gzip(input, Vec::new()).unwrap(), "length {len}");
            assert!(gunzip(&one) == input, "length {len}");
            assert!(
                len < 1000 || one.len() < len / 4,
                "length {len}: not compressed"
            );
        }
    }

    #[test]
    fn gzip_stops_on_a_read_or_write_error() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("cut"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        let e = gzip(Failing(3 * GZIP_BLOCK + 5), Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "cut");
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Full;
        let e = deflate_blocks(&[1u8; 5 << 20][..], &mut sink, 2).unwrap_err();
        assert_eq!(e.to_string(), "full");
    }

    #[test]
    fn detects_by_magic() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }
}
