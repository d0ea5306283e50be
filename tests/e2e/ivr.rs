//! The IVR flows on real calls: sipp callers press keys (RFC 4733) against
//! `frontdoor serve` on the shipped flows, and the call's event log (its
//! JSON log lines, by Call-ID) shows the prompts sent, by language and id,
//! and the route; a routed call is queued (see `acd.rs` for the queues).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    self, Engine, SippRun, TempDir, call_id, free_media_port, info_key_step, ivr_call_with,
    message, sipp,
};

const OTTAWA: &str = "+16135550123";

/// Ottawa's centre open at all hours, so the route does not depend on when
/// the test runs (the hours themselves are tested by the flow tests).
pub fn ottawa_always_open(flows: &Path) {
    harness::edit(
        &flows.join("centres.yaml"),
        "      mon-fri: \"08:00-21:00\"\n      sat,sun: \"09:00-17:00\"\n",
        "      daily: always\n",
    );
}

/// A call from `caller` that presses each key after its pause (ms), as
/// RFC 4733 events, then waits for the engine's BYE. The events are sipp's
/// recorded ones (`dtmf_2833_<key>.pcap`), which keep their own RTP
/// sequence numbers: a key whose recording numbers lower than the previous
/// key's is rightly taken for a late packet, so the keys of one call go in
/// the recordings' order (1 2 3 … 9).
pub fn call_pressing(engine: &Engine, caller: &str, keys: &[(u64, char)]) -> SippRun {
    call_pressing_with(engine, caller, keys, &[])
}

/// [`call_pressing`] with more sipp arguments (e.g. `-i` for another
/// source address).
pub fn call_pressing_with(
    engine: &Engine,
    caller: &str,
    keys: &[(u64, char)],
    extra: &[&str],
) -> SippRun {
    let dir = TempDir::new("scenario");
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scenarios/ivr_call.xml"),
    )
    .unwrap();
    let presses: String = keys
        .iter()
        .map(|(pause, key)| {
            format!(
                "  <pause milliseconds=\"{pause}\"/>\n  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_{key}.pcap\"/></action></nop>\n"
            )
        })
        .collect();
    let scenario = dir.path().join("call.xml");
    std::fs::write(&scenario, template.replace("  <!-- KEYS -->\n", &presses)).unwrap();
    let run = sipp(
        engine,
        scenario.to_str().unwrap(),
        "u1",
        &[
            ("rtp_port", free_media_port().to_string()),
            ("caller", caller.to_owned()),
        ],
        extra,
    );
    run.assert_success(engine);
    run
}

/// The call's "route" line.
#[track_caller]
pub fn route(engine: &Engine, id: &str) -> Value {
    engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "route" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no route for {id}:\n{}", engine.dump()))
}

/// Every prompt sent on the call, in order, as "lang/id".
pub(crate) fn prompts_sent(engine: &Engine, id: &str) -> Vec<String> {
    engine
        .lines(|v| message(v) == "play" && call_id(v) == id)
        .iter()
        .flat_map(|v| {
            v["fields"]["prompts"]
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The prompts sent after the greeting (the first play, in both languages).
fn after_greeting(prompts: &[String]) -> Vec<String> {
    let greeting_end = prompts
        .iter()
        .position(|p| p == "fr/language_menu")
        .expect("the greeting ends with the French language menu");
    prompts[greeting_end + 1..].to_vec()
}

#[test]
fn an_ottawa_caller_pressing_1_hears_english_and_reaches_the_ottawa_centre() {
    let engine = Engine::start_in("", ottawa_always_open);
    let run = call_pressing(&engine, OTTAWA, &[(1000, '1'), (1500, '2')]);
    let id = engine.id_of(&run.call_id());
    let r = route(&engine, &id);
    assert_eq!(r["fields"]["target"], "centre:ottawa");
    assert_eq!(r["fields"]["language"], "en");
    assert_eq!(r["fields"]["region"], "east");
    let sent = prompts_sent(&engine, &id);
    assert_eq!(
        sent[..4],
        [
            "en/welcome",
            "en/emergency_911",
            "en/crisis_key",
            "en/language_menu"
        ],
        "the bilingual greeting, English first: {sent:?}"
    );
    // Nobody is logged in to take it: the centre's own line, which does
    // not exist here (example.org), so the caller is told.
    assert_eq!(
        after_greeting(&sent),
        ["en/topic_menu", "en/connecting", "en/connect_failed"]
    );
    let queued = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "queued" && v["fields"]["call_id"] == id
        })
        .unwrap_or_else(|| panic!("not queued:\n{}", engine.dump()));
    assert_eq!(queued["fields"]["queue"], "centre:ottawa");
    assert_eq!(engine.keys_pressed(&id), ["1", "2"]);
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
}

#[test]
fn pressing_2_routes_in_french_and_the_french_prompts_are_sent() {
    let engine = Engine::start_in("", ottawa_always_open);
    let run = call_pressing(&engine, OTTAWA, &[(1000, '2'), (1500, '3')]);
    let id = engine.id_of(&run.call_id());
    let r = route(&engine, &id);
    assert_eq!(r["fields"]["language"], "fr");
    assert_eq!(r["fields"]["target"], "centre:ottawa");
    assert_eq!(
        after_greeting(&prompts_sent(&engine, &id)),
        ["fr/topic_menu", "fr/connecting", "fr/connect_failed"]
    );
}

#[test]
fn pressing_9_during_the_greeting_reaches_the_crisis_route_and_the_crisis_line() {
    // With no crisis-trained navigator logged in, a crisis call goes to the
    // crisis line at once: a sipp UAS stands in for it.
    let dir = TempDir::new("crisis-line");
    let (far, port, trace) = crate::external::far_end_hanging_up(&dir);
    let line = format!("sip:988@127.0.0.1:{port}");
    let engine = Engine::start_in("", |flows| {
        harness::edit(
            &flows.join("centres.yaml"),
            "external: \"sip:988@crisis-gateway.example.org\"",
            &format!("external: \"{line}\""),
        )
    });
    let run = call_pressing(&engine, OTTAWA, &[(1000, '9')]);
    let id = engine.id_of(&run.call_id());
    let r = route(&engine, &id);
    assert_eq!(r["fields"]["target"], "crisis");
    assert_eq!(r["fields"]["priority"], "crisis");
    assert_eq!(
        after_greeting(&prompts_sent(&engine, &id)),
        ["en/crisis_connecting", "fr/crisis_connecting"],
        "no language chosen yet: both"
    );
    let bridged = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "bridged" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("not bridged to the crisis line:\n{}", engine.dump()));
    assert_eq!(bridged["fields"]["uri"], line.as_str());
    let (ok, messages) = crate::external::far_end_finished(far, &trace);
    assert!(ok, "the crisis line's call did not complete:\n{messages}");
    assert!(
        messages.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "the caller's own number is presented:\n{messages}"
    );
    // The crisis line hung up: the engine ended the caller's leg.
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
}

#[test]
fn an_ops_edit_moving_the_crisis_key_to_7_is_followed_on_hold() {
    // The crisis line is a sipp UAS that answers and hangs up.
    let dir = TempDir::new("crisis-line");
    let (far, port, trace) = crate::external::far_end_hanging_up(&dir);
    let line = format!("sip:988@127.0.0.1:{port}");
    let engine = Engine::start_in("", |flows| {
        ottawa_always_open(flows);
        // Ops move the crisis key from 9 to 7, in the one place it is declared.
        harness::edit(
            &flows.join("211.yaml"),
            "\"9\": { goto: crisis",
            "\"7\": { goto: crisis",
        );
        harness::edit(
            &flows.join("centres.yaml"),
            "external: \"sip:988@crisis-gateway.example.org\"",
            &format!("external: \"{line}\""),
        );
    });
    // An Ottawa navigator is logged in (their screen open) but not ready:
    // the caller waits in Ottawa's queue. Nobody crisis-trained is logged
    // in, so the crisis queue sends its calls to the crisis line at once.
    crate::records::add_user(&engine, "nav1", "navigator", "ottawa", "navigator-pass-1");
    let token = crate::records::login(&engine, "nav1", "navigator-pass-1");
    let (mut screen, _) =
        tungstenite::connect(format!("ws://{}/cti/ws?token={token}", engine.http))
            .expect("the navigator's websocket");
    let hello = screen.read().expect("hello");
    assert!(hello.to_string().contains("\"hello\""), "{hello}");

    // English (1), food (2), then on hold, over the hold music, 7.
    let run = call_pressing(&engine, OTTAWA, &[(1000, '1'), (1500, '2'), (3000, '7')]);
    let id = engine.id_of(&run.call_id());
    assert_eq!(route(&engine, &id)["fields"]["target"], "centre:ottawa");
    engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "crisis key while waiting" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("7 on hold was not the crisis key:\n{}", engine.dump()));
    let out = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "queue step"
                && v["fields"]["step"] == "routed_external"
                && v["fields"]["call_id"] == id
        })
        .unwrap_or_else(|| panic!("not sent to the crisis line:\n{}", engine.dump()));
    let detail = out["fields"]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("no_crisis_navigator"), "{detail}");
    let sent = after_greeting(&prompts_sent(&engine, &id));
    assert_eq!(sent[..2], ["en/topic_menu", "en/connecting"], "{sent:?}");
    assert_eq!(
        sent.last().map(String::as_str),
        Some("en/crisis_connecting"),
        "{sent:?}"
    );
    let bridged = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "bridged" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("not bridged to the crisis line:\n{}", engine.dump()));
    assert_eq!(bridged["fields"]["uri"], line.as_str());
    let (ok, messages) = crate::external::far_end_finished(far, &trace);
    assert!(ok, "the crisis line's call did not complete:\n{messages}");
    assert_eq!(engine.keys_pressed(&id), ["1", "2", "7"]);
}

#[test]
fn a_new_flow_serves_new_calls_while_a_call_in_its_menu_keeps_its_version() {
    let engine = Engine::start_in("", ottawa_always_open);
    let flow = engine.flows_dir().join("211.yaml");
    // Call A waits in the greeting menu for 5 s, then presses 1.
    let first = {
        let engine = &engine;
        std::thread::scope(|s| {
            let call = s.spawn(move || call_pressing(engine, OTTAWA, &[(5000, '1'), (1500, '2')]));
            engine
                .wait_for(Duration::from_secs(5), |v| message(v) == "flow started")
                .expect("call A started");
            // The new version: key 1 now means French.
            harness::edit(
                &flow,
                "\"1\": english\n        \"2\": french",
                "\"1\": french\n        \"2\": english",
            );
            engine
                .wait_for(Duration::from_secs(4), |v| {
                    message(v) == "flows activated" && v["fields"]["versions"] == 2
                })
                .unwrap_or_else(|| panic!("the new flow was not activated:\n{}", engine.dump()));
            call.join().unwrap()
        })
    };
    let a = engine.id_of(&first.call_id());
    assert_eq!(
        route(&engine, &a)["fields"]["language"],
        "en",
        "call A kept its version"
    );
    let second = call_pressing(&engine, OTTAWA, &[(1000, '1'), (1500, '2')]);
    let b = engine.id_of(&second.call_id());
    assert_eq!(
        route(&engine, &b)["fields"]["language"],
        "fr",
        "call B runs the new version"
    );

    // A broken edit is refused with its position; the last good version serves.
    harness::edit(&flow, "      default: english\n", "      default: englsh\n");
    let refused = engine
        .wait_for(Duration::from_secs(4), |v| {
            message(v).starts_with("flows refused:") && message(v).contains("unknown node `englsh`")
        })
        .unwrap_or_else(|| panic!("the broken flow was not refused:\n{}", engine.dump()));
    let line = message(&refused);
    assert!(line.contains("211.yaml:"), "names file:line:col: {line}");
    let third = call_pressing(&engine, OTTAWA, &[(1000, '1'), (1500, '2')]);
    assert_eq!(
        route(&engine, &engine.id_of(&third.call_id()))["fields"]["language"],
        "fr"
    );
}

#[test]
fn sighup_reloads_the_flows_when_the_watch_is_off() {
    let engine = Engine::start_with("[flows]\nreload_poll_ms = 0\n");
    harness::edit(
        &engine.flows_dir().join("211.yaml"),
        "      timeout_s: 5\n",
        "      timeout_s: 7\n",
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        engine
            .lines(|v| message(v) == "flows activated" && v["fields"]["versions"] == 2)
            .is_empty(),
        "no watch: nothing reloads by itself"
    );
    engine.signal("HUP");
    let activated = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "flows activated" && v["fields"]["versions"] == 2
        })
        .unwrap_or_else(|| panic!("SIGHUP did not reload:\n{}", engine.dump()));
    assert_eq!(activated["fields"]["trigger"], "SIGHUP");
}

/// A phone that sends each key both as RFC 4733 events and as a SIP INFO
/// (many desk phones do) gets one key per press: 1 then 2 is English then
/// food, not 1, 1, 2, 2.
#[test]
fn a_key_sent_both_as_events_and_as_info_counts_once() {
    let engine = Engine::start_in("", ottawa_always_open);
    let dir = TempDir::new("both-carriers");
    let keys = info_key_step(1000, '1', 2, true) + &info_key_step(1500, '2', 3, true);
    let scenario = ivr_call_with(&dir, &keys);
    let run = sipp(
        &engine,
        scenario.to_str().unwrap(),
        "u1",
        &[
            ("rtp_port", free_media_port().to_string()),
            ("caller", OTTAWA.to_owned()),
        ],
        &[],
    );
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    let r = route(&engine, &id);
    assert_eq!(engine.keys_pressed(&id), ["1", "2"], "{}", engine.dump());
    assert_eq!(r["fields"]["language"], "en", "{r}");
    assert_eq!(r["fields"]["target"], "centre:ottawa", "{r}");
}
