//! `frontdoor.toml`: every key optional, every key with a default.
//!
//! Precedence, lowest first: the built-in defaults, the config file
//! (`--config FILE`, or `frontdoor.toml` in the working directory when it
//! exists), then `FRONTDOOR_*` environment variables and command-line flags
//! (handled by clap in `main.rs`). [`Config::from_toml`] parses a string so
//! tests feed strings; [`Config::load`] reads the file.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub calls: CallsConfig,
    pub flows: FlowsConfig,
    pub cti: CtiSection,
    pub registrar: RegistrarSection,
    pub trunk: TrunkSection,
    pub queues: QueuesSection,
    pub limits: LimitsSection,
    pub tls: TlsSection,
    /// Reports: suppression, service-level targets, the public needs feed
    /// (docs/reports.md).
    pub reports: frontdoor_cti::reports::ReportsConfig,
}

/// The engine's certificate: with `cert` and `key` set, SIP over TLS
/// listens on `sip_listen` and the CTI server speaks HTTPS and WSS.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain (the server's first). Default: none (no TLS).
    pub cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub key: Option<PathBuf>,
    /// Where SIP over TLS listens. Default: the SIP address, port 5061 (or
    /// any free port when SIP listens on port 0).
    pub sip_listen: Option<SocketAddr>,
    /// Let navigators sign in over plain HTTP from another machine (their
    /// password would cross the network readable). Default false: without
    /// a certificate, sign-in works only from this host (or through a
    /// reverse proxy on it that terminates TLS).
    pub allow_plain_http_login: bool,
}

impl TlsSection {
    /// The certificate and key, when TLS is configured.
    pub fn files(&self) -> anyhow::Result<Option<(&std::path::Path, &std::path::Path)>> {
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (None, None) => Ok(None),
            _ => anyhow::bail!("tls: set both cert and key, or neither"),
        }
    }
}

/// What one source address may ask of the engine (SIP faces the internet).
/// The trusted proxies (`[sip] trusted_proxies`: the carrier's trunk, our
/// own proxy) and this host's loopback are exempt.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// New INVITEs a second from one source, steady; over it they are
    /// dropped unanswered. 0: no limit. Default 5.
    pub invites_per_s: u32,
    /// New INVITEs from one source at once before the rate applies. Default 20.
    pub invite_burst: u32,
    /// REGISTERs a second from one source, steady. 0: no limit. Default 2.
    pub registers_per_s: u32,
    /// REGISTERs from one source at once before the rate applies. Default 10.
    pub register_burst: u32,
    /// Calls in progress from one source; past it new INVITEs get 503.
    /// 0: no limit. Default 30.
    pub calls_per_source: usize,
    /// Requests whose User-Agent contains one of these (any case) are
    /// dropped unanswered. Default: the common SIP scanners.
    pub scanner_user_agents: Vec<String>,
    /// Apply the limits to loopback sources too. Default false.
    pub limit_loopback: bool,
    /// REGISTERs that fail authentication (wrong password, unknown user)
    /// for one username before its REGISTERs are refused (403) for
    /// `register_backoff_s`; a phone already registered as the user from
    /// its address is not locked out. Default 5.
    pub register_failures_per_user: u32,
    /// The same from one source address, whatever the username. Default 20.
    pub register_failures_per_source: u32,
    /// How long a throttled username or address waits, seconds. Default 60.
    pub register_backoff_s: u64,
    /// SIP over TCP: connections from outside at once. Default 4000 (the
    /// process needs that many file descriptors: `ulimit -n`).
    pub tcp_connections: usize,
    /// SIP over TCP: connections from one source at once; more are closed
    /// at once. Default 32.
    pub tcp_connections_per_source: usize,
    /// SIP over TCP: a connection that sends nothing (not even a keep-alive
    /// CRLF) for this long is closed, seconds. Default 3700 (a phone's
    /// longest registration interval and a little).
    pub tcp_idle_s: u64,
    /// SIP over TCP: a message begun must be complete within this many
    /// seconds, else the connection is closed. Default 10.
    pub tcp_message_s: u64,
    /// An answered call whose ACK has not come within this many seconds is
    /// released (a BYE); RFC 3261 waits 64*T1 (32 s), which is the most.
    /// Default 8.
    pub ack_wait_s: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let g = frontdoor_sip::guard::GuardConfig::default();
        LimitsSection {
            invites_per_s: g.invites_per_s,
            invite_burst: g.invite_burst,
            registers_per_s: g.registers_per_s,
            register_burst: g.register_burst,
            calls_per_source: g.calls_per_source,
            scanner_user_agents: g.scanner_user_agents,
            limit_loopback: g.limit_loopback,
            register_failures_per_user: 5,
            register_failures_per_source: 20,
            register_backoff_s: 60,
            tcp_connections: 4000,
            tcp_connections_per_source: 32,
            tcp_idle_s: 3700,
            tcp_message_s: 10,
            ack_wait_s: 8,
        }
    }
}

impl LimitsSection {
    /// The user agent's guard, with `trusted` (the trusted proxies) exempt.
    pub fn to_guard(
        &self,
        trusted: &[String],
    ) -> anyhow::Result<frontdoor_sip::guard::GuardConfig> {
        Ok(frontdoor_sip::guard::GuardConfig {
            invites_per_s: self.invites_per_s,
            invite_burst: self.invite_burst,
            registers_per_s: self.registers_per_s,
            register_burst: self.register_burst,
            calls_per_source: self.calls_per_source,
            scanner_user_agents: self.scanner_user_agents.clone(),
            exempt: frontdoor_sip::guard::Networks::parse(trusted)
                .map_err(|e| anyhow::anyhow!("sip.trusted_proxies: {e}"))?,
            limit_loopback: self.limit_loopback,
        })
    }
}

/// The queues (the ACD): how calls reach navigators.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueuesSection {
    /// How long an offer rings before it is taken back and the navigator
    /// goes not ready (reason `no_answer`), seconds. Default 20.
    pub ring_timeout_s: u64,
    /// How long a crisis call waits for a crisis-trained navigator before it
    /// is bridged to the crisis line, seconds. Default 60.
    pub crisis_timeout_s: u64,
    /// How long a call waits in its centre before each next centre of the
    /// centre's overflow list may take it too, seconds, for centres without
    /// their own `overflow_after_s` (`flows/centres.yaml`). Default 90.
    pub overflow_wait_s: u64,
    /// How often a waiting caller hears their position and expected wait,
    /// seconds; 0: never. Default 60.
    pub announce_every_s: u64,
    /// Let the flows offer waiting callers a callback (a route with
    /// `callback: true`; never crisis calls or withheld numbers). Needs a
    /// `[trunk] proxy` to call back through. Default true.
    pub callback: bool,
    /// Dial attempts of a callback before it goes to the supervisors' list.
    /// Default 3.
    pub callback_attempts: u32,
    /// Seconds between callback attempts. Default 120.
    pub callback_retry_s: u64,
    /// Seconds a callback may ring the caller before it counts as failed.
    /// Default 60.
    pub callback_dial_timeout_s: u64,
    /// Where a call goes when no centre that serves it is open and staffed.
    /// Unset: the call's centre's own `external` line (`flows/centres.yaml`).
    pub fallback: Option<String>,
}

impl Default for QueuesSection {
    fn default() -> Self {
        QueuesSection {
            ring_timeout_s: 20,
            crisis_timeout_s: 60,
            overflow_wait_s: 90,
            announce_every_s: 60,
            callback: true,
            callback_attempts: 3,
            callback_retry_s: 120,
            callback_dial_timeout_s: 60,
            fallback: None,
        }
    }
}

/// The carrier's trunks: where calls to external SIP URIs (a flow's
/// `route: {to: "sip:…"}`) go out, and where calls come from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrunkSection {
    /// `host:port` every outbound INVITE is sent to, or several, tried in
    /// order (the first one up; on silence or 503 the next). When empty,
    /// each INVITE goes straight to its URI's host (port 5060 unless the
    /// URI names one).
    #[serde(deserialize_with = "one_or_many")]
    pub proxy: Vec<String>,
    /// Digest credentials for the trunk's 401/407 challenges, given only
    /// on calls through `proxy` (see [`TrunkSection::credentials`]), and
    /// for its registration.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Seconds between OPTIONS keep-alives to each trunk: one that does not
    /// answer (or says 503) is passed over until it answers again. 0: none.
    /// Default 30.
    pub keepalive_s: u64,
    /// Register to each trunk, for carriers that deliver calls only to a
    /// registered trunk. Default false.
    pub register: bool,
    /// The user of the address of record; default `username`, else the
    /// first of `sip.numbers`.
    pub register_user: Option<String>,
    /// The domain of the address of record and the REGISTER's Request-URI;
    /// default each trunk's host.
    pub register_domain: Option<String>,
    /// The registration time asked for, in seconds. Default 600.
    pub register_expires_s: u64,
    /// Seconds before a failed registration is tried again, doubling up to
    /// ten times this. Default 30.
    pub register_retry_s: u64,
    /// Take new calls only from these addresses or networks (the carrier's
    /// trunks, e.g. `["203.0.113.0/24", "198.51.100.7"]`); anyone else's
    /// INVITE gets 403. Empty (the default): from anyone.
    pub accept_from: Vec<String>,
    /// The dial plan for numbers the engine did not choose (callbacks,
    /// follow-up calls): prefixes that may be called. Default `["+1"]`.
    pub allowed_prefixes: Vec<String>,
    /// Prefixes never called. Default: the premium 900 and 976 codes and
    /// the +1 countries billed as international (see `src/dial_plan.rs`).
    pub blocked_prefixes: Vec<String>,
}

/// `"a"` or `["a", "b"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a \"host:port\" or a list of them")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl Default for TrunkSection {
    fn default() -> Self {
        TrunkSection {
            proxy: Vec::new(),
            username: None,
            password: None,
            keepalive_s: 30,
            register: false,
            register_user: None,
            register_domain: None,
            register_expires_s: 600,
            register_retry_s: 30,
            accept_from: Vec::new(),
            allowed_prefixes: vec!["+1".into()],
            blocked_prefixes: crate::dial_plan::DEFAULT_BLOCKED.map(String::from).to_vec(),
        }
    }
}

impl TrunkSection {
    /// The digest credentials to answer a 401/407 with: only for a call
    /// that goes through the configured proxy. Without one an INVITE goes
    /// straight to its URI's host — anyone's — and the trunk's password
    /// must not be handed to whoever challenges it.
    pub fn credentials(&self) -> Option<(String, String)> {
        match (self.proxy.first(), &self.username, &self.password) {
            (Some(_), Some(user), Some(password)) => Some((user.clone(), password.clone())),
            _ => None,
        }
    }

    /// The first trunk, if any (its host names the callback's URI).
    pub fn first_proxy(&self) -> Option<&str> {
        self.proxy.first().map(String::as_str)
    }

    /// The networks calls are taken from; `None`: anyone.
    pub fn accept_from(&self) -> anyhow::Result<Option<frontdoor_sip::guard::Networks>> {
        if self.accept_from.is_empty() {
            return Ok(None);
        }
        frontdoor_sip::guard::Networks::parse(&self.accept_from)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("trunk.accept_from: {e}"))
    }

    /// The trunks for the user agent to keep alive, their names resolved
    /// now (a trunk's address is looked up once, at start).
    pub async fn trunks(
        &self,
        numbers: &[String],
    ) -> anyhow::Result<Vec<frontdoor_sip::trunk::TrunkConfig>> {
        let mut trunks = Vec::new();
        for name in &self.proxy {
            let addr = tokio::net::lookup_host(name.as_str())
                .await
                .map_err(|e| anyhow::anyhow!("trunk.proxy: cannot resolve {name}: {e}"))?
                .next()
                .ok_or_else(|| anyhow::anyhow!("trunk.proxy: {name} has no address"))?;
            let host = name.rsplit_once(':').map_or(name.as_str(), |(h, _)| h);
            let domain = self.register_domain.as_deref().unwrap_or(host);
            let user = self
                .register_user
                .as_deref()
                .or(self.username.as_deref())
                .or(numbers.first().map(String::as_str))
                .unwrap_or("frontdoor");
            let retry = Duration::from_secs(self.register_retry_s.max(1));
            trunks.push(frontdoor_sip::trunk::TrunkConfig {
                name: name.clone(),
                peer: frontdoor_sip::Peer {
                    transport: frontdoor_sip::Transport::Udp,
                    addr,
                },
                keepalive: Some(Duration::from_secs(self.keepalive_s)).filter(|d| !d.is_zero()),
                register: self.register.then(|| frontdoor_sip::trunk::Registration {
                    aor: format!("sip:{user}@{domain}"),
                    registrar: format!("sip:{domain}"),
                    credentials: self.credentials(),
                    expires: Duration::from_secs(self.register_expires_s),
                    retry,
                    retry_max: retry * 10,
                }),
            });
        }
        Ok(trunks)
    }

    /// What the trunk may be asked to call.
    pub fn dial_plan(&self) -> crate::dial_plan::DialPlan {
        crate::dial_plan::DialPlan::new(&self.allowed_prefixes, &self.blocked_prefixes)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrarSection {
    /// Digest algorithms offered to phones, in this order: "MD5",
    /// "SHA-256". Default both, MD5 first, so that phones which answer
    /// only the first challenge register at once.
    pub algorithms: Vec<String>,
    /// Shortest registration accepted (423 below it), in seconds. Default 60.
    pub min_expires_s: u32,
    /// Longest registration granted, in seconds. Default 3600.
    pub max_expires_s: u32,
    /// Phones whose User-Agent contains one of these are offered MD5 alone
    /// (they give up on a challenge list with anything else). Default
    /// `["baresip"]`.
    pub md5_only_user_agents: Vec<String>,
    /// Where calls to a registered phone go: `auto` (its Contact, unless
    /// the Contact is a private address other than the one the REGISTER
    /// came from: then that address, the phone being behind NAT; over TCP
    /// and TLS the phone's own connection), `always` (always the address
    /// the REGISTER came from) or `never` (always the Contact). Default
    /// `auto`.
    pub nat: String,
}

impl Default for RegistrarSection {
    fn default() -> Self {
        RegistrarSection {
            algorithms: vec!["MD5".into(), "SHA-256".into()],
            min_expires_s: 60,
            max_expires_s: 3600,
            md5_only_user_agents: vec!["baresip".into()],
            nat: "auto".into(),
        }
    }
}

impl RegistrarSection {
    pub fn to_registrar(&self) -> anyhow::Result<frontdoor_sip::registrar::RegistrarConfig> {
        use frontdoor_sip::digest::Algorithm;
        let algorithms = self
            .algorithms
            .iter()
            .map(|a| {
                Algorithm::from_name(a).map_err(|_| {
                    anyhow::anyhow!(
                        "registrar.algorithms: unknown `{a}`: use \"SHA-256\" or \"MD5\""
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(
            !algorithms.is_empty(),
            "registrar.algorithms must list at least one"
        );
        anyhow::ensure!(
            self.min_expires_s >= 1 && self.min_expires_s <= self.max_expires_s,
            "registrar: need 1 <= min_expires_s <= max_expires_s"
        );
        let mut config = frontdoor_sip::registrar::RegistrarConfig::default();
        config.digest.algorithms = algorithms;
        config.min_expires = self.min_expires_s;
        config.max_expires = self.max_expires_s;
        config.md5_only_user_agents = self.md5_only_user_agents.clone();
        config.nat = frontdoor_sip::registrar::Nat::parse(&self.nat).ok_or_else(|| {
            anyhow::anyhow!(
                "registrar.nat: {:?} is not one of auto, always, never",
                self.nat
            )
        })?;
        config.default_expires = config.default_expires.min(self.max_expires_s);
        Ok(config)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CtiSection {
    /// Address of the HTTP API, the CTI websocket, /healthz and /metrics.
    /// Default `0.0.0.0:8211`.
    pub http: SocketAddr,
    /// The store: `sqlite://PATH` (created on first start) or
    /// `postgres://user:password@host/db`. Default `sqlite://frontdoor.db`.
    pub db: String,
    /// The call-record spool, a directory: call records are written there
    /// first (fsynced) and go into the store from there, so calls never
    /// wait on the database and a database outage loses nothing. Keep it
    /// on a local disk. One engine per spool. Default `frontdoor.spool`.
    pub spool: std::path::PathBuf,
    /// How long a navigator stays in wrap-up after a call, in seconds (the
    /// queues' ACD times it). Default 60.
    pub wrap_up_s: u64,
    /// How long a login token lasts, in seconds. Default 43200 (12 h).
    pub token_ttl_s: u64,
    /// The reason codes navigators choose from to go not ready (the pages
    /// name each in English and French; a code they do not know is shown as
    /// it is). Default: break, meal, training, follow_up_calls,
    /// resource_research, debrief, meeting, system_issue, phone_problem (the
    /// engine sets it when a browser phone can no longer ring).
    pub not_ready_reasons: Vec<String>,
    /// The IANA time zone that says which day it is for follow-ups.
    /// Default `America/Toronto`.
    pub timezone: String,
    /// Places outside the engine navigators may transfer calls to, besides
    /// the crisis line and the centres' own phones (flows/centres.yaml):
    /// `[{ name = "Shelter intake", uri = "sip:intake@shelter.example.org" }]`.
    /// A navigator's transfer to any other URI is refused. Default none.
    pub transfer_destinations: Vec<TransferDestination>,
    /// After this many days a call record's caller number is replaced by a
    /// keyed hash (reports still count repeat callers), daily and by
    /// `frontdoor store purge`. 0 keeps numbers. Default 0.
    pub retention_days: u32,
    /// A navigator in wrap-up longer than this raises an alert on the
    /// wallboard, in seconds. Default 300.
    pub alert_wrap_up_s: u64,
    /// A navigator not ready longer than this raises an alert on the
    /// wallboard, in seconds. Default 1200.
    pub alert_not_ready_s: u64,
}

/// A place navigators may transfer calls to (`[cti] transfer_destinations`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TransferDestination {
    pub name: String,
    pub uri: String,
}

impl Default for CtiSection {
    fn default() -> Self {
        CtiSection {
            http: SocketAddr::from(([0, 0, 0, 0], 8211)),
            db: "sqlite://frontdoor.db".to_owned(),
            spool: "frontdoor.spool".into(),
            wrap_up_s: 60,
            token_ttl_s: 12 * 3600,
            not_ready_reasons: frontdoor_cti::DEFAULT_NOT_READY_REASONS
                .map(String::from)
                .to_vec(),
            timezone: "America/Toronto".to_owned(),
            transfer_destinations: Vec::new(),
            retention_days: 0,
            alert_wrap_up_s: 300,
            alert_not_ready_s: 1200,
        }
    }
}

impl CtiSection {
    pub fn to_cti(&self) -> frontdoor_cti::CtiConfig {
        frontdoor_cti::CtiConfig {
            http: self.http,
            db: self.db.clone(),
            spool: Some(self.spool.clone()),
            token_ttl: Duration::from_secs(self.token_ttl_s),
            not_ready_reasons: self.not_ready_reasons.clone(),
            timezone: self.timezone.clone(),
            alerts: frontdoor_cti::AlertLimits {
                wrap_up: Duration::from_secs(self.alert_wrap_up_s),
                not_ready: Duration::from_secs(self.alert_not_ready_s),
            },
            ..frontdoor_cti::CtiConfig::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Address for SIP over UDP and TCP. Default `0.0.0.0:5060`.
    pub listen: SocketAddr,
    /// The address peers reach us at (Via, Contact, SDP). Default: the
    /// listen address, or when that is a wildcard, this host's primary
    /// address (127.0.0.1 if it has none).
    pub advertise: Option<std::net::IpAddr>,
    /// Request-URI users that enter the IVR. Default `["211"]`.
    pub numbers: Vec<String>,
    /// Largest SIP message accepted, in bytes (UDP and TCP). Default 65535.
    pub max_message_bytes: usize,
    /// RFC 3261 timer T1 in milliseconds (RTT estimate). Default 500.
    pub t1_ms: u64,
    /// RFC 3261 timer T2 in milliseconds (longest retransmit interval). Default 4000.
    pub t2_ms: u64,
    /// RFC 3261 timer T4 in milliseconds (time a message lingers in the network). Default 5000.
    pub t4_ms: u64,
    /// Peers (addresses or `address/prefix` networks) whose
    /// P-Asserted-Identity gives the caller's number: the carrier's trunk,
    /// our own SIP proxy (RFC 3325 trust domain). From anyone else the
    /// header is ignored and the number comes from From. Default: none.
    pub trusted_proxies: Vec<String>,
    /// Session timers (RFC 4028) on the calls we answer: our Min-SE, in
    /// seconds; a carrier asking for less gets 422. Default 90 (the RFC's
    /// floor; lower only for tests).
    pub session_min_s: u64,
    /// The longest session interval we keep, in seconds (a longer one
    /// asked for is lowered). Default 1800.
    pub session_max_s: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// RTP port range, `"A-B"`. Default `"20000-29999"`.
    pub rtp_ports: String,
    /// Folder of prompts: `<dir>/en/*.wav`, `<dir>/fr/*.wav`. Default `prompts`.
    pub prompts: PathBuf,
    /// Hang up a call whose caller sends no RTP for this many seconds (a
    /// phone that lost its network never sends BYE); 0 turns it off. Calls
    /// on hold are exempt. Default 60.
    pub rtp_timeout_s: u64,
    /// Browser phones: the engine's WebRTC port (ICE-lite, DTLS-SRTP) on
    /// the SIP address. Default true.
    pub webrtc: bool,
    /// Its UDP port; 0: any free port (logged at start). Set one so a
    /// firewall can let browsers reach it. Default 0.
    pub webrtc_port: u16,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// Calls in progress beyond which new calls get 503 + Retry-After. Default 2000.
    pub max_calls: usize,
    /// On SIGTERM, how long calls in progress may go on before the engine
    /// hangs them up and exits, in seconds. Default 300.
    pub drain_timeout_s: u64,
    /// Crisis calls (the crisis key, the crisis queue or line) still up
    /// at the drain limit stay this many seconds longer: they are hung up
    /// last. A second SIGTERM hangs up every call at once. Default 600.
    pub drain_crisis_extra_s: u64,
    /// Ring (180 Ringing) this many milliseconds before answering. Default 0.
    pub answer_delay_ms: u64,
    /// The share of `max_calls`, in percent, kept for callers in crisis:
    /// past `max_calls` minus this share, a new call hears that every line
    /// is busy and only the crisis key takes it further (to the crisis
    /// queue). 0 turns the reserve off. Default 10.
    pub crisis_reserve_percent: u8,
}

impl CallsConfig {
    /// The number of calls in progress past which a new call enters the
    /// crisis reserve, if it is on.
    pub fn reserve_from(&self) -> Option<usize> {
        let percent = usize::from(self.crisis_reserve_percent.min(100));
        (percent > 0).then(|| self.max_calls - self.max_calls * percent / 100)
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            advertise: None,
            numbers: vec!["211".to_owned()],
            max_message_bytes: 65_535,
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
            trusted_proxies: Vec::new(),
            session_min_s: 90,
            session_max_s: 1800,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: "20000-29999".to_owned(),
            prompts: PathBuf::from("prompts"),
            rtp_timeout_s: 60,
            webrtc: true,
            webrtc_port: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsConfig {
    /// Folder of the call flows: `211.yaml`, `centres.yaml`, `regions.csv`,
    /// `tests/`. Default `flows`.
    pub dir: PathBuf,
    /// How often to look for changed flow or prompt files while serving, in
    /// milliseconds; 0 turns the watch off (SIGHUP still reloads). Default 2000.
    pub reload_poll_ms: u64,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            dir: PathBuf::from("flows"),
            reload_poll_ms: 2_000,
        }
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            max_calls: 2_000,
            crisis_reserve_percent: 10,
            drain_timeout_s: 300,
            drain_crisis_extra_s: 600,
            answer_delay_ms: 0,
        }
    }
}

impl Config {
    /// Parse a config from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // `file:line:col: message`, the form editors and CI logs link to.
            let (line, col) = e.span().map_or((1, 1), |span| line_col(text, span.start));
            anyhow::anyhow!("{origin}:{line}:{col}: {}", e.message().trim_end())
        })?;
        config.validate().with_context(|| origin.to_owned())?;
        Ok(config)
    }

    /// Read `path`; `None` reads `frontdoor.toml` when it exists, else defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("frontdoor.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::from_toml(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(e) => Err(anyhow::anyhow!(
                "cannot read config {}: {e}",
                path.display()
            )),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        parse_port_range(&self.media.rtp_ports)?;
        anyhow::ensure!(
            !self.sip.numbers.is_empty(),
            "sip.numbers must list at least one number"
        );
        anyhow::ensure!(
            self.sip.t1_ms > 0 && self.sip.t2_ms >= self.sip.t1_ms,
            "sip: need 0 < t1_ms <= t2_ms"
        );
        anyhow::ensure!(
            self.sip.max_message_bytes >= 1024,
            "sip.max_message_bytes must be at least 1024"
        );
        crate::call::TrustedPeers::parse(&self.sip.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("sip.trusted_proxies: {e}"))?;
        anyhow::ensure!(
            self.sip.session_min_s >= 2 && self.sip.session_max_s >= self.sip.session_min_s,
            "sip: need 2 <= session_min_s <= session_max_s"
        );
        self.registrar.to_registrar()?;
        self.tls.files()?;
        let l = &self.limits;
        anyhow::ensure!(
            l.tcp_connections >= 1
                && l.tcp_connections_per_source >= 1
                && l.tcp_idle_s >= 1
                && l.tcp_message_s >= 1
                && l.ack_wait_s >= 1,
            "limits: tcp_connections, tcp_connections_per_source, tcp_idle_s, tcp_message_s and ack_wait_s must be at least 1"
        );
        anyhow::ensure!(
            l.register_failures_per_user >= 1 && l.register_failures_per_source >= 1,
            "limits: register_failures_per_user and register_failures_per_source must be at least 1"
        );
        self.trunk.accept_from()?;
        anyhow::ensure!(
            !self.trunk.register || !self.trunk.proxy.is_empty(),
            "trunk.register needs trunk.proxy: the trunks to register to"
        );
        anyhow::ensure!(
            self.trunk.register_expires_s >= 60,
            "trunk.register_expires_s must be at least 60"
        );
        if let Some(bad) = self.trunk.proxy.iter().find(|p| {
            p.rsplit_once(':')
                .is_none_or(|(h, port)| h.is_empty() || port.parse::<u16>().is_err())
        }) {
            anyhow::bail!("trunk.proxy: {bad:?} is not host:port");
        }
        crate::dial_plan::DialPlan::validate(&self.trunk.allowed_prefixes)
            .and_then(|()| crate::dial_plan::DialPlan::validate(&self.trunk.blocked_prefixes))
            .map_err(|e| anyhow::anyhow!("trunk: {e}"))?;
        let c = &self.cti;
        anyhow::ensure!(
            !c.not_ready_reasons.is_empty()
                && c.not_ready_reasons.iter().all(|r| {
                    !r.is_empty()
                        && r.len() <= 40
                        && r.bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
                }),
            "cti.not_ready_reasons: list at least one code of lower-case letters, digits and _"
        );
        if let Some(d) = c
            .transfer_destinations
            .iter()
            .find(|d| !d.uri.starts_with("sip:") || d.name.trim().is_empty())
        {
            anyhow::bail!(
                "cti.transfer_destinations: {:?} needs a name and a sip: URI",
                d.uri
            );
        }
        anyhow::ensure!(
            jiff::tz::TimeZone::get(&c.timezone).is_ok(),
            "cti.timezone {:?} is not a known time zone (e.g. America/Toronto)",
            c.timezone
        );
        if let Some(problem) = self.reports.problem() {
            anyhow::bail!(problem);
        }
        let q = &self.queues;
        anyhow::ensure!(
            q.ring_timeout_s > 0,
            "queues.ring_timeout_s must be at least 1"
        );
        anyhow::ensure!(
            q.callback_attempts > 0,
            "queues.callback_attempts must be at least 1"
        );
        anyhow::ensure!(
            q.callback_dial_timeout_s > 0,
            "queues.callback_dial_timeout_s must be at least 1"
        );
        if let Some(uri) = &q.fallback {
            anyhow::ensure!(
                uri.starts_with("sip:"),
                "queues.fallback {uri:?} is not a sip: URI"
            );
        }
        Ok(())
    }

    pub fn timers(&self) -> frontdoor_sip::transaction::TimerConfig {
        frontdoor_sip::transaction::TimerConfig {
            t1: Duration::from_millis(self.sip.t1_ms),
            t2: Duration::from_millis(self.sip.t2_ms),
            t4: Duration::from_millis(self.sip.t4_ms),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parse `"A-B"` into an RTP port range: even bounds are not required, but
/// the range must hold at least two ports and stay above 1023.
pub fn parse_port_range(text: &str) -> anyhow::Result<RangeInclusive<u16>> {
    let (a, b) = text.split_once('-').ok_or_else(|| {
        anyhow::anyhow!("RTP port range {text:?}: expected A-B, e.g. 20000-29999")
    })?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|_| anyhow::anyhow!("RTP port range {text:?}: {s:?} is not a port number"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    anyhow::ensure!(
        a >= 1024 && a < b,
        "RTP port range {text:?}: need 1024 <= A < B"
    );
    Ok(a..=b)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_trunks_password_goes_only_to_the_trunk() {
        let mut trunk = TrunkSection {
            username: Some("frontdoor".into()),
            password: Some("secret".into()),
            ..TrunkSection::default()
        };
        assert_eq!(
            trunk.credentials(),
            None,
            "no proxy: a URI's own host is not the trunk"
        );
        trunk.proxy = vec!["trunk.example.org:5060".into()];
        assert_eq!(
            trunk.credentials(),
            Some(("frontdoor".into(), "secret".into()))
        );
    }

    use super::*;

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let c = Config::from_toml("", "test").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.sip.listen.to_string(), "0.0.0.0:5060");
        assert_eq!(c.media.rtp_ports, "20000-29999");
        assert_eq!(c.sip.numbers, vec!["211"]);
    }

    #[test]
    fn keys_override_defaults_one_by_one() {
        let c = Config::from_toml(
            "[sip]\nlisten = \"127.0.0.1:5070\"\nnumbers = [\"211\", \"18002111234\"]\n[calls]\nmax_calls = 5\n",
            "test",
        )
        .unwrap();
        assert_eq!(c.sip.listen.port(), 5070);
        assert_eq!(c.sip.numbers.len(), 2);
        assert_eq!(c.calls.max_calls, 5);
        assert_eq!(c.calls.drain_timeout_s, 300);
    }

    #[test]
    fn unknown_keys_are_refused_at_file_line_col() {
        let err = Config::from_toml("[sip]\nlisen = \"x\"\n", "frontdoor.toml").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.starts_with("frontdoor.toml:2:1: "), "{text}");
        assert!(text.contains("lisen"), "{text}");
    }

    #[test]
    fn a_bad_value_is_reported_where_it_is() {
        let err = Config::from_toml("[calls]\n\nmax_calls = \"many\"\n", "site.toml").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.starts_with("site.toml:3:13: "), "{text}");
    }

    #[test]
    fn line_col_counts_characters_not_bytes() {
        assert_eq!(line_col("a\nbc", 0), (1, 1));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("é = 1", 3), (1, 3));
        assert_eq!(line_col("x", 99), (1, 2));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("20000-29999").unwrap(), 20000..=29999);
        for bad in ["20000", "30000-20000", "80-90", "a-b", "20000-20000"] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_trunk_or_several_and_what_is_refused() {
        let one = Config::from_toml("[trunk]\nproxy = \"a.example:5060\"\n", "t").unwrap();
        assert_eq!(one.trunk.proxy, ["a.example:5060"]);
        let two = Config::from_toml("[trunk]\nproxy = [\"a:5060\", \"b:5070\"]\n", "t").unwrap();
        assert_eq!(two.trunk.first_proxy(), Some("a:5060"));
        two.validate().unwrap();
        let error = Config::from_toml("[trunk]\nproxy = 5060\n", "t.toml").unwrap_err();
        assert!(error.to_string().starts_with("t.toml:2:9: "), "{error}");
        for (bad, says) in [
            ("[trunk]\nproxy = \"a.example\"\n", "not host:port"),
            ("[trunk]\nregister = true\n", "needs trunk.proxy"),
            (
                "[trunk]\naccept_from = [\"300.1.1.1\"]\n",
                "trunk.accept_from",
            ),
            (
                "[sip]\nsession_min_s = 100\nsession_max_s = 90\n",
                "session_min_s",
            ),
        ] {
            let error = Config::from_toml(bad, "t").unwrap_err();
            assert!(format!("{error:#}").contains(says), "{bad}: {error:#}");
        }
    }

    #[test]
    fn the_shipped_example_config_loads() {
        let text = include_str!("../frontdoor.example.toml");
        let c = Config::from_toml(text, "frontdoor.example.toml").unwrap();
        assert_eq!(c, Config::default(), "the example documents the defaults");
    }
}
