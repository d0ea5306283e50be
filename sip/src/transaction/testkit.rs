//! Test helpers: sample messages, one side of a conversation with an
//! explicit clock, and small accessors for assertions.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Headers, Request, Response, SipMessage};

use super::{TimerConfig, TransactionKey, Transactions, Transmit, TxEvent, build};
use crate::{Peer, Transport};

pub(crate) const UDP_CALLER: Peer = peer(Transport::Udp, [192, 0, 2, 10]);
pub(crate) const TCP_CALLER: Peer = peer(Transport::Tcp, [192, 0, 2, 10]);
pub(crate) const UDP_SERVER: Peer = peer(Transport::Udp, [198, 51, 100, 2]);
pub(crate) const TCP_SERVER: Peer = peer(Transport::Tcp, [198, 51, 100, 2]);

const fn peer(transport: Transport, ip: [u8; 4]) -> Peer {
    Peer {
        transport,
        addr: SocketAddr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
            5060,
        )),
    }
}

/// The origin of a test's clock. Any instant will do: the layer only ever
/// sees the times a test hands it, so this is the one place tests read the
/// system clock.
pub(crate) fn origin() -> Instant {
    Instant::now()
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn parse_request(text: &str) -> Request {
    Request::try_from(text).expect("test request parses")
}

pub(crate) fn parse_response(text: &str) -> Response {
    Response::try_from(text).expect("test response parses")
}

/// A request from the host of `from` (its Via sent-by), with `branch`.
pub(crate) fn request(method: &str, from: Peer, branch: &str) -> Request {
    request_via(
        method,
        &format!("SIP/2.0/{} {};branch={branch}", from.transport, from.addr),
    )
}

fn request_via(method: &str, via: &str) -> Request {
    parse_request(&format!(
        "{method} sip:211@frontdoor.example SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+16135550123@carrier.example>;tag=caller-tag\r\n\
         To: <sip:211@frontdoor.example>\r\n\
         Call-ID: call-1@carrier.example\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:+16135550123@192.0.2.10>\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

pub(crate) fn invite(from: Peer, branch: &str) -> Request {
    request("INVITE", from, branch)
}

pub(crate) fn invite_via(_from: Peer, via: &str) -> Request {
    request_via("INVITE", via)
}

/// The ACK a peer sends for our non-2xx carrying `to_tag` (same branch).
pub(crate) fn ack_for(invite: &Request, to_tag: &str) -> Request {
    build::ack_for_non_2xx(invite, &build::response(invite, 486, Some(to_tag)))
}

/// The ACK for a 2xx: a new transaction, so a new branch.
pub(crate) fn ack_with_branch(invite: &Request, to_tag: &str, branch: &str) -> Request {
    let mut ack = ack_for(invite, to_tag);
    for h in ack.headers.iter_mut() {
        if let rsip::Header::Via(via) = h {
            let value = format!("SIP/2.0/UDP 192.0.2.10:5060;branch={branch}");
            *via = rsip::headers::Via::new(value);
        }
    }
    ack
}

/// An INVITE with two Vias, a Route and a body: what ACK and CANCEL must
/// and must not copy.
pub(crate) fn invite_with_route() -> Request {
    parse_request(
        "INVITE sip:211@frontdoor.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKroute\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinner\r\n\
         Max-Forwards: 69\r\n\
         Route: <sip:edge.example;lr>\r\n\
         From: <sip:caller@carrier.example>;tag=f1\r\n\
         To: <sip:211@frontdoor.example>\r\n\
         Call-ID: r1@carrier.example\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@192.0.2.10>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 4\r\n\r\n\
         v=0\n",
    )
}

/// Every value of the headers called `name`, as written.
pub(crate) fn headers_named(headers: &Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| {
            let line = h.to_string();
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .collect()
}

/// The value of the first header called `name`.
pub(crate) fn header(headers: &Headers, name: &str) -> String {
    headers_named(headers, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {name} header"))
}

pub(crate) fn response_of(t: &Transmit) -> &Response {
    match &t.message {
        SipMessage::Response(r) => r,
        SipMessage::Request(r) => panic!("expected a response, got {}", r.method),
    }
}

pub(crate) fn request_of(t: &Transmit) -> &Request {
    match &t.message {
        SipMessage::Request(r) => r,
        SipMessage::Response(r) => panic!("expected a request, got {}", r.status_code),
    }
}

/// Status codes of the responses sent (panics on a request).
pub(crate) fn codes(sent: &[Transmit]) -> Vec<u16> {
    sent.iter()
        .map(|t| response_of(t).status_code.code())
        .collect()
}

/// Methods of the requests sent (panics on a response).
pub(crate) fn methods(sent: &[Transmit]) -> Vec<String> {
    sent.iter()
        .map(|t| request_of(t).method.to_string())
        .collect()
}

pub(crate) fn terminated(events: &[TxEvent]) -> Vec<TransactionKey> {
    events
        .iter()
        .filter_map(|e| match e {
            TxEvent::Terminated { key } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// One endpoint's transaction layer and its clock.
pub(crate) struct Side {
    pub(crate) txs: Transactions,
    pub(crate) now: Instant,
}

impl Side {
    pub(crate) fn new() -> Self {
        Side {
            txs: Transactions::new(TimerConfig::default()),
            now: origin(),
        }
    }

    pub(crate) fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.txs.poll_transmit()).collect()
    }

    pub(crate) fn events(&mut self) -> Vec<TxEvent> {
        std::iter::from_fn(|| self.txs.poll_event()).collect()
    }

    /// Pops the events and expects exactly one: a new request. Returns its key.
    pub(crate) fn expect_request(&mut self) -> TransactionKey {
        match &self.events()[..] {
            [TxEvent::Request { key, .. }] => key.clone(),
            other => panic!("expected one Request event, got {other:?}"),
        }
    }

    /// Jumps the clock to the next deadline and fires it. Returns the new now.
    pub(crate) fn advance(&mut self) -> Instant {
        let at = self.txs.poll_timeout().expect("a timer is pending");
        assert!(at >= self.now, "deadlines never lie in the past");
        self.now = at;
        self.txs.handle_timeout(at);
        at
    }

    /// Fires every timer until none is left.
    pub(crate) fn run_until_idle(&mut self) {
        while self.txs.poll_timeout().is_some() {
            self.advance();
        }
    }
}
