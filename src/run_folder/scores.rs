//! `scores.json`: the checks of one call, each with its status, value,
//! threshold and evidence, and the call's verdict. Written by scoring, read
//! by reports and `rescore`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    FunctionCall,
    Flow,
    Transcript,
    Judge,
    Tone,
    Latency,
    Consistency,
    /// Turn-taking: stops, talk-over and silences on the timeline.
    Interaction,
    /// Output guardrails: whether a trip was caught before the caller
    /// heard it, and false fires.
    Guardrail,
    /// A replayed recording: whether the agent's conversation kept to it.
    Replay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Could not be run (no expectation, no judge configured, …): never a pass.
    Skipped,
    /// Tried and broke (judge unreachable, unreadable audio): not a fail either.
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub kind: CheckKind,
    /// Stable name, e.g. `function_call.match`, `judge.empathy`.
    pub name: String,
    pub status: CheckStatus,
    pub value: Option<f64>,
    /// The rule applied, in words (`>= 4`, `130..170 wpm`, `strict order`).
    pub threshold: Option<String>,
    /// Why it was skipped or errored.
    pub reason: Option<String>,
    #[serde(default)]
    pub weight: f64,
    /// Quotes, timestamps, expected vs actual.
    pub evidence: Value,
}

impl Check {
    pub fn new(kind: CheckKind, name: impl Into<String>, passed: bool) -> Check {
        Check {
            kind,
            name: name.into(),
            status: if passed {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            value: None,
            threshold: None,
            reason: None,
            weight: 1.0,
            evidence: Value::Null,
        }
    }

    pub fn skipped(kind: CheckKind, name: impl Into<String>, reason: impl Into<String>) -> Check {
        Check {
            status: CheckStatus::Skipped,
            reason: Some(reason.into()),
            ..Check::new(kind, name, false)
        }
    }

    pub fn error(kind: CheckKind, name: impl Into<String>, reason: impl Into<String>) -> Check {
        Check {
            status: CheckStatus::Error,
            reason: Some(reason.into()),
            ..Check::new(kind, name, false)
        }
    }

    pub fn value(mut self, v: f64) -> Check {
        self.value = Some(v);
        self
    }

    pub fn threshold(mut self, t: impl Into<String>) -> Check {
        self.threshold = Some(t.into());
        self
    }

    pub fn evidence(mut self, e: Value) -> Check {
        self.evidence = e;
        self
    }

    pub fn weight(mut self, w: f64) -> Check {
        self.weight = w;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The conversation itself errored, or a check errored with none failing.
    Error,
    /// Nothing could be decided: every check was skipped.
    Undecided,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Undecided => "undecided",
        }
    }
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::FunctionCall => "function_call",
            CheckKind::Flow => "flow",
            CheckKind::Transcript => "transcript",
            CheckKind::Judge => "judge",
            CheckKind::Tone => "tone",
            CheckKind::Latency => "latency",
            CheckKind::Consistency => "consistency",
            CheckKind::Interaction => "interaction",
            CheckKind::Guardrail => "guardrail",
            CheckKind::Replay => "replay",
        }
    }
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Error => "error",
        }
    }
}

/// `scores.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSheet {
    pub version: u32,
    pub variant: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    pub verdict: Verdict,
    /// Weighted share of decided checks that passed (0–1), None if none decided.
    pub score: Option<f64>,
    pub checks: Vec<Check>,
    /// Numeric measures beside the checks (latency percentiles, tone, …).
    pub metrics: BTreeMap<String, f64>,
}

/// The format of `scores.json`; checked on read. 2: checks of kind
/// `interaction`. 3: checks of kind `guardrail`. 4: checks of kind `replay`.
pub const SCORES_VERSION: u32 = 4;
