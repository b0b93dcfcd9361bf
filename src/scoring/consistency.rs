//! Audio vs transcript: transcribe the agent's own audio and compare it with
//! the transcript that was judged (word error rate), to catch audio that says
//! something else than its text. Needs a transcription endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::audio::wav;
use crate::run_folder::RecordedConversation;
use crate::run_folder::Speaker;
use crate::run_folder::{Check, CheckKind};
use crate::transcription::Transcriber;

/// Largest WER for the check to pass.
pub const MAX_WER: f64 = 0.15;

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Word error rate of `hypothesis` against `reference` (edit distance / reference words).
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (tokens(reference), tokens(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for i in 1..=r.len() {
        let mut cur = vec![i; h.len() + 1];
        for j in 1..=h.len() {
            let sub = prev[j - 1] + usize::from(r[i - 1] != h[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

/// Each utterance's span of the agent track at the session rate (None
/// for an empty span).
fn agent_clips(
    track: &std::path::Path,
    spans: &[(f64, f64)],
) -> Result<Vec<Option<Vec<i16>>>, String> {
    let (samples, rate) = wav::read_mono(track).map_err(|e| e.to_string())?;
    let per_ms = rate as f64 / 1000.0;
    Ok(spans
        .iter()
        .map(|&(start, end)| {
            let (a, b) = (
                (start * per_ms) as usize,
                ((end * per_ms) as usize).min(samples.len()),
            );
            (a < b).then(|| {
                crate::audio::resample::resample_i16(
                    &samples[a..b],
                    rate,
                    crate::audio::SESSION_RATE,
                )
            })
        })
        .collect())
}

pub async fn score(
    rec: &RecordedConversation,
    transcriber: Option<&dyn Transcriber>,
    metrics: &mut BTreeMap<String, f64>,
) -> Check {
    let name = "consistency.audio_vs_transcript";
    let Some(transcriber) = transcriber else {
        return Check::skipped(
            CheckKind::Consistency,
            name,
            "no transcription endpoint configured (--transcription-url)",
        );
    };
    // Reading the track and cutting the clips is CPU work: off the async
    // workers, as the rest of offline scoring.
    let track = rec.track(Speaker::Agent);
    let spans: Vec<(f64, f64)> = rec
        .said_by(Speaker::Agent)
        .map(|u| (u.start_ms, u.end_ms))
        .collect();
    let clips = crate::cpu_pool::run(move || agent_clips(&track, &spans)).await;
    let clips = match clips {
        Ok(Ok(clips)) => clips,
        Ok(Err(e)) | Err(e) => {
            return Check::error(
                CheckKind::Consistency,
                name,
                format!("cannot read the agent track: {e}"),
            );
        }
    };
    let (mut reference, mut heard) = (Vec::new(), Vec::new());
    let mut worst = Vec::new();
    for (u, clip) in rec.said_by(Speaker::Agent).zip(clips) {
        let Some(clip) = clip else {
            continue;
        };
        let text = match transcriber.transcribe(None, Arc::new(clip)).await {
            Ok(t) => t.unwrap_or_default(),
            Err(e) => {
                return Check::error(
                    CheckKind::Consistency,
                    name,
                    format!("transcription failed: {e}"),
                );
            }
        };
        let w = wer(&u.text, &text);
        if w > MAX_WER {
            worst.push(
                json!({"start_ms": u.start_ms, "transcript": u.text, "audio_says": text, "wer": w}),
            );
        }
        reference.push(u.text.clone());
        heard.push(text);
    }
    let total = wer(&reference.join(" "), &heard.join(" "));
    metrics.insert("consistency.wer".into(), total);
    Check::new(CheckKind::Consistency, name, total <= MAX_WER)
        .value(total)
        .threshold(format!("WER <= {MAX_WER}"))
        .evidence(json!({"mismatched_turns": worst}))
}

#[cfg(test)]
mod tests {
    use super::wer;

    #[test]
    fn word_error_rate() {
        assert_eq!(wer("the cat sat", "the cat sat"), 0.0);
        assert!((wer("the cat sat", "the bat sat down") - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(wer("", ""), 0.0);
        assert_eq!(wer("Hello, world!", "hello world"), 0.0);
    }
}
