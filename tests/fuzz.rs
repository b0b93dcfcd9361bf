//! Property tests over what users and servers send us: the Realtime event
//! parsers, the emulator's session loop, and the YAML config loaders. Inputs
//! are mutations of a small corpus kept in `tests/fuzz-corpus` (plus the
//! mini fixture project); proptest's seeds are fixed per case, so a failure
//! reproduces, and shrinking reports the smallest input that breaks.
//!
//! The properties: nothing panics, nothing hangs, every config error names
//! its file (with line and column when it has a position), and a server
//! that was sent garbage keeps serving.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use rehearse::config::project::Project;
use rehearse::protocol::{parse_client, parse_server};

fn corpus(name: &str) -> Vec<String> {
    let path = common::repo().join("tests/fuzz-corpus/events").join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One edit of a text: the shapes of damage real inputs have.
#[derive(Debug, Clone)]
enum Edit {
    /// Cut off at a fraction of the length (truncated frame or file).
    Truncate(f64),
    /// Remove a span.
    Delete(f64, usize),
    /// Insert a fragment: YAML/JSON syntax, odd scalars, control bytes.
    Insert(f64, String),
    /// Duplicate a span (repeated keys, doubled lines).
    Duplicate(f64, usize),
    /// Swap two lines (breaks indentation and structure).
    SwapLines(usize, usize),
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("\t".to_string()),
        Just("{".to_string()),
        Just("]".to_string()),
        Just("\"".to_string()),
        Just("&x ".to_string()),
        Just("*x".to_string()),
        Just("!!binary ".to_string()),
        Just("null".to_string()),
        Just("-1e309".to_string()),
        Just("18446744073709551616".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{feff}".to_string()),
        Just("“☎".to_string()),
        Just("{{ unclosed".to_string()),
        Just("(?P<".to_string()),
        Just("../../../../etc/passwd".to_string()),
        Just("\"type\": \"nope\"".to_string()),
        "[a-z_]{1,12}",
        any::<String>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Edit::Truncate),
        (0.0..1.0f64, 1..40usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, fragment()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..1.0f64, 1..40usize).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (0..60usize, 0..60usize).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn boundary(s: &str, at: f64) -> usize {
    let mut i = ((s.len() as f64) * at) as usize;
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_string();
    for e in edits {
        match e {
            Edit::Truncate(at) => {
                let i = boundary(&s, *at);
                s.truncate(i);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&s, *at);
                let j = boundary(&s, ((i + n) as f64 / s.len().max(1) as f64).min(1.0));
                if j > i {
                    s.replace_range(i..j, "");
                }
            }
            Edit::Insert(at, frag) => {
                let i = boundary(&s, *at);
                s.insert_str(i, frag);
            }
            Edit::Duplicate(at, n) => {
                let i = boundary(&s, *at);
                let j = boundary(&s, ((i + n) as f64 / s.len().max(1) as f64).min(1.0));
                let span = s[i..j].to_string();
                s.insert_str(j, &span);
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let (a, b) = (a % lines.len(), b % lines.len());
                    lines.swap(a, b);
                }
                s = lines.join("\n");
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_event_parsers_never_panic_on_damaged_frames(
        which in 0..14usize,
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let client = corpus("client.jsonl");
        let server = corpus("server.jsonl");
        let seed = if which < client.len() { &client[which] } else { &server[which % server.len()] };
        let text = apply(seed, &edits);
        if let Err(e) = parse_client(&text) {
            // A client mistake is a protocol error a client can act on.
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.code.as_deref().is_some_and(|c| !c.is_empty()) || !e.kind.is_empty());
        }
        let _ = parse_server(&text);
    }

    #[test]
    fn the_event_parsers_never_panic_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_client(&text);
        let _ = parse_server(&text);
    }
}

/// A copy of the mini project with one file replaced by `text`.
fn project_with(file: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&common::repo().join("tests/fixtures/mini"), tmp.path());
    let path = tmp.path().join(file);
    std::fs::write(&path, text).unwrap();
    (tmp, path)
}

/// Every error is located in a file of the project; those in the damaged
/// file (`damaged`, now holding `text`) point at a line it has. Errors in
/// other files follow from the damage (a scenario whose persona file broke).
fn check_errors(root: &Path, damaged: &Path, text: &str) -> Result<(), TestCaseError> {
    if let Err(errors) = Project::load(root) {
        prop_assert!(!errors.is_empty());
        for e in &errors {
            let shown = e.to_string();
            prop_assert!(e.file.starts_with(root), "{shown}");
            prop_assert!(
                shown.contains(&*e.file.file_name().unwrap().to_string_lossy()),
                "{shown}"
            );
            prop_assert_eq!(e.line.is_some(), e.column.is_some(), "{}", shown);
            if let Some(line) = e.line.filter(|_| e.file == damaged) {
                prop_assert!(
                    line >= 1 && line <= text.lines().count() as u64 + 1,
                    "{}",
                    shown
                );
            }
        }
    }
    Ok(())
}

const CONFIG_FILES: [&str; 5] = [
    "agents/desk.yaml",
    "personas/quick.yaml",
    "personas/voice-caller.yaml",
    "scenarios/quick.yaml",
    "scenarios/markup.yaml",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_config_files_give_located_errors_and_never_panic(
        which in 0..CONFIG_FILES.len(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let file = CONFIG_FILES[which];
        let original = std::fs::read_to_string(common::repo().join("tests/fixtures/mini").join(file)).unwrap();
        let text = apply(&original, &edits);
        let (tmp, damaged) = project_with(file, &text);
        check_errors(tmp.path(), &damaged, &text)?;
    }
}

#[test]
fn hostile_yaml_seeds_are_refused_quickly_with_a_location() {
    let dir = common::repo().join("tests/fuzz-corpus/yaml");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = entry.unwrap().path();
        let text = std::fs::read_to_string(&seed).unwrap_or_else(|_| {
            String::from_utf8_lossy(&std::fs::read(&seed).unwrap()).into_owned()
        });
        // A seed named `scenario-*` replaces a scenario, any other a persona.
        let name = seed.file_name().unwrap().to_string_lossy();
        let target = if name.starts_with("scenario-") {
            "scenarios/quick.yaml"
        } else {
            "personas/quick.yaml"
        };
        let (tmp, path) = project_with(target, &text);
        let started = std::time::Instant::now();
        let errors = Project::load(tmp.path()).expect_err(&seed.display().to_string());
        // Bounded work, not a timing target: an alias bomb must not expand.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            seed.display()
        );
        let e = errors
            .iter()
            .find(|e| e.file == path)
            .unwrap_or_else(|| panic!("{}: {errors:?}", seed.display()));
        assert!(
            e.line.is_some() || e.to_string().contains("quick.yaml"),
            "{}: {e}",
            seed.display()
        );
    }
}

#[tokio::test]
async fn the_emulator_keeps_serving_after_a_barrage_of_damaged_frames() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use rehearse::protocol::{ClientEvent, Dialect};

    let emulator = common::Emulator::start(&[]);
    let mut client = emulator.connect(Dialect::Ga).await;
    common::collect_until(&mut client, "session.created", Duration::from_secs(10)).await;
    let seeds = corpus("client.jsonl");
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = (0..seeds.len(), proptest::collection::vec(edit(), 1..4));
    // Bounded: 300 frames.
    for _ in 0..300 {
        let (which, edits) = strategy.new_tree(&mut runner).unwrap().current();
        let frame = apply(&seeds[which], &edits);
        if frame.trim().is_empty() {
            continue;
        }
        client
            .sender
            .send_raw(frame)
            .await
            .expect("the server still accepts frames");
    }
    // Still serving: a clean update is answered, whatever came before.
    let update: ClientEvent = serde_json::from_value(serde_json::json!({
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "Still there?"}
    }))
    .unwrap();
    client.sender.send_event(update).await.unwrap();
    let seen = common::collect_until(&mut client, "session.updated", Duration::from_secs(30)).await;
    let errors = seen
        .iter()
        .filter(|e| e.received.event_type == "error")
        .count();
    assert!(errors > 0, "damaged frames were answered with error events");
}
