//! Maven's version order: the algorithm of Maven 3's `ComparableVersion`.
//!
//! The lower-cased version is split into items at `.`, at `-`, and wherever digits and
//! non-digits meet. Digit runs are numbers (compared by value, any length); other runs are
//! qualifiers. Well-known qualifiers order `alpha` < `beta` < `milestone` < `rc` < `snapshot` <
//! (release) < `sp`, with the aliases `a`, `b`, `m` (only when directly followed by a digit), `cr`
//! for `rc`, and `ga`, `final` and `release` for the release itself; unknown qualifiers come
//! after all of them, in lexical order. A `-`, and a switch between digits and letters, opens a
//! nested list that holds the rest of the version, so `1-1` < `1.1`. Trailing "null" items (0,
//! the release qualifier, empty lists) are dropped from every list, so `1.0.0` == `1` and
//! `1-ga` == `1`.
//!
//! When a list is compared with a missing item (the other version is shorter), its items are
//! compared with "nothing" one after another until one differs. Every string is a valid Maven
//! version, so there is no fallback. Only ASCII digits count as digits (Java's
//! `Character.isDigit` also accepts other scripts' digits); qualifiers compare by UTF-16 code
//! units, as Java strings do. Comparison walks the nested lists iteratively, so even a version
//! with thousands of `-` cannot exhaust the stack.
//!
//! This is the order of Maven 3.8.6 and earlier, which osv-scalibr's Maven vectors were generated
//! with. Maven 3.8.7 also reads a qualifier after a `.` as if it followed a `-` when it ends the
//! version or a digit follows it, so there `1.0.0.x1` == `1.0.0-x1` and `2.9.0.rc1` < `2.9.0-1`
//! (3.8.6 has `>`); berth does not.

use std::cmp::Ordering;

use super::{cmp_decimal, strip_leading_zeros};

/// Orders two Maven versions the way Maven 3's `ComparableVersion` does.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let a = Version::parse(a);
    let b = Version::parse(b);
    a.cmp(&b)
}

/// One item that is not a list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// A number: its digits without leading zeros (empty for 0).
    Number(String),
    /// A qualifier, with aliases already replaced (`""` is the release).
    Qualifier(String),
}

/// Known qualifiers, oldest first; `""` is the release itself.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

/// The comparable form of the release qualifier.
const RELEASE: &str = "5";

impl Atom {
    /// A qualifier item read from `text`; `followed_by_digit` says a digit comes right after it.
    fn qualifier(text: &str, followed_by_digit: bool) -> Self {
        let text = match text {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "ga" | "final" | "release" => "",
            "cr" => "rc",
            other => other,
        };
        Atom::Qualifier(text.to_owned())
    }

    /// An item read from `text`: a number if `digits`, else a qualifier.
    fn parse(text: &str, digits: bool) -> Self {
        if digits {
            let stripped = strip_leading_zeros(text.as_bytes()).len();
            Atom::Number(text[text.len() - stripped..].to_owned())
        } else {
            Atom::qualifier(text, false)
        }
    }

    /// Whether this item is dropped when it trails a list (0 or the release qualifier).
    fn is_null(&self) -> bool {
        match self {
            Atom::Number(digits) => digits.is_empty(),
            Atom::Qualifier(q) => q.is_empty(),
        }
    }

    /// How this item compares with a missing item.
    fn cmp_missing(&self) -> Ordering {
        match self {
            Atom::Number(digits) if digits.is_empty() => Ordering::Equal,
            Atom::Number(_) => Ordering::Greater,
            Atom::Qualifier(q) => cmp_java(&comparable(q), RELEASE),
        }
    }

    /// How this item compares with another item that is not a list.
    fn cmp(&self, other: &Atom) -> Ordering {
        match (self, other) {
            (Atom::Number(a), Atom::Number(b)) => cmp_decimal(a.as_bytes(), b.as_bytes()),
            (Atom::Number(_), Atom::Qualifier(_)) => Ordering::Greater,
            (Atom::Qualifier(_), Atom::Number(_)) => Ordering::Less,
            (Atom::Qualifier(a), Atom::Qualifier(b)) => cmp_java(&comparable(a), &comparable(b)),
        }
    }

    /// How this item compares with a list: a number is newer, a qualifier older.
    fn cmp_list(&self) -> Ordering {
        match self {
            Atom::Number(_) => Ordering::Greater,
            Atom::Qualifier(_) => Ordering::Less,
        }
    }
}

/// The text a qualifier is ranked by: its index among the known qualifiers, or `7-` and the
/// qualifier itself for unknown ones (so they follow all known ones, lexically).
fn comparable(qualifier: &str) -> String {
    match QUALIFIERS.iter().position(|&q| q == qualifier) {
        Some(index) => index.to_string(),
        None => format!("{}-{qualifier}", QUALIFIERS.len()),
    }
}

/// Compares strings the way Java's `String.compareTo` does: by UTF-16 code units.
fn cmp_java(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A parsed version: a chain of lists, where `levels[k + 1]` is the list nested at the end of
/// `levels[k]` (`levels[0]` is the top-level list, always present).
#[derive(Debug)]
struct Version {
    levels: Vec<Vec<Atom>>,
}

/// One element of a list: an item, or the nested list at its end.
enum Element<'a> {
    Atom(&'a Atom),
    Nested,
}

impl Version {
    /// Splits `text` into Maven's items and normalises every list.
    fn parse(text: &str) -> Self {
        let text = text.to_lowercase();
        let mut levels: Vec<Vec<Atom>> = vec![Vec::new()];
        let mut digits = false;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            let current = levels.len() - 1;
            if c == '.' || c == '-' {
                let atom = if i == start {
                    Atom::Number(String::new())
                } else {
                    Atom::parse(&text[start..i], digits)
                };
                levels[current].push(atom);
                start = i + 1;
                if c == '-' {
                    levels.push(Vec::new());
                }
            } else if c.is_ascii_digit() {
                if !digits && i > start {
                    levels[current].push(Atom::qualifier(&text[start..i], true));
                    start = i;
                    levels.push(Vec::new());
                }
                digits = true;
            } else {
                if digits && i > start {
                    levels[current].push(Atom::parse(&text[start..i], true));
                    start = i;
                    levels.push(Vec::new());
                }
                digits = false;
            }
        }
        if text.len() > start {
            let current = levels.len() - 1;
            levels[current].push(Atom::parse(&text[start..], digits));
        }
        // Normalise from the innermost list out: drop trailing null items, and a nested list
        // left empty.
        for k in (0..levels.len()).rev() {
            while levels[k].last().is_some_and(Atom::is_null) {
                levels[k].pop();
            }
            if k > 0 && k == levels.len() - 1 && levels[k].is_empty() {
                levels.pop();
            }
        }
        Version { levels }
    }

    /// The `index`th element of the list at `level`, if it has that many.
    fn element(&self, level: usize, index: usize) -> Option<Element<'_>> {
        let atoms = &self.levels[level];
        match atoms.get(index) {
            Some(atom) => Some(Element::Atom(atom)),
            None if index == atoms.len() && level + 1 < self.levels.len() => Some(Element::Nested),
            None => None,
        }
    }

    /// The number of elements of the list at `level`.
    fn len(&self, level: usize) -> usize {
        self.levels[level].len() + usize::from(level + 1 < self.levels.len())
    }

    /// How the list at `level` compares with a missing item: its elements, in turn, compared
    /// with nothing.
    fn cmp_missing(&self, mut level: usize) -> Ordering {
        loop {
            for atom in &self.levels[level] {
                let order = atom.cmp_missing();
                if order != Ordering::Equal {
                    return order;
                }
            }
            if level + 1 < self.levels.len() {
                level += 1;
            } else {
                return Ordering::Equal;
            }
        }
    }

    /// Compares the top-level lists of two versions.
    fn cmp(&self, other: &Version) -> Ordering {
        let mut level = 0;
        'lists: loop {
            for index in 0..self.len(level).max(other.len(level)) {
                let order = match (self.element(level, index), other.element(level, index)) {
                    (Some(Element::Nested), Some(Element::Nested)) => {
                        // Both lists end in a nested list here: the answer is theirs.
                        level += 1;
                        continue 'lists;
                    }
                    (Some(Element::Atom(a)), Some(Element::Atom(b))) => a.cmp(b),
                    (Some(Element::Atom(a)), Some(Element::Nested)) => a.cmp_list(),
                    (Some(Element::Nested), Some(Element::Atom(b))) => b.cmp_list().reverse(),
                    (Some(Element::Atom(a)), None) => a.cmp_missing(),
                    (None, Some(Element::Atom(b))) => b.cmp_missing().reverse(),
                    (Some(Element::Nested), None) => self.cmp_missing(level + 1),
                    (None, Some(Element::Nested)) => other.cmp_missing(level + 1).reverse(),
                    (None, None) => Ordering::Equal,
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            return Ordering::Equal;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn qualifier_order() {
        let ordered = [
            "1-alpha",
            "1-beta",
            "1-milestone",
            "1-rc",
            "1-snapshot",
            "1",
            "1-sp",
            "1-abc",
            "1-xyz",
            "1-1",
            "1.1",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Less, "{pair:?}");
        }
    }

    #[test]
    fn normalisation_and_aliases() {
        assert_eq!(compare("1.0.0", "1"), Equal);
        assert_eq!(compare("1-ga", "1"), Equal);
        assert_eq!(compare("1.FINAL", "1"), Equal);
        assert_eq!(compare("1a1", "1-alpha-1"), Equal);
        assert_eq!(compare("1cr2", "1-RC-2"), Equal);
        assert_eq!(compare("1-a", "1-alpha"), Greater);
        assert_eq!(compare("1.01", "1.1"), Equal);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let huge = "6".repeat(10_000);
        assert_eq!(compare(&huge, &format!("{huge}.1")), Less);
        let deep = "1-".repeat(20_000);
        assert_eq!(compare(&deep, &format!("{deep}1")), Less);
        assert_eq!(compare(&deep, &deep), Equal);
        assert_eq!(compare(&"-".repeat(20_000), ""), Equal);
        assert_eq!(compare("", ""), Equal);
        assert_eq!(compare("1-é", "1-e"), Greater);
        assert_eq!(compare("1-\u{10000}", "1-\u{ffff}"), Less);
    }
}
