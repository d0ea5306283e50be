//! Trunks kept alive by a user agent in simulated time, against a
//! scripted carrier.

use std::time::Duration;

use super::*;
use crate::transaction::testkit::origin;
use crate::ua::{UaConfig, UaEvent, UserAgent};

fn carrier(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn ua() -> UserAgent {
    UserAgent::new(UaConfig {
        local_addr: "127.0.0.1:5060".parse().unwrap(),
        ..UaConfig::default()
    })
}

fn registration() -> Registration {
    Registration {
        aor: "sip:6135550100@carrier.example".into(),
        registrar: "sip:carrier.example".into(),
        credentials: Some(("6135550100".into(), "secret".into())),
        expires: Duration::from_secs(600),
        retry: Duration::from_secs(10),
        retry_max: Duration::from_secs(40),
    }
}

fn sent(ua: &mut UserAgent) -> Vec<(Peer, String)> {
    std::iter::from_fn(|| ua.poll_transmit())
        .map(|d| (d.peer, String::from_utf8(d.bytes).unwrap()))
        .collect()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The carrier's response to `request`.
fn reply(request: &str, code: u16, extra: &str) -> Vec<u8> {
    let h = |n| header(request, n).unwrap();
    format!(
        "SIP/2.0 {code} {}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        message::reason_phrase(code),
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        h("CSeq"),
    )
    .into_bytes()
}

/// A user agent with one trunk to register to, from `t0`.
fn registering(t0: std::time::Instant) -> UserAgent {
    let mut ua = ua();
    ua.set_trunks(
        t0,
        vec![TrunkConfig {
            name: "carrier.example:5060".into(),
            peer: carrier(5070),
            keepalive: None,
            register: Some(registration()),
        }],
    );
    ua
}

fn trunk_events(ua: &mut UserAgent) -> Vec<TrunkStatus> {
    std::iter::from_fn(|| ua.poll_event())
        .filter_map(|e| match e {
            UaEvent::Trunk(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn a_trunk_registers_with_digest_refreshes_and_backs_off_on_failure() {
    let t0 = origin();
    let mut ua = registering(t0);
    let out = sent(&mut ua);
    assert_eq!(out.len(), 1);
    let (peer, first) = &out[0];
    assert_eq!(*peer, carrier(5070));
    assert!(
        first.starts_with("REGISTER sip:carrier.example SIP/2.0"),
        "{first}"
    );
    assert_eq!(
        header(first, "To"),
        Some("<sip:6135550100@carrier.example>")
    );
    assert_eq!(header(first, "Contact"), Some("<sip:211@127.0.0.1:5060>"));
    assert_eq!(header(first, "Expires"), Some("600"));
    assert_eq!(header(first, "Authorization"), None);
    assert!(!ua.trunk_status()[0].up, "not registered yet");

    // The challenge is answered at once, with the trunk's credentials.
    ua.handle_bytes(
        t0,
        carrier(5070),
        &reply(first, 401, "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"abc\", qop=\"auth\", algorithm=MD5\r\n"),
    );
    let out = sent(&mut ua);
    let second = &out.last().unwrap().1;
    assert!(second.starts_with("REGISTER "));
    let auth = header(second, "Authorization").expect("credentials");
    assert!(
        auth.contains("username=\"6135550100\"") && auth.contains("nonce=\"abc\""),
        "{auth}"
    );
    assert_eq!(header(second, "Call-ID"), header(first, "Call-ID"));
    assert_eq!(header(second, "CSeq"), Some("2 REGISTER"));

    // Granted 120 s: registered, refreshed after 60 s.
    ua.handle_bytes(
        t0,
        carrier(5070),
        &reply(
            second,
            200,
            "Contact: <sip:211@127.0.0.1:5060>;expires=120\r\n",
        ),
    );
    let changes = trunk_events(&mut ua);
    assert!(matches!(changes.as_slice(), [s] if s.up), "{changes:?}");
    assert_eq!(
        ua.trunk_status()[0].registration,
        Some(RegistrationState::Registered {
            until: t0 + Duration::from_secs(120)
        })
    );
    ua.handle_timeout(t0 + Duration::from_secs(59));
    assert!(
        sent(&mut ua)
            .iter()
            .all(|(_, m)| !m.starts_with("REGISTER"))
    );
    let t1 = t0 + Duration::from_secs(60);
    ua.handle_timeout(t1);
    let refresh = sent(&mut ua)
        .into_iter()
        .find(|(_, m)| m.starts_with("REGISTER"))
        .expect("a refresh")
        .1;
    assert!(
        header(&refresh, "Authorization").is_some(),
        "the refresh reuses the challenge"
    );

    // Refused: failed, down, retried after 10 s, then 20 s.
    ua.handle_bytes(t1, carrier(5070), &reply(&refresh, 403, ""));
    let changes = trunk_events(&mut ua);
    assert!(matches!(changes.as_slice(), [s] if !s.up), "{changes:?}");
    assert_eq!(
        ua.trunk_status()[0].registration,
        Some(RegistrationState::Failed {
            code: 403,
            retry_at: t1 + Duration::from_secs(10)
        })
    );
    let t2 = t1 + Duration::from_secs(10);
    ua.handle_timeout(t2);
    let retry = sent(&mut ua)
        .into_iter()
        .find(|(_, m)| m.starts_with("REGISTER"))
        .expect("a retry")
        .1;
    ua.handle_bytes(t2, carrier(5070), &reply(&retry, 503, ""));
    assert_eq!(
        ua.trunk_status()[0].registration,
        Some(RegistrationState::Failed {
            code: 503,
            retry_at: t2 + Duration::from_secs(20)
        })
    );
}

#[test]
fn a_second_challenge_right_after_ours_is_a_wrong_password() {
    let t0 = origin();
    let mut ua = registering(t0);
    let challenge = "WWW-Authenticate: Digest realm=\"carrier.example\", nonce=\"n1\"\r\n";
    let first = sent(&mut ua).remove(0).1;
    ua.handle_bytes(t0, carrier(5070), &reply(&first, 401, challenge));
    let second = sent(&mut ua).pop().unwrap().1;
    ua.handle_bytes(t0, carrier(5070), &reply(&second, 401, challenge));
    assert!(matches!(
        ua.trunk_status()[0].registration,
        Some(RegistrationState::Failed { code: 401, .. })
    ));
    assert!(
        sent(&mut ua)
            .iter()
            .all(|(_, m)| !m.starts_with("REGISTER")),
        "no loop of REGISTERs"
    );
}

#[test]
fn keepalives_put_trunks_that_answer_first() {
    let mut ua = ua();
    let t0 = origin();
    let every = Some(Duration::from_secs(30));
    ua.set_trunks(
        t0,
        vec![
            TrunkConfig {
                name: "a:5070".into(),
                peer: carrier(5070),
                keepalive: every,
                register: None,
            },
            TrunkConfig {
                name: "b:5080".into(),
                peer: carrier(5080),
                keepalive: every,
                register: None,
            },
        ],
    );
    assert_eq!(ua.trunk_order(), [carrier(5070), carrier(5080)]);
    let out = sent(&mut ua);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(_, m)| m.starts_with("OPTIONS ")));
    // b answers (even 404 means it is there); a never does.
    let to_b = &out.iter().find(|(p, _)| *p == carrier(5080)).unwrap().1;
    ua.handle_bytes(t0, carrier(5080), &reply(to_b, 404, ""));
    let mut now = t0;
    while ua.trunk_status()[0].reachable.is_none() {
        now = ua.poll_timeout().unwrap();
        ua.handle_timeout(now);
        for (peer, m) in sent(&mut ua) {
            if peer == carrier(5080) && m.starts_with("OPTIONS ") {
                ua.handle_bytes(now, peer, &reply(&m, 200, ""));
            }
        }
        assert!(now - t0 < Duration::from_secs(60));
    }
    assert_eq!(now - t0, Duration::from_secs(32), "Timer F");
    assert_eq!(ua.trunk_order(), [carrier(5080), carrier(5070)]);
    let status = ua.trunk_status();
    assert!(!status[0].up && status[1].up);
    // a answers again: first again.
    now += Duration::from_secs(30);
    ua.handle_timeout(now);
    for (peer, m) in sent(&mut ua) {
        if m.starts_with("OPTIONS ") {
            ua.handle_bytes(now, peer, &reply(&m, 200, ""));
        }
    }
    assert_eq!(ua.trunk_order(), [carrier(5070), carrier(5080)]);
}
