//! The agent's output guardrails during a call, run as a production client
//! runs them: the transcript deltas go to each guardrail every
//! `debounce_chars` characters as they arrive, classifiers answer in the
//! background (never in the audio path), and a trip cancels the response,
//! stops its playback where the guardrail decided, truncates the item
//! there, and (when configured) has the agent say the fallback line.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::{AgentSpeech, Bridge, BridgeError, GuardCut};
use crate::guardrails::{
    GuardrailMode, Guardrails, Outcome, Playback, ResponseWatch, SpeakingRate, place_trip,
    voiced_ms, voiced_spans,
};
use crate::protocol::{ClientEvent, ResponseParams};
use crate::run_folder::{GuardrailCheckRecord, Speaker};

/// The guardrails' state over a call.
pub(super) struct LiveGuard {
    rails: Arc<Guardrails>,
    /// Each agent item's words so far, and what each guardrail has read.
    watches: HashMap<String, ResponseWatch>,
    /// Classifier checks under way.
    pending: JoinSet<(String, Outcome)>,
    /// Checks that have decided (or failed), by item.
    decided: Vec<(String, Outcome)>,
    /// Items a guardrail has tripped on.
    tripped: HashSet<String>,
    /// Items whose response was cancelled while it streamed: their text
    /// ran ahead of their audio.
    cut_streaming: HashSet<String>,
    /// The agent's speaking rate over the responses it said whole.
    rate: SpeakingRate,
}

impl LiveGuard {
    pub fn new(rails: Guardrails) -> LiveGuard {
        LiveGuard {
            rails: Arc::new(rails),
            watches: HashMap::new(),
            pending: JoinSet::new(),
            decided: Vec::new(),
            tripped: HashSet::new(),
            cut_streaming: HashSet::new(),
            rate: SpeakingRate::default(),
        }
    }

    pub fn mode(&self) -> GuardrailMode {
        self.rails.mode
    }

    /// A transcript delta of `item_id`, arrived at `at` (timeline ms).
    /// Returns true when a guardrail tripped on the item just now.
    pub async fn delta(&mut self, item_id: &str, delta: &str, at: f64) -> bool {
        let rails = self.rails.clone();
        let watch = self
            .watches
            .entry(item_id.to_string())
            .or_insert_with(|| rails.watch());
        let due = watch.push(delta);
        self.run(item_id, due, at).await
    }

    /// The item's transcript is complete: the last checks.
    pub async fn done(&mut self, item_id: &str, at: f64) -> bool {
        let Some(watch) = self.watches.get_mut(item_id) else {
            return false;
        };
        let due = watch.finish();
        self.run(item_id, due, at).await
    }

    async fn run(&mut self, item_id: &str, due: Vec<crate::guardrails::Due>, at: f64) -> bool {
        let mut tripped = false;
        for d in due {
            if self.rails.is_instant(d.guard) {
                let outcome = self.rails.check(d, at).await;
                tripped |= self.decide(item_id.to_string(), outcome);
            } else {
                let (rails, item) = (self.rails.clone(), item_id.to_string());
                self.pending
                    .spawn(async move { (item, rails.check(d, at).await) });
            }
        }
        tripped
    }

    /// Keeps a decided check; true when it is the item's first trip.
    fn decide(&mut self, item_id: String, outcome: Outcome) -> bool {
        let first = outcome.tripped() && self.tripped.insert(item_id.clone());
        if first && let Some(watch) = self.watches.get_mut(&item_id) {
            watch.stop();
        }
        self.decided.push((item_id, outcome));
        first
    }

    /// Classifier answers that have come in; the items they tripped on.
    pub fn poll(&mut self) -> Vec<String> {
        let mut newly = Vec::new();
        while let Some(joined) = self.pending.try_join_next() {
            if let Ok((item, outcome)) = joined
                && self.decide(item.clone(), outcome)
            {
                newly.push(item);
            }
        }
        newly
    }

    /// Waits for every classifier under way (each bounded by its timeout).
    pub async fn settle(&mut self) {
        let longest = self
            .rails
            .specs
            .iter()
            .map(|s| s.timeout_ms)
            .max()
            .unwrap_or(0);
        let bound = Duration::from_millis(longest) + Duration::from_secs(5);
        while let Ok(Some(joined)) = tokio::time::timeout(bound, self.pending.join_next()).await {
            if let Ok((item, outcome)) = joined {
                self.decide(item, outcome);
            }
        }
    }

    /// The trip that cuts an item: the earliest to decide.
    fn first_trip(&self, item_id: &str) -> Option<&Outcome> {
        self.decided
            .iter()
            .filter(|(item, o)| item == item_id && o.tripped())
            .map(|(_, o)| o)
            .min_by(|a, b| {
                let at = |o: &Outcome| o.decided_ms.unwrap_or(f64::MAX);
                at(a).total_cmp(&at(b))
            })
    }

    /// Takes an item's checks as records, its first trip placed against
    /// `playback`; the item is forgotten.
    fn records(
        &mut self,
        item_id: &str,
        playback: Option<Playback<'_>>,
    ) -> Vec<GuardrailCheckRecord> {
        let enforced = self.rails.mode == GuardrailMode::Enforce;
        let first = self
            .first_trip(item_id)
            .map(|o| (o.guard, o.due.chars, o.decided_ms));
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.decided)
            .into_iter()
            .partition(|(item, _)| item == item_id);
        self.decided = rest;
        self.watches.remove(item_id);
        mine.into_iter()
            .map(|(item, o)| {
                let mut record = o.record(&self.rails, Some(item));
                let is_first = first == Some((o.guard, o.due.chars, o.decided_ms));
                if let (true, Some(playback), Some(span), Some(decided)) =
                    (is_first, playback, o.trigger.clone(), o.decided_ms)
                {
                    record.trip = Some(place_trip(&playback, span, decided, enforced));
                }
                record
            })
            .collect()
    }
}

impl Bridge<'_> {
    /// A transcript delta went by: the guardrails read it. A trip on a
    /// response still under way cancels it (enforce mode).
    pub(super) async fn guard_delta(
        &mut self,
        item_id: &str,
        delta: &str,
        at: f64,
    ) -> Result<(), BridgeError> {
        let Some(guard) = &mut self.guard else {
            return Ok(());
        };
        if guard.delta(item_id, delta, at).await {
            self.cut_response(vec![item_id.to_string()]).await?;
        }
        Ok(())
    }

    /// An item's transcript is complete: the guardrails' last checks.
    pub(super) async fn guard_done(&mut self, item_id: &str, at: f64) -> Result<(), BridgeError> {
        let Some(guard) = &mut self.guard else {
            return Ok(());
        };
        if guard.done(item_id, at).await {
            self.cut_response(vec![item_id.to_string()]).await?;
        }
        Ok(())
    }

    /// Classifier answers that came in since the last event.
    pub(super) async fn guard_poll(&mut self) -> Result<(), BridgeError> {
        let Some(guard) = &mut self.guard else {
            return Ok(());
        };
        let tripped = guard.poll();
        if !tripped.is_empty() {
            self.cut_response(tripped).await?;
        }
        Ok(())
    }

    /// Whether a guardrail tripped on any of these speeches (enforced).
    pub(super) fn guard_cut_any(&self) -> bool {
        self.guard
            .as_ref()
            .is_some_and(|g| g.mode() == GuardrailMode::Enforce && !g.tripped.is_empty())
    }

    /// Cancels the response under way, as a client does when a guardrail
    /// trips (its playback stops where the guardrail decided).
    async fn cut_response(&mut self, items: Vec<String>) -> Result<(), BridgeError> {
        let Some(guard) = &mut self.guard else {
            return Ok(());
        };
        let enforce = guard.mode() == GuardrailMode::Enforce;
        if let (true, Some(response_id)) = (enforce, self.active_response.take()) {
            guard.cut_streaming.extend(items);
            self.agent
                .tx
                .send_event(ClientEvent::ResponseCancel {
                    response_id: Some(response_id),
                    extra: Default::default(),
                })
                .await?;
        }
        Ok(())
    }

    /// After an agent turn: waits for the guardrails still deciding, places
    /// every trip against the audio as it will play, records every check,
    /// and (enforce mode) cuts each tripped speech where its guardrail
    /// decided, truncating the item there. Returns the fallback line to
    /// say, when a guardrail that tripped has one.
    pub(super) async fn guard_turn(
        &mut self,
        speeches: &mut [AgentSpeech],
    ) -> Result<Option<String>, BridgeError> {
        let Some(guard) = &mut self.guard else {
            return Ok(None);
        };
        guard.settle().await;
        let enforce = guard.mode() == GuardrailMode::Enforce;
        let mut fallback = None;
        // Where each speech will play: at its arrival, after the one before.
        let mut track_end = self.rec.next_start(Speaker::Agent, 0.0);
        let mut records = Vec::new();
        let mut truncations = Vec::new();
        for speech in speeches.iter_mut() {
            let Some(item_id) = speech.item_id.clone() else {
                continue;
            };
            let duration = speech.audio.len() as f64 / 24.0;
            let start = speech.arrived_ms.max(track_end);
            let trip = guard
                .first_trip(&item_id)
                .and_then(|o| Some((o.decided_ms?, o.guard)));
            let played_ms = match trip {
                Some((decided, _)) if enforce => (decided - start).clamp(0.0, duration),
                _ => duration,
            };
            let text = guard
                .watches
                .get(&item_id)
                .map_or(speech.text.clone(), |w| w.text().to_string());
            let whole = !guard.cut_streaming.remove(&item_id);
            let voiced = voiced_spans(&speech.audio);
            let speaking = voiced_ms(&voiced);
            let playback = Playback {
                start_ms: start,
                voiced: &voiced,
                ms_per_char: guard.rate.for_response(speaking, &text, whole),
                text: &text,
                played_ms,
            };
            if trip.is_none() && speaking > 0.0 {
                guard.rate.add(speaking, &text);
            }
            records.extend(guard.records(&item_id, Some(playback)));
            if let (Some((_, g)), true) = (trip, enforce) {
                speech.guard_cut = Some(GuardCut {
                    played_ms,
                    guardrail: guard.rails.specs[g].name.clone(),
                });
                truncations.push((item_id, played_ms));
                fallback = fallback.or_else(|| guard.rails.specs[g].fallback.clone());
            }
            if !speech.audio.is_empty() {
                track_end = start + played_ms;
            }
        }
        // Checks on items that never became speech (no audio, no text).
        let others: Vec<String> = guard.decided.iter().map(|(i, _)| i.clone()).collect();
        for item in others {
            records.extend(guard.records(&item, None));
        }
        guard.tripped.clear();
        for record in &records {
            self.rec.guardrail_check(record);
        }
        for (item_id, played_ms) in truncations {
            self.truncate(item_id, played_ms).await?;
        }
        Ok(fallback)
    }

    /// Has the agent say `line` (a guardrail's fallback) and reads the turn.
    pub(super) async fn say_fallback(
        &mut self,
        line: &str,
    ) -> Result<Vec<AgentSpeech>, BridgeError> {
        self.agent
            .tx
            .send_event(ClientEvent::ResponseCreate {
                response: Some(Box::new(ResponseParams {
                    instructions: Some(crate::protocol::scripted_line::say_exactly(line)),
                    ..Default::default()
                })),
                extra: Default::default(),
            })
            .await?;
        self.agent_turn().await
    }
}
