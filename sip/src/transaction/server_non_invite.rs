//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!   request ──▶ Trying ──1xx──▶ Proceeding
//!                 │                 │
//!                 └──── final ──────┴──▶ Completed ──Timer J──▶ Terminated
//! ```
//!
//! The layer also uses this machine for the CANCELs it answers itself
//! (RFC 3261 §9.2), so their retransmissions get the same answer.

use std::time::Instant;

use rsip::Response;

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{Class, Next, Output, TransactionKey, TxError};
use crate::Peer;

#[derive(Debug)]
pub(super) struct ServerNonInvite {
    key: TransactionKey,
    peer: Peer,
    state: State,
    timers: TimerTable,
}

#[derive(Debug)]
enum State {
    /// RFC 3261 §17.2.2: waiting for the TU's first response; request
    /// retransmissions are absorbed (there is nothing to resend yet).
    Trying,
    /// RFC 3261 §17.2.2: a provisional was sent; waiting for the final.
    /// Retransmissions get the last provisional again.
    Proceeding { last_provisional: Response },
    /// RFC 3261 §17.2.2: the final was sent; retransmissions get it again
    /// until Timer J (64·T1 on UDP, zero on TCP).
    Completed { final_response: Response },
}

impl ServerNonInvite {
    pub(super) fn new(key: TransactionKey, peer: Peer) -> Self {
        ServerNonInvite {
            key,
            peer,
            state: State::Trying,
            timers: TimerTable::default(),
        }
    }

    pub(super) fn key(&self) -> &TransactionKey {
        &self.key
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The request arrived again.
    pub(super) fn on_retransmission(&mut self, out: &mut Output) {
        match &self.state {
            State::Trying => tracing::trace!(key = %self.key, "retransmission absorbed"),
            State::Proceeding { last_provisional } => out.send(self.peer, last_provisional.clone()),
            State::Completed { final_response } => out.send(self.peer, final_response.clone()),
        }
    }

    /// The TU's response (or the layer's own, for a CANCEL).
    pub(super) fn respond(
        &mut self,
        now: Instant,
        response: Response,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Result<Next, TxError> {
        let class = Class::of_ours(&response)?;
        if let State::Completed { .. } = self.state {
            return Err(TxError::AlreadyFinal(self.key.clone()));
        }
        out.send(self.peer, response.clone());
        if class == Class::Provisional {
            self.state = State::Proceeding {
                last_provisional: response,
            };
            return Ok(Next::Continue);
        }
        self.state = State::Completed {
            final_response: response,
        };
        let after = config.duration(Timer::J, self.peer.transport.is_reliable());
        if after.is_zero() {
            return Ok(Next::Terminate);
        }
        self.timers.set(Timer::J, now, after);
        Ok(Next::Continue)
    }

    pub(super) fn on_timeout(&mut self, now: Instant, _out: &mut Output) -> Next {
        for _ in 0..TimerTable::MAX_FIRES_PER_CALL {
            match self.timers.pop_expired(now) {
                // RFC 3261 §17.2.2: Timer J ends Completed.
                Some(Timer::J) => return Next::Terminate,
                Some(timer) => tracing::debug!(key = %self.key, ?timer, "stale timer ignored"),
                None => break,
            }
        }
        Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::testkit::*;
    use crate::transaction::{TxEvent, build};

    /// RFC 3261 §17.2.2, state by state: what a retransmitted request gets.
    #[test]
    fn retransmissions_get_the_last_response_in_each_state() {
        let mut s = Side::new();
        let bye = request("BYE", UDP_CALLER, "z9hG4bKn1");
        s.txs.handle_message(s.now, UDP_CALLER, bye.clone().into());
        assert!(s.transmits().is_empty(), "no 100 Trying for non-INVITE");
        let key = s.expect_request();
        // (TU response, or None to only retransmit; what the retransmission gets)
        let table: [(Option<u16>, &[u16]); 4] = [
            (None, &[]),         // Trying: absorbed
            (Some(100), &[100]), // Proceeding
            (Some(183), &[183]), // Proceeding, the most recent provisional
            (Some(200), &[200]), // Completed
        ];
        for (answer, expected) in table {
            if let Some(code) = answer {
                s.txs
                    .respond(s.now, &key, build::response(&bye, code, Some("t")))
                    .unwrap();
                assert_eq!(codes(&s.transmits()), [code]);
            }
            s.txs.handle_message(s.now, UDP_CALLER, bye.clone().into());
            assert_eq!(codes(&s.transmits()), expected, "after {answer:?}");
            assert!(s.events().is_empty(), "retransmissions never reach the TU");
        }
    }

    /// RFC 3261 §17.2.2 / Table 4: Timer J is 64·T1 on UDP and zero on TCP.
    #[test]
    fn timer_j_lengths() {
        for (peer, expected) in [(UDP_CALLER, Some(ms(32_000))), (TCP_CALLER, None)] {
            let mut s = Side::new();
            let options = request("OPTIONS", peer, "z9hG4bKn2");
            s.txs.handle_message(s.now, peer, options.clone().into());
            let key = s.expect_request();
            s.txs
                .respond(s.now, &key, build::response(&options, 200, Some("t")))
                .unwrap();
            match expected {
                Some(j) => {
                    assert_eq!(s.txs.poll_timeout(), Some(s.now + j));
                    assert_eq!(s.txs.len(), 1);
                    s.advance();
                }
                None => assert_eq!(s.txs.poll_timeout(), None),
            }
            assert_eq!(terminated(&s.events()), [key], "{peer}");
            assert!(s.txs.is_empty());
        }
    }

    #[test]
    fn a_second_final_is_refused() {
        let mut s = Side::new();
        let bye = request("BYE", UDP_CALLER, "z9hG4bKn3");
        s.txs.handle_message(s.now, UDP_CALLER, bye.clone().into());
        let key = s.expect_request();
        s.txs
            .respond(s.now, &key, build::response(&bye, 200, Some("t")))
            .unwrap();
        let err = s
            .txs
            .respond(s.now, &key, build::response(&bye, 500, Some("t")))
            .unwrap_err();
        assert!(matches!(err, TxError::AlreadyFinal(k) if k == key));
    }

    #[test]
    fn responding_to_an_unknown_or_client_key_is_refused() {
        let mut s = Side::new();
        let bye = request("BYE", UDP_CALLER, "z9hG4bKn4");
        let client = s.txs.request(s.now, UDP_CALLER, bye.clone()).unwrap();
        let err = s
            .txs
            .respond(s.now, &client, build::response(&bye, 200, Some("t")))
            .unwrap_err();
        assert!(matches!(err, TxError::UnknownTransaction(k) if k == client));
    }

    /// A request the layer cannot key is dropped, not a panic, and never
    /// reaches the TU as a transaction.
    #[test]
    fn a_request_without_via_is_dropped() {
        let mut s = Side::new();
        let req = parse_request("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n");
        s.txs.handle_message(s.now, UDP_CALLER, req.into());
        assert!(s.transmits().is_empty());
        assert!(s.events().is_empty());
        assert!(s.txs.is_empty());
    }

    /// An ACK matching no INVITE transaction is the dialog layer's.
    #[test]
    fn a_lone_ack_is_passed_up() {
        let mut s = Side::new();
        let ack = request("ACK", UDP_CALLER, "z9hG4bKn5");
        s.txs.handle_message(s.now, UDP_CALLER, ack.clone().into());
        let events = s.events();
        assert!(matches!(&events[..], [TxEvent::Ack { request, .. }] if *request == ack));
        assert!(s.txs.is_empty());
    }
}
