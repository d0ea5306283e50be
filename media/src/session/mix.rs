//! Mixing legs: a supervisor listening in, whispering, barging in.
//!
//! A bridge relays one leg's packets to one other leg untouched. When a
//! third leg joins a call (a supervisor's phone), a leg may have to hear
//! two others at once, which a relay cannot do: their audio has to be
//! decoded, added up and encoded again. A [`Mixer`] is where that happens,
//! shared by the legs of one call:
//!
//! ```text
//!   caller ──RTP──▶ session 0 ──pcm──▶ ┌───────┐ ──mix of 0+1──▶ session 2 ──RTP──▶ supervisor
//!   navigator ──▶ session 1 ──pcm──▶ │ Mixer │ ──mix of 0+2──▶ session 1 ──RTP──▶ navigator (whisper)
//!   supervisor ──▶ session 2 ──pcm──▶ └───────┘
//! ```
//!
//! Each leg joins as a numbered member ([`MediaHandle::mix`]) and names the
//! members it hears. A member's decoded audio is added to a **feed** for
//! each member that hears it. A member that hears anyone plays the mix on
//! its own 20 ms clock, like a prompt: each frame takes 20 ms from each of
//! its feeds, adds them (clipped to 16 bits) and encodes them in the leg's
//! own law, so the legs' laws may differ. While a leg plays a mix, what its
//! bridged peer relays to it is dropped (the mix has the peer's audio
//! already), and a prompt played on it wins over the mix, as over a relay.
//!
//! A member that hears nobody (the caller and the navigator while the
//! supervisor only listens) keeps its bridge as it was: listening in
//! changes nothing for them, not even the timing of their packets.
//!
//! ## Jitter and latency
//!
//! Packets arrive whenever the phones send them; frames leave on the
//! listener's clock. A feed starts being played once it holds
//! [`PRIME`] samples (40 ms): from then on a frame that arrives a little
//! late still finds the one before it waiting. A feed that runs dry is a
//! silence for that frame and primes again. A feed holds at most
//! [`MAX_FEED`] samples (120 ms), dropping the oldest, so a phone that
//! sends too fast (a clock that runs fast, a burst after a stall) adds at
//! most that much delay. A listener therefore hears the others 20–60 ms
//! later than over a bridge: a supervisor does not notice, and the caller
//! and navigator keep their direct relay unless a whisper or barge-in
//! makes them hear a third voice.
//!
//! Locks: a session holds its own lock while it takes the mixer's; the
//! mixer never takes a session's. So the media thread and the sessions'
//! tasks never wait for each other in a circle.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::FRAME_SAMPLES;

/// Members of one mix at most (a caller, a navigator, a supervisor, and
/// room for one more line).
pub const MAX_MEMBERS: usize = 4;

/// A feed is played once it holds this many samples (40 ms).
pub(super) const PRIME: usize = 2 * FRAME_SAMPLES;

/// A feed never holds more than this (120 ms); the oldest samples go.
pub(super) const MAX_FEED: usize = 6 * FRAME_SAMPLES;

/// One member's audio on its way to one listener.
#[derive(Debug, Default)]
struct Feed {
    samples: VecDeque<i16>,
    /// Enough has come to start playing it (see the module docs).
    primed: bool,
}

/// Who hears whom, and the audio on its way.
#[derive(Debug, Default)]
struct Bus {
    /// `feeds[listener][source]`: `Some` while `listener` hears `source`.
    feeds: [[Option<Feed>; MAX_MEMBERS]; MAX_MEMBERS],
}

/// The mixing point of one call's legs (see the module docs). Cheap to
/// clone; every clone is the same mixer.
#[derive(Debug, Clone, Default)]
pub struct Mixer {
    bus: Arc<Mutex<Bus>>,
}

impl Mixer {
    pub fn new() -> Mixer {
        Mixer::default()
    }

    fn lock(&self) -> MutexGuard<'_, Bus> {
        // The bus is plain data, each change made in one step.
        self.bus.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `listener` hears exactly `sources` from now on (itself excepted),
    /// each from a fresh feed. Members out of range are ignored.
    pub(super) fn set_hearing(&self, listener: usize, sources: &[usize]) {
        let mut bus = self.lock();
        let Some(row) = bus.feeds.get_mut(listener) else {
            return;
        };
        for (source, feed) in row.iter_mut().enumerate() {
            *feed = (source != listener && sources.contains(&source)).then(Feed::default);
        }
    }

    /// What `source`'s phone said: added to the feed of each member that
    /// hears it.
    pub(super) fn push(&self, source: usize, pcm: &[i16]) {
        if source >= MAX_MEMBERS {
            return;
        }
        let mut bus = self.lock();
        for row in bus.feeds.iter_mut() {
            if let Some(feed) = &mut row[source] {
                feed.samples.extend(pcm.iter().copied());
                let over = feed.samples.len().saturating_sub(MAX_FEED);
                feed.samples.drain(..over);
            }
        }
    }

    /// The next 20 ms `listener` hears: each primed feed's next frame,
    /// added up and clipped, into `out` (cleared first; always
    /// [`FRAME_SAMPLES`] long).
    pub(super) fn pull(&self, listener: usize, out: &mut Vec<i16>) {
        out.clear();
        out.resize(FRAME_SAMPLES, 0);
        let mut sum = [0i32; FRAME_SAMPLES];
        let mut bus = self.lock();
        let Some(row) = bus.feeds.get_mut(listener) else {
            return;
        };
        for feed in row.iter_mut().flatten() {
            if !feed.primed {
                if feed.samples.len() < PRIME {
                    continue;
                }
                feed.primed = true;
            }
            if feed.samples.len() < FRAME_SAMPLES {
                // Dry: this frame has what is left, then it primes again.
                feed.primed = false;
            }
            for (acc, sample) in sum
                .iter_mut()
                .zip(feed.samples.drain(..FRAME_SAMPLES.min(feed.samples.len())))
            {
                *acc += i32::from(sample);
            }
        }
        drop(bus);
        for (o, s) in out.iter_mut().zip(sum) {
            *o = s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

/// A session's place in a mix.
#[derive(Debug)]
pub(super) struct Member {
    pub mixer: Mixer,
    /// Its number in the mix.
    pub me: usize,
    /// It hears someone: it plays the mix.
    pub hearing: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: i16) -> Vec<i16> {
        vec![value; FRAME_SAMPLES]
    }

    #[test]
    fn a_listener_hears_the_sum_of_its_sources_once_they_are_primed() {
        let mixer = Mixer::new();
        mixer.set_hearing(2, &[0, 1]);
        let mut out = Vec::new();
        mixer.push(0, &frame(100));
        mixer.pull(2, &mut out);
        assert_eq!(out, frame(0), "one frame is not enough to start");
        mixer.push(0, &frame(100));
        mixer.push(1, &frame(-30));
        mixer.push(1, &frame(-30));
        mixer.pull(2, &mut out);
        assert_eq!(out, frame(70));
        // Nobody hears member 2 (nor does 2 hear itself).
        mixer.push(2, &frame(5000));
        mixer.pull(2, &mut out);
        assert_eq!(out, frame(70), "the second frames of 0 and 1");
        mixer.pull(2, &mut out);
        assert_eq!(out, frame(0), "dry: silence");
    }

    #[test]
    fn the_mix_clips_feeds_stay_bounded_and_hearing_can_change() {
        let mixer = Mixer::new();
        mixer.set_hearing(1, &[0, 2]);
        for _ in 0..20 {
            mixer.push(0, &frame(30_000));
            mixer.push(2, &frame(30_000));
        }
        let mut out = Vec::new();
        mixer.pull(1, &mut out);
        assert_eq!(out, frame(i16::MAX));
        let held = mixer.lock().feeds[1][0].as_ref().unwrap().samples.len();
        assert_eq!(held, MAX_FEED - FRAME_SAMPLES, "the oldest were dropped");
        mixer.set_hearing(1, &[2, 1, 9]);
        mixer.pull(1, &mut out);
        assert_eq!(out, frame(0), "fresh feeds, not primed");
        assert!(mixer.lock().feeds[1][0].is_none());
        assert!(mixer.lock().feeds[1][1].is_none(), "never itself");
        mixer.push(0, &frame(1));
        assert!(
            mixer.lock().feeds[1][2]
                .as_ref()
                .unwrap()
                .samples
                .is_empty()
        );
        // Out of range members change nothing and do not panic.
        mixer.push(MAX_MEMBERS, &frame(1));
        mixer.set_hearing(MAX_MEMBERS, &[0]);
        mixer.pull(MAX_MEMBERS, &mut out);
        assert_eq!(out, frame(0));
    }
}
