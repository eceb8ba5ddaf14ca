//! The admission policy: rules that `deny` or `warn` when a container is about to be created or
//! started, on what berth knows of it — its image's scan (vulnerabilities, secrets), the audit
//! checks, its user and privileges, and the registry its image comes from.
//!
//! ```toml
//! [[rule]]
//! name = "no-critical"
//! action = "deny"
//! vulnerabilities = "critical"   # at or above this severity
//! fixed-only = true              # only those a fixed version exists for
//!
//! [[rule]]
//! name = "no-root"
//! action = "warn"
//! user-root = true
//! ```
//!
//! A rule matches when any of its conditions does. Conditions: `vulnerabilities` (+
//! `fixed-only`), `secrets`, `audit` (check ids, or `"*"`), `user-root`, `privileged`,
//! `capabilities` (any added), `registries` (the allowed ones: an image from another matches).

use serde::Deserialize;

use crate::audit::AuditFinding;
use crate::severity::Rating;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deny,
    Warn,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    pub name: String,
    pub action: Action,
    #[serde(default)]
    pub vulnerabilities: Option<String>,
    #[serde(default)]
    pub fixed_only: bool,
    #[serde(default)]
    pub secrets: bool,
    #[serde(default)]
    pub audit: Vec<String>,
    #[serde(default)]
    pub user_root: bool,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub capabilities: bool,
    #[serde(default)]
    pub registries: Vec<String>,
}

/// A policy file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    /// Which images are trusted, by registry or repository (see [`crate::trust`]).
    #[serde(default)]
    pub trust: Vec<crate::trust::TrustScope>,
}

/// What the rules need computed (scans and audits are only run when a rule reads them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub vulnerabilities: bool,
    pub secrets: bool,
    pub image_audit: bool,
    pub container_audit: bool,
    /// Anything about the image at all (its user, its registry, or the above): without it,
    /// the container's options are all the rules read.
    pub image: bool,
}

/// A vulnerability as the policy sees it.
#[derive(Debug, Clone)]
pub struct Vuln {
    pub id: String,
    pub package: String,
    pub severity: Rating,
    pub fixed: bool,
}

/// What is known of the container about to start.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub image: String,
    /// The registry of the image's reference (`docker.io` for short names).
    pub registry: String,
    pub vulnerabilities: Vec<Vuln>,
    /// Secret findings, in words.
    pub secrets: Vec<String>,
    pub audit: Vec<AuditFinding>,
    pub user_root: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
}

/// A rule that matched, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub rule: String,
    pub action: Action,
    pub finding: String,
}

impl Policy {
    /// Parses a policy file, checking every rule names a condition and a known severity.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut policy: Policy = toml::from_str(text).map_err(|e| e.to_string())?;
        crate::trust::check_scopes(&mut policy.trust)?;
        for (i, r) in policy.rules.iter().enumerate() {
            if r.name.is_empty() {
                return Err(format!("rule {}: a rule needs a name", i + 1));
            }
            if policy.rules[..i].iter().any(|o| o.name == r.name) {
                return Err(format!("rule {:?} is defined twice", r.name));
            }
            if let Some(s) = &r.vulnerabilities {
                severity(s).ok_or_else(|| format!("rule {:?}: unknown severity {s:?}", r.name))?;
            }
            for id in &r.audit {
                if id != "*" && crate::audit::check(id).is_none() {
                    return Err(format!("rule {:?}: unknown audit check {id:?}", r.name));
                }
            }
            let conditions = r.vulnerabilities.is_some()
                || r.secrets
                || !r.audit.is_empty()
                || r.user_root
                || r.privileged
                || r.capabilities
                || !r.registries.is_empty();
            if !conditions {
                return Err(format!("rule {:?} has no condition", r.name));
            }
        }
        Ok(policy)
    }

    /// The policy in force with no policy file: warnings only, on what needs no scan.
    pub fn default_warnings() -> Self {
        let warn = |name: &str| Rule {
            name: name.into(),
            action: Action::Warn,
            vulnerabilities: None,
            fixed_only: false,
            secrets: false,
            audit: Vec::new(),
            user_root: false,
            privileged: false,
            capabilities: false,
            registries: Vec::new(),
        };
        Self {
            rules: vec![
                Rule {
                    privileged: true,
                    ..warn("privileged")
                },
                Rule {
                    capabilities: true,
                    ..warn("capabilities")
                },
            ],
            trust: Vec::new(),
        }
    }

    /// The facts the rules read.
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        for r in &self.rules {
            n.vulnerabilities |= r.vulnerabilities.is_some();
            n.secrets |= r.secrets;
            n.image |= r.vulnerabilities.is_some()
                || r.secrets
                || !r.audit.is_empty()
                || r.user_root
                || !r.registries.is_empty();
            for id in &r.audit {
                let image = id == "*"
                    || id.to_ascii_uppercase().starts_with("IMG")
                    || crate::audit::check(id).is_some_and(|c| c.id.starts_with("IMG"));
                let container =
                    id == "*" || crate::audit::check(id).is_some_and(|c| c.id.starts_with("CTR"));
                n.image_audit |= image;
                n.container_audit |= container;
            }
        }
        n
    }

    /// Every rule that matches `facts`, in file order.
    pub fn evaluate(&self, facts: &Facts) -> Vec<Decision> {
        let mut out = Vec::new();
        for r in &self.rules {
            if let Some(finding) = matches(r, facts) {
                out.push(Decision {
                    rule: r.name.clone(),
                    action: r.action,
                    finding,
                });
            }
        }
        out
    }
}

fn severity(s: &str) -> Option<Rating> {
    Some(match s.to_ascii_lowercase().as_str() {
        "critical" => Rating::Critical,
        "high" => Rating::High,
        "medium" => Rating::Medium,
        "low" => Rating::Low,
        _ => return None,
    })
}

fn rank(r: Rating) -> u8 {
    match r {
        Rating::Critical => 4,
        Rating::High => 3,
        Rating::Medium => 2,
        Rating::Low => 1,
        _ => 0,
    }
}

fn matches(r: &Rule, f: &Facts) -> Option<String> {
    if let Some(min) = r.vulnerabilities.as_deref().and_then(severity) {
        let hits: Vec<&Vuln> = f
            .vulnerabilities
            .iter()
            .filter(|v| rank(v.severity) >= rank(min) && (!r.fixed_only || v.fixed))
            .collect();
        if !hits.is_empty() {
            let shown: Vec<String> = hits
                .iter()
                .take(3)
                .map(|v| format!("{} in {}", v.id, v.package))
                .collect();
            return Some(format!(
                "image {} has {} {}vulnerabilit{} at or above {} ({}{})",
                f.image,
                hits.len(),
                if r.fixed_only { "fixable " } else { "" },
                if hits.len() == 1 { "y" } else { "ies" },
                r.vulnerabilities
                    .as_deref()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                shown.join(", "),
                if hits.len() > 3 { ", …" } else { "" }
            ));
        }
    }
    if r.secrets && !f.secrets.is_empty() {
        return Some(format!(
            "image {} holds secrets: {}",
            f.image,
            f.secrets.join("; ")
        ));
    }
    if !r.audit.is_empty() {
        let hit = f.audit.iter().find(|a| {
            r.audit
                .iter()
                .any(|id| id == "*" || crate::audit::check(id).is_some_and(|c| c.id == a.check))
        });
        if let Some(a) = hit {
            return Some(format!(
                "audit check {} ({}): {}",
                a.check, a.title, a.detail
            ));
        }
    }
    if r.user_root && f.user_root {
        return Some("the container runs as root".into());
    }
    if r.privileged && f.privileged {
        return Some("the container is privileged".into());
    }
    if r.capabilities && !f.cap_add.is_empty() {
        return Some(format!("capabilities are added: {}", f.cap_add.join(", ")));
    }
    if !r.registries.is_empty() && !r.registries.contains(&f.registry) {
        return Some(format!(
            "image {} comes from {}, which is not in the allowed registries ({})",
            f.image,
            f.registry,
            r.registries.join(", ")
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_their_facts() {
        let p = Policy::parse(
            "[[rule]]\nname = \"crit\"\naction = \"deny\"\nvulnerabilities = \"critical\"\nfixed-only = true\n\
             [[rule]]\nname = \"root\"\naction = \"warn\"\nuser-root = true\n\
             [[rule]]\nname = \"reg\"\naction = \"deny\"\nregistries = [\"quay.io\"]\n",
        )
        .unwrap();
        assert_eq!(
            p.needs(),
            Needs {
                vulnerabilities: true,
                image: true,
                ..Default::default()
            }
        );
        let mut f = Facts {
            image: "x".into(),
            registry: "quay.io".into(),
            ..Default::default()
        };
        assert!(p.evaluate(&f).is_empty());
        f.vulnerabilities.push(Vuln {
            id: "CVE-1".into(),
            package: "openssl".into(),
            severity: Rating::Critical,
            fixed: false,
        });
        assert!(p.evaluate(&f).is_empty(), "not fixable");
        f.vulnerabilities[0].fixed = true;
        f.user_root = true;
        f.registry = "docker.io".into();
        let d = p.evaluate(&f);
        assert_eq!(
            d.iter()
                .map(|d| (d.rule.as_str(), d.action))
                .collect::<Vec<_>>(),
            [
                ("crit", Action::Deny),
                ("root", Action::Warn),
                ("reg", Action::Deny)
            ]
        );
        assert!(
            d[0].finding.contains("CVE-1 in openssl"),
            "{}",
            d[0].finding
        );
    }

    #[test]
    fn bad_policies_are_refused() {
        for bad in [
            "[[rule]]\nname = \"a\"\naction = \"deny\"\n",
            "[[rule]]\nname = \"a\"\naction = \"block\"\nsecrets = true\n",
            "[[rule]]\nname = \"a\"\naction = \"deny\"\nvulnerabilities = \"awful\"\n",
            "[[rule]]\nname = \"a\"\naction = \"deny\"\naudit = [\"NOPE\"]\n",
            "[[rule]]\nname = \"a\"\naction = \"deny\"\nsecrets = true\n[[rule]]\nname = \"a\"\naction = \"warn\"\nsecrets = true\n",
            "[[rule]]\nname = \"a\"\naction = \"deny\"\nunsigned = true\n",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }
}
