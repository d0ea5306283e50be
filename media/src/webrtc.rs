//! A browser's WebRTC leg, sans-IO: the engine answers the browser's offer
//! as an ICE-lite endpoint on one UDP address, completes DTLS-SRTP with it
//! (RTP and RTCP multiplexed) and carries G.711 μ-law audio and
//! telephone-events both ways, untranscoded.
//!
//! This wraps the webrtc-rs project's sans-IO peer connection (`rtc`):
//! nothing here reads a clock or touches a socket. The owner feeds it the
//! datagrams that came from the browser ([`BrowserLeg::handle_datagram`])
//! and the time ([`BrowserLeg::handle_timeout`]), sends what
//! [`BrowserLeg::poll_transmit`] gives, and exchanges audio with
//! [`BrowserLeg::send_audio`] and [`BrowserLeg::poll_audio`].
//!
//! ```text
//!   browser ──SRTP/DTLS/STUN──▶ handle_datagram ─┐            ┌─▶ poll_audio ──▶ the call's bridge
//!   browser ◀─────────────────── poll_transmit ◀─┤ BrowserLeg ├◀─ send_audio ◀── the call's bridge
//!                                  handle_timeout ┘            └─▶ state
//! ```
//!
//! What it takes from the browser's offer, and only that: PCMU (payload
//! type 0) and telephone-event at 8 kHz (whatever number the browser gave
//! it), one audio stream each way, no data channel. The offer is narrowed
//! to those before the peer connection sees it ([`narrow_offer`]): the
//! peer connection matches telephone-event by name alone and would answer
//! Chromium's 48 kHz one, which a G.711 call cannot use.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_PCMU, MIME_TYPE_TELEPHONE_EVENT, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::rtp;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use thiserror::Error;

/// The payload type of μ-law audio (RFC 3551, static).
pub const PCMU: u8 = 0;
/// The payload type the engine registers telephone-events with (an
/// answer takes the browser's own number for them).
const TELEPHONE_EVENT: u8 = 101;

/// Why a browser leg could not be set up or used.
#[derive(Debug, Error)]
#[error("WebRTC: {0}")]
pub struct WebRtcError(String);

impl WebRtcError {
    fn from(error: impl std::fmt::Display) -> WebRtcError {
        WebRtcError(error.to_string())
    }
}

/// Where the leg's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// ICE and DTLS are under way.
    Connecting,
    /// Media flows both ways.
    Connected,
    /// It lost the browser for a while; it may come back (ICE).
    Disconnected,
    /// It failed for good (the browser is gone, DTLS failed).
    Failed,
    /// Closed by [`BrowserLeg::close`].
    Closed,
}

/// One RTP payload of the call's audio, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// An RFC 4733 telephone-event; else 20 ms (or so) of μ-law.
    pub event: bool,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Bytes,
}

/// A browser's WebRTC leg (see the module docs).
pub struct BrowserLeg {
    pc: RTCPeerConnection,
    local: SocketAddr,
    sender: RTCRtpSenderId,
    ssrc: u32,
    sequence: u16,
    /// The browser's number for telephone-event, if it offered one.
    event_pt: Option<u8>,
    /// Events not sent: the browser offered none.
    pub events_not_sent: u64,
    state: LegState,
    heard: VecDeque<Audio>,
}

impl std::fmt::Debug for BrowserLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserLeg")
            .field("local", &self.local)
            .field("ssrc", &self.ssrc)
            .field("state", &self.state)
            .finish()
    }
}

fn pcmu() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_PCMU.to_owned(),
        clock_rate: 8000,
        channels: 1,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// One audio track of μ-law, sent with `ssrc`.
fn pcmu_track(stream: &str, label: &str, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream.to_owned(),
        format!("{stream}-audio"),
        label.to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: pcmu(),
            ..Default::default()
        }],
    )
}

/// The one ICE candidate of an address: a UDP host candidate.
fn host_candidate(
    addr: SocketAddr,
) -> Result<rtc::peer_connection::transport::RTCIceCandidateInit, WebRtcError> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()
    .map_err(WebRtcError::from)?;
    RTCIceCandidate::from(&candidate)
        .to_json()
        .map_err(WebRtcError::from)
}

/// The codecs a browser leg takes: PCMU and telephone-event, nothing else.
fn media_engine() -> Result<MediaEngine, WebRtcError> {
    let mut engine = MediaEngine::default();
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: pcmu(),
                payload_type: PCMU,
            },
            RtpCodecKind::Audio,
        )
        .map_err(WebRtcError::from)?;
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_TELEPHONE_EVENT.to_owned(),
                    clock_rate: 8000,
                    channels: 1,
                    sdp_fmtp_line: "0-16".to_owned(),
                    rtcp_feedback: vec![],
                },
                payload_type: TELEPHONE_EVENT,
            },
            RtpCodecKind::Audio,
        )
        .map_err(WebRtcError::from)?;
    Ok(engine)
}

impl BrowserLeg {
    /// Answers the browser's `offer` (its SDP): ICE-lite with one host
    /// candidate, `local` (the engine's WebRTC address, as the browser
    /// reaches it), DTLS-SRTP, PCMU and telephone-event. The leg, and the
    /// SDP answer for the browser.
    pub fn answer(
        offer: &str,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(BrowserLeg, String), WebRtcError> {
        // The engine is the DTLS server (`a=setup:passive`): the browser
        // starts the handshake once ICE has found the engine, and the
        // engine never needs a server name to check (as a client would).
        let settings = SettingEngineBuilder::new()
            .with_lite(true)
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(settings)
            .with_media_engine(media_engine()?)
            .build(now)
            .map_err(WebRtcError::from)?;
        let ssrc = fastrand::u32(1..);
        let sender = pc
            .add_track(pcmu_track("frontdoor", "the caller", ssrc))
            .map_err(WebRtcError::from)?;
        let offer = narrow_offer(offer)?;
        let event_pt = telephone_event_pt(&offer);
        let offer = RTCSessionDescription::offer(offer).map_err(WebRtcError::from)?;
        pc.set_remote_description(now, offer)
            .map_err(WebRtcError::from)?;
        pc.add_local_candidate(host_candidate(local)?)
            .map_err(WebRtcError::from)?;
        let answer = pc.create_answer(None).map_err(WebRtcError::from)?;
        let sdp = answer.sdp.clone();
        pc.set_local_description(now, answer)
            .map_err(WebRtcError::from)?;
        let mut leg = BrowserLeg {
            pc,
            local,
            sender,
            ssrc,
            sequence: fastrand::u16(..),
            event_pt,
            events_not_sent: 0,
            state: LegState::Connecting,
            heard: VecDeque::new(),
        };
        leg.drain();
        Ok((leg, sdp))
    }

    /// A datagram from `from` to the leg's address (STUN, DTLS, SRTP or
    /// SRTCP). Anything the peer connection refuses is dropped: the
    /// browser's address faces the internet.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let message = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(datagram),
        };
        if let Err(error) = self.pc.handle_read(message) {
            tracing::debug!(%from, %error, "WebRTC datagram refused");
        }
        self.drain();
    }

    /// The next datagram to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.pc
            .poll_write()
            .map(|m| (m.transport.peer_addr, m.message))
    }

    /// When [`BrowserLeg::handle_timeout`] is due next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }

    /// Time has come to `now`: retransmissions, consent checks, timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(error) = self.pc.handle_timeout(now) {
            tracing::debug!(%error, "WebRTC timeout handling failed");
        }
        self.drain();
    }

    /// The next audio the browser sent.
    pub fn poll_audio(&mut self) -> Option<Audio> {
        self.heard.pop_front()
    }

    /// Sends audio (or a telephone-event) to the browser, on the leg's own
    /// stream (its SSRC and sequence numbers). Nothing is sent until the
    /// leg is connected.
    pub fn send_audio(&mut self, now: Instant, audio: Audio) -> Result<(), WebRtcError> {
        if self.state != LegState::Connected {
            return Ok(());
        }
        let payload_type = if audio.event {
            let Some(pt) = self.event_pt else {
                self.events_not_sent += 1;
                return Ok(());
            };
            pt
        } else {
            PCMU
        };
        self.sequence = self.sequence.wrapping_add(1);
        let packet = rtp::packet::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type,
                marker: audio.marker,
                sequence_number: self.sequence,
                timestamp: audio.timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: audio.payload,
        };
        let mut sender = self
            .pc
            .rtp_sender(self.sender)
            .ok_or_else(|| WebRtcError("the leg's sender is gone".into()))?;
        sender.write_rtp(now, packet).map_err(WebRtcError::from)
    }

    pub fn state(&self) -> LegState {
        self.state
    }

    /// Ends the leg (a DTLS close alert goes to the browser).
    pub fn close(&mut self) {
        if let Err(error) = self.pc.close() {
            tracing::debug!(%error, "WebRTC close failed");
        }
        self.state = LegState::Closed;
    }

    /// Takes the peer connection's events and received media.
    fn drain(&mut self) {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                self.state = match state {
                    RTCPeerConnectionState::Connected => LegState::Connected,
                    RTCPeerConnectionState::Disconnected => LegState::Disconnected,
                    RTCPeerConnectionState::Failed => LegState::Failed,
                    RTCPeerConnectionState::Closed => LegState::Closed,
                    _ => self.state,
                };
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, packet) = message {
                let pt = packet.header.payload_type;
                let event = Some(pt) == self.event_pt;
                if pt != PCMU && !event {
                    continue;
                }
                self.heard.push_back(Audio {
                    event,
                    timestamp: packet.header.timestamp,
                    marker: packet.header.marker,
                    payload: packet.payload,
                });
            }
        }
    }
}

/// The browser's offer with only what a browser leg takes in its audio
/// section: PCMU and telephone-event at 8 kHz (their `rtpmap`, `fmtp` and
/// `rtcp-fb` lines kept, the others' dropped). Refused when the offer has
/// no audio section offering PCMU.
pub fn narrow_offer(offer: &str) -> Result<String, WebRtcError> {
    let lines: Vec<&str> = offer.lines().map(|l| l.trim_end_matches('\r')).collect();
    // The payload types kept: PCMU and each 8 kHz telephone-event.
    let kept: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, codec)| {
            let codec = codec.to_ascii_lowercase();
            codec.starts_with("pcmu/8000") || codec.starts_with("telephone-event/8000")
        })
        .map(|(pt, _)| pt.to_owned())
        .chain(std::iter::once(PCMU.to_string()))
        .collect();
    let mut out = String::with_capacity(offer.len());
    let mut in_audio = false;
    let mut pcmu = false;
    for line in lines {
        if let Some(m) = line.strip_prefix("m=") {
            in_audio = m.starts_with("audio ");
            if in_audio {
                let mut fields: Vec<&str> = m.split(' ').collect();
                if fields.len() < 4 {
                    return Err(WebRtcError("an audio section without formats".into()));
                }
                let formats: Vec<&str> = fields
                    .split_off(3)
                    .into_iter()
                    .filter(|f| kept.iter().any(|k| k == f))
                    .collect();
                pcmu |= formats.contains(&"0");
                if formats.is_empty() {
                    return Err(WebRtcError("the browser offered no PCMU audio".into()));
                }
                out.push_str(&format!("m={} {}\r\n", fields.join(" "), formats.join(" ")));
                continue;
            }
        } else if in_audio {
            let pt = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .find_map(|p| line.strip_prefix(p))
                .and_then(|rest| rest.split([' ', ':']).next());
            if let Some(pt) = pt
                && pt != "*"
                && !kept.iter().any(|k| k == pt)
            {
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !pcmu {
        return Err(WebRtcError("the browser offered no PCMU audio".into()));
    }
    Ok(out)
}

/// The payload type of the (narrowed) offer's 8 kHz telephone-event.
fn telephone_event_pt(offer: &str) -> Option<u8> {
    offer
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|rest| rest.split_once(' '))
        .find(|(_, codec)| {
            codec
                .to_ascii_lowercase()
                .starts_with("telephone-event/8000")
        })
        .and_then(|(pt, _)| pt.parse().ok())
}

pub mod gateway;

#[cfg(test)]
mod tests;
