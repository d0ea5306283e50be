//! A test double of the queues (the ACD) behind the CTI.
//!
//! The CTI decides no agent state and keeps no timer: in the engine the ACD
//! (frontdoor-acd, driven by `src/queues/`) answers every
//! [`NavigatorCommand::StateRequest`] and says every state a call puts a
//! navigator in. These tests have no ACD behind the CTI, so this double
//! stands in for it, by the ACD's rules:
//! - requests are answered as they arrive (a task reads the CTI's command
//!   channel; other commands are passed on for the test to read);
//! - what calls do to a navigator (reserved, busy, wrap-up, its end) the test
//!   says, as the ACD would, with [`AcdDouble::set`] and its shorthands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use frontdoor_cti::protocol::AgentState;
use frontdoor_cti::{CallEvent, CallEvents, NavigatorCommand, StateRequest, now_ms};
use tokio::sync::mpsc;

/// The wrap-up the double gives (only shown: it never ends by itself here).
pub const WRAP_UP: Duration = Duration::from_secs(60);

/// What the double holds for one navigator, as the ACD would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub state: AgentState,
    pub reason: Option<String>,
    pub next: Option<(AgentState, Option<String>)>,
    pub wrap_up_until_ms: Option<i64>,
}

impl Default for Held {
    fn default() -> Held {
        Held {
            state: AgentState::LoggedOut,
            reason: None,
            next: None,
            wrap_up_until_ms: None,
        }
    }
}

type Commands = Arc<tokio::sync::Mutex<mpsc::Receiver<NavigatorCommand>>>;

pub struct AcdDouble {
    events: CallEvents,
    navigators: Arc<Mutex<HashMap<String, Held>>>,
    commands: Commands,
    passed_on: mpsc::UnboundedSender<NavigatorCommand>,
}

impl AcdDouble {
    /// Starts answering the requests on `commands`; the other commands come
    /// out of the returned receiver.
    pub fn start(
        events: CallEvents,
        commands: mpsc::Receiver<NavigatorCommand>,
    ) -> (Arc<AcdDouble>, mpsc::UnboundedReceiver<NavigatorCommand>) {
        let (passed_on, rest) = mpsc::unbounded_channel();
        let acd = Arc::new(AcdDouble {
            events,
            navigators: Arc::default(),
            commands: Arc::new(tokio::sync::Mutex::new(commands)),
            passed_on,
        });
        let me = Arc::clone(&acd);
        tokio::spawn(async move {
            loop {
                let mut rx = me.commands.lock().await;
                // The lock is let go now and then, so a test can hold the
                // channel ([`AcdDouble::hold`]) or settle it.
                match tokio::time::timeout(Duration::from_millis(10), rx.recv()).await {
                    Ok(Some(cmd)) => me.handle(cmd).await,
                    Ok(None) => return,
                    Err(_) => {}
                }
            }
        });
        (acd, rest)
    }

    /// Every command the CTI has sent so far is handled (answered or passed on).
    pub async fn settle(&self) {
        let mut rx = self.commands.lock().await;
        while let Ok(cmd) = rx.try_recv() {
            self.handle(cmd).await;
        }
    }

    /// The queues stop reading the CTI's commands while the guard lives
    /// (the test reads them itself, and may [`AcdDouble::handle`] them).
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, mpsc::Receiver<NavigatorCommand>> {
        self.commands.lock().await
    }

    /// A command as the queues take it: a state request is answered, the rest passed on.
    pub async fn handle(&self, cmd: NavigatorCommand) {
        if let NavigatorCommand::StateRequest {
            navigator,
            request,
            ticket,
        } = &cmd
        {
            let held = self.decide(navigator, request.clone());
            self.tell(navigator, held, Some(*ticket)).await;
        }
        let _ = self.passed_on.send(cmd);
    }

    /// The ACD's rules for a request (frontdoor-acd `navigator_changed`).
    fn decide(&self, navigator: &str, request: StateRequest) -> Held {
        let mut all = self.navigators.lock().unwrap();
        let held = all.entry(navigator.to_string()).or_default();
        let wanted = match request {
            StateRequest::Login => {
                if held.state == AgentState::LoggedOut {
                    *held = not_ready("login");
                }
                return held.clone();
            }
            StateRequest::WrapUp => {
                if matches!(held.state, AgentState::Ready | AgentState::NotReady) {
                    held.state = AgentState::WrapUp;
                    held.reason = None;
                    held.wrap_up_until_ms = Some(now_ms() + WRAP_UP.as_millis() as i64);
                }
                return held.clone();
            }
            StateRequest::Ready => (AgentState::Ready, None),
            StateRequest::NotReady { reason } => (AgentState::NotReady, Some(reason)),
            StateRequest::Logout => (AgentState::LoggedOut, None),
        };
        match held.state {
            // Refused (not logged in) or nothing to do: the state as it is.
            AgentState::LoggedOut => {}
            AgentState::Reserved if wanted.0 == AgentState::Ready => {}
            AgentState::Busy => held.next = Some(wanted),
            AgentState::Ready
            | AgentState::NotReady
            | AgentState::Reserved
            | AgentState::WrapUp => {
                *held = Held {
                    state: wanted.0,
                    reason: wanted.1,
                    ..Held::default()
                };
            }
        }
        held.clone()
    }

    /// The ACD decides `held` for `navigator` (a call rang, was answered,
    /// ended…): it goes to the CTI.
    pub async fn set(&self, navigator: &str, held: Held) {
        self.navigators
            .lock()
            .unwrap()
            .insert(navigator.to_string(), held.clone());
        self.tell(navigator, held, None).await;
    }

    /// What the double holds for `navigator` now.
    pub fn held(&self, navigator: &str) -> Held {
        self.navigators
            .lock()
            .unwrap()
            .get(navigator)
            .cloned()
            .unwrap_or_default()
    }

    /// An offer rings for them.
    pub async fn reserved(&self, navigator: &str) {
        self.on_call(navigator, AgentState::Reserved).await;
    }

    /// They answered.
    pub async fn busy(&self, navigator: &str) {
        self.on_call(navigator, AgentState::Busy).await;
    }

    /// Their call ended: wrap-up, keeping what they asked for during it.
    pub async fn wrap_up(&self, navigator: &str) {
        let mut held = self.held(navigator);
        held.state = AgentState::WrapUp;
        held.reason = None;
        held.wrap_up_until_ms = Some(now_ms() + WRAP_UP.as_millis() as i64);
        self.set(navigator, held).await;
    }

    /// The ACD's wrap-up timer ran out: the state asked for during the
    /// call, else ready.
    pub async fn wrap_up_ends(&self, navigator: &str) {
        let (state, reason) = self
            .held(navigator)
            .next
            .unwrap_or((AgentState::Ready, None));
        self.set(
            navigator,
            Held {
                state,
                reason,
                ..Held::default()
            },
        )
        .await;
    }

    /// An offer was taken back with the caller gone: ready again.
    pub async fn released(&self, navigator: &str) {
        self.set(
            navigator,
            Held {
                state: AgentState::Ready,
                ..Held::default()
            },
        )
        .await;
    }

    async fn on_call(&self, navigator: &str, state: AgentState) {
        let mut held = self.held(navigator);
        held.state = state;
        held.reason = None;
        held.wrap_up_until_ms = None;
        self.set(navigator, held).await;
    }

    async fn tell(&self, navigator: &str, held: Held, answers: Option<u64>) {
        let (next_state, next_reason) = match held.next {
            Some((s, r)) => (Some(s), r),
            None => (None, None),
        };
        self.events
            .send(CallEvent::NavigatorState {
                navigator: navigator.into(),
                state: held.state,
                reason: held.reason,
                next_state,
                next_reason,
                wrap_up_until_ms: held.wrap_up_until_ms,
                answers,
                at_ms: now_ms(),
            })
            .await
            .expect("the CTI takes events");
    }
}

/// `not_ready` with a reason.
pub fn not_ready(reason: &str) -> Held {
    Held {
        state: AgentState::NotReady,
        reason: Some(reason.into()),
        ..Held::default()
    }
}
