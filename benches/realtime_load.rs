//! Benchmark: does the harness's own load distort the latencies it measures?
//!
//! `happy-path-refund` at realtime pacing (audio sent and played at speaking
//! speed, as on a phone line), emulator latency 0, every call recorded and
//! scored, at 4, 64 and 200 calls at once. For each, the spread of the
//! calls' response-time p95 (time from the end of the caller's turn to the
//! agent's first audio, VAD silence window included) and the harness's own
//! scheduling lag (`harness_load` in run.json). With the agent's latency
//! fixed at 0, every millisecond above the 4-call figure is the harness's.
//!
//! Run: `cargo bench --bench realtime_load` (REALTIME_LOAD=4,64 for fewer).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rehearse::run_folder::{Pace, RunFolder, TurnMode};
use rehearse::simulation::RunOptions;
use rehearse::simulation::progress::Silent;

fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let levels: Vec<usize> = std::env::var("REALTIME_LOAD")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![4, 64, 200]);
    println!("realtime pacing, happy-path-refund, emulator latency 0, scored:");
    println!(
        "| calls at once | wall s | per-call TTFA p95: median | p95 | max | harness lag p99 / max | flagged overloaded |"
    );
    println!("|---|---|---|---|---|---|---|");
    for calls in levels {
        let out = tempfile::tempdir().expect("temp dir");
        let mut opts = RunOptions::new(&PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        opts.scenarios = vec!["happy-path-refund".into()];
        opts.repeat = calls as u32;
        opts.concurrency = calls;
        opts.pace = Pace::Realtime;
        opts.turns = TurnMode::Vad;
        opts.latency_ms = Some(0.0);
        opts.out = Some(out.path().join("run"));
        let t0 = Instant::now();
        let suite = rehearse::suite::run(opts, None, Arc::new(Silent), Default::default())
            .await
            .expect("run");
        let wall = t0.elapsed().as_secs_f64();
        let run = RunFolder::open(&suite.run.dir).expect("run folder");
        let p95s: Vec<f64> = run
            .manifest
            .conversations
            .iter()
            .filter_map(|c| run.scores(c).ok().flatten())
            .filter_map(|s| s.metrics.get("latency.response_p95_ms").copied())
            .collect();
        assert_eq!(p95s.len(), calls, "every call completed and was scored");
        let load = run
            .manifest
            .harness_load
            .clone()
            .expect("realtime runs measure their load");
        println!(
            "| {calls} | {wall:.1} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} / {:.1} ms | {} |",
            percentile(p95s.clone(), 0.5),
            percentile(p95s.clone(), 0.95),
            percentile(p95s, 1.0),
            load.lag_p99_ms,
            load.lag_max_ms,
            if load.overloaded { "yes" } else { "no" }
        );
    }
}
