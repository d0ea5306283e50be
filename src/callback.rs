//! A callback: the caller who asked to be called back has reached the head
//! of their queue and a navigator is reserved for them.
//!
//! The navigator's phone rings first (their screen shows the callback), so
//! that nobody the engine calls back ever waits for a person: once the
//! navigator answers, the engine calls the caller through the trunk
//! (`[trunk]`, with its digest credentials) and bridges the two legs. Either
//! side hanging up ends both. What happens goes back to the queues, which
//! retry a failed callback later and, after the configured attempts, leave
//! it on the supervisors' list.

use std::sync::Arc;

use frontdoor_sip::ua::Party;
use tokio::sync::mpsc;

use crate::call::{Leg, Shared, leg_event, resolve_target};
use crate::queues::{Callback, CallbackEvent, CallbackOrder, Queues};
use crate::sip_driver::CallEvent;

/// Where the callback stands.
enum Stage {
    /// The navigator's phone rings.
    RingingNavigator,
    /// The navigator answered; the caller's phone rings.
    DiallingCaller,
    Connected,
}

/// Run one callback attempt to its end.
pub async fn run(
    cb: Callback,
    shared: Arc<Shared>,
    queues: Queues,
    mut orders: mpsc::UnboundedReceiver<CallbackOrder>,
) {
    let span = tracing::info_span!("callback", call_id = %cb.cti_id, navigator = %cb.navigator);
    let _enter = span.enter();
    drop(_enter);
    let report = |event| queues.callback_event(cb.call, event);
    let nav_failed = |reason: String| CallbackEvent::NavigatorFailed {
        navigator: cb.navigator.clone(),
        reason,
    };

    let Some(contact) = cb.contacts.first() else {
        report(nav_failed("no registered phone".into()));
        return;
    };
    let number = cb.number.clone();
    let media_ip = shared.media_ip;
    let navigator_leg = Leg::place(&shared, &contact.uri, contact.peer, |out| {
        out.from = Some(Party::new(
            Some("Callback"),
            format!("sip:{number}@{media_ip}"),
        ));
    })
    .await;
    let mut navigator = match navigator_leg {
        Ok(leg) => Some(leg),
        Err(error) => {
            tracing::warn!(%error, "cannot ring the navigator for a callback");
            report(nav_failed(error.to_string()));
            return;
        }
    };
    tracing::info!(uri = %contact.uri, "callback: ringing the navigator");
    let mut caller: Option<Leg> = None;
    let mut stage = Stage::RingingNavigator;

    loop {
        tokio::select! {
            order = orders.recv() => {
                // Hang-up (or the queues went away): end both legs.
                let _ = order;
                tracing::info!("callback: hanging up");
                release(&mut navigator, &mut caller).await;
                if matches!(stage, Stage::Connected) {
                    report(CallbackEvent::Ended);
                }
                return;
            }
            event = leg_event(&mut navigator) => match (event, &stage) {
                (Some(CallEvent::Answered { sdp }), Stage::RingingNavigator) => {
                    let started = navigator
                        .as_mut()
                        .map(|leg| leg.answered(sdp.as_deref(), shared.rtp_timeout).map(|_| ()));
                    if let Some(Err(error)) = started {
                        tracing::warn!(%error, "callback: the navigator's phone answered unusably");
                        release(&mut navigator, &mut caller).await;
                        report(nav_failed(error.to_string()));
                        return;
                    }
                    match dial_caller(&shared, &cb.number).await {
                        Ok(leg) => {
                            tracing::info!(uri = %leg.uri, "callback: calling the caller");
                            caller = Some(leg);
                            stage = Stage::DiallingCaller;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "callback: cannot call the caller");
                            release(&mut navigator, &mut caller).await;
                            report(CallbackEvent::CallerFailed);
                            return;
                        }
                    }
                }
                (Some(CallEvent::Failed { code }), _) => {
                    tracing::info!(code, "callback: the navigator's phone did not answer");
                    navigator = None;
                    release(&mut navigator, &mut caller).await;
                    report(nav_failed(format!("SIP {code}")));
                    return;
                }
                (Some(CallEvent::Ended { .. }) | None, _) => {
                    tracing::info!("callback: the navigator hung up");
                    navigator = None;
                    release(&mut navigator, &mut caller).await;
                    report(match stage {
                        Stage::Connected => CallbackEvent::Ended,
                        _ => nav_failed("hung up".into()),
                    });
                    return;
                }
                (Some(other), _) => tracing::debug!(?other, "callback: navigator leg event"),
            },
            event = leg_event(&mut caller) => match event {
                Some(CallEvent::Answered { sdp }) => {
                    let bridged = match (navigator.as_ref().and_then(|l| l.media.as_ref()), caller.as_mut()) {
                        (Some((nav_media, _)), Some(leg)) => {
                            let nav_media = nav_media.clone();
                            leg.answered(sdp.as_deref(), shared.rtp_timeout)
                                .and_then(|media| nav_media.bridge(media).map_err(|e| anyhow::anyhow!("{e}")))
                        }
                        _ => Err(anyhow::anyhow!("a leg is missing")),
                    };
                    if let Err(error) = bridged {
                        tracing::warn!(%error, "callback: cannot bridge");
                        release(&mut navigator, &mut caller).await;
                        report(CallbackEvent::CallerFailed);
                        return;
                    }
                    tracing::info!("callback: connected");
                    stage = Stage::Connected;
                    report(CallbackEvent::Connected);
                }
                Some(CallEvent::Failed { code }) => {
                    tracing::info!(code, "callback: the caller did not answer");
                    caller = None;
                    release(&mut navigator, &mut caller).await;
                    report(CallbackEvent::CallerFailed);
                    return;
                }
                Some(CallEvent::Ended { .. }) | None => {
                    tracing::info!("callback: the caller hung up");
                    caller = None;
                    release(&mut navigator, &mut caller).await;
                    report(match stage {
                        Stage::Connected => CallbackEvent::Ended,
                        _ => CallbackEvent::CallerFailed,
                    });
                    return;
                }
                Some(other) => tracing::debug!(?other, "callback: caller leg event"),
            },
        }
    }
}

async fn release(a: &mut Option<Leg>, b: &mut Option<Leg>) {
    for leg in [a.take(), b.take()].into_iter().flatten() {
        leg.release().await;
    }
}

/// Call `number` through the trunk, as 211.
async fn dial_caller(shared: &Shared, number: &str) -> anyhow::Result<Leg> {
    let proxy = shared
        .trunk
        .proxy
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("no [trunk] proxy to call through"))?;
    let host = proxy.rsplit_once(':').map_or(proxy, |(h, _)| h);
    let uri = format!("sip:{number}@{host}");
    let peer = resolve_target(&uri, Some(proxy)).await?;
    let media_ip = shared.media_ip;
    let trunk = shared.trunk.clone();
    Leg::place(shared, &uri, peer, |out| {
        out.from = Some(Party::new(Some("211"), format!("sip:211@{media_ip}")));
        if let (Some(user), Some(password)) = (&trunk.username, &trunk.password) {
            out.credentials = Some((user.clone(), password.clone()));
        }
    })
    .await
}
