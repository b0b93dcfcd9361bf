//! Background sounds, generated rather than downloaded, every one from a
//! seed: coloured noise, babble from the offline voice (several talkers
//! overlapped), and transients (cutlery and dishes, door thumps, key
//! clicks) synthesised from seeded parameters. Levels are arbitrary: the
//! noise stage scales a source to its SNR against the caller's speech.

use std::f32::consts::TAU;
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SplitMix;
use super::filter::{Butterworth, Pass};
use crate::audio::{SESSION_RATE, Voice, VoiceSettings};

/// What a noise stage adds to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// Flat spectrum (hiss).
    White,
    /// −3 dB per octave (the spectrum of many natural noises).
    Pink,
    /// −6 dB per octave (rumble).
    Brown,
    /// Six overlapped talkers of the offline voice.
    Babble,
    /// Babble with cutlery and dish clatter (one every two seconds on average).
    Cafe,
    /// Low-frequency traffic rumble with passing vehicles and door thumps.
    Street,
    /// Typing: key clicks in bursts, over a faint room tone.
    Keyboard,
}

/// A running background source at the session rate.
pub struct Background {
    kind: NoiseKind,
    rng: SplitMix,
    /// Pink filter state (Paul Kellet's economy filter).
    pink: [f32; 3],
    /// Brown (integrated) noise state.
    brown: f32,
    rumble: Butterworth,
    babble: Option<(Arc<Vec<f32>>, usize)>,
    transients: Transients,
    /// Vehicles passing by (street): the amplitude swell of each.
    swell: Swell,
}

impl Background {
    pub fn new(kind: NoiseKind, seed: u64) -> Background {
        let mut rng = SplitMix::new(seed);
        let babble = matches!(kind, NoiseKind::Babble | NoiseKind::Cafe).then(|| {
            let bed = babble_bed();
            let start = (rng.next_u64() % bed.len().max(1) as u64) as usize;
            (bed, start)
        });
        let transients = match kind {
            NoiseKind::Cafe => Transients::new(Transient::Clatter, 0.5, 1.5, &mut rng),
            NoiseKind::Street => Transients::new(Transient::Thump, 0.12, 3.0, &mut rng),
            NoiseKind::Keyboard => Transients::new(Transient::KeyClick, 6.0, 4.0, &mut rng),
            _ => Transients::none(),
        };
        Background {
            kind,
            rng,
            pink: [0.0; 3],
            brown: 0.0,
            rumble: Butterworth::new(Pass::Low, 2, 350.0, SESSION_RATE),
            babble,
            transients,
            swell: Swell::default(),
        }
    }

    /// The next `n` samples, added to `out`.
    pub fn fill(&mut self, out: &mut [f32]) {
        for o in out.iter_mut() {
            *o = self.next_sample();
        }
    }

    fn next_sample(&mut self) -> f32 {
        let bed = match self.kind {
            NoiseKind::White => self.rng.white(),
            NoiseKind::Pink => self.pink(),
            NoiseKind::Brown => self.brown(),
            NoiseKind::Babble => self.babble(),
            NoiseKind::Cafe => self.babble(),
            NoiseKind::Street => {
                let swell = self.swell.next(&mut self.rng);
                let rumble = self.brown();
                self.rumble.process(rumble) * 2.2 * (0.55 + swell)
            }
            NoiseKind::Keyboard => 0.05 * self.pink(),
        };
        bed + self.transients.next(&mut self.rng)
    }

    fn pink(&mut self) -> f32 {
        let w = self.rng.white();
        let p = &mut self.pink;
        p[0] = 0.99765 * p[0] + w * 0.099_046;
        p[1] = 0.96300 * p[1] + w * 0.296_516_4;
        p[2] = 0.57000 * p[2] + w * 1.052_691_3;
        (p[0] + p[1] + p[2] + w * 0.1848) * 0.42
    }

    fn brown(&mut self) -> f32 {
        // A leaky integrator keeps the walk bounded (no DC drift).
        self.brown = 0.997 * self.brown + 0.077 * self.rng.white();
        self.brown
    }

    fn babble(&mut self) -> f32 {
        match &mut self.babble {
            Some((bed, pos)) if !bed.is_empty() => {
                let s = bed[*pos];
                *pos = (*pos + 1) % bed.len();
                s
            }
            _ => 0.0,
        }
    }
}

/// Passing vehicles: raised-cosine swells of 3–6 s, arriving every 4 s on
/// average (one arriving while another passes merges into it).
#[derive(Default)]
struct Swell {
    until_next: u32,
    current: Option<(u32, u32, f32)>,
}

impl Swell {
    fn next(&mut self, rng: &mut SplitMix) -> f32 {
        // Arrivals are a Poisson process of their own; one arriving while
        // another vehicle passes is heard as part of it.
        if self.until_next == 0 {
            if self.current.is_none() {
                let len = (rng.uniform_in(3.0, 6.0) * SESSION_RATE as f32) as u32;
                self.current = Some((0, len.max(1), rng.uniform_in(0.6, 1.6)));
            }
            self.until_next = (rng.exponential(4.0) * SESSION_RATE as f32) as u32 + 1;
        }
        self.until_next -= 1;
        match &mut self.current {
            Some((age, len, peak)) => {
                let x = *age as f32 / *len as f32;
                let v = *peak * 0.5 * (1.0 - (TAU * x).cos());
                *age += 1;
                if *age >= *len {
                    self.current = None;
                }
                v
            }
            None => 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transient {
    /// Cutlery and dishes: a click and a few ringing partials, 2–7 kHz.
    Clatter,
    /// A door or a car door: a damped 55–90 Hz thump with a noise burst.
    Thump,
    /// A key click: a very short noise burst with a faint 1.5–3 kHz ring.
    KeyClick,
}

/// Transients at Poisson times, each synthesised when it starts.
struct Transients {
    kind: Option<Transient>,
    per_second: f32,
    level: f32,
    until_next: u32,
    active: Vec<(Vec<f32>, usize)>,
}

impl Transients {
    /// A source whose first transient comes at a random time, as later ones.
    fn new(kind: Transient, per_second: f32, level: f32, rng: &mut SplitMix) -> Transients {
        Transients {
            kind: Some(kind),
            per_second,
            level,
            until_next: (rng.exponential(1.0 / per_second) * SESSION_RATE as f32) as u32 + 1,
            active: Vec::new(),
        }
    }

    fn none() -> Transients {
        Transients {
            kind: None,
            per_second: 0.0,
            level: 0.0,
            until_next: u32::MAX,
            active: Vec::new(),
        }
    }

    fn next(&mut self, rng: &mut SplitMix) -> f32 {
        let Some(kind) = self.kind else {
            return 0.0;
        };
        if self.until_next == 0 {
            let amplitude = self.level * rng.uniform_in(0.4, 1.0);
            self.active.push((synthesise(kind, amplitude, rng), 0));
            self.until_next =
                (rng.exponential(1.0 / self.per_second) * SESSION_RATE as f32) as u32 + 1;
        }
        self.until_next -= 1;
        let mut sum = 0.0;
        for (samples, pos) in &mut self.active {
            sum += samples[*pos];
            *pos += 1;
        }
        self.active.retain(|(s, pos)| *pos < s.len());
        sum
    }
}

/// One transient of `kind` at peak `amplitude`, its details drawn from `rng`.
pub(crate) fn synthesise(kind: Transient, amplitude: f32, rng: &mut SplitMix) -> Vec<f32> {
    let rate = SESSION_RATE as f32;
    let (seconds, partials, noise_tau, partial_tau): (f32, Vec<f32>, f32, (f32, f32)) = match kind {
        Transient::Clatter => (
            0.3,
            (0..3).map(|_| rng.uniform_in(2000.0, 7000.0)).collect(),
            0.002,
            (0.02, 0.08),
        ),
        Transient::Thump => (0.6, vec![rng.uniform_in(55.0, 90.0)], 0.03, (0.1, 0.16)),
        Transient::KeyClick => (
            0.03,
            vec![rng.uniform_in(1500.0, 3000.0)],
            0.0015,
            (0.003, 0.005),
        ),
    };
    let taus: Vec<f32> = partials
        .iter()
        .map(|_| rng.uniform_in(partial_tau.0, partial_tau.1))
        .collect();
    let n = (seconds * rate) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let ring: f32 = partials
                .iter()
                .zip(&taus)
                .map(|(f, tau)| (TAU * f * t).sin() * (-t / tau).exp())
                .sum::<f32>()
                / partials.len() as f32;
            let burst = rng.white() * (-t / noise_tau).exp();
            amplitude * (ring + 0.6 * burst)
        })
        .collect()
}

/// Sentences the babble talkers say: neutral café and street chatter.
const BABBLE_LINES: &[&str] = &[
    "So I told her we would meet on Thursday after the game.",
    "Could you pass me the sugar, please? Thanks.",
    "The train was late again this morning, twenty minutes.",
    "We are thinking about a trip to the coast in the spring.",
    "Honestly the soup here is better than the sandwiches.",
    "He said the meeting moved to three, but nobody told me.",
    "Did you see the match last night? What a finish.",
    "I need to pick up the kids at four and then go shopping.",
    "My sister just bought a house near the river.",
    "Let me check my calendar and I will call you back.",
    "They finally fixed the road outside our building.",
    "Two coffees and a slice of the lemon cake, please.",
];

/// Talkers of the babble: offline voices of different pitch and rate.
const BABBLE_TALKERS: &[(f32, f32)] = &[
    (0.8, 1.0),
    (1.0, 1.15),
    (1.25, 0.95),
    (1.5, 1.1),
    (1.75, 1.0),
    (0.9, 1.2),
];

/// Length of the babble loop in seconds.
const BABBLE_SECONDS: usize = 12;

/// The babble bed every babble source plays from (at its own seeded offset),
/// synthesised once per process; unit RMS.
fn babble_bed() -> Arc<Vec<f32>> {
    static BED: OnceLock<Arc<Vec<f32>>> = OnceLock::new();
    BED.get_or_init(|| {
        let len = BABBLE_SECONDS * SESSION_RATE as usize;
        let mut bed = vec![0.0f32; len];
        for (t, &(pitch, rate)) in BABBLE_TALKERS.iter().enumerate() {
            let voice = Voice::new(VoiceSettings {
                pitch,
                rate,
                ..Default::default()
            });
            // Each talker starts at its own place in the loop and in the lines.
            let mut pos = t * len / BABBLE_TALKERS.len();
            let mut line = t * 5;
            let mut written = 0;
            while written < len {
                let speech = voice.speak(BABBLE_LINES[line % BABBLE_LINES.len()]);
                line += 1;
                let gap = SESSION_RATE as usize * (2 + t % 3) / 10;
                for &s in speech.iter().chain(std::iter::repeat_n(&0, gap)) {
                    bed[pos % len] += s as f32;
                    pos += 1;
                    written += 1;
                    if written >= len {
                        break;
                    }
                }
                if speech.is_empty() {
                    break;
                }
            }
        }
        let rms = (bed.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / len as f64).sqrt();
        if rms > 0.0 {
            bed.iter_mut().for_each(|x| *x /= rms as f32);
        }
        Arc::new(bed)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(kind: NoiseKind, seed: u64, seconds: usize) -> Vec<f32> {
        let mut out = vec![0.0; seconds * SESSION_RATE as usize];
        Background::new(kind, seed).fill(&mut out);
        out
    }

    #[test]
    fn every_source_is_audible_finite_and_reproducible_from_its_seed() {
        for kind in [
            NoiseKind::White,
            NoiseKind::Pink,
            NoiseKind::Brown,
            NoiseKind::Babble,
            NoiseKind::Cafe,
            NoiseKind::Street,
            NoiseKind::Keyboard,
        ] {
            let a = render(kind, 7, 3);
            assert!(a.iter().all(|x| x.is_finite()), "{kind:?}");
            let rms = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
            assert!(rms > 0.01, "{kind:?} is audible: {rms}");
            assert_eq!(a, render(kind, 7, 3), "{kind:?} is reproducible");
            assert_ne!(a, render(kind, 8, 3), "{kind:?} depends on its seed");
        }
    }

    #[test]
    fn street_noise_lives_low_and_hiss_does_not() {
        // Energy below 500 Hz against the total, by a first difference
        // (a high-pass): rumble barely changes sample to sample, hiss does.
        let hf_share = |x: &[f32]| {
            let total: f32 = x.iter().map(|v| v * v).sum();
            let diff: f32 = x.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
            diff / total
        };
        assert!(hf_share(&render(NoiseKind::Street, 1, 4)) < 0.05);
        assert!(hf_share(&render(NoiseKind::White, 1, 4)) > 1.5);
    }
}
