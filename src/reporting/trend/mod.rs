//! The nightly view: many runs read together from their Parquet tables,
//! pass rates per variant and check over time with Wilson intervals,
//! latency and cost per call, and a flag on the first run where a change
//! is real: significant against a rolling baseline window (Fisher's exact
//! test, Bonferroni over the series compared at that run) and larger than
//! the practical margin.

pub mod load;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::margins::Margins;
use super::stats::{fisher_exact, mean, wilson};
pub use load::{LoadedRun, SkippedRun, TrendError, load_runs};

/// How a series is analysed.
#[derive(Debug, Clone)]
pub struct TrendSettings {
    /// Runs pooled into the baseline a run is compared with.
    pub window: usize,
    pub alpha: f64,
    pub margins: Margins,
}

impl Default for TrendSettings {
    fn default() -> Self {
        TrendSettings {
            window: 5,
            alpha: 0.05,
            margins: Margins::default(),
        }
    }
}

/// The test a change is decided with, named on every page.
pub const TEST_NAME: &str =
    "Fisher's exact test (two-sided), Bonferroni-adjusted over the series compared at each run";

/// One run of the series.
#[derive(Debug, Clone, Serialize)]
pub struct TrendRun {
    pub run_id: String,
    pub dir: String,
    pub started_at: String,
    pub git_revision: Option<String>,
}

/// A decided check outcome of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub variant: String,
    /// `overall` for the conversation's verdict.
    pub check: String,
    pub unit: Unit,
    pub passed: bool,
}

/// What calls are compared on across runs: a scenario under a condition.
pub type Unit = (String, String);

/// One call's latency and cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CallMeasures {
    pub variant: String,
    pub unit: Unit,
    pub response_p95_ms: Option<f64>,
    pub cost_usd: f64,
}

/// How a run's pass rate stands against its baseline window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendChange {
    Regressed,
    Improved,
    /// Significant, but no larger than the practical margin.
    WithinMargin,
    NoSignificantChange,
    /// The first run of the series: nothing to compare with.
    NoBaseline,
}

impl TrendChange {
    pub fn words(self) -> &'static str {
        match self {
            TrendChange::Regressed => "regressed",
            TrendChange::Improved => "improved",
            TrendChange::WithinMargin => "within margin",
            TrendChange::NoSignificantChange => "no significant change",
            TrendChange::NoBaseline => "no baseline",
        }
    }
}

/// A pass rate at one run, and how it compares with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub run: usize,
    pub decided: u64,
    pub passes: u64,
    pub pass_rate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The runs pooled as the baseline, and their tally.
    pub baseline_runs: usize,
    pub baseline_decided: u64,
    pub baseline_passes: u64,
    pub p_value: Option<f64>,
    pub margin: f64,
    pub change: TrendChange,
    /// The first run of a change: the run before it was not changed the
    /// same way. "Since when."
    pub first: bool,
}

impl Point {
    pub fn baseline_rate(&self) -> Option<f64> {
        (self.baseline_decided > 0)
            .then(|| self.baseline_passes as f64 / self.baseline_decided as f64)
    }
}

/// One variant's pass rate of one check over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub variant: String,
    pub check: String,
    pub points: Vec<Point>,
}

/// One variant's latency and cost per run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasurePoint {
    pub run: usize,
    pub calls: usize,
    /// Mean over calls of each call's response-time p95.
    pub response_p95_ms: Option<f64>,
    pub cost_per_call_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureSeries {
    pub variant: String,
    pub points: Vec<MeasurePoint>,
}

/// Everything the trend pages show.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub runs: Vec<TrendRun>,
    /// Scenario × condition units every run had: the only ones compared.
    pub shared: Vec<Unit>,
    /// Units some runs had and others did not (left out), with how many runs had each.
    pub left_out: Vec<(Unit, usize)>,
    /// Run folders that could not be read, and why.
    pub skipped: Vec<SkippedRun>,
    pub window: usize,
    pub alpha: f64,
    pub series: Vec<Series>,
    pub measures: Vec<MeasureSeries>,
}

impl Trend {
    /// Every first flag, in run order: what got worse (or better), since when.
    pub fn first_changes(&self) -> Vec<(&Series, &Point)> {
        let mut out: Vec<(&Series, &Point)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| p.first).map(move |p| (s, p)))
            .collect();
        out.sort_by_key(|(s, p)| (p.run, s.variant.clone(), s.check.clone()));
        out
    }

    /// The series' points at `run_id` that regressed against their baseline.
    pub fn regressions_at(&self, run_id: &str) -> Vec<(&Series, &Point)> {
        let Some(run) = self.runs.iter().position(|r| r.run_id == run_id) else {
            return Vec::new();
        };
        self.series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .filter(move |p| p.run == run && p.change == TrendChange::Regressed)
                    .map(move |p| (s, p))
            })
            .collect()
    }
}

/// The runs read, in time order, analysed.
pub fn analyse(runs: Vec<LoadedRun>, skipped: Vec<SkippedRun>, settings: &TrendSettings) -> Trend {
    let mut runs = runs;
    // By start time (parsed: older runs have whole seconds, newer ones ms).
    runs.sort_by_cached_key(|r| {
        (
            humantime::parse_rfc3339_weak(&r.run.started_at).ok(),
            r.run.dir.clone(),
        )
    });
    let (shared, left_out) = shared_units(&runs);
    let tallies = tallies(&runs, &shared);
    let mut series: Vec<Series> = tallies
        .iter()
        .map(|((variant, check), per_run)| Series {
            variant: variant.clone(),
            check: check.clone(),
            points: points(per_run, settings, &settings.margins.pass_rate(check)),
        })
        .collect();
    decide(&mut series, runs.len(), settings);
    let measures = measure_series(&runs, &shared);
    Trend {
        runs: runs.into_iter().map(|r| r.run).collect(),
        shared: shared.into_iter().collect(),
        left_out,
        skipped,
        window: settings.window,
        alpha: settings.alpha,
        series,
        measures,
    }
}

/// Units every run had, and those only some had.
fn shared_units(runs: &[LoadedRun]) -> (BTreeSet<Unit>, Vec<(Unit, usize)>) {
    let mut seen: BTreeMap<Unit, usize> = BTreeMap::new();
    for run in runs {
        for unit in &run.units {
            *seen.entry(unit.clone()).or_default() += 1;
        }
    }
    let (shared, partial): (Vec<_>, Vec<_>) = seen.into_iter().partition(|(_, n)| *n == runs.len());
    (shared.into_iter().map(|(u, _)| u).collect(), partial)
}

/// (passes, decided) per (variant, check) per run index, shared units only.
type Tallies = BTreeMap<(String, String), BTreeMap<usize, (u64, u64)>>;

fn tallies(runs: &[LoadedRun], shared: &BTreeSet<Unit>) -> Tallies {
    let mut out: Tallies = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for o in run.outcomes.iter().filter(|o| shared.contains(&o.unit)) {
            let slot = out
                .entry((o.variant.clone(), o.check.clone()))
                .or_default()
                .entry(i)
                .or_default();
            slot.0 += o.passed as u64;
            slot.1 += 1;
        }
    }
    out
}

/// The points of one series, each with its baseline window (decided later).
fn points(
    per_run: &BTreeMap<usize, (u64, u64)>,
    settings: &TrendSettings,
    margin: &f64,
) -> Vec<Point> {
    let ordered: Vec<(usize, (u64, u64))> = per_run.iter().map(|(r, t)| (*r, *t)).collect();
    ordered
        .iter()
        .enumerate()
        .map(|(k, &(run, (passes, decided)))| {
            let window = &ordered[k.saturating_sub(settings.window)..k];
            let (baseline_passes, baseline_decided) = window
                .iter()
                .fold((0, 0), |acc, (_, t)| (acc.0 + t.0, acc.1 + t.1));
            let (ci_low, ci_high) = wilson(passes, decided).unwrap_or((0.0, 1.0));
            Point {
                run,
                decided,
                passes,
                pass_rate: passes as f64 / decided.max(1) as f64,
                ci_low,
                ci_high,
                baseline_runs: window.len(),
                baseline_decided,
                baseline_passes,
                p_value: (baseline_decided > 0)
                    .then(|| fisher_exact(passes, decided, baseline_passes, baseline_decided)),
                margin: *margin,
                change: TrendChange::NoBaseline,
                first: false,
            }
        })
        .collect()
}

/// Decides every point: at each run, the series compared there share a
/// Bonferroni-adjusted level; a change needs significance and a difference
/// beyond the margin.
fn decide(series: &mut [Series], runs: usize, settings: &TrendSettings) {
    for run in 0..runs {
        let compared = series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|p| p.run == run && p.p_value.is_some())
            .count()
            .max(1);
        let level = settings.alpha / compared as f64;
        for p in series
            .iter_mut()
            .flat_map(|s| s.points.iter_mut())
            .filter(|p| p.run == run)
        {
            let (Some(pv), Some(base)) = (p.p_value, p.baseline_rate()) else {
                continue;
            };
            let diff = p.pass_rate - base;
            p.change = if pv >= level {
                TrendChange::NoSignificantChange
            } else if diff.abs() <= p.margin {
                TrendChange::WithinMargin
            } else if diff < 0.0 {
                TrendChange::Regressed
            } else {
                TrendChange::Improved
            };
        }
    }
    for s in series.iter_mut() {
        let mut previous = TrendChange::NoBaseline;
        for p in &mut s.points {
            let flagged = matches!(p.change, TrendChange::Regressed | TrendChange::Improved);
            p.first = flagged && p.change != previous;
            previous = p.change;
        }
    }
}

fn measure_series(runs: &[LoadedRun], shared: &BTreeSet<Unit>) -> Vec<MeasureSeries> {
    let mut by_variant: BTreeMap<String, Vec<MeasurePoint>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let mut calls: BTreeMap<&str, Vec<&CallMeasures>> = BTreeMap::new();
        for c in run.calls.iter().filter(|c| shared.contains(&c.unit)) {
            calls.entry(&c.variant).or_default().push(c);
        }
        for (variant, calls) in calls {
            let p95s: Vec<f64> = calls.iter().filter_map(|c| c.response_p95_ms).collect();
            let costs: Vec<f64> = calls.iter().map(|c| c.cost_usd).collect();
            by_variant
                .entry(variant.to_string())
                .or_default()
                .push(MeasurePoint {
                    run: i,
                    calls: calls.len(),
                    response_p95_ms: mean(&p95s),
                    cost_per_call_usd: mean(&costs).unwrap_or(0.0),
                });
        }
    }
    by_variant
        .into_iter()
        .map(|(variant, points)| MeasureSeries { variant, points })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run where `check` passes `passes` of 20 calls of one scenario.
    fn run(i: usize, check_passes: u64) -> LoadedRun {
        let unit: Unit = ("s".into(), "clean".into());
        let outcome = |check: &str, passed: bool| Outcome {
            variant: "v".into(),
            check: check.into(),
            unit: unit.clone(),
            passed,
        };
        let mut outcomes = Vec::new();
        for k in 0..20 {
            outcomes.push(outcome("steady", k % 10 != 0));
            outcomes.push(outcome("planted", (k as u64) < check_passes));
        }
        LoadedRun {
            run: TrendRun {
                run_id: format!("r{i}"),
                dir: String::new(),
                started_at: format!("2026-11-{:02}T02:00:00Z", i + 1),
                git_revision: None,
            },
            units: BTreeSet::from([unit.clone()]),
            outcomes,
            calls: Vec::new(),
        }
    }

    #[test]
    fn a_planted_regression_is_flagged_once_at_the_right_run() {
        let runs: Vec<LoadedRun> = (0..8).map(|i| run(i, if i < 5 { 19 } else { 8 })).collect();
        let trend = analyse(runs, Vec::new(), &TrendSettings::default());
        let firsts = trend.first_changes();
        assert_eq!(firsts.len(), 1, "{firsts:?}");
        assert_eq!(
            (firsts[0].0.check.as_str(), firsts[0].1.run),
            ("planted", 5)
        );
        assert_eq!(firsts[0].1.change, TrendChange::Regressed);
        assert!(!trend.regressions_at("r5").is_empty());
        assert!(trend.regressions_at("r0").is_empty());
    }

    #[test]
    fn steady_runs_flag_nothing() {
        let runs: Vec<LoadedRun> = (0..8).map(|i| run(i, 18 + (i as u64 % 2))).collect();
        let trend = analyse(runs, Vec::new(), &TrendSettings::default());
        assert!(trend.first_changes().is_empty());
        assert!(
            trend
                .series
                .iter()
                .all(|s| s.points[0].change == TrendChange::NoBaseline)
        );
    }

    #[test]
    fn only_units_every_run_had_are_compared() {
        let mut runs: Vec<LoadedRun> = (0..3).map(|i| run(i, 19)).collect();
        let extra: Unit = ("new".into(), "clean".into());
        runs[2].units.insert(extra.clone());
        runs[2].outcomes.push(Outcome {
            variant: "v".into(),
            check: "planted".into(),
            unit: extra.clone(),
            passed: false,
        });
        let trend = analyse(runs, Vec::new(), &TrendSettings::default());
        assert_eq!(trend.left_out, vec![(extra, 1)]);
        let planted = trend.series.iter().find(|s| s.check == "planted").unwrap();
        assert_eq!(planted.points[2].decided, 20);
    }
}
