//! In-band DTMF detection: finding the keypad tones in the caller's audio,
//! for phones and gateways that negotiated no telephone-event.
//!
//! A DTMF digit is two simultaneous sine tones, one from the low (row)
//! group and one from the high (column) group (ITU-T Q.23):
//!
//! ```text
//!            1209 Hz 1336 Hz 1477 Hz 1633 Hz
//!   697 Hz      1       2       3       A
//!   770 Hz      4       5       6       B
//!   852 Hz      7       8       9       C
//!   941 Hz      *       0       #       D
//! ```
//!
//! The detector measures the energy at the eight frequencies with the
//! Goertzel algorithm over blocks of [`BLOCK_LEN`] samples (13 ms at
//! 8 kHz; 105 samples put about 76 Hz between analysis bins, enough to
//! separate neighbouring DTMF frequencies). A block shows a digit when:
//!
//! - the strongest row and column frequencies are both above a minimum
//!   level (about -35 dBm0 each);
//! - the two of them hold most of the block's energy (speech, music and
//!   noise spread their energy over many frequencies);
//! - each stands well above the other frequencies of its group;
//! - their level difference (twist) is within limits: the column tone at
//!   most 8 dB louder (normal twist) or 4 dB quieter (reverse twist) than
//!   the row tone.
//!
//! A digit is reported when [`PRESENCE_BLOCKS`] consecutive blocks agree,
//! and is not reported again until [`RELEASE_BLOCKS`] blocks without it
//! have passed (a pause of about 26 ms), so a key held for seconds is one
//! digit and the same key pressed twice is two.
//!
//! Why two blocks and an 80 % energy share: a tone that covers only part
//! of a block holds about that part of the block's energy, so a block
//! passes only when the tone fills at least 80 % of it (84 samples). Two
//! passing blocks therefore need at least 168 samples (21 ms) of tone: a
//! 20 ms burst is never a digit. A 40 ms tone (320 samples) always
//! contains two whole blocks, whatever its alignment: it is always a digit
//! (Q.24 asks for 40 ms).

/// Samples per analysis block.
pub const BLOCK_LEN: usize = 105;
/// Consecutive blocks that must show the same digit before it is reported.
pub const PRESENCE_BLOCKS: u8 = 2;
/// Consecutive blocks without the digit that end a key press.
pub const RELEASE_BLOCKS: u8 = 2;

/// Q.23 low-group (row) frequencies.
pub(crate) const ROW_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// Q.23 high-group (column) frequencies.
pub(crate) const COLUMN_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Digits by [row][column].
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Minimum peak amplitude of each tone, as a fraction of full scale
/// (about -35 dBm0 for G.711; phones send -4 to -10 dBm0 per tone).
const MIN_AMPLITUDE: f32 = 0.012;
/// Share of the block's energy the two tones must hold together (see the
/// module docs for why 80 %).
const MIN_TONE_SHARE: f32 = 0.8;
/// The column tone may be this much louder than the row tone (8 dB).
const MAX_NORMAL_TWIST: f32 = 6.31;
/// The row tone may be this much louder than the column tone (4 dB).
const MAX_REVERSE_TWIST: f32 = 2.51;
/// Each tone must be this much stronger than the others of its group (8 dB).
const MIN_GROUP_MARGIN: f32 = 6.31;

/// Finds DTMF digits in 8 kHz linear PCM (see the module docs).
///
/// One detector per audio stream; it keeps the partial block between
/// calls, so frames of any length can be fed.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    coefficients: [f32; 8],
    s1: [f32; 8],
    s2: [f32; 8],
    energy: f32,
    count: usize,
    /// The digit shown by the latest blocks, and for how many blocks.
    candidate: Option<char>,
    run: u8,
    /// The digit already reported and still (or recently) sounding.
    reported: Option<char>,
    misses: u8,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    pub fn new() -> Self {
        let mut coefficients = [0.0; 8];
        for (c, hz) in coefficients
            .iter_mut()
            .zip(ROW_HZ.iter().chain(COLUMN_HZ.iter()))
        {
            *c = (2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos()) as f32;
        }
        InbandDetector {
            coefficients,
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            count: 0,
            candidate: None,
            run: 0,
            reported: None,
            misses: 0,
        }
    }

    /// Feeds samples; each digit whose key press is recognised in them is
    /// pushed onto `digits` (at most one per 65 ms of audio).
    pub fn feed(&mut self, pcm: &[i16], digits: &mut Vec<char>) {
        for &sample in pcm {
            let x = f32::from(sample) / 32768.0;
            self.energy += x * x;
            for k in 0..8 {
                let s0 = x + self.coefficients[k] * self.s1[k] - self.s2[k];
                self.s2[k] = self.s1[k];
                self.s1[k] = s0;
            }
            self.count += 1;
            if self.count == BLOCK_LEN {
                let shown = self.classify_block();
                self.s1 = [0.0; 8];
                self.s2 = [0.0; 8];
                self.energy = 0.0;
                self.count = 0;
                if let Some(digit) = self.on_block(shown) {
                    digits.push(digit);
                }
            }
        }
    }

    /// Forgets all state (the stream restarted).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// The digit one block shows, if any.
    fn classify_block(&self) -> Option<char> {
        let mut power = [0.0f32; 8];
        for (k, p) in power.iter_mut().enumerate() {
            let (s1, s2) = (self.s1[k], self.s2[k]);
            *p = s1 * s1 + s2 * s2 - self.coefficients[k] * s1 * s2;
        }
        let (rows, columns) = power.split_at(4);
        let (row, row_power) = strongest(rows);
        let (column, column_power) = strongest(columns);

        // A sine of peak amplitude A gives a Goertzel power of (A·N/2)².
        let n = BLOCK_LEN as f32;
        let min_power = (MIN_AMPLITUDE * n / 2.0).powi(2);
        if row_power < min_power || column_power < min_power {
            return None;
        }
        if column_power > row_power * MAX_NORMAL_TWIST
            || row_power > column_power * MAX_REVERSE_TWIST
        {
            return None;
        }
        // The block's energy is N·A²/2 per sine of amplitude A; the two
        // tones' share of it is 2·(P_row + P_col) / (N · energy).
        if 2.0 * (row_power + column_power) < MIN_TONE_SHARE * n * self.energy {
            return None;
        }
        let margin_ok = |group: &[f32], peak: usize, peak_power: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &p)| i == peak || p * MIN_GROUP_MARGIN <= peak_power)
        };
        if !margin_ok(rows, row, row_power) || !margin_ok(columns, column, column_power) {
            return None;
        }
        Some(KEYPAD[row][column])
    }

    /// Advances the key-press state machine by one block.
    fn on_block(&mut self, shown: Option<char>) -> Option<char> {
        if shown.is_some() && shown == self.candidate {
            self.run = self.run.saturating_add(1);
        } else {
            self.candidate = shown;
            self.run = u8::from(shown.is_some());
        }
        if let Some(held) = self.reported {
            if shown == Some(held) {
                self.misses = 0;
                return None;
            }
            self.misses += 1;
            if self.misses < RELEASE_BLOCKS {
                return None;
            }
            self.reported = None;
        }
        if self.run >= PRESENCE_BLOCKS {
            self.reported = self.candidate;
            self.misses = 0;
            return self.candidate;
        }
        None
    }
}

/// Index and power of the strongest of four frequencies.
fn strongest(group: &[f32]) -> (usize, f32) {
    group.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, p)| if p > best.1 { (i, p) } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{silence, tone, tone_with_twist};
    use super::*;

    const DIGITS: &str = "0123456789*#ABCD";

    fn detect(pcm: &[i16]) -> String {
        let mut detector = InbandDetector::new();
        let mut digits = Vec::new();
        // Feed in 20 ms frames, as the RTP session does.
        for frame in pcm.chunks(160) {
            detector.feed(frame, &mut digits);
        }
        digits.into_iter().collect()
    }

    fn concat(parts: &[Vec<i16>]) -> Vec<i16> {
        parts.concat()
    }

    /// Peak amplitudes per tone: about -3, -10, -20 and -30 dBm0.
    const LEVELS: [f64; 4] = [16_000.0, 7_000.0, 2_200.0, 700.0];

    #[test]
    fn all_sixteen_digits_detected_once_at_several_levels() {
        for amplitude in LEVELS {
            for digit in DIGITS.chars() {
                let pcm = concat(&[silence(30), tone(digit, 80, amplitude), silence(60)]);
                assert_eq!(
                    detect(&pcm),
                    digit.to_string(),
                    "digit {digit} at amplitude {amplitude}"
                );
            }
        }
    }

    #[test]
    fn a_sequence_of_digits_is_reported_in_order() {
        let mut parts = vec![silence(20)];
        for digit in DIGITS.chars() {
            parts.push(tone(digit, 60, 5000.0));
            parts.push(silence(60));
        }
        assert_eq!(detect(&concat(&parts)), DIGITS);
    }

    #[test]
    fn a_key_held_for_500_ms_is_one_digit() {
        let pcm = concat(&[silence(10), tone('5', 500, 6000.0), silence(40)]);
        assert_eq!(detect(&pcm), "5");
    }

    #[test]
    fn same_key_twice_with_a_50_ms_gap_is_two_digits() {
        let pcm = concat(&[
            tone('1', 100, 6000.0),
            silence(50),
            tone('1', 100, 6000.0),
            silence(40),
        ]);
        assert_eq!(detect(&pcm), "11");
    }

    /// A 20 ms burst never counts; 40 ms and more always does (Q.24).
    /// Every alignment against the block grid is tried.
    #[test]
    fn tone_duration_limits_at_every_block_alignment() {
        for offset in 0..BLOCK_LEN {
            let lead = vec![0i16; offset];
            for (ms, expected) in [
                (10, ""),
                (15, ""),
                (20, ""),
                (40, "8"),
                (45, "8"),
                (60, "8"),
            ] {
                let pcm = concat(&[lead.clone(), tone('8', ms, 6000.0), silence(40)]);
                assert_eq!(detect(&pcm), expected, "{ms} ms tone at offset {offset}");
            }
        }
    }

    #[test]
    fn twist_within_limits_is_accepted_beyond_is_refused() {
        let cases = [(0.0, "6"), (6.0, "6"), (-3.0, "6"), (12.0, ""), (-8.0, "")];
        for (twist_db, expected) in cases {
            let pcm = concat(&[tone_with_twist('6', 80, 4000.0, twist_db), silence(40)]);
            assert_eq!(detect(&pcm), expected, "twist {twist_db} dB");
        }
    }

    #[test]
    fn silence_and_a_single_1_khz_tone_are_not_digits() {
        assert_eq!(detect(&silence(1000)), "");
        let pure: Vec<i16> = (0..8000)
            .map(|n| {
                (12_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect();
        assert_eq!(detect(&pure), "");
        // A single DTMF frequency alone is not a digit either.
        let single: Vec<i16> = (0..8000)
            .map(|n| {
                (12_000.0 * (2.0 * std::f64::consts::PI * 770.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect();
        assert_eq!(detect(&single), "");
    }

    /// Vowel-like sound: a 90–250 Hz voice with many harmonics shaped by
    /// two moving formants, plus noise. Several harmonics fall close to
    /// DTMF frequencies, but none holds most of the energy.
    #[test]
    fn speech_like_sound_is_not_a_digit() {
        let mut rng = fastrand::Rng::with_seed(211);
        let mut pcm = Vec::new();
        let mut phase = 0.0f64;
        for n in 0..8000 * 3 {
            let t = n as f64 / 8000.0;
            let pitch = 170.0 + 80.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f64::consts::PI * pitch / 8000.0;
            let formant1 = 600.0 + 300.0 * (2.0 * std::f64::consts::PI * 1.3 * t).sin();
            let formant2 = 1400.0 + 500.0 * (2.0 * std::f64::consts::PI * 0.9 * t).cos();
            let mut v = 0.0;
            for h in 1..=20 {
                let f = pitch * h as f64;
                if f > 3400.0 {
                    break;
                }
                let gain = 1.0 / (1.0 + ((f - formant1) / 150.0).powi(2))
                    + 0.6 / (1.0 + ((f - formant2) / 200.0).powi(2))
                    + 0.05;
                v += gain * (phase * h as f64).sin();
            }
            let noise = (rng.f64() - 0.5) * 0.3;
            pcm.push(((v + noise) * 3000.0).clamp(-32768.0, 32767.0) as i16);
        }
        assert_eq!(detect(&pcm), "");
        let white: Vec<i16> = (0..16_000).map(|_| rng.i16(-8000..8000)).collect();
        assert_eq!(detect(&white), "");
    }

    #[test]
    fn tone_too_quiet_is_ignored() {
        // About -45 dBm0 per tone: line noise, not a key press.
        let pcm = concat(&[tone('2', 100, 120.0), silence(40)]);
        assert_eq!(detect(&pcm), "");
    }

    #[test]
    fn digit_survives_g711_round_trip_in_both_laws() {
        use crate::g711::Codec;
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let pcm = concat(&[tone('#', 80, 3000.0), silence(40)]);
            let mut encoded = Vec::new();
            codec.encode_into(&pcm, &mut encoded);
            let mut decoded = Vec::new();
            codec.decode_into(&encoded, &mut decoded);
            assert_eq!(detect(&decoded), "#", "{codec:?}");
        }
    }

    #[test]
    fn feeding_odd_sized_chunks_gives_the_same_result() {
        let pcm = concat(&[
            tone('9', 70, 5000.0),
            silence(50),
            tone('C', 70, 5000.0),
            silence(40),
        ]);
        let mut detector = InbandDetector::new();
        let mut digits = Vec::new();
        for chunk in pcm.chunks(37) {
            detector.feed(chunk, &mut digits);
        }
        assert_eq!(digits, vec!['9', 'C']);
    }
}
