//! Reading a tool's output as a model would. In the real API
//! `function_call_output.output` is any string and the model reads whatever
//! it says; clients differ in what they send. The OpenAI SDKs send JSON,
//! LiveKit Agents sends a Python tool's return value as `str(value)` (a
//! Python literal: single quotes, `True`/`False`/`None`), others send plain
//! text. The scripted agent reads all three.

use serde_json::{Map, Number, Value};

/// How an output was read.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutput {
    /// JSON, or a Python literal read as the JSON it stands for.
    Structured(Value),
    /// Text that is neither: kept as a string.
    Text(String),
    /// Looks structured (starts with `{` or `[`) but is neither JSON nor a
    /// Python literal: kept as a string, and worth a warning.
    Unreadable(String),
}

impl ToolOutput {
    pub fn read(output: &str) -> ToolOutput {
        if let Ok(v) = serde_json::from_str::<Value>(output) {
            return ToolOutput::Structured(v);
        }
        if let Some(v) = python_literal(output) {
            return ToolOutput::Structured(v);
        }
        let trimmed = output.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            ToolOutput::Unreadable(output.to_string())
        } else {
            ToolOutput::Text(output.to_string())
        }
    }

    pub fn into_value(self) -> Value {
        match self {
            ToolOutput::Structured(v) => v,
            ToolOutput::Text(s) | ToolOutput::Unreadable(s) => Value::String(s),
        }
    }
}

/// A Python literal (`repr` of dicts, lists, tuples, strings, numbers,
/// booleans and None) as JSON; None when `text` is not one.
pub fn python_literal(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.blank();
    (p.i == p.s.len()).then_some(v)
}

/// Nesting deeper than this is refused (an output is data, not a bomb).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn blank(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.blank();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.blank();
        match *self.s.get(self.i)? {
            b'{' => self.dict(depth),
            b'[' => self.sequence(b']', depth),
            b'(' => self.sequence(b')', depth),
            b'\'' | b'"' => self.string().map(Value::String),
            _ => self.word(),
        }
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.i += 1;
        let mut map = Map::new();
        if self.eat(b'}') {
            return Some(Value::Object(map));
        }
        loop {
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !self.eat(b':') {
                return None;
            }
            map.insert(key, self.value(depth + 1)?);
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
        }
    }

    fn sequence(&mut self, close: u8, depth: usize) -> Option<Value> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            if self.eat(close) {
                return Some(Value::Array(items));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                _ if c == quote => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'x' => {
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + 2)?).ok()?;
                            let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                            self.i += 2;
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        b'u' => {
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                            let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                            self.i += 4;
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    /// `True`, `False`, `None` or a number.
    fn word(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-._".contains(c))
        {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match word {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            _ => {
                let plain = word.replace('_', "");
                if let Ok(n) = plain.parse::<i64>() {
                    return Some(Value::Number(n.into()));
                }
                plain
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_python_literals_and_text_are_read_as_a_model_would() {
        let read = |s: &str| ToolOutput::read(s);
        assert_eq!(
            read(r#"{"found": true, "item": "boots"}"#),
            ToolOutput::Structured(json!({"found": true, "item": "boots"}))
        );
        // What LiveKit Agents sends for a Python dict: str(dict).
        assert_eq!(
            read(
                "{'found': True, 'item': 'a pair of trail boots', 'refund': None, 'n': 2, 'x': 1.5}"
            ),
            ToolOutput::Structured(
                json!({"found": true, "item": "a pair of trail boots", "refund": null, "n": 2, "x": 1.5})
            )
        );
        assert_eq!(
            read("[('a', 1), {\"b\": [False]}]"),
            ToolOutput::Structured(json!([["a", 1], {"b": [false]}]))
        );
        assert_eq!(
            read(r"{'quote': 'it\'s here', 'line': 'a\nb'}"),
            ToolOutput::Structured(json!({"quote": "it's here", "line": "a\nb"}))
        );
        assert_eq!(
            read("Order NW10422: a pair of trail boots"),
            ToolOutput::Text("Order NW10422: a pair of trail boots".into())
        );
        assert!(matches!(
            read("{'found': maybe}"),
            ToolOutput::Unreadable(_)
        ));
        assert!(matches!(read(&"[".repeat(1000)), ToolOutput::Unreadable(_)));
    }
}
