//! Practical margins: how large a change must be before a report calls it
//! one. With enough pairs, differences no listener could hear (+0.02 LU of
//! loudness) become statistically significant; a verdict of regressed,
//! improved, higher or lower needs both significance and a difference
//! larger than the measure's margin. Defaults are documented in
//! `docs/scoring.md`; a gate file's `margins:` overrides them per measure.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A margin as written in a gate file: a number in the measure's own unit
/// (`0.5` LU, `100` ms, `0.05` for five points of pass rate), or a share of
/// the baseline's value (`"5%"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "MarginText", into = "MarginText")]
#[schemars(with = "MarginText")]
pub enum Margin {
    Absolute(f64),
    /// A fraction of the baseline's mean (0.05 for "5%").
    Relative(f64),
}

/// How a margin is spelled in YAML: `0.5` or `"5%"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MarginText {
    Number(f64),
    Percent(String),
}

impl TryFrom<MarginText> for Margin {
    type Error = String;

    fn try_from(text: MarginText) -> Result<Margin, String> {
        let bad =
            |t: &str| format!("a margin is a number (0.5) or a percentage (\"5%\"), not `{t}`");
        match text {
            MarginText::Number(x) if x.is_finite() && x >= 0.0 => Ok(Margin::Absolute(x)),
            MarginText::Number(x) => Err(bad(&x.to_string())),
            MarginText::Percent(t) => t
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p >= 0.0)
                .map(|p| Margin::Relative(p / 100.0))
                .ok_or_else(|| bad(&t)),
        }
    }
}

impl From<Margin> for MarginText {
    fn from(m: Margin) -> MarginText {
        match m {
            Margin::Absolute(x) => MarginText::Number(x),
            Margin::Relative(f) => MarginText::Percent(format!("{}%", f * 100.0)),
        }
    }
}

impl Margin {
    /// The margin in the measure's unit, given the baseline's value.
    pub fn resolve(self, baseline: f64) -> f64 {
        match self {
            Margin::Absolute(x) => x,
            Margin::Relative(f) => (f * baseline).abs(),
        }
    }
}

/// The key that sets the margin of every pass rate (overall and checks).
pub const PASS_RATE: &str = "pass_rate";

/// Margins per measure: documented defaults by the measure's unit, and
/// overrides by exact name (`tone.agent.loudness_lufs`), by prefix ending
/// in a dot (`latency.`), or `pass_rate` for every pass rate. The longest
/// matching override wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Margins {
    overrides: BTreeMap<String, Margin>,
}

/// Five percentage points of pass rate.
const DEFAULT_PASS_RATE: f64 = 0.05;

impl Margins {
    pub fn new(overrides: BTreeMap<String, Margin>) -> Margins {
        Margins { overrides }
    }

    fn overridden(&self, name: &str) -> Option<Margin> {
        self.overrides
            .iter()
            .filter(|(key, _)| {
                key.as_str() == name || (key.ends_with('.') && name.starts_with(key.as_str()))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, m)| *m)
    }

    /// The margin of a pass rate difference (a fraction: 0.05 = 5 points)
    /// for `check` (`overall` for the conversation verdict): set by the
    /// check's exact name or `pass_rate`, never by a measure prefix
    /// (`latency.` sets latency measures, not the `latency.response_p95`
    /// check). A percentage is points: `"5%"` is 0.05.
    pub fn pass_rate(&self, check: &str) -> f64 {
        self.overrides
            .get(check)
            .or_else(|| self.overrides.get(PASS_RATE))
            .map(|m| m.resolve(1.0))
            .unwrap_or(DEFAULT_PASS_RATE)
    }

    /// The margin of measure `name` in its own unit, where its baseline
    /// mean is `baseline`.
    pub fn measure(&self, name: &str, baseline: f64) -> f64 {
        self.overridden(name)
            .unwrap_or_else(|| default_margin(name))
            .resolve(baseline)
    }
}

/// The documented default margin of a measure, from its unit (the suffix
/// of its name): what a listener or a caller could notice.
pub fn default_margin(name: &str) -> Margin {
    let last = name.rsplit('.').next().unwrap_or(name);
    let ends = |s: &str| last.ends_with(s);
    if ends("_ms") {
        Margin::Absolute(100.0)
    } else if ends("_lufs") || ends("_lu") || ends("_dbfs") || ends("_db") {
        Margin::Absolute(0.5)
    } else if ends("_hz") {
        Margin::Relative(0.05)
    } else if ends("_st") {
        // 5% of F0 is 0.84 semitones.
        Margin::Absolute(0.85)
    } else if ends("words_per_minute") || ends("_per_second") {
        Margin::Relative(0.10)
    } else if ends("_ratio") || ends("voice_activity") || ends("wer") {
        Margin::Absolute(0.05)
    } else if ends("_s") {
        Margin::Absolute(1.0)
    } else if ends("_usd") {
        Margin::Relative(0.10)
    } else {
        // Counts per call (talk-overs, pauses, missed responses): half an
        // event per call on average.
        Margin::Absolute(0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_unit_of_the_measure() {
        let m = Margins::default();
        assert_eq!(m.measure("tone.agent.loudness_lufs", -23.0), 0.5);
        assert!((m.measure("tone.agent.f0_median_hz", 200.0) - 10.0).abs() < 1e-12);
        assert_eq!(m.measure("latency.response_p95_ms", 900.0), 100.0);
        assert_eq!(m.measure("interaction.talk_overs", 1.0), 0.5);
        assert_eq!(m.pass_rate("overall"), 0.05);
    }

    #[test]
    fn the_longest_override_wins() {
        let m = Margins::new(BTreeMap::from([
            ("latency.".to_string(), Margin::Absolute(250.0)),
            (
                "latency.response_p95_ms".to_string(),
                Margin::Absolute(50.0),
            ),
            (PASS_RATE.to_string(), Margin::Absolute(0.1)),
            ("function_call.match".to_string(), Margin::Absolute(0.0)),
        ]));
        assert_eq!(m.measure("latency.response_p95_ms", 0.0), 50.0);
        // A measure prefix leaves the check of the same family alone.
        assert_eq!(m.pass_rate("latency.response_p95"), 0.1);
        assert_eq!(m.measure("latency.response_p50_ms", 0.0), 250.0);
        assert_eq!(m.pass_rate("overall"), 0.1);
        assert_eq!(m.pass_rate("function_call.match"), 0.0);
    }

    #[test]
    fn margins_read_as_numbers_or_percentages() {
        let parse = |s: &str| serde_json::from_str::<Margin>(s);
        assert_eq!(parse("0.5").unwrap(), Margin::Absolute(0.5));
        assert_eq!(parse("\"5%\"").unwrap(), Margin::Relative(0.05));
        let err = parse("\"five\"").unwrap_err().to_string();
        assert!(err.contains("percentage"), "{err}");
        assert!(parse("-1").is_err());
    }
}
