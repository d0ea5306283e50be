//! Bad input over a real socket: each malformed message gets a 4xx/5xx or
//! is dropped with a log line, and the engine goes on serving calls.

use std::net::UdpSocket;
use std::time::Duration;

use crate::harness::{Engine, free_media_port, message, sipp};

/// Send `bytes` from a fresh socket; return the final response's status
/// line, if any (100 Trying and other provisional responses are skipped).
fn exchange(engine: &Engine, bytes: &[u8]) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    socket.send_to(bytes, engine.sip).unwrap();
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = socket.recv(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text.lines().next().unwrap_or("").to_owned();
        if !status.starts_with("SIP/2.0 1") {
            return Some(status);
        }
    }
}

fn request(method: &str, extra_headers: &str, body: &str, content_length: Option<usize>) -> String {
    let cl = content_length.unwrap_or(body.len());
    format!(
        "{method} sip:211@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+16135550123@127.0.0.1>;tag=t1\r\n\
         To: <sip:211@127.0.0.1>\r\n\
         Call-ID: malformed-{}@test\r\n\
         CSeq: 1 {method}\r\n\
         {extra_headers}Content-Length: {cl}\r\n\r\n{body}",
        fastrand_token(),
        fastrand_token(),
    )
}

fn fastrand_token() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

#[test]
fn malformed_messages_are_answered_or_dropped_and_the_engine_keeps_serving() {
    let engine = Engine::start_with("[sip]\nmax_message_bytes = 8192\n");
    let is_malformed_log = |v: &serde_json::Value| message(v) == "malformed SIP message";

    // Garbage: nothing to answer; dropped with a log line.
    assert_eq!(
        exchange(&engine, b"\x00\x01\x02 this is not SIP at all\r\n\r\n"),
        None
    );
    assert!(
        engine.wait_for_count(Duration::from_secs(2), 1, is_malformed_log),
        "garbage logged"
    );

    // A request without Call-ID: a response could not be matched; dropped, logged.
    let no_call_id = request("OPTIONS", "", "", None).replace("Call-ID: ", "X-Was-Call-ID: ");
    let reply = exchange(&engine, no_call_id.as_bytes());
    assert!(
        reply
            .as_deref()
            .is_none_or(|l| l.starts_with("SIP/2.0 400")),
        "missing Call-ID: 400 or nothing, got {reply:?}"
    );
    assert!(
        engine.wait_for_count(Duration::from_secs(2), 2, is_malformed_log),
        "missing Call-ID logged"
    );

    // A huge header, over the configured 8 KiB message limit: 513 or 400.
    let huge = request(
        "OPTIONS",
        &format!("X-Huge: {}\r\n", "a".repeat(20_000)),
        "",
        None,
    );
    let reply = exchange(&engine, huge.as_bytes()).expect("oversize message answered");
    assert!(
        reply.starts_with("SIP/2.0 513") || reply.starts_with("SIP/2.0 400"),
        "{reply}"
    );

    // Content-Length larger than the body: 400.
    let bad_cl = request(
        "INVITE",
        "Content-Type: application/sdp\r\n",
        "v=0\r\n",
        Some(9_999),
    );
    let reply = exchange(&engine, bad_cl.as_bytes()).expect("bad Content-Length answered");
    assert!(reply.starts_with("SIP/2.0 400"), "{reply}");

    // Well-formed but unwelcome requests get their proper answers.
    let reply = exchange(&engine, request("OPTIONS", "", "", None).as_bytes()).unwrap();
    assert!(reply.starts_with("SIP/2.0 200"), "OPTIONS: {reply}");
    let reply = exchange(
        &engine,
        request("BYE", "", "", None)
            .replace(
                "To: <sip:211@127.0.0.1>",
                "To: <sip:211@127.0.0.1>;tag=nope",
            )
            .as_bytes(),
    )
    .unwrap();
    assert!(
        reply.starts_with("SIP/2.0 481"),
        "BYE for no dialog: {reply}"
    );
    let reply = exchange(
        &engine,
        request("SUBSCRIBE", "Event: presence\r\n", "", None).as_bytes(),
    )
    .unwrap();
    assert!(reply.starts_with("SIP/2.0 405"), "SUBSCRIBE: {reply}");
    let reply = exchange(&engine, request("FROBNICATE", "", "", None).as_bytes()).unwrap();
    assert!(reply.starts_with("SIP/2.0 501"), "unknown method: {reply}");
    let reply = exchange(
        &engine,
        request("INVITE", "", "", None)
            .replace("sip:211@", "sip:999@")
            .as_bytes(),
    )
    .unwrap();
    assert!(
        reply.starts_with("SIP/2.0 404"),
        "a number we do not answer: {reply}"
    );

    // And the next normal call still succeeds.
    let run = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &["-d", "500"],
    );
    run.assert_success(&engine);
}

#[test]
fn an_offer_with_no_common_codec_is_refused_with_488() {
    let engine = Engine::start();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let invite = request(
        "INVITE",
        "Contact: <sip:caller@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\n",
        sdp,
        None,
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(2000)))
        .unwrap();
    socket.send_to(invite.as_bytes(), engine.sip).unwrap();
    let mut buf = vec![0u8; 65_535];
    let mut finals = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        let line = String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        if !line.starts_with("SIP/2.0 1") {
            finals.push(line);
            break;
        }
    }
    assert_eq!(finals.len(), 1, "a final response");
    assert!(finals[0].starts_with("SIP/2.0 488"), "{}", finals[0]);
}
