//! What a call does once it is answered, as a sans-IO state machine.
//!
//! The call controller (`call.rs`) owns the sockets and the media; a
//! [`CallLogic`] owns the decisions: which prompts to play, what a key means,
//! when to give up. It gets inputs with the current time and answers with
//! [`Action`]s; its next deadline is [`CallLogic::poll_timeout`]. [`Ivr`]
//! is the logic of every call: the flow interpreter of `frontdoor-ivr`,
//! whose outputs it turns into actions and log lines (the call's event log:
//! every node, prompt, key, attribute and the route, under the call's span).

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// What the call record learns from the logic, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The call entered an IVR node.
    Step(String),
    /// A call attribute got a value (language, region, topic, …).
    Attribute { name: String, value: String },
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

/// How long the prompts before a route may take before the interim ending
/// hangs up anyway.
const ROUTE_PROMPT_LIMIT: Duration = Duration::from_secs(60);

/// A call driven by the IVR flow interpreter.
///
/// A route to an external SIP URI is connected (the controller bridges the
/// caller to it). Until queues exist, a route to a queue ends the call: the
/// route is logged, its prompts play, then the engine hangs up.
pub struct Ivr {
    call: Call,
    deadline: Option<Instant>,
    routed: bool,
    /// Connected (or connecting) to an external URI: the controller owns the call.
    connecting: bool,
    hung_up: bool,
}

impl Ivr {
    pub fn new(set: Arc<FlowSet>, info: CallInfo) -> Self {
        Ivr {
            call: Call::new(set, info),
            deadline: None,
            routed: false,
            connecting: false,
            hung_up: false,
        }
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
                    let list: Vec<String> = prompts
                        .iter()
                        .map(|p| format!("{}/{}", p.lang.as_str(), p.id))
                        .collect();
                    tracing::info!(prompts = %list.join(" "), "play");
                    actions.push(Action::Play(
                        prompts
                            .into_iter()
                            .map(|p| PromptRef {
                                lang: p.lang.as_str(),
                                id: p.id,
                            })
                            .collect(),
                    ));
                }
                Output::StopPlaying => actions.push(Action::StopPlaying),
                Output::StartTimer(d) => self.deadline = Some(now + d),
                Output::StopTimer => self.deadline = None,
                Output::Set { name, value } => {
                    tracing::info!(%name, %value, "call attribute");
                    actions.push(Action::Record(Record::Attribute { name, value }));
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
                    match &route.target {
                        frontdoor_ivr::Target::External(uri) => {
                            self.connecting = true;
                            actions.push(Action::Connect(uri.clone()));
                        }
                        // Until the crisis queue has navigators, nobody
                        // crisis-trained can answer: the crisis line at once
                        // (a crisis caller never waits in silence).
                        frontdoor_ivr::Target::Crisis => {
                            self.connecting = true;
                            let line = self.call.flow_set().crisis_external.clone();
                            tracing::info!(%line, "crisis: to the crisis line");
                            actions.push(Action::Connect(line));
                        }
                        frontdoor_ivr::Target::Centre(_) => {
                            self.deadline = Some(now + ROUTE_PROMPT_LIMIT);
                        }
                    }
                    actions.push(Action::Record(Record::Routed(route)));
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

    fn end_after_route(&mut self) -> Vec<Action> {
        if self.hung_up {
            return Vec::new();
        }
        self.hung_up = true;
        self.deadline = None;
        tracing::info!("routed: the call ends here until queues exist");
        vec![Action::Hangup]
    }
}

impl CallLogic for Ivr {
    fn start(&mut self, now: Instant) -> Vec<Action> {
        let outputs = self.call.start();
        self.actions(now, outputs)
    }

    fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        if self.hung_up {
            return Vec::new();
        }
        let input = match input {
            Input::Key(key) => {
                tracing::info!(digit = %key, "key pressed");
                if self.connecting {
                    return Vec::new();
                }
                frontdoor_ivr::Input::Key(key)
            }
            Input::PromptsFinished if self.connecting => return Vec::new(),
            Input::PromptsFinished if self.routed => return self.end_after_route(),
            Input::ConnectFailed => {
                // Say so in the caller's language (or both), then end.
                self.connecting = false;
                self.deadline = Some(now + ROUTE_PROMPT_LIMIT);
                let langs: Vec<&'static str> = match self.call.language() {
                    Some(l) => vec![l.as_str()],
                    None => vec!["en", "fr"],
                };
                let prompts = langs
                    .into_iter()
                    .map(|lang| PromptRef {
                        lang,
                        id: "connect_failed".into(),
                    })
                    .collect();
                tracing::info!(prompts = "connect_failed", "play");
                return vec![Action::Play(prompts)];
            }
            Input::PromptsFinished => frontdoor_ivr::Input::PromptsFinished,
            Input::Timeout => match self.deadline {
                Some(deadline) if now >= deadline => {
                    self.deadline = None;
                    if self.routed {
                        return self.end_after_route();
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
        Ivr::new(
            shipped(),
            CallInfo {
                caller: normalize_caller("+16135550123"),
                dialled: "211".into(),
                at: frontdoor_ivr::schedule::parse_local("2026-11-23T10:00").unwrap(),
                emergency: false,
            },
        )
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
    fn a_route_plays_its_prompt_then_the_interim_ending_hangs_up() {
        let t0 = Instant::now();
        let mut l = ivr();
        l.start(t0);
        assert_eq!(l.handle(t0, Input::Key('1'))[0], Action::StopPlaying);
        let routed = |actions: &[Action]| {
            actions
                .iter()
                .any(|a| matches!(a, Action::Record(Record::Routed(_))))
        };
        let actions = l.handle(t0, Input::Key('1'));
        assert_eq!(ids(&actions), ["en/connecting"]);
        assert!(routed(&actions), "the route goes to the call record");
        assert!(actions.contains(&Action::Record(Record::Attribute {
            name: "topic".into(),
            value: "housing".into()
        })));
        assert!(!actions.contains(&Action::Hangup), "not before the prompt");
        assert!(
            l.handle(t0, Input::Key('5')).is_empty(),
            "keys after the route do nothing"
        );
        assert_eq!(l.handle(t0, Input::PromptsFinished), [Action::Hangup]);
        assert!(
            l.handle(t0, Input::PromptsFinished).is_empty(),
            "hangs up once"
        );
    }

    #[test]
    fn a_route_whose_prompt_never_finishes_still_ends() {
        let t0 = Instant::now();
        let mut l = ivr();
        l.start(t0);
        l.handle(t0, Input::Key('1'));
        l.handle(t0, Input::Key('1'));
        let due = l.poll_timeout().expect("a limit on the route prompt");
        assert_eq!(l.handle(due, Input::Timeout), [Action::Hangup]);
    }

    #[test]
    fn the_crisis_route_connects_the_crisis_line_and_a_failure_explains_then_ends() {
        let t0 = Instant::now();
        let mut l = ivr();
        l.start(t0);
        let actions = l.handle(t0, Input::Key('9'));
        assert!(
            actions.contains(&Action::Connect(
                "sip:988@crisis-gateway.example.org".into()
            )),
            "{actions:?}"
        );
        assert_eq!(
            l.poll_timeout(),
            None,
            "connected calls are the controller's"
        );
        assert!(
            l.handle(t0, Input::PromptsFinished).is_empty(),
            "no hang-up"
        );
        let actions = l.handle(t0, Input::ConnectFailed);
        assert_eq!(ids(&actions), ["en/connect_failed", "fr/connect_failed"]);
        assert_eq!(l.handle(t0, Input::PromptsFinished), [Action::Hangup]);
    }
}
