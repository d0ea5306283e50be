//! Consult (warm) transfers: `transfer` with `mode: consult`,
//! `complete_transfer`, `cancel_transfer` and the engine's
//! `CallEvent::TransferProgress`.

use frontdoor_cti::protocol::{Caller, Role, TransferState, TransferTarget};
use frontdoor_cti::{CallEvent, NavigatorCommand};
use serde_json::{Value, json};

use crate::server::{TestServer, Ws, config, start};

/// A call `call_id` offered to and answered by `navigator`, whose socket has
/// seen every frame of it; the command channel is drained.
async fn answered_call(s: &mut TestServer, ws: &mut Ws, navigator: &str, call_id: &str) {
    let ev = s.cti.events();
    for e in [
        CallEvent::Arrived {
            call_id: call_id.into(),
            caller: Caller::Number("+16135550123".into()),
            dialled: "211".into(),
            at_ms: 1_000,
        },
        CallEvent::Offered {
            call_id: call_id.into(),
            navigator: navigator.into(),
            callback: false,
            at_ms: 2_000,
        },
    ] {
        ev.send(e).await.unwrap();
    }
    s.acd.reserved(navigator).await;
    ev.send(CallEvent::Answered {
        call_id: call_id.into(),
        at_ms: 3_000,
    })
    .await
    .unwrap();
    s.acd.busy(navigator).await;
    assert_eq!(ws.expect("call_offered").await["call_id"], call_id);
    assert_eq!(ws.expect("state_changed").await["state"], "reserved");
    assert_eq!(ws.expect("call_answered").await["call_id"], call_id);
    assert_eq!(ws.expect("state_changed").await["state"], "busy");
    s.drain().await;
}

/// Sends `frame` and returns the answer, which must be for `id`.
async fn answer(ws: &mut Ws, frame: Value) -> Value {
    let id = frame["id"].as_str().unwrap().to_string();
    ws.send(frame).await;
    let f = ws.next().await;
    assert_eq!(f["re"].as_str(), Some(id.as_str()), "{f}");
    f
}

/// The socket has nothing queued but the answer to a harmless command:
/// nothing else was sent to it.
async fn nothing_pending(ws: &mut Ws, id: &str) {
    let f = answer(
        ws,
        json!({"type": "resume", "id": id, "last_seq": ws.last_seq}),
    )
    .await;
    assert_eq!(f["type"], "ack", "{f}");
}

async fn event_rows(s: &TestServer, call_id: &str) -> Vec<(String, String)> {
    s.cti
        .store()
        .call_events(call_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

crate::on_both_backends!(consult_transfer_commands_reach_the_controller, commands);
async fn commands(url: &str) {
    let mut s = start(config(url)).await;
    s.destinations(&["sip:intake@shelter.example.org"]);
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    assert_eq!(ws.expect("hello").await["protocol_version"], 11);
    let token2 = s.login("nav2").await;
    let mut ws2 = s.ws(&token2).await;
    ws2.expect("hello").await;
    answered_call(&mut s, &mut ws, "nav1", "c1").await;
    s.drain().await;

    // A consult transfer needs a SIP target: refused, nothing sent.
    for (i, target) in [
        json!({"kind": "centre", "centre": "thunder_bay"}),
        json!({"kind": "crisis"}),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("bad-{i}");
        let e = answer(
            &mut ws,
            json!({"type": "transfer", "id": id, "call_id": "c1", "target": target, "mode": "consult"}),
        )
        .await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("bad_field")),
            "{e}"
        );
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .contains("a consult transfer needs a sip target"),
            "{e}"
        );
        assert!(s.command().await.is_none(), "nothing sent for {target}");
    }
    // An unknown mode is a bad field too.
    let e = answer(
        &mut ws,
        json!({"type": "transfer", "id": "bad-mode", "call_id": "c1",
               "target": {"kind": "sip", "uri": "sip:x@example.org"}, "mode": "warm"}),
    )
    .await;
    assert_eq!(e["code"], "bad_field", "{e}");
    assert!(s.command().await.is_none());

    // A URI that is not one of the desk's destinations is refused and
    // audited: a navigator cannot send calls anywhere through the trunk.
    let e = answer(
        &mut ws,
        json!({"type": "transfer", "id": "fraud", "call_id": "c1",
               "target": {"kind": "sip", "uri": "sip:+19005550199@trunk.example.org"}}),
    )
    .await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("bad_field"), Some("target")),
        "{e}"
    );
    assert!(s.command().await.is_none(), "nothing sent");
    assert!(
        s.audit()
            .await
            .iter()
            .any(|a| a.action == "transfer" && a.outcome == "denied" && a.detail.contains("+1900")),
        "the refusal is audited"
    );

    // Consult with a SIP target reaches the controller, once.
    let consult = json!({"type": "transfer", "id": "x1", "call_id": "c1",
        "target": {"kind": "sip", "uri": "sip:intake@shelter.example.org"}, "mode": "consult"});
    assert_eq!(answer(&mut ws, consult.clone()).await["type"], "ack");
    assert_eq!(
        s.command().await.expect("a transfer command"),
        NavigatorCommand::Transfer {
            navigator: "nav1".into(),
            call_id: "c1".into(),
            target: TransferTarget::Sip {
                uri: "sip:intake@shelter.example.org".into()
            },
            consult: true,
        }
    );
    assert_eq!(answer(&mut ws, consult).await["type"], "ack");
    assert!(
        s.command().await.is_none(),
        "a repeated id is not sent twice"
    );
    // An explicit blind mode is today's transfer.
    let blind = json!({"type": "transfer", "id": "x0", "call_id": "c1",
        "target": {"kind": "crisis"}, "mode": "blind"});
    assert_eq!(answer(&mut ws, blind).await["type"], "ack");
    assert_eq!(
        s.command().await.expect("a transfer command"),
        NavigatorCommand::Transfer {
            navigator: "nav1".into(),
            call_id: "c1".into(),
            target: TransferTarget::Crisis,
            consult: false,
        }
    );

    // complete_transfer and cancel_transfer: only for the navigator holding the call.
    for kind in ["complete_transfer", "cancel_transfer"] {
        let e = answer(
            &mut ws2,
            json!({"type": kind, "id": format!("{kind}-other"), "call_id": "c1"}),
        )
        .await;
        assert_eq!(e["code"], "not_your_call", "{kind}: {e}");
        let e = answer(
            &mut ws,
            json!({"type": kind, "id": format!("{kind}-unknown"), "call_id": "nope"}),
        )
        .await;
        assert_eq!(e["code"], "not_your_call", "{kind}: {e}");
        let e = answer(&mut ws, json!({"type": kind, "id": format!("{kind}-bad")})).await;
        assert_eq!(e["code"], "bad_field", "{kind}: {e}");
        assert!(s.command().await.is_none(), "{kind}: nothing sent");

        let frame = json!({"type": kind, "id": format!("{kind}-1"), "call_id": "c1"});
        assert_eq!(answer(&mut ws, frame.clone()).await["type"], "ack");
        let expected = if kind == "complete_transfer" {
            NavigatorCommand::CompleteTransfer {
                navigator: "nav1".into(),
                call_id: "c1".into(),
            }
        } else {
            NavigatorCommand::CancelTransfer {
                navigator: "nav1".into(),
                call_id: "c1".into(),
            }
        };
        assert_eq!(s.command().await.expect(kind), expected);
        // The same id again: acknowledged, not sent twice.
        assert_eq!(answer(&mut ws, frame).await["type"], "ack");
        assert!(s.command().await.is_none(), "{kind}: not sent twice");
    }

    // Each command sent is in the call record, once.
    let notes: Vec<(String, String)> = event_rows(&s, "c1")
        .await
        .into_iter()
        .filter(|(k, _)| k.contains("transfer"))
        .collect();
    assert_eq!(
        notes,
        [
            (
                "transfer".to_string(),
                r#"nav1 -> {"kind":"sip","uri":"sip:intake@shelter.example.org"} consult"#
                    .to_string()
            ),
            ("transfer".into(), r#"nav1 -> {"kind":"crisis"}"#.into()),
            ("complete_transfer".into(), "nav1".into()),
            ("cancel_transfer".into(), "nav1".into()),
        ]
    );
    nothing_pending(&mut ws2, "n2").await;
}

crate::on_both_backends!(
    transfer_progress_goes_to_the_navigator_holding_the_call,
    progress
);
async fn progress(url: &str) {
    let mut s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav2", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    let token2 = s.login("nav2").await;
    let mut ws2 = s.ws(&token2).await;
    ws2.expect("hello").await;
    answered_call(&mut s, &mut ws, "nav1", "c1").await;
    let ev = s.cti.events();

    ev.send(CallEvent::TransferProgress {
        call_id: "c1".into(),
        navigator: "nav1".into(),
        state: TransferState::Ringing,
        detail: String::new(),
        at_ms: 10_000,
    })
    .await
    .unwrap();
    let f = ws.expect("transfer_progress").await;
    assert_eq!(
        f,
        json!({"type": "transfer_progress", "seq": f["seq"], "call_id": "c1",
               "state": "ringing", "at_ms": 10_000}),
        "no detail when there is none"
    );
    let seen = ws.last_seq;

    ev.send(CallEvent::TransferProgress {
        call_id: "c1".into(),
        navigator: "nav1".into(),
        state: TransferState::Failed,
        detail: "486 Busy Here".into(),
        at_ms: 11_000,
    })
    .await
    .unwrap();
    let f = ws.expect("transfer_progress").await;
    assert_eq!(
        (
            f["state"].as_str(),
            f["detail"].as_str(),
            f["at_ms"].as_i64()
        ),
        (Some("failed"), Some("486 Busy Here"), Some(11_000))
    );

    // Progress naming a navigator who does not hold the call reaches nobody
    // (it is still stored).
    ev.send(CallEvent::TransferProgress {
        call_id: "c1".into(),
        navigator: "nav2".into(),
        state: TransferState::Answered,
        detail: String::new(),
        at_ms: 12_000,
    })
    .await
    .unwrap();
    ev.flush().await;
    nothing_pending(&mut ws, "n1").await;
    nothing_pending(&mut ws2, "n2").await;

    // The agent state is not changed by progress.
    let view = s.cti.navigator("nav1").unwrap();
    assert_eq!(view.state.state, frontdoor_cti::protocol::AgentState::Busy);
    assert_eq!(view.call_id.as_deref(), Some("c1"));
    assert!(
        s.command().await.is_none(),
        "no state change went to the controller"
    );

    // Kept for replay: a client that reconnects and resumes gets it again.
    ws.close().await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    ws.expect("call_offered").await;
    ws.expect("call_answered").await;
    ws.send(json!({"type": "resume", "id": "r1", "last_seq": seen}))
        .await;
    assert_eq!(ws.expect("transfer_progress").await["state"], "failed");
    // (The answer to the earlier `resume` is kept too.)
    assert_eq!(ws.expect("ack").await["re"], "n1");
    assert_eq!(ws.expect("ack").await["re"], "r1");

    let rows: Vec<(String, String)> = event_rows(&s, "c1")
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("consult_"))
        .collect();
    assert_eq!(
        rows,
        [
            ("consult_ringing".to_string(), String::new()),
            ("consult_failed".into(), "486 Busy Here".into()),
            ("consult_answered".into(), String::new()),
        ]
    );
}

crate::on_both_backends!(
    consult_commands_are_refused_when_the_controller_is_full,
    controller_full
);
async fn controller_full(url: &str) {
    let mut cfg = config(url);
    cfg.command_queue = 1;
    let mut s = start(cfg).await;
    s.destinations(&["sip:988@crisis.example.org"]);
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    answered_call(&mut s, &mut ws, "nav1", "c1").await;
    // The queues stop reading for a while; a state request fills the
    // one-command channel (its answer waits for the queues).
    let mut held = s.acd.hold().await;
    ws.send(json!({"type": "set_state", "id": "fill", "state": "not_ready", "reason": "break"}))
        .await;
    for kind in ["transfer", "complete_transfer", "cancel_transfer"] {
        let mut frame = json!({"type": kind, "id": format!("{kind}-1"), "call_id": "c1"});
        if kind == "transfer" {
            frame["target"] = json!({"kind": "sip", "uri": "sip:988@crisis.example.org"});
            frame["mode"] = json!("consult");
        }
        let e = answer(&mut ws, frame.clone()).await;
        assert_eq!(e["code"], "controller_unavailable", "{kind}: {e}");
        // The queues take the state request and answer it: room again.
        let queued = held.recv().await.expect("the queued state request");
        assert!(matches!(queued, NavigatorCommand::StateRequest { .. }));
        s.acd.handle(queued).await;
        ws.expect("state_changed").await;
        ws.expect("ack").await;
        // Refused, so the same id is tried afresh once there is room.
        assert_eq!(answer(&mut ws, frame).await["type"], "ack", "{kind}");
        let sent = held.try_recv().expect(kind);
        assert!(
            matches!(
                (kind, &sent),
                ("transfer", NavigatorCommand::Transfer { consult: true, .. })
                    | (
                        "complete_transfer",
                        NavigatorCommand::CompleteTransfer { .. }
                    )
                    | ("cancel_transfer", NavigatorCommand::CancelTransfer { .. })
            ),
            "{kind}: {sent:?}"
        );
        // Full again for the next command.
        ws.send(json!({"type": "set_state", "id": format!("fill-{kind}"), "state": "not_ready", "reason": "break"}))
            .await;
    }
}

crate::on_both_backends!(hold_reaches_the_controller_and_its_answer_the_screen, hold);
async fn hold(url: &str) {
    let mut s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    answered_call(&mut s, &mut ws, "nav1", "h1").await;
    s.drain().await;
    let hold = json!({"type": "hold", "id": "h-1", "call_id": "h1", "on": true});
    assert_eq!(answer(&mut ws, hold).await["type"], "ack");
    assert_eq!(
        s.command().await.expect("a hold command"),
        NavigatorCommand::Hold {
            navigator: "nav1".into(),
            call_id: "h1".into(),
            on: true,
        }
    );
    let e = answer(
        &mut ws,
        json!({"type": "hold", "id": "h-2", "call_id": "other", "on": true}),
    )
    .await;
    assert_eq!(e["code"], "not_your_call");
    // The controller says the caller is on hold: the screen shows it, the
    // call's events keep it, and a page that reconnects learns it again.
    s.cti
        .events()
        .send(CallEvent::Held {
            call_id: "h1".into(),
            navigator: "nav1".into(),
            held: true,
            at_ms: 5_000,
        })
        .await
        .unwrap();
    let held = ws.expect("call_held").await;
    assert_eq!(
        (held["call_id"].as_str(), held["held"].as_bool()),
        (Some("h1"), Some(true))
    );
    ws.close().await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    ws.expect("call_offered").await;
    ws.expect("call_answered").await;
    assert_eq!(ws.expect("call_held").await["held"], true);
    s.cti.events().flush().await;
    let kinds: Vec<String> = s
        .cti
        .store()
        .call_events("h1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "hold"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "held"), "{kinds:?}");
}
