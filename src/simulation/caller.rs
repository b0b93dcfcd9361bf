//! Callers that think in text: the scripted (offline) caller and the chat
//! caller (an OpenAI-compatible chat endpoint). The bridge gives them voices.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::retry::{RetryPolicy, send_with_retries};
use futures_util::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::config::persona::PersonaFile;
use crate::config::scenario::{CallerScript, ScenarioFile};
use crate::realtime::Secret;
use crate::run_folder::{CallerUsage, Divergence, EndReason, UsageTotals};
use crate::text::{contains_phrase as mentions, normalise};

/// What the caller does after hearing the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum CallerMove {
    Say(String),
    /// Say a last line, then hang up.
    SayAndHangUp(String),
    HangUp,
}

/// When a caller that keeps its own time (a replayed recording) says its
/// next line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reaction {
    /// This many ms after the agent stops talking.
    After(f64),
    /// Over the agent: this many ms before its last words end.
    TalkOver(f64),
}

#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error("caller backend: {0}")]
    Backend(String),
}

pub trait TextCaller: Send {
    /// The next move after the agent said `agent_text` (empty: the agent said
    /// nothing), having waited `held_ms` since the caller last spoke.
    fn next<'a>(
        &'a mut self,
        agent_text: &'a str,
        held_ms: f64,
    ) -> BoxFuture<'a, Result<CallerMove, CallerError>>;
    fn goal_met(&self) -> bool;
    /// Why the caller hung up, once it has.
    fn end_reason(&self) -> Option<EndReason>;
    /// What the caller spent on a model, if it runs on one.
    fn usage(&self) -> Option<CallerUsage> {
        None
    }
    /// The timing of the line `next` just returned, for a caller that keeps
    /// its own (the persona's traits time the others).
    fn reaction(&self) -> Option<Reaction> {
        None
    }
    /// For a replayed caller whose recording stopped fitting: where.
    fn divergence(&self) -> Option<Divergence> {
        None
    }
}

const NOT_UNDERSTOOD: &[&str] = &[
    "couldn't understand",
    "didn't catch",
    "say that again",
    "say it again",
    "repeat that",
];
// Neutral on purpose: a filler must not read as a yes or a no.
const FILLERS: &[&str] = &["Um,", "Well,", "Hmm,", "Let me see,"];

/// The offline caller: answers from the scenario's rules and facts.
pub struct ScriptedCaller {
    script: CallerScript,
    facts: BTreeMap<String, String>,
    fired: BTreeSet<usize>,
    /// The rule that answered last, and how many times in a row.
    streak: Option<(usize, u32)>,
    opened: bool,
    last_said: Option<String>,
    unproductive: u32,
    patience_turns: u32,
    verbosity: f64,
    hold_tolerance_ms: f64,
    goal_met: bool,
    ended: Option<EndReason>,
    rng: StdRng,
}

impl ScriptedCaller {
    pub fn new(scenario: &ScenarioFile, persona: &PersonaFile, seed: u64) -> Self {
        ScriptedCaller {
            script: scenario.script.clone(),
            facts: scenario.facts.clone(),
            fired: BTreeSet::new(),
            streak: None,
            opened: false,
            last_said: None,
            unproductive: 0,
            patience_turns: persona.traits.patience_turns(),
            verbosity: persona.traits.verbosity,
            hold_tolerance_ms: persona.traits.hold_tolerance_s * 1000.0,
            goal_met: false,
            ended: None,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn render(&self, template: &str) -> String {
        let env = minijinja::Environment::new();
        env.render_str(
            template,
            minijinja::context! { facts => self.facts.clone() },
        )
        .unwrap_or_else(|_| template.to_string())
    }

    fn say(&mut self, line: String) -> CallerMove {
        self.last_said = Some(line.clone());
        CallerMove::Say(line)
    }

    fn decide(&mut self, agent_text: &str, held_ms: f64) -> CallerMove {
        let heard = normalise(agent_text);
        // A long hold costs patience and shows in the next line.
        let held_too_long = held_ms > self.hold_tolerance_ms;
        if held_too_long {
            self.unproductive += 1;
            if self.unproductive >= self.patience_turns {
                self.ended = Some(EndReason::PatienceExhausted);
                return CallerMove::SayAndHangUp(self.script.give_up.clone());
            }
        }
        let mv = self.decide_line(&heard);
        match mv {
            CallerMove::Say(line) if held_too_long => CallerMove::Say(format!("Finally. {line}")),
            other => other,
        }
    }

    fn decide_line(&mut self, heard: &str) -> CallerMove {
        let heard = heard.to_string();
        if self.script.hang_up_when.iter().any(|p| mentions(&heard, p)) {
            self.ended = Some(if self.goal_met {
                EndReason::GoalMet
            } else {
                EndReason::AgentEnded
            });
            return CallerMove::HangUp;
        }
        if !self.opened {
            self.opened = true;
            if let Some(opening) = self.script.opening.clone() {
                let line = self.render(&opening);
                return self.say(line);
            }
        }
        let rule = self
            .script
            .rules
            .iter()
            .enumerate()
            .find(|(i, r)| {
                !(r.once && self.fired.contains(i)) && r.when.iter().any(|p| mentions(&heard, p))
            })
            .map(|(i, r)| (i, r.clone()));
        if let Some((i, rule)) = rule {
            self.fired.insert(i);
            let run = match self.streak {
                Some((last, n)) if last == i => n + 1,
                _ => 1,
            };
            self.streak = Some((i, run));
            // Giving the same answer again and again is going nowhere.
            if run >= 3 {
                self.unproductive += 1;
                if self.unproductive >= self.patience_turns {
                    self.ended = Some(EndReason::PatienceExhausted);
                    return CallerMove::SayAndHangUp(self.script.give_up.clone());
                }
            } else {
                self.unproductive = 0;
            }
            self.goal_met |= rule.goal_met;
            let mut line = self.render(&rule.say);
            if self.rng.random_bool(self.verbosity.clamp(0.0, 1.0)) {
                let filler = FILLERS[self.rng.random_range(0..FILLERS.len())];
                line = format!("{filler} {line}");
            }
            if rule.hang_up {
                self.ended = Some(if self.goal_met {
                    EndReason::GoalMet
                } else {
                    EndReason::CallerHungUp
                });
                return CallerMove::SayAndHangUp(line);
            }
            return self.say(line);
        }
        self.unproductive += 1;
        if self.unproductive >= self.patience_turns {
            self.ended = Some(EndReason::PatienceExhausted);
            return CallerMove::SayAndHangUp(self.script.give_up.clone());
        }
        let misheard = NOT_UNDERSTOOD.iter().any(|p| mentions(&heard, p));
        match (misheard, self.last_said.clone()) {
            (true, Some(last)) => self.say(last),
            _ => {
                let line = self.script.fallback.clone();
                self.say(line)
            }
        }
    }
}

impl TextCaller for ScriptedCaller {
    fn next<'a>(
        &'a mut self,
        agent_text: &'a str,
        held_ms: f64,
    ) -> BoxFuture<'a, Result<CallerMove, CallerError>> {
        Box::pin(async move { Ok(self.decide(agent_text, held_ms)) })
    }

    fn goal_met(&self) -> bool {
        self.goal_met
    }

    fn end_reason(&self) -> Option<EndReason> {
        self.ended
    }
}

/// The caller's instructions for LLM-played drivers, from the persona and
/// the scenario (a built-in template unless the persona names one).
pub fn caller_instructions(
    persona: &PersonaFile,
    scenario: &ScenarioFile,
    template: Option<&str>,
) -> Result<String, String> {
    let source = template.unwrap_or(include_str!("prompts/caller.j2"));
    let env = minijinja::Environment::new();
    env.render_str(
        source,
        minijinja::context! {
            persona => minijinja::Value::from(minijinja::value::Serde(persona)),
            scenario => minijinja::Value::from(minijinja::value::Serde(scenario)),
        },
    )
    .map_err(|e| e.to_string())
}

const HANG_UP_MARK: &str = "[HANG UP]";

/// A caller whose lines come from an OpenAI-compatible chat endpoint.
pub struct ChatCaller {
    client: reqwest::Client,
    url: String,
    model: String,
    key: Option<Secret>,
    temperature: Option<f64>,
    seed: u64,
    messages: Vec<Value>,
    ended: Option<EndReason>,
    usage: UsageTotals,
}

impl ChatCaller {
    pub fn new(
        base_url: &str,
        model: &str,
        key: Option<Secret>,
        temperature: Option<f64>,
        instructions: String,
        seed: u64,
    ) -> Self {
        ChatCaller {
            client: crate::http::client(Duration::from_secs(60)),
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_string(),
            key,
            temperature,
            seed,
            messages: vec![json!({"role": "system", "content": instructions})],
            ended: None,
            usage: UsageTotals::default(),
        }
    }

    async fn complete(&mut self) -> Result<String, CallerError> {
        let mut body = json!({"model": self.model, "messages": self.messages, "seed": self.seed});
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        let build = || {
            let req = self.client.post(&self.url).json(&body);
            match &self.key {
                Some(k) => req.bearer_auth(k.expose()),
                None => req,
            }
        };
        let parse = |b: &[u8]| {
            let v: Value = serde_json::from_slice(b).map_err(|e| e.to_string())?;
            let content = v["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "the reply has no message content".to_string())?;
            let tokens = |k: &str| v["usage"][k].as_u64().unwrap_or(0);
            Ok::<_, String>((
                content,
                tokens("prompt_tokens"),
                tokens("completion_tokens"),
            ))
        };
        let (content, prompt, completion) =
            send_with_retries(&RetryPolicy::HTTP, "the chat endpoint", build, parse)
                .await
                .map_err(|e| CallerError::Backend(e.to_string()))?;
        self.usage.add_chat(prompt, completion);
        Ok(content)
    }
}

impl TextCaller for ChatCaller {
    fn next<'a>(
        &'a mut self,
        agent_text: &'a str,
        _held_ms: f64,
    ) -> BoxFuture<'a, Result<CallerMove, CallerError>> {
        Box::pin(async move {
            // From the caller model's point of view the agent is the "user".
            self.messages
                .push(json!({"role": "user", "content": agent_text}));
            let reply = self.complete().await?;
            self.messages
                .push(json!({"role": "assistant", "content": reply}));
            let hang_up = reply.contains(HANG_UP_MARK);
            let line = reply.replace(HANG_UP_MARK, "").trim().to_string();
            Ok(match (hang_up, line.is_empty()) {
                (true, true) => {
                    self.ended = Some(EndReason::CallerHungUp);
                    CallerMove::HangUp
                }
                (true, false) => {
                    self.ended = Some(EndReason::CallerHungUp);
                    CallerMove::SayAndHangUp(line)
                }
                (false, _) => CallerMove::Say(line),
            })
        })
    }

    fn goal_met(&self) -> bool {
        false
    }

    fn end_reason(&self) -> Option<EndReason> {
        self.ended
    }

    fn usage(&self) -> Option<CallerUsage> {
        Some(CallerUsage {
            model: self.model.clone(),
            usage: self.usage.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_yaml;
    use std::path::Path;

    fn caller(patience: f64) -> ScriptedCaller {
        let scenario: ScenarioFile = parse_yaml(
            Path::new("s.yaml"),
            r#"
id: s
persona: p
goal: return boots
facts: { order_id: "N W 1 0 4 2 2" }
script:
  opening: "Hi, I want to return some boots."
  rules:
    - when: ["order number"]
      say: "It's {{ facts.order_id }}."
    - when: ["anything else"]
      say: "No, that's all."
      goal_met: true
"#,
        )
        .unwrap();
        let mut persona: PersonaFile = parse_yaml(Path::new("p.yaml"), "name: p\n").unwrap();
        persona.traits.patience = patience;
        persona.traits.verbosity = 0.0;
        ScriptedCaller::new(&scenario, &persona, 1)
    }

    impl ScriptedCaller {
        fn decide_test(&mut self, agent: &str) -> CallerMove {
            self.decide(agent, 0.0)
        }
    }

    #[test]
    fn a_long_hold_costs_patience_and_shows() {
        let mut c = caller(0.5);
        c.decide_test("Hello");
        let mv = c.decide("What's your order number?", 60_000.0);
        assert_eq!(mv, CallerMove::Say("Finally. It's N W 1 0 4 2 2.".into()));
    }

    #[test]
    fn opens_answers_and_hangs_up_after_goodbye() {
        let mut c = caller(0.5);
        assert_eq!(
            c.decide_test("Thanks for calling, what's your order number?"),
            CallerMove::Say("Hi, I want to return some boots.".into())
        );
        assert_eq!(
            c.decide_test("Could I have your order number?"),
            CallerMove::Say("It's N W 1 0 4 2 2.".into())
        );
        assert_eq!(
            c.decide_test("Anything else?"),
            CallerMove::Say("No, that's all.".into())
        );
        assert!(c.goal_met());
        assert_eq!(
            c.decide_test("Thanks for calling, goodbye."),
            CallerMove::HangUp
        );
        assert_eq!(c.end_reason(), Some(EndReason::GoalMet));
    }

    #[test]
    fn repeats_when_not_understood_and_gives_up_when_patience_runs_out() {
        let mut c = caller(0.1); // two unproductive turns allowed
        c.decide_test("Hello");
        let said = c.decide_test("Sorry, I couldn't understand that.");
        assert_eq!(
            said,
            CallerMove::Say("Hi, I want to return some boots.".into())
        );
        assert!(matches!(c.decide_test("Hmm?"), CallerMove::SayAndHangUp(_)));
        assert_eq!(c.end_reason(), Some(EndReason::PatienceExhausted));
    }
}
