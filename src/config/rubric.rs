//! `rubrics/*.yaml`: criteria a conversation is held to beyond its
//! scenario's expectations: LLM-judge questions (text or audio) and tone
//! targets measured offline.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::load::{ConfigError, load_yaml_file};
use super::locate::Step;
use crate::run_folder::Speaker;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RubricFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Only for scenarios with one of these tags (all when empty).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The judge model; criteria of kind `judge` are skipped without one.
    #[serde(default)]
    pub judge: Option<JudgeSettings>,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JudgeSettings {
    /// OpenAI-compatible API base (`https://api.openai.com/v1`, an Azure
    /// `/openai/v1`, Ollama, vLLM, …).
    pub url: String,
    pub model: String,
    /// Environment variable holding the key (none for local servers).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// USD per 1M input and output tokens, for cost accounting.
    #[serde(default)]
    pub price_per_mtok: Option<(f64, f64)>,
    /// Seconds to wait for one reply before counting an attempt as failed.
    #[serde(default = "default_judge_timeout")]
    pub timeout_s: f64,
}

fn default_judge_timeout() -> f64 {
    60.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// An LLM judge answers the question.
    Judge,
    /// Offline tone measures against target ranges.
    Tone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub id: String,
    pub kind: CriterionKind,
    /// For judges: the question asked.
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub scale: Scale,
    /// Pass at or above this score (1–5 scale), or these labels (label scale).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub threshold: Option<serde_json::Value>,
    #[serde(default = "one")]
    pub weight: f64,
    /// What the judge sees.
    #[serde(default = "default_inputs")]
    pub inputs: Vec<JudgeInput>,
    /// A minijinja prompt replacing the built-in one.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Ask this many times; report the majority / mean and the agreement.
    #[serde(default = "one_sample")]
    pub samples: u32,
    /// For tone criteria: metric name → [min, max] (either may be null).
    #[serde(default)]
    pub targets: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Tone criteria: whose voice (`agent` or `customer`).
    #[serde(default = "agent")]
    pub speaker: Speaker,
}

fn one() -> f64 {
    1.0
}
fn one_sample() -> u32 {
    1
}
fn agent() -> Speaker {
    Speaker::Agent
}
fn default_inputs() -> Vec<JudgeInput> {
    vec![
        JudgeInput::Transcript,
        JudgeInput::ToolCalls,
        JudgeInput::Goal,
    ]
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    #[default]
    PassFail,
    OneToFive,
    /// Free labels; `threshold` lists the passing ones.
    Labels(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JudgeInput {
    Transcript,
    ToolCalls,
    Goal,
    Persona,
    /// The agent's audio, sent to an audio-capable model.
    Audio,
}

/// The tone metrics a target may name.
pub const TONE_METRICS: &[&str] = &[
    "f0_median_hz",
    "f0_median_st",
    "f0_range_st",
    "f0_variability_st",
    "loudness_lufs",
    "loudness_range_lu",
    "true_peak_dbfs",
    "clipping_ratio",
    "voice_activity",
    "silence_ratio",
    "pause_count",
    "pause_mean_ms",
    "pause_longest_ms",
    "leading_silence_ms",
    "words_per_minute",
    "syllables_per_second",
];

impl RubricFile {
    pub fn load(path: &Path) -> Result<RubricFile, ConfigError> {
        let rubric: RubricFile = load_yaml_file(path)?;
        let env = minijinja::Environment::new();
        for (i, c) in rubric.criteria.iter().enumerate() {
            let at = |key: &'static str| [Step::Key("criteria"), Step::Index(i), Step::Key(key)];
            if c.kind == CriterionKind::Judge && c.question.trim().is_empty() {
                return Err(ConfigError::new(
                    path,
                    format!("criterion `{}` asks no question", c.id),
                )
                .at_path(&at("id"))
                .with_hint("add `question:` for judge criteria"));
            }
            if c.kind == CriterionKind::Tone && c.targets.is_empty() {
                return Err(ConfigError::new(
                    path,
                    format!("criterion `{}` sets no targets", c.id),
                )
                .at_path(&at("id"))
                .with_hint("add `targets: { words_per_minute: [130, 170] }`"));
            }
            for metric in c.targets.keys() {
                if !TONE_METRICS.contains(&metric.as_str()) {
                    let steps = [
                        Step::Key("criteria"),
                        Step::Index(i),
                        Step::Key("targets"),
                        Step::Key(metric),
                    ];
                    return Err(ConfigError::new(
                        path,
                        format!("criterion `{}`: unknown tone metric `{metric}`", c.id),
                    )
                    .at_path(&steps)
                    .suggest(metric, TONE_METRICS.iter().copied()));
                }
            }
            if let Some(p) = &c.prompt
                && let Err(e) = env.template_from_str(p)
            {
                return Err(ConfigError::new(
                    path,
                    format!(
                        "criterion `{}`: invalid prompt template: {}",
                        c.id,
                        super::load::template_problem(&e)
                    ),
                )
                .at_path(&at("prompt")));
            }
        }
        Ok(rubric)
    }
}
