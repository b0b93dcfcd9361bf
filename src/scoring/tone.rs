//! Tone criteria: offline DSP on each side's speech, against target ranges.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::audio::tone::{ToneMetrics, analyse};
use crate::audio::wav;
use crate::config::rubric::{Criterion, RubricFile};
use crate::run_folder::RecordedConversation;
use crate::run_folder::Speaker;
use crate::run_folder::{Check, CheckKind};

/// One side's speech (its utterance spans, joined) measured once.
pub fn measure(rec: &RecordedConversation, speaker: Speaker) -> Result<ToneMetrics, String> {
    let (samples, rate) = wav::read_mono(&rec.track(speaker))
        .map_err(|e| format!("cannot read the {speaker:?} track: {e}"))?;
    let per_ms = rate as f64 / 1000.0;
    let mut speech = Vec::new();
    let mut words = Vec::new();
    for u in rec.said_by(speaker) {
        let (a, b) = (
            (u.start_ms * per_ms) as usize,
            ((u.end_ms * per_ms) as usize).min(samples.len()),
        );
        if a < b {
            speech.extend_from_slice(&samples[a..b]);
            words.push(u.text.as_str());
        }
    }
    let samples = crate::audio::resample::resample_i16(&speech, rate, crate::audio::SESSION_RATE);
    Ok(analyse(&samples, Some(&words.join(" "))))
}

pub fn metrics_map(m: &ToneMetrics) -> BTreeMap<String, f64> {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.as_f64().map(|f| (k, f)))
        .collect()
}

pub fn score(
    rubric: &RubricFile,
    criterion: &Criterion,
    measured: &Result<ToneMetrics, String>,
) -> Check {
    let name = format!("tone.{}.{}", rubric.name, criterion.id);
    let m = match measured {
        Ok(m) => metrics_map(m),
        Err(e) => return Check::error(CheckKind::Tone, name, e.clone()),
    };
    let mut results = Vec::new();
    let mut passed = true;
    let mut unmeasured = Vec::new();
    for (metric, (lo, hi)) in &criterion.targets {
        match m.get(metric) {
            None => unmeasured.push(metric.clone()),
            Some(v) => {
                let ok = lo.is_none_or(|l| *v >= l) && hi.is_none_or(|h| *v <= h);
                passed &= ok;
                results.push(json!({"metric": metric, "value": v, "min": lo, "max": hi, "ok": ok}));
            }
        }
    }
    if !unmeasured.is_empty() {
        return Check::error(
            CheckKind::Tone,
            name,
            format!("could not measure {}", unmeasured.join(", ")),
        )
        .evidence(Value::Array(results));
    }
    let in_range =
        results.iter().filter(|r| r["ok"] == true).count() as f64 / results.len().max(1) as f64;
    Check::new(CheckKind::Tone, name, passed)
        .value(in_range)
        .weight(criterion.weight)
        .threshold(
            criterion
                .targets
                .iter()
                .map(|(k, (lo, hi))| {
                    format!(
                        "{k} in [{}, {}]",
                        lo.map_or("-".into(), |v| v.to_string()),
                        hi.map_or("-".into(), |v| v.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        )
        .evidence(json!({"speaker": criterion.speaker, "targets": results}))
}
