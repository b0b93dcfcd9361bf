//! Benchmark: building every report output (tables, aggregates, summary.md,
//! junit.xml, results.json, comparisons) for a synthetic 10,000-conversation
//! run: 2 variants × 50 scenarios × 100 repeats, 8 checks each.
//!
//! Run: `cargo bench --bench reports`

use std::collections::BTreeMap;
use std::time::Instant;

use rehearse::reporting;
use rehearse::run_folder::{
    Check, CheckKind, CheckStatus, ConversationOutcome, Counts, FORMAT_VERSION, MANIFEST, Manifest,
    OUTCOME, Pace, PlannedConversation, SCORES, SCORES_VERSION, ScoreSheet, Status, TurnMode,
    Verdict,
};
use serde_json::json;

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = tmp.path();
    let mut conversations = Vec::new();
    let t0 = Instant::now();
    for variant in ["base", "cand"] {
        for s in 0..50 {
            for repeat in 0..100u32 {
                let scenario = format!("scenario-{s:02}");
                let dir = format!("conversations/{variant}/{scenario}/{repeat}");
                std::fs::create_dir_all(run.join(&dir)).unwrap();
                // Deterministic pseudo-random outcomes; the candidate is worse on one check.
                let h =
                    (s as u32 * 7919 + repeat * 104_729 + (variant == "cand") as u32 * 31) % 100;
                let outcome: ConversationOutcome = serde_json::from_value(json!({
                    "status": "completed", "error": null, "end_reason": "goal_met", "goal_met": true,
                    "agent_turns": 6, "customer_turns": 6, "interruptions": 0, "tool_calls": 4,
                    "duration_ms": 60000.0 + h as f64 * 100.0, "partial": false, "model": "gpt-realtime",
                    "usage": {"responses": 10, "input_text_tokens": 5000, "input_audio_tokens": 3000, "cached_text_tokens": 2000,
                              "cached_audio_tokens": 1000, "output_text_tokens": 400, "output_audio_tokens": 1200},
                    "protocol_errors": []})).unwrap();
                std::fs::write(
                    run.join(&dir).join(OUTCOME),
                    serde_json::to_vec(&outcome).unwrap(),
                )
                .unwrap();
                let checks: Vec<Check> = (0..8)
                    .map(|i| {
                        let fail = if variant == "cand" && i == 0 {
                            h < 30
                        } else {
                            h < 5
                        };
                        Check::new(CheckKind::FunctionCall, format!("check.{i}"), !fail)
                            .value(h as f64)
                    })
                    .collect();
                let mut metrics = BTreeMap::new();
                metrics.insert("latency.response_p50_ms".to_string(), 900.0 + h as f64);
                metrics.insert(
                    "latency.response_p95_ms".to_string(),
                    1500.0 + h as f64 * 3.0,
                );
                let verdict = if checks.iter().any(|c| c.status == CheckStatus::Fail) {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                };
                let sheet = ScoreSheet {
                    version: SCORES_VERSION,
                    variant: variant.into(),
                    scenario: scenario.clone(),
                    persona: "p".into(),
                    repeat,
                    verdict,
                    score: Some(1.0),
                    checks,
                    metrics,
                };
                std::fs::write(
                    run.join(&dir).join(SCORES),
                    serde_json::to_vec(&sheet).unwrap(),
                )
                .unwrap();
                conversations.push(PlannedConversation {
                    variant: variant.into(),
                    scenario,
                    persona: "p".into(),
                    repeat,
                    condition: "clean".into(),
                    seed: 0,
                    dir: dir.into(),
                    status: Some(Status::Completed),
                    error: None,
                    end_reason: None,
                    verdict: Some(verdict),
                    not_started: None,
                    attempts: None,
                });
            }
        }
    }
    let manifest = Manifest {
        version: FORMAT_VERSION,
        run_id: "bench".into(),
        harness_version: "bench".into(),
        started_at: String::new(),
        finished_at: None,
        git_revision: None,
        seed: 0,
        pace: Pace::Fast,
        turns: TurnMode::Vad,
        repeat: 100,
        concurrency: 1,
        config_hashes: BTreeMap::new(),
        variants: vec!["base".into(), "cand".into()],
        agents: BTreeMap::new(),
        scenarios: vec![],
        conditions: vec!["clean".into()],
        counts: Counts {
            planned: conversations.len(),
            completed: conversations.len(),
            ..Default::default()
        },
        conversations,
        shard: None,
        write_errors: Vec::new(),
        harness_load: None,
    };
    std::fs::write(run.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
    println!(
        "wrote a synthetic run of {} conversations in {:.1} s",
        manifest.conversations.len(),
        t0.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let report = reporting::build(run).expect("reports build");
    println!(
        "built every report output for {} conversations, {} check results in {:.2} s (2 vCPU)",
        report.conversations.len(),
        report.results.len(),
        t.elapsed().as_secs_f64()
    );
}
