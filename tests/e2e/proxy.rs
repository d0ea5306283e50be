//! Calls that reach the engine through the carrier's proxy: Kamailio in
//! front, recording the route (Record-Route), answering to rport, and
//! rewriting the Request-URI to the carrier's form of the number. The
//! engine answers, routes and hangs up through it.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{Engine, TempDir, free_media_port, free_udp_port, message, sipp_to};

/// The number as the carrier sends it (the engine serves it besides 211).
const DID: &str = "+16135550211";

/// Kamailio on a free port of 127.0.0.1, a stateful proxy to `engine`
/// that records the route and rewrites the Request-URI to [`DID`].
struct Kamailio {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Kamailio {
    fn start(engine: SocketAddr) -> Kamailio {
        let dir = TempDir::new("kamailio");
        let port = free_udp_port();
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(
            &cfg,
            format!(
                r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "textops.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    record_route();
    $ru = "sip:{DID}@{engine};user=phone";
    t_relay();
}}
"#
            ),
        )
        .unwrap();
        // Its own process group: its worker processes go with it.
        use std::os::unix::process::CommandExt;
        let child = Command::new("/usr/sbin/kamailio")
            .process_group(0)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-n", "1", "-w"])
            .arg(dir.path())
            .args(["-P"])
            .arg(dir.path().join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("kamailio.log")).unwrap())
            .spawn()
            .expect("start kamailio (Debian package kamailio)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Ready once it answers an OPTIONS (with 404 here: no to-tag, not
        // for the engine... any answer will do).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = probe.local_addr().unwrap();
        let options = format!(
            "OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe\r\n\
             Max-Forwards: 0\r\nFrom: <sip:probe@{local}>;tag=p\r\nTo: <sip:ping@127.0.0.1>\r\n\
             Call-ID: probe@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let mut buf = [0u8; 2048];
        loop {
            probe.send_to(options.as_bytes(), addr).unwrap();
            if probe.recv(&mut buf).is_ok() {
                break;
            }
            let log = std::fs::read_to_string(dir.path().join("kamailio.log")).unwrap_or_default();
            assert!(
                std::time::Instant::now() < deadline,
                "kamailio did not start:\n{log}"
            );
        }
        Kamailio {
            child,
            addr,
            _dir: dir,
        }
    }

    /// A sipp caller running `scenario` through the proxy; it must succeed.
    fn call(&self, engine: &Engine, scenario: &str, extra: &[&str]) -> crate::harness::SippRun {
        let run = sipp_to(
            self.addr,
            scenario,
            "u1",
            &[("rtp_port", free_media_port().to_string())],
            extra,
        );
        assert!(
            run.success,
            "{}\n{}\n--- kamailio ---\n{}\n--- engine ---\n{}",
            run.stderr,
            run.messages,
            self.log(),
            engine.dump()
        );
        run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn engine() -> Engine {
    Engine::start_in(
        &format!("[sip]\nnumbers = [\"211\", \"{DID}\"]\n"),
        |flows| std::fs::write(flows.join("211.yaml"), crate::harness::SHORT_FLOW).unwrap(),
    )
}

#[test]
fn a_call_through_the_carriers_proxy_is_answered_routed_and_hung_up_through_it() {
    let engine = engine();
    let proxy = Kamailio::start(engine.sip);
    // The short flow: a menu, its default route, nobody to take the call,
    // the engine says so and hangs up: its BYE follows the recorded route.
    let run = proxy.call(&engine, "silent_caller.xml", &[]);
    let id = engine.id_of(&run.call_id());
    let arrived = engine
        .lines(|v| message(v) == "call arrived")
        .pop()
        .expect("arrived");
    assert_eq!(arrived["fields"]["dialled"], DID, "{arrived}");
    assert!(
        engine
            .wait_for(Duration::from_secs(5), |v| {
                message(v) == "route" && crate::harness::call_id(v) == id
            })
            .is_some(),
        "{}",
        engine.dump()
    );
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "LocalBye");
    // The engine's BYE went through the proxy: it carries its Route.
    let bye = run
        .messages
        .split("BYE sip:")
        .nth(1)
        .unwrap_or_else(|| panic!("no BYE reached the caller:\n{}", run.messages));
    assert!(
        bye.contains(&format!("Via: SIP/2.0/UDP 127.0.0.1:{}", proxy.addr.port())),
        "the BYE came through the proxy:\n{bye}"
    );
}

#[test]
fn a_caller_hanging_up_through_the_proxy_ends_the_call() {
    let engine = engine();
    let proxy = Kamailio::start(engine.sip);
    let run = proxy.call(&engine, "basic_call.xml", &["-d", "3000"]);
    let id = engine.id_of(&run.call_id());
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "RemoteBye");
}
