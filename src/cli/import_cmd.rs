//! `rehearse import SOURCE…`: real calls into a scored run folder and
//! replay scenarios.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::import::redact::{BUILT_IN, Pattern};
use crate::suite::import::{ImportRequest, ImportRunError, Source, import};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Calls to import: Realtime event logs (JSON lines), call recordings
    /// (`.wav`, caller left and agent right), or call folders of a rehearse run.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// With one mono recording as SOURCE (the caller's track): the agent's track.
    #[arg(long)]
    agent_audio: Option<PathBuf>,
    /// The call's transcript (JSON lines with speaker/text/start_ms/end_ms,
    /// or `Agent: …` / `Caller: …` lines), for sources without words.
    #[arg(long)]
    transcript: Option<PathBuf>,
    /// The run folder to write (default: reports/import-<time> in the project).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The project the replay scenarios go into (scenarios/replay-<name>.yaml).
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// The agent that served the calls (`FILE[:variant]`, relative to the
    /// project): their tools and stages score them. Default: the run's own
    /// agent for run calls, or one written from the log's session.
    #[arg(long)]
    agent: Option<String>,
    /// Mask personal data at import: any of phone, email, card (comma-separated).
    #[arg(long, value_delimiter = ',')]
    redact: Vec<String>,
    /// Mask matches of this regex too (repeatable).
    #[arg(long)]
    redact_pattern: Vec<String>,
    /// Replace replay scenarios of the same id.
    #[arg(long)]
    force: bool,
    /// Words for turns that have none (a recording without a transcript).
    #[command(flatten)]
    transcription: super::TranscriptionArgs,
}

fn patterns(args: &ImportArgs) -> Result<Vec<Pattern>, String> {
    let mut out = Vec::new();
    for name in &args.redact {
        out.push(Pattern::built_in(name.trim()).ok_or_else(|| {
            format!(
                "--redact {name}: unknown pattern (known: {})",
                BUILT_IN.join(", ")
            )
        })?);
    }
    for (i, source) in args.redact_pattern.iter().enumerate() {
        out.push(
            Pattern::custom(i + 1, source)
                .map_err(|e| format!("--redact-pattern {source}: {e}"))?,
        );
    }
    Ok(out)
}

pub async fn run(args: ImportArgs) -> u8 {
    let redact = match patterns(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    if args.agent_audio.is_some() && args.sources.len() != 1 {
        eprintln!("error: --agent-audio goes with one SOURCE (the caller's track)");
        return exit::CONFIG_ERROR;
    }
    let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    let out = args.out.clone().unwrap_or_else(|| {
        args.project.join("reports").join(format!(
            "import-{}",
            stamp.trim_end_matches('Z').replace('.', "-")
        ))
    });
    let request = ImportRequest {
        sources: args
            .sources
            .iter()
            .map(|p| Source::detect(p, args.agent_audio.as_deref()))
            .collect(),
        transcript: args.transcript.clone(),
        out,
        project: args.project.clone(),
        agent: args.agent.clone(),
        redact,
        force: args.force,
        transcriber: args.transcription.transcriber(),
    };
    let summary = match import(request).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                ImportRunError::Write(..) => exit::RUN_ERROR,
                _ => exit::CONFIG_ERROR,
            };
        }
    };
    for (call, verdict) in &summary.calls {
        println!("imported {call}: {}", verdict.as_str());
    }
    for s in &summary.scenarios {
        println!("replay scenario: {}", s.display());
    }
    for w in &summary.written {
        println!("wrote {}", w.display());
    }
    if !summary.redacted.is_empty() {
        let parts: Vec<String> = summary
            .redacted
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!("redacted: {}", parts.join(", "));
    } else if !args.redact.is_empty() || !args.redact_pattern.is_empty() {
        println!("redacted: nothing matched");
    }
    if summary.secrets_dropped > 0 {
        println!("secrets dropped (not copied): {}", summary.secrets_dropped);
    }
    for n in &summary.notes {
        eprintln!("note: {n}");
    }
    println!("{}", summary.run_dir.display());
    match summary.report {
        Ok(_) => exit::OK,
        Err(e) => {
            eprintln!("error: building reports: {e}");
            exit::RUN_ERROR
        }
    }
}
