//! `rehearse rescore RUN_DIR`: recompute every score of a stored run from its
//! artifacts and the current config (rubric edits included), without running
//! a single conversation.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::suite::{self, RescoreError};

#[derive(Args, Debug)]
pub struct RescoreArgs {
    /// The run directory (holds run.json).
    run: PathBuf,
    /// The project whose current config scores the run.
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    transcription: super::TranscriptionArgs,
}

pub async fn run(args: RescoreArgs) -> u8 {
    let summary =
        match suite::rescore(&args.run, &args.project, args.transcription.transcriber()).await {
            Ok(s) => s,
            Err(RescoreError::Config(errors)) => {
                for e in errors {
                    eprintln!("error: {e}");
                }
                return exit::CONFIG_ERROR;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::CONFIG_ERROR;
            }
        };
    for dir in &summary.skipped {
        eprintln!(
            "warning: {dir}: its agent, scenario or persona is no longer in the project; left as it was"
        );
    }
    println!(
        "rescored {} conversations: {} changed, {} unchanged, {} skipped; verdicts {:?}",
        summary.changed + summary.unchanged,
        summary.changed,
        summary.unchanged,
        summary.skipped.len(),
        summary.verdicts
    );
    if summary.write_errors.is_empty() {
        exit::OK
    } else {
        for e in &summary.write_errors {
            eprintln!("error: cannot write {e}");
        }
        exit::RUN_ERROR
    }
}
