//! Line noise: deterministic white noise mixed into a caller's audio, for a
//! caller with a bad headset or a noisy line.

/// Mixes deterministic white noise into a caller's audio: `level` 0 is a
/// clean line, 1 a very noisy one (noise peak about 1/5 of full scale).
pub fn add_line_noise(samples: &[i16], level: f64, seed: u64) -> Vec<i16> {
    if level <= 0.0 {
        return samples.to_vec();
    }
    let amplitude = 6500.0 * level.clamp(0.0, 1.0);
    let mut x = seed | 1;
    samples
        .iter()
        .map(|&s| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = ((x % 2001) as f64 / 1000.0 - 1.0) * amplitude;
            (s as f64 + n).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}
