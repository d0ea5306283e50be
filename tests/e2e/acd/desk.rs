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
        "[cti]\nwrap_up_s = 2\nhttp = \"127.0.0.1:{http}\"\ndb = \"sqlite://{}/desk.db\"\n\
         [sip]\nlisten = \"127.0.0.1:{sip}\"\n",
        dir.path().display()
    );
    Engine::start_in(&extra, ottawa_always_open)
}

/// Ottawa's navigator `nav1` (English and French, crisis-trained or not)
/// and their phone, registered, ringing until the test answers it.
pub(crate) fn nav1_with_phone(engine: &Engine, crisis: bool) -> Phone {
    account(engine, "nav1", "navigator", "ottawa", "en,fr", crisis);
    let dir = TempDir::new("phone");
    let (child, control) = phone_answered_by_test(engine, &dir, "nav1", PASSWORD, 300);
    let phone = Phone {
        child: Some(child),
        control,
        _dir: dir,
    };
    engine
        .wait_for(Duration::from_secs(10), |v| {
            message(v) == "registered" && v["fields"]["aor"] == "nav1"
        })
        .expect("the phone registers");
    phone
}

/// A phone the test answers ([`answer`] with `control`), killed when the
/// test ends, passed or not (a phone left behind would register with the
/// next test's engine).
pub(crate) struct Phone {
    child: Option<Child>,
    pub(crate) control: u16,
    _dir: TempDir,
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
    }
}

/// The desk open and logged in as `user`, waiting for the first state.
pub(crate) fn logged_in(browser: &Browser, engine: &Engine, user: &str) {
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
pub(crate) fn add_need(browser: &Browser, words: &str, code: &str) {
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
    let phone = nav1_with_phone(&engine, false);
    let control = phone.control;

    let browser = Browser::open("desk-story");
    browser.goto(&format!("http://{}/", engine.http));
    browser.wait_visible("#login-view");
    browser.axe("login");
    logged_in(&browser, &engine, "nav1");
    browser.wait_text("#state-name", "Not ready");
    browser.axe("desk-idle");
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Ready");
    let layout = "return ['#pop', '#controls', '#log', '#state-bar'].map(s => \
                  Math.round(document.querySelector(s).getBoundingClientRect().top));";
    let before = browser.eval(layout, vec![]);

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
        assert_eq!(
            browser.eval(layout, vec![]),
            before,
            "nothing moves when the pop arrives"
        );
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

        // On hold a moment (the caller hears the hold loop), then back.
        browser.click("#btn-hold");
        browser.wait_text("#call-status", "on hold");
        assert_eq!(browser.text("#btn-hold"), "Resume");
        browser.axe("on-hold");
        browser.click("#btn-hold");
        browser.wait_text("#call-status", "Talking");

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
    // A wrong area is refused by the server, next to the field.
    browser.type_into("#area", "12345");
    browser.click("#log-submit");
    browser.wait_until(
        "the area's error next to it",
        "const e = document.getElementById('err-area'); const f = document.getElementById('area'); \
         return e.innerText.includes('postal code') && f.getAttribute('aria-invalid') === 'true' \
         && (f.getAttribute('aria-describedby') || '').includes('err-area');",
    );
    browser.axe("field-error");
    browser.eval("document.querySelector('#area').value = '';", vec![]);
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

#[test]
fn a_crisis_call_shows_the_banner_and_the_number_on_a_french_desk_and_goes_to_the_crisis_line_from_it()
 {
    let line_dir = TempDir::new("crisis-line");
    let (far, trace, uri) = line(&line_dir);
    let engine = Engine::start_in(&config(""), |flows| {
        ottawa_always_open(flows);
        crisis_line_is(&uri)(flows);
    });
    let phone = nav1_with_phone(&engine, true);
    let control = phone.control;

    let browser = Browser::open("desk-crisis-fr");
    logged_in(&browser, &engine, "nav1");
    browser.click("#lang-toggle");
    browser.wait_until(
        "the page in French",
        "return document.documentElement.lang.startsWith('fr')",
    );
    browser.wait_text("#state-name", "Non disponible");
    let left = browser.english_left();
    assert!(left.is_empty(), "English on the French desk: {left:?}");
    browser.axe("idle-fr");
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Prêt");

    // Key 9 from the greeting.
    let steps = [Step::Pause(800), Step::Key('9')];
    let run = std::thread::scope(|scope| {
        let caller = scope.spawn(|| call(&engine, OTTAWA, &steps, false));
        browser.wait_visible("#crisis-banner");
        // A crisis call shows the number at once, with nothing to reveal.
        assert_eq!(browser.text("#pop-caller"), "+1 613 555 0123");
        assert!(!browser.visible("#reveal"));
        assert!(
            browser.visible("#crisis-details"),
            "the crisis details are asked for"
        );
        let left = browser.english_left();
        assert!(left.is_empty(), "English on the French pop: {left:?}");
        browser.axe("crisis-pop-fr");
        answer(control);
        browser.wait_until(
            "the call answered",
            "return window.frontdoorDesk.lastPop && document.querySelector('#btn-hangup').disabled === false",
        );
        // The crisis line, from the page; the caller's number goes with it.
        browser.select("#transfer-target", &format!("sip:{uri}"));
        browser.click("#btn-transfer");
        browser.wait_text("#call-status", "transf");
        browser.axe("transferred-fr");
        caller.join().unwrap()
    });
    let messages = crate::external::both_ended(&run, &engine, far, &trace);
    assert!(
        messages.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "{messages}"
    );
    // (A crisis call is the province's: ops read it.)
    let rec = record_as(
        &engine,
        &staff(&engine, "ops1", "ops"),
        &engine.id_of(&run.call_id()),
    );
    assert_eq!(rec["call"]["disposition"], "transferred", "{rec:#}");
}

#[test]
fn a_navigator_takes_and_logs_a_call_with_the_keyboard_alone() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    let phone = nav1_with_phone(&engine, false);
    let control = phone.control;

    let browser = Browser::open("desk-keyboard");
    browser.goto(&format!("http://{}/", engine.http));
    browser.wait_visible("#login-view");
    // Log in: Tab to the username, type, Tab, type, Enter.
    browser.tab_to("username", 10);
    browser.keys("nav1");
    browser.keys(keys::TAB);
    assert_eq!(browser.focused(), "password");
    browser.keys(PASSWORD);
    browser.keys(keys::ENTER);
    browser.wait_until("the desk connected", "return window.frontdoorDesk.ready");
    browser.wait_text("#state-name", "Not ready");
    browser.keys(&keys::shortcut('R'));
    browser.wait_text("#state-name", "Ready");

    let run = std::thread::scope(|scope| {
        let caller = scope.spawn(|| call(&engine, OTTAWA, &ottawa_caller('2'), false));
        browser.wait_text("#call-status", "Ringing");
        // The number, shown on request.
        browser.tab_to("reveal", 40);
        assert_focus_is_visible(&browser);
        browser.keys(keys::ENTER);
        browser.wait_text("#pop-caller", "+1 613 555 0123");
        answer(control);
        browser.wait_text("#call-status", "Talking");
        // The log: Alt+Shift+L goes to the needs search.
        browser.keys(&keys::shortcut('L'));
        assert_eq!(browser.focused(), "need-search");
        browser.keys("food");
        browser.wait_text("#need-options", "BD");
        browser.keys(keys::DOWN);
        browser.keys(keys::ENTER);
        browser.wait_text("#needs", "BD");
        // Tab to the "met" radio of the need, Space to choose it.
        let met = browser.eval(
            "return document.querySelector('#needs input[value=\"met\"]').id || ''",
            vec![],
        );
        for _ in 0..10 {
            let on_met = browser.eval(
                "return document.activeElement && document.activeElement.value === 'met' && document.activeElement.type === 'radio'",
                vec![],
            );
            if on_met == json!(true) {
                break;
            }
            browser.keys(keys::TAB);
        }
        assert!(met.is_string());
        assert_focus_is_visible(&browser);
        browser.keys(keys::SPACE);
        browser.keys(&keys::shortcut('H'));
        caller.join().unwrap()
    });
    run.assert_success(&engine);
    browser.wait_text("#call-status", "ended");
    browser.keys(&keys::shortcut('S'));
    browser.wait_text("#log-result", "saved");
    browser.axe("keyboard-saved");
    let rec = record(&engine, &engine.id_of(&run.call_id()));
    assert_eq!(rec["logs"][0]["log"]["needs"][0]["met"], true, "{rec:#}");
}

/// The focused element shows where it is (an outline or a box shadow).
#[track_caller]
pub(crate) fn assert_focus_is_visible(browser: &Browser) {
    let style = browser.eval(
        "const s = getComputedStyle(document.activeElement); \
         return [s.outlineStyle, s.outlineWidth, s.boxShadow].join(' ');",
        vec![],
    );
    let style = style.as_str().unwrap_or_default();
    assert!(
        !style.starts_with("none 0px none") && style != "none 0px none",
        "no visible focus on #{}: {style}",
        browser.focused()
    );
}

#[test]
fn a_navigator_calls_a_follow_up_back_from_the_worklist_and_records_what_came_of_it() {
    // The trunk is a sipp UAS: it takes the call, stays 3 s, hangs up.
    let trunk_dir = TempDir::new("trunk");
    let (far, port, trace) = crate::external::far_end_hanging_up(&trunk_dir);
    let engine = Engine::start_in(
        &format!("[cti]\nwrap_up_s = 2\n[trunk]\nproxy = \"127.0.0.1:{port}\"\nkeepalive_s = 0\n"),
        ottawa_always_open,
    );
    let phone = nav1_with_phone(&engine, false);
    let control = phone.control;
    let browser = Browser::open("desk-follow-up");
    logged_in(&browser, &engine, "nav1");
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Ready");

    // A first call, logged with a follow-up due today.
    let run = std::thread::scope(|scope| {
        let caller = scope.spawn(|| call(&engine, OTTAWA, &ottawa_caller('1'), false));
        browser.wait_text("#call-status", "Ringing");
        answer(control);
        browser.wait_text("#call-status", "Talking");
        // The caller's scenario waits for the BYE only once its last key's
        // pause is over (200 ms after the key): a hang-up sooner would
        // reach it mid-pause, which sipp counts as a failure.
        std::thread::sleep(Duration::from_millis(600));
        browser.click("#btn-hangup");
        caller.join().unwrap()
    });
    run.assert_success(&engine);
    add_need(&browser, "emergency shelter", "BH-1800");
    browser.click("#needs input[value=\"unmet\"]");
    browser.select("#needs select.unmet-reason", "waitlist");
    browser.click("#fu-consent");
    browser.eval(
        "const d = new Date(); const e = document.querySelector('#fu-due'); \
         e.value = d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0'); \
         e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![],
    );
    browser.select("#fu-method", "phone");
    browser.type_into("#fu-reason", "a shelter bed tonight?");
    browser.click("#log-submit");
    browser.wait_text("#log-result", "saved");

    // Later, not ready for follow-up calls: the worklist, the call back.
    browser.wait_text("#state-name", "Ready");
    browser.select("#nr-reason", "follow_up_calls");
    browser.click("#btn-not-ready");
    browser.wait_text("#state-name", "Not ready");
    browser.wait_text("#fu-table", "a shelter bed tonight?");
    browser.click("#fu-table .fu-open");
    browser.wait_visible("#fu-call");
    browser.axe("follow-up-open");
    browser.click("#fu-call");
    // The navigator's phone rings first, with the pop of the new call.
    browser.wait_visible("#pop-callback");
    browser.wait_text("#call-status", "Ringing");
    answer(control);
    // Then the person, through the trunk: they talk 3 s and hang up.
    browser.wait_text("#call-status", "Talking");
    browser.axe("follow-up-talking");
    browser.wait_text("#call-status", "ended");
    let (ok, messages) = crate::external::far_end_finished(far, &trace);
    assert!(ok, "the follow-up call did not complete:\n{messages}");
    assert!(
        messages.contains("INVITE sip:+16135550123@127.0.0.1 SIP/2.0"),
        "the person's number is called through the trunk:\n{messages}"
    );
    // What came of it; the follow-up leaves the list.
    browser.click("#fu-table .fu-open");
    browser.select("#fu-outcome", "reached");
    browser.type_into("#fu-notes", "bed found at the Ottawa Mission");
    browser.click("#fu-save");
    browser.wait_until(
        "the follow-up done",
        "return !document.querySelector('#fu-table').innerText.includes('a shelter bed tonight?')",
    );
    // After the wrap-up, back to follow-up calls.
    browser.wait_text("#state-name", "Follow-up");
}
