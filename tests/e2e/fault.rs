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
    let id = engine.id_of(&run.call_id());
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
        engine.call_ended(&engine.id_of(&run.call_id()))["fields"]["reason"],
        "AckTimeout"
    );
    let received = listener.join().unwrap();
    assert_eq!(received, 0, "{received} RTP packets sent before any ACK");
}

#[test]
fn an_answer_never_acked_is_released_after_the_ack_wait() {
    // A forged INVITE never ACKs: its call slot and port go after
    // `[limits] ack_wait_s`, not after RFC 3261's 64*T1 (6.4 s here).
    let engine = Engine::start_with("[limits]\nack_wait_s = 2\n");
    let run = sipp(
        &engine,
        "no_ack.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &[],
    );
    run.assert_success(&engine);
    let ended = engine.call_ended(&engine.id_of(&run.call_id()));
    assert_eq!(ended["fields"]["reason"], "AckTimeout", "{ended}");
    let ms = ended["fields"]["duration_ms"].as_u64().unwrap();
    assert!((2000..4000).contains(&ms), "released after {ms} ms");
}

#[test]
fn a_flood_from_one_source_neither_stops_the_calls_in_progress_nor_a_crisis_caller() {
    // The 50 calls come through the trusted proxy (127.0.0.1, exempt); the
    // flood from 127.0.0.3 and the crisis caller from 127.0.0.4 are each
    // one source of the internet (loopback limited like any address).
    let dir = crate::harness::TempDir::new("crisis-line");
    let (far, port, trace) = crate::external::far_end_hanging_up(&dir);
    let line = format!("sip:988@127.0.0.1:{port}");
    let engine = Engine::start_in(
        "[sip]\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [limits]\nlimit_loopback = true\ninvites_per_s = 5\ninvite_burst = 20\n\
         [media]\nrtp_ports = \"30000-30499\"\n",
        |flows| {
            crate::harness::edit(
                &flows.join("centres.yaml"),
                "external: \"sip:988@crisis-gateway.example.org\"",
                &format!("external: \"{line}\""),
            )
        },
    );

    // 50 calls in progress, their RTP to one socket of the test.
    let rtp_port = free_media_port();
    let sink = UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    let listening_until = Instant::now() + Duration::from_secs(14);
    let listener = thread::spawn(move || {
        sink.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        // Per stream (SSRC): the last sequence number, packets, gaps.
        let mut streams: std::collections::HashMap<u32, (u16, u32, u32)> = Default::default();
        let mut buf = [0u8; 2048];
        while Instant::now() < listening_until {
            let Ok(n) = sink.recv(&mut buf) else { continue };
            if n < 12 {
                continue;
            }
            let seq = u16::from_be_bytes([buf[2], buf[3]]);
            let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            let entry = streams.entry(ssrc).or_insert((seq.wrapping_sub(1), 0, 0));
            if seq != entry.0.wrapping_add(1) {
                entry.2 += 1;
            }
            entry.0 = seq;
            entry.1 += 1;
        }
        streams
    });
    let calls_engine = engine.sip;
    let calls = thread::spawn(move || {
        std::process::Command::new("sipp")
            .arg(calls_engine.to_string())
            .args(["-sf"])
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/e2e/scenarios/basic_call.xml"),
            )
            .args(["-m", "50", "-l", "50", "-r", "50", "-d", "10000"])
            .args(["-i", "127.0.0.1", "-t", "u1", "-nostdin", "-timeout", "60s"])
            .args(["-p", &crate::harness::free_udp_port().to_string()])
            .args(["-mp", &free_media_port().to_string()])
            .args(["-key", "rtp_port", &rtp_port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run sipp")
    });
    assert!(
        engine.wait_for_count(Duration::from_secs(10), 50, |v| {
            crate::harness::message(v) == "flow started"
        }),
        "50 calls did not start:\n{}",
        engine.dump()
    );

    // The flood: 50 INVITEs a second for 3 s (10 × the source's rate).
    let flood = UdpSocket::bind("127.0.0.3:0").unwrap();
    let from = flood.local_addr().unwrap();
    let flood_engine = engine.sip;
    let flooder = thread::spawn(move || {
        for n in 0..150 {
            flood
                .send_to(&flood_invite_for(flood_engine, from, n), flood_engine)
                .unwrap();
            thread::sleep(Duration::from_millis(20));
        }
        // Which INVITEs got any answer at all.
        flood
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut answered = std::collections::HashSet::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = flood.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if let Some(id) = text.lines().find_map(|l| l.strip_prefix("Call-ID: ")) {
                answered.insert(id.trim().to_owned());
            }
        }
        answered.len()
    });

    // Meanwhile a caller in crisis, from a source of their own, presses 9.
    let crisis = crate::ivr::call_pressing_with(
        &engine,
        "+16135550123",
        &[(1000, '9')],
        &["-i", "127.0.0.4"],
    );
    let r = crate::ivr::route(&engine, &engine.id_of(&crisis.call_id()));
    assert_eq!(r["fields"]["target"], "crisis", "{r}");
    let (ok, messages) = crate::external::far_end_finished(far, &trace);
    assert!(ok, "the crisis line's call did not complete:\n{messages}");

    let answered = flooder.join().unwrap();
    // The burst (20) and 5 a second over about 3 s; the rest: silence.
    assert!(
        answered <= 40,
        "{answered} of 150 flood INVITEs were answered"
    );
    assert!(answered >= 20, "the burst is served: {answered}");
    assert!(calls.join().unwrap().success(), "the 50 calls completed");
    let streams = listener.join().unwrap();
    assert_eq!(streams.len(), 50, "one RTP stream per call");
    for (ssrc, (_, packets, gaps)) in &streams {
        assert_eq!(
            *gaps, 0,
            "stream {ssrc:x} lost packets ({packets} received)"
        );
    }
    let late: Vec<_> = engine.lines(|v| {
        crate::harness::message(v) == "media closed"
            && v["fields"]["late_wakeups"].as_u64().unwrap_or(0) > 0
    });
    assert!(late.is_empty(), "calls whose audio was late: {late:?}");
    let shed =
        engine.lines(|v| crate::harness::message(v).starts_with("requests from this source shed"));
    assert!(
        !shed.is_empty(),
        "the flood was noticed:\n{}",
        engine.dump()
    );
}

/// A new INVITE from `from` for the flood: its own Call-ID and branch, an
/// SDP naming a dead port on the flooder's own address.
fn flood_invite_for(engine: SocketAddr, from: SocketAddr, n: u32) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n",
        ip = from.ip()
    );
    format!(
        "INVITE sip:211@{engine} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+16135550199@{ip}>;tag=flood{n}\r\n\
         To: <sip:211@{engine}>\r\n\
         Call-ID: flood-{n}@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:flood@{from}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        ip = from.ip(),
    )
    .into_bytes()
}

/// A TCP connection to `to` from the local address `local`.
fn connect_from(local: &str, to: SocketAddr) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(local.parse().unwrap(), 0))
            .unwrap();
        let stream = socket.connect(to).await.expect("connect");
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

/// Whether the engine closed `stream` (reads end), waiting up to `within`.
fn closed_by_engine(mut stream: &std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_thousand_idle_tcp_connections_and_a_slow_message_do_not_keep_a_caller_out() {
    let engine = Engine::start_with(
        "[limits]\nlimit_loopback = true\ntcp_connections_per_source = 32\ntcp_message_s = 2\n",
    );
    // A thousand connections from one address, that never say anything.
    let idle: Vec<std::net::TcpStream> = (0..1000)
        .map(|_| std::net::TcpStream::connect(engine.sip).expect("connect"))
        .collect();
    // The engine keeps the source's share and closes the rest at once.
    let closed = idle
        .iter()
        .filter(|s| closed_by_engine(s, Duration::from_millis(20)))
        .count();
    assert!(
        (1000 - 32..=1000 - 32 + 5).contains(&closed),
        "{closed} of 1000 closed"
    );

    // A message begun and never finished, from elsewhere: closed after 2 s.
    let mut slow = connect_from("127.0.0.8", engine.sip);
    std::io::Write::write_all(
        &mut slow,
        b"INVITE sip:211@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.8:5999\r\n",
    )
    .unwrap();
    let started = Instant::now();
    assert!(
        closed_by_engine(&slow, Duration::from_secs(5)),
        "a truncated message keeps its connection"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // A caller over TCP from another address is answered.
    let run = sipp(
        &engine,
        "basic_call.xml",
        "t1",
        &[("rtp_port", free_media_port().to_string())],
        &["-i", "127.0.0.7", "-d", "1000"],
    );
    run.assert_success(&engine);
    drop(idle);
}

#[test]
fn near_the_call_limit_a_new_caller_hears_the_lines_are_busy_and_only_the_crisis_key_goes_on() {
    let dir = crate::harness::TempDir::new("crisis-line");
    let (far, port, trace) = crate::external::far_end_hanging_up(&dir);
    let line = format!("sip:988@127.0.0.1:{port}");
    // Four calls at most, half of them kept for callers in crisis.
    let engine = Engine::start_in(
        "[calls]\nmax_calls = 4\ncrisis_reserve_percent = 50\n",
        |flows| {
            crate::harness::edit(
                &flows.join("centres.yaml"),
                "external: \"sip:988@crisis-gateway.example.org\"",
                &format!("external: \"{line}\""),
            )
        },
    );
    // Two calls in progress fill the lines that are not reserved.
    let calls_engine = engine.sip;
    let fillers = thread::spawn(move || {
        std::process::Command::new("sipp")
            .arg(calls_engine.to_string())
            .arg("-sf")
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/e2e/scenarios/basic_call.xml"),
            )
            .args([
                "-m",
                "2",
                "-l",
                "2",
                "-d",
                "40000",
                "-i",
                "127.0.0.1",
                "-t",
                "u1",
            ])
            .args(["-nostdin", "-timeout", "90s"])
            .args(["-p", &crate::harness::free_udp_port().to_string()])
            .args(["-mp", &free_media_port().to_string()])
            .args(["-key", "rtp_port", &free_media_port().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run sipp")
    });
    assert!(
        engine.wait_for_count(Duration::from_secs(10), 2, |v| {
            crate::harness::message(v) == "flow started"
        }),
        "{}",
        engine.dump()
    );

    // A caller in crisis presses 9 during the busy message: the crisis line.
    let crisis = crate::ivr::call_pressing_with(&engine, "+16135550123", &[(1500, '9')], &[]);
    let id = engine.id_of(&crisis.call_id());
    let r = crate::ivr::route(&engine, &id);
    assert_eq!(r["fields"]["target"], "crisis", "{r}");
    let played: Vec<_> =
        engine.lines(|v| crate::harness::message(v) == "play" && crate::harness::call_id(v) == id);
    assert!(
        played[0]["fields"]["prompts"]
            .as_str()
            .is_some_and(|p| p.starts_with("en/reserve_busy fr/reserve_busy")),
        "{played:?}"
    );
    let (ok, messages) = crate::external::far_end_finished(far, &trace);
    assert!(ok, "the crisis line's call did not complete:\n{messages}");

    // Another caller presses nothing: after the message, the engine hangs up.
    let other = crate::ivr::call_pressing_with(&engine, "+16135550199", &[], &[]);
    let id = engine.id_of(&other.call_id());
    assert!(
        !engine
            .lines(|v| {
                crate::harness::message(v) == "no crisis key in the crisis reserve: hanging up"
                    && crate::harness::call_id(v) == id
            })
            .is_empty(),
        "{}",
        engine.dump()
    );
    assert!(
        engine
            .lines(|v| crate::harness::message(v) == "route" && crate::harness::call_id(v) == id)
            .is_empty()
    );
    assert!(
        fillers.join().unwrap().success(),
        "the calls in progress went on"
    );
}

/// The database off the call path: PostgreSQL stopped for a minute while
/// 20 callers go through the IVR to a queue. Every call is answered and
/// routed as usual; once the server is back, every record is in it, ended.
#[test]
fn with_postgresql_stopped_for_a_minute_calls_go_on_and_every_record_arrives() {
    let pg = crate::postgres::Postgres::start();
    let engine = Engine::start_in(
        &format!("[cti]\ndb = {:?}\n", pg.url()),
        crate::ivr::ottawa_always_open,
    );
    pg.stop();
    let stopped = Instant::now();

    // 20 callers from Ottawa, English, then the first topic: to the Ottawa
    // queue, four new calls a second.
    crate::ivr::call_pressing_with(
        &engine,
        "+16135550142",
        &[(1000, '1'), (1500, '2')],
        &["-m", "20", "-l", "20", "-r", "4"],
    );
    let routes = engine.lines(|v| crate::harness::message(v) == "route");
    assert_eq!(routes.len(), 20, "{}", engine.dump());
    for r in &routes {
        assert_eq!(r["fields"]["target"], "centre:ottawa", "{r}");
    }
    let ids: std::collections::BTreeSet<String> = routes
        .iter()
        .map(|v| crate::harness::call_id(v).to_owned())
        .collect();
    assert!(
        stopped.elapsed() < Duration::from_secs(50),
        "the calls took {:?}: they waited on the database",
        stopped.elapsed()
    );
    // A load balancer's probe gets its answer at once, not the pool's wait.
    let asked = std::time::Instant::now();
    let (status, body) = crate::records::http(engine.http, "GET", "/healthz", None, "");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "/healthz took {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"db\":\"unreachable\""), "{body}");
    assert!(backlog(&engine) > 0, "the records wait in the spool");

    thread::sleep(Duration::from_secs(60).saturating_sub(stopped.elapsed()));
    pg.start_again();
    engine
        .wait_for(Duration::from_secs(30), |v| {
            crate::harness::message(v).starts_with("the database answers again")
        })
        .unwrap_or_else(|| panic!("the writer never saw it back:\n{}", engine.dump()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while backlog(&engine) > 0 {
        assert!(Instant::now() < deadline, "the spool was not emptied");
        thread::sleep(Duration::from_millis(200));
    }
    let stored = pg.query(
        "SELECT string_agg(call_id, ',' ORDER BY call_id) FROM call_records \
         WHERE route = 'queue:ottawa' AND ended_ms IS NOT NULL AND ivr_answered_ms IS NOT NULL",
    );
    let stored: std::collections::BTreeSet<String> = stored.split(',').map(str::to_owned).collect();
    assert_eq!(stored, ids, "every call's record, routed and ended");
    // Each record once: one arrival and one end per call.
    assert_eq!(
        pg.query("SELECT count(*) FROM call_events WHERE kind IN ('arrived', 'ended')"),
        "40"
    );
}

/// The engine's `frontdoor_spool_backlog` gauge.
fn backlog(engine: &Engine) -> u64 {
    let (_, body) = crate::records::http(engine.http, "GET", "/metrics", None, "");
    body.lines()
        .find_map(|l| l.strip_prefix("frontdoor_spool_backlog "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no spool backlog in /metrics:\n{body}"))
}
