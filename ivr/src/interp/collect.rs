//! Digit entry: keys up to the maximum or the terminator, a timer between
//! digits, tries when too few came, then `fail`.

use super::{Call, Output, Wait};
use crate::fact::Fact;
use crate::flowset::{Kind, NodeId};

impl Call {
    pub(super) fn present_collect(&mut self, node: NodeId, attempt: u32, sorry: Vec<String>) {
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

    pub(super) fn collect_key(&mut self, node: NodeId, attempt: u32, k: char) {
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

    pub(super) fn finish_collect(&mut self, node: NodeId, attempt: u32) {
        let set = self.set.clone();
        let Kind::Collect(c) = &set.nodes[node].kind else {
            return;
        };
        self.stop_timer();
        if self.digits.len() >= c.min as usize {
            let digits = std::mem::take(&mut self.digits);
            self.learn(Fact::from_flow(&c.var, &digits));
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
}
