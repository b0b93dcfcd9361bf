//! A suite run end to end: the calls ([`crate::simulation`]), each scored as
//! it is recorded ([`crate::scoring`]), then every report of the run
//! ([`crate::reporting`]). This is where the three meet; none of them knows
//! the others.

pub mod import;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::config::ConfigError;
use crate::config::project::Project;
use crate::config::rubric::RubricFile;
use crate::reporting::margins::Margins;
use crate::reporting::{self, Report, ReportError};
use crate::run_folder::{JUDGE_CACHE, MANIFEST, RunFolder, RunFolderError, SCORES, write_atomic};
use crate::scoring::{self, ScoringInputs};
use crate::simulation::plan::AgentRef;
use crate::simulation::progress::Progress;
use crate::simulation::targets::load_agent;
use crate::simulation::{RecordedCall, RunError, RunOptions, RunResult, ScoreCall, Scored};
use crate::transcription::Transcriber;

/// What scoring needs beyond the call itself: the project's rubrics and a
/// transcription endpoint if one is configured.
pub struct ProjectScorer {
    pub rubrics: Vec<RubricFile>,
    pub transcriber: Option<Arc<dyn Transcriber>>,
}

impl ScoreCall for ProjectScorer {
    fn score(&self, call: RecordedCall) -> BoxFuture<'_, Scored> {
        Box::pin(async move {
            let inputs = ScoringInputs {
                scenario: &call.scenario,
                agent: &call.agent,
                persona: &call.persona,
                rubrics: &self.rubrics,
                cache_dir: call.run_dir.join(JUDGE_CACHE),
                transcriber: self.transcriber.clone(),
            };
            let scoring = scoring::score_and_save(&call.dir, &call.planned, &inputs).await;
            Scored {
                verdict: scoring.sheet.verdict,
                judge_cost_usd: scoring.judge_cost_usd(),
                write_errors: scoring.write_errors,
            }
        })
    }
}

/// A finished suite: the run and its reports.
pub struct SuiteResult {
    pub run: RunResult,
    /// The reports, or why they could not be built (the run is on disk).
    pub report: Result<Report, ReportError>,
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Runs the calls `opts` selects, scores each, and builds the reports
/// (A/B verdicts under `margins`).
pub async fn run(
    opts: RunOptions,
    transcriber: Option<Arc<dyn Transcriber>>,
    progress: Arc<dyn Progress>,
    margins: Margins,
) -> Result<SuiteResult, SuiteError> {
    let project = Project::load(&opts.root).map_err(RunError::Config)?;
    let scorer = Arc::new(ProjectScorer {
        rubrics: project.rubrics.iter().map(|(_, r)| r.clone()).collect(),
        transcriber,
    });
    let run = crate::simulation::run(opts, &project, progress, scorer).await?;
    let dir = run.dir.clone();
    let report = tokio::task::spawn_blocking(move || reporting::build_with(&dir, &margins))
        .await
        .unwrap_or_else(|e| Err(ReportError::Io(std::io::Error::other(e.to_string()))));
    Ok(SuiteResult { run, report })
}

/// What `rescore` did.
#[derive(Debug, Default)]
pub struct RescoreSummary {
    pub changed: usize,
    pub unchanged: usize,
    /// Calls whose agent, scenario or persona is no longer in the project.
    pub skipped: Vec<String>,
    pub verdicts: BTreeMap<&'static str, usize>,
    pub write_errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    #[error(transparent)]
    Folder(#[from] RunFolderError),
    #[error("configuration errors")]
    Config(Vec<ConfigError>),
}

/// `rehearse rescore`: every call of a stored run scored again from its
/// folder and the project's current config; `run.json` gets the new
/// verdicts. Judge answers come from the run's cache.
pub async fn rescore(
    run_dir: &Path,
    project_root: &Path,
    transcriber: Option<Arc<dyn Transcriber>>,
) -> Result<RescoreSummary, RescoreError> {
    let mut run = RunFolder::open(run_dir)?;
    let project = Project::load(project_root).map_err(RescoreError::Config)?;
    let rubrics: Vec<RubricFile> = project.rubrics.iter().map(|(_, r)| r.clone()).collect();
    let mut summary = RescoreSummary::default();
    // Only calls that ran to a record: never started, stopped or killed
    // calls have nothing to score.
    for entry in run
        .manifest
        .conversations
        .iter_mut()
        .filter(|c| c.is_finished())
    {
        let dir = run_dir.join(&entry.dir);
        let agent = run
            .manifest
            .agents
            .get(&entry.variant)
            .and_then(|source| load_agent(project_root, &AgentRef::parse(source)).ok());
        let scenario = project.scenario(&entry.scenario);
        let persona = project.personas.get(&entry.persona).map(|(_, p)| p);
        let (Some((_, agent)), Some(scenario), Some(persona)) = (agent, scenario, persona) else {
            summary.skipped.push(dir.display().to_string());
            continue;
        };
        let before = std::fs::read(dir.join(SCORES)).ok();
        let inputs = ScoringInputs {
            scenario,
            agent: &agent,
            persona,
            rubrics: &rubrics,
            cache_dir: run_dir.join(JUDGE_CACHE),
            transcriber: transcriber.clone(),
        };
        let scoring = scoring::score_and_save(&dir, entry, &inputs).await;
        let after = std::fs::read(dir.join(SCORES)).ok();
        if before == after {
            summary.unchanged += 1;
        } else {
            summary.changed += 1;
        }
        entry.verdict = Some(scoring.sheet.verdict);
        *summary
            .verdicts
            .entry(scoring.sheet.verdict.as_str())
            .or_default() += 1;
        summary.write_errors.extend(scoring.write_errors);
    }
    for e in &summary.write_errors {
        run.manifest.add_write_error(e.clone());
    }
    let json = serde_json::to_vec_pretty(&run.manifest).unwrap_or_default();
    if let Err(e) = write_atomic(&run_dir.join(MANIFEST), &json) {
        summary
            .write_errors
            .push(format!("{}: {e}", run_dir.join(MANIFEST).display()));
    }
    Ok(summary)
}

/// What `rehearse guardrails` found: a row per debounce setting and
/// guardrail, and the calls it could not replay.
pub struct GuardrailReplay {
    pub rows: Vec<crate::guardrails::replay::ReplayRow>,
    /// Calls whose agent is no longer in the project, or has no guardrails.
    pub skipped: Vec<String>,
}

/// `rehearse guardrails RUN --debounce …`: each recorded call's agent
/// guardrails (from the project's current agent files) replayed over its
/// transcript deltas at every debounce setting. No call is made.
pub async fn replay_guardrails(
    run_dir: &Path,
    project_root: &Path,
    debounces: &[u32],
) -> Result<GuardrailReplay, RunFolderError> {
    use crate::guardrails::replay::{ReplayCall, replay};
    let run = RunFolder::open(run_dir)?;
    let mut calls = Vec::new();
    let mut skipped = Vec::new();
    for entry in run
        .manifest
        .conversations
        .iter()
        .filter(|c| c.status.is_some_and(crate::run_folder::Status::has_record))
    {
        let agent = run
            .manifest
            .agents
            .get(&entry.variant)
            .and_then(|source| load_agent(project_root, &AgentRef::parse(source)).ok());
        match agent {
            Some((_, agent)) if !agent.guardrails.is_empty() => calls.push(ReplayCall {
                dir: run_dir.join(&entry.dir),
                guardrails: agent.guardrails,
            }),
            _ => skipped.push(entry.dir.display().to_string()),
        }
    }
    let rows = replay(&calls, debounces, &run_dir.join(JUDGE_CACHE)).await?;
    Ok(GuardrailReplay { rows, skipped })
}
