//! Digits sent in SIP INFO requests instead of in the media.
//!
//! Two body formats are in use (neither has an RFC; both are de facto):
//!
//! - `application/dtmf-relay`: lines of `key=value`, e.g.
//!   `Signal=5\r\nDuration=160\r\n`. Keys are case-insensitive and the
//!   value may be padded with spaces (`Signal= *`). Some gateways send the
//!   RFC 4733 event number instead of the character (`Signal=11` for `#`).
//! - `application/dtmf`: the body is the digit itself (`5`), or its
//!   event number.
//!
//! One function reads both: a body with a `Signal` line is dtmf-relay,
//! anything else is taken as a bare digit.

use super::event_to_digit;

/// The digit carried by a SIP INFO DTMF body, or `None` when the body holds
/// no valid digit (bad UTF-8, no `Signal` value, an unknown symbol).
pub fn parse_dtmf_relay(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let signal = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        key.trim().eq_ignore_ascii_case("signal").then_some(value)
    });
    match signal {
        Some(value) => parse_symbol(value),
        None if text.contains('=') => None, // dtmf-relay without a Signal line
        None => parse_symbol(text),
    }
}

/// A digit written as itself (`5`, `*`, `#`, `a`–`d`) or as its RFC 4733
/// event number (`10` for `*`, `11` for `#`, `12`–`15` for `A`–`D`).
fn parse_symbol(value: &str) -> Option<char> {
    let value = value.trim();
    let mut chars = value.chars();
    match (chars.next()?, chars.next()) {
        (c @ ('0'..='9' | '*' | '#'), None) => Some(c),
        (c @ ('A'..='D' | 'a'..='d'), None) => Some(c.to_ascii_uppercase()),
        _ => value.parse::<u8>().ok().and_then(event_to_digit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_and_dtmf_bodies() {
        let table: &[(&[u8], Option<char>)] = &[
            (b"Signal=5\r\nDuration=160\r\n", Some('5')),
            (b"signal=5\r\nduration=160\r\n", Some('5')),
            (b"SIGNAL = #\nDuration = 250\n", Some('#')),
            (b"Signal= *\r\nDuration=100\r\n", Some('*')),
            (b"Duration=160\r\nSignal=9\r\n", Some('9')),
            (b"Signal=d\r\n", Some('D')),
            (b"Signal=11\r\nDuration=160\r\n", Some('#')),
            (b"Signal=10", Some('*')),
            // application/dtmf: the digit alone
            (b"7", Some('7')),
            (b"0\r\n", Some('0')),
            (b" # ", Some('#')),
            (b"15", Some('D')),
            // nothing usable
            (b"", None),
            (b"Signal=\r\nDuration=160\r\n", None),
            (b"Signal=E\r\n", None),
            (b"Signal=16\r\n", None),
            (b"Signal=55\r\n", None),
            (b"Duration=160\r\n", None),
            (b"hello", None),
            (b"\xFF\xFE", None),
        ];
        for (body, expected) in table {
            assert_eq!(
                parse_dtmf_relay(body),
                *expected,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
