//! The OpenAI Realtime protocol: typed events, session config, items, errors,
//! and the GA/beta dialect mapping. Shared by the client and the emulator.

pub mod dialect;
pub mod error;
pub mod events;
pub mod item;
pub mod scripted_line;
pub mod session;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use dialect::Dialect;
pub use error::ProtocolError;
pub use events::{
    CLIENT_EVENT_TYPES, ClientEvent, ClientMessage, PartRef, ResponseObject, ResponseParams,
    ResponseStatus, ServerEvent, ServerMessage, Usage,
};
pub use item::{ContentPart, Item, ResponsePart, Role};
pub use session::{
    Eagerness, Modality, SessionConfig, SessionPatch, ToolDef, TurnDetection, TurnDetectionKind,
};

/// Parses a client frame the way the real service validates it, so every
/// problem becomes the `error` event a real client would see.
pub fn parse_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| ProtocolError::invalid_json(&e.to_string()))?;
    let Some(obj) = value.as_object_mut() else {
        return Err(ProtocolError::new(
            "invalid_event",
            "The event must be a JSON object.",
            None,
        ));
    };
    let event_id = match obj.get("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 512 => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(ProtocolError::new(
                "string_above_max_length",
                "Invalid 'event_id': string too long. Expected a string with maximum length 512.",
                Some("event_id"),
            ));
        }
        Some(_) => {
            return Err(ProtocolError::invalid_type(
                "event_id",
                "expected a string.",
            ));
        }
    };
    let kind = match obj.get("type") {
        None => {
            return Err(
                ProtocolError::new("invalid_event", "The 'type' field is missing.", None)
                    .with_event_id(event_id),
            );
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(
                ProtocolError::invalid_type("type", "expected a string.").with_event_id(event_id)
            );
        }
    };
    if !CLIENT_EVENT_TYPES.contains(&kind.as_str()) {
        let supported = CLIENT_EVENT_TYPES
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ProtocolError::invalid_value("type", &kind, &supported).with_event_id(event_id));
    }
    let original = value.clone();
    let message: ClientMessage = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some(field) = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            let full = if path == "." || path.is_empty() {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            ProtocolError::missing_required(&full).with_event_id(event_id.clone())
        } else {
            // Internally tagged events lose serde's path; find the offending
            // value in the frame instead, when it is unambiguous.
            let param = if path == "." || path.is_empty() {
                locate_value(&original, &inner).unwrap_or_default()
            } else {
                path
            };
            ProtocolError::invalid_type(&param, &inner).with_event_id(event_id.clone())
        }
    })?;
    if let Some(path) = message.event.unknown_fields().into_iter().next() {
        return Err(ProtocolError::unknown_parameter(&path).with_event_id(event_id));
    }
    Ok(message)
}

/// The dotted path of the one leaf in `frame` that serde's "invalid type"
/// message describes (e.g. ``invalid type: integer `42`, expected a string``).
fn locate_value(frame: &Value, message: &str) -> Option<String> {
    let found = message
        .strip_prefix("invalid type: ")?
        .split(", expected")
        .next()?;
    let literal = match found.strip_prefix("string \"") {
        Some(rest) => rest.strip_suffix('"'),
        None => found.split('`').nth(1),
    };
    let mut hits = Vec::new();
    walk_leaves(frame, String::new(), &mut |path, v| {
        let matches = match (v, literal) {
            (Value::Number(n), Some(l)) => {
                n.to_string() == l || n.as_f64().map(|f| f.to_string()) == Some(l.to_string())
            }
            (Value::String(s), Some(l)) => found.starts_with("string") && s == l,
            (Value::Bool(b), Some(l)) => b.to_string() == l,
            (Value::Array(_), None) => found == "sequence",
            (Value::Object(_), None) => found == "map",
            (Value::Null, None) => found == "null",
            _ => false,
        };
        if matches {
            hits.push(path.to_string());
        }
    });
    (hits.len() == 1).then(|| hits.remove(0))
}

fn walk_leaves(v: &Value, path: String, f: &mut dyn FnMut(&str, &Value)) {
    if !path.is_empty() {
        f(&path, v);
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk_leaves(child, p, f);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_leaves(child, format!("{path}[{i}]"), f);
            }
        }
        _ => {}
    }
}

/// A server frame as the client received it: the typed event and the raw JSON,
/// which the trace keeps whole (unknown types and fields included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedEvent {
    pub event_type: String,
    pub event: ServerEvent,
    pub raw: Value,
}

/// Parses a server frame leniently: unknown types and fields are kept, and
/// only text that is not a JSON object with a string `type` is an error.
pub fn parse_server(text: &str) -> Result<ReceivedEvent, serde_json::Error> {
    let raw: Value = serde_json::from_str(text)?;
    let event_type = raw
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // Deserialize from a borrow: the raw value is kept, and cloning it (audio
    // deltas included) for every event would be wasted.
    let event = match ServerMessage::deserialize(&raw) {
        Ok(m) => m.event,
        // A known type with a malformed body is still carried, as Unknown,
        // rather than dropping the frame or the connection.
        Err(e) => {
            tracing::warn!(event_type, error = %e, "server event did not match its schema");
            ServerEvent::Unknown
        }
    };
    Ok(ReceivedEvent {
        event_type,
        event,
        raw,
    })
}

#[cfg(test)]
mod tests;
