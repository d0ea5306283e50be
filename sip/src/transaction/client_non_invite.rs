//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!   request sent ──▶ Trying ──1xx──▶ Proceeding
//!   (Timer E resends,  │                 │
//!    Timer F gives up) └──── final ──────┴──▶ Completed ──Timer K──▶ Terminated
//! ```

use std::time::{Duration, Instant};

use rsip::{Request, Response};

use super::timer::{Timer, TimerConfig, TimerTable};
use super::{Class, Next, Output, TransactionKey, TxEvent};
use crate::Peer;

#[derive(Debug)]
pub(super) struct ClientNonInvite {
    key: TransactionKey,
    peer: Peer,
    request: Request,
    state: State,
    timers: TimerTable,
}

#[derive(Debug)]
enum State {
    /// RFC 3261 §17.1.2.2: the request was sent; waiting for any response.
    /// Timer E resends it (UDP; T1 doubling up to T2), Timer F gives up.
    Trying { e_interval: Duration },
    /// RFC 3261 §17.1.2.2: a provisional arrived; waiting for the final.
    /// Timer E keeps resending, every T2; Timer F still gives up.
    Proceeding,
    /// RFC 3261 §17.1.2.2: the final arrived; absorbing its retransmissions
    /// until Timer K (T4 on UDP, zero on TCP).
    Completed,
}

impl ClientNonInvite {
    /// Sends the request and arms Timer E (UDP only) and Timer F.
    pub(super) fn new(
        now: Instant,
        key: TransactionKey,
        peer: Peer,
        request: Request,
        config: &TimerConfig,
        out: &mut Output,
    ) -> Self {
        out.send(peer, request.clone());
        let e_interval = config.duration(Timer::E, false);
        let mut timers = TimerTable::default();
        if !peer.transport.is_reliable() {
            timers.set(Timer::E, now, e_interval);
        }
        timers.set(Timer::F, now, config.duration(Timer::F, false));
        ClientNonInvite {
            key,
            peer,
            request,
            state: State::Trying { e_interval },
            timers,
        }
    }

    pub(super) fn key(&self) -> &TransactionKey {
        &self.key
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
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
        match (&self.state, class) {
            (State::Completed, _) => {
                // RFC 3261 §17.1.2.2: retransmitted finals are absorbed.
                tracing::trace!(key = %self.key, "response retransmission absorbed");
                Next::Continue
            }
            (State::Trying { .. } | State::Proceeding, Class::Provisional) => {
                // Timer E keeps its deadline; from its next firing on it
                // runs every T2.
                self.state = State::Proceeding;
                self.pass_up(response, out);
                Next::Continue
            }
            (State::Trying { .. } | State::Proceeding, Class::Success | Class::Failure) => {
                self.timers.stop_all();
                self.state = State::Completed;
                self.pass_up(response, out);
                let k = config.duration(Timer::K, self.peer.transport.is_reliable());
                if k.is_zero() {
                    return Next::Terminate;
                }
                self.timers.set(Timer::K, now, k);
                Next::Continue
            }
        }
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
            (State::Trying { e_interval }, Timer::E) => {
                // RFC 3261 §17.1.2.2: resend; next MIN(2·previous, T2).
                out.send(self.peer, self.request.clone());
                *e_interval = config.backoff_capped(*e_interval);
                self.timers.set(Timer::E, now, *e_interval);
                Next::Continue
            }
            (State::Proceeding, Timer::E) => {
                // RFC 3261 §17.1.2.2: in Proceeding, resend every T2.
                out.send(self.peer, self.request.clone());
                self.timers.set(Timer::E, now, config.t2);
                Next::Continue
            }
            (State::Trying { .. } | State::Proceeding, Timer::F) => {
                // RFC 3261 §17.1.2.2: no final response: a timeout for the TU.
                out.emit(TxEvent::Timeout {
                    key: self.key.clone(),
                });
                Next::Terminate
            }
            (State::Completed, Timer::K) => Next::Terminate,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::build;
    use crate::transaction::testkit::*;

    /// Resend times (ms since the request) until the transaction ends.
    fn resend_times(c: &mut Side, start: Instant) -> Vec<u128> {
        let mut sent_at = vec![];
        while !c.txs.is_empty() {
            let at = c.advance();
            for t in c.transmits() {
                assert_eq!(request_of(&t).method, rsip::Method::Bye);
                sent_at.push((at - start).as_millis());
            }
        }
        sent_at
    }

    /// RFC 3261 §17.1.2.2: on UDP Timer E resends at intervals 0.5, 1, 2,
    /// 4, 4, 4… s (capped at T2) until Timer F at 64·T1 reports a timeout.
    #[test]
    fn udp_timer_e_schedule_then_timer_f() {
        let mut c = Side::new();
        let start = c.now;
        let key = c
            .txs
            .request(c.now, UDP_SERVER, request("BYE", UDP_SERVER, "z9hG4bKe1"))
            .unwrap();
        assert_eq!(methods(&c.transmits()), ["BYE"]);
        let sent_at = resend_times(&mut c, start);
        assert_eq!(
            sent_at,
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(c.now - start, ms(32_000), "Timer F = 64·T1");
        let events = c.events();
        assert!(matches!(&events[0], TxEvent::Timeout { key: k } if *k == key));
        assert_eq!(terminated(&events), [key]);
    }

    /// RFC 3261 §17.1.2.2: after a provisional, Timer E fires every T2
    /// (the deadline already armed is kept).
    #[test]
    fn udp_timer_e_runs_every_t2_after_a_provisional() {
        let mut c = Side::new();
        let start = c.now;
        let bye = request("BYE", UDP_SERVER, "z9hG4bKe2");
        let key = c.txs.request(c.now, UDP_SERVER, bye.clone()).unwrap();
        c.transmits();
        c.advance(); // 0.5 s: first resend
        c.transmits();
        c.txs
            .handle_message(c.now, UDP_SERVER, build::response(&bye, 100, None).into());
        assert!(matches!(&c.events()[..], [TxEvent::Response { key: k, .. }] if *k == key));
        let sent_at = resend_times(&mut c, start);
        // Timer E was armed for 1.5 s; from then on every 4 s; F at 32 s.
        assert_eq!(
            sent_at,
            [1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
        );
        assert!(matches!(&c.events()[0], TxEvent::Timeout { .. }));
    }

    /// RFC 3261 §17.1.2.2: no Timer E on TCP; Timer F still runs.
    #[test]
    fn tcp_sends_once_and_times_out_on_timer_f() {
        let mut c = Side::new();
        let start = c.now;
        c.txs
            .request(c.now, TCP_SERVER, request("BYE", TCP_SERVER, "z9hG4bKe3"))
            .unwrap();
        c.transmits();
        assert_eq!(resend_times(&mut c, start), Vec::<u128>::new());
        assert_eq!(c.now - start, ms(32_000));
        assert!(matches!(&c.events()[0], TxEvent::Timeout { .. }));
    }

    /// RFC 3261 §17.1.2.2: the final is passed up once; its retransmissions
    /// are absorbed until Timer K (T4 on UDP, zero on TCP).
    #[test]
    fn final_is_passed_up_once_then_timer_k() {
        for (peer, k) in [(UDP_SERVER, Some(ms(5000))), (TCP_SERVER, None)] {
            let mut c = Side::new();
            let bye = request("BYE", peer, "z9hG4bKe4");
            let key = c.txs.request(c.now, peer, bye.clone()).unwrap();
            c.transmits();
            let ok = build::response(&bye, 200, Some("t"));
            c.txs.handle_message(c.now, peer, ok.clone().into());
            let events = c.events();
            assert!(
                matches!(&events[0], TxEvent::Response { key: kk, response } if *kk == key && *response == ok)
            );
            match k {
                Some(k) => {
                    assert_eq!(c.txs.poll_timeout(), Some(c.now + k), "Timer K on {peer}");
                    c.txs.handle_message(c.now, peer, ok.clone().into());
                    assert!(c.events().is_empty(), "retransmitted final absorbed");
                    c.advance();
                    assert_eq!(terminated(&c.events()), [key]);
                }
                None => assert_eq!(terminated(&events), [key], "Timer K = 0 on {peer}"),
            }
            assert!(c.txs.is_empty());
            assert!(c.transmits().is_empty());
        }
    }
}
