//! `agents/*.yaml`: the agent under test. Either a scripted agent the local
//! emulator plays (`provider: emulator`) or a real provider with a staged
//! voice prompt. Stages serve both: the emulator follows them, and the prompt
//! template renders them for a real model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::guardrail::{GuardrailSpec, check_guardrails};
use super::load::{ConfigError, load_yaml_file, template_problem};
use super::locate::Step;
use crate::audio::VoiceSettings;
use crate::protocol::{Eagerness, TurnDetection, TurnDetectionKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// The bundled local emulator plays this file's script (no key, no network).
    Emulator,
    /// OpenAI Realtime GA (`OPENAI_API_KEY`, `OPENAI_BASE_URL`).
    Openai,
    /// OpenAI with the beta interface (`OpenAI-Beta: realtime=v1`).
    OpenaiBeta,
    /// Azure OpenAI (`AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT`).
    Azure,
    /// Any other server speaking the protocol, at `url`.
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub provider: ProviderKind,
    /// Model name sent as `?model=` (Azure: the deployment name).
    #[serde(default)]
    pub model: Option<String>,
    /// Base URL for `custom` (a `ws://`/`wss://` realtime URL) or to override
    /// a provider's default.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the API key (default per provider).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Azure API version for preview (beta) endpoints.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Plain instructions; `instructions_template` takes precedence.
    #[serde(default)]
    pub instructions: Option<String>,
    /// A minijinja template (relative to this file) rendered with the agent,
    /// its stages and tools, giving the session instructions.
    #[serde(default)]
    pub instructions_template: Option<PathBuf>,
    #[serde(default)]
    pub voice: AgentVoice,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// Conversation stages, in order; the first is where a call starts.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// How the agent decides the caller has finished a turn (the session's
    /// `turn_detection`); `server_vad` with a 500 ms silence window when absent.
    #[serde(default)]
    pub turn_detection: TurnDetectionSetting,
    /// Output guardrails checked on the agent's words as they stream in,
    /// cutting a response that trips one (see docs/guardrails.md).
    #[serde(default)]
    pub guardrails: Vec<GuardrailSpec>,
    /// How the emulator plays this agent.
    #[serde(default)]
    pub emulator: EmulatorSettings,
    /// Named variants for A/B runs (`--agent agents/x.yaml:variant`): each
    /// overrides some fields of this file.
    #[serde(default)]
    pub variants: BTreeMap<String, AgentVariant>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentVariant {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub instructions_template: Option<PathBuf>,
    #[serde(default)]
    pub voice: Option<AgentVoice>,
    /// Keep only these tools (by name).
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub turn_detection: Option<TurnDetectionSetting>,
    /// Replace the guardrails (an empty list runs without any).
    #[serde(default)]
    pub guardrails: Option<Vec<GuardrailSpec>>,
    /// Emulator agents: replace a stage's `say` line, by stage id (an agent
    /// that says something else at one point of the call).
    #[serde(default)]
    pub stage_say: BTreeMap<String, String>,
    /// Emulator agents: how this variant's audio and transcript stream.
    #[serde(default)]
    pub emulator: Option<EmulatorStreaming>,
}

/// A variant's changes to how the emulator streams the agent's speech.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmulatorStreaming {
    #[serde(default)]
    pub pacing: Option<AudioPacing>,
    #[serde(default)]
    pub speed: Option<f64>,
    #[serde(default)]
    pub transcript_lead_ms: Option<u32>,
    #[serde(default)]
    pub chunk_ms: Option<u32>,
}

/// The agent's turn detection, as the Realtime session takes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TurnDetectionSetting {
    /// Energy-based: the turn ends after `silence_duration_ms` of silence.
    ServerVad {
        /// 0–1: how loud a sound must be to count as speech.
        #[serde(default = "half_threshold")]
        threshold: f64,
        #[serde(default = "default_prefix_padding")]
        prefix_padding_ms: u32,
        #[serde(default = "default_silence")]
        silence_duration_ms: u32,
        /// Whether speech on the line cancels the agent's response.
        #[serde(default = "yes")]
        interrupt_response: bool,
    },
    /// A model decides whether the caller has finished (the emulator
    /// approximates it: see docs/turn-taking.md).
    SemanticVad {
        #[serde(default)]
        #[schemars(with = "EagernessSchema")]
        eagerness: Eagerness,
        #[serde(default = "yes")]
        interrupt_response: bool,
    },
}

/// `low` waits longest (up to 8 s) on an unfinished sentence, `high` least
/// (2 s); `auto` is `medium` (4 s).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Eagerness")]
#[allow(dead_code)]
enum EagernessSchema {
    Low,
    Medium,
    High,
    Auto,
}

fn half_threshold() -> f64 {
    0.5
}
fn default_prefix_padding() -> u32 {
    300
}
fn default_silence() -> u32 {
    500
}
fn yes() -> bool {
    true
}

impl Default for TurnDetectionSetting {
    fn default() -> Self {
        TurnDetectionSetting::ServerVad {
            threshold: half_threshold(),
            prefix_padding_ms: default_prefix_padding(),
            silence_duration_ms: default_silence(),
            interrupt_response: true,
        }
    }
}

impl TurnDetectionSetting {
    /// The session's `turn_detection` object.
    pub fn to_protocol(self) -> TurnDetection {
        match self {
            TurnDetectionSetting::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
                interrupt_response,
            } => TurnDetection {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
                interrupt_response,
                ..TurnDetection::default()
            },
            TurnDetectionSetting::SemanticVad {
                eagerness,
                interrupt_response,
            } => TurnDetection {
                kind: TurnDetectionKind::SemanticVad,
                eagerness: Some(eagerness),
                interrupt_response,
                ..TurnDetection::default()
            },
        }
    }

    /// Ranges the provider enforces; `place` is where this setting is in
    /// the file (`turn_detection`, or a variant's).
    fn check(&self, path: &Path, place: &[Step<'_>]) -> Result<(), ConfigError> {
        let TurnDetectionSetting::ServerVad {
            threshold,
            silence_duration_ms,
            ..
        } = *self
        else {
            return Ok(());
        };
        let at = |key| [place, &[Step::Key(key)]].concat();
        if !(0.0..=1.0).contains(&threshold) {
            return Err(ConfigError::new(
                path,
                format!("turn_detection.threshold is {threshold}, outside 0–1"),
            )
            .at_path(&at("threshold"))
            .with_hint("0.5 is the provider's default; higher needs louder speech"));
        }
        if !(100..=10_000).contains(&silence_duration_ms) {
            return Err(ConfigError::new(
                path,
                format!(
                    "turn_detection.silence_duration_ms is {silence_duration_ms}, outside 100–10000"
                ),
            )
            .at_path(&at("silence_duration_ms"))
            .with_hint("the silence that ends a caller's turn, in ms (500 is typical)"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentVoice {
    /// Provider voice name (e.g. `marin`), sent in `session.update`.
    #[serde(default)]
    pub name: Option<String>,
    /// The offline voice the emulator speaks with.
    #[serde(default)]
    pub offline: VoiceSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments.
    #[serde(default = "empty_object")]
    #[schemars(with = "serde_json::Value")]
    pub parameters: Value,
}

fn empty_object() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// What the agent should do in this stage (for the voice prompt).
    #[serde(default)]
    pub instructions: Vec<String>,
    /// What the agent says on entering the stage (a minijinja template over
    /// `slots`, `result` and `summary`).
    #[serde(default)]
    pub say: Option<String>,
    /// Transitions, tried in order on each caller turn.
    #[serde(default)]
    pub transitions: Vec<Transition>,
    /// Said when no transition matches.
    #[serde(default)]
    pub reprompt: Option<String>,
    /// Phrases that show the agent is in this stage, for flow scoring
    /// (default: the words of `say`).
    #[serde(default)]
    pub markers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Fires when the caller's turn expresses this intent.
    #[serde(default)]
    pub intent: Option<String>,
    /// Fires once all these slots are known (from this or earlier turns).
    #[serde(default)]
    pub slots: Vec<String>,
    /// Calls this tool (if the session declared it) before speaking.
    #[serde(default)]
    pub call: Option<ToolCallSpec>,
    /// Spoken after the call's result arrives (or at once without a call).
    #[serde(default)]
    pub say: Option<String>,
    /// Next stage id, or `end`. A template: may depend on `result`.
    #[serde(default)]
    pub goto: Option<String>,
    /// Hands the call to another agent file (by name, from the same folder)
    /// after the call's result; its first stage's `say` gets `summary`.
    #[serde(default)]
    pub handoff: Option<Handoff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCallSpec {
    pub tool: String,
    /// Argument templates over `slots` (values may be any JSON; strings are rendered).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub arguments: BTreeMap<String, Value>,
    /// Said instead when the session did not declare the tool.
    #[serde(default)]
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub agent: String,
    #[serde(default)]
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmulatorSettings {
    /// Caller utterances the agent recognises, by intent: keyword phrases.
    #[serde(default)]
    pub intents: BTreeMap<String, Vec<String>>,
    /// Facts the agent picks out of what the caller says.
    #[serde(default)]
    pub slots: BTreeMap<String, SlotSpec>,
    /// Intent transitions that apply in every stage, tried before the stage's own.
    #[serde(default)]
    pub anywhere: Vec<Transition>,
    /// Said when the agent could not understand the caller's audio.
    #[serde(default = "default_not_understood")]
    pub not_understood: String,
    #[serde(default)]
    pub latency: LatencySpec,
    /// Audio delivery: `burst` sends audio as fast as it is made (like the
    /// real service), `realtime` paces it at playback speed.
    #[serde(default)]
    pub pacing: AudioPacing,
    /// Size of each `output_audio.delta`, in ms of audio.
    #[serde(default = "default_chunk_ms")]
    pub chunk_ms: u32,
    /// With `pacing: realtime`: how many times faster than playback the
    /// audio is made (1: at playback speed). The real service runs ahead of
    /// playback, which is what gives guardrails time to act.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// How far ahead of its audio each word's transcript delta is sent (ms).
    #[serde(default)]
    pub transcript_lead_ms: u32,
    /// Reply text for out-of-band (`conversation: "none"`) responses.
    #[serde(default = "default_out_of_band")]
    pub out_of_band_reply: String,
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        EmulatorSettings {
            intents: BTreeMap::new(),
            slots: BTreeMap::new(),
            anywhere: Vec::new(),
            not_understood: default_not_understood(),
            latency: LatencySpec::default(),
            pacing: AudioPacing::default(),
            chunk_ms: default_chunk_ms(),
            speed: default_speed(),
            transcript_lead_ms: 0,
            out_of_band_reply: default_out_of_band(),
        }
    }
}

fn default_not_understood() -> String {
    "Sorry, I couldn't understand that. Could you say it again?".into()
}
fn default_chunk_ms() -> u32 {
    100
}
fn default_speed() -> f64 {
    1.0
}
fn default_out_of_band() -> String {
    "none".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioPacing {
    #[default]
    Burst,
    Realtime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// A regex matched in any turn; the first capture group (or the whole
    /// match) is the value. Usually names the slot (`zip code 97201`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// A regex for the value alone, tried only while a stage is waiting for
    /// this slot: a caller who was just asked answers with the bare value
    /// (`97201`, `9 7 2 0 1`).
    #[serde(default)]
    pub answer: Option<String>,
    /// Categorical values and the phrases that mean them.
    #[serde(default)]
    pub values: BTreeMap<String, Vec<String>>,
    /// Strip spaces and dashes and upper-case the value (for spoken ids).
    #[serde(default)]
    pub compact: bool,
}

/// Time from the end of the caller's turn to the agent's first audio: a
/// log-normal distribution given by its median and 90th percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    #[serde(default = "default_median")]
    pub median_ms: f64,
    #[serde(default = "default_p90")]
    pub p90_ms: f64,
}

fn default_median() -> f64 {
    450.0
}
fn default_p90() -> f64 {
    800.0
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec {
            median_ms: default_median(),
            p90_ms: default_p90(),
        }
    }
}

/// Where a transition sits in an agent file, for messages and locations.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    Stage {
        index: usize,
        id: &'a str,
        transition: usize,
    },
    Anywhere {
        transition: usize,
    },
}

impl Place<'_> {
    /// The path to `key` of this transition.
    fn path_to<'k>(&self, key: &'k str) -> Vec<Step<'k>> {
        match *self {
            Place::Stage {
                index, transition, ..
            } => vec![
                Step::Key("stages"),
                Step::Index(index),
                Step::Key("transitions"),
                Step::Index(transition),
                Step::Key(key),
            ],
            Place::Anywhere { transition } => vec![
                Step::Key("emulator"),
                Step::Key("anywhere"),
                Step::Index(transition),
                Step::Key(key),
            ],
        }
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Stage { id, .. } => write!(f, "stage `{id}`"),
            Place::Anywhere { .. } => f.write_str("anywhere"),
        }
    }
}

/// The model a Realtime agent runs on when its file names none.
pub const DEFAULT_MODEL: &str = "gpt-realtime";

impl AgentFile {
    /// The model this agent runs on (or, on the emulator, stands in for:
    /// its calls are priced as this model's, though nothing is charged).
    pub fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    pub fn load(path: &Path) -> Result<AgentFile, ConfigError> {
        let agent: AgentFile = load_yaml_file(path)?;
        agent.check(path)?;
        Ok(agent)
    }

    /// Cross-checks within the file: stage ids, tools and templates referenced.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let stage_ids: Vec<&str> = self.stages.iter().map(|s| s.id.as_str()).collect();
        let tool_names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
        if self.provider == ProviderKind::Emulator && self.stages.is_empty() {
            return Err(
                ConfigError::new(path, "an emulator agent needs at least one stage")
                    .with_hint("add `stages:` with an `id` and a `say` line"),
            );
        }
        if self.provider == ProviderKind::Custom && self.url.is_none() {
            return Err(ConfigError::new(path, "provider `custom` needs `url`")
                .with_hint("set `url: ws://host:port/v1/realtime`"));
        }
        self.turn_detection
            .check(path, &[Step::Key("turn_detection")])?;
        check_guardrails(&self.guardrails, path, &[Step::Key("guardrails")])?;
        if !(0.25..=100.0).contains(&self.emulator.speed) {
            return Err(ConfigError::new(
                path,
                format!(
                    "emulator.speed is {}, outside 0.25–100",
                    self.emulator.speed
                ),
            )
            .at_path(&[Step::Key("emulator"), Step::Key("speed")])
            .with_hint("how many times faster than playback audio is made; 1 is playback speed"));
        }
        for (name, variant) in &self.variants {
            if let Some(guardrails) = &variant.guardrails {
                check_guardrails(
                    guardrails,
                    path,
                    &[
                        Step::Key("variants"),
                        Step::Key(name),
                        Step::Key("guardrails"),
                    ],
                )?;
            }
            for stage in variant.stage_say.keys() {
                if !stage_ids.contains(&stage.as_str()) {
                    return Err(ConfigError::new(
                        path,
                        format!("variant `{name}`: `stage_say` names no stage `{stage}`"),
                    )
                    .at_path(&[
                        Step::Key("variants"),
                        Step::Key(name),
                        Step::Key("stage_say"),
                    ])
                    .suggest(stage, stage_ids.iter().copied()));
                }
            }
            if let Some(turns) = &variant.turn_detection {
                turns.check(
                    path,
                    &[
                        Step::Key("variants"),
                        Step::Key(name),
                        Step::Key("turn_detection"),
                    ],
                )?;
            }
        }
        // The prompt template must exist, stay in the project and render.
        self.render_instructions(path)?;
        let env = minijinja::Environment::new();
        for (place, t) in self.transitions() {
            let fail = |key: &str, what: String| {
                ConfigError::new(path, format!("{place}: {what}")).at_path(&place.path_to(key))
            };
            if let Some(call) = &t.call
                && !tool_names.contains(&call.tool.as_str())
            {
                return Err(fail("call", format!("unknown tool `{}`", call.tool))
                    .suggest(&call.tool, tool_names.iter().copied()));
            }
            if let Some(goto) = &t.goto
                && !goto.contains("{{")
                && goto != "end"
                && !stage_ids.contains(&goto.as_str())
            {
                return Err(fail("goto", format!("`goto: {goto}` names no stage"))
                    .suggest(goto, stage_ids.iter().copied()));
            }
            if let Some(intent) = &t.intent
                && !self.emulator.intents.contains_key(intent)
                && self.provider == ProviderKind::Emulator
            {
                return Err(fail("intent", format!("unknown intent `{intent}`"))
                    .suggest(intent, self.emulator.intents.keys().map(String::as_str))
                    .with_hint("declare it under `emulator.intents`"));
            }
            for slot in &t.slots {
                if !self.emulator.slots.contains_key(slot)
                    && self.provider == ProviderKind::Emulator
                {
                    return Err(fail("slots", format!("unknown slot `{slot}`"))
                        .suggest(slot, self.emulator.slots.keys().map(String::as_str))
                        .with_hint("declare it under `emulator.slots`"));
                }
            }
            for (key, text) in [("say", &t.say), ("goto", &t.goto)] {
                if let Some(text) = text
                    && let Err(e) = env.template_from_str(text)
                {
                    return Err(fail(
                        key,
                        format!("invalid template: {}", template_problem(&e)),
                    ));
                }
            }
        }
        for (name, slot) in &self.emulator.slots {
            for (key, pattern) in [("pattern", &slot.pattern), ("answer", &slot.answer)] {
                if let Some(p) = pattern
                    && let Err(e) = regex::Regex::new(p)
                {
                    let steps = [
                        Step::Key("emulator"),
                        Step::Key("slots"),
                        Step::Key(name),
                        Step::Key(key),
                    ];
                    return Err(ConfigError::new(
                        path,
                        format!(
                            "slot `{name}`: invalid regex: {}",
                            super::matcher::regex_problem(&e)
                        ),
                    )
                    .at_path(&steps));
                }
            }
        }
        // Each variant is an agent of its own: it must hold up too.
        for name in self.variants.keys() {
            let variant = self
                .with_variant(name)
                .map_err(|e| ConfigError::new(path, e))?;
            variant.check(path).map_err(|mut e| {
                e.message = format!("variant `{name}`: {}", e.message);
                if e.line.is_none() {
                    e = e.at_path(&[Step::Key("variants"), Step::Key(name)]);
                }
                e
            })?;
        }
        Ok(())
    }

    /// Every transition, with where it sits in the file.
    fn transitions(&self) -> impl Iterator<Item = (Place<'_>, &Transition)> {
        let staged = self.stages.iter().enumerate().flat_map(|(i, s)| {
            s.transitions.iter().enumerate().map(move |(j, t)| {
                (
                    Place::Stage {
                        index: i,
                        id: &s.id,
                        transition: j,
                    },
                    t,
                )
            })
        });
        let anywhere = self
            .emulator
            .anywhere
            .iter()
            .enumerate()
            .map(|(j, t)| (Place::Anywhere { transition: j }, t));
        staged.chain(anywhere)
    }

    /// This agent with a variant's overrides applied, named `name:variant`.
    pub fn with_variant(&self, variant: &str) -> Result<AgentFile, String> {
        let v = self.variants.get(variant).ok_or_else(|| {
            let known: Vec<&str> = self.variants.keys().map(String::as_str).collect();
            format!(
                "agent `{}` has no variant `{variant}` (variants: {})",
                self.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?;
        let mut out = self.clone();
        out.name = format!("{}:{variant}", self.name);
        out.variants.clear();
        if let Some(d) = &v.description {
            out.description = d.clone();
        }
        if let Some(m) = &v.model {
            out.model = Some(m.clone());
        }
        if let Some(i) = &v.instructions {
            out.instructions = Some(i.clone());
            out.instructions_template = None;
        }
        if let Some(t) = &v.instructions_template {
            out.instructions_template = Some(t.clone());
        }
        if let Some(voice) = &v.voice {
            out.voice = voice.clone();
        }
        if let Some(keep) = &v.tools {
            out.tools.retain(|t| keep.contains(&t.name));
        }
        if let Some(turns) = v.turn_detection {
            out.turn_detection = turns;
        }
        if let Some(guardrails) = &v.guardrails {
            out.guardrails = guardrails.clone();
        }
        if let Some(streaming) = v.emulator {
            let e = &mut out.emulator;
            e.pacing = streaming.pacing.unwrap_or(e.pacing);
            e.speed = streaming.speed.unwrap_or(e.speed);
            e.transcript_lead_ms = streaming.transcript_lead_ms.unwrap_or(e.transcript_lead_ms);
            e.chunk_ms = streaming.chunk_ms.unwrap_or(e.chunk_ms);
        }
        for stage in &mut out.stages {
            if let Some(say) = v.stage_say.get(&stage.id) {
                stage.say = Some(say.clone());
            }
        }
        Ok(out)
    }

    /// The session instructions: the rendered template, else `instructions`.
    pub fn render_instructions(&self, path: &Path) -> Result<String, ConfigError> {
        let Some(rel) = &self.instructions_template else {
            return Ok(self.instructions.clone().unwrap_or_default());
        };
        let template_path =
            super::load::resolve_inside(path, "instructions_template", &rel.to_string_lossy())?;
        let source = std::fs::read_to_string(&template_path)
            .map_err(|e| ConfigError::new(&template_path, format!("cannot read template: {e}")))?;
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let render = env
            .template_from_str(&source)
            .and_then(|t| t.render(minijinja::context! { agent => minijinja::Value::from(minijinja::value::Serde(self)) }));
        render.map_err(|e| {
            let mut err = ConfigError::new(&template_path, e.to_string());
            if let Some(line) = e.line() {
                err = err.at(line as u64, 1);
            }
            err
        })
    }

    pub fn tool_defs(&self) -> Vec<crate::protocol::ToolDef> {
        self.tools
            .iter()
            .map(|t| crate::protocol::ToolDef {
                kind: "function".into(),
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
                extra: Default::default(),
            })
            .collect()
    }
}
