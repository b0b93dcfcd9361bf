//! Aggregates over a run's rows: per check (variant × scenario × persona ×
//! check) and per variant, with Wilson intervals and pass^k. Plain folds over
//! the rows the tables hold, so the figures in `summary.md`, `results.json`
//! and the HTML report are exactly those the Parquet tables give (CI
//! recomputes them from the tables with DuckDB).

use std::collections::BTreeMap;

use super::stats;
use super::tables::{ConversationRow, ResultRow};
use super::{CheckAggregate, ConditionAggregate, PassTally, VariantAggregate};
use crate::run_folder::{CheckStatus, Status};

/// Per variant × condition × scenario × persona × check, in that sort order.
pub fn check_aggregates(results: &[ResultRow]) -> Vec<CheckAggregate> {
    type Key<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
    let mut groups: BTreeMap<Key, Vec<&ResultRow>> = BTreeMap::new();
    for r in results {
        let key = (
            &*r.variant,
            &*r.condition,
            &*r.scenario,
            &*r.persona,
            &*r.check,
        );
        groups.entry(key).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|((variant, condition, scenario, persona, check), rows)| {
            let decided = rows.iter().filter(|r| r.passed.is_some()).count() as u32;
            let passes = rows.iter().filter(|r| r.passed == Some(true)).count() as u32;
            let status = |s: CheckStatus| rows.iter().filter(|r| r.status == s).count() as u32;
            let values: Vec<f64> = rows.iter().filter_map(|r| r.value).collect();
            let ci = stats::wilson(passes as u64, decided as u64);
            CheckAggregate {
                variant: variant.to_string(),
                condition: condition.to_string(),
                scenario: scenario.to_string(),
                persona: persona.to_string(),
                check: check.to_string(),
                decided,
                passes,
                errors: status(CheckStatus::Error),
                skipped: status(CheckStatus::Skipped),
                pass_rate: (decided > 0).then(|| passes as f64 / decided as f64),
                ci_low: ci.map(|c| c.0),
                ci_high: ci.map(|c| c.1),
                value_mean: stats::mean(&values),
                value_p50: stats::quantile(&values, 0.5),
                value_p95: stats::quantile(&values, 0.95),
            }
        })
        .collect()
}

/// A group of calls' verdicts.
fn tally(rows: &[&ConversationRow]) -> PassTally {
    let decided = rows.iter().filter(|r| r.passed.is_some()).count() as u32;
    let passes = rows.iter().filter(|r| r.passed == Some(true)).count() as u32;
    let ci = stats::wilson(passes as u64, decided as u64);
    PassTally {
        conversations: rows.len() as u32,
        decided,
        passes,
        errors: rows.iter().filter(|r| r.status == Status::Error).count() as u32,
        pass_rate: (decided > 0).then(|| passes as f64 / decided as f64),
        ci_low: ci.map(|c| c.0),
        ci_high: ci.map(|c| c.1),
    }
}

/// Per variant, sorted by name: counts, pass rate, pass^k over the scenario
/// repeats, mean p95 response latency, spend and call audio.
pub fn variant_aggregates(conversations: &[ConversationRow]) -> Vec<VariantAggregate> {
    let mut groups: BTreeMap<&str, Vec<&ConversationRow>> = BTreeMap::new();
    for c in conversations {
        groups.entry(&c.variant).or_default().push(c);
    }
    groups
        .into_iter()
        .map(|(variant, rows)| {
            let tasks = task_passes(&rows);
            let k = tasks.iter().map(|t| t.1).min().unwrap_or(0);
            let ttfa: Vec<f64> = rows.iter().filter_map(|r| r.agent_ttfa_p95_ms).collect();
            let sum = |cost: fn(&ConversationRow) -> Option<f64>| {
                let usd: f64 = rows.iter().copied().filter_map(cost).sum();
                (usd > 0.0).then_some(usd)
            };
            VariantAggregate {
                variant: variant.to_string(),
                tally: tally(&rows),
                pass_hat_k: stats::pass_hat_k(&tasks, k),
                k: k as u32,
                ttfa_p95_mean_ms: stats::mean(&ttfa),
                cost_usd: sum(|r| r.cost_usd),
                caller_cost_usd: sum(|r| r.caller_cost_usd),
                judge_cost_usd: sum(|r| r.judge_cost_usd),
                audio_s: rows.iter().map(|r| r.duration_s).sum(),
            }
        })
        .collect()
}

/// Per variant × condition (conditions in the run's order): pass rate with
/// its Wilson interval, mean response p95 and the SNR the lines measured.
pub fn condition_aggregates(
    conversations: &[ConversationRow],
    conditions: &[String],
) -> Vec<ConditionAggregate> {
    let mut groups: BTreeMap<(&str, usize), Vec<&ConversationRow>> = BTreeMap::new();
    for c in conversations {
        if let Some(order) = conditions.iter().position(|x| *x == c.condition) {
            groups.entry((&c.variant, order)).or_default().push(c);
        }
    }
    groups
        .into_iter()
        .map(|((variant, order), rows)| {
            let ttfa: Vec<f64> = rows.iter().filter_map(|r| r.agent_ttfa_p95_ms).collect();
            let snr: Vec<f64> = rows.iter().filter_map(|r| r.line_snr_db).collect();
            ConditionAggregate {
                variant: variant.to_string(),
                condition: conditions[order].clone(),
                tally: tally(&rows),
                ttfa_p95_mean_ms: stats::mean(&ttfa),
                line_snr_db_mean: stats::mean(&snr),
            }
        })
        .collect()
}

/// Per scenario × condition of one variant's decided conversations:
/// (passes, repeats). A scenario under another condition is another task,
/// not another repeat.
fn task_passes(rows: &[&ConversationRow]) -> Vec<(u64, u64)> {
    let mut tasks: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for r in rows {
        if let Some(passed) = r.passed {
            let t = tasks.entry((&r.condition, &r.scenario)).or_default();
            t.0 += passed as u64;
            t.1 += 1;
        }
    }
    tasks.into_values().collect()
}
