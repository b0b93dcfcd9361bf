//! `rehearse tone FILE.wav`: the tone metrics of any recording, to calibrate
//! rubric targets on your own audio.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::audio::{SESSION_RATE, resample, tone, wav};

#[derive(Args, Debug)]
pub struct ToneArgs {
    /// The WAV recording to measure (resampled as needed).
    file: PathBuf,
    /// The words spoken, for speaking-rate measures.
    #[arg(long)]
    text: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ToneArgs) -> u8 {
    let (samples, rate) = match wav::read_mono(&args.file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot read {} as WAV: {e}", args.file.display());
            return exit::CONFIG_ERROR;
        }
    };
    let samples = resample::resample_i16(&samples, rate, SESSION_RATE);
    let m = tone::analyse(&samples, args.text.as_deref());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
        return exit::OK;
    }
    let value = serde_json::to_value(&m).unwrap_or_default();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            let shown = match v.as_f64() {
                Some(f) => format!("{f:.3}"),
                None => v.to_string(),
            };
            println!("{k:<24} {shown}");
        }
    }
    exit::OK
}
