//! The caller's line when it carries sound of its own (a condition with
//! noise, a codec, a room): open for the whole call, as a phone line is,
//! not only while the caller speaks. The agent hears the room while the
//! caller thinks, while it waits for an answer and while the agent itself
//! talks; and, as real clients do, playback stops when the agent's VAD
//! reports speech on the line, whatever made the sound.

use std::time::{Duration, Instant};

use serde_json::Value;

use rand::RngExt;

use super::{Bridge, BridgeError, CHUNK_SAMPLES};
use crate::audio::sounds::{cough, household_noise};
use crate::protocol::ServerEvent;
use crate::realtime::ClientError;
use crate::run_folder::{CallerSound, Speaker, Utterance};
use crate::simulation::side::on_timeline;

/// What a caller says to acknowledge, at random.
const BACKCHANNELS: &[&str] = &["Mm-hmm.", "Okay.", "Right."];
/// Agent speech shorter than this gets no backchannel or cough: there is
/// no middle to put one in.
const MIN_TURN_FOR_SOUND_MS: f64 = 1500.0;
/// Backchannels are said softer than turns (−6 dB).
const BACKCHANNEL_GAIN: f32 = 0.5;
/// What a caller says to someone else in the room, at random.
const SIDE_TALK: &[&str] = &[
    "Hang on, I'm on the phone.",
    "Can you turn that down, please?",
    "No, the blue one, by the door.",
    "I'll be there in a minute.",
];
/// Side talk is turned away from the phone: 10 dB below their voice.
const SIDE_TALK_GAIN: f32 = 0.316;

/// A caller sound scheduled on the open line.
pub(super) struct PendingSound {
    kind: CallerSound,
    text: String,
    start_ms: f64,
    samples: Vec<i16>,
}

impl PendingSound {
    fn end_ms(&self) -> f64 {
        self.start_ms + self.samples.len() as f64 * CHUNK_MS / CHUNK_SAMPLES as f64
    }

    /// The sound's samples that fall in `[at_ms, at_ms + len)`, added to `chunk`.
    fn overlay(&self, at_ms: f64, chunk: &mut [i16]) -> bool {
        let per_ms = CHUNK_SAMPLES as f64 / CHUNK_MS;
        let offset = ((at_ms - self.start_ms) * per_ms).round() as i64;
        let mut touched = false;
        for (i, s) in chunk.iter_mut().enumerate() {
            let j = offset + i as i64;
            if let Some(&v) = usize::try_from(j).ok().and_then(|j| self.samples.get(j)) {
                *s = s.saturating_add(v);
                touched = true;
            }
        }
        touched
    }
}

/// One chunk of open line, in ms.
const CHUNK_MS: f64 = 100.0;
/// How long to wait for the agent's events after each chunk sent while
/// the agent talks (an in-process emulator answers in microseconds; a
/// remote provider's events arrive with the next chunks).
pub(super) const POLL: Duration = Duration::from_millis(1);
/// How often the line is fed while waiting for the agent, in wall time.
const WAIT_TICK: Duration = Duration::from_millis(100);
/// How long a caller whose line noise cut off the agent waits for the
/// agent's answer to the noise before saying what they meant to (the
/// agent's VAD window, and a beat).
const HOLD_PATIENCE_MS: f64 = 1500.0;

/// An agent event with its raw form and timeline position.
pub(super) type Received = (ServerEvent, Value, f64);

impl Bridge<'_> {
    /// Sends the open line (the caller's silence, through the line) up to
    /// `t_ms`, a chunk at a time on the timeline. Nothing for a line that
    /// is not open for the whole call.
    pub(super) async fn feed_line_to(&mut self, t_ms: f64) -> Result<(), BridgeError> {
        if !self.line.is_live() {
            return Ok(());
        }
        while self.line.sent_to() + CHUNK_MS <= t_ms {
            let at = self.line.sent_to();
            self.clock.advance_to(at).await;
            let heard = self.open_line_chunk(at, CHUNK_SAMPLES)?;
            self.agent.append(&heard).await?;
            self.line.carried_to(at + CHUNK_MS);
        }
        Ok(())
    }

    /// `samples` of open line from `at`: the caller's silence, or the sound
    /// they are making, through the line.
    fn open_line_chunk(&mut self, at: f64, samples: usize) -> Result<Vec<i16>, BridgeError> {
        let mut said = vec![0i16; samples];
        let sounding = self
            .pending_sound
            .as_ref()
            .is_some_and(|sound| sound.overlay(at, &mut said));
        Ok(match sounding {
            true => self.line.stream(&mut self.rec, at, &said)?.1,
            false => self.line.silence(&mut self.rec, at, samples)?,
        })
    }

    /// Whether the caller makes a sound while the agent's speech plays from
    /// `start` for `duration` ms (the persona's `backchannels`, `coughs`,
    /// `side_talk` and `noises`, each a chance per agent turn, tried in that
    /// order), and where: somewhere in its middle.
    pub(super) async fn schedule_sound(
        &mut self,
        start: f64,
        duration: f64,
    ) -> Result<(), BridgeError> {
        let traits = self.spec.persona.traits;
        if !self.line.is_live() || !traits.makes_sounds() || duration < MIN_TURN_FOR_SOUND_MS {
            return Ok(());
        }
        let at = start + duration * self.sounds.random_range(0.3..0.6);
        let chance = |p: f64, rng: &mut rand::rngs::StdRng| p > 0.0 && rng.random_bool(p.min(1.0));
        let (kind, text, samples) = if chance(traits.backchannels, &mut self.sounds) {
            let text = BACKCHANNELS[self.sounds.random_range(0..BACKCHANNELS.len())];
            let said = self.say_softly(text, BACKCHANNEL_GAIN).await?;
            (CallerSound::Backchannel, text.to_string(), said)
        } else if chance(traits.coughs, &mut self.sounds) {
            let seed = self.sounds.random();
            (CallerSound::Cough, "(cough)".to_string(), cough(seed))
        } else if chance(traits.side_talk, &mut self.sounds) {
            let text = SIDE_TALK[self.sounds.random_range(0..SIDE_TALK.len())];
            let said = self.say_softly(text, SIDE_TALK_GAIN).await?;
            (CallerSound::SideTalk, text.to_string(), said)
        } else if chance(traits.noises, &mut self.sounds) {
            let seed = self.sounds.random();
            let noise = household_noise(seed);
            (CallerSound::Noise, "(noise)".to_string(), noise)
        } else {
            return Ok(());
        };
        self.pending_sound = Some(PendingSound {
            kind,
            text,
            start_ms: at,
            samples,
        });
        Ok(())
    }

    /// `text` in the caller's voice at `gain`, remembered (as the agent
    /// may hear it) in the emulator's ear.
    async fn say_softly(&mut self, text: &str, gain: f32) -> Result<Vec<i16>, BridgeError> {
        let said = self.voice.speak(text).await.map_err(BridgeError::Speech)?;
        self.remember(text, &said);
        Ok(said.iter().map(|&s| (s as f32 * gain) as i16).collect())
    }

    /// Sends the rest of a sound the caller started (a cough is not cut
    /// short because the agent stopped) and records it.
    pub(super) async fn finish_sound(&mut self) -> Result<(), BridgeError> {
        let Some(end) = self.pending_sound.as_ref().map(PendingSound::end_ms) else {
            return Ok(());
        };
        let started = self
            .pending_sound
            .as_ref()
            .is_some_and(|s| s.start_ms < self.line.sent_to());
        if started {
            self.feed_line_until(end).await?;
        }
        if let Some(sound) = self.pending_sound.take().filter(|_| started) {
            let end_ms = sound.end_ms();
            self.rec.utterance(Utterance {
                speaker: Speaker::Customer,
                text: sound.text,
                start_ms: sound.start_ms,
                end_ms,
                item_id: None,
                interrupted: false,
                full_text: None,
                sound: Some(sound.kind),
                pauses: Vec::new(),
                guardrail: None,
            })?;
        }
        Ok(())
    }

    /// The open line up to exactly `t_ms` (whole chunks, then the rest), so
    /// that the caller's next words follow it without a gap.
    pub(super) async fn feed_line_until(&mut self, t_ms: f64) -> Result<(), BridgeError> {
        self.feed_line_to(t_ms).await?;
        let at = self.line.sent_to();
        let rest = ((t_ms - at) * CHUNK_SAMPLES as f64 / CHUNK_MS).round() as usize;
        if self.line.is_live() && rest > 0 {
            let heard = self.open_line_chunk(at, rest)?;
            self.agent.append(&heard).await?;
            self.line.carried_to(t_ms);
        }
        Ok(())
    }

    /// After a caller turn, with turn detection: silence until the longest
    /// the agent's detector may wait has passed (an open line goes on being
    /// fed while the caller waits).
    pub(super) async fn keep_line_open(&mut self, end: f64) -> Result<(), BridgeError> {
        let turns = &self.spec.turn_detection;
        let (shortest, longest) = (
            turns.shortest_close_ms() as f64,
            turns.longest_close_ms() as f64,
        );
        if self.line.is_live() {
            // Fed on while the caller waits, for as long as that takes.
            let window = ((shortest + 300.0) / CHUNK_MS).ceil();
            self.feed_line_to(end + window * CHUNK_MS).await?;
        } else {
            for i in 0..((longest + 300.0) / CHUNK_MS).ceil() as usize {
                let at = end + i as f64 * CHUNK_MS;
                self.clock.advance_to(at).await;
                let heard = self.line.silence(&mut self.rec, at, CHUNK_SAMPLES)?;
                self.agent.append(&heard).await?;
            }
        }
        // The detector cannot close the turn before its shortest silence.
        self.clock.advance_to(end + shortest).await;
        Ok(())
    }

    /// The agent's next event: one read ahead, or the next to arrive. On an
    /// open line the line is fed while waiting; and when `may_give_up`
    /// (the agent has not started answering) and the caller has waited
    /// longer than the scenario's `silence_s` since anyone last spoke, None:
    /// the caller stops waiting (the call ends for silence, not for a
    /// stalled provider). A caller holding a line that noise cut off waits
    /// only [`HOLD_PATIENCE_MS`] before saying it.
    pub(super) async fn next_agent_event(
        &mut self,
        may_give_up: bool,
    ) -> Result<Option<Received>, BridgeError> {
        if let Some(event) = self.held.pop_front() {
            return Ok(Some(event));
        }
        if !self.line.is_live() {
            return self.agent.next_event(&mut self.clock).await.map(Some);
        }
        let idle = self.agent.idle;
        let deadline = Instant::now() + idle;
        let patience_ms = match self.holding_line {
            true => HOLD_PATIENCE_MS,
            false => self.spec.scenario.end.silence_s * 1000.0,
        };
        let since = self.caller_end_ms.max(self.last_spoken_ms);
        loop {
            let now = self.clock.now_ms();
            self.feed_line_to(now).await?;
            let waiting = self.outcome.customer_turns > 0 || self.holding_line;
            if may_give_up && waiting && now - since > patience_ms {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(idle).into());
            }
            match self.agent.rx.recv_within(WAIT_TICK.min(left)).await {
                Some(Err(ClientError::Timeout(_))) => continue,
                received => return on_timeline(received, &mut self.clock).map(Some),
            }
        }
    }

    /// Reads the events that arrive within `wait` and holds them for
    /// [`Bridge::agent_turn`].
    pub(super) async fn poll_agent(&mut self, wait: Duration) -> Result<(), BridgeError> {
        // Bounded: a burst of events is read, then the wait runs out.
        for _ in 0..10_000 {
            match self.agent.rx.recv_within(wait).await {
                Some(Err(ClientError::Timeout(_))) => return Ok(()),
                received => {
                    let event = on_timeline(received, &mut self.clock)?;
                    self.held.push_back(event);
                }
            }
        }
        Ok(())
    }

    /// While agent speech plays from `start` (for `duration` ms), the open
    /// line goes on; when the agent's VAD reports speech on it, the client
    /// stops playback there, as real clients do on
    /// `input_audio_buffer.speech_started`. Returns how many ms had played
    /// when it stopped, None when it played out.
    pub(super) async fn listen_while_playing(
        &mut self,
        start: f64,
        duration: f64,
    ) -> Result<Option<f64>, BridgeError> {
        if !self.line.is_live() {
            return Ok(None);
        }
        self.feed_line_to(start).await?;
        let before = self.held.len();
        while self.line.sent_to() < start + duration {
            let next = self.line.sent_to() + CHUNK_MS;
            self.feed_line_to(next).await?;
            self.poll_agent(POLL).await?;
            let heard = self.held.iter().skip(before).any(|(_, raw, _)| {
                raw.get("type").and_then(Value::as_str) == Some("input_audio_buffer.speech_started")
            });
            if heard {
                return Ok(Some((self.line.sent_to() - start).clamp(0.0, duration)));
            }
        }
        Ok(None)
    }
}
