//! `rehearse run`

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::exit;
use crate::guardrails::GuardrailMode;
use crate::realtime::ProviderError;
use crate::run_folder::Status;
use crate::simulation::progress::{self, Progress};
use crate::simulation::supervisor::stop_on_signals;
use crate::simulation::{AgentRef, Pace, RunError, RunOptions, TurnMode};
use crate::suite::{self, SuiteError};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Agent file to test, optionally `FILE:variant`; repeat for A/B.
    /// Default: agents/support.yaml.
    #[arg(long = "agent")]
    agents: Vec<String>,
    /// Scenario ids or file names to run (globs allowed); default all.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Only scenarios with this tag; repeatable.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Acoustic condition the caller phones from (built in: clean, phone,
    /// cafe, street, phone-noisy, lossy, quiet, clipping; or a name from
    /// conditions/*.yaml). Repeat it to run every call under each, paired
    /// by seed; the first is the baseline. Default: clean.
    #[arg(long = "condition", value_name = "NAME")]
    conditions: Vec<String>,
    /// Conversations per agent × condition × scenario.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Conversations at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// `fast`: as fast as both sides allow; `realtime`: at speaking speed.
    #[arg(long, value_enum, default_value = "fast")]
    pace: PaceArg,
    /// `vad`: stream audio and let server VAD end turns; `manual`: commit turns.
    #[arg(long, value_enum, default_value = "vad")]
    turns: TurnsArg,
    /// Seed for the plan order and every conversation's randomness (the same
    /// seed gives the same calls; A/B variants share it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run directory (default reports/<run-id>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fixed latency for emulator agents, in ms (e.g. 0 for benchmarks).
    #[arg(long)]
    latency_ms: Option<f64>,
    /// Run only shard I of N of the plan (`--shard 2/4`), for spreading a
    /// batch over machines; `rehearse merge` combines the shards. `auto`
    /// reads them from the environment: JOB_COMPLETION_INDEX (a Kubernetes
    /// Indexed Job) or REHEARSE_SHARD_INDEX (1-based), and
    /// REHEARSE_SHARD_COUNT.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Continue the run in --out: finished conversations are kept.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Print the plan (conversations, audio minutes, estimated cost) and exit.
    #[arg(long)]
    dry_run: bool,
    /// Stop starting conversations once the estimated spend reaches this (USD).
    #[arg(long)]
    max_cost: Option<f64>,
    /// Tries after the first for a call the provider failed transiently
    /// (dropped socket, rate limit, server error, stall).
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Stop starting an agent's calls after this many of them in a row
    /// failed (the provider is down); 0 never stops.
    #[arg(long, default_value_t = 5)]
    circuit_breaker: u32,
    /// Longest wait for any event from a provider (e.g. 30s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    idle_timeout: std::time::Duration,
    /// Wall-clock limit per call (default: 3 × the scenario's max_duration_s).
    #[arg(long, value_parser = humantime::parse_duration)]
    conversation_timeout: Option<std::time::Duration>,
    /// Most audio accepted from the agent in one call, in minutes.
    #[arg(long, default_value_t = 30.0)]
    max_audio_minutes: f64,
    /// Make the embedded emulator misbehave, to test failure handling
    /// (same spec as `rehearse emulator --faults`).
    #[arg(long, value_parser = super::emulator_cmd::parse_faults)]
    emulator_faults: Option<crate::emulator::FaultSpec>,
    /// `enforce`: a guardrail that trips cuts the agent's response;
    /// `observe`: trips are recorded and every response plays whole (for
    /// `rehearse guardrails` to replay).
    #[arg(long, value_enum, default_value = "enforce")]
    guardrails: GuardrailsArg,
    #[command(flatten)]
    transcription: super::TranscriptionArgs,
    /// Gate file: exit 1 when a gate fails (see docs/ci.md).
    #[arg(long)]
    gate: Option<PathBuf>,
    /// A previous run to compare with (for `no_significant_regression`).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Project folder holding agents/, personas/, scenarios/.
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum PaceArg {
    Fast,
    Realtime,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum GuardrailsArg {
    Enforce,
    Observe,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum TurnsArg {
    Vad,
    Manual,
}

#[derive(Clone, Copy, Debug)]
enum Shard {
    Fixed(u32, u32),
    FromEnvironment,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    if s == "auto" {
        return Ok(Shard::FromEnvironment);
    }
    let (i, n) = s.split_once('/').ok_or("expected I/N (e.g. 2/4) or auto")?;
    let (i, n): (u32, u32) = (
        i.parse().map_err(|_| "I is not a number")?,
        n.parse().map_err(|_| "N is not a number")?,
    );
    if i == 0 || n == 0 || i > n {
        return Err("expected 1 <= I <= N".into());
    }
    Ok(Shard::Fixed(i, n))
}

pub async fn run(args: RunArgs) -> u8 {
    let mut opts = RunOptions::new(&args.project);
    opts.agents = args.agents.iter().map(|a| AgentRef::parse(a)).collect();
    opts.scenarios = args.scenarios;
    opts.tags = args.tags;
    opts.conditions = args.conditions;
    opts.repeat = args.repeat;
    opts.concurrency = args.concurrency;
    opts.pace = match args.pace {
        PaceArg::Fast => Pace::Fast,
        PaceArg::Realtime => Pace::Realtime,
    };
    opts.turns = match args.turns {
        TurnsArg::Vad => TurnMode::Vad,
        TurnsArg::Manual => TurnMode::Manual,
    };
    opts.seed = args.seed;
    opts.out = args.out;
    opts.latency_ms = args.latency_ms;
    opts.shard = match args.shard {
        None => None,
        Some(Shard::Fixed(i, n)) => Some((i, n)),
        Some(Shard::FromEnvironment) => {
            match crate::simulation::plan::shard_from_env(&|k| std::env::var(k).ok()) {
                Ok(shard) => Some(shard),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::CONFIG_ERROR;
                }
            }
        }
    };
    opts.resume = args.resume;
    opts.max_cost_usd = args.max_cost;
    opts.retries = args.retries;
    opts.circuit_breaker = args.circuit_breaker;
    opts.idle_timeout = args.idle_timeout;
    opts.conversation_timeout = args.conversation_timeout;
    opts.max_audio_minutes = args.max_audio_minutes;
    opts.emulator_faults = args.emulator_faults;
    opts.guardrail_mode = match args.guardrails {
        GuardrailsArg::Enforce => GuardrailMode::Enforce,
        GuardrailsArg::Observe => GuardrailMode::Observe,
    };
    // A broken gate file is found before any call is made.
    let gate = match super::report_cmd::load_gate(args.gate.as_deref()) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let margins = super::report_cmd::margins(gate.as_ref());
    if args.dry_run {
        return match crate::simulation::plan::plan(&opts) {
            Ok(p) => {
                print!("{p}");
                exit::OK
            }
            Err(e) => report_error(&e),
        };
    }
    let display: Arc<dyn Progress> = Arc::from(progress::for_terminal());
    let stop = stop_on_signals();
    opts.stop = Some(stop.clone());
    let suite = tokio::select! {
        s = suite::run(opts, args.transcription.transcriber(), display, margins.clone()) => s,
        _ = stop.quit_now() => {
            eprintln!("quit: calls in progress were not recorded; finished calls are on disk");
            return exit::INTERRUPTED;
        }
    };
    let result = match suite {
        Ok(r) => r,
        Err(SuiteError::Run(e)) => return report_error(&e),
    };
    println!("{}", result.run.dir.display());
    let mut report = match result.report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: building reports: {e}");
            return exit::RUN_ERROR;
        }
    };
    if let Some(base) = &args.baseline {
        match crate::reporting::compare_runs(base, &result.run.dir, &margins) {
            Ok((_, _, mut c)) => report.comparisons.append(&mut c),
            Err(e) => {
                eprintln!("error: baseline: {e}");
                return exit::CONFIG_ERROR;
            }
        }
    }
    if stop.is_stopped() {
        eprintln!(
            "stopped: finished calls are on disk; continue with --resume --out {}",
            result.run.dir.display()
        );
        return exit::INTERRUPTED;
    }
    let manifest = &result.run.manifest;
    if manifest.counts.write_errors > 0 {
        eprintln!(
            "error: {} artifact writes failed (listed in summary.md and run.json)",
            manifest.counts.write_errors
        );
        return exit::RUN_ERROR;
    }
    // A call the provider broke, one that never ran, one rehearse could not
    // score (its record says why) and one whose checks errored (a judge that
    // could not answer, say) all leave the run without a verdict: that is
    // the run's error, never the agent's, with a gate or without.
    let unscored = manifest
        .conversations
        .iter()
        .filter(|c| match c.status {
            Some(Status::Error) => true,
            Some(Status::Completed) => c.error.is_some(),
            Some(Status::Interrupted | Status::Imported) => false,
            None => c.not_started.is_none(),
        })
        .count();
    let gate = gate
        .as_ref()
        .map(|g| super::report_cmd::gate_exit(&report, Some(g), Some(&result.run.dir)));
    if unscored + super::report_cmd::errored(&report) > 0 {
        eprintln!(
            "error: some conversations have no verdict: they or their checks errored (summary.md lists them and why)"
        );
        return exit::RUN_ERROR;
    }
    gate.unwrap_or(exit::OK)
}

/// Prints why a run could not start, and picks its exit code: mistakes in
/// the configuration or the command line exit 2, anything else 3.
fn report_error(e: &RunError) -> u8 {
    match e {
        RunError::Config(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            exit::CONFIG_ERROR
        }
        RunError::Provider { error, .. } => {
            eprintln!("error: {e}");
            if let ProviderError::MissingKey { var, .. } = error {
                eprintln!(
                    "  hint: export {var} (keys are read from the environment only), or name another variable with `api_key_env:` in the agent file"
                );
            }
            exit::CONFIG_ERROR
        }
        RunError::Selection(_) => {
            eprintln!("error: {e}");
            exit::CONFIG_ERROR
        }
        // A run folder that cannot be used as given is the command's mistake.
        RunError::Folder(_) | RunError::ResumeSeed { .. } => {
            eprintln!("error: {e}");
            exit::CONFIG_ERROR
        }
        RunError::Setup(_) => {
            eprintln!("error: {e}");
            exit::RUN_ERROR
        }
    }
}
