//! frontdoor-cti: the HTTP API, the CTI websocket and the store.
//!
//! Navigators, supervisors and operations staff work through this server:
//! they log in (`POST /api/login`), hold a websocket (`GET /cti/ws`) on which
//! screen pops arrive, and log each call's details. Every call leaves a call
//! record as it goes. The protocol is documented in `docs/cti-protocol.md`.
//!
//! # How the binary wires it in
//!
//! ```no_run
//! # async fn example() -> frontdoor_cti::Result<()> {
//! use frontdoor_cti::{CallEvent, Cti, CtiConfig, NavigatorCommand};
//! use frontdoor_cti::protocol::Caller;
//!
//! let config = CtiConfig { db: "sqlite://frontdoor.db".into(), ..CtiConfig::default() };
//! // Connects the store (creating SQLite files, running migrations) and
//! // starts the call-event task.
//! let (cti, mut commands) = Cti::start(config.clone()).await?;
//!
//! // 1. The call controller reports what happens to calls, in order per call:
//! let events = cti.events();
//! events
//!     .send(CallEvent::Arrived {
//!         call_id: "c1".into(),
//!         caller: Caller::Number("+16135550123".into()),
//!         dialled: "211".into(),
//!         at_ms: frontdoor_cti::now_ms(),
//!     })
//!     .await
//!     .ok();
//!
//! // 2. Navigators' commands come back (hang up, transfer, state changes):
//! tokio::spawn(async move {
//!     while let Some(cmd) = commands.recv().await {
//!         match cmd {
//!             NavigatorCommand::Hangup { .. } => { /* end the call */ }
//!             NavigatorCommand::Transfer { consult: false, .. } => { /* re-route it */ }
//!             NavigatorCommand::Transfer { consult: true, .. } => {
//!                 // hold the caller, call the target, report with CallEvent::TransferProgress
//!             }
//!             NavigatorCommand::Hold { .. } => {
//!                 // hold the caller (or take them back), report with CallEvent::Held
//!             }
//!             NavigatorCommand::CompleteTransfer { .. } => { /* connect the caller to the target */ }
//!             NavigatorCommand::CancelTransfer { .. } => { /* end the consult call */ }
//!             NavigatorCommand::StateRequest { .. } => {
//!                 // the ACD decides, and answers with CallEvent::NavigatorState
//!             }
//!             NavigatorCommand::Callback { .. } => { /* requeue or resolve a failed callback */ }
//!             NavigatorCommand::Monitor { .. } => { /* ring the supervisor's phone, mix the legs */ }
//!             NavigatorCommand::FollowUpCall { .. } => {
//!                 // ring the navigator's phone, then dial the person, as a callback
//!             }
//!         }
//!     }
//! });
//!
//! // 3. The ACD reads navigators' state: cti.navigators(), cti.navigator(name),
//! //    and publishes its queues for supervisors (GET /api/queues) on every change:
//! cti.publish_queues(frontdoor_cti::protocol::QueuesView::default());
//! // 4. The binary feeds /healthz and /metrics: cti.status().set_calls_in_progress(n),
//! //    cti.status().count_sip_response(200), cti.activate_flow(version, hash, by).
//!
//! // 5. Serve HTTP until shutdown.
//! let listener = tokio::net::TcpListener::bind(config.http).await?;
//! frontdoor_cti::serve(listener, cti, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Inside
//!
//! - [`store`]: SQL through sqlx's `Any` driver, the same text on SQLite and
//!   PostgreSQL; migrations are compiled in and run at connect.
//! - `calls`: one task takes [`CallEvent`]s in order, drives screen pops at
//!   once and appends what the store must get to the spool; it never waits
//!   on the database.
//! - `spool`: the call-record spool (local files, fsynced per batch) and its
//!   writer, which puts the records into the store in order, each once,
//!   retrying while the database is away; at start it replays what the
//!   last run left and closes the calls it cut off as interrupted.
//! - `agents`: each navigator's CTI session (`seq`, replay buffer for
//!   `resume`, the sockets open for them) and the agent state the ACD last
//!   decided for them. The CTI decides no state and times none: requests
//!   (`set_state`, login, logout, the disconnect grace running out) go to the
//!   queues as [`NavigatorCommand::StateRequest`] and are answered once the
//!   ACD's [`CallEvent::NavigatorState`] comes back.
//! - `http` and `ws`: the axum router, one `AppError`, bearer tokens with
//!   audit-logged refusals, login throttling, and the websocket loop.

pub mod accounts;
mod agents;
mod calls;
pub mod console;
pub mod directory;
pub mod error;
mod http;
pub mod metrics;
pub mod phones;
pub mod protocol;
pub mod reports;
mod spool;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod taxonomy;
pub mod throttle;
mod web;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use accounts::{UserCommand, run_user_command};
pub use agents::{CallbackAction, NavigatorCommand, NavigatorView, StateRequest};
pub use calls::{CallAttribute, CallEvent, CallEvents, Closed, Route};
pub use error::{Error, Result};
pub use status::{ActiveFlow, Status, TrunkHealth};
pub use store::{Backend, Store};
pub use taxonomy::{TaxonomyCommand, run_taxonomy_command};

/// Milliseconds since the Unix epoch, the one clock of the store.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Settings of the CTI server. Every field has a default (see [`Default`]).
#[derive(Debug, Clone)]
pub struct CtiConfig {
    /// Where HTTP listens (`--http`); default 0.0.0.0:8211. Used by the
    /// binary to bind; [`serve`] takes the bound listener.
    pub http: SocketAddr,
    /// The store (`--db`): `sqlite://PATH` or `postgres://…`; default `sqlite://frontdoor.db`.
    pub db: String,
    /// How long a login token is valid; default 12 h.
    pub token_ttl: Duration,
    /// Interval of `heartbeat` frames; default 20 s.
    pub heartbeat: Duration,
    /// How long a navigator whose websockets all closed keeps their state
    /// before their session asks the queues to log them out (when no call
    /// is ringing or in progress for them); default 60 s. (How long wrap-up
    /// lasts is the queues' setting: the ACD times it.)
    pub disconnect_grace: Duration,
    /// Failed logins for one username before it is throttled; default 5.
    pub login_failures_per_user: u32,
    /// Failed logins from one address before it is throttled; default 20.
    pub login_failures_per_peer: u32,
    /// How long a throttled username or address must wait; default 60 s.
    pub login_backoff: Duration,
    /// Largest client frame accepted; larger ones get an `error`; default 64 KiB.
    pub max_frame_bytes: usize,
    /// Frames kept per session for `resume`; default 512.
    pub replay_frames: usize,
    /// Earlier contacts shown in a screen pop; default 10.
    pub history_limit: i64,
    /// Capacity of the navigator command channel; default 1024.
    pub command_queue: usize,
    /// The reason codes a navigator picks from to go not ready (the page
    /// shows each in the navigator's language); default
    /// [`DEFAULT_NOT_READY_REASONS`].
    pub not_ready_reasons: Vec<String>,
    /// The time zone that says what "today" is for follow-ups (IANA name);
    /// default `America/Toronto`.
    pub timezone: String,
    /// How often an open websocket checks that its login still holds (not
    /// expired, revoked by a password change or a logout, the account not
    /// disabled); it closes when it does not. Default 15 s.
    pub session_check: Duration,
    /// Password checks (argon2) running at once; more logins wait a moment,
    /// then get 503. Default 4.
    pub concurrent_logins: usize,
    /// How long a login waits for its turn at a password check before it
    /// is answered 503. Default 2 s.
    pub login_wait: Duration,
    /// How long a request's body may take to arrive whole (408 after);
    /// the head has [`HEADER_TIMEOUT`]. Default 10 s.
    pub body_timeout: Duration,
    /// Accept a password over plain HTTP from another machine. Default
    /// false: without TLS ([`serve_tls`]) sign-in works only from this host
    /// (a browser here, or a reverse proxy here that terminates TLS).
    pub allow_plain_http_login: bool,
    /// The directory of the call-record spool ([`Cti::start`]): call
    /// records are written there first and go into the store from there,
    /// so the database is off the call path. `None`: the spool is kept in
    /// memory (nothing survives a crash). Default `None`; the binary's
    /// default is `frontdoor.spool`.
    pub spool: Option<std::path::PathBuf>,
    /// The reports' settings (`[reports]`): suppression, service-level
    /// targets, the public needs feed.
    pub reports: reports::ReportsConfig,
    /// The wallboard's alerts on navigators' time in a state.
    pub alerts: AlertLimits,
}

/// When a navigator's time in a state raises an alert on the wallboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertLimits {
    /// Wrap-up longer than this (`[cti] alert_wrap_up_s`); default 5 min.
    pub wrap_up: Duration,
    /// Not ready longer than this (`[cti] alert_not_ready_s`); default 20 min.
    pub not_ready: Duration,
}

impl Default for AlertLimits {
    fn default() -> AlertLimits {
        AlertLimits {
            wrap_up: Duration::from_secs(300),
            not_ready: Duration::from_secs(1200),
        }
    }
}

impl CtiConfig {
    /// Today's date (YYYY-MM-DD) in [`CtiConfig::timezone`]; in UTC when
    /// that zone is unknown.
    pub fn today(&self) -> String {
        let tz = jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        jiff::Timestamp::now().to_zoned(tz).date().to_string()
    }
}

/// Reports run at once by the server; more wait their turn.
const REPORTS_AT_ONCE: usize = 2;

/// The not-ready reason the engine sets when a navigator's browser phone
/// can no longer ring.
pub const PHONE_PROBLEM: &str = "phone_problem";

/// The not-ready reasons 211 centres use when none are configured.
pub const DEFAULT_NOT_READY_REASONS: [&str; 9] = [
    "break",
    "meal",
    "training",
    "follow_up_calls",
    "resource_research",
    "debrief",
    "meeting",
    "system_issue",
    PHONE_PROBLEM,
];

impl Default for CtiConfig {
    fn default() -> CtiConfig {
        CtiConfig {
            http: SocketAddr::from(([0, 0, 0, 0], 8211)),
            db: "sqlite://frontdoor.db".into(),
            token_ttl: Duration::from_secs(12 * 3600),
            heartbeat: Duration::from_secs(20),
            disconnect_grace: Duration::from_secs(60),
            login_failures_per_user: 5,
            login_failures_per_peer: 20,
            login_backoff: Duration::from_secs(60),
            max_frame_bytes: 64 * 1024,
            replay_frames: 512,
            history_limit: 10,
            command_queue: 1024,
            not_ready_reasons: DEFAULT_NOT_READY_REASONS.map(String::from).to_vec(),
            timezone: "America/Toronto".into(),
            session_check: Duration::from_secs(15),
            concurrent_logins: 4,
            login_wait: Duration::from_secs(2),
            body_timeout: Duration::from_secs(10),
            allow_plain_http_login: false,
            spool: None,
            reports: reports::ReportsConfig::default(),
            alerts: AlertLimits::default(),
        }
    }
}

pub(crate) struct Shared {
    pub store: Store,
    pub config: CtiConfig,
    pub registry: Arc<agents::Registry>,
    pub status: Arc<Status>,
    pub throttle: throttle::Throttle,
    /// Bounds the password checks running at once (argon2 is costly on
    /// purpose; a flood of logins must not take every core).
    pub hashing: Arc<tokio::sync::Semaphore>,
    emergency: AtomicBool,
    /// Emergency mode's incident tag ("" for none).
    incident: Mutex<String>,
    /// The regions emergency mode applies to (empty: province-wide).
    emergency_regions: Mutex<Vec<String>>,
    /// The queues' last published view (`GET /api/queues`, the wallboards
    /// subscribe to it); none until the binary publishes one.
    queues: tokio::sync::watch::Sender<Option<Arc<protocol::QueuesView>>>,
    /// The centres, regions and destinations the binary last published.
    desk: Mutex<Arc<protocol::Desk>>,
    /// Reports running at once (each holds a connection of its own).
    pub reports: tokio::sync::Semaphore,
    /// What does the operations console's flow work (the binary).
    pub flow_console: std::sync::OnceLock<Arc<dyn console::FlowConsole>>,
    /// The engine's browser phones (the binary's WebRTC gateway), if it
    /// has a WebRTC port.
    pub phones: std::sync::OnceLock<Arc<dyn phones::BrowserPhones>>,
    /// The public needs feed as last computed, and when.
    pub public_feed: tokio::sync::Mutex<Option<(std::time::Instant, Arc<reports::Report>)>>,
}

impl Shared {
    /// The desk the binary last published ([`Cti::publish_desk`]).
    pub fn desk(&self) -> Arc<protocol::Desk> {
        // A plain value swapped whole: a poisoned lock still holds a usable one.
        Arc::clone(&self.desk.lock().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn emergency_active(&self) -> bool {
        self.emergency.load(Ordering::Relaxed)
    }
    /// Whether emergency mode is on for a caller from `region` (none: not
    /// known from their number, who hears it too).
    pub fn emergency_applies(&self, region: Option<&str>) -> bool {
        if !self.emergency_active() {
            return false;
        }
        let regions = self
            .emergency_regions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        regions.is_empty() || region.is_none_or(|r| regions.iter().any(|x| x == r))
    }
    pub fn set_emergency_cache(&self, on: bool, incident: &str, regions: &[String]) {
        self.emergency.store(on, Ordering::Relaxed);
        *self.incident.lock().unwrap_or_else(|e| e.into_inner()) = incident.to_string();
        *self
            .emergency_regions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = regions.to_vec();
    }
    /// The last view published with [`Cti::publish_queues`], if any.
    pub fn queue_view(&self) -> Option<Arc<protocol::QueuesView>> {
        self.queues.borrow().clone()
    }
    /// Told of every view published from now on (the wallboards).
    pub fn watch_queues(&self) -> tokio::sync::watch::Receiver<Option<Arc<protocol::QueuesView>>> {
        self.queues.subscribe()
    }
}

/// A running CTI server: the store, the navigator sessions and the call-event
/// task. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Cti {
    shared: Arc<Shared>,
    events: CallEvents,
    recovered: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Cti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cti")
            .field("db", &store::redacted(&self.shared.config.db))
            .finish_non_exhaustive()
    }
}

impl Cti {
    /// Connects the store named by `config.db` (running migrations), opens
    /// the spool in `config.spool` and starts the call-event task and the
    /// spool writer, which first puts in the store what the last run
    /// spooled and then closes the calls it left open
    /// ([`Cti::recovered`]). Returns the server and the receiver of
    /// navigators' commands for the call controller. Needs a tokio runtime.
    pub async fn start(config: CtiConfig) -> Result<(Cti, mpsc::Receiver<NavigatorCommand>)> {
        let store = Store::connect(&config.db).await?;
        let emergency = store.emergency().await?;
        let (opened, boot_seq, recover) = match &config.spool {
            Some(dir) => {
                let (opened, boot_seq) = spool::open(dir, |id| {
                    let store = store.clone();
                    async move { store.spool_position(&id).await }
                })
                .await?;
                (opened, boot_seq, true)
            }
            None => (spool::memory(), 0, false),
        };
        let (cti, rx) = Cti::build(store, config, opened, boot_seq, recover);
        cti.shared
            .set_emergency_cache(emergency.active, &emergency.incident, &emergency.regions);
        Ok((cti, rx))
    }

    /// Like [`Cti::start`] with a store already connected and the spool in
    /// memory. Emergency mode starts off here; [`Cti::start`] reads it from
    /// the store.
    pub fn with_store(store: Store, config: CtiConfig) -> (Cti, mpsc::Receiver<NavigatorCommand>) {
        Cti::build(store, config, spool::memory(), 0, false)
    }

    fn build(
        store: Store,
        config: CtiConfig,
        opened: spool::Opened,
        boot_seq: u64,
        recover: bool,
    ) -> (Cti, mpsc::Receiver<NavigatorCommand>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(config.command_queue.max(1));
        let registry = Arc::new(agents::Registry::new(
            agents::SessionTimings {
                heartbeat: config.heartbeat,
                replay_frames: config.replay_frames.max(1),
            },
            cmd_tx,
        ));
        let shared = Arc::new(Shared {
            store,
            throttle: throttle::Throttle::new(
                config.login_failures_per_user.max(1),
                config.login_failures_per_peer.max(1),
                config.login_backoff,
            ),
            hashing: Arc::new(tokio::sync::Semaphore::new(config.concurrent_logins.max(1))),
            config,
            registry,
            status: Arc::new(Status::default()),
            emergency: AtomicBool::new(false),
            incident: Mutex::new(String::new()),
            emergency_regions: Mutex::new(Vec::new()),
            queues: tokio::sync::watch::Sender::new(None),
            desk: Mutex::new(Arc::new(protocol::Desk::default())),
            public_feed: tokio::sync::Mutex::new(None),
            flow_console: std::sync::OnceLock::new(),
            phones: std::sync::OnceLock::new(),
            reports: tokio::sync::Semaphore::new(REPORTS_AT_ONCE),
        });
        let spool::Opened {
            id,
            appender,
            reader,
        } = opened;
        shared.status.set_spooled(boot_seq);
        shared.status.set_applied(reader.applied_seq());
        let flushes = Arc::new(spool::Flushes::new(reader.applied_seq()));
        let (wake_tx, wake_rx) = mpsc::channel(1);
        let (recovered_tx, recovered) = tokio::sync::watch::channel(false);
        let (ev_tx, ev_rx) = mpsc::channel(4096);
        tokio::spawn(calls::run(
            Arc::clone(&shared),
            ev_rx,
            appender,
            Arc::clone(&flushes),
            wake_tx,
        ));
        tokio::spawn(spool::write_to_store(
            Arc::clone(&shared),
            spool::Writer {
                id,
                reader,
                boot_seq,
                flushes,
                wake: wake_rx,
                recovered: recovered_tx,
                recover,
            },
        ));
        (
            Cti {
                shared,
                events: CallEvents::new(ev_tx),
                recovered,
            },
            cmd_rx,
        )
    }

    /// Waits until what the last run spooled is in the store and the calls
    /// it left open are closed as interrupted: the binary waits for this
    /// before it takes calls, so the queues restore callbacks from a
    /// complete store.
    pub async fn recovered(&self) {
        let mut rx = self.recovered.clone();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// The handle the call controller sends [`CallEvent`]s through.
    pub fn events(&self) -> CallEvents {
        self.events.clone()
    }

    /// The store (the binary's `user` and `report` subcommands use it too).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Counters and gauges for `/healthz` and `/metrics`; the binary sets
    /// calls in progress, counts SIP responses and names the active flow.
    pub fn status(&self) -> &Arc<Status> {
        &self.shared.status
    }

    /// Every navigator with a CTI session since start, by username.
    pub fn navigators(&self) -> Vec<NavigatorView> {
        self.shared.registry.views()
    }

    /// One navigator's state, if they had a CTI session since start.
    pub fn navigator(&self, username: &str) -> Option<NavigatorView> {
        self.shared.registry.view(username)
    }

    /// The queues (the ACD) publish a snapshot of themselves whenever it
    /// changes (documented in `docs/cti-protocol.md`, "Other HTTP routes").
    /// The last one is served as-is by `GET /api/queues`, and its
    /// `supervisor_list` names the callbacks
    /// `POST /api/queues/callbacks/{call_id}` accepts. Until the first view
    /// is published, both answer 503.
    pub fn publish_queues(&self, view: protocol::QueuesView) {
        self.shared.queues.send_replace(Some(Arc::new(view)));
    }

    /// Publishes what navigators' desks offer (the centres, regions and
    /// destinations of the active flows): sent in every `hello` from now on,
    /// and the regions `correct_region` accepts.
    pub fn publish_desk(&self, desk: protocol::Desk) {
        *self.shared.desk.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(desk);
    }

    /// Logs a navigator out as `POST /api/logout` does (their websockets
    /// close and the queues are asked to log them out; the ACD's
    /// `logged_out` comes back as usual): for an account disabled or
    /// removed while logged in.
    pub fn log_out(&self, username: &str) {
        self.shared.registry.logout(username);
    }

    /// Whether emergency mode is on (persisted; ops switch it with `PUT /api/emergency`).
    pub fn emergency_mode(&self) -> bool {
        self.shared.emergency_active()
    }

    /// The regions emergency mode applies to now; empty: province-wide.
    pub fn emergency_regions(&self) -> Vec<String> {
        self.shared
            .emergency_regions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The incident calls arriving now are recorded with: emergency mode's
    /// tag while it is on.
    pub fn incident(&self) -> Option<String> {
        if !self.shared.emergency_active() {
            return None;
        }
        let tag = self
            .shared
            .incident
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (!tag.is_empty()).then(|| tag.clone())
    }

    /// Hands the CTI the engine's browser phones (`phone_offer`).
    pub fn set_phones(&self, phones: Arc<dyn phones::BrowserPhones>) {
        let _ = self.shared.phones.set(phones);
    }

    /// `navigator` logged out (or was logged out): their browser phone's
    /// connection ends.
    pub fn end_phone(&self, navigator: &str) {
        if let Some(phones) = self.shared.phones.get() {
            phones.remove(navigator);
        }
    }

    /// `navigator`'s browser phone changed state: their pages are told.
    /// A phone that can no longer ring sets them not ready (reason
    /// [`PHONE_PROBLEM`]): a call offered to them goes to the next
    /// navigator instead of ringing nowhere. A connection only
    /// `disconnected` (it may come back) leaves a navigator on a call
    /// alone; `failed` or `closed` sets them not ready after it.
    pub fn phone_state(&self, navigator: &str, state: protocol::PhoneState) {
        use protocol::PhoneState;
        let registry = &self.shared.registry;
        registry.phone_state(navigator, state);
        use protocol::AgentState::{Busy, Ready, Reserved, WrapUp};
        let now = registry.state_of(navigator);
        let cannot_ring = match state {
            // It may come back: a call on it carries on; only the next one
            // must not ring nowhere.
            PhoneState::Disconnected => matches!(now, Some(Ready | Reserved)),
            // Over: a call on it has ended too.
            PhoneState::Failed | PhoneState::Closed => {
                matches!(now, Some(Ready | Reserved | Busy | WrapUp))
            }
            PhoneState::Connecting | PhoneState::Connected => false,
        };
        if cannot_ring {
            tracing::warn!(%navigator, ?state, "browser phone lost: the navigator is set not ready");
            registry.force_not_ready(navigator, PHONE_PROBLEM.to_owned());
        }
    }

    /// Hands the operations console its flow work (`/api/flows/…`); until
    /// then those routes answer 503. Set once; later calls change nothing.
    pub fn set_flow_console(&self, console: Arc<dyn console::FlowConsole>) {
        let _ = self.shared.flow_console.set(console);
    }

    /// Keeps a flow version's files, so it can be activated again
    /// (`POST /api/flows/rollback`, `frontdoor flow rollback`).
    pub async fn keep_flow_files(&self, version: &str, files: &[console::FlowFile]) -> Result<()> {
        self.shared.store.keep_flow_files(version, files).await
    }

    /// Records that a flow version became active (flow_versions table, the
    /// audit log and `/healthz`). `by` is the account or `"system"` for a
    /// load at start.
    pub async fn activate_flow(&self, version: &str, hash: &str, by: &str) -> Result<()> {
        let now = now_ms();
        let store = &self.shared.store;
        store.record_flow_activation(version, hash, by, now).await?;
        store
            .audit(&store::AuditEntry {
                at_ms: now,
                actor: by.into(),
                action: "flow.activate".into(),
                target: version.into(),
                outcome: "ok".into(),
                detail: hash.into(),
                peer: String::new(),
            })
            .await?;
        self.shared.status.set_active_flow(version, hash);
        Ok(())
    }

    /// The axum router (for tests that drive it without a socket).
    pub fn router(&self) -> axum::Router {
        http::app(self.clone())
    }
}

/// Serve HTTP (the API, the websocket, the pages) on `listener` until
/// `shutdown` completes; then the websockets are closed and it returns.
/// Each connection gets [`HEADER_TIMEOUT`] to send its request head.
pub async fn serve(
    listener: TcpListener,
    cti: Cti,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with(listener, cti, None, shutdown).await
}

/// [`serve`] over TLS (HTTPS and WSS) with the engine's certificate.
pub async fn serve_tls(
    listener: TcpListener,
    cti: Cti,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_with(listener, cti, Some(acceptor), shutdown).await
}

/// How long a connection may take to send a request's head (and, over TLS,
/// to finish its handshake): a client that trickles bytes is cut off.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks a request that came over TLS (the login refuses passwords over
/// plain HTTP from other machines, see [`CtiConfig::allow_plain_http_login`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverTls;

async fn serve_with(
    listener: TcpListener,
    cti: Cti,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = cti.router();
    let registry = Arc::clone(&cti.shared.registry);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => {
                registry.close_all();
                return Ok(());
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => http_connection(stream, peer, app, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => http_connection(stream, peer, app, true).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake too slow"),
                    }
                }
            }
        });
    }
}

/// One HTTP/1.1 connection (with upgrades, for the websocket).
async fn http_connection<S>(stream: S, peer: SocketAddr, app: axum::Router, over_tls: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use tower_service::Service;
    let service = hyper::service::service_fn(
        move |mut request: axum::extract::Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            if over_tls {
                request.extensions_mut().insert(OverTls);
            }
            let mut app = app.clone();
            async move { app.call(request.map(axum::body::Body::new)).await }
        },
    );
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}
