//! Round trips over real-shaped JSON for every event, both dialects.

use serde_json::{Value, json};

use super::*;

fn server_samples() -> Vec<Value> {
    let ids = json!({"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0});
    let with = |mut base: Value, extra: Value| {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    let usage = json!({"total_tokens": 30, "input_tokens": 20, "output_tokens": 10,
        "input_token_details": {"text_tokens": 12, "audio_tokens": 8, "image_tokens": 0, "cached_tokens": 4,
            "cached_tokens_details": {"text_tokens": 4, "audio_tokens": 0, "image_tokens": 0}},
        "output_token_details": {"text_tokens": 2, "audio_tokens": 8}});
    let response = json!({"object": "realtime.response", "id": "resp_1", "status": "completed", "status_details": null,
        "output": [{"type": "message", "id": "item_1", "object": "realtime.item", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_audio", "transcript": "Hello."}]}],
        "conversation_id": "conv_1", "output_modalities": ["audio"], "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
        "usage": usage, "metadata": null});
    vec![
        json!({"type": "error", "event_id": "event_1", "error": {"type": "invalid_request_error", "code": "invalid_value",
            "message": "Invalid value: 'x'.", "param": "type", "event_id": "c1"}}),
        json!({"type": "session.created", "event_id": "event_2", "session": {"type": "realtime", "object": "realtime.session",
            "id": "sess_1", "model": "gpt-realtime", "output_modalities": ["audio"], "instructions": "Be brief.",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": null, "noise_reduction": null,
                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200,
                    "create_response": true, "interrupt_response": true, "idle_timeout_ms": null}},
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0}},
            "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": null, "prompt": null, "include": null,
            "expires_at": 1760000000}}),
        json!({"type": "session.updated", "event_id": "event_3", "session": {"modalities": ["text", "audio"], "voice": "alloy",
            "input_audio_format": "pcm16", "output_audio_format": "g711_ulaw", "turn_detection": null, "temperature": 0.8}}),
        json!({"type": "conversation.created", "event_id": "event_4", "conversation": {"id": "conv_1", "object": "realtime.conversation"}}),
        json!({"type": "conversation.item.added", "event_id": "event_5", "previous_item_id": null,
            "item": {"type": "message", "id": "item_2", "object": "realtime.item", "status": "completed", "role": "user",
                     "content": [{"type": "input_audio", "transcript": null}]}}),
        json!({"type": "conversation.item.done", "event_id": "event_6", "previous_item_id": "item_2",
            "item": {"type": "function_call", "id": "item_3", "object": "realtime.item", "status": "completed",
                     "call_id": "call_1", "name": "lookup_order", "arguments": "{\"order_id\":\"NW10422\"}"}}),
        json!({"type": "conversation.item.retrieved", "event_id": "event_7",
            "item": {"type": "function_call_output", "id": "item_4", "call_id": "call_1", "output": "{}"}}),
        json!({"type": "conversation.item.deleted", "event_id": "event_8", "item_id": "item_4"}),
        json!({"type": "conversation.item.truncated", "event_id": "event_9", "item_id": "item_1", "content_index": 0, "audio_end_ms": 1500}),
        json!({"type": "conversation.item.input_audio_transcription.delta", "event_id": "event_10", "item_id": "item_2", "content_index": 0, "delta": "Hel"}),
        json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": "event_11", "item_id": "item_2", "content_index": 0,
            "transcript": "Hello.", "usage": {"type": "duration", "seconds": 1.2}}),
        json!({"type": "conversation.item.input_audio_transcription.failed", "event_id": "event_12", "item_id": "item_2", "content_index": 0,
            "error": {"type": "transcription_error", "code": "audio_unintelligible", "message": "x", "param": null, "event_id": null}}),
        json!({"type": "conversation.item.input_audio_transcription.segment", "event_id": "event_13", "item_id": "item_2", "content_index": 0,
            "id": "seg_1", "text": "Hello.", "speaker": "A", "start": 0.0, "end": 1.2}),
        json!({"type": "input_audio_buffer.committed", "event_id": "event_14", "previous_item_id": null, "item_id": "item_2"}),
        json!({"type": "input_audio_buffer.cleared", "event_id": "event_15"}),
        json!({"type": "input_audio_buffer.speech_started", "event_id": "event_16", "audio_start_ms": 120, "item_id": "item_2"}),
        json!({"type": "input_audio_buffer.speech_stopped", "event_id": "event_17", "audio_end_ms": 1900, "item_id": "item_2"}),
        json!({"type": "input_audio_buffer.timeout_triggered", "event_id": "event_18", "audio_start_ms": 0, "audio_end_ms": 5000, "item_id": "item_5"}),
        json!({"type": "response.created", "event_id": "event_19", "response": with(response.clone(), json!({"status": "in_progress", "output": [], "usage": null}))}),
        json!({"type": "response.done", "event_id": "event_20", "response": response}),
        json!({"type": "response.output_item.added", "event_id": "event_21", "response_id": "resp_1", "output_index": 0,
            "item": {"type": "message", "id": "item_1", "object": "realtime.item", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.output_item.done", "event_id": "event_22", "response_id": "resp_1", "output_index": 0,
            "item": {"type": "message", "id": "item_1", "object": "realtime.item", "status": "completed", "role": "assistant",
                     "content": [{"type": "output_text", "text": "Hi."}]}}),
        with(
            ids.clone(),
            json!({"type": "response.content_part.added", "event_id": "event_23", "part": {"type": "audio", "transcript": ""}}),
        ),
        with(
            ids.clone(),
            json!({"type": "response.content_part.done", "event_id": "event_24", "part": {"type": "text", "text": "Hi."}}),
        ),
        with(
            ids.clone(),
            json!({"type": "response.output_audio.delta", "event_id": "event_25", "delta": "AAAA", "obfuscation": "xyz"}),
        ),
        with(
            ids.clone(),
            json!({"type": "response.output_audio.done", "event_id": "event_26"}),
        ),
        with(
            ids.clone(),
            json!({"type": "response.output_audio_transcript.delta", "event_id": "event_27", "delta": "Hel"}),
        ),
        with(
            ids.clone(),
            json!({"type": "response.output_audio_transcript.done", "event_id": "event_28", "transcript": "Hello."}),
        ),
        with(
            ids.clone(),
            json!({"type": "response.output_text.delta", "event_id": "event_29", "delta": "Hi"}),
        ),
        with(
            ids,
            json!({"type": "response.output_text.done", "event_id": "event_30", "text": "Hi."}),
        ),
        json!({"type": "response.function_call_arguments.delta", "event_id": "event_31", "response_id": "resp_1", "item_id": "item_3",
            "output_index": 0, "call_id": "call_1", "delta": "{\"order"}),
        json!({"type": "response.function_call_arguments.done", "event_id": "event_32", "response_id": "resp_1", "item_id": "item_3",
            "output_index": 0, "call_id": "call_1", "name": "lookup_order", "arguments": "{\"order_id\":\"NW10422\"}"}),
        json!({"type": "rate_limits.updated", "event_id": "event_33", "rate_limits": [{"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5}]}),
        json!({"type": "output_audio_buffer.started", "event_id": "event_34", "response_id": "resp_1"}),
        json!({"type": "output_audio_buffer.stopped", "event_id": "event_35", "response_id": "resp_1"}),
        json!({"type": "output_audio_buffer.cleared", "event_id": "event_36", "response_id": "resp_1"}),
    ]
}

#[test]
fn every_server_event_round_trips_with_unknown_fields_kept() {
    for sample in server_samples() {
        let text = sample.to_string();
        let received = parse_server(&text).unwrap();
        assert!(received.event != ServerEvent::Unknown, "typed: {text}");
        let back = serde_json::to_value(ServerMessage {
            event_id: sample["event_id"].as_str().unwrap().into(),
            event: received.event,
        })
        .unwrap();
        assert_eq!(back, sample, "round trip of {}", sample["type"]);
    }
}

#[test]
fn beta_server_names_parse_to_the_same_events() {
    for (beta, ga) in [
        ("response.audio.delta", "response.output_audio.delta"),
        (
            "response.audio_transcript.done",
            "response.output_audio_transcript.done",
        ),
        ("response.text.delta", "response.output_text.delta"),
        ("conversation.item.created", "conversation.item.added"),
    ] {
        let sample = server_samples()
            .into_iter()
            .find(|s| s["type"] == ga)
            .unwrap();
        let mut beta_sample = sample.clone();
        beta_sample["type"] = json!(beta);
        let a = parse_server(&sample.to_string()).unwrap().event;
        let b = parse_server(&beta_sample.to_string()).unwrap().event;
        assert_eq!(a, b, "{beta} = {ga}");
        let encoded: Value = serde_json::from_str(&Dialect::Beta.encode_server(&ServerMessage {
            event_id: "e".into(),
            event: a,
        }))
        .unwrap();
        assert_eq!(encoded["type"], beta);
    }
}

#[test]
fn beta_item_content_uses_beta_part_names() {
    let done = server_samples()
        .into_iter()
        .find(|s| s["type"] == "response.done")
        .unwrap();
    let event = parse_server(&done.to_string()).unwrap().event;
    let beta: Value = serde_json::from_str(&Dialect::Beta.encode_server(&ServerMessage {
        event_id: "e".into(),
        event,
    }))
    .unwrap();
    assert_eq!(beta["response"]["output"][0]["content"][0]["type"], "audio");
    assert_eq!(beta["response"]["modalities"], json!(["audio"]));
}

#[test]
fn unknown_server_events_are_kept_raw() {
    let text = r#"{"type":"response.mcp_call.in_progress","event_id":"e","item_id":"i"}"#;
    let r = parse_server(text).unwrap();
    assert_eq!(r.event, ServerEvent::Unknown);
    assert_eq!(r.event_type, "response.mcp_call.in_progress");
    assert_eq!(r.raw["item_id"], "i");
    // A known type with a broken body is carried too, not dropped.
    let r = parse_server(r#"{"type":"response.done","response":7}"#).unwrap();
    assert_eq!(r.event, ServerEvent::Unknown);
    assert!(parse_server("not json").is_err());
}

fn client_samples() -> Vec<Value> {
    vec![
        json!({"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "instructions": "Hi",
            "audio": {"input": {"turn_detection": null}, "output": {"voice": "marin"}}}}),
        json!({"type": "input_audio_buffer.append", "audio": "AAAA"}),
        json!({"type": "input_audio_buffer.commit"}),
        json!({"type": "input_audio_buffer.clear"}),
        json!({"type": "conversation.item.create", "previous_item_id": "root",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"},
                {"type": "input_audio", "audio": "AAAA", "transcript": "hi"}]}}),
        json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"}}),
        json!({"type": "conversation.item.retrieve", "item_id": "item_1"}),
        json!({"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 1500}),
        json!({"type": "conversation.item.delete", "item_id": "item_1"}),
        json!({"type": "response.create"}),
        json!({"type": "response.create", "response": {"conversation": "none", "output_modalities": ["text"],
            "instructions": "Classify", "metadata": {"purpose": "guardrail"},
            "input": [{"type": "item_reference", "id": "item_1"}]}}),
        json!({"type": "response.cancel", "response_id": "resp_1"}),
        json!({"type": "output_audio_buffer.clear"}),
        json!({"type": "session.close"}),
    ]
}

#[test]
fn every_client_event_round_trips_and_the_type_list_is_complete() {
    let mut covered = std::collections::BTreeSet::new();
    for sample in client_samples() {
        let parsed = parse_client(&sample.to_string()).unwrap_or_else(|e| panic!("{sample}: {e}"));
        covered.insert(parsed.event.type_name());
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sample);
    }
    let all: std::collections::BTreeSet<&str> = CLIENT_EVENT_TYPES.iter().copied().collect();
    assert_eq!(covered, all);
}

#[test]
fn client_errors_carry_code_param_and_event_id() {
    let e = parse_client(r#"{"type":"conversation.item.truncate","item_id":"x","audio_end_ms":"soon","event_id":"mine"}"#)
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("invalid_type"));
    assert_eq!(e.param.as_deref(), Some("audio_end_ms"));
    assert_eq!(e.event_id.as_deref(), Some("mine"));
    let e =
        parse_client(r#"{"type":"session.update","session":{"audio":{"input":{"bogus":true}}}}"#)
            .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("session.audio.input.bogus"));
    let e = parse_client("[1,2]").unwrap_err();
    assert_eq!(e.code.as_deref(), Some("invalid_event"));
}
