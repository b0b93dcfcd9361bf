//! Human labels in a run folder, read back by the reports and gates: the
//! agreement section of `summary.md` and `report.html`, `rehearse
//! agreement`, and a `min_kappa` gate that holds a judge to its reviewers.

mod common;

use common::{mini, rehearse_in, repo, run_quick};

/// `rehearse report RUN --gate GATE`.
fn report_with_gate(run: &std::path::Path, gate: &std::path::Path) -> std::process::Output {
    rehearse_in(
        &repo(),
        &[
            "report",
            run.to_str().unwrap(),
            "--gate",
            gate.to_str().unwrap(),
        ],
        &[],
    )
}

fn label(conversation: &str, item: &str, verdict: &str, reviewer: &str) -> String {
    format!(
        "{{\"conversation\":\"{conversation}\",\"item\":\"{item}\",\"verdict\":\"{verdict}\",\"reviewer\":\"{reviewer}\",\"at\":\"2026-12-02T10:00:00Z\"}}\n"
    )
}

#[test]
fn labels_show_in_the_reports_and_gate_a_check_on_its_kappa() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = run_quick(&mini(), &run, &["--repeat", "4"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls: Vec<String> = (0..4)
        .map(|r| format!("conversations/desk/quick/{r}"))
        .collect();
    // Every call passed; a reviewer fails one of them, and a second agrees on two.
    let mut labels = String::new();
    for (i, c) in calls.iter().enumerate() {
        labels += &label(c, "overall", if i == 0 { "fail" } else { "pass" }, "ana");
    }
    labels += &label(&calls[0], "overall", "fail", "bo");
    labels += &label(&calls[1], "overall", "pass", "bo");
    std::fs::write(run.join("labels.jsonl"), labels).unwrap();

    let agreement = rehearse_in(&repo(), &["agreement", run.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&agreement.stdout);
    assert_eq!(agreement.status.code(), Some(0), "{text}");
    // 6 pairs, one disagreement; the machine said pass to all, so kappa is 0.
    assert!(text.contains("| `overall` | 6 | 67% | 0.00 ["), "{text}");
    assert!(text.contains("ana vs bo: κ 1.00"), "{text}");
    assert!(text.contains("[`conversations/desk/quick/0`]"), "{text}");
    assert!(run.join("agreement.json").is_file());

    let gate = dir.path().join("gate.yaml");
    std::fs::write(&gate, "rules:\n  - min_kappa: 0.5\n").unwrap();
    let report = report_with_gate(&run, &gate);
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert_eq!(report.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "FAIL: overall: agreement with reviewers κ >= 0.5 (κ = 0.00 over 6 labelled calls"
        ),
        "{stderr}"
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.contains("## Agreement with reviewers"), "{summary}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("id=\"agreement\""));

    // A check nobody labelled cannot pass a kappa gate.
    std::fs::write(
        &gate,
        "rules:\n  - check: function_call.match\n    min_kappa: 0.5\n",
    )
    .unwrap();
    let unlabelled = report_with_gate(&run, &gate);
    let stderr = String::from_utf8_lossy(&unlabelled.stderr);
    assert_eq!(unlabelled.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no reviewer labelled it"), "{stderr}");
}
