//! The HTTP API: `app(cti) -> Router`, one [`AppError`] for every refusal,
//! bearer-token authentication with audit-logged refusals, and login
//! throttling.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc::error::TrySendError;

use crate::accounts::{new_token, sha256_hex, verify_password};
use crate::error::Error;
use crate::protocol::{
    AccountInfo, AgentState, Caller, FailedCallback, MonitorMode, QueuesView, Role,
};
use crate::store::AuditEntry;
use crate::{CallbackAction, Cti, NavigatorCommand, now_ms};

/// Every way an HTTP request is refused; the body is always `{"error": reason}`
/// and never carries internals.
#[derive(Debug)]
pub(crate) enum AppError {
    Refused(StatusCode, String),
    Throttled(Duration),
    Internal(Error),
}

impl AppError {
    fn bad(reason: impl Into<String>) -> AppError {
        AppError::Refused(StatusCode::BAD_REQUEST, reason.into())
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> AppError {
        match e {
            Error::Invalid(_) | Error::Field { .. } | Error::UnknownTaxonomyCode(_) => {
                AppError::bad(e.to_string())
            }
            Error::NoSuchCall(_) | Error::NoSuchAccount(_) => {
                AppError::Refused(StatusCode::NOT_FOUND, "not found".into())
            }
            Error::AccountExists(_) => AppError::Refused(StatusCode::CONFLICT, e.to_string()),
            e => AppError::Internal(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Refused(status, reason) => {
                (status, Json(json!({ "error": reason }))).into_response()
            }
            AppError::Throttled(wait) => {
                let secs = wait.as_secs().max(1);
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({ "error": "too many failed logins; try again later" })),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": "internal error" })),
                )
                    .into_response()
            }
        }
    }
}

type ApiResult<T> = Result<T, AppError>;

/// Whether a password sent from `peer` must be refused: over plain HTTP from
/// another machine, unless allowed.
fn plain_login_refused(peer: Option<std::net::IpAddr>, over_tls: bool, allowed: bool) -> bool {
    let remote = peer.is_some_and(|ip| {
        !ip.is_loopback()
            && !matches!(ip, std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
    });
    !over_tls && remote && !allowed
}

/// The router of the CTI server.
pub(crate) fn app(cti: Cti) -> Router {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/", get(crate::web::index))
        .route("/reports", get(crate::web::reports))
        .route("/supervisor", get(crate::web::supervisor))
        .route("/ops", get(crate::web::ops))
        .route("/assets/{*path}", get(crate::web::asset))
        .route("/api/me", get(me))
        .route("/api/me/language", put(set_language))
        .route("/api/taxonomy", get(taxonomy))
        .route("/api/directory/search", get(directory_search))
        .route("/api/follow-ups", get(follow_ups))
        .route("/api/follow-ups/{log_id}/outcome", post(follow_up_outcome))
        .route("/api/calls/{id}", get(call))
        .route("/api/calls/{id}/log", get(call_log))
        .route("/api/callers/{number}/history", get(history))
        .route("/api/emergency", get(emergency).put(set_emergency))
        .route("/api/flows/versions", get(flow_versions))
        .route("/api/flows/versions/{version}", get(flow_version_files))
        .route("/api/flows/active", get(flow_active))
        .route("/api/prompts", get(prompts_list))
        .route(
            "/api/prompts/{lang}/{id}",
            get(prompt_sound).put(prompt_record),
        )
        .route("/api/flows/diagram.svg", get(flow_diagram))
        .route("/api/flows/check", post(flow_check))
        .route("/api/flows/activate", post(flow_activate))
        .route("/api/flows/rollback", post(flow_rollback))
        .route("/api/audit", get(audit_log))
        .route("/api/accounts", get(accounts_list).post(account_create))
        .route("/api/accounts/{username}", put(account_update))
        .route("/api/accounts/{username}/password", post(account_password))
        .route(
            "/api/accounts/{username}/sip-secret",
            post(account_sip_secret),
        )
        .route("/api/navigators", get(navigators))
        .route("/api/navigators/{username}/state", post(force_state))
        .route("/api/navigators/{username}/monitor", post(monitor))
        .route("/api/queues", get(queues))
        .route("/api/reports", get(reports_meta))
        .route("/api/reports/{kind}", get(report))
        .route("/public/needs.csv", get(public_needs_csv))
        .route("/public/needs.json", get(public_needs_json))
        .route("/api/queues/callbacks/{call_id}", post(queue_callback))
        .route("/cti/ws", get(crate::ws::upgrade))
        .route("/cti/supervisor", get(crate::supervisor::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { AppError::Refused(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            cti.clone(),
            whole_body_in_time,
        ))
        .with_state(cti)
}

/// Largest request body (the API takes small JSON documents).
const MAX_BODY: usize = 2 << 20;

/// Every request's body arrives whole within [`CtiConfig::body_timeout`](crate::CtiConfig::body_timeout)
/// (a client that trickles it, or stops half-way, is answered 408 and
/// holds nothing), and within [`MAX_BODY`] (413).
async fn whole_body_in_time(
    State(cti): State<Cti>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let limit = cti.shared.config.body_timeout;
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => AppError::Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes, or cut off"),
        )
        .into_response(),
        Err(_) => {
            tracing::debug!(peer = %peer_of(&parts), "request body too slow");
            AppError::Refused(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs_f32()
                ),
            )
            .into_response()
        }
    }
}

fn peer_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

fn action_of(parts: &Parts) -> String {
    let path = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    format!("{} {}", parts.method, path)
}

impl Cti {
    /// Writes an audit row; a failure to audit is counted and logged, and
    /// fails the request (a read that cannot be audited is not served).
    pub(crate) async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &str,
        peer: &str,
    ) -> ApiResult<()> {
        let e = AuditEntry {
            at_ms: now_ms(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            detail: detail.into(),
            peer: peer.into(),
        };
        if let Err(err) = self.shared.store.audit(&e).await {
            self.shared.status.count_store_error();
            tracing::error!(error = %err, action, target, "audit row not written");
            return Err(AppError::Internal(err));
        }
        Ok(())
    }
}

/// An authenticated request: the account behind the bearer token.
pub(crate) struct Auth {
    pub account: AccountInfo,
    pub token_hash: String,
    pub peer: String,
    pub action: String,
}

impl Auth {
    /// Refuses with 403 and an audit row unless `allowed`.
    pub(crate) async fn require(&self, cti: &Cti, allowed: bool, target: &str) -> ApiResult<()> {
        if allowed {
            return Ok(());
        }
        cti.audit(
            &self.account.username,
            &self.action,
            target,
            "denied",
            self.account.role.as_str(),
            &self.peer,
        )
        .await?;
        Err(AppError::Refused(
            StatusCode::FORBIDDEN,
            "not allowed for your role".into(),
        ))
    }
}

fn token_of(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
    })
}

impl FromRequestParts<Cti> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, cti: &Cti) -> ApiResult<Auth> {
        let peer = peer_of(parts);
        let action = action_of(parts);
        let target = parts.uri.path().to_string();
        let unauthenticated = || {
            AppError::Refused(
                StatusCode::UNAUTHORIZED,
                "missing, invalid or expired token".into(),
            )
        };
        // Requests with no token, or one nobody was ever given, name no
        // one: counted (`/metrics`), not audited, so a scanner cannot fill
        // the audit log.
        let Some(token) = token_of(parts).filter(|t| !t.is_empty()) else {
            cti.shared.status.count_unauthenticated("no_token");
            return Err(unauthenticated());
        };
        let token_hash = sha256_hex(&token);
        let Some(session) = cti.shared.store.session(&token_hash).await? else {
            cti.shared.status.count_unauthenticated("unknown_token");
            return Err(unauthenticated());
        };
        let problem = if session.revoked {
            Some("revoked token")
        } else if session.expires_ms <= now_ms() {
            Some("expired token")
        } else {
            None
        };
        let account = cti.shared.store.account(&session.username).await?;
        let problem = problem.or(match &account {
            None => Some("account gone"),
            Some(a) if a.disabled => Some("account disabled"),
            Some(_) => None,
        });
        if let Some(problem) = problem {
            cti.audit(
                &session.username,
                &action,
                &target,
                "unauthenticated",
                problem,
                &peer,
            )
            .await?;
            return Err(unauthenticated());
        }
        let Some(account) = account else {
            return Err(unauthenticated());
        };
        Ok(Auth {
            account: account.info,
            token_hash,
            peer,
            action,
        })
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| AppError::bad(format!("bad JSON body: {e}")))
}

/// A hash to verify against when the username is unknown, so a wrong
/// username costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| crate::accounts::hash_password("frontdoor-dummy-password").unwrap_or_default())
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// Largest login body read.
const LOGIN_BODY_LIMIT: usize = 16 * 1024;

async fn login(State(cti): State<Cti>, req: Request) -> ApiResult<Response> {
    // The peer address is there when served by `serve`; a router driven
    // without a socket (tests) has none, and throttles by username only.
    let peer_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let peer = peer_addr.map(|ip| ip.to_string()).unwrap_or_default();
    // A password over plain HTTP from another machine crosses the network
    // readable: refused unless allowed (use HTTPS, `[tls]`, or a TLS proxy
    // on this host).
    let over_tls = req.extensions().get::<crate::OverTls>().is_some();
    if plain_login_refused(
        peer_addr,
        over_tls,
        cti.shared.config.allow_plain_http_login,
    ) {
        cti.shared.status.count_unauthenticated("plain_http_login");
        return Err(AppError::Refused(
            StatusCode::FORBIDDEN,
            "sign-in over plain HTTP from another machine is refused: use this server's https:// address".into(),
        ));
    }
    let body = axum::body::to_bytes(req.into_body(), LOGIN_BODY_LIMIT)
        .await
        .map_err(|_| AppError::bad(format!("login body over {LOGIN_BODY_LIMIT} bytes")))?;
    let LoginBody { username, password } = parse_json(&body)?;
    let shared = &cti.shared;
    let user_label: String = username.chars().take(64).collect();
    if let Some(wait) = shared.throttle.blocked(Some(&user_label), &peer) {
        cti.audit(
            &user_label,
            "POST /api/login",
            &user_label,
            "throttled",
            "",
            &peer,
        )
        .await?;
        return Err(AppError::Throttled(wait));
    }
    let account = shared.store.account(&username).await?;
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    // A few password checks at once; a login that cannot get a turn soon
    // is told to come back rather than queue behind a flood.
    let permit = tokio::time::timeout(
        shared.config.login_wait,
        Arc::clone(&shared.hashing).acquire_owned(),
    )
    .await;
    let Ok(Ok(permit)) = permit else {
        return Err(AppError::Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many logins at once; try again in a moment".into(),
        ));
    };
    let ok = tokio::task::spawn_blocking(move || {
        let ok = verify_password(&password, &hash);
        drop(permit);
        ok
    })
    .await
    .unwrap_or(false);
    let account = match account {
        Some(a) if ok && !a.disabled => a,
        other => {
            shared.throttle.failed(&user_label, &peer);
            shared.status.count_login_failure();
            let why = match other {
                None => "unknown user",
                Some(a) if a.disabled => "disabled",
                Some(_) => "wrong password",
            };
            cti.audit(
                &user_label,
                "POST /api/login",
                &user_label,
                "failed",
                why,
                &peer,
            )
            .await?;
            return Err(AppError::Refused(
                StatusCode::UNAUTHORIZED,
                "invalid username or password".into(),
            ));
        }
    };
    shared.throttle.succeeded(&user_label);
    let token = new_token()?;
    let now = now_ms();
    let expires_at = now + shared.config.token_ttl.as_millis() as i64;
    shared
        .store
        .insert_session(&sha256_hex(&token), &account.info.username, now, expires_at)
        .await?;
    cti.audit(
        &account.info.username,
        "POST /api/login",
        &account.info.username,
        "ok",
        "",
        &peer,
    )
    .await?;
    Ok(
        Json(json!({ "token": token, "expires_at": expires_at, "account": account.info }))
            .into_response(),
    )
}

async fn logout(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    cti.shared
        .store
        .revoke_session(&auth.token_hash, now_ms())
        .await?;
    cti.shared.registry.logout(&auth.account.username);
    cti.end_phone(&auth.account.username);
    cti.audit(
        &auth.account.username,
        &auth.action,
        &auth.account.username,
        "ok",
        "",
        &auth.peer,
    )
    .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `GET /api/me`: the account, with the page language it chose.
async fn me(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    let ui_language = cti.shared.store.ui_language(&auth.account.username).await?;
    let mut v = serde_json::to_value(&auth.account).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("ui_language".into(), json!(ui_language));
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageBody {
    language: String,
}

/// `PUT /api/me/language`: the language the pages speak to this account.
async fn set_language(State(cti): State<Cti>, auth: Auth, body: Bytes) -> ApiResult<StatusCode> {
    let b: LanguageBody = parse_json(&body)?;
    cti.shared
        .store
        .set_ui_language(&auth.account.username, &b.language)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct TaxonomyQuery {
    #[serde(default)]
    q: String,
    limit: Option<usize>,
}

/// `GET /api/taxonomy?q=WORDS&limit=N`: active terms by code prefix or
/// words of their English or French name, accents ignored, best first.
async fn taxonomy(
    State(cti): State<Cti>,
    _auth: Auth,
    query: Result<Query<TaxonomyQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<crate::taxonomy::Term>>> {
    let Query(q) = query.map_err(|e| AppError::bad(e.body_text()))?;
    if q.q.len() > 200 {
        return Err(AppError::bad("q: at most 200 characters"));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    Ok(Json(cti.shared.store.search_taxonomy(&q.q, limit).await?))
}

/// `GET /api/directory/search`: services in the community resource
/// directory (docs/directory.md), for any account. Each search is noted
/// with its call, for the unmet-needs report.
async fn directory_search(
    State(cti): State<Cti>,
    auth: Auth,
    query: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = query.map_err(|e| AppError::bad(e.body_text()))?;
    let search = crate::directory::search::Search::from_params(&params)?;
    let (tz, _) = report_clock(&cti);
    let store = &cti.shared.store;
    let answer =
        crate::directory::search::search(store, &search, &tz, jiff::Timestamp::now()).await?;
    store
        .record_directory_search(
            now_ms(),
            search.call_id.as_deref(),
            &auth.account.username,
            &search.words,
            search.code.as_deref(),
            answer.results.len(),
        )
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

#[derive(Deserialize)]
struct FollowUpQuery {
    scope: Option<String>,
}

/// `GET /api/follow-ups?scope=mine|centre`: the follow-ups not done, by due
/// date, with today's status (the centre's time zone decides "today").
async fn follow_ups(
    State(cti): State<Cti>,
    auth: Auth,
    query: Result<Query<FollowUpQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<crate::store::FollowUpItem>>> {
    let Query(q) = query.map_err(|e| AppError::bad(e.body_text()))?;
    let a = &auth.account;
    let scope = match q.scope.as_deref().unwrap_or("mine") {
        "mine" => crate::store::FollowUpScope::Navigator(&a.username),
        "centre" => crate::store::FollowUpScope::Centre(&a.centre),
        other => {
            return Err(AppError::bad(format!(
                "scope {other:?}: use mine or centre"
            )));
        }
    };
    let today = cti.shared.config.today();
    Ok(Json(cti.shared.store.follow_ups(scope, &today).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    outcome: crate::protocol::FollowUpOutcome,
    #[serde(default)]
    notes: String,
}

/// `POST /api/follow-ups/{log_id}/outcome`: one attempt at a follow-up,
/// by its navigator or someone of the call's centre (audited).
async fn follow_up_outcome(
    State(cti): State<Cti>,
    auth: Auth,
    Path(log_id): Path<i64>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let b: OutcomeBody = parse_json(&body)?;
    let store = &cti.shared.store;
    let a = &auth.account;
    let Some((call_id, navigator, centre)) = store.follow_up_owner(log_id).await? else {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            format!("no follow-up on log {log_id}"),
        ));
    };
    let allowed = navigator == a.username
        || centre.as_deref() == Some(a.centre.as_str())
        || a.role == Role::Ops;
    auth.require(&cti, allowed, &call_id).await?;
    store
        .record_follow_up_outcome(log_id, &a.username, b.outcome, &b.notes, now_ms())
        .await?;
    cti.audit(
        &a.username,
        "follow_up.outcome",
        &call_id,
        "ok",
        &format!("log {log_id} {}", b.outcome.as_str()),
        &auth.peer,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The record of call `id` if `auth` may read it: a navigator the calls
/// offered to them, a supervisor their centre's, ops all (a refusal is
/// audited).
async fn readable_call(cti: &Cti, auth: &Auth, id: &str) -> ApiResult<crate::store::CallRecord> {
    let Some(record) = cti.shared.store.call(id).await? else {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "no such call".into(),
        ));
    };
    let a = &auth.account;
    let allowed = match a.role {
        Role::Navigator => record.navigator.as_deref() == Some(a.username.as_str()),
        Role::Supervisor => record.centre.as_deref() == Some(a.centre.as_str()),
        Role::Ops => true,
    };
    auth.require(cti, allowed, id).await?;
    Ok(record)
}

/// `GET /api/calls/{id}/log`: the call's current log, to correct it.
async fn call_log(
    State(cti): State<Cti>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::store::StoredLog>> {
    readable_call(&cti, &auth, &id).await?;
    match cti.shared.store.current_log(&id).await? {
        Some(log) => Ok(Json(log)),
        None => Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "this call has no log yet".into(),
        )),
    }
}

async fn call(
    State(cti): State<Cti>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let store = &cti.shared.store;
    let record = readable_call(&cti, &auth, &id).await?;
    cti.audit(
        &auth.account.username,
        &auth.action,
        &id,
        "ok",
        "",
        &auth.peer,
    )
    .await?;
    let events = store.call_events(&id).await?;
    let logs = store.call_logs(&id).await?;
    Ok(Json(
        json!({ "call": record, "events": events, "logs": logs }),
    ))
}

async fn history(
    State(cti): State<Cti>,
    auth: Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let store = &cti.shared.store;
    let a = &auth.account;
    let caller = Caller::parse(&number);
    let allowed = match a.role {
        Role::Navigator => store.navigator_had_caller(&a.username, &caller).await?,
        Role::Supervisor => store.centre_had_caller(&a.centre, &caller).await?,
        Role::Ops => true,
    };
    auth.require(&cti, allowed, &number).await?;
    let contacts = store.previous_contacts(&caller, None, 100).await?;
    cti.audit(
        &a.username,
        "history.read",
        &number,
        "ok",
        &format!("{} contacts", contacts.len()),
        &auth.peer,
    )
    .await?;
    Ok(Json(
        json!({ "caller": number, "previous_contacts": contacts }),
    ))
}

async fn emergency(
    State(cti): State<Cti>,
    _auth: Auth,
) -> ApiResult<Json<crate::store::Emergency>> {
    Ok(Json(cti.shared.store.emergency().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmergencyBody {
    active: bool,
    #[serde(default)]
    message: String,
    /// The incident tag the calls it covers are recorded with.
    #[serde(default)]
    incident: String,
    /// The regions it applies to; none: province-wide.
    #[serde(default)]
    regions: Vec<String>,
}

async fn set_emergency(
    State(cti): State<Cti>,
    auth: Auth,
    body: Bytes,
) -> ApiResult<Json<crate::store::Emergency>> {
    auth.require(&cti, auth.account.role == Role::Ops, "emergency")
        .await?;
    let b: EmergencyBody = parse_json(&body)?;
    if !b.incident.is_empty() && !crate::reports::valid_tag(&b.incident) {
        return Err(AppError::bad(
            "incident: letters, digits, - and _, up to 64 (e.g. 2026-ottawa-flood)",
        ));
    }
    let desk = cti.shared.desk();
    let mut regions: Vec<String> = Vec::new();
    for r in &b.regions {
        if !desk.regions.iter().any(|known| known.id == *r) {
            let known: Vec<&str> = desk.regions.iter().map(|k| k.id.as_str()).collect();
            return Err(AppError::bad(format!(
                "regions: unknown region {r:?} (the flows' regions: {})",
                known.join(", ")
            )));
        }
        if !regions.contains(r) {
            regions.push(r.clone());
        }
    }
    cti.shared
        .store
        .set_emergency(
            b.active,
            &b.message,
            &b.incident,
            &regions,
            &auth.account.username,
            now_ms(),
        )
        .await?;
    cti.shared
        .set_emergency_cache(b.active, &b.incident, &regions);
    let detail = format!(
        "active={} message={:?} incident={:?} regions={:?}",
        b.active,
        b.message,
        b.incident,
        regions.join(",")
    );
    cti.audit(
        &auth.account.username,
        "emergency.set",
        "emergency",
        "ok",
        &detail,
        &auth.peer,
    )
    .await?;
    Ok(Json(cti.shared.store.emergency().await?))
}

async fn flow_versions(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, "flows")
        .await?;
    let versions = cti.shared.store.flow_versions().await?;
    Ok(Json(
        json!({ "active": cti.shared.status.active_flow(), "versions": versions }),
    ))
}

// ——— Accounts (docs/ops.md) ———

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccountBody {
    username: String,
    role: Role,
    centre: String,
    languages: Vec<String>,
    #[serde(default)]
    crisis_trained: bool,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountChangeBody {
    #[serde(default)]
    centre: Option<String>,
    #[serde(default)]
    languages: Option<Vec<String>>,
    #[serde(default)]
    crisis_trained: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

/// A centre a navigator or supervisor account may have: one of the flows'.
fn check_account_centre(cti: &Cti, role: Role, centre: &str) -> ApiResult<()> {
    if role == Role::Ops {
        return Ok(());
    }
    let desk = cti.shared.desk();
    if desk.centres.iter().any(|c| c.id == centre) {
        return Ok(());
    }
    let known: Vec<&str> = desk.centres.iter().map(|c| c.id.as_str()).collect();
    Err(AppError::bad(format!(
        "centre {centre:?}: one of the flows' centres ({})",
        known.join(", ")
    )))
}

/// `GET /api/accounts`: every account (no credentials).
async fn accounts_list(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, "accounts")
        .await?;
    let accounts: Vec<serde_json::Value> = cti
        .shared
        .store
        .accounts()
        .await?
        .into_iter()
        .map(|a| {
            let mut v = serde_json::to_value(&a.info).unwrap_or_default();
            v["disabled"] = json!(a.disabled);
            v
        })
        .collect();
    Ok(Json(json!({ "accounts": accounts })))
}

/// `POST /api/accounts`: a new account; answers its phone's SIP secret, once.
async fn account_create(State(cti): State<Cti>, auth: Auth, body: Bytes) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "accounts")
        .await?;
    let b: NewAccountBody = parse_json(&body)?;
    check_account_centre(&cti, b.role, &b.centre)?;
    let info = AccountInfo {
        username: b.username.trim().to_owned(),
        role: b.role,
        centre: b.centre,
        languages: b.languages,
        crisis_trained: b.crisis_trained,
    };
    let username = info.username.clone();
    let detail = format!("role={} centre={}", info.role.as_str(), info.centre);
    let secret = crate::accounts::manage::create(&cti.shared.store, info, &b.password).await?;
    cti.audit(
        &auth.account.username,
        "user.add",
        &username,
        "ok",
        &detail,
        &auth.peer,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "username": username, "sip_secret": secret })),
    )
        .into_response())
}

/// `PUT /api/accounts/{username}`: what the account takes, or disabled.
async fn account_update(
    State(cti): State<Cti>,
    auth: Auth,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, &username)
        .await?;
    let b: AccountChangeBody = parse_json(&body)?;
    let store = &cti.shared.store;
    let account = store
        .account(&username)
        .await?
        .ok_or_else(|| Error::NoSuchAccount(username.clone()))?;
    let me = &auth.account.username;
    if let Some(disabled) = b.disabled {
        if disabled && username == *me {
            return Err(AppError::bad("you cannot disable your own account"));
        }
        crate::accounts::manage::set_disabled(store, &username, disabled).await?;
        if disabled {
            cti.shared.registry.logout(&username);
            cti.end_phone(&username);
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        cti.audit(me, action, &username, "ok", "", &auth.peer)
            .await?;
    }
    if b.centre.is_some() || b.languages.is_some() || b.crisis_trained.is_some() {
        let centre = b.centre.unwrap_or(account.info.centre.clone());
        check_account_centre(&cti, account.info.role, &centre)?;
        let languages = b.languages.unwrap_or(account.info.languages.clone());
        let crisis = b.crisis_trained.unwrap_or(account.info.crisis_trained);
        crate::accounts::manage::set_skills(store, &username, &centre, &languages, crisis).await?;
        let detail = format!(
            "centre={centre} languages={} crisis_trained={crisis}",
            languages.join(",")
        );
        cti.audit(me, "user.skills", &username, "ok", &detail, &auth.peer)
            .await?;
    }
    Ok(Json(json!({ "ok": true })))
}

/// `POST /api/accounts/{username}/password`: a new password; their logins end.
async fn account_password(
    State(cti): State<Cti>,
    auth: Auth,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    auth.require(&cti, auth.account.role == Role::Ops, &username)
        .await?;
    let PasswordBody { password } = parse_json(&body)?;
    crate::accounts::manage::reset_password(&cti.shared.store, &username, &password).await?;
    cti.audit(
        &auth.account.username,
        "user.passwd",
        &username,
        "ok",
        "",
        &auth.peer,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/accounts/{username}/sip-secret`: a new SIP secret for the
/// account's phone, answered once.
async fn account_sip_secret(
    State(cti): State<Cti>,
    auth: Auth,
    Path(username): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, &username)
        .await?;
    let secret = crate::accounts::manage::new_phone_secret(&cti.shared.store, &username).await?;
    cti.audit(
        &auth.account.username,
        "user.sip-secret",
        &username,
        "ok",
        "",
        &auth.peer,
    )
    .await?;
    Ok(Json(json!({ "username": username, "sip_secret": secret })))
}

// ——— The audit log (docs/ops.md) ———

/// The most rows one read of the audit log gives.
const AUDIT_MAX: i64 = 5000;

/// `GET /api/audit?actor=&action=&target=&from=&to=&limit=&format=csv`:
/// the audit log for the privacy officer (ops), newest first; the read is
/// itself audited.
async fn audit_log(
    State(cti): State<Cti>,
    auth: Auth,
    query: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "audit")
        .await?;
    let Query(params) = query.map_err(|e| AppError::bad(e.body_text()))?;
    for key in params.keys() {
        if !matches!(
            key.as_str(),
            "actor" | "action" | "target" | "from" | "to" | "limit" | "format"
        ) {
            return Err(AppError::bad(format!(
                "{key}: not a filter (actor, action, target, from, to, limit, format)"
            )));
        }
    }
    let (tz, today) = report_clock(&cti);
    let date = |key: &str, default: jiff::civil::Date| -> ApiResult<jiff::civil::Date> {
        match params.get(key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse::<jiff::civil::Date>()
                .map_err(|_| AppError::bad(format!("{key}: a date as YYYY-MM-DD, not {v:?}"))),
        }
    };
    let from = date("from", today.saturating_sub(jiff::ToSpan::days(30)))?;
    let to = date("to", today)?;
    if to < from {
        return Err(AppError::bad("to: before from"));
    }
    let start_of = |d: jiff::civil::Date| {
        d.to_zoned(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| AppError::bad(format!("date: {e}")))
    };
    let limit = match params.get("limit") {
        None => 500,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=AUDIT_MAX).contains(n))
            .ok_or_else(|| AppError::bad(format!("limit: 1 to {AUDIT_MAX}, not {v:?}")))?,
    };
    let text = |key: &str| {
        params
            .get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let filter = crate::store::AuditFilter {
        actor: text("actor"),
        action: text("action"),
        target: text("target"),
        from_ms: start_of(from)?,
        to_ms: start_of(to.saturating_add(jiff::ToSpan::days(1)))?,
        limit,
    };
    let csv = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(AppError::bad(format!("format: json or csv, not {other:?}"))),
    };
    let rows = cti.shared.store.audit_search(&filter).await?;
    let detail = format!(
        "actor={:?} action={:?} target={:?} from={from} to={to} rows={}",
        filter.actor.as_deref().unwrap_or(""),
        filter.action.as_deref().unwrap_or(""),
        filter.target.as_deref().unwrap_or(""),
        rows.len()
    );
    cti.audit(
        &auth.account.username,
        "audit.read",
        "audit",
        "ok",
        &detail,
        &auth.peer,
    )
    .await?;
    if !csv {
        return Ok(
            Json(json!({ "from": from.to_string(), "to": to.to_string(), "rows": rows }))
                .into_response(),
        );
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[&str]| {
        w.write_record(rec)
            .map_err(|e| AppError::Internal(Error::Io(std::io::Error::other(e.to_string()))))
    };
    write(
        &mut w,
        &[
            "at", "actor", "action", "target", "outcome", "detail", "peer",
        ],
    )?;
    for r in &rows {
        let at = jiff::Timestamp::from_millisecond(r.at_ms)
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            })
            .unwrap_or_default();
        write(
            &mut w,
            &[
                &at, &r.actor, &r.action, &r.target, &r.outcome, &r.detail, &r.peer,
            ],
        )?;
    }
    let body = w
        .into_inner()
        .map_err(|e| AppError::Internal(Error::Io(std::io::Error::other(e.to_string()))))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"audit-{from}-{to}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

// ——— The operations console's flows (docs/ops.md) ———

fn flow_console(cti: &Cti) -> ApiResult<Arc<dyn crate::console::FlowConsole>> {
    cti.shared.flow_console.get().cloned().ok_or_else(|| {
        AppError::Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the flows cannot be changed from here in this engine".into(),
        )
    })
}

/// Runs the console's (blocking) flow work off the async workers.
async fn console_work<T: Send + 'static>(
    cti: &Cti,
    work: impl FnOnce(Arc<dyn crate::console::FlowConsole>) -> T + Send + 'static,
) -> ApiResult<T> {
    let console = flow_console(cti)?;
    tokio::task::spawn_blocking(move || work(console))
        .await
        .map_err(|e| {
            AppError::Internal(Error::Io(std::io::Error::other(format!(
                "flow work failed: {e}"
            ))))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFilesBody {
    files: Vec<crate::console::FlowFile>,
}

/// The files of a request, each a flow file by name, none twice.
fn flow_files_of(body: &Bytes) -> ApiResult<Vec<crate::console::FlowFile>> {
    let FlowFilesBody { files } = parse_json(body)?;
    let mut seen = std::collections::HashSet::new();
    for f in &files {
        if !crate::console::valid_path(&f.path) {
            return Err(AppError::bad(format!(
                "files: {:?} is not a flow file (NAME.yaml, regions.csv or tests/NAME.yaml)",
                f.path
            )));
        }
        if !seen.insert(f.path.as_str()) {
            return Err(AppError::bad(format!("files: {:?} is given twice", f.path)));
        }
    }
    if !files.iter().any(|f| f.path == "centres.yaml") {
        return Err(AppError::bad(
            "files: a flow version needs its centres.yaml (send every file of the version)",
        ));
    }
    Ok(files)
}

/// `GET /api/flows/active`: the active flow version and its files.
async fn flow_active(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, "flows")
        .await?;
    let (version, files) = console_work(&cti, |c| c.active()).await?;
    Ok(Json(json!({ "version": version, "files": files })))
}

/// `GET /api/flows/diagram.svg`: the active version drawn as SVG.
async fn flow_diagram(State(cti): State<Cti>, auth: Auth) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "flows")
        .await?;
    let svg = console_work(&cti, |c| c.diagram()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// `GET /api/prompts`: every prompt of the active catalogue.
async fn prompts_list(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, "prompts")
        .await?;
    let prompts = console_work(&cti, |c| c.prompts()).await?;
    Ok(Json(json!({ "prompts": prompts })))
}

/// `GET /api/prompts/{lang}/{id}`: a prompt's sound (WAV, 8 kHz mono).
async fn prompt_sound(
    State(cti): State<Cti>,
    auth: Auth,
    Path((lang, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "prompts")
        .await?;
    let wav = console_work(&cti, move |c| c.prompt_wav(&lang, &id))
        .await?
        .ok_or_else(|| AppError::Refused(StatusCode::NOT_FOUND, "no such prompt".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        wav,
    )
        .into_response())
}

/// `PUT /api/prompts/{lang}/{id}`: a person's recording of a prompt (the
/// body is the WAV), checked, kept and activated as a new flow version.
async fn prompt_record(
    State(cti): State<Cti>,
    auth: Auth,
    Path((lang, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "prompts")
        .await?;
    if !matches!(lang.as_str(), "en" | "fr") || !crate::console::valid_prompt_id(&id) {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "no such prompt".into(),
        ));
    }
    let by = auth.account.username.clone();
    let target = format!("{lang}/{id}");
    let (l, i) = (lang.clone(), id.clone());
    let result = console_work(&cti, move |c| c.record_prompt(&l, &i, &body, &by)).await?;
    let a = &auth.account;
    match result {
        Ok(version) => {
            cti.audit(
                &a.username,
                "prompt.record",
                &target,
                "ok",
                &version,
                &auth.peer,
            )
            .await?;
            Ok(Json(json!({ "version": version })).into_response())
        }
        Err(reason) => {
            cti.audit(
                &a.username,
                "prompt.record",
                &target,
                "refused",
                &reason,
                &auth.peer,
            )
            .await?;
            Err(AppError::Refused(StatusCode::UNPROCESSABLE_ENTITY, reason))
        }
    }
}

/// `GET /api/flows/versions/{version}`: the kept files of a version.
async fn flow_version_files(
    State(cti): State<Cti>,
    auth: Auth,
    Path(version): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(&cti, auth.account.role == Role::Ops, &version)
        .await?;
    let files = cti.shared.store.flow_files(&version).await?;
    if files.is_empty() {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "no files are kept for that version".into(),
        ));
    }
    Ok(Json(json!({ "version": version, "files": files })))
}

/// `POST /api/flows/check`: what the checker and the flow tests say of a
/// flow version; nothing changes.
async fn flow_check(
    State(cti): State<Cti>,
    auth: Auth,
    body: Bytes,
) -> ApiResult<Json<crate::console::FlowCheck>> {
    auth.require(&cti, auth.account.role == Role::Ops, "flows")
        .await?;
    let files = flow_files_of(&body)?;
    Ok(Json(console_work(&cti, move |c| c.check(&files)).await?))
}

/// The answer to an activation: the version, or 422 with the check that refused it.
async fn activated(
    cti: &Cti,
    auth: &Auth,
    action: &str,
    target: &str,
    result: Result<String, crate::console::FlowCheck>,
) -> ApiResult<Response> {
    let a = &auth.account;
    match result {
        Ok(version) => {
            cti.audit(&a.username, action, target, "ok", &version, &auth.peer)
                .await?;
            Ok(Json(json!({ "version": version })).into_response())
        }
        Err(check) => {
            let detail = format!("{} problem(s)", check.problems.len());
            cti.audit(&a.username, action, target, "refused", &detail, &auth.peer)
                .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(check)).into_response())
        }
    }
}

/// `POST /api/flows/activate`: check a flow version and, all well, make it
/// the active one.
async fn flow_activate(State(cti): State<Cti>, auth: Auth, body: Bytes) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "flows")
        .await?;
    let files = flow_files_of(&body)?;
    let by = auth.account.username.clone();
    let result = console_work(&cti, move |c| c.activate(&files, &by)).await?;
    activated(&cti, &auth, "flow.upload", "flows", result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    version: String,
}

/// `POST /api/flows/rollback`: activate an earlier version again, from its
/// kept files.
async fn flow_rollback(State(cti): State<Cti>, auth: Auth, body: Bytes) -> ApiResult<Response> {
    auth.require(&cti, auth.account.role == Role::Ops, "flows")
        .await?;
    let RollbackBody { version } = parse_json(&body)?;
    let files = cti.shared.store.flow_files(&version).await?;
    if files.is_empty() {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            format!(
                "no files are kept for version {version:?} (GET /api/flows/versions lists them)"
            ),
        ));
    }
    let by = auth.account.username.clone();
    let result = console_work(&cti, move |c| c.activate(&files, &by)).await?;
    activated(&cti, &auth, "flow.rollback", &version, result).await
}

async fn navigators(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, "navigators")
        .await?;
    let mut views = cti.navigators();
    if a.role == Role::Supervisor {
        views.retain(|v| v.account.centre == a.centre);
    }
    Ok(Json(json!({ "navigators": views })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForceStateBody {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/navigators/{username}/state`: a supervisor (of the
/// navigator's centre) or operations staff sets a navigator not ready with
/// a reason, or logs them out (their logins end: their screen asks them to
/// sign in again, keeping what they typed). Audited.
async fn force_state(
    State(cti): State<Cti>,
    auth: Auth,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, &username)
        .await?;
    let ForceStateBody { state, reason } = parse_json(&body)?;
    let navigator = supervised_navigator(&cti, &auth, &username).await?;
    if navigator.state.state == AgentState::LoggedOut {
        return Err(AppError::Refused(
            StatusCode::CONFLICT,
            "the navigator is logged out".into(),
        ));
    }
    let detail = match (state.as_str(), reason) {
        ("not_ready", Some(reason)) => {
            if !cti.shared.config.not_ready_reasons.contains(&reason) {
                return Err(AppError::bad(format!(
                    "unknown reason {reason:?}: use one of {}",
                    cti.shared.config.not_ready_reasons.join(", ")
                )));
            }
            if !cti
                .shared
                .registry
                .force_not_ready(&username, reason.clone())
            {
                return Err(queues_not_running());
            }
            format!("not_ready reason={reason}")
        }
        ("not_ready", None) => return Err(AppError::bad("not_ready needs a reason")),
        ("logged_out", None) => {
            cti.shared
                .store
                .revoke_sessions_of(&username, now_ms())
                .await?;
            cti.shared.registry.logout(&username);
            cti.end_phone(&username);
            "logged_out".to_owned()
        }
        ("logged_out", Some(_)) => {
            return Err(AppError::bad("only not_ready takes a reason"));
        }
        (other, _) => {
            return Err(AppError::bad(format!(
                "unknown state {other:?}: use \"not_ready\" or \"logged_out\""
            )));
        }
    };
    cti.audit(
        &a.username,
        "navigator.state.force",
        &username,
        "ok",
        &detail,
        &auth.peer,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorBody {
    mode: String,
}

/// `POST /api/navigators/{username}/monitor`: a supervisor (of the
/// navigator's centre) or operations staff joins the navigator's call on
/// their own registered phone, which rings: `listen` (they hear both
/// sides), `whisper` (the navigator hears them, the caller does not),
/// `barge` (a three-way call); sent again, it changes the mode; `off`
/// ends it. How it goes shows in the queues' view (the navigator's
/// `monitor`). Audited.
async fn monitor(
    State(cti): State<Cti>,
    auth: Auth,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, &username)
        .await?;
    let MonitorBody { mode } = parse_json(&body)?;
    let mode = match mode.as_str() {
        "off" => None,
        name => Some(
            MonitorMode::ALL
                .into_iter()
                .find(|m| m.as_str() == name)
                .ok_or_else(|| {
                    AppError::bad(format!(
                        "unknown mode {name:?}: use \"listen\", \"whisper\", \"barge\" or \"off\""
                    ))
                })?,
        ),
    };
    supervised_navigator(&cti, &auth, &username).await?;
    let view = cti.shared.queue_view().ok_or_else(queues_not_running)?;
    let on_call = view
        .navigators
        .iter()
        .find(|n| n.username == username)
        .filter(|n| n.state == AgentState::Busy)
        .and_then(|n| n.call_id.clone());
    let Some(call_id) = on_call else {
        return Err(AppError::Refused(
            StatusCode::CONFLICT,
            "the navigator is not on a call".into(),
        ));
    };
    let cmd = NavigatorCommand::Monitor {
        supervisor: a.username.clone(),
        navigator: username.clone(),
        call_id: call_id.clone(),
        mode,
    };
    to_queues(&cti, cmd)?;
    let mode = mode.map_or("off", MonitorMode::as_str);
    cti.audit(
        &a.username,
        "call.monitor",
        &call_id,
        "ok",
        &format!("navigator={username} mode={mode}"),
        &auth.peer,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": true, "call_id": call_id })),
    )
        .into_response())
}

/// The signed-in navigator `username` whom this supervisor (of their
/// centre) or ops may act on: `404` when no navigator of that name has
/// signed in, `403` (audited) for another centre's supervisor.
async fn supervised_navigator(
    cti: &Cti,
    auth: &Auth,
    username: &str,
) -> ApiResult<crate::agents::NavigatorView> {
    let a = &auth.account;
    let navigator = cti
        .navigator(username)
        .filter(|n| n.account.role == Role::Navigator);
    let Some(navigator) = navigator else {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "no navigator of that name has signed in since the engine started".into(),
        ));
    };
    if a.role == Role::Supervisor && navigator.account.centre != a.centre {
        auth.require(cti, false, username).await?;
    }
    Ok(navigator)
}

/// Hands a supervisor's order to the queues: `503` when they are busy or
/// not running.
fn to_queues(cti: &Cti, cmd: NavigatorCommand) -> ApiResult<()> {
    cti.shared.registry.commands().try_send(cmd).map_err(|e| {
        let reason = match e {
            TrySendError::Full(_) => "the queues are busy; try again",
            TrySendError::Closed(_) => "the queues are not running",
        };
        AppError::Refused(StatusCode::SERVICE_UNAVAILABLE, reason.into())
    })
}

fn queues_not_running() -> AppError {
    AppError::Refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "the queues are not running".into(),
    )
}

/// `GET /api/queues`: the queues' last published view, as the binary published it.
async fn queues(State(cti): State<Cti>, auth: Auth) -> ApiResult<Response> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, "queues")
        .await?;
    let view = cti.shared.queue_view().ok_or_else(queues_not_running)?;
    // The callers waiting are health information: who read it is kept.
    cti.audit(&a.username, &auth.action, "queues", "ok", "", &auth.peer)
        .await?;
    if a.role == Role::Ops {
        return Ok(Json(&*view).into_response());
    }
    // A supervisor sees the numbers of their own centre's callers (and the
    // province-wide crisis queue's) only, and the failed callbacks their
    // centre can act on.
    let own = format!("centre:{}", a.centre);
    let mut view = (*view).clone();
    for line in view
        .queues
        .iter_mut()
        .filter(|l| l.queue != own && l.queue != "crisis")
    {
        for call in &mut line.waiting {
            call.caller = None;
        }
    }
    view.supervisor_list.retain(|e| e.queue == own);
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackBody {
    action: String,
}

/// The entry for `call_id` on the view's `supervisor_list`, if it is there.
fn on_supervisor_list<'a>(view: &'a QueuesView, call_id: &str) -> Option<&'a FailedCallback> {
    view.supervisor_list.iter().find(|e| e.call_id == call_id)
}

/// `POST /api/queues/callbacks/{call_id}`: a supervisor requeues or resolves
/// a failed callback on the supervisors' list; the queues do it.
async fn queue_callback(
    State(cti): State<Cti>,
    auth: Auth,
    Path(call_id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, &call_id)
        .await?;
    let CallbackBody { action } = parse_json(&body)?;
    let action = match action.as_str() {
        "requeue" => CallbackAction::Requeue,
        "resolve" => CallbackAction::Resolve,
        other => {
            return Err(AppError::bad(format!(
                "unknown action {other:?}: use \"requeue\" or \"resolve\""
            )));
        }
    };
    let view = cti.shared.queue_view().ok_or_else(queues_not_running)?;
    let Some(entry) = on_supervisor_list(&view, &call_id) else {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "no such callback on the supervisors' list".into(),
        ));
    };
    let detail = format!("queue={}", entry.queue);
    let cmd = NavigatorCommand::Callback {
        supervisor: a.username.clone(),
        call_id: call_id.clone(),
        action,
    };
    to_queues(&cti, cmd)?;
    cti.audit(
        &a.username,
        &format!("queue.callback.{}", action.as_str()),
        &call_id,
        "ok",
        &detail,
        &auth.peer,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response())
}

/// How long `/healthz` waits for the database: a load balancer's probe
/// must be answered (`degraded`) while the database is away, not time out
/// with the pool's own wait for a connection.
const HEALTH_DB_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn healthz(State(cti): State<Cti>) -> Response {
    let db_ok = tokio::time::timeout(HEALTH_DB_WAIT, cti.shared.store.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    if !db_ok {
        cti.shared.status.count_store_error();
    }
    let status = &cti.shared.status;
    let trunks = status.trunks();
    // Trunks configured, none up: calls cannot reach us or go out.
    let trunks_down = !trunks.is_empty() && trunks.iter().all(|t| !t.up);
    // What a load balancer needs: draining (stopping) and full take no new
    // calls; an unreachable store or no trunk up is degraded (calls still run).
    let state = if status.draining() {
        "draining"
    } else if status.full() {
        "full"
    } else if !db_ok || trunks_down {
        "degraded"
    } else {
        "ok"
    };
    let mut body = json!({
        "status": state,
        "db": if db_ok { "ok" } else { "unreachable" },
        "flow": status.active_flow(),
        "calls_in_progress": status.calls_in_progress(),
        "call_limit": status.call_limit(),
    });
    if !trunks.is_empty() {
        body["trunks"] = json!(trunks);
    }
    let code = if state == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(cti): State<Cti>) -> Response {
    let view = cti.shared.queue_view();
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&cti.shared.status, view.as_deref()),
    )
        .into_response()
}

// ——— Reports (docs/reports.md) ———

/// The centres' time zone, and today there.
fn report_clock(cti: &Cti) -> (jiff::tz::TimeZone, jiff::civil::Date) {
    let tz =
        jiff::tz::TimeZone::get(&cti.shared.config.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    (tz, today)
}

/// `GET /api/reports`: what the reports page offers to ask.
async fn reports_meta(State(cti): State<Cti>, auth: Auth) -> ApiResult<Json<serde_json::Value>> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, "reports")
        .await?;
    let desk = cti.shared.desk();
    let mut regions: Vec<&str> = desk.regions.iter().map(|r| r.id.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    let incidents = cti.shared.store.incidents().await?;
    let config = &cti.shared.config.reports;
    Ok(Json(json!({
        "kinds": crate::reports::Kind::ALL.map(crate::reports::Kind::as_str),
        "centres": desk.centres,
        "regions": regions,
        "incidents": incidents,
        "suppress_below": config.suppress_below,
        "suppressed": a.role != Role::Ops,
        "today": report_clock(&cti).1.to_string(),
    })))
}

/// `GET /api/reports/{kind}?from=…&to=…`: a report as JSON or CSV;
/// audited. Operations staff get exact counts in JSON (their page);
/// every CSV and every supervisor's answer is suppressed.
async fn report(
    State(cti): State<Cti>,
    auth: Auth,
    Path(kind): Path<String>,
    query: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let a = &auth.account;
    auth.require(&cti, a.role != Role::Navigator, &kind).await?;
    let Query(params) = query.map_err(|e| AppError::bad(e.body_text()))?;
    let mut q = crate::reports::Query::from_params(&kind, &params)?;
    // A supervisor sees their own centre's navigators, as on /api/navigators.
    if a.role == Role::Supervisor && q.kind == crate::reports::Kind::Tracked {
        match &q.centre {
            None => q.centre = Some(a.centre.clone()),
            Some(c) if *c != a.centre => {
                auth.require(&cti, false, &kind).await?;
            }
            Some(_) => {}
        }
    }
    let csv = match params.get("format").map(String::as_str) {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(AppError::bad(format!(
                "format: {other:?} is not json or csv"
            )));
        }
    };
    let config = &cti.shared.config.reports;
    let exact = a.role == Role::Ops && !csv;
    let below = if exact { 0 } else { config.suppress_below };
    let (tz, today) = report_clock(&cti);
    let _turn = cti.shared.reports.acquire().await;
    let report = crate::reports::run(&cti.shared.store, config, &tz, today, &q, below).await?;
    cti.audit(
        &a.username,
        &format!("report.{}", q.kind),
        &q.describe(),
        "ok",
        if exact { "exact" } else { "" },
        &auth.peer,
    )
    .await?;
    if csv {
        let name = format!("frontdoor-{}-{}-{}.csv", q.kind, q.from, q.to);
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            report.to_csv(),
        )
            .into_response())
    } else {
        Ok(([(header::CACHE_CONTROL, "no-store")], Json(report)).into_response())
    }
}

/// How long the public feed is served from memory before it is recomputed.
const PUBLIC_FEED_TTL: Duration = Duration::from_secs(300);

/// The public needs feed (off unless `[reports] public_feed`): the daily
/// needs of the last days by taxonomy and region, suppressed, computed at
/// most every [`PUBLIC_FEED_TTL`].
async fn public_needs(cti: &Cti) -> ApiResult<Arc<crate::reports::Report>> {
    let config = &cti.shared.config.reports;
    if !config.public_feed {
        return Err(AppError::Refused(
            StatusCode::NOT_FOUND,
            "no such route".into(),
        ));
    }
    let mut cache = cti.shared.public_feed.lock().await;
    if let Some((at, report)) = cache.as_ref()
        && at.elapsed() < PUBLIC_FEED_TTL
    {
        return Ok(Arc::clone(report));
    }
    let (tz, today) = report_clock(cti);
    let back = i64::from(config.public_feed_days);
    let from = today
        .checked_sub(jiff::Span::new().days(back))
        .unwrap_or(today);
    let to = today.yesterday().unwrap_or(today);
    let q = crate::reports::Query {
        kind: crate::reports::Kind::Needs,
        from,
        to,
        centre: None,
        region: None,
        by: Some(crate::reports::By::Day),
        split: Some(crate::reports::Split::Region),
        tag: None,
        french: false,
    };
    let _turn = cti.shared.reports.acquire().await;
    let report = Arc::new(
        crate::reports::run(
            &cti.shared.store,
            config,
            &tz,
            today,
            &q,
            config.suppress_below.max(2),
        )
        .await?,
    );
    cti.audit("-", "report.public_feed", &q.describe(), "ok", "", "")
        .await?;
    *cache = Some((std::time::Instant::now(), Arc::clone(&report)));
    Ok(report)
}

/// `GET /public/needs.csv`.
async fn public_needs_csv(State(cti): State<Cti>) -> ApiResult<Response> {
    let report = public_needs(&cti).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        report.to_csv(),
    )
        .into_response())
}

/// `GET /public/needs.json`.
async fn public_needs_json(State(cti): State<Cti>) -> ApiResult<Response> {
    let report = public_needs(&cti).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(report.as_ref().clone()),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::plain_login_refused;

    #[test]
    fn a_password_over_plain_http_from_another_machine_is_refused() {
        let ip = |s: &str| Some(s.parse().unwrap());
        // From another machine: refused, unless over TLS or allowed.
        assert!(plain_login_refused(ip("192.0.2.7"), false, false));
        assert!(plain_login_refused(ip("2001:db8::7"), false, false));
        assert!(!plain_login_refused(ip("192.0.2.7"), true, false));
        assert!(!plain_login_refused(ip("192.0.2.7"), false, true));
        // From this host (a browser here, a TLS proxy here): accepted.
        assert!(!plain_login_refused(ip("127.0.0.1"), false, false));
        assert!(!plain_login_refused(ip("::1"), false, false));
        assert!(!plain_login_refused(ip("::ffff:127.0.0.1"), false, false));
        assert!(plain_login_refused(ip("::ffff:192.0.2.7"), false, false));
    }
}
