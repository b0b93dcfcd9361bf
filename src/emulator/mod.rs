//! A local Realtime API server that plays a scripted agent and speaks with
//! offline TTS: the agent under test when there is no key and no network.
//!
//! `server` accepts WebSocket connections and checks the handshake; each
//! connection runs a `session` (protocol state, input audio, turn detection
//! in `turns`), and
//! each response is produced by a `responder` task that the session can cancel.

pub mod faults;
mod ids;
pub(crate) mod recognizer;
mod responder;
pub(crate) mod script;
mod server;
mod session;
mod tool_output;
pub mod turns;

use std::sync::Arc;
use std::time::Duration;

pub use faults::{Fault, FaultSpec};
pub use recognizer::ClosedSetRecognizer;
pub use script::{AgentRegistry, CompiledAgent};
pub use server::{EmulatorHandle, serve, spawn};

use crate::config::agent::{AudioPacing, LatencySpec};
use crate::transcription::Transcriber;

/// Everything sessions share.
pub struct EmulatorConfig {
    pub agent: Arc<CompiledAgent>,
    pub registry: AgentRegistry,
    /// Overrides the agent file's response latency (e.g. zero for benchmarks).
    pub latency: Option<LatencySpec>,
    pub pacing: Option<AudioPacing>,
    pub seed: u64,
    pub transcriber: Option<Arc<dyn Transcriber>>,
    /// When set, every line the agent speaks is remembered for the offline
    /// recogniser, under the client's conversation key.
    pub recognizer: Option<ClosedSetRecognizer>,
    /// Sessions beyond this are refused with an error event.
    pub max_sessions: usize,
    /// When set, clients must present this key.
    pub api_key: Option<String>,
    /// Sessions end with `session_expired` after this long, as the real one
    /// does after 60 minutes.
    pub max_session: Duration,
    /// Injected faults (none by default).
    pub faults: FaultSpec,
}

impl EmulatorConfig {
    pub fn new(agent: Arc<CompiledAgent>, registry: AgentRegistry) -> Self {
        EmulatorConfig {
            agent,
            registry,
            latency: None,
            pacing: None,
            seed: 0,
            transcriber: None,
            recognizer: None,
            max_sessions: 1000,
            api_key: None,
            max_session: Duration::from_secs(3600),
            faults: FaultSpec::default(),
        }
    }
}
