//! The emulator's turn detection: when the caller has started and finished
//! a turn.
//!
//! `server_vad` is the energy VAD with the session's silence window, as the
//! real service's is. `semantic_vad` is, on the real service, a model that
//! judges from the words whether the caller has finished. The emulator
//! approximates it with its own ears: a sound starts a turn only once what
//! was heard is words (a cough, or an "mm-hmm" while the agent talks, is
//! not a turn and does not cancel the agent's speech); a turn ends soon
//! after a finished sentence, and an unfinished one ("My order number
//! is…") is given up to 8, 4 or 2 s (eagerness low, medium, high; `auto`
//! is medium) to go on before the turn is closed anyway.

use std::sync::Arc;
use std::time::Duration;

use crate::audio::{EnergyVad, SESSION_RATE, VadEvent};
use crate::protocol::{Eagerness, TurnDetection, TurnDetectionKind};
use crate::transcription::Transcriber;

/// How long the emulator's ear may take over one judgement before the
/// detector decides without it.
const EAR_TIMEOUT: Duration = Duration::from_secs(2);
/// A sound this long is a turn whatever it says (nobody coughs for 1.5 s).
const MAX_HOLD_MS: u64 = 1500;
/// Words that must be heard in the start of a sound over the agent's
/// speech before it counts as the caller taking the turn.
const MIN_WORDS_OVER_AGENT: usize = 3;
/// Audio kept before a sound starts, for the ear.
const PREROLL_MS: u64 = 500;
/// Words that acknowledge rather than take the turn.
const BACKCHANNEL_WORDS: &[&str] = &[
    "mm", "hmm", "mm-hmm", "mhm", "uh-huh", "okay", "ok", "right", "yeah", "yes", "yep", "sure",
    "i", "see", "got", "it",
];

/// What the emulator's ear made of a stretch of audio.
#[derive(Debug, Clone, PartialEq)]
pub enum Hearing {
    Words(String),
    /// The ear listened and heard no words (a cough, noise).
    Nothing,
    /// No ear (no transcription backend) or it failed: judge by time alone.
    Unknown,
}

impl Hearing {
    /// Whether it takes the turn: words, and over the agent's speech not
    /// only an acknowledgement.
    fn takes_turn(&self, over_agent: bool) -> bool {
        match self {
            Hearing::Words(w) if w.trim().is_empty() => false,
            Hearing::Words(w) => !(over_agent && is_backchannel(w)),
            Hearing::Nothing => false,
            Hearing::Unknown => true,
        }
    }

    /// Whether the start of a sound already shows it is a turn. Over the
    /// agent's speech, a fragment of a word or two could be anything (an
    /// "okay" heard half-way matches the start of many lines), so it takes
    /// a few words; otherwise any words do.
    fn takes_turn_already(&self, over_agent: bool) -> bool {
        match self {
            Hearing::Words(w) if over_agent => {
                w.split_whitespace().count() >= MIN_WORDS_OVER_AGENT && !is_backchannel(w)
            }
            other => other.takes_turn(over_agent),
        }
    }

    /// Whether it sounds finished: a sentence that ends.
    fn is_finished(&self) -> Option<bool> {
        match self {
            Hearing::Words(w) => Some(w.trim_end().ends_with(['.', '?', '!'])),
            Hearing::Nothing => Some(false),
            Hearing::Unknown => None,
        }
    }
}

/// Whether every word of `text` is an acknowledgement ("Mm-hmm.", "Okay, right.").
pub fn is_backchannel(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    !words.is_empty()
        && words
            .iter()
            .all(|w| BACKCHANNEL_WORDS.contains(&w.as_str()))
}

/// The emulator's way of hearing words, for the semantic detector.
#[derive(Clone)]
pub struct Ear {
    pub transcriber: Option<Arc<dyn Transcriber>>,
    pub conversation: Option<String>,
}

impl Ear {
    async fn hear(&self, clip: &[i16]) -> Hearing {
        let Some(t) = &self.transcriber else {
            return Hearing::Unknown;
        };
        let heard = tokio::time::timeout(
            EAR_TIMEOUT,
            t.transcribe(self.conversation.as_deref(), Arc::new(clip.to_vec())),
        )
        .await;
        match heard {
            Ok(Ok(Some(words))) => Hearing::Words(words),
            Ok(Ok(None)) => Hearing::Nothing,
            _ => Hearing::Unknown,
        }
    }
}

/// A session's turn detector.
pub enum TurnDetector {
    Server(EnergyVad),
    Semantic(Box<SemanticVad>),
}

impl TurnDetector {
    pub fn new(td: &TurnDetection) -> TurnDetector {
        match td.kind {
            TurnDetectionKind::ServerVad => {
                TurnDetector::Server(EnergyVad::new(td.threshold, td.silence_duration_ms))
            }
            TurnDetectionKind::SemanticVad => {
                TurnDetector::Semantic(Box::new(SemanticVad::new(td.eagerness.unwrap_or_default())))
            }
        }
    }

    /// Hears `samples`; `agent_speaking` says whether a response is under way.
    pub async fn push(
        &mut self,
        samples: &[i16],
        ear: &Ear,
        agent_speaking: bool,
    ) -> Vec<VadEvent> {
        match self {
            TurnDetector::Server(vad) => vad.push(samples),
            TurnDetector::Semantic(semantic) => semantic.push(samples, ear, agent_speaking).await,
        }
    }

    /// Forgets speech in progress (the client committed or cleared the buffer).
    pub fn reset_speech(&mut self) {
        match self {
            TurnDetector::Server(vad) => vad.reset_speech(),
            TurnDetector::Semantic(semantic) => semantic.reset_speech(),
        }
    }
}

/// How long the semantic detector waits, by eagerness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Patience {
    /// How often a sound is listened to before it counts as a turn.
    pub hold_ms: u64,
    /// Silence after a finished sentence before the turn ends.
    pub finished_ms: u32,
    /// Longest silence after an unfinished one.
    pub unfinished_ms: u64,
}

impl Patience {
    pub fn of(eagerness: Eagerness) -> Patience {
        let (finished_ms, unfinished_ms) = eagerness.waits_ms();
        Patience {
            hold_ms: finished_ms as u64,
            finished_ms,
            unfinished_ms: unfinished_ms as u64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    /// A sound began at `start_ms`, over the agent's speech or not; not
    /// yet a turn.
    Holding {
        start_ms: u64,
        listen_at_ms: u64,
        over_agent: bool,
    },
    /// A turn, with the caller speaking.
    Speaking {
        start_ms: u64,
    },
    /// A turn, with the caller paused; it ends at `deadline_ms` unless they go on.
    Pausing {
        start_ms: u64,
        deadline_ms: u64,
    },
}

/// The approximation of `semantic_vad` (see the module's documentation).
pub struct SemanticVad {
    vad: EnergyVad,
    patience: Patience,
    state: State,
    /// Audio heard from `audio_from_ms` on.
    audio: Vec<i16>,
    audio_from_ms: u64,
}

const SAMPLES_PER_MS: u64 = SESSION_RATE as u64 / 1000;

impl SemanticVad {
    pub fn new(eagerness: Eagerness) -> SemanticVad {
        let patience = Patience::of(eagerness);
        SemanticVad {
            vad: EnergyVad::new(0.5, patience.finished_ms),
            patience,
            state: State::Idle,
            audio: Vec::new(),
            audio_from_ms: 0,
        }
    }

    fn reset_speech(&mut self) {
        self.vad.reset_speech();
        self.state = State::Idle;
    }

    /// The audio between two positions (ms).
    fn clip(&self, from_ms: u64, to_ms: u64) -> &[i16] {
        let at = |ms: u64| {
            (ms.saturating_sub(self.audio_from_ms) * SAMPLES_PER_MS).min(self.audio.len() as u64)
                as usize
        };
        &self.audio[at(from_ms)..at(to_ms).max(at(from_ms))]
    }

    async fn push(&mut self, samples: &[i16], ear: &Ear, agent_speaking: bool) -> Vec<VadEvent> {
        let events = self.vad.push(samples);
        self.audio.extend_from_slice(samples);
        let mut out = Vec::new();
        for event in events {
            self.on_vad(event, ear, agent_speaking, &mut out).await;
        }
        self.on_time(ear, &mut out).await;
        if self.state == State::Idle {
            self.forget_before(self.vad.position_ms().saturating_sub(PREROLL_MS));
        }
        out
    }

    fn forget_before(&mut self, ms: u64) {
        let drop = ((ms.saturating_sub(self.audio_from_ms)) * SAMPLES_PER_MS) as usize;
        let drop = drop.min(self.audio.len());
        self.audio.drain(..drop);
        self.audio_from_ms += drop as u64 / SAMPLES_PER_MS;
    }

    async fn on_vad(
        &mut self,
        event: VadEvent,
        ear: &Ear,
        agent_speaking: bool,
        out: &mut Vec<VadEvent>,
    ) {
        match (event, self.state) {
            (VadEvent::SpeechStarted { at_ms }, State::Idle) => {
                self.state = State::Holding {
                    start_ms: at_ms,
                    listen_at_ms: at_ms + self.patience.hold_ms,
                    over_agent: agent_speaking,
                };
            }
            (VadEvent::SpeechStarted { .. }, State::Pausing { start_ms, .. }) => {
                // They went on: the same turn.
                self.state = State::Speaking { start_ms };
            }
            (
                VadEvent::SpeechStopped { at_ms },
                State::Holding {
                    start_ms,
                    over_agent,
                    ..
                },
            ) => {
                let heard = ear.hear(self.clip(start_ms, at_ms)).await;
                if heard.takes_turn(over_agent) {
                    out.push(VadEvent::SpeechStarted { at_ms: start_ms });
                    self.pause(start_ms, at_ms, &heard, out);
                } else {
                    // A cough, a noise, an acknowledgement: not a turn.
                    self.state = State::Idle;
                }
            }
            (VadEvent::SpeechStopped { at_ms }, State::Speaking { start_ms }) => {
                let heard = ear.hear(self.clip(start_ms, at_ms)).await;
                self.pause(start_ms, at_ms, &heard, out);
            }
            _ => {}
        }
    }

    /// The caller went quiet at `at_ms` (the VAD's short window closed):
    /// the turn ends now if what they said sounds finished, else they are
    /// given time to go on.
    fn pause(&mut self, start_ms: u64, at_ms: u64, heard: &Hearing, out: &mut Vec<VadEvent>) {
        let quiet_since = at_ms.saturating_sub(self.patience.finished_ms as u64);
        let wait = match heard.is_finished() {
            Some(true) | None => {
                out.push(VadEvent::SpeechStopped { at_ms });
                self.state = State::Idle;
                return;
            }
            // Words that stop mid-sentence get the full wait; sound that
            // is not words, half of it.
            Some(false) if matches!(heard, Hearing::Words(_)) => self.patience.unfinished_ms,
            Some(false) => self.patience.unfinished_ms / 2,
        };
        self.state = State::Pausing {
            start_ms,
            deadline_ms: quiet_since + wait,
        };
    }

    async fn on_time(&mut self, ear: &Ear, out: &mut Vec<VadEvent>) {
        let now = self.vad.position_ms();
        match self.state {
            State::Holding {
                start_ms,
                listen_at_ms,
                over_agent,
            } if now >= listen_at_ms => {
                let heard = ear.hear(self.clip(start_ms, now)).await;
                if heard.takes_turn_already(over_agent) || now - start_ms >= MAX_HOLD_MS {
                    out.push(VadEvent::SpeechStarted { at_ms: start_ms });
                    self.state = State::Speaking { start_ms };
                } else {
                    self.state = State::Holding {
                        start_ms,
                        listen_at_ms: now + self.patience.hold_ms,
                        over_agent,
                    };
                }
            }
            State::Pausing { deadline_ms, .. } if now >= deadline_ms => {
                out.push(VadEvent::SpeechStopped { at_ms: now });
                self.state = State::Idle;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Voice;
    use crate::emulator::ClosedSetRecognizer;

    fn silence(ms: u64) -> Vec<i16> {
        vec![0; (ms * SAMPLES_PER_MS) as usize]
    }

    /// An ear that knows `lines` as said by the offline voice.
    fn ear_for(lines: &[(&str, &[i16])]) -> Ear {
        let recognizer = ClosedSetRecognizer::new();
        for (text, audio) in lines {
            recognizer.remember("c", text, audio);
        }
        Ear {
            transcriber: Some(Arc::new(recognizer)),
            conversation: Some("c".into()),
        }
    }

    async fn events_of(
        detector: &mut TurnDetector,
        audio: &[i16],
        ear: &Ear,
        agent_speaking: bool,
    ) -> Vec<VadEvent> {
        let mut all = Vec::new();
        for chunk in audio.chunks(2400) {
            all.extend(detector.push(chunk, ear, agent_speaking).await);
        }
        all
    }

    fn semantic(eagerness: Eagerness) -> TurnDetector {
        TurnDetector::new(&TurnDetection {
            kind: TurnDetectionKind::SemanticVad,
            eagerness: Some(eagerness),
            ..TurnDetection::default()
        })
    }

    fn server(silence_ms: u32) -> TurnDetector {
        TurnDetector::new(&TurnDetection {
            silence_duration_ms: silence_ms,
            ..TurnDetection::default()
        })
    }

    #[test]
    fn backchannels_are_only_acknowledgements() {
        assert!(is_backchannel("Mm-hmm."));
        assert!(is_backchannel("Okay, right."));
        assert!(!is_backchannel("Okay, my order number is 4."));
        assert!(!is_backchannel(""));
    }

    #[tokio::test]
    async fn a_backchannel_while_the_agent_talks_is_a_turn_for_server_vad_only() {
        let voice = Voice::new(Default::default());
        let said = voice.speak("Mm-hmm.");
        let ear = ear_for(&[("Mm-hmm.", &said)]);
        let mut audio = silence(500);
        audio.extend(&said);
        audio.extend(silence(2000));
        let server = events_of(&mut server(500), &audio, &ear, true).await;
        assert!(
            matches!(server.first(), Some(VadEvent::SpeechStarted { .. })),
            "{server:?}"
        );
        for eagerness in [Eagerness::Low, Eagerness::Auto, Eagerness::High] {
            let heard = events_of(&mut semantic(eagerness), &audio, &ear, true).await;
            assert!(heard.is_empty(), "{eagerness:?}: {heard:?}");
        }
        // Said as an answer, with the agent quiet, it is a turn.
        let answer = events_of(&mut semantic(Eagerness::Auto), &audio, &ear, false).await;
        assert_eq!(answer.len(), 2, "{answer:?}");
    }

    #[tokio::test]
    async fn a_cough_is_not_a_turn_for_semantic_vad() {
        let ear = ear_for(&[]);
        let mut audio = silence(500);
        audio.extend(crate::audio::sounds::cough(3));
        audio.extend(silence(2000));
        assert!(
            !events_of(&mut server(500), &audio, &ear, true)
                .await
                .is_empty()
        );
        let heard = events_of(&mut semantic(Eagerness::Auto), &audio, &ear, true).await;
        assert!(heard.is_empty(), "{heard:?}");
    }

    /// "My order number is … N W 1 0 4 2 2.", with a pause of `pause_ms`.
    fn hesitant(voice: &Voice, pause_ms: u64) -> (Vec<i16>, u64) {
        let mut said = voice.speak("My order number is");
        said.extend(silence(pause_ms));
        said.extend(voice.speak("N W 1 0 4 2 2."));
        let mut audio = silence(500);
        audio.extend(&said);
        audio.extend(silence(9000));
        let end_ms = 500 + said.len() as u64 / SAMPLES_PER_MS;
        (audio, end_ms)
    }

    #[tokio::test]
    async fn an_unfinished_sentence_is_waited_for_as_long_as_the_eagerness_allows() {
        let voice = Voice::new(Default::default());
        let (audio, end_ms) = hesitant(&voice, 1500);
        let said = &audio[(500 * SAMPLES_PER_MS) as usize..(end_ms * SAMPLES_PER_MS) as usize];
        let ear = ear_for(&[("My order number is N W 1 0 4 2 2.", said)]);
        // Server VAD ends the turn in the pause: two turns.
        let server = events_of(&mut server(500), &audio, &ear, false).await;
        assert_eq!(server.len(), 4, "{server:?}");
        // Semantic VAD at low and medium eagerness waits: one turn, to the end.
        for eagerness in [Eagerness::Low, Eagerness::Medium] {
            let heard = events_of(&mut semantic(eagerness), &audio, &ear, false).await;
            match heard.as_slice() {
                [
                    VadEvent::SpeechStarted { .. },
                    VadEvent::SpeechStopped { at_ms },
                ] => assert!(
                    (end_ms..end_ms + 1000).contains(at_ms),
                    "{eagerness:?}: stopped at {at_ms}, speech ends at {end_ms}"
                ),
                other => panic!("{eagerness:?}: {other:?}"),
            }
        }
        // With a pause longer than high eagerness's 2 s, it gives up waiting.
        let (audio, _) = hesitant(&voice, 2600);
        let heard = events_of(&mut semantic(Eagerness::High), &audio, &ear, false).await;
        assert_eq!(heard.len(), 4, "{heard:?}");
    }

    #[tokio::test]
    async fn without_an_ear_semantic_vad_judges_by_time() {
        let voice = Voice::new(Default::default());
        let ear = Ear {
            transcriber: None,
            conversation: None,
        };
        let mut audio = silence(500);
        audio.extend(voice.speak("Yes, that is right."));
        audio.extend(silence(1500));
        let heard = events_of(&mut semantic(Eagerness::Auto), &audio, &ear, false).await;
        assert_eq!(heard.len(), 2, "{heard:?}");
    }
}
