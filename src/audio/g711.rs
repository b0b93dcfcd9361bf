//! G.711 µ-law and A-law companding (ITU-T G.711), sample by sample.

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;
/// Upper ends of the A-law segments, on the 13-bit magnitude scale.
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    let mut exponent = 7;
    while exponent > 0 && s & (0x80 << exponent) == 0 {
        exponent -= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

pub fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte as i32;
    let exponent = (b >> 4) & 0x07;
    let mantissa = b & 0x0f;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if b & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = (sample as i32) >> 3;
    let mask = if s >= 0 {
        0xd5
    } else {
        s = -s - 1;
        0x55
    };
    let Some(segment) = ALAW_SEGMENT_ENDS.iter().position(|&end| s <= end) else {
        return (0x7f ^ mask) as u8;
    };
    let segment = segment as i32;
    let shift = if segment < 2 { 1 } else { segment };
    (((segment << 4) | ((s >> shift) & 0x0f)) ^ mask) as u8
}

pub fn alaw_decode(byte: u8) -> i16 {
    let b = (byte ^ 0x55) as i32;
    let segment = (b >> 4) & 0x07;
    let mut magnitude = (b & 0x0f) << 4;
    magnitude += if segment == 0 { 8 } else { 0x108 };
    if segment > 1 {
        magnitude <<= segment - 1;
    }
    (if b & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_code_points() {
        // Silence and full scale, from the G.711 tables.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
    }

    #[test]
    fn every_code_decodes_and_re_encodes_to_itself() {
        for byte in 0..=255u8 {
            // µ-law has two zeros (0x7f and 0xff); both decode to 0.
            if byte != 0x7f {
                assert_eq!(ulaw_encode(ulaw_decode(byte)), byte, "ulaw {byte:#x}");
            }
            assert_eq!(alaw_encode(alaw_decode(byte)), byte, "alaw {byte:#x}");
        }
    }

    #[test]
    fn quantisation_error_is_bounded() {
        for s in (-32000i32..32000).step_by(97) {
            let s = s as i16;
            let u = ulaw_decode(ulaw_encode(s)) as i32 - s as i32;
            let a = alaw_decode(alaw_encode(s)) as i32 - s as i32;
            let bound = (s as i32).abs() / 16 + 16;
            assert!(u.abs() <= bound, "ulaw {s}: err {u}");
            assert!(a.abs() <= bound, "alaw {s}: err {a}");
        }
    }
}
