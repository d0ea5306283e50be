//! One key, whatever carries it. Many desk phones send each key press
//! twice over: as RFC 4733 events in the media and as a SIP INFO. A key
//! from one carrier is taken; the same key from another carrier soon
//! after is the same press, and is dropped — once: a second press of the
//! same key comes with its own pair.

use std::time::{Duration, Instant};

use crate::session::DigitSource;

/// How far apart the carriers of one press may arrive.
pub const SAME_PRESS: Duration = Duration::from_millis(1000);

/// Keeps each key press once (sans-IO: the caller gives the time).
#[derive(Debug, Default)]
pub struct KeyOnce {
    /// Keys taken lately: the key, its carrier, when, and whether another
    /// carrier's copy has been dropped for it already.
    taken: Vec<(char, DigitSource, Instant, bool)>,
}

impl KeyOnce {
    pub fn new() -> KeyOnce {
        KeyOnce::default()
    }

    /// Whether `digit`, just received by `source`, is a new key press.
    pub fn take(&mut self, digit: char, source: DigitSource, now: Instant) -> bool {
        self.taken
            .retain(|(_, _, at, _)| now.saturating_duration_since(*at) <= SAME_PRESS);
        let copy = self
            .taken
            .iter_mut()
            .find(|(d, s, _, paired)| *d == digit && *s != source && !*paired);
        if let Some(taken) = copy {
            taken.3 = true;
            return false;
        }
        self.taken.push((digit, source, now, false));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DigitSource::{Rfc4733, SipInfo};

    #[test]
    fn a_press_sent_as_events_and_as_info_is_one_key() {
        let mut keys = KeyOnce::new();
        let t = Instant::now();
        assert!(keys.take('5', Rfc4733, t));
        assert!(!keys.take('5', SipInfo, t + Duration::from_millis(40)));
        // The INFO first this time.
        assert!(keys.take('7', SipInfo, t + Duration::from_millis(500)));
        assert!(!keys.take('7', Rfc4733, t + Duration::from_millis(520)));
    }

    #[test]
    fn the_same_key_pressed_twice_is_two_keys_by_one_carrier_or_two() {
        let mut keys = KeyOnce::new();
        let t = Instant::now();
        let ms = Duration::from_millis;
        // "11" by a phone that sends both: two keys.
        assert!(keys.take('1', Rfc4733, t));
        assert!(!keys.take('1', SipInfo, t + ms(30)));
        assert!(keys.take('1', Rfc4733, t + ms(250)));
        assert!(!keys.take('1', SipInfo, t + ms(280)));
        // "22" by one carrier: two keys.
        assert!(keys.take('2', Rfc4733, t + ms(600)));
        assert!(keys.take('2', Rfc4733, t + ms(800)));
        // Long after, another carrier's key is a new press.
        assert!(keys.take('2', SipInfo, t + ms(3000)));
    }
}
