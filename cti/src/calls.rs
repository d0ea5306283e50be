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
use crate::store::CallStep;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Most events written in one transaction: many calls' events share one
/// commit, so the store keeps up with hundreds of calls a second.
const BATCH: usize = 256;

pub(crate) async fn run(shared: std::sync::Arc<Shared>, mut rx: mpsc::Receiver<Input>) {
    let mut live: HashMap<String, Live> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        write_batch(&shared, &mut live, &mut batch).await;
    }
}

/// Writes a batch of events in one transaction, each in its own savepoint:
/// an event the store refuses is rolled back alone, logged and counted, and
/// the others are kept. Flushes are answered once the batch is committed.
async fn write_batch(shared: &Shared, live: &mut HashMap<String, Live>, batch: &mut Vec<Input>) {
    let mut flushed = Vec::new();
    let mut tx = match shared.store.pool().begin().await {
        Ok(tx) => Some(tx),
        Err(e) => {
            tracing::error!(error = %e, "the store cannot start a transaction");
            None
        }
    };
    let mut written = 0usize;
    for input in batch.drain(..) {
        match input {
            Input::Flush(done) => flushed.push(done),
            Input::Event(ev) => {
                shared.status.count_call_event();
                let result = match tx.as_mut() {
                    Some(tx) => handle(shared, live, tx, ev.clone()).await,
                    None => Err(Error::Invalid("no transaction".into())),
                };
                match result {
                    Ok(()) => written += 1,
                    Err(e) => {
                        shared.status.count_store_error();
                        tracing::error!(error = %e, event = ?ev, "call event not stored");
                    }
                }
            }
        }
    }
    if let Some(tx) = tx
        && let Err(e) = tx.commit().await
    {
        for _ in 0..written {
            shared.status.count_store_error();
        }
        tracing::error!(error = %e, events = written, "call events not stored: the commit failed");
    }
    for done in flushed {
        let _ = done.send(());
    }
}

async fn handle(
    shared: &Shared,
    live: &mut HashMap<String, Live>,
    conn: &mut sqlx::AnyConnection,
    ev: CallEvent,
) -> Result<()> {
    let store = &shared.store;
    match ev {
        CallEvent::Arrived {
            call_id,
            caller,
            dialled,
            at_ms,
        } => {
            store
                .call_arrived(conn, &call_id, &caller, &dialled, at_ms)
                .await?;
            live.insert(
                call_id,
                Live {
                    caller,
                    arrived_ms: at_ms,
                    ..Live::default()
                },
            );
        }
        CallEvent::IvrAnswered { call_id, at_ms } => {
            store
                .record_step(conn, &call_id, at_ms, CallStep::IvrAnswered)
                .await?;
        }
        CallEvent::Step {
            call_id,
            step,
            at_ms,
        } => {
            let call = live.entry(call_id.clone()).or_default();
            call.ivr_path.push(step.clone());
            let step = CallStep::IvrStep {
                step: &step,
                ivr_path: &call.ivr_path,
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
        }
        CallEvent::Attribute {
            call_id,
            attribute,
            at_ms,
        } => {
            store
                .record_step(conn, &call_id, at_ms, CallStep::Attribute(&attribute))
                .await?;
            let call = live.entry(call_id).or_default();
            match attribute {
                CallAttribute::Language(l) => call.language = Some(l),
                CallAttribute::Region { region, source } => {
                    call.region = Some(region);
                    call.region_source = Some(source);
                }
                CallAttribute::Centre(c) => call.centre = Some(c),
                CallAttribute::Topic(t) => call.topic = Some(t),
                CallAttribute::Crisis(c) => call.crisis = c,
                CallAttribute::SipCallId(_) => {}
            }
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
            let step = CallStep::Routed {
                route: &route.describe(),
                centre: centre.as_deref(),
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
            call.queued_ms = Some(at_ms);
            if let Some(c) = centre {
                call.centre = Some(c);
            }
        }
        CallEvent::Offered {
            call_id,
            navigator,
            callback,
            at_ms,
        } => {
            let account = store
                .account(&navigator)
                .await?
                .ok_or_else(|| Error::NoSuchAccount(navigator.clone()))?;
            let step = CallStep::Offered {
                navigator: &navigator,
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
            if callback {
                store
                    .record_step(conn, &call_id, at_ms, CallStep::Callback)
                    .await?;
            }
            if !live.contains_key(&call_id) {
                // Not seen since this process started: rebuild from the record.
                let r = store
                    .call(&call_id)
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
                    },
                );
            }
            let Some(call) = live.get(&call_id) else {
                return Err(Error::NoSuchCall(call_id));
            };
            let previous_contacts = store
                .previous_contacts(&call.caller, Some(&call_id), shared.config.history_limit)
                .await?;
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
                emergency_mode: shared.emergency_active(),
                callback,
            };
            let shown = pop.previous_contacts.len();
            let navigator = account.info.username.clone();
            shared.registry.offer(account.info, pop);
            if shown > 0 {
                // The screen first; then the record that this navigator saw
                // the caller's history.
                // In the batch's transaction: on SQLite another
                // connection would wait for this one's write lock.
                store
                    .audit_on(
                        conn,
                        &crate::store::AuditEntry {
                            at_ms,
                            actor: navigator,
                            action: "history.read".into(),
                            target: call_id.clone(),
                            outcome: "ok".into(),
                            detail: format!("screen pop, {shown} contacts"),
                            peer: String::new(),
                        },
                    )
                    .await?;
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
            let step = CallStep::Note {
                kind: "offer_withdrawn",
                detail: &detail,
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
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
            let step = CallStep::QueueStep {
                kind: &kind,
                detail: &detail,
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
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
            let step = CallStep::Note {
                kind: &format!("consult_{}", state.as_str()),
                detail: &detail,
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
        }
        CallEvent::Held {
            call_id,
            navigator,
            held,
            at_ms,
        } => {
            shared.registry.held(&navigator, &call_id, held, at_ms);
            let step = CallStep::Note {
                kind: if held { "held" } else { "resumed" },
                detail: &navigator,
            };
            store.record_step(conn, &call_id, at_ms, step).await?;
        }
        CallEvent::Answered { call_id, at_ms } => {
            store
                .record_step(conn, &call_id, at_ms, CallStep::Answered)
                .await?;
            shared.registry.answered(&call_id, at_ms);
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
            store
                .record_step(conn, &call_id, at_ms, CallStep::Ended(disposition))
                .await?;
        }
    }
    Ok(())
}
