//! Scoring: pure functions of a recorded conversation (its folder, read
//! through [`crate::run_folder`]) plus config. Nothing here touches a live
//! session, so `rehearse rescore` recomputes every score from disk. One
//! module per scorer kind; [`check`] holds the verdict rules.
//!
//! The CPU-heavy part (reading the tracks, tone analysis) runs on the
//! low-priority [`crate::cpu_pool`], never on the async workers that live
//! calls depend on; judges and transcription are network waits.

pub mod check;
pub mod consistency;
pub mod flow;
pub mod function_calls;
pub mod guardrails;
pub mod interaction;
pub mod judge;
pub mod latency;
pub mod replay;
pub mod tone;
pub mod transcript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audio::tone::ToneMetrics;
use crate::config::agent::AgentFile;
use crate::config::persona::PersonaFile;
use crate::config::rubric::{CriterionKind, RubricFile};
use crate::config::scenario::ScenarioFile;
use crate::run_folder::{
    Check, CheckKind, PlannedConversation, RecordedConversation, SCORES, SCORES_VERSION,
    ScoreSheet, Speaker, Verdict, write_atomic,
};
use crate::transcription::Transcriber;

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

/// A scored conversation: its sheet, and artifact writes that failed on
/// the way (the judge cache, `scores.json` itself).
pub struct Scoring {
    pub sheet: ScoreSheet,
    pub write_errors: Vec<String>,
}

impl Scoring {
    /// What the judges' answers cost (USD), as their checks record it.
    pub fn judge_cost_usd(&self) -> f64 {
        judge_cost(&self.sheet)
    }
}

/// The judges' cost of a sheet, from each judge check's evidence.
pub fn judge_cost(sheet: &ScoreSheet) -> f64 {
    sheet
        .checks
        .iter()
        .filter(|c| c.kind == CheckKind::Judge)
        .filter_map(|c| c.evidence["cost_usd"].as_f64())
        .sum()
}

/// What the offline scorers measure, computed together off the async
/// workers.
struct Offline {
    rec: RecordedConversation,
    checks: Vec<Check>,
    metrics: BTreeMap<String, f64>,
    agent_tone: Result<ToneMetrics, String>,
    customer_tone: Result<ToneMetrics, String>,
}

/// Scores one recorded conversation.
pub async fn score_conversation(
    dir: &Path,
    planned: &PlannedConversation,
    inputs: &ScoringInputs<'_>,
) -> Scoring {
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
    let mut write_errors = Vec::new();
    let offline = {
        let (dir, scenario, agent) = (
            dir.to_path_buf(),
            inputs.scenario.clone(),
            inputs.agent.clone(),
        );
        crate::cpu_pool::run(move || score_offline(&dir, &scenario, &agent)).await
    };
    let offline = match offline {
        Ok(Ok(Some(offline))) => offline,
        // A call that broke off says nothing about the agent: no checks,
        // verdict error.
        Ok(Ok(None)) => {
            return Scoring {
                sheet,
                write_errors,
            };
        }
        Ok(Err(e)) | Err(e) => {
            sheet.checks.push(Check::error(
                CheckKind::Transcript,
                "recording",
                format!("cannot load the recording: {e}"),
            ));
            return Scoring {
                sheet,
                write_errors,
            };
        }
    };
    let Offline {
        rec,
        checks,
        metrics,
        agent_tone,
        customer_tone,
    } = offline;
    sheet.checks = checks;
    sheet.metrics = metrics;
    let rubrics = inputs
        .rubrics
        .iter()
        .filter(|r| r.tags.is_empty() || r.tags.iter().any(|t| inputs.scenario.tags.contains(t)));
    for rubric in rubrics {
        for c in &rubric.criteria {
            let check = match c.kind {
                CriterionKind::Tone => {
                    let measured = match c.speaker {
                        Speaker::Customer => &customer_tone,
                        Speaker::Agent => &agent_tone,
                    };
                    // An imported source without audio has nothing to measure.
                    if rec.outcome.imported.is_some() && !rec.track(c.speaker).exists() {
                        Check::skipped(
                            CheckKind::Tone,
                            format!("tone.{}.{}", rubric.name, c.id),
                            "the imported call has no audio track for this side",
                        )
                    } else {
                        tone::score(rubric, c, measured)
                    }
                }
                CriterionKind::Judge => {
                    judge::score(
                        rubric,
                        c,
                        &rec,
                        inputs.scenario,
                        inputs.persona,
                        &inputs.cache_dir,
                        &mut write_errors,
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
    sheet.verdict = check::verdict(true, &sheet.checks);
    Scoring {
        sheet,
        write_errors,
    }
}

/// Everything that needs no network: the recording read from disk, the
/// rule-based checks, latency measures and both sides' tone. None for a call
/// that did not complete.
fn score_offline(
    dir: &Path,
    scenario: &ScenarioFile,
    agent: &AgentFile,
) -> Result<Option<Offline>, String> {
    let rec = RecordedConversation::load(dir).map_err(|e| e.to_string())?;
    if !rec.outcome.status.has_record() {
        return Ok(None);
    }
    let exp = &scenario.expectations;
    let mut metrics = BTreeMap::new();
    let mut checks = function_calls::score(&rec, exp, &agent.tools, &scenario.facts);
    checks.extend(flow::score(&rec, exp, &agent.stages));
    checks.extend(transcript::score(&rec, exp));
    checks.extend(latency::score(&rec, exp, &mut metrics));
    checks.extend(interaction::score(&rec, exp, &mut metrics));
    checks.extend(guardrails::score(&rec, exp, agent, &mut metrics));
    checks.extend(replay::score(&rec, scenario));
    let agent_tone = tone::measure(&rec, Speaker::Agent);
    let customer_tone = tone::measure(&rec, Speaker::Customer);
    for (who, m) in [
        (Speaker::Agent, &agent_tone),
        (Speaker::Customer, &customer_tone),
    ] {
        if let Ok(m) = m {
            for (k, v) in tone::metrics_map(m) {
                metrics.insert(format!("tone.{who}.{k}"), v);
            }
        }
    }
    Ok(Some(Offline {
        rec,
        checks,
        metrics,
        agent_tone,
        customer_tone,
    }))
}

/// Scores a conversation and writes `scores.json` beside it (atomically,
/// off the async workers).
pub async fn score_and_save(
    dir: &Path,
    planned: &PlannedConversation,
    inputs: &ScoringInputs<'_>,
) -> Scoring {
    let mut scoring = score_conversation(dir, planned, inputs).await;
    let path = dir.join(SCORES);
    let json = serde_json::to_vec_pretty(&scoring.sheet).unwrap_or_default();
    let shown = path.display().to_string();
    let written = tokio::task::spawn_blocking(move || write_atomic(&path, &json))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    if let Err(e) = written {
        tracing::error!(path = %shown, error = %e, "cannot write scores.json");
        scoring.write_errors.push(format!("{shown}: {e}"));
    }
    scoring
}
