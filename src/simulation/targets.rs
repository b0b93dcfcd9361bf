//! The agents a run calls: each variant's agent file resolved to an
//! endpoint, with an in-process emulator started for emulator agents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plan::AgentRef;
use super::run::{RunError, RunOptions};
use crate::config::ConfigError;
use crate::config::agent::{AgentFile, LatencySpec, ProviderKind};
use crate::emulator::{
    self, AgentRegistry, ClosedSetRecognizer, CompiledAgent, EmulatorConfig, EmulatorHandle,
};
use crate::protocol::Dialect;
use crate::realtime::Endpoint;

/// Where a variant's agent is reached.
pub(super) struct Target {
    pub name: String,
    /// `FILE[:variant]` as given, relative to the project.
    pub source: String,
    pub file: Arc<AgentFile>,
    pub path: PathBuf,
    pub endpoint: Endpoint,
    pub instructions: String,
    /// The offline recogniser an in-process emulator hears with.
    pub recognizer: Option<ClosedSetRecognizer>,
}

/// An agent file with its variant applied; the path it was read from.
pub fn load_agent(root: &Path, r: &AgentRef) -> Result<(PathBuf, AgentFile), RunError> {
    let path = if r.path.is_absolute() {
        r.path.clone()
    } else {
        root.join(&r.path)
    };
    if !path.exists() {
        return Err(RunError::Selection(unknown_agent(root, r)));
    }
    let base = AgentFile::load(&path).map_err(|e| RunError::Config(vec![e]))?;
    let file = match &r.variant {
        Some(v) => base
            .with_variant(v)
            .map_err(|e| RunError::Config(vec![ConfigError::new(&path, e)]))?,
        None => base,
    };
    Ok((path, file))
}

/// `--agent FILE` that names no file: what the project has instead.
fn unknown_agent(root: &Path, r: &AgentRef) -> String {
    let files: Vec<String> = crate::config::project::yaml_files(&root.join("agents"))
        .iter()
        .filter_map(|p| p.strip_prefix(root).ok())
        .map(|p| p.display().to_string())
        .collect();
    let given = r.path.display().to_string();
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    format!(
        "--agent {given}: no such file{}; the project's agents are: {}",
        super::plan::suggestion(&given, &names),
        if names.is_empty() {
            "none (add one under agents/)".to_string()
        } else {
            names.join(", ")
        }
    )
}

/// Resolves every agent of the run; emulator agents get an in-process
/// emulator each, returned so the run can stop them at its end.
pub(super) async fn resolve(
    opts: &RunOptions,
) -> Result<(Vec<Arc<Target>>, Vec<EmulatorHandle>), RunError> {
    let mut emulators = Vec::new();
    let mut targets = Vec::new();
    for r in &opts.agent_refs() {
        let (path, file) = load_agent(&opts.root, r)?;
        let instructions = file
            .render_instructions(&path)
            .map_err(|e| RunError::Config(vec![e]))?;
        let (endpoint, recognizer) = if file.provider == ProviderKind::Emulator {
            let (handle, ear) = start_emulator(&path, &file, opts).await?;
            let url = format!("{}?model={}", handle.url(), file.model_name());
            emulators.push(handle);
            (Endpoint::local(&url, Dialect::Ga), Some(ear))
        } else {
            let env = |k: &str| std::env::var(k).ok();
            let e = Endpoint::resolve(&file, &env).map_err(|e| RunError::Provider {
                agent: file.name.clone(),
                error: e,
            })?;
            (e, None)
        };
        let source = match &r.variant {
            Some(v) => format!("{}:{v}", r.path.display()),
            None => r.path.display().to_string(),
        };
        targets.push(Arc::new(Target {
            name: file.name.clone(),
            source,
            file: Arc::new(file),
            path,
            endpoint,
            instructions,
            recognizer,
        }));
    }
    Ok((targets, emulators))
}

async fn start_emulator(
    path: &Path,
    file: &AgentFile,
    opts: &RunOptions,
) -> Result<(EmulatorHandle, ClosedSetRecognizer), RunError> {
    let (registry, _) = AgentRegistry::load(path).map_err(|e| RunError::Config(vec![e]))?;
    let compiled = CompiledAgent::new(file.clone()).map_err(|e| RunError::Setup(e.to_string()))?;
    let agent = Arc::new(compiled);
    let registry = registry.with_agent(agent.clone());
    let ear = ClosedSetRecognizer::new();
    let mut config = EmulatorConfig::new(agent, registry);
    config.latency = opts.latency_ms.map(|ms| LatencySpec {
        median_ms: ms,
        p90_ms: ms,
    });
    config.seed = opts.seed;
    config.transcriber = Some(Arc::new(ear.clone()));
    config.recognizer = Some(ear.clone());
    config.max_sessions = usize::MAX;
    config.faults = opts.emulator_faults.clone().unwrap_or_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RunError::Setup(format!("cannot start the local emulator: {e}")))?;
    let handle = emulator::spawn(listener, config).map_err(|e| RunError::Setup(e.to_string()))?;
    Ok((handle, ear))
}
