//! Loudness envelopes (dB per 10 ms frame) and how alike two of them are:
//! the features of the closed-set recogniser.

use super::SESSION_RATE;
use super::line::filter::{Butterworth, Pass};

const FRAME: usize = (SESSION_RATE / 100) as usize;
/// Frames quieter than the loudest by more than this are treated as silence.
const DYNAMIC_RANGE_DB: f64 = 25.0;

/// dB level of each 10 ms frame of 24 kHz audio, in the telephone speech
/// band (300–3400 Hz), as a recogniser's front end hears it: rumble below
/// and hiss above the band do not mask the words, and speech that crossed
/// a phone line keeps its shape.
pub fn envelope(samples: &[i16]) -> Vec<f32> {
    let mut high = Butterworth::new(Pass::High, 2, 300.0, SESSION_RATE);
    let mut low = Butterworth::new(Pass::Low, 2, 3400.0, SESSION_RATE);
    let band: Vec<f32> = samples
        .iter()
        .map(|&s| low.process(high.process(s as f32)))
        .collect();
    band.chunks(FRAME)
        .map(|f| {
            let ms: f64 = f.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / f.len() as f64;
            (10.0 * (ms + 1.0).log10()) as f32
        })
        .collect()
}

/// The envelope with the clip's background taken out, as a recogniser's
/// noise suppression does: the power of its median frame (a clip as a VAD
/// commits it is padded with the line, and words have gaps) is subtracted
/// from every frame, leaving at least [`NOISE_FLOOR_SHARE`] of each frame's
/// own power, so the words' shape stands out of the background again.
pub fn denoised(env: &[f32]) -> Vec<f32> {
    if env.is_empty() {
        return Vec::new();
    }
    let power: Vec<f64> = env.iter().map(|&db| 10f64.powf(db as f64 / 10.0)).collect();
    let mut sorted = power.clone();
    sorted.sort_by(f64::total_cmp);
    let noise = sorted[(sorted.len() - 1) * NOISE_PERCENTILE / 100] * NOISE_OVERSUBTRACTION;
    power
        .iter()
        .map(|&p| (10.0 * (p - noise).max(p * NOISE_FLOOR_SHARE).max(1.0).log10()) as f32)
        .collect()
}

/// Which frame stands for the background (percentile of frame power).
const NOISE_PERCENTILE: usize = 50;
/// How much of the background estimate is taken out.
const NOISE_OVERSUBTRACTION: f64 = 1.0;
/// What of a frame is always kept (−13 dB), so nothing goes to minus infinity.
const NOISE_FLOOR_SHARE: f64 = 0.05;

/// The envelope with its leading and trailing frames quieter than the peak
/// by more than `edge_db` removed (a background that survived denoising is
/// not taken for the start of the words), and the floor clamped
/// [`DYNAMIC_RANGE_DB`] below the peak so that background level does not
/// dominate the shape.
pub fn trimmed(env: &[f32], edge_db: f64) -> Vec<f32> {
    let peak = env.iter().copied().fold(f32::MIN, f32::max);
    let floor = peak - DYNAMIC_RANGE_DB as f32;
    let edge = peak - edge_db.min(DYNAMIC_RANGE_DB) as f32;
    let first = env.iter().position(|&e| e > edge);
    let last = env.iter().rposition(|&e| e > edge);
    match (first, last) {
        (Some(a), Some(b)) => env[a..=b].iter().map(|&e| e.max(floor)).collect(),
        _ => Vec::new(),
    }
}

/// Pearson correlation of two equal-length sequences.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&x| x as f64).sum::<f64>() / n,
        b.iter().map(|&x| x as f64).sum::<f64>() / n,
    );
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va <= 0.0 || vb <= 0.0 {
        return 0.0;
    }
    cov / (va.sqrt() * vb.sqrt())
}

/// Where `clip` best fits inside `reference` (or `reference` inside `clip`):
/// the correlation and the matched span of `reference`, as fractions 0–1.
pub fn best_alignment(clip: &[f32], reference: &[f32]) -> Option<(f64, f64, f64)> {
    const MIN_FRAMES: usize = 15;
    if clip.len() < MIN_FRAMES || reference.len() < MIN_FRAMES {
        return None;
    }
    let (short, long, clip_is_short) = if clip.len() <= reference.len() {
        (clip, reference, true)
    } else {
        (reference, clip, false)
    };
    let mut best: Option<(f64, usize)> = None;
    for offset in 0..=(long.len() - short.len()) {
        let r = correlation(short, &long[offset..offset + short.len()]);
        if best.is_none_or(|(b, _)| r > b) {
            best = Some((r, offset));
        }
    }
    let (r, offset) = best?;
    if clip_is_short {
        let start = offset as f64 / reference.len() as f64;
        let end = (offset + clip.len()) as f64 / reference.len() as f64;
        Some((r, start, end))
    } else {
        // The whole reference is inside the clip; penalise a clip mostly
        // made of something else.
        let share = reference.len() as f64 / clip.len() as f64;
        Some((r * share.sqrt().min(1.0), 0.0, 1.0))
    }
}
