//! Real calls brought into rehearse: a Realtime event log, a call recording
//! (stereo, or two mono tracks) with an optional transcript, or a call of a
//! rehearse run folder. Each becomes an [`ImportedCall`]: utterances with
//! timing per side, tool calls with their outputs, the session's
//! configuration where the source has it, and both audio tracks. Writing
//! it as a run folder call and as a replay scenario is in [`write`] and
//! [`scenario`]; personal data is masked by [`redact`].
//!
//! Secrets in a source (keys, client secrets, authorisation headers) are
//! never copied: they are dropped and counted.

pub mod event_log;
pub mod recording;
pub mod redact;
pub mod run_call;
pub mod scenario;
pub mod transcript_file;
pub mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::run_folder::{
    EventRecord, ImportSource, Speaker, ToolCallRecord, UsageTotals, Utterance,
};
use crate::transcription::Transcriber;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}: {1}")]
    Read(PathBuf, String),
    #[error("{0}")]
    Unusable(String),
}

/// The session configuration a source recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionConfig {
    pub model: Option<String>,
    pub instructions: Option<String>,
    /// Tool definitions as the session had them (`type`, `name`,
    /// `description`, `parameters`).
    pub tools: Vec<Value>,
    pub voice: Option<String>,
    pub turn_detection: Option<Value>,
}

/// One real call, read from its source.
#[derive(Debug, Clone, Default)]
pub struct ImportedCall {
    /// A name for the call (from its file), used for its scenario id.
    pub name: String,
    pub source: Option<ImportSource>,
    pub files: Vec<String>,
    /// Where the utterances' words came from.
    pub words_from: String,
    /// Both sides, in time order.
    pub transcript: Vec<Utterance>,
    pub tools: Vec<ToolCallRecord>,
    pub events: Vec<EventRecord>,
    /// 24 kHz tracks on the call's timeline (None: the source has no audio).
    pub caller_audio: Option<Vec<i16>>,
    pub agent_audio: Option<Vec<i16>>,
    pub session: Option<SessionConfig>,
    pub usage: UsageTotals,
    pub secrets_dropped: u32,
    /// What a reader should know (a missing side, a guessed timing).
    pub notes: Vec<String>,
    /// For a call from a rehearse run: the agent it ran with (`FILE[:variant]`).
    pub agent_ref: Option<String>,
}

impl ImportedCall {
    pub fn said_by(&self, speaker: Speaker) -> impl Iterator<Item = &Utterance> {
        self.transcript.iter().filter(move |u| u.speaker == speaker)
    }

    /// The call's length: the last utterance's end or the longer track.
    pub fn duration_ms(&self) -> f64 {
        let track = |t: &Option<Vec<i16>>| t.as_ref().map_or(0.0, |s| s.len() as f64 / 24.0);
        self.transcript.iter().map(|u| u.end_ms).fold(
            track(&self.caller_audio).max(track(&self.agent_audio)),
            f64::max,
        )
    }

    /// Words from a transcript for turns that have none, side by side in
    /// order; a side with no turns at all takes the transcript's lines when
    /// they are timed. Returns whether any words were taken.
    pub fn fill_words(&mut self, lines: &[transcript_file::TranscriptLine]) -> bool {
        let mut taken = false;
        for speaker in [Speaker::Customer, Speaker::Agent] {
            let said: Vec<&transcript_file::TranscriptLine> =
                lines.iter().filter(|l| l.speaker == speaker).collect();
            let turns = self
                .transcript
                .iter()
                .filter(|u| u.speaker == speaker)
                .count();
            if turns == 0 {
                for l in said {
                    let (Some(start), Some(end)) = (l.start_ms, l.end_ms) else {
                        continue;
                    };
                    self.transcript
                        .push(Utterance::turn(speaker, l.text.clone(), start, end));
                    taken = true;
                }
                continue;
            }
            if turns != said.len() && said.iter().any(|l| l.start_ms.is_none()) {
                self.notes.push(format!(
                    "the source has {turns} {speaker} turns and the transcript {} lines: they were paired in order",
                    said.len()
                ));
            }
            let timed = said.iter().all(|l| l.start_ms.is_some());
            let mut in_order = said.iter();
            for u in self.transcript.iter_mut().filter(|u| u.speaker == speaker) {
                // Timed lines go to the turn they overlap most; others in order.
                let line = if timed {
                    said.iter()
                        .map(|l| (l, overlap_ms(u, l)))
                        .filter(|(_, o)| *o > 0.0)
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|(l, _)| *l)
                } else {
                    in_order.next().copied()
                };
                if let Some(l) = line
                    && u.text.trim().is_empty()
                {
                    u.text = l.text.clone();
                    taken = true;
                }
            }
        }
        self.sort();
        taken
    }

    /// Words for turns that have none, from a transcription endpoint: each
    /// turn's audio cut from its side's track. Returns how many it filled.
    pub async fn transcribe_missing(
        &mut self,
        transcriber: &dyn Transcriber,
    ) -> Result<usize, ImportError> {
        let mut filled = 0;
        for i in 0..self.transcript.len() {
            let u = &self.transcript[i];
            let track = match u.speaker {
                Speaker::Customer => &self.caller_audio,
                Speaker::Agent => &self.agent_audio,
            };
            let Some(track) = track.as_ref().filter(|_| u.text.trim().is_empty()) else {
                continue;
            };
            let at = |ms: f64| ((ms.max(0.0) * 24.0) as usize).min(track.len());
            let (start, end) = (at(u.start_ms), at(u.end_ms));
            if start >= end {
                continue;
            }
            let clip = Arc::new(track[start..end].to_vec());
            match transcriber.transcribe(None, clip).await {
                Ok(Some(text)) => {
                    self.transcript[i].text = text.trim().to_string();
                    filled += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(ImportError::Unusable(format!(
                        "transcription endpoint: {e}"
                    )));
                }
            }
        }
        Ok(filled)
    }

    /// Turns that still have no words, as a note for the reader.
    pub fn note_missing_words(&mut self) {
        let missing = self
            .transcript
            .iter()
            .filter(|u| u.text.trim().is_empty())
            .count();
        if missing > 0 {
            self.notes.push(format!(
                "{missing} turns have no words: text checks cannot pass on them and a replay cannot follow the agent there (give --transcript or --transcription-url)"
            ));
        }
    }

    fn sort(&mut self) {
        self.transcript.sort_by(|a, b| {
            a.start_ms
                .total_cmp(&b.start_ms)
                .then(a.end_ms.total_cmp(&b.end_ms))
        });
        self.tools
            .sort_by(|a, b| a.called_ms.total_cmp(&b.called_ms));
    }
}

/// How long a turn and a transcript line overlap (ms; 0 for none).
fn overlap_ms(u: &Utterance, l: &transcript_file::TranscriptLine) -> f64 {
    let (Some(start), Some(end)) = (l.start_ms, l.end_ms) else {
        return 0.0;
    };
    (u.end_ms.min(end) - u.start_ms.max(start)).max(0.0)
}

/// A name for a call from its file: the file stem, lower case, with
/// anything but letters, digits and dashes made a dash.
pub fn call_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "call".into());
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() { "call".into() } else { name }
}

/// Keys whose values are secrets: never copied out of a source. Token
/// counts (`input_tokens`, `cached_tokens_details`) are usage, not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    let counts = k.contains("tokens") || k.contains("tokendetails");
    [
        "apikey",
        "secret",
        "authorization",
        "password",
        "bearer",
        "token",
    ]
    .iter()
    .any(|s| k.contains(s))
        && !counts
}

/// `value` with every secret field removed; returns how many it dropped.
pub fn drop_secrets(value: &mut Value) -> u32 {
    match value {
        Value::Object(map) => {
            let secret: Vec<String> = map.keys().filter(|k| is_secret_key(k)).cloned().collect();
            let dropped = secret.len() as u32;
            for k in secret {
                map.remove(&k);
            }
            dropped + map.values_mut().map(drop_secrets).sum::<u32>()
        }
        Value::Array(items) => items.iter_mut().map(drop_secrets).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_dropped_and_token_counts_kept() {
        let mut v = json!({"session": {"client_secret": {"value": "ek_123"}, "model": "m"},
            "headers": {"Authorization": "Bearer sk-1"}, "api_key": "sk-2",
            "usage": {"total_tokens": 5, "input_token_details": {"cached_tokens": 1},
                "cached_tokens_details": {"text_tokens": 1}}, "session_token": "x"});
        assert_eq!(drop_secrets(&mut v), 4);
        let text = v.to_string();
        assert!(!text.contains("ek_123") && !text.contains("sk-1") && !text.contains("sk-2"));
        assert_eq!(v["usage"]["total_tokens"], 5);
        assert_eq!(v["usage"]["input_token_details"]["cached_tokens"], 1);
    }

    #[test]
    fn call_names_are_safe_ids() {
        assert_eq!(
            call_name(Path::new("/x/Call 0412 (prod).jsonl")),
            "call-0412--prod"
        );
        assert_eq!(call_name(Path::new("///")), "call");
    }
}
