//! The conversation's shared timeline.
//!
//! In `realtime` pacing it is the wall clock: audio is sent and played at
//! speaking speed, as on a phone line. In `fast` pacing it is virtual: time
//! spent waiting on the network (the agent's latency, tool backends) is
//! counted as it passes, while playback and think time are skipped over, so a
//! call takes as long as both sides need to compute, yet its recording and
//! latencies look as the call would have sounded.

use std::time::{Duration, Instant};

pub use crate::run_folder::Pace;

#[derive(Debug)]
pub struct Clock {
    pace: Pace,
    start: Instant,
    /// In fast pacing: the time skipped so far, and when each skip was
    /// made (so an event that arrived before a skip is placed before it).
    skipped_ms: f64,
    skips: Vec<(Instant, f64)>,
}

impl Clock {
    pub fn new(pace: Pace) -> Self {
        Clock {
            pace,
            start: Instant::now(),
            skipped_ms: 0.0,
            skips: Vec::new(),
        }
    }

    /// The wall-clock origin (for event traces).
    pub fn origin(&self) -> Instant {
        self.start
    }

    /// Milliseconds on the timeline.
    pub fn now_ms(&mut self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0 + self.skipped_ms
    }

    /// Moves to `t_ms`: sleeps in realtime pacing, jumps in fast pacing.
    /// Never goes back.
    pub async fn advance_to(&mut self, t_ms: f64) {
        let now = self.now_ms();
        if t_ms <= now {
            return;
        }
        match self.pace {
            Pace::Realtime => {
                tokio::time::sleep(Duration::from_secs_f64((t_ms - now) / 1000.0)).await
            }
            Pace::Fast => {
                self.skipped_ms += t_ms - now;
                self.skips.push((Instant::now(), self.skipped_ms));
            }
        }
    }

    /// Lets real time pass until the timeline reaches `t_ms`, in either
    /// pacing: a silence the other side must live through (a caller's
    /// pause mid-sentence, which an agent may answer into) is not skipped.
    pub async fn pass_to(&mut self, t_ms: f64) {
        let now = self.now_ms();
        if t_ms > now {
            tokio::time::sleep(Duration::from_secs_f64((t_ms - now) / 1000.0)).await;
        }
    }

    /// Timeline position of a wall-clock instant in the past (e.g. when
    /// an event arrived): its wall time plus the time skipped before it.
    /// A client's stamp (ms of wall time since [`Clock::origin`]) on the
    /// timeline: where a traced event goes in `events.jsonl`.
    pub fn stamp_on_timeline(&mut self, wall_ms: f64) -> f64 {
        self.at(self.start + Duration::from_secs_f64(wall_ms.max(0.0) / 1000.0))
    }

    pub fn at(&mut self, instant: Instant) -> f64 {
        let skips_before = self.skips.partition_point(|(when, _)| *when <= instant);
        let skipped = match skips_before {
            0 => 0.0,
            n => self.skips[n - 1].1,
        };
        let wall = instant.saturating_duration_since(self.start).as_secs_f64() * 1000.0;
        (wall + skipped).min(self.now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fast_pacing_jumps_and_keeps_network_time() {
        let mut c = Clock::new(Pace::Fast);
        let t0 = Instant::now();
        c.advance_to(60_000.0).await;
        assert!(t0.elapsed() < Duration::from_millis(50), "no real wait");
        assert!(c.now_ms() >= 60_000.0);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let t = c.now_ms();
        assert!((60_025.0..60_500.0).contains(&t), "waiting counts: {t}");
        c.advance_to(10.0).await;
        assert!(c.now_ms() >= t, "never goes back");
    }

    #[tokio::test]
    async fn a_silence_passes_in_real_time_in_fast_pacing_too() {
        let mut c = Clock::new(Pace::Fast);
        c.advance_to(5_000.0).await;
        let t0 = Instant::now();
        c.pass_to(5_040.0).await;
        assert!(t0.elapsed() >= Duration::from_millis(35));
        assert!(c.now_ms() >= 5_040.0);
    }

    #[tokio::test]
    async fn an_event_that_arrived_before_a_skip_is_placed_before_it() {
        let mut c = Clock::new(Pace::Fast);
        c.advance_to(1_000.0).await;
        let arrived = Instant::now();
        c.advance_to(9_000.0).await;
        let at = c.at(arrived);
        assert!((1_000.0..1_050.0).contains(&at), "{at}");
        assert!(c.at(Instant::now()) >= 9_000.0);
    }

    #[tokio::test]
    async fn realtime_pacing_sleeps() {
        let mut c = Clock::new(Pace::Realtime);
        c.advance_to(40.0).await;
        assert!(c.now_ms() >= 40.0);
    }
}
