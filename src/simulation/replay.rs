//! The replay caller: a recorded caller's lines played back in order, each
//! when the agent says what the original agent said before it, after the
//! original caller's own reaction delay. An agent that skips a step is
//! followed (the lines in between are skipped); one that asks again hears
//! the same answer again; one whose words fit no remaining line ends the
//! call `diverged`, with the turn and what did not fit.

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use super::caller::{CallerError, CallerMove, Reaction, TextCaller};
use crate::audio::resample::resample_i16;
use crate::audio::wav::read_mono;
use crate::config::scenario::{ReplayScript, ReplayTurn};
use crate::run_folder::{Divergence, EndReason};
use crate::text::normalise;

/// A line said this many times over (the agent asking again each time)
/// without the conversation moving on ends the replay: the recording
/// cannot give the agent what it wants (a redacted number, say).
const MAX_REPEATS: u32 = 2;

pub struct ReplayCaller {
    turns: Vec<ReplayTurn>,
    min_similarity: f64,
    /// The first line not played yet.
    next: usize,
    /// The line played last (an agent asking again hears it again), and
    /// how many times in a row.
    last: Option<usize>,
    repeats: u32,
    agent_turns: u32,
    reaction: Option<Reaction>,
    ended: Option<EndReason>,
    divergence: Option<Divergence>,
}

impl ReplayCaller {
    pub fn new(script: &ReplayScript) -> ReplayCaller {
        ReplayCaller {
            turns: script.turns.clone(),
            min_similarity: script.min_similarity,
            next: 0,
            last: None,
            repeats: 0,
            agent_turns: 0,
            reaction: None,
            ended: None,
            divergence: None,
        }
    }

    /// The line that answers `agent_text`: the best fitting of the lines not
    /// played yet and the one played last, or the divergence.
    fn pick(&self, agent_text: &str) -> Result<usize, Divergence> {
        let candidates = self.last.into_iter().chain(self.next..self.turns.len());
        let mut best: Option<(usize, f64)> = None;
        for i in candidates {
            let turn = &self.turns[i];
            // The caller spoke first in the recording: nothing to match, and
            // an agent that greets first is answered with the opening line.
            let score = if turn.after.trim().is_empty() {
                let opening = i == 0 && self.last.is_none();
                if opening || agent_text.trim().is_empty() {
                    1.0
                } else {
                    0.0
                }
            } else {
                similarity(agent_text, &turn.after)
            };
            // Ties go to the earlier line in the recording.
            if best.is_none_or(|(_, b)| score > b + 1e-9) {
                best = Some((i, score));
            }
        }
        match best {
            Some((i, _)) if Some(i) == self.last && self.repeats >= MAX_REPEATS => {
                Err(Divergence {
                    turn: self.agent_turns,
                    reason: format!(
                        "the agent asked for the same recorded line {} times in a row without moving on",
                        self.repeats + 1
                    ),
                    heard: agent_text.to_string(),
                    closest: self.turns[i].after.clone(),
                    similarity: best.map_or(0.0, |(_, s)| s),
                    threshold: self.min_similarity,
                })
            }
            Some((i, score)) if score >= self.min_similarity => Ok(i),
            other => Err(Divergence {
                turn: self.agent_turns,
                reason: "no recorded line fits what the agent said".into(),
                heard: agent_text.to_string(),
                closest: other
                    .map(|(i, _)| self.turns[i].after.clone())
                    .unwrap_or_default(),
                similarity: other.map_or(0.0, |(_, s)| s),
                threshold: self.min_similarity,
            }),
        }
    }
}

/// How alike two things an agent said are, 0–1: the better of the whole
/// texts and their last sentences (the question a caller answers),
/// compared as character bigrams of their normalised words (Sørensen–Dice).
pub fn similarity(a: &str, b: &str) -> f64 {
    let whole = strsim::sorensen_dice(normalise(a).trim(), normalise(b).trim());
    let last = strsim::sorensen_dice(
        normalise(last_sentence(a)).trim(),
        normalise(last_sentence(b)).trim(),
    );
    whole.max(last)
}

fn last_sentence(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_whitespace() || ".?!".contains(c))
        .rsplit(['.', '?', '!'])
        .next()
        .unwrap_or(text)
}

impl TextCaller for ReplayCaller {
    fn next<'a>(
        &'a mut self,
        agent_text: &'a str,
        _held_ms: f64,
    ) -> BoxFuture<'a, Result<CallerMove, CallerError>> {
        Box::pin(async move {
            self.agent_turns += 1;
            if self.next >= self.turns.len() && self.ended.is_none() {
                // Every line was said and the agent has answered the last.
                self.ended = Some(EndReason::CallerHungUp);
                return Ok(CallerMove::HangUp);
            }
            match self.pick(agent_text) {
                Ok(i) => {
                    self.repeats = if self.last == Some(i) {
                        self.repeats + 1
                    } else {
                        0
                    };
                    self.next = self.next.max(i + 1);
                    self.last = Some(i);
                    let reaction_ms = self.turns[i].reaction_ms;
                    self.reaction = Some(if reaction_ms < 0.0 {
                        Reaction::TalkOver(-reaction_ms)
                    } else {
                        Reaction::After(reaction_ms)
                    });
                    Ok(CallerMove::Say(self.turns[i].say.clone()))
                }
                Err(divergence) => {
                    self.divergence = Some(divergence);
                    self.ended = Some(EndReason::Diverged);
                    Ok(CallerMove::HangUp)
                }
            }
        })
    }

    fn goal_met(&self) -> bool {
        // The recording played to its end.
        self.next >= self.turns.len() && self.divergence.is_none()
    }

    fn end_reason(&self) -> Option<EndReason> {
        self.ended
    }

    fn reaction(&self) -> Option<Reaction> {
        self.reaction
    }

    fn divergence(&self) -> Option<Divergence> {
        self.divergence.clone()
    }
}

/// The recorded audio of each line, by its words, cut from the replay's
/// audio file at 24 kHz. Empty without audio (the persona's voice speaks).
pub fn recorded_lines(script: &ReplayScript) -> Result<BTreeMap<String, Vec<i16>>, String> {
    let Some(path) = &script.audio_path else {
        return Ok(BTreeMap::new());
    };
    let (samples, rate) =
        read_mono(path).map_err(|e| format!("replay audio {}: {e}", path.display()))?;
    let samples = resample_i16(&samples, rate, 24_000);
    let at = |ms: f64| ((ms.max(0.0) * 24.0) as usize).min(samples.len());
    Ok(script
        .turns
        .iter()
        .filter_map(|t| {
            let (start, end) = (at(t.start_ms?), at(t.end_ms?));
            (end > start).then(|| (t.say.clone(), samples[start..end].to_vec()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(after: &str, say: &str) -> ReplayTurn {
        ReplayTurn {
            after: after.into(),
            say: say.into(),
            start_ms: None,
            end_ms: None,
            reaction_ms: 400.0,
        }
    }

    fn caller() -> ReplayCaller {
        ReplayCaller::new(&ReplayScript {
            audio: None,
            audio_path: None,
            min_similarity: 0.5,
            turns: vec![
                turn(
                    "Thanks for calling. What's your order number?",
                    "It's N W 1 2 3.",
                ),
                turn(
                    "Found it. Can you confirm the zip code on the order?",
                    "Nine four one oh seven.",
                ),
                turn(
                    "Thanks. What's the reason for the return?",
                    "The tent leaks.",
                ),
            ],
        })
    }

    fn say(c: &mut ReplayCaller, agent: &str) -> CallerMove {
        futures_util::FutureExt::now_or_never(c.next(agent, 0.0))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn lines_follow_the_agent_skipping_what_it_skipped() {
        let mut c = caller();
        assert_eq!(
            say(
                &mut c,
                "Hello, thanks for calling! What is your order number?"
            ),
            CallerMove::Say("It's N W 1 2 3.".into())
        );
        assert_eq!(c.reaction(), Some(Reaction::After(400.0)));
        // The agent asked again: the same answer.
        assert_eq!(
            say(&mut c, "Sorry, what's your order number?"),
            CallerMove::Say("It's N W 1 2 3.".into())
        );
        // It skipped the zip code and asks for the reason.
        assert_eq!(
            say(
                &mut c,
                "Found your order. What's the reason for the return?"
            ),
            CallerMove::Say("The tent leaks.".into())
        );
        assert!(c.goal_met());
        assert_eq!(
            say(&mut c, "Your refund is on its way. Goodbye."),
            CallerMove::HangUp
        );
        assert_eq!(c.end_reason(), Some(EndReason::CallerHungUp));
    }

    #[test]
    fn an_agent_that_fits_no_line_ends_the_replay_diverged() {
        let mut c = caller();
        say(&mut c, "Thanks for calling. What's your order number?");
        assert_eq!(
            say(
                &mut c,
                "Would you like to hear about our loyalty programme?"
            ),
            CallerMove::HangUp
        );
        assert_eq!(c.end_reason(), Some(EndReason::Diverged));
        let d = c.divergence().unwrap();
        assert_eq!(d.turn, 2);
        assert!(d.similarity < 0.5, "{d:?}");
        assert!(!c.goal_met());
    }

    #[test]
    fn an_agent_asking_for_the_same_line_over_and_over_ends_it() {
        let mut c = caller();
        for _ in 0..3 {
            assert_eq!(
                say(&mut c, "What's your order number?"),
                CallerMove::Say("It's N W 1 2 3.".into())
            );
        }
        assert_eq!(say(&mut c, "What's your order number?"), CallerMove::HangUp);
        let d = c.divergence().unwrap();
        assert_eq!(d.turn, 4);
        assert!(d.reason.contains("3 times"), "{d:?}");
    }
}
