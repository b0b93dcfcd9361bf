//! Function-call accuracy: the agent's tool calls against the scenario's
//! expected calls, with argument matchers and an order mode.
//!
//! Semantics (also in docs/scoring.md):
//! - Every expected call states its `arguments`: a map of matchers, or the
//!   word `any`. A call is never matched on its name alone by default.
//! - Listed arguments must match; arguments the expectation does not list
//!   are allowed (and shown in the evidence) but must still satisfy the
//!   tool's declared schema, which is checked separately for every call.
//! - A repeat of a call with identical arguments right after that call got an
//!   error or timed out is a retry: neither matched nor unexpected.
//! - Order modes: `strict` (same calls, same order, nothing extra),
//!   `unordered` (same calls, any order, nothing extra), `subset` (every
//!   expected call made; extra calls allowed), `superset` (every call made
//!   was expected; some expected calls may be missing). Default `unordered`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::config::agent::ToolSpec;
use crate::config::matcher::{Matcher, OrderMode, schema_errors};
use crate::config::scenario::Expectations;
use crate::run_folder::RecordedConversation;
use crate::run_folder::{Check, CheckKind};
use crate::run_folder::{Speaker, ToolCallRecord};

/// An expected call with the tool's declared schema (for `schema: true`).
struct Expected<'a> {
    name: &'a str,
    /// None: any arguments (`arguments: any`).
    arguments: Option<&'a BTreeMap<String, Matcher>>,
    tool_schema: Option<&'a Value>,
    spec: Value,
}

/// An actual call with its parsed arguments.
struct Actual<'a> {
    record: &'a ToolCallRecord,
    arguments: Option<Value>,
    retry: bool,
}

fn expected<'a>(exp: &'a Expectations, tools: &'a [ToolSpec]) -> Vec<Expected<'a>> {
    exp.tool_calls
        .iter()
        .map(|e| Expected {
            name: &e.name,
            arguments: e.arguments.matchers(),
            tool_schema: tools
                .iter()
                .find(|t| t.name == e.name)
                .map(|t| &t.parameters),
            spec: json!({"name": e.name, "arguments": e.arguments.spec()}),
        })
        .collect()
}

fn mismatches(e: &Expected, a: &Actual) -> Option<Vec<Value>> {
    if e.name != a.record.name {
        return None;
    }
    let Some(matchers) = e.arguments else {
        return Some(vec![]);
    };
    let Some(args) = &a.arguments else {
        return Some(vec![
            json!({"argument": "*", "problem": "arguments are not valid JSON"}),
        ]);
    };
    Some(
        matchers
            .iter()
            .filter_map(|(k, m)| {
                let schema = e
                    .tool_schema
                    .and_then(|s| s.pointer(&format!("/properties/{k}")));
                m.check(args.get(k), schema).err().map(|why| {
                    json!({"argument": k, "expected": e.spec["arguments"][k], "actual": args.get(k), "problem": why})
                })
            })
            .collect(),
    )
}

/// Maximum bipartite matching (expected → actual) by augmenting paths.
fn max_matching(ok: &[Vec<bool>], n_actual: usize) -> Vec<Option<usize>> {
    let mut owner: Vec<Option<usize>> = vec![None; n_actual];
    fn augment(e: usize, ok: &[Vec<bool>], seen: &mut [bool], owner: &mut [Option<usize>]) -> bool {
        for a in 0..owner.len() {
            if ok[e][a] && !seen[a] {
                seen[a] = true;
                if owner[a].is_none_or(|other| augment(other, ok, seen, owner)) {
                    owner[a] = Some(e);
                    return true;
                }
            }
        }
        false
    }
    for e in 0..ok.len() {
        let mut seen = vec![false; n_actual];
        augment(e, ok, &mut seen, &mut owner);
    }
    let mut by_expected = vec![None; ok.len()];
    for (a, o) in owner.iter().enumerate() {
        if let Some(e) = o {
            by_expected[*e] = Some(a);
        }
    }
    by_expected
}

/// Longest in-order matching (for `strict`).
fn ordered_matching(ok: &[Vec<bool>], n_actual: usize) -> Vec<Option<usize>> {
    let n = ok.len();
    let mut dp = vec![vec![0usize; n_actual + 1]; n + 1];
    for e in (0..n).rev() {
        for a in (0..n_actual).rev() {
            dp[e][a] = if ok[e][a] {
                dp[e + 1][a + 1] + 1
            } else {
                dp[e + 1][a].max(dp[e][a + 1])
            };
        }
    }
    let mut out = vec![None; n];
    let (mut e, mut a) = (0, 0);
    while e < n && a < n_actual {
        if ok[e][a] && dp[e][a] == dp[e + 1][a + 1] + 1 {
            out[e] = Some(a);
            e += 1;
            a += 1;
        } else if dp[e + 1][a] >= dp[e][a + 1] {
            e += 1;
        } else {
            a += 1;
        }
    }
    out
}

fn alnum(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

pub fn score(
    rec: &RecordedConversation,
    exp: &Expectations,
    tools: &[ToolSpec],
    facts: &BTreeMap<String, String>,
) -> Vec<Check> {
    let actual = actual_calls(rec);
    let matched = if exp.tool_calls.is_empty() {
        Check::skipped(
            CheckKind::FunctionCall,
            "function_call.match",
            "the scenario expects no tool calls",
        )
    } else {
        match_check(exp, tools, &actual)
    };
    vec![
        schema_check(&actual, tools),
        premature_check(rec, &actual, facts),
        matched,
    ]
}

/// The recorded calls, each marked as a retry when it repeats the call
/// before it after that one failed or timed out.
fn actual_calls(rec: &RecordedConversation) -> Vec<Actual<'_>> {
    rec.tools
        .iter()
        .enumerate()
        .map(|(i, record)| Actual {
            record,
            arguments: serde_json::from_str::<Value>(&record.arguments).ok(),
            retry: i > 0 && {
                let prev = &rec.tools[i - 1];
                prev.name == record.name
                    && prev.arguments == record.arguments
                    && (prev.is_error || prev.timed_out)
            },
        })
        .collect()
}

/// Schema validity of every call, expected or not.
fn schema_check(actual: &[Actual], tools: &[ToolSpec]) -> Check {
    let mut invalid = Vec::new();
    for a in actual {
        let problems: Vec<String> =
            match (&a.arguments, tools.iter().find(|t| t.name == a.record.name)) {
                (None, _) => vec!["arguments are not valid JSON".into()],
                (_, None) => vec!["the agent does not declare this tool".into()],
                (Some(args), Some(tool)) => schema_errors(&tool.parameters, args),
            };
        if !problems.is_empty() {
            invalid.push(json!({"call_id": a.record.call_id, "name": a.record.name, "arguments": a.record.arguments, "problems": problems}));
        }
    }
    Check::new(
        CheckKind::FunctionCall,
        "function_call.schema",
        invalid.is_empty(),
    )
    .value(invalid.len() as f64)
    .threshold("every call's arguments are valid JSON and valid against the tool's schema")
    .evidence(json!({"invalid_calls": invalid}))
}

/// Arguments built from caller facts before the caller gave them (or a
/// tool returned them).
fn premature_check(
    rec: &RecordedConversation,
    actual: &[Actual],
    facts: &BTreeMap<String, String>,
) -> Check {
    let mut premature = Vec::new();
    for a in actual {
        let Some(Value::Object(args)) = &a.arguments else {
            continue;
        };
        for (arg, value) in args {
            let Some(text) = value.as_str() else { continue };
            let v = alnum(text);
            for (fact, fact_value) in facts {
                let f = alnum(fact_value);
                if f.len() < 4 || !(v.contains(&f) || (v.len() >= 4 && f.contains(&v))) {
                    continue;
                }
                let told = rec
                    .said_by(Speaker::Customer)
                    .any(|u| u.end_ms <= a.record.called_ms + 1.0 && alnum(&u.text).contains(&f));
                let looked_up = rec.tools.iter().any(|t| {
                    t.answered_ms <= a.record.called_ms
                        && t.output.as_deref().is_some_and(|o| alnum(o).contains(&f))
                });
                if !told && !looked_up {
                    premature.push(
                        json!({"call_id": a.record.call_id, "name": a.record.name, "argument": arg,
                        "fact": fact, "called_ms": a.record.called_ms}),
                    );
                }
            }
        }
    }
    Check::new(
        CheckKind::FunctionCall,
        "function_call.premature",
        premature.is_empty(),
    )
    .value(premature.len() as f64)
    .threshold("no argument uses a caller fact before the caller gave it")
    .evidence(json!({"premature": premature}))
}

/// The calls the scenario expects against the calls made (retries of a
/// failed call left out), paired in the scenario's order mode.
fn match_check(exp: &Expectations, tools: &[ToolSpec], actual: &[Actual]) -> Check {
    let expected = expected(exp, tools);
    let considered: Vec<&Actual> = actual.iter().filter(|a| !a.retry).collect();
    let ok: Vec<Vec<bool>> = expected
        .iter()
        .map(|e| {
            considered
                .iter()
                .map(|a| mismatches(e, a).is_some_and(|m| m.is_empty()))
                .collect()
        })
        .collect();
    let mode = exp.order;
    let pairing = if mode == OrderMode::Strict {
        ordered_matching(&ok, considered.len())
    } else {
        max_matching(&ok, considered.len())
    };
    let matched: Vec<(usize, usize)> = pairing
        .iter()
        .enumerate()
        .filter_map(|(e, a)| a.map(|a| (e, a)))
        .collect();
    let missing: Vec<Value> = pairing
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_none())
        .map(|(e, _)| {
            // The closest call of the same name, and what did not match.
            let closest = considered
                .iter()
                .filter_map(|a| mismatches(&expected[e], a).map(|m| (m, a)))
                .min_by_key(|(m, _)| m.len());
            json!({"expected": expected[e].spec,
                   "closest_call": closest.as_ref().map(|(_, a)| json!({"call_id": a.record.call_id, "arguments": a.record.arguments})),
                   "mismatches": closest.map(|(m, _)| m).unwrap_or_default()})
        })
        .collect();
    let used: Vec<usize> = matched.iter().map(|(_, a)| *a).collect();
    let unexpected: Vec<Value> = considered
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, a)| json!({"call_id": a.record.call_id, "name": a.record.name, "arguments": a.record.arguments}))
        .collect();
    let retries: Vec<Value> = actual
        .iter()
        .filter(|a| a.retry)
        .map(|a| json!({"call_id": a.record.call_id, "name": a.record.name}))
        .collect();
    let unchecked: Vec<Value> = matched
        .iter()
        .filter_map(|(e, a)| {
            let listed = expected[*e].arguments?;
            let extra: Vec<&String> = considered[*a]
                .arguments
                .as_ref()?
                .as_object()?
                .keys()
                .filter(|k| !listed.contains_key(*k))
                .collect();
            (!extra.is_empty())
                .then(|| json!({"call_id": considered[*a].record.call_id, "arguments": extra}))
        })
        .collect();
    let (n_exp, n_act) = (expected.len() as f64, considered.len() as f64);
    let precision = if n_act > 0.0 {
        matched.len() as f64 / n_act
    } else {
        1.0
    };
    let recall = matched.len() as f64 / n_exp;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let passed = match mode {
        OrderMode::Strict | OrderMode::Unordered => missing.is_empty() && unexpected.is_empty(),
        OrderMode::Subset => missing.is_empty(),
        OrderMode::Superset => unexpected.is_empty(),
    };
    Check::new(CheckKind::FunctionCall, "function_call.match", passed)
        .value(f1)
        .threshold(format!("{} order", mode.as_str()))
        .evidence(json!({
            "mode": mode.as_str(),
            "precision": precision, "recall": recall, "f1": f1,
            "matched": matched.iter().map(|(e, a)| json!({"expected": expected[*e].spec, "call_id": considered[*a].record.call_id})).collect::<Vec<_>>(),
            "missing": missing,
            "unexpected": unexpected,
            "retries": retries,
            "unchecked_arguments": unchecked,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(spec: Value) -> Matcher {
        Matcher::parse(&spec).unwrap()
    }

    fn schema() -> Value {
        json!({"type": "string", "pattern": "^NW\\d{5}$", "properties": {"zip": {"type": "string"}}})
    }

    #[test]
    fn every_matcher_accepts_and_rejects() {
        let cases: Vec<(Value, Value, Value)> = vec![
            // (matcher, matching value, non-matching value)
            (json!("Trail  Boots"), json!("trail boots"), json!("boots")),
            (json!(42), json!("42"), json!(43)),
            (
                json!({"exact": "NW10422"}),
                json!("NW10422"),
                json!("nw10422"),
            ),
            (
                json!({"regex": "^NW\\d{5}$"}),
                json!("NW10422"),
                json!("NW1042"),
            ),
            (
                json!({"number": 10.0, "tolerance": 0.5}),
                json!(10.4),
                json!(10.6),
            ),
            (
                json!({"one_of": ["refund", "exchange"]}),
                json!("Refund"),
                json!("store credit"),
            ),
            (json!({"schema": true}), json!("NW10422"), json!("10422")),
            (
                json!({"address": {"zip": "97201"}}),
                json!({"address": {"zip": "97201", "city": "Portland"}}),
                json!({"address": {"zip": "97202"}}),
            ),
        ];
        for (spec, good, bad) in cases {
            let matcher = m(spec.clone());
            let schema = schema();
            assert!(
                matcher.check(Some(&good), Some(&schema)).is_ok(),
                "{spec} should accept {good}"
            );
            assert!(
                matcher.check(Some(&bad), Some(&schema)).is_err(),
                "{spec} should reject {bad}"
            );
            assert!(
                matcher.check(None, Some(&schema)).is_err(),
                "{spec} rejects a missing argument"
            );
        }
        assert!(
            m(json!({"any": true}))
                .check(Some(&json!(null)), None)
                .is_ok()
        );
        assert!(
            m(json!({"any": true})).check(None, None).is_err(),
            "any still needs the argument present"
        );
    }

    fn record(name: &str, args: &str, at: f64, error: bool) -> ToolCallRecord {
        ToolCallRecord {
            call_id: format!("c{at}"),
            name: name.into(),
            arguments: args.into(),
            output: Some(if error {
                "{\"error\":\"x\"}".into()
            } else {
                "{}".into()
            }),
            is_error: error,
            timed_out: false,
            called_ms: at,
            answered_ms: at + 1.0,
            latency_ms: 1.0,
        }
    }

    fn recorded(calls: Vec<ToolCallRecord>, customer_said: &str) -> RecordedConversation {
        RecordedConversation {
            dir: Default::default(),
            outcome: serde_json::from_value(json!({"status": "completed", "error": null, "end_reason": null, "goal_met": true,
                "agent_turns": 1, "customer_turns": 1, "interruptions": 0, "tool_calls": 0, "duration_ms": 0.0, "partial": false,
                "usage": {"responses": 0, "input_text_tokens": 0, "input_audio_tokens": 0, "cached_text_tokens": 0, "cached_audio_tokens": 0,
                "output_text_tokens": 0, "output_audio_tokens": 0}, "protocol_errors": []})).unwrap(),
            transcript: vec![crate::run_folder::Utterance {
                speaker: Speaker::Customer,
                text: customer_said.into(),
                start_ms: 0.0,
                end_ms: 5.0,
                item_id: None,
                interrupted: false,
                full_text: None,
                sound: None,
                pauses: Vec::new(),
                guardrail: None,
            }],
            tools: calls,
            events: vec![],
            guardrails: vec![],
        }
    }

    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "a".into(),
                description: String::new(),
                parameters: json!({"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}),
            },
            ToolSpec {
                name: "b".into(),
                description: String::new(),
                parameters: json!({"type": "object", "properties": {"x": {"type": "string"}}}),
            },
        ]
    }

    fn expectations(order: &str, calls: Value) -> Expectations {
        serde_json::from_value(json!({"tool_calls": calls, "order": order})).unwrap()
    }

    fn named<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    fn status(checks: &[Check], name: &str) -> crate::run_folder::CheckStatus {
        named(checks, name).status
    }

    #[test]
    fn order_modes() {
        use crate::run_folder::CheckStatus::{Fail, Pass};
        let exp =
            json!([{"name": "a", "arguments": {"x": "1"}}, {"name": "b", "arguments": {"x": "2"}}]);
        let in_order = recorded(
            vec![
                record("a", r#"{"x":"1"}"#, 10.0, false),
                record("b", r#"{"x":"2"}"#, 20.0, false),
            ],
            "",
        );
        let reversed = recorded(
            vec![
                record("b", r#"{"x":"2"}"#, 10.0, false),
                record("a", r#"{"x":"1"}"#, 20.0, false),
            ],
            "",
        );
        let extra = recorded(
            vec![
                record("a", r#"{"x":"1"}"#, 10.0, false),
                record("b", r#"{"x":"2"}"#, 20.0, false),
                record("b", r#"{"x":"9"}"#, 30.0, false),
            ],
            "",
        );
        let partial = recorded(vec![record("a", r#"{"x":"1"}"#, 10.0, false)], "");
        let table = [
            ("strict", &in_order, Pass),
            ("strict", &reversed, Fail),
            ("strict", &extra, Fail),
            ("strict", &partial, Fail),
            ("unordered", &in_order, Pass),
            ("unordered", &reversed, Pass),
            ("unordered", &extra, Fail),
            ("unordered", &partial, Fail),
            ("subset", &reversed, Pass),
            ("subset", &extra, Pass),
            ("subset", &partial, Fail),
            ("superset", &reversed, Pass),
            ("superset", &partial, Pass),
            ("superset", &extra, Fail),
        ];
        for (mode, rec, want) in table {
            let checks = score(
                rec,
                &expectations(mode, exp.clone()),
                &tools(),
                &BTreeMap::new(),
            );
            assert_eq!(status(&checks, "function_call.match"), want, "{mode}");
        }
    }

    #[test]
    fn mismatched_arguments_are_reported_expected_vs_actual() {
        let rec = recorded(vec![record("a", r#"{"x":"7"}"#, 10.0, false)], "");
        let checks = score(
            &rec,
            &expectations("strict", json!([{"name": "a", "arguments": {"x": "1"}}])),
            &tools(),
            &BTreeMap::new(),
        );
        let c = named(&checks, "function_call.match");
        let mm = &c.evidence["missing"][0]["mismatches"][0];
        assert_eq!(
            (
                mm["argument"].as_str(),
                mm["expected"].as_str(),
                mm["actual"].as_str()
            ),
            (Some("x"), Some("1"), Some("7"))
        );
        assert_eq!(c.value, Some(0.0));
    }

    #[test]
    fn retries_after_errors_are_neither_matched_nor_unexpected() {
        let rec = recorded(
            vec![
                record("a", r#"{"x":"1"}"#, 10.0, true),
                record("a", r#"{"x":"1"}"#, 20.0, false),
            ],
            "",
        );
        let checks = score(
            &rec,
            &expectations("strict", json!([{"name": "a", "arguments": {"x": "1"}}])),
            &tools(),
            &BTreeMap::new(),
        );
        let c = named(&checks, "function_call.match");
        assert_eq!(
            c.status,
            crate::run_folder::CheckStatus::Pass,
            "{:#}",
            c.evidence
        );
        assert_eq!(c.evidence["retries"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn name_only_is_not_a_match_unless_any_is_said() {
        let rec = recorded(vec![record("a", r#"{"x":"1"}"#, 10.0, false)], "");
        // Anything but matchers or `any` is refused when the scenario loads.
        let refused = serde_json::from_value::<Expectations>(
            json!({"tool_calls": [{"name": "a", "arguments": "whatever"}]}),
        )
        .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("arguments must be a map of matchers or `any`"),
            "{refused}"
        );
        let any = score(
            &rec,
            &expectations("strict", json!([{"name": "a", "arguments": "any"}])),
            &tools(),
            &BTreeMap::new(),
        );
        assert_eq!(
            status(&any, "function_call.match"),
            crate::run_folder::CheckStatus::Pass
        );
    }

    #[test]
    fn schema_violations_and_premature_facts() {
        use crate::run_folder::CheckStatus::{Fail, Pass};
        let facts = BTreeMap::from([("order_id".to_string(), "NW10422".to_string())]);
        let bad = recorded(
            vec![
                record("a", r#"{"y":1}"#, 10.0, false),
                record("c", "{nope", 11.0, false),
            ],
            "",
        );
        let checks = score(&bad, &Expectations::default(), &tools(), &facts);
        assert_eq!(status(&checks, "function_call.schema"), Fail);
        assert_eq!(checks[0].value, Some(2.0));
        // The order id used before the caller said it.
        let early = recorded(
            vec![record("a", r#"{"x":"NW10422"}"#, 1.0, false)],
            "It's N W 1 0 4 2 2",
        );
        assert_eq!(
            status(
                &score(&early, &Expectations::default(), &tools(), &facts),
                "function_call.premature"
            ),
            Fail
        );
        let later = recorded(
            vec![record("a", r#"{"x":"NW10422"}"#, 10.0, false)],
            "It's N W 1 0 4 2 2",
        );
        assert_eq!(
            status(
                &score(&later, &Expectations::default(), &tools(), &facts),
                "function_call.premature"
            ),
            Pass
        );
    }
}
