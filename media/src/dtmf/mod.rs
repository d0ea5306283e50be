//! Keypad digits from the caller, however the phone sends them:
//!
//! - [`rfc4733`]: RTP telephone-event packets (RFC 4733), the common case
//!   when the SDP negotiated `telephone-event`;
//! - [`relay`]: SIP INFO bodies (`application/dtmf-relay`, `application/dtmf`),
//!   parsed here but received by the SIP side;
//! - [`inband`]: the tones themselves inside the G.711 audio, detected with
//!   the Goertzel algorithm, for phones that negotiated no telephone-event.
//!
//! Every detector reports a digit once per key press, as a `char` in
//! `0-9 * # A-D`.

pub mod inband;
pub mod once;
pub mod relay;
pub mod rfc4733;

pub use inband::InbandDetector;
pub use once::KeyOnce;
pub use relay::parse_dtmf_relay;
pub use rfc4733::{Rfc4733Detector, TelephoneEvent};

use thiserror::Error;

/// Why a telephone-event payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// RFC 4733 §2.3: an event is 4 bytes.
    #[error("telephone-event payload too short: {0} bytes, expected 4")]
    TooShort(usize),
}

/// The keypad digit of an RFC 4733 DTMF event code (§3.2, table 3):
/// 0–9 → `'0'..='9'`, 10 → `'*'`, 11 → `'#'`, 12–15 → `'A'..='D'`.
/// Other events (flash, tones) are not digits.
pub fn event_to_digit(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code of a keypad digit (`a`–`d` accepted too).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let digit = digit.to_ascii_uppercase();
    DIGITS.iter().position(|&d| d == digit).map(|i| i as u8)
}

/// The 16 digits in RFC 4733 event order.
const DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// Test support: synthesised DTMF tones.
#[cfg(test)]
pub(crate) mod testing {
    use super::digit_to_event;
    use super::inband::{COLUMN_HZ, ROW_HZ};

    /// The (row, column) frequencies of a digit.
    pub fn frequencies(digit: char) -> (f64, f64) {
        let event = usize::from(digit_to_event(digit).expect("a DTMF digit"));
        // Keypad layout: 1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D.
        let (row, column) = match event {
            0 => (3, 1),
            1..=9 => ((event - 1) / 3, (event - 1) % 3),
            10 => (3, 0),
            11 => (3, 2),
            _ => (event - 12, 3),
        };
        (ROW_HZ[row], COLUMN_HZ[column])
    }

    /// `ms` milliseconds at 8 kHz of the two tones of `digit`, each with
    /// peak `amplitude`, the column tone `twist_db` louder than the row tone.
    pub fn tone_with_twist(digit: char, ms: usize, amplitude: f64, twist_db: f64) -> Vec<i16> {
        let (row, column) = frequencies(digit);
        let column_amplitude = amplitude * 10f64.powf(twist_db / 20.0);
        (0..ms * 8)
            .map(|n| {
                let t = n as f64 / 8000.0;
                let v = amplitude * (2.0 * std::f64::consts::PI * row * t).sin()
                    + column_amplitude * (2.0 * std::f64::consts::PI * column * t + 0.7).sin();
                v.round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    /// `ms` milliseconds of `digit` with both tones at `amplitude`.
    pub fn tone(digit: char, ms: usize, amplitude: f64) -> Vec<i16> {
        tone_with_twist(digit, ms, amplitude, 0.0)
    }

    pub fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4733_table_3_event_codes() {
        let table = [
            (0, '0'),
            (5, '5'),
            (9, '9'),
            (10, '*'),
            (11, '#'),
            (12, 'A'),
            (13, 'B'),
            (14, 'C'),
            (15, 'D'),
        ];
        for (event, digit) in table {
            assert_eq!(event_to_digit(event), Some(digit));
            assert_eq!(digit_to_event(digit), Some(event));
        }
        assert_eq!(event_to_digit(16), None, "flash is not a digit");
        assert_eq!(event_to_digit(255), None);
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
    }
}
