//! Tone of voice, measured offline: pitch (YIN on a 8 kHz copy), loudness
//! (EBU R128, [`super::loudness`]), pauses and voice activity (10 ms energy frames),
//! and speaking rate from the words said over the time spent voicing.

use serde::{Deserialize, Serialize};

use super::{SESSION_RATE, rms_dbfs};

/// Frames quieter than this are silence for pause and activity measures.
pub const SILENCE_DBFS: f64 = -45.0;
/// A silence shorter than this inside speech is articulation, not a pause.
pub const MIN_PAUSE_MS: f64 = 150.0;
const FRAME_MS: usize = 10;
const PITCH_RATE: u32 = 8_000;
const F0_MIN: f64 = 60.0;
const F0_MAX: f64 = 400.0;
const YIN_THRESHOLD: f64 = 0.15;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToneMetrics {
    pub duration_s: f64,
    /// Median F0 of voiced frames, Hz (None without voiced frames).
    pub f0_median_hz: Option<f64>,
    /// The same median in semitones relative to 100 Hz.
    pub f0_median_st: Option<f64>,
    /// 10th–90th percentile range of F0, semitones.
    pub f0_range_st: Option<f64>,
    /// Standard deviation of F0, semitones: flat (< 2) vs lively (> 4) intonation.
    pub f0_variability_st: Option<f64>,
    pub loudness_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    pub true_peak_dbfs: Option<f64>,
    pub clipping_ratio: f64,
    /// Share of 10 ms frames that carry voice.
    pub voice_activity: f64,
    pub silence_ratio: f64,
    pub pause_count: usize,
    pub pause_mean_ms: Option<f64>,
    pub pause_longest_ms: Option<f64>,
    /// Silence before the first voiced frame.
    pub leading_silence_ms: f64,
    /// Words over voiced time; None when the words are not known.
    pub words_per_minute: Option<f64>,
    pub syllables_per_second: Option<f64>,
}

/// Measures `samples` (24 kHz mono); `words` is the text said, if known.
pub fn analyse(samples: &[i16], words: Option<&str>) -> ToneMetrics {
    let duration_s = samples.len() as f64 / SESSION_RATE as f64;
    let frames: Vec<bool> = samples
        .chunks(SESSION_RATE as usize / 1000 * FRAME_MS)
        .map(|f| rms_dbfs(f) > SILENCE_DBFS)
        .collect();
    let voiced_frames = frames.iter().filter(|v| **v).count();
    let pauses = pauses_ms(&frames);
    let first_voiced = frames.iter().position(|v| *v);
    let f0 = pitch_track(samples, &frames);
    let semitones: Vec<f64> = f0.iter().map(|hz| 12.0 * (hz / 100.0).log2()).collect();
    let voiced_s = voiced_frames as f64 * FRAME_MS as f64 / 1000.0;
    let (wpm, sps) = match words {
        Some(text) if voiced_s > 0.0 => {
            let w = text.split_whitespace().count() as f64;
            let syl: usize = text.split_whitespace().map(syllables).sum();
            (Some(w / voiced_s * 60.0), Some(syl as f64 / voiced_s))
        }
        _ => (None, None),
    };
    let loud = super::loudness::measure(samples, SESSION_RATE);
    let (lufs, lra, peak) = (loud.integrated_lufs, loud.range_lu, loud.true_peak_dbfs);
    ToneMetrics {
        duration_s,
        f0_median_hz: percentile(&f0, 0.5),
        f0_median_st: percentile(&semitones, 0.5),
        f0_range_st: percentile(&semitones, 0.9)
            .zip(percentile(&semitones, 0.1))
            .map(|(a, b)| a - b),
        f0_variability_st: std_dev(&semitones),
        loudness_lufs: lufs,
        loudness_range_lu: lra,
        true_peak_dbfs: peak,
        clipping_ratio: if samples.is_empty() {
            0.0
        } else {
            samples
                .iter()
                .filter(|s| s.unsigned_abs() >= 32_735)
                .count() as f64
                / samples.len() as f64
        },
        voice_activity: if frames.is_empty() {
            0.0
        } else {
            voiced_frames as f64 / frames.len() as f64
        },
        silence_ratio: if frames.is_empty() {
            0.0
        } else {
            1.0 - voiced_frames as f64 / frames.len() as f64
        },
        pause_count: pauses.len(),
        pause_mean_ms: (!pauses.is_empty())
            .then(|| pauses.iter().sum::<f64>() / pauses.len() as f64),
        pause_longest_ms: pauses.iter().copied().reduce(f64::max),
        leading_silence_ms: first_voiced.unwrap_or(frames.len()) as f64 * FRAME_MS as f64,
        words_per_minute: wpm,
        syllables_per_second: sps,
    }
}

/// Silent runs of at least [`MIN_PAUSE_MS`] between voiced frames, in ms.
fn pauses_ms(frames: &[bool]) -> Vec<f64> {
    let (Some(first), Some(last)) = (
        frames.iter().position(|v| *v),
        frames.iter().rposition(|v| *v),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut run = 0usize;
    for &v in &frames[first..=last] {
        if v {
            if run as f64 * FRAME_MS as f64 >= MIN_PAUSE_MS {
                out.push(run as f64 * FRAME_MS as f64);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    out
}

/// F0 in Hz of each voiced 10 ms frame (YIN, 40 ms windows, on an 8 kHz
/// copy). `voiced` marks the 10 ms frames loud enough to be speech (the
/// activity measure's); only those, and what their windows reach, are
/// analysed.
fn pitch_track(samples: &[i16], voiced: &[bool]) -> Vec<f64> {
    let x = decimate_to_8k(samples, voiced);
    YinTrack::new(&x).track()
}

/// The YIN difference function over 40 ms windows every 10 ms, computed from
/// per-10 ms block correlations, so overlapping windows share their work:
/// `d(τ) = Σx_j² + Σx_{j+τ}² − 2·Σx_j·x_{j+τ}`, with the energy sums from
/// prefix sums and the cross term as the sum of four block correlations,
/// each computed once and only for blocks a loud window needs. The signal and
/// the block sums are `f32` (four lanes per vector instruction on any x86-64);
/// the energies and the difference function are `f64`.
struct YinTrack<'a> {
    x: &'a [f32],
    /// Prefix sums of x²: energy of any span in O(1).
    energy: Vec<f64>,
    /// `blocks[b·(τmax+1) + τ] = Σ_{j in block b} x_j·x_{j+τ}`, one flat
    /// store; `computed[b]` once block `b` is filled in.
    blocks: Vec<f32>,
    computed: Vec<bool>,
    window: usize,
    hop: usize,
    tau_min: usize,
    tau_max: usize,
}

impl<'a> YinTrack<'a> {
    fn new(x: &'a [f32]) -> Self {
        let hop = (PITCH_RATE as usize / 1000) * FRAME_MS;
        let mut energy = Vec::with_capacity(x.len() + 1);
        let mut sum = 0.0f64;
        energy.push(0.0);
        for &v in x {
            sum += v as f64 * v as f64;
            energy.push(sum);
        }
        let tau_max = (PITCH_RATE as f64 / F0_MIN).ceil() as usize;
        let count = x.len() / hop + 1;
        YinTrack {
            x,
            energy,
            blocks: vec![0.0; count * (tau_max + 1)],
            computed: vec![false; count],
            window: (PITCH_RATE as f64 * 0.04) as usize,
            hop,
            tau_min: (PITCH_RATE as f64 / F0_MAX).floor() as usize,
            tau_max,
        }
    }

    fn span_energy(&self, from: usize, len: usize) -> f64 {
        self.energy[from + len] - self.energy[from]
    }

    /// The correlations of one block with the signal `τ` later, τ in 0..=τmax.
    fn block(&mut self, b: usize) -> &[f32] {
        let (x, hop, width) = (self.x, self.hop, self.tau_max + 1);
        let c = &mut self.blocks[b * width..(b + 1) * width];
        if !self.computed[b] {
            self.computed[b] = true;
            for j in b * hop..(b + 1) * hop {
                // c += x_j · x[j..j+τmax]: contiguous, so it vectorises.
                let (xj, ahead) = (x[j], &x[j..j + width]);
                for (c, v) in c.iter_mut().zip(ahead) {
                    *c += xj * v;
                }
            }
        }
        c
    }

    fn track(mut self) -> Vec<f64> {
        let (window, hop, tau_max) = (self.window, self.hop, self.tau_max);
        let mut out = Vec::new();
        if self.x.len() < window + tau_max {
            return out;
        }
        let floor = 10f64.powf(SILENCE_DBFS / 20.0);
        let mut diff = vec![0.0f64; tau_max + 1];
        let mut cross = vec![0.0f64; tau_max + 1];
        let mut start = 0;
        while start + window + tau_max <= self.x.len() {
            let e0 = self.span_energy(start, window);
            if (e0 / window as f64).sqrt() > floor {
                cross.iter_mut().for_each(|c| *c = 0.0);
                for b in start / hop..(start + window) / hop {
                    for (c, v) in cross.iter_mut().zip(self.block(b)) {
                        *c += *v as f64;
                    }
                }
                for (tau, d) in diff.iter_mut().enumerate().skip(1) {
                    let shifted = self.span_energy(start + tau, window);
                    // Rounding can leave a hair below zero where d is ~0.
                    *d = (e0 + shifted - 2.0 * cross[tau]).max(0.0);
                }
                if let Some(f0) = yin_pick(&diff, self.tau_min, tau_max) {
                    out.push(f0);
                }
            }
            start += hop;
        }
        out
    }
}

/// Cumulative-mean-normalised difference, first dip under the threshold,
/// refined by parabolic interpolation.
fn yin_pick(diff: &[f64], tau_min: usize, tau_max: usize) -> Option<f64> {
    let mut cmnd = vec![1.0f64; tau_max + 1];
    let mut running = 0.0;
    for tau in 1..=tau_max {
        running += diff[tau];
        cmnd[tau] = if running > 0.0 {
            diff[tau] * tau as f64 / running
        } else {
            1.0
        };
    }
    let mut tau = tau_min.max(2);
    while tau < tau_max {
        if cmnd[tau] < YIN_THRESHOLD {
            while tau + 1 < tau_max && cmnd[tau + 1] < cmnd[tau] {
                tau += 1;
            }
            let (a, b, c) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
            let denom = a - 2.0 * b + c;
            let shift = if denom.abs() > 1e-12 {
                0.5 * (a - c) / denom
            } else {
                0.0
            };
            let f0 = PITCH_RATE as f64 / (tau as f64 + shift.clamp(-1.0, 1.0));
            return (F0_MIN..=F0_MAX).contains(&f0).then_some(f0);
        }
        tau += 1;
    }
    None
}

/// 24 kHz → 8 kHz: a windowed-sinc low-pass at 3.4 kHz, then every third
/// sample. Only the 10 ms frames marked `voiced` (and enough around them for
/// a pitch window) are filtered; the rest stays zero, which the pitch
/// tracker's loudness floor skips anyway.
fn decimate_to_8k(samples: &[i16], voiced: &[bool]) -> Vec<f32> {
    const TAPS: usize = 63;
    const HALF: usize = TAPS / 2;
    let cutoff = 3_400.0 / SESSION_RATE as f64;
    let h: Vec<f32> = (0..TAPS)
        .map(|i| {
            let n = i as f64 - HALF as f64;
            let sinc = if n == 0.0 {
                2.0 * cutoff
            } else {
                (std::f64::consts::TAU * cutoff * n).sin() / (std::f64::consts::PI * n)
            };
            let w = 0.42 - 0.5 * (std::f64::consts::TAU * i as f64 / (TAPS - 1) as f64).cos()
                + 0.08 * (2.0 * std::f64::consts::TAU * i as f64 / (TAPS - 1) as f64).cos();
            (sinc * w) as f32
        })
        .collect();
    // Zero-padded copy: the filter never needs a bounds check.
    let mut x = vec![0.0f32; samples.len() + 2 * HALF];
    for (d, &s) in x[HALF..].iter_mut().zip(samples) {
        *d = s as f32 / 32768.0;
    }
    let out_len = samples.len() / 3;
    let mut out = vec![0.0f32; out_len];
    // A pitch window reaches 40 ms + one period past its frame; filter that
    // much around every voiced frame.
    let frame = SESSION_RATE as usize / 1000 * FRAME_MS;
    let reach = 6;
    let mut wanted = vec![false; voiced.len()];
    for (i, _) in voiced.iter().enumerate().filter(|(_, v)| **v) {
        let lo = i.saturating_sub(reach);
        let hi = (i + reach + 1).min(voiced.len());
        wanted[lo..hi].iter_mut().for_each(|w| *w = true);
    }
    for (k, o) in out.iter_mut().enumerate() {
        if !wanted.get(k * 3 / frame).copied().unwrap_or(false) {
            continue;
        }
        // The padded copy puts input sample 3k at 3k + HALF: its window
        // starts at 3k.
        *o = dot(&h, &x[k * 3..k * 3 + TAPS]);
    }
    out
}

/// `a · b` with eight independent partial sums, so the compiler can keep
/// them in vector registers (a single running sum could not be reordered).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Linear-interpolated percentile (`p` in 0–1); None for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = p * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

fn std_dev(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Some(
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt(),
    )
}

/// Vowel groups, a standard estimate of English syllables.
pub fn syllables(word: &str) -> usize {
    let w: Vec<char> = word
        .chars()
        .filter(|c| c.is_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if w.is_empty() {
        // Digits and symbols are read out: count one per character.
        return word.chars().filter(|c| c.is_ascii_digit()).count();
    }
    let vowel = |c: char| "aeiouy".contains(c);
    let mut count = 0;
    let mut previous = false;
    for &c in &w {
        let v = vowel(c);
        if v && !previous {
            count += 1;
        }
        previous = v;
    }
    if w.len() > 2 && w.ends_with(&['e']) && !w.ends_with(&['l', 'e']) && count > 1 {
        count -= 1;
    }
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amplitude: f64, secs: f64) -> Vec<i16> {
        (0..(secs * SESSION_RATE as f64) as usize)
            .map(|i| {
                (amplitude
                    * 32767.0
                    * (std::f64::consts::TAU * freq * i as f64 / SESSION_RATE as f64).sin())
                    as i16
            })
            .collect()
    }

    /// A glottal-pulse-like tone: harmonics with falling amplitude.
    fn buzz(f0: f64, secs: f64) -> Vec<i16> {
        (0..(secs * SESSION_RATE as f64) as usize)
            .map(|i| {
                let t = i as f64 / SESSION_RATE as f64;
                let v: f64 = (1..12)
                    .map(|k| (std::f64::consts::TAU * f0 * k as f64 * t).sin() / k as f64)
                    .sum();
                (v * 6000.0) as i16
            })
            .collect()
    }

    /// The difference function as YIN defines it, computed directly in f64.
    fn direct_diff(x: &[f32], start: usize, window: usize, tau_max: usize) -> Vec<f64> {
        (0..=tau_max)
            .map(|tau| {
                (0..window)
                    .map(|j| (x[start + j] as f64 - x[start + j + tau] as f64).powi(2))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn block_correlations_give_the_direct_difference_function() {
        let audio = buzz(140.0, 0.5);
        let x = decimate_to_8k(&audio, &[true; 51]);
        let mut yin = YinTrack::new(&x);
        let (window, tau_max, hop) = (yin.window, yin.tau_max, yin.hop);
        for start in [0, hop * 7, hop * 20] {
            let want = direct_diff(&x, start, window, tau_max);
            let mut cross = vec![0.0f64; tau_max + 1];
            for b in start / hop..(start + window) / hop {
                for (c, v) in cross.iter_mut().zip(yin.block(b)) {
                    *c += *v as f64;
                }
            }
            let e0 = yin.span_energy(start, window);
            for tau in 1..=tau_max {
                let got = e0 + yin.span_energy(start + tau, window) - 2.0 * cross[tau];
                // f32 block sums: agreement to a millionth of the window's energy.
                assert!(
                    (got - want[tau]).abs() < 1e-6 * e0,
                    "tau {tau}: {got} vs {}",
                    want[tau]
                );
            }
        }
    }

    #[test]
    fn pitch_of_known_tones() {
        for f0 in [80.0, 110.0, 150.0, 220.0, 310.0] {
            let m = analyse(&buzz(f0, 1.0), None);
            let got = m.f0_median_hz.unwrap();
            assert!((got - f0).abs() / f0 < 0.01, "{f0} Hz measured as {got}");
            assert!(m.f0_variability_st.unwrap() < 0.1, "a steady tone is flat");
        }
    }

    #[test]
    fn loudness_of_a_1khz_sine_follows_bs1770() {
        // A full-scale 1 kHz sine in one channel reads -3.01 LUFS; gain moves it 1:1.
        for peak_dbfs in [-6.0, -20.0] {
            let m = analyse(&sine(1000.0, 10f64.powf(peak_dbfs / 20.0), 5.0), None);
            let lufs = m.loudness_lufs.unwrap();
            assert!(
                (lufs - (peak_dbfs - 3.01)).abs() < 0.2,
                "{peak_dbfs} dBFS peak → {lufs} LUFS"
            );
            assert!((m.true_peak_dbfs.unwrap() - peak_dbfs).abs() < 0.3);
        }
    }

    #[test]
    fn pauses_and_leading_silence_are_found_to_the_frame() {
        let mut x = vec![0i16; 240 * 30]; // 300 ms leading silence
        x.extend(buzz(120.0, 0.5));
        x.extend(vec![0i16; 240 * 70]); // 700 ms pause
        x.extend(buzz(120.0, 0.5));
        x.extend(vec![0i16; 240 * 8]); // 80 ms: articulation, not a pause
        x.extend(buzz(120.0, 0.3));
        let m = analyse(&x, Some("one two three four"));
        assert_eq!(m.leading_silence_ms, 300.0);
        assert_eq!(m.pause_count, 1);
        assert!(
            (m.pause_longest_ms.unwrap() - 700.0).abs() <= 20.0,
            "{:?}",
            m.pause_longest_ms
        );
        assert!(
            (m.words_per_minute.unwrap() - 4.0 / 1.3 * 60.0).abs() < 5.0,
            "{:?}",
            m.words_per_minute
        );
    }

    #[test]
    fn clipping_is_counted() {
        let mut x = sine(200.0, 1.0, 0.5);
        x.iter_mut()
            .for_each(|s| *s = (*s as i32 * 2).clamp(-32768, 32767) as i16);
        assert!(analyse(&x, None).clipping_ratio > 0.3);
        assert_eq!(analyse(&sine(200.0, 0.5, 0.5), None).clipping_ratio, 0.0);
    }

    #[test]
    fn syllable_estimates() {
        assert_eq!(syllables("return"), 2);
        assert_eq!(syllables("policy"), 3);
        assert_eq!(syllables("label"), 2);
        assert_eq!(syllables("make"), 1);
        assert_eq!(syllables("10422"), 5);
    }
}
