//! Routes: the target (a centre, the region's centre by its hours and
//! languages, the crisis queue, an outside line), the call attributes it
//! sets, and the prompts before the queue.

use super::{Call, Output, Route, Target, Wait};
use crate::fact::Fact;
use crate::flowset::{HoldKeys, Priority, RouteTo};

impl Call {
    pub(super) fn route(
        &mut self,
        to: &RouteTo,
        priority: Priority,
        prompt: &[String],
        callback: Option<char>,
    ) {
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
            self.learn(Fact::Centre(id));
        }
        if target == Target::Crisis {
            self.learn(Fact::Crisis(true));
        }
        self.play(prompt);
        self.wait = Wait::Done;
        let callback = callback.filter(|_| matches!(target, Target::Centre(_)));
        self.out.push(Output::Route(Route {
            callback: callback.is_some(),
            hold: HoldKeys {
                crisis: self.set.crisis_key,
                callback,
            },
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
    pub(super) fn centre_for_region(&self, region: Option<&str>) -> (String, String) {
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
