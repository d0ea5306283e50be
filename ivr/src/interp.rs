//! The interpreter: one call's walk through a flow set, as a sans-IO state
//! machine.
//!
//! Inputs are what happens on the call ([`Input`]); outputs are what the
//! call controller must do ([`Output`]): play prompts, stop playing, arm or
//! disarm the one timer, record an attribute, route, hang up. No clock, no
//! socket: the controller says when the timer fires and when prompts end,
//! so the simulator, the flow tests and the unit tests drive exactly the
//! code that runs on real calls.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::flowset::{FlowSet, Kind, Lang, NodeId, Priority, RouteTo, STEP_LIMIT, SwitchOn};
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
    /// A call attribute got a value (language, region, topic, …).
    Set {
        name: String,
        value: String,
    },
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
        match self.info.caller.clone() {
            Caller::Number(n) => {
                self.set_attr("caller", &n);
                self.set_attr("withheld", "no");
                let found = self
                    .set
                    .regions
                    .lookup(&self.info.caller)
                    .map(|(r, s)| (r.to_owned(), s.as_str()));
                match found {
                    Some((region, source)) => {
                        self.set_attr("region", &region);
                        self.set_attr("region_source", source);
                    }
                    None => self.note(format!("no region for {n}")),
                }
            }
            Caller::Withheld => self.set_attr("withheld", "yes"),
            Caller::Unknown(raw) => {
                self.set_attr("withheld", "no");
                self.note(format!("caller `{raw}` is not a phone number"));
            }
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

    fn set_attr(&mut self, name: &str, value: &str) {
        self.attrs.insert(name.to_owned(), value.to_owned());
        self.out.push(Output::Set {
            name: name.to_owned(),
            value: value.to_owned(),
        });
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

    fn key(&mut self, k: char) {
        let wait = self.wait;
        if let Wait::Collect { node, attempt, .. } = wait {
            self.collect_key(node, attempt, k);
            return;
        }
        if matches!(wait, Wait::Done | Wait::Hangup | Wait::Idle) {
            return;
        }
        let from = match wait {
            Wait::Play { node, .. } | Wait::Menu { node, .. } => node,
            _ => return,
        };
        if let Some(goto) = self.global_key(k) {
            if self.playing() {
                self.out.push(Output::StopPlaying);
            }
            self.stop_timer();
            let target = self.set.nodes[goto].id.clone();
            self.note(format!("key {k}: global key → {target}"));
            self.returns.clear();
            // A global key is a way out (the crisis line): nothing queued
            // to play first, no announcement on the way.
            self.pending.clear();
            let _ = from;
            self.run(None, goto);
            return;
        }
        let Wait::Menu {
            node,
            attempt,
            playing,
        } = wait
        else {
            self.note(format!("key {k} ignored during a prompt"));
            return;
        };
        if playing {
            self.out.push(Output::StopPlaying);
        }
        self.stop_timer();
        let set = self.set.clone();
        let Kind::Menu(menu) = &set.nodes[node].kind else {
            return;
        };
        if let Some(&(_, to)) = menu.options.iter().find(|(o, _)| *o == k) {
            self.note(format!(
                "menu {}: key {k} → {}",
                set.nodes[node].id, set.nodes[to].id
            ));
            self.run(Some(node), to);
            return;
        }
        if let Some(goto) = self.emergency_option(node, k) {
            self.note(format!(
                "menu {}: key {k}, emergency option → {}",
                set.nodes[node].id, set.nodes[goto].id
            ));
            self.run(Some(node), goto);
            return;
        }
        self.note(format!(
            "menu {}: key {k} is not a choice (try {attempt} of {})",
            set.nodes[node].id, menu.tries
        ));
        self.retry_menu(node, attempt, menu.no_match.clone(), "no match");
    }

    fn emergency_option(&self, menu: NodeId, k: char) -> Option<NodeId> {
        let o = self.set.emergency.as_ref()?.option.as_ref()?;
        (self.emergency && o.key == k && o.menus.contains(&menu)).then_some(o.goto)
    }

    fn retry_menu(&mut self, node: NodeId, attempt: u32, sorry: Vec<String>, why: &str) {
        let set = self.set.clone();
        let Kind::Menu(menu) = &set.nodes[node].kind else {
            return;
        };
        if attempt >= menu.tries {
            self.note(format!(
                "menu {}: {why} after {} tries → default {}",
                set.nodes[node].id, menu.tries, set.nodes[menu.default].id
            ));
            self.run(Some(node), menu.default);
        } else {
            self.present_menu(node, attempt + 1, sorry);
        }
    }

    fn present_menu(&mut self, node: NodeId, attempt: u32, sorry: Vec<String>) {
        let set = self.set.clone();
        let Kind::Menu(menu) = &set.nodes[node].kind else {
            return;
        };
        let mut prompts = sorry;
        prompts.extend(menu.prompt.iter().cloned());
        if self.emergency
            && let Some(o) = set.emergency.as_ref().and_then(|e| e.option.as_ref())
            && o.menus.contains(&node)
        {
            prompts.extend(o.prompt.iter().cloned());
        }
        self.play(&prompts);
        self.wait = Wait::Menu {
            node,
            attempt,
            playing: true,
        };
    }

    fn present_collect(&mut self, node: NodeId, attempt: u32, sorry: Vec<String>) {
        let set = self.set.clone();
        let Kind::Collect(c) = &set.nodes[node].kind else {
            return;
        };
        self.digits.clear();
        let mut prompts = sorry;
        prompts.extend(c.prompt.iter().cloned());
        self.play(&prompts);
        self.wait = Wait::Collect {
            node,
            attempt,
            playing: true,
        };
    }

    fn collect_key(&mut self, node: NodeId, attempt: u32, k: char) {
        let set = self.set.clone();
        let Kind::Collect(c) = &set.nodes[node].kind else {
            return;
        };
        if self.playing() {
            self.out.push(Output::StopPlaying);
        }
        self.wait = Wait::Collect {
            node,
            attempt,
            playing: false,
        };
        if Some(k) == c.terminator {
            self.finish_collect(node, attempt);
            return;
        }
        self.digits.push(k);
        if self.digits.len() >= c.max as usize {
            self.finish_collect(node, attempt);
        } else {
            self.start_timer(c.timeout);
        }
    }

    fn finish_collect(&mut self, node: NodeId, attempt: u32) {
        let set = self.set.clone();
        let Kind::Collect(c) = &set.nodes[node].kind else {
            return;
        };
        self.stop_timer();
        if self.digits.len() >= c.min as usize {
            let digits = std::mem::take(&mut self.digits);
            self.set_attr(&c.var, &digits);
            self.run(Some(node), c.next);
        } else if attempt >= c.tries {
            self.note(format!(
                "collect {}: {} digits of at least {} after {} tries → {}",
                set.nodes[node].id,
                self.digits.len(),
                c.min,
                c.tries,
                set.nodes[c.fail].id
            ));
            self.run(Some(node), c.fail);
        } else {
            self.present_collect(node, attempt + 1, c.no_input.clone());
        }
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
                    self.set_attr("language", lang.as_str());
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
                        self.set_attr(k, v);
                        if k == "region" {
                            self.set_attr("region_source", "region menu");
                        }
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
                        self.route(&RouteTo::Region, Priority::Normal, &[], false);
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
        self.route(&RouteTo::Region, Priority::Normal, &[], false);
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

    fn route(&mut self, to: &RouteTo, priority: Priority, prompt: &[String], callback: bool) {
        self.stop_timer();
        let region = self.attrs.get("region").cloned();
        let (target, reason) = match to {
            RouteTo::Crisis => (Target::Crisis, "crisis queue".to_owned()),
            RouteTo::External(uri) => (Target::External(uri.clone()), "external".to_owned()),
            RouteTo::Centre(id) => {
                let open = self
                    .set
                    .centre(id)
                    .is_some_and(|c| c.hours.is_open(&self.info.at));
                (
                    Target::Centre(id.clone()),
                    format!("centre {id} ({})", if open { "open" } else { "closed" }),
                )
            }
            RouteTo::Region => {
                let (id, reason) = self.centre_for_region(region.as_deref());
                (Target::Centre(id), reason)
            }
        };
        if let Target::Centre(id) = &target {
            let id = id.clone();
            self.set_attr("centre", &id);
        }
        if target == Target::Crisis {
            self.set_attr("crisis", "true");
        }
        self.play(prompt);
        self.wait = Wait::Done;
        self.out.push(Output::Route(Route {
            callback: callback && matches!(target, Target::Centre(_)),
            target,
            priority,
            language: self.lang,
            region,
            reason,
        }));
    }

    /// The centre serving `region` if open now and speaking the caller's
    /// language; else the first such centre of its overflow order; else any
    /// such centre; then the same without the language; else the region's own.
    fn centre_for_region(&self, region: Option<&str>) -> (String, String) {
        let set = &self.set;
        let at = &self.info.at;
        let own = region.and_then(|r| set.centres.iter().find(|c| c.region == r));
        let speaks =
            |c: &crate::flowset::Centre| self.lang.is_none_or(|l| c.languages.contains(&l));
        if let Some(c) = own {
            let why = if !c.hours.is_open(at) {
                "closed"
            } else if !speaks(c) {
                "does not serve the caller's language"
            } else {
                return (c.id.clone(), format!("region {}: {} open", c.region, c.id));
            };
            for o in &c.overflow {
                if let Some(oc) = set.centre(o)
                    && oc.hours.is_open(at)
                    && speaks(oc)
                {
                    return (
                        oc.id.clone(),
                        format!(
                            "region {}: {} {why}, overflow to {} (open)",
                            c.region, c.id, oc.id
                        ),
                    );
                }
            }
        }
        let open_speaking = set
            .centres
            .iter()
            .find(|c| c.hours.is_open(at) && speaks(c));
        if let Some(oc) = open_speaking.or_else(|| set.centres.iter().find(|c| c.hours.is_open(at)))
        {
            let why = match own {
                Some(c) => format!("region {}: {} and its overflow closed", c.region, c.id),
                None => "region unknown".to_owned(),
            };
            return (oc.id.clone(), format!("{why}; {} open", oc.id));
        }
        let c = own.or(set.centres.first());
        let id = c.map(|c| c.id.clone()).unwrap_or_default();
        (id.clone(), format!("no centre open; {id} queues the call"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowset::Sources;
    use std::path::PathBuf;

    /// A flow set of `flows` (file name, text) on the shipped centres,
    /// regions and prompt catalog, every catalog prompt recorded.
    fn set_of(flows: &[(&str, &str)]) -> Arc<FlowSet> {
        let catalog = include_str!("../../prompts/catalog.yaml");
        let mut recordings = HashSet::new();
        for line in catalog.lines() {
            if let Some(id) = line.strip_suffix(':')
                && !id.starts_with([' ', '#'])
            {
                for lang in Lang::ALL {
                    recordings.insert((lang, id.to_owned()));
                }
            }
        }
        let sources = Sources {
            flows: flows
                .iter()
                .map(|(n, t)| (PathBuf::from(n), (*t).to_owned()))
                .collect(),
            centres: (
                "centres.yaml".into(),
                include_str!("../../flows/centres.yaml").into(),
            ),
            regions: (
                "regions.csv".into(),
                include_str!("../../flows/regions.csv").into(),
            ),
            catalog: ("catalog.yaml".into(), catalog.into()),
            recordings,
            prompts_dir: "prompts".into(),
            recordings_digest: Vec::new(),
        };
        match FlowSet::compile(&sources) {
            Ok(set) => Arc::new(set),
            Err(d) => panic!("test flow does not compile:\n{d}"),
        }
    }

    fn flow(text: &str) -> Arc<FlowSet> {
        set_of(&[("main.yaml", text)])
    }

    fn at(s: &str) -> jiff::Zoned {
        crate::schedule::parse_local(s).unwrap()
    }

    fn call(set: &Arc<FlowSet>, caller: &str, when: &str) -> Call {
        call_em(set, caller, when, false)
    }

    fn call_em(set: &Arc<FlowSet>, caller: &str, when: &str, emergency: bool) -> Call {
        Call::new(
            set.clone(),
            CallInfo {
                caller: crate::regions::normalize_caller(caller),
                dialled: "211".into(),
                at: at(when),
                emergency,
            },
        )
    }

    /// The prompts of every Play, as "lang/id".
    fn played(outs: &[Output]) -> Vec<String> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Play(p) => Some(p),
                _ => None,
            })
            .flatten()
            .map(|p| format!("{}/{}", p.lang.as_str(), p.id))
            .collect()
    }

    fn steps(outs: &[Output]) -> Vec<&str> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Step(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    fn route(outs: &[Output]) -> Option<&Route> {
        outs.iter().find_map(|o| match o {
            Output::Route(r) => Some(r),
            _ => None,
        })
    }

    fn timer(outs: &[Output]) -> Option<Duration> {
        outs.iter().find_map(|o| match o {
            Output::StartTimer(d) => Some(*d),
            _ => None,
        })
    }

    const WEEKDAY: &str = "2026-11-23T10:00";
    const OTTAWA: &str = "+16135550123";

    /// Menus with a crisis key, a play, language and a route.
    const MENU_FLOW: &str = r#"
start: greeting
global_keys:
  "9": { goto: crisis, from: greeting }
nodes:
  greeting:
    menu:
      prompt: [welcome]
      options: { "1": english, "2": french }
      timeout_s: 5
      tries: 3
      default: english
  english: { language: en, next: info }
  french: { language: fr, next: info }
  info:
    play: [emergency_911]
    next: topic
  topic:
    menu:
      prompt: [topic_menu]
      options: { "1": housing }
      tries: 2
      default: other
  housing: { set: { topic: housing }, next: out }
  other: { set: { topic: other }, next: out }
  out:
    route: { to: region, prompt: [connecting] }
  crisis:
    route: { to: crisis, prompt: [crisis_connecting] }
"#;

    #[test]
    fn before_a_language_every_prompt_plays_in_english_then_french() {
        let set = flow(MENU_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        let outs = c.start();
        assert_eq!(steps(&outs), ["greeting"]);
        assert_eq!(played(&outs), ["en/welcome", "fr/welcome"]);
        assert_eq!(timer(&outs), None, "no timer while the menu prompt plays");
        assert_eq!(c.attributes()["region"], "east");
        assert_eq!(c.attributes()["region_source"], "area code");
        let outs = c.handle(Input::PromptsFinished);
        assert_eq!(timer(&outs), Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_menu_key_barges_in_and_the_language_holds_for_every_later_prompt() {
        let set = flow(MENU_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('2'));
        assert_eq!(outs[0], Output::StopPlaying);
        assert_eq!(steps(&outs), ["french", "info"]);
        assert_eq!(played(&outs), ["fr/emergency_911"]);
        assert_eq!(c.language(), Some(Lang::Fr));
        // A non-global key during a play node is ignored.
        let outs = c.handle(Input::Key('1'));
        assert!(
            played(&outs).is_empty() && steps(&outs).is_empty(),
            "{outs:?}"
        );
        let outs = c.handle(Input::PromptsFinished);
        assert_eq!(played(&outs), ["fr/topic_menu"]);
        let outs = c.handle(Input::Key('1'));
        assert_eq!(played(&outs), ["fr/connecting"]);
        let r = route(&outs).expect("routed");
        assert_eq!(r.target, Target::Centre("ottawa".into()));
        assert_eq!(r.language, Some(Lang::Fr));
        assert_eq!(r.priority, Priority::Normal);
        assert_eq!(c.attributes()["topic"], "housing");
        assert!(c.is_done());
        assert!(
            c.handle(Input::Key('1')).is_empty(),
            "nothing after the route"
        );
    }

    #[test]
    fn no_input_replays_the_menu_with_the_no_input_prompt_then_takes_the_default() {
        let set = flow(MENU_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        c.handle(Input::Key('1'));
        c.handle(Input::PromptsFinished); // info played; topic menu plays
        c.handle(Input::PromptsFinished);
        let outs = c.handle(Input::TimerFired);
        assert_eq!(played(&outs), ["en/no_input", "en/topic_menu"]);
        assert_eq!(timer(&outs), None);
        let outs = c.handle(Input::PromptsFinished);
        assert_eq!(
            timer(&outs),
            Some(Duration::from_secs(6)),
            "default timeout"
        );
        let outs = c.handle(Input::TimerFired);
        assert!(
            outs.contains(&Output::Note(
                "menu topic: no input after 2 tries → default other".into()
            )),
            "{outs:?}"
        );
        assert_eq!(
            route(&outs).unwrap().target,
            Target::Centre("ottawa".into())
        );
        assert_eq!(c.attributes()["topic"], "other");
    }

    #[test]
    fn a_wrong_key_plays_no_match_and_counts_as_a_try() {
        let set = flow(MENU_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('5'));
        assert_eq!(outs[0], Output::StopPlaying);
        assert_eq!(
            played(&outs),
            ["en/no_match", "en/welcome", "fr/no_match", "fr/welcome"]
        );
        c.handle(Input::PromptsFinished);
        let outs = c.handle(Input::TimerFired); // try 2: no input
        assert_eq!(played(&outs)[0], "en/no_input");
        let outs = c.handle(Input::Key('7')); // try 3: no match → default
        assert_eq!(steps(&outs), ["english", "info"]);
    }

    #[test]
    fn an_early_timer_or_a_stale_finish_changes_nothing() {
        let set = flow(MENU_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        assert!(c.handle(Input::TimerFired).is_empty(), "no timer armed yet");
        c.handle(Input::PromptsFinished);
        let outs = c.handle(Input::PromptsFinished);
        assert!(outs.is_empty(), "{outs:?}");
    }

    #[test]
    fn the_global_crisis_key_works_from_the_first_prompt_during_menus_and_plays() {
        let set = flow(MENU_FLOW);
        // During the very first prompt.
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('9'));
        assert_eq!(outs[0], Output::StopPlaying);
        let r = route(&outs).unwrap();
        assert_eq!(r.target, Target::Crisis);
        assert_eq!(r.priority, Priority::Crisis);
        assert_eq!(
            played(&outs),
            ["en/crisis_connecting", "fr/crisis_connecting"]
        );
        assert_eq!(c.attributes()["crisis"], "true");
        // During a play node after the language.
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        c.handle(Input::Key('1'));
        assert!(c.accepts('9') && !c.accepts('1'));
        let outs = c.handle(Input::Key('9'));
        assert_eq!(route(&outs).unwrap().target, Target::Crisis);
        assert_eq!(played(&outs), ["en/crisis_connecting"]);
    }

    #[test]
    fn a_global_key_is_in_force_only_once_the_call_has_passed_its_from_node() {
        let set = flow(
            r#"
start: first
global_keys:
  "9": { goto: crisis }
  "0": { goto: toronto, from: second }
nodes:
  first:
    menu: { prompt: [welcome], options: { "1": second }, default: second }
  second:
    menu: { prompt: [topic_menu], options: { "1": out }, default: out }
  out: { route: { to: region } }
  toronto: { route: { to: "centre:toronto" } }
  crisis: { route: { to: crisis } }
"#,
        );
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('0'));
        assert!(route(&outs).is_none(), "0 is a wrong key in `first`");
        assert_eq!(played(&outs)[0], "en/no_match");
        c.handle(Input::Key('1'));
        let outs = c.handle(Input::Key('0'));
        assert_eq!(
            route(&outs).unwrap().target,
            Target::Centre("toronto".into())
        );
    }

    #[test]
    fn collect_takes_digits_up_to_the_terminator_or_the_maximum() {
        let set = flow(
            r#"
start: ask
global_keys:
  "9": { goto: crisis }
nodes:
  ask:
    collect:
      var: postal
      prompt: [topic_menu]
      min: 3
      max: 6
      timeout_s: 4
      tries: 2
      fail: gave_up
    next: check
  check:
    switch:
      on: var:postal
      cases: { "123": crisis }
      default: out
  gave_up: { set: { topic: unknown }, next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
        );
        // Terminator.
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('4'));
        assert_eq!(outs[0], Output::StopPlaying);
        assert_eq!(
            timer(&outs),
            Some(Duration::from_secs(4)),
            "inter-digit wait"
        );
        c.handle(Input::Key('5'));
        c.handle(Input::Key('6'));
        let outs = c.handle(Input::Key('#'));
        assert_eq!(c.attributes()["postal"], "456");
        assert_eq!(steps(&outs), ["check", "out"]);
        // Global keys are digits here: 9 is data, not the crisis key.
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        for k in "129999".chars() {
            c.handle(Input::Key(k));
        }
        assert_eq!(c.attributes()["postal"], "129999", "ends at max length");
        assert!(c.is_done());
        // Too short, then the timer: the prompt again; then the fail node.
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        c.handle(Input::Key('1'));
        let outs = c.handle(Input::TimerFired);
        assert_eq!(
            played(&outs),
            [
                "en/no_input",
                "en/topic_menu",
                "fr/no_input",
                "fr/topic_menu"
            ]
        );
        c.handle(Input::PromptsFinished);
        let outs = c.handle(Input::TimerFired);
        assert_eq!(steps(&outs), ["gave_up", "out"]);
        assert_eq!(c.attributes()["topic"], "unknown");
    }

    #[test]
    fn switch_on_region_withheld_and_a_variable() {
        let set = flow(
            r#"
start: where
global_keys:
  "9": { goto: crisis }
nodes:
  where:
    switch:
      on: region
      cases: { unknown: hidden, north: north }
      default: out
  hidden:
    switch:
      on: withheld
      cases: { "yes": ask }
      default: ask
  ask:
    menu: { prompt: [region_menu], options: { "2": set_north }, default: out }
  set_north: { set: { region: north }, next: north }
  north: { route: { to: region } }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
        );
        let mut c = call(&set, "+18075550123", WEEKDAY);
        let outs = c.start();
        assert_eq!(steps(&outs), ["where", "north"]);
        assert_eq!(
            route(&outs).unwrap().target,
            Target::Centre("thunder_bay".into())
        );
        let mut c = call(&set, "anonymous", WEEKDAY);
        let outs = c.start();
        assert_eq!(steps(&outs), ["where", "hidden", "ask"]);
        assert_eq!(c.attributes()["withheld"], "yes");
        let outs = c.handle(Input::Key('2'));
        assert_eq!(c.attributes()["region"], "north");
        assert_eq!(c.attributes()["region_source"], "region menu");
        assert_eq!(route(&outs).unwrap().region.as_deref(), Some("north"));
        // A split area code resolves by exchange.
        let mut c = call(&set, "+17054451234", WEEKDAY);
        c.start();
        assert_eq!(c.attributes()["region"], "central");
        assert_eq!(c.attributes()["region_source"], "exchange table");
    }

    #[test]
    fn a_route_says_whether_the_flow_offers_a_callback() {
        let with = MENU_FLOW.replace(
            "route: { to: region, prompt: [connecting] }",
            "route: { to: region, prompt: [connecting], callback: true }",
        );
        for (text, offered) in [(MENU_FLOW.to_owned(), false), (with, true)] {
            let set = flow(&text);
            let mut c = call(&set, OTTAWA, "2026-11-23T10:00");
            c.start();
            c.handle(Input::Key('1'));
            c.handle(Input::PromptsFinished);
            let outs = c.handle(Input::Key('1'));
            assert_eq!(route(&outs).unwrap().callback, offered);
            // The crisis route never offers one.
            let mut c = call(&set, OTTAWA, "2026-11-23T10:00");
            c.start();
            let outs = c.handle(Input::Key('9'));
            assert!(!route(&outs).unwrap().callback);
        }
    }

    #[test]
    fn the_region_route_takes_the_open_centre_then_its_overflow() {
        let set = flow(MENU_FLOW);
        let go = |when: &str| {
            let mut c = call(&set, OTTAWA, when);
            c.start();
            c.handle(Input::Key('1'));
            c.handle(Input::PromptsFinished);
            let outs = c.handle(Input::Key('1'));
            route(&outs).unwrap().clone()
        };
        assert_eq!(
            go("2026-11-23T10:00").target,
            Target::Centre("ottawa".into())
        );
        // Overnight: Ottawa closed, its overflow (Toronto, 24/7) takes it.
        let night = go("2026-11-24T03:00");
        assert_eq!(night.target, Target::Centre("toronto".into()));
        assert!(night.reason.contains("overflow"), "{}", night.reason);
        // Christmas Day: closed all day in Ottawa.
        assert_eq!(
            go("2026-12-25T11:00").target,
            Target::Centre("toronto".into())
        );
    }

    #[test]
    fn a_french_caller_goes_past_a_centre_without_french() {
        let set = flow(MENU_FLOW);
        // 705-445 is Collingwood, whose centre serves English only.
        let mut c = call(&set, "+17054451234", WEEKDAY);
        c.start();
        c.handle(Input::Key('2'));
        c.handle(Input::PromptsFinished);
        let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
        assert_eq!(r.target, Target::Centre("toronto".into()), "{}", r.reason);
        assert!(r.reason.contains("language"), "{}", r.reason);
        // In English, Collingwood itself.
        let mut c = call(&set, "+17054451234", WEEKDAY);
        c.start();
        c.handle(Input::Key('1'));
        c.handle(Input::PromptsFinished);
        let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
        assert_eq!(r.target, Target::Centre("collingwood".into()));
    }

    #[test]
    fn a_schedule_switch_follows_local_time_across_the_dst_changes() {
        let set = flow(
            r#"
start: hours
global_keys:
  "9": { goto: crisis }
schedules:
  early:
    hours: { daily: "01:00-02:00" }
nodes:
  hours:
    switch:
      on: schedule:early
      cases: { open: open, closed: closed }
      default: closed
  open: { set: { topic: open }, next: out }
  closed: { set: { topic: closed }, next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
        );
        let topic = |when: &str| {
            let mut c = call(&set, OTTAWA, when);
            c.start();
            c.attributes()["topic"].clone()
        };
        // 2026-11-01: clocks fall back at 02:00 EDT to 01:00 EST.
        assert_eq!(topic("2026-11-01T05:30:00Z"), "open", "01:30 EDT");
        assert_eq!(topic("2026-11-01T06:30:00Z"), "open", "01:30 EST, again");
        assert_eq!(topic("2026-11-01T07:30:00Z"), "closed", "02:30 EST");
        // 2026-03-08: clocks spring forward at 02:00 EST to 03:00 EDT.
        assert_eq!(topic("2026-03-08T06:30:00Z"), "open", "01:30 EST");
        assert_eq!(topic("2026-03-08T07:30:00Z"), "closed", "03:30 EDT");
        // The same UTC hour is a different local hour in summer and winter.
        assert_eq!(topic("2026-07-01T05:30:00Z"), "open", "01:30 EDT");
        assert_eq!(topic("2026-01-15T05:30:00Z"), "closed", "00:30 EST");
    }

    #[test]
    fn play_hangup_goto_and_a_sub_flow_that_returns() {
        let set = set_of(&[
            (
                "main.yaml",
                r#"
start: hello
global_keys:
  "9": { goto: crisis }
nodes:
  hello: { play: [welcome], next: sub }
  sub: { include: ask_topic, next: jump }
  jump: { goto: decide }
  decide:
    switch:
      on: var:topic
      cases: { food: bye }
      default: out
  bye: { hangup: [goodbye] }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
            ),
            (
                "topic.yaml",
                r#"
subflow: ask_topic
start: topic_q
nodes:
  topic_q:
    menu: { prompt: [topic_menu], options: { "2": food }, default: done }
  food: { set: { topic: food }, next: done }
  done: { return: true }
"#,
            ),
        ]);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::PromptsFinished);
        assert_eq!(steps(&outs), ["sub", "topic_q"]);
        let outs = c.handle(Input::Key('2'));
        assert_eq!(steps(&outs), ["food", "done", "jump", "decide", "bye"]);
        assert_eq!(played(&outs), ["en/goodbye", "fr/goodbye"]);
        assert!(!outs.contains(&Output::Hangup), "after the goodbye");
        let outs = c.handle(Input::PromptsFinished);
        assert_eq!(outs, [Output::Hangup]);
        assert!(c.is_done());
    }

    #[test]
    fn external_and_named_centre_routes() {
        let set = flow(
            r#"
start: m
global_keys:
  "9": { goto: crisis }
nodes:
  m:
    menu:
      prompt: [welcome]
      options: { "1": ext, "2": win }
      default: win
  ext: { route: { to: "sip:pbx@partner.example.org", priority: high } }
  win: { route: { to: "centre:windsor" } }
  crisis: { route: { to: crisis } }
"#,
        );
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
        assert_eq!(
            r.target,
            Target::External("sip:pbx@partner.example.org".into())
        );
        assert_eq!(r.priority, Priority::High);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('2'));
        assert_eq!(
            route(&outs).unwrap().target,
            Target::Centre("windsor".into())
        );
        assert_eq!(c.attributes()["centre"], "windsor");
    }

    const EMERGENCY_FLOW: &str = r#"
start: greeting
global_keys:
  "9": { goto: crisis }
emergency:
  after: greeting
  announcement: [emergency_announcement]
  option: { key: "8", goto: help, prompt: [emergency_option], menus: [topic] }
nodes:
  greeting:
    menu: { prompt: [welcome], options: { "1": english }, default: english }
  english: { language: en, next: topic }
  topic:
    menu: { prompt: [topic_menu], options: { "1": out }, default: out }
  help: { play: [emergency_info], next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#;

    #[test]
    fn emergency_mode_announces_after_the_greeting_and_offers_its_option() {
        let set = flow(EMERGENCY_FLOW);
        let mut c = call_em(&set, OTTAWA, WEEKDAY, true);
        let outs = c.start();
        assert_eq!(
            played(&outs),
            ["en/welcome", "fr/welcome"],
            "not before the greeting"
        );
        let outs = c.handle(Input::Key('1'));
        assert_eq!(
            played(&outs),
            [
                "en/emergency_announcement",
                "en/topic_menu",
                "en/emergency_option"
            ]
        );
        let outs = c.handle(Input::Key('8'));
        assert_eq!(steps(&outs), ["help"]);
        assert_eq!(played(&outs), ["en/emergency_info"]);
    }

    #[test]
    fn the_crisis_key_skips_the_emergency_announcement() {
        let set = flow(EMERGENCY_FLOW);
        let mut c = call_em(&set, OTTAWA, WEEKDAY, true);
        c.start();
        let outs = c.handle(Input::Key('9'));
        assert_eq!(route(&outs).unwrap().target, Target::Crisis);
        assert!(played(&outs).is_empty(), "{outs:?}");
    }

    #[test]
    fn with_emergency_mode_off_the_option_and_announcement_vanish() {
        let set = flow(EMERGENCY_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        let outs = c.handle(Input::Key('1'));
        assert_eq!(played(&outs), ["en/topic_menu"]);
        let outs = c.handle(Input::Key('8'));
        assert_eq!(
            played(&outs),
            ["en/no_match", "en/topic_menu"],
            "8 is no choice"
        );
    }

    #[test]
    fn emergency_mode_switched_on_during_a_call_counts_from_the_next_menu() {
        let set = flow(EMERGENCY_FLOW);
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        c.handle(Input::Emergency(true));
        let outs = c.handle(Input::Key('1'));
        assert_eq!(
            played(&outs),
            [
                "en/emergency_announcement",
                "en/topic_menu",
                "en/emergency_option"
            ]
        );
        c.handle(Input::Emergency(false));
        let outs = c.handle(Input::Key('8'));
        assert_eq!(played(&outs)[0], "en/no_match");
    }

    #[test]
    fn the_shipped_flow_routes_an_ottawa_caller_and_a_crisis_caller() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let set = Arc::new(
            FlowSet::load(&dir.join("flows"), &dir.join("prompts"))
                .unwrap_or_else(|d| panic!("{d}")),
        );
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        c.handle(Input::Key('1'));
        let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
        assert_eq!(r.target, Target::Centre("ottawa".into()));
        let mut c = call(&set, OTTAWA, WEEKDAY);
        c.start();
        assert_eq!(
            route(&c.handle(Input::Key('9'))).unwrap().target,
            Target::Crisis
        );
    }
}
