//! The command line: parses arguments and dispatches. No logic lives here.

mod emulator_cmd;
mod guardrails_cmd;
mod import_cmd;
mod init_cmd;
mod report_cmd;
mod rescore_cmd;
mod review_cmd;
mod run_cmd;
mod schema_cmd;
mod speak_cmd;
mod tone_cmd;
mod trend_cmd;
mod validate_cmd;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::transcription::{HttpTranscriber, Transcriber};

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const GATE_FAILED: u8 = 1;
    pub const CONFIG_ERROR: u8 = 2;
    pub const RUN_ERROR: u8 = 3;
    /// Stopped by Ctrl-C / SIGTERM (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser, Debug)]
#[command(
    name = "rehearse",
    version,
    about = "Test realtime voice agents with synthetic callers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run synthetic calls against the agent under test (default: the
    /// bundled sample suite against the local emulator).
    Run(run_cmd::RunArgs),
    /// Rebuild a run's tables and reports from its artifacts and scores.
    Report(report_cmd::ReportArgs),
    /// Combine shards of one run (`run --shard i/n`) into one run and report.
    Merge(report_cmd::MergeArgs),
    /// Compare two runs (baseline, candidate) with paired statistics.
    Compare(report_cmd::CompareArgs),
    /// Read a folder of runs (nightly, say) and write the trend: pass rates
    /// over time with intervals, the first run of each real change.
    Trend(trend_cmd::TrendArgs),
    /// Recompute the scores of a stored run (after a rubric edit, say).
    Rescore(rescore_cmd::RescoreArgs),
    /// Replay the agents' guardrails over a stored run at other debounce
    /// settings: caught before heard, heard ms, checks and cost per setting.
    Guardrails(guardrails_cmd::GuardrailsArgs),
    /// Import real calls (Realtime event logs, recordings, run calls) as a
    /// scored run folder and replay scenarios.
    Import(import_cmd::ImportArgs),
    /// Serve a local page to label a run's calls (saved to labels.jsonl).
    Review(review_cmd::ReviewArgs),
    /// The machine's agreement with reviewers' labels: Cohen's kappa per check.
    Agreement(review_cmd::AgreementArgs),
    /// Check config files and their cross-references.
    Validate(validate_cmd::ValidateArgs),
    /// Scaffold a new project that runs as it is.
    Init(init_cmd::InitArgs),
    /// Serve the Realtime protocol locally, playing a scripted agent.
    Emulator(emulator_cmd::EmulatorArgs),
    /// Tone metrics (pitch, loudness, pauses, rate) of a WAV file.
    Tone(tone_cmd::ToneArgs),
    /// Speak text with the offline voice into a WAV file.
    Speak(speak_cmd::SpeakArgs),
    /// Write JSON Schemas for the config files (for editor validation).
    Schema(schema_cmd::SchemaArgs),
}

/// A transcription endpoint (`/audio/transcriptions`): the run's
/// audio-vs-transcript check, or the emulator's ears for caller audio.
#[derive(clap::Args, Debug, Clone)]
pub struct TranscriptionArgs {
    /// OpenAI-compatible API base (`http://host:port/v1`) for transcription:
    /// the audio-vs-transcript check of `run` and `rescore` (skipped without
    /// it), the ears of `emulator` for caller audio sent without text, and
    /// the words of `import`ed turns that have none.
    #[arg(long)]
    transcription_url: Option<String>,
    /// Model asked for at the transcription endpoint.
    #[arg(long, default_value = "gpt-4o-mini-transcribe")]
    transcription_model: String,
    /// Environment variable holding the transcription endpoint's API key.
    #[arg(long)]
    transcription_key_env: Option<String>,
}

impl TranscriptionArgs {
    fn transcriber(&self) -> Option<Arc<dyn Transcriber>> {
        let url = self.transcription_url.as_ref()?;
        Some(Arc::new(HttpTranscriber::with_key_from_env(
            url,
            &self.transcription_model,
            self.transcription_key_env.as_deref(),
        )))
    }
}

pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUN_ERROR);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run_cmd::run(args).await,
            Command::Rescore(args) => rescore_cmd::run(args).await,
            Command::Guardrails(args) => guardrails_cmd::run(args).await,
            Command::Import(args) => import_cmd::run(args).await,
            Command::Review(args) => review_cmd::review(args).await,
            Command::Agreement(args) => review_cmd::agreement(args),
            Command::Report(args) => report_cmd::report(args),
            Command::Compare(args) => report_cmd::compare(args),
            Command::Merge(args) => report_cmd::merge(args),
            Command::Trend(args) => trend_cmd::run(args),
            Command::Validate(args) => validate_cmd::run(args),
            Command::Init(args) => init_cmd::run(args),
            Command::Emulator(args) => emulator_cmd::run(args).await,
            Command::Speak(args) => speak_cmd::run(args),
            Command::Tone(args) => tone_cmd::run(args),
            Command::Schema(args) => schema_cmd::run(args),
        }
    });
    // Calls cut off by a second Ctrl-C may still hold blocking threads;
    // the user asked to quit, so do not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(500));
    ExitCode::from(code)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REHEARSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
