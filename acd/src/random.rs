//! The randomized invariant test: thousands of random interleavings of every
//! event the driver can send (including wrong and late ones), with time
//! passing at random, checking after every step:
//!
//! - the ACD's own structural invariants ([`Acd::check_invariants`]);
//! - as the driver sees them from the decisions alone: an offer or a
//!   callback only to a navigator the CTI last saw `ready`; never a second
//!   offer of a call that is ringing or bridged, never a second call to a
//!   navigator who holds one; the CTI's view of every navigator equals the
//!   ACD's;
//! - every call is in exactly one place: a call the ACD no longer holds had
//!   a final decision (answered and ended, abandoned, routed external,
//!   resolved by a supervisor), a call it holds had none — so a callback is
//!   never lost;
//! - queues never silently stop offering: no ready navigator beside a
//!   waiting call of their own open centre (or of the crisis queue, if
//!   crisis-trained) in their language;
//! - the next deadline is in the future (no busy loop for the driver).
//!
//! Set `ACD_SEED` to replay one seed; a failure prints its seed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::tests::{Harness, shipped_config};
use super::*;

struct SeedOnPanic(u64, usize);

impl Drop for SeedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "randomized ACD test failed: replay with ACD_SEED={} (step {})",
                self.0, self.1
            );
        }
    }
}

/// What the driver knows, built from the decisions only.
#[derive(Default)]
struct DriverView {
    /// Navigator states as the CTI was told.
    cti: HashMap<NavigatorId, AgentState>,
    /// Calls ringing or dialling (call → navigator). Ordered maps: the
    /// test picks from them, and a seed must replay the same walk.
    reserved: BTreeMap<CallId, NavigatorId>,
    /// Calls bridged (call → navigator).
    connected: BTreeMap<CallId, NavigatorId>,
    /// Calls that had a final decision.
    gone: HashSet<CallId>,
    /// Calls that were queued.
    queued: HashSet<CallId>,
    /// Callbacks: the caller left, keeping their place.
    callbacks_kept: HashSet<CallId>,
    /// Follow-ups navigators placed themselves: dialled once, to them only.
    directed: HashSet<CallId>,
    follow_ups: usize,
    offers: usize,
    callbacks: usize,
    externals: usize,
    answered: usize,
    /// Records seen, by kind (for the coverage check).
    kinds: BTreeMap<&'static str, usize>,
}

impl DriverView {
    fn take(&mut self, d: &Decision) {
        match d {
            Decision::Offer {
                call, navigator, ..
            }
            | Decision::StartCallback {
                call, navigator, ..
            } => {
                if matches!(d, Decision::Offer { .. }) {
                    self.offers += 1;
                    assert!(
                        !self.callbacks_kept.contains(call),
                        "{d:?}: a live offer of a callback whose caller is gone"
                    );
                } else {
                    self.callbacks += 1;
                    assert!(self.callbacks_kept.contains(call), "{d:?}: not a callback");
                }
                if self.directed.contains(call) {
                    self.follow_ups += 1;
                    assert!(
                        matches!(
                            self.cti.get(navigator),
                            Some(AgentState::Ready | AgentState::NotReady { .. })
                        ),
                        "{d:?}: a follow-up for a navigator who is not free"
                    );
                } else {
                    assert_eq!(
                        self.cti.get(navigator),
                        Some(&AgentState::Ready),
                        "{d:?} to a navigator who is not ready"
                    );
                }
                assert!(
                    !self.reserved.contains_key(call) && !self.connected.contains_key(call),
                    "{d:?}: the call is already ringing or bridged"
                );
                assert!(
                    !self.reserved.values().any(|n| n == navigator)
                        && !self.connected.values().any(|n| n == navigator),
                    "{d:?}: the navigator already holds a call"
                );
                assert!(!self.gone.contains(call), "{d:?}: the call is gone");
                self.reserved.insert(*call, navigator.clone());
            }
            Decision::CancelOffer {
                call, navigator, ..
            } => {
                assert_eq!(
                    self.reserved.remove(call).as_ref(),
                    Some(navigator),
                    "{d:?}"
                );
            }
            Decision::Connect { call, navigator } => {
                self.answered += 1;
                assert_eq!(
                    self.reserved.remove(call).as_ref(),
                    Some(navigator),
                    "{d:?}"
                );
                self.connected.insert(*call, navigator.clone());
            }
            Decision::RouteExternal { call, .. } => {
                self.externals += 1;
                assert!(!self.reserved.contains_key(call), "{d:?} while ringing");
                assert!(!self.connected.contains_key(call), "{d:?} while bridged");
                assert!(self.gone.insert(*call), "{d:?}: routed twice");
                assert!(
                    !self.callbacks_kept.contains(call),
                    "{d:?}: a callback routed away"
                );
            }
            Decision::Announce { call, .. } => {
                assert!(!self.gone.contains(call), "{d:?}");
                assert!(!self.callbacks_kept.contains(call), "{d:?} to nobody");
            }
            Decision::NavigatorState {
                navigator, state, ..
            } => {
                self.cti.insert(navigator.clone(), state.clone());
            }
            Decision::Record { call, what } => {
                self.note(what);
                self.take_record(d, *call, what);
            }
        }
    }

    fn note(&mut self, what: &CallRecord) {
        let kind = match what {
            CallRecord::NoAnswer { .. } => "no_answer",
            CallRecord::Overflowed { .. } => "overflowed",
            CallRecord::Transferred { .. } => "transferred",
            CallRecord::CallbackToSupervisor { .. } => "to_supervisor",
            CallRecord::CallbackRequeued => "requeued",
            CallRecord::Abandoned {
                while_ringing: true,
                ..
            } => "abandoned_ringing",
            CallRecord::RoutedExternal {
                reason: ExternalReason::CrisisTimeout,
                ..
            } => "crisis_timeout",
            CallRecord::Answered { callback: true, .. } => "callback_answered",
            _ => return,
        };
        *self.kinds.entry(kind).or_default() += 1;
    }

    fn take_record(&mut self, d: &Decision, call: CallId, what: &CallRecord) {
        let call = &call;
        match what {
            CallRecord::Queued { .. } => {
                assert!(self.queued.insert(*call), "{call} queued twice");
            }
            CallRecord::CallbackRestored { .. } => {
                assert!(self.queued.insert(*call), "{call} queued twice");
                assert!(self.callbacks_kept.insert(*call), "{d:?}: twice");
            }
            CallRecord::Abandoned { .. } | CallRecord::CallbackResolved => {
                assert!(self.gone.insert(*call), "{d:?}: gone twice");
            }
            CallRecord::Ended { .. } => {
                assert!(self.connected.remove(call).is_some(), "{d:?}");
                self.gone.insert(*call);
            }
            CallRecord::CallbackRequested { .. } => {
                assert!(self.callbacks_kept.insert(*call), "{d:?}: twice");
            }
            // The driver reported the failure (or the ACD cancelled
            // the dial just before): the navigator is free.
            CallRecord::CallbackFailed { .. } => {
                self.reserved.remove(call);
                if self.directed.contains(call) {
                    // A follow-up is tried once: it is over.
                    assert!(self.gone.insert(*call), "{d:?}: gone twice");
                }
            }
            CallRecord::RoutedExternal { .. } => {
                assert!(self.gone.contains(call), "{d:?} without RouteExternal");
            }
            // A bridged call transferred to a queue lives on.
            CallRecord::Transferred { from: Some(_), .. } => {
                assert!(self.gone.remove(call), "{d:?}");
            }
            _ => assert!(!self.gone.contains(call), "{d:?} for a call that is gone"),
        }
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.usize(..items.len())])
}

fn run(seed: u64, steps: usize) -> DriverView {
    let mut guard = SeedOnPanic(seed, 0);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut config = shipped_config();
    config.announce_every = Some(Duration::from_secs(rng.u64(20..90)));
    config.callback_attempts = rng.u32(1..4);
    if rng.bool() {
        config.wrap_up = Duration::ZERO;
    }
    let centres: Vec<CentreId> = config.centres.iter().map(|c| c.id.clone()).collect();
    let mut h = Harness::with(config);
    let mut view = DriverView::default();
    let navigators: Vec<NavigatorId> = (0..rng.usize(2..10))
        .map(|i| NavigatorId(format!("nav{i}")))
        .collect();
    let langs = [vec![Lang::En], vec![Lang::Fr], vec![Lang::En, Lang::Fr]];
    let mut next_call = 1u64;
    // Most navigators start logged in, so that calls meet people.
    for nav in &navigators {
        if rng.u8(..4) != 0 {
            let profile = NavigatorProfile {
                centre: pick(&mut rng, &centres).unwrap().clone(),
                languages: pick(&mut rng, &langs).unwrap().clone(),
                crisis_trained: rng.bool(),
            };
            h.acd
                .handle(
                    Event::NavigatorStateChanged {
                        navigator: nav.clone(),
                        change: StateChange::Login(profile),
                    },
                    h.now,
                )
                .unwrap();
        }
    }

    for step in 0..steps {
        guard.1 = step;
        let calls = h.acd.calls();
        let any_call = |rng: &mut fastrand::Rng| {
            if rng.u8(..10) == 0 || calls.is_empty() {
                CallId(rng.u64(1..next_call + 1))
            } else {
                *pick(rng, &calls).unwrap()
            }
        };
        let nav = pick(&mut rng, &navigators).unwrap().clone();
        let event = match rng.u8(..22) {
            0..=3 => {
                let queue = if rng.u8(..6) == 0 {
                    QueueId::Crisis
                } else {
                    QueueId::Centre(pick(&mut rng, &centres).unwrap().clone())
                };
                let id = CallId(next_call);
                next_call += 1;
                Some(Event::CallQueued(NewCall {
                    id,
                    queue,
                    priority: *pick(&mut rng, &[Priority::Normal, Priority::High]).unwrap(),
                    language: *pick(&mut rng, &[Lang::En, Lang::En, Lang::Fr]).unwrap(),
                }))
            }
            4 => Some(Event::CallerHungUp {
                call: any_call(&mut rng),
            }),
            5..=7 => {
                let change = match rng.u8(..8) {
                    0 | 1 => StateChange::Login(NavigatorProfile {
                        centre: pick(&mut rng, &centres).unwrap().clone(),
                        languages: pick(&mut rng, &langs).unwrap().clone(),
                        crisis_trained: rng.bool(),
                    }),
                    2..=5 => StateChange::Ready,
                    6 => StateChange::NotReady {
                        reason: "break".into(),
                    },
                    _ => StateChange::Logout,
                };
                Some(Event::NavigatorStateChanged {
                    navigator: nav.clone(),
                    change,
                })
            }
            8..=10 => {
                // Mostly a real pending offer; sometimes any pair (late or
                // wrong answers).
                let ringing: Vec<(CallId, NavigatorId)> =
                    view.reserved.iter().map(|(c, n)| (*c, n.clone())).collect();
                match pick(&mut rng, &ringing) {
                    Some((call, navigator)) if rng.u8(..8) != 0 => {
                        let (call, navigator) = (*call, navigator.clone());
                        let callback = view.callbacks_kept.contains(&call);
                        Some(match (callback, rng.u8(..4)) {
                            (false, 0) => Event::OfferRejected {
                                call,
                                navigator,
                                reason: "486".into(),
                            },
                            (false, _) => Event::OfferAnswered { call, navigator },
                            (true, 0) => Event::CallbackFailed { call },
                            (true, 1) => Event::OfferRejected {
                                call,
                                navigator,
                                reason: "480".into(),
                            },
                            (true, _) => Event::CallbackConnected { call },
                        })
                    }
                    _ => {
                        let call = any_call(&mut rng);
                        let navigator = nav.clone();
                        Some(match rng.u8(..4) {
                            0 => Event::OfferRejected {
                                call,
                                navigator,
                                reason: "486".into(),
                            },
                            1 => Event::CallbackConnected { call },
                            2 => Event::CallbackFailed { call },
                            _ => Event::OfferAnswered { call, navigator },
                        })
                    }
                }
            }
            11 | 12 => {
                let bridged: Vec<CallId> = view.connected.keys().copied().collect();
                let call = match pick(&mut rng, &bridged) {
                    Some(c) if rng.u8(..8) != 0 => *c,
                    _ => any_call(&mut rng),
                };
                Some(if rng.bool() {
                    Event::CallEnded { call }
                } else {
                    Event::CallerHungUp { call }
                })
            }
            13 => Some(Event::WrapUpEnded { navigator: nav }),
            14 => Some(Event::CallbackRequested {
                call: any_call(&mut rng),
            }),
            15 => Some(Event::Transfer {
                call: any_call(&mut rng),
                to: if rng.u8(..3) == 0 {
                    QueueId::Crisis
                } else {
                    QueueId::Centre(pick(&mut rng, &centres).unwrap().clone())
                },
            }),
            16 => {
                let list = h.acd.supervisor_list();
                pick(&mut rng, &list).map(|&call| {
                    if rng.bool() {
                        Event::SupervisorRequeue { call }
                    } else {
                        Event::SupervisorResolved { call }
                    }
                })
            }
            17 => Some(Event::CentreOpen {
                centre: pick(&mut rng, &centres).unwrap().clone(),
                open: rng.u8(..4) != 0,
            }),
            18 => {
                let id = CallId(next_call);
                next_call += 1;
                Some(Event::CallbackRestored {
                    call: NewCall {
                        id,
                        queue: QueueId::Centre(pick(&mut rng, &centres).unwrap().clone()),
                        priority: Priority::Normal,
                        language: *pick(&mut rng, &[Lang::En, Lang::Fr]).unwrap(),
                    },
                    to_supervisor: rng.u8(..4) == 0,
                })
            }
            19 => {
                let id = CallId(next_call);
                next_call += 1;
                Some(Event::FollowUpCall {
                    call: NewCall {
                        id,
                        queue: QueueId::Centre(pick(&mut rng, &centres).unwrap().clone()),
                        priority: Priority::Normal,
                        language: *pick(&mut rng, &[Lang::En, Lang::Fr]).unwrap(),
                    },
                    navigator: nav.clone(),
                })
            }
            _ => None,
        };
        // Time passes: a little, up to the next deadline, or past it (a
        // late driver).
        match rng.u8(..8) {
            0 | 1 => {}
            2 | 3 => h.now += Duration::from_millis(rng.u64(0..5_000)),
            4 | 5 => {
                if let Some(t) = h.acd.poll_timeout() {
                    h.now = h.now.max(t);
                }
            }
            6 => h.now += Duration::from_secs(rng.u64(0..30)),
            _ => h.now += Duration::from_secs(rng.u64(0..300)),
        }
        let trace = std::env::var_os("ACD_TRACE").is_some();
        let at = h.now - h.t0;
        match event {
            Some(e) => {
                let r = h.acd.handle(e.clone(), h.now);
                if let (Event::FollowUpCall { call, .. }, Ok(())) = (&e, &r) {
                    // Placed: the ACD holds it, as a callback, until it ends.
                    view.queued.insert(call.id);
                    view.callbacks_kept.insert(call.id);
                    view.directed.insert(call.id);
                }
                if trace {
                    eprintln!("{step} @{at:?} {e:?} -> {r:?}");
                }
            }
            None => {
                if trace {
                    eprintln!("{step} @{at:?} timeout");
                }
                h.acd.handle_timeout(h.now);
            }
        }
        while let Some(d) = h.acd.poll_decision() {
            if trace {
                eprintln!("    {d:?}");
            }
            view.take(&d);
        }
        check(&h, &view);
    }
    view
}

fn check(h: &Harness, view: &DriverView) {
    let acd = &h.acd;
    if let Err(e) = acd.check_invariants() {
        panic!("{e}");
    }
    // The CTI saw every state change.
    for id in acd.navigators() {
        let info = acd.navigator(&id).unwrap();
        assert_eq!(info.id, id);
        assert_eq!(
            view.cti.get(&id),
            Some(&info.state),
            "CTI out of date for {id}"
        );
        assert!(!info.state.name().is_empty());
    }
    // Every call in exactly one place, none lost.
    let held: HashSet<CallId> = acd.calls().into_iter().collect();
    for id in &view.queued {
        assert_ne!(
            held.contains(id),
            view.gone.contains(id),
            "{id}: held by the ACD {} / final decision seen {}",
            held.contains(id),
            view.gone.contains(id)
        );
    }
    for id in &held {
        let info = acd.call(*id).unwrap();
        assert_eq!(info.id, *id);
        assert!(view.queued.contains(id));
        match &info.state {
            CallState::Offered { navigator, .. } | CallState::Dialling { navigator, .. } => {
                assert_eq!(view.reserved.get(id), Some(navigator));
            }
            CallState::Connected { navigator } => {
                assert_eq!(view.connected.get(id), Some(navigator));
            }
            CallState::Waiting | CallState::Supervisor => {
                assert!(!view.reserved.contains_key(id) && !view.connected.contains_key(id));
            }
        }
        assert!(info.queued_at >= info.arrived);
        assert_eq!(info.crisis, info.queue == QueueId::Crisis);
    }
    // Queues never silently stop offering (a check independent of the
    // overflow rules: own centre and crisis queue only).
    for nav_id in acd.navigators() {
        let nav = acd.navigator(&nav_id).unwrap();
        if nav.state != AgentState::Ready {
            continue;
        }
        for id in &held {
            let call = acd.call(*id).unwrap();
            if call.state != CallState::Waiting || !nav.languages.contains(&call.language) {
                continue;
            }
            if call
                .callback
                .as_ref()
                .is_some_and(|cb| cb.caller_on_line || cb.not_before.is_some_and(|t| t > h.now))
            {
                continue;
            }
            let own = match &call.queue {
                QueueId::Crisis => nav.crisis_trained,
                QueueId::Centre(c) => {
                    *c == nav.centre
                        && acd.config().centres.iter().any(|cc| cc.id == *c)
                        && centre_open(acd, c)
                }
            };
            assert!(!own, "{id} waits while {nav_id} is ready for it: {call:?}");
        }
    }
    if let Some(t) = acd.poll_timeout() {
        assert!(t > h.now, "a deadline not in the future");
    }
}

/// Whether a centre is open, seen from outside: an open centre with a
/// logged-in navigator is in its own calls' chain.
fn centre_open(acd: &Acd, centre: &CentreId) -> bool {
    acd.centres[acd.centre_index[centre]].open
}

#[test]
fn random_interleavings_keep_the_invariants() {
    let seeds: Vec<u64> = match std::env::var("ACD_SEED") {
        Ok(s) => vec![s.parse().expect("ACD_SEED is a number")],
        Err(_) => (0..200).map(|i| 0x211_0000 + i).collect(),
    };
    let (mut offers, mut callbacks, mut answered, mut externals, mut finished) = (0, 0, 0, 0, 0);
    let mut follow_ups = 0;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in seeds {
        let v = run(seed, 400);
        offers += v.offers;
        follow_ups += v.follow_ups;
        callbacks += v.callbacks;
        answered += v.answered;
        externals += v.externals;
        finished += v.gone.len();
        for (k, n) in v.kinds {
            *kinds.entry(k).or_default() += n;
        }
    }
    // The walk reaches the interesting places.
    eprintln!(
        "offers {offers} callbacks {callbacks} answered {answered} external {externals} finished {finished} {kinds:?}"
    );
    assert_eq!(kinds.len(), 8, "every kind of record reached: {kinds:?}");
    assert!(offers > 1000);
    assert!(callbacks > 50);
    assert!(answered > 300);
    assert!(externals > 100);
    assert!(follow_ups > 50, "follow-up calls placed: {follow_ups}");
}
