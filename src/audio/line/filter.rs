//! Biquad sections and Butterworth designs (bilinear transform with
//! pre-warping, after R. Bristow-Johnson's cookbook), processed in f32 with
//! state kept across chunks so a line can be fed a chunk at a time.

use std::f64::consts::PI;

/// One second-order section, transposed direct form II.
#[derive(Debug, Clone)]
pub struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    z: [f32; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Low,
    High,
}

impl Biquad {
    /// A low- or high-pass section at `cutoff_hz` with quality `q`.
    pub fn new(pass: Pass, cutoff_hz: f64, q: f64, rate: u32) -> Biquad {
        let w0 = 2.0 * PI * (cutoff_hz / rate as f64).clamp(1e-5, 0.499);
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let a0 = 1.0 + alpha;
        let (b0, b1, b2) = match pass {
            Pass::Low => ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0),
            Pass::High => ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0),
        };
        Biquad {
            b: [(b0 / a0) as f32, (b1 / a0) as f32, (b2 / a0) as f32],
            a: [(-2.0 * cos / a0) as f32, ((1.0 - alpha) / a0) as f32],
            z: [0.0; 2],
        }
    }

    #[inline]
    pub fn process(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// A Butterworth filter of even `order` as a cascade of biquads.
#[derive(Debug, Clone)]
pub struct Butterworth {
    sections: Vec<Biquad>,
}

impl Butterworth {
    pub fn new(pass: Pass, order: usize, cutoff_hz: f64, rate: u32) -> Butterworth {
        let n = order.max(2) / 2 * 2;
        let sections = (1..=n / 2)
            .map(|k| {
                // The pole pair k of an order-n Butterworth prototype.
                let q = 1.0 / (2.0 * ((2 * k - 1) as f64 * PI / (2 * n) as f64).cos());
                Biquad::new(pass, cutoff_hz, q, rate)
            })
            .collect();
        Butterworth { sections }
    }

    #[inline]
    pub fn process(&mut self, x: f32) -> f32 {
        self.sections.iter_mut().fold(x, |v, s| s.process(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steady-state gain in dB of `filter` at `hz` (24 kHz).
    fn gain_db(mut filter: Butterworth, hz: f64) -> f64 {
        let n = 48_000;
        let (mut input, mut output) = (0.0f64, 0.0f64);
        for i in 0..n {
            let x = (2.0 * PI * hz * i as f64 / 24_000.0).sin() as f32;
            let y = filter.process(x);
            if i > n / 2 {
                input += (x * x) as f64;
                output += (y * y) as f64;
            }
        }
        10.0 * (output / input).log10()
    }

    #[test]
    fn butterworth_corners_are_three_db_down_and_the_skirts_fall_at_the_order() {
        let low = || Butterworth::new(Pass::Low, 4, 3400.0, 24_000);
        assert!(gain_db(low(), 1000.0).abs() < 0.1);
        assert!((gain_db(low(), 3400.0) + 3.01).abs() < 0.2);
        // An order-4 low-pass falls 24 dB per octave well past its corner.
        assert!(gain_db(low(), 8000.0) < -27.0);
        let high = || Butterworth::new(Pass::High, 4, 300.0, 24_000);
        assert!(gain_db(high(), 1000.0).abs() < 0.2);
        assert!((gain_db(high(), 300.0) + 3.01).abs() < 0.2);
        assert!(gain_db(high(), 100.0) < -36.0);
    }
}
