//! Call events from the call controller: written to the store as they arrive
//! (one task, so the events of a call are stored in the order sent) and turned
//! into screen pops; the ACD's agent states are mirrored as they come.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::Shared;
use crate::agents::Decided;
use crate::error::{Error, Result};
use crate::protocol::{
    AgentState, Caller, Disposition, RegionSource, ScreenPop, TransferState, WithdrawReason,
};
use crate::spool::{Appender, Flushes};
use crate::store::{CallStep, Write};

/// Something that happened to a call, as the call controller reports it.
/// Times are epoch milliseconds from the controller's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// An INVITE for a 211 number arrived. Creates the call record.
    Arrived {
        call_id: String,
        /// The number, or withheld: a withheld caller's pop lists no
        /// previous contacts.
        caller: Caller,
        dialled: String,
        at_ms: i64,
    },
    /// The IVR answered (200 OK sent).
    IvrAnswered { call_id: String, at_ms: i64 },
    /// The caller reached an IVR step (a prompt, a menu choice); appended to
    /// the IVR path and kept as the last known step.
    Step {
        call_id: String,
        step: String,
        at_ms: i64,
    },
    /// The IVR learnt something about the call.
    Attribute {
        call_id: String,
        attribute: CallAttribute,
        at_ms: i64,
    },
    /// The flow ended in a route (the call is now queued or sent out).
    Routed {
        call_id: String,
        route: Route,
        at_ms: i64,
    },
    /// The ACD offered the call to a navigator: their device rings and the
    /// screen pop goes to their websocket. `callback`: the caller asked to be
    /// called back.
    Offered {
        call_id: String,
        navigator: String,
        callback: bool,
        at_ms: i64,
    },
    /// The ACD took an offer back (the navigator's device stops ringing and
    /// their screen pop is withdrawn), for `reason`. The navigator's agent
    /// state is not changed by this; a [`CallEvent::NavigatorState`] follows.
    OfferWithdrawn {
        call_id: String,
        navigator: String,
        reason: WithdrawReason,
        at_ms: i64,
    },
    /// A navigator's agent state as the ACD decided it: the CTI decides
    /// none and keeps no timer, it shows this verbatim. Sent after every
    /// change the ACD makes, and in answer to every
    /// [`NavigatorCommand::StateRequest`](crate::NavigatorCommand::StateRequest)
    /// (`answers` is its ticket; the state may be unchanged). A change, or
    /// an answer, is pushed to the navigator's screen as `state_changed`.
    NavigatorState {
        navigator: String,
        state: AgentState,
        /// The reason code with `not_ready`, else none.
        reason: Option<String>,
        /// What they asked for during a call, applied when it (and wrap-up) ends.
        next_state: Option<AgentState>,
        next_reason: Option<String>,
        /// When `wrap_up` ends by itself (epoch ms); none in other states.
        wrap_up_until_ms: Option<i64>,
        /// The ticket of the request this answers, if any.
        answers: Option<u64>,
        at_ms: i64,
    },
    /// A step of the call in the queues, for the call record: `kind` is
    /// "queued", "overflowed", "offered", "no_answer", "answered",
    /// "abandoned", "transferred", "callback_requested", "callback_dialling",
    /// "callback_failed", "routed_external", "ended", …; it becomes the
    /// record's last known step.
    QueueStep {
        call_id: String,
        kind: String,
        detail: String,
        at_ms: i64,
    },
    /// How a consult transfer the navigator asked for
    /// ([`NavigatorCommand::Transfer`](crate::NavigatorCommand::Transfer) with
    /// `consult`) is going; `detail` says more (e.g. why it failed), or is
    /// empty. Stored as a call event `consult_<state>`; if `navigator`
    /// holds the call, `transfer_progress` goes to their screen. The agent
    /// state is not changed by this.
    TransferProgress {
        call_id: String,
        navigator: String,
        state: TransferState,
        detail: String,
        at_ms: i64,
    },
    /// The caller went on hold at the navigator's request (`held`), or
    /// came back. Stored as a call event `held` / `resumed`; the
    /// navigator's screen gets `call_held`.
    Held {
        call_id: String,
        navigator: String,
        held: bool,
        at_ms: i64,
    },
    /// The navigator answered.
    Answered { call_id: String, at_ms: i64 },
    /// The call ended.
    Ended {
        call_id: String,
        disposition: Disposition,
        at_ms: i64,
    },
}

/// A fact about a call the IVR learns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallAttribute {
    /// "en" or "fr".
    Language(String),
    Region {
        region: String,
        source: RegionSource,
    },
    Centre(String),
    /// The need topic chosen in the menu (housing, food, …).
    Topic(String),
    Crisis(bool),
    /// The SIP Call-ID the call came with: the caller chose it, so it is
    /// only a field (the call's id is the engine's own).
    SipCallId(String),
    /// Where the carrier says the call was diverted from (`Diversion`,
    /// `History-Info`): usually the number first dialled.
    DivertedFrom(String),
    /// The emergency incident the call arrived during.
    Incident(String),
    /// The flow version the call runs on.
    FlowVersion(String),
}

/// Where the flow sent a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A centre's queue.
    Queue { centre: String },
    /// The province-wide crisis queue.
    CrisisQueue,
    /// An external SIP target.
    External { uri: String },
}

impl Route {
    fn describe(&self) -> String {
        match self {
            Route::Queue { centre } => format!("queue:{centre}"),
            Route::CrisisQueue => "crisis".into(),
            Route::External { uri } => format!("external:{uri}"),
        }
    }
}

pub(crate) enum Input {
    Event(CallEvent),
    Flush(oneshot::Sender<()>),
}

/// The call controller's handle for call events. Cheap to clone; `send`
/// waits when the store falls behind (back-pressure, never a silent drop).
#[derive(Debug, Clone)]
pub struct CallEvents {
    tx: mpsc::Sender<Input>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Event(e) => e.fmt(f),
            Input::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// The CTI side has shut down.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the CTI call-event task has stopped")]
pub struct Closed;

impl CallEvents {
    pub(crate) fn new(tx: mpsc::Sender<Input>) -> CallEvents {
        CallEvents { tx }
    }

    /// Hands one event over; it is stored (and pushed) in the order sent.
    pub async fn send(&self, event: CallEvent) -> std::result::Result<(), Closed> {
        self.tx.send(Input::Event(event)).await.map_err(|_| Closed)
    }

    /// Hands one event over without waiting; fails when the queue is full.
    pub fn try_send(&self, event: CallEvent) -> std::result::Result<(), CallEvent> {
        self.tx
            .try_send(Input::Event(event))
            .map_err(|e| match e.into_inner() {
                Input::Event(ev) => ev,
                Input::Flush(_) => unreachable!("only events are sent here"),
            })
    }

    /// Waits until every event sent before this call has been handled.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Input::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// What the event task remembers of a call in progress.
#[derive(Default)]
struct Live {
    caller: Caller,
    arrived_ms: i64,
    queued_ms: Option<i64>,
    language: Option<String>,
    region: Option<String>,
    region_source: Option<RegionSource>,
    centre: Option<String>,
    topic: Option<String>,
    crisis: bool,
    ivr_path: Vec<String>,
    /// The emergency incident the call arrived during.
    incident: Option<String>,
}

/// Most events taken from the controller at once: one fsync of the spool
/// for all of them.
const BATCH: usize = 256;

/// The call-event task: takes events in order, keeps the screens up to date
/// at once, and appends what the store must get to the spool (see
/// [`crate::spool`]); it never waits on the database.
pub(crate) async fn run(
    shared: std::sync::Arc<Shared>,
    mut rx: mpsc::Receiver<Input>,
    appender: Appender,
    flushes: std::sync::Arc<Flushes>,
    wake: mpsc::Sender<()>,
) {
    let mut live: HashMap<String, Live> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut writes = Vec::new();
    let mut appender = Some(appender);
    let mut closed = false;
    loop {
        let mut flushed = Vec::new();
        let retry = std::time::Duration::from_secs(1);
        if closed {
            if writes.is_empty() {
                return;
            }
            tokio::time::sleep(retry).await;
        } else {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => closed = n == 0,
                // Writes the spool could not take: tried again.
                () = tokio::time::sleep(retry), if !writes.is_empty() => {}
            }
        }
        for input in batch.drain(..) {
            match input {
                Input::Flush(done) => flushed.push(done),
                Input::Event(ev) => {
                    shared.status.count_call_event();
                    let (kind, call_id) = describe(&ev);
                    let what = (kind, call_id.to_owned());
                    if let Err(e) = handle(&shared, &mut live, ev, &mut writes).await {
                        shared.status.count_store_error();
                        tracing::error!(error = %e, event = what.0, call_id = what.1, "call event not handled");
                    }
                }
            }
        }
        let Some(mut spool) = appender.take() else {
            return;
        };
        if !writes.is_empty() {
            let mut pending = std::mem::take(&mut writes);
            let joined = tokio::task::spawn_blocking(move || {
                let result = spool.append(&mut pending);
                (spool, pending, result)
            })
            .await;
            let Ok((back, left, result)) = joined else {
                tracing::error!("the spool appender stopped");
                return;
            };
            spool = back;
            writes = left;
            if let Err(error) = result {
                shared.status.count_store_error();
                tracing::error!(%error, writes = writes.len(), "the spool cannot be written: the writes wait in memory and are tried again");
            }
            shared.status.set_spooled(spool.last_seq());
            let _ = wake.try_send(());
        }
        for done in flushed {
            flushes.wait(spool.last_seq(), done);
        }
        appender = Some(spool);
    }
}

/// An event's type and call, for a log line that shows no caller's number.
fn describe(ev: &CallEvent) -> (&'static str, &str) {
    match ev {
        CallEvent::Arrived { call_id, .. } => ("arrived", call_id),
        CallEvent::IvrAnswered { call_id, .. } => ("ivr_answered", call_id),
        CallEvent::Step { call_id, .. } => ("step", call_id),
        CallEvent::Attribute { call_id, .. } => ("attribute", call_id),
        CallEvent::Routed { call_id, .. } => ("routed", call_id),
        CallEvent::Offered { call_id, .. } => ("offered", call_id),
        CallEvent::OfferWithdrawn { call_id, .. } => ("offer_withdrawn", call_id),
        CallEvent::NavigatorState { .. } => ("navigator_state", ""),
        CallEvent::QueueStep { call_id, .. } => ("queue_step", call_id),
        CallEvent::TransferProgress { call_id, .. } => ("transfer_progress", call_id),
        CallEvent::Held { call_id, .. } => ("held", call_id),
        CallEvent::Answered { call_id, .. } => ("answered", call_id),
        CallEvent::Ended { call_id, .. } => ("ended", call_id),
    }
}

/// How long a screen pop waits for the caller's history before it goes
/// without it.
const HISTORY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

async fn handle(
    shared: &Shared,
    live: &mut HashMap<String, Live>,
    ev: CallEvent,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let store = &shared.store;
    match ev {
        CallEvent::Arrived {
            call_id,
            caller,
            dialled,
            at_ms,
        } => {
            live.insert(
                call_id.clone(),
                Live {
                    caller: caller.clone(),
                    arrived_ms: at_ms,
                    ..Live::default()
                },
            );
            writes.push(Write::Arrived {
                call_id,
                caller,
                dialled,
                at_ms,
            });
        }
        CallEvent::IvrAnswered { call_id, at_ms } => {
            step(writes, call_id, at_ms, CallStep::IvrAnswered);
        }
        CallEvent::Step {
            call_id,
            step,
            at_ms,
        } => {
            let call = live.entry(call_id.clone()).or_default();
            call.ivr_path.push(step.clone());
            let ivr_path = call.ivr_path.clone();
            self::step(writes, call_id, at_ms, CallStep::IvrStep { step, ivr_path });
        }
        CallEvent::Attribute {
            call_id,
            attribute,
            at_ms,
        } => {
            let call = live.entry(call_id.clone()).or_default();
            match attribute.clone() {
                CallAttribute::Language(l) => call.language = Some(l),
                CallAttribute::Region { region, source } => {
                    call.region = Some(region);
                    call.region_source = Some(source);
                }
                CallAttribute::Centre(c) => call.centre = Some(c),
                CallAttribute::Topic(t) => call.topic = Some(t),
                CallAttribute::Crisis(c) => call.crisis = c,
                CallAttribute::Incident(tag) => call.incident = Some(tag),
                CallAttribute::SipCallId(_)
                | CallAttribute::DivertedFrom(_)
                | CallAttribute::FlowVersion(_) => {}
            }
            step(writes, call_id, at_ms, CallStep::Attribute { attribute });
        }
        CallEvent::Routed {
            call_id,
            route,
            at_ms,
        } => {
            let call = live.entry(call_id.clone()).or_default();
            let centre = match &route {
                Route::Queue { centre } => Some(centre.clone()),
                _ => None,
            };
            call.queued_ms = Some(at_ms);
            if let Some(c) = &centre {
                call.centre = Some(c.clone());
            }
            let route = route.describe();
            step(writes, call_id, at_ms, CallStep::Routed { route, centre });
        }
        CallEvent::Offered {
            call_id,
            navigator,
            callback,
            at_ms,
        } => {
            step(
                writes,
                call_id.clone(),
                at_ms,
                CallStep::Offered {
                    navigator: navigator.clone(),
                },
            );
            if callback {
                step(writes, call_id.clone(), at_ms, CallStep::Callback);
            }
            // A logged-in navigator is known here; the store only for one
            // who is not (a follow-up's navigator, say).
            let account = match shared.registry.account(&navigator) {
                Some(info) => info,
                None => {
                    store
                        .within(HISTORY_WAIT, store.account(&navigator))
                        .await?
                        .ok_or_else(|| Error::NoSuchAccount(navigator.clone()))?
                        .info
                }
            };
            if !live.contains_key(&call_id) {
                // Not seen since this process started: rebuild from the record.
                let r = store
                    .within(HISTORY_WAIT, store.call(&call_id))
                    .await?
                    .ok_or_else(|| Error::NoSuchCall(call_id.clone()))?;
                live.insert(
                    call_id.clone(),
                    Live {
                        caller: r.caller,
                        arrived_ms: r.arrived_ms,
                        queued_ms: r.queued_ms,
                        language: r.language,
                        region: r.region,
                        region_source: r.region_source,
                        centre: r.centre,
                        topic: r.topic,
                        crisis: r.crisis,
                        ivr_path: r.ivr_path,
                        incident: r.incident,
                    },
                );
            }
            let Some(call) = live.get(&call_id) else {
                return Err(Error::NoSuchCall(call_id));
            };
            // The pop goes now, with the caller's history if the store
            // gives it in time: a navigator must not wait on the database.
            let history = store
                .within(
                    HISTORY_WAIT,
                    store.previous_contacts(
                        &call.caller,
                        Some(&call_id),
                        shared.config.history_limit,
                    ),
                )
                .await;
            let previous_contacts = history.unwrap_or_else(|error| {
                tracing::warn!(%error, %call_id, "screen pop without the caller's history");
                Vec::new()
            });
            let since = call.queued_ms.unwrap_or(call.arrived_ms);
            let pop = ScreenPop {
                call_id: call_id.clone(),
                caller: call.caller.clone(),
                region: call.region.clone(),
                region_source: call.region_source,
                centre: call.centre.clone(),
                language: call.language.clone().unwrap_or_else(|| "en".into()),
                crisis: call.crisis,
                topic: call.topic.clone(),
                ivr_path: call.ivr_path.clone(),
                waited_s: u64::try_from((at_ms - since).max(0) / 1000).unwrap_or(0),
                previous_contacts,
                // A call tagged with the incident is one emergency mode
                // applies to (its region's); else, whether it is on at all
                // for the caller's region.
                emergency_mode: call.incident.is_some()
                    || shared.emergency_applies(call.region.as_deref()),
                incident: call.incident.clone(),
                callback,
            };
            let shown = pop.previous_contacts.len();
            let navigator = account.username.clone();
            shared.registry.offer(account, pop);
            shared.status.observe_pop(std::time::Duration::from_millis(
                u64::try_from(crate::now_ms() - at_ms).unwrap_or(0),
            ));
            if shown > 0 {
                // The screen first; then the record that this navigator saw
                // the caller's history.
                writes.push(Write::Audit {
                    entry: crate::store::AuditEntry {
                        at_ms,
                        actor: navigator,
                        action: "history.read".into(),
                        target: call_id.clone(),
                        outcome: "ok".into(),
                        detail: format!("screen pop, {shown} contacts"),
                        peer: String::new(),
                    },
                });
            }
        }
        CallEvent::OfferWithdrawn {
            call_id,
            navigator,
            reason,
            at_ms,
        } => {
            // The screen first: it must not wait on the disk.
            shared
                .registry
                .withdraw(&navigator, &call_id, reason, at_ms);
            let detail = format!("navigator={navigator} reason={}", reason.as_str());
            let note = CallStep::Note {
                kind: "offer_withdrawn".into(),
                detail,
            };
            step(writes, call_id, at_ms, note);
        }
        CallEvent::NavigatorState {
            navigator,
            state,
            reason,
            next_state,
            next_reason,
            wrap_up_until_ms,
            answers,
            at_ms,
        } => {
            let decided = Decided {
                state,
                reason,
                next_state,
                next_reason,
                wrap_up_until_ms,
                answers,
                at_ms,
            };
            shared.registry.follow(&navigator, decided);
        }
        CallEvent::QueueStep {
            call_id,
            kind,
            detail,
            at_ms,
        } => {
            step(writes, call_id, at_ms, CallStep::QueueStep { kind, detail });
        }
        CallEvent::TransferProgress {
            call_id,
            navigator,
            state,
            detail,
            at_ms,
        } => {
            // The screen first: it must not wait on the disk.
            shared
                .registry
                .transfer_progress(&navigator, &call_id, state, &detail, at_ms);
            let note = CallStep::Note {
                kind: format!("consult_{}", state.as_str()),
                detail,
            };
            step(writes, call_id, at_ms, note);
        }
        CallEvent::Held {
            call_id,
            navigator,
            held,
            at_ms,
        } => {
            shared.registry.held(&navigator, &call_id, held, at_ms);
            let note = CallStep::Note {
                kind: if held { "held" } else { "resumed" }.into(),
                detail: navigator,
            };
            step(writes, call_id, at_ms, note);
        }
        CallEvent::Answered { call_id, at_ms } => {
            shared.registry.answered(&call_id, at_ms);
            step(writes, call_id, at_ms, CallStep::Answered);
        }
        CallEvent::Ended {
            call_id,
            disposition,
            at_ms,
        } => {
            live.remove(&call_id);
            shared.status.count_disposition(disposition);
            // Tell the navigator first: their screen must not wait on the disk.
            shared.registry.ended(&call_id, disposition, at_ms);
            step(writes, call_id, at_ms, CallStep::Ended { disposition });
        }
    }
    Ok(())
}

/// One step of a call for the store, through the spool.
fn step(writes: &mut Vec<Write>, call_id: String, at_ms: i64, step: CallStep) {
    writes.push(Write::Step {
        call_id,
        at_ms,
        step,
    });
}
