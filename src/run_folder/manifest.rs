//! `run.json`: the plan of a run, each call's status as it finishes, the
//! tallies, and what the harness noticed about itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::conversation::{EndReason, Status};
use super::scores::Verdict;

/// The format of a run folder. Bump it whenever a type in this module
/// changes in a way an older reader would misread, and say in
/// `docs/running.md` what changed.
///
/// 2: `conversation.json` gained `model`, `caller`, `notes` and
/// `write_errors`, and `end_reason` became a closed set; `run.json` gained
/// `harness_load` and `write_errors`.
/// 3: acoustic conditions: planned conversations have a `condition`,
/// `run.json` lists the run's `conditions`, `conversation.json` records the
/// `line` the caller's audio crossed, a call under a condition other than
/// `clean` has `customer_clean.wav`, and transcript lines may be a caller's
/// `sound` (a backchannel, a cough) rather than a turn.
/// 4: turn-taking: a caller's transcript line may carry the `pauses`
/// (hesitations) inside it, and a caller `sound` may also be `side_talk` or
/// `noise`.
/// 5: guardrails: a call of an agent with `guardrails:` has
/// `guardrails.jsonl`, every check with its timing and any trip.
/// 6: production calls and replays: a call's status may be `imported`
/// (`conversation.json` then has `imported`, its provenance), a replayed
/// call may end `diverged` (with `divergence`), and `run.json` may carry the
/// project's `git_revision`. Formats 3 to 5 are read as they are.
pub const FORMAT_VERSION: u32 = 6;

/// Most write failures listed by text in `run.json` (all are counted).
const WRITE_ERRORS_KEPT: usize = 100;

/// How a run's calls are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pace {
    /// At speaking speed, as on a phone line.
    Realtime,
    /// As fast as both sides compute, with network waits kept on the timeline.
    Fast,
}

/// How the caller's turns reach the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnMode {
    /// Audio streamed continuously; the server's VAD decides when a turn ends.
    Vad,
    /// Audio appended, then committed, then a response requested.
    Manual,
}

/// One planned conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedConversation {
    pub variant: String,
    pub scenario: String,
    pub persona: String,
    pub repeat: u32,
    /// The acoustic condition the caller phones from (`clean` by default).
    #[serde(default = "clean")]
    pub condition: String,
    /// Same for every variant and condition of a scenario × repeat, so
    /// A/B and robustness pairs match.
    pub seed: u64,
    /// Relative to the run directory.
    pub dir: PathBuf,
    pub status: Option<Status>,
    pub error: Option<String>,
    pub end_reason: Option<EndReason>,
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// Why it was not started (e.g. the cost budget was spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_started: Option<String>,
    /// Tries it took, when more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

impl PlannedConversation {
    /// `variant / scenario #repeat` (`variant @condition / …` under a
    /// condition other than `clean`), as progress lines and reports name it.
    pub fn label(&self) -> String {
        format!(
            "{}{} / {} #{}",
            self.variant,
            condition_suffix(&self.condition),
            self.scenario,
            self.repeat
        )
    }

    /// Finished in a way `--resume` keeps (completed or errored).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status,
            Some(Status::Completed | Status::Error | Status::Imported)
        )
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the rehearse that wrote the folder.
    pub version: u32,
    pub run_id: String,
    pub harness_version: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The project's git commit when the run started (`-dirty` when its
    /// tracked files had changes), if the project is in a git repository:
    /// what `rehearse trend` shows beside each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
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
    /// The acoustic conditions, in the order given (the first is the
    /// baseline robustness is measured against).
    #[serde(default = "clean_only")]
    pub conditions: Vec<String>,
    pub conversations: Vec<PlannedConversation>,
    /// This run's share of the plan, when it is a shard (`--shard i/n`);
    /// `merge` checks that every shard is there once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub counts: Counts,
    /// Artifact writes that failed (`path: error`): the first 100 by text,
    /// all of them in `counts.write_errors`; a run with any exits 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_errors: Vec<String>,
    /// How well the harness kept up with itself (realtime pacing): when it
    /// did not, latencies measured in this run include its own delays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_load: Option<HarnessLoad>,
}

impl Manifest {
    /// Records a failed write; the first [`WRITE_ERRORS_KEPT`] by text, all by count.
    pub fn add_write_error(&mut self, error: String) {
        self.counts.write_errors += 1;
        if self.write_errors.len() < WRITE_ERRORS_KEPT {
            self.write_errors.push(error);
        }
    }

    /// Recounts the tallies from the conversations (never kept by hand).
    pub fn recount(&mut self) {
        let write_errors = self.counts.write_errors;
        self.counts = Counts::of(&self.conversations);
        self.counts.write_errors = write_errors;
    }
}

/// The condition a call runs under when none is named.
pub const CLEAN: &str = "clean";

fn clean() -> String {
    CLEAN.to_string()
}

fn clean_only() -> Vec<String> {
    vec![clean()]
}

/// ` @condition` for a condition other than `clean`, empty for `clean`.
pub fn condition_suffix(condition: &str) -> String {
    if condition == CLEAN {
        String::new()
    } else {
        format!(" @{condition}")
    }
}

/// Shard `index` of `count` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The harness's own scheduling delay during a realtime-paced run: how late
/// a timer that should fire every 10 ms actually fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessLoad {
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// The lag was large enough to distort the latencies this run measured.
    pub overloaded: bool,
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
    /// Artifact writes that failed.
    #[serde(default)]
    pub write_errors: usize,
    /// Real calls brought in by `rehearse import`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub imported: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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
            imported: with(Status::Imported),
            not_started: conversations
                .iter()
                .filter(|c| c.status.is_none() && c.not_started.is_some())
                .count(),
            write_errors: 0,
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
        write!(f, ", of {} planned", self.planned)?;
        if self.write_errors > 0 {
            write!(f, "; {} artifact writes failed", self.write_errors)?;
        }
        Ok(())
    }
}
