//! `rehearse guardrails RUN --debounce 50,100,200`: the agent's guardrails
//! re-run over a recorded call's transcript deltas, at their recorded
//! arrival times, once per debounce setting, and each trip placed against
//! the audio as it played. No call is made; a classifier is asked only
//! about text it has not answered before (its answers are cached).
//!
//! A response a live guardrail cut holds only the words that arrived before
//! the cut: record calls with `--guardrails observe` to replay whole
//! responses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    GuardrailMode, Guardrails, Outcome, Playback, SpeakingRate, place_trip, voiced_ms, voiced_spans,
};
use crate::audio::tone::percentile;
use crate::config::guardrail::GuardrailSpec;
use crate::run_folder::{RecordedConversation, RunFolderError, Speaker};

/// PCM16 at 24 kHz: bytes of agent audio per millisecond.
const AUDIO_BYTES_PER_MS: f64 = 48.0;

/// One agent response as the call recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResponse {
    pub item_id: String,
    /// Transcript deltas with their arrival on the timeline (ms).
    pub deltas: Vec<(f64, String)>,
    /// When the transcript was complete (its `done` event), if it arrived.
    pub done_ms: Option<f64>,
    /// Audio received for the item (ms).
    pub audio_ms: f64,
    /// Where it began playing, and how much of it played.
    pub start_ms: f64,
    pub played_ms: f64,
    /// A live guardrail cut it: words after the cut never arrived.
    pub cut_live: bool,
    /// Where the voice is in the part of its audio that played (ms from
    /// its start), from `agent.wav`.
    pub voiced: Vec<(f64, f64)>,
    /// All of its audio played (nothing cut it).
    pub whole: bool,
}

/// The agent responses of a recorded call, from its events, transcript
/// and the agent's track.
pub fn responses(rec: &RecordedConversation) -> Vec<RecordedResponse> {
    // Without the track, characters are spread over all of each audio.
    let track = crate::audio::wav::read_mono(&rec.track(Speaker::Agent))
        .ok()
        .map(|(samples, _)| samples);
    let mut by_item: BTreeMap<String, RecordedResponse> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in &rec.events {
        if e["direction"] != "received" {
            continue;
        }
        let (Some(kind), Some(item_id), Some(t)) = (
            e["type"].as_str(),
            e["event"]["item_id"].as_str(),
            e["t_ms"].as_f64(),
        ) else {
            continue;
        };
        let entry = by_item.entry(item_id.to_string()).or_insert_with(|| {
            order.push(item_id.to_string());
            RecordedResponse {
                item_id: item_id.to_string(),
                deltas: Vec::new(),
                done_ms: None,
                audio_ms: 0.0,
                start_ms: 0.0,
                played_ms: 0.0,
                cut_live: false,
                voiced: Vec::new(),
                whole: false,
            }
        });
        match kind {
            "response.output_audio_transcript.delta"
            | "response.audio_transcript.delta"
            | "response.output_text.delta"
            | "response.text.delta" => {
                let delta = e["event"]["delta"].as_str().unwrap_or("");
                entry.deltas.push((t, delta.to_string()));
            }
            "response.output_audio_transcript.done"
            | "response.audio_transcript.done"
            | "response.output_text.done"
            | "response.text.done" => entry.done_ms = Some(t),
            "response.output_audio.delta" | "response.audio.delta" => {
                let bytes = e["event"]["delta"]["bytes"].as_f64().unwrap_or(0.0);
                entry.audio_ms += bytes / AUDIO_BYTES_PER_MS;
            }
            _ => {}
        }
    }
    let cut_live: Vec<&str> = rec
        .guardrails
        .iter()
        .filter(|c| c.trip.as_ref().is_some_and(|t| t.enforced))
        .filter_map(|c| c.item_id.as_deref())
        .collect();
    order
        .into_iter()
        .filter_map(|id| {
            let mut r = by_item.remove(&id)?;
            let played = rec
                .said_by(Speaker::Agent)
                .find(|u| u.item_id.as_deref() == Some(id.as_str()))?;
            r.start_ms = played.start_ms;
            r.cut_live = cut_live.contains(&id.as_str());
            // Replayed, the guardrail decides where it is cut; otherwise it
            // plays as it played (up to any interruption).
            let heard_ms = played.end_ms - played.start_ms;
            r.whole = !r.cut_live && heard_ms >= r.audio_ms - 20.0;
            r.voiced = match &track {
                Some(samples) => {
                    let at = |ms: f64| ((ms * 24.0) as usize).min(samples.len());
                    voiced_spans(&samples[at(played.start_ms)..at(played.end_ms)])
                }
                None => vec![(0.0, r.audio_ms)],
            };
            r.played_ms = match r.cut_live {
                true => r.audio_ms,
                false => heard_ms,
            };
            (!r.deltas.is_empty()).then_some(r)
        })
        .collect()
}

/// The checks of one guardrail over one response, and its earliest trip.
struct ResponseReplay {
    outcomes: Vec<Outcome>,
    trip: Option<crate::run_folder::GuardrailTrip>,
}

/// Runs the (single) guardrail of `guards` over `response` as it arrived.
async fn replay_response(
    guards: &Guardrails,
    response: &RecordedResponse,
    rate: &SpeakingRate,
) -> ResponseReplay {
    let mut watch = guards.watch();
    let mut outcomes: Vec<Outcome> = Vec::new();
    // As live: once a check has tripped, no check is sent after it decided.
    let tripped_at = |outcomes: &[Outcome]| {
        outcomes
            .iter()
            .filter(|o| o.tripped())
            .filter_map(|o| o.decided_ms)
            .fold(f64::INFINITY, f64::min)
    };
    let end = response
        .done_ms
        .or(response.deltas.last().map(|d| d.0))
        .unwrap_or(0.0);
    for (t, delta) in &response.deltas {
        let due = watch.push(delta);
        for due in due {
            if *t < tripped_at(&outcomes) {
                outcomes.push(guards.check(due, *t).await);
            }
        }
    }
    for due in watch.finish() {
        if end < tripped_at(&outcomes) {
            outcomes.push(guards.check(due, end).await);
        }
    }
    // Checks run side by side: the first to decide is the one that cuts.
    let first = outcomes.iter().filter(|o| o.tripped()).min_by(|a, b| {
        a.decided_ms
            .unwrap_or(f64::MAX)
            .total_cmp(&b.decided_ms.unwrap_or(f64::MAX))
    });
    let trip = first.and_then(|o| {
        let playback = Playback {
            start_ms: response.start_ms,
            voiced: &response.voiced,
            ms_per_char: rate.for_response(
                voiced_ms(&response.voiced),
                watch.text(),
                response.whole,
            ),
            text: watch.text(),
            played_ms: response.played_ms,
        };
        Some(place_trip(
            &playback,
            o.trigger.clone()?,
            o.decided_ms?,
            true,
        ))
    });
    ResponseReplay { outcomes, trip }
}

/// One guardrail at one debounce setting, over every response replayed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReplayRow {
    pub debounce_chars: u32,
    pub guardrail: String,
    pub responses: usize,
    pub checks: usize,
    /// Checks a classifier answered now (not from the cache).
    pub classifier_calls: usize,
    pub failed_checks: usize,
    pub trips: usize,
    pub caught_before_heard: usize,
    /// Heard of the trigger words per trip (ms): mean and most.
    pub heard_ms_mean: Option<f64>,
    pub heard_ms_max: Option<f64>,
    pub heard_words: u32,
    /// How long checks took to decide (ms).
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub cost_usd: f64,
    /// Responses a live guardrail had cut (words after the cut unknown).
    pub cut_live: usize,
}

impl ReplayRow {
    /// Share of trips decided before the caller heard a word of them.
    pub fn caught_rate(&self) -> Option<f64> {
        (self.trips > 0).then(|| self.caught_before_heard as f64 / self.trips as f64)
    }
}

/// A recorded call and the guardrails of the agent it called.
pub struct ReplayCall {
    pub dir: PathBuf,
    pub guardrails: Vec<GuardrailSpec>,
}

/// Replays every call's guardrails at every debounce setting: one row per
/// setting and guardrail (by name, over all calls).
pub async fn replay(
    calls: &[ReplayCall],
    debounces: &[u32],
    cache_dir: &Path,
) -> Result<Vec<ReplayRow>, RunFolderError> {
    let mut recorded = Vec::new();
    for call in calls {
        let rec = RecordedConversation::load(&call.dir)?;
        let responses = responses(&rec);
        let mut rate = SpeakingRate::default();
        for r in responses.iter().filter(|r| r.whole) {
            let text: String = r.deltas.iter().map(|d| d.1.as_str()).collect();
            rate.add(voiced_ms(&r.voiced), &text);
        }
        recorded.push((responses, rate, &call.guardrails));
    }
    let mut rows: BTreeMap<(u32, String), RowTally> = BTreeMap::new();
    for &debounce in debounces {
        for (responses, rate, specs) in &recorded {
            for spec in specs.iter() {
                let spec = GuardrailSpec {
                    debounce_chars: debounce,
                    ..spec.clone()
                };
                let name = spec.name.clone();
                let Some(guards) = Guardrails::new(&[spec], GuardrailMode::Enforce, cache_dir)
                else {
                    continue;
                };
                let tally = rows.entry((debounce, name.clone())).or_default();
                tally.row.debounce_chars = debounce;
                tally.row.guardrail = name;
                for response in responses {
                    let replayed = replay_response(&guards, response, rate).await;
                    tally.add(response, replayed);
                }
            }
        }
    }
    Ok(rows.into_values().map(RowTally::finish).collect())
}

/// A row as responses are added to it, with the samples its figures need.
#[derive(Default)]
struct RowTally {
    row: ReplayRow,
    heard_ms: Vec<f64>,
    latencies_ms: Vec<f64>,
}

impl RowTally {
    fn add(&mut self, response: &RecordedResponse, replayed: ResponseReplay) {
        let row = &mut self.row;
        row.responses += 1;
        row.cut_live += usize::from(response.cut_live);
        for o in &replayed.outcomes {
            row.checks += 1;
            row.classifier_calls += usize::from(o.asked);
            row.failed_checks += usize::from(o.error.is_some());
            row.cost_usd += o.cost_usd.unwrap_or(0.0);
            if let Some(d) = o.decided_ms {
                self.latencies_ms.push(d - o.sent_ms);
            }
        }
        if let Some(trip) = replayed.trip {
            row.trips += 1;
            row.caught_before_heard += usize::from(trip.caught_before_heard);
            row.heard_words += trip.heard_words;
            self.heard_ms.push(trip.heard_ms);
        }
    }

    fn finish(self) -> ReplayRow {
        let heard = self.heard_ms;
        ReplayRow {
            heard_ms_mean: (!heard.is_empty())
                .then(|| heard.iter().sum::<f64>() / heard.len() as f64),
            heard_ms_max: heard.iter().copied().reduce(f64::max),
            latency_p50_ms: percentile(&self.latencies_ms, 0.5),
            latency_p95_ms: percentile(&self.latencies_ms, 0.95),
            ..self.row
        }
    }
}

/// Parses `50,100,200` (0 checks complete responses only).
pub fn parse_debounces(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: u32 = part
            .parse()
            .map_err(|_| format!("`{part}` is not a number of characters"))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err("give at least one debounce, e.g. 50,100,200".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounces_parse_as_a_list() {
        assert_eq!(
            parse_debounces("50, 100,200,100").unwrap(),
            vec![50, 100, 200]
        );
        assert!(parse_debounces("fast").is_err());
        assert!(parse_debounces("").is_err());
    }
}
