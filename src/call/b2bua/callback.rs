//! The two legs of a callback, as a sans-IO state machine beside the
//! call's [`B2bua`](super::B2bua).

use std::time::Instant;

use frontdoor_sip::sdp::{self, Negotiated};

use super::{Dial, LegEvent, LegId, Present, Via};

/// The two legs of a callback: the navigator's phone rings first (their
/// screen shows the callback), so that nobody the engine calls back waits
/// for a person; once the navigator answers, the caller is dialled through
/// the trunk and the legs are bridged. Either side hanging up ends both.
#[derive(Debug)]
pub struct CallbackLegs {
    state: CallbackState,
    number: String,
}

/// What a callback waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallbackState {
    /// The navigator's phone rings.
    RingingNavigator,
    /// The navigator answered; the caller's phone rings.
    DiallingCaller,
    /// Caller and navigator talk.
    Connected,
    /// Both legs are released; the task ends.
    Done,
}

/// The navigator's leg of a callback.
pub const NAVIGATOR_LEG: LegId = LegId(1);
/// The caller's leg of a callback.
pub const CALLER_LEG: LegId = LegId(2);

/// What the callback reports to the queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackReport {
    /// The navigator's phone did not take the call (or hung up before the
    /// caller answered).
    NavigatorFailed { why: String },
    /// The caller did not answer (or the trunk refused the call).
    CallerFailed,
    /// Caller and navigator are bridged.
    Connected,
    /// The bridged call ended.
    Ended,
}

/// What a callback task does.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackAction {
    Place { leg: LegId, dial: Dial },
    StartMedia { leg: LegId, negotiated: Negotiated },
    Bridge,
    Release(LegId),
    Report(CallbackReport),
}

/// What a callback task hears.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackInput {
    PlaceFailed {
        leg: LegId,
        why: String,
    },
    Leg {
        leg: LegId,
        event: LegEvent,
    },
    /// The media could not bridge.
    BridgeFailed,
    /// The queues: stop (dial timeout, the navigator's hang-up).
    Hangup,
}

impl CallbackLegs {
    /// Start a callback to `number`, ringing the navigator's phone first.
    pub fn start(
        number: &str,
        phone: Option<(String, Via)>,
    ) -> (CallbackLegs, Vec<CallbackAction>) {
        let mut legs = CallbackLegs {
            state: CallbackState::RingingNavigator,
            number: number.to_owned(),
        };
        let Some((uri, via)) = phone else {
            legs.state = CallbackState::Done;
            return (
                legs,
                vec![CallbackAction::Report(CallbackReport::NavigatorFailed {
                    why: "no registered phone".into(),
                })],
            );
        };
        let actions = vec![CallbackAction::Place {
            leg: NAVIGATOR_LEG,
            dial: Dial {
                uri,
                via,
                present: Present::CallbackToNavigator,
                navigator: None,
            },
        }];
        (legs, actions)
    }

    /// The callback is over: the task may end.
    pub fn done(&self) -> bool {
        self.state == CallbackState::Done
    }

    /// End both legs with this report.
    fn finish(&mut self, report: CallbackReport, out: &mut Vec<CallbackAction>) {
        let placed_caller = !matches!(self.state, CallbackState::RingingNavigator);
        out.push(CallbackAction::Release(NAVIGATOR_LEG));
        if placed_caller {
            out.push(CallbackAction::Release(CALLER_LEG));
        }
        out.push(CallbackAction::Report(report));
        self.state = CallbackState::Done;
    }

    pub fn handle(&mut self, _now: Instant, input: CallbackInput) -> Vec<CallbackAction> {
        let mut out = Vec::new();
        if self.done() {
            return out;
        }
        let connected = self.state == CallbackState::Connected;
        match input {
            CallbackInput::Hangup => {
                let report = if connected {
                    CallbackReport::Ended
                } else {
                    CallbackReport::NavigatorFailed {
                        why: "hung up".into(),
                    }
                };
                self.finish(report, &mut out);
            }
            CallbackInput::BridgeFailed => self.finish(CallbackReport::CallerFailed, &mut out),
            CallbackInput::PlaceFailed { leg, why } if leg == NAVIGATOR_LEG => {
                self.finish(CallbackReport::NavigatorFailed { why }, &mut out);
            }
            CallbackInput::PlaceFailed { .. } => {
                self.finish(CallbackReport::CallerFailed, &mut out);
            }
            CallbackInput::Leg { leg, event } => match (leg, event, self.state) {
                (_, LegEvent::Ringing(_), _) => {}
                (NAVIGATOR_LEG, LegEvent::Answered { sdp }, CallbackState::RingingNavigator) => {
                    match sdp.as_deref().map(sdp::parse_answer) {
                        Some(Ok(negotiated)) => {
                            out.push(CallbackAction::StartMedia {
                                leg: NAVIGATOR_LEG,
                                negotiated,
                            });
                            out.push(CallbackAction::Place {
                                leg: CALLER_LEG,
                                dial: Dial {
                                    uri: self.number.clone(),
                                    via: Via::Trunk,
                                    present: Present::CallbackToCaller,
                                    navigator: None,
                                },
                            });
                            self.state = CallbackState::DiallingCaller;
                        }
                        Some(Err(error)) => self.finish(
                            CallbackReport::NavigatorFailed {
                                why: format!("unusable SDP answer: {error}"),
                            },
                            &mut out,
                        ),
                        None => self.finish(
                            CallbackReport::NavigatorFailed {
                                why: "answered without SDP".into(),
                            },
                            &mut out,
                        ),
                    }
                }
                (CALLER_LEG, LegEvent::Answered { sdp }, CallbackState::DiallingCaller) => {
                    match sdp.as_deref().map(sdp::parse_answer) {
                        Some(Ok(negotiated)) => {
                            out.push(CallbackAction::StartMedia {
                                leg: CALLER_LEG,
                                negotiated,
                            });
                            out.push(CallbackAction::Bridge);
                            out.push(CallbackAction::Report(CallbackReport::Connected));
                            self.state = CallbackState::Connected;
                        }
                        _ => self.finish(CallbackReport::CallerFailed, &mut out),
                    }
                }
                // A repeated 200 changes nothing.
                (_, LegEvent::Answered { .. }, _) => {}
                (NAVIGATOR_LEG, LegEvent::Failed(code), _) => self.finish(
                    CallbackReport::NavigatorFailed {
                        why: format!("SIP {code}"),
                    },
                    &mut out,
                ),
                (NAVIGATOR_LEG, LegEvent::Ended, _) => {
                    let report = if connected {
                        CallbackReport::Ended
                    } else {
                        CallbackReport::NavigatorFailed {
                            why: "hung up".into(),
                        }
                    };
                    self.finish(report, &mut out);
                }
                (_, LegEvent::Failed(_) | LegEvent::Ended, _) => {
                    let report = if connected {
                        CallbackReport::Ended
                    } else {
                        CallbackReport::CallerFailed
                    };
                    self.finish(report, &mut out);
                }
            },
        }
        out
    }
}
