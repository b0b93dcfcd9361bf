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

/// One mistake in a copy of the mini project: (file, find, replace with).
struct Mistake {
    what: &'static str,
    file: &'static str,
    find: &'static str,
    replace: &'static str,
    /// What the message must contain (file:line:column and the problem).
    expect: &'static [&'static str],
}

#[test]
fn every_kind_of_config_mistake_is_located_exits_2_and_never_panics() {
    let mistakes = [
        Mistake {
            what: "YAML syntax",
            file: "personas/quick.yaml",
            find: "traits: { patience: 0.5,",
            replace: "traits: { patience: 0.5,,",
            expect: &[
                "personas/quick.yaml:3:",
                // The scenario using it is told the file is broken, not that
                // the persona is missing.
                "scenarios/quick.yaml:3:10: persona `quick` is in",
                "which has errors",
            ],
        },
        Mistake {
            what: "replay lines with a scripted persona",
            file: "scenarios/quick.yaml",
            find: "goal: Check on a mug you ordered.",
            replace: "goal: Check on a mug you ordered.\nreplay:\n  turns:\n    - { after: \"order number\", say: \"It's N W 1 2 3.\" }",
            expect: &[
                "scenarios/quick.yaml:3:10: scenario `quick` has `replay:` lines but persona `quick` does not replay them",
                "driver: { kind: replay }",
            ],
        },
        Mistake {
            what: "replay without lines",
            file: "scenarios/quick.yaml",
            find: "goal: Check on a mug you ordered.",
            replace: "goal: Check on a mug you ordered.\nreplay: { turns: [] }",
            expect: &["scenarios/quick.yaml:5:", "replay.turns is empty"],
        },
        Mistake {
            what: "duplicate key",
            file: "scenarios/quick.yaml",
            find: "goal: Check on a mug you ordered.",
            replace: "goal: Check on a mug you ordered.\ngoal: Ask about a refund.",
            expect: &["scenarios/quick.yaml:5:", "`goal` is given twice"],
        },
        Mistake {
            what: "invalid regex in an expectation",
            file: "scenarios/quick.yaml",
            find: "tools:\n  lookup_order:",
            replace: "expectations:\n  tool_calls:\n    - name: lookup_order\n      arguments: { order_id: { regex: \"NW(\" } }\ntools:\n  lookup_order:",
            expect: &["scenarios/quick.yaml:16:", "invalid regex `NW(`"],
        },
        Mistake {
            what: "invalid matcher in an expectation",
            file: "scenarios/quick.yaml",
            find: "tools:\n  lookup_order:",
            replace: "expectations:\n  tool_calls:\n    - name: lookup_order\n      arguments: { order_id: { number: five } }\ntools:\n  lookup_order:",
            expect: &["scenarios/quick.yaml:16:", "`number` needs a number"],
        },
        Mistake {
            what: "unknown order mode",
            file: "scenarios/quick.yaml",
            find: "tools:\n  lookup_order:",
            replace: "expectations:\n  order: strcit\ntools:\n  lookup_order:",
            expect: &[
                "scenarios/quick.yaml:14:",
                "`strcit` is not one of",
                "did you mean `strict`?",
            ],
        },
        Mistake {
            what: "unknown stage in the expected flow",
            file: "scenarios/quick.yaml",
            find: "tools:\n  lookup_order:",
            replace: "expectations:\n  flow: [greet, lookup]\ntools:\n  lookup_order:",
            expect: &["scenarios/quick.yaml:14:17:", "stage `lookup`"],
        },
        Mistake {
            what: "fixture for an unknown tool",
            file: "scenarios/quick.yaml",
            find: "tools:\n  lookup_order:",
            replace: "tools:\n  lookup_ordr:",
            expect: &["scenarios/quick.yaml:14:3:", "did you mean `lookup_order`?"],
        },
        Mistake {
            what: "unknown key",
            file: "scenarios/quick.yaml",
            find: "goal:",
            replace: "gaol:",
            expect: &[
                "scenarios/quick.yaml:4:1: unknown key `gaol`",
                "did you mean `goal`?",
            ],
        },
        Mistake {
            what: "wrong type",
            file: "personas/quick.yaml",
            find: "think_ms: 200",
            replace: "think_ms: soon",
            expect: &["personas/quick.yaml:3:", "think_ms"],
        },
        Mistake {
            what: "missing reference",
            file: "scenarios/quick.yaml",
            find: "persona: quick",
            replace: "persona: quik",
            expect: &[
                "scenarios/quick.yaml:3:10: persona `quik` not found",
                "did you mean `quick`?",
            ],
        },
        Mistake {
            what: "invalid template",
            file: "scenarios/quick.yaml",
            find: "say: \"It's {{ facts.order_spoken }}.\"",
            replace: "say: \"It's {{ facts.order_spoken \"",
            expect: &["scenarios/quick.yaml:9:12:", "script.rules[0].say"],
        },
        Mistake {
            what: "invalid regex",
            file: "agents/desk.yaml",
            find: "pattern: '(?i)",
            replace: "pattern: '((?i)",
            expect: &["agents/desk.yaml:", "slot `order_id`: invalid regex"],
        },
        Mistake {
            what: "judge guardrail without a question",
            file: "agents/desk.yaml",
            find: "provider: emulator",
            replace: "provider: emulator\nguardrails:\n  - name: policy\n    kind: judge",
            expect: &[
                "agents/desk.yaml:6:11: guardrail `policy`: a `judge` guardrail needs `question`",
            ],
        },
        Mistake {
            what: "invalid regex in a guardrail",
            file: "agents/desk.yaml",
            find: "provider: emulator",
            replace: "provider: emulator\nguardrails:\n  - { name: policy, kind: regex, phrases: [\"/refund(/\"] }",
            expect: &["agents/desk.yaml:5:", "invalid regex"],
        },
        Mistake {
            what: "path outside the project",
            file: "agents/desk.yaml",
            find: "provider: emulator",
            replace: "provider: emulator\ninstructions_template: ../../../../../../etc/hostname",
            expect: &[
                "agents/desk.yaml:4:24: `instructions_template: ../../../../../../etc/hostname`",
            ],
        },
    ];
    for m in mistakes {
        let project = tempfile::tempdir().unwrap();
        common::copy_dir(&common::repo().join("tests/fixtures/mini"), project.path());
        let path = project.path().join(m.file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(m.find), "{}: fixture changed", m.what);
        std::fs::write(&path, text.replacen(m.find, m.replace, 1)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
            .args(["validate", "--project", project.path().to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", m.what);
        for want in m.expect {
            assert!(
                stderr.contains(want),
                "{}: wanted {want:?} in\n{stderr}",
                m.what
            );
        }
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{}: {stderr}",
            m.what
        );
        let shown = stderr.replace(&project.path().display().to_string(), "[project]");
        insta::assert_snapshot!(
            format!("config_mistake__{}", m.what.replace(' ', "_")),
            shown
        );
    }

    // An audio file that is not audio: a clear error, not a crash.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("call.wav");
    std::fs::write(&fake, b"RIFF\x10\x00\x00\x00WAVEnot really").unwrap();
    for file in [fake.clone(), dir.path().join("missing.wav")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
            .args(["tone", file.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: cannot read {} as WAV", file.display())),
            "{stderr}"
        );
    }
}

/// Mistakes in how a run is set up are configuration errors (exit 2) that
/// say what exists: a missing key variable, a selection that matches
/// nothing, an agent file that is not there.
#[test]
fn set_up_mistakes_are_configuration_errors_that_say_what_exists() {
    let cases: [(&str, &[&str]); 6] = [
        (
            "shard_auto_without_environment",
            &["run", "--shard", "auto", "--dry-run"],
        ),
        (
            "missing_key",
            &["run", "--agent", "agents/support-openai.yaml", "--dry-run"],
        ),
        (
            "missing_key_run",
            &[
                "run",
                "--agent",
                "agents/support-openai.yaml",
                "--scenario",
                "happy-path-refund",
            ],
        ),
        (
            "scenario_selects_nothing",
            &["run", "--scenario", "happy-path", "--dry-run"],
        ),
        (
            "tag_selects_nothing",
            &["run", "--tag", "retruns", "--dry-run"],
        ),
        (
            "agent_file_missing",
            &["run", "--agent", "agents/suport.yaml", "--dry-run"],
        ),
    ];
    for (name, args) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rehearse"))
            .current_dir(common::repo())
            .args(args)
            .env_remove("OPENAI_API_KEY")
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("REHEARSE_SHARD_INDEX")
            .env_remove("REHEARSE_SHARD_COUNT")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if name == "missing_key" {
            // A dry run connects to nothing, so it needs no key.
            assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        insta::assert_snapshot!(format!("set_up_mistake__{name}"), stderr);
    }
}
