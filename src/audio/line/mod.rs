//! The phone line between the caller and the agent: a chain of stages that
//! turns the caller's clean speech into what the agent receives (gain,
//! background noise at an SNR measured over the caller's speech, band
//! limits, a G.711 codec round trip at 8 kHz, packet loss with concealment,
//! a reverberant room, an overdriven microphone).
//!
//! A [`Line`] is fed in order, a chunk at a time, with each chunk's position
//! on the call's timeline; everything it does is a function of its stages,
//! its seed and that audio, so a call under a condition is reproducible.
//! The stages' exact parameters are in `docs/conditions.md`.

pub mod background;
pub mod filter;
pub mod packets;
pub mod reverb;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use background::Background;
pub use background::NoiseKind;
use filter::{Butterworth, Pass};
use packets::{PacketLine, PacketLossSpec};
use reverb::Room;

use super::SESSION_RATE;
use super::g711;

/// One stage of a line, as conditions are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Stage {
    /// Louder or quieter speech (a distant or soft-spoken caller: `db: -20`).
    Gain { db: f64 },
    /// Background sound mixed in at `snr_db` below the caller's speech,
    /// measured over the 20 ms frames where the caller speaks.
    Noise {
        #[serde(rename = "type")]
        kind: NoiseKind,
        snr_db: f64,
    },
    /// A telephone channel's band limits: order-4 Butterworth high-pass at
    /// `low_hz` and low-pass at `high_hz` (each −3 dB at its corner).
    BandPass { low_hz: f64, high_hz: f64 },
    /// An 8 kHz G.711 round trip: anti-alias filter, µ-law or A-law
    /// encoding and decoding, anti-image filter, back to the session rate.
    Codec(Codec),
    /// Lost and late packets, concealed by repetition (see
    /// [`packets`] for the receiver's behaviour).
    PacketLoss {
        /// Share of packets the network loses (0–0.5).
        rate: f64,
        #[serde(default = "default_packet_ms")]
        packet_ms: f64,
        /// Scale of the packets' delay variation; those later than
        /// `buffer_ms` are dropped by the receiver as late.
        #[serde(default)]
        jitter_ms: f64,
        #[serde(default = "default_buffer_ms")]
        buffer_ms: f64,
    },
    /// A reverberant room of the given RT60, `wet` the share of room sound.
    Reverb {
        rt60_s: f64,
        #[serde(default = "default_wet")]
        wet: f64,
    },
    /// An overdriven microphone: `drive_db` of gain, then hard clipping at
    /// full scale.
    Clip { drive_db: f64 },
}

fn default_packet_ms() -> f64 {
    20.0
}
fn default_buffer_ms() -> f64 {
    60.0
}
fn default_wet() -> f64 {
    0.35
}

/// The G.711 companding laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// µ-law (North America, Japan).
    Mulaw,
    /// A-law (Europe and most of the world).
    Alaw,
}

impl Stage {
    /// A parameter out of its range: the field and what is wrong.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let within = |field: &'static str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((
                    field,
                    format!("{field} is {v}; it must be between {lo} and {hi}"),
                ))
            }
        };
        let nyquist = SESSION_RATE as f64 / 2.0;
        match *self {
            Stage::Gain { db } => within("db", db, -60.0, 40.0),
            Stage::Noise { snr_db, .. } => within("snr_db", snr_db, -20.0, 60.0),
            Stage::BandPass { low_hz, high_hz } => {
                within("low_hz", low_hz, 20.0, nyquist - 100.0)?;
                within("high_hz", high_hz, low_hz + 100.0, nyquist - 100.0)
            }
            Stage::Codec(_) => Ok(()),
            Stage::PacketLoss {
                rate,
                packet_ms,
                jitter_ms,
                buffer_ms,
            } => {
                within("rate", rate, 0.0, 0.5)?;
                within("packet_ms", packet_ms, 5.0, 120.0)?;
                within("jitter_ms", jitter_ms, 0.0, 500.0)?;
                within("buffer_ms", buffer_ms, 0.0, 1000.0)
            }
            Stage::Reverb { rt60_s, wet } => {
                within("rt60_s", rt60_s, 0.05, 10.0)?;
                within("wet", wet, 0.0, 1.0)
            }
            Stage::Clip { drive_db } => within("drive_db", drive_db, 0.0, 40.0),
        }
    }
}

/// What a line did to a call, measured as it happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineStats {
    /// SNR each noise stage achieved over the caller's speech (dB), in
    /// stage order; None for a stage that never heard speech.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snr_db: Vec<Option<f64>>,
    /// Packets on the leg, and those lost or dropped as late.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub packets: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub packets_lost: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub packets_late: u64,
    /// Samples an overdriven microphone clipped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clipped_samples: u64,
    /// Samples the line carried.
    pub samples: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How a noise stage sets its level for a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calibration {
    /// A whole caller utterance: exact SNR over its speech.
    Utterance,
    /// Audio as it streams: SNR against the caller's speech so far.
    Running,
}

/// The caller's end of the line, stage by stage.
pub struct Line {
    stages: Vec<Running>,
    samples: u64,
}

enum Running {
    Gain(f32),
    Noise(Box<NoiseStage>),
    BandPass(Butterworth, Butterworth),
    Codec(Box<CodecStage>),
    Packets(Box<PacketLine>),
    Reverb(Box<Room>),
    Clip { drive: f32, clipped: u64 },
}

impl Line {
    /// A line at the session rate; `seed` fixes its noise and packet fates.
    pub fn new(stages: &[Stage], seed: u64) -> Line {
        let rate = SESSION_RATE;
        let stages = stages
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let seed = splitmix(seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
                match *stage {
                    Stage::Gain { db } => Running::Gain(db_to_gain(db)),
                    Stage::Noise { kind, snr_db } => {
                        Running::Noise(Box::new(NoiseStage::new(kind, snr_db, seed)))
                    }
                    Stage::BandPass { low_hz, high_hz } => Running::BandPass(
                        Butterworth::new(Pass::High, 4, low_hz, rate),
                        Butterworth::new(Pass::Low, 4, high_hz, rate),
                    ),
                    Stage::Codec(codec) => Running::Codec(Box::new(CodecStage::new(codec, rate))),
                    Stage::PacketLoss {
                        rate: loss,
                        packet_ms,
                        jitter_ms,
                        buffer_ms,
                    } => Running::Packets(Box::new(PacketLine::new(
                        PacketLossSpec {
                            rate: loss,
                            packet_ms,
                            jitter_ms,
                            buffer_ms,
                        },
                        rate,
                        seed,
                    ))),
                    Stage::Reverb { rt60_s, wet } => {
                        Running::Reverb(Box::new(Room::new(rt60_s, wet, rate)))
                    }
                    Stage::Clip { drive_db } => Running::Clip {
                        drive: db_to_gain(drive_db),
                        clipped: 0,
                    },
                }
            })
            .collect();
        Line { stages, samples: 0 }
    }

    /// A line that passes audio through untouched.
    pub fn is_clean(&self) -> bool {
        self.stages.is_empty()
    }

    /// A whole caller utterance starting at timeline sample `at_sample`:
    /// noise stages set their level exactly against its speech.
    pub fn utterance(&mut self, clean: &[i16], at_sample: u64) -> Vec<i16> {
        self.carry(clean, at_sample, Calibration::Utterance)
    }

    /// Audio as it streams (silence between turns, or a caller whose speech
    /// arrives in pieces): noise follows the speech heard so far.
    pub fn stream(&mut self, chunk: &[i16], at_sample: u64) -> Vec<i16> {
        self.carry(chunk, at_sample, Calibration::Running)
    }

    fn carry(&mut self, input: &[i16], at_sample: u64, calibration: Calibration) -> Vec<i16> {
        if self.stages.is_empty() {
            return input.to_vec();
        }
        self.samples += input.len() as u64;
        let mut x: Vec<f32> = input.iter().map(|&s| s as f32).collect();
        for stage in &mut self.stages {
            match stage {
                Running::Gain(g) => x.iter_mut().for_each(|s| *s *= *g),
                Running::Noise(n) => n.process(&mut x, calibration),
                Running::BandPass(high, low) => x
                    .iter_mut()
                    .for_each(|s| *s = low.process(high.process(*s))),
                Running::Codec(c) => c.process(&mut x),
                Running::Packets(p) => p.process(&mut x, at_sample),
                Running::Reverb(room) => x.iter_mut().for_each(|s| *s = room.process(*s)),
                Running::Clip { drive, clipped } => {
                    for s in x.iter_mut() {
                        let driven = *s * *drive;
                        if driven.abs() > 32767.0 {
                            *clipped += 1;
                        }
                        *s = driven.clamp(-32767.0, 32767.0);
                    }
                }
            }
        }
        x.iter()
            .map(|&s| s.round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }

    /// What the line has done so far.
    pub fn stats(&self) -> LineStats {
        let mut stats = LineStats {
            samples: self.samples,
            ..Default::default()
        };
        for stage in &self.stages {
            match stage {
                Running::Noise(n) => stats.snr_db.push(n.measured_snr_db()),
                Running::Packets(p) => {
                    stats.packets += p.packets;
                    stats.packets_lost += p.lost;
                    stats.packets_late += p.late;
                }
                Running::Clip { clipped, .. } => stats.clipped_samples += clipped,
                _ => {}
            }
        }
        stats
    }
}

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

/// Frames over which speech activity and SNR are measured: 20 ms.
pub const SNR_FRAME_MS: u32 = 20;
/// A frame counts as speech when its RMS is at least this (dBFS).
pub const SPEECH_FLOOR_DBFS: f64 = -60.0;

/// Power (in squared sample units) at or above which a frame is speech.
fn speech_floor_power() -> f64 {
    let amplitude = 32768.0 * 10f64.powf(SPEECH_FLOOR_DBFS / 20.0);
    amplitude * amplitude
}

/// The nominal active speech level assumed before any speech is heard
/// (ITU-T P.56's −26 dBov).
const NOMINAL_SPEECH_DBFS: f64 = -26.0;

struct NoiseStage {
    source: Background,
    snr_db: f64,
    gain: f32,
    /// Sums over speech frames: the caller's speech power, the raw noise
    /// power (for calibration) and the scaled noise power (what was mixed).
    speech: f64,
    raw: f64,
    mixed: f64,
    frames: u64,
    scratch: Vec<f32>,
}

impl NoiseStage {
    fn new(kind: NoiseKind, snr_db: f64, seed: u64) -> NoiseStage {
        let nominal = 32768.0 * 10f64.powf((NOMINAL_SPEECH_DBFS - snr_db) / 20.0);
        NoiseStage {
            source: Background::new(kind, seed),
            snr_db,
            gain: nominal as f32,
            speech: 0.0,
            raw: 0.0,
            mixed: 0.0,
            frames: 0,
            scratch: Vec::new(),
        }
    }

    fn process(&mut self, x: &mut [f32], calibration: Calibration) {
        self.scratch.resize(x.len(), 0.0);
        self.source.fill(&mut self.scratch);
        let frame = (SESSION_RATE * SNR_FRAME_MS / 1000) as usize;
        let floor = speech_floor_power();
        // Speech frames of this chunk: (speech power, raw noise power) sums.
        let (mut speech, mut raw, mut n) = (0.0f64, 0.0f64, 0u64);
        for (s, r) in x.chunks(frame).zip(self.scratch.chunks(frame)) {
            let ps = s.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / s.len() as f64;
            if ps >= floor {
                speech += ps;
                raw += r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / r.len() as f64;
                n += 1;
            }
        }
        let target = 10f64.powf(self.snr_db / 10.0);
        if n > 0 {
            self.speech += speech;
            self.raw += raw;
            self.frames += n;
            let (s, r) = match calibration {
                Calibration::Utterance => (speech, raw),
                Calibration::Running => (self.speech, self.raw),
            };
            if r > 0.0 {
                self.gain = (s / (r * target)).sqrt() as f32;
            }
            self.mixed += raw * (self.gain as f64).powi(2);
        }
        for (s, r) in x.iter_mut().zip(&self.scratch) {
            *s += self.gain * r;
        }
    }

    fn measured_snr_db(&self) -> Option<f64> {
        (self.frames > 0 && self.mixed > 0.0).then(|| 10.0 * (self.speech / self.mixed).log10())
    }
}

/// G.711 at 8 kHz inside a session-rate line.
struct CodecStage {
    codec: Codec,
    anti_alias: Butterworth,
    anti_image: Butterworth,
    factor: usize,
    phase: usize,
}

/// The codec filters: order-10 Butterworth at 3.65 kHz; at 24 kHz after
/// the bilinear transform −0.8 dB at 3.4 kHz, −9.9 dB at 4 kHz, −24.6 dB
/// at 4.6 kHz (G.712 asks 25 dB from 4.6 kHz).
const CODEC_FILTER_HZ: f64 = 3650.0;
const CODEC_FILTER_ORDER: usize = 10;
const CODEC_RATE: u32 = 8000;

impl CodecStage {
    fn new(codec: Codec, rate: u32) -> CodecStage {
        CodecStage {
            codec,
            anti_alias: Butterworth::new(Pass::Low, CODEC_FILTER_ORDER, CODEC_FILTER_HZ, rate),
            anti_image: Butterworth::new(Pass::Low, CODEC_FILTER_ORDER, CODEC_FILTER_HZ, rate),
            factor: (rate / CODEC_RATE).max(1) as usize,
            phase: 0,
        }
    }

    fn process(&mut self, x: &mut [f32]) {
        for s in x.iter_mut() {
            let filtered = self.anti_alias.process(*s);
            // Keep every factor-th sample (8 kHz), zeros between: the
            // anti-image filter interpolates them back.
            let kept = if self.phase == 0 {
                let sample = filtered.round().clamp(-32768.0, 32767.0) as i16;
                let decoded = match self.codec {
                    Codec::Mulaw => g711::ulaw_decode(g711::ulaw_encode(sample)),
                    Codec::Alaw => g711::alaw_decode(g711::alaw_encode(sample)),
                };
                decoded as f32 * self.factor as f32
            } else {
                0.0
            };
            self.phase = (self.phase + 1) % self.factor;
            *s = self.anti_image.process(kept);
        }
    }
}

/// SplitMix64's output function: a well-mixed hash of `x`.
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A small, fast, seeded generator for noise (SplitMix64).
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub(crate) fn uniform_in(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Unit-variance white noise (uniform on ±√3).
    pub(crate) fn white(&mut self) -> f32 {
        (self.uniform() * 2.0 - 1.0) * 1.732_050_8
    }

    /// Exponentially distributed with the given mean.
    pub(crate) fn exponential(&mut self, mean: f32) -> f32 {
        -mean * (1.0 - self.uniform()).max(1e-7).ln()
    }
}

#[cfg(test)]
mod tests;
