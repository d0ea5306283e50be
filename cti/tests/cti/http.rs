//! The HTTP API: login, logout, throttling, role enforcement and its audit trail.

use frontdoor_cti::protocol::{Caller, Disposition, Role};
use frontdoor_cti::{CallEvent, accounts::sha256_hex, now_ms};
use serde_json::json;

use crate::server::{PASSWORD, config, start};

crate::on_both_backends!(login_logout_and_throttling, login_logout);
async fn login_logout(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;

    // Wrong password and unknown user look the same.
    let wrong = s
        .http(
            "POST",
            "/api/login",
            None,
            Some(r#"{"username":"nav1","password":"nope-nope"}"#),
        )
        .await;
    let unknown = s
        .http(
            "POST",
            "/api/login",
            None,
            Some(r#"{"username":"ghost","password":"nope-nope"}"#),
        )
        .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.json, json!({"error": "invalid username or password"}));

    let bad = s.http("POST", "/api/login", None, Some("{not json")).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json["error"]
            .as_str()
            .unwrap()
            .starts_with("bad JSON body"),
        "{:?}",
        bad.body
    );

    let token = s.login("nav1").await;
    let me = s.http("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["username"], "nav1");
    let out = s.http("POST", "/api/logout", Some(&token), None).await;
    assert_eq!(out.status, 200);
    let again = s.http("GET", "/api/me", Some(&token), None).await;
    assert_eq!(again.status, 401, "a token is dead after logout");

    // Five failures for nav2, then even the right password waits.
    for _ in 0..5 {
        let r = s
            .http(
                "POST",
                "/api/login",
                None,
                Some(r#"{"username":"nav2","password":"wrong-one"}"#),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let body = json!({"username": "nav2", "password": PASSWORD}).to_string();
    let throttled = s.http("POST", "/api/login", None, Some(&body)).await;
    assert_eq!(throttled.status, 429);
    let retry: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(throttled.json["error"].is_string());
    // Another account from the same address is not locked out by nav2's failures.
    s.login("nav1").await;

    // A disabled account: its tokens die and it cannot log in, with the same 401.
    let token = s.login("nav1").await;
    frontdoor_cti::run_user_command(
        s.cti.store(),
        frontdoor_cti::UserCommand::Disable {
            username: "nav1".into(),
        },
        "".as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.http("GET", "/api/me", Some(&token), None).await.status,
        401
    );
    let body = json!({"username": "nav1", "password": PASSWORD}).to_string();
    let r = s.http("POST", "/api/login", None, Some(&body)).await;
    assert_eq!((r.status, r.body), (401, wrong.body.clone()));
    assert!(
        s.audit()
            .await
            .iter()
            .any(|e| e.outcome == "failed" && e.detail == "disabled")
    );
    let audit = s.audit().await;
    assert!(
        audit.iter().any(|e| e.action == "POST /api/login"
            && e.outcome == "throttled"
            && e.actor == "nav2")
    );
    assert!(audit.iter().any(|e| e.action == "POST /api/login"
        && e.outcome == "failed"
        && e.detail == "unknown user"));
}

crate::on_both_backends!(roles_are_enforced_and_refusals_audited, roles);
async fn roles(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;
    s.add_user("sup-ott", Role::Supervisor, "ottawa").await;
    s.add_user("sup-win", Role::Supervisor, "windsor").await;
    s.add_user("ops1", Role::Ops, "province").await;
    let ev = s.cti.events();
    ev.send(CallEvent::Arrived {
        call_id: "c-nav2".into(),
        caller: Caller::Number("+16135550111".into()),
        dialled: "211".into(),
        at_ms: 1000,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Routed {
        call_id: "c-nav2".into(),
        route: frontdoor_cti::Route::Queue {
            centre: "ottawa".into(),
        },
        at_ms: 2000,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Offered {
        call_id: "c-nav2".into(),
        navigator: "nav2".into(),
        callback: false,
        at_ms: 3000,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Ended {
        call_id: "c-nav2".into(),
        disposition: Disposition::Answered,
        at_ms: 4000,
    })
    .await
    .unwrap();
    ev.flush().await;

    // No token.
    let r = s.http("GET", "/api/calls/c-nav2", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json,
        json!({"error": "missing, invalid or expired token"})
    );
    // It names no one: counted, not audited (a scanner cannot fill the log).
    assert!(s.audit().await.iter().all(|a| a.actor != "-"));
    let metrics = s.cti.status().render_prometheus();
    assert!(
        metrics.contains("frontdoor_http_unauthenticated_total{reason=\"no_token\"} 1"),
        "{metrics}"
    );
    let r = s.http("GET", "/api/me", Some("never-issued"), None).await;
    assert_eq!(r.status, 401);
    assert!(
        s.cti
            .status()
            .render_prometheus()
            .contains("frontdoor_http_unauthenticated_total{reason=\"unknown_token\"} 1")
    );

    // An expired token names its account: audited.
    let expired = "expired-token-for-nav1";
    let now = now_ms();
    s.cti
        .store()
        .insert_session(&sha256_hex(expired), "nav1", now - 10_000, now - 1)
        .await
        .unwrap();
    let r = s.http("GET", "/api/me", Some(expired), None).await;
    assert_eq!(r.status, 401);
    let a = &s.audit().await[0];
    assert_eq!(
        (a.actor.as_str(), a.outcome.as_str(), a.detail.as_str()),
        ("nav1", "unauthenticated", "expired token")
    );

    // A navigator reading another navigator's call.
    let nav1 = s.login("nav1").await;
    let r = s.http("GET", "/api/calls/c-nav2", Some(&nav1), None).await;
    assert_eq!(r.status, 403);
    assert!(r.json["error"].is_string());
    let a = &s.audit().await[0];
    assert_eq!(
        (a.actor.as_str(), a.target.as_str(), a.outcome.as_str()),
        ("nav1", "c-nav2", "denied")
    );
    let nav2 = s.login("nav2").await;
    let r = s.http("GET", "/api/calls/c-nav2", Some(&nav2), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["call"]["navigator"], "nav2");
    assert_eq!(r.json["events"].as_array().unwrap().len(), 4);

    // A navigator calling ops routes.
    for (method, path, body) in [
        ("GET", "/api/flows/versions", None),
        ("PUT", "/api/emergency", Some(r#"{"active":true}"#)),
    ] {
        let r = s.http(method, path, Some(&nav1), body).await;
        assert_eq!(r.status, 403, "{method} {path}");
        let a = &s.audit().await[0];
        assert_eq!(
            (a.actor.as_str(), a.outcome.as_str()),
            ("nav1", "denied"),
            "{method} {path}"
        );
        assert_eq!(a.action, format!("{method} {path}"));
    }

    // Supervisors see their centre only; ops see everything.
    let sup = s.login("sup-ott").await;
    assert_eq!(
        s.http("GET", "/api/calls/c-nav2", Some(&sup), None)
            .await
            .status,
        200
    );
    let sup_w = s.login("sup-win").await;
    assert_eq!(
        s.http("GET", "/api/calls/c-nav2", Some(&sup_w), None)
            .await
            .status,
        403
    );
    let ops = s.login("ops1").await;
    assert_eq!(
        s.http("GET", "/api/calls/c-nav2", Some(&ops), None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.http("GET", "/api/calls/nope", Some(&ops), None)
            .await
            .status,
        404
    );

    // Caller history: the navigator who took the call may read it; every read is audited.
    let r = s
        .http(
            "GET",
            "/api/callers/+16135550111/history",
            Some(&nav2),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["previous_contacts"][0]["call_id"], "c-nav2");
    let a = &s.audit().await[0];
    assert_eq!(
        (a.actor.as_str(), a.action.as_str(), a.target.as_str()),
        ("nav2", "history.read", "+16135550111")
    );
    assert_eq!(
        s.http(
            "GET",
            "/api/callers/+16135550111/history",
            Some(&nav1),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        s.http(
            "GET",
            "/api/callers/+16135550111/history",
            Some(&sup_w),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        s.http("GET", "/api/callers/+16135550111/history", Some(&ops), None)
            .await
            .status,
        200
    );

    // Ops switch emergency mode; it is persisted and audited.
    let r = s
        .http(
            "PUT",
            "/api/emergency",
            Some(&ops),
            Some(r#"{"active":true,"message":"ice storm"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["active"], true);
    assert!(s.cti.emergency_mode());
    let r = s.http("GET", "/api/emergency", Some(&nav1), None).await;
    assert_eq!((r.status, &r.json["message"]), (200, &json!("ice storm")));
    assert_eq!(s.audit().await[0].action, "emergency.set");
    let r = s
        .http(
            "PUT",
            "/api/emergency",
            Some(&ops),
            Some(r#"{"active":"yes"}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json["error"].is_string());
    let (again, _) = frontdoor_cti::Cti::start(config(url)).await.unwrap();
    assert!(again.emergency_mode(), "emergency mode survives a restart");

    // Flow versions for ops.
    s.cti
        .activate_flow("2026-11-29.1", "abc123", "ops1")
        .await
        .unwrap();
    assert_eq!(s.audit().await[0].action, "flow.activate");
    let r = s.http("GET", "/api/flows/versions", Some(&ops), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["versions"][0]["hash"], "abc123");
    assert_eq!(r.json["active"]["version"], "2026-11-29.1");

    // Unknown routes answer JSON too.
    let r = s.http("GET", "/api/nope", Some(&ops), None).await;
    assert_eq!((r.status, r.json["error"].is_string()), (404, true));
}

crate::on_both_backends!(healthz_and_metrics, health);
async fn health(url: &str) {
    let s = start(config(url)).await;
    s.cti.status().set_calls_in_progress(3);
    s.cti.status().count_sip_response(200);
    s.cti.status().count_sip_response(200);
    s.cti.status().count_sip_response(503);
    s.cti.status().set_active_flow("v7", "feedbeef");
    let ev = s.cti.events();
    ev.send(CallEvent::Arrived {
        call_id: "m1".into(),
        caller: Caller::Number("+1".into()),
        dialled: "211".into(),
        at_ms: 1,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Ended {
        call_id: "m1".into(),
        disposition: Disposition::AbandonedInIvr,
        at_ms: 2,
    })
    .await
    .unwrap();
    ev.flush().await;
    let h = s.http("GET", "/healthz", None, None).await;
    assert_eq!(h.status, 200);
    assert_eq!(
        h.json,
        json!({"status": "ok", "db": "ok", "flow": {"version": "v7", "hash": "feedbeef"}, "calls_in_progress": 3, "call_limit": 0})
    );
    // At the call limit, and while draining, a load balancer is told 503.
    s.cti.status().set_call_limit(3);
    let h = s.http("GET", "/healthz", None, None).await;
    assert_eq!((h.status, h.json["status"].as_str()), (503, Some("full")));
    s.cti.status().set_call_limit(10);
    assert_eq!(s.http("GET", "/healthz", None, None).await.status, 200);
    s.cti.status().set_draining();
    let h = s.http("GET", "/healthz", None, None).await;
    assert_eq!(
        (h.status, h.json["status"].as_str()),
        (503, Some("draining"))
    );
    let m = s.http("GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for line in [
        "frontdoor_calls_in_progress 3",
        "frontdoor_calls_total{disposition=\"abandoned_in_ivr\"} 1",
        "frontdoor_calls_total{disposition=\"answered\"} 0",
        "frontdoor_sip_responses_total{code=\"200\"} 2",
        "frontdoor_sip_responses_total{code=\"503\"} 1",
        "frontdoor_websocket_clients 0",
        "frontdoor_store_errors_total 0",
        "# TYPE frontdoor_calls_total counter",
    ] {
        assert!(
            m.body.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            m.body
        );
    }
}

/// A client that sends a request's head and then trickles its body, or
/// stops half-way, is answered 408 once the body timeout passes, and holds
/// nothing after: the next request is served.
#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = crate::db::sqlite();
    let s = start(frontdoor_cti::CtiConfig {
        body_timeout: std::time::Duration::from_millis(300),
        ..config(&db.url)
    })
    .await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    c.write_all(
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"username\":",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("an answer, not a wait")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let health = s.http("GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200);
}

/// Password checks are costly on purpose: at most `concurrent_logins` run
/// at once, and a login that cannot get a turn within `login_wait` is told
/// to come back (503) instead of queueing behind a flood.
#[tokio::test]
async fn logins_past_the_bound_on_password_checks_are_told_to_come_back() {
    let db = crate::db::sqlite();
    let s = start(frontdoor_cti::CtiConfig {
        concurrent_logins: 1,
        login_wait: std::time::Duration::from_millis(1),
        login_failures_per_peer: 1000,
        login_failures_per_user: 1000,
        ..config(&db.url)
    })
    .await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let body = format!(r#"{{"username":"nav1","password":"{PASSWORD}"}}"#);
    let attempts = (0..12).map(|_| s.http("POST", "/api/login", None, Some(&body)));
    let answers = futures_util::future::join_all(attempts).await;
    let codes: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(codes.iter().all(|c| *c == 200 || *c == 503), "{codes:?}");
    assert!(codes.contains(&200), "one got its turn: {codes:?}");
    assert!(
        codes.contains(&503),
        "the others were told to come back: {codes:?}"
    );
    let busy = answers.iter().find(|a| a.status == 503).unwrap();
    assert_eq!(
        busy.json,
        json!({"error": "too many logins at once; try again in a moment"})
    );
}
