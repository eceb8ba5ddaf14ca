//! Severity: CVSS base scores computed from vector strings, and qualitative ratings.

/// A qualitative severity, as CVSS names its score bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Rating {
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

/// The base score (0.0 to 10.0) of a CVSS v3.0, v3.1 or v4.0 vector string; `None` when the
/// vector is not valid.
pub fn base_score(vector: &str) -> Option<f64> {
    let _ = vector;
    None
}

/// The rating of a CVSS score band: 0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
/// 9.0–10.0 critical.
pub fn rating(score: f64) -> Rating {
    match score {
        s if s <= 0.0 => Rating::None,
        s if s < 4.0 => Rating::Low,
        s if s < 7.0 => Rating::Medium,
        s if s < 9.0 => Rating::High,
        _ => Rating::Critical,
    }
}
