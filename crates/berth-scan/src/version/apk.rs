//! Alpine's version order, as apk-tools compares package versions.
//!
//! An Alpine version is `number{.number}...{letter}{_suffix{number}}...{-rN}`. apk-tools reads
//! it as a stream of tokens, each of a kind, and compares the two streams token by token:
//!
//! - numbers compare by value, except that a number after a `.` that starts with zeros is read as
//!   a run of zeros (worth minus its length) followed by the rest of the digits, so `1.05` sorts
//!   before `1.1` and `1.5`;
//! - a letter compares by its character;
//! - suffixes rank `_alpha` < `_beta` < `_pre` < `_rc` < (no suffix) < `_cvs` < `_svn` < `_git`
//!   < `_hg` < `_p`, each followed by an optional number;
//! - `-rN` is the package revision.
//!
//! When one stream runs out first or switches to a different kind of token, the kinds decide: a
//! pre-release suffix (`_alpha` .. `_rc`) makes its version older; otherwise the token kind that
//! comes later in the grammar (the end of the string being last) is the older one, so `1.2` <
//! `1.2.1` < `1.2.1-r1` and text apk-tools cannot tokenise sorts before anything valid there.
//!
//! This is the algorithm of apk-tools 2, the `apk` of Alpine's 3.x releases. Text apk-tools
//! would reject as invalid is still ordered by these rules, which stop at the first token that
//! does not fit; apk-tools 3 tokenises some such strings differently (`-r` without digits, a `.`
//! before a letter, upper-case letters), so on those it can answer otherwise. Numbers are compared
//! by value at any length, where apk-tools would overflow a C `int`.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{cmp_decimal, digit_run};

/// Orders two Alpine package versions the way apk-tools does.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let mut a = Tokens {
        kind: Kind::Digit,
        rest: a.as_bytes(),
    };
    let mut b = Tokens {
        kind: Kind::Digit,
        rest: b.as_bytes(),
    };
    // Walk both streams while they hold the same kind of token with the same value.
    loop {
        if a.kind != b.kind || matches!(a.kind, Kind::End | Kind::Invalid) {
            break;
        }
        let order = a.next_value().cmp(&b.next_value());
        if order != Ordering::Equal {
            return order;
        }
    }
    if a.kind == b.kind {
        return Ordering::Equal;
    }
    // The streams part ways: a pre-release suffix is older than whatever the other side has.
    if a.kind == Kind::Suffix && a.clone().next_value() < Value::Small(0) {
        return Ordering::Less;
    }
    if b.kind == Kind::Suffix && b.clone().next_value() < Value::Small(0) {
        return Ordering::Greater;
    }
    // Otherwise the side whose next token comes later in the grammar is older.
    b.kind.cmp(&a.kind)
}

/// The kind of the next token, in grammar order: an invalid token sorts first, the end of the
/// string last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Text that fits no token where it stands.
    Invalid,
    /// A number after a `.`, where leading zeros are special.
    DigitOrZero,
    /// A number.
    Digit,
    /// A single lower-case letter after the numbers.
    Letter,
    /// A `_suffix` name.
    Suffix,
    /// The number after a suffix name.
    SuffixNumber,
    /// The number after `-r`.
    Revision,
    /// The end of the string.
    End,
}

/// The value of one token, a signed number of any size. Only tokens of the same kind are compared
/// with each other, except a zero run against a number (both after a `.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    /// `n` leading zeros after a `.`, worth `-n`.
    Zeros(usize),
    /// A run of digits (possibly empty, worth 0), worth its number.
    Number(&'a [u8]),
    /// A letter's character code, a suffix's rank (pre-release suffixes negative), or -1 for an
    /// unknown suffix.
    Small(i32),
}

impl Value<'_> {
    /// The value as a sign (`true` when negative) and a magnitude in decimal digits.
    fn signed(&self) -> (bool, Cow<'_, [u8]>) {
        match *self {
            Value::Zeros(n) => (true, Cow::Owned(n.to_string().into_bytes())),
            Value::Number(digits) => (false, Cow::Borrowed(digits)),
            Value::Small(v) => (v < 0, Cow::Owned(v.unsigned_abs().to_string().into_bytes())),
        }
    }
}

impl Ord for Value<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a_negative, a) = self.signed();
        let (b_negative, b) = other.signed();
        match (a_negative, b_negative) {
            (false, false) => cmp_decimal(&a, &b),
            (true, true) => cmp_decimal(&b, &a),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Value<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pre-release suffixes, oldest first; they rank -4 .. -1.
const PRE_SUFFIXES: [&[u8]; 4] = [b"alpha", b"beta", b"pre", b"rc"];
/// Post-release suffixes, oldest first; they rank 0 .. 4.
const POST_SUFFIXES: [&[u8]; 5] = [b"cvs", b"svn", b"git", b"hg", b"p"];

/// A version string being tokenised: the kind of the next token and the text left.
#[derive(Debug, Clone)]
struct Tokens<'a> {
    kind: Kind,
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    /// Reads the next token (of kind `self.kind`), returns its value, and works out the kind of
    /// the token after it.
    fn next_value(&mut self) -> Value<'a> {
        if self.rest.is_empty() {
            self.kind = Kind::End;
            return Value::Small(0);
        }
        let mut following = None;
        let (value, len) = match self.kind {
            Kind::DigitOrZero if self.rest[0] == b'0' => {
                let zeros = self.rest.iter().take_while(|&&c| c == b'0').count();
                following = Some(Kind::Digit);
                (Value::Zeros(zeros), zeros)
            }
            Kind::DigitOrZero | Kind::Digit | Kind::SuffixNumber | Kind::Revision => {
                let len = digit_run(self.rest);
                (Value::Number(&self.rest[..len]), len)
            }
            Kind::Letter => (Value::Small(i32::from(self.rest[0])), 1),
            Kind::Suffix => match suffix_rank(self.rest) {
                Some(found) => found,
                None => {
                    self.kind = Kind::Invalid;
                    return Value::Small(-1);
                }
            },
            Kind::Invalid | Kind::End => {
                self.kind = Kind::Invalid;
                return Value::Small(-1);
            }
        };
        self.rest = &self.rest[len..];
        self.kind = if self.rest.is_empty() {
            Kind::End
        } else if let Some(kind) = following {
            kind
        } else {
            self.next_kind()
        };
        value
    }

    /// Works out the kind of the next token from the current kind and the next character,
    /// consuming a separator (`.`, `_`, `-r`) if there is one.
    fn next_kind(&mut self) -> Kind {
        let current = self.kind;
        let c = self.rest[0];
        let next = if matches!(current, Kind::Digit | Kind::DigitOrZero) && c.is_ascii_lowercase() {
            Kind::Letter
        } else if current == Kind::Letter && c.is_ascii_digit() {
            Kind::Digit
        } else if current == Kind::Suffix && c.is_ascii_digit() {
            Kind::SuffixNumber
        } else {
            let next = match c {
                b'.' => Kind::DigitOrZero,
                b'_' => Kind::Suffix,
                b'-' if self.rest.get(1) == Some(&b'r') => {
                    self.rest = &self.rest[1..];
                    Kind::Revision
                }
                _ => Kind::Invalid,
            };
            self.rest = &self.rest[1..];
            next
        };
        // A token may only go back in the grammar in these three ways.
        let allowed_back = matches!(
            (next, current),
            (Kind::DigitOrZero, Kind::Digit)
                | (Kind::Suffix, Kind::SuffixNumber)
                | (Kind::Digit, Kind::Letter)
        );
        if next < current && !allowed_back {
            Kind::Invalid
        } else {
            next
        }
    }
}

/// The rank and length of the suffix name `text` starts with (pre-release names are checked
/// first, so `pre` is not read as `p`), or `None` if it starts with no known suffix.
fn suffix_rank(text: &[u8]) -> Option<(Value<'static>, usize)> {
    let pre = PRE_SUFFIXES
        .iter()
        .zip(-4..)
        .find(|(name, _)| text.starts_with(name));
    let post = || {
        POST_SUFFIXES
            .iter()
            .zip(0..)
            .find(|(name, _)| text.starts_with(name))
    };
    pre.or_else(post)
        .map(|(name, rank)| (Value::Small(rank), name.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn suffixes() {
        assert_eq!(compare("1.2_alpha1", "1.2_beta1"), Less);
        assert_eq!(compare("1.2_rc1", "1.2"), Less);
        assert_eq!(compare("1.2", "1.2_cvs1"), Less);
        assert_eq!(compare("1.2_hg1", "1.2_p1"), Less);
        assert_eq!(compare("1.2_pre1", "1.2_p1"), Less);
        assert_eq!(compare("1.2_alpha", "1.2_alpha0"), Less);
    }

    #[test]
    fn revisions_letters_and_zeros() {
        assert_eq!(compare("1.2-r1", "1.2-r10"), Less);
        assert_eq!(compare("1.2", "1.2-r0"), Less);
        assert_eq!(compare("1.2a", "1.2b"), Less);
        assert_eq!(compare("1.2", "1.2a"), Less);
        assert_eq!(compare("1.05", "1.1"), Less);
        assert_eq!(compare("1.005", "1.05"), Less);
        assert_eq!(compare("1.2.3", "1.2"), Greater);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let huge = "5".repeat(10_000);
        assert_eq!(compare(&huge, "5"), Greater);
        assert_eq!(compare(&format!("1.{huge}"), &format!("1.{huge}1")), Less);
        assert_eq!(compare(&format!("1-r{huge}"), "1-r1"), Greater);
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("1.é", "1.é"), Equal);
        assert_eq!(compare("_", "-"), compare("-", "_").reverse());
        assert_eq!(compare("1_", "1_x"), Greater);
    }
}
