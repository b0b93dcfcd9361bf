//! The caller's line when it carries sound of its own (a condition with
//! noise, a codec, a room): open for the whole call, as a phone line is,
//! not only while the caller speaks. The agent hears the room while the
//! caller thinks, while it waits for an answer and while the agent itself
//! talks; and, as real clients do, playback stops when the agent's VAD
//! reports speech on the line, whatever made the sound.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Bridge, BridgeError, CHUNK_SAMPLES};
use crate::protocol::ServerEvent;
use crate::realtime::ClientError;
use crate::simulation::side::{VAD_SILENCE_MS, on_timeline};

/// One chunk of open line, in ms.
const CHUNK_MS: f64 = 100.0;
/// How long to wait for the agent's events after each chunk sent while
/// the agent talks (an in-process emulator answers in microseconds; a
/// remote provider's events arrive with the next chunks).
const POLL: Duration = Duration::from_millis(1);
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
            let heard = self.line.silence(&mut self.rec, at, CHUNK_SAMPLES)?;
            self.agent.append(&heard).await?;
            self.line.carried_to(at + CHUNK_MS);
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
            let heard = self.line.silence(&mut self.rec, at, rest)?;
            self.agent.append(&heard).await?;
            self.line.carried_to(t_ms);
        }
        Ok(())
    }

    /// After a caller turn, with server VAD: silence until the VAD's window
    /// has passed (an open line goes on being fed while the caller waits).
    pub(super) async fn keep_line_open(&mut self, end: f64) -> Result<(), BridgeError> {
        let window = (VAD_SILENCE_MS as f64 + 300.0) / CHUNK_MS;
        if self.line.is_live() {
            self.feed_line_to(end + window.ceil() * CHUNK_MS).await?;
        } else {
            for i in 0..window.ceil() as usize {
                let at = end + i as f64 * CHUNK_MS;
                self.clock.advance_to(at).await;
                let heard = self.line.silence(&mut self.rec, at, CHUNK_SAMPLES)?;
                self.agent.append(&heard).await?;
            }
        }
        // VAD cannot close the turn before its silence window has passed.
        self.clock.advance_to(end + VAD_SILENCE_MS as f64).await;
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
    async fn poll_agent(&mut self, wait: Duration) -> Result<(), BridgeError> {
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
