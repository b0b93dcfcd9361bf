//! `rehearse report DIR` and `rehearse compare BASE CANDIDATE`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::reporting::{self, compare, gates, tables};

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
    #[arg(long)]
    gate: Option<PathBuf>,
}

pub fn merge(args: MergeArgs) -> u8 {
    if let Err(e) = crate::simulation::merge::merge(&args.out, &args.shards) {
        eprintln!("error: {e}");
        return exit::CONFIG_ERROR;
    }
    report(ReportArgs {
        run: args.out,
        gate: args.gate,
    })
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
    if report.conversations.iter().any(|c| c.status == "error") {
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

type Paired = (
    Vec<tables::ConversationRow>,
    Vec<tables::ResultRow>,
    Vec<compare::AbComparison>,
);

/// Pairs the first variant of `base` with the first variant of `candidate`.
pub fn compare_runs(base_dir: &Path, cand_dir: &Path) -> Result<Paired, String> {
    let load = |dir: &Path| -> Result<
        (
            Vec<tables::ConversationRow>,
            Vec<tables::ResultRow>,
            String,
            u64,
        ),
        String,
    > {
        let m = reporting::load_manifest(dir).map_err(|e| e.to_string())?;
        let (c, r) = tables::collect_rows(dir, &m);
        let variant = m.variants.first().cloned().unwrap_or_default();
        Ok((c, r, variant, m.seed))
    };
    let (base, cand) = (load(base_dir)?, load(cand_dir)?);
    // Label each run's rows by side, so identical variant names still pair up.
    let mut conversations = Vec::new();
    let mut results = Vec::new();
    for (rows, res, variant, side) in [
        (base.0, base.1, &base.2, "baseline"),
        (cand.0, cand.1, &cand.2, "candidate"),
    ] {
        conversations.extend(
            rows.into_iter()
                .filter(|r| &r.variant == variant)
                .map(|mut r| {
                    r.variant = side.into();
                    r
                }),
        );
        results.extend(
            res.into_iter()
                .filter(|r| &r.variant == variant)
                .map(|mut r| {
                    r.variant = side.into();
                    r
                }),
        );
    }
    let ab = compare::AbComparison {
        baseline: format!("{} ({})", base.2, base_dir.display()),
        candidate: format!("{} ({})", cand.2, cand_dir.display()),
        checks: compare::compare(&conversations, &results, "baseline", "candidate", cand.3),
        metrics: compare::compare_metrics(&conversations, "baseline", "candidate", cand.3),
    };
    Ok((conversations, results, vec![ab]))
}

pub fn compare(args: CompareArgs) -> u8 {
    let (conversations, results, comparisons) = match compare_runs(&args.base, &args.candidate) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    let out = args.out.unwrap_or_else(|| args.candidate.clone());
    let md = reporting::summary::comparisons_markdown(&comparisons);
    if let Err(e) = crate::simulation::run::write_atomic(&out.join("compare.md"), md.as_bytes()) {
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
        conversations,
        results,
        not_run: vec![],
    };
    gate_exit(&report, args.gate.as_deref())
}
