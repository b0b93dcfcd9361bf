//! Nightly-batch features: shards merged back into one run, resuming an
//! interrupted run, dry runs and the cost budget.

mod common;

use common::rehearse;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

fn mini_run(out: &Path, extra: &[&str]) -> Output {
    let mini = common::repo().join("tests/fixtures/mini");
    let mut args = vec![
        "run",
        "--project",
        mini.to_str().unwrap(),
        "--agent",
        "agents/desk.yaml",
        "--scenario",
        "quick",
        "--repeat",
        "4",
        "--latency-ms",
        "0",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    rehearse(&args)
}

/// (dir, status, end_reason, verdict) of every conversation, sorted.
fn outcomes(dir: &Path) -> Vec<(String, Value, Value, Value)> {
    let m = manifest(dir);
    let mut rows: Vec<_> = m["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["dir"].as_str().unwrap().to_string(),
                c["status"].clone(),
                c["end_reason"].clone(),
                c["verdict"].clone(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn shards_merge_into_the_same_run_as_an_unsharded_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, a, b, merged) = (
        tmp.path().join("whole"),
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("m"),
    );
    assert!(mini_run(&whole, &[]).status.success());
    assert!(mini_run(&a, &["--shard", "1/2"]).status.success());
    assert!(mini_run(&b, &["--shard", "2/2"]).status.success());
    assert_eq!(manifest(&a)["counts"]["planned"], 2);
    assert_eq!(manifest(&b)["counts"]["planned"], 2);
    let out = rehearse(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        outcomes(&merged),
        outcomes(&whole),
        "the merged shards equal the unsharded run"
    );
    assert_eq!(manifest(&merged)["counts"]["completed"], 4);
    assert!(merged.join("conversations.parquet").exists() && merged.join("report.html").exists());
    let bad = rehearse(&["run", "--shard", "3/2", "--dry-run"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an impossible shard is a usage error"
    );
}

#[test]
fn resume_finishes_an_interrupted_run_without_redoing_finished_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    assert!(mini_run(&run, &[]).status.success());
    let before = outcomes(&run);
    // Interrupt: one conversation never finished.
    let mut m = manifest(&run);
    let victim = m["conversations"][0]["dir"].as_str().unwrap().to_string();
    let keeper = m["conversations"][1]["dir"].as_str().unwrap().to_string();
    m["conversations"][0]["status"] = Value::Null;
    std::fs::write(run.join("run.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    std::fs::remove_file(run.join(&victim).join("conversation.json")).unwrap();
    let kept = std::fs::metadata(run.join(&keeper).join("conversation.json"))
        .unwrap()
        .modified()
        .unwrap();
    let out = mini_run(&run, &["--resume"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        outcomes(&run),
        before,
        "the resumed run ends where an uninterrupted one does"
    );
    assert!(run.join(&victim).join("conversation.json").exists());
    let again = std::fs::metadata(run.join(&keeper).join("conversation.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(kept, again, "finished conversations are not redone");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('[')).count(),
        1,
        "only one conversation ran: {stderr}"
    );
}

#[test]
fn dry_run_plans_without_connecting_and_the_budget_stops_new_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("never");
    let out = rehearse(&[
        "run",
        "--agent",
        "agents/support.yaml",
        "--agent",
        "agents/support-openai.yaml",
        "--repeat",
        "2",
        "--dry-run",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("plan: 32 conversations"), "{text}");
    assert!(
        text.contains("support: 16 conversations on the local emulator (free)"),
        "{text}"
    );
    assert!(
        text.contains("support-openai: 16 conversations on gpt-realtime, estimated $"),
        "{text}"
    );
    assert!(!out_dir.exists(), "a dry run writes nothing");

    let run = tmp.path().join("budget");
    let out = mini_run(&run, &["--max-cost", "0.000001", "--concurrency", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(&run);
    assert_eq!(
        m["counts"]["completed"], 1,
        "the first call spends the budget"
    );
    assert_eq!(m["counts"]["not_started"], 3);
    let csv = std::fs::read_to_string(run.join("conversations.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        2,
        "calls never started are not reported as results"
    );
}
