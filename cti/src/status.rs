//! Shared status for `/healthz` and `/metrics`: gauges the binary sets,
//! counters it increments, counters this crate keeps itself, and the
//! latency histograms. `/metrics` renders them (crate::metrics).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::protocol::Disposition;

/// The flow set in service, as `/healthz` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveFlow {
    pub version: String,
    pub hash: String,
}

/// One of the carrier's trunks, as `/healthz` and the metrics report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrunkHealth {
    /// As configured (`host:port`).
    pub name: String,
    /// Calls may go out through it (reachable, and registered if it must be).
    pub up: bool,
    /// The last OPTIONS keep-alive was answered; absent before the first
    /// or without keep-alives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// `registering`, `registered` or `failed` (with `registration_code`),
    /// for a trunk we register to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_code: Option<u16>,
}

/// Counters and gauges of a running CTI server. Shared (`Arc`) between the
/// HTTP server, the call-event task and the binary.
#[derive(Debug, Default)]
pub struct Status {
    calls_in_progress: AtomicI64,
    /// The engine's call limit (`[calls] max_calls`); 0 when unknown.
    call_limit: AtomicI64,
    draining: std::sync::atomic::AtomicBool,
    ws_clients: AtomicI64,
    store_errors: AtomicU64,
    /// The spool's last record appended, and the last the store has.
    spooled: AtomicU64,
    applied: AtomicU64,
    login_failures: AtomicU64,
    call_events: AtomicU64,
    dispositions: Mutex<BTreeMap<Disposition, u64>>,
    sip_responses: Mutex<BTreeMap<u16, u64>>,
    shed: Mutex<BTreeMap<String, u64>>,
    unauthenticated: Mutex<BTreeMap<&'static str, u64>>,
    flow: Mutex<Option<ActiveFlow>>,
    trunks: Mutex<Vec<TrunkHealth>>,
    setup: Latency,
    pop: Latency,
}

/// A latency histogram ([`crate::metrics`]'s buckets).
#[derive(Debug, Clone)]
struct Latency(prometheus_client::metrics::histogram::Histogram);

impl Default for Latency {
    fn default() -> Self {
        Latency(crate::metrics::latency_histogram())
    }
}

/// The counters and gauges of [`Status`] at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub calls_in_progress: i64,
    /// Every disposition, zero or not.
    pub dispositions: Vec<(&'static str, u64)>,
    pub sip_responses: BTreeMap<u16, u64>,
    pub shed: BTreeMap<String, u64>,
    pub unauthenticated: BTreeMap<&'static str, u64>,
    pub ws_clients: i64,
    pub store_errors: u64,
    pub spool_backlog: u64,
    pub trunks: Vec<TrunkHealth>,
    pub login_failures: u64,
    pub call_events: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain counters behind;
    // they are still good to read.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Status {
    /// Set by the binary: calls the call controller holds right now.
    pub fn set_calls_in_progress(&self, n: i64) {
        self.calls_in_progress.store(n, Ordering::Relaxed);
    }
    /// The most calls the engine takes (`full` at it).
    pub fn set_call_limit(&self, n: i64) {
        self.call_limit.store(n, Ordering::Relaxed);
    }

    pub fn call_limit(&self) -> i64 {
        self.call_limit.load(Ordering::Relaxed)
    }

    /// Every call the engine may carry is in progress.
    pub fn full(&self) -> bool {
        let limit = self.call_limit();
        limit > 0 && self.calls_in_progress() >= limit
    }

    /// The engine is stopping: new calls get 503.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn calls_in_progress(&self) -> i64 {
        self.calls_in_progress.load(Ordering::Relaxed)
    }
    /// Called by the binary for every SIP response it sends.
    pub fn count_sip_response(&self, code: u16) {
        *lock(&self.sip_responses).entry(code).or_default() += 1;
    }
    /// Set by the binary when a flow set is loaded or activated.
    /// An HTTP request refused for naming no one (`no_token`,
    /// `unknown_token`): counted instead of audited.
    pub fn count_unauthenticated(&self, reason: &'static str) {
        *lock(&self.unauthenticated).entry(reason).or_default() += 1;
    }

    /// A SIP request shed by the per-source limits, for `reason`.
    pub fn count_shed(&self, reason: &str) {
        let mut shed = lock(&self.shed);
        match shed.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                shed.insert(reason.to_owned(), 1);
            }
        }
    }

    /// Set by the binary whenever a trunk changes.
    pub fn set_trunks(&self, trunks: Vec<TrunkHealth>) {
        *lock(&self.trunks) = trunks;
    }
    pub fn trunks(&self) -> Vec<TrunkHealth> {
        lock(&self.trunks).clone()
    }

    pub fn set_active_flow(&self, version: &str, hash: &str) {
        *lock(&self.flow) = Some(ActiveFlow {
            version: version.into(),
            hash: hash.into(),
        });
    }
    pub fn active_flow(&self) -> Option<ActiveFlow> {
        lock(&self.flow).clone()
    }
    pub(crate) fn set_spooled(&self, seq: u64) {
        self.spooled.fetch_max(seq, Ordering::Relaxed);
    }
    pub(crate) fn set_applied(&self, seq: u64) {
        self.applied.fetch_max(seq, Ordering::Relaxed);
    }
    /// Call record writes in the spool that the store does not have yet.
    pub fn spool_backlog(&self) -> u64 {
        self.spooled
            .load(Ordering::Relaxed)
            .saturating_sub(self.applied.load(Ordering::Relaxed))
    }
    pub fn count_store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }
    pub(crate) fn count_disposition(&self, d: Disposition) {
        *lock(&self.dispositions).entry(d).or_default() += 1;
    }
    pub(crate) fn count_login_failure(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_call_event(&self) {
        self.call_events.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn ws_client_delta(&self, d: i64) {
        self.ws_clients.fetch_add(d, Ordering::Relaxed);
    }
    pub fn ws_clients(&self) -> i64 {
        self.ws_clients.load(Ordering::Relaxed)
    }

    /// Set by the binary: how long a call took from its INVITE taken by
    /// a call task to its 200 handed to SIP.
    pub fn observe_setup(&self, took: Duration) {
        self.setup.0.observe(took.as_secs_f64());
    }

    /// How long a screen pop took from the queues' decision to offer.
    pub(crate) fn observe_pop(&self, took: Duration) {
        self.pop.0.observe(took.as_secs_f64());
    }

    pub(crate) fn setup_histogram(&self) -> &prometheus_client::metrics::histogram::Histogram {
        &self.setup.0
    }

    pub(crate) fn pop_histogram(&self) -> &prometheus_client::metrics::histogram::Histogram {
        &self.pop.0
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let dispositions = lock(&self.dispositions).clone();
        Snapshot {
            calls_in_progress: self.calls_in_progress(),
            dispositions: Disposition::ALL
                .iter()
                .map(|d| (d.as_str(), dispositions.get(d).copied().unwrap_or(0)))
                .collect(),
            sip_responses: lock(&self.sip_responses).clone(),
            shed: lock(&self.shed).clone(),
            unauthenticated: lock(&self.unauthenticated).clone(),
            ws_clients: self.ws_clients(),
            store_errors: self.store_errors(),
            spool_backlog: self.spool_backlog(),
            trunks: self.trunks(),
            login_failures: self.login_failures.load(Ordering::Relaxed),
            call_events: self.call_events.load(Ordering::Relaxed),
        }
    }

    /// The Prometheus text format (version 0.0.4) of these counters and
    /// gauges alone (`/metrics` adds the queues' figures).
    pub fn render_prometheus(&self) -> String {
        crate::metrics::render(self, None)
    }
}
