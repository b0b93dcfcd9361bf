//! A project folder: `agents/`, `personas/`, `scenarios/`, loaded together
//! and cross-checked. Every problem is collected, not just the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::agent::AgentFile;
use super::condition::{self, ConditionFile};
use super::load::ConfigError;
use super::locate::Step;
use super::persona::{Driver, PersonaFile};
use super::rubric::RubricFile;
use super::scenario::ScenarioFile;

#[derive(Debug, Default)]
pub struct Project {
    pub root: PathBuf,
    pub agents: Vec<(PathBuf, AgentFile)>,
    pub personas: BTreeMap<String, (PathBuf, PersonaFile)>,
    pub scenarios: Vec<(PathBuf, ScenarioFile)>,
    pub rubrics: Vec<(PathBuf, RubricFile)>,
    /// The project's own conditions (the built-in ones are not listed).
    pub conditions: Vec<(PathBuf, ConditionFile)>,
    /// Persona files that did not load (their errors are reported): a
    /// scenario naming one is told so, not that the persona is missing.
    pub broken_personas: Vec<PathBuf>,
    /// Agent files that did not load: the tools and stages they declare are
    /// unknown, so references to them are not called missing.
    pub broken_agents: Vec<PathBuf>,
}

/// YAML files directly in `dir`, sorted (a missing folder is empty).
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Which kind of config a file is, from the folder it sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Agent,
    Persona,
    Scenario,
    Rubric,
    Condition,
}

pub fn kind_of(path: &Path) -> Option<Kind> {
    let parent = path.parent()?.file_name()?.to_str()?;
    match parent {
        "agents" => Some(Kind::Agent),
        "personas" => Some(Kind::Persona),
        "scenarios" => Some(Kind::Scenario),
        "rubrics" => Some(Kind::Rubric),
        "conditions" => Some(Kind::Condition),
        _ => None,
    }
}

/// A replay scenario needs a replay persona, and a replay persona a
/// scenario with recorded lines.
fn replay_mismatch(path: &Path, s: &ScenarioFile, p: &PersonaFile) -> Option<ConfigError> {
    let replays = matches!(p.driver, Driver::Replay);
    match (s.replay.is_some(), replays) {
        (true, false) => Some(
            ConfigError::new(
                path,
                format!(
                    "scenario `{}` has `replay:` lines but persona `{}` does not replay them",
                    s.id, p.name
                ),
            )
            .at_path(&[Step::Key("persona")])
            .with_hint("name a persona with `driver: { kind: replay }`".to_string()),
        ),
        (false, true) => Some(
            ConfigError::new(
                path,
                format!(
                    "persona `{}` replays a recorded caller, but scenario `{}` has no `replay:` lines",
                    p.name, s.id
                ),
            )
            .at_path(&[Step::Key("persona")])
            .with_hint("`rehearse import` writes replay scenarios; or pick another persona".to_string()),
        ),
        _ => None,
    }
}

impl Project {
    /// Loads every config file under `root` and cross-checks them.
    pub fn load(root: &Path) -> Result<Project, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut project = Project {
            root: root.to_path_buf(),
            ..Default::default()
        };
        for path in yaml_files(&root.join("agents")) {
            match AgentFile::load(&path) {
                Ok(a) => project.agents.push((path, a)),
                Err(e) => {
                    project.broken_agents.push(path.clone());
                    errors.push(e);
                }
            }
        }
        for path in yaml_files(&root.join("personas")) {
            match PersonaFile::load(&path) {
                Ok(p) => {
                    if let Some((first, _)) = project.personas.get(&p.name) {
                        errors.push(ConfigError::new(
                            &path,
                            format!(
                                "persona name `{}` is also used by {}",
                                p.name,
                                first.display()
                            ),
                        ));
                    } else {
                        project.personas.insert(p.name.clone(), (path, p));
                    }
                }
                Err(e) => {
                    project.broken_personas.push(path.clone());
                    errors.push(e);
                }
            }
        }
        for path in yaml_files(&root.join("scenarios")) {
            match ScenarioFile::load(&path) {
                Ok(s) => project.scenarios.push((path, s)),
                Err(e) => errors.push(e),
            }
        }
        for path in yaml_files(&root.join("rubrics")) {
            match RubricFile::load(&path) {
                Ok(r) => project.rubrics.push((path, r)),
                Err(e) => errors.push(e),
            }
        }
        for path in yaml_files(&root.join("conditions")) {
            match ConditionFile::load(&path) {
                Ok(c) => {
                    if let Some((first, _)) =
                        project.conditions.iter().find(|(_, o)| o.name == c.name)
                    {
                        errors.push(
                            ConfigError::new(
                                &path,
                                format!(
                                    "condition name `{}` is also used by {}",
                                    c.name,
                                    first.display()
                                ),
                            )
                            .at_path(&[Step::Key("name")]),
                        );
                    } else {
                        project.conditions.push((path, c));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors.extend(project.cross_check());
        if errors.is_empty() {
            Ok(project)
        } else {
            Err(errors)
        }
    }

    /// References between files: personas named by scenarios, tools named by
    /// fixtures, provider files named by realtime drivers, unique ids.
    pub fn cross_check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let tools: BTreeSet<&str> = self
            .agents
            .iter()
            .flat_map(|(_, a)| a.tools.iter().map(|t| t.name.as_str()))
            .collect();
        let mut ids = BTreeMap::new();
        for (path, s) in &self.scenarios {
            if let Some(first) = ids.insert(s.id.clone(), path.clone()) {
                errors.push(ConfigError::new(
                    path,
                    format!("scenario id `{}` is also used by {}", s.id, first.display()),
                ));
            }
            match self.personas.get(&s.persona) {
                None => errors.push(self.missing_persona(path, &s.persona)),
                Some((_, p)) => {
                    if let Some(e) = replay_mismatch(path, s, p) {
                        errors.push(e);
                    }
                }
            }
            // With an agent file broken, its tools are unknown, not missing:
            // its own errors are what to fix.
            let agents_ok = self.broken_agents.is_empty();
            for name in s.tools.keys() {
                if agents_ok && !tools.contains(name.as_str()) {
                    errors.push(
                        ConfigError::new(
                            path,
                            format!("fixture for unknown tool `{name}`: no agent declares it"),
                        )
                        .at_path(&[Step::Key("tools"), Step::Key(name)])
                        .suggest(name, tools.iter().copied()),
                    );
                }
            }
            for (i, call) in s.expectations.tool_calls.iter().enumerate() {
                if agents_ok && !tools.contains(call.name.as_str()) {
                    let at = [
                        Step::Key("expectations"),
                        Step::Key("tool_calls"),
                        Step::Index(i),
                        Step::Key("name"),
                    ];
                    errors.push(
                        ConfigError::new(
                            path,
                            format!(
                                "expected call to unknown tool `{}`: no agent declares it",
                                call.name
                            ),
                        )
                        .at_path(&at)
                        .suggest(&call.name, tools.iter().copied()),
                    );
                }
            }
            let stages: BTreeSet<&str> = self
                .agents
                .iter()
                .flat_map(|(_, a)| a.stages.iter().map(|st| st.id.as_str()))
                .collect();
            for (i, stage) in s.expectations.flow.iter().enumerate() {
                if agents_ok && !stages.is_empty() && !stages.contains(stage.as_str()) {
                    let at = [Step::Key("expectations"), Step::Key("flow"), Step::Index(i)];
                    errors.push(
                        ConfigError::new(
                            path,
                            format!("expected flow names stage `{stage}`, which no agent has"),
                        )
                        .at_path(&at)
                        .suggest(stage, stages.iter().copied()),
                    );
                }
            }
        }
        for (name, (path, p)) in &self.personas {
            if let Driver::Realtime { provider, .. } = &p.driver {
                if let Err(mut e) = super::load::resolve_inside(path, "provider", provider) {
                    e.message = format!("persona `{name}`: driver {}", e.message);
                    errors.push(e);
                }
            }
        }
        errors
    }

    /// The error for a scenario naming a persona that is not loaded: a file
    /// that failed to load is named as such (its errors are listed too).
    fn missing_persona(&self, scenario: &Path, persona: &str) -> ConfigError {
        let at = [Step::Key("persona")];
        let broken = self.broken_personas.iter().find(|p| {
            p.file_stem().is_some_and(|s| s == persona)
                || std::fs::read_to_string(p).is_ok_and(|t| {
                    t.lines().any(|l| {
                        l.trim_start_matches("name:")
                            .trim()
                            .trim_matches(['"', '\''])
                            == persona
                            && l.starts_with("name:")
                    })
                })
        });
        match broken {
            Some(file) => ConfigError::new(
                scenario,
                format!(
                    "persona `{persona}` is in {}, which has errors (listed with it)",
                    file.display()
                ),
            )
            .at_path(&at)
            .with_hint("fix that file; this scenario needs nothing else"),
            None => ConfigError::new(
                scenario,
                format!("persona `{persona}` not found in personas/"),
            )
            .at_path(&at)
            .suggest(persona, self.personas.keys().map(String::as_str)),
        }
    }

    /// A condition by name: the project's own, or a built-in one.
    pub fn condition(&self, name: &str) -> Option<ConditionFile> {
        self.conditions
            .iter()
            .map(|(_, c)| c)
            .find(|c| c.name == name)
            .cloned()
            .or_else(|| condition::builtin(name))
    }

    /// Every condition name `--condition` accepts: built-in ones first.
    pub fn condition_names(&self) -> Vec<&str> {
        condition::BUILTIN
            .iter()
            .copied()
            .chain(self.conditions.iter().map(|(_, c)| c.name.as_str()))
            .collect()
    }

    pub fn scenario(&self, id: &str) -> Option<&ScenarioFile> {
        self.scenarios.iter().map(|(_, s)| s).find(|s| s.id == id)
    }
}

/// Checks the given files (or the whole project when none are given).
pub fn validate(root: &Path, paths: &[PathBuf]) -> Vec<ConfigError> {
    if paths.is_empty() {
        return Project::load(root).err().unwrap_or_default();
    }
    let mut errors = Vec::new();
    for path in paths {
        let result = match kind_of(path) {
            Some(Kind::Agent) => AgentFile::load(path).map(|_| ()),
            Some(Kind::Persona) => PersonaFile::load(path).map(|_| ()),
            Some(Kind::Scenario) => ScenarioFile::load(path).map(|_| ()),
            Some(Kind::Rubric) => RubricFile::load(path).map(|_| ()),
            Some(Kind::Condition) => ConditionFile::load(path).map(|_| ()),
            None => Err(ConfigError::new(
                path,
                "not in agents/, personas/, scenarios/, rubrics/ or conditions/",
            )
            .with_hint("the folder a file sits in says what kind of config it is")),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    // Cross-references need the whole project; report those that concern the files given.
    if let Err(all) = Project::load(root) {
        for e in all {
            if paths.iter().any(|p| same_file(p, &e.file)) && !errors.contains(&e) {
                errors.push(e);
            }
        }
    }
    errors
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
