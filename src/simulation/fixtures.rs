//! Answering the agent's tool calls from the scenario's fixtures.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::config::scenario::{FixtureResponse, ToolFixture};

/// What a tool call got back.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolAnswer {
    /// The backend answered (a result, or an error payload it returned).
    Output { output: String, is_error: bool },
    /// The backend never answered; the harness reports a timeout.
    Timeout,
}

/// Per-conversation state of the fixtures: how often each response was used.
pub struct FixtureSet {
    tools: BTreeMap<String, ToolFixture>,
    facts: BTreeMap<String, String>,
    used: HashMap<(String, usize), u32>,
}

impl FixtureSet {
    pub fn new(tools: BTreeMap<String, ToolFixture>, facts: BTreeMap<String, String>) -> Self {
        FixtureSet {
            tools,
            facts,
            used: HashMap::new(),
        }
    }

    pub fn latency_ms(&self, tool: &str) -> f64 {
        self.tools.get(tool).map(|f| f.latency_ms).unwrap_or(0.0)
    }

    /// The answer to a call of `tool` with `arguments` (a JSON string as the
    /// agent sent it). Calls with no fixture, or arguments that are not JSON,
    /// get an error payload, as a strict backend would return.
    pub fn answer(&mut self, tool: &str, arguments: &str) -> ToolAnswer {
        let Some(fixture) = self.tools.get(tool) else {
            return error_output(&format!("no backend for tool `{tool}` in this scenario"));
        };
        let args: Value = match serde_json::from_str(arguments) {
            Ok(v) => v,
            Err(e) => return error_output(&format!("arguments are not valid JSON: {e}")),
        };
        let chosen = fixture.responses.iter().enumerate().find(|(i, r)| {
            let exhausted = r
                .times
                .is_some_and(|t| self.used.get(&(tool.to_string(), *i)).copied().unwrap_or(0) >= t);
            !exhausted && matches(&r.when, &args)
        });
        let Some((index, response)) = chosen else {
            return error_output(&format!(
                "no fixture response matches these `{tool}` arguments"
            ));
        };
        *self.used.entry((tool.to_string(), index)).or_default() += 1;
        self.render(response, &args)
    }

    fn render(&self, r: &FixtureResponse, args: &Value) -> ToolAnswer {
        if r.timeout {
            return ToolAnswer::Timeout;
        }
        if let Some(message) = &r.error {
            return error_output(message);
        }
        if let Some(result) = &r.result {
            return ToolAnswer::Output {
                output: result.to_string(),
                is_error: false,
            };
        }
        let template = r.template.as_deref().unwrap_or("null");
        let env = minijinja::Environment::new();
        let ctx = minijinja::context! {
            arguments => minijinja::Value::from(minijinja::value::Serde(args)),
            facts => self.facts.clone(),
        };
        match env.render_str(template, ctx) {
            Ok(text) => {
                let output = match serde_json::from_str::<Value>(&text) {
                    Ok(v) => v.to_string(),
                    Err(_) => json!(text.trim()).to_string(),
                };
                ToolAnswer::Output {
                    output,
                    is_error: false,
                }
            }
            Err(e) => error_output(&format!("fixture template failed: {e}")),
        }
    }
}

fn error_output(message: &str) -> ToolAnswer {
    ToolAnswer::Output {
        output: json!({ "error": message }).to_string(),
        is_error: true,
    }
}

/// Strings match case- and whitespace-insensitively; other values exactly.
fn matches(when: &BTreeMap<String, Value>, args: &Value) -> bool {
    when.iter().all(|(key, want)| match (want, args.get(key)) {
        (Value::String(w), Some(Value::String(got))) => normalise(w) == normalise(got),
        (w, Some(got)) => w == got,
        (_, None) => false,
    })
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(yaml: &str) -> FixtureSet {
        let tools: BTreeMap<String, ToolFixture> = serde_saphyr::from_str(yaml).unwrap();
        let facts = BTreeMap::from([("name".to_string(), "Jordan".to_string())]);
        FixtureSet::new(tools, facts)
    }

    #[test]
    fn argument_match_then_default() {
        let mut f = set(r#"
lookup_order:
  responses:
    - when: { order_id: nw10422 }
      result: { found: true }
    - result: { found: false }
"#);
        assert_eq!(
            f.answer("lookup_order", r#"{"order_id":"NW10422"}"#),
            ToolAnswer::Output {
                output: r#"{"found":true}"#.into(),
                is_error: false
            }
        );
        assert_eq!(
            f.answer("lookup_order", r#"{"order_id":"X"}"#),
            ToolAnswer::Output {
                output: r#"{"found":false}"#.into(),
                is_error: false
            }
        );
    }

    #[test]
    fn sequences_templates_errors_and_timeouts() {
        let mut f = set(r#"
create_label:
  responses:
    - error: backend unavailable
      times: 1
    - template: '{"label_id": "LBL-{{ arguments.order_id }}", "for": "{{ facts.name }}"}'
wait:
  responses:
    - timeout: true
"#);
        let first = f.answer("create_label", r#"{"order_id":"NW1"}"#);
        assert!(
            matches!(first, ToolAnswer::Output { is_error: true, ref output } if output.contains("backend unavailable"))
        );
        assert_eq!(
            f.answer("create_label", r#"{"order_id":"NW1"}"#),
            ToolAnswer::Output {
                output: r#"{"for":"Jordan","label_id":"LBL-NW1"}"#.into(),
                is_error: false
            }
        );
        assert_eq!(f.answer("wait", "{}"), ToolAnswer::Timeout);
    }

    #[test]
    fn missing_fixture_and_bad_json_are_error_payloads() {
        let mut f = set("{}");
        assert!(matches!(
            f.answer("nope", "{}"),
            ToolAnswer::Output { is_error: true, .. }
        ));
        let mut f = set("t:\n  responses:\n    - result: 1\n");
        assert!(matches!(
            f.answer("t", "{not json"),
            ToolAnswer::Output { is_error: true, .. }
        ));
    }
}
