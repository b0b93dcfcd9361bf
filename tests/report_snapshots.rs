//! The human-facing report outputs as snapshots (`summary.md`, `junit.xml`,
//! `compare.md`), built from a small synthetic run folder with every kind of
//! row: passes, a regression between variants, a provider error, an
//! interrupted call, calls not started, a note, a failed write and costs.
//! A change to their format shows up as a diff in review.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use rehearse::run_folder::{
    Check, CheckKind, ConversationOutcome, Counts, EndReason, FORMAT_VERSION, MANIFEST, Manifest,
    OUTCOME, Pace, PlannedConversation, SCORES, SCORES_VERSION, ScoreSheet, Status, TurnMode,
    UsageTotals, Verdict,
};

const VARIANTS: [&str; 2] = ["support", "support-v2"];
const SCENARIOS: [&str; 2] = ["refund", "exchange"];
const REPEATS: u32 = 6;

fn write_json<T: serde::Serialize>(path: &Path, value: &T) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// What happened to one synthetic call.
fn fate(variant: usize, scenario: usize, repeat: u32) -> (Status, Option<bool>) {
    match (variant, scenario, repeat) {
        (1, 0, 5) => (Status::Error, None),
        (0, 1, 5) => (Status::Interrupted, None),
        // The candidate skips verification on refunds most of the time.
        (1, 0, r) => (Status::Completed, Some(r >= 4)),
        _ => (Status::Completed, Some(true)),
    }
}

fn synthetic_run(dir: &Path) {
    let mut conversations = Vec::new();
    for (v, variant) in VARIANTS.iter().enumerate() {
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            for repeat in 0..REPEATS {
                let rel = format!("conversations/{variant}/{scenario}/{repeat}");
                let (status, passed) = fate(v, s, repeat);
                let mut outcome = ConversationOutcome::not_finished();
                outcome.model = Some("gpt-realtime-mini".into());
                outcome.usage = UsageTotals {
                    responses: 8,
                    input_text_tokens: 4000 + 100 * repeat as u64,
                    input_audio_tokens: 2500,
                    cached_text_tokens: 2000,
                    cached_audio_tokens: 1500,
                    output_text_tokens: 300,
                    output_audio_tokens: 900,
                };
                match status {
                    Status::Completed | Status::Imported => {
                        outcome.complete(EndReason::GoalMet);
                        outcome.agent_turns = 6;
                        outcome.customer_turns = 5;
                        outcome.tool_calls = 3;
                        outcome.duration_ms = 61_000.0 + 1000.0 * repeat as f64;
                    }
                    Status::Error => outcome.fail(
                        "connection closed by the server (code 1011: server_error)".into(),
                        None,
                    ),
                    Status::Interrupted => {
                        outcome.status = Status::Interrupted;
                        outcome.error =
                            Some("the run was stopped (Ctrl-C or SIGTERM) during this call".into());
                    }
                }
                if (v, s, repeat) == (0, 0, 0) {
                    outcome.note(
                        "the agent could not transcribe the caller's audio: this emulator cannot hear",
                    );
                }
                write_json(&dir.join(&rel).join(OUTCOME), &outcome);
                let verdict = match passed {
                    Some(true) => Verdict::Pass,
                    Some(false) => Verdict::Fail,
                    None if status == Status::Error => Verdict::Error,
                    None => Verdict::Undecided,
                };
                if status != Status::Interrupted {
                    let checks = match passed {
                        Some(p) => vec![
                            Check::new(CheckKind::FunctionCall, "function_call.match", p)
                                .value(if p { 1.0 } else { 0.5 }),
                            Check::new(CheckKind::Flow, "flow.path", p),
                            Check::new(CheckKind::Latency, "latency.response_p95", true)
                                .value(900.0 + 10.0 * repeat as f64),
                            Check::skipped(CheckKind::Judge, "judge.support.empathy", "no judge"),
                        ],
                        None => vec![],
                    };
                    let mut metrics = BTreeMap::new();
                    metrics.insert("latency.response_p50_ms".to_string(), 700.0 + repeat as f64);
                    metrics.insert("latency.response_p95_ms".to_string(), 900.0 + repeat as f64);
                    let sheet = ScoreSheet {
                        version: SCORES_VERSION,
                        variant: variant.to_string(),
                        scenario: scenario.to_string(),
                        persona: "pat".into(),
                        repeat,
                        verdict,
                        score: passed.map(|p| if p { 1.0 } else { 0.5 }),
                        checks,
                        metrics,
                    };
                    write_json(&dir.join(&rel).join(SCORES), &sheet);
                }
                conversations.push(PlannedConversation {
                    variant: variant.to_string(),
                    scenario: scenario.to_string(),
                    persona: "pat".into(),
                    repeat,
                    condition: "clean".into(),
                    seed: repeat as u64,
                    dir: rel.into(),
                    status: Some(status),
                    error: outcome.error.clone(),
                    end_reason: outcome.end_reason,
                    verdict: (status != Status::Interrupted).then_some(verdict),
                    not_started: None,
                    attempts: None,
                });
            }
        }
    }
    conversations.push(PlannedConversation {
        variant: "support-v2".into(),
        scenario: "exchange".into(),
        persona: "pat".into(),
        repeat: REPEATS,
        condition: "clean".into(),
        seed: 0,
        dir: "conversations/support-v2/exchange/6".into(),
        status: None,
        error: None,
        end_reason: None,
        verdict: None,
        not_started: Some("--max-cost $1 was spent".into()),
        attempts: None,
    });
    let mut manifest = Manifest {
        version: FORMAT_VERSION,
        run_id: "20261201T120000-s7".into(),
        harness_version: "test".into(),
        started_at: "2026-12-01T12:00:00Z".into(),
        finished_at: Some("2026-12-01T12:05:00Z".into()),
        git_revision: None,
        seed: 7,
        pace: Pace::Fast,
        turns: TurnMode::Vad,
        repeat: REPEATS,
        concurrency: 4,
        config_hashes: BTreeMap::new(),
        variants: VARIANTS.iter().map(|v| v.to_string()).collect(),
        agents: BTreeMap::new(),
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        conditions: vec!["clean".into()],
        conversations,
        counts: Counts::default(),
        shard: None,
        write_errors: Vec::new(),
        harness_load: None,
    };
    manifest.add_write_error("judge-cache/ab12.json: No space left on device (os error 28)".into());
    manifest.recount();
    write_json(&dir.join(MANIFEST), &manifest);
}

#[test]
fn summary_junit_and_comparison_read_as_reviewed() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_run(tmp.path());
    let report = rehearse::reporting::build(tmp.path()).expect("reports build");
    assert_eq!(
        report.conversations.len(),
        24,
        "not-started calls are not rows"
    );
    let read = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
    insta::assert_snapshot!("summary.md", read("summary.md"));
    insta::assert_snapshot!("junit.xml", read("junit.xml"));
    insta::assert_snapshot!("compare.md", read("compare.md"));
}
