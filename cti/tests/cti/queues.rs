//! The queues for supervisors: the published view (`GET /api/queues`) and
//! acting on failed callbacks (`POST /api/queues/callbacks/{call_id}`).

use frontdoor_cti::protocol::{QueuesView, Role};
use frontdoor_cti::store::AuditEntry;
use frontdoor_cti::{CallbackAction, NavigatorCommand};
use serde_json::{Value, json};

use crate::server::{TestServer, config, start};

/// The queues' view documented in docs/cti-protocol.md (the binary publishes
/// these fields), so the page and these tests cannot drift apart.
fn view() -> Value {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/cti-protocol.md"
    ))
    .expect("docs/cti-protocol.md");
    let mut views = crate::docs::json_examples(&doc)
        .into_iter()
        .filter(|t| t.contains("\"supervisor_list\"") && !t.contains("\"type\""));
    let text = views.next().expect("the queues' view is documented");
    assert!(views.next().is_none(), "one queues' view example");
    let v: Value = serde_json::from_str(&text).expect("the documented view is JSON");
    assert_eq!(v["supervisor_list"][0]["call_id"], "c-7");
    assert_eq!(v["queues"][0]["waiting"][0]["call_id"], "c-1");
    v
}

/// The view as the queues publish it: typed, with the documented shape.
fn typed(view: Value) -> QueuesView {
    serde_json::from_value(view).expect("the view has the documented shape")
}

async fn server_with_accounts(url: &str) -> TestServer {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("sup-ott", Role::Supervisor, "ottawa").await;
    s.add_user("ops1", Role::Ops, "province").await;
    s
}

async fn no_command(s: &mut TestServer, what: &str) {
    if let Some(cmd) = s.command().await {
        panic!("{what}: a command was sent: {cmd:?}");
    }
}

async fn newest_audit(s: &TestServer) -> AuditEntry {
    s.audit().await.into_iter().next().expect("an audit row")
}

crate::on_both_backends!(the_queue_view_for_supervisors_and_ops, queue_view);
async fn queue_view(url: &str) {
    let s = server_with_accounts(url).await;
    let nav = s.login("nav1").await;
    let sup = s.login("sup-ott").await;
    let ops = s.login("ops1").await;

    // No token: refused (counted in /metrics, not audited).
    let r = s.http("GET", "/api/queues", None, None).await;
    assert_eq!(r.status, 401);

    // Nothing published yet.
    let r = s.http("GET", "/api/queues", Some(&sup), None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json, json!({"error": "the queues are not running"}));

    s.cti.publish_queues(typed(view()));
    for token in [&sup, &ops] {
        let r = s.http("GET", "/api/queues", Some(token), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json, view(), "the view is served as published");
    }

    // The newest view replaces the last.
    let mut newer = view();
    newer["at_ms"] = json!(1764410521000_i64);
    newer["supervisor_list"] = json!([]);
    s.cti.publish_queues(typed(newer.clone()));
    let r = s.http("GET", "/api/queues", Some(&sup), None).await;
    assert_eq!((r.status, r.json), (200, newer));

    // Each read is audited.
    let a = newest_audit(&s).await;
    assert_eq!(
        (a.actor.as_str(), a.action.as_str(), a.outcome.as_str()),
        ("sup-ott", "GET /api/queues", "ok")
    );

    // Another centre's callers: their numbers are for that centre's
    // supervisors (and ops) only.
    let mut wider = view();
    wider["queues"].as_array_mut().unwrap().push(json!(
        {"queue": "centre:toronto", "waiting": [
            {"call_id": "c-9", "caller": "+14165550100", "language": "en", "priority": "normal",
             "crisis": false, "callback": false, "state": "waiting", "waited_s": 5}
        ], "target_percent": 80.0, "target_within_s": 60}
    ));
    wider["supervisor_list"].as_array_mut().unwrap().push(json!(
        {"call_id": "c-8", "caller": "+14165550111", "queue": "centre:toronto", "language": "en", "attempts": 3}
    ));
    s.cti.publish_queues(typed(wider.clone()));
    let r = s.http("GET", "/api/queues", Some(&ops), None).await;
    assert_eq!(r.json, wider, "ops see everything");
    let r = s.http("GET", "/api/queues", Some(&sup), None).await;
    let toronto = &r.json["queues"][2];
    assert_eq!(toronto["waiting"][0]["call_id"], "c-9", "the call is there");
    assert_eq!(
        toronto["waiting"][0]["caller"],
        Value::Null,
        "its number is not"
    );
    assert_eq!(r.json["queues"][0]["waiting"][0]["caller"], "+16135550123");
    let list: Vec<&str> = r.json["supervisor_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(list, ["c-7"], "only the centre's own failed callbacks");

    // Navigators may not see the queues; the refusal is audited.
    let r = s.http("GET", "/api/queues", Some(&nav), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json, json!({"error": "not allowed for your role"}));
    let a = newest_audit(&s).await;
    assert_eq!(
        (
            a.actor.as_str(),
            a.action.as_str(),
            a.target.as_str(),
            a.outcome.as_str(),
            a.detail.as_str()
        ),
        ("nav1", "GET /api/queues", "queues", "denied", "navigator")
    );
}

crate::on_both_backends!(supervisors_act_on_failed_callbacks, callbacks);
async fn callbacks(url: &str) {
    let mut s = server_with_accounts(url).await;
    let nav = s.login("nav1").await;
    let sup = s.login("sup-ott").await;
    let ops = s.login("ops1").await;
    let requeue = Some(r#"{"action": "requeue"}"#);
    s.drain().await;

    // Before anything is published, the queues are not running.
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", Some(&sup), requeue)
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json, json!({"error": "the queues are not running"}));
    no_command(&mut s, "nothing published").await;

    s.cti.publish_queues(typed(view()));

    // No token, and a navigator: refused and audited, nothing sent.
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", None, requeue)
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", Some(&nav), requeue)
        .await;
    assert_eq!(r.status, 403);
    let a = newest_audit(&s).await;
    assert_eq!(
        (
            a.actor.as_str(),
            a.action.as_str(),
            a.target.as_str(),
            a.outcome.as_str()
        ),
        (
            "nav1",
            "POST /api/queues/callbacks/{call_id}",
            "c-7",
            "denied"
        )
    );
    no_command(&mut s, "refused for the role").await;

    // Bad bodies.
    for (body, starts) in [
        (r#"{"action": "forget"}"#, "unknown action \"forget\""),
        (r#"{"action": 3}"#, "bad JSON body"),
        (r#"{"action": "requeue", "extra": 1}"#, "bad JSON body"),
        ("{not json", "bad JSON body"),
        ("", "bad JSON body"),
    ] {
        let r = s
            .http("POST", "/api/queues/callbacks/c-7", Some(&sup), Some(body))
            .await;
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        let reason = r.json["error"].as_str().expect("a reason");
        assert!(reason.starts_with(starts), "{body:?}: {reason:?}");
    }
    no_command(&mut s, "bad bodies").await;

    // A call that is not on the supervisors' list (c-1 is only waiting).
    for call in ["c-1", "c-nope"] {
        let r = s
            .http(
                "POST",
                &format!("/api/queues/callbacks/{call}"),
                Some(&sup),
                requeue,
            )
            .await;
        assert_eq!(r.status, 404, "{call}: {}", r.body);
        assert_eq!(
            r.json,
            json!({"error": "no such callback on the supervisors' list"})
        );
    }
    no_command(&mut s, "not on the list").await;

    // Requeue by the supervisor: accepted, sent to the queues, audited.
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", Some(&sup), requeue)
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json, json!({"accepted": true}));
    assert_eq!(
        s.command().await.expect("a command for the queues"),
        NavigatorCommand::Callback {
            supervisor: "sup-ott".into(),
            call_id: "c-7".into(),
            action: CallbackAction::Requeue,
        }
    );
    no_command(&mut s, "one command per request").await;
    let a = newest_audit(&s).await;
    assert_eq!(
        (
            a.actor.as_str(),
            a.action.as_str(),
            a.target.as_str(),
            a.outcome.as_str(),
            a.detail.as_str()
        ),
        (
            "sup-ott",
            "queue.callback.requeue",
            "c-7",
            "ok",
            "queue=centre:ottawa"
        )
    );

    // Resolve by ops.
    let r = s
        .http(
            "POST",
            "/api/queues/callbacks/c-7",
            Some(&ops),
            Some(r#"{"action":"resolve"}"#),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        s.command().await.expect("a command for the queues"),
        NavigatorCommand::Callback {
            supervisor: "ops1".into(),
            call_id: "c-7".into(),
            action: CallbackAction::Resolve,
        }
    );
    let a = newest_audit(&s).await;
    assert_eq!(
        (a.actor.as_str(), a.action.as_str(), a.outcome.as_str()),
        ("ops1", "queue.callback.resolve", "ok")
    );

    // The queues stopped taking commands: 503, and nothing is audited as done.
    let before = s.audit().await;
    s.acd.hold().await.close();
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", Some(&sup), requeue)
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json, json!({"error": "the queues are not running"}));
    assert_eq!(
        s.audit().await,
        before,
        "a refused request is not audited as done"
    );
}

crate::on_both_backends!(a_full_command_queue_refuses_callbacks, full_queue);
async fn full_queue(url: &str) {
    let mut cfg = config(url);
    cfg.command_queue = 1;
    let mut s = start(cfg).await;
    s.add_user("sup-ott", Role::Supervisor, "ottawa").await;
    let sup = s.login("sup-ott").await;
    s.drain().await;
    s.cti.publish_queues(typed(view()));
    // The queues stop reading their commands for a while.
    let mut held = s.acd.hold().await;
    let requeue = Some(r#"{"action": "requeue"}"#);
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", Some(&sup), requeue)
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = s
        .http("POST", "/api/queues/callbacks/c-7", Some(&sup), requeue)
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json, json!({"error": "the queues are busy; try again"}));
    let oks = s
        .audit()
        .await
        .iter()
        .filter(|e| e.action == "queue.callback.requeue")
        .count();
    assert_eq!(oks, 1, "the refused request is not audited as done");
    assert!(matches!(
        held.try_recv(),
        Ok(NavigatorCommand::Callback { .. })
    ));
    assert!(held.try_recv().is_err(), "the refused request was not sent");
}
