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
///
/// Every folder must be a shard of the same run (same seed, variants,
/// scenarios and repeats), each shard once, and, when they record their
/// share (`--shard`), all of them: a missing shard would leave a hole in the
/// report that gates could not see. Nothing is copied until that holds.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<Manifest, MergeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MergeError::Io { path, source }
    };
    let folders = shards
        .iter()
        .map(|dir| RunFolder::open(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = combine(&folders)?;
    for folder in &folders {
        for c in folder
            .manifest
            .conversations
            .iter()
            .filter(|c| c.status.is_some())
        {
            let from = folder.dir.join(&c.dir);
            copy_dir(&from, &out.join(&c.dir)).map_err(io(&from))?;
        }
        let cache = folder.dir.join(JUDGE_CACHE);
        if cache.is_dir() {
            copy_dir(&cache, &out.join(JUDGE_CACHE)).map_err(io(&cache))?;
        }
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let json = serde_json::to_vec_pretty(&merged).unwrap_or_default();
    write_atomic(&out.join(MANIFEST), &json).map_err(io(&out.join(MANIFEST)))?;
    Ok(merged)
}

/// The shards' manifests as one, after checking they fit together.
fn combine(folders: &[RunFolder]) -> Result<Manifest, MergeError> {
    let mismatch = |why: String| Err(MergeError::Mismatch(why));
    let Some((first, rest)) = folders.split_first() else {
        return mismatch("give at least one shard directory".into());
    };
    let mut merged = first.manifest.clone();
    merged.run_id = format!("{}-merged", merged.run_id);
    let mut seen_dirs: std::collections::HashSet<PathBuf> =
        merged.conversations.iter().map(|c| c.dir.clone()).collect();
    for folder in rest {
        let m = &folder.manifest;
        let same_run = m.seed == merged.seed
            && m.variants == merged.variants
            && m.scenarios == merged.scenarios
            && m.conditions == merged.conditions
            && m.repeat == merged.repeat;
        if !same_run {
            return mismatch(format!(
                "{} is not a shard of the same run as {} (seed {} vs {}, variants {:?} vs {:?}, scenarios, conditions or repeats differ?)",
                folder.dir.display(),
                first.dir.display(),
                m.seed,
                merged.seed,
                m.variants,
                merged.variants
            ));
        }
        for c in &m.conversations {
            if !seen_dirs.insert(c.dir.clone()) {
                return mismatch(format!("{} appears in two shards", c.dir.display()));
            }
            merged.conversations.push(c.clone());
        }
        for (k, v) in &m.config_hashes {
            merged.config_hashes.entry(k.clone()).or_insert(v.clone());
        }
        merged.finished_at = merged.finished_at.clone().max(m.finished_at.clone());
        for e in &m.write_errors {
            merged.add_write_error(e.clone());
        }
        merged.counts.write_errors += m.counts.write_errors.saturating_sub(m.write_errors.len());
    }
    check_every_shard_is_there(folders)?;
    merged.shard = None;
    merged.conversations.sort_by(|a, b| a.dir.cmp(&b.dir));
    merged.recount();
    Ok(merged)
}

/// When the shards record their share, each of `1..=n` must be there once.
fn check_every_shard_is_there(folders: &[RunFolder]) -> Result<(), MergeError> {
    let shares: Vec<_> = folders.iter().filter_map(|f| f.manifest.shard).collect();
    let Some(count) = shares.first().map(|s| s.count) else {
        return Ok(());
    };
    if shares.len() != folders.len() || shares.iter().any(|s| s.count != count) {
        return Err(MergeError::Mismatch(
            "the folders were not split the same way (--shard counts differ, or some are not shards)".into(),
        ));
    }
    for index in 1..=count {
        match shares.iter().filter(|s| s.index == index).count() {
            1 => {}
            0 => {
                return Err(MergeError::Mismatch(format!(
                    "shard {index} of {count} is missing: give every shard's folder (run the missing one with --shard {index}/{count})"
                )));
            }
            _ => {
                return Err(MergeError::Mismatch(format!(
                    "shard {index} of {count} is given twice"
                )));
            }
        }
    }
    Ok(())
}
