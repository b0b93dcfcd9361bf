//! Output guardrails end to end, through the real binary against the
//! emulator (audio made at twice playback speed, the transcript 200 ms
//! ahead, as tests/fixtures/guardrails/agents/shop.yaml sets it):
//! - a regex guardrail stops a refund promise early or late in a turn,
//!   checked every 10 or every 200 characters, and the record says what
//!   the caller heard of it;
//! - a judge guardrail behind a local chat server records its latency and
//!   cost, and a slow classifier shows up as heard milliseconds;
//! - `rehearse guardrails RUN --debounce …` replays a run per setting,
//!   asking the classifier only about text it has not answered.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::http::Response;
use serde_json::{Value, json};

fn fixture() -> PathBuf {
    common::repo().join("tests/fixtures/guardrails")
}

/// `rehearse run` of the fixture's `promise` call with these agent variants.
fn run(project: &Path, variants: &[&str], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "run".into(),
        "--project".into(),
        project.display().to_string(),
    ];
    for v in variants {
        args.extend(["--agent".into(), format!("agents/shop.yaml:{v}")]);
    }
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    common::rehearse_in(&common::repo(), &args, &[])
}

/// `rehearse guardrails RUN --project PROJECT --debounce DEBOUNCE`.
fn replay(run: &Path, project: &Path, debounce: &str) -> std::process::Output {
    common::rehearse(&[
        "guardrails",
        run.to_str().unwrap(),
        "--project",
        project.to_str().unwrap(),
        "--debounce",
        debounce,
    ])
}

fn call_dir(out: &Path, variant: &str) -> PathBuf {
    out.join(format!("conversations/shop~{variant}/promise/0"))
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The one trip of a call (its check record).
fn the_trip(dir: &Path) -> Value {
    let trips: Vec<Value> = jsonl(&dir.join("guardrails.jsonl"))
        .into_iter()
        .filter(|c| c["tripped"] == true)
        .collect();
    assert_eq!(trips.len(), 1, "{}: {trips:?}", dir.display());
    trips[0].clone()
}

fn check<'a>(scores: &'a Value, name: &str) -> &'a Value {
    scores["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {scores}"))
}

#[test]
fn a_regex_guardrail_cuts_promises_and_records_what_the_caller_heard() {
    let out = tempfile::tempdir().unwrap();
    let variants = ["early-small", "early-large", "late-small", "late-large"];
    let o = run(&fixture(), &variants, out.path(), &[]);
    // Calls fail (a promise was heard), but the run itself succeeds.
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut heard = BTreeMap::new();
    for v in variants {
        let dir = call_dir(out.path(), v);
        let trip = the_trip(&dir);
        let placed = &trip["trip"];
        assert_eq!(placed["trigger"], "full refund anyway");
        assert_eq!(placed["enforced"], true);
        // The agent's cut turn ends where the guardrail decided, names it,
        // and the fallback line follows.
        let transcript = jsonl(&dir.join("transcript.jsonl"));
        let cut = transcript
            .iter()
            .find(|u| u["guardrail"] == "no_refund_promise")
            .unwrap_or_else(|| panic!("{v}: no cut turn in {transcript:?}"));
        let decided = trip["decided_ms"].as_f64().unwrap();
        assert!(
            (cut["end_ms"].as_f64().unwrap() - decided).abs() < 5.0,
            "{v}: {cut} vs {trip}"
        );
        let next = transcript
            .iter()
            .skip_while(|u| u["guardrail"] != "no_refund_promise")
            .nth(1)
            .unwrap();
        assert_eq!(
            next["text"],
            "Sorry, I can't promise that. What's your order number?"
        );
        let scores = common::read_json(&dir.join("scores.json"));
        let caught = check(&scores, "guardrail.no_refund_promise.caught");
        let was_caught = placed["caught_before_heard"] == true;
        assert_eq!(
            caught["status"],
            if was_caught { "pass" } else { "fail" },
            "{v}"
        );
        let heard_ms = placed["heard_ms"].as_f64().unwrap();
        assert_eq!(
            scores["metrics"]["guardrail.heard_ms"].as_f64(),
            Some(heard_ms)
        );
        if was_caught {
            assert_eq!(heard_ms, 0.0);
            assert!(decided <= placed["words_start_ms"].as_f64().unwrap());
            assert!(
                !cut["text"].as_str().unwrap().contains("refund"),
                "{v}: {cut}"
            );
        } else {
            assert!(decided > placed["words_start_ms"].as_f64().unwrap());
        }
        heard.insert(v, heard_ms);
    }
    // Late in a turn, checked often: decided before the words played.
    assert_eq!(heard["late-small"], 0.0, "{heard:?}");
    // At the very start of a turn the words play almost as soon as their
    // text arrives: some are heard, and a check every 200 characters lets
    // the whole promise through.
    assert!(heard["early-small"] > 0.0, "{heard:?}");
    assert!(
        heard["early-large"] > heard["early-small"] + 300.0,
        "{heard:?}"
    );
    // What was heard in full is also a must_not_say failure.
    let scores = common::read_json(&call_dir(out.path(), "early-large").join("scores.json"));
    assert_eq!(
        check(&scores, "transcript.must_not_say:full refund anyway")["status"],
        "fail"
    );
    // The checks reach the JUnit report as test cases.
    let junit = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("guardrail.no_refund_promise.caught"),
        "{junit}"
    );

    // Replayed per setting: one row each, and the live cuts are noted.
    let o = replay(out.path(), &fixture(), "10,200");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(table.contains("| 10 | no_refund_promise |"), "{table}");
    assert!(table.contains("| 200 | no_refund_promise |"), "{table}");
    assert!(table.contains("cut by a live guardrail"), "{table}");
    let written = std::fs::read_to_string(out.path().join("guardrail-replay.md")).unwrap();
    assert_eq!(written.trim(), table.trim());
}

#[test]
fn observe_mode_records_trips_and_lets_the_response_play() {
    let out = tempfile::tempdir().unwrap();
    let o = run(
        &fixture(),
        &["early-large"],
        out.path(),
        &["--guardrails", "observe"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = call_dir(out.path(), "early-large");
    let trip = the_trip(&dir);
    assert_eq!(trip["trip"]["enforced"], false);
    let transcript = jsonl(&dir.join("transcript.jsonl"));
    assert!(transcript.iter().all(|u| u.get("guardrail").is_none()));
    assert!(
        transcript[0]["text"]
            .as_str()
            .unwrap()
            .ends_with("what's your order number please?"),
        "{}",
        transcript[0]
    );
    // The whole response is on record: a replay at every setting trips.
    let o = replay(out.path(), &fixture(), "0,10");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("| end only | no_refund_promise | 3 | 3 | 1 | 0/1 (0%) |"),
        "{table}"
    );
    assert!(table.contains("| 10 | no_refund_promise | 3 |"), "{table}");
    assert!(!table.contains("cut by a live guardrail"), "{table}");
}

/// A copy of the fixture with a `judged` variant: the early promise, checked
/// by a judge guardrail at `base`.
fn judged_project(base: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture(), project.path());
    let agent = project.path().join("agents/shop.yaml");
    let mut text = std::fs::read_to_string(&agent).unwrap();
    text.push_str(&format!(
        r#"  judged:
    stage_say:
      greet: "You'll get a full refund anyway, I promise you that much. Now, what's your order number please?"
    guardrails:
      - name: policy_judge
        kind: judge
        question: "Does the agent promise a refund?"
        judge: {{ url: "{base}", model: guard-model, price_per_mtok: [1.0, 2.0] }}
        debounce_chars: 40
        timeout_ms: 5000
"#
    ));
    std::fs::write(&agent, text).unwrap();
    project
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_judge_guardrail_records_latency_and_cost_and_a_slow_one_is_heard() {
    // Answers yes to text with the promise in it, after 900 ms.
    let server = common::http::serve(Arc::new(|req: &common::http::Request| {
        std::thread::sleep(Duration::from_millis(900));
        let body = req.json();
        let said = body["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let yes = said.contains("full refund anyway");
        let content = json!({"answer": if yes { "yes" } else { "no" },
                             "quote": if yes { "full refund anyway" } else { "" }});
        Response::json(
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": content.to_string()}}],
                   "usage": {"prompt_tokens": 200, "completion_tokens": 10}}),
        )
    }))
    .await;
    let project = judged_project(&server.base);
    let out = tempfile::tempdir().unwrap();
    let (p, o) = (project.path().to_path_buf(), out.path().to_path_buf());
    let result = tokio::task::spawn_blocking(move || run(&p, &["judged"], &o, &[]))
        .await
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dir = call_dir(out.path(), "judged");
    let checks = jsonl(&dir.join("guardrails.jsonl"));
    assert!(checks.iter().all(|c| c["kind"] == "judge"));
    for c in &checks {
        let latency = c["decided_ms"].as_f64().unwrap() - c["sent_ms"].as_f64().unwrap();
        assert!(latency >= 900.0, "{c}");
        assert_eq!(c["tokens"], json!([200, 10]));
    }
    let trip = the_trip(&dir);
    // The regex (early-small) hears about 200 ms of the promise; a
    // classifier that takes 900 ms lets all of it through.
    assert_eq!(trip["trip"]["caught_before_heard"], false);
    assert!(trip["trip"]["heard_ms"].as_f64().unwrap() > 700.0, "{trip}");
    let scores = common::read_json(&dir.join("scores.json"));
    let metrics = &scores["metrics"];
    assert!(metrics["guardrail.classifier_p50_ms"].as_f64().unwrap() >= 900.0);
    let cost = metrics["guardrail.cost_usd"].as_f64().unwrap();
    assert!((cost - checks.len() as f64 * 220e-6).abs() < 1e-9, "{cost}");
    let asked_live = server.requests.lock().unwrap().len();
    assert_eq!(asked_live, checks.len());

    // Replayed: the live checks' texts come from the cache; only new
    // texts are asked, and a second replay asks nothing.
    let replay_judged = |debounce: &'static str| {
        let (p, o) = (project.path().to_path_buf(), out.path().to_path_buf());
        tokio::task::spawn_blocking(move || replay(&o, &p, debounce))
    };
    let first = replay_judged("40,200").await.unwrap();
    let table = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        first.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let row = |table: &str, debounce: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(&format!("| {debounce} | policy_judge |")))
            .unwrap_or_else(|| panic!("no row {debounce} in {table}"))
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    // Columns: debounce, guardrail, responses, checks, trips, caught,
    // heard, words, latency, classifier calls, cost.
    assert_eq!(row(&table, "40")[10], "0", "{table}");
    let asked_after = server.requests.lock().unwrap().len();
    assert_eq!(
        row(&table, "200")[10],
        (asked_after - asked_live).to_string(),
        "{table}"
    );
    let p50: f64 = row(&table, "40")[9]
        .split(" / ")
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{table}"));
    assert!(p50 >= 900.0, "latency from the cache: {table}");
    let second = replay_judged("40,200").await.unwrap();
    let table = String::from_utf8_lossy(&second.stdout).to_string();
    assert_eq!(row(&table, "200")[10], "0", "{table}");
    assert_eq!(server.requests.lock().unwrap().len(), asked_after);
}
