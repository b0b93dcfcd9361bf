//! `labels.jsonl`: human verdicts on a run's calls, one line per label as
//! reviewers make them (`rehearse review`). A later label by the same
//! reviewer on the same item replaces an earlier one; the file keeps the
//! history. Every save rewrites the file atomically and syncs it, so a
//! label is either wholly there or not, whatever happens to the server. One
//! review server per run: two would each rewrite the file from their own read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::read::{RunFolderError, read_jsonl};
use super::write::write_durable;

pub const LABELS: &str = "labels.jsonl";

/// The item a label is about: a check (or judge criterion) by name, or the
/// whole call.
pub const OVERALL: &str = "overall";

/// A human verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HumanVerdict {
    Pass,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRecord {
    /// The call's folder, relative to the run (as `run.json` lists it).
    pub conversation: String,
    /// A check name (`judge.support.empathy`) or `overall`.
    pub item: String,
    pub verdict: HumanVerdict,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub reviewer: String,
    /// When the label was made (RFC 3339).
    pub at: String,
}

/// Every label of a run, oldest first (none when nobody has reviewed it).
pub fn read_labels(run_dir: &Path) -> Result<Vec<LabelRecord>, RunFolderError> {
    let path = run_dir.join(LABELS);
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_jsonl(&path)
}

/// Adds `label` to the run's labels, rewriting the file atomically.
pub fn append_label(run_dir: &Path, label: &LabelRecord) -> std::io::Result<()> {
    let mut all = read_labels(run_dir).map_err(std::io::Error::other)?;
    all.push(label.clone());
    let mut bytes = Vec::new();
    for l in &all {
        serde_json::to_writer(&mut bytes, l).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
    }
    write_durable(&run_dir.join(LABELS), &bytes)
}

/// Each reviewer's latest verdict per (conversation, item).
pub fn latest_labels(labels: &[LabelRecord]) -> BTreeMap<(String, String, String), &LabelRecord> {
    let mut out = BTreeMap::new();
    for l in labels {
        out.insert(
            (l.reviewer.clone(), l.conversation.clone(), l.item.clone()),
            l,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(reviewer: &str, verdict: HumanVerdict) -> LabelRecord {
        LabelRecord {
            conversation: "conversations/a/s/0".into(),
            item: OVERALL.into(),
            verdict,
            note: String::new(),
            reviewer: reviewer.into(),
            at: "2026-12-02T10:00:00Z".into(),
        }
    }

    #[test]
    fn labels_append_and_the_latest_per_reviewer_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_labels(dir.path()).unwrap().is_empty());
        append_label(dir.path(), &label("ana", HumanVerdict::Pass)).unwrap();
        append_label(dir.path(), &label("ana", HumanVerdict::Fail)).unwrap();
        append_label(dir.path(), &label("bo", HumanVerdict::Pass)).unwrap();
        let all = read_labels(dir.path()).unwrap();
        assert_eq!(all.len(), 3, "history kept");
        let latest = latest_labels(&all);
        assert_eq!(latest.len(), 2);
        let ana = latest[&("ana".into(), "conversations/a/s/0".into(), OVERALL.into())];
        assert_eq!(ana.verdict, HumanVerdict::Fail);
    }
}
