//! Session configuration: one normalized [`SessionConfig`], read from either
//! wire shape (GA nested `audio.input/output`, beta flat fields) through
//! [`SessionPatch`], and written back in whichever dialect the peer speaks.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Dialect;
use super::error::ProtocolError;
use super::item::Extra;
use crate::audio::AudioFormat;

/// A function tool as declared in `session.tools` or `response.tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    #[serde(flatten)]
    pub extra: Extra,
}

fn function_type() -> String {
    "function".into()
}

fn empty_object_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetectionKind {
    ServerVad,
    SemanticVad,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnDetection {
    #[serde(rename = "type")]
    pub kind: TurnDetectionKind,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_prefix_padding")]
    pub prefix_padding_ms: u32,
    #[serde(default = "default_silence")]
    pub silence_duration_ms: u32,
    #[serde(default = "yes")]
    pub create_response: bool,
    #[serde(default = "yes")]
    pub interrupt_response: bool,
    #[serde(default)]
    pub idle_timeout_ms: Option<u32>,
    /// `semantic_vad` only: how soon it decides the caller has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eagerness: Option<Eagerness>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// How eagerly `semantic_vad` ends a caller's turn (`auto` is `medium`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eagerness {
    Low,
    Medium,
    High,
    #[default]
    Auto,
}

impl Eagerness {
    /// Silence after a finished sentence before `semantic_vad` ends the turn
    /// (the emulator's approximation), and the longest it waits after an
    /// unfinished one (the real service's documented maxima), in ms.
    pub fn waits_ms(self) -> (u32, u32) {
        match self {
            Eagerness::Low => (600, 8000),
            Eagerness::Medium | Eagerness::Auto => (400, 4000),
            Eagerness::High => (250, 2000),
        }
    }
}

impl TurnDetection {
    /// The shortest silence after a caller's words before this detector
    /// can end the turn.
    pub fn shortest_close_ms(&self) -> u32 {
        match self.kind {
            TurnDetectionKind::ServerVad => self.silence_duration_ms,
            TurnDetectionKind::SemanticVad => self.eagerness.unwrap_or_default().waits_ms().0,
        }
    }

    /// The longest silence after a caller's words before it ends the turn.
    pub fn longest_close_ms(&self) -> u32 {
        match self.kind {
            TurnDetectionKind::ServerVad => self.silence_duration_ms,
            TurnDetectionKind::SemanticVad => self.eagerness.unwrap_or_default().waits_ms().1,
        }
    }

    /// The wire form: `semantic_vad` carries no energy-VAD fields, as the
    /// real service reports it.
    pub fn to_wire(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if self.kind == TurnDetectionKind::SemanticVad
            && let Some(fields) = value.as_object_mut()
        {
            for key in [
                "threshold",
                "prefix_padding_ms",
                "silence_duration_ms",
                "idle_timeout_ms",
            ] {
                fields.remove(key);
            }
            fields
                .entry("eagerness")
                .or_insert_with(|| json!(Eagerness::Auto));
        }
        value
    }
}

fn default_threshold() -> f64 {
    0.5
}
fn default_prefix_padding() -> u32 {
    300
}
fn default_silence() -> u32 {
    200
}
fn yes() -> bool {
    true
}

impl Default for TurnDetection {
    fn default() -> Self {
        TurnDetection {
            kind: TurnDetectionKind::ServerVad,
            threshold: default_threshold(),
            prefix_padding_ms: default_prefix_padding(),
            silence_duration_ms: default_silence(),
            create_response: true,
            interrupt_response: true,
            idle_timeout_ms: None,
            eagerness: None,
            extra: Extra::new(),
        }
    }
}

/// GA `{"type":"audio/pcm","rate":24000}` and friends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatPatch {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioInputPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FormatPatch>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub transcription: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub noise_reduction: Option<Value>,
    /// `Some(None)` is an explicit `null`: manual turns.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "explicit_null"
    )]
    pub turn_detection: Option<Option<TurnDetection>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioOutputPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FormatPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<AudioInputPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<AudioOutputPatch>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A session object as it appears on the wire, GA or beta: every field
/// optional, so it serves `session.update` (a patch) and `session.created`
/// (a full object) alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionPatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub tool_choice: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub max_output_tokens: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub truncation: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub tracing: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub include: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub prompt: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub reasoning: Option<Value>,
    // Beta (flat) names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_audio_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_audio_format: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub input_audio_transcription: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub input_audio_noise_reduction: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "explicit_null"
    )]
    pub turn_detection: Option<Option<TurnDetection>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "keep_null"
    )]
    pub max_response_output_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A present `null` is `Some(Value::Null)` (it means "off"); absent is `None`.
fn keep_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
mod explicit_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

impl SessionPatch {
    /// Every field we do not know, as a dotted path (`session.bogus`), so the
    /// emulator can reject it the way the real service does.
    pub fn unknown_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = self.extra.keys().map(|k| format!("session.{k}")).collect();
        if let Some(audio) = &self.audio {
            out.extend(audio.extra.keys().map(|k| format!("session.audio.{k}")));
            if let Some(input) = &audio.input {
                out.extend(
                    input
                        .extra
                        .keys()
                        .map(|k| format!("session.audio.input.{k}")),
                );
                if let Some(Some(td)) = &input.turn_detection {
                    out.extend(
                        td.extra
                            .keys()
                            .map(|k| format!("session.audio.input.turn_detection.{k}")),
                    );
                }
            }
            if let Some(output) = &audio.output {
                out.extend(
                    output
                        .extra
                        .keys()
                        .map(|k| format!("session.audio.output.{k}")),
                );
            }
        }
        if let Some(Some(td)) = &self.turn_detection {
            out.extend(
                td.extra
                    .keys()
                    .map(|k| format!("session.turn_detection.{k}")),
            );
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Text,
    Audio,
}

/// The effective configuration of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub id: String,
    pub model: String,
    pub expires_at: i64,
    pub instructions: String,
    pub output_modalities: Vec<Modality>,
    pub input_format: AudioFormat,
    pub output_format: AudioFormat,
    pub transcription: Option<Value>,
    pub noise_reduction: Option<Value>,
    pub turn_detection: Option<TurnDetection>,
    pub voice: Value,
    pub speed: f64,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Value,
    pub max_output_tokens: Value,
    pub temperature: f64,
    pub truncation: Value,
    pub tracing: Value,
    pub include: Value,
    pub prompt: Value,
}

pub const DEFAULT_INSTRUCTIONS: &str = "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. Act like a human, but remember that you aren't a human and that you can't do human things in the real world.";

impl SessionConfig {
    pub fn new(id: String, model: String, expires_at: i64) -> Self {
        SessionConfig {
            id,
            model,
            expires_at,
            instructions: DEFAULT_INSTRUCTIONS.into(),
            output_modalities: vec![Modality::Audio],
            input_format: AudioFormat::Pcm16,
            output_format: AudioFormat::Pcm16,
            transcription: None,
            noise_reduction: None,
            turn_detection: Some(TurnDetection::default()),
            voice: json!("alloy"),
            speed: 1.0,
            tools: Vec::new(),
            tool_choice: json!("auto"),
            max_output_tokens: json!("inf"),
            temperature: 0.8,
            truncation: json!("auto"),
            tracing: Value::Null,
            include: Value::Null,
            prompt: Value::Null,
        }
    }

    /// Applies a patch atomically: either every field is valid and applied,
    /// or the config is unchanged and the first problem is returned, as the
    /// real service discards a whole update with one bad field.
    pub fn apply(&mut self, patch: &SessionPatch) -> Result<(), ProtocolError> {
        if let Some(path) = patch.unknown_fields().into_iter().next() {
            return Err(ProtocolError::unknown_parameter(&path));
        }
        let mut next = self.clone();
        if let Some(kind) = &patch.kind
            && kind != "realtime"
        {
            return Err(ProtocolError::invalid_value(
                "session.type",
                kind,
                "'realtime'",
            ));
        }
        if let Some(s) = &patch.instructions {
            next.instructions = s.clone();
        }
        let modalities = patch
            .output_modalities
            .as_ref()
            .or(patch.modalities.as_ref());
        if let Some(list) = modalities {
            let param = if patch.output_modalities.is_some() {
                "session.output_modalities"
            } else {
                "session.modalities"
            };
            next.output_modalities = parse_modalities(list, param)?;
        }
        if let Some(audio) = &patch.audio {
            if let Some(input) = &audio.input {
                if let Some(f) = &input.format {
                    next.input_format = parse_ga_format(f, "session.audio.input.format")?;
                }
                if let Some(t) = &input.transcription {
                    next.transcription = non_null(t);
                }
                if let Some(n) = &input.noise_reduction {
                    next.noise_reduction = non_null(n);
                }
                if let Some(td) = &input.turn_detection {
                    next.turn_detection =
                        validate_turn_detection(td.clone(), "session.audio.input.turn_detection")?;
                }
            }
            if let Some(output) = &audio.output {
                if let Some(f) = &output.format {
                    next.output_format = parse_ga_format(f, "session.audio.output.format")?;
                }
                if let Some(v) = &output.voice {
                    next.voice = v.clone();
                }
                if let Some(speed) = output.speed {
                    next.speed = validate_speed(speed, "session.audio.output.speed")?;
                }
            }
        }
        if let Some(f) = &patch.input_audio_format {
            next.input_format = parse_beta_format(f, "session.input_audio_format")?;
        }
        if let Some(f) = &patch.output_audio_format {
            next.output_format = parse_beta_format(f, "session.output_audio_format")?;
        }
        if let Some(t) = &patch.input_audio_transcription {
            next.transcription = non_null(t);
        }
        if let Some(n) = &patch.input_audio_noise_reduction {
            next.noise_reduction = non_null(n);
        }
        if let Some(td) = &patch.turn_detection {
            next.turn_detection = validate_turn_detection(td.clone(), "session.turn_detection")?;
        }
        if let Some(v) = &patch.voice {
            next.voice = v.clone();
        }
        if let Some(speed) = patch.speed {
            next.speed = validate_speed(speed, "session.speed")?;
        }
        if let Some(tools) = &patch.tools {
            for (i, tool) in tools.iter().enumerate() {
                if tool.kind != "function" {
                    return Err(ProtocolError::invalid_value(
                        &format!("session.tools[{i}].type"),
                        &tool.kind,
                        "'function'",
                    ));
                }
            }
            next.tools = tools.clone();
        }
        if let Some(c) = &patch.tool_choice {
            next.tool_choice = c.clone();
        }
        if let Some(m) = patch
            .max_output_tokens
            .as_ref()
            .or(patch.max_response_output_tokens.as_ref())
        {
            next.max_output_tokens = m.clone();
        }
        if let Some(t) = patch.temperature {
            next.temperature = t;
        }
        if let Some(t) = &patch.truncation {
            next.truncation = t.clone();
        }
        if let Some(t) = &patch.tracing {
            next.tracing = t.clone();
        }
        if let Some(t) = &patch.include {
            next.include = t.clone();
        }
        if let Some(t) = &patch.prompt {
            next.prompt = t.clone();
        }
        *self = next;
        Ok(())
    }

    /// The tool called `name`, if this session declared it.
    pub fn tool(&self, name: &str) -> Option<&ToolDef> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn voice_name(&self) -> String {
        match &self.voice {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("custom")
                .to_string(),
            other => other.to_string(),
        }
    }

    /// The full session object as `session.created`/`session.updated` carry it.
    pub fn to_wire(&self, dialect: Dialect) -> Value {
        let mut v = self.to_update(dialect);
        let obj = v.as_object_mut().expect("to_update builds an object");
        obj.insert("id".into(), json!(self.id));
        obj.insert("object".into(), json!("realtime.session"));
        obj.insert("model".into(), json!(self.model));
        obj.insert("expires_at".into(), json!(self.expires_at));
        v
    }

    /// The settable fields, as a `session.update` body in `dialect`.
    pub fn to_update(&self, dialect: Dialect) -> Value {
        let modalities: Vec<&str> = self
            .output_modalities
            .iter()
            .map(|m| match m {
                Modality::Text => "text",
                Modality::Audio => "audio",
            })
            .collect();
        let turn_detection = self
            .turn_detection
            .as_ref()
            .map_or(Value::Null, TurnDetection::to_wire);
        match dialect {
            Dialect::Ga => json!({
                "type": "realtime",
                "output_modalities": modalities,
                "instructions": self.instructions,
                "audio": {
                    "input": {
                        "format": self.input_format.ga_wire(),
                        "transcription": self.transcription,
                        "noise_reduction": self.noise_reduction,
                        "turn_detection": turn_detection,
                    },
                    "output": {
                        "format": self.output_format.ga_wire(),
                        "voice": self.voice,
                        "speed": self.speed,
                    }
                },
                "tools": self.tools,
                "tool_choice": self.tool_choice,
                "max_output_tokens": self.max_output_tokens,
                "truncation": self.truncation,
                "tracing": self.tracing,
                "include": self.include,
                "prompt": self.prompt,
            }),
            Dialect::Beta => {
                // Beta sessions always allow text beside audio.
                let beta_modalities: Vec<&str> =
                    if self.output_modalities.contains(&Modality::Audio) {
                        vec!["text", "audio"]
                    } else {
                        vec!["text"]
                    };
                json!({
                    "modalities": beta_modalities,
                    "instructions": self.instructions,
                    "voice": self.voice,
                    "input_audio_format": self.input_format.beta_wire(),
                    "output_audio_format": self.output_format.beta_wire(),
                    "input_audio_transcription": self.transcription,
                    "input_audio_noise_reduction": self.noise_reduction,
                    "turn_detection": turn_detection,
                    "tools": self.tools,
                    "tool_choice": self.tool_choice,
                    "temperature": self.temperature,
                    "max_response_output_tokens": self.max_output_tokens,
                    "speed": self.speed,
                })
            }
        }
    }
}

fn non_null(v: &Value) -> Option<Value> {
    (!v.is_null()).then(|| v.clone())
}

fn parse_modalities(list: &[String], param: &str) -> Result<Vec<Modality>, ProtocolError> {
    let mut out = Vec::new();
    for m in list {
        match m.as_str() {
            "text" => out.push(Modality::Text),
            "audio" => out.push(Modality::Audio),
            other => {
                return Err(ProtocolError::invalid_value(
                    param,
                    other,
                    "'text', 'audio'",
                ));
            }
        }
    }
    // Beta's ["text","audio"] means spoken output with a transcript.
    if out == [Modality::Text] {
        Ok(vec![Modality::Text])
    } else {
        Ok(vec![Modality::Audio])
    }
}

fn parse_ga_format(f: &FormatPatch, param: &str) -> Result<AudioFormat, ProtocolError> {
    if let Some(key) = f.extra.keys().next() {
        return Err(ProtocolError::unknown_parameter(&format!("{param}.{key}")));
    }
    let format = match f.kind.as_str() {
        "audio/pcm" => AudioFormat::Pcm16,
        "audio/pcmu" => AudioFormat::G711Ulaw,
        "audio/pcma" => AudioFormat::G711Alaw,
        other => {
            return Err(ProtocolError::invalid_value(
                &format!("{param}.type"),
                other,
                "'audio/pcm', 'audio/pcmu', 'audio/pcma'",
            ));
        }
    };
    if let Some(rate) = f.rate
        && rate != format.sample_rate()
    {
        let code = if rate < format.sample_rate() {
            "integer_below_min_value"
        } else {
            "integer_above_max_value"
        };
        let relation = if rate < format.sample_rate() {
            ">="
        } else {
            "<="
        };
        return Err(ProtocolError::new(
            code,
            &format!(
                "Invalid '{param}.rate': Expected a value {relation} {}, but got {rate} instead.",
                format.sample_rate()
            ),
            Some(&format!("{param}.rate")),
        ));
    }
    Ok(format)
}

fn parse_beta_format(f: &str, param: &str) -> Result<AudioFormat, ProtocolError> {
    match f {
        "pcm16" => Ok(AudioFormat::Pcm16),
        "g711_ulaw" => Ok(AudioFormat::G711Ulaw),
        "g711_alaw" => Ok(AudioFormat::G711Alaw),
        other => Err(ProtocolError::invalid_value(
            param,
            other,
            "'pcm16', 'g711_ulaw', 'g711_alaw'",
        )),
    }
}

fn validate_speed(speed: f64, param: &str) -> Result<f64, ProtocolError> {
    if (0.25..=1.5).contains(&speed) {
        Ok(speed)
    } else {
        Err(ProtocolError::new(
            "decimal_out_of_range",
            &format!(
                "Invalid '{param}': Expected a value between 0.25 and 1.5, but got {speed} instead."
            ),
            Some(param),
        ))
    }
}

fn validate_turn_detection(
    td: Option<TurnDetection>,
    param: &str,
) -> Result<Option<TurnDetection>, ProtocolError> {
    if let Some(t) = &td {
        if !(0.0..=1.0).contains(&t.threshold) {
            return Err(ProtocolError::new(
                "decimal_out_of_range",
                &format!(
                    "Invalid '{param}.threshold': Expected a value between 0 and 1, but got {} instead.",
                    t.threshold
                ),
                Some(&format!("{param}.threshold")),
            ));
        }
        if let Some(idle) = t.idle_timeout_ms
            && !(5000..=30000).contains(&idle)
        {
            return Err(ProtocolError::new(
                "integer_out_of_range",
                &format!(
                    "Invalid '{param}.idle_timeout_ms': Expected a value between 5000 and 30000, but got {idle} instead."
                ),
                Some(&format!("{param}.idle_timeout_ms")),
            ));
        }
    }
    Ok(td)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> SessionConfig {
        SessionConfig::new("sess_1".into(), "gpt-realtime".into(), 0)
    }

    #[test]
    fn ga_and_beta_patches_reach_the_same_config() {
        let ga: SessionPatch = serde_json::from_value(json!({
            "type": "realtime",
            "instructions": "be brief",
            "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": null},
                      "output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}}
        }))
        .unwrap();
        let beta: SessionPatch = serde_json::from_value(json!({
            "instructions": "be brief", "voice": "marin",
            "input_audio_format": "g711_ulaw", "output_audio_format": "pcm16",
            "turn_detection": null, "modalities": ["text", "audio"]
        }))
        .unwrap();
        let (mut a, mut b) = (fresh(), fresh());
        a.apply(&ga).unwrap();
        b.apply(&beta).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.input_format, AudioFormat::G711Ulaw);
        assert!(
            a.turn_detection.is_none(),
            "explicit null means manual turns"
        );
    }

    #[test]
    fn absent_turn_detection_keeps_server_vad() {
        let patch: SessionPatch = serde_json::from_value(json!({"instructions": "x"})).unwrap();
        let mut c = fresh();
        c.apply(&patch).unwrap();
        assert!(c.turn_detection.is_some());
    }

    #[test]
    fn one_bad_field_discards_the_whole_update() {
        let patch: SessionPatch = serde_json::from_value(json!({
            "instructions": "changed",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}
        }))
        .unwrap();
        let mut c = fresh();
        let err = c.apply(&patch).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("integer_below_min_value"));
        assert_eq!(
            err.param.as_deref(),
            Some("session.audio.input.format.rate")
        );
        assert_eq!(c.instructions, DEFAULT_INSTRUCTIONS);
    }

    #[test]
    fn unknown_nested_field_is_named_by_path() {
        let patch: SessionPatch = serde_json::from_value(json!({
            "audio": {"output": {"bogus": 1}}
        }))
        .unwrap();
        let err = fresh().apply(&patch).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("unknown_parameter"));
        assert_eq!(err.param.as_deref(), Some("session.audio.output.bogus"));
    }

    #[test]
    fn wire_forms_round_trip_through_patch() {
        let mut c = fresh();
        c.voice = json!("cedar");
        c.input_format = AudioFormat::G711Alaw;
        for dialect in [Dialect::Ga, Dialect::Beta] {
            let patch: SessionPatch = serde_json::from_value(c.to_wire(dialect)).unwrap();
            let mut back = fresh();
            back.apply(&SessionPatch {
                id: None,
                object: None,
                model: None,
                expires_at: None,
                ..patch
            })
            .unwrap();
            assert_eq!(back.voice, c.voice, "{dialect:?}");
            assert_eq!(back.input_format, c.input_format, "{dialect:?}");
        }
    }
}
