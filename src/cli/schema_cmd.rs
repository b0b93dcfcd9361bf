//! `rehearse schema`: JSON Schemas of the config kinds, derived from the Rust
//! types, so editors validate and complete the YAML files (the sample files
//! carry a `yaml-language-server` modeline pointing at them).

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use crate::config::AgentFile;
use crate::config::condition::ConditionFile;
use crate::config::persona::PersonaFile;
use crate::config::rubric::RubricFile;
use crate::config::scenario::ScenarioFile;

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Folder to write `<kind>.schema.json` files into.
    #[arg(long, default_value = "schemas")]
    out: PathBuf,
}

/// Every config kind's schema, by file name.
pub fn schemas() -> Vec<(&'static str, String)> {
    let pretty = |s: schemars::Schema| serde_json::to_string_pretty(&s).unwrap_or_default() + "\n";
    vec![
        (
            "agent.schema.json",
            pretty(schemars::schema_for!(AgentFile)),
        ),
        (
            "persona.schema.json",
            pretty(schemars::schema_for!(PersonaFile)),
        ),
        (
            "scenario.schema.json",
            pretty(schemars::schema_for!(ScenarioFile)),
        ),
        (
            "rubric.schema.json",
            pretty(schemars::schema_for!(RubricFile)),
        ),
        (
            "condition.schema.json",
            pretty(schemars::schema_for!(ConditionFile)),
        ),
    ]
}

pub fn run(args: SchemaArgs) -> u8 {
    if let Err(e) = write_all(&args.out) {
        eprintln!("error: cannot write schemas to {}: {e}", args.out.display());
        return exit::RUN_ERROR;
    }
    exit::OK
}

fn write_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in schemas() {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schemas_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        for (name, text) in super::schemas() {
            let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                committed == text,
                "schemas/{name} is stale: run `cargo run -- schema`"
            );
        }
    }
}
