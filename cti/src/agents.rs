//! Navigators' CTI sessions, and the agent state the queues decided for them.
//!
//! One [`Registry`] holds, per account, the agent state **as the ACD last
//! said it**, the call being offered or handled, and the session's outgoing
//! frames. It decides no agent state and keeps no timer: what a navigator
//! asks for (`set_state`, logging in by opening the websocket, logging out,
//! staying away past the disconnect grace) goes to the queues as a
//! [`NavigatorCommand::StateRequest`] with a ticket; the ACD decides, and its
//! answer, a [`CallEvent::NavigatorState`](crate::CallEvent::NavigatorState)
//! naming the ticket, is mirrored verbatim ([`Registry::follow`]). Only then
//! is the request answered: `state_changed` then `ack` for `set_state`,
//! `hello` for a login. Call events ([`Registry::offer`],
//! [`Registry::answered`], [`Registry::ended`]) change the call shown and the
//! frames sent, never the state.
//!
//! Every server frame gets the session's next `seq`; live frames are kept in
//! a bounded replay buffer so a client that reconnects with `resume` gets
//! what it missed. Snapshot frames (`hello`, the re-sent call on reconnect)
//! and heartbeats are not kept. The lock is never held across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::now_ms;
use crate::protocol::{
    AccountInfo, AgentState, Desk, Disposition, Draft, ErrorCode, PROTOCOL_VERSION, RegionSource,
    RequestedState, ScreenPop, ServerFrame, ServerMsg, StateInfo, TransferState, TransferTarget,
    WithdrawReason,
};

/// What a navigator's session asks the queues for. The CTI decides no agent
/// state: the ACD does, and answers every request (changed or not) with a
/// [`CallEvent::NavigatorState`](crate::CallEvent::NavigatorState) whose
/// `answers` is the request's ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRequest {
    /// A websocket opened for a navigator who was logged out (the ACD reads
    /// their centre, languages and crisis training from the account).
    Login,
    /// `set_state ready`.
    Ready,
    /// `set_state not_ready` with its reason code.
    NotReady { reason: String },
    /// `set_state wrap_up`.
    WrapUp,
    /// `POST /api/logout`, an account disabled or removed, or every
    /// websocket closed for longer than the disconnect grace with no call.
    Logout,
}

/// A command from a navigator's screen for the call controller (and the ACD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NavigatorCommand {
    /// Hang up the navigator's call.
    Hangup { navigator: String, call_id: String },
    /// Transfer the navigator's call. `consult` (a warm transfer, only with a
    /// [`TransferTarget::Sip`]): put the caller on hold and call the target
    /// for the navigator, reporting with
    /// [`CallEvent::TransferProgress`](crate::CallEvent::TransferProgress);
    /// else (blind) send the call to the target now.
    Transfer {
        navigator: String,
        call_id: String,
        target: TransferTarget,
        consult: bool,
    },
    /// Finish the navigator's consult transfer: connect the caller to the
    /// target; the call leaves the navigator.
    CompleteTransfer { navigator: String, call_id: String },
    /// Put the caller of the navigator's call on hold (`on`: they hear the
    /// hold loop, the navigator hears nothing) or take them back. Confirmed
    /// by [`CallEvent::Held`](crate::CallEvent::Held).
    Hold {
        navigator: String,
        call_id: String,
        on: bool,
    },
    /// A navigator calls the person of a follow-up back (their own, or
    /// their centre's): ring the navigator's phone, then dial `number`
    /// through the trunk, as a callback. The queues (the ACD) decide
    /// whether the navigator is free for it.
    FollowUpCall {
        navigator: String,
        log_id: i64,
        number: String,
        language: String,
        centre: String,
    },
    /// Abandon the navigator's consult transfer: end the call to the target
    /// and put the navigator back with the caller.
    CancelTransfer { navigator: String, call_id: String },
    /// A navigator's session asks for an agent state. `ticket` comes back
    /// in the ACD's answer
    /// ([`CallEvent::NavigatorState`](crate::CallEvent::NavigatorState)
    /// `answers`); every request must be answered, with the unchanged state
    /// if the ACD changed nothing or refused it.
    StateRequest {
        navigator: String,
        request: StateRequest,
        ticket: u64,
    },
    /// A supervisor (or ops) joins a navigator's call on their own phone
    /// (`POST /api/navigators/{username}/monitor`): listening in, whispering
    /// to the navigator, barging in; `mode` `None`: they leave it. How it
    /// goes is shown in the queues' view (the navigator's `monitor`).
    Monitor {
        supervisor: String,
        navigator: String,
        call_id: String,
        mode: Option<crate::protocol::MonitorMode>,
    },
    /// A supervisor (or ops) acted on a failed callback on the supervisors'
    /// list (`POST /api/queues/callbacks/{call_id}`). `supervisor` is their
    /// username; the call was on the list of the last view published with
    /// [`Cti::publish_queues`](crate::Cti::publish_queues).
    Callback {
        supervisor: String,
        call_id: String,
        action: CallbackAction,
    },
}

/// What a supervisor does with a callback that ran out of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackAction {
    /// Put it back in line at its place, to be tried again.
    Requeue,
    /// The supervisor dealt with it themselves: it leaves the list.
    Resolve,
}

impl CallbackAction {
    /// The name used in the HTTP body: `requeue` or `resolve`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackAction::Requeue => "requeue",
            CallbackAction::Resolve => "resolve",
        }
    }
}

/// What the queues can read about a navigator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NavigatorView {
    pub account: AccountInfo,
    pub state: StateInfo,
    /// Whether a CTI websocket is open for them now.
    pub connected: bool,
    /// The call offered to or handled by them.
    pub call_id: Option<String>,
}

/// Timings of a CTI session (the agent state has none here: the ACD times it).
#[derive(Debug, Clone)]
pub(crate) struct SessionTimings {
    pub heartbeat: Duration,
    pub replay_frames: usize,
}

struct AgentCall {
    pop: ScreenPop,
    answered_at_ms: Option<i64>,
    /// On hold since (epoch ms).
    held_since_ms: Option<i64>,
}

/// A request waiting for the ACD's answer, by ticket.
enum Waiting {
    /// `set_state` from connection `conn`: `ack` once answered.
    Ack { conn: u64, id: String },
    /// A websocket that logged the navigator in: it gets `hello` (with the
    /// state the ACD gave) once answered, and no frame before it.
    Hello {
        conn: u64,
        tx: mpsc::Sender<Utf8Bytes>,
        extras: Box<HelloExtras>,
    },
}

/// What `hello` tells a connection beyond the session itself: read from the
/// store and the desk before the socket attaches.
#[derive(Debug, Clone, Default)]
pub struct HelloExtras {
    pub ui_language: Option<String>,
    pub not_ready_reasons: Vec<String>,
    pub desk: Desk,
    pub drafts: Vec<Draft>,
}

struct Agent {
    account: AccountInfo,
    /// What the ACD last said (logged out until it says otherwise).
    state: StateInfo,
    /// Bumped on every connect: a disconnect grace armed for an older value is stale.
    conn_gen: u64,
    call: Option<AgentCall>,
    seq: u64,
    replay: VecDeque<(u64, Utf8Bytes)>,
    /// The highest seq evicted from `replay` (0: none).
    evicted_upto: u64,
    sockets: HashMap<u64, mpsc::Sender<Utf8Bytes>>,
    waiting: Vec<(u64, Waiting)>,
    recent_ids: VecDeque<String>,
}

/// Frames one socket may have queued before it is considered stuck and dropped.
const SOCKET_QUEUE: usize = 1024;
const RECENT_IDS: usize = 256;

pub(crate) struct Registry {
    agents: Mutex<HashMap<String, Agent>>,
    timings: SessionTimings,
    commands: mpsc::Sender<NavigatorCommand>,
    next_conn: AtomicU64,
    next_ticket: AtomicU64,
}

fn encode(seq: u64, msg: ServerMsg) -> Utf8Bytes {
    // These types hold only strings, integers, bools and string-keyed maps:
    // serializing them cannot fail.
    serde_json::to_string(&ServerFrame { seq, msg })
        .expect("server frames serialize")
        .into()
}

impl Agent {
    fn new(account: AccountInfo) -> Agent {
        Agent {
            account,
            state: StateInfo {
                state: AgentState::LoggedOut,
                reason: None,
                next_state: None,
                next_reason: None,
                since_ms: now_ms(),
                wrap_up_until_ms: None,
            },
            conn_gen: 0,
            call: None,
            seq: 0,
            replay: VecDeque::new(),
            evicted_upto: 0,
            sockets: HashMap::new(),
            waiting: Vec::new(),
            recent_ids: VecDeque::new(),
        }
    }

    fn keep(&mut self, frame: &Utf8Bytes, replay_cap: usize) {
        self.replay.push_back((self.seq, frame.clone()));
        while self.replay.len() > replay_cap {
            if let Some((seq, _)) = self.replay.pop_front() {
                self.evicted_upto = seq;
            }
        }
    }

    /// A live frame to every socket of the session, kept for replay.
    fn broadcast(&mut self, msg: ServerMsg, replay_cap: usize) {
        self.seq += 1;
        let frame = encode(self.seq, msg);
        self.keep(&frame, replay_cap);
        self.sockets
            .retain(|_, tx| tx.try_send(frame.clone()).is_ok());
    }

    /// A frame to one socket; `keep` puts it in the replay buffer too.
    fn send_to(&mut self, conn: u64, msg: ServerMsg, keep: bool, replay_cap: usize) {
        self.seq += 1;
        let frame = encode(self.seq, msg);
        if keep {
            self.keep(&frame, replay_cap);
        }
        if let Some(tx) = self.sockets.get(&conn)
            && tx.try_send(frame).is_err()
        {
            self.sockets.remove(&conn);
        }
    }

    /// Opens `conn` to live frames: `hello`, then the call in progress again.
    fn open(
        &mut self,
        conn: u64,
        tx: mpsc::Sender<Utf8Bytes>,
        extras: HelloExtras,
        timings: &SessionTimings,
    ) {
        self.sockets.insert(conn, tx);
        let hello = ServerMsg::Hello {
            protocol_version: PROTOCOL_VERSION,
            account: self.account.clone(),
            state: self.state.clone(),
            heartbeat_s: timings.heartbeat.as_secs(),
            replay_from: self.replay.front().map(|(s, _)| *s).unwrap_or(0),
            ui_language: extras.ui_language,
            not_ready_reasons: extras.not_ready_reasons,
            desk: extras.desk,
            drafts: extras.drafts,
        };
        let cap = timings.replay_frames;
        self.send_to(conn, hello, false, cap);
        if let Some(call) = &self.call {
            let pop = ServerMsg::CallOffered(call.pop.clone());
            let answered = call.answered_at_ms.map(|at_ms| ServerMsg::CallAnswered {
                call_id: call.pop.call_id.clone(),
                at_ms,
            });
            let held = call.held_since_ms.map(|at_ms| ServerMsg::CallHeld {
                call_id: call.pop.call_id.clone(),
                held: true,
                at_ms,
            });
            self.send_to(conn, pop, false, cap);
            if let Some(a) = answered {
                self.send_to(conn, a, false, cap);
            }
            if let Some(h) = held {
                self.send_to(conn, h, false, cap);
            }
        }
    }

    fn remember(&mut self, id: &str) {
        self.recent_ids.push_back(id.to_string());
        if self.recent_ids.len() > RECENT_IDS {
            self.recent_ids.pop_front();
        }
    }

    fn view(&self) -> NavigatorView {
        NavigatorView {
            account: self.account.clone(),
            state: self.state.clone(),
            connected: !self.sockets.is_empty(),
            call_id: self.call.as_ref().map(|c| c.pop.call_id.clone()),
        }
    }
}

/// The ACD's state for a navigator, as [`Registry::follow`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decided {
    pub state: AgentState,
    pub reason: Option<String>,
    pub next_state: Option<AgentState>,
    pub next_reason: Option<String>,
    pub wrap_up_until_ms: Option<i64>,
    /// The request this answers, if any.
    pub answers: Option<u64>,
    pub at_ms: i64,
}

impl Registry {
    pub fn new(timings: SessionTimings, commands: mpsc::Sender<NavigatorCommand>) -> Registry {
        Registry {
            agents: Mutex::new(HashMap::new()),
            timings,
            commands,
            next_conn: AtomicU64::new(1),
            next_ticket: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Agent>> {
        // The state behind this lock stays consistent between statements; a
        // panic elsewhere must not take every navigator's session down.
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Passes a request to the queues; returns its ticket, or `None` when
    /// the queues are not taking commands.
    fn request(&self, navigator: &str, request: StateRequest) -> Option<u64> {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        match self.commands.try_send(NavigatorCommand::StateRequest {
            navigator: navigator.into(),
            request,
            ticket,
        }) {
            Ok(()) => Some(ticket),
            Err(e) => {
                tracing::warn!(navigator, "state request not passed to the queues: {e}");
                None
            }
        }
    }

    /// A websocket opened for `account`. Returns the connection id and its
    /// outbox. A navigator who was logged out asks the queues to log them
    /// in, and the outbox gets `hello` once the ACD has answered; otherwise
    /// it already holds `hello` and, when a call is in progress, its
    /// `call_offered` (and `call_answered`).
    pub fn attach(
        &self,
        account: AccountInfo,
        extras: HelloExtras,
    ) -> (u64, mpsc::Receiver<Utf8Bytes>) {
        let mut agents = self.lock();
        let agent = agents
            .entry(account.username.clone())
            .or_insert_with(|| Agent::new(account.clone()));
        agent.account = account;
        agent.conn_gen += 1;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        if agent.state.state == AgentState::LoggedOut
            && let Some(ticket) = self.request(&agent.account.username, StateRequest::Login)
        {
            let extras = Box::new(extras);
            agent
                .waiting
                .push((ticket, Waiting::Hello { conn, tx, extras }));
        } else {
            agent.open(conn, tx, extras, &self.timings);
        }
        (conn, rx)
    }

    /// A websocket closed. Returns the connect generation when no socket of
    /// the navigator is left open: the caller arms the disconnect grace and
    /// then calls [`Registry::grace_expired`] with it.
    pub fn detach(&self, user: &str, conn: u64) -> Option<u64> {
        let mut agents = self.lock();
        let agent = agents.get_mut(user)?;
        agent.sockets.remove(&conn);
        agent
            .waiting
            .retain(|(_, w)| !matches!(w, Waiting::Hello { conn: c, .. } if *c == conn));
        let waiting_hello = agent
            .waiting
            .iter()
            .any(|(_, w)| matches!(w, Waiting::Hello { .. }));
        (agent.sockets.is_empty() && !waiting_hello).then_some(agent.conn_gen)
    }

    /// The disconnect grace armed at `generation` ran out: if no socket
    /// opened since and no call is ringing or in progress for them, the
    /// navigator asks (through their session) to be logged out.
    pub fn grace_expired(&self, user: &str, generation: u64) {
        let agents = self.lock();
        if let Some(agent) = agents.get(user)
            && agent.conn_gen == generation
            && agent.sockets.is_empty()
            && agent.call.is_none()
            && agent.state.state != AgentState::LoggedOut
        {
            self.request(user, StateRequest::Logout);
        }
    }

    /// A supervisor sets a navigator not ready (`POST
    /// /api/navigators/{username}/state`): asked of the queues like the
    /// navigator's own request; the ACD's answer reaches their screen as
    /// `state_changed`. False when the queues are not taking requests.
    pub fn force_not_ready(&self, user: &str, reason: String) -> bool {
        self.request(user, StateRequest::NotReady { reason })
            .is_some()
    }

    /// `POST /api/logout` (or an account disabled): the queues are asked to
    /// log the navigator out, and their sockets close now.
    pub fn logout(&self, user: &str) {
        self.request(user, StateRequest::Logout);
        if let Some(agent) = self.lock().get_mut(user) {
            agent.sockets.clear();
            agent
                .waiting
                .retain(|(_, w)| !matches!(w, Waiting::Hello { .. }));
        }
    }

    /// `set_state` from connection `conn`, command `id`: checked, then asked
    /// of the queues; the ACD's answer brings `state_changed` then `ack`.
    pub fn request_state(
        &self,
        user: &str,
        conn: u64,
        id: String,
        requested: RequestedState,
        reason: Option<String>,
    ) -> Result<(), (ErrorCode, String)> {
        let request = match (requested, reason) {
            (RequestedState::NotReady, Some(reason)) if !reason.is_empty() => {
                StateRequest::NotReady { reason }
            }
            (RequestedState::NotReady, _) => {
                return Err((ErrorCode::BadField, "not_ready needs a reason code".into()));
            }
            (_, Some(_)) => {
                return Err((ErrorCode::BadField, "only not_ready takes a reason".into()));
            }
            (RequestedState::Ready, None) => StateRequest::Ready,
            (RequestedState::WrapUp, None) => StateRequest::WrapUp,
        };
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return Err((ErrorCode::BadState, "no CTI session".into()));
        };
        if agent.state.state == AgentState::LoggedOut {
            return Err((ErrorCode::BadState, "logged out".into()));
        }
        let Some(ticket) = self.request(user, request) else {
            return Err((
                ErrorCode::ControllerUnavailable,
                "the queues are not taking requests now; try again".into(),
            ));
        };
        agent.waiting.push((ticket, Waiting::Ack { conn, id }));
        Ok(())
    }

    /// The ACD offered a call to `account`: the screen pop goes out. The
    /// state (`reserved`) is the ACD's to say, after the pop.
    /// The account of a navigator with a session, as it was at login.
    pub fn account(&self, user: &str) -> Option<AccountInfo> {
        self.lock().get(user).map(|a| a.account.clone())
    }

    pub fn offer(&self, account: AccountInfo, pop: ScreenPop) {
        let mut agents = self.lock();
        let agent = agents
            .entry(account.username.clone())
            .or_insert_with(|| Agent::new(account));
        if let Some(old) = &agent.call {
            tracing::warn!(
                navigator = %agent.account.username,
                old = %old.pop.call_id,
                new = %pop.call_id,
                "a call was offered to a navigator who already had one"
            );
        }
        agent.call = Some(AgentCall {
            pop: pop.clone(),
            answered_at_ms: None,
            held_since_ms: None,
        });
        agent.broadcast(ServerMsg::CallOffered(pop), self.timings.replay_frames);
    }

    fn agent_with_call<'a>(
        agents: &'a mut HashMap<String, Agent>,
        call_id: &str,
    ) -> Option<&'a mut Agent> {
        agents
            .values_mut()
            .find(|a| a.call.as_ref().is_some_and(|c| c.pop.call_id == call_id))
    }

    /// The ACD took back the offer of `call_id` to `user`: if it is their
    /// call, it is cleared and `call_withdrawn` goes out. The agent state is
    /// left alone (the ACD's [`Registry::follow`] comes next).
    pub fn withdraw(&self, user: &str, call_id: &str, reason: WithdrawReason, at_ms: i64) {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return;
        };
        if agent.call.as_ref().is_none_or(|c| c.pop.call_id != call_id) {
            return;
        }
        agent.call = None;
        agent.broadcast(
            ServerMsg::CallWithdrawn {
                call_id: call_id.into(),
                reason,
                at_ms,
            },
            self.timings.replay_frames,
        );
    }

    /// The ACD's state for `user`, taken as it is. A change goes to the
    /// navigator's sockets as `state_changed` (and nowhere else: the queues
    /// said it). An answer to a request goes out even when nothing changed,
    /// followed by what the request waits for (`ack`, or `hello`).
    pub fn follow(&self, user: &str, decided: Decided) {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            tracing::debug!(
                navigator = user,
                "ACD state for a navigator without a CTI session"
            );
            return;
        };
        let cap = self.timings.replay_frames;
        let state_changed = agent.state.state != decided.state
            || agent.state.reason != decided.reason
            || agent.state.wrap_up_until_ms != decided.wrap_up_until_ms;
        let changed = state_changed
            || agent.state.next_state != decided.next_state
            || agent.state.next_reason != decided.next_reason;
        if state_changed {
            agent.state.since_ms = decided.at_ms;
        }
        agent.state.state = decided.state;
        agent.state.reason = decided.reason;
        agent.state.next_state = decided.next_state;
        agent.state.next_reason = decided.next_reason;
        agent.state.wrap_up_until_ms = decided.wrap_up_until_ms;
        let answered = decided.answers.and_then(|ticket| {
            let i = agent.waiting.iter().position(|(t, _)| *t == ticket)?;
            Some(agent.waiting.remove(i).1)
        });
        if changed || answered.is_some() {
            agent.broadcast(ServerMsg::StateChanged(agent.state.clone()), cap);
        }
        match answered {
            Some(Waiting::Ack { conn, id }) => {
                agent.remember(&id);
                agent.send_to(conn, ServerMsg::Ack { re: id }, true, cap);
            }
            Some(Waiting::Hello { conn, tx, extras }) => {
                agent.open(conn, tx, *extras, &self.timings)
            }
            None => {}
        }
    }

    /// The navigator answered: `call_answered`. The state (`busy`) is the ACD's to say.
    pub fn answered(&self, call_id: &str, at_ms: i64) {
        let mut agents = self.lock();
        if let Some(agent) = Self::agent_with_call(&mut agents, call_id) {
            if let Some(c) = agent.call.as_mut() {
                c.answered_at_ms = Some(at_ms);
            }
            agent.broadcast(
                ServerMsg::CallAnswered {
                    call_id: call_id.into(),
                    at_ms,
                },
                self.timings.replay_frames,
            );
        }
    }

    /// The call ended: `call_ended` after a conversation, else the offer is
    /// withdrawn. What state follows (wrap-up, ready) is the ACD's to say.
    pub fn ended(&self, call_id: &str, disposition: Disposition, at_ms: i64) {
        let mut agents = self.lock();
        if let Some(agent) = Self::agent_with_call(&mut agents, call_id) {
            let was_busy = agent
                .call
                .as_ref()
                .is_some_and(|c| c.answered_at_ms.is_some());
            let callback_offer = agent.call.as_ref().is_some_and(|c| c.pop.callback);
            if !was_busy && callback_offer && disposition == Disposition::Callback {
                // The caller's first call, which asked for the callback,
                // ended just as the callback was being dialled: the offer
                // stands (the queues answer or withdraw it).
                return;
            }
            agent.call = None;
            // An offer that was never answered was taken back from them.
            let msg = if was_busy {
                ServerMsg::CallEnded {
                    call_id: call_id.into(),
                    disposition,
                    at_ms,
                }
            } else {
                ServerMsg::CallWithdrawn {
                    call_id: call_id.into(),
                    reason: WithdrawReason::CallerHungUp,
                    at_ms,
                }
            };
            agent.broadcast(msg, self.timings.replay_frames);
        }
    }

    /// The engine reports how a consult transfer of `call_id` is going: if
    /// `user` holds that call, `transfer_progress` goes to their sockets
    /// (kept for replay). The agent state is not changed.
    pub fn transfer_progress(
        &self,
        user: &str,
        call_id: &str,
        state: TransferState,
        detail: &str,
        at_ms: i64,
    ) {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return;
        };
        if agent.call.as_ref().is_none_or(|c| c.pop.call_id != call_id) {
            return;
        }
        agent.broadcast(
            ServerMsg::TransferProgress {
                call_id: call_id.into(),
                state,
                detail: (!detail.is_empty()).then(|| detail.to_string()),
                at_ms,
            },
            self.timings.replay_frames,
        );
    }

    /// The caller of `user`'s call went on hold (`held`) or came back.
    pub fn held(&self, user: &str, call_id: &str, held: bool, at_ms: i64) {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return;
        };
        let Some(call) = agent.call.as_mut().filter(|c| c.pop.call_id == call_id) else {
            return;
        };
        call.held_since_ms = held.then_some(at_ms);
        agent.broadcast(
            ServerMsg::CallHeld {
                call_id: call_id.into(),
                held,
                at_ms,
            },
            self.timings.replay_frames,
        );
    }

    /// `user`'s browser phone changed state: every page of theirs is told.
    pub fn phone_state(&self, user: &str, state: crate::protocol::PhoneState) {
        if let Some(agent) = self.lock().get_mut(user) {
            agent.broadcast(ServerMsg::PhoneState { state }, self.timings.replay_frames);
        }
    }

    /// The navigator's state now (`None`: unknown to the CTI).
    pub fn state_of(&self, user: &str) -> Option<AgentState> {
        self.lock().get(user).map(|a| a.state.state)
    }

    /// The call the navigator holds (offered or answered), if any.
    pub fn current_call(&self, user: &str) -> Option<String> {
        self.lock()
            .get(user)
            .and_then(|a| a.call.as_ref().map(|c| c.pop.call_id.clone()))
    }

    /// A navigator corrected the region of `call_id`: the pop kept for a
    /// reconnecting page shows the correction.
    pub fn correct_region(&self, call_id: &str, region: &str) {
        let mut agents = self.lock();
        if let Some(call) =
            Self::agent_with_call(&mut agents, call_id).and_then(|a| a.call.as_mut())
        {
            call.pop.region = Some(region.to_string());
            call.pop.region_source = Some(RegionSource::NavigatorCorrection);
        }
    }

    /// An answer to one socket, kept for replay.
    pub fn reply(&self, user: &str, conn: u64, msg: ServerMsg) {
        let cap = self.timings.replay_frames;
        if let Some(agent) = self.lock().get_mut(user) {
            agent.send_to(conn, msg, true, cap);
        }
    }

    pub fn heartbeat(&self, user: &str, conn: u64) {
        let cap = self.timings.replay_frames;
        if let Some(agent) = self.lock().get_mut(user) {
            agent.send_to(conn, ServerMsg::Heartbeat { at_ms: now_ms() }, false, cap);
        }
    }

    /// Whether the command `id` was done before in this session.
    pub fn done_before(&self, user: &str, id: &str) -> bool {
        self.lock()
            .get(user)
            .is_some_and(|a| a.recent_ids.iter().any(|x| x == id))
    }

    /// Remembers that the command `id` was done, so a repeat is not done
    /// again. Refused commands are not remembered: they changed nothing, and
    /// a retry with the same id is tried afresh.
    pub fn remember_done(&self, user: &str, id: &str) {
        if let Some(agent) = self.lock().get_mut(user) {
            agent.remember(id);
        }
    }

    /// `resume`: re-sends to `conn` the kept frames after `last_seq`, in order.
    pub fn resume(&self, user: &str, conn: u64, last_seq: u64) -> Result<(), String> {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return Err("no CTI session".into());
        };
        if last_seq > agent.seq {
            return Err(format!(
                "seq {last_seq} is ahead of this session ({}): the server restarted; use hello's state",
                agent.seq
            ));
        }
        if last_seq < agent.evicted_upto {
            return Err(format!(
                "frames after seq {last_seq} are no longer kept (oldest kept: {}); use hello's state",
                agent.evicted_upto + 1
            ));
        }
        let frames: Vec<Utf8Bytes> = agent
            .replay
            .iter()
            .filter(|(s, _)| *s > last_seq)
            .map(|(_, f)| f.clone())
            .collect();
        if let Some(tx) = agent.sockets.get(&conn) {
            for f in frames {
                if tx.try_send(f).is_err() {
                    agent.sockets.remove(&conn);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Server shutdown: every socket's outbox closes, so every websocket task ends.
    pub fn close_all(&self) {
        for agent in self.lock().values_mut() {
            agent.sockets.clear();
            agent
                .waiting
                .retain(|(_, w)| !matches!(w, Waiting::Hello { .. }));
        }
    }

    pub fn views(&self) -> Vec<NavigatorView> {
        let mut v: Vec<_> = self.lock().values().map(Agent::view).collect();
        v.sort_by(|a, b| a.account.username.cmp(&b.account.username));
        v
    }

    pub fn view(&self, user: &str) -> Option<NavigatorView> {
        self.lock().get(user).map(Agent::view)
    }

    pub fn commands(&self) -> &mpsc::Sender<NavigatorCommand> {
        &self.commands
    }
}
