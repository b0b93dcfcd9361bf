//! `rehearse review RUN`: a local review page for a run's calls. It serves
//! one self-contained page (nothing loaded from the network), the run's
//! calls as JSON, their recordings, and takes labels, each saved to the
//! run's `labels.jsonl` as it is made. Loopback only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::run_folder::{
    CONVERSATION_WAV, HumanVerdict, LabelRecord, OVERALL, PlannedConversation,
    RecordedConversation, RunFolder, RunFolderError, append_label, read_labels, read_scores,
};

const PAGE: &str = include_str!("page.html");
const MAX_NOTE: usize = 2_000;
const MAX_REVIEWER: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Folder(#[from] RunFolderError),
    #[error("--listen {0}: the review server listens on loopback only (127.0.0.1 or [::1])")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

struct Review {
    run: RunFolder,
    reviewer: String,
    /// The `Host` values a request may carry (this server's own address).
    hosts: Vec<String>,
    /// One label written at a time.
    writing: Mutex<()>,
}

/// A bound review server, before it serves.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Router,
    pub addr: SocketAddr,
}

impl Server {
    pub async fn bind(
        run_dir: &Path,
        listen: SocketAddr,
        reviewer: &str,
    ) -> Result<Server, ReviewError> {
        if !listen.ip().is_loopback() {
            return Err(ReviewError::NotLoopback(listen));
        }
        let run = RunFolder::open(run_dir)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| ReviewError::Bind(listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ReviewError::Bind(listen, e))?;
        let state = Arc::new(Review {
            run,
            reviewer: reviewer.to_string(),
            hosts: vec![addr.to_string(), format!("localhost:{}", addr.port())],
            writing: Mutex::new(()),
        });
        let app = Router::new()
            .route("/", get(page))
            .route("/api/run", get(run_json))
            .route("/api/labels", get(labels_json).post(save_label))
            .route("/audio/{index}", get(audio))
            // Browsers ask for one; there is none, and that is not an error.
            .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                own_host_only,
            ))
            .with_state(state);
        Ok(Server {
            listener,
            app,
            addr,
        })
    }

    /// Serves until `stop` resolves.
    pub async fn serve(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ReviewError> {
        axum::serve(self.listener, self.app)
            .with_graceful_shutdown(stop)
            .await
            .map_err(ReviewError::Serve)
    }
}

/// Refuses requests for any other host name, and cross-origin posts: a web
/// page that rebinds its own domain to 127.0.0.1 must not read the run's
/// calls or write labels.
async fn own_host_only(
    State(review): State<Arc<Review>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| review.hosts.iter().any(|h| o == format!("http://{h}")));
    if !review.hosts.iter().any(|h| h == host) || !origin_ok {
        return error(
            StatusCode::FORBIDDEN,
            "this review server answers its own address only",
        );
    }
    next.run(request).await
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The calls that have a record, in the manifest's order.
fn reviewable(run: &RunFolder) -> Vec<&PlannedConversation> {
    run.manifest
        .conversations
        .iter()
        .filter(|c| c.status.is_some_and(crate::run_folder::Status::has_record))
        .collect()
}

async fn run_json(State(review): State<Arc<Review>>) -> Response {
    let review = review.clone();
    match tokio::task::spawn_blocking(move || calls_json(&review)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Every reviewable call with what a reviewer needs to judge it.
fn calls_json(review: &Review) -> Result<Value, RunFolderError> {
    let run = &review.run;
    let mut calls = Vec::new();
    for (index, c) in reviewable(run).into_iter().enumerate() {
        let dir = run.conversation_dir(c);
        let rec = RecordedConversation::load(&dir)?;
        let sheet = read_scores(&dir)?;
        let checks: Vec<Value> = sheet
            .map(|s| {
                s.checks
                    .iter()
                    .map(|k| {
                        json!({"name": k.name, "kind": k.kind.as_str(), "status": k.status.as_str(),
                            "value": k.value, "threshold": k.threshold, "reason": k.reason, "evidence": k.evidence})
                    })
                    .collect()
            })
            .unwrap_or_default();
        calls.push(json!({
            "index": index,
            "dir": c.dir.display().to_string(),
            "label": c.label(),
            "verdict": c.verdict.map(|v| v.as_str()),
            "end_reason": rec.outcome.end_reason.map(|r| r.as_str()),
            "audio": dir.join(CONVERSATION_WAV).is_file(),
            "transcript": rec.transcript.iter().filter(|u| u.is_turn()).map(|u| json!({
                "at_ms": u.start_ms, "speaker": u.speaker.as_str(), "text": u.text, "interrupted": u.interrupted})).collect::<Vec<_>>(),
            "tools": rec.tools.iter().map(|t| json!({"name": t.name, "arguments": t.arguments, "output": t.output, "at_ms": t.called_ms})).collect::<Vec<_>>(),
            "checks": checks,
        }));
    }
    Ok(json!({"run_id": run.manifest.run_id, "reviewer": review.reviewer, "calls": calls}))
}

async fn labels_json(State(review): State<Arc<Review>>) -> Response {
    match read_labels(&review.run.dir) {
        Ok(labels) => Json(labels).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct LabelRequest {
    conversation: String,
    item: String,
    verdict: HumanVerdict,
    #[serde(default)]
    note: String,
    reviewer: String,
}

/// Whether `item` is something the call was judged on (a skipped check
/// was not).
fn known_item(dir: &Path, item: &str) -> bool {
    item == OVERALL
        || read_scores(dir).ok().flatten().is_some_and(|s| {
            s.checks
                .iter()
                .any(|c| c.name == item && c.status != crate::run_folder::CheckStatus::Skipped)
        })
}

async fn save_label(
    State(review): State<Arc<Review>>,
    body: Result<Json<LabelRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let reviewer = req.reviewer.trim();
    if reviewer.is_empty() || reviewer.chars().count() > MAX_REVIEWER {
        return error(
            StatusCode::BAD_REQUEST,
            "a label needs the reviewer's name (up to 80 characters)",
        );
    }
    if req.note.chars().count() > MAX_NOTE {
        return error(
            StatusCode::BAD_REQUEST,
            "the note is longer than 2000 characters",
        );
    }
    let Some(call) = reviewable(&review.run)
        .into_iter()
        .find(|c| c.dir.display().to_string() == req.conversation)
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no call {} in this run", req.conversation),
        );
    };
    let dir: PathBuf = review.run.conversation_dir(call);
    if !known_item(&dir, &req.item) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("the call has no check {}", req.item),
        );
    }
    let label = LabelRecord {
        conversation: req.conversation,
        item: req.item,
        verdict: req.verdict,
        note: req.note.trim().to_string(),
        reviewer: reviewer.to_string(),
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let _one_at_a_time = review.writing.lock().await;
    let run_dir = review.run.dir.clone();
    let saved = label.clone();
    match tokio::task::spawn_blocking(move || append_label(&run_dir, &saved)).await {
        Ok(Ok(())) => Json(label).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("labels.jsonl: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn audio(State(review): State<Arc<Review>>, UrlPath(index): UrlPath<usize>) -> Response {
    let Some(call) = reviewable(&review.run).get(index).copied() else {
        return error(StatusCode::NOT_FOUND, "no such call");
    };
    let path = review.run.conversation_dir(call).join(CONVERSATION_WAV);
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(_) => error(StatusCode::NOT_FOUND, "the call has no recording"),
    }
}
