//! Reports end to end: A/B statistics catch the support-v2 regression where
//! it is and nowhere else, an agent against itself flags nothing, gates set
//! the documented exit codes, and the tables hold what the reports say.

mod common;

use common::{read_json, rehearse};

// Two scenarios the regression affects and two it does not. None sets a
// latency budget: a wall-clock check would make the overall verdict depend
// on how loaded the test machine is.
const SCENARIOS: [&str; 8] = [
    "--scenario",
    "out-of-policy",
    "--scenario",
    "damaged-item-exchange",
    "--scenario",
    "handoff-to-human",
    "--scenario",
    "off-topic-caller",
];

#[test]
fn ab_statistics_flag_the_real_regression_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let ab = tmp.path().join("ab");
    let mut args = vec![
        "run",
        "--agent",
        "agents/support.yaml",
        "--agent",
        "agents/support-v2.yaml",
        "--repeat",
        "3",
        "--latency-ms",
        "0",
        "--concurrency",
        "8",
        "--out",
        ab.to_str().unwrap(),
    ];
    args.extend(SCENARIOS);
    let gate = tmp.path().join("gate.yaml");
    std::fs::write(&gate, "rules:\n  - no_significant_regression: true\n").unwrap();
    args.extend(["--gate", gate.to_str().unwrap()]);
    let out = rehearse(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a significant regression fails the gate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report = read_json(&ab.join("results.json"));
    let rows = report["comparisons"][0]["checks"].as_array().unwrap();
    let change = |check: &str| {
        rows.iter()
            .find(|r| r["check"] == check)
            .map(|r| r["change"].as_str().unwrap().to_string())
    };
    assert_eq!(change("function_call.match").as_deref(), Some("regressed"));
    assert_eq!(change("flow.path").as_deref(), Some("regressed"));
    assert_eq!(change("overall").as_deref(), Some("regressed"));
    for r in rows {
        let check = r["check"].as_str().unwrap();
        if !["function_call.match", "flow.path", "overall"].contains(&check) {
            assert_ne!(r["change"], "regressed", "{check} did not regress: {r:#}");
        }
    }
    let fc = rows
        .iter()
        .find(|r| r["check"] == "function_call.match")
        .unwrap();
    assert_eq!(
        (fc["baseline_only"].as_u64(), fc["candidate_only"].as_u64()),
        (Some(6), Some(0))
    );
    assert!((fc["p_value"].as_f64().unwrap() - 2.0 * 0.5f64.powi(6)).abs() < 1e-12);
    let md = std::fs::read_to_string(ab.join("compare.md")).unwrap();
    assert!(md.contains("**regressed**"));

    // The tables are real Parquet and CSV with the documented columns.
    let csv = std::fs::read_to_string(ab.join("conversations.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "run_id",
        "variant",
        "scenario",
        "persona",
        "repeat",
        "status",
        "passed",
        "turns",
        "duration_s",
        "agent_ttfa_p50_ms",
        "agent_ttfa_p95_ms",
        "tool_calls",
        "cost_usd",
        "score",
    ] {
        assert!(
            header.split(',').any(|h| h == col),
            "conversations.csv has {col}: {header}"
        );
    }
    assert_eq!(csv.lines().count(), 1 + 24);
    let parquet = std::fs::read(ab.join("results.parquet")).unwrap();
    assert!(
        parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"),
        "a real Parquet file"
    );
    let junit = std::fs::read_to_string(ab.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"support-v2\" tests=\"12\" failures=\"6\""),
        "{junit}"
    );

    // The same agent against itself, with different randomness: nothing flagged.
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for (dir, seed) in [(&a, "1"), (&b, "2")] {
        let mut args = vec![
            "run",
            "--repeat",
            "3",
            "--latency-ms",
            "0",
            "--concurrency",
            "8",
            "--seed",
            seed,
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend(SCENARIOS);
        let out = rehearse(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = rehearse(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--gate",
        gate.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        !md.contains("regressed") && !md.contains("improved"),
        "{md}"
    );
    assert!(b.join("compare.csv").exists() && b.join("compare.html").exists());
    // Latency and tone are compared too, with bootstrap intervals.
    assert!(
        md.contains("`latency.response_p50_ms`") && md.contains("`tone.agent.f0_median_hz`"),
        "{md}"
    );
}

#[test]
fn report_rebuilds_outputs_and_gates_use_documented_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mini = common::repo().join("tests/fixtures/mini");
    let out = rehearse(&[
        "run",
        "--project",
        mini.to_str().unwrap(),
        "--agent",
        "agents/desk.yaml",
        "--scenario",
        "quick",
        "--scenario",
        "markup",
        "--repeat",
        "2",
        "--latency-ms",
        "0",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Untrusted transcript text is escaped in every human-readable output.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(") && !html.contains("<script>"),
        "report.html escapes transcripts"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "report.html loads nothing from the network"
    );
    // Tool results the agent repeats are data, never templates or attributes.
    assert!(
        html.contains("{{ 7 * 7 }}"),
        "shown as written, not evaluated"
    );
    assert!(
        !html.contains("\" onmouseover="),
        "quotes cannot open an attribute"
    );
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(!junit.contains("<script>"));
    let summary = std::fs::read(run.join("summary.md")).unwrap();
    std::fs::remove_file(run.join("summary.md")).unwrap();
    std::fs::remove_file(run.join("results.parquet")).unwrap();
    let out = rehearse(&["report", run.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(run.join("summary.md")).unwrap(),
        summary,
        "rebuilt identically"
    );
    assert!(run.join("results.parquet").exists());

    let gate = |yaml: &str| {
        let path = tmp.path().join("g.yaml");
        std::fs::write(&path, yaml).unwrap();
        rehearse(&[
            "report",
            run.to_str().unwrap(),
            "--gate",
            path.to_str().unwrap(),
        ])
        .status
        .code()
    };
    assert_eq!(gate("rules:\n  - min_pass_rate: 0.9\n"), Some(0));
    assert_eq!(gate("rules:\n  - max_p95_latency_ms: 1\n"), Some(1));
    assert_eq!(
        gate("rules:\n  - check: function_call.schema\n    min_pass_rate: 1.0\n"),
        Some(0)
    );
    assert_eq!(
        gate("rules:\n  - check: judge.none\n    min_pass_rate: 0.5\n"),
        Some(1),
        "nothing decided never passes a gate"
    );
    assert_eq!(
        gate("rules:\n  - min_pas_rate: 0.9\n"),
        Some(2),
        "a gate file typo is a config error"
    );
}

/// A run folder written in another format is refused with both versions
/// named and what to do, by every command that reads one.
#[test]
fn a_run_folder_of_another_format_version_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(
        old.join("run.json"),
        r#"{"version": 1, "run_id": "x", "conversations": []}"#,
    )
    .unwrap();
    let dir = old.to_str().unwrap();
    for args in [
        vec!["report", dir],
        vec!["rescore", dir],
        vec![
            "merge",
            dir,
            "--out",
            tmp.path().join("m").to_str().unwrap(),
        ],
        vec!["compare", dir, dir],
    ] {
        let out = rehearse(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("run-folder format 1")
                && stderr.contains(&format!(
                    "reads format {}",
                    rehearse::run_folder::FORMAT_VERSION
                )),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("re-run"), "{args:?}: {stderr}");
    }
}
