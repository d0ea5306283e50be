//! RFC 4475 torture messages, byte for byte as the RFC archives them
//! (its Appendix B), one file each under `torture/`. Every message a UA can
//! receive is here: §3.1.1 valid, §3.1.2 invalid, §3.2 and §3.3 (which are
//! well-formed but semantically odd; most must parse so the layer above can
//! give the semantic answer).

use super::*;
use rsip::message::HasHeaders;

/// What [`parse`] must make of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Parsed into an rsip message.
    Parses,
    /// Refused; `answer` is the status of the response built from the raw
    /// bytes, `None` when nothing can be answered.
    Refused { answer: Option<u16> },
}

use Expect::{Parses, Refused};

const fn answered(code: u16) -> Expect {
    Refused { answer: Some(code) }
}

const UNANSWERED: Expect = Refused { answer: None };

macro_rules! torture {
    ($($name:ident => $expect:expr, $why:literal;)*) => {
        const TORTURE: &[(&str, &[u8], Expect, &str)] = &[
            $((stringify!($name), include_bytes!(concat!("torture/", stringify!($name), ".dat")), $expect, $why),)*
        ];
    };
}

torture! {
    // §3.1.1 valid messages.
    wsinv => Parses, "folding, LWS around every separator, compact and odd-case names";
    intmeth => answered(501), "extension method: rsip::Method is a closed enum; RFC 4475 itself says a UA answers 501";
    esc01 => Parses, "escapes in URIs; compact `i:` and upper-case `C:`";
    escnull => Parses, "%00 in URIs; `L:0`";
    esc02 => answered(501), "RE%47IST%45R is an unknown method, not REGISTER (RFC 4475 §3.1.1.5): 501";
    lwsdisp => Parses, "no LWS between display name and <";
    longreq => Parses, "long values and 34 Vias in every spelling";
    dblreq => Parses, "Content-Length 0, then a second message: ignored";
    semiuri => Parses, "';' in the Request-URI user part (own URI parser)";
    transports => Parses, "unknown transport in a non-top Via";
    mpart01 => Parses, "binary multipart body framed by Content-Length";
    unreason => Parses, "UTF-8 reason phrase";
    noreason => Parses, "empty reason phrase";
    // §3.1.2 invalid messages.
    badinv01 => answered(400), "empty Via list elements";
    clerr => answered(400), "Content-Length larger than the datagram";
    scalar02 => answered(400), "CSeq beyond 32 bits";
    scalarlg => UNANSWERED, "response with oversized CSeq: dropped";
    quotbal => answered(400), "unterminated quoted string in To";
    ltgtruri => answered(400), "Request-URI in <>";
    lwsruri => answered(400), "LWS inside the Request-URI";
    lwsstart => answered(400), "several SP in the request line";
    trws => answered(400), "trailing SP in the request line";
    escruri => answered(400), "headers in the Request-URI (RFC 3261 §19.1.1)";
    baddate => Parses, "non-GMT Date: we never read Date, so it is ignored (RFC 4475 allows it)";
    regbadct => answered(400), "'?' in a Contact URI outside <>";
    badaspec => answered(400), "whitespace inside <> in To";
    baddn => answered(400), "the archived head has no empty line (its unquoted display names are forgiven)";
    badvers => answered(505), "SIP/7.0";
    mismatch01 => answered(400), "CSeq method OPTIONS vs INVITE";
    mismatch02 => answered(501), "unknown method NEWMETHOD (its CSeq mismatch comes second)";
    bigcode => UNANSWERED, "response with a 10-digit status code: dropped";
    ncl => answered(400), "negative Content-Length";
    // §3.2 transaction layer.
    badbranch => Parses, "branch is only the magic cookie: the transaction layer's concern";
    // §3.3 application layer: well-formed, the UA answers semantically.
    insuf => UNANSWERED, "no From, To or Call-ID: a response cannot be built";
    unkscm => answered(416), "unknown Request-URI scheme";
    novelsc => answered(416), "soap.beep Request-URI scheme";
    unksm2 => Parses, "non-SIP schemes in To/From/Contact: legal; the registrar answers 416";
    bext01 => Parses, "unknown Require: the UA answers 420";
    invut => Parses, "unknown Content-Type: the UA answers 415";
    regaut01 => Parses, "unknown auth scheme: the registrar answers 401";
    multi01 => answered(400), "duplicate single-instance headers";
    mcl01 => answered(400), "two Content-Length headers";
    bcast => Parses, "response with a broadcast Via: the transaction layer drops it";
    zeromf => Parses, "Max-Forwards 0: a UA still answers";
    cparam01 => Parses, "Contact parameters without <>";
    cparam02 => Parses, "Contact URI parameter inside <>";
    regescrt => Parses, "escaped Route in a Contact inside <>: the registrar decides";
    sdp01 => Parses, "unacceptable Accept: the UA answers 415";
    inv2543 => Parses, "RFC 2543 request: no branch, tag, Max-Forwards or Content-Length";
}

#[test]
fn rfc4475_torture_messages_are_classified() {
    assert_eq!(TORTURE.len(), 49);
    let mut echoing_the_fault = Vec::new();
    for (name, raw, expect, why) in TORTURE {
        let got = parse(raw);
        match (expect, &got) {
            (Parses, Ok(_)) => {}
            (Refused { answer }, Err(error)) => {
                let reply = error_response(raw, error);
                assert_eq!(
                    reply.as_ref().map(|_| error.status_code()),
                    *answer,
                    "{name} ({why}): {error}"
                );
                if let Some(reply) = reply {
                    let code = error.status_code();
                    assert!(
                        reply.starts_with(
                            format!("SIP/2.0 {code} {}\r\n", reason_phrase(code)).as_bytes()
                        ),
                        "{name}"
                    );
                    // The response we send parses again, unless it had to
                    // echo the fault (RFC 3261 §8.2.6.2 copies the headers).
                    if parse(&reply).is_err() {
                        echoing_the_fault.push(*name);
                    }
                }
                // bad_request answers exactly the requests error_response answers.
                assert_eq!(
                    bad_request(raw, &error.reason()).is_some(),
                    answer.is_some(),
                    "{name}"
                );
            }
            _ => panic!("{name} ({why}): expected {expect:?}, got {got:?}"),
        }
    }
    assert_eq!(
        echoing_the_fault,
        // Bad Via, CSeq, From/To, version, or a CSeq method rsip cannot name.
        [
            "intmeth", "esc02", "badinv01", "scalar02", "quotbal", "badaspec", "badvers"
        ]
    );
}

fn torture(name: &str) -> &'static [u8] {
    TORTURE
        .iter()
        .find(|t| t.0 == name)
        .map(|t| t.1)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn request(name: &str) -> Request {
    match parse(torture(name)) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("{name}: {other:?}"),
    }
}

fn values(headers: &Headers, wanted: fn(&Header) -> Option<&str>) -> Vec<String> {
    headers
        .iter()
        .filter_map(wanted)
        .map(str::to_owned)
        .collect()
}

fn via(h: &Header) -> Option<&str> {
    match h {
        Header::Via(v) => Some(v.value()),
        _ => None,
    }
}

#[test]
fn wsinv_is_read_as_the_rfc_means_it() {
    let r = request("wsinv");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(
        r.uri.to_string(),
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    assert_eq!(
        r.to_header().unwrap().tag().unwrap().unwrap().to_string(),
        "1918181833n"
    );
    assert_eq!(
        r.from_header().unwrap().tag().unwrap().unwrap().to_string(),
        "98asjd8"
    );
    assert_eq!(
        r.cseq_header().unwrap().typed().unwrap(),
        rsip::typed::CSeq {
            seq: 9,
            method: Method::Invite
        }
    );
    assert_eq!(
        values(&r.headers, via),
        [
            "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw",
            "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8",
            "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239",
        ]
    );
    let contact = r.contact_header().unwrap().typed().unwrap();
    assert_eq!(contact.uri.to_string(), "sip:jdrosen@example.com");
    assert!(
        r.headers
            .iter()
            .any(|h| matches!(h, Header::Subject(s) if s.value().is_empty()))
    );
    assert!(r.headers.iter().any(
        |h| matches!(h, Header::Other(n, v) if n == "NewFangledHeader" && v == "newfangled value continued newfangled value")
    ));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn esc01_compact_forms_and_escapes() {
    let r = request("esc01");
    assert_eq!(r.uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(
        r.call_id_header().unwrap().value(),
        "esc01.239409asdfakjkn23onasd0-3234"
    );
    assert!(
        r.headers
            .iter()
            .any(|h| matches!(h, Header::ContentType(c) if c.value() == "application/sdp"))
    );
}

#[test]
fn dblreq_takes_only_the_first_message() {
    let r = request("dblreq");
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
    assert_eq!(
        r.call_id_header().unwrap().value(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
}

#[test]
fn longreq_keeps_all_vias_in_order() {
    let r = request("longreq");
    let vias = values(&r.headers, via);
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0], "SIP/2.0/TCP sip33.example.com");
    assert_eq!(vias[21], "SIP/2.0/TCP sip12.example.com");
    assert!(
        vias[33].starts_with("SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=verylong")
    );
}

#[test]
fn semiuri_user_part_survives() {
    assert_eq!(
        request("semiuri").uri.user(),
        Some("user;par=u%40example.net")
    );
}

#[test]
fn mpart01_binary_body_is_exact() {
    let raw = torture("mpart01");
    let r = request("mpart01");
    assert_eq!(r.body.len(), 553);
    assert_eq!(r.body.as_slice(), &raw[raw.len() - 553..]);
}

#[test]
fn valid_responses_parse() {
    for name in ["unreason", "noreason"] {
        let Ok(SipMessage::Response(r)) = parse(torture(name)) else {
            panic!("{name}");
        };
        assert!(matches!(r.status_code.code(), 100 | 200), "{name}");
    }
}

#[test]
fn inv2543_takes_the_rest_of_the_datagram_as_body() {
    let r = request("inv2543");
    assert!(r.body.starts_with(b"v=0\r\n"));
    assert!(r.body.ends_with(b"m=audio 49217 RTP/AVP 0\r\n"));
}

#[test]
fn parsed_torture_messages_survive_a_round_trip() {
    for (name, raw, expect, _) in TORTURE {
        if *expect != Parses {
            continue;
        }
        let first = parse(raw).unwrap();
        let again = parse(&to_bytes(&first)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // to_bytes writes Content-Length last, from the body.
        let without_length = |m: &SipMessage| {
            let mut m = m.clone();
            m.headers_mut()
                .retain(|h| !matches!(h, Header::ContentLength(_)));
            m
        };
        assert_eq!(without_length(&first), without_length(&again), "{name}");
        let length = again.headers().iter().find_map(|h| match h {
            Header::ContentLength(l) => l.length().ok(),
            _ => None,
        });
        assert_eq!(
            length.map(|l| l as usize),
            Some(again.body().len()),
            "{name}"
        );
    }
}
