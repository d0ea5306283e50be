//! Outbound calls (UAC) in simulated time against a scripted far end: we
//! read the raw SIP the user agent sends and answer with raw SIP text.

use super::wire::{has_tag, tag_of};
use super::*;
use crate::Transport;
use crate::digest::{self, Credentials, DigestConfig, DigestServer};
use crate::transaction::testkit::origin;

/// The navigator's phone (or the trunk).
const FAR: &str = "127.0.0.1:5070";
const FAR_TAG: &str = "far1";

fn far() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: FAR.parse().unwrap(),
    }
}

fn ua() -> UserAgent {
    UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        ..UaConfig::default()
    })
}

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\n";

fn sent(ua: &mut UserAgent) -> Vec<String> {
    std::iter::from_fn(|| ua.poll_transmit())
        .map(|d| {
            assert_eq!(d.peer, far(), "everything goes to the call's peer");
            String::from_utf8(d.bytes).unwrap()
        })
        .collect()
}

fn events(ua: &mut UserAgent) -> Vec<UaEvent> {
    std::iter::from_fn(|| ua.poll_event()).collect()
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or("")
}

fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    headers(msg, name)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

fn branch(msg: &str) -> String {
    let via = header(msg, "Via");
    via.split(";branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn tag(value: &str) -> String {
    tag_of(value).unwrap_or_else(|| panic!("no tag in {value}"))
}

/// The far end's response to our `request`: its Via, From, Call-ID, CSeq;
/// its To with `to_tag` added.
fn reply(request: &str, code: u16, to_tag: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {code} {}\r\n", message::reason_phrase(code));
    for via in headers(request, "Via") {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    let to = header(request, "To");
    let to = match to_tag {
        Some(t) if !has_tag(to) => format!("{to};tag={t}"),
        _ => to.to_owned(),
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}",
        header(request, "From"),
        header(request, "Call-ID"),
        header(request, "CSeq"),
    ));
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// A 200 OK for our INVITE from the phone, with its Contact and two
/// Record-Routes (proxy1 nearest the phone, proxy2 nearest us).
fn ok_2xx(invite: &str, to_tag: &str) -> Vec<u8> {
    reply(
        invite,
        200,
        Some(to_tag),
        "Contact: <sip:nav@10.0.0.5:5062>\r\n\
         Record-Route: <sip:proxy1.example;lr>\r\n\
         Record-Route: <sip:proxy2.example;lr>\r\n",
        ANSWER,
    )
}

/// A request from the far end inside the dialog of our `invite`.
fn far_request(invite: &str, method: &str, cseq: u32, extra: &str, body: &str) -> Vec<u8> {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "{method} sip:frontdoor@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {FAR};branch=z9hG4bKfar{method}{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:nav@10.0.0.5>;tag={FAR_TAG}\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:nav@10.0.0.5:5062>\r\n\
         {extra}{ct}Content-Length: {}\r\n\r\n{body}",
        header(invite, "From"),
        header(invite, "Call-ID"),
        body.len()
    )
    .into_bytes()
}

fn call_to_navigator() -> OutboundCall {
    OutboundCall::new("sip:nav@10.0.0.5:5062", far(), OFFER.as_bytes().to_vec())
}

/// Place a call; returns it and the INVITE we sent.
fn place(ua: &mut UserAgent, now: Instant, outbound: OutboundCall) -> (CallRef, String) {
    let call = ua.invite(now, outbound).unwrap();
    let out = sent(ua);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(events(ua).is_empty());
    (call, out.into_iter().next().unwrap())
}

/// Place, ring, answer: returns the call, our INVITE and our ACK.
fn answered(ua: &mut UserAgent, now: Instant) -> (CallRef, String, String) {
    let (call, invite) = place(ua, now, call_to_navigator());
    ua.handle_bytes(now, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    ua.handle_bytes(now, far(), &ok_2xx(&invite, FAR_TAG));
    let out = sent(ua);
    assert_eq!(out.len(), 1, "{out:?}");
    let ev = events(ua);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Progress { code: 180, .. }, UaEvent::Answered { call: c, .. }] if *c == call),
        "{ev:?}"
    );
    (call, invite, out.into_iter().next().unwrap())
}

/// Run the clock until `done` says so (or 200 s pass); returns the time.
fn run_until(
    ua: &mut UserAgent,
    from: Instant,
    mut done: impl FnMut(&mut UserAgent, Instant) -> bool,
) -> Instant {
    let mut now = from;
    loop {
        let next = ua.poll_timeout().expect("a timer is pending");
        assert!(next - from < Duration::from_secs(200), "nothing happened");
        now = now.max(next);
        ua.handle_timeout(now);
        if done(ua, now) {
            return now;
        }
    }
}

#[test]
fn rfc3261_13_2_1_the_invite_has_every_header_a_uac_must_send() {
    let mut ua = ua();
    let mut outbound = OutboundCall::new("sip:988@trunk.example", far(), OFFER.into());
    outbound.from = Some(Party::new(
        Some("Ann \"A\""),
        "sip:+16135550123@trunk.example",
    ));
    outbound.to = Some(Party::new(None, "sip:988@trunk.example"));
    outbound.extra_headers = vec![(
        "P-Asserted-Identity".into(),
        "<sip:+16135550123@trunk.example>".into(),
    )];
    let (call, invite) = place(&mut ua, origin(), outbound);
    assert_eq!(first_line(&invite), "INVITE sip:988@trunk.example SIP/2.0");
    let via = header(&invite, "Via");
    assert!(
        via.starts_with("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"),
        "{via}"
    );
    assert!(via.ends_with(";rport"), "{via}");
    assert_eq!(header(&invite, "Max-Forwards"), "70");
    let from = header(&invite, "From");
    assert!(
        from.starts_with(r#""Ann \"A\"" <sip:+16135550123@trunk.example>;tag="#),
        "{from}"
    );
    assert!(tag(from).len() >= 8);
    assert_eq!(header(&invite, "To"), "<sip:988@trunk.example>");
    assert_eq!(header(&invite, "CSeq"), "1 INVITE");
    assert_eq!(Some(header(&invite, "Call-ID")), ua.call_id(call));
    assert_eq!(header(&invite, "Contact"), "<sip:frontdoor@127.0.0.1:5060>");
    assert_eq!(
        header(&invite, "P-Asserted-Identity"),
        "<sip:+16135550123@trunk.example>"
    );
    assert_eq!(header(&invite, "Content-Type"), "application/sdp");
    assert_eq!(body(&invite), OFFER);
    assert_eq!(ua.calls(), 1);
}

#[test]
fn the_default_from_is_the_configured_user_and_domain() {
    let mut ua = UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        from_user: "ontario211".into(),
        from_domain: Some("211.example".into()),
        ..UaConfig::default()
    });
    let (_, invite) = place(&mut ua, origin(), call_to_navigator());
    assert!(header(&invite, "From").starts_with("<sip:ontario211@211.example>;tag="));
    assert_eq!(header(&invite, "To"), "<sip:nav@10.0.0.5:5062>");
    assert_eq!(
        header(&invite, "Contact"),
        "<sip:ontario211@127.0.0.1:5060>"
    );
}

#[test]
fn a_bad_target_is_an_error_not_a_call() {
    let mut ua = ua();
    let bad = OutboundCall::new("http://nope", far(), Vec::new());
    assert!(matches!(ua.invite(origin(), bad), Err(UaError::BadUri(_))));
    assert_eq!(ua.calls(), 0);
    assert!(sent(&mut ua).is_empty());
}

/// INVITE → 100 → 180 → 200 → our ACK (RFC 3261 §13.2.2.4) → our BYE →
/// 200 → Ended; the dialog's remote target is the 2xx Contact and the
/// route set the Record-Route reversed (§12.1.2).
#[test]
fn outbound_call_answered_then_we_hang_up() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 100, None, "", ""));
    assert!(events(&mut ua).is_empty(), "100 Trying is not progress");
    ua.handle_bytes(t0, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Progress { call: c, code: 180 }] if *c == call
    ));
    assert!(sent(&mut ua).is_empty());
    ua.handle_bytes(t0, far(), &ok_2xx(&invite, FAR_TAG));
    let ev = events(&mut ua);
    let [
        UaEvent::Answered {
            call: c,
            sdp: Some(sdp),
        },
    ] = ev.as_slice()
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*c, call);
    assert_eq!(sdp, ANSWER.as_bytes());
    let out = sent(&mut ua);
    let [ack] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(first_line(ack), "ACK sip:nav@10.0.0.5:5062 SIP/2.0");
    assert_eq!(header(ack, "CSeq"), "1 ACK");
    assert_ne!(
        branch(ack),
        branch(&invite),
        "the 2xx ACK is its own transaction"
    );
    assert_eq!(header(ack, "From"), header(&invite, "From"));
    assert_eq!(tag(header(ack, "To")), FAR_TAG);
    assert_eq!(header(ack, "Call-ID"), header(&invite, "Call-ID"));
    assert_eq!(
        headers(ack, "Route"),
        ["<sip:proxy2.example;lr>", "<sip:proxy1.example;lr>"],
        "RFC 3261 §12.1.2: the UAC reverses Record-Route"
    );

    let t1 = t0 + Duration::from_secs(30);
    ua.hangup(t1, call).unwrap();
    let out = sent(&mut ua);
    let [bye] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(first_line(bye), "BYE sip:nav@10.0.0.5:5062 SIP/2.0");
    assert_eq!(header(bye, "CSeq"), "2 BYE");
    assert_eq!(tag(header(bye, "From")), tag(header(&invite, "From")));
    assert_eq!(tag(header(bye, "To")), FAR_TAG);
    assert_eq!(
        headers(bye, "Route"),
        ["<sip:proxy2.example;lr>", "<sip:proxy1.example;lr>"]
    );
    assert!(events(&mut ua).is_empty());
    ua.handle_bytes(t1, far(), &reply(bye, 200, None, "", ""));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Ended { call: c, reason: EndReason::LocalBye }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
    // Every transaction winds down.
    run_until(&mut ua, t1, |ua, _| ua.transactions() == 0);
}

#[test]
fn outbound_call_ended_by_the_far_end() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite, _) = answered(&mut ua, t0);
    ua.handle_bytes(t0, far(), &far_request(&invite, "BYE", 1, "", ""));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    assert_eq!(first_line(&out[0]), "SIP/2.0 200 OK");
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Ended { call: c, reason: EndReason::RemoteBye }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
    assert!(matches!(ua.hangup(t0, call), Err(UaError::UnknownCall(_))));
}

/// The far end's re-INVITE and INFO reach the controller as on inbound
/// calls; the 200 to the re-INVITE carries our SDP.
#[test]
fn in_dialog_requests_from_the_far_end_are_passed_up() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite, _) = answered(&mut ua, t0);
    ua.handle_bytes(
        t0,
        far(),
        &far_request(
            &invite,
            "INFO",
            1,
            "Content-Type: application/dtmf-relay\r\n",
            "",
        ),
    );
    assert_eq!(first_line(&sent(&mut ua)[0]), "SIP/2.0 200 OK");
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Info { call: c, .. }] if *c == call
    ));
    ua.handle_bytes(t0, far(), &far_request(&invite, "INVITE", 2, "", ANSWER));
    let out = sent(&mut ua);
    assert_eq!(first_line(&out[0]), "SIP/2.0 100 Trying");
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::ReInvite { call: c, offer: Some(_) }] if *c == call
    ));
    ua.answer_reinvite(t0, call, Ok(OFFER.as_bytes().to_vec()))
        .unwrap();
    let out = sent(&mut ua);
    assert_eq!(first_line(&out[0]), "SIP/2.0 200 OK");
    assert_eq!(tag(header(&out[0], "To")), tag(header(&invite, "From")));
    assert_eq!(body(&out[0]), OFFER);
}

/// RFC 3261 §13.2.2.4: every retransmission of the 2xx gets the ACK again;
/// no second Answered.
#[test]
fn a_retransmitted_2xx_is_acked_again() {
    let mut ua = ua();
    let t0 = origin();
    let (_, invite, ack) = answered(&mut ua, t0);
    for i in 1..=3 {
        let at = t0 + Duration::from_millis(500 * i);
        ua.handle_timeout(at);
        ua.handle_bytes(at, far(), &ok_2xx(&invite, FAR_TAG));
        assert_eq!(sent(&mut ua), std::slice::from_ref(&ack));
        assert!(events(&mut ua).is_empty());
    }
}

/// RFC 3261 §13.2.2.4 (forking): the first 2xx wins; a 2xx from another
/// fork is ACKed and then ended with a BYE; the controller hears nothing.
#[test]
fn a_2xx_from_a_second_fork_gets_ack_and_bye() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite, _) = answered(&mut ua, t0);
    ua.handle_bytes(t0, far(), &ok_2xx(&invite, "fork2"));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(first_line(&out[0]).starts_with("ACK "));
    assert_eq!(tag(header(&out[0], "To")), "fork2");
    assert!(first_line(&out[1]).starts_with("BYE "));
    assert_eq!(tag(header(&out[1], "To")), "fork2");
    assert_eq!(header(&out[1], "CSeq"), "2 BYE");
    assert!(events(&mut ua).is_empty());
    ua.handle_bytes(t0, far(), &reply(&out[1], 200, None, "", ""));
    assert!(events(&mut ua).is_empty());
    // The winning dialog is untouched.
    ua.hangup(t0, call).unwrap();
    let bye = sent(&mut ua).remove(0);
    assert_eq!(tag(header(&bye, "To")), FAR_TAG);
}

/// A final 486: the transaction ACKs it (same branch, RFC 3261 §17.1.1.3)
/// and the call fails with that code.
#[test]
fn busy_here_fails_the_call_and_the_transaction_acks_it() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 486, Some(FAR_TAG), "", ""));
    let out = sent(&mut ua);
    let [ack] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(first_line(ack), "ACK sip:nav@10.0.0.5:5062 SIP/2.0");
    assert_eq!(branch(ack), branch(&invite));
    assert_eq!(header(ack, "CSeq"), "1 ACK");
    assert_eq!(tag(header(ack, "To")), FAR_TAG);
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 486 }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
    // A retransmitted 486 is ACKed again by the transaction, silently.
    ua.handle_bytes(t0, far(), &reply(&invite, 486, Some(FAR_TAG), "", ""));
    assert_eq!(sent(&mut ua).len(), 1);
    assert!(events(&mut ua).is_empty());
}

/// No answer: the controller cancels after 180 → CANCEL (same branch,
/// CSeq number) → 200 → 487 (ACKed) → Failed 487.
#[test]
fn ring_no_answer_then_cancel_gets_487() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    events(&mut ua);
    let t1 = t0 + Duration::from_secs(20);
    ua.cancel(t1, call).unwrap();
    ua.cancel(t1, call).unwrap(); // idempotent
    let out = sent(&mut ua);
    let [cancel] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(first_line(cancel), "CANCEL sip:nav@10.0.0.5:5062 SIP/2.0");
    assert_eq!(branch(cancel), branch(&invite));
    assert_eq!(header(cancel, "CSeq"), "1 CANCEL");
    assert_eq!(header(cancel, "To"), header(&invite, "To"));
    ua.handle_bytes(t1, far(), &reply(cancel, 200, Some(FAR_TAG), "", ""));
    assert!(events(&mut ua).is_empty());
    ua.handle_bytes(t1, far(), &reply(&invite, 487, Some(FAR_TAG), "", ""));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    assert!(first_line(&out[0]).starts_with("ACK "));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 487 }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
    assert!(matches!(ua.cancel(t1, call), Err(UaError::UnknownCall(_))));
}

/// `hangup` on an outbound call that is still ringing cancels it.
#[test]
fn hangup_while_ringing_is_a_cancel() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 183, Some(FAR_TAG), "", ""));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Progress { code: 183, .. }]
    ));
    ua.hangup(t0, call).unwrap();
    assert!(first_line(&sent(&mut ua)[0]).starts_with("CANCEL "));
}

/// A 183 with SDP (the trunk's announcement or ringback) is passed up.
#[test]
fn session_progress_with_sdp_is_early_media() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 183, Some(FAR_TAG), "", ANSWER));
    let ev = events(&mut ua);
    let [
        UaEvent::Progress { code: 183, .. },
        UaEvent::EarlyMedia { call: c, sdp },
    ] = ev.as_slice()
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*c, call);
    assert_eq!(sdp, ANSWER.as_bytes());
}

/// RFC 3261 §9.1: no CANCEL before a provisional response; it goes out
/// when the first one (even a 100) arrives.
#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.cancel(t0, call).unwrap();
    assert!(sent(&mut ua).is_empty(), "no CANCEL yet");
    ua.handle_bytes(t0, far(), &reply(&invite, 100, None, "", ""));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(first_line(&out[0]).starts_with("CANCEL "));
    ua.handle_bytes(t0, far(), &reply(&out[0], 200, None, "", ""));
    ua.handle_bytes(t0, far(), &reply(&invite, 487, Some(FAR_TAG), "", ""));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 487 }] if *c == call
    ));
}

/// Cancelled before any response, and none ever comes: given up at Timer B
/// (reported as 487: we cancelled), the CANCEL never sent.
#[test]
fn cancel_with_no_response_at_all_gives_up_at_timer_b() {
    let mut ua = ua();
    let t0 = origin();
    let (call, _) = place(&mut ua, t0, call_to_navigator());
    ua.cancel(t0, call).unwrap();
    let mut failed = None;
    let end = run_until(&mut ua, t0, |ua, _| {
        for m in sent(ua) {
            assert!(first_line(&m).starts_with("INVITE "), "{m}");
        }
        failed = events(ua).into_iter().find_map(|e| match e {
            UaEvent::Failed { code, .. } => Some(code),
            _ => None,
        });
        failed.is_some()
    });
    assert_eq!(failed, Some(487));
    assert_eq!(end - t0, Duration::from_secs(32));
    assert_eq!(ua.calls(), 0);
}

/// RFC 3261 §9.1: the CANCEL got its 200 but the INVITE never its 487:
/// after 64*T1 the call is given up and the transaction forgotten.
#[test]
fn a_cancelled_invite_without_final_response_is_given_up_after_64_t1() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    events(&mut ua);
    ua.cancel(t0, call).unwrap();
    let cancel = sent(&mut ua).remove(0);
    ua.handle_bytes(t0, far(), &reply(&cancel, 200, None, "", ""));
    let end = run_until(&mut ua, t0, |ua, _| {
        sent(ua);
        matches!(events(ua).as_slice(), [UaEvent::Failed { code: 487, .. }])
    });
    assert_eq!(end - t0, Duration::from_secs(32));
    assert_eq!(ua.calls(), 0);
    assert_eq!(ua.transactions(), 0, "the INVITE transaction is abandoned");
    assert_eq!(ua.poll_timeout(), None);
}

/// A 2xx that crosses our CANCEL: ACK it, BYE it, report Failed 487 (never
/// Answered), and re-ACK its retransmissions.
#[test]
fn a_2xx_racing_the_cancel_gets_ack_and_bye() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    events(&mut ua);
    ua.cancel(t0, call).unwrap();
    let cancel = sent(&mut ua).remove(0);
    ua.handle_bytes(t0, far(), &ok_2xx(&invite, FAR_TAG));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(first_line(&out[0]).starts_with("ACK sip:nav@10.0.0.5:5062"));
    assert_eq!(header(&out[0], "CSeq"), "1 ACK");
    assert!(first_line(&out[1]).starts_with("BYE sip:nav@10.0.0.5:5062"));
    assert_eq!(header(&out[1], "CSeq"), "2 BYE");
    assert_eq!(tag(header(&out[1], "To")), FAR_TAG);
    assert_eq!(
        headers(&out[1], "Route"),
        ["<sip:proxy2.example;lr>", "<sip:proxy1.example;lr>"]
    );
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 487 }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
    // The late 200 for the CANCEL, the 2xx again, the BYE's 200: no events.
    ua.handle_bytes(t0, far(), &reply(&cancel, 200, None, "", ""));
    ua.handle_bytes(t0, far(), &ok_2xx(&invite, FAR_TAG));
    assert_eq!(sent(&mut ua), [out[0].clone()], "re-ACKed");
    ua.handle_bytes(t0, far(), &reply(&out[1], 200, None, "", ""));
    assert!(events(&mut ua).is_empty());
}

fn trunk_server() -> DigestServer {
    DigestServer::new(
        DigestConfig {
            realm: "trunk.example".into(),
            ..DigestConfig::default()
        },
        [7; 32],
    )
}

fn challenge_407(server: &mut DigestServer, invite: &str) -> Vec<u8> {
    challenge(server, invite, 407, "Proxy-Authenticate")
}

fn challenge(server: &mut DigestServer, invite: &str, code: u16, name: &str) -> Vec<u8> {
    let extra: String = server
        .challenges(1_000, false)
        .iter()
        .map(|c| format!("{name}: {c}\r\n"))
        .collect();
    reply(invite, code, Some("trunk1"), &extra, "")
}

fn trunk_call() -> OutboundCall {
    let mut outbound = OutboundCall::new("sip:988@trunk.example", far(), OFFER.into());
    outbound.credentials = Some(("frontdoor".into(), "s3cret".into()));
    outbound
}

/// A trunk's 407: the INVITE is sent again with Proxy-Authorization (next
/// CSeq, same Call-ID and From tag, new branch); the real digest server
/// accepts it; the call then proceeds.
#[test]
fn rfc3261_22_2_a_407_from_the_trunk_is_answered_once() {
    let mut ua = ua();
    let t0 = origin();
    let mut server = trunk_server();
    let (call, invite) = place(&mut ua, t0, trunk_call());
    ua.handle_bytes(t0, far(), &challenge_407(&mut server, &invite));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(first_line(&out[0]).starts_with("ACK "), "the 407 is ACKed");
    let again = &out[1];
    assert_eq!(first_line(again), "INVITE sip:988@trunk.example SIP/2.0");
    assert_eq!(header(again, "CSeq"), "2 INVITE");
    assert_eq!(header(again, "Call-ID"), header(&invite, "Call-ID"));
    assert_eq!(header(again, "From"), header(&invite, "From"));
    assert_eq!(
        header(again, "To"),
        header(&invite, "To"),
        "no tag from the 407"
    );
    assert_ne!(branch(again), branch(&invite));
    assert_eq!(body(again), OFFER);
    assert!(events(&mut ua).is_empty());
    let creds = Credentials::parse(header(again, "Proxy-Authorization")).unwrap();
    let ha1 = digest::ha1(creds.algorithm, "frontdoor", "trunk.example", "s3cret");
    server
        .verify(
            1_001,
            "INVITE",
            "sip:988@trunk.example",
            &creds,
            "frontdoor",
            &ha1,
        )
        .expect("the trunk accepts our credentials");
    ua.handle_bytes(t0, far(), &reply(again, 180, Some(FAR_TAG), "", ""));
    ua.handle_bytes(t0, far(), &ok_2xx(again, FAR_TAG));
    let out = sent(&mut ua);
    assert_eq!(header(&out[0], "CSeq"), "2 ACK");
    let ev = events(&mut ua);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Progress { .. }, UaEvent::Answered { call: c, .. }] if *c == call),
        "{ev:?}"
    );
    ua.hangup(t0, call).unwrap();
    assert_eq!(header(&sent(&mut ua)[0], "CSeq"), "3 BYE");
}

#[test]
fn a_second_challenge_fails_the_call() {
    let mut ua = ua();
    let t0 = origin();
    let mut server = trunk_server();
    let (call, invite) = place(&mut ua, t0, trunk_call());
    ua.handle_bytes(t0, far(), &challenge_407(&mut server, &invite));
    let again = sent(&mut ua).remove(1);
    ua.handle_bytes(t0, far(), &challenge_407(&mut server, &again));
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1, "only the ACK: {out:?}");
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 407 }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
}

#[test]
fn a_challenge_without_credentials_fails_the_call() {
    let mut ua = ua();
    let t0 = origin();
    let mut server = trunk_server();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &challenge_407(&mut server, &invite));
    assert_eq!(sent(&mut ua).len(), 1);
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 407 }] if *c == call
    ));
}

/// RFC 3261 §17.1.1.2: no response at all — Timer A resends the INVITE,
/// Timer B gives up at 64*T1 → Failed 408.
#[test]
fn no_response_at_all_fails_with_408_at_timer_b() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    let mut resent = 0;
    let mut failed = Vec::new();
    let end = run_until(&mut ua, t0, |ua, _| {
        for m in sent(ua) {
            assert_eq!(m, invite);
            resent += 1;
        }
        failed.extend(events(ua));
        !failed.is_empty()
    });
    assert_eq!(end - t0, Duration::from_secs(32));
    assert_eq!(resent, 6);
    assert!(matches!(
        failed.as_slice(),
        [UaEvent::Failed { call: c, code: 408 }] if *c == call
    ));
    assert_eq!(ua.calls(), 0);
    assert_eq!(ua.transactions(), 0);
}

/// A 2xx with no Contact: the remote target stays the Request-URI; a 2xx
/// without a Record-Route leaves no route set.
#[test]
fn a_2xx_without_contact_or_record_route_still_makes_a_dialog() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 200, Some(FAR_TAG), "", ANSWER));
    let ack = sent(&mut ua).remove(0);
    assert_eq!(first_line(&ack), "ACK sip:nav@10.0.0.5:5062 SIP/2.0");
    assert!(headers(&ack, "Route").is_empty());
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Answered { call: c, .. }] if *c == call
    ));
}

/// Junk, truncated or mismatched responses never panic and never end the
/// call; the call still completes afterwards.
#[test]
fn malformed_or_stray_responses_never_panic() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    let good = String::from_utf8(reply(&invite, 180, Some(FAR_TAG), "", "")).unwrap();
    let mut junk: Vec<Vec<u8>> = vec![
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        b"SIP/2.0 999 What\r\nVia: SIP/2.0/UDP x\r\n\r\n".to_vec(),
        b"SIP/2.0\r\n\r\n".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x01],
        good.replace("CSeq: 1 INVITE", "CSeq: x INVITE")
            .into_bytes(),
        good.replace("CSeq: 1 INVITE", "CSeq: 1 BYE").into_bytes(),
        good.replace("SIP/2.0 180 Ringing", "SIP/2.0 099 Low")
            .into_bytes(),
        good.replace("SIP/2.0 180 Ringing", "SIP/2.0 700 High")
            .into_bytes(),
        good.replace(&branch(&invite), "z9hG4bKother").into_bytes(),
        good.replace(header(&invite, "Call-ID"), "other@x")
            .into_bytes(),
        // A 2xx for another transaction, and one with no To tag at all.
        String::from_utf8(ok_2xx(&invite, FAR_TAG))
            .unwrap()
            .replace(&branch(&invite), "z9hG4bKnope")
            .into_bytes(),
    ];
    for i in 0..good.len() {
        junk.push(good.as_bytes()[..i].to_vec());
    }
    for bytes in &junk {
        ua.handle_bytes(t0, far(), bytes);
    }
    while ua.poll_transmit().is_some() {}
    assert!(
        !events(&mut ua)
            .iter()
            .any(|e| matches!(e, UaEvent::Failed { .. } | UaEvent::Answered { .. })),
    );
    assert_eq!(ua.calls(), 1);
    // A 2xx with no To tag is still ACKed and answers the call.
    let untagged = reply(
        &invite,
        200,
        None,
        "Contact: <sip:nav@10.0.0.5:5062>\r\n",
        ANSWER,
    );
    ua.handle_bytes(t0, far(), &untagged);
    assert!(first_line(&sent(&mut ua)[0]).starts_with("ACK "));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Answered { call: c, .. }] if *c == call
    ));
}

/// Commands that make no sense for the call's state are errors.
#[test]
fn wrong_state_commands_are_errors() {
    let mut ua = ua();
    let t0 = origin();
    let (call, _) = place(&mut ua, t0, call_to_navigator());
    assert!(matches!(
        ua.answer(t0, call, Vec::new()),
        Err(UaError::WrongState { .. })
    ));
    assert!(matches!(
        ua.reject(t0, call, 486),
        Err(UaError::WrongState { .. })
    ));
    assert!(matches!(ua.ring(t0, call), Err(UaError::WrongState { .. })));
    let mut ua2 = self::ua();
    let (answered_call, _, _) = answered(&mut ua2, t0);
    assert!(matches!(
        ua2.cancel(t0, answered_call),
        Err(UaError::WrongState { .. })
    ));
}

/// A BYE from the far end in the early dialog (after its 180): answered
/// 200; the INVITE is cancelled and the call fails, never Ended.
#[test]
fn an_early_bye_cancels_the_invite() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    events(&mut ua);
    ua.handle_bytes(t0, far(), &far_request(&invite, "BYE", 1, "", ""));
    let out = sent(&mut ua);
    assert_eq!(first_line(&out[0]), "SIP/2.0 200 OK");
    assert!(first_line(&out[1]).starts_with("CANCEL "));
    assert!(events(&mut ua).is_empty());
    ua.handle_bytes(t0, far(), &reply(&invite, 487, Some(FAR_TAG), "", ""));
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 487 }] if *c == call
    ));
}

/// Inbound and outbound calls side by side: an inbound INVITE still gets
/// its 100 and Incoming while an outbound call rings.
#[test]
fn inbound_calls_are_unaffected_by_outbound_ones() {
    let mut ua = ua();
    let t0 = origin();
    let (_, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(t0, far(), &reply(&invite, 180, Some(FAR_TAG), "", ""));
    events(&mut ua);
    let inbound = format!(
        "INVITE sip:211@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {FAR};branch=z9hG4bKin1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+16135550123@carrier>;tag=c1\r\n\
         To: <sip:211@127.0.0.1>\r\n\
         Call-ID: in-1@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:c@{FAR}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    ua.handle_bytes(t0, far(), inbound.as_bytes());
    assert_eq!(first_line(&sent(&mut ua)[0]), "SIP/2.0 100 Trying");
    assert!(matches!(events(&mut ua).as_slice(), [UaEvent::Incoming(_)]));
    assert_eq!(ua.calls(), 2);
}

/// A 401 (a UAS challenging, not a proxy): `Authorization` this time.
#[test]
fn a_401_is_answered_with_authorization() {
    let mut ua = ua();
    let t0 = origin();
    let mut server = trunk_server();
    let (_, invite) = place(&mut ua, t0, trunk_call());
    ua.handle_bytes(
        t0,
        far(),
        &challenge(&mut server, &invite, 401, "WWW-Authenticate"),
    );
    let again = sent(&mut ua).remove(1);
    assert!(headers(&again, "Proxy-Authorization").is_empty());
    let creds = Credentials::parse(header(&again, "Authorization")).unwrap();
    let ha1 = digest::ha1(creds.algorithm, "frontdoor", "trunk.example", "s3cret");
    server
        .verify(
            1_001,
            "INVITE",
            "sip:988@trunk.example",
            &creds,
            "frontdoor",
            &ha1,
        )
        .expect("accepted");
}

/// Over TCP: Via and Contact say so, no Timer A resend, Timer B still
/// fails the call with 408.
#[test]
fn over_tcp_the_invite_is_sent_once_and_times_out() {
    let mut ua = ua();
    let t0 = origin();
    let tcp = Peer {
        transport: Transport::Tcp,
        addr: FAR.parse().unwrap(),
    };
    let call = ua
        .invite(
            t0,
            OutboundCall::new("sip:nav@10.0.0.5:5062;transport=tcp", tcp, OFFER.into()),
        )
        .unwrap();
    let d = ua.poll_transmit().unwrap();
    assert_eq!(d.peer, tcp);
    let invite = String::from_utf8(d.bytes).unwrap();
    assert!(header(&invite, "Via").starts_with("SIP/2.0/TCP 127.0.0.1:5060;branch="));
    assert_eq!(
        header(&invite, "Contact"),
        "<sip:frontdoor@127.0.0.1:5060;transport=tcp>"
    );
    assert_eq!(ua.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    ua.handle_timeout(t0 + Duration::from_secs(32));
    assert!(ua.poll_transmit().is_none());
    assert!(matches!(
        events(&mut ua).as_slice(),
        [UaEvent::Failed { call: c, code: 408 }] if *c == call
    ));
}

/// Randomly mangled responses (seeded, so reproducible) at every stage of
/// outbound calls: no panic, and every call still ends in exactly one
/// Answered-or-Failed.
#[test]
fn mangled_responses_never_panic() {
    let mut rng = fastrand::Rng::with_seed(211);
    let mut ua = ua();
    let mut now = origin();
    for _ in 0..200 {
        let (call, invite) = place(&mut ua, now, call_to_navigator());
        let script = [
            reply(&invite, 100, None, "", ""),
            reply(&invite, 180, Some(FAR_TAG), "", ""),
            ok_2xx(&invite, FAR_TAG),
            reply(&invite, 486, Some(FAR_TAG), "", ""),
        ];
        for good in &script {
            for _ in 0..5 {
                let mut bytes = good.clone();
                match rng.u8(0..3) {
                    0 => {
                        let i = rng.usize(..bytes.len());
                        bytes[i] = rng.u8(..);
                    }
                    1 => bytes.truncate(rng.usize(..bytes.len())),
                    _ => {
                        let i = rng.usize(..bytes.len());
                        let j = rng.usize(..bytes.len());
                        bytes.swap(i, j);
                    }
                }
                ua.handle_bytes(now, far(), &bytes);
            }
        }
        while ua.poll_transmit().is_some() {}
        let mut finals = 0;
        for e in events(&mut ua) {
            if matches!(e, UaEvent::Answered { call: c, .. } | UaEvent::Failed { call: c, .. } if c == call)
            {
                finals += 1;
            }
        }
        assert!(finals <= 1, "at most one final outcome per call");
        if finals == 0 {
            // Nothing usable got through: the clean script finishes it.
            ua.handle_bytes(now, far(), &script[3]);
            let ev = events(&mut ua);
            if ua.calls() > 0 && ev.is_empty() {
                let _ = ua.hangup(now, call);
            }
        } else if ua.call_id(call).is_some() {
            let _ = ua.hangup(now, call);
        }
        now += Duration::from_millis(rng.u64(0..2_000));
        ua.handle_timeout(now);
        while ua.poll_transmit().is_some() {}
        events(&mut ua);
    }
    // Let every timer run out: nothing is left behind that never ends.
    for _ in 0..10_000 {
        let Some(next) = ua.poll_timeout() else { break };
        ua.handle_timeout(next);
        while ua.poll_transmit().is_some() {}
        events(&mut ua);
    }
    assert_eq!(ua.poll_timeout(), None);
    assert_eq!(ua.calls(), 0, "every call ended");
    assert_eq!(ua.transactions(), 0);
}

// ---- 100rel, redirects and failover on calls we place ----

#[test]
fn rfc3262_a_reliable_183_is_pracked_once_and_its_answer_counts() {
    let mut ua = ua();
    let t0 = origin();
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    assert_eq!(header(&invite, "Supported"), "100rel");
    let reliable = reply(
        &invite,
        183,
        Some(FAR_TAG),
        "Require: 100rel\r\nRSeq: 7\r\nContact: <sip:gw@10.0.0.9:5080>\r\n",
        ANSWER,
    );
    ua.handle_bytes(t0, far(), &reliable);
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1, "{out:?}");
    let prack = &out[0];
    assert!(
        prack.starts_with("PRACK sip:gw@10.0.0.9:5080 SIP/2.0"),
        "{prack}"
    );
    assert_eq!(header(prack, "RAck"), "7 1 INVITE");
    assert_eq!(header(prack, "CSeq"), "2 PRACK");
    assert_eq!(tag(header(prack, "To")), FAR_TAG);
    // The retransmitted 183 is not PRACKed again, nor passed up again.
    events(&mut ua);
    ua.handle_bytes(t0, far(), &reliable);
    assert!(sent(&mut ua).is_empty());
    assert!(events(&mut ua).is_empty());
    // The 2xx without SDP: the 183's answer is the answer.
    ua.handle_bytes(
        t0,
        far(),
        &reply(
            &invite,
            200,
            Some(FAR_TAG),
            "Contact: <sip:gw@10.0.0.9:5080>\r\n",
            "",
        ),
    );
    let ev = events(&mut ua);
    assert!(
        matches!(ev.as_slice(), [UaEvent::Answered { call: c, sdp: Some(sdp) }] if *c == call && sdp == ANSWER.as_bytes()),
        "{ev:?}"
    );
}

#[test]
fn rfc3261_8_1_3_4_a_redirect_through_the_trunk_is_followed() {
    let mut ua = ua();
    let t0 = origin();
    let mut outbound = OutboundCall::new("sip:988@trunk.example", far(), OFFER.into());
    outbound.follow_redirects = true;
    let (call, invite) = place(&mut ua, t0, outbound);
    ua.handle_bytes(
        t0,
        far(),
        &reply(
            &invite,
            302,
            Some("r1"),
            "Contact: <sip:+18005550100@trunk.example>\r\n",
            "",
        ),
    );
    let out = sent(&mut ua);
    let again = out
        .iter()
        .find(|m| m.starts_with("INVITE"))
        .expect("a new INVITE");
    assert!(
        again.starts_with("INVITE sip:+18005550100@trunk.example SIP/2.0"),
        "{again}"
    );
    assert_eq!(header(again, "CSeq"), "2 INVITE");
    assert_eq!(header(again, "Call-ID"), header(&invite, "Call-ID"));
    assert_ne!(branch(again), branch(&invite));
    assert!(
        !has_tag(header(again, "To")),
        "the redirect's To tag is not kept"
    );
    assert!(events(&mut ua).is_empty());
    ua.handle_bytes(t0, far(), &ok_2xx(again, FAR_TAG));
    assert!(
        matches!(events(&mut ua).as_slice(), [UaEvent::Answered { call: c, .. }] if *c == call)
    );
    assert!(sent(&mut ua)[0].starts_with("ACK "));
    // Without follow_redirects (a navigator's phone), a 3xx fails the call.
    let (call, invite) = place(&mut ua, t0, call_to_navigator());
    ua.handle_bytes(
        t0,
        far(),
        &reply(
            &invite,
            302,
            Some("r2"),
            "Contact: <sip:elsewhere@192.0.2.1>\r\n",
            "",
        ),
    );
    sent(&mut ua);
    assert!(
        matches!(events(&mut ua).as_slice(), [UaEvent::Failed { call: c, code: 302 }] if *c == call)
    );
}

#[test]
fn a_silent_trunk_is_passed_over_for_the_next_one() {
    let second = Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5080".parse().unwrap(),
    };
    let third = Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5090".parse().unwrap(),
    };
    let mut ua = ua();
    let t0 = origin();
    let mut outbound = OutboundCall::new("sip:988@trunk.example", far(), OFFER.into());
    outbound.alternates = vec![second, third];
    let call = ua.invite(t0, outbound).unwrap();
    let first = ua.poll_transmit().unwrap();
    assert_eq!(first.peer, far());
    // Nothing from the first within 2 s (its retransmissions aside): the second.
    let (now, moved) = loop {
        let now = ua.poll_timeout().unwrap();
        ua.handle_timeout(now);
        let out: Vec<Datagram> = std::iter::from_fn(|| ua.poll_transmit()).collect();
        if let Some(d) = out.into_iter().find(|d| d.peer != far()) {
            break (now, d);
        }
        assert!(now - t0 < Duration::from_secs(3));
    };
    assert_eq!(now - t0, Duration::from_secs(2));
    assert_eq!(moved.peer, second);
    let invite = String::from_utf8(moved.bytes).unwrap();
    assert!(invite.starts_with("INVITE sip:988@trunk.example"));
    // The second says 503: the third.
    ua.handle_bytes(now, second, &reply(&invite, 503, Some("x"), "", ""));
    let out: Vec<Datagram> = std::iter::from_fn(|| ua.poll_transmit()).collect();
    let to_third = out
        .iter()
        .find(|d| d.peer == third)
        .expect("INVITE to the third");
    let invite = String::from_utf8(to_third.bytes.clone()).unwrap();
    // The third answers 100 Trying: it is kept, however long it rings.
    ua.handle_bytes(now, third, &reply(&invite, 100, None, "", ""));
    ua.handle_timeout(now + Duration::from_secs(10));
    let later: Vec<Datagram> = std::iter::from_fn(|| ua.poll_transmit()).collect();
    assert!(later.iter().all(|d| d.peer == third), "{later:?}");
    ua.handle_bytes(now, third, &reply(&invite, 486, Some("y"), "", ""));
    assert!(
        matches!(events(&mut ua).as_slice(), [UaEvent::Failed { call: c, code: 486 }] if *c == call)
    );
}
