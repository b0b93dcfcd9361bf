//! Guardrail checks and measures, from `guardrails.jsonl`:
//! - `guardrail.<name>.caught`: every trip of the guardrail decided before
//!   the caller heard a word of what tripped it (value: ms heard);
//! - `guardrail.<name>.false_fire`: a guardrail the scenario lists under
//!   `must_not_trip` did not trip.
//!
//! Metrics: checks, trips, trips caught before heard, heard ms and words,
//! classifier latency p50/p95, failed checks and the classifiers' cost.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audio::tone::percentile;
use crate::config::agent::AgentFile;
use crate::config::scenario::Expectations;
use crate::run_folder::{
    Check, CheckKind, GuardrailCheckRecord, GuardrailKind, RecordedConversation,
};

pub fn score(
    rec: &RecordedConversation,
    exp: &Expectations,
    agent: &AgentFile,
    metrics: &mut BTreeMap<String, f64>,
) -> Vec<Check> {
    let checks = &rec.guardrails;
    let mut out = Vec::new();
    if !checks.is_empty() || !agent.guardrails.is_empty() {
        measure(checks, metrics);
    }
    for spec in &agent.guardrails {
        let mine: Vec<&GuardrailCheckRecord> =
            checks.iter().filter(|c| c.guardrail == spec.name).collect();
        if mine.iter().any(|c| c.trip.is_some()) {
            out.push(caught(&spec.name, &mine));
        }
    }
    for name in &exp.must_not_trip {
        out.push(false_fire(name, agent, checks));
    }
    out
}

/// `guardrail.<name>.caught`: each trip decided before its words played.
fn caught(name: &str, checks: &[&GuardrailCheckRecord]) -> Check {
    let trips: Vec<_> = checks
        .iter()
        .filter_map(|c| c.trip.as_ref().map(|t| (c, t)))
        .collect();
    let heard_ms: f64 = trips.iter().map(|(_, t)| t.heard_ms).sum();
    let all_caught = trips.iter().all(|(_, t)| t.caught_before_heard);
    Check::new(
        CheckKind::Guardrail,
        format!("guardrail.{name}.caught"),
        all_caught,
    )
    .value(heard_ms)
    .threshold("decided before the caller heard the words (0 ms heard)")
    .evidence(json!({"trips": trips.iter().map(|(c, t)| json!({
        "item_id": c.item_id,
        "trigger": t.trigger,
        "words_start_ms": t.words_start_ms,
        "decided_ms": c.decided_ms,
        "latency_ms": c.latency_ms(),
        "chars_checked": c.chars,
        "caught_before_heard": t.caught_before_heard,
        "heard_ms": t.heard_ms,
        "heard_words": t.heard_words,
        "enforced": t.enforced,
    })).collect::<Vec<_>>()}))
}

/// `guardrail.<name>.false_fire`: the scenario says nothing here should trip it.
fn false_fire(name: &str, agent: &AgentFile, checks: &[GuardrailCheckRecord]) -> Check {
    let check_name = format!("guardrail.{name}.false_fire");
    if !agent.guardrails.iter().any(|g| g.name == *name) {
        return Check::skipped(
            CheckKind::Guardrail,
            check_name,
            format!("the agent has no guardrail `{name}`"),
        );
    }
    let fires: Vec<_> = checks
        .iter()
        .filter(|c| c.guardrail == *name && c.tripped)
        .map(|c| {
            json!({"item_id": c.item_id, "decided_ms": c.decided_ms,
                   "trigger": c.trip.as_ref().map(|t| t.trigger.clone())})
        })
        .collect();
    Check::new(CheckKind::Guardrail, check_name, fires.is_empty())
        .value(fires.len() as f64)
        .threshold("no trip (the scenario lists it under must_not_trip)")
        .evidence(json!({"fires": fires}))
}

fn measure(checks: &[GuardrailCheckRecord], metrics: &mut BTreeMap<String, f64>) {
    let trips: Vec<_> = checks.iter().filter_map(|c| c.trip.as_ref()).collect();
    let classifier: Vec<f64> = checks
        .iter()
        .filter(|c| c.kind == GuardrailKind::Judge)
        .filter_map(GuardrailCheckRecord::latency_ms)
        .collect();
    let mut put = |name: &str, v: f64| {
        metrics.insert(format!("guardrail.{name}"), v);
    };
    put("checks", checks.len() as f64);
    put(
        "failed_checks",
        checks.iter().filter(|c| c.error.is_some()).count() as f64,
    );
    put("trips", trips.len() as f64);
    put(
        "caught_before_heard",
        trips.iter().filter(|t| t.caught_before_heard).count() as f64,
    );
    put("heard_ms", trips.iter().map(|t| t.heard_ms).sum());
    put(
        "heard_words",
        trips.iter().map(|t| t.heard_words as f64).sum(),
    );
    // Folded from +0.0: an empty float sum is -0.0.
    put(
        "cost_usd",
        checks
            .iter()
            .filter_map(|c| c.cost_usd)
            .fold(0.0, |a, b| a + b),
    );
    if let Some(p50) = percentile(&classifier, 0.5) {
        put("classifier_p50_ms", p50);
    }
    if let Some(p95) = percentile(&classifier, 0.95) {
        put("classifier_p95_ms", p95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_folder::GuardrailTrip;

    fn check(name: &str, trip: Option<(bool, f64)>) -> GuardrailCheckRecord {
        GuardrailCheckRecord {
            guardrail: name.into(),
            kind: GuardrailKind::Regex,
            item_id: Some("item_1".into()),
            chars: 120,
            complete: false,
            sent_ms: 1000.0,
            decided_ms: Some(1000.0),
            tripped: trip.is_some(),
            error: None,
            tokens: (0, 0),
            cost_usd: None,
            cached: false,
            trip: trip.map(|(caught, heard_ms)| GuardrailTrip {
                trigger: "a full refund".into(),
                words_start_ms: 1500.0,
                words_end_ms: 2300.0,
                playback_start_ms: 900.0,
                caught_before_heard: caught,
                heard_ms,
                heard_words: u32::from(heard_ms > 0.0),
                enforced: true,
            }),
        }
    }

    fn agent() -> AgentFile {
        crate::config::parse_yaml(
            std::path::Path::new("a.yaml"),
            "name: a\nprovider: openai\nguardrails:\n  - { name: refunds, kind: regex, phrases: [full refund] }\n",
        )
        .unwrap()
    }

    fn recorded(checks: Vec<GuardrailCheckRecord>) -> RecordedConversation {
        RecordedConversation {
            dir: "x".into(),
            outcome: serde_json::from_value(json!({"status": "completed", "error": null, "end_reason": null,
                "goal_met": true, "agent_turns": 1, "customer_turns": 1, "interruptions": 0, "tool_calls": 0,
                "duration_ms": 0.0, "partial": false, "usage": {"responses": 0, "input_text_tokens": 0,
                "input_audio_tokens": 0, "cached_text_tokens": 0, "cached_audio_tokens": 0,
                "output_text_tokens": 0, "output_audio_tokens": 0}, "protocol_errors": []}))
            .unwrap(),
            transcript: vec![],
            tools: vec![],
            events: vec![],
            guardrails: checks,
        }
    }

    #[test]
    fn a_trip_heard_in_part_fails_caught_and_counts_the_ms() {
        let rec = recorded(vec![
            check("refunds", None),
            check("refunds", Some((false, 400.0))),
        ]);
        let mut metrics = BTreeMap::new();
        let checks = score(&rec, &Expectations::default(), &agent(), &mut metrics);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].name, "guardrail.refunds.caught");
        assert_eq!(checks[0].status, crate::run_folder::CheckStatus::Fail);
        assert_eq!(checks[0].value, Some(400.0));
        assert_eq!(metrics["guardrail.checks"], 2.0);
        assert_eq!(metrics["guardrail.trips"], 1.0);
        assert_eq!(metrics["guardrail.caught_before_heard"], 0.0);
        assert_eq!(metrics["guardrail.heard_ms"], 400.0);
    }

    #[test]
    fn must_not_trip_makes_a_trip_a_false_fire() {
        let exp = Expectations {
            must_not_trip: vec!["refunds".into(), "unknown".into()],
            ..Expectations::default()
        };
        let mut metrics = BTreeMap::new();
        let quiet = score(
            &recorded(vec![check("refunds", None)]),
            &exp,
            &agent(),
            &mut metrics,
        );
        let names: Vec<(&str, &str)> = quiet
            .iter()
            .map(|c| (c.name.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("guardrail.refunds.false_fire", "pass"),
                ("guardrail.unknown.false_fire", "skipped")
            ]
        );
        let fired = score(
            &recorded(vec![check("refunds", Some((true, 0.0)))]),
            &exp,
            &agent(),
            &mut metrics,
        );
        let false_fire = fired
            .iter()
            .find(|c| c.name == "guardrail.refunds.false_fire")
            .unwrap();
        assert_eq!(false_fire.status.as_str(), "fail");
        assert_eq!(false_fire.value, Some(1.0));
    }
}
