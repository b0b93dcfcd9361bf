//! One end of a call: a Realtime session, set up and read on the shared
//! timeline. Used for the agent under test and, with the realtime driver,
//! for the caller too.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::bridge::BridgeError;
use super::clock::Clock;
use super::fixtures::{FixtureSet, ToolAnswer};
use super::recorder::Recorder;
use crate::audio::AudioFormat;
use crate::protocol::item::FunctionCallOutputItem;
use crate::protocol::{
    ClientEvent, Dialect, Item, ResponseObject, ServerEvent, SessionConfig, SessionPatch, ToolDef,
    TurnDetection,
};
use crate::realtime::{ClientError, ClientReceiver, ClientSender, RealtimeClient, TimedEvent};
use crate::run_folder::ToolCallRecord;

pub struct Side {
    pub tx: ClientSender,
    pub rx: ClientReceiver,
    pub idle: Duration,
    /// Error events that did not end the call, kept for the record (the
    /// first [`KEPT_ERRORS`]; the rest are counted).
    pub errors: Vec<Value>,
    pub errors_not_kept: u32,
    /// Rate-limited responses asked again so far in this call.
    rate_limited: u32,
}

/// Rate-limited responses are asked again this often per call before the
/// call fails (and is tried again as a whole).
const RATE_LIMIT_RETRIES_PER_CALL: u32 = 3;

/// Error events kept per side: a provider stuck in a loop of errors must not
/// bloat `conversation.json` (every one is still in `events.jsonl`).
pub const KEPT_ERRORS: usize = 100;

/// What a side's session is set up with.
pub struct SessionSettings<'a> {
    pub instructions: &'a str,
    pub tools: &'a [ToolDef],
    pub voice: Option<&'a str>,
    /// The session's turn detection; None for manual turns.
    pub turn_detection: Option<&'a TurnDetection>,
}

impl Side {
    pub fn new(client: RealtimeClient, idle: Duration) -> Side {
        Side {
            tx: client.sender,
            rx: client.receiver,
            idle,
            errors: Vec::new(),
            errors_not_kept: 0,
            rate_limited: 0,
        }
    }

    /// A `response.done` with status `failed`: kept for the record. A rate
    /// limit is waited out (as long as the message asks) and the response
    /// asked again, up to [`RATE_LIMIT_RETRIES_PER_CALL`] times a call, as a
    /// production client would; anything else ends the call with its cause.
    pub async fn recover_failed_response(
        &mut self,
        response: &ResponseObject,
        raw: Value,
    ) -> Result<(), BridgeError> {
        let detail = |p: &str| {
            response
                .status_details
                .as_ref()
                .and_then(|d| d.pointer(p))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (code, message) = (detail("/error/code"), detail("/error/message"));
        self.note_error(raw);
        if code == "rate_limit_exceeded" && self.rate_limited < RATE_LIMIT_RETRIES_PER_CALL {
            self.rate_limited += 1;
            let asked = crate::retry::retry_after_in_message(&message);
            tokio::time::sleep(crate::retry::RetryPolicy::HTTP.wait(self.rate_limited, asked))
                .await;
            return self.request_response().await;
        }
        let why = match (code.is_empty(), message.is_empty()) {
            (true, true) => "unknown".to_string(),
            (false, true) => code,
            (true, false) => message,
            (false, false) => format!("{code}: {message}"),
        };
        Err(BridgeError::ResponseFailed(why))
    }

    /// Keeps an error event for the record, up to [`KEPT_ERRORS`].
    pub fn note_error(&mut self, raw: Value) {
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push(raw);
        } else {
            self.errors_not_kept += 1;
        }
    }

    /// The next event and its timeline position.
    pub async fn next_event(
        &mut self,
        clock: &mut Clock,
    ) -> Result<(ServerEvent, Value, f64), BridgeError> {
        on_timeline(self.rx.recv_within(self.idle).await, clock)
    }

    /// A call that ended on a failed send hides why the connection went:
    /// reads (briefly) what this side's server sent before it, and returns
    /// its close code instead when it sent one. Other results pass through.
    pub async fn explain_break<T>(
        &mut self,
        result: Result<T, BridgeError>,
    ) -> Result<T, BridgeError> {
        let Err(BridgeError::Client(broke @ ClientError::Socket(_))) = result else {
            return result;
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        // Bounded: a few events at most arrive after a break.
        for _ in 0..64 {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.rx.recv_within(left).await {
                Some(Ok(e)) => {
                    if e.received.event_type == "error" {
                        self.note_error(e.received.raw);
                    }
                }
                Some(Err(closed @ ClientError::Closed { .. })) => return Err(closed.into()),
                _ => break,
            }
        }
        Err(broke.into())
    }

    /// Waits for `session.created`, sends the settings, waits for `session.updated`.
    pub async fn configure(
        &mut self,
        clock: &mut Clock,
        settings: SessionSettings<'_>,
    ) -> Result<(), BridgeError> {
        self.wait_for(clock, "session.created").await?;
        let turn_detection = settings
            .turn_detection
            .map_or(Value::Null, TurnDetection::to_wire);
        let mut output = json!({"format": AudioFormat::Pcm16.ga_wire()});
        if let Some(v) = settings.voice {
            output["voice"] = json!(v);
        }
        let body = json!({
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": settings.instructions,
            "tools": settings.tools,
            "audio": {"input": {"format": AudioFormat::Pcm16.ga_wire(), "turn_detection": turn_detection}, "output": output},
        });
        let mut patch: SessionPatch = serde_json::from_value(body)
            .map_err(|e| BridgeError::SessionRejected(e.to_string()))?;
        if self.tx.dialect() == Dialect::Beta {
            // The same settings in the flat beta shape.
            let mut config = SessionConfig::new(String::new(), String::new(), 0);
            config
                .apply(&patch)
                .map_err(|e| BridgeError::SessionRejected(e.message))?;
            patch = serde_json::from_value(config.to_update(Dialect::Beta)).unwrap_or_default();
        }
        self.tx
            .send_event(ClientEvent::SessionUpdate {
                session: Box::new(patch),
                extra: Default::default(),
            })
            .await?;
        self.wait_for(clock, "session.updated").await
    }

    async fn wait_for(&mut self, clock: &mut Clock, wanted: &str) -> Result<(), BridgeError> {
        loop {
            let (event, raw, _) = self.next_event(clock).await?;
            if let ServerEvent::Error { error, .. } = event {
                let why = match &error.code {
                    Some(code) => format!("{code}: {}", error.message),
                    None => error.message,
                };
                // Before `session.created` the connection itself was refused
                // (key, model, capacity); after it, the settings were.
                return Err(if wanted == "session.created" {
                    BridgeError::SessionRefused(why)
                } else {
                    BridgeError::SessionRejected(why)
                });
            }
            if raw.get("type").and_then(Value::as_str) == Some(wanted) {
                return Ok(());
            }
        }
    }

    pub async fn append(&mut self, samples: &[i16]) -> Result<(), BridgeError> {
        let audio =
            base64::engine::general_purpose::STANDARD.encode(AudioFormat::Pcm16.encode(samples));
        self.tx
            .send_event(ClientEvent::InputAudioBufferAppend {
                audio,
                extra: Default::default(),
            })
            .await?;
        Ok(())
    }

    pub async fn request_response(&mut self) -> Result<(), BridgeError> {
        self.tx
            .send_event(ClientEvent::ResponseCreate {
                response: None,
                extra: Default::default(),
            })
            .await?;
        Ok(())
    }
}

/// A received event with its position on the call's timeline (ms); a
/// closed connection is an error, since a call never ends by the peer going.
pub fn on_timeline(
    received: Option<Result<TimedEvent, ClientError>>,
    clock: &mut Clock,
) -> Result<(ServerEvent, Value, f64), BridgeError> {
    match received {
        Some(Ok(e)) => {
            let at = clock.at(clock.origin() + e.at);
            Ok((e.received.event, e.received.raw, at))
        }
        Some(Err(e)) => Err(e.into()),
        None => Err(ClientError::Closed {
            code: 1000,
            reason: "the peer closed the connection".into(),
        }
        .into()),
    }
}

/// Answers every tool call a response ended with, in order, then asks for
/// the response that uses their outputs. Returns how many were answered.
pub async fn answer_tools(
    side: &mut Side,
    clock: &mut Clock,
    fixtures: &mut FixtureSet,
    rec: &mut Recorder,
    tool_timeout_ms: f64,
    calls: Vec<(String, String, String, f64)>,
) -> Result<u32, BridgeError> {
    let answered = calls.len() as u32;
    for call in calls {
        answer_tool(side, clock, fixtures, rec, tool_timeout_ms, call).await?;
    }
    side.request_response().await?;
    Ok(answered)
}

/// Answers one tool call from the fixtures after the backend's latency (on
/// the timeline), sends the output and records the call.
async fn answer_tool(
    side: &mut Side,
    clock: &mut Clock,
    fixtures: &mut FixtureSet,
    rec: &mut Recorder,
    tool_timeout_ms: f64,
    call: (String, String, String, f64),
) -> Result<(), BridgeError> {
    let (call_id, name, arguments, called_ms) = call;
    let (output, is_error, timed_out, wait) = match fixtures.answer(&name, &arguments) {
        ToolAnswer::Output { output, is_error } => {
            (output, is_error, false, fixtures.latency_ms(&name))
        }
        ToolAnswer::Timeout => (
            json!({"error": format!("`{name}` timed out")}).to_string(),
            true,
            true,
            tool_timeout_ms,
        ),
    };
    clock.advance_to(called_ms + wait).await;
    let answered_ms = clock.now_ms();
    side.tx
        .send_event(ClientEvent::ConversationItemCreate {
            previous_item_id: None,
            item: Box::new(Item::FunctionCallOutput(FunctionCallOutputItem {
                id: None,
                object: None,
                status: None,
                call_id: call_id.clone(),
                output: output.clone(),
                extra: Default::default(),
            })),
            extra: Default::default(),
        })
        .await?;
    rec.tool_call(ToolCallRecord {
        call_id,
        name,
        arguments,
        output: (!timed_out).then_some(output),
        is_error,
        timed_out,
        called_ms,
        answered_ms,
        latency_ms: answered_ms - called_ms,
    })?;
    Ok(())
}
