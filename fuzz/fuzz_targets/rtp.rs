//! The media receive path on any datagrams: the RTP header view
//! (media/src/rtp.rs), then what the session does with a packet's payload —
//! telephone-events (PT 101) into the RFC 4733 detector, G.711 (PT 0, 8)
//! decoded into the in-band DTMF detector and transcoded for a bridge.
//!
//! Input: datagrams, each after one length byte (so a datagram is at most
//! 255 bytes: a 20 ms G.711 packet is 172).
//!
//! Beyond "never panics": the parsed view stays inside the datagram, and a
//! telephone-event payload reads back from its own bytes.

#![no_main]

use frontdoor_media::dtmf::{InbandDetector, Rfc4733Detector, TelephoneEvent};
use frontdoor_media::g711::Codec;
use frontdoor_media::rtp::{HEADER_LEN, RtpPacket};
use libfuzzer_sys::fuzz_target;

/// The telephone-event payload type frontdoor offers (sip::sdp::TELEPHONE_EVENT_PT).
const TELEPHONE_EVENT_PT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    let mut rfc4733 = Rfc4733Detector::new();
    let mut inband = InbandDetector::new();
    let mut digits = Vec::new();
    let mut pcm = Vec::new();
    // A new source restarts its detector, as the session does.
    let (mut event_ssrc, mut audio_ssrc) = (None, None);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (datagram, after) = tail.split_at(usize::from(len).min(tail.len()));
        rest = after;
        let Ok(packet) = RtpPacket::parse(datagram) else {
            continue;
        };
        let payload = packet.payload();
        let csrcs = packet.csrcs().count();
        assert!(HEADER_LEN + 4 * csrcs + payload.len() <= datagram.len());
        if let Some((_, extension)) = packet.extension() {
            assert!(HEADER_LEN + 4 * csrcs + 4 + extension.len() + payload.len() <= datagram.len());
        }
        let _ = (packet.marker(), packet.padding());
        match packet.payload_type() {
            TELEPHONE_EVENT_PT => {
                if event_ssrc
                    .replace(packet.ssrc())
                    .is_some_and(|s| s != packet.ssrc())
                {
                    rfc4733.reset();
                }
                if let Ok(event) = TelephoneEvent::parse(payload) {
                    assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
                }
                if let Some(digit) = rfc4733.feed(packet.timestamp(), packet.sequence(), payload) {
                    digits.push(digit);
                }
            }
            pt @ (0 | 8) => {
                let (codec, other) = if pt == 0 {
                    (Codec::Pcmu, Codec::Pcma)
                } else {
                    (Codec::Pcma, Codec::Pcmu)
                };
                if audio_ssrc
                    .replace(packet.ssrc())
                    .is_some_and(|s| s != packet.ssrc())
                {
                    inband.reset();
                }
                pcm.clear();
                codec.decode_into(payload, &mut pcm);
                assert_eq!(pcm.len(), payload.len());
                inband.feed(&pcm, &mut digits);
                let mut bridged = payload.to_vec();
                codec.transcode_in_place(other, &mut bridged);
            }
            _ => {}
        }
    }
});
