//! The caller's voice: the offline synthesiser, or an OpenAI-compatible
//! `/v1/audio/speech` endpoint (24 kHz PCM requested, as the session uses).

use std::time::Duration;

use crate::audio::{AudioFormat, Voice};
use crate::realtime::Secret;

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
                let mut req = client.post(url).json(&body);
                if let Some(k) = key {
                    req = req.bearer_auth(k.expose());
                }
                let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("speech endpoint answered {}", resp.status()));
                }
                let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
                Ok(AudioFormat::Pcm16.decode(&bytes))
            }
        }
    }
}
