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

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Shared;
use super::b2bua::{
    CALLER_LEG, CallbackAction, CallbackInput, CallbackLegs, CallbackReport, NAVIGATOR_LEG,
};
use super::leg::{Leg, Legs};
use crate::queues::{Callback, CallbackEvent, CallbackOrder, Queues};

/// Run one callback attempt to its end: the task pumps the legs' SIP and
/// the queues' orders into [`CallbackLegs`] and carries out what it says.
pub async fn run(
    cb: Callback,
    shared: Arc<Shared>,
    queues: Queues,
    mut orders: mpsc::UnboundedReceiver<CallbackOrder>,
) {
    let span = tracing::info_span!("callback", call_id = %cb.cti_id, navigator = %cb.navigator);
    let _enter = span.enter();
    if let Err(refusal) = shared.trunk.dial_plan().check(&cb.number) {
        // Toll fraud dials premium and far-away numbers through the trunk:
        // not even the navigator's phone rings for one.
        // Masked like every caller's number at warn; whole at debug.
        tracing::debug!(%refusal, "callback refused");
        let refusal = super::caller::mask_number(&refusal.to_string());
        tracing::warn!(%refusal, "callback refused by the dial plan");
        queues.callback_event(cb.call, CallbackEvent::CallerFailed);
        return;
    }
    drop(_enter);
    let phone = cb.contacts.first().cloned();
    let (mut core, actions) = CallbackLegs::start(&cb.number, phone);
    let mut legs = Legs::default();
    let mut pending = VecDeque::new();
    let mut todo: VecDeque<CallbackAction> = actions.into();
    loop {
        while let Some(action) = todo.pop_front() {
            match action {
                CallbackAction::Place { leg, dial } => {
                    match Leg::place(&shared, &dial, Some(&cb.number), false).await {
                        Ok(placed) => {
                            let whom = if leg == NAVIGATOR_LEG {
                                "the navigator"
                            } else {
                                "the caller"
                            };
                            let uri = super::caller::mask_number(&placed.uri);
                            tracing::info!(%uri, "callback: ringing {whom}");
                            legs.insert(leg, placed);
                        }
                        Err(error) => {
                            tracing::warn!(%error, %leg, "callback: cannot place the leg");
                            pending.push_back(CallbackInput::PlaceFailed {
                                leg,
                                why: error.to_string(),
                            });
                        }
                    }
                }
                CallbackAction::StartMedia { leg, negotiated } => {
                    if let Some(placed) = legs.get_mut(leg) {
                        placed.start_media(&negotiated, shared.rtp_timeout);
                    }
                }
                CallbackAction::Bridge => {
                    let bridged = match (legs.media(NAVIGATOR_LEG), legs.media(CALLER_LEG)) {
                        (Some(a), Some(b)) => a.bridge(b).map_err(|e| e.to_string()),
                        _ => Err("a leg is missing".into()),
                    };
                    match bridged {
                        Ok(()) => tracing::info!("callback: connected"),
                        Err(error) => {
                            tracing::warn!(%error, "callback: cannot bridge");
                            pending.push_back(CallbackInput::BridgeFailed);
                        }
                    }
                }
                CallbackAction::Release(leg) => legs.release(leg).await,
                CallbackAction::Report(report) => {
                    tracing::info!(?report, "callback");
                    queues.callback_event(
                        cb.call,
                        match report {
                            CallbackReport::NavigatorFailed { why } => {
                                CallbackEvent::NavigatorFailed {
                                    navigator: cb.navigator.clone(),
                                    reason: why,
                                }
                            }
                            CallbackReport::CallerFailed => CallbackEvent::CallerFailed,
                            CallbackReport::Connected => CallbackEvent::Connected,
                            CallbackReport::Ended => CallbackEvent::Ended,
                        },
                    );
                }
            }
            if todo.is_empty()
                && let Some(input) = pending.pop_front()
            {
                todo.extend(core.handle(std::time::Instant::now(), input));
            }
        }
        if core.done() {
            legs.release_all().await;
            return;
        }
        let input = tokio::select! {
            order = orders.recv() => {
                // Hang-up (or the queues went away): end both legs.
                let _ = order;
                tracing::info!("callback: hanging up");
                CallbackInput::Hangup
            }
            (leg, event) = legs.next() => CallbackInput::Leg { leg, event },
        };
        todo.extend(core.handle(std::time::Instant::now(), input));
    }
}
