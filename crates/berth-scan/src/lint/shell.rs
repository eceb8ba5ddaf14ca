//! Just enough of the POSIX shell grammar to see the commands a RUN line runs: words (with
//! quotes and escapes), the operators that separate commands (`&&`, `||`, `;`, `|`, `&`,
//! newlines) and grouping. Command and process substitutions stay inside their word; their
//! inner commands are also listed, so `echo $(apt-get install x)` is seen.

/// One simple command: `NAME ARGS…` with any leading `VAR=value` assignments removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub name: String,
    pub args: Vec<String>,
}

impl Cmd {
    /// Whether any argument is one of `flags` (`-y`, `--yes`), or a short-flag cluster that
    /// contains the single-letter flag (`-qy` has `-y`).
    pub fn has_flag(&self, flags: &[&str]) -> bool {
        self.args.iter().any(|a| {
            flags.contains(&a.as_str())
                || flags.iter().any(|f| {
                    f.len() == 2
                        && f.starts_with('-')
                        && a.len() > 2
                        && a.starts_with('-')
                        && !a.starts_with("--")
                        && a[1..].contains(&f[1..])
                })
                || flags
                    .iter()
                    .any(|f| f.starts_with("--") && a.starts_with(&format!("{f}=")))
        })
    }

    /// The arguments that are not options (do not start with `-`).
    pub fn operands(&self) -> impl Iterator<Item = &str> {
        self.args
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
    }

    /// Whether the first operand (the subcommand, as in `apt-get install`) is `sub`.
    pub fn subcommand_is(&self, subs: &[&str]) -> bool {
        self.operands().next().is_some_and(|s| subs.contains(&s))
    }
}

/// What a script runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub commands: Vec<Cmd>,
    /// A `|` pipe (not `||`) joins two commands somewhere.
    pub has_pipe: bool,
    /// The text is not sh syntax (PowerShell, say): no commands are reported.
    pub unparsable: bool,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Op(&'static str),
}

/// Splits `text` into tokens. Unterminated quotes end at the end of the text.
fn tokens(text: &str, subs: &mut Vec<String>) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    let flush = |word: &mut String, in_word: &mut bool, out: &mut Vec<Token>| {
        if *in_word {
            out.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    if n != '\n' {
                        word.push(n);
                        in_word = true;
                    }
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        word.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if chars[i] == '$' && chars.get(i + 1) == Some(&'(') {
                        let (inner, end) = balanced(&chars, i + 2, '(', ')');
                        subs.push(inner.clone());
                        word.push_str(&format!("$({inner})"));
                        i = end;
                        continue;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                let (inner, end) = balanced(&chars, i + 2, '(', ')');
                subs.push(inner.clone());
                word.push_str(&format!("$({inner})"));
                in_word = true;
                i = end;
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let (inner, end) = balanced(&chars, i + 2, '{', '}');
                word.push_str(&format!("${{{inner}}}"));
                in_word = true;
                i = end;
                continue;
            }
            '`' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '`' {
                    j += 1;
                }
                let inner: String = chars[start..j.min(chars.len())].iter().collect();
                subs.push(inner.clone());
                word.push_str(&format!("`{inner}`"));
                in_word = true;
                i = j + 1;
                continue;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ' ' | '\t' | '\r' => {
                flush(&mut word, &mut in_word, &mut out);
            }
            '\n' => {
                flush(&mut word, &mut in_word, &mut out);
                out.push(Token::Op(";"));
            }
            '&' | '|' | ';' | '(' | ')' => {
                flush(&mut word, &mut in_word, &mut out);
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "&&" => "&&",
                    "||" => "||",
                    ";;" => ";;",
                    "|&" => "|",
                    _ => match c {
                        '&' => "&",
                        '|' => "|",
                        ';' => ";",
                        '(' => "(",
                        _ => ")",
                    },
                };
                out.push(Token::Op(op));
                i += op.len().max(if two == "|&" { 2 } else { 0 });
                continue;
            }
            '<' | '>' => {
                // Redirections: the operator and its target are not arguments.
                flush(&mut word, &mut in_word, &mut out);
                let mut j = i;
                while j < chars.len() && matches!(chars[j], '<' | '>' | '&') {
                    j += 1;
                }
                while j < chars.len() && matches!(chars[j], ' ' | '\t') {
                    j += 1;
                }
                // Skip the target word.
                let mut sub = Vec::new();
                let rest: String = chars[j..].iter().collect();
                let end = word_end(&rest);
                let _ = tokens(&rest[..end], &mut sub);
                subs.extend(sub);
                i = j + rest[..end].chars().count();
                continue;
            }
            _ => {
                // A file-descriptor number right before a redirection is not an argument.
                if c.is_ascii_digit() && !in_word && matches!(chars.get(i + 1), Some('<' | '>')) {
                    i += 1;
                    continue;
                }
                word.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    flush(&mut word, &mut in_word, &mut out);
    out
}

/// The byte length of the first shell word of `s` (up to unquoted whitespace or an operator).
fn word_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ' | '\t' | '\n' | ';' | '&' | '|' | ')') => return i,
            _ => {}
        }
    }
    s.len()
}

/// The text up to the bracket closing the one opened before `start`, and the index after it.
fn balanced(chars: &[char], start: usize, open: char, close: char) -> (String, usize) {
    let mut depth = 1;
    let mut j = start;
    while j < chars.len() {
        if chars[j] == open {
            depth += 1;
        } else if chars[j] == close {
            depth -= 1;
            if depth == 0 {
                return (chars[start..j].iter().collect(), j + 1);
            }
        }
        j += 1;
    }
    (chars[start..].iter().collect(), chars.len())
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Reserved words that start a compound command; the command is what follows them.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "case", "esac", "{",
    "}", "!", "in", "function",
];

/// Parses a shell script (bounded: nested substitutions are followed 16 levels deep).
pub fn parse(text: &str) -> Script {
    let mut script = Script::default();
    parse_into(text, &mut script, 0);
    if script.unparsable {
        script.commands.clear();
        script.has_pipe = false;
    }
    script
}

fn parse_into(text: &str, script: &mut Script, depth: usize) {
    let mut subs = Vec::new();
    let toks = tokens(text, &mut subs);
    let mut current: Vec<String> = Vec::new();
    let mut skip_for = false;
    // Open `case` statements, and whether a pattern (`a | b)`) is being read: its `|` is an
    // alternative, not a pipe.
    let mut cases = 0usize;
    let mut in_pattern = false;
    let finish = |current: &mut Vec<String>, script: &mut Script| {
        let mut words = std::mem::take(current).into_iter().peekable();
        while words.peek().is_some_and(|w| is_assignment(w)) {
            words.next();
        }
        if let Some(mut name) = words.next() {
            // Wrappers that run the command named next: the command is that one.
            while matches!(name.as_str(), "busybox" | "command" | "builtin" | "exec")
                && words.peek().is_some_and(|w| !w.starts_with('-'))
            {
                name = words.next().unwrap_or_default();
            }
            // `[ … ]` and `[[ … ]]` are test expressions, not commands a rule looks for.
            if name != "[" && name != "[[" {
                script.commands.push(Cmd {
                    name,
                    args: words.collect(),
                });
            }
        }
    };
    let mut toks = toks.into_iter().peekable();
    while let Some(t) = toks.next() {
        match t {
            Token::Word(w) => {
                if in_pattern {
                    if w == "esac" {
                        cases = cases.saturating_sub(1);
                        in_pattern = false;
                    }
                    continue;
                }
                if current.is_empty() && w == "esac" && cases > 0 {
                    cases -= 1;
                    continue;
                }
                if skip_for {
                    // `for x in a b; do`, `case $x in`: those words are not a command.
                    if w == "in" && cases > 0 {
                        in_pattern = true;
                        skip_for = false;
                    }
                    continue;
                }
                if current.is_empty() && RESERVED.contains(&w.as_str()) {
                    if w == "case" {
                        cases += 1;
                    }
                    skip_for = w == "for" || w == "case";
                    continue;
                }
                current.push(w);
            }
            Token::Op(op) => {
                if in_pattern {
                    if op == ")" {
                        in_pattern = false;
                    }
                    continue;
                }
                if op == ";;" && cases > 0 {
                    finish(&mut current, script);
                    in_pattern = true;
                    continue;
                }
                if op == "(" && current.len() == 1 && toks.peek() == Some(&Token::Op(")")) {
                    // `name() { …; }`: a function definition, not a command.
                    toks.next();
                    current.clear();
                    continue;
                }
                if op == "(" && !current.is_empty() {
                    // `word (…)` is a syntax error in sh (a PowerShell line, say): nothing in
                    // the script can be trusted to be a command.
                    script.commands.clear();
                    script.has_pipe = false;
                    script.unparsable = true;
                    return;
                }
                if op == "|" {
                    script.has_pipe = true;
                }
                if op == ";" || op == "&&" || op == "||" || op == "|" || op == "&" {
                    skip_for = false;
                }
                finish(&mut current, script);
            }
        }
    }
    finish(&mut current, script);
    if depth < 16 {
        for s in subs {
            let mut inner = Script::default();
            parse_into(&s, &mut inner, depth + 1);
            script.commands.extend(inner.commands);
            script.has_pipe |= inner.has_pipe;
            script.unparsable |= inner.unparsable;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &Script) -> Vec<&str> {
        s.commands.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn splits_commands_and_sees_pipes() {
        let s = parse(
            "set -eux; apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y curl \"a b\" || true",
        );
        assert_eq!(names(&s), ["set", "apt-get", "apt-get", "true"]);
        assert_eq!(s.commands[2].args, ["install", "-y", "curl", "a b"]);
        assert!(!s.has_pipe);
        let s = parse("curl -fsSL https://x | tar -xz -C /opt");
        assert!(s.has_pipe);
        assert_eq!(names(&s), ["curl", "tar"]);
    }

    #[test]
    fn quotes_comments_substitutions_and_redirections() {
        let s = parse(
            "echo 'a | b' \"c && d\" # apt-get install x\nv=$(apk add --no-cache y) 2>/dev/null",
        );
        assert_eq!(names(&s), ["echo", "apk"]);
        assert!(!s.has_pipe);
        assert_eq!(s.commands[0].args, ["a | b", "c && d"]);
        let s = parse(
            "case \"$b\" in\n a | b) continue ;;\n c) run -v; continue ;;\n esac; if [ -n x ]; then go; fi",
        );
        assert!(!s.has_pipe, "a case pattern's | is no pipe");
        assert_eq!(names(&s), ["continue", "run", "continue", "go"]);
        let s = parse("f() { cd /x; }; f");
        assert_eq!(names(&s), ["cd", "f"]);
        let s = parse("Write-Host ('x' -f $a) | Out-Null");
        assert!(s.commands.is_empty() && !s.has_pipe && s.unparsable);
        let s =
            parse("cat > /etc/x <<EOF; for p in a b; do echo $p; done; if true; then cd /x; fi");
        assert!(names(&s).contains(&"cd"));
        assert!(!names(&s).contains(&"a"));
    }

    #[test]
    fn flags() {
        let c = &parse("apt-get -qy install --no-install-recommends=true x").commands[0];
        assert!(c.has_flag(&["-y", "--yes"]));
        assert!(c.has_flag(&["--no-install-recommends"]));
        assert!(c.subcommand_is(&["install"]));
        assert!(!c.has_flag(&["-q2"]));
    }
}
