//! The user agent core: dialogs and calls on top of the transaction layer.
//!
//! [`UserAgent`] is what the driver talks to. It owns the [`Transactions`],
//! parses raw bytes (answering malformed requests with 400), keeps one
//! `Call` per INVITE dialog, and turns SIP into call events for the call
//! controller: a call arrived, it was confirmed by the ACK, the caller hung
//! up, a re-INVITE or an INFO came in. The controller answers with commands
//! (`answer`, `reject`, `hangup`, `answer_reinvite`).
//!
//! REGISTER is not ours to answer: with [`UaConfig::registrar`] it is passed
//! up as [`UaEvent::Register`], and the driver answers it (through
//! [`crate::registrar::Registrar`]) with [`UserAgent::respond_to`].
//!
//! Like every core in this crate it is sans-IO: time comes in as an
//! argument, bytes go out through [`UserAgent::poll_transmit`], and the next
//! wake-up is [`UserAgent::poll_timeout`].
//!
//! Routing of in-dialog requests we send (BYE): the Request-URI is the remote
//! target (the caller's Contact) and the Route set is the INVITE's
//! Record-Route (RFC 3261 §12.1.1), but the bytes go back over the flow the
//! INVITE came in on (the same UDP source address, or the same TCP
//! connection), as RFC 5626 does for callers behind NAT. A Contact with a
//! private address behind a NAT would otherwise be unreachable.
//!
//! ## Outbound calls (UAC)
//!
//! The B2BUA's other legs — the navigator's phone, the trunk (callbacks,
//! the 9-8-8 line, a centre's PBX) — are placed with [`UserAgent::invite`]
//! and an [`OutboundCall`]. Every message of such a call goes to
//! [`OutboundCall::peer`] (the binding's source address, or the trunk),
//! again for NAT; the Request-URI and Route headers follow the dialog
//! (RFC 3261 §12.1.2: remote target from the 2xx Contact, route set from
//! its Record-Route reversed). Events, in order:
//!
//! ```text
//! invite() ─▶ (Progress{180/183} EarlyMedia?)* ─┬▶ Answered{sdp}  (ACK sent) … Ended{RemoteBye|LocalBye}
//!                                                └▶ Failed{code}   (3xx–6xx; 408: no response; 487: cancelled)
//! ```
//!
//! Exactly one of `Answered` or `Failed` per call; `Ended` only after
//! `Answered`. [`UserAgent::cancel`] (or `hangup` before the answer)
//! sends CANCEL once a provisional response has arrived (RFC 3261 §9.1);
//! a 2xx that crosses it is ACKed and BYEd in the background and the call
//! is reported `Failed { code: 487 }`. A 2xx from a second fork is ACKed
//! and BYEd without any event; retransmitted 2xx are ACKed again until the
//! INVITE transaction ends (Timer M, RFC 6026). With credentials, one
//! 401/407 is answered with [`crate::digest::DigestClient`].
//!
//! Not done yet: late offer (an INVITE without SDP: the 2xx's offer would
//! need an answer in the ACK), PRACK (RFC 3262; early media SDP in a 1xx is
//! passed up as [`UaEvent::EarlyMedia`] all the same), re-INVITE sent by us, and 3xx redirects
//! (reported as `Failed`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage};

use crate::message;
use crate::transaction::{TimerConfig, TransactionKey, Transactions, TxEvent};
use crate::{Peer, Transport};

/// Methods this user agent implements; sent in `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";
/// `Allow` when REGISTER is passed to the driver ([`UaConfig::registrar`]).
pub const ALLOW_WITH_REGISTER: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER";

/// What the user agent needs to know about its place in the network.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Retransmission timer values (RFC 3261 §17.1.1.1).
    pub timers: TimerConfig,
    /// Request-URI users that enter the IVR (`211` and any configured numbers).
    /// Any other user gets 404 Not Found.
    pub numbers: Vec<String>,
    /// The address peers reach us at: Via sent-by and Contact.
    pub local_addr: SocketAddr,
    /// Product token for the `Server` and `User-Agent` headers.
    pub product: String,
    /// Calls in progress beyond which new INVITEs get 503 with Retry-After.
    /// Outbound calls count too (a bridged call holds two).
    pub max_calls: usize,
    /// Largest message accepted, in bytes; larger ones get 513 (RFC 3261 §21.5.11).
    pub max_message: usize,
    /// Pass REGISTER requests up as [`UaEvent::Register`] for the driver to
    /// answer with [`UserAgent::respond_to`] (see [`crate::registrar`]), and
    /// list REGISTER in `Allow`. When false (the default) REGISTER gets 405.
    pub registrar: bool,
    /// The user part of our From (when [`OutboundCall::from`] is `None`) and
    /// of our Contact in outbound INVITEs. Default `frontdoor`.
    pub from_user: String,
    /// The host part of our default From in outbound calls; `None` (the
    /// default) uses the IP address of [`UaConfig::local_addr`].
    pub from_domain: Option<String>,
}

impl Default for UaConfig {
    fn default() -> Self {
        UaConfig {
            timers: TimerConfig::default(),
            numbers: vec!["211".to_owned()],
            local_addr: SocketAddr::from(([127, 0, 0, 1], 5060)),
            product: concat!("frontdoor/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_calls: 10_000,
            max_message: 65_535,
            registrar: false,
            from_user: "frontdoor".to_owned(),
            from_domain: None,
        }
    }
}

/// A call's handle, stable for the call's life. Cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(u64);

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// A new call for the controller to answer or refuse.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub call: CallRef,
    /// The SIP Call-ID, for logs and call records.
    pub call_id: String,
    /// The caller: the user part of the From URI (usually a number), or the
    /// whole URI when it has no user part. `None` when withheld
    /// (`anonymous`, RFC 3323).
    pub caller: Option<String>,
    /// The display name in From, if any.
    pub caller_name: Option<String>,
    /// The user part of the Request-URI (the number dialled).
    pub dialled: String,
    /// The SDP offer; `None` for a late offer (we offer in the 200).
    pub offer: Option<Vec<u8>>,
    /// Where the INVITE came from.
    pub peer: Peer,
}

/// A request outside any call that the driver answers with
/// [`UserAgent::respond_to`]: exactly once, with a final response (a 500 if
/// its own work fails), or the server transaction is never completed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PendingRequest(TransactionKey);

/// A REGISTER for the registrar (with [`UaConfig::registrar`]).
#[derive(Debug)]
pub struct IncomingRegister {
    /// Answer with [`UserAgent::respond_to`].
    pub pending: PendingRequest,
    /// Where it came from (for the binding: NAT traversal).
    pub peer: Peer,
    /// The request; its top Via is already stamped with `received`/`rport`.
    pub request: Request,
}

/// A name-addr for From / To (RFC 3261 §20.20): an optional display name and a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub display_name: Option<String>,
    /// A `sip:`/`sips:`/`tel:` URI, e.g. `sip:+16135550123@trunk.example`.
    pub uri: String,
}

impl Party {
    pub fn new(display_name: Option<&str>, uri: impl Into<String>) -> Self {
        Party {
            display_name: display_name.map(str::to_owned),
            uri: uri.into(),
        }
    }

    /// `"Name" <uri>` or `<uri>`, with the name quoted (RFC 3261 §25.1).
    fn header_value(&self) -> String {
        let uri: String = self
            .uri
            .chars()
            .filter(|c| !matches!(c, '<' | '>' | '\r' | '\n'))
            .collect();
        match self.display_name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => format!("{} <{uri}>", crate::digest::quote(name)),
            None => format!("<{uri}>"),
        }
    }
}

/// An outbound call for [`UserAgent::invite`]: a navigator's phone (its
/// registered binding) or a target behind the trunk.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// The Request-URI: the binding's Contact URI, or e.g.
    /// `sip:988@trunk.example` for the crisis line.
    pub target_uri: String,
    /// Where the INVITE and every later request of the dialog go: the
    /// binding's source address ([`crate::registrar::Binding::peer`], for
    /// NAT) or the trunk's address.
    pub peer: Peer,
    /// Our From; `None`: `<sip:{from_user}@{from_domain}>` from
    /// [`UaConfig`]. For the crisis line, the caller's own number (issue 5 §7).
    pub from: Option<Party>,
    /// The To; `None`: the target URI.
    pub to: Option<Party>,
    /// Our SDP offer (sent as `application/sdp`). Late offer (empty) is
    /// not supported yet: the INVITE goes out without a body, but the ACK
    /// never carries an answer.
    pub sdp: Vec<u8>,
    /// Extra headers as (name, value), e.g. `("P-Asserted-Identity",
    /// "<sip:+16135550123@trunk.example>")`.
    pub extra_headers: Vec<(String, String)>,
    /// (username, password) to answer one 401/407 digest challenge (trunk).
    pub credentials: Option<(String, String)>,
}

impl OutboundCall {
    /// A call to `target_uri` through `peer` offering `sdp`, with the default
    /// From and To, no extra headers and no credentials.
    pub fn new(target_uri: impl Into<String>, peer: Peer, sdp: Vec<u8>) -> Self {
        OutboundCall {
            target_uri: target_uri.into(),
            peer,
            from: None,
            to: None,
            sdp,
            extra_headers: Vec::new(),
            credentials: None,
        }
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// The caller cancelled before we answered (RFC 3261 §9.2).
    Cancelled,
    /// We hung up (a BYE we sent completed or timed out).
    LocalBye,
    /// Our 2xx was never acknowledged; we sent BYE (RFC 3261 §13.3.1.4).
    AckTimeout,
}

/// What the user agent tells the call controller.
#[derive(Debug)]
#[non_exhaustive]
pub enum UaEvent {
    /// A new call; answer with [`UserAgent::answer`] or [`UserAgent::reject`].
    Incoming(IncomingCall),
    /// The ACK for our 2xx arrived: the dialog is confirmed. `answer` holds
    /// the SDP answer when the INVITE was a late offer.
    Confirmed {
        call: CallRef,
        answer: Option<Vec<u8>>,
    },
    /// A re-INVITE (hold, unhold, new media address): answer with
    /// [`UserAgent::answer_reinvite`].
    ReInvite {
        call: CallRef,
        offer: Option<Vec<u8>>,
    },
    /// An INFO in the dialog (e.g. `application/dtmf-relay`); already answered 200.
    Info {
        call: CallRef,
        content_type: String,
        body: Vec<u8>,
    },
    /// The call is over and forgotten. For an outbound call: only after
    /// [`UaEvent::Answered`] (an outbound call that was never answered ends
    /// with [`UaEvent::Failed`] instead).
    Ended { call: CallRef, reason: EndReason },
    /// Outbound: a provisional response other than 100 (180 Ringing, 183
    /// Session Progress…).
    Progress { call: CallRef, code: u16 },
    /// Outbound: a provisional response (usually 183) carried SDP: the far
    /// end's answer for early media (announcements, ringback from the
    /// trunk). Comes right after its [`UaEvent::Progress`]. Without PRACK
    /// (RFC 3262) it is informative; the 2xx's SDP is the one that counts.
    EarlyMedia { call: CallRef, sdp: Vec<u8> },
    /// Outbound: the far end answered (2xx); the ACK is already sent and the
    /// dialog is up. `sdp` is the answer to our offer (`None` if the 2xx
    /// had no body).
    Answered { call: CallRef, sdp: Option<Vec<u8>> },
    /// Outbound: the call failed and is forgotten: a 3xx–6xx final response
    /// (`code`), 408 when the INVITE got no response at all (Timer B), 487
    /// when we cancelled it (also when a 2xx crossed our CANCEL: that 2xx
    /// was ACKed and BYEd; and when the far end never answered the
    /// cancelled INVITE within 64*T1).
    Failed { call: CallRef, code: u16 },
    /// A REGISTER (only with [`UaConfig::registrar`]): hand it to
    /// [`crate::registrar::Registrar::handle`] and send the response with
    /// [`UserAgent::respond_to`].
    Register(IncomingRegister),
    /// Bytes that were not a valid SIP message: answered with 400 (or
    /// another error) when `answered`, else dropped.
    Malformed {
        peer: Peer,
        reason: String,
        answered: bool,
    },
}

/// Misuse of the user agent's commands by the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UaError {
    #[error("no call {0}")]
    UnknownCall(CallRef),
    #[error("{call} cannot {action} in its current state")]
    WrongState { call: CallRef, action: &'static str },
    #[error("bad URI {0:?}")]
    BadUri(String),
    #[error("transaction layer: {0}")]
    Transaction(#[from] crate::transaction::TxError),
}

/// Bytes to put on the wire.
#[derive(Debug)]
pub struct Datagram {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

/// The state of a call's INVITE dialog, named after what it waits for.
#[derive(Debug)]
enum CallState {
    /// RFC 3261 §13.3.1: the INVITE is ours to answer; waiting for the
    /// controller to answer or refuse it.
    AwaitingAnswer,
    /// RFC 3261 §13.3.1.4: our 2xx is sent; waiting for the ACK.
    AwaitingAck,
    /// RFC 3261 §12: the dialog is confirmed; the call is up.
    Established,
    /// RFC 3261 §15.1.1: our BYE is sent; waiting for its final response.
    AwaitingByeResponse { reason: EndReason },
    /// Outbound (RFC 3261 §13.2): our INVITE is sent; waiting for its final
    /// response.
    Calling,
}

/// What an outbound call needs beyond the dialog.
#[derive(Debug)]
struct Outbound {
    /// Answers one 401/407 (trunk credentials).
    digest: Option<crate::digest::DigestClient>,
    /// A challenge was answered already: a second one fails the call.
    auth_tried: bool,
    /// A provisional response arrived (RFC 3261 §9.1: CANCEL may go out).
    provisional: bool,
    /// The controller cancelled the call.
    cancelling: bool,
    /// 64*T1 after the CANCEL went out: give up waiting for the 487.
    cancel_deadline: Option<Instant>,
}

/// One of our client INVITE transactions, kept until the transaction
/// layer forgets it (Timer M after a 2xx, RFC 6026), so 2xx
/// retransmissions are re-ACKed and 2xx from other forks ACKed and BYEd
/// even after the call itself is gone.
#[derive(Debug)]
struct OutInvite {
    call: CallRef,
    peer: Peer,
    call_id: String,
    local_party: String,
    local_tag: String,
    cseq: u32,
    invite: Request,
    target: String,
    /// To tag of each 2xx → the bytes of our ACK for it.
    acks: Vec<(String, Vec<u8>)>,
}

/// A 2xx to an INVITE that we resend until its ACK (RFC 3261 §13.3.1.4).
#[derive(Debug)]
struct Unacked {
    cseq: u32,
    bytes: Vec<u8>,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

/// One INVITE dialog: an incoming call (UAS) or one we placed (UAC,
/// `outbound` set).
#[derive(Debug)]
struct Call {
    call_id: String,
    local_tag: String,
    /// Our identity in this dialog, without tag: the To of the INVITE (UAS),
    /// the From of our INVITE (UAC).
    local_party: String,
    /// The other party: the From of the INVITE with the caller's tag (UAS),
    /// the To of the 2xx with the callee's tag (UAC; before it, our To).
    remote_party: String,
    /// The peer's Contact URI (of the INVITE, UAS; of the 2xx, UAC): the
    /// Request-URI of our in-dialog requests.
    remote_target: String,
    /// Our Route set (RFC 3261 §12.1.1, §12.1.2): Record-Route values in
    /// order (UAS), in reverse order (UAC).
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
    peer: Peer,
    state: CallState,
    invite_key: TransactionKey,
    invite: Request,
    /// A re-INVITE waiting for the controller's answer.
    reinvite: Option<(TransactionKey, Request)>,
    unacked: Option<Unacked>,
    /// The controller asked to hang up before the ACK came.
    bye_pending: bool,
    /// Set for calls we placed ([`UserAgent::invite`]).
    outbound: Option<Outbound>,
}

/// The SIP user agent: parse, transactions, dialogs, calls.
pub struct UserAgent {
    config: UaConfig,
    tx: Transactions,
    calls: HashMap<CallRef, Call>,
    /// (Call-ID, our tag) → call, to match in-dialog requests and ACKs.
    dialogs: HashMap<(String, String), CallRef>,
    /// Our BYE transactions → the call they end.
    byes: HashMap<TransactionKey, CallRef>,
    /// Our INVITE client transactions (outbound calls).
    invites: HashMap<TransactionKey, OutInvite>,
    /// Retransmission deadlines of unacknowledged 2xx (lazily pruned).
    timers: BinaryHeap<Reverse<(Instant, CallRef)>>,
    events: std::collections::VecDeque<UaEvent>,
    out: std::collections::VecDeque<Datagram>,
    next_call: u64,
    draining: bool,
}

impl UserAgent {
    pub fn new(config: UaConfig) -> Self {
        UserAgent {
            tx: Transactions::new(config.timers),
            config,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            byes: HashMap::new(),
            invites: HashMap::new(),
            timers: BinaryHeap::new(),
            events: Default::default(),
            out: Default::default(),
            next_call: 1,
            draining: false,
        }
    }

    /// Calls in progress (offered, answered or ending).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Transactions alive, for metrics.
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// When draining, new INVITEs get 503 with Retry-After; calls in
    /// progress are untouched.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// The SIP Call-ID of a call, for logs.
    pub fn call_id(&self, call: CallRef) -> Option<&str> {
        self.calls.get(&call).map(|c| c.call_id.as_str())
    }

    // ---- input ------------------------------------------------------------

    /// Feed one datagram (UDP) or one framed message (TCP).
    pub fn handle_bytes(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        let parsed = if bytes.len() > self.config.max_message {
            Err(message::ParseError::TooLarge {
                limit: self.config.max_message,
            })
        } else {
            message::parse(bytes)
        };
        match parsed {
            Ok(SipMessage::Request(mut request)) => {
                message::stamp_via(&mut request, peer.addr);
                self.tx
                    .handle_message(now, peer, SipMessage::Request(request));
            }
            Ok(response @ SipMessage::Response(_)) => self.tx.handle_message(now, peer, response),
            // RFC 5626 §4.4.1 keep-alive CRLFs: nothing to answer.
            Err(message::ParseError::KeepAlive) => {}
            Err(error) => {
                // 400, or 501 for a method we do not implement, 513 for a
                // message over the size limit…
                let reply = message::error_response(bytes, &error);
                self.malformed(peer, error.reason(), reply);
            }
        }
        self.pump(now);
    }

    fn malformed(&mut self, peer: Peer, reason: String, reply: Option<Vec<u8>>) {
        let answered = reply.is_some();
        if let Some(bytes) = reply {
            self.out.push_back(Datagram { peer, bytes });
        }
        self.events.push_back(UaEvent::Malformed {
            peer,
            reason,
            answered,
        });
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        while let Some(Reverse((at, call))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.retransmit_2xx(now, call, at);
            self.cancel_expired(now, call, at);
        }
        self.pump(now);
    }

    // ---- output -----------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        if let Some(d) = self.out.pop_front() {
            return Some(d);
        }
        self.tx.poll_transmit().map(|t| Datagram {
            peer: t.peer,
            bytes: message::to_bytes(&t.message),
        })
    }

    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`UserAgent::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ours = self.timers.peek().map(|Reverse((at, _))| *at);
        match (ours, self.tx.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- commands -----------------------------------------------------------

    /// Tell the caller we are about to answer: 180 Ringing (with our To tag).
    pub fn ring(&mut self, now: Instant, call: CallRef) -> Result<(), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::UnknownCall(call))?;
        if !matches!(c.state, CallState::AwaitingAnswer) {
            return Err(UaError::WrongState {
                call,
                action: "ring",
            });
        }
        let response = message::response(&c.invite, 180, Some(&c.local_tag));
        let key = c.invite_key.clone();
        self.tx.respond(now, &key, response)?;
        self.pump(now);
        Ok(())
    }

    /// Answer an offered call with 200 OK carrying `sdp` (our answer, or our
    /// offer when the INVITE had none).
    pub fn answer(&mut self, now: Instant, call: CallRef, sdp: Vec<u8>) -> Result<(), UaError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(UaError::UnknownCall(call))?;
        if !matches!(c.state, CallState::AwaitingAnswer) {
            return Err(UaError::WrongState {
                call,
                action: "answer",
            });
        }
        let response = ok_with_sdp(&self.config, &c.invite, &c.local_tag, sdp);
        let cseq = c.remote_cseq;
        self.tx.respond(now, &c.invite_key, response.clone())?;
        c.state = CallState::AwaitingAck;
        let t1 = self.config.timers.t1;
        let unacked = Unacked {
            cseq,
            bytes: message::to_bytes(&SipMessage::Response(response)),
            next: now + t1,
            interval: t1,
            give_up: now + 64 * t1,
        };
        // Over TCP the 2xx is not resent, but the ACK is still awaited for 64*T1.
        let first = if c.peer.transport.is_reliable() {
            unacked.give_up
        } else {
            unacked.next
        };
        c.unacked = Some(unacked);
        self.timers.push(Reverse((first, call)));
        self.pump(now);
        Ok(())
    }

    /// Refuse an offered call with a final non-2xx `code` (e.g. 488, 503).
    pub fn reject(&mut self, now: Instant, call: CallRef, code: u16) -> Result<(), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::UnknownCall(call))?;
        if !matches!(c.state, CallState::AwaitingAnswer) {
            return Err(UaError::WrongState {
                call,
                action: "reject",
            });
        }
        let mut response = message::response(&c.invite, code, Some(&c.local_tag));
        if code == 503 {
            response
                .headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new("30")));
        }
        let key = c.invite_key.clone();
        self.tx.respond(now, &key, response)?;
        self.forget(call);
        self.pump(now);
        Ok(())
    }

    /// Answer the pending re-INVITE: `Ok(sdp)` → 200 with that SDP,
    /// `Err(code)` → that error (488 when the new offer is unacceptable; the
    /// call goes on with the old media, RFC 3261 §14.2).
    pub fn answer_reinvite(
        &mut self,
        now: Instant,
        call: CallRef,
        answer: Result<Vec<u8>, u16>,
    ) -> Result<(), UaError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(UaError::UnknownCall(call))?;
        let (key, request) = c.reinvite.take().ok_or(UaError::WrongState {
            call,
            action: "answer a re-INVITE",
        })?;
        match answer {
            Ok(sdp) => {
                let response = ok_with_sdp(&self.config, &request, &c.local_tag, sdp);
                let cseq = request
                    .cseq_header()
                    .ok()
                    .and_then(|h| h.seq().ok())
                    .unwrap_or(0);
                self.tx.respond(now, &key, response.clone())?;
                if !c.peer.transport.is_reliable() {
                    let t1 = self.config.timers.t1;
                    c.unacked = Some(Unacked {
                        cseq,
                        bytes: message::to_bytes(&SipMessage::Response(response)),
                        next: now + t1,
                        interval: t1,
                        give_up: now + 64 * t1,
                    });
                    self.timers.push(Reverse((now + t1, call)));
                }
            }
            Err(code) => {
                let response = message::response(&request, code, Some(&c.local_tag));
                self.tx.respond(now, &key, response)?;
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Hang up: BYE on an established call (sent after the ACK if it has
    /// not come yet), 480 on an incoming call not yet answered, CANCEL on an
    /// outbound call not yet answered ([`UserAgent::cancel`]). Idempotent.
    pub fn hangup(&mut self, now: Instant, call: CallRef) -> Result<(), UaError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(UaError::UnknownCall(call))?;
        match c.state {
            CallState::AwaitingAnswer => return self.reject(now, call, 480),
            CallState::Calling => return self.cancel(now, call),
            CallState::AwaitingAck => c.bye_pending = true,
            CallState::Established => self.send_bye(now, call, EndReason::LocalBye)?,
            CallState::AwaitingByeResponse { .. } => {}
        }
        self.pump(now);
        Ok(())
    }

    /// Place an outbound call (RFC 3261 §13.2.1): build the INVITE and start
    /// its client transaction. What follows comes as events:
    /// [`UaEvent::Progress`] (1xx), then exactly one of
    /// [`UaEvent::Answered`] (2xx: the ACK is sent; later
    /// [`UaEvent::Ended`]) or [`UaEvent::Failed`].
    ///
    /// With `credentials`, one 401/407 is answered (same Call-ID and From
    /// tag, next CSeq, new branch, `Authorization` or
    /// `Proxy-Authorization`); a second challenge fails the call.
    pub fn invite(&mut self, now: Instant, outbound: OutboundCall) -> Result<CallRef, UaError> {
        let uri = message::parse_uri(outbound.target_uri.trim())
            .map_err(|_| UaError::BadUri(outbound.target_uri.clone()))?;
        let peer = outbound.peer;
        let local_party = match &outbound.from {
            Some(from) => from.header_value(),
            None => {
                let domain = self
                    .config
                    .from_domain
                    .clone()
                    .unwrap_or_else(|| host_of(self.config.local_addr));
                format!("<sip:{}@{domain}>", self.config.from_user)
            }
        };
        let remote_party = match &outbound.to {
            Some(to) => to.header_value(),
            None => format!("<{uri}>"),
        };
        let call_id = format!(
            "{}{}@{}",
            message::new_tag(),
            message::new_tag(),
            host_of(self.config.local_addr)
        );
        let local_tag = message::new_tag();
        let cseq = 1;
        let mut headers = rsip::Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {};branch={};rport",
            peer.transport.via_token(),
            self.config.local_addr,
            message::new_branch()
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        headers.push(Header::From(rsip::headers::From::new(format!(
            "{local_party};tag={local_tag}"
        ))));
        headers.push(Header::To(rsip::headers::To::new(remote_party.clone())));
        headers.push(Header::CallId(rsip::headers::CallId::new(call_id.clone())));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{cseq} INVITE"
        ))));
        headers.push(Header::Contact(rsip::headers::Contact::new(
            outbound_contact(&self.config, peer.transport),
        )));
        headers.push(allow_header(&self.config));
        headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
            self.config.product.clone(),
        )));
        for (name, value) in &outbound.extra_headers {
            let name: String = name
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != ':')
                .collect();
            if !name.is_empty() {
                headers.push(Header::Other(name, value.clone()));
            }
        }
        if !outbound.sdp.is_empty() {
            headers.push(Header::ContentType(rsip::headers::ContentType::new(
                "application/sdp",
            )));
        }
        headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
            outbound.sdp.len().to_string(),
        )));
        let request = Request {
            method: Method::Invite,
            uri,
            version: rsip::Version::V2,
            headers,
            body: outbound.sdp,
        };
        let key = self.tx.request(now, peer, request.clone())?;
        let call = CallRef(self.next_call);
        self.next_call += 1;
        self.invites.insert(
            key.clone(),
            OutInvite {
                call,
                peer,
                call_id: call_id.clone(),
                local_party: local_party.clone(),
                local_tag: local_tag.clone(),
                cseq,
                invite: request.clone(),
                target: outbound.target_uri.trim().to_owned(),
                acks: Vec::new(),
            },
        );
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), call);
        self.calls.insert(
            call,
            Call {
                call_id,
                local_tag,
                local_party,
                remote_party,
                remote_target: outbound.target_uri.trim().to_owned(),
                route_set: Vec::new(),
                local_cseq: cseq,
                remote_cseq: 0,
                peer,
                state: CallState::Calling,
                invite_key: key,
                invite: request,
                reinvite: None,
                unacked: None,
                bye_pending: false,
                outbound: Some(Outbound {
                    digest: outbound
                        .credentials
                        .map(|(user, password)| crate::digest::DigestClient::new(user, password)),
                    auth_tried: false,
                    provisional: false,
                    cancelling: false,
                    cancel_deadline: None,
                }),
            },
        );
        self.pump(now);
        Ok(call)
    }

    /// Cancel an outbound call not answered yet (RFC 3261 §9.1). The CANCEL
    /// goes out once a provisional response has arrived (at once if one
    /// has); the call then ends with [`UaEvent::Failed`] (487 normally; a
    /// final response that crossed the CANCEL keeps its code; a 2xx that
    /// crossed it is ACKed and BYEd and reported as 487). Idempotent.
    pub fn cancel(&mut self, now: Instant, call: CallRef) -> Result<(), UaError> {
        let t1 = self.config.timers.t1;
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(UaError::UnknownCall(call))?;
        let (CallState::Calling, Some(out)) = (&c.state, c.outbound.as_mut()) else {
            return Err(UaError::WrongState {
                call,
                action: "cancel",
            });
        };
        if out.cancelling {
            return Ok(());
        }
        self.tx.cancel(now, &c.invite_key)?;
        out.cancelling = true;
        if out.provisional {
            let deadline = now + 64 * t1;
            out.cancel_deadline = Some(deadline);
            self.timers.push(Reverse((deadline, call)));
        }
        self.pump(now);
        Ok(())
    }

    /// Send the final `response` to a request passed up for the driver to
    /// answer ([`UaEvent::Register`]). Build it from the request (e.g.
    /// [`crate::message::response`], or the registrar's reply).
    pub fn respond_to(
        &mut self,
        now: Instant,
        pending: PendingRequest,
        response: Response,
    ) -> Result<(), UaError> {
        self.tx.respond(now, &pending.0, response)?;
        self.pump(now);
        Ok(())
    }

    // ---- internals ----------------------------------------------------------

    /// Drain the transaction layer's events into dialog logic.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.tx.poll_event() {
            match event {
                TxEvent::Request { key, peer, request } => self.on_request(now, key, peer, request),
                TxEvent::Ack { request, .. } => self.on_ack(now, request),
                TxEvent::Cancelled { invite, .. } => self.on_cancelled(now, &invite),
                TxEvent::Response { key, response } if self.invites.contains_key(&key) => {
                    self.on_invite_response(now, &key, response)
                }
                TxEvent::Response { key, response } => self.on_bye_done(&key, Some(&response)),
                TxEvent::Timeout { key } if self.invites.contains_key(&key) => {
                    self.on_invite_timeout(&key)
                }
                TxEvent::Timeout { key } => self.on_bye_done(&key, None),
                TxEvent::Terminated { key } => {
                    self.invites.remove(&key);
                    self.byes.remove(&key);
                }
                _ => {}
            }
        }
    }

    fn respond(&mut self, now: Instant, key: &TransactionKey, request: &Request, code: u16) {
        let response = message::response(request, code, None);
        self.respond_with(now, key, response);
    }

    fn respond_with(&mut self, now: Instant, key: &TransactionKey, response: Response) {
        if let Err(error) = self.tx.respond(now, key, response) {
            tracing::warn!(%error, "could not send a response");
        }
    }

    fn find_dialog(&self, request: &Request) -> Option<CallRef> {
        let call_id = request.call_id_header().ok()?.value().to_owned();
        let to_tag = request.to_header().ok()?.tag().ok()??.value().to_owned();
        self.dialogs.get(&(call_id, to_tag)).copied()
    }

    fn on_request(&mut self, now: Instant, key: TransactionKey, peer: Peer, request: Request) {
        let in_dialog = request
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        match request.method {
            Method::Invite if !in_dialog => self.on_invite(now, key, peer, request),
            Method::Invite => self.on_reinvite(now, key, request),
            Method::Bye | Method::Info => {
                let Some(call) = self.find_dialog(&request) else {
                    // RFC 3261 §12.2.2: a request for a dialog we do not know.
                    return self.respond(now, &key, &request, 481);
                };
                if !self.check_cseq(now, call, &key, &request) {
                    return;
                }
                self.respond(now, &key, &request, 200);
                if request.method == Method::Bye
                    && matches!(
                        self.calls.get(&call).map(|c| &c.state),
                        Some(CallState::Calling)
                    )
                {
                    // A BYE in an early dialog of ours (RFC 3261 §15): stop
                    // the INVITE; its final response ends the call (Failed).
                    if let Err(error) = self.cancel(now, call) {
                        tracing::debug!(%error, "could not cancel after an early BYE");
                    }
                } else if request.method == Method::Bye {
                    self.forget(call);
                    self.events.push_back(UaEvent::Ended {
                        call,
                        reason: EndReason::RemoteBye,
                    });
                } else {
                    let content_type = request
                        .headers
                        .iter()
                        .find_map(|h| match h {
                            Header::ContentType(ct) => Some(ct.value().to_owned()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    self.events.push_back(UaEvent::Info {
                        call,
                        content_type,
                        body: request.body.clone(),
                    });
                }
            }
            Method::Options => {
                let mut response = message::response(&request, 200, None);
                self.capabilities(&mut response);
                self.respond_with(now, &key, response);
            }
            Method::Register if self.config.registrar => {
                self.events.push_back(UaEvent::Register(IncomingRegister {
                    pending: PendingRequest(key),
                    peer,
                    request,
                }));
            }
            // Ack and Cancel never reach here (the transaction layer routes them).
            _ => {
                // RFC 3261 §8.2.1: a method we know but do not allow here.
                let mut response = message::response(&request, 405, None);
                response.headers.push(allow_header(&self.config));
                self.respond_with(now, &key, response);
            }
        }
    }

    fn capabilities(&self, response: &mut Response) {
        response.headers.push(allow_header(&self.config));
        response
            .headers
            .push(Header::Accept(rsip::headers::Accept::new(
                "application/sdp",
            )));
        response
            .headers
            .push(Header::Other("Accept-Language".into(), "en, fr".into()));
    }

    fn on_invite(&mut self, now: Instant, key: TransactionKey, peer: Peer, request: Request) {
        let dialled = request.uri.user().unwrap_or_default().to_owned();
        if !self.config.numbers.contains(&dialled) {
            return self.respond(now, &key, &request, 404);
        }
        if self.draining || self.calls.len() >= self.config.max_calls {
            let mut response = message::response(&request, 503, None);
            response
                .headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new("30")));
            return self.respond_with(now, &key, response);
        }
        if !request.body.is_empty() && !has_sdp_content_type(&request) {
            // RFC 3261 §21.4.13: we only understand SDP bodies.
            let mut response = message::response(&request, 415, None);
            response
                .headers
                .push(Header::Accept(rsip::headers::Accept::new(
                    "application/sdp",
                )));
            return self.respond_with(now, &key, response);
        }
        // message::parse guarantees these headers exist and parse.
        let (Ok(call_id), Ok(from), Ok(to), Ok(cseq)) = (
            request.call_id_header(),
            request.from_header(),
            request.to_header(),
            request.cseq_header(),
        ) else {
            return self.respond(now, &key, &request, 400);
        };
        let call_id = call_id.value().to_owned();
        let remote_party = from.value().to_owned();
        let local_party = to.value().to_owned();
        let remote_cseq = cseq.seq().unwrap_or(0);
        let typed_from = from.typed().ok();
        let caller = typed_from.as_ref().and_then(|f| {
            let user = f.uri.user()?.to_owned();
            (!user.eq_ignore_ascii_case("anonymous")).then_some(user)
        });
        let caller_name = typed_from
            .as_ref()
            .and_then(|f| f.display_name.clone())
            .map(|n| n.trim_matches('"').to_owned())
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("anonymous"));
        let remote_target = request
            .contact_header()
            .ok()
            .and_then(|c| c.typed().ok())
            .map(|c| c.uri.to_string())
            .unwrap_or_else(|| typed_from.map(|f| f.uri.to_string()).unwrap_or_default());
        let route_set = request
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::RecordRoute(rr) => Some(rr.value().to_owned()),
                _ => None,
            })
            .flat_map(|v| split_header_list(&v))
            .collect();
        let call = CallRef(self.next_call);
        self.next_call += 1;
        let local_tag = message::new_tag();
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), call);
        self.calls.insert(
            call,
            Call {
                call_id: call_id.clone(),
                local_tag,
                local_party,
                remote_party,
                remote_target,
                route_set,
                local_cseq: fastrand::u32(1..0x7fff_ffff),
                remote_cseq,
                peer,
                state: CallState::AwaitingAnswer,
                invite_key: key,
                invite: request,
                reinvite: None,
                unacked: None,
                bye_pending: false,
                outbound: None,
            },
        );
        self.events.push_back(UaEvent::Incoming(IncomingCall {
            call,
            call_id,
            caller,
            caller_name,
            dialled,
            offer,
            peer,
        }));
    }

    /// RFC 3261 §12.2.2: in-dialog requests must carry a higher CSeq than the
    /// last one; a lower one gets 500. Returns whether to go on.
    fn check_cseq(
        &mut self,
        now: Instant,
        call: CallRef,
        key: &TransactionKey,
        request: &Request,
    ) -> bool {
        let seq = request
            .cseq_header()
            .ok()
            .and_then(|h| h.seq().ok())
            .unwrap_or(0);
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if seq <= c.remote_cseq {
            self.respond(now, key, request, 500);
            return false;
        }
        c.remote_cseq = seq;
        true
    }

    fn on_reinvite(&mut self, now: Instant, key: TransactionKey, request: Request) {
        let Some(call) = self.find_dialog(&request) else {
            return self.respond(now, &key, &request, 481);
        };
        let busy = {
            let c = &self.calls[&call];
            c.reinvite.is_some()
                || c.unacked.is_some()
                || !matches!(c.state, CallState::Established)
        };
        if busy {
            // RFC 3261 §14.2: an INVITE while one is still in progress.
            let mut response = message::response(&request, 491, None);
            response
                .headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new("1")));
            return self.respond_with(now, &key, response);
        }
        if !self.check_cseq(now, call, &key, &request) {
            return;
        }
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        // This value exists: `find_dialog` found it above.
        let c = self
            .calls
            .get_mut(&call)
            .expect("dialog maps to a live call");
        if let Some(target) = request.contact_header().ok().and_then(|h| h.typed().ok()) {
            // RFC 3261 §12.2.2: a target refresh request updates the remote target.
            c.remote_target = target.uri.to_string();
        }
        c.reinvite = Some((key, request));
        self.events.push_back(UaEvent::ReInvite { call, offer });
    }

    fn on_ack(&mut self, now: Instant, request: Request) {
        let Some(call) = self.find_dialog(&request) else {
            tracing::debug!("ACK for no known dialog, ignored");
            return;
        };
        let seq = request
            .cseq_header()
            .ok()
            .and_then(|h| h.seq().ok())
            .unwrap_or(0);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.unacked.as_ref().is_some_and(|u| u.cseq == seq) {
            c.unacked = None;
        }
        if matches!(c.state, CallState::AwaitingAck) && seq == c.remote_cseq_of_invite() {
            c.state = CallState::Established;
            let answer = (!request.body.is_empty()).then(|| request.body.clone());
            self.events.push_back(UaEvent::Confirmed { call, answer });
            if c.bye_pending
                && let Err(error) = self.send_bye(now, call, EndReason::LocalBye)
            {
                tracing::warn!(%error, "could not send BYE");
            }
        }
    }

    fn on_cancelled(&mut self, now: Instant, invite: &TransactionKey) {
        let Some(call) = self
            .calls
            .iter()
            .find(|(_, c)| c.invite_key == *invite)
            .map(|(call, _)| *call)
        else {
            return;
        };
        let c = &self.calls[&call];
        if !matches!(c.state, CallState::AwaitingAnswer) {
            // RFC 3261 §9.2: a CANCEL after the final response has no effect.
            return;
        }
        let response = message::response(&c.invite, 487, Some(&c.local_tag));
        let key = c.invite_key.clone();
        self.respond_with(now, &key, response);
        self.forget(call);
        self.events.push_back(UaEvent::Ended {
            call,
            reason: EndReason::Cancelled,
        });
    }

    fn on_bye_done(&mut self, key: &TransactionKey, response: Option<&Response>) {
        if response.is_some_and(|r| u16::from(r.status_code.clone()) < 200) {
            return;
        }
        let Some(call) = self.byes.remove(key) else {
            return;
        };
        let reason = match self.calls.get(&call).map(|c| &c.state) {
            Some(CallState::AwaitingByeResponse { reason }) => *reason,
            _ => return,
        };
        self.forget(call);
        self.events.push_back(UaEvent::Ended { call, reason });
    }

    fn retransmit_2xx(&mut self, now: Instant, call: CallRef, due: Instant) {
        let t2 = self.config.timers.t2;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(u) = c.unacked.as_mut() else { return };
        if u.next != due && u.give_up != due {
            return; // a stale heap entry
        }
        if now >= u.give_up {
            c.unacked = None;
            if matches!(c.state, CallState::AwaitingAck) {
                // RFC 3261 §13.3.1.4: no ACK for 64*T1: confirm, then end the session.
                c.state = CallState::Established;
                if let Err(error) = self.send_bye(now, call, EndReason::AckTimeout) {
                    tracing::warn!(%error, "could not send BYE");
                }
            }
            return;
        }
        self.out.push_back(Datagram {
            peer: c.peer,
            bytes: u.bytes.clone(),
        });
        u.interval = (u.interval * 2).min(t2);
        u.next = (now + u.interval).min(u.give_up);
        self.timers.push(Reverse((u.next, call)));
    }

    // ---- outbound calls (UAC) ---------------------------------------------

    /// A response to one of our INVITEs (RFC 3261 §13.2.2).
    fn on_invite_response(&mut self, now: Instant, key: &TransactionKey, response: Response) {
        match response.status_code.code() {
            100..=199 => self.on_provisional(now, key, &response),
            200..=299 => self.on_invite_2xx(now, key, response),
            300..=699 => self.on_invite_failure(now, key, &response),
            _ => {}
        }
    }

    /// The outbound call still waiting for the final response of `key`.
    fn calling(&self, key: &TransactionKey) -> Option<CallRef> {
        let call = self.invites.get(key)?.call;
        let c = self.calls.get(&call)?;
        (matches!(c.state, CallState::Calling) && c.invite_key == *key).then_some(call)
    }

    fn on_provisional(&mut self, now: Instant, key: &TransactionKey, response: &Response) {
        let t1 = self.config.timers.t1;
        let code = response.status_code.code();
        let Some(call) = self.calling(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(to) = response.to_header().ok().filter(|to| has_tag(to.value())) {
            // RFC 3261 §12.1.2: an early dialog (the 2xx may still come from
            // another fork; it defines the confirmed dialog).
            c.remote_party = to.value().to_owned();
        }
        let Some(out) = c.outbound.as_mut() else {
            return;
        };
        out.provisional = true;
        if out.cancelling && out.cancel_deadline.is_none() {
            // The transaction layer sends the pending CANCEL now.
            let deadline = now + 64 * t1;
            out.cancel_deadline = Some(deadline);
            self.timers.push(Reverse((deadline, call)));
        }
        if code > 100 {
            self.events.push_back(UaEvent::Progress { call, code });
            if !response.body.is_empty() {
                self.events.push_back(UaEvent::EarlyMedia {
                    call,
                    sdp: response.body.clone(),
                });
            }
        }
    }

    /// RFC 3261 §13.2.2.4: every 2xx is ACKed by us (retransmissions again,
    /// with the same ACK). The first 2xx of a live, uncancelled call
    /// confirms its dialog; any other (another fork's, or one crossing our
    /// CANCEL) gets ACK then BYE.
    fn on_invite_2xx(&mut self, now: Instant, key: &TransactionKey, response: Response) {
        let tag = response
            .to_header()
            .ok()
            .and_then(|to| tag_of(to.value()))
            .unwrap_or_default();
        let Some(inv) = self.invites.get_mut(key) else {
            return;
        };
        if let Some((_, bytes)) = inv.acks.iter().find(|(t, _)| *t == tag) {
            // A retransmission: our ACK was lost.
            self.out.push_back(Datagram {
                peer: inv.peer,
                bytes: bytes.clone(),
            });
            return;
        }
        let mut dialog = dialog_of_2xx(inv, key, &response);
        let ack = build_in_dialog(&self.config, &dialog, Method::Ack);
        let bytes = message::to_bytes(&SipMessage::Request(ack));
        inv.acks.push((tag, bytes.clone()));
        let peer = inv.peer;
        self.out.push_back(Datagram { peer, bytes });
        let live = self.calling(key).map(|call| {
            let cancelling = self.calls[&call]
                .outbound
                .as_ref()
                .is_some_and(|o| o.cancelling);
            (call, cancelling)
        });
        match live {
            Some((call, false)) => {
                let c = self.calls.get_mut(&call).expect("calling() found it");
                c.remote_party = dialog.remote_party;
                c.remote_target = dialog.remote_target;
                c.route_set = dialog.route_set;
                c.state = CallState::Established;
                if let Some(out) = c.outbound.as_mut() {
                    out.cancel_deadline = None;
                }
                let sdp = (!response.body.is_empty()).then_some(response.body);
                self.events.push_back(UaEvent::Answered { call, sdp });
            }
            crossed => {
                // A 2xx that crossed our CANCEL, or from a second fork (or
                // for a call already given up): end that session at once.
                dialog.local_cseq += 1;
                let bye = build_in_dialog(&self.config, &dialog, Method::Bye);
                if let Err(error) = self.tx.request(now, peer, bye) {
                    tracing::warn!(%error, "could not send BYE for an unwanted 2xx");
                }
                if let Some((call, true)) = crossed {
                    self.forget(call);
                    self.events.push_back(UaEvent::Failed { call, code: 487 });
                }
            }
        }
    }

    /// A 3xx–6xx to our INVITE (the transaction layer has ACKed it): answer
    /// one digest challenge, or fail the call.
    fn on_invite_failure(&mut self, now: Instant, key: &TransactionKey, response: &Response) {
        let code = response.status_code.code();
        let local_addr = self.config.local_addr;
        let Some(call) = self.calling(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if matches!(code, 401 | 407)
            && let Some(out) = c.outbound.as_mut()
            && !out.cancelling
            && !out.auth_tried
            && let Some(digest) = out.digest.as_mut()
            && digest.on_challenge(response).is_ok()
        {
            out.auth_tried = true;
            out.provisional = false;
            // RFC 3261 §22.2: the same request again, next CSeq, new branch.
            c.local_cseq += 1;
            let cseq = c.local_cseq;
            let mut request = c.invite.clone();
            for h in request.headers.iter_mut() {
                match h {
                    Header::Via(via) => {
                        *via = rsip::headers::Via::new(format!(
                            "SIP/2.0/{} {};branch={};rport",
                            c.peer.transport.via_token(),
                            local_addr,
                            message::new_branch()
                        ));
                    }
                    Header::CSeq(h) => *h = rsip::headers::CSeq::new(format!("{cseq} INVITE")),
                    _ => {}
                }
            }
            digest.authorize(&mut request, &message::new_tag());
            c.remote_party = strip_tag(&c.remote_party).to_owned();
            match self.tx.request(now, c.peer, request.clone()) {
                Ok(new_key) => {
                    c.invite_key = new_key.clone();
                    c.invite = request.clone();
                    let inv = OutInvite {
                        call,
                        peer: c.peer,
                        call_id: c.call_id.clone(),
                        local_party: c.local_party.clone(),
                        local_tag: c.local_tag.clone(),
                        cseq,
                        invite: request,
                        target: c.remote_target.clone(),
                        acks: Vec::new(),
                    };
                    self.invites.insert(new_key, inv);
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not resend the INVITE with credentials")
                }
            }
        }
        self.forget(call);
        self.events.push_back(UaEvent::Failed { call, code });
    }

    /// Timer B: no response at all (RFC 3261 §8.1.3.1: as a 408).
    fn on_invite_timeout(&mut self, key: &TransactionKey) {
        let Some(call) = self.calling(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let cancelling = c.outbound.as_ref().is_some_and(|o| o.cancelling);
        self.forget(call);
        let code = if cancelling { 487 } else { 408 };
        self.events.push_back(UaEvent::Failed { call, code });
    }

    /// RFC 3261 §9.1: no final response 64*T1 after our CANCEL: consider the
    /// INVITE cancelled.
    fn cancel_expired(&mut self, now: Instant, call: CallRef, due: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let expired = matches!(c.state, CallState::Calling)
            && c.outbound
                .as_ref()
                .and_then(|o| o.cancel_deadline)
                .is_some_and(|d| d == due && d <= now);
        if !expired {
            return;
        }
        let key = c.invite_key.clone();
        self.forget(call);
        self.tx.abandon(&key);
        self.events.push_back(UaEvent::Failed { call, code: 487 });
    }

    fn send_bye(&mut self, now: Instant, call: CallRef, reason: EndReason) -> Result<(), UaError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(UaError::UnknownCall(call))?;
        c.local_cseq += 1;
        let request = build_in_dialog(&self.config, c, Method::Bye);
        let key = self.tx.request(now, c.peer, request)?;
        c.state = CallState::AwaitingByeResponse { reason };
        c.unacked = None;
        self.byes.insert(key, call);
        Ok(())
    }

    fn forget(&mut self, call: CallRef) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&(c.call_id, c.local_tag));
        }
    }
}

impl Call {
    fn remote_cseq_of_invite(&self) -> u32 {
        self.invite
            .cseq_header()
            .ok()
            .and_then(|h| h.seq().ok())
            .unwrap_or(0)
    }
}

fn has_sdp_content_type(request: &Request) -> bool {
    request.headers.iter().any(|h| match h {
        Header::ContentType(ct) => ct
            .value()
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/sdp"),
        _ => false,
    })
}

/// Split a comma-separated header value (`<a>, <b>`) at top-level commas,
/// not inside `<…>` or quotes.
fn split_header_list(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, ch) in value.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                parts.push(value[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim().to_owned());
    parts.retain(|p| !p.is_empty());
    parts
}

fn contact_value(config: &UaConfig, transport: Transport) -> String {
    let user = config
        .numbers
        .first()
        .map(String::as_str)
        .unwrap_or("frontdoor");
    match transport {
        Transport::Udp => format!("<sip:{user}@{}>", config.local_addr),
        Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", config.local_addr),
    }
}

/// A 200 OK to an INVITE or re-INVITE, with Contact, Record-Route copied
/// (RFC 3261 §12.1.1) and an SDP body.
fn ok_with_sdp(config: &UaConfig, invite: &Request, local_tag: &str, sdp: Vec<u8>) -> Response {
    let mut response = message::response(invite, 200, Some(local_tag));
    for h in invite.headers.iter() {
        if let Header::RecordRoute(rr) = h {
            response.headers.push(Header::RecordRoute(rr.clone()));
        }
    }
    let transport = invite
        .via_header()
        .ok()
        .and_then(|v| v.typed().ok())
        .map(|v| match v.transport {
            rsip::Transport::Tcp => Transport::Tcp,
            _ => Transport::Udp,
        })
        .unwrap_or(Transport::Udp);
    response
        .headers
        .push(Header::Contact(rsip::headers::Contact::new(contact_value(
            config, transport,
        ))));
    response.headers.push(allow_header(config));
    response
        .headers
        .push(Header::ContentType(rsip::headers::ContentType::new(
            "application/sdp",
        )));
    response.body = sdp;
    response
}

/// `Allow` with the methods we serve (RFC 3261 §20.5): in 405s, OPTIONS
/// answers and 2xx to INVITE.
fn allow_header(config: &UaConfig) -> Header {
    let methods = if config.registrar {
        ALLOW_WITH_REGISTER
    } else {
        ALLOW
    };
    Header::Allow(rsip::headers::Allow::new(methods))
}

/// Build a request inside the call's dialog (RFC 3261 §12.2.1.1).
fn build_in_dialog(config: &UaConfig, c: &Call, method: Method) -> Request {
    let mut headers = rsip::Headers::default();
    headers.push(Header::Via(rsip::headers::Via::new(format!(
        "SIP/2.0/{} {};branch={};rport",
        c.peer.transport.via_token(),
        config.local_addr,
        message::new_branch()
    ))));
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    headers.push(Header::From(rsip::headers::From::new(format!(
        "{};tag={}",
        strip_tag(&c.local_party),
        c.local_tag
    ))));
    headers.push(Header::To(rsip::headers::To::new(c.remote_party.clone())));
    headers.push(Header::CallId(rsip::headers::CallId::new(
        c.call_id.clone(),
    )));
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
        "{} {}",
        c.local_cseq, method
    ))));
    for route in &c.route_set {
        headers.push(Header::Route(rsip::headers::Route::new(route.clone())));
    }
    headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
        config.product.clone(),
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    let uri = message::parse_uri(&c.remote_target)
        .or_else(|_| message::parse_uri(&format!("sip:{}", c.peer.addr)))
        .unwrap_or_default();
    Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// The dialog a 2xx to our INVITE creates (RFC 3261 §12.1.2): the remote
/// target from its Contact, the route set from its Record-Route reversed,
/// the remote party (with tag) from its To. Not inserted anywhere: the
/// caller copies what it needs, or uses it to ACK and BYE an unwanted 2xx.
fn dialog_of_2xx(inv: &OutInvite, key: &TransactionKey, response: &Response) -> Call {
    let remote_party = response
        .to_header()
        .map(|to| to.value().to_owned())
        .unwrap_or_default();
    let remote_target = response
        .contact_header()
        .ok()
        .and_then(|c| c.typed().ok())
        .map(|c| c.uri.to_string())
        .unwrap_or_else(|| inv.target.clone());
    let mut route_set: Vec<String> = response
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(rr) => Some(rr.value().to_owned()),
            _ => None,
        })
        .flat_map(|v| split_header_list(&v))
        .collect();
    route_set.reverse();
    Call {
        call_id: inv.call_id.clone(),
        local_tag: inv.local_tag.clone(),
        local_party: inv.local_party.clone(),
        remote_party,
        remote_target,
        route_set,
        local_cseq: inv.cseq,
        remote_cseq: 0,
        peer: inv.peer,
        state: CallState::Established,
        invite_key: key.clone(),
        invite: inv.invite.clone(),
        reinvite: None,
        unacked: None,
        bye_pending: false,
        outbound: None,
    }
}

/// The host of a socket address as it goes in a URI (IPv6 in brackets).
fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// Our Contact in outbound INVITEs: `from_user` at our address.
fn outbound_contact(config: &UaConfig, transport: Transport) -> String {
    let user = &config.from_user;
    match transport {
        Transport::Udp => format!("<sip:{user}@{}>", config.local_addr),
        Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", config.local_addr),
    }
}

fn has_tag(party: &str) -> bool {
    tag_of(party).is_some()
}

/// The `tag` parameter of a From/To value (after the `>` of a name-addr).
fn tag_of(party: &str) -> Option<String> {
    let params = match party.rfind('>') {
        Some(i) => &party[i + 1..],
        None => party,
    };
    params.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| value.trim().to_owned())
    })
}

/// The To of an INVITE carries no tag of ours; if a peer sent one anyway,
/// never duplicate it.
fn strip_tag(party: &str) -> &str {
    match party.to_ascii_lowercase().find(";tag=") {
        Some(i) => &party[..i],
        None => party,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod uac_tests;
