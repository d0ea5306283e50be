//! The interpreter: one call's walk through a flow set, as a sans-IO state
//! machine.
//!
//! Inputs are what happens on the call ([`Input`]); outputs are what the
//! call controller must do ([`Output`]): play prompts, stop playing, arm or
//! disarm the one timer, report a [`Fact`], route, hang up. No clock, no
//! socket: the controller says when the timer fires and when prompts end,
//! so the simulator, the flow tests and the unit tests drive exactly the
//! code that runs on real calls.
//!
//! The node kinds that wait for the caller or decide where the call goes
//! have a file each: `menu.rs` (with the global keys), `collect.rs` and
//! `route.rs`; the others are single steps of [`Call`]'s run loop here.

mod collect;
mod menu;
mod route;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::fact::Fact;
use crate::flowset::{
    FlowSet, HoldKeys, Kind, Lang, NodeId, Priority, RouteTo, STEP_LIMIT, SwitchOn,
};
use crate::regions::Caller;

/// What the controller knows when the call starts.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub caller: Caller,
    pub dialled: String,
    /// When the call arrived; schedules are evaluated at this moment.
    pub at: jiff::Zoned,
    /// Whether emergency mode is on.
    pub emergency: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The caller pressed a key.
    Key(char),
    /// Everything asked to play has been played (not sent after a stop).
    PromptsFinished,
    /// The timer armed by [`Output::StartTimer`] ran out.
    TimerFired,
    /// Operations switched emergency mode on or off.
    Emergency(bool),
}

/// A prompt to play: its catalog id in a language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub id: String,
    pub lang: Lang,
}

/// Where the flow sent the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Centre(String),
    Crisis,
    External(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Centre(id) => write!(f, "centre:{id}"),
            Target::Crisis => f.write_str("crisis"),
            Target::External(uri) => f.write_str(uri),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    pub priority: Priority,
    pub language: Option<Lang>,
    pub region: Option<String>,
    /// Why this target, in words (for logs and transcripts).
    pub reason: String,
    /// The flow offers waiting callers a callback (`route: {callback: true}`).
    pub callback: bool,
    /// What a caller waiting in the queue can press.
    pub hold: HoldKeys,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The call entered a node (the IVR path).
    Step(String),
    /// Play these, replacing whatever plays.
    Play(Vec<Prompt>),
    /// Stop playing (barge-in).
    StopPlaying,
    /// Arm the timer (replacing any armed one).
    StartTimer(Duration),
    StopTimer,
    /// The call learnt something (its caller, language, region, topic, …).
    Fact(Fact),
    /// The flow is done with the call: connect it here. Prompts asked for
    /// just before are to be played first.
    Route(Route),
    /// End the call (after the prompts asked for just before).
    Hangup,
    /// A decision in words, for the transcript and the call's log.
    Note(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Between steps.
    Idle,
    /// A play node: prompts, then `next`.
    Play { node: NodeId, next: NodeId },
    Menu {
        node: NodeId,
        attempt: u32,
        playing: bool,
    },
    Collect {
        node: NodeId,
        attempt: u32,
        playing: bool,
    },
    /// Goodbye prompts, then hang up.
    Hangup,
    /// Routed or hung up: nothing more to do.
    Done,
}

/// One call's walk through a flow set.
#[derive(Debug)]
pub struct Call {
    set: Arc<FlowSet>,
    info: CallInfo,
    lang: Option<Lang>,
    attrs: BTreeMap<String, String>,
    visited: HashSet<NodeId>,
    /// Where each `include` returns to.
    returns: Vec<NodeId>,
    wait: Wait,
    digits: String,
    emergency: bool,
    announced: bool,
    /// Prompts to put in front of the next ones played.
    pending: Vec<String>,
    timer: bool,
    out: Vec<Output>,
}

impl Call {
    pub fn new(set: Arc<FlowSet>, info: CallInfo) -> Call {
        let emergency = info.emergency;
        Call {
            set,
            info,
            lang: None,
            attrs: BTreeMap::new(),
            visited: HashSet::new(),
            returns: Vec::new(),
            wait: Wait::Idle,
            digits: String::new(),
            emergency,
            announced: false,
            pending: Vec::new(),
            timer: false,
            out: Vec::new(),
        }
    }

    /// The flow set this call runs on (the version it started with).
    pub fn flow_set(&self) -> &Arc<FlowSet> {
        &self.set
    }

    /// The call is answered: begin at the start node.
    pub fn start(&mut self) -> Vec<Output> {
        let caller = self.info.caller.clone();
        self.learn(Fact::Caller(caller.clone()));
        match &caller {
            Caller::Number(n) => {
                let found = self
                    .set
                    .regions
                    .lookup(&caller)
                    .map(|(r, source)| (r.to_owned(), source));
                match found {
                    Some((region, source)) => self.learn(Fact::Region { region, source }),
                    None => self.note(format!("no region for {n}")),
                }
            }
            Caller::Withheld => {}
            Caller::Unknown(raw) => self.note(format!("caller `{raw}` is not a phone number")),
        }
        if self.emergency && self.announcement_after().is_none() {
            self.queue_announcement();
        }
        let start = self.set.start;
        self.run(None, start);
        std::mem::take(&mut self.out)
    }

    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        match input {
            Input::Emergency(on) => {
                if on != self.emergency {
                    self.emergency = on;
                    self.note(format!("emergency mode {}", if on { "on" } else { "off" }));
                }
            }
            Input::Key(k) => self.key(k),
            Input::PromptsFinished => self.prompts_finished(),
            Input::TimerFired => self.timer_fired(),
        }
        std::mem::take(&mut self.out)
    }

    /// The language chosen so far.
    pub fn language(&self) -> Option<Lang> {
        self.lang
    }

    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attrs
    }

    /// Routed or hung up.
    pub fn is_done(&self) -> bool {
        self.wait == Wait::Done
    }

    /// Whether the call now waits for the caller (a menu or digit entry).
    pub fn waits_for_caller(&self) -> bool {
        matches!(self.wait, Wait::Menu { .. } | Wait::Collect { .. })
    }

    /// Whether a key would be acted on now (a menu or digit entry waits, or
    /// it is a global key in force).
    pub fn accepts(&self, key: char) -> bool {
        match self.wait {
            Wait::Menu { .. } | Wait::Collect { .. } => true,
            Wait::Play { .. } => self.global_key(key).is_some(),
            _ => false,
        }
    }

    /// The node the call is at, if it waits at one.
    pub fn current_node(&self) -> Option<&str> {
        match self.wait {
            Wait::Play { node, .. } | Wait::Menu { node, .. } | Wait::Collect { node, .. } => {
                Some(&self.set.nodes[node].id)
            }
            _ => None,
        }
    }

    fn note(&mut self, text: String) {
        self.out.push(Output::Note(text));
    }

    /// Report a fact, and keep it as attributes for the flow's switches.
    fn learn(&mut self, fact: Fact) {
        for (name, value) in fact.attributes() {
            self.attrs.insert(name, value);
        }
        self.out.push(Output::Fact(fact));
    }

    fn announcement_after(&self) -> Option<NodeId> {
        self.set.emergency.as_ref().and_then(|e| e.after)
    }

    fn queue_announcement(&mut self) {
        if let Some(e) = &self.set.emergency
            && !self.announced
        {
            self.announced = true;
            self.pending.extend(e.announcement.iter().cloned());
        }
    }

    fn stop_timer(&mut self) {
        if self.timer {
            self.timer = false;
            self.out.push(Output::StopTimer);
        }
    }

    fn start_timer(&mut self, d: Duration) {
        self.timer = true;
        self.out.push(Output::StartTimer(d));
    }

    /// Play prompts in the call's language; before a language is chosen,
    /// all of them in English, then all of them in French.
    fn play(&mut self, ids: &[String]) {
        let mut all = std::mem::take(&mut self.pending);
        all.extend(ids.iter().cloned());
        if all.is_empty() {
            return;
        }
        let langs: Vec<Lang> = match self.lang {
            Some(l) => vec![l],
            None => Lang::ALL.to_vec(),
        };
        let prompts = langs
            .iter()
            .flat_map(|&lang| {
                all.iter().map(move |id| Prompt {
                    id: id.clone(),
                    lang,
                })
            })
            .collect();
        self.out.push(Output::Play(prompts));
    }

    fn global_key(&self, key: char) -> Option<NodeId> {
        self.set
            .global_keys
            .iter()
            .find(|g| g.key == key && self.visited.contains(&g.from))
            .map(|g| g.goto)
    }

    fn playing(&self) -> bool {
        matches!(
            self.wait,
            Wait::Play { .. }
                | Wait::Menu { playing: true, .. }
                | Wait::Collect { playing: true, .. }
                | Wait::Hangup
        )
    }

    fn prompts_finished(&mut self) {
        match self.wait {
            Wait::Play { node, next } => {
                self.wait = Wait::Idle;
                self.run(Some(node), next);
            }
            Wait::Menu {
                node,
                attempt,
                playing: true,
            } => {
                self.wait = Wait::Menu {
                    node,
                    attempt,
                    playing: false,
                };
                if let Kind::Menu(m) = &self.set.nodes[node].kind {
                    let t = m.timeout;
                    self.start_timer(t);
                }
            }
            Wait::Collect {
                node,
                attempt,
                playing: true,
            } => {
                self.wait = Wait::Collect {
                    node,
                    attempt,
                    playing: false,
                };
                if let Kind::Collect(c) = &self.set.nodes[node].kind {
                    let t = c.timeout;
                    self.start_timer(t);
                }
            }
            Wait::Hangup => {
                self.wait = Wait::Done;
                self.out.push(Output::Hangup);
            }
            _ => {}
        }
    }

    fn timer_fired(&mut self) {
        if !self.timer {
            return;
        }
        self.timer = false;
        match self.wait {
            Wait::Menu { node, attempt, .. } => {
                let set = self.set.clone();
                if let Kind::Menu(m) = &set.nodes[node].kind {
                    self.note(format!(
                        "menu {}: no input (try {attempt} of {})",
                        set.nodes[node].id, m.tries
                    ));
                    self.retry_menu(node, attempt, m.no_input.clone(), "no input");
                }
            }
            Wait::Collect { node, attempt, .. } => {
                self.finish_collect(node, attempt);
            }
            _ => {}
        }
    }

    /// Leave `from` (if any) for `to`, then run every step that needs no
    /// caller until the call waits for something.
    fn run(&mut self, mut from: Option<NodeId>, mut to: NodeId) {
        let set = self.set.clone();
        self.wait = Wait::Idle;
        for _ in 0..STEP_LIMIT {
            if let Some(f) = from
                && self.emergency
                && self.announcement_after() == Some(f)
            {
                self.queue_announcement();
            }
            self.visited.insert(to);
            let node = &set.nodes[to];
            self.out.push(Output::Step(node.id.clone()));
            match &node.kind {
                Kind::Play { prompts, next } => {
                    self.play(prompts);
                    self.wait = Wait::Play {
                        node: to,
                        next: *next,
                    };
                    return;
                }
                Kind::Menu(_) => {
                    self.present_menu(to, 1, Vec::new());
                    return;
                }
                Kind::Collect(_) => {
                    self.present_collect(to, 1, Vec::new());
                    return;
                }
                Kind::Language { lang, next } => {
                    self.lang = Some(*lang);
                    self.learn(Fact::Language(*lang));
                    (from, to) = (Some(to), *next);
                }
                Kind::Switch { on, cases, default } => {
                    let value = self.switch_value(on);
                    let next = cases
                        .iter()
                        .find(|(v, _)| *v == value)
                        .map(|c| c.1)
                        .unwrap_or(*default);
                    self.note(format!(
                        "switch {} = {value} → {}",
                        switch_name(on),
                        set.nodes[next].id
                    ));
                    (from, to) = (Some(to), next);
                }
                Kind::Set { attrs, next } => {
                    for (k, v) in attrs {
                        self.learn(Fact::from_flow(k, v));
                    }
                    (from, to) = (Some(to), *next);
                }
                Kind::Goto(t) => (from, to) = (Some(to), *t),
                Kind::Include { start, next } => {
                    self.returns.push(*next);
                    (from, to) = (Some(to), *start);
                }
                Kind::Return => match self.returns.pop() {
                    Some(back) => (from, to) = (Some(to), back),
                    None => {
                        self.note("return with nothing to return to".into());
                        self.route(&RouteTo::Region, Priority::Normal, &[], None);
                        return;
                    }
                },
                Kind::Route {
                    to: route,
                    priority,
                    prompt,
                    callback,
                } => {
                    self.route(route, *priority, prompt, *callback);
                    return;
                }
                Kind::Hangup { prompts } => {
                    let before = self.out.len();
                    self.play(prompts);
                    if self.out.len() > before {
                        self.wait = Wait::Hangup;
                    } else {
                        self.wait = Wait::Done;
                        self.out.push(Output::Hangup);
                    }
                    return;
                }
            }
        }
        self.note(format!(
            "{STEP_LIMIT} steps without the caller: the flow loops; routing by region"
        ));
        self.route(&RouteTo::Region, Priority::Normal, &[], None);
    }

    fn switch_value(&self, on: &SwitchOn) -> String {
        match on {
            SwitchOn::Region => self
                .attrs
                .get("region")
                .cloned()
                .unwrap_or_else(|| "unknown".into()),
            SwitchOn::Language => self.lang.map(|l| l.as_str()).unwrap_or("none").into(),
            SwitchOn::Emergency => if self.emergency { "on" } else { "off" }.into(),
            SwitchOn::Withheld => if self.info.caller == Caller::Withheld {
                "yes"
            } else {
                "no"
            }
            .into(),
            SwitchOn::Schedule(name) => {
                let hours = self
                    .set
                    .schedules
                    .get(name)
                    .or_else(|| self.set.centre(name).map(|c| &c.hours));
                match hours {
                    Some(h) if h.is_open(&self.info.at) => "open".into(),
                    _ => "closed".into(),
                }
            }
            SwitchOn::Var(name) => self.attrs.get(name).cloned().unwrap_or_default(),
        }
    }
}

fn switch_name(on: &SwitchOn) -> String {
    match on {
        SwitchOn::Region => "region".into(),
        SwitchOn::Language => "language".into(),
        SwitchOn::Emergency => "emergency".into(),
        SwitchOn::Withheld => "withheld".into(),
        SwitchOn::Schedule(n) => format!("schedule:{n}"),
        SwitchOn::Var(n) => format!("var:{n}"),
    }
}
