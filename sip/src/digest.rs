//! HTTP digest authentication for SIP: RFC 3261 §22 with the algorithms of
//! RFC 8760 (MD5 and SHA-256), `qop=auth`, and the RFC 7616 rules where they
//! apply to SIP.
//!
//! Two sides, both sans-IO (time is a `u64` of Unix seconds passed in,
//! randomness is the server secret and the client's cnonce, both passed in):
//!
//! - [`DigestServer`]: builds challenges ([`DigestServer::challenges`]: one
//!   per algorithm, SHA-256 first as RFC 8760 §2.4 asks) and checks an
//!   `Authorization` header against a stored HA1
//!   ([`DigestServer::verify`]).
//! - [`DigestClient`]: answers a 401/407 from a peer (the outbound trunk)
//!   with `Authorization`/`Proxy-Authorization`, counting `nc`.
//!
//! # Nonces
//!
//! A nonce is self-validating: `hex(issued) ‖ hex(seq) ‖ hex(mac)` where
//! `issued` is the Unix second it was made, `seq` a per-server counter
//! (unique nonces within one second) and `mac` the first 128 bits of
//! HMAC-SHA-256(secret, issued ‖ seq). The server keeps no state for the
//! nonces it hands out; it can still tell a nonce it made that expired
//! ([`DigestError::Stale`]: re-challenge with `stale=true`, after
//! [`DigestConfig::nonce_ttl`], 300 s by default) from one it never made
//! ([`DigestError::ForgedNonce`]). A new secret (a restart without a
//! persisted secret) makes every earlier nonce "forged": clients are then
//! simply challenged afresh.
//!
//! # Replay protection
//!
//! Once a nonce has been used successfully, the server remembers the
//! highest `nc` seen with it; a later request must carry a higher one
//! ([`DigestError::Replay`]). A response without `qop` (RFC 2069 style) has
//! no `nc`: it counts as `nc=1`, so such a nonce is good for one request.
//! Memory is bounded: nonces are forgotten when they expire, and when more
//! than [`DigestConfig::max_tracked_nonces`] are in use the oldest is
//! dropped and every nonce issued up to it is treated as stale from then
//! on, so forgetting never reopens a replay window. The counts live in
//! one process: nodes sharing a secret accept each other's nonces, but a
//! replay to another node is not caught.
//!
//! Responses are compared in constant time. HA1 values are lowercase hex,
//! as the CTI store keeps them (`ha1_md5`, `ha1_sha256`): see [`ha1`].
//!
//! Not supported (refused with a clear error): `qop=auth-int`, the `-sess`
//! algorithms, `userhash=true`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use md5::Md5;
use rsip::headers::UntypedHeader;
use rsip::{Header, Request, Response};
use sha2::{Digest, Sha256};

use crate::message::scan;

/// The realm frontdoor's registrar uses, and in which the CTI store's HA1
/// values are computed.
pub const DEFAULT_REALM: &str = "frontdoor";
/// How long a nonce is good for, in seconds.
pub const DEFAULT_NONCE_TTL: u64 = 300;
/// How many nonces in use the server tracks `nc` for.
pub const DEFAULT_MAX_TRACKED_NONCES: usize = 65_536;

/// A digest algorithm (RFC 8760 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The name in the `algorithm=` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Read an `algorithm=` value (case-insensitive). `-sess` variants and
    /// other algorithms are unsupported.
    pub fn from_name(name: &str) -> Result<Algorithm, DigestError> {
        if name.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else {
            Err(DigestError::UnsupportedAlgorithm(name.to_owned()))
        }
    }

    /// Hex digits in this algorithm's hashes.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// `H(data)` as lowercase hex.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a digest header was refused. Values, never panics: every one of
/// these can be caused by a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header does not follow the `Digest name=value, …` syntax.
    #[error("malformed digest header: {0}")]
    Malformed(String),
    /// Another scheme than `Digest` (e.g. `Basic`).
    #[error("authentication scheme {0:?} is not Digest")]
    NotDigest(String),
    #[error("digest parameter {0} missing")]
    Missing(&'static str),
    #[error("digest algorithm {0:?} not supported")]
    UnsupportedAlgorithm(String),
    #[error("qop {0:?} not supported")]
    UnsupportedQop(String),
    /// A parameter we refuse to honour (`userhash=true`).
    #[error("digest parameter {0} not supported")]
    Unsupported(String),
    #[error("realm {0:?} is not ours")]
    RealmMismatch(String),
    #[error("username {got:?} is not {expected:?}")]
    UsernameMismatch { expected: String, got: String },
    /// RFC 7616 §3.4.6: the digest's `uri` must be the Request-URI.
    #[error("digest uri {got:?} is not the Request-URI {expected:?}")]
    UriMismatch { expected: String, got: String },
    /// A nonce this server (with this secret) never issued.
    #[error("nonce not issued by this server")]
    ForgedNonce,
    /// A valid response for a nonce that has expired: re-challenge with
    /// `stale=true` (RFC 7616 §3.3).
    #[error("nonce expired")]
    Stale,
    /// The response does not match: a wrong password (or tampering).
    #[error("wrong digest response")]
    WrongResponse,
    /// The nonce count did not increase: a replayed request.
    #[error("nonce count {nc} not above {last}: replay")]
    Replay { nc: u32, last: u32 },
    /// No HA1 stored for this algorithm (or not valid hex).
    #[error("no usable {0} credentials stored")]
    NoCredentials(Algorithm),
    /// Client side: the server refused our credentials (a new challenge
    /// with the nonce we answered and no `stale=true`).
    #[error("credentials rejected")]
    Rejected,
    /// Client side: no challenge we can answer.
    #[error("no usable digest challenge")]
    NoChallenge,
}

impl DigestError {
    /// Whether the answer is a re-challenge with `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, DigestError::Stale)
    }
}

// ---- hashing --------------------------------------------------------------

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// `HA1 = H(username:realm:password)` (RFC 3261 §22.4, RFC 7616 §3.4.2),
/// lowercase hex: what the store keeps instead of the password.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The `qop=auth` part of a response: nonce count (8 hex digits) and cnonce.
#[derive(Debug, Clone, Copy)]
pub struct QopAuth<'a> {
    pub nc: u32,
    pub cnonce: &'a str,
}

/// The `response` value (RFC 7616 §3.4.1, RFC 3261 §22.4): with `qop=auth`
/// `H(HA1:nonce:nc:cnonce:auth:HA2)`, without qop (RFC 2069)
/// `H(HA1:nonce:HA2)`, where `HA2 = H(method:uri)`. `ha1` is lowercase hex.
pub fn response(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = algorithm.hash_hex(format!("{method}:{uri}").as_bytes());
    let text = match qop {
        Some(QopAuth { nc, cnonce }) => format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"),
        None => format!("{ha1}:{nonce}:{ha2}"),
    };
    algorithm.hash_hex(text.as_bytes())
}

/// HMAC-SHA-256 (RFC 2104), for the nonce MAC.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    // HMAC takes a key of any length (a long one is hashed first): this
    // cannot fail.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Compare two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---- the header syntax ----------------------------------------------------

/// Parse `Digest name=value, name="quoted", …` (RFC 3261 §25.1
/// `challenge` / `credentials`): the scheme case-insensitive, LWS around
/// `=` and `,`, empty list elements skipped, quoted strings with `\`
/// escapes, all read by the header scanner ([`scan`]). Names come back
/// lowercase; a parameter given twice is an error.
fn parse_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let bad = |why: String| DigestError::Malformed(why);
    let value = value.trim_start_matches(LWS);
    let scheme_end = value
        .bytes()
        .position(|b| !is_token_byte(b))
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if scheme.is_empty() {
        return Err(bad("no authentication scheme".into()));
    }
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest(scheme.to_owned()));
    }
    if !rest.is_empty() && !rest.starts_with(LWS) {
        return Err(bad("no space after the scheme".into()));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for element in scan::list(rest) {
        // A name is a token, so the first `=` ends it.
        let (name, param_value) = match element.split_once('=') {
            Some((name, v)) => (scan::trim_lws(name), Some(scan::trim_lws(v))),
            None => (element, None),
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(bad("expected a parameter name".into()));
        }
        let name = name.to_ascii_lowercase();
        let param_value = match param_value {
            None | Some("") => return Err(bad(format!("parameter {name} has no value"))),
            Some(v) if v.starts_with('"') => {
                scan::unquote(v).map_err(|_| match scan::quoted_len(v) {
                    Ok(_) => bad(format!("unexpected text after parameter {name}")),
                    Err(_) => bad(format!("unterminated quoted value of {name}")),
                })?
            }
            Some(v) if v.bytes().all(is_token_byte) => v.to_owned(),
            Some(_) => return Err(bad(format!("unexpected text after parameter {name}"))),
        };
        if params.iter().any(|(n, _)| *n == name) {
            return Err(bad(format!("parameter {name} given twice")));
        }
        params.push((name, param_value));
    }
    if params.is_empty() {
        return Err(bad("no parameters".into()));
    }
    Ok(params)
}

/// RFC 3261 LWS characters.
const LWS: [char; 4] = [' ', '\t', '\r', '\n'];

/// RFC 3261 §25.1 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn take(params: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let i = params.iter().position(|(n, _)| n == name)?;
    Some(params.swap_remove(i).1)
}

/// An RFC 3261 §25.1 quoted-string.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // A header value must not break the message.
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    /// The `qop` options offered (lowercase), empty when absent.
    pub qop: Vec<String>,
    pub opaque: Option<String>,
    pub stale: bool,
}

impl Challenge {
    /// Parse a challenge header value. An `algorithm` we do not support is
    /// [`DigestError::UnsupportedAlgorithm`]; no `algorithm` means MD5.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let mut params = parse_params(value)?;
        let realm = take(&mut params, "realm").ok_or(DigestError::Missing("realm"))?;
        let nonce = take(&mut params, "nonce").ok_or(DigestError::Missing("nonce"))?;
        let algorithm = match take(&mut params, "algorithm") {
            Some(name) => Algorithm::from_name(&name)?,
            None => Algorithm::Md5,
        };
        let qop = take(&mut params, "qop")
            .map(|q| {
                q.split(',')
                    .map(|o| o.trim().to_ascii_lowercase())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let opaque = take(&mut params, "opaque");
        let stale = take(&mut params, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(Challenge {
            realm,
            nonce,
            algorithm,
            qop,
            opaque,
            stale,
        })
    }

    /// Whether the challenge offers `qop=auth`.
    pub fn offers_auth(&self) -> bool {
        self.qop.iter().any(|q| q == "auth")
    }
}

impl fmt::Display for Challenge {
    /// The header value: `Digest realm="…", nonce="…", algorithm=…, qop="auth"…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}, algorithm={}",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm
        )?;
        if !self.qop.is_empty() {
            write!(f, ", qop={}", quote(&self.qop.join(",")))?;
        }
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quote(opaque))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// The digest credentials of an `Authorization` / `Proxy-Authorization`
/// header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    /// Lowercase hex.
    pub response: String,
    pub algorithm: Algorithm,
    /// `Some` with `qop=auth` (the only qop supported), `None` for an
    /// RFC 2069 style response.
    pub qop: Option<(u32, String)>,
    pub opaque: Option<String>,
}

impl Credentials {
    /// The nonce count (`nc`), when `qop=auth`.
    pub fn nc(&self) -> Option<u32> {
        self.qop.as_ref().map(|(nc, _)| *nc)
    }

    /// The client nonce, when `qop=auth`.
    pub fn cnonce(&self) -> Option<&str> {
        self.qop.as_ref().map(|(_, c)| c.as_str())
    }

    /// Parse a credentials header value. Checks the syntax only (all
    /// mandatory parameters, `nc` as 8 hex digits, `response` as hex of the
    /// algorithm's length); [`DigestServer::verify`] checks the rest.
    pub fn parse(value: &str) -> Result<Credentials, DigestError> {
        let mut params = parse_params(value)?;
        let username = take(&mut params, "username").ok_or(DigestError::Missing("username"))?;
        let realm = take(&mut params, "realm").ok_or(DigestError::Missing("realm"))?;
        let nonce = take(&mut params, "nonce").ok_or(DigestError::Missing("nonce"))?;
        let uri = take(&mut params, "uri").ok_or(DigestError::Missing("uri"))?;
        let response = take(&mut params, "response").ok_or(DigestError::Missing("response"))?;
        let algorithm = match take(&mut params, "algorithm") {
            Some(name) => Algorithm::from_name(&name)?,
            None => Algorithm::Md5,
        };
        if take(&mut params, "userhash").is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(DigestError::Unsupported("userhash".into()));
        }
        if !is_hex(&response, algorithm.hex_len()) {
            return Err(DigestError::Malformed(format!(
                "response is not {} hex digits",
                algorithm.hex_len()
            )));
        }
        let qop = match take(&mut params, "qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = take(&mut params, "nc").ok_or(DigestError::Missing("nc"))?;
                if !is_hex(&nc, 8) {
                    return Err(DigestError::Malformed("nc is not 8 hex digits".into()));
                }
                let nc = u32::from_str_radix(&nc, 16)
                    .map_err(|_| DigestError::Malformed("nc is not 8 hex digits".into()))?;
                let cnonce = take(&mut params, "cnonce").ok_or(DigestError::Missing("cnonce"))?;
                Some((nc, cnonce))
            }
            Some(q) => return Err(DigestError::UnsupportedQop(q)),
        };
        let opaque = take(&mut params, "opaque");
        Ok(Credentials {
            username,
            realm,
            nonce,
            uri,
            response: response.to_ascii_lowercase(),
            algorithm,
            qop,
            opaque,
        })
    }
}

impl fmt::Display for Credentials {
    /// The header value, parameters quoted as RFC 3261 §25.1 has them
    /// (`algorithm`, `qop`, `nc` as tokens).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm
        )?;
        if let Some((nc, cnonce)) = &self.qop {
            write!(f, ", qop=auth, nc={nc:08x}, cnonce={}", quote(cnonce))?;
        }
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quote(opaque))?;
        }
        Ok(())
    }
}

/// Whether the digest `uri` names the Request-URI: the same text (ignoring
/// case and enclosing `<>`), or the same URI once parsed.
pub(crate) fn same_uri(digest_uri: &str, request_uri: &str) -> bool {
    let a = digest_uri
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let b = request_uri
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (crate::message::parse_uri(a), crate::message::parse_uri(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

// ---- server ---------------------------------------------------------------

/// How the server challenges.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// The realm of every challenge; the HA1 values are computed in it.
    pub realm: String,
    /// Seconds a nonce stays good before it is stale.
    pub nonce_ttl: u64,
    /// Algorithms offered, one challenge each, in this order (RFC 8760
    /// §2.4: the preferred first). Default MD5 then SHA-256: most phones
    /// (and sipp) answer the first challenge only, and stop at one they
    /// cannot answer; clients that choose SHA-256 still can.
    pub algorithms: Vec<Algorithm>,
    /// Bound on the nonces whose `nc` is tracked.
    pub max_tracked_nonces: usize,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            realm: DEFAULT_REALM.to_owned(),
            nonce_ttl: DEFAULT_NONCE_TTL,
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
            max_tracked_nonces: DEFAULT_MAX_TRACKED_NONCES,
        }
    }
}

/// A nonce's identity: when it was issued and its sequence number.
type NonceId = (u64, u64);

/// The server side of digest authentication; see the module docs.
pub struct DigestServer {
    config: DigestConfig,
    secret: [u8; 32],
    next_seq: u64,
    /// Nonces in use → the highest `nc` accepted.
    used: HashMap<NonceId, u32>,
    /// The same nonces by age, to forget the oldest first.
    by_age: BTreeMap<NonceId, ()>,
    /// Nonces up to this one that are not in `used` were forgotten to
    /// bound memory: treated as stale.
    forgotten_up_to: Option<NonceId>,
}

impl fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("config", &self.config)
            .field("tracked", &self.used.len())
            .finish_non_exhaustive()
    }
}

impl DigestServer {
    /// `secret`: 32 random bytes from the driver (e.g. `getrandom`), the key
    /// of the nonce MAC. Keep it across restarts (or share it between
    /// nodes) for nonces to stay valid; a new one only costs a re-challenge.
    pub fn new(config: DigestConfig, secret: [u8; 32]) -> Self {
        DigestServer {
            config,
            secret,
            next_seq: 0,
            used: HashMap::new(),
            by_age: BTreeMap::new(),
            forgotten_up_to: None,
        }
    }

    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    /// A fresh nonce, issued at `now`.
    pub fn nonce(&mut self, now: u64) -> String {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        format!("{now:016x}{seq:016x}{}", self.mac(now, seq))
    }

    fn mac(&self, issued: u64, seq: u64) -> String {
        let mut data = [0u8; 16];
        data[..8].copy_from_slice(&issued.to_be_bytes());
        data[8..].copy_from_slice(&seq.to_be_bytes());
        hex(&hmac_sha256(&self.secret, &data)[..16])
    }

    /// Read a nonce we issued; `None` when it is not one of ours.
    fn open_nonce(&self, nonce: &str) -> Option<NonceId> {
        if !is_hex(nonce, 64) {
            return None;
        }
        let issued = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let seq = u64::from_str_radix(&nonce[16..32], 16).ok()?;
        let mac = self.mac(issued, seq);
        constant_time_eq(mac.as_bytes(), nonce[32..].to_ascii_lowercase().as_bytes())
            .then_some((issued, seq))
    }

    /// The challenges for a 401/407: one per configured algorithm, in order
    /// (SHA-256 first by default), sharing one fresh nonce, `qop="auth"`;
    /// `stale=true` when the request failed only because its nonce expired.
    /// Format each with `to_string()` as a `WWW-Authenticate` (or
    /// `Proxy-Authenticate`) header value.
    pub fn challenges(&mut self, now: u64, stale: bool) -> Vec<Challenge> {
        let nonce = self.nonce(now);
        self.config
            .algorithms
            .iter()
            .map(|&algorithm| Challenge {
                realm: self.config.realm.clone(),
                nonce: nonce.clone(),
                algorithm,
                qop: vec!["auth".to_owned()],
                opaque: None,
                stale,
            })
            .collect()
    }

    /// Check credentials for a request with `method` and `request_uri`
    /// against `user`'s stored HA1 for `creds.algorithm` (lowercase hex,
    /// computed in our realm). On success the nonce count is recorded.
    ///
    /// The checks, in order: realm, username, algorithm offered, digest
    /// `uri` = Request-URI, nonce issued by us, response (constant time),
    /// nonce not expired (so [`DigestError::Stale`] only for a response
    /// that was right, RFC 7616 §3.3), nonce count increasing.
    pub fn verify(
        &mut self,
        now: u64,
        method: &str,
        request_uri: &str,
        creds: &Credentials,
        user: &str,
        ha1: &str,
    ) -> Result<(), DigestError> {
        if creds.realm != self.config.realm {
            return Err(DigestError::RealmMismatch(creds.realm.clone()));
        }
        if creds.username != user {
            return Err(DigestError::UsernameMismatch {
                expected: user.to_owned(),
                got: creds.username.clone(),
            });
        }
        if !self.config.algorithms.contains(&creds.algorithm) {
            return Err(DigestError::UnsupportedAlgorithm(
                creds.algorithm.name().to_owned(),
            ));
        }
        if !same_uri(&creds.uri, request_uri) {
            return Err(DigestError::UriMismatch {
                expected: request_uri.to_owned(),
                got: creds.uri.clone(),
            });
        }
        let id = self
            .open_nonce(&creds.nonce)
            .ok_or(DigestError::ForgedNonce)?;
        if !is_hex(ha1, creds.algorithm.hex_len()) {
            return Err(DigestError::NoCredentials(creds.algorithm));
        }
        let qop = creds
            .qop
            .as_ref()
            .map(|(nc, cnonce)| QopAuth { nc: *nc, cnonce });
        let expected = response(
            creds.algorithm,
            &ha1.to_ascii_lowercase(),
            &creds.nonce,
            qop,
            method,
            &creds.uri,
        );
        if !constant_time_eq(expected.as_bytes(), creds.response.as_bytes()) {
            return Err(DigestError::WrongResponse);
        }
        let (issued, _) = id;
        if now > issued.saturating_add(self.config.nonce_ttl) {
            return Err(DigestError::Stale);
        }
        let nc = creds.nc().unwrap_or(1);
        match self.used.get_mut(&id) {
            Some(last) if nc <= *last => Err(DigestError::Replay { nc, last: *last }),
            Some(last) => {
                *last = nc;
                Ok(())
            }
            None => {
                if self.forgotten_up_to.is_some_and(|f| id <= f) {
                    // Its count was forgotten: it might be a replay.
                    return Err(DigestError::Stale);
                }
                if nc == 0 {
                    return Err(DigestError::Replay { nc, last: 0 });
                }
                self.track(now, id, nc);
                Ok(())
            }
        }
    }

    fn track(&mut self, now: u64, id: NonceId, nc: u32) {
        self.expire(now);
        while self.used.len() >= self.config.max_tracked_nonces.max(1) {
            let Some((&oldest, ())) = self.by_age.iter().next() else {
                break;
            };
            self.by_age.remove(&oldest);
            self.used.remove(&oldest);
            self.forgotten_up_to = Some(self.forgotten_up_to.map_or(oldest, |f| f.max(oldest)));
        }
        self.used.insert(id, nc);
        self.by_age.insert(id, ());
    }

    /// Forget the counts of nonces expired at `now` (they are refused as
    /// stale anyway). [`DigestServer::verify`] calls it too.
    pub fn expire(&mut self, now: u64) {
        let ttl = self.config.nonce_ttl;
        while let Some((&id, ())) = self.by_age.iter().next() {
            if now <= id.0.saturating_add(ttl) {
                break;
            }
            self.by_age.remove(&id);
            self.used.remove(&id);
        }
    }

    /// Nonces whose count is tracked, for metrics and tests.
    pub fn tracked_nonces(&self) -> usize {
        self.used.len()
    }
}

// ---- client ---------------------------------------------------------------

/// The client side: answers a peer's 401/407 with our credentials.
///
/// ```text
/// send request → 401/407 → client.on_challenge(&response)?
///              → client.authorize(&mut request, cnonce) → send again (new CSeq, same Call-ID)
/// ```
/// The challenge is kept: later requests to the same peer may be
/// authorized before any challenge (nc counts up). When the peer refuses
/// our credentials it answers with the same nonce again (without
/// `stale=true`): [`DigestError::Rejected`]. A peer that issues a new nonce
/// on every failure cannot be told from one whose nonce expired, so the
/// caller should retry a given request once only.
#[derive(Debug, Clone)]
pub struct DigestClient {
    username: String,
    password: String,
    current: Option<ClientChallenge>,
}

#[derive(Debug, Clone)]
struct ClientChallenge {
    challenge: Challenge,
    /// 401 (`Authorization`) or 407 (`Proxy-Authorization`).
    proxy: bool,
    /// The last nonce count used with this nonce (0: not used yet).
    nc: u32,
}

impl DigestClient {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        DigestClient {
            username: username.into(),
            password: password.into(),
            current: None,
        }
    }

    /// The challenge being answered, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.current.as_ref().map(|c| &c.challenge)
    }

    /// Take the challenges of a 401 (`WWW-Authenticate`) or 407
    /// (`Proxy-Authenticate`) response; picks SHA-256 over MD5 and skips
    /// challenges we cannot answer.
    pub fn on_challenge(&mut self, response: &Response) -> Result<(), DigestError> {
        let code = response.status_code.code();
        let proxy = code == 407;
        if code != 401 && !proxy {
            return Err(DigestError::NoChallenge);
        }
        let values: Vec<String> = response
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::WwwAuthenticate(v) if !proxy => Some(v.value().to_owned()),
                Header::ProxyAuthenticate(v) if proxy => Some(v.value().to_owned()),
                Header::Other(name, v)
                    if name.eq_ignore_ascii_case(if proxy {
                        "Proxy-Authenticate"
                    } else {
                        "WWW-Authenticate"
                    }) =>
                {
                    Some(v.clone())
                }
                _ => None,
            })
            .collect();
        self.on_challenge_values(proxy, values.iter().map(String::as_str))
    }

    /// As [`DigestClient::on_challenge`], from the header values.
    pub fn on_challenge_values<'a>(
        &mut self,
        proxy: bool,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), DigestError> {
        let best = values
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            // Only qop=auth or no qop (RFC 2069) can be answered.
            .filter(|c| c.qop.is_empty() || c.offers_auth())
            .max_by_key(|c| c.algorithm)
            .ok_or(DigestError::NoChallenge)?;
        if let Some(current) = &self.current
            && current.nc > 0
            && current.challenge.nonce == best.nonce
            && current.challenge.realm == best.realm
            && !best.stale
        {
            return Err(DigestError::Rejected);
        }
        self.current = Some(ClientChallenge {
            challenge: best,
            proxy,
            nc: 0,
        });
        Ok(())
    }

    /// The credentials for a request (`method`, Request-URI `uri`) under the
    /// current challenge, with the next nonce count and `cnonce` (random,
    /// from the caller). `None` before any challenge.
    pub fn credentials(&mut self, method: &str, uri: &str, cnonce: &str) -> Option<Credentials> {
        let current = self.current.as_mut()?;
        let c = &current.challenge;
        let ha1 = ha1(c.algorithm, &self.username, &c.realm, &self.password);
        let qop = if c.offers_auth() {
            current.nc = current.nc.wrapping_add(1).max(1);
            Some((current.nc, cnonce.to_owned()))
        } else {
            current.nc = 1;
            None
        };
        let response = response(
            c.algorithm,
            &ha1,
            &c.nonce,
            qop.as_ref().map(|(nc, cnonce)| QopAuth { nc: *nc, cnonce }),
            method,
            uri,
        );
        Some(Credentials {
            username: self.username.clone(),
            realm: c.realm.clone(),
            nonce: c.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: c.algorithm,
            qop,
            opaque: c.opaque.clone(),
        })
    }

    /// Add `Authorization` (after a 401) or `Proxy-Authorization` (after a
    /// 407) to `request`, replacing any of ours from an earlier attempt.
    /// Returns false (request untouched) before any challenge. The caller
    /// still gives the retried request a new CSeq (RFC 3261 §22.2).
    pub fn authorize(&mut self, request: &mut Request, cnonce: &str) -> bool {
        let method = request.method.to_string();
        let uri = request.uri.to_string();
        let Some(proxy) = self.current.as_ref().map(|c| c.proxy) else {
            return false;
        };
        let Some(creds) = self.credentials(&method, &uri, cnonce) else {
            return false;
        };
        let realm = creds.realm.clone();
        request.headers.retain(|h| {
            let value = match h {
                Header::Authorization(v) if !proxy => v.value(),
                Header::ProxyAuthorization(v) if proxy => v.value(),
                _ => return true,
            };
            Credentials::parse(value).map_or(true, |c| c.realm != realm)
        });
        let value = creds.to_string();
        request.headers.push(if proxy {
            Header::ProxyAuthorization(rsip::headers::ProxyAuthorization::new(value))
        } else {
            Header::Authorization(rsip::headers::Authorization::new(value))
        });
        true
    }
}

#[cfg(test)]
mod tests;
