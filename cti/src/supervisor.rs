//! The supervisors' wallboard: what an account may see of the queues' view,
//! the alerts it raises ([`board`], no I/O, no clock), and the websocket
//! that pushes it (`GET /cti/supervisor`, documented in
//! docs/cti-protocol.md "The wallboard's websocket").
//!
//! The queues publish their view at most four times a second and at least
//! once a second; each wallboard connection is told of every view, works
//! out its board and sends it. Alerts on time (a crisis caller waiting, a
//! long wrap-up) are checked again every second, so one begins on time
//! even when the queues have nothing new to say.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use crate::http::{AppError, Auth};
use crate::protocol::{
    AccountInfo, AgentState, Alert, AlertKind, Board, BoardFrame, BoardMsg, ErrorCode,
    PROTOCOL_VERSION, QueuesView, Role, WaitingState,
};
use crate::{AlertLimits, Cti};

/// The crisis queue's name in the view.
const CRISIS: &str = "crisis";

/// The board `account` may see of `view` at `now_ms`: a supervisor sees
/// their centre's queue, navigators and failed callbacks and the crisis
/// queue (every centre's supervisors watch it); operations staff see
/// everything. The alerts are those of what is seen, most urgent first.
pub fn board(view: &QueuesView, account: &AccountInfo, now_ms: i64, limits: &AlertLimits) -> Board {
    let mut view = view.clone();
    if account.role != Role::Ops {
        let own = format!("centre:{}", account.centre);
        let seen = |queue: &str| queue == own || queue == CRISIS;
        view.queues.retain(|l| seen(&l.queue));
        view.today.retain(|d| seen(&d.queue));
        view.navigators.retain(|n| n.centre == account.centre);
        view.supervisor_list.retain(|e| e.queue == own);
    }
    let alerts = alerts(&view, now_ms, limits);
    Board { view, alerts }
}

/// What needs a supervisor in `view` at `now_ms`, most urgent first.
fn alerts(view: &QueuesView, now_ms: i64, limits: &AlertLimits) -> Vec<Alert> {
    // The view's waits were counted at `at_ms`; the time since is added.
    let aged_s = u64::try_from(now_ms.saturating_sub(view.at_ms) / 1000).unwrap_or(0);
    let mut alerts = Vec::new();
    for line in view.queues.iter().filter(|l| l.queue == CRISIS) {
        for call in &line.waiting {
            let waited = call.waited_s + aged_s;
            if call.callback
                || call.state == WaitingState::Dialling
                || waited <= line.target_within_s
            {
                continue;
            }
            alerts.push(Alert {
                id: format!("crisis_waiting:{}", call.call_id),
                kind: AlertKind::CrisisWaiting,
                queue: Some(line.queue.clone()),
                language: Some(call.language.clone()),
                navigator: None,
                call_id: Some(call.call_id.clone()),
                since_ms: Some(view.at_ms - i64::try_from(call.waited_s * 1000).unwrap_or(0)),
                value: waited as f64,
                limit: line.target_within_s as f64,
            });
        }
    }
    for failed in &view.supervisor_list {
        alerts.push(Alert {
            id: format!("callback_failed:{}", failed.call_id),
            kind: AlertKind::CallbackFailed,
            queue: Some(failed.queue.clone()),
            language: Some(failed.language.clone()),
            navigator: None,
            call_id: Some(failed.call_id.clone()),
            since_ms: None,
            value: f64::from(failed.attempts),
            limit: 0.0,
        });
    }
    for day in &view.today {
        let Some(level) = day.service_level_percent else {
            continue;
        };
        if level < day.target_percent {
            alerts.push(Alert {
                id: format!("service_level:{}:{}", day.queue, day.language),
                kind: AlertKind::ServiceLevel,
                queue: Some(day.queue.clone()),
                language: Some(day.language.clone()),
                navigator: None,
                call_id: None,
                since_ms: None,
                value: level,
                limit: day.target_percent,
            });
        }
    }
    for nav in &view.navigators {
        let (kind, limit, name) = match nav.state {
            AgentState::WrapUp => (AlertKind::LongWrapUp, limits.wrap_up, "long_wrap_up"),
            AgentState::NotReady => (AlertKind::LongNotReady, limits.not_ready, "long_not_ready"),
            _ => continue,
        };
        let Some(since) = nav.since_ms else {
            continue;
        };
        let seconds = u64::try_from(now_ms.saturating_sub(since) / 1000).unwrap_or(0);
        if seconds <= limit.as_secs() {
            continue;
        }
        alerts.push(Alert {
            id: format!("{name}:{}", nav.username),
            kind,
            queue: None,
            language: None,
            navigator: Some(nav.username.clone()),
            call_id: None,
            since_ms: Some(since),
            value: seconds as f64,
            limit: limit.as_secs() as f64,
        });
    }
    alerts.sort_by(|a, b| a.kind.cmp(&b.kind).then(b.value.total_cmp(&a.value)));
    alerts
}

/// Frames above this close the connection: the wallboard takes no commands.
const LIMIT: usize = 64 * 1024;

/// How often alerts on time are checked between views.
const ALERT_CHECK: Duration = Duration::from_secs(1);

/// `GET /cti/supervisor`: the wallboard's websocket, for supervisors and
/// operations staff (audited, as `GET /api/queues` is).
pub(crate) async fn upgrade(
    State(cti): State<Cti>,
    auth: Auth,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    crate::ws::same_origin(&cti, &auth, &headers).await?;
    auth.require(&cti, auth.account.role != Role::Navigator, "wallboard")
        .await?;
    cti.audit(
        &auth.account.username,
        &auth.action,
        "wallboard",
        "ok",
        "",
        &auth.peer,
    )
    .await?;
    let (account, token_hash) = (auth.account, auth.token_hash);
    Ok(ws
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT)
        .on_upgrade(move |socket| session(cti, account, token_hash, socket)))
}

/// One wallboard connection.
struct Connection {
    socket: WebSocket,
    seq: u64,
}

impl Connection {
    async fn send(&mut self, msg: BoardMsg) -> bool {
        self.seq += 1;
        let frame = BoardFrame { seq: self.seq, msg };
        let Ok(text) = serde_json::to_string(&frame) else {
            return false;
        };
        self.socket.send(Message::Text(text.into())).await.is_ok()
    }
}

async fn session(cti: Cti, account: AccountInfo, token_hash: String, socket: WebSocket) {
    let shared = &cti.shared;
    let config = &shared.config;
    let mut views = shared.watch_queues();
    let mut conn = Connection { socket, seq: 0 };
    let hello = BoardMsg::Hello {
        protocol_version: PROTOCOL_VERSION,
        account: account.clone(),
        heartbeat_s: config.heartbeat.as_secs().max(1),
        not_ready_reasons: config.not_ready_reasons.clone(),
        alert_wrap_up_s: config.alerts.wrap_up.as_secs(),
        alert_not_ready_s: config.alerts.not_ready.as_secs(),
    };
    if !conn.send(hello).await {
        return;
    }
    shared.status.ws_client_delta(1);
    // The view there is now is sent at once.
    views.mark_changed();
    let mut alerts_sent: Option<Vec<String>> = None;
    let mut heartbeat = tokio::time::interval(config.heartbeat.max(Duration::from_millis(100)));
    heartbeat.tick().await;
    let mut check = tokio::time::interval(config.session_check.max(Duration::from_millis(50)));
    check.tick().await;
    let mut alert_check = tokio::time::interval(ALERT_CHECK);
    alert_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // `Some(true)`: send the board whatever it holds; `Some(false)`:
        // only if its alerts changed.
        let send = tokio::select! {
            changed = views.changed() => {
                if changed.is_err() {
                    break;
                }
                Some(true)
            }
            _ = alert_check.tick() => Some(false),
            _ = heartbeat.tick() => {
                if !conn.send(BoardMsg::Heartbeat { at_ms: crate::now_ms() }).await {
                    break;
                }
                None
            }
            _ = check.tick() => {
                if let Some(why) = crate::ws::login_ended(&cti, &account.username, &token_hash).await {
                    tracing::info!(user = account.username, why, "closing a wallboard: its login ended");
                    let frame = axum::extract::ws::CloseFrame {
                        code: crate::ws::CLOSE_LOGIN_ENDED,
                        reason: why.into(),
                    };
                    let _ = conn.socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                None
            }
            incoming = conn.socket.recv() => match incoming {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    let refused = BoardMsg::Error {
                        code: ErrorCode::UnknownType,
                        reason: "the wallboard takes no commands; act through the HTTP API".into(),
                    };
                    if !conn.send(refused).await {
                        break;
                    }
                    None
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        };
        let Some(whole) = send else {
            continue;
        };
        let Some(view) = views.borrow_and_update().clone() else {
            continue;
        };
        let board = board(&view, &account, crate::now_ms(), &config.alerts);
        let ids: Vec<String> = board.alerts.iter().map(|a| a.id.clone()).collect();
        if !whole && alerts_sent.as_ref() == Some(&ids) {
            continue;
        }
        alerts_sent = Some(ids);
        if !conn.send(BoardMsg::Board(board)).await {
            break;
        }
    }
    shared.status.ws_client_delta(-1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FailedCallback, QueueDay, QueueLine, QueueNavigator, WaitingCall};

    fn account(role: Role, centre: &str) -> AccountInfo {
        AccountInfo {
            username: "sup1".into(),
            role,
            centre: centre.into(),
            languages: vec!["en".into()],
            crisis_trained: false,
        }
    }

    fn call(id: &str, waited_s: u64, state: WaitingState, callback: bool) -> WaitingCall {
        WaitingCall {
            call_id: id.into(),
            caller: Some("+16135550123".into()),
            language: "en".into(),
            priority: "normal".into(),
            crisis: true,
            callback,
            state,
            waited_s,
        }
    }

    fn line(queue: &str, within: u64, waiting: Vec<WaitingCall>) -> QueueLine {
        QueueLine {
            queue: queue.into(),
            waiting,
            target_percent: 90.0,
            target_within_s: within,
        }
    }

    fn navigator(
        name: &str,
        centre: &str,
        state: AgentState,
        since_ms: Option<i64>,
    ) -> QueueNavigator {
        QueueNavigator {
            username: name.into(),
            centre: centre.into(),
            languages: vec!["en".into()],
            crisis_trained: false,
            state,
            reason: None,
            since_ms,
            call_id: None,
            monitor: None,
        }
    }

    fn day(queue: &str, level: Option<f64>, target: f64) -> QueueDay {
        QueueDay {
            queue: queue.into(),
            language: "en".into(),
            offered: 3,
            answered: 2,
            answered_in_target: 1,
            abandoned: 1,
            short_abandoned: 0,
            routed_external: 0,
            callbacks_requested: 0,
            callbacks_answered: 0,
            callbacks_failed: 0,
            transferred_out: 0,
            handled: 2,
            service_level_percent: level,
            target_percent: target,
            target_within_s: 60,
            average_speed_of_answer_s: None,
            average_handle_s: None,
        }
    }

    const AT: i64 = 1_800_000_000_000;

    fn view() -> QueuesView {
        QueuesView {
            at_ms: AT,
            expected_handle_s: 300,
            queues: vec![
                line("centre:ottawa", 60, vec![]),
                line("centre:toronto", 60, vec![]),
                line(
                    CRISIS,
                    20,
                    vec![
                        call("late", 25, WaitingState::Waiting, false),
                        call("ringing-late", 21, WaitingState::Offered, false),
                        call("on-time", 19, WaitingState::Waiting, false),
                        call("a-callback", 90, WaitingState::Waiting, true),
                        call("dialling", 90, WaitingState::Dialling, false),
                    ],
                ),
            ],
            today: vec![
                day("centre:ottawa", Some(50.0), 80.0),
                day("centre:toronto", Some(10.0), 80.0),
                day(CRISIS, Some(100.0), 90.0),
                day("centre:ottawa", None, 80.0),
            ],
            short_abandon_s: 10,
            navigators: vec![
                navigator("wrapping", "ottawa", AgentState::WrapUp, Some(AT - 301_000)),
                navigator("wrapped", "ottawa", AgentState::WrapUp, Some(AT - 299_000)),
                navigator("away", "ottawa", AgentState::NotReady, Some(AT - 1_201_000)),
                navigator("unknown", "ottawa", AgentState::NotReady, None),
                navigator("t1", "toronto", AgentState::NotReady, Some(AT - 9_999_000)),
            ],
            supervisor_list: vec![
                FailedCallback {
                    call_id: "cb-ottawa".into(),
                    caller: None,
                    queue: "centre:ottawa".into(),
                    language: "fr".into(),
                    attempts: 3,
                },
                FailedCallback {
                    call_id: "cb-toronto".into(),
                    caller: None,
                    queue: "centre:toronto".into(),
                    language: "en".into(),
                    attempts: 3,
                },
            ],
        }
    }

    fn ids(board: &Board) -> Vec<&str> {
        board.alerts.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn a_supervisor_sees_their_centre_and_the_crisis_queue_and_the_alerts_of_those() {
        let board = board(
            &view(),
            &account(Role::Supervisor, "ottawa"),
            AT,
            &AlertLimits::default(),
        );
        let queues: Vec<&str> = board.view.queues.iter().map(|l| l.queue.as_str()).collect();
        assert_eq!(queues, ["centre:ottawa", CRISIS]);
        assert!(board.view.navigators.iter().all(|n| n.centre == "ottawa"));
        assert_eq!(board.view.supervisor_list.len(), 1);
        assert!(board.view.today.iter().all(|d| d.queue != "centre:toronto"));
        assert_eq!(
            ids(&board),
            [
                "crisis_waiting:late",
                "crisis_waiting:ringing-late",
                "callback_failed:cb-ottawa",
                "service_level:centre:ottawa:en",
                "long_wrap_up:wrapping",
                "long_not_ready:away",
            ]
        );
        let late = &board.alerts[0];
        assert_eq!((late.value, late.limit), (25.0, 20.0));
        assert_eq!(late.since_ms, Some(AT - 25_000));
        let level = &board.alerts[3];
        assert_eq!((level.value, level.limit), (50.0, 80.0));
        let wrap = &board.alerts[4];
        assert_eq!((wrap.value, wrap.limit), (301.0, 300.0));
    }

    #[test]
    fn operations_staff_see_every_centre() {
        let board = board(
            &view(),
            &account(Role::Ops, "ops"),
            AT,
            &AlertLimits::default(),
        );
        assert_eq!(board.view.queues.len(), 3);
        assert_eq!(board.view.navigators.len(), 5);
        assert!(ids(&board).contains(&"callback_failed:cb-toronto"));
        assert!(ids(&board).contains(&"long_not_ready:t1"));
        assert!(ids(&board).contains(&"service_level:centre:toronto:en"));
    }

    #[test]
    fn a_crisis_call_crosses_its_target_as_time_passes_without_a_new_view() {
        let supervisor = account(Role::Supervisor, "ottawa");
        let limits = AlertLimits::default();
        let now = board(&view(), &supervisor, AT, &limits);
        assert!(!ids(&now).contains(&"crisis_waiting:on-time"));
        // 19 s at the view, 2 s later: 21 s, past the 20 s target.
        let later = board(&view(), &supervisor, AT + 2_000, &limits);
        assert!(ids(&later).contains(&"crisis_waiting:on-time"));
        let alert = later
            .alerts
            .iter()
            .find(|a| a.id == "crisis_waiting:on-time");
        assert_eq!(alert.map(|a| a.value), Some(21.0));
        // The wrap-up one minute under its limit has not crossed it yet; a
        // second more has.
        assert!(!ids(&now).contains(&"long_wrap_up:wrapped"));
        let past = board(&view(), &supervisor, AT + 1_001, &limits);
        assert!(!ids(&past).contains(&"long_wrap_up:wrapped"));
        let past = board(&view(), &supervisor, AT + 2_000, &limits);
        assert!(ids(&past).contains(&"long_wrap_up:wrapped"));
    }

    #[test]
    fn a_board_frame_is_the_view_with_its_alerts_beside_it() {
        let board = board(
            &view(),
            &account(Role::Supervisor, "ottawa"),
            AT,
            &AlertLimits::default(),
        );
        let frame = BoardFrame {
            seq: 2,
            msg: BoardMsg::Board(board.clone()),
        };
        let json = serde_json::to_value(&frame).unwrap();
        assert_eq!(json["type"], "board");
        assert_eq!(json["seq"], 2);
        assert_eq!(json["queues"][1]["queue"], CRISIS);
        assert_eq!(json["queues"][1]["target_within_s"], 20);
        assert_eq!(json["alerts"][0]["kind"], "crisis_waiting");
        let back: BoardFrame = serde_json::from_value(json).unwrap();
        assert_eq!(back.msg, BoardMsg::Board(board));
    }
}
