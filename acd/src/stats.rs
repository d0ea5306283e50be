//! Today's figures per queue and language, for the supervisors' view and
//! the metrics: calls offered, answered (and how many within the queue's
//! service-level target), abandoned (short abandons apart), sent to an
//! external line, callbacks; the average speed of answer, the service level
//! and the average handle time.
//!
//! Sans-IO like the ACD: [`QueueStats::observe`] reads the ACD's own
//! decisions ([`Decision::Record`] and [`Decision::NavigatorState`]) with the
//! instant the driver polled them, and [`QueueStats::roll_day`] starts a new
//! day when the driver's local calendar says so. Nothing here reads a clock.
//!
//! # What is counted where
//!
//! A call counts in the line of the queue it is in and its language, from
//! the moment it is queued ([`CallRecord::Queued`]) or transferred in
//! ([`CallRecord::Transferred`]: the crisis key, a navigator's transfer).
//! A call overflowing to another centre stays in its own queue's line.
//!
//! - `offered`: calls that entered the queue.
//! - `answered`: live callers a navigator answered; `answered_in_target`
//!   those answered within the queue's [`Target::within`], counted from the
//!   moment they entered this queue.
//! - `abandoned`: callers who hung up waiting or while a navigator's phone
//!   rang, after [`StatsConfig::short_abandon`]; `short_abandoned`: sooner
//!   (a wrong number, a caller who changed their mind): counted apart and
//!   left out of the service level.
//! - `routed_external`: sent to the crisis line or a fallback line.
//! - `callbacks_requested`: callers who asked to be called back keeping
//!   their place; `callbacks_answered`: callbacks a navigator took;
//!   `callbacks_failed`: dial attempts that did not reach the caller.
//! - `transferred_out`: calls that left for another queue before a
//!   navigator answered them (the crisis key while waiting).
//! - `handled`: calls a navigator finished (live or callback), with their
//!   talk time and the wrap-up that followed (added when the wrap-up ends).
//!
//! Figures: the service level is `answered_in_target ÷ (answered +
//! abandoned)`; the average speed of answer `wait of the answered ÷
//! answered`; the average handle time `(talk + wrap-up) ÷ handled`.
//!
//! A day's figures start at zero: the driver calls
//! [`QueueStats::roll_day`] with its local day, and on a new day every line
//! is cleared (a call queued yesterday and answered today counts as
//! answered today).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::{AgentState, CallId, CallRecord, CentreId, Decision, Lang, NavigatorId, QueueId};

/// A service-level target: `percent` of the calls answered within `within`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub within: Duration,
    pub percent: f64,
}

impl Target {
    /// The centres' default: 80 % within 60 s.
    pub const CENTRE: Target = Target {
        within: Duration::from_secs(60),
        percent: 80.0,
    };
    /// The crisis queue's default: 90 % within 20 s.
    pub const CRISIS: Target = Target {
        within: Duration::from_secs(20),
        percent: 90.0,
    };
}

/// How the figures are counted.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsConfig {
    /// A caller who hangs up sooner is a short abandon. Default 10 s.
    pub short_abandon: Duration,
    /// Every centre's target unless [`StatsConfig::centre_targets`] has its
    /// own. Default [`Target::CENTRE`].
    pub centre_target: Target,
    /// Centres with a target of their own.
    pub centre_targets: HashMap<CentreId, Target>,
    /// The crisis queue's target. Default [`Target::CRISIS`].
    pub crisis_target: Target,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            short_abandon: Duration::from_secs(10),
            centre_target: Target::CENTRE,
            centre_targets: HashMap::new(),
            crisis_target: Target::CRISIS,
        }
    }
}

impl StatsConfig {
    /// The target of a queue.
    pub fn target(&self, queue: &QueueId) -> Target {
        match queue {
            QueueId::Crisis => self.crisis_target,
            QueueId::Centre(c) => self
                .centre_targets
                .get(c)
                .copied()
                .unwrap_or(self.centre_target),
        }
    }
}

/// One queue and language's counts for the day (see the module's text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub offered: u64,
    pub answered: u64,
    pub answered_in_target: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub routed_external: u64,
    pub callbacks_requested: u64,
    pub callbacks_answered: u64,
    pub callbacks_failed: u64,
    pub transferred_out: u64,
    pub handled: u64,
    /// The answered callers' waits, summed.
    pub answered_wait: Duration,
    /// The handled calls' talk and wrap-up, summed.
    pub handle_time: Duration,
}

impl DayCounts {
    /// Answered within the target ÷ (answered + abandoned after the short
    /// threshold), as a fraction; `None` before any such call.
    pub fn service_level(&self) -> Option<f64> {
        let base = self.answered + self.abandoned;
        (base > 0).then(|| self.answered_in_target as f64 / base as f64)
    }

    /// The average speed of answer; `None` before any answer.
    pub fn average_speed_of_answer(&self) -> Option<Duration> {
        (self.answered > 0).then(|| self.answered_wait / self.answered.min(u32::MAX as u64) as u32)
    }

    /// The average handle time (talk and wrap-up); `None` before any call
    /// was handled.
    pub fn average_handle_time(&self) -> Option<Duration> {
        (self.handled > 0).then(|| self.handle_time / self.handled.min(u32::MAX as u64) as u32)
    }
}

/// A call already recorded today, for [`QueueStats::seed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedCall {
    /// Answered this long after entering the queue.
    pub answered_after: Option<Duration>,
    /// Hung up waiting, this long after entering the queue.
    pub abandoned_after: Option<Duration>,
    /// Talk and wrap-up, when a navigator finished it.
    pub handled: Option<Duration>,
    /// The caller asked to be called back; `callback_made`: whether the
    /// callback reached them (`None`: not tried yet).
    pub callback: bool,
    pub callback_made: Option<bool>,
}

/// A line of the figures: a queue and a language.
pub type Line = (QueueId, Lang);

#[derive(Debug, Clone)]
struct Tracked {
    line: Line,
    /// When the call entered its current queue.
    entered: Instant,
}

/// Today's figures per queue and language (see the module's text).
#[derive(Debug, Clone)]
pub struct QueueStats {
    config: StatsConfig,
    day: Option<i64>,
    lines: BTreeMap<Line, DayCounts>,
    /// Calls in a queue, until they leave it.
    calls: HashMap<CallId, Tracked>,
    /// The last call that ended, for a transfer that follows its end.
    ended: Option<(CallId, Lang)>,
    /// Navigators in wrap-up after a call of this line, since then.
    wrapping: HashMap<NavigatorId, (Line, Instant)>,
    /// Navigators whose last known state is wrap-up.
    in_wrap_up: HashSet<NavigatorId>,
}

impl QueueStats {
    pub fn new(config: StatsConfig) -> QueueStats {
        QueueStats {
            config,
            day: None,
            lines: BTreeMap::new(),
            calls: HashMap::new(),
            ended: None,
            wrapping: HashMap::new(),
            in_wrap_up: HashSet::new(),
        }
    }

    pub fn config(&self) -> &StatsConfig {
        &self.config
    }

    /// Starts a new day's figures when `day` (the driver's local day, any
    /// number that changes at midnight) is not the current one. Calls in a
    /// queue stay followed.
    pub fn roll_day(&mut self, day: i64) {
        if self.day != Some(day) {
            self.day = Some(day);
            self.lines.clear();
        }
    }

    /// Starts `day`'s figures from calls already recorded (after a restart):
    /// each call counted once, in the queue it was answered or left from.
    pub fn seed(&mut self, day: i64, calls: impl IntoIterator<Item = (Line, SeedCall)>) {
        self.day = Some(day);
        self.lines.clear();
        for (line, call) in calls {
            let target = self.config.target(&line.0);
            let short = self.config.short_abandon;
            let c = self.lines.entry(line).or_default();
            c.offered += 1;
            if call.callback {
                c.callbacks_requested += 1;
                match call.callback_made {
                    Some(true) => c.callbacks_answered += 1,
                    Some(false) => c.callbacks_failed += 1,
                    None => {}
                }
            }
            if let Some(wait) = call.answered_after.filter(|_| !call.callback) {
                c.answered += 1;
                c.answered_wait += wait;
                if wait <= target.within {
                    c.answered_in_target += 1;
                }
            }
            if let Some(waited) = call.abandoned_after {
                if waited < short {
                    c.short_abandoned += 1;
                } else {
                    c.abandoned += 1;
                }
            }
            if let Some(handled) = call.handled {
                c.handled += 1;
                c.handle_time += handled;
            }
        }
    }

    /// Today's counts, by queue and language, in a stable order.
    pub fn lines(&self) -> impl Iterator<Item = (&Line, &DayCounts)> {
        self.lines.iter()
    }

    /// One line's counts (zero when nothing happened in it today).
    pub fn line(&self, queue: &QueueId, language: Lang) -> DayCounts {
        self.lines
            .get(&(queue.clone(), language))
            .cloned()
            .unwrap_or_default()
    }

    /// Counts what the decision says; every other decision is ignored.
    /// `now` is when the driver polled it.
    pub fn observe(&mut self, decision: &Decision, now: Instant) {
        match decision {
            Decision::Record { call, what } => self.record(*call, what, now),
            Decision::NavigatorState {
                navigator, state, ..
            } => self.navigator_state(navigator, state, now),
            _ => {}
        }
    }

    fn counts(&mut self, line: &Line) -> &mut DayCounts {
        self.lines.entry(line.clone()).or_default()
    }

    fn enter(&mut self, call: CallId, line: Line, now: Instant) {
        self.counts(&line).offered += 1;
        self.calls.insert(call, Tracked { line, entered: now });
    }

    fn record(&mut self, call: CallId, what: &CallRecord, now: Instant) {
        match what {
            CallRecord::Queued {
                queue, language, ..
            } => self.enter(call, (queue.clone(), *language), now),
            CallRecord::Transferred { from, to } => {
                let language = match self.calls.remove(&call) {
                    Some(t) => {
                        // Left before an answer (a navigator's transfer
                        // follows the call's end, below).
                        if from.is_none() {
                            self.counts(&t.line).transferred_out += 1;
                        }
                        Some(t.line.1)
                    }
                    None => self
                        .ended
                        .take()
                        .filter(|(c, _)| *c == call)
                        .map(|(_, l)| l),
                };
                if let Some(language) = language {
                    self.enter(call, (to.clone(), language), now);
                }
            }
            CallRecord::Answered { callback, .. } => {
                let Some(t) = self.calls.get(&call) else {
                    return;
                };
                let (line, waited) = (t.line.clone(), now.saturating_duration_since(t.entered));
                let target = self.config.target(&line.0).within;
                let c = self.counts(&line);
                if *callback {
                    c.callbacks_answered += 1;
                } else {
                    c.answered += 1;
                    c.answered_wait += waited;
                    if waited <= target {
                        c.answered_in_target += 1;
                    }
                }
            }
            CallRecord::Abandoned { .. } => {
                let Some(t) = self.calls.remove(&call) else {
                    return;
                };
                let waited = now.saturating_duration_since(t.entered);
                let short = waited < self.config.short_abandon;
                let c = self.counts(&t.line);
                if short {
                    c.short_abandoned += 1;
                } else {
                    c.abandoned += 1;
                }
            }
            CallRecord::RoutedExternal { .. } => {
                if let Some(t) = self.calls.remove(&call) {
                    self.counts(&t.line).routed_external += 1;
                }
            }
            CallRecord::CallbackRequested { .. } => {
                if let Some(line) = self.calls.get(&call).map(|t| t.line.clone()) {
                    self.counts(&line).callbacks_requested += 1;
                }
            }
            CallRecord::CallbackFailed { .. } => {
                if let Some(line) = self.calls.get(&call).map(|t| t.line.clone()) {
                    self.counts(&line).callbacks_failed += 1;
                }
            }
            CallRecord::CallbackResolved => {
                self.calls.remove(&call);
            }
            CallRecord::Ended { navigator, talked } => {
                let Some(t) = self.calls.remove(&call) else {
                    return;
                };
                let c = self.counts(&t.line);
                c.handled += 1;
                c.handle_time += *talked;
                if self.in_wrap_up.contains(navigator) {
                    self.wrapping
                        .insert(navigator.clone(), (t.line.clone(), now));
                }
                self.ended = Some((call, t.line.1));
            }
            CallRecord::Overflowed { .. }
            | CallRecord::Offered { .. }
            | CallRecord::NoAnswer { .. }
            | CallRecord::Declined { .. }
            | CallRecord::OfferCancelled { .. }
            | CallRecord::CallbackDialling { .. }
            | CallRecord::CallbackToSupervisor { .. }
            | CallRecord::CallbackRequeued
            | CallRecord::CallbackRestored { .. } => {}
        }
    }

    fn navigator_state(&mut self, navigator: &NavigatorId, state: &AgentState, now: Instant) {
        if matches!(state, AgentState::WrapUp { .. }) {
            self.in_wrap_up.insert(navigator.clone());
            return;
        }
        self.in_wrap_up.remove(navigator);
        if let Some((line, since)) = self.wrapping.remove(navigator) {
            self.counts(&line).handle_time += now.saturating_duration_since(since);
        }
    }
}
