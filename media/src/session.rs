//! The I/O driver: RTP ports, one RTP session per call, and the media
//! thread.
//!
//! [`PortAllocator`] hands out UDP sockets on even ports of the configured
//! range (RFC 3550 §11: RTP on an even port). [`RtpSession::start`] makes a
//! call's session and spawns the task that handles its commands; the call
//! controller talks to it through a [`MediaHandle`] and hears from it
//! through a channel of [`MediaEvent`]s. The session's packets are sent
//! and read by one thread for all calls, the media thread (see [`pacer`]),
//! not by a timer and a socket read per call in the call's task.
//!
//! What a session does:
//!
//! - **Playback.** Prompts are sent as 20 ms G.711 frames. Frame *n* of a
//!   talkspurt is due at `start + n × 20 ms` (absolute deadlines, so no
//!   drift accumulates): the first goes out at once, the next ones in the
//!   media thread's turns. `stop()` ends the talkspurt at once (barge-in).
//! - **Timestamps follow the clock.** Between talkspurts, on hold, or with
//!   no destination yet, the RTP timestamp keeps advancing with wall-clock
//!   time and the next packet carries the marker bit (RFC 3551 §4.1).
//! - **Symmetric RTP** (RFC 4961, "comedia"): packets go to the address
//!   the caller's packets come from, once one arrives — a phone behind NAT
//!   announces an address we cannot reach. Until then they go to the SDP
//!   address, and only once the dialog is confirmed (the ACK came:
//!   [`SessionConfig::confirmed`]), so an unauthenticated INVITE cannot
//!   aim our prompts at a third party. The latch is taken from the SDP
//!   address at any time, or from any source in the first
//!   [`LATCH_WINDOW`] after the media terms were set; then it never moves
//!   to another address until the terms change (a re-INVITE). Packets from
//!   any other source — audio or keys — are counted
//!   ([`SessionStats::strangers`]) and dropped: a stranger can neither take
//!   the call's audio nor press keys in it.
//! - **Digits.** Telephone-event packets go to the RFC 4733 detector.
//!   G.711 audio goes to the in-band detector only when no telephone-event
//!   was negotiated: phones that send RFC 4733 often leave the tones in the
//!   audio too, and one key press must be one digit.
//! - **Dead callers.** With a `receive_timeout`, a caller whose RTP stops
//!   for that long (a phone that lost its network never sends BYE) is
//!   reported once with [`MediaEvent::ReceiveTimeout`]; the check re-arms when
//!   packets come back and restarts on every `update`.
//! - **Robustness.** Every datagram goes through the RTP parser; anything
//!   malformed is counted and dropped, never a panic.
//! - **Hold audio.** [`MediaHandle::play_loop`] plays a list of prompts
//!   again and again (a queue's hold music and messages) until `stop`, a
//!   new `play`/`play_loop`, or a `bridge`. [`MediaHandle::announce`] plays
//!   prompts over the loop (a waiting caller's position), which then
//!   resumes where it was: one talkspurt throughout.
//! - **Bridging.** [`MediaHandle::bridge`] connects two sessions (the
//!   caller's leg and the navigator's): each forwards what its phone sends
//!   to the other, which sends it on, transcoded between PCMU and PCMA when
//!   the legs differ, on its own continuous stream. See [`bridge`].
//! - **Mixing.** [`MediaHandle::mix`] puts a session in a call's
//!   [`Mixer`]: its phone's audio goes to the members that hear it, and
//!   when it hears others it plays their mix (a supervisor listening in,
//!   whispering, barging in). See [`mix`].

use std::collections::{HashSet, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, trace, warn};

use crate::dtmf::{InbandDetector, Rfc4733Detector};
use crate::g711::Codec;
use crate::prompt::Prompt;
use crate::rtp::{RtpPacket, RtpSender};
use crate::{FRAME_DURATION, FRAME_SAMPLES};
use bridge::{BridgeEnd, FrameKind, MAX_RELAY_PAYLOAD, PeerFrame, Retimer};
pub use mix::Mixer;
pub use srtp::{SrtpKeys, SrtpSuite};

/// Why a port could not be had, or why a command could not be delivered.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Every even port of the range is taken (by our calls or by other
    /// programs).
    #[error("no free RTP port in {first}-{last}: all {count} even ports are in use")]
    PortsExhausted { first: u16, last: u16, count: usize },
    /// Binding failed for another reason than "in use" (an address that is
    /// not ours, no permission).
    #[error("cannot bind an RTP socket on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The session task has ended; the command was not delivered.
    #[error("the media session has ended")]
    Closed,
    /// A session cannot be bridged with itself.
    #[error("a media session cannot be bridged with itself")]
    BridgeToItself,
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// Hands out RTP sockets on even ports of a range, shared by all calls.
///
/// Ports are taken round-robin, so a port just released is reused last
/// (late packets of the previous call then find nobody). A port bound by
/// another program is skipped. Each socket comes with a guard that gives
/// its port back when the socket is dropped (when the session ends).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    ports: Arc<Mutex<Ports>>,
}

#[derive(Debug)]
struct Ports {
    first: u16,
    last: u16,
    /// Number of even ports in `first..=last`.
    count: usize,
    in_use: HashSet<u16>,
}

impl Ports {
    fn port(&self, index: usize) -> u16 {
        // index < count, and first + 2 * (count - 1) <= last, so this fits.
        self.first + 2 * index as u16
    }

    /// Reserves a port not handed out by us, if any: probing from a
    /// random one, so a caller cannot guess the next call's port.
    fn reserve(&mut self) -> Option<u16> {
        if self.count == 0 {
            return None;
        }
        let start = fastrand::usize(..self.count);
        for i in 0..self.count {
            let port = self.port((start + i) % self.count);
            if self.in_use.insert(port) {
                return Some(port);
            }
        }
        None
    }
}

impl PortAllocator {
    /// An allocator over the even ports of `range` (20000–29999 by
    /// default in frontdoor: 5000 calls).
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let (start, end) = (u32::from(*range.start()), u32::from(*range.end()));
        let first = start + start % 2;
        let count = if first <= end {
            ((end - first) / 2 + 1) as usize
        } else {
            0
        };
        let ports = Ports {
            // `first` exceeds u16 only when count is 0 (start 65535); then it is never used.
            first: u16::try_from(first).unwrap_or(u16::MAX),
            last: *range.end(),
            count,
            in_use: HashSet::new(),
        };
        PortAllocator {
            ports: Arc::new(Mutex::new(ports)),
        }
    }

    /// Binds a UDP socket on `ip` and a free even port of the range.
    pub async fn bind(&self, ip: IpAddr) -> Result<RtpSocket, SessionError> {
        let (first, last, count) = {
            let ports = self.lock();
            (ports.first, ports.last, ports.count)
        };
        // Ports another program holds stay reserved until this search ends,
        // so each is tried once.
        let mut busy = Vec::new();
        let mut result = Err(SessionError::PortsExhausted { first, last, count });
        loop {
            let reserved = self.lock().reserve();
            let Some(port) = reserved else { break };
            let addr = SocketAddr::new(ip, port);
            match UdpSocket::bind(addr).await {
                Ok(socket) => {
                    let guard = PortGuard {
                        ports: Arc::clone(&self.ports),
                        port,
                    };
                    result = Ok(RtpSocket {
                        socket,
                        _guard: Some(guard),
                    });
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    debug!(port, "RTP port in use by another program, skipping");
                    busy.push(port);
                }
                Err(source) => {
                    busy.push(port);
                    result = Err(SessionError::Bind { addr, source });
                    break;
                }
            }
        }
        let mut ports = self.lock();
        for port in busy {
            ports.in_use.remove(&port);
        }
        result
    }

    /// Ports currently handed out.
    pub fn in_use(&self) -> usize {
        self.lock().in_use.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ports> {
        // The state is a counter and a set, each updated in one step: a
        // panic elsewhere cannot leave it inconsistent, so poisoning is moot.
        self.ports.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Gives a port back to its allocator when dropped.
#[derive(Debug)]
struct PortGuard {
    ports: Arc<Mutex<Ports>>,
    port: u16,
}

impl Drop for PortGuard {
    fn drop(&mut self) {
        // See `PortAllocator::lock` on poisoning.
        self.ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_use
            .remove(&self.port);
    }
}

/// A bound RTP socket, holding its port for as long as it lives.
///
/// From a [`PortAllocator`], or from any `tokio::net::UdpSocket` (tests,
/// fixed ports).
#[derive(Debug)]
pub struct RtpSocket {
    // Field order matters: the socket closes before the port is released.
    socket: UdpSocket,
    _guard: Option<PortGuard>,
}

impl RtpSocket {
    /// The local address, to put in the SDP (`c=` and `m=audio <port>`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// A session's socket, read by the media thread (see [`pacer`]) and
/// written by whoever holds the session; never waited on (non-blocking).
#[derive(Debug)]
struct MediaSocket {
    // Field order matters: the socket closes before the port is released.
    socket: std::net::UdpSocket,
    _guard: Option<PortGuard>,
}

impl MediaSocket {
    /// Takes the socket away from tokio's reactor: the media thread
    /// watches it (for reading only: a socket watched for writing wakes
    /// its watcher after every packet sent, to say it is writable again).
    fn new(socket: RtpSocket) -> io::Result<MediaSocket> {
        let RtpSocket { socket, _guard } = socket;
        Ok(MediaSocket {
            socket: socket.into_std()?,
            _guard,
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl From<UdpSocket> for RtpSocket {
    fn from(socket: UdpSocket) -> Self {
        RtpSocket {
            socket,
            _guard: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Session API
// ---------------------------------------------------------------------------

/// What the SDP negotiation decided for one call's media; given at start
/// and again after each re-INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The codec we send (and the one we expect to receive).
    pub codec: Codec,
    /// Payload type of `telephone-event/8000`, if negotiated (RFC 4733 §7).
    pub telephone_event_pt: Option<u8>,
    /// The address in the peer's SDP; used until symmetric RTP latches.
    pub remote: Option<SocketAddr>,
    /// Whether we may send (false for `a=recvonly`/`a=inactive`, i.e. hold).
    pub send: bool,
    /// Report [`MediaEvent::ReceiveTimeout`] when no RTP arrives for this
    /// long. `None` when the peer is not expected to send (it put us on
    /// `a=inactive` hold) or the check is off.
    pub receive_timeout: Option<Duration>,
    /// The peer proved it wants this media: the ACK of an incoming call
    /// came, or the peer answered our INVITE. Until then nothing is sent
    /// to `remote` (only to a source that has sent us RTP). Once true it
    /// stays true through `update`s ([`MediaHandle::confirm`] sets it).
    pub confirmed: bool,
    /// SRTP keys when the call negotiated SRTP (SDES over TLS): what is
    /// sent is encrypted, and only what decrypts and authenticates under
    /// the peer's key is heard.
    pub srtp: Option<SrtpKeys>,
}

/// How long after the media terms are set (the session starts, or an
/// `update` names a new address) the first RTP source may be latched when
/// it is not the SDP address (a phone behind NAT).
pub const LATCH_WINDOW: Duration = Duration::from_secs(5);

/// How a digit reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigitSource {
    /// RTP telephone-event packets (RFC 4733).
    Rfc4733,
    /// Tones in the audio (Goertzel detection).
    Inband,
    /// A SIP INFO body. Never sent by the session: the call controller
    /// uses it for digits it parsed with [`crate::dtmf::parse_dtmf_relay`],
    /// so all digits share one type.
    SipInfo,
}

/// Counters of one session, reported when it closes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Valid RTP packets received with a payload type we handle.
    pub packets_received: u64,
    /// Datagrams that were not RTP.
    pub malformed: u64,
    /// Valid RTP with a payload type we do not handle (comfort noise,
    /// multiplexed RTCP, unnegotiated codecs).
    pub ignored: u64,
    /// Sends the socket refused.
    pub send_errors: u64,
    /// Times a frame came so late (the pacer behind) that the frame
    /// schedule was moved.
    pub late_wakeups: u64,
    /// Events dropped because the event channel was full.
    pub events_dropped: u64,
    /// Packets from the bridged peer sent on this leg (also counted in
    /// `packets_sent`).
    pub packets_relayed: u64,
    /// Telephone-event packets from the peer not sent because this leg
    /// negotiated no telephone-event.
    pub events_not_relayed: u64,
    /// RTP from a source that is neither the latched one nor the SDP
    /// address (after the latch window): dropped unheard.
    pub strangers: u64,
    /// On an SRTP call: packets that did not authenticate under the
    /// peer's key, or replays, dropped unheard.
    pub srtp_rejected: u64,
}

/// What a session tells the call controller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// The caller pressed a key.
    Digit { digit: char, source: DigitSource },
    /// Every prompt given to the last `play` has been sent (not sent after
    /// `stop`, nor when a new `play` replaced the prompts).
    PlaybackFinished,
    /// The first RTP packet from the caller arrived, from `from` (media is
    /// flowing; where it comes from is where we now send).
    FirstPacket { from: SocketAddr },
    /// No RTP from the caller for `silent` (at least the configured
    /// `receive_timeout`): the caller is probably gone. Said once until
    /// packets arrive again.
    ReceiveTimeout { silent: Duration },
    /// The bridge this session was in ended from the other side: the
    /// peer was unbridged, bridged elsewhere, or closed. This leg is quiet
    /// now (its stream's clock keeps running) until told to play or bridge.
    /// Not sent after this session's own `unbridge`.
    BridgeEnded,
    /// The session ended (`close`, every handle dropped, or a socket
    /// failure). Always the last event.
    Closed { stats: SessionStats },
}

/// Controls one session. Cheap to clone; every method returns at once
/// (commands go through an unbounded channel: they are few and small).
/// The session closes when every handle is dropped.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    commands: mpsc::UnboundedSender<Command>,
    /// The session, for a bridge's ends to name it.
    session: Weak<Mutex<RtpSession>>,
}

/// How a `Play` command's prompts play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlayMode {
    /// Once, replacing whatever plays.
    Once,
    /// Again and again, replacing whatever plays.
    Loop,
    /// Once, over a playing loop, which then resumes where it was.
    Announce,
}

#[derive(Debug)]
enum Command {
    Play {
        prompts: Vec<Prompt>,
        mode: PlayMode,
    },
    Stop,
    Update(SessionConfig),
    Confirm,
    Bridge(BridgeEnd),
    Unbridge,
    Mix {
        mixer: Mixer,
        me: usize,
        hears: Vec<usize>,
    },
    Unmix,
    Close,
}

impl MediaHandle {
    /// The dialog is confirmed (the ACK came): media may go to the SDP
    /// address from now on.
    pub fn confirm(&self) -> Result<(), SessionError> {
        self.send(Command::Confirm)
    }

    /// Plays `prompts` one after the other, replacing whatever is playing.
    /// [`MediaEvent::PlaybackFinished`] follows the last one (at once for
    /// an empty list).
    pub fn play(&self, prompts: Vec<Prompt>) -> Result<(), SessionError> {
        self.send(Command::Play {
            prompts,
            mode: PlayMode::Once,
        })
    }

    /// Plays `prompts` one after the other, then again from the first,
    /// until `stop`, another `play`/`play_loop`, a `bridge` or `close`
    /// (a waiting caller's hold audio). Replaces whatever is playing, on
    /// the same stream. Never sends [`MediaEvent::PlaybackFinished`],
    /// except at once when there is nothing to play (an empty list).
    pub fn play_loop(&self, prompts: Vec<Prompt>) -> Result<(), SessionError> {
        self.send(Command::Play {
            prompts,
            mode: PlayMode::Loop,
        })
    }

    /// Plays `prompts` once over the loop playing now (a waiting caller's
    /// position and expected wait, over the hold music); when they end,
    /// [`MediaEvent::PlaybackFinished`] is sent and the loop resumes where
    /// it was interrupted, on the same stream. Without a loop playing, the
    /// same as [`MediaHandle::play`]. Another `announce` replaces the
    /// announcement, not the loop; `stop`, `play`, `play_loop` and `bridge`
    /// end both.
    pub fn announce(&self, prompts: Vec<Prompt>) -> Result<(), SessionError> {
        self.send(Command::Play {
            prompts,
            mode: PlayMode::Announce,
        })
    }

    /// Connects this session and `other` (a caller's leg and a navigator's
    /// leg): from now on each sends the other's audio and telephone-events
    /// to its own phone, transcoded when the legs' codecs differ (see the
    /// [`bridge`] module). Stops what either leg was playing. A session
    /// already bridged leaves its old bridge (its old peer gets
    /// [`MediaEvent::BridgeEnded`]).
    pub fn bridge(&self, other: &MediaHandle) -> Result<(), SessionError> {
        if self.commands.same_channel(&other.commands) {
            return Err(SessionError::BridgeToItself);
        }
        let (mine, theirs) = bridge::pair(self.session.clone(), other.session.clone());
        // If this session has ended, `other` sees its end dropped at once
        // and leaves the bridge again (with a BridgeEnded).
        other.send(Command::Bridge(theirs))?;
        self.send(Command::Bridge(mine))
    }

    /// Leaves the bridge, in both directions: the peer gets
    /// [`MediaEvent::BridgeEnded`]. Both legs go quiet until told to play.
    /// Nothing happens when the session is not bridged.
    pub fn unbridge(&self) -> Result<(), SessionError> {
        self.send(Command::Unbridge)
    }

    /// Makes this session member `me` of `mixer` (see [`mix`]): what its
    /// phone says goes to the members that hear it, and it hears exactly
    /// `hears` (none: it keeps its bridge, or its silence, as it was; some:
    /// it plays their mix instead of what a bridge relays). Sent again,
    /// it changes whom the session hears. Members count from 0, below
    /// [`mix::MAX_MEMBERS`].
    pub fn mix(&self, mixer: &Mixer, me: usize, hears: &[usize]) -> Result<(), SessionError> {
        self.send(Command::Mix {
            mixer: mixer.clone(),
            me,
            hears: hears.to_vec(),
        })
    }

    /// Leaves the mix: the session hears its bridge again (or nothing).
    /// Nothing happens when it is in no mix.
    pub fn unmix(&self) -> Result<(), SessionError> {
        self.send(Command::Unmix)
    }

    /// Stops playing at once (barge-in); no `PlaybackFinished`.
    pub fn stop(&self) -> Result<(), SessionError> {
        self.send(Command::Stop)
    }

    /// Applies a renegotiated configuration (re-INVITE): new codec,
    /// telephone-event payload type, remote address or direction.
    pub fn update(&self, config: SessionConfig) -> Result<(), SessionError> {
        self.send(Command::Update(config))
    }

    /// Ends the session; [`MediaEvent::Closed`] follows.
    pub fn close(&self) -> Result<(), SessionError> {
        self.send(Command::Close)
    }

    /// Whether the session task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    fn send(&self, command: Command) -> Result<(), SessionError> {
        self.commands
            .send(command)
            .map_err(|_| SessionError::Closed)
    }
}

/// Events buffered for a slow call controller before they are dropped
/// (the session never waits for the controller: audio would stall).
const EVENT_CAPACITY: usize = 64;

/// How late a frame may be sent before the schedule moves instead.
///
/// Pacing policy. Frame *n* is due at `start + n × 20 ms`; the pacer sends
/// it in its turn that covers that absolute instant, so timer jitter never
/// accumulates into drift. When the pacer comes a little late (under this
/// limit), the due frames are sent back to back to get back onto the grid:
/// a receiver's jitter buffer absorbs a few tens of milliseconds. When it
/// comes later
/// than that (an overloaded host, a suspended VM), bursting out a long
/// backlog would overflow the receiver's buffer, so the missed frame slots
/// become a silence instead: the RTP timestamp jumps by the missed time (so
/// the receiver plays out in step with the clock), the next packet carries
/// the marker bit, and the prompt resumes where it was — no audio is lost.
const MAX_CATCH_UP: Duration = Duration::from_millis(60);

/// Stop reading the socket after this many errors in a row (it is broken).
const MAX_SOCKET_ERRORS: u32 = 100;

/// Receive buffer: RTP over UDP stays under an Ethernet MTU.
const RECV_BUFFER: usize = 2048;

/// Packets already queued on the socket that are still read when the
/// session closes (a flood's are not all).
const READS_AT_CLOSE: usize = 64;

/// One call's media (see the module docs). Created by
/// [`RtpSession::start`]; shared, behind a lock, by the session's task (its
/// commands) and the media thread (its packets, both ways).
#[derive(Debug)]
pub struct RtpSession {
    /// The socket, to send on; `None` once the session has closed.
    socket: Option<Arc<MediaSocket>>,
    /// This session, as the pacer holds it.
    me: Weak<Mutex<RtpSession>>,
    /// The time of the pacer's live entry for this session (see
    /// [`pacer`]), if it has one.
    scheduled: Option<Instant>,
    config: SessionConfig,
    /// The SRTP contexts when `config.srtp` names keys.
    srtp: Option<srtp::Srtp>,
    events: mpsc::Sender<MediaEvent>,
    sender: RtpSender,
    /// Prompts still to play; the first is playing.
    queue: VecDeque<Prompt>,
    /// Whether a finished prompt goes back to the end of the queue.
    looping: bool,
    /// A loop interrupted by an announcement, and its next frame.
    suspended_loop: Option<(VecDeque<Prompt>, usize)>,
    /// The bridge to another session, if any.
    bridge: Option<BridgeEnd>,
    /// Re-timing of the packets relayed from the peer.
    retimer: Retimer,
    /// The mix this session is in, if any (see [`mix`]).
    mix: Option<mix::Member>,
    /// The mix's audio, decoded and to encode (reused).
    mix_pcm: Vec<i16>,
    mix_codes: Vec<u8>,
    /// Next frame of `queue[0]`.
    frame_index: usize,
    /// When the next frame is due; `Some` exactly while playing.
    next_frame_at: Option<Instant>,
    /// The time slot of the last frame played (sent or not): timestamps
    /// of the next talkspurt count from it.
    last_frame_at: Option<Instant>,
    /// Where the caller's RTP comes from (symmetric RTP).
    latched: Option<SocketAddr>,
    /// Until when a source other than the SDP address may be latched.
    latch_until: Instant,
    first_packet_seen: bool,
    /// When the last RTP packet arrived (or the session started, or was
    /// updated), and whether its silence was already reported.
    last_received_at: Instant,
    silence_reported: bool,
    /// SSRC of the telephone-event and audio streams each detector follows
    /// (some gateways send events with their own SSRC).
    event_ssrc: Option<u32>,
    audio_ssrc: Option<u32>,
    rfc4733: Rfc4733Detector,
    inband: InbandDetector,
    stats: SessionStats,
    send_buf: Vec<u8>,
    /// Frames read from this leg's phone for the bridged peer, handed over
    /// once this session's lock is let go (see [`bridge`]).
    outbox: Vec<PeerFrame>,
    pcm: Vec<i16>,
    digits: Vec<char>,
    /// Receive errors in a row; at [`MAX_SOCKET_ERRORS`] the socket is
    /// broken, and the task ends the session.
    socket_errors: u32,
    socket_broken: bool,
    /// Tells the task to look at the session again (the socket broke, or
    /// the caller's silence is to be watched again).
    attention: Arc<Notify>,
}

/// The task of one session: waits for its commands, its bridged peer's
/// leaving, its caller's silence and a broken socket, and hands each to
/// the session. The session's packets are sent and read by the media
/// thread ([`pacer`]).
struct SessionTask {
    session: Arc<Mutex<RtpSession>>,
    socket: Arc<MediaSocket>,
    /// The socket's token with the media thread.
    token: usize,
    attention: Arc<Notify>,
    commands: mpsc::UnboundedReceiver<Command>,
}

/// A handle to a session that ended before it began (`error` says why):
/// its events say `Closed` and its commands fail.
fn ended_at_once(
    error: &io::Error,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Sender<MediaEvent>,
) -> MediaHandle {
    warn!(%error, "RTP session could not start: the call has no media");
    let stats = SessionStats::default();
    if events.try_send(MediaEvent::Closed { stats }).is_err() {
        debug!("Closed event not delivered");
    }
    MediaHandle {
        commands,
        session: Weak::new(),
    }
}

impl RtpSession {
    /// Spawns the session task for one call on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn start(
        socket: impl Into<RtpSocket>,
        config: SessionConfig,
    ) -> (MediaHandle, mpsc::Receiver<MediaEvent>) {
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
        let started = MediaSocket::new(socket.into()).and_then(|s| Ok((s, pacer::pacer()?)));
        let (socket, pacer) = match started {
            Ok((socket, pacer)) => (Arc::new(socket), pacer),
            Err(error) => return (ended_at_once(&error, command_tx, event_tx), event_rx),
        };
        let attention = Arc::new(Notify::new());
        let session = Arc::new_cyclic(|me| {
            Mutex::new(RtpSession {
                socket: Some(Arc::clone(&socket)),
                me: me.clone(),
                scheduled: None,
                config,
                srtp: srtp_for(config.srtp),
                events: event_tx,
                sender: RtpSender::new(config.codec.payload_type()),
                queue: VecDeque::new(),
                looping: false,
                suspended_loop: None,
                bridge: None,
                retimer: Retimer::default(),
                mix: None,
                mix_pcm: Vec::with_capacity(FRAME_SAMPLES),
                mix_codes: Vec::with_capacity(FRAME_SAMPLES),
                frame_index: 0,
                next_frame_at: None,
                last_frame_at: None,
                latched: None,
                latch_until: Instant::now() + LATCH_WINDOW,
                first_packet_seen: false,
                last_received_at: Instant::now(),
                silence_reported: false,
                event_ssrc: None,
                audio_ssrc: None,
                rfc4733: Rfc4733Detector::new(),
                inband: InbandDetector::new(),
                stats: SessionStats::default(),
                send_buf: Vec::with_capacity(crate::rtp::HEADER_LEN + FRAME_SAMPLES),
                outbox: Vec::new(),
                pcm: Vec::with_capacity(FRAME_SAMPLES),
                digits: Vec::new(),
                socket_errors: 0,
                socket_broken: false,
                attention: Arc::clone(&attention),
            })
        });
        // Out of memory or of epoll watches: the call has no media.
        let token = match pacer.watch(socket.fd(), Arc::downgrade(&session)) {
            Ok(token) => token,
            Err(error) => {
                let events = lock(&session).events.clone();
                return (ended_at_once(&error, command_tx, events), event_rx);
            }
        };
        let handle = MediaHandle {
            commands: command_tx,
            session: Arc::downgrade(&session),
        };
        let task = SessionTask {
            session,
            socket,
            token,
            attention,
            commands: command_rx,
        };
        tokio::spawn(task.run());
        (handle, event_rx)
    }

    /// Sends every frame due by `horizon`: one normally, a backlog after a
    /// late wake-up (see `MAX_CATCH_UP`).
    fn send_due(&mut self, horizon: Instant) {
        while self.next_frame_at.is_some_and(|due| due <= horizon) {
            self.on_frame_due();
        }
    }

    /// After a command: sends a frame that is due now (the first of a
    /// talkspurt goes out at once), and gives the next one to the pacer
    /// unless its entry already comes in time.
    fn pump(&mut self) {
        if self.mixing() && self.next_frame_at.is_none() {
            // Hearing a mix: it plays whenever no prompt does.
            self.start_talkspurt();
        }
        self.send_due(Instant::now());
        if let Some(due) = self.next_frame_at
            && self.scheduled.is_none_or(|at| at > due)
        {
            self.scheduled = Some(due);
            if let Ok(pacer) = pacer::pacer() {
                pacer.schedule(due, self.me.clone());
            }
        }
    }

    /// When the caller's silence is to be reported, if it is watched.
    fn silence_deadline(&self) -> Option<Instant> {
        self.config
            .receive_timeout
            .filter(|_| !self.silence_reported)
            .map(|timeout| self.last_received_at + timeout)
    }

    /// The silence timer rang: reports the silence if it is still due
    /// (packets that came since moved the deadline).
    fn on_silence_timer(&mut self) {
        if self
            .silence_deadline()
            .is_some_and(|deadline| deadline <= Instant::now())
        {
            self.silence_reported = true;
            let silent = self.last_received_at.elapsed();
            debug!(?silent, "no RTP from the peer");
            self.emit(MediaEvent::ReceiveTimeout { silent });
        }
    }

    /// Ready when the bridged peer has left the bridge. Never ready
    /// without a bridge.
    fn poll_peer_left(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.bridge {
            // Nothing is ever sent: any answer is the channel closing.
            Some(end) => end.peer_left.poll_recv(cx).map(|_| ()),
            None => Poll::Pending,
        }
    }

    /// Takes a frame from the bridged peer's phone, if this session is
    /// still on that bridge (`link`).
    fn take_from_peer(&mut self, link: u64, frames: &mut Vec<PeerFrame>) {
        if self.bridge.as_ref().is_some_and(|end| end.link == link) {
            for frame in frames.drain(..) {
                self.on_peer_frame(frame);
            }
        }
        frames.clear();
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Play { prompts, mode } => {
                let prompts: VecDeque<Prompt> = prompts
                    .into_iter()
                    .filter(|p| p.frame_count() > 0)
                    .collect();
                if mode == PlayMode::Announce && self.looping && !self.queue.is_empty() {
                    // Keep the loop's place; the announcement plays now.
                    let looped = std::mem::take(&mut self.queue);
                    self.suspended_loop = Some((looped, self.frame_index));
                } else if mode != PlayMode::Announce {
                    self.suspended_loop = None;
                }
                self.queue = prompts;
                self.looping = mode == PlayMode::Loop;
                self.frame_index = 0;
                if self.queue.is_empty() {
                    self.emit(MediaEvent::PlaybackFinished);
                    if !self.resume_loop() {
                        self.end_talkspurt();
                    }
                } else if self.next_frame_at.is_none() {
                    self.start_talkspurt();
                }
                // Already playing: the new prompts continue on the same
                // frame grid, one continuous talkspurt.
            }
            Command::Stop => {
                self.queue.clear();
                self.suspended_loop = None;
                self.end_talkspurt();
            }
            Command::Update(config) => self.update(config),
            Command::Confirm => {
                if !self.config.confirmed {
                    debug!("media confirmed: sending to the SDP address");
                    self.config.confirmed = true;
                }
            }
            Command::Bridge(end) => {
                // Like stop(): no PlaybackFinished for what was playing.
                self.queue.clear();
                self.suspended_loop = None;
                self.end_talkspurt();
                self.retimer.reset();
                if self.bridge.replace(end).is_some() {
                    debug!("RTP session left its bridge for a new one");
                } else {
                    debug!("RTP session bridged");
                }
            }
            Command::Unbridge => {
                if self.bridge.take().is_some() {
                    debug!("RTP session unbridged");
                    self.end_relay();
                }
            }
            Command::Mix { mixer, me, hears } => {
                mixer.set_hearing(me, &hears);
                let hearing = !hears.is_empty() && me < mix::MAX_MEMBERS;
                debug!(me, ?hears, "RTP session mixing");
                if let Some(old) = self.mix.replace(mix::Member { mixer, me, hearing })
                    && old.hearing
                    && !hearing
                {
                    self.leave_mix_audio();
                }
            }
            Command::Unmix => {
                if let Some(old) = self.mix.take() {
                    debug!("RTP session left its mix");
                    old.mixer.set_hearing(old.me, &[]);
                    if old.hearing {
                        self.leave_mix_audio();
                    }
                }
            }
            Command::Close => {} // handled by the run loop
        }
    }

    /// It plays a mix (see [`mix`]).
    fn mixing(&self) -> bool {
        self.mix.as_ref().is_some_and(|m| m.hearing)
    }

    /// The session stops playing a mix: unless a prompt plays, the
    /// talkspurt ends, and a bridge's relay continues from the clock.
    fn leave_mix_audio(&mut self) {
        if self.queue.is_empty() {
            self.end_talkspurt();
        }
        self.retimer.reset();
    }

    /// Plays the mix's next frame to `target` (nothing sent without one:
    /// on hold, or no address yet; the feeds are drained all the same).
    fn play_mix(&mut self, target: Option<SocketAddr>) {
        let Some(member) = &self.mix else {
            return;
        };
        member.mixer.pull(member.me, &mut self.mix_pcm);
        match target {
            Some(target) => {
                self.mix_codes.clear();
                self.config
                    .codec
                    .encode_into(&self.mix_pcm, &mut self.mix_codes);
                self.sender.next_packet(&mut self.send_buf, &self.mix_codes);
                self.transmit(target);
            }
            None => self.sender.skip(FRAME_SAMPLES as u32),
        }
    }

    fn update(&mut self, mut config: SessionConfig) {
        let old = self.config;
        config.confirmed |= old.confirmed;
        if config.codec != old.codec {
            self.sender.set_payload_type(config.codec.payload_type());
        }
        if config.telephone_event_pt != old.telephone_event_pt {
            self.rfc4733.reset();
            self.inband.reset();
        }
        if config.srtp != old.srtp {
            // New keys (a re-INVITE's offer): new contexts.
            self.srtp = srtp_for(config.srtp);
        }
        if config.remote != old.remote {
            // The peer moved its media: wait for its packets again.
            self.latched = None;
            self.latch_until = Instant::now() + LATCH_WINDOW;
        }
        // Relayed audio re-anchors on the stream's clock under new terms.
        self.retimer.reset();
        // New media terms (hold, unhold, a new address): the peer gets a
        // whole receive_timeout to start sending under them.
        self.last_received_at = Instant::now();
        self.silence_reported = false;
        debug!(?old, new = ?config, "RTP session updated");
        self.config = config;
    }

    /// Starts sending: the first frame is due now, or 20 ms after the last
    /// one if that is later, so packets are never closer than 20 ms.
    fn start_talkspurt(&mut self) {
        let now = Instant::now();
        let start = match self.last_frame_at {
            Some(last) => {
                let start = now.max(last + FRAME_DURATION);
                // The timestamp already counts the last frame; add the
                // silence since its slot ended.
                let silence =
                    samples(start.duration_since(last)).saturating_sub(FRAME_SAMPLES as u32);
                self.sender.skip(silence);
                start
            }
            None => now,
        };
        self.sender.end_talkspurt();
        self.next_frame_at = Some(start);
        // Relayed audio after this talkspurt continues from the clock.
        self.retimer.reset();
    }

    fn end_talkspurt(&mut self) {
        self.next_frame_at = None;
        self.sender.end_talkspurt();
    }

    /// Plays the frame that is due: sends it, or lets its time pass when
    /// sending is off or there is nowhere to send.
    fn on_frame_due(&mut self) {
        let Some(mut slot) = self.next_frame_at else {
            return;
        };
        let late = Instant::now().saturating_duration_since(slot);
        if late > MAX_CATCH_UP {
            // See MAX_CATCH_UP: turn the missed slots into silence.
            let missed = (late.as_nanos() / FRAME_DURATION.as_nanos()) as u32;
            self.sender.skip(missed * FRAME_SAMPLES as u32);
            slot += FRAME_DURATION * missed;
            self.stats.late_wakeups += 1;
            debug!(?late, missed, "RTP session woke late; frame schedule moved");
        }
        let target = self.target().filter(|_| self.config.send);
        let Some(prompt) = self.queue.front() else {
            if self.mixing() {
                self.play_mix(target);
                self.last_frame_at = Some(slot);
                self.next_frame_at = Some(slot + FRAME_DURATION);
            } else {
                self.end_talkspurt();
            }
            return;
        };
        let frames = prompt.frame_count();
        match (prompt.frame(self.config.codec, self.frame_index), target) {
            (Some(frame), Some(target)) => {
                self.sender.next_packet(&mut self.send_buf, frame);
                self.transmit(target);
            }
            // On hold, or no address yet: time passes, nothing is sent.
            _ => self.sender.skip(FRAME_SAMPLES as u32),
        }
        self.last_frame_at = Some(slot);
        self.frame_index += 1;
        if self.frame_index >= frames {
            let finished = self.queue.pop_front();
            if self.looping
                && let Some(prompt) = finished
            {
                self.queue.push_back(prompt);
            }
            self.frame_index = 0;
        }
        if self.queue.is_empty() {
            self.emit(MediaEvent::PlaybackFinished);
            if !self.resume_loop() && !self.mixing() {
                self.end_talkspurt();
                return;
            }
        }
        self.next_frame_at = Some(slot + FRAME_DURATION);
    }

    /// After an announcement: the interrupted loop takes over where it
    /// was, on the same frame grid. Whether there was one.
    fn resume_loop(&mut self) -> bool {
        let Some((queue, frame_index)) = self.suspended_loop.take() else {
            return false;
        };
        self.queue = queue;
        self.frame_index = frame_index;
        self.looping = true;
        if self.next_frame_at.is_none() {
            self.start_talkspurt();
        }
        true
    }

    /// Where packets go: the latched source, else the SDP address once the
    /// dialog is confirmed.
    fn target(&self) -> Option<SocketAddr> {
        self.latched
            .or(self.config.remote.filter(|_| self.config.confirmed))
    }

    fn handle_packet(&mut self, datagram: &[u8], from: SocketAddr) {
        // On an SRTP call the payload (and any padding) is ciphertext: the
        // source is checked on the plain header, then the packet must
        // authenticate before anything in it is believed.
        let unprotected;
        let datagram = if self.config.srtp.is_none() {
            datagram
        } else {
            if datagram.len() < crate::rtp::HEADER_LEN || datagram[0] >> 6 != 2 {
                self.stats.malformed += 1;
                trace!(%from, "dropping a datagram that is not SRTP");
                return;
            }
            if srtp::is_rtcp(datagram) {
                self.stats.ignored += 1;
                return;
            }
            if !self.acceptable(from) {
                self.stats.strangers += 1;
                trace!(%from, "dropping SRTP from a source that is not the call's");
                return;
            }
            // Keys without contexts: nothing is heard.
            let Some(srtp) = self.srtp.as_mut() else {
                self.stats.srtp_rejected += 1;
                return;
            };
            match srtp.unprotect(datagram) {
                Ok(plain) => {
                    unprotected = plain;
                    self.accept(from);
                    &unprotected[..]
                }
                Err(error) => {
                    self.stats.srtp_rejected += 1;
                    trace!(%from, %error, "dropping SRTP that does not authenticate");
                    return;
                }
            }
        };
        let packet = match RtpPacket::parse(datagram) {
            Ok(packet) => packet,
            Err(error) => {
                self.stats.malformed += 1;
                trace!(%from, %error, "dropping a datagram that is not RTP");
                return;
            }
        };
        if self.config.srtp.is_none() && !self.accept(from) {
            self.stats.strangers += 1;
            trace!(%from, "dropping RTP from a source that is not the call's");
            return;
        }
        // Any RTP, even a payload type we ignore (comfort noise), shows
        // the peer is alive.
        self.last_received_at = Instant::now();
        if self.silence_reported {
            // The task watches the silence again.
            self.silence_reported = false;
            self.attention.notify_one();
        }
        let pt = packet.payload_type();
        let is_event = self.config.telephone_event_pt == Some(pt);
        // Decode by the packet's own payload type: a peer that offered both
        // laws may send either.
        let audio = if is_event {
            None
        } else {
            Codec::from_payload_type(pt)
        };
        if !is_event && audio.is_none() {
            self.stats.ignored += 1;
            trace!(%from, pt, "ignoring an RTP payload type we do not handle");
            return;
        }
        self.stats.packets_received += 1;
        let ssrc = packet.ssrc();
        if !self.first_packet_seen {
            self.first_packet_seen = true;
            self.emit(MediaEvent::FirstPacket { from });
        }
        if self.bridge.is_some() {
            let kind = audio.map_or(FrameKind::Event, FrameKind::Audio);
            self.forward(kind, &packet);
        }
        if let (Some(member), Some(codec)) = (&self.mix, audio) {
            self.mix_pcm.clear();
            codec.decode_into(packet.payload(), &mut self.mix_pcm);
            member.mixer.push(member.me, &self.mix_pcm);
        }

        if is_event {
            if self.event_ssrc.replace(ssrc).is_some_and(|old| old != ssrc) {
                // A new stream numbers its events afresh.
                self.rfc4733.reset();
            }
            if let Some(digit) =
                self.rfc4733
                    .feed(packet.timestamp(), packet.sequence(), packet.payload())
            {
                self.emit(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Rfc4733,
                });
            }
        } else if let Some(codec) = audio
            && self.config.telephone_event_pt.is_none()
        {
            if self.audio_ssrc.replace(ssrc).is_some_and(|old| old != ssrc) {
                self.inband.reset();
            }
            self.pcm.clear();
            codec.decode_into(packet.payload(), &mut self.pcm);
            self.digits.clear();
            self.inband.feed(&self.pcm, &mut self.digits);
            for i in 0..self.digits.len() {
                let digit = self.digits[i];
                self.emit(MediaEvent::Digit {
                    digit,
                    source: DigitSource::Inband,
                });
            }
        }
    }

    /// Puts a packet from this leg's phone in the outbox for the bridged
    /// peer, in pieces of at most [`MAX_RELAY_PAYLOAD`] bytes (G.711 only;
    /// an event is one piece, or dropped if larger).
    fn forward(&mut self, kind: FrameKind, packet: &RtpPacket<'_>) {
        let payload = packet.payload();
        if payload.is_empty() || (kind == FrameKind::Event && payload.len() > MAX_RELAY_PAYLOAD) {
            return;
        }
        let mut timestamp = packet.timestamp();
        let mut marker = packet.marker();
        for piece in payload.chunks(MAX_RELAY_PAYLOAD) {
            let mut frame = PeerFrame {
                kind,
                ssrc: packet.ssrc(),
                timestamp,
                marker,
                len: piece.len(),
                payload: [0; MAX_RELAY_PAYLOAD],
            };
            frame.payload[..piece.len()].copy_from_slice(piece);
            self.outbox.push(frame);
            // G.711: one byte per sample.
            timestamp = timestamp.wrapping_add(piece.len() as u32);
            marker = false;
        }
    }

    /// Sends a frame from the bridged peer to this leg's phone, re-timed
    /// onto this leg's stream (see [`bridge`]).
    fn on_peer_frame(&mut self, mut frame: PeerFrame) {
        if self.next_frame_at.is_some() {
            // A prompt is playing on this leg: it wins over the peer.
            return;
        }
        let Some(target) = self.target().filter(|_| self.config.send) else {
            // On hold or nowhere to send: the stream resumes from the clock.
            self.retimer.reset();
            return;
        };
        let now = Instant::now();
        let next = self.sender.timestamp();
        match frame.kind {
            FrameKind::Audio(codec) => {
                let timestamp = match self.retimer.audio(frame.ssrc, frame.timestamp, next) {
                    Some(timestamp) => timestamp,
                    None => {
                        let next = self.resume_from_clock(now);
                        self.retimer.anchor_audio(frame.ssrc, frame.timestamp, next)
                    }
                };
                let to = self.config.codec;
                let marker = frame.marker;
                let payload = frame.payload_mut();
                codec.transcode_in_place(to, payload);
                self.sender
                    .relay_packet(&mut self.send_buf, payload, timestamp, marker);
                // The slot this packet's last 20 ms occupy: a prompt after
                // it starts 20 ms later, with the silence counted from there.
                let samples = payload.len() as u32;
                let end = now + Duration::from_micros(125 * u64::from(samples));
                self.last_frame_at = Some(end.checked_sub(FRAME_DURATION).unwrap_or(now));
            }
            FrameKind::Event => {
                let Some(pt) = self.config.telephone_event_pt else {
                    self.stats.events_not_relayed += 1;
                    return;
                };
                let timestamp = match self.retimer.event(frame.ssrc, frame.timestamp, next) {
                    Some(timestamp) => timestamp,
                    None => {
                        let next = self.resume_from_clock(now);
                        self.retimer.anchor_audio(frame.ssrc, frame.timestamp, next)
                    }
                };
                let marker = frame.marker;
                self.sender.event_packet(
                    &mut self.send_buf,
                    pt,
                    timestamp,
                    marker,
                    frame.payload_mut(),
                );
            }
        }
        if self.transmit(target) {
            self.stats.packets_relayed += 1;
        }
    }

    /// Sends the packet in `send_buf`, encrypted on an SRTP call (keys
    /// without contexts: nothing goes out in the clear); whether it went.
    fn transmit(&mut self, target: SocketAddr) -> bool {
        let protected;
        let bytes: &[u8] = match self.srtp.as_mut() {
            Some(srtp) => match srtp.protect(&self.send_buf) {
                Ok(p) => {
                    protected = p;
                    &protected
                }
                Err(error) => {
                    self.stats.send_errors += 1;
                    debug!(%error, "RTP packet not protected: not sent");
                    return false;
                }
            },
            None if self.config.srtp.is_some() => {
                self.stats.send_errors += 1;
                return false;
            }
            None => &self.send_buf,
        };
        let Some(socket) = &self.socket else {
            return false;
        };
        match socket.socket.send_to(bytes, target) {
            Ok(_) => {
                self.stats.packets_sent += 1;
                true
            }
            Err(error) => {
                self.stats.send_errors += 1;
                debug!(%target, %error, "RTP send failed");
                false
            }
        }
    }

    /// Brings the stream's timestamp up to the clock after a silence (as
    /// a new talkspurt would) and returns it; the next packet is marked.
    fn resume_from_clock(&mut self, now: Instant) -> u32 {
        if let Some(last) = self.last_frame_at {
            let silence =
                samples(now.saturating_duration_since(last)).saturating_sub(FRAME_SAMPLES as u32);
            self.sender.skip(silence);
        }
        self.sender.end_talkspurt();
        self.sender.timestamp()
    }

    /// The peer left the bridge (unbridged, bridged elsewhere, closed).
    fn peer_left(&mut self) {
        if self.bridge.take().is_some() {
            debug!("bridged peer left");
            self.end_relay();
            self.emit(MediaEvent::BridgeEnded);
        }
    }

    /// After relaying: the next packet (a prompt) starts a talkspurt, and
    /// a later bridge re-anchors.
    fn end_relay(&mut self) {
        self.retimer.reset();
        if self.next_frame_at.is_none() {
            self.sender.end_talkspurt();
        }
    }

    /// Whether RTP from `from` is the call's, latching it when it may be
    /// (symmetric RTP, RFC 4961): the SDP address always may; another
    /// source only while nothing is latched and the latch window is open
    /// (a phone behind NAT sends from an address it cannot announce).
    /// Once latched, only that address (and the SDP address, which takes
    /// the latch over) is heard; another one, whatever its SSRC, is a
    /// stranger until the media terms change.
    fn accept(&mut self, from: SocketAddr) -> bool {
        if !self.acceptable(from) {
            return false;
        }
        // Nothing can be sent to port 0, so it is never latched.
        if from.port() != 0 && self.latched != Some(from) {
            match self.latched {
                // The address the signalling named takes the latch back
                // from whoever won the race in the window.
                Some(latched) => info!(%latched, %from, "RTP re-latched to the SDP address"),
                None => debug!(%from, "RTP latched"),
            }
            self.latched = Some(from);
        }
        true
    }

    /// Whether [`RtpSession::accept`] would take a packet from `from`,
    /// changing nothing (an SRTP packet latches only once it authenticates).
    fn acceptable(&self, from: SocketAddr) -> bool {
        let sdp = self.config.remote;
        if from.port() == 0 {
            // A raw socket on the phone's own host shows it (sipp's pcap player).
            let ip = from.ip();
            return self.latched.map(|a| a.ip()) == Some(ip) || sdp.map(|a| a.ip()) == Some(ip);
        }
        match self.latched {
            Some(latched) => latched == from || sdp == Some(from),
            None => sdp == Some(from) || Instant::now() < self.latch_until,
        }
    }

    /// Sends an event without waiting: a stuck controller must not stall
    /// the audio. Dropped events are counted.
    fn emit(&mut self, event: MediaEvent) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.stats.events_dropped += 1;
                warn!(?event, "media event channel full; event dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {} // nobody listens any more
        }
    }
}

impl SessionTask {
    async fn run(mut self) {
        let local = self.socket.local_addr().ok();
        debug!(?local, "RTP session started");
        // The caller's silence timer, set only when the deadline comes
        // earlier than it is set for: packets move the deadline later
        // many times a second, and the timer, when it rings, checks.
        let silence = sleep_until(Instant::now());
        tokio::pin!(silence);
        let mut silence_set: Option<Instant> = None;
        loop {
            let (silence_deadline, bridged) = {
                let session = self.lock();
                if session.socket_broken {
                    warn!(?local, "RTP socket broken: the session ends");
                    break;
                }
                (session.silence_deadline(), session.bridge.is_some())
            };
            if let Some(deadline) = silence_deadline
                && silence_set.is_none_or(|set| set > deadline)
            {
                silence.as_mut().reset(deadline);
                silence_set = Some(deadline);
            }
            let session = &self.session;
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => break,
                    Some(command) => {
                        if !self.on_commands(command) {
                            break;
                        }
                    }
                },
                () = poll_fn(|cx| lock(session).poll_peer_left(cx)), if bridged => {
                    self.lock().peer_left();
                }
                // The socket broke, or the silence is watched again.
                () = self.attention.notified() => {}
                () = &mut silence, if silence_set.is_some() && silence_deadline.is_some() => {
                    silence_set = None;
                    self.lock().on_silence_timer();
                }
            }
        }
        // What the phone sent before the end is heard (and counted).
        RtpSession::read(
            &self.session,
            &mut vec![0; RECV_BUFFER],
            &mut Vec::new(),
            READS_AT_CLOSE,
        );
        // Close the socket and release its port before saying so, so a
        // caller that sees `Closed` can reuse the port: the session lets
        // its socket go (the media thread can neither read nor send on it
        // any more), the media thread stops watching it, then it closes.
        let (stats, events) = {
            let mut session = self.lock();
            session.socket = None;
            session.next_frame_at = None;
            if let Some(member) = session.mix.take() {
                member.mixer.set_hearing(member.me, &[]);
            }
            (session.stats, session.events.clone())
        };
        if let Ok(pacer) = pacer::pacer() {
            pacer.unwatch(self.socket.fd(), self.token);
        }
        debug!(?local, ?stats, "RTP session closed");
        drop(self);
        if events.try_send(MediaEvent::Closed { stats }).is_err() {
            debug!(
                ?local,
                "media event channel full or closed; Closed event not delivered"
            );
        }
    }

    /// Handles `first` and every command queued behind it, then plays
    /// what is due; `false` when one of them was `Close`.
    fn on_commands(&mut self, first: Command) -> bool {
        let mut session = lock(&self.session);
        let mut command = first;
        loop {
            if matches!(command, Command::Close) {
                return false;
            }
            session.on_command(command);
            match self.commands.try_recv() {
                Ok(next) => command = next,
                Err(_) => break,
            }
        }
        session.pump();
        true
    }

    fn lock(&self) -> MutexGuard<'_, RtpSession> {
        lock(&self.session)
    }
}

impl RtpSession {
    /// Reads up to `max` packets from `shared`'s socket and hands each to
    /// it, and its frames for a bridged peer to the peer (see [`bridge`]);
    /// the media thread's side of a session. Whether the socket is now
    /// empty (or closed). `buf` and `relayed` are the thread's, reused.
    fn read(
        shared: &Mutex<RtpSession>,
        buf: &mut [u8],
        relayed: &mut Vec<PeerFrame>,
        max: usize,
    ) -> bool {
        for _ in 0..max {
            let peer = {
                let mut session = lock(shared);
                let received = match &session.socket {
                    Some(socket) => socket.socket.recv_from(buf),
                    None => return true,
                };
                match received {
                    Ok((len, from)) => {
                        session.socket_errors = 0;
                        session.handle_packet(&buf[..len.min(buf.len())], from);
                        if session.outbox.is_empty() {
                            continue;
                        }
                        std::mem::swap(&mut session.outbox, relayed);
                        session
                            .bridge
                            .as_ref()
                            .map(|end| (end.peer.clone(), end.link))
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(error) => {
                        session.socket_errors += 1;
                        warn!(%error, "RTP receive failed");
                        if session.socket_errors >= MAX_SOCKET_ERRORS {
                            session.socket_broken = true;
                            session.attention.notify_one();
                            return true;
                        }
                        continue;
                    }
                }
            };
            // This session's lock is let go: now the peer's.
            match peer.and_then(|(peer, link)| Some((peer.upgrade()?, link))) {
                Some((peer, link)) => lock(&peer).take_from_peer(link, relayed),
                // The peer has closed: its end's channel says so.
                None => relayed.clear(),
            }
        }
        false
    }
}

/// Locks a session. A panic while it was held (none is expected) leaves
/// at worst a frame half-played: the session carries on.
fn lock(session: &Mutex<RtpSession>) -> MutexGuard<'_, RtpSession> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whole 8 kHz samples in `duration` (125 µs each).
fn samples(duration: Duration) -> u32 {
    u32::try_from(duration.as_nanos() / 125_000).unwrap_or(u32::MAX)
}

pub mod bridge;
pub mod mix;
mod pacer;
pub mod srtp;

#[cfg(test)]
mod bridge_tests;
#[cfg(test)]
mod tests;

/// The SRTP contexts for `keys`; none (and an error logged) if they cannot
/// be made, which the keys the SDP layer makes never cause: the session
/// then sends nothing and hears nothing rather than speak in the clear.
fn srtp_for(keys: Option<SrtpKeys>) -> Option<srtp::Srtp> {
    let keys = keys?;
    match srtp::Srtp::new(keys) {
        Ok(srtp) => Some(srtp),
        Err(error) => {
            warn!(%error, "SRTP keys refused: the call's media is neither sent nor heard");
            None
        }
    }
}
