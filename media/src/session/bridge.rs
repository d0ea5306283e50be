//! Bridging two call legs (the B2BUA's RTP relay).
//!
//! Once a navigator answers, the caller's session and the navigator's
//! session are connected with [`MediaHandle::bridge`](super::MediaHandle::bridge):
//!
//! ```text
//!  caller ──RTP──▶ session A ──PeerFrame──▶ session B ──RTP──▶ navigator
//!  caller ◀──RTP── session A ◀──PeerFrame── session B ◀──RTP── navigator
//!            (all of it in the media thread, see `pacer`)
//! ```
//!
//! ## Why two sessions, not one relay
//!
//! Each leg keeps the one session that owns its socket and its outgoing
//! stream ([`RtpSender`](crate::rtp::RtpSender): SSRC, sequence number,
//! timestamp). Prompts, hold audio and bridged audio all leave through that
//! same sender, so the leg sees **one continuous RTP stream** whatever the
//! engine switches between (play → bridge → unbridge → hold loop → bridge
//! again after a transfer): one SSRC, sequence numbers without gaps,
//! timestamps that follow the clock. Latching (symmetric RTP), DTMF
//! detection, the receive timeout and the stats also stay where they were,
//! one place per leg. A separate relay owning both sockets would have
//! to take those over or hand them back at every switch — more states and
//! more ways to break a stream. Bridging hands each leg a [`BridgeEnd`]:
//! the peer session (weakly held) and a channel that carries nothing but
//! closes when the peer leaves; unbridging drops it.
//!
//! ## The hot path
//!
//! A packet from the caller is parsed in place (as before), then copied
//! once into a fixed-size `PeerFrame` (no heap) kept in the session's
//! outbox. Once the media thread has let that session go, it takes the
//! peer session's lock and hands it the frames directly, in the same turn
//! that read the packet: the peer converts the payload between μ-law and A-law
//! **in place** when the legs negotiated different laws (one 256-entry
//! table look-up per byte, see [`Codec::transcode_in_place`]), rewrites the
//! header onto its own stream and sends it from its reused send buffer. No
//! allocation, no channel and no second task wake-up per packet: one
//! receive and one send per direction, which is what a relay costs at
//! least. The two sessions' locks are never held together (the thread
//! takes the reading leg's, lets it go, then the peer's), so nothing that
//! takes a session's lock elsewhere (its task, a session closing) can wait
//! for another.
//!
//! ## Latency and jitter
//!
//! Nothing is buffered: each packet is forwarded the moment it arrives, in
//! the sender's own packetisation (20 ms, 30 ms…; payloads over 240 bytes,
//! 30 ms, are cut into pieces of at most that). There is no jitter buffer
//! in the relay: the legs' phones have their own, and both
//! legs are on one LAN (or loopback), so re-pacing would only add delay.
//! Packet loss on the inbound leg is not re-created on the outbound one
//! (sequence numbers are renumbered without gaps), but the timestamps carry
//! the gap, which is all a receiver's playout needs.
//!
//! ## Re-timing
//!
//! The first relayed packet (after a prompt, a silence, or a change of the
//! source's SSRC) continues this leg's stream: its timestamp is where the
//! leg's clock has got to (the last packet's timestamp plus the silence
//! since), and it carries the marker bit. Later packets keep the source's
//! timestamp spacing (`out = in + offset`), so the source's own silences
//! and losses keep their length. A source timestamp that jumps more than
//! 250 ms back or 60 s ahead of the stream is re-anchored on the clock
//! instead (a broken or restarted source).
//!
//! ## Telephone-events (RFC 4733)
//!
//! The session that receives a key press still reports it as a
//! [`MediaEvent::Digit`](super::MediaEvent::Digit) (the controller may act
//! on it or not), **and** forwards the event packets to the peer, which
//! sends them with its own leg's telephone-event payload type, on its own
//! SSRC and numbering, the event timestamp re-timed like the audio. When
//! the other leg negotiated no telephone-event, the event packets are
//! dropped there (counted in `events_not_relayed`): we do not synthesise
//! tones. In-band tones (legs without telephone-event) are in the audio
//! and cross with it.
//!
//! ## Precedence and endings
//!
//! - `bridge` stops whatever the two legs were playing (no
//!   `PlaybackFinished`, as with `stop`).
//! - A `play` on a bridged leg plays over the bridge: while the prompt
//!   plays, the peer's audio for this leg is dropped; after it, the peer's
//!   audio resumes (a whisper to the navigator, an announcement).
//! - `unbridge` on either leg ends both directions. Closing either leg (or
//!   bridging it elsewhere) ends it too; the other leg then reports
//!   [`MediaEvent::BridgeEnded`](super::MediaEvent::BridgeEnded) and goes
//!   quiet (its timestamps keep following the clock) until told to play.
//! - Hold on a leg (`send: false`) drops the peer's audio for that leg.
//!
//! ## From the call controller (the B2BUA)
//!
//! ```text
//! queued:      caller.play_loop(hold); every N s caller.announce(position)
//! offering:    nav = RtpSession::start(allocator.bind(ip), config from the
//!              offer, remote: None); the INVITE's SDP offers PCMU, PCMA and
//!              telephone-event on nav's local_addr()
//! answered:    nav.update(config from the 200 OK's answer);
//!              [nav.play(whisper); await PlaybackFinished;]
//!              caller.bridge(&nav)
//! transfer:    caller.unbridge(); caller.play_loop(hold); BYE + nav.close()
//! consult:     nav.bridge(&agency) (caller gets BridgeEnded: play_loop hold),
//!              then caller.bridge(&agency)
//! BYE:         close both legs; BridgeEnded on the survivor can be ignored
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};

use tokio::sync::mpsc;

use super::RtpSession;

use crate::g711::Codec;

/// Largest payload relayed in one piece: 30 ms of G.711. Larger packets
/// (40 or 60 ms) are cut into pieces of this size. Keeps [`PeerFrame`]
/// small: a channel's memory is whole blocks of frames.
pub(super) const MAX_RELAY_PAYLOAD: usize = 240;

/// Mapped timestamps this far behind the stream's clock are a broken
/// source, not a late packet: re-anchor (250 ms).
pub(super) const MAX_BACKWARDS: u32 = 2_000;
/// Mapped timestamps this far ahead are a broken or restarted source,
/// not a silence: re-anchor (60 s).
pub(super) const MAX_FORWARDS: u32 = 480_000;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FrameKind {
    /// G.711 audio in this law (the packet's own payload type).
    Audio(Codec),
    /// An RFC 4733 telephone-event payload.
    Event,
}

/// One packet's worth, from one leg to the other. Plain data (no heap).
pub(super) struct PeerFrame {
    pub kind: FrameKind,
    pub ssrc: u32,
    pub timestamp: u32,
    pub marker: bool,
    pub len: usize,
    pub payload: [u8; MAX_RELAY_PAYLOAD],
}

impl PeerFrame {
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.payload[..self.len]
    }
}

impl fmt::Debug for PeerFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerFrame")
            .field("kind", &self.kind)
            .field("ssrc", &self.ssrc)
            .field("timestamp", &self.timestamp)
            .field("marker", &self.marker)
            .field("len", &self.len)
            .finish()
    }
}

/// One leg's end of a bridge: the peer, and how this leg learns that the
/// peer left (unbridged, bridged elsewhere, closed).
#[derive(Debug)]
pub(super) struct BridgeEnd {
    /// The peer session; gone once it closed.
    pub peer: Weak<Mutex<RtpSession>>,
    /// Which bridge this is: the peer takes frames only while its own end
    /// has the same number (it may have left for another bridge since).
    pub link: u64,
    /// Closes when the peer drops its end; nothing is ever sent on it.
    pub peer_left: mpsc::Receiver<()>,
    /// Dropped with this end, which tells the peer.
    pub _here: mpsc::Sender<()>,
}

/// The two ends of a new bridge between sessions `a` and `b`: `a`'s end
/// names `b`, and the other way round.
pub(super) fn pair(
    a: Weak<Mutex<RtpSession>>,
    b: Weak<Mutex<RtpSession>>,
) -> (BridgeEnd, BridgeEnd) {
    static LINKS: AtomicU64 = AtomicU64::new(0);
    let link = LINKS.fetch_add(1, Ordering::Relaxed);
    let (a_here, b_peer_left) = mpsc::channel(1);
    let (b_here, a_peer_left) = mpsc::channel(1);
    (
        BridgeEnd {
            peer: b,
            link,
            peer_left: a_peer_left,
            _here: a_here,
        },
        BridgeEnd {
            peer: a,
            link,
            peer_left: b_peer_left,
            _here: b_here,
        },
    )
}

/// Maps a source's timestamps onto this leg's stream: `out = in + offset`.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    ssrc: u32,
    offset: u32,
}

/// The re-timing state of one leg's relayed packets (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Retimer {
    /// The audio stream being relayed.
    audio: Option<Anchor>,
    /// Telephone-events sent with an SSRC of their own (some gateways).
    event: Option<Anchor>,
}

impl Retimer {
    /// Forgets the anchors: the next relayed packet continues the stream
    /// from the clock (after a prompt, a hold, a new bridge).
    pub fn reset(&mut self) {
        *self = Retimer::default();
    }

    /// The timestamp for an audio packet of `ssrc` stamped `timestamp`,
    /// when it continues the anchored stream sensibly; `None` when it must
    /// be re-anchored ([`Retimer::anchor_audio`]) on the stream's clock.
    /// `next` is the stream's next timestamp.
    pub fn audio(&self, ssrc: u32, timestamp: u32, next: u32) -> Option<u32> {
        let anchor = self.audio.filter(|a| a.ssrc == ssrc)?;
        let out = timestamp.wrapping_add(anchor.offset);
        let ahead = out.wrapping_sub(next);
        let behind = next.wrapping_sub(out);
        (ahead <= MAX_FORWARDS || behind <= MAX_BACKWARDS).then_some(out)
    }

    /// Anchors `ssrc` so that `timestamp` maps to `next`; returns `next`.
    pub fn anchor_audio(&mut self, ssrc: u32, timestamp: u32, next: u32) -> u32 {
        self.audio = Some(Anchor {
            ssrc,
            offset: next.wrapping_sub(timestamp),
        });
        if self.event.is_some_and(|e| e.ssrc == ssrc) {
            self.event = None;
        }
        next
    }

    /// The timestamp for a telephone-event packet. Events on the audio's
    /// SSRC share its mapping; events on an SSRC of their own get one,
    /// anchored at `next` when first seen. `None` when there is no audio
    /// anchor to share and the event's SSRC is unknown: the caller then
    /// anchors the audio mapping on it ([`Retimer::anchor_audio`]).
    pub fn event(&mut self, ssrc: u32, timestamp: u32, next: u32) -> Option<u32> {
        if let Some(out) = self.audio(ssrc, timestamp, next) {
            return Some(out);
        }
        match (self.audio, self.event) {
            (_, Some(e)) if e.ssrc == ssrc => Some(timestamp.wrapping_add(e.offset)),
            (Some(a), _) if a.ssrc != ssrc => {
                self.event = Some(Anchor {
                    ssrc,
                    offset: next.wrapping_sub(timestamp),
                });
                Some(next)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retimer_keeps_source_spacing_and_reanchors_on_jumps_and_new_sources() {
        let mut r = Retimer::default();
        assert_eq!(r.audio(1, 1000, 50_000), None, "nothing anchored yet");
        assert_eq!(r.anchor_audio(1, 1000, 50_000), 50_000);
        assert_eq!(r.audio(1, 1160, 50_160), Some(50_160));
        // A source silence of one second keeps its length.
        assert_eq!(r.audio(1, 9320, 50_320), Some(58_320));
        // A late packet a frame back is still mapped.
        assert_eq!(r.audio(1, 1000, 50_160), Some(50_000));
        // A big jump either way, or another SSRC: re-anchor.
        assert_eq!(r.audio(1, 1000 + 10_000_000, 50_160), None);
        assert_eq!(r.audio(1, 1000u32.wrapping_sub(100_000), 50_160), None);
        assert_eq!(r.audio(2, 1160, 50_160), None);
        // Timestamps wrap.
        r.anchor_audio(3, u32::MAX - 100, 10);
        assert_eq!(r.audio(3, 59, 170), Some(170));
    }

    #[test]
    fn events_share_the_audio_mapping_or_get_their_own() {
        let mut r = Retimer::default();
        assert_eq!(r.event(1, 500, 7000), None, "no anchor: the caller anchors");
        r.anchor_audio(1, 500, 7000);
        assert_eq!(r.event(1, 500, 7160), Some(7000), "same SSRC, same mapping");
        // A gateway sending events on their own SSRC.
        assert_eq!(r.event(9, 123_456, 7320), Some(7320));
        assert_eq!(
            r.event(9, 123_456, 7480),
            Some(7320),
            "one event, one timestamp"
        );
        r.reset();
        assert_eq!(r.event(9, 123_456, 8000), None);
    }
}
