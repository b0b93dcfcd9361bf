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
    /// For an agent turn a guardrail cut off: the guardrail's name (the
    /// cut is not the caller interrupting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
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
    /// A plain turn from `start_ms` to `end_ms` (never before its start):
    /// not interrupted, no pauses, no sound.
    pub fn turn(speaker: Speaker, text: String, start_ms: f64, end_ms: f64) -> Utterance {
        Utterance {
            speaker,
            text,
            start_ms,
            end_ms: end_ms.max(start_ms),
            item_id: None,
            interrupted: false,
            full_text: None,
            sound: None,
            pauses: Vec::new(),
            guardrail: None,
        }
    }

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

/// How a guardrail decides (its `kind` in the agent file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailKind {
    /// Trips on any of its phrases; decides at once.
    Regex,
    /// Asks a classifier model its question; decides when it answers.
    Judge,
}

/// One line of `guardrails.jsonl`: one check of a guardrail on the words
/// of an agent response so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailCheckRecord {
    pub guardrail: String,
    pub kind: GuardrailKind,
    /// The agent item whose words were checked.
    pub item_id: Option<String>,
    /// Characters of the item's transcript checked.
    pub chars: usize,
    /// Whether this was the check of the complete response.
    pub complete: bool,
    /// Timeline ms when the checked text had arrived (the check began).
    pub sent_ms: f64,
    /// Timeline ms when it decided; None when it failed (timed out, or
    /// the classifier's reply made no sense).
    pub decided_ms: Option<f64>,
    pub tripped: bool,
    /// Why the check failed: a failed check never trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Classifier tokens (judge guardrails): prompt, completion.
    #[serde(default)]
    pub tokens: (u64, u64),
    /// What the classifier's answer cost, when its price is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Answered from the run's judge cache (the latency is the one measured
    /// when it was first asked).
    #[serde(default)]
    pub cached: bool,
    /// For a check that tripped: what it found and what the caller heard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip: Option<GuardrailTrip>,
}

impl GuardrailCheckRecord {
    /// How long the check took to decide (ms).
    pub fn latency_ms(&self) -> Option<f64> {
        self.decided_ms.map(|d| d - self.sent_ms)
    }
}

/// A guardrail that tripped, placed against the agent's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailTrip {
    /// The words that tripped it: the phrase found, or the classifier's quote.
    pub trigger: String,
    /// Where those words play in the agent's audio, on the timeline (ms).
    pub words_start_ms: f64,
    pub words_end_ms: f64,
    /// Where the response began playing.
    pub playback_start_ms: f64,
    /// The guardrail decided before the first of the words played.
    pub caught_before_heard: bool,
    /// Of the words, what played before the guardrail decided (ms, words).
    pub heard_ms: f64,
    pub heard_words: u32,
    /// The response was cut here (`enforce`), or only recorded (`observe`).
    pub enforced: bool,
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
