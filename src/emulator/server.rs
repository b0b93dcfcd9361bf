//! Accepting connections: the handshake, authentication, the model check and
//! the session limit. Failures arrive after the upgrade, as an `error` event
//! and a close frame, exactly as the real service reports them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::SinkExt;
use sha2::Digest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use super::EmulatorConfig;
use super::session::{ConnectInfo, run_session};
use crate::protocol::{Dialect, ProtocolError, ServerEvent, ServerMessage};

/// Largest frame accepted: the protocol allows 15 MiB of audio per append,
/// which is 20 MiB once base64-encoded.
pub const MAX_FRAME_BYTES: usize = 21 * 1024 * 1024;

/// A running emulator: its address and a way to stop it.
pub struct EmulatorHandle {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl EmulatorHandle {
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts serving on an already-bound listener, in the background.
pub fn spawn(listener: TcpListener, config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, Arc::new(config), rx));
    Ok(EmulatorHandle {
        addr,
        shutdown: tx,
        task,
    })
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    config: Arc<EmulatorConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut session_no: u64 = 0;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the others.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        session_no += 1;
        let config = config.clone();
        let active = active.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_connection(stream, config, active, session_no, shutdown).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

#[derive(Debug, Default)]
struct Handshake {
    path: String,
    model: Option<String>,
    beta: bool,
    key: Option<String>,
    realtime_subprotocol: bool,
    /// rehearse's own key for the call this session belongs to (ignored by
    /// real services, which ignore unknown query parameters).
    conversation: Option<String>,
    /// Which try of that call this is (rehearse retries failed calls).
    attempt: Option<String>,
}

fn inspect(req: &Request) -> Handshake {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let protocols: Vec<String> = header("sec-websocket-protocol")
        .map(|p| p.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let key = header("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
        .or_else(|| header("api-key").map(str::to_string))
        .or_else(|| q("api-key"))
        .or_else(|| {
            protocols.iter().find_map(|p| {
                p.strip_prefix("openai-insecure-api-key.")
                    .map(str::to_string)
            })
        });
    Handshake {
        path: req.uri().path().to_string(),
        model: q("model").or_else(|| q("deployment")),
        beta: header("openai-beta").is_some_and(|v| v.contains("realtime"))
            || protocols.iter().any(|p| p == "openai-beta.realtime-v1")
            || q("api-version").is_some_and(|v| v.contains("preview")),
        key,
        realtime_subprotocol: protocols.iter().any(|p| p == "realtime"),
        conversation: q("rehearse_conversation"),
        attempt: q("rehearse_attempt"),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const REALTIME_PATHS: &[&str] = &[
    "/v1/realtime",
    "/realtime",
    "/openai/v1/realtime",
    "/openai/realtime",
];

async fn handle_connection(
    stream: TcpStream,
    config: Arc<EmulatorConfig>,
    active: Arc<AtomicUsize>,
    session_no: u64,
    shutdown: watch::Receiver<bool>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let _ = stream.set_nodelay(true);
    let mut seen = Handshake::default();
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        seen = inspect(req);
        if !REALTIME_PATHS.contains(&seen.path.trim_end_matches('/')) {
            let mut err =
                ErrorResponse::new(Some(format!("no realtime endpoint at {}", seen.path)));
            *err.status_mut() = StatusCode::NOT_FOUND;
            return Err(err);
        }
        if seen.realtime_subprotocol {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("realtime"),
            );
        }
        Ok(resp)
    };
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let mut ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config)).await?;
    let dialect = if seen.beta {
        Dialect::Beta
    } else {
        Dialect::Ga
    };

    let refusal = if let Some(expected) = &config.api_key {
        match &seen.key {
            None => Some((
                ProtocolError {
                    code: None,
                    ..ProtocolError::new(
                        "",
                        "Missing bearer or basic authentication in header",
                        None,
                    )
                },
                3000,
            )),
            Some(k) if k != expected => Some((
                ProtocolError::new(
                    "invalid_api_key",
                    "Incorrect API key provided. You can find your API key in your local emulator configuration.",
                    None,
                ),
                3000,
            )),
            Some(_) => None,
        }
    } else {
        None
    };
    let refusal = refusal.or_else(|| match &seen.model {
        None => Some((
            ProtocolError::new(
                "missing_model",
                "You must provide a model parameter.",
                Some("model"),
            ),
            4000,
        )),
        Some(_) if active.load(Ordering::SeqCst) >= config.max_sessions => Some((
            ProtocolError::new(
                "session_limit_reached",
                &format!(
                    "This emulator is serving its maximum of {} sessions. Try again later.",
                    config.max_sessions
                ),
                None,
            )
            .with_kind("server_error"),
            1013,
        )),
        Some(_) => None,
    });
    if let Some((error, code)) = refusal {
        let reason = format!(
            "{}.{}",
            error.kind,
            error.code.clone().unwrap_or_else(|| "null".into())
        );
        let message = ServerMessage {
            event_id: format!("event_refused{session_no}"),
            event: ServerEvent::error(error),
        };
        ws.send(Message::text(dialect.encode_server(&message)))
            .await?;
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        })))
        .await?;
        return Ok(());
    }

    active.fetch_add(1, Ordering::SeqCst);
    // A call rehearse names draws its randomness (latency, faults) from its
    // own name, so it behaves the same whatever order sessions connect in.
    let stream = match &seen.conversation {
        Some(key) => {
            let named = format!("{key}#{}", seen.attempt.as_deref().unwrap_or("1"));
            let digest = sha2::Sha256::digest(named.as_bytes());
            u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
        }
        None => session_no,
    };
    let info = ConnectInfo {
        dialect,
        model: seen.model.unwrap_or_default(),
        stream,
        conversation: seen.conversation,
    };
    let result = run_session(ws, config, info, shutdown).await;
    active.fetch_sub(1, Ordering::SeqCst);
    result
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(percent_decode("gpt%2Drealtime"), "gpt-realtime");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("50%"), "50%");
    }
}
