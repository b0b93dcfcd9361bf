//! Keeps `run.json` on disk current without blocking the run: the collector
//! hands over the latest manifest whenever the writer is free, so writes are
//! coalesced when calls finish faster than the disk takes them, and every
//! write happens on a blocking thread, atomically.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::run_folder::{MANIFEST, Manifest, write_atomic};

pub(super) struct ManifestWriter {
    tx: mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl ManifestWriter {
    pub fn spawn(dir: &Path) -> ManifestWriter {
        // One write waiting while one is in progress: anything newer replaces
        // the waiting one at the collector (it only sends when there is room).
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1);
        let path = dir.join(MANIFEST);
        let task = tokio::spawn(async move {
            let mut failures = Vec::new();
            while let Some(bytes) = rx.recv().await {
                if let Err(e) = write(path.clone(), bytes).await {
                    tracing::error!(error = %e, "cannot write run.json");
                    failures.push(e);
                }
            }
            failures
        });
        ManifestWriter { tx, task }
    }

    /// Hands over `manifest` if the writer has room; false when it is busy
    /// (the caller keeps the change and offers it again later).
    pub fn offer(&self, manifest: &Manifest) -> bool {
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(to_json(manifest));
                true
            }
            Err(_) => false,
        }
    }

    /// Writes `manifest` as the last version, after any write in flight, and
    /// returns every write that failed during the run.
    pub async fn finish(self, manifest: &Manifest) -> Vec<String> {
        let ManifestWriter { tx, task } = self;
        let _ = tx.send(to_json(manifest)).await;
        drop(tx);
        task.await
            .unwrap_or_else(|e| vec![format!("run.json writer: {e}")])
    }
}

fn to_json(manifest: &Manifest) -> Vec<u8> {
    // A manifest is plain data: serialising it cannot fail.
    serde_json::to_vec_pretty(manifest).unwrap_or_default()
}

async fn write(path: PathBuf, bytes: Vec<u8>) -> Result<(), String> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
        .await
        .map_err(|e| format!("{shown}: {e}"))?
        .map_err(|e| format!("{shown}: {e}"))
}
