//! A flow that routes to an external SIP URI (a crisis line's gateway, a
//! centre's own phone system): the engine places the outbound leg through
//! the trunk, presents the caller's own number, bridges the two legs, and a
//! hang-up on one side ends the other. A sipp UAS stands in for the far end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{
    Engine, SippRun, TempDir, call_id, free_media_port, free_udp_port, message, sipp,
};

/// A short flow whose menu default routes to `uri`.
pub fn flow_to(uri: &str) -> String {
    flow_to_after(uri, 1)
}

/// A flow whose menu waits `wait_s` for a key, then routes to `uri`.
fn flow_to_after(uri: &str, wait_s: u32) -> String {
    format!(
        r#"
start: greeting
global_keys:
  "9": {{ goto: crisis }}
nodes:
  greeting:
    menu:
      prompt: [crisis_key]
      options: {{ "1": line }}
      timeout_s: {wait_s}
      tries: 1
      default: line
  line:
    route: {{ to: "{uri}", prompt: [route_external] }}
  crisis:
    route: {{ to: crisis }}
"#
    )
}

/// A far end on a free port: sipp answering one call, as `scenario` says
/// (e.g. `["-sn", "uas", "-rtp_echo"]`). Returns it, its port and its
/// message log.
pub fn far_end(dir: &TempDir, scenario: &[&str]) -> (Child, u16, PathBuf) {
    let port = free_udp_port();
    let trace = dir.path().join("far.log");
    let child = Command::new("sipp")
        .args(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_media_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "60s"])
        .args(["-trace_msg", "-message_file"])
        .arg(&trace)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp (package sip-tester)");
    (child, port, trace)
}

/// A far end (`far_end_hangs_up.xml`) that answers one call, stays 3 s and
/// hangs up.
pub fn far_end_hanging_up(dir: &TempDir) -> (Child, u16, PathBuf) {
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scenarios/far_end_hangs_up.xml");
    far_end(dir, &["-sf", scenario.to_str().unwrap()])
}

/// sipp's built-in UAS: answers one call, echoes its audio, waits for BYE.
const ECHOING_UAS: [&str; 3] = ["-sn", "uas", "-rtp_echo"];

/// The caller's run and the far end's, checked together: when either
/// failed, both sides' messages and the engine's log. The far end's
/// messages.
#[track_caller]
pub fn both_ended(run: &SippRun, engine: &Engine, far: Child, trace: &Path) -> String {
    let (ok, far_messages) = far_end_finished(far, trace);
    assert!(
        run.success && ok,
        "caller's sipp ok: {}, far end's sipp ok: {ok}\n\
         --- caller's errors ---\n{}\n--- caller's messages ---\n{}\n\
         --- far end's messages ---\n{far_messages}\n--- engine ---\n{}",
        run.success,
        run.stderr,
        run.messages,
        engine.dump()
    );
    far_messages
}

/// Wait up to 10 s for a far end to finish; its exit status and message log.
pub fn far_end_finished(mut far: Child, trace: &Path) -> (bool, String) {
    let mut status = None;
    for _ in 0..100 {
        if let Ok(Some(s)) = far.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = far.kill();
    let _ = far.wait();
    let messages = std::fs::read_to_string(trace).unwrap_or_default();
    (status.is_some_and(|s| s.success()), messages)
}

#[test]
fn a_route_to_a_sip_uri_is_bridged_with_the_callers_number_presented() {
    let dir = TempDir::new("far-end");
    let (far, far_port, trace) = far_end(&dir, &ECHOING_UAS);
    let uri = format!("sip:988@127.0.0.1:{far_port}");
    let engine = Engine::start_in("", |flows| {
        std::fs::write(flows.join("211.yaml"), flow_to(&uri)).unwrap()
    });
    // The caller listens 20 s (greeting, 1 s to choose, the transfer), then hangs up.
    let run = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &["-d", "20000"],
    );
    // The caller's BYE ends the far end's leg too: sipp's UAS finishes its call.
    let messages = both_ended(&run, &engine, far, &trace);
    let id = engine.id_of(&run.call_id());
    let bridged = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "bridged" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("not bridged:\n{}", engine.dump()));
    assert_eq!(bridged["fields"]["uri"], uri.as_str());
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "RemoteBye");

    // The outbound leg presents the caller's own number.
    let invite = messages
        .split("INVITE sip:988@")
        .nth(1)
        .unwrap_or_else(|| panic!("no INVITE reached the far end:\n{messages}"));
    assert!(
        invite.contains("From: <sip:+16135550123@127.0.0.1>"),
        "{invite}"
    );
    assert!(
        invite.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "{invite}"
    );
    assert!(
        messages.contains("BYE sip:"),
        "the engine sent BYE:\n{messages}"
    );
}

#[test]
fn a_call_routed_after_a_quiet_spell_waits_for_the_far_end_as_long_as_ever() {
    // Nothing reaches the engine's SIP socket while the caller listens to
    // the menu (its audio is RTP) for longer than an INVITE's 64 × T1
    // (T1 = 50 ms here): the INVITE placed then still gets its full time.
    let dir = TempDir::new("far-end");
    let (far, far_port, trace) = far_end(&dir, &ECHOING_UAS);
    let uri = format!("sip:988@127.0.0.1:{far_port}");
    let engine = Engine::start_in("[sip]\nt1_ms = 50\n", |flows| {
        std::fs::write(flows.join("211.yaml"), flow_to_after(&uri, 3)).unwrap()
    });
    let run = sipp(
        &engine,
        "basic_call.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &["-d", "20000"],
    );
    both_ended(&run, &engine, far, &trace);
    let id = engine.id_of(&run.call_id());
    assert!(
        engine
            .lines(|v| message(v) == "bridged" && call_id(v) == id)
            .len()
            == 1,
        "not bridged:\n{}",
        engine.dump()
    );
}

#[test]
fn a_far_end_that_never_answers_gets_the_caller_an_explanation_then_the_end() {
    // Nothing listens at the URI: the INVITE times out (64 × T1, T1 = 100 ms here).
    let uri = format!("sip:988@127.0.0.1:{}", free_udp_port());
    let engine = Engine::start_in("", |flows| {
        std::fs::write(flows.join("211.yaml"), flow_to(&uri)).unwrap()
    });
    let run = sipp(
        &engine,
        "silent_caller.xml",
        "u1",
        &[("rtp_port", free_media_port().to_string())],
        &[],
    );
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    let failed = engine
        .wait_for(Duration::from_secs(1), |v| {
            message(v) == "the far end did not answer" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no failure logged:\n{}", engine.dump()));
    assert_eq!(failed["fields"]["code"], 408);
    assert!(
        engine
            .lines(|v| message(v) == "play" && call_id(v) == id)
            .iter()
            .any(|v| v["fields"]["prompts"] == "en/connect_failed fr/connect_failed"),
        "{}",
        engine.dump()
    );
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
}

#[test]
fn audio_flows_both_ways_through_the_bridge() {
    // The far end echoes what it hears (sipp -rtp_echo): audio the caller
    // sends crosses the bridge, comes back, and crosses again to the caller.
    let dir = TempDir::new("far-echo");
    let (mut far, far_port, _) = far_end(&dir, &ECHOING_UAS);
    let uri = format!("sip:988@127.0.0.1:{far_port}");
    let engine = Engine::start_in("", |flows| {
        std::fs::write(flows.join("211.yaml"), flow_to(&uri)).unwrap()
    });
    // The test is the caller's phone for audio: its socket is the address in
    // the caller's SDP.
    let rtp_port = free_media_port();
    let phone = std::net::UdpSocket::bind(("127.0.0.1", rtp_port)).unwrap();
    phone
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let audio = std::thread::scope(|s| {
        let call = s.spawn(|| {
            sipp(
                &engine,
                "basic_call.xml",
                "u1",
                &[("rtp_port", rtp_port.to_string())],
                &["-d", "18000"],
            )
        });
        let negotiated = engine
            .wait_for(Duration::from_secs(10), |v| {
                message(v) == "media negotiated"
            })
            .unwrap_or_else(|| panic!("no call:\n{}", engine.dump()));
        let engine_rtp = format!(
            "127.0.0.1:{}",
            negotiated["fields"]["local_port"].as_u64().unwrap()
        );
        let id = call_id(&negotiated).to_owned();
        engine
            .wait_for(Duration::from_secs(15), |v| {
                message(v) == "bridged" && call_id(v) == id
            })
            .unwrap_or_else(|| panic!("not bridged:\n{}", engine.dump()));
        // 2 s of PCMU whose samples are all 0x2A, 20 ms apart; count what
        // comes back carrying that payload.
        let mut echoed = 0;
        let mut buf = [0u8; 2048];
        for i in 0..100u16 {
            let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44];
            packet[2..4].copy_from_slice(&(1000 + i).to_be_bytes());
            packet[4..8].copy_from_slice(&(u32::from(i) * 160).to_be_bytes());
            packet.extend_from_slice(&[0x2A; 160]);
            phone.send_to(&packet, &engine_rtp).unwrap();
            let until = std::time::Instant::now() + Duration::from_millis(20);
            while std::time::Instant::now() < until {
                if let Ok(n) = phone.recv(&mut buf)
                    && n == 172
                    && buf[12..n].iter().all(|&b| b == 0x2A)
                {
                    echoed += 1;
                }
            }
        }
        let run = call.join().unwrap();
        run.assert_success(&engine);
        echoed
    });
    let _ = far.kill();
    let _ = far.wait();
    assert!(
        audio >= 50,
        "{audio} of 100 packets came back through the far end and the bridge"
    );
}

/// A drain that runs out of time cuts the crisis calls off last: at the
/// limit the other calls (and their legs) are hung up, the crisis call and
/// its line get `[calls] drain_crisis_extra_s` more.
#[test]
fn at_the_drain_limit_crisis_calls_are_hung_up_last() {
    let (line_dir, crisis_dir) = (TempDir::new("line"), TempDir::new("crisis-line"));
    let (line, line_port, _) = far_end(&line_dir, &ECHOING_UAS);
    let (crisis_line, crisis_port, _) = far_end(&crisis_dir, &ECHOING_UAS);
    let engine = Engine::start_in(
        "[calls]\ndrain_timeout_s = 2\ndrain_crisis_extra_s = 5\n",
        |flows| {
            let uri = format!("sip:line@127.0.0.1:{line_port}");
            std::fs::write(flows.join("211.yaml"), flow_to_after(&uri, 1)).unwrap();
            crate::harness::edit(
                &flows.join("centres.yaml"),
                "external: \"sip:988@crisis-gateway.example.org\"",
                &format!("external: \"sip:988@127.0.0.1:{crisis_port}\""),
            );
        },
    );
    // Both callers stay until the engine hangs up.
    std::thread::scope(|s| {
        let ordinary = s.spawn(|| crate::ivr::call_pressing(&engine, "+16135550100", &[]));
        let in_crisis =
            s.spawn(|| crate::ivr::call_pressing(&engine, "+16135550199", &[(500, '9')]));
        assert!(
            engine.wait_for_count(Duration::from_secs(15), 2, |v| message(v) == "bridged"),
            "both calls bridged to their lines:\n{}",
            engine.dump()
        );
        let routes = engine.lines(|v| message(v) == "route");
        let id_of = |crisis: bool| {
            routes
                .iter()
                .find(|v| (v["fields"]["target"] == "crisis") == crisis)
                .map(|v| call_id(v).to_owned())
                .unwrap_or_else(|| panic!("no route (crisis {crisis}):\n{}", engine.dump()))
        };
        let (ordinary_id, crisis_id) = (id_of(false), id_of(true));
        engine.signal("TERM");
        let first = engine
            .wait_for(Duration::from_secs(5), |v| {
                message(v)
                    .starts_with("drain limit reached: hanging up the calls still in progress but")
            })
            .unwrap_or_else(|| panic!("no first stage:\n{}", engine.dump()));
        // The ordinary caller and its line; the crisis caller and its line.
        assert_eq!(first["fields"]["hung_up"], 2, "{first}");
        assert_eq!(first["fields"]["crisis_kept"], 2, "{first}");
        let ended = |id: &str, within: u64| {
            engine.wait_for(Duration::from_secs(within), |v| {
                message(v) == "call ended" && call_id(v) == id
            })
        };
        assert!(ended(&ordinary_id, 3).is_some(), "{}", engine.dump());
        assert!(
            engine
                .lines(|v| message(v) == "call ended" && call_id(v) == crisis_id)
                .is_empty(),
            "the crisis call is still up"
        );
        assert!(ended(&crisis_id, 10).is_some(), "{}", engine.dump());
        ordinary.join().unwrap().assert_success(&engine);
        in_crisis.join().unwrap().assert_success(&engine);
    });
    for mut far in [line, crisis_line] {
        let _ = far.kill();
        let _ = far.wait();
    }
}
