//! What a call does once it is answered, as a sans-IO state machine.
//!
//! The call task (`call/`) owns the sockets and the media; a
//! [`CallLogic`] owns the decisions: which prompts to play, what a key means,
//! when to give up. It gets inputs with the current time and answers with
//! [`Action`]s; its next deadline is [`CallLogic::poll_timeout`]. [`Ivr`]
//! is the logic of every call: the flow interpreter of `frontdoor-ivr`,
//! whose outputs it turns into actions and log lines (the call's event log:
//! every node, prompt, key, fact and the route, under the call's span).

use std::sync::Arc;
use std::time::{Duration, Instant};

use frontdoor_ivr::{Call, CallInfo, FlowSet, Output};

/// A prompt by language and id: `prompts/<lang>/<id>.wav`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    pub lang: &'static str,
    pub id: String,
}

/// What happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The caller pressed a key (RFC 4733, SIP INFO or in-band).
    Key(char),
    /// Everything asked to play has played to the end.
    PromptsFinished,
    /// The deadline from [`CallLogic::poll_timeout`] has passed.
    Timeout,
    /// Operations switched emergency mode on or off.
    Emergency(bool),
    /// The call could not be connected to where the flow sent it.
    ConnectFailed,
    /// The queues: the waiting caller's position and expected wait.
    Announce { position: usize, wait: Duration },
    /// The queues send the call to an external line (the crisis line after
    /// the crisis timeout, or the fallback when nobody can serve it).
    RouteExternal { target: String, crisis: bool },
    /// The call was bridged to a navigator (`true`) or is back on hold
    /// (`false`, e.g. transferred to another queue).
    Bridged(bool),
    /// The navigator put the caller on hold to consult someone (`true`,
    /// a warm transfer), or came back to them (`false`).
    Consulting(bool),
    /// The caller was handed to an outside line (a completed warm
    /// transfer): the controller owns the call from now on.
    Transferred,
}

/// What the logic wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these prompts in order, replacing whatever plays now.
    Play(Vec<PromptRef>),
    /// Stop playing at once (barge-in).
    StopPlaying,
    /// End the call.
    Hangup,
    /// Write this to the call's record.
    Record(Record),
    /// Connect the caller to this SIP URI (the engine bridges the legs).
    Connect(String),
    /// Put the call in a queue (a centre's or the crisis queue).
    Queue(frontdoor_ivr::Route),
    /// Play these again and again (hold), replacing whatever plays.
    PlayLoop(Vec<PromptRef>),
    /// Play these once over the hold loop, which then resumes.
    Announce(Vec<PromptRef>),
    /// The waiting caller asked to be called back keeping their place.
    RequestCallback,
    /// The waiting caller pressed the crisis key: to the crisis queue.
    CrisisKey,
}

/// What the call record learns from the logic, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The call entered an IVR node.
    Step(String),
    /// The flow learnt a fact (the caller, language, region and its source,
    /// centre, topic, crisis, the flow's own variables).
    Fact(frontdoor_ivr::Fact),
    /// The flow sent the call here.
    Routed(frontdoor_ivr::Route),
}

/// The decisions of one answered call.
pub trait CallLogic: Send {
    /// The call is answered and media flows.
    fn start(&mut self, now: Instant) -> Vec<Action>;
    /// Something happened.
    fn handle(&mut self, now: Instant, input: Input) -> Vec<Action>;
    /// When to feed [`Input::Timeout`], if ever.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// How long a closing prompt may take before the call is hung up anyway.
const CLOSING_PROMPT_LIMIT: Duration = Duration::from_secs(60);

/// A caller in a queue, from the route to the end of the call.
#[derive(Debug)]
struct Hold {
    /// The languages they hear (theirs, or both when they chose none).
    langs: Vec<frontdoor_ivr::Lang>,
    /// In the crisis queue (routed there, or by the crisis key on hold).
    crisis: bool,
    /// What they can press while waiting, from the flow: the crisis key,
    /// and the callback key when a callback may be offered to them.
    keys: frontdoor_ivr::HoldKeys,
    phase: HoldPhase,
}

/// Where a queued caller is, named for what the call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldPhase {
    /// A prompt plays before the hold loop (the route's own, or
    /// crisis_connecting after the crisis key): waits for it to end. Their
    /// keys count already.
    PromptPlaying,
    /// The hold loop plays (with the callback offer when there is one):
    /// waits for a navigator, the queues' announcements or the caller's keys.
    Waiting,
    /// Talking with a navigator: waits for the bridge to end. The bridge
    /// carries the caller's keys to the navigator.
    Bridged,
    /// On hold while their navigator consults someone (a warm transfer):
    /// waits for the navigator to come back. The hold loop plays without
    /// the callback offer; keys do nothing (the caller is the navigator's).
    Consulting,
}

/// A call driven by the IVR flow interpreter.
///
/// A route to an external SIP URI is connected (the controller bridges the
/// caller to it). A route to a centre or to `crisis` puts the call in that
/// queue: the route's prompts play, then the hold loop (with the callback
/// offer when allowed); the queues' announcements play over it. The keys a
/// waiting caller can press come from the flow ([`frontdoor_ivr::HoldKeys`]):
/// the callback key (1 in the shipped flow) asks for a callback (a goodbye
/// prompt, then the call ends keeping its place), the flow's crisis key (9)
/// moves the call to the crisis queue.
pub struct Ivr {
    call: Call,
    deadline: Option<Instant>,
    routed: bool,
    /// Connected (or connecting) to an external URI: the controller owns the call.
    connecting: bool,
    hung_up: bool,
    /// Playing a last prompt, then hanging up.
    closing: bool,
    /// Callbacks may be offered to this caller.
    callback_allowed: bool,
    hold: Option<Hold>,
    /// The call came past the crisis reserve: the flow does not run; the
    /// caller hears that the lines are busy and may press the crisis key.
    reserve: Option<ReservePhase>,
    /// The flow's crisis key.
    crisis_key: char,
}

/// A call past the crisis reserve, before the caller pressed the crisis key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReservePhase {
    /// The busy message plays (the crisis key counts already).
    Offering,
    /// It has played; the caller has [`RESERVE_WAIT`] to press the key.
    Waiting,
}

/// How long a caller past the crisis reserve has, after the busy message,
/// to press the crisis key.
const RESERVE_WAIT: Duration = Duration::from_secs(6);

impl Ivr {
    /// `callback_allowed`: the engine can call this caller back (their
    /// number is known and callbacks are on).
    pub fn new(set: Arc<FlowSet>, info: CallInfo, callback_allowed: bool) -> Self {
        Ivr {
            crisis_key: set.crisis_key,
            reserve: None,
            call: Call::new(set, info),
            deadline: None,
            routed: false,
            connecting: false,
            hung_up: false,
            closing: false,
            callback_allowed,
            hold: None,
        }
    }

    /// A call past the crisis reserve (calls in progress near the limit):
    /// instead of the flow, the busy message in both languages; the crisis
    /// key takes the call to the crisis queue, anything else ends it.
    pub fn in_reserve(mut self) -> Self {
        self.reserve = Some(ReservePhase::Offering);
        self
    }

    /// The crisis key past the reserve: the crisis queue, like the flow's
    /// crisis route.
    fn reserve_crisis(&mut self, now: Instant) -> Vec<Action> {
        self.reserve = None;
        self.deadline = None;
        tracing::info!("crisis key in the crisis reserve");
        let route = frontdoor_ivr::Route {
            target: frontdoor_ivr::Target::Crisis,
            priority: frontdoor_ivr::Priority::Crisis,
            language: None,
            region: None,
            reason: "the crisis key, with every line busy".into(),
            callback: false,
            hold: frontdoor_ivr::HoldKeys {
                crisis: self.crisis_key,
                callback: None,
            },
        };
        let mut actions = vec![Action::Record(Record::Fact(frontdoor_ivr::Fact::Crisis(
            true,
        )))];
        actions.extend(self.actions(now, vec![Output::Route(route)]));
        actions.retain(|a| !matches!(a, Action::Play(p) if p.is_empty()));
        let prompts = Self::prompts(&self.langs(), &["crisis_connecting"]);
        Self::log_play(&prompts);
        actions.push(Action::Play(prompts));
        actions
    }

    fn langs(&self) -> Vec<frontdoor_ivr::Lang> {
        match self.call.language() {
            Some(l) => vec![l],
            None => vec![frontdoor_ivr::Lang::En, frontdoor_ivr::Lang::Fr],
        }
    }

    fn prompts(langs: &[frontdoor_ivr::Lang], ids: &[&str]) -> Vec<PromptRef> {
        langs
            .iter()
            .flat_map(|l| {
                ids.iter().map(|id| PromptRef {
                    lang: l.as_str(),
                    id: (*id).to_owned(),
                })
            })
            .collect()
    }

    fn log_play(prompts: &[PromptRef]) {
        let list: Vec<String> = prompts
            .iter()
            .map(|p| format!("{}/{}", p.lang, p.id))
            .collect();
        tracing::info!(prompts = %list.join(" "), "play");
    }

    /// Play once, then hang up (a deadline in case the prompt never ends).
    fn close_with(&mut self, now: Instant, ids: &[&str]) -> Vec<Action> {
        let prompts = Self::prompts(&self.langs(), ids);
        Self::log_play(&prompts);
        self.closing = true;
        self.deadline = Some(now + CLOSING_PROMPT_LIMIT);
        vec![Action::Play(prompts)]
    }

    /// After the prompt before the hold loop: the loop.
    fn hold_loop(&mut self) -> Vec<Action> {
        match self.hold.as_ref().map(|h| h.phase) {
            Some(HoldPhase::PromptPlaying) => self.start_loop(HoldPhase::Waiting),
            _ => Vec::new(),
        }
    }

    /// Enter `phase` (Waiting or Consulting) with the hold loop playing;
    /// the callback offer only to a caller waiting for a navigator.
    fn start_loop(&mut self, phase: HoldPhase) -> Vec<Action> {
        let Some(hold) = self.hold.as_mut() else {
            return Vec::new();
        };
        hold.phase = phase;
        let mut ids = vec!["hold_loop"];
        if hold.keys.callback.is_some() && phase == HoldPhase::Waiting {
            ids.push("callback_offer");
        }
        let prompts = Self::prompts(&hold.langs, &ids);
        let list: Vec<String> = prompts
            .iter()
            .map(|p| format!("{}/{}", p.lang, p.id))
            .collect();
        tracing::info!(prompts = %list.join(" "), "hold");
        vec![Action::PlayLoop(prompts)]
    }

    fn actions(&mut self, now: Instant, outputs: Vec<Output>) -> Vec<Action> {
        let mut actions = Vec::new();
        for output in outputs {
            match output {
                Output::Step(node) => {
                    tracing::info!(%node, "ivr step");
                    actions.push(Action::Record(Record::Step(node)));
                }
                Output::Play(prompts) => {
                    let prompts: Vec<PromptRef> = prompts
                        .into_iter()
                        .map(|p| PromptRef {
                            lang: p.lang.as_str(),
                            id: p.id,
                        })
                        .collect();
                    Self::log_play(&prompts);
                    actions.push(Action::Play(prompts));
                }
                Output::StopPlaying => actions.push(Action::StopPlaying),
                Output::StartTimer(d) => self.deadline = Some(now + d),
                Output::StopTimer => self.deadline = None,
                Output::Fact(fact) => {
                    for (name, value) in fact.attributes() {
                        if name == "caller" {
                            let value = crate::call::caller::mask_number(&value.to_string());
                            tracing::info!(%name, %value, "call attribute");
                        } else {
                            tracing::info!(%name, %value, "call attribute");
                        }
                    }
                    actions.push(Action::Record(Record::Fact(fact)));
                }
                Output::Note(text) => tracing::info!(decision = %text, "ivr"),
                Output::Route(route) => {
                    tracing::info!(
                        target = %route.target,
                        priority = route.priority.as_str(),
                        language = route.language.map(|l| l.as_str()).unwrap_or("none"),
                        region = route.region.as_deref().unwrap_or("unknown"),
                        reason = %route.reason,
                        "route"
                    );
                    self.routed = true;
                    actions.push(Action::Record(Record::Routed(route.clone())));
                    match &route.target {
                        frontdoor_ivr::Target::External(uri) => {
                            self.connecting = true;
                            actions.push(Action::Connect(uri.clone()));
                        }
                        frontdoor_ivr::Target::Crisis | frontdoor_ivr::Target::Centre(_) => {
                            let crisis = route.target == frontdoor_ivr::Target::Crisis;
                            let langs = match route.language {
                                Some(l) => vec![l],
                                None => self.langs(),
                            };
                            let callback = route
                                .hold
                                .callback
                                .filter(|_| self.callback_allowed && !crisis);
                            self.hold = Some(Hold {
                                langs,
                                crisis,
                                keys: frontdoor_ivr::HoldKeys {
                                    crisis: route.hold.crisis,
                                    callback,
                                },
                                phase: HoldPhase::PromptPlaying,
                            });
                            self.deadline = None;
                            actions.push(Action::Queue(route));
                        }
                    }
                    if !actions.iter().any(|a| matches!(a, Action::Play(_))) {
                        // Nothing to play: an empty play finishes at once.
                        actions.push(Action::Play(Vec::new()));
                    }
                }
                Output::Hangup => {
                    self.hung_up = true;
                    actions.push(Action::Hangup);
                }
            }
        }
        actions
    }

    fn hang_up(&mut self) -> Vec<Action> {
        if self.hung_up {
            return Vec::new();
        }
        self.hung_up = true;
        self.deadline = None;
        vec![Action::Hangup]
    }

    /// A key while in a queue: the flow's callback and crisis keys.
    fn hold_key(&mut self, now: Instant, key: char) -> Vec<Action> {
        let Some(hold) = self.hold.as_mut() else {
            return Vec::new();
        };
        if matches!(hold.phase, HoldPhase::Bridged | HoldPhase::Consulting) {
            // The bridge carries the caller's keys to the navigator; while
            // the navigator consults, the caller is theirs still.
            return Vec::new();
        }
        if hold.keys.callback == Some(key) {
            tracing::info!("callback requested");
            let mut actions = vec![Action::RequestCallback];
            self.hold = None;
            actions.extend(self.close_with(now, &["callback_confirmed"]));
            return actions;
        }
        if key == hold.keys.crisis && !hold.crisis {
            tracing::info!("crisis key while waiting");
            hold.crisis = true;
            hold.keys.callback = None;
            hold.phase = HoldPhase::PromptPlaying;
            let prompts = Self::prompts(&hold.langs, &["crisis_connecting"]);
            Self::log_play(&prompts);
            return vec![Action::CrisisKey, Action::Play(prompts)];
        }
        Vec::new()
    }
}

impl CallLogic for Ivr {
    fn start(&mut self, now: Instant) -> Vec<Action> {
        if self.reserve.is_some() {
            tracing::info!("every line is busy: the crisis reserve takes this call");
            let prompts = Self::prompts(
                &[frontdoor_ivr::Lang::En, frontdoor_ivr::Lang::Fr],
                &["reserve_busy"],
            );
            Self::log_play(&prompts);
            return vec![
                Action::Record(Record::Step("crisis_reserve".into())),
                Action::Play(prompts),
            ];
        }
        let outputs = self.call.start();
        self.actions(now, outputs)
    }

    fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        if self.hung_up {
            return Vec::new();
        }
        if let Some(phase) = self.reserve {
            return match input {
                Input::Key(key) => {
                    tracing::info!(digit = %key, "key pressed");
                    if key == self.crisis_key {
                        self.reserve_crisis(now)
                    } else {
                        Vec::new()
                    }
                }
                Input::PromptsFinished if phase == ReservePhase::Offering => {
                    self.reserve = Some(ReservePhase::Waiting);
                    self.deadline = Some(now + RESERVE_WAIT);
                    Vec::new()
                }
                Input::Timeout if self.deadline.is_some_and(|d| now >= d) => {
                    tracing::info!("no crisis key in the crisis reserve: hanging up");
                    self.reserve = None;
                    self.hang_up()
                }
                _ => Vec::new(),
            };
        }
        let input = match input {
            Input::Key(key) => {
                tracing::info!(digit = %key, "key pressed");
                if self.connecting || self.closing {
                    return Vec::new();
                }
                if self.hold.is_some() {
                    return self.hold_key(now, key);
                }
                if self.routed {
                    return Vec::new();
                }
                frontdoor_ivr::Input::Key(key)
            }
            Input::PromptsFinished if self.closing => return self.hang_up(),
            Input::PromptsFinished if self.connecting => return Vec::new(),
            Input::PromptsFinished if self.hold.is_some() => return self.hold_loop(),
            Input::PromptsFinished if self.routed => return Vec::new(),
            Input::ConnectFailed => {
                // Say so in the caller's language (or both), then end.
                self.connecting = false;
                self.hold = None;
                return self.close_with(now, &["connect_failed"]);
            }
            Input::Announce { position, wait } => {
                let Some(hold) = self
                    .hold
                    .as_ref()
                    .filter(|h| matches!(h.phase, HoldPhase::Waiting | HoldPhase::Consulting))
                else {
                    return Vec::new();
                };
                let prompts: Vec<PromptRef> = hold
                    .langs
                    .iter()
                    .flat_map(|l| {
                        announcement(position, wait)
                            .into_iter()
                            .map(move |id| PromptRef {
                                lang: l.as_str(),
                                id,
                            })
                    })
                    .collect();
                Self::log_play(&prompts);
                return vec![Action::Announce(prompts)];
            }
            Input::RouteExternal { target, crisis } => {
                self.connecting = true;
                let Some(hold) = self
                    .hold
                    .take()
                    .filter(|h| h.phase != HoldPhase::PromptPlaying)
                else {
                    // The route's own prompt still plays while the line rings.
                    return vec![Action::Connect(target)];
                };
                let id = if crisis {
                    "crisis_connecting"
                } else {
                    "route_external"
                };
                let prompts = Self::prompts(&hold.langs, &[id]);
                Self::log_play(&prompts);
                return vec![Action::Play(prompts), Action::Connect(target)];
            }
            Input::Bridged(on) => {
                let Some(hold) = self.hold.as_mut() else {
                    return Vec::new();
                };
                if on {
                    hold.phase = HoldPhase::Bridged;
                    return Vec::new();
                }
                return self.start_loop(HoldPhase::Waiting);
            }
            Input::Transferred => {
                self.hold = None;
                self.connecting = true;
                return Vec::new();
            }
            Input::Consulting(on) => {
                let Some(hold) = self.hold.as_mut() else {
                    return Vec::new();
                };
                if on {
                    return self.start_loop(HoldPhase::Consulting);
                }
                hold.phase = HoldPhase::Bridged;
                return Vec::new();
            }
            Input::PromptsFinished => frontdoor_ivr::Input::PromptsFinished,
            Input::Timeout => match self.deadline {
                Some(deadline) if now >= deadline => {
                    self.deadline = None;
                    if self.closing {
                        return self.hang_up();
                    }
                    frontdoor_ivr::Input::TimerFired
                }
                _ => return Vec::new(),
            },
            Input::Emergency(on) => frontdoor_ivr::Input::Emergency(on),
        };
        let outputs = self.call.handle(input);
        self.actions(now, outputs)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

/// The prompt ids telling a waiting caller their position and expected
/// wait: "You are number 3 in line. The expected wait is about 4 minutes."
/// Positions past 20 are not said (there are no recordings for them); waits
/// are rounded up to the minute, then past 20 minutes up to the ten, and
/// said as at most 60.
pub fn announcement(position: usize, wait: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    if (1..=20).contains(&position) {
        ids.push("queue_position_intro".to_owned());
        ids.push(format!("num_{position}"));
        ids.push("queue_position_outro".to_owned());
    }
    let minutes = wait.as_secs().div_ceil(60);
    match minutes {
        0 => ids.push("queue_wait_short".to_owned()),
        1 => ids.push("queue_wait_one".to_owned()),
        m => {
            let m = if m <= 20 {
                m
            } else {
                (m.div_ceil(10) * 10).min(60)
            };
            ids.push("queue_wait_intro".to_owned());
            ids.push(format!("num_{m}"));
            ids.push("minutes".to_owned());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdoor_ivr::regions::normalize_caller;
    use std::path::Path;

    fn shipped() -> Arc<FlowSet> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Arc::new(
            FlowSet::load(&root.join("flows"), &root.join("prompts"))
                .unwrap_or_else(|d| panic!("{d}")),
        )
    }

    fn ivr() -> Ivr {
        Ivr::new(shipped(), info(), true)
    }

    fn ids(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Play(p) => Some(p),
                _ => None,
            })
            .flatten()
            .map(|p| format!("{}/{}", p.lang, p.id))
            .collect()
    }

    #[test]
    fn menu_timers_become_deadlines_and_only_a_due_deadline_fires() {
        let t0 = Instant::now();
        let mut l = ivr();
        let actions = l.start(t0);
        assert_eq!(ids(&actions)[0], "en/welcome");
        assert_eq!(
            l.poll_timeout(),
            None,
            "no deadline while the greeting plays"
        );
        l.handle(t0 + Duration::from_secs(20), Input::PromptsFinished);
        let due = l.poll_timeout().expect("the menu waits for a key");
        assert_eq!(due, t0 + Duration::from_secs(25));
        assert!(
            l.handle(due - Duration::from_millis(1), Input::Timeout)
                .is_empty()
        );
        let actions = l.handle(due, Input::Timeout);
        assert_eq!(ids(&actions)[0], "en/no_input", "the menu again");
    }

    #[test]
    fn past_the_crisis_reserve_only_the_crisis_key_goes_on() {
        let t0 = Instant::now();
        // A caller who presses 9: the crisis queue, with its prompt, then hold.
        let mut l = ivr().in_reserve();
        let actions = l.start(t0);
        assert_eq!(ids(&actions), ["en/reserve_busy", "fr/reserve_busy"]);
        assert!(
            l.handle(t0, Input::Key('2')).is_empty(),
            "other keys do nothing"
        );
        let actions = l.handle(t0, Input::Key('9'));
        let route = queued(&actions).expect("queued");
        assert_eq!(route.target, frontdoor_ivr::Target::Crisis);
        assert_eq!(route.priority, frontdoor_ivr::Priority::Crisis);
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Record(Record::Fact(frontdoor_ivr::Fact::Crisis(true)))
        )));
        assert_eq!(
            ids(&actions),
            ["en/crisis_connecting", "fr/crisis_connecting"]
        );
        let actions = l.handle(t0, Input::PromptsFinished);
        assert_eq!(
            looped(&actions),
            ["en/hold_loop", "fr/hold_loop"],
            "no callback offer"
        );

        // A caller who does not: the message, a few seconds, then goodbye.
        let mut l = ivr().in_reserve();
        l.start(t0);
        l.handle(t0 + Duration::from_secs(12), Input::PromptsFinished);
        let due = l.poll_timeout().expect("a deadline for the key");
        assert_eq!(due, t0 + Duration::from_secs(12) + RESERVE_WAIT);
        assert!(
            l.handle(due, Input::Timeout)
                .iter()
                .any(|a| matches!(a, Action::Hangup))
        );
    }

    fn queued(actions: &[Action]) -> Option<&frontdoor_ivr::Route> {
        actions.iter().find_map(|a| match a {
            Action::Queue(r) => Some(r),
            _ => None,
        })
    }

    fn looped(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::PlayLoop(p) => Some(p),
                _ => None,
            })
            .flatten()
            .map(|p| format!("{}/{}", p.lang, p.id))
            .collect()
    }

    /// English, then topic 1 (housing): queued for Ottawa.
    fn queued_caller(callback: bool) -> (Ivr, Instant) {
        let t0 = Instant::now();
        let mut l = Ivr::new(shipped(), info(), callback);
        l.start(t0);
        l.handle(t0, Input::Key('1'));
        let actions = l.handle(t0, Input::Key('1'));
        assert_eq!(ids(&actions), ["en/connecting"]);
        let route = queued(&actions).expect("queued");
        assert_eq!(route.target, frontdoor_ivr::Target::Centre("ottawa".into()));
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Record(Record::Routed(_))))
        );
        (l, t0)
    }

    fn info() -> CallInfo {
        CallInfo {
            caller: normalize_caller("+16135550123"),
            dialled: "211".into(),
            at: frontdoor_ivr::schedule::parse_local("2026-11-23T10:00").unwrap(),
            emergency: false,
        }
    }

    #[test]
    fn a_route_to_a_centre_queues_the_call_then_holds_with_the_callback_offer() {
        let (mut l, t0) = queued_caller(true);
        assert!(
            !l.handle(t0, Input::Key('5'))
                .iter()
                .any(|a| matches!(a, Action::Hangup)),
            "other keys do nothing on hold"
        );
        let actions = l.handle(t0, Input::PromptsFinished);
        assert_eq!(looped(&actions), ["en/hold_loop", "en/callback_offer"]);
        assert!(
            l.handle(t0, Input::PromptsFinished).is_empty(),
            "an announcement's end leaves the loop alone"
        );
        assert_eq!(l.poll_timeout(), None, "nobody hangs up a waiting caller");
        let actions = l.handle(
            t0,
            Input::Announce {
                position: 3,
                wait: Duration::from_secs(200),
            },
        );
        let said: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Announce(p) => Some(p),
                _ => None,
            })
            .flatten()
            .map(|p| format!("{}/{}", p.lang, p.id))
            .collect();
        assert_eq!(
            said,
            [
                "en/queue_position_intro",
                "en/num_3",
                "en/queue_position_outro",
                "en/queue_wait_intro",
                "en/num_4",
                "en/minutes"
            ]
        );
    }

    #[test]
    fn key_1_on_hold_asks_for_a_callback_then_says_goodbye_and_hangs_up() {
        let (mut l, t0) = queued_caller(true);
        l.handle(t0, Input::PromptsFinished);
        let actions = l.handle(t0, Input::Key('1'));
        assert_eq!(actions[0], Action::RequestCallback);
        assert_eq!(ids(&actions), ["en/callback_confirmed"]);
        assert!(l.handle(t0, Input::Key('1')).is_empty(), "asked once");
        assert_eq!(l.handle(t0, Input::PromptsFinished), [Action::Hangup]);
    }

    #[test]
    fn without_callbacks_the_offer_is_not_made_and_key_1_does_nothing() {
        let (mut l, t0) = queued_caller(false);
        let actions = l.handle(t0, Input::PromptsFinished);
        assert_eq!(looped(&actions), ["en/hold_loop"]);
        assert!(l.handle(t0, Input::Key('1')).is_empty());
    }

    #[test]
    fn key_9_on_hold_moves_to_the_crisis_queue_and_drops_the_callback_offer() {
        let (mut l, t0) = queued_caller(true);
        l.handle(t0, Input::PromptsFinished);
        let actions = l.handle(t0, Input::Key('9'));
        assert_eq!(actions[0], Action::CrisisKey);
        assert_eq!(ids(&actions), ["en/crisis_connecting"]);
        let actions = l.handle(t0, Input::PromptsFinished);
        assert_eq!(looped(&actions), ["en/hold_loop"]);
        assert!(
            l.handle(t0, Input::Key('1')).is_empty(),
            "no callback for a crisis call"
        );
    }

    /// The shipped flows with `edits` (from, to) made to flows/211.yaml.
    fn shipped_with(edits: &[(&str, &str)]) -> Arc<FlowSet> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources =
            frontdoor_ivr::flowset::Sources::read(&root.join("flows"), &root.join("prompts"))
                .unwrap_or_else(|d| panic!("{d}"));
        let (_, text) = sources
            .flows
            .iter_mut()
            .find(|(path, _)| path.ends_with("211.yaml"))
            .expect("the main flow");
        for (from, to) in edits {
            assert_eq!(text.matches(from).count(), 1, "{from}");
            *text = text.replace(from, to);
        }
        Arc::new(FlowSet::compile(&sources).unwrap_or_else(|d| panic!("{d}")))
    }

    /// Queued for Ottawa (English, housing) on `set`, the hold loop playing.
    fn waiting_on(set: Arc<FlowSet>) -> (Ivr, Instant) {
        let t0 = Instant::now();
        let mut l = Ivr::new(set, info(), true);
        l.start(t0);
        l.handle(t0, Input::Key('1'));
        assert!(queued(&l.handle(t0, Input::Key('1'))).is_some());
        l.handle(t0, Input::PromptsFinished);
        (l, t0)
    }

    #[test]
    fn an_ops_edit_moving_the_crisis_key_to_7_is_followed_on_hold_and_9_does_nothing() {
        let set = shipped_with(&[("\"9\": { goto: crisis", "\"7\": { goto: crisis")]);
        assert_eq!(set.crisis_key, '7');
        let (mut l, t0) = waiting_on(set);
        assert!(l.handle(t0, Input::Key('9')).is_empty(), "9 is no key now");
        let actions = l.handle(t0, Input::Key('7'));
        assert_eq!(actions[0], Action::CrisisKey);
        assert_eq!(ids(&actions), ["en/crisis_connecting"]);
        let actions = l.handle(t0, Input::PromptsFinished);
        assert_eq!(looped(&actions), ["en/hold_loop"], "no callback offer");
        assert!(
            l.handle(t0, Input::Key('7')).is_empty(),
            "in the crisis queue"
        );
    }

    #[test]
    fn a_route_with_its_own_callback_key_takes_the_callback_on_that_key() {
        let set = shipped_with(&[(
            "      callback: true\n",
            "      callback: true\n      callback_key: \"3\"\n",
        )]);
        let (mut l, t0) = waiting_on(set);
        assert!(l.handle(t0, Input::Key('1')).is_empty(), "1 is no key now");
        let actions = l.handle(t0, Input::Key('3'));
        assert_eq!(actions[0], Action::RequestCallback);
        assert_eq!(ids(&actions), ["en/callback_confirmed"]);
    }

    #[test]
    fn bridged_to_a_navigator_keys_are_theirs_and_back_on_hold_the_loop_resumes() {
        let (mut l, t0) = queued_caller(true);
        l.handle(t0, Input::PromptsFinished);
        assert!(l.handle(t0, Input::Bridged(true)).is_empty());
        assert!(l.handle(t0, Input::Key('1')).is_empty());
        assert!(
            l.handle(
                t0,
                Input::Announce {
                    position: 1,
                    wait: Duration::ZERO
                }
            )
            .is_empty()
        );
        let actions = l.handle(t0, Input::Bridged(false));
        assert_eq!(looped(&actions), ["en/hold_loop", "en/callback_offer"]);
    }

    #[test]
    fn on_hold_during_a_consult_the_caller_hears_the_loop_and_their_keys_do_nothing() {
        let (mut l, t0) = queued_caller(true);
        l.handle(t0, Input::PromptsFinished);
        l.handle(t0, Input::Bridged(true));
        let actions = l.handle(t0, Input::Consulting(true));
        assert_eq!(looped(&actions), ["en/hold_loop"], "no callback offer");
        assert!(l.handle(t0, Input::Key('1')).is_empty());
        assert!(l.handle(t0, Input::Key('9')).is_empty());
        assert!(
            l.handle(t0, Input::Consulting(false)).is_empty(),
            "the bridge again"
        );
        assert!(
            l.handle(t0, Input::Key('1')).is_empty(),
            "keys are the navigator's"
        );
    }

    #[test]
    fn the_queues_may_send_a_waiting_call_out_with_a_prompt() {
        let (mut l, t0) = queued_caller(true);
        l.handle(t0, Input::PromptsFinished);
        let actions = l.handle(
            t0,
            Input::RouteExternal {
                target: "sip:211east@pbx.example.org".into(),
                crisis: false,
            },
        );
        assert_eq!(ids(&actions), ["en/route_external"]);
        assert!(actions.contains(&Action::Connect("sip:211east@pbx.example.org".into())));
        assert!(
            l.handle(t0, Input::PromptsFinished).is_empty(),
            "the bridge follows"
        );
        let actions = l.handle(t0, Input::ConnectFailed);
        assert_eq!(ids(&actions), ["en/connect_failed"]);
        let due = l.poll_timeout().expect("a limit on the last prompt");
        assert_eq!(l.handle(due, Input::Timeout), [Action::Hangup]);
    }

    #[test]
    fn the_crisis_key_in_the_greeting_queues_for_crisis_in_both_languages() {
        let t0 = Instant::now();
        let mut l = ivr();
        l.start(t0);
        let actions = l.handle(t0, Input::Key('9'));
        let route = queued(&actions).expect("queued");
        assert_eq!(route.target, frontdoor_ivr::Target::Crisis);
        let actions = l.handle(t0, Input::PromptsFinished);
        assert_eq!(looped(&actions), ["en/hold_loop", "fr/hold_loop"]);
        let actions = l.handle(
            t0,
            Input::RouteExternal {
                target: "sip:988@crisis-gateway.example.org".into(),
                crisis: true,
            },
        );
        assert_eq!(
            ids(&actions),
            ["en/crisis_connecting", "fr/crisis_connecting"]
        );
    }

    #[test]
    fn sent_out_while_the_route_prompt_plays_the_line_rings_under_it() {
        let t0 = Instant::now();
        let mut l = ivr();
        l.start(t0);
        l.handle(t0, Input::Key('9'));
        let actions = l.handle(
            t0,
            Input::RouteExternal {
                target: "sip:988@crisis-gateway.example.org".into(),
                crisis: true,
            },
        );
        assert_eq!(
            actions,
            [Action::Connect("sip:988@crisis-gateway.example.org".into())]
        );
        assert!(
            l.handle(t0, Input::PromptsFinished).is_empty(),
            "no hold loop"
        );
    }

    #[test]
    fn announcements_round_the_wait_and_skip_positions_without_recordings() {
        let d = Duration::from_secs;
        assert_eq!(announcement(1, d(0))[3..], ["queue_wait_short"]);
        assert_eq!(announcement(2, d(60))[3..], ["queue_wait_one"]);
        assert_eq!(
            announcement(2, d(61))[3..],
            ["queue_wait_intro", "num_2", "minutes"]
        );
        assert_eq!(
            announcement(25, d(21 * 60)),
            ["queue_wait_intro", "num_30", "minutes"]
        );
        assert_eq!(
            announcement(0, d(5 * 3600)),
            ["queue_wait_intro", "num_60", "minutes"]
        );
    }
}
