//! The B2BUA core of a call: the caller's leg and the engine's outbound
//! legs (a navigator's phones, an external line, a consulted line), as a
//! sans-IO state machine.
//!
//! The call task ([`super`]) owns the sockets, the SIP handles and the
//! media; this core owns the decisions: which leg to place, which ringing
//! phone wins, when to bridge, what to release, what to tell the queues and
//! the IVR logic. It is driven like the other cores:
//!
//! ```text
//!   call task ──Input + now──▶ B2bua::handle ──▶ Vec<Action> ──▶ call task
//!   (queues' orders, the legs' SIP, the caller's hang-up)    (place, release, bridge, report)
//! ```
//!
//! It never reads a clock or touches a socket, so every race (a phone that
//! answers after the offer was taken back, the caller who hangs up while
//! their navigator consults a line) is a unit test in simulated time.
//!
//! ```text
//!            Offer                 a fork answers            Connect
//!   Idle ───────────▶ RingingForks ───────────▶ AwaitingConnect ───────▶ Bridged
//!    │ ▲  all fail / CancelOffer │                                 Consult │ ▲ CancelTransfer,
//!    │ └─────────────────────────┘                                         ▼ │ the line fails
//!    │ ConnectExternal / TransferExternal                             Consulting
//!    ▼                                                                     │ CompleteTransfer
//!   DiallingExternal ──answered──▶ External ◀──────────────────────────────┘
//! ```
//!
//! A supervisor may join a bridged call on their own phone ([`Input::Monitor`]):
//! a leg of its own, beside the states above, which rings their phones,
//! then mixes the call's legs for them ([`Action::Mix`]): listening in,
//! whispering to the navigator, or barging in. It lasts while the caller
//! and the navigator are bridged (or held): a consult, a transfer or
//! either side hanging up ends it, as does the supervisor hanging up.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use frontdoor_sip::Peer;
use frontdoor_sip::sdp::{self, Negotiated};

use frontdoor_cti::protocol::{MonitorMode, TransferState};

use crate::logic::Input as LogicInput;

/// One outbound leg of the call, named by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegId(pub u32);

impl std::fmt::Display for LegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "leg{}", self.0)
    }
}

/// Where an outbound leg goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A navigator's registered phone, at the address it registered from.
    Phone(Peer),
    /// A navigator's browser phone: no SIP; its audio is plain RTP at
    /// this loopback address of the engine's WebRTC gateway, and the page
    /// answers it (`answer` on the CTI websocket).
    Browser(SocketAddr),
    /// The trunk (or the URI's own host when there is none).
    Trunk,
}

/// Whom the outbound leg presents as calling, and with which credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Present {
    /// A navigator's phone: the caller's number as display name and From.
    CallerToNavigator,
    /// An outside line: the caller's number in From and
    /// P-Asserted-Identity, the trunk's credentials.
    CallerToLine,
    /// A navigator's phone for a callback: "Callback" and the number.
    CallbackToNavigator,
    /// The caller, called back: 211, the trunk's credentials.
    CallbackToCaller,
    /// A supervisor's phone, to join the navigator's call: "Monitor" and
    /// the navigator's name.
    SupervisorToCall,
}

/// An outbound leg to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub uri: String,
    pub via: Via,
    pub present: Present,
    /// The navigator whose phone this is (for the logs); `None`: a line.
    pub navigator: Option<String>,
}

/// What a leg's SIP says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// 180/183.
    Ringing(u16),
    /// 200 (our ACK is sent), with the far end's SDP answer.
    Answered { sdp: Option<Vec<u8>> },
    /// A final failure (408: no answer at all).
    Failed(u16),
    /// The far end hung up (BYE), or the leg's SIP is gone.
    Ended,
}

/// What the core tells the queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToQueues {
    /// The navigator's phone (leg `leg`) answered: the queues confirm
    /// with `Connect`.
    OfferAnswered { navigator: String, leg: LegId },
    /// None of the navigator's phones took the call.
    OfferFailed { navigator: String, why: String },
    /// A consult transfer's progress.
    TransferProgress {
        navigator: String,
        state: TransferState,
        detail: String,
    },
    /// The caller is with the consulted line; the navigator is free.
    TransferCompleted { navigator: String, uri: String },
    /// The navigator put the caller on hold (`true`) or took them back.
    Held { navigator: String, held: bool },
    /// How a supervisor's joining the call goes.
    Monitor {
        supervisor: String,
        report: MonitorReport,
    },
}

/// Where a supervisor's joining the call has got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorReport {
    /// Their phones ring.
    Ringing,
    /// They are on the call, in this mode.
    Connected(MonitorMode),
    /// It did not start, or it ended; why.
    Ended(String),
}

/// What happened, for the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The queues: ring every phone of this navigator.
    Offer {
        navigator: String,
        phones: Vec<(String, Via)>,
    },
    /// The queues took the offer back (no answer in time, the caller chose
    /// a callback, a crisis timeout).
    CancelOffer { navigator: String },
    /// The queues confirm the navigator who answered has the call.
    Connect { navigator: String },
    /// The navigator's leg leaves (a transfer to a queue): back on hold.
    Release,
    /// The navigator sent the call to an outside line.
    TransferExternal { uri: String },
    /// The navigator consults a line; the caller waits on hold.
    Consult { uri: String },
    /// The navigator: put the caller on hold (`on`), or take them back.
    Hold { on: bool },
    /// The navigator hands the caller to the consulted line.
    CompleteTransfer,
    /// The navigator ends the consult call and is back with the caller.
    CancelTransfer,
    /// The IVR (or the queues' fallback) sends the call to an outside line.
    ConnectExternal { uri: String },
    /// A leg could not be placed at all (no RTP port, an unresolvable
    /// target).
    PlaceFailed { leg: LegId, why: String },
    /// A leg's SIP.
    Leg { leg: LegId, event: LegEvent },
    /// The media could not bridge (a media session is gone).
    BridgeFailed,
    /// The caller hung up (or the engine is stopping).
    CallerGone,
    /// A supervisor joins the navigator's call on one of `phones` in
    /// `mode`, or (already on it) changes mode. Another supervisor on
    /// the call leaves it.
    Monitor {
        supervisor: String,
        phones: Vec<(String, Via)>,
        mode: MonitorMode,
    },
    /// The supervisor leaves the call.
    StopMonitor,
}

/// What the call task does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Place a leg: an RTP port, our offer, the INVITE.
    Place { leg: LegId, dial: Dial },
    /// The leg was answered with this usable SDP: start its media.
    StartMedia { leg: LegId, negotiated: Negotiated },
    /// End a leg: CANCEL while it rings, BYE once answered (a 200 that
    /// crosses the CANCEL is ACKed and ended with a BYE by the SIP core).
    Release(LegId),
    /// Caller ⇄ leg.
    BridgeCaller(LegId),
    /// Leg ⇄ leg (the navigator and the line they consult; a callback).
    BridgeLegs(LegId, LegId),
    /// The caller hears the hold loop again (no bridge).
    UnbridgeCaller,
    /// End the caller's leg.
    HangupCaller,
    /// Tell the queues.
    Queues(ToQueues),
    /// Tell the IVR logic.
    Logic(LogicInput),
    /// Mix the caller's leg, the navigator's and the supervisor's for
    /// `mode` (the supervisor hears both; a whisper reaches the navigator,
    /// a barge-in both). Sent again when the mode changes.
    Mix {
        navigator: LegId,
        supervisor: LegId,
        mode: MonitorMode,
    },
    /// The three legs leave their mix: the bridge carries the call alone.
    Unmix { navigator: LegId, supervisor: LegId },
}

/// A supervisor joining (or on) the call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Monitor {
    supervisor: String,
    /// The navigator's leg the call was bridged with.
    navigator: LegId,
    mode: MonitorMode,
    /// Their phones ringing.
    forks: BTreeSet<LegId>,
    /// The phone that answered.
    leg: Option<LegId>,
}

/// What the call's legs wait for. Each state names the legs it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// No outbound leg: the caller is in the IVR or on hold.
    Idle,
    /// Every phone of a navigator rings; the first to answer takes the call.
    RingingForks {
        navigator: String,
        forks: BTreeSet<LegId>,
        /// Why the last phone that failed did.
        last_failure: String,
    },
    /// A phone answered; waiting for the queues to confirm (`Connect`).
    AwaitingConnect { navigator: String, leg: LegId },
    /// The caller talks with the navigator — or, `held`, waits on hold
    /// hearing the hold loop while the navigator's leg stays up.
    Bridged {
        navigator: String,
        leg: LegId,
        held: bool,
    },
    /// The caller waits on hold while the navigator's leg talks with (or
    /// rings) a consulted line.
    Consulting {
        navigator: String,
        leg: LegId,
        consult: LegId,
        uri: String,
        answered: bool,
    },
    /// An outside line rings.
    DiallingExternal { leg: LegId },
    /// The caller talks with an outside line (an external route or a
    /// completed transfer).
    External { leg: LegId },
}

/// The B2BUA core of one call. See the module doc.
#[derive(Debug)]
pub struct B2bua {
    state: State,
    next_leg: u32,
    /// Legs released whose SIP may still speak (a 200 crossing our CANCEL).
    released: BTreeSet<LegId>,
    /// The caller talked with a navigator.
    talked_to_navigator: bool,
    /// The caller was connected to an outside line.
    connected_external: bool,
    /// When the state last changed (for logs and tests).
    since: Option<Instant>,
    /// A supervisor joining or on the call.
    monitor: Option<Monitor>,
}

impl Default for B2bua {
    fn default() -> Self {
        B2bua::new()
    }
}

impl B2bua {
    pub fn new() -> B2bua {
        B2bua {
            state: State::Idle,
            next_leg: 1,
            released: BTreeSet::new(),
            talked_to_navigator: false,
            connected_external: false,
            since: None,
            monitor: None,
        }
    }

    /// The caller talked with a navigator at some point.
    pub fn talked_to_navigator(&self) -> bool {
        self.talked_to_navigator
    }

    /// The caller was connected to an outside line at some point.
    pub fn connected_external(&self) -> bool {
        self.connected_external
    }

    /// The navigator who has the call (bridged or consulting).
    pub fn navigator(&self) -> Option<&str> {
        match &self.state {
            State::Bridged { navigator, .. } | State::Consulting { navigator, .. } => {
                Some(navigator)
            }
            _ => None,
        }
    }

    /// When the state last changed.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// A short name of the state, for logs.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Idle => "idle",
            State::RingingForks { .. } => "ringing_forks",
            State::AwaitingConnect { .. } => "awaiting_connect",
            State::Bridged { .. } => "bridged",
            State::Consulting { .. } => "consulting",
            State::DiallingExternal { .. } => "dialling_external",
            State::External { .. } => "external",
        }
    }

    fn new_leg(&mut self) -> LegId {
        let leg = LegId(self.next_leg);
        self.next_leg += 1;
        leg
    }

    fn set(&mut self, now: Instant, state: State) {
        self.state = state;
        self.since = Some(now);
    }

    fn release(&mut self, leg: LegId, out: &mut Vec<Action>) {
        if self.released.insert(leg) {
            out.push(Action::Release(leg));
        }
    }

    /// Release every outbound leg and go idle; the caller hears hold again
    /// when they were bridged.
    fn release_all(&mut self, now: Instant, out: &mut Vec<Action>) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => {}
            State::RingingForks { forks, .. } => {
                for fork in forks {
                    self.release(fork, out);
                }
            }
            State::AwaitingConnect { leg, .. } | State::DiallingExternal { leg } => {
                self.release(leg, out);
            }
            State::Bridged { leg, .. } | State::External { leg } => {
                out.push(Action::UnbridgeCaller);
                self.release(leg, out);
            }
            State::Consulting { leg, consult, .. } => {
                self.release(consult, out);
                self.release(leg, out);
            }
        }
        self.since = Some(now);
    }

    fn progress(navigator: &str, state: TransferState, detail: &str) -> Action {
        Action::Queues(ToQueues::TransferProgress {
            navigator: navigator.to_owned(),
            state,
            detail: detail.to_owned(),
        })
    }

    /// Feed one input; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Offer { navigator, phones } => self.offer(now, navigator, phones, &mut out),
            Input::CancelOffer { navigator } => {
                let theirs = match &self.state {
                    State::RingingForks { navigator: n, .. }
                    | State::AwaitingConnect { navigator: n, .. } => *n == navigator,
                    _ => false,
                };
                if theirs {
                    self.release_all(now, &mut out);
                }
            }
            Input::Connect { navigator } => match &self.state {
                State::AwaitingConnect { navigator: n, leg } if *n == navigator => {
                    let leg = *leg;
                    out.push(Action::BridgeCaller(leg));
                    out.push(Action::Logic(LogicInput::Bridged(true)));
                    self.talked_to_navigator = true;
                    self.set(
                        now,
                        State::Bridged {
                            navigator,
                            leg,
                            held: false,
                        },
                    );
                }
                _ => {}
            },
            Input::Release => {
                if matches!(
                    self.state,
                    State::Bridged { .. }
                        | State::AwaitingConnect { .. }
                        | State::Consulting { .. }
                ) {
                    self.release_all(now, &mut out);
                    out.push(Action::Logic(LogicInput::Bridged(false)));
                }
            }
            Input::TransferExternal { uri } => {
                self.release_all(now, &mut out);
                out.push(Action::Logic(LogicInput::RouteExternal {
                    target: uri,
                    crisis: false,
                }));
            }
            Input::Consult { uri } => self.consult(now, uri, &mut out),
            Input::Hold { on } => self.hold(now, on, &mut out),
            Input::CompleteTransfer => self.complete_transfer(now, &mut out),
            Input::CancelTransfer => {
                if let State::Consulting {
                    navigator,
                    leg,
                    consult,
                    ..
                } = self.state.clone()
                {
                    self.release(consult, &mut out);
                    out.push(Self::progress(&navigator, TransferState::Cancelled, ""));
                    self.back_to_navigator(now, navigator, leg, &mut out);
                }
            }
            Input::ConnectExternal { uri } => {
                self.release_all(now, &mut out);
                let leg = self.new_leg();
                out.push(Action::Place {
                    leg,
                    dial: Dial {
                        uri,
                        via: Via::Trunk,
                        present: Present::CallerToLine,
                        navigator: None,
                    },
                });
                self.set(now, State::DiallingExternal { leg });
            }
            Input::PlaceFailed { leg, .. } if self.is_monitor_leg(leg) => {
                self.monitor_leg(leg, LegEvent::Failed(0), &mut out)
            }
            Input::Leg { leg, event } if self.is_monitor_leg(leg) => {
                self.monitor_leg(leg, event, &mut out)
            }
            Input::PlaceFailed { leg, why } => self.leg_failed(now, leg, why, &mut out),
            Input::Leg { leg, event } => self.leg_event(now, leg, event, &mut out),
            Input::BridgeFailed => {
                self.release_all(now, &mut out);
                out.push(Action::HangupCaller);
            }
            Input::CallerGone => self.release_all(now, &mut out),
            Input::Monitor {
                supervisor,
                phones,
                mode,
            } => self.monitor(supervisor, phones, mode, &mut out),
            Input::StopMonitor => self.end_monitor("stopped", &mut out),
        }
        if self.monitor.is_some() && !matches!(self.state, State::Bridged { .. }) {
            self.end_monitor("call_left", &mut out);
        }
        out
    }

    /// The navigator's leg, while they and the caller are bridged (or held).
    fn bridged_leg(&self) -> Option<LegId> {
        match self.state {
            State::Bridged { leg, .. } => Some(leg),
            _ => None,
        }
    }

    fn is_monitor_leg(&self, leg: LegId) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.forks.contains(&leg) || m.leg == Some(leg))
    }

    fn monitor_report(supervisor: &str, report: MonitorReport) -> Action {
        Action::Queues(ToQueues::Monitor {
            supervisor: supervisor.to_owned(),
            report,
        })
    }

    fn monitor(
        &mut self,
        supervisor: String,
        phones: Vec<(String, Via)>,
        mode: MonitorMode,
        out: &mut Vec<Action>,
    ) {
        let Some(navigator) = self.bridged_leg() else {
            out.push(Self::monitor_report(
                &supervisor,
                MonitorReport::Ended("not_talking".into()),
            ));
            return;
        };
        if let Some(m) = &mut self.monitor
            && m.supervisor == supervisor
        {
            // The same supervisor: a new mode, taken at once if on the call.
            m.mode = mode;
            if let Some(leg) = m.leg {
                out.push(Action::Mix {
                    navigator,
                    supervisor: leg,
                    mode,
                });
                out.push(Self::monitor_report(
                    &supervisor,
                    MonitorReport::Connected(mode),
                ));
            }
            return;
        }
        if self.monitor.is_some() {
            self.end_monitor("taken_over", out);
        }
        if phones.is_empty() {
            out.push(Self::monitor_report(
                &supervisor,
                MonitorReport::Ended("no_phone".into()),
            ));
            return;
        }
        let forks = self.ring_phones(phones, Present::SupervisorToCall, None, out);
        out.push(Self::monitor_report(&supervisor, MonitorReport::Ringing));
        self.monitor = Some(Monitor {
            supervisor,
            navigator,
            mode,
            forks,
            leg: None,
        });
    }

    /// The supervisor leaves the call (or never joined it): their legs
    /// end, the legs leave the mix, the queues are told why.
    fn end_monitor(&mut self, why: &str, out: &mut Vec<Action>) {
        let Some(monitor) = self.monitor.take() else {
            return;
        };
        for fork in monitor.forks {
            self.release(fork, out);
        }
        if let Some(leg) = monitor.leg {
            out.push(Action::Unmix {
                navigator: monitor.navigator,
                supervisor: leg,
            });
            self.release(leg, out);
        }
        out.push(Self::monitor_report(
            &monitor.supervisor,
            MonitorReport::Ended(why.to_owned()),
        ));
    }

    /// What a supervisor's leg's SIP says (`Failed(0)`: it could not be
    /// placed).
    fn monitor_leg(&mut self, leg: LegId, event: LegEvent, out: &mut Vec<Action>) {
        let Some(monitor) = self.monitor.as_mut() else {
            return;
        };
        match event {
            LegEvent::Ringing(_) => {}
            LegEvent::Answered { sdp } => {
                if monitor.leg.is_some() {
                    return; // a repeated 200
                }
                let others: Vec<LegId> = monitor
                    .forks
                    .iter()
                    .copied()
                    .filter(|f| *f != leg)
                    .collect();
                monitor.forks.clear();
                let (supervisor, mode) = (monitor.supervisor.clone(), monitor.mode);
                for other in others {
                    self.release(other, out);
                }
                let usable = sdp.as_deref().map(sdp::parse_answer);
                match (usable, self.bridged_leg()) {
                    (Some(Ok(negotiated)), Some(navigator)) => {
                        if let Some(m) = self.monitor.as_mut() {
                            m.leg = Some(leg);
                        }
                        out.push(Action::StartMedia { leg, negotiated });
                        out.push(Action::Mix {
                            navigator,
                            supervisor: leg,
                            mode,
                        });
                        out.push(Self::monitor_report(
                            &supervisor,
                            MonitorReport::Connected(mode),
                        ));
                    }
                    _ => {
                        self.release(leg, out);
                        self.monitor = None;
                        out.push(Self::monitor_report(
                            &supervisor,
                            MonitorReport::Ended("unusable_answer".into()),
                        ));
                    }
                }
            }
            LegEvent::Failed(code) => {
                self.released.insert(leg);
                monitor.forks.remove(&leg);
                if monitor.forks.is_empty() && monitor.leg.is_none() {
                    let why = match code {
                        486 | 600 | 603 => "declined",
                        408 | 480 => "no_answer",
                        _ => "failed",
                    };
                    let supervisor = monitor.supervisor.clone();
                    self.monitor = None;
                    out.push(Self::monitor_report(
                        &supervisor,
                        MonitorReport::Ended(why.into()),
                    ));
                }
            }
            LegEvent::Ended => {
                self.released.insert(leg);
                if monitor.leg == Some(leg) {
                    // The supervisor hung up.
                    monitor.leg = None;
                    let (supervisor, navigator) = (monitor.supervisor.clone(), monitor.navigator);
                    self.monitor = None;
                    out.push(Action::Unmix {
                        navigator,
                        supervisor: leg,
                    });
                    out.push(Self::monitor_report(
                        &supervisor,
                        MonitorReport::Ended("hung_up".into()),
                    ));
                } else {
                    self.released.remove(&leg);
                    self.monitor_leg(leg, LegEvent::Failed(0), out);
                }
            }
        }
    }

    fn offer(
        &mut self,
        now: Instant,
        navigator: String,
        phones: Vec<(String, Via)>,
        out: &mut Vec<Action>,
    ) {
        self.release_all(now, out);
        if phones.is_empty() {
            out.push(Action::Queues(ToQueues::OfferFailed {
                navigator,
                why: "no registered phone".into(),
            }));
            return;
        }
        let forks = self.ring_phones(phones, Present::CallerToNavigator, Some(&navigator), out);
        self.set(
            now,
            State::RingingForks {
                navigator,
                forks,
                last_failure: "no registered phone".into(),
            },
        );
    }

    /// Places a leg to each of `phones` (every registered phone of one
    /// person rings; the first to answer wins): the legs.
    fn ring_phones(
        &mut self,
        phones: Vec<(String, Via)>,
        present: Present,
        navigator: Option<&str>,
        out: &mut Vec<Action>,
    ) -> BTreeSet<LegId> {
        let mut forks = BTreeSet::new();
        for (uri, via) in phones {
            let leg = self.new_leg();
            forks.insert(leg);
            out.push(Action::Place {
                leg,
                dial: Dial {
                    uri,
                    via,
                    present,
                    navigator: navigator.map(str::to_owned),
                },
            });
        }
        forks
    }

    fn consult(&mut self, now: Instant, uri: String, out: &mut Vec<Action>) {
        let State::Bridged { navigator, leg, .. } = self.state.clone() else {
            if let Some(navigator) = self.navigator() {
                out.push(Self::progress(
                    navigator,
                    TransferState::Failed,
                    "not possible now",
                ));
            }
            return;
        };
        let consult = self.new_leg();
        out.push(Action::Place {
            leg: consult,
            dial: Dial {
                uri: uri.clone(),
                via: Via::Trunk,
                present: Present::CallerToLine,
                navigator: None,
            },
        });
        out.push(Action::UnbridgeCaller);
        out.push(Self::progress(&navigator, TransferState::Ringing, &uri));
        out.push(Action::Logic(LogicInput::Consulting(true)));
        self.set(
            now,
            State::Consulting {
                navigator,
                leg,
                consult,
                uri,
                answered: false,
            },
        );
    }

    fn complete_transfer(&mut self, now: Instant, out: &mut Vec<Action>) {
        let State::Consulting {
            navigator,
            leg,
            consult,
            uri,
            answered,
        } = self.state.clone()
        else {
            return;
        };
        if !answered {
            out.push(Self::progress(
                &navigator,
                TransferState::Failed,
                "the line has not answered yet",
            ));
            return;
        }
        out.push(Action::BridgeCaller(consult));
        self.release(leg, out);
        out.push(Action::Queues(ToQueues::TransferCompleted {
            navigator,
            uri,
        }));
        out.push(Action::Logic(LogicInput::Transferred));
        self.connected_external = true;
        self.set(now, State::External { leg: consult });
    }

    fn back_to_navigator(
        &mut self,
        now: Instant,
        navigator: String,
        leg: LegId,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::BridgeCaller(leg));
        out.push(Action::Logic(LogicInput::Consulting(false)));
        self.set(
            now,
            State::Bridged {
                navigator,
                leg,
                held: false,
            },
        );
    }

    /// The navigator puts the caller on hold (`on`) or takes them back.
    /// Only a bridged call can be held; anything else changes nothing.
    fn hold(&mut self, now: Instant, on: bool, out: &mut Vec<Action>) {
        let State::Bridged {
            navigator,
            leg,
            held,
        } = self.state.clone()
        else {
            return;
        };
        if held == on {
            return;
        }
        if on {
            out.push(Action::UnbridgeCaller);
        } else {
            out.push(Action::BridgeCaller(leg));
        }
        // The hold loop, as while the navigator consults: the caller's
        // keys stay theirs.
        out.push(Action::Logic(LogicInput::Consulting(on)));
        out.push(Action::Queues(ToQueues::Held {
            navigator: navigator.clone(),
            held: on,
        }));
        self.set(
            now,
            State::Bridged {
                navigator,
                leg,
                held: on,
            },
        );
    }

    /// A leg failed before it was answered (a final response, or it could
    /// not be placed).
    fn leg_failed(&mut self, now: Instant, leg: LegId, why: String, out: &mut Vec<Action>) {
        self.released.insert(leg);
        match self.state.clone() {
            State::RingingForks {
                navigator,
                mut forks,
                ..
            } if forks.contains(&leg) => {
                forks.remove(&leg);
                if forks.is_empty() {
                    self.set(now, State::Idle);
                    out.push(Action::Queues(ToQueues::OfferFailed { navigator, why }));
                } else {
                    self.state = State::RingingForks {
                        navigator,
                        forks,
                        last_failure: why,
                    };
                }
            }
            State::DiallingExternal { leg: l } if l == leg => {
                self.set(now, State::Idle);
                out.push(Action::Logic(LogicInput::ConnectFailed));
            }
            State::Consulting {
                navigator,
                leg: nav_leg,
                consult,
                ..
            } if consult == leg => {
                out.push(Self::progress(&navigator, TransferState::Failed, &why));
                self.back_to_navigator(now, navigator, nav_leg, out);
            }
            _ => {}
        }
    }

    fn leg_event(&mut self, now: Instant, leg: LegId, event: LegEvent, out: &mut Vec<Action>) {
        match event {
            LegEvent::Ringing(_) => {}
            LegEvent::Answered { sdp } => self.leg_answered(now, leg, sdp, out),
            LegEvent::Failed(code) => {
                if let State::RingingForks { forks, .. } = &self.state
                    && forks.contains(&leg)
                    && matches!(code, 486 | 600 | 603)
                {
                    // Busy or declined on one phone: the navigator's answer
                    // for all of them.
                    let State::RingingForks {
                        navigator, forks, ..
                    } = std::mem::replace(&mut self.state, State::Idle)
                    else {
                        unreachable!("matched just above");
                    };
                    self.released.insert(leg);
                    for fork in forks.into_iter().filter(|f| *f != leg) {
                        self.release(fork, out);
                    }
                    self.since = Some(now);
                    out.push(Action::Queues(ToQueues::OfferFailed {
                        navigator,
                        why: format!("SIP {code}"),
                    }));
                    return;
                }
                self.leg_failed(now, leg, format!("SIP {code}"), out);
            }
            LegEvent::Ended => self.leg_ended(now, leg, out),
        }
    }

    fn leg_answered(
        &mut self,
        now: Instant,
        leg: LegId,
        sdp: Option<Vec<u8>>,
        out: &mut Vec<Action>,
    ) {
        let usable = match sdp.as_deref().map(sdp::parse_answer) {
            Some(Ok(negotiated)) => Ok(negotiated),
            Some(Err(error)) => Err(format!("unusable SDP answer: {error}")),
            None => Err("answered without SDP".to_owned()),
        };
        match (self.state.clone(), usable) {
            (
                State::RingingForks {
                    navigator, forks, ..
                },
                usable,
            ) if forks.contains(&leg) => {
                // The first phone to answer takes the call; the others stop.
                for other in forks.iter().filter(|f| **f != leg) {
                    self.release(*other, out);
                }
                match usable {
                    Ok(negotiated) => {
                        out.push(Action::StartMedia { leg, negotiated });
                        out.push(Action::Queues(ToQueues::OfferAnswered {
                            navigator: navigator.clone(),
                            leg,
                        }));
                        self.set(now, State::AwaitingConnect { navigator, leg });
                    }
                    Err(why) => {
                        self.release(leg, out);
                        self.set(now, State::Idle);
                        out.push(Action::Queues(ToQueues::OfferFailed { navigator, why }));
                    }
                }
            }
            (State::DiallingExternal { leg: l }, usable) if l == leg => match usable {
                Ok(negotiated) => {
                    out.push(Action::StartMedia { leg, negotiated });
                    out.push(Action::BridgeCaller(leg));
                    self.connected_external = true;
                    self.set(now, State::External { leg });
                }
                Err(_) => {
                    self.release(leg, out);
                    self.set(now, State::Idle);
                    out.push(Action::HangupCaller);
                }
            },
            (
                State::Consulting {
                    navigator,
                    leg: nav_leg,
                    consult,
                    uri,
                    answered: false,
                },
                usable,
            ) if consult == leg => match usable {
                Ok(negotiated) => {
                    out.push(Action::StartMedia { leg, negotiated });
                    // The navigator talks with the consulted line.
                    out.push(Action::BridgeLegs(nav_leg, consult));
                    out.push(Self::progress(&navigator, TransferState::Answered, ""));
                    self.state = State::Consulting {
                        navigator,
                        leg: nav_leg,
                        consult,
                        uri,
                        answered: true,
                    };
                }
                Err(why) => {
                    self.release(consult, out);
                    out.push(Self::progress(&navigator, TransferState::Failed, &why));
                    self.back_to_navigator(now, navigator, nav_leg, out);
                }
            },
            _ => {
                // A leg we no longer want answered (its offer was taken
                // back, another phone won): end it. A repeated 200 of a
                // leg in use changes nothing.
                if !self.in_use(leg) {
                    self.released.remove(&leg);
                    self.release(leg, out);
                }
            }
        }
    }

    /// The leg is one the call is using now.
    fn in_use(&self, leg: LegId) -> bool {
        match &self.state {
            State::Idle => false,
            State::RingingForks { forks, .. } => forks.contains(&leg),
            State::AwaitingConnect { leg: l, .. }
            | State::Bridged { leg: l, .. }
            | State::DiallingExternal { leg: l }
            | State::External { leg: l } => *l == leg,
            State::Consulting {
                leg: l, consult, ..
            } => *l == leg || *consult == leg,
        }
    }

    fn leg_ended(&mut self, now: Instant, leg: LegId, out: &mut Vec<Action>) {
        self.released.insert(leg);
        match self.state.clone() {
            State::RingingForks { .. } | State::DiallingExternal { .. } if self.in_use(leg) => {
                // Gone before answering: a failure.
                self.released.remove(&leg);
                self.leg_failed(now, leg, "gone".into(), out);
            }
            State::AwaitingConnect { navigator, leg: l } if l == leg => {
                self.set(now, State::Idle);
                out.push(Action::Queues(ToQueues::OfferFailed {
                    navigator,
                    why: "hung up".into(),
                }));
            }
            State::Bridged { leg: l, .. } | State::External { leg: l } if l == leg => {
                // The far end hung up: so does the caller.
                self.set(now, State::Idle);
                out.push(Action::HangupCaller);
            }
            State::Consulting {
                navigator,
                leg: nav_leg,
                consult,
                uri,
                answered,
            } => {
                if leg == nav_leg && answered {
                    // The navigator hung up while talking with the
                    // consulted line: that completes the transfer.
                    out.push(Action::BridgeCaller(consult));
                    out.push(Action::Queues(ToQueues::TransferCompleted {
                        navigator,
                        uri,
                    }));
                    out.push(Action::Logic(LogicInput::Transferred));
                    self.connected_external = true;
                    self.set(now, State::External { leg: consult });
                } else if leg == nav_leg {
                    // The navigator left before the line answered.
                    self.release(consult, out);
                    self.set(now, State::Idle);
                    out.push(Action::HangupCaller);
                } else if leg == consult {
                    out.push(Self::progress(
                        &navigator,
                        TransferState::Failed,
                        "the line hung up",
                    ));
                    self.back_to_navigator(now, navigator, nav_leg, out);
                }
            }
            _ => {}
        }
    }
}

mod callback;
pub use callback::{
    CALLER_LEG, CallbackAction, CallbackInput, CallbackLegs, CallbackReport, NAVIGATOR_LEG,
};

#[cfg(test)]
mod tests;
