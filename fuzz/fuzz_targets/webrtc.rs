//! The engine's WebRTC port faces the internet: whatever arrives there goes
//! to a browser leg ([`BrowserLeg::handle_datagram`]), and a browser's offer
//! is narrowed before the peer connection sees it ([`narrow_offer`]).
//! Neither may panic, and a hostile datagram must not take the leg to a
//! state it could only reach with the browser.
//!
//! The first byte chooses: even, the rest is an offer's text; odd, the
//! rest is a datagram for one leg answered once from a browser's offer.

#![no_main]

use std::cell::RefCell;
use std::time::{Duration, Instant};

use frontdoor_media::webrtc::{BrowserLeg, LegState, narrow_offer};
use libfuzzer_sys::fuzz_target;

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Fw5e\r\n\
a=ice-pwd:3WzW2nP0m7wHNqD1e4Ym8pRq\r\n\
a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E\r\n\
a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n";

thread_local! {
    static LEG: RefCell<(BrowserLeg, Instant)> = RefCell::new({
        let now = Instant::now();
        let (leg, _) = BrowserLeg::answer(OFFER, "127.0.0.1:40000".parse().unwrap(), now)
            .expect("the offer is answered");
        (leg, now)
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest)
            && let Ok(narrowed) = narrow_offer(text)
        {
            assert!(narrowed.contains("m=audio"), "{narrowed}");
        }
        return;
    }
    LEG.with(|cell| {
        let (leg, now) = &mut *cell.borrow_mut();
        *now += Duration::from_millis(1);
        leg.handle_datagram(*now, "127.0.0.1:51000".parse().unwrap(), rest);
        leg.handle_timeout(*now);
        while leg.poll_transmit().is_some() {}
        // Without a browser's ICE and DTLS, nothing connects.
        assert_ne!(leg.state(), LegState::Connected);
        assert!(leg.poll_audio().is_none());
    });
});
