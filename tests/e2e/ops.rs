//! The operations console in headless Chromium, against `frontdoor serve`
//! and real sipp callers: an operations person edits the flows with a
//! mistake, sees it at its line, fixes it and the test it breaks, activates
//! it (the next call hears the change), rolls it back in one press (the
//! next call hears the old flow), and the same from the command line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::{Browser, keys};
use crate::harness::{Engine, message};
use crate::ivr::{call_pressing, prompts_sent};
use crate::records::{http, login};

const PASSWORD: &str = "ops-pass-12345";
const OTTAWA: &str = "+16135550123";
const GREETING: &str = "prompt: [welcome, emergency_911, crisis_key, language_menu]";

fn account(engine: &Engine, user: &str, role: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args([
            "--db",
            &engine.db,
            "user",
            "add",
            "--username",
            user,
            "--role",
            role,
        ])
        .args([
            "--centre",
            "ottawa",
            "--languages",
            "en",
            "--password-stdin",
        ])
        .env("RUST_LOG", "off")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The console open and signed in as `user`, loaded.
fn signed_in(browser: &Browser, engine: &Engine, user: &str) {
    browser.goto(&format!("http://{}/ops", engine.http));
    browser.wait_visible("#login-view");
    browser.type_into("#username", user);
    browser.type_into("#password", PASSWORD);
    browser.keys(keys::ENTER);
    browser.wait_until("the console", "return window.frontdoorOps.ready");
}

/// A call's record once it names its flow version (the spool has written it).
fn record_of(engine: &Engine, token: &str, id: &str) -> Value {
    for _ in 0..50 {
        let path = format!("/api/calls/{id}");
        let (status, body) = http(engine.http, "GET", &path, Some(token), "");
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["call"]["flow_version"].is_string() {
                return v;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no record of {id} with its flow version");
}

/// Replaces the text of the editor (as typing would, through `input`).
fn set_editor(browser: &Browser, text: &str) {
    browser.eval(
        "const t = document.getElementById('flow-text'); t.value = arguments[0]; \
         t.dispatchEvent(new Event('input', { bubbles: true }));",
        vec![json!(text)],
    );
}

fn editor(browser: &Browser) -> String {
    browser.value("#flow-text")
}

/// Chooses a file of the flow version in the editor.
fn open_file(browser: &Browser, path: &str) {
    let index = browser.eval(
        "return [...document.getElementById('flow-file').options].findIndex((o) => o.text === arguments[0])",
        vec![json!(path)],
    );
    browser.select("#flow-file", &index.to_string());
}

/// Presses "Check" and waits for its answer.
fn check(browser: &Browser) -> Value {
    browser.click("#flow-check");
    browser.wait_until("the check", "return window.frontdoorOps.ready && window.frontdoorOps.lastCheck !== null && document.activeElement.id === 'check-title'");
    browser.eval("return window.frontdoorOps.lastCheck", vec![])
}

/// The prompts a caller pressing 1 then 2 hears, and their call's flow version.
fn a_call(engine: &Engine, ops: &str) -> (Vec<String>, String) {
    let run = call_pressing(engine, OTTAWA, &[(1000, '1'), (1500, '2')]);
    let id = engine.id_of(&run.call_id());
    let sent = prompts_sent(engine, &id);
    let version = record_of(engine, ops, &id)["call"]["flow_version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (sent, version)
}

fn frontdoor(engine: &Engine, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["--db", &engine.db])
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

#[test]
fn an_ops_person_fixes_a_flow_at_its_line_activates_it_and_rolls_it_back_in_one_press() {
    // The shipped flows as they are: their tests must pass to activate.
    let engine = Engine::start_in("", |_| {});
    account(&engine, "ops1", "ops");
    let ops = login(&engine, "ops1", PASSWORD);

    // The call before: the whole greeting, on the version at start.
    let (before, first) = a_call(&engine, &ops);
    assert!(
        before.contains(&"en/emergency_911".to_owned()),
        "{before:?}"
    );
    assert!(!first.is_empty(), "the call record names its flow version");

    let browser = Browser::open("ops");
    signed_in(&browser, &engine, "ops1");
    assert_eq!(
        browser.eval("return window.frontdoorOps.activeVersion", vec![]),
        json!(first)
    );
    browser.axe("flows");
    browser.screenshot("flows");

    // The diagram names every node; a node takes the editor to its line.
    let drawn = browser.eval(
        "return [...document.querySelectorAll('#diagram g.node')].map((g) => g.dataset.node)",
        vec![],
    );
    let drawn: Vec<&str> = drawn
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let text = std::fs::read_to_string(engine.flows_dir().join("211.yaml")).unwrap();
    for name in [
        "greeting",
        "english",
        "french",
        "find_region",
        "topic",
        "crisis",
    ] {
        assert!(
            drawn.contains(&name),
            "{name} is not in the diagram: {drawn:?}"
        );
    }
    // Every node the flow defines (`  name:` under `nodes:`) is drawn.
    let defined: Vec<&str> = text
        .split("\nnodes:\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    assert!(defined.len() > 10, "{defined:?}");
    for name in &defined {
        assert!(drawn.contains(name), "{name} is not in the diagram");
    }
    let greeting_line = text.lines().position(|l| l == "  greeting:").unwrap() + 1;
    // By the keyboard: the node takes the focus, and Enter on it.
    let focused = browser.eval(
        "const g = document.querySelector('#diagram g.node[data-node=\"greeting\"]'); g.focus(); \
         const was = document.activeElement === g; \
         g.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true })); return was;",
        vec![],
    );
    assert_eq!(focused, json!(true), "a node takes the focus");
    browser.wait_text("#flow-line", &format!("211.yaml, line {greeting_line}"));
    // And by a click.
    browser.click("#diagram g.node[data-node=\"english\"]");
    let english_line = text.lines().position(|l| l == "  english:").unwrap() + 1;
    browser.wait_text("#flow-line", &format!("211.yaml, line {english_line}"));
    browser.axe("diagram");

    // 1. A mistake: the language menu's prompt misspelt.
    let original = editor(&browser);
    let line = original
        .lines()
        .position(|l| l.trim() == GREETING)
        .expect("the greeting's prompts")
        + 1;
    set_editor(
        &browser,
        &original.replace(GREETING, "prompt: [welcome, crisis_key, langauge_menu]"),
    );
    let result = check(&browser);
    assert_eq!(result["ok"], false, "{result}");
    let problem = &result["problems"][0];
    assert_eq!(problem["file"], "211.yaml", "{result}");
    assert_eq!(problem["line"], line, "{result}");
    let shown = browser.text("#problems");
    assert!(
        shown.contains(&format!("{line} | ")),
        "the line is shown: {shown}"
    );
    assert!(shown.contains("langauge_menu"), "{shown}");
    browser.axe("problem");
    browser.screenshot("problem");
    assert!(
        browser.eval(
            "return document.getElementById('flow-activate').disabled",
            vec![]
        ) == json!(true),
        "a version with a problem cannot be activated"
    );
    // The problem takes the caret to its line.
    browser.click("#problems li button");
    browser.wait_text("#flow-line", &format!("211.yaml, line {line}"));

    // 2. Fixed, the greeting without the 911 reminder: the test that
    //    expects it fails; a reload keeps the edit.
    set_editor(
        &browser,
        &original.replace(GREETING, "prompt: [welcome, crisis_key, language_menu]"),
    );
    browser.reload();
    browser.wait_until("the console again", "return window.frontdoorOps.ready");
    assert!(browser.visible("#draft-note"), "the edit is restored");
    assert!(!editor(&browser).contains("emergency_911, crisis_key"));
    let result = check(&browser);
    assert_eq!(result["problems"], json!([]), "{result}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["tests"]["failed"], 1, "{result}");
    assert!(browser.text("#tests").contains("FAIL tests/languages.yaml"));
    open_file(&browser, "tests/languages.yaml");
    let test = editor(&browser);
    set_editor(
        &browser,
        &test.replace(
            "prompts: [welcome, emergency_911, crisis_key, language_menu, topic_menu, connecting]",
            "prompts: [welcome, crisis_key, language_menu, topic_menu, connecting]",
        ),
    );
    let result = check(&browser);
    assert_eq!(result["ok"], true, "{result}");
    let second = result["version"].as_str().unwrap().to_owned();
    assert!(browser.text("#tests-summary").contains("0 failed"));
    browser.axe("checked");

    // 3. Activated: the next call hears the greeting without it.
    browser.click("#flow-activate");
    browser.wait_text("#flow-status", &format!("Version {second} is active"));
    let (after, version) = a_call(&engine, &ops);
    assert_eq!(version, second);
    assert!(!after.contains(&"en/emergency_911".to_owned()), "{after:?}");
    assert!(after.contains(&"en/crisis_key".to_owned()), "{after:?}");
    let greeting = browser.eval(
        "return document.querySelector('#diagram g.node[data-node=\"greeting\"]').textContent",
        vec![],
    );
    let greeting = greeting.as_str().unwrap_or_default();
    assert!(
        greeting.contains("menu welcome, crisis_key"),
        "the diagram is of the new version: {greeting}"
    );
    let row = browser.text(&format!("tr[data-version=\"{second}\"]"));
    assert!(row.contains("ops1"), "activated by the account: {row}");
    browser.screenshot("activated");

    // 4. Rolled back to the first version in one press (and its confirm).
    let rollback = format!("tr[data-version=\"{first}\"] .rollback");
    browser.click(&rollback);
    browser.wait_text(&rollback, "Confirm roll back");
    browser.axe("confirm-rollback");
    browser.keys(keys::ENTER);
    browser.wait_text("#flow-status", &format!("version {first} is active"));
    let (again, version) = a_call(&engine, &ops);
    assert_eq!(version, first);
    assert!(again.contains(&"en/emergency_911".to_owned()), "{again:?}");
    browser.screenshot("rolled-back");

    // 5. The same from the command line: the versions, then back to the
    //    second, which the running engine activates from the folder.
    let out = frontdoor(&engine, &["flow", "versions"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{listed}");
    let newest = listed.lines().nth(1).unwrap_or_default();
    assert!(
        newest.starts_with(&first) && newest.contains("ops1") && newest.contains("(active)"),
        "{listed}"
    );
    assert!(listed.contains(&second), "{listed}");
    let flows = engine.flows_dir();
    let out = frontdoor(
        &engine,
        &[
            "flow",
            "rollback",
            &second,
            "--flows",
            flows.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    engine
        .wait_for(Duration::from_secs(10), |v| {
            message(v) == "flows activated" && v["fields"]["version"] == second.as_str()
        })
        .unwrap_or_else(|| panic!("the engine did not activate {second}:\n{}", engine.dump()));
    let (_, version) = a_call(&engine, &ops);
    assert_eq!(version, second);
    let (status, body) = http(engine.http, "GET", "/api/flows/versions", Some(&ops), "");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let by = v["versions"][0]["activated_by"]
        .as_str()
        .unwrap_or_default();
    assert!(by.starts_with("cli:"), "{body}");

    // The prompts: each with its words in both languages, synthetic here,
    // and one played in the page (fetched with the token, decoded).
    browser.type_into("#prompt-filter", "welcome");
    let row = browser.text("#prompt-table tr[data-prompt=\"welcome\"]");
    assert!(row.contains("Synthetic"), "{row}");
    assert_eq!(
        browser.eval(
            "return document.querySelectorAll('#prompt-table tbody tr').length",
            vec![]
        ),
        json!(1),
        "the filter leaves one"
    );
    browser.click("#prompt-table button[data-play=\"fr/welcome\"]");
    browser.wait_until(
        "the prompt's sound decoded",
        "const a = document.getElementById('prompt-audio'); return a.dataset.playing === 'fr/welcome' && a.duration > 0.5",
    );
    browser.axe("prompts");
    let (status, _) = http(
        engine.http,
        "GET",
        "/api/prompts/en/../../etc",
        Some(&ops),
        "",
    );
    assert_eq!(status, 404);

    // The audit log: who activated and rolled back, found by what and by whom.
    browser.type_into("#audit-action", "flow.");
    browser.type_into("#audit-actor", "ops1");
    browser.click("#audit-show");
    browser.wait_text("#audit-status", "entries from");
    let shown = browser.text("#audit-table tbody");
    assert!(
        shown.contains("flow.rollback") && shown.contains("flow.upload"),
        "{shown}"
    );
    assert!(
        !shown.contains("GET /api"),
        "only the flow actions: {shown}"
    );
    browser.axe("audit");
    browser.screenshot("audit");
    let (status, csv) = http(
        engine.http,
        "GET",
        &format!("/api/audit?action=flow.rollback&target={first}&format=csv"),
        Some(&ops),
        "",
    );
    assert_eq!(status, 200, "{csv}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "at,actor,action,target,outcome,detail,peer");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(",ops1,flow.rollback,") && lines[1].contains(&first),
        "{csv}"
    );
    let (status, reply) = http(engine.http, "GET", "/api/audit?when=today", Some(&ops), "");
    assert_eq!(status, 400, "{reply}");

    // A version nobody kept, and a file that is not a flow file, are refused.
    let (status, _) = http(
        engine.http,
        "POST",
        "/api/flows/rollback",
        Some(&ops),
        r#"{"version":"nope"}"#,
    );
    assert_eq!(status, 404);
    let (status, reply) = http(
        engine.http,
        "POST",
        "/api/flows/check",
        Some(&ops),
        r#"{"files":[{"path":"../etc/passwd","content":""}]}"#,
    );
    assert_eq!(status, 400, "{reply}");
}

#[test]
fn only_operations_staff_may_change_the_flows() {
    let engine = Engine::start_in("", |_| {});
    account(&engine, "sup1", "supervisor");
    let sup = login(&engine, "sup1", PASSWORD);
    for (method, path, body) in [
        ("GET", "/api/flows/active", ""),
        ("POST", "/api/flows/check", r#"{"files":[]}"#),
        ("POST", "/api/flows/activate", r#"{"files":[]}"#),
        ("POST", "/api/flows/rollback", r#"{"version":"x"}"#),
        ("GET", "/api/audit", ""),
    ] {
        let (status, _) = http(engine.http, method, path, Some(&sup), body);
        assert_eq!(status, 403, "{method} {path}");
    }
    let browser = Browser::open("ops-denied");
    browser.goto(&format!("http://{}/ops", engine.http));
    browser.wait_visible("#login-view");
    browser.type_into("#username", "sup1");
    browser.type_into("#password", PASSWORD);
    browser.keys(keys::ENTER);
    browser.wait_visible("#denied-view");
    browser.axe("denied");
}

#[test]
fn emergency_mode_for_one_region_is_heard_there_only_and_tags_its_calls() {
    let engine = Engine::start_in("", |_| {});
    account(&engine, "ops1", "ops");
    let ops = login(&engine, "ops1", PASSWORD);
    let browser = Browser::open("ops-emergency");
    signed_in(&browser, &engine, "ops1");

    // A bad tag is refused at the field, and nothing is switched.
    browser.type_into("#incident", "ottawa flood!");
    browser.click("#emergency-toggle");
    browser.wait_text("#incident-error", "letters, digits");
    browser.axe("incident-error");
    // Then with the keyboard alone, from the top of the page (its first
    // Tab stop, the skip link, then Enter): the tag, the East region, a
    // note, and Enter.
    browser.eval(
        "document.getElementById('incident').value = ''; document.querySelector('.skip-link').focus()",
        vec![],
    );
    browser.keys(keys::ENTER);
    browser.tab_to("incident", 10);
    browser.keys("2026-ottawa-flood");
    browser.tab_to_css("#region-checks input[value=\"east\"]", 10);
    browser.keys(keys::SPACE);
    browser.tab_to("emergency-message", 10);
    browser.keys("Ottawa river flooding");
    browser.keys(keys::ENTER);
    browser.wait_text(
        "#emergency-now",
        "Emergency mode is ON (incident 2026-ottawa-flood)",
    );
    browser.wait_text("#emergency-where", "Where: East.");
    browser.axe("emergency-on");
    browser.screenshot("emergency-on");
    engine
        .wait_for(Duration::from_secs(10), |v| {
            message(v) == "emergency mode switched" && v["fields"]["on"] == true
        })
        .unwrap_or_else(|| panic!("the calls were not told:\n{}", engine.dump()));

    let record = |id: &str| record_of(&engine, &ops, id);
    // A caller from Ottawa (the East) hears the announcement; the call is tagged.
    let run = call_pressing(&engine, OTTAWA, &[(1000, '1'), (1500, '2')]);
    let east = engine.id_of(&run.call_id());
    let heard = prompts_sent(&engine, &east);
    assert!(
        heard.contains(&"en/emergency_announcement".to_owned()),
        "{heard:?}"
    );
    assert_eq!(record(&east)["call"]["incident"], "2026-ottawa-flood");
    // A caller from Toronto does not, and is not tagged.
    let run = call_pressing(&engine, "+14165550123", &[(1000, '1'), (1500, '2')]);
    let toronto = engine.id_of(&run.call_id());
    let heard = prompts_sent(&engine, &toronto);
    assert!(
        !heard.iter().any(|p| p.ends_with("/emergency_announcement")),
        "{heard:?}"
    );
    assert_eq!(record(&toronto)["call"]["incident"], Value::Null);

    // Off again, in one press.
    browser.click("#emergency-toggle");
    browser.wait_text("#emergency-now", "Emergency mode is off.");
    let (status, body) = http(engine.http, "GET", "/api/emergency", Some(&ops), "");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["active"], false, "{body}");
    // An unknown region is refused with the known ones.
    let (status, reply) = http(
        engine.http,
        "PUT",
        "/api/emergency",
        Some(&ops),
        r#"{"active":true,"regions":["atlantis"]}"#,
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("east"), "{reply}");
}

/// A copy of the shipped prompts in `dir` (a test may change them).
fn copy_prompts(dir: &std::path::Path) -> std::path::PathBuf {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let to = dir.join("prompts");
    for sub in ["", "en", "fr"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    to
}

/// A WAV file of a 440 Hz tone.
fn tone_wav(path: &std::path::Path, rate: u32, seconds: f64) {
    let mut w = crate::harness::mono_wav(path, rate);
    for i in 0..(f64::from(rate) * seconds) as usize {
        let x = (i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin();
        w.write_sample((x * 9000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn a_recording_uploaded_for_a_prompt_is_checked_and_the_next_caller_hears_it() {
    let dir = crate::harness::TempDir::new("ops-prompts");
    let prompts = copy_prompts(dir.path());
    let engine = Engine::start_in(
        &format!("[media]\nprompts = {:?}\n", prompts.display().to_string()),
        |_| {},
    );
    account(&engine, "ops1", "ops");
    let ops = login(&engine, "ops1", PASSWORD);
    let browser = Browser::open("ops-record");
    signed_in(&browser, &engine, "ops1");
    let before = browser.eval("return window.frontdoorOps.activeVersion", vec![]);

    // A CD-quality file is refused, saying what to do.
    let wrong = dir.path().join("welcome-44k.wav");
    tone_wav(&wrong, 44_100, 1.5);
    browser.select("#record-id", "welcome");
    browser.select("#record-lang", "en");
    browser.type_into("#record-file", wrong.to_str().unwrap());
    browser.click("#record-upload");
    browser.wait_text("#prompt-status", "Not taken: the recording is 44100 Hz");
    assert!(browser.text("#prompt-status").contains("sox"));
    browser.axe("record-refused");

    // A telephone-format recording is taken and goes live.
    let good = dir.path().join("welcome.wav");
    tone_wav(&good, 8000, 1.5);
    browser.type_into("#record-file", good.to_str().unwrap());
    browser.click("#record-upload");
    browser.wait_text(
        "#prompt-status",
        "The recording of welcome (English) is live",
    );
    let after = browser.eval("return window.frontdoorOps.activeVersion", vec![]);
    assert_ne!(before, after, "a new version");
    assert_eq!(
        std::fs::read(prompts.join("en/welcome.wav")).unwrap(),
        std::fs::read(&good).unwrap()
    );
    assert!(prompts.join("en/welcome.recorded").is_file());
    browser.type_into("#prompt-filter", "welcome");
    let row = browser.text("#prompt-table tr[data-prompt=\"welcome\"]");
    assert!(
        row.contains("Recorded") && row.contains("Synthetic"),
        "{row}"
    );
    browser.axe("recorded");

    // The next caller runs on the new version and hears the recording.
    let (heard, version) = a_call(&engine, &ops);
    assert_eq!(json!(version), after);
    assert_eq!(
        heard.first().map(String::as_str),
        Some("en/welcome"),
        "{heard:?}"
    );
    let (status, body) = http(engine.http, "GET", "/api/flows/versions", Some(&ops), "");
    assert_eq!(status, 200);
    assert!(body.contains("\"activated_by\":\"ops1\""), "{body}");
    // A prompt the catalogue does not have is refused.
    let (status, reply) = http(
        engine.http,
        "PUT",
        "/api/prompts/en/no_such_prompt",
        Some(&ops),
        "RIFF",
    );
    assert_eq!(status, 422, "{reply}");
    assert!(reply.contains("catalog.yaml"), "{reply}");
}

#[test]
fn an_ops_person_adds_a_navigator_changes_their_skills_resets_their_password_and_disables_them() {
    let engine = Engine::start_in("", |_| {});
    account(&engine, "ops1", "ops");
    let browser = Browser::open("ops-accounts");
    signed_in(&browser, &engine, "ops1");

    // A new navigator for Ottawa, in French too: their phone's secret is shown once.
    browser.type_into("#acc-username", "nav7");
    browser.select("#acc-role", "navigator");
    browser.select("#acc-centre", "ottawa");
    browser.click("#acc-fr");
    browser.type_into("#acc-password", "first-pass-777");
    browser.click("#acc-add");
    browser.wait_text("#account-status", "nav7 was added");
    let status = browser.text("#account-status");
    let secret = status.rsplit(": ").next().unwrap().trim().to_owned();
    assert_eq!(secret.len(), 20, "{status}");
    let row = browser.text("#account-table tr[data-account=\"nav7\"]");
    assert!(
        row.contains("English, French") && row.contains("Active"),
        "{row}"
    );
    browser.axe("account-added");
    browser.screenshot("account-added");
    // They can sign in with that password.
    let token = login(&engine, "nav7", "first-pass-777");

    // Crisis-trained now, and English only.
    browser.select("#edit-username", "nav7");
    browser.click("#edit-fr");
    browser.click("#edit-crisis");
    browser.click("#edit-save");
    browser.wait_text("#account-status", "Saved: nav7");
    let row = browser.text("#account-table tr[data-account=\"nav7\"]");
    assert!(
        row.contains("English") && !row.contains("French") && row.contains("Yes"),
        "{row}"
    );

    // A new password: the old login ends.
    browser.type_into("#edit-password", "second-pass-888");
    browser.click("#edit-reset");
    browser.wait_text("#account-status", "nav7's password was reset");
    let (status, _) = http(engine.http, "GET", "/api/me", Some(&token), "");
    assert_eq!(status, 401, "the old login ended");
    let token = login(&engine, "nav7", "second-pass-888");

    // Disabled: their login ends and they cannot sign in.
    browser.click("#account-table tr[data-account=\"nav7\"] .acc-disable");
    browser.wait_text("#account-status", "nav7 is disabled");
    let (status, _) = http(engine.http, "GET", "/api/me", Some(&token), "");
    assert_eq!(status, 401);
    let (status, _) = http(
        engine.http,
        "POST",
        "/api/login",
        None,
        r#"{"username":"nav7","password":"second-pass-888"}"#,
    );
    assert_eq!(status, 401);
    browser.axe("account-disabled");

    // The console in French, the same state.
    browser.click("#lang-toggle");
    browser.wait_text("#ops-title", "Console des opérations");
    let row = browser.text("#account-table tr[data-account=\"nav7\"]");
    assert!(
        row.contains("Désactivé") && row.contains("Anglais"),
        "{row}"
    );
    browser.axe("accounts-fr");
    browser.screenshot("accounts-fr");

    // Every change is audited, by the account that made it.
    let ops = login(&engine, "ops1", PASSWORD);
    let (status, csv) = http(
        engine.http,
        "GET",
        "/api/audit?target=nav7&actor=ops1&format=csv",
        Some(&ops),
        "",
    );
    assert_eq!(status, 200);
    for action in ["user.add", "user.skills", "user.passwd", "user.disable"] {
        assert!(
            csv.contains(&format!(",ops1,{action},nav7,")),
            "{action}: {csv}"
        );
    }
    // A taken username, a centre the flows do not have and a short password are refused.
    for (body, want) in [
        (
            r#"{"username":"nav7","role":"navigator","centre":"ottawa","languages":["en"],"password":"long-enough-1"}"#,
            409,
        ),
        (
            r#"{"username":"nav8","role":"navigator","centre":"atlantis","languages":["en"],"password":"long-enough-1"}"#,
            400,
        ),
        (
            r#"{"username":"nav8","role":"navigator","centre":"ottawa","languages":["en"],"password":"short"}"#,
            400,
        ),
        (
            r#"{"username":"nav8","role":"navigator","centre":"ottawa","languages":["de"],"password":"long-enough-1"}"#,
            400,
        ),
    ] {
        let (status, reply) = http(engine.http, "POST", "/api/accounts", Some(&ops), body);
        assert_eq!(status, want, "{body}: {reply}");
    }
}

#[test]
fn a_centres_change_activated_from_the_console_reaches_the_queues_without_a_restart() {
    let engine = Engine::start_in("", |_| {});
    account(&engine, "ops1", "ops");
    let ops = login(&engine, "ops1", PASSWORD);
    let (status, body) = http(engine.http, "GET", "/api/flows/active", Some(&ops), "");
    assert_eq!(status, 200);
    let mut active: Value = serde_json::from_str(&body).unwrap();
    // Ottawa now overflows to Collingwood before Toronto (the flow tests
    // still pass: at night both are closed and Toronto takes the call).
    for file in active["files"].as_array_mut().unwrap() {
        if file["path"] == "centres.yaml" {
            let text = file["content"].as_str().unwrap().to_owned();
            let edited = text.replacen(
                "    overflow: [toronto]\n",
                "    overflow: [collingwood, toronto]\n",
                1,
            );
            assert_ne!(text, edited);
            file["content"] = json!(edited);
        }
    }
    let files = json!({ "files": active["files"] }).to_string();
    let (status, reply) = http(
        engine.http,
        "POST",
        "/api/flows/activate",
        Some(&ops),
        &files,
    );
    assert_eq!(status, 200, "{reply}");
    let version: Value = serde_json::from_str(&reply).unwrap();
    let taken = engine
        .wait_for(Duration::from_secs(10), |v| {
            message(v) == "the queues take the new flows' centres"
                && v["fields"]["version"] == version["version"]
        })
        .unwrap_or_else(|| panic!("the queues kept their centres:\n{}", engine.dump()));
    assert_eq!(taken["fields"]["centres"], 6);
}
