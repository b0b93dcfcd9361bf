//! A call recording: one stereo WAV (caller left, agent right, as rehearse's
//! `conversation.wav` and most call recorders write it) or two mono tracks,
//! with an optional transcript. Turns come from the transcript's times when
//! it has them; otherwise from speech detected on each track, with the
//! transcript's lines given to them in order.

use std::path::Path;

use super::transcript_file::TranscriptLine;
use super::{ImportError, ImportedCall, call_name};
use crate::audio::resample::resample_i16;
use crate::audio::wav::{read_channels, read_mono};
use crate::audio::{EnergyVad, SESSION_RATE, VadEvent};
use crate::run_folder::{ImportSource, Speaker, Utterance};

/// Where the two sides are.
pub enum Tracks<'a> {
    /// Caller left, agent right.
    Stereo(&'a Path),
    /// Two mono files.
    Mono { caller: &'a Path, agent: &'a Path },
}

pub fn read(
    tracks: Tracks<'_>,
    transcript: Option<&[TranscriptLine]>,
) -> Result<ImportedCall, ImportError> {
    let (caller, agent, files, name) = match tracks {
        Tracks::Stereo(path) => {
            let (channels, rate) = read_channels(path)
                .map_err(|e| ImportError::Read(path.to_path_buf(), e.to_string()))?;
            let [left, right]: [Vec<i16>; 2] = channels.try_into().map_err(|c: Vec<Vec<i16>>| {
                ImportError::Unusable(format!(
                    "{}: {} channel(s); a call recording has two (caller left, agent right), or give the agent's track with --agent-audio",
                    path.display(),
                    c.len()
                ))
            })?;
            (
                resample_i16(&left, rate, SESSION_RATE),
                resample_i16(&right, rate, SESSION_RATE),
                vec![path.display().to_string()],
                call_name(path),
            )
        }
        Tracks::Mono { caller, agent } => {
            let read = |p: &Path| {
                read_mono(p)
                    .map(|(s, rate)| resample_i16(&s, rate, SESSION_RATE))
                    .map_err(|e| ImportError::Read(p.to_path_buf(), e.to_string()))
            };
            (
                read(caller)?,
                read(agent)?,
                vec![caller.display().to_string(), agent.display().to_string()],
                call_name(caller),
            )
        }
    };
    let mut call = ImportedCall {
        name,
        source: Some(ImportSource::Recording),
        files,
        ..ImportedCall::default()
    };
    let timed = transcript.is_some_and(|t| {
        !t.is_empty() && t.iter().all(|l| l.start_ms.is_some() && l.end_ms.is_some())
    });
    match transcript {
        Some(lines) if timed => {
            call.transcript = lines
                .iter()
                .map(|l| {
                    Utterance::turn(
                        l.speaker,
                        l.text.clone(),
                        l.start_ms.unwrap_or(0.0),
                        l.end_ms.unwrap_or(0.0),
                    )
                })
                .collect();
            call.words_from = "the transcript, with its times".into();
        }
        Some(lines) => {
            for (speaker, track) in [(Speaker::Customer, &caller), (Speaker::Agent, &agent)] {
                let said: Vec<&TranscriptLine> =
                    lines.iter().filter(|l| l.speaker == speaker).collect();
                let turns = speech_turns(track);
                if turns.len() != said.len() {
                    call.notes.push(format!(
                        "the {speaker} track has {} turns of speech and the transcript {} lines: they were paired in order",
                        turns.len(),
                        said.len()
                    ));
                }
                for ((start, end), line) in turns.iter().zip(&said) {
                    call.transcript
                        .push(Utterance::turn(speaker, line.text.clone(), *start, *end));
                }
            }
            call.words_from = "the transcript, timed by speech detected on each track".into();
        }
        None => {
            for (speaker, track) in [(Speaker::Customer, &caller), (Speaker::Agent, &agent)] {
                for (start, end) in speech_turns(track) {
                    call.transcript
                        .push(Utterance::turn(speaker, String::new(), start, end));
                }
            }
            call.words_from = "none: turns from speech detected on each track".into();
        }
    }
    call.caller_audio = Some(caller);
    call.agent_audio = Some(agent);
    call.sort();
    Ok(call)
}

/// Turns of speech on a track (ms): the energy VAD the emulator uses, with
/// the silence a turn needs to end set long enough to keep a sentence whole.
pub fn speech_turns(track: &[i16]) -> Vec<(f64, f64)> {
    let mut vad = EnergyVad::new(0.5, 700);
    let mut out = Vec::new();
    let mut start = None;
    for chunk in track.chunks(2_400) {
        for event in vad.push(chunk) {
            match event {
                VadEvent::SpeechStarted { at_ms } => start = Some(at_ms as f64),
                VadEvent::SpeechStopped { at_ms } => {
                    if let Some(s) = start.take() {
                        // The turn ended where the silence began, not where it was judged long enough.
                        out.push((s, (at_ms as f64 - 700.0).max(s)));
                    }
                }
            }
        }
    }
    if let Some(s) = start {
        out.push((s, track.len() as f64 / 24.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize) -> Vec<i16> {
        (0..ms * 24)
            .map(|i| ((i as f64 * 0.12).sin() * 9000.0) as i16)
            .collect()
    }

    #[test]
    fn turns_of_speech_are_found_on_a_track() {
        let mut track = vec![0i16; 24 * 500];
        track.extend(tone(1200));
        track.extend(vec![0i16; 24 * 1500]);
        track.extend(tone(800));
        track.extend(vec![0i16; 24 * 1000]);
        let turns = speech_turns(&track);
        assert_eq!(turns.len(), 2, "{turns:?}");
        assert!((turns[0].0 - 500.0).abs() < 60.0, "{turns:?}");
        assert!((turns[1].0 - 3200.0).abs() < 60.0, "{turns:?}");
        assert!((turns[1].1 - 4000.0).abs() < 120.0, "{turns:?}");
    }
}
