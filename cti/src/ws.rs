//! The CTI websocket: one task per connection pumps client commands in and
//! the session's frames out (see [`crate::agents`] for `seq` and replay).

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use crate::Cti;
use crate::agents::{HelloExtras, NavigatorCommand};
use crate::error::Error;
use crate::http::{AppError, Auth};
use crate::protocol::{
    AccountInfo, AgentState, ClientCmd, ClientFrame, ErrorCode, ServerMsg, TransferMode,
    TransferTarget,
};

/// Frames above this size close the connection (the transport limit); frames
/// above the configured `max_frame_bytes` but below this get an `error`.
const HARD_LIMIT: usize = 1024 * 1024;

pub(crate) async fn upgrade(
    State(cti): State<Cti>,
    auth: Auth,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    same_origin(&cti, &auth, &headers).await?;
    cti.audit(
        &auth.account.username,
        &auth.action,
        "cti",
        "ok",
        "",
        &auth.peer,
    )
    .await?;
    let (account, token_hash) = (auth.account, auth.token_hash);
    Ok(ws
        .max_message_size(HARD_LIMIT)
        .max_frame_size(HARD_LIMIT)
        .on_upgrade(move |socket| session(cti, account, token_hash, socket)))
}

/// Refuses (403, audited) a websocket opened by a page of another site: a
/// page elsewhere must not open a staff websocket with a token it got hold
/// of, and a browser says where the page came from.
pub(crate) async fn same_origin(
    cti: &Cti,
    auth: &Auth,
    headers: &axum::http::HeaderMap,
) -> Result<(), AppError> {
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        if authority.is_empty() || !authority.eq_ignore_ascii_case(host) {
            cti.audit(
                &auth.account.username,
                &auth.action,
                "cti",
                "denied",
                &format!("origin {origin}"),
                &auth.peer,
            )
            .await?;
            return Err(AppError::Refused(
                axum::http::StatusCode::FORBIDDEN,
                "the page opening this websocket is not this server's".into(),
            ));
        }
    }
    Ok(())
}

/// Why an open websocket's login no longer holds, if it does not.
pub(crate) async fn login_ended(cti: &Cti, user: &str, token_hash: &str) -> Option<&'static str> {
    let store = &cti.shared.store;
    if !store.available() {
        // Checked again when the database answers.
        return None;
    }
    let session = match store.session(token_hash).await {
        Ok(session) => session,
        // A store that cannot answer now is not a reason to cut a
        // navigator off mid-call: checked again next time.
        Err(_) => return None,
    };
    let Some(session) = session else {
        return Some("the login is gone");
    };
    if session.revoked {
        return Some("the login was revoked (logout or password change)");
    }
    if session.expires_ms <= crate::now_ms() {
        return Some("the login expired");
    }
    match store.account(user).await {
        Ok(None) => Some("the account is gone"),
        Ok(Some(a)) if a.disabled => Some("the account was disabled"),
        _ => None,
    }
}

/// The close code of a websocket whose login ended (application range):
/// the page asks the person to sign in again, keeping what they typed.
pub(crate) const CLOSE_LOGIN_ENDED: u16 = 4001;

async fn session(cti: Cti, account: AccountInfo, token_hash: String, mut socket: WebSocket) {
    let shared = &cti.shared;
    let user = account.username.clone();
    shared.status.ws_client_delta(1);
    let extras = hello_extras(&cti, &user).await;
    let (conn, mut outbox) = shared.registry.attach(account, extras);
    let period = shared
        .config
        .heartbeat
        .max(std::time::Duration::from_millis(100));
    let mut heartbeat = tokio::time::interval(period);
    heartbeat.tick().await;
    let mut check = tokio::time::interval(
        shared
            .config
            .session_check
            .max(std::time::Duration::from_millis(50)),
    );
    check.tick().await;
    loop {
        tokio::select! {
            _ = check.tick() => {
                if let Some(why) = login_ended(&cti, &user, &token_hash).await {
                    tracing::info!(user, why, "closing a websocket: its login ended");
                    let frame = axum::extract::ws::CloseFrame {
                        code: CLOSE_LOGIN_ENDED,
                        reason: why.into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => handle_text(&cti, &user, conn, text.as_str()).await,
                Some(Ok(Message::Binary(_))) => reply_error(&cti, &user, conn, None, ErrorCode::BadJson,
                    "binary frames are not part of the protocol; send JSON text frames".into()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            out = outbox.recv() => match out {
                Some(frame) => {
                    if socket.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                // Logged out, or too slow to keep up: the client reconnects and resumes.
                None => break,
            },
            _ = heartbeat.tick() => shared.registry.heartbeat(&user, conn),
        }
    }
    if let Some(generation) = shared.registry.detach(&user, conn) {
        // The navigator's last socket closed: after the grace period with
        // none open again, their session asks the queues to log them out.
        let (registry, grace) = (
            std::sync::Arc::clone(&shared.registry),
            shared.config.disconnect_grace,
        );
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            registry.grace_expired(&user, generation);
        });
    }
    shared.status.ws_client_delta(-1);
}

/// What `hello` says beyond the session: the account's page language, the
/// not-ready reasons, the desk, and the navigator's unsubmitted drafts. A
/// store that cannot answer now leaves them out (logged); the page keeps its
/// own copy of drafts.
async fn hello_extras(cti: &Cti, user: &str) -> HelloExtras {
    let shared = &cti.shared;
    let ui_language = shared.store.ui_language(user).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, user, "page language not read");
        None
    });
    let drafts = shared.store.drafts(user).await.unwrap_or_else(|e| {
        shared.status.count_store_error();
        tracing::error!(error = %e, user, "drafts not read");
        Vec::new()
    });
    HelloExtras {
        ui_language,
        not_ready_reasons: shared.config.not_ready_reasons.clone(),
        desk: (*shared.desk()).clone(),
        drafts,
    }
}

fn reply_error(
    cti: &Cti,
    user: &str,
    conn: u64,
    re: Option<String>,
    code: ErrorCode,
    reason: String,
) {
    reply_field_error(cti, user, conn, re, code, reason, None);
}

fn reply_field_error(
    cti: &Cti,
    user: &str,
    conn: u64,
    re: Option<String>,
    code: ErrorCode,
    reason: String,
    field: Option<String>,
) {
    cti.shared.registry.reply(
        user,
        conn,
        ServerMsg::Error {
            re,
            code,
            reason,
            field,
        },
    );
}

/// Handles one text frame. Every problem is answered with an `error` frame;
/// the connection stays open.
async fn handle_text(cti: &Cti, user: &str, conn: u64, text: &str) {
    match crate::protocol::decode_frame(text, cti.shared.config.max_frame_bytes) {
        Ok(frame) => handle_command(cti, user, conn, frame).await,
        Err(e) => reply_field_error(cti, user, conn, e.re, e.code, e.reason, e.field),
    }
}

async fn handle_command(cti: &Cti, user: &str, conn: u64, frame: ClientFrame) {
    let shared = &cti.shared;
    let registry = &shared.registry;
    let id = frame.id;
    let ack = |id: String| registry.reply(user, conn, ServerMsg::Ack { re: id });
    match frame.cmd {
        ClientCmd::PhoneOffer { sdp } => {
            let unavailable = |reason: &str| (ErrorCode::PhoneUnavailable, reason.to_owned(), None);
            let answer = match shared.phones.get() {
                None => Err(unavailable(
                    "this engine has no WebRTC port: use a SIP phone",
                )),
                Some(phones) => match phones.connect(user, sdp).await {
                    Ok(Ok(sdp)) => Ok(sdp),
                    Ok(Err(reason)) => Err((ErrorCode::BadField, reason, Some("sdp".to_owned()))),
                    Err(_) => Err(unavailable("the WebRTC gateway has stopped")),
                },
            };
            match answer {
                Ok(sdp) => registry.reply(user, conn, ServerMsg::PhoneAnswer { re: id, sdp }),
                Err((code, reason, field)) => {
                    reply_field_error(cti, user, conn, Some(id), code, reason, field)
                }
            }
        }
        ClientCmd::Answer { call_id } => {
            let answered = match shared.phones.get() {
                None => Err("this engine has no WebRTC port".to_owned()),
                Some(_) if registry.current_call(user).as_deref() != Some(call_id.as_str()) => {
                    Err(format!("{call_id} is not ringing for you"))
                }
                Some(phones) => phones.answer(user),
            };
            match answered {
                Ok(()) => {
                    tracing::info!(navigator = user, %call_id, "answered on the browser phone");
                    ack(id)
                }
                Err(reason) => reply_error(cti, user, conn, Some(id), ErrorCode::BadState, reason),
            }
        }
        ClientCmd::PhoneOff {} => {
            cti.end_phone(user);
            ack(id)
        }
        ClientCmd::Resume { last_seq } => match registry.resume(user, conn, last_seq) {
            Ok(()) => ack(id),
            Err(reason) => reply_error(cti, user, conn, Some(id), ErrorCode::ResumeGap, reason),
        },
        ClientCmd::SetState { state, reason } => {
            if registry.done_before(user, &id) {
                return ack(id);
            }
            // The ACD decides: its answer brings `state_changed`, then the `ack`.
            if let Err((code, reason)) =
                registry.request_state(user, conn, id.clone(), state, reason)
            {
                reply_error(cti, user, conn, Some(id), code, reason);
            }
        }
        ClientCmd::Hangup { call_id } => {
            let cmd = NavigatorCommand::Hangup {
                navigator: user.into(),
                call_id: call_id.clone(),
            };
            to_controller(cti, user, conn, id, call_id, cmd, "hangup").await;
        }
        ClientCmd::Transfer {
            call_id,
            target,
            mode,
        } => {
            let consult = mode == TransferMode::Consult;
            if consult && !matches!(target, TransferTarget::Sip { .. }) {
                let reason = "a consult transfer needs a sip target".into();
                return reply_error(cti, user, conn, Some(id), ErrorCode::BadField, reason);
            }
            // Toll fraud: a navigator sends calls only to the crisis line,
            // the centres' own phones and the configured destinations.
            if let TransferTarget::Sip { uri } = &target
                && !shared.desk().destinations.iter().any(|d| d.uri == *uri)
            {
                let _ = cti
                    .audit(user, "transfer", &call_id, "denied", uri, "")
                    .await;
                let reason = format!("{uri} is not one of the destinations you may transfer to");
                return reply_field_error(
                    cti,
                    user,
                    conn,
                    Some(id),
                    ErrorCode::BadField,
                    reason,
                    Some("target".into()),
                );
            }
            let cmd = NavigatorCommand::Transfer {
                navigator: user.into(),
                call_id: call_id.clone(),
                target,
                consult,
            };
            to_controller(cti, user, conn, id, call_id, cmd, "transfer").await;
        }
        ClientCmd::Hold { call_id, on } => {
            let cmd = NavigatorCommand::Hold {
                navigator: user.into(),
                call_id: call_id.clone(),
                on,
            };
            to_controller(
                cti,
                user,
                conn,
                id,
                call_id,
                cmd,
                if on { "hold" } else { "resume" },
            )
            .await;
        }
        ClientCmd::CompleteTransfer { call_id } => {
            let cmd = NavigatorCommand::CompleteTransfer {
                navigator: user.into(),
                call_id: call_id.clone(),
            };
            to_controller(cti, user, conn, id, call_id, cmd, "complete_transfer").await;
        }
        ClientCmd::CancelTransfer { call_id } => {
            let cmd = NavigatorCommand::CancelTransfer {
                navigator: user.into(),
                call_id: call_id.clone(),
            };
            to_controller(cti, user, conn, id, call_id, cmd, "cancel_transfer").await;
        }
        ClientCmd::LogCall(log) => {
            let Some(call) = own_call(cti, user, conn, &id, &log.call_id).await else {
                return;
            };
            match shared
                .store
                .save_call_log(user, &id, &log, call.crisis, crate::now_ms())
                .await
            {
                Ok((log_id, duplicate)) => {
                    if !duplicate {
                        let action = if log.corrects.is_some() {
                            "call.log.correct"
                        } else {
                            "call.log"
                        };
                        let detail = format!("log {log_id}");
                        // The log is committed whatever happens to its audit
                        // row; a failed audit write is counted and logged.
                        let _ = cti
                            .audit(user, action, &log.call_id, "ok", &detail, "")
                            .await;
                    }
                    registry.reply(
                        user,
                        conn,
                        ServerMsg::LogSaved {
                            re: id,
                            call_id: log.call_id,
                            log_id,
                            duplicate,
                        },
                    )
                }
                Err(e) => store_error(cti, user, conn, id, e),
            }
        }
        ClientCmd::SaveDraft { call_id, draft } => {
            if own_call(cti, user, conn, &id, &call_id).await.is_none() {
                return;
            }
            match shared
                .store
                .save_draft(user, &call_id, &draft, crate::now_ms())
                .await
            {
                Ok(()) => ack(id),
                Err(e) => store_error(cti, user, conn, id, e),
            }
        }
        ClientCmd::RevealCaller { call_id } => {
            let Some(call) = own_call(cti, user, conn, &id, &call_id).await else {
                return;
            };
            // No number is shown without its audit row.
            if !audited_first(cti, user, conn, &id, "caller.reveal", &call_id).await {
                return;
            }
            registry.reply(
                user,
                conn,
                ServerMsg::CallerRevealed {
                    re: id,
                    call_id,
                    caller: call.caller,
                },
            );
        }
        ClientCmd::CorrectRegion { call_id, region } => {
            if own_call(cti, user, conn, &id, &call_id).await.is_none() {
                return;
            }
            let desk = shared.desk();
            if !desk.regions.is_empty() && !desk.regions.iter().any(|r| r.id == region) {
                let known: Vec<&str> = desk.regions.iter().map(|r| r.id.as_str()).collect();
                let reason = format!("unknown region {region:?}; one of {}", known.join(", "));
                return reply_field_error(
                    cti,
                    user,
                    conn,
                    Some(id),
                    ErrorCode::BadField,
                    reason,
                    Some("region".into()),
                );
            }
            let at_ms = crate::now_ms();
            if let Err(e) = shared.store.correct_region(&call_id, &region, at_ms).await {
                return store_error(cti, user, conn, id, e);
            }
            registry.correct_region(&call_id, &region);
            let _ = cti
                .audit(user, "call.region", &call_id, "ok", &region, "")
                .await;
            ack(id);
        }
        ClientCmd::FollowUpCall { log_id } => follow_up_call(cti, user, conn, id, log_id).await,
        ClientCmd::History { call_id } => {
            let Some(call) = own_call(cti, user, conn, &id, &call_id).await else {
                return;
            };
            if !audited_first(cti, user, conn, &id, "history.read", &call_id).await {
                return;
            }
            match shared
                .store
                .previous_contacts(&call.caller, Some(&call_id), 200)
                .await
            {
                Ok(contacts) => registry.reply(
                    user,
                    conn,
                    ServerMsg::History {
                        re: id,
                        call_id,
                        contacts,
                    },
                ),
                Err(e) => store_error(cti, user, conn, id, e),
            }
        }
    }
}

/// Writes the audit row of a read before it is answered; when that fails
/// (counted and logged by `audit`) the command gets an `internal` error
/// and `false` comes back.
async fn audited_first(
    cti: &Cti,
    user: &str,
    conn: u64,
    id: &str,
    action: &str,
    call_id: &str,
) -> bool {
    if let Err(e) = cti.audit(user, action, call_id, "ok", "", "").await {
        tracing::error!(error = ?e, user, action, "not served: the audit row was not written");
        let reason = "the server could not do that; try again".into();
        reply_error(
            cti,
            user,
            conn,
            Some(id.into()),
            ErrorCode::Internal,
            reason,
        );
        return false;
    }
    true
}

/// `follow_up_call`: checked here (theirs or their centre's, a number to
/// call, no call on their hands), decided by the queues.
async fn follow_up_call(cti: &Cti, user: &str, conn: u64, id: String, log_id: i64) {
    let shared = &cti.shared;
    let registry = &shared.registry;
    if registry.done_before(user, &id) {
        return registry.reply(user, conn, ServerMsg::Ack { re: id });
    }
    let owner = match shared.store.follow_up_owner(log_id).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            let reason = format!("no follow-up on log {log_id}");
            return reply_error(cti, user, conn, Some(id), ErrorCode::UnknownCall, reason);
        }
        Err(e) => return internal(cti, user, conn, id, e),
    };
    let (call_id, navigator, centre) = owner;
    let Some(view) = registry.view(user) else {
        let reason = "no CTI session".into();
        return reply_error(cti, user, conn, Some(id), ErrorCode::BadState, reason);
    };
    if navigator != user && centre.as_deref() != Some(view.account.centre.as_str()) {
        let reason = format!("the follow-up on log {log_id} is not yours or your centre's");
        return reply_error(cti, user, conn, Some(id), ErrorCode::NotYourCall, reason);
    }
    if registry.current_call(user).is_some()
        || !matches!(view.state.state, AgentState::Ready | AgentState::NotReady)
    {
        let reason = "finish the call on your hands first".into();
        return reply_error(cti, user, conn, Some(id), ErrorCode::BadState, reason);
    }
    let record = match shared.store.call(&call_id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let reason = format!("no call {call_id:?}");
            return reply_error(cti, user, conn, Some(id), ErrorCode::UnknownCall, reason);
        }
        Err(e) => return internal(cti, user, conn, id, e),
    };
    let Some(number) = record.caller.number().map(str::to_string) else {
        let reason = "the caller's number was withheld: there is no number to call".into();
        return reply_error(cti, user, conn, Some(id), ErrorCode::BadState, reason);
    };
    let cmd = NavigatorCommand::FollowUpCall {
        navigator: user.into(),
        log_id,
        number,
        language: record.language.unwrap_or_else(|| "en".into()),
        centre: centre.unwrap_or_else(|| view.account.centre.clone()),
    };
    if !pass_on(cti, user, conn, &id, cmd) {
        return;
    }
    let _ = cti
        .audit(
            user,
            "follow_up.call",
            &call_id,
            "ok",
            &format!("log {log_id}"),
            "",
        )
        .await;
    registry.reply(user, conn, ServerMsg::Ack { re: id });
}

/// The call record of `call_id` when it was offered to `user`; otherwise
/// the command is answered with an error and `None` comes back.
async fn own_call(
    cti: &Cti,
    user: &str,
    conn: u64,
    id: &str,
    call_id: &str,
) -> Option<crate::store::CallRecord> {
    if cti.shared.registry.current_call(user).as_deref() == Some(call_id) {
        // The pop goes out before the offer is on disk: let the call's
        // events so far reach the store first.
        cti.events.flush().await;
    }
    match cti.shared.store.call(call_id).await {
        Ok(Some(c)) if c.navigator.as_deref() == Some(user) => Some(c),
        Ok(Some(_)) => {
            let reason = format!("call {call_id:?} was not offered to you");
            reply_error(
                cti,
                user,
                conn,
                Some(id.into()),
                ErrorCode::NotYourCall,
                reason,
            );
            None
        }
        Ok(None) => {
            let reason = format!("no call {call_id:?}");
            reply_error(
                cti,
                user,
                conn,
                Some(id.into()),
                ErrorCode::UnknownCall,
                reason,
            );
            None
        }
        Err(e) => {
            internal(cti, user, conn, id.into(), e);
            None
        }
    }
}

/// Answers a command the store refused: a person's mistake with what and
/// where, anything else as an internal error.
fn store_error(cti: &Cti, user: &str, conn: u64, id: String, e: Error) {
    match e {
        Error::UnknownTaxonomyCode(code) => {
            let reason = format!("unknown taxonomy code {code:?}");
            reply_error(
                cti,
                user,
                conn,
                Some(id),
                ErrorCode::UnknownTaxonomyCode,
                reason,
            )
        }
        Error::Field { field, reason } => reply_field_error(
            cti,
            user,
            conn,
            Some(id),
            ErrorCode::BadField,
            reason,
            Some(field),
        ),
        Error::Invalid(reason) => {
            reply_error(cti, user, conn, Some(id), ErrorCode::BadField, reason)
        }
        e => internal(cti, user, conn, id, e),
    }
}

fn internal(cti: &Cti, user: &str, conn: u64, id: String, e: Error) {
    cti.shared.status.count_store_error();
    tracing::error!(error = %e, user, "CTI command failed");
    reply_error(
        cti,
        user,
        conn,
        Some(id),
        ErrorCode::Internal,
        "the server could not do that; try again".into(),
    );
}

/// Hands a navigator's command to the queues and remembers its `id` (a
/// repeat is answered without doing it again); when the queues are not
/// taking commands the command gets `controller_unavailable` and `false`
/// comes back.
fn pass_on(cti: &Cti, user: &str, conn: u64, id: &str, cmd: NavigatorCommand) -> bool {
    let registry = &cti.shared.registry;
    if registry.commands().try_send(cmd).is_err() {
        let reason = "the call controller is not taking commands now; try again".into();
        reply_error(
            cti,
            user,
            conn,
            Some(id.into()),
            ErrorCode::ControllerUnavailable,
            reason,
        );
        return false;
    }
    registry.remember_done(user, id);
    true
}

async fn to_controller(
    cti: &Cti,
    user: &str,
    conn: u64,
    id: String,
    call_id: String,
    cmd: NavigatorCommand,
    kind: &str,
) {
    let registry = &cti.shared.registry;
    if registry.done_before(user, &id) {
        return registry.reply(user, conn, ServerMsg::Ack { re: id });
    }
    if registry.current_call(user).as_deref() != Some(call_id.as_str()) {
        let reason = format!("call {call_id:?} is not yours now");
        return reply_error(cti, user, conn, Some(id), ErrorCode::NotYourCall, reason);
    }
    let detail = match &cmd {
        NavigatorCommand::Transfer {
            target, consult, ..
        } => format!(
            "{user} -> {}{}",
            serde_json::to_string(target).unwrap_or_default(),
            if *consult { " consult" } else { "" }
        ),
        _ => user.to_string(),
    };
    if !pass_on(cti, user, conn, &id, cmd) {
        return;
    }
    if let Err(e) = cti
        .shared
        .store
        .call_note(&call_id, crate::now_ms(), kind, &detail)
        .await
    {
        cti.shared.status.count_store_error();
        tracing::error!(error = %e, "navigator command not recorded");
    }
    registry.reply(user, conn, ServerMsg::Ack { re: id });
}
