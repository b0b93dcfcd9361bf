//! Transcript checks: phrases (or `/regex/`) the agent must say, or must
//! never say, with the utterance that decided it as evidence.

use regex::Regex;
use serde_json::json;

use crate::config::scenario::Expectations;
use crate::run_folder::RecordedConversation;
use crate::run_folder::Speaker;
use crate::run_folder::{Check, CheckKind};

fn pattern(spec: &str) -> Result<Regex, String> {
    match spec.strip_prefix('/').and_then(|s| s.strip_suffix('/')) {
        Some(re) => {
            Regex::new(&format!("(?i){re}")).map_err(|e| format!("invalid regex {spec}: {e}"))
        }
        None => Ok(Regex::new(&format!("(?i){}", regex::escape(spec)))
            .expect("escaped text is a valid regex")),
    }
}

pub fn score(rec: &RecordedConversation, exp: &Expectations) -> Vec<Check> {
    let mut checks = Vec::new();
    for (rules, must) in [(&exp.must_say, true), (&exp.must_not_say, false)] {
        for spec in rules {
            let name = format!(
                "transcript.{}:{spec}",
                if must { "must_say" } else { "must_not_say" }
            );
            let re = match pattern(spec) {
                Ok(re) => re,
                Err(e) => {
                    checks.push(Check::error(CheckKind::Transcript, name, e));
                    continue;
                }
            };
            // Only what the caller heard counts (interrupted turns: the played part).
            let hit = rec.said_by(Speaker::Agent).find(|u| re.is_match(&u.text));
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
