//! The store answers the same on SQLite and PostgreSQL.

use frontdoor_cti::protocol::{
    AgeBand, CallLog, Caller, FollowUp, FollowUpMethod, Inquirer, Need, Referral, Role, UnmetReason,
};
use frontdoor_cti::store::Store;
use frontdoor_cti::{Error, UserCommand, run_user_command};

crate::on_both_backends!(accounts_add_list_disable_passwd, accounts);
async fn accounts(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let out = run_user_command(
        &store,
        UserCommand::Add {
            username: "nav1".into(),
            role: Role::Navigator,
            centre: "ottawa".into(),
            languages: vec!["en".into(), "fr".into()],
            crisis: true,
            password_stdin: true,
            sip_secret_stdin: false,
        },
        "hunter2hunter2\n".as_bytes(),
    )
    .await
    .unwrap();
    // The phone gets its own secret, shown once: not the password.
    let (added, shown) = out.split_once('\n').unwrap();
    assert_eq!(added, "added nav1 (navigator, ottawa)");
    let secret = shown.trim_end().rsplit(": ").next().unwrap().to_owned();
    assert!(
        shown.starts_with("SIP secret for nav1's phone (shown once") && secret.len() == 20,
        "{out}"
    );
    let again = run_user_command(
        &store,
        UserCommand::Add {
            username: "nav1".into(),
            role: Role::Ops,
            centre: "x".into(),
            languages: vec!["en".into()],
            crisis: false,
            password_stdin: true,
            sip_secret_stdin: false,
        },
        "another-password\n".as_bytes(),
    )
    .await;
    assert!(matches!(again, Err(Error::AccountExists(_))), "{again:?}");
    let short = run_user_command(
        &store,
        UserCommand::Add {
            username: "nav2".into(),
            role: Role::Navigator,
            centre: "windsor".into(),
            languages: vec!["en".into()],
            crisis: false,
            password_stdin: true,
            sip_secret_stdin: false,
        },
        "short\n".as_bytes(),
    )
    .await;
    assert!(matches!(short, Err(Error::Invalid(_))), "{short:?}");

    let a = store.account("nav1").await.unwrap().unwrap();
    assert_eq!(a.info.languages, vec!["en", "fr"]);
    assert!(a.info.crisis_trained);
    assert!(frontdoor_cti::accounts::verify_password(
        "hunter2hunter2",
        &a.password_hash
    ));
    // The digest credentials come from the secret, never the password: a
    // leaked MD5 HA1 does not give the password away.
    assert_eq!(a.ha1_md5, frontdoor_cti::accounts::ha1_md5("nav1", &secret));
    assert_eq!(
        a.ha1_sha256,
        frontdoor_cti::accounts::ha1_sha256("nav1", &secret)
    );
    assert_ne!(
        a.ha1_md5,
        frontdoor_cti::accounts::ha1_md5("nav1", "hunter2hunter2")
    );

    let list = run_user_command(&store, UserCommand::List, "".as_bytes())
        .await
        .unwrap();
    assert_eq!(
        list,
        "USERNAME\tROLE\tCENTRE\tLANGUAGES\tCRISIS\tSTATUS\nnav1\tnavigator\tottawa\ten,fr\tyes\tactive\n"
    );

    run_user_command(
        &store,
        UserCommand::Passwd {
            username: "nav1".into(),
            password_stdin: true,
        },
        "new-password-1\n".as_bytes(),
    )
    .await
    .unwrap();
    let a = store.account("nav1").await.unwrap().unwrap();
    assert!(frontdoor_cti::accounts::verify_password(
        "new-password-1",
        &a.password_hash
    ));
    assert_eq!(
        a.ha1_md5,
        frontdoor_cti::accounts::ha1_md5("nav1", &secret),
        "a new password leaves the phone's secret alone"
    );

    // A new secret for the phone, chosen by the administrator.
    let out = run_user_command(
        &store,
        UserCommand::SipSecret {
            username: "nav1".into(),
            sip_secret_stdin: true,
        },
        "phone-secret-2\n".as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(out, "new SIP secret for nav1\n", "not shown: it was typed");
    let a = store.account("nav1").await.unwrap().unwrap();
    assert_eq!(
        a.ha1_md5,
        frontdoor_cti::accounts::ha1_md5("nav1", "phone-secret-2")
    );

    run_user_command(
        &store,
        UserCommand::Disable {
            username: "nav1".into(),
        },
        "".as_bytes(),
    )
    .await
    .unwrap();
    assert!(store.account("nav1").await.unwrap().unwrap().disabled);
    let missing = run_user_command(
        &store,
        UserCommand::Disable {
            username: "nobody".into(),
        },
        "".as_bytes(),
    )
    .await;
    assert!(matches!(missing, Err(Error::NoSuchAccount(_))));

    let audit = store.audit_log(10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["user.disable", "user.sip-secret", "user.passwd", "user.add"]
    );
}

/// A scripted history of calls and logs; returns every answer the store gives
/// about it as JSON, so the two backends can be compared value for value.
async fn scripted_answers(url: &str) -> serde_json::Value {
    let store = Store::connect(url).await.unwrap();
    if let Some(mode) = store.sqlite_journal_mode().await.unwrap() {
        assert_eq!(mode, "wal");
    }
    store.ping().await.unwrap();
    let cti = frontdoor_cti::Cti::with_store(store.clone(), frontdoor_cti::CtiConfig::default()).0;
    let ev = cti.events();
    use frontdoor_cti::protocol::{Disposition, RegionSource};
    use frontdoor_cti::{CallAttribute, CallEvent, Route};
    for (i, caller) in ["+16135550123", "+16135550123", "+18075550000"]
        .into_iter()
        .enumerate()
    {
        let id = format!("call-{i}");
        let t = 1_000_000 + i as i64 * 100_000;
        ev.send(CallEvent::Arrived {
            call_id: id.clone(),
            caller: Caller::Number(caller.into()),
            dialled: "211".into(),
            at_ms: t,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Step {
            call_id: id.clone(),
            step: "greeting".into(),
            at_ms: t + 1,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Language("fr".into()),
            at_ms: t + 2,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Region {
                region: "ottawa".into(),
                source: RegionSource::Exchange,
            },
            at_ms: t + 3,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Step {
            call_id: id.clone(),
            step: "topic:housing".into(),
            at_ms: t + 4,
        })
        .await
        .unwrap();
        ev.send(CallEvent::Attribute {
            call_id: id.clone(),
            attribute: CallAttribute::Topic("housing".into()),
            at_ms: t + 5,
        })
        .await
        .unwrap();
        if i < 2 {
            ev.send(CallEvent::Routed {
                call_id: id.clone(),
                route: Route::Queue {
                    centre: "ottawa".into(),
                },
                at_ms: t + 6,
            })
            .await
            .unwrap();
            ev.send(CallEvent::Ended {
                call_id: id.clone(),
                disposition: Disposition::AbandonedInQueue,
                at_ms: t + 9000,
            })
            .await
            .unwrap();
        }
    }
    ev.flush().await;
    // A log for call-0, stored once however often it is sent.
    let log = CallLog {
        call_id: "call-0".into(),
        needs: vec![
            Need {
                code: "BH-1800".into(),
                met: true,
                unmet_reason: None,
            },
            Need {
                code: "BD".into(),
                met: false,
                unmet_reason: Some(UnmetReason::Cost),
            },
        ],
        referrals: vec![Referral {
            name: "Shelter North".into(),
            code: Some("BH-1800".into()),
            phone: Some("+16135550199".into()),
            service_id: None,
        }],
        demographics: [("household".to_string(), "family".to_string())].into(),
        age_band: Some(AgeBand::From25),
        inquirer: Some(Inquirer::SelfInquirer),
        area: Some("K1A".into()),
        notes: "called back later".into(),
        follow_up: Some(FollowUp {
            due: "2026-12-01".into(),
            reason: "check shelter bed".into(),
            consent: true,
            method: Some(FollowUpMethod::Phone),
        }),
        ..CallLog::default()
    };
    let (id1, dup1) = store
        .save_call_log("nav1", "c-1", &log, false, 5_000_000)
        .await
        .unwrap();
    let (id2, dup2) = store
        .save_call_log("nav1", "c-1", &log, false, 5_000_001)
        .await
        .unwrap();
    assert_eq!((id1, dup1, dup2), (id2, false, true));
    let bad = CallLog {
        needs: vec![Need {
            code: "ZZ-9999".into(),
            met: true,
            unmet_reason: None,
        }],
        ..log.clone()
    };
    let err = store
        .save_call_log("nav1", "c-2", &bad, false, 5_000_002)
        .await;
    assert!(
        matches!(err, Err(Error::UnknownTaxonomyCode(ref c)) if c == "ZZ-9999"),
        "{err:?}"
    );
    let bad_date = CallLog {
        follow_up: Some(FollowUp {
            due: "tomorrow".into(),
            reason: "x".into(),
            consent: true,
            method: Some(FollowUpMethod::Phone),
        }),
        ..log.clone()
    };
    let err = store
        .save_call_log("nav1", "c-3", &bad_date, false, 5_000_003)
        .await;
    assert!(
        matches!(err, Err(Error::Field { ref field, .. }) if field == "follow_up.due"),
        "{err:?}"
    );

    store
        .record_flow_activation("v1", "abc123", "ops1", 10)
        .await
        .unwrap();
    store
        .record_flow_activation("v2", "def456", "ops1", 20)
        .await
        .unwrap();
    store
        .set_emergency(true, "ice storm", "2026-ice-storm", &[], "ops1", 30)
        .await
        .unwrap();

    let unfinished = store.unfinished_calls().await.unwrap();
    assert_eq!(unfinished.len(), 1, "call-2 never ended");
    assert_eq!(
        unfinished[0].last_step, "topic:housing",
        "the last known step survives"
    );

    let logs = store.call_logs("call-0").await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].log, log);

    serde_json::json!({
        "calls": [store.call("call-0").await.unwrap(), store.call("call-1").await.unwrap(), store.call("call-2").await.unwrap()],
        "events": store.call_events("call-0").await.unwrap(),
        "logs": logs,
        "history": store.previous_contacts(&Caller::Number("+16135550123".into()), Some("call-9"), 10).await.unwrap(),
        "history_except": store.previous_contacts(&Caller::Number("+16135550123".into()), Some("call-1"), 10).await.unwrap(),
        "anonymous": store.previous_contacts(&Caller::Withheld, None, 10).await.unwrap(),
        "flows": store.flow_versions().await.unwrap(),
        "emergency": store.emergency().await.unwrap(),
        "taxonomy": store.taxonomy_codes().await.unwrap(),
        "unfinished": unfinished,
        // After a crash: the next start closes it.
        "interrupted": store.close_interrupted().await.unwrap(),
        "call_2_closed": store.call("call-2").await.unwrap(),
        "call_2_events": store.call_events("call-2").await.unwrap(),
        "unfinished_after": store.unfinished_calls().await.unwrap(),
    })
}

crate::on_both_backends!(call_records_logs_and_history, call_records);
async fn call_records(url: &str) {
    let v = scripted_answers(url).await;
    assert_eq!(v["interrupted"], serde_json::json!(["call-2"]));
    let closed = &v["call_2_closed"];
    assert_eq!(closed["disposition"], "interrupted", "{closed}");
    assert_eq!(closed["last_step"], "topic:housing", "{closed}");
    let events = v["call_2_events"].as_array().unwrap();
    let before_close = &events[events.len() - 2];
    assert_eq!(
        closed["ended_ms"], before_close["at_ms"],
        "closed at its last known step"
    );
    assert_eq!(events.last().unwrap()["kind"], "ended");
    assert_eq!(v["unfinished_after"], serde_json::json!([]));
    let history = v["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["call_id"], "call-1", "newest first");
    assert_eq!(history[1]["needs"][0]["code"], "BH-1800");
    assert_eq!(history[1]["follow_up"]["due"], "2026-12-01");
    assert_eq!(v["history_except"].as_array().unwrap().len(), 1);
    assert_eq!(v["anonymous"].as_array().unwrap().len(), 0);
    let c0 = &v["calls"][0];
    assert_eq!(c0["language"], "fr");
    assert_eq!(c0["region_source"], "exchange");
    assert_eq!(
        c0["ivr_path"],
        serde_json::json!(["greeting", "topic:housing"])
    );
    assert_eq!(c0["disposition"], "abandoned_in_queue");
    assert_eq!(c0["route"], "queue:ottawa");
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "arrived",
            "ivr_step",
            "attribute",
            "attribute",
            "ivr_step",
            "attribute",
            "routed",
            "ended",
            "logged"
        ]
    );
    assert_eq!(v["flows"][0]["version"], "v2");
    assert_eq!(v["emergency"]["active"], true);
}

/// The same script gives identical answers on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_give_identical_answers() {
    let lite = crate::db::sqlite();
    let pg = crate::db::postgres().await;
    let a = scripted_answers(&lite.url).await;
    let b = scripted_answers(&pg.url).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn bad_database_urls_are_refused() {
    for url in ["mysql://x", "frontdoor.db", "sqlite://"] {
        assert!(
            matches!(Store::connect(url).await, Err(Error::BadDbUrl(_))),
            "{url}"
        );
    }
}

crate::on_both_backends!(a_refused_event_loses_only_itself, refused_event);
/// Events share a transaction; one the store refuses (a second arrival for
/// the same call) is rolled back alone, counted, and the rest are kept.
async fn refused_event(url: &str) {
    use frontdoor_cti::{CallEvent, Cti};
    let (cti, _commands) = Cti::start(crate::server::config(url)).await.unwrap();
    let events = cti.events();
    let arrived = |id: &str| CallEvent::Arrived {
        call_id: id.into(),
        caller: Caller::Number("+16135550123".into()),
        dialled: "211".into(),
        at_ms: 1_000,
    };
    let step = |id: &str, step: &str| CallEvent::Step {
        call_id: id.into(),
        step: step.into(),
        at_ms: 2_000,
    };
    for ev in [
        arrived("batch-1"),
        step("batch-1", "greeting"),
        arrived("batch-1"),
        arrived("batch-2"),
        step("batch-2", "topic"),
    ] {
        events.send(ev).await.unwrap();
    }
    events.flush().await;
    let store = cti.store();
    let one = store.call("batch-1").await.unwrap().expect("batch-1 kept");
    assert_eq!(one.ivr_path, ["greeting"]);
    let two = store.call("batch-2").await.unwrap().expect("batch-2 kept");
    assert_eq!(two.last_step, "topic");
    assert_eq!(
        cti.status().store_errors(),
        1,
        "the duplicate arrival, only"
    );
}

crate::on_both_backends!(registrations_are_kept_replaced_and_expire, registrations);
async fn registrations(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .put_registration("nav1", Some((r#"[{"contact":"a"}]"#, 5_000)), 1_000)
        .await
        .unwrap();
    store
        .put_registration("nav2", Some((r#"[{"contact":"b"}]"#, 2_000)), 1_000)
        .await
        .unwrap();
    store
        .put_registration("nav1", Some((r#"[{"contact":"c"}]"#, 9_000)), 1_500)
        .await
        .unwrap();
    assert_eq!(
        store.registrations(1_000).await.unwrap(),
        [
            ("nav1".to_owned(), r#"[{"contact":"c"}]"#.to_owned()),
            ("nav2".to_owned(), r#"[{"contact":"b"}]"#.to_owned()),
        ]
    );
    assert_eq!(
        store.registrations(3_000).await.unwrap().len(),
        1,
        "nav2 expired"
    );
    store.put_registration("nav1", None, 2_000).await.unwrap();
    assert!(
        store.registrations(0).await.unwrap().is_empty()
            || store.registrations(3_000).await.unwrap().is_empty()
    );
}

/// The SQLite file holds callers' numbers and needs: only its owner reads it.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = crate::db::sqlite();
    let store = Store::connect(&db.url).await.unwrap();
    store.ping().await.unwrap();
    let path = db.url.trim_start_matches("sqlite://");
    for file in [path.to_string(), format!("{path}-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} is open to others: {mode:o}");
    }
}

/// With `sslmode=require` in its URL the store talks to PostgreSQL over TLS
/// (sqlx's rustls), and says nothing of it otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_when_the_url_asks_for_it() {
    let db = crate::db::postgres().await;
    let url = format!("{}?sslmode=require", db.url);
    let store = frontdoor_cti::Store::connect(&url)
        .await
        .expect("the store over TLS");
    let row = sqlx::query(
        "SELECT CAST(ssl AS INTEGER) AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .fetch_one(store.pool())
    .await
    .expect("pg_stat_ssl");
    let ssl: i32 = sqlx::Row::try_get(&row, "ssl").expect("ssl column");
    assert_eq!(ssl, 1, "the connection is encrypted");
    store.close().await;
}

crate::on_both_backends!(old_callers_numbers_become_keyed_hashes, retention);
async fn retention(url: &str) {
    use frontdoor_cti::CallEvent;
    let store = Store::connect(url).await.unwrap();
    let cti = frontdoor_cti::Cti::with_store(store.clone(), frontdoor_cti::CtiConfig::default()).0;
    let ev = cti.events();
    // Two old calls from one number, one from another, and a recent one.
    for (id, caller, at) in [
        ("old-1", "+16135550123", 1_000),
        ("old-2", "+16135550123", 2_000),
        ("old-3", "+18075550000", 3_000),
        ("new-1", "+16135550123", 900_000),
    ] {
        ev.send(CallEvent::Arrived {
            call_id: id.into(),
            caller: Caller::Number(caller.into()),
            dialled: "211".into(),
            at_ms: at,
        })
        .await
        .unwrap();
    }
    ev.flush().await;
    let report = store
        .purge_callers(500_000, "cli", 1_000_000)
        .await
        .unwrap();
    assert_eq!((report.records, report.numbers), (3, 2), "{report:?}");

    let caller = |r: Option<frontdoor_cti::store::CallRecord>| match r.unwrap().caller {
        Caller::Number(n) => n,
        other => panic!("{other:?}"),
    };
    let (a, b, c) = (
        caller(store.call("old-1").await.unwrap()),
        caller(store.call("old-2").await.unwrap()),
        caller(store.call("old-3").await.unwrap()),
    );
    assert!(a.starts_with("h:") && a.len() == 26, "{a}");
    assert_eq!(
        a, b,
        "the same number, the same hash: repeat callers still count"
    );
    assert_ne!(a, c);
    assert_eq!(
        caller(store.call("new-1").await.unwrap()),
        "+16135550123",
        "recent calls keep it"
    );
    // The arrival event named the number: it names the hash now.
    let events = store.call_events("old-1").await.unwrap();
    assert!(
        events.iter().all(|e| !e.detail.contains("+16135550123")),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.detail.contains(&a)), "{events:?}");
    // Audited; and a second run has nothing left to do, with the same key.
    let audit = store.audit_log(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "store.purge" && e.actor == "cli"),
        "{audit:?}"
    );
    let again = store
        .purge_callers(500_000, "system", 1_000_001)
        .await
        .unwrap();
    assert_eq!(again.records, 0);
    ev.send(CallEvent::Arrived {
        call_id: "old-4".into(),
        caller: Caller::Number("+16135550123".into()),
        dialled: "211".into(),
        at_ms: 4_000,
    })
    .await
    .unwrap();
    ev.flush().await;
    store
        .purge_callers(500_000, "system", 1_000_002)
        .await
        .unwrap();
    assert_eq!(
        caller(store.call("old-4").await.unwrap()),
        a,
        "the key is kept"
    );
}

crate::on_both_backends!(
    a_write_transaction_that_reads_first_survives_a_concurrent_writer,
    read_then_write
);
/// A write transaction reads, another connection writes and commits, then
/// the transaction writes: on SQLite a deferred transaction would fail at
/// once ("database is locked": it cannot upgrade past the newer commit);
/// `begin_write` takes the lock first, so the other writer waits its turn.
async fn read_then_write(url: &str) {
    let store = frontdoor_cti::store::Store::connect(url).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM taxonomy")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let other = store.clone();
    let concurrent = tokio::spawn(async move {
        sqlx::query(
            "INSERT INTO taxonomy (code, name_en, name_fr, retired) VALUES ('ZZ-1', 'a', 'a', 0)",
        )
        .execute(other.pool())
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sqlx::query(
        "INSERT INTO taxonomy (code, name_en, name_fr, retired) VALUES ('ZZ-2', 'b', 'b', 0)",
    )
    .execute(&mut *tx)
    .await
    .expect("the transaction's write");
    tx.commit().await.unwrap();
    concurrent.await.unwrap().expect("the other writer's turn");
    let n: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM taxonomy WHERE code LIKE 'ZZ-%'")
            .fetch_one(store.pool())
            .await
            .unwrap(),
        "n",
    );
    assert_eq!(n, 2);
}

async fn audit_search(url: &str) {
    use frontdoor_cti::store::{AuditEntry, AuditFilter};
    let store = Store::connect(url).await.unwrap();
    let row = |at_ms: i64, actor: &str, action: &str, target: &str| AuditEntry {
        at_ms,
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        outcome: "ok".into(),
        detail: String::new(),
        peer: "127.0.0.1".into(),
    };
    for e in [
        row(1_000, "sup1", "GET /api/calls/{id}", "call-7"),
        row(
            2_000,
            "nav1",
            "GET /api/callers/{number}/history",
            "+16135550123",
        ),
        row(3_000, "ops1", "flow.activate", "3c8f161cab49"),
        row(4_000, "sup1", "navigator.state.force", "nav1"),
        // A target with the LIKE wildcards in it.
        row(5_000, "ops1", "user.add", "a_b%c"),
    ] {
        store.audit(&e).await.unwrap();
    }
    let all = AuditFilter {
        actor: None,
        action: None,
        target: None,
        from_ms: 0,
        to_ms: 10_000,
        limit: 100,
    };
    let targets = |rows: Vec<AuditEntry>| rows.into_iter().map(|r| r.target).collect::<Vec<_>>();
    assert_eq!(
        targets(store.audit_search(&all).await.unwrap()),
        ["a_b%c", "nav1", "3c8f161cab49", "+16135550123", "call-7"],
        "newest first"
    );
    let by = |f: AuditFilter| {
        let store = store.clone();
        async move { targets(store.audit_search(&f).await.unwrap()) }
    };
    assert_eq!(
        by(AuditFilter {
            actor: Some("sup1".into()),
            ..all.clone()
        })
        .await,
        ["nav1", "call-7"]
    );
    assert_eq!(
        by(AuditFilter {
            action: Some("flow.".into()),
            ..all.clone()
        })
        .await,
        ["3c8f161cab49"]
    );
    // Which caller: a part of their number.
    assert_eq!(
        by(AuditFilter {
            target: Some("5550123".into()),
            ..all.clone()
        })
        .await,
        ["+16135550123"]
    );
    // `_` and `%` are letters here, not wildcards.
    assert_eq!(
        by(AuditFilter {
            target: Some("a_b%".into()),
            ..all.clone()
        })
        .await,
        ["a_b%c"]
    );
    assert!(
        by(AuditFilter {
            target: Some("a%c".into()),
            ..all.clone()
        })
        .await
        .is_empty()
    );
    // When: from inclusive, to exclusive; and the limit.
    assert_eq!(
        by(AuditFilter {
            from_ms: 2_000,
            to_ms: 4_000,
            ..all.clone()
        })
        .await,
        ["3c8f161cab49", "+16135550123"]
    );
    assert_eq!(
        by(AuditFilter {
            limit: 1,
            ..all.clone()
        })
        .await,
        ["a_b%c"]
    );
}

crate::on_both_backends!(
    the_audit_log_is_searched_by_who_what_which_and_when,
    audit_search
);
