//! Offline speech with the embedded Flite `kal16` voice, resampled to the
//! session rate. Agent and caller voices differ by pitch and rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SESSION_RATE;
use super::resample;

/// How an offline voice sounds: `pitch` multiplies the voice's mean F0 (1.0 is
/// the natural ~100 Hz male voice), `rate` its speaking speed (1.2 = 20%
/// faster), `timbre` the size of the vocal tract it seems to come from: its
/// formants move by that factor (1.15 a smaller speaker, 0.9 a larger one)
/// while pitch and rate stay as set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceSettings {
    #[serde(default = "one")]
    pub pitch: f32,
    #[serde(default = "one")]
    pub rate: f32,
    #[serde(default = "one")]
    pub timbre: f32,
}

fn one() -> f32 {
    1.0
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            pitch: 1.0,
            rate: 1.0,
            timbre: 1.0,
        }
    }
}

impl VoiceSettings {
    /// The range Flite produces intelligible speech in; settings are clamped to it.
    pub fn clamped(self) -> Self {
        VoiceSettings {
            pitch: self.pitch.clamp(0.5, 2.0),
            rate: self.rate.clamp(0.5, 2.0),
            timbre: self.timbre.clamp(0.8, 1.25),
        }
    }

    fn key(self) -> (u32, u32, u32) {
        let s = self.clamped();
        (
            (s.pitch * 1000.0).round() as u32,
            (s.rate * 1000.0).round() as u32,
            (s.timbre * 1000.0).round() as u32,
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

type EngineCache = Mutex<HashMap<(u32, u32, u32), Arc<flite_rs::Engine>>>;

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
                // Played back `timbre` times faster (see `speak`), so made
                // that much lower and slower here.
                let mut engine = flite_rs::Engine::new();
                engine.select_voice("kal16");
                engine.set_f0_shift(settings.pitch / settings.timbre);
                engine.set_duration_stretch(settings.timbre / settings.rate);
                Arc::new(engine)
            })
            .clone();
        Voice { engine, settings }
    }

    /// Speaks `text` as 24 kHz mono PCM. Empty text gives empty audio.
    ///
    /// Synthesis is deterministic, and a batch says the same lines again and
    /// again (an agent's script, a scenario's caller), so recent lines are
    /// kept ([`SPOKEN_CACHE_BYTES`] in all) and said again from memory.
    pub fn speak(&self, text: &str) -> Vec<i16> {
        let key = (self.settings.key(), text.to_string());
        if let Some(pcm) = spoken().lock().ok().and_then(|c| c.get(&key)) {
            return pcm.to_vec();
        }
        let audio = self.engine.synthesize(text);
        // Read at `timbre` times its rate, every frequency (formants and
        // pitch) moves by that factor: the vocal tract scales.
        let heard_rate = (audio.sample_rate as f32 * self.settings.timbre).round() as u32;
        let pcm = resample::resample_i16(&audio.samples, heard_rate, SESSION_RATE);
        if let Ok(mut cache) = spoken().lock() {
            cache.put(key, &pcm);
        }
        pcm
    }
}

/// Most audio kept by [`Voice::speak`] for lines said again, in bytes.
pub const SPOKEN_CACHE_BYTES: usize = 32 * 1024 * 1024;

type SpokenKey = ((u32, u32, u32), String);

/// Recently spoken lines, oldest dropped first once over the budget.
#[derive(Default)]
struct SpokenCache {
    lines: HashMap<SpokenKey, Arc<[i16]>>,
    order: std::collections::VecDeque<SpokenKey>,
    bytes: usize,
}

impl SpokenCache {
    fn get(&self, key: &SpokenKey) -> Option<Arc<[i16]>> {
        self.lines.get(key).cloned()
    }

    fn put(&mut self, key: SpokenKey, pcm: &[i16]) {
        let size = std::mem::size_of_val(pcm);
        if size > SPOKEN_CACHE_BYTES || self.lines.contains_key(&key) {
            return;
        }
        while self.bytes + size > SPOKEN_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.lines.remove(&old) {
                self.bytes -= std::mem::size_of_val(&*gone);
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.lines.insert(key, pcm.into());
    }
}

fn spoken() -> &'static Mutex<SpokenCache> {
    static SPOKEN: OnceLock<Mutex<SpokenCache>> = OnceLock::new();
    SPOKEN.get_or_init(Default::default)
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
    fn a_line_said_again_sounds_the_same_and_the_cache_stays_in_budget() {
        let voice = Voice::new(VoiceSettings::default());
        let line = "Your return label is on its way.";
        assert_eq!(voice.speak(line), voice.speak(line));
        let other = Voice::new(VoiceSettings {
            pitch: 1.3,
            ..Default::default()
        });
        assert_ne!(voice.speak(line), other.speak(line), "keyed by voice too");
        let mut cache = SpokenCache::default();
        let big = vec![0i16; SPOKEN_CACHE_BYTES / 2 / 3];
        for i in 0..10 {
            cache.put(((0, 0, 0), i.to_string()), &big);
            assert!(cache.bytes <= SPOKEN_CACHE_BYTES);
        }
        assert!(cache.get(&((0, 0, 0), "9".into())).is_some(), "newest kept");
        assert!(
            cache.get(&((0, 0, 0), "0".into())).is_none(),
            "oldest dropped"
        );
    }

    #[test]
    fn rate_changes_duration() {
        let text = "I would like to return my boots.";
        let normal = Voice::new(VoiceSettings::default()).speak(text).len() as f64;
        let fast = Voice::new(VoiceSettings {
            rate: 1.4,
            ..Default::default()
        })
        .speak(text)
        .len() as f64;
        assert!(fast < normal * 0.85, "fast {fast} vs normal {normal}");
    }
}
