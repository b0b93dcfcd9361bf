//! `rehearse trend` over a folder of nightly runs of the real binary: a
//! regression planted in the agent is flagged at the night it appeared, on
//! the checks it broke, and the nightly gate fails that night's run; steady
//! nights flag nothing.

mod common;

use std::path::Path;

use common::{copy_dir, mini, rehearse_in, repo};
use polars::prelude::*;

/// One night: the mini project's quick call, four times.
fn night(project: &Path, runs: &Path, n: u32, gate: Option<&Path>) -> std::process::Output {
    let out = runs.join(format!("night{n}"));
    let mut args = vec![
        "run".to_string(),
        "--project".into(),
        project.display().to_string(),
        "--agent".into(),
        "agents/desk.yaml".into(),
        "--scenario".into(),
        "quick".into(),
        "--repeat".into(),
        "4".into(),
        "--latency-ms".into(),
        "0".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(g) = gate {
        args.extend(["--gate".into(), g.display().to_string()]);
    }
    rehearse_in(&repo(), &args, &[])
}

/// The mini project, with a transcript rule the planted bug breaks.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&mini(), dir.path());
    let scenario = dir.path().join("scenarios/quick.yaml");
    let text = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(
        &scenario,
        format!("{text}expectations:\n  must_not_say: [\"sorry\"]\n"),
    )
    .unwrap();
    dir
}

/// The agent starts apologising: every call now breaks `must_not_say`.
fn plant_regression(project: &Path) {
    let agent = project.join("agents/desk.yaml");
    let text = std::fs::read_to_string(&agent).unwrap();
    let planted = text.replace(
        "say: \"Hi, your order number please?\"",
        "say: \"Sorry, hi, your order number please?\"",
    );
    assert_ne!(text, planted, "the fixture's greeting moved");
    std::fs::write(&agent, planted).unwrap();
}

fn trend(runs: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["trend", runs.to_str().unwrap()];
    args.extend_from_slice(extra);
    rehearse_in(&repo(), &args, &[])
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_planted_regression_is_flagged_at_its_night_and_fails_the_nightly_gate() {
    let project = project();
    let runs = tempfile::tempdir().unwrap();
    let gate = runs.path().join("gate.yaml");
    std::fs::write(&gate, "rules:\n  - no_trend_regression: true\n").unwrap();
    for n in 1..=4 {
        let out = night(project.path(), runs.path(), n, Some(&gate));
        assert_eq!(out.status.code(), Some(0), "night {n}: {}", text(&out));
    }
    let steady = trend(runs.path(), &["--gate", gate.to_str().unwrap()]);
    assert_eq!(steady.status.code(), Some(0), "{}", text(&steady));
    assert!(
        text(&steady).contains("No significant change beyond its margin"),
        "{}",
        text(&steady)
    );

    plant_regression(project.path());
    let fifth = night(project.path(), runs.path(), 5, Some(&gate));
    assert_eq!(fifth.status.code(), Some(1), "{}", text(&fifth));
    assert!(
        text(&fifth).contains("FAIL: no trend regression")
            && text(&fifth).contains("transcript.must_not_say:sorry"),
        "{}",
        text(&fifth)
    );
    for n in 6..=7 {
        night(project.path(), runs.path(), n, None);
    }

    let flagged = trend(runs.path(), &[]);
    assert_eq!(flagged.status.code(), Some(0), "{}", text(&flagged));
    let md = std::fs::read_to_string(runs.path().join("trend.md")).unwrap();
    let changes = md
        .split("## What changed")
        .nth(1)
        .and_then(|s| s.split("## Per run").next())
        .unwrap();
    let flagged_rows: Vec<&str> = changes
        .lines()
        .filter(|l| l.contains("regressed"))
        .collect();
    assert_eq!(flagged_rows.len(), 2, "{changes}");
    assert!(flagged_rows.iter().any(|l| l.contains("`overall`")));
    assert!(
        flagged_rows
            .iter()
            .any(|l| l.contains("must_not_say:sorry"))
    );

    // The table: the first flags sit on night 5, and nowhere else.
    let file = std::fs::File::open(runs.path().join("trend.parquet")).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    let first = df.column("first").unwrap().bool().unwrap();
    let run_ids = df.column("run_id").unwrap().str().unwrap();
    let night5 = common::read_json(&runs.path().join("night5/run.json"))["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let firsts: Vec<&str> = (0..df.height())
        .filter(|&i| first.get(i) == Some(true))
        .filter_map(|i| run_ids.get(i))
        .collect();
    assert_eq!(firsts, vec![night5.as_str(), night5.as_str()]);
    let html = std::fs::read_to_string(runs.path().join("trend.html")).unwrap();
    assert!(html.contains("<svg class=\"trend\"") && html.contains("class=\"first\""));
}

#[test]
fn trend_says_what_it_cannot_read() {
    let runs = tempfile::tempdir().unwrap();
    let out = trend(runs.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no run folders"), "{}", text(&out));
}
