//! `rehearse rescore RUN_DIR`: recompute every score of a stored run from its
//! artifacts and the current config (rubric edits included), without running
//! a single conversation.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::config::agent::AgentFile;
use crate::config::project::Project;
use crate::scoring::{self, SCORES, ScoringInputs};
use crate::simulation::run::{
    AgentRef, JUDGE_CACHE, MANIFEST, Manifest, RunOptions, save_manifest,
};

#[derive(Args, Debug)]
pub struct RescoreArgs {
    /// The run directory (holds run.json).
    run: PathBuf,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    transcription: super::TranscriptionArgs,
}

pub async fn run(args: RescoreArgs) -> u8 {
    let mut manifest: Manifest = match std::fs::read(args.run.join(MANIFEST))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {}: {e}", args.run.join(MANIFEST).display());
            return exit::CONFIG_ERROR;
        }
    };
    let project = match Project::load(&args.project) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return exit::CONFIG_ERROR;
        }
    };
    let mut opts = RunOptions::new(&args.project);
    args.transcription.apply(&mut opts);
    let transcriber = opts.transcriber();
    let rubrics: Vec<_> = project.rubrics.iter().map(|(_, r)| r.clone()).collect();
    let (mut changed, mut same, mut missing) = (0, 0, 0);
    let mut verdicts = std::collections::BTreeMap::<String, usize>::new();
    for entry in manifest
        .conversations
        .iter_mut()
        .filter(|c| c.not_started.is_none())
    {
        let dir = args.run.join(&entry.dir);
        let agent = manifest
            .agents
            .get(&entry.variant)
            .map(|s| AgentRef::parse(s))
            .and_then(|r| {
                let file = AgentFile::load(&args.project.join(&r.path)).ok()?;
                match &r.variant {
                    Some(v) => file.with_variant(v).ok(),
                    None => Some(file),
                }
            });
        let scenario = project.scenario(&entry.scenario);
        let persona = project.personas.get(&entry.persona).map(|(_, p)| p);
        let (Some(agent), Some(scenario), Some(persona)) = (agent, scenario, persona) else {
            eprintln!(
                "warning: {}: its agent, scenario or persona is no longer in the project; left as it was",
                dir.display()
            );
            missing += 1;
            continue;
        };
        let before = std::fs::read(dir.join(SCORES)).ok();
        let inputs = ScoringInputs {
            scenario,
            agent: &agent,
            persona,
            rubrics: &rubrics,
            cache_dir: args.run.join(JUDGE_CACHE),
            transcriber: transcriber.clone(),
        };
        let sheet = scoring::score_and_save(&dir, entry, &inputs).await;
        let after = std::fs::read(dir.join(SCORES)).ok();
        if before == after {
            same += 1;
        } else {
            changed += 1;
        }
        entry.verdict = Some(sheet.verdict);
        *verdicts
            .entry(format!("{:?}", sheet.verdict).to_lowercase())
            .or_default() += 1;
    }
    save_manifest(&args.run, &manifest);
    println!(
        "rescored {} conversations: {changed} changed, {same} unchanged, {missing} skipped; verdicts {verdicts:?}",
        changed + same
    );
    exit::OK
}
