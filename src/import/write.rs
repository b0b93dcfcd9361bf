//! An imported call written as a run folder call: `conversation.json`
//! (status `imported`, with its provenance), the transcript, tool calls and
//! events as JSON lines, and both tracks with their stereo mix.

use std::collections::BTreeMap;
use std::path::Path;

use super::ImportedCall;
use crate::audio::SESSION_RATE;
use crate::audio::wav::{create, write_mono, write_samples};
use crate::run_folder::{
    AGENT_WAV, CONVERSATION_WAV, CUSTOMER_WAV, ConversationOutcome, EVENTS, ImportRecord,
    ImportSource, Jsonl, OUTCOME, Speaker, Status, TOOLS, TRANSCRIPT, write_atomic,
};

/// Writes `call` into `dir` (created); `redacted` counts the masks applied.
pub fn write_call(
    dir: &Path,
    call: &ImportedCall,
    redacted: BTreeMap<String, u32>,
    imported_at: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut transcript = Jsonl::create(&dir.join(TRANSCRIPT))?;
    for u in &call.transcript {
        transcript.write(u)?;
    }
    let mut tools = Jsonl::create(&dir.join(TOOLS))?;
    for t in &call.tools {
        tools.write(t)?;
    }
    let mut events = Jsonl::create(&dir.join(EVENTS))?;
    for e in &call.events {
        events.write(e)?;
    }
    let wav = |e: hound::Error| std::io::Error::other(e.to_string());
    if let Some(caller) = &call.caller_audio {
        write_mono(&dir.join(CUSTOMER_WAV), SESSION_RATE, caller).map_err(wav)?;
    }
    if let Some(agent) = &call.agent_audio {
        write_mono(&dir.join(AGENT_WAV), SESSION_RATE, agent).map_err(wav)?;
    }
    if call.caller_audio.is_some() || call.agent_audio.is_some() {
        let empty = Vec::new();
        let left = call.caller_audio.as_ref().unwrap_or(&empty);
        let right = call.agent_audio.as_ref().unwrap_or(&empty);
        let frames = left.len().max(right.len());
        let interleaved: Vec<i16> = (0..frames)
            .flat_map(|i| {
                [
                    left.get(i).copied().unwrap_or(0),
                    right.get(i).copied().unwrap_or(0),
                ]
            })
            .collect();
        let mut w = create(&dir.join(CONVERSATION_WAV), SESSION_RATE, 2).map_err(wav)?;
        write_samples(&mut w, &interleaved).map_err(wav)?;
        w.finalize().map_err(wav)?;
    }
    let outcome = outcome(call, redacted, imported_at);
    let json = serde_json::to_vec_pretty(&outcome).map_err(std::io::Error::other)?;
    write_atomic(&dir.join(OUTCOME), &json)
}

fn outcome(
    call: &ImportedCall,
    redacted: BTreeMap<String, u32>,
    imported_at: &str,
) -> ConversationOutcome {
    let mut outcome = ConversationOutcome::not_finished();
    outcome.status = Status::Imported;
    outcome.partial = false;
    outcome.goal_met = false;
    outcome.agent_turns = call.said_by(Speaker::Agent).count() as u32;
    outcome.customer_turns = call.said_by(Speaker::Customer).count() as u32;
    outcome.interruptions = call.transcript.iter().filter(|u| u.interrupted).count() as u32;
    outcome.tool_calls = call.tools.len() as u32;
    outcome.duration_ms = call.duration_ms();
    outcome.model = call.session.as_ref().and_then(|s| s.model.clone());
    outcome.usage = call.usage.clone();
    outcome.notes = call.notes.clone();
    outcome.imported = Some(ImportRecord {
        source: call.source.unwrap_or(ImportSource::EventLog),
        files: call.files.clone(),
        imported_at: imported_at.to_string(),
        words_from: call.words_from.clone(),
        redacted,
        secrets_dropped: call.secrets_dropped,
    });
    outcome
}
