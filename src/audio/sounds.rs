//! Sounds a caller makes that are not words: a cough, synthesised from a
//! seed (a sharp broadband burst shaped by the vocal tract's band, then a
//! shorter second expulsion), at about the level of speech; and household
//! noises at their end of the line (a door, dishes).

use super::SESSION_RATE;
use super::line::SplitMix;
use super::line::background::{Transient, synthesise};
use super::line::filter::{Butterworth, Pass};

/// A cough of about 350 ms, peaking near −10 dBFS.
pub fn cough(seed: u64) -> Vec<i16> {
    let mut rng = SplitMix::new(seed);
    let rate = SESSION_RATE as f32;
    let mut high = Butterworth::new(Pass::High, 2, 250.0, SESSION_RATE);
    let mut low = Butterworth::new(
        Pass::Low,
        2,
        rng.uniform_in(2200.0, 3200.0) as f64,
        SESSION_RATE,
    );
    let second_at = rng.uniform_in(0.14, 0.2);
    let n = (0.35 * rate) as usize;
    let raw: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let burst = |onset: f32, level: f32| {
                let u = t - onset;
                if u < 0.0 {
                    0.0
                } else {
                    // 4 ms attack, 45 ms decay.
                    level * (u / 0.004).min(1.0) * (-u / 0.045).exp()
                }
            };
            let envelope = burst(0.0, 1.0) + burst(second_at, 0.55);
            low.process(high.process(rng.white())) * envelope
        })
        .collect();
    let peak = raw.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    raw.iter().map(|x| (x / peak * 10_000.0) as i16).collect()
}

/// A door thump or a clatter of dishes close to the caller's phone,
/// peaking near −10 dBFS.
pub fn household_noise(seed: u64) -> Vec<i16> {
    let mut rng = SplitMix::new(seed);
    let kind = if rng.uniform_in(0.0, 1.0) < 0.5 {
        Transient::Thump
    } else {
        Transient::Clatter
    };
    let raw = synthesise(kind, 1.0, &mut rng);
    let peak = raw.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    raw.iter().map(|x| (x / peak * 10_000.0) as i16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cough_is_short_loud_seeded_and_not_silence() {
        let c = cough(1);
        assert_eq!(c.len(), (0.35 * SESSION_RATE as f32) as usize);
        assert_eq!(c.iter().map(|s| s.unsigned_abs()).max(), Some(10_000));
        assert_eq!(c, cough(1));
        assert_ne!(c, cough(2));
        // Most of its energy is in its first 100 ms.
        let energy = |x: &[i16]| x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>();
        assert!(energy(&c[..2400]) > energy(&c) * 0.5);
    }

    #[test]
    fn household_noises_are_seeded_loud_and_short() {
        for seed in 0..6 {
            let n = household_noise(seed);
            assert_eq!(n, household_noise(seed));
            assert_eq!(n.iter().map(|s| s.unsigned_abs()).max(), Some(10_000));
            assert!(n.len() <= SESSION_RATE as usize, "{} samples", n.len());
        }
        assert_ne!(household_noise(1), household_noise(2));
    }
}
