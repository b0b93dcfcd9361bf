//! Keeping a run honest when providers misbehave or the user stops it:
//! conversations are tried again after transient provider failures, a
//! per-agent circuit breaker stops starting new ones while the provider is
//! down, and Ctrl-C / SIGTERM stop the run cleanly (a second one asks the CLI
//! to quit at once; nothing here exits the process).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;

use crate::retry::RetryPolicy;
use crate::run_folder::{ATTEMPTS, ConversationOutcome, Status};

/// Runs `attempt(n)` (n from 1) until it completes, fails for a reason
/// another try would not fix, or the policy's tries are spent. Before each
/// new try the failed one's artifacts move to `attempts/<n>/`, so nothing is
/// lost and the call's folder always holds one whole try.
pub async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    dir: &Path,
    mut attempt: F,
) -> ConversationOutcome
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = ConversationOutcome>,
{
    let mut failed = Vec::new();
    let mut n = 1;
    loop {
        let mut outcome = attempt(n).await;
        let retry = match outcome.transient {
            Some(asked) if outcome.status == Status::Error && n < policy.attempts => asked,
            _ => {
                outcome.attempts = n;
                outcome.failed_attempts = failed;
                return outcome;
            }
        };
        let why = outcome.error.clone().unwrap_or_else(|| "unknown".into());
        tracing::info!(dir = %dir.display(), attempt = n, error = %why, "retrying a call");
        failed.push(why);
        if let Err(e) = set_aside(dir, n) {
            // Without a clean folder another try would mix two calls' files.
            outcome.attempts = n;
            outcome.failed_attempts = failed;
            outcome.error = Some(format!(
                "{} (not tried again: cannot move its artifacts aside: {e})",
                outcome.error.unwrap_or_default()
            ));
            return outcome;
        }
        tokio::time::sleep(policy.wait(n, retry)).await;
        n += 1;
    }
}

/// Moves everything in `dir` except earlier tries into `attempts/<n>/`.
fn set_aside(dir: &Path, n: u32) -> std::io::Result<()> {
    let target = dir.join(ATTEMPTS).join(n.to_string());
    std::fs::create_dir_all(&target)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == ATTEMPTS {
            continue;
        }
        std::fs::rename(entry.path(), target.join(entry.file_name()))?;
    }
    Ok(())
}

/// Opens after `threshold` calls in a row fail on the provider (after their
/// retries): the provider is down or the key is bad, and starting the rest
/// would only burn time and money. Any completed call closes it again.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    consecutive: u32,
    open: Option<String>,
}

impl CircuitBreaker {
    /// `threshold` 0 never opens.
    pub fn new(threshold: u32) -> Self {
        CircuitBreaker {
            threshold,
            consecutive: 0,
            open: None,
        }
    }

    /// Counts a finished call; returns the reason when this call opened the
    /// breaker.
    pub fn record(&mut self, outcome: &ConversationOutcome) -> Option<&str> {
        match outcome.status {
            Status::Completed | Status::Imported => self.consecutive = 0,
            Status::Error => self.consecutive += 1,
            Status::Interrupted => {}
        }
        let trips = self.threshold > 0 && self.consecutive >= self.threshold;
        if outcome.status != Status::Error || !trips || self.open.is_some() {
            return None;
        }
        self.open = Some(format!(
            "the circuit breaker opened after {} calls in a row failed (last: {})",
            self.consecutive,
            outcome.error.as_deref().unwrap_or_default()
        ));
        self.open.as_deref()
    }

    /// Why new calls must not start, once open.
    pub fn open(&self) -> Option<&str> {
        self.open.as_deref()
    }
}

/// What the user asked of a run by signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopRequest {
    Running,
    /// First Ctrl-C or SIGTERM: finish the record of calls in progress,
    /// start no more.
    Stop,
    /// Second signal: the user does not want to wait for the cleanup; the
    /// CLI returns at once.
    QuitNow,
}

/// A run's view of the user's stop requests: cheap to clone and to wait on.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<StopRequest>);

impl StopSignal {
    /// A signal driven by hand (tests, embedding applications); send
    /// [`StopRequest::Stop`] on the sender to stop the run.
    pub fn manual() -> (watch::Sender<StopRequest>, StopSignal) {
        let (tx, rx) = watch::channel(StopRequest::Running);
        (tx, StopSignal(rx))
    }

    /// A stop has been asked for.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow() >= StopRequest::Stop
    }

    /// Resolves once a stop is asked for (never, if the sender goes away).
    pub async fn stopped(&self) {
        self.reached(StopRequest::Stop).await
    }

    /// Resolves on the second signal.
    pub async fn quit_now(&self) {
        self.reached(StopRequest::QuitNow).await
    }

    async fn reached(&self, level: StopRequest) {
        let mut rx = self.0.clone();
        if rx.wait_for(|s| *s >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Listens for Ctrl-C and SIGTERM: the first asks the run to stop, the
/// second to quit at once.
pub fn stop_on_signals() -> StopSignal {
    let (tx, signal) = StopSignal::manual();
    tokio::spawn(async move {
        if wait_for_signal().await.is_err() {
            return;
        }
        eprintln!(
            "stopping: finishing the record of calls in progress (press Ctrl-C again to quit at once)"
        );
        let _ = tx.send(StopRequest::Stop);
        if wait_for_signal().await.is_ok() {
            let _ = tx.send(StopRequest::QuitNow);
        }
    });
    signal
}

/// The first Ctrl-C or SIGTERM.
pub async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// The outcome written for a call the user's stop cut short.
pub fn interrupted() -> ConversationOutcome {
    ConversationOutcome {
        status: Status::Interrupted,
        error: Some("the run was stopped (Ctrl-C or SIGTERM) during this call".into()),
        ..ConversationOutcome::not_finished()
    }
}

/// Default wall-clock limit of a call: three times its scenario's longest
/// call time, at least a minute.
pub fn default_wall_limit(max_duration_s: f64) -> Duration {
    Duration::from_secs_f64((max_duration_s * 3.0).max(60.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(transient: bool) -> ConversationOutcome {
        ConversationOutcome {
            error: Some("connection reset".into()),
            transient: transient.then_some(Some(Duration::from_millis(1))),
            ..ConversationOutcome::not_finished()
        }
    }

    fn completed() -> ConversationOutcome {
        ConversationOutcome {
            status: Status::Completed,
            partial: false,
            ..ConversationOutcome::not_finished()
        }
    }

    #[tokio::test]
    async fn transient_failures_are_tried_again_and_their_artifacts_kept() {
        let dir = tempfile::tempdir().unwrap();
        let policy = RetryPolicy::conversations(2);
        let out = with_retries(&policy, dir.path(), |n| {
            let path = dir.path().join("events.jsonl");
            async move {
                std::fs::write(path, format!("try {n}")).unwrap();
                if n < 3 { failed(true) } else { completed() }
            }
        })
        .await;
        assert_eq!(out.status, Status::Completed);
        assert_eq!(out.attempts, 3);
        assert_eq!(out.failed_attempts.len(), 2);
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("events.jsonl"), "try 3");
        assert_eq!(read("attempts/1/events.jsonl"), "try 1");
        assert_eq!(read("attempts/2/events.jsonl"), "try 2");
    }

    #[tokio::test]
    async fn lasting_failures_are_not_tried_again_and_tries_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let policy = RetryPolicy::conversations(2);
        let mut calls = 0;
        let out = with_retries(&policy, dir.path(), |_| {
            calls += 1;
            async { failed(false) }
        })
        .await;
        assert_eq!((calls, out.attempts, out.status), (1, 1, Status::Error));
        let mut calls = 0;
        let out = with_retries(&policy, dir.path(), |_| {
            calls += 1;
            async { failed(true) }
        })
        .await;
        assert_eq!((calls, out.attempts), (3, 3));
        assert_eq!(out.error.as_deref(), Some("connection reset"));
    }

    #[test]
    fn the_breaker_opens_on_a_streak_of_failures_only() {
        let mut b = CircuitBreaker::new(3);
        for o in [
            failed(true),
            failed(true),
            completed(),
            failed(true),
            failed(true),
        ] {
            b.record(&o);
        }
        assert!(b.open().is_none());
        b.record(&failed(true));
        assert!(
            b.open()
                .unwrap()
                .contains("3 calls in a row failed (last: connection reset)")
        );
        let mut never = CircuitBreaker::new(0);
        for _ in 0..100 {
            never.record(&failed(true));
        }
        assert!(never.open().is_none());
    }
}
