//! Splitting a logical line the way Docker's parser does: keyword, `--flags`, words, JSON
//! arrays, heredoc markers.

/// Docker's separator between the keyword and the arguments, and between plain words:
/// spaces, tabs, vertical tabs, form feeds and carriage returns (not other Unicode spaces).
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// Splits `line` (already trimmed) into the keyword and the rest.
pub(crate) fn split_keyword(line: &str) -> (&str, &str) {
    match line.find(is_separator) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_separator)),
        None => (line, ""),
    }
}

/// Takes the leading `--flag` words off `rest`, as Docker does: quotes in a flag word are
/// removed, the escape character escapes the next character, and a lone `--` ends the flags.
/// Returns the flag words (with their `--`) and the remaining arguments, trimmed.
pub(crate) fn extract_flags(rest: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = rest.trim();
    while rest.starts_with("--") {
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut quoted = false;
        let mut end = rest.len();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = i;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    quoted = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => match chars.next() {
                    Some((_, next)) => word.push(next),
                    None => quote = None,
                },
                _ => word.push(c),
            }
        }
        rest = rest[end..].trim_start();
        if word == "--" {
            break;
        }
        if quoted || !word.is_empty() {
            flags.push(word);
        }
    }
    (flags, rest.trim_end())
}

/// Splits ENV, LABEL and ARG arguments into words the way Docker's `parseWords` does:
/// whitespace separates words except inside quotes; quotes and escapes stay in the words
/// (the variable substitution removes them later).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut keep_blank = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
                word.push(c);
            } else if c == escape && q != '\'' {
                match chars.next() {
                    Some(next) => {
                        word.push(c);
                        word.push(next);
                    }
                    None => quote = None,
                }
            } else {
                word.push(c);
            }
            continue;
        }
        if c.is_whitespace() {
            if in_word && (keep_blank || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            in_word = false;
            keep_blank = false;
            continue;
        }
        in_word = true;
        if c == '\'' || c == '"' {
            quote = Some(c);
            keep_blank = true;
            word.push(c);
        } else if c == escape {
            if let Some(next) = chars.next() {
                word.push(c);
                word.push(next);
            }
        } else {
            word.push(c);
        }
    }
    if (in_word || quote.is_some()) && (keep_blank || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Splits on Docker's plain separators (COPY, ADD, VOLUME, EXPOSE and FROM arguments).
pub(crate) fn split_plain(rest: &str) -> Vec<String> {
    rest.split(is_separator)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The outcome of reading arguments that may be a JSON array.
pub(crate) enum MaybeJson {
    /// A JSON array of strings.
    Array(Vec<String>),
    /// Not a JSON array (or malformed): Docker falls back to the shell form.
    NotJson,
    /// A well-formed JSON array with a non-string element: Docker refuses this.
    NotStrings,
}

/// Reads `rest` as Docker's exec form: a JSON array of strings.
pub(crate) fn maybe_json(rest: &str) -> MaybeJson {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return MaybeJson::NotJson;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Err(_) => MaybeJson::NotJson,
        Ok(values) => values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map_or(MaybeJson::NotStrings, MaybeJson::Array),
    }
}

/// Removes a trailing line-continuation character. Docker's rule: the escape character,
/// followed only by spaces and tabs, continues the line unless it is itself escaped (`\\`).
/// Returns the text without it and whether the line continues.
pub(crate) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape)
        && !before.ends_with(escape)
    {
        return (before, true);
    }
    (line, false)
}

/// A heredoc marker found on an instruction line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HeredocMarker {
    pub name: String,
    pub file_descriptor: Option<u32>,
    pub expand: bool,
    pub chomp: bool,
}

/// Finds the heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`, `<< EOF`) in a line, in
/// order. Like Docker, the line is split into shell words (quotes kept, backslash escapes
/// kept) with `<<` and the blanks after it glued to the next word, and each word of the form
/// `[digits]<<[-][blanks]word` is a heredoc.
pub(crate) fn heredoc_markers(line: &str) -> Vec<HeredocMarker> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\'
                    && q == '"'
                    && let Some(next) = chars.next()
                {
                    word.push(next);
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                word.push(c);
                match c {
                    '\'' | '"' => quote = Some(c),
                    '\\' => {
                        if let Some(next) = chars.next() {
                            word.push(next);
                        }
                    }
                    '<' if chars.peek() == Some(&'<') => {
                        word.push('<');
                        chars.next();
                        while let Some(&blank) = chars.peek().filter(|c| matches!(c, ' ' | '\t')) {
                            word.push(blank);
                            chars.next();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.iter().filter_map(|w| heredoc_marker(w)).collect()
}

fn heredoc_marker(word: &str) -> Option<HeredocMarker> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let (name, quoted) = unquote_single_word(rest)?;
    Some(HeredocMarker {
        name,
        file_descriptor: if digits > 0 {
            word[..digits].parse().ok()
        } else {
            None
        },
        expand: !quoted,
        chomp,
    })
}

/// Removes shell quoting from a heredoc delimiter. `None` if it is not exactly one word or a
/// quote is not closed. The flag says whether any part was quoted.
fn unquote_single_word(text: &str) -> Option<(String, bool)> {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => out.push(c),
                    }
                }
            }
            '"' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => out.push(chars.next()?),
                        c => out.push(c),
                    }
                }
            }
            '\\' => out.push(chars.next()?),
            c if c.is_whitespace() => return None,
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some((out, quoted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_stop_at_the_first_plain_word() {
        let (flags, rest) = extract_flags("--from=build --chown='a b' src dst", '\\');
        assert_eq!(flags, ["--from=build", "--chown=a b"]);
        assert_eq!(rest, "src dst");
        let (flags, rest) = extract_flags("-- --not-a-flag", '\\');
        assert!(flags.is_empty());
        assert_eq!(rest, "--not-a-flag");
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words(r#"a="b c" d=e\ f 'g h'"#, '\\'),
            [r#"a="b c""#, r"d=e\ f", "'g h'"]
        );
        assert_eq!(parse_words("  ", '\\'), Vec::<String>::new());
    }

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation(r"a \", '\\'), ("a ", true));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", true));
        assert_eq!(trim_continuation(r"C:\\", '\\'), (r"C:\\", false));
        assert_eq!(trim_continuation(r"\", '\\'), ("", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", true));
        assert_eq!(trim_continuation(r"C:\ ", '`'), (r"C:\ ", false));
    }

    #[test]
    fn heredoc_marker_forms() {
        let m = heredoc_markers(r#"RUN 3<<-"E O" cat <<'X' << Y a<<B <<<Z"#);
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["E O", "X", "Y"]);
        assert_eq!(m[0].file_descriptor, Some(3));
        assert!(m[0].chomp && !m[0].expand);
        assert!(!m[1].expand && m[2].expand);
        assert!(heredoc_markers(r#"RUN echo "<<EOF""#).is_empty());
    }
}
