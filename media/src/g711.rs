//! ITU-T G.711 companding: μ-law (PCMU, RTP payload type 0) and A-law
//! (PCMA, payload type 8), the two codecs every SIP phone speaks.
//!
//! Linear samples are 16-bit (`i16`). G.711 itself is defined on 14-bit
//! (μ-law) and 13-bit (A-law) magnitudes; the 16-bit values here are those
//! scaled by 4 and 8, the convention of most telephony software, so
//! decoding gives the G.711 table's reconstruction values times 4 (μ-law)
//! or 8 (A-law).
//!
//! Encoding is a few shifts; decoding is a table built at compile time.

/// Offset added to the magnitude before μ-law segment search (G.711 §3:
/// 33 in 14-bit units, here scaled to 16-bit).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude μ-law represents (8159 in 14-bit units, scaled by 4
/// and less the bias); louder samples clip to the top code.
const ULAW_CLIP: i32 = 32_635;

/// μ-law code for silence (the encoding of 0).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code for silence (the encoding of 0, the smallest positive step).
pub const ALAW_SILENCE: u8 = 0xD5;

/// The two G.711 laws, as negotiated in SDP.
///
/// The media crate has its own codec type so it depends on no SIP crate;
/// the binary maps SDP payload types to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, RTP/AVP static payload type 0 (RFC 3551 §6).
    Pcmu,
    /// G.711 A-law, RTP/AVP static payload type 8 (RFC 3551 §6).
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 table 4).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is a G.711 one.
    pub const fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name (`a=rtpmap:0 PCMU/8000`).
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The code byte for digital silence in this law.
    pub const fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => ULAW_SILENCE,
            Codec::Pcma => ALAW_SILENCE,
        }
    }

    /// Encodes one linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(sample),
            Codec::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes one code byte.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_decode(code),
            Codec::Pcma => alaw_decode(code),
        }
    }

    /// Appends the encoding of `pcm` to `out`.
    pub fn encode_into(self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            Codec::Pcmu => ulaw_encode_into(pcm, out),
            Codec::Pcma => alaw_encode_into(pcm, out),
        }
    }

    /// Appends the decoding of `codes` to `out`.
    pub fn decode_into(self, codes: &[u8], out: &mut Vec<i16>) {
        match self {
            Codec::Pcmu => ulaw_decode_into(codes, out),
            Codec::Pcma => alaw_decode_into(codes, out),
        }
    }

    /// Converts `codes` from this law to `to`, in place (a bridge between a
    /// PCMU leg and a PCMA leg). One table look-up per byte; a no-op when
    /// the laws are the same.
    pub fn transcode_in_place(self, to: Codec, codes: &mut [u8]) {
        let table = match (self, to) {
            (Codec::Pcmu, Codec::Pcma) => &ULAW_TO_ALAW,
            (Codec::Pcma, Codec::Pcmu) => &ALAW_TO_ULAW,
            _ => return,
        };
        for code in codes {
            *code = table[usize::from(*code)];
        }
    }
}

/// Converts one μ-law code to the A-law code of the same decoded value
/// (decode, then encode: within half an A-law step of the μ-law value).
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[usize::from(code)]
}

/// Converts one A-law code to the μ-law code of the same decoded value.
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[usize::from(code)]
}

/// Encodes a 16-bit linear sample to μ-law (G.711 §3, table 2a).
pub const fn ulaw_encode(sample: i16) -> u8 {
    let mut magnitude = sample as i32;
    let sign = if magnitude < 0 {
        magnitude = -magnitude;
        0x80
    } else {
        0x00
    };
    let clipped = if magnitude > ULAW_CLIP {
        ULAW_CLIP
    } else {
        magnitude
    };
    let biased = clipped + ULAW_BIAS;
    // `biased` is in 132..=32767: its highest set bit is bit 7..=14, which
    // gives the segment (exponent) 0..=7.
    let exponent = 31 - (biased as u32).leading_zeros() - 7;
    let mantissa = ((biased >> (exponent + 3)) & 0x0F) as u8;
    // G.711 transmits μ-law codes with every bit inverted.
    !(sign | ((exponent as u8) << 4) | mantissa)
}

/// Decodes a μ-law code to a 16-bit linear sample (the G.711 table 2a
/// reconstruction value times 4).
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Encodes a 16-bit linear sample to A-law (G.711 §2, table 1a).
pub const fn alaw_encode(sample: i16) -> u8 {
    // A-law is a mid-riser: there is no zero code. Non-negative samples use
    // the positive half; for negatives, `!x` (that is `-x - 1`) maps -1..-8
    // onto the same first step as 0..7, keeping the two halves symmetric.
    let (sign, magnitude) = if sample >= 0 {
        (0x80u8, (sample >> 3) as u16)
    } else {
        (0x00u8, ((!sample) >> 3) as u16)
    };
    // 13-bit magnitude 0..=4095. Segment 0 covers 0..32 with step 2; segment
    // s >= 1 covers 2^(s+4)..2^(s+5) with step 2^s.
    let (segment, mantissa) = if magnitude < 32 {
        (0u8, (magnitude >> 1) as u8)
    } else {
        let segment = (15 - magnitude.leading_zeros() - 4) as u8;
        (segment, ((magnitude >> segment) & 0x0F) as u8)
    };
    // G.711 transmits A-law codes with the even bits inverted.
    (sign | (segment << 4) | mantissa) ^ 0x55
}

/// Decodes an A-law code to a 16-bit linear sample (the G.711 table 1a
/// reconstruction value times 8).
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Appends the μ-law encoding of `pcm` to `out`.
pub fn ulaw_encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| ulaw_encode(s)));
}

/// Appends the A-law encoding of `pcm` to `out`.
pub fn alaw_encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| alaw_encode(s)));
}

/// Appends the decoding of μ-law `codes` to `out`.
pub fn ulaw_decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| ulaw_decode(c)));
}

/// Appends the decoding of A-law `codes` to `out`.
pub fn alaw_decode_into(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| alaw_decode(c)));
}

const fn ulaw_reconstruct(code: u8) -> i16 {
    let inverted = !code;
    let exponent = (inverted >> 4) & 0x07;
    let mantissa = (inverted & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if inverted & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_reconstruct(code: u8) -> i16 {
    let raw = code ^ 0x55;
    let segment = (raw >> 4) & 0x07;
    let mantissa = (raw & 0x0F) as i32;
    // Middle of the quantisation interval, in 13-bit units.
    let magnitude = if segment == 0 {
        2 * mantissa + 1
    } else {
        (2 * mantissa + 33) << (segment - 1)
    };
    let linear = (magnitude << 3) as i16;
    if raw & 0x80 != 0 { linear } else { -linear }
}

static ULAW_TABLE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = ulaw_reconstruct(code as u8);
        code += 1;
    }
    table
};

static ALAW_TABLE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = alaw_reconstruct(code as u8);
        code += 1;
    }
    table
};

/// μ-law code → A-law code, built at compile time (decode, re-encode).
static ULAW_TO_ALAW: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = alaw_encode(ulaw_reconstruct(code as u8));
        code += 1;
    }
    table
};

/// A-law code → μ-law code, built at compile time (decode, re-encode).
static ALAW_TO_ULAW: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = ulaw_encode(alaw_reconstruct(code as u8));
        code += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// G.711 table 2a (μ-law), in 14-bit units: (input, code, decoded).
    /// Inputs sit on the segment decision values; the 16-bit sample is the
    /// 14-bit value times 4.
    #[test]
    fn ulaw_segment_boundaries_match_g711_table_2a() {
        let table: &[(i16, u8, i16)] = &[
            // zero, first step of segment 0
            (0, 0xFF, 0),
            (1, 0xFE, 2),
            (30, 0xF0, 30),
            // segment boundaries 31 / 95 / 223 / 479 / 991 / 2015 / 4063
            (31, 0xEF, 33),
            (95, 0xDF, 99),
            (223, 0xCF, 231),
            (479, 0xBF, 495),
            (991, 0xAF, 1023),
            (2015, 0x9F, 2079),
            (4063, 0x8F, 4191),
            // top of the last segment, then clipping
            (8158, 0x80, 8031),
            (8191, 0x80, 8031),
        ];
        for &(input, code, decoded) in table {
            assert_eq!(ulaw_encode(input * 4), code, "encode(+{input})");
            assert_eq!(ulaw_decode(code), decoded * 4, "decode({code:#04x})");
            // Negative values differ only in the (inverted) sign bit.
            if input > 0 {
                assert_eq!(ulaw_encode(-input * 4), code & 0x7F, "encode(-{input})");
                assert_eq!(ulaw_decode(code & 0x7F), -decoded * 4);
            }
        }
    }

    #[test]
    fn ulaw_extremes_clip_to_the_top_codes() {
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        // Small negatives encode to "negative zero", which decodes to 0.
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_decode(0x7F), 0);
    }

    /// G.711 table 1a (A-law), in 13-bit units (the 16-bit sample is the
    /// value times 8): (input, code, decoded).
    #[test]
    fn alaw_segment_boundaries_match_g711_table_1a() {
        let table: &[(i16, u8, i16)] = &[
            (0, 0xD5, 1),
            (2, 0xD4, 3),
            (31, 0xDA, 31),
            // segment boundaries 32 / 64 / 128 / 256 / 512 / 1024 / 2048
            (32, 0xC5, 33),
            (64, 0xF5, 66),
            (128, 0xE5, 132),
            (256, 0x95, 264),
            (512, 0x85, 528),
            (1024, 0xB5, 1056),
            (2048, 0xA5, 2112),
            (4095, 0xAA, 4032),
        ];
        for &(input, code, decoded) in table {
            assert_eq!(alaw_encode(input * 8), code, "encode(+{input})");
            assert_eq!(alaw_decode(code), decoded * 8, "decode({code:#04x})");
            // The negative half clears the sign bit (0x80 before the 0x55
            // inversion); -(x+1) quantises like x.
            let negative = -(input * 8) - 1;
            assert_eq!(alaw_encode(negative), code & 0x7F, "encode({negative})");
            assert_eq!(alaw_decode(code & 0x7F), -decoded * 8);
        }
    }

    #[test]
    fn alaw_extremes_and_zero() {
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xAA), 32_256);
        assert_eq!(alaw_decode(0x2A), -32_256);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_decode(0x55), -8);
    }

    /// Quantisation step (16-bit units) of the segment a decoded value is in.
    fn ulaw_step(code: u8) -> i32 {
        8 << ((!code >> 4) & 0x07)
    }

    fn alaw_step(code: u8) -> i32 {
        let segment = ((code ^ 0x55) >> 4) & 0x07;
        16 << segment.saturating_sub(1)
    }

    #[test]
    fn ulaw_round_trip_is_within_half_a_step_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            let code = ulaw_encode(x);
            let error = (i32::from(ulaw_decode(code)) - i32::from(x)).abs();
            if i32::from(x).abs() <= ULAW_CLIP {
                assert!(
                    error <= ulaw_step(code) / 2,
                    "x={x} code={code:#04x} error={error}"
                );
            } else {
                assert_eq!(code & 0x7F, 0x00, "x={x} must clip to the top code");
            }
        }
    }

    #[test]
    fn alaw_round_trip_is_within_half_a_step_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            let code = alaw_encode(x);
            let error = (i32::from(alaw_decode(code)) - i32::from(x)).abs();
            assert!(
                error <= alaw_step(code) / 2,
                "x={x} code={code:#04x} error={error}"
            );
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            // μ-law has two zeros (0xFF and 0x7F); both decode to 0 and 0
            // encodes to 0xFF.
            if code != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "μ-law {code:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn slice_helpers_match_the_scalar_functions() {
        let pcm = [0i16, 100, -100, 12_345, -32_768, 32_767];
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut encoded = Vec::new();
            codec.encode_into(&pcm, &mut encoded);
            let expected: Vec<u8> = pcm.iter().map(|&s| codec.encode(s)).collect();
            assert_eq!(encoded, expected);
            let mut decoded = Vec::new();
            codec.decode_into(&encoded, &mut decoded);
            let expected: Vec<i16> = encoded.iter().map(|&c| codec.decode(c)).collect();
            assert_eq!(decoded, expected);
            assert_eq!(codec.encode(0), codec.silence());
        }
    }

    #[test]
    fn payload_types_follow_rfc_3551() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::Pcma.name(), "PCMA");
    }

    #[test]
    fn transcoding_tables_are_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(ulaw_to_alaw(code), alaw_encode(ulaw_decode(code)));
            assert_eq!(alaw_to_ulaw(code), ulaw_encode(alaw_decode(code)));
            // Within one step of the value transcoded.
            let u = i32::from(ulaw_decode(code));
            let a = i32::from(alaw_decode(ulaw_to_alaw(code)));
            assert!(
                (u - a).abs() <= alaw_step(ulaw_to_alaw(code)),
                "μ {code:#04x}"
            );
        }
        let mut frame = [0xFFu8, 0x80, 0x00, 0x7F];
        Codec::Pcmu.transcode_in_place(Codec::Pcma, &mut frame);
        assert_eq!(frame[0], ALAW_SILENCE);
        let before = frame;
        Codec::Pcma.transcode_in_place(Codec::Pcma, &mut frame);
        assert_eq!(frame, before, "same law: untouched");
        // A-law silence back to μ-law is the smallest positive step, not 0xFF:
        // what matters is that it decodes to (nearly) nothing.
        Codec::Pcma.transcode_in_place(Codec::Pcmu, &mut frame);
        assert!(ulaw_decode(frame[0]).abs() <= 8);
    }
}
