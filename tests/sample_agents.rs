//! The bundled agent files load, pass their cross-checks, and the real-model
//! agent's staged prompt renders.

mod common;

use rehearse::config::{AgentFile, ProviderKind};
use rehearse::emulator::AgentRegistry;

#[test]
fn every_bundled_agent_loads_and_checks() {
    let dir = common::repo().join("agents");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let agent = AgentFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
            names.push(agent.name.clone());
        }
    }
    names.sort();
    assert_eq!(names, ["human", "support", "support-openai", "support-v2"]);
    let (registry, _) = AgentRegistry::load(&dir.join("support.yaml")).unwrap();
    assert!(
        registry.get("human").is_some(),
        "handoff target found beside the agent"
    );
}

#[test]
fn openai_agent_renders_a_staged_voice_prompt() {
    let path = common::repo().join("agents/support-openai.yaml");
    let agent = AgentFile::load(&path).unwrap();
    assert_eq!(agent.provider, ProviderKind::Openai);
    let prompt = agent.render_instructions(&path).unwrap();
    for stage in &agent.stages {
        assert!(
            prompt.contains(&format!(". {}\n", stage.id)),
            "stage {} in prompt",
            stage.id
        );
    }
    for tool in &agent.tools {
        assert!(
            prompt.contains(&format!("`{}`", tool.name)),
            "tool {} in prompt",
            tool.name
        );
    }
}

#[test]
fn config_errors_name_file_line_column_and_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "name: x\nprovider: emulator\nstages:\n  - id: a\n    sya: hello\n",
    )
    .unwrap();
    let err = AgentFile::load(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad.yaml:5:5: unknown key `sya`"), "{text}");
    assert!(text.contains("did you mean `say`?"), "{text}");

    std::fs::write(&path, "name: x\nprovider: emulator\nstages:\n  - id: a\n    transitions:\n      - goto: nowhere\n").unwrap();
    let err = AgentFile::load(&path).unwrap_err();
    assert!(
        err.to_string().contains("`goto: nowhere` names no stage"),
        "{err}"
    );
}
