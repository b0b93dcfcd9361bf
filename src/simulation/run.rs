//! A run: agents × scenarios × repeats as calls with bounded concurrency, in
//! a seeded reproducible order.
//!
//! One dispatcher owns the run's state (the manifest, the spend, each agent's
//! circuit breaker, the progress display). Each call runs as its own task
//! ([`super::call`]) and hands its record back; the call's concurrency slot
//! is then free for the next call while the recorded call is scored, off the
//! async workers, by the [`ScoreCall`] the run was given. `run.json` follows
//! along through a writer task that never blocks the dispatcher. A call task
//! that panics is recorded as that call's `error`, with the panic message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};
use tokio::task::{Id, JoinError, JoinSet};

use super::call::{Call, CallReport, run_call};
use super::harness_load::LoadMonitor;
use super::manifest_writer::ManifestWriter;
use super::plan::{AgentRef, conditions, plan_conversations, select};
use super::progress::Progress;
use super::supervisor::{CircuitBreaker, StopSignal};
use super::targets::{self, Target};
use crate::audio::espeak;
use crate::config::ConfigError;
use crate::config::agent::AgentFile;
use crate::config::persona::PersonaFile;
use crate::config::project::Project;
use crate::config::scenario::ScenarioFile;
use crate::emulator::FaultSpec;
use crate::guardrails::GuardrailMode;
use crate::realtime::ProviderError;
use crate::run_folder::{
    ConversationOutcome, Counts, FORMAT_VERSION, Manifest, OUTCOME, Pace, PlannedConversation,
    RunFolder, RunFolderError, Shard, Status, TurnMode, Verdict, write_atomic,
};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub root: PathBuf,
    pub agents: Vec<AgentRef>,
    pub scenarios: Vec<String>,
    pub tags: Vec<String>,
    /// Acoustic conditions to run every call under (`clean` when empty).
    pub conditions: Vec<String>,
    pub repeat: u32,
    pub concurrency: usize,
    pub pace: Pace,
    pub turns: TurnMode,
    pub seed: u64,
    pub out: Option<PathBuf>,
    /// Replaces emulator agents' latency (e.g. 0 for benchmarks).
    pub latency_ms: Option<f64>,
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
    pub emulator_faults: Option<FaultSpec>,
    /// Whether the agents' guardrails cut responses or only record trips.
    pub guardrail_mode: GuardrailMode,
    /// The user's stop requests (Ctrl-C); see [`super::supervisor::stop_on_signals`].
    pub stop: Option<StopSignal>,
}

impl RunOptions {
    pub fn new(root: &Path) -> Self {
        RunOptions {
            root: root.to_path_buf(),
            agents: vec![],
            scenarios: vec![],
            tags: vec![],
            conditions: vec![],
            repeat: 1,
            concurrency: 4,
            pace: Pace::Fast,
            turns: TurnMode::Vad,
            seed: 0,
            out: None,
            latency_ms: None,
            shard: None,
            resume: false,
            max_cost_usd: None,
            retries: 2,
            circuit_breaker: 5,
            idle_timeout: Duration::from_secs(30),
            conversation_timeout: None,
            max_audio_minutes: 30.0,
            emulator_faults: None,
            guardrail_mode: GuardrailMode::Enforce,
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

    fn is_stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(StopSignal::is_stopped)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Configuration mistakes (exit 2).
    #[error("configuration errors")]
    Config(Vec<ConfigError>),
    /// An agent's provider cannot be reached as configured (a missing key
    /// variable, say): a set-up mistake, not a run failure.
    #[error("agent {agent}: {error}")]
    Provider { agent: String, error: ProviderError },
    /// `--scenario`/`--tag` selected nothing.
    #[error("{0}")]
    Selection(String),
    /// The run folder to resume or write cannot be used.
    #[error(transparent)]
    Folder(#[from] RunFolderError),
    /// `--resume` with another seed than the run used: the plan would not
    /// be the same calls.
    #[error("--resume: the run used --seed {used}, not {given}; resume with --seed {used}")]
    ResumeSeed { used: u64, given: u64 },
    /// Anything else that keeps a run from starting.
    #[error("{0}")]
    Setup(String),
}

/// What scores a recorded call: a pure function of its folder and the config
/// it ran under, run by the engine after the call has released its slot.
pub trait ScoreCall: Send + Sync {
    fn score(&self, call: RecordedCall) -> BoxFuture<'_, Scored>;
}

/// A call whose record is on disk, with the config it ran under.
pub struct RecordedCall {
    /// The run folder (judge answers are cached there).
    pub run_dir: PathBuf,
    /// The call's folder.
    pub dir: PathBuf,
    pub planned: PlannedConversation,
    pub agent: Arc<AgentFile>,
    pub scenario: Arc<ScenarioFile>,
    pub persona: Arc<PersonaFile>,
}

/// A scored call: its verdict, what judging it cost, and any artifact
/// writes that failed.
#[derive(Debug, Clone)]
pub struct Scored {
    pub verdict: Verdict,
    pub judge_cost_usd: f64,
    pub write_errors: Vec<String>,
}

pub struct RunResult {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Runs the plan `opts` selects from `project`, scoring each call with
/// `scorer` as it is recorded.
pub async fn run(
    opts: RunOptions,
    project: &Project,
    progress: Arc<dyn Progress>,
    scorer: Arc<dyn ScoreCall>,
) -> Result<RunResult, RunError> {
    let scenarios = select(project, &opts.scenarios, &opts.tags)?;
    voices_available(project, &scenarios)?;
    let (targets, emulators) = targets::resolve(&opts).await?;
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let conditions = conditions(project, &opts.conditions)?;
    let plan = plan_conversations(&names, &conditions, &scenarios, &opts)?;
    let (dir, mut manifest) = open_folder(&opts, project, &targets, &scenarios, plan)?;
    manifest.conditions = conditions;
    let writer = ManifestWriter::spawn(&dir);
    progress.start(manifest.conversations.len());
    let monitor = (opts.pace == Pace::Realtime).then(LoadMonitor::start);

    let opts = Arc::new(opts);
    let mut dispatcher = Dispatcher::new(&opts, project, &targets, manifest, writer, progress);
    dispatcher.queue_unfinished();
    dispatcher.score_unscored(&dir, &scorer);
    dispatcher.dispatch(&dir, scorer).await;

    for handle in emulators {
        handle.stop().await;
    }
    let mut manifest = dispatcher.manifest;
    if let Some(monitor) = monitor {
        let load = monitor.stop().await;
        if load.overloaded {
            dispatcher.progress.notice(&format!(
                "the harness could not keep up with realtime pacing (its timers ran up to {:.0} ms late, p99 {:.0} ms): latencies in this run include its own delays; run fewer calls at once",
                load.lag_max_ms, load.lag_p99_ms
            ));
        }
        manifest.harness_load = Some(load);
    }
    manifest.finished_at = Some(now_rfc3339());
    for failure in dispatcher.writer.finish(&manifest).await {
        manifest.add_write_error(failure);
    }
    dispatcher.progress.finish(&manifest.counts);
    Ok(RunResult { dir, manifest })
}

/// A persona whose voice is an external program the machine lacks stops
/// the run before any call, with what to install.
fn voices_available(project: &Project, scenarios: &[&ScenarioFile]) -> Result<(), RunError> {
    let wants_espeak = scenarios.iter().any(|s| {
        project
            .personas
            .get(&s.persona)
            .is_some_and(|(_, p)| p.speaks_with_espeak())
    });
    if wants_espeak && !espeak::available(espeak::PROGRAM) {
        return Err(RunError::Setup(
            espeak::EspeakError::Missing(espeak::PROGRAM.into()).to_string(),
        ));
    }
    Ok(())
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

/// Creates the run folder (or reopens it with `--resume`, keeping what
/// finished) and the manifest the run starts from.
fn open_folder(
    opts: &RunOptions,
    project: &Project,
    targets: &[Arc<Target>],
    scenarios: &[&ScenarioFile],
    mut plan: Vec<PlannedConversation>,
) -> Result<(PathBuf, Manifest), RunError> {
    let now = SystemTime::now();
    // Milliseconds order runs started within one second (`rehearse trend`).
    let started_at = humantime::format_rfc3339_millis(now).to_string();
    let run_id = format!(
        "{}-s{}",
        humantime::format_rfc3339_seconds(now)
            .to_string()
            .replace([':', '-'], "")
            .trim_end_matches('Z'),
        opts.seed
    );
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| opts.root.join("reports").join(&run_id));
    std::fs::create_dir_all(&dir)
        .map_err(|e| RunError::Setup(format!("cannot create {}: {e}", dir.display())))?;
    let previous = previous_run(opts, &dir)?;
    if let Some(previous) = &previous {
        keep_finished(&mut plan, &previous.manifest, &dir);
    }
    // A resumed run keeps its identity.
    let (run_id, started_at) = match &previous {
        Some(p) => (p.manifest.run_id.clone(), p.manifest.started_at.clone()),
        None => (run_id, started_at),
    };
    let files = targets
        .iter()
        .map(|t| t.path.clone())
        .chain(project.scenarios.iter().map(|(p, _)| p.clone()))
        .chain(project.personas.values().map(|(p, _)| p.clone()))
        .chain(project.conditions.iter().map(|(p, _)| p.clone()));
    let config_hashes = files
        .filter_map(|path| {
            let hash = sha256_file(&path)?;
            let shown = path.strip_prefix(&opts.root).unwrap_or(&path);
            Some((shown.display().to_string(), hash))
        })
        .collect();
    let mut manifest = Manifest {
        version: FORMAT_VERSION,
        run_id,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: None,
        git_revision: match &previous {
            Some(p) => p.manifest.git_revision.clone(),
            None => git_revision(&opts.root),
        },
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
        conditions: Vec::new(),
        counts: Counts::default(),
        conversations: plan,
        shard: opts.shard.map(|(index, count)| Shard { index, count }),
        write_errors: Vec::new(),
        harness_load: None,
    };
    manifest.recount();
    Ok((dir, manifest))
}

/// The commit the project is at (`-dirty` with changes to tracked files),
/// when it is in a git repository and git is installed; None otherwise.
fn git_revision(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty())?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|changes| !changes.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// The run `--resume` continues, if there is one yet.
fn previous_run(opts: &RunOptions, dir: &Path) -> Result<Option<RunFolder>, RunError> {
    if !opts.resume {
        return Ok(None);
    }
    match RunFolder::open(dir) {
        Ok(previous) if previous.manifest.seed != opts.seed => Err(RunError::ResumeSeed {
            used: previous.manifest.seed,
            given: opts.seed,
        }),
        Ok(previous) => Ok(Some(previous)),
        // Killed before it wrote run.json: nothing to keep.
        Err(RunFolderError::NotARun(_)) => {
            tracing::warn!(dir = %dir.display(), "--resume: no run.json yet, starting the run");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks the calls a previous run finished (their outcome on disk) as done.
fn keep_finished(plan: &mut [PlannedConversation], previous: &Manifest, dir: &Path) {
    for p in plan.iter_mut() {
        let done = previous
            .conversations
            .iter()
            .find(|c| c.dir == p.dir)
            .filter(|c| c.is_finished())
            .filter(|c| dir.join(&c.dir).join(OUTCOME).exists());
        if let Some(done) = done {
            p.status = done.status;
            p.error = done.error.clone();
            p.end_reason = done.end_reason;
            p.verdict = done.verdict;
            p.attempts = done.attempts;
        }
    }
}

const STOPPED_BEFORE_START: &str = "the run was stopped before this call started";

/// What a task of the run hands back.
enum TaskOutput {
    Recorded(Box<CallReport>),
    Scored(Scored),
}

/// Whether a recorded call left a recording to score.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recording {
    /// The call task finished (completed, errored or stopped).
    Whole,
    /// The call task panicked: only the record of why.
    None,
}

/// What a task does for the call it belongs to.
#[derive(Clone, Copy)]
enum TaskKind {
    Call,
    Scoring,
}

/// The one owner of a run's state while it runs.
struct Dispatcher<'a> {
    opts: &'a Arc<RunOptions>,
    project: &'a Project,
    targets: &'a [Arc<Target>],
    manifest: Manifest,
    writer: ManifestWriter,
    progress: Arc<dyn Progress>,
    /// Calls not started yet, by manifest index, in plan order.
    queue: VecDeque<usize>,
    spent_usd: f64,
    /// One breaker per agent: a provider that is down stops its own calls.
    breakers: BTreeMap<String, CircuitBreaker>,
    tasks: JoinSet<TaskOutput>,
    task_calls: HashMap<Id, (usize, TaskKind)>,
    /// Calls holding a concurrency slot.
    calling: usize,
    /// Outcomes of recorded calls waiting for their score.
    recorded: HashMap<usize, ConversationOutcome>,
    /// The manifest changed since it was last handed to the writer.
    unsaved: bool,
}

impl<'a> Dispatcher<'a> {
    fn new(
        opts: &'a Arc<RunOptions>,
        project: &'a Project,
        targets: &'a [Arc<Target>],
        manifest: Manifest,
        writer: ManifestWriter,
        progress: Arc<dyn Progress>,
    ) -> Self {
        let breakers = targets
            .iter()
            .map(|t| (t.name.clone(), CircuitBreaker::new(opts.circuit_breaker)))
            .collect();
        Dispatcher {
            opts,
            project,
            targets,
            manifest,
            writer,
            progress,
            queue: VecDeque::new(),
            spent_usd: 0.0,
            breakers,
            tasks: JoinSet::new(),
            task_calls: HashMap::new(),
            calling: 0,
            recorded: HashMap::new(),
            unsaved: true,
        }
    }

    /// Queues every call the plan still needs (all but those a resumed run
    /// finished).
    fn queue_unfinished(&mut self) {
        self.queue = (0..self.manifest.conversations.len())
            .filter(|&i| self.manifest.conversations[i].status.is_none())
            .collect();
    }

    /// Scores the calls a resumed run recorded but was stopped before it
    /// scored: their record is finished work, not to be paid for again.
    fn score_unscored(&mut self, dir: &Path, scorer: &Arc<dyn ScoreCall>) {
        let unscored: Vec<usize> = (0..self.manifest.conversations.len())
            .filter(|&i| {
                let c = &self.manifest.conversations[i];
                c.is_finished() && c.verdict.is_none()
            })
            .collect();
        for index in unscored {
            let planned = self.manifest.conversations[index].clone();
            if let Some(call) = self.call(&planned, dir) {
                self.score(index, planned, call, dir, scorer);
            }
        }
    }

    /// Starts calls as slots free up, takes in what tasks report, and keeps
    /// `run.json` current, until every call is recorded and scored.
    async fn dispatch(&mut self, dir: &Path, scorer: Arc<dyn ScoreCall>) {
        let mut stop_seen = false;
        let mut save_tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            self.start_calls(dir);
            self.save();
            if self.tasks.is_empty() && self.queue.is_empty() {
                return;
            }
            let stopped = async {
                match &self.opts.stop {
                    Some(stop) if !stop_seen => stop.stopped().await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                joined = self.tasks.join_next_with_id() => match joined {
                    Some(Ok((id, output))) => self.on_output(id, output, dir, &scorer),
                    Some(Err(e)) => self.on_panic(e, dir, &scorer),
                    None => {}
                },
                _ = stopped => {
                    stop_seen = true;
                    self.not_start_queued(STOPPED_BEFORE_START);
                }
                _ = save_tick.tick() => {}
            }
        }
    }

    /// Starts queued calls while slots are free and nothing forbids it.
    fn start_calls(&mut self, dir: &Path) {
        while self.calling < self.opts.concurrency.max(1) {
            let Some(index) = self.queue.pop_front() else {
                return;
            };
            let planned = self.manifest.conversations[index].clone();
            if let Some(why) = self.why_not_start(&planned.variant) {
                self.not_started(index, why);
                continue;
            }
            let Some(call) = self.call(&planned, dir) else {
                self.not_started(
                    index,
                    "its scenario, persona, agent or condition is gone".into(),
                );
                continue;
            };
            self.progress.conversation_started(&planned);
            let opts = self.opts.clone();
            let handle = self
                .tasks
                .spawn(async move { TaskOutput::Recorded(Box::new(run_call(call, opts).await)) });
            self.task_calls.insert(handle.id(), (index, TaskKind::Call));
            self.calling += 1;
        }
    }

    /// What a planned call is made of, from the project.
    fn call(&self, planned: &PlannedConversation, dir: &Path) -> Option<Call> {
        let target = self.targets.iter().find(|t| t.name == planned.variant)?;
        let scenario = self.project.scenario(&planned.scenario)?;
        let (persona_path, persona) = self.project.personas.get(&planned.persona)?;
        let condition = self.project.condition(&planned.condition)?;
        Some(Call {
            target: target.clone(),
            condition,
            scenario: Arc::new(scenario.clone()),
            persona: Arc::new(persona.clone()),
            persona_path: persona_path.clone(),
            planned: planned.clone(),
            dir: dir.join(&planned.dir),
            run_dir: dir.to_path_buf(),
        })
    }

    /// Why a call must not start now: budget spent, run stopped, or the
    /// agent's breaker open.
    fn why_not_start(&self, variant: &str) -> Option<String> {
        if let Some(budget) = self.opts.max_cost_usd
            && self.spent_usd >= budget
        {
            return Some(format!("--max-cost ${budget} was spent"));
        }
        if self.opts.is_stopped() {
            return Some(STOPPED_BEFORE_START.into());
        }
        self.breakers.get(variant)?.open().map(str::to_string)
    }

    fn not_start_queued(&mut self, why: &str) {
        while let Some(index) = self.queue.pop_front() {
            self.not_started(index, why.to_string());
        }
    }

    fn not_started(&mut self, index: usize, why: String) {
        self.manifest.conversations[index].not_started = Some(why);
        self.changed();
    }

    fn on_output(&mut self, id: Id, output: TaskOutput, dir: &Path, scorer: &Arc<dyn ScoreCall>) {
        let Some((index, _)) = self.task_calls.remove(&id) else {
            return;
        };
        match output {
            TaskOutput::Recorded(report) => {
                self.on_recorded(index, *report, Recording::Whole, dir, scorer)
            }
            TaskOutput::Scored(scored) => self.on_scored(index, scored),
        }
    }

    /// A task panicked: the call it served is recorded as an error with the
    /// panic message, never lost.
    fn on_panic(&mut self, e: JoinError, dir: &Path, scorer: &Arc<dyn ScoreCall>) {
        let Some((index, kind)) = self.task_calls.remove(&e.id()) else {
            return;
        };
        let message = panic_message(e);
        tracing::error!(call = %self.manifest.conversations[index].label(), "{message}");
        match kind {
            TaskKind::Call => {
                let mut outcome = ConversationOutcome::not_finished();
                outcome.fail(format!("rehearse failed during this call: {message}"), None);
                // The call's own record says why (a rare path: written here).
                let path = dir.join(&self.manifest.conversations[index].dir);
                let written = serde_json::to_vec_pretty(&outcome)
                    .map_err(std::io::Error::other)
                    .and_then(|json| {
                        std::fs::create_dir_all(&path)?;
                        write_atomic(&path.join(OUTCOME), &json)
                    });
                let mut write_errors = Vec::new();
                if let Err(e) = written {
                    write_errors.push(format!("{}: {e}", path.join(OUTCOME).display()));
                }
                let report = CallReport {
                    outcome,
                    write_errors,
                };
                self.on_recorded(index, report, Recording::None, dir, scorer);
            }
            TaskKind::Scoring => {
                let entry = &mut self.manifest.conversations[index];
                entry.error = Some(format!("scoring failed: {message}"));
                self.on_scored(
                    index,
                    Scored {
                        verdict: Verdict::Error,
                        judge_cost_usd: 0.0,
                        write_errors: Vec::new(),
                    },
                );
            }
        }
    }

    /// A call is recorded: its slot frees, its spend and breaker count, and
    /// a completed call goes to be scored.
    fn on_recorded(
        &mut self,
        index: usize,
        report: CallReport,
        recording: Recording,
        dir: &Path,
        scorer: &Arc<dyn ScoreCall>,
    ) {
        self.calling -= 1;
        let CallReport {
            outcome,
            write_errors,
        } = report;
        for e in write_errors {
            self.manifest.add_write_error(e);
        }
        let planned = self.manifest.conversations[index].clone();
        self.spent_usd += crate::pricing::call_cost(&outcome);
        if let Some(breaker) = self.breakers.get_mut(&planned.variant)
            && let Some(why) = breaker.record(&outcome)
        {
            self.progress.notice(&format!(
                "{}: {why}; its remaining calls will not start",
                planned.variant
            ));
        }
        let entry = &mut self.manifest.conversations[index];
        entry.status = Some(outcome.status);
        entry.error = outcome.error.clone();
        entry.end_reason = outcome.end_reason;
        entry.attempts = (outcome.attempts > 1).then_some(outcome.attempts);
        self.changed();
        // An interrupted call was never finished: nothing to score. A call
        // that errored is scored (its sheet records the error verdict), but
        // not one whose task panicked: there is no recording to read.
        let scoreable = recording == Recording::Whole && outcome.status != Status::Interrupted;
        let call = scoreable.then(|| self.call(&planned, dir)).flatten();
        match call {
            Some(call) => {
                self.score(index, planned, call, dir, scorer);
                self.recorded.insert(index, outcome);
            }
            None => self
                .progress
                .conversation_finished(&planned, &outcome, None),
        }
    }

    /// Hands a recorded call to the scorer, as a task of its own.
    fn score(
        &mut self,
        index: usize,
        planned: PlannedConversation,
        call: Call,
        dir: &Path,
        scorer: &Arc<dyn ScoreCall>,
    ) {
        let job = RecordedCall {
            run_dir: dir.to_path_buf(),
            dir: call.dir,
            planned,
            agent: call.target.file.clone(),
            scenario: call.scenario,
            persona: call.persona,
        };
        let scorer = scorer.clone();
        let handle = self
            .tasks
            .spawn(async move { TaskOutput::Scored(scorer.score(job).await) });
        self.task_calls
            .insert(handle.id(), (index, TaskKind::Scoring));
    }

    fn on_scored(&mut self, index: usize, scored: Scored) {
        self.spent_usd += scored.judge_cost_usd;
        for e in scored.write_errors {
            self.manifest.add_write_error(e);
        }
        let entry = &mut self.manifest.conversations[index];
        entry.verdict = Some(scored.verdict);
        let planned = entry.clone();
        if let Some(outcome) = self.recorded.remove(&index) {
            self.progress
                .conversation_finished(&planned, &outcome, Some(scored.verdict));
        }
        self.changed();
    }

    fn changed(&mut self) {
        self.manifest.recount();
        self.unsaved = true;
    }

    /// Hands the manifest to the writer when it changed and the writer is
    /// free; writes that failed meanwhile go into it first.
    fn save(&mut self) {
        for failure in self.writer.failures() {
            self.manifest.add_write_error(failure);
            self.unsaved = true;
        }
        if self.unsaved && self.writer.offer(&self.manifest) {
            self.unsaved = false;
        }
    }
}

fn panic_message(e: JoinError) -> String {
    if e.is_cancelled() {
        return "the task was cancelled".into();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::progress::Silent;

    struct NoScoring;

    impl ScoreCall for NoScoring {
        fn score(&self, _: RecordedCall) -> BoxFuture<'_, Scored> {
            Box::pin(async {
                Scored {
                    verdict: Verdict::Pass,
                    judge_cost_usd: 0.0,
                    write_errors: Vec::new(),
                }
            })
        }
    }

    fn planned(repeat: u32) -> PlannedConversation {
        PlannedConversation {
            variant: "agent".into(),
            scenario: "s".into(),
            persona: "p".into(),
            repeat,
            condition: "clean".into(),
            seed: 0,
            dir: format!("conversations/agent/s/{repeat}").into(),
            status: None,
            error: None,
            end_reason: None,
            verdict: None,
            not_started: None,
            attempts: None,
        }
    }

    /// A call task that panics is that call's `error`, with the panic
    /// message, in the manifest and on disk; the run goes on to its end.
    #[tokio::test]
    async fn a_panicking_call_task_is_recorded_as_that_calls_error() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Arc::new(RunOptions::new(dir.path()));
        let project = Project::default();
        let mut manifest = Manifest {
            version: FORMAT_VERSION,
            run_id: "r".into(),
            harness_version: "t".into(),
            started_at: String::new(),
            finished_at: None,
            git_revision: None,
            seed: 0,
            pace: Pace::Fast,
            turns: TurnMode::Vad,
            repeat: 1,
            concurrency: 1,
            config_hashes: BTreeMap::new(),
            variants: vec!["agent".into()],
            agents: BTreeMap::new(),
            scenarios: vec!["s".into()],
            conditions: vec!["clean".into()],
            conversations: vec![planned(0)],
            counts: Counts::default(),
            shard: None,
            write_errors: Vec::new(),
            harness_load: None,
        };
        manifest.recount();
        let writer = ManifestWriter::spawn(dir.path());
        let mut dispatcher =
            Dispatcher::new(&opts, &project, &[], manifest, writer, Arc::new(Silent));
        // A call task that panics, as if the call code had a bug.
        let handle = dispatcher.tasks.spawn(async {
            if std::hint::black_box(true) {
                panic!("index out of bounds: the len is 0 but the index is 3");
            }
            TaskOutput::Scored(Scored {
                verdict: Verdict::Pass,
                judge_cost_usd: 0.0,
                write_errors: Vec::new(),
            })
        });
        dispatcher
            .task_calls
            .insert(handle.id(), (0, TaskKind::Call));
        dispatcher.calling = 1;
        dispatcher.dispatch(dir.path(), Arc::new(NoScoring)).await;
        let entry = &dispatcher.manifest.conversations[0];
        assert_eq!(entry.status, Some(Status::Error));
        let error = entry.error.as_deref().unwrap();
        assert!(
            error.contains("panicked") && error.contains("index out of bounds"),
            "{error}"
        );
        assert_eq!(dispatcher.manifest.counts.error, 1);
        let on_disk = dispatcher.writer.finish(&dispatcher.manifest).await;
        assert!(on_disk.is_empty(), "{on_disk:?}");
        let written = RunFolder::open(dir.path()).unwrap().manifest;
        assert_eq!(written.conversations[0].status, Some(Status::Error));
        let record = RunFolder::open(dir.path())
            .unwrap()
            .outcome(&written.conversations[0])
            .unwrap()
            .expect("the call's own record is written");
        assert!(record.error.unwrap().contains("index out of bounds"));
        assert_eq!(written.conversations[0].verdict, None, "nothing to score");
    }
}
