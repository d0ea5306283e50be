//! One pacing clock for every session's frames.
//!
//! A playing session's frames are not sent by its own task on its own
//! timer: that costs, for every call and every 20 ms, a timer in tokio's
//! wheel, a task wake-up and a trip through the task's `select!`, which
//! together cost more than the frame's own work (see `bench/README.md`).
//! Instead one thread, the pacer, keeps every playing session in a heap
//! ordered by when its next frame is due, wakes at most about once a
//! millisecond, and sends every frame due by then, one after the other:
//! for each, it locks the session (uncontended: its task only takes the
//! lock to handle a command or a packet) and plays the frame exactly as
//! the session's task would have (see [`RtpSession`](super::RtpSession)'s
//! pacing policy: absolute deadlines, catch-up, `MAX_CATCH_UP`).
//!
//! ## Timing
//!
//! A frame goes out in the pacer's turn that covers its slot: up to
//! [`SLACK`] early, or late by the thread's wake-up latency. Each stream's
//! send interval therefore stays within about a millisecond of 20 ms, which
//! a receiver's jitter buffer does not notice. The first frame of a
//! talkspurt is sent by the session's own task, at once, as it handles the
//! `play` (no wait for the pacer's turn); the pacer takes the next ones.
//!
//! ## Bookkeeping
//!
//! The heap holds weak references: a session that closes is freed at once,
//! and its entry is dropped when it comes up. A session has at most one
//! live entry, the one whose time is in its `scheduled` field; entries left
//! behind by a `stop` or a new `play` no longer match it and are dropped
//! when they come up. The heap's lock and a session's lock are never
//! waited for in the other order: the pacer takes a batch out of the heap,
//! lets the heap go, then plays each session; a session's task schedules
//! (heap lock) while it holds its own session's lock, as does the pacer.
//!
//! The thread starts with the first session and lives as long as the
//! process; it serves every tokio runtime in it (the sockets' sends do
//! not wait, so they need no runtime context).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;
use tracing::error;

use super::RtpSession;

/// How early a frame may go out so that one turn of the pacer covers a
/// millisecond of slots (and the thread wakes at most ~1,000 times a
/// second, however many calls play).
pub(super) const SLACK: Duration = Duration::from_millis(1);

/// A session's next frame time, in the heap.
struct Entry {
    due: Instant,
    /// Order of scheduling, so equal times keep their order.
    seq: u64,
    session: Weak<Mutex<RtpSession>>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest comes first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Default)]
struct Schedule {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// When the thread means to wake (`None`: it is awake, or waits for
    /// the first entry): a new entry due earlier must wake it.
    sleeping_until: Option<Instant>,
    waiting_for_any: bool,
}

/// The pacer: the schedule and the thread that serves it.
pub(super) struct Pacer {
    schedule: Mutex<Schedule>,
    wake: Condvar,
}

/// The process's pacer, started with the first session.
pub(super) fn pacer() -> &'static Pacer {
    static PACER: OnceLock<&'static Pacer> = OnceLock::new();
    PACER.get_or_init(|| {
        let pacer: &'static Pacer = Box::leak(Box::new(Pacer {
            schedule: Mutex::new(Schedule::default()),
            wake: Condvar::new(),
        }));
        if let Err(error) = std::thread::Builder::new()
            .name("rtp-pacer".into())
            .spawn(move || pacer.run())
        {
            // Nothing would be played: say so loudly. Sessions still
            // send the first frame of each talkspurt themselves.
            error!(%error, "the RTP pacing thread could not start");
        }
        pacer
    })
}

impl Pacer {
    /// Plays `session`'s frame due at `due` (and the ones after it).
    /// The caller holds the session's lock and has set its `scheduled`
    /// to `due`.
    pub(super) fn schedule(&self, due: Instant, session: Weak<Mutex<RtpSession>>) {
        let mut schedule = self.lock();
        schedule.seq += 1;
        let seq = schedule.seq;
        schedule.heap.push(Entry { due, seq, session });
        let wake = schedule.waiting_for_any
            || schedule
                .sleeping_until
                .is_some_and(|at| due.checked_sub(SLACK).unwrap_or(due) < at);
        if wake {
            schedule.waiting_for_any = false;
            schedule.sleeping_until = None;
            drop(schedule);
            self.wake.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Schedule> {
        // The schedule is a heap and counters, each changed in one step.
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut batch: Vec<Entry> = Vec::new();
        let mut next: Vec<Entry> = Vec::new();
        loop {
            let horizon = {
                let mut schedule = self.lock();
                loop {
                    let now = Instant::now();
                    let horizon = now + SLACK;
                    match schedule.heap.peek() {
                        None => {
                            schedule.waiting_for_any = true;
                            schedule = self
                                .wake
                                .wait(schedule)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                        Some(top) if top.due > horizon => {
                            let at = top.due - SLACK;
                            schedule.sleeping_until = Some(at);
                            schedule = self
                                .wake
                                .wait_timeout(schedule, at - now)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0;
                            schedule.sleeping_until = None;
                        }
                        Some(_) => {
                            while schedule.heap.peek().is_some_and(|e| e.due <= horizon) {
                                batch.extend(schedule.heap.pop());
                            }
                            break horizon;
                        }
                    }
                }
            };
            for entry in batch.drain(..) {
                let Some(session) = entry.session.upgrade() else {
                    continue; // closed
                };
                let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
                if session.scheduled != Some(entry.due) {
                    continue; // stopped or rescheduled since
                }
                session.scheduled = None;
                session.send_due(horizon);
                if let Some(due) = session.next_frame_at {
                    session.scheduled = Some(due);
                    next.push(Entry {
                        due,
                        seq: 0,
                        session: entry.session,
                    });
                }
            }
            if !next.is_empty() {
                let mut schedule = self.lock();
                for mut entry in next.drain(..) {
                    schedule.seq += 1;
                    entry.seq = schedule.seq;
                    schedule.heap.push(entry);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(due: Instant, seq: u64) -> Entry {
        Entry {
            due,
            seq,
            session: Weak::new(),
        }
    }

    #[test]
    fn the_heap_gives_the_earliest_first_and_keeps_the_order_of_equal_times() {
        let t = Instant::now();
        let mut heap = BinaryHeap::new();
        heap.push(entry(t + Duration::from_millis(20), 1));
        heap.push(entry(t, 3));
        heap.push(entry(t + Duration::from_millis(5), 2));
        heap.push(entry(t, 4));
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|e| e.seq)).collect();
        assert_eq!(order, [3, 4, 2, 1]);
    }
}
