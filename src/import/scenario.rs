//! The files an import writes into a project: a replay scenario per call
//! (plain YAML that `validate` accepts, a comment block naming its source),
//! the replay persona every such scenario names, and, when a log recorded
//! the session's configuration, an agent file that reproduces it.

use std::fmt::Write;

use serde_json::Value;

use super::ImportedCall;
use crate::run_folder::{Speaker, ToolCallRecord};

/// The persona replay scenarios name.
pub const REPLAY_PERSONA: &str = "replayed-caller";

/// A YAML scalar: JSON's quoting is valid YAML.
fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The caller's lines with what the agent said before each and the caller's
/// reaction delay after it.
pub struct Line {
    pub after: String,
    pub say: String,
    pub start_ms: f64,
    pub end_ms: f64,
    pub reaction_ms: f64,
}

/// Pairs each caller turn with the agent's words since the previous one.
pub fn caller_lines(call: &ImportedCall) -> Vec<Line> {
    let mut out = Vec::new();
    let mut agent_words: Vec<&str> = Vec::new();
    let mut agent_end: Option<f64> = None;
    for u in &call.transcript {
        match u.speaker {
            Speaker::Agent => {
                if !u.text.trim().is_empty() {
                    agent_words.push(u.text.trim());
                }
                agent_end = Some(u.end_ms);
            }
            Speaker::Customer => {
                // Without words or a track there is nothing to replay.
                if u.text.trim().is_empty() && call.caller_audio.is_none() {
                    continue;
                }
                // The caller went on with nothing from the agent between:
                // the same turn, split by a pause (or said twice by a log).
                if agent_words.is_empty()
                    && let Some(previous) = out.last_mut()
                {
                    let said: &mut Line = previous;
                    if said.say.trim() != u.text.trim() {
                        said.say = format!("{} {}", said.say, u.text).trim().to_string();
                        said.end_ms = said.end_ms.max(u.end_ms);
                    }
                    continue;
                }
                out.push(Line {
                    after: agent_words.join(" "),
                    say: u.text.clone(),
                    start_ms: u.start_ms,
                    end_ms: u.end_ms,
                    reaction_ms: agent_end.map_or(0.0, |end| (u.start_ms - end).round()),
                });
                agent_words.clear();
                agent_end = None;
            }
        }
    }
    out
}

/// The replay scenario of `call`, with `audio` (relative to the scenario
/// file) when the caller's track is kept.
pub fn scenario_yaml(
    call: &ImportedCall,
    id: &str,
    audio: Option<&str>,
    imported_at: &str,
) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Replays a real call, imported by `rehearse import` at {imported_at}."
    );
    for f in &call.files {
        let _ = writeln!(y, "# Source: {f}");
    }
    let _ = writeln!(y, "# Words from: {}.", call.words_from);
    for note in &call.notes {
        let _ = writeln!(y, "# Note: {note}.");
    }
    y.push_str(
        "# The caller's lines play in order, each when the agent says what the\n\
         # original agent said before it (`after`), after the original caller's\n\
         # delay; the call ends `diverged` when no line fits what the agent says.\n\
         # The expectations are the original agent's tool calls: suggestions to edit.\n",
    );
    let _ = writeln!(y, "id: {}", q(id));
    let _ = writeln!(
        y,
        "description: {}",
        q(&format!("Replay of the recorded call {}", call.name))
    );
    y.push_str("tags: [replay]\n");
    let _ = writeln!(y, "persona: {REPLAY_PERSONA}");
    y.push_str("goal: \"Say what the recorded caller said, when the agent gives them the cue.\"\n");
    fixtures(&mut y, &call.tools);
    expectations(&mut y, &call.tools);
    y.push_str("replay:\n");
    if let Some(a) = audio {
        let _ = writeln!(y, "  audio: {}", q(a));
    }
    y.push_str("  turns:\n");
    for line in caller_lines(call) {
        let _ = writeln!(y, "    - after: {}", q(&line.after));
        let _ = writeln!(y, "      say: {}", q(&line.say));
        // A masked line is spoken with the masked words, not the recording.
        if audio.is_some() && !super::redact::is_masked(&line.say) {
            let _ = writeln!(y, "      start_ms: {}", line.start_ms.round());
            let _ = writeln!(y, "      end_ms: {}", line.end_ms.round());
        }
        let _ = writeln!(y, "      reaction_ms: {}", line.reaction_ms);
    }
    y
}

fn json_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Each tool's recorded answers, matched on the arguments they answered.
fn fixtures(y: &mut String, tools: &[ToolCallRecord]) {
    if tools.is_empty() {
        return;
    }
    y.push_str("tools:\n");
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let calls: Vec<&ToolCallRecord> = tools.iter().filter(|t| t.name == name).collect();
        let latency = calls.iter().map(|c| c.latency_ms).sum::<f64>() / calls.len() as f64;
        let _ = writeln!(
            y,
            "  {}:\n    latency_ms: {}\n    responses:",
            q(name),
            latency.round()
        );
        for c in calls {
            let when = match json_or_string(&c.arguments) {
                Value::Object(map) => Value::Object(map),
                _ => Value::Object(Default::default()),
            };
            let result = c
                .output
                .as_deref()
                .map(json_or_string)
                .unwrap_or(Value::Null);
            let _ = writeln!(y, "      - when: {when}");
            if c.timed_out || c.output.is_none() {
                y.push_str("        timeout: true\n");
            } else {
                let _ = writeln!(y, "        result: {result}");
            }
        }
    }
}

/// The original agent's tool calls, as expectations to edit.
fn expectations(y: &mut String, tools: &[ToolCallRecord]) {
    if tools.is_empty() {
        return;
    }
    y.push_str("expectations:\n  order: subset\n  tool_calls:\n");
    for c in tools {
        let args = match json_or_string(&c.arguments) {
            Value::Object(map) if !map.is_empty() => Value::Object(map).to_string(),
            _ => "any".to_string(),
        };
        let _ = writeln!(y, "    - name: {}\n      arguments: {args}", q(&c.name));
    }
}

pub fn persona_yaml() -> String {
    format!(
        "# The caller of replay scenarios (`rehearse import`): plays the\n\
         # scenario's recorded lines; its own traits do not apply.\n\
         name: {REPLAY_PERSONA}\n\
         description: A recorded caller, played back line by line.\n\
         driver: {{ kind: replay }}\n"
    )
}

/// An agent file reproducing the session a log recorded (provider OpenAI:
/// run it with a key, or point `url:` at any compatible server).
pub fn agent_yaml(call: &ImportedCall, name: &str) -> Option<String> {
    let s = call.session.as_ref()?;
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# The session of the imported call {}, as its log recorded it.",
        call.name
    );
    let _ = writeln!(y, "name: {}", q(name));
    y.push_str("provider: openai\n");
    if let Some(m) = &s.model {
        let _ = writeln!(y, "model: {}", q(m));
    }
    if let Some(i) = &s.instructions {
        let _ = writeln!(y, "instructions: {}", q(i));
    }
    if let Some(v) = &s.voice {
        let _ = writeln!(y, "voice: {{ name: {} }}", q(v));
    }
    let tools: Vec<&Value> = s.tools.iter().filter(|t| t.get("name").is_some()).collect();
    if !tools.is_empty() {
        y.push_str("tools:\n");
        for t in tools {
            let field = |k: &str| t.get(k).cloned().unwrap_or(Value::Null);
            let _ = writeln!(y, "  - name: {}", field("name"));
            if let Some(d) = t
                .get("description")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
            {
                let _ = writeln!(y, "    description: {}", q(d));
            }
            let params = t
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"type": "object"}));
            let _ = writeln!(y, "    parameters: {params}");
        }
    }
    Some(y)
}
