//! `rehearse speak`: the offline voice, to a WAV file (24 kHz mono), for
//! hearing a voice setting or making test audio.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::audio::{SESSION_RATE, Voice, VoiceSettings, wav};

#[derive(Args, Debug)]
pub struct SpeakArgs {
    /// The words to say.
    text: String,
    /// The WAV file to write (24 kHz, mono, 16-bit).
    #[arg(long)]
    out: PathBuf,
    /// Pitch multiplier (1.0 is the natural voice).
    #[arg(long, default_value_t = 1.0)]
    pitch: f32,
    /// Speaking rate multiplier (1.2 is 20% faster).
    #[arg(long, default_value_t = 1.0)]
    rate: f32,
    /// Vocal-tract scale: formants move by this factor, pitch and rate stay
    /// (1.15 a smaller speaker, 0.9 a larger one; 0.8–1.25).
    #[arg(long, default_value_t = 1.0)]
    timbre: f32,
}

pub fn run(args: SpeakArgs) -> u8 {
    let samples = Voice::new(VoiceSettings {
        pitch: args.pitch,
        rate: args.rate,
        timbre: args.timbre,
    })
    .speak(&args.text);
    match wav::write_mono(&args.out, SESSION_RATE, &samples) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.out.display());
            exit::RUN_ERROR
        }
    }
}
