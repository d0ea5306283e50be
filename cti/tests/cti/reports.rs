//! The reports against a small fixture whose every figure was worked out by
//! hand (docs/reports.md says what each column counts), on both backends:
//! ten calls around January 2026 in Toronto time, one of them at 23:30 on
//! January 31 (already February in UTC) and one at 00:30 on February 1.

use frontdoor_cti::Store;
use frontdoor_cti::reports::{self, By, Kind, Query, ReportsConfig};
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;

fn tz() -> TimeZone {
    TimeZone::get("America/Toronto").unwrap()
}

/// Epoch ms of a local time in Toronto.
fn at(d: Date, h: i8, m: i8, s: i8) -> i64 {
    d.at(h, m, s, 0)
        .to_zoned(tz())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

const S: i64 = 1000;

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One queued call: waited `wait_s`, then answered and talked `talk_s` (or
/// ended with `disposition`). Returns its arrival.
#[allow(clippy::too_many_arguments)]
async fn call(
    store: &Store,
    id: &str,
    arrived: i64,
    centre: Option<&str>,
    crisis: bool,
    wait_s: i64,
    talk_s: Option<i64>,
    disposition: &str,
    navigator: Option<&str>,
    extra: &str,
) {
    let queued = arrived + 20 * S;
    let (answered, ended) = match talk_s {
        Some(t) => (
            (queued + wait_s * S).to_string(),
            queued + wait_s * S + t * S,
        ),
        None => ("NULL".into(), queued + wait_s * S),
    };
    let route = match centre {
        _ if crisis => "'crisis'".to_string(),
        Some(c) => format!("'queue:{c}'"),
        None => "NULL".into(),
    };
    let centre = centre.map_or("NULL".into(), |c| format!("'{c}'"));
    let navigator = navigator.map_or("NULL".into(), |n| format!("'{n}'"));
    exec(
        store,
        &format!(
            "INSERT INTO call_records (call_id, caller, dialled, arrived_ms, queued_ms, answered_ms, \
             ended_ms, language, region, centre, crisis, navigator, disposition, last_step, route) VALUES \
             ('{id}', '+16135550100', '211', {arrived}, {queued}, {answered}, {ended}, 'en', 'east', \
             {centre}, {}, {navigator}, '{disposition}', 'ended', {route})",
            i64::from(crisis)
        ),
    )
    .await;
    if !extra.is_empty() {
        exec(
            store,
            &format!("UPDATE call_records SET {extra} WHERE call_id = '{id}'"),
        )
        .await;
    }
}

/// A log of `call` saved `after_end_s` after its end (negative: during it),
/// with needs `(code, unmet reason or "")`; returns its id.
#[allow(clippy::too_many_arguments)]
async fn log(
    store: &Store,
    id: i64,
    call_id: &str,
    navigator: &str,
    after_end_s: i64,
    needs: &[(&str, &str)],
    columns: &str,
    values: &str,
) {
    let (cols, vals) = if columns.is_empty() {
        (String::new(), String::new())
    } else {
        (format!(", {columns}"), format!(", {values}"))
    };
    exec(
        store,
        &format!(
            "INSERT INTO call_logs (id, call_id, navigator, client_id, saved_ms{cols}) \
             SELECT {id}, call_id, '{navigator}', 'c{id}', ended_ms + {}{vals} \
             FROM call_records WHERE call_id = '{call_id}'",
            after_end_s * S
        ),
    )
    .await;
    for (i, (code, reason)) in needs.iter().enumerate() {
        let (met, reason) = if reason.is_empty() {
            (1, "NULL".to_string())
        } else {
            (0, format!("'{reason}'"))
        };
        exec(
            store,
            &format!(
                "INSERT INTO call_log_needs (log_id, position, code, met, unmet_reason) \
                 VALUES ({id}, {i}, '{code}', {met}, {reason})"
            ),
        )
        .await;
    }
}

async fn fixture(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    let jan10 = date(2026, 1, 10);
    let t = at(jan10, 10, 0, 0);
    let ottawa = Some("ottawa");
    // c1: answered after 30 s, 300 s talk, log 60 s after the end.
    call(
        &store,
        "c1",
        t,
        ottawa,
        false,
        30,
        Some(300),
        "answered",
        Some("nav1"),
        "",
    )
    .await;
    // c2: answered after 90 s (past the 60 s target), 200 s talk; its log
    // was saved during the call, then corrected.
    call(
        &store,
        "c2",
        t + 60 * S,
        ottawa,
        false,
        90,
        Some(200),
        "answered",
        Some("nav1"),
        "",
    )
    .await;
    // c3: hung up after 5 s (a short abandon); c4 after 40 s.
    call(
        &store,
        "c3",
        t + 120 * S,
        ottawa,
        false,
        5,
        None,
        "abandoned_in_queue",
        None,
        "",
    )
    .await;
    call(
        &store,
        "c4",
        t + 180 * S,
        ottawa,
        false,
        40,
        None,
        "abandoned_in_queue",
        None,
        "",
    )
    .await;
    // c5: asked for a callback, which reached the caller.
    call(
        &store,
        "c5",
        t + 240 * S,
        ottawa,
        false,
        100,
        None,
        "callback",
        None,
        "callback = 1, callback_outcome = 'made'",
    )
    .await;
    // c6: a crisis call answered in 10 s, 600 s talk, no log.
    call(
        &store,
        "c6",
        t + 300 * S,
        None,
        true,
        10,
        Some(600),
        "answered",
        Some("crisis1"),
        "",
    )
    .await;
    // c7: overflowed, answered after 20 s, 250 s talk; during the incident.
    call(
        &store,
        "c7",
        t + 360 * S,
        ottawa,
        false,
        20,
        Some(250),
        "answered",
        Some("nav1"),
        "overflowed = 1, incident = 'test-flood'",
    )
    .await;
    // c8: in December (the period before January).
    call(
        &store,
        "c8",
        at(date(2025, 12, 20), 9, 0, 0),
        ottawa,
        false,
        10,
        Some(100),
        "answered",
        Some("nav1"),
        "",
    )
    .await;
    // c9: 23:30 on January 31 (February 1 in UTC): January's. Answered
    // after 40 s, 100 s talk, log 10 s after.
    call(
        &store,
        "c9",
        at(date(2026, 1, 31), 23, 30, 0),
        ottawa,
        false,
        40,
        Some(100),
        "answered",
        Some("nav2"),
        "incident = 'test-flood'",
    )
    .await;
    // c10: 00:30 on February 1: not January's.
    call(
        &store,
        "c10",
        at(date(2026, 2, 1), 0, 30, 0),
        ottawa,
        false,
        10,
        Some(100),
        "answered",
        Some("nav2"),
        "",
    )
    .await;

    let demo = "inquirer, age_band, gender, area, follow_up_due";
    log(
        &store,
        1,
        "c1",
        "nav1",
        60,
        &[("BD-1800", ""), ("BH", "no_service")],
        demo,
        "'self', '25-34', 'woman', 'k1n', '2026-01-15'",
    )
    .await;
    // c2's first log (saved 30 s before the end; wrap-up 0) and its correction.
    log(
        &store,
        2,
        "c2",
        "nav1",
        -30,
        &[("BT", "")],
        demo,
        "'family', '65+', 'man', 'K2P', NULL",
    )
    .await;
    log(
        &store,
        3,
        "c2",
        "nav1",
        300,
        &[("BD", "")],
        &format!("{demo}, corrects"),
        "'self', NULL, 'woman', NULL, '2026-01-20', 2",
    )
    .await;
    exec(
        &store,
        &format!(
            "UPDATE call_logs SET superseded_ms = {} WHERE id = 2",
            t + 3_600 * S
        ),
    )
    .await;
    log(
        &store,
        4,
        "c7",
        "nav1",
        30,
        &[("BD", ""), ("BD-1800", "")],
        demo,
        "'family', '25-34', 'woman', 'K1N ', '2026-02-15'",
    )
    .await;
    log(&store, 5, "c8", "nav1", 10, &[("BD", "")], "", "").await;
    log(
        &store,
        6,
        "c9",
        "nav2",
        10,
        &[("BH", "")],
        demo,
        "'self', NULL, 'woman', NULL, '2026-01-31'",
    )
    .await;
    log(&store, 7, "c10", "nav2", 10, &[("BD", "")], "", "").await;
    for (log_id, at_ms, outcome) in [
        (1, t + 86_400 * S, "no_answer"),
        (1, t + 2 * 86_400 * S, "reached"),
        (6, at(date(2026, 2, 2), 10, 0, 0), "left_message"),
    ] {
        exec(
            &store,
            &format!(
                "INSERT INTO follow_up_outcomes (log_id, at_ms, navigator, outcome) \
                 VALUES ({log_id}, {at_ms}, 'nav1', '{outcome}')"
            ),
        )
        .await;
    }
    // Written by hand: the copies the store keeps as logs are saved.
    reports::fill_copies(&store).await.unwrap();
    store
}

fn january(kind: Kind) -> Query {
    Query {
        kind,
        from: date(2026, 1, 1),
        to: date(2026, 1, 31),
        centre: None,
        region: None,
        by: None,
        split: None,
        tag: None,
        french: false,
    }
}

async fn csv(store: &Store, q: &Query, below: u64) -> String {
    let report = reports::run(
        store,
        &ReportsConfig::default(),
        &tz(),
        date(2026, 2, 10),
        q,
        below,
    )
    .await
    .unwrap();
    report.to_csv()
}

const P: &str = "2026-01-01..2026-01-31";

async fn reports_match_the_hand_computed_fixture(url: &str) {
    let store = fixture(url).await;

    // Needs: BD from c2 (corrected), c7 twice… no: c1 BD-1800, c2 BD, c7 BD
    // and BD-1800 → BD 4, all met; December had 1 (c8): +300 %. BH: c1
    // (unmet, no service) and c9 (met); none in December.
    assert_eq!(
        csv(&store, &january(Kind::Needs), 0).await,
        format!(
            "period,l1,l1_name,l2,l2_name,needs,met,unmet,previous,change_pct\n\
             {P},B,Basic Needs,BD,Food,4,4,0,1,300.0\n\
             {P},B,Basic Needs,BH,Housing/Shelter,2,1,1,0,\n\
             total,,,,,6,5,1,1,500.0\n"
        )
    );
    // Suppressed under 5: every small count is <5; the total's met (5) is
    // hidden (x) because its unmet (1) is; rates from hidden counts are x.
    assert_eq!(
        csv(&store, &january(Kind::Needs), 5).await,
        format!(
            "period,l1,l1_name,l2,l2_name,needs,met,unmet,previous,change_pct\n\
             {P},B,Basic Needs,BD,Food,<5,<5,0,<5,x\n\
             {P},B,Basic Needs,BH,Housing/Shelter,<5,<5,<5,0,x\n\
             total,,,,,6,x,<5,<5,x\n"
        )
    );
    // French names.
    let fr = csv(
        &store,
        &Query {
            french: true,
            ..january(Kind::Needs)
        },
        0,
    )
    .await;
    assert!(fr.contains(",BD,Alimentation,4,"), "{fr}");

    assert_eq!(
        csv(&store, &january(Kind::Unmet), 0).await,
        format!(
            "period,l2,l2_name,reason,unmet\n{P},BH,Housing/Shelter,no_service,1\ntotal,,,,1\n"
        )
    );

    // Service level. Ottawa: offered c1 c2 c3 c4 c5 c7 c9 = 7; answered c1
    // c2 c7 c9 = 4; abandoned c4 (40 s), short c3 (5 s); in target (60 s)
    // c1 c7 c9 = 3; level 3 / (4 + 1) = 60 %; speed (30+90+20+40)/4 = 45 s;
    // talk (300+200+250+100)/4 = 212.5 s, wrap-up (60+0+30+10)/4 = 25 s
    // (c2's first log, saved during the call), handle 237.5 s; one callback
    // asked and made; one overflow. Crisis: c6, 10 s (target 20 s): 100 %,
    // 600 s talk, no log. Total: level 4 / 6.
    assert_eq!(
        csv(&store, &january(Kind::ServiceLevel), 0).await,
        format!(
            "period,queue,offered,answered,abandoned,short_abandoned,answered_in_target,service_level_pct,\
             target,asa_s,aht_s,wrap_s,callbacks_asked,callbacks_made,callbacks_failed,overflowed\n\
             {P},ottawa,7,4,1,1,3,60.0,80% in 60s,45.0,237.5,25.0,1,1,0,1\n\
             {P},crisis,1,1,0,0,1,100.0,90% in 20s,10.0,600.0,,0,0,0,0\n\
             total,,8,5,1,1,4,66.7,,38.0,315.0,25.0,1,1,0,1\n"
        )
    );

    // Tracked: c6 (no log) by crisis1; nav1 c1 c2 c7 logged; nav2 c9.
    assert_eq!(
        csv(&store, &january(Kind::Tracked), 0).await,
        format!(
            "period,centre,navigator,answered,logged,tracked_pct\n\
             {P},,crisis1,1,0,0.0\n\
             {P},ottawa,nav1,3,3,100.0\n\
             {P},ottawa,nav2,1,1,100.0\n\
             total,,,5,4,80.0\n"
        )
    );

    // Follow-ups due in January (today is February 10): c1's (reached after
    // no answer), c2's corrected log's (never tried: overdue), c9's (a
    // message left: overdue). c7's is due in February.
    assert_eq!(
        csv(&store, &january(Kind::FollowUps), 0).await,
        format!(
            "period,centre,scheduled,made,reached,no_answer,left_message,closed,overdue,open\n\
             {P},ottawa,3,2,1,0,1,0,2,0\ntotal,,3,2,1,0,1,0,2,0\n"
        )
    );

    // The incident by day: c7 on the 10th (two needs), c9 on the 31st.
    let incident = Query {
        by: Some(By::Day),
        tag: Some("test-flood".into()),
        ..january(Kind::Incident)
    };
    assert_eq!(
        csv(&store, &incident, 0).await,
        "period,region,calls,answered,abandoned,crisis,needs,unmet\n\
         2026-01-10,east,1,1,0,0,2,0\n\
         2026-01-31,east,1,1,0,0,1,0\n\
         total,,2,2,0,0,3,0\n"
    );

    // Demographics of the four current January logs (c1, c2 corrected, c7, c9).
    assert_eq!(
        csv(&store, &january(Kind::Demographics), 0).await,
        format!(
            "period,dimension,value,count,pct\n\
             {P},inquirer,family,1,25.0\n\
             {P},inquirer,self,3,75.0\n\
             {P},age_band,25-34,2,50.0\n\
             {P},age_band,not_recorded,2,50.0\n\
             {P},gender,woman,4,100.0\n\
             {P},area,K1N,2,50.0\n\
             {P},area,not_recorded,2,50.0\n\
             total,,,4,100.0\n"
        )
    );

    // By month with the month before: the same January row, December's
    // count as the previous.
    let by_month = Query {
        by: Some(By::Month),
        centre: Some("ottawa".into()),
        ..january(Kind::Needs)
    };
    let text = csv(&store, &by_month, 0).await;
    assert!(
        text.contains("\n2026-01,B,Basic Needs,BD,Food,4,4,0,1,300.0\n"),
        "{text}"
    );
    // By week (Monday to Sunday): the 10th is in week 2, the 31st in week
    // 5; week 3 shows the fall from week 2 to nothing.
    let by_week = Query {
        by: Some(By::Week),
        ..january(Kind::Needs)
    };
    let text = csv(&store, &by_week, 0).await;
    for line in [
        "2026-W02,B,Basic Needs,BD,Food,4,4,0,0,\n",
        "2026-W02,B,Basic Needs,BH,Housing/Shelter,1,0,1,0,\n",
        "2026-W03,B,Basic Needs,BD,Food,0,0,0,4,-100.0\n",
        "2026-W05,B,Basic Needs,BH,Housing/Shelter,1,1,0,0,\n",
        // Cut by week, the rows' previous counts are no period's: the total
        // has none.
        "total,,,,,6,5,1,,\n",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    // A centre with no calls: only the total, all zero.
    let none = Query {
        centre: Some("windsor".into()),
        ..january(Kind::ServiceLevel)
    };
    assert!(
        csv(&store, &none, 5)
            .await
            .ends_with("total,,0,0,0,0,0,,,,,,0,0,0,0\n")
    );
}
crate::on_both_backends!(reports_fixture, reports_match_the_hand_computed_fixture);

#[test]
fn bad_queries_are_refused_with_the_reason() {
    let params = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let err = |kind: &str, pairs: &[(&str, &str)]| {
        Query::from_params(kind, &params(pairs))
            .unwrap_err()
            .to_string()
    };
    let ok = [("from", "2026-01-01"), ("to", "2026-01-31")];
    assert!(Query::from_params("needs", &params(&ok)).is_ok());
    assert!(err("sales", &ok).contains("unknown report"));
    assert!(err("needs", &[("from", "2026-01-01")]).contains("to: a date"));
    assert!(err("needs", &[("from", "2026-13-01"), ("to", "2026-01-31")]).contains("not a date"));
    assert!(err("needs", &[("from", "2026-02-01"), ("to", "2026-01-31")]).contains("before"));
    assert!(err("needs", &[("from", "2020-01-01"), ("to", "2026-01-31")]).contains("at most"));
    assert!(err("incident", &ok).contains("needs a tag"));
    assert!(err("needs", &[ok[0], ok[1], ("centre", "Ottawa'; --")]).contains("not an id"));
    assert!(err("needs", &[ok[0], ok[1], ("by", "year")]).contains("not day"));
    assert!(err("tracked", &[ok[0], ok[1], ("split", "region")]).contains("needs report only"));
    assert!(err("needs", &[ok[0], ok[1], ("colour", "red")]).contains("unknown parameter"));
}

async fn the_api_serves_reports_to_supervisors_and_ops_only(url: &str) {
    let store = fixture(url).await;
    let s = crate::server::start(crate::server::config(url)).await;
    use frontdoor_cti::protocol::Role;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    s.add_user("sup1", Role::Supervisor, "ottawa").await;
    s.add_user("ops1", Role::Ops, "ottawa").await;
    let (nav, sup, ops) = (
        s.login("nav1").await,
        s.login("sup1").await,
        s.login("ops1").await,
    );
    let jan = "from=2026-01-01&to=2026-01-31";

    // A navigator sees none.
    for path in [
        "/api/reports".to_string(),
        format!("/api/reports/needs?{jan}"),
    ] {
        assert_eq!(
            s.http("GET", &path, Some(&nav), None).await.status,
            403,
            "{path}"
        );
    }
    assert_eq!(s.http("GET", "/api/reports", None, None).await.status, 401);

    let meta = s.http("GET", "/api/reports", Some(&sup), None).await;
    assert_eq!(meta.status, 200, "{}", meta.body);
    assert_eq!(meta.json["incidents"], serde_json::json!(["test-flood"]));
    assert_eq!(meta.json["suppressed"], true);
    assert_eq!(meta.json["suppress_below"], 5);
    assert_eq!(meta.json["kinds"][2], "service-level");

    // A supervisor's JSON is suppressed; the CSV too, and it is what the
    // command line gives.
    let r = s
        .http(
            "GET",
            &format!("/api/reports/needs?{jan}"),
            Some(&sup),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["suppressed_below"], 5);
    assert_eq!(r.json["rows"][0][5], "<5");
    assert_eq!(r.json["total"][5], 6);
    assert_eq!(r.json["chart"]["x"], "l2_name");
    assert_eq!(r.json["columns"][9]["type"], "percent");
    let c = s
        .http(
            "GET",
            &format!("/api/reports/needs?{jan}&format=csv"),
            Some(&sup),
            None,
        )
        .await;
    assert_eq!(c.status, 200);
    assert_eq!(c.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(c.body, csv(&store, &january(Kind::Needs), 5).await);

    // Operations staff see exact counts on their page; their CSV is suppressed.
    let r = s
        .http(
            "GET",
            &format!("/api/reports/needs?{jan}"),
            Some(&ops),
            None,
        )
        .await;
    assert_eq!(r.json["suppressed_below"], serde_json::Value::Null);
    assert_eq!(r.json["rows"][0][5], 4);
    let c = s
        .http(
            "GET",
            &format!("/api/reports/needs?{jan}&format=csv"),
            Some(&ops),
            None,
        )
        .await;
    assert!(c.body.contains("<5"), "{}", c.body);

    // Bad requests say why.
    for (query, why) in [
        ("from=2026-01-01", "to: a date"),
        ("from=2026-01-01&to=2026-01-31&format=pdf", "format"),
        (
            "from=2026-01-01&to=2026-01-31&region=East%20Side",
            "not an id",
        ),
    ] {
        let r = s
            .http(
                "GET",
                &format!("/api/reports/needs?{query}"),
                Some(&sup),
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{query}");
        assert!(
            r.json["error"].as_str().unwrap().contains(why),
            "{query}: {}",
            r.body
        );
    }
    let r = s
        .http(
            "GET",
            &format!("/api/reports/sales?{jan}"),
            Some(&sup),
            None,
        )
        .await;
    assert_eq!(r.status, 400);

    // Every run is audited, with its period and filters.
    let audit = store.audit_log(100).await.unwrap();
    assert!(
        audit.iter().any(|e| e.actor == "sup1"
            && e.action == "report.needs"
            && e.target == "needs 2026-01-01..2026-01-31"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.actor == "ops1" && e.detail == "exact")
    );

    // The public feed is off unless configured.
    assert_eq!(
        s.http("GET", "/public/needs.csv", None, None).await.status,
        404
    );
    let mut config = crate::server::config(url);
    config.reports.public_feed = true;
    let open = crate::server::start(config).await;
    let feed = open.http("GET", "/public/needs.csv", None, None).await;
    assert_eq!(feed.status, 200);
    assert!(
        feed.body
            .starts_with("period,l1,l1_name,l2,l2_name,region,needs,"),
        "{}",
        feed.body
    );
    let feed = open.http("GET", "/public/needs.json", None, None).await;
    assert_eq!(feed.json["by"], "day");
    assert_eq!(feed.json["suppressed_below"], 5);
}
crate::on_both_backends!(
    reports_api,
    the_api_serves_reports_to_supervisors_and_ops_only
);

/// The copies the reports read are kept by the store's own writes: a log
/// saved, a region corrected by the navigator, a log corrected.
async fn the_store_keeps_what_the_reports_read_in_step(url: &str) {
    use frontdoor_cti::protocol::{CallLog, Need};
    let store = Store::connect(url).await.unwrap();
    let t = at(date(2026, 1, 12), 11, 0, 0);
    call(
        &store,
        "k1",
        t,
        Some("ottawa"),
        false,
        30,
        Some(100),
        "answered",
        Some("nav1"),
        "",
    )
    .await;
    let needs = |codes: &[&str]| -> Vec<Need> {
        codes
            .iter()
            .map(|c| Need {
                code: (*c).into(),
                met: true,
                unmet_reason: None,
            })
            .collect()
    };
    let log = CallLog {
        call_id: "k1".into(),
        needs: needs(&["BD"]),
        ..CallLog::default()
    };
    let (first, _) = store
        .save_call_log("nav1", "k1-a", &log, false, t + 200 * S)
        .await
        .unwrap();
    let by_region = Query {
        split: Some(reports::Split::Region),
        ..january(Kind::Needs)
    };
    let text = csv(&store, &by_region, 0).await;
    assert!(text.contains(",BD,Food,east,1,1,0,0,\n"), "{text}");
    let tracked = csv(&store, &january(Kind::Tracked), 0).await;
    assert!(tracked.contains(",ottawa,nav1,1,1,100.0\n"), "{tracked}");

    // The navigator says the caller is in the north.
    store
        .correct_region("k1", "north", t + 300 * S)
        .await
        .unwrap();
    let text = csv(&store, &by_region, 0).await;
    assert!(text.contains(",BD,Food,north,1,1,0,0,\n"), "{text}");
    assert!(!text.contains("east"), "{text}");

    // A corrected log replaces the need.
    let correction = CallLog {
        call_id: "k1".into(),
        needs: needs(&["BH"]),
        corrects: Some(first),
        ..CallLog::default()
    };
    store
        .save_call_log("nav1", "k1-b", &correction, false, t + 400 * S)
        .await
        .unwrap();
    let text = csv(&store, &january(Kind::Needs), 0).await;
    assert!(text.contains(",BH,Housing/Shelter,1,1,0,0,\n"), "{text}");
    assert!(!text.contains(",BD,"), "{text}");
    // Wrap-up counts from the first log: 200 s − (30 s queue + 100 s talk
    // after 20 s in the IVR) = 50 s.
    let sl = csv(&store, &january(Kind::ServiceLevel), 0).await;
    assert!(
        sl.contains(",ottawa,1,1,0,0,1,100.0,80% in 60s,30.0,150.0,50.0,"),
        "{sl}"
    );
}
crate::on_both_backends!(
    reports_copies,
    the_store_keeps_what_the_reports_read_in_step
);
