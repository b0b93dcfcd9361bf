//! Shared helpers for integration tests: the real `rehearse` binary on a
//! loopback port, and a client with bounded waits.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rehearse::protocol::Dialect;
use rehearse::realtime::{Endpoint, RealtimeClient, TimedEvent};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `rehearse ARGS` from the repository root, as CI runs it (`CI` set).
pub fn rehearse<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    rehearse_in(&repo(), args, &[])
}

/// `rehearse ARGS` in `cwd` with extra environment variables.
pub fn rehearse_in<S: AsRef<std::ffi::OsStr>>(
    cwd: &std::path::Path,
    args: &[S],
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rehearse"))
        .current_dir(cwd)
        .args(args)
        .env("CI", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run rehearse")
}

/// The mini fixture project (one desk agent, a few quick scenarios).
pub fn mini() -> PathBuf {
    repo().join("tests/fixtures/mini")
}

/// A copy of the sample project with `patient-pat`'s traits replaced.
pub fn sample_with_traits(traits: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    for dir in ["agents", "personas", "scenarios", "rubrics"] {
        copy_dir(&repo().join(dir), &project.path().join(dir));
    }
    let persona = project.path().join("personas/patient-pat.yaml");
    let text = std::fs::read_to_string(&persona).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("traits:"))
        .expect("patient-pat has a traits line");
    std::fs::write(&persona, text.replace(line, &format!("traits: {traits}"))).unwrap();
    project
}

/// `rehearse run` of the mini project's `quick` call with the desk agent
/// and no latency, into `out`, with `extra` flags and environment.
pub fn run_quick(
    project: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec![
        "run",
        "--project",
        project.to_str().unwrap(),
        "--agent",
        "agents/desk.yaml",
        "--scenario",
        "quick",
        "--latency-ms",
        "0",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    rehearse_in(&repo(), &args, env)
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A JSON file, or a test failure naming it.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `rehearse emulator` process on 127.0.0.1, killed on drop.
pub struct Emulator {
    child: Child,
    pub addr: String,
}

impl Emulator {
    pub fn start(extra: &[&str]) -> Emulator {
        Emulator::start_with_env(extra, &[])
    }

    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rehearse"))
            .current_dir(repo())
            .args(["emulator", "--listen", "127.0.0.1:0", "--latency-ms", "0"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rehearse emulator");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listen line");
        let addr = line
            .trim()
            .rsplit("ws://")
            .next()
            .and_then(|s| s.strip_suffix("/v1/realtime"))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Emulator { child, addr }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime?model=gpt-realtime", self.addr)
    }

    pub async fn connect(&self, dialect: Dialect) -> RealtimeClient {
        RealtimeClient::connect(
            &Endpoint::local(&self.url(), dialect),
            Instant::now(),
            None,
            Duration::from_secs(10),
        )
        .await
        .expect("connect to emulator")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Receives events until one of type `until` arrives (inclusive), failing the
/// test after `limit`. Returns every event seen.
pub async fn collect_until(
    client: &mut RealtimeClient,
    until: &str,
    limit: Duration,
) -> Vec<TimedEvent> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.receiver.recv_within(left).await {
            Some(Ok(e)) => {
                let done = e.received.event_type == until;
                seen.push(e);
                if done {
                    return seen;
                }
            }
            other => panic!(
                "waiting for {until}: {other:?}; seen {:?}",
                seen.iter()
                    .map(|e| e.received.event_type.clone())
                    .collect::<Vec<_>>()
            ),
        }
    }
}

pub fn types(events: &[TimedEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.received.event_type.as_str())
        .collect()
}

/// The event types with consecutive repeats collapsed (`delta`×n → one).
pub fn shape(events: &[TimedEvent]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in types(events) {
        if out.last().map(String::as_str) != Some(t) {
            out.push(t.to_string());
        }
    }
    out
}
/// Writes `agents/<name>.yaml` in `project`: a custom-provider agent on a
/// loopback port nothing listens on (bound, noted, released).
pub fn write_unreachable_agent(project: &std::path::Path, name: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        project.join(format!("agents/{name}.yaml")),
        format!("name: {name}\nprovider: custom\nurl: ws://127.0.0.1:{port}/v1/realtime\ntools:\n  - name: lookup_order\n"),
    )
    .unwrap();
}

/// Copies a fixture project into a temp dir so a test can change it.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

pub mod http;
