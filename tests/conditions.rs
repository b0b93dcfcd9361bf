//! Acoustic conditions through the real binary: a run under two conditions
//! pairs its calls, records both caller tracks and the line, and reports
//! pass rates per condition and the robustness table; mistakes in naming or
//! defining a condition are set-up errors with a location.

mod common;

use std::path::Path;

use common::{mini, read_json, rehearse};

/// A copy of the mini project with `conditions/` files added.
fn project_with(conditions: &[(&str, &str)]) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    common::copy_dir(&common::mini(), project.path());
    let dir = project.path().join("conditions");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in conditions {
        std::fs::write(dir.join(name), text).unwrap();
    }
    project
}

fn run(project: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    common::run_quick(project, out, extra, &[])
}

fn wav(path: &Path) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_run_under_two_conditions_pairs_its_calls_and_reports_robustness() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let result = run(
        &mini(),
        &out,
        &[
            "--condition",
            "clean",
            "--condition",
            "phone-noisy",
            "--repeat",
            "2",
        ],
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        matches!(result.status.code(), Some(0 | 1)),
        "{stderr}\n{}",
        String::from_utf8_lossy(&result.stdout)
    );

    let manifest = read_json(&out.join("run.json"));
    assert_eq!(
        manifest["conditions"],
        serde_json::json!(["clean", "phone-noisy"])
    );
    let planned = manifest["conversations"].as_array().unwrap();
    assert_eq!(planned.len(), 4, "2 conditions × 2 repeats");
    // Pairs share their seed across conditions.
    for repeat in 0..2 {
        let seeds: Vec<&serde_json::Value> = planned
            .iter()
            .filter(|c| c["repeat"] == repeat)
            .map(|c| &c["seed"])
            .collect();
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[0], seeds[1], "repeat {repeat} is paired");
    }

    // A clean call keeps the usual layout and has one caller track.
    let clean = out.join("conversations/desk/quick/0");
    assert!(clean.join("customer.wav").exists());
    assert!(!clean.join("customer_clean.wav").exists());
    assert!(
        read_json(&clean.join("conversation.json"))
            .get("line")
            .is_none()
    );

    // A call under the condition records the line and both caller tracks.
    let noisy = out.join("conversations/desk@phone-noisy/quick/0");
    let outcome = read_json(&noisy.join("conversation.json"));
    let line = &outcome["line"];
    assert_eq!(line["condition"], "phone-noisy");
    assert_eq!(line["stages"][0]["noise"]["type"], "cafe");
    assert_eq!(line["stages"][2]["codec"], "mulaw");
    let snr = line["snr_db"][0].as_f64().unwrap();
    assert!((snr - 10.0).abs() < 0.5, "measured SNR {snr}");
    let (received, said) = (
        wav(&noisy.join("customer.wav")),
        wav(&noisy.join("customer_clean.wav")),
    );
    assert_eq!(received.len(), said.len(), "the tracks share the timeline");
    assert_ne!(
        received, said,
        "the agent heard the line, not the clean speech"
    );

    // Tables, summary and report know the condition.
    let csv = std::fs::read_to_string(out.join("conversations.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"condition") && header.contains(&"line_snr_db"));
    assert_eq!(csv.matches(",phone-noisy,").count(), 2, "{csv}");
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(results.lines().next().unwrap().ends_with(",condition"));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Conditions"), "{summary}");
    assert!(summary.contains("| desk | phone-noisy | 2 |"), "{summary}");
    assert!(summary.contains("## Robustness"), "{summary}");
    assert!(
        summary.contains("| desk | phone-noisy | `overall` | 2 |"),
        "{summary}"
    );
    let report = read_json(&out.join("results.json"));
    assert_eq!(report["robustness"][0]["baseline_condition"], "clean");
    assert_eq!(report["robustness"][0]["condition"], "phone-noisy");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Pass rate per condition") && html.contains("Robustness"));
    assert!(html.contains("customer_clean.wav"));
}

#[test]
fn a_condition_of_the_project_runs_and_a_gate_can_name_it() {
    let project = project_with(&[(
        "car.yaml",
        "name: car\ndescription: hands-free in a car\nstages:\n  - noise: {type: street, snr_db: 15}\n  - reverb: {rt60_s: 0.2, wet: 0.2}\n",
    )]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let result = run(project.path(), &out, &["--condition", "car"]);
    assert!(
        matches!(result.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let outcome = read_json(&out.join("conversations/desk@car/quick/0/conversation.json"));
    assert_eq!(outcome["line"]["stages"][1]["reverb"]["rt60_s"], 0.2);

    let gates = tmp.path().join("gates.yaml");
    std::fs::write(
        &gates,
        "rules:\n  - condition: car\n    min_pass_rate: 0.0\n  - condition: phone\n    min_pass_rate: 0.0\n",
    )
    .unwrap();
    let gated = rehearse(&[
        "report",
        out.to_str().unwrap(),
        "--gate",
        gates.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&gated.stdout).to_string()
        + &String::from_utf8_lossy(&gated.stderr);
    assert_eq!(gated.status.code(), Some(1), "{said}");
    assert!(said.contains("desk @car: overall pass rate >= 0"), "{said}");
    assert!(said.contains("the run has no condition phone"), "{said}");
}

#[test]
fn naming_or_defining_a_condition_wrongly_is_a_set_up_error_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let unknown = run(&mini(), &tmp.path().join("a"), &["--condition", "phnoe"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--condition phnoe"), "{stderr}");
    assert!(stderr.contains("did you mean phone?"), "{stderr}");

    let project = project_with(&[(
        "bad.yaml",
        "name: bad\nstages:\n  - noise: {type: cafe, snr_db: 10}\n  - packet_loss:\n      rate: 0.9\n",
    )]);
    let validate = rehearse(&["validate", "--project", project.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&validate.stderr);
    assert_eq!(validate.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:5:"), "{stderr}");
    assert!(stderr.contains("rate is 0.9"), "{stderr}");

    let project = project_with(&[(
        "typo.yaml",
        "name: typo\nstages:\n  - nosie: {type: cafe}\n",
    )]);
    let validate = rehearse(&["validate", "--project", project.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&validate.stderr);
    assert_eq!(validate.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("typo.yaml:3:"), "{stderr}");
    assert!(stderr.contains("noise"), "did you mean: {stderr}");
}
