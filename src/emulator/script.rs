//! The scripted agent: a stage machine over what the caller said.
//!
//! Each caller turn updates the known slots (order id, zip code, …) and the
//! intents it expresses; the first matching transition of the current stage
//! (after the agent-wide `anywhere` ones) decides what to say, which tool to
//! call and where to go next. A tool call suspends the script until its
//! `function_call_output` arrives, as a real model waits for tool results.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Value, json};

use super::tool_output::ToolOutput;
use crate::config::agent::{AgentFile, ProviderKind, SlotSpec, Transition};
use crate::config::{ConfigError, load_yaml_file};
use crate::text::{contains_phrase, normalise};

/// An agent file with its patterns compiled.
#[derive(Debug)]
pub struct CompiledAgent {
    pub file: AgentFile,
    slot_patterns: HashMap<String, Regex>,
    /// Slots' bare-answer patterns, tried when a stage is waiting for them.
    answer_patterns: HashMap<String, Regex>,
}

impl CompiledAgent {
    pub fn new(file: AgentFile) -> Result<Self, regex::Error> {
        let mut slot_patterns = HashMap::new();
        let mut answer_patterns = HashMap::new();
        for (name, spec) in &file.emulator.slots {
            if let Some(p) = &spec.pattern {
                slot_patterns.insert(name.clone(), Regex::new(p)?);
            }
            if let Some(p) = &spec.answer {
                answer_patterns.insert(name.clone(), Regex::new(p)?);
            }
        }
        Ok(CompiledAgent {
            file,
            slot_patterns,
            answer_patterns,
        })
    }

    /// Fills every slot the caller's words name. A slot the current stage
    /// is waiting for (`awaited`) may also be filled by a bare answer: the
    /// value alone, as people answer a question they were just asked ("97201"
    /// after "what's your zip code?").
    fn extract_slots(&self, text: &str, awaited: &[String], slots: &mut BTreeMap<String, String>) {
        let lower = normalise(text);
        for (name, spec) in &self.file.emulator.slots {
            let value = self
                .slot_patterns
                .get(name)
                .and_then(|re| capture(re, text))
                .or_else(|| {
                    let asked = awaited.contains(name) && !slots.contains_key(name);
                    asked.then(|| capture(self.answer_patterns.get(name)?, text))?
                })
                .map(|m| {
                    if spec.compact {
                        compact(m)
                    } else {
                        m.to_string()
                    }
                })
                .or_else(|| categorical(spec, &lower));
            if let Some(value) = value {
                slots.insert(name.clone(), value);
            }
        }
    }

    fn intents(&self, text: &str) -> Vec<&str> {
        let lower = normalise(text);
        self.file
            .emulator
            .intents
            .iter()
            .filter(|(_, phrases)| phrases.iter().any(|p| contains_phrase(&lower, p)))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// The first capture group of `re` in `text` (or the whole match).
fn capture<'t>(re: &Regex, text: &'t str) -> Option<&'t str> {
    let caps = re.captures(text)?;
    Some(caps.get(1).or_else(|| caps.get(0))?.as_str())
}

/// A spoken id as written: spaces and dashes gone, upper case.
fn compact(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

/// The categorical value whose phrases the (normalised) text contains.
fn categorical(spec: &SlotSpec, lower: &str) -> Option<String> {
    spec.values
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains_phrase(lower, p)))
        .map(|(value, _)| value.clone())
}

/// Every emulator agent in a folder, by name, for handoffs.
#[derive(Debug, Default)]
pub struct AgentRegistry {
    agents: HashMap<String, Arc<CompiledAgent>>,
}

impl AgentRegistry {
    /// Loads `primary` and every other emulator agent in its folder.
    pub fn load(primary: &Path) -> Result<(Self, Arc<CompiledAgent>), ConfigError> {
        let file = AgentFile::load(primary)?;
        let main = Arc::new(compile(primary, file)?);
        let mut agents = HashMap::new();
        agents.insert(main.file.name.clone(), main.clone());
        let dir = primary.parent().unwrap_or(Path::new("."));
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if path == primary || path.extension().is_none_or(|e| e != "yaml" && e != "yml") {
                    continue;
                }
                // Siblings are only needed for handoffs; one that does not load
                // is reported when a handoff names it, not here.
                let Ok(sibling) = load_yaml_file::<AgentFile>(&path) else {
                    continue;
                };
                if sibling.provider == ProviderKind::Emulator
                    && !agents.contains_key(&sibling.name)
                    && sibling.check(&path).is_ok()
                {
                    agents.insert(sibling.name.clone(), Arc::new(compile(&path, sibling)?));
                }
            }
        }
        Ok((AgentRegistry { agents }, main))
    }

    pub fn single(agent: Arc<CompiledAgent>) -> Self {
        let mut agents = HashMap::new();
        agents.insert(agent.file.name.clone(), agent);
        AgentRegistry { agents }
    }

    /// Adds (or replaces, by name) an agent, e.g. a variant of the primary.
    pub fn with_agent(mut self, agent: Arc<CompiledAgent>) -> Self {
        self.agents.insert(agent.file.name.clone(), agent);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<CompiledAgent>> {
        self.agents.get(name).cloned()
    }
}

fn compile(path: &Path, file: AgentFile) -> Result<CompiledAgent, ConfigError> {
    CompiledAgent::new(file).map_err(|e| ConfigError::new(path, format!("invalid regex: {e}")))
}

/// What the caller's side contributed since the agent last spoke.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnInput {
    /// Nothing yet: the agent opens the call.
    Opening,
    /// The caller said this.
    Caller(String),
    /// The caller spoke but the words could not be made out.
    NotUnderstood,
    /// A tool result for the call the agent is waiting on.
    ToolOutput { call_id: String, output: String },
    /// A response was requested with nothing new to respond to.
    Nothing,
}

/// What the agent does in one response.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Say(String),
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
}

#[derive(Debug, Clone)]
struct PendingCall {
    call_id: String,
    transition: Transition,
}

/// One conversation's progress through the script.
#[derive(Debug)]
pub struct ScriptState {
    agent: Arc<CompiledAgent>,
    stage: usize,
    pub slots: BTreeMap<String, String>,
    pending: Option<PendingCall>,
    pub ended: bool,
    summary: Option<String>,
    calls_made: u32,
}

impl ScriptState {
    pub fn new(agent: Arc<CompiledAgent>) -> Self {
        ScriptState {
            agent,
            stage: 0,
            slots: BTreeMap::new(),
            pending: None,
            ended: false,
            summary: None,
            calls_made: 0,
        }
    }

    pub fn agent_name(&self) -> &str {
        &self.agent.file.name
    }

    #[cfg(test)]
    pub fn stage_id(&self) -> &str {
        self.agent
            .file
            .stages
            .get(self.stage)
            .map(|s| s.id.as_str())
            .unwrap_or("end")
    }

    pub fn waiting_for(&self) -> Option<&str> {
        self.pending.as_ref().map(|p| p.call_id.as_str())
    }

    /// Decides the next reply. `declared` tells whether the session declared a
    /// tool: a model can only call tools it was given.
    pub fn respond(
        &mut self,
        input: TurnInput,
        declared: &dyn Fn(&str) -> bool,
        registry: &AgentRegistry,
    ) -> Reply {
        match input {
            TurnInput::Opening => Reply::Say(self.stage_entry_line().unwrap_or_default()),
            TurnInput::NotUnderstood => Reply::Say(self.agent.file.emulator.not_understood.clone()),
            TurnInput::Nothing => Reply::Say(self.reprompt()),
            TurnInput::ToolOutput { call_id, output } => {
                match self.pending.take() {
                    Some(p) if p.call_id == call_id => {
                        let result = ToolOutput::read(&output);
                        if let ToolOutput::Unreadable(text) = &result {
                            tracing::warn!(
                                call_id = %call_id,
                                tool = p.transition.call.as_ref().map_or("", |c| c.tool.as_str()),
                                output = %text.chars().take(200).collect::<String>(),
                                "the tool's output is neither JSON nor a Python literal; the agent reads it as plain text"
                            );
                        }
                        Reply::Say(self.finish(&p.transition, result.into_value(), registry))
                    }
                    // A result for a call we are not waiting on: keep waiting.
                    other => {
                        self.pending = other;
                        Reply::Say(self.reprompt())
                    }
                }
            }
            TurnInput::Caller(text) => self.on_caller(&text, declared, registry),
        }
    }

    fn on_caller(
        &mut self,
        text: &str,
        declared: &dyn Fn(&str) -> bool,
        registry: &AgentRegistry,
    ) -> Reply {
        let agent = self.agent.clone();
        let stage = agent.file.stages.get(self.stage);
        let awaited: Vec<String> = stage
            .iter()
            .flat_map(|s| s.transitions.iter().flat_map(|t| t.slots.iter().cloned()))
            .collect();
        agent.extract_slots(text, &awaited, &mut self.slots);
        let intents = agent.intents(text);
        let stage_transitions = stage.map(|s| s.transitions.as_slice()).unwrap_or(&[]);
        let chosen = agent
            .file
            .emulator
            .anywhere
            .iter()
            .filter(|t| t.intent.is_some())
            .chain(stage_transitions)
            .find(|t| self.fires(t, &intents))
            .cloned();
        let Some(transition) = chosen else {
            return Reply::Say(self.reprompt());
        };
        if let Some(call) = &transition.call {
            if !declared(&call.tool) {
                return Reply::Say(
                    call.unavailable.clone().unwrap_or_else(|| {
                        "I'm sorry, I can't access that system right now.".into()
                    }),
                );
            }
            self.calls_made += 1;
            let call_id = format!("call_{}_{}", self.agent.file.name, self.calls_made);
            let arguments = self.render_arguments(&call.arguments);
            self.pending = Some(PendingCall {
                call_id: call_id.clone(),
                transition: transition.clone(),
            });
            return Reply::Call {
                call_id,
                name: call.tool.clone(),
                arguments,
            };
        }
        Reply::Say(self.finish(&transition, Value::Null, registry))
    }

    fn fires(&self, t: &Transition, intents: &[&str]) -> bool {
        let intent_ok = t.intent.as_deref().is_none_or(|i| intents.contains(&i));
        let slots_ok = t.slots.iter().all(|s| self.slots.contains_key(s));
        intent_ok && slots_ok
    }

    /// Completes a transition: speaks, moves to the next stage, hands off.
    fn finish(&mut self, t: &Transition, result: Value, registry: &AgentRegistry) -> String {
        let mut lines = Vec::new();
        if let Some(say) = &t.say {
            lines.push(self.render(say, &result));
        }
        if let Some(handoff) = &t.handoff {
            let summary = handoff
                .summary
                .as_ref()
                .map(|s| self.render(s, &result))
                .unwrap_or_default();
            match registry.get(&handoff.agent) {
                Some(next) => {
                    self.agent = next;
                    self.stage = 0;
                    self.summary = Some(summary);
                    if let Some(line) = self.stage_entry_line() {
                        lines.push(line);
                    }
                }
                None => lines.push("I'm sorry, I can't transfer you right now.".into()),
            }
            return lines.join(" ");
        }
        if let Some(goto) = &t.goto {
            let target = self.render(goto, &result);
            let target = target.trim();
            if target == "end" {
                self.ended = true;
            } else if let Some(i) = self.agent.file.stages.iter().position(|s| s.id == target) {
                let changed = i != self.stage;
                self.stage = i;
                if changed && let Some(line) = self.stage_entry_line() {
                    lines.push(line);
                }
            }
        }
        lines.join(" ")
    }

    fn stage_entry_line(&self) -> Option<String> {
        let say = self.agent.file.stages.get(self.stage)?.say.as_ref()?;
        Some(self.render(say, &Value::Null))
    }

    fn reprompt(&self) -> String {
        let stage = self.agent.file.stages.get(self.stage);
        match stage.and_then(|s| s.reprompt.as_ref().or(s.say.as_ref())) {
            Some(line) => self.render(line, &Value::Null),
            None => "Sorry, could you repeat that?".into(),
        }
    }

    fn context(&self, result: &Value) -> minijinja::Value {
        minijinja::context! {
            slots => self.slots.clone(),
            result => minijinja::Value::from(minijinja::value::Serde(result)),
            summary => self.summary.clone().unwrap_or_default(),
            agent => self.agent.file.name.clone(),
        }
    }

    /// Renders a script template. Scripts are checked when loaded, so a failure
    /// here is a runtime value problem; the raw line is said rather than nothing.
    fn render(&self, template: &str, result: &Value) -> String {
        let env = minijinja::Environment::new();
        env.render_str(template, self.context(result))
            .unwrap_or_else(|_| template.to_string())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn render_arguments(&self, args: &BTreeMap<String, Value>) -> String {
        let rendered: serde_json::Map<String, Value> = args
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => json!(self.render(s, &Value::Null)),
                    other => other.clone(),
                };
                (k.clone(), value)
            })
            .collect();
        Value::Object(rendered).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_yaml;

    const AGENT: &str = r#"
name: shop
provider: emulator
tools:
  - name: lookup_order
stages:
  - id: greeting
    say: "Hi. What's your order number?"
    reprompt: "Could you give me the order number?"
    transitions:
      - slots: [order_id]
        call: { tool: lookup_order, arguments: { order_id: "{{ slots.order_id }}" } }
        say: "I found your {{ result.item }}."
        goto: "{{ 'done' if result.item else 'greeting' }}"
  - id: done
    say: "Anything else?"
    transitions:
      - intent: no
        say: "Goodbye."
        goto: end
emulator:
  intents:
    no: ["no", "that's all"]
    human: ["a human"]
  slots:
    order_id: { pattern: '(?i)\b(N\s*W[\s-]*\d{4,6})\b', compact: true }
  anywhere:
    - intent: human
      say: "Transferring you."
      goto: end
"#;

    fn state() -> (ScriptState, AgentRegistry) {
        let file: AgentFile = parse_yaml(Path::new("shop.yaml"), AGENT).unwrap();
        file.check(Path::new("shop.yaml")).unwrap();
        let agent = Arc::new(CompiledAgent::new(file).unwrap());
        (
            ScriptState::new(agent.clone()),
            AgentRegistry::single(agent),
        )
    }

    #[test]
    fn tool_call_waits_for_its_output_then_moves_on() {
        let (mut s, reg) = state();
        let all = |_: &str| true;
        assert_eq!(
            s.respond(TurnInput::Opening, &all, &reg),
            Reply::Say("Hi. What's your order number?".into())
        );
        let reply = s.respond(TurnInput::Caller("it's nw-10422 thanks".into()), &all, &reg);
        let Reply::Call {
            call_id,
            name,
            arguments,
        } = reply
        else {
            panic!("expected a call, got {reply:?}");
        };
        assert_eq!(name, "lookup_order");
        assert_eq!(arguments, r#"{"order_id":"NW10422"}"#);
        assert_eq!(s.waiting_for(), Some(call_id.as_str()));
        let reply = s.respond(
            TurnInput::ToolOutput {
                call_id,
                output: r#"{"item":"boots"}"#.into(),
            },
            &all,
            &reg,
        );
        assert_eq!(
            reply,
            Reply::Say("I found your boots. Anything else?".into())
        );
        assert_eq!(s.stage_id(), "done");
        assert_eq!(
            s.respond(TurnInput::Caller("No, that's all.".into()), &all, &reg),
            Reply::Say("Goodbye.".into())
        );
        assert!(s.ended);
    }

    #[test]
    fn undeclared_tool_is_not_called() {
        let (mut s, reg) = state();
        let none = |_: &str| false;
        let reply = s.respond(TurnInput::Caller("order NW 10422".into()), &none, &reg);
        assert!(
            matches!(reply, Reply::Say(ref t) if t.contains("can't access")),
            "{reply:?}"
        );
        assert_eq!(s.waiting_for(), None);
    }

    #[test]
    fn unmatched_turn_reprompts_and_anywhere_intents_win() {
        let (mut s, reg) = state();
        let all = |_: &str| true;
        assert_eq!(
            s.respond(TurnInput::Caller("hello there".into()), &all, &reg),
            Reply::Say("Could you give me the order number?".into())
        );
        assert_eq!(
            s.respond(
                TurnInput::Caller("I want a human, order NW10422".into()),
                &all,
                &reg
            ),
            Reply::Say("Transferring you.".into())
        );
    }

    /// The bundled support agent, as third-party clients meet it.
    fn support() -> (ScriptState, AgentRegistry) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/support.yaml");
        let (registry, agent) = AgentRegistry::load(&path).unwrap();
        (ScriptState::new(agent), registry)
    }

    fn call(reply: Reply) -> (String, String, String) {
        match reply {
            Reply::Call {
                call_id,
                name,
                arguments,
            } => (call_id, name, arguments),
            other => panic!("expected a tool call, got {other:?}"),
        }
    }

    #[test]
    fn python_literal_outputs_are_understood_and_bare_answers_fill_the_awaited_slot() {
        let (mut s, reg) = support();
        let all = |_: &str| true;
        s.respond(TurnInput::Opening, &all, &reg);
        // A zip code said before it is asked for is not taken for one.
        s.respond(TurnInput::Caller("97201".into()), &all, &reg);
        let (id, name, _) = call(s.respond(
            TurnInput::Caller("My order number is N W 1 0 4 2 2.".into()),
            &all,
            &reg,
        ));
        assert_eq!(name, "lookup_order");
        // What LiveKit Agents sends for a Python tool that returns a dict.
        let output = "{'found': True, 'item': 'a pair of trail boots'}".to_string();
        let reply = s.respond(
            TurnInput::ToolOutput {
                call_id: id,
                output,
            },
            &all,
            &reg,
        );
        let Reply::Say(text) = reply else {
            panic!("{reply:?}")
        };
        assert!(text.contains("a pair of trail boots"), "{text}");
        assert!(text.contains("zip code"), "{text}");
        for answer in ["97201", "9 7 2 0 1", "It's 97201.", "Sure, 9 7 2 0 1."] {
            let (mut s, reg) = support();
            s.respond(TurnInput::Opening, &all, &reg);
            let (id, _, _) = call(s.respond(TurnInput::Caller("NW10422".into()), &all, &reg));
            let found = r#"{"found": true, "item": "boots"}"#.to_string();
            s.respond(
                TurnInput::ToolOutput {
                    call_id: id,
                    output: found,
                },
                &all,
                &reg,
            );
            let (_, name, arguments) =
                call(s.respond(TurnInput::Caller(answer.into()), &all, &reg));
            assert_eq!(name, "verify_identity", "{answer}");
            assert!(
                arguments.contains(r#""zip_code":"97201""#),
                "{answer}: {arguments}"
            );
        }
    }

    #[test]
    fn words_match_on_boundaries_only() {
        assert!(contains_phrase(&normalise("No, thanks!"), "no"));
        assert!(!contains_phrase(&normalise("I know the number"), "no"));
    }
}
