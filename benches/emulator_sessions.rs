//! Benchmark: one `rehearse emulator` process holding 200 concurrent sessions
//! on loopback. Reports the emulator's CPU time and resident memory per session
//! (read from /proc for the emulator process only, not this client).
//!
//! Run: `cargo bench --bench emulator_sessions` (optionally `-- 400` sessions).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rehearse::protocol::{ClientEvent, Dialect};
use rehearse::realtime::{Endpoint, RealtimeClient};

fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

async fn wait_for(c: &mut RealtimeClient, wanted: &str) {
    loop {
        match c.receiver.recv_within(Duration::from_secs(60)).await {
            Some(Ok(e)) if e.received.event_type == wanted => return,
            Some(Ok(_)) => {}
            other => panic!("waiting for {wanted}: {other:?}"),
        }
    }
}

#[tokio::main]
async fn main() {
    let sessions: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--latency-ms", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start emulator");
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!(
        "{}?model=gpt-realtime",
        line.trim().rsplit(' ').next().unwrap()
    );
    let rss_idle_kb = proc_field(pid, "status", "VmRSS:");
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();

    let mut clients = Vec::new();
    for _ in 0..sessions {
        let endpoint = Endpoint::local(&url, Dialect::Ga);
        let mut c =
            RealtimeClient::connect(&endpoint, Instant::now(), None, Duration::from_secs(30))
                .await
                .expect("connect");
        wait_for(&mut c, "session.created").await;
        clients.push(c);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let rss_open_kb = proc_field(pid, "status", "VmRSS:");

    // Every session hears a spoken greeting (TTS + streaming) at the same time.
    let turn_start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                c.sender
                    .send_event(ClientEvent::ResponseCreate {
                        response: None,
                        extra: Default::default(),
                    })
                    .await
                    .unwrap();
                wait_for(&mut c, "response.done").await;
                c
            })
        })
        .collect();
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    let turn_secs = turn_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    let rss_peak_kb = proc_field(pid, "status", "VmHWM:");
    let rss_after_kb = proc_field(pid, "status", "VmRSS:");
    drop(clients);
    let _ = child.kill();
    let _ = child.wait();

    println!("emulator: {sessions} concurrent sessions on 127.0.0.1, one spoken greeting each");
    println!("  connect all:        {connect_secs:.2} s");
    println!("  all greetings done: {turn_secs:.2} s (wall)");
    println!(
        "  emulator CPU:       {:.1} ms per session ({cpu:.2} s total)",
        cpu * 1000.0 / sessions as f64
    );
    println!(
        "  RSS idle process:   {:.1} MiB",
        rss_idle_kb as f64 / 1024.0
    );
    println!(
        "  RSS sessions open:  {:.1} MiB ({:.1} KiB per session)",
        rss_open_kb as f64 / 1024.0,
        (rss_open_kb.saturating_sub(rss_idle_kb)) as f64 / sessions as f64
    );
    println!(
        "  RSS after turns:    {:.1} MiB, peak {:.1} MiB ({:.1} KiB per session at peak)",
        rss_after_kb as f64 / 1024.0,
        rss_peak_kb as f64 / 1024.0,
        (rss_peak_kb.saturating_sub(rss_idle_kb)) as f64 / sessions as f64
    );
}
