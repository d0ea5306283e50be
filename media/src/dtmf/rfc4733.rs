//! RFC 4733 telephone-events: DTMF digits sent as RTP packets of their own
//! payload type (negotiated as `a=rtpmap:<pt> telephone-event/8000`).
//!
//! A key press is one *event*, identified by the RTP timestamp of its start
//! (§2.5.1.1). The sender repeats the event every 50 ms or so with a
//! growing duration while the key is down, then sends the final packet
//! (E bit set) three times (§2.5.1.4). Any of these packets can be lost,
//! including the first ones, so the detector reports a digit on the first
//! packet it sees of a new event and ignores every other packet carrying
//! the same event timestamp.

use super::{DtmfError, event_to_digit};

/// One telephone-event payload (RFC 4733 §2.3):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |     event     |E|R| volume    |          duration             |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (§3.2: 0–15 are the DTMF digits).
    pub event: u8,
    /// E bit: this packet reports the end of the event (§2.3.2).
    pub end: bool,
    /// Power level in -dBm0, 0–63 (§2.3.4).
    pub volume: u8,
    /// Duration so far in timestamp units (§2.3.5).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of a payload. Payloads carrying several events
    /// (RFC 2198 redundancy is a different payload type) are rare; the first
    /// is the current one.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let &[event, flags, d0, d1, ..] = payload else {
            return Err(DtmfError::TooShort(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload (the R bit is always sent as 0).
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d0,
            d1,
        ]
    }

    /// The keypad digit of this event, if it is a DTMF event.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// Turns the stream of telephone-event packets of one RTP source into
/// digits, one per key press (RFC 4733 §2.5.1).
///
/// Packets are matched to events by their RTP timestamp; sequence numbers
/// tell a late, reordered packet of an older event from a new event.
/// Call [`Rfc4733Detector::reset`] when the source (SSRC) changes.
#[derive(Debug, Clone, Default)]
pub struct Rfc4733Detector {
    current: Option<CurrentEvent>,
    highest_sequence: Option<u16>,
}

/// The event most recently reported.
#[derive(Debug, Clone, Copy)]
struct CurrentEvent {
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// RFC 4733 §2.5.1.3: an event longer than the duration field can count is
/// sent as segments; each new segment starts where the previous one ended,
/// 0xFFFF timestamp units later, with the same event code.
const SEGMENT_LENGTH: u32 = 0xFFFF;

impl Rfc4733Detector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet: its RTP timestamp, sequence number
    /// and payload. Returns the digit when this packet is the first seen of
    /// a new DTMF event. Malformed payloads and non-DTMF events give `None`.
    pub fn feed(&mut self, timestamp: u32, sequence: u16, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload).ok()?;
        let digit = event.digit()?;
        let stale = self
            .highest_sequence
            .is_some_and(|h| sequence_before(sequence, h));
        if !stale {
            self.highest_sequence = Some(sequence);
        }
        match &mut self.current {
            Some(current) if current.timestamp == timestamp => {
                // Another packet of the event already reported: a
                // progress update or one of the three final packets.
                current.ended |= event.end;
                current.duration = current.duration.max(event.duration);
                None
            }
            // A late packet of an event older than the current one.
            Some(_) if stale => None,
            Some(current)
                if current.event == event.event
                    && !current.ended
                    && timestamp.wrapping_sub(current.timestamp) == SEGMENT_LENGTH =>
            {
                // The next segment of a very long key press: same digit.
                *current = CurrentEvent {
                    timestamp,
                    event: event.event,
                    ended: event.end,
                    duration: event.duration,
                };
                None
            }
            _ => {
                self.current = Some(CurrentEvent {
                    timestamp,
                    event: event.event,
                    ended: event.end,
                    duration: event.duration,
                });
                Some(digit)
            }
        }
    }

    /// Forgets the stream: the next event is new whatever its timestamp
    /// (the sender changed SSRC, so its numbering restarted).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// RFC 3550 §A.1 serial-number order: `a` comes before `b`.
fn sequence_before(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    /// The packets a phone sends for one key press (§2.5.1): `updates`
    /// progress packets every 50 ms, then the final packet three times.
    fn key_press(
        event: u8,
        timestamp: u32,
        first_seq: u16,
        updates: u16,
    ) -> Vec<(u32, u16, [u8; 4])> {
        let mut packets = Vec::new();
        let mut seq = first_seq;
        for i in 1..=updates {
            packets.push((timestamp, seq, payload(event, false, i * 400)));
            seq = seq.wrapping_add(1);
        }
        for _ in 0..3 {
            packets.push((timestamp, seq, payload(event, true, (updates + 1) * 400)));
            seq = seq.wrapping_add(1);
        }
        packets
    }

    fn run(detector: &mut Rfc4733Detector, packets: &[(u32, u16, [u8; 4])]) -> String {
        packets
            .iter()
            .filter_map(|(ts, seq, p)| detector.feed(*ts, *seq, p))
            .collect()
    }

    #[test]
    fn payload_fields_follow_section_2_3() {
        let e = TelephoneEvent::parse(&[0x0B, 0x8A, 0x03, 0x20]).expect("4 bytes");
        assert_eq!(
            e,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.digit(), Some('#'));
        assert_eq!(e.to_bytes(), [0x0B, 0x8A, 0x03, 0x20]);
        // The reserved bit is ignored on input.
        let r = TelephoneEvent::parse(&[1, 0x40 | 7, 0, 160]).expect("4 bytes");
        assert_eq!((r.end, r.volume, r.duration), (false, 7, 160));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort(3))
        );
    }

    #[test]
    fn one_digit_per_key_press_including_the_three_end_packets() {
        let mut d = Rfc4733Detector::new();
        assert_eq!(run(&mut d, &key_press(5, 1000, 100, 4)), "5");
    }

    #[test]
    fn key_press_whose_start_packets_were_lost_is_reported_on_the_end_packet() {
        let mut d = Rfc4733Detector::new();
        let packets = key_press(9, 1000, 100, 4);
        assert_eq!(run(&mut d, &packets[4..]), "9");
    }

    #[test]
    fn same_digit_pressed_twice_is_two_digits() {
        let mut d = Rfc4733Detector::new();
        let mut packets = key_press(1, 8000, 10, 2);
        packets.extend(key_press(1, 8000 + 4000, 15, 2));
        packets.extend(key_press(11, 8000 + 8000, 20, 1));
        assert_eq!(run(&mut d, &packets), "11#");
    }

    #[test]
    fn duplicated_packets_are_ignored() {
        let mut d = Rfc4733Detector::new();
        let mut packets = Vec::new();
        for p in key_press(3, 500, 1, 3) {
            packets.push(p);
            packets.push(p);
        }
        assert_eq!(run(&mut d, &packets), "3");
    }

    #[test]
    fn late_end_packet_of_the_previous_key_press_is_not_reported_again() {
        let mut d = Rfc4733Detector::new();
        let first = key_press(2, 1000, 100, 2); // seq 100..=104
        let second = key_press(4, 5000, 105, 2); // seq 105..=109
        let mut packets = first[..3].to_vec(); // 2 updates + 1 end packet
        packets.push(second[0]);
        packets.push(first[3]); // reordered: arrives after the next event began
        packets.push(first[4]);
        packets.extend_from_slice(&second[1..]);
        assert_eq!(run(&mut d, &packets), "24");
    }

    #[test]
    fn new_event_is_recognised_across_timestamp_and_sequence_wrap() {
        let mut d = Rfc4733Detector::new();
        let mut packets = key_press(7, u32::MAX - 100, 65_533, 1); // seq wraps
        packets.extend(key_press(8, 700, 1, 1)); // timestamp wrapped
        assert_eq!(run(&mut d, &packets), "78");
    }

    #[test]
    fn long_key_press_split_into_segments_is_one_digit() {
        let mut d = Rfc4733Detector::new();
        let mut packets = vec![
            (1000, 1, payload(0, false, 400)),
            (1000, 2, payload(0, false, 0xFFFF)),
        ];
        let next = 1000 + SEGMENT_LENGTH;
        packets.push((next, 3, payload(0, false, 400)));
        packets.push((next, 4, payload(0, true, 800)));
        assert_eq!(run(&mut d, &packets), "0");
    }

    #[test]
    fn non_dtmf_events_and_short_payloads_are_ignored() {
        let mut d = Rfc4733Detector::new();
        assert_eq!(d.feed(1, 1, &payload(16, false, 400)), None, "flash");
        assert_eq!(d.feed(2, 2, &[5, 0x80]), None);
        assert_eq!(d.feed(3, 3, &[]), None);
        assert_eq!(d.feed(4, 4, &payload(12, false, 400)), Some('A'));
    }

    #[test]
    fn reset_forgets_the_previous_source() {
        let mut d = Rfc4733Detector::new();
        assert_eq!(run(&mut d, &key_press(6, 9000, 5000, 1)), "6");
        d.reset();
        // A new SSRC may reuse any timestamp and sequence number.
        assert_eq!(run(&mut d, &key_press(6, 9000, 10, 1)), "6");
    }
}
