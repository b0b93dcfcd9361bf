//! Conversation flow: which stages the agent went through, judged from what
//! it said (each stage's markers, by default the words of its `say` line),
//! compared with the scenario's expected path.

use std::collections::BTreeSet;

use serde_json::json;

use crate::config::agent::Stage;
use crate::config::scenario::Expectations;
use crate::run_folder::RecordedConversation;
use crate::run_folder::Speaker;
use crate::run_folder::{Check, CheckKind};

fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_template = false;
    let mut cleaned = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // Template expressions say nothing fixed: leave them out.
        if i + 1 < chars.len() && chars[i] == '{' && (chars[i + 1] == '{' || chars[i + 1] == '%') {
            in_template = true;
        } else if in_template
            && i + 1 < chars.len()
            && (chars[i] == '}' || chars[i] == '%')
            && chars[i + 1] == '}'
        {
            in_template = false;
            i += 2;
            cleaned.push(' ');
            continue;
        }
        if !in_template {
            cleaned.push(chars[i]);
        }
        i += 1;
    }
    for w in cleaned.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        if !w.is_empty() {
            out.push(w.to_lowercase());
        }
    }
    out
}

/// Share of the marker's words found in the utterance.
fn coverage(marker: &[String], utterance: &BTreeSet<String>) -> f64 {
    if marker.is_empty() {
        return 0.0;
    }
    marker.iter().filter(|w| utterance.contains(*w)).count() as f64 / marker.len() as f64
}

/// The stages visited, in order, each with the quote that showed it.
pub fn visited(rec: &RecordedConversation, stages: &[Stage]) -> Vec<(String, String)> {
    let markers: Vec<(String, Vec<Vec<String>>)> = stages
        .iter()
        .map(|s| {
            let list: Vec<Vec<String>> = if s.markers.is_empty() {
                s.say
                    .iter()
                    .map(|t| words(t))
                    .filter(|w| w.len() >= 3)
                    .collect()
            } else {
                s.markers.iter().map(|m| words(m)).collect()
            };
            (s.id.clone(), list)
        })
        .collect();
    let mut out: Vec<(String, String)> = Vec::new();
    for u in rec.said_by(Speaker::Agent) {
        // The path is what the agent did: an interrupted turn still entered its stage.
        let said = u.full_text.as_deref().unwrap_or(&u.text);
        let heard: BTreeSet<String> = words(said).into_iter().collect();
        for (id, list) in &markers {
            if list.iter().any(|m| coverage(m, &heard) >= 0.8)
                && out.last().is_none_or(|(last, _)| last != id)
            {
                out.push((id.clone(), said.to_string()));
            }
        }
    }
    out
}

pub fn score(rec: &RecordedConversation, exp: &Expectations, stages: &[Stage]) -> Vec<Check> {
    if exp.flow.is_empty() {
        return vec![Check::skipped(
            CheckKind::Flow,
            "flow.path",
            "the scenario expects no stage path",
        )];
    }
    if stages.is_empty() {
        return vec![Check::skipped(
            CheckKind::Flow,
            "flow.path",
            "the agent file declares no stages to recognise",
        )];
    }
    let seen = visited(rec, stages);
    // The expected path must appear in order; other stages in between are allowed.
    let mut next = 0;
    for (id, _) in &seen {
        if next < exp.flow.len() && &exp.flow[next] == id {
            next += 1;
        }
    }
    let missing: Vec<&String> = exp.flow[next..].iter().collect();
    let passed = missing.is_empty();
    let reached = next as f64 / exp.flow.len() as f64;
    vec![
        Check::new(CheckKind::Flow, "flow.path", passed)
            .value(reached)
            .threshold(format!("stages in order: {}", exp.flow.join(" → ")))
            .evidence(json!({
                "visited": seen.iter().map(|(id, quote)| json!({"stage": id, "quote": quote})).collect::<Vec<_>>(),
                "first_missing": missing.first(),
            })),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parts_are_not_markers() {
        assert_eq!(
            words("Thanks. I see {{ result.item }}, ok?"),
            ["thanks", "i", "see", "ok"]
        );
        assert_eq!(words("{% if x %}Yes{% endif %} done"), ["yes", "done"]);
    }
}
