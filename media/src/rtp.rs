//! RTP packets (RFC 3550 §5.1): a zero-copy header view for the receive
//! path, an allocation-free writer for the send path, and [`RtpSender`],
//! the per-call sequence/timestamp/marker state of an outgoing G.711 stream.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers (CC)        |
//! |  [extension: profile (16) | length in words (16) | data ...]  |
//! |  payload ...                   [padding ... | padding count]  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use thiserror::Error;

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;

/// Why a datagram is not an RTP packet. Every variant is the peer's fault
/// (or a stray datagram); the receive path counts and drops them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Fewer bytes than the headers announce.
    #[error("RTP packet too short: {needed} bytes of header needed, {len} received")]
    TooShort { len: usize, needed: usize },
    /// Version field other than 2 (RFC 3550 §5.1).
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or larger than the payload (RFC 3550 §5.1, P bit).
    #[error("bad RTP padding: count {count}, {available} bytes after the header")]
    BadPadding { count: u8, available: usize },
}

/// A parsed RTP packet borrowing the datagram it came from: parsing checks
/// the lengths once and the getters read fields in place, so the receive
/// path allocates nothing per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    data: &'a [u8],
    payload_start: usize,
    payload_end: usize,
    extension_start: Option<usize>,
}

impl<'a> RtpPacket<'a> {
    /// Checks `data` as an RTP packet (RFC 3550 §5.1, §5.3.1). Never
    /// panics: every inconsistency is an `Err`.
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        let len = data.len();
        if len < HEADER_LEN {
            return Err(RtpError::TooShort {
                len,
                needed: HEADER_LEN,
            });
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let csrc_count = usize::from(data[0] & 0x0F);
        let mut header_len = HEADER_LEN + 4 * csrc_count;
        if len < header_len {
            return Err(RtpError::TooShort {
                len,
                needed: header_len,
            });
        }
        let mut extension_start = None;
        if data[0] & 0x10 != 0 {
            // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit
            // words (not counting this 4-byte header), then the data.
            if len < header_len + 4 {
                return Err(RtpError::TooShort {
                    len,
                    needed: header_len + 4,
                });
            }
            let words = usize::from(u16::from_be_bytes([
                data[header_len + 2],
                data[header_len + 3],
            ]));
            extension_start = Some(header_len);
            header_len += 4 + 4 * words;
            if len < header_len {
                return Err(RtpError::TooShort {
                    len,
                    needed: header_len,
                });
            }
        }
        let mut payload_end = len;
        if data[0] & 0x20 != 0 {
            // The last byte counts the padding bytes, itself included.
            let count = data[len - 1];
            let available = len - header_len;
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::BadPadding { count, available });
            }
            payload_end -= usize::from(count);
        }
        Ok(RtpPacket {
            data,
            payload_start: header_len,
            payload_end,
            extension_start,
        })
    }

    /// The P bit: the packet carried padding (already removed from `payload`).
    pub fn padding(&self) -> bool {
        self.data[0] & 0x20 != 0
    }

    /// The M bit. For audio, the first packet of a talkspurt (RFC 3551 §4.1);
    /// for telephone-events, the first packet of an event (RFC 4733 §2.5.1.1).
    pub fn marker(&self) -> bool {
        self.data[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.data[1] & 0x7F
    }

    /// The 16-bit sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.data[2], self.data[3]])
    }

    /// The 32-bit media timestamp (8000 Hz for G.711 and telephone-event).
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.data[4], self.data[5], self.data[6], self.data[7]])
    }

    /// The synchronisation source: identifies one sender's stream.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.data[8], self.data[9], self.data[10], self.data[11]])
    }

    /// The contributing sources listed by a mixer (usually none).
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let count = usize::from(self.data[0] & 0x0F);
        self.data[HEADER_LEN..HEADER_LEN + 4 * count]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension (RFC 3550 §5.3.1): its 16-bit profile id and data.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        let start = self.extension_start?;
        let profile = u16::from_be_bytes([self.data[start], self.data[start + 1]]);
        Some((profile, &self.data[start + 4..self.payload_start]))
    }

    /// The payload, without headers or padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.payload_start..self.payload_end]
    }
}

/// The fields of an outgoing packet's fixed header. We never send CSRCs,
/// extensions or padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// 7-bit payload type; the eighth bit is ignored.
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Writes one packet into `buf`, replacing its contents. Reusing one `buf`
/// per session means no allocation per packet once it has grown to
/// `HEADER_LEN + payload.len()`.
pub fn write_packet(buf: &mut Vec<u8>, header: &RtpHeader, payload: &[u8]) {
    buf.clear();
    buf.reserve(HEADER_LEN + payload.len());
    buf.push(0x80); // V=2, no padding, no extension, CC=0
    buf.push((u8::from(header.marker) << 7) | (header.payload_type & 0x7F));
    buf.extend_from_slice(&header.sequence.to_be_bytes());
    buf.extend_from_slice(&header.timestamp.to_be_bytes());
    buf.extend_from_slice(&header.ssrc.to_be_bytes());
    buf.extend_from_slice(payload);
}

/// The sending half of one RTP stream: SSRC, next sequence number, next
/// timestamp, and whether the next packet starts a talkspurt.
///
/// RFC 3550 §5.1: the initial sequence number and timestamp are random, and
/// the SSRC is random (§8). Sequence numbers go up by one per packet; the
/// timestamp counts samples (8000 Hz) and keeps following the clock through
/// silences ([`RtpSender::skip`]), so a receiver's jitter buffer stays
/// aligned. RFC 3551 §4.1: the marker bit is set on the first packet after
/// a silence.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    payload_type: u8,
    talkspurt_start: bool,
}

impl RtpSender {
    /// A stream with random SSRC, sequence number and timestamp.
    pub fn new(payload_type: u8) -> Self {
        Self::with_state(
            payload_type,
            fastrand::u32(..),
            fastrand::u16(..),
            fastrand::u32(..),
        )
    }

    /// A stream with chosen starting values (for tests and for continuing a
    /// stream).
    pub fn with_state(payload_type: u8, ssrc: u32, sequence: u16, timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            sequence,
            timestamp,
            payload_type,
            talkspurt_start: true,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet will carry.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    /// The timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// Changes the payload type (a re-INVITE switched codec). The stream,
    /// its SSRC and its numbering continue.
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    /// Writes the next packet carrying `payload` (G.711: one byte per
    /// sample) into `buf`, then advances the sequence number by one and the
    /// timestamp by the number of samples.
    pub fn next_packet(&mut self, buf: &mut Vec<u8>, payload: &[u8]) -> RtpHeader {
        let header = RtpHeader {
            payload_type: self.payload_type,
            marker: self.talkspurt_start,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        write_packet(buf, &header, payload);
        self.talkspurt_start = false;
        self.sequence = self.sequence.wrapping_add(1);
        // G.711 payloads are far below 2^32 bytes.
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
        header
    }

    /// Writes the next packet of a relayed stream into `buf`: `payload`
    /// (G.711, one byte per sample) carries `timestamp`, already re-timed
    /// onto this stream by the caller. The sequence number advances by one
    /// and the stream's timestamp continues after this payload. The marker
    /// is set when `marker` is (the source started a talkspurt) or when
    /// this stream starts one.
    pub fn relay_packet(
        &mut self,
        buf: &mut Vec<u8>,
        payload: &[u8],
        timestamp: u32,
        marker: bool,
    ) -> RtpHeader {
        self.timestamp = timestamp;
        let header = self.next_packet(buf, payload);
        if marker && !header.marker {
            buf[1] |= 0x80;
            return RtpHeader {
                marker: true,
                ..header
            };
        }
        header
    }

    /// Writes a packet of another payload type on this stream (an RFC 4733
    /// telephone-event: its timestamp is the event's start, shared by all
    /// its packets). The sequence number advances by one; the stream's
    /// timestamp and talkspurt state do not move.
    pub fn event_packet(
        &mut self,
        buf: &mut Vec<u8>,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> RtpHeader {
        let header = RtpHeader {
            payload_type,
            marker,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        write_packet(buf, &header, payload);
        self.sequence = self.sequence.wrapping_add(1);
        header
    }

    /// Lets `samples` of silence pass without sending: the timestamp
    /// advances, the sequence number does not (RFC 3550 §5.1), and the next
    /// packet starts a new talkspurt.
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.talkspurt_start = true;
    }

    /// Marks the next packet as the first of a talkspurt without moving the
    /// timestamp (use [`RtpSender::skip`] once the silence's length is known).
    pub fn end_talkspurt(&mut self) {
        self.talkspurt_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> RtpHeader {
        RtpHeader {
            payload_type: pt,
            marker,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
    }

    #[test]
    fn written_packet_parses_back_field_for_field() {
        let mut buf = Vec::new();
        let h = header(101, true, 0xBEEF, 0xDEAD_BEEF, 0x1234_5678);
        write_packet(&mut buf, &h, &[1, 2, 3, 4]);
        assert_eq!(buf.len(), HEADER_LEN + 4);
        let p = RtpPacket::parse(&buf).expect("our own packet");
        assert!(p.marker());
        assert!(!p.padding());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.sequence(), 0xBEEF);
        assert_eq!(p.timestamp(), 0xDEAD_BEEF);
        assert_eq!(p.ssrc(), 0x1234_5678);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.extension(), None);
    }

    #[test]
    fn writer_reuses_the_buffer() {
        let mut buf = Vec::with_capacity(HEADER_LEN + 160);
        let capacity = buf.capacity();
        for seq in 0..10 {
            write_packet(&mut buf, &header(0, false, seq, 0, 0), &[0xFF; 160]);
        }
        assert_eq!(buf.capacity(), capacity);
        assert_eq!(buf.len(), HEADER_LEN + 160);
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped_to_find_the_payload() {
        let mut p = vec![
            0x80 | 0x20 | 0x10 | 2, // V=2, P, X, CC=2
            8,
            0,
            1,
            0,
            0,
            0,
            160,
            0,
            0,
            0,
            9,
        ];
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // CSRCs
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD]); // extension, 1 word
        p.extend_from_slice(&[7, 7, 7]); // payload
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let packet = RtpPacket::parse(&p).expect("valid packet");
        assert_eq!(packet.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            packet.extension(),
            Some((0xBEDE, &[0xAA, 0xBB, 0xCC, 0xDD][..]))
        );
        assert!(packet.padding());
        assert_eq!(packet.payload(), &[7, 7, 7]);
        assert_eq!(packet.payload_type(), 8);
        assert_eq!(packet.timestamp(), 160);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        let ok = {
            let mut buf = Vec::new();
            write_packet(&mut buf, &header(0, false, 1, 2, 3), &[0; 4]);
            buf
        };
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = ok.clone();
            f(&mut b);
            b
        };
        let cases: Vec<(&str, Vec<u8>, RtpError)> = vec![
            ("empty", vec![], RtpError::TooShort { len: 0, needed: 12 }),
            (
                "11 bytes",
                ok[..11].to_vec(),
                RtpError::TooShort {
                    len: 11,
                    needed: 12,
                },
            ),
            ("version 1", with(&|b| b[0] = 0x40), RtpError::BadVersion(1)),
            (
                "version 0 (STUN)",
                with(&|b| b[0] = 0x00),
                RtpError::BadVersion(0),
            ),
            (
                "CSRC count beyond the end",
                with(&|b| b[0] = 0x80 | 15),
                RtpError::TooShort {
                    len: 16,
                    needed: 72,
                },
            ),
            (
                "extension header cut",
                with(&|b| {
                    b[0] = 0x90;
                    b.truncate(14);
                }),
                RtpError::TooShort {
                    len: 14,
                    needed: 16,
                },
            ),
            (
                "extension longer than the packet",
                with(&|b| {
                    b[0] = 0x90;
                    b[14] = 0xFF;
                    b[15] = 0xFF;
                }),
                RtpError::TooShort {
                    len: 16,
                    needed: 16 + 4 * 0xFFFF,
                },
            ),
            (
                "padding count zero",
                with(&|b| {
                    b[0] = 0xA0;
                    *b.last_mut().expect("non-empty") = 0;
                }),
                RtpError::BadPadding {
                    count: 0,
                    available: 4,
                },
            ),
            (
                "padding larger than payload",
                with(&|b| {
                    b[0] = 0xA0;
                    *b.last_mut().expect("non-empty") = 5;
                }),
                RtpError::BadPadding {
                    count: 5,
                    available: 4,
                },
            ),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(RtpPacket::parse(&bytes), Err(expected), "{name}");
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes() {
        let mut rng = fastrand::Rng::with_seed(4733);
        for _ in 0..20_000 {
            let len = rng.usize(0..64);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if len > 0 && rng.bool() {
                bytes[0] = 0x80 | (bytes[0] & 0x3F); // mostly version 2
            }
            if let Ok(p) = RtpPacket::parse(&bytes) {
                assert!(p.payload().len() <= bytes.len());
                let _ = (p.csrcs().count(), p.extension());
            }
        }
    }

    /// RFC 3550 §5.1 and RFC 3551 §4.1: consecutive sequence numbers,
    /// timestamps +160 per 20 ms packet, marker on the first packet of each
    /// talkspurt, timestamps advancing through the silence between them.
    #[test]
    fn sender_numbers_talkspurts_and_silences() {
        let mut sender = RtpSender::with_state(0, 42, 65_534, u32::MAX - 100);
        let mut buf = Vec::new();
        let frame = [0xFFu8; 160];
        let mut seen = Vec::new();
        for _ in 0..3 {
            let h = sender.next_packet(&mut buf, &frame);
            seen.push((h.marker, h.sequence, h.timestamp));
        }
        sender.skip(8000); // one second of silence
        for _ in 0..2 {
            let h = sender.next_packet(&mut buf, &frame);
            seen.push((h.marker, h.sequence, h.timestamp));
        }
        let t0 = u32::MAX - 100;
        assert_eq!(
            seen,
            vec![
                (true, 65_534, t0),
                (false, 65_535, t0.wrapping_add(160)),
                (false, 0, t0.wrapping_add(320)),
                (true, 1, t0.wrapping_add(480 + 8000)),
                (false, 2, t0.wrapping_add(640 + 8000)),
            ]
        );
        let last = RtpPacket::parse(&buf).expect("our own packet");
        assert_eq!((last.ssrc(), last.payload_type()), (42, 0));
    }

    #[test]
    fn sender_starts_at_random_values() {
        let a = RtpSender::new(0);
        let b = RtpSender::new(0);
        // Three independent 16/32-bit draws all colliding is a 2^-80 event.
        assert!((a.ssrc(), a.sequence(), a.timestamp()) != (b.ssrc(), b.sequence(), b.timestamp()));
    }

    #[test]
    fn end_talkspurt_sets_the_marker_without_moving_time() {
        let mut sender = RtpSender::with_state(8, 1, 10, 1000);
        let mut buf = Vec::new();
        sender.next_packet(&mut buf, &[0xD5; 160]);
        sender.end_talkspurt();
        sender.set_payload_type(0);
        let h = sender.next_packet(&mut buf, &[0xFF; 160]);
        assert_eq!(
            (h.marker, h.sequence, h.timestamp, h.payload_type),
            (true, 11, 1160, 0)
        );
    }

    #[test]
    fn relayed_and_event_packets_share_the_streams_numbering() {
        let mut sender = RtpSender::with_state(8, 7, 100, 5000);
        let mut buf = Vec::new();
        let a = sender.next_packet(&mut buf, &[0xD5; 160]);
        let b = sender.relay_packet(&mut buf, &[0xD5; 160], 5160, false);
        assert_eq!((b.sequence, b.timestamp, b.marker), (101, 5160, false));
        let e = sender.event_packet(&mut buf, 101, 5320, true, &[1, 0x8a, 0, 160]);
        assert_eq!((e.sequence, e.timestamp, e.payload_type), (102, 5320, 101));
        assert_eq!(
            sender.timestamp(),
            5320,
            "events do not move the audio clock"
        );
        // A source talkspurt start is marked even mid-stream.
        let c = sender.relay_packet(&mut buf, &[0xD5; 80], 9000, true);
        assert_eq!((c.sequence, c.timestamp, c.marker), (103, 9000, true));
        assert!(RtpPacket::parse(&buf).expect("valid").marker());
        assert_eq!(sender.timestamp(), 9080);
        assert_eq!((a.ssrc, e.ssrc, c.ssrc), (7, 7, 7));
    }
}
