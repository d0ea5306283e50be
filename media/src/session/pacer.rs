//! The media thread: one pacing clock and one reader for every session.
//!
//! A session's RTP is neither sent nor read by its own task. Per call and
//! per 20 ms packet, a task of its own costs a timer in tokio's wheel, a
//! task wake-up and a trip through the task's `select!` for each packet
//! sent, and the same again for each packet received, which together cost
//! more than the packets' own work (see `bench/README.md`). Instead one
//! thread, the pacer, does both for every call:
//!
//! - **Sending.** Every playing session is in a heap ordered by when its
//!   next frame is due. Each turn sends every frame due within [`SLACK`],
//!   one after the other: for each, it locks the session (uncontended: its
//!   task only takes the lock to handle a command) and plays the frame as
//!   the pacing policy says (absolute deadlines, catch-up,
//!   `MAX_CATCH_UP`). The first frame of a talkspurt is sent by the
//!   session's own task as it handles the `play`, at once.
//! - **Reading.** Every session's socket is registered, for reading only,
//!   with the thread's own `epoll` (through mio). One wait returns every
//!   socket that has packets; each is read until it is empty (16 packets a
//!   turn at most, so one flooded socket cannot starve the others) and its
//!   packets handed to its session; a bridged session's frames go straight
//!   on to its peer (see [`bridge`](super::bridge)).
//!
//! ## Timing
//!
//! The thread waits until a millisecond before the earliest frame is due
//! (or a packet comes). A frame therefore goes out up to [`SLACK`] early,
//! or late by the thread's wake-up latency: each stream's send interval
//! stays within about a millisecond of 20 ms, which a receiver's jitter
//! buffer does not notice.
//!
//! ## Bookkeeping
//!
//! The heap and the sockets' table hold weak references: a session that
//! closes is freed at once. A session has at most one live heap entry,
//! the one whose time is in its `scheduled` field; entries left behind by a
//! `stop` or a new `play` no longer match it and are dropped when they come
//! up. The schedule's lock and a session's lock are never waited for in
//! the other order, and two sessions' locks are never held together: the
//! thread takes what it needs out of the schedule, lets it go, then locks
//! each session in turn; a session's task schedules (the schedule's lock)
//! while it holds its own session's lock, as the thread does.
//!
//! The thread starts with the first session and lives as long as the
//! process; it serves every tokio runtime in it (it needs none).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use tokio::time::Instant;
use tracing::{error, warn};

use super::bridge::PeerFrame;
use super::{RECV_BUFFER, RtpSession};

/// How early a frame may go out so that one turn covers a millisecond of
/// slots (and the thread wakes for frames at most ~1,000 times a second,
/// however many calls play).
pub(super) const SLACK: Duration = Duration::from_millis(1);

/// Packets read from one socket in one turn at most.
const READS_PER_TURN: usize = 16;

/// Ready sockets taken from one wait at most (the rest come next turn).
const EVENTS: usize = 1024;

/// Sockets read in one turn at most, so that frames falling due while
/// many sockets are read wait for a few dozen reads at most.
const SOCKETS_PER_TURN: usize = 64;

/// The token of the thread's waker; sockets count from 1.
const WAKE: Token = Token(0);

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
    /// When the thread means to wake for a frame (`None`: it is awake, or
    /// waits for packets only): a new entry due earlier must wake it.
    sleeping_until: Option<Instant>,
    waiting_for_any: bool,
    /// Each watched socket's session, by its token.
    sockets: HashMap<usize, Weak<Mutex<RtpSession>>>,
    next_token: usize,
}

/// The media thread's shared half: the schedule, the sockets' table, and
/// how to wake the thread.
pub(super) struct Pacer {
    schedule: Mutex<Schedule>,
    registry: Registry,
    waker: Waker,
}

/// The process's media thread, started with the first session; an error
/// if it could not start (then no session can play or hear anything).
pub(super) fn pacer() -> io::Result<&'static Pacer> {
    static PACER: OnceLock<Result<&'static Pacer, String>> = OnceLock::new();
    PACER
        .get_or_init(|| start().map_err(|error| error.to_string()))
        .as_ref()
        .copied()
        .map_err(|error| io::Error::other(format!("the RTP thread did not start: {error}")))
}

fn start() -> io::Result<&'static Pacer> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let registry = poll.registry().try_clone()?;
    let pacer: &'static Pacer = Box::leak(Box::new(Pacer {
        schedule: Mutex::new(Schedule {
            next_token: 1,
            ..Schedule::default()
        }),
        registry,
        waker,
    }));
    std::thread::Builder::new()
        .name("rtp".into())
        .spawn(move || pacer.run(poll))?;
    Ok(pacer)
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
            if let Err(error) = self.waker.wake() {
                error!(%error, "the RTP thread could not be woken");
            }
        }
    }

    /// Reads `fd` for `session` from now on; the token to stop with.
    pub(super) fn watch(&self, fd: RawFd, session: Weak<Mutex<RtpSession>>) -> io::Result<usize> {
        let token = {
            let mut schedule = self.lock();
            let token = schedule.next_token;
            schedule.next_token += 1;
            schedule.sockets.insert(token, session);
            token
        };
        if let Err(error) =
            self.registry
                .register(&mut SourceFd(&fd), Token(token), Interest::READABLE)
        {
            self.lock().sockets.remove(&token);
            return Err(error);
        }
        Ok(token)
    }

    /// Stops reading `fd` (before it closes).
    pub(super) fn unwatch(&self, fd: RawFd, token: usize) {
        if let Err(error) = self.registry.deregister(&mut SourceFd(&fd)) {
            warn!(%error, "RTP socket not deregistered");
        }
        self.lock().sockets.remove(&token);
    }

    fn lock(&self) -> MutexGuard<'_, Schedule> {
        // The schedule is a heap, a table and counters, each changed in
        // one step.
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self, mut poll: Poll) {
        let mut events = Events::with_capacity(EVENTS);
        let mut due: Vec<Entry> = Vec::new();
        let mut next: Vec<Entry> = Vec::new();
        let mut readable: Vec<Weak<Mutex<RtpSession>>> = Vec::new();
        let mut not_drained: Vec<Weak<Mutex<RtpSession>>> = Vec::new();
        let mut buf = vec![0; RECV_BUFFER];
        let mut relayed: Vec<PeerFrame> = Vec::new();
        loop {
            let timeout = {
                let mut schedule = self.lock();
                let now = Instant::now();
                match schedule.heap.peek() {
                    _ if !not_drained.is_empty() => Some(Duration::ZERO),
                    None => {
                        schedule.waiting_for_any = true;
                        None
                    }
                    Some(top) => {
                        let at = top.due.checked_sub(SLACK).unwrap_or(top.due);
                        schedule.sleeping_until = Some(at);
                        Some(at.saturating_duration_since(now))
                    }
                }
            };
            if let Err(error) = poll.poll(&mut events, timeout)
                && error.kind() != io::ErrorKind::Interrupted
            {
                error!(%error, "the RTP thread's wait failed");
                std::thread::sleep(SLACK);
            }
            let horizon = Instant::now() + SLACK;
            {
                let mut schedule = self.lock();
                schedule.sleeping_until = None;
                schedule.waiting_for_any = false;
                for event in &events {
                    if let Some(session) = schedule.sockets.get(&event.token().0) {
                        readable.push(session.clone());
                    }
                }
                while schedule.heap.peek().is_some_and(|e| e.due <= horizon) {
                    due.extend(schedule.heap.pop());
                }
            }
            // Frames first: they are due now; packets read a little later
            // lose nothing (the kernel queues them).
            for entry in due.drain(..) {
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
            // Sockets left over from the turn before come first; past
            // SOCKETS_PER_TURN the rest wait for the next turn, which sends
            // the frames due by then before it reads on.
            not_drained.append(&mut readable);
            let now = SOCKETS_PER_TURN.min(not_drained.len());
            readable.extend(not_drained.drain(..now));
            for weak in readable.drain(..) {
                let Some(session) = weak.upgrade() else {
                    continue; // closed
                };
                if !RtpSession::read(&session, &mut buf, &mut relayed, READS_PER_TURN) {
                    not_drained.push(weak);
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
