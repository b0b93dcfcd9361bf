//! The caller's voice: the offline synthesiser, or an OpenAI-compatible
//! `/v1/audio/speech` endpoint (24 kHz PCM requested, as the session uses).

use std::time::Duration;

use crate::audio::{AudioFormat, Voice};
use crate::realtime::Secret;
use crate::retry::{RetryPolicy, send_with_retries};

pub enum CallerVoice {
    Offline(Voice),
    Endpoint {
        client: reqwest::Client,
        url: String,
        model: String,
        voice: String,
        key: Option<Secret>,
    },
}

impl CallerVoice {
    pub fn endpoint(base_url: &str, model: &str, voice: &str, key: Option<Secret>) -> Self {
        CallerVoice::Endpoint {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            url: format!("{}/audio/speech", base_url.trim_end_matches('/')),
            model: model.to_string(),
            voice: voice.to_string(),
            key,
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
        }
    }
}
