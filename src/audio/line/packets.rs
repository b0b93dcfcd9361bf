//! Packet loss on a VoIP leg, and what a receiver does about it.
//!
//! The caller's audio travels in packets of `packet_ms` laid on the call's
//! timeline (packet k covers [k·packet_ms, (k+1)·packet_ms)), so a packet's
//! fate depends only on the seed and its position: the same call under the
//! same seed loses the same packets, whatever the chunking. A packet is lost
//! on the network with probability `rate`; it also arrives too late for the
//! receiver's jitter buffer when its delay (half-normal, scale `jitter_ms`)
//! exceeds `buffer_ms`. The receiver conceals a missing packet as basic VoIP
//! receivers do: it repeats the last packet it received, 6 dB quieter for
//! each further packet missing in a row, and mutes after three.

use super::splitmix;

/// Concealment gain for the n-th missing packet in a row (1-based).
fn concealment_gain(run: u32) -> f32 {
    match run {
        1 => 1.0,
        2 => 0.5,
        3 => 0.25,
        _ => 0.0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacketLossSpec {
    pub rate: f64,
    pub packet_ms: f64,
    pub jitter_ms: f64,
    pub buffer_ms: f64,
}

/// Why a packet did not play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Played,
    Lost,
    Late,
}

pub struct PacketLine {
    spec: PacketLossSpec,
    seed: u64,
    packet_samples: u64,
    /// The last packet received, by position within the packet.
    last_received: Vec<f32>,
    /// The packet being received.
    current: Vec<f32>,
    /// Index and fate of the packet at hand, and missing packets in a row.
    at: Option<(u64, Fate)>,
    missing_run: u32,
    pub packets: u64,
    pub lost: u64,
    pub late: u64,
}

impl PacketLine {
    pub fn new(spec: PacketLossSpec, rate: u32, seed: u64) -> PacketLine {
        let packet_samples = ((spec.packet_ms * rate as f64 / 1000.0).round() as u64).max(1);
        PacketLine {
            spec,
            seed,
            packet_samples,
            last_received: vec![0.0; packet_samples as usize],
            current: vec![0.0; packet_samples as usize],
            at: None,
            missing_run: 0,
            packets: 0,
            lost: 0,
            late: 0,
        }
    }

    /// The fate of packet `k`: a pure function of the seed and `k`.
    pub fn fate(&self, k: u64) -> Fate {
        // Each draw hashes the packet first and the salt after, so no two
        // (packet, draw) pairs share an input.
        let packet = splitmix(self.seed ^ splitmix(k));
        let u = |salt: u64| (splitmix(packet ^ salt) >> 11) as f64 / (1u64 << 53) as f64;
        if u(0x1055) < self.spec.rate {
            return Fate::Lost;
        }
        if self.spec.jitter_ms > 0.0 {
            // Half-normal delay by Box–Muller from two uniforms.
            let (u1, u2) = (u(0x71A1).max(1e-12), u(0x7E27));
            let delay = self.spec.jitter_ms
                * ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()).abs();
            if delay > self.spec.buffer_ms {
                return Fate::Late;
            }
        }
        Fate::Played
    }

    /// Passes `samples` starting at timeline sample `at_sample` through the leg.
    pub fn process(&mut self, samples: &mut [f32], at_sample: u64) {
        for (i, s) in samples.iter_mut().enumerate() {
            let pos = at_sample + i as u64;
            let (k, j) = (
                pos / self.packet_samples,
                (pos % self.packet_samples) as usize,
            );
            let fate = match self.at {
                Some((current, fate)) if current == k => fate,
                previous => {
                    self.close_packet(previous);
                    let fate = self.fate(k);
                    self.packets += 1;
                    match fate {
                        Fate::Played => self.missing_run = 0,
                        Fate::Lost => {
                            self.lost += 1;
                            self.missing_run += 1
                        }
                        Fate::Late => {
                            self.late += 1;
                            self.missing_run += 1
                        }
                    }
                    self.at = Some((k, fate));
                    fate
                }
            };
            self.current[j] = *s;
            if fate != Fate::Played {
                *s = self.last_received[j] * concealment_gain(self.missing_run);
            }
        }
    }

    /// A finished packet that played becomes the one to repeat.
    fn close_packet(&mut self, previous: Option<(u64, Fate)>) {
        if let Some((_, Fate::Played)) = previous {
            std::mem::swap(&mut self.last_received, &mut self.current);
        }
    }

    /// Share of packets that did not play.
    pub fn missing_ratio(&self) -> f64 {
        (self.lost + self.late) as f64 / self.packets.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: f64) -> PacketLossSpec {
        PacketLossSpec {
            rate,
            packet_ms: 20.0,
            jitter_ms: 0.0,
            buffer_ms: 60.0,
        }
    }

    #[test]
    fn loses_its_share_of_packets_the_same_way_whatever_the_chunking() {
        let audio: Vec<f32> = (0..24_000 * 60).map(|i| (i as f32 * 0.05).sin()).collect();
        let mut whole = audio.clone();
        let mut line = PacketLine::new(spec(0.02), 24_000, 9);
        line.process(&mut whole, 0);
        assert_eq!(line.packets, 3000);
        assert!((40..=80).contains(&line.lost), "{} of 3000", line.lost);
        let mut chunked = audio.clone();
        let mut again = PacketLine::new(spec(0.02), 24_000, 9);
        for (n, chunk) in chunked.chunks_mut(1234).enumerate() {
            again.process(chunk, n as u64 * 1234);
        }
        assert_eq!(whole, chunked);
        // A played packet is untouched; a lost one repeats the one before.
        let k = (0..3000)
            .find(|&k| line.fate(k) == Fate::Lost && k > 0 && line.fate(k - 1) == Fate::Played)
            .unwrap() as usize;
        assert_eq!(whole[(k - 1) * 480..k * 480], audio[(k - 1) * 480..k * 480]);
        assert_eq!(whole[k * 480..(k + 1) * 480], audio[(k - 1) * 480..k * 480]);
    }

    #[test]
    fn a_jitter_buffer_drops_late_packets() {
        let late = |jitter_ms: f64| {
            let mut line = PacketLine::new(
                PacketLossSpec {
                    rate: 0.0,
                    packet_ms: 20.0,
                    jitter_ms,
                    buffer_ms: 60.0,
                },
                24_000,
                3,
            );
            line.process(&mut vec![0.0; 24_000 * 100], 0);
            line.late as f64 / line.packets as f64
        };
        assert_eq!(late(0.0), 0.0);
        // P(|N(0, 20)| > 60) = 0.27%; P(|N(0, 40)| > 60) = 13.4%.
        assert!((0.0010..0.0050).contains(&late(20.0)), "{}", late(20.0));
        assert!((0.11..0.16).contains(&late(40.0)), "{}", late(40.0));
    }
}
