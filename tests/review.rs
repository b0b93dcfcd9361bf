//! `rehearse review` as an HTTP server, driven over loopback: it lists a
//! run's calls, saves labels, refuses what it cannot label, answers only
//! its own address, and listens on loopback only. (The page itself is
//! driven in headless Chromium by `.ci/run`.)

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{mini, run_quick};

struct ReviewServer {
    child: Child,
    url: String,
}

impl Drop for ReviewServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(run: &std::path::Path) -> ReviewServer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .args([
            "review",
            run.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--reviewer",
            "ana",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("review: ")
        .expect("the review URL")
        .to_string();
    ReviewServer { child, url }
}

#[tokio::test]
async fn the_review_server_lists_calls_saves_labels_and_answers_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_quick(&mini(), &run, &[], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start(&run);
    let http = rehearse::http::client(std::time::Duration::from_secs(10));

    let calls: serde_json::Value = http
        .get(format!("{}api/run", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["reviewer"], "ana");
    let call = &calls["calls"][0];
    assert_eq!(call["dir"], "conversations/desk/quick/0");
    assert!(call["transcript"].as_array().unwrap().len() >= 4);
    let page = http
        .get(&server.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<title>rehearse review</title>")
            && !page.contains("http://")
            && !page.contains("https://")
    );

    let post = |body: serde_json::Value| {
        http.post(format!("{}api/labels", server.url))
            .json(&body)
            .send()
    };
    let saved = post(
        serde_json::json!({"conversation": "conversations/desk/quick/0", "item": "overall",
        "verdict": "fail", "note": "too slow", "reviewer": "ana"}),
    )
    .await
    .unwrap();
    assert_eq!(saved.status(), 200);
    let labels = std::fs::read_to_string(run.join("labels.jsonl")).unwrap();
    assert!(
        labels.contains("\"verdict\":\"fail\"") && labels.contains("\"note\":\"too slow\""),
        "{labels}"
    );
    for (body, status) in [
        (
            serde_json::json!({"conversation": "conversations/desk/quick/0", "item": "no.such.check", "verdict": "pass", "reviewer": "ana"}),
            400,
        ),
        (
            serde_json::json!({"conversation": "conversations/desk/quick/0", "item": "overall", "verdict": "maybe", "reviewer": "ana"}),
            400,
        ),
        (
            serde_json::json!({"conversation": "conversations/desk/quick/0", "item": "overall", "verdict": "pass", "reviewer": " "}),
            400,
        ),
        (
            serde_json::json!({"conversation": "../../etc", "item": "overall", "verdict": "pass", "reviewer": "ana"}),
            404,
        ),
    ] {
        let response = post(body.clone()).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
    }
    assert_eq!(
        std::fs::read_to_string(run.join("labels.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );

    // Another host name (a rebinding page) or another origin is refused.
    let foreign = http
        .get(format!("{}api/run", server.url))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let cross = http
        .post(format!("{}api/labels", server.url))
        .header("origin", "http://evil.example")
        .json(&serde_json::json!({"conversation": "conversations/desk/quick/0", "item": "overall", "verdict": "pass", "reviewer": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let wav = http
        .get(format!("{}audio/0", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(wav.headers()["content-type"], "audio/wav");

    let public = Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .args(["review", run.to_str().unwrap(), "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(public.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&public.stderr).contains("loopback only"));
}
