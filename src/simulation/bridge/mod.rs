//! One conversation between the agent under test (a Realtime session) and a
//! caller that thinks in text (scripted or chat) and speaks through a voice.
//!
//! The bridge plays both telephone ends: it streams the caller's speech to
//! the agent (server VAD with trailing silence, or manual commits), plays the
//! agent's audio on the shared timeline, interrupts it when the persona
//! would (truncating the agent's item at the audio actually played, as a real
//! client must), answers tool calls from the scenario's fixtures, and records
//! everything.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;

mod guard;
mod open_line;
mod overlap;

use super::caller::{CallerMove, Reaction, TextCaller};
use super::clock::Clock;
use super::fixtures::FixtureSet;
use super::phone_line::{CallerLine, LineSpec};
use super::recorder::Recorder;
use super::side::{SessionSettings, Side, answer_tools};
use super::voice::CallerVoice;
use crate::audio::noise::add_line_noise;
use crate::audio::{AudioFormat, SESSION_RATE};
use crate::config::persona::PersonaFile;
use crate::config::scenario::ScenarioFile;
use crate::emulator::ClosedSetRecognizer;
use crate::guardrails::Guardrails;
use crate::protocol::{ClientEvent, ServerEvent, ToolDef, TurnDetection, TurnDetectionKind};
use crate::realtime::{ClientError, Endpoint, RealtimeClient, TraceRecord};
use crate::run_folder::{
    ConversationOutcome, EndReason, Pace, Pause, Speaker, Status, TurnMode, Utterance,
};

/// Everything one conversation needs.
pub struct ConversationSpec {
    /// Unique key of this call (also scopes the offline recogniser).
    pub key: String,
    pub endpoint: Endpoint,
    /// The agent's model (priced by it; see [`crate::pricing`]).
    pub model: String,
    pub instructions: String,
    pub tools: Vec<ToolDef>,
    pub agent_voice: Option<String>,
    pub scenario: ScenarioFile,
    pub persona: PersonaFile,
    pub seed: u64,
    pub pace: Pace,
    pub turns: TurnMode,
    pub dir: PathBuf,
    /// Where the caller's offline speech is remembered, when the agent is the
    /// local emulator (so it can recognise what it hears).
    pub recognizer: Option<ClosedSetRecognizer>,
    /// Longest wait for any event from the agent.
    pub idle_timeout: Duration,
    /// Longest the whole call may take in wall-clock time.
    pub wall_limit: Duration,
    /// Most agent audio accepted in one call, in seconds.
    pub max_audio_s: f64,
    /// A speech endpoint for the caller's voice (`chat` driver); the offline
    /// voice when absent.
    pub speech: Option<SpeechEndpoint>,
    /// The acoustic condition between the caller and the agent.
    pub line: LineSpec,
    /// The agent's turn detection (with `TurnMode::Vad`).
    pub turn_detection: TurnDetection,
    /// The agent's output guardrails, run on its words as they stream in.
    pub guardrails: Option<Guardrails>,
    /// A replayed caller's recorded lines, by their words (empty otherwise).
    pub recorded_lines: std::collections::BTreeMap<String, Vec<i16>>,
}

impl ConversationSpec {
    /// The samples of an audio delta (base64 PCM16 at the session rate),
    /// counted into `samples_so_far`; fails the call once more than
    /// `max_audio_s` of audio has arrived. A delta that is not base64 is
    /// no audio (the event itself stays in `events.jsonl`).
    pub fn take_audio(
        &self,
        samples_so_far: &mut usize,
        delta: &str,
    ) -> Result<Vec<i16>, BridgeError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(delta)
            .unwrap_or_default();
        let samples = AudioFormat::Pcm16.decode(&bytes);
        *samples_so_far += samples.len();
        if *samples_so_far as f64 > self.max_audio_s * SESSION_RATE as f64 {
            return Err(BridgeError::TooMuchAudio {
                limit_s: self.max_audio_s,
            });
        }
        Ok(samples)
    }
}

#[derive(Debug, Clone)]
pub struct SpeechEndpoint {
    pub url: String,
    pub model: String,
    pub voice: String,
    pub key: Option<crate::realtime::Secret>,
}

/// Records how a call ended in its outcome: completed with its reason, or
/// failed, with whether another try may succeed.
pub fn conclude(outcome: &mut ConversationOutcome, result: Result<EndReason, BridgeError>) {
    match result {
        Ok(reason) => outcome.complete(reason),
        Err(e) => fail(outcome, &e),
    }
}

/// Records why a call failed, and whether it is worth another try.
pub fn fail(outcome: &mut ConversationOutcome, error: &BridgeError) {
    outcome.fail(
        error.to_string(),
        error.is_transient().then(|| error.retry_after()),
    );
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("the provider rejected the session config: {0}")]
    SessionRejected(String),
    #[error("the provider refused the session: {0}")]
    SessionRefused(String),
    #[error("the provider failed a response: {0}")]
    ResponseFailed(String),
    #[error("{0}")]
    Caller(#[from] super::caller::CallerError),
    #[error("writing artifacts: {0}")]
    Io(#[from] std::io::Error),
    #[error("the caller's speech endpoint: {0}")]
    Speech(String),
    #[error("the call hit its wall-clock limit of {0:?}")]
    WallClock(Duration),
    #[error(
        "the agent sent more than {limit_s:.0} s of audio in one call (limit: --max-audio-minutes)"
    )]
    TooMuchAudio { limit_s: f64 },
}

impl BridgeError {
    /// Whether the provider failed in a way another try may not meet:
    /// refused or dropped connections, server-side closes, rate limits,
    /// server errors and stalls. Rejected configs, caller and disk failures
    /// are not: they would fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            BridgeError::Client(ClientError::Connect { status, .. }) => {
                status.is_none_or(crate::retry::retryable_status)
            }
            BridgeError::Client(ClientError::Closed { code, .. }) => {
                matches!(code, 1001 | 1006 | 1011..=1014)
            }
            BridgeError::Client(ClientError::Socket(_) | ClientError::Timeout(_)) => true,
            BridgeError::ResponseFailed(why) | BridgeError::SessionRefused(why) => [
                "rate_limit_exceeded",
                "server_error",
                "session_limit_reached",
            ]
            .iter()
            .any(|code| why.starts_with(code)),
            _ => false,
        }
    }

    /// The wait the provider asked for, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BridgeError::Client(ClientError::Connect { retry_after, .. }) => *retry_after,
            BridgeError::ResponseFailed(why) => crate::retry::retry_after_in_message(why),
            _ => None,
        }
    }
}

/// Where an agent turn's playback ended, and whether the agent's VAD
/// hearing the line (not the caller's words) stopped it.
struct Played {
    end: f64,
    stopped_by_line: bool,
}

/// One stretch of agent speech (one assistant item).
struct AgentSpeech {
    item_id: Option<String>,
    text: String,
    audio: Vec<i16>,
    /// Timeline ms when its first audio arrived.
    arrived_ms: f64,
    /// A guardrail cut it (its truncation already sent).
    guard_cut: Option<GuardCut>,
}

/// Where a guardrail stopped an agent speech's playback.
struct GuardCut {
    /// How much of it played (ms).
    played_ms: f64,
    guardrail: String,
}

impl AgentSpeech {
    fn new(item_id: String, text: String, audio: Vec<i16>, arrived_ms: f64) -> AgentSpeech {
        AgentSpeech {
            item_id: Some(item_id),
            text,
            audio,
            arrived_ms,
            guard_cut: None,
        }
    }

    /// The words the caller hears: up to a guardrail's cut.
    fn heard_text(&self) -> String {
        let duration = self.audio.len() as f64 / 24.0;
        match self.guard_cut.as_ref().map(|c| c.played_ms) {
            Some(cut) if duration > 0.0 => crate::text::spoken_prefix(&self.text, cut / duration),
            Some(_) => String::new(),
            None => self.text.clone(),
        }
    }
}

struct Bridge<'a> {
    spec: &'a ConversationSpec,
    agent: Side,
    clock: Clock,
    rec: Recorder,
    trace: mpsc::UnboundedReceiver<TraceRecord>,
    fixtures: FixtureSet,
    rng: StdRng,
    voice: CallerVoice,
    line: CallerLine,
    outcome: ConversationOutcome,
    /// Timeline ms where the caller last stopped speaking.
    caller_end_ms: f64,
    /// The caller's last line and how often in a row it was said: asked to
    /// repeat, people speak more clearly.
    last_line: Option<(String, u32)>,
    /// Agent audio received so far, in samples, against the call's limit.
    audio_samples: usize,
    /// Agent events read while the caller's line was open, not yet handled.
    held: VecDeque<(ServerEvent, serde_json::Value, f64)>,
    /// Times the agent stopped talking because its VAD heard the line (not
    /// the caller's words).
    line_barge_ins: u32,
    /// The caller holds a line the line's noise cut off, and waits only
    /// briefly for the agent's answer to the noise before saying it.
    holding_line: bool,
    /// Timeline ms where the agent's speech last stopped playing.
    last_spoken_ms: f64,
    /// The caller's sounds while the agent talks draw from their own
    /// stream, so a persona without them makes the same choices as before.
    sounds: StdRng,
    /// A backchannel or cough on its way down the open line.
    pending_sound: Option<open_line::PendingSound>,
    /// Whether the caller hesitates mid-sentence draws from its own
    /// stream, so a persona without hesitations makes the same choices.
    hesitations: StdRng,
    /// Where the agent's VAD heard the caller start (or go on) speaking,
    /// in the agent turn being read.
    caller_heard_at: Vec<f64>,
    /// The agent's guardrails, when it has any.
    guard: Option<guard::LiveGuard>,
    /// The agent's response under way (from `response.created` to
    /// `response.done`): what a tripped guardrail cancels.
    active_response: Option<String>,
}

/// Runs one conversation to its end and writes its artifacts under
/// `spec.dir`. Never panics on provider behaviour: failures come back as an
/// outcome with status `error`.
pub async fn run_conversation(
    spec: &ConversationSpec,
    caller: &mut dyn TextCaller,
) -> ConversationOutcome {
    let mut outcome = ConversationOutcome::not_finished();
    outcome.model = Some(spec.model.clone());
    let rec = match Recorder::create(&spec.dir, spec.line.changes_audio()) {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(format!("cannot create {}: {e}", spec.dir.display()));
            return outcome;
        }
    };
    let clock = Clock::new(spec.pace);
    let (trace_tx, trace_rx) = mpsc::unbounded_channel();
    let client = RealtimeClient::connect(
        &spec.endpoint,
        clock.origin(),
        Some(trace_tx),
        Duration::from_secs(15),
    )
    .await;
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            fail(&mut outcome, &BridgeError::Client(e));
            let _ = rec.finish();
            return outcome;
        }
    };
    let mut bridge = Bridge {
        spec,
        agent: Side::new(client, spec.idle_timeout),
        clock,
        rec,
        trace: trace_rx,
        fixtures: FixtureSet::new(spec.scenario.tools.clone(), spec.scenario.facts.clone()),
        rng: StdRng::seed_from_u64(spec.seed),
        voice: CallerVoice::for_persona(spec.speech.as_ref(), &spec.persona)
            .with_recorded(&spec.recorded_lines),
        line: CallerLine::new(
            &spec.line,
            spec.turns == TurnMode::Vad,
            // Sounds go down the line while the agent talks; a semantic
            // detector judges a sound by whether the agent was talking,
            // which it can only tell from a line that keeps time.
            spec.persona.traits.makes_sounds()
                || spec.turn_detection.kind == TurnDetectionKind::SemanticVad,
        ),
        sounds: StdRng::seed_from_u64(spec.seed ^ SOUNDS_SEED),
        pending_sound: None,
        hesitations: StdRng::seed_from_u64(spec.seed ^ HESITATIONS_SEED),
        caller_heard_at: Vec::new(),
        guard: spec.guardrails.clone().map(guard::LiveGuard::new),
        active_response: None,
        outcome,
        caller_end_ms: 0.0,
        last_line: None,
        audio_samples: 0,
        held: VecDeque::new(),
        line_barge_ins: 0,
        holding_line: false,
        last_spoken_ms: 0.0,
    };
    let wall_limit = spec.wall_limit;
    let result = match tokio::time::timeout(wall_limit, bridge.drive(caller)).await {
        Ok(r) => r,
        Err(_) => Err(BridgeError::WallClock(wall_limit)),
    };
    let result = bridge.agent.explain_break(result).await;
    bridge.agent.tx.close().await;
    bridge.drain_trace();
    let mut outcome = bridge.outcome;
    outcome.line = bridge.line.record();
    if bridge.line_barge_ins > 0 {
        outcome.note(format!(
            "the agent stopped talking {} time(s) when its VAD heard the line, not the caller's words",
            bridge.line_barge_ins
        ));
    }
    outcome.protocol_errors.append(&mut bridge.agent.errors);
    outcome.protocol_errors_not_kept += bridge.agent.errors_not_kept;
    conclude(&mut outcome, result);
    outcome.goal_met = caller.goal_met();
    outcome.caller = caller.usage();
    outcome.divergence = caller.divergence();
    outcome.write_errors.append(&mut bridge.rec.write_errors);
    match bridge.rec.finish() {
        Ok(ms) => outcome.duration_ms = ms,
        Err(e) => {
            outcome.status = Status::Error;
            outcome
                .error
                .get_or_insert(format!("writing recordings: {e}"));
        }
    }
    outcome
}

impl Bridge<'_> {
    fn drain_trace(&mut self) {
        while let Ok(mut record) = self.trace.try_recv() {
            // In fast pacing the timeline runs ahead of the wall clock.
            record.t_ms = self.clock.stamp_on_timeline(record.t_ms);
            self.rec.event(Speaker::Agent, record);
        }
    }

    async fn drive(&mut self, caller: &mut dyn TextCaller) -> Result<EndReason, BridgeError> {
        let settings = SessionSettings {
            instructions: &self.spec.instructions,
            tools: &self.spec.tools,
            voice: self.spec.agent_voice.as_deref(),
            turn_detection: (self.spec.turns == TurnMode::Vad).then_some(&self.spec.turn_detection),
        };
        self.agent.configure(&mut self.clock, settings).await?;
        // The agent answers the phone.
        self.agent.request_response().await?;
        let end = self.spec.scenario.end;
        let mut deferred: Option<CallerMove> = None;
        loop {
            let mut speeches = self.agent_turn().await?;
            if let Some(line) = self.guard_turn(&mut speeches).await? {
                // Said once: a fallback that trips a guardrail is cut, not replaced.
                let mut fallback = self.say_fallback(&line).await?;
                self.guard_turn(&mut fallback).await?;
                speeches.extend(fallback);
            }
            self.drain_trace();
            let first_sound = speeches
                .iter()
                .filter(|s| !s.audio.is_empty())
                .map(|s| s.arrived_ms)
                .next();
            let silent_for =
                first_sound.unwrap_or_else(|| self.clock.now_ms()) - self.caller_end_ms;
            // A caller holding a line cut off by noise says it, answered or not.
            if self.outcome.customer_turns > 0
                && silent_for > end.silence_s * 1000.0
                && deferred.is_none()
            {
                return Ok(EndReason::Silence);
            }
            let agent_text = speeches
                .iter()
                .map(AgentSpeech::heard_text)
                .collect::<Vec<_>>()
                .join(" ");
            if caller.goal_met() && end.hang_up_on_goal {
                // The goal is met and the agent has answered: hang up after hearing it.
                self.play(speeches, None).await?;
                return Ok(EndReason::GoalMet);
            }
            let held_ms = if self.outcome.customer_turns > 0 {
                silent_for
            } else {
                0.0
            };
            // A line the agent's VAD took for speech stopped its last turn:
            // the caller still says what they were about to, after the
            // agent's answer to the noise.
            let (step, was_deferred) = match deferred.take() {
                Some(step) => (step, true),
                None => (caller.next(&agent_text, held_ms).await?, false),
            };
            let reaction = caller.reaction();
            let interrupt = match (&step, reaction) {
                (CallerMove::Say(_), Some(Reaction::TalkOver(before_end_ms))) => speeches
                    .last()
                    .map(|s| (s.audio.len() as f64 / 24.0 - before_end_ms).max(0.0)),
                (CallerMove::Say(_), Some(Reaction::After(_))) => None,
                (CallerMove::Say(_), None) => self.interruption_point(speeches.last()),
                _ => None,
            };
            let played = self.play(speeches, interrupt).await?;
            let agent_end = played.end;
            self.last_spoken_ms = self.last_spoken_ms.max(agent_end);
            // Once: a caller cut off twice in a row talks anyway.
            self.holding_line = played.stopped_by_line && !was_deferred;
            if self.holding_line {
                deferred = Some(step);
                continue;
            }
            if self.outcome.agent_turns >= end.max_turns {
                return Ok(EndReason::MaxTurns);
            }
            if self.clock.now_ms() / 1000.0 >= end.max_duration_s {
                return Ok(EndReason::MaxDuration);
            }
            let traits = self.spec.persona.traits;
            let think = match reaction {
                Some(Reaction::After(ms)) => ms,
                _ => {
                    traits.think_ms * self.rng.random_range(0.6..1.4)
                        + slow_answer_ms(&agent_text, traits.slow_to_answer_s)
                }
            };
            let start = match interrupt {
                Some(_) => agent_end,
                None => agent_end + think,
            };
            match step {
                CallerMove::HangUp => {
                    return Ok(caller.end_reason().unwrap_or(EndReason::CallerHungUp));
                }
                CallerMove::SayAndHangUp(line) => {
                    self.speak(&line, start).await?;
                    return Ok(caller.end_reason().unwrap_or(EndReason::CallerHungUp));
                }
                CallerMove::Say(line) => {
                    self.speak(&line, start).await?;
                    if self.spec.turns == TurnMode::Manual {
                        self.agent
                            .tx
                            .send_event(ClientEvent::InputAudioBufferCommit {
                                extra: Default::default(),
                            })
                            .await?;
                        self.agent.request_response().await?;
                    }
                }
            }
        }
    }

    /// Whether and where (ms into the speech) the caller talks over it.
    fn interruption_point(&mut self, last: Option<&AgentSpeech>) -> Option<f64> {
        let speech = last?;
        let traits = self.spec.persona.traits;
        let words = speech.text.split_whitespace().count();
        if words <= traits.interrupt_after_words || traits.interrupts <= 0.0 {
            return None;
        }
        if !self.rng.random_bool(traits.interrupts.clamp(0.0, 1.0)) {
            return None;
        }
        let duration = speech.audio.len() as f64 / 24.0;
        Some(duration * self.rng.random_range(0.35..0.7))
    }

    /// Places the agent's speech on the timeline (in realtime pacing, waits
    /// while it plays). With an interruption, the last item is cut at the
    /// played point and truncated on the server; on an open line, playback
    /// also stops where the agent's VAD heard the line (and the rest of the
    /// turn is not played).
    async fn play(
        &mut self,
        speeches: Vec<AgentSpeech>,
        interrupt_at: Option<f64>,
    ) -> Result<Played, BridgeError> {
        let mut end = self.caller_end_ms;
        let count = speeches.len();
        let mut speeches_after = speeches.into_iter().enumerate();
        while let Some((i, speech)) = speeches_after.next() {
            if speech.audio.is_empty() {
                continue;
            }
            let duration = speech.audio.len() as f64 / 24.0;
            // Played as it arrives, even over the caller (a real client
            // plays what it receives); never over the agent's own audio.
            let start = self.rec.next_start(Speaker::Agent, speech.arrived_ms);
            let planned = if i + 1 == count { interrupt_at } else { None };
            let planned = match self.cut_by_caller(start, duration).await? {
                Some(cut) => Some(planned.map_or(cut, |p| p.min(cut))),
                None => planned,
            };
            // A guardrail's cut comes first when it is earlier: the client
            // stopped playback there and has truncated the item already.
            let guard_cut = speech
                .guard_cut
                .as_ref()
                .map(|c| c.played_ms)
                .filter(|g| planned.is_none_or(|p| *g <= p));
            let planned = guard_cut.or(planned);
            let listened = planned.unwrap_or(duration).min(duration);
            self.schedule_sound(start, listened).await?;
            let heard_line = self.listen_while_playing(start, listened).await?;
            self.finish_sound().await?;
            let stopped_by_line = heard_line.is_some();
            let cut = heard_line.or(planned);
            let played_ms = cut.unwrap_or(duration).min(duration);
            let start = self.record_agent_speech(&speech, start, played_ms)?;
            end = start + played_ms;
            // The caller hears it out (or up to the interruption).
            self.clock.advance_to(end).await;
            let cut_by_guard = guard_cut.is_some() && !stopped_by_line;
            if cut.is_some() && !cut_by_guard {
                if stopped_by_line {
                    self.line_barge_ins += 1;
                } else {
                    self.outcome.interruptions += 1;
                }
                if let Some(item_id) = speech.item_id {
                    self.truncate(item_id, played_ms).await?;
                }
            }
            if stopped_by_line {
                // The rest of the turn was never heard: say so to the server.
                for (_, unheard) in speeches_after.by_ref() {
                    if let Some(item_id) = unheard.item_id {
                        self.truncate(item_id, 0.0).await?;
                    }
                }
                return Ok(Played {
                    end,
                    stopped_by_line,
                });
            }
        }
        Ok(Played {
            end,
            stopped_by_line: false,
        })
    }

    /// Places the first `played_ms` of agent speech on the agent's track
    /// from `start` and records it as an agent turn, cut when shorter than
    /// the speech. Returns where it starts.
    fn record_agent_speech(
        &mut self,
        speech: &AgentSpeech,
        start: f64,
        played_ms: f64,
    ) -> Result<f64, BridgeError> {
        let duration = speech.audio.len() as f64 / 24.0;
        let played = &speech.audio[..((played_ms * 24.0) as usize).min(speech.audio.len())];
        let start = self.rec.place_audio(Speaker::Agent, start, played)?;
        let cut = played_ms < duration;
        self.rec.utterance(Utterance {
            speaker: Speaker::Agent,
            text: match cut {
                true => crate::text::spoken_prefix(&speech.text, played_ms / duration),
                false => speech.text.clone(),
            },
            start_ms: start,
            end_ms: start + played_ms,
            item_id: speech.item_id.clone(),
            interrupted: cut,
            full_text: cut.then(|| speech.text.clone()),
            sound: None,
            pauses: Vec::new(),
            guardrail: speech
                .guard_cut
                .as_ref()
                .filter(|c| cut && (c.played_ms - played_ms).abs() < 1.0)
                .map(|c| c.guardrail.clone()),
        })?;
        self.outcome.agent_turns += 1;
        Ok(start)
    }

    /// Tells the server the caller heard only `played_ms` of an item.
    async fn truncate(&mut self, item_id: String, played_ms: f64) -> Result<(), BridgeError> {
        self.agent
            .tx
            .send_event(ClientEvent::ConversationItemTruncate {
                item_id,
                content_index: 0,
                audio_end_ms: played_ms as u64,
                extra: Default::default(),
            })
            .await?;
        Ok(())
    }

    /// Speaks a caller line starting at `start_ms`, streaming it to the
    /// agent. A pause inside it (a hesitation) passes in real time, so an
    /// agent that answers into it is heard doing so.
    async fn speak(&mut self, line: &str, start_ms: f64) -> Result<(), BridgeError> {
        let said = self.say(line).await?;
        let repeats = match &self.last_line {
            Some((last, n)) if last == line => n + 1,
            _ => 0,
        };
        self.last_line = Some((line.to_string(), repeats));
        // The persona's own noise (a mumbler, a bad headset) is part of
        // their speech; the condition's line comes after it.
        let noise = self.spec.persona.traits.line_noise * 0.5f64.powi(repeats as i32);
        let spoken = add_line_noise(&said.audio, noise, self.rng.random());
        self.feed_line_until(start_ms).await?;
        self.clock.advance_to(start_ms).await;
        let now = self.clock.now_ms();
        let (start, audio) = self.line.utterance(&mut self.rec, now, &spoken)?;
        let duration = audio.len() as f64 / 24.0;
        let pauses: Vec<Pause> = said
            .pause_ms
            .map(|(at, len)| Pause {
                start_ms: start + at,
                end_ms: start + at + len,
            })
            .into_iter()
            .collect();
        // 100 ms chunks, at speaking speed in realtime pacing. From a
        // hesitation on, in real time in either pacing: the agent may answer
        // into the pause, and when it hears the caller go on must be timed
        // as it happens.
        let real_time_from = pauses.first().map_or(f64::INFINITY, |p| p.start_ms);
        for (i, chunk) in audio.chunks(CHUNK_SAMPLES).enumerate() {
            let at = start + i as f64 * 100.0;
            match at > real_time_from {
                true => self.clock.pass_to(at).await,
                false => self.clock.advance_to(at).await,
            }
            self.agent.append(chunk).await?;
        }
        let end = start + duration;
        self.rec.utterance(Utterance {
            speaker: Speaker::Customer,
            text: line.to_string(),
            start_ms: start,
            end_ms: end,
            item_id: None,
            interrupted: false,
            full_text: None,
            sound: None,
            pauses,
            guardrail: None,
        })?;
        self.outcome.customer_turns += 1;
        self.caller_end_ms = end;
        self.clock.advance_to(end).await;
        self.line.carried_to(end);
        if self.spec.turns == TurnMode::Vad {
            self.keep_line_open(end).await?;
        }
        Ok(())
    }

    /// Reads the agent's events until it has finished a turn: every response
    /// up to one that does not end in tool calls. Tool calls are answered from
    /// the fixtures on the way.
    async fn agent_turn(&mut self) -> Result<Vec<AgentSpeech>, BridgeError> {
        let mut speeches: Vec<AgentSpeech> = Vec::new();
        let mut calls: Vec<(String, String, String, f64)> = Vec::new();
        self.caller_heard_at.clear();
        loop {
            let silent = speeches.iter().all(|s| s.audio.is_empty());
            let Some((event, raw, at)) = self.next_agent_event(silent).await? else {
                // The caller gave up waiting on an open line.
                return Ok(speeches);
            };
            self.guard_poll().await?;
            match event {
                ServerEvent::ResponseOutputAudioDelta {
                    at: part, delta, ..
                } => {
                    let samples = self.spec.take_audio(&mut self.audio_samples, &delta)?;
                    match speeches
                        .last_mut()
                        .filter(|s| s.item_id.as_deref() == Some(part.item_id.as_str()))
                    {
                        Some(s) => s.audio.extend(samples),
                        None => speeches.push(AgentSpeech::new(
                            part.item_id,
                            String::new(),
                            samples,
                            at,
                        )),
                    }
                }
                ServerEvent::ResponseOutputAudioTranscriptDone {
                    at: part,
                    transcript,
                    ..
                }
                | ServerEvent::ResponseOutputTextDone {
                    at: part,
                    text: transcript,
                    ..
                } => {
                    self.guard_done(&part.item_id, at).await?;
                    match speeches
                        .iter_mut()
                        .find(|s| s.item_id.as_deref() == Some(part.item_id.as_str()))
                    {
                        Some(s) => s.text = transcript,
                        None => speeches.push(AgentSpeech::new(
                            part.item_id,
                            transcript,
                            Vec::new(),
                            at,
                        )),
                    }
                }
                ServerEvent::ResponseOutputAudioTranscriptDelta {
                    at: part, delta, ..
                }
                | ServerEvent::ResponseOutputTextDelta {
                    at: part, delta, ..
                } => self.guard_delta(&part.item_id, &delta, at).await?,
                ServerEvent::ResponseCreated { response, .. } => {
                    self.active_response = Some(response.id.clone());
                }
                ServerEvent::ResponseFunctionCallArgumentsDone {
                    call_id,
                    name,
                    arguments,
                    ..
                } => calls.push((call_id, name.unwrap_or_default(), arguments, at)),
                ServerEvent::ResponseDone { response, .. } => {
                    self.active_response = None;
                    if let Some(u) = &response.usage {
                        self.outcome.usage.add(u);
                    }
                    if response.status == crate::protocol::ResponseStatus::Failed {
                        // A rate limit is waited out and asked again.
                        self.agent.recover_failed_response(&response, raw).await?;
                        continue;
                    }
                    if self.guard_cut_any() {
                        // A guardrail cut the response: the turn ends here
                        // (tool calls it made are not answered).
                        return Ok(speeches);
                    }
                    if calls.is_empty() {
                        let cancelled =
                            response.status == crate::protocol::ResponseStatus::Cancelled;
                        if cancelled && speeches.is_empty() {
                            // Cut off before it said anything (VAD split a caller
                            // turn); the next response answers instead.
                            continue;
                        }
                        if self.caller_went_on_over(&speeches).await? {
                            // It answered half a sentence and the caller went
                            // on (whether or not that cancelled it): heard
                            // where it played; the answer to the whole
                            // sentence comes next.
                            self.overheard(std::mem::take(&mut speeches)).await?;
                            continue;
                        }
                        return Ok(speeches);
                    }
                    self.outcome.tool_calls += answer_tools(
                        &mut self.agent,
                        &mut self.clock,
                        &mut self.fixtures,
                        &mut self.rec,
                        self.spec.scenario.end.tool_timeout_ms,
                        std::mem::take(&mut calls),
                    )
                    .await?;
                }
                ServerEvent::Error { .. } => {
                    // Non-fatal unless the connection closes, which next_event reports.
                    self.agent.note_error(raw);
                }
                ServerEvent::InputAudioBufferSpeechStarted { .. } => self.caller_heard_at.push(at),
                ServerEvent::InputAudioTranscriptionFailed { error, .. } => {
                    self.outcome.note(could_not_hear(&error.message));
                }
                _ => {}
            }
        }
    }
}

/// The note a call gets when the agent reports it could not transcribe
/// the caller's audio: the agent did not mishear, it could not hear.
pub(super) fn could_not_hear(why: &str) -> String {
    format!("the agent could not transcribe the caller's audio: {why}")
}

const CHUNK_SAMPLES: usize = (SESSION_RATE / 10) as usize;
/// The extra silence before a slow caller answers the agent: only after a
/// question.
fn slow_answer_ms(agent_text: &str, slow_to_answer_s: f64) -> f64 {
    let asked = agent_text.trim_end().ends_with('?');
    if asked {
        slow_to_answer_s.clamp(0.0, 60.0) * 1000.0
    } else {
        0.0
    }
}

/// Salt of the caller's sounds' random stream.
const SOUNDS_SEED: u64 = 0x50_55_4E_44;
/// Salt of the caller's hesitations' random stream.
const HESITATIONS_SEED: u64 = 0x48_45_53_49;

#[cfg(test)]
mod tests {
    #[test]
    fn a_slow_caller_takes_their_time_only_after_a_question() {
        assert_eq!(
            super::slow_answer_ms("What's your order number? ", 3.0),
            3000.0
        );
        assert_eq!(super::slow_answer_ms("Your label is on its way.", 3.0), 0.0);
        assert_eq!(super::slow_answer_ms("Anything else?", 0.0), 0.0);
    }
}
