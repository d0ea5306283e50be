//! The ACD (automatic call distributor): queues per centre plus the
//! province-wide crisis queue, navigators and their agent states, and the
//! decisions that connect a waiting caller to the right person.
//!
//! This is a sans-IO state machine, like the SIP and IVR cores: it never
//! reads a clock, opens a socket or spawns a task (nothing in its dependency
//! tree does: no tokio). The driver (the queues' task in the binary,
//! `src/queues/`) feeds it [`Event`]s with the current time, asks it when it next
//! needs to be woken ([`Acd::poll_timeout`]), wakes it
//! ([`Acd::handle_timeout`]), and carries out the [`Decision`]s it queues
//! ([`Acd::poll_decision`]): ring a navigator and pop their screen, cancel a
//! ring, bridge the legs, dial a callback, route a call to an external line,
//! announce a position, write the CDR, tell the CTI a navigator's state.
//!
//! ```text
//!   driver ──Event + now──▶ Acd::handle ──▶ Decision queue ──poll_decision──▶ driver
//!   driver ◀──poll_timeout── Acd ◀──handle_timeout(now)── driver timer
//! ```
//!
//! # Model
//!
//! - **Queues**: one per centre (ids from `flows/centres.yaml`, via
//!   [`AcdConfig`]) plus [`QueueId::Crisis`]. A centre is open or closed as
//!   the driver says ([`Event::CentreOpen`]; the schedules live in the IVR
//!   crate). There are no queue vectors: a waiting call *is* a call in the
//!   [`CallState::Waiting`] state, ranked by `(priority, place)`. A call's
//!   place is a sequence number given when it is queued; a call that goes
//!   "back to the head" (no answer, declined, navigator left while it rang,
//!   transfer) gets a place before every other place.
//! - **Calls**: priority (crisis > high > normal), required language, crisis
//!   flag (only crisis-trained navigators; a call has it exactly when it is
//!   in the crisis queue, whose calls all have crisis priority), arrival
//!   time, and an optional callback (the caller hung up keeping their
//!   place; not for crisis calls).
//! - **Navigators**: username, centre, languages, crisis-trained, an
//!   [`AgentState`], a queued [`NextState`] (set while busy, applied when
//!   wrap-up ends) and the instant they became ready (for longest-idle).
//!
//! # Who may take a call
//!
//! A ready navigator may take a call when they speak its language (always —
//! a French caller is never offered to a navigator without French), are
//! crisis-trained if the call is a crisis call, and:
//! - crisis queue: any crisis-trained navigator in any centre (open or not);
//! - a centre's queue: the centre's *serving chain* is the centre followed by
//!   its overflow list. Centres of the chain that are closed, or have no
//!   logged-in navigator with the call's language (and crisis training if
//!   needed), are skipped; the k-th remaining centre (k = 0, 1, …) may take
//!   the call once it has waited k × the home centre's overflow wait. So
//!   calls of an open, staffed centre wait there first, then overflow one
//!   centre at a time in order; calls of a closed or unstaffed centre go
//!   straight to the next one.
//!
//! Selection (after every event and timer): waiting calls in order of
//! priority then place; each is given the best ready navigator who may take
//! it (nearest centre of the chain first, then longest idle, then
//! username). For one navigator becoming ready this is "the best call they
//! can take"; for one new call, "the longest-idle navigator with the
//! skills".
//!
//! # Never a dead end, never silence
//!
//! - A live call of a centre queue whose chain has no open, staffed centre
//!   goes to [`AcdConfig::fallback`] at once ([`Decision::RouteExternal`]).
//! - A crisis call goes to [`AcdConfig::crisis_external`] at once when no
//!   crisis-trained navigator with its language is logged in, and after
//!   [`AcdConfig::crisis_timeout`] when none answered (an offer ringing at
//!   that moment is cancelled).
//! - Waiting callers get [`Decision::Announce`] every
//!   [`AcdConfig::announce_every`].
//! - A callback is never routed away and never dropped: it waits for its
//!   turn, is dialled ([`Decision::StartCallback`]) with a navigator
//!   reserved, is retried after a failure, and after
//!   [`AcdConfig::callback_attempts`] failures stays on the supervisor's list
//!   ([`Acd::supervisor_list`]) until a supervisor requeues or resolves it.
//!
//! # Invariants
//!
//! Held by construction and checked by [`Acd::check_invariants`] (the
//! randomized test runs it after every step): every call is in exactly one
//! place (one entry, one [`CallState`]); a navigator who is reserved or busy
//! holds exactly the call that names them, and no other call names them; an
//! offer is only made to a ready navigator; after every event no ready
//! navigator is left beside a waiting call they may take.
//!
//! # Driving it
//!
//! One `Acd` per engine, owned by one task; `now` is `Instant::now()` at the
//! moment the driver hands it an event.
//!
//! ```ignore
//! let mut acd = Acd::new(AcdConfig::from_flowset(&flows, &fallback), Instant::now())?;
//! // at start-up and whenever a schedule flips: Event::CentreOpen { .. }
//! loop {
//!     let wake = acd.poll_timeout(); // None: nothing timed pending
//!     tokio::select! {
//!         Some(ev) = events.recv() => if let Err(e) = acd.handle(ev, Instant::now()) {
//!             tracing::debug!(%e, "acd refused an event"); // a race or a bug: see below
//!         },
//!         _ = sleep_until_or_forever(wake) => acd.handle_timeout(Instant::now()),
//!     }
//!     while let Some(d) = acd.poll_decision() { carry_out(d) }
//! }
//! ```
//!
//! Events, from where:
//! - the IVR flow ends in a route to a centre or to `crisis` →
//!   [`Event::CallQueued`] (an external route never enters the ACD); the
//!   crisis key while on hold → [`Event::Transfer`] to [`QueueId::Crisis`];
//!   "press 1 for a callback" → [`Event::CallbackRequested`];
//! - the caller's BYE/CANCEL → [`Event::CallerHungUp`]; a BYE on a bridged
//!   call from either side → [`Event::CallEnded`];
//! - the navigator's INVITE: 200 → [`Event::OfferAnswered`]; 486/603/any
//!   final failure, or no registered device → [`Event::OfferRejected`];
//!   the ring timeout is the ACD's, the driver does not time rings;
//! - the CTI websocket: login (with the account's centre, languages and
//!   crisis training), `set_state`, logout and the disconnect grace running
//!   out → [`Event::NavigatorStateChanged`];
//!   ending wrap-up → [`Event::WrapUpEnded`]; `transfer` to a queue →
//!   [`Event::Transfer`] (a transfer to a SIP URI is the driver's own: it
//!   bridges and sends [`Event::CallEnded`]);
//! - the outbound callback leg: answered and bridged to the navigator →
//!   [`Event::CallbackConnected`]; failed → [`Event::CallbackFailed`]
//!   (the ACD also gives up on its own after
//!   [`AcdConfig::callback_dial_timeout`]);
//! - the supervisor page → [`Event::SupervisorRequeue`] /
//!   [`Event::SupervisorResolved`]; schedules → [`Event::CentreOpen`].
//!
//! Decisions, to where: [`Decision::Offer`] → INVITE the navigator's
//! contacts and send `call_offered` on their websocket at once;
//! [`Decision::CancelOffer`] → CANCEL that INVITE (or hang up the callback's
//! outbound leg) and withdraw the pop — the caller stays on hold unless a
//! `RouteExternal` follows; [`Decision::Connect`] → 200 to the navigator's
//! leg, bridge, `call_answered`; [`Decision::StartCallback`] → dial the
//! caller through the trunk, then bridge to the (reserved) navigator with
//! `callback: true`; [`Decision::RouteExternal`] → play the prompt and
//! bridge to the target presenting the caller's number;
//! [`Decision::Announce`] → the position/wait prompt in the caller's
//! language; [`Decision::NavigatorState`] → `state_changed` on the CTI,
//! which shows it as it is (the ACD is the only agent-state machine: the
//! CTI keeps no state and no timer of its own, and every request it passes
//! on is answered with the state decided for it, or the unchanged one);
//! [`Decision::Record`] → the CDR. Views for the supervisor page:
//! [`Acd::waiting`], [`Acd::call`], [`Acd::navigator`],
//! [`Acd::navigators`], [`Acd::supervisor_list`].
//!
//! # Contract errors and races
//!
//! [`Acd::handle`] returns an [`AcdError`] for an event it refuses; the
//! event then changes nothing. The error says which of three kinds it is,
//! because a driver treats them differently:
//! - [`AcdError::Stale`]: an expected race — the event is about something
//!   that has moved on. An answer arriving after the ACD cancelled the ring
//!   (its `CancelOffer` is already in the queue) returns
//!   [`Stale::NotOffered`], and the driver must then release the navigator's
//!   leg; an event for a call that already left returns
//!   [`Stale::UnknownCall`].
//! - [`AcdError::Refused`]: a request that does not fit (a transfer to a
//!   centre the ACD does not have, a callback for a crisis call).
//! - [`AcdError::Bug`]: the driver broke the contract (the same call queued
//!   twice).
//!
//! Timers that fell due before an event's `now` are run before the event.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

mod api;
pub use api::*;
pub mod stats;

#[cfg(test)]
mod random;
#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Queue {
    Centre(usize),
    Crisis,
}

#[derive(Debug)]
struct Call {
    queue: Queue,
    priority: Priority,
    language: Lang,
    crisis: bool,
    arrived: Instant,
    queued_at: Instant,
    /// Rank within equal priority: lower is nearer the head.
    place: i64,
    state: CallState,
    callback: Option<Callback>,
    /// Overflow centres already recorded.
    overflowed: Vec<usize>,
    next_announce: Option<Instant>,
}

impl Call {
    fn is_live_waiting(&self) -> bool {
        self.state == CallState::Waiting && self.callback.is_none()
    }
}

#[derive(Debug)]
struct Navigator {
    centre: usize,
    languages: Vec<Lang>,
    crisis_trained: bool,
    state: AgentState,
    next_state: Option<NextState>,
    idle_since: Instant,
    answered_at: Option<Instant>,
}

#[derive(Debug)]
struct Centre {
    id: CentreId,
    chain: Vec<usize>,
    overflow_wait: Duration,
    open: bool,
}

/// Who is logged in where: (centre, language, needs crisis training).
struct Staffing {
    centres: HashSet<(usize, Lang, bool)>,
    crisis: HashSet<Lang>,
}

impl Staffing {
    fn staffed(&self, centre: usize, language: Lang, crisis: bool) -> bool {
        self.centres.contains(&(centre, language, crisis))
    }
}

/// The ACD state machine. See the module docs.
#[derive(Debug)]
pub struct Acd {
    config: AcdConfig,
    centres: Vec<Centre>,
    centre_index: HashMap<CentreId, usize>,
    calls: BTreeMap<CallId, Call>,
    navigators: BTreeMap<NavigatorId, Navigator>,
    decisions: VecDeque<Decision>,
    handle_times: VecDeque<Duration>,
    now: Instant,
    next_tail: i64,
    next_head: i64,
}

/// Each centre's overflow chain: itself, then the centres its `overflow`
/// names, by their index in `centres` (`index`), each once. Refused when an
/// overflow names no centre.
fn overflow_chains(
    centres: &[CentreConfig],
    index: &HashMap<CentreId, usize>,
) -> Result<Vec<Vec<usize>>, ConfigError> {
    let mut chains = Vec::with_capacity(centres.len());
    for (i, c) in centres.iter().enumerate() {
        let mut chain = vec![i];
        for o in &c.overflow {
            let Some(&j) = index.get(o) else {
                return Err(ConfigError::UnknownOverflow {
                    centre: c.id.clone(),
                    to: o.clone(),
                });
            };
            if !chain.contains(&j) {
                chain.push(j);
            }
        }
        chains.push(chain);
    }
    Ok(chains)
}

impl Acd {
    /// A new ACD with no calls and no navigators; `now` is its origin.
    pub fn new(config: AcdConfig, now: Instant) -> Result<Acd, ConfigError> {
        let mut centre_index = HashMap::new();
        for (i, c) in config.centres.iter().enumerate() {
            if centre_index.insert(c.id.clone(), i).is_some() {
                return Err(ConfigError::DuplicateCentre(c.id.clone()));
            }
        }
        if config.callback_attempts == 0 {
            return Err(ConfigError::NoCallbackAttempts);
        }
        let centres = overflow_chains(&config.centres, &centre_index)?
            .into_iter()
            .zip(&config.centres)
            .map(|(chain, c)| Centre {
                id: c.id.clone(),
                chain,
                overflow_wait: c.overflow_wait,
                open: true,
            })
            .collect();
        Ok(Acd {
            config,
            centres,
            centre_index,
            calls: BTreeMap::new(),
            navigators: BTreeMap::new(),
            decisions: VecDeque::new(),
            handle_times: VecDeque::new(),
            now,
            next_tail: 0,
            next_head: 0,
        })
    }

    /// Takes the centres of a new flow version (`centres.yaml` changed):
    /// new centres are added, the known ones take their new overflow order,
    /// overflow wait and line. A centre the new list no longer has stays
    /// as it was (its waiting calls and navigators keep their place) until
    /// the next start. Refused, changing nothing, when an overflow names no
    /// centre. `crisis_external` is the crisis line's new address.
    pub fn reconfigure(
        &mut self,
        centres: Vec<CentreConfig>,
        crisis_external: &str,
    ) -> Result<(), ConfigError> {
        let mut merged: Vec<CentreConfig> = self.config.centres.clone();
        let mut seen = std::collections::HashSet::new();
        for c in centres {
            if !seen.insert(c.id.clone()) {
                return Err(ConfigError::DuplicateCentre(c.id));
            }
            match merged.iter_mut().find(|m| m.id == c.id) {
                Some(m) => *m = c,
                None => merged.push(c),
            }
        }
        let index: HashMap<CentreId, usize> = merged
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let chains = overflow_chains(&merged, &index)?;
        for (i, (c, chain)) in merged.iter().zip(chains).enumerate() {
            match self.centres.get_mut(i) {
                Some(centre) => {
                    centre.chain = chain;
                    centre.overflow_wait = c.overflow_wait;
                }
                None => self.centres.push(Centre {
                    id: c.id.clone(),
                    chain,
                    overflow_wait: c.overflow_wait,
                    open: true,
                }),
            }
        }
        self.centre_index = index;
        self.config.centres = merged;
        self.config.crisis_external = crisis_external.to_owned();
        Ok(())
    }

    pub fn config(&self) -> &AcdConfig {
        &self.config
    }

    /// Feed an event that happened at `now`. Timers due by `now` run
    /// first; selection runs after. On an error the event changed nothing.
    pub fn handle(&mut self, event: Event, now: Instant) -> Result<(), AcdError> {
        let now = self.advance(now);
        self.run_timers(now);
        let result = self.apply(event, now);
        // Whatever the event made due now (none expected) runs now too, so
        // the next deadline is always in the future.
        self.run_timers(now);
        self.settle(now);
        result
    }

    /// When the ACD next needs [`Acd::handle_timeout`]: a ring or dial
    /// deadline, a wrap-up's end, a crisis timeout, an overflow step, a
    /// callback retry or an announcement.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let staffing = self.staffing();
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for nav in self.navigators.values() {
            if let AgentState::WrapUp { until } = nav.state {
                at(until);
            }
        }
        for call in self.calls.values() {
            match &call.state {
                CallState::Offered { deadline, .. } | CallState::Dialling { deadline, .. } => {
                    at(*deadline);
                    if call.crisis && call.callback.is_none() {
                        at(call.queued_at + self.config.crisis_timeout);
                    }
                }
                CallState::Waiting => {
                    if let Some(cb) = &call.callback {
                        if let Some(t) = cb.not_before.filter(|t| *t > self.now) {
                            at(t);
                        }
                    } else {
                        if call.crisis {
                            at(call.queued_at + self.config.crisis_timeout);
                        }
                        if let Some(t) = call.next_announce {
                            at(t);
                        }
                    }
                    let waited = self.now.saturating_duration_since(call.queued_at);
                    if let Some(step) = self
                        .tiers(call, &staffing)
                        .into_iter()
                        .map(|(_, wait)| wait)
                        .find(|wait| *wait > waited)
                    {
                        at(call.queued_at + step);
                    }
                }
                CallState::Connected { .. } | CallState::Supervisor => {}
            }
        }
        next
    }

    /// Run the timers due by `now` (and selection). Calling it early or
    /// late is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.run_timers(now);
        self.settle(now);
    }

    /// The next decision to carry out, oldest first.
    pub fn poll_decision(&mut self) -> Option<Decision> {
        self.decisions.pop_front()
    }

    /// A call's present state.
    pub fn call(&self, id: CallId) -> Option<CallInfo> {
        self.calls.get(&id).map(|c| CallInfo {
            id,
            queue: self.queue_id(c.queue),
            priority: c.priority,
            language: c.language,
            crisis: c.crisis,
            arrived: c.arrived,
            queued_at: c.queued_at,
            state: c.state.clone(),
            callback: c.callback.clone(),
        })
    }

    /// A navigator's present state.
    pub fn navigator(&self, id: &NavigatorId) -> Option<NavigatorInfo> {
        self.navigators.get(id).map(|n| NavigatorInfo {
            id: id.clone(),
            centre: self.centres[n.centre].id.clone(),
            languages: n.languages.clone(),
            crisis_trained: n.crisis_trained,
            state: n.state.clone(),
            next_state: n.next_state.clone(),
            idle_since: n.idle_since,
        })
    }

    /// The calls waiting in a queue (callbacks included), head first.
    pub fn waiting(&self, queue: &QueueId) -> Vec<CallId> {
        let Some(q) = self.queue_index(queue) else {
            return Vec::new();
        };
        let mut calls: Vec<(&CallId, &Call)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.queue == q && c.state == CallState::Waiting)
            .collect();
        calls.sort_by_key(|(id, c)| (std::cmp::Reverse(c.priority), c.place, **id));
        calls.into_iter().map(|(id, _)| *id).collect()
    }

    /// Callbacks out of attempts, waiting for a supervisor.
    pub fn supervisor_list(&self) -> Vec<CallId> {
        self.calls
            .iter()
            .filter(|(_, c)| c.state == CallState::Supervisor)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every call the ACD holds.
    pub fn calls(&self) -> Vec<CallId> {
        self.calls.keys().copied().collect()
    }

    /// Every navigator the ACD has seen.
    pub fn navigators(&self) -> Vec<NavigatorId> {
        self.navigators.keys().cloned().collect()
    }

    /// The expected handling time (average of recent calls).
    pub fn expected_handle_time(&self) -> Duration {
        if self.handle_times.is_empty() {
            return self.config.default_handle_time;
        }
        let total: Duration = self.handle_times.iter().sum();
        total / self.handle_times.len() as u32
    }

    /// Check the structural invariants; `Err` describes the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (id, call) in &self.calls {
            if let Some(nav_id) = call.state.navigator() {
                let Some(nav) = self.navigators.get(nav_id) else {
                    return Err(format!("{id} names unknown navigator {nav_id}"));
                };
                let ok = match (&call.state, &nav.state) {
                    (CallState::Offered { .. }, AgentState::Reserved { call: c })
                    | (CallState::Dialling { .. }, AgentState::Reserved { call: c })
                    | (CallState::Connected { .. }, AgentState::Busy { call: c }) => c == id,
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "{id} is {:?} but navigator {nav_id} is {:?}",
                        call.state, nav.state
                    ));
                }
            }
            if call.callback.is_some() && matches!(call.state, CallState::Offered { .. }) {
                return Err(format!("callback {id} offered as a live call"));
            }
            if call.callback.is_none()
                && matches!(
                    call.state,
                    CallState::Dialling { .. } | CallState::Supervisor
                )
            {
                return Err(format!("live call {id} in {:?}", call.state));
            }
        }
        for (nav_id, nav) in &self.navigators {
            if let Some(c) = nav.state.call() {
                match self.calls.get(&c) {
                    Some(call) if call.state.navigator() == Some(nav_id) => {}
                    _ => {
                        return Err(format!(
                            "navigator {nav_id} holds {c} which does not name them"
                        ));
                    }
                }
            }
        }
        // Every call names at most one navigator and each navigator holds at
        // most one call (its state has one slot); two calls naming the same
        // navigator would fail the two-way check above for one of them.
        let staffing = self.staffing();
        for (id, call) in &self.calls {
            if call.state != CallState::Waiting {
                continue;
            }
            let tiers = self.tiers(call, &staffing);
            for (nav_id, nav) in &self.navigators {
                if self.may_take(nav, call, &tiers).is_some() {
                    return Err(format!(
                        "{id} waits while navigator {nav_id} is ready for it"
                    ));
                }
            }
        }
        Ok(())
    }

    // ---- internals -------------------------------------------------------

    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    fn queue_id(&self, q: Queue) -> QueueId {
        match q {
            Queue::Centre(i) => QueueId::Centre(self.centres[i].id.clone()),
            Queue::Crisis => QueueId::Crisis,
        }
    }

    fn queue_index(&self, q: &QueueId) -> Option<Queue> {
        match q {
            QueueId::Crisis => Some(Queue::Crisis),
            QueueId::Centre(c) => self.centre_index.get(c).map(|&i| Queue::Centre(i)),
        }
    }

    /// Where a call of centre `home` goes when nobody can serve it.
    fn fallback_for(&self, home: usize) -> String {
        if !self.config.fallback.is_empty() {
            return self.config.fallback.clone();
        }
        self.config.centres[home]
            .external
            .clone()
            .unwrap_or_default()
    }

    fn emit(&mut self, d: Decision) {
        self.decisions.push_back(d);
    }

    fn record(&mut self, call: CallId, what: CallRecord) {
        self.emit(Decision::Record { call, what });
    }

    fn head_place(&mut self) -> i64 {
        self.next_head -= 1;
        self.next_head
    }

    fn set_nav_state(&mut self, id: &NavigatorId, state: AgentState, now: Instant) {
        let nav = self.navigators.get_mut(id).expect("known navigator");
        if state == AgentState::Ready && nav.state != AgentState::Ready {
            nav.idle_since = now;
        }
        nav.state = state.clone();
        let next_state = nav.next_state.clone();
        self.emit(Decision::NavigatorState {
            navigator: id.clone(),
            state,
            next_state,
        });
    }

    /// Give a navigator who was reserved their readiness back without
    /// losing their place in the longest-idle order.
    fn release_reserved(&mut self, id: &NavigatorId) {
        let nav = self.navigators.get_mut(id).expect("known navigator");
        nav.state = AgentState::Ready;
        self.emit(Decision::NavigatorState {
            navigator: id.clone(),
            state: AgentState::Ready,
            next_state: None,
        });
    }

    fn staffing(&self) -> Staffing {
        let mut s = Staffing {
            centres: HashSet::new(),
            crisis: HashSet::new(),
        };
        for nav in self.navigators.values() {
            if nav.state == AgentState::LoggedOut {
                continue;
            }
            for &lang in &nav.languages {
                s.centres.insert((nav.centre, lang, false));
                if nav.crisis_trained {
                    s.centres.insert((nav.centre, lang, true));
                    s.crisis.insert(lang);
                }
            }
        }
        s
    }

    /// The centres that may take a call and after how long in its queue.
    /// Empty when none is open and staffed (or, for the crisis queue, when
    /// no crisis-trained navigator with the language is logged in); the
    /// crisis queue gives one entry whose centre is `usize::MAX` (any).
    fn tiers(&self, call: &Call, staffing: &Staffing) -> Vec<(usize, Duration)> {
        match call.queue {
            Queue::Crisis => {
                if staffing.crisis.contains(&call.language) {
                    vec![(usize::MAX, Duration::ZERO)]
                } else {
                    Vec::new()
                }
            }
            Queue::Centre(home) => {
                let centre = &self.centres[home];
                centre
                    .chain
                    .iter()
                    .copied()
                    .filter(|&c| {
                        self.centres[c].open && staffing.staffed(c, call.language, call.crisis)
                    })
                    .enumerate()
                    .map(|(k, c)| (c, centre.overflow_wait * k as u32))
                    .collect()
            }
        }
    }

    /// Whether this navigator may take this call now; `Some(tier)` ranks
    /// navigators of nearer centres first.
    fn may_take(&self, nav: &Navigator, call: &Call, tiers: &[(usize, Duration)]) -> Option<usize> {
        if nav.state != AgentState::Ready || call.state != CallState::Waiting {
            return None;
        }
        if !nav.languages.contains(&call.language) || (call.crisis && !nav.crisis_trained) {
            return None;
        }
        if let Some(cb) = &call.callback
            && (cb.caller_on_line || cb.not_before.is_some_and(|t| t > self.now))
        {
            return None;
        }
        let waited = self.now.saturating_duration_since(call.queued_at);
        match call.queue {
            Queue::Crisis => nav.crisis_trained.then_some(0),
            Queue::Centre(_) => tiers
                .iter()
                .position(|&(c, wait)| c == nav.centre && wait <= waited),
        }
    }

    fn run_timers(&mut self, now: Instant) {
        // Rings and dials that ran out.
        let expired: Vec<(CallId, bool)> = self
            .calls
            .iter()
            .filter_map(|(id, c)| match c.state {
                CallState::Offered { deadline, .. } if deadline <= now => Some((*id, false)),
                CallState::Dialling { deadline, .. } if deadline <= now => Some((*id, true)),
                _ => None,
            })
            .collect();
        for (id, dialling) in expired {
            if dialling {
                self.callback_failed(id, Some(CancelReason::CallbackDialTimeout), now);
            } else {
                let nav = self.take_back(id, CancelReason::NoAnswer);
                self.record(
                    id,
                    CallRecord::NoAnswer {
                        navigator: nav.clone(),
                    },
                );
                self.set_nav_state(
                    &nav,
                    AgentState::NotReady {
                        reason: REASON_NO_ANSWER.to_owned(),
                    },
                    now,
                );
            }
        }
        // Wrap-ups that ended.
        let ended: Vec<NavigatorId> = self
            .navigators
            .iter()
            .filter(|(_, n)| matches!(n.state, AgentState::WrapUp { until } if until <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            self.end_wrap_up(&id, None, now);
        }
        // Crisis calls nobody answered in time.
        let timeout = self.config.crisis_timeout;
        let crisis: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                c.crisis
                    && c.callback.is_none()
                    && matches!(c.state, CallState::Waiting | CallState::Offered { .. })
                    && c.queued_at + timeout <= now
            })
            .map(|(id, _)| *id)
            .collect();
        for id in crisis {
            if let CallState::Offered { navigator, .. } = self.calls[&id].state.clone() {
                self.emit(Decision::CancelOffer {
                    call: id,
                    navigator: navigator.clone(),
                    reason: CancelReason::CrisisTimeout,
                });
                self.record(
                    id,
                    CallRecord::OfferCancelled {
                        navigator: navigator.clone(),
                        reason: CancelReason::CrisisTimeout,
                    },
                );
                self.release_reserved(&navigator);
            }
            let target = self.config.crisis_external.clone();
            self.route_external(id, target, ExternalReason::CrisisTimeout, now);
        }
        // Announcements.
        if let Some(every) = self.config.announce_every {
            let due: Vec<CallId> = self
                .calls
                .iter()
                .filter(|(_, c)| c.is_live_waiting() && c.next_announce.is_some_and(|t| t <= now))
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                let (position, expected_wait) = self.position(id);
                self.emit(Decision::Announce {
                    call: id,
                    position,
                    expected_wait,
                });
                let call = self.calls.get_mut(&id).expect("due call");
                let mut next = call.next_announce.expect("due call") + every;
                while next <= now {
                    next += every;
                }
                call.next_announce = Some(next);
            }
        }
    }

    /// Position in its queue (1 = next) and the expected wait.
    fn position(&self, id: CallId) -> (usize, Duration) {
        let call = &self.calls[&id];
        let ahead = self
            .calls
            .values()
            .filter(|c| {
                c.queue == call.queue
                    && c.state == CallState::Waiting
                    && (std::cmp::Reverse(c.priority), c.place)
                        < (std::cmp::Reverse(call.priority), call.place)
            })
            .count();
        let position = ahead + 1;
        let staffing = self.staffing();
        let centres: Vec<usize> = self.tiers(call, &staffing).iter().map(|t| t.0).collect();
        let serving = self
            .navigators
            .values()
            .filter(|n| {
                n.state != AgentState::LoggedOut
                    && n.languages.contains(&call.language)
                    && (!call.crisis || n.crisis_trained)
                    && match call.queue {
                        Queue::Crisis => n.crisis_trained,
                        Queue::Centre(_) => centres.contains(&n.centre),
                    }
            })
            .count()
            .max(1);
        let expected = self.expected_handle_time() * position as u32 / serving as u32;
        (position, expected)
    }

    /// After every event and timer: send away calls nobody can serve,
    /// record overflows, then offer.
    fn settle(&mut self, now: Instant) {
        let staffing = self.staffing();
        let mut away = Vec::new();
        let mut overflows = Vec::new();
        for (id, call) in &self.calls {
            if call.state != CallState::Waiting {
                continue;
            }
            let tiers = self.tiers(call, &staffing);
            if tiers.is_empty() {
                if call.callback.is_none() {
                    let (target, reason) = match call.queue {
                        _ if call.crisis => (
                            self.config.crisis_external.clone(),
                            ExternalReason::NoCrisisNavigator,
                        ),
                        Queue::Crisis => (
                            self.config.crisis_external.clone(),
                            ExternalReason::NoCrisisNavigator,
                        ),
                        Queue::Centre(home) => {
                            (self.fallback_for(home), ExternalReason::NoCentreAvailable)
                        }
                    };
                    away.push((*id, target, reason));
                }
                continue;
            }
            if let Queue::Centre(home) = call.queue {
                let waited = now.saturating_duration_since(call.queued_at);
                for &(c, wait) in &tiers {
                    if c != home && wait <= waited && !call.overflowed.contains(&c) {
                        overflows.push((*id, c, waited));
                    }
                }
            }
        }
        for (id, target, reason) in away {
            self.route_external(id, target, reason, now);
        }
        for (id, c, waited) in overflows {
            self.calls
                .get_mut(&id)
                .expect("waiting call")
                .overflowed
                .push(c);
            let to = self.centres[c].id.clone();
            self.record(id, CallRecord::Overflowed { to, waited });
        }
        self.dispatch(now, &staffing);
    }

    fn dispatch(&mut self, now: Instant, staffing: &Staffing) {
        let mut waiting: Vec<(std::cmp::Reverse<Priority>, i64, CallId)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == CallState::Waiting)
            .map(|(id, c)| (std::cmp::Reverse(c.priority), c.place, *id))
            .collect();
        waiting.sort();
        let mut ready: Vec<NavigatorId> = self
            .navigators
            .iter()
            .filter(|(_, n)| n.state == AgentState::Ready)
            .map(|(id, _)| id.clone())
            .collect();
        for (_, _, id) in waiting {
            if ready.is_empty() {
                break;
            }
            let call = &self.calls[&id];
            let tiers = self.tiers(call, staffing);
            let best = ready
                .iter()
                .enumerate()
                .filter_map(|(i, nav_id)| {
                    let nav = &self.navigators[nav_id];
                    self.may_take(nav, call, &tiers)
                        .map(|tier| ((tier, nav.idle_since, nav_id.clone()), i))
                })
                .min();
            if let Some((_, i)) = best {
                let nav_id = ready.swap_remove(i);
                self.assign(id, nav_id, now);
            }
        }
    }

    fn assign(&mut self, id: CallId, nav_id: NavigatorId, now: Instant) {
        let call = self.calls.get_mut(&id).expect("waiting call");
        let waited = now.saturating_duration_since(call.arrived);
        if let Some(cb) = &call.callback {
            let attempt = cb.failures + 1;
            call.state = CallState::Dialling {
                navigator: nav_id.clone(),
                deadline: now + self.config.callback_dial_timeout,
            };
            self.emit(Decision::StartCallback {
                call: id,
                navigator: nav_id.clone(),
                attempt,
            });
            self.set_nav_state(&nav_id, AgentState::Reserved { call: id }, now);
            self.record(
                id,
                CallRecord::CallbackDialling {
                    navigator: nav_id,
                    attempt,
                },
            );
        } else {
            call.state = CallState::Offered {
                navigator: nav_id.clone(),
                deadline: now + self.config.ring_timeout,
            };
            self.emit(Decision::Offer {
                call: id,
                navigator: nav_id.clone(),
                waited,
            });
            self.set_nav_state(&nav_id, AgentState::Reserved { call: id }, now);
            self.record(id, CallRecord::Offered { navigator: nav_id });
        }
    }

    /// Take back a ringing offer (or a callback's dialling): CancelOffer,
    /// the call back to the head of its queue. The navigator is left
    /// reserved for the caller to set; returns them.
    fn take_back(&mut self, id: CallId, reason: CancelReason) -> NavigatorId {
        let place = self.head_place();
        let next_announce = self.config.announce_every.map(|e| self.now + e);
        let call = self.calls.get_mut(&id).expect("offered call");
        let nav = call.state.navigator().expect("offered call").clone();
        call.state = CallState::Waiting;
        call.place = place;
        if call.callback.is_none() {
            call.next_announce = next_announce;
        }
        self.emit(Decision::CancelOffer {
            call: id,
            navigator: nav.clone(),
            reason,
        });
        nav
    }

    fn route_external(&mut self, id: CallId, target: String, reason: ExternalReason, now: Instant) {
        let call = self.calls.remove(&id).expect("call to route");
        self.emit(Decision::RouteExternal {
            call: id,
            target: target.clone(),
            reason,
        });
        self.record(
            id,
            CallRecord::RoutedExternal {
                target,
                reason,
                waited: now.saturating_duration_since(call.arrived),
            },
        );
    }

    /// [`Event::FollowUpCall`]: dial now, to this navigator only.
    fn follow_up_call(
        &mut self,
        new: NewCall,
        nav_id: NavigatorId,
        now: Instant,
    ) -> Result<(), AcdError> {
        let nav = self
            .navigators
            .get(&nav_id)
            .ok_or_else(|| Stale::UnknownNavigator(nav_id.clone()))?;
        let back = match &nav.state {
            AgentState::Ready => NextState::Ready,
            AgentState::NotReady { reason } => NextState::NotReady {
                reason: reason.clone(),
            },
            AgentState::LoggedOut => return Err(Stale::NotLoggedIn(nav_id).into()),
            _ => return Err(Refused::NavigatorNotFree(nav_id).into()),
        };
        let id = new.id;
        self.call_queued_quietly(new, now)?;
        let deadline = now + self.config.callback_dial_timeout;
        let c = self.calls.get_mut(&id).expect("just queued");
        c.callback = Some(Callback::new(now, true));
        c.next_announce = None;
        c.state = CallState::Dialling {
            navigator: nav_id.clone(),
            deadline,
        };
        let nav = self.navigators.get_mut(&nav_id).expect("known navigator");
        // After the call (and its wrap-up), back to what they were doing,
        // unless they asked for something else by then.
        nav.next_state.get_or_insert(back);
        self.emit(Decision::StartCallback {
            call: id,
            navigator: nav_id.clone(),
            attempt: 1,
        });
        self.set_nav_state(&nav_id, AgentState::Reserved { call: id }, now);
        self.record(
            id,
            CallRecord::CallbackDialling {
                navigator: nav_id,
                attempt: 1,
            },
        );
        Ok(())
    }

    fn callback_failed(&mut self, id: CallId, cancel: Option<CancelReason>, now: Instant) {
        let call = self.calls.get_mut(&id).expect("dialling callback");
        let nav = call.state.navigator().expect("dialling callback").clone();
        if call.callback.as_ref().is_some_and(|cb| cb.directed) {
            // A follow-up the navigator placed: tried once, then over; the
            // navigator goes back to what they were doing.
            self.calls.remove(&id);
            if let Some(reason) = cancel {
                self.emit(Decision::CancelOffer {
                    call: id,
                    navigator: nav.clone(),
                    reason,
                });
            }
            self.record(id, CallRecord::CallbackFailed { attempt: 1 });
            let n = self.navigators.get_mut(&nav).expect("known navigator");
            let state = match n.next_state.take() {
                Some(NextState::NotReady { reason }) => AgentState::NotReady { reason },
                Some(NextState::LoggedOut) => AgentState::LoggedOut,
                Some(NextState::Ready) | None => AgentState::Ready,
            };
            self.set_nav_state(&nav, state, now);
            return;
        }
        let cb = call.callback.as_mut().expect("dialling callback");
        cb.failures += 1;
        let attempt = cb.failures;
        if attempt >= self.config.callback_attempts {
            cb.not_before = None;
            call.state = CallState::Supervisor;
        } else {
            cb.not_before = Some(now + self.config.callback_retry_delay);
            call.state = CallState::Waiting;
        }
        let to_supervisor = call.state == CallState::Supervisor;
        if let Some(reason) = cancel {
            self.emit(Decision::CancelOffer {
                call: id,
                navigator: nav.clone(),
                reason,
            });
        }
        self.record(id, CallRecord::CallbackFailed { attempt });
        if to_supervisor {
            self.record(id, CallRecord::CallbackToSupervisor { attempts: attempt });
        }
        self.release_reserved(&nav);
    }

    fn end_wrap_up(&mut self, id: &NavigatorId, instead: Option<NextState>, now: Instant) {
        let nav = self.navigators.get_mut(id).expect("known navigator");
        if let Some(answered) = nav.answered_at.take() {
            self.handle_times
                .push_back(now.saturating_duration_since(answered));
            while self.handle_times.len() > self.config.handle_time_samples.max(1) {
                self.handle_times.pop_front();
            }
        }
        let next = instead
            .or_else(|| nav.next_state.take())
            .unwrap_or(NextState::Ready);
        nav.next_state = None;
        let state = match next {
            NextState::Ready => AgentState::Ready,
            NextState::NotReady { reason } => AgentState::NotReady { reason },
            NextState::LoggedOut => AgentState::LoggedOut,
        };
        self.set_nav_state(id, state, now);
    }

    /// The bridged call is over: its navigator wraps up, the call leaves.
    fn end_connected(&mut self, id: CallId, now: Instant) {
        let call = self.calls.remove(&id).expect("connected call");
        let CallState::Connected { navigator } = call.state else {
            unreachable!("end_connected on a call that is not connected");
        };
        self.start_wrap_up(&navigator, now);
        let talked = self.navigators[&navigator]
            .answered_at
            .map_or(Duration::ZERO, |a| now.saturating_duration_since(a));
        self.record(id, CallRecord::Ended { navigator, talked });
    }

    fn start_wrap_up(&mut self, navigator: &NavigatorId, now: Instant) {
        let until = now + self.config.wrap_up;
        self.set_nav_state(navigator, AgentState::WrapUp { until }, now);
        if self.config.wrap_up.is_zero() {
            self.end_wrap_up(navigator, None, now);
        }
    }

    fn call_mut(&mut self, id: CallId) -> Result<&mut Call, AcdError> {
        self.calls.get_mut(&id).ok_or(Stale::UnknownCall(id).into())
    }

    fn apply(&mut self, event: Event, now: Instant) -> Result<(), AcdError> {
        match event {
            Event::CentreOpen { centre, open } => {
                let &i = self
                    .centre_index
                    .get(&centre)
                    .ok_or(Refused::UnknownCentre(centre))?;
                self.centres[i].open = open;
                Ok(())
            }
            Event::CallQueued(new) => self.call_queued(new, now),
            Event::FollowUpCall { call, navigator } => self.follow_up_call(call, navigator, now),
            Event::CallbackRestored {
                call,
                to_supervisor,
            } => {
                if call.queue == QueueId::Crisis {
                    return Err(Refused::InvalidCallState(call.id).into());
                }
                let id = call.id;
                self.call_queued_quietly(call, now)?;
                let c = self.calls.get_mut(&id).expect("just queued");
                c.callback = Some(Callback::new(now, false));
                c.next_announce = None;
                if to_supervisor {
                    c.state = CallState::Supervisor;
                }
                self.record(id, CallRecord::CallbackRestored { to_supervisor });
                Ok(())
            }
            Event::CallerHungUp { call } => self.caller_hung_up(call, now),
            Event::NavigatorStateChanged { navigator, change } => {
                self.navigator_changed(navigator, change, now)
            }
            Event::OfferAnswered { call, navigator } => {
                let c = self.call_mut(call)?;
                if !matches!(&c.state, CallState::Offered { navigator: n, .. } if *n == navigator) {
                    return Err(Stale::NotOffered { call, navigator }.into());
                }
                self.connect(call, navigator, false, now);
                Ok(())
            }
            Event::OfferRejected {
                call,
                navigator,
                reason,
            } => {
                let c = self.call_mut(call)?;
                let held = matches!(&c.state,
                    CallState::Offered { navigator: n, .. } | CallState::Dialling { navigator: n, .. }
                        if *n == navigator);
                if !held {
                    return Err(Stale::NotOffered { call, navigator }.into());
                }
                if c.callback.as_ref().is_some_and(|cb| cb.directed) {
                    // Their own follow-up call and their phone did not
                    // take it: over, and they are back as they were.
                    self.callback_failed(call, None, now);
                    return Ok(());
                }
                self.take_back(call, CancelReason::Declined);
                self.record(
                    call,
                    CallRecord::Declined {
                        navigator: navigator.clone(),
                        reason,
                    },
                );
                self.set_nav_state(
                    &navigator,
                    AgentState::NotReady {
                        reason: REASON_DECLINED.to_owned(),
                    },
                    now,
                );
                Ok(())
            }
            Event::CallEnded { call } => self.caller_hung_up(call, now),
            Event::WrapUpEnded { navigator } => {
                let nav = self
                    .navigators
                    .get(&navigator)
                    .ok_or_else(|| Stale::UnknownNavigator(navigator.clone()))?;
                if !matches!(nav.state, AgentState::WrapUp { .. }) {
                    return Err(Stale::NotInWrapUp(navigator).into());
                }
                self.end_wrap_up(&navigator, None, now);
                Ok(())
            }
            Event::CallbackRequested { call } => {
                let c = self.calls.get(&call).ok_or(Stale::UnknownCall(call))?;
                if c.callback.is_some()
                    || c.crisis
                    || !matches!(c.state, CallState::Waiting | CallState::Offered { .. })
                {
                    return Err(Refused::InvalidCallState(call).into());
                }
                let waited = now.saturating_duration_since(c.arrived);
                if matches!(c.state, CallState::Offered { .. }) {
                    // Keep its place rather than the head: it was offered
                    // because it was the best call; nothing overtakes it.
                    let place = c.place;
                    let nav = self.take_back(call, CancelReason::CallbackRequested);
                    self.calls.get_mut(&call).expect("known").place = place;
                    self.record(
                        call,
                        CallRecord::OfferCancelled {
                            navigator: nav.clone(),
                            reason: CancelReason::CallbackRequested,
                        },
                    );
                    self.release_reserved(&nav);
                }
                let c = self.calls.get_mut(&call).expect("known");
                c.callback = Some(Callback {
                    requested: now,
                    failures: 0,
                    not_before: None,
                    caller_on_line: true,
                    directed: false,
                });
                c.next_announce = None;
                self.record(call, CallRecord::CallbackRequested { waited });
                Ok(())
            }
            Event::CallbackConnected { call } => {
                let c = self.call_mut(call)?;
                let CallState::Dialling { navigator, .. } = c.state.clone() else {
                    return Err(Refused::InvalidCallState(call).into());
                };
                self.connect(call, navigator, true, now);
                Ok(())
            }
            Event::CallbackFailed { call } => {
                let c = self.calls.get(&call).ok_or(Stale::UnknownCall(call))?;
                if !matches!(c.state, CallState::Dialling { .. }) {
                    return Err(Refused::InvalidCallState(call).into());
                }
                self.callback_failed(call, None, now);
                Ok(())
            }
            Event::Transfer { call, to } => self.transfer(call, to, now),
            Event::SupervisorRequeue { call } => {
                let c = self.call_mut(call)?;
                if c.state != CallState::Supervisor {
                    return Err(Refused::InvalidCallState(call).into());
                }
                c.state = CallState::Waiting;
                let cb = c
                    .callback
                    .as_mut()
                    .expect("supervisor list holds callbacks");
                cb.failures = 0;
                cb.not_before = None;
                self.record(call, CallRecord::CallbackRequeued);
                Ok(())
            }
            Event::SupervisorResolved { call } => {
                let c = self.calls.get(&call).ok_or(Stale::UnknownCall(call))?;
                if c.state != CallState::Supervisor {
                    return Err(Refused::InvalidCallState(call).into());
                }
                self.calls.remove(&call);
                self.record(call, CallRecord::CallbackResolved);
                Ok(())
            }
        }
    }

    fn call_queued(&mut self, new: NewCall, now: Instant) -> Result<(), AcdError> {
        let (id, queue, language) = (new.id, new.queue.clone(), new.language);
        self.call_queued_quietly(new, now)?;
        let c = &self.calls[&id];
        let (priority, crisis) = (c.priority, c.crisis);
        self.record(
            id,
            CallRecord::Queued {
                queue,
                priority,
                language,
                crisis,
            },
        );
        Ok(())
    }

    /// A new waiting call at the tail of its queue, with no CDR entry.
    fn call_queued_quietly(&mut self, new: NewCall, now: Instant) -> Result<(), AcdError> {
        if self.calls.contains_key(&new.id) {
            return Err(Bug::DuplicateCall(new.id).into());
        }
        let queue = match &new.queue {
            QueueId::Crisis => Queue::Crisis,
            QueueId::Centre(c) => Queue::Centre(
                *self
                    .centre_index
                    .get(c)
                    .ok_or_else(|| Refused::UnknownCentre(c.clone()))?,
            ),
        };
        let crisis = queue == Queue::Crisis;
        let priority = if crisis {
            Priority::Crisis
        } else {
            new.priority
        };
        self.next_tail += 1;
        self.calls.insert(
            new.id,
            Call {
                queue,
                priority,
                language: new.language,
                crisis,
                arrived: now,
                queued_at: now,
                place: self.next_tail,
                state: CallState::Waiting,
                callback: None,
                overflowed: Vec::new(),
                next_announce: self.config.announce_every.map(|e| now + e),
            },
        );
        Ok(())
    }

    /// `navigator` answered `call` (offered, or a callback they were rung
    /// for): bridge them, the navigator busy.
    fn connect(&mut self, call: CallId, navigator: NavigatorId, callback: bool, now: Instant) {
        let c = self.calls.get_mut(&call).expect("a known call");
        c.state = CallState::Connected {
            navigator: navigator.clone(),
        };
        let waited = now.saturating_duration_since(c.arrived);
        self.navigators
            .get_mut(&navigator)
            .expect("the call's navigator")
            .answered_at = Some(now);
        // The answer first, then the state it puts them in: a screen shows
        // `call_answered` before `state_changed busy`.
        self.emit(Decision::Connect {
            call,
            navigator: navigator.clone(),
        });
        self.set_nav_state(&navigator, AgentState::Busy { call }, now);
        self.record(
            call,
            CallRecord::Answered {
                navigator,
                waited,
                callback,
            },
        );
    }

    fn caller_hung_up(&mut self, id: CallId, now: Instant) -> Result<(), AcdError> {
        let call = self.calls.get_mut(&id).ok_or(Stale::UnknownCall(id))?;
        let waited = now.saturating_duration_since(call.arrived);
        // The caller of a callback leaves after the confirmation: from now
        // on it may be dialled. The callback's own leg is reported by
        // CallbackConnected / CallbackFailed.
        if !matches!(call.state, CallState::Connected { .. })
            && let Some(cb) = call.callback.as_mut()
        {
            cb.caller_on_line = false;
            return Ok(());
        }
        match call.state.clone() {
            CallState::Waiting => {
                self.calls.remove(&id);
                self.record(
                    id,
                    CallRecord::Abandoned {
                        waited,
                        while_ringing: false,
                    },
                );
                Ok(())
            }
            CallState::Offered { navigator, .. } => {
                self.calls.remove(&id);
                self.emit(Decision::CancelOffer {
                    call: id,
                    navigator: navigator.clone(),
                    reason: CancelReason::CallerAbandoned,
                });
                self.record(
                    id,
                    CallRecord::Abandoned {
                        waited,
                        while_ringing: true,
                    },
                );
                self.release_reserved(&navigator);
                Ok(())
            }
            CallState::Connected { .. } => {
                self.end_connected(id, now);
                Ok(())
            }
            CallState::Dialling { .. } | CallState::Supervisor => Ok(()),
        }
    }

    fn navigator_changed(
        &mut self,
        id: NavigatorId,
        change: StateChange,
        now: Instant,
    ) -> Result<(), AcdError> {
        if let StateChange::Login(profile) = change {
            let centre = *self
                .centre_index
                .get(&profile.centre)
                .ok_or_else(|| Refused::UnknownCentre(profile.centre.clone()))?;
            let nav = self.navigators.entry(id.clone()).or_insert(Navigator {
                centre,
                languages: Vec::new(),
                crisis_trained: false,
                state: AgentState::LoggedOut,
                next_state: None,
                idle_since: now,
                answered_at: None,
            });
            nav.centre = centre;
            nav.languages = profile.languages;
            nav.crisis_trained = profile.crisis_trained;
            if nav.state == AgentState::LoggedOut {
                self.set_nav_state(
                    &id,
                    AgentState::NotReady {
                        reason: REASON_LOGIN.to_owned(),
                    },
                    now,
                );
            }
            return Ok(());
        }
        let nav = self
            .navigators
            .get(&id)
            .ok_or_else(|| Stale::UnknownNavigator(id.clone()))?;
        if change == StateChange::WrapUp {
            return match nav.state {
                AgentState::LoggedOut => Err(Stale::NotLoggedIn(id).into()),
                AgentState::NotReady { .. } | AgentState::Ready => {
                    self.start_wrap_up(&id, now);
                    Ok(())
                }
                // Wrap-up follows the call anyway, and one already running
                // keeps its end.
                AgentState::Reserved { .. }
                | AgentState::Busy { .. }
                | AgentState::WrapUp { .. } => Ok(()),
            };
        }
        let wanted = match change {
            StateChange::Login(_) | StateChange::WrapUp => unreachable!("handled above"),
            StateChange::Ready => NextState::Ready,
            StateChange::NotReady { reason } => NextState::NotReady { reason },
            StateChange::Logout => NextState::LoggedOut,
        };
        match nav.state.clone() {
            AgentState::LoggedOut => {
                if wanted == NextState::LoggedOut {
                    Ok(())
                } else {
                    Err(Stale::NotLoggedIn(id).into())
                }
            }
            AgentState::NotReady { .. } | AgentState::Ready => {
                let state = match wanted {
                    NextState::Ready => AgentState::Ready,
                    NextState::NotReady { reason } => AgentState::NotReady { reason },
                    NextState::LoggedOut => AgentState::LoggedOut,
                };
                if state != nav.state {
                    self.set_nav_state(&id, state, now);
                }
                Ok(())
            }
            AgentState::Reserved { call } => {
                let (state, reason) = match wanted {
                    // Already taking a call.
                    NextState::Ready => return Ok(()),
                    NextState::NotReady { reason } => (
                        AgentState::NotReady { reason },
                        CancelReason::NavigatorNotReady,
                    ),
                    NextState::LoggedOut => {
                        (AgentState::LoggedOut, CancelReason::NavigatorLoggedOut)
                    }
                };
                let directed = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.callback.as_ref())
                    .is_some_and(|cb| cb.directed);
                if directed {
                    // Their own follow-up call: nobody else makes it.
                    self.calls.remove(&call);
                    self.emit(Decision::CancelOffer {
                        call,
                        navigator: id.clone(),
                        reason,
                    });
                    self.record(call, CallRecord::CallbackFailed { attempt: 1 });
                    self.navigators.get_mut(&id).expect("known").next_state = None;
                    self.set_nav_state(&id, state, now);
                    return Ok(());
                }
                self.take_back(call, reason);
                self.record(
                    call,
                    CallRecord::OfferCancelled {
                        navigator: id.clone(),
                        reason,
                    },
                );
                self.set_nav_state(&id, state, now);
                Ok(())
            }
            AgentState::Busy { .. } => {
                let nav = self.navigators.get_mut(&id).expect("known");
                nav.next_state = Some(wanted);
                let state = nav.state.clone();
                let next_state = nav.next_state.clone();
                self.emit(Decision::NavigatorState {
                    navigator: id,
                    state,
                    next_state,
                });
                Ok(())
            }
            AgentState::WrapUp { .. } => {
                self.end_wrap_up(&id, Some(wanted), now);
                Ok(())
            }
        }
    }

    fn transfer(&mut self, id: CallId, to: QueueId, now: Instant) -> Result<(), AcdError> {
        let queue = self.queue_index(&to).ok_or_else(|| match &to {
            QueueId::Centre(c) => Refused::UnknownCentre(c.clone()),
            QueueId::Crisis => unreachable!("the crisis queue always exists"),
        })?;
        let call = self.calls.get(&id).ok_or(Stale::UnknownCall(id))?;
        if call.callback.is_some() {
            return Err(Refused::InvalidCallState(id).into());
        }
        let from = match &call.state {
            CallState::Connected { navigator } => Some(navigator.clone()),
            _ => None,
        };
        match call.state.clone() {
            CallState::Waiting => {}
            CallState::Offered { navigator, .. } => {
                self.take_back(id, CancelReason::Transferred);
                self.record(
                    id,
                    CallRecord::OfferCancelled {
                        navigator: navigator.clone(),
                        reason: CancelReason::Transferred,
                    },
                );
                self.release_reserved(&navigator);
            }
            CallState::Connected { navigator } => {
                let talked = self.navigators[&navigator]
                    .answered_at
                    .map_or(Duration::ZERO, |a| now.saturating_duration_since(a));
                self.calls.get_mut(&id).expect("known").state = CallState::Waiting;
                self.start_wrap_up(&navigator, now);
                self.record(id, CallRecord::Ended { navigator, talked });
            }
            CallState::Dialling { .. } | CallState::Supervisor => {
                return Err(Refused::InvalidCallState(id).into());
            }
        }
        let place = self.head_place();
        let every = self.config.announce_every;
        let call = self.calls.get_mut(&id).expect("known");
        call.queue = queue;
        if queue == Queue::Crisis {
            call.crisis = true;
            call.priority = Priority::Crisis;
        } else if call.crisis {
            // Out of the crisis queue (a navigator judged it): no longer a
            // crisis call, but still ahead of normal calls.
            call.crisis = false;
            call.priority = Priority::High;
        }
        call.queued_at = now;
        call.place = place;
        call.overflowed.clear();
        call.next_announce = every.map(|e| now + e);
        self.record(id, CallRecord::Transferred { from, to });
        Ok(())
    }
}
