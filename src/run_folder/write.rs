//! How run files are written so that a crash never leaves one torn: whole
//! files by rename, JSON lines flushed one by one; and the bound on the
//! untrusted text they hold.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

/// Writes a file so that readers see the old or the new content, never half
/// (the rename is atomic). Each write has its own temporary name, so two
/// writers of the same file (two identical judge questions in flight) cannot
/// trip over each other's temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// [`write_atomic`], synced to the disk before and after the rename: for
/// files people make by hand (labels), which a power cut must not empty.
pub fn write_durable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself, made durable (not possible on every platform).
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// An append-only JSON-lines file, flushed after each line.
pub struct Jsonl {
    out: BufWriter<File>,
}

impl Jsonl {
    pub fn create(path: &Path) -> std::io::Result<Jsonl> {
        Ok(Jsonl {
            out: BufWriter::new(File::create(path)?),
        })
    }

    pub fn write<T: Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// Most bytes kept from one piece of untrusted text (an utterance, tool
/// arguments, a tool result, a judge's reasoning): enough for any real turn,
/// small enough that a runaway agent cannot bloat every report.
pub const MAX_UNTRUSTED_TEXT: usize = 16 * 1024;

/// `text` cut to at most `max` bytes (on a character boundary), with a
/// marker saying how much was cut.
pub fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("… [{cut} more bytes cut by rehearse]"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_bounded_on_a_character_boundary() {
        assert_eq!(bounded("short".into(), 10), "short");
        let long = "é".repeat(20); // 40 bytes
        let cut = bounded(long, 11);
        assert!(
            cut.starts_with(&"é".repeat(5)) && cut.ends_with("[30 more bytes cut by rehearse]"),
            "{cut}"
        );
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
