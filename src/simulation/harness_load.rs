//! Is the harness keeping up with itself? In realtime pacing every latency
//! rehearse measures is wall-clock time, so when its own work (speech
//! synthesis, recording, many calls on few cores) delays the async workers,
//! that delay would be reported as the agent's latency. A timer that should
//! fire every 10 ms measures how late the workers get to it; a run whose
//! timers ran late says so instead of passing the distortion on.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::run_folder::HarnessLoad;

const PERIOD: Duration = Duration::from_millis(10);
/// Scheduling lag (p99) beyond which measured latencies are distorted by
/// more than the run's own noise: a response-time p95 moves by about this.
const OVERLOADED_P99_MS: f64 = 20.0;

pub(super) struct LoadMonitor {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<f64>>,
}

impl LoadMonitor {
    pub fn start() -> LoadMonitor {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut lags = Vec::new();
            loop {
                let asked = Instant::now();
                tokio::select! {
                    _ = tokio::time::sleep(PERIOD) => {}
                    _ = &mut stopped => return lags,
                }
                let late = asked.elapsed().saturating_sub(PERIOD);
                lags.push(late.as_secs_f64() * 1000.0);
            }
        });
        LoadMonitor { stop, task }
    }

    pub async fn stop(self) -> HarnessLoad {
        let _ = self.stop.send(());
        let lags = self.task.await.unwrap_or_default();
        summarise(lags)
    }
}

fn summarise(mut lags: Vec<f64>) -> HarnessLoad {
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let lag_p99_ms = at(0.99);
    HarnessLoad {
        lag_p99_ms,
        lag_max_ms: lags.last().copied().unwrap_or(0.0),
        overloaded: lag_p99_ms > OVERLOADED_P99_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_overloaded_when_its_timers_run_late() {
        let calm = summarise(vec![1.0; 1000]);
        assert!(!calm.overloaded);
        let mut busy = vec![1.0; 900];
        busy.extend(vec![80.0; 100]);
        let busy = summarise(busy);
        assert!(busy.overloaded && busy.lag_max_ms == 80.0, "{busy:?}");
    }
}
