//! Python's version order: PEP 440, as the `packaging` library implements it.
//!
//! A PEP 440 version is `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, case-insensitive, with the
//! spelling variants PEP 440 normalises: a leading `v`; `alpha`, `beta`, `c`, `pre` and `preview`
//! for `a`, `b`, `rc`, `rc` and `rc`; `-`, `_` or `.` (or nothing) between the parts; `rev` and
//! `r` for `post`; a bare `-N` for a post-release; and a missing number meaning 0. Versions order
//! by epoch, then release segment (trailing zeros ignored, so `1.0 == 1.0.0`), then pre-release
//! (a dev release of a final version is older than its pre-releases), then post-release, then dev
//! release (older than the same version without), then local label (a version with one is newer;
//! labels compare segment by segment, numbers above words).
//!
//! Text that is not a PEP 440 version is ordered the way `packaging` ordered it before it dropped
//! `LegacyVersion` (version 22): older than every PEP 440 version, and among itself by the old
//! setuptools rules, which split it into digit runs (padded to eight digits and compared as text),
//! lower-cased letter runs (`pre`, `preview` and `rc` read as `c`, `dev` as `@`), other
//! characters, and `-` (read as `final-`), dropping `.` and trailing zero runs. Only ASCII digits
//! count as digits there.

use std::cmp::Ordering;

use super::{cmp_decimal, digit_run, strip_leading_zeros};

/// Orders two Python package versions as `packaging` does.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Some(va), Some(vb)) => va.cmp(&vb),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => legacy_key(a).cmp(&legacy_key(b)),
    }
}

/// A pre-release phase, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Alpha,
    Beta,
    Candidate,
}

/// A parsed PEP 440 version. Number fields hold ASCII digits.
#[derive(Debug, Default)]
struct Version {
    epoch: Vec<u8>,
    release: Vec<Vec<u8>>,
    pre: Option<(Phase, Vec<u8>)>,
    post: Option<Vec<u8>>,
    dev: Option<Vec<u8>>,
    local: Option<Vec<String>>,
}

/// A cursor over lower-cased version text.
struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &[u8] {
        &self.text[self.pos..]
    }

    /// Consumes `word` if the text continues with it.
    fn eat(&mut self, word: &[u8]) -> bool {
        let found = self.rest().starts_with(word);
        if found {
            self.pos += word.len();
        }
        found
    }

    /// Consumes one `-`, `_` or `.` if there is one.
    fn eat_separator(&mut self) -> bool {
        let found = matches!(self.rest().first(), Some(b'-' | b'_' | b'.'));
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consumes a run of digits, or returns `None` (consuming nothing) if there is none.
    fn number(&mut self) -> Option<Vec<u8>> {
        let len = digit_run(self.rest());
        if len == 0 {
            return None;
        }
        let digits = self.rest()[..len].to_vec();
        self.pos += len;
        Some(digits)
    }

    /// Consumes the first of `labels` the text continues with, returning its index.
    fn label(&mut self, labels: &[&[u8]]) -> Option<usize> {
        labels.iter().position(|label| self.eat(label))
    }

    /// `[-_.]? label [-_.]? N?` with the label from `labels`; restores the position and returns
    /// `None` if no label follows.
    fn labelled_number(&mut self, labels: &[&[u8]]) -> Option<(usize, Vec<u8>)> {
        let start = self.pos;
        self.eat_separator();
        let Some(index) = self.label(labels) else {
            self.pos = start;
            return None;
        };
        // A separator after the label is taken even without a number after it, as PEP 440's
        // regular expression does.
        self.eat_separator();
        let number = self.number().unwrap_or_else(|| b"0".to_vec());
        Some((index, number))
    }
}

impl Version {
    /// Parses `text` as PEP 440 (surrounding whitespace allowed), or `None` if it is not one.
    fn parse(text: &str) -> Option<Self> {
        let lower = text.trim().to_ascii_lowercase();
        let mut c = Cursor {
            text: lower.as_bytes(),
            pos: 0,
        };
        c.eat(b"v");
        let mut version = Version::default();

        let first = c.number()?;
        if c.eat(b"!") {
            version.epoch = first;
            version.release.push(c.number()?);
        } else {
            version.release.push(first);
        }
        loop {
            let start = c.pos;
            if !c.eat(b".") {
                break;
            }
            match c.number() {
                Some(n) => version.release.push(n),
                None => {
                    c.pos = start;
                    break;
                }
            }
        }

        const PRE: [&[u8]; 8] = [
            b"alpha", b"a", b"beta", b"b", b"preview", b"pre", b"c", b"rc",
        ];
        if let Some((index, n)) = c.labelled_number(&PRE) {
            let phase = match index {
                0 | 1 => Phase::Alpha,
                2 | 3 => Phase::Beta,
                _ => Phase::Candidate,
            };
            version.pre = Some((phase, n));
        }

        let start = c.pos;
        if c.eat(b"-") {
            if let Some(n) = c.number() {
                version.post = Some(n);
            } else {
                c.pos = start;
            }
        }
        if version.post.is_none() {
            const POST: [&[u8]; 3] = [b"post", b"rev", b"r"];
            version.post = c.labelled_number(&POST).map(|(_, n)| n);
        }

        version.dev = c.labelled_number(&[b"dev"]).map(|(_, n)| n);

        if c.eat(b"+") {
            let local = std::str::from_utf8(c.rest()).ok()?;
            let segments: Vec<String> = local.split(['-', '_', '.']).map(str::to_owned).collect();
            let valid = |s: &String| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
            if !segments.iter().all(valid) {
                return None;
            }
            c.pos = c.text.len();
            version.local = Some(segments);
        }

        (c.pos == c.text.len()).then_some(version)
    }

    /// PEP 440 order.
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_decimal(&self.epoch, &other.epoch)
            .then_with(|| cmp_release(&self.release, &other.release))
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            .then_with(|| cmp_optional(&self.post, &other.post, Ordering::Less))
            .then_with(|| cmp_optional(&self.dev, &other.dev, Ordering::Greater))
            .then_with(|| cmp_local(self.local.as_deref(), other.local.as_deref()))
    }

    /// Where the pre-release puts this version: a dev release of a final version (no pre- or
    /// post-release) before all pre-releases, a final version after them.
    fn pre_key(&self) -> PreKey<'_> {
        match (&self.pre, &self.post, &self.dev) {
            (Some((phase, n)), _, _) => PreKey::Pre(*phase, Digits(n)),
            (None, None, Some(_)) => PreKey::BeforeAll,
            (None, _, _) => PreKey::Final,
        }
    }
}

/// Digits ordered by their value.
#[derive(Debug, PartialEq, Eq)]
struct Digits<'a>(&'a [u8]);

impl Ord for Digits<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_decimal(self.0, other.0)
    }
}

impl PartialOrd for Digits<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The pre-release sort key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreKey<'a> {
    BeforeAll,
    Pre(Phase, Digits<'a>),
    Final,
}

/// Compares release segments with trailing zeros ignored.
fn cmp_release(a: &[Vec<u8>], b: &[Vec<u8>]) -> Ordering {
    let trim = |r: &[Vec<u8>]| {
        r.len()
            - r.iter()
                .rev()
                .take_while(|n| strip_leading_zeros(n).is_empty())
                .count()
    };
    let (a, b) = (&a[..trim(a)], &b[..trim(b)]);
    for (x, y) in a.iter().zip(b) {
        let order = cmp_decimal(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Compares two optional numbers, where a missing one sorts `missing` relative to any number.
fn cmp_optional(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>, missing: Ordering) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => cmp_decimal(x, y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => missing,
        (Some(_), None) => missing.reverse(),
    }
}

/// Compares local labels: none is oldest; segments pairwise, numbers (by value) above words
/// (by text); a label that is a prefix of another is older.
fn cmp_local(a: Option<&[String]>, b: Option<&[String]>) -> Ordering {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (a, b) => return a.is_some().cmp(&b.is_some()),
    };
    for (x, y) in a.iter().zip(b) {
        let x_numeric = digit_run(x.as_bytes()) == x.len();
        let y_numeric = digit_run(y.as_bytes()) == y.len();
        let order = match (x_numeric, y_numeric) {
            (true, true) => cmp_decimal(x.as_bytes(), y.as_bytes()),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// The pre-PEP 440 ("legacy") sort key of `text`: its parts as `packaging`'s `LegacyVersion`
/// built them.
fn legacy_key(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut parts: Vec<String> = Vec::new();
    for piece in legacy_pieces(&lower) {
        let piece = match piece {
            "pre" | "preview" | "rc" => "c",
            "-" => "final-",
            "dev" => "@",
            other => other,
        };
        if piece.is_empty() || piece == "." {
            continue;
        }
        let part = if piece.as_bytes()[0].is_ascii_digit() {
            format!("{piece:0>8}")
        } else {
            format!("*{piece}")
        };
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    while parts.last().is_some_and(|p| p == "00000000") {
        parts.pop();
    }
    parts.push("*final".to_owned());
    parts
}

/// Splits legacy version text into digit runs, ASCII lower-case letter runs, `.`, `-`, and the
/// runs of other characters between them.
fn legacy_pieces(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut other_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let len = if c.is_ascii_digit() {
            digit_run(&bytes[i..])
        } else if c.is_ascii_lowercase() {
            bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase())
                .count()
        } else if c == b'.' || c == b'-' {
            1
        } else {
            0
        };
        if len == 0 {
            i += 1;
            continue;
        }
        pieces.push(&text[other_start..i]);
        pieces.push(&text[i..i + len]);
        i += len;
        other_start = i;
    }
    pieces.push(&text[other_start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn pep440_order() {
        let ordered = [
            "1.0.dev0",
            "1.0a1.dev1",
            "1.0a1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.1",
            "1!0.1",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Less, "{pair:?}");
        }
    }

    #[test]
    fn spelling_variants() {
        assert_eq!(compare("1.0a1", "1.0-alpha.1"), Equal);
        assert_eq!(compare("1.0c1", "1.0rc1"), Equal);
        assert_eq!(compare("1.0-pre1", "1.0rc1"), Equal);
        assert_eq!(compare("1.0-1", "1.0.post1"), Equal);
        assert_eq!(compare("1.0.rev1", "1.0.post1"), Equal);
        assert_eq!(compare("v1.0", "1.0.0"), Equal);
        assert_eq!(compare("1.0.DEV", "1.0.dev0"), Equal);
        assert_eq!(compare(" 1.0 ", "1.0"), Equal);
        assert_eq!(compare("1.0+abc.5", "1.0+abc.10"), Less);
        assert_eq!(compare("1.0+5", "1.0+abc"), Greater);
    }

    #[test]
    fn legacy_versions_sort_first() {
        assert_eq!(compare("trunk", "0.0.1"), Less);
        assert_eq!(compare("0.1-bulbasaur", "0.1-charmander"), Less);
        assert_eq!(compare("1.0-dev", "1.0-pre"), Less);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let huge = "4".repeat(10_000);
        assert_eq!(compare(&format!("1.{huge}"), "1.5"), Greater);
        assert_eq!(compare(&format!("{huge}!1"), "1!1"), Greater);
        assert_eq!(
            compare(&format!("x{huge}"), "x5"),
            compare("x5", &format!("x{huge}")).reverse()
        );
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("1.0+é", "1.0+é"), Equal);
    }
}
