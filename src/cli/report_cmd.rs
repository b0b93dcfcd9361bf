//! `rehearse report DIR` and `rehearse compare BASE CANDIDATE`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::reporting::{self, gates};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run directory.
    run: PathBuf,
    /// Gate file: exit 1 when a gate fails.
    #[arg(long)]
    gate: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The baseline run directory.
    base: PathBuf,
    /// The candidate run directory.
    candidate: PathBuf,
    /// Where compare.md goes (default: the candidate run).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Gate file: `no_significant_regression` and other rules apply.
    #[arg(long)]
    gate: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Shard run directories to combine.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The merged run directory.
    #[arg(long)]
    out: PathBuf,
    /// Gate file applied to the merged run (exit 1 when a gate fails).
    #[arg(long)]
    gate: Option<PathBuf>,
}

pub fn merge(args: MergeArgs) -> u8 {
    if let Err(e) = crate::run_folder::merge::merge(&args.out, &args.shards) {
        eprintln!("error: {e}");
        return exit::CONFIG_ERROR;
    }
    report(ReportArgs {
        run: args.out,
        gate: args.gate,
    })
}

/// Conversations without a verdict because they, or one of their checks,
/// errored (listed in `summary.md`).
pub fn errored(report: &reporting::Report) -> usize {
    report
        .conversations
        .iter()
        .filter(|c| c.verdict == crate::run_folder::Verdict::Error)
        .count()
}

/// Exit code for a report under optional gates.
pub fn gate_exit(report: &reporting::Report, gate: Option<&Path>) -> u8 {
    let Some(path) = gate else { return exit::OK };
    let file = match gates::GateFile::load(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    let results = gates::evaluate(&file, report);
    for g in &results {
        eprintln!(
            "gate {}: {} ({})",
            if g.passed { "ok  " } else { "FAIL" },
            g.rule,
            g.detail
        );
    }
    if errored(report) > 0 {
        eprintln!("gates: conversations errored; no verdict");
        return exit::RUN_ERROR;
    }
    if results.iter().all(|g| g.passed) {
        exit::OK
    } else {
        exit::GATE_FAILED
    }
}

pub fn report(args: ReportArgs) -> u8 {
    match reporting::build(&args.run) {
        Ok(r) => {
            println!("{}", args.run.join("summary.md").display());
            gate_exit(&r, args.gate.as_deref())
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::CONFIG_ERROR
        }
    }
}

pub fn compare(args: CompareArgs) -> u8 {
    let (conversations, results, comparisons) =
        match reporting::compare_runs(&args.base, &args.candidate) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::CONFIG_ERROR;
            }
        };
    let out = args.out.unwrap_or_else(|| args.candidate.clone());
    let md = reporting::summary::comparisons_markdown(&comparisons);
    if let Err(e) = crate::run_folder::write_atomic(&out.join("compare.md"), md.as_bytes()) {
        eprintln!("error: {e}");
        return exit::RUN_ERROR;
    }
    if let Err(e) = reporting::write_comparison_files(&out, &comparisons) {
        eprintln!("error: {e}");
        return exit::RUN_ERROR;
    }
    print!("{md}");
    let report = reporting::Report {
        run_id: "compare".into(),
        variants: vec![],
        checks: vec![],
        comparisons,
        condition_names: vec![],
        conditions: vec![],
        robustness: vec![],
        conversations,
        results,
        not_run: vec![],
        write_errors: vec![],
        write_error_count: 0,
        notes: vec![],
        harness_overloaded: false,
    };
    gate_exit(&report, args.gate.as_deref())
}
