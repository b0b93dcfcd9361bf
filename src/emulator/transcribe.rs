//! How the emulator learns what a caller said in audio: a transcription
//! backend. Without one, audio the client sent without a transcript is not
//! understood, and the agent says so; it never guesses.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::audio::{SESSION_RATE, wav};

/// Turns a caller's utterance (24 kHz mono PCM) into words.
pub trait Transcriber: Send + Sync {
    /// `Ok(None)` when the audio holds no intelligible speech. `conversation`
    /// is the key the client gave (`rehearse_conversation` in the URL), if any.
    fn transcribe(
        &self,
        conversation: Option<&str>,
        audio: Arc<Vec<i16>>,
    ) -> BoxFuture<'_, Result<Option<String>, String>>;
}

/// An OpenAI-compatible `/v1/audio/transcriptions` endpoint.
pub struct HttpTranscriber {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
}

impl HttpTranscriber {
    /// `base_url` is the API base (`http://host:port/v1`); the key, if any,
    /// comes from the environment variable named by the caller.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Self {
        HttpTranscriber {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            url: format!("{}/audio/transcriptions", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
        }
    }
}

impl Transcriber for HttpTranscriber {
    fn transcribe(
        &self,
        _conversation: Option<&str>,
        audio: Arc<Vec<i16>>,
    ) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(async move {
            let bytes = wav::to_bytes(&audio, SESSION_RATE).map_err(|e| e.to_string())?;
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name("speech.wav")
                .mime_str("audio/wav")
                .map_err(|e| e.to_string())?;
            let form = reqwest::multipart::Form::new()
                .text("model", self.model.clone())
                .text("response_format", "json")
                .part("file", part);
            let mut req = self.client.post(&self.url).multipart(form);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key);
            }
            let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("transcription endpoint answered {status}"));
            }
            let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
            let text = body
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::trim)
                .unwrap_or("");
            Ok((!text.is_empty()).then(|| text.to_string()))
        })
    }
}
