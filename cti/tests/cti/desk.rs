//! What the navigator's desk relies on: drafts that survive anything, the
//! masked number revealed with an audit row, the region corrected, the full
//! history, the 211 call log checked field by field and corrected with its
//! earlier version kept, the follow-up worklist, the taxonomy, the page
//! language, and the pages themselves.

use frontdoor_cti::protocol::{Caller, Desk, DeskRegion, Role};
use frontdoor_cti::taxonomy::Term;
use frontdoor_cti::{CallAttribute, CallEvent};
use serde_json::{Value, json};

use crate::server::{TestServer, Ws, config, start};

/// A call from `caller` offered to `navigator` (whose websocket is `ws`):
/// returns the pop.
async fn offer(s: &TestServer, ws: &mut Ws, navigator: &str, call_id: &str, crisis: bool) -> Value {
    let ev = s.cti.events();
    let mut events = vec![CallEvent::Arrived {
        call_id: call_id.into(),
        caller: Caller::Number("+16135550123".into()),
        dialled: "211".into(),
        at_ms: 1_000_000,
    }];
    if crisis {
        events.push(CallEvent::Attribute {
            call_id: call_id.into(),
            attribute: CallAttribute::Crisis(true),
            at_ms: 1_000_500,
        });
    }
    events.push(CallEvent::Offered {
        call_id: call_id.into(),
        navigator: navigator.into(),
        callback: false,
        at_ms: 1_001_000,
    });
    for e in events {
        ev.send(e).await.unwrap();
    }
    ws.expect("call_offered").await
}

async fn navigator(s: &TestServer, name: &str) -> Ws {
    let token = s.login(name).await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    ws
}

fn audited(entries: &[frontdoor_cti::store::AuditEntry], action: &str, target: &str) -> bool {
    entries
        .iter()
        .any(|e| e.action == action && e.target == target && e.outcome == "ok")
}

crate::on_both_backends!(
    a_draft_survives_a_restart_and_goes_when_the_log_is_saved,
    drafts
);
async fn drafts(url: &str) {
    let mut s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;
    let mut ws = navigator(&s, "nav1").await;
    offer(&s, &mut ws, "nav1", "d-1", false).await;
    for (id, notes) in [
        ("d-a", "food bank"),
        ("d-b", "food bank on Rideau, Tuesdays"),
    ] {
        ws.send(json!({"type": "save_draft", "id": id, "call_id": "d-1",
            "draft": {"notes": notes, "needs": [{"code": "BD-1800", "met": true}]}}))
            .await;
        assert_eq!(ws.expect("ack").await["re"], id);
    }
    // Somebody else's call is not theirs to draft.
    let mut other = navigator(&s, "nav2").await;
    other
        .send(json!({"type": "save_draft", "id": "x", "call_id": "d-1", "draft": {}}))
        .await;
    assert_eq!(other.expect("error").await["code"], "not_your_call");
    // Not an object: refused with the reason.
    ws.send(json!({"type": "save_draft", "id": "d-c", "call_id": "d-1", "draft": "text"}))
        .await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["re"].as_str()),
        (Some("bad_field"), Some("d-c"))
    );

    // The engine stops and starts again on the same store.
    ws.close().await;
    other.close().await;
    s.stop().await.unwrap();
    let s = start(config(url)).await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    let hello = ws.expect("hello").await;
    assert_eq!(hello["protocol_version"], 11);
    let drafts = hello["drafts"].as_array().unwrap();
    assert_eq!(drafts.len(), 1, "{hello}");
    assert_eq!(drafts[0]["call_id"], "d-1");
    assert_eq!(drafts[0]["draft"]["notes"], "food bank on Rideau, Tuesdays");
    assert_eq!(drafts[0]["call"]["caller"], "+16135550123");
    assert_eq!(drafts[0]["call"]["arrived_ms"], 1_000_000);

    // The log is checked field by field; each refusal names its field.
    for (log, field) in [
        (json!({"needs": []}), "needs"),
        (
            json!({"needs": [{"code": "BD-1800", "met": false}]}),
            "needs[0].unmet_reason",
        ),
        (
            json!({"needs": [{"code": "BD-1800", "met": false, "unmet_reason": "too_far"}]}),
            "needs[0].unmet_reason",
        ),
        (
            json!({"needs": [{"code": "BD-1800", "met": true}], "age_band": "40ish"}),
            "age_band",
        ),
        (
            json!({"needs": [{"code": "BD-1800", "met": true}], "area": "12345"}),
            "area",
        ),
        (
            json!({"needs": [{"code": "BD-1800", "met": true}],
                   "follow_up": {"due": "2026-12-09", "reason": "check", "method": "phone"}}),
            "follow_up.consent",
        ),
        (
            json!({"needs": [{"code": "BD-1800", "met": true}],
                   "follow_up": {"due": "2026-12-09", "reason": "check", "consent": true}}),
            "follow_up.method",
        ),
        (
            json!({"needs": [{"code": "BD-1800", "met": true}],
                   "referrals": [{"name": " "}]}),
            "referrals[0].name",
        ),
    ] {
        let mut cmd = log.clone();
        cmd["type"] = json!("log_call");
        cmd["id"] = json!(format!("bad-{field}"));
        cmd["call_id"] = json!("d-1");
        ws.send(cmd).await;
        let e = ws.expect("error").await;
        assert_eq!(e["field"], field, "{log} -> {e}");
        assert_eq!(e["code"], "bad_field");
        assert!(!e["reason"].as_str().unwrap().is_empty());
    }
    ws.send(json!({"type": "log_call", "id": "ok-1", "call_id": "d-1",
        "needs": [{"code": "BD-1800", "met": true}, {"code": "BH-1800", "met": false, "unmet_reason": "waitlist"}],
        "inquirer": "family", "area": "K1N", "age_band": "25-34", "gender": "declined",
        "notes": "food bank on Rideau, Tuesdays"}))
        .await;
    let saved = ws.expect("log_saved").await;
    assert_eq!(saved["duplicate"], false);
    let logs = s.cti.store().call_logs("d-1").await.unwrap();
    let log = &logs[0].log;
    assert_eq!(
        (
            log.area.as_deref(),
            log.needs[1].unmet_reason.map(|r| r.as_str())
        ),
        (Some("K1N"), Some("waitlist"))
    );
    // The draft went with the commit.
    ws.close().await;
    let mut ws = s.ws(&token).await;
    assert_eq!(ws.expect("hello").await["drafts"], json!([]));
}

crate::on_both_backends!(
    reveal_region_and_history_are_the_navigators_and_audited,
    reveal
);
async fn reveal(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;
    s.cti.publish_desk(Desk {
        regions: ["east", "north"]
            .map(|r| DeskRegion {
                id: r.into(),
                centre: "ottawa".into(),
            })
            .to_vec(),
        ..Desk::default()
    });
    // An earlier call of the same caller, taken by nav2.
    let mut ws2 = navigator(&s, "nav2").await;
    offer(&s, &mut ws2, "nav2", "r-1", false).await;
    let mut ws = navigator(&s, "nav1").await;
    offer(&s, &mut ws, "nav1", "r-2", false).await;

    ws.send(json!({"type": "reveal_caller", "id": "rv", "call_id": "r-2"}))
        .await;
    let revealed = ws.expect("caller_revealed").await;
    assert_eq!(
        (revealed["re"].as_str(), revealed["caller"].as_str()),
        (Some("rv"), Some("+16135550123"))
    );
    assert!(audited(&s.audit().await, "caller.reveal", "r-2"));
    ws.send(json!({"type": "reveal_caller", "id": "rv2", "call_id": "r-1"}))
        .await;
    assert_eq!(ws.expect("error").await["code"], "not_your_call");

    ws.send(json!({"type": "correct_region", "id": "cr1", "call_id": "r-2", "region": "mars"}))
        .await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["field"].as_str(), e["code"].as_str()),
        (Some("region"), Some("bad_field"))
    );
    ws.send(json!({"type": "correct_region", "id": "cr2", "call_id": "r-2", "region": "north"}))
        .await;
    assert_eq!(ws.expect("ack").await["re"], "cr2");
    let record = s.cti.store().call("r-2").await.unwrap().unwrap();
    assert_eq!(record.region.as_deref(), Some("north"));
    assert_eq!(
        record.region_source,
        Some(frontdoor_cti::protocol::RegionSource::NavigatorCorrection)
    );
    assert!(audited(&s.audit().await, "call.region", "r-2"));
    // A page that reloads sees the correction in the pop.
    ws.close().await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    let pop = ws.expect("call_offered").await;
    assert_eq!(
        (pop["region"].as_str(), pop["region_source"].as_str()),
        (Some("north"), Some("navigator_correction"))
    );

    ws.send(json!({"type": "history", "id": "h1", "call_id": "r-2"}))
        .await;
    let history = ws.expect("history").await;
    let ids: Vec<&str> = history["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r-1"], "{history}");
    let audit = s.audit().await;
    assert!(audited(&audit, "history.read", "r-2"));
    // The pop's own reading of the history was audited when it was shown.
    assert!(
        audit
            .iter()
            .any(|e| e.action == "history.read" && e.detail.starts_with("screen pop")),
        "{audit:?}"
    );
}

crate::on_both_backends!(
    a_crisis_log_needs_its_details_and_a_correction_keeps_the_first,
    crisis
);
async fn crisis(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    let pop = offer(&s, &mut ws, "nav1", "k-1", true).await;
    assert_eq!(pop["crisis"], true);
    ws.send(json!({"type": "log_call", "id": "k-a", "call_id": "k-1",
        "needs": [{"code": "R", "met": true}]}))
        .await;
    assert_eq!(ws.expect("error").await["field"], "crisis_details");
    let details = json!({"type": "suicide", "risk": "high", "action": "safety plan",
        "emergency_services": false, "emergency_confirmed": true});
    ws.send(json!({"type": "log_call", "id": "k-b", "call_id": "k-1",
        "needs": [{"code": "R", "met": true}], "crisis_details": details}))
        .await;
    assert_eq!(
        ws.expect("error").await["field"],
        "crisis_details.emergency_confirmed"
    );
    let mut details = details;
    details["emergency_services"] = json!(true);
    ws.send(json!({"type": "log_call", "id": "k-c", "call_id": "k-1",
        "needs": [{"code": "R", "met": true}], "crisis_details": details}))
        .await;
    let first = ws.expect("log_saved").await["log_id"].as_i64().unwrap();

    // The correction replaces it; the first is kept, marked superseded.
    let r = s
        .http("GET", "/api/calls/k-1/log", Some(&token), None)
        .await;
    assert_eq!((r.status, r.json["log_id"].as_i64()), (200, Some(first)));
    assert_eq!(r.json["log"]["crisis_details"]["risk"], "high");
    ws.send(json!({"type": "log_call", "id": "k-d", "call_id": "k-1", "corrects": first,
        "needs": [{"code": "R", "met": true}, {"code": "BH-1800", "met": false, "unmet_reason": "no_service"}],
        "crisis_details": details}))
        .await;
    let second = ws.expect("log_saved").await["log_id"].as_i64().unwrap();
    assert_ne!(first, second);
    // Correcting a log that is no longer the current one is refused.
    ws.send(
        json!({"type": "log_call", "id": "k-e", "call_id": "k-1", "corrects": first,
        "needs": [{"code": "R", "met": true}], "crisis_details": details}),
    )
    .await;
    assert_eq!(ws.expect("error").await["field"], "corrects");
    let logs = s.cti.store().call_logs("k-1").await.unwrap();
    assert_eq!(logs.len(), 2);
    assert!(logs[0].superseded_ms.is_some() && logs[1].superseded_ms.is_none());
    assert_eq!(logs[1].log.corrects, Some(first));
    let r = s
        .http("GET", "/api/calls/k-1/log", Some(&token), None)
        .await;
    assert_eq!(r.json["log_id"].as_i64(), Some(second));
    assert!(audited(&s.audit().await, "call.log.correct", "k-1"));
}

crate::on_both_backends!(follow_ups_are_listed_by_due_date_until_done, follow_ups);
async fn follow_ups(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav3", Role::Navigator, "toronto").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    let today = frontdoor_cti::CtiConfig::default().today();
    for (call, due) in [("f-1", "2020-01-02".to_string()), ("f-2", today.clone())] {
        offer(&s, &mut ws, "nav1", call, false).await;
        s.cti
            .events()
            .send(CallEvent::Attribute {
                call_id: call.into(),
                attribute: CallAttribute::Centre("ottawa".into()),
                at_ms: 1_002_000,
            })
            .await
            .unwrap();
        s.cti.events().flush().await;
        ws.send(json!({"type": "log_call", "id": format!("log-{call}"), "call_id": call,
            "needs": [{"code": "BH-1800", "met": false, "unmet_reason": "waitlist"}],
            "follow_up": {"due": due, "reason": "shelter bed", "consent": true, "method": "phone"}}))
            .await;
        ws.expect("log_saved").await;
    }
    let list = s.http("GET", "/api/follow-ups", Some(&token), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let rows = list.json.as_array().unwrap();
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["call_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("f-1", "overdue"), ("f-2", "due")]);
    assert_eq!(rows[0]["method"], "phone");
    let log_id = rows[0]["log_id"].as_i64().unwrap();

    // A navigator of another centre may not touch it.
    let token3 = s.login("nav3").await;
    let path = format!("/api/follow-ups/{log_id}/outcome");
    let r = s
        .http(
            "POST",
            &path,
            Some(&token3),
            Some(r#"{"outcome": "reached"}"#),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .http("POST", &path, Some(&token), Some(r#"{"outcome": "gone"}"#))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s
        .http(
            "POST",
            &path,
            Some(&token),
            Some(r#"{"outcome": "no_answer", "notes": "voicemail full"}"#),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let rows = s
        .http("GET", "/api/follow-ups?scope=centre", Some(&token), None)
        .await
        .json;
    assert_eq!(
        (rows[0]["attempts"].as_i64(), rows[0]["outcome"].as_str()),
        (Some(1), Some("no_answer"))
    );
    let r = s
        .http(
            "POST",
            &path,
            Some(&token),
            Some(r#"{"outcome": "reached"}"#),
        )
        .await;
    assert_eq!(r.status, 204);
    let rows = s
        .http("GET", "/api/follow-ups", Some(&token), None)
        .await
        .json;
    assert_eq!(
        rows.as_array().unwrap().len(),
        1,
        "done ones leave the list: {rows}"
    );
    assert!(audited(&s.audit().await, "follow_up.outcome", "f-1"));
    let bad = s
        .http("GET", "/api/follow-ups?scope=all", Some(&token), None)
        .await;
    assert_eq!(bad.status, 400);
}

crate::on_both_backends!(
    the_taxonomy_is_imported_searched_and_retired_terms_refused,
    taxonomy
);
async fn taxonomy(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let store = s.cti.store();
    let term = |code: &str, en: &str, fr: &str| Term {
        code: code.into(),
        name_en: en.into(),
        name_fr: fr.into(),
    };
    let terms = vec![
        term("B", "Basic Needs", "Besoins essentiels"),
        term("BH", "Housing/Shelter", "Logement et hébergement"),
        term("BH-1800", "Emergency Shelter", "Hébergement d'urgence"),
        term("BD-1800", "Emergency Food", "Aide alimentaire d'urgence"),
    ];
    let (added, updated, retired) = store.import_taxonomy(&terms, "test.csv").await.unwrap();
    assert_eq!((added, updated), (0, 4));
    assert!(retired > 0, "the seed's other terms are retired");
    assert_eq!(
        store.taxonomy_source().await.unwrap().as_deref(),
        Some("test.csv")
    );
    let token = s.login("nav1").await;
    let search = |q: &str| {
        let path = format!("/api/taxonomy?q={q}");
        let token = token.clone();
        let s = &s;
        async move { s.http("GET", &path, Some(&token), None).await }
    };
    let r = search("h%C3%A9berg%20urg").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json[0]["code"], "BH-1800", "{}", r.json);
    assert_eq!(
        search("hebergement").await.json.as_array().unwrap().len(),
        2
    );
    assert_eq!(search("bh").await.json[0]["code"], "BH");
    assert_eq!(search("food").await.json[0]["code"], "BD-1800");
    assert_eq!(
        search("ND").await.json,
        json!([]),
        "retired terms are not offered"
    );
    // A retired term cannot code a new need.
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    offer(&s, &mut ws, "nav1", "t-1", false).await;
    ws.send(json!({"type": "log_call", "id": "t-a", "call_id": "t-1",
        "needs": [{"code": "ND", "met": true}]}))
        .await;
    assert_eq!(ws.expect("error").await["field"], "needs[0].code");
}

crate::on_both_backends!(the_page_language_is_remembered_per_account, language);
async fn language(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let me = s.http("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me.json["ui_language"], Value::Null);
    let r = s
        .http(
            "PUT",
            "/api/me/language",
            Some(&token),
            Some(r#"{"language": "de"}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .http(
            "PUT",
            "/api/me/language",
            Some(&token),
            Some(r#"{"language": "fr"}"#),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let me = s.http("GET", "/api/me", Some(&token), None).await;
    assert_eq!(
        (
            me.json["ui_language"].as_str(),
            me.json["username"].as_str()
        ),
        (Some("fr"), Some("nav1"))
    );
    let mut ws = s.ws(&token).await;
    let hello = ws.expect("hello").await;
    assert_eq!(hello["ui_language"], "fr");
    assert_eq!(hello["not_ready_reasons"][0], "break");
}

#[tokio::test]
async fn the_pages_are_served_with_a_strict_policy() {
    let db = crate::db::sqlite();
    let s = start(config(&db.url)).await;
    let page = s.http("GET", "/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(page.body.contains("/assets/app.js"));
    let js = s.http("GET", "/assets/app.js", None, None).await;
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = js.header("etag").unwrap().to_string();
    let again =
        crate::server::http_with(s.addr, "GET", "/assets/app.js", &[("If-None-Match", &etag)])
            .await;
    assert_eq!(again.status, 304);
    for missing in [
        "/assets/nothing.js",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/src/lib.rs",
    ] {
        assert_eq!(
            s.http("GET", missing, None, None).await.status,
            404,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn a_websocket_opened_by_another_sites_page_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let db = crate::db::sqlite();
    let s = start(config(&db.url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let url = format!("ws://{}/cti/ws?token={token}", s.addr);
    let mut request = url.clone().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(
        matches!(&refused, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 403),
        "{refused:?}"
    );
    assert!(
        s.audit()
            .await
            .iter()
            .any(|a| a.outcome == "denied" && a.detail.contains("evil.example"))
    );
    // The desk itself, served from this server, opens it.
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", format!("http://{}", s.addr).parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("the server's own page opens its websocket");
}
