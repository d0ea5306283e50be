//! The properties of a whole flow set: every prompt recorded in both
//! languages, every node reachable, no loop without the caller, every menu
//! ending in a route, the crisis key from the first prompt, no key clashes.

use std::collections::HashSet;

use super::compile::{Compiler, loc_of};
use super::{FlowSet, Kind, Lang, NodeId, RouteTo, Sources};
use crate::model;

impl Compiler {
    pub(super) fn check_prompts(&mut self, src: &Sources, set: &FlowSet) {
        let refs = std::mem::take(&mut self.prompt_refs);
        for (file, loc, id, default_of) in refs {
            let why = default_of.map(|d| format!("; {d}")).unwrap_or_default();
            if !self.catalog_failed && !set.catalog.contains_key(&id) {
                self.at(
                    file,
                    loc,
                    format!("prompt `{id}` is not in {}{why}", src.catalog.0.display()),
                );
                continue;
            }
            for lang in Lang::ALL {
                if !src.recordings.contains(&(lang, id.clone())) {
                    let wav = src
                        .prompts_dir
                        .join(lang.as_str())
                        .join(format!("{id}.wav"));
                    self.at(
                        file,
                        loc,
                        format!(
                            "prompt `{id}` has no {} recording ({}){why}",
                            lang.name(),
                            wav.display()
                        ),
                    );
                }
            }
        }
    }

    /// The properties every flow set must have: everything is reachable,
    /// no loop without the caller, every menu ends in a route, the crisis
    /// key works from the first prompt and on hold, keys do not collide.
    /// Returns the crisis key, if the flow has one.
    pub(super) fn check_graph(
        &mut self,
        set: &FlowSet,
        main_file: usize,
        main: &model::FlowFile,
    ) -> Option<char> {
        let n = set.nodes.len();
        // Edges without caller input, and edges after input.
        let mut quiet: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        let mut all: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (i, node) in set.nodes.iter().enumerate() {
            match &node.kind {
                Kind::Play { next, .. } | Kind::Language { next, .. } | Kind::Set { next, .. } => {
                    quiet[i].push(*next)
                }
                Kind::Goto(t) => quiet[i].push(*t),
                Kind::Switch { cases, default, .. } => {
                    quiet[i].extend(cases.iter().map(|c| c.1));
                    quiet[i].push(*default);
                }
                Kind::Include { start, next } => {
                    quiet[i].push(*start);
                    quiet[i].push(*next);
                }
                Kind::Menu(m) => {
                    all[i].extend(m.options.iter().map(|o| o.1));
                    // The default is taken after the tries, without a key.
                    all[i].push(m.default);
                }
                Kind::Collect(c) => {
                    all[i].push(c.next);
                    all[i].push(c.fail);
                }
                Kind::Route { .. } | Kind::Hangup { .. } | Kind::Return => {}
            }
            let q = quiet[i].clone();
            all[i].extend(q);
        }
        for gk in &set.global_keys {
            for (i, a) in all.iter_mut().enumerate() {
                if i == gk.from {
                    a.push(gk.goto);
                }
            }
        }
        if let Some(e) = &set.emergency
            && let Some(o) = &e.option
        {
            for &m in &o.menus {
                all[m].push(o.goto);
            }
        }

        // Reachability from the start.
        let mut seen = vec![false; n];
        let mut stack = vec![set.start];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(all[i].iter().copied());
        }
        // A sub-flow nothing includes is one problem, not one per node.
        let mut unused_files = HashSet::new();
        for (file, name, loc, start) in self.subflow_pos.clone() {
            if !seen[start] {
                unused_files.insert(file);
                self.at(
                    file,
                    loc,
                    format!("sub-flow `{name}` is never included (no reachable `include: {name}`)"),
                );
            }
        }
        for (i, reached) in seen.iter().enumerate() {
            if !reached && !unused_files.contains(&self.node_pos[i].0) {
                let (file, loc) = self.node_pos[i];
                self.at(
                    file,
                    loc,
                    format!("node `{}` is never reached from the start", set.nodes[i].id),
                );
            }
        }

        // Loops with no caller input: cycles in the quiet graph.
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut reported = HashSet::new();
        for root in 0..n {
            self.quiet_cycles(
                set,
                &quiet,
                root,
                &mut state,
                &mut Vec::new(),
                &mut reported,
            );
        }

        // Every menu's default, every switch and every quiet path ends in a
        // route (or a deliberate hang-up), never nowhere.
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Menu(m) = &node.kind
                && !ends_in_route(set, &quiet, m.default)
            {
                let (file, node_loc) = self.node_pos[i];
                let loc = self.menu_pos.get(&i).map_or(node_loc, |p| p.1);
                self.at(
                    file,
                    loc,
                    format!(
                        "menu `{}`: its default `{}` does not lead to a route; a caller who presses nothing must still reach someone",
                        node.id, set.nodes[m.default].id
                    ),
                );
            }
        }

        // A caller who enters no digits is not hung up on either.
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Collect(c) = &node.kind
                && !ends_in_route(set, &quiet, c.fail)
            {
                let (file, node_loc) = self.node_pos[i];
                let loc = self.collect_pos.get(&i).copied().unwrap_or(node_loc);
                self.at(
                    file,
                    loc,
                    format!(
                        "collect `{}`: when its tries run out it goes to `{}`, which does not lead to a route; a caller who enters nothing must still reach someone (give it `fail:`)",
                        node.id, set.nodes[c.fail].id
                    ),
                );
            }
        }

        // The crisis key: a global key from the start whose target routes
        // to the crisis queue without further input.
        let crisis_key = set
            .global_keys
            .iter()
            .find(|gk| gk.from == set.start && routes_to_crisis(set, &quiet, gk.goto))
            .map(|gk| gk.key);
        let late_crisis_key = set
            .global_keys
            .iter()
            .position(|gk| routes_to_crisis(set, &quiet, gk.goto));
        if let Some(key) = crisis_key {
            // The crisis fast-path works from the first prompt, and on hold.
            self.check_hold(set, key);
        } else if let Some(j) = late_crisis_key {
            // A key to crisis exists but starts working later: callers in
            // crisis must not have to sit through the first menu.
            let gk = &set.global_keys[j];
            let loc = self
                .global_key_pos
                .get(j)
                .map_or(loc_of(&main.start), |p| p.1.unwrap_or(p.0));
            self.at(
                main_file,
                loc,
                format!(
                    "the crisis key {} works only from `{}`: it must work from the start (`{}`), from the very first prompt; remove `from:` or name the start",
                    gk.key, set.nodes[gk.from].id, set.nodes[set.start].id
                ),
            );
        } else {
            let loc = main
                .global_keys
                .0
                .first()
                .map(|(k, _)| loc_of(k))
                .unwrap_or(loc_of(&main.start));
            self.at(
                main_file,
                loc,
                "no crisis key: the main flow needs a global key that works from its start and routes to crisis (e.g. global_keys: {\"9\": {goto: crisis}})",
            );
        }

        // Duplicate keys: a menu option cannot reuse a global key active
        // there or the emergency key of that menu.
        let globals: Vec<char> = set.global_keys.iter().map(|g| g.key).collect();
        let emergency_key = set
            .emergency
            .as_ref()
            .and_then(|e| e.option.as_ref())
            .map(|o| (o.key, o.menus.clone()));
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Menu(m) = &node.kind {
                for (j, (k, _)) in m.options.iter().enumerate() {
                    if *k == '?' {
                        continue; // not a phone key, reported already
                    }
                    let (file, node_loc) = self.node_pos[i];
                    let loc = self
                        .menu_pos
                        .get(&i)
                        .and_then(|p| p.0.get(j).copied())
                        .unwrap_or(node_loc);
                    if globals.contains(k) {
                        self.at(
                            file,
                            loc,
                            format!(
                                "menu `{}` uses key {k}, a global key: callers pressing {k} always get the global action",
                                node.id
                            ),
                        );
                    }
                    if let Some((ek, menus)) = &emergency_key
                        && ek == k
                        && menus.contains(&i)
                    {
                        self.at(
                            file,
                            loc,
                            format!(
                                "menu `{}` uses key {k}, the emergency option's key in this menu",
                                node.id
                            ),
                        );
                    }
                }
            }
        }
        if let Some(e) = &set.emergency
            && let Some(o) = &e.option
        {
            let (key_loc, menu_locs) = self
                .emergency_pos
                .clone()
                .unwrap_or((loc_of(&main.start), Vec::new()));
            if o.key != '?' && globals.contains(&o.key) {
                self.at(
                    main_file,
                    key_loc,
                    format!(
                        "the emergency option uses key {k}, a global key: callers pressing {k} always get the global action",
                        k = o.key
                    ),
                );
            }
            for (j, &m) in o.menus.iter().enumerate() {
                if !matches!(set.nodes[m].kind, Kind::Menu(_)) {
                    let loc = menu_locs.get(j).copied().unwrap_or(key_loc);
                    self.at(
                        main_file,
                        loc,
                        format!(
                            "emergency option lists `{}`, which is not a menu",
                            set.nodes[m].id
                        ),
                    );
                }
            }
        }
        crisis_key
    }

    /// What a waiting caller can press: the crisis key works on hold too
    /// (the logic moves the call to the crisis queue), so no route's
    /// callback key may be the crisis key, or a caller in crisis on hold
    /// would be called back later instead.
    fn check_hold(&mut self, set: &FlowSet, crisis_key: char) {
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Route {
                callback: Some(key),
                ..
            } = &node.kind
                && *key == crisis_key
            {
                let (file, node_loc) = self.node_pos[i];
                let loc = self.callback_pos.get(&i).copied().unwrap_or(node_loc);
                self.at(
                    file,
                    loc,
                    format!(
                        "route `{}`: its callback key {key} is the crisis key: a caller in crisis on hold must reach the crisis queue with it; give the route another `callback_key:`",
                        node.id
                    ),
                );
            }
        }
    }

    pub(super) fn quiet_cycles(
        &mut self,
        set: &FlowSet,
        quiet: &[Vec<NodeId>],
        at: NodeId,
        state: &mut [u8],
        path: &mut Vec<NodeId>,
        reported: &mut HashSet<NodeId>,
    ) {
        match state[at] {
            2 => return,
            1 => {
                let start = path.iter().position(|&p| p == at).unwrap_or(0);
                let cycle = &path[start..];
                if cycle.iter().any(|c| reported.contains(c)) {
                    return;
                }
                reported.extend(cycle.iter().copied());
                let names: Vec<_> = cycle.iter().map(|&c| set.nodes[c].id.as_str()).collect();
                let (file, loc) = self.node_pos[at];
                self.at(
                    file,
                    loc,
                    format!(
                        "loop with no caller input: {} -> {} (put a menu in it)",
                        names.join(" -> "),
                        set.nodes[at].id
                    ),
                );
                return;
            }
            _ => {}
        }
        state[at] = 1;
        path.push(at);
        for &next in &quiet[at] {
            self.quiet_cycles(set, quiet, next, state, path, reported);
        }
        path.pop();
        state[at] = 2;
    }
}

/// Every quiet path from `from` ends in a route (hang-ups and sub-flow
/// returns count as ends too; a menu or collect on the way is the caller's
/// next chance and is checked on its own).
fn ends_in_route(set: &FlowSet, quiet: &[Vec<NodeId>], from: NodeId) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    let mut route = false;
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        match &set.nodes[i].kind {
            Kind::Route { .. } => route = true,
            // A menu or digit entry is the caller's next chance (checked on
            // its own); a sub-flow's return goes on at its include (checked
            // there).
            Kind::Menu(_) | Kind::Collect(_) | Kind::Return => route = true,
            Kind::Hangup { .. } => return false,
            _ => {}
        }
        stack.extend(quiet[i].iter().copied());
    }
    route
}

fn routes_to_crisis(set: &FlowSet, quiet: &[Vec<NodeId>], from: NodeId) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    let mut crisis = false;
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        match &set.nodes[i].kind {
            Kind::Route { to, .. } => {
                if *to != RouteTo::Crisis {
                    return false;
                }
                crisis = true;
            }
            Kind::Menu(_) | Kind::Collect(_) | Kind::Hangup { .. } => return false,
            _ => {}
        }
        stack.extend(quiet[i].iter().copied());
    }
    crisis
}
