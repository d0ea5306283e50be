//! The call record, the accounts and the health endpoints through the real
//! binary: `frontdoor user add`, a sipp call through the shipped flow, then
//! the record read back over the HTTP API, `/healthz` and `/metrics`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Engine, message};
use crate::ivr::{call_pressing, ottawa_always_open};

/// One HTTP/1.1 request; returns the status and the body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("a status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Runs `frontdoor --db DB user add ARGS` with `stdin`; its output.
pub fn user_add(db: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["--db", db, "user", "add"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run frontdoor user add");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `frontdoor user add` on the engine's store; the password on stdin, and
/// the phone's SIP secret set to the same text (tests' phones register with
/// it; see `user_add_gives_the_phone_its_own_secret` for the generated one).
pub fn add_user(engine: &Engine, username: &str, role: &str, centre: &str, password: &str) {
    let out = user_add(
        &engine.db,
        &[
            "--username",
            username,
            "--role",
            role,
            "--centre",
            centre,
            "--languages",
            "en,fr",
            "--password-stdin",
            "--sip-secret-stdin",
        ],
        &format!("{password}\n{password}\n"),
    );
    assert!(
        out.status.success(),
        "user add: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET /api/calls/{id}` once the record has its end (it is written as the
/// call goes: up to 5 s after the call ended); the last answer otherwise.
pub fn ended_record(engine: &Engine, token: &str, id: &str) -> Value {
    let mut record = Value::Null;
    for _ in 0..50 {
        let (status, body) = http(
            engine.http,
            "GET",
            &format!("/api/calls/{id}"),
            Some(token),
            "",
        );
        assert_eq!(status, 200, "{body}");
        record = serde_json::from_str(&body).unwrap();
        if !record["call"]["ended_ms"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    record
}

pub fn login(engine: &Engine, username: &str, password: &str) -> String {
    let (status, body) = http(
        engine.http,
        "POST",
        "/api/login",
        None,
        &format!(r#"{{"username":"{username}","password":"{password}"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().expect("a token").to_owned()
}

#[test]
fn a_call_leaves_its_record_with_the_ivr_path_and_the_health_endpoints_tell_the_flow() {
    let engine = Engine::start_in("", ottawa_always_open);
    add_user(&engine, "ops1", "ops", "ottawa", "correct horse battery");
    let token = login(&engine, "ops1", "correct horse battery");

    let run = call_pressing(&engine, "+16135550123", &[(1000, '1'), (1500, '2')]);
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    let record = ended_record(&engine, &token, &id);
    let call = &record["call"];
    assert_eq!(call["caller"], "+16135550123", "{record}");
    assert_eq!(call["language"], "en", "{record}");
    assert_eq!(call["region"], "east");
    assert_eq!(call["centre"], "ottawa");
    assert_eq!(call["topic"], "food");
    assert_eq!(call["crisis"], false);
    assert_eq!(
        call["disposition"], "abandoned_in_queue",
        "routed, then ended in the queue (nobody to take it)"
    );
    let path: Vec<&str> = call["ivr_path"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for step in [
        "greeting",
        "english",
        "find_region",
        "topic",
        "topic_food",
        "to_region",
    ] {
        assert!(
            path.contains(&step),
            "{step} missing from the IVR path {path:?}"
        );
    }
    assert!(!call["ivr_answered_ms"].is_null());

    let (status, body) = http(engine.http, "GET", "/healthz", None, "");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    let activated = engine
        .wait_for(Duration::from_secs(1), |v| message(v) == "flows activated")
        .unwrap();
    assert_eq!(
        health["flow"]["hash"], activated["fields"]["version"],
        "{health}"
    );
    assert_eq!(health["db"], "ok");
    assert_eq!(health["calls_in_progress"], 0);

    let (status, metrics) = http(engine.http, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("frontdoor_sip_responses_total{code=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("frontdoor_calls_total{disposition=\"abandoned_in_queue\"} 1"),
        "{metrics}"
    );
    // The call's set-up, INVITE to 200, in the histogram: one call, well
    // under five seconds.
    for line in [
        "frontdoor_setup_seconds_count 1",
        "frontdoor_setup_seconds_bucket{le=\"5\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }
}

#[test]
fn emergency_mode_switched_by_ops_reaches_the_next_call() {
    let engine = Engine::start_in("", ottawa_always_open);
    add_user(&engine, "ops1", "ops", "ottawa", "correct horse battery");
    let token = login(&engine, "ops1", "correct horse battery");
    let (status, body) = http(
        engine.http,
        "PUT",
        "/api/emergency",
        Some(&token),
        r#"{"active":true,"message":"ice storm","incident":"2026-ottawa-ice"}"#,
    );
    assert_eq!(status, 200, "{body}");
    engine
        .wait_for(Duration::from_secs(3), |v| {
            message(v) == "emergency mode switched"
        })
        .unwrap_or_else(|| panic!("the engine did not see the switch:\n{}", engine.dump()));
    // Key 1, then 8: the emergency option of the topic menu.
    let run = call_pressing(&engine, "+16135550123", &[(1000, '1'), (1500, '8')]);
    let id = engine.id_of(&run.call_id());
    let plays: Vec<String> = engine
        .lines(|v| message(v) == "play" && crate::harness::call_id(v) == id)
        .iter()
        .map(|v| {
            v["fields"]["prompts"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let all = plays.join(" ");
    assert!(all.contains("en/emergency_announcement"), "{all}");
    assert!(all.contains("en/emergency_option"), "{all}");
    assert!(all.contains("en/emergency_info"), "{all}");

    // The call is recorded with the incident: the incident report counts it.
    ended_record(&engine, &token, &id);
    let (_, meta) = http(engine.http, "GET", "/api/reports", Some(&token), "");
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["incidents"], serde_json::json!(["2026-ottawa-ice"]));
    let today = meta["today"].as_str().unwrap();
    let (status, body) = http(
        engine.http,
        "GET",
        &format!("/api/reports/incident?from={today}&to={today}&tag=2026-ottawa-ice"),
        Some(&token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        report["total"][2], 1,
        "one call during the incident: {body}"
    );
}

#[test]
fn an_account_for_a_centre_the_flows_do_not_have_is_refused() {
    let dir = crate::harness::TempDir::new("users");
    let db = format!("sqlite://{}/frontdoor.db", dir.path().display());
    let out = user_add(
        &db,
        &[
            "--username",
            "nav9",
            "--role",
            "navigator",
            "--centre",
            "kingston",
            "--password-stdin",
        ],
        "a long passphrase\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown centre `kingston`") && err.contains("ottawa, thunder_bay"),
        "{err}"
    );
}

#[test]
fn calls_in_progress_when_the_engine_is_killed_are_closed_as_interrupted_at_the_next_start() {
    let first = Engine::start();
    // sipp's built-in caller: ten calls, answered, then silent for 20 s.
    let mut callers = Command::new("sipp")
        .arg(first.sip.to_string())
        .args([
            "-sn", "uac", "-s", "211", "-m", "10", "-l", "10", "-r", "20",
        ])
        .args(["-d", "20000", "-i", "127.0.0.1"])
        .args(["-p", &crate::harness::free_udp_port().to_string()])
        .args(["-mp", &crate::harness::free_media_port().to_string()])
        .args(["-nostdin", "-timeout", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    let at_greeting = |v: &Value| message(v) == "ivr step" && v["fields"]["node"] == "greeting";
    assert!(
        first.wait_for_count(Duration::from_secs(15), 10, at_greeting),
        "ten calls did not reach the greeting:\n{}",
        first.dump()
    );
    let ids: Vec<String> = first
        .lines(at_greeting)
        .iter()
        .map(|v| crate::harness::call_id(v).to_owned())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    first.signal("KILL");
    let _ = callers.kill();
    let _ = callers.wait();

    // A new engine on the same store closes them, and answers at once.
    let second = Engine::start_with(&format!("[cti]\ndb = {:?}\n", first.db));
    let closed = second
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "calls cut off by the last stop closed as interrupted"
        })
        .unwrap_or_else(|| panic!("nothing closed:\n{}", second.dump()));
    assert_eq!(closed["fields"]["count"], 10, "{closed}");
    let run = crate::harness::sipp(
        &second,
        "basic_call.xml",
        "u1",
        &[("rtp_port", crate::harness::free_media_port().to_string())],
        &[],
    );
    run.assert_success(&second);

    add_user(&second, "ops1", "ops", "ottawa", "correct horse battery");
    let token = login(&second, "ops1", "correct horse battery");
    for id in &ids {
        let (status, body) = http(
            second.http,
            "GET",
            &format!("/api/calls/{id}"),
            Some(&token),
            "",
        );
        assert_eq!(status, 200, "{body}");
        let record: Value = serde_json::from_str(&body).unwrap();
        let call = &record["call"];
        let arrived = call["arrived_ms"].as_i64().unwrap();
        assert!(arrived > 0, "{record}");
        assert_eq!(call["disposition"], "interrupted", "{record}");
        // Closed when the engine last knew of it, not at the restart.
        let ended = call["ended_ms"].as_i64().expect("closed");
        assert!((arrived..arrived + 5_000).contains(&ended), "{record}");
        // Where the caller was when it was cut off.
        assert_eq!(call["last_step"], "greeting", "{record}");
    }
}

#[test]
fn a_caller_reusing_a_call_id_gets_a_new_call_and_leaves_the_old_record_alone() {
    let engine = Engine::start();
    // Two calls with the same SIP Call-ID, one after the other.
    let rtp = || vec![("rtp_port", crate::harness::free_media_port().to_string())];
    for _ in 0..2 {
        let extra = ["-d", "500", "-cid_str", "reused-call-id@attacker"];
        crate::harness::sipp(&engine, "basic_call.xml", "u1", &rtp(), &extra)
            .assert_success(&engine);
    }
    let ids: Vec<String> = engine
        .lines(|v| message(v) == "call arrived")
        .iter()
        .map(|v| v["fields"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "each call has its own id");
    for id in &ids {
        assert_eq!(id.len(), 32, "128 random bits: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    add_user(&engine, "ops1", "ops", "ottawa", "correct horse battery");
    let token = login(&engine, "ops1", "correct horse battery");
    let mut arrivals = Vec::new();
    for id in &ids {
        let (status, body) = http(
            engine.http,
            "GET",
            &format!("/api/calls/{id}"),
            Some(&token),
            "",
        );
        assert_eq!(status, 200, "{body}");
        let record: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            record["call"]["sip_call_id"], "reused-call-id@attacker",
            "{record}"
        );
        assert_eq!(
            record["call"]["disposition"], "abandoned_in_ivr",
            "{record}"
        );
        arrivals.push(record["call"]["arrived_ms"].as_i64().unwrap());
    }
    assert!(
        arrivals[0] < arrivals[1],
        "the first record keeps its own arrival"
    );
}
