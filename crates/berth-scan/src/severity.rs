//! Severity: CVSS base scores computed from vector strings, and qualitative ratings.
//!
//! [`base_score`] scores vector strings of the Common Vulnerability Scoring System as FIRST
//! specifies it:
//!
//! - CVSS v3.0 and v3.1 (the specifications' Base Metrics Equations): the Base Score formula
//!   with its Roundup function.
//! - CVSS v4.0 (the specification's scoring section): the MacroVector lookup and the
//!   severity-distance interpolation of FIRST's reference calculator, with its table of
//!   MacroVector scores and its tables of highest-severity vectors and MacroVector depths.
//!
//! [`rating`] and [`rating_from_text`] give the qualitative severity of a score or of a word an
//! advisory source uses.

/// A qualitative severity, as CVSS names its score bands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Rating {
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

/// The score (0.0 to 10.0, one decimal) of a CVSS v3.0, v3.1 or v4.0 vector string; `None` when
/// the vector is not valid.
///
/// A valid vector is the version prefix `CVSS:3.0/`, `CVSS:3.1/` or `CVSS:4.0/` followed by
/// `/`-separated `metric:value` pairs, spelled (case included) as the specification of that
/// version spells them. Every base metric must be present; any other metric of that version may
/// be present; a metric may not occur twice, and unknown metrics or values, empty pairs, and a
/// trailing `/` make the vector invalid. Metrics are accepted in any order (v4.0 only says that
/// vectors out of order "may be rejected").
///
/// - v3.0, v3.1: the Base Score. Temporal and environmental metrics are checked for validity
///   but do not change the result.
/// - v4.0: the score FIRST's calculator gives for the whole vector. With base metrics alone
///   that is CVSS-B; Exploit Maturity (`E`) and the environmental metrics (`CR`, `IR`, `AR`
///   and the modified base metrics `MAV` … `MSA`) are applied when given, giving CVSS-BT, -BE or
///   -BTE. Metrics not given, or given as `X` (Not Defined), take the specification's defaults:
///   `E` Attacked, `CR`/`IR`/`AR` High, each modified metric the value of its base metric.
///   Supplemental metrics (`S`, `AU`, `R`, `V`, `RE`, `U`) are checked for validity and, as the
///   specification says, do not change the score.
pub fn base_score(vector: &str) -> Option<f64> {
    if let Some(body) = vector.strip_prefix("CVSS:3.1/") {
        v3::score(body)
    } else if let Some(body) = vector.strip_prefix("CVSS:3.0/") {
        v3::score(body)
    } else if let Some(body) = vector.strip_prefix("CVSS:4.0/") {
        v4::score(body)
    } else {
        None
    }
}

/// The rating of a CVSS score band: 0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
/// 9.0–10.0 critical. A score that is not a number is [`Rating::Unknown`].
pub fn rating(score: f64) -> Rating {
    match score {
        s if s.is_nan() => Rating::Unknown,
        s if s <= 0.0 => Rating::None,
        s if s < 4.0 => Rating::Low,
        s if s < 7.0 => Rating::Medium,
        s if s < 9.0 => Rating::High,
        _ => Rating::Critical,
    }
}

/// The rating named by a qualitative severity word of an advisory source, ignoring case and
/// surrounding whitespace: the CVSS band names (`none`, `low`, `medium`, `high`, `critical`),
/// `moderate` (GitHub, Red Hat) for medium, `important` (Red Hat) for high, and `negligible`
/// (Ubuntu) and `unimportant` (Debian) for low. Any other text is [`Rating::Unknown`].
pub fn rating_from_text(text: &str) -> Rating {
    const WORDS: [(&str, Rating); 9] = [
        ("none", Rating::None),
        ("negligible", Rating::Low),
        ("unimportant", Rating::Low),
        ("low", Rating::Low),
        ("medium", Rating::Medium),
        ("moderate", Rating::Medium),
        ("important", Rating::High),
        ("high", Rating::High),
        ("critical", Rating::Critical),
    ];
    let text = text.trim();
    WORDS
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(text))
        .map_or(Rating::Unknown, |(_, rating)| *rating)
}

/// A metric a vector may carry: its abbreviation and the values it may take.
type MetricSpec = (&'static str, &'static [&'static str]);

/// The values of the `/`-separated `metric:value` pairs of `body`, one slot per entry of
/// `metrics` (`None` for a metric that is absent); `None` when a pair is malformed, names a
/// metric or value not in `metrics`, or repeats a metric.
fn parse_metrics<const N: usize>(
    body: &str,
    metrics: &[MetricSpec; N],
) -> Option<[Option<&'static str>; N]> {
    let mut values = [None; N];
    for pair in body.split('/') {
        let (name, value) = pair.split_once(':')?;
        let (slot, (_, allowed)) = metrics.iter().enumerate().find(|(_, (n, _))| *n == name)?;
        let value = allowed.iter().find(|v| **v == value)?;
        if values[slot].replace(*value).is_some() {
            return None;
        }
    }
    Some(values)
}

/// The entry of `table` for `value`.
fn lookup<T: Copy>(table: &[(&str, T)], value: &str) -> Option<T> {
    table.iter().find(|(v, _)| *v == value).map(|(_, t)| *t)
}

/// CVSS v3.0 and v3.1 Base Scores, by the specifications' Base Metrics Equations and metric
/// values. The two versions have the same base metrics, weights and Base Score formula.
mod v3 {
    use super::{MetricSpec, lookup, parse_metrics};

    /// The metrics of a v3.x vector: the eight base metrics, then the temporal and environmental
    /// ones (which may be absent).
    const METRICS: [MetricSpec; 22] = [
        ("AV", &["N", "A", "L", "P"]),
        ("AC", &["L", "H"]),
        ("PR", &["N", "L", "H"]),
        ("UI", &["N", "R"]),
        ("S", &["U", "C"]),
        ("C", &["H", "L", "N"]),
        ("I", &["H", "L", "N"]),
        ("A", &["H", "L", "N"]),
        ("E", &["X", "U", "P", "F", "H"]),
        ("RL", &["X", "O", "T", "W", "U"]),
        ("RC", &["X", "U", "R", "C"]),
        ("CR", &["X", "L", "M", "H"]),
        ("IR", &["X", "L", "M", "H"]),
        ("AR", &["X", "L", "M", "H"]),
        ("MAV", &["X", "N", "A", "L", "P"]),
        ("MAC", &["X", "L", "H"]),
        ("MPR", &["X", "N", "L", "H"]),
        ("MUI", &["X", "N", "R"]),
        ("MS", &["X", "U", "C"]),
        ("MC", &["X", "N", "L", "H"]),
        ("MI", &["X", "N", "L", "H"]),
        ("MA", &["X", "N", "L", "H"]),
    ];

    const ATTACK_VECTOR: [(&str, f64); 4] = [("N", 0.85), ("A", 0.62), ("L", 0.55), ("P", 0.2)];
    const ATTACK_COMPLEXITY: [(&str, f64); 2] = [("L", 0.77), ("H", 0.44)];
    /// Privileges Required when Scope is Unchanged.
    const PRIVILEGES_REQUIRED: [(&str, f64); 3] = [("N", 0.85), ("L", 0.62), ("H", 0.27)];
    /// Privileges Required when Scope is Changed: requiring privileges lowers the score less
    /// when the impact reaches beyond the vulnerable component.
    const PRIVILEGES_REQUIRED_SCOPE_CHANGED: [(&str, f64); 3] =
        [("N", 0.85), ("L", 0.68), ("H", 0.5)];
    const USER_INTERACTION: [(&str, f64); 2] = [("N", 0.85), ("R", 0.62)];
    /// Confidentiality, Integrity and Availability impacts.
    const IMPACT: [(&str, f64); 3] = [("H", 0.56), ("L", 0.22), ("N", 0.0)];

    /// The Base Score of the metric pairs after the `CVSS:3.x/` prefix.
    pub(super) fn score(body: &str) -> Option<f64> {
        let [
            Some(av),
            Some(ac),
            Some(pr),
            Some(ui),
            Some(s),
            Some(c),
            Some(i),
            Some(a),
            ..,
        ] = parse_metrics(body, &METRICS)?
        else {
            return None;
        };
        let scope_changed = s == "C";
        let pr_weights = if scope_changed {
            &PRIVILEGES_REQUIRED_SCOPE_CHANGED
        } else {
            &PRIVILEGES_REQUIRED
        };

        // Impact Sub-Score (ISS), Impact and Exploitability as the equations define them.
        let iss = 1.0
            - (1.0 - lookup(&IMPACT, c)?)
                * (1.0 - lookup(&IMPACT, i)?)
                * (1.0 - lookup(&IMPACT, a)?);
        let impact = if scope_changed {
            7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
        } else {
            6.42 * iss
        };
        let exploitability = 8.22
            * lookup(&ATTACK_VECTOR, av)?
            * lookup(&ATTACK_COMPLEXITY, ac)?
            * lookup(pr_weights, pr)?
            * lookup(&USER_INTERACTION, ui)?;

        if impact <= 0.0 {
            return Some(0.0);
        }
        let sum = impact + exploitability;
        let sum = if scope_changed { 1.08 * sum } else { sum };
        Some(roundup(sum.min(10.0)))
    }

    /// The smallest number with one decimal that is equal to or higher than `x`, computed as
    /// v3.1 Appendix A defines it: through an integer of hundred-thousandths, so that
    /// floating-point error just above a tenth (4.000000000000001) does not round up. v3.0
    /// defines Roundup as the plain mathematical ceiling to one decimal; the v3.1 definition
    /// exists to compute exactly that despite floating-point error, and the two agree on all
    /// 2,592 combinations of base metric values (checked against an exact decimal
    /// implementation of the v3.0 definition).
    fn roundup(x: f64) -> f64 {
        let int_input = (x * 100_000.0).round() as i64;
        if int_input % 10_000 == 0 {
            int_input as f64 / 100_000.0
        } else {
            (int_input / 10_000 + 1) as f64 / 10.0
        }
    }

    #[cfg(test)]
    mod tests {
        use super::roundup;

        #[test]
        fn roundup_is_the_ceiling_to_one_decimal() {
            assert_eq!(roundup(4.02), 4.1);
            assert_eq!(roundup(4.0), 4.0);
            assert_eq!(roundup(4.000_000_000_000_001), 4.0);
            assert_eq!(roundup(0.01), 0.1);
            assert_eq!(roundup(9.81), 9.9);
            assert_eq!(roundup(10.0), 10.0);
        }
    }
}

/// CVSS v4.0 scores, computed as the specification's scoring section and FIRST's reference
/// calculator do.
///
/// The specification groups vectors into MacroVectors: six equivalence classes EQ1–EQ6, each
/// a level from 0 (most severe) to 1 or 2 over a few metrics. Experts scored each MacroVector; a vector's
/// score is its MacroVector's score lowered, for each EQ, in proportion to how far the vector
/// lies from the MacroVector's highest-severity vector towards the next lower MacroVector.
///
/// The calculator measures those distances in steps of 0.1 in floating point and rounds with a
/// small epsilon added so that values such as 1.4499999999999993 round to 1.5. Here the
/// distances are whole steps and the interpolation is exact rational arithmetic in integers,
/// which is what the epsilon approximates: every interpolated score is a fraction with
/// denominator at most 42,000, so one that is not exactly halfway between two tenths is at
/// least 1/84,000 away from halfway, far more than the epsilon of 1/1,000,000.
mod v4 {
    use super::{MetricSpec, lookup, parse_metrics};

    /// The metrics of a v4.0 vector: the eleven base metrics, then the threat, environmental and
    /// supplemental ones (which may be absent).
    const METRICS: [MetricSpec; 32] = [
        ("AV", &["N", "A", "L", "P"]),
        ("AC", &["L", "H"]),
        ("AT", &["N", "P"]),
        ("PR", &["N", "L", "H"]),
        ("UI", &["N", "P", "A"]),
        ("VC", &["H", "L", "N"]),
        ("VI", &["H", "L", "N"]),
        ("VA", &["H", "L", "N"]),
        ("SC", &["H", "L", "N"]),
        ("SI", &["H", "L", "N"]),
        ("SA", &["H", "L", "N"]),
        ("E", &["X", "A", "P", "U"]),
        ("CR", &["X", "H", "M", "L"]),
        ("IR", &["X", "H", "M", "L"]),
        ("AR", &["X", "H", "M", "L"]),
        ("MAV", &["X", "N", "A", "L", "P"]),
        ("MAC", &["X", "L", "H"]),
        ("MAT", &["X", "N", "P"]),
        ("MPR", &["X", "N", "L", "H"]),
        ("MUI", &["X", "N", "P", "A"]),
        ("MVC", &["X", "H", "L", "N"]),
        ("MVI", &["X", "H", "L", "N"]),
        ("MVA", &["X", "H", "L", "N"]),
        ("MSC", &["X", "H", "L", "N"]),
        ("MSI", &["X", "S", "H", "L", "N"]),
        ("MSA", &["X", "S", "H", "L", "N"]),
        ("S", &["X", "N", "P"]),
        ("AU", &["X", "N", "Y"]),
        ("R", &["X", "A", "U", "I"]),
        ("V", &["X", "D", "C"]),
        ("RE", &["X", "L", "M", "H"]),
        ("U", &["X", "Clear", "Green", "Amber", "Red"]),
    ];

    /// The scores of the 270 MacroVectors, keyed by their EQ1–EQ6 levels and sorted by key, as
    /// FIRST's calculator publishes them (`cvss_lookup.js`). EQ3 level 2 (no high vulnerable
    /// system impact) implies EQ6 level 1, so the keys `xx2xx0` do not exist.
    #[rustfmt::skip]
    const MACRO_VECTOR_SCORES: [(&str, f64); 270] = [
    ("000000", 10.0), ("000001", 9.9), ("000010", 9.8), ("000011", 9.5), ("000020", 9.5), ("000021", 9.2),
    ("000100", 10.0), ("000101", 9.6), ("000110", 9.3), ("000111", 8.7), ("000120", 9.1), ("000121", 8.1),
    ("000200", 9.3), ("000201", 9.0), ("000210", 8.9), ("000211", 8.0), ("000220", 8.1), ("000221", 6.8),
    ("001000", 9.8), ("001001", 9.5), ("001010", 9.5), ("001011", 9.2), ("001020", 9.0), ("001021", 8.4),
    ("001100", 9.3), ("001101", 9.2), ("001110", 8.9), ("001111", 8.1), ("001120", 8.1), ("001121", 6.5),
    ("001200", 8.8), ("001201", 8.0), ("001210", 7.8), ("001211", 7.0), ("001220", 6.9), ("001221", 4.8),
    ("002001", 9.2), ("002011", 8.2), ("002021", 7.2),
    ("002101", 7.9), ("002111", 6.9), ("002121", 5.0),
    ("002201", 6.9), ("002211", 5.5), ("002221", 2.7),
    ("010000", 9.9), ("010001", 9.7), ("010010", 9.5), ("010011", 9.2), ("010020", 9.2), ("010021", 8.5),
    ("010100", 9.5), ("010101", 9.1), ("010110", 9.0), ("010111", 8.3), ("010120", 8.4), ("010121", 7.1),
    ("010200", 9.2), ("010201", 8.1), ("010210", 8.2), ("010211", 7.1), ("010220", 7.2), ("010221", 5.3),
    ("011000", 9.5), ("011001", 9.3), ("011010", 9.2), ("011011", 8.5), ("011020", 8.5), ("011021", 7.3),
    ("011100", 9.2), ("011101", 8.2), ("011110", 8.0), ("011111", 7.2), ("011120", 7.0), ("011121", 5.9),
    ("011200", 8.4), ("011201", 7.0), ("011210", 7.1), ("011211", 5.2), ("011220", 5.0), ("011221", 3.0),
    ("012001", 8.6), ("012011", 7.5), ("012021", 5.2),
    ("012101", 7.1), ("012111", 5.2), ("012121", 2.9),
    ("012201", 6.3), ("012211", 2.9), ("012221", 1.7),
    ("100000", 9.8), ("100001", 9.5), ("100010", 9.4), ("100011", 8.7), ("100020", 9.1), ("100021", 8.1),
    ("100100", 9.4), ("100101", 8.9), ("100110", 8.6), ("100111", 7.4), ("100120", 7.7), ("100121", 6.4),
    ("100200", 8.7), ("100201", 7.5), ("100210", 7.4), ("100211", 6.3), ("100220", 6.3), ("100221", 4.9),
    ("101000", 9.4), ("101001", 8.9), ("101010", 8.8), ("101011", 7.7), ("101020", 7.6), ("101021", 6.7),
    ("101100", 8.6), ("101101", 7.6), ("101110", 7.4), ("101111", 5.8), ("101120", 5.9), ("101121", 5.0),
    ("101200", 7.2), ("101201", 5.7), ("101210", 5.7), ("101211", 5.2), ("101220", 5.2), ("101221", 2.5),
    ("102001", 8.3), ("102011", 7.0), ("102021", 5.4),
    ("102101", 6.5), ("102111", 5.8), ("102121", 2.6),
    ("102201", 5.3), ("102211", 2.1), ("102221", 1.3),
    ("110000", 9.5), ("110001", 9.0), ("110010", 8.8), ("110011", 7.6), ("110020", 7.6), ("110021", 7.0),
    ("110100", 9.0), ("110101", 7.7), ("110110", 7.5), ("110111", 6.2), ("110120", 6.1), ("110121", 5.3),
    ("110200", 7.7), ("110201", 6.6), ("110210", 6.8), ("110211", 5.9), ("110220", 5.2), ("110221", 3.0),
    ("111000", 8.9), ("111001", 7.8), ("111010", 7.6), ("111011", 6.7), ("111020", 6.2), ("111021", 5.8),
    ("111100", 7.4), ("111101", 5.9), ("111110", 5.7), ("111111", 5.7), ("111120", 4.7), ("111121", 2.3),
    ("111200", 6.1), ("111201", 5.2), ("111210", 5.7), ("111211", 2.9), ("111220", 2.4), ("111221", 1.6),
    ("112001", 7.1), ("112011", 5.9), ("112021", 3.0),
    ("112101", 5.8), ("112111", 2.6), ("112121", 1.5),
    ("112201", 2.3), ("112211", 1.3), ("112221", 0.6),
    ("200000", 9.3), ("200001", 8.7), ("200010", 8.6), ("200011", 7.2), ("200020", 7.5), ("200021", 5.8),
    ("200100", 8.6), ("200101", 7.4), ("200110", 7.4), ("200111", 6.1), ("200120", 5.6), ("200121", 3.4),
    ("200200", 7.0), ("200201", 5.4), ("200210", 5.2), ("200211", 4.0), ("200220", 4.0), ("200221", 2.2),
    ("201000", 8.5), ("201001", 7.5), ("201010", 7.4), ("201011", 5.5), ("201020", 6.2), ("201021", 5.1),
    ("201100", 7.2), ("201101", 5.7), ("201110", 5.5), ("201111", 4.1), ("201120", 4.6), ("201121", 1.9),
    ("201200", 5.3), ("201201", 3.6), ("201210", 3.4), ("201211", 1.9), ("201220", 1.9), ("201221", 0.8),
    ("202001", 6.4), ("202011", 5.1), ("202021", 2.0),
    ("202101", 4.7), ("202111", 2.1), ("202121", 1.1),
    ("202201", 2.4), ("202211", 0.9), ("202221", 0.4),
    ("210000", 8.8), ("210001", 7.5), ("210010", 7.3), ("210011", 5.3), ("210020", 6.0), ("210021", 5.0),
    ("210100", 7.3), ("210101", 5.5), ("210110", 5.9), ("210111", 4.0), ("210120", 4.1), ("210121", 2.0),
    ("210200", 5.4), ("210201", 4.3), ("210210", 4.5), ("210211", 2.2), ("210220", 2.0), ("210221", 1.1),
    ("211000", 7.5), ("211001", 5.5), ("211010", 5.8), ("211011", 4.5), ("211020", 4.0), ("211021", 2.1),
    ("211100", 6.1), ("211101", 5.1), ("211110", 4.8), ("211111", 1.8), ("211120", 2.0), ("211121", 0.9),
    ("211200", 4.6), ("211201", 1.8), ("211210", 1.7), ("211211", 0.7), ("211220", 0.8), ("211221", 0.2),
    ("212001", 5.3), ("212011", 2.4), ("212021", 1.4),
    ("212101", 2.4), ("212111", 1.2), ("212121", 0.5),
    ("212201", 1.0), ("212211", 0.3), ("212221", 0.1),
    ];

    /// The severity level of each metric value that enters the distance computation: 0 for the
    /// most severe value, one more for each less severe value, as the calculator orders them.
    const ATTACK_VECTOR: [(&str, i64); 4] = [("N", 0), ("A", 1), ("L", 2), ("P", 3)];
    const PRIVILEGES_REQUIRED: [(&str, i64); 3] = [("N", 0), ("L", 1), ("H", 2)];
    const USER_INTERACTION: [(&str, i64); 3] = [("N", 0), ("P", 1), ("A", 2)];
    const ATTACK_COMPLEXITY: [(&str, i64); 2] = [("L", 0), ("H", 1)];
    const ATTACK_REQUIREMENTS: [(&str, i64); 2] = [("N", 0), ("P", 1)];
    /// VC, VI, VA.
    const VULNERABLE_IMPACT: [(&str, i64); 3] = [("H", 0), ("L", 1), ("N", 2)];
    /// SC, which has no Safety value; the calculator's levels for it start at 1.
    const SUBSEQUENT_CONFIDENTIALITY: [(&str, i64); 3] = [("H", 1), ("L", 2), ("N", 3)];
    /// SI, SA, and MSI, MSA with their extra value Safety (`S`).
    const SUBSEQUENT_INTEGRITY_AVAILABILITY: [(&str, i64); 4] =
        [("S", 0), ("H", 1), ("L", 2), ("N", 3)];
    /// CR, IR, AR.
    const REQUIREMENT: [(&str, i64); 3] = [("H", 0), ("M", 1), ("L", 2)];

    /// A common multiple of every MacroVector depth, so that interpolation stays in integers.
    const DEPTH_MULTIPLE: i64 = 840;

    /// The score of the metric pairs after the `CVSS:4.0/` prefix.
    pub(super) fn score(body: &str) -> Option<f64> {
        let [
            Some(av),
            Some(ac),
            Some(at),
            Some(pr),
            Some(ui),
            Some(vc),
            Some(vi),
            Some(va),
            Some(sc),
            Some(si),
            Some(sa),
            e,
            cr,
            ir,
            ar,
            mav,
            mac,
            mat,
            mpr,
            mui,
            mvc,
            mvi,
            mva,
            msc,
            msi,
            msa,
            ..,
        ] = parse_metrics(body, &METRICS)?
        else {
            return None;
        };
        Effective {
            av: defined_or(mav, av),
            ac: defined_or(mac, ac),
            at: defined_or(mat, at),
            pr: defined_or(mpr, pr),
            ui: defined_or(mui, ui),
            vc: defined_or(mvc, vc),
            vi: defined_or(mvi, vi),
            va: defined_or(mva, va),
            sc: defined_or(msc, sc),
            si: defined_or(msi, si),
            sa: defined_or(msa, sa),
            e: defined_or(e, "A"),
            cr: defined_or(cr, "H"),
            ir: defined_or(ir, "H"),
            ar: defined_or(ar, "H"),
        }
        .score()
    }

    /// `value` unless it is absent or Not Defined (`X`), else `default`.
    fn defined_or(value: Option<&'static str>, default: &'static str) -> &'static str {
        match value {
            Some(v) if v != "X" => v,
            _ => default,
        }
    }

    /// The values that enter the score, after defaults and modified metrics are applied: each
    /// base metric is replaced by its modified metric when that is defined, Exploit Maturity
    /// defaults to Attacked and the security requirements to High.
    struct Effective {
        av: &'static str,
        ac: &'static str,
        at: &'static str,
        pr: &'static str,
        ui: &'static str,
        vc: &'static str,
        vi: &'static str,
        va: &'static str,
        sc: &'static str,
        si: &'static str,
        sa: &'static str,
        e: &'static str,
        cr: &'static str,
        ir: &'static str,
        ar: &'static str,
    }

    impl Effective {
        /// The levels of EQ1 to EQ6, as the specification's equivalence sets define them.
        fn macro_vector(&self) -> [u8; 6] {
            let network = self.av == "N";
            let no_privileges = self.pr == "N";
            let no_interaction = self.ui == "N";
            let eq1 = if network && no_privileges && no_interaction {
                0
            } else if (network || no_privileges || no_interaction) && self.av != "P" {
                1
            } else {
                2
            };
            let eq2 = if self.ac == "L" && self.at == "N" {
                0
            } else {
                1
            };
            let eq3 = if self.vc == "H" && self.vi == "H" {
                0
            } else if self.vc == "H" || self.vi == "H" || self.va == "H" {
                1
            } else {
                2
            };
            let eq4 = if self.si == "S" || self.sa == "S" {
                0
            } else if self.sc == "H" || self.si == "H" || self.sa == "H" {
                1
            } else {
                2
            };
            let eq5 = match self.e {
                "A" => 0,
                "P" => 1,
                _ => 2,
            };
            let eq6 = if (self.cr == "H" && self.vc == "H")
                || (self.ir == "H" && self.vi == "H")
                || (self.ar == "H" && self.va == "H")
            {
                0
            } else {
                1
            };
            [eq1, eq2, eq3, eq4, eq5, eq6]
        }

        /// The score: the MacroVector's score, less the mean over the EQs that have a next lower
        /// MacroVector of (score difference to it) × (severity distance of this vector from the
        /// MacroVector's highest-severity vector) / (depth of the MacroVector). A vector without
        /// any vulnerable or subsequent system impact scores 0.
        fn score(&self) -> Option<f64> {
            let impacts = [self.vc, self.vi, self.va, self.sc, self.si, self.sa];
            if impacts.iter().all(|v| *v == "N") {
                return Some(0.0);
            }

            let macro_vector = self.macro_vector();
            let [eq1, eq2, eq3, eq4, eq5, eq6] = macro_vector;
            let value = macro_vector_score(macro_vector)?;
            let lowered = |eq: usize, level: u8| {
                let mut lower = macro_vector;
                lower[eq] = level;
                macro_vector_score(lower)
            };
            // EQ3 and EQ6 are stepped down together: from 00 to the higher scoring of 01 and
            // 10, from 10 to 11, and otherwise by one EQ3 level (01 to 11, 11 to 21).
            let lower_eq3eq6 = match (eq3, eq6) {
                (0, 0) => lowered(5, 1).max(lowered(2, 1)),
                (1, 0) => lowered(5, 1),
                _ => lowered(2, eq3 + 1),
            };

            let (eq1_maxes, eq1_depth) = eq1_class(eq1);
            let (eq2_maxes, eq2_depth) = eq2_class(eq2);
            let (eq3eq6_maxes, eq3eq6_depth) = eq3eq6_class(eq3, eq6);
            let (eq4_maxes, eq4_depth) = eq4_class(eq4);
            let eq1_levels = [
                lookup(&ATTACK_VECTOR, self.av)?,
                lookup(&PRIVILEGES_REQUIRED, self.pr)?,
                lookup(&USER_INTERACTION, self.ui)?,
            ];
            let eq2_levels = [
                lookup(&ATTACK_COMPLEXITY, self.ac)?,
                lookup(&ATTACK_REQUIREMENTS, self.at)?,
            ];
            let eq3eq6_levels = [
                lookup(&VULNERABLE_IMPACT, self.vc)?,
                lookup(&VULNERABLE_IMPACT, self.vi)?,
                lookup(&VULNERABLE_IMPACT, self.va)?,
                lookup(&REQUIREMENT, self.cr)?,
                lookup(&REQUIREMENT, self.ir)?,
                lookup(&REQUIREMENT, self.ar)?,
            ];
            let eq4_levels = [
                lookup(&SUBSEQUENT_CONFIDENTIALITY, self.sc)?,
                lookup(&SUBSEQUENT_INTEGRITY_AVAILABILITY, self.si)?,
                lookup(&SUBSEQUENT_INTEGRITY_AVAILABILITY, self.sa)?,
            ];

            // (score of the next lower MacroVector, severity distance, depth) per EQ. EQ5 is a
            // single metric, so every vector is at distance 0 from its level's highest.
            let steps = [
                (
                    lowered(0, eq1 + 1),
                    severity_distance(eq1_levels, eq1_maxes)?,
                    eq1_depth,
                ),
                (
                    lowered(1, eq2 + 1),
                    severity_distance(eq2_levels, eq2_maxes)?,
                    eq2_depth,
                ),
                (
                    lower_eq3eq6,
                    severity_distance(eq3eq6_levels, eq3eq6_maxes)?,
                    eq3eq6_depth,
                ),
                (
                    lowered(3, eq4 + 1),
                    severity_distance(eq4_levels, eq4_maxes)?,
                    eq4_depth,
                ),
                (lowered(4, eq5 + 1), 0, 1),
            ];

            // Scores are in tenths; `reduction` is the sum of the proportional reductions in
            // tenths times DEPTH_MULTIPLE.
            let mut existing = 0;
            let mut reduction = 0;
            for (lower, distance, depth) in steps {
                if let Some(lower) = lower {
                    existing += 1;
                    reduction += (value - lower) * distance * (DEPTH_MULTIPLE / depth);
                }
            }
            if existing == 0 {
                return Some(value as f64 / 10.0);
            }
            // value - reduction / (DEPTH_MULTIPLE × existing), rounded half up to a whole
            // number of tenths and kept within 0.0 to 10.0.
            let denominator = DEPTH_MULTIPLE * existing;
            let scaled = value * denominator - reduction;
            let tenths = (2 * scaled + denominator)
                .div_euclid(2 * denominator)
                .clamp(0, 100);
            Some(tenths as f64 / 10.0)
        }
    }

    /// The score of a MacroVector in tenths; `None` if no such MacroVector exists.
    fn macro_vector_score(levels: [u8; 6]) -> Option<i64> {
        let key = levels.map(|level| b'0' + level);
        let index = MACRO_VECTOR_SCORES
            .binary_search_by(|(k, _)| k.as_bytes().cmp(&key[..]))
            .ok()?;
        let (_, score) = MACRO_VECTOR_SCORES.get(index)?;
        Some((score * 10.0).round() as i64)
    }

    /// The severity distance, in steps, of a vector's `levels` from the first of the highest-
    /// severity vectors `maxes` that is at least as severe in every metric; `None` if none is.
    fn severity_distance<const N: usize>(levels: [i64; N], maxes: &[[i64; N]]) -> Option<i64> {
        let max = maxes
            .iter()
            .find(|max| levels.iter().zip(max.iter()).all(|(l, m)| l >= m))?;
        Some(levels.iter().zip(max).map(|(l, m)| l - m).sum())
    }

    /// The highest-severity vectors of an EQ1 level as (AV, PR, UI) levels, and the level's
    /// depth (its largest severity distance plus one).
    fn eq1_class(level: u8) -> (&'static [[i64; 3]], i64) {
        match level {
            // AV:N/PR:N/UI:N
            0 => (&[[0, 0, 0]], 1),
            // AV:A/PR:N/UI:N, AV:N/PR:L/UI:N, AV:N/PR:N/UI:P
            1 => (&[[1, 0, 0], [0, 1, 0], [0, 0, 1]], 4),
            // AV:P/PR:N/UI:N, AV:A/PR:L/UI:P
            _ => (&[[3, 0, 0], [1, 1, 1]], 5),
        }
    }

    /// The highest-severity vectors of an EQ2 level as (AC, AT) levels, and its depth.
    fn eq2_class(level: u8) -> (&'static [[i64; 2]], i64) {
        match level {
            // AC:L/AT:N
            0 => (&[[0, 0]], 1),
            // AC:H/AT:N, AC:L/AT:P
            _ => (&[[1, 0], [0, 1]], 2),
        }
    }

    /// The highest-severity vectors of an EQ3 and EQ6 level pair as (VC, VI, VA, CR, IR, AR)
    /// levels, and its depth.
    fn eq3eq6_class(eq3: u8, eq6: u8) -> (&'static [[i64; 6]], i64) {
        match (eq3, eq6) {
            // VC:H/VI:H/VA:H/CR:H/IR:H/AR:H
            (0, 0) => (&[[0, 0, 0, 0, 0, 0]], 7),
            // VC:H/VI:H/VA:L/CR:M/IR:M/AR:H, VC:H/VI:H/VA:H/CR:M/IR:M/AR:M
            (0, _) => (&[[0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]], 6),
            // VC:L/VI:H/VA:H/CR:H/IR:H/AR:H, VC:H/VI:L/VA:H/CR:H/IR:H/AR:H
            (1, 0) => (&[[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]], 8),
            // VC:L/VI:H/VA:L/CR:H/IR:M/AR:H, VC:L/VI:H/VA:H/CR:H/IR:M/AR:M,
            // VC:H/VI:L/VA:H/CR:M/IR:H/AR:M, VC:H/VI:L/VA:L/CR:M/IR:H/AR:H,
            // VC:L/VI:L/VA:H/CR:H/IR:H/AR:M
            (1, _) => (
                &[
                    [1, 0, 1, 0, 1, 0],
                    [1, 0, 0, 0, 1, 1],
                    [0, 1, 0, 1, 0, 1],
                    [0, 1, 1, 1, 0, 0],
                    [1, 1, 0, 0, 0, 1],
                ],
                8,
            ),
            // EQ3 level 2, which implies EQ6 level 1: VC:L/VI:L/VA:L/CR:H/IR:H/AR:H
            _ => (&[[1, 1, 1, 0, 0, 0]], 10),
        }
    }

    /// The highest-severity vectors of an EQ4 level as (SC, SI, SA) levels, and its depth.
    fn eq4_class(level: u8) -> (&'static [[i64; 3]], i64) {
        match level {
            // SC:H/SI:S/SA:S
            0 => (&[[1, 0, 0]], 6),
            // SC:H/SI:H/SA:H
            1 => (&[[1, 1, 1]], 5),
            // SC:L/SI:L/SA:L
            _ => (&[[2, 2, 2]], 4),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn macro_vector_scores_are_sorted_and_complete() {
            let keys: Vec<&str> = MACRO_VECTOR_SCORES.iter().map(|(k, _)| *k).collect();
            assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "sorted, no duplicates"
            );
            for eq1 in 0..3 {
                for eq2 in 0..2 {
                    for eq3 in 0..3 {
                        for eq4 in 0..3 {
                            for eq5 in 0..3 {
                                for eq6 in 0..2 {
                                    let levels = [eq1, eq2, eq3, eq4, eq5, eq6];
                                    let score = macro_vector_score(levels);
                                    if eq3 == 2 && eq6 == 0 {
                                        assert_eq!(score, None, "{levels:?}");
                                    } else {
                                        assert!(
                                            score.is_some_and(|s| (1..=100).contains(&s)),
                                            "{levels:?}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
            assert_eq!(macro_vector_score([0, 0, 0, 0, 0, 0]), Some(100));
            assert_eq!(macro_vector_score([2, 1, 2, 2, 2, 1]), Some(1));
            assert_eq!(macro_vector_score([3, 0, 0, 0, 0, 0]), None);
        }

        #[test]
        fn depths_divide_the_depth_multiple() {
            let depths = (0..3)
                .map(|l| eq1_class(l).1)
                .chain((0..2).map(|l| eq2_class(l).1))
                .chain([(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)].map(|(a, b)| eq3eq6_class(a, b).1))
                .chain((0..3).map(|l| eq4_class(l).1));
            for depth in depths {
                assert_eq!(DEPTH_MULTIPLE % depth, 0, "{depth}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_of_well_known_vectors() {
        let known = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
                10.0,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U",
                8.1,
            ),
        ];
        for (vector, score) in known {
            assert_eq!(base_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn invalid_vectors_have_no_score() {
        for vector in [
            "",
            "CVSS:3.1/",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/",
        ] {
            assert_eq!(base_score(vector), None, "{vector:?}");
        }
    }

    #[test]
    fn ratings() {
        assert_eq!(rating(0.0), Rating::None);
        assert_eq!(rating(3.9), Rating::Low);
        assert_eq!(rating(4.0), Rating::Medium);
        assert_eq!(rating(7.0), Rating::High);
        assert_eq!(rating(9.0), Rating::Critical);
        assert_eq!(rating(f64::NAN), Rating::Unknown);
        assert_eq!(rating_from_text("MODERATE"), Rating::Medium);
        assert_eq!(rating_from_text("negligible"), Rating::Low);
        assert_eq!(rating_from_text("bogus"), Rating::Unknown);
    }
}
