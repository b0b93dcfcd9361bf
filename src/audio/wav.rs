//! WAV files: 16-bit PCM, written incrementally so long recordings are not
//! held in memory. Samples move in blocks (hound's buffered 16-bit writer,
//! whole data chunks read as bytes), never one call per sample: a call's
//! tracks are read and written several times over, and per-sample I/O was a
//! quarter of a call's CPU.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
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

/// Most samples buffered per block write.
const BLOCK: usize = 16 * 1024;

/// Appends `samples` to a 16-bit writer, a block at a time.
pub fn write_samples<W: std::io::Write + std::io::Seek>(
    w: &mut hound::WavWriter<W>,
    samples: &[i16],
) -> hound::Result<()> {
    for block in samples.chunks(BLOCK) {
        let mut out = w.get_i16_writer(block.len() as u32);
        for &s in block {
            out.write_sample(s);
        }
        out.flush()?;
    }
    Ok(())
}

/// Appends `count` samples of silence.
pub fn write_silence<W: std::io::Write + std::io::Seek>(
    w: &mut hound::WavWriter<W>,
    count: u64,
) -> hound::Result<()> {
    let zeros = [0i16; BLOCK];
    let mut left = count;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        write_samples(w, &zeros[..n])?;
        left -= n as u64;
    }
    Ok(())
}

pub fn write_mono(path: &Path, sample_rate: u32, samples: &[i16]) -> hound::Result<()> {
    let mut w = create(path, sample_rate, 1)?;
    write_samples(&mut w, samples)?;
    w.finalize()
}

/// A 16-bit PCM file's samples as a stream of blocks (interleaved when it
/// has several channels): the header parsed by hound, the data read as bytes.
pub struct PcmBlocks {
    data: BufReader<File>,
    /// Samples not yet read.
    left: u64,
    pub spec: hound::WavSpec,
}

impl PcmBlocks {
    /// Opens a 16-bit integer PCM file; None for any other encoding.
    pub fn open(path: &Path) -> hound::Result<Option<PcmBlocks>> {
        let reader = hound::WavReader::open(path)?;
        let spec = reader.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Ok(None);
        }
        // Never trust a header's size beyond what the file can hold.
        let on_disk = std::fs::metadata(path).map_or(0, |m| m.len()) / 2;
        let left = (reader.len() as u64).min(on_disk);
        Ok(Some(PcmBlocks {
            data: reader.into_inner(),
            left,
            spec,
        }))
    }

    /// Up to `out.len()` next samples into `out`; how many (0 at the end,
    /// or where a file claimed more than it holds).
    pub fn read(&mut self, out: &mut [i16]) -> std::io::Result<usize> {
        let mut bytes = [0u8; 2 * 4096];
        let mut done = 0;
        while done < out.len() && self.left > 0 {
            let n = (out.len() - done).min(4096).min(self.left as usize);
            let got = read_up_to(&mut self.data, &mut bytes[..n * 2])? / 2;
            for (o, b) in out[done..done + got].iter_mut().zip(bytes.chunks_exact(2)) {
                *o = i16::from_le_bytes([b[0], b[1]]);
            }
            done += got;
            self.left -= got as u64;
            if got < n {
                self.left = 0;
            }
        }
        Ok(done)
    }
}

/// Fills `buf` as far as the reader allows; how many bytes (short at EOF).
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads a WAV file as mono 16-bit samples (channels averaged) and its rate.
pub fn read_mono(path: &Path) -> hound::Result<(Vec<i16>, u32)> {
    if let Some(mut pcm) = PcmBlocks::open(path)?
        && pcm.spec.channels == 1
    {
        // The common case (every track rehearse writes): one bulk read.
        let mut samples = vec![0i16; pcm.left as usize];
        let n = pcm.read(&mut samples)?;
        samples.truncate(n);
        return Ok((samples, pcm.spec.sample_rate));
    }
    let (raw, channels, rate) = read_interleaved(path)?;
    let mono = raw
        .chunks(channels)
        .map(|frame| (frame.iter().sum::<i32>() / channels as i32).clamp(-32768, 32767) as i16)
        .collect();
    Ok((mono, rate))
}

/// Reads each channel of a WAV file as 16-bit samples, and its rate.
pub fn read_channels(path: &Path) -> hound::Result<(Vec<Vec<i16>>, u32)> {
    let (raw, channels, rate) = read_interleaved(path)?;
    let mut out = vec![Vec::with_capacity(raw.len() / channels); channels];
    for frame in raw.chunks(channels) {
        for (channel, v) in out.iter_mut().zip(frame) {
            channel.push((*v).clamp(-32768, 32767) as i16);
        }
    }
    Ok((out, rate))
}

/// Every sample at 16-bit scale, interleaved; the channel count; the rate.
fn read_interleaved(path: &Path) -> hound::Result<(Vec<i32>, usize, u32)> {
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
    Ok((raw, channels, spec.sample_rate))
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
    write_samples(&mut w, samples)?;
    w.finalize()?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_writes_and_reads_round_trip_whatever_the_length() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, BLOCK - 1, BLOCK, 3 * BLOCK + 17] {
            let path = dir.path().join(format!("{len}.wav"));
            let samples: Vec<i16> = (0..len)
                .map(|i| (i as i32 * 7919 % 65536 - 32768) as i16)
                .collect();
            write_mono(&path, 24_000, &samples).unwrap();
            // hound, read sample by sample, agrees with the bulk reader.
            let by_hound: Vec<i16> = hound::WavReader::open(&path)
                .unwrap()
                .samples::<i16>()
                .map(Result::unwrap)
                .collect();
            assert_eq!(by_hound, samples);
            assert_eq!(read_mono(&path).unwrap(), (samples, 24_000));
        }
    }
}
