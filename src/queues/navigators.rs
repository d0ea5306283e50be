//! Navigators' state requests from the CTI, and the ACD's states going back.
//!
//! The ACD alone decides agent states; the CTI shows what it said. Every
//! request a navigator's session makes ([`StateRequest`]: login, `set_state`,
//! logout, the disconnect grace running out) is fed to the ACD and answered
//! with a [`CtiEvent::NavigatorState`] carrying the request's ticket: the
//! first state the ACD decides for that navigator while carrying the request
//! out, or, when it decided none (nothing to change, or it refused), the
//! state it holds now, unchanged.

use std::time::Instant;

use frontdoor_cti::protocol::AgentState as CtiState;
use frontdoor_cti::{CallEvent as CtiEvent, StateRequest, now_ms};

use frontdoor_acd::{
    AgentState, CentreId, Event, Lang, NavigatorId, NavigatorProfile, NextState, StateChange,
};

use super::Driver;
use super::cdr::cti_state;

impl Driver {
    /// A navigator's session asks for a state; the answer goes out as the
    /// decisions are carried out ([`Driver::answer_left`] if none does).
    pub(super) async fn state_request(
        &mut self,
        navigator: String,
        request: StateRequest,
        ticket: u64,
    ) {
        self.answering = Some((navigator.clone(), ticket));
        let change = match request {
            StateRequest::Login => match self.profile(&navigator).await {
                Some(profile) => StateChange::Login(profile),
                None => return,
            },
            StateRequest::Ready => StateChange::Ready,
            StateRequest::NotReady { reason } => StateChange::NotReady { reason },
            StateRequest::WrapUp => StateChange::WrapUp,
            StateRequest::Logout => StateChange::Logout,
        };
        self.feed(Event::NavigatorStateChanged {
            navigator: NavigatorId(navigator),
            change,
        });
    }

    /// Who a navigator is, from their account (none: they cannot log in to the queues).
    async fn profile(&self, navigator: &str) -> Option<NavigatorProfile> {
        let store = &self.wiring.store;
        match store
            .within(super::STORE_WAIT, store.account(navigator))
            .await
        {
            Ok(Some(account)) => {
                let info = account.info;
                tracing::info!(%navigator, centre = %info.centre, languages = ?info.languages, crisis_trained = info.crisis_trained, "navigator logs in to the queues");
                Some(NavigatorProfile {
                    centre: CentreId(info.centre.clone()),
                    languages: info
                        .languages
                        .iter()
                        .filter_map(|l| Lang::parse(l))
                        .collect(),
                    crisis_trained: info.crisis_trained,
                })
            }
            Ok(None) => {
                tracing::warn!(%navigator, "no such account: not logged in to the queues");
                None
            }
            Err(error) => {
                tracing::error!(%navigator, %error, "cannot read the account: not logged in to the queues");
                None
            }
        }
    }

    /// The ACD decided a navigator's state: to the CTI, answering the
    /// request being carried out if it is theirs.
    /// Keeps when a navigator's state (or not-ready reason) last changed;
    /// a logged-out navigator is forgotten.
    pub(super) fn note_state_since(&mut self, navigator: &NavigatorId, state: &AgentState) {
        let (cti, reason) = cti_state(state);
        if cti == CtiState::LoggedOut {
            self.state_since.remove(navigator);
            return;
        }
        let changed = self
            .state_since
            .get(navigator)
            .is_none_or(|(s, r, _)| *s != cti || *r != reason);
        if changed {
            self.state_since
                .insert(navigator.clone(), (cti, reason, now_ms()));
        }
    }

    pub(super) async fn tell_state(
        &mut self,
        navigator: NavigatorId,
        state: AgentState,
        next_state: Option<NextState>,
    ) {
        tracing::info!(%navigator, state = state.name(), "navigator state");
        let answers = match &self.answering {
            Some((n, ticket)) if *n == navigator.0 => {
                let ticket = *ticket;
                self.answering = None;
                Some(ticket)
            }
            _ => None,
        };
        self.cti(state_event(navigator.0, &state, next_state, answers))
            .await;
    }

    /// A request the ACD decided no state for is answered with the state it
    /// holds (logged out if it does not know them).
    pub(super) async fn answer_left(&mut self) {
        let Some((navigator, ticket)) = self.answering.take() else {
            return;
        };
        let (state, next_state) = self
            .acd
            .navigator(&NavigatorId(navigator.clone()))
            .map_or((AgentState::LoggedOut, None), |n| (n.state, n.next_state));
        self.cti(state_event(navigator, &state, next_state, Some(ticket)))
            .await;
    }
}

/// The ACD's state in the CTI's words.
fn state_event(
    navigator: String,
    state: &AgentState,
    next_state: Option<NextState>,
    answers: Option<u64>,
) -> CtiEvent {
    let at_ms = now_ms();
    let (cti, reason) = cti_state(state);
    let wrap_up_until_ms = match state {
        AgentState::WrapUp { until } => {
            let left = until.saturating_duration_since(Instant::now());
            Some(at_ms + i64::try_from(left.as_millis()).unwrap_or(i64::MAX / 2))
        }
        _ => None,
    };
    let (next_state, next_reason) = match next_state {
        None => (None, None),
        Some(NextState::Ready) => (Some(CtiState::Ready), None),
        Some(NextState::NotReady { reason }) => (Some(CtiState::NotReady), Some(reason)),
        Some(NextState::LoggedOut) => (Some(CtiState::LoggedOut), None),
    };
    CtiEvent::NavigatorState {
        navigator,
        state: cti,
        reason,
        next_state,
        next_reason,
        wrap_up_until_ms,
        answers,
        at_ms,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_wrap_up_is_shown_with_its_end_and_a_queued_state_with_its_reason() {
        let until = Instant::now() + Duration::from_secs(60);
        let next = Some(NextState::NotReady {
            reason: "break".into(),
        });
        let CtiEvent::NavigatorState {
            state,
            reason,
            next_state,
            next_reason,
            wrap_up_until_ms,
            answers,
            at_ms,
            ..
        } = state_event("a".into(), &AgentState::WrapUp { until }, next, Some(7))
        else {
            panic!("a navigator state");
        };
        assert_eq!((state, reason), (CtiState::WrapUp, None));
        let left = wrap_up_until_ms.expect("its end") - at_ms;
        assert!((59_000..=60_000).contains(&left), "{left} ms left");
        assert_eq!(
            (next_state, next_reason.as_deref(), answers),
            (Some(CtiState::NotReady), Some("break"), Some(7))
        );
        let CtiEvent::NavigatorState {
            wrap_up_until_ms, ..
        } = state_event("a".into(), &AgentState::Ready, None, None)
        else {
            panic!("a navigator state");
        };
        assert_eq!(wrap_up_until_ms, None, "only wrap-up ends by itself");
    }
}
