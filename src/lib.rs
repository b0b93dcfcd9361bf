//! rehearse: tests realtime voice agents by letting them talk to simulated
//! callers, recording everything, and scoring the calls.
//!
//! The module tree is the architecture:
//! - [`protocol`]: typed Realtime API events (GA and beta), sessions, items.
//! - [`realtime`]: the client and provider endpoints.
//! - [`emulator`]: a local Realtime server that plays a scripted agent.
//! - [`audio`]: formats, codecs, resampling, offline speech, VAD, WAV.
//! - [`config`]: the YAML files users edit.
//! - [`simulation`]: synthetic calls between a simulated caller and the agent.
//! - [`scoring`] and [`reporting`]: checks on recorded calls, then tables and reports.
//! - [`retry`]: one policy for everything a provider can fail transiently.
//! - [`cli`]: argument parsing and dispatch only.

// Protocol errors carry the fields the wire needs (type, code, message, param,
// event_id); they are built on the cold path only, so their size is fine.
#![allow(clippy::result_large_err)]

pub mod audio;
pub mod cli;
pub mod config;
pub mod emulator;
pub mod protocol;
pub mod realtime;
pub mod reporting;
pub mod retry;
pub mod scoring;
pub mod simulation;
