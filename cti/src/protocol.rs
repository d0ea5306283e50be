//! The CTI websocket protocol, version [`PROTOCOL_VERSION`]: every frame the
//! server sends and every command a navigator's client sends, as serde types.
//! `docs/cti-protocol.md` documents each of them with an example, and a test
//! checks that every example there parses into these types and serializes
//! back to the same JSON.
//!
//! Server frames are [`ServerFrame`]: a per-session `seq` plus a
//! [`ServerMsg`] tagged by `type`. Client frames are [`ClientFrame`]: an `id`
//! plus a [`ClientCmd`] tagged by `type`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol version announced in `hello`. Bump it on any change a client
/// could notice; document the change in docs/cti-protocol.md.
pub const PROTOCOL_VERSION: u32 = 11;

/// What an account may do. Navigators take calls and see their own calls;
/// supervisors see their centre; ops manage flows and emergency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Navigator,
    Supervisor,
    Ops,
}

impl Role {
    /// The name stored in the database and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Navigator => "navigator",
            Role::Supervisor => "supervisor",
            Role::Ops => "ops",
        }
    }

    /// The inverse of [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "navigator" => Some(Role::Navigator),
            "supervisor" => Some(Role::Supervisor),
            "ops" => Some(Role::Ops),
            _ => None,
        }
    }
}

/// The public face of an account (never its credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub username: String,
    pub role: Role,
    pub centre: String,
    /// Languages the person takes calls in: "en", "fr".
    pub languages: Vec<String>,
    pub crisis_trained: bool,
}

/// A navigator's agent state, as the queues see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// No CTI session.
    LoggedOut,
    /// Logged in, not taking calls; `reason` says why.
    NotReady,
    /// Waiting for a call.
    Ready,
    /// A call is ringing for them.
    Reserved,
    /// On a call.
    Busy,
    /// After a call, finishing the log; ends by itself after the wrap-up time.
    WrapUp,
}

/// The states a navigator may ask for with `set_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedState {
    Ready,
    NotReady,
    WrapUp,
}

impl From<RequestedState> for AgentState {
    fn from(s: RequestedState) -> AgentState {
        match s {
            RequestedState::Ready => AgentState::Ready,
            RequestedState::NotReady => AgentState::NotReady,
            RequestedState::WrapUp => AgentState::WrapUp,
        }
    }
}

/// Who called: a number, or a caller who withheld theirs. It exists so that
/// "withheld" is one value the compiler knows, not a word some code spells
/// `"anonymous"` and other code `"withheld"`: a withheld caller has no
/// history, and every earlier withheld call is somebody else's.
///
/// On the wire (and in the store) it is the number, or `"anonymous"` when
/// withheld. Reading, the words a network or an older record uses for a
/// withheld number ([`Caller::WITHHELD_WORDS`], any case, and the empty
/// string) all mean [`Caller::Withheld`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The caller's number, E.164 (`+16135550123`) once the call controller
    /// normalises it.
    Number(String),
    /// The caller withheld their number (RFC 3323 privacy, an `anonymous`
    /// From) or the network gave none.
    Withheld,
}

impl Caller {
    /// How a withheld caller is written on the wire and in the store.
    pub const WITHHELD: &'static str = "anonymous";

    /// Words that mean the number is withheld, compared without case:
    /// what carriers put in From (as `ivr/src/regions.rs` knows them) and
    /// `withheld`, which older call records hold.
    pub const WITHHELD_WORDS: [&'static str; 5] = [
        "anonymous",
        "withheld",
        "restricted",
        "unavailable",
        "private",
    ];

    /// Reads a caller as written on the wire or stored: a withheld word or
    /// nothing is [`Caller::Withheld`], anything else a number.
    pub fn parse(s: &str) -> Caller {
        let s = s.trim();
        if is_withheld_word(s) {
            Caller::Withheld
        } else {
            Caller::Number(s.to_string())
        }
    }

    /// The number, or `None` when withheld. A `Number` that holds a
    /// withheld word (built by hand rather than parsed) counts as withheld
    /// here too, so no history is ever shared through it.
    pub fn number(&self) -> Option<&str> {
        match self {
            Caller::Number(n) if !is_withheld_word(n.trim()) => Some(n),
            _ => None,
        }
    }

    /// Whether the number was withheld (see [`Caller::number`]).
    pub fn is_withheld(&self) -> bool {
        self.number().is_none()
    }

    /// The wire form: the number, or `"anonymous"`.
    pub fn as_str(&self) -> &str {
        self.number().unwrap_or(Caller::WITHHELD)
    }
}

fn is_withheld_word(s: &str) -> bool {
    s.is_empty()
        || Caller::WITHHELD_WORDS
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
}

/// Nothing known about the caller is the same as a withheld number: no
/// history is looked up for it.
impl Default for Caller {
    fn default() -> Caller {
        Caller::Withheld
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Caller {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Caller {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Caller, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Caller::parse(&s))
    }
}

/// Where the caller's region came from: area codes are not where callers
/// are, so the navigator sees how sure the region is and can correct it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionSource {
    /// The caller's area code alone (a 3-digit row of flows/regions.csv):
    /// the least sure.
    AreaCode,
    /// The caller's area code and exchange (a 6-digit NPA-NXX row).
    Exchange,
    /// The caller chose it in the region menu.
    RegionMenu,
    /// A navigator corrected it.
    NavigatorCorrection,
}

impl RegionSource {
    pub const ALL: [RegionSource; 4] = [
        RegionSource::AreaCode,
        RegionSource::Exchange,
        RegionSource::RegionMenu,
        RegionSource::NavigatorCorrection,
    ];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionSource::AreaCode => "area_code",
            RegionSource::Exchange => "exchange",
            RegionSource::RegionMenu => "region_menu",
            RegionSource::NavigatorCorrection => "navigator_correction",
        }
    }

    /// The inverse of [`RegionSource::as_str`]. Older records say
    /// `exchange_table`, which covered both table lookups: it reads as
    /// [`RegionSource::AreaCode`], the claim that is true of either.
    pub fn parse(s: &str) -> Option<RegionSource> {
        match s {
            "area_code" | "exchange_table" => Some(RegionSource::AreaCode),
            "exchange" => Some(RegionSource::Exchange),
            "region_menu" => Some(RegionSource::RegionMenu),
            "navigator_correction" => Some(RegionSource::NavigatorCorrection),
            _ => None,
        }
    }
}

/// How a supervisor takes part in a navigator's call
/// (`POST /api/navigators/{username}/monitor`), on their own phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// They hear the caller and the navigator; nobody hears them.
    Listen,
    /// They hear both; the navigator hears them, the caller does not.
    Whisper,
    /// A three-way call: everyone hears everyone.
    Barge,
}

impl MonitorMode {
    pub const ALL: [MonitorMode; 3] = [
        MonitorMode::Listen,
        MonitorMode::Whisper,
        MonitorMode::Barge,
    ];

    /// Its name in the API: `listen`, `whisper` or `barge`.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }
}

/// Where a supervisor's monitoring of a call has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// Their phone rings.
    Ringing,
    /// They answered: they are on the call, in the `mode` shown.
    Connected,
    /// It did not start, or it ended on its own (`detail` says why).
    Ended,
}

/// A supervisor on a navigator's call, in the wallboard's navigators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitoring {
    /// The supervisor's username.
    pub supervisor: String,
    pub mode: MonitorMode,
    pub state: MonitorState,
    /// Why it ended, when it did: `no_phone` (the supervisor has no
    /// registered phone), `declined`, `no_answer`, `failed` (their phone
    /// refused the call otherwise), `unusable_answer`, `hung_up` (they
    /// hung up), `stopped` (they left from the wallboard), `taken_over`
    /// (another supervisor joined), `call_left` (a transfer, a consult or
    /// a hang-up took the call from the navigator), `not_talking`,
    /// `not_theirs` (the call is no longer the navigator's), `callback`
    /// (a callback cannot be joined).
    #[serde(default)]
    pub detail: Option<String>,
}

/// How a consult (warm) transfer is going, in `transfer_progress`: the call
/// controller reports it, the navigator's screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// The target is being called; the caller is on hold.
    Ringing,
    /// The target answered: the navigator talks with the target.
    Answered,
    /// The target could not be reached, or hung up before the transfer was
    /// completed: the navigator is back with the caller.
    Failed,
    /// The caller is connected to the target.
    Completed,
    /// The navigator sent `cancel_transfer`: they are back with the caller.
    Cancelled,
}

impl TransferState {
    pub const ALL: [TransferState; 5] = [
        TransferState::Ringing,
        TransferState::Answered,
        TransferState::Failed,
        TransferState::Completed,
        TransferState::Cancelled,
    ];

    /// The wire name (also the stored event's suffix, `consult_<state>`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Ringing => "ringing",
            TransferState::Answered => "answered",
            TransferState::Failed => "failed",
            TransferState::Completed => "completed",
            TransferState::Cancelled => "cancelled",
        }
    }
}

/// Why an offer was taken back before the navigator answered
/// (`call_withdrawn`). The queues decide it; the screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// Not answered within the ring timeout.
    NoAnswer,
    /// The navigator's phone declined the call.
    Declined,
    /// The caller hung up while it rang.
    CallerHungUp,
    /// The navigator became not ready.
    NotReady,
    /// The navigator logged out.
    LoggedOut,
    /// A crisis call waited too long for this navigator and went elsewhere.
    CrisisTimeout,
    /// The caller chose to be called back instead of waiting.
    Callback,
    /// The navigator transferred the call: it leaves their screen.
    Transferred,
    /// The callback's dialling took too long.
    DialTimeout,
    /// The callback did not reach the caller.
    CallbackFailed,
}

impl WithdrawReason {
    pub const ALL: [WithdrawReason; 10] = [
        WithdrawReason::NoAnswer,
        WithdrawReason::Declined,
        WithdrawReason::CallerHungUp,
        WithdrawReason::NotReady,
        WithdrawReason::LoggedOut,
        WithdrawReason::CrisisTimeout,
        WithdrawReason::Callback,
        WithdrawReason::Transferred,
        WithdrawReason::DialTimeout,
        WithdrawReason::CallbackFailed,
    ];

    /// The wire name, also written in the call's events.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawReason::NoAnswer => "no_answer",
            WithdrawReason::Declined => "declined",
            WithdrawReason::CallerHungUp => "caller_hung_up",
            WithdrawReason::NotReady => "not_ready",
            WithdrawReason::LoggedOut => "logged_out",
            WithdrawReason::CrisisTimeout => "crisis_timeout",
            WithdrawReason::Callback => "callback",
            WithdrawReason::Transferred => "transferred",
            WithdrawReason::DialTimeout => "dial_timeout",
            WithdrawReason::CallbackFailed => "callback_failed",
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Answered,
    AbandonedInIvr,
    AbandonedInQueue,
    Transferred,
    Callback,
    /// The engine stopped without ending the call (it was killed or the
    /// machine failed); closed at the next start.
    Interrupted,
}

impl Disposition {
    pub const ALL: [Disposition; 6] = [
        Disposition::Answered,
        Disposition::AbandonedInIvr,
        Disposition::AbandonedInQueue,
        Disposition::Transferred,
        Disposition::Callback,
        Disposition::Interrupted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::AbandonedInIvr => "abandoned_in_ivr",
            Disposition::AbandonedInQueue => "abandoned_in_queue",
            Disposition::Transferred => "transferred",
            Disposition::Callback => "callback",
            Disposition::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Declares a coded value of the call log: a snake_case enum on the wire
/// with its codes listed, so the server, the docs and the page agree.
macro_rules! coded {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $code)] $variant,)+
        }
        impl $name {
            /// Every code, in the order the page lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The code on the wire and in the store.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }
            /// Reads a stored code.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

coded! {
    /// Why a need could not be met: the service gaps 211 reports.
    UnmetReason {
        NoService = "no_service",
        Ineligible = "ineligible",
        Waitlist = "waitlist",
        Cost = "cost",
        Distance = "distance",
        Language = "language",
        Hours = "hours",
        Declined = "declined",
        Other = "other",
    }
}

coded! {
    /// Who called, as 211 centres record it.
    Inquirer {
        SelfInquirer = "self",
        Family = "family",
        Friend = "friend",
        Professional = "professional",
        Anonymous = "anonymous",
        Other = "other",
        NotAsked = "not_asked",
        Declined = "declined",
    }
}

coded! {
    /// The caller's age band.
    AgeBand {
        Under18 = "0-17",
        From18 = "18-24",
        From25 = "25-34",
        From35 = "35-44",
        From45 = "45-54",
        From55 = "55-64",
        From65 = "65+",
        NotAsked = "not_asked",
        Declined = "declined",
    }
}

coded! {
    /// The caller's gender as they gave it.
    Gender {
        Woman = "woman",
        Man = "man",
        NonBinary = "non_binary",
        Other = "other",
        NotAsked = "not_asked",
        Declined = "declined",
    }
}

coded! {
    /// What kind of crisis a crisis call was.
    CrisisType {
        Suicide = "suicide",
        Violence = "violence",
        Psychiatric = "psychiatric",
        Substance = "substance",
        Other = "other",
    }
}

coded! {
    /// The risk the navigator judged.
    RiskLevel {
        Low = "low",
        Medium = "medium",
        High = "high",
        Imminent = "imminent",
    }
}

coded! {
    /// How a follow-up reaches the caller.
    FollowUpMethod {
        Phone = "phone",
        Text = "text",
        Email = "email",
    }
}

coded! {
    /// What came of one attempt at a follow-up.
    FollowUpOutcome {
        Reached = "reached",
        NoAnswer = "no_answer",
        LeftMessage = "left_message",
        Closed = "closed",
    }
}

/// One need a navigator identified, coded with the AIRS/211 taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// A taxonomy code, e.g. "BD-1800".
    pub code: String,
    /// Whether the referral met the need.
    pub met: bool,
    /// Why not, required when `met` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmet_reason: Option<UnmetReason>,
}

/// A service the caller was referred to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The agency or programme.
    pub name: String,
    /// The taxonomy code of the service, when coded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The service's id in the resource directory, when chosen from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
}

/// A follow-up the navigator promised a caller at risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// A calendar date, YYYY-MM-DD.
    pub due: String,
    pub reason: String,
    /// The caller agreed to be contacted again (required to be true).
    #[serde(default)]
    pub consent: bool,
    /// How to reach them (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<FollowUpMethod>,
}

/// What a navigator records about a crisis call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrisisDetails {
    #[serde(rename = "type")]
    pub kind: CrisisType,
    pub risk: RiskLevel,
    /// What the navigator did, in words.
    pub action: String,
    /// Emergency services (911, mobile crisis) were involved.
    pub emergency_services: bool,
    /// Their involvement was confirmed before the call ended.
    pub emergency_confirmed: bool,
}

/// The body of `log_call`: what the navigator records about a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLog {
    pub call_id: String,
    pub needs: Vec<Need>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrals: Vec<Referral>,
    /// Who called; absent is `not_asked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inquirer: Option<Inquirer>,
    /// The first three characters of the postal code (`K1A`), a
    /// municipality, `not_asked` or `declined`; absent is `not_asked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_band: Option<AgeBand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    /// Other coded values a centre records, e.g. {"household": "family"}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub demographics: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// Required when the call was a crisis call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crisis_details: Option<CrisisDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    /// The `log_id` of this call's saved log this one corrects (the earlier
    /// version is kept, marked superseded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrects: Option<i64>,
}

/// An earlier call from the same number, with what was logged about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousContact {
    pub call_id: String,
    /// When it arrived, epoch milliseconds.
    pub at_ms: i64,
    pub centre: Option<String>,
    pub topic: Option<String>,
    pub crisis: bool,
    pub navigator: Option<String>,
    pub disposition: Option<Disposition>,
    /// Needs from every log of that call, in logging order.
    pub needs: Vec<Need>,
    /// The follow-up of the latest log that set one.
    pub follow_up: Option<FollowUp>,
    /// Referrals from every log of that call, in logging order.
    #[serde(default)]
    pub referrals: Vec<Referral>,
}

/// The screen pop: everything a navigator sees when a call is offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenPop {
    pub call_id: String,
    /// E.164, or "anonymous" when withheld.
    pub caller: Caller,
    pub region: Option<String>,
    pub region_source: Option<RegionSource>,
    pub centre: Option<String>,
    /// "en" or "fr".
    pub language: String,
    pub crisis: bool,
    pub topic: Option<String>,
    /// The IVR steps the caller went through, in order.
    pub ivr_path: Vec<String>,
    /// Seconds from queueing (or arrival) to the offer.
    pub waited_s: u64,
    pub previous_contacts: Vec<PreviousContact>,
    /// Emergency mode applies to this call (on, for the caller's region).
    pub emergency_mode: bool,
    /// The emergency incident the call arrived during; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// The caller asked to be called back rather than wait.
    pub callback: bool,
}

/// What a navigator's desk offers: the centres and destinations a call can
/// be transferred to and the regions it can be corrected to. The binary
/// publishes it from the flows ([`crate::Cti::publish_desk`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desk {
    pub centres: Vec<DeskCentre>,
    pub regions: Vec<DeskRegion>,
    pub destinations: Vec<Destination>,
}

/// A centre, by the id transfers use and the name people know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskCentre {
    pub id: String,
    pub name: String,
}

/// A region, and the centre that serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskRegion {
    pub id: String,
    pub centre: String,
}

/// A configured place outside the engine a call can be sent to (the crisis
/// line, a centre's own phone system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub id: String,
    pub name: String,
    pub uri: String,
    /// The centre whose own phone system this is, if it is one (a page
    /// names it in its language from the centre).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
}

/// A call log started and not submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub call_id: String,
    /// What the page saved, as it saved it.
    pub draft: serde_json::Value,
    pub updated_ms: i64,
    /// The call it is about, from its call record (null if none was kept).
    pub call: Option<CallSummary>,
}

/// A call as its record tells it: enough for a navigator to know which call
/// a draft is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    pub call_id: String,
    pub caller: Caller,
    pub language: Option<String>,
    pub region: Option<String>,
    pub region_source: Option<RegionSource>,
    pub centre: Option<String>,
    pub topic: Option<String>,
    pub crisis: bool,
    pub arrived_ms: i64,
    pub ivr_path: Vec<String>,
}

/// An agent state with its details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInfo {
    pub state: AgentState,
    /// The reason code for `not_ready`, else null.
    pub reason: Option<String>,
    /// A state asked for while on a call, applied when the call (and wrap-up) ends.
    pub next_state: Option<AgentState>,
    pub next_reason: Option<String>,
    /// When this state began, epoch milliseconds.
    pub since_ms: i64,
    /// When `wrap_up` ends by itself, epoch milliseconds.
    pub wrap_up_until_ms: Option<i64>,
}

/// Where `transfer` sends a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferTarget {
    /// Another centre's queue.
    Centre { centre: String },
    /// The province-wide crisis queue.
    Crisis,
    /// An external SIP destination (the 988 line, a centre's PBX).
    Sip { uri: String },
}

/// How `transfer` hands a call over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// The call goes straight to the target and leaves the navigator.
    #[default]
    Blind,
    /// Warm transfer (SIP targets only): the caller is put on hold and the
    /// navigator talks with the target first, then sends `complete_transfer`
    /// or `cancel_transfer`.
    Consult,
}

impl TransferMode {
    /// Whether this is the default, [`TransferMode::Blind`] (left out when serializing).
    pub fn is_blind(&self) -> bool {
        *self == TransferMode::Blind
    }
}

/// The supervisors' view of the queues (`GET /api/queues`): the queues
/// (the ACD) publish it with [`Cti::publish_queues`](crate::Cti::publish_queues)
/// whenever it changes, and the CTI serves the last one as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueuesView {
    /// When the view was taken, epoch milliseconds.
    pub at_ms: i64,
    /// The expected handling time of a call, seconds (to estimate waits).
    pub expected_handle_s: u64,
    pub queues: Vec<QueueLine>,
    /// Today's figures (since midnight in `[cti] timezone`; after a
    /// restart the day so far comes from the call records), one per queue
    /// and language that had a call today.
    #[serde(default)]
    pub today: Vec<QueueDay>,
    /// A caller who hung up sooner than this is a short abandon, seconds.
    #[serde(default)]
    pub short_abandon_s: u64,
    /// The navigators the queues know.
    pub navigators: Vec<QueueNavigator>,
    /// Callbacks that failed every attempt and wait for a supervisor: never
    /// dropped, only requeued or resolved.
    pub supervisor_list: Vec<FailedCallback>,
}

/// One queue and the calls in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueLine {
    /// `centre:NAME` for a centre's queue, `crisis` for the crisis queue.
    pub queue: String,
    /// First in line first, then the calls ringing or being dialled.
    pub waiting: Vec<WaitingCall>,
    /// The queue's service-level target: this percentage of callers
    /// answered within `target_within_s` (`[reports] targets`).
    #[serde(default)]
    pub target_percent: f64,
    #[serde(default)]
    pub target_within_s: u64,
}

/// One queue and language's figures for today (`QueuesView::today`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueDay {
    /// `centre:NAME` or `crisis`, as in [`QueueLine::queue`].
    pub queue: String,
    /// "en" or "fr".
    pub language: String,
    /// Calls that entered the queue (queued by the flow, or moved into it).
    pub offered: u64,
    /// Callers a navigator answered.
    pub answered: u64,
    /// Of those, answered within the queue's target.
    pub answered_in_target: u64,
    /// Callers who hung up waiting or ringing, after the short-abandon time.
    pub abandoned: u64,
    /// Callers who hung up sooner: not in the service level.
    pub short_abandoned: u64,
    /// Sent to the crisis line or a fallback line.
    pub routed_external: u64,
    pub callbacks_requested: u64,
    /// Callbacks a navigator took.
    pub callbacks_answered: u64,
    /// Callback attempts that did not reach the caller.
    pub callbacks_failed: u64,
    /// Left for another queue before an answer (the crisis key).
    pub transferred_out: u64,
    /// Calls a navigator finished.
    pub handled: u64,
    /// answered_in_target ÷ (answered + abandoned), percent; null before
    /// any such call.
    pub service_level_percent: Option<f64>,
    /// The queue's target: this percentage answered within `target_within_s`.
    pub target_percent: f64,
    pub target_within_s: u64,
    /// Average speed of answer, seconds; null before any answer.
    pub average_speed_of_answer_s: Option<f64>,
    /// Average handle time (talk and wrap-up), seconds; null before any
    /// call was handled.
    pub average_handle_s: Option<f64>,
}

/// A call in a queue, as supervisors see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingCall {
    pub call_id: String,
    /// The caller's number; null when withheld.
    pub caller: Option<String>,
    /// The language the caller chose ("en", "fr").
    pub language: String,
    /// The call's priority ("normal", …).
    pub priority: String,
    /// Only crisis-trained navigators take it.
    pub crisis: bool,
    /// A callback to make rather than a caller on the line.
    pub callback: bool,
    pub state: WaitingState,
    /// Seconds in line so far.
    pub waited_s: u64,
}

/// Where a call in a queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitingState {
    /// In line.
    Waiting,
    /// Ringing for a navigator.
    Offered,
    /// A callback being dialled.
    Dialling,
}

/// A navigator as the queues know them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueNavigator {
    pub username: String,
    pub centre: String,
    /// The languages they take calls in.
    pub languages: Vec<String>,
    pub crisis_trained: bool,
    /// Their agent state, as the ACD decided it.
    pub state: AgentState,
    /// Why they are not ready; null in other states.
    #[serde(default)]
    pub reason: Option<String>,
    /// When this state (or not-ready reason) began, epoch ms; null when
    /// the queues have not seen it begin (a state from before a restart).
    #[serde(default)]
    pub since_ms: Option<i64>,
    /// The call offered to or held by them.
    pub call_id: Option<String>,
    /// A supervisor on their call, or the last attempt's end (until the
    /// call ends). Since protocol version 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Monitoring>,
}

/// A callback on the supervisors' list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCallback {
    /// The call the callback is for (`POST /api/queues/callbacks/{call_id}`).
    pub call_id: String,
    /// The number to call back; null when unknown.
    pub caller: Option<String>,
    /// The queue it was in.
    pub queue: String,
    /// The caller's language.
    pub language: String,
    /// How many times it was tried.
    pub attempts: u32,
}

/// The wallboard's websocket (`GET /cti/supervisor`): one frame from the
/// server. The client sends nothing; every `board` is whole, so a client
/// that reconnects has lost nothing once its first `board` arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardFrame {
    /// Per-connection sequence number, increasing by 1 per frame.
    pub seq: u64,
    #[serde(flatten)]
    pub msg: BoardMsg,
}

/// The messages of the wallboard's websocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardMsg {
    /// First frame on every connection.
    Hello {
        protocol_version: u32,
        account: AccountInfo,
        heartbeat_s: u64,
        /// The reason codes a supervisor can set a navigator not ready with.
        not_ready_reasons: Vec<String>,
        /// Wrap-up longer than this raises `long_wrap_up`, seconds.
        alert_wrap_up_s: u64,
        /// Not ready longer than this raises `long_not_ready`, seconds.
        alert_not_ready_s: u64,
    },
    /// The queues as this account may see them, and what needs attention.
    /// Sent at once on connecting, when the queues change (at most four a
    /// second) and when an alert begins or ends.
    Board(Board),
    Heartbeat {
        at_ms: i64,
    },
    /// A frame the server could not take (the wallboard takes no commands).
    Error {
        code: ErrorCode,
        reason: String,
    },
}

/// A wallboard: the queues' view as this account may see it (a supervisor:
/// their centre's queue, navigators and failed callbacks, and the crisis
/// queue; ops: everything), and its alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    #[serde(flatten)]
    pub view: QueuesView,
    /// What needs a supervisor now, most urgent first.
    pub alerts: Vec<Alert>,
}

/// Something on the wallboard that needs a supervisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stays the same while the condition lasts (`crisis_waiting:CALL`,
    /// `service_level:QUEUE:LANG`, `long_wrap_up:USER`,
    /// `long_not_ready:USER`, `callback_failed:CALL`).
    pub id: String,
    pub kind: AlertKind,
    /// The queue concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The navigator concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navigator: Option<String>,
    /// The call concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// When what is being timed began (the call's arrival, the state's
    /// start), epoch ms; null when nothing is timed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// The figure that crossed its limit: seconds waited or in the state,
    /// the service level in percent, the callback's attempts.
    pub value: f64,
    /// The limit it crossed (seconds, or the target percent); 0 for a
    /// failed callback.
    pub limit: f64,
}

/// What an [`Alert`] is about, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A crisis call waiting longer than the crisis queue's target.
    CrisisWaiting,
    /// A failed callback waits on the supervisors' list.
    CallbackFailed,
    /// Today's service level of a queue and language is under its target.
    ServiceLevel,
    /// A navigator in wrap-up longer than `[cti] alert_wrap_up_s`.
    LongWrapUp,
    /// A navigator not ready longer than `[cti] alert_not_ready_s`.
    LongNotReady,
}

/// One frame from server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFrame {
    /// Per-session sequence number, increasing by at least 1 per frame.
    pub seq: u64,
    #[serde(flatten)]
    pub msg: ServerMsg,
}

/// The messages the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame on every connection.
    Hello {
        protocol_version: u32,
        account: AccountInfo,
        state: StateInfo,
        heartbeat_s: u64,
        /// The oldest `seq` a `resume` can still replay from (0: none yet).
        replay_from: u64,
        /// The language the account chose for the pages ("en" | "fr"),
        /// null until they choose.
        ui_language: Option<String>,
        /// The reason codes `set_state not_ready` takes (configured).
        not_ready_reasons: Vec<String>,
        /// Where calls can go and what regions exist.
        desk: Desk,
        /// Call logs this navigator started and has not submitted, newest first.
        drafts: Vec<Draft>,
    },
    StateChanged(StateInfo),
    CallOffered(ScreenPop),
    CallAnswered {
        call_id: String,
        at_ms: i64,
    },
    /// The offer was taken back before it was answered: the device stopped
    /// ringing and the screen pop is no longer the navigator's call.
    CallWithdrawn {
        call_id: String,
        reason: WithdrawReason,
        at_ms: i64,
    },
    CallEnded {
        call_id: String,
        disposition: Disposition,
        at_ms: i64,
    },
    /// The caller went on hold (`held`: they hear the hold loop) or came
    /// back to the navigator.
    CallHeld {
        call_id: String,
        held: bool,
        at_ms: i64,
    },
    /// How a consult transfer of the navigator's call is going.
    TransferProgress {
        call_id: String,
        state: TransferState,
        /// More about the state (e.g. why it failed), when there is any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        at_ms: i64,
    },
    /// The answer to `log_call`, sent only once the log is committed.
    LogSaved {
        re: String,
        call_id: String,
        log_id: i64,
        /// True when this `id` had been stored before; nothing new was written.
        duplicate: bool,
    },
    /// The engine's SDP answer to `phone_offer` `re`.
    PhoneAnswer {
        re: String,
        sdp: String,
    },
    /// The browser phone's connection as the engine sees it.
    PhoneState {
        state: PhoneState,
    },
    Ack {
        re: String,
    },
    /// The answer to `reveal_caller`: the caller's number, shown on the
    /// screen once the navigator asked (the asking is audited).
    CallerRevealed {
        re: String,
        call_id: String,
        caller: Caller,
    },
    /// The answer to `history`: the caller's earlier contacts (audited).
    History {
        re: String,
        call_id: String,
        contacts: Vec<PreviousContact>,
    },
    Error {
        /// The `id` of the command this answers, when it had one.
        re: Option<String>,
        code: ErrorCode,
        reason: String,
        /// The field of the command in error, as a path (`needs[1].unmet_reason`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
    Heartbeat {
        at_ms: i64,
    },
}

/// Machine-readable error kinds of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    FrameTooLarge,
    UnknownType,
    BadField,
    UnknownTaxonomyCode,
    UnknownCall,
    NotYourCall,
    BadState,
    ResumeGap,
    ControllerUnavailable,
    /// The engine has no WebRTC port (`phone_offer`).
    PhoneUnavailable,
    Internal,
}

/// A browser phone's connection, as the engine sees it (`phone_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneState {
    Connecting,
    Connected,
    /// The browser has not been heard for a while; it may come back.
    Disconnected,
    Failed,
    Closed,
}

/// One frame from client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Chosen by the client, unique per command; repeating it is harmless.
    pub id: String,
    #[serde(flatten)]
    pub cmd: ClientCmd,
}

/// The commands a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientCmd {
    /// The browser offers its phone's peer connection (SDP, ICE gathering
    /// complete); answered by `phone_answer`. Since version 10.
    PhoneOffer {
        sdp: String,
    },
    /// The navigator answers, on this browser phone, the call ringing it
    /// (`call_offered`); `ack`, or `bad_state` when none rings there. The
    /// call is then theirs as with a SIP phone (`call_answered`). Since
    /// version 11.
    Answer {
        call_id: String,
    },
    /// The navigator turns their browser phone off: the engine ends its
    /// connection, and no longer rings it; `ack`. Since version 11.
    PhoneOff {},
    SetState {
        state: RequestedState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Hangup {
        call_id: String,
    },
    Transfer {
        call_id: String,
        target: TransferTarget,
        /// `blind` (the default) or `consult` (only with a SIP target).
        #[serde(default, skip_serializing_if = "TransferMode::is_blind")]
        mode: TransferMode,
    },
    /// Puts the caller on hold (`on`) or takes them back.
    Hold {
        call_id: String,
        on: bool,
    },
    /// Ends a consult transfer by connecting the caller to the target.
    CompleteTransfer {
        call_id: String,
    },
    /// Ends a consult transfer's call to the target; the navigator is back
    /// with the caller.
    CancelTransfer {
        call_id: String,
    },
    LogCall(CallLog),
    /// The log form as typed so far, saved on every change; the server
    /// keeps it as it is (a JSON object of the page's own shape) until the
    /// log is saved.
    SaveDraft {
        call_id: String,
        draft: serde_json::Value,
    },
    /// Show the masked number of a call offered to this navigator (audited).
    RevealCaller {
        call_id: String,
    },
    /// The caller is somewhere else than the region found: the call's
    /// region becomes this one, with source `navigator_correction`.
    CorrectRegion {
        call_id: String,
        region: String,
    },
    /// The earlier contacts of this call's caller, all of them (audited).
    History {
        call_id: String,
    },
    /// Call the person of a follow-up back now: the navigator's phone rings,
    /// then the person is dialled through the trunk.
    FollowUpCall {
        log_id: i64,
    },
    Resume {
        last_seq: u64,
    },
}

/// Every `type` a server frame can have (the docs test checks each is documented).
pub const SERVER_TYPES: &[&str] = &[
    "hello",
    "state_changed",
    "call_offered",
    "call_answered",
    "call_withdrawn",
    "call_ended",
    "call_held",
    "transfer_progress",
    "log_saved",
    "caller_revealed",
    "history",
    "phone_answer",
    "phone_state",
    "ack",
    "error",
    "heartbeat",
];

/// Every `type` a client frame can have.
pub const CLIENT_TYPES: &[&str] = &[
    "set_state",
    "hangup",
    "transfer",
    "hold",
    "complete_transfer",
    "cancel_transfer",
    "log_call",
    "save_draft",
    "reveal_caller",
    "correct_region",
    "history",
    "follow_up_call",
    "phone_offer",
    "answer",
    "phone_off",
    "resume",
];

/// Why a client's text frame was not a command: what the `error` frame
/// says (the frame's `id` when it had one, the code, the reason, and the
/// path of a wrong field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub re: Option<String>,
    pub code: ErrorCode,
    pub reason: String,
    pub field: Option<String>,
}

/// Reads a client's text frame (sans-IO, every step's failure named): at
/// most `max_bytes`, JSON, an object with a known `type` and an `id`; a
/// `log_call` is read on its own so that a wrong field is named by its
/// path, every other command as a [`ClientFrame`].
pub fn decode_frame(text: &str, max_bytes: usize) -> Result<ClientFrame, FrameError> {
    let fail = |re: Option<String>, code, reason: String| FrameError {
        re,
        code,
        reason,
        field: None,
    };
    if text.len() > max_bytes {
        let reason = format!(
            "frame of {} bytes is over the {max_bytes}-byte limit",
            text.len()
        );
        return Err(fail(None, ErrorCode::FrameTooLarge, reason));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| fail(None, ErrorCode::BadJson, format!("not JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(fail(
            None,
            ErrorCode::BadJson,
            "a frame is a JSON object".into(),
        ));
    };
    let id = obj.get("id").and_then(|v| v.as_str()).map(str::to_string);
    let Some(kind) = obj.get("type").and_then(|v| v.as_str()).map(str::to_string) else {
        return Err(fail(id, ErrorCode::BadField, "missing field `type`".into()));
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        let reason = format!(
            "unknown message type {kind:?}; expected one of {}",
            CLIENT_TYPES.join(", ")
        );
        return Err(fail(id, ErrorCode::UnknownType, reason));
    }
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return Err(fail(
            None,
            ErrorCode::BadField,
            "missing field `id` (a string)".into(),
        ));
    };
    if kind == "log_call" {
        let mut body = value;
        if let Some(obj) = body.as_object_mut() {
            obj.remove("id");
            obj.remove("type");
        }
        return match serde_path_to_error::deserialize::<_, CallLog>(body) {
            Ok(log) => Ok(ClientFrame {
                id,
                cmd: ClientCmd::LogCall(log),
            }),
            Err(e) => {
                let field = e.path().to_string();
                Err(FrameError {
                    re: Some(id),
                    code: ErrorCode::BadField,
                    reason: format!("log_call: {}", e.inner()),
                    field: (field != ".").then_some(field),
                })
            }
        };
    }
    serde_json::from_value(value)
        .map_err(|e| fail(Some(id), ErrorCode::BadField, format!("{kind}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_a_frame_can_be_wrong_is_named() {
        let err = |text: &str| decode_frame(text, 200).unwrap_err();
        let e = err(&"x".repeat(201));
        assert_eq!((e.code, e.re), (ErrorCode::FrameTooLarge, None));
        assert_eq!(err("{nope").code, ErrorCode::BadJson);
        assert_eq!(err("[1]").code, ErrorCode::BadJson);
        let e = err(r#"{"id":"a1"}"#);
        assert_eq!((e.code, e.re.as_deref()), (ErrorCode::BadField, Some("a1")));
        let e = err(r#"{"type":"fly","id":"a2"}"#);
        assert_eq!(
            (e.code, e.re.as_deref()),
            (ErrorCode::UnknownType, Some("a2"))
        );
        let e = err(r#"{"type":"hangup","id":""}"#);
        assert_eq!((e.code, e.re), (ErrorCode::BadField, None));
        let e = err(r#"{"type":"hangup","id":"a3"}"#);
        assert_eq!((e.code, e.re.as_deref()), (ErrorCode::BadField, Some("a3")));
        assert!(e.reason.starts_with("hangup: "), "{}", e.reason);
        let e = err(r#"{"type":"log_call","id":"a4","call_id":"c","needs":[{"code":7}]}"#);
        assert_eq!((e.code, e.re.as_deref()), (ErrorCode::BadField, Some("a4")));
        assert!(
            e.field
                .as_deref()
                .is_some_and(|f| f.starts_with("needs[0]")),
            "{e:?}"
        );
    }

    #[test]
    fn a_good_frame_is_its_command() {
        let frame = decode_frame(r#"{"type":"hangup","id":"h1","call_id":"c9"}"#, 200).unwrap();
        assert_eq!(frame.id, "h1");
        assert_eq!(
            frame.cmd,
            ClientCmd::Hangup {
                call_id: "c9".into()
            }
        );
    }
}
