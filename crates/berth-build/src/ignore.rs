//! `.dockerignore`: which context paths COPY and ADD may not see, with Docker's rules.
//!
//! - One pattern per line; a line starting with `#` is a comment; blank lines are skipped.
//! - A pattern is trimmed, cleaned like a path (`./a//b/` is `a/b`) and a leading `/` dropped:
//!   patterns are relative to the context root.
//! - Within a path segment the [`crate::pattern`] rules apply; a `**` segment matches any number
//!   of directories (none included).
//! - A path is matched by a pattern if it, or any directory above it, matches: `node_modules`
//!   excludes everything below it.
//! - `!pattern` re-includes what an earlier pattern excluded; the last pattern that matches a
//!   path decides.

use crate::pattern::{self, BadPattern};

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    segments: Vec<String>,
    exception: bool,
}

/// The patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    rules: Vec<Rule>,
}

/// A `.dockerignore` line that is not a valid pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: invalid pattern {pattern:?}")]
pub struct IgnoreError {
    /// 1-based line.
    pub line: usize,
    /// The pattern as written.
    pub pattern: String,
}

impl Ignore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let raw = if i == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            if raw.starts_with('#') {
                continue;
            }
            let mut line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let exception = line.starts_with('!');
            if exception {
                line = line[1..].trim();
            }
            let cleaned = clean(line);
            let segments: Vec<String> = cleaned.split('/').map(str::to_owned).collect();
            // Validated once here so that matching never meets a bad pattern.
            for s in &segments {
                if s != "**" {
                    pattern::matches(s, "").map_err(|BadPattern| IgnoreError {
                        line: i + 1,
                        pattern: line.to_owned(),
                    })?;
                }
            }
            rules.push(Rule {
                segments,
                exception,
            });
        }
        Ok(Self { rules })
    }

    /// Whether there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some `!` pattern exists: then an excluded directory may still hold included files.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// Whether the context path `rel` (relative, `/`-separated, no `.` or `..`) is excluded.
    pub fn excludes(&self, rel: &str) -> bool {
        let segments: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // The path itself, or any directory above it.
            let hit = (1..=segments.len()).any(|n| match_segments(&rule.segments, &segments[..n]));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            // A trailing `**` needs something to match; elsewhere it may match nothing.
            let min = usize::from(rest.is_empty());
            (min..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((name, tail)) => {
                pattern::matches(first, name).unwrap_or(false) && match_segments(rest, tail)
            }
            None => false,
        },
    }
}

/// Cleans a slash-separated path lexically, as Go's `path.Clean`, then drops a leading `/`.
/// `..` that would climb above the start is dropped (a pattern cannot name anything outside the
/// context).
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    if out.is_empty() {
        ".".to_owned()
    } else {
        out.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn patterns_and_parents() {
        let i = ignore("# comment\n\nnode_modules\n*.log\n/build/\ndocs/**/*.md\n");
        assert!(i.excludes("node_modules"));
        assert!(i.excludes("node_modules/a/b.js"));
        assert!(i.excludes("app.log"));
        assert!(!i.excludes("logs/app.log"), "* does not cross directories");
        assert!(i.excludes("build/out.o"));
        assert!(i.excludes("docs/a.md"), "** matches no directory too");
        assert!(i.excludes("docs/x/y/z.md"));
        assert!(!i.excludes("docs/x/y/z.txt"));
        assert!(!i.excludes("src/main.rs"));
    }

    #[test]
    fn exceptions_and_last_match_wins() {
        let i = ignore("*.md\n!README.md\nREADME*.md\n");
        assert!(i.excludes("CHANGES.md"));
        assert!(
            i.excludes("README.md"),
            "the later pattern excludes it again"
        );
        let i = ignore("*.md\n!README.md\n");
        assert!(!i.excludes("README.md"));
        assert!(i.has_exceptions());
        let i = ignore("secrets\n!secrets/public.pem\n");
        assert!(i.excludes("secrets/private.pem"));
        assert!(!i.excludes("secrets/public.pem"));
    }

    #[test]
    fn double_star_and_cleaning() {
        let i = ignore("**/.git\n./tmp//cache/\n**\n!keep\n");
        assert!(i.excludes("a/b/.git/config"));
        assert!(i.excludes("tmp/cache/x"));
        assert!(i.excludes("anything"));
        assert!(!i.excludes("keep"));
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("../../x"), "x");
        assert_eq!(clean("/"), ".");
    }

    #[test]
    fn bad_patterns_are_reported_with_their_line() {
        let e = Ignore::parse("ok\n[z-\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("[z-"));
    }
}
