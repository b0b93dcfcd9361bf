//! `--redact`: personal data masked in an imported call's words and tool
//! arguments and outputs (and the events that carry them), counted per
//! pattern. Masks keep the kind visible (`[phone]`, `[email]`) so a
//! transcript still reads.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use super::ImportedCall;

/// One pattern and what replaces its matches.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: String,
    regex: Regex,
}

/// The built-in patterns, by name.
pub const BUILT_IN: &[&str] = &["phone", "email", "card"];

impl Pattern {
    /// A built-in pattern by name.
    pub fn built_in(name: &str) -> Option<Pattern> {
        let source = match name {
            // Card numbers first in practice: 13–19 digits in groups.
            "card" => r"\b(?:\d[ -]?){12,18}\d\b",
            "email" => r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b",
            // International (+ and groups) or North American (3-3-4)
            // numbers; dates and order numbers are not phones.
            "phone" => {
                r"\+\d{1,3}(?:[ .-]?\d{1,4}){2,5}\b|(?:\(\d{3}\)\s?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b"
            }
            _ => return None,
        };
        Some(Pattern {
            name: name.to_string(),
            regex: Regex::new(source).ok()?,
        })
    }

    /// A user's regex, named `custom-<n>`.
    pub fn custom(index: usize, source: &str) -> Result<Pattern, regex::Error> {
        Ok(Pattern {
            name: format!("custom-{index}"),
            regex: Regex::new(source)?,
        })
    }

    fn mask(&self) -> String {
        format!("[{}]", self.name)
    }
}

/// Whether `text` carries a mask this module put there.
pub fn is_masked(text: &str) -> bool {
    static MASK: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    MASK.get_or_init(|| Regex::new(r"\[(phone|email|card|custom-\d+)\]").ok())
        .as_ref()
        .is_some_and(|m| m.is_match(text))
}

/// Masks `text` with every pattern, counting matches.
fn mask_text(text: &str, patterns: &[Pattern], counts: &mut BTreeMap<String, u32>) -> String {
    let mut out = text.to_string();
    for p in patterns {
        let found = p.regex.find_iter(&out).count() as u32;
        if found > 0 {
            *counts.entry(p.name.clone()).or_default() += found;
            out = p.regex.replace_all(&out, p.mask().as_str()).into_owned();
        }
    }
    out
}

/// Every string in a JSON value masked (counts not kept: the same words are
/// counted once, in the transcript or the tool call).
fn mask_value(value: &mut Value, patterns: &[Pattern]) {
    let mut ignored = BTreeMap::new();
    match value {
        Value::String(s) => *s = mask_text(s, patterns, &mut ignored),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, patterns)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_value(v, patterns)),
        _ => {}
    }
}

/// Masks the call's words, tool arguments and outputs, and its events;
/// returns the matches per pattern (in words and tool calls).
pub fn redact(call: &mut ImportedCall, patterns: &[Pattern]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    if patterns.is_empty() {
        return counts;
    }
    for u in &mut call.transcript {
        u.text = mask_text(&u.text, patterns, &mut counts);
        if let Some(full) = &u.full_text {
            u.full_text = Some(mask_text(full, patterns, &mut counts));
        }
    }
    for t in &mut call.tools {
        t.arguments = mask_text(&t.arguments, patterns, &mut counts);
        if let Some(o) = &t.output {
            t.output = Some(mask_text(o, patterns, &mut counts));
        }
    }
    for e in &mut call.events {
        // A number streamed in pieces matches no pattern piece by piece:
        // streamed text is dropped (the complete text is in the done events).
        if e.record.event_type.ends_with(".delta")
            && let Some(delta) = e.record.event.get_mut("delta")
            && delta.is_string()
        {
            *delta = Value::String("[redacted]".into());
        }
        mask_value(&mut e.record.event, patterns);
    }
    if let Some(s) = &mut call.session
        && let Some(i) = &s.instructions
    {
        s.instructions = Some(mask_text(i, patterns, &mut BTreeMap::new()));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Pattern> {
        let mut p: Vec<Pattern> = ["card", "email", "phone"]
            .iter()
            .filter_map(|n| Pattern::built_in(n))
            .collect();
        p.push(Pattern::custom(1, r"NW\d{3}").unwrap());
        p
    }

    #[test]
    fn personal_data_is_masked_and_counted() {
        let mut counts = BTreeMap::new();
        let text = "Call me on +1 415-555-0132 or mail jo.doe@example.com; card 4111 1111 1111 1111, order NW123.";
        let masked = mask_text(text, &all(), &mut counts);
        assert_eq!(
            masked,
            "Call me on [phone] or mail [email]; card [card], order [custom-1]."
        );
        assert_eq!(counts.values().sum::<u32>(), 4);
        let mut none = BTreeMap::new();
        assert_eq!(
            mask_text("It costs 40 dollars, 2 items.", &all(), &mut none),
            "It costs 40 dollars, 2 items."
        );
        assert_eq!(
            mask_text("Placed 2026-11-18, zip 97201.", &all(), &mut none),
            "Placed 2026-11-18, zip 97201."
        );
        assert!(none.is_empty());
        assert_eq!(
            mask_text("Call (415) 555-0132.", &all(), &mut none),
            "Call [phone]."
        );
    }
}
