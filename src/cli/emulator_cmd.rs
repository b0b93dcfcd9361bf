//! `rehearse emulator`

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::exit;
use crate::config::agent::{AudioPacing, LatencySpec};
use crate::emulator::{self, AgentRegistry, EmulatorConfig, FaultSpec};

/// `--pacing`: how the emulator delivers the agent's audio.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum PacingArg {
    /// As fast as it is made.
    Burst,
    /// At playback speed.
    Realtime,
}

#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on. Loopback by default: the emulator is a test double.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// The scripted agent to play.
    #[arg(long, default_value = "agents/support.yaml")]
    agent: PathBuf,
    /// Fixed response latency in ms, replacing the agent file's distribution
    /// (0 for benchmarks).
    #[arg(long)]
    latency_ms: Option<f64>,
    /// Audio delivery: burst (as fast as made) or realtime (playback speed).
    #[arg(long, value_enum)]
    pacing: Option<PacingArg>,
    /// Seed for the agent's latencies and choices (each session its own
    /// stream of it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    transcription: super::TranscriptionArgs,
    /// Environment variable holding a key clients must present.
    #[arg(long)]
    require_key_env: Option<String>,
    /// Serve clients from other hosts without a key. Without it, listening
    /// beyond loopback needs --require-key-env.
    #[arg(long)]
    allow_unauthenticated_remote: bool,
    /// Sessions served at once; more are refused with an error event.
    #[arg(long, default_value_t = 1000)]
    max_sessions: usize,
    /// Session lifetime in seconds (the real service: 3600).
    #[arg(long, default_value_t = 3600)]
    max_session_secs: u64,
    /// Inject provider faults, e.g. `drop=0.05,rate_limit=0.05,garbage=0.01`.
    /// Kinds: drop, delay:<duration>, stall, rate_limit, garbage, truncated,
    /// close:<code>, expire. Probabilities are per session.
    #[arg(long, value_parser = parse_faults)]
    faults: Option<FaultSpec>,
}

pub fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    FaultSpec::parse(s)
}

pub async fn run(args: EmulatorArgs) -> u8 {
    let (registry, agent) = match AgentRegistry::load(&args.agent) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    let mut config = EmulatorConfig::new(agent, registry);
    config.latency = args.latency_ms.map(|ms| LatencySpec {
        median_ms: ms,
        p90_ms: ms,
    });
    config.pacing = args.pacing.map(|p| match p {
        PacingArg::Burst => AudioPacing::Burst,
        PacingArg::Realtime => AudioPacing::Realtime,
    });
    config.seed = args.seed;
    config.max_sessions = args.max_sessions;
    config.max_session = Duration::from_secs(args.max_session_secs);
    config.faults = args.faults.unwrap_or_default();
    if let Some(var) = &args.require_key_env {
        match std::env::var(var) {
            Ok(k) if !k.is_empty() => config.api_key = Some(k),
            _ => {
                eprintln!("error: --require-key-env names {var}, which is not set");
                return exit::CONFIG_ERROR;
            }
        }
    }
    config.transcriber = args.transcription.transcriber();
    let remote = !args.listen.ip().is_loopback();
    if remote && config.api_key.is_none() && !args.allow_unauthenticated_remote {
        eprintln!(
            "error: --listen {} serves other hosts, and without --require-key-env anyone who can reach this machine could use it\n  hint: add --require-key-env VAR (clients send that key), listen on 127.0.0.1, or pass --allow-unauthenticated-remote if that is what you want",
            args.listen
        );
        return exit::CONFIG_ERROR;
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return exit::RUN_ERROR;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Tests and scripts read the first line to find the port when --listen
    // uses :0, and may stop reading there: a closed stdout is not an error.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "rehearse emulator listening on ws://{addr}/v1/realtime"
    );
    let who = if remote {
        "other hosts that can reach this machine can connect"
    } else {
        "only this machine can connect"
    };
    let key = match &args.require_key_env {
        Some(var) => format!("clients must present the key in ${var}"),
        None => "no key is required".to_string(),
    };
    let ears = if config.transcriber.is_some() {
        "caller audio is transcribed by --transcription-url"
    } else {
        "caller audio cannot be understood (no --transcription-url); text turns work"
    };
    let _ = writeln!(out, "rehearse emulator: {who}; {key}; {ears}");
    let _ = out.flush();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(emulator::serve(listener, Arc::new(config), rx));
    let _ = crate::simulation::supervisor::wait_for_signal().await;
    let _ = tx.send(true);
    let _ = server.await;
    exit::OK
}
