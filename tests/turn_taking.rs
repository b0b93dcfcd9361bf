//! Turn-taking through the real binary: callers who hesitate mid-sentence,
//! talk to someone else in the room or make noise while the agent talks,
//! against the emulator's `server_vad` and `semantic_vad`. Each behaviour
//! and each `interaction.*` check has a call where it must fire and one
//! where it must not.

mod common;

use std::path::{Path, PathBuf};

use common::{read_json, rehearse};
use serde_json::Value;

/// A copy of the sample project with `patient-pat`'s traits replaced and
/// a `no-interrupt` variant of the support agent (its VAD never cancels a
/// response).
fn project_with_traits(traits: &str) -> tempfile::TempDir {
    let project = common::sample_with_traits(traits);
    let agent = project.path().join("agents/support.yaml");
    let mut text = std::fs::read_to_string(&agent).unwrap();
    text.push_str(
        "  no-interrupt:\n    turn_detection: { type: server_vad, interrupt_response: false }\n",
    );
    std::fs::write(&agent, text).unwrap();
    project
}

/// One happy-path call per agent given; returns each call's folder.
fn happy_path(project: &Path, agents: &[&str], latency_ms: &str, out: &Path) -> Vec<PathBuf> {
    let mut args = vec![
        "run".to_string(),
        "--project".into(),
        project.to_str().unwrap().into(),
        "--scenario".into(),
        "happy-path-refund".into(),
        "--latency-ms".into(),
        latency_ms.into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ];
    for agent in agents {
        args.push("--agent".into());
        args.push(project.join(agent).to_str().unwrap().into());
    }
    let result = rehearse(&args);
    assert!(
        matches!(result.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    agents
        .iter()
        .map(|a| {
            let variant = a
                .trim_start_matches("agents/")
                .replace(".yaml", "")
                .replace(':', "~");
            out.join(format!("conversations/{variant}/happy-path-refund/0"))
        })
        .collect()
}

fn transcript(call: &Path) -> Vec<Value> {
    std::fs::read_to_string(call.join("transcript.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn check(call: &Path, name: &str) -> Value {
    read_json(&call.join("scores.json"))["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is in scores.json"))
}

fn metric(call: &Path, name: &str) -> f64 {
    read_json(&call.join("scores.json"))["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is in scores.json"))
}

#[test]
fn server_vad_answers_into_hesitations_and_stops_for_backchannels_and_semantic_vad_does_neither() {
    let project = project_with_traits(
        "{ patience: 0.8, think_ms: 500, hesitations: 1.0, hesitation_s: 1.2, backchannels: 1.0 }",
    );
    let tmp = tempfile::tempdir().unwrap();
    let calls = happy_path(
        project.path(),
        &["agents/support.yaml", "agents/support.yaml:semantic"],
        "0",
        &tmp.path().join("run"),
    );
    let (server, semantic) = (&calls[0], &calls[1]);

    // The caller hesitated: turns carry their pauses.
    let paused: Vec<Value> = transcript(server)
        .into_iter()
        .filter(|u| u["pauses"].as_array().is_some_and(|p| !p.is_empty()))
        .collect();
    assert!(!paused.is_empty(), "hesitations are recorded");
    let pause = &paused[0]["pauses"][0];
    let length = pause["end_ms"].as_f64().unwrap() - pause["start_ms"].as_f64().unwrap();
    assert!(
        length >= 1200.0,
        "the pause lasts hesitation_s at least: {pause}"
    );

    // server_vad: the 500 ms silence window ends the turn inside the pause
    // and the agent answers half a sentence; every "mm-hmm" stops it.
    let premature = check(server, "interaction.premature_response");
    assert_eq!(premature["status"], "fail", "{premature}");
    let answered = &premature["evidence"]["answered_into"][0];
    let at = answered["agent_started_ms"].as_f64().unwrap();
    let window = answered["pause_ms"].as_array().unwrap();
    assert!(window[0].as_f64().unwrap() <= at && at < window[1].as_f64().unwrap());
    assert_eq!(
        check(server, "interaction.false_barge_in")["status"],
        "fail"
    );

    // semantic_vad waits for the sentence and talks through acknowledgements.
    for name in [
        "interaction.premature_responses",
        "interaction.false_barge_ins",
    ] {
        assert!(
            metric(semantic, name) < metric(server, name),
            "{name}: semantic {} vs server {}",
            metric(semantic, name),
            metric(server, name)
        );
    }
    // Typically 4–14 and 8–19 for server_vad, 0 or 1 for semantic_vad (a
    // pause after a finished sentence, as in "No, that's all. … Thank
    // you.", rightly ends a turn for it too).
    assert!(metric(server, "interaction.premature_responses") >= 2.0);
    assert!(metric(server, "interaction.false_barge_ins") >= 3.0);
    assert!(metric(semantic, "interaction.premature_responses") <= 2.0);
    assert!(metric(semantic, "interaction.false_barge_ins") <= 2.0);
    // server_vad's answers stop the moment the caller goes on: no talk-over.
    assert_eq!(check(server, "interaction.talk_over")["status"], "pass");
    // semantic_vad's goodbye may meet the caller's "Thank you." after a
    // finished "No, that's all.", at most once.
    assert!(metric(semantic, "interaction.talk_overs") <= 1.0);
}

#[test]
fn an_agent_that_keeps_talking_when_the_caller_goes_on_talks_over_them() {
    // A slow agent whose VAD does not cancel: the answer to the first half
    // of a sentence arrives after the caller has gone on.
    let project = project_with_traits(
        "{ patience: 0.8, think_ms: 500, hesitations: 1.0, hesitation_s: 0.8 }",
    );
    let tmp = tempfile::tempdir().unwrap();
    let calls = happy_path(
        project.path(),
        &["agents/support.yaml:no-interrupt"],
        "1500",
        &tmp.path().join("run"),
    );
    let over = check(&calls[0], "interaction.talk_over");
    assert_eq!(over["status"], "fail", "{over}");
    let found = &over["evidence"]["talked_over"][0];
    assert!(
        found["agent_started_ms"].as_f64().unwrap() > found["caller_started_ms"].as_f64().unwrap()
    );
}

#[test]
fn side_talk_and_household_noise_are_sounds_that_stop_a_server_vad_agent() {
    for (traits, kind) in [
        (
            "{ patience: 0.8, think_ms: 500, side_talk: 1.0 }",
            "side_talk",
        ),
        ("{ patience: 0.8, think_ms: 500, noises: 1.0 }", "noise"),
    ] {
        let project = project_with_traits(traits);
        let tmp = tempfile::tempdir().unwrap();
        let calls = happy_path(
            project.path(),
            &["agents/support.yaml"],
            "0",
            &tmp.path().join("run"),
        );
        let sounds: Vec<Value> = transcript(&calls[0])
            .into_iter()
            .filter(|u| u["sound"] == kind)
            .collect();
        assert!(!sounds.is_empty(), "{kind} is recorded as a sound");
        assert_eq!(sounds[0]["speaker"], "customer");
        let stops = check(&calls[0], "interaction.false_barge_in");
        assert_eq!(stops["status"], "fail", "{stops}");
        assert!(
            stops["evidence"]["stops"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["cause"]["caller_sound"] == kind),
            "{stops}"
        );
        // Hesitations were not asked for: nothing to judge.
        assert_eq!(
            check(&calls[0], "interaction.premature_response")["status"],
            "skipped"
        );
    }
}

#[test]
fn an_opt_in_scenario_runs_only_when_asked_for() {
    let plan = |extra: &[&str]| {
        let mut args = vec!["run", "--dry-run"];
        args.extend(extra);
        let out = rehearse(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The sample suite leaves the real-time hesitant caller out.
    assert!(plan(&[]).contains("plan: 8 conversations"));
    // A pattern does not pull it in...
    assert!(plan(&["--scenario", "*"]).contains("plan: 8 conversations"));
    // ...naming it or its tag does.
    assert!(plan(&["--scenario", "hesitant-caller"]).contains("plan: 1 conversations"));
    assert!(plan(&["--tag", "turn-taking"]).contains("plan: 1 conversations"));
}

#[test]
fn a_turn_detection_setting_out_of_range_is_located_in_the_file_and_in_variants() {
    let project = project_with_traits("{ patience: 0.8 }");
    let agent = project.path().join("agents/support.yaml");
    let text = std::fs::read_to_string(&agent).unwrap();
    std::fs::write(
        &agent,
        format!("{text}  deaf:\n    turn_detection: {{ type: server_vad, threshold: 5 }}\n"),
    )
    .unwrap();
    let out = rehearse(&["validate", "--project", project.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("threshold is 5, outside 0–1"), "{said}");
    let line = text.lines().count() + 2;
    assert!(
        said.contains(&format!("agents/support.yaml:{line}:")),
        "located at the variant's threshold (line {line}): {said}"
    );
}
