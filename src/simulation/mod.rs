//! Synthetic conversations: a caller driven by a persona and a scenario talks
//! to the agent under test, in audio, and everything is recorded in the run
//! folder ([`crate::run_folder`]).
//!
//! - [`run`]: the dispatcher of a run: plan, concurrency, state, `run.json`;
//! - `call`: one planned call as a task (tries, stop, its record);
//! - [`bridge`]: one call with a text-driven caller (scripted or chat);
//! - [`relay`]: one call with a Realtime-session caller (two clients);
//! - [`caller`]: the text callers; [`fixtures`]: tool answers;
//! - [`clock`]: the shared timeline; [`recorder`]: artifacts as they happen;
//! - [`plan`]: selection, seeded order, dry run; [`supervisor`]: retries,
//!   circuit breakers, stop requests; [`progress`]: display.

pub(crate) mod bridge;
mod call;
pub(crate) mod caller;
pub(crate) mod clock;
pub(crate) mod fixtures;
mod harness_load;
mod manifest_writer;
pub(crate) mod phone_line;
pub(crate) mod plan;
pub mod progress;
pub(crate) mod recorder;
pub(crate) mod relay;
pub(crate) mod replay;
pub mod run;
pub(crate) mod side;
pub mod supervisor;
pub(crate) mod targets;
pub(crate) mod voice;

pub use crate::run_folder::{Pace, TurnMode};
pub use plan::AgentRef;
pub use run::{RecordedCall, RunError, RunOptions, RunResult, ScoreCall, Scored, run};
