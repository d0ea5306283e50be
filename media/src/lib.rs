//! frontdoor-media: the media plane of frontdoor — what the caller hears
//! and the keys they press.
//!
//! Once the SIP side has answered a call (G.711 PCMU or PCMA, maybe
//! RFC 4733 telephone-event), the call controller starts one
//! [`RtpSession`] for it and drives it through a
//! [`MediaHandle`]:
//!
//! ```text
//!  call controller ── play / stop / update / close ──▶ RtpSession task ──RTP──▶ caller
//!        ▲                                                  │
//!        └──── MediaEvent: Digit, PlaybackFinished, … ◀─────┘◀──RTP── caller
//! ```
//!
//! Once a navigator answers, the controller bridges the caller's session
//! and the navigator's ([`MediaHandle::bridge`]); each leg keeps its own
//! continuous RTP stream through prompts, hold audio and bridged audio.
//!
//! The crate is layered like the rest of frontdoor: the protocol parts are
//! plain functions and state machines with no I/O, and one thin tokio
//! driver does the sockets and timers.
//!
//! - [`g711`]: μ-law / A-law encoding and the [`Codec`] enum;
//! - [`rtp`]: a zero-copy RTP header view, a packet writer and the
//!   per-stream sequence/timestamp/marker state ([`rtp::RtpSender`]);
//! - [`dtmf`]: RFC 4733 events, SIP INFO bodies and in-band (Goertzel)
//!   detection;
//! - [`prompt`]: WAV prompts decoded and encoded once at start, shared by
//!   every call ([`PromptStore`], [`Prompt`]);
//! - [`session`]: the tokio driver — RTP port allocation and one task per
//!   call leg that paces prompt frames every 20 ms (once, or looped as hold
//!   audio), turns received packets into digits, and relays audio and
//!   telephone-events to a bridged leg ([`session::bridge`]: the B2BUA's
//!   RTP relay, transcoding between PCMU and PCMA).
//!
//! ## The session run loop
//!
//! Each session task waits on four things at once: a command from its
//! handles; a datagram on its socket; while a prompt is playing, the
//! deadline of the next 20 ms frame; while bridged, a frame from the other
//! leg's session. A command changes what plays or where it goes; a
//! datagram is parsed, latched onto (symmetric RTP), fed to a DTMF detector
//! and, when bridged, handed to the other leg; a deadline sends one frame
//! and sets the next deadline on the same grid; a frame from the other leg
//! is transcoded if need be, re-timed onto this leg's stream and sent.
//! Nothing in the loop blocks, so a slow call controller (or a slow peer
//! leg) never delays audio.

pub mod dtmf;
pub mod g711;
pub mod prompt;
pub mod rtp;
pub mod session;
pub mod webrtc;

pub use g711::Codec;
pub use prompt::{Prompt, PromptError, PromptStore};
pub use session::{
    DigitSource, MediaEvent, MediaHandle, Mixer, PortAllocator, RtpSession, RtpSocket,
    SessionConfig, SessionError, SessionStats, SrtpKeys, SrtpSuite,
};

/// Sample rate of G.711 and of telephone-events (RFC 3551 §4.5.14).
pub const SAMPLE_RATE: u32 = 8000;
/// Samples (and G.711 bytes) in one 20 ms packet, the RFC 3551 default
/// packetisation (`a=ptime:20`).
pub const FRAME_SAMPLES: usize = 160;
/// Playing time of one packet.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);
