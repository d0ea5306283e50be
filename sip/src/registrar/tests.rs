use super::*;
use crate::digest::{DigestClient, ha1};
use rsip::Method;

const T0: u64 = 1_795_000_000;
const SECRET: [u8; 32] = [42; 32];
const PHONE: &str = "192.0.2.7:5062";

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: PHONE.parse().unwrap(),
    }
}

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig::default(), SECRET)
}

/// A registrar configured to offer SHA-256 before MD5.
fn sha256_first() -> Registrar {
    let mut config = RegistrarConfig::default();
    config.digest.algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
    Registrar::new(config, SECRET)
}

fn account(password: &str) -> Account {
    account_for("alice", password)
}

fn account_for(user: &str, password: &str) -> Account {
    Account {
        ha1_md5: ha1(Algorithm::Md5, user, "frontdoor", password),
        ha1_sha256: ha1(Algorithm::Sha256, user, "frontdoor", password),
        disabled: false,
    }
}

/// The store: alice with password `s3cret`.
fn alice(name: &str) -> Option<Account> {
    (name == "alice").then(|| account("s3cret"))
}

/// A REGISTER as a device sends it; `extra` holds Contact/Expires/… lines.
fn register_text(user: &str, call_id: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:frontdoor.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PHONE};branch=z9hG4bK{call_id}{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@frontdoor.example>;tag=dev1\r\n\
         To: <sip:{user}@frontdoor.example>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn parse(text: &str) -> Request {
    match message::parse(text.as_bytes()).unwrap() {
        rsip::SipMessage::Request(r) => r,
        other => panic!("{other:?}"),
    }
}

fn register(user: &str, call_id: &str, cseq: u32, extra: &str) -> Request {
    parse(&register_text(user, call_id, cseq, extra))
}

fn headers(message: &impl rsip::message::HasHeaders, name: &str) -> Vec<String> {
    message
        .headers()
        .iter()
        .filter_map(|h| {
            let text = h.to_string();
            let (n, v) = text.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .collect()
}

/// Contacts of a 200 as (uri, expires).
fn contacts(response: &Response) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = headers(response, "Contact")
        .iter()
        .map(|c| {
            let uri = c[1..c.find('>').unwrap()].to_owned();
            let expires = c.rsplit("expires=").next().unwrap().parse().unwrap();
            (uri, expires)
        })
        .collect();
    out.sort();
    out
}

/// A device that answers challenges, as baresip would.
struct Device {
    client: DigestClient,
    algorithm: Option<Algorithm>,
    cnonce: u32,
}

impl Device {
    fn new(password: &str) -> Self {
        Device {
            client: DigestClient::new("alice", password),
            algorithm: None,
            cnonce: 0,
        }
    }

    fn md5(password: &str) -> Self {
        Device {
            algorithm: Some(Algorithm::Md5),
            ..Device::new(password)
        }
    }

    fn take_challenge(&mut self, response: &Response) {
        assert_eq!(response.status_code.code(), 401);
        let values = headers(response, "WWW-Authenticate");
        let values = values
            .iter()
            .map(String::as_str)
            .filter(|v| match self.algorithm {
                Some(a) => Challenge::parse(v).unwrap().algorithm == a,
                None => true,
            });
        self.client.on_challenge_values(false, values).unwrap();
    }

    fn sign(&mut self, mut request: Request) -> Request {
        self.cnonce += 1;
        assert!(
            self.client
                .authorize(&mut request, &format!("cn{}", self.cnonce))
        );
        // Through the wire, as the registrar will see it.
        let bytes = message::to_bytes(&rsip::SipMessage::Request(request));
        parse(std::str::from_utf8(&bytes).unwrap())
    }
}

use crate::digest::Challenge;

/// Register `extra` for alice, answering the first challenge.
fn registered(r: &mut Registrar, now: u64, call_id: &str, cseq: u32, extra: &str) -> Device {
    let mut device = Device::new("s3cret");
    let first = r.handle(now, peer(), &register("alice", call_id, cseq, extra), alice);
    device.take_challenge(&first.response);
    let signed = device.sign(register("alice", call_id, cseq + 1, extra));
    let reply = r.handle(now, peer(), &signed, alice);
    assert_eq!(reply.outcome.code(), 200, "{:?}", reply.outcome);
    device
}

// ---- authentication ---------------------------------------------------------

#[test]
fn without_credentials_401_with_md5_then_sha256_challenges() {
    let mut r = registrar();
    let reply = r.handle(
        T0,
        peer(),
        &register(
            "alice",
            "c1",
            1,
            "Contact: <sip:alice@192.168.1.20:5062>\r\n",
        ),
        |_| panic!("no lookup without credentials"),
    );
    assert_eq!(reply.response.status_code.code(), 401);
    assert_eq!(
        reply.outcome,
        Outcome::Challenged {
            stale: false,
            why: AuthFailure::NoCredentials
        }
    );
    let challenges: Vec<Challenge> = headers(&reply.response, "WWW-Authenticate")
        .iter()
        .map(|v| Challenge::parse(v).unwrap())
        .collect();
    assert_eq!(challenges.len(), 2);
    assert_eq!(challenges[0].algorithm, Algorithm::Md5);
    assert_eq!(challenges[1].algorithm, Algorithm::Sha256);
    assert!(
        challenges
            .iter()
            .all(|c| c.realm == "frontdoor" && c.offers_auth())
    );
    // The response echoes the request and carries a To tag.
    assert_eq!(headers(&reply.response, "Call-ID"), ["c1"]);
    assert!(headers(&reply.response, "To")[0].contains(";tag="));
    assert!(r.bindings("alice", T0).is_empty());
}

#[test]
fn md5_and_sha256_credentials_both_register() {
    for device in [Device::md5("s3cret"), Device::new("s3cret")] {
        let mut device = device;
        let mut r = registrar();
        let extra = "Contact: <sip:alice@192.168.1.20:5062>\r\n";
        let first = r.handle(T0, peer(), &register("alice", "c1", 1, extra), alice);
        device.take_challenge(&first.response);
        let signed = device.sign(register("alice", "c1", 2, extra));
        let expected = device.algorithm.unwrap_or(Algorithm::Sha256);
        let auth = headers(&signed, "Authorization");
        assert!(
            auth[0].contains(&format!("algorithm={expected}")),
            "{auth:?}"
        );
        assert_eq!(r.auth_username(&signed).as_deref(), Some("alice"));
        let reply = r.handle(T0, peer(), &signed, alice);
        assert_eq!(reply.response.status_code.code(), 200);
        assert_eq!(
            contacts(&reply.response),
            [("sip:alice@192.168.1.20:5062".to_owned(), 3600)]
        );
        let Outcome::Registered { aor, added, .. } = &reply.outcome else {
            panic!("{:?}", reply.outcome)
        };
        assert_eq!(aor, "alice");
        assert_eq!(added.len(), 1);
        assert!(reply.outcome.changed());
    }
}

#[test]
fn wrong_password_and_unknown_user_get_a_fresh_401() {
    let mut r = registrar();
    let extra = "Contact: <sip:alice@192.168.1.20>\r\n";
    let mut device = Device::new("guess");
    let first = r.handle(T0, peer(), &register("alice", "c1", 1, extra), alice);
    device.take_challenge(&first.response);
    let signed = device.sign(register("alice", "c1", 2, extra));
    let reply = r.handle(T0, peer(), &signed, alice);
    assert_eq!(
        reply.outcome,
        Outcome::Challenged {
            stale: false,
            why: AuthFailure::Digest(DigestError::WrongResponse)
        }
    );
    assert_eq!(headers(&reply.response, "WWW-Authenticate").len(), 2);
    // A disabled account with the wrong password is not told it is disabled.
    let reply = r.handle(T0, peer(), &signed, |_| {
        Some(Account {
            disabled: true,
            ..account("s3cret")
        })
    });
    assert_eq!(reply.outcome.code(), 401);
    let reply = r.handle(T0, peer(), &signed, |_| None);
    assert_eq!(
        reply.outcome,
        Outcome::Challenged {
            stale: false,
            why: AuthFailure::UnknownUser("alice".into())
        }
    );
    assert!(r.bindings("alice", T0).is_empty());
}

#[test]
fn disabled_account_gets_403_after_authentication() {
    let mut r = registrar();
    let extra = "Contact: <sip:alice@192.168.1.20>\r\n";
    let disabled = |_: &str| {
        Some(Account {
            disabled: true,
            ..account("s3cret")
        })
    };
    let first = r.handle(T0, peer(), &register("alice", "c1", 1, extra), disabled);
    assert_eq!(first.outcome.code(), 401);
    let mut device = Device::new("s3cret");
    device.take_challenge(&first.response);
    let reply = r.handle(
        T0,
        peer(),
        &device.sign(register("alice", "c1", 2, extra)),
        disabled,
    );
    assert_eq!(reply.response.status_code.code(), 403);
    assert!(
        matches!(&reply.outcome, Outcome::Refused { code: 403, reason } if reason.contains("disabled"))
    );
    assert!(headers(&reply.response, "Warning")[0].contains("disabled"));
    assert!(r.bindings("alice", T0).is_empty());
}

#[test]
fn another_users_aor_gets_403() {
    let mut r = registrar();
    let extra = "Contact: <sip:mallory@192.168.1.66>\r\n";
    let first = r.handle(T0, peer(), &register("bob", "c1", 1, extra), alice);
    let mut device = Device::new("s3cret");
    device.take_challenge(&first.response);
    // alice's credentials on bob's AOR.
    let reply = r.handle(
        T0,
        peer(),
        &device.sign(register("bob", "c1", 2, extra)),
        alice,
    );
    assert_eq!(reply.outcome.code(), 403);
    assert!(r.bindings("bob", T0).is_empty());
}

#[test]
fn to_without_user_gets_404() {
    let mut r = registrar();
    let text = register_text("alice", "c1", 1, "Contact: <sip:alice@192.168.1.20>\r\n").replace(
        "To: <sip:alice@frontdoor.example>",
        "To: <sip:frontdoor.example>",
    );
    let first = r.handle(T0, peer(), &parse(&text), alice);
    let mut device = Device::new("s3cret");
    device.take_challenge(&first.response);
    let text = text.replace("CSeq: 1", "CSeq: 2");
    let reply = r.handle(T0, peer(), &device.sign(parse(&text)), alice);
    assert_eq!(reply.outcome.code(), 404);
}

#[test]
fn stale_nonce_gets_401_with_stale_true() {
    let mut r = registrar();
    let extra = "Contact: <sip:alice@192.168.1.20>\r\n";
    let mut device = registered(&mut r, T0, "c1", 1, extra);
    // The refresh an hour later reuses the old nonce.
    let later = T0 + 1800;
    let reply = r.handle(
        later,
        peer(),
        &device.sign(register("alice", "c1", 3, extra)),
        alice,
    );
    assert_eq!(
        reply.outcome,
        Outcome::Challenged {
            stale: true,
            why: AuthFailure::Digest(DigestError::Stale)
        }
    );
    assert!(
        headers(&reply.response, "WWW-Authenticate")
            .iter()
            .all(|c| c.ends_with("stale=true"))
    );
    device.take_challenge(&reply.response);
    let reply = r.handle(
        later,
        peer(),
        &device.sign(register("alice", "c1", 4, extra)),
        alice,
    );
    assert_eq!(reply.outcome.code(), 200);
}

#[test]
fn replayed_request_gets_401_and_changes_nothing() {
    let mut r = registrar();
    let extra = "Contact: <sip:alice@192.168.1.20>\r\n";
    let mut device = Device::new("s3cret");
    let first = r.handle(T0, peer(), &register("alice", "c1", 1, extra), alice);
    device.take_challenge(&first.response);
    let signed = device.sign(register("alice", "c1", 2, extra));
    assert_eq!(r.handle(T0, peer(), &signed, alice).outcome.code(), 200);
    // An attacker replays the signed REGISTER with a new Call-ID, hoping to
    // re-bind: the nonce count did not increase.
    let replay = parse(
        &message::to_bytes(&rsip::SipMessage::Request(signed))
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .replace("Call-ID: c1", "Call-ID: evil"),
    );
    let reply = r.handle(T0 + 5, peer(), &replay, alice);
    assert!(matches!(
        reply.outcome,
        Outcome::Challenged {
            stale: false,
            why: AuthFailure::Digest(DigestError::Replay { nc: 1, last: 1 })
        }
    ));
    assert_eq!(r.bindings("alice", T0 + 5)[0].call_id, "c1");
}

#[test]
fn uri_mismatch_and_bad_authorization_get_400_unknown_algorithm_401() {
    let mut r = registrar();
    let extra = "Contact: <sip:alice@192.168.1.20>\r\n";
    let first = r.handle(T0, peer(), &register("alice", "c1", 1, extra), alice);
    let mut device = Device::new("s3cret");
    device.take_challenge(&first.response);
    // Signed for another Request-URI.
    let mut other = register("alice", "c1", 2, extra);
    other.uri = message::parse_uri("sip:elsewhere.example").unwrap();
    let signed = device.sign(other);
    let text = String::from_utf8(message::to_bytes(&rsip::SipMessage::Request(signed))).unwrap();
    let moved = parse(&text.replacen(
        "REGISTER sip:elsewhere.example",
        "REGISTER sip:frontdoor.example",
        1,
    ));
    let reply = r.handle(T0, peer(), &moved, alice);
    assert_eq!(reply.outcome.code(), 400, "{:?}", reply.outcome);

    let garbled = register(
        "alice",
        "c1",
        3,
        &format!("{extra}Authorization: Digest username=\"alice\", realm=\"frontdoor\r\n"),
    );
    let reply = r.handle(T0, peer(), &garbled, alice);
    assert!(
        matches!(&reply.outcome, Outcome::Refused { code: 400, reason } if reason.contains("Authorization"))
    );

    let sha512 = register(
        "alice",
        "c1",
        4,
        &format!(
            "{extra}Authorization: Digest username=\"alice\", realm=\"frontdoor\", nonce=\"n\", \
             uri=\"sip:frontdoor.example\", response=\"00\", algorithm=SHA-512-256\r\n"
        ),
    );
    let reply = r.handle(T0, peer(), &sha512, alice);
    assert!(matches!(
        reply.outcome,
        Outcome::Challenged {
            why: AuthFailure::Digest(DigestError::UnsupportedAlgorithm(_)),
            ..
        }
    ));
    // Credentials for another realm (a proxy's) are not ours: challenged.
    let foreign = register(
        "alice",
        "c1",
        5,
        &format!(
            "{extra}Authorization: Digest username=\"alice\", realm=\"proxy\", nonce=\"n\", \
             uri=\"sip:frontdoor.example\", response=\"0123456789abcdef0123456789abcdef\"\r\n"
        ),
    );
    let reply = r.handle(T0, peer(), &foreign, alice);
    assert_eq!(
        reply.outcome,
        Outcome::Challenged {
            stale: false,
            why: AuthFailure::NoCredentials
        }
    );
}

// ---- bindings ---------------------------------------------------------------

/// A signed REGISTER for alice (Call-ID c1) from `device`.
fn signed(device: &mut Device, cseq: u32, extra: &str) -> Request {
    device.sign(register("alice", "c1", cseq, extra))
}

#[test]
fn expires_param_beats_header_and_is_clamped() {
    let mut r = registrar();
    let mut d = registered(
        &mut r,
        T0,
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1>;expires=120, <sip:alice@10.0.0.2>\r\nExpires: 600\r\n",
    );
    assert_eq!(
        r.bindings("alice", T0)
            .iter()
            .map(|b| (b.uri.as_str(), b.remaining(T0)))
            .collect::<Vec<_>>(),
        [("sip:alice@10.0.0.1", 120), ("sip:alice@10.0.0.2", 600)]
    );
    let reply = r.handle(
        T0,
        peer(),
        &signed(&mut d, 3, "Contact: <sip:alice@10.0.0.3>;expires=86400\r\n"),
        alice,
    );
    assert_eq!(
        contacts(&reply.response),
        [
            ("sip:alice@10.0.0.1".to_owned(), 120),
            ("sip:alice@10.0.0.2".to_owned(), 600),
            ("sip:alice@10.0.0.3".to_owned(), 3600),
        ]
    );
    // A huge value saturates and is clamped too.
    let reply = r.handle(
        T0,
        peer(),
        &signed(
            &mut d,
            4,
            "Contact: <sip:alice@10.0.0.3>\r\nExpires: 99999999999999999999999\r\n",
        ),
        alice,
    );
    assert_eq!(contacts(&reply.response)[2].1, 3600);
}

#[test]
fn interval_too_brief_gets_423_with_min_expires_and_changes_nothing() {
    let mut r = registrar();
    let mut d = registered(&mut r, T0, "c1", 1, "Contact: <sip:alice@10.0.0.1>\r\n");
    let reply = r.handle(
        T0,
        peer(),
        &signed(
            &mut d,
            3,
            "Contact: <sip:alice@10.0.0.2>, <sip:alice@10.0.0.1>;expires=30\r\n",
        ),
        alice,
    );
    assert_eq!(reply.response.status_code.code(), 423);
    assert_eq!(headers(&reply.response, "Min-Expires"), ["60"]);
    assert_eq!(r.bindings("alice", T0).len(), 1);
    assert_eq!(r.bindings("alice", T0)[0].remaining(T0), 3600);
    // Exactly the minimum is fine.
    let reply = r.handle(
        T0,
        peer(),
        &signed(
            &mut d,
            4,
            "Contact: <sip:alice@10.0.0.1>\r\nExpires: 60\r\n",
        ),
        alice,
    );
    assert_eq!(
        contacts(&reply.response),
        [("sip:alice@10.0.0.1".to_owned(), 60)]
    );
}

#[test]
fn several_contacts_refresh_and_expires_zero_removes_one() {
    let mut r = registrar();
    let mut desk = registered(
        &mut r,
        T0,
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1:5062>\r\n",
    );
    // A second device (its own Call-ID) for the same account.
    let mut softphone = Device::new("s3cret");
    let extra = "Contact: <sip:alice@10.0.0.2:5070;transport=tcp>\r\n";
    let first = r.handle(T0 + 10, peer(), &register("alice", "c2", 1, extra), alice);
    softphone.take_challenge(&first.response);
    let reply = r.handle(
        T0 + 10,
        peer(),
        &softphone.sign(register("alice", "c2", 2, extra)),
        alice,
    );
    assert_eq!(
        contacts(&reply.response),
        [
            ("sip:alice@10.0.0.1:5062".to_owned(), 3590),
            ("sip:alice@10.0.0.2:5070;transport=tcp".to_owned(), 3600),
        ]
    );
    // The desk phone refreshes.
    let reply = r.handle(
        T0 + 100,
        peer(),
        &signed(&mut desk, 3, "Contact: <sip:alice@10.0.0.1:5062>\r\n"),
        alice,
    );
    let Outcome::Registered {
        refreshed,
        added,
        removed,
        ..
    } = &reply.outcome
    else {
        panic!()
    };
    assert_eq!((added.len(), refreshed.len(), removed.len()), (0, 1, 0));
    assert_eq!(refreshed[0].expires_at, T0 + 100 + 3600);
    assert_eq!(r.bindings("alice", T0 + 100).len(), 2);
    // The desk phone unregisters: Expires: 0 removes only its contact.
    let reply = r.handle(
        T0 + 200,
        peer(),
        &signed(
            &mut desk,
            4,
            "Contact: <sip:alice@10.0.0.1:5062>\r\nExpires: 0\r\n",
        ),
        alice,
    );
    let Outcome::Registered { removed, .. } = &reply.outcome else {
        panic!()
    };
    assert_eq!(removed[0].uri, "sip:alice@10.0.0.1:5062");
    assert_eq!(
        contacts(&reply.response),
        [("sip:alice@10.0.0.2:5070;transport=tcp".to_owned(), 3410)]
    );
    // Removing a contact that is not bound is harmless.
    let reply = r.handle(
        T0 + 201,
        peer(),
        &signed(&mut desk, 5, "Contact: <sip:alice@10.9.9.9>;expires=0\r\n"),
        alice,
    );
    assert_eq!(reply.outcome.code(), 200);
    assert!(!reply.outcome.changed());
}

#[test]
fn star_with_expires_zero_removes_all() {
    let mut r = registrar();
    let mut d = registered(
        &mut r,
        T0,
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1>, <sip:alice@10.0.0.2>\r\n",
    );
    let reply = r.handle(
        T0,
        peer(),
        &signed(&mut d, 3, "Contact: *\r\nExpires: 0\r\n"),
        alice,
    );
    assert_eq!(reply.response.status_code.code(), 200);
    assert!(contacts(&reply.response).is_empty());
    let Outcome::Registered { removed, .. } = &reply.outcome else {
        panic!()
    };
    assert_eq!(removed.len(), 2);
    assert!(r.bindings("alice", T0).is_empty());
    assert_eq!(r.aors().count(), 0);
}

#[test]
fn older_cseq_for_the_same_call_id_is_refused_another_call_id_replaces() {
    let mut r = registrar();
    let extra = "Contact: <sip:alice@10.0.0.1>\r\n";
    let mut d = registered(&mut r, T0, "c1", 5, extra);
    assert_eq!(r.bindings("alice", T0)[0].cseq, 6);
    // An older request of the same Call-ID arrives late: refused, no change.
    let reply = r.handle(
        T0 + 1,
        peer(),
        &signed(&mut d, 4, "Contact: <sip:alice@10.0.0.1>\r\nExpires: 0\r\n"),
        alice,
    );
    assert_eq!(reply.outcome.code(), 400);
    assert!(headers(&reply.response, "Warning")[0].contains("CSeq"));
    assert_eq!(r.bindings("alice", T0 + 1).len(), 1);
    // `*` too.
    let reply = r.handle(
        T0 + 1,
        peer(),
        &signed(&mut d, 6, "Contact: *\r\nExpires: 0\r\n"),
        alice,
    );
    assert_eq!(reply.outcome.code(), 400);
    // The device restarted: a new Call-ID with a low CSeq replaces the binding.
    let mut rebooted = Device::new("s3cret");
    let first = r.handle(T0 + 2, peer(), &register("alice", "boot2", 1, extra), alice);
    rebooted.take_challenge(&first.response);
    let reply = r.handle(
        T0 + 2,
        peer(),
        &rebooted.sign(register("alice", "boot2", 2, extra)),
        alice,
    );
    assert_eq!(reply.outcome.code(), 200);
    let b = &r.bindings("alice", T0 + 2)[0];
    assert_eq!((b.call_id.as_str(), b.cseq), ("boot2", 2));
}

#[test]
fn register_without_contact_queries_the_bindings() {
    let mut r = registrar();
    let mut d = registered(&mut r, T0, "c1", 1, "Contact: <sip:alice@10.0.0.1>\r\n");
    let reply = r.handle(T0 + 60, peer(), &signed(&mut d, 3, ""), alice);
    assert_eq!(reply.response.status_code.code(), 200);
    assert_eq!(
        contacts(&reply.response),
        [("sip:alice@10.0.0.1".to_owned(), 3540)]
    );
    assert!(!reply.outcome.changed());
}

#[test]
fn contact_params_are_kept_and_the_source_peer_recorded() {
    let mut r = registrar();
    let tcp = Peer {
        transport: Transport::Tcp,
        addr: "203.0.113.9:40123".parse().unwrap(),
    };
    let extra = "Contact: \"Alice's desk\" <sip:alice@192.168.1.20:5062;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1;expires=300\r\n";
    let mut device = Device::new("s3cret");
    let first = r.handle(T0, tcp, &register("alice", "c1", 1, extra), alice);
    device.take_challenge(&first.response);
    let reply = r.handle(
        T0,
        tcp,
        &device.sign(register("alice", "c1", 2, extra)),
        alice,
    );
    let b = &r.bindings("alice", T0)[0];
    assert_eq!(b.uri, "sip:alice@192.168.1.20:5062;transport=tcp");
    assert_eq!(
        b.params,
        ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1"
    );
    assert_eq!(b.peer, tcp);
    assert_eq!(b.expires_at, T0 + 300);
    assert_eq!(
        headers(&reply.response, "Contact"),
        [
            "<sip:alice@192.168.1.20:5062;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1;expires=300"
        ]
    );
}

#[test]
fn too_many_contacts_get_403() {
    let mut r = Registrar::new(
        RegistrarConfig {
            max_contacts: 2,
            ..RegistrarConfig::default()
        },
        SECRET,
    );
    let mut d = registered(
        &mut r,
        T0,
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1>, <sip:alice@10.0.0.2>\r\n",
    );
    let reply = r.handle(
        T0,
        peer(),
        &signed(&mut d, 3, "Contact: <sip:alice@10.0.0.3>\r\n"),
        alice,
    );
    assert_eq!(reply.outcome.code(), 403);
    assert_eq!(r.bindings("alice", T0).len(), 2);
}

#[test]
fn bindings_expire_with_time() {
    let mut r = registrar();
    registered(
        &mut r,
        T0,
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1>;expires=60, <sip:alice@10.0.0.2>;expires=120\r\n",
    );
    assert_eq!(r.next_expiry(), Some(T0 + 60));
    assert!(r.expire(T0 + 59).is_empty());
    // Lapsed but not yet expired: no longer live.
    assert_eq!(r.bindings("alice", T0 + 60).len(), 1);
    let gone = r.expire(T0 + 60);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, "alice");
    assert_eq!(gone[0].1.uri, "sip:alice@10.0.0.1");
    assert_eq!(r.next_expiry(), Some(T0 + 120));
    assert_eq!(r.expire(T0 + 500).len(), 1);
    assert_eq!(r.next_expiry(), None);
    assert_eq!(r.aors().count(), 0);
}

#[test]
fn export_and_import_survive_a_restart() {
    let mut r = registrar();
    registered(
        &mut r,
        T0,
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1>;expires=60, <sip:alice@10.0.0.2>;reg-id=1\r\n",
    );
    let saved = r.export();
    assert_eq!(saved.len(), 2);
    assert_eq!(saved[1].transport, "UDP");
    assert_eq!(saved[1].source, PHONE);
    assert_eq!(saved[1].params, ";reg-id=1");
    assert_eq!(saved, r.records("alice"));

    // A restart: a new secret, 100 s later. One binding lapsed meanwhile.
    let mut restarted = Registrar::new(RegistrarConfig::default(), [1; 32]);
    let mut rows = saved.clone();
    rows.push(BindingRecord {
        aor: "bob".into(),
        uri: "sip:bob@10.0.0.3".into(),
        transport: "SCTP".into(),
        source: "10.0.0.3:5060".into(),
        expires_at: T0 + 1000,
        ..BindingRecord::default()
    });
    rows.push(BindingRecord {
        aor: "bob".into(),
        uri: "not a uri".into(),
        transport: "TCP".into(),
        source: "10.0.0.3:5060".into(),
        expires_at: T0 + 1000,
        ..BindingRecord::default()
    });
    rows.push(BindingRecord {
        aor: "bob".into(),
        uri: "sip:bob@10.0.0.3".into(),
        transport: "TCP".into(),
        source: "nowhere".into(),
        expires_at: T0 + 1000,
        ..BindingRecord::default()
    });
    let report = restarted.import(T0 + 100, rows);
    assert_eq!(report.restored, 1);
    assert_eq!(report.expired, 1);
    assert_eq!(report.invalid.len(), 3, "{:?}", report.invalid);
    let live = restarted.bindings("alice", T0 + 100);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0], r.bindings("alice", T0)[1]);
    // The device's old nonce is unknown to the new secret: a fresh challenge,
    // and its binding is refreshed by the next REGISTER as usual.
    let mut d = Device::new("s3cret");
    let extra = "Contact: <sip:alice@10.0.0.2>;reg-id=1\r\n";
    let first = restarted.handle(T0 + 100, peer(), &register("alice", "c1", 3, extra), alice);
    d.take_challenge(&first.response);
    let reply = restarted.handle(
        T0 + 100,
        peer(),
        &d.sign(register("alice", "c1", 4, extra)),
        alice,
    );
    assert_eq!(reply.outcome.code(), 200);
    assert_eq!(
        contacts(&reply.response),
        [("sip:alice@10.0.0.2".to_owned(), 3600)]
    );
}

// ---- malformed requests -------------------------------------------------------

#[test]
fn malformed_registers_get_400_with_a_reason_before_authentication() {
    let mut r = registrar();
    let cases: &[(&str, &str)] = &[
        (
            "Contact: <sip:alice@10.0.0.1>\r\nExpires: soon\r\n",
            "Expires",
        ),
        (
            "Contact: <sip:alice@10.0.0.1>\r\nExpires: -1\r\n",
            "Expires",
        ),
        ("Contact: <sip:alice@10.0.0.1>;expires=x\r\n", "expires"),
        (
            "Contact: <sip:alice@10.0.0.1>;expires=1;expires=2\r\n",
            "twice",
        ),
        ("Contact: *\r\n", "Expires: 0"),
        ("Contact: *\r\nExpires: 60\r\n", "Expires: 0"),
        ("Contact: *, <sip:alice@10.0.0.1>\r\nExpires: 0\r\n", "only"),
        (
            "Contact: <sip:alice@10.0.0.1>\r\nContact: *\r\nExpires: 0\r\n",
            "only",
        ),
    ];
    for (extra, why) in cases {
        let reply = r.handle(T0, peer(), &register("alice", "c1", 1, extra), |_| {
            panic!("no lookup for a malformed request")
        });
        match &reply.outcome {
            Outcome::Refused { code: 400, reason } => {
                assert!(reason.contains(why), "{extra:?}: {reason}");
            }
            other => panic!("{extra:?}: {other:?}"),
        }
        assert_eq!(reply.response.status_code.code(), 400);
        assert!(!headers(&reply.response, "Warning").is_empty());
    }
}

#[test]
fn requests_missing_headers_get_400_never_a_panic() {
    let mut r = registrar();
    let good = register("alice", "c1", 1, "Contact: <sip:alice@10.0.0.1>\r\n");
    let without = |f: fn(&Header) -> bool| {
        let mut request = good.clone();
        request.headers.retain(|h| !f(h));
        request
    };
    let cases = [
        (without(|h| matches!(h, Header::To(_))), "To"),
        (without(|h| matches!(h, Header::CallId(_))), "Call-ID"),
        (without(|h| matches!(h, Header::CSeq(_))), "CSeq"),
    ];
    for (request, why) in cases {
        let reply = r.handle(T0, peer(), &request, alice);
        assert!(
            matches!(&reply.outcome, Outcome::Refused { code: 400, reason } if reason.contains(why)),
            "{:?}",
            reply.outcome
        );
    }
    // Garbage in headers rsip let through.
    let mut odd = good.clone();
    odd.headers
        .retain(|h| !matches!(h, Header::Contact(_) | Header::To(_)));
    odd.headers.push(Header::To(rsip::headers::To::new(
        "\"unterminated <sip:a@b>",
    )));
    assert_eq!(r.handle(T0, peer(), &odd, alice).outcome.code(), 400);
    for contact in [
        "<sip:a@b",
        "<>",
        "sip:a@b junk",
        "\"x\" <http://x>",
        ",,",
        "<sip:a@b>x",
    ] {
        let mut bad = good.clone();
        bad.headers.retain(|h| !matches!(h, Header::Contact(_)));
        bad.headers
            .push(Header::Contact(rsip::headers::Contact::new(contact)));
        let reply = r.handle(T0, peer(), &bad, alice);
        assert_eq!(
            reply.outcome.code(),
            400,
            "{contact:?}: {:?}",
            reply.outcome
        );
    }
    let mut cseq = good.clone();
    cseq.headers.retain(|h| !matches!(h, Header::CSeq(_)));
    cseq.headers
        .push(Header::CSeq(rsip::headers::CSeq::new("many REGISTER")));
    assert_eq!(r.handle(T0, peer(), &cseq, alice).outcome.code(), 400);
    let mut options = good.clone();
    options.method = Method::Options;
    assert_eq!(r.handle(T0, peer(), &options, alice).outcome.code(), 400);
}

#[test]
fn random_mutations_never_panic() {
    let mut r = registrar();
    let mut d = registered(&mut r, T0, "c1", 1, "Contact: <sip:alice@10.0.0.1>\r\n");
    let base = String::from_utf8(message::to_bytes(&rsip::SipMessage::Request(signed(
        &mut d,
        3,
        "Contact: \"A\" <sip:alice@10.0.0.1>;expires=120;q=0.5\r\nExpires: 60\r\n",
    ))))
    .unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..3000 {
        let mut bytes = base.clone().into_bytes();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..bytes.len());
            bytes[i] = *rng.choice(b"\"\\,;=<>* \t0:@".iter()).unwrap();
        }
        if let Ok(rsip::SipMessage::Request(request)) = message::parse(&bytes) {
            let _ = r.handle(T0 + 1, peer(), &request, alice);
        }
    }
}

// ---- end to end through the public API ---------------------------------------

/// The whole story through the user agent: bytes in, bytes out.
#[test]
fn end_to_end_register_through_the_user_agent() {
    use crate::transaction::testkit::origin;
    use crate::ua::{UaConfig, UaEvent, UserAgent};

    let mut ua = UserAgent::new(UaConfig {
        registrar: true,
        ..UaConfig::default()
    });
    let mut registrar = registrar();
    fn store(name: &str) -> Option<Account> {
        match name {
            "alice" => Some(account("s3cret")),
            "bob" => Some(Account {
                disabled: true,
                ..account_for("bob", "b0b")
            }),
            _ => None,
        }
    }
    /// One exchange: bytes to the UA, the driver's part, the bytes it sends.
    fn exchange(ua: &mut UserAgent, registrar: &mut Registrar, now: u64, text: &str) -> Response {
        let instant = origin();
        ua.handle_bytes(instant, peer(), text.as_bytes());
        let Some(UaEvent::Register(incoming)) = ua.poll_event() else {
            panic!("no Register event")
        };
        // The driver: look the account up (async in real life), then handle.
        let user = registrar.auth_username(&incoming.request);
        let account = user.as_deref().and_then(store);
        let reply = registrar.handle(now, incoming.peer, &incoming.request, |name| {
            (Some(name) == user.as_deref()).then_some(account).flatten()
        });
        ua.respond_to(instant, incoming.pending, reply.response)
            .unwrap();
        let out = ua.poll_transmit().expect("a response on the wire");
        assert_eq!(out.peer, peer());
        match message::parse(&out.bytes).unwrap() {
            rsip::SipMessage::Response(r) => r,
            other => panic!("{other:?}"),
        }
    }
    let desk = "Contact: <sip:alice@192.168.1.20:5062>\r\n";

    // 1. No credentials: 401 with MD5 then SHA-256 (the defaults: devices
    // that take the first challenge register at once).
    let challenge = exchange(
        &mut ua,
        &mut registrar,
        T0,
        &register_text("alice", "c1", 1, desk),
    );
    assert_eq!(challenge.status_code.code(), 401);
    let algorithms: Vec<Algorithm> = headers(&challenge, "WWW-Authenticate")
        .iter()
        .map(|v| Challenge::parse(v).unwrap().algorithm)
        .collect();
    assert_eq!(algorithms, [Algorithm::Md5, Algorithm::Sha256]);

    // 2. The same REGISTER with an MD5 response: 200 with the contact.
    let mut device = Device::md5("s3cret");
    device.take_challenge(&challenge);
    let wire =
        |r: Request| String::from_utf8(message::to_bytes(&rsip::SipMessage::Request(r))).unwrap();
    let ok = exchange(
        &mut ua,
        &mut registrar,
        T0,
        &wire(device.sign(register("alice", "c1", 2, desk))),
    );
    assert_eq!(ok.status_code.code(), 200);
    assert_eq!(
        contacts(&ok),
        [("sip:alice@192.168.1.20:5062".to_owned(), 3600)]
    );

    // 3. Refresh ten minutes later (same nonce, nc=2... the nonce is stale by
    //    then: a stale challenge, then 200).
    let stale = exchange(
        &mut ua,
        &mut registrar,
        T0 + 600,
        &wire(device.sign(register("alice", "c1", 3, desk))),
    );
    assert_eq!(stale.status_code.code(), 401);
    assert!(headers(&stale, "WWW-Authenticate")[0].contains("stale=true"));
    device.take_challenge(&stale);
    let ok = exchange(
        &mut ua,
        &mut registrar,
        T0 + 600,
        &wire(device.sign(register("alice", "c1", 4, desk))),
    );
    assert_eq!(
        contacts(&ok),
        [("sip:alice@192.168.1.20:5062".to_owned(), 3600)]
    );
    // Within the nonce's life a refresh needs no new challenge (nc=2).
    let ok = exchange(
        &mut ua,
        &mut registrar,
        T0 + 660,
        &wire(device.sign(register("alice", "c1", 5, desk))),
    );
    assert_eq!(ok.status_code.code(), 200);

    // 4. A second contact.
    let softphone = "Contact: <sip:alice@10.8.0.5:5070;transport=tcp>\r\n";
    let replayable = wire(device.sign(register("alice", "c1", 6, softphone)));
    let ok = exchange(&mut ua, &mut registrar, T0 + 670, &replayable);
    assert_eq!(
        contacts(&ok),
        [
            ("sip:alice@10.8.0.5:5070;transport=tcp".to_owned(), 3600),
            ("sip:alice@192.168.1.20:5062".to_owned(), 3590),
        ]
    );

    // 5. Expires: 0 removes the desk phone only.
    let gone = format!("{desk}Expires: 0\r\n");
    let ok = exchange(
        &mut ua,
        &mut registrar,
        T0 + 680,
        &wire(device.sign(register("alice", "c1", 7, &gone))),
    );
    assert_eq!(
        contacts(&ok),
        [("sip:alice@10.8.0.5:5070;transport=tcp".to_owned(), 3590)]
    );

    // 6. The request of step 4 replayed (new branch: a new transaction):
    //    401, nothing re-added.
    let replay = replayable.replace("branch=z9hG4bKc16", "branch=z9hG4bKreplay");
    let refused = exchange(&mut ua, &mut registrar, T0 + 690, &replay);
    assert_eq!(refused.status_code.code(), 401);
    assert_eq!(registrar.bindings("alice", T0 + 690).len(), 1);

    // 7. A disabled account: 401, then 403 once authenticated.
    let bob_contact = "Contact: <sip:bob@192.168.1.30>\r\n";
    let challenge = exchange(
        &mut ua,
        &mut registrar,
        T0 + 700,
        &register_text("bob", "b1", 1, bob_contact),
    );
    assert_eq!(challenge.status_code.code(), 401);
    let mut bob = Device {
        client: DigestClient::new("bob", "b0b"),
        algorithm: None,
        cnonce: 0,
    };
    bob.take_challenge(&challenge);
    let forbidden = exchange(
        &mut ua,
        &mut registrar,
        T0 + 700,
        &wire(bob.sign(register("bob", "b1", 2, bob_contact))),
    );
    assert_eq!(forbidden.status_code.code(), 403);
    assert!(registrar.bindings("bob", T0 + 700).is_empty());

    // The binding carries what the B2BUA needs to call the device.
    let b = &registrar.bindings("alice", T0 + 700)[0];
    assert_eq!(b.uri, "sip:alice@10.8.0.5:5070;transport=tcp");
    assert_eq!(b.peer, peer());
}

#[test]
fn the_200_carries_a_date() {
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(http_date(T0), "Wed, 18 Nov 2026 11:06:40 GMT");
    let mut r = registrar();
    let mut d = registered(&mut r, T0, "c1", 1, "Contact: <sip:alice@10.0.0.1>\r\n");
    let reply = r.handle(T0, peer(), &signed(&mut d, 3, ""), alice);
    assert_eq!(
        headers(&reply.response, "Date"),
        ["Wed, 18 Nov 2026 11:06:40 GMT"]
    );
}

#[test]
fn a_required_extension_gets_420_with_unsupported() {
    let mut r = registrar();
    let request = register(
        "alice",
        "c1",
        1,
        "Contact: <sip:alice@10.0.0.1>\r\nRequire: path, gruu\r\n",
    );
    let reply = r.handle(T0, peer(), &request, |_| panic!("no lookup"));
    assert_eq!(reply.response.status_code.code(), 420);
    assert_eq!(headers(&reply.response, "Unsupported"), ["path, gruu"]);
    // Supported is not Require: fine.
    let request = register(
        "alice",
        "c1",
        2,
        "Contact: <sip:alice@10.0.0.1>\r\nSupported: path, outbound\r\n",
    );
    assert_eq!(r.handle(T0, peer(), &request, alice).outcome.code(), 401);
}

fn algorithms_offered(response: &Response) -> Vec<Algorithm> {
    headers(response, "WWW-Authenticate")
        .iter()
        .map(|v| Challenge::parse(v).unwrap().algorithm)
        .collect()
}

#[test]
fn a_known_md5_only_device_is_offered_md5_alone_from_its_first_challenge() {
    let mut r = sha256_first();
    let baresip = "Contact: <sip:alice@10.0.0.1>\r\nUser-Agent: baresip v1.0.0 (x86_64/linux)\r\n";
    let first = r.handle(T0, peer(), &register("alice", "b1", 1, baresip), alice);
    assert_eq!(algorithms_offered(&first.response), [Algorithm::Md5]);
    // Others get the configured set.
    let other = "Contact: <sip:alice@10.0.0.1>\r\nUser-Agent: LinphoneCore/5.1\r\n";
    let first = r.handle(T0, peer(), &register("alice", "l1", 1, other), alice);
    assert_eq!(
        algorithms_offered(&first.response),
        [Algorithm::Sha256, Algorithm::Md5]
    );
}

#[test]
fn a_device_that_cannot_answer_sha256_gets_md5_alone_on_its_retry() {
    let mut r = sha256_first();
    let extra = "Contact: <sip:alice@10.0.0.1>\r\n";
    // libre 1.x: the full set, then silence, then the same Call-ID again.
    let first = r.handle(T0, peer(), &register("alice", "old", 1, extra), alice);
    assert_eq!(
        algorithms_offered(&first.response),
        [Algorithm::Sha256, Algorithm::Md5]
    );
    let retry = r.handle(T0 + 32, peer(), &register("alice", "old", 2, extra), alice);
    assert_eq!(algorithms_offered(&retry.response), [Algorithm::Md5]);
    let mut device = Device::md5("s3cret");
    device.take_challenge(&retry.response);
    let reply = r.handle(
        T0 + 32,
        peer(),
        &device.sign(register("alice", "old", 3, extra)),
        alice,
    );
    assert_eq!(reply.outcome.code(), 200);
    // Its refreshes (no credentials up front) get MD5 alone at once,
    // stale re-challenges too.
    let refresh = r.handle(
        T0 + 1800,
        peer(),
        &register("alice", "old", 4, extra),
        alice,
    );
    assert_eq!(algorithms_offered(&refresh.response), [Algorithm::Md5]);
    let stale = r.handle(
        T0 + 1800,
        peer(),
        &device.sign(register("alice", "old", 5, extra)),
        alice,
    );
    assert_eq!(stale.outcome.code(), 401);
    assert_eq!(algorithms_offered(&stale.response), [Algorithm::Md5]);
    // Forgotten once unused for twice the longest registration.
    r.expire(T0 + 1800 + 7201);
    let later = r.handle(
        T0 + 9100,
        peer(),
        &register("alice", "old", 6, extra),
        alice,
    );
    assert_eq!(algorithms_offered(&later.response).len(), 2);
}

#[test]
fn devices_that_answer_are_never_offered_less() {
    let mut r = sha256_first();
    let extra = "Contact: <sip:alice@10.0.0.1>\r\n";
    let mut device = registered(&mut r, T0, "new", 1, extra);
    // A refresh without credentials up front: the full set again.
    let refresh = r.handle(
        T0 + 1800,
        peer(),
        &register("alice", "new", 3, extra),
        alice,
    );
    assert_eq!(algorithms_offered(&refresh.response).len(), 2);
    device.take_challenge(&refresh.response);
    let ok = r.handle(
        T0 + 1800,
        peer(),
        &device.sign(register("alice", "new", 4, extra)),
        alice,
    );
    assert_eq!(ok.outcome.code(), 200);
    let again = r.handle(
        T0 + 3600,
        peer(),
        &register("alice", "new", 5, extra),
        alice,
    );
    assert_eq!(algorithms_offered(&again.response).len(), 2);
    // A wrong password, then a bare retry: it did answer, so no downgrade.
    let mut wrong = Device::new("guess");
    let first = r.handle(T0, peer(), &register("alice", "typo", 1, extra), alice);
    wrong.take_challenge(&first.response);
    let refused = r.handle(
        T0,
        peer(),
        &wrong.sign(register("alice", "typo", 2, extra)),
        alice,
    );
    assert_eq!(refused.outcome.code(), 401);
    let bare = r.handle(T0 + 5, peer(), &register("alice", "typo", 3, extra), alice);
    assert_eq!(algorithms_offered(&bare.response).len(), 2);
    // A bare retry long after the first challenge is a new start.
    let _ = r.handle(T0, peer(), &register("alice", "slow", 1, extra), alice);
    let late = r.handle(
        T0 + 901,
        peer(),
        &register("alice", "slow", 2, extra),
        alice,
    );
    assert_eq!(algorithms_offered(&late.response).len(), 2);
}

#[test]
fn the_md5_fallback_can_be_switched_off() {
    let mut r = Registrar::new(
        RegistrarConfig {
            legacy_md5_fallback: false,
            ..RegistrarConfig::default()
        },
        SECRET,
    );
    let extra = "Contact: <sip:alice@10.0.0.1>\r\n";
    let _ = r.handle(T0, peer(), &register("alice", "old", 1, extra), alice);
    let retry = r.handle(T0 + 30, peer(), &register("alice", "old", 2, extra), alice);
    assert_eq!(algorithms_offered(&retry.response).len(), 2);
}

mod send_to {
    use super::super::{Binding, Nat};
    use crate::{Peer, Transport};

    fn binding(contact: &str, from: &str, transport: Transport) -> Binding {
        Binding {
            uri: contact.to_owned(),
            params: String::new(),
            peer: Peer {
                transport,
                addr: from.parse().unwrap(),
            },
            expires_at: 100,
            call_id: "c".into(),
            cseq: 1,
            updated_at: 0,
        }
    }

    fn udp(addr: &str) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn a_contact_on_the_registering_host_or_a_public_address_is_followed() {
        // Another device of the same host registered the phone.
        let b = binding("sip:nav1@127.0.0.1:5072", "127.0.0.1:40000", Transport::Udp);
        assert_eq!(b.send_to(Nat::Auto), udp("127.0.0.1:5072"));
        // A provisioning server registered a phone with a public address.
        let b = binding("sip:nav1@198.51.100.9", "203.0.113.5:5060", Transport::Udp);
        assert_eq!(b.send_to(Nat::Auto), udp("198.51.100.9:5060"));
        assert_eq!(b.send_to(Nat::Never), udp("198.51.100.9:5060"));
        assert_eq!(b.send_to(Nat::Always), udp("203.0.113.5:5060"));
    }

    #[test]
    fn a_private_contact_from_another_address_is_behind_nat() {
        for private in [
            "192.168.1.20",
            "10.1.2.3",
            "172.16.0.4",
            "100.64.1.1",
            "169.254.3.3",
        ] {
            let b = binding(
                &format!("sip:nav1@{private}:5060"),
                "203.0.113.5:61000",
                Transport::Udp,
            );
            assert_eq!(b.send_to(Nat::Auto), udp("203.0.113.5:61000"), "{private}");
            assert_eq!(b.send_to(Nat::Never), udp(&format!("{private}:5060")));
        }
        let b = binding(
            "sip:nav1@[fd00::5]:5060",
            "[2001:db8::1]:5060",
            Transport::Udp,
        );
        assert_eq!(b.send_to(Nat::Auto), udp("[2001:db8::1]:5060"));
    }

    #[test]
    fn a_connection_or_a_name_keeps_the_source() {
        // Over TCP the phone's connection is used (its Contact port is not
        // where it connected from).
        let b = binding(
            "sip:nav1@127.0.0.1:5072;transport=tcp",
            "127.0.0.1:40000",
            Transport::Tcp,
        );
        assert_eq!(b.send_to(Nat::Auto), b.peer);
        let tcp = b.send_to(Nat::Never);
        assert_eq!((tcp.transport, tcp.addr.port()), (Transport::Tcp, 5072));
        let b = binding(
            "sip:nav1@127.0.0.1:5073;transport=tls",
            "127.0.0.1:40000",
            Transport::Tls,
        );
        assert_eq!(
            b.send_to(Nat::Never),
            b.peer,
            "no TLS connection is opened to a phone"
        );
        let b = binding(
            "sip:nav1@phone.example.org",
            "203.0.113.5:5060",
            Transport::Udp,
        );
        assert_eq!(b.send_to(Nat::Never), b.peer);
    }
}
