//! Keeps `run.json` on disk current without blocking the run: the collector
//! hands over the latest manifest whenever the writer is free, so writes are
//! coalesced when calls finish faster than the disk takes them, and every
//! write happens on a blocking thread, atomically.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::run_folder::{MANIFEST, Manifest, write_atomic};

pub(super) struct ManifestWriter {
    tx: mpsc::Sender<Vec<u8>>,
    /// Writes that failed, as they fail (the run records them in the next
    /// version of the manifest).
    failed: mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl ManifestWriter {
    pub fn spawn(dir: &Path) -> ManifestWriter {
        // One write waiting while one is in progress: anything newer replaces
        // the waiting one at the collector (it only sends when there is room).
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1);
        let (report, failed) = mpsc::unbounded_channel();
        let path = dir.join(MANIFEST);
        let task = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if let Err(e) = write(path.clone(), bytes).await {
                    tracing::error!(error = %e, "cannot write run.json");
                    let _ = report.send(e);
                }
            }
        });
        ManifestWriter { tx, failed, task }
    }

    /// Writes that failed since the last call.
    pub fn failures(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.failed.try_recv().ok()).collect()
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
    /// returns the writes that failed and were not yet taken by
    /// [`ManifestWriter::failures`] (this last one among them, if it failed).
    pub async fn finish(self, manifest: &Manifest) -> Vec<String> {
        let ManifestWriter {
            tx,
            mut failed,
            task,
        } = self;
        let _ = tx.send(to_json(manifest)).await;
        drop(tx);
        if let Err(e) = task.await {
            return vec![format!("run.json writer: {e}")];
        }
        std::iter::from_fn(|| failed.try_recv().ok()).collect()
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
