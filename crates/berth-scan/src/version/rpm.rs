//! RPM's version order: `rpmvercmp` applied to epoch, version and release in turn.
//!
//! An RPM label is `[epoch:]version[-release]`. The epoch is the run of digits before a `:` at
//! the very start (missing or empty means `0`); the release is everything after the last `-`.
//! Each part is compared with `rpmvercmp`: characters other than ASCII letters, digits, `~` and `^`
//! only separate segments; `~` sorts before everything, even the end of the string; `^` sorts
//! after the end of the string but before anything else; digit segments compare as numbers and
//! beat letter segments; letter segments compare byte by byte; when everything compared is equal,
//! the side with text left over is newer.
//!
//! A label without a release sorts before the same label with any release, as rpm's own
//! `labelCompare` orders (epoch, version, release) tuples with a missing release. Every string is a
//! valid label under these rules, so there is no fallback: text that is not an epoch (such as
//! `a:1`) simply stays part of the version.

use std::cmp::Ordering;

use super::{cmp_decimal, digit_run};

/// Orders two RPM labels the way rpm does.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let a = Label::parse(a);
    let b = Label::parse(b);
    rpmvercmp(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            (ra, rb) => ra.is_some().cmp(&rb.is_some()),
        })
}

/// An RPM label split into epoch, version and release.
struct Label<'a> {
    /// The epoch, `0` when missing.
    epoch: &'a [u8],
    /// The version.
    version: &'a [u8],
    /// The release, if there is a `-`.
    release: Option<&'a [u8]>,
}

impl<'a> Label<'a> {
    /// Splits `text` the way rpm's `parseEVR` does.
    fn parse(text: &'a str) -> Self {
        let text = text.as_bytes();
        let digits = digit_run(text);
        let (epoch, rest) = if text.get(digits) == Some(&b':') {
            let epoch = if digits == 0 {
                &b"0"[..]
            } else {
                &text[..digits]
            };
            (epoch, &text[digits + 1..])
        } else {
            (&b"0"[..], text)
        };
        let (version, release) = match rest.iter().rposition(|&c| c == b'-') {
            Some(dash) => (&rest[..dash], Some(&rest[dash + 1..])),
            None => (rest, None),
        };
        Label {
            epoch,
            version,
            release,
        }
    }
}

/// Whether `c` separates segments (anything but ASCII letters, digits, `~` and `^`).
fn is_separator(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

/// rpm's `rpmvercmp`: compares one epoch, version or release with another.
fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        a = &a[a.iter().take_while(|&&c| is_separator(c)).count()..];
        b = &b[b.iter().take_while(|&&c| is_separator(c)).count()..];

        // `~` sorts before everything.
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            _ => {}
        }
        // `^` sorts after the end of the string but before anything else.
        match (a.first(), b.first()) {
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            break;
        }

        // One segment from each: digits if `a` starts with a digit, letters otherwise.
        let numeric = a[0].is_ascii_digit();
        let segment_len = |s: &[u8]| {
            if numeric {
                digit_run(s)
            } else {
                s.iter().take_while(|c| c.is_ascii_alphabetic()).count()
            }
        };
        let (la, lb) = (segment_len(a), segment_len(b));
        if lb == 0 {
            // Numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            cmp_decimal(&a[..la], &b[..lb])
        } else {
            a[..la].cmp(&b[..lb])
        };
        if order != Ordering::Equal {
            return order;
        }
        a = &a[la..];
        b = &b[lb..];
    }
    // Whichever has something left over is newer.
    (!a.is_empty()).cmp(&!b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn rpmvercmp_rules() {
        assert_eq!(compare("1.0~rc1", "1.0"), Less);
        assert_eq!(compare("1.0^git1", "1.0"), Greater);
        assert_eq!(compare("1.0^git1", "1.0.1"), Less);
        assert_eq!(compare("1.0a", "1.0.1"), Less);
        assert_eq!(compare("1.01", "1.1"), Equal);
        assert_eq!(compare("1..0", "1.0"), Equal);
        assert_eq!(compare("2.0", "10.0"), Less);
    }

    #[test]
    fn epoch_version_release() {
        assert_eq!(compare("1:1.0-1", "2.0-1"), Greater);
        assert_eq!(compare("0:1.0-1", "1.0-1"), Equal);
        assert_eq!(compare(":1.0", "1.0"), Equal);
        assert_eq!(compare("1.0", "1.0-1"), Less);
        assert_eq!(compare("1.0-1.el9", "1.0-1.el8"), Greater);
        assert_eq!(compare("1.0-a-2", "1.0-b-1"), Less);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let huge = "3".repeat(10_000);
        assert_eq!(compare(&huge, &format!("{huge}.1")), Less);
        assert_eq!(compare(&format!("{huge}:1"), "9:1"), Greater);
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("", "-"), Less);
        assert_eq!(compare("1.α", "1.β"), Equal);
        assert_eq!(compare("~^", "^~"), Less);
    }
}
