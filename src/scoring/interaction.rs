//! Turn-taking measured from the recorded timeline: when the agent stopped
//! talking for something that was not the caller taking the turn, when it
//! started talking inside a caller's hesitation or over the caller, caller
//! turns the agent never answered, the longest silence a caller sat through
//! waiting for the agent, and how fast the agent yields to a real barge-in.
//! Pure functions of the transcript and the call's record.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audio::tone::percentile;
use crate::config::scenario::Expectations;
use crate::run_folder::{
    Check, CheckKind, EndReason, Pause, RecordedConversation, Speaker, Utterance,
};

/// A caller turn starting this close to where the agent stopped is what
/// stopped it (a barge-in); anything farther, something else did.
const BARGE_IN_WINDOW_MS: f64 = 400.0;

pub fn score(
    rec: &RecordedConversation,
    exp: &Expectations,
    metrics: &mut BTreeMap<String, f64>,
) -> Vec<Check> {
    yield_time(rec, metrics);
    vec![
        false_barge_in(rec, metrics),
        missed_response(rec, metrics),
        dead_air(rec, exp, metrics),
        premature_response(rec, metrics),
        talk_over(rec, metrics),
    ]
}

/// Where the caller starts speaking: the start of each turn, and where
/// they go on after a pause inside one.
fn caller_speech_starts(rec: &RecordedConversation) -> impl Iterator<Item = f64> + '_ {
    caller_turns(rec)
        .flat_map(|c| std::iter::once(c.start_ms).chain(c.pauses.iter().map(|p| p.end_ms)))
}

/// The agent's turns that started while the caller's turn `c` was under
/// way, with whether each began inside one of its pauses.
fn agent_starts_within<'a>(
    rec: &'a RecordedConversation,
    c: &'a Utterance,
) -> impl Iterator<Item = (&'a Utterance, Option<&'a Pause>)> + 'a {
    rec.transcript
        .iter()
        .filter(move |u| {
            u.speaker == Speaker::Agent && u.start_ms > c.start_ms && u.start_ms < c.end_ms
        })
        .map(move |u| {
            let pause = c
                .pauses
                .iter()
                .find(|p| p.start_ms <= u.start_ms && u.start_ms < p.end_ms);
            (u, pause)
        })
}

fn caller_turns(rec: &RecordedConversation) -> impl Iterator<Item = &Utterance> {
    rec.transcript
        .iter()
        .filter(|c| c.speaker == Speaker::Customer && c.is_turn())
}

/// `interaction.premature_response`: the agent started speaking inside a
/// pause in the middle of a caller's sentence (it answered half of it).
fn premature_response(rec: &RecordedConversation, metrics: &mut BTreeMap<String, f64>) -> Check {
    let name = "interaction.premature_response";
    let found: Vec<serde_json::Value> = caller_turns(rec)
        .flat_map(|c| {
            agent_starts_within(rec, c).filter_map(move |(u, pause)| {
                pause.map(|p| {
                    json!({
                        "agent_started_ms": u.start_ms,
                        "agent_said": u.text,
                        "caller_said": c.text,
                        "pause_ms": [p.start_ms, p.end_ms],
                    })
                })
            })
        })
        .collect();
    let pauses = caller_turns(rec).map(|c| c.pauses.len()).sum::<usize>();
    metrics.insert(
        "interaction.premature_responses".to_string(),
        found.len() as f64,
    );
    if pauses == 0 {
        return Check::skipped(
            CheckKind::Interaction,
            name,
            "the caller never paused mid-sentence",
        );
    }
    Check::new(CheckKind::Interaction, name, found.is_empty())
        .value(found.len() as f64)
        .threshold("0 answers inside a caller's pause")
        .evidence(json!({"caller_pauses": pauses, "answered_into": found}))
}

/// `interaction.talk_over`: the agent started speaking while the caller
/// was speaking (not in a pause: that is a premature response; and not a
/// barge-in, where the caller starts second).
fn talk_over(rec: &RecordedConversation, metrics: &mut BTreeMap<String, f64>) -> Check {
    let name = "interaction.talk_over";
    let found: Vec<serde_json::Value> = caller_turns(rec)
        .flat_map(|c| {
            agent_starts_within(rec, c)
                .filter(|(_, pause)| pause.is_none())
                .map(move |(u, _)| {
                    json!({
                        "agent_started_ms": u.start_ms,
                        "agent_said": u.text,
                        "caller_started_ms": c.start_ms,
                        "caller_said": c.text,
                    })
                })
        })
        .collect();
    metrics.insert("interaction.talk_overs".to_string(), found.len() as f64);
    if caller_turns(rec).next().is_none() {
        return Check::skipped(CheckKind::Interaction, name, "the caller never took a turn");
    }
    Check::new(CheckKind::Interaction, name, found.is_empty())
        .value(found.len() as f64)
        .threshold("0 agent turns started over the caller")
        .evidence(json!({"talked_over": found}))
}

/// `interaction.yield_ms_*`: from a caller turn that starts while the agent
/// talks to the agent's audio stopping (0 when the client stopped it at
/// once; a real call's recording shows the agent's own reaction).
fn yield_time(rec: &RecordedConversation, metrics: &mut BTreeMap<String, f64>) {
    let yields: Vec<f64> = rec
        .transcript
        .iter()
        .filter(|u| u.speaker == Speaker::Agent && u.interrupted && u.guardrail.is_none())
        .filter_map(|u| {
            caller_speech_starts(rec)
                .find(|&t| t >= u.start_ms && t <= u.end_ms + BARGE_IN_WINDOW_MS)
                .map(|t| (u.end_ms - t).max(0.0))
        })
        .collect();
    for (name, q) in [
        ("interaction.yield_ms_p50", 0.5),
        ("interaction.yield_ms_max", 1.0),
    ] {
        if let Some(v) = percentile(&yields, q) {
            metrics.insert(name.to_string(), v);
        }
    }
}

/// `interaction.missed_response`: caller turns the agent never answered:
/// the caller had to speak again with no word from the agent between, or
/// the call ended for the agent's silence after the caller's last turn.
fn missed_response(rec: &RecordedConversation, metrics: &mut BTreeMap<String, f64>) -> Check {
    let turns: Vec<&Utterance> = rec.transcript.iter().filter(|u| u.is_turn()).collect();
    let mut missed = Vec::new();
    for (i, u) in turns.iter().enumerate() {
        if u.speaker != Speaker::Customer {
            continue;
        }
        let unanswered = match turns.get(i + 1) {
            Some(next) => next.speaker == Speaker::Customer,
            // The last turn was the caller's: missed only if the call ended
            // because the agent stayed silent (not a caller hanging up).
            None => rec.outcome.end_reason == Some(EndReason::Silence),
        };
        if unanswered {
            missed.push(json!({"caller_said": u.text, "ended_ms": u.end_ms}));
        }
    }
    metrics.insert(
        "interaction.missed_responses".to_string(),
        missed.len() as f64,
    );
    if !turns.iter().any(|u| u.speaker == Speaker::Customer) {
        return Check::skipped(
            CheckKind::Interaction,
            "interaction.missed_response",
            "the caller never took a turn",
        );
    }
    Check::new(
        CheckKind::Interaction,
        "interaction.missed_response",
        missed.is_empty(),
    )
    .value(missed.len() as f64)
    .threshold("0 unanswered caller turns")
    .evidence(json!({"unanswered": missed}))
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
        .filter(|u| u.speaker == Speaker::Agent && u.interrupted && u.guardrail.is_none())
        .filter(|u| !caller_speech_starts(rec).any(|t| (t - u.end_ms).abs() <= BARGE_IN_WINDOW_MS))
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
    let turns = rec.transcript.iter().filter(|u| u.is_turn());
    // The line is silent from where the last turn so far ended (an agent
    // fragment said over the caller ends before the caller does).
    let mut silent_from: Option<f64> = None;
    for u in turns {
        if let (Speaker::Agent, Some(from)) = (u.speaker, silent_from) {
            let gap = u.start_ms - from;
            if longest.is_none_or(|(g, _, _)| gap > g) {
                longest = Some((gap, from, u.start_ms));
            }
        }
        silent_from = Some(silent_from.map_or(u.end_ms, |f| f.max(u.end_ms)));
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
            pauses: Vec::new(),
            guardrail: None,
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
            guardrails: vec![],
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
    fn a_caller_turn_left_unanswered_is_a_missed_response() {
        use Speaker::{Agent, Customer};
        let answered = vec![
            utterance(Agent, 0.0, 1000.0, false),
            utterance(Customer, 1500.0, 2500.0, false),
            utterance(Agent, 3300.0, 4000.0, false),
            // The caller's goodbye needs no answer.
            utterance(Customer, 4500.0, 5000.0, false),
        ];
        let mut rec = call(answered, None);
        rec.outcome.end_reason = Some(EndReason::GoalMet);
        assert_eq!(
            checks(&rec, None)[1].status,
            crate::run_folder::CheckStatus::Pass
        );
        // The same last turn, but the call ended because the agent was silent.
        rec.outcome.end_reason = Some(EndReason::Silence);
        let check = &checks(&rec, None)[1];
        assert_eq!(check.status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(check.evidence["unanswered"][0]["ended_ms"], 5000.0);
        // A caller who has to speak twice in a row was not answered.
        let twice = call(
            vec![
                utterance(Customer, 0.0, 1000.0, false),
                utterance(Customer, 9000.0, 9500.0, false),
                utterance(Agent, 10000.0, 11000.0, false),
            ],
            None,
        );
        assert_eq!(checks(&twice, None)[1].value, Some(1.0));
    }

    #[test]
    fn yielding_to_a_barge_in_is_measured_from_the_callers_first_word() {
        use Speaker::{Agent, Customer};
        let rec = call(
            vec![
                utterance(Agent, 0.0, 2300.0, true),
                utterance(Customer, 2000.0, 3000.0, false),
            ],
            None,
        );
        let mut metrics = BTreeMap::new();
        score(&rec, &Expectations::default(), &mut metrics);
        assert_eq!(metrics["interaction.yield_ms_p50"], 300.0);
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
        let check = &score(&rec, &exp, &mut metrics)[2];
        assert_eq!(metrics["interaction.dead_air_max_ms"], 4000.0);
        assert_eq!(check.status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(check.evidence["silent_from_ms"], 5600.0);
        let relaxed = Expectations {
            max_dead_air_ms: Some(5000.0),
            ..Default::default()
        };
        assert_eq!(
            score(&rec, &relaxed, &mut BTreeMap::new())[2].status,
            crate::run_folder::CheckStatus::Pass
        );
        assert_eq!(
            checks(&rec, None)[2].status,
            crate::run_folder::CheckStatus::Skipped
        );
    }

    fn hesitant(start_ms: f64, end_ms: f64, pause: (f64, f64)) -> Utterance {
        let mut u = utterance(Speaker::Customer, start_ms, end_ms, false);
        u.pauses = vec![Pause {
            start_ms: pause.0,
            end_ms: pause.1,
        }];
        u
    }

    #[test]
    fn an_agent_answering_into_a_hesitation_is_premature() {
        use Speaker::Agent;
        // The caller pauses 2000–3500 ms; the agent starts at 2900 and is cut
        // when the caller goes on.
        let rec = call(
            vec![
                utterance(Agent, 0.0, 1000.0, false),
                hesitant(1200.0, 5000.0, (2000.0, 3500.0)),
                utterance(Agent, 2900.0, 3600.0, true),
                utterance(Agent, 5800.0, 7000.0, false),
            ],
            None,
        );
        let all = checks(&rec, None);
        let premature = &all[3];
        assert_eq!(premature.status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(
            premature.evidence["answered_into"][0]["agent_started_ms"],
            2900.0
        );
        // Cut by the caller going on: a barge-in, not a false one, and not talk-over.
        assert_eq!(all[0].status, crate::run_folder::CheckStatus::Skipped);
        assert_eq!(all[4].status, crate::run_folder::CheckStatus::Pass);
        // An agent that waits for the end of the sentence passes.
        let patient = call(
            vec![
                hesitant(1200.0, 5000.0, (2000.0, 3500.0)),
                utterance(Agent, 5800.0, 7000.0, false),
            ],
            None,
        );
        assert_eq!(
            checks(&patient, None)[3].status,
            crate::run_folder::CheckStatus::Pass
        );
        // Without hesitations there is nothing to judge.
        let plain = call(
            vec![
                utterance(Speaker::Customer, 0.0, 1000.0, false),
                utterance(Agent, 1500.0, 2000.0, false),
            ],
            None,
        );
        assert_eq!(
            checks(&plain, None)[3].status,
            crate::run_folder::CheckStatus::Skipped
        );
    }

    #[test]
    fn an_agent_starting_while_the_caller_speaks_talks_over_them() {
        use Speaker::{Agent, Customer};
        let over = call(
            vec![
                utterance(Customer, 1000.0, 4000.0, false),
                utterance(Agent, 2500.0, 5000.0, false),
            ],
            None,
        );
        let check = &checks(&over, None)[4];
        assert_eq!(check.status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(
            check.evidence["talked_over"][0]["caller_started_ms"],
            1000.0
        );
        // A caller barging in on the agent is not the agent talking over them.
        let barge_in = call(
            vec![
                utterance(Agent, 0.0, 2300.0, true),
                utterance(Customer, 2000.0, 3000.0, false),
                utterance(Agent, 3600.0, 4000.0, false),
            ],
            None,
        );
        assert_eq!(
            checks(&barge_in, None)[4].status,
            crate::run_folder::CheckStatus::Pass
        );
    }

    #[test]
    fn dead_air_counts_from_the_end_of_the_caller_not_of_an_answer_said_over_them() {
        use Speaker::Agent;
        // The agent answers into the caller's pause (2900–3600, cut), the
        // caller finishes at 5000, the real answer comes at 5800.
        let rec = call(
            vec![
                hesitant(1200.0, 5000.0, (2000.0, 3500.0)),
                utterance(Agent, 2900.0, 3600.0, true),
                utterance(Agent, 5800.0, 7000.0, false),
            ],
            None,
        );
        let mut metrics = BTreeMap::new();
        score(&rec, &Expectations::default(), &mut metrics);
        assert_eq!(metrics["interaction.dead_air_max_ms"], 800.0);
    }
}
