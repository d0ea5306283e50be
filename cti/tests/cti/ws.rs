//! The CTI websocket, driven by a real client (tokio-tungstenite) and call
//! events injected through the call controller's handle.

use frontdoor_cti::protocol::{Caller, Disposition, RegionSource, Role};
use frontdoor_cti::{CallAttribute, CallEvent, NavigatorCommand, Route, StateRequest};
use serde_json::json;

use crate::server::{config, start};

/// A call from `number` arrives at `at_ms` and is offered to `navigator`
/// a millisecond later.
async fn arrives_for(
    ev: &frontdoor_cti::CallEvents,
    call_id: &str,
    number: &str,
    navigator: &str,
    callback: bool,
    at_ms: i64,
) {
    ev.send(CallEvent::Arrived {
        call_id: call_id.into(),
        caller: Caller::Number(number.into()),
        dialled: "211".into(),
        at_ms,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Offered {
        call_id: call_id.into(),
        navigator: navigator.into(),
        callback,
        at_ms: at_ms + 1,
    })
    .await
    .unwrap();
}

/// A caller's first call, logged, so the second call's pop carries history.
async fn earlier_call(s: &crate::server::TestServer) {
    let ev = s.cti.events();
    arrives_for(&ev, "old-1", "+16135550123", "nav9", false, 1_000).await;
    ev.send(CallEvent::Ended {
        call_id: "old-1".into(),
        disposition: Disposition::Answered,
        at_ms: 3_000,
    })
    .await
    .unwrap();
    ev.flush().await;
    let log = frontdoor_cti::protocol::CallLog {
        call_id: "old-1".into(),
        needs: vec![frontdoor_cti::protocol::Need {
            code: "BD-1800".into(),
            met: false,
            unmet_reason: Some(frontdoor_cti::protocol::UnmetReason::Hours),
        }],
        follow_up: Some(frontdoor_cti::protocol::FollowUp {
            due: "2026-12-02".into(),
            reason: "food bank hours".into(),
            consent: true,
            method: Some(frontdoor_cti::protocol::FollowUpMethod::Phone),
        }),
        ..Default::default()
    };
    s.cti
        .store()
        .save_call_log("nav9", "l-1", &log, false, 4_000)
        .await
        .unwrap();
}

crate::on_both_backends!(navigator_story_pop_log_reconnect_resume, story);
async fn story(url: &str) {
    let mut s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav9", Role::Navigator, "ottawa").await;
    earlier_call(&s).await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;

    let hello = ws.expect("hello").await;
    assert_eq!(
        hello["protocol_version"],
        frontdoor_cti::protocol::PROTOCOL_VERSION
    );
    assert_eq!(hello["protocol_version"], 11);
    assert_eq!(hello["account"]["username"], "nav1");
    assert_eq!(hello["state"]["state"], "not_ready");
    assert_eq!(hello["state"]["reason"], "login");
    assert_eq!(hello["heartbeat_s"], 20);

    ws.send(json!({"type": "set_state", "id": "s1", "state": "ready"}))
        .await;
    assert_eq!(ws.expect("state_changed").await["state"], "ready");
    assert_eq!(ws.expect("ack").await["re"], "s1");
    assert_eq!(
        s.cti.navigator("nav1").unwrap().state.state,
        frontdoor_cti::protocol::AgentState::Ready
    );
    // The request went to the queues: the ACD decided the `ready` shown.
    let mut saw_ready = false;
    while let Some(cmd) = s.command().await {
        if let NavigatorCommand::StateRequest {
            navigator, request, ..
        } = cmd
        {
            saw_ready |= navigator == "nav1" && request == StateRequest::Ready;
        }
    }
    assert!(saw_ready);

    // The call controller's events make a screen pop.
    let ev = s.cti.events();
    let t = 1_800_000_000_000i64;
    let id = "call-42".to_string();
    for e in [
        CallEvent::Arrived {
            call_id: id.clone(),
            caller: Caller::Number("+16135550123".into()),
            dialled: "211".into(),
            at_ms: t,
        },
        CallEvent::IvrAnswered {
            call_id: id.clone(),
            at_ms: t + 100,
        },
        CallEvent::Step {
            call_id: id.clone(),
            step: "greeting".into(),
            at_ms: t + 200,
        },
        CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Language("fr".into()),
            at_ms: t + 300,
        },
        CallEvent::Step {
            call_id: id.clone(),
            step: "language:fr".into(),
            at_ms: t + 310,
        },
        CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Region {
                region: "ottawa".into(),
                source: RegionSource::Exchange,
            },
            at_ms: t + 400,
        },
        CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Topic("food".into()),
            at_ms: t + 500,
        },
        CallEvent::Step {
            call_id: id.clone(),
            step: "topic:food".into(),
            at_ms: t + 510,
        },
        CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Crisis(false),
            at_ms: t + 520,
        },
        CallEvent::Routed {
            call_id: id.clone(),
            route: Route::Queue {
                centre: "ottawa".into(),
            },
            at_ms: t + 1_000,
        },
        CallEvent::Offered {
            call_id: id.clone(),
            navigator: "nav1".into(),
            callback: false,
            at_ms: t + 43_000,
        },
    ] {
        ev.send(e).await.unwrap();
    }
    s.acd.reserved("nav1").await;
    let pop = ws.expect("call_offered").await;
    let mut expected = json!({
        "type": "call_offered",
        "call_id": "call-42",
        "caller": "+16135550123",
        "region": "ottawa",
        "region_source": "exchange",
        "centre": "ottawa",
        "language": "fr",
        "crisis": false,
        "topic": "food",
        "ivr_path": ["greeting", "language:fr", "topic:food"],
        "waited_s": 42,
        "previous_contacts": [{
            "call_id": "old-1", "at_ms": 1000, "centre": null, "topic": null, "crisis": false,
            "navigator": "nav9", "disposition": "answered",
            "needs": [{"code": "BD-1800", "met": false, "unmet_reason": "hours"}],
            "follow_up": {"due": "2026-12-02", "reason": "food bank hours", "consent": true, "method": "phone"},
            "referrals": []
        }],
        "emergency_mode": false,
        "callback": false,
    });
    expected["seq"] = pop["seq"].clone();
    assert_eq!(pop, expected);
    assert_eq!(ws.expect("state_changed").await["state"], "reserved");
    ev.send(CallEvent::Answered {
        call_id: id.clone(),
        at_ms: t + 45_000,
    })
    .await
    .unwrap();
    s.acd.busy("nav1").await;
    assert_eq!(ws.expect("call_answered").await["call_id"], "call-42");
    assert_eq!(ws.expect("state_changed").await["state"], "busy");

    // Asking for not_ready during the call queues it.
    ws.send(json!({"type": "set_state", "id": "s2", "state": "not_ready", "reason": "break"}))
        .await;
    let queued = ws.expect("state_changed").await;
    assert_eq!(
        (queued["state"].as_str(), queued["next_state"].as_str()),
        (Some("busy"), Some("not_ready"))
    );
    ws.expect("ack").await;

    // The log is acknowledged only once committed, and stored once.
    let log = json!({
        "type": "log_call", "id": "log-1", "call_id": "call-42",
        "needs": [{"code": "BD-1800", "met": true}, {"code": "BH", "met": false, "unmet_reason": "waitlist"}],
        "referrals": [{"name": "Ottawa Food Bank", "code": "BD-1800", "phone": "+16135550100"}],
        "age_band": "35-44",
        "notes": "first contact about food",
        "follow_up": {"due": "2026-12-05", "reason": "check the food bank visit", "consent": true, "method": "phone"}
    });
    ws.send(log.clone()).await;
    let saved = ws.expect("log_saved").await;
    assert_eq!(
        (saved["re"].as_str(), saved["duplicate"].as_bool()),
        (Some("log-1"), Some(false))
    );
    let logs = s.cti.store().call_logs("call-42").await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].log_id, saved["log_id"].as_i64().unwrap());
    assert_eq!(logs[0].navigator, "nav1");
    assert_eq!(logs[0].log.needs[1].code, "BH");
    assert_eq!(logs[0].log.referrals[0].name, "Ottawa Food Bank");
    assert_eq!(logs[0].log.follow_up.as_ref().unwrap().due, "2026-12-05");

    // A forced reconnect: state and the call in progress come back.
    ws.close().await;
    let mut ws = s.ws(&token).await;
    let hello = ws.expect("hello").await;
    assert_eq!(hello["state"]["state"], "busy");
    assert_eq!(hello["state"]["next_state"], "not_ready");
    assert_eq!(ws.expect("call_offered").await["call_id"], "call-42");
    assert_eq!(ws.expect("call_answered").await["call_id"], "call-42");
    // The repeated log (the client never saw log_saved, say) is stored once.
    ws.send(log.clone()).await;
    let again = ws.expect("log_saved").await;
    assert_eq!(
        (again["log_id"].clone(), again["duplicate"].as_bool()),
        (saved["log_id"].clone(), Some(true))
    );
    assert_eq!(s.cti.store().call_logs("call-42").await.unwrap().len(), 1);
    let seen = ws.last_seq;

    // Hang-up goes to the call controller.
    ws.send(json!({"type": "hangup", "id": "h1", "call_id": "call-42"}))
        .await;
    ws.expect("ack").await;
    let mut hangup = None;
    while let Some(cmd) = s.command().await {
        if let NavigatorCommand::Hangup { navigator, call_id } = cmd {
            hangup = Some((navigator, call_id));
        }
    }
    assert_eq!(hangup, Some(("nav1".to_string(), "call-42".to_string())));
    ws.send(json!({"type": "hangup", "id": "h2", "call_id": "someone-else"}))
        .await;
    assert_eq!(ws.expect("error").await["code"], "not_your_call");
    let seen = seen.max(ws.last_seq);

    // Disconnected while the call ends: resume replays what was missed.
    ws.close().await;
    ev.send(CallEvent::Ended {
        call_id: id.clone(),
        disposition: Disposition::Answered,
        at_ms: t + 300_000,
    })
    .await
    .unwrap();
    s.acd.wrap_up("nav1").await;
    ev.flush().await;
    let mut ws = s.ws(&token).await;
    let hello = ws.expect("hello").await;
    assert_eq!(hello["state"]["state"], "wrap_up");
    ws.send(json!({"type": "resume", "id": "r1", "last_seq": seen}))
        .await;
    let ended = ws.expect("call_ended").await;
    assert_eq!(
        (ended["call_id"].as_str(), ended["disposition"].as_str()),
        (Some("call-42"), Some("answered"))
    );
    assert_eq!(ws.expect("state_changed").await["state"], "wrap_up");
    assert_eq!(ws.expect("ack").await["re"], "r1");
    // The ACD's wrap-up runs out, into the queued state.
    s.acd.wrap_up_ends("nav1").await;
    let after = ws.expect("state_changed").await;
    assert_eq!(
        (after["state"].as_str(), after["reason"].as_str()),
        (Some("not_ready"), Some("break"))
    );

    // A resume from before what is kept, or from another server life, is refused with a reason.
    ws.send(json!({"type": "resume", "id": "r2", "last_seq": 999_999}))
        .await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["re"].as_str()),
        (Some("resume_gap"), Some("r2"))
    );

    let record = s.cti.store().call("call-42").await.unwrap().unwrap();
    assert_eq!(record.disposition, Some(Disposition::Answered));
    assert_eq!(record.navigator.as_deref(), Some("nav1"));
    assert_eq!(record.answered_ms, Some(t + 45_000));
    assert_eq!(s.cti.status().ws_clients(), 1);
}

crate::on_both_backends!(
    bad_input_gets_an_error_and_the_socket_stays_usable,
    bad_input
);
async fn bad_input(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let ev = s.cti.events();
    arrives_for(&ev, "b1", "+16135550000", "nav1", true, 1).await;
    ev.flush().await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    assert_eq!(ws.expect("call_offered").await["callback"], true);
    // The ACD has them on that call.
    s.acd.busy("nav1").await;
    assert_eq!(ws.expect("state_changed").await["state"], "busy");

    let big = format!(
        r#"{{"type":"set_state","id":"x","state":"ready","pad":"{}"}}"#,
        "a".repeat(70 * 1024)
    );
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{this is not json".into(), "bad_json", None),
        ("[1,2,3]".into(), "bad_json", None),
        (r#"{"type":"dance","id":"d1"}"#.into(), "unknown_type", Some("d1")),
        (big, "frame_too_large", None),
        (r#"{"type":"set_state","state":"ready"}"#.into(), "bad_field", None),
        (r#"{"id":"n1","state":"ready"}"#.into(), "bad_field", Some("n1")),
        (r#"{"type":"set_state","id":"m1"}"#.into(), "bad_field", Some("m1")),
        (r#"{"type":"set_state","id":"m2","state":"not_ready"}"#.into(), "bad_field", Some("m2")),
        (r#"{"type":"set_state","id":"m3","state":"asleep"}"#.into(), "bad_field", Some("m3")),
        (
            r#"{"type":"log_call","id":"t1","call_id":"b1","needs":[{"code":"XX-0000","met":true}]}"#.into(),
            "unknown_taxonomy_code",
            Some("t1"),
        ),
        (r#"{"type":"log_call","id":"t2","call_id":"b1"}"#.into(), "bad_field", Some("t2")),
        (r#"{"type":"log_call","id":"t3","call_id":"nope","needs":[]}"#.into(), "unknown_call", Some("t3")),
        (
            r#"{"type":"log_call","id":"t4","call_id":"b1","needs":[],"follow_up":{"due":"soon","reason":"x"}}"#.into(),
            "bad_field",
            Some("t4"),
        ),
    ];
    for (i, (frame, code, re)) in cases.into_iter().enumerate() {
        ws.send_text(&frame).await;
        let e = ws.expect("error").await;
        assert_eq!(e["code"], code, "case {i}: {e}");
        assert_eq!(e["re"].as_str(), re, "case {i}: {e}");
        assert!(
            !e["reason"].as_str().unwrap().is_empty(),
            "case {i}: a reason is given"
        );
        // The socket is still usable.
        let id = format!("ok-{i}");
        ws.send(json!({"type": "set_state", "id": id, "state": "ready"}))
            .await;
        let f = ws.next().await;
        let f = if f["type"] == "state_changed" {
            ws.next().await
        } else {
            f
        };
        assert_eq!(
            (f["type"].as_str(), f["re"].as_str()),
            (Some("ack"), Some(id.as_str())),
            "case {i}"
        );
    }
    // A refused command changed nothing: the same id, corrected, is applied.
    ws.send(json!({"type": "set_state", "id": "m2", "state": "not_ready", "reason": "lunch"}))
        .await;
    let f = ws.expect("state_changed").await;
    assert_eq!(f["next_reason"], "lunch");
    assert_eq!(ws.expect("ack").await["re"], "m2");
    // A repeated command id is harmless: acknowledged again, not applied twice.
    ws.send(json!({"type": "set_state", "id": "ok-0", "state": "ready"}))
        .await;
    assert_eq!(ws.expect("ack").await["re"], "ok-0");
    let unknown_taxonomy_logs = s.cti.store().call_logs("b1").await.unwrap();
    assert!(
        unknown_taxonomy_logs.is_empty(),
        "nothing was stored for refused logs"
    );

    // No token: refused before the upgrade, and audited.
    let r = s.http("GET", "/cti/ws", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(s.audit().await[0].action, "GET /cti/ws");
}

crate::on_both_backends!(agent_states_transfer_grace_and_shutdown, agent_states);
async fn agent_states(url: &str) {
    let mut cfg = config(url);
    cfg.disconnect_grace = std::time::Duration::from_millis(300);
    let mut s = start(cfg).await;
    s.destinations(&["sip:988@crisis.example.org"]);
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("sup1", Role::Supervisor, "ottawa").await;
    s.add_user("sup2", Role::Supervisor, "windsor").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    ws.send(json!({"type": "set_state", "id": "a", "state": "ready"}))
        .await;
    ws.expect("state_changed").await;
    ws.expect("ack").await;

    // Supervisors see their centre's navigators; navigators may not look.
    let sup = s.login("sup1").await;
    let r = s.http("GET", "/api/navigators", Some(&sup), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["navigators"][0]["account"]["username"], "nav1");
    assert_eq!(r.json["navigators"][0]["state"]["state"], "ready");
    assert_eq!(r.json["navigators"][0]["connected"], true);
    let sup2 = s.login("sup2").await;
    let r = s.http("GET", "/api/navigators", Some(&sup2), None).await;
    assert_eq!(r.json["navigators"], json!([]));
    assert_eq!(
        s.http("GET", "/api/navigators", Some(&token), None)
            .await
            .status,
        403
    );

    // A call rings and the caller hangs up before the answer: back to ready, no wrap-up.
    let ev = s.cti.events();
    ev.send(CallEvent::Arrived {
        call_id: "r1".into(),
        caller: Caller::Withheld,
        dialled: "211".into(),
        at_ms: 10,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Attribute {
        call_id: "r1".into(),
        attribute: CallAttribute::Crisis(true),
        at_ms: 11,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Routed {
        call_id: "r1".into(),
        route: Route::CrisisQueue,
        at_ms: 12,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Offered {
        call_id: "r1".into(),
        navigator: "nav1".into(),
        callback: false,
        at_ms: 13,
    })
    .await
    .unwrap();
    s.acd.reserved("nav1").await;
    let pop = ws.expect("call_offered").await;
    assert_eq!(
        (pop["crisis"].as_bool(), pop["previous_contacts"].clone()),
        (Some(true), json!([]))
    );
    assert_eq!(pop["language"], "en", "English until the caller chooses");
    ws.expect("state_changed").await;
    ev.send(CallEvent::Ended {
        call_id: "r1".into(),
        disposition: Disposition::AbandonedInQueue,
        at_ms: 20,
    })
    .await
    .unwrap();
    // Never answered: the offer is taken back (the caller hung up).
    let withdrawn = ws.expect("call_withdrawn").await;
    assert_eq!(
        (withdrawn["call_id"].as_str(), withdrawn["reason"].as_str()),
        (Some("r1"), Some("caller_hung_up"))
    );
    s.acd.released("nav1").await;
    assert_eq!(ws.expect("state_changed").await["state"], "ready");

    // Transfer goes to the call controller.
    arrives_for(&ev, "t1", "+18075550000", "nav1", false, 30).await;
    s.acd.reserved("nav1").await;
    ev.send(CallEvent::Answered {
        call_id: "t1".into(),
        at_ms: 32,
    })
    .await
    .unwrap();
    s.acd.busy("nav1").await;
    ws.expect("call_offered").await;
    ws.expect("state_changed").await;
    ws.expect("call_answered").await;
    ws.expect("state_changed").await;
    s.drain().await;
    let target = json!({"kind": "sip", "uri": "sip:988@crisis.example.org"});
    ws.send(json!({"type": "transfer", "id": "x1", "call_id": "t1", "target": target}))
        .await;
    assert_eq!(ws.expect("ack").await["re"], "x1");
    let cmd = s.command().await.expect("a transfer command");
    assert_eq!(
        cmd,
        NavigatorCommand::Transfer {
            navigator: "nav1".into(),
            call_id: "t1".into(),
            target: frontdoor_cti::protocol::TransferTarget::Sip {
                uri: "sip:988@crisis.example.org".into()
            },
            consult: false,
        }
    );
    // The same id again: acknowledged, not sent twice.
    ws.send(json!({"type": "transfer", "id": "x1", "call_id": "t1", "target": target}))
        .await;
    ws.expect("ack").await;
    assert!(s.command().await.is_none());
    ev.send(CallEvent::Ended {
        call_id: "t1".into(),
        disposition: Disposition::Transferred,
        at_ms: 40,
    })
    .await
    .unwrap();
    s.acd.wrap_up("nav1").await;
    ws.expect("call_ended").await;
    assert_eq!(ws.expect("state_changed").await["state"], "wrap_up");
    // Ready again before the ACD's wrap-up ends, by asking.
    ws.send(json!({"type": "set_state", "id": "b", "state": "ready"}))
        .await;
    assert_eq!(ws.expect("state_changed").await["state"], "ready");
    ws.expect("ack").await;

    // The socket drops and stays away past the grace period: the session
    // asks the queues to log them out, and the ACD does.
    ws.close().await;
    let deadline = std::time::Instant::now() + crate::server::TIMEOUT;
    loop {
        let v = s.cti.navigator("nav1").unwrap();
        if v.state.state == frontdoor_cti::protocol::AgentState::LoggedOut {
            assert!(!v.connected);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not logged out after the grace period"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Logging in again starts not_ready.
    let mut ws = s.ws(&token).await;
    assert_eq!(ws.expect("hello").await["state"]["reason"], "login");

    // Shutting the server down closes the websocket.
    let stopped = s.stop().await;
    assert!(stopped.is_ok(), "{stopped:?}");
    ws.expect_closed().await;
}

crate::on_both_backends!(heartbeats_arrive_at_the_configured_interval, heartbeats);
async fn heartbeats(url: &str) {
    let mut cfg = config(url);
    cfg.heartbeat = std::time::Duration::from_millis(100);
    let s = start(cfg).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    let hello = ws.next_any().await;
    assert_eq!(hello["type"], "hello");
    let mut seq = hello["seq"].as_u64().unwrap();
    for _ in 0..2 {
        let hb = ws.next_any().await;
        assert_eq!(hb["type"], "heartbeat", "{hb}");
        assert!(hb["at_ms"].as_i64().unwrap() > 0);
        let next = hb["seq"].as_u64().unwrap();
        assert!(next > seq, "seq grows on heartbeats too");
        seq = next;
    }
}

/// The router works without a socket (no peer address), as axum's `oneshot` tests use it.
#[tokio::test]
async fn login_works_without_a_peer_address() {
    let db = crate::db::sqlite();
    let (cti, _commands) = frontdoor_cti::Cti::start(config(&db.url)).await.unwrap();
    frontdoor_cti::run_user_command(
        cti.store(),
        frontdoor_cti::UserCommand::Add {
            username: "nav1".into(),
            role: Role::Navigator,
            centre: "ottawa".into(),
            languages: vec!["en".into()],
            crisis: false,
            password_stdin: true,
            sip_secret_stdin: false,
        },
        "a-long-password\n".as_bytes(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Served without connect info: the handler must not need it.
    tokio::spawn(async move { axum::serve(listener, cti.router()).await });
    let body = r#"{"username":"nav1","password":"a-long-password"}"#;
    let r = crate::server::http(addr, "POST", "/api/login", None, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let big = format!(r#"{{"username":"{}","password":"x"}}"#, "u".repeat(20_000));
    let r = crate::server::http(addr, "POST", "/api/login", None, Some(&big)).await;
    assert_eq!(r.status, 400);
}

crate::on_both_backends!(a_call_survives_a_restart_and_still_pops, restart);
async fn restart(url: &str) {
    {
        let (cti, _commands) = frontdoor_cti::Cti::start(config(url)).await.unwrap();
        let ev = cti.events();
        ev.send(CallEvent::Arrived {
            call_id: "live-1".into(),
            caller: Caller::Number("+17055550123".into()),
            dialled: "211".into(),
            at_ms: 1_000,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Attribute {
            call_id: "live-1".into(),
            attribute: CallAttribute::Language("fr".into()),
            at_ms: 1_100,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Step {
            call_id: "live-1".into(),
            step: "region_menu".into(),
            at_ms: 1_200,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Routed {
            call_id: "live-1".into(),
            route: Route::Queue {
                centre: "collingwood".into(),
            },
            at_ms: 2_000,
        })
        .await
        .unwrap();
        ev.flush().await;
        // The process "dies" here: nothing more is sent, nothing is closed.
    }
    let store = frontdoor_cti::Store::connect(url).await.unwrap();
    let open = store.unfinished_calls().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].call_id.as_str(), open[0].last_step.as_str()),
        ("live-1", "routed")
    );
    assert_eq!(open[0].ivr_path, ["region_menu"]);
    let kinds: Vec<String> = store
        .call_events("live-1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["arrived", "attribute", "ivr_step", "routed"]);

    // A new process offering that call builds the pop from the record.
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "collingwood").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    s.cti
        .events()
        .send(CallEvent::Offered {
            call_id: "live-1".into(),
            navigator: "nav1".into(),
            callback: false,
            at_ms: 62_000,
        })
        .await
        .unwrap();
    let pop = ws.expect("call_offered").await;
    assert_eq!(pop["language"], "fr");
    assert_eq!(pop["centre"], "collingwood");
    assert_eq!(pop["ivr_path"], json!(["region_menu"]));
    assert_eq!(pop["waited_s"], 60);
}

crate::on_both_backends!(
    a_websocket_closes_when_its_login_ends,
    websocket_closes_when_login_ends
);
async fn websocket_closes_when_login_ends(url: &str) {
    let s = start(frontdoor_cti::CtiConfig {
        session_check: std::time::Duration::from_millis(100),
        ..config(url)
    })
    .await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;

    // A password change (frontdoor user passwd) revokes every token.
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    s.cti
        .store()
        .revoke_sessions_of("nav1", frontdoor_cti::now_ms())
        .await
        .unwrap();
    ws.expect_closed().await;

    // So does a token that expires while the socket is open.
    let token = "short-lived-token-for-nav2";
    let now = frontdoor_cti::now_ms();
    s.cti
        .store()
        .insert_session(
            &frontdoor_cti::accounts::sha256_hex(token),
            "nav2",
            now,
            now + 400,
        )
        .await
        .unwrap();
    let mut ws = s.ws(token).await;
    ws.expect("hello").await;
    ws.expect_closed().await;
}

/// A browser phone as the CTI sees it: what the engine was asked.
#[derive(Default)]
struct PhonesDouble {
    asked: std::sync::Mutex<Vec<String>>,
}

impl frontdoor_cti::phones::BrowserPhones for PhonesDouble {
    fn connect(
        &self,
        navigator: &str,
        _offer: String,
    ) -> tokio::sync::oneshot::Receiver<Result<String, String>> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("connect {navigator}"));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(Ok("v=0\r\n".into()));
        rx
    }

    fn answer(&self, navigator: &str) -> Result<(), String> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("answer {navigator}"));
        Ok(())
    }

    fn remove(&self, navigator: &str) {
        self.asked
            .lock()
            .unwrap()
            .push(format!("remove {navigator}"));
    }
}

/// `answer` answers only the call offered to the navigator; `phone_off`
/// ends the phone; a phone lost sets a navigator who takes calls not
/// ready with `phone_problem`, and leaves one already not ready alone.
#[tokio::test]
async fn browser_phone_commands_and_a_lost_phone() {
    use frontdoor_cti::protocol::{AgentState, PhoneState};
    let db = crate::db::sqlite();
    let mut s = start(config(&db.url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;

    // Without a WebRTC port: nothing to answer with.
    ws.send(json!({"type": "answer", "id": "a0", "call_id": "c1"}))
        .await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["re"].as_str()),
        (Some("bad_state"), Some("a0"))
    );

    let phones = std::sync::Arc::new(PhonesDouble::default());
    s.cti.set_phones(phones.clone());
    ws.send(json!({"type": "phone_offer", "id": "p1", "sdp": "v=0"}))
        .await;
    assert_eq!(ws.expect("phone_answer").await["re"], "p1");
    // No call offered to nav1: `answer` is refused, the engine not asked.
    ws.send(json!({"type": "answer", "id": "a1", "call_id": "c1"}))
        .await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["re"].as_str()),
        (Some("bad_state"), Some("a1"))
    );
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("c1 is not ringing for you")
    );
    let ev = s.cti.events();
    arrives_for(&ev, "c1", "+16135550000", "nav1", false, 1).await;
    ev.flush().await;
    ws.expect("call_offered").await;
    ws.send(json!({"type": "answer", "id": "a2", "call_id": "c1"}))
        .await;
    assert_eq!(ws.expect("ack").await["re"], "a2");
    ws.send(json!({"type": "phone_off", "id": "o1"})).await;
    assert_eq!(ws.expect("ack").await["re"], "o1");
    assert_eq!(
        *phones.asked.lock().unwrap(),
        ["connect nav1", "answer nav1", "remove nav1"]
    );
    ev.send(CallEvent::Ended {
        call_id: "c1".into(),
        disposition: Disposition::Answered,
        at_ms: 3,
    })
    .await
    .unwrap();
    ev.flush().await;
    ws.expect("call_withdrawn").await;

    // Ready, then the phone is lost: not ready, phone_problem, asked of the queues.
    ws.send(json!({"type": "set_state", "id": "r1", "state": "ready"}))
        .await;
    assert_eq!(ws.expect("state_changed").await["state"], "ready");
    assert_eq!(ws.expect("ack").await["re"], "r1");
    s.drain().await;
    s.cti.phone_state("nav1", PhoneState::Failed);
    assert_eq!(ws.expect("phone_state").await["state"], "failed");
    let changed = ws.expect("state_changed").await;
    assert_eq!(
        (changed["state"].as_str(), changed["reason"].as_str()),
        (Some("not_ready"), Some("phone_problem")),
        "{changed}"
    );
    assert_eq!(
        s.cti.navigator("nav1").unwrap().state.state,
        AgentState::NotReady
    );
    // Already not ready: nothing more is asked.
    s.drain().await;
    s.cti.phone_state("nav1", PhoneState::Closed);
    assert_eq!(ws.expect("phone_state").await["state"], "closed");
    assert!(s.command().await.is_none(), "no second request");

    // On a call: a phone only disconnected (it may come back) leaves them
    // be; one that failed makes them not ready after the call.
    s.acd.busy("nav1").await;
    assert_eq!(ws.expect("state_changed").await["state"], "busy");
    s.cti.phone_state("nav1", PhoneState::Disconnected);
    assert_eq!(ws.expect("phone_state").await["state"], "disconnected");
    assert!(s.command().await.is_none(), "a call survives a short loss");
    s.cti.phone_state("nav1", PhoneState::Failed);
    assert_eq!(ws.expect("phone_state").await["state"], "failed");
    let changed = ws.expect("state_changed").await;
    assert_eq!(
        (changed["state"].as_str(), changed["next_reason"].as_str()),
        (Some("busy"), Some("phone_problem")),
        "{changed}"
    );
}
