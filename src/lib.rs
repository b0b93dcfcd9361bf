//! rehearse: tests realtime voice agents by letting them talk to simulated
//! callers, recording everything, and scoring the calls.
//!
//! The module tree is the architecture, lowest layer first; a module only
//! uses modules above it in this list (`.ci/module-layers` checks it):
//! - [`audio`]: formats, codecs, resampling, offline speech, VAD, WAV.
//! - [`protocol`]: typed Realtime API events (GA and beta), sessions, items.
//! - [`text`]: phrases normalised for matching, the heard share of a line.
//! - [`retry`] and [`http`]: one policy for transient provider failures, one
//!   way to build HTTP clients; [`cpu_pool`]: low-priority threads for heavy
//!   work beside live calls.
//! - [`run_folder`]: the files a run writes, their types, writes and one reader.
//! - [`config`]: the YAML files users edit.
//! - [`realtime`]: the Realtime client and provider endpoints.
//! - [`transcription`]: speech to text over OpenAI-compatible endpoints.
//! - [`pricing`]: what calls cost, by model.
//! - [`guardrails`]: output guardrails on the agent's streamed words, live
//!   and replayed, and what the caller heard before one decided.
//! - [`import`]: real calls (Realtime event logs, recordings, run-folder
//!   calls) read into utterances, tool calls and tracks, and written as run
//!   folder calls and replay scenarios.
//! - [`emulator`]: a local Realtime server that plays a scripted agent.
//! - [`simulation`]: synthetic calls between a simulated caller and the agent.
//! - [`scoring`]: checks on recorded calls (pure functions of a run folder).
//! - [`reporting`]: tables and reports (read-only over a run folder).
//! - [`review`]: the local review page: a run's calls to label, labels saved
//!   to the run folder.
//! - [`suite`]: a run end to end: calls, each scored as it is recorded, then
//!   the reports; and `rescore`.
//! - [`cli`]: argument parsing, dispatch and exit codes only.
//!
//! What a library user (and the tests and benchmarks) reaches is public and
//! documented: the run folder's types and reader, the config types, the
//! suite and the run loop's seams (`ScoreCall`, `Progress`), reports,
//! pricing, the Realtime client and the emulator. The engine's inner
//! modules (scoring, the call bridge and relay, recorders, the CPU pool,
//! text helpers) are `pub(crate)`.

// Protocol errors carry the fields the wire needs (type, code, message, param,
// event_id); they are built on the cold path only, so their size is fine.
#![allow(clippy::result_large_err)]

pub mod audio;
pub mod cli;
pub mod config;
pub(crate) mod cpu_pool;
pub mod emulator;
pub mod guardrails;
pub mod http;
pub mod import;
pub mod pricing;
pub mod protocol;
pub mod realtime;
pub mod reporting;
pub mod retry;
pub mod review;
pub mod run_folder;
pub(crate) mod scoring;
pub mod simulation;
pub mod suite;
pub(crate) mod text;
pub mod transcription;
