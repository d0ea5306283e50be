//! What joins the engine to the CTI server: flow versions recorded as they
//! go live, and emergency mode read from the store's switch. (Navigators'
//! commands go to the queues, `queues/`.)

use std::sync::Arc;
use std::time::Duration;

use frontdoor_cti::Cti;
use tokio::sync::watch;

use crate::flows::Flows;

/// How often the emergency switch (set by ops through the API) is read.
const EMERGENCY_POLL: Duration = Duration::from_millis(500);

/// Start the tasks that connect `cti` and the engine; returns emergency
/// mode for the calls to follow.
pub fn wire(cti: &Cti, flows: &Arc<Flows>) -> watch::Receiver<bool> {
    // Every flow version that goes live: the flow_versions table, the audit
    // log and /healthz.
    let mut active = flows.subscribe();
    let recorder = cti.clone();
    tokio::spawn(async move {
        loop {
            let hash = active.borrow_and_update().set.hash.clone();
            if let Err(error) = recorder.activate_flow(&hash, &hash, "system").await {
                tracing::error!(%error, version = %hash, "cannot record the flow version");
                recorder.status().count_store_error();
            }
            if active.changed().await.is_err() {
                return;
            }
        }
    });

    let (tx, rx) = watch::channel(cti.emergency_mode());
    let switch = cti.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EMERGENCY_POLL);
        loop {
            tick.tick().await;
            let on = switch.emergency_mode();
            if tx.send_if_modified(|v| std::mem::replace(v, on) != on) {
                tracing::warn!(on, "emergency mode switched");
            }
            if tx.is_closed() {
                return;
            }
        }
    });

    rx
}
