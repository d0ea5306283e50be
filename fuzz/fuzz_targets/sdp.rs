//! SDP offer/answer (sip/src/sdp.rs) on any bytes: an offer from a caller
//! (INVITE, re-INVITE) answered with our media on IPv4 and on IPv6, and
//! the same bytes read as the answer to our offer (a 200 or an ACK).
//!
//! Beyond "never panics": an answer we make must read back as the same
//! negotiation — the codec and telephone-event we chose, our address — or
//! the far end hears nothing we meant.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use frontdoor_sip::sdp::{self, LocalMedia};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours: [IpAddr; 2] = [
        Ipv4Addr::new(198, 51, 100, 7).into(),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7).into(),
    ];
    for addr in ours {
        // Over plain transport, and over TLS (SRTP may be taken).
        for srtp in [false, true] {
            let local = LocalMedia {
                addr,
                port: 20_000,
                session_id: 4242,
                session_version: 1,
                srtp,
            };
            let Ok((answer, negotiated)) = sdp::answer(data, &local) else {
                continue;
            };
            if let Some(keys) = &negotiated.srtp {
                // Our SRTP answer names our key on one crypto line.
                let text = String::from_utf8_lossy(&answer);
                let ours: Vec<_> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("a=crypto:"))
                    .filter_map(sdp::sdes::parse)
                    .collect();
                assert_eq!(ours.len(), 1, "{text}");
                assert_eq!(ours[0].key, keys.local_key);
                continue;
            }
            let back = sdp::parse_answer(&answer).unwrap_or_else(|e| {
                panic!(
                    "our answer does not read back ({e}):\n{}",
                    String::from_utf8_lossy(&answer)
                )
            });
            assert_eq!(back.codec, negotiated.codec);
            assert_eq!(back.telephone_event, negotiated.telephone_event);
            assert_eq!(back.remote, SocketAddr::new(addr, local.port));
        }
    }
    let _ = sdp::parse_answer(data);
});
