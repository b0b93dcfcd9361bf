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
        text.contains(
            "support: 16 conversations on the local emulator (free; priced as gpt-realtime"
        ),
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

#[test]
fn shards_from_the_environment_of_a_k8s_indexed_job_or_a_ci_matrix_merge_into_the_whole_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mini = common::repo().join("tests/fixtures/mini");
    let run_in = |out: &Path, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "run",
            "--project",
            mini.to_str().unwrap(),
            "--agent",
            "agents/desk.yaml",
            "--scenario",
            "quick",
            "--scenario",
            "markup",
            "--repeat",
            "3",
            "--latency-ms",
            "0",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        common::rehearse_in(&common::repo(), &args, env)
    };
    let whole = tmp.path().join("whole");
    assert!(run_in(&whole, &[], &[]).status.success());
    // Four shards: two as pods of a Kubernetes Indexed Job (0-based index),
    // two as legs of a CI matrix (1-based).
    let envs: [&[(&str, &str)]; 4] = [
        &[("JOB_COMPLETION_INDEX", "0"), ("REHEARSE_SHARD_COUNT", "4")],
        &[("JOB_COMPLETION_INDEX", "1"), ("REHEARSE_SHARD_COUNT", "4")],
        &[("REHEARSE_SHARD_INDEX", "3"), ("REHEARSE_SHARD_COUNT", "4")],
        &[("REHEARSE_SHARD_INDEX", "4"), ("REHEARSE_SHARD_COUNT", "4")],
    ];
    let mut shards = Vec::new();
    let mut planned = 0;
    for (i, env) in envs.iter().enumerate() {
        let dir = tmp.path().join(format!("shard-{i}"));
        let out = run_in(&dir, &["--shard", "auto"], env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        planned += manifest(&dir)["counts"]["planned"].as_u64().unwrap();
        shards.push(dir.to_str().unwrap().to_string());
    }
    assert_eq!(planned, 6, "the shards split the plan without overlap");
    // A shard missing (a failed pod) is named, and nothing is merged.
    let partial = tmp.path().join("partial");
    let mut args = vec!["merge".to_string()];
    args.extend(shards[..3].iter().cloned());
    args.extend(["--out".into(), partial.to_str().unwrap().into()]);
    let out = rehearse(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shard 4 of 4 is missing"), "{stderr}");
    assert!(!partial.join("run.json").exists());

    let merged = tmp.path().join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(shards);
    args.extend(["--out".into(), merged.to_str().unwrap().into()]);
    let out = rehearse(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        outcomes(&merged),
        outcomes(&whole),
        "four shards merge into the whole run"
    );

    // A shard that cannot tell which it is refuses to run (exit 2).
    for env in [
        &[("JOB_COMPLETION_INDEX", "0")][..],
        &[("REHEARSE_SHARD_COUNT", "4")][..],
        &[
            ("JOB_COMPLETION_INDEX", "0"),
            ("REHEARSE_SHARD_INDEX", "2"),
            ("REHEARSE_SHARD_COUNT", "4"),
        ][..],
        &[("JOB_COMPLETION_INDEX", "4"), ("REHEARSE_SHARD_COUNT", "4")][..],
    ] {
        let out = run_in(&tmp.path().join("refused"), &["--shard", "auto"], env);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{env:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!tmp.path().join("refused").exists(), "nothing runs");
    }
}

/// The recipes in docs/ci.md: their `rehearse` command lines, with the
/// environment each engine sets, plan a complete split of the suite.
#[test]
fn the_documented_kubernetes_and_github_actions_recipes_shard_the_suite() {
    let doc = std::fs::read_to_string(common::repo().join("docs/ci.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```yaml")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let k8s = blocks
        .iter()
        .find(|b| b.contains("completionMode: Indexed"))
        .expect("a Kubernetes Indexed Job in docs/ci.md");
    let gha = blocks
        .iter()
        .find(|b| b.contains("matrix:") && b.contains("--shard auto"))
        .expect("a GitHub Actions matrix in docs/ci.md");
    for block in [k8s, gha] {
        let _: Value = serde_saphyr::from_str(block).expect("the recipe is valid YAML");
    }
    // The Job's container command and its shard count.
    let job: Value = serde_saphyr::from_str(k8s).unwrap();
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let completions = job["spec"]["completions"].as_u64().unwrap();
    let count = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "REHEARSE_SHARD_COUNT")
        .and_then(|e| e["value"].as_str())
        .expect("the Job sets REHEARSE_SHARD_COUNT");
    assert_eq!(
        count,
        completions.to_string(),
        "the count matches the Job's completions"
    );
    let command: Vec<String> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command[0], "rehearse");
    let mut total = 0;
    for index in 0..completions {
        let index = index.to_string();
        let env = [
            ("JOB_COMPLETION_INDEX", index.as_str()),
            ("REHEARSE_SHARD_COUNT", count),
        ];
        // What the pod would run, planned without calling anyone.
        // Its flags, planned instead of run (`--resume` and `--out` go with
        // a real run folder).
        let mut args: Vec<String> = command[1..]
            .iter()
            .take_while(|a| *a != "--out")
            .filter(|a| *a != "--resume")
            .cloned()
            .collect();
        args.push("--dry-run".into());
        let out = common::rehearse_in(&common::repo(), &args, &env);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u64 = text
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        total += n;
    }
    let all = common::rehearse_in(
        &common::repo(),
        &command[1..]
            .iter()
            .take_while(|a| *a != "--shard")
            .chain(["--dry-run".to_string()].iter())
            .cloned()
            .collect::<Vec<_>>(),
        &[],
    );
    let whole: u64 = String::from_utf8_lossy(&all.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(total, whole, "the Job's shards plan the whole suite");
    // The matrix legs are the shards 1..=N of REHEARSE_SHARD_COUNT, and a
    // merge job gathers them.
    let workflow: Value = serde_saphyr::from_str(gha).unwrap();
    let shard = &workflow["jobs"]["shard"];
    let legs: Vec<u64> = shard["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let count = shard["env"]["REHEARSE_SHARD_COUNT"].as_u64().unwrap();
    assert_eq!(legs, (1..=count).collect::<Vec<_>>());
    assert_eq!(shard["env"]["REHEARSE_SHARD_INDEX"], "${{ matrix.shard }}");
    let merge = workflow["jobs"]["merge"].to_string();
    assert!(merge.contains("-- merge shards/shard-*"), "{merge}");
}

/// A gpt-realtime-mini agent is reported and budgeted at mini prices: its
/// conversations table shows its model and that model's cost, and a budget
/// of 2.5 calls at mini prices lets three calls start (at gpt-realtime
/// prices the first call alone would spend it).
#[test]
fn a_mini_model_run_reports_and_budgets_its_own_price() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    common::copy_dir(&common::repo().join("tests/fixtures/mini"), &project);
    let agent = project.join("agents/desk.yaml");
    let text = std::fs::read_to_string(&agent).unwrap();
    std::fs::write(
        &agent,
        text.replacen(
            "provider: emulator",
            "provider: emulator\nmodel: gpt-realtime-mini",
            1,
        ),
    )
    .unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut flags = vec!["--concurrency", "1"];
        flags.extend_from_slice(extra);
        common::run_quick(&project, out, &flags, &[])
    };
    let one = tmp.path().join("one");
    assert!(run(&one, &[]).status.success());
    let outcome: Value = serde_json::from_slice(
        &std::fs::read(one.join("conversations/desk/quick/0/conversation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(outcome["model"], "gpt-realtime-mini");
    let usage: rehearse::run_folder::UsageTotals =
        serde_json::from_value(outcome["usage"].clone()).unwrap();
    let mini = rehearse::pricing::cost("gpt-realtime-mini", &usage).unwrap();
    let full = rehearse::pricing::cost("gpt-realtime", &usage).unwrap();
    assert!(
        full > 2.5 * mini,
        "the test needs mini to be this much cheaper: {full} vs {mini}"
    );
    let csv = std::fs::read_to_string(one.join("conversations.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("model"), "gpt-realtime-mini");
    let reported: f64 = col("cost_usd").parse().unwrap();
    assert!(
        (reported - mini).abs() < 1e-12,
        "reported {reported}, mini price {mini}"
    );

    let budget = format!("{}", 2.5 * mini);
    let budgeted = tmp.path().join("budgeted");
    let out = run(&budgeted, &["--repeat", "4", "--max-cost", &budget]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = &manifest(&budgeted)["counts"];
    assert_eq!(
        (counts["completed"].as_u64(), counts["not_started"].as_u64()),
        (Some(3), Some(1)),
        "spend counted at mini prices: {counts}"
    );
}
