//! A/B: pair two variants' conversations by scenario and repeat (they share
//! seeds), and for the overall verdict and each check report the pass-rate
//! difference with a paired bootstrap 95% interval and McNemar's exact test,
//! and a verdict: regressed, improved, within the practical margin (a
//! significant difference too small to matter), no significant change, or
//! not enough data (with how many more discordant pairs a difference would
//! need).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::margins::Margins;
use super::stats::{
    bootstrap_interval, bootstrap_mean_diff, discordant_pairs_needed, mcnemar_exact,
};
use super::tables::{ConversationRow, ResultRow};

pub const ALPHA: f64 = 0.05;

/// What pairs two calls: the same condition, scenario and repeat (so the
/// same seed).
type PairKey = (String, String, u32);

/// Baseline and candidate outcome of each pair.
type Pairs = BTreeMap<PairKey, (Option<bool>, Option<bool>)>;
const RESAMPLES: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Regressed,
    Improved,
    /// Significant, but no larger than the practical margin.
    WithinMargin,
    NoSignificantChange,
    NotEnoughData,
}

impl Change {
    /// The verdict in words (without the detail of not enough data).
    pub fn words(self) -> &'static str {
        match self {
            Change::Regressed => "regressed",
            Change::Improved => "improved",
            Change::WithinMargin => "within margin",
            Change::NoSignificantChange => "no significant change",
            Change::NotEnoughData => "not enough data",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub check: String,
    pub pairs: usize,
    pub baseline_pass_rate: f64,
    pub candidate_pass_rate: f64,
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Pairs where only the baseline passed / only the candidate passed.
    pub baseline_only: u64,
    pub candidate_only: u64,
    pub p_value: f64,
    /// The practical margin of the pass-rate difference (0.05 = 5 points).
    pub margin: f64,
    pub change: Change,
    /// For `not_enough_data`: discordant pairs a significant result needs.
    pub needs_discordant_pairs: Option<u64>,
}

fn compare_pairs(check: &str, pairs: &[(bool, bool)], seed: u64, margin: f64) -> Comparison {
    let n = pairs.len();
    let base = pairs.iter().filter(|p| p.0).count() as f64 / n.max(1) as f64;
    let cand = pairs.iter().filter(|p| p.1).count() as f64 / n.max(1) as f64;
    let b = pairs.iter().filter(|p| p.0 && !p.1).count() as u64;
    let c = pairs.iter().filter(|p| !p.0 && p.1).count() as u64;
    let numeric: Vec<(f64, f64)> = pairs
        .iter()
        .map(|&(x, y)| (x as u8 as f64, y as u8 as f64))
        .collect();
    let (lo, hi) = bootstrap_mean_diff(&numeric, RESAMPLES, seed).unwrap_or((0.0, 0.0));
    let p = mcnemar_exact(b, c);
    let needed = discordant_pairs_needed();
    let change = if p < ALPHA {
        if (cand - base).abs() <= margin {
            Change::WithinMargin
        } else if c > b {
            Change::Improved
        } else {
            Change::Regressed
        }
    } else if (n as u64) < needed {
        // Even if every pair disagreed, so few pairs could not be significant.
        Change::NotEnoughData
    } else {
        Change::NoSignificantChange
    };
    Comparison {
        check: check.to_string(),
        pairs: n,
        baseline_pass_rate: base,
        candidate_pass_rate: cand,
        difference: cand - base,
        ci_low: lo,
        ci_high: hi,
        baseline_only: b,
        candidate_only: c,
        p_value: p,
        margin,
        change,
        needs_discordant_pairs: (change == Change::NotEnoughData).then_some(needed),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricChange {
    Higher,
    Lower,
    /// Significant, but no larger than the practical margin.
    WithinMargin,
    NoSignificantChange,
    NotEnoughData,
}

impl MetricChange {
    pub fn words(self) -> &'static str {
        match self {
            MetricChange::Higher => "higher",
            MetricChange::Lower => "lower",
            MetricChange::WithinMargin => "within margin",
            MetricChange::NoSignificantChange => "no significant change",
            MetricChange::NotEnoughData => "not enough data",
        }
    }
}

/// A measure's margin as shown beside its verdict: `±0.5`, `±100`.
pub fn margin_text(margin: f64) -> String {
    if margin >= 100.0 {
        format!("±{margin:.0}")
    } else {
        format!("±{}", (margin * 1000.0).round() / 1000.0)
    }
}

/// A numeric measure (latency, tone) compared over paired conversations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    pub metric: String,
    pub pairs: usize,
    pub baseline_mean: f64,
    pub candidate_mean: f64,
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The practical margin in the measure's unit.
    pub margin: f64,
    pub change: MetricChange,
}

/// One candidate against one baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbComparison {
    pub baseline: String,
    pub candidate: String,
    pub checks: Vec<Comparison>,
    pub metrics: Vec<MetricComparison>,
}

/// Baseline and candidate value of a measure per pair.
type MetricPairs = BTreeMap<PairKey, (Option<f64>, Option<f64>)>;

/// Measures compared between variants.
const COMPARED_METRICS: &[&str] = &["latency.", "tone.agent.", "interaction."];

/// Paired bootstrap differences of every latency and agent-tone measure; a
/// change is reported when the (Bonferroni-adjusted) interval excludes zero
/// and the difference is larger than the measure's practical margin.
pub fn compare_metrics(
    conversations: &[ConversationRow],
    baseline: &str,
    candidate: &str,
    seed: u64,
    margins: &Margins,
) -> Vec<MetricComparison> {
    let mut pairs: BTreeMap<String, MetricPairs> = BTreeMap::new();
    for c in conversations {
        let side = if c.variant == baseline {
            0
        } else if c.variant == candidate {
            1
        } else {
            continue;
        };
        for (name, v) in c
            .metrics
            .iter()
            .filter(|(k, _)| COMPARED_METRICS.iter().any(|p| k.starts_with(p)))
        {
            let slot = pairs
                .entry(name.clone())
                .or_default()
                .entry((c.condition.clone(), c.scenario.clone(), c.repeat))
                .or_default();
            if side == 0 {
                slot.0 = Some(*v);
            } else {
                slot.1 = Some(*v);
            }
        }
    }
    let measures = pairs.len().max(1);
    pairs
        .into_iter()
        .filter_map(|(metric, by_key)| {
            let values: Vec<(f64, f64)> = by_key
                .values()
                .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
                .collect();
            if values.is_empty() {
                return None;
            }
            let n = values.len() as f64;
            let (base, cand) = (
                values.iter().map(|v| v.0).sum::<f64>() / n,
                values.iter().map(|v| v.1).sum::<f64>() / n,
            );
            let (lo, hi) = bootstrap_mean_diff(&values, RESAMPLES, seed).unwrap_or((0.0, 0.0));
            // Many measures are compared at once: decide on a Bonferroni-adjusted
            // interval so that chance alone rarely flags any of them.
            let (adj_lo, adj_hi) =
                bootstrap_interval(&values, RESAMPLES, seed, ALPHA / measures as f64)
                    .unwrap_or((0.0, 0.0));
            let margin = margins.measure(&metric, base);
            let change = if (values.len() as u64) < discordant_pairs_needed() {
                MetricChange::NotEnoughData
            } else if (adj_lo > 0.0 || adj_hi < 0.0) && (cand - base).abs() <= margin {
                MetricChange::WithinMargin
            } else if adj_lo > 0.0 {
                MetricChange::Higher
            } else if adj_hi < 0.0 {
                MetricChange::Lower
            } else {
                MetricChange::NoSignificantChange
            };
            Some(MetricComparison {
                metric,
                pairs: values.len(),
                baseline_mean: base,
                candidate_mean: cand,
                difference: cand - base,
                ci_low: lo,
                ci_high: hi,
                margin,
                change,
            })
        })
        .collect()
}

/// One variant under a condition against itself under the baseline
/// (first) condition: how far each check falls on that line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    pub variant: String,
    pub baseline_condition: String,
    pub condition: String,
    pub checks: Vec<Comparison>,
    pub metrics: Vec<MetricComparison>,
}

/// Every variant under every condition after the first, against the first,
/// paired by scenario and repeat (the calls share their seeds).
pub fn robustness(
    conversations: &[ConversationRow],
    results: &[ResultRow],
    variants: &[String],
    conditions: &[String],
    seed: u64,
    margins: &Margins,
) -> Vec<Robustness> {
    let Some((baseline, rest)) = conditions.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for variant in variants {
        for condition in rest {
            // The two conditions as the two sides of an A/B of one variant.
            let side = |v: &str, c: &str| v == variant && (c == baseline || c == condition);
            let rows: Vec<ConversationRow> = conversations
                .iter()
                .filter(|r| side(&r.variant, &r.condition))
                .map(|r| ConversationRow {
                    variant: r.condition.clone(),
                    condition: String::new(),
                    ..r.clone()
                })
                .collect();
            let checks: Vec<ResultRow> = results
                .iter()
                .filter(|r| side(&r.variant, &r.condition))
                .map(|r| ResultRow {
                    variant: r.condition.clone(),
                    condition: String::new(),
                    ..r.clone()
                })
                .collect();
            out.push(Robustness {
                variant: variant.clone(),
                baseline_condition: baseline.clone(),
                condition: condition.clone(),
                checks: compare(&rows, &checks, baseline, condition, seed, margins),
                metrics: compare_metrics(&rows, baseline, condition, seed, margins),
            });
        }
    }
    out
}

/// Compares `candidate` against `baseline`: overall (conversation verdict)
/// and per check, on pairs where both sides were decided.
pub fn compare(
    conversations: &[ConversationRow],
    results: &[ResultRow],
    baseline: &str,
    candidate: &str,
    seed: u64,
    margins: &Margins,
) -> Vec<Comparison> {
    let key = |condition: &str, s: &str, r: u32| (condition.to_string(), s.to_string(), r);
    let mut overall: Pairs = BTreeMap::new();
    for c in conversations {
        let slot = overall
            .entry(key(&c.condition, &c.scenario, c.repeat))
            .or_default();
        if c.variant == baseline {
            slot.0 = c.passed;
        } else if c.variant == candidate {
            slot.1 = c.passed;
        }
    }
    let mut out = vec![compare_pairs(
        "overall",
        &overall
            .values()
            .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
            .collect::<Vec<_>>(),
        seed,
        margins.pass_rate("overall"),
    )];
    let mut per_check: BTreeMap<String, Pairs> = BTreeMap::new();
    for r in results {
        let slot = per_check
            .entry(r.check.clone())
            .or_default()
            .entry(key(&r.condition, &r.scenario, r.repeat))
            .or_default();
        if r.variant == baseline {
            slot.0 = r.passed;
        } else if r.variant == candidate {
            slot.1 = r.passed;
        }
    }
    for (check, pairs) in per_check {
        let decided: Vec<(bool, bool)> = pairs
            .values()
            .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
            .collect();
        if !decided.is_empty() {
            let margin = margins.pass_rate(&check);
            out.push(compare_pairs(&check, &decided, seed, margin));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_exact_test() {
        let regress: Vec<(bool, bool)> = (0..10).map(|i| (true, i >= 8)).collect();
        assert_eq!(
            compare_pairs("x", &regress, 1, 0.05).change,
            Change::Regressed
        );
        let same: Vec<(bool, bool)> = (0..20).map(|i| (i % 2 == 0, i % 2 == 0)).collect();
        assert_eq!(
            compare_pairs("x", &same, 1, 0.05).change,
            Change::NoSignificantChange
        );
        let few = compare_pairs("x", &[(true, false), (true, false)], 1, 0.05);
        assert_eq!(few.change, Change::NotEnoughData);
        assert_eq!(few.needs_discordant_pairs, Some(6));
        let mixed: Vec<(bool, bool)> = (0..20).map(|i| (i % 3 == 0, i % 4 == 0)).collect();
        assert_eq!(
            compare_pairs("x", &mixed, 1, 0.05).change,
            Change::NoSignificantChange
        );
        let better: Vec<(bool, bool)> = (0..8).map(|_| (false, true)).collect();
        assert_eq!(
            compare_pairs("x", &better, 1, 0.05).change,
            Change::Improved
        );
    }

    #[test]
    fn a_significant_pass_rate_change_needs_more_than_the_margin() {
        // 200 pairs; 8 or 12 of them pass only in the baseline (McNemar
        // p = 0.008 and 0.0005): 4 points is within a 5-point margin, 6 is not.
        let pairs =
            |lost: usize| -> Vec<(bool, bool)> { (0..200).map(|i| (true, i >= lost)).collect() };
        let small = compare_pairs("x", &pairs(8), 1, 0.05);
        assert!(small.p_value < ALPHA);
        assert_eq!(small.change, Change::WithinMargin);
        assert_eq!(
            compare_pairs("x", &pairs(12), 1, 0.05).change,
            Change::Regressed
        );
        // A zero margin keeps the test alone.
        assert_eq!(
            compare_pairs("x", &pairs(8), 1, 0.0).change,
            Change::Regressed
        );
    }

    fn row(variant: &str, repeat: u32, loudness: f64) -> ConversationRow {
        let mut row: ConversationRow = serde_json::from_value(serde_json::json!({
            "run_id": "r", "variant": variant, "condition": "clean", "scenario": "s",
            "persona": "p", "repeat": repeat, "status": "completed", "verdict": "pass",
            "turns": 1, "duration_s": 1.0, "tool_calls": 0,
        }))
        .expect("a minimal row");
        row.metrics
            .insert("tone.agent.loudness_lufs".into(), loudness);
        row
    }

    #[test]
    fn a_significant_measure_change_needs_more_than_the_margin() {
        let calls = |shift: f64| -> Vec<ConversationRow> {
            (0..30)
                .flat_map(|i| {
                    let level = -23.0 + (i % 5) as f64 * 0.3;
                    [
                        row("a", i, level),
                        row("b", i, level + shift + (i % 3) as f64 * 0.001),
                    ]
                })
                .collect()
        };
        let margins = Margins::default();
        let inaudible = &compare_metrics(&calls(0.02), "a", "b", 1, &margins)[0];
        assert!(inaudible.ci_low > 0.0, "significant: {inaudible:?}");
        assert_eq!(inaudible.margin, 0.5);
        assert_eq!(inaudible.change, MetricChange::WithinMargin);
        let audible = &compare_metrics(&calls(0.8), "a", "b", 1, &margins)[0];
        assert_eq!(audible.change, MetricChange::Higher);
        let quieter = &compare_metrics(&calls(-0.8), "a", "b", 1, &margins)[0];
        assert_eq!(quieter.change, MetricChange::Lower);
    }
}
