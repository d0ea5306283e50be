//! A caller's history in the screen pop: a number's earlier calls are
//! listed; a withheld caller has none, however many withheld calls were
//! logged before (those are other people's).

use frontdoor_cti::CallEvent;
use frontdoor_cti::protocol::{
    CallLog, Caller, Disposition, FollowUp, FollowUpMethod, Need, Role, UnmetReason,
};
use serde_json::json;

use crate::server::{TestServer, config, start};

type CallerArg = Caller;

fn withheld_caller() -> CallerArg {
    Caller::Withheld
}

fn number(n: &str) -> CallerArg {
    Caller::Number(n.into())
}

/// One earlier call from `caller`, taken by nav9 and logged with a need
/// and a note.
async fn logged_call(s: &TestServer, call_id: &str, caller: CallerArg, at_ms: i64) {
    let ev = s.cti.events();
    for e in [
        CallEvent::Arrived {
            call_id: call_id.into(),
            caller,
            dialled: "211".into(),
            at_ms,
        },
        CallEvent::Offered {
            call_id: call_id.into(),
            navigator: "nav9".into(),
            callback: false,
            at_ms: at_ms + 1_000,
        },
        CallEvent::Answered {
            call_id: call_id.into(),
            at_ms: at_ms + 2_000,
        },
        CallEvent::Ended {
            call_id: call_id.into(),
            disposition: Disposition::Answered,
            at_ms: at_ms + 60_000,
        },
    ] {
        ev.send(e).await.unwrap();
    }
    ev.flush().await;
    let log = CallLog {
        call_id: call_id.into(),
        needs: vec![Need {
            code: "BH-1800".into(),
            met: false,
            unmet_reason: Some(UnmetReason::Waitlist),
        }],
        notes: format!("private notes of {call_id}"),
        follow_up: Some(FollowUp {
            due: "2026-12-02".into(),
            reason: "shelter bed".into(),
            consent: true,
            method: Some(FollowUpMethod::Phone),
        }),
        ..CallLog::default()
    };
    s.cti
        .store()
        .save_call_log(
            "nav9",
            &format!("log-{call_id}"),
            &log,
            false,
            at_ms + 90_000,
        )
        .await
        .unwrap();
}

/// Offers a new call from `caller` to `navigator` and returns the pop.
async fn pop_for(
    s: &TestServer,
    navigator: &str,
    call_id: &str,
    caller: CallerArg,
    at_ms: i64,
) -> serde_json::Value {
    let token = s.login(navigator).await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    let ev = s.cti.events();
    for e in [
        CallEvent::Arrived {
            call_id: call_id.into(),
            caller,
            dialled: "211".into(),
            at_ms,
        },
        CallEvent::Offered {
            call_id: call_id.into(),
            navigator: navigator.into(),
            callback: false,
            at_ms: at_ms + 1_000,
        },
    ] {
        ev.send(e).await.unwrap();
    }
    ws.expect("call_offered").await
}

crate::on_both_backends!(a_withheld_callers_pop_lists_no_previous_contacts, withheld);
async fn withheld(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav9", Role::Navigator, "ottawa").await;
    logged_call(&s, "w-1", withheld_caller(), 1_000_000).await;
    logged_call(&s, "w-2", withheld_caller(), 2_000_000).await;

    let pop = pop_for(&s, "nav1", "w-3", withheld_caller(), 3_000_000).await;
    assert_eq!(
        (pop["caller"].clone(), pop["previous_contacts"].clone()),
        (json!("anonymous"), json!([])),
        "a withheld caller is nobody in particular: {pop}"
    );

    // Records written before the caller was a type said "withheld" (or
    // nothing): they read as withheld too, and a call rebuilt from such a
    // record after a restart pops with no history either.
    let store = s.cti.store();
    for (id, legacy) in [("w-1", "withheld"), ("w-2", "")] {
        sqlx::query("UPDATE call_records SET caller = $1 WHERE call_id = $2")
            .bind(legacy)
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(
            store.call(id).await.unwrap().unwrap().caller,
            Caller::Withheld
        );
    }
    sqlx::query(
        "INSERT INTO call_records (call_id, caller, dialled, arrived_ms, last_step) \
         VALUES ('w-4', 'withheld', '211', 4000000, 'arrived')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let token = s.login("nav9").await;
    let mut ws = s.ws(&token).await;
    ws.expect("hello").await;
    s.cti
        .events()
        .send(CallEvent::Offered {
            call_id: "w-4".into(),
            navigator: "nav9".into(),
            callback: false,
            at_ms: 4_001_000,
        })
        .await
        .unwrap();
    let pop = ws.expect("call_offered").await;
    assert_eq!(
        (pop["caller"].clone(), pop["previous_contacts"].clone()),
        (json!("anonymous"), json!([])),
        "{pop}"
    );
    for legacy in ["withheld", "", "anonymous", "Anonymous"] {
        let caller = Caller::parse(legacy);
        assert_eq!(caller, Caller::Withheld, "{legacy:?}");
        assert_eq!(
            store.previous_contacts(&caller, None, 10).await.unwrap(),
            []
        );
    }
    // Even a "number" that is a withheld word has no history.
    let odd = Caller::Number("withheld".into());
    assert_eq!(store.previous_contacts(&odd, None, 10).await.unwrap(), []);
}

crate::on_both_backends!(a_numbers_pop_lists_its_earlier_calls, numbered);
async fn numbered(url: &str) {
    let s = start(config(url)).await;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("nav9", Role::Navigator, "ottawa").await;
    logged_call(&s, "n-1", number("+16135550123"), 1_000_000).await;
    logged_call(&s, "n-2", number("+16135550199"), 1_500_000).await;
    logged_call(&s, "w-1", withheld_caller(), 2_000_000).await;

    let pop = pop_for(&s, "nav1", "n-3", number("+16135550123"), 3_000_000).await;
    assert_eq!(pop["caller"], "+16135550123");
    let contacts = pop["previous_contacts"].as_array().unwrap();
    let ids: Vec<&str> = contacts
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["n-1"], "only this number's calls: {pop}");
    assert_eq!(
        contacts[0]["needs"],
        json!([{"code": "BH-1800", "met": false, "unmet_reason": "waitlist"}])
    );
    assert_eq!(contacts[0]["follow_up"]["due"], "2026-12-02");
}
