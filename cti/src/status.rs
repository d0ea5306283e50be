//! Shared status for `/healthz` and `/metrics`: gauges the binary sets,
//! counters it increments, and counters this crate keeps itself.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail: the `let _` below drop Ok(()).
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(s, "{name}{labels} {value}");
            }
        };
        metric(
            "frontdoor_calls_in_progress",
            "gauge",
            "Calls the call controller holds now.",
            &[(String::new(), self.calls_in_progress().to_string())],
        );
        let dispositions = lock(&self.dispositions).clone();
        let samples: Vec<_> = Disposition::ALL
            .iter()
            .map(|d| {
                (
                    format!("{{disposition=\"{}\"}}", d.as_str()),
                    dispositions.get(d).copied().unwrap_or(0).to_string(),
                )
            })
            .collect();
        metric(
            "frontdoor_calls_total",
            "counter",
            "Calls ended, by disposition.",
            &samples,
        );
        let sip = lock(&self.sip_responses).clone();
        let samples: Vec<_> = sip
            .iter()
            .map(|(c, n)| (format!("{{code=\"{c}\"}}"), n.to_string()))
            .collect();
        metric(
            "frontdoor_sip_responses_total",
            "counter",
            "SIP responses sent, by status code.",
            &samples,
        );
        let shed = lock(&self.shed).clone();
        let samples: Vec<_> = shed
            .iter()
            .map(|(r, n)| (format!("{{reason=\"{r}\"}}"), n.to_string()))
            .collect();
        metric(
            "frontdoor_sip_shed_total",
            "counter",
            "SIP requests shed by the per-source limits or the call limit, by reason.",
            &samples,
        );
        let refused = lock(&self.unauthenticated).clone();
        let samples: Vec<_> = refused
            .iter()
            .map(|(r, n)| (format!("{{reason=\"{r}\"}}"), n.to_string()))
            .collect();
        metric(
            "frontdoor_http_unauthenticated_total",
            "counter",
            "HTTP requests refused with 401 that name no account (no token, a token never issued).",
            &samples,
        );
        metric(
            "frontdoor_websocket_clients",
            "gauge",
            "Open CTI websocket connections.",
            &[(String::new(), self.ws_clients().to_string())],
        );
        metric(
            "frontdoor_store_errors_total",
            "counter",
            "Database operations that failed.",
            &[(String::new(), self.store_errors().to_string())],
        );
        metric(
            "frontdoor_spool_backlog",
            "gauge",
            "Call record writes in the spool that the database does not have yet.",
            &[(String::new(), self.spool_backlog().to_string())],
        );
        let trunks = self.trunks();
        let label =
            |t: &TrunkHealth| format!("{{trunk=\"{}\"}}", t.name.replace(['"', '\\', '\n'], "_"));
        let samples: Vec<_> = trunks
            .iter()
            .map(|t| (label(t), u8::from(t.up).to_string()))
            .collect();
        metric(
            "frontdoor_trunk_up",
            "gauge",
            "1 when calls may go out through this trunk of the carrier (it answers keep-alives, and is registered if it must be).",
            &samples,
        );
        let samples: Vec<_> = trunks
            .iter()
            .filter(|t| t.registration.is_some())
            .map(|t| {
                (
                    label(t),
                    u8::from(t.registration == Some("registered")).to_string(),
                )
            })
            .collect();
        metric(
            "frontdoor_trunk_registered",
            "gauge",
            "1 while our registration to this trunk of the carrier holds.",
            &samples,
        );
        metric(
            "frontdoor_login_failures_total",
            "counter",
            "Refused logins.",
            &[(
                String::new(),
                self.login_failures.load(Ordering::Relaxed).to_string(),
            )],
        );
        metric(
            "frontdoor_call_events_total",
            "counter",
            "Call events received from the call controller.",
            &[(
                String::new(),
                self.call_events.load(Ordering::Relaxed).to_string(),
            )],
        );
        s
    }
}
