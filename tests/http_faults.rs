//! The HTTP side (judges, transcription, chat callers, speech) under the
//! faults real endpoints and proxies produce, on a local server: dropped
//! connections, stalls, cut-off bodies, HTML error pages, rate limits with
//! a requested wait, server errors, and final refusals.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::http::{HttpFault, Response, serve};
use rehearse::retry::{RetryPolicy, send_with_retries};
use rehearse::transcription::{HttpTranscriber, Transcriber};
use serde_json::{Value, json};

/// Quick retries so the suite stays fast; the waits' shape is unit-tested.
const FAST: RetryPolicy = RetryPolicy {
    attempts: 4,
    base: Duration::from_millis(20),
    max_backoff: Duration::from_millis(100),
    max_retry_after: Duration::from_secs(5),
};

type MakeResponse = dyn Fn() -> Response + Send + Sync;

fn ok() -> Response {
    Response::json(200, json!({"text": "my order number is N W 1 2 3"}))
}

/// A server whose first `bad` replies come from `first`, then `ok()`.
async fn flaky(
    bad: usize,
    first: impl Fn() -> Response + Send + Sync + 'static,
) -> common::http::TestServer {
    let count = AtomicUsize::new(0);
    serve(Arc::new(move |_| {
        if count.fetch_add(1, Ordering::SeqCst) < bad {
            first()
        } else {
            ok()
        }
    }))
    .await
}

async fn post(server: &common::http::TestServer) -> Result<Value, rehearse::retry::HttpFailure> {
    let client = rehearse::http::client(Duration::from_millis(500));
    let url = format!("{}/chat/completions", server.base);
    send_with_retries(
        &FAST,
        "the judge endpoint",
        || client.post(&url).json(&json!({"model": "m"})),
        |b| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string()),
    )
    .await
}

#[tokio::test]
async fn wire_faults_are_retried_until_a_good_reply() {
    let cases: Vec<(&str, Box<MakeResponse>)> = vec![
        (
            "dropped connection",
            Box::new(|| Response::fault(HttpFault::Drop)),
        ),
        (
            "cut-off body",
            Box::new(|| Response::fault(HttpFault::Truncate)),
        ),
        (
            "stall past the timeout",
            Box::new(|| Response::fault(HttpFault::Stall)),
        ),
        (
            "a proxy's HTML page",
            Box::new(|| Response {
                status: 200,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            }),
        ),
        (
            "server error",
            Box::new(|| Response::json(503, json!({"error": {"type": "server_error"}}))),
        ),
    ];
    for (what, first) in cases {
        let server = flaky(2, first).await;
        let reply = post(&server)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(reply["text"], "my order number is N W 1 2 3", "{what}");
        assert_eq!(
            server.requests.lock().unwrap().len(),
            3,
            "{what}: two failures, one success"
        );
    }
}

#[tokio::test]
async fn rate_limits_wait_as_long_as_the_server_asks() {
    let server = flaky(1, || {
        let mut r = Response::json(429, json!({"error": {"code": "rate_limit_exceeded"}}));
        r.headers.push(("retry-after-ms".into(), "400".into()));
        r
    })
    .await;
    let started = Instant::now();
    assert!(post(&server).await.is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "retried after {:?}, before the requested 400 ms",
        started.elapsed()
    );
}

#[tokio::test]
async fn final_refusals_fail_at_once_and_lasting_faults_give_up_with_the_cause() {
    for (status, extra, tries) in [
        (400u16, None, 1usize),
        (401, None, 1),
        (429, Some(("x-should-retry", "false")), 1),
        (500, None, 4),
    ] {
        let server = serve(Arc::new(move |_| {
            let mut r = Response::json(status, json!({"error": {"message": "no"}}));
            if let Some((k, v)) = extra {
                r.headers.push((k.into(), v.into()));
            }
            r
        }))
        .await;
        let err = post(&server).await.unwrap_err();
        assert_eq!(
            server.requests.lock().unwrap().len(),
            tries,
            "HTTP {status}"
        );
        assert_eq!(err.attempts as usize, tries);
        assert!(
            err.to_string()
                .contains(&format!("the judge endpoint answered {status}")),
            "{err}"
        );
        assert!(
            !err.to_string().contains(&server.base),
            "no URL in messages: {err}"
        );
    }
}

#[tokio::test]
async fn the_transcriber_rides_out_a_dropped_connection_and_sends_its_key_only_as_a_header() {
    let server = flaky(1, || Response::fault(HttpFault::Drop)).await;
    let t = HttpTranscriber::new(
        &server.base,
        "gpt-4o-mini-transcribe",
        Some("sk-transcribe-FAKE-31337".into()),
    );
    let words = t
        .transcribe(None, Arc::new(vec![0i16; 24_000]))
        .await
        .expect("transcribed on the second try");
    assert_eq!(words.as_deref(), Some("my order number is N W 1 2 3"));
    let seen = server.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.path == "/v1/audio/transcriptions"
        && r.header("authorization") == Some("Bearer sk-transcribe-FAKE-31337")));
}
