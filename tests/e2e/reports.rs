//! The reports page in headless Chromium against `frontdoor serve` on a
//! store filled by `frontdoor store generate`: a supervisor reads a month's
//! needs in English and in French, downloads the CSV (byte for byte what
//! `frontdoor report` prints), and a reload keeps the report; a navigator
//! is told the reports are not for them. axe-core on every state, a
//! screenshot of each (`target/tmp/screenshots/`).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::{Browser, keys};
use crate::harness::{Engine, TempDir};
use crate::records::user_add;

const PASSWORD: &str = "reports-pass-1";
/// The generated period: 30 days from here.
const FROM: &str = "2026-03-01";
const TO: &str = "2026-03-30";

/// `frontdoor --db DB ARGS…` in `dir` (no config file there: the defaults,
/// as the engine of these tests has); panics unless it succeeds.
#[track_caller]
fn frontdoor(db: &str, dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .arg("--db")
        .arg(db)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "off")
        .env_remove("FRONTDOOR_CONFIG")
        .env_remove("FRONTDOOR_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run frontdoor");
    assert!(
        out.status.success(),
        "frontdoor {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An account of Ottawa's with `role`.
fn account(db: &str, user: &str, role: &str) {
    let out = user_add(
        db,
        &[
            "--username",
            user,
            "--role",
            role,
            "--centre",
            "ottawa",
            "--languages",
            "en,fr",
            "--password-stdin",
            "--sip-secret-stdin",
        ],
        &format!("{PASSWORD}\n{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "user add {user}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The reports page, logged in as `user` (the login form first).
fn log_in(browser: &Browser, user: &str) {
    browser.wait_visible("#login-view");
    browser.eval("document.querySelector('#username').value = '';", vec![]);
    browser.type_into("#username", user);
    browser.type_into("#password", PASSWORD);
    browser.keys(keys::ENTER);
}

/// Sets a date field as a date picker does (input and change events).
fn set_date(browser: &Browser, css: &str, date: &str) {
    browser.eval(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('input', {bubbles: true})); \
         e.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(css), json!(date)],
    );
}

/// Waits for the page to show a report of `kind` with nothing loading.
#[track_caller]
fn wait_report(browser: &Browser, kind: &str) {
    browser.wait_until(
        &format!("the {kind} report"),
        &format!(
            "const r = window.frontdoorReports; \
             return !!r && r.ready && !!r.lastReport && r.lastReport.kind === {kind:?};"
        ),
    );
}

/// Clicks "Download CSV" and returns the file Chromium saved as `name` in
/// `dir` (which is emptied first).
#[track_caller]
fn download(browser: &Browser, dir: &Path, name: &str) -> Vec<u8> {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    browser.click("#download");
    let file = dir.join(name);
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let partial = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        if file.exists() && !partial {
            // Written by Chromium: done when its size holds still.
            let size = std::fs::metadata(&file).unwrap().len();
            std::thread::sleep(Duration::from_millis(200));
            if std::fs::metadata(&file).unwrap().len() == size {
                break;
            }
        }
        assert!(
            Instant::now() < end,
            "no download {name} in {}: {:?}; the page says {:?}",
            dir.display(),
            std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect::<Vec<_>>(),
            browser.text("#download-status")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.wait_text("#download-status", name);
    std::fs::read(&file).unwrap()
}

/// The two texts side by side where they first differ (for a failure).
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |s: &[u8]| {
        String::from_utf8_lossy(&s[at.saturating_sub(80)..s.len().min(at + 80)]).into_owned()
    };
    format!(
        "sizes {} and {}, first difference at byte {at}:\n{}\n---\n{}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    )
}

#[test]
fn a_supervisor_reads_a_generated_months_needs_in_english_and_french_and_downloads_the_command_lines_csv()
 {
    let store = TempDir::new("reports-store");
    let db = format!("sqlite://{}/frontdoor.db", store.path().display());
    frontdoor(
        &db,
        store.path(),
        &[
            "store", "generate", "--calls", "3000", "--from", FROM, "--days", "30", "--seed", "7",
        ],
    );
    account(&db, "sup1", "supervisor");
    account(&db, "nav1", "navigator");
    let engine = Engine::start_with(&format!("[cti]\ndb = {db:?}\n"));
    let cli_csv = |lang: &str| {
        frontdoor(
            &db,
            store.path(),
            &[
                "report", "needs", "--from", FROM, "--to", TO, "--format", "csv", "--lang", lang,
            ],
        )
        .stdout
    };
    // A level-2 need whose French name differs from its English one, as the
    // command line gives them (the rows come in the same order).
    let names = |lang: &str| -> Vec<String> {
        let out = frontdoor(
            &db,
            store.path(),
            &[
                "report", "needs", "--from", FROM, "--to", TO, "--format", "json", "--lang", lang,
            ],
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let at = report["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["key"] == "l2_name")
            .expect("an l2_name column");
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[at].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let (en_names, fr_names) = (names("en"), names("fr"));
    let (english, french) = en_names
        .iter()
        .zip(&fr_names)
        .find(|(e, f)| e != f && !f.is_empty())
        .map(|(e, f)| (e.clone(), f.clone()))
        .expect("a need named differently in French");

    let downloads = TempDir::new("reports-downloads");
    let browser = Browser::open_with_downloads("reports", downloads.path());
    browser.goto(&format!("http://{}/reports", engine.http));
    browser.wait_visible("#login-view");
    browser.axe("login");
    log_in(&browser, "sup1");
    browser.wait_until(
        "the report form",
        "return window.frontdoorReports && window.frontdoorReports.ready",
    );
    // The previous calendar month is offered first.
    assert!(!browser.value("#from").is_empty() && browser.value("#from") < browser.value("#to"));
    browser.axe("form");

    // Needs, for the generated month; submitted from the keyboard.
    browser.select("#kind", "needs");
    set_date(&browser, "#from", FROM);
    set_date(&browser, "#to", TO);
    assert!(browser.visible("#split"), "the needs report can be split");
    assert!(
        !browser.visible("#tag"),
        "only the incident report asks for a tag"
    );
    // (Each date field is three stops: year, month, day.)
    browser.eval("document.querySelector('#kind').focus();", vec![]);
    browser.tab_to("report-submit", 20);
    browser.keys(keys::ENTER);
    wait_report(&browser, "needs");
    assert_eq!(
        browser.focused(),
        "result-title",
        "the focus goes to the report"
    );
    let title = browser.text("#result-title");
    assert!(
        title.starts_with("Needs, March 1") && title.contains("30, 2026"),
        "{title}"
    );
    let bars = browser.eval(
        "return document.querySelectorAll('#charts svg[role=img] rect.bar').length",
        vec![],
    );
    assert!(bars.as_u64().unwrap_or(0) > 0, "no bars: {bars}");
    assert!(
        browser
            .eval(
                "const s = document.querySelector('#charts svg'); const l = s.getAttribute('aria-labelledby'); \
                 return !!l && !!document.getElementById(l) && document.getElementById(l).tagName === 'title';",
                vec![]
            )
            .as_bool()
            .unwrap_or(false),
        "the chart is named by its <title>"
    );
    let rows = browser.eval(
        "return document.querySelectorAll('#result-table tbody tr').length",
        vec![],
    );
    assert!(rows.as_u64().unwrap_or(0) > 3, "rows: {rows}");
    assert!(browser.text("#result-table tfoot").starts_with("Total"));
    assert!(browser.text("#result-table caption").contains("Needs"));
    assert!(
        browser
            .text("#result-table thead")
            .contains("Need (level 2)")
    );
    assert!(browser.text("#result-table").contains(&english));
    assert!(
        browser.text("#result-privacy").contains("<5"),
        "{}",
        browser.text("#result-privacy")
    );
    // The form's choices are in the address.
    let address = browser.eval("return location.search", vec![]);
    assert_eq!(
        address,
        json!(format!("?kind=needs&from={FROM}&to={TO}")),
        "the address keeps the choices"
    );
    browser.axe("needs-en");
    browser.eval(
        "document.querySelector('#table-scroll').scrollIntoView();",
        vec![],
    );
    browser.screenshot("needs-en-table");

    // The CSV is the command line's, byte for byte.
    let name = format!("frontdoor-needs-{FROM}-{TO}.csv");
    let csv = download(&browser, downloads.path(), &name);
    let expected = cli_csv("en");
    assert!(
        csv == expected,
        "the page's CSV is not the command line's: {}",
        first_difference(&csv, &expected)
    );

    // A reload comes back to the same report.
    browser.reload();
    wait_report(&browser, "needs");
    assert_eq!(browser.value("#kind"), "needs");
    assert_eq!(
        (browser.value("#from"), browser.value("#to")),
        (FROM.to_owned(), TO.to_owned())
    );
    assert!(browser.text("#result-title").starts_with("Needs, March 1"));

    // In French: the page's words, and the taxonomy's names from the server.
    browser.click("#lang-toggle");
    browser.wait_text("#result-title", "Besoins");
    browser.wait_text("#result-table", &french);
    wait_report(&browser, "needs");
    let title = browser.text("#result-title");
    assert!(title.contains("mars 2026"), "{title}");
    assert!(
        browser
            .text("#result-table thead")
            .contains("Besoin (niveau 2)")
    );
    assert!(browser.text("#result-table tfoot").starts_with("Total"));
    assert!(browser.text("#result-privacy").contains("inférieurs à 5"));
    let left = browser.english_left();
    assert!(
        left.is_empty(),
        "English on the French reports page: {left:?}"
    );
    browser.axe("needs-fr");
    browser.eval(
        "document.querySelector('#table-scroll').scrollIntoView();",
        vec![],
    );
    browser.screenshot("needs-fr-table");
    let csv = download(&browser, downloads.path(), &name);
    let expected = cli_csv("fr");
    assert!(
        csv == expected,
        "the page's French CSV is not the command line's: {}",
        first_difference(&csv, &expected)
    );

    // Back in English, every other report of the month draws and reads.
    browser.click("#lang-toggle");
    browser.wait_text("#result-title", "Needs");
    wait_report(&browser, "needs");
    for (kind, title) in [
        ("unmet", "Unmet needs"),
        ("service-level", "Service level"),
        ("tracked", "Calls tracked"),
        ("follow-ups", "Follow-ups"),
        ("incident", "Emergency incident"),
        ("demographics", "Who called"),
    ] {
        browser.select("#kind", kind);
        if kind == "incident" {
            browser.select("#tag", "2026-ottawa-flood");
            assert_eq!(browser.value("#by"), "day", "an incident goes day by day");
        }
        browser.click("#report-submit");
        wait_report(&browser, kind);
        assert_eq!(browser.text("#report-error"), "", "{kind}");
        assert!(
            browser.text("#result-title").starts_with(title),
            "{kind}: {}",
            browser.text("#result-title")
        );
        let shown = browser.eval(
            "return [document.querySelectorAll('#charts svg[role=img]').length, \
                     document.querySelectorAll('#result-table tbody tr').length]",
            vec![],
        );
        assert!(
            shown[0].as_u64() > Some(0) && shown[1].as_u64() > Some(0),
            "{kind}: charts and rows {shown}"
        );
        browser.axe(kind);
    }
    browser.select("#kind", "needs");

    // A mistake: the end before the start.
    set_date(&browser, "#to", "2026-02-01");
    browser.click("#report-submit");
    browser.wait_until(
        "the date's error next to it",
        "const e = document.getElementById('err-to'); const f = document.getElementById('to'); \
         return e.innerText.includes('same as the start date or later') && f.getAttribute('aria-invalid') === 'true' \
         && f.getAttribute('aria-describedby') === 'err-to' && document.activeElement === f;",
    );
    browser.axe("date-error");

    // A navigator is told the reports are not for them.
    browser.click("#logout");
    log_in(&browser, "nav1");
    browser.wait_visible("#denied-view");
    assert!(
        browser
            .text("#denied-view")
            .contains("supervisors and operations staff")
    );
    assert!(!browser.visible("#reports-view"));
    browser.axe("navigator");
}
