//! `rehearse guardrails RUN --debounce 50,100,200`: replays the agents'
//! guardrails over a stored run at each debounce setting, prints the table
//! and writes it to `guardrail-replay.md` in the run.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::guardrails::replay::parse_debounces;
use crate::reporting::guardrail_replay;
use crate::run_folder::write_atomic;

#[derive(Args, Debug)]
pub struct GuardrailsArgs {
    /// The run directory (holds run.json).
    run: PathBuf,
    /// Debounce settings to compare, in characters (0: complete responses only).
    #[arg(long, default_value = "50,100,200", value_parser = parse_debounces)]
    debounce: std::vec::Vec<u32>,
    /// The project whose agent files hold the guardrails.
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub async fn run(args: GuardrailsArgs) -> u8 {
    let replay =
        match crate::suite::replay_guardrails(&args.run, &args.project, &args.debounce).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::CONFIG_ERROR;
            }
        };
    if replay.rows.is_empty() {
        eprintln!(
            "error: no call of {} has an agent with guardrails in {}; add `guardrails:` to its agent file",
            args.run.display(),
            args.project.display()
        );
        return exit::CONFIG_ERROR;
    }
    if !replay.skipped.is_empty() {
        eprintln!(
            "note: {} call(s) without guardrails (or whose agent is no longer in the project) were left out",
            replay.skipped.len()
        );
    }
    let table = guardrail_replay::markdown(&replay.rows);
    println!("{table}");
    let path = args.run.join("guardrail-replay.md");
    match write_atomic(&path, table.as_bytes()) {
        Ok(()) => {
            eprintln!("wrote {}", path.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            exit::RUN_ERROR
        }
    }
}
