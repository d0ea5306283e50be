//! A browser leg against an in-process offerer (another `rtc` peer
//! connection standing in for Chromium), datagrams passed in memory and the
//! clock simulated: ICE, DTLS-SRTP and PCMU both ways, with no socket.

use std::time::Duration;

use super::*;

const ENGINE: &str = "10.0.0.1:40000";
const BROWSER: &str = "10.0.0.2:51000";

/// The stand-in browser: a full-ICE offerer with one PCMU track.
pub(super) struct Browser {
    pub(super) pc: RTCPeerConnection,
    sender: RTCRtpSenderId,
    ssrc: u32,
    pub(super) connected: bool,
    pub(super) heard: Vec<Audio>,
}

impl Browser {
    /// A browser at `addr`, and its offer.
    pub(super) fn new(now: Instant, addr: SocketAddr) -> (Browser, String) {
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine().unwrap())
            .build(now)
            .unwrap();
        let ssrc = 0x0B0B_0B0B;
        let sender = pc.add_track(pcmu_track("browser", "mic", ssrc)).unwrap();
        pc.add_local_candidate(host_candidate(addr).unwrap())
            .unwrap();
        let offer = pc.create_offer(None).unwrap();
        let sdp = offer.sdp.clone();
        pc.set_local_description(now, offer).unwrap();
        (
            Browser {
                pc,
                sender,
                ssrc,
                connected: false,
                heard: Vec::new(),
            },
            sdp,
        )
    }

    pub(super) fn drain(&mut self) {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                RTCPeerConnectionState::Connected,
            ) = event
            {
                self.connected = true;
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, p) = message {
                self.heard.push(Audio {
                    event: p.header.payload_type != PCMU,
                    timestamp: p.header.timestamp,
                    marker: p.header.marker,
                    payload: p.payload,
                });
            }
        }
    }

    pub(super) fn say(&mut self, now: Instant, seq: u16, payload: &[u8]) {
        let packet = rtp::packet::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: PCMU,
                sequence_number: seq,
                timestamp: u32::from(seq) * 160,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        };
        self.pc
            .rtp_sender(self.sender)
            .unwrap()
            .write_rtp(now, packet)
            .unwrap();
    }
}

/// Moves every pending datagram both ways; whether any moved.
fn exchange(now: Instant, engine: &mut BrowserLeg, browser: &mut Browser) -> bool {
    let (engine_addr, browser_addr): (SocketAddr, SocketAddr) =
        (ENGINE.parse().unwrap(), BROWSER.parse().unwrap());
    let mut moved = false;
    while let Some((to, datagram)) = engine.poll_transmit() {
        assert_eq!(to, browser_addr, "the engine answers where the browser is");
        moved = true;
        browser
            .pc
            .handle_read(TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: browser_addr,
                    peer_addr: engine_addr,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: datagram,
            })
            .unwrap();
    }
    while let Some(m) = browser.pc.poll_write() {
        moved = true;
        if m.transport.peer_addr == engine_addr {
            engine.handle_datagram(now, browser_addr, &m.message);
        }
    }
    browser.drain();
    moved
}

/// Runs both sides until `done` or a simulated minute has passed.
fn run_until(
    now: &mut Instant,
    engine: &mut BrowserLeg,
    browser: &mut Browser,
    mut done: impl FnMut(&BrowserLeg, &Browser) -> bool,
) {
    let deadline = *now + Duration::from_secs(60);
    while !done(engine, browser) {
        assert!(
            *now < deadline,
            "not done within a simulated minute: {engine:?}"
        );
        if exchange(*now, engine, browser) {
            continue;
        }
        let next = [engine.poll_timeout(), browser.pc.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(*now + Duration::from_millis(10))
            .max(*now + Duration::from_millis(1));
        *now = next;
        engine.handle_timeout(*now);
        browser.pc.handle_timeout(*now).unwrap();
        browser.drain();
    }
}

#[test]
fn a_browser_connects_and_pcmu_crosses_both_ways() {
    let mut now = Instant::now();
    let (mut browser, offer) = Browser::new(now, BROWSER.parse().unwrap());
    let (mut engine, answer) = BrowserLeg::answer(&offer, ENGINE.parse().unwrap(), now).unwrap();
    // What the engine answers: ICE-lite, its one candidate, DTLS-SRTP
    // with RTCP on the same port, PCMU and telephone-event only.
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("10.0.0.1 40000 typ host"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256"), "{answer}");
    assert!(answer.contains("a=rtcp-mux"), "{answer}");
    assert!(answer.contains("a=rtpmap:0 PCMU/8000"), "{answer}");
    assert!(!answer.contains("opus"), "{answer}");
    browser
        .pc
        .set_remote_description(now, RTCSessionDescription::answer(answer).unwrap())
        .unwrap();

    run_until(&mut now, &mut engine, &mut browser, |e, b| {
        e.state() == LegState::Connected && b.connected
    });

    // The browser speaks: 20 ms of μ-law reaches the engine, as sent.
    for seq in 1..=5u16 {
        browser.say(now, seq, &[0x2A; 160]);
        run_until(&mut now, &mut engine, &mut browser, |_, _| true);
        exchange(now, &mut engine, &mut browser);
    }
    let mut heard = Vec::new();
    while let Some(audio) = engine.poll_audio() {
        heard.push(audio);
    }
    let audio: Vec<&Audio> = heard.iter().filter(|a| !a.event).collect();
    assert!(audio.len() >= 4, "the engine heard {} packets", audio.len());
    assert!(audio.iter().all(|a| a.payload.as_ref() == [0x2A; 160]));

    // The engine speaks: the caller's audio and a key reach the browser.
    for i in 0..5u32 {
        engine
            .send_audio(
                now,
                Audio {
                    event: false,
                    timestamp: 8000 + i * 160,
                    marker: i == 0,
                    payload: Bytes::from_static(&[0x55; 160]),
                },
            )
            .unwrap();
    }
    // This browser offered no telephone-event: a key is not sent, and counted.
    engine
        .send_audio(
            now,
            Audio {
                event: true,
                timestamp: 8800,
                marker: true,
                payload: Bytes::from_static(&[5, 0x0a, 0, 160]),
            },
        )
        .unwrap();
    assert_eq!(engine.events_not_sent, 1);
    exchange(now, &mut engine, &mut browser);
    let pcmu: Vec<&Audio> = browser.heard.iter().filter(|a| !a.event).collect();
    assert_eq!(pcmu.len(), 5, "the browser heard {:?}", browser.heard);
    assert!(pcmu.iter().all(|a| a.payload.as_ref() == [0x55; 160]));
    assert!(pcmu[0].marker);
    assert_eq!(pcmu.len(), browser.heard.len(), "only audio");

    // Garbage from anywhere changes nothing.
    engine.handle_datagram(now, "192.0.2.9:9".parse().unwrap(), b"\x00\x01garbage");
    engine.handle_datagram(now, BROWSER.parse().unwrap(), &[0x80; 3]);
    assert_eq!(engine.state(), LegState::Connected);
    engine.close();
    assert_eq!(engine.state(), LegState::Closed);
}

#[test]
fn an_offer_that_is_not_sdp_or_has_no_pcmu_is_refused() {
    let now = Instant::now();
    assert!(BrowserLeg::answer("hello", ENGINE.parse().unwrap(), now).is_err());
}

/// An offer as Chromium makes it for a microphone (trimmed of its
/// extensions): Opus first, then the G.711 laws and telephone-event.
const CHROMIUM_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS stream\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Fw5e\r\n\
a=ice-pwd:3WzW2nP0m7wHNqD1e4Ym8pRq\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=msid:stream mic\r\n\
a=rtcp-mux\r\n\
a=rtcp-rsize\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
a=ssrc:1001 cname:chromium\r\n";

#[test]
fn chromiums_offer_is_answered_with_pcmu_and_its_telephone_event() {
    let (_leg, answer) =
        BrowserLeg::answer(CHROMIUM_OFFER, ENGINE.parse().unwrap(), Instant::now()).unwrap();
    let m = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert_eq!(m, "m=audio 9 UDP/TLS/RTP/SAVPF 0 126", "{answer}");
    assert!(answer.contains("a=rtpmap:0 PCMU/8000"), "{answer}");
    assert!(
        answer.contains("a=rtpmap:126 telephone-event/8000"),
        "{answer}"
    );
    for other in ["opus", "G722", "PCMA", "red/", "CN/"] {
        assert!(!answer.contains(other), "{other} in {answer}");
    }
    assert!(
        answer.contains("a=ice-lite") && answer.contains("a=rtcp-mux"),
        "{answer}"
    );
    // The engine is the DTLS server: the browser starts the handshake.
    assert!(answer.contains("a=setup:passive"), "{answer}");
}

#[test]
fn the_offer_is_narrowed_to_pcmu_and_8_khz_telephone_event() {
    let narrowed = narrow_offer(CHROMIUM_OFFER).unwrap();
    assert!(
        narrowed.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0 126\r\n"),
        "{narrowed}"
    );
    for gone in [
        "opus",
        "a=fmtp:111",
        "a=rtcp-fb:111",
        "red/",
        "G722",
        "PCMA",
        "CN/",
        "telephone-event/48000",
    ] {
        assert!(!narrowed.contains(gone), "{gone} in {narrowed}");
    }
    for kept in [
        "a=ice-ufrag:Fw5e",
        "a=fingerprint:sha-256",
        "a=rtcp-mux",
        "a=ssrc:1001 cname:chromium",
    ] {
        assert!(narrowed.contains(kept), "{kept} not in {narrowed}");
    }
    assert_eq!(telephone_event_pt(&narrowed), Some(126));
    // No PCMU, no audio, or nonsense: refused with a reason.
    let opus_only = CHROMIUM_OFFER.replace(" 111 63 9 0 8 13 110 126", " 111");
    assert!(
        narrow_offer(&opus_only)
            .unwrap_err()
            .to_string()
            .contains("no PCMU")
    );
    assert!(narrow_offer("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n").is_err());
    assert!(narrow_offer("m=audio 9\r\n").is_err());
}
