//! The user agent core: dialogs and calls on top of the transaction layer.
//!
//! [`UserAgent`] is what the driver talks to. It owns the [`Transactions`],
//! parses raw bytes (answering malformed requests with 400), keeps one
//! `Call` per INVITE dialog, and turns SIP into call events for the call
//! controller: a call arrived, it was confirmed by the ACK, the caller hung
//! up, a re-INVITE or an INFO came in. The controller answers with commands
//! (`answer`, `reject`, `hangup`, `answer_reinvite`).
//!
//! An incoming call carries both the caller's From and what the network
//! asserts (P-Asserted-Identity, `Privacy: id`; RFC 3325). This layer reads
//! them; the controller decides, by the peer, whether to trust the
//! assertion ([`IncomingCall::asserted`]).
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

use crate::Peer;
use crate::guard::{Guard, GuardConfig, Shed};
use crate::message;
use crate::transaction::{TimerConfig, TransactionKey, Transactions, TxEvent};

mod extensions;
mod identity;
mod uac;
mod uas;
mod wire;

pub use extensions::{SUPPORTED, SessionTimerConfig};
pub use uac::{OutboundCall, Party};
use wire::{allow_header, build_in_dialog, ok_with_sdp};

/// Methods this user agent implements; sent in `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK";
/// `Allow` when REGISTER is passed to the driver ([`UaConfig::registrar`]).
pub const ALLOW_WITH_REGISTER: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REGISTER";

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
    /// Per-source limits for requests from outside ([`crate::guard`]).
    pub guard: GuardConfig,
    /// The port of SIP over TLS, for our Contact on TLS (default 5061).
    pub tls_port: Option<u16>,
    /// The host part of our default From in outbound calls; `None` (the
    /// default) uses the IP address of [`UaConfig::local_addr`].
    pub from_domain: Option<String>,
    /// How long an answered INVITE waits for its ACK before the call is
    /// released (a BYE), when that is sooner than RFC 3261's 64*T1: an
    /// INVITE from a forged address never ACKs, and holds a call slot and
    /// a port meanwhile. Default 8 s (the 2xx is sent four more times).
    pub ack_wait: Duration,
    /// Session timers for the calls we answer (RFC 4028; see
    /// [`extensions`]).
    pub session_timer: SessionTimerConfig,
    /// When set, INVITEs for a new call are taken only from these
    /// networks (the carrier's trunks); any other source gets 403.
    pub accept_from: Option<crate::guard::Networks>,
    /// An outbound call with alternative next hops
    /// ([`OutboundCall::alternates`]) moves on to the next one when the
    /// current one has sent no response at all (not even 100 Trying)
    /// within this time, or has answered 503. Default 2 s.
    pub failover_wait: Duration,
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
            guard: GuardConfig::default(),
            tls_port: None,
            ack_wait: Duration::from_secs(8),
            session_timer: SessionTimerConfig::default(),
            accept_from: None,
            failover_wait: Duration::from_secs(2),
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
    /// The caller's number as the network asserts it in
    /// P-Asserted-Identity (RFC 3325 §9.1): the user part of its first
    /// `sip:`/`sips:` URI, or else its `tel:` number. A carrier often
    /// leaves From (and so [`IncomingCall::caller`]) to the caller's phone
    /// — withheld, or a display value — and puts the number it vouches for
    /// here. But anyone can write this header: RFC 3325 §2.3 trusts it only
    /// from a peer inside our trust domain, so the call controller decides,
    /// by [`IncomingCall::peer`], whether to use it; this layer only reads
    /// it. `None` when absent, `anonymous`, or unreadable (a bad header
    /// never fails the INVITE).
    pub asserted: Option<String>,
    /// The INVITE carries `Privacy: id` (RFC 3325 §9.3, RFC 3323 §4.2): the
    /// caller asks that their asserted identity go no further than the
    /// trust domain. It comes with [`IncomingCall::asserted`]: when the
    /// controller trusts `peer` and so uses the asserted number, this says
    /// that number is withheld from anyone outside (a trunk or PBX we
    /// transfer to); how it is shown inside is the controller's decision.
    pub privacy_id: bool,
    /// The user part of the Request-URI (the number dialled).
    pub dialled: String,
    /// The SDP offer; `None` for a late offer (we offer in the 200).
    pub offer: Option<Vec<u8>>,
    /// Where the INVITE came from.
    pub peer: Peer,
    /// Where the call was diverted from, when the carrier says
    /// (`Diversion`, RFC 5806; else the first `History-Info` entry, RFC
    /// 7044): usually the number first dialled, e.g. a centre's old
    /// local number forwarded to 211.
    pub diverted_from: Option<String>,
    /// Calls in progress when it arrived, this one included (outbound legs
    /// count too, as for [`UaConfig::max_calls`]): how near the limit it is.
    pub calls_in_progress: usize,
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
    /// The session timer ran out (RFC 4028 §10): the caller stopped
    /// refreshing, or our refresh got 481 or no answer. We sent BYE.
    SessionExpired,
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
    /// A trunk of the carrier went up or down, registered or failed to
    /// ([`UserAgent::set_trunks`]).
    Trunk(crate::trunk::TrunkStatus),
    /// A request shed by the per-source limits ([`crate::guard`]): dropped
    /// unanswered, or refused with 503 (`SourceCalls`, `Full`). `warn` is
    /// true the first time in a minute for this source and reason.
    Shed { peer: Peer, why: Shed, warn: bool },
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
    /// The current next hop sent something (100 Trying or more).
    responded: bool,
    /// When to move on to the next of `alternates` if nothing came.
    failover_at: Option<Instant>,
    /// Next hops still to try ([`OutboundCall::alternates`]).
    alternates: Vec<Peer>,
    follow_redirects: bool,
    /// 3xx followed so far.
    redirects: u8,
    /// The RSeq of the last reliable provisional response PRACKed.
    last_rseq: Option<u32>,
    /// The SDP of a reliable provisional response: the answer to our
    /// offer, when the 2xx carries none (RFC 3262 §5).
    early_answer: Option<Vec<u8>>,
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
    /// The session timer (RFC 4028), for calls we answered.
    session: Option<extensions::SessionTimer>,
    /// The INVITE said `Require: 100rel`: we send no 180 (we send no
    /// provisional response reliably).
    no_ringing: bool,
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
    /// Our session refreshes (UPDATE) → their call.
    refreshes: HashMap<TransactionKey, CallRef>,
    /// Our INVITE client transactions (outbound calls).
    invites: HashMap<TransactionKey, OutInvite>,
    /// Retransmission deadlines of unacknowledged 2xx (lazily pruned).
    timers: BinaryHeap<Reverse<(Instant, CallRef)>>,
    events: std::collections::VecDeque<UaEvent>,
    out: std::collections::VecDeque<Datagram>,
    next_call: u64,
    draining: bool,
    guard: Guard,
    /// The carrier's trunks: registrations and keep-alives.
    trunks: crate::trunk::Trunks,
}

impl UserAgent {
    pub fn new(config: UaConfig) -> Self {
        UserAgent {
            tx: Transactions::new(config.timers),
            guard: Guard::new(config.guard.clone()),
            config,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            byes: HashMap::new(),
            refreshes: HashMap::new(),
            invites: HashMap::new(),
            timers: BinaryHeap::new(),
            events: Default::default(),
            out: Default::default(),
            next_call: 1,
            draining: false,
            trunks: crate::trunk::Trunks::none(),
        }
    }

    /// Keep these trunks of the carrier alive from `now` on: register to
    /// those that want it (our Contact is the first of
    /// [`UaConfig::numbers`] at our address, so the calls the carrier
    /// sends to the registration reach the IVR) and probe them with
    /// OPTIONS. Their changes come as [`UaEvent::Trunk`].
    pub fn set_trunks(&mut self, now: Instant, trunks: Vec<crate::trunk::TrunkConfig>) {
        let user = self
            .config
            .numbers
            .first()
            .map(String::as_str)
            .unwrap_or("frontdoor");
        let local = crate::trunk::Local {
            addr: self.config.local_addr,
            contact: format!("sip:{user}@{}", self.config.local_addr),
            product: self.config.product.clone(),
        };
        self.trunks = crate::trunk::Trunks::new(local, trunks, now);
        self.send_trunk_requests(now);
    }

    /// The trunks' states, in configured order.
    pub fn trunk_status(&self) -> Vec<crate::trunk::TrunkStatus> {
        self.trunks.status()
    }

    /// Next hops for a call through the trunks: those up first
    /// ([`crate::trunk::Trunks::order`]).
    pub fn trunk_order(&self) -> Vec<Peer> {
        self.trunks.order()
    }

    fn send_trunk_requests(&mut self, now: Instant) {
        while let Some(request) = self.trunks.poll_request(now) {
            match self.tx.request(now, request.peer, request.request.clone()) {
                Ok(key) => self.trunks.sent(&request, key),
                Err(error) => tracing::warn!(%error, "could not send a request to a trunk"),
            }
        }
        while let Some(status) = self.trunks.poll_change() {
            self.events.push_back(UaEvent::Trunk(status));
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
                if let Err(why) = self.screen(now, peer, &request) {
                    self.shed(now, peer, why);
                    return;
                }
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

    /// The per-source checks a request passes before it costs a
    /// transaction: not a scanner, and a new INVITE or a REGISTER within
    /// its source's rate.
    fn screen(&mut self, now: Instant, peer: Peer, request: &Request) -> Result<(), Shed> {
        let scanner = request.headers.iter().any(|h| match h {
            Header::UserAgent(ua) => self.guard.is_scanner(ua.value()),
            _ => false,
        });
        if scanner {
            return Err(Shed::Scanner);
        }
        let out_of_dialog = || {
            request
                .to_header()
                .ok()
                .and_then(|t| t.tag().ok().flatten())
                .is_none()
        };
        match request.method {
            Method::Invite if out_of_dialog() => self.guard.admit(now, peer.addr.ip(), false),
            Method::Register if self.config.registrar => {
                self.guard.admit(now, peer.addr.ip(), true)
            }
            _ => Ok(()),
        }
    }

    /// Report a shed request (it was dropped, or refused by the caller).
    pub(crate) fn shed(&mut self, now: Instant, peer: Peer, why: Shed) {
        let warn = self.guard.should_warn(now, peer.addr.ip(), why);
        self.events.push_back(UaEvent::Shed { peer, why, warn });
    }

    /// The most calls `ip` may have in progress, if limited.
    pub(crate) fn calls_limit(&self, ip: std::net::IpAddr) -> Option<usize> {
        self.guard.calls_limit(ip)
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
        self.send_trunk_requests(now);
        while let Some(Reverse((at, call))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.retransmit_2xx(now, call, at);
            self.cancel_expired(now, call, at);
            self.session_due(now, call, at);
            self.failover_due(now, call, at);
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
        [ours, self.tx.poll_timeout(), self.trunks.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
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
        if c.no_ringing {
            return Ok(());
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
        let mut response = ok_with_sdp(&self.config, &c.invite, &c.local_tag, sdp);
        if let Some(session) = &c.session {
            response.headers.extend(session.response_headers());
        }
        let cseq = c.remote_cseq;
        self.tx.respond(now, &c.invite_key, response.clone())?;
        c.state = CallState::AwaitingAck;
        let t1 = self.config.timers.t1;
        let unacked = Unacked {
            cseq,
            bytes: message::to_bytes(&SipMessage::Response(response)),
            next: now + t1,
            interval: t1,
            give_up: now + (64 * t1).min(self.config.ack_wait),
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
                let mut response = ok_with_sdp(&self.config, &request, &c.local_tag, sdp);
                if let Some(session) = &c.session {
                    response.headers.extend(session.response_headers());
                }
                let cseq = request
                    .cseq_header()
                    .ok()
                    .and_then(|h| h.seq().ok())
                    .unwrap_or(0);
                self.tx.respond(now, &key, response.clone())?;
                // A 2xx to UPDATE is not ACKed (RFC 3311): nothing to resend.
                if !c.peer.transport.is_reliable() && request.method == Method::Invite {
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
                TxEvent::Response { key, response } if self.trunks.owns(&key) => {
                    self.trunks.on_response(now, &key, &response);
                    self.send_trunk_requests(now);
                }
                TxEvent::Timeout { key } if self.trunks.owns(&key) => {
                    self.trunks.on_timeout(now, &key);
                    self.send_trunk_requests(now);
                }
                TxEvent::Response { key, response } if self.refreshes.contains_key(&key) => {
                    self.on_refresh_done(now, &key, Some(&response))
                }
                TxEvent::Timeout { key } if self.refreshes.contains_key(&key) => {
                    self.on_refresh_done(now, &key, None)
                }
                TxEvent::Response { key, response } => self.on_bye_done(&key, Some(&response)),
                TxEvent::Timeout { key } if self.invites.contains_key(&key) => {
                    self.on_invite_timeout(now, &key)
                }
                TxEvent::Timeout { key } => self.on_bye_done(&key, None),
                TxEvent::Terminated { key } => {
                    self.invites.remove(&key);
                    self.byes.remove(&key);
                    self.refreshes.remove(&key);
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
            Method::Invite | Method::Update => self.on_reinvite(now, key, request),
            // We never send a provisional response reliably (see
            // `extensions`): no PRACK can match one.
            Method::PRack => self.respond(now, &key, &request, 481),
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
            // A load balancer's probe: draining or full takes no new call,
            // so say 503 and it sends them elsewhere.
            Method::Options if self.draining || self.calls.len() >= self.config.max_calls => {
                let mut response = message::response(&request, 503, None);
                response
                    .headers
                    .push(Header::RetryAfter(rsip::headers::RetryAfter::new("30")));
                self.capabilities(&mut response);
                self.respond_with(now, &key, response);
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
            .push(Header::Supported(rsip::headers::Supported::new(SUPPORTED)));
        response
            .headers
            .push(Header::Accept(rsip::headers::Accept::new(
                "application/sdp",
            )));
        response
            .headers
            .push(Header::Other("Accept-Language".into(), "en, fr".into()));
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

    // ---- outbound calls (UAC) ---------------------------------------------

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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod uac_tests;
