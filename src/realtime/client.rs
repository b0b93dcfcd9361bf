//! A Realtime WebSocket client. Sending and receiving are separate halves so a
//! caller can stream audio while it reads; both timestamp every event on one
//! monotonic clock and copy it, audio redacted, to an optional trace channel.

use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::net::TcpStream;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::provider::Endpoint;
use super::trace::{Direction, TraceRecord, redact_audio};
use serde::Deserialize;

use crate::protocol::{
    ClientEvent, ClientMessage, Dialect, ReceivedEvent, ServerEvent, ServerMessage, parse_server,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to {url}: {reason}")]
    Connect {
        url: String,
        reason: String,
        /// The HTTP status of a refused handshake.
        status: Option<u16>,
        /// The wait the server asked for (`retry-after`).
        retry_after: Option<Duration>,
    },
    #[error("connection closed by the server (code {code}: {reason})")]
    Closed { code: u16, reason: String },
    #[error("the connection to the provider broke: {0}")]
    Socket(String),
    #[error("timed out after {0:?} waiting for the server")]
    Timeout(Duration),
}

/// A received server event and when it arrived.
#[derive(Debug, Clone)]
pub struct TimedEvent {
    pub at: Duration,
    pub received: ReceivedEvent,
}

pub struct RealtimeClient {
    pub sender: ClientSender,
    pub receiver: ClientReceiver,
}

pub struct ClientSender {
    sink: SplitSink<Ws, Message>,
    dialect: Dialect,
    clock: Instant,
    trace: Option<mpsc::UnboundedSender<TraceRecord>>,
}

/// The receiving half: a reader task takes every frame off the socket as
/// it arrives and stamps it then, as a real client's does, so an event's
/// time is when it arrived, not when the call got round to reading it.
pub struct ClientReceiver {
    events: mpsc::Receiver<(Received, Option<OwnedSemaphorePermit>)>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

/// What the reader passes on: an event, a failure, or (None) a clean close.
type Received = Option<Result<TimedEvent, ClientError>>;

/// Events read ahead of the call; beyond this the reader waits, and the
/// server's writes with it.
const READ_AHEAD: usize = 8192;
/// Bytes of frames read ahead of the call, at most (a frame may be up to
/// [`MAX_FRAME_BYTES`]): a server cannot make the client hold more.
const READ_AHEAD_BYTES: usize = 64 * 1024 * 1024;

impl Drop for ClientReceiver {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

/// Largest frame we accept from a server.
const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;

impl RealtimeClient {
    /// Connects. `clock` is the conversation's time origin; `trace` receives
    /// every event both ways.
    pub async fn connect(
        endpoint: &Endpoint,
        clock: Instant,
        trace: Option<mpsc::UnboundedSender<TraceRecord>>,
        timeout: Duration,
    ) -> Result<RealtimeClient, ClientError> {
        let connect_err = |reason: String| ClientError::Connect {
            url: endpoint.url.clone(),
            reason,
            status: None,
            retry_after: None,
        };
        let mut request = endpoint
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| connect_err(e.to_string()))?;
        for (name, value) in &endpoint.headers {
            let mut v = HeaderValue::from_str(value.expose()).map_err(|_| {
                connect_err(format!("header {name} has characters not allowed in HTTP"))
            })?;
            v.set_sensitive(true);
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| connect_err(e.to_string()))?;
            request.headers_mut().insert(name, v);
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (ws, _response) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(|e| match e {
                // A refused upgrade: keep the status and the wait it asks for.
                tokio_tungstenite::tungstenite::Error::Http(resp) => ClientError::Connect {
                    url: endpoint.url.clone(),
                    reason: format!("the server answered HTTP {}", resp.status()),
                    status: Some(resp.status().as_u16()),
                    retry_after: crate::retry::retry_after(resp.headers()),
                },
                // The error text can carry the URL but never headers, so no key.
                other => connect_err(other.to_string()),
            })?;
        let (sink, stream) = ws.split();
        Ok(RealtimeClient {
            sender: ClientSender {
                sink,
                dialect: endpoint.dialect,
                clock,
                trace: trace.clone(),
            },
            receiver: ClientReceiver::start(stream, clock, trace),
        })
    }
}

impl ClientSender {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Sends an event in this connection's dialect; returns when it was sent.
    pub async fn send(&mut self, event: impl Into<ClientMessage>) -> Result<Duration, ClientError> {
        let message: ClientMessage = event.into();
        let value = self.dialect.client_value(&message);
        let text = value.to_string();
        // Trace from the value we already have: re-parsing our own frame on
        // every audio chunk would be wasted work.
        self.send_text(text, Some(value)).await
    }

    /// Sends a frame as is (tests of malformed input, extensions).
    pub async fn send_raw(&mut self, text: String) -> Result<Duration, ClientError> {
        self.send_text(text, None).await
    }

    async fn send_text(
        &mut self,
        text: String,
        value: Option<serde_json::Value>,
    ) -> Result<Duration, ClientError> {
        let at = self.clock.elapsed();
        if let Some(trace) = &self.trace {
            let value = value.unwrap_or_else(|| {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()))
            });
            let event_type = value
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_string();
            let _ = trace.send(TraceRecord {
                t_ms: at.as_secs_f64() * 1000.0,
                direction: Direction::Sent,
                event: redact_audio(&event_type, &value),
                event_type,
            });
        }
        self.sink
            .send(Message::Text(Utf8Bytes::from(text)))
            .await
            .map_err(|e| ClientError::Socket(e.to_string()))?;
        Ok(at)
    }

    pub async fn send_event(&mut self, event: ClientEvent) -> Result<Duration, ClientError> {
        self.send(ClientMessage::from(event)).await
    }

    pub async fn close(&mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = self.sink.close().await;
    }
}

impl ClientReceiver {
    fn start(
        stream: SplitStream<Ws>,
        clock: Instant,
        trace: Option<mpsc::UnboundedSender<TraceRecord>>,
    ) -> ClientReceiver {
        let (tx, events) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(read_frames(stream, clock, trace, tx));
        ClientReceiver {
            events,
            reader: Some(reader),
        }
    }

    /// The next server event; `None` once the connection has closed cleanly.
    pub async fn recv(&mut self) -> Option<Result<TimedEvent, ClientError>> {
        if let Some((received, _permit)) = self.events.recv().await {
            return received;
        }
        // The reader is gone: a clean end unless it failed.
        let reader = self.reader.take()?;
        match reader.await {
            Err(e) if e.is_panic() => Some(Err(ClientError::Socket(
                "the connection's reader failed".into(),
            ))),
            _ => None,
        }
    }

    /// The next event, or a timeout error after `limit` of silence.
    pub async fn recv_within(
        &mut self,
        limit: Duration,
    ) -> Option<Result<TimedEvent, ClientError>> {
        match tokio::time::timeout(limit, self.recv()).await {
            Ok(r) => r,
            Err(_) => Some(Err(ClientError::Timeout(limit))),
        }
    }
}

/// The reader task: every frame, stamped on arrival, until the socket
/// closes or fails (or the call drops its receiver).
async fn read_frames(
    mut stream: SplitStream<Ws>,
    clock: Instant,
    trace: Option<mpsc::UnboundedSender<TraceRecord>>,
    tx: mpsc::Sender<(Received, Option<OwnedSemaphorePermit>)>,
) {
    let budget = Arc::new(Semaphore::new(READ_AHEAD_BYTES));
    loop {
        let (next, size) = next_event(&mut stream, clock, trace.as_ref()).await;
        let last = !matches!(next, Some(Ok(_)));
        let size = size.min(READ_AHEAD_BYTES);
        // Held until the call takes the event.
        let permit = budget.clone().acquire_many_owned(size as u32).await.ok();
        if tx.send((next, permit)).await.is_err() || last {
            return;
        }
    }
}

/// The next event off the socket, stamped and traced, with the size of
/// its frame.
async fn next_event(
    stream: &mut SplitStream<Ws>,
    clock: Instant,
    trace: Option<&mpsc::UnboundedSender<TraceRecord>>,
) -> (Received, usize) {
    loop {
        let Some(frame) = stream.next().await else {
            return (None, 0);
        };
        let at = clock.elapsed();
        let size = match &frame {
            Ok(message) => message.len(),
            Err(_) => 0,
        };
        let received = match frame {
            // A frame that is not an event (garbage, cut off, binary) is
            // kept as a protocol `error` event and the call goes on.
            Ok(Message::Text(text)) => parse_server(text.as_str())
                .unwrap_or_else(|e| unreadable_frame(text.as_str(), &e.to_string())),
            Ok(Message::Binary(b)) => unreadable_frame(
                &format!("<{} bytes of binary>", b.len()),
                "the Realtime API sends text frames only",
            ),
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                if code == 1000 || code == 1005 {
                    return (None, 0);
                }
                return (Some(Err(ClientError::Closed { code, reason })), 0);
            }
            Ok(_) => continue,
            Err(e) => return (Some(Err(ClientError::Socket(e.to_string()))), 0),
        };
        if let Some(trace) = trace {
            let _ = trace.send(TraceRecord {
                t_ms: at.as_secs_f64() * 1000.0,
                direction: Direction::Received,
                event_type: received.event_type.clone(),
                event: redact_audio(&received.event_type, &received.raw),
            });
        }
        return (Some(Ok(TimedEvent { at, received })), size);
    }
}

/// Longest excerpt of an unreadable frame kept in the record.
const FRAME_EXCERPT: usize = 200;

/// An `error` event standing for a frame that could not be read, marked as
/// written by rehearse (`"source": "rehearse"`), with the start of the frame.
fn unreadable_frame(text: &str, why: &str) -> ReceivedEvent {
    let mut end = text.len().min(FRAME_EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let value = serde_json::json!({
        "type": "error",
        "source": "rehearse",
        "error": {
            "type": "invalid_server_frame",
            "code": "unreadable_frame",
            "message": format!("the server sent a frame that is not a Realtime event ({why})"),
            "frame_excerpt": &text[..end],
        }
    });
    let event = ServerMessage::deserialize(&value)
        .map(|m| m.event)
        .unwrap_or(ServerEvent::Unknown);
    ReceivedEvent {
        event_type: "error".into(),
        event,
        raw: value,
    }
}
