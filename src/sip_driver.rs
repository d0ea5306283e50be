//! The SIP driver: UDP and TCP sockets around the sans-IO [`UserAgent`].
//!
//! One task owns the user agent. It reads UDP datagrams itself, receives
//! framed messages from one task per TCP connection, takes commands from
//! call tasks, wakes at the user agent's next timer, and after each input
//! flushes what the user agent wants sent and hands its events to the call
//! tasks. Nothing here knows SIP rules; they all live in `frontdoor-sip`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::{Buf, BytesMut};
use frontdoor_sip::message::{self, Framing};
use frontdoor_sip::ua::{
    CallRef, EndReason, IncomingCall, IncomingRegister, OutboundCall, PendingRequest, UaEvent,
    UserAgent,
};
use frontdoor_sip::{Peer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// What a call task hears from SIP.
#[derive(Debug)]
pub enum CallEvent {
    /// The ACK came; for a late offer it carries the caller's SDP answer.
    Confirmed {
        answer: Option<Vec<u8>>,
    },
    ReInvite {
        offer: Option<Vec<u8>>,
    },
    Info {
        content_type: String,
        body: Vec<u8>,
    },
    Ended {
        reason: EndReason,
    },
    /// An outbound leg rings (180/183).
    Progress {
        code: u16,
    },
    /// An outbound leg was answered (the ACK is sent); its SDP answer.
    Answered {
        sdp: Option<Vec<u8>>,
    },
    /// An outbound leg failed with this final status (408: no response).
    Failed {
        code: u16,
    },
}

/// What a call task asks of SIP.
#[derive(Debug)]
enum Command {
    Ring {
        call: CallRef,
    },
    Answer {
        call: CallRef,
        sdp: Vec<u8>,
    },
    Reject {
        call: CallRef,
        code: u16,
    },
    Hangup {
        call: CallRef,
    },
    AnswerReinvite {
        call: CallRef,
        answer: Result<Vec<u8>, u16>,
    },
    Invite {
        outbound: Box<OutboundCall>,
        /// Through the carrier's trunks: the driver picks the next hops.
        via_trunk: bool,
        events: mpsc::UnboundedSender<CallEvent>,
        placed: oneshot::Sender<Result<SipHandle, String>>,
    },
    /// The call (a caller's, or a leg of one) is a crisis call: at the
    /// drain limit it is hung up last.
    Crisis {
        call: CallRef,
    },
}

/// A call task's way to act on its SIP dialog. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SipHandle {
    call: CallRef,
    commands: mpsc::UnboundedSender<Command>,
}

impl SipHandle {
    pub fn ring(&self) {
        self.send(Command::Ring { call: self.call });
    }
    pub fn answer(&self, sdp: Vec<u8>) {
        self.send(Command::Answer {
            call: self.call,
            sdp,
        });
    }
    pub fn reject(&self, code: u16) {
        self.send(Command::Reject {
            call: self.call,
            code,
        });
    }
    pub fn hangup(&self) {
        self.send(Command::Hangup { call: self.call });
    }
    /// This dialog carries a crisis call: when a drain runs out of time,
    /// it is the last to be hung up ([`Wiring::crisis_grace`]).
    pub fn mark_crisis(&self) {
        self.send(Command::Crisis { call: self.call });
    }
    pub fn answer_reinvite(&self, answer: Result<Vec<u8>, u16>) {
        self.send(Command::AnswerReinvite {
            call: self.call,
            answer,
        });
    }
    fn send(&self, command: Command) {
        // The driver outlives every call task; a send fails only while the
        // process exits, when there is nothing left to tell.
        let _ = self.commands.send(command);
    }
}

async fn place(
    commands: &mpsc::UnboundedSender<Command>,
    outbound: OutboundCall,
    via_trunk: bool,
    events: mpsc::UnboundedSender<CallEvent>,
) -> Result<SipHandle, String> {
    let (placed, result) = oneshot::channel();
    let _ = commands.send(Command::Invite {
        outbound: Box::new(outbound),
        via_trunk,
        events,
        placed,
    });
    result
        .await
        .unwrap_or_else(|_| Err("the SIP driver has stopped".into()))
}

/// Places calls that belong to no caller's call (callbacks, the legs the
/// queues start). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dialer {
    commands: mpsc::UnboundedSender<Command>,
}

impl Dialer {
    /// Place an outbound call (a B2BUA leg): its events come on `events`;
    /// returns the leg's handle once the INVITE is on its way. `via_trunk`:
    /// through the carrier's trunks, when configured — the first one up,
    /// then the others in turn (`outbound.peer` is used without trunks).
    pub async fn invite(
        &self,
        outbound: OutboundCall,
        via_trunk: bool,
        events: mpsc::UnboundedSender<CallEvent>,
    ) -> Result<SipHandle, String> {
        place(&self.commands, outbound, via_trunk, events).await
    }
}

/// The driver's end of [`Dialer`]s; give it to [`run`] in [`Wiring`].
pub struct DialerInbox {
    tx: mpsc::UnboundedSender<Command>,
    rx: mpsc::UnboundedReceiver<Command>,
}

/// A dialer and the inbox [`run`] serves it from.
pub fn dialer() -> (Dialer, DialerInbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Dialer {
            commands: tx.clone(),
        },
        DialerInbox { tx, rx },
    )
}

/// Starts the task that runs one call.
pub type SpawnCall =
    Box<dyn Fn(IncomingCall, SipHandle, mpsc::UnboundedReceiver<CallEvent>) + Send>;

/// The bound SIP sockets.
pub struct Sockets {
    udp: UdpSocket,
    tcp: TcpListener,
    /// SIP over TLS, when a certificate is configured.
    tls: Option<(TcpListener, TlsAcceptor)>,
}

impl Sockets {
    /// Bind UDP and TCP on `addr`, with errors a person can act on.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Sockets> {
        let explain = |e: std::io::Error, what: &str| -> anyhow::Error {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    " — the address is in use: another SIP server is running there; stop it or choose another address with --sip"
                }
                std::io::ErrorKind::PermissionDenied => {
                    " — permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; or choose a port above 1023 with --sip"
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    " — this host has no such address; use 0.0.0.0 or one of its own addresses"
                }
                _ => "",
            };
            anyhow::anyhow!("cannot bind SIP over {what} on {addr}: {e}{hint}")
        };
        // With port 0 the system picks UDP's port and TCP takes the same
        // one, which a TCP socket may hold already: then another pick.
        let tries = if addr.port() == 0 { 20 } else { 1 };
        for attempt in 1..=tries {
            let udp = UdpSocket::bind(addr).await.map_err(|e| explain(e, "UDP"))?;
            let bound = udp.local_addr().context("UDP socket address")?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => {
                    return Ok(Sockets {
                        udp,
                        tcp,
                        tls: None,
                    });
                }
                Err(e) if attempt < tries && e.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(e) => return Err(explain(e, "TCP")),
            }
        }
        anyhow::bail!("cannot bind SIP on {addr}: no port free for both UDP and TCP")
    }

    /// Also serve SIP over TLS on `addr` with `acceptor` (the certificate).
    pub async fn bind_tls(
        &mut self,
        addr: SocketAddr,
        acceptor: TlsAcceptor,
    ) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind SIP over TLS on {addr}"))?;
        self.tls = Some((listener, acceptor));
        Ok(())
    }

    /// Where SIP over TLS listens, if it does.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> SocketAddr {
        // A bound socket always has a local address.
        self.udp.local_addr().expect("bound socket")
    }
}

enum Inbound {
    Message {
        peer: Peer,
        bytes: BytesMut,
    },
    Connected {
        addr: SocketAddr,
        out: mpsc::UnboundedSender<Vec<u8>>,
    },
    Closed {
        addr: SocketAddr,
    },
}

/// What the driver reports to and hears from the rest of the engine.
pub struct Wiring {
    /// Set to the drain limit when the engine must stop (a second time to
    /// zero: stop at once).
    pub drain: watch::Receiver<Option<Duration>>,
    /// At the drain limit, calls marked crisis ([`SipHandle::mark_crisis`])
    /// stay up this much longer; the others are hung up.
    pub crisis_grace: Duration,
    /// Calls in progress.
    pub calls_gauge: watch::Sender<usize>,
    pub on_response: ResponseCounter,
    /// Counts what the per-source limits shed, by reason.
    pub on_shed: ShedCounter,
    pub registrations: Registrations,
    /// Where [`Dialer`]s' calls come in.
    pub dialer: DialerInbox,
    /// The carrier's trunks to register to and keep alive.
    pub trunks: Vec<frontdoor_sip::trunk::TrunkConfig>,
    /// Told every trunk's state at start and whenever one changes.
    pub on_trunks: TrunksReport,
}

/// Told the state of every trunk.
pub type TrunksReport = Box<dyn Fn(&[frontdoor_sip::trunk::TrunkStatus]) + Send>;

/// Run SIP until `drain` says stop and the last call has ended (or the drain
/// deadline passes and the remaining calls have been hung up).
pub async fn run(
    sockets: Sockets,
    mut ua: UserAgent,
    tcp_limits: TcpLimits,
    spawn_call: SpawnCall,
    wiring: Wiring,
) -> anyhow::Result<()> {
    let Wiring {
        mut drain,
        crisis_grace,
        calls_gauge,
        on_response,
        on_shed,
        registrations:
            Registrations {
                events: register_events,
                responses: mut register_responses,
            },
        dialer: DialerInbox {
            tx: commands_tx,
            rx: mut commands,
        },
        trunks,
        on_trunks,
    } = wiring;
    ua.set_trunks(Instant::now().into_std(), trunks);
    on_trunks(&ua.trunk_status());
    let Sockets { udp, tcp, tls } = sockets;
    let (inbound_tx, mut inbound) = mpsc::channel::<Inbound>(4096);
    let max_message = tcp_limits.max_message;
    let timeouts = tcp_limits.timeouts();
    if let Some((listener, acceptor)) = tls {
        tokio::spawn(accept_loop(
            listener,
            Some(acceptor),
            inbound_tx.clone(),
            tcp_limits.clone(),
        ));
    }
    tokio::spawn(accept_loop(tcp, None, inbound_tx.clone(), tcp_limits));

    let mut connections: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    let mut calls: HashMap<CallRef, mpsc::UnboundedSender<CallEvent>> = HashMap::new();
    let mut buf = vec![0u8; 65_535];
    let mut drain_deadline: Option<Instant> = None;
    let mut hung_up_all = false;
    // Crisis calls (and their legs), hung up last; whether the others
    // have been hung up already (the crisis calls' grace is running).
    let mut crisis: std::collections::HashSet<CallRef> = Default::default();
    let mut ordinary_hung_up = false;
    let mut drain_closed = false;

    loop {
        let timer = ua.poll_timeout().map(Instant::from_std);
        tokio::select! {
            // Each branch reads the clock when it runs, not when the wait
            // began: a quiet spell longer than 64 × T1 must not make a new
            // transaction's timers already due.
            received = udp.recv_from(&mut buf) => match received {
                Ok((n, from)) => {
                    let now = Instant::now();
                    // The user agent answers a datagram over the size limit with 513.
                    let peer = Peer { transport: Transport::Udp, addr: from };
                    ua.handle_bytes(now.into_std(), peer, &buf[..n]);
                }
                // ICMP port unreachable from a peer that went away shows up
                // here on Linux; it concerns one peer, not the socket.
                Err(error) => tracing::debug!(%error, "UDP receive error"),
            },
            Some(inbound) = inbound.recv() => match inbound {
                Inbound::Message { peer, bytes } => ua.handle_bytes(Instant::now().into_std(), peer, &bytes),
                Inbound::Connected { addr, out } => { connections.insert(addr, out); }
                Inbound::Closed { addr } => { connections.remove(&addr); }
            },
            Some(command) = commands.recv() => {
                let now = Instant::now().into_std();
                let result = match command {
                    Command::Ring { call } => ua.ring(now, call),
                    Command::Answer { call, sdp } => ua.answer(now, call, sdp),
                    Command::Reject { call, code } => ua.reject(now, call, code),
                    Command::Hangup { call } => ua.hangup(now, call),
                    Command::AnswerReinvite { call, answer } => ua.answer_reinvite(now, call, answer),
                    Command::Crisis { call } => {
                        if calls.contains_key(&call) {
                            crisis.insert(call);
                        }
                        Ok(())
                    }
                    Command::Invite { mut outbound, via_trunk, events, placed } => {
                        let order = if via_trunk { ua.trunk_order() } else { Vec::new() };
                        if let Some((first, rest)) = order.split_first() {
                            outbound.peer = *first;
                            outbound.alternates = rest.to_vec();
                        }
                        let result = ua.invite(now, *outbound).map(|call| {
                            calls.insert(call, events);
                            SipHandle { call, commands: commands_tx.clone() }
                        });
                        let _ = placed.send(result.map_err(|e| e.to_string()));
                        Ok(())
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(%error, "call command not applied");
                }
            },
            Some((pending, response)) = register_responses.recv() => {
                if let Err(error) = ua.respond_to(Instant::now().into_std(), pending, response) {
                    tracing::debug!(%error, "REGISTER response not sent");
                }
            },
            () = sleep_until_opt(timer) => ua.handle_timeout(Instant::now().into_std()),
            changed = drain.changed(), if !drain_closed => {
                drain_closed = changed.is_err();
                let limit = if changed.is_ok() { *drain.borrow() } else { Some(Duration::ZERO) };
                if let Some(limit) = limit {
                    if drain_deadline.is_none() {
                        tracing::info!(calls = ua.calls(), limit_s = limit.as_secs(), "draining: new calls get 503");
                        ua.set_draining(true);
                    }
                    if limit.is_zero() {
                        // Stop at once: crisis calls too.
                        ordinary_hung_up = true;
                    }
                    let at = Instant::now() + limit;
                    drain_deadline = Some(drain_deadline.map_or(at, |d| d.min(at)));
                }
            },
            () = sleep_until_opt(drain_deadline), if !hung_up_all => {
                let now = Instant::now().into_std();
                crisis.retain(|c| calls.contains_key(c));
                if !ordinary_hung_up && !crisis.is_empty() && !crisis_grace.is_zero() {
                    // Callers in crisis are the last to be cut off.
                    ordinary_hung_up = true;
                    let ordinary: Vec<CallRef> =
                        calls.keys().filter(|c| !crisis.contains(c)).copied().collect();
                    tracing::warn!(
                        hung_up = ordinary.len(),
                        crisis_kept = crisis.len(),
                        grace_s = crisis_grace.as_secs(),
                        "drain limit reached: hanging up the calls still in progress but the crisis calls, which get longer"
                    );
                    for call in ordinary {
                        let _ = ua.hangup(now, call);
                    }
                    drain_deadline = Some(Instant::now() + crisis_grace);
                } else {
                    tracing::warn!(calls = ua.calls(), crisis = crisis.len(), "drain limit reached: hanging up the calls still in progress");
                    hung_up_all = true;
                    for call in calls.keys() {
                        let _ = ua.hangup(now, *call);
                    }
                    // Give the BYEs a few seconds to complete, then go.
                    drain_deadline = Some(Instant::now() + Duration::from_secs(5));
                }
            },
        }

        while let Some(datagram) = ua.poll_transmit() {
            if let Some(code) = status_code(&datagram.bytes) {
                on_response(code);
            }
            match datagram.peer.transport {
                Transport::Udp => {
                    if let Err(error) = udp.send_to(&datagram.bytes, datagram.peer.addr).await {
                        tracing::warn!(peer = %datagram.peer, %error, "UDP send failed");
                    }
                }
                Transport::Tcp | Transport::Tls => {
                    // A closed connection's channel hands the bytes back.
                    let unsent = match connections.get(&datagram.peer.addr) {
                        Some(out) => out.send(datagram.bytes).err().map(|e| e.0),
                        None => Some(datagram.bytes),
                    };
                    if unsent.is_some() && datagram.peer.transport == Transport::Tls {
                        // Opening TLS to a phone needs its certificate
                        // checked against a name we do not have: the phone
                        // keeps its connection open (RFC 5626) instead.
                        tracing::warn!(peer = %datagram.peer, "no TLS connection to this peer any more: message not sent");
                    } else if let Some(bytes) = unsent {
                        // No connection (it closed): open one, as RFC 3261 §18.2.2 asks.
                        let (out, rx) = mpsc::unbounded_channel();
                        let _ = out.send(bytes);
                        connections.insert(datagram.peer.addr, out);
                        tokio::spawn(connect(
                            datagram.peer.addr,
                            rx,
                            inbound_tx.clone(),
                            max_message,
                            timeouts,
                        ));
                    }
                }
            }
        }
        while let Some(event) = ua.poll_event() {
            if let UaEvent::Register(incoming) = event {
                // The registrar task answers through `register_responses`.
                let _ = register_events.send(incoming);
                continue;
            }
            if let UaEvent::Trunk(trunk) = event {
                match (&trunk.registration, trunk.up) {
                    (Some(frontdoor_sip::trunk::RegistrationState::Failed { code, .. }), _) => {
                        tracing::warn!(trunk = %trunk.name, code, "registration to the trunk failed: retrying with back-off")
                    }
                    (_, true) => {
                        tracing::info!(trunk = %trunk.name, registered = trunk.registration.is_some(), "trunk up")
                    }
                    (_, false) => {
                        tracing::warn!(trunk = %trunk.name, reachable = ?trunk.reachable, "trunk down: calls go out through the others")
                    }
                }
                on_trunks(&ua.trunk_status());
                continue;
            }
            if let UaEvent::Shed { peer, why, warn } = event {
                on_shed(why);
                if warn {
                    tracing::warn!(%peer, why = why.as_str(), "requests from this source shed (said once a minute; all are counted in /metrics)");
                } else {
                    tracing::debug!(%peer, why = why.as_str(), "request shed");
                }
                continue;
            }
            dispatch(event, &mut calls, &commands_tx, &spawn_call);
        }
        calls_gauge.send_replace(ua.calls());
        if drain_deadline.is_some() && ua.calls() == 0 {
            tracing::info!("drained: no calls in progress");
            return Ok(());
        }
        if hung_up_all && drain_deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(
                calls = ua.calls(),
                "exiting with calls whose BYE did not complete"
            );
            return Ok(());
        }
    }
}

/// The registrar's side of the driver: REGISTERs go out on `events`, the
/// responses to send come back on `responses`.
pub struct Registrations {
    pub events: mpsc::UnboundedSender<IncomingRegister>,
    pub responses: mpsc::UnboundedReceiver<(PendingRequest, rsip::Response)>,
}

/// Told the status code of every response sent (retransmissions included).
pub type ResponseCounter = Box<dyn Fn(u16) + Send>;
/// Called with the reason of each request the per-source limits shed.
pub type ShedCounter = Box<dyn Fn(frontdoor_sip::guard::Shed) + Send>;

/// The status code of a response's bytes (`SIP/2.0 200 OK`), `None` for a request.
fn status_code(bytes: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

fn dispatch(
    event: UaEvent,
    calls: &mut HashMap<CallRef, mpsc::UnboundedSender<CallEvent>>,
    commands: &mpsc::UnboundedSender<Command>,
    spawn_call: &SpawnCall,
) {
    let (call, event) = match event {
        UaEvent::Incoming(incoming) => {
            let (tx, rx) = mpsc::unbounded_channel();
            calls.insert(incoming.call, tx);
            let handle = SipHandle {
                call: incoming.call,
                commands: commands.clone(),
            };
            spawn_call(incoming, handle, rx);
            return;
        }
        UaEvent::Malformed {
            peer,
            reason,
            answered,
        } => {
            tracing::warn!(%peer, %reason, answered, "malformed SIP message");
            return;
        }
        UaEvent::Confirmed { call, answer } => (call, CallEvent::Confirmed { answer }),
        UaEvent::ReInvite { call, offer } => (call, CallEvent::ReInvite { offer }),
        UaEvent::Info {
            call,
            content_type,
            body,
        } => (call, CallEvent::Info { content_type, body }),
        UaEvent::Progress { call, code } => (call, CallEvent::Progress { code }),
        UaEvent::Answered { call, sdp } => (call, CallEvent::Answered { sdp }),
        UaEvent::Failed { call, code } => match calls.remove(&call) {
            Some(tx) => {
                let _ = tx.send(CallEvent::Failed { code });
                return;
            }
            None => return,
        },
        UaEvent::Ended { call, reason } => match calls.remove(&call) {
            Some(tx) => {
                let _ = tx.send(CallEvent::Ended { reason });
                return;
            }
            None => return,
        },
        other => {
            tracing::debug!(?other, "SIP event not handled");
            return;
        }
    };
    if let Some(tx) = calls.get(&call) {
        // The call task may have finished already; then nobody needs it.
        let _ = tx.send(event);
    }
}

pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What TCP connections from outside may take.
#[derive(Debug, Clone)]
pub struct TcpLimits {
    /// Largest SIP message, bytes.
    pub max_message: usize,
    /// Connections from outside at once (ours to phones do not count).
    pub max_connections: usize,
    /// Connections from one source address at once.
    pub per_source: usize,
    /// A connection silent this long is closed (keep-alive CRLFs count).
    pub idle: Duration,
    /// A message begun must be complete within this (slow or truncated
    /// messages).
    pub message: Duration,
    /// Sources exempt from `per_source` (trusted peers, loopback).
    pub exempt: frontdoor_sip::guard::GuardConfig,
}

impl TcpLimits {
    fn timeouts(&self) -> Timeouts {
        Timeouts {
            idle: self.idle,
            message: self.message,
        }
    }
}

/// The time limits of one connection.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    idle: Duration,
    message: Duration,
}

/// Connections from outside now, in all and per source.
#[derive(Default)]
struct Open {
    total: usize,
    per_source: HashMap<std::net::IpAddr, usize>,
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    inbound: mpsc::Sender<Inbound>,
    limits: TcpLimits,
) {
    let open = Arc::new(std::sync::Mutex::new(Open::default()));
    // Counters, each updated in one step: usable after a panic elsewhere.
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let ip = addr.ip();
                let refused = {
                    let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
                    let from_source = o.per_source.get(&ip).copied().unwrap_or(0);
                    let refused = if o.total >= limits.max_connections {
                        Some("the engine's TCP connections are all in use")
                    } else if from_source >= limits.per_source && !limits.exempt.is_exempt(ip) {
                        Some("this source has as many TCP connections as it may")
                    } else {
                        None
                    };
                    if refused.is_none() {
                        o.total += 1;
                        *o.per_source.entry(ip).or_default() += 1;
                    }
                    refused
                };
                if let Some(why) = refused {
                    // Dropping the stream closes it.
                    tracing::debug!(%addr, why, "TCP connection refused");
                    continue;
                }
                let (out, rx) = mpsc::unbounded_channel();
                if inbound
                    .send(Inbound::Connected { addr, out })
                    .await
                    .is_err()
                {
                    return;
                }
                let (inbound, open, timeouts) = (inbound.clone(), open.clone(), limits.timeouts());
                let max_message = limits.max_message;
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => {
                            let link = Link {
                                addr,
                                transport: Transport::Tcp,
                            };
                            connection(stream, link, rx, inbound, max_message, timeouts).await;
                        }
                        Some(acceptor) => {
                            // The handshake gets the time a message gets.
                            match tokio::time::timeout(timeouts.message, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => {
                                    let link = Link {
                                        addr,
                                        transport: Transport::Tls,
                                    };
                                    connection(stream, link, rx, inbound, max_message, timeouts)
                                        .await;
                                }
                                Ok(Err(error)) => {
                                    tracing::debug!(%addr, %error, "TLS handshake failed");
                                    let _ = inbound.send(Inbound::Closed { addr }).await;
                                }
                                Err(_) => {
                                    tracing::debug!(%addr, "TLS handshake too slow");
                                    let _ = inbound.send(Inbound::Closed { addr }).await;
                                }
                            }
                        }
                    }
                    let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
                    o.total = o.total.saturating_sub(1);
                    if let Some(n) = o.per_source.get_mut(&ip) {
                        *n -= 1;
                        if *n == 0 {
                            o.per_source.remove(&ip);
                        }
                    }
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connect(
    addr: SocketAddr,
    out: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: mpsc::Sender<Inbound>,
    max_message: usize,
    timeouts: Timeouts,
) {
    match TcpStream::connect(addr).await {
        Ok(stream) => {
            let link = Link {
                addr,
                transport: Transport::Tcp,
            };
            connection(stream, link, out, inbound, max_message, timeouts).await;
        }
        Err(error) => {
            tracing::warn!(%addr, %error, "cannot open a TCP connection to send a SIP message");
            let _ = inbound.send(Inbound::Closed { addr }).await;
        }
    }
}

/// One TCP connection: frames messages by Content-Length (RFC 3261 §18.3)
/// and writes what the core sends to this peer.
/// The far end of a stream connection, and what runs on it.
#[derive(Debug, Clone, Copy)]
struct Link {
    addr: SocketAddr,
    transport: Transport,
}

async fn connection<S>(
    stream: S,
    link: Link,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: mpsc::Sender<Inbound>,
    max_message: usize,
    timeouts: Timeouts,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin,
{
    let addr = link.addr;
    let peer = Peer {
        transport: link.transport,
        addr,
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = BytesMut::with_capacity(8192);
    let mut last_read = Instant::now();
    // When the message now in `buf` began, if one has.
    let mut message_began: Option<Instant> = None;
    loop {
        let idle_at = last_read + timeouts.idle;
        let deadline = message_began.map_or(idle_at, |at| idle_at.min(at + timeouts.message));
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                let why = if message_began.is_some() { "a message did not complete in time" } else { "idle" };
                tracing::debug!(%peer, why, "closing the TCP connection");
                break;
            }
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break,
                Ok(_) => loop {
                    last_read = Instant::now();
                    if buf.is_empty() {
                        message_began = None;
                    } else {
                        message_began.get_or_insert(last_read);
                    }
                    match message::frame(&buf, max_message) {
                        Ok(Framing::Incomplete) => break,
                        Ok(Framing::Keepalive(n)) => {
                            buf.advance(n);
                            message_began = None;
                        }
                        Ok(Framing::Complete(n)) => {
                            let bytes = buf.split_to(n);
                            message_began = None;
                            if inbound.send(Inbound::Message { peer, bytes }).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            // The stream cannot be resynchronised: close it.
                            tracing::warn!(%peer, reason = %error.reason(), "unframeable SIP stream, closing the connection");
                            let _ = inbound.send(Inbound::Closed { addr }).await;
                            return;
                        }
                    }
                },
                Err(error) => {
                    tracing::debug!(%peer, %error, "TCP read failed");
                    break;
                }
            },
            bytes = out.recv() => match bytes {
                Some(bytes) => {
                    if let Err(error) = writer.write_all(&bytes).await {
                        tracing::debug!(%peer, %error, "TCP write failed");
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = inbound.send(Inbound::Closed { addr }).await;
}
