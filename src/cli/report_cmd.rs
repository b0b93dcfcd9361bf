//! `rehearse report DIR` and `rehearse compare BASE CANDIDATE`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::reporting::margins::Margins;
use crate::reporting::trend::{self, Trend, TrendSettings};
use crate::reporting::{self, gates};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run directory.
    run: PathBuf,
    /// Gate file: exit 1 when a gate fails. Its `margins:` apply to the
    /// A/B verdicts in the reports.
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

/// The gate file, if one is given; a broken one is reported and gets the
/// config-error exit code.
pub fn load_gate(path: Option<&Path>) -> Result<Option<gates::GateFile>, u8> {
    let Some(path) = path else { return Ok(None) };
    gates::GateFile::load(path).map(Some).map_err(|e| {
        eprintln!("error: {e}");
        exit::CONFIG_ERROR
    })
}

/// The practical margins a gate file sets (the defaults without one).
pub fn margins(gate: Option<&gates::GateFile>) -> Margins {
    gate.map(gates::GateFile::margins).unwrap_or_default()
}

/// The runs beside `run_dir` (its parent folder), analysed as a trend,
/// when a gate rule needs them; why not, when they cannot be read.
fn history(file: &gates::GateFile, run_dir: Option<&Path>) -> Option<Result<Trend, String>> {
    if !file.needs_trend() {
        return None;
    }
    let Some(parent) = run_dir.and_then(Path::parent) else {
        return Some(Err("no run folder to find the history beside".into()));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let settings = TrendSettings {
        margins: file.margins(),
        ..TrendSettings::default()
    };
    Some(
        trend::load_runs(parent)
            .map(|(runs, skipped)| trend::analyse(runs, skipped, &settings))
            .map_err(|e| e.to_string()),
    )
}

/// One line per gate result, on stderr.
pub fn print_gates(results: &[gates::GateResult]) {
    for g in results {
        eprintln!(
            "gate {}: {} ({})",
            if g.passed { "ok  " } else { "FAIL" },
            g.rule,
            g.detail
        );
    }
}

/// Exit code for a report under optional gates; `run_dir` is where the
/// report's run is (its siblings are the history trend rules need).
pub fn gate_exit(
    report: &reporting::Report,
    gate: Option<&gates::GateFile>,
    run_dir: Option<&Path>,
) -> u8 {
    let Some(file) = gate else { return exit::OK };
    let trend = history(file, run_dir);
    let results = gates::evaluate(file, report, trend.as_ref().map(|t| t.as_ref()));
    print_gates(&results);
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
    let gate = match load_gate(args.gate.as_deref()) {
        Ok(g) => g,
        Err(code) => return code,
    };
    match reporting::build_with(&args.run, &margins(gate.as_ref())) {
        Ok(r) => {
            println!("{}", args.run.join("summary.md").display());
            gate_exit(&r, gate.as_ref(), Some(&args.run))
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::CONFIG_ERROR
        }
    }
}

pub fn compare(args: CompareArgs) -> u8 {
    let gate = match load_gate(args.gate.as_deref()) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let (conversations, results, comparisons) =
        match reporting::compare_runs(&args.base, &args.candidate, &margins(gate.as_ref())) {
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
        agreement: vec![],
    };
    gate_exit(&report, gate.as_ref(), None)
}
