//! Scoring: pure functions of a recorded conversation (its artifacts) plus
//! config. Nothing here touches a live session, so `rehearse rescore`
//! recomputes every score from disk. One module per scorer kind.

pub mod check;
pub mod consistency;
pub mod flow;
pub mod function_calls;
pub mod judge;
pub mod latency;
pub mod recorded;
pub mod tone;
pub mod transcript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::{Check, CheckKind, CheckStatus, SCORES_VERSION, ScoreSheet, Verdict};
use recorded::Recorded;

use crate::config::agent::AgentFile;
use crate::config::persona::PersonaFile;
use crate::config::rubric::{CriterionKind, RubricFile};
use crate::config::scenario::ScenarioFile;
use crate::emulator::Transcriber;
use crate::simulation::Status;
use crate::simulation::recorder::Speaker;
use crate::simulation::run::PlannedConversation;

pub const SCORES: &str = "scores.json";

/// The config a conversation is scored against.
pub struct ScoringInputs<'a> {
    pub scenario: &'a ScenarioFile,
    pub agent: &'a AgentFile,
    pub persona: &'a PersonaFile,
    pub rubrics: &'a [RubricFile],
    /// Where judge replies are cached (shared by a run).
    pub cache_dir: PathBuf,
    /// For the audio-vs-transcript check; skipped without one.
    pub transcriber: Option<Arc<dyn Transcriber>>,
}

/// Scores one recorded conversation.
pub async fn score_conversation(
    dir: &Path,
    planned: &PlannedConversation,
    inputs: &ScoringInputs<'_>,
) -> ScoreSheet {
    let mut sheet = ScoreSheet {
        version: SCORES_VERSION,
        variant: planned.variant.clone(),
        scenario: planned.scenario.clone(),
        persona: planned.persona.clone(),
        repeat: planned.repeat,
        verdict: Verdict::Error,
        score: None,
        checks: Vec::new(),
        metrics: BTreeMap::new(),
    };
    let rec = match Recorded::load(dir) {
        Ok(r) => r,
        Err(e) => {
            sheet.checks.push(Check::error(
                CheckKind::Transcript,
                "recording",
                format!("cannot load the recording: {e}"),
            ));
            return sheet;
        }
    };
    let completed = rec.outcome.status == Status::Completed;
    if !completed {
        // A call that broke off says nothing about the agent: no checks, verdict error.
        sheet.verdict = Verdict::Error;
        return sheet;
    }
    let exp = &inputs.scenario.expectations;
    sheet.checks.extend(function_calls::score(
        &rec,
        exp,
        &inputs.agent.tools,
        &inputs.scenario.facts,
    ));
    sheet
        .checks
        .extend(flow::score(&rec, exp, &inputs.agent.stages));
    sheet.checks.extend(transcript::score(&rec, exp));
    sheet
        .checks
        .extend(latency::score(&rec, exp, &mut sheet.metrics));

    let rubrics: Vec<&RubricFile> = inputs
        .rubrics
        .iter()
        .filter(|r| r.tags.is_empty() || r.tags.iter().any(|t| inputs.scenario.tags.contains(t)))
        .collect();
    let agent_tone = tone::measure(&rec, Speaker::Agent);
    let customer_tone = tone::measure(&rec, Speaker::Customer);
    for (who, m) in [("agent", &agent_tone), ("customer", &customer_tone)] {
        if let Ok(m) = m {
            for (k, v) in tone::metrics_map(m) {
                sheet.metrics.insert(format!("tone.{who}.{k}"), v);
            }
        }
    }
    for rubric in rubrics {
        for c in &rubric.criteria {
            let check = match c.kind {
                CriterionKind::Tone => {
                    let measured = if c.speaker == "customer" {
                        &customer_tone
                    } else {
                        &agent_tone
                    };
                    tone::score(rubric, c, measured)
                }
                CriterionKind::Judge => {
                    judge::score(
                        rubric,
                        c,
                        &rec,
                        inputs.scenario,
                        inputs.persona,
                        &inputs.cache_dir,
                    )
                    .await
                }
            };
            sheet.checks.push(check);
        }
    }
    sheet
        .checks
        .push(consistency::score(&rec, inputs.transcriber.as_deref(), &mut sheet.metrics).await);
    sheet.score = check::weighted_score(&sheet.checks);
    sheet.verdict = check::verdict(completed, &sheet.checks);
    sheet
}

/// Scores a conversation and writes `scores.json` beside it (atomically).
pub async fn score_and_save(
    dir: &Path,
    planned: &PlannedConversation,
    inputs: &ScoringInputs<'_>,
) -> ScoreSheet {
    let sheet = score_conversation(dir, planned, inputs).await;
    if let Ok(json) = serde_json::to_vec_pretty(&sheet) {
        let _ = crate::simulation::run::write_atomic(&dir.join(SCORES), &json);
    }
    sheet
}
