//! `rehearse merge`: shards of one run (same seed and selection, different
//! `--shard i/n`), produced on several machines, combined into one run.

use std::path::{Path, PathBuf};

use super::{JUDGE_CACHE, MANIFEST, Manifest, RunFolder, RunFolderError, write_atomic};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Folder(#[from] RunFolderError),
    #[error("{0}")]
    Mismatch(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// Merges the shard folders into `out` (their calls and judge caches
/// copied, their manifests combined) and returns the merged manifest.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<Manifest, MergeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MergeError::Io { path, source }
    };
    let mut merged: Option<Manifest> = None;
    for shard in shards {
        let m = RunFolder::open(shard)?.manifest;
        for c in m.conversations.iter().filter(|c| c.status.is_some()) {
            copy_dir(&shard.join(&c.dir), &out.join(&c.dir)).map_err(io(&shard.join(&c.dir)))?;
        }
        if shard.join(JUDGE_CACHE).is_dir() {
            copy_dir(&shard.join(JUDGE_CACHE), &out.join(JUDGE_CACHE))
                .map_err(io(&shard.join(JUDGE_CACHE)))?;
        }
        match &mut merged {
            None => {
                let mut first = m;
                first.run_id = format!("{}-merged", first.run_id);
                merged = Some(first);
            }
            Some(acc) => {
                if acc.seed != m.seed || acc.variants != m.variants {
                    return Err(MergeError::Mismatch(format!(
                        "{} is not a shard of the same run (seed {} vs {}, variants {:?} vs {:?})",
                        shard.display(),
                        m.seed,
                        acc.seed,
                        m.variants,
                        acc.variants
                    )));
                }
                for c in m.conversations {
                    if acc.conversations.iter().any(|a| a.dir == c.dir) {
                        return Err(MergeError::Mismatch(format!(
                            "{} appears in two shards",
                            c.dir.display()
                        )));
                    }
                    acc.conversations.push(c);
                }
                for (k, v) in m.config_hashes {
                    acc.config_hashes.entry(k).or_insert(v);
                }
                acc.finished_at = acc.finished_at.clone().max(m.finished_at);
                acc.write_errors.extend(m.write_errors);
                acc.counts.write_errors += m.counts.write_errors;
            }
        }
    }
    let mut m = merged
        .ok_or_else(|| MergeError::Mismatch("give at least one shard directory".to_string()))?;
    m.conversations.sort_by(|a, b| a.dir.cmp(&b.dir));
    m.recount();
    std::fs::create_dir_all(out).map_err(io(out))?;
    let json = serde_json::to_vec_pretty(&m).unwrap_or_default();
    write_atomic(&out.join(MANIFEST), &json).map_err(io(&out.join(MANIFEST)))?;
    Ok(m)
}
