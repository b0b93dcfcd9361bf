//! Speech to text: the [`Transcriber`] seam and its OpenAI-compatible HTTP
//! backend. The emulator hears callers through it (it never guesses words it
//! could not hear), and the consistency scorer transcribes the agent's audio
//! through it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::audio::{SESSION_RATE, wav};
use crate::retry::{RetryPolicy, send_with_retries};

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
    /// As [`HttpTranscriber::new`], the key read from the environment
    /// variable `key_env` names (none when unset).
    pub fn with_key_from_env(base_url: &str, model: &str, key_env: Option<&str>) -> Self {
        let key = key_env.and_then(|v| std::env::var(v).ok());
        HttpTranscriber::new(base_url, model, key)
    }

    /// `base_url` is the API base (`http://host:port/v1`); the key, if any,
    /// comes from the environment variable named by the caller.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Self {
        HttpTranscriber {
            client: crate::http::client(Duration::from_secs(30)),
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
            // A multipart form is consumed by sending, so each try builds its own.
            let build = || {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name("speech.wav")
                    .mime_str("audio/wav")
                    .unwrap_or_else(|_| reqwest::multipart::Part::bytes(bytes.clone()));
                let form = reqwest::multipart::Form::new()
                    .text("model", self.model.clone())
                    .text("response_format", "json")
                    .part("file", part);
                let req = self.client.post(&self.url).multipart(form);
                match &self.api_key {
                    Some(key) => req.bearer_auth(key),
                    None => req,
                }
            };
            let parse = |b: &[u8]| {
                let body: serde_json::Value =
                    serde_json::from_slice(b).map_err(|e| e.to_string())?;
                body.get("text")
                    .and_then(|t| t.as_str())
                    .map(|t| t.trim().to_string())
                    .ok_or_else(|| "the reply has no text".to_string())
            };
            let text = send_with_retries(
                &RetryPolicy::HTTP,
                "the transcription endpoint",
                build,
                parse,
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok((!text.is_empty()).then(|| text.to_string()))
        })
    }
}
