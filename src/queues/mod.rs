//! The queues in the running engine: one task owns the ACD (`acd/`, the
//! sans-IO state machine) and carries out its decisions.
//!
//! ```text
//!  call tasks ──Msg──▶ ┐                         ┌──ToCall──▶ the caller's call task
//!  CTI (navigators) ──▶ ├─ events ─▶ Acd ─ decisions ┼──CallEvent──▶ CTI (screen pops, CDR)
//!  callback tasks ───▶ ┘                         └──spawn──▶ callback task
//! ```
//!
//! The ACD is the authority on who takes which call and on every agent
//! state (login, ready, not ready, reserved, busy, wrap-up and its timer,
//! logout); the CTI's navigator registry shows those states on the screens
//! as the ACD says them and passes on what navigators ask (a state, logout,
//! hang up, transfer). Every state request is answered (`navigators.rs`). Each caller's call task owns its legs: it rings the navigator
//! the ACD chose, reports the answer, and bridges once the ACD confirms.
//! Callbacks have their own task, started through the hook handed in at
//! start ([`Wiring::start_callback`]): the queues know nothing of how legs
//! are placed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frontdoor_cti::protocol::AgentState as CtiState;
use frontdoor_cti::protocol::{
    Disposition, MonitorMode, MonitorState, Monitoring, TransferState, TransferTarget,
    WithdrawReason,
};

use crate::call::b2bua::MonitorReport;
use frontdoor_cti::{
    CallEvent as CtiEvent, CallEvents, CallbackAction, NavigatorCommand, Store, now_ms,
};
use tokio::sync::mpsc;

use crate::flows::Flows;
use crate::registrar::Contacts;
use crate::sip_driver::sleep_until_opt;
use frontdoor_acd::stats::{QueueStats, StatsConfig, Target};
use frontdoor_acd::{
    Acd, AcdConfig, AcdError, AgentState, CallId, CallRecord, CentreId, Decision, Event,
    ExternalReason, Lang, NavigatorId, Priority, QueueId,
};

mod board;
mod cdr;
mod handle;
mod navigators;
use cdr::{cancel_reason, describe};
use handle::Msg;
pub use handle::{
    Callback, CallbackEvent, CallbackOrder, Inbox, NewQueued, Queues, StartCallback, ToCall,
    channel,
};

/// What the driver keeps per call.
struct Entry {
    cti_id: String,
    caller: Option<String>,
    /// The caller's call task, while the caller is on the line.
    to_call: Option<mpsc::UnboundedSender<ToCall>>,
    /// The callback task dialling or connecting this call.
    callback: Option<mpsc::UnboundedSender<CallbackOrder>>,
    /// The navigator whose screen shows this call.
    shown_to: Option<String>,
    /// The caller asked to be called back (their first call has ended).
    is_callback: bool,
    /// A supervisor on the call, or how their last attempt ended.
    monitor: Option<Monitoring>,
}

/// Everything the queue task needs.
pub struct Wiring {
    pub config: AcdConfig,
    /// Where the supervisors' view of the queues is published.
    pub cti: frontdoor_cti::Cti,
    pub events: CallEvents,
    pub store: Store,
    pub contacts: Contacts,
    pub flows: Arc<Flows>,
    /// Starts a callback's task (the call side places its legs); handed in
    /// at start, as the SIP driver is handed the way to start a call.
    pub start_callback: StartCallback,
    /// How today's figures are counted ([`stats_config`]).
    pub stats: StatsConfig,
    /// Where "today" begins and ends (`[cti] timezone`).
    pub timezone: jiff::tz::TimeZone,
    /// How long a call waits before a centre's overflow may take it, when
    /// the centre does not say (`[queues] overflow_wait_s`).
    pub overflow_wait: Duration,
}

/// How often the centres' opening hours are looked at.
const SCHEDULE_TICK: Duration = Duration::from_secs(30);
/// Callbacks asked for this long before a restart are taken back.
const RESTORE_CALLBACKS_WITHIN_MS: i64 = 24 * 3600 * 1000;
/// How often the accounts of logged-in navigators are read again (one
/// disabled meanwhile is logged out).
const ACCOUNT_TICK: Duration = Duration::from_secs(10);
/// The longest the queues wait on the store (they route calls meanwhile).
pub(crate) const STORE_WAIT: Duration = Duration::from_secs(1);
/// How often the supervisors' view of the queues is looked at: published
/// when anything may have changed since the last, and every
/// [`VIEW_REFRESH`] regardless (the waits grow).
const VIEW_TICK: Duration = Duration::from_millis(250);
const VIEW_REFRESH: Duration = Duration::from_secs(1);

/// The ACD's centres of a flow set: each with its own `overflow_after_s`,
/// else `overflow_wait` (the engine's default).
pub fn centres_of(
    flows: &frontdoor_ivr::FlowSet,
    overflow_wait: Duration,
) -> Vec<frontdoor_acd::CentreConfig> {
    let mut centres = AcdConfig::from_flowset(flows, "").centres;
    for centre in &mut centres {
        let own = flows
            .centres
            .iter()
            .find(|c| c.id == centre.id.0)
            .and_then(|c| c.overflow_after);
        centre.overflow_wait = own.unwrap_or(overflow_wait);
    }
    centres
}

/// Run the queues until the engine stops.
pub async fn run(
    wiring: Wiring,
    Inbox(mut inbox): Inbox,
    mut commands: mpsc::Receiver<NavigatorCommand>,
) {
    let acd = match Acd::new(wiring.config.clone(), Instant::now()) {
        Ok(acd) => acd,
        Err(error) => {
            tracing::error!(%error, "the queues cannot start");
            return;
        }
    };
    let mut driver = Driver {
        acd,
        stats: QueueStats::new(wiring.stats.clone()),
        state_since: HashMap::new(),
        ids: HashMap::new(),
        calls: HashMap::new(),
        next_id: 1,
        pending: VecDeque::new(),
        outbox: Vec::new(),
        answering: None,
        wiring,
    };
    driver.schedules();
    driver.seed_today().await;
    driver.restore_callbacks().await;
    driver.carry_out().await;
    let mut tick = tokio::time::interval(SCHEDULE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut accounts_tick = tokio::time::interval(ACCOUNT_TICK);
    accounts_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut view_tick = tokio::time::interval(VIEW_TICK);
    view_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A new flow version may bring new centres, overflow orders or hours.
    let mut flows = driver.wiring.flows.subscribe();
    flows.borrow_and_update();
    // Something happened since the view was last published.
    let mut changed = true;
    let mut published = Instant::now();
    loop {
        let wake = driver
            .acd
            .poll_timeout()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(msg) => driver.on_msg(msg),
                None => return,
            },
            Some(command) = commands.recv() => driver.on_command(command).await,
            () = sleep_until_opt(wake) => driver.acd.handle_timeout(Instant::now()),
            _ = tick.tick() => driver.schedules(),
            _ = accounts_tick.tick() => driver.check_accounts().await,
            Ok(()) = flows.changed() => {
                flows.borrow_and_update();
                driver.reconfigure();
            }
            _ = view_tick.tick() => {
                if changed || published.elapsed() >= VIEW_REFRESH {
                    driver.publish();
                    (changed, published) = (false, Instant::now());
                }
                continue;
            }
        }
        changed = true;
        driver.carry_out().await;
    }
}

struct Driver {
    acd: Acd,
    /// Today's figures, from the ACD's decisions.
    stats: QueueStats,
    /// Each navigator's agent state and reason as last told, and since when
    /// (epoch ms), for the supervisors' view.
    state_since: HashMap<NavigatorId, (CtiState, Option<String>, i64)>,
    ids: HashMap<String, CallId>,
    calls: HashMap<CallId, Entry>,
    next_id: u64,
    /// Events that arose while carrying out decisions.
    pending: VecDeque<Event>,
    /// CTI events to send before the next decisions are carried out.
    outbox: Vec<CtiEvent>,
    /// The navigator whose state request is being carried out, and its
    /// ticket, until the ACD's state answers it.
    answering: Option<(String, u64)>,
    wiring: Wiring,
}

impl Driver {
    fn feed(&mut self, event: Event) {
        let copy = event.clone();
        match self.acd.handle(event, Instant::now()) {
            Ok(()) => {}
            // Races are expected (an answer after the ring was taken back).
            Err(error @ AcdError::Stale(_)) => {
                tracing::debug!(%error, event = ?copy, "the queues passed over a stale event");
            }
            Err(error @ AcdError::Refused(_)) => {
                tracing::info!(%error, event = ?copy, "the queues refused an event");
            }
            Err(error) => {
                tracing::error!(%error, event = ?copy, "the queues were misused");
            }
        }
    }

    fn call_of(&self, cti_id: &str) -> Option<CallId> {
        self.ids.get(cti_id).copied()
    }

    /// The caller's call task of a call the queues hold (none for a
    /// callback, whose caller is not on the line).
    fn call_task(&self, cti_id: &str) -> Option<mpsc::UnboundedSender<ToCall>> {
        self.call_of(cti_id)
            .and_then(|id| self.calls.get(&id))
            .and_then(|e| e.to_call.clone())
    }

    async fn cti(&self, event: CtiEvent) {
        if self.wiring.events.send(event).await.is_err() {
            tracing::error!("call record event lost: the store task has stopped");
        }
    }

    /// The callbacks asked for before a restart (and not answered nor dealt
    /// with by a supervisor since), back in line in the order they were
    /// asked for: a restart drops no callback.
    async fn restore_callbacks(&mut self) {
        let store = self.wiring.store.clone();
        let since = now_ms() - RESTORE_CALLBACKS_WITHIN_MS;
        let ids = match store.callbacks_requested(since).await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot read the callbacks to take back");
                return;
            }
        };
        let mut restored = 0;
        for cti_id in ids {
            let (record, events) = match (
                store.call(&cti_id).await,
                store.call_events(&cti_id).await,
            ) {
                (Ok(Some(r)), Ok(e)) => (r, e),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, call_id = %cti_id, "cannot read a callback to take back");
                    continue;
                }
                (Ok(None), _) => continue,
            };
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            if kinds.contains(&"callback_resolved") {
                continue;
            }
            let to_supervisor = kinds
                .iter()
                .rev()
                .find(|k| matches!(**k, "callback_to_supervisor" | "callback_requeued"))
                == Some(&"callback_to_supervisor");
            let Some(centre) = record.centre.clone() else {
                continue;
            };
            let id = CallId(self.next_id);
            self.next_id += 1;
            self.ids.insert(cti_id.clone(), id);
            self.calls.insert(
                id,
                Entry {
                    cti_id: cti_id.clone(),
                    caller: record.caller.number().map(str::to_string),
                    to_call: None,
                    callback: None,
                    shown_to: None,
                    is_callback: true,
                    monitor: None,
                },
            );
            let refused = self.acd.handle(
                Event::CallbackRestored {
                    call: frontdoor_acd::NewCall {
                        id,
                        queue: QueueId::Centre(CentreId(centre.clone())),
                        priority: Priority::Normal,
                        language: record
                            .language
                            .as_deref()
                            .and_then(Lang::parse)
                            .unwrap_or(Lang::En),
                    },
                    to_supervisor,
                },
                Instant::now(),
            );
            match refused {
                Ok(()) => restored += 1,
                Err(error) => {
                    tracing::error!(%error, call_id = %cti_id, %centre, "a callback could not be taken back");
                    self.calls.remove(&id);
                    self.ids.remove(&cti_id);
                }
            }
        }
        if restored > 0 {
            tracing::info!(restored, "callbacks taken back after a restart");
        }
    }

    /// Where a call the queues cannot hold goes: the configured fallback,
    /// else its centre's own line in the current flows (empty: nowhere).
    fn fallback_for(&self, queue: &QueueId) -> String {
        let config = self.acd.config();
        if *queue == QueueId::Crisis {
            return config.crisis_external.clone();
        }
        if !config.fallback.is_empty() {
            return config.fallback.clone();
        }
        let QueueId::Centre(centre) = queue else {
            return String::new();
        };
        self.wiring
            .flows
            .current()
            .set
            .centres
            .iter()
            .find(|c| c.id == centre.0)
            .and_then(|c| c.external.clone())
            .unwrap_or_default()
    }

    /// A navigator whose account was disabled (or removed) while logged in
    /// is logged out: no more calls, their screen closed.
    async fn check_accounts(&mut self) {
        for id in self.acd.navigators() {
            let logged_in = self
                .acd
                .navigator(&id)
                .is_some_and(|n| n.state != AgentState::LoggedOut);
            if !logged_in {
                continue;
            }
            // Not while the database is away, and never long: this task
            // routes calls.
            let store = &self.wiring.store;
            match store.within(STORE_WAIT, store.account(&id.0)).await {
                Err(frontdoor_cti::Error::Unavailable) => {
                    tracing::debug!(navigator = %id, "the store does not answer now: accounts checked later");
                    return;
                }
                Ok(Some(account)) if !account.disabled => {}
                Ok(_) => {
                    tracing::warn!(navigator = %id, "account disabled or removed: logged out");
                    self.wiring.cti.log_out(&id.0);
                }
                Err(error) => {
                    tracing::error!(navigator = %id, %error, "cannot read the account");
                }
            }
        }
    }

    /// Centres open and close with their hours.
    /// The centres of the flow version now active (`centres.yaml` changed
    /// without a restart): new centres, overflow orders and hours.
    fn reconfigure(&mut self) {
        let active = self.wiring.flows.current();
        let centres = centres_of(&active.set, self.wiring.overflow_wait);
        let n = centres.len();
        match self.acd.reconfigure(centres, &active.set.crisis_external) {
            Ok(()) => {
                tracing::info!(version = %active.set.hash, centres = n, "the queues take the new flows' centres");
                self.schedules();
            }
            Err(error) => {
                tracing::error!(%error, version = %active.set.hash, "the queues keep their centres: the new ones do not fit");
            }
        }
    }

    fn schedules(&mut self) {
        let active = self.wiring.flows.current();
        let now = jiff::Zoned::now();
        let known: Vec<String> = self
            .acd
            .config()
            .centres
            .iter()
            .map(|c| c.id.0.clone())
            .collect();
        for centre in &active.set.centres {
            if known.contains(&centre.id) {
                self.feed(Event::CentreOpen {
                    centre: CentreId(centre.id.clone()),
                    open: centre.hours.is_open(&now),
                });
            }
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Queued(new) => {
                let id = CallId(self.next_id);
                self.next_id += 1;
                tracing::info!(call_id = %new.cti_id, queue = %new.queue, language = new.language.as_str(), priority = new.priority.as_str(), "queued");
                self.ids.insert(new.cti_id.clone(), id);
                self.calls.insert(
                    id,
                    Entry {
                        cti_id: new.cti_id,
                        caller: new.caller,
                        to_call: Some(new.to_call),
                        callback: None,
                        shown_to: None,
                        is_callback: false,
                        monitor: None,
                    },
                );
                let queue = new.queue.clone();
                let refused = self.acd.handle(
                    Event::CallQueued(frontdoor_acd::NewCall {
                        id,
                        queue: new.queue,
                        priority: new.priority,
                        language: new.language,
                    }),
                    Instant::now(),
                );
                if let Err(error) = refused {
                    // A centre added to the flows since the queues started
                    // (they take centres at start): never a dead end.
                    let target = self.fallback_for(&queue);
                    tracing::warn!(%error, %queue, %target, "the queues cannot take the call: to its external line");
                    if let Some(to_call) = self.calls.get(&id).and_then(|e| e.to_call.as_ref()) {
                        let _ = to_call.send(ToCall::RouteExternal {
                            target,
                            crisis: queue == QueueId::Crisis,
                        });
                    }
                }
            }
            Msg::CallerGone { cti_id } => {
                if let Some(id) = self.call_of(&cti_id) {
                    if let Some(entry) = self.calls.get_mut(&id) {
                        entry.to_call = None;
                    }
                    self.feed(Event::CallerHungUp { call: id });
                }
            }
            Msg::OfferAnswered {
                cti_id,
                navigator,
                device,
            } => {
                let Some(id) = self.call_of(&cti_id) else {
                    return;
                };
                let answered = self.acd.handle(
                    Event::OfferAnswered {
                        call: id,
                        navigator: NavigatorId(navigator.clone()),
                    },
                    Instant::now(),
                );
                match answered {
                    // The record says which of the navigator's phones took it.
                    Ok(()) => self.outbox.push(CtiEvent::QueueStep {
                        call_id: cti_id,
                        kind: "answered_on".into(),
                        detail: device,
                        at_ms: now_ms(),
                    }),
                    Err(error) => {
                        // Taken back meanwhile: the CancelOffer on its way releases the leg.
                        tracing::info!(%error, %navigator, "an answer came after the offer was taken back");
                        if let Some(to_call) = self.calls.get(&id).and_then(|e| e.to_call.as_ref())
                        {
                            let _ = to_call.send(ToCall::CancelOffer { navigator });
                        }
                    }
                }
            }
            Msg::OfferFailed {
                cti_id,
                navigator,
                reason,
            } => {
                if let Some(id) = self.call_of(&cti_id) {
                    tracing::info!(call_id = %cti_id, %navigator, %reason, "the navigator's phone did not take the offer");
                    self.feed(Event::OfferRejected {
                        call: id,
                        navigator: NavigatorId(navigator),
                        reason,
                    });
                }
            }
            Msg::CallbackRequested { cti_id } => {
                if let Some(id) = self.call_of(&cti_id) {
                    self.feed(Event::CallbackRequested { call: id });
                }
            }
            Msg::CrisisKey { cti_id } => {
                if let Some(id) = self.call_of(&cti_id) {
                    self.feed(Event::Transfer {
                        call: id,
                        to: QueueId::Crisis,
                    });
                }
            }
            Msg::Callback { call, event } => self.on_callback(call, event),
            Msg::TransferProgress {
                cti_id,
                navigator,
                state,
                detail,
            } => {
                tracing::info!(call_id = %cti_id, %navigator, state = state.as_str(), %detail, "consult transfer");
                self.outbox.push(CtiEvent::TransferProgress {
                    call_id: cti_id,
                    navigator,
                    state,
                    detail,
                    at_ms: now_ms(),
                });
            }
            Msg::Monitor {
                cti_id,
                supervisor,
                report,
            } => self.monitor_report(cti_id, supervisor, report),
            Msg::Held {
                cti_id,
                navigator,
                held,
            } => self.outbox.push(CtiEvent::Held {
                call_id: cti_id,
                navigator,
                held,
                at_ms: now_ms(),
            }),
            Msg::TransferCompleted {
                cti_id,
                navigator,
                uri,
            } => {
                let Some(id) = self.call_of(&cti_id) else {
                    return;
                };
                tracing::info!(call_id = %cti_id, %navigator, %uri, "transferred after a consult");
                if let Some(entry) = self.calls.get_mut(&id) {
                    entry.shown_to = None;
                }
                let at_ms = now_ms();
                self.outbox.push(CtiEvent::TransferProgress {
                    call_id: cti_id.clone(),
                    navigator: navigator.clone(),
                    state: TransferState::Completed,
                    detail: String::new(),
                    at_ms,
                });
                self.outbox.push(CtiEvent::OfferWithdrawn {
                    call_id: cti_id.clone(),
                    navigator: navigator.clone(),
                    reason: WithdrawReason::Transferred,
                    at_ms,
                });
                self.outbox.push(CtiEvent::QueueStep {
                    call_id: cti_id,
                    kind: "transferred".into(),
                    detail: format!("from={navigator} to={uri} consult=true"),
                    at_ms,
                });
                // The call leaves the queues; the navigator wraps up.
                self.feed(Event::CallEnded { call: id });
            }
        }
    }

    fn on_callback(&mut self, call: CallId, event: CallbackEvent) {
        match event {
            CallbackEvent::NavigatorFailed { navigator, reason } => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.callback = None;
                }
                self.feed(Event::OfferRejected {
                    call,
                    navigator: NavigatorId(navigator),
                    reason,
                });
            }
            CallbackEvent::CallerFailed => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.callback = None;
                }
                self.feed(Event::CallbackFailed { call });
            }
            CallbackEvent::Connected => self.feed(Event::CallbackConnected { call }),
            CallbackEvent::Ended => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.callback = None;
                }
                self.feed(Event::CallEnded { call });
            }
        }
    }

    /// A navigator's request from the CTI.
    async fn on_command(&mut self, command: NavigatorCommand) {
        match command {
            NavigatorCommand::StateRequest {
                navigator,
                request,
                ticket,
            } => self.state_request(navigator, request, ticket).await,
            NavigatorCommand::Callback {
                supervisor,
                call_id,
                action,
            } => {
                let Some(id) = self.call_of(&call_id) else {
                    tracing::info!(%supervisor, %call_id, "no such callback on the supervisors' list");
                    return;
                };
                tracing::info!(%supervisor, %call_id, ?action, "supervisor acts on a callback");
                self.feed(match action {
                    CallbackAction::Requeue => Event::SupervisorRequeue { call: id },
                    CallbackAction::Resolve => Event::SupervisorResolved { call: id },
                });
            }
            NavigatorCommand::Hangup { navigator, call_id } => {
                let Some(entry) = self.call_of(&call_id).and_then(|id| self.calls.get(&id)) else {
                    tracing::info!(%navigator, %call_id, "hang-up for a call the queues no longer hold");
                    return;
                };
                tracing::info!(%navigator, %call_id, "the navigator hangs up");
                if let Some(cb) = &entry.callback {
                    let _ = cb.send(CallbackOrder::Hangup);
                } else if let Some(to_call) = &entry.to_call {
                    let _ = to_call.send(ToCall::Hangup);
                }
            }
            NavigatorCommand::FollowUpCall {
                navigator,
                log_id,
                number,
                language,
                centre,
            } => {
                self.follow_up_call(navigator, log_id, number, language, centre)
                    .await
            }
            NavigatorCommand::Hold {
                navigator,
                call_id,
                on,
            } => {
                let Some(to_call) = self.call_task(&call_id) else {
                    tracing::info!(%navigator, %call_id, "hold for a call the queues do not hold (or a callback)");
                    return;
                };
                let _ = to_call.send(ToCall::Hold(on));
            }
            NavigatorCommand::Transfer {
                navigator,
                call_id,
                target: TransferTarget::Sip { uri },
                consult: true,
            } => {
                let Some(to_call) = self.call_task(&call_id) else {
                    tracing::info!(%navigator, %call_id, "consult transfer of a call the queues do not hold (or a callback)");
                    return;
                };
                tracing::info!(%navigator, %call_id, %uri, "consult transfer");
                let _ = to_call.send(ToCall::Consult { uri });
            }
            NavigatorCommand::Monitor {
                supervisor,
                navigator,
                call_id,
                mode,
            } => self.monitor(supervisor, navigator, call_id, mode).await,
            NavigatorCommand::CompleteTransfer { navigator, call_id } => {
                self.consult_order(&navigator, &call_id, ToCall::CompleteTransfer);
            }
            NavigatorCommand::CancelTransfer { navigator, call_id } => {
                self.consult_order(&navigator, &call_id, ToCall::CancelTransfer);
            }
            NavigatorCommand::Transfer {
                navigator,
                call_id,
                target,
                ..
            } => {
                let Some(id) = self.call_of(&call_id) else {
                    tracing::info!(%navigator, %call_id, "transfer of a call the queues no longer hold");
                    return;
                };
                let Some(to_call) = self.calls.get(&id).and_then(|e| e.to_call.clone()) else {
                    tracing::warn!(%navigator, %call_id, "a callback cannot be transferred");
                    return;
                };
                tracing::info!(%navigator, %call_id, ?target, "transfer");
                // The call leaves the navigator's screen now.
                if let Some(entry) = self.calls.get_mut(&id) {
                    entry.shown_to = None;
                }
                self.cti(CtiEvent::OfferWithdrawn {
                    call_id: call_id.clone(),
                    navigator: navigator.clone(),
                    reason: WithdrawReason::Transferred,
                    at_ms: now_ms(),
                })
                .await;
                match target {
                    TransferTarget::Sip { uri } => {
                        let _ = to_call.send(ToCall::TransferExternal { uri: uri.clone() });
                        self.cti(CtiEvent::QueueStep {
                            call_id: call_id.clone(),
                            kind: "transferred".into(),
                            detail: format!("from={navigator} to={uri}"),
                            at_ms: now_ms(),
                        })
                        .await;
                        // The call leaves the queues; the navigator wraps up.
                        self.feed(Event::CallEnded { call: id });
                    }
                    TransferTarget::Centre { centre } => {
                        let _ = to_call.send(ToCall::Release);
                        self.feed(Event::Transfer {
                            call: id,
                            to: QueueId::Centre(CentreId(centre)),
                        });
                    }
                    TransferTarget::Crisis => {
                        let _ = to_call.send(ToCall::Release);
                        self.feed(Event::Transfer {
                            call: id,
                            to: QueueId::Crisis,
                        });
                    }
                }
            }
        }
    }

    /// A supervisor asks to join a navigator's call (or to change how, or
    /// to leave): the caller's call task rings the supervisor's phones.
    async fn monitor(
        &mut self,
        supervisor: String,
        navigator: String,
        call_id: String,
        mode: Option<MonitorMode>,
    ) {
        let contacts = match mode {
            Some(_) => self.wiring.contacts.of(&supervisor).await,
            None => Vec::new(),
        };
        let Some(entry) = self
            .call_of(&call_id)
            .and_then(|id| self.calls.get_mut(&id))
        else {
            tracing::info!(%supervisor, %call_id, "monitoring a call the queues no longer hold");
            return;
        };
        let ended = |detail: &str| Monitoring {
            supervisor: supervisor.clone(),
            mode: mode.unwrap_or(MonitorMode::Listen),
            state: MonitorState::Ended,
            detail: Some(detail.to_owned()),
        };
        if entry.shown_to.as_deref() != Some(navigator.as_str()) {
            entry.monitor = Some(ended("not_theirs"));
            return;
        }
        let Some(to_call) = entry.to_call.clone().filter(|_| entry.callback.is_none()) else {
            entry.monitor = Some(ended("callback"));
            return;
        };
        tracing::info!(%supervisor, %navigator, %call_id, ?mode, contacts = contacts.len(), "supervisor joins the call");
        if let Some(mode) = mode {
            let same = entry
                .monitor
                .as_ref()
                .is_some_and(|m| m.supervisor == supervisor && m.state != MonitorState::Ended);
            match &mut entry.monitor {
                Some(m) if same => m.mode = mode,
                _ => {
                    entry.monitor = Some(Monitoring {
                        supervisor: supervisor.clone(),
                        mode,
                        state: MonitorState::Ringing,
                        detail: None,
                    })
                }
            }
        }
        let _ = to_call.send(ToCall::Monitor {
            supervisor,
            contacts,
            mode,
        });
    }

    /// How a supervisor's joining a call goes, from its call task: shown
    /// on the wallboards, kept in the call's record.
    fn monitor_report(&mut self, cti_id: String, supervisor: String, report: MonitorReport) {
        let Some(entry) = self.call_of(&cti_id).and_then(|id| self.calls.get_mut(&id)) else {
            return;
        };
        let mode = entry
            .monitor
            .as_ref()
            .filter(|m| m.supervisor == supervisor)
            .map_or(MonitorMode::Listen, |m| m.mode);
        let (monitoring, step) = match report {
            MonitorReport::Ringing => (
                Monitoring {
                    supervisor: supervisor.clone(),
                    mode,
                    state: MonitorState::Ringing,
                    detail: None,
                },
                None,
            ),
            MonitorReport::Connected(mode) => (
                Monitoring {
                    supervisor: supervisor.clone(),
                    mode,
                    state: MonitorState::Connected,
                    detail: None,
                },
                Some((
                    "monitored",
                    format!("supervisor={supervisor} mode={}", mode.as_str()),
                )),
            ),
            MonitorReport::Ended(why) => {
                let joined = entry.monitor.as_ref().is_some_and(|m| {
                    m.supervisor == supervisor && m.state == MonitorState::Connected
                });
                (
                    Monitoring {
                        supervisor: supervisor.clone(),
                        mode,
                        state: MonitorState::Ended,
                        detail: Some(why.clone()),
                    },
                    joined.then(|| {
                        (
                            "monitor_ended",
                            format!("supervisor={supervisor} why={why}"),
                        )
                    }),
                )
            }
        };
        entry.monitor = Some(monitoring);
        if let Some((kind, detail)) = step {
            self.outbox.push(CtiEvent::QueueStep {
                call_id: cti_id,
                kind: kind.into(),
                detail,
                at_ms: now_ms(),
            });
        }
    }

    /// Pass a navigator's consult order to their caller's call task.
    fn consult_order(&self, navigator: &str, call_id: &str, order: ToCall) {
        match self
            .call_of(call_id)
            .and_then(|id| self.calls.get(&id))
            .and_then(|e| e.to_call.as_ref())
        {
            Some(to_call) => {
                let _ = to_call.send(order);
            }
            None => tracing::info!(%navigator, %call_id, "no consult transfer for this call"),
        }
    }

    /// Carry out every decision, feeding back what they cause, until none is left.
    async fn carry_out(&mut self) {
        for event in std::mem::take(&mut self.outbox) {
            self.cti(event).await;
        }
        loop {
            while let Some(decision) = self.acd.poll_decision() {
                self.stats.observe(&decision, Instant::now());
                self.decide(decision).await;
            }
            match self.pending.pop_front() {
                Some(event) => self.feed(event),
                None => break,
            }
        }
        self.answer_left().await;
        // Forget calls the ACD no longer holds.
        let gone: Vec<CallId> = self
            .calls
            .keys()
            .copied()
            .filter(|id| self.acd.call(*id).is_none())
            .collect();
        for id in gone {
            if let Some(entry) = self.calls.remove(&id) {
                self.ids.remove(&entry.cti_id);
            }
        }
    }

    async fn decide(&mut self, decision: Decision) {
        match decision {
            Decision::Offer {
                call,
                navigator,
                waited,
            } => {
                let contacts = self.wiring.contacts.of(&navigator.0).await;
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                tracing::info!(call_id = %entry.cti_id, %navigator, waited_s = waited.as_secs(), contacts = contacts.len(), "offered");
                if contacts.is_empty() {
                    self.pending.push_back(Event::OfferRejected {
                        call,
                        navigator: navigator.clone(),
                        reason: "no registered phone".into(),
                    });
                    return;
                }
                entry.shown_to = Some(navigator.0.clone());
                let cti_id = entry.cti_id.clone();
                if let Some(to_call) = &entry.to_call {
                    let _ = to_call.send(ToCall::Offer {
                        navigator: navigator.0.clone(),
                        contacts,
                    });
                }
                self.cti(CtiEvent::Offered {
                    call_id: cti_id,
                    navigator: navigator.0,
                    callback: false,
                    at_ms: now_ms(),
                })
                .await;
            }
            Decision::CancelOffer {
                call,
                navigator,
                reason,
            } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                tracing::info!(call_id = %entry.cti_id, %navigator, ?reason, "offer taken back");
                if let Some(cb) = entry.callback.take() {
                    let _ = cb.send(CallbackOrder::Hangup);
                } else if let Some(to_call) = &entry.to_call {
                    let _ = to_call.send(ToCall::CancelOffer {
                        navigator: navigator.0.clone(),
                    });
                }
                let cti_id = entry.cti_id.clone();
                if entry.shown_to.take().is_some() {
                    self.cti(CtiEvent::OfferWithdrawn {
                        call_id: cti_id,
                        navigator: navigator.0,
                        reason: cancel_reason(reason),
                        at_ms: now_ms(),
                    })
                    .await;
                }
            }
            Decision::Connect { call, navigator } => {
                let Some(entry) = self.calls.get(&call) else {
                    return;
                };
                tracing::info!(call_id = %entry.cti_id, %navigator, "answered");
                if entry.callback.is_none()
                    && let Some(to_call) = &entry.to_call
                {
                    let _ = to_call.send(ToCall::Connect {
                        navigator: navigator.0.clone(),
                    });
                }
                let cti_id = entry.cti_id.clone();
                self.cti(CtiEvent::Answered {
                    call_id: cti_id,
                    at_ms: now_ms(),
                })
                .await;
            }
            Decision::StartCallback {
                call,
                navigator,
                attempt,
            } => {
                let contacts = self.wiring.contacts.of(&navigator.0).await;
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                let Some(number) = entry.caller.clone() else {
                    // Never queued as a callback without a number; do not loop.
                    tracing::error!(call_id = %entry.cti_id, "a callback without a number");
                    self.pending.push_back(Event::CallbackFailed { call });
                    return;
                };
                if contacts.is_empty() {
                    self.pending.push_back(Event::OfferRejected {
                        call,
                        navigator,
                        reason: "no registered phone".into(),
                    });
                    return;
                }
                tracing::info!(call_id = %entry.cti_id, %navigator, attempt, "calling back");
                entry.shown_to = Some(navigator.0.clone());
                let (tx, rx) = mpsc::unbounded_channel();
                entry.callback = Some(tx);
                let cti_id = entry.cti_id.clone();
                (self.wiring.start_callback)(
                    Callback {
                        call,
                        cti_id: cti_id.clone(),
                        number,
                        navigator: navigator.0.clone(),
                        contacts,
                    },
                    rx,
                );
                self.cti(CtiEvent::Offered {
                    call_id: cti_id,
                    navigator: navigator.0,
                    callback: true,
                    at_ms: now_ms(),
                })
                .await;
            }
            Decision::RouteExternal {
                call,
                target,
                reason,
            } => {
                let Some(entry) = self.calls.get_mut(&call) else {
                    return;
                };
                tracing::info!(call_id = %entry.cti_id, %target, ?reason, "to an external line");
                if let Some(to_call) = entry.to_call.take() {
                    let _ = to_call.send(ToCall::RouteExternal {
                        target,
                        crisis: matches!(
                            reason,
                            ExternalReason::CrisisTimeout | ExternalReason::NoCrisisNavigator
                        ),
                    });
                }
            }
            Decision::Announce {
                call,
                position,
                expected_wait,
            } => {
                if let Some(to_call) = self.calls.get(&call).and_then(|e| e.to_call.as_ref()) {
                    let _ = to_call.send(ToCall::Announce {
                        position,
                        wait: expected_wait,
                    });
                }
            }
            Decision::NavigatorState {
                navigator,
                state,
                next_state,
            } => {
                self.note_state_since(&navigator, &state);
                self.tell_state(navigator, state, next_state).await
            }
            Decision::Record { call, what } => self.record(call, what).await,
        }
    }

    /// A navigator calls the person of a follow-up back: a new call of its
    /// own (record, screen pop, callback legs), if the ACD says the
    /// navigator is free for it.
    async fn follow_up_call(
        &mut self,
        navigator: String,
        log_id: i64,
        number: String,
        language: String,
        centre: String,
    ) {
        let id = CallId(self.next_id);
        self.next_id += 1;
        let at_ms = now_ms();
        let cti_id = crate::call::new_call_id();
        tracing::info!(call_id = %cti_id, %navigator, log_id, "follow-up call");
        self.ids.insert(cti_id.clone(), id);
        self.calls.insert(
            id,
            Entry {
                cti_id: cti_id.clone(),
                caller: Some(number.clone()),
                to_call: None,
                callback: None,
                shown_to: None,
                is_callback: true,
                monitor: None,
            },
        );
        self.cti(CtiEvent::Arrived {
            call_id: cti_id.clone(),
            caller: frontdoor_cti::protocol::Caller::Number(number),
            dialled: "follow-up".into(),
            at_ms,
        })
        .await;
        for attribute in [
            frontdoor_cti::CallAttribute::Language(language.clone()),
            frontdoor_cti::CallAttribute::Centre(centre.clone()),
        ] {
            self.cti(CtiEvent::Attribute {
                call_id: cti_id.clone(),
                attribute,
                at_ms,
            })
            .await;
        }
        let refused = self.acd.handle(
            Event::FollowUpCall {
                call: frontdoor_acd::NewCall {
                    id,
                    queue: QueueId::Centre(CentreId(centre)),
                    priority: Priority::Normal,
                    language: Lang::parse(&language).unwrap_or(Lang::En),
                },
                navigator: navigator.as_str().into(),
            },
            Instant::now(),
        );
        if let Err(error) = refused {
            tracing::info!(%error, call_id = %cti_id, %navigator, "the follow-up call is not possible now");
            self.calls.remove(&id);
            self.ids.remove(&cti_id);
            self.cti(CtiEvent::QueueStep {
                call_id: cti_id.clone(),
                kind: "follow_up_refused".into(),
                detail: error.to_string(),
                at_ms: now_ms(),
            })
            .await;
            self.cti(CtiEvent::Ended {
                call_id: cti_id,
                disposition: Disposition::Callback,
                at_ms: now_ms(),
            })
            .await;
        }
    }

    /// A step for the CDR (and the log).
    async fn record(&mut self, call: CallId, what: CallRecord) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let cti_id = entry.cti_id.clone();
        let (kind, detail) = describe(&what);
        tracing::info!(call_id = %cti_id, step = kind, %detail, "queue step");
        let mut withdrawn = None;
        let mut ended = None;
        match &what {
            CallRecord::CallbackFailed { .. } => {
                // The navigator's screen showed the callback being dialled.
                withdrawn = entry.shown_to.take();
                if self.acd.call(call).is_none() {
                    // A follow-up's one attempt: the call is over.
                    ended = Some(Disposition::Callback);
                }
            }
            CallRecord::CallbackRequested { .. } => entry.is_callback = true,
            CallRecord::Ended { .. } if entry.is_callback => {
                ended = Some(Disposition::Callback);
            }
            _ => {}
        }
        // An offer is in the record already (the screen pop writes it).
        if !matches!(what, CallRecord::Offered { .. }) {
            self.cti(CtiEvent::QueueStep {
                call_id: cti_id.clone(),
                kind: kind.into(),
                detail,
                at_ms: now_ms(),
            })
            .await;
        }
        if let Some(navigator) = withdrawn {
            self.cti(CtiEvent::OfferWithdrawn {
                call_id: cti_id.clone(),
                navigator,
                reason: WithdrawReason::CallbackFailed,
                at_ms: now_ms(),
            })
            .await;
        }
        if let Some(disposition) = ended {
            // A callback's own end (the caller's first call ended long ago).
            self.cti(CtiEvent::Ended {
                call_id: cti_id,
                disposition,
                at_ms: now_ms(),
            })
            .await;
        }
    }
}

/// How today's figures are counted: the same short-abandon time and
/// service-level targets as the service-level report (`[reports]`).
pub fn stats_config(config: &crate::config::Config) -> StatsConfig {
    let r = &config.reports;
    let target = |t: frontdoor_cti::reports::Target| Target {
        within: Duration::from_secs(t.within_s),
        percent: t.goal_pct,
    };
    StatsConfig {
        short_abandon: Duration::from_secs(r.short_abandon_s),
        centre_target: target(r.centre_target),
        centre_targets: r
            .targets
            .iter()
            .map(|(centre, t)| (CentreId(centre.clone()), target(*t)))
            .collect(),
        crisis_target: target(r.crisis_target),
    }
}

/// The ACD's settings from the engine's config and the flows' centres.
pub fn acd_config(config: &crate::config::Config, flows: &frontdoor_ivr::FlowSet) -> AcdConfig {
    let q = &config.queues;
    let mut acd = AcdConfig::from_flowset(flows, q.fallback.as_deref().unwrap_or(""));
    acd.centres = centres_of(flows, Duration::from_secs(q.overflow_wait_s));
    acd.ring_timeout = Duration::from_secs(q.ring_timeout_s);
    acd.crisis_timeout = Duration::from_secs(q.crisis_timeout_s);
    acd.wrap_up = Duration::from_secs(config.cti.wrap_up_s);
    acd.announce_every = (q.announce_every_s > 0).then(|| Duration::from_secs(q.announce_every_s));
    acd.callback_attempts = q.callback_attempts;
    acd.callback_retry_delay = Duration::from_secs(q.callback_retry_s);
    acd.callback_dial_timeout = Duration::from_secs(q.callback_dial_timeout_s);
    acd
}
