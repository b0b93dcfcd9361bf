//! Energy-based voice activity detection, as the emulator's server VAD.
//!
//! Frames of 10 ms are voiced when their level between 250 Hz and 8 kHz (so
//! traffic rumble counts little) exceeds a threshold derived from the
//! session's `threshold` (0–1, higher is less sensitive) and stands a margin
//! above the line's noise floor (wider over a fluctuating noise): the
//! [`FLOOR_PERCENTILE`]th percentile of the last [`FLOOR_WINDOW_FRAMES`]
//! frames' levels, as noise estimators track it, so steady background noise
//! is not speech. Speech starts after a short run of voiced frames and stops
//! after `silence_duration_ms` without one, as the real server VAD behaves;
//! a lone loud frame (a click) neither starts speech nor keeps it going.
//! This is an approximation of a trained VAD, which also tells speech from
//! babble and traffic by its spectrum: in loud babble this one, like weaker
//! real ones, is slow to hear the end of a turn.

use std::collections::VecDeque;

use super::line::filter::{Butterworth, Pass};
use super::{SESSION_RATE, rms_dbfs};

const FRAME_MS: u64 = 10;
const FRAME_SAMPLES: usize = (SESSION_RATE as u64 * FRAME_MS / 1000) as usize;
/// Voiced frames before speech counts as started (120 ms: clicks, clatter
/// and single loud syllables of background talk do not start a turn; a
/// short "No.", a cough or a loud "mm-hmm" does)...
const START_FRAMES: u32 = 12;
/// ...among this many recent frames (short dips inside a syllable are fine).
const START_WINDOW: u32 = 16;
/// Voiced frames in a row that count as speech going on once started.
const CONTINUE_FRAMES: u32 = 3;
/// How far above the noise floor a frame must be to be voiced: this much
/// over a steady noise, more over a fluctuating one (per dB of spread
/// between the floor and the quieter frames), up to the maximum.
pub const MARGIN_BASE_DB: f64 = 3.0;
pub const MARGIN_PER_SPREAD: f64 = 2.0;
pub const MARGIN_MAX_DB: f64 = 10.0;
/// The spread is measured down to this percentile.
const SPREAD_PERCENTILE: usize = 5;
/// Frames the noise floor is estimated over (3 s).
pub const FLOOR_WINDOW_FRAMES: usize = 300;
/// The noise floor is this percentile of the window's frame levels.
pub const FLOOR_PERCENTILE: usize = 25;
/// Levels are binned by the dB from this floor up to 0 dBFS.
const LOWEST_DB: f64 = -100.0;

/// Frame levels of a sliding window, binned by the dB, for percentiles.
#[derive(Debug, Clone)]
struct LevelWindow {
    bins: Vec<u32>,
    order: VecDeque<usize>,
}

impl LevelWindow {
    fn new() -> Self {
        LevelWindow {
            bins: vec![0; -LOWEST_DB as usize + 1],
            order: VecDeque::with_capacity(FLOOR_WINDOW_FRAMES),
        }
    }

    fn push(&mut self, level: f64) {
        if self.order.len() == FLOOR_WINDOW_FRAMES
            && let Some(old) = self.order.pop_front()
        {
            self.bins[old] -= 1;
        }
        let bin = (level.clamp(LOWEST_DB, 0.0) - LOWEST_DB).round() as usize;
        self.bins[bin] += 1;
        self.order.push_back(bin);
    }

    /// The level below which `percent` of the window lies; None when empty.
    fn percentile(&self, percent: usize) -> Option<f64> {
        let n = self.order.len();
        if n == 0 {
            return None;
        }
        let wanted = (n * percent).div_ceil(100).max(1) as u32;
        let mut seen = 0;
        for (bin, &count) in self.bins.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Some(LOWEST_DB + bin as f64);
            }
        }
        None
    }
}

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
    /// The last 32 frames, voiced or not (bit 0 the newest).
    voiced_bits: u32,
    /// Where the last turn ended (ms).
    last_stop_ms: u64,
    silence_run: u32,
    /// Levels of the last frames, for the noise floor.
    recent: LevelWindow,
    /// The speech band the level is measured in.
    high_pass: Butterworth,
    low_pass: Butterworth,
    /// The frame in the band, reused frame to frame.
    band: Vec<i16>,
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
            voiced_bits: 0,
            last_stop_ms: 0,
            silence_run: 0,
            recent: LevelWindow::new(),
            high_pass: Butterworth::new(Pass::High, 2, 250.0, SESSION_RATE),
            low_pass: Butterworth::new(Pass::Low, 2, 8000.0, SESSION_RATE),
            band: Vec::with_capacity(FRAME_SAMPLES),
        }
    }

    /// Whether a frame at `level` dBFS is voiced, given the frames before it.
    fn voiced(&mut self, level: f64) -> bool {
        let floor = self.recent.percentile(FLOOR_PERCENTILE);
        // A steady noise needs a small margin, a fluctuating one (babble,
        // traffic) a wider one: its spread below the floor says which.
        let spread = match (floor, self.recent.percentile(SPREAD_PERCENTILE)) {
            (Some(f), Some(low)) => f - low,
            _ => 0.0,
        };
        let margin =
            (MARGIN_BASE_DB + MARGIN_PER_SPREAD * spread).clamp(MARGIN_BASE_DB, MARGIN_MAX_DB);
        let voiced = level > self.threshold_dbfs && floor.is_none_or(|f| level > f + margin);
        // Speech does not raise the floor: only the line between words does.
        if !(self.speaking && voiced) {
            self.recent.push(level);
        }
        voiced
    }

    /// The level (dBFS) of a frame in the speech band.
    fn band_level(&mut self, frame: &[i16]) -> f64 {
        self.band.clear();
        for &s in frame {
            let y = self.low_pass.process(self.high_pass.process(s as f32));
            self.band.push(y.round().clamp(-32768.0, 32767.0) as i16);
        }
        rms_dbfs(&self.band)
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
        self.voiced_bits = 0;
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
                let frame = std::mem::take(&mut self.pending);
                let level = self.band_level(&frame);
                self.pending = frame;
                let voiced = self.voiced(level);
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
        self.voiced_run = if voiced { self.voiced_run + 1 } else { 0 };
        self.voiced_bits = (self.voiced_bits << 1) | voiced as u32;
        let recent = self.voiced_bits & ((1u32 << START_WINDOW) - 1);
        if !self.speaking {
            if voiced && recent.count_ones() >= START_FRAMES {
                self.speaking = true;
                self.silence_run = 0;
                // From the oldest voiced frame of the window, never before
                // the end of the last turn.
                let span = 32 - recent.leading_zeros();
                let start = end_ms
                    .saturating_sub(span as u64 * FRAME_MS)
                    .max(self.last_stop_ms);
                return Some(VadEvent::SpeechStarted { at_ms: start });
            }
            return None;
        }
        if self.voiced_run >= CONTINUE_FRAMES {
            self.silence_run = 0;
            return None;
        }
        self.silence_run += 1;
        if self.silence_run >= self.silence_frames_needed {
            self.speaking = false;
            self.silence_run = 0;
            self.last_stop_ms = end_ms;
            return Some(VadEvent::SpeechStopped { at_ms: end_ms });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like sound: a tone whose loudness rises and falls with
    /// syllables (4 per second), as speech does; a steady tone would be
    /// indistinguishable from a hum.
    fn tone(ms: u64) -> Vec<i16> {
        (0..ms * 24)
            .map(|i| {
                let t = i as f64 / 24_000.0;
                let syllable = 0.6 - 0.3 * (std::f64::consts::TAU * 4.0 * t).cos();
                ((i as f64 * 0.1).sin() * 6000.0 * syllable) as i16
            })
            .collect()
    }

    #[test]
    fn finds_speech_boundaries_to_the_frame() {
        let mut vad = EnergyVad::new(0.5, 200);
        let mut audio = vec![0i16; 500 * 24];
        audio.extend(tone(700));
        audio.extend(vec![0i16; 400 * 24]);
        let events = vad.push(&audio);
        // The band filter rings for a few ms after the sound: one frame.
        assert!(
            matches!(
                events.as_slice(),
                [
                    VadEvent::SpeechStarted { at_ms: 500 },
                    VadEvent::SpeechStopped { at_ms: 1400..=1410 }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn short_pause_inside_speech_does_not_end_the_turn() {
        let mut vad = EnergyVad::new(0.5, 300);
        let mut audio = vec![0i16; 200 * 24];
        audio.extend(tone(300));
        audio.extend(vec![0i16; 150 * 24]);
        audio.extend(tone(300));
        let events = vad.push(&audio);
        assert!(
            matches!(
                events.as_slice(),
                [VadEvent::SpeechStarted { at_ms: 200..=250 }]
            ),
            "{events:?}"
        );
        assert!(vad.is_speaking());
    }

    #[test]
    fn steady_background_noise_is_not_speech_but_speech_over_it_is() {
        use crate::audio::line::{Line, NoiseKind, Stage};
        let mut clean = vec![0i16; 1500 * 24];
        clean.extend(tone(800));
        clean.extend(vec![0i16; 1500 * 24]);
        let noisy = Line::new(
            &[Stage::Noise {
                kind: NoiseKind::Pink,
                snr_db: 10.0,
            }],
            1,
        )
        .utterance(&clean, 0);
        let events = EnergyVad::new(0.5, 500).push(&noisy);
        match events.as_slice() {
            [
                VadEvent::SpeechStarted { at_ms: start },
                VadEvent::SpeechStopped { at_ms: stop },
            ] => {
                // The sound is 1500–2300 ms; speech stops 500 ms after its
                // last loud syllable.
                assert!((1450..=1600).contains(start), "{events:?}");
                assert!((2650..=2900).contains(stop), "{events:?}");
            }
            _ => panic!("one turn in the noise: {events:?}"),
        }
    }

    #[test]
    fn a_click_neither_starts_nor_prolongs_speech() {
        let mut vad = EnergyVad::new(0.5, 200);
        let mut click = vec![0i16; 300 * 24];
        click.extend(tone(20));
        click.extend(vec![0i16; 300 * 24]);
        assert!(vad.push(&click).is_empty());
        let mut speech = tone(300);
        speech.extend(vec![0i16; 500 * 24]);
        let mut clicked = tone(300);
        clicked.extend(vec![0i16; 100 * 24]);
        clicked.extend(vec![8000i16; 20 * 24]);
        clicked.extend(vec![0i16; 380 * 24]);
        assert_eq!(
            EnergyVad::new(0.5, 200).push(&clicked),
            EnergyVad::new(0.5, 200).push(&speech)
        );
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

#[cfg(test)]
mod noise_tests {
    use super::*;
    use crate::audio::line::{Line, NoiseKind, Stage};
    use crate::audio::{Voice, VoiceSettings};

    fn speech() -> Vec<i16> {
        Voice::new(VoiceSettings::default())
            .speak("Hi, I want to return a sleeping bag, the order is N W 5 5 2 4 0.")
    }

    /// `lead` ms of line, the utterance, then `tail` ms of line.
    fn call(kind: NoiseKind, snr_db: f64, lead: usize, tail: usize) -> Vec<i16> {
        let mut clean = vec![0i16; lead * 24];
        clean.extend(speech());
        clean.extend(vec![0i16; tail * 24]);
        Line::new(&[Stage::Noise { kind, snr_db }], 4).utterance(&clean, 0)
    }

    fn speech_ms() -> u64 {
        speech().len() as u64 / 24
    }

    #[test]
    fn one_turn_in_cafe_noise_and_street_noise_at_their_conditions_snr() {
        for (kind, snr_db) in [(NoiseKind::Cafe, 10.0), (NoiseKind::Street, 5.0)] {
            let events = EnergyVad::new(0.5, 500).push(&call(kind, snr_db, 3000, 4000));
            let end = 3000 + speech_ms();
            match events.as_slice() {
                [
                    VadEvent::SpeechStarted { at_ms: start },
                    VadEvent::SpeechStopped { at_ms: stop },
                ] => {
                    assert!((3000..3400).contains(start), "{kind:?}: {events:?}");
                    assert!((end..end + 800).contains(stop), "{kind:?}: {events:?}");
                }
                _ => panic!("{kind:?}: one turn expected, got {events:?}"),
            }
        }
    }

    #[test]
    fn speech_through_a_noisy_headset_is_one_turn() {
        // The persona trait `line_noise` at 0.35 (a mumbler's headset):
        // noise only while they speak, nothing before to learn it from.
        let mut noisy = crate::audio::noise::add_line_noise(&speech(), 0.35, 3);
        noisy.extend(vec![0i16; 1000 * 24]);
        let events = EnergyVad::new(0.5, 500).push(&noisy);
        assert!(
            matches!(
                events.as_slice(),
                [
                    VadEvent::SpeechStarted { at_ms: ..=800 },
                    VadEvent::SpeechStopped { .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn background_talk_alone_is_not_a_turn() {
        let mut line = Line::new(
            &[Stage::Noise {
                kind: NoiseKind::Cafe,
                snr_db: 10.0,
            }],
            8,
        );
        // Two minutes of cafe at the level it has 10 dB under a caller: at
        // most a rare false start (the real server VAD has them too).
        let room = line.stream(&vec![0i16; 120 * 24_000], 0);
        let events = EnergyVad::new(0.5, 500).push(&room);
        assert!(events.len() <= 2, "{events:?}");
    }
}
