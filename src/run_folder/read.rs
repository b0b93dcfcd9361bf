//! The one way to read a run folder: [`RunFolder::open`] checks the format
//! version and returns typed data; [`RecordedConversation::load`] reads one
//! call's records. Every reader in rehearse goes through here, so every one
//! gives the same errors.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    ConversationOutcome, EVENTS, FORMAT_VERSION, GUARDRAILS, GuardrailCheckRecord, MANIFEST,
    Manifest, OUTCOME, PlannedConversation, SCORES, SCORES_VERSION, ScoreSheet, Speaker, TOOLS,
    TRANSCRIPT, ToolCallRecord, Utterance,
};

#[derive(Debug, thiserror::Error)]
pub enum RunFolderError {
    #[error("{}: no run here (no {MANIFEST}); give the folder `rehearse run` printed", .0.display())]
    NotARun(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid rehearse file: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{}: written in run-folder format {found}, and this rehearse reads format {expected}; {}",
        path.display(),
        if found < expected {
            "re-run the calls with this version (or read the folder with the rehearse that wrote it)"
        } else {
            "read it with the newer rehearse that wrote it"
        }
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
}

/// A run folder whose manifest has been read and its format checked.
#[derive(Debug, Clone)]
pub struct RunFolder {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl RunFolder {
    /// Reads `run.json`, refusing another format version.
    pub fn open(dir: &Path) -> Result<RunFolder, RunFolderError> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Err(RunFolderError::NotARun(dir.to_path_buf()));
        }
        let bytes = read_bytes(&path)?;
        let manifest: Manifest =
            read_versioned(&path, &bytes, READABLE_FORMATS, |m: &Manifest| m.version)?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The folder of one planned call.
    pub fn conversation_dir(&self, c: &PlannedConversation) -> PathBuf {
        self.dir.join(&c.dir)
    }

    /// A call's `conversation.json`, None when it was not written.
    pub fn outcome(
        &self,
        c: &PlannedConversation,
    ) -> Result<Option<ConversationOutcome>, RunFolderError> {
        read_optional(&self.conversation_dir(c).join(OUTCOME))
    }

    /// A call's `scores.json` (format checked), None when it was not written.
    pub fn scores(&self, c: &PlannedConversation) -> Result<Option<ScoreSheet>, RunFolderError> {
        read_scores(&self.conversation_dir(c))
    }
}

/// `scores.json` in a call's folder (format checked), None when absent.
pub fn read_scores(conversation_dir: &Path) -> Result<Option<ScoreSheet>, RunFolderError> {
    let path = conversation_dir.join(SCORES);
    let bytes = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RunFolderError::Io { path, source }),
        Ok(bytes) => bytes,
    };
    read_versioned(&path, &bytes, READABLE_SCORES, |s: &ScoreSheet| s.version).map(Some)
}

/// `scores.json` versions this rehearse reads: 3 only added the
/// `guardrail` check kind to 2.
const READABLE_SCORES: std::ops::RangeInclusive<u32> = 2..=SCORES_VERSION;

/// Run folder formats this rehearse reads: formats 4 and 5 only added to
/// format 3 (pauses in transcript lines, two more kinds of caller sound;
/// `guardrails.jsonl`).
const READABLE_FORMATS: std::ops::RangeInclusive<u32> = 3..=FORMAT_VERSION;

/// A versioned file read in one pass; its version is looked at on its own
/// only when it is not one accepted (for the error to name it).
fn read_versioned<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    accepted: std::ops::RangeInclusive<u32>,
    version: fn(&T) -> u32,
) -> Result<T, RunFolderError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(value) if accepted.contains(&version(&value)) => Ok(value),
        parsed => {
            let value: Value =
                serde_json::from_slice(bytes).map_err(|source| RunFolderError::Invalid {
                    path: path.to_path_buf(),
                    source,
                })?;
            check_version(path, &value, &accepted)?;
            parsed.map_err(|source| RunFolderError::Invalid {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, RunFolderError> {
    std::fs::read(path).map_err(|source| RunFolderError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A call as its artifacts recorded it: everything a scorer reads.
#[derive(Debug, Clone)]
pub struct RecordedConversation {
    pub dir: PathBuf,
    pub outcome: ConversationOutcome,
    pub transcript: Vec<Utterance>,
    pub tools: Vec<ToolCallRecord>,
    /// Protocol events of the agent's session (audio as byte counts).
    pub events: Vec<Value>,
    /// Every guardrail check (none for agents without guardrails).
    pub guardrails: Vec<GuardrailCheckRecord>,
}

impl RecordedConversation {
    /// Reads a call's folder; `conversation.json` must be there, the JSON
    /// lines files may be missing (a call that broke off early).
    pub fn load(dir: &Path) -> Result<RecordedConversation, RunFolderError> {
        let outcome = read_json(&dir.join(OUTCOME))?;
        let events = read_jsonl_if_present::<Value>(&dir.join(EVENTS))?
            .into_iter()
            .filter(|e| e.get("side").and_then(Value::as_str) == Some("agent"))
            .collect();
        Ok(RecordedConversation {
            dir: dir.to_path_buf(),
            outcome,
            transcript: read_jsonl_if_present(&dir.join(TRANSCRIPT))?,
            tools: read_jsonl_if_present(&dir.join(TOOLS))?,
            events,
            guardrails: read_jsonl_if_present(&dir.join(GUARDRAILS))?,
        })
    }

    pub fn said_by(&self, speaker: Speaker) -> impl Iterator<Item = &Utterance> {
        self.transcript.iter().filter(move |u| u.speaker == speaker)
    }

    /// The WAV track of one side.
    pub fn track(&self, speaker: Speaker) -> PathBuf {
        self.dir.join(speaker.track_file())
    }
}

/// Reads a JSON-lines file, skipping a torn last line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, RunFolderError> {
    let text = std::fs::read_to_string(path).map_err(|source| RunFolderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut rows = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(row) => rows.push(row),
            // A crash can tear the last line only; anything else is damage.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(source) => {
                return Err(RunFolderError::Invalid {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(rows)
}

fn read_jsonl_if_present<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, RunFolderError> {
    if path.exists() {
        read_jsonl(path)
    } else {
        Ok(Vec::new())
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RunFolderError> {
    let bytes = std::fs::read(path).map_err(|source| RunFolderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| RunFolderError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

fn read_optional<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, RunFolderError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_json(path).map(Some),
    }
}

fn check_version(
    path: &Path,
    value: &Value,
    accepted: &std::ops::RangeInclusive<u32>,
) -> Result<(), RunFolderError> {
    let found = value.get("version").and_then(Value::as_u64).unwrap_or(0) as u32;
    if accepted.contains(&found) {
        return Ok(());
    }
    Err(RunFolderError::Version {
        path: path.to_path_buf(),
        found,
        expected: *accepted.end(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_skipped_but_damage_elsewhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        let rows: Vec<Value> = read_jsonl(&p).unwrap();
        assert_eq!(rows.len(), 2);
        std::fs::write(&p, "{\"a\":1}\n{\"a\n{\"a\":3}\n").unwrap();
        let err = read_jsonl::<Value>(&p).unwrap_err();
        assert!(matches!(err, RunFolderError::Invalid { .. }), "{err}");
    }

    #[test]
    fn another_format_version_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST),
            r#"{"version": 1, "run_id": "x"}"#,
        )
        .unwrap();
        let err = RunFolder::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("format 1") && err.contains(&format!("format {FORMAT_VERSION}")),
            "{err}"
        );
        assert!(err.contains("re-run"), "{err}");
        std::fs::write(dir.path().join(MANIFEST), r#"{"version": 99}"#).unwrap();
        let err = RunFolder::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("newer rehearse"), "{err}");
        let none = tempfile::tempdir().unwrap();
        let err = RunFolder::open(none.path()).unwrap_err().to_string();
        assert!(err.contains("no run here"), "{err}");
    }

    #[test]
    fn a_format_3_folder_is_still_read() {
        assert!(READABLE_FORMATS.contains(&3) && READABLE_FORMATS.contains(&FORMAT_VERSION));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), r#"{"version": 3}"#).unwrap();
        // Past the version check: what fails is the (incomplete) manifest.
        let err = RunFolder::open(dir.path()).unwrap_err();
        assert!(matches!(err, RunFolderError::Invalid { .. }), "{err}");
    }
}
