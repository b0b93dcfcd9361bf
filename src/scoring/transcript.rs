//! Transcript checks: phrases (or `/regex/`) the agent must say, or must
//! never say, with the utterance that decided it as evidence.

use serde_json::json;

use crate::config::scenario::Expectations;
use crate::run_folder::RecordedConversation;
use crate::run_folder::Speaker;
use crate::run_folder::{Check, CheckKind};

pub fn score(rec: &RecordedConversation, exp: &Expectations) -> Vec<Check> {
    let mut checks = Vec::new();
    for (rules, must) in [(&exp.must_say, true), (&exp.must_not_say, false)] {
        for rule in rules {
            let name = format!(
                "transcript.{}:{}",
                if must { "must_say" } else { "must_not_say" },
                rule.source()
            );
            // Only what the caller heard counts (interrupted turns: the played part).
            let hit = rec.said_by(Speaker::Agent).find(|u| rule.is_match(&u.text));
            let evidence =
                hit.map(|u| json!({"quote": u.text, "start_ms": u.start_ms, "item_id": u.item_id}));
            let passed = hit.is_some() == must;
            checks.push(
                Check::new(CheckKind::Transcript, name, passed)
                    .threshold(if must {
                        "said at least once"
                    } else {
                        "never said"
                    })
                    .evidence(evidence.unwrap_or(serde_json::Value::Null)),
            );
        }
    }
    checks
}
