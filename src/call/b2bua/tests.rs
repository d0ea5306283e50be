//! The B2BUA core in simulated time: each test is a story of the call's
//! legs, told as inputs, with the actions the call task must carry out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor_sip::{Peer, Transport};

use super::*;

fn peer(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// A usable SDP answer (PCMU and telephone-event).
fn answer() -> Option<Vec<u8>> {
    Some(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            .to_vec(),
    )
}

fn answered() -> LegEvent {
    LegEvent::Answered { sdp: answer() }
}

/// A core and a clock that only moves when the test says so.
struct Sim {
    core: B2bua,
    now: Instant,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            core: B2bua::new(),
            now: Instant::now(),
        }
    }

    fn on(&mut self, input: Input) -> Vec<Action> {
        self.now += Duration::from_millis(10);
        self.core.handle(self.now, input)
    }

    fn leg(&mut self, leg: LegId, event: LegEvent) -> Vec<Action> {
        self.on(Input::Leg { leg, event })
    }

    /// Offer the call to navigator `nav` with `phones` phones; returns
    /// the legs placed.
    fn offer(&mut self, nav: &str, phones: u16) -> Vec<LegId> {
        let actions = self.on(Input::Offer {
            navigator: nav.into(),
            phones: (0..phones)
                .map(|i| {
                    (
                        format!("sip:{nav}@127.0.0.1:{}", 6000 + i),
                        Via::Phone(peer(6000 + i)),
                    )
                })
                .collect(),
        });
        placed(&actions)
    }

    /// A navigator with one phone answered and the queues confirmed.
    fn bridged_with(&mut self, nav: &str) -> LegId {
        let legs = self.offer(nav, 1);
        self.leg(legs[0], answered());
        let actions = self.on(Input::Connect {
            navigator: nav.into(),
        });
        assert!(actions.contains(&Action::BridgeCaller(legs[0])));
        legs[0]
    }

    /// The navigator consults `uri`; returns the consult leg.
    fn consulting(&mut self, nav_leg: LegId) -> LegId {
        let actions = self.on(Input::Consult {
            uri: "sip:line@127.0.0.1:7000".into(),
        });
        let consult = placed(&actions);
        assert_eq!(consult.len(), 1);
        assert!(actions.contains(&Action::UnbridgeCaller));
        assert!(actions.contains(&Action::Logic(LogicInput::Consulting(true))));
        assert_ne!(consult[0], nav_leg);
        consult[0]
    }
}

fn placed(actions: &[Action]) -> Vec<LegId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Place { leg, .. } => Some(*leg),
            _ => None,
        })
        .collect()
}

fn released(actions: &[Action]) -> Vec<LegId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Release(leg) => Some(*leg),
            _ => None,
        })
        .collect()
}

fn to_queues(actions: &[Action]) -> Vec<ToQueues> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Queues(q) => Some(q.clone()),
            _ => None,
        })
        .collect()
}

fn progress(actions: &[Action]) -> Vec<TransferState> {
    to_queues(actions)
        .into_iter()
        .filter_map(|q| match q {
            ToQueues::TransferProgress { state, .. } => Some(state),
            _ => None,
        })
        .collect()
}

#[test]
fn every_phone_of_the_navigator_rings_and_the_first_to_answer_wins() {
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 3);
    assert_eq!(legs.len(), 3);
    let actions = sim.leg(legs[1], LegEvent::Ringing(180));
    assert!(actions.is_empty(), "ringing decides nothing: {actions:?}");

    let actions = sim.leg(legs[1], answered());
    let mut others = released(&actions);
    others.sort();
    assert_eq!(others, vec![legs[0], legs[2]], "the other phones stop");
    assert!(
        matches!(actions.iter().find(|a| matches!(a, Action::StartMedia { .. })),
        Some(Action::StartMedia { leg, .. }) if *leg == legs[1])
    );
    assert_eq!(
        to_queues(&actions),
        vec![ToQueues::OfferAnswered {
            navigator: "nav1".into(),
            leg: legs[1],
        }]
    );
    // Not bridged before the queues confirm.
    assert!(!actions.iter().any(|a| matches!(a, Action::BridgeCaller(_))));

    let actions = sim.on(Input::Connect {
        navigator: "nav1".into(),
    });
    assert_eq!(
        actions,
        vec![
            Action::BridgeCaller(legs[1]),
            Action::Logic(LogicInput::Bridged(true))
        ]
    );
    assert_eq!(sim.core.navigator(), Some("nav1"));
    assert!(sim.core.talked_to_navigator());

    // A second phone answering late (its 200 crossed our CANCEL) is ended.
    let actions = sim.leg(legs[2], answered());
    assert_eq!(actions, vec![Action::Release(legs[2])]);
    // A repeated 200 of the winning leg changes nothing.
    assert!(sim.leg(legs[1], answered()).is_empty());
}

#[test]
fn a_200_that_arrives_after_the_offer_was_withdrawn_is_acked_and_released_with_a_bye() {
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 1);
    let actions = sim.on(Input::CancelOffer {
        navigator: "nav1".into(),
    });
    assert_eq!(
        actions,
        vec![Action::Release(legs[0])],
        "CANCEL the ringing phone"
    );

    // The phone's 200 crossed the CANCEL: the SIP core ACKs it; the core
    // ends the leg again (a BYE now) and tells nobody.
    let actions = sim.leg(legs[0], answered());
    assert_eq!(actions, vec![Action::Release(legs[0])]);
    assert!(to_queues(&actions).is_empty());
    assert!(!sim.core.talked_to_navigator());
    // A withdrawal for another navigator leaves a new offer alone.
    let legs = sim.offer("nav2", 1);
    assert!(
        sim.on(Input::CancelOffer {
            navigator: "nav1".into()
        })
        .is_empty()
    );
    assert_eq!(sim.core.state_name(), "ringing_forks");
    assert_eq!(legs.len(), 1);
}

#[test]
fn ring_no_answer_the_queues_take_the_offer_back_and_the_caller_stays_on_hold() {
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 2);
    sim.leg(legs[0], LegEvent::Ringing(180));
    sim.leg(legs[1], LegEvent::Ringing(180));
    // The ring timeout is the queues' (the ACD's): they withdraw the offer.
    let actions = sim.on(Input::CancelOffer {
        navigator: "nav1".into(),
    });
    let mut gone = released(&actions);
    gone.sort();
    assert_eq!(gone, legs);
    assert!(to_queues(&actions).is_empty(), "the queues decided it");
    assert!(!actions.contains(&Action::HangupCaller));
    assert_eq!(sim.core.state_name(), "idle");
    // The phones' 487s after our CANCEL change nothing.
    assert!(sim.leg(legs[0], LegEvent::Failed(487)).is_empty());
    assert!(sim.leg(legs[1], LegEvent::Failed(487)).is_empty());
}

#[test]
fn a_phone_that_fails_before_answering_leaves_the_others_ringing_and_the_last_failure_is_reported()
{
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 2);
    assert!(sim.leg(legs[0], LegEvent::Failed(408)).is_empty());
    let actions = sim.on(Input::PlaceFailed {
        leg: legs[1],
        why: "no RTP port".into(),
    });
    assert_eq!(
        to_queues(&actions),
        vec![ToQueues::OfferFailed {
            navigator: "nav1".into(),
            why: "no RTP port".into()
        }]
    );
    assert_eq!(sim.core.state_name(), "idle");
}

#[test]
fn busy_on_one_phone_is_the_navigators_answer_for_all_of_them() {
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 2);
    let actions = sim.leg(legs[0], LegEvent::Failed(486));
    assert_eq!(released(&actions), vec![legs[1]]);
    assert_eq!(
        to_queues(&actions),
        vec![ToQueues::OfferFailed {
            navigator: "nav1".into(),
            why: "SIP 486".into()
        }]
    );
}

#[test]
fn a_phone_that_answers_with_unusable_sdp_fails_the_offer() {
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 1);
    let actions = sim.leg(
        legs[0],
        LegEvent::Answered {
            sdp: Some(b"v=0\r\nnonsense".to_vec()),
        },
    );
    assert_eq!(released(&actions), vec![legs[0]]);
    assert!(matches!(
        &to_queues(&actions)[..],
        [ToQueues::OfferFailed { why, .. }] if why.starts_with("unusable SDP answer")
    ));
    let legs = sim.offer("nav1", 1);
    let actions = sim.leg(legs[0], LegEvent::Answered { sdp: None });
    assert!(matches!(
        &to_queues(&actions)[..],
        [ToQueues::OfferFailed { why, .. }] if why == "answered without SDP"
    ));
}

#[test]
fn an_offer_to_a_navigator_without_phones_fails_at_once() {
    let mut sim = Sim::new();
    let legs = sim.offer("nav1", 0);
    assert!(legs.is_empty());
    assert_eq!(sim.core.state_name(), "idle");
}

#[test]
fn an_outside_line_that_fails_before_answering_tells_the_flow_it_could_not_connect() {
    let mut sim = Sim::new();
    let actions = sim.on(Input::ConnectExternal {
        uri: "sip:988@crisis.example".into(),
    });
    let leg = placed(&actions)[0];
    assert!(matches!(
        &actions[..],
        [Action::Place {
            dial: Dial {
                via: Via::Trunk,
                present: Present::CallerToLine,
                ..
            },
            ..
        }]
    ));
    let actions = sim.leg(leg, LegEvent::Failed(408));
    assert_eq!(actions, vec![Action::Logic(LogicInput::ConnectFailed)]);
    assert!(!sim.core.connected_external());

    // A line that cannot even be placed: the same.
    let actions = sim.on(Input::ConnectExternal {
        uri: "sip:988@nowhere.invalid".into(),
    });
    let leg = placed(&actions)[0];
    let actions = sim.on(Input::PlaceFailed {
        leg,
        why: "cannot resolve".into(),
    });
    assert_eq!(actions, vec![Action::Logic(LogicInput::ConnectFailed)]);
}

#[test]
fn an_outside_line_that_answers_is_bridged_and_its_hang_up_ends_the_call() {
    let mut sim = Sim::new();
    let leg = placed(&sim.on(Input::ConnectExternal {
        uri: "sip:988@crisis.example".into(),
    }))[0];
    let actions = sim.leg(leg, answered());
    assert!(matches!(actions[0], Action::StartMedia { .. }));
    assert_eq!(actions[1], Action::BridgeCaller(leg));
    assert!(sim.core.connected_external());
    assert_eq!(sim.leg(leg, LegEvent::Ended), vec![Action::HangupCaller]);
}

#[test]
fn the_far_end_of_a_bridged_navigator_call_hanging_up_ends_the_caller() {
    let mut sim = Sim::new();
    let leg = sim.bridged_with("nav1");
    assert_eq!(sim.leg(leg, LegEvent::Ended), vec![Action::HangupCaller]);
}

#[test]
fn the_caller_hangs_up_during_a_consult_and_both_legs_end() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let consult = sim.consulting(nav);
    sim.leg(consult, answered());
    let actions = sim.on(Input::CallerGone);
    let mut gone = released(&actions);
    gone.sort();
    assert_eq!(gone, vec![nav, consult]);
    assert_eq!(sim.core.state_name(), "idle");
    // Their BYEs' answers change nothing.
    assert!(sim.leg(nav, LegEvent::Ended).is_empty());
    assert!(sim.leg(consult, LegEvent::Ended).is_empty());
}

#[test]
fn a_consult_completed_hands_the_caller_to_the_line_and_frees_the_navigator() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let consult = sim.consulting(nav);

    // Not before the line answers.
    let actions = sim.on(Input::CompleteTransfer);
    assert_eq!(progress(&actions), vec![TransferState::Failed]);
    assert_eq!(sim.core.state_name(), "consulting");

    let actions = sim.leg(consult, answered());
    assert!(
        actions.contains(&Action::BridgeLegs(nav, consult)),
        "the navigator talks with the line"
    );
    assert_eq!(progress(&actions), vec![TransferState::Answered]);

    let actions = sim.on(Input::CompleteTransfer);
    assert_eq!(actions[0], Action::BridgeCaller(consult));
    assert_eq!(released(&actions), vec![nav]);
    assert!(to_queues(&actions).contains(&ToQueues::TransferCompleted {
        navigator: "nav1".into(),
        uri: "sip:line@127.0.0.1:7000".into()
    }));
    assert!(actions.contains(&Action::Logic(LogicInput::Transferred)));
    assert!(sim.core.connected_external());
    assert_eq!(sim.core.navigator(), None);
    // The line hanging up later ends the caller.
    assert_eq!(
        sim.leg(consult, LegEvent::Ended),
        vec![Action::HangupCaller]
    );
}

#[test]
fn a_navigator_who_hangs_up_while_talking_with_the_line_completes_the_transfer() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let consult = sim.consulting(nav);
    sim.leg(consult, answered());
    let actions = sim.leg(nav, LegEvent::Ended);
    assert_eq!(actions[0], Action::BridgeCaller(consult));
    assert!(actions.contains(&Action::Logic(LogicInput::Transferred)));
}

#[test]
fn a_consult_cancelled_brings_the_navigator_back_to_the_caller() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let consult = sim.consulting(nav);
    sim.leg(consult, answered());
    let actions = sim.on(Input::CancelTransfer);
    assert_eq!(
        actions,
        vec![
            Action::Release(consult),
            Action::Queues(ToQueues::TransferProgress {
                navigator: "nav1".into(),
                state: TransferState::Cancelled,
                detail: String::new()
            }),
            Action::BridgeCaller(nav),
            Action::Logic(LogicInput::Consulting(false)),
        ]
    );
    assert_eq!(sim.core.navigator(), Some("nav1"));
    assert_eq!(sim.core.state_name(), "bridged");
}

#[test]
fn a_consulted_line_that_fails_brings_the_navigator_back() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let consult = sim.consulting(nav);
    let actions = sim.leg(consult, LegEvent::Failed(486));
    assert_eq!(progress(&actions), vec![TransferState::Failed]);
    assert!(actions.contains(&Action::BridgeCaller(nav)));
    assert_eq!(sim.core.state_name(), "bridged");
    // A consult is only possible with a navigator on the call.
    let mut idle = Sim::new();
    assert!(
        idle.on(Input::Consult {
            uri: "sip:x@y".into()
        })
        .is_empty()
    );
}

#[test]
fn a_transfer_to_a_queue_releases_the_navigator_and_the_caller_goes_back_on_hold() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let actions = sim.on(Input::Release);
    assert_eq!(
        actions,
        vec![
            Action::UnbridgeCaller,
            Action::Release(nav),
            Action::Logic(LogicInput::Bridged(false))
        ]
    );
}

#[test]
fn a_blind_transfer_to_an_outside_line_leaves_the_navigator_and_routes_the_call() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let actions = sim.on(Input::TransferExternal {
        uri: "sip:pbx@example.org".into(),
    });
    assert!(actions.contains(&Action::Release(nav)));
    assert_eq!(
        actions.last(),
        Some(&Action::Logic(LogicInput::RouteExternal {
            target: "sip:pbx@example.org".into(),
            crisis: false
        }))
    );
}

#[test]
fn bridging_that_fails_hangs_up_both_sides() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let actions = sim.on(Input::BridgeFailed);
    assert!(released(&actions).contains(&nav));
    assert_eq!(actions.last(), Some(&Action::HangupCaller));
}

mod callback {
    use super::*;

    fn start() -> (CallbackLegs, Vec<CallbackAction>) {
        CallbackLegs::start(
            "+16135550123",
            Some(("sip:nav1@127.0.0.1:6000".into(), Via::Phone(peer(6000)))),
        )
    }

    fn reports(actions: &[CallbackAction]) -> Vec<CallbackReport> {
        actions
            .iter()
            .filter_map(|a| match a {
                CallbackAction::Report(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_callback_rings_the_navigator_then_dials_the_caller_and_bridges_them() {
        let now = Instant::now();
        let (mut cb, actions) = start();
        assert!(matches!(
            &actions[..],
            [CallbackAction::Place { leg, dial: Dial { present: Present::CallbackToNavigator, .. } }]
                if *leg == NAVIGATOR_LEG
        ));
        let actions = cb.handle(
            now,
            CallbackInput::Leg {
                leg: NAVIGATOR_LEG,
                event: answered(),
            },
        );
        assert!(
            matches!(actions[0], CallbackAction::StartMedia { leg, .. } if leg == NAVIGATOR_LEG)
        );
        assert!(matches!(
            &actions[1],
            CallbackAction::Place { leg, dial: Dial { uri, via: Via::Trunk, present: Present::CallbackToCaller, .. } }
                if *leg == CALLER_LEG && uri == "+16135550123"
        ));
        let actions = cb.handle(
            now,
            CallbackInput::Leg {
                leg: CALLER_LEG,
                event: answered(),
            },
        );
        assert!(actions.contains(&CallbackAction::Bridge));
        assert_eq!(reports(&actions), vec![CallbackReport::Connected]);
        assert!(!cb.done());

        // Either side hanging up ends both.
        let actions = cb.handle(
            now,
            CallbackInput::Leg {
                leg: CALLER_LEG,
                event: LegEvent::Ended,
            },
        );
        assert!(actions.contains(&CallbackAction::Release(NAVIGATOR_LEG)));
        assert!(actions.contains(&CallbackAction::Release(CALLER_LEG)));
        assert_eq!(reports(&actions), vec![CallbackReport::Ended]);
        assert!(cb.done());
        assert!(cb.handle(now, CallbackInput::Hangup).is_empty());
    }

    #[test]
    fn a_caller_who_does_not_answer_fails_the_callback_and_frees_the_navigator() {
        let now = Instant::now();
        let (mut cb, _) = start();
        cb.handle(
            now,
            CallbackInput::Leg {
                leg: NAVIGATOR_LEG,
                event: answered(),
            },
        );
        let actions = cb.handle(
            now,
            CallbackInput::Leg {
                leg: CALLER_LEG,
                event: LegEvent::Failed(480),
            },
        );
        assert!(actions.contains(&CallbackAction::Release(NAVIGATOR_LEG)));
        assert_eq!(reports(&actions), vec![CallbackReport::CallerFailed]);
        assert!(cb.done());
    }

    #[test]
    fn a_navigator_phone_that_does_not_answer_fails_before_the_caller_is_dialled() {
        let now = Instant::now();
        let (mut cb, _) = start();
        let actions = cb.handle(
            now,
            CallbackInput::Leg {
                leg: NAVIGATOR_LEG,
                event: LegEvent::Failed(408),
            },
        );
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, CallbackAction::Place { .. }))
        );
        assert_eq!(
            reports(&actions),
            vec![CallbackReport::NavigatorFailed {
                why: "SIP 408".into()
            }]
        );
        let (_, actions) = CallbackLegs::start("+16135550123", None);
        assert_eq!(
            reports(&actions),
            vec![CallbackReport::NavigatorFailed {
                why: "no registered phone".into()
            }]
        );
    }

    #[test]
    fn the_queues_hanging_up_a_connected_callback_ends_it() {
        let now = Instant::now();
        let (mut cb, _) = start();
        for leg in [NAVIGATOR_LEG, CALLER_LEG] {
            cb.handle(
                now,
                CallbackInput::Leg {
                    leg,
                    event: answered(),
                },
            );
        }
        let actions = cb.handle(now, CallbackInput::Hangup);
        assert_eq!(reports(&actions), vec![CallbackReport::Ended]);
        assert!(cb.done());
    }
}

#[test]
fn the_navigator_puts_the_caller_on_hold_and_takes_them_back() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let held = |on: bool| ToQueues::Held {
        navigator: "nav1".into(),
        held: on,
    };
    // On hold: the caller hears the hold loop, the navigator's leg stays up.
    let actions = sim.on(Input::Hold { on: true });
    assert_eq!(
        actions,
        [
            Action::UnbridgeCaller,
            Action::Logic(LogicInput::Consulting(true)),
            Action::Queues(held(true)),
        ]
    );
    assert!(released(&actions).is_empty());
    assert_eq!(sim.core.navigator(), Some("nav1"));
    // Asking twice changes nothing.
    assert!(sim.on(Input::Hold { on: true }).is_empty());
    // Back: bridged again.
    let actions = sim.on(Input::Hold { on: false });
    assert_eq!(
        actions,
        [
            Action::BridgeCaller(nav),
            Action::Logic(LogicInput::Consulting(false)),
            Action::Queues(held(false)),
        ]
    );
    assert!(sim.on(Input::Hold { on: false }).is_empty());
}

#[test]
fn a_held_caller_whose_navigator_hangs_up_is_not_left_on_hold_forever() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    sim.on(Input::Hold { on: true });
    let actions = sim.leg(nav, LegEvent::Ended);
    assert!(
        actions.contains(&Action::HangupCaller),
        "the call ends as a bridged call does: {actions:?}"
    );
}

#[test]
fn only_a_bridged_call_can_be_held() {
    let mut sim = Sim::new();
    assert!(sim.on(Input::Hold { on: true }).is_empty());
    let legs = sim.offer("nav1", 1);
    assert!(sim.on(Input::Hold { on: true }).is_empty(), "still ringing");
    sim.leg(legs[0], answered());
    assert!(
        sim.on(Input::Hold { on: true }).is_empty(),
        "not yet connected"
    );
    // A consult from hold takes the caller as it is (already on hold).
    sim.on(Input::Connect {
        navigator: "nav1".into(),
    });
    sim.on(Input::Hold { on: true });
    let consult = sim.consulting(legs[0]);
    let actions = sim.on(Input::CancelTransfer);
    assert!(released(&actions).contains(&consult));
    assert!(
        actions.contains(&Action::BridgeCaller(legs[0])),
        "back with the caller, not on hold"
    );
}

// ---- a supervisor on the call ---------------------------------------------

fn monitor_reports(actions: &[Action]) -> Vec<MonitorReport> {
    to_queues(actions)
        .into_iter()
        .filter_map(|q| match q {
            ToQueues::Monitor { report, .. } => Some(report),
            _ => None,
        })
        .collect()
}

impl Sim {
    /// Supervisor `sup` asks to join in `mode` with `phones` phones;
    /// returns their legs placed.
    fn monitor(&mut self, sup: &str, phones: u16, mode: MonitorMode) -> (Vec<LegId>, Vec<Action>) {
        let actions = self.on(Input::Monitor {
            supervisor: sup.into(),
            phones: (0..phones)
                .map(|i| {
                    (
                        format!("sip:{sup}@127.0.0.1:{}", 8000 + i),
                        Via::Phone(peer(8000 + i)),
                    )
                })
                .collect(),
            mode,
        });
        (placed(&actions), actions)
    }
}

#[test]
fn a_supervisor_listens_in_then_whispers_then_hangs_up_and_the_call_carries_on() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let (legs, actions) = sim.monitor("sup1", 2, MonitorMode::Listen);
    assert_eq!(legs.len(), 2, "each of the supervisor's phones rings");
    assert_eq!(monitor_reports(&actions), [MonitorReport::Ringing]);
    assert!(matches!(
        &actions[0],
        Action::Place {
            dial: Dial {
                present: Present::SupervisorToCall,
                ..
            },
            ..
        }
    ));
    // The second phone answers: the first stops, the legs are mixed.
    let actions = sim.leg(legs[1], answered());
    assert_eq!(released(&actions), [legs[0]]);
    assert!(matches!(actions[1], Action::StartMedia { leg, .. } if leg == legs[1]));
    assert!(actions.contains(&Action::Mix {
        navigator: nav,
        supervisor: legs[1],
        mode: MonitorMode::Listen
    }));
    assert_eq!(
        monitor_reports(&actions),
        [MonitorReport::Connected(MonitorMode::Listen)]
    );
    // The first phone's late answer is ended, not mixed.
    let late = sim.leg(legs[0], answered());
    assert_eq!(released(&late), [legs[0]]);
    assert!(monitor_reports(&late).is_empty());
    // A whisper: the same leg, a new mix.
    let (placed_now, actions) = sim.monitor("sup1", 2, MonitorMode::Whisper);
    assert!(placed_now.is_empty(), "no new leg for a new mode");
    assert!(actions.contains(&Action::Mix {
        navigator: nav,
        supervisor: legs[1],
        mode: MonitorMode::Whisper
    }));
    // The supervisor hangs up: the mix ends, the caller and the navigator
    // stay bridged.
    let actions = sim.leg(legs[1], LegEvent::Ended);
    assert_eq!(
        actions,
        [
            Action::Unmix {
                navigator: nav,
                supervisor: legs[1]
            },
            Action::Queues(ToQueues::Monitor {
                supervisor: "sup1".into(),
                report: MonitorReport::Ended("hung_up".into())
            })
        ]
    );
    assert_eq!(sim.core.state_name(), "bridged");
    assert_eq!(sim.core.navigator(), Some("nav1"));
}

#[test]
fn monitoring_needs_a_bridged_call_and_a_phone_and_ends_with_the_call() {
    let mut sim = Sim::new();
    let (legs, actions) = sim.monitor("sup1", 1, MonitorMode::Listen);
    assert!(legs.is_empty());
    assert_eq!(
        monitor_reports(&actions),
        [MonitorReport::Ended("not_talking".into())]
    );
    let nav = sim.bridged_with("nav1");
    let (legs, actions) = sim.monitor("sup1", 0, MonitorMode::Listen);
    assert!(legs.is_empty());
    assert_eq!(
        monitor_reports(&actions),
        [MonitorReport::Ended("no_phone".into())]
    );
    // Declined on the only phone.
    let (legs, _) = sim.monitor("sup1", 1, MonitorMode::Barge);
    let actions = sim.leg(legs[0], LegEvent::Failed(603));
    assert_eq!(
        monitor_reports(&actions),
        [MonitorReport::Ended("declined".into())]
    );
    // On the call, then the caller hangs up: the supervisor is let go.
    let _ = nav;
    let mut sim2 = Sim::new();
    let nav2 = sim2.bridged_with("nav1");
    let (legs2, _) = sim2.monitor("sup1", 1, MonitorMode::Barge);
    sim2.leg(legs2[0], answered());
    let actions = sim2.on(Input::CallerGone);
    assert!(actions.contains(&Action::Unmix {
        navigator: nav2,
        supervisor: legs2[0]
    }));
    assert!(released(&actions).contains(&legs2[0]));
    assert!(released(&actions).contains(&nav2));
    assert_eq!(
        monitor_reports(&actions),
        [MonitorReport::Ended("call_left".into())]
    );
}

#[test]
fn a_consult_or_another_supervisor_ends_the_first_supervisors_leg() {
    let mut sim = Sim::new();
    let nav = sim.bridged_with("nav1");
    let (first, _) = sim.monitor("sup1", 1, MonitorMode::Listen);
    sim.leg(first[0], answered());
    // Another supervisor takes over: the first's leg ends, the second's rings.
    let (second, actions) = sim.monitor("sup2", 1, MonitorMode::Listen);
    assert_eq!(second.len(), 1);
    assert!(released(&actions).contains(&first[0]));
    assert_eq!(
        monitor_reports(&actions),
        [
            MonitorReport::Ended("taken_over".into()),
            MonitorReport::Ringing
        ]
    );
    // While it rings, the navigator consults a line: the ringing leg is
    // cancelled and the supervisor told.
    let actions = sim.on(Input::Consult {
        uri: "sip:line@127.0.0.1:7000".into(),
    });
    assert!(released(&actions).contains(&second[0]));
    assert!(!released(&actions).contains(&nav));
    assert_eq!(
        monitor_reports(&actions),
        [MonitorReport::Ended("call_left".into())]
    );
    // A 200 that crosses the CANCEL is ended again, never mixed.
    let late = sim.leg(second[0], answered());
    assert_eq!(released(&late), [second[0]]);
    assert!(!late.iter().any(|a| matches!(a, Action::Mix { .. })));
}
