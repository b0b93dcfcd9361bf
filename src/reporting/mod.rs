//! Reports: tables (Parquet + CSV), aggregates, `summary.md`, `junit.xml`,
//! `results.json`, `report.html` and A/B comparisons. Reporters only read a
//! run folder (through [`crate::run_folder`]), so `rehearse report DIR`
//! rebuilds every output of a run.

pub mod aggregate;
pub mod agreement;
pub mod compare;
pub mod forest;
pub mod gates;
pub mod guardrail_replay;
pub mod html;
pub mod junit;
pub mod margins;
pub mod stats;
pub mod summary;
pub mod tables;
pub mod trend;

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use crate::run_folder::{CheckStatus, Manifest, RunFolder, RunFolderError, Status, write_atomic};
use compare::{AbComparison, Robustness};
use margins::Margins;
use tables::{ConversationRow, ResultRow};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Folder(#[from] RunFolderError),
    #[error("tables: {0}")]
    Polars(#[from] PolarsError),
    #[error("writing reports: {0}")]
    Io(#[from] std::io::Error),
}

/// Per variant × condition × scenario × persona × check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckAggregate {
    pub variant: String,
    pub condition: String,
    pub scenario: String,
    pub persona: String,
    pub check: String,
    pub decided: u32,
    pub passes: u32,
    pub errors: u32,
    pub skipped: u32,
    pub pass_rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub value_mean: Option<f64>,
    pub value_p50: Option<f64>,
    pub value_p95: Option<f64>,
}

/// A group of calls and how many passed, with the pass rate's Wilson 95%
/// interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassTally {
    pub conversations: u32,
    /// Calls with a verdict of pass or fail.
    pub decided: u32,
    pub passes: u32,
    pub errors: u32,
    pub pass_rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// Per variant × acoustic condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionAggregate {
    pub variant: String,
    pub condition: String,
    #[serde(flatten)]
    pub tally: PassTally,
    pub ttfa_p95_mean_ms: Option<f64>,
    /// Mean SNR the lines measured over the callers' speech (noise
    /// conditions only).
    pub line_snr_db_mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantAggregate {
    pub variant: String,
    #[serde(flatten)]
    pub tally: PassTally,
    /// Probability that all k repeats of a scenario pass (k = repeats).
    pub pass_hat_k: Option<f64>,
    pub k: u32,
    pub ttfa_p95_mean_ms: Option<f64>,
    /// The agent's cost, at each call's model's prices.
    pub cost_usd: Option<f64>,
    /// The simulated callers' own model cost.
    pub caller_cost_usd: Option<f64>,
    /// The judges' cost.
    pub judge_cost_usd: Option<f64>,
    pub audio_s: f64,
}

impl VariantAggregate {
    /// Agent, callers and judges together.
    pub fn total_cost_usd(&self) -> Option<f64> {
        let parts = [self.cost_usd, self.caller_cost_usd, self.judge_cost_usd];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }
}

/// Everything the human-readable outputs show (`results.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub variants: Vec<VariantAggregate>,
    pub checks: Vec<CheckAggregate>,
    /// Candidate variants against the first (baseline) one.
    pub comparisons: Vec<AbComparison>,
    /// The run's acoustic conditions, in order (the first is the baseline).
    pub condition_names: Vec<String>,
    /// Pass rates per variant × condition.
    pub conditions: Vec<ConditionAggregate>,
    /// Each variant under each condition against the first condition.
    pub robustness: Vec<Robustness>,
    pub conversations: Vec<ConversationRow>,
    pub results: Vec<ResultRow>,
    /// Planned calls that did not run to an outcome, grouped by why.
    pub not_run: Vec<NotRun>,
    /// Artifact writes that failed during the run (all counted; the first
    /// 100 listed).
    pub write_errors: Vec<String>,
    pub write_error_count: usize,
    /// Notes on calls a reader should see (an agent that could not hear).
    pub notes: Vec<CallNote>,
    /// The harness fell behind realtime pacing; latencies include its delays.
    pub harness_overloaded: bool,
    /// The machine's agreement with human reviewers (`labels.jsonl`), per
    /// labelled item; empty when nobody has reviewed the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agreement: Vec<agreement::ItemAgreement>,
}

/// A note recorded on a call, with the call it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallNote {
    pub variant: String,
    pub scenario: String,
    pub repeat: u32,
    pub note: String,
}

/// Calls of one variant that did not run, and why (budget, circuit
/// breaker, a stop).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotRun {
    pub variant: String,
    pub conversations: usize,
    pub why: String,
}

impl Report {
    /// The failed checks of every call, by its key: one pass over the
    /// results, for reporters that list them per call.
    pub fn failed_checks(&self) -> std::collections::HashMap<tables::CallKey<'_>, Vec<&ResultRow>> {
        let mut by_call: std::collections::HashMap<_, Vec<&ResultRow>> = Default::default();
        for r in self
            .results
            .iter()
            .filter(|r| r.status == CheckStatus::Fail)
        {
            by_call.entry(r.call_key()).or_default().push(r);
        }
        by_call
    }
}

/// Every note recorded on a call of the run.
fn notes(conversations: &[ConversationRow]) -> Vec<CallNote> {
    conversations
        .iter()
        .flat_map(|c| {
            c.notes.iter().map(|note| CallNote {
                variant: c.variant.clone(),
                scenario: c.scenario.clone(),
                repeat: c.repeat,
                note: note.clone(),
            })
        })
        .collect()
}

fn not_run(manifest: &Manifest) -> Vec<NotRun> {
    let mut groups: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in &manifest.conversations {
        let why = match (c.status, &c.not_started) {
            (Some(Status::Interrupted), _) => {
                "interrupted by a stop (Ctrl-C or SIGTERM); `run --resume` runs it".to_string()
            }
            (None, Some(why)) => why.clone(),
            (None, None) => "not run (the run ended before it started)".to_string(),
            _ => continue,
        };
        *groups.entry((c.variant.clone(), why)).or_default() += 1;
    }
    groups
        .into_iter()
        .map(|((variant, why), conversations)| NotRun {
            variant,
            conversations,
            why,
        })
        .collect()
}

/// Builds every report of a run from its artifacts and writes them into the
/// run directory, with the default practical margins.
pub fn build(run_dir: &Path) -> Result<Report, ReportError> {
    build_with(run_dir, &Margins::default())
}

/// [`build`] with the practical margins a gate file sets.
pub fn build_with(run_dir: &Path, margins: &Margins) -> Result<Report, ReportError> {
    let run = RunFolder::open(run_dir)?;
    let manifest = &run.manifest;
    let (conversations, results) = tables::collect_rows(&run);
    let mut conv_df = tables::conversations_frame(&conversations)?;
    let mut res_df = tables::results_frame(&results)?;
    tables::write_both(&mut conv_df, run_dir, "conversations")?;
    tables::write_both(&mut res_df, run_dir, "results")?;

    let checks = aggregate::check_aggregates(&results);
    let variants = aggregate::variant_aggregates(&conversations);
    let comparisons = match manifest.variants.split_first() {
        Some((baseline, rest)) => rest
            .iter()
            .map(|cand| AbComparison {
                baseline: baseline.clone(),
                candidate: cand.clone(),
                checks: compare::compare(
                    &conversations,
                    &results,
                    baseline,
                    cand,
                    manifest.seed,
                    margins,
                ),
                metrics: compare::compare_metrics(
                    &conversations,
                    baseline,
                    cand,
                    manifest.seed,
                    margins,
                ),
            })
            .collect(),
        None => vec![],
    };
    let notes = notes(&conversations);
    let conditions = aggregate::condition_aggregates(&conversations, &manifest.conditions);
    let robustness = compare::robustness(
        &conversations,
        &results,
        &manifest.variants,
        &manifest.conditions,
        manifest.seed,
        margins,
    );
    let mut report = Report {
        run_id: manifest.run_id.clone(),
        variants,
        checks,
        comparisons,
        condition_names: manifest.conditions.clone(),
        conditions,
        robustness,
        conversations,
        results,
        not_run: not_run(manifest),
        write_errors: manifest.write_errors.clone(),
        write_error_count: manifest.counts.write_errors,
        notes,
        harness_overloaded: manifest.harness_load.as_ref().is_some_and(|l| l.overloaded),
        agreement: Vec::new(),
    };
    report.agreement = run_agreement(&run, &report.conversations, &report.results)?;
    write_atomic(
        &run_dir.join("summary.md"),
        summary::markdown(&report).as_bytes(),
    )?;
    write_atomic(&run_dir.join("junit.xml"), junit::xml(&report).as_bytes())?;
    let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
    write_atomic(&run_dir.join("results.json"), &json)?;
    let html = html::render(&report, &run)
        .map_err(|e| std::io::Error::other(format!("report.html: {e}")))?;
    write_atomic(&run_dir.join("report.html"), html.as_bytes())?;
    if !report.comparisons.is_empty() {
        write_comparison_files(run_dir, &report.comparisons)?;
        write_atomic(
            &run_dir.join("compare.md"),
            summary::comparisons_markdown(&report.comparisons).as_bytes(),
        )?;
    }
    Ok(report)
}

/// The agreement of a stored run with its labels (`rehearse agreement`).
pub fn agreement_of_run(run_dir: &Path) -> Result<Vec<agreement::ItemAgreement>, ReportError> {
    let run = RunFolder::open(run_dir)?;
    let (conversations, results) = tables::collect_rows(&run);
    run_agreement(&run, &conversations, &results)
}

/// The machine's agreement with the run's human labels (none without labels).
pub fn run_agreement(
    run: &RunFolder,
    conversations: &[ConversationRow],
    results: &[ResultRow],
) -> Result<Vec<agreement::ItemAgreement>, ReportError> {
    let labels = crate::run_folder::read_labels(&run.dir)?;
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    let dirs: BTreeMap<(&str, &str, &str, u32), String> = run
        .manifest
        .conversations
        .iter()
        .map(|c| {
            (
                (
                    c.variant.as_str(),
                    c.condition.as_str(),
                    c.scenario.as_str(),
                    c.repeat,
                ),
                c.dir.display().to_string(),
            )
        })
        .collect();
    let dir_of = |c: &ConversationRow| {
        dirs.get(&(
            c.variant.as_str(),
            c.condition.as_str(),
            c.scenario.as_str(),
            c.repeat,
        ))
        .cloned()
        .unwrap_or_default()
    };
    Ok(agreement::agreement(
        &labels,
        conversations,
        results,
        &dir_of,
    ))
}

type Paired = (Vec<ConversationRow>, Vec<ResultRow>, Vec<AbComparison>);

/// Two runs paired: the first variant of `base` against the first variant
/// of `candidate`, with their rows relabelled `baseline` and `candidate`.
/// Pairs the first variant of `base` with the first variant of `candidate`.
pub fn compare_runs(
    base_dir: &Path,
    cand_dir: &Path,
    margins: &Margins,
) -> Result<Paired, ReportError> {
    let load =
        |dir: &Path| -> Result<(Vec<ConversationRow>, Vec<ResultRow>, String, u64), ReportError> {
            let run = RunFolder::open(dir)?;
            let (c, r) = tables::collect_rows(&run);
            let variant = run.manifest.variants.first().cloned().unwrap_or_default();
            Ok((c, r, variant, run.manifest.seed))
        };
    let (base, cand) = (load(base_dir)?, load(cand_dir)?);
    // Label each run's rows by side, so identical variant names still pair up.
    let mut conversations = Vec::new();
    let mut results = Vec::new();
    for (rows, res, variant, side) in [
        (base.0, base.1, &base.2, "baseline"),
        (cand.0, cand.1, &cand.2, "candidate"),
    ] {
        conversations.extend(
            rows.into_iter()
                .filter(|r| &r.variant == variant)
                .map(|mut r| {
                    r.variant = side.into();
                    r
                }),
        );
        results.extend(
            res.into_iter()
                .filter(|r| &r.variant == variant)
                .map(|mut r| {
                    r.variant = side.into();
                    r
                }),
        );
    }
    let ab = AbComparison {
        baseline: format!("{} ({})", base.2, base_dir.display()),
        candidate: format!("{} ({})", cand.2, cand_dir.display()),
        checks: compare::compare(
            &conversations,
            &results,
            "baseline",
            "candidate",
            cand.3,
            margins,
        ),
        metrics: compare::compare_metrics(&conversations, "baseline", "candidate", cand.3, margins),
    };
    Ok((conversations, results, vec![ab]))
}

/// One line of `compare.csv`.
struct CompareLine<'a> {
    baseline: &'a str,
    candidate: &'a str,
    kind: &'static str,
    name: &'a str,
    pairs: u32,
    baseline_value: f64,
    candidate_value: f64,
    difference: f64,
    ci: (f64, f64),
    p_value: Option<f64>,
    margin: f64,
    change: String,
}

/// `compare.csv` (a row per check and per measure) and `compare.html`.
pub fn write_comparison_files(dir: &Path, comparisons: &[AbComparison]) -> Result<(), ReportError> {
    let mut rows: Vec<CompareLine> = Vec::new();
    for ab in comparisons {
        for c in &ab.checks {
            rows.push(CompareLine {
                baseline: &ab.baseline,
                candidate: &ab.candidate,
                kind: "check",
                name: &c.check,
                pairs: c.pairs as u32,
                baseline_value: c.baseline_pass_rate,
                candidate_value: c.candidate_pass_rate,
                difference: c.difference,
                ci: (c.ci_low, c.ci_high),
                p_value: Some(c.p_value),
                margin: c.margin,
                change: format!("{:?}", c.change),
            });
        }
        for m in &ab.metrics {
            rows.push(CompareLine {
                baseline: &ab.baseline,
                candidate: &ab.candidate,
                kind: "metric",
                name: &m.metric,
                pairs: m.pairs as u32,
                baseline_value: m.baseline_mean,
                candidate_value: m.candidate_mean,
                difference: m.difference,
                ci: (m.ci_low, m.ci_high),
                p_value: None,
                margin: m.margin,
                change: format!("{:?}", m.change),
            });
        }
    }
    let mut df = df!(
        "baseline" => rows.iter().map(|r| r.baseline).collect::<Vec<_>>(),
        "candidate" => rows.iter().map(|r| r.candidate).collect::<Vec<_>>(),
        "kind" => rows.iter().map(|r| r.kind).collect::<Vec<_>>(),
        "name" => rows.iter().map(|r| r.name).collect::<Vec<_>>(),
        "pairs" => rows.iter().map(|r| r.pairs).collect::<Vec<_>>(),
        "baseline_value" => rows.iter().map(|r| r.baseline_value).collect::<Vec<_>>(),
        "candidate_value" => rows.iter().map(|r| r.candidate_value).collect::<Vec<_>>(),
        "difference" => rows.iter().map(|r| r.difference).collect::<Vec<_>>(),
        "ci_low" => rows.iter().map(|r| r.ci.0).collect::<Vec<_>>(),
        "ci_high" => rows.iter().map(|r| r.ci.1).collect::<Vec<_>>(),
        "p_value" => rows.iter().map(|r| r.p_value).collect::<Vec<_>>(),
        "change" => rows.iter().map(|r| r.change.as_str()).collect::<Vec<_>>(),
        "margin" => rows.iter().map(|r| r.margin).collect::<Vec<_>>(),
    )?;
    tables::write_csv(&mut df, &dir.join("compare.csv"))?;
    let html = html::render_comparisons(comparisons)
        .map_err(|e| std::io::Error::other(format!("compare.html: {e}")))?;
    write_atomic(&dir.join("compare.html"), html.as_bytes())?;
    Ok(())
}
