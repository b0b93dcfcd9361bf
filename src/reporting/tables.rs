//! The run as tables: one row per conversation and one per check, built
//! from the artifacts on disk, written as Parquet and CSV with polars, and
//! aggregated with polars' lazy API.

use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scoring::{CheckStatus, SCORES, ScoreSheet, Verdict};
use crate::simulation::manifest::write_atomic;
use crate::simulation::run::{Manifest, OUTCOME};
use crate::simulation::{ConversationOutcome, Status};

/// One row of `conversations.{parquet,csv}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub run_id: String,
    pub variant: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    pub status: String,
    /// None when no verdict could be decided (error, undecided).
    pub passed: Option<bool>,
    pub verdict: String,
    pub turns: u32,
    pub duration_s: f64,
    pub agent_ttfa_p50_ms: Option<f64>,
    pub agent_ttfa_p95_ms: Option<f64>,
    pub tool_calls: u32,
    pub cost_usd: Option<f64>,
    pub score: Option<f64>,
    /// Latency and tone measures from `scores.json` (not a table column).
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// One row of `results.{parquet,csv}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub run_id: String,
    pub variant: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    pub check: String,
    pub kind: String,
    pub value: Option<f64>,
    pub passed: Option<bool>,
    pub status: String,
    pub threshold: Option<String>,
    pub detail: String,
}

fn kind_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Estimated USD cost of a conversation's token usage.
pub fn cost(o: &ConversationOutcome) -> Option<f64> {
    let u = &o.usage;
    if u.responses == 0 {
        return None;
    }
    let p = super::pricing::GPT_REALTIME;
    let text_in = u.input_text_tokens.saturating_sub(u.cached_text_tokens) as f64;
    let audio_in = u.input_audio_tokens.saturating_sub(u.cached_audio_tokens) as f64;
    Some(
        (text_in * p[0]
            + u.cached_text_tokens as f64 * p[1]
            + u.output_text_tokens as f64 * p[2]
            + audio_in * p[3]
            + u.cached_audio_tokens as f64 * p[4]
            + u.output_audio_tokens as f64 * p[5])
            / 1e6,
    )
}

/// Reads every conversation of a run into rows (missing files make a row
/// with status `error` rather than vanishing).
pub fn collect_rows(run_dir: &Path, manifest: &Manifest) -> (Vec<ConversationRow>, Vec<ResultRow>) {
    let mut conversations = Vec::new();
    let mut results = Vec::new();
    for c in manifest
        .conversations
        .iter()
        .filter(|c| c.not_started.is_none())
    {
        let dir = run_dir.join(&c.dir);
        let outcome: Option<ConversationOutcome> = std::fs::read(dir.join(OUTCOME))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let sheet: Option<ScoreSheet> = std::fs::read(dir.join(SCORES))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        // An interrupted call was never scored: nothing is decided about it.
        let interrupted = outcome.as_ref().map(|o| o.status) == Some(Status::Interrupted);
        let verdict = match (&sheet, interrupted) {
            (Some(s), _) => s.verdict,
            (None, true) => Verdict::Undecided,
            (None, false) => Verdict::Error,
        };
        let metric = |k: &str| sheet.as_ref().and_then(|s| s.metrics.get(k).copied());
        conversations.push(ConversationRow {
            run_id: manifest.run_id.clone(),
            variant: c.variant.clone(),
            scenario: c.scenario.clone(),
            persona: c.persona.clone(),
            repeat: c.repeat,
            status: match outcome.as_ref().map(|o| o.status) {
                Some(Status::Completed) => "completed".into(),
                Some(Status::Interrupted) => "interrupted".into(),
                _ => "error".into(),
            },
            passed: match verdict {
                Verdict::Pass => Some(true),
                Verdict::Fail => Some(false),
                _ => None,
            },
            verdict: kind_name(&verdict),
            turns: outcome
                .as_ref()
                .map(|o| o.agent_turns + o.customer_turns)
                .unwrap_or(0),
            duration_s: outcome
                .as_ref()
                .map(|o| o.duration_ms / 1000.0)
                .unwrap_or(0.0),
            agent_ttfa_p50_ms: metric("latency.response_p50_ms"),
            agent_ttfa_p95_ms: metric("latency.response_p95_ms"),
            tool_calls: outcome.as_ref().map(|o| o.tool_calls).unwrap_or(0),
            cost_usd: outcome.as_ref().and_then(cost),
            score: sheet.as_ref().and_then(|s| s.score),
            metrics: sheet
                .as_ref()
                .map(|s| s.metrics.clone())
                .unwrap_or_default(),
        });
        for check in sheet.iter().flat_map(|s| s.checks.iter()) {
            results.push(ResultRow {
                run_id: manifest.run_id.clone(),
                variant: c.variant.clone(),
                scenario: c.scenario.clone(),
                persona: c.persona.clone(),
                repeat: c.repeat,
                check: check.name.clone(),
                kind: kind_name(&check.kind),
                value: check.value,
                passed: match check.status {
                    CheckStatus::Pass => Some(true),
                    CheckStatus::Fail => Some(false),
                    _ => None,
                },
                status: kind_name(&check.status),
                threshold: check.threshold.clone(),
                detail: check
                    .reason
                    .clone()
                    .unwrap_or_else(|| check.evidence.to_string()),
            });
        }
    }
    (conversations, results)
}

pub fn conversations_frame(rows: &[ConversationRow]) -> PolarsResult<DataFrame> {
    df!(
        "run_id" => rows.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        "variant" => rows.iter().map(|r| r.variant.as_str()).collect::<Vec<_>>(),
        "scenario" => rows.iter().map(|r| r.scenario.as_str()).collect::<Vec<_>>(),
        "persona" => rows.iter().map(|r| r.persona.as_str()).collect::<Vec<_>>(),
        "repeat" => rows.iter().map(|r| r.repeat).collect::<Vec<_>>(),
        "status" => rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        "passed" => rows.iter().map(|r| r.passed).collect::<Vec<_>>(),
        "verdict" => rows.iter().map(|r| r.verdict.as_str()).collect::<Vec<_>>(),
        "turns" => rows.iter().map(|r| r.turns).collect::<Vec<_>>(),
        "duration_s" => rows.iter().map(|r| r.duration_s).collect::<Vec<_>>(),
        "agent_ttfa_p50_ms" => rows.iter().map(|r| r.agent_ttfa_p50_ms).collect::<Vec<_>>(),
        "agent_ttfa_p95_ms" => rows.iter().map(|r| r.agent_ttfa_p95_ms).collect::<Vec<_>>(),
        "tool_calls" => rows.iter().map(|r| r.tool_calls).collect::<Vec<_>>(),
        "cost_usd" => rows.iter().map(|r| r.cost_usd).collect::<Vec<_>>(),
        "score" => rows.iter().map(|r| r.score).collect::<Vec<_>>(),
    )
}

pub fn results_frame(rows: &[ResultRow]) -> PolarsResult<DataFrame> {
    df!(
        "run_id" => rows.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        "variant" => rows.iter().map(|r| r.variant.as_str()).collect::<Vec<_>>(),
        "scenario" => rows.iter().map(|r| r.scenario.as_str()).collect::<Vec<_>>(),
        "persona" => rows.iter().map(|r| r.persona.as_str()).collect::<Vec<_>>(),
        "repeat" => rows.iter().map(|r| r.repeat).collect::<Vec<_>>(),
        "check" => rows.iter().map(|r| r.check.as_str()).collect::<Vec<_>>(),
        "kind" => rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        "value" => rows.iter().map(|r| r.value).collect::<Vec<_>>(),
        "passed" => rows.iter().map(|r| r.passed).collect::<Vec<_>>(),
        "status" => rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        "threshold" => rows.iter().map(|r| r.threshold.as_deref()).collect::<Vec<_>>(),
        "detail" => rows.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>(),
    )
}

/// Writes `<stem>.parquet` and `<stem>.csv` in `dir`, each atomically.
pub fn write_both(df: &mut DataFrame, dir: &Path, stem: &str) -> PolarsResult<()> {
    let mut parquet = Vec::new();
    ParquetWriter::new(&mut parquet).finish(df)?;
    write_atomic(&dir.join(format!("{stem}.parquet")), &parquet)?;
    write_csv(df, &dir.join(format!("{stem}.csv")))
}

/// Writes a table as CSV, atomically.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> PolarsResult<()> {
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(df)?;
    write_atomic(path, &csv)?;
    Ok(())
}

/// How many rows a boolean expression is true in (nulls count as false).
fn count(condition: Expr) -> Expr {
    condition.cast(DataType::UInt32).sum()
}

/// Per variant × scenario × persona × check: decided count, passes, errors,
/// skips, and mean / median / p95 of the check's value.
pub fn check_aggregates(results: &DataFrame) -> PolarsResult<DataFrame> {
    results
        .clone()
        .lazy()
        .group_by_stable([
            col("variant"),
            col("scenario"),
            col("persona"),
            col("check"),
        ])
        .agg([
            count(col("passed").is_not_null()).alias("decided"),
            count(col("passed")).alias("passes"),
            count(col("status").eq(lit("error"))).alias("errors"),
            count(col("status").eq(lit("skipped"))).alias("skipped"),
            col("value").mean().alias("value_mean"),
            col("value").median().alias("value_p50"),
            col("value")
                .quantile(lit(0.95), QuantileMethod::Linear)
                .alias("value_p95"),
        ])
        .sort(
            ["variant", "scenario", "persona", "check"],
            Default::default(),
        )
        .collect()
}

/// Per variant: conversations, decided, passes, errors, latency and cost.
pub fn variant_aggregates(conversations: &DataFrame) -> PolarsResult<DataFrame> {
    conversations
        .clone()
        .lazy()
        .group_by_stable([col("variant")])
        .agg([
            col("scenario").count().alias("conversations"),
            count(col("passed").is_not_null()).alias("decided"),
            count(col("passed")).alias("passes"),
            count(col("status").eq(lit("error"))).alias("errors"),
            col("agent_ttfa_p95_ms").mean().alias("ttfa_p95_mean_ms"),
            col("agent_ttfa_p50_ms")
                .median()
                .alias("ttfa_p50_median_ms"),
            col("cost_usd").sum().alias("cost_usd"),
            col("duration_s").sum().alias("audio_s"),
        ])
        .sort(["variant"], Default::default())
        .collect()
}

/// Per variant × scenario: passes and repeats (for pass^k).
pub fn task_passes(conversations: &DataFrame) -> PolarsResult<DataFrame> {
    conversations
        .clone()
        .lazy()
        .filter(col("passed").is_not_null())
        .group_by_stable([col("variant"), col("scenario")])
        .agg([
            count(col("passed")).alias("passes"),
            col("passed").count().alias("repeats"),
        ])
        .sort(["variant", "scenario"], Default::default())
        .collect()
}
