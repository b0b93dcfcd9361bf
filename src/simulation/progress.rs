//! Showing a run's progress: a live bar on a terminal, plain lines in CI or
//! when output is piped, nothing in tests. The run only reports events; how
//! they look is decided here.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::run_folder::{ConversationOutcome, Counts, PlannedConversation, Status, Verdict};

pub trait Progress: Send + Sync {
    fn start(&self, planned: usize);
    fn conversation_started(&self, c: &PlannedConversation);
    fn conversation_finished(
        &self,
        c: &PlannedConversation,
        outcome: &ConversationOutcome,
        verdict: Option<Verdict>,
    );
    fn finish(&self, counts: &Counts);
    /// Something the user should know now (a circuit breaker opened).
    fn notice(&self, text: &str) {
        eprintln!("rehearse: {text}");
    }
}

/// The display for this terminal: a bar when stderr is a terminal outside
/// CI, plain lines otherwise.
pub fn for_terminal() -> Box<dyn Progress> {
    let ci = std::env::var_os("CI").is_some();
    if std::io::stderr().is_terminal() && !ci {
        Box::new(Bar::new())
    } else {
        Box::new(Lines::default())
    }
}

fn describe(c: &PlannedConversation, o: &ConversationOutcome, verdict: Option<Verdict>) -> String {
    let what = c.label();
    let verdict = verdict
        .map(|v| format!("{v:?}").to_uppercase())
        .unwrap_or_else(|| "-".into());
    match o.status {
        Status::Completed | Status::Imported => format!(
            "{what}: {verdict} ({}, {} turns, {:.1} s of audio)",
            o.end_reason.map_or("-", |r| r.as_str()),
            o.agent_turns + o.customer_turns,
            o.duration_ms / 1000.0
        ),
        Status::Error => format!("{what}: ERROR {}", o.error.as_deref().unwrap_or("unknown")),
        Status::Interrupted => format!("{what}: INTERRUPTED"),
    }
}

#[derive(Default)]
pub struct Lines {
    state: Mutex<(usize, usize)>,
}

impl Progress for Lines {
    fn start(&self, planned: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = planned;
        }
        eprintln!("rehearse: {planned} conversations planned");
    }

    fn conversation_started(&self, _: &PlannedConversation) {}

    fn conversation_finished(
        &self,
        c: &PlannedConversation,
        o: &ConversationOutcome,
        verdict: Option<Verdict>,
    ) {
        let (done, total) = match self.state.lock() {
            Ok(mut s) => {
                s.0 += 1;
                (s.0, s.1)
            }
            Err(_) => (0, 0),
        };
        eprintln!("[{done}/{total}] {}", describe(c, o, verdict));
    }

    fn finish(&self, counts: &Counts) {
        eprintln!("rehearse: {counts}");
    }
}

pub struct Bar {
    bar: ProgressBar,
    running: Mutex<usize>,
    failed: Mutex<usize>,
    started: Instant,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} done  {msg}  [{elapsed_precise}, eta {eta}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar {
            bar,
            running: Mutex::new(0),
            failed: Mutex::new(0),
            started: Instant::now(),
        }
    }

    fn refresh(&self) {
        let running = self.running.lock().map(|r| *r).unwrap_or(0);
        let failed = self.failed.lock().map(|f| *f).unwrap_or(0);
        self.bar
            .set_message(format!("{running} running, {failed} failed"));
    }
}

impl Progress for Bar {
    fn notice(&self, text: &str) {
        self.bar.println(format!("rehearse: {text}"));
    }

    fn start(&self, planned: usize) {
        self.bar.set_length(planned as u64);
        self.refresh();
    }

    fn conversation_started(&self, _: &PlannedConversation) {
        if let Ok(mut r) = self.running.lock() {
            *r += 1;
        }
        self.refresh();
    }

    fn conversation_finished(
        &self,
        c: &PlannedConversation,
        o: &ConversationOutcome,
        verdict: Option<Verdict>,
    ) {
        if let Ok(mut r) = self.running.lock() {
            *r = r.saturating_sub(1);
        }
        if o.status == Status::Error {
            if let Ok(mut f) = self.failed.lock() {
                *f += 1;
            }
            self.bar.println(describe(c, o, verdict));
        }
        self.bar.inc(1);
        self.refresh();
    }

    fn finish(&self, counts: &Counts) {
        self.bar.finish_and_clear();
        eprintln!(
            "rehearse: {counts} in {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Reports nothing (library use, tests).
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: usize) {}
    fn conversation_started(&self, _: &PlannedConversation) {}
    fn conversation_finished(
        &self,
        _: &PlannedConversation,
        _: &ConversationOutcome,
        _: Option<Verdict>,
    ) {
    }
    fn finish(&self, _: &Counts) {}
    fn notice(&self, _: &str) {}
}
