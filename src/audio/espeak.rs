//! An external offline voice: `espeak-ng`, run as a separate process
//! (never linked in), for accents and languages the embedded voice does
//! not have. Optional: a persona that asks for it on a machine without it
//! gets an error naming the package to install.

use std::io::Write;
use std::process::{Command, Stdio};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{SESSION_RATE, resample};

/// The program run, found on `PATH`.
pub const PROGRAM: &str = "espeak-ng";

/// How an espeak-ng voice sounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EspeakSettings {
    /// An espeak-ng voice: a language, optionally with a variant
    /// (`en-gb`, `en-us+f3`, `en-gb-scotland`, `fr`, `de`, `hi`);
    /// `espeak-ng --voices` lists them.
    #[serde(default = "en_us")]
    pub voice: String,
    /// Speaking rate in words per minute (80–450; espeak-ng's own is 175).
    #[serde(default = "default_wpm")]
    pub words_per_minute: u32,
    /// 0–99; 50 is the voice's own pitch.
    #[serde(default = "default_pitch")]
    pub pitch: u8,
}

fn en_us() -> String {
    "en-us".into()
}
fn default_wpm() -> u32 {
    175
}
fn default_pitch() -> u8 {
    50
}

impl Default for EspeakSettings {
    fn default() -> Self {
        EspeakSettings {
            voice: en_us(),
            words_per_minute: default_wpm(),
            pitch: default_pitch(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    #[error(
        "`{0}` is not installed (or not on PATH), and a persona's voice uses it: install the `espeak-ng` package (Debian/Ubuntu: `apt install espeak-ng`; macOS: `brew install espeak-ng`), or remove `voice.espeak` from the persona"
    )]
    Missing(String),
    #[error("espeak-ng failed: {0}")]
    Failed(String),
    #[error("espeak-ng's output is not audio rehearse can read: {0}")]
    BadAudio(String),
}

impl EspeakSettings {
    /// Where a setting is out of range, in words.
    pub fn problem(&self) -> Option<String> {
        if !(80..=450).contains(&self.words_per_minute) {
            return Some(format!(
                "words_per_minute is {}, outside 80–450",
                self.words_per_minute
            ));
        }
        if self.pitch > 99 {
            return Some(format!("pitch is {}, outside 0–99", self.pitch));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || "-+_".contains(c);
        if self.voice.is_empty() || !self.voice.chars().all(plain) {
            return Some(format!(
                "voice `{}` is not an espeak-ng voice name (letters, digits, `-`, `+`)",
                self.voice
            ));
        }
        None
    }
}

/// Whether `program` runs.
pub fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Says `text` with `program` (espeak-ng) as 24 kHz mono PCM. The text goes
/// in on stdin, so no line can be taken for an option.
pub fn speak(
    program: &str,
    settings: &EspeakSettings,
    text: &str,
) -> Result<Vec<i16>, EspeakError> {
    if let Some(problem) = settings.problem() {
        return Err(EspeakError::Failed(problem));
    }
    let mut child = Command::new(program)
        .args([
            "-v",
            &settings.voice,
            "-s",
            &settings.words_per_minute.to_string(),
            "-p",
            &settings.pitch.to_string(),
            "--stdout",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EspeakError::Missing(program.to_string()),
            _ => EspeakError::Failed(e.to_string()),
        })?;
    // Written from its own thread: espeak-ng speaks as it reads, and a long
    // text would otherwise fill both pipes and wait forever.
    let writer = child.stdin.take().map(|mut stdin| {
        let text = text.to_string();
        std::thread::spawn(move || stdin.write_all(text.as_bytes()))
    });
    let out = child
        .wait_with_output()
        .map_err(|e| EspeakError::Failed(e.to_string()))?;
    if let Some(writer) = writer {
        match writer.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(EspeakError::Failed(format!("writing the text: {e}"))),
            Err(_) => return Err(EspeakError::Failed("the text writer failed".into())),
        }
    }
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(EspeakError::Failed(format!(
            "{} ({})",
            why.trim(),
            out.status
        )));
    }
    let (samples, rate) = streamed_wav(&out.stdout).map_err(EspeakError::BadAudio)?;
    Ok(resample::resample_i16(&samples, rate, SESSION_RATE))
}

/// The samples and rate of a 16-bit mono PCM WAV written to a pipe: its
/// chunk sizes are placeholders (the writer could not seek back), so the
/// data runs to the end of the bytes.
fn streamed_wav(bytes: &[u8]) -> Result<(Vec<i16>, u32), String> {
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err("no RIFF/WAVE header".into());
    }
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while let (Some(id), Some(size)) = (bytes.get(at..at + 4), u32_at(at + 4)) {
        let body = at + 8;
        if id == b"fmt " {
            format = match (
                u16_at(body),
                u16_at(body + 2),
                u32_at(body + 4),
                u16_at(body + 14),
            ) {
                (Some(f), Some(c), Some(r), Some(b)) => Some((f, c, r, b)),
                _ => return Err("a cut-off fmt chunk".into()),
            };
        } else if id == b"data" {
            let Some((1, 1, rate, 16)) = format else {
                return Err(format!(
                    "not 16-bit mono PCM (format, channels, rate, bits: {format:?})"
                ));
            };
            let data = &bytes[body.min(bytes.len())..];
            let samples = data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return Ok((samples, rate));
        }
        at = body.saturating_add(size as usize + (size as usize & 1));
    }
    Err("no data chunk".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, samples: &[i16], sizes: u32) -> Vec<u8> {
        let mut b = b"RIFF".to_vec();
        b.extend(sizes.to_le_bytes());
        b.extend(b"WAVEfmt ");
        b.extend(16u32.to_le_bytes());
        b.extend(1u16.to_le_bytes());
        b.extend(1u16.to_le_bytes());
        b.extend(rate.to_le_bytes());
        b.extend((rate * 2).to_le_bytes());
        b.extend(2u16.to_le_bytes());
        b.extend(16u16.to_le_bytes());
        b.extend(b"data");
        b.extend(sizes.to_le_bytes());
        for s in samples {
            b.extend(s.to_le_bytes());
        }
        b
    }

    #[test]
    fn a_piped_wav_with_placeholder_sizes_is_read_to_its_end() {
        let bytes = wav(22_050, &[1, -2, 300], 0x7fff_f000);
        assert_eq!(streamed_wav(&bytes), Ok((vec![1, -2, 300], 22_050)));
        assert!(streamed_wav(b"not a wav").is_err());
        let mut stereo = wav(22_050, &[1, 2], 8);
        stereo[22] = 2;
        assert!(streamed_wav(&stereo).unwrap_err().contains("mono"));
    }

    #[test]
    fn a_missing_program_is_an_error_naming_the_package() {
        let e = speak("rehearse-no-such-espeak", &EspeakSettings::default(), "Hi.").unwrap_err();
        assert!(matches!(e, EspeakError::Missing(_)));
        assert!(e.to_string().contains("apt install espeak-ng"), "{e}");
    }

    #[test]
    fn settings_out_of_range_or_not_a_voice_name_are_named() {
        let fast = EspeakSettings {
            words_per_minute: 900,
            ..Default::default()
        };
        assert!(fast.problem().unwrap().contains("words_per_minute"));
        let odd = EspeakSettings {
            voice: "en; rm".into(),
            ..Default::default()
        };
        assert!(odd.problem().unwrap().contains("not an espeak-ng voice"));
        assert_eq!(EspeakSettings::default().problem(), None);
    }

    /// Runs where espeak-ng is installed (`.ci/run` installs it).
    #[test]
    fn espeak_ng_speaks_at_the_session_rate_where_installed() {
        if !available(PROGRAM) {
            eprintln!("skipped: espeak-ng is not installed here");
            return;
        }
        let settings = EspeakSettings {
            voice: "en-gb".into(),
            ..Default::default()
        };
        let audio = speak(PROGRAM, &settings, "My order number is N W 1 0 4 2 2.").unwrap();
        let seconds = audio.len() as f64 / SESSION_RATE as f64;
        assert!((1.5..6.0).contains(&seconds), "{seconds} s");
        assert!(audio.iter().any(|s| s.unsigned_abs() > 3000), "audible");
    }
}
