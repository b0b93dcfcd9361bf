//! The matchers a scenario's expectations are written in, compiled when the
//! scenario loads: an invalid regex or an unknown matcher is a config error
//! at its `file:line:column` (from `rehearse validate`), never a surprise
//! after a paid call. Scorers use the compiled forms.

use std::collections::BTreeMap;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// How one argument of an expected tool call is matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Strings equal ignoring case and runs of whitespace; numbers equal.
    Loose(Value),
    Exact(Value),
    Regex(Regex),
    Number {
        value: f64,
        tolerance: f64,
    },
    OneOf(Vec<Value>),
    /// Present, any value.
    Any,
    /// Valid against the tool's declared schema for this argument.
    Schema,
    /// A nested object: the listed keys must match (partial match).
    Object(BTreeMap<String, Matcher>),
}

const MATCHER_KEYS: &[&str] = &[
    "exact",
    "regex",
    "number",
    "tolerance",
    "one_of",
    "any",
    "schema",
];

impl Matcher {
    pub fn parse(spec: &Value) -> Result<Matcher, String> {
        let Value::Object(map) = spec else {
            return Ok(Matcher::Loose(spec.clone()));
        };
        let is_matcher = !map.is_empty() && map.keys().all(|k| MATCHER_KEYS.contains(&k.as_str()));
        if !is_matcher {
            let fields = map
                .iter()
                .map(|(k, v)| Ok((k.clone(), Matcher::parse(v)?)))
                .collect::<Result<_, String>>()?;
            return Ok(Matcher::Object(fields));
        }
        if let Some(v) = map.get("exact") {
            return Ok(Matcher::Exact(v.clone()));
        }
        if let Some(p) = map.get("regex") {
            let p = p.as_str().ok_or("`regex` needs a string")?;
            return Regex::new(p)
                .map(Matcher::Regex)
                .map_err(|e| format!("invalid regex `{p}`: {}", regex_problem(&e)));
        }
        if let Some(n) = map.get("number") {
            let value = n.as_f64().ok_or("`number` needs a number")?;
            let tolerance = match map.get("tolerance") {
                Some(t) => t.as_f64().ok_or("`tolerance` needs a number")?,
                None => 0.0,
            };
            return Ok(Matcher::Number { value, tolerance });
        }
        if let Some(options) = map.get("one_of") {
            let options = options.as_array().ok_or("`one_of` needs a list")?;
            return Ok(Matcher::OneOf(options.clone()));
        }
        match (map.get("any"), map.get("schema")) {
            (Some(Value::Bool(true)), _) => Ok(Matcher::Any),
            (_, Some(Value::Bool(true))) => Ok(Matcher::Schema),
            _ => Err(format!(
                "`{spec}` is not a matcher: use exact, regex, number (with tolerance), one_of, `any: true` or `schema: true`"
            )),
        }
    }

    /// `Ok` when `actual` matches; otherwise why not. `property_schema` is
    /// the tool's declared schema for this argument (for `schema: true`).
    pub fn check(
        &self,
        actual: Option<&Value>,
        property_schema: Option<&Value>,
    ) -> Result<(), String> {
        let Some(actual) = actual else {
            return Err("missing".into());
        };
        let ok = match self {
            Matcher::Loose(want) => loose_eq(want, actual),
            Matcher::Exact(want) => want == actual,
            Matcher::Regex(re) => re.is_match(&as_text(actual)),
            Matcher::Number { value, tolerance } => {
                number(actual).is_some_and(|n| (n - value).abs() <= *tolerance)
            }
            Matcher::OneOf(options) => options.iter().any(|o| loose_eq(o, actual)),
            Matcher::Any => true,
            Matcher::Schema => {
                let Some(schema) = property_schema else {
                    return Err("`schema: true`, but the tool declares no schema for it".into());
                };
                let errors = schema_errors(schema, actual);
                if !errors.is_empty() {
                    return Err(errors.join("; "));
                }
                true
            }
            Matcher::Object(fields) => {
                let why: Vec<String> = fields
                    .iter()
                    .filter_map(|(k, m)| {
                        let sub =
                            property_schema.and_then(|s| s.pointer(&format!("/properties/{k}")));
                        m.check(actual.get(k), sub)
                            .err()
                            .map(|e| format!("{k}: {e}"))
                    })
                    .collect();
                if !why.is_empty() {
                    return Err(why.join("; "));
                }
                true
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("got {actual}"))
        }
    }
}

/// The regex crate's message without its excerpt: its last line, as
/// `unclosed group`.
pub fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or(&text).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number, or a string that reads as one.
pub fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn loose_eq(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(a), Value::String(b)) => normalise(a) == normalise(b),
        (Value::Number(_), _) | (_, Value::Number(_)) => match (number(want), number(got)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            normalise(b) == a.to_string()
        }
        (a, b) => a == b,
    }
}

/// Every way `instance` breaks `schema`.
pub fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    match jsonschema::validator_for(schema) {
        Ok(v) => v
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect(),
        Err(e) => vec![format!("the declared schema is invalid: {e}")],
    }
}

/// An expected call's `arguments`: a map of matchers, or the word `any`.
/// Compiled as the scenario loads; written back as it was given.
#[derive(Debug, Clone)]
pub struct ExpectedArguments {
    spec: Value,
    /// None: any arguments.
    matchers: Option<BTreeMap<String, Matcher>>,
}

impl ExpectedArguments {
    /// As written in the scenario.
    pub fn spec(&self) -> &Value {
        &self.spec
    }

    /// The matchers by argument; None for `any`.
    pub fn matchers(&self) -> Option<&BTreeMap<String, Matcher>> {
        self.matchers.as_ref()
    }

    pub fn compile(spec: Value) -> Result<ExpectedArguments, String> {
        let matchers = match &spec {
            Value::String(s) if s == "any" => None,
            Value::Object(map) => Some(
                map.iter()
                    .map(|(k, v)| {
                        Matcher::parse(v)
                            .map(|m| (k.clone(), m))
                            .map_err(|e| format!("`{k}`: {e}"))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => {
                return Err(format!(
                    "arguments must be a map of matchers or `any`, not {other}; write `arguments: any` to accept any arguments, or list the ones to check"
                ));
            }
        };
        Ok(ExpectedArguments { spec, matchers })
    }
}

impl PartialEq for ExpectedArguments {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Serialize for ExpectedArguments {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ExpectedArguments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = Value::deserialize(d)?;
        ExpectedArguments::compile(spec).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ExpectedArguments {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExpectedArguments".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Value::json_schema(generator)
    }
}

/// A `must_say` / `must_not_say` rule: a phrase (matched case-insensitively)
/// or a `/regex/`, compiled as the scenario loads.
#[derive(Debug, Clone)]
pub struct TextRule {
    source: String,
    regex: Regex,
}

impl TextRule {
    pub fn compile(source: &str) -> Result<TextRule, String> {
        let pattern = match source.strip_prefix('/').and_then(|s| s.strip_suffix('/')) {
            Some(re) => format!("(?i){re}"),
            None => format!("(?i){}", regex::escape(source)),
        };
        let regex = Regex::new(&pattern)
            .map_err(|e| format!("invalid regex {source}: {}", regex_problem(&e)))?;
        Ok(TextRule {
            source: source.to_string(),
            regex,
        })
    }

    /// As written in the scenario.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// Where the first match is in `text` (byte offsets).
    pub fn find(&self, text: &str) -> Option<std::ops::Range<usize>> {
        self.regex.find(text).map(|m| m.range())
    }
}

impl PartialEq for TextRule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for TextRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for TextRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        TextRule::compile(&source).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for TextRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TextRule".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

/// How the expected tool calls must line up with the calls made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderMode {
    /// Same calls, same order, nothing extra.
    Strict,
    /// Same calls, any order, nothing extra.
    #[default]
    Unordered,
    /// Every expected call made; extra calls allowed.
    Subset,
    /// Every call made was expected; some expected calls may be missing.
    Superset,
}

impl OrderMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderMode::Strict => "strict",
            OrderMode::Unordered => "unordered",
            OrderMode::Subset => "subset",
            OrderMode::Superset => "superset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matchers_compile_or_say_what_is_wrong() {
        assert!(ExpectedArguments::compile(json!({"id": {"regex": "^NW\\d+$"}})).is_ok());
        let bad = ExpectedArguments::compile(json!({"id": {"regex": "(["}})).unwrap_err();
        assert!(bad.contains("`id`: invalid regex"), "{bad}");
        let odd = ExpectedArguments::compile(json!({"n": {"number": "five"}})).unwrap_err();
        assert!(odd.contains("`number` needs a number"), "{odd}");
        assert!(ExpectedArguments::compile(json!("all")).is_err());
        assert!(
            ExpectedArguments::compile(json!("any"))
                .unwrap()
                .matchers()
                .is_none()
        );
        assert!(TextRule::compile("/refund(/").is_err());
        assert!(
            TextRule::compile("a (literal) phrase")
                .unwrap()
                .is_match("A (LITERAL) phrase!")
        );
    }
}
