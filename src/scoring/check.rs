//! The unit of scoring: a check with its status, value, threshold and
//! evidence; and the per-conversation sheet with its verdict.

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

/// The overall verdict. A fail anywhere fails; otherwise an error makes it
/// an error (not a fail); a pass needs at least one check that passed, so a
/// skipped check never turns a conversation green.
pub fn verdict(conversation_ok: bool, checks: &[Check]) -> Verdict {
    if !conversation_ok {
        return Verdict::Error;
    }
    let has = |s: CheckStatus| checks.iter().any(|c| c.status == s);
    if has(CheckStatus::Fail) {
        Verdict::Fail
    } else if has(CheckStatus::Error) {
        Verdict::Error
    } else if has(CheckStatus::Pass) {
        Verdict::Pass
    } else {
        Verdict::Undecided
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

pub const SCORES_VERSION: u32 = 1;

/// Weighted pass share of the checks that passed or failed.
pub fn weighted_score(checks: &[Check]) -> Option<f64> {
    let decided: Vec<&Check> = checks
        .iter()
        .filter(|c| matches!(c.status, CheckStatus::Pass | CheckStatus::Fail))
        .collect();
    let total: f64 = decided.iter().map(|c| c.weight).sum();
    (total > 0.0).then(|| {
        decided
            .iter()
            .filter(|c| c.status == CheckStatus::Pass)
            .map(|c| c.weight)
            .sum::<f64>()
            / total
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_rules() {
        let pass = Check::new(CheckKind::Flow, "a", true);
        let fail = Check::new(CheckKind::Flow, "b", false);
        let skip = Check::skipped(CheckKind::Judge, "c", "no judge");
        let err = Check::error(CheckKind::Judge, "d", "timeout");
        assert_eq!(verdict(true, &[pass.clone(), skip.clone()]), Verdict::Pass);
        assert_eq!(
            verdict(true, std::slice::from_ref(&skip)),
            Verdict::Undecided,
            "skipped never turns green"
        );
        assert_eq!(
            verdict(true, &[pass.clone(), err.clone()]),
            Verdict::Error,
            "an error is not a fail"
        );
        assert_eq!(verdict(true, &[fail.clone(), err.clone()]), Verdict::Fail);
        assert_eq!(verdict(false, std::slice::from_ref(&pass)), Verdict::Error);
        assert_eq!(weighted_score(&[pass, fail.weight(3.0), skip]), Some(0.25));
    }
}
