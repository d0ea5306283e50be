//! The RFC 3261 §17 transaction layer, sans-IO.
//!
//! A transaction is one request and every response to it, plus the
//! retransmissions that make that exchange reliable over UDP. This module
//! keeps all of them in [`Transactions`], which the endpoint drives like
//! every other core in this crate:
//!
//! 1. Feed input: [`Transactions::handle_message`] for a message received
//!    from a peer, [`Transactions::request`], [`Transactions::respond`] and
//!    [`Transactions::cancel`] for what the transaction user (TU: the dialog
//!    and call layers) wants to do, [`Transactions::handle_timeout`] when
//!    the deadline from [`Transactions::poll_timeout`] has passed.
//! 2. Drain output: [`Transactions::poll_transmit`] until `None` (send each
//!    message to its peer), then [`Transactions::poll_event`] until `None`
//!    (requests and responses for the TU, timeouts, ends of transactions).
//! 3. Sleep until [`Transactions::poll_timeout`], or until the next message.
//!
//! There is one file per kind of transaction — `client_invite.rs`,
//! `client_non_invite.rs`, `server_invite.rs`, `server_non_invite.rs` — each
//! a small state machine with its timers in one small table (`timer.rs`,
//! every timer a value, T1/T2/T4 from [`TimerConfig`]). States
//! carry the RFC's names (Calling, Proceeding, Completed, Confirmed,
//! Accepted) so the code reads against the RFC's figures; each state's doc
//! comment says what it waits for. The INVITE machines include the
//! "Accepted" state of RFC 6026, which fixes RFC 3261's handling of 2xx
//! responses.
//!
//! Responsibilities left to the TU:
//! - answering every server transaction (the layer never gives up on a
//!   request the TU has not answered);
//! - retransmitting a 2xx to INVITE and sending the ACK for a 2xx
//!   (RFC 3261 §13.3.1.4, §13.2.2.4), with [`Transactions::send_stateless`];
//! - cancelling a client INVITE that rings too long (RFC 3261 Timer C
//!   belongs to proxies; a UA decides for itself).

mod build;
mod client_invite;
mod client_non_invite;
mod key;
mod server_invite;
mod server_non_invite;
mod timer;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
pub(crate) mod testkit;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use rsip::{Method, SipMessage};

use crate::Peer;

use client_invite::ClientInvite;
use client_non_invite::ClientNonInvite;
pub use key::TransactionKey;
use server_invite::ServerInvite;
use server_non_invite::ServerNonInvite;
pub use timer::TimerConfig;

/// Something to put on the wire.
#[derive(Debug)]
pub struct Transmit {
    /// Where to send it (for TCP, the connection to that address).
    pub peer: Peer,
    pub message: SipMessage,
}

/// What happened, for the transaction user.
#[derive(Debug)]
#[non_exhaustive]
pub enum TxEvent {
    /// A new request for the transaction user: not a retransmission, not an
    /// ACK, not a CANCEL. Answer it with [`Transactions::respond`].
    Request {
        key: TransactionKey,
        peer: Peer,
        request: rsip::Request,
    },
    /// An ACK that no server INVITE transaction absorbed: the ACK for a 2xx
    /// (RFC 3261 §17.2.1, it has its own branch) — the dialog layer matches
    /// it to its dialog.
    Ack { peer: Peer, request: rsip::Request },
    /// A CANCEL matched a server INVITE transaction still in Proceeding: the
    /// layer has already answered the CANCEL with 200 (RFC 3261 §9.2); the
    /// TU must now answer the INVITE with 487.
    Cancelled {
        invite: TransactionKey,
        cancel: rsip::Request,
    },
    /// A response for a client transaction (provisional, or the first final;
    /// retransmitted finals are absorbed — except 2xx to INVITE, which the TU
    /// must see every time to re-ACK, RFC 6026 Accepted state).
    Response {
        key: TransactionKey,
        response: rsip::Response,
    },
    /// A response matching no client transaction (passed up; the TU may
    /// ignore it).
    StrayResponse {
        peer: Peer,
        response: rsip::Response,
    },
    /// A client transaction timed out (Timer B or F) with no final response:
    /// the TU treats it as a 408 (RFC 3261 §8.1.3.1).
    Timeout { key: TransactionKey },
    /// A server INVITE transaction sent a non-2xx final response and never
    /// got the ACK (Timer H).
    AckTimeout { key: TransactionKey },
    /// The transaction ended and was forgotten (useful for logs and for a
    /// count in tests). Also reported for a CANCEL that
    /// [`Transactions::cancel`] accepted but never had to send, because its
    /// INVITE ended before any provisional response.
    Terminated { key: TransactionKey },
}

/// Why the transaction layer refused a call from the TU. Every variant is a
/// misuse of the API (a peer's malformed message never reaches the TU as an
/// error: it is answered, logged, or passed up as a stray).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// No live transaction has this key (on this side): it never existed or
    /// has already terminated.
    #[error("no transaction {0}")]
    UnknownTransaction(TransactionKey),
    /// The transaction already has its final response (sent by us for a
    /// server transaction, received for a client one).
    #[error("transaction {0} already has a final response")]
    AlreadyFinal(TransactionKey),
    /// [`Transactions::cancel`] was given a key that is not a client INVITE
    /// transaction (RFC 3261 §9.1: only INVITE is worth cancelling).
    #[error("transaction {0} is not a client INVITE transaction")]
    NotAnInvite(TransactionKey),
    /// The request handed to [`Transactions::request`] cannot start a
    /// transaction (e.g. no top Via branch with the magic cookie).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The response handed to [`Transactions::respond`] is unusable (e.g. a
    /// status code outside 100–699).
    #[error("bad response: {0}")]
    BadResponse(String),
}

/// What a machine tells the layer after handling an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
enum Next {
    Continue,
    /// The machine reached Terminated: forget it.
    Terminate,
}

/// Where the machines put what they produce, drained by the `poll_*` calls.
#[derive(Debug, Default)]
struct Output {
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

impl Output {
    fn send(&mut self, peer: Peer, message: impl Into<SipMessage>) {
        self.transmits.push_back(Transmit {
            peer,
            message: message.into(),
        });
    }

    fn emit(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }
}

/// The class of a response status code (RFC 3261 §21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// 1xx
    Provisional,
    /// 2xx
    Success,
    /// 3xx–6xx
    Failure,
}

impl Class {
    fn of(response: &rsip::Response) -> Option<Class> {
        match response.status_code.code() {
            100..=199 => Some(Class::Provisional),
            200..=299 => Some(Class::Success),
            300..=699 => Some(Class::Failure),
            _ => None,
        }
    }

    /// The class of a response the TU wants to send.
    fn of_ours(response: &rsip::Response) -> Result<Class, TxError> {
        Class::of(response).ok_or_else(|| {
            TxError::BadResponse(format!(
                "status code {} is outside 100-699",
                response.status_code.code()
            ))
        })
    }
}

/// One live transaction, of one of the four kinds.
#[derive(Debug)]
#[expect(
    clippy::enum_variant_names,
    reason = "the RFC's four kinds of transaction, named as in its §17 headings"
)]
enum Transaction {
    ClientInvite(ClientInvite),
    ClientNonInvite(ClientNonInvite),
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
}

impl Transaction {
    fn key(&self) -> &TransactionKey {
        match self {
            Transaction::ClientInvite(tx) => tx.key(),
            Transaction::ClientNonInvite(tx) => tx.key(),
            Transaction::ServerInvite(tx) => tx.key(),
            Transaction::ServerNonInvite(tx) => tx.key(),
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        match self {
            Transaction::ClientInvite(tx) => tx.next_timeout(),
            Transaction::ClientNonInvite(tx) => tx.next_timeout(),
            Transaction::ServerInvite(tx) => tx.next_timeout(),
            Transaction::ServerNonInvite(tx) => tx.next_timeout(),
        }
    }

    fn on_timeout(&mut self, now: Instant, config: &TimerConfig, out: &mut Output) -> Next {
        match self {
            Transaction::ClientInvite(tx) => tx.on_timeout(now, config, out),
            Transaction::ClientNonInvite(tx) => tx.on_timeout(now, config, out),
            Transaction::ServerInvite(tx) => tx.on_timeout(now, config, out),
            Transaction::ServerNonInvite(tx) => tx.on_timeout(now, out),
        }
    }
}

/// A transaction and the deadline it is filed under in the timer index.
#[derive(Debug)]
struct Entry {
    tx: Transaction,
    scheduled: Option<Instant>,
}

/// Internal handle of a transaction, so the timer index can hold plain
/// `(Instant, Id)` pairs.
type Id = u64;

/// Every live client and server transaction of an endpoint, with their
/// timers; see the [module docs](self) for the run loop.
///
/// Timers are indexed in one ordered set of `(deadline, transaction)`, so
/// `poll_timeout` is O(1) and re-arming a transaction's timer is O(log n).
#[derive(Debug)]
pub struct Transactions {
    config: TimerConfig,
    next_id: Id,
    ids: HashMap<TransactionKey, Id>,
    entries: HashMap<Id, Entry>,
    deadlines: BTreeSet<(Instant, Id)>,
    out: Output,
}

impl Transactions {
    /// An empty layer with the given T1/T2/T4 (use `TimerConfig::default()`
    /// for the RFC values).
    pub fn new(config: TimerConfig) -> Self {
        Transactions {
            config,
            next_id: 0,
            ids: HashMap::new(),
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
            out: Output::default(),
        }
    }

    /// Feed a parsed message received from `peer` (already parsed, validated,
    /// Via stamped).
    ///
    /// Requests: retransmissions are absorbed (and the last response resent,
    /// RFC 3261 §17.2.1, §17.2.2); a new INVITE creates a server INVITE
    /// transaction and the layer sends 100 Trying at once (RFC 3261 §17.2.1
    /// allows it; we always do); ACK in Completed → Confirmed; a CANCEL
    /// matching a server INVITE tx → 200 for the CANCEL + `Cancelled`, a
    /// CANCEL matching nothing → 481 sent by the layer (§9.2); other new
    /// requests → `Request`.
    ///
    /// Responses: matched to client transactions (§17.1.3) or
    /// `StrayResponse`.
    ///
    /// A request that cannot be matched at all (no top Via, no CSeq) is
    /// logged and dropped: without a Via there is nowhere to send an answer.
    /// The message layer rejects such requests before they get here.
    pub fn handle_message(&mut self, now: Instant, peer: Peer, message: SipMessage) {
        match message {
            SipMessage::Request(request) => self.handle_request(now, peer, request),
            SipMessage::Response(response) => self.handle_response(now, peer, response),
        }
    }

    /// The TU answers a server transaction. A second final → Err(AlreadyFinal).
    /// 2xx to INVITE → RFC 6026 "Accepted" (Timer L = 64*T1; INVITE
    /// retransmissions absorbed without resending, the 2xx retransmission
    /// itself is the TU's job, RFC 3261 §13.3.1.4, through
    /// [`send_stateless`](Self::send_stateless)). 3xx–6xx to INVITE →
    /// Completed with Timer G retransmissions (UDP only, T1 doubling to T2)
    /// until ACK or Timer H.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: rsip::Response,
    ) -> Result<(), TxError> {
        let id = *self
            .ids
            .get(key)
            .ok_or_else(|| TxError::UnknownTransaction(key.clone()))?;
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or_else(|| TxError::UnknownTransaction(key.clone()))?;
        let next = match &mut entry.tx {
            Transaction::ServerInvite(tx) => {
                tx.respond(now, response, &self.config, &mut self.out)?
            }
            Transaction::ServerNonInvite(tx) => {
                tx.respond(now, response, &self.config, &mut self.out)?
            }
            Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_) => {
                return Err(TxError::UnknownTransaction(key.clone()));
            }
        };
        self.after(id, next);
        Ok(())
    }

    /// Start a client transaction for `request` sent to `peer`. The request
    /// must carry a top Via with a fresh branch (the caller builds it);
    /// returns its key.
    ///
    /// INVITE: Timer A (UDP) / B; a 2xx → Accepted (RFC 6026, Timer M)
    /// passing every 2xx up; a 3xx–6xx → the layer sends the ACK itself
    /// (§17.1.1.3, same branch, To from the response) → Completed (Timer D:
    /// 32 s UDP, 0 TCP).
    ///
    /// non-INVITE: Timer E (UDP, doubling to T2; after a provisional, every
    /// T2) / F, then K (T4 on UDP, 0 on TCP).
    ///
    /// An ACK is refused: the ACK for a 2xx is not a transaction (send it
    /// with [`send_stateless`](Self::send_stateless)) and the ACK for a
    /// non-2xx is the layer's own.
    pub fn request(
        &mut self,
        now: Instant,
        peer: Peer,
        request: rsip::Request,
    ) -> Result<TransactionKey, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::BadRequest(
                "an ACK starts no transaction: send the ACK for a 2xx with send_stateless".into(),
            ));
        }
        let key = TransactionKey::client(&request)?;
        if self.ids.contains_key(&key) {
            return Err(TxError::BadRequest(format!(
                "branch already in use by {key}; every request needs a fresh branch"
            )));
        }
        self.start_client(now, peer, key.clone(), request);
        Ok(key)
    }

    /// CANCEL a pending client INVITE transaction (RFC 3261 §9.1): builds the
    /// CANCEL (same Request-URI, Call-ID, To, From, CSeq number, top Via;
    /// method CANCEL) and starts a non-INVITE client transaction for it; only
    /// after a provisional response was received (before that, remember it
    /// and send when the first provisional arrives). Returns the CANCEL's key.
    ///
    /// Cancelling twice returns the same key. If the INVITE ends before any
    /// provisional response, the CANCEL is never sent and its key is reported
    /// `Terminated`. Once the INVITE has its final response →
    /// Err(AlreadyFinal).
    pub fn cancel(
        &mut self,
        now: Instant,
        invite: &TransactionKey,
    ) -> Result<TransactionKey, TxError> {
        let entry = self
            .ids
            .get(invite)
            .and_then(|id| self.entries.get_mut(id))
            .ok_or_else(|| TxError::UnknownTransaction(invite.clone()))?;
        let Transaction::ClientInvite(tx) = &mut entry.tx else {
            return Err(TxError::NotAnInvite(invite.clone()));
        };
        let peer = tx.peer();
        let (cancel_key, to_send) = tx.cancel()?;
        if let Some(cancel) = to_send {
            self.start_client(now, peer, cancel_key.clone(), cancel);
        }
        Ok(cancel_key)
    }

    /// Forget a client transaction the TU has given up on, reporting it
    /// `Terminated`. For an INVITE that was cancelled but never got its
    /// final response: RFC 3261 §9.1 lets the client "consider the original
    /// transaction cancelled" and destroy it 64*T1 after the CANCEL (a
    /// client INVITE in Proceeding has no timer of its own). Returns whether
    /// a client transaction with this key existed.
    pub fn abandon(&mut self, key: &TransactionKey) -> bool {
        let Some(&id) = self.ids.get(key) else {
            return false;
        };
        if !matches!(
            self.entries.get(&id).map(|e| &e.tx),
            Some(Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_))
        ) {
            return false;
        }
        self.remove(id);
        true
    }

    /// Queue a message outside any transaction (an ACK for a 2xx, a 2xx
    /// retransmission, a stateless 400).
    pub fn send_stateless(&mut self, peer: Peer, message: SipMessage) {
        self.out.send(peer, message);
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Collect first: a timer re-armed at or before `now` waits for the
        // next call instead of looping here.
        let due: Vec<Id> = self
            .deadlines
            .range(..=(now, Id::MAX))
            .map(|&(_, id)| id)
            .collect();
        for id in due {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let next = entry.tx.on_timeout(now, &self.config, &mut self.out);
            self.after(id, next);
        }
    }

    /// The next message to send, in the order the layer produced them.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the TU, in the order they happened.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.out.events.pop_front()
    }

    /// The earliest pending timer deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Transactions alive (for metrics and tests).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No transaction alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn handle_request(&mut self, now: Instant, peer: Peer, request: rsip::Request) {
        let key = match TransactionKey::server(&request) {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(%peer, %error, method = %request.method, "request dropped: no transaction key");
                return;
            }
        };
        if request.method == Method::Ack {
            return self.handle_ack(now, peer, key, request);
        }
        if let Some(&id) = self.ids.get(&key) {
            // A retransmission (RFC 3261 §17.2.1, §17.2.2).
            match self.entries.get_mut(&id).map(|e| &mut e.tx) {
                Some(Transaction::ServerInvite(tx)) => tx.on_retransmission(&mut self.out),
                Some(Transaction::ServerNonInvite(tx)) => tx.on_retransmission(&mut self.out),
                // Server keys never name client transactions.
                Some(Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_)) | None => {}
            }
            return;
        }
        match request.method {
            Method::Cancel => self.handle_cancel(now, peer, key, request),
            Method::Invite => {
                let tx = ServerInvite::new(key.clone(), peer, &request, &mut self.out);
                self.insert(Transaction::ServerInvite(tx));
                self.out.emit(TxEvent::Request { key, peer, request });
            }
            _ => {
                let tx = ServerNonInvite::new(key.clone(), peer);
                self.insert(Transaction::ServerNonInvite(tx));
                self.out.emit(TxEvent::Request { key, peer, request });
            }
        }
    }

    /// RFC 3261 §17.2.1: the ACK for a non-2xx response shares the INVITE's
    /// branch and ends up in its transaction; anything else (the ACK for a
    /// 2xx, with its own branch) is the dialog layer's.
    fn handle_ack(
        &mut self,
        now: Instant,
        peer: Peer,
        key: TransactionKey,
        request: rsip::Request,
    ) {
        let invite = key.with_method(Method::Invite);
        if let Some(&id) = self.ids.get(&invite)
            && let Some(Entry {
                tx: Transaction::ServerInvite(tx),
                ..
            }) = self.entries.get_mut(&id)
            && tx.awaits_ack()
        {
            let next = tx.on_ack(now, &self.config, &mut self.out);
            self.after(id, next);
            return;
        }
        self.out.emit(TxEvent::Ack { peer, request });
    }

    /// RFC 3261 §9.2: a CANCEL gets its own server transaction, answered at
    /// once by the layer: 200 when it matches a server INVITE transaction
    /// (and `Cancelled` for the TU if that INVITE has no final response
    /// yet), 481 otherwise. Only INVITE transactions are looked up: a CANCEL
    /// of a non-INVITE request "has no effect" anyway.
    fn handle_cancel(
        &mut self,
        now: Instant,
        peer: Peer,
        key: TransactionKey,
        request: rsip::Request,
    ) {
        let invite = key.with_method(Method::Invite);
        let matched = match self.ids.get(&invite).and_then(|id| self.entries.get(id)) {
            Some(Entry {
                tx: Transaction::ServerInvite(tx),
                ..
            }) => Some((tx.to_tag().map(str::to_owned), tx.is_proceeding())),
            _ => None,
        };
        // RFC 3261 §9.2: the To tag of the 200 for the CANCEL SHOULD be that
        // of the responses to the INVITE.
        let (code, tag, cancelled) = match matched {
            Some((tag, proceeding)) => (200, tag, proceeding),
            None => (481, None, false),
        };
        let tag = tag.unwrap_or_else(build::new_tag);
        let response = build::response(&request, code, Some(&tag));
        let mut tx = ServerNonInvite::new(key, peer);
        let next = tx.respond(now, response, &self.config, &mut self.out);
        let id = self.insert(Transaction::ServerNonInvite(tx));
        match next {
            Ok(next) => self.after(id, next),
            // A fresh server transaction accepts any final response.
            Err(error) => {
                tracing::error!(%error, "bug: a new CANCEL transaction refused its answer")
            }
        }
        if cancelled {
            self.out.emit(TxEvent::Cancelled {
                invite,
                cancel: request,
            });
        }
    }

    fn handle_response(&mut self, now: Instant, peer: Peer, response: rsip::Response) {
        let id = match TransactionKey::for_response(&response) {
            Ok(key) => self.ids.get(&key).copied(),
            Err(error) => {
                tracing::debug!(%peer, %error, "response matches no transaction");
                None
            }
        };
        let Some((id, entry)) = id.and_then(|id| Some((id, self.entries.get_mut(&id)?))) else {
            self.out.emit(TxEvent::StrayResponse { peer, response });
            return;
        };
        match &mut entry.tx {
            Transaction::ClientInvite(tx) => {
                let next = tx.on_response(now, response, &self.config, &mut self.out);
                let cancel = tx.take_ready_cancel();
                let invite_peer = tx.peer();
                self.after(id, next);
                if let Some((key, cancel)) = cancel {
                    self.start_client(now, invite_peer, key, cancel);
                }
            }
            Transaction::ClientNonInvite(tx) => {
                let next = tx.on_response(now, response, &self.config, &mut self.out);
                self.after(id, next);
            }
            // Response keys are client keys.
            Transaction::ServerInvite(_) | Transaction::ServerNonInvite(_) => {
                self.out.emit(TxEvent::StrayResponse { peer, response });
            }
        }
    }

    fn start_client(
        &mut self,
        now: Instant,
        peer: Peer,
        key: TransactionKey,
        request: rsip::Request,
    ) {
        let tx = if request.method == Method::Invite {
            Transaction::ClientInvite(ClientInvite::new(
                now,
                key,
                peer,
                request,
                &self.config,
                &mut self.out,
            ))
        } else {
            Transaction::ClientNonInvite(ClientNonInvite::new(
                now,
                key,
                peer,
                request,
                &self.config,
                &mut self.out,
            ))
        };
        self.insert(tx);
    }

    fn insert(&mut self, tx: Transaction) -> Id {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(tx.key().clone(), id);
        self.entries.insert(
            id,
            Entry {
                tx,
                scheduled: None,
            },
        );
        self.reschedule(id);
        id
    }

    fn after(&mut self, id: Id, next: Next) {
        match next {
            Next::Continue => self.reschedule(id),
            Next::Terminate => self.remove(id),
        }
    }

    /// Files the transaction under its current earliest deadline.
    fn reschedule(&mut self, id: Id) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let next = entry.tx.next_timeout();
        if next == entry.scheduled {
            return;
        }
        if let Some(old) = entry.scheduled {
            self.deadlines.remove(&(old, id));
        }
        if let Some(at) = next {
            self.deadlines.insert((at, id));
        }
        entry.scheduled = next;
    }

    fn remove(&mut self, id: Id) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        if let Some(at) = entry.scheduled {
            self.deadlines.remove(&(at, id));
        }
        let key = entry.tx.key().clone();
        self.ids.remove(&key);
        tracing::trace!(%key, "transaction terminated");
        self.out.emit(TxEvent::Terminated { key });
    }
}
