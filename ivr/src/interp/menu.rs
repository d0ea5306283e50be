//! Menus: a key barges in, picks an option (or the emergency option), or
//! counts as a try; silence counts as a try; the default ends the tries. A
//! global key in force wins over every menu.

use super::{Call, Output, Wait};
use crate::flowset::{Kind, NodeId};

impl Call {
    pub(super) fn key(&mut self, k: char) {
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

    pub(super) fn emergency_option(&self, menu: NodeId, k: char) -> Option<NodeId> {
        let o = self.set.emergency.as_ref()?.option.as_ref()?;
        (self.emergency && o.key == k && o.menus.contains(&menu)).then_some(o.goto)
    }

    pub(super) fn retry_menu(&mut self, node: NodeId, attempt: u32, sorry: Vec<String>, why: &str) {
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

    pub(super) fn present_menu(&mut self, node: NodeId, attempt: u32, sorry: Vec<String>) {
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
}
