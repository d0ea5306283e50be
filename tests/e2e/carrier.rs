//! What a carrier's trunk does on day one, played by sipp: the engine
//! registers to it with digest and refreshes; it probes trunks with OPTIONS
//! and reports them in /healthz and /metrics; a call placed through the
//! trunks passes over a silent one, follows a redirect and PRACKs a
//! reliable 183; a carrier's call with a session timer is refreshed, then
//! ended when the refreshes stop, and its Diversion lands in the call
//! record; with `trunk.accept_from`, calls from anyone else get 403.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::external::{far_end, far_end_finished};
use crate::harness::{Engine, TempDir, call_id, free_media_port, free_udp_port, message, sipp};
use crate::records::{add_user, ended_record, http, login};

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/scenarios")
        .join(name)
        .display()
        .to_string()
}

/// `/healthz` until `done` accepts it (10 s at most); the last one read.
fn healthz_until(engine: &Engine, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (_, body) = http(engine.http, "GET", "/healthz", None, "");
        last = serde_json::from_str(&body).unwrap_or(Value::Null);
        if done(&last) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("/healthz never got there: {last}\n{}", engine.dump());
}

#[test]
fn the_engine_registers_to_the_carriers_trunk_with_digest_and_refreshes() {
    let dir = TempDir::new("registrar");
    let (registrar, port, trace) = far_end(&dir, &["-sf", &scenario("trunk_registrar.xml")]);
    let engine = Engine::start_with(&format!(
        "[trunk]\nproxy = \"127.0.0.1:{port}\"\nregister = true\nusername = \"6135550100\"\n\
         password = \"trunk-secret\"\nregister_domain = \"carrier.example\"\nkeepalive_s = 0\n"
    ));
    // Challenged, answered, granted 4 s, refreshed before they ran out.
    let (ok, messages) = far_end_finished(registrar, &trace);
    assert!(
        ok,
        "the carrier's registrar:\n{messages}\n{}",
        engine.dump()
    );
    let register = messages
        .split("REGISTER sip:carrier.example SIP/2.0")
        .nth(1)
        .unwrap_or_else(|| panic!("no REGISTER:\n{messages}"));
    assert!(
        register.contains("To: <sip:6135550100@carrier.example>"),
        "{register}"
    );
    assert!(
        register.contains(&format!("Contact: <sip:211@{}>", engine.sip)),
        "the carrier's calls come to 211 at the engine:\n{register}"
    );
    // The first, the one with credentials, the refresh (each may be
    // retransmitted, so its request line may appear twice).
    for cseq in 1..=3 {
        assert!(
            messages.contains(&format!("CSeq: {cseq} REGISTER")),
            "{messages}"
        );
    }
    let health = healthz_until(&engine, |h| h["trunks"][0]["registration"] == "registered");
    assert_eq!(health["trunks"][0]["up"], true, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let (_, metrics) = http(engine.http, "GET", "/metrics", None, "");
    assert!(
        metrics.contains(&format!(
            "frontdoor_trunk_registered{{trunk=\"127.0.0.1:{port}\"}} 1"
        )),
        "{metrics}"
    );
}

/// sipp answering every OPTIONS it gets with 200, until killed.
fn options_responder(dir: &TempDir) -> (Child, u16) {
    let port = free_udp_port();
    let child = Command::new("sipp")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-sf", &scenario("options_ok.xml")])
        .args(["-mp", &free_media_port().to_string(), "-nostdin"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp (package sip-tester)");
    (child, port)
}

#[test]
fn a_trunk_that_stops_answering_keep_alives_is_reported_down() {
    let dir = TempDir::new("keepalive");
    let (mut alive, alive_port) = options_responder(&dir);
    let dead_port = free_udp_port();
    // T1 = 50 ms: an OPTIONS unanswered for 64 × T1 (3.2 s) is a dead trunk.
    let engine = Engine::start_with(&format!(
        "[sip]\nt1_ms = 50\n[trunk]\nproxy = [\"127.0.0.1:{dead_port}\", \"127.0.0.1:{alive_port}\"]\nkeepalive_s = 1\n"
    ));
    let health = healthz_until(&engine, |h| {
        h["trunks"][0]["reachable"] == false && h["trunks"][1]["reachable"] == true
    });
    let _ = alive.kill();
    let _ = alive.wait();
    assert_eq!(health["trunks"][0]["up"], false, "{health}");
    assert_eq!(health["trunks"][1]["up"], true, "{health}");
    assert_eq!(health["status"], "ok", "one trunk is up: {health}");
    let (_, metrics) = http(engine.http, "GET", "/metrics", None, "");
    assert!(
        metrics.contains(&format!(
            "frontdoor_trunk_up{{trunk=\"127.0.0.1:{dead_port}\"}} 0"
        )) && metrics.contains(&format!(
            "frontdoor_trunk_up{{trunk=\"127.0.0.1:{alive_port}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        engine
            .wait_for(Duration::from_secs(1), |v| message(v)
                .starts_with("trunk down")
                && v["fields"]["trunk"] == format!("127.0.0.1:{dead_port}"))
            .is_some(),
        "{}",
        engine.dump()
    );
    // The other one stops answering too: no trunk is up, the engine is degraded.
    let health = healthz_until(&engine, |h| h["trunks"][1]["up"] == false);
    assert_eq!(health["status"], "degraded", "{health}");
}

#[test]
fn a_call_out_passes_a_silent_trunk_follows_a_redirect_and_pracks_a_reliable_183() {
    let dir = TempDir::new("trunks");
    let (carrier, carrier_port, trace) = far_end(&dir, &["-sf", &scenario("trunk_redirects.xml")]);
    let silent = free_udp_port();
    let uri = "sip:988@carrier.example";
    let engine = Engine::start_in(
        &format!(
            "[trunk]\nproxy = [\"127.0.0.1:{silent}\", \"127.0.0.1:{carrier_port}\"]\nkeepalive_s = 0\n"
        ),
        |flows| std::fs::write(flows.join("211.yaml"), crate::external::flow_to(uri)).unwrap(),
    );
    let run = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &["-d", "14000"],
    );
    let (ok, messages) = far_end_finished(carrier, &trace);
    assert!(
        run.success && ok,
        "caller ok: {}, carrier ok: {ok}\n--- carrier ---\n{messages}\n--- caller ---\n{}\n{}\n--- engine ---\n{}",
        run.success,
        run.stderr,
        run.messages,
        engine.dump()
    );
    let id = engine.id_of(&run.call_id());
    assert!(
        engine
            .lines(|v| message(v) == "bridged" && call_id(v) == id)
            .len()
            == 1,
        "{}",
        engine.dump()
    );
    assert!(
        !engine
            .lines(|v| message(v).starts_with("no answer from this next hop"))
            .is_empty(),
        "{}",
        engine.dump()
    );
    assert!(
        !engine
            .lines(|v| message(v) == "following a redirect")
            .is_empty(),
        "{}",
        engine.dump()
    );
    // The carrier saw the INVITE after the silent trunk's turn (CSeq 2), then
    // the redirected one (CSeq 3) and its PRACK.
    assert!(messages.contains("CSeq: 2 INVITE"), "{messages}");
    assert!(messages.contains("INVITE sip:988000@"), "{messages}");
    assert!(messages.contains("PRACK sip:988000@"), "{messages}");
}

#[test]
fn a_carriers_session_timer_is_kept_and_a_call_no_longer_refreshed_is_ended() {
    let engine = Engine::start_in(
        "[sip]\nsession_min_s = 10\n",
        crate::ivr::ottawa_always_open,
    );
    add_user(&engine, "ops1", "ops", "ottawa", "correct horse battery");
    let token = login(&engine, "ops1", "correct horse battery");
    let started = std::time::Instant::now();
    let run = sipp(
        &engine,
        "session_timer.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &[],
    );
    run.assert_success(&engine);
    // Refreshed at 4 s; ended 8 s later (12 s less 32 s or a third).
    assert!(
        started.elapsed() >= Duration::from_secs(11),
        "ended too soon: {:?}\n{}",
        started.elapsed(),
        engine.dump()
    );
    let id = engine.id_of(&run.call_id());
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "SessionExpired");
    // The Diversion is in the call record.
    let record = ended_record(&engine, &token, &id);
    assert_eq!(record["call"]["diverted_from"], "+16135550100", "{record}");
}

#[test]
fn with_accept_from_only_the_trunks_calls_are_taken() {
    let engine = Engine::start_with("[trunk]\naccept_from = [\"127.0.0.2\"]\n");
    let stranger = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &["-d", "1000"],
    );
    assert!(!stranger.success, "{}", stranger.messages);
    assert!(
        stranger.messages.contains("SIP/2.0 403 Forbidden"),
        "{}",
        stranger.messages
    );
    let trunk = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &["-d", "1000", "-i", "127.0.0.2"],
    );
    trunk.assert_success(&engine);
}
