//! SemVer 2.0.0 precedence, as npm, crates.io and Go order versions.
//!
//! `major.minor.patch[-prerelease][+build]`, with an optional leading `v` (Go's spelling). The
//! three numbers compare by value; a version with a pre-release is older than the same version
//! without; pre-release identifiers (split at `.`) compare one by one: numeric identifiers by
//! value, alphanumeric ones in ASCII order, numeric before alphanumeric, and a shorter list that
//! is a prefix of a longer one is older. Build metadata is ignored.
//!
//! Berth is lenient where ecosystems' tools disagree on spelling: a missing minor or patch number
//! counts as 0 (`1.2` is `1.2.0`, as in Go's `semver.Compare` and many range specifications), and
//! leading zeros are allowed and ignored. Text that still does not parse (`1.2.3.4`, `latest`,
//! empty identifiers, characters outside `[0-9A-Za-z-]`) sorts before every valid version,
//! invalid strings among themselves in byte order, so the order stays total.

use std::cmp::Ordering;

use super::{cmp_decimal, digit_run};

/// Orders two versions by SemVer 2.0.0 precedence.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Some(va), Some(vb)) => va.cmp(&vb),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// A parsed version: the three numbers' digits and the pre-release identifiers.
struct Version<'a> {
    core: [&'a [u8]; 3],
    prerelease: Vec<&'a [u8]>,
}

impl<'a> Version<'a> {
    /// Parses `text`, or `None` if it is not a (leniently spelled) SemVer version.
    fn parse(text: &'a str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (text, build) = match text.split_once('+') {
            Some((text, build)) => (text, Some(build)),
            None => (text, None),
        };
        if build.is_some_and(|build| !valid_identifiers(build)) {
            return None;
        }
        let (core_text, prerelease) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut core: [&[u8]; 3] = [b"0"; 3];
        let mut parts = core_text.as_bytes().split(|&c| c == b'.');
        for (i, part) in parts.by_ref().enumerate() {
            if i >= 3 || part.is_empty() || digit_run(part) != part.len() {
                return None;
            }
            core[i] = part;
        }
        let prerelease = match prerelease {
            Some(pre) if valid_identifiers(pre) => pre.as_bytes().split(|&c| c == b'.').collect(),
            Some(_) => return None,
            None => Vec::new(),
        };
        Some(Version { core, prerelease })
    }
}

/// Whether `text` is a non-empty `.`-separated list of non-empty `[0-9A-Za-z-]` identifiers.
fn valid_identifiers(text: &str) -> bool {
    text.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

impl Version<'_> {
    /// SemVer precedence.
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.core.iter().zip(&other.core) {
            let order = cmp_decimal(a, b);
            if order != Ordering::Equal {
                return order;
            }
        }
        match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {}
        }
        for (a, b) in self.prerelease.iter().zip(&other.prerelease) {
            let order = cmp_identifier(a, b);
            if order != Ordering::Equal {
                return order;
            }
        }
        self.prerelease.len().cmp(&other.prerelease.len())
    }
}

/// Compares two pre-release identifiers: numbers by value and before words, words in ASCII order.
fn cmp_identifier(a: &[u8], b: &[u8]) -> Ordering {
    let a_numeric = digit_run(a) == a.len();
    let b_numeric = digit_run(b) == b.len();
    match (a_numeric, b_numeric) {
        (true, true) => cmp_decimal(a, b),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn precedence() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Less, "{pair:?}");
        }
        assert_eq!(compare("1.0.0+a", "1.0.0+b"), Equal);
        assert_eq!(compare("v1.2.3", "1.2.3"), Equal);
        assert_eq!(compare("1.2", "1.2.0"), Equal);
        assert_eq!(
            compare("v0.0.0-20210101000000-abcdef123456", "v0.0.0"),
            Less
        );
    }

    #[test]
    fn invalid_sorts_first() {
        assert_eq!(compare("latest", "0.0.0"), Less);
        assert_eq!(compare("1.2.3.4", "0.0.1"), Less);
        assert_eq!(compare("1.2.3-", "1.2.3-a"), Less);
        assert_eq!(compare("1.2.3-a..b", "1.2.3-a..b"), Equal);
        assert_eq!(compare("a", "b"), Less);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let huge = "8".repeat(10_000);
        assert_eq!(compare(&format!("{huge}.0.0"), "9.0.0"), Greater);
        assert_eq!(compare(&format!("1.0.0-{huge}"), "1.0.0-9"), Greater);
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("1.0.0-é", "1.0.0"), Less);
        assert_eq!(compare("v", "vv"), Less);
    }
}
