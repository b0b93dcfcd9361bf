//! GA vs beta wire names. Types are modelled once with GA names; this module
//! rewrites a serialized event into the beta shape where the peer needs it.

use serde_json::Value;

use super::events::{ClientMessage, ServerEvent, ServerMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// The generally available interface (the only live one at OpenAI).
    #[default]
    Ga,
    /// `OpenAI-Beta: realtime=v1`: Azure preview endpoints and older clients.
    Beta,
}

const BETA_EVENT_NAMES: &[(&str, &str)] = &[
    ("response.output_audio.delta", "response.audio.delta"),
    ("response.output_audio.done", "response.audio.done"),
    (
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
    ),
    (
        "response.output_audio_transcript.done",
        "response.audio_transcript.done",
    ),
    ("response.output_text.delta", "response.text.delta"),
    ("response.output_text.done", "response.text.done"),
    ("conversation.item.added", "conversation.item.created"),
];

/// The beta name of a GA event type (identity for shared names).
pub fn beta_event_name(ga: &str) -> &str {
    BETA_EVENT_NAMES
        .iter()
        .find(|(g, _)| *g == ga)
        .map(|(_, b)| *b)
        .unwrap_or(ga)
}

/// The GA name of an event type given in either dialect.
pub fn ga_event_name(name: &str) -> &str {
    BETA_EVENT_NAMES
        .iter()
        .find(|(_, b)| *b == name)
        .map(|(g, _)| *g)
        .unwrap_or(name)
}

impl Dialect {
    /// Whether this dialect has the event at all (beta has no
    /// `conversation.item.done`).
    pub fn carries(self, event: &ServerEvent) -> bool {
        !(self == Dialect::Beta && matches!(event, ServerEvent::ConversationItemDone { .. }))
    }

    pub fn encode_server(self, message: &ServerMessage) -> String {
        let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
        if self == Dialect::Beta {
            to_beta(&mut value);
        }
        value.to_string()
    }

    pub fn encode_client(self, message: &ClientMessage) -> String {
        self.client_value(message).to_string()
    }

    /// A client event as JSON in this dialect (for callers that also trace it).
    pub fn client_value(self, message: &ClientMessage) -> Value {
        let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
        if self == Dialect::Beta {
            to_beta(&mut value);
        }
        value
    }
}

/// Rewrites a GA-shaped event in place into its beta shape.
fn to_beta(value: &mut Value) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    if let Some(Value::String(t)) = obj.get_mut("type") {
        *t = beta_event_name(t).to_string();
    }
    if let Some(item) = obj.get_mut("item") {
        item_to_beta(item);
    }
    if let Some(response) = obj.get_mut("response").and_then(Value::as_object_mut) {
        if let Some(m) = response.remove("output_modalities") {
            response.insert("modalities".into(), m);
        }
        if let Some(Value::Array(items)) = response.get_mut("output") {
            items.iter_mut().for_each(item_to_beta);
        }
        if let Some(Value::Array(items)) = response.get_mut("input") {
            items.iter_mut().for_each(item_to_beta);
        }
    }
}

fn item_to_beta(item: &mut Value) {
    if let Some(Value::Array(parts)) = item.get_mut("content") {
        for part in parts {
            if let Some(Value::String(t)) = part.get_mut("type") {
                match t.as_str() {
                    "output_audio" => *t = "audio".into(),
                    "output_text" => *t = "text".into(),
                    _ => {}
                }
            }
        }
    }
}
