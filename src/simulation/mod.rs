//! Synthetic conversations: a caller driven by a persona and a scenario talks
//! to the agent under test, in audio, and everything is recorded.
//!
//! - [`bridge`]: one call with a text-driven caller (scripted or chat);
//! - [`relay`]: one call with a Realtime-session caller (two clients);
//! - [`caller`]: the text callers; [`fixtures`]: tool answers;
//! - [`clock`]: the shared timeline; [`recorder`]: artifacts on disk;
//! - [`run`]: many calls with bounded concurrency; [`progress`]: display.

pub mod bridge;
pub mod caller;
pub mod clock;
pub mod fixtures;
pub mod manifest;
pub mod merge;
pub mod plan;
pub mod progress;
pub mod recorder;
pub mod relay;
pub mod run;
pub mod side;
pub mod supervisor;
pub mod voice;

pub use bridge::{ConversationOutcome, Status, TurnMode};
pub use clock::Pace;
pub use run::{AgentRef, RunOptions, RunResult, run};
