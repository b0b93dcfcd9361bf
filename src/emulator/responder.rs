//! Producing one response: deciding what the scripted agent does, speaking it,
//! and emitting the full server event sequence, cancellable at every step.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, mpsc, watch};

use super::EmulatorConfig;
use super::faults::{Fault, rate_limit_message};
use super::ids::IdGen;
use super::script::{Reply, ScriptState, TurnInput};
use super::session::{Heard, Internal, Outbox};
use crate::audio::{AudioFormat, Voice, VoiceSettings};
use crate::config::agent::AudioPacing;
use crate::protocol::events::{InputTokenDetails, OutputTokenDetails};
use crate::protocol::item::{FunctionCallItem, ItemStatus, MessageItem};
use crate::protocol::{
    ContentPart, Item, Modality, PartRef, ResponseObject, ResponseParams, ResponsePart,
    ResponseStatus, Role, ServerEvent, SessionConfig, Usage,
};

/// What the caller contributed since the agent's last response.
#[derive(Default)]
pub struct Turn {
    pub caller: Vec<watch::Receiver<Heard>>,
    pub tool_outputs: Vec<(String, String)>,
    pub opening: bool,
}

/// The fixed parameters of one response.
pub struct ResponsePlan {
    id: String,
    out_of_band: bool,
    modality: Modality,
    format: AudioFormat,
    voice_name: Value,
    voice: VoiceSettings,
    speed: f64,
    metadata: Option<Map<String, Value>>,
    max_output_tokens: Value,
    delay: Duration,
    input_tokens: u64,
    cached_tokens: u64,
    streaming: Streaming,
    /// A line the response's instructions ask to be said word for word
    /// (a client's fallback after a guardrail): said instead of the script.
    scripted_line: Option<String>,
}

/// How a response's audio and transcript go out.
#[derive(Debug, Clone, Copy)]
pub struct Streaming {
    pub pacing: AudioPacing,
    /// Size of each audio delta (ms of audio).
    pub chunk_ms: u32,
    /// With realtime pacing: times faster than playback.
    pub speed: f64,
    /// How far ahead of its audio a word's transcript goes out (ms).
    pub transcript_lead_ms: u32,
}

impl ResponsePlan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        session: &SessionConfig,
        params: &ResponseParams,
        id: String,
        out_of_band: bool,
        delay_ms: f64,
        input_tokens: u64,
        previous_input_tokens: u64,
        streaming: Streaming,
    ) -> Self {
        let modalities = params
            .output_modalities
            .as_ref()
            .or(params.modalities.as_ref());
        let modality = match modalities {
            Some(m) if m.iter().any(|x| x == "audio") => Modality::Audio,
            Some(m) if m.iter().any(|x| x == "text") => Modality::Text,
            _ => session
                .output_modalities
                .first()
                .copied()
                .unwrap_or(Modality::Audio),
        };
        ResponsePlan {
            id,
            out_of_band,
            modality,
            format: session.output_format,
            voice_name: params
                .voice
                .clone()
                .unwrap_or_else(|| session.voice.clone()),
            voice: VoiceSettings::default(),
            speed: session.speed,
            metadata: params.metadata.clone(),
            max_output_tokens: params
                .max_output_tokens
                .clone()
                .unwrap_or_else(|| session.max_output_tokens.clone()),
            delay: Duration::from_secs_f64(delay_ms.max(0.0) / 1000.0),
            input_tokens,
            cached_tokens: previous_input_tokens.min(input_tokens),
            streaming: Streaming {
                chunk_ms: streaming.chunk_ms.clamp(10, 1000),
                speed: streaming.speed.clamp(0.25, 100.0),
                ..streaming
            },
            scripted_line: params
                .instructions
                .as_deref()
                .and_then(crate::protocol::scripted_line::line_to_say)
                .map(str::to_string),
        }
    }

    fn response(
        &self,
        status: ResponseStatus,
        output: Vec<Item>,
        usage: Option<Usage>,
        reason: Option<&str>,
    ) -> ResponseObject {
        let modality = match self.modality {
            Modality::Audio => "audio",
            Modality::Text => "text",
        };
        ResponseObject {
            object: "realtime.response".into(),
            id: self.id.clone(),
            status,
            status_details: reason.map(|r| json!({"type": "cancelled", "reason": r})),
            output,
            conversation_id: (!self.out_of_band).then(|| "conv_emulator".to_string()),
            output_modalities: Some(vec![modality.to_string()]),
            max_output_tokens: Some(self.max_output_tokens.clone()),
            audio: Some(
                json!({"output": {"format": self.format.ga_wire(), "voice": self.voice_name}}),
            ),
            usage,
            metadata: self.metadata.clone(),
            extra: Default::default(),
        }
    }
}

pub struct Responder {
    pub plan: ResponsePlan,
    pub turn: Turn,
    pub script: Arc<Mutex<ScriptState>>,
    pub config: Arc<EmulatorConfig>,
    pub ids: Arc<IdGen>,
    pub out: Outbox,
    pub internal: mpsc::Sender<Internal>,
    pub cancel: watch::Receiver<Option<&'static str>>,
    pub declared: Vec<String>,
    pub out_of_band_reply: String,
    pub previous_item_id: Option<String>,
    pub audio_out_ms: u64,
    pub conversation: Option<String>,
    /// A fault injected into this response (delay or rate limit).
    pub fault: Option<Fault>,
    pub model: String,
}

/// Why emission stopped early.
struct Cancelled(&'static str);

impl Responder {
    pub async fn run(mut self) {
        let started = Instant::now();
        self.out
            .send(ServerEvent::ResponseCreated {
                response: Box::new(self.plan.response(
                    ResponseStatus::InProgress,
                    vec![],
                    None,
                    None,
                )),
                extra: Default::default(),
            })
            .await;
        if let Some(Fault::Delay(d)) = self.fault {
            self.plan.delay += d;
        }
        let (status, output, reason) = if self.fault == Some(Fault::RateLimit) {
            (ResponseStatus::Failed, vec![], None)
        } else {
            match self.produce(started).await {
                Ok(output) => (ResponseStatus::Completed, output, None),
                Err((Cancelled(reason), output)) => {
                    (ResponseStatus::Cancelled, output, Some(reason))
                }
            }
        };
        let usage = self.usage(&output);
        let mut response = self
            .plan
            .response(status, output, Some(usage.clone()), reason);
        if status == ResponseStatus::Failed {
            response.status_details = Some(serde_json::json!({
                "type": "failed",
                "error": {"type": "tokens", "code": "rate_limit_exceeded",
                          "message": rate_limit_message(&self.model)},
            }));
        }
        self.out
            .send(ServerEvent::ResponseDone {
                response: Box::new(response),
                extra: Default::default(),
            })
            .await;
        let _ = self
            .internal
            .send(Internal::ResponseFinished {
                response_id: self.plan.id.clone(),
                input_tokens: if self.plan.out_of_band {
                    0
                } else {
                    self.plan.input_tokens
                },
                failed: status == ResponseStatus::Failed,
            })
            .await;
        let used = usage.total_tokens;
        self.out
            .send(ServerEvent::RateLimitsUpdated {
                rate_limits: vec![crate::protocol::events::RateLimit {
                    name: "tokens".into(),
                    limit: 40_000,
                    remaining: 40_000u64.saturating_sub(used),
                    reset_seconds: (used as f64 * 60.0 / 40_000.0 * 1000.0).round() / 1000.0,
                }],
                extra: Default::default(),
            })
            .await;
    }

    fn usage(&self, output: &[Item]) -> Usage {
        let mut text_out = 0;
        // About one token per 50 ms of assistant audio.
        let audio_out = self.audio_out_ms / 50;
        for item in output {
            match item {
                Item::Message(m) => {
                    for part in &m.content {
                        text_out += part.text().map(|t| t.len() as u64 / 4).unwrap_or(0);
                    }
                }
                Item::FunctionCall(c) => text_out += c.arguments.len() as u64 / 4 + 4,
                _ => {}
            }
        }
        let input = self.plan.input_tokens;
        let cached = self.plan.cached_tokens;
        Usage {
            total_tokens: input + text_out + audio_out,
            input_tokens: input,
            output_tokens: text_out + audio_out,
            input_token_details: InputTokenDetails {
                text_tokens: input,
                cached_tokens: cached,
                cached_tokens_details: crate::protocol::events::CachedTokenDetails {
                    text_tokens: cached,
                    ..Default::default()
                },
                ..Default::default()
            },
            output_token_details: OutputTokenDetails {
                text_tokens: text_out,
                audio_tokens: audio_out,
                ..Default::default()
            },
            extra: Default::default(),
        }
    }

    fn cancelled(&self) -> Option<&'static str> {
        *self.cancel.borrow()
    }

    /// Sleeps unless cancelled first.
    async fn pause(&mut self, d: Duration) -> Result<(), Cancelled> {
        if let Some(r) = self.cancelled() {
            return Err(Cancelled(r));
        }
        if d.is_zero() {
            tokio::task::yield_now().await;
            return self.cancelled().map_or(Ok(()), |r| Err(Cancelled(r)));
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.cancel.changed() => Err(Cancelled(self.cancelled().unwrap_or("client_cancelled"))),
        }
    }

    async fn decide(&mut self) -> Result<Reply, Cancelled> {
        if self.plan.out_of_band {
            return Ok(Reply::Say(self.out_of_band_reply.clone()));
        }
        if let Some(line) = &self.plan.scripted_line {
            return Ok(Reply::Say(line.clone()));
        }
        let waiting = self.script.lock().await.waiting_for().map(str::to_string);
        let tool_output = waiting.and_then(|id| {
            self.turn
                .tool_outputs
                .iter()
                .find(|(call_id, _)| *call_id == id)
                .cloned()
        });
        let input = if let Some((call_id, output)) = tool_output {
            TurnInput::ToolOutput { call_id, output }
        } else if !self.turn.caller.is_empty() {
            let mut words = Vec::new();
            let receivers = std::mem::take(&mut self.turn.caller);
            for mut rx in receivers {
                let heard = tokio::select! {
                    h = rx.wait_for(|h| *h != Heard::Pending) => h.map(|h| h.clone()).unwrap_or(Heard::NotUnderstood),
                    _ = self.cancel.changed() => return Err(Cancelled(self.cancelled().unwrap_or("client_cancelled"))),
                };
                if let Heard::Words(w) = heard {
                    words.push(w);
                }
            }
            if words.is_empty() {
                TurnInput::NotUnderstood
            } else {
                TurnInput::Caller(words.join(" "))
            }
        } else if self.turn.opening {
            TurnInput::Opening
        } else {
            TurnInput::Nothing
        };
        let declared = self.declared.clone();
        let is_declared = move |name: &str| declared.iter().any(|d| d == name);
        let mut script = self.script.lock().await;
        let reply = script.respond(input, &is_declared, &self.config.registry);
        self.plan.voice = script_voice(&script, &self.config);
        Ok(reply)
    }

    async fn produce(&mut self, started: Instant) -> Result<Vec<Item>, (Cancelled, Vec<Item>)> {
        let reply = self.decide().await.map_err(|c| (c, vec![]))?;
        match reply {
            Reply::Say(text) if text.trim().is_empty() => Ok(vec![]),
            Reply::Say(text) => self.say(text, started).await,
            Reply::Call {
                call_id,
                name,
                arguments,
            } => {
                let remaining = self.plan.delay.saturating_sub(started.elapsed());
                self.pause(remaining).await.map_err(|c| (c, vec![]))?;
                Ok(vec![self.call(call_id, name, arguments).await])
            }
        }
    }

    fn part_ref(&self, item_id: &str) -> PartRef {
        PartRef {
            response_id: self.plan.id.clone(),
            item_id: item_id.to_string(),
            output_index: 0,
            content_index: 0,
        }
    }

    /// Records `recorded` in the session, then announces `item` (the wire
    /// form, which may still be empty) to the client.
    async fn emit_item_start(&self, recorded: Item, item: &Item, audio_ms: Option<Arc<AtomicU64>>) {
        if !self.plan.out_of_band {
            let _ = self
                .internal
                .send(Internal::ItemCreated {
                    response_id: self.plan.id.clone(),
                    item: recorded,
                    audio_ms,
                })
                .await;
        }
        self.out
            .send(ServerEvent::ResponseOutputItemAdded {
                response_id: self.plan.id.clone(),
                output_index: 0,
                item: Box::new(item.clone()),
                extra: Default::default(),
            })
            .await;
        if !self.plan.out_of_band {
            self.out
                .send(ServerEvent::ConversationItemAdded {
                    previous_item_id: self.previous_item_id.clone(),
                    item: Box::new(item.clone()),
                    extra: Default::default(),
                })
                .await;
        }
    }

    async fn emit_item_end(&self, item: &Item) {
        if !self.plan.out_of_band {
            let _ = self
                .internal
                .send(Internal::ItemFinished { item: item.clone() })
                .await;
            self.out
                .send(ServerEvent::ConversationItemDone {
                    previous_item_id: self.previous_item_id.clone(),
                    item: Box::new(item.clone()),
                    extra: Default::default(),
                })
                .await;
        }
        self.out
            .send(ServerEvent::ResponseOutputItemDone {
                response_id: self.plan.id.clone(),
                output_index: 0,
                item: Box::new(item.clone()),
                extra: Default::default(),
            })
            .await;
    }

    async fn call(&self, call_id: String, name: String, arguments: String) -> Item {
        let item_id = self.ids.make("item");
        let mut item = FunctionCallItem {
            id: Some(item_id.clone()),
            object: Some("realtime.item".into()),
            status: Some(ItemStatus::InProgress),
            call_id: call_id.clone(),
            name: name.clone(),
            arguments: String::new(),
            extra: Default::default(),
        };
        let announced = Item::FunctionCall(item.clone());
        self.emit_item_start(announced.clone(), &announced, None)
            .await;
        let chars: Vec<char> = arguments.chars().collect();
        for chunk in chars.chunks(24) {
            self.out
                .send(ServerEvent::ResponseFunctionCallArgumentsDelta {
                    response_id: self.plan.id.clone(),
                    item_id: item_id.clone(),
                    output_index: 0,
                    call_id: call_id.clone(),
                    delta: chunk.iter().collect(),
                    extra: Default::default(),
                })
                .await;
        }
        self.out
            .send(ServerEvent::ResponseFunctionCallArgumentsDone {
                response_id: self.plan.id.clone(),
                item_id,
                output_index: 0,
                call_id,
                name: Some(name),
                arguments: arguments.clone(),
                extra: Default::default(),
            })
            .await;
        item.arguments = arguments;
        item.status = Some(ItemStatus::Completed);
        let item = Item::FunctionCall(item);
        self.emit_item_end(&item).await;
        item
    }

    async fn say(
        &mut self,
        text: String,
        started: Instant,
    ) -> Result<Vec<Item>, (Cancelled, Vec<Item>)> {
        let audio = match self.plan.modality {
            Modality::Audio => {
                let settings = VoiceSettings {
                    rate: self.plan.voice.rate * self.plan.speed as f32,
                    ..self.plan.voice
                };
                let format = self.plan.format;
                let line = text.clone();
                let ear = self
                    .config
                    .recognizer
                    .clone()
                    .zip(self.conversation.clone());
                let bytes = tokio::task::spawn_blocking(move || {
                    let pcm = Voice::new(settings).speak(&line);
                    if let Some((ear, conversation)) = ear {
                        ear.remember(&conversation, &line, &pcm);
                    }
                    format.encode_from_session_rate(&pcm)
                })
                .await
                .unwrap_or_default();
                Some(bytes)
            }
            Modality::Text => None,
        };
        let remaining = self.plan.delay.saturating_sub(started.elapsed());
        self.pause(remaining).await.map_err(|c| (c, vec![]))?;

        let item_id = self.ids.make("item");
        let audio_ms = Arc::new(AtomicU64::new(0));
        let empty_part = match audio {
            Some(_) => ContentPart::OutputAudio {
                audio: None,
                transcript: Some(text.clone()),
                extra: Default::default(),
            },
            None => ContentPart::OutputText {
                text: text.clone(),
                extra: Default::default(),
            },
        };
        let mut message = MessageItem {
            id: Some(item_id.clone()),
            object: Some("realtime.item".into()),
            status: Some(ItemStatus::InProgress),
            role: Role::Assistant,
            content: vec![],
            extra: Default::default(),
        };
        // The session records the full item; the wire shows it empty until done.
        let mut recorded = message.clone();
        recorded.content = vec![empty_part];
        self.emit_item_start(
            Item::Message(recorded),
            &Item::Message(message.clone()),
            Some(audio_ms.clone()),
        )
        .await;
        let at = self.part_ref(&item_id);
        let start_part = match audio {
            Some(_) => ResponsePart::Audio {
                transcript: String::new(),
                extra: Default::default(),
            },
            None => ResponsePart::Text {
                text: String::new(),
                extra: Default::default(),
            },
        };
        self.out
            .send(ServerEvent::ResponseContentPartAdded {
                at: at.clone(),
                part: start_part,
                extra: Default::default(),
            })
            .await;

        let streamed = match &audio {
            Some(bytes) => self.stream_audio(&at, &text, bytes, &audio_ms).await,
            None => self.stream_text(&at, &text).await,
        };
        let (said, cancelled) = match streamed {
            Ok(()) => (text.clone(), None),
            Err((c, said)) => (said, Some(c)),
        };
        let (final_part, done_part) = match audio {
            Some(_) => {
                self.out
                    .send(ServerEvent::ResponseOutputAudioDone {
                        at: at.clone(),
                        extra: Default::default(),
                    })
                    .await;
                self.out
                    .send(ServerEvent::ResponseOutputAudioTranscriptDone {
                        at: at.clone(),
                        transcript: said.clone(),
                        extra: Default::default(),
                    })
                    .await;
                (
                    ContentPart::OutputAudio {
                        audio: None,
                        transcript: Some(said.clone()),
                        extra: Default::default(),
                    },
                    ResponsePart::Audio {
                        transcript: said,
                        extra: Default::default(),
                    },
                )
            }
            None => {
                self.out
                    .send(ServerEvent::ResponseOutputTextDone {
                        at: at.clone(),
                        text: said.clone(),
                        extra: Default::default(),
                    })
                    .await;
                (
                    ContentPart::OutputText {
                        text: said.clone(),
                        extra: Default::default(),
                    },
                    ResponsePart::Text {
                        text: said,
                        extra: Default::default(),
                    },
                )
            }
        };
        self.out
            .send(ServerEvent::ResponseContentPartDone {
                at,
                part: done_part,
                extra: Default::default(),
            })
            .await;
        message.content = vec![final_part];
        message.status = Some(if cancelled.is_some() {
            ItemStatus::Incomplete
        } else {
            ItemStatus::Completed
        });
        let item = Item::Message(message);
        self.emit_item_end(&item).await;
        self.audio_out_ms = audio_ms.load(Ordering::SeqCst);
        match cancelled {
            None => Ok(vec![item]),
            Some(c) => Err((c, vec![item])),
        }
    }

    /// Sends audio in chunks with the transcript interleaved ahead of it:
    /// each word goes out `transcript_lead_ms` before the chunk where it
    /// starts to play (its place in the audio taken, as rehearse's scorers
    /// take it, from its place in the text).
    async fn stream_audio(
        &mut self,
        at: &PartRef,
        text: &str,
        bytes: &[u8],
        audio_ms: &AtomicU64,
    ) -> Result<(), (Cancelled, String)> {
        let streaming = self.plan.streaming;
        let chunk_bytes = self.plan.format.bytes_per_ms() * streaming.chunk_ms as usize;
        let chunks: Vec<&[u8]> = bytes.chunks(chunk_bytes.max(2)).collect();
        let total_ms = self.plan.format.duration_ms(bytes.len()) as f64;
        let words = word_starts_ms(text, total_ms);
        let mut words_sent = 0;
        let mut sent_ms = 0.0;
        for chunk in &chunks {
            let chunk_end = sent_ms + self.plan.format.duration_ms(chunk.len()) as f64;
            let horizon = chunk_end + streaming.transcript_lead_ms as f64;
            while words_sent < words.len() && words[words_sent].1 < horizon {
                let word = words[words_sent].0;
                let delta = match words_sent {
                    0 => word.to_string(),
                    _ => format!(" {word}"),
                };
                self.out
                    .send(ServerEvent::ResponseOutputAudioTranscriptDelta {
                        at: at.clone(),
                        delta,
                        extra: Default::default(),
                    })
                    .await;
                words_sent += 1;
            }
            let said = || {
                words[..words_sent]
                    .iter()
                    .map(|w| w.0)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if let Some(r) = self.cancelled() {
                return Err((Cancelled(r), said()));
            }
            self.out
                .send(ServerEvent::ResponseOutputAudioDelta {
                    at: at.clone(),
                    delta: base64::engine::general_purpose::STANDARD.encode(chunk),
                    extra: Default::default(),
                })
                .await;
            audio_ms.fetch_add(self.plan.format.duration_ms(chunk.len()), Ordering::SeqCst);
            sent_ms = chunk_end;
            let pace = match streaming.pacing {
                AudioPacing::Realtime => Duration::from_secs_f64(
                    self.plan.format.duration_ms(chunk.len()) as f64 / 1000.0 / streaming.speed,
                ),
                AudioPacing::Burst => Duration::ZERO,
            };
            if let Err(c) = self.pause(pace).await {
                return Err((c, said()));
            }
        }
        Ok(())
    }

    async fn stream_text(&mut self, at: &PartRef, text: &str) -> Result<(), (Cancelled, String)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            if let Some(r) = self.cancelled() {
                return Err((Cancelled(r), words[..i].join(" ")));
            }
            let delta = if i == 0 {
                word.to_string()
            } else {
                format!(" {word}")
            };
            self.out
                .send(ServerEvent::ResponseOutputTextDelta {
                    at: at.clone(),
                    delta,
                    extra: Default::default(),
                })
                .await;
        }
        Ok(())
    }
}

/// Each word of `text` and where it starts in `total_ms` of its audio,
/// by its place in the text (in characters).
fn word_starts_ms(text: &str, total_ms: f64) -> Vec<(&str, f64)> {
    let total = text.chars().count().max(1) as f64;
    let mut words = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, chars before)
    for (chars_before, (i, c)) in text.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some((i, chars_before)),
            (true, Some((from, at))) => {
                words.push((&text[from..i], total_ms * at as f64 / total));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((from, at)) = start {
        words.push((&text[from..], total_ms * at as f64 / total));
    }
    words
}

fn script_voice(script: &ScriptState, config: &EmulatorConfig) -> VoiceSettings {
    config
        .registry
        .get(script.agent_name())
        .map(|a| a.file.voice.offline)
        .unwrap_or(config.agent.file.voice.offline)
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_start_where_their_characters_are() {
        let words = super::word_starts_ms("one  two three", 1400.0);
        assert_eq!(words, vec![("one", 0.0), ("two", 500.0), ("three", 900.0)]);
    }
}
