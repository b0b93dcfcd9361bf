//! The session audio formats and their byte encodings.

use serde_json::{Value, json};

use super::{g711, resample};

/// The Realtime API's PCM rate: 24 kHz, 16-bit little-endian, mono.
pub const SESSION_RATE: u32 = 24_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioFormat {
    /// `audio/pcm` (beta `pcm16`): 24 kHz 16-bit LE mono.
    Pcm16,
    /// `audio/pcmu` (beta `g711_ulaw`): 8 kHz µ-law.
    G711Ulaw,
    /// `audio/pcma` (beta `g711_alaw`): 8 kHz A-law.
    G711Alaw,
}

impl AudioFormat {
    pub fn sample_rate(self) -> u32 {
        match self {
            AudioFormat::Pcm16 => SESSION_RATE,
            AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 8_000,
        }
    }

    pub fn bytes_per_sample(self) -> usize {
        match self {
            AudioFormat::Pcm16 => 2,
            AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 1,
        }
    }

    /// Bytes of encoded audio per millisecond.
    pub fn bytes_per_ms(self) -> usize {
        self.sample_rate() as usize / 1000 * self.bytes_per_sample()
    }

    /// Milliseconds of audio in `bytes` encoded bytes.
    pub fn duration_ms(self, bytes: usize) -> u64 {
        (bytes / self.bytes_per_ms()) as u64
    }

    pub fn ga_wire(self) -> Value {
        match self {
            AudioFormat::Pcm16 => json!({"type": "audio/pcm", "rate": SESSION_RATE}),
            AudioFormat::G711Ulaw => json!({"type": "audio/pcmu"}),
            AudioFormat::G711Alaw => json!({"type": "audio/pcma"}),
        }
    }

    pub fn beta_wire(self) -> &'static str {
        match self {
            AudioFormat::Pcm16 => "pcm16",
            AudioFormat::G711Ulaw => "g711_ulaw",
            AudioFormat::G711Alaw => "g711_alaw",
        }
    }

    /// Encodes samples at this format's own rate.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        match self {
            AudioFormat::Pcm16 => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
            AudioFormat::G711Ulaw => samples.iter().map(|&s| g711::ulaw_encode(s)).collect(),
            AudioFormat::G711Alaw => samples.iter().map(|&s| g711::alaw_encode(s)).collect(),
        }
    }

    /// Decodes bytes into samples at this format's own rate. A trailing odd
    /// byte of PCM16 is ignored (callers keep it for the next chunk).
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        match self {
            AudioFormat::Pcm16 => bytes
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect(),
            AudioFormat::G711Ulaw => bytes.iter().map(|&b| g711::ulaw_decode(b)).collect(),
            AudioFormat::G711Alaw => bytes.iter().map(|&b| g711::alaw_decode(b)).collect(),
        }
    }

    /// Decodes bytes into 24 kHz samples, converting rate where needed.
    pub fn decode_to_session_rate(self, bytes: &[u8]) -> Vec<i16> {
        let samples = self.decode(bytes);
        resample::resample_i16(&samples, self.sample_rate(), SESSION_RATE)
    }

    /// Encodes 24 kHz samples into this format, converting rate where needed.
    pub fn encode_from_session_rate(self, samples: &[i16]) -> Vec<u8> {
        let converted = resample::resample_i16(samples, SESSION_RATE, self.sample_rate());
        self.encode(&converted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_rates_match_the_protocol() {
        assert_eq!(AudioFormat::Pcm16.bytes_per_ms(), 48);
        assert_eq!(AudioFormat::G711Ulaw.bytes_per_ms(), 8);
        assert_eq!(AudioFormat::Pcm16.duration_ms(4800), 100);
        assert_eq!(AudioFormat::G711Alaw.duration_ms(160), 20);
    }

    #[test]
    fn pcm16_is_little_endian() {
        assert_eq!(
            AudioFormat::Pcm16.encode(&[0x0102, -2]),
            vec![0x02, 0x01, 0xfe, 0xff]
        );
        assert_eq!(
            AudioFormat::Pcm16.decode(&[0x02, 0x01, 0xfe, 0xff]),
            vec![0x0102, -2]
        );
    }

    #[test]
    fn g711_round_trip_keeps_duration_and_level() {
        let tone: Vec<i16> = (0..24_000)
            .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 24_000.0).sin() * 8000.0) as i16)
            .collect();
        for format in [AudioFormat::G711Ulaw, AudioFormat::G711Alaw] {
            let bytes = format.encode_from_session_rate(&tone);
            assert_eq!(bytes.len(), 8_000, "{format:?}: one second at 8 kHz");
            let back = format.decode_to_session_rate(&bytes);
            assert!(
                (back.len() as i64 - 24_000).abs() < 50,
                "{format:?}: {}",
                back.len()
            );
            let (a, b) = (super::super::rms_dbfs(&tone), super::super::rms_dbfs(&back));
            assert!((a - b).abs() < 1.0, "{format:?}: level {a} vs {b}");
        }
    }
}
