//! API keys stay in memory: a run against local servers that demand keys,
//! with trace logging on, must not write a recognisable fake key into any
//! file, log line or message — whether the key is accepted or refused.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::http::{Response, serve};
use serde_json::json;

const AGENT_KEY: &str = "sk-proj-FAKE-agent-7c1e5b9a";
const WRONG_KEY: &str = "sk-proj-FAKE-wrong-44d0e2f3";
const TRANSCRIBE_KEY: &str = "sk-proj-FAKE-stt-0b8a6d21";

fn assert_absent(haystack: &[u8], what: &str) {
    for key in [AGENT_KEY, WRONG_KEY, TRANSCRIBE_KEY] {
        // The distinctive middle of the key, so a masked or cut copy shows too.
        let core = &key[8..];
        assert!(
            !haystack.windows(core.len()).any(|w| w == core.as_bytes()),
            "{what} contains (part of) a key"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_never_reach_a_written_byte_accepted_or_refused() {
    let stt = serve(Arc::new(|_| Response::json(200, json!({"text": "hello"})))).await;
    // The emulator demands the agent key; it plays the sample support agent.
    let mut emulator = Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .current_dir(common::repo())
        .args(["emulator", "--listen", "127.0.0.1:0", "--latency-ms", "0"])
        .args(["--require-key-env", "EMULATOR_KEY"])
        .env("EMULATOR_KEY", AGENT_KEY)
        .env("REHEARSE_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(emulator.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ws = line.trim().rsplit(' ').next().unwrap().to_string();
    let base = ws
        .replace("ws://", "http://")
        .replace("/v1/realtime", "/v1");

    let tmp = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (key, expect_ok) in [(AGENT_KEY, true), (WRONG_KEY, false)] {
        let run = tmp
            .path()
            .join(if expect_ok { "accepted" } else { "refused" });
        let args: Vec<String> = [
            "run",
            "--agent",
            "agents/support-openai.yaml",
            "--scenario",
            "happy-path-refund",
            "--retries",
            "0",
            "--transcription-url",
            &stt.base,
            "--transcription-key-env",
            "STT_KEY",
            "--out",
            run.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (base, key) = (base.clone(), key.to_string());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_rehearse"))
                .current_dir(common::repo())
                .args(&args)
                .env("CI", "1")
                .env("REHEARSE_LOG", "trace")
                .env("OPENAI_BASE_URL", base)
                .env("OPENAI_API_KEY", key)
                .env("STT_KEY", TRANSCRIBE_KEY)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
        let status = &manifest["conversations"][0]["status"];
        if expect_ok {
            assert_eq!(
                status,
                "completed",
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert_eq!(status, "error");
            let error = manifest["conversations"][0]["error"].as_str().unwrap();
            assert!(
                error.contains("the provider refused the session: invalid_api_key"),
                "{error}"
            );
        }
        for file in common::files_under(&run) {
            assert_absent(&std::fs::read(&file).unwrap(), &file.display().to_string());
        }
        assert_absent(&out.stdout, "the run's stdout");
        assert_absent(&out.stderr, "the run's stderr (trace logging)");
        outputs.push(out);
    }
    // The keys were really used, so the scan above is not vacuous.
    let seen = stt.requests.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the transcription endpoint was called");
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TRANSCRIBE_KEY}")))
    );

    let _ = emulator.kill();
    let mut log = Vec::new();
    emulator
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut log)
        .unwrap();
    let _ = emulator.wait();
    assert_absent(&log, "the emulator's trace log");
    assert!(
        !log.is_empty() || outputs.iter().any(|o| !o.stderr.is_empty()),
        "trace logging was on"
    );
}
