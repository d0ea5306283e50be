//! The fault suite: real attacks and faults against the real binary, each
//! with what the engine must still do.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Engine, free_media_port, sipp};

/// An RTP packet: version 2, `pt`, `seq`, `ts`, `ssrc`, then `payload`.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// RTP packets received on `socket` until `until`, and who sent the first.
fn count_until(socket: &UdpSocket, until: Instant) -> (usize, Option<SocketAddr>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let (mut count, mut first) = (0, None);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        if let Ok((n, from)) = socket.recv_from(&mut buf)
            && n >= 12
        {
            count += 1;
            first.get_or_insert(from);
        }
    }
    (count, first)
}

#[test]
fn rtp_from_a_stranger_during_a_call_is_neither_heard_nor_obeyed() {
    let engine = Engine::start();
    let rtp_port = free_media_port();
    let caller = UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media = thread::spawn(move || {
        // The engine's first packet tells where its RTP port is.
        caller
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 2048];
        let (_, engine_rtp) = caller
            .recv_from(&mut buf)
            .expect("the engine's prompt reaches the caller");
        // The caller sends its own audio (from the address its SDP named).
        for n in 0..5u16 {
            let packet = rtp(0, n == 0, n, u32::from(n) * 160, 0x1111, &[0xFF; 160]);
            caller.send_to(&packet, engine_rtp).unwrap();
        }
        // A stranger presses 9 (the crisis key) again and again, with its
        // own SSRC, and sends audio, for two seconds; the caller listens.
        let flood_end = Instant::now() + Duration::from_secs(2);
        let mut heard = 0;
        let mut seq = 0u16;
        while Instant::now() < flood_end {
            for i in 0..4u16 {
                // event 9, end bit on the last three, volume 10, duration 800
                let end = if i > 0 { 0x80 } else { 0 };
                let payload = [9, end | 10, 0x03, 0x20];
                let packet = rtp(101, i == 0, seq, u32::from(seq / 4) * 1000, 0xBAD, &payload);
                stranger.send_to(&packet, engine_rtp).unwrap();
                seq = seq.wrapping_add(1);
            }
            let audio = rtp(0, false, seq, u32::from(seq) * 160, 0xBAD, &[0x00; 160]);
            stranger.send_to(&audio, engine_rtp).unwrap();
            heard += count_until(&caller, Instant::now() + Duration::from_millis(100)).0;
        }
        let (stranger_heard, _) =
            count_until(&stranger, Instant::now() + Duration::from_millis(200));
        (heard, stranger_heard)
    });
    let run = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", rtp_port.to_string())],
        &["-d", "6000"],
    );
    run.assert_success(&engine);
    let (heard, stranger_heard) = media.join().unwrap();
    // 2 s at 50 packets a second: the prompt went on, to the caller only.
    assert!(heard >= 80, "the caller heard {heard} packets in 2 s");
    assert_eq!(stranger_heard, 0, "the stranger received our audio");
    let id = run.call_id();
    assert_eq!(
        engine.keys_pressed(&id),
        Vec::<String>::new(),
        "a stranger's key acted on:\n{}",
        engine.dump()
    );
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "RemoteBye");
}

#[test]
fn an_invite_that_never_acks_aims_no_audio_at_the_port_its_sdp_names() {
    let engine = Engine::start();
    // The victim: a port the INVITE's SDP names that never asked for audio.
    let victim_port = free_media_port();
    let victim = UdpSocket::bind(("127.0.0.1", victim_port)).unwrap();
    let listener =
        thread::spawn(move || count_until(&victim, Instant::now() + Duration::from_secs(8)).0);
    let run = sipp(
        &engine,
        "no_ack.xml",
        "u1",
        &[("rtp_port", victim_port.to_string())],
        &[],
    );
    run.assert_success(&engine);
    assert_eq!(
        engine.call_ended(&run.call_id())["fields"]["reason"],
        "AckTimeout"
    );
    let received = listener.join().unwrap();
    assert_eq!(received, 0, "{received} RTP packets sent before any ACK");
}
