//! WAV files: 16-bit PCM, written incrementally so long recordings are not
//! held in memory.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub type WavFileWriter = hound::WavWriter<BufWriter<File>>;

pub fn create(path: &Path, sample_rate: u32, channels: u16) -> hound::Result<WavFileWriter> {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec)
}

pub fn write_mono(path: &Path, sample_rate: u32, samples: &[i16]) -> hound::Result<()> {
    let mut w = create(path, sample_rate, 1)?;
    for &s in samples {
        w.write_sample(s)?;
    }
    w.finalize()
}

/// Reads a WAV file as mono 16-bit samples (channels averaged) and its rate.
pub fn read_mono(path: &Path) -> hound::Result<(Vec<i16>, u32)> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let raw: Vec<i32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = spec.bits_per_sample.saturating_sub(16);
            reader
                .samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        if shift > 0 {
                            v >> shift
                        } else {
                            v << (16 - spec.bits_per_sample)
                        }
                    })
                })
                .collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .map(|s| s.map(|v| (v * 32767.0) as i32))
            .collect::<Result<_, _>>()?,
    };
    let mono = raw
        .chunks(channels)
        .map(|frame| (frame.iter().sum::<i32>() / channels as i32).clamp(-32768, 32767) as i16)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// A whole mono WAV file in memory (for uploading a clip).
pub fn to_bytes(samples: &[i16], sample_rate: u32) -> hound::Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cursor, spec)?;
    for &s in samples {
        w.write_sample(s)?;
    }
    w.finalize()?;
    Ok(cursor.into_inner())
}
