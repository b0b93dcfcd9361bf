//! `rehearse import` end to end with the real binary: a simulated call of
//! the sample agent is recorded, then brought back three ways (its run
//! folder call, its stereo recording with its transcript, its event log),
//! each into a scored run folder and a replay scenario; the replays run
//! against the emulator's agents: `support` passes, `support-v2` shows its
//! regression, an agent that says something else ends `diverged`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{copy_dir, read_json, rehearse_in, repo};

/// A copy of the sample project and one recorded `happy-path-refund` call.
struct Recorded {
    _dir: tempfile::TempDir,
    project: PathBuf,
    call: PathBuf,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        for sub in ["agents", "personas", "scenarios", "rubrics"] {
            copy_dir(&repo().join(sub), &project.join(sub));
        }
        let out = dir.path().join("original");
        let run = rehearse_in(
            &repo(),
            &[
                "run",
                "--project",
                project.to_str().unwrap(),
                "--agent",
                "agents/support.yaml",
                "--scenario",
                "happy-path-refund",
                "--latency-ms",
                "0",
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(run.status.code(), Some(0), "{}", text(&run));
        Recorded {
            call: out.join("conversations/support/happy-path-refund/0"),
            project,
            _dir: dir,
        }
    })
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh copy of the recorded project, so imports do not meet each other.
fn project_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&recorded().project, dir.path());
    dir
}

fn import(project: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "import",
        "--project",
        project.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    rehearse_in(&repo(), &all, &[])
}

/// Runs the replay scenario `id` against `agent`; returns the call folder.
fn replay(project: &Path, agent: &str, id: &str, out: &Path) -> PathBuf {
    let run = rehearse_in(
        &repo(),
        &[
            "run",
            "--project",
            project.to_str().unwrap(),
            "--agent",
            agent,
            "--scenario",
            id,
            "--latency-ms",
            "0",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", text(&run));
    let manifest = read_json(&out.join("run.json"));
    out.join(manifest["conversations"][0]["dir"].as_str().unwrap())
}

/// Each check of a scored call, by name.
fn checks(call: &Path) -> std::collections::BTreeMap<String, String> {
    let scores = read_json(&call.join("scores.json"));
    scores["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The `tools:` block of one of the project's scenarios.
fn fixtures_of(scenario: &str) -> String {
    let text = std::fs::read_to_string(repo().join(format!("scenarios/{scenario}.yaml"))).unwrap();
    let mut block = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("tools:") {
            inside = true;
        } else if inside && !line.starts_with(' ') && !line.is_empty() {
            break;
        }
        if inside {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(!block.is_empty(), "{scenario} has fixtures");
    block
}

/// The imported run: one call, status imported, scored, with reports.
fn assert_imported_run(out: &Path, source: &str) -> PathBuf {
    let manifest = read_json(&out.join("run.json"));
    let planned = &manifest["conversations"][0];
    assert_eq!(planned["status"], "imported");
    let call = out.join(planned["dir"].as_str().unwrap());
    let outcome = read_json(&call.join("conversation.json"));
    assert_eq!(outcome["status"], "imported");
    assert_eq!(outcome["imported"]["source"], source);
    assert!(call.join("scores.json").is_file());
    for report in [
        "summary.md",
        "report.html",
        "conversations.parquet",
        "junit.xml",
    ] {
        assert!(out.join(report).is_file(), "{report} missing");
    }
    call
}

#[test]
fn a_run_call_imports_and_its_replay_passes_regresses_or_diverges() {
    let project = project_copy();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("imported");
    let done = import(project.path(), &out, &[recorded().call.to_str().unwrap()]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let call = assert_imported_run(&out, "run_folder");
    assert_eq!(checks(&call)["function_call.match"], "pass");
    assert!(!checks(&call).contains_key("replay.fits"));

    let id = "replay-happy-path-refund-0";
    let scenario = project.path().join(format!("scenarios/{id}.yaml"));
    let yaml = std::fs::read_to_string(&scenario).unwrap();
    assert!(yaml.starts_with("# Replays a real call"), "{yaml}");
    assert!(
        yaml.contains("audio: \"replays/"),
        "the caller's track is kept"
    );
    let valid = rehearse_in(
        &repo(),
        &["validate", "--project", project.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid));

    let same = replay(
        project.path(),
        "agents/support.yaml",
        id,
        &work.path().join("v1"),
    );
    let same_checks = checks(&same);
    assert_eq!(same_checks["replay.fits"], "pass");
    assert_eq!(
        same_checks["function_call.match"], "pass",
        "{same_checks:?}"
    );
    // The regression the original call did not have: v2 skips the identity
    // check; the replay follows it past the zip code and the call shows it.
    let v2 = replay(
        project.path(),
        "agents/support-v2.yaml",
        id,
        &work.path().join("v2"),
    );
    let v2_checks = checks(&v2);
    assert_eq!(v2_checks["replay.fits"], "pass", "{v2_checks:?}");
    assert_eq!(v2_checks["function_call.match"], "fail", "{v2_checks:?}");

    // An agent that says something else from its first line.
    let agent = std::fs::read_to_string(project.path().join("agents/support.yaml")).unwrap();
    let other = agent
        .replace("name: support\n", "name: support-pizza\n")
        .replace(
            "Thanks for calling Northwind Outfitters returns, this is Sam. Could I have your order number? It starts with N W.",
            "Welcome to Tony's Pizza! Would you like to hear today's specials?",
        );
    assert_ne!(agent, other);
    std::fs::write(project.path().join("agents/pizza.yaml"), other).unwrap();
    let diverged = replay(
        project.path(),
        "agents/pizza.yaml",
        id,
        &work.path().join("pizza"),
    );
    let outcome = read_json(&diverged.join("conversation.json"));
    assert_eq!(outcome["status"], "completed", "a result, not a crash");
    assert_eq!(outcome["end_reason"], "diverged");
    assert_eq!(outcome["divergence"]["turn"], 1);
    assert_eq!(checks(&diverged)["replay.fits"], "fail");
}

#[test]
fn a_stereo_recording_with_its_transcript_imports_and_replays() {
    let project = project_copy();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("imported");
    let recording = recorded().call.join("conversation.wav");
    let transcript = recorded().call.join("transcript.jsonl");
    let done = import(
        project.path(),
        &out,
        &[
            recording.to_str().unwrap(),
            "--transcript",
            transcript.to_str().unwrap(),
            "--agent",
            "agents/support.yaml",
        ],
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let call = assert_imported_run(&out, "recording");
    assert!(call.join("customer.wav").is_file() && call.join("agent.wav").is_file());
    // A black box: no tool calls are known, and the scenario says so by having none.
    let id = "replay-conversation";
    let path = project.path().join(format!("scenarios/{id}.yaml"));
    let yaml = std::fs::read_to_string(&path).unwrap();
    assert!(
        !yaml.contains("tool_calls:") && !yaml.contains("\ntools:"),
        "{yaml}"
    );
    // Without fixtures the agent cannot find the order and the replay
    // diverges there; with the backend's answers added, as a user would,
    // it plays through.
    let without = replay(
        project.path(),
        "agents/support.yaml",
        id,
        &work.path().join("bare"),
    );
    assert_eq!(checks(&without)["replay.fits"], "fail");
    std::fs::write(&path, format!("{yaml}{}", fixtures_of("happy-path-refund"))).unwrap();
    let replayed = replay(
        project.path(),
        "agents/support.yaml",
        id,
        &work.path().join("r"),
    );
    assert_eq!(checks(&replayed)["replay.fits"], "pass");
    let outcome = read_json(&replayed.join("conversation.json"));
    assert_eq!(
        outcome["goal_met"], true,
        "every recorded line was played: {outcome}"
    );
}

#[test]
fn an_event_log_imports_with_its_tool_calls_and_replays() {
    let project = project_copy();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("imported");
    let log = recorded().call.join("events.jsonl");
    let transcript = recorded().call.join("transcript.jsonl");
    let done = import(
        project.path(),
        &out,
        &[
            log.to_str().unwrap(),
            "--transcript",
            transcript.to_str().unwrap(),
            "--redact",
            "phone,email",
        ],
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    assert!(
        text(&done).contains("redacted: nothing matched"),
        "{}",
        text(&done)
    );
    assert!(!text(&done).contains("secrets dropped"), "{}", text(&done));
    // The log recorded the session: an agent file reproduces it.
    let agent = project.path().join("agents/imported/replay-events.yaml");
    let agent_yaml = std::fs::read_to_string(&agent).unwrap();
    assert!(
        agent_yaml.contains("name: lookup_order") || agent_yaml.contains("\"lookup_order\""),
        "{agent_yaml}"
    );
    let call = assert_imported_run(&out, "event_log");
    let tools = std::fs::read_to_string(call.join("tools.jsonl")).unwrap();
    assert_eq!(tools.lines().count(), 4, "{tools}");
    let imported_checks = checks(&call);
    assert_eq!(
        imported_checks["function_call.match"], "pass",
        "{imported_checks:?}"
    );
    let replayed = replay(
        project.path(),
        "agents/support.yaml",
        "replay-events",
        &work.path().join("r"),
    );
    let replayed_checks = checks(&replayed);
    assert_eq!(
        replayed_checks["replay.fits"], "pass",
        "{replayed_checks:?}"
    );
    assert_eq!(
        replayed_checks["function_call.match"], "pass",
        "{replayed_checks:?}"
    );
}

#[test]
fn redaction_masks_words_tool_calls_and_events_and_counts_them() {
    let project = project_copy();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("imported");
    let done = import(
        project.path(),
        &out,
        &[
            recorded().call.to_str().unwrap(),
            "--redact",
            "phone,email,card",
            "--redact-pattern",
            r"N ?W( ?\d){5}",
        ],
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    // Once in the caller's words, the agent's and the label id, and in each
    // of the four tool calls' arguments (and outputs that repeat it).
    assert!(text(&done).contains("custom-1"), "{}", text(&done));
    let call = assert_imported_run(&out, "run_folder");
    for file in ["transcript.jsonl", "tools.jsonl", "events.jsonl"] {
        let body = std::fs::read_to_string(call.join(file)).unwrap();
        assert!(!body.contains("10422"), "{file} still has the order number");
    }
    let outcome = read_json(&call.join("conversation.json"));
    assert!(
        outcome["imported"]["redacted"]["custom-1"]
            .as_u64()
            .unwrap()
            >= 5,
        "{outcome}"
    );
}

/// A WAV file's duration in ms, from the bytes of a multipart upload.
fn wav_ms(body: &[u8]) -> Option<f64> {
    let riff = body.windows(4).position(|w| w == b"RIFF")?;
    let data = riff + body[riff..].windows(4).position(|w| w == b"data")?;
    let size = u32::from_le_bytes(body[data + 4..data + 8].try_into().ok()?);
    Some(size as f64 / 48.0)
}

#[tokio::test]
async fn a_recording_without_a_transcript_gets_its_words_from_a_transcription_endpoint() {
    // A stand-in transcription service on loopback: it answers each clip
    // with the words of the recorded utterance closest to it in length.
    let said: Vec<(f64, String)> =
        std::fs::read_to_string(recorded().call.join("transcript.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|u| {
                (
                    u["end_ms"].as_f64().unwrap() - u["start_ms"].as_f64().unwrap(),
                    u["text"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    let stt = common::http::serve(std::sync::Arc::new(move |r: &common::http::Request| {
        let ms = wav_ms(&r.body).unwrap_or(0.0);
        let closest = said
            .iter()
            .min_by(|a, b| (a.0 - ms).abs().total_cmp(&(b.0 - ms).abs()))
            .map(|s| s.1.clone())
            .unwrap_or_default();
        common::http::Response::json(200, serde_json::json!({"text": closest}))
    }))
    .await;
    let project = project_copy();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("imported");
    let recording = recorded().call.join("conversation.wav");
    let (project_dir, out_dir) = (project.path().to_path_buf(), out.clone());
    let base = stt.base.clone();
    let done = tokio::task::spawn_blocking(move || {
        import(
            &project_dir,
            &out_dir,
            &[
                recording.to_str().unwrap(),
                "--agent",
                "agents/support.yaml",
                "--transcription-url",
                &base,
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let turns = std::fs::read_to_string(
        out.join("conversations/support/replay-conversation/0/transcript.jsonl"),
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = turns
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let worded = lines
        .iter()
        .filter(|u| !u["text"].as_str().unwrap().is_empty())
        .count();
    let requests = stt.requests.lock().unwrap().len();
    assert_eq!(requests, lines.len(), "one transcription per turn");
    assert_eq!(worded, lines.len(), "{turns}");
    let outcome =
        read_json(&out.join("conversations/support/replay-conversation/0/conversation.json"));
    assert!(
        outcome["imported"]["words_from"]
            .as_str()
            .unwrap()
            .contains("transcription endpoint"),
        "{outcome}"
    );
}

#[test]
fn import_explains_what_it_cannot_use() {
    let project = project_copy();
    let work = tempfile::tempdir().unwrap();
    let bad = work.path().join("broken.jsonl");
    std::fs::write(&bad, "{\"type\": \"session.created\"}\n{oops\n").unwrap();
    let out = import(
        project.path(),
        &work.path().join("o"),
        &[bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("broken.jsonl:2:"), "{}", text(&out));
    let wav = recorded().call.join("agent.wav");
    let mono = import(
        project.path(),
        &work.path().join("m"),
        &[wav.to_str().unwrap(), "--agent", "agents/support.yaml"],
    );
    assert_eq!(mono.status.code(), Some(2), "{}", text(&mono));
    assert!(text(&mono).contains("--agent-audio"), "{}", text(&mono));
}
