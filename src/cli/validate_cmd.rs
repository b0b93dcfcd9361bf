//! `rehearse validate [PATH...]`: checks config files and their references,
//! listing every problem.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::config::project;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Files to check (default: the whole project).
    paths: Vec<PathBuf>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

pub fn run(args: ValidateArgs) -> u8 {
    let errors = project::validate(&args.project, &args.paths);
    if errors.is_empty() {
        println!("ok: no problems found");
        return exit::OK;
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    eprintln!("{} problem(s) found", errors.len());
    exit::CONFIG_ERROR
}
