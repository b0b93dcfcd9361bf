//! One emulated Realtime session: protocol state, the conversation, the input
//! audio buffer with server VAD, and the active response.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::EmulatorConfig;
use super::faults::{Fault, ScheduledFault};
use super::ids::IdGen;
use super::responder::{Responder, ResponsePlan, Streaming, Turn};
use super::script::ScriptState;
use super::turns::{Ear, TurnDetector};
use crate::audio::{AudioFormat, VadEvent};
use crate::protocol::item::{ContentPart, ItemStatus, MessageItem};
use crate::protocol::{
    ClientEvent, Dialect, Item, ProtocolError, ResponseParams, Role, ServerEvent, ServerMessage,
    SessionConfig, SessionPatch, parse_client,
};
use crate::text::spoken_prefix;

const SAMPLES_PER_MS: usize = (crate::audio::SESSION_RATE / 1000) as usize;

pub struct ConnectInfo {
    pub dialect: Dialect,
    pub model: String,
    /// Seeds this session's randomness: the session number, or a hash of
    /// the call's name and attempt when the client gives one.
    pub stream: u64,
    pub conversation: Option<String>,
}

/// What the caller's words are, for a user audio item.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Pending,
    Words(String),
    NotUnderstood,
}

/// An item in the conversation, with what the emulator needs beside it.
#[derive(Debug, Clone)]
pub struct StoredItem {
    pub item: Item,
    /// For user audio: the transcript as it becomes known.
    pub heard: Option<watch::Receiver<Heard>>,
    /// For assistant audio: ms of audio generated so far.
    pub audio_ms: Option<Arc<AtomicU64>>,
}

/// Messages into the session loop.
pub enum Internal {
    /// A responder is about to emit an assistant item: record it first, so a
    /// truncate that names it always finds it.
    ItemCreated {
        response_id: String,
        item: Item,
        audio_ms: Option<Arc<AtomicU64>>,
    },
    ItemFinished {
        item: Item,
    },
    ResponseFinished {
        response_id: String,
        input_tokens: u64,
        failed: bool,
    },
}

/// Sends events to the writer task, which assigns `event_id`s.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
}

pub enum Outgoing {
    Event(ServerEvent),
    Close(u16, String),
    /// Strike with this fault at the next output delta (or `response.done`).
    Arm(Fault),
}

impl Outbox {
    pub async fn send(&self, event: ServerEvent) {
        let _ = self.tx.send(Outgoing::Event(event)).await;
    }

    pub async fn error(&self, error: ProtocolError) {
        self.send(ServerEvent::error(error)).await;
    }

    async fn arm(&self, fault: Fault) {
        let _ = self.tx.send(Outgoing::Arm(fault)).await;
    }

    async fn close(&self, code: u16, reason: &str) {
        let _ = self.tx.send(Outgoing::Close(code, reason.into())).await;
    }
}

struct ActiveResponse {
    id: String,
    cancel: watch::Sender<Option<&'static str>>,
    /// `unanswered_from` before this response took the pending turn.
    took_from: usize,
    /// Whether it has put anything into the conversation yet.
    produced: bool,
}

struct Session {
    config: Arc<EmulatorConfig>,
    session: SessionConfig,
    ids: Arc<IdGen>,
    out: Outbox,
    internal: mpsc::Sender<Internal>,
    items: Vec<StoredItem>,
    /// Index into `items` of the first item the agent has not responded to.
    unanswered_from: usize,
    script: Arc<Mutex<ScriptState>>,
    active: Option<ActiveResponse>,
    rng: StdRng,
    dialect: Dialect,
    conversation: Option<String>,
    // Input audio: samples at 24 kHz since the last commit, and where they
    // start on the session's input timeline.
    input: Vec<i16>,
    input_start_ms: u64,
    /// Undecoded trailing byte of a PCM16 append split mid-sample.
    odd_byte: Option<u8>,
    turns: Option<TurnDetector>,
    speech: Option<(String, u64)>,
    last_input_tokens: u64,
    /// The fault this session meets (fault injection), until it strikes.
    fault: Option<ScheduledFault>,
    responses_started: u32,
    /// The log has said this session cannot hear.
    said_deaf: bool,
    /// The agent audio the client is playing, as far as the server can
    /// tell: from the input position its first audio was made at, for as
    /// long as audio has been made (until the client truncates it).
    playing: Option<(u64, Arc<AtomicU64>)>,
    /// How the turn detector hears words (the session's transcriber).
    ear: Ear,
}

/// What a client is told when the emulator cannot hear its audio.
pub const CANNOT_HEAR: &str = "this emulator cannot hear caller audio: it has no transcription backend (start `rehearse emulator` with --transcription-url pointing at an OpenAI-compatible /v1/audio/transcriptions server, or send text turns)";

pub async fn run_session(
    ws: WebSocketStream<TcpStream>,
    config: Arc<EmulatorConfig>,
    info: ConnectInfo,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let (sink, mut stream) = ws.split();
    let ids = Arc::new(IdGen::new(
        config.seed ^ info.stream.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    ));
    let (out_tx, out_rx) = mpsc::channel::<Outgoing>(256);
    let dialect = info.dialect;
    // The writer tells the session loop when a fault has cut the connection.
    let (cut_tx, mut cut_rx) = watch::channel(false);
    let writer = tokio::spawn(write_events(
        sink,
        out_rx,
        cut_tx,
        dialect,
        info.model.clone(),
        ids.clone(),
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let session_config = SessionConfig::new(
        ids.make("sess"),
        info.model.clone(),
        now + config.max_session.as_secs() as i64,
    );
    let (internal_tx, mut internal_rx) = mpsc::channel::<Internal>(64);
    let mut s = Session {
        script: Arc::new(Mutex::new(ScriptState::new(config.agent.clone()))),
        rng: StdRng::seed_from_u64(config.seed.wrapping_add(info.stream)),
        turns: session_config
            .turn_detection
            .as_ref()
            .map(TurnDetector::new),
        session: session_config,
        config: config.clone(),
        ids,
        out: Outbox { tx: out_tx },
        internal: internal_tx,
        items: Vec::new(),
        unanswered_from: 0,
        active: None,
        dialect,
        conversation: info.conversation.clone(),
        input: Vec::new(),
        input_start_ms: 0,
        odd_byte: None,
        speech: None,
        last_input_tokens: 0,
        fault: config.faults.schedule(config.seed, info.stream),
        responses_started: 0,
        said_deaf: false,
        playing: None,
        ear: Ear {
            transcriber: config.transcriber.clone(),
            conversation: info.conversation.clone(),
        },
    };
    s.out
        .send(ServerEvent::SessionCreated {
            session: Box::new(s.session_patch()),
            extra: Default::default(),
        })
        .await;

    let expiry = tokio::time::sleep(config.max_session);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            biased;
            Some(msg) = internal_rx.recv() => s.on_internal(msg),
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => s.on_text(text.as_str()).await,
                Some(Ok(Message::Binary(_))) => {
                    s.out.error(ProtocolError::new(
                        "invalid_event",
                        "Expected a text WebSocket message; binary frames are not supported.",
                        None,
                    )).await;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    // Oversized or malformed frames: say why before the socket goes.
                    s.out.error(ProtocolError::new("invalid_frame", &e.to_string(), None)).await;
                    s.out.close(1009, "invalid_request_error.invalid_frame").await;
                    break;
                }
            },
            _ = &mut expiry => {
                s.out.error(ProtocolError::new(
                    "session_expired",
                    &format!("Your session hit the maximum duration of {} minutes.", config.max_session.as_secs() / 60),
                    None,
                )).await;
                s.out.close(1001, "invalid_request_error.session_expired").await;
                break;
            }
            _ = shutdown.changed() => {
                s.out.close(1001, "server shutting down").await;
                break;
            }
            _ = cut_rx.changed() => break,
        }
    }
    if let Some(active) = s.active.take() {
        let _ = active.cancel.send(Some("client_cancelled"));
    }
    drop(s);
    let _ = writer.await;
    Ok(())
}

/// The session's writer: sends its events in order and plays an armed
/// fault when the event it waits for comes up. Tells the session loop, via
/// `cut`, when a fault has cut the connection.
async fn write_events(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut out_rx: mpsc::Receiver<Outgoing>,
    cut_tx: watch::Sender<bool>,
    dialect: Dialect,
    model: String,
    writer_ids: Arc<IdGen>,
) {
    let mut armed: Option<Fault> = None;
    let mut stalled = false;
    // A dropped connection (fault injection) ends without a closing
    // handshake; every other end completes it.
    let mut abrupt = false;
    while let Some(out) = out_rx.recv().await {
        let event = match out {
            Outgoing::Arm(fault) => {
                armed = Some(fault);
                continue;
            }
            Outgoing::Close(code, reason) => {
                if stalled {
                    abrupt = true;
                } else {
                    let _ = sink.send(close_frame(code, reason)).await;
                }
                break;
            }
            Outgoing::Event(_) if stalled => continue,
            Outgoing::Event(event) => event,
        };
        if !dialect.carries(&event) {
            continue;
        }
        let message = ServerMessage {
            event_id: writer_ids.make("event"),
            event,
        };
        let mut text = dialect.encode_server(&message);
        if let Some(fault) = armed.filter(|_| strikes_here(&message.event)) {
            armed = None;
            match fault {
                Fault::Drop => {
                    abrupt = true;
                    let _ = cut_tx.send(true);
                    break;
                }
                Fault::Stall => {
                    stalled = true;
                    continue;
                }
                Fault::Garbage => {
                    let _ = sink
                        .send(Message::text("<html>502 Bad Gateway</html>"))
                        .await;
                }
                Fault::Truncated => {
                    let mut cut = text.len() / 2;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                Fault::Close(code) => {
                    let _ = sink.send(close_frame(code, "server_error".into())).await;
                    linger(&mut out_rx).await;
                    let _ = cut_tx.send(true);
                    break;
                }
                Fault::Expire => {
                    let expired = ServerMessage {
                        event_id: writer_ids.make("event"),
                        event: ServerEvent::error(ProtocolError::new(
                            "session_expired",
                            &format!(
                                "Your session for {model} hit the maximum duration of 60 minutes."
                            ),
                            None,
                        )),
                    };
                    let _ = sink
                        .send(Message::text(dialect.encode_server(&expired)))
                        .await;
                    let _ = sink
                        .send(close_frame(
                            1001,
                            "invalid_request_error.session_expired".into(),
                        ))
                        .await;
                    linger(&mut out_rx).await;
                    let _ = cut_tx.send(true);
                    break;
                }
                Fault::Delay(_) | Fault::RateLimit => {}
            }
        }
        if sink.send(Message::text(text)).await.is_err() {
            break;
        }
    }
    if !abrupt {
        // Completes the closing handshake (RFC 6455 §5.5.1): flushes the
        // Close frame that answers a client's Close (queued by the
        // WebSocket layer when it read it), or sends ours.
        let _ = sink.close().await;
    }
}

/// After a close frame, gives the client a moment to read it and answer
/// before the socket goes (as a server does with the closing handshake),
/// discarding whatever the session still tries to send.
async fn linger(out_rx: &mut mpsc::Receiver<Outgoing>) {
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(1));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            msg = out_rx.recv() => if msg.is_none() { return },
        }
    }
}

fn close_frame(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Wire faults strike mid-response: at the first piece of output.
fn strikes_here(event: &ServerEvent) -> bool {
    matches!(
        event,
        ServerEvent::ResponseOutputAudioDelta { .. }
            | ServerEvent::ResponseOutputAudioTranscriptDelta { .. }
            | ServerEvent::ResponseOutputTextDelta { .. }
            | ServerEvent::ResponseFunctionCallArgumentsDelta { .. }
            | ServerEvent::ResponseDone { .. }
    )
}

impl Session {
    fn session_patch(&self) -> SessionPatch {
        serde_json::from_value(self.session.to_wire(self.dialect())).unwrap_or_default()
    }

    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::ItemCreated {
                response_id,
                item,
                audio_ms,
            } => {
                if let Some(active) = self.active.as_mut().filter(|a| a.id == response_id) {
                    active.produced = true;
                }
                if let Some(made) = &audio_ms {
                    self.playing = Some((self.input_position_ms(), made.clone()));
                }
                self.items.push(StoredItem {
                    item,
                    heard: None,
                    audio_ms,
                });
            }
            Internal::ItemFinished { item } => {
                if let Some(stored) = self.items.iter_mut().find(|s| s.item.id() == item.id()) {
                    stored.item = item;
                }
            }
            Internal::ResponseFinished {
                response_id,
                input_tokens,
                failed,
            } => {
                if let Some(active) = self.active.take_if(|a| a.id == response_id)
                    && failed
                {
                    // A failed response answered nothing: the turn is still open.
                    self.unanswered_from = self.unanswered_from.min(active.took_from);
                }
                self.last_input_tokens = input_tokens;
            }
        }
    }

    async fn on_text(&mut self, text: &str) {
        let message = match parse_client(text) {
            Ok(m) => m,
            Err(e) => return self.out.error(e).await,
        };
        let event_id = message.event_id.clone();
        if let Err(e) = self.handle(message.event).await {
            self.out.error(e.with_event_id(event_id)).await;
        }
    }

    async fn handle(&mut self, event: ClientEvent) -> Result<(), ProtocolError> {
        match event {
            ClientEvent::SessionUpdate { session, .. } => {
                self.session.apply(&session)?;
                self.turns = self.session.turn_detection.as_ref().map(TurnDetector::new);
                self.speech = None;
                self.out
                    .send(ServerEvent::SessionUpdated {
                        session: Box::new(self.session_patch()),
                        extra: Default::default(),
                    })
                    .await;
            }
            ClientEvent::InputAudioBufferAppend { audio, .. } => self.append(&audio).await?,
            ClientEvent::InputAudioBufferCommit { .. } => {
                let ms = self.input.len() as f64 / SAMPLES_PER_MS as f64;
                if ms < 100.0 {
                    return Err(ProtocolError::new(
                        "input_audio_buffer_commit_empty",
                        &format!(
                            "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {ms:.2}ms of audio."
                        ),
                        None,
                    ));
                }
                let id = self.ids.make("item");
                let samples = self.input.clone();
                self.discard_input();
                if let Some(turns) = &mut self.turns {
                    turns.reset_speech();
                }
                self.speech = None;
                self.commit(id, samples).await;
            }
            ClientEvent::InputAudioBufferClear { .. } => {
                self.discard_input();
                if let Some(turns) = &mut self.turns {
                    turns.reset_speech();
                }
                self.speech = None;
                self.out
                    .send(ServerEvent::InputAudioBufferCleared {
                        extra: Default::default(),
                    })
                    .await;
            }
            ClientEvent::ConversationItemCreate {
                previous_item_id,
                item,
                ..
            } => self.create_item(previous_item_id, *item).await?,
            ClientEvent::ConversationItemRetrieve { item_id, .. } => {
                let item = self.find(&item_id)?.item.clone();
                self.out
                    .send(ServerEvent::ConversationItemRetrieved {
                        item: Box::new(item),
                        extra: Default::default(),
                    })
                    .await;
            }
            ClientEvent::ConversationItemDelete { item_id, .. } => {
                let index = self.index_of(&item_id)?;
                self.items.remove(index);
                if index < self.unanswered_from {
                    self.unanswered_from -= 1;
                }
                self.out
                    .send(ServerEvent::ConversationItemDeleted {
                        item_id,
                        extra: Default::default(),
                    })
                    .await;
            }
            ClientEvent::ConversationItemTruncate {
                item_id,
                content_index,
                audio_end_ms,
                ..
            } => self.truncate(item_id, content_index, audio_end_ms).await?,
            ClientEvent::ResponseCreate { response, .. } => {
                self.start_response(response.map(|b| *b).unwrap_or_default())
                    .await?
            }
            ClientEvent::ResponseCancel { response_id, .. } => {
                let matches = match (&self.active, &response_id) {
                    (Some(a), Some(id)) => &a.id == id,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if !matches {
                    return Err(ProtocolError::new(
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found",
                        None,
                    ));
                }
                self.cancel_active("client_cancelled");
            }
            ClientEvent::OutputAudioBufferClear { .. } => {
                return Err(ProtocolError::new(
                    "invalid_value",
                    "output_audio_buffer.clear is only supported for WebRTC and SIP sessions.",
                    Some("type"),
                ));
            }
            ClientEvent::SessionClose { .. } => {
                self.out.close(1000, "session closed").await;
            }
        }
        Ok(())
    }

    fn find(&self, id: &str) -> Result<&StoredItem, ProtocolError> {
        self.index_of(id).map(|i| &self.items[i])
    }

    fn index_of(&self, id: &str) -> Result<usize, ProtocolError> {
        self.items
            .iter()
            .position(|s| s.item.id() == Some(id))
            .ok_or_else(|| {
                ProtocolError::new(
                    "item_not_found",
                    &format!("Item with item_id not found: {id}"),
                    Some("item_id"),
                )
            })
    }

    /// Where the input audio has reached, in ms since the session began.
    fn input_position_ms(&self) -> u64 {
        self.input_start_ms + (self.input.len() / SAMPLES_PER_MS) as u64
    }

    /// Whether the agent is talking: a response under way, or its audio
    /// still playing at the client (audio is made faster than it plays).
    fn agent_speaking(&self) -> bool {
        self.active.is_some()
            || self.playing.as_ref().is_some_and(|(from, made)| {
                self.input_position_ms() < from + made.load(Ordering::SeqCst)
            })
    }

    fn discard_input(&mut self) {
        self.input_start_ms += (self.input.len() / SAMPLES_PER_MS) as u64;
        self.input.clear();
        self.odd_byte = None;
    }

    async fn append(&mut self, audio_b64: &str) -> Result<(), ProtocolError> {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(audio_b64)
            .map_err(|e| {
                ProtocolError::new(
                    "invalid_value",
                    &format!("Invalid 'audio': the value is not valid base64 ({e})."),
                    Some("audio"),
                )
            })?;
        if bytes.len() > 15 * 1024 * 1024 {
            return Err(ProtocolError::new(
                "string_above_max_length",
                "Invalid 'audio': the audio chunk exceeds the 15 MiB limit per event.",
                Some("audio"),
            ));
        }
        let format = self.session.input_format;
        if format == AudioFormat::Pcm16 {
            if let Some(b) = self.odd_byte.take() {
                bytes.insert(0, b);
            }
            if bytes.len() % 2 == 1 {
                self.odd_byte = bytes.pop();
            }
        }
        let samples = format.decode_to_session_rate(&bytes);
        let agent_speaking = self.agent_speaking();
        let events = match &mut self.turns {
            Some(turns) => turns.push(&samples, &self.ear, agent_speaking).await,
            None => Vec::new(),
        };
        self.input.extend_from_slice(&samples);
        for event in events {
            self.on_vad(event).await;
        }
        Ok(())
    }

    async fn on_vad(&mut self, event: VadEvent) {
        let Some(td) = self.session.turn_detection.clone() else {
            return;
        };
        match event {
            VadEvent::SpeechStarted { at_ms } => {
                let item_id = self.ids.make("item");
                let start = at_ms.saturating_sub(td.prefix_padding_ms as u64);
                self.speech = Some((item_id.clone(), start));
                self.out
                    .send(ServerEvent::InputAudioBufferSpeechStarted {
                        audio_start_ms: start,
                        item_id,
                        extra: Default::default(),
                    })
                    .await;
                if td.interrupt_response {
                    self.cancel_active("turn_detected");
                }
            }
            VadEvent::SpeechStopped { at_ms } => {
                let Some((item_id, start_ms)) = self.speech.take() else {
                    return;
                };
                self.out
                    .send(ServerEvent::InputAudioBufferSpeechStopped {
                        audio_end_ms: at_ms,
                        item_id: item_id.clone(),
                        extra: Default::default(),
                    })
                    .await;
                // The committed item is the speech plus its padding; audio
                // before it (silence) is dropped from the buffer.
                let from = start_ms.saturating_sub(self.input_start_ms) as usize * SAMPLES_PER_MS;
                let to = (at_ms.saturating_sub(self.input_start_ms) as usize * SAMPLES_PER_MS)
                    .min(self.input.len());
                let samples = self.input.get(from.min(to)..to).unwrap_or(&[]).to_vec();
                self.input.drain(..to);
                self.input_start_ms += (to / SAMPLES_PER_MS) as u64;
                self.commit(item_id, samples).await;
                if td.create_response && self.active.is_none() {
                    let _ = self.start_response(ResponseParams::default()).await;
                }
            }
        }
    }

    /// Turns buffered audio into a user item and starts finding out what it says.
    async fn commit(&mut self, item_id: String, samples: Vec<i16>) {
        let previous = self
            .items
            .last()
            .and_then(|s| s.item.id().map(str::to_string));
        self.out
            .send(ServerEvent::InputAudioBufferCommitted {
                previous_item_id: previous.clone(),
                item_id: item_id.clone(),
                extra: Default::default(),
            })
            .await;
        let item = Item::Message(MessageItem {
            id: Some(item_id.clone()),
            object: Some("realtime.item".into()),
            status: Some(ItemStatus::Completed),
            role: Role::User,
            content: vec![ContentPart::InputAudio {
                audio: None,
                transcript: None,
                extra: Default::default(),
            }],
            extra: Default::default(),
        });
        let heard = self.listen(item_id.clone(), samples);
        self.push_item(previous, item, Some(heard)).await;
    }

    /// Starts transcription of a user clip; the result arrives on the channel.
    ///
    /// An emulator without a transcription backend cannot hear: it says so
    /// once in its log, and with a `transcription.failed` event for every
    /// clip (whether or not the client asked for transcripts), so a client
    /// can tell "the agent misunderstood" from "the agent could not hear".
    fn listen(&mut self, item_id: String, samples: Vec<i16>) -> watch::Receiver<Heard> {
        let (tx, rx) = watch::channel(Heard::Pending);
        let transcriber = self.config.transcriber.clone();
        let conversation = self.conversation.clone();
        let deaf = transcriber.is_none();
        if deaf && !self.said_deaf {
            self.said_deaf = true;
            tracing::warn!(
                session = %self.session.id,
                "caller audio arrived, but this emulator has no transcription backend: the agent cannot hear it and will say it did not understand (start the emulator with --transcription-url; see docs/emulator.md)"
            );
        }
        let report = self.session.transcription.is_some() || deaf;
        let out = self.out.clone();
        tokio::spawn(async move {
            let result = match transcriber {
                Some(t) => {
                    t.transcribe(conversation.as_deref(), Arc::new(samples))
                        .await
                }
                None => Err(CANNOT_HEAR.into()),
            };
            let heard = match &result {
                Ok(Some(words)) => Heard::Words(words.clone()),
                _ => Heard::NotUnderstood,
            };
            let _ = tx.send(heard);
            if report {
                let event = match result {
                    Ok(text) => ServerEvent::InputAudioTranscriptionCompleted {
                        item_id,
                        content_index: 0,
                        transcript: text.unwrap_or_default(),
                        extra: Default::default(),
                    },
                    Err(message) => ServerEvent::InputAudioTranscriptionFailed {
                        item_id,
                        content_index: 0,
                        error: ProtocolError::new(
                            if deaf {
                                "transcription_unavailable"
                            } else {
                                "transcription_failed"
                            },
                            &message,
                            None,
                        )
                        .with_kind("transcription_error"),
                        extra: Default::default(),
                    },
                };
                out.send(event).await;
            }
        });
        rx
    }

    async fn push_item(
        &mut self,
        previous: Option<String>,
        item: Item,
        heard: Option<watch::Receiver<Heard>>,
    ) {
        self.items.push(StoredItem {
            item: item.clone(),
            heard,
            audio_ms: None,
        });
        self.announce_item(previous, item).await;
    }

    /// `conversation.item.added` then `.done` (beta: `created` only).
    async fn announce_item(&self, previous: Option<String>, item: Item) {
        self.out
            .send(ServerEvent::ConversationItemAdded {
                previous_item_id: previous.clone(),
                item: Box::new(item.clone()),
                extra: Default::default(),
            })
            .await;
        self.out
            .send(ServerEvent::ConversationItemDone {
                previous_item_id: previous,
                item: Box::new(item),
                extra: Default::default(),
            })
            .await;
    }

    async fn create_item(
        &mut self,
        previous_item_id: Option<String>,
        mut item: Item,
    ) -> Result<(), ProtocolError> {
        let insert_at = match previous_item_id.as_deref() {
            None => self.items.len(),
            Some("root") => 0,
            Some(id) => {
                self.index_of(id).map_err(|_| {
                    ProtocolError::new(
                        "previous_item_not_found",
                        &format!("Previous item with id {id} not found."),
                        Some("previous_item_id"),
                    )
                })? + 1
            }
        };
        match &item {
            Item::Reference(_) => {
                return Err(ProtocolError::invalid_value(
                    "item.type",
                    "item_reference",
                    "'message', 'function_call', 'function_call_output'",
                ));
            }
            Item::FunctionCallOutput(o) => {
                let known = self
                    .items
                    .iter()
                    .any(|s| matches!(&s.item, Item::FunctionCall(c) if c.call_id == o.call_id));
                if !known {
                    return Err(ProtocolError::new(
                        "invalid_value",
                        &format!(
                            "No tool call found for function call output with call_id {}.",
                            o.call_id
                        ),
                        Some("item.call_id"),
                    ));
                }
            }
            Item::Message(m)
                if m.role == Role::Assistant
                    && m.content
                        .iter()
                        .any(|c| matches!(c, ContentPart::OutputAudio { .. })) =>
            {
                return Err(ProtocolError::invalid_value(
                    "item.content[0].type",
                    "output_audio",
                    "'output_text'",
                ));
            }
            _ => {}
        }
        if item.id().is_none() {
            item.set_id(self.ids.make("item"));
        }
        if self.items.iter().any(|s| s.item.id() == item.id()) {
            return Err(ProtocolError::new(
                "duplicate_item_id",
                &format!(
                    "Item with id {} already exists.",
                    item.id().unwrap_or_default()
                ),
                Some("item.id"),
            ));
        }
        // User audio: its words are the transcript the client attached, else
        // whatever the transcription backend makes of the audio.
        let mut heard = None;
        let mut server_item = item.clone();
        if let Item::Message(m) = &mut server_item {
            m.object = Some("realtime.item".into());
            m.status = Some(ItemStatus::Completed);
            for part in &mut m.content {
                if let ContentPart::InputAudio {
                    audio, transcript, ..
                } = part
                {
                    let decoded = audio
                        .take()
                        .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64))
                        .transpose()
                        .map_err(|_| {
                            ProtocolError::new(
                                "invalid_value",
                                "Invalid 'audio': not valid base64.",
                                Some("item.content.audio"),
                            )
                        })?;
                    heard = Some(match transcript.clone() {
                        Some(t) => watch::channel(Heard::Words(t)).1,
                        None => {
                            let pcm = self
                                .session
                                .input_format
                                .decode_to_session_rate(&decoded.unwrap_or_default());
                            self.listen(item.id().unwrap_or_default().to_string(), pcm)
                        }
                    });
                }
            }
        }
        let previous = insert_at
            .checked_sub(1)
            .and_then(|i| self.items.get(i))
            .and_then(|s| s.item.id().map(str::to_string));
        if insert_at == self.items.len() {
            self.push_item(previous, server_item, heard).await;
        } else {
            self.items.insert(
                insert_at,
                StoredItem {
                    item: server_item.clone(),
                    heard,
                    audio_ms: None,
                },
            );
            if insert_at < self.unanswered_from {
                self.unanswered_from += 1;
            }
            self.announce_item(previous, server_item).await;
        }
        Ok(())
    }

    async fn truncate(
        &mut self,
        item_id: String,
        content_index: u32,
        audio_end_ms: u64,
    ) -> Result<(), ProtocolError> {
        let index = self.index_of(&item_id)?;
        // The client stopped playing it.
        self.playing = None;
        let stored = &mut self.items[index];
        let Item::Message(m) = &mut stored.item else {
            return Err(ProtocolError::new(
                "invalid_value",
                "Only assistant messages can be truncated.",
                Some("item_id"),
            ));
        };
        if m.role != Role::Assistant {
            return Err(ProtocolError::new(
                "invalid_value",
                "Only assistant messages can be truncated.",
                Some("item_id"),
            ));
        }
        let total_ms = stored
            .audio_ms
            .as_ref()
            .map(|a| a.load(Ordering::SeqCst))
            .unwrap_or(0);
        if audio_end_ms > total_ms {
            return Err(ProtocolError::new(
                "invalid_value",
                &format!("Audio content of {total_ms}ms is already shorter than {audio_end_ms}ms"),
                Some("audio_end_ms"),
            ));
        }
        // Keep the words the caller heard: the share of the transcript that
        // the played share of the audio carried.
        if let Some(ContentPart::OutputAudio {
            transcript: Some(t),
            ..
        }) = m.content.get_mut(content_index as usize)
        {
            *t = spoken_prefix(t, audio_end_ms as f64 / total_ms.max(1) as f64);
        }
        m.status = Some(ItemStatus::Incomplete);
        self.out
            .send(ServerEvent::ConversationItemTruncated {
                item_id,
                content_index,
                audio_end_ms,
                extra: Default::default(),
            })
            .await;
        Ok(())
    }

    /// Cancels the active response. The conversation is free at once: the
    /// cancelled responder only closes its open parts. A response cut off
    /// before it said anything leaves its caller turn unanswered, so the
    /// next response hears it too.
    fn cancel_active(&mut self, reason: &'static str) {
        if let Some(active) = self.active.take() {
            let _ = active.cancel.send(Some(reason));
            if !active.produced {
                self.unanswered_from = self.unanswered_from.min(active.took_from);
            }
        }
    }

    /// What the agent has to respond to: everything after its last reply.
    fn pending_turn(&self) -> Turn {
        let new: Vec<&StoredItem> = self.items[self.unanswered_from.min(self.items.len())..]
            .iter()
            .collect();
        let mut caller = Vec::new();
        let mut tool_outputs = Vec::new();
        for stored in new {
            match &stored.item {
                Item::FunctionCallOutput(o) => {
                    tool_outputs.push((o.call_id.clone(), o.output.clone()))
                }
                Item::Message(m) if m.role == Role::User => {
                    for part in &m.content {
                        match part {
                            ContentPart::InputText { text, .. } => {
                                caller.push(watch::channel(Heard::Words(text.clone())).1)
                            }
                            ContentPart::InputAudio { .. } => {
                                if let Some(h) = &stored.heard {
                                    caller.push(h.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let opening = !self
            .items
            .iter()
            .any(|s| matches!(&s.item, Item::Message(m) if m.role == Role::Assistant))
            && !self
                .items
                .iter()
                .any(|s| matches!(&s.item, Item::FunctionCall(_)));
        Turn {
            caller,
            tool_outputs,
            opening,
        }
    }

    async fn start_response(&mut self, params: ResponseParams) -> Result<(), ProtocolError> {
        let out_of_band = params.conversation.as_deref() == Some("none");
        if let Some(c) = params.conversation.as_deref()
            && c != "none"
            && c != "auto"
        {
            return Err(ProtocolError::invalid_value(
                "response.conversation",
                c,
                "'auto', 'none'",
            ));
        }
        if !out_of_band && let Some(active) = &self.active {
            return Err(ProtocolError::new(
                "conversation_already_has_active_response",
                &format!(
                    "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                    active.id
                ),
                None,
            ));
        }
        let response_id = self.ids.make("resp");
        self.responses_started += 1;
        let mut fault = None;
        if let Some(f) = self.fault.take_if(|f| f.response == self.responses_started) {
            if f.fault.on_the_wire() {
                self.out.arm(f.fault).await;
            } else {
                fault = Some(f.fault);
            }
        }
        let latency = self
            .config
            .latency
            .unwrap_or(self.config.agent.file.emulator.latency);
        let delay_ms = sample_latency(&mut self.rng, latency.median_ms, latency.p90_ms);
        let input_tokens = self.count_input_tokens();
        let (cancel_tx, cancel_rx) = watch::channel(None);
        let plan = ResponsePlan::new(
            &self.session,
            &params,
            response_id.clone(),
            out_of_band,
            delay_ms,
            input_tokens,
            self.last_input_tokens,
            Streaming {
                pacing: self
                    .config
                    .pacing
                    .unwrap_or(self.config.agent.file.emulator.pacing),
                chunk_ms: self.config.agent.file.emulator.chunk_ms,
                speed: self.config.agent.file.emulator.speed,
                transcript_lead_ms: self.config.agent.file.emulator.transcript_lead_ms,
            },
        );
        let turn = if out_of_band {
            Turn::default()
        } else {
            self.pending_turn()
        };
        if !out_of_band {
            let took_from = self.unanswered_from;
            self.unanswered_from = self.items.len();
            self.active = Some(ActiveResponse {
                id: response_id,
                cancel: cancel_tx,
                took_from,
                produced: false,
            });
        }
        let responder = Responder {
            plan,
            turn,
            script: self.script.clone(),
            config: self.config.clone(),
            ids: self.ids.clone(),
            out: self.out.clone(),
            internal: self.internal.clone(),
            cancel: cancel_rx,
            declared: self.session.tools.iter().map(|t| t.name.clone()).collect(),
            out_of_band_reply: self.config.agent.file.emulator.out_of_band_reply.clone(),
            previous_item_id: self
                .items
                .last()
                .and_then(|s| s.item.id().map(str::to_string)),
            audio_out_ms: 0,
            conversation: self.conversation.clone(),
            fault,
            model: self.session.model.clone(),
        };
        tokio::spawn(responder.run());
        Ok(())
    }

    /// Whole-conversation input tokens, re-billed on every response: user
    /// audio about 1 token per 100 ms, assistant audio 1 per 50 ms, text 1 per
    /// 4 characters.
    fn count_input_tokens(&self) -> u64 {
        let instructions = self.session.instructions.len() as u64 / 4;
        let items: u64 = self
            .items
            .iter()
            .map(|s| match &s.item {
                Item::Message(m) => m
                    .content
                    .iter()
                    .map(|p| match p {
                        ContentPart::InputAudio { .. } => 10,
                        ContentPart::OutputAudio { .. } => s
                            .audio_ms
                            .as_ref()
                            .map(|a| a.load(Ordering::SeqCst) / 50)
                            .unwrap_or(0),
                        other => other.text().map(|t| t.len() as u64 / 4).unwrap_or(0),
                    })
                    .sum::<u64>(),
                Item::FunctionCall(c) => (c.arguments.len() / 4) as u64 + 4,
                Item::FunctionCallOutput(o) => (o.output.len() / 4) as u64 + 4,
                Item::Reference(_) => 0,
            })
            .sum();
        instructions + items + 8
    }
}

/// A log-normal sample with the given median and 90th percentile.
fn sample_latency(rng: &mut StdRng, median_ms: f64, p90_ms: f64) -> f64 {
    use rand::RngExt;
    if median_ms <= 0.0 {
        return 0.0;
    }
    let sigma = ((p90_ms.max(median_ms) / median_ms).ln() / 1.281_551_6).max(0.0);
    // Box–Muller from two uniforms.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median_ms * (sigma * z).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_distribution_has_the_configured_median_and_p90() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..20_000)
            .map(|_| sample_latency(&mut rng, 400.0, 900.0))
            .collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[10_000];
        let p90 = xs[18_000];
        assert!((median - 400.0).abs() < 20.0, "median {median}");
        assert!((p90 - 900.0).abs() < 60.0, "p90 {p90}");
    }

    #[test]
    fn zero_latency_is_zero() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(sample_latency(&mut rng, 0.0, 0.0), 0.0);
    }
}
