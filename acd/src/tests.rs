//! Unit tests of the ACD state machine: one race or rule per test, time
//! driven by hand. The randomized invariant test is in `random.rs`.
//! Every test runs on the shipped centres (`flows/centres.yaml`): Thunder
//! Bay overflows to Collingwood then Toronto, Ottawa to Toronto…

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

const FALLBACK: &str = "sip:fallback@pbx.example.org";
const CRISIS_LINE: &str = "sip:988@crisis-gateway.example.org";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// The shipped centres (`flows/centres.yaml`), as the engine will load them.
pub(super) fn shipped_config() -> AcdConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = frontdoor_ivr::FlowSet::load(&root.join("../flows"), &root.join("../prompts"))
        .expect("the shipped flows load");
    AcdConfig::from_flowset(&flows, FALLBACK)
}

pub(super) struct Harness {
    pub acd: Acd,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(shipped_config())
    }

    pub fn with(config: AcdConfig) -> Harness {
        let t0 = Instant::now();
        Harness {
            acd: Acd::new(config, t0).expect("valid config"),
            t0,
            now: t0,
        }
    }

    fn drain(&mut self) -> Vec<Decision> {
        std::iter::from_fn(|| self.acd.poll_decision()).collect()
    }

    /// Handle an event now; the decisions it produced.
    pub fn ev(&mut self, event: Event) -> Vec<Decision> {
        self.acd.handle(event, self.now).expect("event accepted");
        self.drain()
    }

    fn ev_err(&mut self, event: Event) -> AcdError {
        let err = self.acd.handle(event, self.now).expect_err("event refused");
        self.drain();
        err
    }

    /// Let time pass as a driver would: wake at every deadline up to `by`.
    pub fn pass(&mut self, by: Duration) -> Vec<Decision> {
        let until = self.now + by;
        let mut out = Vec::new();
        while let Some(t) = self.acd.poll_timeout().filter(|t| *t <= until) {
            assert!(
                t >= self.now,
                "a deadline in the past: poll_timeout must move on"
            );
            self.now = t;
            self.acd.handle_timeout(t);
            out.extend(self.drain());
        }
        self.now = until;
        self.acd.handle_timeout(until);
        out.extend(self.drain());
        self.acd.check_invariants().expect("invariants");
        out
    }

    pub fn login(&mut self, name: &str, centre: &str, langs: &[Lang], crisis: bool) {
        self.ev(Event::NavigatorStateChanged {
            navigator: name.into(),
            change: StateChange::Login(NavigatorProfile {
                centre: centre.into(),
                languages: langs.to_vec(),
                crisis_trained: crisis,
            }),
        });
    }

    pub fn ready(&mut self, name: &str) -> Vec<Decision> {
        self.ev(Event::NavigatorStateChanged {
            navigator: name.into(),
            change: StateChange::Ready,
        })
    }

    fn not_ready(&mut self, name: &str, reason: &str) -> Vec<Decision> {
        self.ev(Event::NavigatorStateChanged {
            navigator: name.into(),
            change: StateChange::NotReady {
                reason: reason.into(),
            },
        })
    }

    fn queue(&mut self, id: u64, queue: QueueId, lang: Lang, priority: Priority) -> Vec<Decision> {
        self.ev(Event::CallQueued(NewCall {
            id: CallId(id),
            queue,
            priority,
            language: lang,
        }))
    }

    fn queue_at(&mut self, id: u64, centre: &str, lang: Lang) -> Vec<Decision> {
        self.queue(id, QueueId::Centre(centre.into()), lang, Priority::Normal)
    }

    fn answer(&mut self, id: u64, nav: &str) -> Vec<Decision> {
        self.ev(Event::OfferAnswered {
            call: CallId(id),
            navigator: nav.into(),
        })
    }

    fn end(&mut self, id: u64) -> Vec<Decision> {
        self.ev(Event::CallEnded { call: CallId(id) })
    }

    fn state(&self, nav: &str) -> AgentState {
        self.acd
            .navigator(&nav.into())
            .expect("known navigator")
            .state
    }

    fn call_state(&self, id: u64) -> Option<CallState> {
        self.acd.call(CallId(id)).map(|c| c.state)
    }
}

fn offers(ds: &[Decision]) -> Vec<(u64, String)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Offer {
                call, navigator, ..
            } => Some((call.0, navigator.0.clone())),
            _ => None,
        })
        .collect()
}

fn callbacks(ds: &[Decision]) -> Vec<(u64, String, u32)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::StartCallback {
                call,
                navigator,
                attempt,
            } => Some((call.0, navigator.0.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn cancels(ds: &[Decision]) -> Vec<(u64, String, CancelReason)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::CancelOffer {
                call,
                navigator,
                reason,
            } => Some((call.0, navigator.0.clone(), *reason)),
            _ => None,
        })
        .collect()
}

fn externals(ds: &[Decision]) -> Vec<(u64, String, ExternalReason)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::RouteExternal {
                call,
                target,
                reason,
            } => Some((call.0, target.clone(), *reason)),
            _ => None,
        })
        .collect()
}

fn records(ds: &[Decision], id: u64) -> Vec<CallRecord> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Record { call, what } if call.0 == id => Some(what.clone()),
            _ => None,
        })
        .collect()
}

fn one(id: u64, nav: &str) -> Vec<(u64, String)> {
    vec![(id, nav.to_owned())]
}

use Lang::{En, Fr};

#[test]
fn config_comes_from_the_shipped_centres_file() {
    let config = shipped_config();
    let ids: Vec<&str> = config.centres.iter().map(|c| c.id.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ottawa",
            "thunder_bay",
            "collingwood",
            "st_catharines",
            "toronto",
            "windsor"
        ]
    );
    let tb = &config.centres[1];
    assert_eq!(
        tb.overflow,
        vec![CentreId::from("collingwood"), "toronto".into()]
    );
    assert_eq!(config.crisis_external, CRISIS_LINE);
    assert_eq!(config.ring_timeout, secs(20));
    assert_eq!(config.crisis_timeout, secs(60));
    assert_eq!(config.wrap_up, secs(60));

    let mut bad = config.clone();
    bad.centres[0].overflow.push("kenora".into());
    assert_eq!(
        Acd::new(bad, Instant::now()).unwrap_err(),
        ConfigError::UnknownOverflow {
            centre: "ottawa".into(),
            to: "kenora".into()
        }
    );
}

#[test]
fn new_centres_and_overflow_orders_are_taken_without_a_restart() {
    let mut h = Harness::new();
    // Ottawa's caller, English; the only ready navigator is in a centre the
    // flows do not have yet: they cannot even log in.
    let refused = h.acd.handle(
        Event::NavigatorStateChanged {
            navigator: "kim".into(),
            change: StateChange::Login(NavigatorProfile {
                centre: "kingston".into(),
                languages: vec![En],
                crisis_trained: false,
            }),
        },
        h.now,
    );
    assert!(refused.is_err(), "{refused:?}");
    // centres.yaml gains Kingston, and Ottawa overflows to it first.
    let mut centres = h.acd.config().centres.clone();
    centres[0].overflow = vec![CentreId::from("kingston"), CentreId::from("toronto")];
    centres[0].overflow_wait = secs(30);
    centres.push(CentreConfig {
        id: CentreId::from("kingston"),
        overflow: vec![CentreId::from("ottawa")],
        overflow_wait: secs(90),
        external: None,
    });
    h.acd
        .reconfigure(centres, "sip:988@new-gateway.example.org")
        .unwrap();
    assert_eq!(h.acd.config().centres.len(), 7);
    assert_eq!(
        h.acd.config().crisis_external,
        "sip:988@new-gateway.example.org"
    );
    h.acd.check_invariants().unwrap();
    h.login("kim", "kingston", &[En], false);
    h.ready("kim");
    // Ottawa is staffed (a navigator on a break): its calls wait there first.
    h.login("anne", "ottawa", &[En], false);
    h.not_ready("anne", "break");
    let ds = h.queue_at(1, "ottawa", En);
    assert!(offers(&ds).is_empty(), "Ottawa first: {ds:?}");
    let ds = h.pass(secs(31));
    assert_eq!(offers(&ds), vec![(1, "kim".to_owned())]);
    h.acd.check_invariants().unwrap();
    // An overflow to no centre is refused and changes nothing.
    let mut bad = h.acd.config().centres.clone();
    bad[0].overflow = vec![CentreId::from("atlantis")];
    assert!(matches!(
        h.acd.reconfigure(bad, CRISIS_LINE),
        Err(ConfigError::UnknownOverflow { .. })
    ));
    assert_eq!(
        h.acd.config().centres[0].overflow[0],
        CentreId::from("kingston")
    );
    // A centre left out of the new list stays (its navigators keep their place).
    let fewer: Vec<CentreConfig> = h.acd.config().centres[..6].to_vec();
    h.acd.reconfigure(fewer, CRISIS_LINE).unwrap();
    assert_eq!(h.acd.config().centres.len(), 7);
    h.acd.check_invariants().unwrap();
}

#[test]
fn french_call_is_never_offered_to_a_navigator_without_french() {
    let mut h = Harness::new();
    // English-only navigators ready in the home centre and its overflow.
    h.login("anne", "ottawa", &[En], true);
    h.ready("anne");
    h.login("tom", "toronto", &[En], false);
    h.ready("tom");
    // A French navigator is logged in (so Ottawa is staffed in French) but
    // on a break.
    h.login("julie", "ottawa", &[En, Fr], false);
    h.not_ready("julie", "break");

    let ds = h.queue_at(1, "ottawa", Fr);
    assert!(offers(&ds).is_empty(), "{ds:?}");
    // Ten minutes: past every overflow step; the English-only navigators
    // stay ready and are never offered the call.
    let ds = h.pass(secs(600));
    assert!(offers(&ds).is_empty(), "{ds:?}");
    assert_eq!(h.state("anne"), AgentState::Ready);
    assert_eq!(h.state("tom"), AgentState::Ready);
    assert_eq!(h.call_state(1), Some(CallState::Waiting));

    // An English call is taken at once by an English navigator.
    assert_eq!(offers(&h.queue_at(2, "ottawa", En)), one(2, "anne"));
    // The French navigator comes back: the French call is theirs.
    assert_eq!(offers(&h.ready("julie")), one(1, "julie"));
}

#[test]
fn french_call_with_no_french_navigator_anywhere_goes_to_the_fallback() {
    let mut h = Harness::new();
    h.login("anne", "ottawa", &[En], false);
    h.ready("anne");
    h.login("tom", "toronto", &[En], false);
    h.ready("tom");
    let ds = h.queue_at(1, "ottawa", Fr);
    assert!(offers(&ds).is_empty());
    assert_eq!(
        externals(&ds),
        vec![(1, FALLBACK.to_owned(), ExternalReason::NoCentreAvailable)]
    );
    assert!(h.acd.call(CallId(1)).is_none());
}

#[test]
fn crisis_calls_first_then_high_then_normal_by_age() {
    let mut h = Harness::new();
    h.login("anne", "ottawa", &[En, Fr], true);
    h.queue_at(1, "ottawa", En);
    h.pass(secs(1));
    h.queue(2, QueueId::Centre("ottawa".into()), En, Priority::High);
    h.pass(secs(1));
    h.queue_at(3, "ottawa", En);
    h.pass(secs(1));
    h.queue(4, QueueId::Crisis, En, Priority::Normal);
    assert_eq!(h.acd.call(CallId(4)).unwrap().priority, Priority::Crisis);
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("ottawa".into())),
        vec![CallId(2), CallId(1), CallId(3)]
    );

    let mut order = Vec::new();
    let mut ds = h.ready("anne");
    for _ in 0..4 {
        let offered = offers(&ds);
        assert_eq!(offered.len(), 1, "{ds:?}");
        let id = offered[0].0;
        order.push(id);
        h.answer(id, "anne");
        h.pass(secs(30));
        h.end(id);
        ds = h.ev(Event::WrapUpEnded {
            navigator: "anne".into(),
        });
    }
    assert_eq!(order, [4, 2, 1, 3]);
}

#[test]
fn the_longest_idle_navigator_with_the_skills_gets_the_call() {
    let mut h = Harness::new();
    for name in ["a", "b", "c"] {
        h.login(name, "ottawa", &[En, Fr], false);
    }
    h.login("z", "ottawa", &[En], false);
    h.ready("z");
    h.pass(secs(1));
    h.ready("b");
    h.pass(secs(1));
    h.ready("a");
    h.pass(secs(1));
    h.ready("c");
    h.pass(secs(1));
    // z has waited longest but has no French.
    assert_eq!(offers(&h.queue_at(1, "ottawa", Fr)), one(1, "b"));
    assert_eq!(offers(&h.queue_at(2, "ottawa", En)), one(2, "z"));
    assert_eq!(offers(&h.queue_at(3, "ottawa", En)), one(3, "a"));
    // b finishes, wraps up and is ready again: now the most recently idle.
    h.answer(1, "b");
    h.end(1);
    h.ev(Event::WrapUpEnded {
        navigator: "b".into(),
    });
    assert_eq!(offers(&h.queue_at(4, "ottawa", En)), one(4, "c"));
    assert_eq!(offers(&h.queue_at(5, "ottawa", En)), one(5, "b"));
}

#[test]
fn one_call_is_offered_to_one_navigator_and_a_navigator_gets_one_call() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.login("b", "ottawa", &[En], false);
    h.ready("a");
    h.ready("b");
    let ds = h.queue_at(1, "ottawa", En);
    assert_eq!(offers(&ds), one(1, "a"));
    // Another navigator becoming ready does not get the ringing call.
    h.login("c", "ottawa", &[En], false);
    assert!(offers(&h.ready("c")).is_empty());
    assert!(offers(&h.pass(secs(5))).is_empty());
    // Two more calls: one each to b and c, none to a (still ringing).
    let mut got = offers(&h.queue_at(2, "ottawa", En));
    got.extend(offers(&h.queue_at(3, "ottawa", En)));
    assert_eq!(got, vec![(2, "b".to_owned()), (3, "c".to_owned())]);
    // A fourth waits.
    assert!(offers(&h.queue_at(4, "ottawa", En)).is_empty());
    assert_eq!(h.state("a"), AgentState::Reserved { call: CallId(1) });
    // Answering twice, or by the wrong navigator, is refused.
    h.answer(1, "a");
    assert_eq!(
        h.ev_err(Event::OfferAnswered {
            call: CallId(1),
            navigator: "a".into()
        }),
        AcdError::Stale(Stale::NotOffered {
            call: CallId(1),
            navigator: "a".into()
        })
    );
    assert_eq!(
        h.ev_err(Event::OfferAnswered {
            call: CallId(2),
            navigator: "c".into()
        }),
        AcdError::Stale(Stale::NotOffered {
            call: CallId(2),
            navigator: "c".into()
        })
    );
    h.acd.check_invariants().unwrap();
}

#[test]
fn rona_makes_the_navigator_not_ready_no_answer_and_puts_the_call_back_at_the_head() {
    let mut h = Harness::new();
    h.login("anne", "ottawa", &[En], false);
    h.login("julie", "ottawa", &[En, Fr], false);
    h.queue_at(1, "ottawa", Fr); // older, but nobody ready has French
    h.pass(secs(1));
    h.queue_at(2, "ottawa", En);
    h.pass(secs(1));
    h.queue_at(3, "ottawa", En);
    assert_eq!(offers(&h.ready("anne")), one(2, "anne"));
    assert_eq!(h.acd.poll_timeout(), Some(h.now + secs(20)));

    let ds = h.pass(ms(19_999));
    assert!(cancels(&ds).is_empty());
    let ds = h.pass(ms(1));
    assert_eq!(
        cancels(&ds),
        vec![(2, "anne".to_owned(), CancelReason::NoAnswer)]
    );
    assert_eq!(
        h.state("anne"),
        AgentState::NotReady {
            reason: REASON_NO_ANSWER.into()
        }
    );
    assert!(ds.contains(&Decision::NavigatorState {
        navigator: "anne".into(),
        state: AgentState::NotReady {
            reason: "no_answer".into()
        },
        next_state: None
    }));
    assert!(records(&ds, 2).contains(&CallRecord::NoAnswer {
        navigator: "anne".into()
    }));
    assert!(
        offers(&ds).is_empty(),
        "no re-offer to the navigator who let it ring"
    );
    // Back at the head of its queue: ahead even of the older French call.
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("ottawa".into())),
        vec![CallId(2), CallId(1), CallId(3)]
    );
    assert_eq!(offers(&h.ready("julie")), one(2, "julie"));
    // A late answer from anne's phone is refused: the driver releases it.
    assert!(matches!(
        h.ev_err(Event::OfferAnswered {
            call: CallId(2),
            navigator: "anne".into()
        }),
        AcdError::Stale(Stale::NotOffered { .. })
    ));
}

#[test]
fn a_declined_offer_goes_back_to_the_head_and_the_navigator_is_not_ready() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.login("b", "ottawa", &[En], false);
    h.ready("a");
    h.pass(secs(1));
    h.ready("b");
    h.queue_at(1, "ottawa", En);
    let ds = h.ev(Event::OfferRejected {
        call: CallId(1),
        navigator: "a".into(),
        reason: "486 Busy Here".into(),
    });
    assert_eq!(
        cancels(&ds),
        vec![(1, "a".to_owned(), CancelReason::Declined)]
    );
    assert_eq!(offers(&ds), one(1, "b"));
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: REASON_DECLINED.into()
        }
    );
}

#[test]
fn caller_abandons_while_ringing() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.login("b", "ottawa", &[En], false);
    h.ready("a");
    h.pass(secs(5));
    h.ready("b");
    h.queue_at(1, "ottawa", En);
    let idle_since = h.acd.navigator(&"a".into()).unwrap().idle_since;
    h.pass(secs(7));
    let ds = h.ev(Event::CallerHungUp { call: CallId(1) });
    assert_eq!(
        cancels(&ds),
        vec![(1, "a".to_owned(), CancelReason::CallerAbandoned)]
    );
    assert!(records(&ds, 1).contains(&CallRecord::Abandoned {
        waited: secs(7),
        while_ringing: true
    }));
    assert!(h.acd.call(CallId(1)).is_none());
    // Ready again, keeping their place as the longest idle.
    assert_eq!(h.state("a"), AgentState::Ready);
    assert_eq!(h.acd.navigator(&"a".into()).unwrap().idle_since, idle_since);
    assert_eq!(offers(&h.queue_at(2, "ottawa", En)), one(2, "a"));
    // The ring timer of the abandoned offer is gone: nothing happens at 20 s
    // but call 2's own RONA.
    let ds = h.pass(secs(20));
    assert_eq!(
        cancels(&ds),
        vec![(2, "a".to_owned(), CancelReason::NoAnswer)]
    );
    // The phone's late answer for the abandoned call is refused.
    assert_eq!(
        h.ev_err(Event::OfferAnswered {
            call: CallId(1),
            navigator: "a".into()
        }),
        AcdError::Stale(Stale::UnknownCall(CallId(1)))
    );
}

#[test]
fn caller_abandons_while_waiting() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.queue_at(1, "ottawa", En);
    h.pass(secs(42));
    let ds = h.ev(Event::CallerHungUp { call: CallId(1) });
    assert_eq!(
        records(&ds, 1),
        vec![CallRecord::Abandoned {
            waited: secs(42),
            while_ringing: false
        }]
    );
    assert!(offers(&h.ready("a")).is_empty());
}

#[test]
fn navigator_logs_out_while_ringing() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.login("b", "ottawa", &[En], false);
    h.ready("a");
    h.queue_at(1, "ottawa", En);
    h.queue_at(2, "ottawa", En);
    h.pass(secs(3));
    let ds = h.ev(Event::NavigatorStateChanged {
        navigator: "a".into(),
        change: StateChange::Logout,
    });
    assert_eq!(
        cancels(&ds),
        vec![(1, "a".to_owned(), CancelReason::NavigatorLoggedOut)]
    );
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    assert_eq!(h.call_state(1), Some(CallState::Waiting));
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("ottawa".into())),
        vec![CallId(1), CallId(2)]
    );
    // b is logged in (Ottawa stays staffed): the call waits for b.
    assert_eq!(offers(&h.ready("b")), one(1, "b"));
    // Going not ready while ringing is the same, with the reason given.
    h.login("a", "ottawa", &[En], false);
    assert_eq!(offers(&h.ready("a")), one(2, "a"));
    assert!(
        h.ready("a").is_empty(),
        "asking for ready while ringing: no change"
    );
    assert_eq!(h.state("a"), AgentState::Reserved { call: CallId(2) });
    let ds = h.not_ready("a", "break");
    assert_eq!(
        cancels(&ds),
        vec![(2, "a".to_owned(), CancelReason::NavigatorNotReady)]
    );
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: "break".into()
        }
    );
    assert_eq!(h.call_state(2), Some(CallState::Waiting));
}

#[test]
fn answered_call_then_wrap_up_expires_to_ready() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.ready("a");
    h.queue_at(1, "ottawa", En);
    h.pass(secs(4));
    let ds = h.answer(1, "a");
    assert!(ds.contains(&Decision::Connect {
        call: CallId(1),
        navigator: "a".into()
    }));
    assert!(records(&ds, 1).contains(&CallRecord::Answered {
        navigator: "a".into(),
        waited: secs(4),
        callback: false
    }));
    assert_eq!(h.state("a"), AgentState::Busy { call: CallId(1) });
    // No ring timeout once answered.
    assert!(cancels(&h.pass(secs(300))).is_empty());
    let ds = h.end(1);
    let until = h.now + secs(60);
    assert_eq!(h.state("a"), AgentState::WrapUp { until });
    assert!(records(&ds, 1).contains(&CallRecord::Ended {
        navigator: "a".into(),
        talked: secs(300)
    }));
    assert!(h.acd.call(CallId(1)).is_none());
    // A call arriving during wrap-up waits for it to end.
    assert!(offers(&h.queue_at(2, "ottawa", En)).is_empty());
    assert_eq!(h.acd.poll_timeout(), Some(until));
    assert!(offers(&h.pass(ms(59_999))).is_empty());
    let ds = h.pass(ms(1));
    assert_eq!(offers(&ds), one(2, "a"));
    // Handling time (answer to end of wrap-up) feeds the expected wait.
    assert_eq!(h.acd.expected_handle_time(), secs(360));
}

#[test]
fn next_state_queued_during_a_call_applies_after_wrap_up() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.ready("a");
    h.queue_at(1, "ottawa", En);
    h.answer(1, "a");
    let ds = h.not_ready("a", "break");
    assert!(ds.contains(&Decision::NavigatorState {
        navigator: "a".into(),
        state: AgentState::Busy { call: CallId(1) },
        next_state: Some(NextState::NotReady {
            reason: "break".into()
        })
    }));
    assert_eq!(h.state("a"), AgentState::Busy { call: CallId(1) });
    h.queue_at(2, "ottawa", En);
    h.end(1);
    assert!(matches!(h.state("a"), AgentState::WrapUp { .. }));
    let ds = h.pass(secs(60));
    assert!(offers(&ds).is_empty());
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: "break".into()
        }
    );
    assert_eq!(h.acd.navigator(&"a".into()).unwrap().next_state, None);
    // Ending wrap-up early; a logout queued during the call applies then.
    assert_eq!(offers(&h.ready("a")), one(2, "a"));
    h.answer(2, "a");
    h.ev(Event::NavigatorStateChanged {
        navigator: "a".into(),
        change: StateChange::Logout,
    });
    h.end(2);
    h.pass(secs(10));
    h.ev(Event::WrapUpEnded {
        navigator: "a".into(),
    });
    assert_eq!(h.state("a"), AgentState::LoggedOut);
    assert_eq!(
        h.ev_err(Event::WrapUpEnded {
            navigator: "a".into()
        }),
        AcdError::Stale(Stale::NotInWrapUp("a".into()))
    );
}

#[test]
fn overflow_waits_then_goes_to_the_next_centre_in_order() {
    let mut h = Harness::new();
    // Thunder Bay overflows to Collingwood, then Toronto. Everyone is
    // logged in (staffed), only Toronto's navigator is ready.
    h.login("tb", "thunder_bay", &[En], false);
    h.login("col", "collingwood", &[En], false);
    h.login("tor", "toronto", &[En], false);
    h.ready("tor");
    let ds = h.queue_at(1, "thunder_bay", En);
    assert!(offers(&ds).is_empty());
    assert_eq!(
        h.acd.poll_timeout(),
        Some(h.t0 + secs(60)).min(Some(h.now + secs(60)))
    );
    let ds = h.pass(ms(89_999));
    assert!(offers(&ds).is_empty());
    assert!(
        !records(&ds, 1)
            .iter()
            .any(|r| matches!(r, CallRecord::Overflowed { .. }))
    );
    // 90 s: Collingwood may take it (nobody ready there yet).
    let ds = h.pass(ms(1));
    assert_eq!(
        records(&ds, 1),
        vec![CallRecord::Overflowed {
            to: "collingwood".into(),
            waited: secs(90)
        }]
    );
    assert!(offers(&ds).is_empty(), "Toronto is second in line: {ds:?}");
    let ds = h.pass(ms(89_999));
    assert!(offers(&ds).is_empty());
    // 180 s: Toronto.
    let ds = h.pass(ms(1));
    assert!(records(&ds, 1).contains(&CallRecord::Overflowed {
        to: "toronto".into(),
        waited: secs(180)
    }));
    assert_eq!(offers(&ds), one(1, "tor"));
}

#[test]
fn overflow_offers_to_the_nearer_centre_first_and_home_centre_stays_eligible() {
    let mut h = Harness::new();
    h.login("tb", "thunder_bay", &[En], false);
    h.login("col", "collingwood", &[En], false);
    h.login("tor", "toronto", &[En], false);
    h.ready("tor");
    h.pass(secs(1));
    h.ready("col");
    h.queue_at(1, "thunder_bay", En);
    // Collingwood's navigator is less idle than Toronto's but nearer.
    let ds = h.pass(secs(100));
    assert_eq!(offers(&ds), one(1, "col"));
    // Home navigator becomes ready: takes the next home call at once.
    assert!(offers(&h.ready("tb")).is_empty());
    assert_eq!(offers(&h.queue_at(2, "thunder_bay", En)), one(2, "tb"));
}

#[test]
fn an_unstaffed_or_closed_centre_is_skipped_at_once() {
    let mut h = Harness::new();
    // Nobody logged in at Thunder Bay: Collingwood may take its calls now.
    h.login("col", "collingwood", &[En], false);
    h.ready("col");
    let ds = h.queue_at(1, "thunder_bay", En);
    assert_eq!(offers(&ds), one(1, "col"));
    assert!(records(&ds, 1).contains(&CallRecord::Overflowed {
        to: "collingwood".into(),
        waited: Duration::ZERO
    }));
    // A French call skips Collingwood (no French there): Toronto's French
    // navigator, at once since Toronto is the first centre staffed in French.
    h.login("tor", "toronto", &[En, Fr], false);
    h.ready("tor");
    assert_eq!(offers(&h.queue_at(2, "thunder_bay", Fr)), one(2, "tor"));
    // A closed centre takes none of its own calls, its overflow does.
    h.login("ott", "ottawa", &[En], false);
    h.ready("ott");
    h.login("tor2", "toronto", &[En], false);
    h.ready("tor2");
    h.ev(Event::CentreOpen {
        centre: "ottawa".into(),
        open: false,
    });
    assert_eq!(offers(&h.queue_at(3, "ottawa", En)), one(3, "tor2"));
    assert_eq!(h.state("ott"), AgentState::Ready);
}

#[test]
fn without_a_configured_fallback_a_call_nobody_can_serve_goes_to_its_centres_own_line() {
    let mut config = shipped_config();
    config.fallback = String::new();
    let mut h = Harness::with(config);
    let ds = h.queue_at(1, "ottawa", En);
    assert_eq!(
        externals(&ds),
        vec![(
            1,
            "sip:211east@pbx.ottawa.example.org".to_owned(),
            ExternalReason::NoCentreAvailable
        )]
    );
}

#[test]
fn no_centre_open_or_staffed_routes_to_the_fallback() {
    let mut h = Harness::new();
    let ds = h.queue_at(1, "windsor", En);
    assert_eq!(
        externals(&ds),
        vec![(1, FALLBACK.to_owned(), ExternalReason::NoCentreAvailable)]
    );
    assert!(
        records(&ds, 1)
            .iter()
            .any(|r| matches!(r, CallRecord::RoutedExternal { .. }))
    );
    // Staffed but closed: same. Windsor overflows to Toronto.
    h.login("w", "windsor", &[En], false);
    h.login("t", "toronto", &[En], false);
    h.ev(Event::CentreOpen {
        centre: "toronto".into(),
        open: false,
    });
    assert!(externals(&h.queue_at(2, "windsor", En)).is_empty());
    // The last navigator of the chain logs out while a call waits.
    h.ev(Event::NavigatorStateChanged {
        navigator: "w".into(),
        change: StateChange::Logout,
    });
    // Toronto is closed: nobody serves call 2 any more.
    assert_eq!(h.acd.calls(), Vec::<CallId>::new());
}

#[test]
fn crisis_call_goes_to_a_crisis_trained_navigator_in_another_centre() {
    let mut h = Harness::new();
    h.login("ott", "ottawa", &[En, Fr], false);
    h.ready("ott");
    h.pass(secs(30));
    h.login("win", "windsor", &[En], true);
    h.ready("win");
    h.login("winfr", "windsor", &[Fr], true);
    let ds = h.queue(1, QueueId::Crisis, En, Priority::Normal);
    assert_eq!(offers(&ds), one(1, "win"));
    assert!(records(&ds, 1).contains(&CallRecord::Queued {
        queue: QueueId::Crisis,
        priority: Priority::Crisis,
        language: En,
        crisis: true
    }));
    // A French crisis call waits for the French crisis navigator: not for
    // the French navigator without crisis training, nor for the English one.
    h.answer(1, "win");
    h.end(1);
    h.ev(Event::WrapUpEnded {
        navigator: "win".into(),
    });
    let ds = h.queue(2, QueueId::Crisis, Fr, Priority::Normal);
    assert!(offers(&ds).is_empty());
    assert_eq!(h.call_state(2), Some(CallState::Waiting));
    assert_eq!(offers(&h.ready("winfr")), one(2, "winfr"));
    assert_eq!(h.state("ott"), AgentState::Ready);
    assert_eq!(h.state("win"), AgentState::Ready);
}

#[test]
fn crisis_key_while_waiting_moves_the_call_to_the_head_of_the_crisis_queue() {
    let mut h = Harness::new();
    h.login("c", "toronto", &[En], true);
    h.ready("c");
    h.queue(1, QueueId::Crisis, En, Priority::Normal); // offered to c
    h.login("o", "ottawa", &[En], false);
    h.queue_at(2, "ottawa", En);
    h.pass(secs(50));
    let ds = h.ev(Event::Transfer {
        call: CallId(2),
        to: QueueId::Crisis,
    });
    assert!(records(&ds, 2).contains(&CallRecord::Transferred {
        from: None,
        to: QueueId::Crisis
    }));
    let info = h.acd.call(CallId(2)).unwrap();
    assert!(info.crisis);
    assert_eq!(info.priority, Priority::Crisis);
    // Its crisis timer starts now, not when it first queued.
    let ds = h.pass(secs(59));
    assert!(externals(&ds).iter().all(|e| e.0 != 2), "{ds:?}");
}

#[test]
fn crisis_call_goes_to_the_external_line_after_the_timeout() {
    let mut h = Harness::new();
    h.login("c", "toronto", &[En], true);
    h.not_ready("c", "break");
    h.queue(1, QueueId::Crisis, En, Priority::Normal);
    assert_eq!(h.acd.poll_timeout(), Some(h.now + secs(60)));
    let ds = h.pass(ms(59_999));
    assert!(externals(&ds).is_empty());
    let ds = h.pass(ms(1));
    assert_eq!(
        externals(&ds),
        vec![(1, CRISIS_LINE.to_owned(), ExternalReason::CrisisTimeout)]
    );
    assert!(records(&ds, 1).contains(&CallRecord::RoutedExternal {
        target: CRISIS_LINE.into(),
        reason: ExternalReason::CrisisTimeout,
        waited: secs(60)
    }));
    assert!(h.acd.call(CallId(1)).is_none());

    // Ringing when the timeout strikes: the ring is cancelled too.
    h.queue(2, QueueId::Crisis, En, Priority::Normal);
    h.pass(secs(45));
    assert_eq!(offers(&h.ready("c")), one(2, "c"));
    let ds = h.pass(secs(15));
    assert_eq!(
        cancels(&ds),
        vec![(2, "c".to_owned(), CancelReason::CrisisTimeout)]
    );
    assert_eq!(
        externals(&ds),
        vec![(2, CRISIS_LINE.to_owned(), ExternalReason::CrisisTimeout)]
    );
    assert_eq!(h.state("c"), AgentState::Ready);

    // Nobody crisis-trained with the caller's language logged in: at once.
    let ds = h.queue(3, QueueId::Crisis, Fr, Priority::Normal);
    assert_eq!(
        externals(&ds),
        vec![(3, CRISIS_LINE.to_owned(), ExternalReason::NoCrisisNavigator)]
    );
}

#[test]
fn callback_keeps_its_place_and_is_dialled_once() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    for id in 1..=3 {
        h.queue_at(id, "ottawa", En);
        h.pass(secs(10));
    }
    let ds = h.ev(Event::CallbackRequested { call: CallId(2) });
    assert!(records(&ds, 2).contains(&CallRecord::CallbackRequested { waited: secs(20) }));
    // The caller hangs up: the callback stays.
    assert!(h.ev(Event::CallerHungUp { call: CallId(2) }).is_empty());
    // Twice is refused (never duplicated).
    assert_eq!(
        h.ev_err(Event::CallbackRequested { call: CallId(2) }),
        AcdError::Refused(Refused::InvalidCallState(CallId(2)))
    );
    h.queue_at(4, "ottawa", En);
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("ottawa".into())),
        [1, 2, 3, 4].map(CallId).to_vec()
    );
    // No announcement for a caller who is not there.
    let ds = h.pass(secs(120));
    assert!(!ds.iter().any(|d| matches!(
        d,
        Decision::Announce {
            call: CallId(2),
            ..
        }
    )));

    let mut served = Vec::new();
    let mut ds = h.ready("a");
    for _ in 0..4 {
        if let [(id, _)] = offers(&ds)[..] {
            served.push(id);
            h.answer(id, "a");
            h.end(id);
        } else if let [(id, _, attempt)] = callbacks(&ds)[..] {
            assert_eq!(attempt, 1);
            assert_eq!(h.state("a"), AgentState::Reserved { call: CallId(id) });
            served.push(id);
            let ds = h.ev(Event::CallbackConnected { call: CallId(id) });
            assert!(records(&ds, id).contains(&CallRecord::Answered {
                navigator: "a".into(),
                waited: h.now - h.t0 - secs(10),
                callback: true
            }));
            h.end(id);
        } else {
            panic!("one offer or callback expected: {ds:?}");
        }
        ds = h.ev(Event::WrapUpEnded {
            navigator: "a".into(),
        });
    }
    assert_eq!(served, [1, 2, 3, 4]);
    assert!(h.acd.calls().is_empty());
}

#[test]
fn a_callback_is_not_dialled_while_its_caller_is_still_on_the_line() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.queue_at(1, "ottawa", En);
    h.ev(Event::CallbackRequested { call: CallId(1) });
    // A navigator is ready while the caller still hears the confirmation:
    // calling them now would find their line busy.
    let ds = h.ready("a");
    assert!(callbacks(&ds).is_empty(), "{ds:?}");
    assert_eq!(h.state("a"), AgentState::Ready);
    assert_eq!(h.call_state(1), Some(CallState::Waiting));
    let ds = h.ev(Event::CallerHungUp { call: CallId(1) });
    assert_eq!(callbacks(&ds), vec![(1, "a".to_owned(), 1)]);
}

#[test]
fn callback_is_never_routed_away_or_lost_when_nobody_is_staffed() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.queue_at(1, "ottawa", En);
    h.ev(Event::CallbackRequested { call: CallId(1) });
    h.ev(Event::CallerHungUp { call: CallId(1) });
    let ds = h.ev(Event::NavigatorStateChanged {
        navigator: "a".into(),
        change: StateChange::Logout,
    });
    assert!(externals(&ds).is_empty());
    h.pass(secs(12 * 3600));
    assert_eq!(h.call_state(1), Some(CallState::Waiting));
    h.login("b", "toronto", &[En], false);
    let ds = h.ready("b");
    assert_eq!(callbacks(&ds), vec![(1, "b".to_owned(), 1)]);
}

#[test]
fn failed_callbacks_are_retried_then_kept_on_the_supervisor_list() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.ready("a");
    h.login("b", "ottawa", &[En], false);
    h.queue_at(1, "ottawa", En);
    // Choosing a callback while the offer rings: the ring is cancelled.
    let ds = h.ev(Event::CallbackRequested { call: CallId(1) });
    assert_eq!(
        cancels(&ds),
        vec![(1, "a".to_owned(), CancelReason::CallbackRequested)]
    );
    // Dialled once the caller has heard the confirmation and hung up.
    assert!(callbacks(&ds).is_empty(), "{ds:?}");
    let ds = h.ev(Event::CallerHungUp { call: CallId(1) });
    assert_eq!(callbacks(&ds), vec![(1, "a".to_owned(), 1)]);

    let ds = h.ev(Event::CallbackFailed { call: CallId(1) });
    assert!(records(&ds, 1).contains(&CallRecord::CallbackFailed { attempt: 1 }));
    assert_eq!(h.state("a"), AgentState::Ready);
    assert!(callbacks(&ds).is_empty(), "not again at once");
    // Another call is served meanwhile.
    h.pass(secs(30));
    assert_eq!(offers(&h.queue_at(2, "ottawa", En)), one(2, "a"));
    h.answer(2, "a");
    h.ready("b");
    let ds = h.pass(secs(90));
    // Retry after the delay, on whoever is free.
    assert_eq!(callbacks(&ds), vec![(1, "b".to_owned(), 2)]);
    // Nobody reports back: the dial timeout counts as a failure.
    let ds = h.pass(secs(60));
    assert_eq!(
        cancels(&ds),
        vec![(1, "b".to_owned(), CancelReason::CallbackDialTimeout)]
    );
    assert!(records(&ds, 1).contains(&CallRecord::CallbackFailed { attempt: 2 }));
    let ds = h.pass(secs(120));
    assert_eq!(callbacks(&ds).len(), 1);
    let ds = h.ev(Event::CallbackFailed { call: CallId(1) });
    assert!(records(&ds, 1).contains(&CallRecord::CallbackToSupervisor { attempts: 3 }));
    assert_eq!(h.acd.supervisor_list(), vec![CallId(1)]);
    assert_eq!(h.call_state(1), Some(CallState::Supervisor));
    // Kept there: no more attempts, whatever happens.
    let ds = h.pass(secs(3600));
    assert!(callbacks(&ds).is_empty());
    assert_eq!(h.acd.supervisor_list(), vec![CallId(1)]);
    // The supervisor puts it back, with fresh attempts.
    assert_eq!(offers(&h.queue_at(3, "ottawa", En)), one(3, "b"));
    h.answer(3, "b");
    let ds = h.ev(Event::SupervisorRequeue { call: CallId(1) });
    assert!(records(&ds, 1).contains(&CallRecord::CallbackRequeued));
    assert_eq!(h.acd.supervisor_list(), Vec::<CallId>::new());
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("ottawa".into())),
        vec![CallId(1)]
    );
    h.end(2);
    let ds = h.ev(Event::WrapUpEnded {
        navigator: "a".into(),
    });
    assert_eq!(callbacks(&ds), vec![(1, "a".to_owned(), 1)]);
    // Fail it three more times; the supervisor then resolves it by hand.
    for attempt in 1..=3 {
        if attempt > 1 {
            let ds = h.pass(secs(120));
            assert_eq!(callbacks(&ds), vec![(1, "a".to_owned(), attempt)]);
        }
        h.ev(Event::CallbackFailed { call: CallId(1) });
    }
    assert_eq!(h.acd.supervisor_list(), vec![CallId(1)]);
    let ds = h.ev(Event::SupervisorResolved { call: CallId(1) });
    assert_eq!(records(&ds, 1), vec![CallRecord::CallbackResolved]);
    assert!(h.acd.call(CallId(1)).is_none());
}

#[test]
fn waiting_callers_hear_position_and_expected_wait() {
    let mut config = shipped_config();
    config.announce_every = Some(secs(30));
    config.default_handle_time = secs(300);
    let mut h = Harness::with(config);
    h.login("a", "ottawa", &[En], false);
    h.login("b", "ottawa", &[En], false);
    h.queue_at(1, "ottawa", En);
    h.queue_at(2, "ottawa", En);
    let ds = h.pass(secs(30));
    let announces: Vec<&Decision> = ds
        .iter()
        .filter(|d| matches!(d, Decision::Announce { .. }))
        .collect();
    assert_eq!(
        announces,
        [
            &Decision::Announce {
                call: CallId(1),
                position: 1,
                expected_wait: secs(150)
            },
            &Decision::Announce {
                call: CallId(2),
                position: 2,
                expected_wait: secs(300)
            },
        ]
    );
    // Every 30 s after that, while they wait.
    let ds = h.pass(secs(30));
    assert_eq!(
        ds.iter()
            .filter(|d| matches!(d, Decision::Announce { .. }))
            .count(),
        2
    );
    assert_eq!(offers(&h.ready("a")), one(1, "a"));
    h.answer(1, "a");
    let ds = h.pass(secs(15));
    assert!(!ds.iter().any(|d| matches!(d, Decision::Announce { .. })));
    let ds = h.pass(secs(15));
    assert_eq!(
        ds.iter()
            .filter(|d| matches!(d, Decision::Announce { .. }))
            .cloned()
            .collect::<Vec<_>>(),
        vec![Decision::Announce {
            call: CallId(2),
            position: 1,
            expected_wait: secs(150)
        }]
    );
}

#[test]
fn events_that_do_not_fit_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.queue_at(1, "ottawa", En);
    assert_eq!(
        h.ev_err(Event::CallQueued(NewCall {
            id: CallId(1),
            queue: QueueId::Crisis,
            priority: Priority::Normal,
            language: En,
        })),
        AcdError::Bug(Bug::DuplicateCall(CallId(1)))
    );
    assert_eq!(
        h.ev_err(Event::CallQueued(NewCall {
            id: CallId(2),
            queue: QueueId::Centre("kenora".into()),
            priority: Priority::Normal,
            language: En,
        })),
        AcdError::Refused(Refused::UnknownCentre("kenora".into()))
    );
    assert_eq!(
        h.ev_err(Event::NavigatorStateChanged {
            navigator: "nobody".into(),
            change: StateChange::Ready
        }),
        AcdError::Stale(Stale::UnknownNavigator("nobody".into()))
    );
    assert_eq!(
        h.ev_err(Event::CallbackConnected { call: CallId(1) }),
        AcdError::Refused(Refused::InvalidCallState(CallId(1)))
    );
    assert_eq!(
        h.ev_err(Event::CallEnded { call: CallId(9) }),
        AcdError::Stale(Stale::UnknownCall(CallId(9)))
    );
    assert_eq!(h.call_state(1), Some(CallState::Waiting));
    // A crisis caller is not offered a callback.
    h.login("c", "windsor", &[En], true);
    h.queue(3, QueueId::Crisis, En, Priority::Normal);
    assert_eq!(
        h.ev_err(Event::CallbackRequested { call: CallId(3) }),
        AcdError::Refused(Refused::InvalidCallState(CallId(3)))
    );
    h.acd.check_invariants().unwrap();
}

#[test]
fn a_navigator_transfers_a_call_to_another_centre() {
    let mut h = Harness::new();
    h.login("o", "ottawa", &[En, Fr], false);
    h.login("t", "toronto", &[En, Fr], false);
    h.ready("o");
    h.queue_at(1, "ottawa", Fr);
    h.answer(1, "o");
    h.pass(secs(100));
    // Toronto's navigator is busy with a call of their own.
    h.ready("t");
    h.queue_at(2, "toronto", En);
    h.answer(2, "t");
    h.queue_at(3, "toronto", Fr);
    let ds = h.ev(Event::Transfer {
        call: CallId(1),
        to: QueueId::Centre("toronto".into()),
    });
    assert!(records(&ds, 1).contains(&CallRecord::Ended {
        navigator: "o".into(),
        talked: secs(100)
    }));
    assert!(records(&ds, 1).contains(&CallRecord::Transferred {
        from: Some("o".into()),
        to: QueueId::Centre("toronto".into())
    }));
    assert!(matches!(h.state("o"), AgentState::WrapUp { .. }));
    // At the head of Toronto's queue, ahead of the call already waiting.
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("toronto".into())),
        vec![CallId(1), CallId(3)]
    );
    h.end(2);
    let ds = h.ev(Event::WrapUpEnded {
        navigator: "t".into(),
    });
    assert_eq!(offers(&ds), one(1, "t"));
}

#[test]
fn timers_that_fell_due_run_before_a_late_event() {
    let mut h = Harness::new();
    assert_eq!(h.acd.poll_timeout(), None, "nothing to wait for");
    h.login("a", "ottawa", &[En], false);
    h.login("b", "ottawa", &[En], false);
    h.ready("a");
    h.queue_at(1, "ottawa", En);
    // The driver was slow: the answer comes 25 s after the offer, past the
    // ring timeout. The RONA happens first and the answer is refused.
    h.now += secs(25);
    let err = h.acd.handle(
        Event::OfferAnswered {
            call: CallId(1),
            navigator: "a".into(),
        },
        h.now,
    );
    assert_eq!(
        err,
        Err(AcdError::Stale(Stale::NotOffered {
            call: CallId(1),
            navigator: "a".into()
        }))
    );
    let ds: Vec<Decision> = std::iter::from_fn(|| h.acd.poll_decision()).collect();
    assert_eq!(
        cancels(&ds),
        vec![(1, "a".to_owned(), CancelReason::NoAnswer)]
    );
    // An early or repeated wake-up changes nothing.
    h.acd.handle_timeout(h.now);
    h.acd.handle_timeout(h.now - secs(5));
    assert_eq!(h.acd.poll_decision(), None);
    assert_eq!(h.call_state(1), Some(CallState::Waiting));
    assert_eq!(offers(&h.ready("b")), one(1, "b"));
}

#[test]
fn login_needs_a_known_centre_and_a_login_while_busy_keeps_the_call() {
    let mut h = Harness::new();
    assert_eq!(
        h.ev_err(Event::NavigatorStateChanged {
            navigator: "x".into(),
            change: StateChange::Login(NavigatorProfile {
                centre: "kenora".into(),
                languages: vec![En],
                crisis_trained: false
            })
        }),
        AcdError::Refused(Refused::UnknownCentre("kenora".into()))
    );
    h.login("a", "ottawa", &[En], false);
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: REASON_LOGIN.into()
        }
    );
    h.ready("a");
    h.queue_at(1, "ottawa", En);
    h.answer(1, "a");
    // A second websocket login (a reconnect) with French added.
    h.login("a", "ottawa", &[En, Fr], false);
    assert_eq!(h.state("a"), AgentState::Busy { call: CallId(1) });
    assert_eq!(
        h.acd.navigator(&"a".into()).unwrap().languages,
        vec![En, Fr]
    );
}

#[test]
fn only_ready_navigators_are_offered_calls() {
    let mut h = Harness::new();
    // One navigator in each state that is not ready, all with every skill.
    for name in ["out", "away", "ringing", "busy", "wrapping"] {
        h.login(name, "toronto", &[En, Fr], true);
    }
    h.ev(Event::NavigatorStateChanged {
        navigator: "out".into(),
        change: StateChange::Logout,
    });
    h.not_ready("away", "lunch");
    for name in ["ringing", "busy", "wrapping"] {
        h.ready(name);
        h.pass(secs(1));
    }
    h.queue_at(1, "toronto", En);
    h.queue_at(2, "toronto", En);
    h.queue_at(3, "toronto", En);
    h.answer(2, "busy");
    h.answer(3, "wrapping");
    h.end(3);
    assert_eq!(h.state("ringing"), AgentState::Reserved { call: CallId(1) });
    assert!(matches!(h.state("wrapping"), AgentState::WrapUp { .. }));
    // Calls of every kind arrive; none is offered while nobody is ready.
    let mut ds = h.queue_at(4, "toronto", En);
    ds.extend(h.queue_at(5, "toronto", Fr));
    ds.extend(h.queue(6, QueueId::Crisis, En, Priority::Normal));
    ds.extend(h.queue(7, QueueId::Centre("toronto".into()), En, Priority::High));
    ds.extend(h.pass(secs(10)));
    assert!(offers(&ds).is_empty(), "{ds:?}");
    assert!(callbacks(&ds).is_empty());
    h.acd.check_invariants().unwrap();
    // The first to become ready gets the crisis call.
    assert_eq!(offers(&h.ready("away")), one(6, "away"));
}

#[test]
fn callbacks_restored_after_a_restart_wait_in_order_and_are_dialled_never_routed_away() {
    let mut h = Harness::new();
    let restore = |id: u64, to_supervisor: bool| Event::CallbackRestored {
        call: NewCall {
            id: CallId(id),
            queue: QueueId::Centre("ottawa".into()),
            priority: Priority::Normal,
            language: En,
        },
        to_supervisor,
    };
    // Nobody staffed: a live call would go to the fallback; these wait.
    let ds = h.ev(restore(1, false));
    assert!(externals(&ds).is_empty(), "{ds:?}");
    assert!(records(&ds, 1).contains(&CallRecord::CallbackRestored {
        to_supervisor: false
    }));
    h.ev(restore(2, false));
    h.ev(restore(3, true));
    assert_eq!(h.acd.supervisor_list(), vec![CallId(3)]);
    assert_eq!(
        h.acd.waiting(&QueueId::Centre("ottawa".into())),
        vec![CallId(1), CallId(2)]
    );
    assert_eq!(
        h.acd.handle(restore(1, false), h.now),
        Err(AcdError::Bug(Bug::DuplicateCall(CallId(1))))
    );
    let crisis = Event::CallbackRestored {
        call: NewCall {
            id: CallId(9),
            queue: QueueId::Crisis,
            priority: Priority::Crisis,
            language: En,
        },
        to_supervisor: false,
    };
    assert_eq!(
        h.acd.handle(crisis, h.now),
        Err(AcdError::Refused(Refused::InvalidCallState(CallId(9))))
    );
    // A navigator comes: the oldest request is dialled first.
    h.login("o1", "ottawa", &[En], false);
    let ds = h.ev(Event::NavigatorStateChanged {
        navigator: "o1".into(),
        change: StateChange::Ready,
    });
    assert!(ds.contains(&Decision::StartCallback {
        call: CallId(1),
        navigator: "o1".into(),
        attempt: 1
    }));
    h.acd.check_invariants().unwrap();
}

#[test]
fn wrap_up_asked_for_outside_a_call_is_timed_then_ready() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.ready("a");
    h.ev(Event::NavigatorStateChanged {
        navigator: "a".into(),
        change: StateChange::WrapUp,
    });
    let until = h.now + secs(60);
    assert_eq!(h.state("a"), AgentState::WrapUp { until });
    assert!(offers(&h.queue_at(1, "ottawa", En)).is_empty());
    assert_eq!(offers(&h.pass(secs(60))), one(1, "a"));
    // On a call it changes nothing: wrap-up follows the call anyway.
    h.answer(1, "a");
    h.ev(Event::NavigatorStateChanged {
        navigator: "a".into(),
        change: StateChange::WrapUp,
    });
    assert_eq!(h.state("a"), AgentState::Busy { call: CallId(1) });
}

#[test]
fn the_answer_is_told_before_the_busy_state_it_causes() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[En], false);
    h.ready("a");
    h.queue_at(1, "ottawa", En);
    let ds = h.answer(1, "a");
    let at = |want: &dyn Fn(&Decision) -> bool| ds.iter().position(want).expect("decided");
    let connect = at(&|d| matches!(d, Decision::Connect { .. }));
    let busy = at(&|d| {
        matches!(
            d,
            Decision::NavigatorState {
                state: AgentState::Busy { .. },
                ..
            }
        )
    });
    assert!(connect < busy, "{ds:?}");
}

fn follow_up(h: &mut Harness, id: u64, nav: &str) -> Result<Vec<Decision>, AcdError> {
    let r = h.acd.handle(
        Event::FollowUpCall {
            call: NewCall {
                id: CallId(id),
                queue: QueueId::Centre("ottawa".into()),
                priority: Priority::Normal,
                language: Lang::En,
            },
            navigator: nav.into(),
        },
        h.now,
    );
    let ds = h.drain();
    h.acd.check_invariants().expect("invariants");
    r.map(|()| ds)
}

#[test]
fn a_navigator_calls_a_follow_up_back_and_then_returns_to_their_follow_ups() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[Lang::En], false);
    h.not_ready("a", "follow_up_calls");
    let ds = follow_up(&mut h, 7, "a").expect("a not-ready navigator may call");
    assert_eq!(callbacks(&ds), vec![(7, "a".to_owned(), 1)]);
    assert_eq!(h.state("a"), AgentState::Reserved { call: CallId(7) });
    // A queued caller is not offered to them meanwhile.
    assert!(offers(&h.queue_at(8, "ottawa", Lang::En)).is_empty());
    h.ev(Event::CallbackConnected { call: CallId(7) });
    assert!(matches!(h.state("a"), AgentState::Busy { .. }));
    h.end(7);
    assert!(matches!(h.state("a"), AgentState::WrapUp { .. }));
    h.pass(secs(120));
    // Back to what they were doing when they placed the call.
    assert!(h.call_state(7).is_none());
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: "follow_up_calls".into()
        }
    );
}

#[test]
fn a_follow_up_that_fails_is_tried_once_and_the_navigator_is_back_as_they_were() {
    let mut h = Harness::new();
    h.login("a", "ottawa", &[Lang::En], false);
    h.not_ready("a", "follow_up_calls");
    follow_up(&mut h, 7, "a").unwrap();
    let ds = h.ev(Event::CallbackFailed { call: CallId(7) });
    assert!(
        h.call_state(7).is_none(),
        "never queued, never retried: {ds:?}"
    );
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: "follow_up_calls".into()
        }
    );
    // The dial timing out is the same.
    follow_up(&mut h, 9, "a").unwrap();
    let ds = h.pass(secs(600));
    assert!(callbacks(&ds).is_empty(), "not dialled again: {ds:?}");
    assert!(h.call_state(9).is_none());
    assert!(matches!(h.state("a"), AgentState::NotReady { .. }));
    // Their phone not taking it is the same.
    follow_up(&mut h, 11, "a").unwrap();
    h.ev(Event::OfferRejected {
        call: CallId(11),
        navigator: "a".into(),
        reason: "busy".into(),
    });
    assert!(h.call_state(11).is_none());
    assert!(matches!(h.state("a"), AgentState::NotReady { .. }));
    // Going not ready while it dials drops it: nobody else makes the call.
    follow_up(&mut h, 10, "a").unwrap();
    h.ready("a");
    h.not_ready("a", "break");
    assert!(h.call_state(10).is_none());
    assert_eq!(
        h.state("a"),
        AgentState::NotReady {
            reason: "break".into()
        }
    );
}

#[test]
fn a_follow_up_is_refused_to_a_navigator_on_a_call_or_logged_out() {
    let mut h = Harness::new();
    assert!(follow_up(&mut h, 1, "ghost").is_err());
    h.login("a", "ottawa", &[Lang::En], false);
    h.ready("a");
    h.queue_at(2, "ottawa", Lang::En);
    let err = follow_up(&mut h, 3, "a").unwrap_err();
    assert!(
        matches!(err, AcdError::Refused(Refused::NavigatorNotFree(_))),
        "{err:?}"
    );
    assert!(h.call_state(3).is_none(), "nothing left behind");
}

// ——— Today's figures (stats.rs), fed the decisions as a driver would ———

mod figures {
    use super::*;
    use crate::stats::{QueueStats, StatsConfig};

    struct Fed {
        h: Harness,
        stats: QueueStats,
    }

    impl Fed {
        fn new() -> Fed {
            let mut stats = QueueStats::new(StatsConfig::default());
            stats.roll_day(1);
            Fed {
                h: Harness::new(),
                stats,
            }
        }

        fn feed(&mut self, ds: Vec<Decision>) {
            for d in &ds {
                self.stats.observe(d, self.h.now);
            }
        }

        fn ev(&mut self, event: Event) {
            let ds = self.h.ev(event);
            self.feed(ds);
        }

        /// Lets `s` seconds pass one second at a time, so that a decision
        /// of a timer is observed at its own second.
        fn pass(&mut self, s: u64) {
            for _ in 0..s {
                let ds = self.h.pass(secs(1));
                self.feed(ds);
            }
        }

        fn login_ready(&mut self, name: &str, centre: &str, crisis: bool) {
            self.ev(Event::NavigatorStateChanged {
                navigator: name.into(),
                change: StateChange::Login(NavigatorProfile {
                    centre: centre.into(),
                    languages: vec![En, Fr],
                    crisis_trained: crisis,
                }),
            });
            self.ev(Event::NavigatorStateChanged {
                navigator: name.into(),
                change: StateChange::Ready,
            });
        }

        fn queue(&mut self, id: u64, queue: QueueId) {
            self.ev(Event::CallQueued(NewCall {
                id: CallId(id),
                queue,
                priority: Priority::Normal,
                language: En,
            }));
        }

        fn answer(&mut self, id: u64, nav: &str) {
            self.ev(Event::OfferAnswered {
                call: CallId(id),
                navigator: nav.into(),
            });
        }
    }

    fn ottawa() -> QueueId {
        QueueId::Centre("ottawa".into())
    }

    /// The fixture, worked by hand (Ottawa, English; short abandons under
    /// 10 s, target 80 % within 60 s, wrap-up 60 s):
    ///
    /// | s   | what                                          |
    /// | --- | --------------------------------------------- |
    /// | 0   | call 1 queued, offered to anne                |
    /// | 5   | anne answers call 1 (waited 5 s: in target)   |
    /// | 5   | call 2 queued (anne busy)                     |
    /// | 6   | call 3 queued                                 |
    /// | 7   | call 4 queued                                 |
    /// | 10  | call 3 hangs up (waited 4 s: a short abandon) |
    /// | 30  | call 4 hangs up (waited 23 s: abandoned)      |
    /// | 65  | call 1 ends (talked 60 s), anne wraps up      |
    /// | 125 | wrap-up over, call 2 offered to anne          |
    /// | 127 | anne answers call 2 (waited 122 s: late)      |
    ///
    /// Offered 4, answered 2 (1 in target), abandoned 1, short 1: service
    /// level 1 ÷ (2 + 1) = 33.3 %; speed of answer (5 + 122) ÷ 2 = 63.5 s;
    /// one call handled in 60 s of talk + 60 s of wrap-up = 120 s.
    #[test]
    fn a_hand_worked_hour_gives_the_hand_worked_figures() {
        let mut f = Fed::new();
        f.login_ready("anne", "ottawa", false);
        f.queue(1, ottawa());
        f.pass(5);
        f.answer(1, "anne");
        f.queue(2, ottawa());
        f.pass(1);
        f.queue(3, ottawa());
        f.pass(1);
        f.queue(4, ottawa());
        f.pass(3);
        f.ev(Event::CallerHungUp { call: CallId(3) });
        f.pass(20);
        f.ev(Event::CallerHungUp { call: CallId(4) });
        f.pass(35);
        f.ev(Event::CallEnded { call: CallId(1) });
        f.pass(60);
        assert!(
            matches!(
                f.h.acd.call(CallId(2)).map(|c| c.state),
                Some(CallState::Offered { .. })
            ),
            "call 2 rings anne once her wrap-up is over"
        );
        f.pass(2);
        f.answer(2, "anne");
        let c = f.stats.line(&ottawa(), En);
        assert_eq!(
            (
                c.offered,
                c.answered,
                c.answered_in_target,
                c.abandoned,
                c.short_abandoned
            ),
            (4, 2, 1, 1, 1),
            "{c:?}"
        );
        let sl = c.service_level().expect("a service level");
        assert!((sl - 1.0 / 3.0).abs() < 1e-9, "{sl}");
        assert_eq!(c.average_speed_of_answer(), Some(ms(63_500)));
        assert_eq!((c.handled, c.average_handle_time()), (1, Some(secs(120))));
        // Nothing was counted anywhere else, and no French line exists.
        assert_eq!(f.stats.lines().count(), 1);
        assert_eq!(f.stats.line(&ottawa(), Fr), Default::default());
    }

    #[test]
    fn a_call_moved_to_crisis_counts_in_both_queues_and_a_new_day_starts_at_zero() {
        let mut f = Fed::new();
        f.login_ready("cora", "toronto", true);
        f.login_ready("anne", "ottawa", false);
        f.ev(Event::NavigatorStateChanged {
            navigator: "anne".into(),
            change: StateChange::NotReady {
                reason: "break".into(),
            },
        });
        // Call 1 waits in Ottawa (anne is on a break) and presses the crisis
        // key after 30 s; cora answers it 4 s later: within the crisis
        // queue's 20 s, counted from the move.
        f.queue(1, ottawa());
        f.pass(30);
        f.ev(Event::Transfer {
            call: CallId(1),
            to: QueueId::Crisis,
        });
        f.pass(4);
        f.answer(1, "cora");
        let o = f.stats.line(&ottawa(), En);
        assert_eq!(
            (o.offered, o.transferred_out, o.answered),
            (1, 1, 0),
            "{o:?}"
        );
        let c = f.stats.line(&QueueId::Crisis, En);
        assert_eq!(
            (c.offered, c.answered, c.answered_in_target),
            (1, 1, 1),
            "{c:?}"
        );
        assert_eq!(c.average_speed_of_answer(), Some(secs(4)));
        // Cora sends it on to Ottawa after 10 s of talk: handled in crisis,
        // offered again in Ottawa.
        f.pass(10);
        f.ev(Event::Transfer {
            call: CallId(1),
            to: ottawa(),
        });
        let c = f.stats.line(&QueueId::Crisis, En);
        assert_eq!((c.handled, c.handle_time >= secs(10)), (1, true), "{c:?}");
        assert_eq!(f.stats.line(&ottawa(), En).offered, 2);
        // Its caller gives up after 15 s in Ottawa: abandoned there.
        f.pass(15);
        f.ev(Event::CallerHungUp { call: CallId(1) });
        assert_eq!(f.stats.line(&ottawa(), En).abandoned, 1);
        // A new day: every line at zero, the same day again changes nothing.
        f.stats.roll_day(2);
        assert_eq!(f.stats.lines().count(), 0);
        f.queue(2, ottawa());
        f.stats.roll_day(2);
        assert_eq!(f.stats.line(&ottawa(), En).offered, 1);
    }

    #[test]
    fn callbacks_and_external_routes_are_counted_apart_from_the_service_level() {
        let mut f = Fed::new();
        // Nobody logged in anywhere: a crisis call goes to the crisis line.
        f.queue(1, QueueId::Crisis);
        let c = f.stats.line(&QueueId::Crisis, En);
        assert_eq!((c.offered, c.routed_external), (1, 1), "{c:?}");
        assert_eq!(c.service_level(), None);
        // A caller in Ottawa (anne busy with call 2) asks for a callback.
        f.login_ready("anne", "ottawa", false);
        f.queue(2, ottawa());
        f.answer(2, "anne");
        f.queue(3, ottawa());
        f.pass(40);
        f.ev(Event::CallbackRequested { call: CallId(3) });
        let o = f.stats.line(&ottawa(), En);
        assert_eq!(
            (o.offered, o.callbacks_requested, o.abandoned),
            (2, 1, 0),
            "{o:?}"
        );
        assert_eq!(o.service_level(), Some(1.0));
    }

    #[test]
    fn figures_taken_from_the_call_records_after_a_restart_count_each_call_once() {
        use crate::stats::SeedCall;
        use std::time::Duration;
        let s = |secs: u64| Some(Duration::from_secs(secs));
        let ottawa = (QueueId::Centre(CentreId::from("ottawa")), Lang::En);
        let crisis = (QueueId::Crisis, Lang::En);
        let mut stats = QueueStats::new(StatsConfig::default());
        stats.seed(
            7,
            [
                // Answered in 30 s (target 60 s), talked and wrapped up 200 s.
                (
                    ottawa.clone(),
                    SeedCall {
                        answered_after: s(30),
                        handled: s(200),
                        ..SeedCall::default()
                    },
                ),
                // Answered in 90 s: out of target.
                (
                    ottawa.clone(),
                    SeedCall {
                        answered_after: s(90),
                        ..SeedCall::default()
                    },
                ),
                // Hung up after 40 s, and after 3 s (a short abandon).
                (
                    ottawa.clone(),
                    SeedCall {
                        abandoned_after: s(40),
                        ..SeedCall::default()
                    },
                ),
                (
                    ottawa.clone(),
                    SeedCall {
                        abandoned_after: s(3),
                        ..SeedCall::default()
                    },
                ),
                // A callback the caller asked for, made.
                (
                    ottawa.clone(),
                    SeedCall {
                        callback: true,
                        callback_made: Some(true),
                        answered_after: s(600),
                        ..SeedCall::default()
                    },
                ),
                // A crisis call answered in 25 s: out of its 20 s target.
                (
                    crisis.clone(),
                    SeedCall {
                        answered_after: s(25),
                        ..SeedCall::default()
                    },
                ),
            ],
        );
        let o = stats.line(&ottawa.0, ottawa.1);
        assert_eq!(
            (
                o.offered,
                o.answered,
                o.answered_in_target,
                o.abandoned,
                o.short_abandoned
            ),
            (5, 2, 1, 1, 1),
            "{o:?}"
        );
        assert_eq!((o.callbacks_requested, o.callbacks_answered), (1, 1));
        // 1 in target ÷ (2 answered + 1 abandoned).
        assert_eq!(o.service_level(), Some(1.0 / 3.0));
        assert_eq!(o.average_speed_of_answer(), s(60));
        assert_eq!(o.average_handle_time(), s(200));
        let c = stats.line(&crisis.0, crisis.1);
        assert_eq!((c.offered, c.answered, c.answered_in_target), (1, 1, 0));
        // The same day goes on from there; a new day starts at zero.
        stats.roll_day(7);
        assert_eq!(stats.line(&ottawa.0, ottawa.1).offered, 5);
        stats.roll_day(8);
        assert_eq!(stats.line(&ottawa.0, ottawa.1).offered, 0);
    }
}
