//! A `judge` guardrail's classifier: one yes/no question about the agent's
//! words so far, asked of any OpenAI-compatible chat endpoint with
//! structured output. Answers are cached in the run's judge cache with the
//! latency measured when they were first given, so a replay over the same
//! text costs nothing and decides at the same moment.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::rubric::JudgeSettings;
use crate::run_folder::write_atomic;

/// What the classifier said about one piece of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub tripped: bool,
    /// The words that make the answer yes, as the classifier quoted them.
    pub quote: Option<String>,
    /// How long the answer took (ms).
    pub latency_ms: f64,
    pub tokens: (u64, u64),
    pub cost_usd: Option<f64>,
    pub cached: bool,
}

/// Why a check could not decide: a failed check never trips.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ClassifierError {
    pub message: String,
    /// How long it took to fail (ms).
    pub latency_ms: f64,
}

/// The request body for one question about `text`.
fn request(judge: &JudgeSettings, question: &str, text: &str) -> Value {
    let mut body = json!({
        "model": judge.model,
        "messages": [
            {"role": "system", "content": "You are an output guardrail for a voice agent on a phone call. \
    You read what the agent has said so far in its current reply (it may stop mid-sentence) and answer one \
    yes/no question about it. Reply only with the JSON requested: `answer` is yes or no, and `quote` is the \
    agent's exact words that make the answer yes (empty when it is no)."},
            {"role": "user", "content": format!("Question: {question}\n\nThe agent's reply so far:\n\"\"\"\n{text}\n\"\"\"")},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "guardrail", "strict": true, "schema": {
            "type": "object",
            "properties": {
                "answer": {"type": "string", "enum": ["yes", "no"]},
                "quote": {"type": "string"}
            },
            "required": ["answer", "quote"],
            "additionalProperties": false
        }}},
    });
    if let Some(t) = judge.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(seed) = judge.seed {
        body["seed"] = json!(seed);
    }
    body
}

/// Asks `question` about `text`, or reads the cached answer. One attempt
/// within `timeout`: a guardrail that waits out retries has already let the
/// words through. A failed cache write is added to `write_errors`.
pub async fn classify(
    client: &reqwest::Client,
    judge: &JudgeSettings,
    question: &str,
    text: &str,
    cache_dir: &Path,
    timeout: Duration,
) -> (Result<Answer, ClassifierError>, Option<String>) {
    let body = request(judge, question, text);
    let key: String = Sha256::digest(format!("guardrail\n{}\n{}", judge.url, body).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache_file = cache_dir.join(format!("{key}.json"));
    if let Some(entry) = tokio::fs::read(&cache_file)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        let latency_ms = entry["latency_ms"].as_f64().unwrap_or(0.0);
        if let Ok(mut answer) = read_reply(judge, &entry["reply"], latency_ms) {
            answer.cached = true;
            return (Ok(answer), None);
        }
    }
    let started = Instant::now();
    let reply = post(client, judge, &body, timeout).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let fail = |message: String| ClassifierError {
        message,
        latency_ms,
    };
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return (Err(fail(e)), None),
    };
    let answer = match read_reply(judge, &reply, latency_ms) {
        Ok(a) => a,
        Err(e) => return (Err(fail(e)), None),
    };
    let entry = json!({"reply": reply, "latency_ms": latency_ms}).to_string();
    let (dir, file) = (cache_dir.to_path_buf(), cache_file.clone());
    let written = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).and_then(|()| write_atomic(&file, entry.as_bytes()))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let write_error = written.err().map(|e| {
        tracing::error!(path = %cache_file.display(), error = %e, "cannot cache a guardrail answer");
        format!("{}: {e}", cache_file.display())
    });
    (Ok(answer), write_error)
}

async fn post(
    client: &reqwest::Client,
    judge: &JudgeSettings,
    body: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    let url = format!("{}/chat/completions", judge.url.trim_end_matches('/'));
    let mut req = client.post(&url).json(body).timeout(timeout);
    if let Some(key) = judge
        .api_key_env
        .as_ref()
        .and_then(|v| std::env::var(v).ok())
    {
        req = req.bearer_auth(key);
    }
    let response = req.send().await.map_err(|e| match e.is_timeout() {
        true => format!("the classifier did not answer within {timeout:?}"),
        false => format!("the classifier endpoint: {}", e.without_url()),
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("the classifier endpoint: {}", e.without_url()))?;
    if !status.is_success() {
        return Err(format!(
            "the classifier endpoint answered {status}: {:.200}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the classifier's reply is not JSON: {e}"))
}

/// A chat completion read as an answer.
fn read_reply(judge: &JudgeSettings, reply: &Value, latency_ms: f64) -> Result<Answer, String> {
    let content = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    let parsed = crate::text::first_json_object(content)
        .ok_or_else(|| format!("the classifier's reply is not JSON: {content:.200}"))?;
    let tripped = match parsed["answer"].as_str().map(|a| a.trim().to_lowercase()) {
        Some(a) if a == "yes" => true,
        Some(a) if a == "no" => false,
        _ => {
            return Err(format!(
                "the classifier's answer {} is not yes or no",
                parsed["answer"]
            ));
        }
    };
    let tokens = (
        reply["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        reply["usage"]["completion_tokens"].as_u64().unwrap_or(0),
    );
    let cost_usd = match judge.price_per_mtok {
        Some((i, o)) => Some((tokens.0 as f64 * i + tokens.1 as f64 * o) / 1e6),
        None => crate::pricing::for_model(&judge.model)
            .map(|p| (tokens.0 as f64 * p.text_in + tokens.1 as f64 * p.text_out) / 1e6),
    };
    Ok(Answer {
        tripped,
        quote: parsed["quote"]
            .as_str()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_string),
        latency_ms,
        tokens,
        cost_usd,
        cached: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge() -> JudgeSettings {
        JudgeSettings {
            url: "http://127.0.0.1:9/v1".into(),
            model: "gpt-4.1-mini".into(),
            api_key_env: None,
            temperature: None,
            seed: None,
            price_per_mtok: Some((1.0, 2.0)),
            timeout_s: 60.0,
        }
    }

    fn reply(content: &str) -> Value {
        json!({"choices": [{"message": {"content": content}}],
               "usage": {"prompt_tokens": 1000, "completion_tokens": 500}})
    }

    #[test]
    fn a_yes_trips_with_its_quote_and_cost() {
        let a = read_reply(
            &judge(),
            &reply(r#"{"answer": "Yes", "quote": " a full refund "}"#),
            120.0,
        )
        .unwrap();
        assert!(a.tripped);
        assert_eq!(a.quote.as_deref(), Some("a full refund"));
        assert_eq!(a.cost_usd, Some(0.002));
        assert_eq!(a.latency_ms, 120.0);
    }

    #[test]
    fn an_answer_off_the_question_is_an_error_not_a_trip() {
        let e = read_reply(&judge(), &reply(r#"{"answer": "maybe"}"#), 1.0).unwrap_err();
        assert!(e.contains("not yes or no"), "{e}");
        assert!(read_reply(&judge(), &reply("sure"), 1.0).is_err());
        let no = read_reply(&judge(), &reply(r#"{"answer": "no", "quote": ""}"#), 1.0).unwrap();
        assert!(!no.tripped && no.quote.is_none());
    }
}
