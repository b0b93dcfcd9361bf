//! `guardrails:` in an agent file: output guardrails a production client runs
//! beside the agent, on the text of its speech as it streams in (see
//! docs/guardrails.md).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::load::ConfigError;
use super::locate::Step;
use super::matcher::TextRule;
use super::rubric::JudgeSettings;
pub use crate::run_folder::GuardrailKind;

/// One output guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailSpec {
    /// Names its checks (`guardrail.<name>.…`): letters, digits, `_` and `-`.
    pub name: String,
    pub kind: GuardrailKind,
    /// `regex`: phrases (matched case-insensitively) or `/regex/`, as in
    /// `must_not_say`.
    #[serde(default)]
    pub phrases: Vec<TextRule>,
    /// `judge`: a yes/no question about the agent's words so far ("Does the
    /// agent promise a refund outside the return policy?"); yes trips it.
    #[serde(default)]
    pub question: Option<String>,
    /// `judge`: the OpenAI-compatible chat endpoint that answers.
    #[serde(default)]
    pub judge: Option<JudgeSettings>,
    /// New transcript characters between checks; every response is also
    /// checked once complete. `0` checks only complete responses.
    #[serde(default = "default_debounce")]
    pub debounce_chars: u32,
    /// `judge`: longest wait for one answer; a check that times out does
    /// not trip (and is counted).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Said by the agent after it trips (instead of the cut-off response).
    #[serde(default)]
    pub fallback: Option<String>,
}

/// The Agents SDK's default: a check every 100 characters.
fn default_debounce() -> u32 {
    100
}

fn default_timeout_ms() -> u64 {
    2000
}

/// Checks a list of guardrails found at `place` in `path` (`guardrails`, or
/// a variant's): names usable in check names and unique, and each kind
/// with what it needs.
pub fn check_guardrails(
    guardrails: &[GuardrailSpec],
    path: &Path,
    place: &[Step<'_>],
) -> Result<(), ConfigError> {
    for (i, g) in guardrails.iter().enumerate() {
        let at = |key: &'static str| [place, &[Step::Index(i), Step::Key(key)]].concat();
        let fail = |key: &'static str, message: String| {
            ConfigError::new(path, format!("guardrail `{}`: {message}", g.name)).at_path(&at(key))
        };
        let well_named = !g.name.is_empty()
            && g.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !well_named {
            return Err(fail(
                "name",
                "the name must be letters, digits, `_` or `-`".into(),
            )
            .with_hint("it names the guardrail's checks: guardrail.<name>.caught"));
        }
        if guardrails[..i].iter().any(|o| o.name == g.name) {
            return Err(fail("name", "a second guardrail with this name".into()));
        }
        match g.kind {
            GuardrailKind::Regex if g.phrases.is_empty() => {
                return Err(fail("kind", "a `regex` guardrail needs `phrases`".into())
                    .with_hint("phrases: [\"full refund\", \"/refund .{0,20} anyway/\"]"));
            }
            GuardrailKind::Judge if g.question.as_deref().is_none_or(str::is_empty) => {
                return Err(fail("kind", "a `judge` guardrail needs `question`".into())
                    .with_hint("a yes/no question; yes trips the guardrail"));
            }
            GuardrailKind::Judge if g.judge.is_none() => {
                return Err(fail("kind", "a `judge` guardrail needs `judge`".into())
                    .with_hint("judge: { url: http://127.0.0.1:8000/v1, model: gpt-4.1-mini }"));
            }
            _ => {}
        }
        if g.kind == GuardrailKind::Judge && !(50..=60_000).contains(&g.timeout_ms) {
            return Err(fail(
                "timeout_ms",
                format!("timeout_ms is {}, outside 50–60000", g.timeout_ms),
            ));
        }
        if g.fallback.as_deref().is_some_and(|f| f.trim().is_empty()) {
            return Err(fail("fallback", "the fallback line is empty".into()));
        }
    }
    Ok(())
}
