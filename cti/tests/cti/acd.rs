//! The ACD's events: offers taken back, the navigator states it decides
//! (mirrored as they are: the CTI decides none and times none), queue steps
//! for the call record, and the requests it must hear.

use std::time::Duration;

use frontdoor_cti::protocol::{AgentState, Caller, Disposition, Role, WithdrawReason};
use frontdoor_cti::{CallEvent, CallEvents, NavigatorCommand, Route, StateRequest};
use serde_json::json;
use tokio::sync::mpsc;

use crate::server::{TestServer, Ws, config, start};

/// A navigator logged in and `ready`, with the commands so far drained.
async fn ready_navigator(s: &mut TestServer, name: &str) -> (String, Ws) {
    s.add_user(name, Role::Navigator, "ottawa").await;
    let token = s.login(name).await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    ws.send(json!({"type": "set_state", "id": "ready-1", "state": "ready"}))
        .await;
    assert_eq!(ws.expect("state_changed").await["state"], "ready");
    assert_eq!(ws.expect("ack").await["re"], "ready-1");
    s.drain().await;
    (token, ws)
}

/// The state requests for `navigator` that reach the queues within a short wait.
async fn state_requests(
    commands: &mut mpsc::UnboundedReceiver<NavigatorCommand>,
    navigator: &str,
) -> Vec<StateRequest> {
    let mut out = Vec::new();
    while let Ok(Some(cmd)) =
        tokio::time::timeout(Duration::from_millis(300), commands.recv()).await
    {
        if let NavigatorCommand::StateRequest {
            navigator: n,
            request,
            ..
        } = cmd
            && n == navigator
        {
            out.push(request);
        }
    }
    out
}

async fn queued_call(ev: &CallEvents, call_id: &str, at_ms: i64) {
    for e in [
        CallEvent::Arrived {
            call_id: call_id.into(),
            caller: Caller::Number("+16135550199".into()),
            dialled: "211".into(),
            at_ms,
        },
        CallEvent::Routed {
            call_id: call_id.into(),
            route: Route::Queue {
                centre: "ottawa".into(),
            },
            at_ms: at_ms + 1_000,
        },
    ] {
        ev.send(e).await.unwrap();
    }
}

/// A state the ACD decided, as the queues send it (at 50 s; a wrap-up until 51.5 s).
fn acd_state(
    navigator: &str,
    state: AgentState,
    reason: Option<&str>,
    next: Option<(AgentState, Option<&str>)>,
) -> CallEvent {
    CallEvent::NavigatorState {
        navigator: navigator.into(),
        state,
        reason: reason.map(str::to_string),
        next_state: next.map(|(s, _)| s),
        next_reason: next.and_then(|(_, r)| r.map(str::to_string)),
        wrap_up_until_ms: (state == AgentState::WrapUp).then_some(51_500),
        answers: None,
        at_ms: 50_000,
    }
}

crate::on_both_backends!(
    a_withdrawn_offer_and_the_acds_state_reach_the_screen_without_an_echo,
    withdrawn
);
async fn withdrawn(url: &str) {
    let mut s = start(config(url)).await;
    let (token, mut ws) = ready_navigator(&mut s, "nav1").await;
    let ev = s.cti.events();
    queued_call(&ev, "w1", 10_000).await;
    ev.send(CallEvent::Offered {
        call_id: "w1".into(),
        navigator: "nav1".into(),
        callback: false,
        at_ms: 20_000,
    })
    .await
    .unwrap();
    s.acd.reserved("nav1").await;
    let pop = ws.expect("call_offered").await;
    assert_eq!(pop["call_id"], "w1");
    assert_eq!(ws.expect("state_changed").await["state"], "reserved");
    let before_withdrawal = ws.last_seq;
    ev.flush().await;
    s.drain().await;

    // Not answered within the ring timeout: the offer is taken back...
    ev.send(CallEvent::OfferWithdrawn {
        call_id: "w1".into(),
        navigator: "nav1".into(),
        reason: WithdrawReason::NoAnswer,
        at_ms: 35_000,
    })
    .await
    .unwrap();
    let w = ws.expect("call_withdrawn").await;
    assert_eq!(
        w,
        json!({"type": "call_withdrawn", "seq": w["seq"], "call_id": "w1",
               "reason": "no_answer", "at_ms": 35_000})
    );
    ev.flush().await;
    let v = s.cti.navigator("nav1").unwrap();
    assert_eq!(v.call_id, None, "the call is no longer theirs");
    assert_eq!(
        v.state.state,
        AgentState::Reserved,
        "the state waits for the ACD"
    );

    // ...and the ACD puts them not_ready: mirrored, not echoed back.
    ev.send(acd_state(
        "nav1",
        AgentState::NotReady,
        Some("no_answer"),
        None,
    ))
    .await
    .unwrap();
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["reason"].as_str()),
        (Some("not_ready"), Some("no_answer"))
    );
    ev.flush().await;
    let echoed = state_requests(&mut s.commands, "nav1").await;
    assert!(
        echoed.is_empty(),
        "the ACD's own change came back: {echoed:?}"
    );
    let v = s.cti.navigator("nav1").unwrap();
    assert_eq!(
        (v.state.state, v.state.reason.as_deref()),
        (AgentState::NotReady, Some("no_answer"))
    );

    // Repeats change nothing and send nothing: a withdrawal of a call they no
    // longer hold, the same ACD state again, another navigator's call.
    ev.send(CallEvent::OfferWithdrawn {
        call_id: "w1".into(),
        navigator: "nav1".into(),
        reason: WithdrawReason::CallerHungUp,
        at_ms: 36_000,
    })
    .await
    .unwrap();
    ev.send(acd_state(
        "nav1",
        AgentState::NotReady,
        Some("no_answer"),
        None,
    ))
    .await
    .unwrap();
    ev.send(acd_state("nobody", AgentState::Ready, None, None))
        .await
        .unwrap();
    // The ACD makes them ready (the navigator asked through another screen, say).
    ev.send(acd_state("nav1", AgentState::Ready, None, None))
        .await
        .unwrap();
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["reason"].clone()),
        (Some("ready"), json!(null)),
        "the repeats before this sent nothing"
    );
    ev.flush().await;
    assert!(state_requests(&mut s.commands, "nav1").await.is_empty());
    assert!(s.cti.navigator("nobody").is_none());

    // The ACD puts them in wrap-up, with its end shown; the ACD times it and
    // says when it ends (the CTI keeps no timer, and asks nothing).
    ev.send(acd_state(
        "nav1",
        AgentState::WrapUp,
        None,
        Some((AgentState::NotReady, Some("break"))),
    ))
    .await
    .unwrap();
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["next_state"].as_str()),
        (Some("wrap_up"), Some("not_ready"))
    );
    assert_eq!(
        (st["since_ms"].as_i64(), st["wrap_up_until_ms"].as_i64()),
        (Some(50_000), Some(51_500))
    );
    ev.send(acd_state("nav1", AgentState::NotReady, Some("break"), None))
        .await
        .unwrap();
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["reason"].as_str()),
        (Some("not_ready"), Some("break"))
    );
    let told = state_requests(&mut s.commands, "nav1").await;
    assert!(told.is_empty(), "the CTI asked for a state: {told:?}");

    // The withdrawal is in the call record...
    let events = s.cti.store().call_events("w1").await.unwrap();
    let withdrawn: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "offer_withdrawn")
        .map(|e| (e.at_ms, e.detail.as_str()))
        .collect();
    assert_eq!(
        withdrawn,
        [
            (35_000, "navigator=nav1 reason=no_answer"),
            (36_000, "navigator=nav1 reason=caller_hung_up"),
        ]
    );

    // ...is replayed to a client that missed it, and the withdrawn offer is
    // not re-sent on reconnect.
    ws.close().await;
    let mut ws = s.ws(&token).await;
    let hello = ws.expect("hello").await;
    assert_eq!(hello["state"]["state"], "not_ready");
    ws.send(json!({"type": "resume", "id": "r1", "last_seq": before_withdrawal}))
        .await;
    assert_eq!(ws.expect("call_withdrawn").await["call_id"], "w1");
    let kinds = [
        ("not_ready", Some("no_answer")),
        ("ready", None),
        ("wrap_up", None),
        ("not_ready", Some("break")),
    ];
    for (state, reason) in kinds {
        let st = ws.expect("state_changed").await;
        assert_eq!(
            (st["state"].as_str(), st["reason"].as_str()),
            (Some(state), reason)
        );
    }
    assert_eq!(ws.expect("ack").await["re"], "r1");
}

crate::on_both_backends!(
    queue_steps_are_stored_in_order_and_set_the_last_step,
    queue_steps
);
async fn queue_steps(url: &str) {
    let s = start(config(url)).await;
    let ev = s.cti.events();
    queued_call(&ev, "q1", 1_000).await;
    let steps = [
        ("queued", "ottawa"),
        ("overflowed", "ottawa -> province"),
        ("offered", "nav1"),
        ("no_answer", "nav1"),
        ("callback_requested", "+16135550199"),
    ];
    for (i, (kind, detail)) in steps.iter().enumerate() {
        ev.send(CallEvent::QueueStep {
            call_id: "q1".into(),
            kind: (*kind).into(),
            detail: (*detail).into(),
            at_ms: 3_000 + i as i64,
        })
        .await
        .unwrap();
    }
    ev.flush().await;
    let store = s.cti.store();
    let record = store.call("q1").await.unwrap().unwrap();
    assert_eq!(record.last_step, "callback_requested");
    let events: Vec<(i64, String, String)> = store
        .call_events("q1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.at_ms, e.kind, e.detail))
        .collect();
    let mut expected = vec![
        (
            1_000,
            "arrived".to_string(),
            "+16135550199 -> 211".to_string(),
        ),
        (2_000, "routed".to_string(), "queue:ottawa".to_string()),
    ];
    for (i, (kind, detail)) in steps.iter().enumerate() {
        expected.push((3_000 + i as i64, (*kind).into(), (*detail).into()));
    }
    assert_eq!(events, expected);

    // One more step moves the last step on again.
    ev.send(CallEvent::QueueStep {
        call_id: "q1".into(),
        kind: "callback_dialling".into(),
        detail: String::new(),
        at_ms: 9_000,
    })
    .await
    .unwrap();
    ev.flush().await;
    let record = store.call("q1").await.unwrap().unwrap();
    assert_eq!(record.last_step, "callback_dialling");
    assert_eq!(store.call_events("q1").await.unwrap().len(), 8);
}

crate::on_both_backends!(
    a_state_asked_for_during_a_call_reaches_the_controller,
    queued_state
);
async fn queued_state(url: &str) {
    let mut s = start(config(url)).await;
    let (_token, mut ws) = ready_navigator(&mut s, "nav1").await;
    let ev = s.cti.events();
    queued_call(&ev, "b1", 1_000).await;
    ev.send(CallEvent::Offered {
        call_id: "b1".into(),
        navigator: "nav1".into(),
        callback: false,
        at_ms: 5_000,
    })
    .await
    .unwrap();
    s.acd.reserved("nav1").await;
    ev.send(CallEvent::Answered {
        call_id: "b1".into(),
        at_ms: 6_000,
    })
    .await
    .unwrap();
    s.acd.busy("nav1").await;
    ws.expect("call_offered").await;
    ws.expect("state_changed").await;
    ws.expect("call_answered").await;
    assert_eq!(ws.expect("state_changed").await["state"], "busy");
    ev.flush().await;
    s.drain().await;

    ws.send(json!({"type": "set_state", "id": "s1", "state": "not_ready", "reason": "break"}))
        .await;
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["next_state"].as_str()),
        (Some("busy"), Some("not_ready"))
    );
    assert_eq!(ws.expect("ack").await["re"], "s1");
    let told = state_requests(&mut s.commands, "nav1").await;
    assert_eq!(
        told,
        [StateRequest::NotReady {
            reason: "break".into()
        }]
    );

    // The ACD echoes what it learnt: nothing changes, nothing is sent. Then
    // it drops the queued state (busy itself stays the call's business).
    ev.send(acd_state(
        "nav1",
        AgentState::Busy,
        None,
        Some((AgentState::NotReady, Some("break"))),
    ))
    .await
    .unwrap();
    ev.send(acd_state("nav1", AgentState::Busy, None, None))
        .await
        .unwrap();
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["next_state"].clone()),
        (Some("busy"), json!(null))
    );
    ev.flush().await;
    assert!(state_requests(&mut s.commands, "nav1").await.is_empty());
    let v = s.cti.navigator("nav1").unwrap();
    assert_eq!(
        (v.state.state, v.state.next_state, v.call_id.as_deref()),
        (AgentState::Busy, None, Some("b1"))
    );
}

crate::on_both_backends!(
    a_callback_to_a_caller_who_hung_up_pops_and_ends_again,
    callback_after_end
);
async fn callback_after_end(url: &str) {
    let mut s = start(config(url)).await;
    let (_token, mut ws) = ready_navigator(&mut s, "nav1").await;
    let ev = s.cti.events();
    queued_call(&ev, "cb1", 1_000).await;
    ev.send(CallEvent::Step {
        call_id: "cb1".into(),
        step: "callback_offer".into(),
        at_ms: 3_000,
    })
    .await
    .unwrap();
    // The caller chose a callback and hung up: the record ends.
    ev.send(CallEvent::Ended {
        call_id: "cb1".into(),
        disposition: Disposition::Callback,
        at_ms: 4_000,
    })
    .await
    .unwrap();
    ev.flush().await;
    let record = s.cti.store().call("cb1").await.unwrap().unwrap();
    assert_eq!(
        (record.ended_ms, record.disposition),
        (Some(4_000), Some(Disposition::Callback))
    );

    // Later the ACD dials the navigator for the callback.
    ev.send(CallEvent::Offered {
        call_id: "cb1".into(),
        navigator: "nav1".into(),
        callback: true,
        at_ms: 62_000,
    })
    .await
    .unwrap();
    s.acd.reserved("nav1").await;
    let pop = ws.expect("call_offered").await;
    assert_eq!(
        (
            pop["call_id"].as_str(),
            pop["callback"].as_bool(),
            pop["caller"].as_str()
        ),
        (Some("cb1"), Some(true), Some("+16135550199"))
    );
    assert_eq!(pop["ivr_path"], json!(["callback_offer"]));
    assert_eq!(pop["waited_s"], 60);
    assert_eq!(ws.expect("state_changed").await["state"], "reserved");
    ev.send(CallEvent::Answered {
        call_id: "cb1".into(),
        at_ms: 70_000,
    })
    .await
    .unwrap();
    s.acd.busy("nav1").await;
    ws.expect("call_answered").await;
    assert_eq!(ws.expect("state_changed").await["state"], "busy");
    ev.send(CallEvent::Ended {
        call_id: "cb1".into(),
        disposition: Disposition::Answered,
        at_ms: 400_000,
    })
    .await
    .unwrap();
    s.acd.wrap_up("nav1").await;
    assert_eq!(ws.expect("call_ended").await["disposition"], "answered");
    assert_eq!(ws.expect("state_changed").await["state"], "wrap_up");
    ev.flush().await;
    let record = s.cti.store().call("cb1").await.unwrap().unwrap();
    assert_eq!(
        (
            record.ended_ms,
            record.disposition,
            record.answered_ms,
            record.callback,
            record.navigator.as_deref()
        ),
        (
            Some(400_000),
            Some(Disposition::Answered),
            Some(70_000),
            true,
            Some("nav1")
        )
    );
    assert_eq!(record.last_step, "ended");
}

crate::on_both_backends!(
    a_callback_dialled_as_the_first_call_ends_is_not_withdrawn,
    callback_as_first_call_ends
);
async fn callback_as_first_call_ends(url: &str) {
    let mut s = start(config(url)).await;
    let (_token, mut ws) = ready_navigator(&mut s, "nav1").await;
    let ev = s.cti.events();
    queued_call(&ev, "cb2", 1_000).await;
    // The queues dial the callback as soon as the caller hangs up; the
    // record of the first call ends a moment later.
    ev.send(CallEvent::Offered {
        call_id: "cb2".into(),
        navigator: "nav1".into(),
        callback: true,
        at_ms: 5_000,
    })
    .await
    .unwrap();
    s.acd.reserved("nav1").await;
    assert_eq!(ws.expect("call_offered").await["callback"], true);
    assert_eq!(ws.expect("state_changed").await["state"], "reserved");
    ev.send(CallEvent::Ended {
        call_id: "cb2".into(),
        disposition: Disposition::Callback,
        at_ms: 5_001,
    })
    .await
    .unwrap();
    ev.send(CallEvent::Answered {
        call_id: "cb2".into(),
        at_ms: 9_000,
    })
    .await
    .unwrap();
    s.acd.busy("nav1").await;
    // Next on the socket: the answer, not a withdrawal.
    ws.expect("call_answered").await;
    assert_eq!(ws.expect("state_changed").await["state"], "busy");
    let v = s.cti.navigator("nav1").unwrap();
    assert_eq!(v.call_id.as_deref(), Some("cb2"));
}

crate::on_both_backends!(
    callbacks_requested_and_never_answered_are_found_again_oldest_first,
    callbacks_requested
);
async fn callbacks_requested(url: &str) {
    let s = start(config(url)).await;
    let ev = s.cti.events();
    let step = |call: &str, kind: &str, at_ms: i64| CallEvent::QueueStep {
        call_id: call.into(),
        kind: kind.into(),
        detail: String::new(),
        at_ms,
    };
    // b asked first, then a; c asked and was called back (answered); d
    // asked long ago; e never asked.
    for (i, call) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        queued_call(&ev, call, 1_000 + i as i64).await;
    }
    for e in [
        step("d", "callback_requested", 500),
        step("b", "callback_requested", 10_000),
        step("a", "callback_requested", 11_000),
        step("c", "callback_requested", 12_000),
        CallEvent::Answered {
            call_id: "c".into(),
            at_ms: 13_000,
        },
        step("e", "queued", 14_000),
    ] {
        ev.send(e).await.unwrap();
    }
    ev.flush().await;
    let found = s.cti.store().callbacks_requested(5_000).await.unwrap();
    assert_eq!(found, ["b", "a"]);
}

crate::on_both_backends!(
    requests_are_answered_only_once_the_acd_has_decided,
    answered_once_decided
);
async fn answered_once_decided(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let token = s.login("nav1").await;
    // The queues read nothing until the test hands them each command.
    let mut queues = s.acd.hold().await;
    let mut ws = s.ws(&token).await;
    let login = queues.recv().await.expect("the login request");
    assert!(
        matches!(&login, NavigatorCommand::StateRequest { navigator, request: StateRequest::Login, .. } if navigator == "nav1"),
        "{login:?}"
    );
    let silent = Duration::from_millis(300);
    assert!(
        tokio::time::timeout(silent, ws.next()).await.is_err(),
        "hello before the queues logged them in"
    );
    s.acd.handle(login).await;
    let hello = ws.expect("hello").await;
    assert_eq!(
        (
            hello["state"]["state"].as_str(),
            hello["state"]["reason"].as_str()
        ),
        (Some("not_ready"), Some("login"))
    );

    // set_state waits for the ACD's answer; an unchanged state (a request it
    // refused, say) still answers it: state_changed, then ack.
    ws.send(json!({"type": "set_state", "id": "s1", "state": "ready"}))
        .await;
    let Some(NavigatorCommand::StateRequest {
        request: StateRequest::Ready,
        ticket,
        ..
    }) = queues.recv().await
    else {
        panic!("not a ready request");
    };
    assert!(
        tokio::time::timeout(silent, ws.next()).await.is_err(),
        "answered before the ACD decided"
    );
    let mut unchanged = acd_state("nav1", AgentState::NotReady, Some("login"), None);
    if let CallEvent::NavigatorState { answers, .. } = &mut unchanged {
        *answers = Some(ticket);
    }
    s.cti.events().send(unchanged).await.unwrap();
    let st = ws.expect("state_changed").await;
    assert_eq!(
        (st["state"].as_str(), st["reason"].as_str()),
        (Some("not_ready"), Some("login"))
    );
    assert_eq!(ws.expect("ack").await["re"], "s1");
    assert_eq!(
        s.cti.navigator("nav1").unwrap().state.state,
        AgentState::NotReady
    );
}
