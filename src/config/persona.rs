//! `personas/*.yaml`: who the simulated caller is, how they behave, how they
//! sound, and which driver plays them.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::load::{ConfigError, load_yaml_file};
use super::locate::Step;
use crate::audio::VoiceSettings;
use crate::audio::espeak::EspeakSettings;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonaFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How they talk, for LLM-played drivers ("short, clipped sentences").
    #[serde(default)]
    pub speaking_style: String,
    #[serde(default)]
    pub traits: Traits,
    #[serde(default)]
    pub voice: PersonaVoice,
    #[serde(default = "english")]
    pub language: String,
    #[serde(default)]
    pub driver: Driver,
}

fn english() -> String {
    "en".into()
}

/// Behaviour knobs, each 0–1 unless stated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traits {
    /// How many unproductive agent turns they sit through before hanging up:
    /// 0 hangs up at the first, 1 allows ten.
    #[serde(default = "half")]
    pub patience: f64,
    /// Chance of adding small talk to an answer.
    #[serde(default = "low")]
    pub verbosity: f64,
    /// Chance of talking over an agent turn longer than `interrupt_after_words`.
    #[serde(default)]
    pub interrupts: f64,
    #[serde(default = "default_interrupt_after")]
    pub interrupt_after_words: usize,
    /// Seconds on hold (tool calls without a word) before complaining.
    #[serde(default = "default_hold")]
    pub hold_tolerance_s: f64,
    /// Noise on their speech (0 clear, 1 barely intelligible): a caller who
    /// mumbles or has a bad microphone.
    #[serde(default)]
    pub line_noise: f64,
    /// Pause before answering, in ms (median).
    #[serde(default = "default_think")]
    pub think_ms: f64,
    /// Chance, per agent turn, of a short acknowledgement ("mm-hmm",
    /// "okay", "right") while the agent talks: not a turn, and a good agent
    /// keeps talking.
    #[serde(default)]
    pub backchannels: f64,
    /// Chance, per agent turn, of a cough while the agent talks.
    #[serde(default)]
    pub coughs: f64,
    /// Seconds of silence before answering a question (on top of
    /// `think_ms`): a caller looking for their order number, for the
    /// agent's idle handling.
    #[serde(default)]
    pub slow_to_answer_s: f64,
    /// Chance, per caller turn of four words or more, of a pause in the
    /// middle of the sentence ("My order number is … N W 1 0 4 2 2."):
    /// the agent should not answer half a sentence.
    #[serde(default)]
    pub hesitations: f64,
    /// Length of such a pause, in seconds.
    #[serde(default = "default_hesitation")]
    pub hesitation_s: f64,
    /// Chance, per agent turn, of a sentence said to someone else in the
    /// room (softer, 10 dB below their voice) while the agent talks.
    #[serde(default)]
    pub side_talk: f64,
    /// Chance, per agent turn, of a household noise at the caller's end
    /// (a door, dishes) while the agent talks.
    #[serde(default)]
    pub noises: f64,
}

fn half() -> f64 {
    0.5
}
fn low() -> f64 {
    0.2
}
fn default_interrupt_after() -> usize {
    18
}
fn default_hold() -> f64 {
    20.0
}
fn default_think() -> f64 {
    400.0
}
fn default_hesitation() -> f64 {
    1.5
}

impl Default for Traits {
    fn default() -> Self {
        Traits {
            patience: half(),
            verbosity: low(),
            interrupts: 0.0,
            interrupt_after_words: default_interrupt_after(),
            hold_tolerance_s: default_hold(),
            line_noise: 0.0,
            think_ms: default_think(),
            backchannels: 0.0,
            coughs: 0.0,
            slow_to_answer_s: 0.0,
            hesitations: 0.0,
            hesitation_s: default_hesitation(),
            side_talk: 0.0,
            noises: 0.0,
        }
    }
}

impl Traits {
    /// Whether the caller makes sounds while the agent talks.
    pub fn makes_sounds(&self) -> bool {
        self.backchannels > 0.0 || self.coughs > 0.0 || self.side_talk > 0.0 || self.noises > 0.0
    }

    /// Unproductive agent turns tolerated before hanging up.
    pub fn patience_turns(&self) -> u32 {
        (self.patience.clamp(0.0, 1.0) * 10.0).round() as u32 + 1
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonaVoice {
    /// Offline TTS settings (scripted and chat drivers): the embedded voice
    /// with this pitch, rate and timbre.
    #[serde(default = "caller_voice")]
    pub offline: VoiceSettings,
    /// Speak with `espeak-ng` instead (an external program, for accents and
    /// other languages): install the `espeak-ng` package to use it.
    #[serde(default)]
    pub espeak: Option<EspeakSettings>,
    /// Speak through an OpenAI-compatible `/v1/audio/speech` endpoint
    /// instead, with the voice `name`.
    #[serde(default)]
    pub speech: Option<SpeechVoice>,
    /// Provider voice name (e.g. `verse`): for the realtime driver, and for
    /// `speech`.
    #[serde(default)]
    pub name: Option<String>,
}

/// A `/v1/audio/speech` endpoint for the caller's voice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpeechVoice {
    /// API base, e.g. `https://api.openai.com/v1`.
    pub url: String,
    #[serde(default = "speech_model")]
    pub model: String,
    /// Environment variable holding the key, if the endpoint needs one.
    #[serde(default)]
    pub api_key_env: Option<String>,
}

fn speech_model() -> String {
    "gpt-4o-mini-tts".into()
}

fn caller_voice() -> VoiceSettings {
    VoiceSettings {
        pitch: 0.9,
        ..Default::default()
    }
}

/// Who plays the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Driver {
    /// Offline and deterministic: answers from the scenario's facts and rules.
    #[default]
    Scripted,
    /// A second Realtime session plays the caller (two-clients pattern).
    Realtime {
        /// An agent file describing the provider (`provider`, `model`, `url`, key).
        provider: String,
        /// minijinja template (relative to the persona file) for the caller's
        /// instructions; a built-in one is used when absent.
        #[serde(default)]
        instructions_template: Option<String>,
    },
    /// An OpenAI-compatible chat endpoint writes the caller's lines.
    Chat {
        /// API base, e.g. `http://127.0.0.1:11434/v1`.
        url: String,
        model: String,
        #[serde(default)]
        api_key_env: Option<String>,
        /// `/v1/audio/speech` base for the caller's voice; offline TTS if absent.
        #[serde(default)]
        speech_url: Option<String>,
        #[serde(default)]
        speech_model: Option<String>,
        #[serde(default)]
        temperature: Option<f64>,
    },
    /// Plays a recorded caller: the scenario's `replay:` lines, each when the
    /// agent says what the original agent said before it (`rehearse import`).
    Replay,
}

impl PersonaFile {
    /// Whether the caller speaks through espeak-ng: a text-driven caller
    /// whose voice asks for it (a Realtime caller speaks with its session's
    /// voice).
    pub fn speaks_with_espeak(&self) -> bool {
        self.voice.espeak.is_some() && !matches!(self.driver, Driver::Realtime { .. })
    }

    /// One voice at most, and a usable one.
    fn check_voice(&self, path: &Path) -> Result<(), ConfigError> {
        let voice = &self.voice;
        if voice.espeak.is_some() && voice.speech.is_some() {
            return Err(ConfigError::new(
                path,
                "voice has both `espeak` and `speech`: a caller speaks with one voice",
            )
            .at_path(&[Step::Key("voice"), Step::Key("speech")])
            .with_hint("keep one of them (or neither, for the embedded offline voice)"));
        }
        if let Some(problem) = voice.espeak.as_ref().and_then(EspeakSettings::problem) {
            return Err(ConfigError::new(path, format!("voice.espeak: {problem}"))
                .at_path(&[Step::Key("voice"), Step::Key("espeak")])
                .with_hint("`espeak-ng --voices` lists the voices"));
        }
        let driver_speaks = matches!(
            self.driver,
            Driver::Chat {
                speech_url: Some(_),
                ..
            }
        );
        if voice.espeak.is_some() && driver_speaks {
            return Err(ConfigError::new(
                path,
                "voice has `espeak` and the driver a `speech_url`: a caller speaks with one voice",
            )
            .at_path(&[Step::Key("voice"), Step::Key("espeak")])
            .with_hint("keep one of them"));
        }
        if let Some(speech) = &voice.speech
            && driver_speaks
        {
            return Err(ConfigError::new(
                path,
                format!(
                    "the voice is set twice: voice.speech ({}) and driver.speech_url",
                    speech.url
                ),
            )
            .at_path(&[Step::Key("voice"), Step::Key("speech")])
            .with_hint("keep voice.speech and drop driver.speech_url"));
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<PersonaFile, ConfigError> {
        let persona: PersonaFile = load_yaml_file(path)?;
        for (name, v) in [
            ("patience", persona.traits.patience),
            ("verbosity", persona.traits.verbosity),
            ("interrupts", persona.traits.interrupts),
            ("line_noise", persona.traits.line_noise),
            ("backchannels", persona.traits.backchannels),
            ("coughs", persona.traits.coughs),
            ("hesitations", persona.traits.hesitations),
            ("side_talk", persona.traits.side_talk),
            ("noises", persona.traits.noises),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(
                    ConfigError::new(path, format!("traits.{name} is {v}, outside 0–1"))
                        .at_path(&[Step::Key("traits"), Step::Key(name)])
                        .with_hint("traits are probabilities or shares: use a value from 0 to 1"),
                );
            }
        }
        let slow = persona.traits.slow_to_answer_s;
        if !(0.0..=60.0).contains(&slow) {
            return Err(ConfigError::new(
                path,
                format!("traits.slow_to_answer_s is {slow}, outside 0–60 seconds"),
            )
            .at_path(&[Step::Key("traits"), Step::Key("slow_to_answer_s")])
            .with_hint("seconds of silence before the caller answers a question"));
        }
        persona.check_voice(path)?;
        let pause = persona.traits.hesitation_s;
        if !(0.2..=10.0).contains(&pause) {
            return Err(ConfigError::new(
                path,
                format!("traits.hesitation_s is {pause}, outside 0.2–10 seconds"),
            )
            .at_path(&[Step::Key("traits"), Step::Key("hesitation_s")])
            .with_hint("the length of a pause inside a sentence, in seconds"));
        }
        Ok(persona)
    }
}
