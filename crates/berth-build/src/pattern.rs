//! Shell patterns with Go's `filepath.Match` rules, which Docker uses for COPY and ADD sources
//! and, per path segment, for `.dockerignore`:
//!
//! - `*` matches any run of characters except `/`; `?` one character except `/`;
//! - `[abc]`, `[a-z]` and `[^a-z]` match one character of (or not of) the class;
//! - the escape character `\` makes the next character literal.
//!
//! A malformed class (`[a-`, `[]`) or a trailing `\` is [`BadPattern`].

/// The pattern is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Whether `pattern` contains an unescaped `*`, `?` or `[`: a wildcard rather than a path.
pub fn has_wildcards(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Whether all of `name` matches `pattern` (Go's `filepath.Match`).
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validates the whole pattern first, as Go reports a bad pattern even after a mismatch.
    validate(&p)?;
    Ok(match_from(&p, &n))
}

fn validate(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                i = class_end(p, i)?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index after the class starting at `p[start] == '['`.
fn class_end(p: &[char], start: usize) -> Result<usize, BadPattern> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => return Ok(i + 1),
            Some(_) => {
                let (_, next) = class_char(p, i)?;
                i = next;
                if p.get(i) == Some(&'-') {
                    let (_, next) = class_char(p, i + 1)?;
                    i = next;
                }
            }
        }
        first = false;
    }
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

/// Whether `c` is in the class at `p[start] == '['`; the pattern is already validated.
fn in_class(p: &[char], start: usize, c: char) -> bool {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while p[i] != ']' || first {
        let Ok((lo, next)) = class_char(p, i) else {
            return false;
        };
        i = next;
        let mut hi = lo;
        if p[i] == '-'
            && let Ok((h, next)) = class_char(p, i + 1)
        {
            hi = h;
            i = next;
        }
        if lo <= c && c <= hi {
            found = true;
        }
        first = false;
    }
    found != negated
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index it matched to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                '?' if ni < n.len() && n[ni] != '/' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' if ni < n.len() && n[ni] != '/' && in_class(p, pi, n[ni]) => {
                    pi = class_end(p, pi).unwrap_or(p.len());
                    ni += 1;
                    continue;
                }
                '\\' if ni < n.len() && pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if !matches!(c, '?' | '[' | '\\') && ni < n.len() && c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return true;
        }
        // Mismatch: let the last `*` take one more character, never a `/`.
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match_cases() {
        // Cases from the behaviour of Go's filepath.Match.
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("*x", "xxx", Ok(true)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("a\\", "a", Err(BadPattern)),
            ("*.txt", "notes.txt", Ok(true)),
            ("*.txt", "dir/notes.txt", Ok(false)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches(pattern, name), *want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn wildcards_are_detected_unless_escaped() {
        assert!(has_wildcards("*.txt"));
        assert!(has_wildcards("file?"));
        assert!(has_wildcards("[ab]"));
        assert!(!has_wildcards("plain/path"));
        assert!(!has_wildcards("a\\*b"));
    }
}
