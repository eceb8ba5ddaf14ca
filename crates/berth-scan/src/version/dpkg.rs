//! Debian's version order, as `dpkg --compare-versions` applies it.
//!
//! A Debian version is `[epoch:]upstream[-revision]`. The epoch is a number (missing means 0),
//! the revision is everything after the last `-` (missing means empty), and upstream version and
//! revision are each compared with dpkg's `verrevcmp` rules: alternate runs of non-digits and
//! digits; in a non-digit run `~` sorts before everything (even the end of the string), then the
//! end of the string, then letters, then every other character; digit runs compare as numbers.
//!
//! dpkg refuses some text outright (an empty or non-numeric epoch, characters outside
//! `[A-Za-z0-9.+~:-]`, an upstream version not starting with a digit). Berth does not refuse: an
//! epoch that is not all digits is not taken as an epoch (the whole text before the revision is
//! the upstream version), an empty epoch counts as 0, and any other byte is ordered as a
//! "non-letter" just like `+` or `.`, so every pair of strings still has a consistent order.

use std::cmp::Ordering;

use super::{cmp_decimal, digit_run};

/// Orders two Debian versions the way `dpkg --compare-versions` does.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let a = Version::parse(a);
    let b = Version::parse(b);
    cmp_decimal(a.epoch, b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// A Debian version split into its three parts.
struct Version<'a> {
    /// The epoch's digits; empty when there is no epoch (which means 0).
    epoch: &'a [u8],
    /// The upstream version.
    upstream: &'a [u8],
    /// The Debian revision; empty when there is none.
    revision: &'a [u8],
}

impl<'a> Version<'a> {
    /// Splits `text` (surrounding ASCII whitespace ignored, as dpkg does) at the first `:` (if
    /// what precedes it is a number) and at the last `-`.
    fn parse(text: &'a str) -> Self {
        let mut rest = text
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .as_bytes();
        let mut epoch: &[u8] = b"";
        if let Some(colon) = rest.iter().position(|&c| c == b':')
            && digit_run(rest) == colon
        {
            epoch = &rest[..colon];
            rest = &rest[colon + 1..];
        }
        let (upstream, revision) = match rest.iter().rposition(|&c| c == b'-') {
            Some(dash) => (&rest[..dash], &rest[dash + 1..]),
            None => (rest, &b""[..]),
        };
        Version {
            epoch,
            upstream,
            revision,
        }
    }
}

/// The weight of one character in a non-digit run: `~` lowest, then the end of the string (and
/// digits, which end the run), then ASCII letters by their code, then everything else above all
/// letters.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: compares an upstream version or a revision.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // The non-digit run, character by character.
        while a.get(i).is_some_and(|c| !c.is_ascii_digit())
            || b.get(j).is_some_and(|c| !c.is_ascii_digit())
        {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        // The digit run, as a number.
        let na = digit_run(&a[i..]);
        let nb = digit_run(&b[j..]);
        let order = cmp_decimal(&a[i..i + na], &b[j..j + nb]);
        if order != Ordering::Equal {
            return order;
        }
        i += na;
        j += nb;
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn parts() {
        assert_eq!(compare("1:1.0", "2.0"), Greater);
        assert_eq!(compare("0:1.0", "1.0"), Equal);
        assert_eq!(compare("1.0-1", "1.0"), Greater);
        assert_eq!(compare("1.0-0", "1.0"), Equal);
        assert_eq!(compare("1.0-a-1", "1.0-a-2"), Less);
        assert_eq!(compare("00:1", "1"), Equal);
    }

    #[test]
    fn tilde_letters_and_digits() {
        assert_eq!(compare("1.0~rc1", "1.0"), Less);
        assert_eq!(compare("1.0~~", "1.0~"), Less);
        assert_eq!(compare("1.0a", "1.0+"), Less);
        assert_eq!(compare("1.0", "1.0a"), Less);
        assert_eq!(compare("1.0.", "1.0a"), Greater);
        assert_eq!(compare("1.010", "1.9"), Greater);
        assert_eq!(compare("1.0010", "1.10"), Equal);
        assert_eq!(compare("1.2+dfsg-1", "1.2-1"), Greater);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let huge = "7".repeat(10_000);
        let bigger = format!("{huge}8");
        assert_eq!(compare(&huge, &bigger), Less);
        assert_eq!(compare(&format!("{huge}:1"), "1:2"), Greater);
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("", "0"), Equal);
        assert_eq!(compare("ä", "a"), Greater);
        assert_eq!(compare("x:1", "x:1"), Equal);
        assert_eq!(compare(":", "-"), compare("-", ":").reverse());
    }
}
