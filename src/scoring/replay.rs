//! `replay.fits`: a replayed recording kept to the agent's conversation
//! to its end. A call that diverged fails it, naming the turn and what the
//! agent said that no recorded line answered (value: that turn); the other
//! checks still score what happened up to there.

use serde_json::json;

use crate::config::scenario::ScenarioFile;
use crate::run_folder::{Check, CheckKind, EndReason, RecordedConversation, Status};

pub fn score(rec: &RecordedConversation, scenario: &ScenarioFile) -> Option<Check> {
    let replay = scenario.replay.as_ref()?;
    let outcome = &rec.outcome;
    // The recording itself fits itself.
    if outcome.status == Status::Imported {
        return None;
    }
    let diverged = outcome.end_reason == Some(EndReason::Diverged);
    let check = Check::new(CheckKind::Replay, "replay.fits", !diverged)
        .threshold(format!("similarity >= {}", replay.min_similarity));
    Some(match &outcome.divergence {
        Some(d) if diverged => check.value(d.turn as f64).evidence(json!({
            "diverged_at_turn": d.turn,
            "why": d.reason,
            "agent_said": d.heard,
            "closest_recorded": d.closest,
            "similarity": d.similarity,
        })),
        _ => check,
    })
}
