//! Two transaction layers talking through a lossy, reordering pipe in
//! simulated time: the clock jumps to the next delivery or deadline, so a
//! whole call with every RFC timer runs in microseconds.
//!
//! Each side has a scripted TU that answers the way the call layer would.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rsip::{Method, SipMessage};

use super::testkit::{TCP_CALLER, TCP_SERVER, UDP_CALLER, UDP_SERVER, ms, origin};
use super::{TimerConfig, TransactionKey, Transactions, Transmit, TxEvent, build};
use crate::Peer;

/// How a side's TU reacts to what its transaction layer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// The calling side: only records.
    Caller,
    /// Answers INVITE with 486 Busy Here, anything else with 200.
    Busy,
    /// Answers INVITE with 180 Ringing, a CANCEL of it with 487, anything
    /// else with 200.
    Ringing,
}

struct Endpoint {
    txs: Transactions,
    /// Where the other side sends to reach this one.
    addr: Peer,
    script: Script,
    log: Vec<TxEvent>,
    /// The requests this TU was asked to answer.
    requests: HashMap<TransactionKey, rsip::Request>,
}

struct Flight {
    at: Instant,
    seq: u64,
    to: usize,
    from: Peer,
    message: SipMessage,
}

struct Net {
    start: Instant,
    now: Instant,
    sides: [Endpoint; 2],
    rng: fastrand::Rng,
    loss_percent: u8,
    flights: Vec<Flight>,
    seq: u64,
    sent: usize,
    dropped: usize,
}

const CALLER: usize = 0;
const CALLEE: usize = 1;

impl Net {
    /// `loss_percent` applies to UDP only; TCP delivers everything in order.
    fn new(seed: u64, loss_percent: u8, tcp: bool, callee: Script) -> Self {
        let (caller_addr, callee_addr) = if tcp {
            (TCP_CALLER, TCP_SERVER)
        } else {
            (UDP_CALLER, UDP_SERVER)
        };
        let side = |addr, script| Endpoint {
            txs: Transactions::new(TimerConfig::default()),
            addr,
            script,
            log: Vec::new(),
            requests: HashMap::new(),
        };
        let start = origin();
        Net {
            start,
            now: start,
            sides: [side(caller_addr, Script::Caller), side(callee_addr, callee)],
            rng: fastrand::Rng::with_seed(seed),
            loss_percent,
            flights: Vec::new(),
            seq: 0,
            sent: 0,
            dropped: 0,
        }
    }

    fn callee_addr(&self) -> Peer {
        self.sides[CALLEE].addr
    }

    fn caller(&mut self) -> &mut Transactions {
        &mut self.sides[CALLER].txs
    }

    /// Moves every transmit into the pipe and every event to its TU, until
    /// both sides are quiet.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            for side in [CALLER, CALLEE] {
                while let Some(t) = self.sides[side].txs.poll_transmit() {
                    busy = true;
                    self.send(side, t);
                }
                while let Some(event) = self.sides[side].txs.poll_event() {
                    busy = true;
                    self.react(side, &event);
                    self.sides[side].log.push(event);
                }
            }
            if !busy {
                break;
            }
        }
    }

    fn send(&mut self, from: usize, t: Transmit) {
        let to = 1 - from;
        assert_eq!(
            t.peer, self.sides[to].addr,
            "everything goes to the other side"
        );
        self.sent += 1;
        let reliable = t.peer.transport.is_reliable();
        if !reliable && self.rng.u8(0..100) < self.loss_percent {
            self.dropped += 1;
            return;
        }
        // Random delays reorder UDP; TCP keeps order with a fixed delay.
        let delay = if reliable {
            ms(10)
        } else {
            ms(self.rng.u64(5..=150))
        };
        self.seq += 1;
        self.flights.push(Flight {
            at: self.now + delay,
            seq: self.seq,
            to,
            from: self.sides[from].addr,
            message: t.message,
        });
    }

    fn react(&mut self, side: usize, event: &TxEvent) {
        let me = &mut self.sides[side];
        let answer = match (me.script, event) {
            (Script::Caller, _) => None,
            (script, TxEvent::Request { key, request, .. }) => {
                let code = match (script, request.method) {
                    (Script::Busy, Method::Invite) => 486,
                    (Script::Ringing, Method::Invite) => 180,
                    _ => 200,
                };
                me.requests.insert(key.clone(), request.clone());
                Some((
                    key.clone(),
                    build::response(request, code, Some("callee-tag")),
                ))
            }
            (Script::Ringing, TxEvent::Cancelled { invite, .. }) => {
                let request = &me.requests[invite];
                Some((
                    invite.clone(),
                    build::response(request, 487, Some("callee-tag")),
                ))
            }
            _ => None,
        };
        if let Some((key, response)) = answer {
            me.txs
                .respond(self.now, &key, response)
                .expect("the TU answers once");
        }
    }

    /// Runs until nothing is in flight and no timer is pending.
    fn run(&mut self) {
        loop {
            self.pump();
            let next = self
                .flights
                .iter()
                .map(|f| f.at)
                .chain(self.sides.iter().filter_map(|s| s.txs.poll_timeout()))
                .min();
            let Some(next) = next else {
                break;
            };
            assert!(next >= self.now, "time never goes back");
            assert!(
                next - self.start < Duration::from_secs(600),
                "the simulation converges"
            );
            self.now = next;
            self.flights.sort_by_key(|f| (f.at, f.seq));
            let due = self.flights.iter().take_while(|f| f.at <= next).count();
            for flight in self.flights.drain(..due).collect::<Vec<_>>() {
                self.sides[flight.to]
                    .txs
                    .handle_message(next, flight.from, flight.message);
                self.pump();
            }
            for side in &mut self.sides {
                side.txs.handle_timeout(next);
            }
        }
    }

    /// The final responses the caller's TU saw for `key`.
    fn finals(&self, key: &TransactionKey) -> Vec<u16> {
        self.sides[CALLER]
            .log
            .iter()
            .filter_map(|e| match e {
                TxEvent::Response { key: k, response } if k == key => {
                    Some(response.status_code.code())
                }
                _ => None,
            })
            .filter(|&code| code >= 200)
            .collect()
    }

    fn count(&self, side: usize, pred: impl Fn(&TxEvent) -> bool) -> usize {
        self.sides[side].log.iter().filter(|e| pred(e)).count()
    }

    /// Every transaction on both sides has ended and said so.
    fn assert_all_terminated(&self, seed: u64) {
        for side in &self.sides {
            assert_eq!(side.txs.len(), 0, "seed {seed}: transactions left");
            assert_eq!(side.txs.poll_timeout(), None, "seed {seed}");
        }
        assert!(self.flights.is_empty());
    }
}

fn sample(method: &str, from: Peer, branch: &str) -> rsip::Request {
    super::testkit::request(method, from, branch)
}

const SEEDS: std::ops::Range<u64> = 0..40;
const LOSS: u8 = 20;

/// INVITE → 486 → ACK completes over a lossy, reordering UDP path: the
/// caller's TU sees exactly one final, nobody times out, and every
/// transaction ends after its last timer (D on the caller, I on the callee).
#[test]
fn invite_486_ack_survives_loss() {
    let mut total_dropped = 0;
    for seed in SEEDS {
        let mut net = Net::new(seed, LOSS, false, Script::Busy);
        let to = net.callee_addr();
        let now = net.now;
        let key = net
            .caller()
            .request(
                now,
                to,
                sample("INVITE", UDP_CALLER, &format!("z9hG4bKsim{seed}")),
            )
            .unwrap();
        net.run();
        assert_eq!(net.finals(&key), [486], "seed {seed}");
        assert_eq!(
            net.count(CALLER, |e| matches!(e, TxEvent::Timeout { .. })),
            0,
            "seed {seed}"
        );
        assert_eq!(
            net.count(CALLEE, |e| matches!(e, TxEvent::AckTimeout { .. })),
            0,
            "seed {seed}: the ACK got through"
        );
        assert_eq!(
            net.count(CALLEE, |e| matches!(e, TxEvent::Request { .. })),
            1,
            "seed {seed}"
        );
        assert_eq!(
            net.count(CALLEE, |e| matches!(e, TxEvent::Ack { .. })),
            0,
            "seed {seed}"
        );
        for side in [CALLER, CALLEE] {
            assert_eq!(
                net.count(side, |e| matches!(e, TxEvent::Terminated { .. })),
                1
            );
        }
        net.assert_all_terminated(seed);
        total_dropped += net.dropped;
    }
    assert!(total_dropped > 0, "the pipe did lose messages");
}

/// BYE → 200 completes over a lossy UDP path: one final for the caller's
/// TU, one request for the callee's, and both transactions end (K, J).
#[test]
fn bye_200_survives_loss() {
    for seed in SEEDS {
        let mut net = Net::new(seed, LOSS, false, Script::Busy);
        let to = net.callee_addr();
        let now = net.now;
        let key = net
            .caller()
            .request(
                now,
                to,
                sample("BYE", UDP_CALLER, &format!("z9hG4bKbye{seed}")),
            )
            .unwrap();
        net.run();
        assert_eq!(net.finals(&key), [200], "seed {seed}");
        assert_eq!(
            net.count(CALLER, |e| matches!(e, TxEvent::Timeout { .. })),
            0
        );
        assert_eq!(
            net.count(CALLEE, |e| matches!(e, TxEvent::Request { .. })),
            1,
            "seed {seed}"
        );
        net.assert_all_terminated(seed);
    }
}

/// INVITE → 180, CANCEL (asked for before the 180) → 200, 487 → ACK over a
/// lossy UDP path: the CANCEL waits for a provisional, the callee's TU hears
/// `Cancelled` once, and everything ends.
#[test]
fn cancelled_call_survives_loss() {
    for seed in SEEDS {
        let mut net = Net::new(seed, LOSS, false, Script::Ringing);
        let to = net.callee_addr();
        let now = net.now;
        let invite = net
            .caller()
            .request(
                now,
                to,
                sample("INVITE", UDP_CALLER, &format!("z9hG4bKcan{seed}")),
            )
            .unwrap();
        let cancel = net.caller().cancel(now, &invite).unwrap();
        net.run();
        assert_eq!(net.finals(&invite), [487], "seed {seed}");
        assert_eq!(net.finals(&cancel), [200], "seed {seed}");
        assert_eq!(
            net.count(CALLEE, |e| matches!(e, TxEvent::Cancelled { .. })),
            1,
            "seed {seed}"
        );
        assert_eq!(
            net.count(CALLEE, |e| matches!(e, TxEvent::AckTimeout { .. })),
            0,
            "seed {seed}"
        );
        for side in [CALLER, CALLEE] {
            assert_eq!(
                net.count(side, |e| matches!(e, TxEvent::Terminated { .. })),
                2,
                "seed {seed}"
            );
        }
        net.assert_all_terminated(seed);
    }
}

/// Over TCP nothing is retransmitted: INVITE, 100, 486, ACK and nothing
/// else, and both transactions end without waiting (D = I = 0).
#[test]
fn invite_486_ack_over_tcp_sends_four_messages() {
    let mut net = Net::new(1, 0, true, Script::Busy);
    let to = net.callee_addr();
    let now = net.now;
    let key = net
        .caller()
        .request(now, to, sample("INVITE", TCP_CALLER, "z9hG4bKtcp"))
        .unwrap();
    net.run();
    assert_eq!(net.finals(&key), [486]);
    assert_eq!(net.sent, 4, "INVITE, 100 Trying, 486, ACK");
    assert!(
        net.now - net.start < Duration::from_secs(1),
        "no timer had to run out"
    );
    net.assert_all_terminated(1);
}
