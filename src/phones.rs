//! Browser phones: the engine's WebRTC gateway, handed to the CTI, which
//! carries the browsers' signalling (docs/cti-protocol.md, `phone_offer`).

use std::net::SocketAddr;
use std::sync::Arc;

use frontdoor_cti::protocol::PhoneState;
use frontdoor_media::webrtc::LegState;
use frontdoor_media::webrtc::gateway::{Gateway, GatewayEvent};
use tokio::sync::oneshot;

/// The gateway, as the CTI's [`frontdoor_cti::phones::BrowserPhones`].
struct Phones {
    gateway: Gateway,
}

impl frontdoor_cti::phones::BrowserPhones for Phones {
    fn connect(&self, navigator: &str, offer: String) -> oneshot::Receiver<Result<String, String>> {
        let (reply, answer) = oneshot::channel();
        let gateway = self.gateway.clone();
        let navigator = navigator.to_owned();
        tokio::spawn(async move {
            let result = gateway
                .connect(&navigator, &offer)
                .await
                .map(|connected| connected.answer)
                .map_err(|error| error.to_string());
            if let Err(error) = &result {
                tracing::info!(%navigator, %error, "browser phone offer refused");
            }
            let _ = reply.send(result);
        });
        answer
    }

    fn remove(&self, navigator: &str) {
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
    bind: SocketAddr,
    advertise: std::net::IpAddr,
) -> std::io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    let public = SocketAddr::new(advertise, socket.local_addr()?.port());
    let (gateway, mut events) = Gateway::start(socket, public);
    cti.set_phones(Arc::new(Phones { gateway }));
    let cti = cti.clone();
    tokio::spawn(async move {
        while let Some(GatewayEvent::State { device, state: s }) = events.recv().await {
            cti.phone_state(&device, state(s));
        }
    });
    Ok(public)
}
