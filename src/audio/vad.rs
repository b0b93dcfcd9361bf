//! Energy-based voice activity detection, as the emulator's server VAD.
//!
//! Frames of 10 ms are voiced when their RMS level exceeds a threshold derived
//! from the session's `threshold` (0–1, higher is less sensitive). Speech
//! starts after a short run of voiced frames and stops after
//! `silence_duration_ms` of unvoiced ones, as the real server VAD behaves.

use super::{SESSION_RATE, rms_dbfs};

const FRAME_MS: u64 = 10;
const FRAME_SAMPLES: usize = (SESSION_RATE as u64 * FRAME_MS / 1000) as usize;
/// Voiced frames needed before speech counts as started (filters clicks).
const MIN_SPEECH_FRAMES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began at this position (ms on the input timeline, before padding).
    SpeechStarted { at_ms: u64 },
    /// Speech ended; `at_ms` is where the silence window closed.
    SpeechStopped { at_ms: u64 },
}

#[derive(Debug, Clone)]
pub struct EnergyVad {
    threshold_dbfs: f64,
    silence_frames_needed: u32,
    pending: Vec<i16>,
    frames_seen: u64,
    speaking: bool,
    voiced_run: u32,
    silence_run: u32,
}

impl EnergyVad {
    pub fn new(threshold: f64, silence_duration_ms: u32) -> Self {
        EnergyVad {
            threshold_dbfs: Self::threshold_dbfs(threshold),
            silence_frames_needed: (silence_duration_ms as u64).div_ceil(FRAME_MS).max(1) as u32,
            pending: Vec::with_capacity(FRAME_SAMPLES),
            frames_seen: 0,
            speaking: false,
            voiced_run: 0,
            silence_run: 0,
        }
    }

    /// Maps the protocol's 0–1 threshold onto a level: 0.5 is −45 dBFS.
    pub fn threshold_dbfs(threshold: f64) -> f64 {
        -70.0 + 50.0 * threshold.clamp(0.0, 1.0)
    }

    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Position of the end of all audio pushed so far, in ms.
    pub fn position_ms(&self) -> u64 {
        self.frames_seen * FRAME_MS + (self.pending.len() as u64 * 1000 / SESSION_RATE as u64)
    }

    /// Forgets speech in progress (after `input_audio_buffer.clear`), keeping
    /// the timeline position.
    pub fn reset_speech(&mut self) {
        self.speaking = false;
        self.voiced_run = 0;
        self.silence_run = 0;
    }

    pub fn push(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        let mut events = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (FRAME_SAMPLES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == FRAME_SAMPLES {
                let voiced = rms_dbfs(&self.pending) > self.threshold_dbfs;
                self.pending.clear();
                self.frames_seen += 1;
                if let Some(e) = self.step(voiced) {
                    events.push(e);
                }
            }
        }
        events
    }

    fn step(&mut self, voiced: bool) -> Option<VadEvent> {
        let end_ms = self.frames_seen * FRAME_MS;
        if voiced {
            self.voiced_run += 1;
            self.silence_run = 0;
            if !self.speaking && self.voiced_run >= MIN_SPEECH_FRAMES {
                self.speaking = true;
                let start = end_ms - self.voiced_run as u64 * FRAME_MS;
                return Some(VadEvent::SpeechStarted { at_ms: start });
            }
        } else {
            self.voiced_run = 0;
            if self.speaking {
                self.silence_run += 1;
                if self.silence_run >= self.silence_frames_needed {
                    self.speaking = false;
                    self.silence_run = 0;
                    return Some(VadEvent::SpeechStopped { at_ms: end_ms });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: u64) -> Vec<i16> {
        (0..ms * 24)
            .map(|i| ((i as f64 * 0.1).sin() * 6000.0) as i16)
            .collect()
    }

    #[test]
    fn finds_speech_boundaries_to_the_frame() {
        let mut vad = EnergyVad::new(0.5, 200);
        let mut audio = vec![0i16; 500 * 24];
        audio.extend(tone(700));
        audio.extend(vec![0i16; 400 * 24]);
        let events = vad.push(&audio);
        assert_eq!(
            events,
            vec![
                VadEvent::SpeechStarted { at_ms: 500 },
                VadEvent::SpeechStopped { at_ms: 1400 }
            ]
        );
    }

    #[test]
    fn short_pause_inside_speech_does_not_end_the_turn() {
        let mut vad = EnergyVad::new(0.5, 300);
        let mut audio = tone(300);
        audio.extend(vec![0i16; 150 * 24]);
        audio.extend(tone(300));
        let events = vad.push(&audio);
        assert_eq!(events, vec![VadEvent::SpeechStarted { at_ms: 0 }]);
        assert!(vad.is_speaking());
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let mut audio = vec![0i16; 333 * 24];
        audio.extend(tone(555));
        audio.extend(vec![0i16; 600 * 24]);
        let whole = EnergyVad::new(0.5, 200).push(&audio);
        let mut vad = EnergyVad::new(0.5, 200);
        let chunked: Vec<_> = audio.chunks(77).flat_map(|c| vad.push(c)).collect();
        assert_eq!(whole, chunked);
    }
}
