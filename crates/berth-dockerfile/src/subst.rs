//! Docker's variable substitution (its "shell lexer"), applied to one word at a time.

use crate::error::SubstError;

/// How deeply `${A:-${B:-…}}` may nest before [`substitute`] gives up. Docker has no limit;
/// berth has one so that hostile input cannot exhaust the stack.
pub const MAX_SUBSTITUTION_DEPTH: usize = 64;

/// Expands variables in `word` and removes its quoting, as Docker does for the arguments of
/// ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR:
///
/// - `$VAR` and `${VAR}`: the value, or nothing if unset. A `$` not followed by a name stays.
/// - `${VAR:-word}`: `word` if VAR is unset or empty; `${VAR-word}`: only if unset.
/// - `${VAR:+word}`: `word` if VAR is set and not empty, else nothing; `${VAR+word}`: `word`
///   if VAR is set, even empty.
/// - `${VAR:?message}` / `${VAR?message}`: an error if VAR is unset (or, with `:`, empty).
/// - `word` is itself expanded, so `${A:-${B}}` nests.
/// - The escape character (`\`, or `` ` `` under `# escape=`) escapes the next character,
///   `\$` included. Single quotes keep everything literal; double quotes allow `$` expansion
///   and escaping only of `"`, `$` and the escape character.
///
/// The pattern modifiers `${VAR#…}`, `${VAR%…}` and `${VAR/…/…}` are refused with
/// [`SubstError::UnsupportedModifier`].
pub fn substitute(
    word: &str,
    vars: &impl Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, SubstError> {
    let mut lexer = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        vars,
    };
    lexer.word(None, 0)
}

struct Lexer<'a, F> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a F,
}

impl<F: Fn(&str) -> Option<String>> Lexer<'_, F> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads up to `stop` (consumed) or the end of input.
    fn word(&mut self, stop: Option<char>, depth: usize) -> Result<String, SubstError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match c {
                '$' => out.push_str(&self.dollar(depth)?),
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted(depth)?),
                _ => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.next() {
                            Some(escaped) => out.push(escaped),
                            None => break,
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        match stop {
            Some(_) => Err(SubstError::MissingBrace),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self) -> Result<String, SubstError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(SubstError::UnterminatedQuote("single-quote")),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self, depth: usize) -> Result<String, SubstError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(SubstError::UnterminatedQuote("double-quote")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar(depth)?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                            }
                            Some(_) => out.push(c),
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn dollar(&mut self, depth: usize) -> Result<String, SubstError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok((self.vars)(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(SubstError::MissingBrace),
            Some('{' | '}' | ':') => return Err(SubstError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let value = (self.vars)(&name);
        let (colon, modifier) = match self.next() {
            None => return Err(SubstError::MissingBrace),
            Some('}') => return Ok(value.unwrap_or_default()),
            Some(':') => (true, self.next()),
            Some(c) => (false, Some(c)),
        };
        let modifier = match modifier {
            Some(m @ ('-' | '+' | '?')) => m,
            Some(other) => {
                let shown = if colon {
                    format!(":{other}")
                } else {
                    other.to_string()
                };
                return Err(SubstError::UnsupportedModifier(shown));
            }
            None => return Err(SubstError::MissingBrace),
        };
        if depth >= MAX_SUBSTITUTION_DEPTH {
            return Err(SubstError::TooDeep(MAX_SUBSTITUTION_DEPTH));
        }
        let word = self.word(Some('}'), depth + 1)?;
        // With `:`, an empty value counts as unset.
        let present = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
        match modifier {
            '-' => Ok(if present {
                value.unwrap_or_default()
            } else {
                word
            }),
            '+' => Ok(if present { word } else { String::new() }),
            _ => {
                if present {
                    return Ok(value.unwrap_or_default());
                }
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                Err(SubstError::Required { name, message })
            }
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits (`$1`); or one of the
    /// shell's special parameters (`$@`, `$*`, `$#`, `$?`, `$-`, `$$`, `$!`, `$0`).
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                name.push(c);
                self.pos += 1;
            }
            _ => {
                while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        name
    }
}
