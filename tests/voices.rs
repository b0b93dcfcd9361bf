//! The caller's voice through the real binary: the embedded voice with a
//! persona's timbre, `espeak-ng` as an external program (where installed;
//! a clear error naming the package where not), and a `/v1/audio/speech`
//! endpoint for a scripted caller.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{read_json, rehearse_in};

/// The mini project with the `quick` persona's voice replaced by `voice`.
fn project_with_voice(voice: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&common::mini(), project.path());
    let persona = project.path().join("personas/quick.yaml");
    let text = std::fs::read_to_string(&persona).unwrap();
    let (before, _) = text.split_once("voice:").expect("quick has a voice");
    std::fs::write(&persona, format!("{before}voice:\n{voice}")).unwrap();
    project
}

fn run_quick(project: &Path, env: &[(&str, &str)]) -> (std::process::Output, PathBuf) {
    let run = project.join("run");
    let out = common::run_quick(project, &run, &[], env);
    (out, run.join("conversations/desk/quick/0"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_espeak_voice_is_heard_where_installed_and_named_as_missing_where_not() {
    let project = project_with_voice("  espeak: { voice: en-gb, words_per_minute: 160 }\n");
    // Without it on PATH: the run stops before any call (exit 3, it could
    // not run) and says what to install.
    let (out, call) = run_quick(project.path(), &[("PATH", "/nonexistent")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(!call.exists(), "no call was made");
    assert!(
        text(&out.stderr).contains("apt install espeak-ng"),
        "{}",
        text(&out.stderr)
    );
    if !rehearse::audio::espeak::available(rehearse::audio::espeak::PROGRAM) {
        eprintln!("skipped: espeak-ng is not installed here (.ci/run installs it)");
        return;
    }
    // A wrapper on PATH proves the caller's lines went through espeak-ng.
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v espeak-ng"])
        .output()
        .unwrap();
    let real = text(&real.stdout).trim().to_string();
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls.log");
    let wrapper = bin.path().join("espeak-ng");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{real}' \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (out, call) = run_quick(project.path(), &[("PATH", path.as_str())]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        text(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        calls.contains("-v en-gb -s 160"),
        "espeak-ng was run: {calls}"
    );
    let outcome = read_json(&call.join("conversation.json"));
    assert_eq!(outcome["status"], "completed", "{outcome:#}");
    // The emulator's ear knows the voice it was spoken in: the agent
    // understood the order number and looked it up.
    let tools = std::fs::read_to_string(call.join("tools.jsonl")).unwrap();
    assert!(tools.contains("NW123"), "{tools}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_caller_can_speak_through_a_speech_endpoint() {
    let server = common::http::serve(Arc::new(|req: &common::http::Request| {
        let body = req.json();
        let voice = rehearse::audio::Voice::new(rehearse::audio::VoiceSettings {
            pitch: 1.3,
            timbre: 1.15,
            ..Default::default()
        });
        let pcm = voice.speak(body["input"].as_str().unwrap_or(""));
        common::http::Response {
            status: 200,
            headers: vec![("content-type".into(), "audio/pcm".into())],
            body: rehearse::audio::AudioFormat::Pcm16.encode(&pcm),
        }
    }))
    .await;
    let project = project_with_voice(&format!(
        "  name: shimmer\n  speech: {{ url: \"{}\", model: test-tts, api_key_env: TEST_TTS_KEY }}\n",
        server.base
    ));
    let dir = project.path().to_path_buf();
    let (out, call) = tokio::task::spawn_blocking(move || {
        run_quick(&dir, &[("TEST_TTS_KEY", "sk-tts-SECRET-77")])
    })
    .await
    .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        text(&out.stderr)
    );
    let outcome = read_json(&call.join("conversation.json"));
    assert_eq!(outcome["status"], "completed", "{outcome:#}");
    let requests = server.requests.lock().unwrap().clone();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.path == "/v1/audio/speech"
        && r.header("authorization") == Some("Bearer sk-tts-SECRET-77")
        && r.json()["voice"] == "shimmer"
        && r.json()["model"] == "test-tts"));
    let tools = std::fs::read_to_string(call.join("tools.jsonl")).unwrap();
    assert!(tools.contains("NW123"), "{tools}");
}

#[test]
fn a_persona_with_two_voices_or_a_bad_espeak_voice_is_a_located_config_error() {
    for (voice, says) in [
        (
            "  espeak: { voice: en-gb }\n  speech: { url: \"http://127.0.0.1:9/v1\" }\n",
            "both `espeak` and `speech`",
        ),
        (
            "  espeak: { voice: \"en; rm -rf\" }\n",
            "not an espeak-ng voice",
        ),
        (
            "  offline: { timbre: 1.1, pitch: 1.2, rate: 1.0 }\n  bogus: 1\n",
            "bogus",
        ),
    ] {
        let project = project_with_voice(voice);
        let out = rehearse_in(
            &common::repo(),
            &["validate", "--project", project.path().to_str().unwrap()],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{voice}: {}", text(&out.stdout));
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(all.contains(says), "{voice}: {all}");
        assert!(all.contains("personas/quick.yaml:"), "located: {all}");
    }
}
