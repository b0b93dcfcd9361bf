//! `rehearse init [DIR]`: a new project with one agent (and its handoff
//! target), one persona and one scenario that run as they are, plus the JSON
//! Schemas their modelines point at. The files are the bundled samples.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use super::schema_cmd;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Folder to create the project in.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    force: bool,
}

const FILES: &[(&str, &str)] = &[
    (
        "agents/support.yaml",
        include_str!("../../agents/support.yaml"),
    ),
    ("agents/human.yaml", include_str!("../../agents/human.yaml")),
    (
        "personas/patient-pat.yaml",
        include_str!("../../personas/patient-pat.yaml"),
    ),
    (
        "scenarios/happy-path-refund.yaml",
        include_str!("../../scenarios/happy-path-refund.yaml"),
    ),
    ("reports/.gitkeep", ""),
];

pub fn run(args: InitArgs) -> u8 {
    match scaffold(&args.dir, args.force) {
        Ok(written) => {
            for p in written {
                println!("created {}", p.display());
            }
            println!("next: cd {} && rehearse run", args.dir.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_ERROR
        }
    }
}

fn scaffold(dir: &Path, force: bool) -> Result<Vec<PathBuf>, String> {
    let schemas = schema_cmd::schemas();
    let files = FILES
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .chain(
            schemas
                .into_iter()
                .map(|(n, t)| (Path::new("schemas").join(n), t)),
        );
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if path.exists() && !force {
            return Err(format!(
                "{} already exists (use --force to overwrite)",
                path.display()
            ));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
