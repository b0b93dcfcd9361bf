//! A run: agents × scenarios × repeats, as conversations with bounded
//! concurrency, in a seeded reproducible order, each leaving its artifacts and
//! `conversation.json`, with `run.json` rewritten atomically as they finish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Semaphore};

use super::bridge::{
    ConversationOutcome, ConversationSpec, SpeechEndpoint, Status, TurnMode, run_conversation,
};
use super::caller::{ChatCaller, ScriptedCaller, TextCaller, caller_instructions};
use super::clock::Pace;
use super::progress::Progress;
use super::supervisor::{self, CircuitBreaker};
use crate::config::ConfigError;
use crate::config::agent::{AgentFile, LatencySpec, ProviderKind};
use crate::config::persona::{Driver, PersonaFile};
use crate::config::project::Project;
use crate::config::rubric::RubricFile;
use crate::config::scenario::ScenarioFile;
use crate::emulator::{
    self, AgentRegistry, ClosedSetRecognizer, CompiledAgent, EmulatorConfig, EmulatorHandle,
};
use crate::emulator::{HttpTranscriber, Transcriber};
use crate::protocol::Dialect;
use crate::realtime::{Endpoint, Secret};
use crate::retry::RetryPolicy;
use crate::scoring::{self, ScoringInputs, Verdict};

pub use super::manifest::{
    Counts, JUDGE_CACHE, MANIFEST, MANIFEST_VERSION, Manifest, OUTCOME, PlannedConversation,
    save_manifest, write_atomic,
};
pub use super::plan::{AgentRef, ESTIMATED_CALL_MINUTES, PlanSummary, glob_match, plan};
use super::plan::{plan_conversations, select};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub root: PathBuf,
    pub agents: Vec<AgentRef>,
    pub scenarios: Vec<String>,
    pub tags: Vec<String>,
    pub repeat: u32,
    pub concurrency: usize,
    pub pace: Pace,
    pub turns: TurnMode,
    pub seed: u64,
    pub out: Option<PathBuf>,
    /// Replaces emulator agents' latency (e.g. 0 for benchmarks).
    pub latency_ms: Option<f64>,
    /// OpenAI-compatible API base for the audio-vs-transcript check.
    pub transcription_url: Option<String>,
    pub transcription_model: String,
    pub transcription_key_env: Option<String>,
    /// Run only shard `i` of `n` (1-based) of the plan.
    pub shard: Option<(u32, u32)>,
    /// Continue the run in `out`: finished conversations are kept, the rest run.
    pub resume: bool,
    /// Stop starting conversations once this much has been spent (USD).
    pub max_cost_usd: Option<f64>,
    /// Tries after the first for a call that failed transiently.
    pub retries: u32,
    /// Stop starting calls after this many in a row failed (0: never).
    pub circuit_breaker: u32,
    /// Longest wait for any event from a provider.
    pub idle_timeout: Duration,
    /// Wall-clock limit per call (default: 3 × the scenario's max_duration_s).
    pub conversation_timeout: Option<Duration>,
    /// Most audio accepted from the agent in one call, in minutes.
    pub max_audio_minutes: f64,
    /// Faults for the embedded emulator to inject (testing the harness).
    pub emulator_faults: Option<crate::emulator::FaultSpec>,
    /// Turns true to stop the run (Ctrl-C); see [`supervisor::stop_on_signals`].
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl RunOptions {
    pub fn new(root: &Path) -> Self {
        RunOptions {
            root: root.to_path_buf(),
            agents: vec![],
            scenarios: vec![],
            tags: vec![],
            repeat: 1,
            concurrency: 4,
            pace: Pace::Fast,
            turns: TurnMode::Vad,
            seed: 0,
            out: None,
            latency_ms: None,
            transcription_url: None,
            transcription_model: "gpt-4o-mini-transcribe".into(),
            transcription_key_env: None,
            shard: None,
            resume: false,
            max_cost_usd: None,
            retries: 2,
            circuit_breaker: 5,
            idle_timeout: Duration::from_secs(30),
            conversation_timeout: None,
            max_audio_minutes: 30.0,
            emulator_faults: None,
            stop: None,
        }
    }

    /// The agents to test: those given, else `agents/support.yaml`.
    pub fn agent_refs(&self) -> Vec<AgentRef> {
        if self.agents.is_empty() {
            vec![AgentRef {
                path: PathBuf::from("agents/support.yaml"),
                variant: None,
            }]
        } else {
            self.agents.clone()
        }
    }

    /// The transcription endpoint for scoring, if one is configured.
    pub fn transcriber(&self) -> Option<Arc<dyn Transcriber>> {
        let url = self.transcription_url.as_ref()?;
        Some(Arc::new(HttpTranscriber::with_key_from_env(
            url,
            &self.transcription_model,
            self.transcription_key_env.as_deref(),
        )))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration errors")]
    Config(Vec<ConfigError>),
    #[error("{0}")]
    Setup(String),
}

/// Where a variant's agent is reached.
struct Target {
    name: String,
    /// `FILE[:variant]` as given, relative to the project.
    source: String,
    file: AgentFile,
    path: PathBuf,
    endpoint: Endpoint,
    instructions: String,
    recognizer: Option<ClosedSetRecognizer>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn sha256_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// An agent file with its variant applied; the path it was read from.
pub(super) fn load_agent(root: &Path, r: &AgentRef) -> Result<(PathBuf, AgentFile), RunError> {
    let path = if r.path.is_absolute() {
        r.path.clone()
    } else {
        root.join(&r.path)
    };
    let base = AgentFile::load(&path).map_err(|e| RunError::Config(vec![e]))?;
    let file = match &r.variant {
        Some(v) => base
            .with_variant(v)
            .map_err(|e| RunError::Config(vec![ConfigError::new(&path, e)]))?,
        None => base,
    };
    Ok((path, file))
}

pub struct RunResult {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

pub async fn run(opts: RunOptions, progress: Arc<dyn Progress>) -> Result<RunResult, RunError> {
    let project = Project::load(&opts.root).map_err(RunError::Config)?;
    let scenarios = select(&project, &opts.scenarios, &opts.tags);
    if scenarios.is_empty() {
        return Err(RunError::Setup("no scenario matches the selection".into()));
    }

    let mut emulators: Vec<EmulatorHandle> = Vec::new();
    let mut targets = Vec::new();
    for r in &opts.agent_refs() {
        let (path, file) = load_agent(&opts.root, r)?;
        let instructions = file
            .render_instructions(&path)
            .map_err(|e| RunError::Config(vec![e]))?;
        let (endpoint, recognizer) = if file.provider == ProviderKind::Emulator {
            let (handle, ear) = start_emulator(&path, &file, &opts).await?;
            let url = format!("{}?model=gpt-realtime", handle.url());
            emulators.push(handle);
            (Endpoint::local(&url, Dialect::Ga), Some(ear))
        } else {
            let env = |k: &str| std::env::var(k).ok();
            let e = Endpoint::resolve(&file, &env)
                .map_err(|e| RunError::Setup(format!("agent {}: {e}", file.name)))?;
            (e, None)
        };
        let source = match &r.variant {
            Some(v) => format!("{}:{v}", r.path.display()),
            None => r.path.display().to_string(),
        };
        targets.push(Arc::new(Target {
            name: file.name.clone(),
            source,
            file,
            path,
            endpoint,
            instructions,
            recognizer,
        }));
    }

    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let plan = plan_conversations(&names, &scenarios, &opts)?;

    let started_at = now_rfc3339();
    let run_id = format!(
        "{}-s{}",
        started_at.replace([':', '-'], "").trim_end_matches('Z'),
        opts.seed
    );
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| opts.root.join("reports").join(&run_id));
    std::fs::create_dir_all(&dir)
        .map_err(|e| RunError::Setup(format!("cannot create {}: {e}", dir.display())))?;
    // Resuming: conversations that finished (their outcome is on disk) are
    // kept. A run killed before it wrote run.json has nothing to keep.
    let manifest_path = dir.join(MANIFEST);
    let previous: Option<Manifest> = if opts.resume && manifest_path.exists() {
        let m: Manifest = std::fs::read(&manifest_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                RunError::Setup(format!(
                    "--resume: {} is not a readable run manifest",
                    manifest_path.display()
                ))
            })?;
        if m.seed != opts.seed {
            return Err(RunError::Setup(format!(
                "--resume: the run used --seed {}; resume with the same seed",
                m.seed
            )));
        }
        Some(m)
    } else {
        if opts.resume {
            tracing::warn!(dir = %dir.display(), "--resume: no run.json yet, starting the run");
        }
        None
    };
    let mut plan = plan;
    for p in plan.iter_mut() {
        let done = previous
            .as_ref()
            .and_then(|m| m.conversations.iter().find(|c| c.dir == p.dir))
            .filter(|c| matches!(c.status, Some(Status::Completed | Status::Error)))
            .filter(|c| dir.join(&c.dir).join(OUTCOME).exists());
        if let Some(done) = done {
            p.status = done.status;
            p.error = done.error.clone();
            p.end_reason = done.end_reason.clone();
            p.verdict = done.verdict;
            p.attempts = done.attempts;
        }
    }
    // A resumed run keeps its identity.
    let (run_id, started_at) = match &previous {
        Some(m) => (m.run_id.clone(), m.started_at.clone()),
        None => (run_id, started_at),
    };
    let mut config_hashes = BTreeMap::new();
    let files = targets
        .iter()
        .map(|t| t.path.clone())
        .chain(project.scenarios.iter().map(|(p, _)| p.clone()))
        .chain(project.personas.values().map(|(p, _)| p.clone()));
    for path in files {
        if let Some(h) = sha256_file(&path) {
            let shown = path
                .strip_prefix(&opts.root)
                .unwrap_or(&path)
                .display()
                .to_string();
            config_hashes.insert(shown, h);
        }
    }
    let manifest = Arc::new(Mutex::new(Manifest {
        version: MANIFEST_VERSION,
        run_id,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: None,
        seed: opts.seed,
        pace: opts.pace,
        turns: opts.turns,
        repeat: opts.repeat.max(1),
        concurrency: opts.concurrency.max(1),
        config_hashes,
        variants: targets.iter().map(|t| t.name.clone()).collect(),
        agents: targets
            .iter()
            .map(|t| (t.name.clone(), t.source.clone()))
            .collect(),
        scenarios: scenarios.iter().map(|s| s.id.clone()).collect(),
        counts: Counts::of(&plan),
        conversations: plan.clone(),
    }));
    save_manifest(&dir, &*manifest.lock().await);
    progress.start(plan.len());

    let rubrics: Arc<Vec<RubricFile>> =
        Arc::new(project.rubrics.iter().map(|(_, r)| r.clone()).collect());
    let transcriber = opts.transcriber();
    let semaphore = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let spent = Arc::new(Mutex::new(0.0f64));
    // One breaker per agent: a provider that is down stops its own calls only.
    let breakers = Arc::new(Mutex::new(
        targets
            .iter()
            .map(|t| (t.name.clone(), CircuitBreaker::new(opts.circuit_breaker)))
            .collect::<BTreeMap<_, _>>(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, planned) in plan.into_iter().enumerate() {
        if planned.status.is_some() {
            continue; // finished in the run being resumed
        }
        let target = targets.iter().find(|t| t.name == planned.variant).cloned();
        let Some(target) = target else { continue };
        let scenario = project.scenario(&planned.scenario).cloned();
        let persona = project
            .personas
            .get(&planned.persona)
            .map(|(p, f)| (p.clone(), f.clone()));
        let (Some(scenario), Some((persona_path, persona))) = (scenario, persona) else {
            continue;
        };
        let shared = Shared {
            manifest: manifest.clone(),
            dir: dir.clone(),
            spent: spent.clone(),
            breakers: breakers.clone(),
        };
        let semaphore = semaphore.clone();
        let progress = progress.clone();
        let opts = opts.clone();
        let rubrics = rubrics.clone();
        let transcriber = transcriber.clone();
        tasks.spawn(async move {
            let permit = tokio::select! {
                p = semaphore.acquire_owned() => p,
                _ = supervisor::stopped(opts.stop.clone()) => {
                    return shared.not_started(index, STOPPED_BEFORE_START).await;
                }
            };
            let Ok(_permit) = permit else { return };
            if let Some(why) = shared.why_not_start(&opts, &planned.variant).await {
                return shared.not_started(index, &why).await;
            }
            progress.conversation_started(&planned);
            let conv_dir = shared.dir.join(&planned.dir);
            // Left by a run that was killed mid-call: that try is void.
            if conv_dir.exists() {
                let _ = std::fs::remove_dir_all(&conv_dir);
            }
            let policy = RetryPolicy::conversations(opts.retries);
            let call = supervisor::with_retries(&policy, &conv_dir, |attempt| {
                let call = Call {
                    target: &target,
                    scenario: &scenario,
                    persona: &persona,
                    persona_path: &persona_path,
                    planned: &planned,
                    dir: &conv_dir,
                };
                converse(call, &opts, attempt)
            });
            let outcome = tokio::select! {
                o = call => o,
                _ = supervisor::stopped(opts.stop.clone()) => supervisor::interrupted(),
            };
            if let Ok(json) = serde_json::to_vec_pretty(&outcome) {
                let _ = std::fs::create_dir_all(&conv_dir);
                let _ = write_atomic(&conv_dir.join(OUTCOME), &json);
            }
            *shared.spent.lock().await += crate::reporting::tables::cost(&outcome).unwrap_or(0.0);
            let verdict = if outcome.status == Status::Interrupted {
                None
            } else {
                let inputs = ScoringInputs {
                    scenario: &scenario,
                    agent: &target.file,
                    persona: &persona,
                    rubrics: &rubrics,
                    cache_dir: shared.dir.join(JUDGE_CACHE),
                    transcriber: transcriber.clone(),
                };
                Some(
                    scoring::score_and_save(&conv_dir, &planned, &inputs)
                        .await
                        .verdict,
                )
            };
            progress.conversation_finished(&planned, &outcome, verdict);
            if let Some(b) = shared.breakers.lock().await.get_mut(&planned.variant)
                && let Some(why) = b.record(&outcome)
            {
                progress.notice(&format!(
                    "{}: {why}; its remaining calls will not start",
                    planned.variant
                ));
            }
            shared.finished(index, &outcome, verdict).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    for handle in emulators {
        handle.stop().await;
    }
    let mut m = manifest.lock().await.clone();
    m.finished_at = Some(now_rfc3339());
    save_manifest(&dir, &m);
    progress.finish(&m.counts);
    Ok(RunResult { dir, manifest: m })
}

const STOPPED_BEFORE_START: &str = "the run was stopped before this call started";

/// What every call's task shares with the run.
struct Shared {
    manifest: Arc<Mutex<Manifest>>,
    dir: PathBuf,
    spent: Arc<Mutex<f64>>,
    breakers: Arc<Mutex<BTreeMap<String, CircuitBreaker>>>,
}

impl Shared {
    /// Why a call must not start now: budget spent, run stopped, or the
    /// agent's breaker open.
    async fn why_not_start(&self, opts: &RunOptions, variant: &str) -> Option<String> {
        if let Some(budget) = opts.max_cost_usd
            && *self.spent.lock().await >= budget
        {
            return Some(format!("--max-cost ${budget} was spent"));
        }
        if supervisor::is_stopped(&opts.stop) {
            return Some(STOPPED_BEFORE_START.into());
        }
        let breakers = self.breakers.lock().await;
        breakers.get(variant)?.open().map(str::to_string)
    }

    async fn not_started(&self, index: usize, why: &str) {
        let mut m = self.manifest.lock().await;
        m.conversations[index].not_started = Some(why.to_string());
        m.counts = Counts::of(&m.conversations);
        save_manifest(&self.dir, &m);
    }

    /// Records a finished (or interrupted) call in `run.json`, at once.
    async fn finished(
        &self,
        index: usize,
        outcome: &ConversationOutcome,
        verdict: Option<Verdict>,
    ) {
        let mut m = self.manifest.lock().await;
        let entry = &mut m.conversations[index];
        entry.status = Some(outcome.status);
        entry.error = outcome.error.clone();
        entry.end_reason = outcome.end_reason.clone();
        entry.verdict = verdict;
        entry.attempts = (outcome.attempts > 1).then_some(outcome.attempts);
        m.counts = Counts::of(&m.conversations);
        save_manifest(&self.dir, &m);
    }
}

async fn start_emulator(
    path: &Path,
    file: &AgentFile,
    opts: &RunOptions,
) -> Result<(EmulatorHandle, ClosedSetRecognizer), RunError> {
    let (registry, _) = AgentRegistry::load(path).map_err(|e| RunError::Config(vec![e]))?;
    let compiled = CompiledAgent::new(file.clone()).map_err(|e| RunError::Setup(e.to_string()))?;
    let agent = Arc::new(compiled);
    let registry = registry.with_agent(agent.clone());
    let ear = ClosedSetRecognizer::new();
    let mut config = EmulatorConfig::new(agent, registry);
    config.latency = opts.latency_ms.map(|ms| LatencySpec {
        median_ms: ms,
        p90_ms: ms,
    });
    config.seed = opts.seed;
    config.transcriber = Some(Arc::new(ear.clone()));
    config.recognizer = Some(ear.clone());
    config.max_sessions = usize::MAX;
    config.faults = opts.emulator_faults.clone().unwrap_or_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RunError::Setup(format!("cannot start the local emulator: {e}")))?;
    let handle = emulator::spawn(listener, config).map_err(|e| RunError::Setup(e.to_string()))?;
    Ok((handle, ear))
}

/// What one call of the plan is made of.
struct Call<'a> {
    target: &'a Target,
    scenario: &'a ScenarioFile,
    persona: &'a PersonaFile,
    persona_path: &'a Path,
    planned: &'a PlannedConversation,
    dir: &'a Path,
}

/// One try (`attempt`, from 1) of a call.
async fn converse(call: Call<'_>, opts: &RunOptions, attempt: u32) -> ConversationOutcome {
    let Call {
        target,
        scenario,
        persona,
        persona_path,
        planned,
        dir,
    } = call;
    let key = format!(
        "{}/{}/{}",
        planned.variant, planned.scenario, planned.repeat
    );
    let mut endpoint = target.endpoint.clone();
    if target.recognizer.is_some() {
        endpoint.url = format!(
            "{}&rehearse_conversation={}&rehearse_attempt={attempt}",
            endpoint.url,
            url_encode(&key)
        );
    }
    let spec = ConversationSpec {
        key,
        endpoint,
        instructions: target.instructions.clone(),
        tools: target.file.tool_defs(),
        agent_voice: target.file.voice.name.clone(),
        scenario: scenario.clone(),
        persona: persona.clone(),
        seed: planned.seed,
        pace: opts.pace,
        turns: opts.turns,
        dir: dir.to_path_buf(),
        recognizer: target.recognizer.clone(),
        idle_timeout: opts.idle_timeout,
        wall_limit: opts
            .conversation_timeout
            .unwrap_or_else(|| supervisor::default_wall_limit(scenario.end.max_duration_s)),
        max_audio_s: opts.max_audio_minutes * 60.0,
        attempt,
        speech: match &persona.driver {
            Driver::Chat {
                speech_url: Some(url),
                speech_model,
                api_key_env,
                ..
            } => Some(SpeechEndpoint {
                url: url.clone(),
                model: speech_model
                    .clone()
                    .unwrap_or_else(|| "gpt-4o-mini-tts".into()),
                voice: persona.voice.name.clone().unwrap_or_else(|| "alloy".into()),
                key: api_key_env
                    .as_ref()
                    .and_then(|v| std::env::var(v).ok())
                    .map(Secret::new),
            }),
            _ => None,
        },
    };
    let mut caller: Box<dyn TextCaller> = match &persona.driver {
        Driver::Scripted => Box::new(ScriptedCaller::new(scenario, persona, planned.seed)),
        Driver::Chat {
            url,
            model,
            api_key_env,
            temperature,
            ..
        } => {
            let key = api_key_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok())
                .map(Secret::new);
            let instructions = match caller_instructions(persona, scenario, None) {
                Ok(i) => i,
                Err(e) => return setup_failure(&spec, format!("caller prompt: {e}")),
            };
            Box::new(ChatCaller::new(
                url,
                model,
                key,
                *temperature,
                instructions,
                planned.seed,
            ))
        }
        Driver::Realtime { provider, .. } => {
            return super::relay::run_relayed(&spec, persona_path, provider).await;
        }
    };
    run_conversation(&spec, caller.as_mut()).await
}

fn setup_failure(spec: &ConversationSpec, error: String) -> ConversationOutcome {
    let _ = std::fs::create_dir_all(&spec.dir);
    ConversationOutcome {
        error: Some(error),
        ..ConversationOutcome::not_finished()
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
