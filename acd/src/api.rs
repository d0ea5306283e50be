//! The ACD's vocabulary: ids, configuration, agent states, the events the
//! driver sends in and the decisions it carries out.

use std::fmt;
use std::time::{Duration, Instant};

pub use frontdoor_ivr::{Lang, Priority};

/// The not-ready reason given to a navigator who let an offer ring out.
pub const REASON_NO_ANSWER: &str = "no_answer";
/// The not-ready reason given to a navigator whose phone declined an offer.
pub const REASON_DECLINED: &str = "declined";
/// The not-ready reason of a navigator who just logged in.
pub const REASON_LOGIN: &str = "login";

/// A call, as the driver numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// A navigator: their username (their SIP device registers as it too).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NavigatorId(pub String);

impl From<&str> for NavigatorId {
    fn from(s: &str) -> Self {
        NavigatorId(s.to_owned())
    }
}

impl fmt::Display for NavigatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A centre, by its id in `flows/centres.yaml` (`ottawa`, `thunder_bay`…).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CentreId(pub String);

impl From<&str> for CentreId {
    fn from(s: &str) -> Self {
        CentreId(s.to_owned())
    }
}

impl fmt::Display for CentreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A queue: a centre's, or the province-wide crisis queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueId {
    Centre(CentreId),
    Crisis,
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueId::Centre(c) => write!(f, "centre:{c}"),
            QueueId::Crisis => f.write_str("crisis"),
        }
    }
}

/// One centre's queue settings.
#[derive(Debug, Clone)]
pub struct CentreConfig {
    pub id: CentreId,
    /// The centres that also take this centre's calls, in order.
    pub overflow: Vec<CentreId>,
    /// How long a call waits before each next centre of the overflow list
    /// may take it.
    pub overflow_wait: Duration,
    /// The centre's own line, where its calls go when no centre serving
    /// them is open and staffed and [`AcdConfig::fallback`] is empty.
    pub external: Option<String>,
}

/// The ACD's settings. [`AcdConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct AcdConfig {
    pub centres: Vec<CentreConfig>,
    /// How long an offer rings before it is taken back (RONA). Default 20 s.
    pub ring_timeout: Duration,
    /// How long a crisis call waits for a crisis-trained navigator before it
    /// goes to the external crisis line. Default 60 s.
    pub crisis_timeout: Duration,
    /// The external crisis line (e.g. the 9-8-8 gateway's SIP URI).
    pub crisis_external: String,
    /// Where a call goes when no centre of its serving chain is open and
    /// staffed (an external SIP target); empty: the home centre's
    /// [`CentreConfig::external`].
    pub fallback: String,
    /// Wrap-up after a call. Default 60 s.
    pub wrap_up: Duration,
    /// How often a waiting caller hears their position and expected wait;
    /// `None`: never. Default 60 s.
    pub announce_every: Option<Duration>,
    /// Expected handling time before any call has been handled. Default 6 min.
    pub default_handle_time: Duration,
    /// How many recent handling times the expected wait averages. Default 20.
    pub handle_time_samples: usize,
    /// How long a callback may dial before it counts as failed. Default 60 s.
    pub callback_dial_timeout: Duration,
    /// Dial attempts of a callback before it is left on the supervisor's
    /// list. Default 3.
    pub callback_attempts: u32,
    /// Delay between callback attempts. Default 2 min.
    pub callback_retry_delay: Duration,
}

/// Overflow wait given to each centre by [`AcdConfig::new`] and
/// [`AcdConfig::from_flowset`].
pub const DEFAULT_OVERFLOW_WAIT: Duration = Duration::from_secs(90);

impl AcdConfig {
    /// The defaults, with these centres and external targets.
    pub fn new(centres: Vec<CentreConfig>, crisis_external: &str, fallback: &str) -> AcdConfig {
        AcdConfig {
            centres,
            ring_timeout: Duration::from_secs(20),
            crisis_timeout: Duration::from_secs(60),
            crisis_external: crisis_external.to_owned(),
            fallback: fallback.to_owned(),
            wrap_up: Duration::from_secs(60),
            announce_every: Some(Duration::from_secs(60)),
            default_handle_time: Duration::from_secs(6 * 60),
            handle_time_samples: 20,
            callback_dial_timeout: Duration::from_secs(60),
            callback_attempts: 3,
            callback_retry_delay: Duration::from_secs(120),
        }
    }

    /// The centres, their overflow order and wait and the crisis line of a
    /// flow set (`flows/centres.yaml`); a centre without `overflow_after_s`
    /// gets [`DEFAULT_OVERFLOW_WAIT`].
    pub fn from_flowset(flows: &frontdoor_ivr::FlowSet, fallback: &str) -> AcdConfig {
        let centres = flows
            .centres
            .iter()
            .map(|c| CentreConfig {
                id: CentreId(c.id.clone()),
                overflow: c.overflow.iter().map(|o| CentreId(o.clone())).collect(),
                overflow_wait: c.overflow_after.unwrap_or(DEFAULT_OVERFLOW_WAIT),
                external: c.external.clone(),
            })
            .collect();
        AcdConfig::new(centres, &flows.crisis_external, fallback)
    }
}

/// A problem in an [`AcdConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("centre {0} is defined twice")]
    DuplicateCentre(CentreId),
    #[error("centre {centre} overflows to {to}, which is not a centre")]
    UnknownOverflow { centre: CentreId, to: CentreId },
    #[error("callback_attempts must be at least 1")]
    NoCallbackAttempts,
}

/// A navigator's agent state, as the CTI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    LoggedOut,
    NotReady {
        reason: String,
    },
    Ready,
    /// A call is ringing for them (or their callback is being dialled).
    Reserved {
        call: CallId,
    },
    Busy {
        call: CallId,
    },
    WrapUp {
        until: Instant,
    },
}

impl AgentState {
    /// The state's name in the CTI protocol.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Ready => "ready",
            AgentState::Reserved { .. } => "reserved",
            AgentState::Busy { .. } => "busy",
            AgentState::WrapUp { .. } => "wrap_up",
        }
    }

    /// The call a reserved or busy navigator holds.
    pub fn call(&self) -> Option<CallId> {
        match self {
            AgentState::Reserved { call } | AgentState::Busy { call } => Some(*call),
            _ => None,
        }
    }
}

/// A state a navigator asked for while busy; it applies when wrap-up ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextState {
    Ready,
    NotReady { reason: String },
    LoggedOut,
}

/// Who a navigator is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavigatorProfile {
    pub centre: CentreId,
    pub languages: Vec<Lang>,
    pub crisis_trained: bool,
}

/// A navigator's request (from the CTI websocket) or login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// Logged in (or their profile changed): `not_ready` with reason
    /// `login` until they ask to be ready.
    Login(NavigatorProfile),
    Ready,
    NotReady {
        reason: String,
    },
    Logout,
    /// Wrap-up asked for outside a call (`set_state wrap_up`): timed like the
    /// wrap-up after a call, then the queued state or ready. On or after a
    /// call it changes nothing (wrap-up follows the call anyway).
    WrapUp,
}

/// A call entering the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    pub id: CallId,
    pub queue: QueueId,
    /// For the crisis queue, crisis priority whatever is given here.
    pub priority: Priority,
    pub language: Lang,
}

/// What happened, as the driver tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A centre opened or closed (its schedule, or a supervisor). Centres
    /// start open.
    CentreOpen { centre: CentreId, open: bool },
    /// The flow routed a caller to a queue.
    CallQueued(NewCall),
    /// A navigator calls someone back themselves (a follow-up from their
    /// worklist): like a callback, their phone rings first, then the person
    /// is dialled — at once, to this navigator only, and once. Refused
    /// unless the navigator is ready or not ready; after the call they wrap
    /// up and go back to what they were doing.
    FollowUpCall {
        call: NewCall,
        navigator: NavigatorId,
    },
    /// The caller hung up (waiting, ringing or bridged). For a callback
    /// whose caller already left this changes nothing.
    CallerHungUp { call: CallId },
    /// A navigator logged in, asked for a state, or logged out (CTI).
    NavigatorStateChanged {
        navigator: NavigatorId,
        change: StateChange,
    },
    /// The navigator's device answered the offer: bridge.
    OfferAnswered {
        call: CallId,
        navigator: NavigatorId,
    },
    /// The navigator's device refused the offer (busy, declined, not
    /// registered); also for the navigator's leg of a callback.
    OfferRejected {
        call: CallId,
        navigator: NavigatorId,
        reason: String,
    },
    /// A bridged call ended (BYE from either side): the navigator wraps up.
    CallEnded { call: CallId },
    /// The navigator ended their wrap-up early.
    WrapUpEnded { navigator: NavigatorId },
    /// The waiting caller asked to be called back keeping their place (and
    /// will hang up; a later [`Event::CallerHungUp`] changes nothing). If an
    /// offer was ringing it is cancelled and the callback is dialled as the
    /// call's turn comes. Refused for a crisis call (it must reach a person
    /// or the crisis line now) and for a call that already is a callback.
    CallbackRequested { call: CallId },
    /// The callback reached the caller and is bridged to the navigator.
    CallbackConnected { call: CallId },
    /// The callback did not reach the caller.
    CallbackFailed { call: CallId },
    /// A navigator transferred their call, or a waiting caller pressed the
    /// crisis key: the call goes to the head of that queue, its overflow and
    /// crisis timers start again. A crisis call moved to a centre's queue
    /// loses its crisis flag and keeps high priority.
    Transfer { call: CallId, to: QueueId },
    /// A callback asked for before the engine restarted, taken back from
    /// the call records at start, in the order they were asked for: it
    /// waits at the tail (or, `to_supervisor`, on the supervisors' list).
    /// Refused for the crisis queue.
    CallbackRestored { call: NewCall, to_supervisor: bool },
    /// A supervisor put a callback from their list back in line (at its
    /// place, with fresh attempts).
    SupervisorRequeue { call: CallId },
    /// A supervisor dealt with a callback from their list themselves.
    SupervisorResolved { call: CallId },
}

/// Why an offer (or a callback's dialling) was taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Rang for the ring timeout (RONA): the navigator is now not ready.
    NoAnswer,
    /// The navigator's device refused; its leg is already gone, withdraw
    /// the screen pop.
    Declined,
    /// The caller hung up while it rang.
    CallerAbandoned,
    NavigatorLoggedOut,
    NavigatorNotReady,
    /// The crisis timeout struck while it rang: the call goes external.
    CrisisTimeout,
    /// The caller chose a callback while it rang.
    CallbackRequested,
    /// The callback dialled for [`AcdConfig::callback_dial_timeout`].
    CallbackDialTimeout,
    /// The call was moved to another queue while it rang.
    Transferred,
}

/// Why a call leaves for an external target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalReason {
    /// No crisis-trained navigator answered within the crisis timeout.
    CrisisTimeout,
    /// No crisis-trained navigator with the caller's language is logged in.
    NoCrisisNavigator,
    /// No centre of the call's serving chain is open and staffed.
    NoCentreAvailable,
}

/// A CDR entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallRecord {
    Queued {
        queue: QueueId,
        priority: Priority,
        language: Lang,
        crisis: bool,
    },
    /// Now also offered to this centre's navigators.
    Overflowed {
        to: CentreId,
        waited: Duration,
    },
    Offered {
        navigator: NavigatorId,
    },
    NoAnswer {
        navigator: NavigatorId,
    },
    Declined {
        navigator: NavigatorId,
        reason: String,
    },
    /// An offer taken back for another reason.
    OfferCancelled {
        navigator: NavigatorId,
        reason: CancelReason,
    },
    Answered {
        navigator: NavigatorId,
        waited: Duration,
        callback: bool,
    },
    Abandoned {
        waited: Duration,
        while_ringing: bool,
    },
    Ended {
        navigator: NavigatorId,
        talked: Duration,
    },
    Transferred {
        from: Option<NavigatorId>,
        to: QueueId,
    },
    CallbackRequested {
        waited: Duration,
    },
    CallbackDialling {
        navigator: NavigatorId,
        attempt: u32,
    },
    CallbackFailed {
        attempt: u32,
    },
    /// Out of attempts: on the supervisor's list.
    CallbackToSupervisor {
        attempts: u32,
    },
    CallbackRequeued,
    CallbackResolved,
    /// Taken back from the call records after a restart.
    CallbackRestored {
        to_supervisor: bool,
    },
    RoutedExternal {
        target: String,
        reason: ExternalReason,
        waited: Duration,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ring the navigator's device(s) and pop their screen (`call_offered`).
    Offer {
        call: CallId,
        navigator: NavigatorId,
        waited: Duration,
    },
    /// Take back an offer: CANCEL the navigator's INVITE (or hang up the
    /// callback's outbound leg) and withdraw the screen pop. The caller, if
    /// still there, keeps waiting unless another decision says otherwise.
    CancelOffer {
        call: CallId,
        navigator: NavigatorId,
        reason: CancelReason,
    },
    /// The navigator answered: 200 to them, bridge the legs,
    /// `call_answered` on the websocket.
    Connect {
        call: CallId,
        navigator: NavigatorId,
    },
    /// Dial the caller back (outbound trunk) for this reserved navigator,
    /// then bridge them (`callback: true` in the screen pop). Report
    /// [`Event::CallbackConnected`] or [`Event::CallbackFailed`].
    StartCallback {
        call: CallId,
        navigator: NavigatorId,
        attempt: u32,
    },
    /// Bridge the caller to an external SIP target (with a prompt),
    /// presenting the caller's own number. The call leaves the ACD.
    RouteExternal {
        call: CallId,
        target: String,
        reason: ExternalReason,
    },
    /// Tell the waiting caller their position and expected wait.
    Announce {
        call: CallId,
        position: usize,
        expected_wait: Duration,
    },
    /// A navigator's state changed (`state_changed` on the CTI).
    NavigatorState {
        navigator: NavigatorId,
        state: AgentState,
        next_state: Option<NextState>,
    },
    /// Write this to the call's CDR.
    Record { call: CallId, what: CallRecord },
}

/// An event the ACD refused; the event changed nothing.
///
/// The kinds are kept apart because a driver treats them differently: a
/// [`Stale`] event is an expected race (log it quietly, release what it
/// holds), a [`Refused`] one is a request that does not fit (tell whoever
/// asked), and a [`Bug`] means the driver broke the contract (log it loudly).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcdError {
    /// An expected race: the event is about something that has moved on.
    #[error("stale event: {0}")]
    Stale(#[from] Stale),
    /// The request does not fit the call or the navigator now.
    #[error("refused: {0}")]
    Refused(#[from] Refused),
    /// The driver broke the ACD's contract: a bug.
    #[error("bug in the driver: {0}")]
    Bug(#[from] Bug),
}

/// An event that arrived after what it is about moved on: the call already
/// left (hung up, routed away), the offer was already cancelled, the
/// navigator already logged out or left wrap-up. Races like these are part
/// of running on real networks; the driver releases whatever the event
/// carries (e.g. a navigator's phone that answered too late).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Stale {
    #[error("{0} is not known to the ACD (it has left)")]
    UnknownCall(CallId),
    #[error("navigator {0} is not known to the ACD")]
    UnknownNavigator(NavigatorId),
    #[error("navigator {0} is not logged in")]
    NotLoggedIn(NavigatorId),
    #[error("{call} is not being offered to {navigator}")]
    NotOffered {
        call: CallId,
        navigator: NavigatorId,
    },
    #[error("navigator {0} is not in wrap-up")]
    NotInWrapUp(NavigatorId),
}

/// A request that does not fit: a transfer to a centre the ACD does not
/// have, a callback for a crisis call, a supervisor action on a call that is
/// not on their list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    #[error("centre {0} is not known to the ACD")]
    UnknownCentre(CentreId),
    #[error("{0} cannot do that in its present state")]
    InvalidCallState(CallId),
    #[error("navigator {0} is on a call, reserved or wrapping up")]
    NavigatorNotFree(NavigatorId),
}

/// The driver broke the contract: the same call queued twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Bug {
    #[error("{0} is already in the ACD")]
    DuplicateCall(CallId),
}

/// Where a call is. Every call the ACD knows is in exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// In its queue (a live caller on hold, or a callback keeping its place).
    Waiting,
    /// Ringing for a navigator.
    Offered {
        navigator: NavigatorId,
        deadline: Instant,
    },
    /// A callback being dialled, its navigator reserved.
    Dialling {
        navigator: NavigatorId,
        deadline: Instant,
    },
    /// Bridged to a navigator.
    Connected { navigator: NavigatorId },
    /// A callback out of attempts, on the supervisor's list.
    Supervisor,
}

impl CallState {
    pub(super) fn navigator(&self) -> Option<&NavigatorId> {
        match self {
            CallState::Offered { navigator, .. }
            | CallState::Dialling { navigator, .. }
            | CallState::Connected { navigator } => Some(navigator),
            CallState::Waiting | CallState::Supervisor => None,
        }
    }
}

/// A callback's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub requested: Instant,
    /// Failed dial attempts so far.
    pub failures: u32,
    /// Not to be dialled again before this.
    pub not_before: Option<Instant>,
    /// The caller is still on the call that asked for it (hearing the
    /// confirmation): not dialled until they hang up, or it would find
    /// their line busy.
    pub caller_on_line: bool,
    /// Placed by its navigator (a follow-up, [`Event::FollowUpCall`]):
    /// dialled once, never queued; when it fails it is over.
    pub directed: bool,
}

impl Callback {
    /// A callback asked for (or placed, `directed`) at `now`, with its
    /// caller off the line and never dialled yet.
    pub fn new(now: Instant, directed: bool) -> Callback {
        Callback {
            requested: now,
            failures: 0,
            not_before: None,
            caller_on_line: false,
            directed,
        }
    }
}

/// A call as the ACD sees it (read-only view).
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub id: CallId,
    pub queue: QueueId,
    pub priority: Priority,
    pub language: Lang,
    pub crisis: bool,
    /// When it first entered the ACD (for the CDR's waited time).
    pub arrived: Instant,
    /// When it entered its present queue (overflow and crisis timers).
    pub queued_at: Instant,
    pub state: CallState,
    pub callback: Option<Callback>,
}

/// A navigator as the ACD sees it (read-only view).
#[derive(Debug, Clone)]
pub struct NavigatorInfo {
    pub id: NavigatorId,
    pub centre: CentreId,
    pub languages: Vec<Lang>,
    pub crisis_trained: bool,
    pub state: AgentState,
    pub next_state: Option<NextState>,
    /// Ready since (longest idle first).
    pub idle_since: Instant,
}
