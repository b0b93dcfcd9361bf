//! Configuration files: one serde type per YAML kind, strict (unknown keys
//! are errors with a did-you-mean hint), and errors that name file, line and
//! column.

pub mod agent;
pub mod condition;
pub mod guardrail;
pub mod load;
pub mod locate;
pub mod matcher;
pub mod persona;
pub mod project;
pub mod rubric;
pub mod scenario;

pub use agent::{AgentFile, ProviderKind};
pub use load::{ConfigError, load_yaml_file, parse_yaml};
