//! Latency and turn-taking from the recorded timeline: the agent's response
//! time after the caller stops speaking (what callers feel), gaps and
//! overlaps, and tool round trips. How fast the agent yields to a barge-in
//! is in [`super::interaction`].

use std::collections::BTreeMap;

use serde_json::json;

use crate::audio::tone::percentile;
use crate::config::scenario::Expectations;
use crate::run_folder::RecordedConversation;
use crate::run_folder::Speaker;
use crate::run_folder::{Check, CheckKind};

pub fn score(
    rec: &RecordedConversation,
    exp: &Expectations,
    metrics: &mut BTreeMap<String, f64>,
) -> Vec<Check> {
    // Response time: from the end of each caller turn to the start of the
    // agent's next speech. Overlap: agent speech that starts before the caller
    // finished (negative gap).
    let mut response = Vec::new();
    let mut overlaps = 0usize;
    let mut turns = Vec::new();
    for (i, u) in rec.transcript.iter().enumerate() {
        // Backchannels and coughs are not turns the agent answers.
        if u.speaker != Speaker::Customer || !u.is_turn() {
            continue;
        }
        if let Some(next) = rec.transcript[i + 1..]
            .iter()
            .find(|n| n.speaker == Speaker::Agent)
        {
            let gap = next.start_ms - u.end_ms;
            if gap < 0.0 {
                overlaps += 1;
            } else {
                response.push(gap);
                turns.push(json!({"after_caller_at_ms": u.end_ms, "agent_started_ms": next.start_ms, "response_ms": gap}));
            }
        }
    }
    let tool_rtt: Vec<f64> = rec.tools.iter().map(|t| t.latency_ms).collect();
    let mut put = |name: &str, v: Option<f64>| {
        if let Some(v) = v {
            metrics.insert(name.to_string(), v);
        }
    };
    put("latency.response_p50_ms", percentile(&response, 0.5));
    put("latency.response_p95_ms", percentile(&response, 0.95));
    put("latency.response_max_ms", percentile(&response, 1.0));
    put("latency.overlaps", Some(overlaps as f64));
    put("latency.tool_rtt_p50_ms", percentile(&tool_rtt, 0.5));
    put("latency.tool_rtt_max_ms", percentile(&tool_rtt, 1.0));
    let Some(budget) = exp.latency_p95_ms else {
        return vec![Check::skipped(
            CheckKind::Latency,
            "latency.response_p95",
            "the scenario sets no latency budget",
        )];
    };
    let Some(p95) = percentile(&response, 0.95) else {
        return vec![Check::skipped(
            CheckKind::Latency,
            "latency.response_p95",
            "no agent response followed a caller turn",
        )];
    };
    vec![
        Check::new(CheckKind::Latency, "latency.response_p95", p95 <= budget)
            .value(p95)
            .threshold(format!("<= {budget} ms"))
            .evidence(json!({"turns": turns})),
    ]
}
