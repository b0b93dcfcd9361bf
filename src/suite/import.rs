//! `rehearse import`: real calls read from their sources, written as one
//! run folder (each call `imported`, scored with the project's rubrics and
//! the scenario written for it) and as replay scenarios in the project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::persona::PersonaFile;
use crate::config::rubric::RubricFile;
use crate::config::scenario::ScenarioFile;
use crate::import::redact::{self, Pattern};
use crate::import::scenario::{REPLAY_PERSONA, agent_yaml, persona_yaml, scenario_yaml};
use crate::import::transcript_file::{self, TranscriptLine};
use crate::import::{ImportError, ImportedCall, event_log, recording, run_call, write::write_call};
use crate::reporting::{self, Report, ReportError};
use crate::run_folder::{
    CLEAN, Counts, FORMAT_VERSION, JUDGE_CACHE, MANIFEST, Manifest, Pace, PlannedConversation,
    Status, TurnMode, Verdict, write_atomic,
};
use crate::scoring::{self, ScoringInputs};
use crate::simulation::plan::AgentRef;
use crate::simulation::targets::load_agent;
use crate::transcription::Transcriber;

/// Where one call comes from.
#[derive(Debug, Clone)]
pub enum Source {
    EventLog(PathBuf),
    /// Caller left, agent right.
    Stereo(PathBuf),
    Mono {
        caller: PathBuf,
        agent: PathBuf,
    },
    /// A call folder of a rehearse run.
    RunCall(PathBuf),
}

impl Source {
    /// The kind of source a path is: a folder with `conversation.json` is a
    /// run's call, a `.wav` a recording, anything else an event log.
    pub fn detect(path: &Path, agent_audio: Option<&Path>) -> Source {
        if path.join(crate::run_folder::OUTCOME).is_file() {
            return Source::RunCall(path.to_path_buf());
        }
        let wav = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
        match (wav, agent_audio) {
            (true, Some(agent)) => Source::Mono {
                caller: path.to_path_buf(),
                agent: agent.to_path_buf(),
            },
            (true, None) => Source::Stereo(path.to_path_buf()),
            (false, _) => Source::EventLog(path.to_path_buf()),
        }
    }
}

pub struct ImportRequest {
    pub sources: Vec<Source>,
    /// Words for the calls' turns (one transcript: for a single source).
    pub transcript: Option<PathBuf>,
    pub out: PathBuf,
    pub project: PathBuf,
    /// The agent that served the calls (`FILE[:variant]`); without it, a
    /// run's own agent, or one written from the log's session.
    pub agent: Option<String>,
    pub redact: Vec<Pattern>,
    /// Replace scenario files of the same id.
    pub force: bool,
    /// Words for turns that have none (a recording without a transcript).
    pub transcriber: Option<Arc<dyn Transcriber>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportRunError {
    #[error(transparent)]
    Source(#[from] ImportError),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// What an import did.
pub struct ImportSummary {
    pub run_dir: PathBuf,
    pub scenarios: Vec<PathBuf>,
    /// Files written besides the scenarios (the persona, agent files).
    pub written: Vec<PathBuf>,
    pub calls: Vec<(String, Verdict)>,
    pub redacted: BTreeMap<String, u32>,
    pub secrets_dropped: u32,
    pub notes: Vec<String>,
    pub report: Result<Report, ReportError>,
}

/// Reads a source. A recording's turns are timed by the transcript when it
/// has times, so a recording reads its transcript itself; other sources
/// fill the transcript's words into their turns.
fn read_with_words(
    source: &Source,
    lines: Option<&[TranscriptLine]>,
) -> Result<ImportedCall, ImportError> {
    let mut call = match source {
        Source::EventLog(p) => event_log::read(p)?,
        Source::Stereo(p) => recording::read(recording::Tracks::Stereo(p), lines)?,
        Source::Mono { caller, agent } => {
            recording::read(recording::Tracks::Mono { caller, agent }, lines)?
        }
        Source::RunCall(p) => run_call::read(p)?,
    };
    if let (Some(lines), Source::EventLog(_) | Source::RunCall(_)) = (lines, source)
        && call.fill_words(lines)
    {
        call.words_from = format!("{}, and the transcript given", call.words_from);
    }
    Ok(call)
}

/// A scenario id no other call of this import took.
fn unique_id(name: &str, taken: &mut Vec<String>) -> String {
    let base = format!("replay-{name}");
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    taken.push(id.clone());
    id
}

fn write_file(path: &Path, text: &[u8]) -> Result<(), ImportRunError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| ImportRunError::Write(parent.to_path_buf(), e))?;
    }
    write_atomic(path, text).map_err(|e| ImportRunError::Write(path.to_path_buf(), e))
}

/// A call read, masked and given its place, before anything is written.
struct Prepared {
    call: ImportedCall,
    masked: BTreeMap<String, u32>,
    id: String,
    scenario_path: PathBuf,
    /// The agent as `FILE[:variant]` relative to the project.
    agent_source: String,
    /// An agent file to write there, from the log's session.
    agent_file: Option<(PathBuf, String)>,
}

/// The agent a call is scored with: given, the run's own, or one written
/// from the log's session (returned to be written).
fn agent_for(
    req: &ImportRequest,
    call: &ImportedCall,
    id: &str,
) -> Result<(String, Option<(PathBuf, String)>), ImportRunError> {
    if let Some(a) = req.agent.clone().or_else(|| call.agent_ref.clone()) {
        return Ok((a, None));
    }
    let name = format!("imported-{}", call.name);
    let Some(text) = agent_yaml(call, &name) else {
        return Err(ImportRunError::Config(format!(
            "{}: the source records no session configuration, so the agent that served it is unknown: name it with --agent agents/FILE.yaml",
            call.files.join(", ")
        )));
    };
    let rel = PathBuf::from("agents/imported").join(format!("{id}.yaml"));
    Ok((
        rel.display().to_string(),
        Some((req.project.join(&rel), text)),
    ))
}

/// Every source read and masked, its id and files decided, and nothing
/// written that would replace a file without `--force` (or any run).
async fn prepare(req: &ImportRequest) -> Result<Vec<Prepared>, ImportRunError> {
    if req.out.join(MANIFEST).exists() {
        return Err(ImportRunError::Config(format!(
            "{} already holds a run: import into a new folder",
            req.out.display()
        )));
    }
    let lines = match &req.transcript {
        Some(p) => Some(transcript_file::read(p)?),
        None => None,
    };
    if lines.is_some() && req.sources.len() > 1 {
        return Err(ImportRunError::Config(
            "--transcript goes with one source: import the calls one at a time".into(),
        ));
    }
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for source in &req.sources {
        let mut call = read_with_words(source, lines.as_deref())?;
        if let Some(t) = &req.transcriber {
            let filled = call.transcribe_missing(t.as_ref()).await?;
            if filled > 0 {
                call.words_from = format!(
                    "{}; {filled} turns transcribed by the transcription endpoint",
                    call.words_from
                );
            }
        }
        call.note_missing_words();
        let masked = redact::redact(&mut call, &req.redact);
        let id = unique_id(&call.name, &mut ids);
        let (agent_source, agent_file) = agent_for(req, &call, &id)?;
        let scenario_path = req.project.join("scenarios").join(format!("{id}.yaml"));
        let replaced = std::iter::once(&scenario_path).chain(agent_file.as_ref().map(|(p, _)| p));
        if let Some(existing) = replaced.into_iter().find(|p| p.exists())
            && !req.force
        {
            return Err(ImportRunError::Config(format!(
                "{} exists: pass --force to replace it, or move it",
                existing.display()
            )));
        }
        out.push(Prepared {
            call,
            masked,
            id,
            scenario_path,
            agent_source,
            agent_file,
        });
    }
    Ok(out)
}

/// Writes a prepared call's scenario (and its track and agent file) into
/// the project; returns the scenario, loaded as a run would load it.
fn write_scenario(
    req: &ImportRequest,
    p: &Prepared,
    imported_at: &str,
    written: &mut Vec<PathBuf>,
) -> Result<ScenarioFile, ImportRunError> {
    if let Some((path, text)) = &p.agent_file {
        write_file(path, text.as_bytes())?;
        written.push(path.clone());
    }
    let audio = match &p.call.caller_audio {
        Some(track) => {
            let rel = format!("replays/{}/customer.wav", p.id);
            let path = req.project.join("scenarios").join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| ImportRunError::Write(parent.to_path_buf(), e))?;
            }
            crate::audio::wav::write_mono(&path, crate::audio::SESSION_RATE, track).map_err(
                |e| ImportRunError::Write(path.clone(), std::io::Error::other(e.to_string())),
            )?;
            written.push(path);
            Some(rel)
        }
        None => None,
    };
    let yaml = scenario_yaml(&p.call, &p.id, audio.as_deref(), imported_at);
    write_file(&p.scenario_path, yaml.as_bytes())?;
    Ok(ScenarioFile::load(&p.scenario_path)?)
}

/// The replay persona, written when the project does not have it.
fn ensure_persona(project: &Path, written: &mut Vec<PathBuf>) -> Result<PathBuf, ImportRunError> {
    let path = project
        .join("personas")
        .join(format!("{REPLAY_PERSONA}.yaml"));
    if !path.exists() {
        write_file(&path, persona_yaml().as_bytes())?;
        written.push(path.clone());
    }
    Ok(path)
}

/// Reads every source, writes the run folder and the scenarios, scores the
/// calls and builds the run's reports. Nothing is written unless every
/// source reads and every destination is free (or `--force`).
pub async fn import(req: ImportRequest) -> Result<ImportSummary, ImportRunError> {
    let prepared = prepare(&req).await?;
    let imported_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut written = Vec::new();
    let persona_path = ensure_persona(&req.project, &mut written)?;
    let persona = PersonaFile::load(&persona_path)?;
    let rubrics: Vec<RubricFile> = crate::config::project::yaml_files(&req.project.join("rubrics"))
        .iter()
        .map(|p| RubricFile::load(p))
        .collect::<Result<_, _>>()?;
    let mut done = Done::default();
    let mut manifest = manifest(&imported_at);
    for p in prepared {
        let scenario = write_scenario(&req, &p, &imported_at, &mut written)?;
        done.scenarios.push(p.scenario_path.clone());
        let (_, agent) = load_agent(&req.project, &AgentRef::parse(&p.agent_source))
            .map_err(|e| ImportRunError::Config(format!("agent {}: {e}", p.agent_source)))?;
        let variant = agent.name.clone();
        let dir_rel = PathBuf::from(crate::run_folder::CONVERSATIONS)
            .join(&variant)
            .join(&p.id)
            .join("0");
        let dir = req.out.join(&dir_rel);
        for (k, n) in &p.masked {
            *done.redacted.entry(k.clone()).or_default() += n;
        }
        done.secrets_dropped += p.call.secrets_dropped;
        write_call(&dir, &p.call, p.masked.clone(), &imported_at)
            .map_err(|e| ImportRunError::Write(dir.clone(), e))?;
        let mut planned = planned(&variant, &p.id, dir_rel);
        let inputs = ScoringInputs {
            scenario: &scenario,
            agent: &agent,
            persona: &persona,
            rubrics: &rubrics,
            cache_dir: req.out.join(JUDGE_CACHE),
            transcriber: None,
        };
        let scoring = scoring::score_and_save(&dir, &planned, &inputs).await;
        planned.verdict = Some(scoring.sheet.verdict);
        let call = &p.call;
        done.calls.push((
            format!("{} ({})", call.name, call.files.join(", ")),
            scoring.sheet.verdict,
        ));
        done.notes
            .extend(call.notes.iter().map(|n| format!("{}: {n}", call.name)));
        if !manifest.variants.contains(&variant) {
            manifest.variants.push(variant.clone());
            manifest.agents.insert(variant, p.agent_source.clone());
        }
        manifest.scenarios.push(p.id);
        manifest.conversations.push(planned);
        for e in scoring.write_errors {
            manifest.add_write_error(e);
        }
    }
    manifest.recount();
    manifest.finished_at =
        Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ImportRunError::Write(req.out.join(MANIFEST), std::io::Error::other(e)))?;
    write_file(&req.out.join(MANIFEST), &json)?;
    Ok(ImportSummary {
        run_dir: req.out.clone(),
        scenarios: done.scenarios,
        written,
        calls: done.calls,
        redacted: done.redacted,
        secrets_dropped: done.secrets_dropped,
        notes: done.notes,
        report: reporting::build(&req.out),
    })
}

/// An imported call's line in `run.json`.
fn planned(variant: &str, id: &str, dir: PathBuf) -> PlannedConversation {
    PlannedConversation {
        variant: variant.to_string(),
        scenario: id.to_string(),
        persona: REPLAY_PERSONA.into(),
        repeat: 0,
        condition: CLEAN.into(),
        seed: 0,
        dir,
        status: Some(Status::Imported),
        error: None,
        end_reason: None,
        verdict: None,
        not_started: None,
        attempts: None,
    }
}

/// What the calls gave, gathered as they are imported.
#[derive(Default)]
struct Done {
    scenarios: Vec<PathBuf>,
    calls: Vec<(String, Verdict)>,
    redacted: BTreeMap<String, u32>,
    secrets_dropped: u32,
    notes: Vec<String>,
}

fn manifest(imported_at: &str) -> Manifest {
    let run_id = format!(
        "import-{}",
        imported_at.replace([':', '-'], "").trim_end_matches('Z')
    );
    Manifest {
        version: FORMAT_VERSION,
        run_id,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: imported_at.to_string(),
        finished_at: None,
        git_revision: None,
        seed: 0,
        pace: Pace::Realtime,
        turns: TurnMode::Vad,
        repeat: 1,
        concurrency: 1,
        config_hashes: BTreeMap::new(),
        variants: Vec::new(),
        agents: BTreeMap::new(),
        scenarios: Vec::new(),
        conditions: vec![CLEAN.into()],
        conversations: Vec::new(),
        shard: None,
        counts: Counts::default(),
        write_errors: Vec::new(),
        harness_load: None,
    }
}
