//! Every client and server event of the Realtime API, typed.
//!
//! Names are the GA ones; beta names are accepted on input as serde aliases and
//! produced on output by [`super::dialect::to_dialect`]. Fields we do not model
//! land in each event's `extra` map, and unknown server event types parse to
//! [`ServerEvent::Unknown`], so nothing a provider sends crashes the client and
//! the raw JSON is always kept in the trace.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ProtocolError;
use super::item::{Extra, Item, ResponsePart};
use super::session::{SessionPatch, ToolDef};

/// A client event with its optional `event_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(flatten)]
    pub event: ClientEvent,
}

impl From<ClientEvent> for ClientMessage {
    fn from(event: ClientEvent) -> Self {
        ClientMessage {
            event_id: None,
            event,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    #[serde(rename = "session.update")]
    SessionUpdate {
        session: Box<SessionPatch>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.append")]
    InputAudioBufferAppend {
        audio: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.commit")]
    InputAudioBufferCommit {
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.clear")]
    InputAudioBufferClear {
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.create")]
    ConversationItemCreate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_item_id: Option<String>,
        item: Box<Item>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.retrieve")]
    ConversationItemRetrieve {
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.truncate")]
    ConversationItemTruncate {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        audio_end_ms: u64,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.delete")]
    ConversationItemDelete {
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.create")]
    ResponseCreate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<Box<ResponseParams>>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.cancel")]
    ResponseCancel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "output_audio_buffer.clear")]
    OutputAudioBufferClear {
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "session.close")]
    SessionClose {
        #[serde(flatten)]
        extra: Extra,
    },
}

/// Client event types the GA WebSocket accepts, in the order its own error
/// message lists them.
pub const CLIENT_EVENT_TYPES: &[&str] = &[
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
    "session.close",
];

impl ClientEvent {
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientEvent::SessionUpdate { .. } => "session.update",
            ClientEvent::InputAudioBufferAppend { .. } => "input_audio_buffer.append",
            ClientEvent::InputAudioBufferCommit { .. } => "input_audio_buffer.commit",
            ClientEvent::InputAudioBufferClear { .. } => "input_audio_buffer.clear",
            ClientEvent::ConversationItemCreate { .. } => "conversation.item.create",
            ClientEvent::ConversationItemRetrieve { .. } => "conversation.item.retrieve",
            ClientEvent::ConversationItemTruncate { .. } => "conversation.item.truncate",
            ClientEvent::ConversationItemDelete { .. } => "conversation.item.delete",
            ClientEvent::ResponseCreate { .. } => "response.create",
            ClientEvent::ResponseCancel { .. } => "response.cancel",
            ClientEvent::OutputAudioBufferClear { .. } => "output_audio_buffer.clear",
            ClientEvent::SessionClose { .. } => "session.close",
        }
    }

    /// Fields the peer sent that this event does not define, as dotted paths.
    pub fn unknown_fields(&self) -> Vec<String> {
        let (extra, mut nested) = match self {
            ClientEvent::SessionUpdate { session, extra } => (extra, session.unknown_fields()),
            ClientEvent::ConversationItemCreate { item, extra, .. } => {
                (extra, item.unknown_fields("item"))
            }
            ClientEvent::ResponseCreate { response, extra } => (
                extra,
                response
                    .as_ref()
                    .map(|r| r.extra.keys().map(|k| format!("response.{k}")).collect())
                    .unwrap_or_default(),
            ),
            ClientEvent::InputAudioBufferAppend { extra, .. }
            | ClientEvent::InputAudioBufferCommit { extra }
            | ClientEvent::InputAudioBufferClear { extra }
            | ClientEvent::ConversationItemRetrieve { extra, .. }
            | ClientEvent::ConversationItemTruncate { extra, .. }
            | ClientEvent::ConversationItemDelete { extra, .. }
            | ClientEvent::ResponseCancel { extra, .. }
            | ClientEvent::OutputAudioBufferClear { extra }
            | ClientEvent::SessionClose { extra } => (extra, Vec::new()),
        };
        let mut out: Vec<String> = extra.keys().cloned().collect();
        out.append(&mut nested);
        out
    }
}

/// `response.create`'s `response` object. Applies to that response only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseParams {
    /// `"auto"` (default) or `"none"` for an out-of-band response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_output_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Vec<Item>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_audio_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A server event with its `event_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMessage {
    #[serde(default)]
    pub event_id: String,
    #[serde(flatten)]
    pub event: ServerEvent,
}

/// `response_id, item_id, output_index, content_index`: where a delta belongs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartRef {
    pub response_id: String,
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub input_token_details: InputTokenDetails,
    #[serde(default)]
    pub output_token_details: OutputTokenDetails,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputTokenDetails {
    #[serde(default)]
    pub text_tokens: u64,
    #[serde(default)]
    pub audio_tokens: u64,
    #[serde(default)]
    pub image_tokens: u64,
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default)]
    pub cached_tokens_details: CachedTokenDetails,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedTokenDetails {
    #[serde(default)]
    pub text_tokens: u64,
    #[serde(default)]
    pub audio_tokens: u64,
    #[serde(default)]
    pub image_tokens: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputTokenDetails {
    #[serde(default)]
    pub text_tokens: u64,
    #[serde(default)]
    pub audio_tokens: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    InProgress,
    Completed,
    Cancelled,
    Failed,
    Incomplete,
}

/// The `response` object of `response.created` / `response.done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    #[serde(default = "response_object")]
    pub object: String,
    pub id: String,
    pub status: ResponseStatus,
    #[serde(default)]
    pub status_details: Option<Value>,
    #[serde(default)]
    pub output: Vec<Item>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn response_object() -> String {
    "realtime.response".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub name: String,
    pub limit: u64,
    pub remaining: u64,
    pub reset_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    #[serde(rename = "error")]
    Error {
        error: ProtocolError,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "session.created")]
    SessionCreated {
        session: Box<SessionPatch>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "session.updated")]
    SessionUpdated {
        session: Box<SessionPatch>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.created")]
    ConversationCreated {
        conversation: Value,
        #[serde(flatten)]
        extra: Extra,
    },
    /// Beta calls this `conversation.item.created` and has no `.done`.
    #[serde(
        rename = "conversation.item.added",
        alias = "conversation.item.created"
    )]
    ConversationItemAdded {
        #[serde(default)]
        previous_item_id: Option<String>,
        item: Box<Item>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.done")]
    ConversationItemDone {
        #[serde(default)]
        previous_item_id: Option<String>,
        item: Box<Item>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.retrieved")]
    ConversationItemRetrieved {
        item: Box<Item>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.deleted")]
    ConversationItemDeleted {
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.truncated")]
    ConversationItemTruncated {
        item_id: String,
        content_index: u32,
        audio_end_ms: u64,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    InputAudioTranscriptionDelta {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        delta: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputAudioTranscriptionCompleted {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        transcript: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputAudioTranscriptionFailed {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        error: ProtocolError,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.segment")]
    InputAudioTranscriptionSegment {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        id: String,
        text: String,
        #[serde(default)]
        speaker: Option<String>,
        start: f64,
        end: f64,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.committed")]
    InputAudioBufferCommitted {
        #[serde(default)]
        previous_item_id: Option<String>,
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.cleared")]
    InputAudioBufferCleared {
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.speech_started")]
    InputAudioBufferSpeechStarted {
        audio_start_ms: u64,
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    InputAudioBufferSpeechStopped {
        audio_end_ms: u64,
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "input_audio_buffer.timeout_triggered")]
    InputAudioBufferTimeoutTriggered {
        audio_start_ms: u64,
        audio_end_ms: u64,
        item_id: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.created")]
    ResponseCreated {
        response: Box<ResponseObject>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.done")]
    ResponseDone {
        response: Box<ResponseObject>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.output_item.added")]
    ResponseOutputItemAdded {
        response_id: String,
        output_index: u32,
        item: Box<Item>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.output_item.done")]
    ResponseOutputItemDone {
        response_id: String,
        output_index: u32,
        item: Box<Item>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.content_part.added")]
    ResponseContentPartAdded {
        #[serde(flatten)]
        at: PartRef,
        part: ResponsePart,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.content_part.done")]
    ResponseContentPartDone {
        #[serde(flatten)]
        at: PartRef,
        part: ResponsePart,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.output_audio.delta", alias = "response.audio.delta")]
    ResponseOutputAudioDelta {
        #[serde(flatten)]
        at: PartRef,
        delta: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.output_audio.done", alias = "response.audio.done")]
    ResponseOutputAudioDone {
        #[serde(flatten)]
        at: PartRef,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(
        rename = "response.output_audio_transcript.delta",
        alias = "response.audio_transcript.delta"
    )]
    ResponseOutputAudioTranscriptDelta {
        #[serde(flatten)]
        at: PartRef,
        delta: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(
        rename = "response.output_audio_transcript.done",
        alias = "response.audio_transcript.done"
    )]
    ResponseOutputAudioTranscriptDone {
        #[serde(flatten)]
        at: PartRef,
        transcript: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.output_text.delta", alias = "response.text.delta")]
    ResponseOutputTextDelta {
        #[serde(flatten)]
        at: PartRef,
        delta: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.output_text.done", alias = "response.text.done")]
    ResponseOutputTextDone {
        #[serde(flatten)]
        at: PartRef,
        text: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ResponseFunctionCallArgumentsDelta {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        call_id: String,
        delta: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ResponseFunctionCallArgumentsDone {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        call_id: String,
        #[serde(default)]
        name: Option<String>,
        arguments: String,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "rate_limits.updated")]
    RateLimitsUpdated {
        rate_limits: Vec<RateLimit>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "output_audio_buffer.started")]
    OutputAudioBufferStarted {
        #[serde(default)]
        response_id: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "output_audio_buffer.stopped")]
    OutputAudioBufferStopped {
        #[serde(default)]
        response_id: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "output_audio_buffer.cleared")]
    OutputAudioBufferCleared {
        #[serde(default)]
        response_id: Option<String>,
        #[serde(flatten)]
        extra: Extra,
    },
    /// A type this build does not know. The raw JSON stays with the received
    /// frame (see [`super::parse_server`]).
    #[serde(other)]
    Unknown,
}

impl ServerEvent {
    /// A [`ServerEvent::Error`] carrying `error`.
    pub fn error(error: ProtocolError) -> Self {
        ServerEvent::Error {
            error,
            extra: Extra::new(),
        }
    }
}
