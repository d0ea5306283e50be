//! Compiling one node of each kind, with the checks that belong to it.

use serde_saphyr::Location;

use super::compile::{
    Compiler, Ctx, DEFAULT_NO_INPUT, DEFAULT_NO_MATCH, DEFAULT_TIMEOUT_S, loc_of,
};
use super::{
    Collect, DEFAULT_CALLBACK_KEY, Kind, Lang, Menu, NodeId, Priority, RouteTo, SwitchOn,
    edit_distance, looks_like, valid_id,
};
use crate::model::{self, NodeDef, Text};

impl Compiler {
    pub(super) fn node(&mut self, file: usize, name: &Text, def: &NodeDef, ctx: &Ctx) -> Kind {
        let kinds = [
            ("play", def.play.is_some()),
            ("menu", def.menu.is_some()),
            ("language", def.language.is_some()),
            ("collect", def.collect.is_some()),
            ("switch", def.switch.is_some()),
            ("set", def.set.is_some()),
            ("route", def.route.is_some()),
            ("hangup", def.hangup.is_some()),
            ("goto", def.goto.is_some()),
            ("include", def.include.is_some()),
            ("return", def.ret.is_some()),
        ];
        let present: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
        if present.len() != 1 {
            let msg = if present.is_empty() {
                format!(
                    "node `{}` does nothing: give it one of play, menu, language, collect, switch, set, route, hangup, goto, include, return",
                    name.value
                )
            } else {
                format!(
                    "node `{}` has {}: a node does one thing; split it and link the parts with next",
                    name.value,
                    present.join(" and ")
                )
            };
            self.graph_broken = true;
            self.at(file, loc_of(name), msg);
            return Kind::Return;
        }
        let kind = present[0];
        let needs_next = matches!(kind, "play" | "language" | "collect" | "set" | "include");
        let next = match (&def.next, needs_next) {
            (Some(n), true) => self.node_ref(file, n),
            (None, true) => {
                self.graph_broken = true;
                self.at(
                    file,
                    loc_of(name),
                    format!(
                        "node `{}` ({kind}) needs `next:`: where the call goes after it",
                        name.value
                    ),
                );
                0
            }
            (Some(n), false) => {
                self.at(
                    file,
                    loc_of(n),
                    format!("a {kind} node has no `next:` (it decides where the call goes itself)"),
                );
                0
            }
            (None, false) => 0,
        };
        if let Some(p) = &def.play {
            if p.is_empty() {
                self.at(file, loc_of(name), "play needs at least one prompt");
            }
            return Kind::Play {
                prompts: self.prompts(file, p),
                next,
            };
        }
        if let Some(m) = &def.menu {
            let mut options: Vec<(char, NodeId)> = Vec::new();
            for (i, (key, target)) in m.options.0.iter().enumerate() {
                let k = self.key(file, key);
                // `1:` and `"1":` are two YAML keys but one phone key.
                if let Some(first) = m.options.0[..i]
                    .iter()
                    .zip(&options)
                    .find(|(_, (c, _))| *c == k && k != '?')
                {
                    self.at(
                        file,
                        loc_of(key),
                        format!(
                            "menu `{}` has key {k} twice: first for `{}`",
                            name.value, first.0.1.value
                        ),
                    );
                }
                let to = self.node_ref(file, target);
                options.push((k, to));
            }
            if m.options.0.is_empty() {
                self.at(file, loc_of(name), "a menu needs options");
            }
            return Kind::Menu(Menu {
                prompt: self.prompts(file, &m.prompt),
                options,
                timeout: self.seconds(file, &m.timeout_s, DEFAULT_TIMEOUT_S),
                tries: self.tries(file, &m.tries),
                no_input: self.prompts_or(file, &m.no_input, DEFAULT_NO_INPUT, name),
                no_match: self.prompts_or(file, &m.no_match, DEFAULT_NO_MATCH, name),
                default: self.node_ref(file, &m.default),
            });
        }
        if let Some(l) = &def.language {
            let lang = Lang::parse(&l.value).unwrap_or_else(|| {
                self.at(
                    file,
                    loc_of(l),
                    format!("unknown language `{}`: use en or fr", l.value),
                );
                Lang::En
            });
            return Kind::Language { lang, next };
        }
        if let Some(c) = &def.collect {
            let min = c.min.as_ref().map(|m| m.value).unwrap_or(1);
            if c.max.value == 0 || c.max.value > 32 || min > c.max.value {
                self.at(
                    file,
                    loc_of(&c.max),
                    format!(
                        "collect lengths min {min} max {}: need 1 <= min <= max <= 32",
                        c.max.value
                    ),
                );
            }
            let terminator = match &c.terminator {
                Some(t) => Some(self.key(file, t)),
                None => Some('#'),
            };
            if !valid_id(&c.var.value) {
                self.at(
                    file,
                    loc_of(&c.var),
                    format!(
                        "variable name `{}`: use lowercase letters, digits and _",
                        c.var.value
                    ),
                );
            }
            let fail = match &c.fail {
                Some(f) => self.node_ref(file, f),
                None => next,
            };
            return Kind::Collect(Collect {
                var: c.var.value.clone(),
                prompt: self.prompts(file, &c.prompt),
                min,
                max: c.max.value,
                terminator,
                timeout: self.seconds(file, &c.timeout_s, DEFAULT_TIMEOUT_S),
                tries: self.tries(file, &c.tries),
                no_input: self.prompts_or(file, &c.no_input, DEFAULT_NO_INPUT, name),
                next,
                fail,
            });
        }
        if let Some(s) = &def.switch {
            return self.switch(file, s, ctx);
        }
        if let Some(set) = &def.set {
            let mut attrs = Vec::new();
            for (k, v) in &set.0 {
                self.check_set(file, k, v, ctx);
                attrs.push((k.value.clone(), v.value.clone()));
            }
            return Kind::Set { attrs, next };
        }
        if let Some(r) = &def.route {
            let to = match r.to.value.as_str() {
                "region" => RouteTo::Region,
                "crisis" => RouteTo::Crisis,
                v if v.starts_with("centre:") => {
                    let id = &v["centre:".len()..];
                    if ctx.centres_known && !ctx.centres.iter().any(|c| c.id == id) {
                        let known: Vec<_> = ctx.centres.iter().map(|c| c.id.as_str()).collect();
                        self.at(
                            file,
                            loc_of(&r.to),
                            format!(
                                "unknown centre `{id}`: centres.yaml has {}",
                                known.join(", ")
                            ),
                        );
                    }
                    RouteTo::Centre(id.to_owned())
                }
                v if v.starts_with("sip:") || v.starts_with("sips:") => {
                    let path = self.files[file].clone();
                    self.sip_uri(&path, &r.to);
                    RouteTo::External(v.to_owned())
                }
                v => {
                    self.at(
                        file,
                        loc_of(&r.to),
                        format!(
                            "unknown route target `{v}`: use region, crisis, centre:ID or a sip: URI"
                        ),
                    );
                    RouteTo::Region
                }
            };
            let priority = match r.priority.as_ref().map(|p| p.value.as_str()) {
                None if to == RouteTo::Crisis => Priority::Crisis,
                None | Some("normal") => Priority::Normal,
                Some("high") => Priority::High,
                Some("crisis") => Priority::Crisis,
                Some(other) => {
                    let p = r.priority.as_ref().map(loc_of).unwrap_or(Location::UNKNOWN);
                    self.at(
                        file,
                        p,
                        format!("unknown priority `{other}`: use normal, high or crisis"),
                    );
                    Priority::Normal
                }
            };
            let callback = match &r.callback {
                Some(cb) if cb.value && !matches!(to, RouteTo::Region | RouteTo::Centre(_)) => {
                    self.at(
                        file,
                        loc_of(cb),
                        "callback: a callback is offered only in a centre's queue (to: region or centre:ID), never to crisis calls or outside lines",
                    );
                    false
                }
                Some(cb) => cb.value,
                None => false,
            };
            let callback_key = match &r.callback_key {
                Some(k) => {
                    let key = self.key(file, k);
                    if !callback {
                        self.at(
                            file,
                            loc_of(k),
                            "callback_key: this route offers no callback (add `callback: true`, or remove the key)",
                        );
                    }
                    key
                }
                None => DEFAULT_CALLBACK_KEY,
            };
            if callback && let Some(&(id, _, _)) = self.index.get(&name.value) {
                // Where a clash with the crisis key is reported: the key, or
                // the `callback: true` that offers the default one.
                let at = r
                    .callback_key
                    .as_ref()
                    .map(loc_of)
                    .or(r.callback.as_ref().map(loc_of))
                    .unwrap_or(loc_of(name));
                self.callback_pos.insert(id, at);
            }
            return Kind::Route {
                to,
                priority,
                prompt: self.prompts(file, &r.prompt),
                callback: callback.then_some(callback_key),
            };
        }
        if let Some(h) = &def.hangup {
            return Kind::Hangup {
                prompts: self.prompts(file, h),
            };
        }
        if let Some(g) = &def.goto {
            return Kind::Goto(self.node_ref(file, g));
        }
        if let Some(inc) = &def.include {
            let Some(&start) = self.subflows.get(&inc.value) else {
                self.graph_broken = true;
                let hint = self
                    .subflows
                    .keys()
                    .filter(|k| looks_like(k, &inc.value))
                    .min_by_key(|k| edit_distance(k, &inc.value))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_else(|| self.unparsed_hint());
                self.at(
                    file,
                    loc_of(inc),
                    format!("unknown sub-flow `{}`{hint}", inc.value),
                );
                return Kind::Return;
            };
            return Kind::Include { start, next };
        }
        if let Some(r) = &def.ret {
            if !r.value {
                self.at(
                    file,
                    loc_of(r),
                    "`return: false` does nothing: write `return: true`, or use another node kind",
                );
            }
            if !self.is_subflow[file] {
                self.graph_broken = true;
                self.at(
                    file,
                    loc_of(r),
                    "`return` is only for sub-flows (files with `subflow:`)",
                );
            }
            return Kind::Return;
        }
        Kind::Return
    }

    pub(super) fn check_set(&mut self, file: usize, k: &Text, v: &Text, ctx: &Ctx) {
        match k.value.as_str() {
            "region" if ctx.centres_known && !ctx.regions.contains(&v.value) => {
                self.at(
                    file,
                    loc_of(v),
                    format!(
                        "unknown region `{}`: centres.yaml serves {}",
                        v.value,
                        ctx.regions.join(", ")
                    ),
                );
            }
            "language" | "crisis" | "caller" | "region_source" | "withheld" => self.at(
                file,
                loc_of(k),
                format!(
                    "`{}` is set by the engine (use a language or route node)",
                    k.value
                ),
            ),
            name if !valid_id(name) => self.at(
                file,
                loc_of(k),
                format!("attribute name `{name}`: use lowercase letters, digits and _"),
            ),
            _ => {}
        }
    }

    pub(super) fn switch(&mut self, file: usize, s: &model::SwitchDef, ctx: &Ctx) -> Kind {
        let on = s.on.value.as_str();
        let (switch_on, allowed): (SwitchOn, Option<Vec<String>>) = match on {
            "region" => {
                let mut r = ctx.regions.clone();
                r.push("unknown".into());
                (SwitchOn::Region, Some(r).filter(|_| ctx.centres_known))
            }
            "language" => (
                SwitchOn::Language,
                Some(vec!["en".into(), "fr".into(), "none".into()]),
            ),
            "emergency" => (SwitchOn::Emergency, Some(vec!["on".into(), "off".into()])),
            "withheld" => (SwitchOn::Withheld, Some(vec!["yes".into(), "no".into()])),
            v if v.starts_with("schedule:") => {
                let name = &v["schedule:".len()..];
                if !ctx.schedules.contains_key(name)
                    && ctx.centres_known
                    && !ctx.centres.iter().any(|c| c.id == name)
                {
                    self.at(
                        file,
                        loc_of(&s.on),
                        format!(
                            "unknown schedule `{name}`: name a schedule of this flow or a centre"
                        ),
                    );
                }
                (
                    SwitchOn::Schedule(name.to_owned()),
                    Some(vec!["open".into(), "closed".into()]),
                )
            }
            v if v.starts_with("var:") => (SwitchOn::Var(v["var:".len()..].to_owned()), None),
            v => {
                self.at(
                    file,
                    loc_of(&s.on),
                    format!(
                        "cannot switch on `{v}`: use region, language, emergency, withheld, schedule:NAME or var:NAME"
                    ),
                );
                (SwitchOn::Var(String::new()), None)
            }
        };
        let mut cases: Vec<(String, NodeId)> = Vec::new();
        for (value, target) in &s.cases.0 {
            // `1:` and `"1":` are two YAML keys but one value.
            if cases.iter().any(|c| c.0 == value.value) {
                self.at(
                    file,
                    loc_of(value),
                    format!("switch case `{}` is given twice", value.value),
                );
            }
            if let Some(allowed) = &allowed
                && !allowed.contains(&value.value)
            {
                self.at(
                    file,
                    loc_of(value),
                    format!(
                        "`{}` never matches `{on}`: its values are {}",
                        value.value,
                        allowed.join(", ")
                    ),
                );
            }
            let to = self.node_ref(file, target);
            cases.push((value.value.clone(), to));
        }
        Kind::Switch {
            on: switch_on,
            cases,
            default: self.node_ref(file, &s.default),
        }
    }
}
