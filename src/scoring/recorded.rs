//! A conversation as its artifacts recorded it: everything a scorer reads.
//! Scorers never touch live sessions.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::simulation::ConversationOutcome;
use crate::simulation::recorder::{self, Speaker, ToolCallRecord, Utterance, read_jsonl};
use crate::simulation::run::OUTCOME;

pub struct Recorded {
    pub dir: PathBuf,
    pub outcome: ConversationOutcome,
    pub transcript: Vec<Utterance>,
    pub tools: Vec<ToolCallRecord>,
    /// Protocol events of the agent's session (audio already byte counts).
    pub events: Vec<Value>,
}

impl Recorded {
    pub fn load(dir: &Path) -> std::io::Result<Recorded> {
        let outcome: ConversationOutcome =
            serde_json::from_slice(&std::fs::read(dir.join(OUTCOME))?)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let events: Vec<Value> = read_jsonl::<Value>(&dir.join(recorder::EVENTS))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.get("side").and_then(Value::as_str) == Some("agent"))
            .collect();
        Ok(Recorded {
            dir: dir.to_path_buf(),
            outcome,
            transcript: read_jsonl(&dir.join(recorder::TRANSCRIPT)).unwrap_or_default(),
            tools: read_jsonl(&dir.join(recorder::TOOLS)).unwrap_or_default(),
            events,
        })
    }

    pub fn said_by(&self, speaker: Speaker) -> impl Iterator<Item = &Utterance> {
        self.transcript.iter().filter(move |u| u.speaker == speaker)
    }

    pub fn track(&self, speaker: Speaker) -> PathBuf {
        self.dir.join(match speaker {
            Speaker::Agent => recorder::AGENT_WAV,
            Speaker::Customer => recorder::CUSTOMER_WAV,
        })
    }
}
