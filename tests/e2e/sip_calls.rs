//! Calls placed by sipp: the basic call over UDP and TCP, a late offer,
//! CANCEL, RFC 4733 keys, hold and unhold by re-INVITE, a key by SIP INFO, a
//! caller that never ACKs, a caller that stays silent and one whose RTP never
//! comes.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::harness::{self, Engine, SippRun, call_id, free_media_port, message, sipp};

/// RTP the engine sent to the test's socket.
struct RtpSeen {
    packets: usize,
    payload_types: Vec<u8>,
    /// Sequence numbers that did not follow the previous packet's by one.
    seq_gaps: usize,
    /// Timestamps that did not advance by 160 (20 ms at 8 kHz).
    ts_jumps: usize,
    markers: usize,
}

/// Listen on `socket` for `window`, checking each RTP header.
fn collect_rtp(socket: UdpSocket, window: Duration) -> RtpSeen {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + window;
    let mut seen = RtpSeen {
        packets: 0,
        payload_types: Vec::new(),
        seq_gaps: 0,
        ts_jumps: 0,
        markers: 0,
    };
    let mut last: Option<(u16, u32)> = None;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        assert!(n >= 12, "short RTP packet");
        assert_eq!(buf[0] >> 6, 2, "RTP version 2");
        let pt = buf[1] & 0x7f;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if buf[1] & 0x80 != 0 {
            seen.markers += 1;
        }
        if !seen.payload_types.contains(&pt) {
            seen.payload_types.push(pt);
        }
        if let Some((s, t)) = last {
            if seq != s.wrapping_add(1) {
                seen.seq_gaps += 1;
            }
            if ts != t.wrapping_add(160) {
                seen.ts_jumps += 1;
            }
        }
        assert_eq!(n - 12, 160, "20 ms of G.711 per packet");
        last = Some((seq, ts));
        seen.packets += 1;
    }
    seen
}

/// One sipp call over UDP whose RTP goes nowhere (a free port); it must succeed.
fn udp_call(engine: &Engine, scenario: &str) -> SippRun {
    let run = sipp(
        engine,
        scenario,
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &[],
    );
    run.assert_success(engine);
    run
}

/// A sipp call whose RTP goes to a socket of the test, which checks every
/// packet for `hold_ms` + 500 ms; the call must succeed.
fn call_hearing_rtp(
    engine: &Engine,
    scenario: &str,
    transport: &str,
    hold_ms: u64,
) -> (SippRun, RtpSeen) {
    let rtp_port = free_media_port();
    let socket = UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    let listener =
        std::thread::spawn(move || collect_rtp(socket, Duration::from_millis(hold_ms + 500)));
    let hold = hold_ms.to_string();
    let run = sipp(
        engine,
        scenario,
        transport,
        &[("rtp_port", rtp_port.to_string())],
        &["-d", &hold],
    );
    run.assert_success(engine);
    (run, listener.join().unwrap())
}

fn basic_call(transport: &str) {
    let engine = Engine::start();
    let (run, rtp) = call_hearing_rtp(&engine, "basic_call.xml", transport, 3000);
    // 3 s of prompt at 50 packets a second; allow for set-up time.
    assert!(
        rtp.packets >= 100,
        "only {} RTP packets from the engine",
        rtp.packets
    );
    assert_eq!(rtp.payload_types, [0], "PCMU, the caller's first choice");
    assert_eq!(rtp.seq_gaps, 0, "sequence numbers are consecutive");
    assert!(
        rtp.ts_jumps <= 1,
        "timestamps advance 160 per packet (one jump allowed between prompts): {}",
        rtp.ts_jumps
    );
    assert!(
        rtp.markers >= 1,
        "the first packet of a talkspurt has the marker bit"
    );
    let id = engine.id_of(&run.call_id());
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "RemoteBye");
    assert!(
        run.messages.contains("SIP/2.0 100 Trying"),
        "100 Trying sent"
    );
}

#[test]
fn basic_call_over_udp_plays_prompt_rtp_and_hangs_up_cleanly() {
    basic_call("u1");
}

#[test]
fn basic_call_over_tcp() {
    basic_call("t1");
}

#[test]
fn cancel_before_answer_gets_487() {
    let engine = Engine::start_with("[calls]\nanswer_delay_ms = 3000\n");
    let run = udp_call(&engine, "cancel.xml");
    assert!(
        run.messages.contains("SIP/2.0 487"),
        "487 Request Terminated sent"
    );
    let id = engine.id_of(&run.call_id());
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "Cancelled");
}

#[test]
fn rfc4733_digits_are_each_detected_once() {
    let engine = Engine::start();
    // sipp sends the captured DTMF from its media port; advertise that port.
    let media = free_media_port();
    let run = sipp(
        &engine,
        "dtmf.xml",
        "u1",
        &[("rtp_port", media.to_string())],
        &["-mp", &media.to_string()],
    );
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    let keys = engine.keys_pressed(&id);
    assert_eq!(
        keys,
        ["1", "2", "9"],
        "each key once, in order\n{}",
        engine.dump()
    );
    // The engine hung up (sipp received its BYE) after the keys.
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
}

#[test]
fn a_caller_that_never_acks_gets_the_200_again_then_a_bye() {
    let engine = Engine::start();
    let run = udp_call(&engine, "no_ack.xml");
    // T1 = 100 ms: resent at 0.1, 0.3, 0.7, 1.5, 3.1 s… until 64*T1 = 6.4 s.
    let oks = run.messages.matches("SIP/2.0 200 OK").count();
    assert!(oks >= 5, "200 OK seen {oks} times:\n{}", run.messages);
    let id = engine.id_of(&run.call_id());
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "AckTimeout");
}

#[test]
fn a_silent_caller_is_routed_by_the_menu_default_never_hung_up_on_for_silence() {
    // No key at all: the menu plays out (English then French), its timer
    // runs out, the default routes the call; with nobody to take it the
    // call goes to its centre's line, which is not there, and the engine
    // says so and sends BYE.
    let engine = Engine::start_in("", |flows| {
        std::fs::write(flows.join("211.yaml"), harness::SHORT_FLOW).unwrap()
    });
    let run = udp_call(&engine, "silent_caller.xml");
    let id = engine.id_of(&run.call_id());
    let decided = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "ivr" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no decision logged:\n{}", engine.dump()));
    assert_eq!(
        decided["fields"]["decision"],
        "menu greeting: no input (try 1 of 1)"
    );
    let route = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "route" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no route logged:\n{}", engine.dump()));
    assert_eq!(route["fields"]["region"], "east");
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
}

#[test]
fn sigterm_drains_and_exits() {
    let mut engine = Engine::start();
    let status = engine
        .terminate(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        engine
            .wait_for(Duration::from_secs(1), |v| message(v)
                == "drained: no calls in progress")
            .is_some()
    );
}

#[test]
fn hold_and_unhold_by_reinvite_then_a_key_by_sip_info() {
    // The short flow: key 5 is no choice; with one try the menu's default
    // routes and the engine hangs up.
    let engine = Engine::start_in("", |flows| {
        std::fs::write(flows.join("211.yaml"), harness::SHORT_FLOW).unwrap()
    });
    let rtp_port = free_media_port();
    let socket = UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Arrival times of the engine's RTP while the call runs (~6 s).
    let listener = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(7);
        let mut arrivals = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if socket.recv(&mut buf).is_ok() {
                arrivals.push(Instant::now());
            }
        }
        arrivals
    });
    let run = sipp(
        &engine,
        "hold_and_info.xml",
        "u1",
        &[("rtp_port", rtp_port.to_string())],
        &[],
    );
    run.assert_success(&engine);
    let arrivals = listener.join().unwrap();
    assert!(
        arrivals.len() >= 80,
        "prompt audio before and after the hold: {} packets",
        arrivals.len()
    );
    // On hold (1.5 s) the engine sends nothing; off hold it resumes.
    let (gap_at, gap) = arrivals
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i, w[1] - w[0]))
        .max_by_key(|&(_, gap)| gap)
        .expect("packets");
    assert!(
        gap >= Duration::from_millis(1200),
        "no silence while on hold: longest gap {gap:?}"
    );
    assert!(
        arrivals.len() - gap_at > 25,
        "audio resumed after the hold: {} packets",
        arrivals.len() - gap_at - 1
    );
    let id = engine.id_of(&run.call_id());
    let keys = engine.keys_pressed(&id);
    assert_eq!(keys, ["5"], "the INFO key, once");
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
}

#[test]
fn engine_hangs_up_when_the_callers_rtp_never_comes() {
    // sipp's caller sends no RTP at all: a phone that lost its network.
    let engine = Engine::start_with("[media]\nrtp_timeout_s = 1\n");
    let run = udp_call(&engine, "silent_caller.xml");
    let id = engine.id_of(&run.call_id());
    let warned = engine
        .wait_for(Duration::from_secs(1), |v| {
            message(v) == "no RTP from the caller: hanging up" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no RTP timeout logged:\n{}", engine.dump()));
    assert_eq!(warned["level"], "WARN");
    let ended = engine.call_ended(&id);
    assert_eq!(ended["fields"]["reason"], "LocalBye");
    let ms = ended["fields"]["duration_ms"].as_u64().unwrap();
    assert!(
        (1000..5000).contains(&ms),
        "hung up after {ms} ms, not after the 1 s RTP timeout"
    );
}

#[test]
fn late_offer_the_engine_offers_in_the_200_and_the_ack_answers() {
    let engine = Engine::start();
    let (run, rtp) = call_hearing_rtp(&engine, "late_offer.xml", "u1", 2000);
    assert!(
        rtp.packets >= 60,
        "only {} RTP packets after the ACK's answer",
        rtp.packets
    );
    assert_eq!(rtp.payload_types, [8], "PCMA, the codec the ACK answered");
    assert_eq!(rtp.seq_gaps, 0);
    assert_eq!(
        engine.call_ended(&engine.id_of(&run.call_id()))["fields"]["reason"],
        "RemoteBye"
    );
}
