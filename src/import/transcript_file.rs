//! A transcript given beside a recording or a log: JSON lines of
//! `{"speaker": …, "text": …, "start_ms": …, "end_ms": …}` (rehearse's own
//! `transcript.jsonl` is one; times optional), or plain text lines
//! `Agent: …` / `Caller: …` (no times). Speakers: `agent`/`assistant`/`bot`
//! and `customer`/`caller`/`user`.

use std::path::Path;

use serde_json::Value;

use super::ImportError;
use crate::run_folder::Speaker;

#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    pub speaker: Speaker,
    pub text: String,
    pub start_ms: Option<f64>,
    pub end_ms: Option<f64>,
}

fn speaker(name: &str) -> Option<Speaker> {
    match name.trim().to_ascii_lowercase().as_str() {
        "agent" | "assistant" | "bot" => Some(Speaker::Agent),
        "customer" | "caller" | "user" => Some(Speaker::Customer),
        _ => None,
    }
}

pub fn read(path: &Path) -> Result<Vec<TranscriptLine>, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ImportError::Read(path.to_path_buf(), e.to_string()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |message: String| ImportError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        if line.starts_with('{') {
            let v: Value =
                serde_json::from_str(line).map_err(|e| fail(format!("not JSON: {e}")))?;
            let who = v
                .get("speaker")
                .or_else(|| v.get("role"))
                .and_then(Value::as_str)
                .unwrap_or("");
            // A caller sound (a cough, a backchannel) is not a turn.
            if v.get("sound").is_some_and(|s| !s.is_null()) {
                continue;
            }
            out.push(TranscriptLine {
                speaker: speaker(who)
                    .ok_or_else(|| fail(format!("unknown speaker `{who}` (agent or caller)")))?,
                text: v
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                start_ms: v.get("start_ms").and_then(Value::as_f64),
                end_ms: v.get("end_ms").and_then(Value::as_f64),
            });
        } else {
            let (who, said) = line
                .split_once(':')
                .ok_or_else(|| fail("expected `Agent: …` or `Caller: …`".into()))?;
            out.push(TranscriptLine {
                speaker: speaker(who)
                    .ok_or_else(|| fail(format!("unknown speaker `{who}` (Agent or Caller)")))?,
                text: said.trim().to_string(),
                start_ms: None,
                end_ms: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_and_plain_lines_both_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, "Agent: Hello.\nCaller: Hi, my order.\n").unwrap();
        let lines = read(&path).unwrap();
        assert_eq!(lines[1].speaker, Speaker::Customer);
        assert_eq!(lines[1].text, "Hi, my order.");
        std::fs::write(&path, "{\"speaker\":\"agent\",\"text\":\"Hi\",\"start_ms\":5,\"end_ms\":900}\n{\"speaker\":\"robot\",\"text\":\"x\"}\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("t.txt:2:") && err.contains("robot"), "{err}");
    }
}
