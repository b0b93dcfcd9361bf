//! Offline speech with the embedded Flite `kal16` voice, resampled to the
//! session rate. Agent and caller voices differ by pitch and rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SESSION_RATE;
use super::resample;

/// How an offline voice sounds: `pitch` multiplies the voice's mean F0 (1.0 is
/// the natural ~100 Hz male voice), `rate` its speaking speed (1.2 = 20% faster).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceSettings {
    #[serde(default = "one")]
    pub pitch: f32,
    #[serde(default = "one")]
    pub rate: f32,
}

fn one() -> f32 {
    1.0
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            pitch: 1.0,
            rate: 1.0,
        }
    }
}

impl VoiceSettings {
    /// The range Flite produces intelligible speech in; settings are clamped to it.
    pub fn clamped(self) -> Self {
        VoiceSettings {
            pitch: self.pitch.clamp(0.5, 2.0),
            rate: self.rate.clamp(0.5, 2.0),
        }
    }

    fn key(self) -> (u32, u32) {
        let s = self.clamped();
        (
            (s.pitch * 1000.0).round() as u32,
            (s.rate * 1000.0).round() as u32,
        )
    }
}

/// A synthesiser for one voice. Cheap to clone; engines are shared per setting
/// because building one parses the embedded voice tables.
#[derive(Clone)]
pub struct Voice {
    engine: Arc<flite_rs::Engine>,
    pub settings: VoiceSettings,
}

type EngineCache = Mutex<HashMap<(u32, u32), Arc<flite_rs::Engine>>>;

fn engines() -> &'static EngineCache {
    static ENGINES: OnceLock<EngineCache> = OnceLock::new();
    ENGINES.get_or_init(Default::default)
}

impl Voice {
    pub fn new(settings: VoiceSettings) -> Voice {
        let settings = settings.clamped();
        let mut cache = engines().lock().unwrap_or_else(|p| p.into_inner());
        let engine = cache
            .entry(settings.key())
            .or_insert_with(|| {
                let mut engine = flite_rs::Engine::new();
                engine.select_voice("kal16");
                engine.set_f0_shift(settings.pitch);
                engine.set_duration_stretch(1.0 / settings.rate);
                Arc::new(engine)
            })
            .clone();
        Voice { engine, settings }
    }

    /// Speaks `text` as 24 kHz mono PCM. Empty text gives empty audio.
    pub fn speak(&self, text: &str) -> Vec<i16> {
        let audio = self.engine.synthesize(text);
        resample::resample_i16(&audio.samples, audio.sample_rate, SESSION_RATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::rms_dbfs;

    #[test]
    fn speech_has_plausible_duration_and_level() {
        let text = "Thanks for calling. Can I have your order number please?";
        let pcm = Voice::new(VoiceSettings::default()).speak(text);
        let secs = pcm.len() as f64 / SESSION_RATE as f64;
        let words = text.split_whitespace().count() as f64;
        // Conversational speech runs at 2–4 words per second.
        assert!(
            (words / 4.0..words / 1.5).contains(&secs),
            "{secs} s for {words} words"
        );
        assert!(rms_dbfs(&pcm) > -35.0, "speech level {}", rms_dbfs(&pcm));
    }

    #[test]
    fn rate_changes_duration() {
        let text = "I would like to return my boots.";
        let normal = Voice::new(VoiceSettings::default()).speak(text).len() as f64;
        let fast = Voice::new(VoiceSettings {
            pitch: 1.0,
            rate: 1.4,
        })
        .speak(text)
        .len() as f64;
        assert!(fast < normal * 0.85, "fast {fast} vs normal {normal}");
    }
}
