//! `berth lint`: Dockerfile rules with berth's own stable ids (`DF…`), each mapped to the
//! Hadolint code (`DL…`) or Trivy check (`DS…`) it corresponds to, where there is one.
//!
//! Rules work on berth-dockerfile's syntax tree and, for RUN, on the commands a small shell
//! parser ([`shell`]) finds in the script. Findings carry the instruction's line and column.
//! A comment line `# berth ignore=DF006,DF007` (or Hadolint's `# hadolint ignore=DL3008`, for
//! the mapped rules) right above an instruction silences those rules there;
//! `# berth global ignore=…` / `# hadolint global ignore=…` anywhere silences them in the file.

mod rules;
pub mod shell;

use std::collections::BTreeMap;

use berth_dockerfile::Dockerfile;
use serde::Serialize;

pub use rules::RULES;

/// How much a finding matters, in Hadolint's levels (so its thresholds mean the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Style,
    Info,
    Warning,
    Error,
}

impl Level {
    /// Parses `error`, `warning`, `info` or `style`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" => Self::Error,
            "warning" => Self::Warning,
            "info" => Self::Info,
            "style" => Self::Style,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Style => "style",
        }
    }
}

/// A rule's description.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// berth's id, stable across versions.
    pub id: &'static str,
    pub level: Level,
    /// The Hadolint code it corresponds to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hadolint: Option<&'static str>,
    /// The Trivy misconfiguration check it corresponds to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trivy: Option<&'static str>,
    /// One line: what the rule asks for and why.
    pub rationale: &'static str,
}

impl Rule {
    /// Where the rule is documented, relative to the repository root.
    pub fn doc(&self) -> String {
        format!("docs/lint.md#{}", self.id.to_ascii_lowercase())
    }
}

/// The rule with berth id or Hadolint code `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| {
        r.id.eq_ignore_ascii_case(id) || r.hadolint.is_some_and(|h| h.eq_ignore_ascii_case(id))
    })
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hadolint: Option<&'static str>,
    pub level: Level,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What the user configured (`.berth-lint.toml`).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Rules never reported (berth ids or Hadolint codes).
    pub ignored: Vec<String>,
    /// Levels changed per rule (berth id or Hadolint code).
    pub levels: BTreeMap<String, Level>,
    /// Registries FROM may name; empty means any. `docker.io` covers unqualified names.
    pub trusted_registries: Vec<String>,
}

/// `.berth-lint.toml`, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    severity: BTreeMap<String, String>,
    #[serde(default)]
    trusted_registries: Vec<String>,
    failure_threshold: Option<String>,
}

impl Config {
    /// Parses `.berth-lint.toml`:
    ///
    /// ```toml
    /// ignore = ["DF006", "DL3059"]          # berth ids or Hadolint codes
    /// trusted-registries = ["docker.io", "quay.io"]
    /// failure-threshold = "warning"         # error, warning, info or style
    /// [severity]
    /// DF030 = "warning"
    /// ```
    ///
    /// Returns the config and the failure threshold, if set.
    pub fn parse(text: &str) -> Result<(Self, Option<Level>), String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for id in file.ignore.iter().chain(file.severity.keys()) {
            if rule(id).is_none() {
                return Err(format!("unknown rule {id:?}"));
            }
        }
        let mut levels = BTreeMap::new();
        for (id, level) in &file.severity {
            let l = Level::parse(level)
                .ok_or_else(|| format!("rule {id}: unknown severity {level:?}"))?;
            levels.insert(id.clone(), l);
        }
        let threshold = match &file.failure_threshold {
            Some(t) => {
                Some(Level::parse(t).ok_or_else(|| format!("unknown failure-threshold {t:?}"))?)
            }
            None => None,
        };
        Ok((
            Self {
                ignored: file.ignore,
                levels,
                trusted_registries: file.trusted_registries,
            },
            threshold,
        ))
    }

    fn rule_ignored(&self, r: &Rule) -> bool {
        self.ignored.iter().any(|i| names(r, i))
    }

    fn level(&self, r: &Rule) -> Level {
        self.levels
            .iter()
            .find(|(k, _)| names(r, k))
            .map_or(r.level, |(_, l)| *l)
    }
}

fn names(r: &Rule, id: &str) -> bool {
    r.id.eq_ignore_ascii_case(id) || r.hadolint.is_some_and(|h| h.eq_ignore_ascii_case(id))
}

/// What berth knows about images that a Dockerfile names, for the rules no Dockerfile linter
/// can have: asked for each FROM image; `Some(summary)` when the image's stored scan found
/// critical vulnerabilities.
pub trait ImageFacts {
    fn critical(&self, image: &str) -> Option<String>;
}

/// No image knowledge: the image rules stay silent.
#[derive(Debug)]
pub struct NoImages;

impl ImageFacts for NoImages {
    fn critical(&self, _: &str) -> Option<String> {
        None
    }
}

/// Lints a parsed Dockerfile. `text` is its source (for ignore comments).
pub fn lint(df: &Dockerfile, text: &str, config: &Config, images: &dyn ImageFacts) -> Vec<Finding> {
    let raw = rules::check(df, config, images);
    let lines: Vec<&str> = text.lines().collect();
    let global = global_ignores(&lines);
    let mut out: Vec<Finding> = raw
        .into_iter()
        .filter(|(r, line, _, _)| {
            !config.rule_ignored(r)
                && !global.iter().any(|g| names(r, g))
                && !inline_ignores(&lines, *line).iter().any(|g| names(r, g))
        })
        .map(|(r, line, column, message)| Finding {
            rule: r.id,
            hadolint: r.hadolint,
            level: config.level(r),
            file: df.name.clone(),
            line,
            column,
            message,
        })
        .collect();
    out.sort_by(|a, b| (a.line, a.column, a.rule).cmp(&(b.line, b.column, b.rule)));
    out.dedup();
    out
}

/// The ids after `ignore=` in a pragma comment, if `line` is one (`global` chooses which kind).
fn pragma(line: &str, global: bool) -> Option<Vec<String>> {
    let body = line.trim_start().strip_prefix('#')?.trim_start();
    let rest = body
        .strip_prefix("berth")
        .or_else(|| body.strip_prefix("hadolint"))?
        .trim_start();
    let rest = if global {
        rest.strip_prefix("global")?.trim_start()
    } else {
        rest
    };
    let ids = rest
        .strip_prefix("ignore")?
        .trim_start()
        .strip_prefix('=')?;
    Some(
        ids.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

fn global_ignores(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| pragma(l, true))
        .flatten()
        .collect()
}

/// The ids ignored for the instruction starting at 1-based `line`: pragmas in the comment
/// lines right above it.
fn inline_ignores(lines: &[&str], line: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = line.saturating_sub(1);
    while i > 0 {
        let l = lines.get(i - 1).copied().unwrap_or_default();
        if !l.trim_start().starts_with('#') {
            break;
        }
        out.extend(pragma(l, false).unwrap_or_default());
        i -= 1;
    }
    out
}

/// The findings as SARIF 2.1.0, each located at its file, line and column.
pub fn sarif(findings: &[Finding]) -> serde_json::Value {
    use serde_json::json;
    let mut rules_used: Vec<&Rule> = Vec::new();
    for f in findings {
        if let Some(r) = rule(f.rule)
            && !rules_used.iter().any(|u| u.id == r.id)
        {
            rules_used.push(r);
        }
    }
    let level = crate::report::sarif_level;
    let results: Vec<_> = findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "ruleIndex": rules_used.iter().position(|r| r.id == f.rule),
                "level": level(f.level),
                "message": {"text": f.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file},
                    "region": {"startLine": f.line, "startColumn": f.column},
                }}],
            })
        })
        .collect();
    let rules_json: Vec<_> = rules_used
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": {"text": r.rationale},
                "helpUri": r.doc(),
                "defaultConfiguration": {"level": level(r.level)},
                "properties": {"hadolint": r.hadolint, "trivy": r.trivy},
            })
        })
        .collect();
    crate::report::sarif_log("berth lint", rules_json, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragmas() {
        assert_eq!(
            pragma("# hadolint ignore=DL3008, DL3009", false).unwrap(),
            ["DL3008", "DL3009"]
        );
        assert_eq!(pragma("#berth ignore=DF006", false).unwrap(), ["DF006"]);
        assert!(pragma("# hadolint global ignore=DL3008", false).is_none());
        assert_eq!(
            pragma("# hadolint global ignore=DL3008", true).unwrap(),
            ["DL3008"]
        );
        assert!(pragma("# just a comment", false).is_none());
    }

    #[test]
    fn rule_ids_are_unique_and_documented() {
        let doc = include_str!("../../../../docs/lint.md");
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                RULES[i + 1..].iter().all(|o| o.id != r.id),
                "{} twice",
                r.id
            );
            assert!(
                doc.contains(&format!("## {}", r.id)),
                "{} is not in docs/lint.md",
                r.id
            );
        }
    }
}
