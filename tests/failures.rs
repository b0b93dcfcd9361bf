//! Failure behaviour, through the real binary on 127.0.0.1: provider faults
//! are errors with their cause (never agent failures), transient ones are
//! tried again, a provider that is down trips the circuit breaker, Ctrl-C
//! stops cleanly, a run killed at any moment resumes to the same tables, and
//! limits fail calls with a clear message.

mod common;

use common::{read_json, rehearse};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

/// `rehearse ARGS` in the background, stdout discarded.
fn spawn_run(args: &[String], stderr: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .current_dir(common::repo())
        .args(args)
        .env("CI", "1")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start rehearse")
}

fn mini() -> PathBuf {
    common::repo().join("tests/fixtures/mini")
}

/// `run` on the mini project with the desk agent; `extra` appended.
fn mini_args(project: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--project",
        project.to_str().unwrap(),
        "--agent",
        "agents/desk.yaml",
        "--latency-ms",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn conversations(run: &Path) -> Vec<Value> {
    read_json(&run.join("run.json"))["conversations"]
        .as_array()
        .unwrap()
        .clone()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn each_provider_fault_is_an_error_with_its_cause_never_an_agent_failure() {
    // (fault, extra flags, what the recorded cause must say)
    let fatal = [
        ("drop=1", vec![], "the connection to the provider broke"),
        ("close:1011=1", vec![], "code 1011"),
        ("expire=1", vec![], "code 1001"),
        (
            "stall=1",
            vec!["--idle-timeout", "2s"],
            "timed out after 2s",
        ),
    ];
    for (fault, extra, cause) in fatal {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let mut flags = vec![
            "--scenario",
            "quick",
            "--retries",
            "0",
            "--emulator-faults",
            fault,
        ];
        flags.extend(extra);
        let out = rehearse(&mini_args(&mini(), &run, &flags));
        assert_eq!(out.status.code(), Some(3), "{fault}: {}", stderr(&out));
        let c = &conversations(&run)[0];
        assert_eq!(c["status"], "error", "{fault}");
        assert!(
            c["error"].as_str().unwrap().contains(cause),
            "{fault}: {c:#}"
        );
        assert_eq!(
            c["verdict"], "error",
            "{fault}: a provider fault is not a fail"
        );
        let dir = run.join(c["dir"].as_str().unwrap());
        let outcome = read_json(&dir.join("conversation.json"));
        assert_eq!(
            outcome["partial"], true,
            "{fault}: artifacts are marked partial"
        );
        assert!(dir.join("events.jsonl").exists() && dir.join("transcript.jsonl").exists());
        let sheet = read_json(&dir.join("scores.json"));
        assert!(
            sheet["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["status"] != "fail"),
            "{fault}: no check fails the agent for the provider's fault: {sheet:#}"
        );
        let csv = std::fs::read_to_string(run.join("conversations.csv")).unwrap();
        assert!(
            csv.lines().nth(1).unwrap().contains(",error,,error,"),
            "{fault}: {csv}"
        );
        if fault.starts_with("expire") {
            let errors = outcome["protocol_errors"].to_string();
            assert!(errors.contains("session_expired"), "{errors}");
        }
    }

    // Faults a robust client rides out: the call completes and the fault is
    // on the record as a protocol error.
    let survivable = [
        ("garbage=1", "unreadable_frame"),
        ("truncated=1", "unreadable_frame"),
        ("rate_limit=1", "rate_limit_exceeded"),
        ("delay:700ms=1", ""),
    ];
    for (fault, recorded) in survivable {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let flags = [
            "--scenario",
            "quick",
            "--retries",
            "0",
            "--emulator-faults",
            fault,
        ];
        let out = rehearse(&mini_args(&mini(), &run, &flags));
        assert!(out.status.success(), "{fault}: {}", stderr(&out));
        let c = &conversations(&run)[0];
        assert_eq!(
            (&c["status"], &c["verdict"]),
            (&"completed".into(), &"pass".into()),
            "{fault}"
        );
        let dir = run.join(c["dir"].as_str().unwrap());
        let outcome = read_json(&dir.join("conversation.json"));
        assert!(
            outcome["protocol_errors"].to_string().contains(recorded),
            "{fault}: {outcome:#}"
        );
        if !recorded.is_empty() {
            let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
            assert!(events.contains(recorded), "{fault}: the event log keeps it");
        }
    }
}

#[test]
fn transient_failures_are_tried_again_and_every_try_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let flags = [
        "--scenario",
        "quick",
        "--repeat",
        "6",
        "--seed",
        "3",
        "--retries",
        "4",
        "--emulator-faults",
        "drop=0.3,close:1013=0.2",
    ];
    let out = rehearse(&mini_args(&mini(), &run, &flags));
    assert!(out.status.success(), "{}", stderr(&out));
    let all = conversations(&run);
    assert!(
        all.iter()
            .all(|c| c["status"] == "completed" && c["verdict"] == "pass"),
        "{all:#?}"
    );
    let retried: Vec<&Value> = all
        .iter()
        .filter(|c| c["attempts"].as_u64() > Some(1))
        .collect();
    assert!(
        !retried.is_empty(),
        "with half the sessions faulty, some calls needed another try"
    );
    for c in retried {
        let dir = run.join(c["dir"].as_str().unwrap());
        let outcome = read_json(&dir.join("conversation.json"));
        let tries = outcome["attempts"].as_u64().unwrap();
        assert_eq!(
            outcome["failed_attempts"].as_array().unwrap().len() as u64,
            tries - 1
        );
        for n in 1..tries {
            assert!(
                dir.join(format!("attempts/{n}/events.jsonl")).exists(),
                "try {n} of {} is kept",
                dir.display()
            );
        }
    }
}

#[test]
fn a_provider_that_is_down_trips_its_circuit_breaker_and_other_agents_go_on() {
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&mini(), project.path());
    common::write_unreachable_agent(project.path(), "down");
    let run = project.path().join("run");
    let args = mini_args(
        project.path(),
        &run,
        &[
            "--agent",
            "agents/down.yaml",
            "--scenario",
            "quick",
            "--repeat",
            "8",
            "--concurrency",
            "1",
            "--retries",
            "0",
            "--circuit-breaker",
            "3",
        ],
    );
    let out = rehearse(&args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let all = conversations(&run);
    let down: Vec<&Value> = all.iter().filter(|c| c["variant"] == "down").collect();
    let errors = down.iter().filter(|c| c["status"] == "error").count();
    let skipped: Vec<&&Value> = down
        .iter()
        .filter(|c| c["not_started"].is_string())
        .collect();
    assert_eq!((errors, skipped.len()), (3, 5), "{down:#?}");
    assert!(
        skipped[0]["not_started"]
            .as_str()
            .unwrap()
            .contains("circuit breaker")
    );
    assert!(
        skipped[0]["not_started"]
            .as_str()
            .unwrap()
            .contains("could not connect")
    );
    assert!(
        all.iter()
            .filter(|c| c["variant"] == "desk")
            .all(|c| c["status"] == "completed"),
        "the breaker is per agent"
    );
    let counts = &read_json(&run.join("run.json"))["counts"];
    assert_eq!(
        (counts["error"].as_u64(), counts["not_started"].as_u64()),
        (Some(3), Some(5))
    );
    assert!(
        stderr(&out).contains("down: the circuit breaker opened"),
        "said when it happens"
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        summary.contains("## Not run")
            && summary.contains("| down | 5 | the circuit breaker opened"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_handshake_is_retried_after_the_wait_it_asks_for_unless_it_is_final() {
    use common::http::{Response, serve};
    for (status, tries) in [(429u16, 2usize), (401, 1)] {
        let server = serve(Arc::new(move |_| Response {
            status,
            headers: vec![("retry-after".into(), "1".into())],
            body: b"{\"error\":{\"code\":\"rate_limit_exceeded\"}}".to_vec(),
        }))
        .await;
        let project = tempfile::tempdir().unwrap();
        common::copy_dir(&mini(), project.path());
        let url = server.base.replace("http://", "ws://");
        std::fs::write(
            project.path().join("agents/limited.yaml"),
            format!("name: limited\nprovider: custom\nurl: {url}/realtime\n"),
        )
        .unwrap();
        let run = project.path().join("run");
        let mut args = mini_args(
            project.path(),
            &run,
            &["--scenario", "quick", "--retries", "1"],
        );
        args[4] = "agents/limited.yaml".into();
        let out = tokio::task::spawn_blocking(move || rehearse(&args))
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let c = &conversations(&run)[0];
        assert!(
            c["error"]
                .as_str()
                .unwrap()
                .contains(&format!("HTTP {status}")),
            "{c:#}"
        );
        let seen = server.requests.lock().unwrap().clone();
        assert_eq!(seen.len(), tries, "HTTP {status}");
        if tries == 2 {
            let outcome = read_json(
                &run.join(c["dir"].as_str().unwrap())
                    .join("conversation.json"),
            );
            assert_eq!(outcome["attempts"], 2);
        }
    }
}

#[test]
fn too_much_agent_audio_ends_the_call_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let flags = ["--scenario", "quick", "--max-audio-minutes", "0.05"];
    let out = rehearse(&mini_args(&mini(), &run, &flags));
    assert_eq!(out.status.code(), Some(3));
    let c = &conversations(&run)[0];
    assert!(
        c["error"]
            .as_str()
            .unwrap()
            .contains("more than 3 s of audio in one call (limit: --max-audio-minutes)"),
        "{c:#}"
    );
    assert!(c["attempts"].is_null(), "a limit is not retried");
}

#[test]
fn ctrl_c_stops_cleanly_and_resume_finishes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let args = mini_args(
        &mini(),
        &run,
        &[
            "--scenario",
            "quick",
            "--repeat",
            "4",
            "--concurrency",
            "2",
            "--pace",
            "realtime",
        ],
    );
    let child = spawn_run(&args, Stdio::piped());
    // Wait (bounded) until one call has finished and others are under way.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no call finished in time");
        let done = std::fs::read(run.join("run.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|m| m["counts"]["completed"].as_u64())
            .unwrap_or(0);
        if done >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    // The shell's own `kill`: present wherever `sh` is.
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status();
    assert!(sent.unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--resume"),
        "the user is told how to go on"
    );

    let all = conversations(&run);
    let status = |s: &str| all.iter().filter(|c| c["status"] == s).count();
    assert!(status("interrupted") >= 1, "{all:#?}");
    assert_eq!(
        status("completed")
            + status("interrupted")
            + all.iter().filter(|c| c["not_started"].is_string()).count(),
        4,
        "every call is accounted for: {all:#?}"
    );
    let mut kept = Vec::new();
    for c in &all {
        let dir = run.join(c["dir"].as_str().unwrap());
        match c["status"].as_str() {
            Some("interrupted") => {
                let o = read_json(&dir.join("conversation.json"));
                assert_eq!(
                    (&o["status"], &o["partial"]),
                    (&"interrupted".into(), &true.into())
                );
                // A call stopped while it was still connecting has recorded
                // nothing yet (a call starts the moment a slot frees, so one
                // can be that young); once recording began, both tracks are
                // valid WAV files up to the stop.
                if dir.join("events.jsonl").exists() {
                    for track in ["agent.wav", "customer.wav"] {
                        let wav = hound::WavReader::open(dir.join(track));
                        assert!(wav.is_ok(), "{track} of {}: {:?}", dir.display(), wav.err());
                    }
                }
            }
            Some("completed") => {
                assert!(dir.join("scores.json").exists());
                kept.push((
                    dir.clone(),
                    std::fs::metadata(dir.join("conversation.json"))
                        .unwrap()
                        .modified()
                        .unwrap(),
                ));
            }
            _ => {}
        }
    }
    assert!(
        run.join("report.html").exists(),
        "what finished is reported"
    );

    let mut resume = args.clone();
    resume.push("--resume".into());
    let out = rehearse(&resume);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = conversations(&run);
    assert!(all.iter().all(|c| c["status"] == "completed"), "{all:#?}");
    for (dir, at) in kept {
        let again = std::fs::metadata(dir.join("conversation.json"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(at, again, "finished calls are not redone");
    }
}

/// A table with the columns that measure wall-clock time (and the run id)
/// dropped, sorted into a stable order.
fn comparable(path: &Path, drop: &[&str], by: &[&str]) -> DataFrame {
    let file = std::fs::File::open(path).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    let keep: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .filter(|c| !drop.contains(&c.as_str()))
        .collect();
    df.select(keep)
        .unwrap()
        .sort(by.to_vec(), SortMultipleOptions::default())
        .unwrap()
}

/// A table as CSV text, to show in a failure message.
fn csv(df: &mut DataFrame) -> String {
    let mut out = Vec::new();
    CsvWriter::new(&mut out).finish(df).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn tables(run: &Path) -> (DataFrame, DataFrame) {
    let conversations = comparable(
        &run.join("conversations.parquet"),
        &[
            "run_id",
            "duration_s",
            "agent_ttfa_p50_ms",
            "agent_ttfa_p95_ms",
        ],
        &["variant", "scenario", "repeat"],
    );
    let results = comparable(
        &run.join("results.parquet"),
        &["run_id"],
        &["variant", "scenario", "repeat", "check"],
    );
    (conversations, results)
}

#[test]
fn a_run_killed_at_random_moments_resumes_to_the_tables_of_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let flags = ["--repeat", "2", "--concurrency", "2", "--seed", "11"];
    let reference = tmp.path().join("reference");
    let out = rehearse(&mini_args(&mini(), &reference, &flags));
    assert!(out.status.success(), "{}", stderr(&out));

    let run = tmp.path().join("killed");
    let mut args = mini_args(&mini(), &run, &flags);
    args.push("--resume".into());
    let mut rng = StdRng::seed_from_u64(2026);
    let mut kills = 0;
    // Bounded: at most 8 kills, then one run to the end.
    for _ in 0..8 {
        let mut child = spawn_run(&args, Stdio::null());
        std::thread::sleep(Duration::from_millis(rng.random_range(50..1500)));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL: no cleanup of any kind
        let _ = child.wait();
        if finished {
            break;
        }
        kills += 1;
        if let Ok(bytes) = std::fs::read(run.join("run.json")) {
            serde_json::from_slice::<Value>(&bytes).expect("run.json is never torn");
        }
    }
    assert!(kills >= 1, "the run was killed at least once");
    let out = rehearse(&args);
    assert!(out.status.success(), "{}", stderr(&out));

    let (want_c, want_r) = tables(&reference);
    let (got_c, got_r) = tables(&run);
    assert!(
        got_c.equals_missing(&want_c),
        "conversations differ after {kills} kills:\n{}\n{}",
        csv(&mut got_c.clone()),
        csv(&mut want_c.clone())
    );
    assert!(
        got_r.equals_missing(&want_r),
        "results differ after {kills} kills:\n{}\n{}",
        csv(&mut got_r.clone()),
        csv(&mut want_r.clone())
    );
}

#[test]
fn sigterm_stops_like_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let args = mini_args(
        &mini(),
        &run,
        &["--scenario", "quick", "--pace", "realtime"],
    );
    let child = spawn_run(&args, Stdio::piped());
    // Wait (bounded) until the call is under way: its event log has lines.
    let events = run.join("conversations/desk/quick/0/events.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&events).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the call never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status();
    assert!(sent.unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let c = &conversations(&run)[0];
    assert_eq!(c["status"], "interrupted", "{c:#}");
    let counts = &read_json(&run.join("run.json"))["counts"];
    assert_eq!(counts["interrupted"], 1);
    // Reported as not decided: neither a fail nor a provider error.
    let csv = std::fs::read_to_string(run.join("conversations.csv")).unwrap();
    assert!(csv.contains(",interrupted,,undecided,"), "{csv}");
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped message=\"interrupted by a stop"),
        "{junit}"
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.contains("## Not run") && summary.contains("interrupted by a stop"));
}
