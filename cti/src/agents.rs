//! Navigators' agent state and their CTI sessions.
//!
//! One [`Registry`] holds, per account, the agent state machine, the call
//! being offered or handled, and the session's outgoing frames: every server
//! frame gets the session's next `seq`; live frames are kept in a bounded
//! replay buffer so a client that reconnects with `resume` gets what it
//! missed. Snapshot frames (`hello`, the re-sent call on reconnect) and
//! heartbeats are not kept. The lock is never held across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::now_ms;
use crate::protocol::{
    AccountInfo, AgentState, Disposition, ErrorCode, PROTOCOL_VERSION, RequestedState, ScreenPop,
    ServerFrame, ServerMsg, StateInfo, TransferState, TransferTarget, WithdrawReason,
};

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
    /// Abandon the navigator's consult transfer: end the call to the target
    /// and put the navigator back with the caller.
    CancelTransfer { navigator: String, call_id: String },
    /// The navigator's agent state changed (by their own request, a call, a
    /// timer, login or logout). The ACD offers calls to `ready` navigators.
    StateChanged { navigator: String, state: StateInfo },
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

/// Timings of the agent state machine.
#[derive(Debug, Clone)]
pub(crate) struct AgentTimings {
    pub wrap_up: Duration,
    pub disconnect_grace: Duration,
    pub heartbeat: Duration,
    pub replay_frames: usize,
}

struct AgentCall {
    pop: ScreenPop,
    answered_at_ms: Option<i64>,
}

struct Agent {
    account: AccountInfo,
    state: StateInfo,
    /// Bumped on every state change: a timer armed for an older value is stale.
    state_gen: u64,
    /// Bumped on every connect: a grace timer armed for an older value is stale.
    conn_gen: u64,
    call: Option<AgentCall>,
    seq: u64,
    replay: VecDeque<(u64, Utf8Bytes)>,
    /// The highest seq evicted from `replay` (0: none).
    evicted_upto: u64,
    sockets: HashMap<u64, mpsc::Sender<Utf8Bytes>>,
    recent_ids: VecDeque<String>,
}

/// Whether a state change is passed to the call controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notify {
    Controller,
    /// The change came from the ACD itself.
    Nobody,
}

/// Frames one socket may have queued before it is considered stuck and dropped.
const SOCKET_QUEUE: usize = 1024;
const RECENT_IDS: usize = 256;

pub(crate) struct Registry {
    agents: Mutex<HashMap<String, Agent>>,
    timings: AgentTimings,
    commands: mpsc::Sender<NavigatorCommand>,
    next_conn: AtomicU64,
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
            state_gen: 0,
            conn_gen: 0,
            call: None,
            seq: 0,
            replay: VecDeque::new(),
            evicted_upto: 0,
            sockets: HashMap::new(),
            recent_ids: VecDeque::new(),
        }
    }

    /// A live frame to every socket of the session, kept for replay.
    fn broadcast(&mut self, msg: ServerMsg, replay_cap: usize) {
        self.seq += 1;
        let frame = encode(self.seq, msg);
        self.replay.push_back((self.seq, frame.clone()));
        while self.replay.len() > replay_cap {
            if let Some((seq, _)) = self.replay.pop_front() {
                self.evicted_upto = seq;
            }
        }
        self.sockets
            .retain(|_, tx| tx.try_send(frame.clone()).is_ok());
    }

    /// A frame to one socket; `keep` puts it in the replay buffer too.
    fn send_to(&mut self, conn: u64, msg: ServerMsg, keep: bool, replay_cap: usize) {
        self.seq += 1;
        let frame = encode(self.seq, msg);
        if keep {
            self.replay.push_back((self.seq, frame.clone()));
            while self.replay.len() > replay_cap {
                if let Some((seq, _)) = self.replay.pop_front() {
                    self.evicted_upto = seq;
                }
            }
        }
        if let Some(tx) = self.sockets.get(&conn)
            && tx.try_send(frame).is_err()
        {
            self.sockets.remove(&conn);
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

impl Registry {
    pub fn new(timings: AgentTimings, commands: mpsc::Sender<NavigatorCommand>) -> Registry {
        Registry {
            agents: Mutex::new(HashMap::new()),
            timings,
            commands,
            next_conn: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Agent>> {
        // The state behind this lock stays consistent between statements; a
        // panic elsewhere must not take every navigator's session down.
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, navigator: &str, state: &StateInfo) {
        if let Err(e) = self.commands.try_send(NavigatorCommand::StateChanged {
            navigator: navigator.into(),
            state: state.clone(),
        }) {
            tracing::debug!(
                navigator,
                "state change not passed to the call controller: {e}"
            );
        }
    }

    /// Moves an agent to `state`, tells its sockets and the controller, and
    /// arms the wrap-up timer when entering `wrap_up`.
    fn enter(self: &Arc<Self>, agent: &mut Agent, state: AgentState, reason: Option<String>) {
        self.move_to(agent, state, reason, Notify::Controller);
    }

    /// [`Registry::enter`], telling the controller only when `notify` says so
    /// (not when the change came from the ACD: that would echo).
    fn move_to(
        self: &Arc<Self>,
        agent: &mut Agent,
        state: AgentState,
        reason: Option<String>,
        notify: Notify,
    ) {
        let now = now_ms();
        agent.state_gen += 1;
        agent.state.state = state;
        agent.state.reason = if state == AgentState::NotReady {
            reason
        } else {
            None
        };
        agent.state.since_ms = now;
        agent.state.wrap_up_until_ms = None;
        if state == AgentState::WrapUp {
            let d = self.timings.wrap_up;
            agent.state.wrap_up_until_ms = Some(now + d.as_millis() as i64);
            let (me, user, generation) = (
                Arc::clone(self),
                agent.account.username.clone(),
                agent.state_gen,
            );
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                me.wrap_up_expired(&user, generation);
            });
        }
        agent.broadcast(
            ServerMsg::StateChanged(agent.state.clone()),
            self.timings.replay_frames,
        );
        if notify == Notify::Controller {
            self.notify(&agent.account.username, &agent.state);
        }
    }

    /// Leaves wrap-up (or a call that was never answered) for the queued state, else ready.
    fn after_call(self: &Arc<Self>, agent: &mut Agent) {
        let next = agent.state.next_state.take().unwrap_or(AgentState::Ready);
        let reason = agent.state.next_reason.take();
        self.enter(agent, next, reason);
    }

    fn wrap_up_expired(self: &Arc<Self>, user: &str, generation: u64) {
        let mut agents = self.lock();
        if let Some(agent) = agents.get_mut(user)
            && agent.state_gen == generation
            && agent.state.state == AgentState::WrapUp
        {
            self.after_call(agent);
        }
    }

    /// A websocket opened for `account`: logs the agent in (not ready) if it
    /// was logged out, and returns the connection id and its outbox, which
    /// already holds `hello` and, when a call is in progress, its
    /// `call_offered` (and `call_answered`).
    pub fn attach(self: &Arc<Self>, account: AccountInfo) -> (u64, mpsc::Receiver<Utf8Bytes>) {
        let mut agents = self.lock();
        let agent = agents
            .entry(account.username.clone())
            .or_insert_with(|| Agent::new(account.clone()));
        agent.account = account;
        agent.conn_gen += 1;
        if agent.state.state == AgentState::LoggedOut {
            // A call offered while they were away still rings for them.
            match agent.call.as_ref().map(|c| c.answered_at_ms.is_some()) {
                Some(true) => self.enter(agent, AgentState::Busy, None),
                Some(false) => self.enter(agent, AgentState::Reserved, None),
                None => self.enter(agent, AgentState::NotReady, Some("login".into())),
            }
        }
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        agent.sockets.insert(conn, tx);
        let hello = ServerMsg::Hello {
            protocol_version: PROTOCOL_VERSION,
            account: agent.account.clone(),
            state: agent.state.clone(),
            heartbeat_s: self.timings.heartbeat.as_secs(),
            replay_from: agent.replay.front().map(|(s, _)| *s).unwrap_or(0),
        };
        let cap = self.timings.replay_frames;
        agent.send_to(conn, hello, false, cap);
        if let Some(call) = &agent.call {
            let pop = ServerMsg::CallOffered(call.pop.clone());
            let answered = call.answered_at_ms.map(|at_ms| ServerMsg::CallAnswered {
                call_id: call.pop.call_id.clone(),
                at_ms,
            });
            agent.send_to(conn, pop, false, cap);
            if let Some(a) = answered {
                agent.send_to(conn, a, false, cap);
            }
        }
        (conn, rx)
    }

    /// A websocket closed. After the grace period with no socket open, an
    /// agent that is not on a call is logged out.
    pub fn detach(self: &Arc<Self>, user: &str, conn: u64) {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return;
        };
        agent.sockets.remove(&conn);
        if agent.sockets.is_empty() {
            let (me, user, generation, d) = (
                Arc::clone(self),
                user.to_string(),
                agent.conn_gen,
                self.timings.disconnect_grace,
            );
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                me.grace_expired(&user, generation);
            });
        }
    }

    fn grace_expired(self: &Arc<Self>, user: &str, generation: u64) {
        let mut agents = self.lock();
        if let Some(agent) = agents.get_mut(user)
            && agent.conn_gen == generation
            && agent.sockets.is_empty()
            && agent.call.is_none()
            && agent.state.state != AgentState::LoggedOut
        {
            self.enter(agent, AgentState::LoggedOut, None);
        }
    }

    /// `POST /api/logout`: the agent is logged out and its sockets closed.
    pub fn logout(self: &Arc<Self>, user: &str) {
        let mut agents = self.lock();
        if let Some(agent) = agents.get_mut(user) {
            agent.state.next_state = None;
            agent.state.next_reason = None;
            if agent.state.state != AgentState::LoggedOut {
                self.enter(agent, AgentState::LoggedOut, None);
            }
            agent.sockets.clear();
        }
    }

    /// `set_state`. Returns whether the change was queued as `next_state`
    /// (asked for while a call is ringing or in progress).
    pub fn set_state(
        self: &Arc<Self>,
        user: &str,
        requested: RequestedState,
        reason: Option<String>,
    ) -> Result<bool, (ErrorCode, String)> {
        if requested == RequestedState::NotReady && reason.as_deref().is_none_or(str::is_empty) {
            return Err((ErrorCode::BadField, "not_ready needs a reason code".into()));
        }
        if requested != RequestedState::NotReady && reason.is_some() {
            return Err((ErrorCode::BadField, "only not_ready takes a reason".into()));
        }
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            return Err((ErrorCode::BadState, "no CTI session".into()));
        };
        match agent.state.state {
            AgentState::Reserved | AgentState::Busy => {
                agent.state.next_state = Some(requested.into());
                agent.state.next_reason = reason;
                agent.broadcast(
                    ServerMsg::StateChanged(agent.state.clone()),
                    self.timings.replay_frames,
                );
                // The ACD learns the queued state too.
                self.notify(&agent.account.username, &agent.state);
                Ok(true)
            }
            AgentState::LoggedOut => Err((ErrorCode::BadState, "logged out".into())),
            _ => {
                agent.state.next_state = None;
                agent.state.next_reason = None;
                self.enter(agent, requested.into(), reason);
                Ok(false)
            }
        }
    }

    /// The ACD offered a call to `account`: the screen pop goes out, the agent is reserved.
    pub fn offer(self: &Arc<Self>, account: AccountInfo, pop: ScreenPop) {
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
        });
        agent.broadcast(ServerMsg::CallOffered(pop), self.timings.replay_frames);
        self.enter(agent, AgentState::Reserved, None);
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

    /// The ACD's view of `user`'s agent state, mirrored here. `reserved` and
    /// `busy` are entered by the call's own events, so for them only the
    /// queued `next_state` is taken. Any change goes to the navigator's
    /// sockets but not back to the controller (the ACD already knows).
    pub fn follow(
        self: &Arc<Self>,
        user: &str,
        state: AgentState,
        reason: Option<String>,
        next_state: Option<AgentState>,
        next_reason: Option<String>,
        at_ms: i64,
    ) {
        let mut agents = self.lock();
        let Some(agent) = agents.get_mut(user) else {
            tracing::debug!(
                navigator = user,
                "ACD state for a navigator without a CTI session"
            );
            return;
        };
        // The same normal form `enter` and `set_state` keep: a reason only with not_ready.
        let reason = reason.filter(|_| state == AgentState::NotReady);
        let next_reason = next_reason.filter(|_| next_state == Some(AgentState::NotReady));
        let next_changed =
            agent.state.next_state != next_state || agent.state.next_reason != next_reason;
        match state {
            AgentState::Reserved | AgentState::Busy => {
                if next_changed {
                    agent.state.next_state = next_state;
                    agent.state.next_reason = next_reason;
                    agent.broadcast(
                        ServerMsg::StateChanged(agent.state.clone()),
                        self.timings.replay_frames,
                    );
                }
            }
            AgentState::LoggedOut
            | AgentState::NotReady
            | AgentState::Ready
            | AgentState::WrapUp => {
                agent.state.next_state = next_state;
                agent.state.next_reason = next_reason;
                if agent.state.state != state || agent.state.reason != reason {
                    tracing::debug!(navigator = user, ?state, at_ms, "following the ACD");
                    self.move_to(agent, state, reason, Notify::Nobody);
                } else if next_changed {
                    // Same state: only what is queued changed; the state's
                    // start (and a wrap-up timer) stay as they are.
                    agent.broadcast(
                        ServerMsg::StateChanged(agent.state.clone()),
                        self.timings.replay_frames,
                    );
                }
            }
        }
    }

    /// The navigator answered: busy.
    pub fn answered(self: &Arc<Self>, call_id: &str, at_ms: i64) {
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
            self.enter(agent, AgentState::Busy, None);
        }
    }

    /// The call ended: wrap-up after a conversation, else the queued state or ready.
    pub fn ended(self: &Arc<Self>, call_id: &str, disposition: Disposition, at_ms: i64) {
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
            if agent.state.state == AgentState::LoggedOut {
                return;
            }
            if was_busy && !self.timings.wrap_up.is_zero() {
                self.enter(agent, AgentState::WrapUp, None);
            } else {
                self.after_call(agent);
            }
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

    /// The call the navigator holds (offered or answered), if any.
    pub fn current_call(&self, user: &str) -> Option<String> {
        self.lock()
            .get(user)
            .and_then(|a| a.call.as_ref().map(|c| c.pop.call_id.clone()))
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
        let mut agents = self.lock();
        if let Some(agent) = agents.get_mut(user) {
            agent.recent_ids.push_back(id.to_string());
            if agent.recent_ids.len() > RECENT_IDS {
                agent.recent_ids.pop_front();
            }
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
