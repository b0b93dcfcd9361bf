//! An OpenAI Realtime event log, as applications record it: JSON lines of
//! client and server events, GA or beta names, each either a bare event or
//! wrapped with its time (`{"t_ms": …, "direction": …, "event": {…}}`, as
//! rehearse's own `events.jsonl` and most WebSocket taps write it; a
//! `timestamp` in RFC 3339 or epoch seconds works too). Audio payloads are
//! decoded when present (in the session's format); a log with byte counts
//! or no audio still gives timing. Without times, the call's clock is the
//! caller audio streamed so far, as a client streaming a microphone keeps it.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

use super::{ImportError, ImportedCall, SessionConfig, call_name, drop_secrets};
use crate::audio::AudioFormat;
use crate::protocol::Usage;
use crate::realtime::trace::redact_audio;
use crate::run_folder::{
    Direction, EventRecord, ImportSource, Speaker, ToolCallRecord, TraceRecord, Utterance,
};

/// Client event types (everything else a server sends).
const CLIENT_EVENTS: &[&str] = &[
    "session.update",
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
];

/// Longest call a log may describe: times beyond it are a log mixing clocks
/// (relative ms and epoch times), and would ask for tracks of years.
const MAX_CALL_MS: f64 = 6.0 * 3600.0 * 1000.0;

/// One agent audio item as it streamed.
#[derive(Debug, Default)]
struct AgentItem {
    start_ms: Option<f64>,
    samples: f64,
    text: String,
    truncated_at_ms: Option<f64>,
}

/// A caller turn the server's VAD marked, or a text turn.
#[derive(Debug, Default)]
struct CallerItem {
    start_ms: Option<f64>,
    end_ms: Option<f64>,
    text: Option<String>,
}

#[derive(Default)]
struct Reader {
    call: ImportedCall,
    input_format: Option<AudioFormat>,
    output_format: Option<AudioFormat>,
    /// The first timestamp seen (the call's zero) for timed logs.
    zero: Option<f64>,
    /// The caller audio streamed so far (ms): the clock of untimed logs.
    caller_cursor_ms: f64,
    /// Where each appended chunk starts in the input buffer (ms of audio
    /// written in the session) and on the call's timeline: the server's
    /// `audio_start_ms`/`audio_end_ms` are buffer positions.
    appended: Vec<(f64, f64)>,
    buffer_ms: f64,
    agent_cursor_ms: f64,
    caller: Vec<i16>,
    agent: Vec<i16>,
    caller_items: BTreeMap<String, CallerItem>,
    caller_order: Vec<String>,
    agent_items: BTreeMap<String, AgentItem>,
    agent_order: Vec<String>,
    calls: BTreeMap<String, ToolCallRecord>,
    /// A time beyond [`MAX_CALL_MS`] was seen (clocks mixed up in the log).
    too_long: bool,
    transcribed: bool,
    audio_payloads: bool,
}

pub fn read(path: &Path) -> Result<ImportedCall, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ImportError::Read(path.to_path_buf(), e.to_string()))?;
    let mut reader = Reader::default();
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| ImportError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("not a JSON event: {e}"),
        })?;
        let Some((event, t, direction)) = unwrap(value) else {
            return Err(ImportError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                message: "neither a Realtime event (no `type`) nor a wrapped one (`event`)".into(),
            });
        };
        if let Some(event) = event {
            reader.event(event, t, direction);
        }
        lines += 1;
    }
    if lines == 0 {
        return Err(ImportError::Unusable(format!(
            "{}: no events",
            path.display()
        )));
    }
    if reader.too_long {
        return Err(ImportError::Unusable(format!(
            "{}: its times span more than 6 hours; does it mix relative and absolute times?",
            path.display()
        )));
    }
    let mut call = reader.finish();
    call.name = call_name(path);
    call.files = vec![path.display().to_string()];
    Ok(call)
}

/// The event, its time (ms or seconds as the log has it, made ms) and its
/// direction, from a bare or wrapped line. None for a line that is neither;
/// Some(None, …) for one to skip (the caller side of a rehearse relay).
#[allow(clippy::type_complexity)]
fn unwrap(value: Value) -> Option<(Option<Value>, Option<f64>, Option<Direction>)> {
    let obj = value.as_object()?;
    if let Some(event) = obj.get("event").filter(|e| e.is_object()) {
        if obj.get("side").and_then(Value::as_str) == Some("customer") {
            return Some((None, None, None));
        }
        let t = obj
            .get("t_ms")
            .and_then(Value::as_f64)
            .or_else(|| obj.get("timestamp").and_then(timestamp_ms));
        let direction = match obj.get("direction").and_then(Value::as_str) {
            Some("sent" | "client" | "outgoing" | "send") => Some(Direction::Sent),
            Some("received" | "server" | "incoming" | "recv") => Some(Direction::Received),
            _ => None,
        };
        return Some((Some(event.clone()), t, direction));
    }
    obj.get("type")?;
    let t = obj.get("timestamp").and_then(timestamp_ms);
    Some((Some(value), t, None))
}

/// A timestamp as ms: RFC 3339, or epoch seconds (or ms when it is that large).
fn timestamp_ms(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().map(|x| if x > 1e11 { x } else { x * 1000.0 }),
        Value::String(s) => humantime::parse_rfc3339_weak(s)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64() * 1000.0),
        _ => None,
    }
}

fn format_of(v: Option<&Value>) -> Option<AudioFormat> {
    let v = v?;
    let name = v
        .as_str()
        .or_else(|| v.get("type").and_then(Value::as_str))?;
    match name {
        "pcm16" | "audio/pcm" => Some(AudioFormat::Pcm16),
        "g711_ulaw" | "audio/pcmu" => Some(AudioFormat::G711Ulaw),
        "g711_alaw" | "audio/pcma" => Some(AudioFormat::G711Alaw),
        _ => None,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl Reader {
    fn now(&mut self, t: Option<f64>) -> f64 {
        match t {
            Some(t) => {
                let zero = *self.zero.get_or_insert(t);
                let at = (t - zero).max(0.0);
                if at > MAX_CALL_MS {
                    self.too_long = true;
                }
                at.min(MAX_CALL_MS)
            }
            None => self.caller_cursor_ms,
        }
    }

    fn event(&mut self, mut event: Value, t: Option<f64>, direction: Option<Direction>) {
        self.call.secrets_dropped += drop_secrets(&mut event);
        let kind = str_of(&event, "type").to_string();
        let direction = direction.unwrap_or(if CLIENT_EVENTS.contains(&kind.as_str()) {
            Direction::Sent
        } else {
            Direction::Received
        });
        let now = self.now(t);
        match kind.as_str() {
            "session.created" | "session.updated" | "session.update" => self.session(&event),
            "input_audio_buffer.append" => self.caller_audio(&event, t.is_some(), now),
            "input_audio_buffer.speech_started" => {
                let at = self.speech_start(event.get("audio_start_ms"), now);
                self.caller_item(str_of(&event, "item_id")).start_ms = Some(at);
            }
            "input_audio_buffer.speech_stopped" => {
                let at = self.on_timeline(event.get("audio_end_ms"), now);
                self.caller_item(str_of(&event, "item_id")).end_ms = Some(at);
            }
            "conversation.item.input_audio_transcription.completed" => {
                self.transcribed = true;
                let text = str_of(&event, "transcript").trim().to_string();
                self.caller_item(str_of(&event, "item_id")).text = Some(text);
            }
            "conversation.item.create" => self.item_created(&event, now),
            "response.output_audio.delta" | "response.audio.delta" => self.agent_audio(&event, now),
            "response.output_audio_transcript.done"
            | "response.audio_transcript.done"
            | "response.output_text.done"
            | "response.text.done" => {
                let text = event
                    .get("transcript")
                    .or_else(|| event.get("text"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let item = self.agent_item(str_of(&event, "item_id"));
                item.start_ms.get_or_insert(now);
                item.text = text;
            }
            "conversation.item.truncate" => {
                let at = event.get("audio_end_ms").and_then(Value::as_f64);
                self.agent_item(str_of(&event, "item_id")).truncated_at_ms = at;
            }
            "response.function_call_arguments.done" => self.function_call(&event, now),
            "response.done" => self.response_done(&event, now),
            _ => {}
        }
        let record = redact_audio(&kind, &event);
        self.call.events.push(EventRecord {
            side: Speaker::Agent,
            record: TraceRecord {
                t_ms: now,
                direction,
                event_type: kind,
                event: record,
            },
        });
    }

    /// A buffer position (ms of caller audio written) on the call's
    /// timeline, through the chunk that held it; `now` without one.
    fn on_timeline(&self, position: Option<&Value>, now: f64) -> f64 {
        let Some(p) = position.and_then(Value::as_f64) else {
            return now;
        };
        match self.appended.iter().rev().find(|(buffer, _)| *buffer <= p) {
            Some((buffer, timeline)) => timeline + (p - buffer),
            None => p,
        }
    }

    /// Where speech began on the timeline. The server reports the position
    /// with its prefix padding taken off, which may reach back across a gap
    /// in the audio a client sent (no audio streamed between turns): the
    /// point it detected speech is mapped, and the padding taken off there,
    /// not before the stretch of audio it is in.
    fn speech_start(&self, position: Option<&Value>, now: f64) -> f64 {
        let Some(p) = position.and_then(Value::as_f64) else {
            return now;
        };
        let prefix = self
            .call
            .session
            .as_ref()
            .and_then(|s| s.turn_detection.as_ref())
            .and_then(|t| t.get("prefix_padding_ms"))
            .and_then(Value::as_f64)
            .unwrap_or(300.0);
        let detected = p + prefix;
        let Some(k) = self
            .appended
            .iter()
            .rposition(|(buffer, _)| *buffer <= detected)
        else {
            return p;
        };
        // The start of the unbroken stretch chunk k is in.
        let mut first = k;
        while first > 0 {
            let (b0, t0) = self.appended[first - 1];
            let (b1, t1) = self.appended[first];
            if (t1 - t0) - (b1 - b0) > 1.0 {
                break;
            }
            first -= 1;
        }
        let (buffer, timeline) = self.appended[k];
        (timeline + (detected - buffer) - prefix).max(self.appended[first].1)
    }

    fn session(&mut self, event: &Value) {
        let Some(s) = event.get("session") else {
            return;
        };
        let config = self.call.session.get_or_insert_with(SessionConfig::default);
        let audio = s.get("audio");
        let input = audio.and_then(|a| a.get("input"));
        let output = audio.and_then(|a| a.get("output"));
        if let Some(m) = s.get("model").and_then(Value::as_str) {
            config.model = Some(m.to_string());
        }
        if let Some(i) = s.get("instructions").and_then(Value::as_str) {
            config.instructions = Some(i.to_string());
        }
        if let Some(tools) = s.get("tools").and_then(Value::as_array) {
            config.tools = tools.clone();
        }
        let voice = output
            .and_then(|o| o.get("voice"))
            .or_else(|| s.get("voice"));
        if let Some(v) = voice.and_then(Value::as_str) {
            config.voice = Some(v.to_string());
        }
        let turns = input
            .and_then(|i| i.get("turn_detection"))
            .or_else(|| s.get("turn_detection"));
        if let Some(t) = turns {
            config.turn_detection = Some(t.clone());
        }
        let input_format = input
            .and_then(|i| i.get("format"))
            .or_else(|| s.get("input_audio_format"));
        if let Some(f) = format_of(input_format) {
            self.input_format = Some(f);
        }
        let output_format = output
            .and_then(|o| o.get("format"))
            .or_else(|| s.get("output_audio_format"));
        if let Some(f) = format_of(output_format) {
            self.output_format = Some(f);
        }
    }

    /// Decoded samples of a payload, or the ms it held when only its byte
    /// count was logged.
    fn payload(&mut self, v: Option<&Value>, format: AudioFormat) -> (Vec<i16>, f64) {
        match v {
            Some(Value::String(b64)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_default();
                self.audio_payloads |= !bytes.is_empty();
                let samples = format.decode_to_session_rate(&bytes);
                let ms = samples.len() as f64 / 24.0;
                (samples, ms)
            }
            Some(counted) => {
                let bytes = counted.get("bytes").and_then(Value::as_u64).unwrap_or(0);
                (Vec::new(), format.duration_ms(bytes as usize) as f64)
            }
            None => (Vec::new(), 0.0),
        }
    }

    fn caller_audio(&mut self, event: &Value, timed: bool, now: f64) {
        let format = self.input_format.unwrap_or(AudioFormat::Pcm16);
        let (samples, ms) = self.payload(event.get("audio"), format);
        // A timed chunk goes where it was sent, unless that overlaps the one before.
        let at = if timed {
            now.max(self.caller_cursor_ms)
        } else {
            self.caller_cursor_ms
        };
        place(&mut self.caller, at, &samples);
        self.appended.push((self.buffer_ms, at));
        self.buffer_ms += ms;
        self.caller_cursor_ms = at + ms;
    }

    fn agent_audio(&mut self, event: &Value, now: f64) {
        let format = self.output_format.unwrap_or(AudioFormat::Pcm16);
        let (samples, ms) = self.payload(event.get("delta"), format);
        let cursor = self.agent_cursor_ms;
        let item = self.agent_item(str_of(event, "item_id"));
        let start = *item.start_ms.get_or_insert(now.max(cursor));
        let at = start + item.samples / 24.0;
        item.samples += ms * 24.0;
        self.agent_cursor_ms = at + ms;
        place(&mut self.agent, at, &samples);
    }

    fn caller_item(&mut self, id: &str) -> &mut CallerItem {
        if !self.caller_items.contains_key(id) {
            self.caller_order.push(id.to_string());
        }
        self.caller_items.entry(id.to_string()).or_default()
    }

    fn agent_item(&mut self, id: &str) -> &mut AgentItem {
        if !self.agent_items.contains_key(id) {
            self.agent_order.push(id.to_string());
        }
        self.agent_items.entry(id.to_string()).or_default()
    }

    fn item_created(&mut self, event: &Value, now: f64) {
        let Some(item) = event.get("item") else {
            return;
        };
        match str_of(item, "type") {
            "function_call_output" => {
                let call_id = str_of(item, "call_id");
                let output = item.get("output").map(|o| match o {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                let record = self.call_record(call_id, now);
                record.is_error = output.as_deref().is_some_and(|o| o.contains("\"error\""));
                record.output = output;
                record.answered_ms = now;
                record.latency_ms = (now - record.called_ms).max(0.0);
            }
            "message" if str_of(item, "role") == "user" => {
                let text: Vec<&str> = item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|part| {
                        part.get("text")
                            .or_else(|| part.get("transcript"))
                            .and_then(Value::as_str)
                    })
                    .collect();
                if !text.is_empty() {
                    let id = item
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("text-{}", self.caller_order.len()));
                    let turn = self.caller_item(&id);
                    turn.start_ms = Some(now);
                    turn.end_ms = Some(now);
                    turn.text = Some(text.join(" "));
                }
            }
            _ => {}
        }
    }

    /// The call `call_id`, begun at `now` when first seen (its output may
    /// be logged before its arguments).
    fn call_record(&mut self, call_id: &str, now: f64) -> &mut ToolCallRecord {
        self.calls
            .entry(call_id.to_string())
            .or_insert_with(|| ToolCallRecord {
                call_id: call_id.to_string(),
                name: String::new(),
                arguments: String::new(),
                output: None,
                is_error: false,
                timed_out: false,
                called_ms: now,
                answered_ms: now,
                latency_ms: 0.0,
            })
    }

    fn function_call(&mut self, event: &Value, now: f64) {
        let record = self.call_record(str_of(event, "call_id"), now);
        record.name = str_of(event, "name").to_string();
        record.arguments = str_of(event, "arguments").to_string();
        record.called_ms = now;
    }

    fn response_done(&mut self, event: &Value, now: f64) {
        let Some(response) = event.get("response") else {
            return;
        };
        if let Some(usage) = response
            .get("usage")
            .filter(|u| !u.is_null())
            .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok())
        {
            self.call.usage.add(&usage);
        }
        // Calls whose argument events were not logged.
        for item in response
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if str_of(item, "type") == "function_call"
                && !self.calls.contains_key(str_of(item, "call_id"))
            {
                self.function_call(item, now);
            }
        }
    }

    fn finish(mut self) -> ImportedCall {
        let mut call = std::mem::take(&mut self.call);
        for id in &self.caller_order {
            let item = &self.caller_items[id];
            let (Some(start), end) = (item.start_ms, item.end_ms) else {
                continue;
            };
            let mut u = Utterance::turn(
                Speaker::Customer,
                item.text.clone().unwrap_or_default(),
                start,
                end.unwrap_or(start),
            );
            u.item_id = Some(id.clone());
            call.transcript.push(u);
        }
        for id in &self.agent_order {
            let item = &self.agent_items[id];
            let Some(start) = item.start_ms else { continue };
            let full_ms = item.samples / 24.0;
            let mut u = Utterance::turn(Speaker::Agent, item.text.clone(), start, start + full_ms);
            u.item_id = Some(id.clone());
            if let Some(at) = item.truncated_at_ms.filter(|at| *at < full_ms) {
                u.end_ms = start + at;
                u.interrupted = true;
                u.full_text = Some(item.text.clone());
                u.text = heard_part(&item.text, at / full_ms.max(1.0));
            }
            call.transcript.push(u);
        }
        call.tools = self
            .calls
            .into_values()
            .filter(|c| !c.name.is_empty())
            .collect();
        if self.audio_payloads {
            call.caller_audio = (!self.caller.is_empty()).then_some(self.caller);
            call.agent_audio = (!self.agent.is_empty()).then_some(self.agent);
        } else {
            call.notes
                .push("the log has no audio payloads: no tracks, so no tone measures".into());
        }
        call.words_from = if self.transcribed {
            "transcription events in the log".into()
        } else {
            "the agent's transcript events (the caller's words are not in the log)".into()
        };
        call.source = Some(ImportSource::EventLog);
        call.sort();
        call
    }
}

/// The words of `text` heard before a cut at `share` of its audio.
fn heard_part(text: &str, share: f64) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let keep = (words.len() as f64 * share.clamp(0.0, 1.0)).round() as usize;
    words[..keep.min(words.len())].join(" ")
}

/// Writes `samples` into `track` at `at_ms`, growing it with silence.
fn place(track: &mut Vec<i16>, at_ms: f64, samples: &[i16]) {
    if samples.is_empty() || at_ms > MAX_CALL_MS {
        return;
    }
    let start = (at_ms.max(0.0) * 24.0).round() as usize;
    if track.len() < start + samples.len() {
        track.resize(start + samples.len(), 0);
    }
    for (slot, s) in track[start..].iter_mut().zip(samples) {
        *slot = slot.saturating_add(*s);
    }
}

/// A small event log of one exchange, for tests here and in `import`.
#[cfg(test)]
pub fn sample_log(audio: bool) -> String {
    use serde_json::json;
    let b64 = |samples: usize| {
        let bytes: Vec<u8> = (0..samples)
            .flat_map(|i| (((i as f64 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let payload = |n: usize| {
        if audio {
            json!(b64(n))
        } else {
            json!({"bytes": n * 2})
        }
    };
    let lines = vec![
        json!({"type": "session.created", "session": {"model": "gpt-realtime", "client_secret": {"value": "ek_live_123"},
            "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}}}}),
        json!({"type": "session.update", "session": {"instructions": "Be brief.",
            "tools": [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}]}}),
        json!({"type": "input_audio_buffer.append", "audio": payload(24_000)}),
        json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": "item_c1"}),
        json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_c1"}),
        json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_c1", "transcript": "My order is N W 1 2 3."}),
        json!({"type": "response.function_call_arguments.done", "call_id": "call_1", "name": "lookup_order", "arguments": "{\"order_id\":\"NW123\"}"}),
        json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_1", "output": "{\"item\":\"blue mug\"}"}}),
        json!({"type": "response.output_audio.delta", "item_id": "item_a1", "delta": payload(12_000)}),
        json!({"type": "response.output_audio_transcript.done", "item_id": "item_a1", "transcript": "Found your blue mug."}),
        json!({"type": "response.done", "response": {"usage": {"total_tokens": 30, "input_tokens": 20, "output_tokens": 10,
            "input_token_details": {"text_tokens": 10, "audio_tokens": 10, "cached_tokens": 0},
            "output_token_details": {"text_tokens": 5, "audio_tokens": 5}}}}),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> Result<ImportedCall, ImportError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call-7.jsonl");
        std::fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn a_log_gives_both_sides_tools_session_and_audio() {
        let call = read_str(&sample_log(true)).unwrap();
        assert_eq!(call.name, "call-7");
        let caller: Vec<&Utterance> = call.said_by(Speaker::Customer).collect();
        assert_eq!(caller.len(), 1);
        assert_eq!(caller[0].text, "My order is N W 1 2 3.");
        assert_eq!((caller[0].start_ms, caller[0].end_ms), (100.0, 900.0));
        let agent: Vec<&Utterance> = call.said_by(Speaker::Agent).collect();
        assert_eq!(agent[0].text, "Found your blue mug.");
        // Untimed: the agent speaks after the second of caller audio streamed.
        assert_eq!(agent[0].start_ms, 1000.0);
        assert_eq!(agent[0].end_ms, 1500.0);
        assert_eq!(call.tools.len(), 1);
        assert_eq!(
            call.tools[0].output.as_deref(),
            Some("{\"item\":\"blue mug\"}")
        );
        let session = call.session.as_ref().unwrap();
        assert_eq!(session.voice.as_deref(), Some("marin"));
        assert_eq!(session.instructions.as_deref(), Some("Be brief."));
        assert_eq!(session.tools.len(), 1);
        assert_eq!(call.caller_audio.as_ref().unwrap().len(), 24_000);
        assert_eq!(call.agent_audio.as_ref().unwrap().len(), 24_000 + 12_000);
        assert_eq!(
            (call.usage.responses, call.usage.output_audio_tokens),
            (1, 5)
        );
        assert_eq!(call.secrets_dropped, 1);
        let events = serde_json::to_string(&call.events).unwrap();
        assert!(!events.contains("ek_live_123"), "a secret was copied");
        assert!(
            events.contains("\"bytes\":48000"),
            "audio is kept as byte counts"
        );
    }

    #[test]
    fn a_log_without_payloads_still_gives_timing_and_no_tracks() {
        let call = read_str(&sample_log(false)).unwrap();
        assert!(call.caller_audio.is_none() && call.agent_audio.is_none());
        let agent: Vec<&Utterance> = call.said_by(Speaker::Agent).collect();
        assert_eq!((agent[0].start_ms, agent[0].end_ms), (1000.0, 1500.0));
    }

    #[test]
    fn a_log_mixing_clocks_is_refused_not_allocated() {
        let log = "{\"t_ms\": 5, \"event\": {\"type\": \"session.created\"}}\n\
                   {\"timestamp\": 1796212081, \"event\": {\"type\": \"response.done\"}}\n";
        let err = read_str(log).unwrap_err().to_string();
        assert!(err.contains("6 hours"), "{err}");
    }

    #[test]
    fn a_broken_line_is_located() {
        let err = read_str("{\"type\": \"session.created\"}\nnot json\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("call-7.jsonl:2:"), "{text}");
    }
}
