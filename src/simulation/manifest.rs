//! What a run keeps on disk about itself: `run.json` (the plan, each call's
//! status as it finishes, the tallies) and the atomic writes that keep it
//! and every other finished artifact whole whatever happens to the process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bridge::Status;
use super::bridge::TurnMode;
use super::clock::Pace;
use crate::scoring::Verdict;

pub const MANIFEST: &str = "run.json";
pub const OUTCOME: &str = "conversation.json";
pub const MANIFEST_VERSION: u32 = 1;
/// Judge replies, cached by request hash, shared by a run and its rescoring.
pub const JUDGE_CACHE: &str = "judge-cache";

/// One planned conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedConversation {
    pub variant: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    /// Same for every variant of a scenario × repeat, so A/B pairs match.
    pub seed: u64,
    /// Relative to the run directory.
    pub dir: PathBuf,
    pub status: Option<Status>,
    pub error: Option<String>,
    pub end_reason: Option<String>,
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// Why it was not started (e.g. the cost budget was spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_started: Option<String>,
    /// Tries it took, when more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub run_id: String,
    pub harness_version: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub seed: u64,
    pub pace: Pace,
    pub turns: TurnMode,
    pub repeat: u32,
    pub concurrency: usize,
    /// sha256 of every config file the run read, by path.
    pub config_hashes: BTreeMap<String, String>,
    pub variants: Vec<String>,
    /// Each variant's agent file (relative to the project), `FILE[:variant]`.
    pub agents: BTreeMap<String, String>,
    pub scenarios: Vec<String>,
    pub conversations: Vec<PlannedConversation>,
    pub counts: Counts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub planned: usize,
    pub completed: usize,
    pub error: usize,
    /// Not started (cost budget spent, circuit breaker open, run stopped).
    #[serde(default)]
    pub not_started: usize,
    /// Cut short by a stop (Ctrl-C); `--resume` runs them again.
    #[serde(default)]
    pub interrupted: usize,
}

impl Counts {
    /// The tallies of a run's conversations as recorded.
    pub fn of(conversations: &[PlannedConversation]) -> Counts {
        let with = |s: Status| conversations.iter().filter(|c| c.status == Some(s)).count();
        Counts {
            planned: conversations.len(),
            completed: with(Status::Completed),
            error: with(Status::Error),
            interrupted: with(Status::Interrupted),
            not_started: conversations
                .iter()
                .filter(|c| c.status.is_none() && c.not_started.is_some())
                .count(),
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} completed, {} error", self.completed, self.error)?;
        if self.interrupted > 0 {
            write!(f, ", {} interrupted", self.interrupted)?;
        }
        if self.not_started > 0 {
            write!(f, ", {} not started", self.not_started)?;
        }
        write!(f, ", of {} planned", self.planned)
    }
}

/// Writes a file so that readers see the old or the new content, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

pub fn save_manifest(dir: &Path, m: &Manifest) {
    if let Ok(json) = serde_json::to_vec_pretty(m)
        && let Err(e) = write_atomic(&dir.join(MANIFEST), &json)
    {
        tracing::error!(error = %e, "cannot write run.json");
    }
}
