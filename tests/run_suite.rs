//! `rehearse run` end to end: the real binary, the local emulator on
//! loopback, real audio on disk, checked with measures independent of the
//! code that produced it.

mod common;

use common::{read_json, rehearse_in as rehearse};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn samples(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    (spec, r.samples::<i16>().map(Result::unwrap).collect())
}

fn rms_dbfs(s: &[i16]) -> f64 {
    if s.is_empty() {
        return f64::NEG_INFINITY;
    }
    let mean = s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len() as f64;
    10.0 * (mean.sqrt() / 32768.0).powi(2).log10()
}

fn conversation_dirs(run: &Path) -> Vec<PathBuf> {
    read_json(&run.join("run.json"))["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| run.join(c["dir"].as_str().unwrap()))
        .collect()
}

/// Every utterance is speech in its own track — loud within its span, with a
/// plausible duration per word — and the track is silent between utterances.
fn check_audio_matches_transcript(dir: &Path) {
    let utterances = jsonl(&dir.join("transcript.jsonl"));
    assert!(utterances.len() >= 3, "{}: a real exchange", dir.display());
    let (agent_spec, agent) = samples(&dir.join("agent.wav"));
    let (_, customer) = samples(&dir.join("customer.wav"));
    let (stereo_spec, stereo) = samples(&dir.join("conversation.wav"));
    assert_eq!((agent_spec.sample_rate, agent_spec.channels), (24_000, 1));
    assert_eq!((stereo_spec.sample_rate, stereo_spec.channels), (24_000, 2));
    assert_eq!(agent.len(), customer.len());
    assert_eq!(stereo.len(), agent.len() * 2);
    assert!(
        stereo.chunks(2).zip(&customer).all(|(f, c)| f[0] == *c),
        "left channel is the customer"
    );
    assert!(
        stereo.chunks(2).zip(&agent).all(|(f, a)| f[1] == *a),
        "right channel is the agent"
    );
    for speaker in ["agent", "customer"] {
        let track = if speaker == "agent" {
            &agent
        } else {
            &customer
        };
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for u in utterances.iter().filter(|u| u["speaker"] == speaker) {
            let (a, b) = (
                (u["start_ms"].as_f64().unwrap() * 24.0) as usize,
                (u["end_ms"].as_f64().unwrap() * 24.0) as usize,
            );
            let span = &track[a..b.min(track.len())];
            let words = u["text"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count()
                .max(1) as f64;
            let secs = span.len() as f64 / 24_000.0;
            assert!(
                rms_dbfs(span) > -40.0,
                "{}: {speaker} utterance at {a} is speech",
                dir.display()
            );
            // Turns speak at a talker's rate; a drawn-out "mm-hmm" is a sound.
            if u["interrupted"] != true && u["sound"].is_null() {
                assert!(
                    (0.12..1.2).contains(&(secs / words)),
                    "{}: {speaker} '{}' is {secs:.2}s for {words} words",
                    dir.display(),
                    u["text"]
                );
            }
            spans.push((a, b));
        }
        spans.sort();
        for pair in spans.windows(2) {
            let (gap_a, gap_b) = (pair[0].1 + 240, pair[1].0.saturating_sub(240));
            if gap_b > gap_a {
                assert!(
                    track[gap_a..gap_b].iter().all(|&s| s == 0),
                    "{}: {speaker} track silent between turns",
                    dir.display()
                );
            }
        }
    }
}

#[test]
fn sample_suite_runs_and_leaves_real_recordings_of_what_was_said() {
    let out_dir = tempfile::tempdir().unwrap();
    let run = out_dir.path().join("run");
    let out = rehearse(
        &common::repo(),
        &[
            "run",
            "--agent",
            "agents/support.yaml",
            "--agent",
            "agents/support-v2.yaml",
            "--out",
            run.to_str().unwrap(),
            "--concurrency",
            "4",
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let manifest = read_json(&run.join("run.json"));
    assert_eq!(manifest["counts"]["planned"], 16);
    assert_eq!(manifest["counts"]["completed"], 16, "{manifest:#}");
    assert!(manifest["finished_at"].is_string());
    assert_eq!(
        manifest["config_hashes"]["agents/support.yaml"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    let personas: std::collections::BTreeSet<&str> = manifest["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["persona"].as_str().unwrap())
        .collect();
    assert!(personas.len() >= 4, "{personas:?}");
    for dir in conversation_dirs(&run) {
        for f in [
            "transcript.jsonl",
            "events.jsonl",
            "tools.jsonl",
            "agent.wav",
            "customer.wav",
            "conversation.wav",
            "conversation.json",
        ] {
            assert!(dir.join(f).exists(), "{} has {f}", dir.display());
        }
        check_audio_matches_transcript(&dir);
        let events = jsonl(&dir.join("events.jsonl"));
        assert!(events.iter().any(|e| e["type"] == "response.done"));
        assert!(
            events
                .iter()
                .filter(|e| e["type"] == "input_audio_buffer.append")
                .all(|e| e["event"]["audio"]["bytes"].is_u64()),
            "audio payloads are byte counts in the trace"
        );
    }

    // The angry caller really talks over the agent, and the agent's item is
    // truncated at the audio actually played.
    let angry = run.join("conversations/support/angry-interrupter/0");
    let transcript = jsonl(&angry.join("transcript.jsonl"));
    let cut: Vec<&Value> = transcript
        .iter()
        .filter(|u| u["interrupted"] == true)
        .collect();
    assert!(!cut.is_empty(), "interruptions happen");
    let events = jsonl(&angry.join("events.jsonl"));
    for u in cut {
        let played = (u["end_ms"].as_f64().unwrap() - u["start_ms"].as_f64().unwrap()) as u64;
        let item = u["item_id"].as_str().unwrap();
        let truncate = events
            .iter()
            .find(|e| e["type"] == "conversation.item.truncate" && e["event"]["item_id"] == item)
            .expect("truncate sent for the cut item");
        assert!(
            truncate["event"]["audio_end_ms"]
                .as_u64()
                .unwrap()
                .abs_diff(played)
                <= 1
        );
        assert!(
            events.iter().any(
                |e| e["type"] == "conversation.item.truncated" && e["event"]["item_id"] == item
            )
        );
        assert!(u["full_text"].as_str().unwrap().len() > u["text"].as_str().unwrap().len());
    }
    // support-v2 skips identity verification: the function-call and flow
    // checks catch it on exactly the scenarios that verify, and nowhere else.
    let status = |variant: &str, scenario: &str, check: &str| -> Option<String> {
        let sheet =
            read_json(&run.join(format!("conversations/{variant}/{scenario}/0/scores.json")));
        sheet["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == check)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    let mut regressions = Vec::new();
    for scenario in manifest["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
    {
        for check in ["function_call.match", "flow.path"] {
            let (base, cand) = (
                status("support", scenario, check),
                status("support-v2", scenario, check),
            );
            if base.as_deref() == Some("pass") && cand.as_deref() == Some("fail") {
                regressions.push(format!("{scenario} {check}"));
            }
            assert!(
                !(base.as_deref() == Some("fail") && cand.as_deref() == Some("pass")),
                "{scenario} {check}: v2 is not better anywhere"
            );
        }
    }
    regressions.sort();
    assert_eq!(
        regressions,
        [
            "angry-interrupter flow.path",
            "angry-interrupter function_call.match",
            "damaged-item-exchange flow.path",
            "damaged-item-exchange function_call.match",
            "happy-path-refund flow.path",
            "happy-path-refund function_call.match",
            "misheard-order-number function_call.match",
            "out-of-policy flow.path",
            "out-of-policy function_call.match",
        ]
    );
    let happy = read_json(&run.join("conversations/support-v2/happy-path-refund/0/scores.json"));
    let m = happy["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "function_call.match")
        .unwrap();
    assert_eq!(
        m["evidence"]["missing"][0]["expected"]["name"], "verify_identity",
        "the evidence names the missing call"
    );
    // Judge criteria without a judge are skipped with a reason, never passed.
    let judged: Vec<&Value> = happy["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "judge")
        .collect();
    assert!(
        !judged.is_empty()
            && judged
                .iter()
                .all(|c| c["status"] == "skipped"
                    && c["reason"].as_str().unwrap().contains("no judge"))
    );

    // Rescoring the stored run with nothing changed reproduces every score bit for bit.
    let before: Vec<Vec<u8>> = conversation_dirs(&run)
        .iter()
        .map(|d| std::fs::read(d.join("scores.json")).unwrap())
        .collect();
    let out = rehearse(&common::repo(), &["rescore", run.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 changed, 16 unchanged"),
        "{}",
        text(&out.stdout)
    );
    let after: Vec<Vec<u8>> = conversation_dirs(&run)
        .iter()
        .map(|d| std::fs::read(d.join("scores.json")).unwrap())
        .collect();
    assert!(before == after);

    // Tool calls carry fixture results and their latency.
    let tools = jsonl(&run.join("conversations/support/happy-path-refund/0/tools.jsonl"));
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "lookup_order",
            "verify_identity",
            "check_return_policy",
            "create_return_label"
        ]
    );
    assert!(
        tools[3]["output"]
            .as_str()
            .unwrap()
            .contains("RL-NW10422-1")
    );
    assert!(tools[3]["latency_ms"].as_f64().unwrap() >= 250.0);
}

fn mini() -> PathBuf {
    common::repo().join("tests/fixtures/mini")
}

fn run_mini(extra: &[&str]) -> (PathBuf, tempfile::TempDir, Output) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = vec![
        "run",
        "--project",
        mini().to_str().unwrap().to_owned().leak(),
        "--agent",
        "agents/desk.yaml",
        "--out",
        run.to_str().unwrap().to_owned().leak(),
    ];
    args.extend_from_slice(extra);
    let out = rehearse(&common::repo(), &args, &[]);
    (run, tmp, out)
}

#[test]
fn both_pacings_and_both_turn_modes_complete_the_call() {
    for (pace, turns) in [
        ("fast", "manual"),
        ("fast", "vad"),
        ("realtime", "vad"),
        ("realtime", "manual"),
    ] {
        let started = Instant::now();
        let (run, _tmp, out) = run_mini(&["--scenario", "quick", "--pace", pace, "--turns", turns]);
        let wall = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{pace}/{turns}: {}",
            text(&out.stderr)
        );
        let dir = run.join("conversations/desk/quick/0");
        let outcome = read_json(&dir.join("conversation.json"));
        assert_eq!(
            outcome["status"], "completed",
            "{pace}/{turns}: {outcome:#}"
        );
        assert_eq!(outcome["goal_met"], true, "{pace}/{turns}");
        assert_eq!(outcome["tool_calls"], 1, "{pace}/{turns}");
        check_audio_matches_transcript(&dir);
        let events = jsonl(&dir.join("events.jsonl"));
        let commits = events
            .iter()
            .filter(|e| e["type"] == "input_audio_buffer.commit")
            .count();
        let vad = events
            .iter()
            .filter(|e| e["type"] == "input_audio_buffer.speech_stopped")
            .count();
        match turns {
            "manual" => assert!(
                commits >= 2 && vad == 0,
                "manual turns commit: {commits} commits, {vad} vad"
            ),
            _ => assert!(
                commits == 0 && vad >= 2,
                "vad turns: {commits} commits, {vad} vad"
            ),
        }
        if pace == "realtime" {
            // A phone line cannot be faster than the speech on it.
            let audio_s = outcome["duration_ms"].as_f64().unwrap() / 1000.0;
            assert!(
                wall >= audio_s * 0.9,
                "realtime pacing took {wall:.1}s for {audio_s:.1}s of call"
            );
        }
    }
}

#[test]
fn realtime_driver_two_realtime_clients_talk_in_audio() {
    let (run, _tmp, out) = run_mini(&["--scenario", "two-clients"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = run.join("conversations/desk/two-clients/0");
    let outcome = read_json(&dir.join("conversation.json"));
    assert_eq!(outcome["status"], "completed", "{outcome:#}");
    assert_eq!(outcome["end_reason"], "caller_hung_up");
    let transcript = jsonl(&dir.join("transcript.jsonl"));
    let said: Vec<&str> = transcript
        .iter()
        .map(|u| u["text"].as_str().unwrap())
        .collect();
    assert!(said.iter().any(|s| s.contains("N W 1 2 3")), "{said:?}");
    assert!(
        said.iter().any(|s| s.contains("blue mug")),
        "the agent used the tool result: {said:?}"
    );
    let events = jsonl(&dir.join("events.jsonl"));
    assert!(
        events
            .iter()
            .any(|e| e["side"] == "customer" && e["type"] == "response.output_audio.delta")
    );
    assert!(
        events
            .iter()
            .any(|e| e["side"] == "agent" && e["type"] == "input_audio_buffer.speech_started")
    );
    check_audio_matches_transcript(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_driver_uses_an_openai_compatible_chat_endpoint() {
    let server = common::http::serve(Arc::new(|req: &common::http::Request| {
        let body = req.json();
        if req.path == "/v1/audio/speech" {
            // A speech endpoint: raw 24 kHz PCM of the requested words.
            let voice = rehearse::audio::Voice::new(rehearse::audio::VoiceSettings {
                pitch: 1.4,
                ..Default::default()
            });
            let pcm = voice.speak(body["input"].as_str().unwrap_or(""));
            return common::http::Response {
                status: 200,
                headers: vec![("content-type".into(), "audio/pcm".into())],
                body: rehearse::audio::AudioFormat::Pcm16.encode(&pcm),
            };
        }
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .map(|m| m["content"].as_str().unwrap_or("").to_lowercase());
        let reply = match last.as_deref() {
            Some(l) if l.contains("order number") => "Sure, it's N W 1 2 3.",
            Some(l) if l.contains("anything else") => "No, that's all, bye. [HANG UP]",
            _ => "Hello?",
        };
        common::http::Response::json(
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": reply}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        )
    }))
    .await;
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&mini(), project.path());
    std::fs::write(
        project.path().join("personas/chat-caller.yaml"),
        format!(
            "name: chat-caller\ndescription: Played by a chat model.\nvoice:\n  name: nova\ndriver:\n  kind: chat\n  url: {base}\n  model: test-model\n  api_key_env: TEST_CHAT_KEY\n  speech_url: {base}\n  speech_model: test-tts\n",
            base = server.base
        ),
    )
    .unwrap();
    std::fs::write(
        project.path().join("scenarios/chat.yaml"),
        "id: chat\npersona: chat-caller\ngoal: Ask about order N W 1 2 3.\ntools:\n  lookup_order:\n    responses:\n      - result: { item: \"blue mug\" }\n",
    )
    .unwrap();
    let run = project.path().join("run");
    let args = [
        "run",
        "--project",
        project.path().to_str().unwrap(),
        "--agent",
        "agents/desk.yaml",
        "--scenario",
        "chat",
        "--out",
        run.to_str().unwrap(),
    ]
    .map(str::to_string);
    let out = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        rehearse(
            &common::repo(),
            &a,
            &[("TEST_CHAT_KEY", "sk-chat-SECRET-4242")],
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let outcome = read_json(&run.join("conversations/desk/chat/0/conversation.json"));
    assert_eq!(outcome["status"], "completed", "{outcome:#}");
    assert_eq!(outcome["end_reason"], "caller_hung_up");
    let requests = server.requests.lock().unwrap().clone();
    assert!(requests.len() >= 2);
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-chat-SECRET-4242"))
    );
    let chats: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    let speech: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/audio/speech")
        .collect();
    // Every caller line is spoken through the endpoint.
    assert!(
        chats.len() >= 2 && speech.len() == chats.len(),
        "{} chat, {} speech requests",
        chats.len(),
        speech.len()
    );
    assert!(speech.iter().all(|r| r.json()["response_format"] == "pcm"
        && r.json()["voice"] == "nova"
        && r.json()["model"] == "test-tts"));
    let system = chats[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        system.contains("Ask about order N W 1 2 3."),
        "persona prompt carries the goal"
    );
    assert_no_file_contains(&run, "sk-chat-SECRET-4242");
}

fn assert_no_file_contains(dir: &Path, needle: &str) {
    for path in common::files_under(dir) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{} leaks the key",
            path.display()
        );
    }
}

#[test]
fn an_unreachable_agent_is_an_error_not_a_failed_agent_and_the_run_goes_on() {
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&mini(), project.path());
    common::write_unreachable_agent(project.path(), "down");
    let run = project.path().join("run");
    let out = rehearse(
        &common::repo(),
        &[
            "run",
            "--project",
            project.path().to_str().unwrap(),
            "--agent",
            "agents/down.yaml",
            "--agent",
            "agents/desk.yaml",
            "--scenario",
            "quick",
            "--out",
            run.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "errors make exit code 3: {}",
        text(&out.stderr)
    );
    let manifest = read_json(&run.join("run.json"));
    let by_variant = |v: &str| {
        manifest["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["variant"] == v)
            .unwrap()
            .clone()
    };
    assert_eq!(by_variant("down")["status"], "error");
    assert!(
        by_variant("down")["error"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{manifest:#}"
    );
    assert_eq!(
        by_variant("desk")["status"],
        "completed",
        "the other conversation still ran"
    );
    assert_eq!(manifest["counts"]["error"], 1);
}

#[test]
fn validate_lists_every_problem_with_its_location() {
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&mini(), project.path());
    std::fs::write(
        project.path().join("personas/bad.yaml"),
        "name: bad\ntraits:\n  patiense: 0.5\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("scenarios/orphan.yaml"),
        "id: orphan\npersona: quik\ngoal: x\ntools:\n  lookup_ordr: {}\n",
    )
    .unwrap();
    let out = rehearse(
        &common::repo(),
        &["validate", "--project", project.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:3: unknown key `patiense`"),
        "{err}"
    );
    assert!(err.contains("did you mean `patience`?"), "{err}");
    assert!(
        err.contains("persona `quik` not found") && err.contains("did you mean `quick`?"),
        "{err}"
    );
    assert!(err.contains("unknown tool `lookup_ordr`"), "{err}");
    assert!(err.contains("3 problem(s) found"), "{err}");
}

#[test]
fn init_scaffolds_a_project_that_runs_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    let out = rehearse(tmp.path(), &["init", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("schemas/scenario.schema.json").exists());
    let out = rehearse(&dir, &["validate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = rehearse(&dir, &["run", "--latency-ms", "0", "--out", "r"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(read_json(&dir.join("r/run.json"))["counts"]["completed"], 1);
}
