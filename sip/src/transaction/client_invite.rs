//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, with the
//! Accepted state of RFC 6026 §8.4).
//!
//! ```text
//!   INVITE sent ──▶ Calling ──1xx──▶ Proceeding
//!   (Timer A resends, │                 │
//!    Timer B gives up)│                 │
//!                     ├───── 2xx ───────┴──▶ Accepted ──Timer M──▶ Terminated
//!                     └──── 3xx–6xx ────┴──▶ Completed ──Timer D──▶ Terminated
//!                                            (ACK sent, resent per retransmission)
//! ```
//!
//! A CANCEL asked for in Calling waits for the first provisional response
//! (RFC 3261 §9.1: "a CANCEL … SHOULD NOT be sent" before one).

use std::time::{Duration, Instant};

use rsip::{Method, Request, Response};

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{Class, Next, Output, TransactionKey, TxError, TxEvent, build};
use crate::Peer;

#[derive(Debug)]
pub(super) struct ClientInvite {
    key: TransactionKey,
    peer: Peer,
    request: Request,
    state: State,
    cancel: Cancel,
    timers: TimerTable,
}

#[derive(Debug)]
enum State {
    /// RFC 3261 §17.1.1.2: the INVITE was sent; waiting for any response.
    /// Timer A resends it (UDP, doubling each time), Timer B gives up.
    Calling { a_interval: Duration },
    /// RFC 3261 §17.1.1.2: a provisional response arrived; waiting for the
    /// final one (no timer: the TU cancels when it has waited enough).
    Proceeding,
    /// RFC 3261 §17.1.1.2: a 3xx–6xx arrived and was ACKed; waiting out
    /// Timer D to ACK its retransmissions.
    Completed { ack: Request },
    /// RFC 6026 §8.4: a 2xx arrived; waiting out Timer M, passing every
    /// further 2xx (retransmissions, other forks) to the TU.
    Accepted,
}

/// Where a CANCEL of this INVITE stands (RFC 3261 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    NotAsked,
    /// Asked for in Calling: send it with the first provisional response.
    Pending,
    /// Handed to the layer (sent, or never to be sent).
    Done,
}

impl ClientInvite {
    /// Sends the INVITE and arms Timer A (UDP only) and Timer B.
    pub(super) fn new(
        now: Instant,
        key: TransactionKey,
        peer: Peer,
        request: Request,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Self {
        out.send(peer, request.clone());
        let a_interval = config.duration(Timer::A, false);
        let mut timers = TimerTable::default();
        if !peer.transport.is_reliable() {
            timers.set(Timer::A, now, a_interval);
        }
        timers.set(Timer::B, now, config.duration(Timer::B, false));
        ClientInvite {
            key,
            peer,
            request,
            state: State::Calling { a_interval },
            cancel: Cancel::NotAsked,
            timers,
        }
    }

    pub(super) fn key(&self) -> &TransactionKey {
        &self.key
    }

    pub(super) fn peer(&self) -> Peer {
        self.peer
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The TU wants this INVITE cancelled. Returns the CANCEL's key and, if
    /// it may go out now, the CANCEL itself.
    pub(super) fn cancel(&mut self) -> Result<(TransactionKey, Option<Request>), TxError> {
        let cancel_key = self.key.with_method(Method::Cancel);
        match (&self.state, self.cancel) {
            (State::Completed { .. } | State::Accepted, _) => {
                Err(TxError::AlreadyFinal(self.key.clone()))
            }
            (_, Cancel::Pending | Cancel::Done) => Ok((cancel_key, None)),
            (State::Calling { .. }, Cancel::NotAsked) => {
                self.cancel = Cancel::Pending;
                Ok((cancel_key, None))
            }
            (State::Proceeding, Cancel::NotAsked) => {
                self.cancel = Cancel::Done;
                Ok((cancel_key, Some(build::cancel_for(&self.request))))
            }
        }
    }

    /// A CANCEL that was waiting and may now go out (after a provisional).
    pub(super) fn take_ready_cancel(&mut self) -> Option<(TransactionKey, Request)> {
        if self.cancel == Cancel::Pending && matches!(self.state, State::Proceeding) {
            self.cancel = Cancel::Done;
            return Some((
                self.key.with_method(Method::Cancel),
                build::cancel_for(&self.request),
            ));
        }
        None
    }

    pub(super) fn on_response(
        &mut self,
        now: Instant,
        response: Response,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Next {
        let Some(class) = Class::of(&response) else {
            tracing::debug!(key = %self.key, code = response.status_code.code(), "response with a bad status code ignored");
            return Next::Continue;
        };
        match self.state {
            State::Calling { .. } | State::Proceeding => {
                self.waiting(class, now, response, config, out)
            }
            State::Completed { .. } => self.completed(class, response, out),
            State::Accepted => self.accepted(class, response, out),
        }
    }

    /// Calling and Proceeding (RFC 3261 §17.1.1.2, RFC 6026 §8.4).
    fn waiting(
        &mut self,
        class: Class,
        now: Instant,
        response: Response,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Next {
        match class {
            Class::Provisional => {
                // Timer A stops and Timer B no longer applies once a
                // provisional response shows the server is alive.
                self.timers.stop_all();
                self.state = State::Proceeding;
                self.pass_up(response, out);
                Next::Continue
            }
            Class::Success => {
                self.timers.stop_all();
                self.drop_pending_cancel(out);
                self.state = State::Accepted;
                self.pass_up(response, out);
                self.timers
                    .set(Timer::M, now, config.duration(Timer::M, false));
                Next::Continue
            }
            Class::Failure => {
                // RFC 3261 §17.1.1.3: the ACK is the transaction's own.
                self.timers.stop_all();
                self.drop_pending_cancel(out);
                let ack = build::ack_for_non_2xx(&self.request, &response);
                out.send(self.peer, ack.clone());
                self.pass_up(response, out);
                self.state = State::Completed { ack };
                let d = config.duration(Timer::D, self.peer.transport.is_reliable());
                if d.is_zero() {
                    return Next::Terminate;
                }
                self.timers.set(Timer::D, now, d);
                Next::Continue
            }
        }
    }

    /// RFC 3261 §17.1.1.2: "Any retransmissions of the final response that
    /// are received while in the Completed state MUST cause the ACK to be
    /// re-passed to the transport layer", and not be passed up.
    fn completed(&mut self, class: Class, response: Response, out: &mut Output) -> Next {
        if let (Class::Failure, State::Completed { ack }) = (class, &self.state) {
            out.send(self.peer, ack.clone());
        } else {
            tracing::debug!(key = %self.key, code = response.status_code.code(), "late response absorbed");
        }
        Next::Continue
    }

    /// RFC 6026 §8.4: every 2xx goes to the TU, which ACKs each one.
    fn accepted(&mut self, class: Class, response: Response, out: &mut Output) -> Next {
        if class == Class::Success {
            self.pass_up(response, out);
        } else {
            tracing::debug!(key = %self.key, code = response.status_code.code(), "late response absorbed");
        }
        Next::Continue
    }

    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        _config: &TimerConfig,
        out: &mut Output,
    ) -> Next {
        for _ in 0..TimerTable::MAX_FIRES_PER_CALL {
            let Some(timer) = self.timers.pop_expired(now) else {
                break;
            };
            if self.fire(timer, now, out) == Next::Terminate {
                return Next::Terminate;
            }
        }
        Next::Continue
    }

    fn fire(&mut self, timer: Timer, now: Instant, out: &mut Output) -> Next {
        match (&mut self.state, timer) {
            (State::Calling { a_interval }, Timer::A) => {
                // RFC 3261 §17.1.1.2: resend and double the interval.
                out.send(self.peer, self.request.clone());
                *a_interval = a_interval.saturating_mul(2);
                self.timers.set(Timer::A, now, *a_interval);
                Next::Continue
            }
            (State::Calling { .. }, Timer::B) => {
                // RFC 3261 §17.1.1.2: no response at all: a timeout for the
                // TU (§8.1.3.1, as a 408).
                self.drop_pending_cancel(out);
                out.emit(TxEvent::Timeout {
                    key: self.key.clone(),
                });
                Next::Terminate
            }
            (State::Completed { .. }, Timer::D) | (State::Accepted, Timer::M) => Next::Terminate,
            (state, timer) => {
                tracing::debug!(key = %self.key, ?timer, ?state, "stale timer ignored");
                Next::Continue
            }
        }
    }

    fn pass_up(&self, response: Response, out: &mut Output) {
        out.emit(TxEvent::Response {
            key: self.key.clone(),
            response,
        });
    }

    /// The INVITE ended before any provisional: the CANCEL the TU asked for
    /// will never be sent; report its key as terminated.
    fn drop_pending_cancel(&mut self, out: &mut Output) {
        if self.cancel == Cancel::Pending {
            self.cancel = Cancel::Done;
            out.emit(TxEvent::Terminated {
                key: self.key.with_method(Method::Cancel),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::testkit::*;

    /// RFC 3261 §17.1.1.2: on UDP Timer A resends the INVITE at 0.5, 1.5,
    /// 3.5, 7.5, 15.5 and 31.5 s (intervals 0.5, 1, 2, 4, 8, 16 s), then
    /// Timer B at 32 s reports a timeout — 32 simulated seconds in one test.
    #[test]
    fn udp_timer_a_schedule_then_timer_b() {
        let mut c = Side::new();
        let start = c.now;
        let key = c
            .txs
            .request(c.now, UDP_SERVER, invite(UDP_SERVER, "z9hG4bKc1"))
            .unwrap();
        assert_eq!(methods(&c.transmits()), ["INVITE"]);
        let mut sent_at = vec![];
        while !c.txs.is_empty() {
            let at = c.advance();
            for t in c.transmits() {
                assert_eq!(t.peer, UDP_SERVER);
                assert_eq!(request_of(&t).method, Method::Invite);
                sent_at.push((at - start).as_millis());
            }
        }
        assert_eq!(sent_at, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(c.now - start, ms(32_000), "Timer B = 64·T1");
        let events = c.events();
        assert!(matches!(&events[0], TxEvent::Timeout { key: k } if *k == key));
        assert_eq!(terminated(&events), [key]);
    }

    /// RFC 3261 §9.1: the TU may destroy a cancelled INVITE that never got
    /// its final response; `abandon` forgets it and reports `Terminated`.
    #[test]
    fn abandon_forgets_a_client_invite() {
        let mut c = Side::new();
        let key = c
            .txs
            .request(c.now, UDP_SERVER, invite(UDP_SERVER, "z9hG4bKab"))
            .unwrap();
        c.transmits();
        assert!(c.txs.abandon(&key));
        assert!(c.txs.is_empty());
        assert_eq!(c.txs.poll_timeout(), None);
        assert_eq!(terminated(&c.events()), std::slice::from_ref(&key));
        assert!(!c.txs.abandon(&key), "already gone");
    }

    /// RFC 3261 §17.1.1.2: no Timer A on TCP; Timer B still applies.
    #[test]
    fn tcp_sends_once_and_times_out_on_timer_b() {
        let mut c = Side::new();
        let start = c.now;
        let key = c
            .txs
            .request(c.now, TCP_SERVER, invite(TCP_SERVER, "z9hG4bKc2"))
            .unwrap();
        assert_eq!(methods(&c.transmits()), ["INVITE"]);
        assert_eq!(c.txs.poll_timeout(), Some(start + ms(32_000)));
        c.advance();
        assert!(c.transmits().is_empty());
        assert!(matches!(&c.events()[0], TxEvent::Timeout { key: k } if *k == key));
    }

    /// RFC 3261 §17.1.1.2: a provisional stops Timer A and Timer B; the
    /// transaction waits in Proceeding with no timer and passes each 1xx up.
    #[test]
    fn provisionals_move_to_proceeding_and_stop_retransmissions() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc3");
        let key = c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        c.transmits();
        for code in [100, 180, 183] {
            c.txs.handle_message(
                c.now,
                UDP_SERVER,
                build::response(&inv, code, Some("t")).into(),
            );
            assert!(
                matches!(&c.events()[..], [TxEvent::Response { key: k, response }] if *k == key && response.status_code.code() == code)
            );
        }
        assert_eq!(c.txs.poll_timeout(), None);
        assert!(c.transmits().is_empty());
    }

    /// RFC 3261 §17.1.1.3: a 486 is ACKed by the layer (same branch, To
    /// from the response), passed up once; retransmissions of the 486 are
    /// ACKed again and absorbed; Timer D (32 s on UDP) ends it.
    #[test]
    fn non_2xx_is_acked_by_the_layer_and_absorbed_until_timer_d() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc4");
        let key = c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        c.transmits();
        let busy = build::response(&inv, 486, Some("busy-here"));
        c.txs.handle_message(c.now, UDP_SERVER, busy.clone().into());
        let sent = c.transmits();
        assert_eq!(methods(&sent), ["ACK"]);
        let ack = request_of(&sent[0]);
        assert_eq!(ack.uri, inv.uri);
        assert_eq!(
            headers_named(&ack.headers, "Via"),
            headers_named(&inv.headers, "Via")
        );
        assert_eq!(
            header(&ack.headers, "To"),
            "<sip:211@frontdoor.example>;tag=busy-here"
        );
        assert_eq!(header(&ack.headers, "From"), header(&inv.headers, "From"));
        assert_eq!(
            header(&ack.headers, "Call-ID"),
            header(&inv.headers, "Call-ID")
        );
        assert_eq!(header(&ack.headers, "CSeq"), "1 ACK");
        assert!(
            matches!(&c.events()[..], [TxEvent::Response { key: k, response }] if *k == key && response.status_code.code() == 486)
        );
        // The retransmitted 486 gets the same ACK and is not passed up.
        c.txs.handle_message(c.now, UDP_SERVER, busy.into());
        assert_eq!(methods(&c.transmits()), ["ACK"]);
        assert!(c.events().is_empty());
        assert_eq!(c.txs.poll_timeout(), Some(c.now + ms(32_000)), "Timer D");
        c.advance();
        assert_eq!(terminated(&c.events()), [key]);
    }

    /// Table 4: Timer D is zero on TCP: the 486 ends the transaction at once.
    #[test]
    fn tcp_non_2xx_terminates_at_once() {
        let mut c = Side::new();
        let inv = invite(TCP_SERVER, "z9hG4bKc5");
        let key = c.txs.request(c.now, TCP_SERVER, inv.clone()).unwrap();
        c.transmits();
        c.txs.handle_message(
            c.now,
            TCP_SERVER,
            build::response(&inv, 603, Some("t")).into(),
        );
        assert_eq!(methods(&c.transmits()), ["ACK"]);
        let events = c.events();
        assert!(matches!(&events[0], TxEvent::Response { .. }));
        assert_eq!(terminated(&events), [key]);
        assert!(c.txs.is_empty());
    }

    /// RFC 6026 §8.4: in Accepted every 2xx (retransmissions, other forks)
    /// is passed up for the TU to ACK; the layer sends no ACK; Timer M ends it.
    #[test]
    fn every_2xx_is_passed_up_in_accepted() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc6");
        let key = c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        c.transmits();
        let ok = build::response(&inv, 200, Some("fork-1"));
        let fork = build::response(&inv, 200, Some("fork-2"));
        for response in [&ok, &ok, &fork] {
            c.txs
                .handle_message(c.now, UDP_SERVER, response.clone().into());
            let events = c.events();
            assert!(
                matches!(&events[..], [TxEvent::Response { key: k, response: r }] if *k == key && r == response)
            );
        }
        // A late provisional or non-2xx is absorbed.
        c.txs.handle_message(
            c.now,
            UDP_SERVER,
            build::response(&inv, 180, Some("x")).into(),
        );
        assert!(c.events().is_empty());
        assert!(c.transmits().is_empty(), "the ACK for a 2xx is the TU's");
        assert_eq!(c.txs.poll_timeout(), Some(c.now + ms(32_000)), "Timer M");
        c.advance();
        assert_eq!(terminated(&c.events()), [key]);
    }

    /// RFC 3261 §9.1: a CANCEL asked for before any provisional waits for
    /// one, then goes out with the INVITE's Request-URI, Call-ID, To, From,
    /// CSeq number and top Via.
    #[test]
    fn cancel_is_sent_only_after_a_provisional() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc7");
        let key = c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        c.transmits();
        let cancel_key = c.txs.cancel(c.now, &key).unwrap();
        assert_ne!(cancel_key, key);
        assert!(c.transmits().is_empty(), "no CANCEL before a provisional");
        assert_eq!(c.txs.cancel(c.now, &key).unwrap(), cancel_key, "idempotent");
        // Timer A still resends the INVITE meanwhile.
        c.advance();
        assert_eq!(methods(&c.transmits()), ["INVITE"]);
        c.txs.handle_message(
            c.now,
            UDP_SERVER,
            build::response(&inv, 180, Some("r")).into(),
        );
        let sent = c.transmits();
        assert_eq!(methods(&sent), ["CANCEL"]);
        assert!(matches!(&c.events()[..], [TxEvent::Response { key: k, .. }] if *k == key));
        let cancel = request_of(&sent[0]);
        assert_eq!(cancel.uri, inv.uri);
        assert_eq!(
            headers_named(&cancel.headers, "Via"),
            headers_named(&inv.headers, "Via")
        );
        for name in ["To", "From", "Call-ID"] {
            assert_eq!(
                header(&cancel.headers, name),
                header(&inv.headers, name),
                "{name}"
            );
        }
        assert_eq!(header(&cancel.headers, "CSeq"), "1 CANCEL");
        assert_eq!(c.txs.len(), 2, "the CANCEL runs its own transaction");
        // Its 200 goes to the CANCEL's key, the 487 to the INVITE's.
        c.txs.handle_message(
            c.now,
            UDP_SERVER,
            build::response(cancel, 200, Some("r")).into(),
        );
        assert!(matches!(&c.events()[..], [TxEvent::Response { key: k, .. }] if *k == cancel_key));
        c.txs.handle_message(
            c.now,
            UDP_SERVER,
            build::response(&inv, 487, Some("r")).into(),
        );
        assert_eq!(methods(&c.transmits()), ["ACK"]);
        assert!(
            matches!(&c.events()[..], [TxEvent::Response { key: k, response }] if *k == key && response.status_code.code() == 487)
        );
        assert!(matches!(
            c.txs.cancel(c.now, &key),
            Err(TxError::AlreadyFinal(_))
        ));
    }

    /// A CANCEL asked for in Proceeding goes out at once.
    #[test]
    fn cancel_in_proceeding_is_sent_at_once() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc8");
        let key = c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        c.txs
            .handle_message(c.now, UDP_SERVER, build::response(&inv, 100, None).into());
        c.transmits();
        c.events();
        c.txs.cancel(c.now, &key).unwrap();
        assert_eq!(methods(&c.transmits()), ["CANCEL"]);
    }

    /// If the INVITE ends before any provisional, the pending CANCEL is
    /// never sent and its key is reported terminated.
    #[test]
    fn a_pending_cancel_is_dropped_when_the_invite_ends_first() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc9");
        let key = c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        let cancel_key = c.txs.cancel(c.now, &key).unwrap();
        c.transmits();
        c.txs.handle_message(
            c.now,
            UDP_SERVER,
            build::response(&inv, 486, Some("t")).into(),
        );
        assert_eq!(methods(&c.transmits()), ["ACK"]);
        assert_eq!(terminated(&c.events()), [cancel_key]);
        assert_eq!(c.txs.len(), 1);
    }

    #[test]
    fn cancel_misuse_is_refused() {
        let mut c = Side::new();
        let bye = c
            .txs
            .request(c.now, UDP_SERVER, request("BYE", UDP_SERVER, "z9hG4bKc10"))
            .unwrap();
        assert!(matches!(c.txs.cancel(c.now, &bye), Err(TxError::NotAnInvite(k)) if k == bye));
        let gone = bye.with_method(Method::Invite);
        assert!(matches!(
            c.txs.cancel(c.now, &gone),
            Err(TxError::UnknownTransaction(_))
        ));
    }

    #[test]
    fn request_misuse_is_refused() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc11");
        c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        assert!(
            matches!(c.txs.request(c.now, UDP_SERVER, inv), Err(TxError::BadRequest(m)) if m.contains("branch"))
        );
        let ack = request("ACK", UDP_SERVER, "z9hG4bKc12");
        assert!(
            matches!(c.txs.request(c.now, UDP_SERVER, ack), Err(TxError::BadRequest(m)) if m.contains("ACK"))
        );
        let old = invite_via(UDP_SERVER, "SIP/2.0/UDP 192.0.2.99;branch=1");
        assert!(
            matches!(c.txs.request(c.now, UDP_SERVER, old), Err(TxError::BadRequest(m)) if m.contains("cookie"))
        );
        assert_eq!(c.txs.len(), 1);
    }

    /// RFC 3261 §17.1.3: a response matching no client transaction is
    /// passed up as stray (the TU may ignore it).
    #[test]
    fn unmatched_responses_are_stray() {
        let mut c = Side::new();
        let inv = invite(UDP_SERVER, "z9hG4bKc13");
        c.txs.request(c.now, UDP_SERVER, inv.clone()).unwrap();
        let mut other = inv.clone();
        other.method = Method::Options;
        for h in other.headers.iter_mut() {
            if let rsip::Header::CSeq(cseq) = h {
                *cseq = rsip::headers::UntypedHeader::new("1 OPTIONS");
            }
        }
        // Same branch, other CSeq method: not this transaction.
        let stray = build::response(&other, 200, Some("t"));
        c.txs
            .handle_message(c.now, UDP_SERVER, stray.clone().into());
        assert!(
            matches!(&c.events()[..], [TxEvent::StrayResponse { response, peer }] if *response == stray && *peer == UDP_SERVER)
        );
    }
}
