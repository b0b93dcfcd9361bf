//! Reading a folder of runs for the trend: each run's manifest (start time,
//! git revision) and its Parquet tables, read with polars.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{CallMeasures, Outcome, TrendRun, Unit};
use crate::run_folder::{MANIFEST, RunFolder};

#[derive(Debug, thiserror::Error)]
pub enum TrendError {
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: no run folders in it (folders with a run.json)")]
    NoRuns(PathBuf),
    #[error("tables: {0}")]
    Polars(#[from] PolarsError),
}

/// One run as the trend sees it.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub run: TrendRun,
    /// Every scenario × condition the run called.
    pub units: BTreeSet<Unit>,
    pub outcomes: Vec<Outcome>,
    pub calls: Vec<CallMeasures>,
}

/// A folder that looked like a run but could not be read, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SkippedRun {
    pub dir: String,
    pub why: String,
}

/// Every run folder directly under `dir`, read; folders that cannot be
/// read are returned with the reason (the pages list them).
pub fn load_runs(dir: &Path) -> Result<(Vec<LoadedRun>, Vec<SkippedRun>), TrendError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrendError::Io(dir.to_path_buf(), e))?;
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    folders.sort();
    if folders.is_empty() {
        return Err(TrendError::NoRuns(dir.to_path_buf()));
    }
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for folder in folders {
        match load_run(&folder) {
            Ok(run) => runs.push(run),
            Err(why) => skipped.push(SkippedRun {
                dir: folder.display().to_string(),
                why,
            }),
        }
    }
    Ok((runs, skipped))
}

fn load_run(dir: &Path) -> Result<LoadedRun, String> {
    let folder = RunFolder::open(dir).map_err(|e| e.to_string())?;
    let manifest = folder.manifest;
    let imported = manifest
        .conversations
        .iter()
        .any(|c| c.status == Some(crate::run_folder::Status::Imported));
    if imported {
        return Err("imported production calls, not a run of the suite: left out".into());
    }
    let table = |stem: &str| -> Result<DataFrame, String> {
        let path = dir.join(format!("{stem}.parquet"));
        let file = File::open(&path).map_err(|_| {
            format!(
                "no {stem}.parquet: build its tables with `rehearse report {}`",
                dir.display()
            )
        })?;
        ParquetReader::new(file)
            .finish()
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let conversations = table("conversations")?;
    let results = table("results")?;
    let mut loaded = LoadedRun {
        run: TrendRun {
            run_id: manifest.run_id,
            dir: dir.display().to_string(),
            started_at: manifest.started_at,
            git_revision: manifest.git_revision,
        },
        units: BTreeSet::new(),
        outcomes: Vec::new(),
        calls: Vec::new(),
    };
    read_conversations(&conversations, &mut loaded)
        .map_err(|e| format!("conversations.parquet: {e}"))?;
    read_results(&results, &mut loaded).map_err(|e| format!("results.parquet: {e}"))?;
    Ok(loaded)
}

/// A string column; `condition` was added in run-folder format 3, and
/// older tables are all `clean`.
fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    if name == "condition" && df.column(name).is_err() {
        return Ok(vec![crate::run_folder::CLEAN.to_string(); df.height()]);
    }
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect())
}

/// A numeric column; the cost columns added in format 2 read as empty in
/// older tables.
fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    let Ok(column) = df.column(name) else {
        return Ok(vec![None; df.height()]);
    };
    let column = column.cast(&DataType::Float64)?;
    Ok(column.f64()?.iter().collect())
}

fn bools(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<bool>>> {
    Ok(df.column(name)?.bool()?.iter().collect())
}

fn read_conversations(df: &DataFrame, run: &mut LoadedRun) -> PolarsResult<()> {
    let (variants, scenarios, conditions) = (
        strings(df, "variant")?,
        strings(df, "scenario")?,
        strings(df, "condition")?,
    );
    let passed = bools(df, "passed")?;
    let p95 = floats(df, "agent_ttfa_p95_ms")?;
    let costs: Vec<Vec<Option<f64>>> = ["cost_usd", "caller_cost_usd", "judge_cost_usd"]
        .iter()
        .map(|c| floats(df, c))
        .collect::<PolarsResult<_>>()?;
    for i in 0..df.height() {
        let unit: Unit = (scenarios[i].clone(), conditions[i].clone());
        run.units.insert(unit.clone());
        if let Some(passed) = passed[i] {
            run.outcomes.push(Outcome {
                variant: variants[i].clone(),
                check: "overall".into(),
                unit: unit.clone(),
                passed,
            });
        }
        run.calls.push(CallMeasures {
            variant: variants[i].clone(),
            unit,
            response_p95_ms: p95[i],
            cost_usd: costs.iter().filter_map(|c| c[i]).sum(),
        });
    }
    Ok(())
}

fn read_results(df: &DataFrame, run: &mut LoadedRun) -> PolarsResult<()> {
    let (variants, scenarios, conditions, checks) = (
        strings(df, "variant")?,
        strings(df, "scenario")?,
        strings(df, "condition")?,
        strings(df, "check")?,
    );
    let passed = bools(df, "passed")?;
    for i in 0..df.height() {
        if let Some(passed) = passed[i] {
            run.outcomes.push(Outcome {
                variant: variants[i].clone(),
                check: checks[i].clone(),
                unit: (scenarios[i].clone(), conditions[i].clone()),
                passed,
            });
        }
    }
    Ok(())
}
