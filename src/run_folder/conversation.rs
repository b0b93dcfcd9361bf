//! `conversation.json`: how one call went, beside its artifacts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audio::line::{LineStats, Stage};
use crate::protocol::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Completed,
    Error,
    /// Stopped by Ctrl-C / SIGTERM before it finished; `--resume` runs it again.
    Interrupted,
    /// A real call brought in by `rehearse import` (its provenance is in
    /// `conversation.json`): scored and reported like a completed one.
    Imported,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Error => "error",
            Status::Interrupted => "interrupted",
            Status::Imported => "imported",
        }
    }

    /// A call with a whole record to score: completed, or imported.
    pub fn has_record(self) -> bool {
        matches!(self, Status::Completed | Status::Imported)
    }
}

/// Why a completed call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller got what it called for and hung up.
    GoalMet,
    /// The agent said goodbye (or handed off and the line closed).
    AgentEnded,
    /// The caller hung up for another reason.
    CallerHungUp,
    /// The caller's patience ran out (repeats, loops, long holds).
    PatienceExhausted,
    /// The scenario's `max_turns` was reached.
    MaxTurns,
    /// The scenario's `max_duration_s` was reached.
    MaxDuration,
    /// The agent stayed silent longer than the scenario's `silence_s`.
    Silence,
    /// A replayed call: the agent's conversation left the recording so far
    /// that the next recorded line no longer fitted (see `divergence`).
    Diverged,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::GoalMet => "goal_met",
            EndReason::AgentEnded => "agent_ended",
            EndReason::CallerHungUp => "caller_hung_up",
            EndReason::PatienceExhausted => "patience_exhausted",
            EndReason::MaxTurns => "max_turns",
            EndReason::MaxDuration => "max_duration",
            EndReason::Silence => "silence",
            EndReason::Diverged => "diverged",
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `conversation.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationOutcome {
    pub status: Status,
    /// What went wrong, for `error`. Provider and harness failures land here,
    /// never as a verdict on the agent.
    pub error: Option<String>,
    /// Why a completed call ended.
    pub end_reason: Option<EndReason>,
    pub goal_met: bool,
    pub agent_turns: u32,
    pub customer_turns: u32,
    pub interruptions: u32,
    pub tool_calls: u32,
    pub duration_ms: f64,
    /// Artifacts may be incomplete (the call broke off).
    pub partial: bool,
    /// The agent's model as requested of the provider: its usage is priced
    /// at this model's rates.
    #[serde(default)]
    pub model: Option<String>,
    /// The agent session's token usage.
    pub usage: UsageTotals,
    /// The simulated caller's own usage (a Realtime session or a chat
    /// model), priced apart from the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<CallerUsage>,
    pub protocol_errors: Vec<Value>,
    /// Error events beyond those kept above (all are in `events.jsonl`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub protocol_errors_not_kept: u32,
    /// Tries it took (a transient provider failure is tried again).
    #[serde(default = "one")]
    pub attempts: u32,
    /// Why earlier tries failed; their artifacts are under `attempts/<n>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_attempts: Vec<String>,
    /// What a reader of this call should know that is not an error (the
    /// agent could not hear the caller, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The line the caller's audio crossed on its way to the agent: the
    /// condition, its resolved stages and what they measurably did. Absent
    /// for `clean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<LineRecord>,
    /// Where an imported call came from (`rehearse import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportRecord>,
    /// For a replayed call that diverged: where, and what did not fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divergence: Option<Divergence>,
    /// Artifact writes that failed during the call (each also logged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_errors: Vec<String>,
    /// The provider failed in a way that trying again may fix, and how long
    /// it asked to wait (not written: it only steers retries).
    #[serde(skip)]
    pub transient: Option<Option<Duration>>,
}

/// What a call was imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    /// A Realtime event log (JSON lines of client and server events).
    EventLog,
    /// A stereo call recording (or two mono tracks), with or without a transcript.
    Recording,
    /// A call of a rehearse run folder.
    RunFolder,
}

/// Provenance of an imported call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    pub source: ImportSource,
    /// The files read (as given on the command line).
    pub files: Vec<String>,
    /// When it was imported (RFC 3339).
    pub imported_at: String,
    /// Where the utterances' words came from (`transcription events`, `transcript file`, …).
    pub words_from: String,
    /// Personal data masked at import (`--redact`), by pattern name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub redacted: std::collections::BTreeMap<String, u32>,
    /// Secrets (keys, authorisation) found in the source and not copied.
    #[serde(default)]
    pub secrets_dropped: u32,
}

/// Where a replayed call left its recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// The agent turn (1-based) after which no recorded line fitted.
    pub turn: u32,
    /// Why, in words: nothing fitted, or the agent kept asking for a line
    /// already said.
    pub reason: String,
    /// What the agent said then.
    pub heard: String,
    /// The closest thing the original agent said that a recorded line answered.
    pub closest: String,
    /// How alike the two were (0–1), against the threshold.
    pub similarity: f64,
    pub threshold: f64,
}

/// The condition a call ran under, as `conversation.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineRecord {
    pub condition: String,
    pub stages: Vec<Stage>,
    #[serde(flatten)]
    pub measured: LineStats,
}

/// The simulated caller's spend: the model it ran on and its tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallerUsage {
    pub model: String,
    pub usage: UsageTotals,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Token usage summed over a session's responses (or a chat model's
/// requests, whose tokens are all text).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub responses: u32,
    pub input_text_tokens: u64,
    pub input_audio_tokens: u64,
    pub cached_text_tokens: u64,
    pub cached_audio_tokens: u64,
    pub output_text_tokens: u64,
    pub output_audio_tokens: u64,
}

impl UsageTotals {
    /// Adds one Realtime response's usage.
    pub fn add(&mut self, u: &Usage) {
        self.responses += 1;
        let d = &u.input_token_details;
        self.input_text_tokens += d.text_tokens;
        self.input_audio_tokens += d.audio_tokens;
        self.cached_text_tokens += d.cached_tokens_details.text_tokens;
        self.cached_audio_tokens += d.cached_tokens_details.audio_tokens;
        self.output_text_tokens += u.output_token_details.text_tokens;
        self.output_audio_tokens += u.output_token_details.audio_tokens;
    }

    /// Adds one chat completion's usage (text only).
    pub fn add_chat(&mut self, prompt_tokens: u64, completion_tokens: u64) {
        self.responses += 1;
        self.input_text_tokens += prompt_tokens;
        self.output_text_tokens += completion_tokens;
    }
}

impl ConversationOutcome {
    /// A call that has not finished (yet): status error, artifacts partial.
    /// Finishing it fills in status, reason and counts.
    pub fn not_finished() -> Self {
        ConversationOutcome {
            status: Status::Error,
            error: None,
            end_reason: None,
            goal_met: false,
            agent_turns: 0,
            customer_turns: 0,
            interruptions: 0,
            tool_calls: 0,
            duration_ms: 0.0,
            partial: true,
            model: None,
            usage: UsageTotals::default(),
            caller: None,
            protocol_errors: Vec::new(),
            protocol_errors_not_kept: 0,
            attempts: 1,
            failed_attempts: Vec::new(),
            notes: Vec::new(),
            line: None,
            imported: None,
            divergence: None,
            write_errors: Vec::new(),
            transient: None,
        }
    }

    /// Records that the call ran to its end.
    pub fn complete(&mut self, reason: EndReason) {
        self.status = Status::Completed;
        self.partial = false;
        self.end_reason = Some(reason);
    }

    /// Records why the call failed, and whether (and after how long) another
    /// try may succeed.
    pub fn fail(&mut self, error: String, transient: Option<Option<Duration>>) {
        self.status = Status::Error;
        self.error = Some(error);
        self.transient = transient;
    }

    /// Adds a note once (the same note from every turn is said once).
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }
}
