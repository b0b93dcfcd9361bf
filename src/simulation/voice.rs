//! The caller's voice: the embedded offline synthesiser, `espeak-ng` as an
//! external program, or an OpenAI-compatible `/v1/audio/speech` endpoint
//! (24 kHz PCM requested, as the session uses).

use std::time::Duration;

use crate::audio::espeak::{self, EspeakSettings};
use crate::audio::{AudioFormat, Voice};
use crate::config::persona::PersonaFile;
use crate::realtime::Secret;
use crate::retry::{RetryPolicy, send_with_retries};

pub enum CallerVoice {
    Offline(Voice),
    Espeak(EspeakSettings),
    Endpoint {
        client: reqwest::Client,
        url: String,
        model: String,
        voice: String,
        key: Option<Secret>,
    },
    /// A replayed caller: recorded audio for the lines it has, by their
    /// words; any other line in the voice it wraps.
    Recorded {
        lines: std::collections::BTreeMap<String, Vec<i16>>,
        otherwise: Box<CallerVoice>,
    },
}

impl CallerVoice {
    pub fn endpoint(base_url: &str, model: &str, voice: &str, key: Option<Secret>) -> Self {
        CallerVoice::Endpoint {
            client: crate::http::client(Duration::from_secs(60)),
            url: format!("{}/audio/speech", base_url.trim_end_matches('/')),
            model: model.to_string(),
            voice: voice.to_string(),
            key,
        }
    }

    /// The voice a persona speaks with: a speech endpoint when the call has
    /// one, else espeak-ng when the persona asks for it, else the embedded
    /// voice.
    pub fn for_persona(
        speech: Option<&super::bridge::SpeechEndpoint>,
        persona: &PersonaFile,
    ) -> Self {
        match (speech, &persona.voice.espeak) {
            (Some(e), _) => CallerVoice::endpoint(&e.url, &e.model, &e.voice, e.key.clone()),
            (None, Some(settings)) => CallerVoice::Espeak(settings.clone()),
            (None, None) => CallerVoice::Offline(Voice::new(persona.voice.offline)),
        }
    }

    /// This voice, with recorded audio for the lines `lines` has.
    pub fn with_recorded(self, lines: &std::collections::BTreeMap<String, Vec<i16>>) -> Self {
        if lines.is_empty() {
            return self;
        }
        CallerVoice::Recorded {
            lines: lines.clone(),
            otherwise: Box::new(self),
        }
    }

    /// `text` as 24 kHz mono PCM.
    pub async fn speak(&self, text: &str) -> Result<Vec<i16>, String> {
        match self {
            CallerVoice::Offline(voice) => {
                let voice = voice.clone();
                let text = text.to_string();
                tokio::task::spawn_blocking(move || voice.speak(&text))
                    .await
                    .map_err(|e| e.to_string())
            }
            CallerVoice::Espeak(settings) => {
                let settings = settings.clone();
                let text = text.to_string();
                tokio::task::spawn_blocking(move || {
                    espeak::speak(espeak::PROGRAM, &settings, &text).map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())?
            }
            CallerVoice::Endpoint {
                client,
                url,
                model,
                voice,
                key,
            } => {
                let body = serde_json::json!({"model": model, "input": text, "voice": voice, "response_format": "pcm"});
                let build = || {
                    let req = client.post(url).json(&body);
                    match key {
                        Some(k) => req.bearer_auth(k.expose()),
                        None => req,
                    }
                };
                let parse = |b: &[u8]| {
                    if b.len() % 2 == 1 {
                        Err(
                            "the audio has an odd number of bytes, so it is not 16-bit PCM"
                                .to_string(),
                        )
                    } else {
                        Ok(b.to_vec())
                    }
                };
                let bytes =
                    send_with_retries(&RetryPolicy::HTTP, "the speech endpoint", build, parse)
                        .await
                        .map_err(|e| e.to_string())?;
                Ok(AudioFormat::Pcm16.decode(&bytes))
            }
            CallerVoice::Recorded { lines, otherwise } => match lines.get(text) {
                Some(audio) => Ok(audio.clone()),
                None => Box::pin(otherwise.speak(text)).await,
            },
        }
    }
}
