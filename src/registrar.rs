//! The registrar in the running engine: navigators' phones REGISTER as their
//! username with digest authentication (`frontdoor-sip`'s sans-IO
//! [`Registrar`]), against the accounts of the store; their bindings are
//! saved in the store so they survive a restart.
//!
//! One task owns the registrar. The SIP driver hands it each REGISTER; it
//! looks the account up, lets the registrar decide, and hands the response
//! back to the driver to send. It also expires bindings as time passes.

use std::collections::HashMap;
use std::time::Duration;

use frontdoor_cti::Store;
use frontdoor_cti::throttle::Throttle;
use frontdoor_sip::digest::DigestError;
use frontdoor_sip::registrar::{
    Account, AuthFailure, Binding, BindingRecord, Outcome, Registrar, RegistrarConfig,
};
use frontdoor_sip::ua::{IncomingRegister, PendingRequest};
use rsip::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::call::b2bua::Via;
use crate::phones::Browsers;

/// Responses for the SIP driver to send.
pub type Responses = mpsc::UnboundedSender<(PendingRequest, Response)>;

/// A binding as the store keeps it (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct StoredBinding {
    aor: String,
    uri: String,
    params: String,
    transport: String,
    source: String,
    expires_at: u64,
    call_id: String,
    cseq: u32,
    updated_at: u64,
}

impl From<BindingRecord> for StoredBinding {
    fn from(r: BindingRecord) -> Self {
        StoredBinding {
            aor: r.aor,
            uri: r.uri,
            params: r.params,
            transport: r.transport,
            source: r.source,
            expires_at: r.expires_at,
            call_id: r.call_id,
            cseq: r.cseq,
            updated_at: r.updated_at,
        }
    }
}

impl From<StoredBinding> for BindingRecord {
    fn from(r: StoredBinding) -> Self {
        BindingRecord {
            aor: r.aor,
            uri: r.uri,
            params: r.params,
            transport: r.transport,
            source: r.source,
            expires_at: r.expires_at,
            call_id: r.call_id,
            cseq: r.cseq,
            updated_at: r.updated_at,
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Asks where a navigator's phones are: the registrar for their SIP
/// phones, and their browser phone. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Contacts {
    tx: mpsc::UnboundedSender<(String, oneshot::Sender<Vec<Binding>>)>,
    browsers: Browsers,
}

impl Contacts {
    /// Every phone of `username` that can ring now, each with where it is
    /// reached: their live SIP bindings, most recently registered first,
    /// at where requests for each go (`[registrar] nat`,
    /// [`frontdoor_sip::registrar::Binding::send_to`]); then their browser
    /// phone while it is connected.
    pub async fn of(&self, username: &str) -> Vec<(String, Via)> {
        let (reply, answer) = oneshot::channel();
        let mut phones: Vec<(String, Via)> = Vec::new();
        if self.tx.send((username.to_owned(), reply)).is_ok() {
            let bindings = answer.await.unwrap_or_default();
            phones.extend(bindings.into_iter().map(|b| (b.uri, Via::Phone(b.peer))));
        }
        if let Some(media) = self.browsers.of(username) {
            phones.push((BROWSER_URI.to_owned(), Via::Browser(media)));
        }
        phones
    }
}

/// How a browser phone is named where a SIP phone's contact would be (the
/// logs, the call record's `answered_on` step).
pub const BROWSER_URI: &str = "browser";

/// Start the registrar task; returns where the SIP driver sends REGISTERs
/// and the handle the queues look contacts up with.
pub async fn start(
    config: RegistrarConfig,
    throttle: Throttle,
    store: Store,
    responses: Responses,
    browsers: Browsers,
) -> anyhow::Result<(mpsc::UnboundedSender<IncomingRegister>, Contacts)> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness for nonces: {e}"))?;
    let nat = config.nat;
    let mut registrar = Registrar::new(config, secret);
    // The bindings saved before a restart.
    let now = unix_now();
    let mut records = Vec::new();
    for (aor, json) in store.registrations(now as i64 * 1000).await? {
        match serde_json::from_str::<Vec<StoredBinding>>(&json) {
            Ok(list) => records.extend(list.into_iter().map(BindingRecord::from)),
            Err(error) => tracing::warn!(%aor, %error, "stored registration unreadable: dropped"),
        }
    }
    let report = registrar.import(now, records);
    for why in &report.invalid {
        tracing::warn!(reason = %why, "stored registration not restored");
    }
    tracing::info!(
        restored = report.restored,
        expired = report.expired,
        "registrations restored"
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<IncomingRegister>();
    // Bindings go to the store from a task of their own, in order: the
    // registrar answers REGISTERs and lookups whether the database does or not.
    let (saves, mut to_save) = mpsc::unbounded_channel::<Save>();
    let saver_store = store.clone();
    tokio::spawn(async move {
        while let Some(save) = to_save.recv().await {
            let stored = save.json.as_deref().map(|j| (j, save.expires_ms));
            if let Err(error) = saver_store
                .put_registration(&save.aor, stored, save.at_ms)
                .await
            {
                tracing::error!(aor = %save.aor, %error, "registration not saved");
            }
        }
    });
    // The accounts last read, for when the database does not answer: a
    // phone refreshing its registration during an outage stays registered.
    let mut known: HashMap<String, Option<Account>> = HashMap::new();
    let (lookups_tx, mut lookups) =
        mpsc::unbounded_channel::<(String, oneshot::Sender<Vec<Binding>>)>();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                incoming = rx.recv() => {
                    let Some(incoming) = incoming else { return };
                    register(&mut registrar, &throttle, &store, &mut known, &saves, &responses, incoming).await;
                }
                Some((user, reply)) = lookups.recv() => {
                    let mut found = registrar.bindings(&user, unix_now());
                    for binding in &mut found {
                        binding.peer = binding.send_to(nat);
                    }
                    found.sort_by_key(|b| std::cmp::Reverse(b.updated_at));
                    let _ = reply.send(found);
                }
                _ = tick.tick() => {
                    let now = unix_now();
                    if registrar.next_expiry().is_some_and(|at| at <= now) {
                        let lapsed = registrar.expire(now);
                        let mut aors: Vec<String> = lapsed.into_iter().map(|(aor, _)| aor).collect();
                        aors.dedup();
                        for aor in aors {
                            tracing::info!(%aor, "registration expired");
                            save(&registrar, &saves, &aor);
                        }
                    }
                }
            }
        }
    });
    Ok((
        tx,
        Contacts {
            tx: lookups_tx,
            browsers,
        },
    ))
}

async fn register(
    registrar: &mut Registrar,
    throttle: &Throttle,
    store: &Store,
    known: &mut HashMap<String, Option<Account>>,
    saves: &mpsc::UnboundedSender<Save>,
    responses: &Responses,
    incoming: IncomingRegister,
) {
    let user = registrar.auth_username(&incoming.request);
    let source = incoming.peer.addr.ip();
    // Password guessing: too many failures from this source, or for this
    // username, and its REGISTERs are refused for a while. A phone already
    // registered as the user from this address is not locked out by
    // guesses from elsewhere.
    let registered_here = user.as_deref().is_some_and(|u| {
        registrar
            .bindings(u, unix_now())
            .iter()
            .any(|b| b.peer.addr.ip() == source)
    });
    let user_key = user.as_deref().filter(|_| !registered_here);
    if let Some(wait) = throttle.blocked(user_key, &source.to_string()) {
        tracing::debug!(user = user.as_deref().unwrap_or(""), peer = %incoming.peer, wait_s = wait.as_secs(), "REGISTER throttled");
        let mut response = frontdoor_sip::message::response(&incoming.request, 403, None);
        response
            .headers
            .push(rsip::Header::RetryAfter(rsip::headers::RetryAfter::from(
                wait.as_secs().max(1).to_string(),
            )));
        let _ = responses.send((incoming.pending, response));
        return;
    }
    let account = match user.clone() {
        None => Ok(None),
        Some(user) => account(store, known, &user).await,
    };
    let account = match account {
        Ok(account) => account,
        Err(error) => {
            // Answer anyway: an unanswered REGISTER keeps its transaction open.
            tracing::error!(%error, "registrar: the store is unreachable");
            let response = frontdoor_sip::message::response(&incoming.request, 500, None);
            let _ = responses.send((incoming.pending, response));
            return;
        }
    };
    let reply = registrar.handle(unix_now(), incoming.peer, &incoming.request, |_| account);
    let _ = responses.send((incoming.pending, reply.response));
    match &reply.outcome {
        Outcome::Registered {
            aor,
            added,
            removed,
            ..
        } => {
            throttle.succeeded(aor);
            let contacts = registrar.bindings(aor, unix_now()).len();
            tracing::info!(%aor, contacts, added = added.len(), removed = removed.len(), peer = %incoming.peer, "registered");
            if reply.outcome.changed() {
                save(registrar, saves, aor);
            }
        }
        Outcome::Challenged { stale, why } => {
            tracing::debug!(stale, why = ?why, peer = %incoming.peer, "REGISTER challenged");
            // Credentials that did not match: a wrong password or an
            // unknown user (not the first, bare REGISTER, a stale nonce or
            // a replay): a phone set up wrong, or someone guessing.
            let guess = matches!(
                why,
                AuthFailure::UnknownUser(_) | AuthFailure::Digest(DigestError::WrongResponse)
            );
            if guess {
                let user = user.as_deref().unwrap_or("");
                let blocked = throttle.failed(user, &source.to_string());
                tracing::warn!(user, peer = %incoming.peer, why = ?why, "REGISTER failed authentication");
                if blocked {
                    tracing::warn!(user, peer = %incoming.peer, "REGISTER throttled: too many failures");
                }
            }
        }
        Outcome::Refused { code, reason } => {
            tracing::info!(code, %reason, peer = %incoming.peer, "REGISTER refused");
        }
    }
}

/// The digest credentials of `user`: from the store, or as last read when
/// the store does not answer (within a second).
async fn account(
    store: &Store,
    known: &mut HashMap<String, Option<Account>>,
    user: &str,
) -> Result<Option<Account>, frontdoor_cti::Error> {
    match store
        .within(Duration::from_secs(1), store.account(user))
        .await
    {
        Ok(found) => {
            let found = found.map(|a| Account {
                ha1_md5: a.ha1_md5,
                ha1_sha256: a.ha1_sha256,
                disabled: a.disabled,
            });
            if known.len() >= KNOWN_ACCOUNTS && !known.contains_key(user) {
                known.clear();
            }
            known.insert(user.to_owned(), found.clone());
            Ok(found)
        }
        Err(error) => match known.get(user) {
            Some(found) => {
                tracing::debug!(user, %error, "registrar: the store does not answer; the account as last read");
                Ok(found.clone())
            }
            None => Err(error),
        },
    }
}

/// Most accounts the registrar remembers for an outage of the store.
const KNOWN_ACCOUNTS: usize = 10_000;

/// Bindings for the store.
struct Save {
    aor: String,
    json: Option<String>,
    expires_ms: i64,
    at_ms: i64,
}

/// Keep the bindings of `aor` in the store (or forget it when none is left),
/// through the saving task.
fn save(registrar: &Registrar, saves: &mpsc::UnboundedSender<Save>, aor: &str) {
    let records = registrar.records(aor);
    let expires_ms = records.iter().map(|r| r.expires_at).max().unwrap_or(0) as i64 * 1000;
    let stored: Vec<StoredBinding> = records.into_iter().map(StoredBinding::from).collect();
    let json = if stored.is_empty() {
        None
    } else {
        match serde_json::to_string(&stored) {
            Ok(json) => Some(json),
            Err(error) => {
                tracing::error!(%aor, %error, "registration not saved");
                return;
            }
        }
    };
    let _ = saves.send(Save {
        aor: aor.to_owned(),
        json,
        expires_ms,
        at_ms: frontdoor_cti::now_ms(),
    });
}
