//! The emulator, driven over real loopback sockets by rehearse's own client:
//! event order of spoken turns and tool calls, real audio in the deltas, and
//! protocol errors that never take the server down.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{Emulator, collect_until, types};
use rehearse::audio::{AudioFormat, SESSION_RATE, Voice, VoiceSettings, rms_dbfs};
use rehearse::protocol::item::MessageItem;
use rehearse::protocol::{
    ClientEvent, ContentPart, Dialect, Item, Role, ServerEvent, SessionPatch,
};
use rehearse::realtime::TimedEvent;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(20);

fn session_update(value: serde_json::Value) -> ClientEvent {
    let patch: SessionPatch = serde_json::from_value(value).expect("valid session patch");
    ClientEvent::SessionUpdate {
        session: Box::new(patch),
        extra: Default::default(),
    }
}

fn tools_and_manual_turns() -> ClientEvent {
    let agent =
        rehearse::config::AgentFile::load(&common::repo().join("agents/support.yaml")).unwrap();
    session_update(json!({
        "type": "realtime",
        "tools": agent.tool_defs(),
        "audio": {"input": {"turn_detection": null}}
    }))
}

fn response_create() -> ClientEvent {
    ClientEvent::ResponseCreate {
        response: None,
        extra: Default::default(),
    }
}

/// Concatenated audio bytes of every `output_audio.delta`.
fn audio_bytes(events: &[TimedEvent]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match &e.received.event {
            ServerEvent::ResponseOutputAudioDelta { delta, .. } => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(delta)
                    .expect("base64 audio"),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

fn transcript_of(events: &[TimedEvent]) -> String {
    events
        .iter()
        .find_map(|e| match &e.received.event {
            ServerEvent::ResponseOutputAudioTranscriptDone { transcript, .. } => {
                Some(transcript.clone())
            }
            _ => None,
        })
        .expect("a transcript.done event")
}

/// Event types without the streamed deltas, which interleave.
/// The event sequence without deltas, and without input transcription
/// events, which the API sends whenever transcription finishes (any time
/// after the item is added).
fn skeleton(events: &[TimedEvent]) -> Vec<&str> {
    types(events)
        .into_iter()
        .filter(|t| !t.ends_with(".delta"))
        .filter(|t| !t.starts_with("conversation.item.input_audio_transcription."))
        .collect()
}

#[tokio::test]
async fn spoken_turn_and_tool_round_trip_follow_the_ga_sequence() {
    let emulator = Emulator::start(&[]);
    let mut c = emulator.connect(Dialect::Ga).await;
    let first = collect_until(&mut c, "session.created", LIMIT).await;
    assert_eq!(types(&first), ["session.created"]);

    c.sender.send_event(tools_and_manual_turns()).await.unwrap();
    let updated = collect_until(&mut c, "session.updated", LIMIT).await;
    let ServerEvent::SessionUpdated { session, .. } = &updated[0].received.event else {
        panic!("expected session.updated");
    };
    assert_eq!(
        session.tools.as_ref().map(Vec::len),
        Some(5),
        "declared tools echoed"
    );
    assert_eq!(
        updated[0].received.raw["session"]["audio"]["input"]["turn_detection"],
        json!(null)
    );

    // The agent opens the call: a complete spoken response.
    c.sender.send_event(response_create()).await.unwrap();
    let greeting = collect_until(&mut c, "rate_limits.updated", LIMIT).await;
    assert_eq!(
        skeleton(&greeting),
        [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
    );
    let all = types(&greeting);
    let first_delta = all.iter().position(|t| t.ends_with(".delta")).unwrap();
    let last_delta = all.iter().rposition(|t| t.ends_with(".delta")).unwrap();
    let part_added = all
        .iter()
        .position(|t| *t == "response.content_part.added")
        .unwrap();
    let audio_done = all
        .iter()
        .position(|t| *t == "response.output_audio.done")
        .unwrap();
    assert!(
        part_added < first_delta && last_delta < audio_done,
        "deltas sit inside the content part: {all:?}"
    );

    let text = transcript_of(&greeting);
    assert!(text.starts_with("Thanks for calling Northwind"), "{text}");
    let pcm = AudioFormat::Pcm16.decode(&audio_bytes(&greeting));
    let seconds = pcm.len() as f64 / SESSION_RATE as f64;
    let words = text.split_whitespace().count() as f64;
    assert!(
        (words / 4.5..words / 1.5).contains(&seconds),
        "{seconds:.2}s of audio for {words} words"
    );
    assert!(
        rms_dbfs(&pcm) > -35.0,
        "audible speech, not silence: {} dBFS",
        rms_dbfs(&pcm)
    );
    let ServerEvent::ResponseDone { response, .. } = &greeting[greeting.len() - 2].received.event
    else {
        panic!("expected response.done");
    };
    let usage = response.usage.as_ref().expect("usage on response.done");
    assert!(
        usage.output_token_details.audio_tokens > 0,
        "audio tokens counted"
    );
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);

    // The caller speaks: an audio item whose transcript the client supplies.
    let speech = Voice::new(VoiceSettings {
        pitch: 0.9,
        ..Default::default()
    })
    .speak("My order number is N W 1 0 4 2 2.");
    let item = Item::Message(MessageItem {
        id: None,
        object: None,
        status: None,
        role: Role::User,
        content: vec![ContentPart::InputAudio {
            audio: Some(
                base64::engine::general_purpose::STANDARD
                    .encode(AudioFormat::Pcm16.encode(&speech)),
            ),
            transcript: Some("My order number is N W 1 0 4 2 2.".into()),
            extra: Default::default(),
        }],
        extra: Default::default(),
    });
    c.sender
        .send_event(ClientEvent::ConversationItemCreate {
            previous_item_id: None,
            item: Box::new(item),
            extra: Default::default(),
        })
        .await
        .unwrap();
    c.sender.send_event(response_create()).await.unwrap();
    let call = collect_until(&mut c, "rate_limits.updated", LIMIT).await;
    assert_eq!(
        skeleton(&call),
        [
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
    );
    let (call_id, name, arguments) = call
        .iter()
        .find_map(|e| match &e.received.event {
            ServerEvent::ResponseFunctionCallArgumentsDone {
                call_id,
                name,
                arguments,
                ..
            } => Some((call_id.clone(), name.clone(), arguments.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(name.as_deref(), Some("lookup_order"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&arguments).unwrap(),
        json!({"order_id": "NW10422"})
    );
    let streamed: String = call
        .iter()
        .filter_map(|e| match &e.received.event {
            ServerEvent::ResponseFunctionCallArgumentsDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        streamed, arguments,
        "argument deltas add up to the arguments"
    );

    // The tool result goes back; VAD never answers tool output by itself.
    c.sender
        .send_event(ClientEvent::ConversationItemCreate {
            previous_item_id: None,
            item: Box::new(Item::FunctionCallOutput(
                rehearse::protocol::item::FunctionCallOutputItem {
                    id: None,
                    object: None,
                    status: None,
                    call_id,
                    output: json!({"found": true, "item": "a pair of trail boots"}).to_string(),
                    extra: Default::default(),
                },
            )),
            extra: Default::default(),
        })
        .await
        .unwrap();
    let added = collect_until(&mut c, "conversation.item.done", LIMIT).await;
    assert_eq!(
        types(&added),
        ["conversation.item.added", "conversation.item.done"]
    );
    c.sender.send_event(response_create()).await.unwrap();
    let answer = collect_until(&mut c, "rate_limits.updated", LIMIT).await;
    let said = transcript_of(&answer);
    assert!(said.contains("trail boots"), "tool result used: {said}");
    assert!(
        said.contains("zip code"),
        "moves on to verification: {said}"
    );
}

#[tokio::test]
async fn streamed_audio_triggers_server_vad_and_unheard_words_are_not_invented() {
    let emulator = Emulator::start(&[]);
    let mut c = emulator.connect(Dialect::Ga).await;
    collect_until(&mut c, "session.created", LIMIT).await;

    // 300 ms of silence, an utterance, then 800 ms of silence so VAD closes the turn.
    let mut audio = vec![0i16; 300 * 24];
    let speech = Voice::new(VoiceSettings::default()).speak("I would like to return my boots.");
    let speech_ms = speech.len() as u64 / 24;
    audio.extend(&speech);
    audio.extend(vec![0i16; 800 * 24]);
    for chunk in audio.chunks(2400) {
        c.sender
            .send_event(ClientEvent::InputAudioBufferAppend {
                audio: base64::engine::general_purpose::STANDARD
                    .encode(AudioFormat::Pcm16.encode(chunk)),
                extra: Default::default(),
            })
            .await
            .unwrap();
    }
    let turn = collect_until(&mut c, "rate_limits.updated", LIMIT).await;
    let skeleton = skeleton(&turn);
    assert_eq!(
        &skeleton[..6],
        [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
        ]
    );
    let (start, end) = turn
        .iter()
        .fold((None, None), |acc, e| match &e.received.event {
            ServerEvent::InputAudioBufferSpeechStarted { audio_start_ms, .. } => {
                (Some(*audio_start_ms), acc.1)
            }
            ServerEvent::InputAudioBufferSpeechStopped { audio_end_ms, .. } => {
                (acc.0, Some(*audio_end_ms))
            }
            _ => acc,
        });
    let (start, end) = (start.unwrap(), end.unwrap());
    // Where the voice really starts and stops, measured independently: the
    // first and last 10 ms window whose peak exceeds 1000 (about -30 dBFS).
    let loud: Vec<usize> = speech
        .chunks(240)
        .enumerate()
        .filter(|(_, w)| w.iter().any(|s| s.unsigned_abs() > 1000))
        .map(|(i, _)| i * 10)
        .collect();
    let (onset, offset) = (
        300 + loud[0] as u64,
        300 + *loud.last().unwrap() as u64 + 10,
    );
    // Start is the onset minus 300 ms of prefix padding; end includes the 200 ms silence window.
    assert!(
        start.abs_diff(onset.saturating_sub(300)) <= 40,
        "speech started at {start} ms; voice onset at {onset} ms less 300 ms padding"
    );
    let expected_end = offset + 200;
    let _ = speech_ms;
    assert!(
        end.abs_diff(expected_end) <= 60,
        "speech stopped at {end} ms, expected ~{expected_end}"
    );
    // No transcription backend: the agent must say it did not understand,
    // and the emulator must say why (even though no transcripts were asked).
    assert!(
        transcript_of(&turn).contains("couldn't understand"),
        "{}",
        transcript_of(&turn)
    );
    let cannot_hear = turn.iter().find_map(|e| match &e.received.event {
        ServerEvent::InputAudioTranscriptionFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    let error = cannot_hear.expect("a transcription.failed event says the agent cannot hear");
    assert_eq!(error.code.as_deref(), Some("transcription_unavailable"));
    assert!(
        error.message.contains("--transcription-url"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn protocol_errors_are_error_events_and_the_server_keeps_serving() {
    let emulator = Emulator::start(&[]);
    let mut c = emulator.connect(Dialect::Ga).await;
    collect_until(&mut c, "session.created", LIMIT).await;

    let cases: &[(&str, &str, Option<&str>)] = &[
        ("this is not json", "invalid_json", None),
        (r#"{"event_id":"e1"}"#, "invalid_event", None),
        (
            r#"{"type":"nope.nothing","event_id":"e2"}"#,
            "invalid_value",
            Some("type"),
        ),
        (
            r#"{"type":"response.create","response":{"bogus":1}}"#,
            "unknown_parameter",
            Some("response.bogus"),
        ),
        (
            r#"{"type":"session.update","session":{"instructions":42}}"#,
            "invalid_type",
            Some("session.instructions"),
        ),
        (
            r#"{"type":"conversation.item.truncate","item_id":"x"}"#,
            "missing_required_parameter",
            Some("audio_end_ms"),
        ),
        (
            r#"{"type":"input_audio_buffer.commit"}"#,
            "input_audio_buffer_commit_empty",
            None,
        ),
        (
            r#"{"type":"response.cancel"}"#,
            "response_cancel_not_active",
            None,
        ),
        (
            r#"{"type":"session.update","session":{"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}}"#,
            "integer_below_min_value",
            Some("session.audio.input.format.rate"),
        ),
    ];
    for (frame, code, param) in cases {
        c.sender.send_raw(frame.to_string()).await.unwrap();
        let got = collect_until(&mut c, "error", LIMIT).await;
        let ServerEvent::Error { error, .. } = &got.last().unwrap().received.event else {
            unreachable!()
        };
        assert_eq!(
            error.code.as_deref(),
            Some(*code),
            "frame {frame}: {error:?}"
        );
        assert_eq!(error.param.as_deref(), *param, "frame {frame}");
    }
    // The client event_id comes back in the error.
    c.sender
        .send_raw(r#"{"type":"nope","event_id":"mine-7"}"#.into())
        .await
        .unwrap();
    let got = collect_until(&mut c, "error", LIMIT).await;
    assert_eq!(got[0].received.raw["error"]["event_id"], "mine-7");

    // The same connection still works, and so does a second session.
    c.sender.send_event(response_create()).await.unwrap();
    collect_until(&mut c, "response.done", LIMIT).await;
    let mut other = emulator.connect(Dialect::Ga).await;
    collect_until(&mut other, "session.created", LIMIT).await;
}

#[tokio::test]
async fn beta_clients_get_beta_names_and_shapes() {
    let emulator = Emulator::start(&[]);
    let mut c = emulator.connect(Dialect::Beta).await;
    let created = collect_until(&mut c, "session.created", LIMIT).await;
    let session = &created[0].received.raw["session"];
    assert_eq!(
        session["input_audio_format"], "pcm16",
        "flat beta session: {session}"
    );
    assert!(session.get("audio").is_none());
    c.sender.send_event(response_create()).await.unwrap();
    let events = collect_until(&mut c, "response.done", LIMIT).await;
    let t = types(&events);
    assert!(t.contains(&"response.audio.delta"));
    assert!(t.contains(&"response.audio_transcript.done"));
    assert!(t.contains(&"conversation.item.created"));
    assert!(
        !t.iter()
            .any(|x| x.contains("output_audio") || *x == "conversation.item.done"),
        "{t:?}"
    );
    let done = &events.last().unwrap().received.raw["response"]["output"][0]["content"][0]["type"];
    assert_eq!(done, "audio");
}

#[tokio::test]
async fn barge_in_cancels_and_truncate_checks_the_played_length() {
    let emulator = Emulator::start(&["--pacing", "realtime"]);
    let mut c = emulator.connect(Dialect::Ga).await;
    collect_until(&mut c, "session.created", LIMIT).await;
    c.sender.send_event(response_create()).await.unwrap();
    // Let ~1 s of the greeting stream at playback speed, then interrupt.
    let mut item_id = None;
    let deadline = std::time::Instant::now() + LIMIT;
    let mut played_bytes = 0usize;
    while played_bytes < 48_000 && std::time::Instant::now() < deadline {
        let e = c.receiver.recv_within(LIMIT).await.unwrap().unwrap();
        if let ServerEvent::ResponseOutputAudioDelta { at, delta, .. } = &e.received.event {
            item_id = Some(at.item_id.clone());
            played_bytes += base64::engine::general_purpose::STANDARD
                .decode(delta)
                .unwrap()
                .len();
        }
    }
    let item_id = item_id.expect("audio arrived");
    c.sender
        .send_event(ClientEvent::ResponseCancel {
            response_id: None,
            extra: Default::default(),
        })
        .await
        .unwrap();
    let done = collect_until(&mut c, "response.done", LIMIT).await;
    let response = &done.last().unwrap().received.raw["response"];
    assert_eq!(response["status"], "cancelled");
    assert_eq!(response["status_details"]["reason"], "client_cancelled");
    assert_eq!(response["output"][0]["status"], "incomplete");

    let played_ms = (played_bytes / 48) as u64;
    c.sender
        .send_event(ClientEvent::ConversationItemTruncate {
            item_id: item_id.clone(),
            content_index: 0,
            audio_end_ms: played_ms,
            extra: Default::default(),
        })
        .await
        .unwrap();
    let t = collect_until(&mut c, "conversation.item.truncated", LIMIT).await;
    assert_eq!(t.last().unwrap().received.raw["audio_end_ms"], played_ms);
    c.sender
        .send_event(ClientEvent::ConversationItemTruncate {
            item_id,
            content_index: 0,
            audio_end_ms: 600_000,
            extra: Default::default(),
        })
        .await
        .unwrap();
    let err = collect_until(&mut c, "error", LIMIT).await;
    assert_eq!(
        err.last().unwrap().received.raw["error"]["param"],
        "audio_end_ms"
    );
}

#[tokio::test]
async fn declared_tools_decide_what_the_agent_can_call() {
    // A client that declares no tools gets an agent that works without them.
    let emulator = Emulator::start(&[]);
    let mut c = emulator.connect(Dialect::Ga).await;
    collect_until(&mut c, "session.created", LIMIT).await;
    c.sender
        .send_event(session_update(
            json!({"type": "realtime", "output_modalities": ["text"]}),
        ))
        .await
        .unwrap();
    collect_until(&mut c, "session.updated", LIMIT).await;
    c.sender
        .send_event(ClientEvent::ConversationItemCreate {
            previous_item_id: None,
            item: Box::new(Item::Message(MessageItem {
                id: None,
                object: None,
                status: None,
                role: Role::User,
                content: vec![ContentPart::InputText {
                    text: "Order NW10422 please".into(),
                    extra: Default::default(),
                }],
                extra: Default::default(),
            })),
            extra: Default::default(),
        })
        .await
        .unwrap();
    c.sender.send_event(response_create()).await.unwrap();
    let events = collect_until(&mut c, "response.done", LIMIT).await;
    assert!(
        !types(&events).iter().any(|t| t.contains("function_call")),
        "{:?}",
        types(&events)
    );
    let text = events
        .iter()
        .find_map(|e| match &e.received.event {
            ServerEvent::ResponseOutputTextDone { text, .. } => Some(text.clone()),
            _ => None,
        })
        .expect("text output");
    assert!(text.contains("can't"), "{text}");
}

/// A client that presents `key` (if any), and the first event it gets.
async fn connect_with_key(
    emulator: &Emulator,
    key: Option<&str>,
) -> (rehearse::realtime::RealtimeClient, serde_json::Value) {
    let mut endpoint = rehearse::realtime::Endpoint::local(&emulator.url(), Dialect::Ga);
    if let Some(k) = key {
        endpoint.headers.push((
            "Authorization".into(),
            rehearse::realtime::Secret::new(format!("Bearer {k}")),
        ));
    }
    let mut c = rehearse::realtime::RealtimeClient::connect(
        &endpoint,
        std::time::Instant::now(),
        None,
        LIMIT,
    )
    .await
    .expect("the upgrade itself succeeds, as with the real service");
    let first = c.receiver.recv_within(LIMIT).await.unwrap().unwrap();
    (c, first.received.raw)
}

/// The first event and how the connection then ends, for a refused session.
async fn refusal(
    emulator: &Emulator,
    key: Option<&str>,
) -> (serde_json::Value, Option<rehearse::realtime::ClientError>) {
    let (mut c, first) = connect_with_key(emulator, key).await;
    let then = c.receiver.recv_within(LIMIT).await.and_then(Result::err);
    (first, then)
}

#[tokio::test]
async fn keys_and_the_session_limit_are_enforced_with_real_errors_and_close_codes() {
    let emulator = Emulator::start_with_env(
        &["--require-key-env", "EMU_KEY", "--max-sessions", "2"],
        &[("EMU_KEY", "sk-emulator-test")],
    );
    let closed = |e: &Option<rehearse::realtime::ClientError>| match e {
        Some(rehearse::realtime::ClientError::Closed { code, .. }) => *code,
        other => panic!("expected a close frame, got {other:?}"),
    };
    let (event, end) = refusal(&emulator, None).await;
    assert_eq!(event["type"], "error");
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Missing bearer")
    );
    assert_eq!(closed(&end), 3000);
    let (event, end) = refusal(&emulator, Some("sk-wrong")).await;
    assert_eq!(event["error"]["code"], "invalid_api_key");
    assert!(
        !event.to_string().contains("sk-wrong"),
        "the key is not echoed"
    );
    assert_eq!(closed(&end), 3000);

    // Two sessions fit; the third is refused with a retryable code; capacity
    // comes back when one closes.
    let connect = || async {
        let (c, first) = connect_with_key(&emulator, Some("sk-emulator-test")).await;
        (c, first["type"].as_str().unwrap_or("").to_string())
    };
    let (mut one, t1) = connect().await;
    let (_two, t2) = connect().await;
    assert_eq!(
        (t1.as_str(), t2.as_str()),
        ("session.created", "session.created")
    );
    let (mut three, t3) = connect().await;
    assert_eq!(t3, "error");
    let end = three
        .receiver
        .recv_within(LIMIT)
        .await
        .and_then(Result::err);
    assert_eq!(closed(&end), 1013, "1013: try again later");
    one.sender.close().await;
    // Bounded wait for the server to notice the close.
    let mut freed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_c, t) = connect().await;
        if t == "session.created" {
            freed = true;
            break;
        }
    }
    assert!(freed, "a closed session frees its place");
    drop(one);
}

#[test]
fn the_emulator_listens_on_loopback_unless_told_otherwise() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .args(["emulator", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[default: 127.0.0.1:8765]"), "{help}");
    // Beyond loopback without a key: refused before anything listens.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .current_dir(common::repo())
        .args(["emulator", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--require-key-env") && stderr.contains("--allow-unauthenticated-remote"),
        "{stderr}"
    );
}

#[test]
fn the_emulator_says_who_can_reach_it_and_whether_it_can_hear() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .current_dir(common::repo())
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let listening = lines.next().unwrap().unwrap();
    let who = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        listening.contains("listening on ws://127.0.0.1:"),
        "{listening}"
    );
    assert!(who.contains("only this machine can connect"), "{who}");
    assert!(who.contains("no key is required"), "{who}");
    assert!(who.contains("caller audio cannot be understood"), "{who}");
}

/// RFC 6455 §5.5.1: a Close frame is answered with a Close frame. Third-party
/// clients (Pipecat, `websockets`) report a missing answer as an error on
/// every normal hang-up.
#[tokio::test]
async fn a_clients_close_frame_is_answered_with_a_close_frame() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let emulator = Emulator::start(&[]);
    for mid_response in [false, true] {
        let (mut ws, _) = tokio_tungstenite::connect_async(emulator.url())
            .await
            .unwrap();
        let first = ws.next().await.unwrap().unwrap();
        assert!(first.to_text().unwrap().contains("session.created"));
        if mid_response {
            let create = json!({"type": "response.create"}).to_string();
            ws.send(Message::text(create)).await.unwrap();
            // Wait for audio to be streaming.
            loop {
                let m = ws.next().await.unwrap().unwrap();
                if m.to_text().unwrap_or("").contains("output_audio.delta") {
                    break;
                }
            }
        }
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
        let answer = tokio::time::timeout(LIMIT, async {
            while let Some(frame) = ws.next().await {
                match frame {
                    Ok(Message::Close(frame)) => return Some(frame),
                    Ok(_) => continue,
                    Err(e) => panic!("the socket broke instead of closing: {e}"),
                }
            }
            None
        })
        .await
        .expect("the server answers in time");
        let frame = answer.expect("the server sent a Close frame back");
        assert_eq!(
            frame.map(|f| u16::from(f.code)),
            Some(1000),
            "mid_response={mid_response}"
        );
    }
}

/// The other direction: when a server closes first, rehearse's client
/// answers with its own Close frame.
#[tokio::test]
async fn rehearses_client_answers_a_servers_close_frame() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let created = json!({"type": "session.created", "event_id": "e1", "session": {}});
        ws.send(Message::text(created.to_string())).await.unwrap();
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        })))
        .await
        .unwrap();
        // What the client sends back before the socket goes.
        let mut answered = false;
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        {
            answered |= matches!(frame, Message::Close(_));
        }
        answered
    });
    let url = format!("ws://{addr}/v1/realtime?model=gpt-realtime");
    let mut client = rehearse::realtime::RealtimeClient::connect(
        &rehearse::realtime::Endpoint::local(&url, Dialect::Ga),
        std::time::Instant::now(),
        None,
        LIMIT,
    )
    .await
    .unwrap();
    // As a call ends: events until the server's close, then hang up.
    while let Some(event) = client.receiver.recv().await {
        event.unwrap();
    }
    client.sender.close().await;
    drop(client);
    assert!(
        server.await.unwrap(),
        "the client answered the server's Close frame"
    );
}
