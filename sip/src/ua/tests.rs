//! The user agent in simulated time: raw SIP text in, raw SIP text out.

use super::wire::split_header_list;
use super::*;
use crate::Transport;
use crate::transaction::testkit::origin;

const CALLER: &str = "127.0.0.1:5999";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: CALLER.parse().unwrap(),
    }
}

fn ua() -> UserAgent {
    UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        ..UaConfig::default()
    })
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// A request from the caller. `to_tag` makes it in-dialog.
fn request(
    method: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "{method} sip:211@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Ann\" <sip:+16135550123@127.0.0.1>;tag=caller1\r\n\
         To: <sip:211@127.0.0.1>{to_tag}\r\n\
         Call-ID: call-1@test\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:ann@{CALLER}>\r\n\
         {extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn sent(ua: &mut UserAgent) -> Vec<String> {
    std::iter::from_fn(|| ua.poll_transmit())
        .map(|d| String::from_utf8(d.bytes).unwrap())
        .collect()
}

fn events(ua: &mut UserAgent) -> Vec<UaEvent> {
    std::iter::from_fn(|| ua.poll_event()).collect()
}

fn status(msg: &str) -> &str {
    msg.lines().next().unwrap_or("")
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn to_tag(msg: &str) -> String {
    let to = header(msg, "To").unwrap();
    to.split(";tag=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// An INVITE arrives; returns the call and the time.
fn incoming(ua: &mut UserAgent, now: Instant, extra: &str, body: &str) -> CallRef {
    ua.handle_bytes(now, peer(), &request("INVITE", "inv", 1, None, extra, body));
    let out = sent(ua);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), "SIP/2.0 100 Trying");
    match events(ua).as_slice() {
        [UaEvent::Incoming(call)] => call.call,
        other => panic!("{other:?}"),
    }
}

/// Answer and ACK; returns our To tag.
fn established(ua: &mut UserAgent, now: Instant) -> (CallRef, String) {
    let call = incoming(
        ua,
        now,
        "Record-Route: <sip:proxy1;lr>, <sip:proxy2;lr>\r\n",
        SDP,
    );
    ua.answer(now, call, b"v=0\r\n".to_vec()).unwrap();
    let ok = sent(ua).remove(0);
    let tag = to_tag(&ok);
    ua.handle_bytes(now, peer(), &request("ACK", "ack", 1, Some(&tag), "", ""));
    assert!(matches!(
        events(ua).as_slice(),
        [UaEvent::Confirmed { answer: None, .. }]
    ));
    (call, tag)
}

#[test]
fn invite_gets_100_trying_and_becomes_an_incoming_call() {
    let mut ua = ua();
    ua.handle_bytes(origin(), peer(), &request("INVITE", "a", 1, None, "", SDP));
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 100 Trying");
    let ev = events(&mut ua);
    let [UaEvent::Incoming(call)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(call.caller.as_deref(), Some("+16135550123"));
    assert_eq!(call.caller_name.as_deref(), Some("Ann"));
    assert_eq!(call.dialled, "211");
    assert_eq!(call.call_id, "call-1@test");
    assert!(call.offer.is_some());
    assert_eq!(ua.calls(), 1);
}

#[test]
fn rfc3261_13_3_1_4_the_2xx_is_resent_until_the_ack() {
    let mut ua = ua();
    let t0 = origin();
    let call = incoming(&mut ua, t0, "Record-Route: <sip:proxy1;lr>\r\n", SDP);
    ua.answer(t0, call, b"v=0\r\n".to_vec()).unwrap();
    let ok = sent(&mut ua).remove(0);
    assert_eq!(status(&ok), "SIP/2.0 200 OK");
    assert_eq!(header(&ok, "Contact"), Some("<sip:211@127.0.0.1:5060>"));
    assert_eq!(
        header(&ok, "Record-Route"),
        Some("<sip:proxy1;lr>"),
        "RFC 3261 §12.1.1"
    );
    assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"));
    assert!(!to_tag(&ok).is_empty());
    // Resent at T1, then 2*T1, 4*T1… (500 ms, 1 s, 2 s).
    let mut at = Vec::new();
    let mut now = t0;
    while let Some(next) = ua.poll_timeout() {
        if next > t0 + Duration::from_millis(3600) {
            break;
        }
        now = next;
        ua.handle_timeout(now);
        if sent(&mut ua).iter().any(|m| status(m) == "SIP/2.0 200 OK") {
            at.push((now - t0).as_millis());
        }
    }
    assert_eq!(at, [500, 1500, 3500]);
    ua.handle_bytes(
        now,
        peer(),
        &request("ACK", "ack", 1, Some(&to_tag(&ok)), "", ""),
    );
    assert!(
        matches!(events(&mut ua).as_slice(), [UaEvent::Confirmed { call: c, .. }] if *c == call)
    );
    ua.handle_timeout(now + Duration::from_secs(10));
    assert!(sent(&mut ua).is_empty(), "no more resends after the ACK");
}

#[test]
fn rfc3261_13_3_1_4_no_ack_within_64_t1_ends_the_call_with_a_bye() {
    let patient = UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        ack_wait: Duration::from_secs(120),
        ..UaConfig::default()
    });
    no_ack_ends_the_call_with_a_bye_after(patient, Duration::from_secs(32));
}

#[test]
fn an_answer_never_acked_is_released_after_the_ack_wait() {
    // The default (8 s) is sooner than 64*T1: a forged INVITE's call slot
    // and port are not held for half a minute.
    no_ack_ends_the_call_with_a_bye_after(ua(), Duration::from_secs(8));
}

fn no_ack_ends_the_call_with_a_bye_after(mut ua: UserAgent, after: Duration) {
    let t0 = origin();
    let call = incoming(&mut ua, t0, "", SDP);
    ua.answer(t0, call, b"v=0\r\n".to_vec()).unwrap();
    sent(&mut ua);
    let mut bye = None;
    let mut now = t0;
    while bye.is_none() {
        now = ua.poll_timeout().expect("a timer is pending");
        assert!(now <= t0 + after, "BYE by {after:?}");
        ua.handle_timeout(now);
        bye = sent(&mut ua).into_iter().find(|m| m.starts_with("BYE "));
    }
    assert_eq!(now - t0, after);
    let bye = bye.unwrap();
    let reply = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(&bye, "Via").unwrap(),
        header(&bye, "From").unwrap(),
        header(&bye, "To").unwrap(),
        header(&bye, "Call-ID").unwrap(),
        header(&bye, "CSeq").unwrap()
    );
    ua.handle_bytes(now, peer(), reply.as_bytes());
    let ev = events(&mut ua);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            UaEvent::Ended {
                reason: EndReason::AckTimeout,
                ..
            }
        )),
        "{ev:?}"
    );
    assert_eq!(ua.calls(), 0);
}

#[test]
fn caller_bye_ends_the_call_and_a_second_bye_gets_481() {
    let mut ua = ua();
    let now = origin();
    let (call, tag) = established(&mut ua, now);
    ua.handle_bytes(now, peer(), &request("BYE", "bye1", 2, Some(&tag), "", ""));
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    assert!(
        matches!(events(&mut ua).as_slice(), [UaEvent::Ended { call: c, reason: EndReason::RemoteBye }] if *c == call)
    );
    ua.handle_bytes(now, peer(), &request("BYE", "bye2", 3, Some(&tag), "", ""));
    assert_eq!(
        status(&sent(&mut ua)[0]),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn our_bye_uses_the_dialog_state() {
    let mut ua = ua();
    let now = origin();
    let (call, tag) = established(&mut ua, now);
    ua.hangup(now, call).unwrap();
    let bye = sent(&mut ua)
        .into_iter()
        .find(|m| m.starts_with("BYE "))
        .expect("BYE sent");
    assert!(
        bye.starts_with(&format!("BYE sip:ann@{CALLER} SIP/2.0")),
        "Request-URI is the remote target: {bye}"
    );
    assert!(
        header(&bye, "From")
            .unwrap()
            .contains(&format!("tag={tag}")),
        "From carries our tag"
    );
    assert!(
        header(&bye, "To").unwrap().contains("tag=caller1"),
        "To carries the caller's tag"
    );
    let routes: Vec<_> = bye.lines().filter(|l| l.starts_with("Route:")).collect();
    assert_eq!(
        routes,
        ["Route: <sip:proxy1;lr>", "Route: <sip:proxy2;lr>"],
        "route set from Record-Route, in order"
    );
    assert!(header(&bye, "CSeq").unwrap().ends_with("BYE"));
}

#[test]
fn rfc3261_9_2_cancel_before_the_answer_gets_200_and_the_invite_487() {
    let mut ua = ua();
    let now = origin();
    let call = incoming(&mut ua, now, "", SDP);
    ua.ring(now, call).unwrap();
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 180 Ringing");
    ua.handle_bytes(now, peer(), &request("CANCEL", "inv", 1, None, "", ""));
    let out = sent(&mut ua);
    let statuses: Vec<_> = out.iter().map(|m| status(m)).collect();
    assert!(statuses.contains(&"SIP/2.0 200 OK"), "{statuses:?}");
    assert!(
        statuses.contains(&"SIP/2.0 487 Request Terminated"),
        "{statuses:?}"
    );
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Ended {
            reason: EndReason::Cancelled,
            ..
        }]
    ));
    assert_eq!(ua.calls(), 0);
}

#[test]
fn requests_we_do_not_serve_get_their_proper_status() {
    let mut ua = ua();
    let now = origin();
    let cases: &[(&[u8], &str)] = &[
        (&request("OPTIONS", "o1", 1, None, "", ""), "SIP/2.0 200 OK"),
        (
            &request("SUBSCRIBE", "s1", 1, None, "Event: presence\r\n", ""),
            "SIP/2.0 405 Method Not Allowed",
        ),
        (
            &request("INFO", "i1", 1, Some("nope"), "", ""),
            "SIP/2.0 481 Call/Transaction Does Not Exist",
        ),
        (
            &request("INVITE", "r1", 1, Some("nope"), "", SDP),
            "SIP/2.0 481 Call/Transaction Does Not Exist",
        ),
    ];
    for (bytes, expected) in cases {
        ua.handle_bytes(now, peer(), bytes);
        let out = sent(&mut ua);
        let last = out.last().map(|m| status(m)).unwrap_or("nothing");
        assert_eq!(
            last,
            *expected,
            "for {}",
            String::from_utf8_lossy(&bytes[..20])
        );
    }
    let options = {
        ua.handle_bytes(now, peer(), &request("OPTIONS", "o2", 1, None, "", ""));
        sent(&mut ua).pop().unwrap()
    };
    assert_eq!(header(&options, "Allow"), Some(ALLOW));
}

#[test]
fn a_number_we_do_not_answer_gets_404_and_draining_gets_503() {
    let mut ua = ua();
    let now = origin();
    let other = String::from_utf8(request("INVITE", "n1", 1, None, "", SDP))
        .unwrap()
        .replacen("sip:211@", "sip:4165551234@", 1);
    ua.handle_bytes(now, peer(), other.as_bytes());
    assert_eq!(
        status(sent(&mut ua).last().unwrap()),
        "SIP/2.0 404 Not Found"
    );
    ua.set_draining(true);
    ua.handle_bytes(now, peer(), &request("INVITE", "d1", 1, None, "", SDP));
    let reply = sent(&mut ua).pop().unwrap();
    assert_eq!(status(&reply), "SIP/2.0 503 Service Unavailable");
    assert_eq!(header(&reply, "Retry-After"), Some("30"));
    assert!(events(&mut ua).is_empty());
}

#[test]
fn malformed_input_is_answered_400_when_possible_and_never_panics() {
    let mut ua = ua();
    let now = origin();
    ua.handle_bytes(now, peer(), b"\x00\x01 garbage \r\n\r\n");
    assert!(sent(&mut ua).is_empty());
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Malformed {
            answered: false,
            ..
        }]
    ));
    let bad_length = String::from_utf8(request("INVITE", "b1", 1, None, "", SDP))
        .unwrap()
        .replace(
            &format!("Content-Length: {}", SDP.len()),
            "Content-Length: 9999",
        );
    ua.handle_bytes(now, peer(), bad_length.as_bytes());
    assert!(status(&sent(&mut ua)[0]).starts_with("SIP/2.0 400"));
    let unknown = String::from_utf8(request("FROB", "f1", 1, None, "", "")).unwrap();
    ua.handle_bytes(now, peer(), unknown.as_bytes());
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 501 Not Implemented");
    let huge = request(
        "OPTIONS",
        "h1",
        1,
        None,
        &format!("X-Huge: {}\r\n", "x".repeat(70_000)),
        "",
    );
    ua.handle_bytes(now, peer(), &huge);
    let out = sent(&mut ua);
    assert!(
        out.is_empty() || status(&out[0]).starts_with("SIP/2.0 513"),
        "{:?}",
        out.first().map(|m| status(m))
    );
    assert_eq!(ua.calls(), 0);
}

#[test]
fn reinvite_for_hold_is_passed_up_and_answered() {
    let mut ua = ua();
    let now = origin();
    let (call, tag) = established(&mut ua, now);
    let hold = SDP.replace("m=audio", "a=sendonly\r\nm=audio");
    ua.handle_bytes(
        now,
        peer(),
        &request("INVITE", "re1", 2, Some(&tag), "", &hold),
    );
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 100 Trying");
    assert!(
        matches!(events(&mut ua).as_slice(), [UaEvent::ReInvite { call: c, offer: Some(_) }] if *c == call)
    );
    ua.answer_reinvite(now, call, Ok(b"v=0\r\n".to_vec()))
        .unwrap();
    let ok = sent(&mut ua).remove(0);
    assert_eq!(status(&ok), "SIP/2.0 200 OK");
    assert_eq!(to_tag(&ok), tag, "same dialog");
    ua.handle_bytes(
        now,
        peer(),
        &request("ACK", "re1ack", 2, Some(&tag), "", ""),
    );
    ua.handle_timeout(now + Duration::from_secs(5));
    assert!(
        !sent(&mut ua).iter().any(|m| status(m) == "SIP/2.0 200 OK"),
        "ACKed: not resent"
    );
}

#[test]
fn info_digits_are_passed_up() {
    let mut ua = ua();
    let now = origin();
    let (call, tag) = established(&mut ua, now);
    let info = String::from_utf8(request(
        "INFO",
        "info1",
        2,
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        "",
    ))
    .unwrap()
    .replace(
        "Content-Length: 0\r\n\r\n",
        "Content-Length: 24\r\n\r\nSignal=5\r\nDuration=160\r\n",
    );
    ua.handle_bytes(now, peer(), info.as_bytes());
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    let ev = events(&mut ua);
    let [
        UaEvent::Info {
            call: c,
            content_type,
            body,
        },
    ] = ev.as_slice()
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*c, call);
    assert_eq!(content_type, "application/dtmf-relay");
    assert_eq!(body, b"Signal=5\r\nDuration=160\r\n");
}

#[test]
fn late_offer_gets_the_answer_in_the_ack() {
    let mut ua = ua();
    let now = origin();
    ua.handle_bytes(now, peer(), &request("INVITE", "late", 1, None, "", ""));
    sent(&mut ua);
    let ev = events(&mut ua);
    let [UaEvent::Incoming(incoming)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert!(incoming.offer.is_none());
    ua.answer(now, incoming.call, b"v=0 offer\r\n".to_vec())
        .unwrap();
    let tag = to_tag(&sent(&mut ua)[0]);
    ua.handle_bytes(
        now,
        peer(),
        &request("ACK", "lateack", 1, Some(&tag), "", SDP),
    );
    let ev = events(&mut ua);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Confirmed { answer: Some(a), .. }] if a == SDP.as_bytes()),
        "{ev:?}"
    );
}

#[test]
fn split_header_list_respects_brackets_and_quotes() {
    assert_eq!(
        split_header_list("<sip:a;lr>, <sip:b,c;lr>"),
        ["<sip:a;lr>", "<sip:b,c;lr>"]
    );
    assert_eq!(split_header_list("\"x, y\" <sip:a>"), ["\"x, y\" <sip:a>"]);
}

#[test]
fn register_gets_405_unless_the_registrar_is_on() {
    let mut ua = ua();
    let now = origin();
    ua.handle_bytes(now, peer(), &request("REGISTER", "reg1", 1, None, "", ""));
    let out = sent(&mut ua);
    assert_eq!(
        status(out.last().unwrap()),
        "SIP/2.0 405 Method Not Allowed"
    );
    assert_eq!(header(out.last().unwrap(), "Allow"), Some(ALLOW));
    assert!(events(&mut ua).is_empty());
}

#[test]
fn with_the_registrar_register_is_passed_up_and_answered_by_the_driver() {
    let mut ua = UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        registrar: true,
        ..UaConfig::default()
    });
    let now = origin();
    let register = request("REGISTER", "reg1", 1, None, "", "");
    ua.handle_bytes(now, peer(), &register);
    assert!(sent(&mut ua).is_empty(), "no 100 Trying for non-INVITE");
    let incoming = match events(&mut ua).pop() {
        Some(UaEvent::Register(incoming)) => incoming,
        other => panic!("{other:?}"),
    };
    assert_eq!(incoming.peer, peer());
    assert_eq!(incoming.request.method, Method::Register);
    // A retransmission while the driver looks the account up is absorbed.
    ua.handle_bytes(now, peer(), &register);
    assert!(events(&mut ua).is_empty());
    assert!(sent(&mut ua).is_empty());
    let response = message::response(&incoming.request, 200, Some("t1"));
    ua.respond_to(now, incoming.pending.clone(), response)
        .unwrap();
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), "SIP/2.0 200 OK");
    // A retransmission now gets the same final response again.
    ua.handle_bytes(now, peer(), &register);
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    // Answering twice is refused, not a panic.
    let again = message::response(&incoming.request, 200, Some("t1"));
    assert!(ua.respond_to(now, incoming.pending, again).is_err());
    // OPTIONS advertises REGISTER.
    ua.handle_bytes(now, peer(), &request("OPTIONS", "o1", 1, None, "", ""));
    let options = sent(&mut ua).pop().unwrap();
    assert_eq!(header(&options, "Allow"), Some(ALLOW_WITH_REGISTER));
}

/// The Incoming event of one INVITE carrying `extra` headers.
fn incoming_call(extra: &str) -> IncomingCall {
    let mut ua = ua();
    ua.handle_bytes(
        origin(),
        peer(),
        &request("INVITE", "pai", 1, None, extra, SDP),
    );
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 100 Trying");
    match events(&mut ua).as_slice() {
        [UaEvent::Incoming(call)] => call.clone(),
        other => panic!("{extra:?}: {other:?}"),
    }
}

#[test]
fn rfc3325_the_asserted_identity_and_privacy_come_with_the_call() {
    let call = incoming_call(
        "P-Asserted-Identity: \"Ann Smith\" <sip:+16135550999@trunk.example;user=phone>, <tel:+16135550999>\r\n\
         Privacy: header; id\r\n",
    );
    assert_eq!(call.asserted.as_deref(), Some("+16135550999"));
    assert!(call.privacy_id);
    // From stays the caller, whatever is asserted.
    assert_eq!(call.caller.as_deref(), Some("+16135550123"));

    let call = incoming_call("P-Asserted-Identity: <tel:+1-613-555-0999>\r\nPrivacy: none\r\n");
    assert_eq!(call.asserted.as_deref(), Some("+16135550999"));
    assert!(!call.privacy_id);

    let call = incoming_call("");
    assert_eq!(call.asserted, None);
    assert!(!call.privacy_id);
}

#[test]
fn a_garbage_asserted_identity_never_fails_the_invite() {
    for garbage in [
        "\"unterminated <sip:+16135550999@trunk.example>",
        "<sip:+16135550999@trunk.example",
        "<sip:a@b> junk, ,,; <<>>",
        "\\\"\\",
        "",
        "tel:",
    ] {
        let call = incoming_call(&format!(
            "P-Asserted-Identity: {garbage}\r\nPrivacy: ;;\r\n"
        ));
        assert_eq!(call.asserted, None, "{garbage:?}");
        assert!(!call.privacy_id, "{garbage:?}");
    }
}

#[test]
fn random_asserted_identities_and_privacy_never_fail_the_invite() {
    const PIECES: &[&str] = &[
        "\"",
        "\\",
        "<",
        ">",
        ",",
        ";",
        "=",
        ":",
        " ",
        "sip:",
        "sips:",
        "tel:",
        "+1613",
        "555",
        "@",
        "trunk.example",
        "anonymous",
        "id",
        "none",
        "%",
        "%4",
        "\u{e9}",
        "-",
        "user=phone",
    ];
    let mut rng = fastrand::Rng::with_seed(3325);
    for _ in 0..300 {
        let mut value = || -> String {
            (0..rng.usize(0..16))
                .map(|_| PIECES[rng.usize(..PIECES.len())])
                .collect()
        };
        let extra = format!(
            "P-Asserted-Identity: {}\r\nPrivacy: {}\r\n",
            value(),
            value()
        );
        let call = incoming_call(&extra);
        assert!(
            call.asserted.as_ref().is_none_or(|a| !a.is_empty()),
            "{extra:?}"
        );
    }
}

// ---- per-source limits (crate::guard) --------------------------------------

/// A user agent that limits loopback sources too (the tests' caller is one).
fn limited_ua(guard: GuardConfig) -> UserAgent {
    UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        guard: GuardConfig {
            limit_loopback: true,
            ..guard
        },
        ..UaConfig::default()
    })
}

/// A new INVITE with its own branch and Call-ID.
fn new_invite(n: u32, extra: &str) -> Vec<u8> {
    String::from_utf8(request("INVITE", &format!("b{n}"), 1, None, extra, SDP))
        .unwrap()
        .replacen(
            "Call-ID: call-1@test",
            &format!("Call-ID: call-{n}@test"),
            1,
        )
        .into_bytes()
}

fn shed(events: &[UaEvent]) -> Vec<(Shed, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            UaEvent::Shed { why, warn, .. } => Some((*why, *warn)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_scanner_gets_no_answer_at_all() {
    let mut ua = ua();
    let now = origin();
    for (n, agent) in ["friendly-scanner", "sipvicious", "SIPCLI/v1.8"]
        .iter()
        .enumerate()
    {
        let invite = new_invite(n as u32, &format!("User-Agent: {agent}\r\n"));
        ua.handle_bytes(now, peer(), &invite);
        let options = String::from_utf8(request("OPTIONS", &format!("o{n}"), 1, None, "", ""))
            .unwrap()
            .replacen(
                "Max-Forwards",
                &format!("User-Agent: {agent}\r\nMax-Forwards"),
                1,
            );
        ua.handle_bytes(now, peer(), options.as_bytes());
    }
    assert!(
        sent(&mut ua).is_empty(),
        "nothing tells a scanner we are here"
    );
    assert_eq!(ua.transactions(), 0);
    let events = events(&mut ua);
    assert_eq!(shed(&events).len(), 6, "{events:?}");
    assert!(shed(&events).iter().all(|(why, _)| *why == Shed::Scanner));
    assert_eq!(
        shed(&events).iter().filter(|(_, warn)| *warn).count(),
        1,
        "warned once"
    );
}

#[test]
fn a_flood_from_one_source_is_dropped_past_its_rate_before_it_costs_a_transaction() {
    let mut ua = limited_ua(GuardConfig {
        invites_per_s: 5,
        invite_burst: 10,
        calls_per_source: 0,
        ..GuardConfig::default()
    });
    let now = origin();
    for n in 0..100 {
        ua.handle_bytes(now, peer(), &new_invite(n, ""));
    }
    let events = events(&mut ua);
    let calls = events
        .iter()
        .filter(|e| matches!(e, UaEvent::Incoming(_)))
        .count();
    assert_eq!(calls, 10, "the burst");
    assert_eq!(shed(&events).len(), 90);
    assert_eq!(ua.transactions(), 10, "the dropped ones cost nothing");
    // A second later the source has five more.
    let later = now + Duration::from_secs(1);
    for n in 100..110 {
        ua.handle_bytes(later, peer(), &new_invite(n, ""));
    }
    let calls = events_of(&mut ua);
    assert_eq!(calls, 5);
}

fn events_of(ua: &mut UserAgent) -> usize {
    events(ua)
        .iter()
        .filter(|e| matches!(e, UaEvent::Incoming(_)))
        .count()
}

#[test]
fn past_its_calls_in_progress_a_source_gets_503_and_the_trusted_trunk_never_does() {
    let mut ua = limited_ua(GuardConfig {
        calls_per_source: 3,
        exempt: crate::guard::Networks::parse(&["192.0.2.1".into()]).unwrap(),
        ..GuardConfig::default()
    });
    let now = origin();
    for n in 0..3 {
        ua.handle_bytes(now, peer(), &new_invite(n, ""));
    }
    assert_eq!(events_of(&mut ua), 3);
    sent(&mut ua);
    ua.handle_bytes(now, peer(), &new_invite(3, ""));
    let reply = sent(&mut ua).pop().unwrap();
    assert_eq!(status(&reply), "SIP/2.0 503 Service Unavailable");
    assert_eq!(shed(&events(&mut ua)), [(Shed::SourceCalls, true)]);
    // The trunk brings everyone from one address.
    let trunk = Peer {
        transport: Transport::Udp,
        addr: "192.0.2.1:5060".parse().unwrap(),
    };
    for n in 10..20 {
        ua.handle_bytes(now, trunk, &new_invite(n, ""));
    }
    assert_eq!(events_of(&mut ua), 10);
}

#[test]
fn options_say_503_while_draining_so_a_load_balancer_routes_around() {
    let mut ua = ua();
    let now = origin();
    ua.handle_bytes(now, peer(), &request("OPTIONS", "o1", 1, None, "", ""));
    assert_eq!(status(&sent(&mut ua).pop().unwrap()), "SIP/2.0 200 OK");
    ua.set_draining(true);
    ua.handle_bytes(now, peer(), &request("OPTIONS", "o2", 2, None, "", ""));
    let reply = sent(&mut ua).pop().unwrap();
    assert_eq!(status(&reply), "SIP/2.0 503 Service Unavailable");
    assert_eq!(header(&reply, "Retry-After"), Some("30"));
}

// ---- extensions: Require, session timers (RFC 4028), 100rel, trunks ----

#[test]
fn rfc3261_8_2_2_3_an_extension_we_lack_is_refused_with_420() {
    let refusal = refusal_of("Require: 100rel, precondition\r\n");
    assert_eq!(status(&refusal), "SIP/2.0 420 Bad Extension");
    assert_eq!(header(&refusal, "Unsupported"), Some("precondition"));
}

/// The last response to an INVITE with `extra` headers, which must offer
/// the controller no call.
fn refusal_of(extra: &str) -> String {
    let mut ua = ua();
    ua.handle_bytes(
        origin(),
        peer(),
        &request("INVITE", "x", 1, None, extra, SDP),
    );
    assert!(events(&mut ua).is_empty(), "refused before the controller");
    sent(&mut ua).pop().unwrap()
}

#[test]
fn with_require_100rel_the_call_is_offered_but_never_rung_unreliably() {
    let mut ua = ua();
    let t0 = origin();
    let call = incoming(&mut ua, t0, "Require: 100rel\r\nSupported: 100rel\r\n", SDP);
    ua.ring(t0, call).unwrap();
    assert!(sent(&mut ua).is_empty(), "no 180 that is not reliable");
    ua.answer(t0, call, b"v=0\r\n".to_vec()).unwrap();
    let ok = sent(&mut ua).remove(0);
    assert_eq!(status(&ok), "SIP/2.0 200 OK");
    assert_eq!(header(&ok, "Supported"), Some(SUPPORTED));
    // A PRACK matches no reliable provisional response of ours.
    ua.handle_bytes(
        t0,
        peer(),
        &request(
            "PRACK",
            "pr",
            2,
            Some(&to_tag(&ok)),
            "RAck: 1 1 INVITE\r\n",
            "",
        ),
    );
    assert_eq!(
        status(&sent(&mut ua)[0]),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn rfc4028_a_session_interval_below_our_minimum_gets_422() {
    let refusal = refusal_of("Session-Expires: 30\r\nSupported: timer\r\n");
    assert_eq!(status(&refusal), "SIP/2.0 422 Session Interval Too Small");
    assert_eq!(header(&refusal, "Min-SE"), Some("90"));
}

/// A call with a session timer the caller refreshes, answered and ACKed.
fn timed_call(ua: &mut UserAgent, now: Instant, extra: &str) -> (CallRef, String) {
    let call = incoming(ua, now, extra, SDP);
    ua.answer(now, call, b"v=0\r\n".to_vec()).unwrap();
    let ok = sent(ua).remove(0);
    let tag = to_tag(&ok);
    ua.handle_bytes(now, peer(), &request("ACK", "ack", 1, Some(&tag), "", ""));
    events(ua);
    (call, ok)
}

#[test]
fn rfc4028_10_a_call_the_caller_stops_refreshing_is_ended() {
    let mut ua = ua();
    let t0 = origin();
    let (call, ok) = timed_call(&mut ua, t0, "Session-Expires: 120\r\nSupported: timer\r\n");
    assert_eq!(header(&ok, "Session-Expires"), Some("120;refresher=uac"));
    assert_eq!(header(&ok, "Require"), Some("timer"));
    let tag = to_tag(&ok);
    // A refresh by UPDATE at 60 s: answered 200 with the interval, timer restarted.
    let t1 = t0 + Duration::from_secs(60);
    ua.handle_bytes(
        t1,
        peer(),
        &request(
            "UPDATE",
            "up",
            2,
            Some(&tag),
            "Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n",
            "",
        ),
    );
    let refreshed = sent(&mut ua).remove(0);
    assert_eq!(status(&refreshed), "SIP/2.0 200 OK");
    assert_eq!(
        header(&refreshed, "Session-Expires"),
        Some("120;refresher=uac")
    );
    assert!(
        events(&mut ua).is_empty(),
        "a refresh without an offer is ours to answer"
    );
    // Not ended 88 s from the start (the refresh moved it)…
    ua.handle_timeout(t0 + Duration::from_secs(89));
    assert!(sent(&mut ua).iter().all(|m| !m.starts_with("BYE")));
    // …but 32 s before the refreshed session would expire.
    let end = t1 + Duration::from_secs(88);
    ua.handle_timeout(end);
    let out = sent(&mut ua);
    assert!(out.iter().any(|m| m.starts_with("BYE ")), "{out:?}");
    let _ = call;
}

#[test]
fn rfc4028_we_refresh_with_update_when_the_caller_cannot() {
    let mut ua = ua();
    let t0 = origin();
    let (call, ok) = timed_call(
        &mut ua,
        t0,
        "Session-Expires: 300\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n",
    );
    assert_eq!(header(&ok, "Session-Expires"), Some("300;refresher=uas"));
    assert_eq!(
        header(&ok, "Require"),
        None,
        "the caller did not say it supports timers"
    );
    ua.handle_timeout(t0 + Duration::from_secs(150));
    let update = sent(&mut ua).remove(0);
    assert!(update.starts_with("UPDATE sip:ann@"), "{update}");
    assert_eq!(
        header(&update, "Session-Expires"),
        Some("300;refresher=uas")
    );
    // Answered: the next refresh comes half an interval later.
    let answer = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(&update, "Via").unwrap(),
        header(&update, "From").unwrap(),
        header(&update, "To").unwrap(),
        header(&update, "Call-ID").unwrap(),
        header(&update, "CSeq").unwrap(),
    );
    let t1 = t0 + Duration::from_secs(151);
    ua.handle_bytes(t1, peer(), answer.as_bytes());
    ua.handle_timeout(t1 + Duration::from_secs(149));
    assert!(sent(&mut ua).is_empty());
    ua.handle_timeout(t1 + Duration::from_secs(150));
    let again = sent(&mut ua);
    assert!(again[0].starts_with("UPDATE "), "{again:?}");
    // This one is refused with 481: the caller's side is gone.
    let gone = answer
        .replacen("200 OK", "481 Call/Transaction Does Not Exist", 1)
        .replace(
            header(&update, "Via").unwrap(),
            header(&again[0], "Via").unwrap(),
        )
        .replace(
            header(&update, "CSeq").unwrap(),
            header(&again[0], "CSeq").unwrap(),
        );
    ua.handle_bytes(t1 + Duration::from_secs(151), peer(), gone.as_bytes());
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Ended { call: c, reason: EndReason::SessionExpired }] if *c == call
    ));
}

#[test]
fn a_caller_that_cannot_take_update_gets_no_session_timer() {
    let mut ua = ua();
    let (_, ok) = timed_call(&mut ua, origin(), "Session-Expires: 300\r\n");
    assert_eq!(header(&ok, "Session-Expires"), None);
}

#[test]
fn calls_come_only_from_the_trunks_when_accept_from_is_set() {
    let mut ua = UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        accept_from: Some(crate::guard::Networks::parse(&["192.0.2.0/24".to_owned()]).unwrap()),
        ..UaConfig::default()
    });
    ua.handle_bytes(origin(), peer(), &request("INVITE", "f", 1, None, "", SDP));
    assert_eq!(
        status(sent(&mut ua).last().unwrap()),
        "SIP/2.0 403 Forbidden"
    );
    assert!(events(&mut ua).is_empty());
    // OPTIONS (a monitor's probe) is still answered.
    ua.handle_bytes(origin(), peer(), &request("OPTIONS", "o", 1, None, "", ""));
    assert_eq!(status(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
}

#[test]
fn the_diverting_number_reaches_the_controller() {
    let mut ua = ua();
    ua.handle_bytes(
        origin(),
        peer(),
        &request(
            "INVITE",
            "d",
            1,
            None,
            "Diversion: <sip:+16135550100@carrier.example>;reason=unconditional\r\n",
            SDP,
        ),
    );
    sent(&mut ua);
    let ev = events(&mut ua);
    let [UaEvent::Incoming(call)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(call.diverted_from.as_deref(), Some("+16135550100"));
}
