//! LLM-as-judge criteria: any OpenAI-compatible chat endpoint, asked for
//! structured output (falling back to tolerant JSON extraction), sampled N
//! times, cached on disk by a hash of what was asked so reruns cost nothing.
//! An unreachable or unparseable judge is an `error`, never a fail; without a
//! judge the criterion is `skipped`.

use std::path::Path;
use std::time::Duration;

use crate::retry::{RetryPolicy, send_with_retries};
use crate::run_folder::{
    Check, CheckKind, MAX_UNTRUSTED_TEXT, RecordedConversation, Speaker, bounded, write_atomic,
};
use crate::text::first_json_object as extract_json;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::persona::PersonaFile;
use crate::config::rubric::{Criterion, JudgeInput, JudgeSettings, RubricFile, Scale};
use crate::config::scenario::ScenarioFile;

fn mmss(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0) as u64;
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn scale_name(scale: &Scale) -> (&'static str, Vec<String>) {
    match scale {
        Scale::PassFail => ("pass_fail", vec![]),
        Scale::OneToFive => ("one_to_five", vec![]),
        Scale::Labels(l) => ("labels", l.clone()),
    }
}

/// The prompt for one criterion; transcripts and tool output are data here,
/// rendered as values, never as template source.
pub fn prompt(
    criterion: &Criterion,
    rec: &RecordedConversation,
    scenario: &ScenarioFile,
    persona: &PersonaFile,
) -> Result<String, String> {
    let (scale, labels) = scale_name(&criterion.scale);
    let has = |i: JudgeInput| criterion.inputs.contains(&i);
    let transcript: Vec<Value> = if has(JudgeInput::Transcript) {
        rec.transcript
            .iter()
            .map(|u| json!({"at": mmss(u.start_ms), "speaker": match u.speaker { Speaker::Agent => "Agent", Speaker::Customer => "Customer" },
                            "text": u.text, "interrupted": u.interrupted}))
            .collect()
    } else {
        vec![]
    };
    let tool_calls: Vec<Value> = if has(JudgeInput::ToolCalls) {
        rec.tools
            .iter()
            .map(|t| json!({"at": mmss(t.called_ms), "name": t.name, "arguments": t.arguments, "output": t.output.clone().unwrap_or_else(|| "(timed out)".into())}))
            .collect()
    } else {
        vec![]
    };
    let source = criterion
        .prompt
        .as_deref()
        .unwrap_or(include_str!("prompts/judge.j2"));
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.render_str(
        source,
        minijinja::context! {
            criterion => minijinja::Value::from(minijinja::value::Serde(criterion)),
            scale => scale,
            labels => labels,
            goal => if has(JudgeInput::Goal) { scenario.goal.clone() } else { String::new() },
            persona => if has(JudgeInput::Persona) { format!("{} {}", persona.description, persona.speaking_style) } else { String::new() },
            transcript => minijinja::Value::from(minijinja::value::Serde(&transcript)),
            tool_calls => minijinja::Value::from(minijinja::value::Serde(&tool_calls)),
        },
    )
    .map_err(|e| format!("judge prompt: {e}"))
}

/// The structured-output schema for a criterion: the verdict is typed by
/// the criterion's scale, so a model held to the schema cannot answer off it.
fn response_format(scale: &Scale) -> Value {
    let verdict = match scale {
        Scale::PassFail => json!({"type": "string", "enum": ["pass", "fail"]}),
        Scale::Labels(labels) => json!({"type": "string", "enum": labels}),
        Scale::OneToFive => json!({"type": "integer", "enum": [1, 2, 3, 4, 5]}),
    };
    json!({"type": "json_schema", "json_schema": {"name": "verdict", "strict": true, "schema": {
        "type": "object",
        "properties": {
            "verdict": verdict,
            "score": {"type": "number"},
            "reasoning": {"type": "string"},
            "evidence": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["verdict", "score", "reasoning", "evidence"],
        "additionalProperties": false
    }}})
}

struct Sample {
    /// The verdict on the criterion's scale: `pass`/`fail`, a label as the
    /// rubric spells it, or `1`–`5`.
    verdict: String,
    score: f64,
    reasoning: String,
    evidence: Value,
    usage: (u64, u64),
    /// Served from the on-disk cache (kept out of scores.json, which must not
    /// change when a rescore hits the cache).
    cached: bool,
}

/// Asks the judge once (or reads its cached answer) and reads the verdict
/// on `scale`. Only a reply that reads as a verdict on the scale is cached:
/// a judge that answered off the point is asked again next time. A failed
/// cache write is added to `write_errors`.
async fn ask(
    client: &reqwest::Client,
    judge: &JudgeSettings,
    scale: &Scale,
    body: &Value,
    cache_dir: &Path,
    write_errors: &mut Vec<String>,
) -> Result<Sample, String> {
    let key: String = Sha256::digest(format!("{}\n{}", judge.url, body).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache_file = cache_dir.join(format!("{key}.json"));
    let cached = tokio::fs::read(&cache_file)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    if let Some(reply) = cached {
        return read_reply(scale, &reply, true);
    }
    let reply = post(client, judge, body).await?;
    let sample = read_reply(scale, &reply, false)?;
    let bytes = reply.to_string().into_bytes();
    let (dir, file) = (cache_dir.to_path_buf(), cache_file.clone());
    let written = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).and_then(|()| write_atomic(&file, &bytes))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    if let Err(e) = written {
        tracing::error!(path = %cache_file.display(), error = %e, "cannot cache a judge reply");
        write_errors.push(format!("{}: {e}", cache_file.display()));
    }
    Ok(sample)
}

/// A judge's chat completion read as one sample on `scale`.
fn read_reply(scale: &Scale, reply: &Value, cached: bool) -> Result<Sample, String> {
    let content = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    let parsed = extract_json(content)
        .ok_or_else(|| format!("the judge's reply is not a JSON verdict: {:.200}", content))?;
    let verdict = on_scale(scale, &parsed["verdict"]).ok_or_else(|| {
        format!(
            "the judge's verdict {} is not on the criterion's scale ({}); reply: {:.300}",
            parsed["verdict"],
            scale_words(scale),
            content
        )
    })?;
    Ok(Sample {
        score: match scale {
            Scale::OneToFive => verdict.parse().unwrap_or(0.0),
            _ => parsed["score"].as_f64().unwrap_or(0.0),
        },
        verdict,
        reasoning: bounded(
            parsed["reasoning"].as_str().unwrap_or("").to_string(),
            MAX_UNTRUSTED_TEXT / 4,
        ),
        evidence: bounded_json(parsed.get("evidence").cloned().unwrap_or(Value::Null)),
        usage: (
            reply["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            reply["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        ),
        cached,
    })
}

/// A verdict read on its scale: `pass`/`fail` (any case), one of the labels
/// (any case; returned as the rubric spells it), or a whole number 1–5
/// (given as a number or a numeral). None for anything else: a verdict off
/// the scale is the judge's failure, never the agent's.
fn on_scale(scale: &Scale, verdict: &Value) -> Option<String> {
    match (scale, verdict) {
        (Scale::PassFail, Value::String(s)) => {
            let s = s.trim().to_lowercase();
            (s == "pass" || s == "fail").then_some(s)
        }
        (Scale::Labels(labels), Value::String(s)) => labels
            .iter()
            .find(|l| l.eq_ignore_ascii_case(s.trim()))
            .cloned(),
        (Scale::OneToFive, Value::Number(n)) => {
            let n = n.as_f64()?;
            (n.fract() == 0.0 && (1.0..=5.0).contains(&n)).then(|| (n as u8).to_string())
        }
        (Scale::OneToFive, Value::String(s)) => {
            let n: u8 = s.trim().parse().ok()?;
            (1..=5).contains(&n).then(|| n.to_string())
        }
        _ => None,
    }
}

/// The scale in words, for messages.
fn scale_words(scale: &Scale) -> String {
    match scale {
        Scale::PassFail => "pass or fail".into(),
        Scale::OneToFive => "a whole number from 1 to 5".into(),
        Scale::Labels(labels) => format!("one of {}", labels.join(", ")),
    }
}

/// A judge's evidence as given, or as cut-off text when it is too large to
/// keep in every score sheet.
fn bounded_json(v: Value) -> Value {
    let text = v.to_string();
    if text.len() <= MAX_UNTRUSTED_TEXT / 4 {
        return v;
    }
    Value::String(bounded(text, MAX_UNTRUSTED_TEXT / 4))
}

/// POST with the shared retry policy (see [`crate::retry`]).
async fn post(
    client: &reqwest::Client,
    judge: &JudgeSettings,
    body: &Value,
) -> Result<Value, String> {
    let url = format!("{}/chat/completions", judge.url.trim_end_matches('/'));
    let key = judge
        .api_key_env
        .as_ref()
        .and_then(|v| std::env::var(v).ok());
    let build = || {
        let req = client.post(&url).json(body);
        match &key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    };
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string());
    send_with_retries(&RetryPolicy::HTTP, "the judge endpoint", build, parse)
        .await
        .map_err(|e| e.to_string())
}

/// Scores one judge criterion. Failed cache writes are added to
/// `write_errors`.
pub async fn score(
    rubric: &RubricFile,
    criterion: &Criterion,
    rec: &RecordedConversation,
    scenario: &ScenarioFile,
    persona: &PersonaFile,
    cache_dir: &Path,
    write_errors: &mut Vec<String>,
) -> Check {
    let name = format!("judge.{}.{}", rubric.name, criterion.id);
    let Some(judge) = &rubric.judge else {
        return Check::skipped(
            CheckKind::Judge,
            name,
            format!(
                "no judge configured: add `judge:` to the `{}` rubric",
                rubric.name
            ),
        )
        .weight(criterion.weight);
    };
    let text = match prompt(criterion, rec, scenario, persona) {
        Ok(t) => t,
        Err(e) => return Check::error(CheckKind::Judge, name, e),
    };
    let mut content = vec![json!({"type": "text", "text": text})];
    if criterion.inputs.contains(&JudgeInput::Audio) {
        match audio_part(rec) {
            Ok(part) => content.push(part),
            Err(e) => return Check::error(CheckKind::Judge, name, e),
        }
    }
    let client = crate::http::client(Duration::from_secs_f64(judge.timeout_s.max(0.1)));
    let mut samples = Vec::new();
    for i in 0..criterion.samples.max(1) {
        let mut body = json!({
            "model": judge.model,
            "messages": [
                {"role": "system", "content": "You evaluate customer-service calls. Reply only with the JSON requested."},
                {"role": "user", "content": content},
            ],
            "response_format": response_format(&criterion.scale),
        });
        if let Some(t) = judge.temperature {
            body["temperature"] = json!(t);
        }
        body["seed"] = json!(judge.seed.unwrap_or(0) + i as u64);
        match ask(
            &client,
            judge,
            &criterion.scale,
            &body,
            cache_dir,
            write_errors,
        )
        .await
        {
            Ok(s) => samples.push(s),
            Err(e) => return Check::error(CheckKind::Judge, name, e).weight(criterion.weight),
        }
    }
    let (passed, value, agreement, threshold) =
        decide(&criterion.scale, criterion.threshold.as_ref(), &samples);
    let (tokens_in, tokens_out) = samples
        .iter()
        .fold((0, 0), |a, s| (a.0 + s.usage.0, a.1 + s.usage.1));
    let hits = samples.iter().filter(|s| s.cached).count();
    tracing::debug!(criterion = %criterion.id, cache_hits = hits, asked = samples.len() - hits, "judge samples");
    let cost = match judge.price_per_mtok {
        Some((i, o)) => Some((tokens_in as f64 * i + tokens_out as f64 * o) / 1e6),
        None => crate::pricing::for_model(&judge.model)
            .map(|p| (tokens_in as f64 * p.text_in + tokens_out as f64 * p.text_out) / 1e6),
    };
    Check::new(CheckKind::Judge, name, passed)
        .value(value)
        .threshold(threshold)
        .weight(criterion.weight)
        .evidence(json!({
            "question": criterion.question,
            "model": judge.model,
            "temperature": judge.temperature,
            "seed": judge.seed.unwrap_or(0),
            "agreement": agreement,
            "samples": samples.iter().map(|s| json!({"verdict": s.verdict, "score": s.score, "reasoning": s.reasoning,
                "evidence": s.evidence})).collect::<Vec<_>>(),
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out},
            "cost_usd": cost,
        }))
}

/// Majority (pass/fail, labels) or mean (1–5), and the share of samples that
/// agree with the outcome.
fn decide(
    scale: &Scale,
    threshold: Option<&Value>,
    samples: &[Sample],
) -> (bool, f64, f64, String) {
    let n = samples.len().max(1) as f64;
    match scale {
        Scale::PassFail => {
            let passes = samples.iter().filter(|s| s.verdict == "pass").count() as f64;
            let passed = passes * 2.0 > n;
            let agree = if passed { passes } else { n - passes } / n;
            (passed, passes / n, agree, "majority pass".into())
        }
        Scale::OneToFive => {
            let t = threshold.and_then(Value::as_f64).unwrap_or(4.0);
            let mean = samples.iter().map(|s| s.score).sum::<f64>() / n;
            let passed = mean >= t;
            let agree = samples.iter().filter(|s| (s.score >= t) == passed).count() as f64 / n;
            (passed, mean, agree, format!("mean score >= {t}"))
        }
        Scale::Labels(_) => {
            let passing: Vec<String> = threshold
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_lowercase)
                        .collect()
                })
                .unwrap_or_default();
            let mut counts: Vec<(String, usize)> = Vec::new();
            for s in samples {
                match counts.iter_mut().find(|(l, _)| *l == s.verdict) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((s.verdict.clone(), 1)),
                }
            }
            let (label, count) = counts
                .into_iter()
                .max_by_key(|(_, c)| *c)
                .unwrap_or_default();
            (
                passing.contains(&label.to_lowercase()),
                count as f64 / n,
                count as f64 / n,
                format!("label in {passing:?}"),
            )
        }
    }
}

/// The agent's side of the call as an `input_audio` WAV part.
fn audio_part(rec: &RecordedConversation) -> Result<Value, String> {
    const MAX_AUDIO_BYTES: u64 = 20 * 1024 * 1024;
    let path = rec.track(Speaker::Agent);
    // Size first, so an over-long call is refused without reading it.
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("agent audio: {e}"))?
        .len();
    if size > MAX_AUDIO_BYTES {
        return Err("the agent audio is over 20 MiB; judge shorter calls or per turn".into());
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("agent audio: {e}"))?;
    Ok(
        json!({"type": "input_audio", "input_audio": {"data": base64::engine::general_purpose::STANDARD.encode(bytes), "format": "wav"}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_json_extraction() {
        assert_eq!(
            extract_json(r#"{"verdict":"pass"}"#).unwrap()["verdict"],
            "pass"
        );
        let fenced =
            "Sure! ```json\n{\"verdict\": \"fail\", \"reasoning\": \"a } in text\"}\n``` done";
        assert_eq!(extract_json(fenced).unwrap()["verdict"], "fail");
        assert!(extract_json("no json here").is_none());
    }

    #[test]
    fn verdicts_are_read_on_their_scale_and_off_scale_ones_are_refused() {
        let labels = Scale::Labels(vec!["Resolved".into(), "Escalated".into()]);
        let read = |scale: &Scale, v: Value| on_scale(scale, &v);
        assert_eq!(
            read(&Scale::PassFail, json!(" PASS ")).as_deref(),
            Some("pass")
        );
        assert_eq!(read(&Scale::PassFail, json!("Pass.")), None);
        assert_eq!(read(&Scale::PassFail, json!("The agent did well")), None);
        assert_eq!(read(&Scale::PassFail, json!(true)), None);
        assert_eq!(
            read(&labels, json!("resolved")).as_deref(),
            Some("Resolved")
        );
        assert_eq!(read(&labels, json!("unsure")), None);
        assert_eq!(read(&Scale::OneToFive, json!(4)).as_deref(), Some("4"));
        assert_eq!(read(&Scale::OneToFive, json!("5")).as_deref(), Some("5"));
        assert_eq!(read(&Scale::OneToFive, json!(4.5)), None);
        assert_eq!(read(&Scale::OneToFive, json!(6)), None);
        // A label the rubric capitalises passes when the rubric says it does.
        let sample = |verdict: &str| Sample {
            verdict: verdict.into(),
            score: 0.0,
            reasoning: String::new(),
            evidence: Value::Null,
            usage: (0, 0),
            cached: false,
        };
        let passing = json!(["Resolved"]);
        let (passed, ..) = decide(&labels, Some(&passing), &[sample("Resolved")]);
        assert!(passed);
        let (passed, ..) = decide(&labels, Some(&passing), &[sample("Escalated")]);
        assert!(!passed);
        let schema = response_format(&labels);
        assert_eq!(
            schema["json_schema"]["schema"]["properties"]["verdict"]["enum"],
            json!(["Resolved", "Escalated"])
        );
    }

    #[test]
    fn oversized_evidence_is_kept_as_cut_text() {
        let small = json!({"quote": "hello"});
        assert_eq!(bounded_json(small.clone()), small);
        let huge = json!({"quote": "x".repeat(100_000)});
        let kept = bounded_json(huge);
        let text = kept.as_str().unwrap();
        assert!(text.len() < MAX_UNTRUSTED_TEXT / 4 + 64 && text.ends_with("cut by rehearse]"));
    }
}
