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
    virtual_ms: f64,
    synced: Instant,
}

impl Clock {
    pub fn new(pace: Pace) -> Self {
        let now = Instant::now();
        Clock {
            pace,
            start: now,
            virtual_ms: 0.0,
            synced: now,
        }
    }

    /// The wall-clock origin (for event traces).
    pub fn origin(&self) -> Instant {
        self.start
    }

    /// Milliseconds on the timeline.
    pub fn now_ms(&mut self) -> f64 {
        match self.pace {
            Pace::Realtime => self.start.elapsed().as_secs_f64() * 1000.0,
            Pace::Fast => {
                let now = Instant::now();
                self.virtual_ms += now.duration_since(self.synced).as_secs_f64() * 1000.0;
                self.synced = now;
                self.virtual_ms
            }
        }
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
            Pace::Fast => self.virtual_ms = t_ms,
        }
    }

    /// Timeline position of a wall-clock instant observed since the last
    /// `now_ms` call (e.g. when an event arrived).
    pub fn at(&mut self, instant: Instant) -> f64 {
        let now = self.now_ms();
        let ago = Instant::now()
            .saturating_duration_since(instant)
            .as_secs_f64()
            * 1000.0;
        (now - ago).max(0.0)
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
    async fn realtime_pacing_sleeps() {
        let mut c = Clock::new(Pace::Realtime);
        c.advance_to(40.0).await;
        assert!(c.now_ms() >= 40.0);
    }
}
