//! A caller's turn the agent does not wait for: the caller hesitates in
//! the middle of a sentence, the agent's turn detection takes the pause
//! for the end of the turn, and the agent starts answering half a
//! sentence. A real client plays that answer as it arrives and stops it
//! when the agent's VAD hears the caller go on; the recording shows
//! exactly that, and the agent's later answer follows as its turn.

use rand::RngExt;
use serde_json::Value;

use super::open_line::POLL;
use super::{AgentSpeech, Bridge, BridgeError};
use crate::run_folder::Speaker;

/// A caller line as said: its audio, and where a hesitation pause sits in
/// it (offset and length, ms).
pub(super) struct SaidLine {
    pub audio: Vec<i16>,
    pub pause_ms: Option<(f64, f64)>,
}

/// Lines shorter than this are said in one breath.
const MIN_WORDS_TO_HESITATE: usize = 4;
/// Samples quieter than this (about −40 dBFS) are the voice's silence.
const VOICED: u16 = 330;

/// Where the voice starts in `audio` (samples).
fn voiced_start(audio: &[i16]) -> usize {
    audio
        .iter()
        .position(|s| s.unsigned_abs() > VOICED)
        .unwrap_or(audio.len())
}

/// Where the voice ends in `audio` (samples).
fn voiced_end(audio: &[i16]) -> usize {
    audio
        .iter()
        .rposition(|s| s.unsigned_abs() > VOICED)
        .map_or(0, |i| i + 1)
}

impl Bridge<'_> {
    /// Says `line` in the caller's voice, with a pause mid-sentence when
    /// the persona hesitates this time (`hesitations`, a chance per turn
    /// of four words or more; the pause lasts `hesitation_s`), and
    /// remembers it for the emulator's ear: the whole line, and each part
    /// as the agent may hear it alone.
    pub(super) async fn say(&mut self, line: &str) -> Result<SaidLine, BridgeError> {
        let Some((before, after)) = self.hesitation_in(line) else {
            let audio = self.voice.speak(line).await.map_err(BridgeError::Speech)?;
            self.remember(line, &audio);
            return Ok(SaidLine {
                audio,
                pause_ms: None,
            });
        };
        let first = self
            .voice
            .speak(&before)
            .await
            .map_err(BridgeError::Speech)?;
        let second = self
            .voice
            .speak(&after)
            .await
            .map_err(BridgeError::Speech)?;
        self.remember(&before, &first);
        self.remember(&after, &second);
        let pause_ms = self.spec.persona.traits.hesitation_s * 1000.0;
        // The silence heard is the pause plus the voice's own quiet at the
        // end of the first part and the start of the second.
        let heard_from = voiced_end(&first) as f64 / 24.0;
        let heard_ms =
            (first.len() - voiced_end(&first) + voiced_start(&second)) as f64 / 24.0 + pause_ms;
        let mut audio = first;
        audio.extend(std::iter::repeat_n(0i16, (pause_ms * 24.0) as usize));
        audio.extend(second);
        self.remember(line, &audio);
        Ok(SaidLine {
            audio,
            pause_ms: Some((heard_from, heard_ms)),
        })
    }

    pub(super) fn remember(&self, text: &str, audio: &[i16]) {
        if let Some(ear) = &self.spec.recognizer {
            ear.remember(&self.spec.key, text, audio);
        }
    }

    /// Where the caller pauses in `line` this time, as the words before
    /// and after: somewhere in its middle third.
    fn hesitation_in(&mut self, line: &str) -> Option<(String, String)> {
        let chance = self.spec.persona.traits.hesitations;
        let words: Vec<&str> = line.split_whitespace().collect();
        if chance <= 0.0 || words.len() < MIN_WORDS_TO_HESITATE {
            return None;
        }
        if !self.hesitations.random_bool(chance.min(1.0)) {
            return None;
        }
        let at = self
            .hesitations
            .random_range(words.len() / 3..=words.len() * 2 / 3)
            .clamp(1, words.len() - 1);
        Some((words[..at].join(" "), words[at..].join(" ")))
    }

    /// Whether a response spoke inside the caller's turn and the caller
    /// went on over it: all its audio arrived before the caller had
    /// finished, and the agent's VAD heard the caller after it began.
    pub(super) async fn caller_went_on_over(
        &mut self,
        speeches: &[AgentSpeech],
    ) -> Result<bool, BridgeError> {
        let audible: Vec<&AgentSpeech> = speeches.iter().filter(|s| !s.audio.is_empty()).collect();
        let Some(first) = audible.first() else {
            return Ok(false);
        };
        if audible.iter().any(|s| s.arrived_ms >= self.caller_end_ms) {
            return Ok(false);
        }
        let start = self.rec.next_start(Speaker::Agent, first.arrived_ms);
        let span: f64 = audible.iter().map(|s| s.audio.len() as f64 / 24.0).sum();
        Ok(self.cut_by_caller(start, span).await?.is_some())
    }

    /// How far agent speech playing from `start` for `duration` ms gets
    /// before the agent's VAD hears the caller (a real client stops
    /// playback on `input_audio_buffer.speech_started`): only speech that
    /// began inside the caller's turn can be cut so. The events that have
    /// already arrived are read ahead (and kept) to find out.
    pub(super) async fn cut_by_caller(
        &mut self,
        start: f64,
        duration: f64,
    ) -> Result<Option<f64>, BridgeError> {
        if start >= self.caller_end_ms {
            return Ok(None);
        }
        self.poll_agent(POLL).await?;
        let ahead = self.held.iter().filter_map(|(_, raw, at)| {
            (raw.get("type").and_then(Value::as_str) == Some("input_audio_buffer.speech_started"))
                .then_some(*at)
        });
        let cut = self
            .caller_heard_at
            .iter()
            .copied()
            .chain(ahead)
            .filter(|&t| t > start && t < start + duration)
            .min_by(f64::total_cmp);
        Ok(cut.map(|t| t - start))
    }

    /// Records agent speech that arrived inside the caller's turn, played
    /// from its arrival until the agent's VAD heard the caller go on, and
    /// truncates each item where it stopped.
    pub(super) async fn overheard(
        &mut self,
        speeches: Vec<AgentSpeech>,
    ) -> Result<(), BridgeError> {
        for speech in speeches {
            let duration = speech.audio.len() as f64 / 24.0;
            let start = self.rec.next_start(Speaker::Agent, speech.arrived_ms);
            let cut = self.cut_by_caller(start, duration).await?;
            let played_ms = cut.unwrap_or(duration);
            if played_ms > 0.0 {
                self.record_agent_speech(&speech, start, played_ms)?;
                self.outcome.interruptions += u32::from(played_ms < duration);
            }
            if let Some(item_id) = speech.item_id {
                self.truncate(item_id, played_ms).await?;
            }
        }
        Ok(())
    }
}
