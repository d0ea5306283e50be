//! Transaction timers as data (RFC 3261 §17, Table 4; RFC 6026 §8.11).
//!
//! Every transaction keeps its running timers in one small [`TimerTable`]:
//! an array of optional deadlines indexed by [`Timer`]. Nothing here reads a
//! clock: deadlines are computed from the `now` the caller passes in, so a
//! test can jump the clock 32 seconds ahead in one call.

use std::time::{Duration, Instant};

/// RFC 3261 §17.1.1.1 / Table 4 timer values; T1 500 ms, T2 4 s, T4 5 s by default.
///
/// T1 is the round-trip estimate, T2 the cap on retransmission intervals for
/// non-INVITE requests and INVITE responses, T4 how long a message may stay
/// in the network. Every other timer is derived from these three.
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    /// RTT estimate (RFC 3261 §17.1.1.1); 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE
    /// responses; 4 s by default.
    pub t2: Duration,
    /// Maximum duration a message will remain in the network; 5 s by default.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, L, M, and J on unreliable transports.
    pub(crate) fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// How long a wait timer runs (Table 4). The retransmission timers
    /// (A, E, G) start at T1 and their later intervals are computed by the
    /// machine that owns them.
    ///
    /// On a reliable transport the wait timers that only exist to absorb
    /// retransmissions (D, I, J, K) are zero: the transaction ends at once.
    pub(crate) fn duration(&self, timer: Timer, reliable: bool) -> Duration {
        match timer {
            Timer::A | Timer::E | Timer::G => self.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => self.t1_x64(),
            Timer::D if reliable => Duration::ZERO,
            // "Timer D: > 32 s for UDP". Keep it at least 64·T1 so that it
            // still covers the server's Timer H when T1 is raised.
            Timer::D => Duration::from_secs(32).max(self.t1_x64()),
            Timer::I | Timer::K if reliable => Duration::ZERO,
            Timer::I | Timer::K => self.t4,
            Timer::J if reliable => Duration::ZERO,
            Timer::J => self.t1_x64(),
        }
    }

    /// The next interval of a retransmission timer capped at T2 (Timers E
    /// and G): doubles, never above T2 (RFC 3261 §17.1.2.2, §17.2.1).
    pub(crate) fn backoff_capped(&self, interval: Duration) -> Duration {
        interval.saturating_mul(2).min(self.t2)
    }
}

/// The transaction timers of RFC 3261 Table 4 and RFC 6026.
///
/// Timer C (proxy INVITE transactions) is not here: this layer serves a
/// user agent, not a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Client INVITE retransmission, UDP only (§17.1.1.2); T1, doubling.
    A,
    /// Client INVITE timeout (§17.1.1.2); 64·T1.
    B,
    /// Client INVITE wait for response retransmissions (§17.1.1.2); 32 s UDP, 0 TCP.
    D,
    /// Client non-INVITE retransmission, UDP only (§17.1.2.2); T1 doubling to T2.
    E,
    /// Client non-INVITE timeout (§17.1.2.2); 64·T1.
    F,
    /// Server INVITE final response retransmission, UDP only (§17.2.1); T1 doubling to T2.
    G,
    /// Server INVITE wait for the ACK (§17.2.1); 64·T1.
    H,
    /// Server INVITE wait for ACK retransmissions (§17.2.1); T4 UDP, 0 TCP.
    I,
    /// Server non-INVITE wait for request retransmissions (§17.2.2); 64·T1 UDP, 0 TCP.
    J,
    /// Client non-INVITE wait for response retransmissions (§17.1.2.2); T4 UDP, 0 TCP.
    K,
    /// Server INVITE wait in Accepted (RFC 6026 §8.7); 64·T1.
    L,
    /// Client INVITE wait in Accepted (RFC 6026 §8.4); 64·T1.
    M,
}

impl Timer {
    const COUNT: usize = 12;
    const ALL: [Timer; Timer::COUNT] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The running timers of one transaction: a deadline per [`Timer`], or none.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `timer` to fire `after` from `now`, replacing any earlier
    /// deadline. A deadline beyond what `Instant` can represent means
    /// "never" and leaves the timer stopped.
    pub(crate) fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.deadlines[timer.index()] = now.checked_add(after);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    #[cfg(test)]
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest deadline of any running timer.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Stops and returns the running timer with the earliest deadline at or
    /// before `now` (ties go to the earlier letter), if any.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .filter_map(|t| self.deadlines[t.index()].map(|at| (at, t)))
            .filter(|&(at, _)| at <= now)
            .min()
            .map(|(_, t)| t)?;
        self.stop(timer);
        Some(timer)
    }

    /// How many timers one call may fire at most: each timer once, so a
    /// timer re-armed with a zero interval cannot spin forever.
    pub(crate) const MAX_FIRES_PER_CALL: usize = Timer::COUNT;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::testkit::origin;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn table_4_defaults() {
        let c = TimerConfig::default();
        let s = Duration::from_secs;
        // (timer, on UDP, on TCP)
        let table = [
            (Timer::A, 500 * MS, 500 * MS),
            (Timer::B, s(32), s(32)),
            (Timer::D, s(32), Duration::ZERO),
            (Timer::E, 500 * MS, 500 * MS),
            (Timer::F, s(32), s(32)),
            (Timer::G, 500 * MS, 500 * MS),
            (Timer::H, s(32), s(32)),
            (Timer::I, s(5), Duration::ZERO),
            (Timer::J, s(32), Duration::ZERO),
            (Timer::K, s(5), Duration::ZERO),
            (Timer::L, s(32), s(32)),
            (Timer::M, s(32), s(32)),
        ];
        for (timer, udp, tcp) in table {
            assert_eq!(c.duration(timer, false), udp, "{timer:?} on UDP");
            assert_eq!(c.duration(timer, true), tcp, "{timer:?} on TCP");
        }
    }

    #[test]
    fn timer_d_covers_64_t1_when_t1_is_raised() {
        let c = TimerConfig {
            t1: Duration::from_secs(1),
            ..TimerConfig::default()
        };
        assert_eq!(c.duration(Timer::D, false), Duration::from_secs(64));
    }

    #[test]
    fn backoff_doubles_up_to_t2() {
        let c = TimerConfig::default();
        let mut interval = c.t1;
        let mut seen = vec![];
        for _ in 0..6 {
            seen.push(interval.as_millis());
            interval = c.backoff_capped(interval);
        }
        assert_eq!(seen, [500, 1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn next_timeout_is_the_earliest_running_timer() {
        let now = origin();
        let mut table = TimerTable::default();
        assert_eq!(table.next_timeout(), None);
        table.set(Timer::B, now, 32000 * MS);
        table.set(Timer::A, now, 500 * MS);
        assert_eq!(table.next_timeout(), Some(now + 500 * MS));
        table.stop(Timer::A);
        assert_eq!(table.next_timeout(), Some(now + 32000 * MS));
        table.stop_all();
        assert_eq!(table.next_timeout(), None);
    }

    #[test]
    fn pop_expired_returns_due_timers_in_deadline_order() {
        let now = origin();
        let mut table = TimerTable::default();
        table.set(Timer::B, now, 10 * MS);
        table.set(Timer::A, now, 20 * MS);
        table.set(Timer::D, now, 30 * MS);
        let later = now + 25 * MS;
        assert_eq!(table.pop_expired(later), Some(Timer::B));
        assert_eq!(table.pop_expired(later), Some(Timer::A));
        assert_eq!(table.pop_expired(later), None);
        assert_eq!(table.deadline(Timer::D), Some(now + 30 * MS));
    }

    #[test]
    fn a_deadline_past_the_representable_range_never_fires() {
        let now = origin();
        let mut table = TimerTable::default();
        table.set(Timer::A, now, Duration::MAX);
        assert_eq!(table.next_timeout(), None);
    }
}
