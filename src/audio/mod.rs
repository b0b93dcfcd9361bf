//! Audio: formats and codecs of the Realtime API, resampling, offline speech,
//! voice activity detection and WAV files.

pub mod envelope;
pub mod espeak;
pub mod format;
pub mod g711;
pub mod line;
pub mod loudness;
pub mod noise;
pub mod resample;
pub mod sounds;
pub mod tone;
pub mod tts;
pub mod vad;
pub mod wav;

pub use format::{AudioFormat, SESSION_RATE};
pub use tts::{Voice, VoiceSettings};
pub use vad::{EnergyVad, VadEvent};

/// Root-mean-square level of `samples` in dBFS (`-inf` for silence).
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32768.0;
    20.0 * rms.log10()
}
