//! Browser phones: the engine's WebRTC gateway, handed to the CTI, which
//! carries the browsers' signalling (docs/cti-protocol.md, `phone_offer`),
//! and the navigators' browsers as phones the calls ring ([`Browsers`]).
//!
//! A connected browser is one more phone of its navigator: the queues'
//! contact lookup lists it beside their SIP phones, a call places a leg
//! to it ([`crate::call::b2bua::Via::Browser`]) with no SIP, and the page
//! answers it (`answer`), which reaches that leg as a SIP phone's 200
//! would. Its audio is plain PCMU RTP on the gateway's loopback socket for
//! the device, so the call's media treat it like any phone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use frontdoor_cti::protocol::PhoneState;
use frontdoor_media::webrtc::LegState;
use frontdoor_media::webrtc::gateway::{Gateway, GatewayEvent, LOOPBACK_EVENT_PT};
use frontdoor_sip::ua::EndReason;
use tokio::sync::{mpsc, oneshot};

use crate::sip_driver::CallEvent;

/// The navigators' browser phones, as the calls and the queues see them.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Browsers(Arc<Mutex<BrowsersInner>>);

#[derive(Debug, Default)]
struct BrowsersInner {
    /// By navigator.
    devices: HashMap<String, Device>,
    next_ring: u64,
}

#[derive(Debug)]
struct Device {
    /// The device's plain RTP, on loopback.
    media: SocketAddr,
    /// Connected: it can ring.
    connected: bool,
    /// The legs placed to it, in order.
    rings: Vec<Ring>,
}

#[derive(Debug)]
struct Ring {
    id: u64,
    /// The leg's events, as its SIP would give them.
    events: mpsc::UnboundedSender<CallEvent>,
    answered: bool,
}

/// A leg placed to a browser: while it lives, the page may answer it.
#[derive(Debug)]
pub struct Ringing {
    browsers: Browsers,
    navigator: String,
    id: u64,
}

impl Drop for Ringing {
    fn drop(&mut self) {
        if let Some(device) = self.browsers.lock().devices.get_mut(&self.navigator) {
            device.rings.retain(|r| r.id != self.id);
        }
    }
}

/// The SDP answer a browser device gives, as a SIP phone's 200 would:
/// PCMU and telephone-events, at its loopback address.
fn device_answer(media: SocketAddr) -> Vec<u8> {
    let ip = media.ip();
    let port = media.port();
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 {LOOPBACK_EVENT_PT}\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:{LOOPBACK_EVENT_PT} telephone-event/8000\r\na=fmtp:{LOOPBACK_EVENT_PT} 0-16\r\n\
         a=sendrecv\r\n"
    )
    .into_bytes()
}

impl Browsers {
    fn lock(&self) -> std::sync::MutexGuard<'_, BrowsersInner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where `navigator`'s browser phone is (its loopback RTP), while it
    /// is connected and can ring.
    pub fn of(&self, navigator: &str) -> Option<SocketAddr> {
        self.lock()
            .devices
            .get(navigator)
            .filter(|d| d.connected)
            .map(|d| d.media)
    }

    /// Rings the browser at `media`: its events come on `events` (ringing
    /// now, answered when the page answers, failed or ended when the
    /// browser goes), for as long as the returned guard lives. `None`:
    /// no connected browser is there any more.
    pub fn ring(
        &self,
        media: SocketAddr,
        events: mpsc::UnboundedSender<CallEvent>,
    ) -> Option<Ringing> {
        let mut inner = self.lock();
        inner.next_ring += 1;
        let id = inner.next_ring;
        let (navigator, device) = inner
            .devices
            .iter_mut()
            .find(|(_, d)| d.media == media && d.connected)?;
        let navigator = navigator.clone();
        let _ = events.send(CallEvent::Progress { code: 180 });
        device.rings.push(Ring {
            id,
            events,
            answered: false,
        });
        Some(Ringing {
            browsers: self.clone(),
            navigator,
            id,
        })
    }

    /// The page answered: the oldest leg ringing `navigator`'s browser is
    /// answered. Why not, when none rings.
    pub fn answer(&self, navigator: &str) -> Result<(), String> {
        let mut inner = self.lock();
        let device = inner
            .devices
            .get_mut(navigator)
            .filter(|d| d.connected)
            .ok_or("this browser phone is not connected")?;
        let media = device.media;
        let ring = device
            .rings
            .iter_mut()
            .find(|r| !r.answered && !r.events.is_closed())
            .ok_or("no call is ringing on this browser phone")?;
        ring.answered = true;
        let _ = ring.events.send(CallEvent::Answered {
            sdp: Some(device_answer(media)),
        });
        Ok(())
    }

    /// `navigator`'s browser connected (or connects again) at `media`.
    fn connected(&self, navigator: &str, media: SocketAddr, connected: bool) {
        let mut inner = self.lock();
        let device = inner
            .devices
            .entry(navigator.to_owned())
            .or_insert_with(|| Device {
                media,
                connected,
                rings: Vec::new(),
            });
        device.media = media;
        device.connected = connected;
    }

    /// `navigator`'s browser's connection is up: it rings from now on.
    fn up(&self, navigator: &str) {
        if let Some(device) = self.lock().devices.get_mut(navigator) {
            device.connected = true;
        }
    }

    /// `navigator`'s browser can no longer ring: what rings it fails.
    /// `Lost::Gone`: its connection is over, so a call on it ends too;
    /// `Lost::Removed`: and the device is forgotten.
    fn lost(&self, navigator: &str, how: Lost) {
        let mut inner = self.lock();
        let Some(device) = inner.devices.get_mut(navigator) else {
            return;
        };
        device.connected = false;
        device.rings.retain(|ring| {
            if !ring.answered {
                let _ = ring.events.send(CallEvent::Failed { code: 480 });
                false
            } else if how != Lost::Unreachable {
                let _ = ring.events.send(CallEvent::Ended {
                    reason: EndReason::RemoteBye,
                });
                false
            } else {
                true
            }
        });
        if how == Lost::Removed {
            inner.devices.remove(navigator);
        }
    }
}

/// How a browser phone was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// Not heard for a while: it may come back, with a call on it.
    Unreachable,
    /// Its connection failed or was closed.
    Gone,
    /// Turned off, or its navigator logged out.
    Removed,
}

/// The gateway, as the CTI's [`frontdoor_cti::phones::BrowserPhones`].
struct Phones {
    gateway: Gateway,
    browsers: Browsers,
}

impl frontdoor_cti::phones::BrowserPhones for Phones {
    fn connect(&self, navigator: &str, offer: String) -> oneshot::Receiver<Result<String, String>> {
        let (reply, answer) = oneshot::channel();
        let gateway = self.gateway.clone();
        let browsers = self.browsers.clone();
        let navigator = navigator.to_owned();
        tokio::spawn(async move {
            let result = gateway
                .connect(&navigator, &offer)
                .await
                .map(|connected| {
                    // Rings once the browser's connection is up.
                    browsers.connected(&navigator, connected.media, false);
                    connected.answer
                })
                .map_err(|error| error.to_string());
            if let Err(error) = &result {
                tracing::info!(%navigator, %error, "browser phone offer refused");
            }
            let _ = reply.send(result);
        });
        answer
    }

    fn answer(&self, navigator: &str) -> Result<(), String> {
        self.browsers.answer(navigator)
    }

    fn remove(&self, navigator: &str) {
        self.browsers.lost(navigator, Lost::Removed);
        self.gateway.remove(navigator);
    }
}

fn state(state: LegState) -> PhoneState {
    match state {
        LegState::Connecting => PhoneState::Connecting,
        LegState::Connected => PhoneState::Connected,
        LegState::Disconnected => PhoneState::Disconnected,
        LegState::Failed => PhoneState::Failed,
        LegState::Closed => PhoneState::Closed,
    }
}

/// Opens the WebRTC port on `bind` (port 0: any free one), browsers
/// reaching it at `advertise`, and hands it to the CTI. Its address; an
/// error when the port cannot be had (the engine then runs without
/// browser phones).
pub async fn start(
    cti: &frontdoor_cti::Cti,
    browsers: &Browsers,
    bind: SocketAddr,
    advertise: std::net::IpAddr,
) -> std::io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    let public = SocketAddr::new(advertise, socket.local_addr()?.port());
    let (gateway, mut events) = Gateway::start(socket, public);
    cti.set_phones(Arc::new(Phones {
        gateway,
        browsers: browsers.clone(),
    }));
    let cti = cti.clone();
    let browsers = browsers.clone();
    tokio::spawn(async move {
        while let Some(GatewayEvent::State { device, state: s }) = events.recv().await {
            match s {
                LegState::Connecting => {}
                LegState::Connected => browsers.up(&device),
                LegState::Disconnected => browsers.lost(&device, Lost::Unreachable),
                LegState::Failed | LegState::Closed => browsers.lost(&device, Lost::Gone),
            }
            cti.phone_state(&device, state(s));
        }
    });
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    fn connected() -> Browsers {
        let browsers = Browsers::default();
        browsers.connected("nav1", media(), true);
        browsers
    }

    #[test]
    fn only_a_connected_browser_is_a_phone_that_rings() {
        let browsers = Browsers::default();
        assert_eq!(browsers.of("nav1"), None);
        browsers.connected("nav1", media(), false);
        assert_eq!(browsers.of("nav1"), None, "connecting: not yet");
        let (tx, _rx) = mpsc::unbounded_channel();
        assert!(browsers.ring(media(), tx).is_none());
        browsers.connected("nav1", media(), true);
        assert_eq!(browsers.of("nav1"), Some(media()));
        assert_eq!(browsers.of("nav2"), None);
    }

    #[test]
    fn the_page_answers_what_rings_with_a_usable_answer_once() {
        let browsers = connected();
        assert_eq!(
            browsers.answer("nav1"),
            Err("no call is ringing on this browser phone".into())
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ringing = browsers.ring(media(), tx).expect("rings");
        assert!(matches!(
            rx.try_recv(),
            Ok(CallEvent::Progress { code: 180 })
        ));
        browsers.answer("nav1").unwrap();
        let Ok(CallEvent::Answered { sdp: Some(sdp) }) = rx.try_recv() else {
            panic!("answered");
        };
        // What the B2BUA reads from it, as from a SIP phone's 200.
        let negotiated = frontdoor_sip::sdp::parse_answer(&sdp).expect("a usable answer");
        assert_eq!(negotiated.remote, media());
        assert_eq!(negotiated.codec, frontdoor_sip::sdp::Codec::Pcmu);
        assert_eq!(negotiated.telephone_event, Some(LOOPBACK_EVENT_PT));
        assert!(
            browsers.answer("nav1").is_err(),
            "answered already: nothing else rings"
        );
        drop(ringing);
        assert!(browsers.lock().devices["nav1"].rings.is_empty());
    }

    #[test]
    fn a_lost_browser_fails_what_rings_and_ends_a_call_only_once_gone() {
        let browsers = connected();
        let (ringing_tx, mut ringing_rx) = mpsc::unbounded_channel();
        let (call_tx, mut call_rx) = mpsc::unbounded_channel();
        let _call = browsers.ring(media(), call_tx).unwrap();
        browsers.answer("nav1").unwrap();
        let _ring = browsers.ring(media(), ringing_tx).unwrap();
        while call_rx.try_recv().is_ok() {}
        while ringing_rx.try_recv().is_ok() {}

        browsers.lost("nav1", Lost::Unreachable);
        assert!(matches!(
            ringing_rx.try_recv(),
            Ok(CallEvent::Failed { code: 480 })
        ));
        assert!(call_rx.try_recv().is_err(), "a call survives a short loss");
        assert_eq!(browsers.of("nav1"), None, "it rings no more meanwhile");

        browsers.connected("nav1", media(), true);
        browsers.lost("nav1", Lost::Gone);
        assert!(matches!(call_rx.try_recv(), Ok(CallEvent::Ended { .. })));
        assert!(browsers.lock().devices.contains_key("nav1"));
        browsers.lost("nav1", Lost::Removed);
        assert!(!browsers.lock().devices.contains_key("nav1"));
    }
}
