//! A call of a rehearse run folder, frozen as it is: to keep a simulated
//! call that found a bug as a regression test. Its transcript, tool calls,
//! events and tracks are taken over; the caller's track is the one before
//! the line (`customer_clean.wav`) when the call had one, so a replay goes
//! through whatever line it is given.

use std::path::Path;

use super::{ImportError, ImportedCall};
use crate::audio::SESSION_RATE;
use crate::audio::resample::resample_i16;
use crate::audio::wav::read_mono;
use crate::run_folder::{
    CUSTOMER_CLEAN_WAV, CUSTOMER_WAV, EVENTS, EventRecord, ImportSource, MANIFEST,
    RecordedConversation, RunFolder, Speaker, read_jsonl,
};

pub fn read(dir: &Path) -> Result<ImportedCall, ImportError> {
    let fail = |e: String| ImportError::Read(dir.to_path_buf(), e);
    let recorded = RecordedConversation::load(dir).map_err(|e| fail(e.to_string()))?;
    let events: Vec<EventRecord> = if dir.join(EVENTS).exists() {
        read_jsonl(&dir.join(EVENTS)).map_err(|e| fail(e.to_string()))?
    } else {
        Vec::new()
    };
    let track = |name: &str| -> Option<Vec<i16>> {
        let (samples, rate) = read_mono(&dir.join(name)).ok()?;
        Some(resample_i16(&samples, rate, SESSION_RATE))
    };
    let caller = track(CUSTOMER_CLEAN_WAV).or_else(|| track(CUSTOMER_WAV));
    let agent = track(Speaker::Agent.track_file());
    let (name, agent_ref) = origin(dir);
    let mut call = ImportedCall {
        name,
        source: Some(ImportSource::RunFolder),
        files: vec![dir.display().to_string()],
        words_from: "the run's transcript".into(),
        transcript: recorded
            .transcript
            .into_iter()
            .filter(|u| u.is_turn())
            .collect(),
        tools: recorded.tools,
        events: events
            .into_iter()
            .filter(|e| e.side == Speaker::Agent)
            .collect(),
        caller_audio: caller,
        agent_audio: agent,
        usage: recorded.outcome.usage,
        agent_ref,
        ..ImportedCall::default()
    };
    call.session = None;
    call.sort();
    Ok(call)
}

/// The call's name (`<scenario>-<repeat>`) and the agent it ran with, from
/// the run folder around it.
fn origin(dir: &Path) -> (String, Option<String>) {
    let fallback = super::call_name(dir);
    let Some(run_dir) = dir.ancestors().skip(1).find(|a| a.join(MANIFEST).is_file()) else {
        return (fallback, None);
    };
    let Ok(run) = RunFolder::open(run_dir) else {
        return (fallback, None);
    };
    let here = dir.canonicalize().ok();
    let planned = run
        .manifest
        .conversations
        .iter()
        .find(|c| run_dir.join(&c.dir).canonicalize().ok() == here);
    match planned {
        Some(c) => (
            format!("{}-{}", c.scenario, c.repeat),
            run.manifest.agents.get(&c.variant).cloned(),
        ),
        None => (fallback, None),
    }
}
