//! The run as tables: one row per conversation and one per check, built
//! from the artifacts on disk, written as Parquet and CSV with polars.

use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::pricing;
use crate::run_folder::{
    CheckKind, CheckStatus, OUTCOME, PlannedConversation, RunFolder, ScoreSheet, Status, Verdict,
    write_atomic,
};

/// One row of `conversations.{parquet,csv}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub run_id: String,
    pub variant: String,
    /// The acoustic condition the caller phoned from.
    pub condition: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    pub status: Status,
    /// Why the call failed (provider or harness), for status `error`.
    pub error: Option<String>,
    /// None when no verdict could be decided (error, undecided).
    pub passed: Option<bool>,
    pub verdict: Verdict,
    pub turns: u32,
    pub duration_s: f64,
    pub agent_ttfa_p50_ms: Option<f64>,
    pub agent_ttfa_p95_ms: Option<f64>,
    pub tool_calls: u32,
    /// The agent's model; its usage is priced at this model's rates.
    pub model: Option<String>,
    /// The agent's cost (None: no usage, or no published price for the model).
    pub cost_usd: Option<f64>,
    /// The simulated caller's own model cost (Realtime or chat driver).
    pub caller_cost_usd: Option<f64>,
    /// The judges' cost of scoring this call.
    pub judge_cost_usd: Option<f64>,
    pub score: Option<f64>,
    /// The SNR the line's (first) noise stage measured over the caller's
    /// speech, dB.
    pub line_snr_db: Option<f64>,
    /// Guardrail trips, those caught before the caller heard them, and the
    /// ms heard (None for agents without guardrails).
    pub guardrail_trips: Option<u32>,
    pub guardrail_caught: Option<u32>,
    pub guardrail_heard_ms: Option<f64>,
    /// Notes recorded on the call (not a table column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Latency and tone measures from `scores.json` (not a table column).
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

impl ConversationRow {
    /// Agent, caller and judges together.
    pub fn total_cost_usd(&self) -> f64 {
        [self.cost_usd, self.caller_cost_usd, self.judge_cost_usd]
            .iter()
            .flatten()
            .sum()
    }

    /// The call a planned conversation stands for.
    pub fn is_call(&self, planned: &PlannedConversation) -> bool {
        self.variant == planned.variant
            && self.condition == planned.condition
            && self.scenario == planned.scenario
            && self.repeat == planned.repeat
    }

    /// The key of the call in a run: variant, condition, scenario, repeat.
    pub fn call_key(&self) -> CallKey<'_> {
        (&self.variant, &self.condition, &self.scenario, self.repeat)
    }
}

/// Variant, condition, scenario and repeat: one call of a run.
pub type CallKey<'a> = (&'a str, &'a str, &'a str, u32);

/// One row of `results.{parquet,csv}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub run_id: String,
    pub variant: String,
    pub condition: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    pub check: String,
    pub kind: CheckKind,
    pub value: Option<f64>,
    pub passed: Option<bool>,
    pub status: CheckStatus,
    pub threshold: Option<String>,
    pub detail: String,
}

impl ResultRow {
    /// The key of the call the check is about.
    pub fn call_key(&self) -> CallKey<'_> {
        (&self.variant, &self.condition, &self.scenario, self.repeat)
    }
}

/// Reads every conversation of a run into rows. A call whose files are
/// missing or unreadable becomes a row with status `error` (and says why)
/// rather than vanishing.
pub fn collect_rows(run: &RunFolder) -> (Vec<ConversationRow>, Vec<ResultRow>) {
    let manifest = &run.manifest;
    let mut conversations = Vec::new();
    let mut results = Vec::new();
    for c in manifest
        .conversations
        .iter()
        .filter(|c| c.not_started.is_none())
    {
        let mut unreadable = None;
        let outcome = run.outcome(c).unwrap_or_else(|e| {
            unreadable = Some(e.to_string());
            None
        });
        let sheet: Option<ScoreSheet> = run.scores(c).unwrap_or_else(|e| {
            unreadable.get_or_insert(e.to_string());
            None
        });
        // An interrupted call was never scored: nothing is decided about it.
        let status = outcome.as_ref().map_or(Status::Error, |o| o.status);
        let verdict = match (&sheet, status) {
            (Some(s), _) => s.verdict,
            (None, Status::Interrupted) => Verdict::Undecided,
            (None, _) => Verdict::Error,
        };
        let metric = |k: &str| sheet.as_ref().and_then(|s| s.metrics.get(k).copied());
        conversations.push(ConversationRow {
            run_id: manifest.run_id.clone(),
            variant: c.variant.clone(),
            condition: c.condition.clone(),
            scenario: c.scenario.clone(),
            persona: c.persona.clone(),
            repeat: c.repeat,
            status,
            error: outcome
                .as_ref()
                .and_then(|o| o.error.clone())
                .or_else(|| unreadable.clone())
                .or_else(|| {
                    outcome
                        .is_none()
                        .then(|| format!("its {OUTCOME} is missing"))
                }),
            passed: match verdict {
                Verdict::Pass => Some(true),
                Verdict::Fail => Some(false),
                _ => None,
            },
            verdict,
            turns: outcome
                .as_ref()
                .map_or(0, |o| o.agent_turns + o.customer_turns),
            duration_s: outcome.as_ref().map_or(0.0, |o| o.duration_ms / 1000.0),
            agent_ttfa_p50_ms: metric("latency.response_p50_ms"),
            agent_ttfa_p95_ms: metric("latency.response_p95_ms"),
            tool_calls: outcome.as_ref().map_or(0, |o| o.tool_calls),
            model: outcome.as_ref().and_then(|o| o.model.clone()),
            cost_usd: outcome.as_ref().and_then(pricing::agent_cost),
            caller_cost_usd: outcome.as_ref().and_then(pricing::caller_cost),
            judge_cost_usd: sheet
                .as_ref()
                .map(crate::scoring::judge_cost)
                .filter(|usd| *usd > 0.0),
            score: sheet.as_ref().and_then(|s| s.score),
            line_snr_db: outcome
                .as_ref()
                .and_then(|o| o.line.as_ref())
                .and_then(|l| l.measured.snr_db.first().copied().flatten()),
            guardrail_trips: metric("guardrail.trips").map(|v| v as u32),
            guardrail_caught: metric("guardrail.caught_before_heard").map(|v| v as u32),
            guardrail_heard_ms: metric("guardrail.heard_ms"),
            notes: outcome
                .as_ref()
                .map(|o| o.notes.clone())
                .unwrap_or_default(),
            metrics: sheet
                .as_ref()
                .map(|s| s.metrics.clone())
                .unwrap_or_default(),
        });
        for check in sheet.iter().flat_map(|s| s.checks.iter()) {
            results.push(ResultRow {
                run_id: manifest.run_id.clone(),
                variant: c.variant.clone(),
                condition: c.condition.clone(),
                scenario: c.scenario.clone(),
                persona: c.persona.clone(),
                repeat: c.repeat,
                check: check.name.clone(),
                kind: check.kind,
                value: check.value,
                passed: match check.status {
                    CheckStatus::Pass => Some(true),
                    CheckStatus::Fail => Some(false),
                    _ => None,
                },
                status: check.status,
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
        // Columns added in run-folder format 2 go last, so readers that
        // address columns by position keep working.
        "model" => rows.iter().map(|r| r.model.as_deref()).collect::<Vec<_>>(),
        "caller_cost_usd" => rows.iter().map(|r| r.caller_cost_usd).collect::<Vec<_>>(),
        "judge_cost_usd" => rows.iter().map(|r| r.judge_cost_usd).collect::<Vec<_>>(),
        "error" => rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>(),
        // Format 3: the acoustic condition and the SNR its line measured.
        "condition" => rows.iter().map(|r| r.condition.as_str()).collect::<Vec<_>>(),
        "line_snr_db" => rows.iter().map(|r| r.line_snr_db).collect::<Vec<_>>(),
        // Format 5: output guardrails.
        "guardrail_trips" => rows.iter().map(|r| r.guardrail_trips).collect::<Vec<_>>(),
        "guardrail_caught" => rows.iter().map(|r| r.guardrail_caught).collect::<Vec<_>>(),
        "guardrail_heard_ms" => rows.iter().map(|r| r.guardrail_heard_ms).collect::<Vec<_>>(),
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
        "condition" => rows.iter().map(|r| r.condition.as_str()).collect::<Vec<_>>(),
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
