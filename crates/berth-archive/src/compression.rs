use std::io::{self, BufRead, Read, Write};

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

/// Compresses `src` into `dst` with gzip at the default level, with no file name or time in
/// the header, so that the same input always gives the same bytes (and the same digest).
/// Returns `dst`.
pub fn gzip<W: Write>(mut src: impl Read, dst: W) -> io::Result<W> {
    let mut encoder = flate2::write::GzEncoder::new(dst, flate2::Compression::default());
    io::copy(&mut src, &mut encoder)?;
    encoder.finish()
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
