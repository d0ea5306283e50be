//! The community resource directory on the navigator's desk, in headless
//! Chromium against `frontdoor serve` with a generated directory in its
//! store, a real sipp caller and a real phone (baresip, answered when the
//! test says): the navigator finds open French food banks near Ottawa,
//! refers one with the keyboard, saves the log, and sees the referral in the
//! caller's history on the next call. Every list the page shows is checked
//! against the API's own answer; axe-core on every state; screenshots in
//! `target/tmp/screenshots/directory-*.png`.

use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::acd::desk::{add_need, assert_focus_is_visible, logged_in, nav1_with_phone};
use crate::browser::{Browser, keys};
use crate::harness::{
    Engine, SippRun, TempDir, free_media_port, info_key_step, ivr_call_with, sipp,
};
use crate::ivr::ottawa_always_open;
use crate::records::http;
use crate::registrar::answer;

const CALLER: &str = "+16135550123";

/// Runs the `frontdoor` binary with `args`; its output.
fn frontdoor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("run frontdoor")
}

/// A synthetic directory (3,000 services, seed 7) generated and imported
/// into the store `db` before the engine starts on it.
fn generated_directory(db: &str) {
    let dir = TempDir::new("directory");
    let data = dir.path().join("hsds");
    let data = data.to_str().unwrap();
    for args in [
        vec![
            "directory",
            "generate",
            data,
            "--services",
            "3000",
            "--seed",
            "7",
        ],
        vec!["directory", "import", data, "--db", db],
    ] {
        let out = frontdoor(&args);
        assert!(
            out.status.success(),
            "frontdoor {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A caller from 613 who presses 2 (French) then 2 (food) by SIP INFO (two
/// presses of one key: RFC 4733 replays of one recording would be one key),
/// then waits for the engine's BYE.
fn french_caller_about_food(engine: &Engine) -> SippRun {
    let dir = TempDir::new("caller");
    let keys = info_key_step(1000, '2', 2, false) + &info_key_step(1500, '2', 3, false);
    let scenario = ivr_call_with(&dir, &keys);
    sipp(
        engine,
        scenario.to_str().unwrap(),
        "u1",
        &[
            ("rtp_port", free_media_port().to_string()),
            ("caller", CALLER.to_owned()),
        ],
        &[],
    )
}

/// Records every directory search the page sends (the test asks the API
/// the same question and compares); again after each reload.
fn watch_searches(browser: &Browser) {
    browser.eval(
        "if (!window.__searches) { window.__searches = []; const f = window.fetch; \
         window.fetch = (url, options) => { if (String(url).includes('/api/directory/search')) \
         window.__searches.push(String(url)); return f(url, options); }; }",
        vec![],
    );
}

/// Presses Enter in the search box (it has the focus) and waits for the
/// answer on the page; returns the query the page sent.
#[track_caller]
fn search_with_enter(browser: &Browser) -> String {
    assert_eq!(browser.focused(), "dir-q", "Enter searches from the box");
    let before = browser.eval("return window.__searches.length", vec![]);
    browser.keys(keys::ENTER);
    browser.wait_until(
        "the search answered",
        &format!(
            "return window.__searches.length > {before} \
             && !document.querySelector('#dir-results').hasAttribute('aria-busy') \
             && (document.querySelector('#dir-status').innerText.length > 0 \
                 || document.querySelector('#directory .field-error:not(:empty), #dir-error:not(:empty)') !== null)"
        ),
    );
    browser
        .eval(
            "return window.__searches[window.__searches.length - 1]",
            vec![],
        )
        .as_str()
        .unwrap()
        .to_owned()
}

/// The API's answer to the page's query (without its call, so the test's
/// question is not recorded as the navigator's search).
#[track_caller]
fn api_answer(engine: &Engine, token: &str, url: &str) -> Value {
    let (path, query) = url.split_once('?').expect("a query");
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("call_id="))
        .collect();
    let (status, body) = http(
        engine.http,
        "GET",
        &format!("{path}?{}", query.join("&")),
        Some(token),
        "",
    );
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The value of `name` in a query string, decoded.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(v: &str) -> String {
    let bytes = v.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The postal area (K1L) of a Canadian address ending with its postal code.
fn postal_area(address: &str) -> Option<String> {
    let code: String = address
        .chars()
        .rev()
        .filter(|c| !c.is_whitespace())
        .take(6)
        .collect::<Vec<char>>()
        .into_iter()
        .rev()
        .collect();
    let b = code.as_bytes();
    let shaped = b.len() == 6
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphabetic()
        && b[3].is_ascii_digit()
        && b[4].is_ascii_alphabetic()
        && b[5].is_ascii_digit();
    shaped.then(|| code[..3].to_ascii_uppercase())
}

/// The results as the page shows them.
fn page_results(browser: &Browser) -> Vec<Value> {
    browser
        .eval(
            "return [...document.querySelectorAll('#dir-results > li')].map(li => ({ \
               id: li.dataset.serviceId, name: li.querySelector('h5').innerText, text: li.innerText, \
               open: li.querySelectorAll('.dir-open').length, closed: li.querySelectorAll('.dir-closed').length }));",
            vec![],
        )
        .as_array()
        .unwrap()
        .clone()
}

/// The text of the option chosen in the select `css`.
fn chosen(browser: &Browser, css: &str) -> String {
    browser
        .eval(
            "return document.querySelector(arguments[0]).selectedOptions[0].text",
            vec![json!(css)],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sets a field as a person's typing would leave it (input and change).
fn set_value(browser: &Browser, css: &str, value: &str) {
    browser.eval(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(css), json!(value)],
    );
}

/// Next Wednesday at 10:30 on the page's clock (Ontario): a weekday when
/// food banks are open, never a statutory holiday falling on a Wednesday.
fn next_wednesday_morning(browser: &Browser) -> String {
    browser
        .eval(
            "const pad = n => String(n).padStart(2, '0'); const d = new Date(); d.setDate(d.getDate() + 1); \
             const holiday = x => ['12-25', '12-26', '01-01', '07-01'].includes(pad(x.getMonth() + 1) + '-' + pad(x.getDate())); \
             while (d.getDay() !== 3 || holiday(d)) d.setDate(d.getDate() + 1); \
             return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T10:30';",
            vec![],
        )
        .as_str()
        .unwrap()
        .to_owned()
}

fn offers(result: &Value, lang: &str) -> bool {
    result["languages"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x == lang))
}

fn is_food_bank(result: &Value) -> bool {
    let coded = result["codes"].as_array().is_some_and(|c| {
        c.iter()
            .any(|x| x.as_str().unwrap_or("").starts_with("BD-1800"))
    });
    let named = ["name", "alternate_name"].iter().any(|k| {
        let n = result[*k].as_str().unwrap_or("").to_lowercase();
        n.contains("food bank") || n.contains("banque alimentaire")
    });
    coded || named
}

/// Whether a weekly schedule covers `day` ("wed") at `hm` ("10:30").
fn open_in_hours(result: &Value, day: &str, hm: &str) -> bool {
    result["hours"].as_array().unwrap().iter().any(|h| {
        h["days"].as_array().unwrap().iter().any(|d| d == day)
            && h["opens"].as_str().unwrap() <= hm
            && hm < h["closes"].as_str().unwrap()
    })
}

/// Checks an answer to "banque alimentaire, near the caller's region, in
/// French, open at `at`" and that the page shows exactly it; returns the
/// results.
#[track_caller]
fn assert_open_french_food_banks_near_ottawa(
    browser: &Browser,
    answer: &Value,
    at: &str,
) -> Vec<Value> {
    let results = answer["results"].as_array().unwrap().clone();
    assert!(!results.is_empty(), "no food bank found: {answer:#}");
    assert_eq!(answer["at"], at, "the time searched: {answer:#}");
    assert_eq!(answer["near"]["label"], "east", "{answer:#}");
    // Every one open then (a Wednesday), by its own weekly hours when it
    // has them.
    for r in &results {
        assert_eq!(r["open"], true, "closed at {at}: {r:#}");
        if !r["hours"].as_array().unwrap().is_empty() {
            assert!(
                open_in_hours(r, "wed", &at[11..]),
                "not open at {at}: {r:#}"
            );
        }
    }
    // Those offering French first, then the others.
    let first_other = results
        .iter()
        .position(|r| !offers(r, "fr"))
        .unwrap_or(results.len());
    assert!(
        first_other > 0,
        "the first result does not offer French: {:#}",
        results[0]
    );
    assert!(
        results[first_other..].iter().all(|r| !offers(r, "fr")),
        "French services after one without French: {answer:#}"
    );
    // The first ones: food banks near Ottawa.
    for r in results.iter().take(3) {
        assert!(is_food_bank(r), "not a food bank: {r:#}");
        let km = r["distance_km"].as_f64().unwrap_or(f64::MAX);
        assert!(km < 60.0, "not near Ottawa ({km} km): {r:#}");
    }
    // The page shows the same services, in the same order, all open.
    let shown = page_results(browser);
    let names = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|r| r["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        names(&shown),
        names(&results),
        "the page's list is the API's"
    );
    for (page, api) in shown.iter().zip(&results) {
        assert_eq!(page["id"], api["service_id"]);
        assert_eq!(
            (page["open"].as_u64(), page["closed"].as_u64()),
            (Some(1), Some(0)),
            "{page:#}"
        );
    }
    let first = shown[0]["text"].as_str().unwrap();
    assert!(first.contains("French"), "{first}");
    assert!(first.contains("km"), "{first}");
    if let Some(phone) = results[0]["phone"].as_str() {
        assert!(first.contains(phone), "{first}");
    }
    results
}

#[test]
fn a_navigator_finds_an_open_french_food_bank_near_ottawa_refers_it_and_sees_it_on_the_next_call() {
    let store = TempDir::new("directory-store");
    let db = format!("sqlite://{}/frontdoor.db", store.path().display());
    generated_directory(&db);
    let engine = Engine::start_in(
        &format!("[cti]\nwrap_up_s = 2\ndb = {db:?}\n"),
        ottawa_always_open,
    );
    let phone = nav1_with_phone(&engine, false);
    let control = phone.control;

    let browser = Browser::open("directory");
    logged_in(&browser, &engine, "nav1");
    watch_searches(&browser);
    let token = browser
        .eval("return sessionStorage.getItem('frontdoor.token')", vec![])
        .as_str()
        .unwrap()
        .to_owned();
    browser.wait_text("#state-name", "Not ready");
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Ready");
    let wednesday = next_wednesday_morning(&browser);

    // A French-speaking caller from 613 about food.
    let (call_id, service) = std::thread::scope(|scope| {
        let caller = scope.spawn(|| french_caller_about_food(&engine));
        browser.wait_text("#call-status", "Ringing");
        let call_id = browser
            .eval("return window.frontdoorDesk.lastPop.call_id", vec![])
            .as_str()
            .unwrap()
            .to_owned();
        assert!(browser.text("#pop-language").contains("French"));
        answer(control);
        browser.wait_text("#call-status", "Talking");

        // The need first (the referral's code follows it).
        add_need(&browser, "emergency food", "BD-1800");
        browser.click("#needs input[value=\"met\"]");

        // The search starts from the call: its region, its language, open now.
        assert_eq!(browser.value("#dir-near"), "region");
        let near = chosen(&browser, "#dir-near");
        assert_eq!(near, "The caller's region (East)");
        assert_eq!(browser.value("#dir-lang"), "fr");
        assert_eq!(
            browser.eval(
                "return document.querySelector('#dir-open-now').checked",
                vec![]
            ),
            json!(true)
        );
        // Open next Wednesday morning (now depends on when the test runs).
        set_value(&browser, "#dir-open-at", &wednesday);
        browser.click("#dir-q");
        browser.keys("banque alimentaire");
        let url = search_with_enter(&browser);
        assert_eq!(
            param(&url, "q").as_deref(),
            Some("banque alimentaire"),
            "{url}"
        );
        assert_eq!(param(&url, "near").as_deref(), Some("region:east"), "{url}");
        assert_eq!(param(&url, "lang").as_deref(), Some("fr"), "{url}");
        assert_eq!(
            param(&url, "open").as_deref(),
            Some(wednesday.as_str()),
            "{url}"
        );
        assert_eq!(
            param(&url, "call_id").as_deref(),
            Some(call_id.as_str()),
            "{url}"
        );
        let answer_json = api_answer(&engine, &token, &url);
        let results = assert_open_french_food_banks_near_ottawa(&browser, &answer_json, &wednesday);
        let count = results.len();
        let status = browser.text("#dir-status");
        assert_eq!(
            status,
            if count == 1 {
                "1 service found".to_owned()
            } else {
                format!("{count} services found")
            }
        );
        browser.axe("results-en");

        // Refer the first with the keyboard: Tab to its button, Enter.
        browser.tab_to("dir-refer-0", 40);
        assert_focus_is_visible(&browser);
        browser.keys(keys::ENTER);
        let service = results[0].clone();
        let id = service["service_id"].as_str().unwrap().to_owned();
        let name = service["name"].as_str().unwrap().to_owned();
        browser.wait_until(
            "the referral from the directory",
            &format!(
                "return document.querySelector('#referrals li[data-service-id={:?}]') !== null",
                id
            ),
        );
        browser.wait_text("#dir-announce", &format!("Added to the referrals: {name}."));
        assert_eq!(
            browser.value("#referrals li[data-service-id] .ref-name"),
            name
        );
        if let Some(phone) = service["phone"].as_str() {
            assert_eq!(
                browser.value("#referrals li[data-service-id] .ref-phone"),
                phone
            );
        }
        assert!(browser.text("#referrals").contains("From the directory"));
        assert!(browser.visible("#dir-results > li:first-child .dir-referred"));
        // Twice is once: the blank row made way, the second press says so.
        browser.keys(keys::ENTER);
        browser.wait_text("#dir-announce", "already in the referrals");
        assert_eq!(
            browser.eval(
                "return document.querySelectorAll('#referrals > li').length",
                vec![]
            ),
            json!(1)
        );
        browser.eval(
            "document.querySelector('#referrals').closest('fieldset').scrollIntoView({block: 'end'})",
            vec![],
        );
        browser.axe("referred");

        // The call ends; the log stays.
        browser.keys(&keys::shortcut('H'));
        caller.join().unwrap().assert_success(&engine);
        browser.wait_text("#call-status", "ended");
        (call_id, service)
    });
    let service_id = service["service_id"].as_str().unwrap();
    let name = service["name"].as_str().unwrap();

    // A postal area the server refuses is named at its field, in its words.
    browser.select("#dir-near", "postal");
    browser.wait_visible("#dir-postal");
    set_value(&browser, "#dir-postal", "K1");
    browser.click("#dir-q");
    search_with_enter(&browser);
    let error = browser.wait_text("#err-dir-near", "near:");
    assert_eq!(browser.focused(), "dir-postal", "{error}");
    assert_eq!(
        browser.eval(
            "const e = document.querySelector('#dir-postal'); return e.getAttribute('aria-invalid') === 'true' \
             && e.getAttribute('aria-describedby').includes('err-dir-near')",
            vec![]
        ),
        json!(true)
    );
    browser.axe("postal-refused");
    // The postal area of the service referred (the caller lives near it):
    // distances from there.
    let fsa = postal_area(service["address"].as_str().unwrap_or_default())
        .unwrap_or_else(|| panic!("no postal code in {service:#}"));
    set_value(&browser, "#dir-postal", &fsa);
    browser.click("#dir-q");
    let url = search_with_enter(&browser);
    assert_eq!(
        param(&url, "near").as_deref(),
        Some(format!("postal:{fsa}").as_str()),
        "{url}"
    );
    assert_eq!(browser.text("#err-dir-near"), "");
    let near_fsa = api_answer(&engine, &token, &url);
    assert_eq!(near_fsa["near"]["label"], fsa.as_str(), "{near_fsa:#}");
    let found = near_fsa["results"].as_array().unwrap();
    let again = found
        .iter()
        .find(|r| r["service_id"] == service["service_id"])
        .unwrap_or_else(|| panic!("the service is found from its own postal area: {near_fsa:#}"));
    let km = again["distance_km"].as_f64().unwrap();
    assert!(km < 15.0, "{km} km from its own postal area: {near_fsa:#}");
    assert_eq!(page_results(&browser).len(), found.len());
    browser.select("#dir-near", "region");

    // Open now: the same search without a time (at night, nothing may be open).
    set_value(&browser, "#dir-open-at", "");
    browser.click("#dir-q");
    let url = search_with_enter(&browser);
    assert_eq!(param(&url, "open").as_deref(), Some("now"), "{url}");
    let now = api_answer(&engine, &token, &url);
    let open_now = now["results"].as_array().unwrap();
    assert!(open_now.iter().all(|r| r["open"] == true), "{now:#}");
    let shown = page_results(&browser);
    assert_eq!(shown.len(), open_now.len());
    if open_now.is_empty() {
        assert!(browser.text("#dir-status").contains("Widen the search"));
    } else {
        assert!(
            shown
                .iter()
                .all(|r| r["text"].as_str().unwrap().contains("Open now"))
        );
    }
    set_value(&browser, "#dir-open-at", &wednesday);

    // A reload: the search, its filters and the referral come back.
    browser.reload();
    browser.wait_until(
        "the desk connected after the reload",
        "return window.frontdoorDesk.ready",
    );
    browser.wait_text("#needs", "BD-1800");
    watch_searches(&browser);
    assert_eq!(browser.value("#dir-q"), "banque alimentaire");
    assert_eq!(browser.value("#dir-open-at"), wednesday);
    assert_eq!(browser.value("#dir-lang"), "fr");
    assert_eq!(browser.value("#dir-near"), "region");
    assert_eq!(browser.value("#dir-postal"), fsa);
    assert_eq!(
        browser.value("#referrals li[data-service-id] .ref-name"),
        name
    );

    // Saved: the store has the referral by the service's id.
    browser.click("#log-submit");
    browser.wait_text("#log-result", "saved");
    let (status, body) = http(
        engine.http,
        "GET",
        &format!("/api/calls/{call_id}/log"),
        Some(&token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let stored: Value = serde_json::from_str(&body).unwrap();
    let referrals = stored["log"]["referrals"].as_array().unwrap();
    assert_eq!(referrals.len(), 1, "{stored:#}");
    assert_eq!(referrals[0]["service_id"], service_id, "{stored:#}");
    assert_eq!(referrals[0]["name"], name, "{stored:#}");
    assert!(
        referrals[0]["code"]
            .as_str()
            .unwrap_or("")
            .starts_with("BD-1800"),
        "the code under the need: {stored:#}"
    );

    // The next call from the same number shows it in the caller's history.
    browser.click("#btn-ready");
    browser.wait_text("#state-name", "Ready");
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| french_caller_about_food(&engine));
        browser.wait_until(
            "the second call's pop",
            &format!("return window.frontdoorDesk.lastPop && window.frontdoorDesk.lastPop.call_id !== {call_id:?}"),
        );
        let history = browser.wait_text("#previous-table", name);
        assert!(
            history.contains(&format!("Referred to: {name}")),
            "{history}"
        );
        browser.axe("history");
        answer(control);
        browser.wait_until(
            "the second call answered",
            "return document.querySelector('#btn-hangup').disabled === false",
        );

        // The French desk: every word French, the search again.
        browser.click("#lang-toggle");
        browser.wait_until(
            "the page in French",
            "return document.documentElement.lang === 'fr'",
        );
        assert!(
            browser
                .text("#previous-table")
                .contains(&format!("Orienté vers : {name}"))
        );
        assert_eq!(
            chosen(&browser, "#dir-near"),
            "La région de l'appelant (Est)"
        );
        // Typed without accents ("denrées périssables" in the descriptions).
        set_value(&browser, "#dir-open-at", &wednesday);
        browser.click("#dir-q");
        browser.keys("denrees perissables");
        let url = search_with_enter(&browser);
        let fr = api_answer(&engine, &token, &url);
        let results = fr["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{fr:#}");
        assert!(results.iter().all(|r| r["open"] == true), "{fr:#}");
        assert!(offers(&results[0], "fr"), "{fr:#}");
        for r in results {
            let text = format!("{} {}", r["name"], r["description"]).to_lowercase();
            assert!(
                text.contains("denrées") || text.contains("périssables"),
                "found without its words: {r:#}"
            );
        }
        // With the accents, the same services.
        assert!(url.contains("q=denrees+perissables&"), "{url}");
        let accented = api_answer(
            &engine,
            &token,
            &url.replace("q=denrees+perissables", "q=denr%C3%A9es+p%C3%A9rissables"),
        );
        let ids = |a: &Value| -> Vec<Value> {
            a["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["service_id"].clone())
                .collect()
        };
        assert_eq!(ids(&accented), ids(&fr), "accents change nothing");
        let shown = page_results(&browser);
        assert_eq!(
            shown.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
            ids(&fr)
        );
        let status = browser.text("#dir-status");
        let count = results.len();
        assert_eq!(
            status,
            if count == 1 {
                "1 service trouvé".to_owned()
            } else {
                format!("{count} services trouvés")
            }
        );
        let first = shown[0]["text"].as_str().unwrap();
        assert!(first.contains("Ouvert"), "{first}");
        assert!(first.contains("Français"), "{first}");
        let left = browser.english_left_but(".dir-data");
        assert!(left.is_empty(), "English on the French desk: {left:?}");
        browser.axe("fr");

        browser.keys(&keys::shortcut('H'));
        caller.join().unwrap().assert_success(&engine);
    });
}
