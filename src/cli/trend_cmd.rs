//! `rehearse trend reports/`: the nightly view over many runs.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::report_cmd::{load_gate, margins, print_gates};
use crate::reporting::gates;
use crate::reporting::trend::{self, TrendSettings, render};

#[derive(Args, Debug)]
pub struct TrendArgs {
    /// The folder whose run folders (each with run.json and its tables) make
    /// the series, ordered by start time.
    runs: PathBuf,
    /// Where trend.html, trend.md and trend.parquet go (default: that folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs pooled as the baseline each run is compared with.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    window: u32,
    /// Gate file: its `no_trend_regression` rules apply to the latest run
    /// (exit 1 when one fails); its `margins:` apply to every verdict.
    #[arg(long)]
    gate: Option<PathBuf>,
}

pub fn run(args: TrendArgs) -> u8 {
    let gate = match load_gate(args.gate.as_deref()) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let (runs, skipped) = match trend::load_runs(&args.runs) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    for s in &skipped {
        eprintln!("warning: not read: {}: {}", s.dir, s.why);
    }
    let settings = TrendSettings {
        window: args.window as usize,
        margins: margins(gate.as_ref()),
        ..TrendSettings::default()
    };
    let trend = trend::analyse(runs, skipped, &settings);
    let out = args.out.unwrap_or_else(|| args.runs.clone());
    if let Err(e) = render::write_all(&trend, &out) {
        eprintln!("error: {e}");
        return exit::RUN_ERROR;
    }
    print!("{}", render::markdown(&trend));
    println!("{}", out.join("trend.html").display());
    let Some(file) = gate else { return exit::OK };
    let Some(latest) = trend.runs.last() else {
        eprintln!("error: no run could be read");
        return exit::RUN_ERROR;
    };
    let results: Vec<gates::GateResult> = file
        .rules
        .iter()
        .filter(|r| r.no_trend_regression)
        .map(|rule| gates::trend_gate(rule, &latest.run_id, Some(Ok(&trend))))
        .collect();
    if results.is_empty() {
        eprintln!("gates: the gate file has no `no_trend_regression` rule; nothing to check here");
    }
    print_gates(&results);
    if results.iter().all(|g| g.passed) {
        exit::OK
    } else {
        exit::GATE_FAILED
    }
}
