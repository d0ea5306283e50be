//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with the
//! Accepted state of RFC 6026 §7.1).
//!
//! ```text
//!   INVITE ──▶ Proceeding ──2xx──▶ Accepted ──Timer L──▶ Terminated
//!   (100 sent)     │
//!              3xx–6xx
//!                  ▼
//!              Completed ──ACK──▶ Confirmed ──Timer I──▶ Terminated
//!              (Timer G resends)
//!                  └──Timer H (no ACK)──▶ Terminated
//! ```

use std::time::{Duration, Instant};

use rsip::Response;

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{Class, Next, Output, TransactionKey, TxError, TxEvent, build, key};
use crate::Peer;

#[derive(Debug)]
pub(super) struct ServerInvite {
    key: TransactionKey,
    peer: Peer,
    state: State,
    timers: TimerTable,
}

#[derive(Debug)]
enum State {
    /// RFC 3261 §17.2.1: waiting for the TU's final response. INVITE
    /// retransmissions are answered with the last provisional response sent
    /// (the 100 Trying until the TU sends its own).
    Proceeding { last_provisional: Response },
    /// RFC 3261 §17.2.1: a 3xx–6xx was sent; waiting for the ACK. Timer G
    /// resends the response (UDP), Timer H gives up.
    Completed {
        final_response: Response,
        g_interval: Duration,
    },
    /// RFC 3261 §17.2.1: the ACK arrived; absorbing ACK retransmissions
    /// until Timer I.
    Confirmed,
    /// RFC 6026 §7.1: a 2xx was sent; absorbing INVITE retransmissions
    /// (the TU retransmits the 2xx) until Timer L.
    Accepted,
}

impl ServerInvite {
    /// A new INVITE: answer 100 Trying at once (RFC 3261 §17.2.1 lets the
    /// server skip it when the TU answers within 200 ms; we never wait).
    pub(super) fn new(
        key: TransactionKey,
        peer: Peer,
        invite: &rsip::Request,
        out: &mut Output,
    ) -> Self {
        let trying = build::response(invite, 100, None);
        out.send(peer, trying.clone());
        ServerInvite {
            key,
            peer,
            state: State::Proceeding {
                last_provisional: trying,
            },
            timers: TimerTable::default(),
        }
    }

    pub(super) fn key(&self) -> &TransactionKey {
        &self.key
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// Whether the INVITE still has no final response (a CANCEL for it
    /// matters, RFC 3261 §9.2).
    pub(super) fn is_proceeding(&self) -> bool {
        matches!(self.state, State::Proceeding { .. })
    }

    /// Whether an ACK matching this transaction is ours to absorb: the ACK
    /// for our non-2xx. In Accepted (and Proceeding) an ACK is the TU's.
    pub(super) fn awaits_ack(&self) -> bool {
        matches!(self.state, State::Completed { .. } | State::Confirmed)
    }

    /// The To tag the TU gave its provisional responses, if any.
    pub(super) fn to_tag(&self) -> Option<&str> {
        match &self.state {
            State::Proceeding { last_provisional } => key::to_tag(&last_provisional.headers),
            State::Completed { final_response, .. } => key::to_tag(&final_response.headers),
            State::Confirmed | State::Accepted => None,
        }
    }

    /// The INVITE arrived again.
    pub(super) fn on_retransmission(&mut self, out: &mut Output) {
        match &self.state {
            // RFC 3261 §17.2.1: "the most recent provisional response that
            // was received from the TU MUST be passed to the transport layer".
            State::Proceeding { last_provisional } => out.send(self.peer, last_provisional.clone()),
            // RFC 3261 §17.2.1: "the server SHOULD pass the response to the
            // transport for retransmission".
            State::Completed { final_response, .. } => out.send(self.peer, final_response.clone()),
            // RFC 6026 §7.1: absorbed in Accepted; nothing to resend in
            // Confirmed.
            State::Confirmed | State::Accepted => {
                tracing::trace!(key = %self.key, "INVITE retransmission absorbed");
            }
        }
    }

    /// The ACK for our non-2xx (only called when [`awaits_ack`](Self::awaits_ack)).
    pub(super) fn on_ack(&mut self, now: Instant, config: &TimerConfig, _out: &mut Output) -> Next {
        match self.state {
            State::Completed { .. } => {
                // RFC 3261 §17.2.1: ACK in Completed → Confirmed, Timer G
                // stops, Timer I starts (zero on a reliable transport).
                self.timers.stop_all();
                self.state = State::Confirmed;
                self.wait(Timer::I, now, config)
            }
            // ACK retransmissions are absorbed.
            State::Confirmed | State::Proceeding { .. } | State::Accepted => Next::Continue,
        }
    }

    /// The TU's response.
    pub(super) fn respond(
        &mut self,
        now: Instant,
        response: Response,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Result<Next, TxError> {
        let class = Class::of_ours(&response)?;
        if !self.is_proceeding() {
            return Err(TxError::AlreadyFinal(self.key.clone()));
        }
        out.send(self.peer, response.clone());
        Ok(match class {
            Class::Provisional => {
                self.state = State::Proceeding {
                    last_provisional: response,
                };
                Next::Continue
            }
            Class::Success => {
                // RFC 6026 §7.1: Proceeding → Accepted on a 2xx, Timer L.
                self.state = State::Accepted;
                self.wait(Timer::L, now, config)
            }
            Class::Failure => {
                // RFC 3261 §17.2.1: Timer G on unreliable transports only;
                // Timer H always.
                let g_interval = config.duration(Timer::G, false);
                if !self.peer.transport.is_reliable() {
                    self.timers.set(Timer::G, now, g_interval);
                }
                self.timers
                    .set(Timer::H, now, config.duration(Timer::H, false));
                self.state = State::Completed {
                    final_response: response,
                    g_interval,
                };
                Next::Continue
            }
        })
    }

    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Next {
        for _ in 0..TimerTable::MAX_FIRES_PER_CALL {
            let Some(timer) = self.timers.pop_expired(now) else {
                break;
            };
            if self.fire(timer, now, config, out) == Next::Terminate {
                return Next::Terminate;
            }
        }
        Next::Continue
    }

    fn fire(&mut self, timer: Timer, now: Instant, config: &TimerConfig, out: &mut Output) -> Next {
        match (&mut self.state, timer) {
            (
                State::Completed {
                    final_response,
                    g_interval,
                },
                Timer::G,
            ) => {
                // RFC 3261 §17.2.1: resend, next interval MIN(2·previous, T2).
                out.send(self.peer, final_response.clone());
                *g_interval = config.backoff_capped(*g_interval);
                self.timers.set(Timer::G, now, *g_interval);
                Next::Continue
            }
            (State::Completed { .. }, Timer::H) => {
                // RFC 3261 §17.2.1: no ACK; tell the TU, go to Terminated.
                out.emit(TxEvent::AckTimeout {
                    key: self.key.clone(),
                });
                Next::Terminate
            }
            (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => Next::Terminate,
            (state, timer) => {
                tracing::debug!(key = %self.key, ?timer, ?state, "stale timer ignored");
                Next::Continue
            }
        }
    }

    /// Arms a wait timer, or ends the transaction at once when it is zero
    /// (reliable transports, RFC 3261 Table 4).
    fn wait(&mut self, timer: Timer, now: Instant, config: &TimerConfig) -> Next {
        let after = config.duration(timer, self.peer.transport.is_reliable());
        if after.is_zero() {
            return Next::Terminate;
        }
        self.timers.set(timer, now, after);
        Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::testkit::*;

    /// RFC 3261 §17.2.1: the server sends 100 Trying at once and passes the
    /// INVITE up once.
    #[test]
    fn new_invite_gets_100_trying_and_reaches_the_tu() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs1");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let sent = s.transmits();
        assert_eq!(codes(&sent), [100]);
        assert_eq!(sent[0].peer, UDP_CALLER);
        assert_eq!(
            header(&response_of(&sent[0]).headers, "To"),
            "<sip:211@frontdoor.example>"
        );
        let key = s.expect_request();
        assert!(s.events().is_empty());
        assert_eq!(key.to_string(), "server INVITE z9hG4bKs1@192.0.2.10:5060");
        assert_eq!(s.txs.len(), 1);
        assert_eq!(s.txs.poll_timeout(), None, "Proceeding runs no timer");
    }

    /// RFC 3261 §17.2.1: a retransmitted INVITE gets the most recent
    /// provisional response again and is not passed up.
    #[test]
    fn retransmissions_in_proceeding_get_the_last_provisional() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs2");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.transmits();
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        assert_eq!(codes(&s.transmits()), [100]);
        s.txs
            .respond(s.now, &key, build::response(&invite, 180, Some("tag-a")))
            .unwrap();
        assert_eq!(codes(&s.transmits()), [180]);
        s.txs.handle_message(s.now, UDP_CALLER, invite.into());
        assert_eq!(codes(&s.transmits()), [180]);
        assert!(s.events().is_empty(), "retransmissions are absorbed");
    }

    /// RFC 3261 §17.2.1: Timer G resends a 486 at 0.5, 1, 2, 4, 4, 4… s
    /// until the ACK; the ACK moves to Confirmed, Timer I (T4) ends it.
    #[test]
    fn udp_486_is_resent_on_timer_g_until_the_ack() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs3");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.transmits();
        let busy = build::response(&invite, 486, Some("busy"));
        s.txs.respond(s.now, &key, busy).unwrap();
        assert_eq!(codes(&s.transmits()), [486]);
        let start = s.now;
        // Resend times in ms after the 486.
        let mut resent_at = vec![];
        while s.now - start < ms(12_000) {
            let at = s.advance();
            assert_eq!(codes(&s.transmits()), [486]);
            resent_at.push((at - start).as_millis());
        }
        assert_eq!(resent_at, [500, 1500, 3500, 7500, 11500, 15500]);
        // The ACK stops Timer G and starts Timer I.
        s.txs
            .handle_message(s.now, UDP_CALLER, ack_for(&invite, "busy").into());
        assert!(s.events().is_empty(), "the ACK for a non-2xx is absorbed");
        assert_eq!(s.txs.poll_timeout(), Some(s.now + ms(5000)), "Timer I = T4");
        // ACK retransmissions are absorbed in Confirmed.
        s.txs
            .handle_message(s.now, UDP_CALLER, ack_for(&invite, "busy").into());
        assert!(s.events().is_empty());
        s.advance();
        assert!(s.transmits().is_empty());
        assert_eq!(terminated(&s.events()), [key]);
        assert!(s.txs.is_empty());
    }

    /// RFC 3261 §17.2.1: without the ACK, Timer H (64·T1) ends the
    /// transaction and the TU hears `AckTimeout`.
    #[test]
    fn timer_h_reports_a_missing_ack() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs4");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.txs
            .respond(s.now, &key, build::response(&invite, 603, Some("t")))
            .unwrap();
        assert_eq!(codes(&s.transmits()), [100, 603]);
        let start = s.now;
        let mut resends = 0;
        while !s.txs.is_empty() {
            s.advance();
            resends += codes(&s.transmits()).len();
        }
        assert_eq!(s.now - start, ms(32_000), "Timer H = 64·T1");
        // Timer G resends at 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 … 31.5 s.
        assert_eq!(resends, 10);
        let events = s.events();
        assert!(matches!(&events[0], TxEvent::AckTimeout { key: k } if *k == key));
        assert_eq!(terminated(&events), [key]);
    }

    /// RFC 3261 §17.2.1: on TCP no Timer G; the ACK ends the transaction at
    /// once (Timer I = 0).
    #[test]
    fn tcp_final_is_sent_once_and_the_ack_ends_the_transaction() {
        let mut s = Side::new();
        let invite = invite(TCP_CALLER, "z9hG4bKs5");
        s.txs
            .handle_message(s.now, TCP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.transmits();
        s.txs
            .respond(s.now, &key, build::response(&invite, 486, Some("t")))
            .unwrap();
        assert_eq!(codes(&s.transmits()), [486]);
        assert_eq!(
            s.txs.poll_timeout(),
            Some(s.now + ms(32_000)),
            "only Timer H runs"
        );
        s.txs
            .handle_message(s.now, TCP_CALLER, ack_for(&invite, "t").into());
        assert_eq!(terminated(&s.events()), [key]);
        assert!(s.txs.is_empty());
    }

    /// RFC 3261 §17.2.1 (Completed): a retransmitted INVITE gets the final
    /// response again.
    #[test]
    fn retransmission_in_completed_gets_the_final_again() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs6");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.txs
            .respond(s.now, &key, build::response(&invite, 404, Some("t")))
            .unwrap();
        s.transmits();
        s.txs.handle_message(s.now, UDP_CALLER, invite.into());
        assert_eq!(codes(&s.transmits()), [404]);
        assert!(s.events().is_empty());
    }

    /// RFC 6026 §7.1: after a 2xx the transaction is Accepted: INVITE
    /// retransmissions are absorbed without resending, the ACK (own branch)
    /// goes to the TU, Timer L (64·T1) ends it.
    #[test]
    fn accepted_absorbs_retransmissions_and_ends_on_timer_l() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs7");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.transmits();
        s.txs
            .respond(s.now, &key, build::response(&invite, 200, Some("ok")))
            .unwrap();
        assert_eq!(codes(&s.transmits()), [200]);
        assert_eq!(s.txs.poll_timeout(), Some(s.now + ms(32_000)), "Timer L");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        assert!(
            s.transmits().is_empty(),
            "the 2xx retransmission is the TU's job"
        );
        assert!(s.events().is_empty());
        // The ACK for a 2xx carries a new branch: passed up as Ack.
        let ack = ack_with_branch(&invite, "ok", "z9hG4bKack2xx");
        s.txs.handle_message(s.now, UDP_CALLER, ack.clone().into());
        assert!(
            matches!(&s.events()[..], [TxEvent::Ack { request, peer }] if *request == ack && *peer == UDP_CALLER)
        );
        s.advance();
        assert_eq!(terminated(&s.events()), [key]);
    }

    /// The TU may answer only once: a second final is a misuse.
    #[test]
    fn a_second_final_is_refused() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs8");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.txs
            .respond(s.now, &key, build::response(&invite, 200, Some("a")))
            .unwrap();
        for code in [180, 200, 486] {
            let err = s
                .txs
                .respond(s.now, &key, build::response(&invite, code, Some("a")))
                .unwrap_err();
            assert!(
                matches!(err, TxError::AlreadyFinal(ref k) if *k == key),
                "{code}: {err}"
            );
        }
        let err = s
            .txs
            .respond(s.now, &key, build::response(&invite, 99, None))
            .unwrap_err();
        assert!(matches!(err, TxError::BadResponse(_)));
    }

    /// RFC 3261 §9.2: a CANCEL matching an INVITE in Proceeding is answered
    /// 200 by the layer (same To tag as the INVITE's provisional), the TU
    /// hears `Cancelled`, answers 487, and the ACK for the 487 is absorbed.
    #[test]
    fn cancel_gets_200_then_the_tu_answers_487() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs9");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.txs
            .respond(s.now, &key, build::response(&invite, 180, Some("ring")))
            .unwrap();
        s.transmits();
        let cancel = build::cancel_for(&invite);
        s.txs
            .handle_message(s.now, UDP_CALLER, cancel.clone().into());
        let sent = s.transmits();
        assert_eq!(codes(&sent), [200]);
        let ok = response_of(&sent[0]);
        assert_eq!(header(&ok.headers, "CSeq"), "1 CANCEL");
        assert_eq!(
            header(&ok.headers, "To"),
            "<sip:211@frontdoor.example>;tag=ring"
        );
        let events = s.events();
        assert!(
            matches!(&events[..], [TxEvent::Cancelled { invite: k, cancel: c }] if *k == key && *c == cancel),
            "{events:?}"
        );
        // A retransmitted CANCEL gets the 200 again, no second `Cancelled`.
        s.txs
            .handle_message(s.now, UDP_CALLER, cancel.clone().into());
        assert_eq!(codes(&s.transmits()), [200]);
        assert!(s.events().is_empty());
        // The TU answers the INVITE with 487; the ACK is absorbed.
        s.txs
            .respond(s.now, &key, build::response(&invite, 487, Some("ring")))
            .unwrap();
        assert_eq!(codes(&s.transmits()), [487]);
        s.txs
            .handle_message(s.now, UDP_CALLER, ack_for(&invite, "ring").into());
        assert!(s.events().is_empty());
        // Timer I (5 s) ends the INVITE, Timer J (32 s) the CANCEL.
        s.run_until_idle();
        assert_eq!(terminated(&s.events()).len(), 2);
        assert!(s.txs.is_empty());
    }

    /// RFC 3261 §9.2: a CANCEL after the final response still gets 200 but
    /// changes nothing.
    #[test]
    fn cancel_after_the_final_gets_200_and_no_event() {
        let mut s = Side::new();
        let invite = invite(UDP_CALLER, "z9hG4bKs10");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.txs
            .respond(s.now, &key, build::response(&invite, 200, Some("a")))
            .unwrap();
        s.transmits();
        s.txs
            .handle_message(s.now, UDP_CALLER, build::cancel_for(&invite).into());
        let sent = s.transmits();
        assert_eq!(codes(&sent), [200]);
        assert_eq!(header(&response_of(&sent[0]).headers, "CSeq"), "1 CANCEL");
        assert!(s.events().is_empty());
    }

    /// RFC 3261 §9.2: a CANCEL matching no transaction gets 481 from the
    /// layer; the TU never sees it.
    #[test]
    fn cancel_for_an_unknown_transaction_gets_481() {
        let mut s = Side::new();
        let cancel = build::cancel_for(&invite(UDP_CALLER, "z9hG4bKnothing"));
        s.txs
            .handle_message(s.now, UDP_CALLER, cancel.clone().into());
        let sent = s.transmits();
        assert_eq!(codes(&sent), [481]);
        assert!(key::to_tag(&response_of(&sent[0]).headers).is_some());
        assert!(s.events().is_empty());
        // Retransmissions get the 481 again until Timer J.
        s.txs.handle_message(s.now, UDP_CALLER, cancel.into());
        assert_eq!(codes(&s.transmits()), [481]);
        assert_eq!(s.txs.poll_timeout(), Some(s.now + ms(32_000)), "Timer J");
    }

    /// RFC 3261 §17.2.3, RFC 2543 peers: an INVITE without the magic cookie
    /// still matches its retransmissions and its ACK.
    #[test]
    fn rfc2543_invite_matches_its_retransmission_and_ack() {
        let mut s = Side::new();
        let invite = invite_via(UDP_CALLER, "SIP/2.0/UDP 192.0.2.10:5060");
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        let key = s.expect_request();
        s.transmits();
        s.txs
            .handle_message(s.now, UDP_CALLER, invite.clone().into());
        assert_eq!(codes(&s.transmits()), [100]);
        assert!(s.events().is_empty());
        s.txs
            .respond(s.now, &key, build::response(&invite, 486, Some("old")))
            .unwrap();
        s.transmits();
        s.txs
            .handle_message(s.now, UDP_CALLER, ack_for(&invite, "old").into());
        assert!(s.events().is_empty(), "absorbed by the INVITE transaction");
        assert_eq!(s.txs.poll_timeout(), Some(s.now + ms(5000)), "Timer I");
    }
}
