//! Soak benchmark: 1,000 conversations through the embedded emulator at
//! concurrency 64 in `fast` pacing (the 8 sample scenarios × 125), with a
//! provider fault mix of 5% dropped sockets, 5% rate limits and 1% garbage
//! frames, every call recorded and scored.
//!
//! It checks what a nightly batch relies on: every conversation accounted
//! for (completed, or error with a cause), no file descriptors or tasks left
//! behind, and memory that stays flat as calls finish. It prints the figures
//! docs/benchmarks.md quotes.
//!
//! Run: `cargo bench --bench soak` (SOAK_CONVERSATIONS=200 for a short run).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rehearse::emulator::FaultSpec;
use rehearse::run_folder::{
    ConversationOutcome, Counts, Pace, PlannedConversation, Status, TurnMode, Verdict,
};
use rehearse::simulation::RunOptions;
use rehearse::simulation::progress::Progress;

const SCENARIOS: u32 = 8;

fn proc_status(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory (MiB) after every tenth of the calls has finished.
struct Sampler {
    planned: Mutex<usize>,
    finished: Mutex<usize>,
    samples: Mutex<Vec<(usize, f64)>>,
}

impl Progress for Sampler {
    fn start(&self, planned: usize) {
        *self.planned.lock().unwrap() = planned;
    }
    fn conversation_started(&self, _: &PlannedConversation) {}
    fn conversation_finished(
        &self,
        _: &PlannedConversation,
        _: &ConversationOutcome,
        _: Option<Verdict>,
    ) {
        let mut n = self.finished.lock().unwrap();
        *n += 1;
        let planned = *self.planned.lock().unwrap();
        if *n % (planned / 10).max(1) == 0 {
            self.samples
                .lock()
                .unwrap()
                .push((*n, proc_status("VmRSS:")));
        }
    }
    fn finish(&self, _: &Counts) {}
}

fn main() {
    let total: u32 = std::env::var("SOAK_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let out = tempfile::tempdir().expect("temp dir");
        let mut opts = RunOptions::new(&PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        opts.repeat = total.div_ceil(SCENARIOS);
        opts.concurrency = 64;
        opts.pace = Pace::Fast;
        opts.turns = TurnMode::Vad;
        opts.latency_ms = Some(0.0);
        opts.seed = 1;
        opts.emulator_faults =
            Some(FaultSpec::parse("drop=0.05,rate_limit=0.05,garbage=0.01").expect("spec"));
        opts.out = Some(out.path().join("run"));
        let fds_before = open_fds();
        let sampler = Arc::new(Sampler {
            planned: Mutex::new(0),
            finished: Mutex::new(0),
            samples: Mutex::new(Vec::new()),
        });
        let t0 = Instant::now();
        let result = rehearse::suite::run(opts, None, sampler.clone(), Default::default())
            .await
            .expect("run")
            .run;
        let wall = t0.elapsed().as_secs_f64();
        // Let detached connection tasks see their sockets close.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let fds_after = open_fds();
        let tasks_after = tokio::runtime::Handle::current().metrics().num_alive_tasks();

        let m = &result.manifest;
        let unaccounted = m
            .conversations
            .iter()
            .filter(|c| match c.status {
                Some(Status::Completed) => false,
                Some(Status::Error) => c.error.as_deref().unwrap_or("").is_empty(),
                _ => true,
            })
            .count();
        let retried = m.conversations.iter().filter(|c| c.attempts.is_some()).count();
        let mut causes = std::collections::BTreeMap::<String, usize>::new();
        for c in m.conversations.iter().filter(|c| c.status == Some(Status::Error)) {
            let e = c.error.clone().unwrap_or_default();
            *causes.entry(e.chars().take(60).collect()).or_default() += 1;
        }
        let samples = sampler.samples.lock().unwrap().clone();
        let later: Vec<f64> = samples.iter().skip(samples.len() / 2).map(|s| s.1).collect();
        let first_half_max = samples
            .iter()
            .take(samples.len() / 2)
            .map(|s| s.1)
            .fold(0.0, f64::max);

        println!("soak: {} conversations, concurrency 64, fast pacing, faults drop=5% rate_limit=5% garbage=1%", m.counts.planned);
        println!("  wall time            {wall:.1} s ({:.0} conversations/min)", m.counts.planned as f64 / wall * 60.0);
        println!("  completed            {}", m.counts.completed);
        println!("  error (with cause)   {}", m.counts.error);
        println!("  not started          {}", m.counts.not_started);
        println!("  needed another try   {retried}");
        println!("  unaccounted          {unaccounted}");
        for (cause, n) in &causes {
            println!("    {n:>4} × {cause}");
        }
        println!("  open fds             {fds_before} before, {fds_after} after");
        println!("  tokio tasks alive    {tasks_after} after the run");
        println!("  peak RSS             {:.0} MiB", proc_status("VmHWM:"));
        println!(
            "  RSS after each tenth {}",
            samples.iter().map(|(_, r)| format!("{r:.0}")).collect::<Vec<_>>().join(" / ")
        );
        println!(
            "  RSS second half      max {:.0} MiB vs first-half max {first_half_max:.0} MiB",
            later.iter().copied().fold(0.0, f64::max)
        );
        assert_eq!(unaccounted, 0, "every conversation is completed or an error with its cause");
        assert_eq!(m.counts.completed + m.counts.error, m.counts.planned);
        assert!(fds_after <= fds_before + 2, "file descriptors leaked: {fds_before} -> {fds_after}");
    });
}
