//! The JSON-lines records of a call: what was said (`transcript.jsonl`),
//! every tool call (`tools.jsonl`) and every protocol event
//! (`events.jsonl`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which end of the call: the agent under test or the simulated caller.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    Customer,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
        }
    }

    /// The track file of this side of the call.
    pub fn track_file(self) -> &'static str {
        match self {
            Speaker::Agent => super::AGENT_WAV,
            Speaker::Customer => super::CUSTOMER_WAV,
        }
    }
}

impl std::fmt::Display for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of `transcript.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    pub speaker: Speaker,
    /// The words as heard: for an interrupted agent turn, only what played.
    pub text: String,
    pub start_ms: f64,
    pub end_ms: f64,
    #[serde(default)]
    pub item_id: Option<String>,
    #[serde(default)]
    pub interrupted: bool,
    /// For an interrupted agent turn: everything it would have said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<String>,
    /// A caller sound that is not a turn (a backchannel, a cough) made
    /// while the agent talked; absent for turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<CallerSound>,
    /// Hesitations inside a caller's turn: pauses mid-sentence, where the
    /// agent should not answer yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<Pause>,
}

/// A stretch of silence inside an utterance, on the timeline (ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub start_ms: f64,
    pub end_ms: f64,
}

/// Sounds a caller makes that are not turns: a good agent keeps talking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerSound {
    /// "mm-hmm", "okay", "right" while listening.
    Backchannel,
    /// A cough.
    Cough,
    /// A sentence said to someone else in the room, softer.
    SideTalk,
    /// A household noise at the caller's end: a door, dishes.
    Noise,
}

impl CallerSound {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerSound::Backchannel => "backchannel",
            CallerSound::Cough => "cough",
            CallerSound::SideTalk => "side_talk",
            CallerSound::Noise => "noise",
        }
    }
}

impl Utterance {
    /// A turn of the conversation (not a backchannel or a cough).
    pub fn is_turn(&self) -> bool {
        self.sound.is_none()
    }
}

/// One line of `tools.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    pub call_id: String,
    pub name: String,
    /// The arguments exactly as the agent sent them (may be invalid JSON).
    pub arguments: String,
    /// What the fixture answered (None when the backend timed out).
    pub output: Option<String>,
    pub is_error: bool,
    pub timed_out: bool,
    /// Timeline ms when the call was made and answered.
    pub called_ms: f64,
    pub answered_ms: f64,
    pub latency_ms: f64,
}

/// Whether a client sent an event or received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

/// A protocol event on the call's timeline (audio already byte counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Milliseconds since the conversation clock started.
    pub t_ms: f64,
    pub direction: Direction,
    #[serde(rename = "type")]
    pub event_type: String,
    pub event: Value,
}

/// One line of `events.jsonl`: a protocol event and which client saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub side: Speaker,
    #[serde(flatten)]
    pub record: TraceRecord,
}
