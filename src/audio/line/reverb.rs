//! A synthetic room: Schroeder's reverberator (four parallel feedback combs
//! into two series all-passes), the comb gains set so the tail decays 60 dB
//! in the room's RT60.

/// Comb delays in ms: lengths with no simple ratio between them, so their
/// echoes do not pile up on common multiples (Schroeder's advice).
const COMB_MS: [f64; 4] = [29.7, 37.1, 41.1, 43.7];
/// All-pass delays in ms and their gain.
const ALLPASS_MS: [f64; 2] = [5.0, 1.7];
const ALLPASS_GAIN: f32 = 0.7;

struct Delay {
    buffer: Vec<f32>,
    pos: usize,
}

impl Delay {
    fn new(ms: f64, rate: u32) -> Delay {
        let n = ((ms * rate as f64 / 1000.0).round() as usize).max(1);
        Delay {
            buffer: vec![0.0; n],
            pos: 0,
        }
    }

    /// The sample written `len` samples ago; `x` takes its place.
    #[inline]
    fn swap(&mut self, x: f32) -> f32 {
        let out = std::mem::replace(&mut self.buffer[self.pos], x);
        self.pos = (self.pos + 1) % self.buffer.len();
        out
    }
}

pub struct Room {
    combs: Vec<(Delay, f32)>,
    allpasses: Vec<Delay>,
    wet: f32,
}

impl Room {
    pub fn new(rt60_s: f64, wet: f64, rate: u32) -> Room {
        let combs = COMB_MS
            .iter()
            .map(|&ms| {
                // Each pass through the loop loses 60 dB × delay / RT60.
                let gain = 10f64.powf(-3.0 * ms / 1000.0 / rt60_s.max(0.01));
                (Delay::new(ms, rate), gain as f32)
            })
            .collect();
        Room {
            combs,
            allpasses: ALLPASS_MS.iter().map(|&ms| Delay::new(ms, rate)).collect(),
            wet: wet.clamp(0.0, 1.0) as f32,
        }
    }

    #[inline]
    pub fn process(&mut self, x: f32) -> f32 {
        let mut tail = 0.0;
        for (delay, gain) in &mut self.combs {
            let out = delay.buffer[delay.pos];
            delay.swap(x + *gain * out);
            tail += out;
        }
        tail /= self.combs.len() as f32;
        for ap in &mut self.allpasses {
            let delayed = ap.buffer[ap.pos];
            let v = tail + ALLPASS_GAIN * delayed;
            ap.swap(v);
            tail = delayed - ALLPASS_GAIN * v;
        }
        (1.0 - self.wet) * x + self.wet * tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Level in dB of the impulse response's energy in 10 ms windows.
    fn decay_db_per_second(rt60: f64) -> f64 {
        let mut room = Room::new(rt60, 1.0, 24_000);
        let response: Vec<f32> = (0..24_000 * 3)
            .map(|i| room.process(if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        let level = |from_ms: usize| {
            let w = &response[from_ms * 24..(from_ms + 50) * 24];
            10.0 * (w.iter().map(|x| (x * x) as f64).sum::<f64>()).log10()
        };
        (level(100) - level(300)) / 0.2
    }

    #[test]
    fn the_tail_decays_sixty_db_in_the_rt60() {
        for rt60 in [0.3, 0.6, 1.2] {
            let rate = decay_db_per_second(rt60);
            let expected = 60.0 / rt60;
            assert!(
                (rate - expected).abs() < expected * 0.15,
                "RT60 {rt60}: {rate} dB/s, expected {expected}"
            );
        }
    }
}
