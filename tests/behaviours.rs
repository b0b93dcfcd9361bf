//! Caller sounds through the real binary: a persona that says "mm-hmm" or
//! coughs while the agent talks makes those sounds on the line (recorded as
//! sounds, not turns), the emulator's server VAD hears them as speech and
//! the agent stops, as the real service's would, and
//! `interaction.false_barge_in` names the sound; a persona without them
//! leaves nothing to judge.

mod common;

use std::path::Path;

use common::{read_json, rehearse};

/// Runs the happy path and returns (the call's transcript lines, its
/// `interaction.false_barge_in` check).
fn happy_path(project: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let result = rehearse(&[
        "run",
        "--project",
        project.to_str().unwrap(),
        "--scenario",
        "happy-path-refund",
        "--latency-ms",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        matches!(result.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let call = out.join("conversations/support/happy-path-refund/0");
    let transcript = std::fs::read_to_string(call.join("transcript.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scores = read_json(&call.join("scores.json"));
    let check = scores["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "interaction.false_barge_in")
        .cloned()
        .expect("the interaction check is in scores.json");
    (transcript, check)
}

fn sounds(transcript: &[serde_json::Value], kind: &str) -> usize {
    transcript.iter().filter(|u| u["sound"] == kind).count()
}

#[test]
fn backchannels_are_sounds_not_turns_and_an_agent_that_stops_for_them_is_caught() {
    let project = common::sample_with_traits("{ patience: 0.8, think_ms: 500, backchannels: 1.0 }");
    let (transcript, check) = happy_path(project.path());
    assert!(sounds(&transcript, "backchannel") > 0, "{transcript:?}");
    let mm = transcript
        .iter()
        .find(|u| u["sound"] == "backchannel")
        .unwrap();
    assert!(["Mm-hmm.", "Okay.", "Right."].contains(&mm["text"].as_str().unwrap()));
    assert_eq!(mm["speaker"], "customer");
    // The emulator's server VAD takes a clear "mm-hmm" for speech: the
    // agent stops, and the check says why.
    assert_eq!(check["status"], "fail", "{check}");
    let stop = &check["evidence"]["stops"][0];
    assert_eq!(stop["cause"]["caller_sound"], "backchannel", "{check}");
}

#[test]
fn a_cough_stops_the_agent_too_and_without_sounds_there_is_nothing_to_judge() {
    let project = common::sample_with_traits("{ patience: 0.8, think_ms: 500, coughs: 1.0 }");
    let (transcript, check) = happy_path(project.path());
    assert!(sounds(&transcript, "cough") > 0, "{transcript:?}");
    assert_eq!(check["status"], "fail", "{check}");
    assert_eq!(
        check["evidence"]["stops"][0]["cause"]["caller_sound"],
        "cough"
    );

    let plain = common::sample_with_traits("{ patience: 0.8, think_ms: 500 }");
    let (transcript, check) = happy_path(plain.path());
    assert_eq!(
        sounds(&transcript, "backchannel") + sounds(&transcript, "cough"),
        0
    );
    assert_eq!(check["status"], "skipped", "{check}");
}

#[test]
fn a_slow_caller_leaves_the_agents_questions_hanging_for_as_long_as_it_says() {
    let project =
        common::sample_with_traits("{ patience: 0.8, think_ms: 500, slow_to_answer_s: 3 }");
    let (transcript, _) = happy_path(project.path());
    let mut asked = 0;
    for pair in transcript.windows(2) {
        let (agent, caller) = (&pair[0], &pair[1]);
        let question = agent["speaker"] == "agent"
            && !agent["interrupted"].as_bool().unwrap_or(false)
            && agent["text"].as_str().unwrap().trim_end().ends_with('?');
        if question && caller["speaker"] == "customer" {
            asked += 1;
            let gap = caller["start_ms"].as_f64().unwrap() - agent["end_ms"].as_f64().unwrap();
            // think_ms 500 × 0.6 at least, plus the 3 s.
            assert!(gap >= 3300.0, "answered after {gap} ms: {agent} / {caller}");
        }
    }
    assert!(asked > 0, "the agent asked something: {transcript:?}");
}
