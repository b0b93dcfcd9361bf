//! Sample-rate conversion with a band-limited sinc resampler.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// Resamples a mono clip. Identity when the rates match.
pub fn resample_f32(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    let params = SincInterpolationParameters {
        sinc_len: 128,
        f_cutoff: None,
        interpolation: SincInterpolationType::Linear,
        oversampling_factor: 128,
        window: WindowFunction::BlackmanHarris2,
    };
    let ratio = to as f64 / from as f64;
    let resampled = Async::<f32>::new_sinc(ratio, 1.0, &params, 1024, 1, FixedAsync::Input)
        .ok()
        .and_then(|mut r| {
            let input = InterleavedSlice::new(samples, 1, samples.len()).ok()?;
            r.process_all(&input, samples.len(), None).ok()
        });
    match resampled {
        Some(out) => out.take_data(),
        // The parameters above are constant and valid, so construction cannot
        // fail in practice; fall back to linear interpolation rather than lose audio.
        None => linear(samples, ratio),
    }
}

pub fn resample_i16(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return samples.to_vec();
    }
    let floats: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
    resample_f32(&floats, from, to)
        .into_iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

fn linear(samples: &[f32], ratio: f64) -> Vec<f32> {
    let n = (samples.len() as f64 * ratio).round() as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 / ratio;
            let j = pos.floor() as usize;
            let frac = (pos - j as f64) as f32;
            let a = samples[j.min(samples.len() - 1)];
            let b = samples[(j + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize)
            .map(|i| (i as f64 * freq * std::f64::consts::TAU / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    /// Zero crossings per second: twice the frequency of a pure tone.
    fn crossings_per_sec(s: &[f32], rate: u32) -> f64 {
        let n = s
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        n as f64 / (s.len() as f64 / rate as f64)
    }

    #[test]
    fn keeps_length_and_pitch() {
        let input = tone(440.0, 16_000, 1.0);
        let out = resample_f32(&input, 16_000, 24_000);
        assert!((out.len() as i64 - 24_000).abs() < 30, "len {}", out.len());
        let f = crossings_per_sec(&out, 24_000) / 2.0;
        assert!((f - 440.0).abs() < 3.0, "frequency {f}");
    }

    #[test]
    fn downsampling_removes_content_above_nyquist() {
        // 5 kHz cannot exist at 8 kHz: it must be filtered, not aliased to 3 kHz.
        let input = tone(5_000.0, 24_000, 0.5);
        let out = resample_f32(&input, 24_000, 8_000);
        let rms = (out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 0.02, "residual rms {rms}");
    }
}
