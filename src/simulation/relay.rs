//! The two-clients pattern: the caller is a second Realtime session. Each
//! side's audio is played on the shared timeline and streamed into the other
//! side's input buffer; both sides' server VAD decide when to answer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::bridge::{BridgeError, ConversationSpec, conclude};
use super::caller::caller_instructions;
use super::clock::Clock;
use super::fixtures::FixtureSet;
use super::phone_line::CallerLine;
use super::recorder::Recorder;
use super::side::{SessionSettings, Side, answer_tools, on_timeline};
use crate::config::agent::{AgentFile, ProviderKind, TurnDetectionSetting};
use crate::emulator::{self, AgentRegistry, EmulatorConfig, EmulatorHandle};
use crate::protocol::{Dialect, ResponseStatus, ServerEvent, TurnDetection};
use crate::realtime::{ClientError, Endpoint, RealtimeClient, TimedEvent, TraceRecord};
use crate::run_folder::{
    CallerUsage, ConversationOutcome, EndReason, Speaker, UsageTotals, Utterance,
};
use crate::transcription::Transcriber;

/// Speech a side is producing in the current response.
#[derive(Default)]
struct Speaking {
    item_id: Option<String>,
    text: String,
    start_ms: Option<f64>,
    end_ms: f64,
}

struct Relay<'a> {
    spec: &'a ConversationSpec,
    agent: Side,
    caller: Side,
    clock: Clock,
    rec: Recorder,
    /// The condition between the caller session and the agent.
    line: CallerLine,
    fixtures: FixtureSet,
    usage: UsageTotals,
    caller_usage: UsageTotals,
    /// Where the last placed audio of either side ends: turns do not overlap.
    floor_ms: f64,
    agent_speaking: Speaking,
    caller_speaking: Speaking,
    agent_turns: u32,
    caller_turns: u32,
    tool_calls: u32,
    calls: Vec<(String, String, String, f64)>,
    /// Audio received from both sessions so far, in samples.
    audio_samples: usize,
    /// Notes for the call's record.
    notes: Vec<String>,
    /// The caller session's turn detection (the default server VAD).
    caller_turn_detection: TurnDetection,
    /// Timeline ms up to which the agent has been sent the caller's line.
    agent_heard_to_ms: f64,
}

/// Runs one conversation whose caller is the Realtime session described by
/// `provider_file` (relative to the persona file).
pub async fn run_relayed(
    spec: &ConversationSpec,
    persona_path: &Path,
    provider_file: &str,
) -> ConversationOutcome {
    let mut outcome = ConversationOutcome::not_finished();
    outcome.model = Some(spec.model.clone());
    let provider_path = persona_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(provider_file);
    let (caller_endpoint, caller_model, caller_emulator) =
        match caller_endpoint(spec, &provider_path).await {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::create_dir_all(&spec.dir);
                outcome.error = Some(e);
                return outcome;
            }
        };
    let result = relay(spec, &caller_endpoint, &caller_model, &mut outcome).await;
    if let Some(h) = caller_emulator {
        h.stop().await;
    }
    conclude(&mut outcome, result);
    outcome
}

/// Where the caller session lives, and the model it runs on. An emulator
/// caller runs in-process and shares the agent's offline recogniser, so
/// each side can hear the other.
async fn caller_endpoint(
    spec: &ConversationSpec,
    path: &Path,
) -> Result<(Endpoint, String, Option<EmulatorHandle>), String> {
    let file = AgentFile::load(path).map_err(|e| e.to_string())?;
    let model = file.model_name().to_string();
    if file.provider != ProviderKind::Emulator {
        let env = |k: &str| std::env::var(k).ok();
        return Endpoint::resolve(&file, &env)
            .map(|e| (e, model, None))
            .map_err(|e| e.to_string());
    }
    let (registry, agent) = AgentRegistry::load(path).map_err(|e| e.to_string())?;
    let ear = spec.recognizer.clone().unwrap_or_default();
    let mut config = EmulatorConfig::new(agent, registry);
    config.transcriber = Some(Arc::new(ear.clone()) as Arc<dyn Transcriber>);
    config.recognizer = Some(ear);
    config.seed = spec.seed;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let handle = emulator::spawn(listener, config).map_err(|e| e.to_string())?;
    let url = format!(
        "{}?model=caller&rehearse_conversation={}",
        handle.url(),
        super::call::url_encode(&spec.key)
    );
    Ok((Endpoint::local(&url, Dialect::Ga), model, Some(handle)))
}

async fn relay(
    spec: &ConversationSpec,
    caller_endpoint: &Endpoint,
    caller_model: &str,
    outcome: &mut ConversationOutcome,
) -> Result<EndReason, BridgeError> {
    let rec = Recorder::create(&spec.dir, spec.line.changes_audio())?;
    let clock = Clock::new(spec.pace);
    let (agent_trace, mut agent_trace_rx) = mpsc::unbounded_channel::<TraceRecord>();
    let (caller_trace, mut caller_trace_rx) = mpsc::unbounded_channel::<TraceRecord>();
    let timeout = Duration::from_secs(15);
    let a =
        RealtimeClient::connect(&spec.endpoint, clock.origin(), Some(agent_trace), timeout).await?;
    let c = RealtimeClient::connect(caller_endpoint, clock.origin(), Some(caller_trace), timeout)
        .await?;
    let side = |client: RealtimeClient| Side::new(client, spec.idle_timeout);
    let mut r = Relay {
        spec,
        agent: side(a),
        caller: side(c),
        clock,
        rec,
        line: CallerLine::new(&spec.line, false, false),
        fixtures: FixtureSet::new(spec.scenario.tools.clone(), spec.scenario.facts.clone()),
        usage: UsageTotals::default(),
        caller_usage: UsageTotals::default(),
        floor_ms: 0.0,
        agent_speaking: Speaking::default(),
        caller_speaking: Speaking::default(),
        agent_turns: 0,
        caller_turns: 0,
        tool_calls: 0,
        calls: Vec::new(),
        audio_samples: 0,
        notes: Vec::new(),
        caller_turn_detection: TurnDetectionSetting::default().to_protocol(),
        agent_heard_to_ms: 0.0,
    };
    let wall_limit = spec.wall_limit;
    let result = match tokio::time::timeout(wall_limit, r.run()).await {
        Ok(x) => x,
        Err(_) => Err(BridgeError::WallClock(wall_limit)),
    };
    let result = r.agent.explain_break(result).await;
    let result = r.caller.explain_break(result).await;
    r.agent.tx.close().await;
    r.caller.tx.close().await;
    // In fast pacing the timeline runs ahead of the wall clock.
    while let Ok(mut t) = agent_trace_rx.try_recv() {
        t.t_ms = r.clock.stamp_on_timeline(t.t_ms);
        r.rec.event(Speaker::Agent, t);
    }
    while let Ok(mut t) = caller_trace_rx.try_recv() {
        t.t_ms = r.clock.stamp_on_timeline(t.t_ms);
        r.rec.event(Speaker::Customer, t);
    }
    outcome.agent_turns = r.agent_turns;
    outcome.customer_turns = r.caller_turns;
    outcome.tool_calls = r.tool_calls;
    outcome.usage = r.usage.clone();
    outcome.caller = Some(CallerUsage {
        model: caller_model.to_string(),
        usage: r.caller_usage.clone(),
    });
    outcome.write_errors.append(&mut r.rec.write_errors);
    for note in r.notes.drain(..) {
        outcome.note(note);
    }
    outcome.protocol_errors.append(&mut r.agent.errors);
    outcome.protocol_errors.append(&mut r.caller.errors);
    outcome.protocol_errors_not_kept += r.agent.errors_not_kept + r.caller.errors_not_kept;
    outcome.line = r.line.record();
    outcome.duration_ms = r.rec.finish()?;
    result
}

enum From {
    Agent(Option<Result<TimedEvent, ClientError>>),
    Caller(Option<Result<TimedEvent, ClientError>>),
}

impl Relay<'_> {
    async fn run(&mut self) -> Result<EndReason, BridgeError> {
        let instructions = caller_instructions(&self.spec.persona, &self.spec.scenario, None)
            .map_err(BridgeError::SessionRejected)?;
        let agent_settings = SessionSettings {
            instructions: &self.spec.instructions,
            tools: &self.spec.tools,
            voice: self.spec.agent_voice.as_deref(),
            turn_detection: Some(&self.spec.turn_detection),
        };
        self.agent
            .configure(&mut self.clock, agent_settings)
            .await?;
        let caller_settings = SessionSettings {
            instructions: &instructions,
            tools: &[],
            voice: self.spec.persona.voice.name.as_deref(),
            turn_detection: Some(&self.caller_turn_detection),
        };
        self.caller
            .configure(&mut self.clock, caller_settings)
            .await?;
        self.agent.request_response().await?;
        let end = self.spec.scenario.end;
        loop {
            let idle = self.spec.idle_timeout;
            let from = tokio::select! {
                e = self.agent.rx.recv() => From::Agent(e),
                e = self.caller.rx.recv() => From::Caller(e),
                _ = tokio::time::sleep(idle) => return Err(ClientError::Timeout(idle).into()),
            };
            let finished = match from {
                From::Agent(e) => {
                    let event = on_timeline(e, &mut self.clock)?;
                    self.on_agent(event).await?
                }
                From::Caller(e) => {
                    let event = on_timeline(e, &mut self.clock)?;
                    self.on_caller(event).await?
                }
            };
            if let Some(reason) = finished {
                return Ok(reason);
            }
            if self.agent_turns >= end.max_turns {
                return Ok(EndReason::MaxTurns);
            }
            if self.clock.now_ms() / 1000.0 >= end.max_duration_s {
                return Ok(EndReason::MaxDuration);
            }
        }
    }

    fn place(&mut self, speaker: Speaker, at: f64, delta: &str) -> Result<Vec<i16>, BridgeError> {
        let samples = self.spec.take_audio(&mut self.audio_samples, delta)?;
        let speaking = match speaker {
            Speaker::Agent => &mut self.agent_speaking,
            Speaker::Customer => &mut self.caller_speaking,
        };
        let earliest = if speaking.start_ms.is_some() {
            speaking.end_ms
        } else {
            at.max(self.floor_ms)
        };
        // The caller's speech crosses the line on its way to the agent.
        let (start, samples) = match speaker {
            Speaker::Agent => (self.rec.place_audio(speaker, earliest, &samples)?, samples),
            Speaker::Customer => self.line.stream(&mut self.rec, earliest, &samples)?,
        };
        let speaking = match speaker {
            Speaker::Agent => &mut self.agent_speaking,
            Speaker::Customer => &mut self.caller_speaking,
        };
        speaking.start_ms.get_or_insert(start);
        speaking.end_ms = start + samples.len() as f64 / 24.0;
        self.floor_ms = self.floor_ms.max(speaking.end_ms);
        Ok(samples)
    }

    /// Ends a side's turn: records its utterance, plays it out, and gives the
    /// other side the silence its VAD needs.
    async fn close_turn(&mut self, speaker: Speaker) -> Result<(), BridgeError> {
        let speaking = std::mem::take(match speaker {
            Speaker::Agent => &mut self.agent_speaking,
            Speaker::Customer => &mut self.caller_speaking,
        });
        let Some(start) = speaking.start_ms else {
            return Ok(());
        };
        self.rec.utterance(Utterance {
            speaker,
            text: speaking.text,
            start_ms: start,
            end_ms: speaking.end_ms,
            item_id: speaking.item_id,
            interrupted: false,
            full_text: None,
            sound: None,
            pauses: Vec::new(),
            guardrail: None,
        })?;
        match speaker {
            Speaker::Agent => self.agent_turns += 1,
            Speaker::Customer => self.caller_turns += 1,
        }
        self.clock.advance_to(speaking.end_ms).await;
        if speaker == Speaker::Agent {
            self.agent_hears_line_to(speaking.end_ms).await?;
        }
        let (listener, turns) = match speaker {
            Speaker::Agent => (&mut self.caller, &self.caller_turn_detection),
            Speaker::Customer => (&mut self.agent, &self.spec.turn_detection),
        };
        let (shortest, longest) = (turns.shortest_close_ms(), turns.longest_close_ms());
        for i in 0..((longest + 300) / 100) {
            let at = speaking.end_ms + i as f64 * 100.0;
            let silence = match speaker {
                // The agent hears the open line between the caller's turns.
                Speaker::Customer => self.line.silence(&mut self.rec, at, 2400)?,
                Speaker::Agent => vec![0i16; 2400],
            };
            listener.append(&silence).await?;
        }
        if speaker == Speaker::Customer {
            self.agent_heard_to_ms = speaking.end_ms + ((longest + 300) / 100 * 100) as f64;
        }
        // The listener cannot answer before its VAD's silence window has passed.
        let answer_floor = speaking.end_ms + shortest as f64;
        self.floor_ms = self.floor_ms.max(answer_floor);
        self.clock.advance_to(answer_floor).await;
        Ok(())
    }

    /// The caller's line while the agent talked, sent to the agent up to
    /// `end_ms`: its input keeps time with the call, as a streaming
    /// client's does, so a detector that asks whether the agent is still
    /// talking (semantic VAD) can tell.
    async fn agent_hears_line_to(&mut self, end_ms: f64) -> Result<(), BridgeError> {
        while self.agent_heard_to_ms + 100.0 <= end_ms {
            let at = self.agent_heard_to_ms;
            let silence = self.line.silence(&mut self.rec, at, 2400)?;
            self.agent.append(&silence).await?;
            self.agent_heard_to_ms = at + 100.0;
        }
        Ok(())
    }

    async fn on_agent(
        &mut self,
        (event, raw, at): (ServerEvent, serde_json::Value, f64),
    ) -> Result<Option<EndReason>, BridgeError> {
        match event {
            ServerEvent::ResponseOutputAudioDelta {
                at: part, delta, ..
            } => {
                self.agent_speaking.item_id.get_or_insert(part.item_id);
                let samples = self.place(Speaker::Agent, at, &delta)?;
                self.caller.append(&samples).await?;
            }
            ServerEvent::ResponseOutputAudioTranscriptDone { transcript, .. } => {
                self.agent_speaking.text = transcript
            }
            ServerEvent::ResponseFunctionCallArgumentsDone {
                call_id,
                name,
                arguments,
                ..
            } => self
                .calls
                .push((call_id, name.unwrap_or_default(), arguments, at)),
            ServerEvent::ResponseDone { response, .. } => {
                if let Some(u) = &response.usage {
                    self.usage.add(u);
                }
                if response.status == ResponseStatus::Failed {
                    self.agent.recover_failed_response(&response, raw).await?;
                    return Ok(None);
                }
                if !self.calls.is_empty() {
                    self.tool_calls += answer_tools(
                        &mut self.agent,
                        &mut self.clock,
                        &mut self.fixtures,
                        &mut self.rec,
                        self.spec.scenario.end.tool_timeout_ms,
                        std::mem::take(&mut self.calls),
                    )
                    .await?;
                    return Ok(None);
                }
                let said = self.agent_speaking.text.to_lowercase();
                self.close_turn(Speaker::Agent).await?;
                if self
                    .spec
                    .scenario
                    .script
                    .hang_up_when
                    .iter()
                    .any(|p| said.contains(&p.to_lowercase()))
                {
                    return Ok(Some(EndReason::AgentEnded));
                }
            }
            ServerEvent::Error { .. } => self.agent.note_error(raw),
            ServerEvent::InputAudioTranscriptionFailed { error, .. } => {
                self.notes
                    .push(super::bridge::could_not_hear(&error.message));
            }
            _ => {}
        }
        Ok(None)
    }

    async fn on_caller(
        &mut self,
        (event, raw, at): (ServerEvent, serde_json::Value, f64),
    ) -> Result<Option<EndReason>, BridgeError> {
        match event {
            ServerEvent::ResponseOutputAudioDelta {
                at: part, delta, ..
            } => {
                self.caller_speaking.item_id.get_or_insert(part.item_id);
                let samples = self.place(Speaker::Customer, at, &delta)?;
                self.agent.append(&samples).await?;
                self.agent_heard_to_ms = self.caller_speaking.end_ms;
            }
            ServerEvent::ResponseOutputAudioTranscriptDone { transcript, .. } => {
                self.caller_speaking.text = transcript
            }
            ServerEvent::ResponseDone { response, .. } => {
                if let Some(u) = &response.usage {
                    self.caller_usage.add(u);
                }
                let said = self.caller_speaking.text.to_lowercase();
                self.close_turn(Speaker::Customer).await?;
                if said.contains("[hang up]") || said.contains("goodbye") {
                    return Ok(Some(EndReason::CallerHungUp));
                }
            }
            ServerEvent::Error { .. } => self.caller.note_error(raw),
            _ => {}
        }
        Ok(None)
    }
}
