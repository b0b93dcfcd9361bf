//! `rehearse merge`: shards of one run (same seed and selection, different
//! `--shard i/n`), produced on several machines, combined into one run.

use std::path::{Path, PathBuf};

use super::run::{Counts, JUDGE_CACHE, MANIFEST, Manifest, save_manifest};

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

pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<Manifest, String> {
    let mut merged: Option<Manifest> = None;
    for shard in shards {
        let m: Manifest = std::fs::read(shard.join(MANIFEST))
            .map_err(|e| format!("{}: {e}", shard.join(MANIFEST).display()))
            .and_then(|b| {
                serde_json::from_slice(&b)
                    .map_err(|e| format!("{}: {e}", shard.join(MANIFEST).display()))
            })?;
        for c in m.conversations.iter().filter(|c| c.status.is_some()) {
            copy_dir(&shard.join(&c.dir), &out.join(&c.dir))
                .map_err(|e| format!("copying {}: {e}", c.dir.display()))?;
        }
        if shard.join(JUDGE_CACHE).is_dir() {
            copy_dir(&shard.join(JUDGE_CACHE), &out.join(JUDGE_CACHE))
                .map_err(|e| e.to_string())?;
        }
        match &mut merged {
            None => {
                let mut first = m;
                first.run_id = format!("{}-merged", first.run_id);
                merged = Some(first);
            }
            Some(acc) => {
                if acc.seed != m.seed || acc.variants != m.variants {
                    return Err(format!(
                        "{} is not a shard of the same run (seed {} vs {}, variants {:?} vs {:?})",
                        shard.display(),
                        m.seed,
                        acc.seed,
                        m.variants,
                        acc.variants
                    ));
                }
                for c in m.conversations {
                    if acc.conversations.iter().any(|a| a.dir == c.dir) {
                        return Err(format!("{} appears in two shards", c.dir.display()));
                    }
                    acc.conversations.push(c);
                }
                for (k, v) in m.config_hashes {
                    acc.config_hashes.entry(k).or_insert(v);
                }
                acc.finished_at = acc.finished_at.clone().max(m.finished_at);
            }
        }
    }
    let mut m = merged.ok_or("give at least one shard directory")?;
    m.conversations.sort_by(|a, b| a.dir.cmp(&b.dir));
    m.counts = Counts::of(&m.conversations);
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    save_manifest(out, &m);
    Ok(m)
}
