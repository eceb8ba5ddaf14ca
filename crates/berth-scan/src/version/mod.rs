//! Version ordering, exactly as each ecosystem's own tool orders versions.
//!
//! Each scheme lives in its own module and is written from the ecosystem's published algorithm:
//! `dpkg` (dpkg's `verrevcmp`), `apk` (apk-tools' tokenizer), `rpm` (`rpmvercmp` with
//! epoch:version-release), `semver` (SemVer 2.0.0 precedence), `pep440` (PEP 440, with the
//! pre-PEP 440 "legacy" order for text PEP 440 rejects) and `maven` (Maven 3's
//! `ComparableVersion`).
//!
//! None of them panics or allocates without bound on hostile input: digit runs are compared by
//! value without parsing them into fixed-size integers, and text a scheme
//! cannot parse is ordered by a fallback each module documents.

use std::cmp::Ordering;

mod apk;
mod dpkg;
mod maven;
mod pep440;
mod rpm;
mod semver;

/// An ecosystem's version order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg --compare-versions`): epoch, upstream, revision, `~`.
    Dpkg,
    /// Alpine apk.
    Apk,
    /// RPM (`rpmvercmp`, with epoch and release).
    Rpm,
    /// SemVer 2.0.0: npm, crates.io, Go (with or without a leading `v`).
    Semver,
    /// Python's PEP 440.
    Pep440,
    /// Maven's ComparableVersion.
    Maven,
}

/// Orders `a` and `b` under `scheme`. Never panics; text a scheme cannot parse is ordered by a
/// documented fallback rather than refused.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match scheme {
        Scheme::Dpkg => dpkg::compare(a, b),
        Scheme::Apk => apk::compare(a, b),
        Scheme::Rpm => rpm::compare(a, b),
        Scheme::Semver => semver::compare(a, b),
        Scheme::Pep440 => pep440::compare(a, b),
        Scheme::Maven => maven::compare(a, b),
    }
}

/// Orders two runs of ASCII decimal digits by the numbers they spell, of any length: leading
/// zeros are ignored, then the longer run is the larger number, then equal-length runs compare
/// digit by digit. An empty run is zero.
fn cmp_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `digits` without its leading `0`s.
fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros..]
}

/// The length of the run of ASCII digits at the start of `s`.
fn digit_run(s: &[u8]) -> usize {
    s.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_runs_compare_by_value() {
        assert_eq!(cmp_decimal(b"10", b"9"), Ordering::Greater);
        assert_eq!(cmp_decimal(b"007", b"7"), Ordering::Equal);
        assert_eq!(cmp_decimal(b"", b"0"), Ordering::Equal);
        assert_eq!(cmp_decimal(b"123", b"124"), Ordering::Less);
        let huge = "9".repeat(10_000);
        assert_eq!(cmp_decimal(huge.as_bytes(), b"1"), Ordering::Greater);
    }

    #[test]
    fn every_scheme_survives_hostile_input() {
        let huge = "1".repeat(10_000);
        let hostile = [
            "",
            " ",
            ":",
            "-",
            "~",
            "^",
            "+",
            "!",
            "v",
            "é",
            "😀.1",
            "1.😀",
            huge.as_str(),
            "\0",
            "1:",
            ":1",
            "1-",
            "--",
            "1!",
            "1+",
            "..",
        ];
        for scheme in [
            Scheme::Dpkg,
            Scheme::Apk,
            Scheme::Rpm,
            Scheme::Semver,
            Scheme::Pep440,
            Scheme::Maven,
        ] {
            for a in hostile {
                assert_eq!(compare(scheme, a, a), Ordering::Equal, "{scheme:?} {a:?}");
                for b in hostile {
                    let ab = compare(scheme, a, b);
                    let ba = compare(scheme, b, a);
                    assert_eq!(ab, ba.reverse(), "{scheme:?} {a:?} {b:?}");
                }
            }
        }
    }
}
