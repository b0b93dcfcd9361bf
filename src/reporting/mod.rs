//! Reports: tables (Parquet + CSV), aggregates, `summary.md`, `junit.xml`,
//! `results.json` and A/B comparisons. Reporters only read a run's artifacts
//! and scores, so `rehearse report DIR` rebuilds every output of a run.

pub mod compare;
pub mod gates;
pub mod html;
pub mod junit;
pub mod pricing;
pub mod stats;
pub mod summary;
pub mod tables;

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use crate::simulation::Status;
use crate::simulation::run::{MANIFEST, Manifest, write_atomic};
use compare::AbComparison;
use tables::{ConversationRow, ResultRow};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}: {1}")]
    Manifest(String, String),
    #[error("tables: {0}")]
    Polars(#[from] PolarsError),
    #[error("writing reports: {0}")]
    Io(#[from] std::io::Error),
}

/// Per variant × scenario × persona × check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckAggregate {
    pub variant: String,
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantAggregate {
    pub variant: String,
    pub conversations: u32,
    pub decided: u32,
    pub passes: u32,
    pub errors: u32,
    pub pass_rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Probability that all k repeats of a scenario pass (k = repeats).
    pub pass_hat_k: Option<f64>,
    pub k: u32,
    pub ttfa_p95_mean_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub audio_s: f64,
}

/// Everything the human-readable outputs show (`results.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub variants: Vec<VariantAggregate>,
    pub checks: Vec<CheckAggregate>,
    /// Candidate variants against the first (baseline) one.
    pub comparisons: Vec<AbComparison>,
    pub conversations: Vec<ConversationRow>,
    pub results: Vec<ResultRow>,
    /// Planned calls that did not run to an outcome, grouped by why.
    pub not_run: Vec<NotRun>,
}

/// Calls of one variant that did not run, and why (budget, circuit
/// breaker, a stop).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotRun {
    pub variant: String,
    pub conversations: usize,
    pub why: String,
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

fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

fn u32s(df: &DataFrame, name: &str) -> PolarsResult<Vec<u32>> {
    let c = df.column(name)?.cast(&DataType::UInt32)?;
    Ok(c.u32()?.iter().map(|v| v.unwrap_or(0)).collect())
}

fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

pub fn load_manifest(run_dir: &Path) -> Result<Manifest, ReportError> {
    let path = run_dir.join(MANIFEST);
    std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| ReportError::Manifest(path.display().to_string(), e))
}

/// Builds every report of a run from its artifacts and writes them into the
/// run directory.
pub fn build(run_dir: &Path) -> Result<Report, ReportError> {
    let manifest = load_manifest(run_dir)?;
    let (conversations, results) = tables::collect_rows(run_dir, &manifest);
    let mut conv_df = tables::conversations_frame(&conversations)?;
    let mut res_df = tables::results_frame(&results)?;
    tables::write_both(&mut conv_df, run_dir, "conversations")?;
    tables::write_both(&mut res_df, run_dir, "results")?;

    let agg = tables::check_aggregates(&res_df)?;
    let (decided, passes) = (u32s(&agg, "decided")?, u32s(&agg, "passes")?);
    let checks: Vec<CheckAggregate> = {
        let (v, s, p, c) = (
            strs(&agg, "variant")?,
            strs(&agg, "scenario")?,
            strs(&agg, "persona")?,
            strs(&agg, "check")?,
        );
        let (errors, skipped) = (u32s(&agg, "errors")?, u32s(&agg, "skipped")?);
        let (mean, p50, p95) = (
            f64s(&agg, "value_mean")?,
            f64s(&agg, "value_p50")?,
            f64s(&agg, "value_p95")?,
        );
        (0..agg.height())
            .map(|i| {
                let ci = stats::wilson(passes[i] as u64, decided[i] as u64);
                CheckAggregate {
                    variant: v[i].clone(),
                    scenario: s[i].clone(),
                    persona: p[i].clone(),
                    check: c[i].clone(),
                    decided: decided[i],
                    passes: passes[i],
                    errors: errors[i],
                    skipped: skipped[i],
                    pass_rate: (decided[i] > 0).then(|| passes[i] as f64 / decided[i] as f64),
                    ci_low: ci.map(|c| c.0),
                    ci_high: ci.map(|c| c.1),
                    value_mean: mean[i],
                    value_p50: p50[i],
                    value_p95: p95[i],
                }
            })
            .collect()
    };
    let vagg = tables::variant_aggregates(&conv_df)?;
    let tasks = tables::task_passes(&conv_df)?;
    let (t_variant, t_passes, t_repeats) = (
        strs(&tasks, "variant")?,
        u32s(&tasks, "passes")?,
        u32s(&tasks, "repeats")?,
    );
    let variants: Vec<VariantAggregate> = {
        let names = strs(&vagg, "variant")?;
        let (n, d, p, e) = (
            u32s(&vagg, "conversations")?,
            u32s(&vagg, "decided")?,
            u32s(&vagg, "passes")?,
            u32s(&vagg, "errors")?,
        );
        let (ttfa, cost, audio) = (
            f64s(&vagg, "ttfa_p95_mean_ms")?,
            f64s(&vagg, "cost_usd")?,
            f64s(&vagg, "audio_s")?,
        );
        (0..vagg.height())
            .map(|i| {
                let task_list: Vec<(u64, u64)> = (0..tasks.height())
                    .filter(|&j| t_variant[j] == names[i])
                    .map(|j| (t_passes[j] as u64, t_repeats[j] as u64))
                    .collect();
                let k = task_list.iter().map(|t| t.1).min().unwrap_or(0);
                let ci = stats::wilson(p[i] as u64, d[i] as u64);
                VariantAggregate {
                    variant: names[i].clone(),
                    conversations: n[i],
                    decided: d[i],
                    passes: p[i],
                    errors: e[i],
                    pass_rate: (d[i] > 0).then(|| p[i] as f64 / d[i] as f64),
                    ci_low: ci.map(|c| c.0),
                    ci_high: ci.map(|c| c.1),
                    pass_hat_k: stats::pass_hat_k(&task_list, k),
                    k: k as u32,
                    ttfa_p95_mean_ms: ttfa[i],
                    cost_usd: cost[i].filter(|c| *c > 0.0),
                    audio_s: audio[i].unwrap_or(0.0),
                }
            })
            .collect()
    };
    let comparisons = match manifest.variants.split_first() {
        Some((baseline, rest)) => rest
            .iter()
            .map(|cand| AbComparison {
                baseline: baseline.clone(),
                candidate: cand.clone(),
                checks: compare::compare(&conversations, &results, baseline, cand, manifest.seed),
                metrics: compare::compare_metrics(&conversations, baseline, cand, manifest.seed),
            })
            .collect(),
        None => vec![],
    };
    let report = Report {
        run_id: manifest.run_id.clone(),
        variants,
        checks,
        comparisons,
        conversations,
        results,
        not_run: not_run(&manifest),
    };
    write_atomic(
        &run_dir.join("summary.md"),
        summary::markdown(&report).as_bytes(),
    )?;
    write_atomic(&run_dir.join("junit.xml"), junit::xml(&report).as_bytes())?;
    let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
    write_atomic(&run_dir.join("results.json"), &json)?;
    let html = html::render(&report, run_dir)
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

/// `compare.csv` (a row per check and per measure) and `compare.html`.
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
    )?;
    tables::write_csv(&mut df, &dir.join("compare.csv"))?;
    let html = html::render_comparisons(comparisons)
        .map_err(|e| std::io::Error::other(format!("compare.html: {e}")))?;
    write_atomic(&dir.join("compare.html"), html.as_bytes())?;
    Ok(())
}
