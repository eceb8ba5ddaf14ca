//! Docker's output shapes: human sizes and durations, tables, and `--format` templates.

use std::io::Write;

use serde_json::Value;

/// Sizes as Docker shows them: decimal units, three significant digits (`4.26MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(size), UNITS[i])
}

/// Like Go's `%.3g` for the values sizes take (0 <= v < 1000).
fn sig3(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Durations as Docker shows them (`About an hour`, `2 weeks`).
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let minutes = secs / 60;
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

/// A `--format` template: `{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `{{json .Field}}`, with Go's escapes.
pub struct Template {
    parts: Vec<Part>,
    pub table: bool,
}

enum Part {
    Text(String),
    Field { path: Vec<String>, json: bool },
}

impl Template {
    pub fn parse(src: &str) -> anyhow::Result<Self> {
        let (table, src) = match src.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, src),
        };
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = src.as_str();
        while let Some(start) = rest.find("{{") {
            parts.push(Part::Text(rest[..start].to_owned()));
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| anyhow::anyhow!("template: unclosed action in {src:?}"))?
                + start;
            let action = rest[start + 2..end].trim();
            let (json, expr) = match action.strip_prefix("json ") {
                Some(e) => (true, e.trim()),
                None => (false, action),
            };
            let expr = expr
                .strip_prefix('.')
                .ok_or_else(|| anyhow::anyhow!("template: unsupported action {{{{{action}}}}}"))?;
            let path = expr
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            parts.push(Part::Field { path, json });
            rest = &rest[end + 2..];
        }
        parts.push(Part::Text(rest.to_owned()));
        Ok(Self { parts, table })
    }

    pub fn render(&self, v: &Value) -> anyhow::Result<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field { path, json } => {
                    let mut cur = v;
                    for key in path {
                        cur = cur.get(key).ok_or_else(|| {
                            anyhow::anyhow!("template: can't evaluate field {key}")
                        })?;
                    }
                    if *json {
                        out.push_str(&serde_json::to_string(cur)?);
                    } else {
                        out.push_str(&go_text(cur));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The header row of a `table` template: each field's name.
    pub fn header(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Field { path, .. } => path.last().map_or(String::new(), |s| upper_snake(s)),
            })
            .collect()
    }
}

fn upper_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.char_indices() {
        if c.is_uppercase() && i > 0 && !s[..i].ends_with(|p: char| p.is_uppercase()) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// How Go's text/template prints a value.
fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Prints rows as Docker's tables do: columns padded by three spaces.
pub fn print_table(rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut tw = tabwriter::TabWriter::new(std::io::stdout().lock())
        .padding(3)
        .minwidth(7);
    for row in rows {
        writeln!(tw, "{}", row.join("\t"))?;
    }
    tw.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(77_900_000), "77.9MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(123_456_789_000), "123GB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn templates() {
        let v = serde_json::json!({"Repository": "busybox", "Tag": "latest", "Config": {"Env": ["A=1"]}});
        assert_eq!(
            Template::parse("{{.Repository}}:{{.Tag}}")
                .unwrap()
                .render(&v)
                .unwrap(),
            "busybox:latest"
        );
        assert_eq!(
            Template::parse("{{json .Config.Env}}")
                .unwrap()
                .render(&v)
                .unwrap(),
            r#"["A=1"]"#
        );
        assert_eq!(
            Template::parse("{{.Config.Env}}")
                .unwrap()
                .render(&v)
                .unwrap(),
            "[A=1]"
        );
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
        assert!(Template::parse("{{if .X}}").is_err());
        assert_eq!(
            Template::parse("table {{.Repository}}\\t{{.Tag}}")
                .unwrap()
                .header(),
            "REPOSITORY\tTAG"
        );
    }
}
