//! Benchmark: whole conversations through the local emulator.
//!
//! - Throughput in `fast` pacing at concurrency 1, 8, 32 and 128: the
//!   happy-path scenario (13 turns, ~75 s of call audio, 4 tool calls),
//!   emulator latency 0, every artifact written to a temp dir.
//! - Process CPU per conversation in `realtime` pacing (this process holds
//!   the harness, the in-process emulator and both sides' speech synthesis).
//!
//! Run: `cargo bench --bench conversations`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rehearse::run_folder::{Pace, TurnMode};
use rehearse::simulation::RunOptions;
use rehearse::simulation::progress::Silent;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn once(
    pace: Pace,
    concurrency: usize,
    repeat: u32,
    scenario: &str,
) -> (f64, f64, usize, f64) {
    let out = tempfile::tempdir().expect("temp dir");
    let mut opts = RunOptions::new(&PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    opts.scenarios = vec![scenario.into()];
    opts.repeat = repeat;
    opts.concurrency = concurrency;
    opts.pace = pace;
    opts.turns = TurnMode::Vad;
    opts.latency_ms = Some(0.0);
    opts.out = Some(out.path().join("run"));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let result = rehearse::suite::run(opts, None, Arc::new(Silent), Default::default())
        .await
        .expect("run")
        .run;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let completed = result.manifest.counts.completed;
    assert_eq!(
        result.manifest.counts.error, 0,
        "benchmark conversations must complete"
    );
    let audio_s: f64 = result
        .manifest
        .conversations
        .iter()
        .filter_map(|c| {
            let text =
                std::fs::read_to_string(result.dir.join(&c.dir).join("conversation.json")).ok()?;
            serde_json::from_str::<serde_json::Value>(&text).ok()?["duration_ms"].as_f64()
        })
        .sum::<f64>()
        / 1000.0;
    (wall, cpu, completed, audio_s)
}

#[tokio::main]
async fn main() {
    println!("fast pacing, scenario happy-path-refund, emulator latency 0 (2 vCPU):");
    println!(
        "| concurrency | conversations | wall s | conversations/min | CPU s per conversation | call audio per wall second |"
    );
    println!("|---|---|---|---|---|---|");
    for concurrency in [1usize, 8, 32, 128] {
        let n = (concurrency as u32 * 2).max(8);
        let (wall, cpu, done, audio) = once(Pace::Fast, concurrency, n, "happy-path-refund").await;
        println!(
            "| {concurrency} | {done} | {wall:.1} | {:.0} | {:.3} | {:.0}x |",
            done as f64 * 60.0 / wall,
            cpu / done as f64,
            audio / wall
        );
    }
    let (wall, cpu, done, audio) = once(Pace::Realtime, 4, 4, "handoff-to-human").await;
    println!(
        "realtime pacing, handoff-to-human x{done} at concurrency 4: {wall:.1} s wall, {audio:.1} s of call audio in all, CPU {:.2} s per conversation ({:.1}% of one core over the run)",
        cpu / done as f64,
        100.0 * cpu / wall
    );
    println!("peak RSS of this process: {:.0} MiB", peak_rss_mib());
}
