//! A project folder: `agents/`, `personas/`, `scenarios/`, loaded together
//! and cross-checked. Every problem is collected, not just the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::agent::AgentFile;
use super::load::{ConfigError, did_you_mean};
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
}

pub fn kind_of(path: &Path) -> Option<Kind> {
    let parent = path.parent()?.file_name()?.to_str()?;
    match parent {
        "agents" => Some(Kind::Agent),
        "personas" => Some(Kind::Persona),
        "scenarios" => Some(Kind::Scenario),
        "rubrics" => Some(Kind::Rubric),
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
                Err(e) => errors.push(e),
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
                Err(e) => errors.push(e),
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
            if !self.personas.contains_key(&s.persona) {
                let mut e = ConfigError::new(
                    path,
                    format!("persona `{}` not found in personas/", s.persona),
                );
                if let Some(best) =
                    did_you_mean(&s.persona, self.personas.keys().map(String::as_str))
                {
                    e = e.with_hint(format!("did you mean `{best}`?"));
                }
                errors.push(e);
            }
            for name in s.tools.keys() {
                if !tools.contains(name.as_str()) {
                    let mut e = ConfigError::new(
                        path,
                        format!("fixture for unknown tool `{name}`: no agent declares it"),
                    );
                    if let Some(best) = did_you_mean(name, tools.iter().copied()) {
                        e = e.with_hint(format!("did you mean `{best}`?"));
                    }
                    errors.push(e);
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
            None => Err(ConfigError::new(
                path,
                "not in agents/, personas/, scenarios/ or rubrics/",
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
