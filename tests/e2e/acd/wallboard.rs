//! The supervisors' wallboard in headless Chromium, against `frontdoor
//! serve` with real sipp callers, a navigator's real phone (baresip) and
//! their screen (a websocket client): what a supervisor watches, live, and
//! what they do from it. axe-core on every state, a screenshot of each.

use super::*;
use crate::browser::{Browser, keys};

/// The wallboard open and logged in as `user`, its first board shown.
fn wallboard(browser: &Browser, engine: &Engine, user: &str) {
    browser.goto(&format!("http://{}/supervisor", engine.http));
    browser.wait_visible("#login-view");
    browser.type_into("#username", user);
    browser.type_into("#password", PASSWORD);
    browser.keys(keys::ENTER);
    browser.wait_visible("#board-view");
    browser.wait_until(
        "the wallboard's first board",
        "return window.frontdoorBoard.ready",
    );
}

/// Waits until the navigator's status on the wallboard is `text`; how long it took.
fn until_state(browser: &Browser, user: &str, text: &str) -> Duration {
    let start = Instant::now();
    browser.wait_until(
        &format!("{user} as {text}"),
        &format!(
            "return document.querySelector('tr[data-navigator=\"{user}\"] .nav-state')?.textContent === {}",
            json!(text)
        ),
    );
    start.elapsed()
}

/// A figure of the queue-and-language row of the wallboard's table.
fn figure(browser: &Browser, queue: &str, lang: &str, col: &str) -> String {
    browser
        .eval(
            "return document.querySelector(`#queue-table tr[data-queue=\"${arguments[0]}\"][data-lang=\"${arguments[1]}\"] [data-col=\"${arguments[2]}\"]`)?.firstChild?.textContent ?? ''",
            vec![json!(queue), json!(lang), json!(col)],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The audit rows of `action` (actor|target|outcome|detail, one a line),
/// read from the engine's SQLite store.
fn audit_rows(engine: &Engine, action: &str) -> String {
    let db = engine.db.trim_start_matches("sqlite://");
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(format!(
            "SELECT actor, target, outcome, detail FROM audit_log WHERE action = '{action}' ORDER BY id"
        ))
        .output()
        .expect("sqlite3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The ids of the alerts on the wallboard.
fn alerts(browser: &Browser) -> Vec<String> {
    browser
        .eval(
            "return [...document.querySelectorAll('#alert-list [data-alert]')].map((n) => n.dataset.alert)",
            vec![],
        )
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

#[test]
fn a_supervisor_watches_callers_and_navigators_live_sees_the_alerts_and_sets_a_navigator_not_ready()
{
    // Short abandons under 4 s; the crisis line's target is 90 % in 3 s so
    // its alert comes within the test; a crisis caller waits up to a minute
    // for a crisis-trained navigator.
    let engine = Engine::start_in(
        "[cti]\nwrap_up_s = 1\n\
         [reports]\nshort_abandon_s = 4\ncrisis_target = { within_s = 3, goal_pct = 90 }\n\
         [queues]\ncrisis_timeout_s = 60\n",
        ottawa_always_open,
    );
    account(&engine, "sup1", "supervisor", "ottawa", "en", false);

    // 1. The supervisor opens the wallboard: nobody there yet.
    let browser = Browser::open("wallboard");
    wallboard(&browser, &engine, "sup1");
    assert_eq!(
        browser.text("#board-title"),
        "Wallboard — 211 East (Ottawa) and the crisis line"
    );
    assert!(browser.visible("#alerts-none"));
    assert!(browser.visible("#waiting-none"));
    browser.wait_visible("#followups-none");
    browser.axe("empty");
    browser.screenshot("empty");
    // The reports are a link away, and the wallboard one back.
    browser.click("#reports-link");
    browser.wait_visible("#reports-view");
    browser.axe("reports-link-back");
    browser.click("#board-link");
    browser.wait_until("the wallboard again", "return window.frontdoorBoard.ready");

    // 2. nav1 signs in (not ready) then makes themselves ready: the board
    //    follows, live.
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let dir = TempDir::new("phone");
    let baresip = registered_phone(&engine, &dir, "nav1");
    let mut screen = Screen::open(&engine, "nav1");
    until_state(&browser, "nav1", "Not ready — Just logged in");
    screen.set_state("ready");
    let took = until_state(&browser, "nav1", "Ready");
    assert!(
        took < Duration::from_millis(1500),
        "the wallboard showed nav1 ready {took:?} after their screen was told"
    );

    // 3. An Ottawa caller is answered at once by nav1's phone (in target).
    let steps = english_then_food(&[Step::Pause(3000)]);
    let answered = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        screen.expect(Duration::from_secs(15), "call_answered", |_| true);
        until_state(&browser, "nav1", "On a call");
        caller.join().unwrap()
    });
    answered.assert_success(&engine);
    until_state(&browser, "nav1", "Ready");

    // 4. The supervisor sets nav1 not ready for a meeting, from the board.
    browser.select("#nr-nav1", "meeting");
    browser.click("tr[data-navigator=\"nav1\"] .set-not-ready");
    screen.expect(Duration::from_secs(5), "state_changed", |v| {
        v["state"] == "not_ready" && v["reason"] == "meeting"
    });
    until_state(&browser, "nav1", "Not ready — Meeting");
    browser.wait_text("#action-status", "nav1 is set not ready (Meeting).");
    assert_eq!(
        audit_rows(&engine, "navigator.state.force"),
        "sup1|nav1|ok|not_ready reason=meeting"
    );

    // 5. With nobody ready: one caller hangs up at once (a short abandon),
    //    one after 6 s (an abandon), and a crisis caller waits for a
    //    crisis-trained navigator who is not ready (Toronto's), then gives up.
    account(&engine, "tor1", "navigator", "toronto", "en,fr", true);
    let _tor1 = Screen::open(&engine, "tor1");
    let short = english_then_food(&[Step::Pause(500)]);
    let long = english_then_food(&[Step::Pause(6000)]);
    let crisis = [Step::Pause(800), Step::Key('9'), Step::Pause(8000)];
    std::thread::scope(|s| {
        let runs = [
            s.spawn(|| call(&engine, OTTAWA, &short, true)),
            s.spawn(|| call(&engine, OTTAWA, &long, true)),
            s.spawn(|| call(&engine, "+16135550177", &crisis, true)),
        ];
        // The callers appear, each within a second of entering its queue.
        browser.wait_until(
            "the callers waiting",
            "return document.querySelectorAll('#waiting-table tbody tr').length >= 2",
        );
        browser.axe("waiting");
        browser.screenshot("waiting");
        // The crisis caller passes the 3 s target: the alert is shown and
        // read out.
        browser.wait_until(
            "the crisis alert",
            "return document.querySelector('#alert-list [data-alert^=\"crisis_waiting:\"]') !== null",
        );
        let announced = browser.text("#alert-announce");
        assert!(
            announced.contains("Crisis caller waiting"),
            "read out: {announced:?}"
        );
        assert_eq!(
            browser.eval(
                "return document.getElementById('alert-announce').getAttribute('role')",
                vec![]
            ),
            json!("alert")
        );
        browser.axe("crisis-alert");
        browser.screenshot("crisis-alert");
        for run in runs {
            run.join().unwrap().assert_success(&engine);
        }
    });
    let seen = browser.eval("return window.frontdoorBoard.firstSeen", vec![]);
    let seen = seen.as_object().unwrap();
    assert_eq!(seen.len(), 3, "every caller was seen waiting: {seen:?}");
    for (id, first) in seen {
        assert!(
            first["waited_s"].as_u64().unwrap() <= 1,
            "{id} was first shown {first} after it entered its queue"
        );
        let late = first["received_ms"].as_i64().unwrap() - first["at_ms"].as_i64().unwrap();
        assert!(
            late < 1000,
            "{id}'s board arrived {late} ms after it was taken"
        );
    }

    // 6. Today's figures, worked by hand: Ottawa in English offered 3,
    //    answered 1 (in target), abandoned 1, a short abandon 1 apart, so
    //    a service level of 1 ÷ (1 + 1) = 50 %, under the 80 % target.
    browser.wait_until(
        "every abandon counted",
        "const cell = (q) => document.querySelector(`#queue-table tr[data-queue=\"${q}\"][data-lang=\"en\"] [data-col=\"abandoned\"]`)?.textContent;\
         return cell('centre:ottawa') === '1' && cell('crisis') === '1'",
    );
    let ottawa = |col| figure(&browser, "centre:ottawa", "en", col);
    assert_eq!(ottawa("offered"), "3");
    assert_eq!(ottawa("answered"), "1");
    assert_eq!(ottawa("abandoned"), "1");
    assert_eq!(ottawa("short_abandoned"), "1");
    assert_eq!(ottawa("service_level"), "50 %");
    assert_eq!(ottawa("waiting"), "0");
    // The crisis line: one caller, who gave up after the target: 0 %.
    assert_eq!(figure(&browser, "crisis", "en", "offered"), "1");
    assert_eq!(figure(&browser, "crisis", "en", "abandoned"), "1");
    assert_eq!(figure(&browser, "crisis", "en", "service_level"), "0 %");
    let shown = alerts(&browser);
    assert!(
        shown.contains(&"service_level:centre:ottawa:en".to_owned()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"service_level:crisis:en".to_owned()),
        "{shown:?}"
    );
    // The crisis caller left: their alert ended.
    assert!(
        !shown.iter().any(|a| a.starts_with("crisis_waiting:")),
        "{shown:?}"
    );
    browser.axe("figures");
    browser.eval("window.scrollTo(0, 0)", vec![]);
    browser.screenshot("figures");

    // 7. In French, with the keyboard: the language button, then log nav1
    //    out (two presses: the second confirms).
    browser.click("#lang-toggle");
    browser.wait_text(
        "#board-title",
        "Tableau de bord — 211 Est (Ottawa) et la ligne de crise",
    );
    assert_eq!(
        figure(&browser, "centre:ottawa", "en", "service_level"),
        "50 %"
    );
    browser.eval(
        "document.querySelector('tr[data-navigator=\"nav1\"] .force-logout').focus()",
        vec![],
    );
    browser.keys(keys::ENTER);
    browser.wait_text(
        "tr[data-navigator=\"nav1\"] .force-logout",
        "Confirmer la déconnexion",
    );
    browser.axe("confirm-logout-fr");
    browser.keys(keys::ENTER);
    // Their logins end: their screen's websocket is closed (the desk asks
    // them to sign in again, keeping what they typed).
    drop(screen);
    until_state(&browser, "nav1", "Déconnecté");
    assert_eq!(
        audit_rows(&engine, "navigator.state.force"),
        "sup1|nav1|ok|not_ready reason=meeting\nsup1|nav1|ok|logged_out"
    );
    browser.axe("fr");
    browser.screenshot("fr");
    stop(baresip);
}

#[test]
fn a_navigator_cannot_open_the_wallboard_nor_act_on_navigators() {
    let engine = Engine::start_in("", ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en", false);
    account(&engine, "sup2", "supervisor", "toronto", "en", false);
    let nav = login(&engine, "nav1", PASSWORD);
    // The websocket refuses a navigator's token.
    let stream = TcpStream::connect(engine.http).unwrap();
    let url = format!("ws://{}/cti/supervisor?token={nav}", engine.http);
    match tungstenite::client(url.as_str(), stream) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 403)
        }
        other => panic!("a navigator opened the wallboard: {:?}", other.is_ok()),
    }
    let _screen = Screen::open(&engine, "nav1");
    let body = r#"{"state":"not_ready","reason":"meeting"}"#;
    let path = "/api/navigators/nav1/state";
    let (status, _) = http(engine.http, "POST", path, Some(&nav), body);
    assert_eq!(status, 403, "a navigator cannot set another's state");
    // Toronto's supervisor cannot act on an Ottawa navigator.
    let sup2 = login(&engine, "sup2", PASSWORD);
    let (status, _) = http(engine.http, "POST", path, Some(&sup2), body);
    assert_eq!(status, 403);
    // Unknown reasons and states are refused with their reason.
    let ops = staff(&engine, "ops1", "ops");
    let (status, reply) = http(
        engine.http,
        "POST",
        path,
        Some(&ops),
        r#"{"state":"not_ready","reason":"nap"}"#,
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("unknown reason"), "{reply}");
    let (status, reply) = http(
        engine.http,
        "POST",
        path,
        Some(&ops),
        r#"{"state":"ready"}"#,
    );
    assert_eq!(status, 400, "{reply}");
    let (status, _) = http(
        engine.http,
        "POST",
        "/api/navigators/nobody/state",
        Some(&ops),
        body,
    );
    assert_eq!(status, 404);
    // A navigator's page at /supervisor says it is not theirs.
    let browser = Browser::open("wallboard-denied");
    browser.goto(&format!("http://{}/supervisor", engine.http));
    browser.wait_visible("#login-view");
    browser.type_into("#username", "nav1");
    browser.type_into("#password", PASSWORD);
    browser.keys(keys::ENTER);
    browser.wait_visible("#denied-view");
    browser.axe("denied");
}
