//! What joins the engine to the CTI server: flow versions recorded as they
//! go live (with the desk they give navigators: centres, regions, places
//! to transfer to), and emergency mode read from the store's switch. (Navigators'
//! commands go to the queues, `queues/`.)

use std::sync::Arc;
use std::time::Duration;

use frontdoor_cti::Cti;
use frontdoor_cti::protocol::{Desk, DeskCentre, DeskRegion, Destination};
use frontdoor_ivr::FlowSet;
use tokio::sync::watch;

use crate::flows::Flows;

/// How often the emergency switch (set by ops through the API) is read.
const EMERGENCY_POLL: Duration = Duration::from_millis(500);

/// Start the tasks that connect `cti` and the engine; returns emergency
/// mode for the calls to follow, and its incident tag (calls arriving
/// while it is set are recorded with it).
pub fn wire(
    cti: &Cti,
    flows: &Arc<Flows>,
    configured: &[crate::config::TransferDestination],
) -> (
    watch::Receiver<EmergencyNow>,
    watch::Receiver<Option<String>>,
) {
    let configured: Vec<Destination> = configured
        .iter()
        .enumerate()
        .map(|(i, d)| Destination {
            id: format!("configured_{}", i + 1),
            name: d.name.clone(),
            uri: d.uri.clone(),
            centre: None,
        })
        .collect();
    // Every flow version that goes live: the flow_versions table, the audit
    // log and /healthz.
    let mut active = flows.subscribe();
    let recorder = cti.clone();
    tokio::spawn(async move {
        loop {
            let now = active.borrow_and_update().clone();
            let set = now.set.clone();
            let hash = set.hash.clone();
            let mut desk = desk_of(&set);
            desk.destinations.extend(configured.iter().cloned());
            recorder.publish_desk(desk);
            // Its files first: a version listed can always be rolled back to.
            let kept = recorder.keep_flow_files(&hash, &now.files).await;
            let recorded = match kept {
                Ok(()) => {
                    recorder
                        .activate_flow(&hash, &hash, &now.activated_by)
                        .await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = recorded {
                tracing::error!(%error, version = %hash, "cannot record the flow version");
                recorder.status().count_store_error();
            }
            if active.changed().await.is_err() {
                return;
            }
        }
    });

    let now = |cti: &Cti| EmergencyNow {
        on: cti.emergency_mode(),
        regions: cti.emergency_regions(),
    };
    let (tx, rx) = watch::channel(now(cti));
    let (incident_tx, incident_rx) = watch::channel(cti.incident());
    let switch = cti.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EMERGENCY_POLL);
        loop {
            tick.tick().await;
            let state = now(&switch);
            let incident = switch.incident();
            incident_tx.send_if_modified(|v| {
                let changed = *v != incident;
                *v = incident.clone();
                changed
            });
            let (on, regions) = (state.on, state.regions.join(","));
            if tx.send_if_modified(|v| std::mem::replace(v, state.clone()) != state) {
                tracing::warn!(on, ?incident, regions, "emergency mode switched");
            }
            if tx.is_closed() {
                return;
            }
        }
    });

    (rx, incident_rx)
}

/// Emergency mode as the calls see it: on or off, and for which regions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmergencyNow {
    pub on: bool,
    /// Empty: province-wide.
    pub regions: Vec<String>,
}

impl EmergencyNow {
    /// Whether it applies to a caller whose number is from `region`. A
    /// caller from no known region (withheld, out of province) hears it:
    /// they may be in the area.
    pub fn applies(&self, region: Option<&str>) -> bool {
        self.on
            && (self.regions.is_empty()
                || region.is_none_or(|r| self.regions.iter().any(|x| x == r)))
    }
}

/// What a flow set offers navigators' desks: its centres (transfer targets),
/// their regions (region corrections), and the places outside the engine a
/// call can be sent to: the crisis line and each centre's own phone system.
pub fn desk_of(set: &FlowSet) -> Desk {
    let mut desk = Desk::default();
    for c in &set.centres {
        desk.centres.push(DeskCentre {
            id: c.id.clone(),
            name: format!("{} ({})", c.name, c.city),
        });
        if !desk.regions.iter().any(|r| r.id == c.region) {
            desk.regions.push(DeskRegion {
                id: c.region.clone(),
                centre: c.id.clone(),
            });
        }
        if let Some(uri) = &c.external {
            desk.destinations.push(Destination {
                id: format!("{}_pbx", c.id),
                name: c.name.clone(),
                uri: uri.clone(),
                centre: Some(c.id.clone()),
            });
        }
    }
    if !set.crisis_external.is_empty() {
        desk.destinations.insert(
            0,
            Destination {
                id: "crisis_line".into(),
                name: set.crisis_name.clone(),
                uri: set.crisis_external.clone(),
                centre: None,
            },
        );
    }
    desk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergency_mode_for_some_regions_applies_to_their_callers_and_to_callers_from_nowhere_known()
    {
        let province = EmergencyNow {
            on: true,
            regions: vec![],
        };
        assert!(province.applies(Some("toronto")) && province.applies(None));
        let east = EmergencyNow {
            on: true,
            regions: vec!["east".into(), "north".into()],
        };
        assert!(east.applies(Some("east")) && east.applies(Some("north")));
        assert!(!east.applies(Some("toronto")));
        assert!(east.applies(None), "a withheld caller hears it");
        let off = EmergencyNow {
            on: false,
            regions: vec!["east".into()],
        };
        assert!(!off.applies(Some("east")) && !off.applies(None));
    }

    #[test]
    fn the_shipped_flows_give_every_centre_region_and_the_crisis_line() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let set = FlowSet::load(&root.join("flows"), &root.join("prompts")).expect("shipped flows");
        let desk = desk_of(&set);
        assert_eq!(desk.centres.len(), set.centres.len());
        assert!(
            desk.centres
                .iter()
                .any(|c| c.id == "ottawa" && c.name.contains("Ottawa"))
        );
        assert!(
            desk.regions
                .iter()
                .any(|r| r.id == "east" && r.centre == "ottawa")
        );
        assert_eq!(desk.destinations[0].id, "crisis_line");
        assert!(desk.destinations[0].uri.starts_with("sip:"));
    }
}
