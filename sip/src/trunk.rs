//! The carrier's trunks, as the engine keeps them alive: registration to
//! carriers that deliver calls only to a registered trunk (RFC 3261 §10,
//! with digest), and OPTIONS keep-alives that tell which trunks answer, so
//! that calls go out through the first trunk that is up.
//!
//! Sans-IO like the rest of the crate: [`Trunks`] builds the REGISTER and
//! OPTIONS requests ([`Trunks::poll_request`]) that the user agent sends in
//! client transactions, is told their outcome ([`Trunks::on_response`],
//! [`Trunks::on_timeout`]), and says when it next needs the clock
//! ([`Trunks::poll_timeout`]).
//!
//! **Registration.** A REGISTER for the trunk's address of record with our
//! Contact and `Expires`; one 401/407 is answered with the trunk's
//! credentials (another one right after ours means they are wrong); a 423
//! takes the registrar's `Min-Expires`. Once registered, it is refreshed
//! before it expires (at half the granted time, or a minute before, the
//! later of the two). A failure (an error response, or no response) is
//! retried after [`Registration::retry`], doubling up to
//! [`Registration::retry_max`].
//!
//! **Keep-alives.** An OPTIONS every [`TrunkConfig::keepalive`]: any final
//! response but 503 means the trunk is up; 503 or no response at all means
//! it is down. A trunk with a registration is up only while registered.
//! [`Trunks::order`] lists the trunks up first, in their configured order.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request, Response};

use crate::digest::DigestClient;
use crate::message;
use crate::transaction::TransactionKey;
use crate::{Peer, Transport};

/// One trunk of the carrier.
#[derive(Debug, Clone)]
pub struct TrunkConfig {
    /// As configured (`host:port`), for logs, `/healthz` and metrics.
    pub name: String,
    /// Where its requests go.
    pub peer: Peer,
    /// The interval of OPTIONS keep-alives; `None`: not probed (up unless
    /// its registration fails).
    pub keepalive: Option<Duration>,
    /// Register to it (for carriers that deliver calls only to a
    /// registered trunk).
    pub register: Option<Registration>,
}

/// What a trunk's registration needs.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The address of record, e.g. `sip:6135550100@carrier.example`: the
    /// To and From of the REGISTER.
    pub aor: String,
    /// The Request-URI, e.g. `sip:carrier.example`.
    pub registrar: String,
    /// (username, password) for the registrar's digest challenge.
    pub credentials: Option<(String, String)>,
    /// The registration time asked for.
    pub expires: Duration,
    /// The first wait before trying again after a failure; doubles each
    /// time up to `retry_max`.
    pub retry: Duration,
    pub retry_max: Duration,
}

/// Where a trunk's registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not yet tried, or a REGISTER is on its way.
    Registering,
    /// Registered until `until`.
    Registered { until: Instant },
    /// The last attempt failed with `code` (408: no response); tried
    /// again at `retry_at`.
    Failed { code: u16, retry_at: Instant },
}

/// A trunk's state, for `/healthz`, the metrics and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkStatus {
    pub name: String,
    pub peer: Peer,
    /// Calls may go out through it.
    pub up: bool,
    /// The last keep-alive was answered (`None`: none sent yet, or no
    /// keep-alives).
    pub reachable: Option<bool>,
    pub registration: Option<RegistrationState>,
}

/// A request from [`Trunks::poll_request`]: send it to `peer` in a client
/// transaction and give its key back with [`Trunks::sent`].
#[derive(Debug)]
pub struct TrunkRequest {
    pub trunk: usize,
    pub peer: Peer,
    pub request: Request,
}

#[derive(Debug)]
struct Keepalive {
    every: Duration,
    next: Instant,
    pending: Option<TransactionKey>,
    reachable: Option<bool>,
}

#[derive(Debug)]
struct Registrar {
    config: Registration,
    state: RegistrationState,
    next: Option<Instant>,
    pending: Option<TransactionKey>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    digest: Option<DigestClient>,
    /// The last REGISTER answered a challenge: another one fails.
    answered_challenge: bool,
    /// Asked-for time (a 423 raises it).
    expires: Duration,
    /// Failures in a row, for the back-off.
    failures: u32,
}

#[derive(Debug)]
struct Trunk {
    config: TrunkConfig,
    keepalive: Option<Keepalive>,
    registrar: Option<Registrar>,
}

impl Trunk {
    fn status(&self) -> TrunkStatus {
        let reachable = self.keepalive.as_ref().and_then(|k| k.reachable);
        let registration = self.registrar.as_ref().map(|r| r.state.clone());
        let registered = registration
            .as_ref()
            .is_none_or(|r| matches!(r, RegistrationState::Registered { .. }));
        TrunkStatus {
            name: self.config.name.clone(),
            peer: self.config.peer,
            up: reachable != Some(false) && registered,
            reachable,
            registration,
        }
    }
}

/// What we say about ourselves in REGISTER and OPTIONS.
#[derive(Debug, Clone)]
pub struct Local {
    /// Via sent-by.
    pub addr: SocketAddr,
    /// Our Contact URI for the registration, e.g. `sip:211@192.0.2.5:5060`.
    pub contact: String,
    /// The `User-Agent`.
    pub product: String,
}

/// The carrier's trunks: see the module comment.
#[derive(Debug)]
pub struct Trunks {
    local: Local,
    trunks: Vec<Trunk>,
    /// Statuses as last reported by [`Trunks::poll_change`].
    reported: Vec<TrunkStatus>,
}

impl Trunks {
    /// The trunks, each probed and registered at once (from `now`).
    pub fn new(local: Local, configs: Vec<TrunkConfig>, now: Instant) -> Trunks {
        let trunks: Vec<Trunk> = configs
            .into_iter()
            .map(|config| Trunk {
                keepalive: config.keepalive.map(|every| Keepalive {
                    every,
                    next: now,
                    pending: None,
                    reachable: None,
                }),
                registrar: config.register.clone().map(|r| Registrar {
                    expires: r.expires,
                    digest: r
                        .credentials
                        .clone()
                        .map(|(user, password)| DigestClient::new(user, password)),
                    config: r,
                    state: RegistrationState::Registering,
                    next: Some(now),
                    pending: None,
                    call_id: format!("{}@{}", message::new_call_id(), local.addr.ip()),
                    from_tag: message::new_tag(),
                    cseq: 0,
                    answered_challenge: false,
                    failures: 0,
                }),
                config,
            })
            .collect();
        let reported = trunks.iter().map(Trunk::status).collect();
        Trunks {
            local,
            trunks,
            reported,
        }
    }

    /// No trunks.
    pub fn none() -> Trunks {
        Trunks {
            local: Local {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                contact: String::new(),
                product: String::new(),
            },
            trunks: Vec::new(),
            reported: Vec::new(),
        }
    }

    /// No trunk configured.
    pub fn is_empty(&self) -> bool {
        self.trunks.is_empty()
    }

    /// Every trunk's state, in configured order.
    pub fn status(&self) -> Vec<TrunkStatus> {
        self.trunks.iter().map(Trunk::status).collect()
    }

    /// The trunks' next hops for a call: those up first, then the others
    /// (a trunk believed down is still better than no call), each group in
    /// configured order.
    pub fn order(&self) -> Vec<Peer> {
        let status = self.status();
        let up = status.iter().filter(|s| s.up).map(|s| s.peer);
        let down = status.iter().filter(|s| !s.up).map(|s| s.peer);
        up.chain(down).collect()
    }

    /// A trunk whose state changed since the last call, if any.
    pub fn poll_change(&mut self) -> Option<TrunkStatus> {
        for (i, trunk) in self.trunks.iter().enumerate() {
            let now = trunk.status();
            if health(&now) != health(&self.reported[i]) {
                self.reported[i] = now.clone();
                return Some(now);
            }
        }
        None
    }

    /// When [`Trunks::poll_request`] next has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trunks
            .iter()
            .flat_map(|t| {
                let k = t
                    .keepalive
                    .as_ref()
                    .filter(|k| k.pending.is_none())
                    .map(|k| k.next);
                let r = t
                    .registrar
                    .as_ref()
                    .filter(|r| r.pending.is_none())
                    .and_then(|r| r.next);
                [k, r]
            })
            .flatten()
            .min()
    }

    /// A request due at `now`, if any; give its transaction key back with
    /// [`Trunks::sent`] (or [`Trunks::on_timeout`] if it could not be sent).
    pub fn poll_request(&mut self, now: Instant) -> Option<TrunkRequest> {
        for (i, trunk) in self.trunks.iter_mut().enumerate() {
            let peer = trunk.config.peer;
            if let Some(r) = trunk.registrar.as_mut()
                && r.pending.is_none()
                && r.next.is_some_and(|at| at <= now)
            {
                r.next = None;
                let request = register(&self.local, peer, r);
                return Some(TrunkRequest {
                    trunk: i,
                    peer,
                    request,
                });
            }
            if let Some(k) = trunk.keepalive.as_mut()
                && k.pending.is_none()
                && k.next <= now
            {
                k.next = now + k.every;
                let request = options(&self.local, peer, &trunk.config.name);
                return Some(TrunkRequest {
                    trunk: i,
                    peer,
                    request,
                });
            }
        }
        None
    }

    /// The request from [`Trunks::poll_request`] went out in transaction `key`.
    pub fn sent(&mut self, request: &TrunkRequest, key: TransactionKey) {
        let Some(trunk) = self.trunks.get_mut(request.trunk) else {
            return;
        };
        match request.request.method {
            Method::Register => {
                if let Some(r) = trunk.registrar.as_mut() {
                    r.pending = Some(key);
                }
            }
            _ => {
                if let Some(k) = trunk.keepalive.as_mut() {
                    k.pending = Some(key);
                }
            }
        }
    }

    /// Whether `key` is one of ours.
    pub fn owns(&self, key: &TransactionKey) -> bool {
        self.trunks.iter().any(|t| {
            t.registrar.as_ref().and_then(|r| r.pending.as_ref()) == Some(key)
                || t.keepalive.as_ref().and_then(|k| k.pending.as_ref()) == Some(key)
        })
    }

    /// A response in one of our transactions (provisional ones are ignored).
    pub fn on_response(&mut self, now: Instant, key: &TransactionKey, response: &Response) {
        let code = response.status_code.code();
        if code < 200 {
            return;
        }
        for trunk in &mut self.trunks {
            if let Some(k) = trunk.keepalive.as_mut()
                && k.pending.as_ref() == Some(key)
            {
                k.pending = None;
                k.reachable = Some(code != 503);
                return;
            }
            if let Some(r) = trunk.registrar.as_mut()
                && r.pending.as_ref() == Some(key)
            {
                r.pending = None;
                on_register_response(now, r, response);
                return;
            }
        }
    }

    /// No response at all in one of our transactions.
    pub fn on_timeout(&mut self, now: Instant, key: &TransactionKey) {
        for trunk in &mut self.trunks {
            if let Some(k) = trunk.keepalive.as_mut()
                && k.pending.as_ref() == Some(key)
            {
                k.pending = None;
                k.reachable = Some(false);
                return;
            }
            if let Some(r) = trunk.registrar.as_mut()
                && r.pending.as_ref() == Some(key)
            {
                r.pending = None;
                fail(now, r, 408);
                return;
            }
        }
    }
}

/// What a status says about health: not every refresh's new expiry.
fn health(s: &TrunkStatus) -> (bool, Option<bool>, Option<(u8, u16)>) {
    let registration = s.registration.as_ref().map(|r| match r {
        RegistrationState::Registering => (0, 0),
        RegistrationState::Registered { .. } => (1, 0),
        RegistrationState::Failed { code, .. } => (2, *code),
    });
    (s.up, s.reachable, registration)
}

/// A header of delta-seconds (`Expires`, `Min-Expires`).
fn header_seconds(headers: &rsip::Headers, name: &str) -> Option<Duration> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::Expires(v) if name.eq_ignore_ascii_case("Expires") => Some(v.value()),
            Header::MinExpires(v) if name.eq_ignore_ascii_case("Min-Expires") => Some(v.value()),
            Header::Other(n, v) if n.trim().eq_ignore_ascii_case(name) => Some(v.as_str()),
            _ => None,
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn on_register_response(now: Instant, r: &mut Registrar, response: &Response) {
    let code = response.status_code.code();
    match code {
        200..=299 => {
            let granted = granted_expiry(response).unwrap_or(r.expires);
            r.failures = 0;
            r.answered_challenge = false;
            if granted.is_zero() {
                return fail(now, r, code);
            }
            r.state = RegistrationState::Registered {
                until: now + granted,
            };
            let refresh = (granted / 2).max(granted.saturating_sub(Duration::from_secs(60)));
            r.next = Some(now + refresh);
        }
        401 | 407 if !r.answered_challenge => {
            match r.digest.as_mut().map(|d| d.on_challenge(response)) {
                Some(Ok(())) => {
                    r.answered_challenge = true;
                    r.next = Some(now);
                }
                _ => fail(now, r, code),
            }
        }
        423 => {
            let min = header_seconds(&response.headers, "Min-Expires");
            match min {
                Some(min) if min > r.expires && !min.is_zero() => {
                    r.expires = min;
                    r.next = Some(now);
                }
                _ => fail(now, r, code),
            }
        }
        _ => fail(now, r, code),
    }
}

fn fail(now: Instant, r: &mut Registrar, code: u16) {
    let backoff = r
        .config
        .retry
        .saturating_mul(1 << r.failures.min(16))
        .min(r.config.retry_max);
    r.failures += 1;
    r.answered_challenge = false;
    let retry_at = now + backoff;
    r.state = RegistrationState::Failed { code, retry_at };
    r.next = Some(retry_at);
}

/// The time the registrar granted our Contact: its `expires` parameter in
/// the 2xx's Contact, else the `Expires` header (RFC 3261 §10.2.4).
fn granted_expiry(response: &Response) -> Option<Duration> {
    let from_contact = response.headers.iter().find_map(|h| match h {
        Header::Contact(c) => {
            let value = c.value();
            value
                .split(';')
                .skip(1)
                .find_map(|p| {
                    let (name, v) = p.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("expires")
                        .then(|| v.trim().parse::<u64>().ok())?
                })
                .map(Duration::from_secs)
        }
        _ => None,
    });
    from_contact.or_else(|| header_seconds(&response.headers, "Expires"))
}

fn base_headers(local: &Local, peer: Peer) -> rsip::Headers {
    let mut headers = rsip::Headers::default();
    headers.push(Header::Via(rsip::headers::Via::new(format!(
        "SIP/2.0/{} {};branch={};rport",
        peer.transport.via_token(),
        local.addr,
        message::new_branch()
    ))));
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    headers
}

fn register(local: &Local, peer: Peer, r: &mut Registrar) -> Request {
    r.cseq += 1;
    let mut headers = base_headers(local, peer);
    let aor = &r.config.aor;
    headers.push(Header::From(rsip::headers::From::new(format!(
        "<{aor}>;tag={}",
        r.from_tag
    ))));
    headers.push(Header::To(rsip::headers::To::new(format!("<{aor}>"))));
    headers.push(Header::CallId(rsip::headers::CallId::new(
        r.call_id.clone(),
    )));
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
        "{} REGISTER",
        r.cseq
    ))));
    let transport = match peer.transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
    };
    headers.push(Header::Contact(rsip::headers::Contact::new(format!(
        "<{}{transport}>",
        local.contact
    ))));
    headers.push(Header::Expires(rsip::headers::Expires::new(
        r.expires.as_secs().to_string(),
    )));
    headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
        local.product.clone(),
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    let uri = message::parse_uri(&r.config.registrar)
        .or_else(|_| message::parse_uri(&format!("sip:{}", peer.addr)))
        .unwrap_or_default();
    let mut request = Request {
        method: Method::Register,
        uri,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    };
    if let Some(digest) = r.digest.as_mut() {
        // Under the last challenge (a refresh reuses its nonce, counting
        // up); nothing before the first one.
        digest.authorize(&mut request, &message::new_tag());
    }
    request
}

fn options(local: &Local, peer: Peer, name: &str) -> Request {
    let mut headers = base_headers(local, peer);
    let host = local.addr.ip();
    headers.push(Header::From(rsip::headers::From::new(format!(
        "<sip:frontdoor@{host}>;tag={}",
        message::new_tag()
    ))));
    headers.push(Header::To(rsip::headers::To::new(format!("<sip:{name}>"))));
    headers.push(Header::CallId(rsip::headers::CallId::new(format!(
        "{}@{host}",
        message::new_call_id()
    ))));
    headers.push(Header::CSeq(rsip::headers::CSeq::new("1 OPTIONS")));
    headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
        local.product.clone(),
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    let uri = message::parse_uri(&format!("sip:{}", peer.addr)).unwrap_or_default();
    Request {
        method: Method::Options,
        uri,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
