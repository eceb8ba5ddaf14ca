//! Fixed-size text buffers: the monitor allocates nothing, so paths, arguments and log entries
//! are assembled in place.

use core::ffi::CStr;
use core::fmt;

/// Up to `N - 1` bytes of text, always followed by room for a NUL.
pub struct Buf<const N: usize> {
    data: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf {
            data: [0; N],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `bytes`; false (and nothing appended) when they do not fit.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        if self.len + bytes.len() >= N {
            return false;
        }
        self.data[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    /// The text as a C string; `None` when it holds a NUL.
    pub fn c_str(&mut self) -> Option<&CStr> {
        self.data[self.len] = 0;
        CStr::from_bytes_with_nul(&self.data[..=self.len]).ok()
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// Writes `secs.nanos` since the epoch as RFC 3339 in UTC with nanoseconds, as Docker's
/// json-file log stamps each line: `2024-01-02T03:04:05.123456789Z`.
pub fn rfc3339(out: &mut impl fmt::Write, secs: i64, nanos: u32) -> fmt::Result {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Passes `bytes` to `emit`, piece by piece, as the inside of a JSON string the way Docker's log
/// writer escapes it: invalid UTF-8 becomes U+FFFD, and control characters, quotes,
/// backslashes and `<`, `>`, `&` are escaped.
pub fn json_escape(bytes: &[u8], mut emit: impl FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut start = 0;
        for (i, &b) in valid.iter().enumerate() {
            let unicode = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ];
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..0x20 | b'<' | b'>' | b'&' => &unicode,
                _ => continue,
            };
            emit(&valid[start..i]);
            emit(escaped);
            start = i + 1;
        }
        emit(&valid[start..]);
        if !chunk.invalid().is_empty() {
            emit("\u{fffd}".as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn times_are_rfc3339_utc_with_nanoseconds() {
        let mut b = Buf::<64>::new();
        rfc3339(&mut b, 0, 0).unwrap();
        assert_eq!(b.bytes(), b"1970-01-01T00:00:00.000000000Z");
        b.clear();
        // 2024-02-29 (a leap day) 23:59:59.
        rfc3339(&mut b, 1_709_251_199, 7).unwrap();
        assert_eq!(b.bytes(), b"2024-02-29T23:59:59.000000007Z");
        b.clear();
        rfc3339(&mut b, 4_102_444_800, 999_999_999).unwrap();
        assert_eq!(b.bytes(), b"2100-01-01T00:00:00.999999999Z");
    }

    #[test]
    fn escaping_matches_json_and_docker() {
        let mut b = Buf::<256>::new();
        json_escape(b"a\"b\\c\n\t\x01<&>\xffz\xc3\xa9", |p| assert!(b.push(p)));
        let text = core::str::from_utf8(b.bytes()).unwrap();
        assert_eq!(text, r#"a\"b\\c\n\t\u0001\u003c\u0026\u003e�zé"#);
        let mut json = Buf::<300>::new();
        write!(json, "\"{text}\"").unwrap();
        let back: String = serde_json::from_slice(json.bytes()).unwrap();
        assert_eq!(back, "a\"b\\c\n\t\u{1}<&>\u{fffd}zé");
    }

    #[test]
    fn full_buffers_refuse_rather_than_cut() {
        let mut b = Buf::<4>::new();
        assert!(b.push(b"abc"));
        assert!(!b.push(b"d"), "one byte stays free for the NUL");
        assert_eq!(b.c_str().unwrap().to_bytes(), b"abc");
    }
}
