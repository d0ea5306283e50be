//! The registrar (RFC 3261 §10.3): navigators' devices REGISTER as their
//! username, with digest authentication ([`crate::digest`]).
//!
//! Sans-IO like the rest of the crate: [`Registrar::handle`] takes a
//! REGISTER, the [`Peer`] it came from, `now` (Unix seconds, a `u64` so
//! that bindings survive a restart) and an account lookup, and returns the
//! response to send and what changed ([`Outcome`]). Nothing is read from a
//! clock or a store.
//!
//! # Wiring (what the binary does)
//!
//! - Routing: with [`crate::ua::UaConfig::registrar`] set, the user agent
//!   hands every REGISTER to the driver as
//!   [`crate::ua::UaEvent::Register`] (and lists REGISTER in `Allow`); the
//!   driver looks the account up (async, in the store), calls
//!   [`Registrar::handle`] and sends the response with
//!   [`crate::ua::UserAgent::respond_to`]. [`Registrar::auth_username`] names
//!   the account to look up before `handle` is called.
//! - Accounts: [`Account`] carries the store's `ha1_md5` / `ha1_sha256`
//!   (lowercase hex of `H(username:frontdoor:password)`) and `disabled`.
//! - Time: call [`Registrar::expire`] at [`Registrar::next_expiry`] (and
//!   whenever convenient); it also forgets expired nonces.
//! - Persistence (the store keeps one row per AOR: its bindings as text
//!   and the latest expiry): after an [`Outcome::Registered`] that
//!   [changed](Outcome::changed) something, and for each AOR named in what
//!   [`Registrar::expire`] returned, save [`Registrar::records`] of that
//!   AOR (none left: delete the row; the row's expiry is the largest
//!   `expires_at`). At start-up, [`Registrar::import`] every saved record.
//!   [`BindingRecord`] holds only strings and integers (this crate has no
//!   serde): the binary mirrors it in a `#[derive(Serialize, Deserialize)]`
//!   struct for the JSON. [`Registrar::export`] gives all of them at once.
//! - Secret: 32 random bytes at start-up ([`Registrar::new`]); persisting
//!   (or sharing it between nodes) keeps nonces valid across restarts,
//!   otherwise devices are simply challenged again.
//! - Calls to a navigator: [`Registrar::bindings`] gives each device's
//!   Contact URI and the [`Peer`] (transport and source address) it
//!   registered from: send the INVITE to that peer, as RFC 5626 does for
//!   devices behind NAT.
//!
//! # Decisions
//!
//! - The AOR is the user part of the To URI (any host): `sip:alice@…` is
//!   account `alice`. The account to authenticate is the digest
//!   `username`; when it is not the AOR's user: **403** (RFC 3261 §10.3
//!   step 4). A To URI without a user part: 404 (step 5).
//! - No credentials, an unknown account, a wrong password, a nonce we did
//!   not issue, a replayed nonce count (**401**, not 403: a fresh nonce
//!   lets a legitimate device recover at once; the replayed request changes
//!   nothing), an algorithm or qop we do not support: 401 with fresh
//!   challenges, one per configured algorithm in its order (RFC 8760
//!   §2.4; MD5 then SHA-256 by default). An expired nonce with a
//!   right response: 401 with `stale=true`. A digest `uri` that is not the
//!   Request-URI or an unreadable `Authorization`: 400 (RFC 7616 §3.4.6).
//! - With SHA-256 configured first, old devices that stop at the first
//!   challenge they cannot answer (the Debian baresip 1.0 gives up on
//!   SHA-256 even with MD5 offered next):
//!   a Call-ID that got the full set and comes back without credentials
//!   gets MD5 alone, see [`RegistrarConfig::legacy_md5_fallback`].
//! - A disabled account: 403, only after successful authentication (so the
//!   answer does not tell who exists).
//! - REGISTER without Contact is a query (RFC 3261 §10.2.3): 200 with the
//!   current bindings, after authentication. A Contact that cannot be read,
//!   a bad `Expires` or `expires`, `*` with other contacts or a non-zero
//!   expiry, a missing To / Call-ID / CSeq: 400 with a `Warning` that says
//!   why, before authentication (nothing about accounts is revealed).
//! - Expiry: the `expires` parameter, else the `Expires` header, else
//!   [`RegistrarConfig::default_expires`]; 0 removes; above
//!   [`RegistrarConfig::max_expires`] it is cut down; between 1 and
//!   [`RegistrarConfig::min_expires`] - 1 the whole request gets 423 with
//!   `Min-Expires` (§10.3 step 7).
//! - Call-ID/CSeq (§10.3 step 7): a request with the Call-ID of a binding
//!   and a CSeq not above the binding's is out of order: the whole request
//!   fails with 400 and nothing changes (updates are atomic). A different
//!   Call-ID (a device that restarted) replaces the binding.
//! - A `Require` header: 420 with `Unsupported` (no extension is
//!   supported: no `path`, `outbound`, `gruu`), before authentication.
//! - The Request-URI's domain is not checked: the registrar serves its
//!   accounts whatever host name the devices were configured with.
//! - At most [`RegistrarConfig::max_contacts`] bindings per AOR; a request
//!   that would exceed it gets 403 and changes nothing.
//! - Contacts are the same when their URIs are (text ignoring ASCII case,
//!   or the same parsed URI). Contact parameters other than `expires` (e.g.
//!   `+sip.instance`, `reg-id`) are kept and echoed in the 200, each
//!   contact with `expires=` its remaining seconds.

use std::collections::HashMap;
use std::net::SocketAddr;

use rsip::headers::UntypedHeader;
use rsip::prelude::*;
use rsip::{Header, Request, Response};

use crate::digest::{self, Algorithm, Credentials, DigestConfig, DigestError, DigestServer, quote};
use crate::message::{self, scan};
use crate::{Peer, Transport};
use parse::{ContactSpec, Parsed, parse_register};

/// What the store knows about an account, for the registrar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Lowercase hex `MD5(username:frontdoor:password)`; empty if none.
    pub ha1_md5: String,
    /// Lowercase hex `SHA-256(username:frontdoor:password)`; empty if none.
    pub ha1_sha256: String,
    pub disabled: bool,
}

impl Account {
    fn ha1(&self, algorithm: Algorithm) -> &str {
        match algorithm {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

/// Registrar policy.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Realm, nonce lifetime, algorithms offered.
    pub digest: DigestConfig,
    /// Shortest registration accepted, seconds (423 below it).
    pub min_expires: u32,
    /// Longest registration granted, seconds (longer ones are cut down).
    pub max_expires: u32,
    /// When the request names no expiry.
    pub default_expires: u32,
    /// Bindings per AOR.
    pub max_contacts: usize,
    /// Devices that cannot skip a challenge they do not understand (libre
    /// 1.x, so the Debian baresip 1.0, gives up with ENOSYS on a SHA-256
    /// challenge even when an MD5 one follows): when a Call-ID that got
    /// the full set of challenges comes back without any credentials, it
    /// gets an MD5-only challenge, and keeps getting one while it
    /// registers that way. Devices that answer the full set are never
    /// offered less. MD5 is accepted either way, so this gives nothing
    /// away; false disables it.
    pub legacy_md5_fallback: bool,
    /// Devices whose `User-Agent` contains one of these (case-insensitive)
    /// are offered MD5 alone from their first challenge, so they register
    /// at once rather than on a retry (default: `baresip`, for libre 1.x;
    /// see `legacy_md5_fallback`).
    pub md5_only_user_agents: Vec<String>,
    /// Where requests for a binding go ([`Binding::send_to`]). Default
    /// [`Nat::Auto`].
    pub nat: Nat,
}

/// Where requests for a registered phone go: to its Contact, or to the
/// address its REGISTER came from (the field's "fix NATed register" /
/// "rewrite contact" settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Nat {
    /// The Contact, unless the phone looks to be behind NAT: its Contact
    /// address is private and is not the address the REGISTER came from.
    /// Over TCP and TLS, the phone's own connection.
    #[default]
    Auto,
    /// Always the address the REGISTER came from (every phone behind NAT).
    Always,
    /// Always the Contact (no NAT anywhere); over TLS the phone's own
    /// connection all the same (the engine opens none to a phone).
    Never,
}

impl Nat {
    pub fn parse(s: &str) -> Option<Nat> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(Nat::Auto),
            "always" => Some(Nat::Always),
            "never" => Some(Nat::Never),
            _ => None,
        }
    }
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            digest: DigestConfig::default(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
            legacy_md5_fallback: true,
            md5_only_user_agents: vec!["baresip".to_owned()],
            nat: Nat::Auto,
        }
    }
}

/// One contact registered for an AOR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI (where to send requests for the AOR).
    pub uri: String,
    /// The Contact's other parameters as received, each with its leading
    /// `;` (e.g. `;+sip.instance="<urn:uuid:…>";reg-id=1`); no `expires`.
    pub params: String,
    /// Where the REGISTER came from: send requests there (NAT).
    pub peer: Peer,
    /// Unix seconds at which the binding lapses.
    pub expires_at: u64,
    pub call_id: String,
    pub cseq: u32,
    /// Unix seconds of the REGISTER that last set it.
    pub updated_at: u64,
}

impl Binding {
    /// Where to send requests for this binding, as `nat` says (see [`Nat`]).
    /// The Contact is used only when it names an IP address.
    pub fn send_to(&self, nat: Nat) -> Peer {
        let source = self.peer;
        let keep_connection = match nat {
            Nat::Always => return source,
            Nat::Auto => source.transport.is_reliable(),
            Nat::Never => source.transport == Transport::Tls,
        };
        if keep_connection {
            return source;
        }
        let Some(contact) = contact_peer(&self.uri) else {
            return source;
        };
        let behind_nat = contact.addr.ip() != source.addr.ip() && is_private(contact.addr.ip());
        if nat == Nat::Auto && behind_nat {
            source
        } else {
            contact
        }
    }

    /// Seconds left at `now` (0 once lapsed).
    pub fn remaining(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now)
    }

    fn live(&self, now: u64) -> bool {
        now < self.expires_at
    }
}

/// A binding as plain data, for the store: strings and integers only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindingRecord {
    pub aor: String,
    pub uri: String,
    pub params: String,
    /// `"UDP"` or `"TCP"`.
    pub transport: String,
    /// The socket address the device registered from, e.g. `192.0.2.7:5060`.
    pub source: String,
    pub expires_at: u64,
    pub call_id: String,
    pub cseq: u32,
    pub updated_at: u64,
}

/// What [`Registrar::import`] did with the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub restored: usize,
    /// Lapsed before `now`: dropped.
    pub expired: usize,
    /// Records that could not be read, with why.
    pub invalid: Vec<String>,
}

/// Why a request was challenged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` for our realm.
    NoCredentials,
    /// The digest username names no account.
    UnknownUser(String),
    /// The digest check failed.
    Digest(DigestError),
}

/// What a REGISTER did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 401 with challenges; `stale` when only the nonce had expired.
    Challenged { stale: bool, why: AuthFailure },
    /// An error response (400, 403, 404, 420, 423) and nothing changed.
    Refused { code: u16, reason: String },
    /// 200: how the bindings of `aor` changed. `removed` also holds the
    /// bindings that had lapsed since the last [`Registrar::expire`] (the
    /// store may delete them). A query (no Contact) changes nothing.
    Registered {
        aor: String,
        added: Vec<Binding>,
        refreshed: Vec<Binding>,
        removed: Vec<Binding>,
    },
}

impl Outcome {
    /// Whether bindings changed (so the store needs saving).
    pub fn changed(&self) -> bool {
        match self {
            Outcome::Registered {
                added,
                refreshed,
                removed,
                ..
            } => !(added.is_empty() && refreshed.is_empty() && removed.is_empty()),
            _ => false,
        }
    }

    /// The response's status code.
    pub fn code(&self) -> u16 {
        match self {
            Outcome::Challenged { .. } => 401,
            Outcome::Refused { code, .. } => *code,
            Outcome::Registered { .. } => 200,
        }
    }
}

/// The answer to a REGISTER: send `response`, act on `outcome`.
#[derive(Debug, Clone)]
pub struct RegisterReply {
    pub response: Response,
    pub outcome: Outcome,
}

/// How long a Call-ID sent the full challenge set waits for credentials
/// before a bare retry no longer counts as "could not answer", seconds.
const FALLBACK_WINDOW: u64 = 900;
/// Bound on the Call-IDs remembered for [`RegistrarConfig::legacy_md5_fallback`].
const MAX_FALLBACK_ENTRIES: usize = 65_536;

/// A Call-ID that was challenged and has not answered yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    at: u64,
    /// The last challenge was MD5 only.
    md5_only: bool,
}

/// The registrar; see the module docs.
pub struct Registrar {
    config: RegistrarConfig,
    digest: DigestServer,
    tag_key: [u8; 32],
    aors: HashMap<String, Vec<Binding>>,
    /// Call-IDs challenged and not answered yet (legacy MD5 fallback).
    pending: HashMap<String, Pending>,
    /// Call-IDs that registered after an MD5-only challenge → last time.
    legacy: HashMap<String, u64>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("config", &self.config)
            .field("aors", &self.aors.len())
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// `secret`: 32 random bytes from the driver; keys the nonces (and the
    /// To tags of our responses).
    pub fn new(config: RegistrarConfig, secret: [u8; 32]) -> Self {
        let tag_key = digest::hmac_sha256(&secret, b"frontdoor registrar to-tag");
        Registrar {
            digest: DigestServer::new(config.digest.clone(), secret),
            config,
            tag_key,
            aors: HashMap::new(),
            pending: HashMap::new(),
            legacy: HashMap::new(),
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The digest username of the request's `Authorization` for our realm:
    /// the account to look up before calling [`Registrar::handle`] when the
    /// lookup is asynchronous.
    pub fn auth_username(&self, request: &Request) -> Option<String> {
        self.our_credentials(request)
            .and_then(Result::ok)
            .map(|c| c.username)
    }

    /// Handle a REGISTER received from `peer` at `now` (Unix seconds).
    /// `lookup` is asked for the account named by the digest username (at
    /// most once). Never panics; every problem becomes a response.
    pub fn handle(
        &mut self,
        now: u64,
        peer: Peer,
        request: &Request,
        lookup: impl FnOnce(&str) -> Option<Account>,
    ) -> RegisterReply {
        let parsed = match parse_register(request) {
            Ok(parsed) => parsed,
            Err(reason) => return self.refuse(request, 400, reason),
        };
        // Step 2 (RFC 3261 §8.2.2.3): we support no extension a device
        // could require (e.g. `path`, `outbound`, `gruu`).
        let required: Vec<String> = request
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Require(r) => Some(r.value().to_owned()),
                _ => None,
            })
            .flat_map(|v| scan::list(&v).map(str::to_owned).collect::<Vec<_>>())
            .collect();
        if !required.is_empty() {
            let list = required.join(", ");
            let mut response = message::response(request, 420, Some(&self.to_tag(request)));
            response
                .headers
                .push(Header::Unsupported(rsip::headers::Unsupported::new(
                    list.clone(),
                )));
            return RegisterReply {
                response,
                outcome: Outcome::Refused {
                    code: 420,
                    reason: format!("unsupported extension required: {list}"),
                },
            };
        }
        // RFC 3261 §10.3 steps 3–4: who is asking.
        let user = match self.authenticate(now, request, &parsed.call_id, lookup) {
            Ok(user) => user,
            Err(reply) => return *reply,
        };
        let Some(aor) = parsed.aor.clone() else {
            return self.refuse(request, 404, "the To URI has no user part".into());
        };
        if aor != user {
            return self.refuse(request, 403, format!("{user} may not register for {aor}"));
        }
        self.update(now, peer, request, aor, parsed)
    }

    fn our_credentials(&self, request: &Request) -> Option<Result<Credentials, DigestError>> {
        let realm = &self.config.digest.realm;
        let mut first_error = None;
        for header in request.headers.iter() {
            let Header::Authorization(value) = header else {
                continue;
            };
            match Credentials::parse(value.value()) {
                Ok(creds) if creds.realm == *realm => return Some(Ok(creds)),
                Ok(_) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map(Err)
    }

    /// The authenticated username, or the reply to send (401, 400, 403).
    fn authenticate(
        &mut self,
        now: u64,
        request: &Request,
        call_id: &str,
        lookup: impl FnOnce(&str) -> Option<Account>,
    ) -> Result<String, Box<RegisterReply>> {
        let creds = match self.our_credentials(request) {
            None => {
                return Err(Box::new(self.challenge(
                    request,
                    now,
                    AuthFailure::NoCredentials,
                )));
            }
            Some(Ok(creds)) => creds,
            Some(Err(error)) => {
                // It answered something: not a device that cannot.
                self.pending.remove(call_id);
                return Err(Box::new(match error {
                    // The client may pick another of our challenges.
                    DigestError::UnsupportedAlgorithm(_)
                    | DigestError::UnsupportedQop(_)
                    | DigestError::Unsupported(_) => {
                        self.challenge(request, now, AuthFailure::Digest(error))
                    }
                    _ => self.refuse(request, 400, format!("bad Authorization header: {error}")),
                }));
            }
        };
        // It answered: whatever comes next is no sign of a legacy device.
        let was_pending = self.pending.remove(call_id);
        let Some(account) = lookup(&creds.username) else {
            let why = AuthFailure::UnknownUser(creds.username.clone());
            return Err(Box::new(self.challenge(request, now, why)));
        };
        let request_uri = request.uri.to_string();
        let verdict = self.digest.verify(
            now,
            "REGISTER",
            &request_uri,
            &creds,
            &creds.username,
            account.ha1(creds.algorithm),
        );
        match verdict {
            Ok(()) if account.disabled => Err(Box::new(self.refuse(
                request,
                403,
                format!("account {} is disabled", creds.username),
            ))),
            Ok(()) => {
                let fell_back = was_pending.is_some_and(|p| p.md5_only);
                if creds.algorithm == Algorithm::Md5
                    && (fell_back || self.legacy.contains_key(call_id))
                {
                    self.remember_legacy(now, call_id);
                }
                Ok(creds.username)
            }
            Err(error @ DigestError::UriMismatch { .. }) => {
                Err(Box::new(self.refuse(request, 400, error.to_string())))
            }
            Err(error) => Err(Box::new(self.challenge(
                request,
                now,
                AuthFailure::Digest(error),
            ))),
        }
    }

    /// RFC 3261 §10.3 steps 6–8, atomically.
    fn update(
        &mut self,
        now: u64,
        peer: Peer,
        request: &Request,
        aor: String,
        parsed: Parsed,
    ) -> RegisterReply {
        let (min, max) = (
            u64::from(self.config.min_expires),
            u64::from(self.config.max_expires.max(self.config.min_expires)),
        );
        let (mut current, lapsed): (Vec<Binding>, Vec<Binding>) = self
            .aors
            .get(&aor)
            .map(|b| b.iter().cloned().partition(|b| b.live(now)))
            .unwrap_or_default();
        let (mut added, mut refreshed, mut removed) = (Vec::new(), Vec::new(), lapsed);
        let (call_id, cseq) = (parsed.call_id, parsed.cseq);
        let out_of_order = |b: &Binding| b.call_id == call_id && cseq <= b.cseq;

        if matches!(parsed.contacts.first(), Some(ContactSpec::Star)) {
            // §10.3 step 6: `*` removes every binding, unless one is newer.
            if let Some(b) = current.iter().find(|b| out_of_order(b)) {
                let reason = format!("CSeq {cseq} is not above {} for this Call-ID", b.cseq);
                return self.refuse(request, 400, reason);
            }
            removed.append(&mut current);
        } else {
            // The same contact twice in one request: the last one counts.
            let mut wanted: Vec<(String, String, u64)> = Vec::new();
            for spec in parsed.contacts {
                let ContactSpec::Uri {
                    uri,
                    params,
                    expires,
                } = spec
                else {
                    continue;
                };
                let expires = expires
                    .or(parsed.expires)
                    .unwrap_or(u64::from(self.config.default_expires));
                // Step 7: 423 for any too-brief interval, before any change.
                if expires > 0 && expires < min {
                    return self.interval_too_brief(request);
                }
                wanted.retain(|(u, _, _)| !same_contact(u, &uri));
                wanted.push((uri, params, expires.min(max)));
            }
            for (uri, params, expires) in wanted {
                match current.iter().position(|b| same_contact(&b.uri, &uri)) {
                    Some(i) if out_of_order(&current[i]) => {
                        let reason = format!(
                            "CSeq {cseq} is not above {} for this Call-ID",
                            current[i].cseq
                        );
                        return self.refuse(request, 400, reason);
                    }
                    Some(i) if expires == 0 => removed.push(current.remove(i)),
                    Some(i) => {
                        let b = &mut current[i];
                        b.params = params;
                        b.peer = peer;
                        b.expires_at = now.saturating_add(expires);
                        b.call_id = call_id.clone();
                        b.cseq = cseq;
                        b.updated_at = now;
                        refreshed.push(b.clone());
                    }
                    None if expires == 0 => {}
                    None => {
                        let b = Binding {
                            uri,
                            params,
                            peer,
                            expires_at: now.saturating_add(expires),
                            call_id: call_id.clone(),
                            cseq,
                            updated_at: now,
                        };
                        added.push(b.clone());
                        current.push(b);
                    }
                }
            }
            if current.len() > self.config.max_contacts {
                let reason = format!("more than {} contacts for {aor}", self.config.max_contacts);
                return self.refuse(request, 403, reason);
            }
        }

        let mut response = message::response(request, 200, Some(&self.to_tag(request)));
        // RFC 3261 §10.3 step 8: a Date, which some devices set their clock by.
        response
            .headers
            .push(Header::Date(rsip::headers::Date::new(http_date(now))));
        for b in &current {
            let value = format!("<{}>{};expires={}", b.uri, b.params, b.remaining(now));
            response
                .headers
                .push(Header::Contact(rsip::headers::Contact::new(value)));
        }
        if current.is_empty() {
            self.aors.remove(&aor);
        } else {
            self.aors.insert(aor.clone(), current);
        }
        RegisterReply {
            response,
            outcome: Outcome::Registered {
                aor,
                added,
                refreshed,
                removed,
            },
        }
    }

    fn to_tag(&self, request: &Request) -> String {
        let call_id = request
            .call_id_header()
            .map(|h| h.value().to_owned())
            .unwrap_or_default();
        let cseq = request
            .cseq_header()
            .map(|h| h.value().to_owned())
            .unwrap_or_default();
        let mac = digest::hmac_sha256(&self.tag_key, format!("{call_id}\n{cseq}").as_bytes());
        digest::hex(&mac[..8])
    }

    fn challenge(&mut self, request: &Request, now: u64, why: AuthFailure) -> RegisterReply {
        let stale = matches!(why, AuthFailure::Digest(DigestError::Stale));
        let md5_only = self.md5_only(request, now, &why);
        let mut response = message::response(request, 401, Some(&self.to_tag(request)));
        let mut challenges = self.digest.challenges(now, stale);
        if md5_only {
            challenges.retain(|c| c.algorithm == Algorithm::Md5);
        }
        for challenge in challenges {
            response.headers.push(Header::WwwAuthenticate(
                rsip::headers::WwwAuthenticate::new(challenge.to_string()),
            ));
        }
        RegisterReply {
            response,
            outcome: Outcome::Challenged { stale, why },
        }
    }

    /// Whether to offer MD5 only ([`RegistrarConfig::legacy_md5_fallback`]).
    fn md5_only(&mut self, request: &Request, now: u64, why: &AuthFailure) -> bool {
        let algorithms = &self.config.digest.algorithms;
        if algorithms.len() < 2 || !algorithms.contains(&Algorithm::Md5) {
            return false;
        }
        let user_agent = request.headers.iter().find_map(|h| match h {
            Header::UserAgent(ua) => Some(ua.value().to_ascii_lowercase()),
            _ => None,
        });
        if let Some(ua) = user_agent
            && self
                .config
                .md5_only_user_agents
                .iter()
                .any(|known| ua.contains(&known.to_ascii_lowercase()))
        {
            return true;
        }
        if !self.config.legacy_md5_fallback {
            return false;
        }
        let Ok(call_id) = request
            .call_id_header()
            .map(|h| h.value().trim().to_owned())
        else {
            return false;
        };
        if self.legacy.contains_key(&call_id) {
            return true;
        }
        if *why != AuthFailure::NoCredentials {
            return false;
        }
        let window = FALLBACK_WINDOW.max(self.config.digest.nonce_ttl);
        match self.pending.get_mut(&call_id) {
            Some(p) if now <= p.at.saturating_add(window) => {
                // Challenged, and back with nothing: it could not answer.
                p.md5_only = true;
                p.at = now;
                true
            }
            _ => {
                if self.pending.len() >= MAX_FALLBACK_ENTRIES {
                    self.pending
                        .retain(|_, p| now <= p.at.saturating_add(window));
                }
                if self.pending.len() < MAX_FALLBACK_ENTRIES {
                    let fresh = Pending {
                        at: now,
                        md5_only: false,
                    };
                    self.pending.insert(call_id, fresh);
                }
                false
            }
        }
    }

    fn remember_legacy(&mut self, now: u64, call_id: &str) {
        let ttl = 2 * u64::from(self.config.max_expires);
        if self.legacy.len() >= MAX_FALLBACK_ENTRIES {
            self.legacy.retain(|_, at| now <= at.saturating_add(ttl));
        }
        if self.legacy.len() < MAX_FALLBACK_ENTRIES || self.legacy.contains_key(call_id) {
            self.legacy.insert(call_id.to_owned(), now);
        }
    }

    fn refuse(&self, request: &Request, code: u16, reason: String) -> RegisterReply {
        let mut response = message::response(request, code, Some(&self.to_tag(request)));
        response
            .headers
            .push(Header::Warning(rsip::headers::Warning::new(format!(
                "399 frontdoor {}",
                quote(&reason)
            ))));
        RegisterReply {
            response,
            outcome: Outcome::Refused { code, reason },
        }
    }

    fn interval_too_brief(&self, request: &Request) -> RegisterReply {
        let min = self.config.min_expires;
        let mut response = message::response(request, 423, Some(&self.to_tag(request)));
        response
            .headers
            .push(Header::MinExpires(rsip::headers::MinExpires::new(
                min.to_string(),
            )));
        RegisterReply {
            response,
            outcome: Outcome::Refused {
                code: 423,
                reason: format!("expiry below the minimum of {min} s"),
            },
        }
    }

    /// The live bindings of `aor` (a username) at `now`.
    pub fn bindings(&self, aor: &str, now: u64) -> Vec<Binding> {
        self.aors
            .get(aor)
            .map(|b| b.iter().filter(|b| b.live(now)).cloned().collect())
            .unwrap_or_default()
    }

    /// The AORs with at least one binding (some may have lapsed since the
    /// last [`Registrar::expire`]).
    pub fn aors(&self) -> impl Iterator<Item = &str> {
        self.aors.keys().map(String::as_str)
    }

    /// Drop the bindings lapsed at `now` (and the expired nonces); returns
    /// what was dropped, by AOR, for the store.
    pub fn expire(&mut self, now: u64) -> Vec<(String, Binding)> {
        self.digest.expire(now);
        let window = FALLBACK_WINDOW.max(self.config.digest.nonce_ttl);
        self.pending
            .retain(|_, p| now <= p.at.saturating_add(window));
        let ttl = 2 * u64::from(self.config.max_expires);
        self.legacy.retain(|_, at| now <= at.saturating_add(ttl));
        let mut gone = Vec::new();
        self.aors.retain(|aor, bindings| {
            bindings.retain(|b| {
                let live = b.live(now);
                if !live {
                    gone.push((aor.clone(), b.clone()));
                }
                live
            });
            !bindings.is_empty()
        });
        gone
    }

    /// When the next binding lapses: the time to call [`Registrar::expire`].
    pub fn next_expiry(&self) -> Option<u64> {
        self.aors.values().flatten().map(|b| b.expires_at).min()
    }

    /// The bindings of one AOR as records (to save after it changed).
    pub fn records(&self, aor: &str) -> Vec<BindingRecord> {
        self.aors
            .get(aor)
            .map(|bindings| bindings.iter().map(|b| record(aor, b)).collect())
            .unwrap_or_default()
    }

    /// Every binding as a record, for the store.
    pub fn export(&self) -> Vec<BindingRecord> {
        let mut out: Vec<BindingRecord> = self
            .aors
            .iter()
            .flat_map(|(aor, bindings)| bindings.iter().map(move |b| record(aor, b)))
            .collect();
        out.sort_by(|a, b| (&a.aor, &a.uri).cmp(&(&b.aor, &b.uri)));
        out
    }

    /// Restore saved bindings (at start-up). Lapsed ones are dropped, bad
    /// ones reported; a record for a contact already bound replaces it.
    pub fn import(
        &mut self,
        now: u64,
        records: impl IntoIterator<Item = BindingRecord>,
    ) -> ImportReport {
        let mut report = ImportReport::default();
        for r in records {
            if r.expires_at <= now {
                report.expired += 1;
                continue;
            }
            let transport = if r.transport.eq_ignore_ascii_case("UDP") {
                Transport::Udp
            } else if r.transport.eq_ignore_ascii_case("TCP") {
                Transport::Tcp
            } else if r.transport.eq_ignore_ascii_case("TLS") {
                Transport::Tls
            } else {
                report.invalid.push(format!(
                    "{} {}: unknown transport {:?}",
                    r.aor, r.uri, r.transport
                ));
                continue;
            };
            let Ok(addr) = r.source.parse::<SocketAddr>() else {
                report.invalid.push(format!(
                    "{} {}: bad source address {:?}",
                    r.aor, r.uri, r.source
                ));
                continue;
            };
            if r.aor.is_empty() || message::parse_uri(&r.uri).is_err() {
                report
                    .invalid
                    .push(format!("{:?} {:?}: bad AOR or contact URI", r.aor, r.uri));
                continue;
            }
            let binding = Binding {
                uri: r.uri,
                params: r.params,
                peer: Peer { transport, addr },
                expires_at: r.expires_at,
                call_id: r.call_id,
                cseq: r.cseq,
                updated_at: r.updated_at,
            };
            let bindings = self.aors.entry(r.aor).or_default();
            bindings.retain(|b| !same_contact(&b.uri, &binding.uri));
            bindings.push(binding);
            report.restored += 1;
        }
        report
    }
}

fn record(aor: &str, b: &Binding) -> BindingRecord {
    BindingRecord {
        aor: aor.to_owned(),
        uri: b.uri.clone(),
        params: b.params.clone(),
        transport: b.peer.transport.via_token().to_owned(),
        source: b.peer.addr.to_string(),
        expires_at: b.expires_at,
        call_id: b.call_id.clone(),
        cseq: b.cseq,
        updated_at: b.updated_at,
    }
}

fn same_contact(a: &str, b: &str) -> bool {
    digest::same_uri(a, b)
}

/// RFC 3261 §20.17 / RFC 1123 date of Unix second `secs`:
/// `Wed, 18 Nov 2026 11:06:40 GMT`.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The address and transport a Contact URI names, when its host is an IP
/// address (`sip:nav1@192.0.2.7:5062;transport=tcp`; port 5060 by default).
fn contact_peer(uri: &str) -> Option<Peer> {
    let uri = rsip::Uri::try_from(uri).ok()?;
    let ip: std::net::IpAddr = match &uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().trim_matches(['[', ']']).parse().ok()?,
    };
    let port = uri
        .host_with_port
        .port
        .as_ref()
        .map_or(5060, |p| *p.value());
    let transport = uri
        .params
        .iter()
        .find_map(|p| match p {
            rsip::Param::Transport(t) => Some(*t),
            _ => None,
        })
        .map_or(Transport::Udp, |t| match t {
            rsip::Transport::Tcp => Transport::Tcp,
            rsip::Transport::Tls => Transport::Tls,
            _ => Transport::Udp,
        });
    Some(Peer {
        transport,
        addr: SocketAddr::new(ip, port),
    })
}

/// Addresses a phone behind NAT announces: private (RFC 1918, RFC 4193),
/// shared (RFC 6598), link-local, loopback.
fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_loopback()
                || (a == 100 && (64..128).contains(&b))
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

mod parse;

#[cfg(test)]
mod tests;
