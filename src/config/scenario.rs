//! `scenarios/*.yaml`: one call to simulate: who calls, what they want and
//! know, how the agent's tools answer, when the call ends, and what the
//! scoring should expect (declarative; the scorers read it).

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::load::{ConfigError, load_yaml_file, template_problem};
use super::locate::parse_path;
use super::matcher::{ExpectedArguments, OrderMode, TextRule};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Runs only when named by `--scenario` (its id, not a pattern) or
    /// selected by one of its tags, not in a run of the whole suite: for
    /// scenarios that take real time (a caller whose pauses must pass as
    /// they would on a call).
    #[serde(default)]
    pub opt_in: bool,
    /// Name of a persona in `personas/`.
    pub persona: String,
    /// What the caller wants, in their words (also given to LLM drivers).
    pub goal: String,
    /// What the caller knows: order id, name, … Available as `facts.*` in
    /// every template.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// Outcomes the caller will and will not accept (for LLM drivers and judges).
    #[serde(default)]
    pub accepts: Vec<String>,
    #[serde(default)]
    pub refuses: Vec<String>,
    /// The scripted caller's lines.
    #[serde(default)]
    pub script: CallerScript,
    /// Fixtures answering the agent's tool calls, by tool name.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolFixture>,
    #[serde(default)]
    pub end: EndConditions,
    #[serde(default)]
    pub expectations: Expectations,
    /// A recorded caller to replay (`rehearse import` writes it); the
    /// scenario's persona must have `driver: { kind: replay }`.
    #[serde(default)]
    pub replay: Option<ReplayScript>,
}

/// The original caller's lines, in order, each with what the original agent
/// said just before it and how long the caller took to answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayScript {
    /// The caller's track (a WAV file, relative to the scenario file) that
    /// `start_ms`/`end_ms` cut the lines from. Without it the lines are
    /// spoken by the persona's voice.
    #[serde(default)]
    pub audio: Option<String>,
    /// `audio` resolved against the scenario file when it was loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub audio_path: Option<std::path::PathBuf>,
    /// How alike (0–1, on the last sentence) what the agent says must be to
    /// what the original agent said before a line for that line to be played;
    /// below it for every remaining line, the call ends `diverged`.
    #[serde(default = "default_min_similarity")]
    pub min_similarity: f64,
    pub turns: Vec<ReplayTurn>,
}

pub fn default_min_similarity() -> f64 {
    0.5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayTurn {
    /// What the original agent said just before (empty: the caller spoke first).
    #[serde(default)]
    pub after: String,
    /// The caller's words, as transcribed.
    pub say: String,
    /// Where the line is in `audio`, ms (both or neither: a line without
    /// them is spoken by the persona's voice).
    #[serde(default)]
    pub start_ms: Option<f64>,
    #[serde(default)]
    pub end_ms: Option<f64>,
    /// The original caller's delay after the agent stopped talking, ms
    /// (negative: they talked over the agent's last words).
    #[serde(default)]
    pub reaction_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallerScript {
    /// First thing the caller says once the agent has greeted them.
    #[serde(default)]
    pub opening: Option<String>,
    /// Answers, tried in order against what the agent just said.
    #[serde(default)]
    pub rules: Vec<CallerRule>,
    /// Said when no rule matches (counts against patience).
    #[serde(default = "default_fallback")]
    pub fallback: String,
    /// Said when patience runs out, before hanging up.
    #[serde(default = "default_give_up")]
    pub give_up: String,
    /// Agent phrases that end the call (the caller hangs up after them).
    #[serde(default = "default_goodbyes")]
    pub hang_up_when: Vec<String>,
}

fn default_fallback() -> String {
    "Sorry, I'm not sure what you need from me.".into()
}
fn default_give_up() -> String {
    "Forget it. I'll call back another time.".into()
}
fn default_goodbyes() -> Vec<String> {
    vec!["goodbye".into(), "good bye".into()]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallerRule {
    /// Fires when the agent's turn contains any of these phrases.
    pub when: Vec<String>,
    /// What the caller says (a minijinja template over `facts`).
    pub say: String,
    /// Fire at most once.
    #[serde(default)]
    pub once: bool,
    /// The caller's goal is met once this fires.
    #[serde(default)]
    pub goal_met: bool,
    /// Hang up after saying it.
    #[serde(default)]
    pub hang_up: bool,
}

/// How the agent's tool calls are answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolFixture {
    /// Backend latency before the result is returned, in ms.
    #[serde(default = "default_tool_latency")]
    pub latency_ms: f64,
    /// Tried in order; the first whose `when` matches and whose `times` are
    /// not used up answers.
    #[serde(default)]
    pub responses: Vec<FixtureResponse>,
}

fn default_tool_latency() -> f64 {
    80.0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixtureResponse {
    /// Arguments that must match (strings compared case- and
    /// whitespace-insensitively; other values exactly). Empty: any call.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub when: BTreeMap<String, Value>,
    /// A JSON result.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub result: Option<Value>,
    /// A minijinja template over `arguments` and `facts` rendering the result
    /// (JSON if it parses, else a string).
    #[serde(default)]
    pub template: Option<String>,
    /// An error result, as a backend failure would return.
    #[serde(default)]
    pub error: Option<String>,
    /// The backend never answers; the harness reports a timeout to the agent
    /// after `timeout_ms`.
    #[serde(default)]
    pub timeout: bool,
    /// Use this response for this many matching calls only (sequences).
    #[serde(default)]
    pub times: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndConditions {
    #[serde(default = "default_max_turns")]
    pub max_turns: u32,
    #[serde(default = "default_max_duration")]
    pub max_duration_s: f64,
    /// The call ends after this long with nobody speaking.
    #[serde(default = "default_silence")]
    pub silence_s: f64,
    /// A tool that does not answer is reported as timed out after this long.
    #[serde(default = "default_tool_timeout")]
    pub tool_timeout_ms: f64,
    /// Hang up as soon as the goal is met and the agent has answered.
    #[serde(default = "yes")]
    pub hang_up_on_goal: bool,
}

fn default_max_turns() -> u32 {
    30
}
fn default_max_duration() -> f64 {
    300.0
}
fn default_silence() -> f64 {
    20.0
}
fn default_tool_timeout() -> f64 {
    5000.0
}
fn yes() -> bool {
    true
}

impl Default for EndConditions {
    fn default() -> Self {
        EndConditions {
            max_turns: default_max_turns(),
            max_duration_s: default_max_duration(),
            silence_s: default_silence(),
            tool_timeout_ms: default_tool_timeout(),
            hang_up_on_goal: true,
        }
    }
}

/// What a correct call looks like. Read by the scorers, never by the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Tool calls the agent should make, with argument matchers.
    #[serde(default)]
    pub tool_calls: Vec<ExpectedCall>,
    /// `strict`, `unordered` (default), `subset` or `superset`.
    #[serde(default)]
    pub order: OrderMode,
    /// Stage ids the agent should pass through, in order.
    #[serde(default)]
    pub flow: Vec<String>,
    /// Phrases (or `/regex/`) the agent must say at least once.
    #[serde(default)]
    pub must_say: Vec<TextRule>,
    /// Phrases (or `/regex/`) the agent must never say.
    #[serde(default)]
    pub must_not_say: Vec<TextRule>,
    /// Budget for the agent's response latency (p95, ms).
    #[serde(default)]
    pub latency_p95_ms: Option<f64>,
    /// Longest silence a caller may wait for the agent, tool calls
    /// included (ms).
    #[serde(default)]
    pub max_dead_air_ms: Option<f64>,
    /// Guardrails (by name) that must not trip in this call: the agent says
    /// nothing here they should stop, so a trip is a false fire.
    #[serde(default)]
    pub must_not_trip: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCall {
    pub name: String,
    /// Argument matchers by name (a plain value means "equal, case- and
    /// whitespace-insensitive for strings"), or the word `any`. Required: a
    /// call is never matched on its name alone by accident.
    pub arguments: ExpectedArguments,
}

impl ScenarioFile {
    pub fn load(path: &Path) -> Result<ScenarioFile, ConfigError> {
        let scenario: ScenarioFile = load_yaml_file(path)?;
        let env = minijinja::Environment::new();
        let templates = scenario
            .script
            .opening
            .iter()
            .map(|t| ("script.opening".to_string(), t))
            .chain(
                scenario
                    .script
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("script.rules[{i}].say"), &r.say)),
            )
            .chain(scenario.tools.iter().flat_map(|(name, f)| {
                f.responses.iter().enumerate().filter_map(move |(i, r)| {
                    r.template
                        .as_ref()
                        .map(|t| (format!("tools.{name}.responses[{i}].template"), t))
                })
            }));
        for (at, text) in templates {
            if let Err(e) = env.template_from_str(text) {
                return Err(ConfigError::new(
                    path,
                    format!("{at}: invalid template: {}", template_problem(&e)),
                )
                .at_path(&parse_path(&at)));
            }
        }
        for (name, fixture) in &scenario.tools {
            for (i, r) in fixture.responses.iter().enumerate() {
                let kinds = [
                    r.result.is_some(),
                    r.template.is_some(),
                    r.error.is_some(),
                    r.timeout,
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if kinds != 1 {
                    let at = format!("tools.{name}.responses[{i}]");
                    return Err(ConfigError::new(
                        path,
                        format!("{at} needs exactly one of result, template, error, timeout"),
                    )
                    .at_path(&parse_path(&at)));
                }
            }
        }
        let mut scenario = scenario;
        if let Some(replay) = &mut scenario.replay {
            replay.audio_path = check_replay(path, replay)?;
        }
        Ok(scenario)
    }
}

/// A replay's lines: at least one, cut from inside the audio when there is
/// audio, and a similarity threshold between 0 and 1. Returns the audio's path.
fn check_replay(
    path: &Path,
    replay: &ReplayScript,
) -> Result<Option<std::path::PathBuf>, ConfigError> {
    if !(0.0..=1.0).contains(&replay.min_similarity) {
        return Err(
            ConfigError::new(path, "replay.min_similarity must be between 0 and 1")
                .at_path(&parse_path("replay.min_similarity")),
        );
    }
    if replay.turns.is_empty() {
        return Err(
            ConfigError::new(path, "replay.turns is empty: nothing to replay")
                .at_path(&parse_path("replay.turns")),
        );
    }
    let Some(audio) = &replay.audio else {
        return Ok(None);
    };
    let resolved = super::load::resolve_inside(path, "replay.audio", audio)?;
    {
        for (i, turn) in replay.turns.iter().enumerate() {
            // A line without a cut is spoken by the persona's voice.
            let cut = match (turn.start_ms, turn.end_ms) {
                (Some(start), Some(end)) => start >= 0.0 && end > start,
                (None, None) => true,
                _ => false,
            };
            if !cut {
                return Err(ConfigError::new(
                    path,
                    format!("replay.turns[{i}] needs both start_ms and end_ms, start before end, to cut its line from replay.audio"),
                )
                .at_path(&parse_path(&format!("replay.turns[{i}]"))));
            }
        }
    }
    Ok(Some(resolved))
}
