//! Positions, spans and the parse error, rendered the way compilers print diagnostics.

use std::fmt;

use serde::Serialize;

/// A position in a Dockerfile: 1-based line, 1-based column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters (not bytes).
    pub column: usize,
}

/// The source range an instruction (or directive, or heredoc) covers. `end` is inclusive of
/// the last line and points one column past its last character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Where the node starts (for an instruction: its keyword).
    pub start: Position,
    /// One past the last character of the node's last line.
    pub end: Position,
}

/// A Dockerfile that could not be parsed: the file name, the 1-based line and column, the
/// message, and the text of the offending line. `Display` renders it with a caret:
///
/// ```text
/// Dockerfile:3:1: unknown instruction "RUNN"
///   |
/// 3 | RUNN apt-get update
///   | ^^^^
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The file name given to [`crate::parse`].
    pub file: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
    /// What is wrong, in Docker's words where Docker has words for it.
    pub message: String,
    /// The text of line `line`, without its line ending.
    pub source_line: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Control characters would garble a terminal; show them as U+FFFD, one column each.
        let shown: String = self
            .source_line
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        // Keep tabs in the caret's indentation so it lines up under tab-indented text.
        let indent: String = shown
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {shown}")?;
        write!(f, "{gutter} | {indent}{}", "^".repeat(self.width.max(1)))
    }
}

/// Why [`crate::substitute`] failed, in the words of Docker's shell lexer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    /// `${` with no closing `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:…}`, `${{…}` and the like.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// A modifier Docker does not have, or one berth does not implement (`#`, `%`, `/`).
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR:?message}` or `${VAR?message}` with the variable unset (or empty, with `:`).
    #[error("{name}: {message}")]
    Required {
        /// The variable's name.
        name: String,
        /// The given message, or Docker's default one.
        message: String,
    },
    /// A quote that is never closed.
    #[error("unexpected end of statement while looking for matching {0}")]
    UnterminatedQuote(&'static str),
    /// `${A:-${A:-${A:-…}}}` nested deeper than [`crate::MAX_SUBSTITUTION_DEPTH`].
    #[error("variable substitution nested more than {0} levels deep")]
    TooDeep(usize),
}
