//! LLM-as-judge scoring end to end against a local OpenAI-compatible server
//! (structured output, prose-wrapped output, malformed output, 429 with
//! retry-after, timeouts, sampling), and `rehearse rescore`: cache hits,
//! bit-for-bit reproduction, and rubric edits reflected without new calls.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::http::{Request, Response};
use serde_json::{Value, json};

fn rehearse(args: &[String]) -> std::process::Output {
    common::rehearse_in(
        &common::repo(),
        args,
        &[("TEST_JUDGE_KEY", "sk-judge-SECRET-777")],
    )
}

fn reply(content: &str) -> Response {
    Response::json(
        200,
        json!({"choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}),
    )
}

const RUBRIC: &str = r#"
name: quality
judge:
  url: BASE
  model: judge-model
  api_key_env: TEST_JUDGE_KEY
  temperature: 0
  seed: 10
  timeout_s: 1
  price_per_mtok: [1.0, 2.0]
criteria:
  - id: sampled
    kind: judge
    question: "CASE-SAMPLED Did the agent find the order?"
    samples: 3
  - id: wrapped
    kind: judge
    question: "CASE-WRAPPED How helpful was the agent?"
    scale: one_to_five
    threshold: 4
  - id: limited
    kind: judge
    question: "CASE-429 Was the agent polite?"
  - id: garbage
    kind: judge
    question: "CASE-GARBAGE Anything?"
  - id: slow
    kind: judge
    question: "CASE-SLOW Anything?"
"#;

fn check<'a>(sheet: &'a Value, name: &str) -> &'a Value {
    sheet["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn judges_are_asked_cached_and_rescored() {
    let limited_calls = Arc::new(AtomicUsize::new(0));
    let seen_auth = Arc::new(Mutex::new(Vec::<String>::new()));
    let (lc, auth) = (limited_calls.clone(), seen_auth.clone());
    let server = common::http::serve(Arc::new(move |req: &Request| {
        auth.lock().unwrap().push(req.header("authorization").unwrap_or("").to_string());
        let body = req.json();
        assert_eq!(body["response_format"]["type"], "json_schema", "structured output requested");
        let prompt = body["messages"][1]["content"][0]["text"].as_str().unwrap_or("").to_string();
        let seed = body["seed"].as_u64().unwrap_or(0);
        if prompt.contains("CASE-SAMPLED") {
            // Two of three samples pass.
            let verdict = if seed == 12 { "fail" } else { "pass" };
            return reply(&json!({"verdict": verdict, "score": 1, "reasoning": "r", "evidence": ["I found your order"]}).to_string());
        }
        if prompt.contains("CASE-WRAPPED") {
            return reply("Sure, here is my verdict:\n```json\n{\"verdict\": \"5\", \"score\": 5, \"reasoning\": \"clear {and} kind\", \"evidence\": []}\n```");
        }
        if prompt.contains("CASE-429") {
            if lc.fetch_add(1, Ordering::SeqCst) == 0 {
                return Response {
                    status: 429,
                    headers: vec![("retry-after".into(), "0".into()), ("content-type".into(), "application/json".into())],
                    body: br#"{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}"#.to_vec(),
                };
            }
            return reply(r#"{"verdict": "pass", "score": 1, "reasoning": "polite", "evidence": []}"#);
        }
        if prompt.contains("CASE-SLOW") {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            return reply(r#"{"verdict": "pass", "score": 1, "reasoning": "late", "evidence": []}"#);
        }
        reply("I am unable to provide a verdict for this call.")
    }))
    .await;

    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&common::repo().join("tests/fixtures/mini"), project.path());
    std::fs::create_dir_all(project.path().join("rubrics")).unwrap();
    let rubric_path = project.path().join("rubrics/quality.yaml");
    std::fs::write(&rubric_path, RUBRIC.replace("BASE", &server.base)).unwrap();
    let run = project.path().join("run");
    let p = project.path().to_str().unwrap().to_string();
    let r = run.to_str().unwrap().to_string();
    let args: Vec<String> = [
        "run",
        "--project",
        &p,
        "--agent",
        "agents/desk.yaml",
        "--scenario",
        "quick",
        "--out",
        &r,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || rehearse(&args))
        .await
        .unwrap();
    // Some of these judges cannot give a verdict: the call is recorded and
    // scored, and the run says it has errors (a provider's, not the agent's).
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no verdict"), "{stderr}");
    // Under a gate that any result passes, too: a gate never turns a
    // judge's failure into the agent's pass or fail.
    let gate = project.path().join("gate.yaml");
    std::fs::write(&gate, "rules:\n  - min_pass_rate: 0.0\n").unwrap();
    let report: Vec<String> = ["report", &r, "--gate", gate.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = tokio::task::spawn_blocking(move || rehearse(&report))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scores_path = run.join("conversations/desk/quick/0/scores.json");
    let sheet: Value = serde_json::from_slice(&std::fs::read(&scores_path).unwrap()).unwrap();

    let sampled = check(&sheet, "judge.quality.sampled");
    assert_eq!(sampled["status"], "pass", "majority of 3: {sampled:#}");
    assert!((sampled["evidence"]["agreement"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(sampled["evidence"]["samples"].as_array().unwrap().len(), 3);
    assert_eq!(sampled["evidence"]["model"], "judge-model");
    assert_eq!(sampled["evidence"]["usage"]["prompt_tokens"], 300);
    assert!(
        (sampled["evidence"]["cost_usd"].as_f64().unwrap() - (300.0 * 1.0 + 60.0 * 2.0) / 1e6)
            .abs()
            < 1e-12
    );
    let wrapped = check(&sheet, "judge.quality.wrapped");
    assert_eq!(
        (wrapped["status"].as_str(), wrapped["value"].as_f64()),
        (Some("pass"), Some(5.0)),
        "tolerant extraction"
    );
    assert_eq!(
        check(&sheet, "judge.quality.limited")["status"],
        "pass",
        "retried after 429"
    );
    assert_eq!(limited_calls.load(Ordering::SeqCst), 2);
    let garbage = check(&sheet, "judge.quality.garbage");
    assert_eq!(
        garbage["status"], "error",
        "unparseable is an error, not a fail"
    );
    assert!(
        garbage["reason"]
            .as_str()
            .unwrap()
            .contains("not a JSON verdict")
    );
    let slow = check(&sheet, "judge.quality.slow");
    assert_eq!(slow["status"], "error", "a timeout is an error: {slow:#}");
    assert_eq!(
        sheet["verdict"], "error",
        "errors without fails make the verdict error"
    );
    assert!(
        seen_auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a == "Bearer sk-judge-SECRET-777")
    );

    // Rescoring with nothing changed: bit for bit, and no call for cached answers.
    let before_bytes = std::fs::read(&scores_path).unwrap();
    let asked = server.requests.lock().unwrap().len();
    let rescore: Vec<String> = ["rescore", &r, "--project", &p]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let again = rescore.clone();
    let out = tokio::task::spawn_blocking(move || rehearse(&again))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_requests: Vec<String> = server.requests.lock().unwrap()[asked..]
        .iter()
        .map(|r| {
            r.json()["messages"][1]["content"][0]["text"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(20)
                .collect()
        })
        .collect();
    assert!(
        new_requests
            .iter()
            .all(|p| p.contains("CASE-GARBAGE") || p.contains("CASE-SLOW") || !p.contains("CASE")),
        "only uncached (failed) questions are asked again: {new_requests:?}"
    );
    let after: Value = serde_json::from_slice(&std::fs::read(&scores_path).unwrap()).unwrap();
    let strip = |v: &Value| {
        let mut v = v.clone();
        v["checks"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["name"] != "judge.quality.slow" && c["name"] != "judge.quality.garbage");
        v
    };
    assert_eq!(
        strip(&after),
        strip(&serde_json::from_slice::<Value>(&before_bytes).unwrap())
    );

    // A rubric edit (a stricter threshold) is reflected without a new call.
    std::fs::write(
        &rubric_path,
        RUBRIC
            .replace("BASE", &server.base)
            .replace("threshold: 4", "threshold: 5.5"),
    )
    .unwrap();
    let asked = server.requests.lock().unwrap().len();
    let out = tokio::task::spawn_blocking(move || rehearse(&rescore))
        .await
        .unwrap();
    assert!(out.status.success());
    let edited: Value = serde_json::from_slice(&std::fs::read(&scores_path).unwrap()).unwrap();
    assert_eq!(check(&edited, "judge.quality.wrapped")["status"], "fail");
    let wrapped_asked = server.requests.lock().unwrap()[asked..].iter().any(|r| {
        r.json()["messages"][1]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("CASE-WRAPPED")
    });
    assert!(!wrapped_asked, "threshold edits reuse the cached verdict");
    // The judge key never lands on disk.
    for entry in common::files_under(&run) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(19).any(|w| w == b"sk-judge-SECRET-777"),
            "{} leaks the key",
            entry.display()
        );
    }
}

const STRICT_RUBRIC: &str = r#"
name: strict
judge:
  url: BASE
  model: judge-model
  timeout_s: 5
criteria:
  - id: plain
    kind: judge
    question: "CASE-OK Did the agent greet the caller?"
  - id: dotted
    kind: judge
    question: "CASE-DOTTED Did the agent find the order?"
  - id: sentence
    kind: judge
    question: "CASE-SENTENCE Was the agent brief?"
  - id: outcome
    kind: judge
    question: "CASE-LABEL How did the call end?"
    scale: { labels: [resolved, escalated] }
    threshold: [resolved]
"#;

/// A judge held to a schema typed by each criterion's scale, answering off
/// it anyway: those answers are errors naming the reply, never fails. And a
/// judge cache that cannot be written is a failed write: logged, counted,
/// listed, exit 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn off_scale_verdicts_are_errors_and_unwritable_caches_fail_the_run() {
    let schemas = Arc::new(Mutex::new(Vec::<(String, Value)>::new()));
    let seen = schemas.clone();
    let server = common::http::serve(Arc::new(move |req: &Request| {
        let body = req.json();
        let prompt = body["messages"][1]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let case = prompt
            .split_whitespace()
            .find(|w| w.starts_with("CASE-"))
            .unwrap_or("")
            .to_string();
        let verdict_schema =
            body["response_format"]["json_schema"]["schema"]["properties"]["verdict"].clone();
        seen.lock().unwrap().push((case.clone(), verdict_schema));
        let verdict = match case.as_str() {
            "CASE-OK" => json!("pass"),
            "CASE-DOTTED" => json!("Pass."),
            "CASE-SENTENCE" => json!("The agent was brief enough."),
            _ => json!("unsure"),
        };
        reply(
            &json!({"verdict": verdict, "score": 1, "reasoning": "r", "evidence": []}).to_string(),
        )
    }))
    .await;
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&common::repo().join("tests/fixtures/mini"), project.path());
    std::fs::create_dir_all(project.path().join("rubrics")).unwrap();
    std::fs::write(
        project.path().join("rubrics/strict.yaml"),
        STRICT_RUBRIC.replace("BASE", &server.base),
    )
    .unwrap();
    let run = project.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    // Where the judge cache goes there is a file: every cache write fails.
    std::fs::write(run.join("judge-cache"), b"not a folder").unwrap();
    let (dir, out_dir) = (project.path().to_path_buf(), run.clone());
    let out = tokio::task::spawn_blocking(move || {
        common::run_quick(
            &dir,
            &out_dir,
            &[],
            &[("TEST_JUDGE_KEY", "sk-judge-SECRET-777")],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a failed write fails the run: {stderr}"
    );
    assert!(stderr.contains("artifact writes failed"), "{stderr}");

    let sheet: Value = serde_json::from_slice(
        &std::fs::read(run.join("conversations/desk/quick/0/scores.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(check(&sheet, "judge.strict.plain")["status"], "pass");
    for (name, said) in [
        ("judge.strict.dotted", "\"Pass.\""),
        ("judge.strict.sentence", "The agent was brief enough."),
        ("judge.strict.outcome", "\"unsure\""),
    ] {
        let c = check(&sheet, name);
        assert_eq!(
            c["status"], "error",
            "an off-scale verdict is not a fail: {c:#}"
        );
        let reason = c["reason"].as_str().unwrap();
        assert!(
            reason.contains("not on the criterion's scale") && reason.contains(said),
            "{reason}"
        );
    }
    assert_eq!(sheet["verdict"], "error");
    // The schema each criterion asked for was typed by its scale.
    let schemas = schemas.lock().unwrap();
    let asked = |case: &str| schemas.iter().find(|(c, _)| c == case).unwrap().1.clone();
    assert_eq!(asked("CASE-OK")["enum"], json!(["pass", "fail"]));
    assert_eq!(
        asked("CASE-LABEL")["enum"],
        json!(["resolved", "escalated"])
    );

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    assert!(
        manifest["counts"]["write_errors"].as_u64().unwrap() >= 1,
        "{manifest:#}"
    );
    assert!(
        manifest["write_errors"][0]
            .as_str()
            .unwrap()
            .contains("judge-cache")
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        summary.contains("## Failed writes") && summary.contains("judge-cache"),
        "{summary}"
    );
}
