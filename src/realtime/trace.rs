//! Protocol events as they are traced into `events.jsonl`: audio payloads
//! replaced by their byte counts, so traces stay small and carry no
//! recordings twice.

use serde_json::{Value, json};

pub use crate::run_folder::{Direction, TraceRecord};

const AUDIO_FIELDS: &[&str] = &["audio", "delta"];

/// A copy of `event` with base64 audio replaced by `{"bytes": N}` (`delta`
/// only on audio events). Built from a borrow, field by field, so the audio
/// itself (this runs on every chunk) is never copied.
pub fn redact_audio(event_type: &str, event: &Value) -> Value {
    let Some(obj) = event.as_object() else {
        return event.clone();
    };
    let is_audio_delta = event_type.ends_with("audio.delta");
    obj.iter()
        .map(|(key, value)| {
            let audio = AUDIO_FIELDS.contains(&key.as_str()) && (key != "delta" || is_audio_delta);
            let kept = match value {
                Value::String(b64) if audio => json!({"bytes": decoded_len(b64)}),
                _ if key == "item" => {
                    let mut item = value.clone();
                    redact_item_audio(&mut item);
                    item
                }
                _ => value.clone(),
            };
            (key.clone(), kept)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Bytes a base64 string decodes to, from its length alone (this runs on
/// every audio chunk; decoding just to count would double the work).
fn decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding)
}

fn redact_item_audio(item: &mut Value) {
    if let Some(Value::Array(parts)) = item.get_mut("content") {
        for part in parts {
            if let Some(Value::String(b64)) = part.get("audio") {
                let bytes = decoded_len(b64);
                part["audio"] = json!({"bytes": bytes});
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_becomes_a_byte_count_and_text_deltas_stay() {
        let e = redact_audio(
            "response.output_audio.delta",
            &json!({"type": "x", "delta": "AAAA"}),
        );
        assert_eq!(e["delta"], json!({"bytes": 3}));
        let t = redact_audio("response.output_text.delta", &json!({"delta": "hello"}));
        assert_eq!(t["delta"], "hello");
        let i = redact_audio(
            "conversation.item.create",
            &json!({"item": {"content": [{"type": "input_audio", "audio": "AAAAAAAA", "transcript": "hi"}]}}),
        );
        assert_eq!(i["item"]["content"][0]["audio"], json!({"bytes": 6}));
        assert_eq!(i["item"]["content"][0]["transcript"], "hi");
    }
}
