//! The navigator's desk in headless Chromium, against `frontdoor serve` with
//! real sipp callers and a real phone (baresip, answered when the test
//! says): each story as a navigator lives it, axe-core on every state, a
//! screenshot of each (`target/tmp/screenshots/`).

use super::*;
use crate::browser::{Browser, keys};
use crate::harness::free_udp_port;
use crate::registrar::{answer, phone_answered_by_test};

/// An engine on fixed HTTP and SIP ports with its store in `dir`, so it can
/// be killed and started again where the page and the phone know it.
fn desk_engine(dir: &TempDir, http: u16, sip: u16) -> Engine {
    let extra = format!(
        "{MD5_ONLY}[cti]\nwrap_up_s = 2\nhttp = \"127.0.0.1:{http}\"\ndb = \"sqlite://{}/desk.db\"\n\
         [sip]\nlisten = \"127.0.0.1:{sip}\"\n",
        dir.path().display()
    );
    Engine::start_in(&extra, ottawa_always_open)
}

/// A phone process killed when the test ends, passed or not (a phone left
/// behind would register with the next test's engine).
struct Phone(Option<Child>);

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            stop(child);
        }
    }
}

/// The desk open and logged in as `user`, waiting for the first state.
fn logged_in(browser: &Browser, engine: &Engine, user: &str) {
    browser.goto(&format!("http://{}/", engine.http));
    browser.wait_visible("#login-view");
    browser.type_into("#username", user);
    browser.type_into("#password", PASSWORD);
    browser.keys(keys::ENTER);
    browser.wait_visible("#desk-view");
    browser.wait_until("the desk connected", "return window.frontdoorDesk.ready");
}

/// A caller from 613 who presses 1 (English) then `topic`, then waits for
/// the engine's BYE.
fn ottawa_caller(topic: char) -> Vec<Step> {
    vec![
        Step::Pause(1000),
        Step::Key('1'),
        Step::Pause(1300),
        Step::Key(topic),
    ]
}

/// The current call's id as the page knows it.
fn pop_call_id(browser: &Browser) -> String {
    browser
        .eval("return window.frontdoorDesk.lastPop?.call_id ?? ''", vec![])
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Chooses a need by typing in the search and picking the first match with
/// the keyboard.
fn add_need(browser: &Browser, words: &str, code: &str) {
    browser.click("#need-search");
    browser.type_into("#need-search", words);
    browser.wait_text("#need-options", code);
    browser.keys(keys::DOWN);
    browser.keys(keys::ENTER);
    browser.wait_text("#needs", code);
}

#[test]
fn a_navigator_sees_the_pop_before_answering_logs_the_call_and_loses_nothing_to_a_reload_or_a_restart()
 {
    let store = TempDir::new("desk-store");
    let (http, sip) = (free_udp_port(), free_udp_port());
    let engine = desk_engine(&store, http, sip);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let phone_dir = TempDir::new("phone");
    let (phone, control) = phone_answered_by_test(&engine, &phone_dir, "nav1", PASSWORD, 300);
    let _phone = Phone(Some(phone));
    engine
        .wait_for(Duration::from_secs(10), |v| {
            message(v) == "registered" && v["fields"]["aor"] == "nav1"
        })
        .expect("the phone registers");

    let browser = Browser::open("desk-story");
    browser.goto(&format!("http://{}/", engine.http));
    browser.wait_visible("#login-view");
    browser.axe("login");
    logged_in(&browser, &engine, "nav1");
    browser.wait_text("#state-name", "Not ready");
    browser.axe("desk-idle");
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Ready");

    // A caller from 613 presses 1 (English) then 1 (housing).
    let call_id = std::thread::scope(|scope| {
        let caller = scope.spawn(|| call(&engine, OTTAWA, &ottawa_caller('1'), false));

        // The pop, before the phone is answered: masked number, language,
        // region and how it was found, topic, the IVR path in words.
        browser.wait_text("#call-status", "Ringing");
        let call_id = pop_call_id(&browser);
        assert!(!call_id.is_empty());
        assert_eq!(browser.text("#pop-caller"), "+1 613 ••• ••23");
        assert!(browser.text("#pop-language").contains("English"));
        assert!(
            browser.text("#pop-region-source").contains("from the"),
            "{}",
            browser.text("#pop-region-source")
        );
        assert!(
            browser.text("#pop-topic").contains("Housing"),
            "{}",
            browser.text("#pop-topic")
        );
        assert!(!browser.text("#pop-path").is_empty());
        assert!(!browser.visible("#crisis-banner"));
        assert!(
            browser.eval(
                "return performance.getEntriesByName('pop-painted:' + arguments[0]).length",
                vec![json!(call_id)]
            ) == json!(1),
            "the pop's paint is marked for the bench"
        );
        browser.axe("pop-ringing");

        // The caller says they are in Thunder Bay: one click corrects it.
        browser.select("#region-select", "north");
        browser.click("#region-fix");
        browser.wait_text("#pop-region-source", "corrected by navigator");

        // Only now does the phone answer.
        assert!(browser.text("#call-status").contains("Ringing"));
        answer(control);
        browser.wait_text("#call-status", "Talking");
        browser.axe("talking");

        // Half the form.
        add_need(&browser, "emergency food", "BD-1800");
        browser.click("#needs input[value=\"met\"]");
        browser.type_into("#notes", "Needs a food bank near Rideau; works Tuesdays.");
        browser.wait_text("#draft-status", "saved");
        browser.axe("form-half");

        // A reload: the call and the draft are back.
        browser.reload();
        browser.wait_until(
            "the desk connected after the reload",
            "return window.frontdoorDesk.ready",
        );
        browser.wait_text("#needs", "BD-1800");
        assert_eq!(
            browser.value("#notes"),
            "Needs a food bank near Rideau; works Tuesdays."
        );
        assert_eq!(pop_call_id(&browser), call_id);

        // The navigator hangs up from the screen; the caller hears the end.
        browser.click("#btn-hangup");
        caller.join().unwrap().assert_success(&engine);
        browser.wait_text("#call-status", "ended");
        call_id
    });

    // The engine dies and starts again; the page reconnects by itself.
    drop(engine);
    let engine = desk_engine(&store, http, sip);
    // What the server kept: this browser forgets its own copy and reloads.
    browser.eval("localStorage.clear();", vec![]);
    browser.reload();
    browser.wait_until(
        "the desk connected after the restart",
        "return window.frontdoorDesk.ready",
    );
    // With no call on screen the unfinished log opens by itself.
    browser.wait_text("#needs", "BD-1800");
    browser.axe("draft-after-restart");
    assert_eq!(
        browser.value("#notes"),
        "Needs a food bank near Rideau; works Tuesdays."
    );

    // The rest of the form, and submit.
    browser.select("#inquirer", "self");
    browser.type_into("#area", "K1N");
    browser.select("#age-band", "35-44");
    browser.select("#gender", "declined");
    browser.click("#fu-consent");
    let today = browser
        .eval(
            "const d = new Date(); return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');",
            vec![],
        )
        .as_str()
        .unwrap()
        .to_owned();
    browser.eval(
        "const e = document.querySelector('#fu-due'); e.value = arguments[0]; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(today)],
    );
    browser.select("#fu-method", "phone");
    browser.type_into("#fu-reason", "check the food bank visit");
    browser.click("#log-submit");
    browser.wait_text("#log-result", "saved");
    browser.axe("log-saved");

    // In the store, every field.
    let record = record(&engine, &call_id);
    let log = &record["logs"][0]["log"];
    assert_eq!(log["needs"][0]["code"], "BD-1800", "{record}");
    assert_eq!(log["needs"][0]["met"], true);
    assert_eq!(
        log["notes"],
        "Needs a food bank near Rideau; works Tuesdays."
    );
    assert_eq!(
        (
            log["inquirer"].as_str(),
            log["area"].as_str(),
            log["age_band"].as_str(),
            log["gender"].as_str()
        ),
        (Some("self"), Some("K1N"), Some("35-44"), Some("declined"))
    );
    assert_eq!(log["follow_up"]["due"], today.as_str());
    assert_eq!(log["follow_up"]["method"], "phone");
    assert_eq!(log["follow_up"]["consent"], true);
    assert_eq!(record["call"]["region"], "north");
    assert_eq!(record["call"]["region_source"], "navigator_correction");

    // The follow-up is on today's worklist.
    browser.wait_text("#fu-table", "check the food bank visit");

    // A second call from the same number shows the first.
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Ready");
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| call(&engine, OTTAWA, &ottawa_caller('2'), false));
        browser.wait_until(
            "the second call's pop",
            &format!(
                "return window.frontdoorDesk.lastPop && window.frontdoorDesk.lastPop.call_id !== {call_id:?}"
            ),
        );
        browser.wait_text("#previous-table", "BD-1800");
        browser.axe("pop-with-history");
        answer(control);
        browser.wait_text("#call-status", "Talking");
        browser.keys(&keys::shortcut('H'));
        caller.join().unwrap().assert_success(&engine);
    });
}
