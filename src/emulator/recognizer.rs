//! The offline "ear": a closed-set recogniser for speech that rehearse itself
//! synthesised. Every offline utterance (the scripted agent's and the
//! simulated caller's) is remembered per conversation with its loudness
//! envelope; audio arriving on the line is matched against those envelopes.
//!
//! It really listens: audio that did not arrive, arrived cut short, or is
//! drowned in line noise does not match, and the agent then says it did not
//! understand. Speech from anywhere else (a real provider's voice) is never
//! recognised; configure a transcription endpoint for that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use crate::audio::envelope::{best_alignment, denoised, envelope, trimmed};
use crate::transcription::Transcriber;

/// Correlation above which a clip counts as the remembered utterance.
pub const MATCH_THRESHOLD: f64 = 0.85;
/// A heard clip starts and ends where it is within this many dB of its
/// loudest frame (after denoising).
const CLIP_EDGE_DB: f64 = 12.0;
/// Utterances kept per conversation (oldest dropped first).
const PER_CONVERSATION: usize = 256;
/// Conversations kept (oldest dropped first), bounding memory in long runs.
const CONVERSATIONS: usize = 4096;

struct Remembered {
    text: String,
    envelope: Vec<f32>,
}

#[derive(Default)]
struct Book {
    order: Vec<String>,
    by_conversation: HashMap<String, Vec<Remembered>>,
}

#[derive(Default, Clone)]
pub struct ClosedSetRecognizer {
    book: Arc<Mutex<Book>>,
}

impl ClosedSetRecognizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers that `text` was spoken as `samples` (24 kHz) in `conversation`.
    pub fn remember(&self, conversation: &str, text: &str, samples: &[i16]) {
        // Treated as the heard clips are, so like is compared with like.
        let env = trimmed(&denoised(&envelope(samples)), CLIP_EDGE_DB);
        if env.is_empty() {
            return;
        }
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        if !book.by_conversation.contains_key(conversation) {
            book.order.push(conversation.to_string());
            if book.order.len() > CONVERSATIONS {
                let oldest = book.order.remove(0);
                book.by_conversation.remove(&oldest);
            }
        }
        let list = book
            .by_conversation
            .entry(conversation.to_string())
            .or_default();
        if list.len() >= PER_CONVERSATION {
            list.remove(0);
        }
        list.push(Remembered {
            text: text.to_string(),
            envelope: env,
        });
    }

    /// The words of `samples`, if they are (part of) an utterance remembered
    /// for `conversation`.
    pub fn recognize(&self, conversation: &str, samples: &[i16]) -> Option<String> {
        let clip = trimmed(&denoised(&envelope(samples)), CLIP_EDGE_DB);
        let book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let candidates = book.by_conversation.get(conversation)?;
        let (score, start, end, text) = candidates
            .iter()
            .filter_map(|r| best_alignment(&clip, &r.envelope).map(|(s, a, b)| (s, a, b, &r.text)))
            .max_by(|a, b| a.0.total_cmp(&b.0))?;
        if score < MATCH_THRESHOLD {
            return None;
        }
        Some(words_between(text, start, end))
    }
}

/// The words of `text` whose positions fall within the fractions [start, end).
fn words_between(text: &str, start: f64, end: f64) -> String {
    if start <= 0.05 && end >= 0.95 {
        return text.to_string();
    }
    let total = text.chars().count().max(1) as f64;
    let mut pos = 0usize;
    let mut kept = Vec::new();
    for word in text.split_whitespace() {
        let centre = (pos as f64 + word.chars().count() as f64 / 2.0) / total;
        if centre >= start && centre < end {
            kept.push(word);
        }
        pos += word.chars().count() + 1;
    }
    kept.join(" ")
}

impl Transcriber for ClosedSetRecognizer {
    fn transcribe(
        &self,
        conversation: Option<&str>,
        audio: Arc<Vec<i16>>,
    ) -> BoxFuture<'_, Result<Option<String>, String>> {
        let conversation = conversation.map(str::to_string);
        Box::pin(async move {
            let Some(conversation) = conversation else {
                return Err("the offline recogniser needs a conversation key".into());
            };
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.recognize(&conversation, &audio))
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Voice, VoiceSettings};

    #[test]
    fn recognises_what_was_said_and_nothing_else() {
        let voice = Voice::new(VoiceSettings {
            pitch: 0.9,
            ..Default::default()
        });
        let a = voice.speak("My order number is N W 1 0 4 2 2.");
        let b = voice.speak("The zip code is 9 7 2 0 1.");
        let ear = ClosedSetRecognizer::new();
        ear.remember("c1", "My order number is N W 1 0 4 2 2.", &a);
        ear.remember("c1", "The zip code is 9 7 2 0 1.", &b);
        // Padded with silence, as VAD commits it.
        let mut heard = vec![0i16; 7200];
        heard.extend(&b);
        heard.extend(vec![0i16; 4800]);
        assert_eq!(
            ear.recognize("c1", &heard).as_deref(),
            Some("The zip code is 9 7 2 0 1.")
        );
        assert_eq!(
            ear.recognize("other-call", &heard),
            None,
            "scoped to the conversation"
        );
        let unknown = voice.speak("I would like to speak to a manager right now.");
        assert_eq!(ear.recognize("c1", &unknown), None, "never invents words");
    }

    #[test]
    fn a_clip_cut_in_two_yields_its_share_of_the_words() {
        let voice = Voice::new(VoiceSettings::default());
        let text = "I bought a pair of boots last week and they arrived with a cracked sole.";
        let audio = voice.speak(text);
        let ear = ClosedSetRecognizer::new();
        ear.remember("c", text, &audio);
        let first = ear.recognize("c", &audio[..audio.len() / 2]).unwrap();
        assert!(
            text.starts_with(&first) && first.len() < text.len() * 3 / 4,
            "{first}"
        );
    }

    #[test]
    fn heavy_line_noise_defeats_it() {
        let voice = Voice::new(VoiceSettings::default());
        let text = "My order number is N W 1 0 4 2 2.";
        let audio = voice.speak(text);
        let ear = ClosedSetRecognizer::new();
        ear.remember("c", text, &audio);
        assert!(
            ear.recognize(
                "c",
                &crate::audio::noise::add_line_noise(&audio, 300.0 / 6500.0, 3)
            )
            .is_some(),
            "light noise is fine"
        );
        assert_eq!(
            ear.recognize(
                "c",
                &crate::audio::noise::add_line_noise(&audio, 6000.0 / 6500.0, 3)
            ),
            None,
            "a drowned line is not"
        );
    }
}

#[cfg(test)]
mod snr_sweep {
    use super::*;
    use crate::audio::line::{Line, NoiseKind, Stage};
    use crate::audio::{Voice, VoiceSettings};

    const LINES: &[&str] = &[
        "Sure, the order number is N W 1 0 4 2 2.",
        "Hi there. I'd like to return a pair of boots I bought last week.",
        "The zip code is 9 7 2 0 1.",
        "It arrived with a cracked sole, so I want a refund.",
        "Yes, that's right.",
        "Can I get an exchange for a bigger size instead?",
    ];

    /// How many of the lines are recognised through a line at `snr_db`,
    /// each padded with the line's sound as a VAD commits it.
    fn recognised(kind: NoiseKind, snr_db: f64) -> usize {
        let voice = Voice::new(VoiceSettings {
            pitch: 0.95,
            rate: 1.05,
            ..Default::default()
        });
        let ear = ClosedSetRecognizer::new();
        let said: Vec<Vec<i16>> = LINES.iter().map(|l| voice.speak(l)).collect();
        for (l, a) in LINES.iter().zip(&said) {
            ear.remember("c", l, a);
        }
        let mut line = Line::new(&[Stage::Noise { kind, snr_db }], 21);
        LINES
            .iter()
            .zip(&said)
            .filter(|(text, audio)| {
                let mut clip = vec![0i16; 7200];
                clip.extend(audio.iter());
                clip.extend(vec![0i16; 12_000]);
                let heard = line.utterance(&clip, 0);
                ear.recognize("c", &heard).as_deref() == Some(**text)
            })
            .count()
    }

    #[test]
    fn recognition_falls_as_the_snr_falls_and_only_then() {
        let sweep = [30.0, 20.0, 15.0, 10.0, 5.0, 0.0, -5.0];
        for kind in [NoiseKind::Cafe, NoiseKind::White] {
            let counts: Vec<usize> = sweep.iter().map(|&snr| recognised(kind, snr)).collect();
            assert_eq!(counts[0], LINES.len(), "{kind:?}: {counts:?}");
            assert!(
                counts.windows(2).all(|w| w[1] <= w[0]),
                "{kind:?} never hears better in more noise: {counts:?}"
            );
            assert!(counts[6] < LINES.len(), "{kind:?} at -5 dB: {counts:?}");
        }
        // Babble masks words; traffic rumble lies below the voice band.
        assert_eq!(recognised(NoiseKind::Cafe, -5.0), 0);
        assert_eq!(recognised(NoiseKind::Street, 5.0), LINES.len());
    }

    #[test]
    fn a_phone_line_keeps_the_words() {
        let voice = Voice::new(VoiceSettings::default());
        let ear = ClosedSetRecognizer::new();
        for text in LINES {
            ear.remember("c", text, &voice.speak(text));
        }
        let phone = [
            Stage::BandPass {
                low_hz: 300.0,
                high_hz: 3400.0,
            },
            Stage::Codec(crate::audio::line::Codec::Mulaw),
        ];
        for text in LINES {
            let heard = Line::new(&phone, 1).utterance(&voice.speak(text), 0);
            assert_eq!(ear.recognize("c", &heard).as_deref(), Some(*text));
        }
    }
}
