//! The engine's WebRTC port: one UDP socket for every browser phone, and
//! each browser's audio handed to the rest of the engine as plain RTP.
//!
//! Every browser leg ([`BrowserLeg`]) is reached through the one public
//! socket. Datagrams are told apart by where they come from; a browser
//! seen for the first time (or again, from a new address after a network
//! change: an ICE restart) is recognised by its first STUN check, whose
//! USERNAME starts with the ICE user fragment the engine gave that leg.
//! A datagram that is neither from a known browser nor such a check is
//! dropped (and counted): the port faces the internet.
//!
//! To the rest of the engine a browser phone is a phone on loopback: each
//! device has a socket of its own on 127.0.0.1 ([`Connected::media`]),
//! where the browser's audio comes out as PCMU RTP (payload type 0,
//! telephone-events as 101) and where RTP sent to it goes to the browser.
//! A call's RTP session, bridging, mixing, prompts and key detection
//! therefore work on a browser phone exactly as on a SIP phone.
//!
//! ```text
//!   browsers ══SRTP══ public socket ── Gateway task ── BrowserLeg per device
//!                                                          │ plain RTP
//!                                        127.0.0.1:M ◀────┘──▶ the call's RtpSession
//! ```

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use super::{Audio, BrowserLeg, LegState, WebRtcError};
use crate::rtp::{RtpHeader, RtpPacket, write_packet};

/// The payload type of telephone-events on the loopback side.
pub const LOOPBACK_EVENT_PT: u8 = 101;

/// A device's connection, for its owner.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The SDP answer for the browser.
    pub answer: String,
    /// Where the device's plain RTP is, on loopback: a call's RTP session
    /// sends here and hears from here.
    pub media: SocketAddr,
}

/// What the gateway reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    /// A device's connection changed state.
    State { device: String, state: LegState },
}

/// Counters, for the logs and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Datagrams from addresses no device has, that were no check of one.
    pub strangers: u64,
    /// Packets relayed from browsers to loopback, and back.
    pub to_engine: u64,
    pub to_browsers: u64,
}

enum Command {
    Connect {
        device: String,
        offer: String,
        reply: oneshot::Sender<Result<Connected, WebRtcError>>,
    },
    Remove {
        device: String,
    },
    Stats {
        reply: oneshot::Sender<GatewayStats>,
    },
}

/// The handle on the gateway task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    commands: mpsc::UnboundedSender<Command>,
    public: SocketAddr,
}

struct Device {
    leg: BrowserLeg,
    /// The ICE user fragment the engine gave this leg.
    ufrag: String,
    /// Its loopback socket.
    inner: Arc<UdpSocket>,
    /// Where the call's RTP session sends from (learned from its packets).
    engine_side: Option<SocketAddr>,
    /// The browser's address now.
    browser: Option<SocketAddr>,
    ssrc: u32,
    sequence: u16,
    state: LegState,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Task {
    socket: UdpSocket,
    public: SocketAddr,
    devices: HashMap<String, Device>,
    by_addr: HashMap<SocketAddr, String>,
    events: mpsc::UnboundedSender<GatewayEvent>,
    /// Packets from the devices' loopback sockets.
    inner_tx: mpsc::UnboundedSender<(String, Vec<u8>, SocketAddr)>,
    stats: GatewayStats,
    buf: Vec<u8>,
}

impl Gateway {
    /// Starts the gateway on `socket`; `public` is the address browsers
    /// reach it at (the host candidate in every answer). Its events come on
    /// the returned channel.
    pub fn start(
        socket: UdpSocket,
        public: SocketAddr,
    ) -> (Gateway, mpsc::UnboundedReceiver<GatewayEvent>) {
        let (commands, rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (inner_tx, inner_rx) = mpsc::unbounded_channel();
        let task = Task {
            socket,
            public,
            devices: HashMap::new(),
            by_addr: HashMap::new(),
            events,
            inner_tx,
            stats: GatewayStats::default(),
            buf: Vec::with_capacity(1500),
        };
        tokio::spawn(task.run(rx, inner_rx));
        (Gateway { commands, public }, events_rx)
    }

    /// The address browsers reach the gateway at.
    pub fn public(&self) -> SocketAddr {
        self.public
    }

    /// Answers `device`'s offer (a browser enabling its phone, or making a
    /// new connection after a network change): an earlier connection of
    /// the same device is replaced.
    pub async fn connect(&self, device: &str, offer: &str) -> Result<Connected, WebRtcError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Connect {
                device: device.to_owned(),
                offer: offer.to_owned(),
                reply,
            })
            .map_err(|_| WebRtcError("the WebRTC gateway has stopped".into()))?;
        answer
            .await
            .map_err(|_| WebRtcError("the WebRTC gateway has stopped".into()))?
    }

    /// Ends `device`'s connection.
    pub fn remove(&self, device: &str) {
        let _ = self.commands.send(Command::Remove {
            device: device.to_owned(),
        });
    }

    /// The gateway's counters.
    pub async fn stats(&self) -> GatewayStats {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Stats { reply }).is_err() {
            return GatewayStats::default();
        }
        answer.await.unwrap_or_default()
    }
}

/// The USERNAME of a STUN binding request (`ours:theirs`), if `datagram`
/// is one (RFC 8489: the magic cookie, then TLV attributes).
fn stun_username(datagram: &[u8]) -> Option<&str> {
    const COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
    if datagram.len() < 20 || datagram[0] & 0xC0 != 0 || datagram[4..8] != COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(20..20 + length)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == 0x0006 {
            return std::str::from_utf8(value).ok();
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// The `a=ice-ufrag:` of an SDP.
fn ufrag_of(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut inner_rx: mpsc::UnboundedReceiver<(String, Vec<u8>, SocketAddr)>,
    ) {
        let mut recv = vec![0u8; 2048];
        loop {
            let wake = self
                .devices
                .values_mut()
                .filter_map(|d| d.leg.poll_timeout())
                .min();
            let timer = async {
                match wake {
                    Some(at) => sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    None => return,
                },
                received = self.socket.recv_from(&mut recv) => match received {
                    Ok((n, from)) => {
                        let datagram = recv[..n].to_vec();
                        self.on_browser_datagram(from, &datagram).await;
                    }
                    Err(error) => tracing::debug!(%error, "WebRTC socket read failed"),
                },
                Some((device, packet, from)) = inner_rx.recv() => {
                    self.on_engine_packet(&device, &packet, from).await;
                }
                () = timer => {
                    let now = Instant::now();
                    let names: Vec<String> = self.devices.keys().cloned().collect();
                    for name in names {
                        if let Some(d) = self.devices.get_mut(&name)
                            && d.leg.poll_timeout().is_some_and(|at| at <= now)
                        {
                            d.leg.handle_timeout(now);
                        }
                        self.after(&name).await;
                    }
                }
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Connect {
                device,
                offer,
                reply,
            } => {
                let result = self.connect(&device, &offer).await;
                let _ = reply.send(result);
                self.after(&device).await;
            }
            Command::Remove { device } => {
                if let Some(mut d) = self.devices.remove(&device) {
                    d.leg.close();
                    Self::flush(&self.socket, &mut d).await;
                    self.by_addr.retain(|_, name| *name != device);
                }
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.stats);
            }
        }
    }

    async fn connect(&mut self, device: &str, offer: &str) -> Result<Connected, WebRtcError> {
        let (leg, answer) = BrowserLeg::answer(offer, self.public, Instant::now())?;
        let ufrag = ufrag_of(&answer)
            .ok_or_else(|| WebRtcError("the answer has no ICE user fragment".into()))?;
        // The device keeps its loopback address across connections, so a
        // call in progress keeps hearing it.
        let (inner, engine_side) = match self.devices.remove(device) {
            Some(mut old) => {
                old.leg.close();
                Self::flush(&self.socket, &mut old).await;
                self.by_addr.retain(|_, name| name != device);
                (Arc::clone(&old.inner), old.engine_side)
            }
            None => {
                let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                    .await
                    .map_err(WebRtcError::from)?;
                (Arc::new(socket), None)
            }
        };
        let media = inner.local_addr().map_err(WebRtcError::from)?;
        let reader = {
            let inner = Arc::clone(&inner);
            let tx = self.inner_tx.clone();
            let name = device.to_owned();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                while let Ok((n, from)) = inner.recv_from(&mut buf).await {
                    if tx.send((name.clone(), buf[..n].to_vec(), from)).is_err() {
                        return;
                    }
                }
            })
        };
        self.devices.insert(
            device.to_owned(),
            Device {
                leg,
                ufrag,
                inner,
                engine_side,
                browser: None,
                ssrc: fastrand::u32(1..),
                sequence: fastrand::u16(..),
                state: LegState::Connecting,
                reader,
            },
        );
        tracing::info!(device, %media, "browser phone connecting");
        Ok(Connected { answer, media })
    }

    async fn on_browser_datagram(&mut self, from: SocketAddr, datagram: &[u8]) {
        let name = match self.by_addr.get(&from) {
            Some(name) => name.clone(),
            None => {
                let ours = stun_username(datagram).and_then(|u| u.split(':').next());
                let found = ours.and_then(|ufrag| {
                    self.devices
                        .iter()
                        .find(|(_, d)| d.ufrag == ufrag)
                        .map(|(name, _)| name.clone())
                });
                let Some(name) = found else {
                    self.stats.strangers += 1;
                    return;
                };
                self.by_addr.insert(from, name.clone());
                name
            }
        };
        let Some(d) = self.devices.get_mut(&name) else {
            return;
        };
        if d.browser != Some(from) {
            tracing::info!(device = %name, %from, "browser phone reached from a new address");
            d.browser = Some(from);
        }
        d.leg.handle_datagram(Instant::now(), from, datagram);
        self.after(&name).await;
    }

    /// A packet from a device's loopback socket: the call's RTP for the
    /// browser.
    async fn on_engine_packet(&mut self, name: &str, packet: &[u8], from: SocketAddr) {
        let Some(d) = self.devices.get_mut(name) else {
            return;
        };
        if !from.ip().is_loopback() {
            return;
        }
        d.engine_side = Some(from);
        let Ok(rtp) = RtpPacket::parse(packet) else {
            return;
        };
        let event = rtp.payload_type() == LOOPBACK_EVENT_PT;
        if !event && rtp.payload_type() != super::PCMU {
            return;
        }
        let audio = Audio {
            event,
            timestamp: rtp.timestamp(),
            marker: rtp.marker(),
            payload: Bytes::copy_from_slice(rtp.payload()),
        };
        if let Err(error) = d.leg.send_audio(Instant::now(), audio) {
            tracing::debug!(device = name, %error, "audio not sent to the browser");
        } else {
            self.stats.to_browsers += 1;
        }
        self.after(name).await;
    }

    /// After a device's leg took something in: its datagrams out, its
    /// audio to loopback, its state reported.
    async fn after(&mut self, name: &str) {
        let Some(mut d) = self.devices.remove(name) else {
            return;
        };
        Self::flush(&self.socket, &mut d).await;
        while let Some(audio) = d.leg.poll_audio() {
            let Some(to) = d.engine_side else {
                continue; // no call is listening yet
            };
            d.sequence = d.sequence.wrapping_add(1);
            let header = RtpHeader {
                payload_type: if audio.event {
                    LOOPBACK_EVENT_PT
                } else {
                    super::PCMU
                },
                marker: audio.marker,
                sequence: d.sequence,
                timestamp: audio.timestamp,
                ssrc: d.ssrc,
            };
            write_packet(&mut self.buf, &header, &audio.payload);
            if d.inner.send_to(&self.buf, to).await.is_ok() {
                self.stats.to_engine += 1;
            }
        }
        let state = d.leg.state();
        if state != d.state {
            d.state = state;
            tracing::info!(device = name, ?state, "browser phone");
            let _ = self.events.send(GatewayEvent::State {
                device: name.to_owned(),
                state,
            });
        }
        self.devices.insert(name.to_owned(), d);
    }

    async fn flush(socket: &UdpSocket, d: &mut Device) {
        while let Some((to, datagram)) = d.leg.poll_transmit() {
            if let Err(error) = socket.send_to(&datagram, to).await {
                tracing::debug!(%to, %error, "WebRTC send failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stun_check_names_the_leg_and_anything_else_does_not() {
        // A binding request: header, USERNAME "abcd:wxyz", then padding.
        let mut m = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&[0x00, 0x06, 0x00, 0x09]);
        m.extend_from_slice(b"abcd:wxyz\0\0\0");
        m[3] = 16;
        assert_eq!(stun_username(&m), Some("abcd:wxyz"));
        assert_eq!(stun_username(&m[..19]), None);
        let mut rtp = m.clone();
        rtp[0] = 0x80;
        assert_eq!(stun_username(&rtp), None, "not STUN");
        let mut lying = m.clone();
        lying[3] = 200;
        assert_eq!(stun_username(&lying), None, "a length past the end");
        let mut attr_lying = m.clone();
        attr_lying[23] = 60;
        assert_eq!(stun_username(&attr_lying), None);
        assert_eq!(
            ufrag_of("v=0\r\na=ice-ufrag:Xy12\r\n").as_deref(),
            Some("Xy12")
        );
    }

    /// The stand-in browser over a real socket, against the gateway: ICE
    /// finds the gateway by its STUN check, DTLS-SRTP completes, and audio
    /// crosses between the browser and the device's loopback side both
    /// ways, as plain RTP there. A stranger's datagram is dropped.
    #[tokio::test]
    async fn a_browser_phone_is_plain_rtp_on_loopback_through_the_gateway() {
        use super::super::tests::Browser;
        use rtc::peer_connection::sdp::RTCSessionDescription;
        use rtc::sansio::Protocol;
        use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
        use std::time::Duration;

        let public_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let public = public_socket.local_addr().unwrap();
        let (gateway, mut events) = Gateway::start(public_socket, public);
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (mut browser, offer) = Browser::new(Instant::now(), addr);
        let connected = gateway.connect("nav1", &offer).await.unwrap();
        browser
            .pc
            .set_remote_description(
                Instant::now(),
                RTCSessionDescription::answer(connected.answer.clone()).unwrap(),
            )
            .unwrap();
        // Runs the browser until `done`, for 10 s at most.
        let mut buf = vec![0u8; 2048];
        let pump = async |browser: &mut Browser, done: &mut dyn FnMut(&Browser) -> bool| {
            let mut buf = vec![0u8; 2048];
            let until = Instant::now() + Duration::from_secs(10);
            loop {
                while let Some(m) = browser.pc.poll_write() {
                    socket
                        .send_to(&m.message, m.transport.peer_addr)
                        .await
                        .unwrap();
                }
                if done(browser) {
                    break;
                }
                assert!(Instant::now() < until, "the browser never got there");
                if let Ok(Ok((n, from))) =
                    tokio::time::timeout(Duration::from_millis(5), socket.recv_from(&mut buf)).await
                {
                    browser
                        .pc
                        .handle_read(TaggedBytesMut {
                            now: Instant::now(),
                            transport: TransportContext {
                                local_addr: addr,
                                peer_addr: from,
                                ecn: None,
                                transport_protocol: TransportProtocol::UDP,
                            },
                            message: bytes::BytesMut::from(&buf[..n]),
                        })
                        .unwrap();
                }
                browser.pc.handle_timeout(Instant::now()).unwrap();
                browser.drain();
            }
        };
        pump(&mut browser, &mut |b| b.connected).await;
        // The gateway's side completes on the browser's last flight.
        let until = Instant::now() + Duration::from_secs(5);
        let state = loop {
            pump(&mut browser, &mut |_| true).await;
            if let Ok(event) = events.try_recv() {
                break event;
            }
            assert!(Instant::now() < until, "the gateway never said");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(
            state,
            GatewayEvent::State {
                device: "nav1".into(),
                state: LegState::Connected
            }
        );

        // The engine's side (a call's RTP session) sends PCMU to the
        // device's loopback address: the browser hears it.
        let engine = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut packet = Vec::new();
        for i in 0..5u16 {
            let header = RtpHeader {
                payload_type: 0,
                marker: i == 0,
                sequence: 100 + i,
                timestamp: 1000 + u32::from(i) * 160,
                ssrc: 7,
            };
            write_packet(&mut packet, &header, &[0x55; 160]);
            engine.send_to(&packet, connected.media).await.unwrap();
        }
        pump(&mut browser, &mut |b| b.heard.len() >= 5).await;
        assert!(
            browser
                .heard
                .iter()
                .all(|a| !a.event && a.payload.as_ref() == [0x55; 160])
        );

        // The browser speaks: plain PCMU comes out on loopback, to where
        // the engine's side sends from.
        for seq in 1..=5u16 {
            browser.say(Instant::now(), seq, &[0x2A; 160]);
        }
        pump(&mut browser, &mut |_| true).await;
        let mut heard = 0;
        let until = Instant::now() + Duration::from_secs(5);
        while heard < 5 && Instant::now() < until {
            pump(&mut browser, &mut |_| true).await;
            if let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_millis(20), engine.recv_from(&mut buf)).await
            {
                assert_eq!(from, connected.media);
                let rtp = RtpPacket::parse(&buf[..n]).unwrap();
                assert_eq!(rtp.payload_type(), 0);
                assert_eq!(rtp.payload(), [0x2A; 160]);
                heard += 1;
            }
        }
        assert_eq!(heard, 5, "the engine's side heard {heard} packets");

        // A stranger is dropped and counted; the device is untouched.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stranger
            .send_to(b"\x00\x01\x00\x00junk", public)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stats = gateway.stats().await;
        assert_eq!(stats.strangers, 1, "{stats:?}");
        assert!(stats.to_engine >= 5 && stats.to_browsers >= 5, "{stats:?}");
        gateway.remove("nav1");
    }
}
