//! The run loop through its public API: a recorded call frees its
//! concurrency slot before it is scored (so scoring never holds up live
//! calls), and a scorer that panics makes that call's verdict `error` with
//! the panic message, while the run goes on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use rehearse::config::project::Project;
use rehearse::run_folder::{OUTCOME, RunFolder, Status, Verdict};
use rehearse::simulation::progress::Silent;
use rehearse::simulation::{AgentRef, RecordedCall, RunOptions, ScoreCall, Scored};

fn mini_options(out: &std::path::Path) -> RunOptions {
    let mut opts = RunOptions::new(&common::repo().join("tests/fixtures/mini"));
    opts.agents = vec![AgentRef::parse("agents/desk.yaml")];
    opts.scenarios = vec!["quick".into()];
    opts.repeat = 2;
    opts.concurrency = 1;
    opts.latency_ms = Some(0.0);
    opts.out = Some(out.to_path_buf());
    opts
}

/// Holds the first call's scoring until the other call is on disk: with one
/// concurrency slot, that can only happen if the slot was freed first.
struct WaitsForTheNextCall {
    first: AtomicBool,
    overlapped: AtomicBool,
}

impl ScoreCall for WaitsForTheNextCall {
    fn score(&self, call: RecordedCall) -> BoxFuture<'_, Scored> {
        Box::pin(async move {
            if self.first.swap(false, Ordering::SeqCst) {
                let other =
                    call.dir
                        .with_file_name(if call.planned.repeat == 0 { "1" } else { "0" });
                let deadline = Instant::now() + Duration::from_secs(120);
                while Instant::now() < deadline {
                    if other.join(OUTCOME).exists() {
                        self.overlapped.store(true, Ordering::SeqCst);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Scored {
                verdict: Verdict::Pass,
                judge_cost_usd: 0.0,
                write_errors: Vec::new(),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_call_frees_its_slot_before_it_is_scored() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = mini_options(&tmp.path().join("run"));
    let project = Project::load(&opts.root).unwrap();
    let scorer = Arc::new(WaitsForTheNextCall {
        first: AtomicBool::new(true),
        overlapped: AtomicBool::new(false),
    });
    let result = rehearse::simulation::run(opts, &project, Arc::new(Silent), scorer.clone())
        .await
        .unwrap();
    assert!(
        scorer.overlapped.load(Ordering::SeqCst),
        "the second call ran while the first was being scored"
    );
    assert_eq!(result.manifest.counts.completed, 2);
    assert!(
        result
            .manifest
            .conversations
            .iter()
            .all(|c| c.verdict == Some(Verdict::Pass))
    );
}

struct Panics;

impl ScoreCall for Panics {
    fn score(&self, call: RecordedCall) -> BoxFuture<'_, Scored> {
        Box::pin(async move {
            if call.planned.repeat == 0 {
                panic!("scorer bug on {}", call.planned.label());
            }
            Scored {
                verdict: Verdict::Pass,
                judge_cost_usd: 0.0,
                write_errors: Vec::new(),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scorer_that_panics_makes_its_call_an_error_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let opts = mini_options(&out);
    let project = Project::load(&opts.root).unwrap();
    let result = rehearse::simulation::run(opts, &project, Arc::new(Silent), Arc::new(Panics))
        .await
        .unwrap();
    let manifest = RunFolder::open(&out).unwrap().manifest;
    assert_eq!(manifest, result.manifest, "run.json holds the final state");
    let broken = manifest
        .conversations
        .iter()
        .find(|c| c.repeat == 0)
        .unwrap();
    assert_eq!(
        broken.status,
        Some(Status::Completed),
        "the call itself completed"
    );
    assert_eq!(broken.verdict, Some(Verdict::Error));
    let error = broken.error.as_deref().unwrap();
    assert!(
        error.contains("scoring failed: panicked: scorer bug on desk / quick #0"),
        "{error}"
    );
    let fine = manifest
        .conversations
        .iter()
        .find(|c| c.repeat == 1)
        .unwrap();
    assert_eq!(fine.verdict, Some(Verdict::Pass));
}
