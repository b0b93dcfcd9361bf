//! Turn-taking measured from the recorded timeline: when the agent stopped
//! talking for something that was not the caller taking the turn, and the
//! longest silence a caller sat through waiting for the agent. Pure
//! functions of the transcript and the call's record.

use std::collections::BTreeMap;

use serde_json::json;

use crate::config::scenario::Expectations;
use crate::run_folder::{Check, CheckKind, RecordedConversation, Speaker};

/// A caller turn starting this close to where the agent stopped is what
/// stopped it (a barge-in); anything farther, something else did.
const BARGE_IN_WINDOW_MS: f64 = 400.0;

pub fn score(
    rec: &RecordedConversation,
    exp: &Expectations,
    metrics: &mut BTreeMap<String, f64>,
) -> Vec<Check> {
    vec![false_barge_in(rec, metrics), dead_air(rec, exp, metrics)]
}

/// `interaction.false_barge_in`: the agent cut its own speech off when no
/// caller turn began there, because its VAD heard something else: a
/// backchannel, a cough, or the line's noise.
fn false_barge_in(rec: &RecordedConversation, metrics: &mut BTreeMap<String, f64>) -> Check {
    let name = "interaction.false_barge_in";
    let caller = || {
        rec.transcript
            .iter()
            .filter(|c| c.speaker == Speaker::Customer)
    };
    let stops: Vec<serde_json::Value> = rec
        .transcript
        .iter()
        .filter(|u| u.speaker == Speaker::Agent && u.interrupted)
        .filter(|u| {
            !caller().any(|c| c.is_turn() && (c.start_ms - u.end_ms).abs() <= BARGE_IN_WINDOW_MS)
        })
        .map(|u| {
            // A sound of the caller's under way where the agent stopped.
            let sound = caller().find(|c| {
                !c.is_turn() && c.start_ms <= u.end_ms && c.end_ms + BARGE_IN_WINDOW_MS >= u.end_ms
            });
            let cause = match sound {
                Some(c) => {
                    json!({"caller_sound": c.sound, "text": c.text, "started_ms": c.start_ms})
                }
                None => json!("no caller sound there: the agent's VAD heard the line"),
            };
            json!({
                "agent_stopped_ms": u.end_ms,
                "said": u.text,
                "meant_to_say": u.full_text,
                "cause": cause,
            })
        })
        .collect();
    let sounds = caller().filter(|c| !c.is_turn()).count();
    metrics.insert(
        "interaction.false_barge_ins".to_string(),
        stops.len() as f64,
    );
    let line = rec.outcome.line.as_ref();
    if line.is_none() && sounds == 0 && stops.is_empty() {
        return Check::skipped(
            CheckKind::Interaction,
            name,
            "nothing but the caller's turns reached the agent (a clean line, no sounds)",
        );
    }
    Check::new(CheckKind::Interaction, name, stops.is_empty())
        .value(stops.len() as f64)
        .threshold("0 stops without a caller turn")
        .evidence(json!({
            "condition": line.map(|l| l.condition.as_str()),
            "caller_sounds": sounds,
            "stops": stops,
        }))
}

/// `interaction.dead_air`: the longest silence before the agent spoke,
/// while the caller waited for it (after their turn, or between the
/// agent's own words while a tool ran), against the scenario's
/// `max_dead_air_ms`.
fn dead_air(
    rec: &RecordedConversation,
    exp: &Expectations,
    metrics: &mut BTreeMap<String, f64>,
) -> Check {
    let name = "interaction.dead_air";
    let mut longest: Option<(f64, f64, f64)> = None;
    // Turns only: a caller's "mm-hmm" does not end their wait.
    let turns: Vec<&crate::run_folder::Utterance> =
        rec.transcript.iter().filter(|u| u.is_turn()).collect();
    for pair in turns.windows(2) {
        let (before, agent) = (&pair[0], &pair[1]);
        if agent.speaker != Speaker::Agent {
            continue;
        }
        let gap = agent.start_ms - before.end_ms;
        if longest.is_none_or(|(g, _, _)| gap > g) {
            longest = Some((gap, before.end_ms, agent.start_ms));
        }
    }
    if let Some((gap, _, _)) = longest {
        metrics.insert("interaction.dead_air_max_ms".to_string(), gap.max(0.0));
    }
    let Some(budget) = exp.max_dead_air_ms else {
        return Check::skipped(
            CheckKind::Interaction,
            name,
            "the scenario sets no dead-air budget (max_dead_air_ms)",
        );
    };
    let Some((gap, from, to)) = longest else {
        return Check::skipped(
            CheckKind::Interaction,
            name,
            "the agent never spoke after anyone",
        );
    };
    let gap = gap.max(0.0);
    Check::new(CheckKind::Interaction, name, gap <= budget)
        .value(gap)
        .threshold(format!("<= {budget} ms"))
        .evidence(json!({"silent_from_ms": from, "agent_spoke_at_ms": to}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_folder::{ConversationOutcome, LineRecord, Utterance};

    fn utterance(speaker: Speaker, start_ms: f64, end_ms: f64, interrupted: bool) -> Utterance {
        Utterance {
            speaker,
            text: "words".into(),
            start_ms,
            end_ms,
            item_id: None,
            interrupted,
            full_text: interrupted.then(|| "words and more words".into()),
            sound: None,
        }
    }

    fn call(transcript: Vec<Utterance>, condition: Option<&str>) -> RecordedConversation {
        let mut outcome = ConversationOutcome::not_finished();
        outcome.line = condition.map(|c| LineRecord {
            condition: c.into(),
            stages: vec![],
            measured: Default::default(),
        });
        RecordedConversation {
            dir: "x".into(),
            outcome,
            transcript,
            tools: vec![],
            events: vec![],
        }
    }

    fn checks(rec: &RecordedConversation, max_dead_air_ms: Option<f64>) -> Vec<Check> {
        let exp = Expectations {
            max_dead_air_ms,
            ..Default::default()
        };
        score(rec, &exp, &mut BTreeMap::new())
    }

    #[test]
    fn an_agent_stopped_by_the_line_is_a_false_barge_in() {
        use Speaker::{Agent, Customer};
        let rec = call(
            vec![
                utterance(Agent, 0.0, 1800.0, true),
                // The caller speaks only after the agent's answer to the noise.
                utterance(Agent, 3000.0, 4000.0, false),
                utterance(Customer, 4600.0, 6000.0, false),
            ],
            Some("cafe"),
        );
        let check = &checks(&rec, None)[0];
        assert_eq!(check.status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(check.value, Some(1.0));
        assert_eq!(check.evidence["stops"][0]["agent_stopped_ms"], 1800.0);
    }

    #[test]
    fn a_backchannel_that_stops_the_agent_is_named_as_the_cause() {
        use Speaker::{Agent, Customer};
        let mut mm = utterance(Customer, 1500.0, 1900.0, false);
        mm.text = "Mm-hmm.".into();
        mm.sound = Some(crate::run_folder::CallerSound::Backchannel);
        let rec = call(
            vec![
                utterance(Agent, 0.0, 1700.0, true),
                mm.clone(),
                utterance(Agent, 2500.0, 3000.0, false),
            ],
            None,
        );
        let check = &checks(&rec, None)[0];
        assert_eq!(check.status, crate::run_folder::CheckStatus::Fail);
        let cause = &check.evidence["stops"][0]["cause"];
        assert_eq!(cause["caller_sound"], "backchannel");
        assert_eq!(cause["text"], "Mm-hmm.");

        // An agent that talks through the backchannel passes.
        let kept_talking = call(vec![utterance(Agent, 0.0, 4000.0, false), mm], None);
        assert_eq!(
            checks(&kept_talking, None)[0].status,
            crate::run_folder::CheckStatus::Pass
        );
    }

    #[test]
    fn a_caller_barging_in_is_not_a_false_barge_in_and_a_clean_line_has_nothing_to_judge() {
        use Speaker::{Agent, Customer};
        let barged = vec![
            utterance(Agent, 0.0, 1800.0, true),
            utterance(Customer, 1800.0, 3000.0, false),
        ];
        let on_a_line = &checks(&call(barged.clone(), Some("phone")), None)[0];
        assert_eq!(on_a_line.status, crate::run_folder::CheckStatus::Pass);
        let clean = &checks(&call(barged, None), None)[0];
        assert_eq!(clean.status, crate::run_folder::CheckStatus::Skipped);
    }

    #[test]
    fn dead_air_is_the_longest_wait_for_the_agent_tools_included() {
        use Speaker::{Agent, Customer};
        let rec = call(
            vec![
                utterance(Agent, 0.0, 2000.0, false),
                utterance(Customer, 2500.0, 4000.0, false), // 500 ms of think time: not dead air
                utterance(Agent, 4900.0, 5600.0, false),    // 900 ms response
                utterance(Agent, 9600.0, 11000.0, false),   // 4 s while a tool ran
            ],
            None,
        );
        let mut metrics = BTreeMap::new();
        let exp = Expectations {
            max_dead_air_ms: Some(3000.0),
            ..Default::default()
        };
        let check = &score(&rec, &exp, &mut metrics)[1];
        assert_eq!(metrics["interaction.dead_air_max_ms"], 4000.0);
        assert_eq!(check.status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(check.evidence["silent_from_ms"], 5600.0);
        let relaxed = Expectations {
            max_dead_air_ms: Some(5000.0),
            ..Default::default()
        };
        assert_eq!(
            score(&rec, &relaxed, &mut BTreeMap::new())[1].status,
            crate::run_folder::CheckStatus::Pass
        );
        assert_eq!(
            checks(&rec, None)[1].status,
            crate::run_folder::CheckStatus::Skipped
        );
    }
}
