//! Loudness as EBU R128 / ITU-R BS.1770-4 define it, for one mono channel:
//! integrated loudness (LUFS, gated), loudness range (LRA, EBU Tech 3342)
//! and true peak (4× oversampled). The same filters, blocks, gates and
//! percentiles as libebur128 (the reference implementation, which its Rust
//! port `ebur128` follows), computed with prefix sums so that overlapping
//! windows share their work, and a true-peak scan that skips stretches whose
//! samples cannot reach the peak already found. Tests check every figure
//! against the `ebur128` crate; CI checks integrated loudness against
//! pyloudnorm.

/// The loudness figures of one recording; None where a figure is undefined
/// (silence, or too short for a block).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Loudness {
    pub integrated_lufs: Option<f64>,
    pub range_lu: Option<f64>,
    pub true_peak_dbfs: Option<f64>,
}

/// Blocks quieter than this (−70 LUFS, as energy) are never counted.
fn absolute_gate() -> f64 {
    10f64.powf((-70.0 + 0.691) / 10.0)
}

fn energy_to_loudness(energy: f64) -> f64 {
    10.0 * energy.log10() - 0.691
}

/// Measures `samples` (mono PCM at `rate` Hz).
pub fn measure(samples: &[i16], rate: u32) -> Loudness {
    let energy = k_weighted_energy(samples, rate);
    Loudness {
        integrated_lufs: integrated(&energy),
        range_lu: range(&energy),
        true_peak_dbfs: true_peak(samples)
            .filter(|p| *p > 0.0)
            .map(|p| 20.0 * p.log10()),
    }
}

/// The BS.1770 K-weighting (a high shelf and a high-pass, from the analog
/// prototype, so any sample rate gets the same response) as one 4th-order
/// section in direct form II, as libebur128 runs it; returned as the running
/// energy of the weighted signal, which is all the gates need.
fn k_weighted_energy(samples: &[i16], rate: u32) -> PrefixEnergy {
    let chunk = (rate / 10) as usize;
    let rate = rate as f64;
    let (f0, gain_db, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.4996667741545416);
    let a0 = 1.0 + k / q + k * k;
    let pb = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
    ];
    let pa = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0];
    let (f0, q) = (38.13547087602444, 0.5003270373238773);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let rb = [1.0, -2.0, 1.0];
    let ra = [
        1.0,
        2.0 * (k * k - 1.0) / (1.0 + k / q + k * k),
        (1.0 - k / q + k * k) / (1.0 + k / q + k * k),
    ];
    let b = [
        pb[0] * rb[0],
        pb[0] * rb[1] + pb[1] * rb[0],
        pb[0] * rb[2] + pb[1] * rb[1] + pb[2] * rb[0],
        pb[1] * rb[2] + pb[2] * rb[1],
        pb[2] * rb[2],
    ];
    let a = [
        pa[0] * ra[0],
        pa[0] * ra[1] + pa[1] * ra[0],
        pa[0] * ra[2] + pa[1] * ra[1] + pa[2] * ra[0],
        pa[1] * ra[2] + pa[2] * ra[1],
        pa[2] * ra[2],
    ];
    let mut v = [0.0f64; 4];
    let mut sums = Vec::with_capacity(samples.len() / chunk + 1);
    let mut total = 0.0;
    sums.push(0.0);
    // Every block and window the gates use starts and ends on a 100 ms
    // boundary, so the energy is kept per 100 ms; a trailing part shorter
    // than that ends no block.
    for part in samples.chunks_exact(chunk) {
        let [mut v1, mut v2, mut v3, mut v4] = v;
        let mut energy = 0.0;
        for &s in part {
            // The oldest terms first: only the last product waits on the
            // previous sample's state, which keeps the recursion's latency short.
            let v0 = s as f64 / 32768.0 - a[4] * v4 - a[3] * v3 - a[2] * v2 - a[1] * v1;
            let out = b[4] * v4 + b[3] * v3 + b[2] * v2 + b[1] * v1 + b[0] * v0;
            (v4, v3, v2, v1) = (v3, v2, v1, v0);
            energy += out * out;
        }
        // A state decaying through long silence would turn denormal and slow
        // the filter a hundredfold: flush it between chunks, off the hot loop.
        v = [v1, v2, v3, v4].map(|x| if x.abs() < f64::MIN_POSITIVE { 0.0 } else { x });
        total += energy;
        sums.push(total);
    }
    PrefixEnergy {
        sums,
        per_step: chunk,
    }
}

/// Running sums of the squared filtered signal per 100 ms: the energy of any
/// window of whole 100 ms steps in constant time.
struct PrefixEnergy {
    sums: Vec<f64>,
    per_step: usize,
}

impl PrefixEnergy {
    /// Whole 100 ms steps measured.
    fn steps(&self) -> usize {
        self.sums.len() - 1
    }

    /// Mean square of the `len` steps ending at step `end`.
    fn mean(&self, end: usize, len: usize) -> f64 {
        (self.sums[end] - self.sums[end - len]) / (len * self.per_step) as f64
    }
}

/// Gated integrated loudness over 400 ms blocks every 100 ms: blocks above
/// −70 LUFS, then those above their mean less 10 LU.
fn integrated(energy: &PrefixEnergy) -> Option<f64> {
    let blocks: Vec<f64> = (4..=energy.steps())
        .map(|end| energy.mean(end, 4))
        .filter(|e| *e >= absolute_gate())
        .collect();
    if blocks.is_empty() {
        return None;
    }
    let relative = blocks.iter().sum::<f64>() / blocks.len() as f64 * 0.1;
    let kept: Vec<f64> = blocks.into_iter().filter(|e| *e >= relative).collect();
    (!kept.is_empty()).then(|| energy_to_loudness(kept.iter().sum::<f64>() / kept.len() as f64))
}

/// Loudness range: 3 s short-term blocks every second (from 3 s in), above
/// −70 LUFS and above their mean less 20 LU; the spread between their 10th
/// and 95th percentiles. Without such blocks (silence, under 3 s) it is 0,
/// as the reference implementation reports it.
fn range(energy: &PrefixEnergy) -> Option<f64> {
    let mut blocks: Vec<f64> = (30..=energy.steps())
        .step_by(10)
        .map(|end| energy.mean(end, 30))
        .filter(|e| *e >= absolute_gate())
        .collect();
    if blocks.is_empty() {
        return Some(0.0);
    }
    blocks.sort_by(f64::total_cmp);
    let relative = blocks.iter().sum::<f64>() / blocks.len() as f64 * 0.01;
    let gated = blocks.partition_point(|e| *e < relative);
    let kept = &blocks[gated..];
    let Some(last) = kept.len().checked_sub(1) else {
        return Some(0.0);
    };
    let last = last as f64;
    let high = kept[(last * 0.95 + 0.5) as usize];
    let low = kept[(last * 0.1 + 0.5) as usize];
    Some(energy_to_loudness(high) - energy_to_loudness(low))
}

/// Taps of the 4× interpolation filter per phase (48 in all, Hann-windowed
/// sinc, as libebur128).
const TAPS_PER_PHASE: usize = 12;
const PHASES: usize = 4;

fn interpolation_filter() -> [[f64; PHASES]; TAPS_PER_PHASE] {
    let mut filter = [[0.0; PHASES]; TAPS_PER_PHASE];
    let window = (TAPS_PER_PHASE * PHASES) as f64;
    for (j, coeff) in filter.iter_mut().flat_map(|t| t.iter_mut()).enumerate() {
        let j = j as f64;
        let w = 0.5 * (1.0 - (2.0 * std::f64::consts::PI * j / window).cos());
        let m = j - window / 2.0;
        let arg = m * std::f64::consts::PI / PHASES as f64;
        *coeff = if m.abs() > 1e-6 {
            w * arg.sin() / arg
        } else {
            w
        };
    }
    filter
}

/// The largest absolute value of the signal oversampled 4×.
///
/// Every output sample is a 12-tap filter over the input, so it is at most
/// the input's largest magnitude in those taps times the filter's gain (the
/// largest sum of absolute taps of any phase): a stretch of input whose
/// samples are too quiet to beat the peak found so far is skipped without
/// being filtered, and the result is exact.
fn true_peak(samples: &[i16]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let filter = interpolation_filter();
    let gain = (0..PHASES)
        .map(|p| filter.iter().map(|t| t[p].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let x = |i: isize| -> f64 {
        match usize::try_from(i).ok().and_then(|i| samples.get(i)) {
            Some(&s) => s as f64 / 32768.0,
            None => 0.0,
        }
    };
    // Output i filters inputs i-11..=i (zeros before the start and after the
    // end, as a streaming filter sees them).
    let history = TAPS_PER_PHASE as isize - 1;
    let outputs = samples.len() as isize + history;
    let mut peak = samples
        .iter()
        .map(|s| (*s as f64 / 32768.0).abs())
        .fold(0.0f64, f64::max);
    const STRETCH: isize = 256;
    let mut start = 0;
    while start < outputs {
        let end = (start + STRETCH).min(outputs);
        let reach = (start - history).max(0) as usize..(end as usize).min(samples.len());
        let loudest = samples[reach]
            .iter()
            .map(|s| (*s as f64 / 32768.0).abs())
            .fold(0.0f64, f64::max);
        if loudest * gain > peak {
            for i in start..end {
                let mut out = [0.0f64; PHASES];
                for (t, coeffs) in filter.iter().enumerate() {
                    // Newest sample first, as the filter taps run.
                    let v = x(i - t as isize);
                    for (o, c) in out.iter_mut().zip(coeffs) {
                        *o += c * v;
                    }
                }
                peak = out.iter().fold(peak, |m, o| m.max(o.abs()));
            }
        }
        start = end;
    }
    Some(peak)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebur128::{EbuR128, Mode};

    const RATE: u32 = 24_000;

    fn reference(samples: &[i16]) -> Loudness {
        let mut m = EbuR128::new(1, RATE, Mode::I | Mode::LRA | Mode::TRUE_PEAK).unwrap();
        m.add_frames_i16(samples).unwrap();
        let finite = |v: f64| v.is_finite().then_some(v);
        Loudness {
            integrated_lufs: finite(m.loudness_global().unwrap()),
            range_lu: finite(m.loudness_range().unwrap()),
            true_peak_dbfs: m
                .true_peak(0)
                .ok()
                .filter(|p| *p > 0.0)
                .map(|p| 20.0 * p.log10()),
        }
    }

    /// Speech-like test signals: a voice-band chirp with syllable envelopes
    /// and pauses, at several levels, a full-scale square wave (inter-sample
    /// peaks above 0 dBFS), noise bursts, and near-silence.
    fn signals() -> Vec<(&'static str, Vec<i16>)> {
        let n = RATE as usize * 20;
        let voice: Vec<i16> = (0..n)
            .map(|i| {
                let t = i as f64 / RATE as f64;
                let syllable = (t * 4.0 * std::f64::consts::PI).sin().max(0.0);
                let phrase = if (t as u64) % 5 == 4 { 0.0 } else { 1.0 };
                let f = 120.0 + 30.0 * (t * 0.7).sin();
                let v: f64 = (1..10)
                    .map(|k| (std::f64::consts::TAU * f * k as f64 * t).sin() / k as f64)
                    .sum();
                (v * syllable * phrase * 9000.0) as i16
            })
            .collect();
        let quiet: Vec<i16> = voice.iter().map(|s| s / 16).collect();
        let square: Vec<i16> = (0..RATE as usize * 5)
            .map(|i| if (i / 7) % 2 == 0 { 32767 } else { -32768 })
            .collect();
        let mut seed = 7u64;
        let bursts: Vec<i16> = (0..RATE as usize * 12)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let on = (i / (RATE as usize / 2)) % 3 == 0;
                if on { (seed % 20000) as i16 - 10000 } else { 0 }
            })
            .collect();
        let hush = vec![3i16; RATE as usize * 4];
        vec![
            ("voice", voice),
            ("quiet voice", quiet),
            ("square", square),
            ("bursts", bursts),
            ("hush", hush),
            ("too short", vec![1000i16; RATE as usize / 10]),
        ]
    }

    #[test]
    fn every_figure_matches_the_reference_implementation() {
        for (name, s) in signals() {
            let (got, want) = (measure(&s, RATE), reference(&s));
            let close = |a: Option<f64>, b: Option<f64>, tol: f64| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= tol,
                (a, b) => a == b,
            };
            assert!(
                close(got.integrated_lufs, want.integrated_lufs, 0.01),
                "{name} integrated: {got:?} vs {want:?}"
            );
            assert!(
                close(got.range_lu, want.range_lu, 0.01),
                "{name} LRA: {got:?} vs {want:?}"
            );
            assert!(
                close(got.true_peak_dbfs, want.true_peak_dbfs, 0.01),
                "{name} true peak: {got:?} vs {want:?}"
            );
        }
    }
}
