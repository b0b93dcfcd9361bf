//! The run folder: every file a run writes, as the contract between the
//! engine that writes it ([`crate::simulation`]) and everything that reads it
//! ([`crate::scoring`], [`crate::reporting`], `rescore`, `merge`, `report`).
//!
//! ```text
//! <run>/run.json                         Manifest (format version, plan, statuses, counts)
//! <run>/judge-cache/<hash>.json          judge replies, shared by a run and its rescoring
//! <run>/labels.jsonl                     human verdicts (`rehearse review`), LabelRecord lines
//! <run>/conversations/<variant>[@<condition>]/<scenario>/<repeat>/
//!     conversation.json                  ConversationOutcome
//!     transcript.jsonl tools.jsonl events.jsonl   Utterance, ToolCallRecord, EventRecord lines
//!     guardrails.jsonl                   GuardrailCheckRecord lines (agents with guardrails)
//!     agent.wav customer.wav conversation.wav
//!     customer_clean.wav                 the caller before the line (not under `clean`)
//!     scores.json                        ScoreSheet
//!     attempts/<n>/                      the artifacts of failed tries
//! ```
//!
//! Types here change only with [`FORMAT_VERSION`]; [`RunFolder::open`] reads
//! the formats whose types are a subset of today's (3 to 6) and refuses any
//! other with both versions named.

mod conversation;
mod labels;
mod manifest;
pub mod merge;
mod read;
mod records;
mod scores;
mod write;

pub use conversation::{
    CallerUsage, ConversationOutcome, Divergence, EndReason, ImportRecord, ImportSource,
    LineRecord, Status, UsageTotals,
};
pub use labels::{
    HumanVerdict, LABELS, LabelRecord, OVERALL, append_label, latest_labels, read_labels,
};
pub use manifest::{
    CLEAN, Counts, FORMAT_VERSION, HarnessLoad, Manifest, Pace, PlannedConversation, Shard,
    TurnMode, condition_suffix,
};
pub use read::{RecordedConversation, RunFolder, RunFolderError, read_jsonl, read_scores};
pub use records::{
    CallerSound, Direction, EventRecord, GuardrailCheckRecord, GuardrailKind, GuardrailTrip, Pause,
    Speaker, ToolCallRecord, TraceRecord, Utterance,
};
pub use scores::{Check, CheckKind, CheckStatus, SCORES_VERSION, ScoreSheet, Verdict};
pub use write::{Jsonl, MAX_UNTRUSTED_TEXT, bounded, write_atomic};

/// `run.json`: the manifest.
pub const MANIFEST: &str = "run.json";
/// Judge replies, cached by request hash, shared by a run and its rescoring.
pub const JUDGE_CACHE: &str = "judge-cache";
/// Where a run's calls live, one folder per variant / scenario / repeat.
pub const CONVERSATIONS: &str = "conversations";
/// Where the artifacts of a call's failed tries are kept, inside its folder.
pub const ATTEMPTS: &str = "attempts";

/// `conversation.json`: how a call went.
pub const OUTCOME: &str = "conversation.json";
/// `scores.json`: the checks and verdict of a call.
pub const SCORES: &str = "scores.json";
pub const TRANSCRIPT: &str = "transcript.jsonl";
pub const EVENTS: &str = "events.jsonl";
pub const TOOLS: &str = "tools.jsonl";
/// Every guardrail check on the agent's words (agents with `guardrails:`).
pub const GUARDRAILS: &str = "guardrails.jsonl";
pub const AGENT_WAV: &str = "agent.wav";
pub const CUSTOMER_WAV: &str = "customer.wav";
/// The caller's speech before the line (calls under a condition other than
/// `clean`): `customer.wav` is what the agent received.
pub const CUSTOMER_CLEAN_WAV: &str = "customer_clean.wav";
pub const CONVERSATION_WAV: &str = "conversation.wav";
