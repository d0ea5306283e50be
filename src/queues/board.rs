//! The supervisors' view of the queues (`GET /api/queues` and the
//! wallboards), published by the queue task soon after anything changes
//! (at most four times a second) and every second regardless.

use std::collections::HashMap;
use std::time::Instant;

use frontdoor_cti::now_ms;
use frontdoor_cti::protocol::{
    FailedCallback, QueueDay, QueueLine, QueueNavigator, QueuesView, WaitingCall, WaitingState,
};

use std::time::Duration;

use super::Driver;
use super::cdr::cti_state;
use frontdoor_acd::stats::SeedCall;
use frontdoor_acd::{CallId, CentreId, Lang, QueueId};

impl Driver {
    /// The supervisors' view: who waits where, the navigators, and the
    /// callbacks left to them (`GET /api/queues`).
    pub(super) fn publish(&mut self) {
        let now = Instant::now();
        let cti_id = |id: CallId| self.calls.get(&id).map(|e| e.cti_id.clone());
        let caller = |id: CallId| self.calls.get(&id).and_then(|e| e.caller.clone());
        let mut queues: Vec<QueueId> = self
            .acd
            .config()
            .centres
            .iter()
            .map(|c| QueueId::Centre(c.id.clone()))
            .collect();
        queues.push(QueueId::Crisis);
        let all: HashMap<CallId, frontdoor_acd::CallInfo> = self
            .acd
            .calls()
            .into_iter()
            .filter_map(|id| self.acd.call(id).map(|c| (id, c)))
            .collect();
        let queues: Vec<QueueLine> = queues
            .iter()
            .map(|q| {
                let mut calls: Vec<&frontdoor_acd::CallInfo> = self
                    .acd
                    .waiting(q)
                    .into_iter()
                    .filter_map(|id| all.get(&id))
                    .collect();
                let mut ringing: Vec<&frontdoor_acd::CallInfo> = all
                    .values()
                    .filter(|c| {
                        c.queue == *q
                            && matches!(
                                c.state,
                                frontdoor_acd::CallState::Offered { .. }
                                    | frontdoor_acd::CallState::Dialling { .. }
                            )
                    })
                    .collect();
                ringing.sort_by_key(|c| c.id);
                calls.extend(ringing);
                let waiting: Vec<WaitingCall> = calls
                    .iter()
                    .map(|c| WaitingCall {
                        call_id: cti_id(c.id).unwrap_or_default(),
                        caller: caller(c.id),
                        language: c.language.as_str().into(),
                        priority: c.priority.as_str().into(),
                        crisis: c.crisis,
                        callback: c.callback.is_some(),
                        state: match c.state {
                            frontdoor_acd::CallState::Offered { .. } => WaitingState::Offered,
                            frontdoor_acd::CallState::Dialling { .. } => WaitingState::Dialling,
                            _ => WaitingState::Waiting,
                        },
                        waited_s: now.saturating_duration_since(c.arrived).as_secs(),
                    })
                    .collect();
                let target = self.stats.config().target(q);
                QueueLine {
                    queue: q.to_string(),
                    waiting,
                    target_percent: target.percent,
                    target_within_s: target.within.as_secs(),
                }
            })
            .collect();
        let navigators: Vec<QueueNavigator> = self
            .acd
            .navigators()
            .iter()
            .filter_map(|n| self.acd.navigator(n))
            .map(|n| {
                let (state, reason) = cti_state(&n.state);
                QueueNavigator {
                    username: n.id.0.clone(),
                    centre: n.centre.0.clone(),
                    languages: n.languages.iter().map(|l| l.as_str().into()).collect(),
                    crisis_trained: n.crisis_trained,
                    state,
                    reason,
                    since_ms: self.state_since.get(&n.id).map(|(_, _, at)| *at),
                    call_id: n.state.call().and_then(cti_id),
                    monitor: n
                        .state
                        .call()
                        .and_then(|id| self.calls.get(&id))
                        .and_then(|e| e.monitor.clone()),
                }
            })
            .collect();
        let supervisor_list: Vec<FailedCallback> = self
            .acd
            .supervisor_list()
            .into_iter()
            .filter_map(|id| all.get(&id))
            .map(|c| FailedCallback {
                call_id: cti_id(c.id).unwrap_or_default(),
                caller: caller(c.id),
                queue: c.queue.to_string(),
                language: c.language.as_str().into(),
                attempts: c.callback.as_ref().map_or(0, |cb| cb.failures),
            })
            .collect();
        let today = self.today();
        self.wiring.cti.publish_queues(QueuesView {
            at_ms: now_ms(),
            expected_handle_s: self.acd.expected_handle_time().as_secs(),
            queues,
            today,
            short_abandon_s: self.stats.config().short_abandon.as_secs(),
            navigators,
            supervisor_list,
        });
    }

    /// Today in the centres' time zone: its number for the figures, and
    /// when it began (epoch ms).
    fn day(&self) -> (i64, i64) {
        let now = jiff::Timestamp::now().to_zoned(self.wiring.timezone.clone());
        let date = now.date();
        let start = date
            .to_zoned(self.wiring.timezone.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(0);
        (
            i64::from(date.year()) * 10_000 + i64::from(date.month()) * 100 + i64::from(date.day()),
            start,
        )
    }

    /// Today's figures so far from the call records, at start (after a
    /// restart they would begin at zero): each call once, in the queue it
    /// was answered or left from.
    pub(super) async fn seed_today(&mut self) {
        let (day, start) = self.day();
        let store = self.wiring.store.clone();
        let calls = match tokio::time::timeout(
            super::STORE_WAIT * 5,
            store.queued_calls_since(start),
        )
        .await
        {
            Ok(Ok(calls)) => calls,
            Ok(Err(error)) => {
                tracing::warn!(%error, "today's figures start from zero: the call records cannot be read");
                return;
            }
            Err(_) => {
                tracing::warn!("today's figures start from zero: the store did not answer in time");
                return;
            }
        };
        let n = calls.len();
        let ms = |from: i64, to: Option<i64>| {
            to.map(|t| Duration::from_millis(u64::try_from(t - from).unwrap_or(0)))
        };
        let lines = calls.into_iter().map(|c| {
            let queue = match (&c.crisis, &c.centre) {
                (false, Some(centre)) => QueueId::Centre(CentreId(centre.clone())),
                _ => QueueId::Crisis,
            };
            let language = c
                .language
                .as_deref()
                .and_then(Lang::parse)
                .unwrap_or(Lang::En);
            let talked = match (c.answered_ms, c.ended_ms) {
                (Some(a), Some(e)) => Some(e - a + c.logged_ms.map_or(0, |l| (l - e).max(0))),
                _ => None,
            };
            let seed = SeedCall {
                answered_after: ms(c.queued_ms, c.answered_ms),
                abandoned_after: c.abandoned.then(|| ms(c.queued_ms, c.ended_ms)).flatten(),
                handled: talked.map(|t| Duration::from_millis(u64::try_from(t).unwrap_or(0))),
                callback: c.callback,
                callback_made: c.callback_outcome.as_deref().map(|o| o == "made"),
            };
            ((queue, language), seed)
        });
        self.stats.seed(day, lines);
        tracing::info!(calls = n, "today's figures taken from the call records");
    }

    /// Today's figures, per queue and language; a new day (in the centres'
    /// time zone) starts them at zero.
    fn today(&mut self) -> Vec<QueueDay> {
        let (day, _) = self.day();
        self.stats.roll_day(day);
        let config = self.stats.config();
        self.stats
            .lines()
            .map(|((queue, language), c)| {
                let target = config.target(queue);
                QueueDay {
                    queue: queue.to_string(),
                    language: language.as_str().into(),
                    offered: c.offered,
                    answered: c.answered,
                    answered_in_target: c.answered_in_target,
                    abandoned: c.abandoned,
                    short_abandoned: c.short_abandoned,
                    routed_external: c.routed_external,
                    callbacks_requested: c.callbacks_requested,
                    callbacks_answered: c.callbacks_answered,
                    callbacks_failed: c.callbacks_failed,
                    transferred_out: c.transferred_out,
                    handled: c.handled,
                    service_level_percent: c.service_level().map(|f| (f * 1000.0).round() / 10.0),
                    target_percent: target.percent,
                    target_within_s: target.within.as_secs(),
                    average_speed_of_answer_s: c
                        .average_speed_of_answer()
                        .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
                    average_handle_s: c
                        .average_handle_time()
                        .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
                }
            })
            .collect()
    }
}
