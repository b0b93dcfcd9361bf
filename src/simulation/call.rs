//! One planned call, start to record: tries it (again after transient
//! provider failures), stops it cleanly on Ctrl-C, and writes its
//! `conversation.json`. Runs as its own task; reports back to the run's
//! collector through its return value.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::bridge::{ConversationSpec, SpeechEndpoint, run_conversation};
use super::caller::{ChatCaller, ScriptedCaller, TextCaller, caller_instructions};
use super::phone_line::LineSpec;
use super::replay::ReplayCaller;
use super::run::RunOptions;
use super::supervisor;
use super::targets::Target;
use crate::config::condition::ConditionFile;
use crate::config::persona::{Driver, PersonaFile};
use crate::config::scenario::ScenarioFile;
use crate::guardrails::Guardrails;
use crate::realtime::Secret;
use crate::retry::RetryPolicy;
use crate::run_folder::{
    ConversationOutcome, JUDGE_CACHE, OUTCOME, PlannedConversation, write_atomic,
};

/// Everything one call of the plan is made of.
pub(super) struct Call {
    pub target: Arc<Target>,
    pub scenario: Arc<ScenarioFile>,
    pub persona: Arc<PersonaFile>,
    pub persona_path: PathBuf,
    /// The acoustic condition the caller phones from.
    pub condition: ConditionFile,
    pub planned: PlannedConversation,
    /// The call's folder.
    pub dir: PathBuf,
    /// The run's folder (classifier answers are cached there).
    pub run_dir: PathBuf,
}

/// A call's record, as its task hands it back.
pub(super) struct CallReport {
    pub outcome: ConversationOutcome,
    /// Artifact writes that failed (the call's own and `conversation.json`).
    pub write_errors: Vec<String>,
}

/// Runs one call to its record on disk.
pub(super) async fn run_call(call: Call, opts: Arc<RunOptions>) -> CallReport {
    // Left by a run that was killed mid-call: that try is void.
    if call.dir.exists() {
        let dir = call.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }
    let policy = RetryPolicy::conversations(opts.retries);
    let tries = supervisor::with_retries(&policy, &call.dir, |attempt| {
        converse(&call, &opts, attempt)
    });
    let outcome = match &opts.stop {
        Some(stop) => tokio::select! {
            o = tries => o,
            _ = stop.stopped() => supervisor::interrupted(),
        },
        None => tries.await,
    };
    let mut write_errors = outcome.write_errors.clone();
    if let Err(e) = write_outcome(&call.dir, &outcome).await {
        tracing::error!(error = %e, "cannot write conversation.json");
        write_errors.push(e);
    }
    CallReport {
        outcome,
        write_errors,
    }
}

/// Writes `conversation.json` off the async workers.
async fn write_outcome(dir: &Path, outcome: &ConversationOutcome) -> Result<(), String> {
    let path = dir.join(OUTCOME);
    let json = serde_json::to_vec_pretty(outcome).map_err(|e| e.to_string())?;
    let dir = dir.to_path_buf();
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        write_atomic(&path, &json)
    })
    .await
    .map_err(|e| format!("{shown}: {e}"))?
    .map_err(|e| format!("{shown}: {e}"))
}

/// One try (`attempt`, from 1) of a call.
async fn converse(call: &Call, opts: &RunOptions, attempt: u32) -> ConversationOutcome {
    let Call {
        target,
        scenario,
        persona,
        persona_path,
        condition,
        planned,
        dir,
        run_dir,
    } = call;
    let key = format!(
        "{}{}/{}/{}",
        planned.variant,
        crate::run_folder::condition_suffix(&planned.condition),
        planned.scenario,
        planned.repeat
    );
    let mut endpoint = target.endpoint.clone();
    if target.recognizer.is_some() {
        endpoint.url = format!(
            "{}&rehearse_conversation={}&rehearse_attempt={attempt}",
            endpoint.url,
            url_encode(&key)
        );
    }
    let mut spec = ConversationSpec {
        key,
        endpoint,
        model: target.file.model_name().to_string(),
        instructions: target.instructions.clone(),
        tools: target.file.tool_defs(),
        agent_voice: target.file.voice.name.clone(),
        scenario: (**scenario).clone(),
        persona: (**persona).clone(),
        seed: planned.seed,
        pace: opts.pace,
        turns: opts.turns,
        dir: dir.clone(),
        recognizer: target.recognizer.clone(),
        idle_timeout: opts.idle_timeout,
        wall_limit: opts
            .conversation_timeout
            .unwrap_or_else(|| supervisor::default_wall_limit(scenario.end.max_duration_s)),
        max_audio_s: opts.max_audio_minutes * 60.0,
        speech: speech_endpoint(persona),
        line: LineSpec::new(condition, planned.seed),
        turn_detection: target.file.turn_detection.to_protocol(),
        guardrails: Guardrails::new(
            &target.file.guardrails,
            opts.guardrail_mode,
            &run_dir.join(JUDGE_CACHE),
        ),
        recorded_lines: Default::default(),
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
            let instructions = match caller_instructions(persona, scenario, None) {
                Ok(i) => i,
                Err(e) => return setup_failure(&spec, format!("caller prompt: {e}")),
            };
            Box::new(ChatCaller::new(
                url,
                model,
                key_from(api_key_env.as_deref()),
                *temperature,
                instructions,
                planned.seed,
            ))
        }
        Driver::Realtime { provider, .. } => {
            return super::relay::run_relayed(&spec, persona_path, provider).await;
        }
        Driver::Replay => {
            let Some(script) = &scenario.replay else {
                return setup_failure(
                    &spec,
                    "a replay persona needs a scenario with `replay:` lines".into(),
                );
            };
            match super::replay::recorded_lines(script) {
                Ok(lines) => spec.recorded_lines = lines,
                Err(e) => return setup_failure(&spec, e),
            }
            Box::new(ReplayCaller::new(script))
        }
    };
    run_conversation(&spec, caller.as_mut()).await
}

fn key_from(env: Option<&str>) -> Option<Secret> {
    env.and_then(|v| std::env::var(v).ok()).map(Secret::new)
}

/// The chat driver's speech endpoint, when it names one.
/// The caller's speech endpoint: the persona's `voice.speech`, or the chat
/// driver's `speech_url`.
fn speech_endpoint(persona: &PersonaFile) -> Option<SpeechEndpoint> {
    let voice = || persona.voice.name.clone().unwrap_or_else(|| "alloy".into());
    if let Some(speech) = &persona.voice.speech {
        return Some(SpeechEndpoint {
            url: speech.url.clone(),
            model: speech.model.clone(),
            voice: voice(),
            key: key_from(speech.api_key_env.as_deref()),
        });
    }
    match &persona.driver {
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
            voice: voice(),
            key: key_from(api_key_env.as_deref()),
        }),
        _ => None,
    }
}

fn setup_failure(spec: &ConversationSpec, error: String) -> ConversationOutcome {
    let _ = std::fs::create_dir_all(&spec.dir);
    let mut outcome = ConversationOutcome::not_finished();
    outcome.model = Some(spec.model.clone());
    outcome.fail(error, None);
    outcome
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
