//! SIP from the network as the driver feeds it: bytes → normalise → parse →
//! transactions → user agent, over UDP (one datagram per message) and over
//! TCP (a stream cut by `message::frame`, as TLS is too), with a small
//! controller that answers what the user agent passes up the way the binary
//! does, and the clock then run past every timer.
//!
//! Input: messages separated by NUL bytes, so sequences (INVITE, then ACK,
//! CANCEL, re-INVITE, INFO, BYE) are explored. The tags, branches and
//! Call-IDs we generate are random, so a message names ours by placeholders
//! the harness fills in from what we last sent:
//!
//! - `$TAG`: the To tag of our last response that had one (an incoming
//!   call's dialog: ACK, BYE, re-INVITE and INFO need it);
//! - `$FTAG`, `$CALLID`, `$BRANCH`: the From tag, Call-ID and top Via
//!   branch of our last request (the outbound call placed at the start,
//!   our BYE or CANCEL): responses to them need these.
//!
//! Controller, per incoming call, by the last byte of its Call-ID modulo 4:
//! 0 answers at once; 1 rings, answers, and hangs up once confirmed;
//! 2 rejects with 486; 3 rings and waits (to be cancelled). Whatever is
//! still up when the input ends is hung up.
//!
//! Invariants checked besides "never panics": what we send reads back
//! with our own parser (unless it answers bytes that did not parse: a 400
//! echoes what it can); a timer that fired is not due again at the same
//! instant (a driver would spin); and once every call is hung up and the
//! clock has run out, no call and no transaction is left (anything left
//! would leak for the life of the server).

#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor_media::dtmf::parse_dtmf_relay;
use frontdoor_sip::message::{self, Framing};
use frontdoor_sip::registrar::{Account, Registrar, RegistrarConfig};
use frontdoor_sip::sdp::{self, Direction, LocalMedia};
use frontdoor_sip::ua::{CallRef, OutboundCall, UaConfig, UaEvent, UserAgent};
use frontdoor_sip::{Peer, Transport};
use libfuzzer_sys::fuzz_target;

/// Most messages read from one input: enough for any dialog, bounded time.
const MAX_MESSAGES: usize = 64;
/// Simulated time between two messages.
const STEP: Duration = Duration::from_millis(20);
/// Every timer of RFC 3261 ends within 64*T1 (32 s) plus Timer K/D; this
/// leaves room and still catches a timer that keeps rescheduling itself.
const QUIET_AFTER: Duration = Duration::from_secs(300);
/// The registrar's clock (Unix seconds) at the start of the input.
const UNIX_START: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let messages: Vec<&[u8]> = data.split(|b| *b == 0).take(MAX_MESSAGES).collect();
    // TCP framing on its own: any bytes, any length limit.
    let _ = message::frame(data, 65_535);
    let _ = message::frame(data, 512);
    for transport in [Transport::Udp, Transport::Tcp] {
        run(transport, &messages);
    }
});

fn run(transport: Transport, messages: &[&[u8]]) {
    // Not loopback, so the per-source limits apply as they do to strangers.
    let peer = Peer {
        transport,
        addr: SocketAddr::from(([203, 0, 113, 7], 5062)),
    };
    let mut h = Harness::new();
    // A call of ours to the peer, so its responses reach the UAC side.
    let mut outbound = OutboundCall::new("sip:nav1@203.0.113.7:5062", peer, h.offer());
    outbound.credentials = Some(("frontdoor".into(), "s3cret".into()));
    let now = h.start;
    if let Ok(call) = h.ua.invite(now, outbound) {
        h.live.insert(call, 0);
    }
    h.drive(now);

    let mut stream = Vec::new();
    for (i, raw) in messages.iter().enumerate() {
        let now = h.start + STEP * (i as u32 + 1);
        h.ua.handle_timeout(now);
        h.drive(now);
        let bytes = h.names.fill(raw);
        if !transport.is_reliable() {
            h.receive(now, peer, &bytes);
            continue;
        }
        // A stream (TCP, TLS): the driver's read loop frames it, hands each
        // message over, or closes the connection.
        stream.extend_from_slice(&bytes);
        loop {
            match message::frame(&stream, 65_535) {
                Ok(Framing::Complete(n)) => {
                    let one: Vec<u8> = stream.drain(..n).collect();
                    h.receive(now, peer, &one);
                }
                Ok(Framing::Keepalive(n)) => {
                    stream.drain(..n);
                }
                Ok(Framing::Incomplete) => break,
                Err(_) => {
                    // Unframeable: the connection closes; the next one
                    // starts empty.
                    stream.clear();
                    break;
                }
            }
        }
    }

    // The end of the input: hang up whatever is still up, then let every
    // timer run out.
    let mut now = h.start + STEP * (messages.len() as u32 + 1);
    let calls: Vec<CallRef> = h.live.keys().copied().collect();
    for call in calls {
        let _ = h.ua.hangup(now, call);
        h.drive(now);
    }
    let quiet = now + QUIET_AFTER;
    while let Some(at) = h.ua.poll_timeout() {
        assert!(at <= quiet, "a timer still runs long after the last input");
        now = now.max(at);
        h.ua.handle_timeout(now);
        h.drive(now);
        if let Some(next) = h.ua.poll_timeout() {
            assert!(next > now, "a timer fired but is still due");
        }
    }
    assert_eq!(h.ua.calls(), 0, "calls left after every timer ran out");
    assert_eq!(
        h.ua.transactions(),
        0,
        "transactions left after every timer ran out"
    );
}

struct Harness {
    ua: UserAgent,
    registrar: Registrar,
    local: LocalMedia,
    start: Instant,
    names: Names,
    /// Calls not yet ended → the controller's choice for them.
    live: HashMap<CallRef, u8>,
    /// The message being handled did not parse: what we send now may
    /// echo its garbage.
    echoes_garbage: bool,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            ua: UserAgent::new(UaConfig {
                registrar: true,
                ..Default::default()
            }),
            registrar: Registrar::new(RegistrarConfig::default(), [7; 32]),
            local: LocalMedia {
                addr: [192, 0, 2, 1].into(),
                port: 20_000,
                session_id: 1,
                session_version: 1,
                srtp: false,
            },
            start: Instant::now(),
            names: Names::default(),
            live: HashMap::new(),
            echoes_garbage: false,
        }
    }

    fn offer(&self) -> Vec<u8> {
        sdp::offer(&self.local, Direction::SendRecv)
    }

    /// Our answer to an offer, or the SIP error code refusing it; our own
    /// offer when there was none (late offer).
    fn answer(&self, offer: Option<&[u8]>) -> Result<Vec<u8>, u16> {
        match offer {
            Some(offer) => sdp::answer(offer, &self.local)
                .map(|(sdp, _)| sdp)
                .map_err(|e| e.status_code()),
            None => Ok(self.offer()),
        }
    }

    /// One message from the peer, and everything it leads to.
    fn receive(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        self.echoes_garbage = message::parse(bytes).is_err();
        self.ua.handle_bytes(now, peer, bytes);
        self.drive(now);
        self.echoes_garbage = false;
    }

    /// Send what is queued (remembering our names) and act on every event,
    /// until both queues are empty.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut idle = true;
            while let Some(datagram) = self.ua.poll_transmit() {
                idle = false;
                if !self.echoes_garbage
                    && let Err(e) = message::parse(&datagram.bytes)
                {
                    panic!(
                        "we sent what we cannot read ({e}):\n{}",
                        String::from_utf8_lossy(&datagram.bytes)
                    );
                }
                self.names.learn(&datagram.bytes);
            }
            while let Some(event) = self.ua.poll_event() {
                idle = false;
                self.on_event(now, event);
            }
            if idle {
                return;
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: UaEvent) {
        match event {
            UaEvent::Incoming(incoming) => {
                let call = incoming.call;
                let choice = incoming.call_id.bytes().last().unwrap_or(0) % 4;
                self.live.insert(call, choice);
                let answer = self.answer(incoming.offer.as_deref());
                let result = match (choice, answer) {
                    (2, _) => self.ua.reject(now, call, 486),
                    (3, _) => self.ua.ring(now, call),
                    (_, Err(code)) => self.ua.reject(now, call, code),
                    (0, Ok(sdp)) => self.ua.answer(now, call, sdp),
                    (_, Ok(sdp)) => self
                        .ua
                        .ring(now, call)
                        .and_then(|()| self.ua.answer(now, call, sdp)),
                };
                if result.is_err() || choice == 2 {
                    // Refused: the user agent forgot it already.
                    self.live.remove(&call);
                }
            }
            UaEvent::Confirmed { call, answer } => {
                if let Some(answer) = answer {
                    let _ = sdp::parse_answer(&answer);
                }
                if self.live.get(&call) == Some(&1) {
                    let _ = self.ua.hangup(now, call);
                }
            }
            UaEvent::ReInvite { call, offer } => {
                let answer = self.answer(offer.as_deref());
                let _ = self.ua.answer_reinvite(now, call, answer);
            }
            UaEvent::Info { body, .. } => {
                let _ = parse_dtmf_relay(&body);
            }
            UaEvent::Ended { call, .. } | UaEvent::Failed { call, .. } => {
                self.live.remove(&call);
            }
            UaEvent::EarlyMedia { sdp, .. } | UaEvent::Answered { sdp: Some(sdp), .. } => {
                let _ = sdp::parse_answer(&sdp);
            }
            UaEvent::Register(register) => {
                let unix = UNIX_START + now.duration_since(self.start).as_secs();
                let reply = self
                    .registrar
                    .handle(unix, register.peer, &register.request, |user| {
                        (user == "nav1").then(|| Account {
                            ha1_md5: "0".repeat(32),
                            ha1_sha256: "0".repeat(64),
                            disabled: false,
                        })
                    });
                let _ = self.ua.respond_to(now, register.pending, reply.response);
            }
            _ => {}
        }
    }
}

/// Our random names, as last sent, for the placeholders.
#[derive(Default)]
struct Names {
    tag: Vec<u8>,
    from_tag: Vec<u8>,
    call_id: Vec<u8>,
    branch: Vec<u8>,
}

impl Names {
    /// Read our own message's names (we write full header names, one
    /// header per line).
    fn learn(&mut self, bytes: &[u8]) {
        let head = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes, |end| &bytes[..end]);
        let mut lines = head.split(|b| *b == b'\n');
        let is_request = lines.next().is_some_and(|l| !l.starts_with(b"SIP/2.0"));
        let mut via_seen = false;
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            let value = value.trim_ascii();
            if name.eq_ignore_ascii_case(b"To") && !is_request {
                if let Some(tag) = param(value, b";tag=") {
                    self.tag = tag.to_vec();
                }
            } else if name.eq_ignore_ascii_case(b"From") && is_request {
                if let Some(tag) = param(value, b";tag=") {
                    self.from_tag = tag.to_vec();
                }
            } else if name.eq_ignore_ascii_case(b"Call-ID") && is_request {
                self.call_id = value.to_vec();
            } else if name.eq_ignore_ascii_case(b"Via") && is_request && !via_seen {
                via_seen = true;
                if let Some(branch) = param(value, b";branch=") {
                    self.branch = branch.to_vec();
                }
            }
        }
    }

    /// The message with the placeholders replaced.
    fn fill(&self, raw: &[u8]) -> Vec<u8> {
        // Longest first: `$TAG` is a suffix of `$FTAG`.
        let names: [(&[u8], &[u8]); 4] = [
            (b"$CALLID", &self.call_id),
            (b"$BRANCH", &self.branch),
            (b"$FTAG", &self.from_tag),
            (b"$TAG", &self.tag),
        ];
        let mut out = Vec::with_capacity(raw.len());
        let mut rest = raw;
        'outer: while let Some((&first, tail)) = rest.split_first() {
            if first == b'$' {
                for (name, value) in names {
                    if rest.starts_with(name) {
                        out.extend_from_slice(value);
                        rest = &rest[name.len()..];
                        continue 'outer;
                    }
                }
            }
            out.push(first);
            rest = tail;
        }
        out
    }
}

/// The value of `key` (e.g. `;tag=`) in a header value, up to the next
/// `;`, `>`, `,` or space.
fn param<'a>(value: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = value
        .windows(key.len())
        .position(|w| w.eq_ignore_ascii_case(key))?
        + key.len();
    let rest = &value[start..];
    let end = rest
        .iter()
        .position(|b| matches!(b, b';' | b'>' | b',' | b' '))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}
