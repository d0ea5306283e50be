//! The I/O of the engine's outbound legs: placing the INVITE with an RTP
//! port and our offer, starting the leg's media once the B2BUA core says
//! the answer is usable, and ending it. The decisions are the core's
//! ([`super::b2bua`]); this only carries them out.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use frontdoor_media::session::{MediaEvent, MediaHandle, RtpSession, RtpSocket, SessionConfig};
use frontdoor_sip::sdp::{self, LocalMedia, Negotiated};
use frontdoor_sip::ua::{OutboundCall, Party};
use tokio::sync::mpsc;

use super::Shared;
use super::b2bua::{Dial, LegEvent, LegId, Present, Via};
use crate::sip_driver::{CallEvent, SipHandle};

/// One outbound leg of a call (B2BUA).
pub struct Leg {
    /// `None`: a browser phone, which has no SIP.
    sip: Option<SipHandle>,
    /// A browser phone ringing (then answered) while the leg lives.
    _ringing: Option<crate::phones::Ringing>,
    events: mpsc::UnboundedReceiver<CallEvent>,
    /// Until the far end answers: the socket its media will use.
    socket: Option<RtpSocket>,
    media: Option<(MediaHandle, mpsc::Receiver<MediaEvent>)>,
    pub uri: String,
    /// The navigator whose phone this leg rings; `None`: a line.
    pub navigator: Option<String>,
}

impl Leg {
    /// This leg carries a crisis call (hung up last at a drain).
    pub fn mark_crisis(&self) {
        if let Some(sip) = &self.sip {
            sip.mark_crisis();
        }
    }

    /// Rings a navigator's browser phone, whose audio is at `media` on
    /// loopback: no SIP; the page answers.
    async fn place_browser(shared: &Shared, dial: &Dial, media: SocketAddr) -> anyhow::Result<Leg> {
        let socket = shared
            .ports
            .bind(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
            .await
            .map_err(|e| anyhow::anyhow!("no RTP port: {e}"))?;
        let (tx, events) = mpsc::unbounded_channel();
        let ringing = shared
            .browsers
            .ring(media, tx)
            .ok_or_else(|| anyhow::anyhow!("the browser phone is not connected"))?;
        if let Some(navigator) = &dial.navigator {
            tracing::info!(%navigator, %media, "ringing the navigator's browser");
        }
        Ok(Leg {
            sip: None,
            _ringing: Some(ringing),
            events,
            socket: Some(socket),
            media: None,
            uri: dial.uri.clone(),
            navigator: dial.navigator.clone(),
        })
    }

    /// Place the leg the core asked for, presenting `caller` (E.164) as
    /// `dial.present` says; `private`: the caller asked for privacy
    /// (`Privacy: id`), so an outside line gets the number only in
    /// P-Asserted-Identity, marked `Privacy: id` (RFC 3325 §9.3).
    pub async fn place(
        shared: &Shared,
        dial: &Dial,
        caller: Option<&str>,
        private: bool,
    ) -> anyhow::Result<Leg> {
        let uri = match dial.present {
            // The caller's number, through the trunk, as 211.
            Present::CallbackToCaller => {
                let proxy = shared
                    .trunk
                    .first_proxy()
                    .ok_or_else(|| anyhow::anyhow!("no [trunk] proxy to call through"))?;
                let host = proxy.rsplit_once(':').map_or(proxy, |(h, _)| h);
                format!("sip:{}@{host}", dial.uri)
            }
            _ => dial.uri.clone(),
        };
        let peer = match &dial.via {
            Via::Phone(peer) => *peer,
            Via::Browser(media) => return Self::place_browser(shared, dial, *media).await,
            Via::Trunk => resolve_target(&uri, shared.trunk.first_proxy()).await?,
        };
        let socket = shared
            .ports
            .bind(shared.rtp_bind)
            .await
            .map_err(|e| anyhow::anyhow!("no RTP port: {e}"))?;
        let local = LocalMedia {
            addr: shared.media_ip,
            port: socket.local_addr().map(|a| a.port()).unwrap_or_default(),
            session_id: fastrand::u64(1..u64::MAX / 2),
            session_version: 1,
            srtp: false,
        };
        let mut outbound =
            OutboundCall::new(&uri, peer, sdp::offer(&local, sdp::Direction::SendRecv));
        let media_ip = shared.media_ip;
        let credentials = || shared.trunk.credentials();
        match dial.present {
            Present::CallerToNavigator => {
                if let Some(number) = caller {
                    outbound.from =
                        Some(Party::new(Some(number), format!("sip:{number}@{media_ip}")));
                }
            }
            Present::CallerToLine => {
                if let Some(number) = caller {
                    let identity = format!("sip:{number}@{media_ip}");
                    outbound.from = Some(if private {
                        Party::new(
                            Some("Anonymous"),
                            "sip:anonymous@anonymous.invalid".to_owned(),
                        )
                    } else {
                        Party::new(None, identity.clone())
                    });
                    outbound
                        .extra_headers
                        .push(("P-Asserted-Identity".into(), format!("<{identity}>")));
                    if private {
                        outbound.extra_headers.push(("Privacy".into(), "id".into()));
                    }
                }
                outbound.credentials = credentials();
            }
            Present::CallbackToNavigator => {
                outbound.from = Some(Party::new(
                    Some("Callback"),
                    format!("sip:{}@{media_ip}", caller.unwrap_or("anonymous")),
                ));
            }
            Present::CallbackToCaller => {
                outbound.from = Some(Party::new(Some("211"), format!("sip:211@{media_ip}")));
                outbound.credentials = credentials();
            }
            // The caller's number stays off the supervisor's phone: the
            // wallboard shows it masked.
            Present::SupervisorToCall => {
                outbound.from = Some(Party::new(
                    Some("Monitor"),
                    format!("sip:monitor@{media_ip}"),
                ));
            }
        }
        let (tx, events) = mpsc::unbounded_channel();
        let via_trunk = matches!(dial.via, Via::Trunk);
        // A carrier's redirect is followed, through the trunk; a phone's is not.
        outbound.follow_redirects = via_trunk;
        let sip = shared
            .dialer
            .invite(outbound, via_trunk, tx)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match &dial.navigator {
            Some(navigator) => tracing::info!(%navigator, %uri, %peer, "ringing the navigator"),
            None => tracing::info!(%uri, %peer, "connecting the call"),
        }
        Ok(Leg {
            sip: Some(sip),
            _ringing: None,
            events,
            socket: Some(socket),
            media: None,
            uri,
            navigator: dial.navigator.clone(),
        })
    }

    /// The core found the answer usable: start the leg's media.
    pub fn start_media(&mut self, negotiated: &Negotiated, rtp_timeout: Option<Duration>) {
        let Some(socket) = self.socket.take() else {
            tracing::warn!(uri = %self.uri, "media already started");
            return;
        };
        tracing::info!(uri = %self.uri, codec = ?negotiated.codec, "leg answered");
        self.media = Some(RtpSession::start(
            socket,
            session_config(negotiated, rtp_timeout, true),
        ));
    }

    /// The leg's media, once answered.
    pub fn media(&self) -> Option<&MediaHandle> {
        self.media.as_ref().map(|(m, _)| m)
    }

    /// End the leg: BYE (CANCEL while it rings), media closed and its
    /// counters logged.
    pub async fn release(self) {
        if let Some(sip) = &self.sip {
            sip.hangup();
        }
        let Some((media, mut events)) = self.media else {
            return;
        };
        let _ = media.close();
        let closed = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(event) = events.recv().await {
                if let MediaEvent::Closed { stats } = event {
                    return Some(stats);
                }
            }
            None
        });
        if let Ok(Some(stats)) = closed.await {
            tracing::info!(
                uri = %self.uri,
                navigator = self.navigator.as_deref().unwrap_or(""),
                sent = stats.packets_sent,
                received = stats.packets_received,
                relayed = stats.packets_relayed,
                "leg media closed"
            );
        }
    }
}

/// The legs of a call by the core's ids.
#[derive(Default)]
pub struct Legs(BTreeMap<LegId, Leg>);

impl Legs {
    pub fn insert(&mut self, id: LegId, leg: Leg) {
        self.0.insert(id, leg);
    }

    pub fn get_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.0.get_mut(&id)
    }

    pub fn media(&self, id: LegId) -> Option<&MediaHandle> {
        self.0.get(&id).and_then(Leg::media)
    }

    /// Where the leg goes.
    pub fn uri(&self, id: LegId) -> &str {
        self.0.get(&id).map_or("", |l| l.uri.as_str())
    }

    /// Release a leg (nothing when it is gone already).
    pub async fn release(&mut self, id: LegId) {
        if let Some(leg) = self.0.remove(&id) {
            leg.release().await;
        }
    }

    /// Every leg carries a crisis call now (hung up last at a drain).
    pub fn mark_crisis(&self) {
        for leg in self.0.values() {
            leg.mark_crisis();
        }
    }

    /// Release every leg.
    pub async fn release_all(&mut self) {
        for (_, leg) in std::mem::take(&mut self.0) {
            leg.release().await;
        }
    }

    /// The next SIP event of any leg, as the core hears it; never ready
    /// without legs. Answered legs' own media events are read (so their
    /// queue never fills) and dropped: the caller's leg reports what
    /// matters. A leg whose SIP is gone is forgotten and reported ended.
    pub async fn next(&mut self) -> (LegId, LegEvent) {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        loop {
            let (id, event) = std::future::poll_fn(|cx| {
                for (id, leg) in self.0.iter_mut() {
                    if let Some((_, media_events)) = leg.media.as_mut() {
                        while let std::task::Poll::Ready(Some(_)) = media_events.poll_recv(cx) {}
                    }
                    if let std::task::Poll::Ready(event) = leg.events.poll_recv(cx) {
                        return std::task::Poll::Ready((*id, event));
                    }
                }
                std::task::Poll::Pending
            })
            .await;
            let uri = self.0.get(&id).map_or("", |l| l.uri.as_str());
            let event = match event {
                Some(CallEvent::Progress { code }) => {
                    tracing::info!(code, %uri, "far end ringing");
                    LegEvent::Ringing(code)
                }
                Some(CallEvent::Answered { sdp }) => LegEvent::Answered { sdp },
                Some(CallEvent::Failed { code }) => {
                    tracing::info!(code, %uri, "the far end did not answer");
                    LegEvent::Failed(code)
                }
                Some(CallEvent::Ended { .. }) => LegEvent::Ended,
                Some(other) => {
                    tracing::debug!(?other, leg = %id, "leg event");
                    continue;
                }
                None => {
                    self.0.remove(&id);
                    LegEvent::Ended
                }
            };
            return (id, event);
        }
    }
}

/// The media terms for a leg. `confirmed`: the peer has shown it wants
/// this media (it answered our INVITE, or ACKed our answer); until then
/// the session sends only where RTP comes from.
pub(crate) fn session_config(
    n: &Negotiated,
    rtp_timeout: Option<Duration>,
    confirmed: bool,
) -> SessionConfig {
    SessionConfig {
        codec: match n.codec {
            sdp::Codec::Pcmu => frontdoor_media::Codec::Pcmu,
            sdp::Codec::Pcma => frontdoor_media::Codec::Pcma,
        },
        telephone_event_pt: n.telephone_event,
        remote: Some(n.remote),
        send: n.direction.sends(),
        // Only a call in full two-way media is expected to send: on any
        // kind of hold, many phones send nothing at all.
        receive_timeout: rtp_timeout.filter(|_| n.direction == sdp::Direction::SendRecv),
        confirmed,
        srtp: n.srtp.as_ref().map(|s| frontdoor_media::SrtpKeys {
            suite: match s.suite {
                sdp::sdes::CryptoSuite::AesCm128HmacSha1_80 => {
                    frontdoor_media::SrtpSuite::AesCm128HmacSha1_80
                }
                sdp::sdes::CryptoSuite::AesCm128HmacSha1_32 => {
                    frontdoor_media::SrtpSuite::AesCm128HmacSha1_32
                }
            },
            send: s.local_key,
            recv: s.remote_key,
        }),
    }
}

/// What kind of address the internet cannot reach us from, if `ip` is one.
fn reserved_kind(ip: IpAddr, this_host: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        _ if ip.is_unspecified() => Some("unspecified"),
        _ if ip.is_loopback() => Some("loopback"),
        _ if ip.is_multicast() => Some("multicast"),
        _ if ip == this_host => Some("this host's"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("link-local"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("link-local"),
        _ => None,
    }
}

/// The address an unauthenticated caller's SDP names, if media may go
/// there. An address the caller could not be using from where its
/// signalling came (loopback, link-local, multicast, broadcast, this
/// host's own — unless the INVITE came from the same kind) would aim our
/// prompts at a third party or at ourselves: it is ignored, and media goes
/// only where the caller's RTP comes from (symmetric RTP).
pub(crate) fn callers_media_address(
    remote: SocketAddr,
    signalling: IpAddr,
    this_host: IpAddr,
) -> Option<SocketAddr> {
    match reserved_kind(remote.ip(), this_host) {
        Some(kind) if reserved_kind(signalling, this_host) != Some(kind) => {
            tracing::warn!(%remote, %signalling, "the caller's SDP names a {kind} address: ignored, media goes where its RTP comes from");
            None
        }
        _ => Some(remote),
    }
}

/// Where to send the INVITE for `uri`: the trunk when configured, else the
/// URI's own host and port (5060 when none).
pub(crate) async fn resolve_target(
    uri: &str,
    proxy: Option<&str>,
) -> anyhow::Result<frontdoor_sip::Peer> {
    let hostport = match proxy {
        Some(p) => p.to_owned(),
        None => {
            let rest = uri
                .strip_prefix("sip:")
                .ok_or_else(|| anyhow::anyhow!("{uri} is not a sip: URI"))?;
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            let host = host.split(';').next().unwrap_or(host);
            if host.contains(':') {
                host.to_owned()
            } else {
                format!("{host}:5060")
            }
        }
    };
    let addr = tokio::net::lookup_host(&hostport)
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {hostport}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{hostport} has no address"))?;
    Ok(frontdoor_sip::Peer {
        transport: frontdoor_sip::Transport::Udp,
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn a_callers_sdp_may_not_aim_media_at_addresses_it_cannot_be_using() {
        let this_host: IpAddr = "203.0.113.5".parse().expect("ip");
        let internet: IpAddr = "198.51.100.7".parse().expect("ip");
        for target in [
            "127.0.0.1:5060",
            "[::1]:8211",
            "169.254.169.254:80",
            "[fe80::1]:4000",
            "224.0.0.1:4000",
            "255.255.255.255:9",
            "0.0.0.0:4000",
            "203.0.113.5:5432",
            "[::ffff:127.0.0.1]:4000",
        ] {
            assert_eq!(
                callers_media_address(addr(target), internet, this_host),
                None,
                "{target}"
            );
        }
        // Routable addresses, private ones too (a phone on the centre's LAN).
        for target in ["198.51.100.7:4000", "192.0.2.9:4000", "10.1.2.3:4000"] {
            assert_eq!(
                callers_media_address(addr(target), internet, this_host),
                Some(addr(target)),
                "{target}"
            );
        }
        // A caller on this host (tests, a local proxy) may name loopback or this host.
        let local = addr("127.0.0.1:6000");
        assert_eq!(
            callers_media_address(local, "127.0.0.1".parse().expect("ip"), this_host),
            Some(local)
        );
        let own = addr("203.0.113.5:6000");
        assert_eq!(callers_media_address(own, this_host, this_host), Some(own));
    }
}
