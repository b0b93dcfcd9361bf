//! Output guardrails run the way production clients run them: beside the
//! agent, on its transcript deltas every `debounce_chars` characters, never
//! in the audio path. A guardrail that trips cuts the response; where its
//! trigger words play in the audio says whether it was caught before the
//! caller heard them ([`placement`]).
//!
//! The same checks serve a live call (the bridge feeds a [`ResponseWatch`]
//! per agent item and acts on the outcomes) and `rehearse guardrails`
//! ([`replay`]), which re-runs them over a recorded call's deltas.

pub mod classifier;
pub mod placement;
pub mod replay;
pub mod watch;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use placement::{Playback, SpeakingRate, find_quote, place_trip, voiced_ms, voiced_spans};
pub use watch::{Due, ResponseWatch};

use crate::config::guardrail::{GuardrailKind, GuardrailSpec};
use crate::run_folder::GuardrailCheckRecord;

/// Whether a tripped guardrail cuts the response or is only recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GuardrailMode {
    /// Cut the response where the guardrail decided, as production does.
    #[default]
    Enforce,
    /// Record trips but let every response play (shadow mode): the whole
    /// response is on record for `rehearse guardrails` to replay.
    Observe,
}

/// An agent's guardrails, ready to check text.
#[derive(Debug, Clone)]
pub struct Guardrails {
    pub specs: Vec<GuardrailSpec>,
    pub mode: GuardrailMode,
    /// Where classifier answers are cached (the run's judge cache).
    cache_dir: PathBuf,
    client: reqwest::Client,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub guard: usize,
    pub due: Due,
    /// Timeline ms when the text checked had arrived.
    pub sent_ms: f64,
    /// Timeline ms when it decided (None: it failed).
    pub decided_ms: Option<f64>,
    /// What tripped it: byte offsets into `due.text`.
    pub trigger: Option<Range<usize>>,
    pub error: Option<String>,
    pub tokens: (u64, u64),
    pub cost_usd: Option<f64>,
    pub cached: bool,
    /// A classifier was asked (over the network, not from the cache).
    pub asked: bool,
    /// A failed write of the classifier cache.
    pub write_error: Option<String>,
}

impl Outcome {
    pub fn tripped(&self) -> bool {
        self.trigger.is_some()
    }

    /// The check as `guardrails.jsonl` records it (without a trip's
    /// placement, which needs the audio).
    pub fn record(&self, guardrails: &Guardrails, item_id: Option<String>) -> GuardrailCheckRecord {
        let spec = &guardrails.specs[self.guard];
        GuardrailCheckRecord {
            guardrail: spec.name.clone(),
            kind: spec.kind,
            item_id,
            chars: self.due.chars,
            complete: self.due.complete,
            sent_ms: self.sent_ms,
            decided_ms: self.decided_ms,
            tripped: self.tripped(),
            error: self.error.clone(),
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            cached: self.cached,
            trip: None,
        }
    }
}

impl Guardrails {
    /// None for an agent without guardrails.
    pub fn new(
        specs: &[GuardrailSpec],
        mode: GuardrailMode,
        cache_dir: &Path,
    ) -> Option<Guardrails> {
        (!specs.is_empty()).then(|| Guardrails {
            specs: specs.to_vec(),
            mode,
            cache_dir: cache_dir.to_path_buf(),
            client: crate::http::client(Duration::from_secs(60)),
        })
    }

    /// A watch for one response.
    pub fn watch(&self) -> ResponseWatch {
        ResponseWatch::new(self.specs.iter().map(|s| s.debounce_chars))
    }

    /// Whether a guardrail decides at once (a regex) or waits on a classifier.
    pub fn is_instant(&self, guard: usize) -> bool {
        self.specs[guard].kind == GuardrailKind::Regex
    }

    /// Runs a check that fell due at `sent_ms` (timeline). A regex decides
    /// then; a classifier when it answers, `sent_ms` plus its latency.
    pub async fn check(&self, due: Due, sent_ms: f64) -> Outcome {
        let spec = &self.specs[due.guard];
        let mut outcome = Outcome {
            guard: due.guard,
            due,
            sent_ms,
            decided_ms: Some(sent_ms),
            trigger: None,
            error: None,
            tokens: (0, 0),
            cost_usd: None,
            cached: false,
            asked: false,
            write_error: None,
        };
        let (Some(question), Some(judge)) = (&spec.question, &spec.judge) else {
            outcome.trigger = spec.phrases.iter().find_map(|p| p.find(&outcome.due.text));
            return outcome;
        };
        let timeout = Duration::from_millis(spec.timeout_ms);
        let (answer, write_error) = classifier::classify(
            &self.client,
            judge,
            question,
            &outcome.due.text,
            &self.cache_dir,
            timeout,
        )
        .await;
        outcome.write_error = write_error;
        match answer {
            Ok(a) => {
                outcome.decided_ms = Some(sent_ms + a.latency_ms);
                outcome.tokens = a.tokens;
                outcome.cost_usd = a.cost_usd;
                outcome.cached = a.cached;
                outcome.asked = !a.cached;
                if a.tripped {
                    outcome.trigger = Some(trigger_span(&outcome.due, a.quote.as_deref()));
                }
            }
            Err(e) => {
                outcome.asked = true;
                outcome.decided_ms = None;
                outcome.error = Some(e.message);
            }
        }
        outcome
    }
}

/// Where a classifier's yes points in the text: its quote when the quote
/// is there word for word; else the words it had not read before (the
/// previous check said no, so what tripped it ends in them).
fn trigger_span(due: &Due, quote: Option<&str>) -> Range<usize> {
    if let Some(found) = quote.and_then(|q| find_quote(&due.text, q)) {
        return found;
    }
    let start = due
        .text
        .char_indices()
        .nth(due.read_before)
        .map_or(due.text.len(), |(i, _)| i);
    start..due.text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unquoted_yes_points_at_the_words_not_read_before() {
        let due = Due {
            guard: 0,
            text: "Sure thing. I'll refund it anyway.".into(),
            chars: 34,
            read_before: 12,
            complete: true,
        };
        assert_eq!(
            &due.text[trigger_span(&due, None)],
            "I'll refund it anyway."
        );
        assert_eq!(
            &due.text[trigger_span(&due, Some("refund it ANYWAY"))],
            "refund it anyway"
        );
        assert_eq!(
            &due.text[trigger_span(&due, Some("not in the text"))],
            "I'll refund it anyway."
        );
    }
}
