//! The queues end to end: navigators' phones (baresip) register and answer,
//! their screens are websocket clients, callers are sipp, and external lines
//! and the trunk are sipp UASs. Every call goes through `frontdoor serve`
//! on the shipped flows.
//!
//! The callers' media is written by the test as pcaps that sipp plays: RFC
//! 4733 key presses and PCMU audio, numbered on one RTP stream per call (so
//! keys may come in any order, which sipp's own recordings do not allow).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::external::{both_ended, far_end_finished, far_end_hanging_up};
use crate::harness::{Engine, SippRun, TempDir, call_id, free_media_port, message, sipp};
use crate::ivr::ottawa_always_open;
use crate::records::{http, login};
use crate::registrar::{phone, phone_answering, stop};

mod browser_calls;
pub(crate) mod desk;
mod identity;
mod wallboard;

const OTTAWA: &str = "+16135550123";
pub(crate) const PASSWORD: &str = "navigator-pass-1";

// ---- the caller's media --------------------------------------------------

/// One RTP stream of a call, written as pcap files for sipp to play.
struct Stream {
    dir: PathBuf,
    seq: u16,
    ts: u32,
    files: usize,
}

/// What a caller does, in order.
#[derive(Clone)]
enum Step {
    Pause(u64),
    /// An RFC 4733 key press (about 140 ms).
    Key(char),
    /// This many 20 ms PCMU packets whose samples are all 0x2A.
    Audio(u16),
    /// A key as an in-band DTMF tone (made with sox) in PCMU audio.
    Tone(char),
    /// A steady sine of this frequency (Hz) for this many 20 ms PCMU
    /// packets: a voice the test can pick out of a mix.
    Sine(u32, u16),
}

impl Stream {
    fn new(dir: &Path) -> Stream {
        Stream {
            dir: dir.to_owned(),
            seq: 1000,
            ts: 8000,
            files: 0,
        }
    }

    fn rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// A pcap (Ethernet, IPv4, UDP) of these RTP packets, 20 ms apart.
    fn pcap(&mut self, packets: Vec<Vec<u8>>) -> PathBuf {
        let mut out = Vec::new();
        // magic, version 2.4, zone, accuracy, snap length, Ethernet.
        for v in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 65535, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (i, rtp) in packets.iter().enumerate() {
            let udp_len = 8 + rtp.len();
            let ip_len = 20 + udp_len;
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00]);
            frame.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8]);
            frame.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
            frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
            frame.extend_from_slice(&[0x1f, 0x40, 0x1f, 0x40]);
            frame.extend_from_slice(&[(udp_len >> 8) as u8, udp_len as u8, 0, 0]);
            frame.extend_from_slice(rtp);
            let us = i as u32 * 20_000;
            for v in [1_700_000_000 + us / 1_000_000, us % 1_000_000] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
        }
        self.files += 1;
        let path = self.dir.join(format!("media{}.pcap", self.files));
        std::fs::write(&path, out).unwrap();
        path
    }

    fn key(&mut self, key: char) -> PathBuf {
        let event = key.to_digit(10).expect("a digit key") as u8;
        let ts = self.ts;
        let mut packets = Vec::new();
        for (i, duration) in [160u16, 320, 480, 640, 800, 800, 800]
            .into_iter()
            .enumerate()
        {
            let end = i >= 4;
            let [d0, d1] = duration.to_be_bytes();
            let payload = [event, if end { 0x80 | 10 } else { 10 }, d0, d1];
            packets.push(self.rtp(101, i == 0, ts, &payload));
        }
        self.ts += 800 + 160;
        self.pcap(packets)
    }

    /// The DTMF tone of `key` for 120 ms, then 100 ms of silence, made by
    /// sox (a real tone source, not ours), as PCMU packets.
    fn tone(&mut self, key: char) -> PathBuf {
        let (low, high) = match key {
            '1' => (697, 1209),
            '2' => (697, 1336),
            '3' => (697, 1477),
            '9' => (852, 1477),
            other => panic!("no tone for {other} here"),
        };
        let wav = self.dir.join(format!("tone{}.wav", self.files));
        let out = std::process::Command::new("sox")
            .args(["-n", "-r", "8000", "-b", "16", "-c", "1"])
            .arg(&wav)
            .args([
                "synth",
                "0.12",
                "sine",
                &low.to_string(),
                "sine",
                &high.to_string(),
            ])
            .args(["remix", "-", "gain", "-8", "pad", "0", "0.1"])
            .output()
            .expect("run sox (package sox)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let samples: Vec<i16> = hound::WavReader::open(&wav)
            .unwrap()
            .samples::<i16>()
            .map_while(Result::ok)
            .collect();
        let mut packets = Vec::new();
        for frame in samples.chunks(160) {
            let mut payload = Vec::with_capacity(160);
            frontdoor_media::Codec::Pcmu.encode_into(frame, &mut payload);
            payload.resize(160, 0xFF);
            let ts = self.ts;
            packets.push(self.rtp(0, false, ts, &payload));
            self.ts += 160;
        }
        self.pcap(packets)
    }

    fn sine(&mut self, hz: u32, n: u16) -> PathBuf {
        let mut packets = Vec::new();
        let mut payload = Vec::with_capacity(160);
        for i in 0..u32::from(n) {
            let frame: Vec<i16> = (0..160)
                .map(|k| {
                    let t = f64::from(i * 160 + k) / 8000.0;
                    (6000.0 * (t * f64::from(hz) * std::f64::consts::TAU).sin()) as i16
                })
                .collect();
            payload.clear();
            frontdoor_media::Codec::Pcmu.encode_into(&frame, &mut payload);
            let ts = self.ts;
            packets.push(self.rtp(0, false, ts, &payload));
            self.ts += 160;
        }
        self.pcap(packets)
    }

    fn audio(&mut self, n: u16) -> PathBuf {
        let mut packets = Vec::new();
        for _ in 0..n {
            let ts = self.ts;
            packets.push(self.rtp(0, false, ts, &[0x2A; 160]));
            self.ts += 160;
        }
        self.pcap(packets)
    }
}

/// A sipp caller from `caller` doing `steps`, then hanging up
/// (`hangs_up`) or waiting for the engine's BYE.
fn call(engine: &Engine, caller: &str, steps: &[Step], hangs_up: bool) -> SippRun {
    call_edited(engine, caller, steps, hangs_up, |scenario| scenario)
}

/// [`call`], with the scenario (its INVITE) changed by `edit`.
fn call_edited(
    engine: &Engine,
    caller: &str,
    steps: &[Step],
    hangs_up: bool,
    edit: impl FnOnce(String) -> String,
) -> SippRun {
    call_hearing_on(engine, caller, steps, hangs_up, edit, free_media_port())
}

/// [`call_edited`], the caller's phone taking its audio on `rtp_port` (a
/// test's socket there hears what the caller hears).
fn call_hearing_on(
    engine: &Engine,
    caller: &str,
    steps: &[Step],
    hangs_up: bool,
    edit: impl FnOnce(String) -> String,
    rtp_port: u16,
) -> SippRun {
    let dir = TempDir::new("caller");
    let mut stream = Stream::new(dir.path());
    let mut xml = String::new();
    for step in steps {
        match step {
            Step::Pause(ms) => xml.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n")),
            Step::Key(k) => {
                let file = stream.key(*k);
                xml.push_str(&play(&file));
                xml.push_str("  <pause milliseconds=\"200\"/>\n");
            }
            Step::Audio(n) => {
                let file = stream.audio(*n);
                xml.push_str(&play(&file));
            }
            Step::Tone(k) => {
                let file = stream.tone(*k);
                xml.push_str(&play(&file));
                xml.push_str("  <pause milliseconds=\"250\"/>\n");
            }
            Step::Sine(hz, n) => {
                let file = stream.sine(*hz, *n);
                xml.push_str(&play(&file));
            }
        }
    }
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scenarios/queue_call.xml"),
    )
    .unwrap();
    let mut scenario = template.replace("  <!-- STEPS -->\n", &xml);
    if !hangs_up {
        let a = scenario.find("  <!-- HANGUP -->").unwrap();
        let b = scenario.find("  <!-- /HANGUP -->\n").unwrap() + "  <!-- /HANGUP -->\n".len();
        scenario.replace_range(
            a..b,
            "  <recv request=\"BYE\"/>\n  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n    ]]>\n  </send>\n",
        );
    }
    let scenario = edit(scenario);
    let path = dir.path().join("call.xml");
    std::fs::write(&path, scenario).unwrap();
    sipp(
        engine,
        path.to_str().unwrap(),
        "u1",
        &[
            ("rtp_port", rtp_port.to_string()),
            ("caller", caller.to_owned()),
        ],
        &[],
    )
}

fn play(file: &Path) -> String {
    format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
        file.display()
    )
}

// ---- the navigator's screen ----------------------------------------------

/// A navigator's CTI websocket.
struct Screen {
    ws: tungstenite::WebSocket<TcpStream>,
    frames: Vec<Value>,
}

impl Screen {
    fn open(engine: &Engine, user: &str) -> Screen {
        let token = login(engine, user, PASSWORD);
        let stream = TcpStream::connect(engine.http).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let url = format!("ws://{}/cti/ws?token={token}", engine.http);
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("websocket upgrade");
        let mut screen = Screen {
            ws,
            frames: Vec::new(),
        };
        screen.expect(Duration::from_secs(5), "hello", |_| true);
        screen
    }

    fn send(&mut self, v: Value) {
        self.ws
            .send(tungstenite::Message::text(v.to_string()))
            .unwrap();
    }

    /// The first frame of `kind` (seen before or arriving within `timeout`)
    /// that `pred` accepts.
    fn wait(
        &mut self,
        timeout: Duration,
        kind: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        self.wait_from(0, timeout, kind, pred)
    }

    /// Like [`Screen::wait`], among the frames from index `from` on.
    fn wait_from(
        &mut self,
        from: usize,
        timeout: Duration,
        kind: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let ok = |v: &Value| v["type"] == kind && pred(v);
        let deadline = Instant::now() + timeout;
        let mut checked = from;
        loop {
            if let Some(v) = self.frames[checked.min(self.frames.len())..]
                .iter()
                .find(|v| ok(v))
            {
                return Some(v.clone());
            }
            checked = self.frames.len();
            if Instant::now() >= deadline {
                return None;
            }
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    self.frames.push(serde_json::from_str(t.as_str()).unwrap());
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("websocket: {e}"),
            }
        }
    }

    #[track_caller]
    fn expect(&mut self, timeout: Duration, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        match self.wait(timeout, kind, pred) {
            Some(v) => v,
            None => panic!("no matching {kind}; frames: {:#?}", self.frames),
        }
    }

    fn set_state(&mut self, state: &str) {
        self.send(json!({"type": "set_state", "id": format!("s-{state}"), "state": state}));
        self.expect(Duration::from_secs(5), "state_changed", |v| {
            v["state"] == state
        });
    }
}

/// A navigator account (and a supervisor to read the records with).
pub(crate) fn account(
    engine: &Engine,
    user: &str,
    role: &str,
    centre: &str,
    languages: &str,
    crisis: bool,
) {
    let mut args = vec![
        "--db".to_owned(),
        engine.db.clone(),
        "user".into(),
        "add".into(),
        "--username".into(),
        user.into(),
        "--role".into(),
        role.into(),
        "--centre".into(),
        centre.into(),
        "--languages".into(),
        languages.into(),
        "--password-stdin".into(),
        // The phone's SIP secret: the same text, on the second line.
        "--sip-secret-stdin".into(),
    ];
    if crisis {
        args.push("--crisis".into());
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(&args)
        .env("RUST_LOG", "off")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}\n{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ottawa's navigator `nav1` (English and French): their phone registered
/// (answering at once), their screen open and `ready`.
fn ready_navigator(engine: &Engine, dir: &TempDir) -> (Child, Screen) {
    account(engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let baresip = registered_phone(engine, dir, "nav1");
    let mut screen = Screen::open(engine, "nav1");
    screen.set_state("ready");
    (baresip, screen)
}

/// A caller who presses 1 (English), then 2 (food), then does `rest`.
fn english_then_food(rest: &[Step]) -> Vec<Step> {
    let mut steps = vec![
        Step::Pause(1000),
        Step::Key('1'),
        Step::Pause(1300),
        Step::Key('2'),
    ];
    steps.extend_from_slice(rest);
    steps
}

/// A navigator whose phone (baresip, answering at once) has registered.
fn registered_phone(engine: &Engine, dir: &TempDir, user: &str) -> Child {
    wait_registered(engine, || phone(engine, dir, user, PASSWORD), user)
}

/// Start a phone and wait for its registration. On a loaded machine the
/// free port picked for it may be taken before baresip binds it: then a new
/// phone, on a new port.
fn wait_registered(engine: &Engine, start: impl Fn() -> Child, user: &str) -> Child {
    let registered = |v: &Value| message(v) == "registered" && v["fields"]["aor"] == user;
    for _ in 0..3 {
        let before = engine.lines(registered).len();
        let baresip = start();
        if engine.wait_for_count(Duration::from_secs(10), before + 1, registered) {
            return baresip;
        }
        stop(baresip);
    }
    panic!("{user}'s phone did not register:\n{}", engine.dump());
}

/// nav1 opens the screen and is ready; an Ottawa caller (English, food)
/// is offered to them and answered by their phone, then hangs up.
fn answered_by_nav1(engine: &Engine) -> SippRun {
    let mut screen = Screen::open(engine, "nav1");
    screen.set_state("ready");
    let steps = english_then_food(&[Step::Pause(6000)]);
    std::thread::scope(|s| {
        let caller = s.spawn(|| call(engine, OTTAWA, &steps, true));
        screen.expect(Duration::from_secs(15), "call_offered", |_| true);
        screen.expect(Duration::from_secs(10), "call_answered", |_| true);
        caller.join().unwrap()
    })
}

/// A supervisor's token (the account is made on first use).
fn supervisor(engine: &Engine) -> String {
    staff(engine, "sup1", "supervisor")
}

/// A token of Ottawa's staff member `user` with `role` (the account is made
/// on first use).
fn staff(engine: &Engine, user: &str, role: &str) -> String {
    let (status, _) = http(
        engine.http,
        "POST",
        "/api/login",
        None,
        &format!(r#"{{"username":"{user}","password":"{PASSWORD}"}}"#),
    );
    if status != 200 {
        account(engine, user, role, "ottawa", "en", false);
    }
    login(engine, user, PASSWORD)
}

/// The call's record and its events, read as a supervisor.
fn record(engine: &Engine, id: &str) -> Value {
    record_as(engine, &supervisor(engine), id)
}

/// The call's record and its events, read with `token`.
fn record_as(engine: &Engine, token: &str, id: &str) -> Value {
    let (status, body) = http(
        engine.http,
        "GET",
        &format!("/api/calls/{id}"),
        Some(token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The supervisors' view of the queues.
fn queues(engine: &Engine) -> Value {
    let token = supervisor(engine);
    let (status, body) = http(engine.http, "GET", "/api/queues", Some(&token), "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn step_kinds(record: &Value) -> Vec<String> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `[cti]` lines that make `uri` a place navigators may transfer to.
fn destination(uri: &str) -> String {
    format!("transfer_destinations = [{{ name = \"Partner line\", uri = \"{uri}\" }}]\n")
}

fn config(extra: &str) -> String {
    format!("[cti]\nwrap_up_s = 30\n{extra}")
}

// ---- the tests -------------------------------------------------------------

#[test]
fn an_ottawa_caller_reaches_a_ready_navigator_who_answers_talks_and_logs_the_call() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    let dir = TempDir::new("phone");
    let (baresip, mut screen) = ready_navigator(&engine, &dir);

    // English (1), then food (2); on hold the navigator's phone rings and
    // answers; 2 s of audio; then the caller hangs up.
    let steps = english_then_food(&[Step::Pause(5000), Step::Audio(100), Step::Pause(3000)]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let offered = screen.expect(Duration::from_secs(15), "call_offered", |_| true);
        assert_eq!(offered["language"], "en", "{offered}");
        assert_eq!(offered["region"], "east", "{offered}");
        assert_eq!(offered["centre"], "ottawa", "{offered}");
        assert_eq!(offered["topic"], "food", "{offered}");
        assert_eq!(offered["crisis"], false, "{offered}");
        assert_eq!(offered["callback"], false, "{offered}");
        screen.expect(Duration::from_secs(5), "state_changed", |v| {
            v["state"] == "reserved"
        });
        screen.expect(Duration::from_secs(10), "call_answered", |_| true);
        screen.expect(Duration::from_secs(5), "state_changed", |v| {
            v["state"] == "busy"
        });
        caller.join().unwrap()
    });
    stop(baresip);
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    let ended = screen.expect(Duration::from_secs(10), "call_ended", |v| {
        v["call_id"] == id
    });
    assert_eq!(ended["disposition"], "answered");
    screen.expect(Duration::from_secs(5), "state_changed", |v| {
        v["state"] == "wrap_up"
    });

    screen.send(json!({
        "type": "log_call", "id": "log-1", "call_id": id,
        "needs": [{"code": "BD-1800", "met": true}],
        "notes": "food bank referral",
    }));
    screen.expect(Duration::from_secs(10), "log_saved", |v| v["call_id"] == id);

    // RTP crossed the engine both ways: the caller's audio to the phone,
    // the phone's tone to the caller.
    engine.call_ended(&id);
    let caller_media = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "media closed" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    let phone_media = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "leg media closed" && v["fields"]["navigator"] == "nav1"
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    let relayed = |v: &Value| v["fields"]["relayed"].as_u64().unwrap_or(0);
    assert!(
        relayed(&caller_media) >= 50,
        "phone to caller: {caller_media}"
    );
    assert!(
        relayed(&phone_media) >= 50,
        "caller to phone: {phone_media}"
    );

    // The CDR has the whole path.
    let rec = record(&engine, &id);
    let call = &rec["call"];
    assert_eq!(call["navigator"], "nav1", "{rec:#}");
    assert_eq!(call["disposition"], "answered", "{rec:#}");
    assert!(call["answered_ms"].as_i64().is_some(), "{rec:#}");
    let kinds = step_kinds(&rec);
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    let path = [
        "routed",
        "queued",
        "offered",
        "answered",
        "connected",
        "talked",
    ];
    // (The record's own end and the queues' last step are written by two
    // tasks: either may come first.)
    assert!(at("connected") < at("ended"), "{kinds:?}");
    for pair in path.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{pair:?} out of order in {kinds:?}"
        );
    }
    for k in path.iter().chain(&["ended"]) {
        assert_eq!(
            kinds.iter().filter(|x| *x == k).count(),
            1,
            "{k} in {kinds:?}"
        );
    }
    assert!(!rec["logs"].as_array().unwrap().is_empty(), "{rec:#}");
}

/// The crisis line (or another external target) as a sipp UAS that answers,
/// stays 3 s and hangs up; its URI.
fn line(dir: &TempDir) -> (Child, PathBuf, String) {
    let (far, port, trace) = far_end_hanging_up(dir);
    (far, trace, format!("sip:988@127.0.0.1:{port}"))
}

fn crisis_line_is(uri: &str) -> impl FnOnce(&Path) + '_ {
    move |flows: &Path| {
        crate::harness::edit(
            &flows.join("centres.yaml"),
            "external: \"sip:988@crisis-gateway.example.org\"",
            &format!("external: \"{uri}\""),
        )
    }
}

#[test]
fn key_9_reaches_a_crisis_trained_navigator_in_another_centre_at_once() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    // An Ottawa caller; the only crisis-trained navigator is in Toronto.
    account(&engine, "tor1", "navigator", "toronto", "en,fr", true);
    let dir = TempDir::new("phone");
    let baresip = registered_phone(&engine, &dir, "tor1");
    let mut screen = Screen::open(&engine, "tor1");
    screen.set_state("ready");
    let steps = [Step::Pause(800), Step::Key('9'), Step::Pause(6000)];
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let offered = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
        assert_eq!(offered["crisis"], true, "{offered}");
        screen.expect(Duration::from_secs(10), "call_answered", |_| true);
        caller.join().unwrap()
    });
    stop(baresip);
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    screen.expect(Duration::from_secs(10), "call_ended", |v| {
        v["call_id"] == id
    });
    let queued = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "queue step"
                && v["fields"]["step"] == "queued"
                && v["fields"]["call_id"] == id
        })
        .unwrap();
    assert!(
        queued["fields"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("queue=crisis priority=crisis"),
        "{queued}"
    );
}

#[test]
fn a_crisis_call_nobody_answers_goes_to_the_crisis_line_after_the_timeout() {
    let dir = TempDir::new("crisis-line");
    let (far, trace, uri) = line(&dir);
    let engine = Engine::start_in(
        &config("[queues]\ncrisis_timeout_s = 3\n"),
        crisis_line_is(&uri),
    );
    // A crisis-trained navigator is logged in but not ready: the call waits
    // for them, then goes to the crisis line.
    account(&engine, "tor1", "navigator", "toronto", "en,fr", true);
    let mut screen = Screen::open(&engine, "tor1");
    let steps = [Step::Pause(800), Step::Key('9')];
    let run = call(&engine, OTTAWA, &steps, false);
    let messages = both_ended(&run, &engine, far, &trace);
    let id = engine.id_of(&run.call_id());
    assert!(
        messages.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "the caller's own number is presented:\n{messages}"
    );
    let out = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "queue step"
                && v["fields"]["step"] == "routed_external"
                && v["fields"]["call_id"] == id
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    let detail = out["fields"]["detail"].as_str().unwrap();
    assert!(detail.contains("reason=crisis_timeout"), "{detail}");
    let waited: u64 = detail.rsplit("waited_s=").next().unwrap().parse().unwrap();
    assert!((3..10).contains(&waited), "{detail}");
    assert!(
        screen
            .wait(Duration::from_millis(200), "call_offered", |_| true)
            .is_none(),
        "never offered to a navigator who is not ready"
    );
}

#[test]
fn a_french_caller_is_never_offered_to_a_navigator_without_french() {
    let dir = TempDir::new("fallback");
    let (far, trace, uri) = line(&dir);
    let engine = Engine::start_in(
        &config(&format!("[queues]\nfallback = \"{uri}\"\n")),
        ottawa_always_open,
    );
    account(&engine, "nav_en", "navigator", "ottawa", "en", false);
    let pdir = TempDir::new("phone");
    let baresip = registered_phone(&engine, &pdir, "nav_en");
    let mut screen = Screen::open(&engine, "nav_en");
    screen.set_state("ready");
    // French (2), then a topic (3).
    let steps = [
        Step::Pause(1000),
        Step::Key('2'),
        Step::Pause(1300),
        Step::Key('3'),
    ];
    let run = call(&engine, OTTAWA, &steps, false);
    stop(baresip);
    both_ended(&run, &engine, far, &trace);
    let id = engine.id_of(&run.call_id());
    let out = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "queue step"
                && v["fields"]["step"] == "routed_external"
                && v["fields"]["call_id"] == id
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    assert!(
        out["fields"]["detail"]
            .as_str()
            .unwrap()
            .contains("reason=no_centre_available"),
        "{out}"
    );
    assert!(
        screen
            .wait(Duration::from_millis(500), "call_offered", |_| true)
            .is_none(),
        "a French call was offered to a navigator without French: {:#?}",
        screen.frames
    );
}

#[test]
fn a_caller_who_asks_for_a_callback_is_called_back_when_a_navigator_is_ready() {
    // The trunk is a sipp UAS: it takes the callback, stays 3 s, hangs up.
    // (No keep-alives, here and below: sipp's scenario expects the INVITE
    // and nothing else.)
    let dir = TempDir::new("trunk");
    let (far, port, trace) = far_end_hanging_up(&dir);
    let engine = Engine::start_in(
        &config(&format!(
            "[trunk]\nproxy = \"127.0.0.1:{port}\"\nkeepalive_s = 0\n"
        )),
        ottawa_always_open,
    );
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let pdir = TempDir::new("phone");
    let baresip = registered_phone(&engine, &pdir, "nav1");
    // Logged in, not ready: the caller waits.
    let mut screen = Screen::open(&engine, "nav1");
    // English, food, then on hold 1: called back, keeping the place; the
    // engine says goodbye and hangs up.
    let steps = english_then_food(&[Step::Pause(3000), Step::Key('1')]);
    let run = call(&engine, OTTAWA, &steps, false);
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    assert!(
        screen
            .wait(Duration::from_millis(500), "call_offered", |_| true)
            .is_none(),
        "nobody was ready"
    );
    // The supervisors see the callback keeping its place, and the navigator.
    std::thread::sleep(Duration::from_millis(1200));
    let view = queues(&engine);
    let ottawa = view["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "centre:ottawa")
        .unwrap_or_else(|| panic!("{view:#}"));
    assert_eq!(ottawa["waiting"][0]["call_id"], id.as_str(), "{view:#}");
    assert_eq!(ottawa["waiting"][0]["callback"], true, "{view:#}");
    assert_eq!(view["navigators"][0]["username"], "nav1", "{view:#}");
    assert_eq!(view["navigators"][0]["state"], "not_ready", "{view:#}");
    // Why, and since when (for the time in state): since the login.
    assert!(view["navigators"][0]["reason"].is_string(), "{view:#}");
    let since = view["navigators"][0]["since_ms"]
        .as_i64()
        .unwrap_or_default();
    let now = frontdoor_cti::now_ms();
    assert!(since > now - 120_000 && since <= now, "{view:#}");
    // Today's figures: one caller offered to Ottawa in English, who asked
    // for a callback (neither answered nor abandoned).
    let today = today_line(&view, "centre:ottawa", "en");
    assert_eq!(
        (
            &today["offered"],
            &today["callbacks_requested"],
            &today["answered"],
            &today["abandoned"]
        ),
        (&json!(1), &json!(1), &json!(0), &json!(0)),
        "{view:#}"
    );
    assert_eq!(today["service_level_percent"], Value::Null, "{view:#}");
    assert_eq!(
        (&today["target_percent"], &today["target_within_s"]),
        (&json!(80.0), &json!(60))
    );
    // The same in /metrics, with the callback waiting for its turn.
    let (_, metrics) = http(engine.http, "GET", "/metrics", None, "");
    for line in [
        "frontdoor_queue_callbacks_requested_today{queue=\"centre:ottawa\",language=\"en\"} 1",
        "frontdoor_queue_callbacks_waiting{queue=\"centre:ottawa\",language=\"en\"} 1",
        "frontdoor_queue_waiting{queue=\"centre:ottawa\",language=\"en\"} 0",
        "frontdoor_navigators{centre=\"ottawa\",state=\"not_ready\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }

    screen.set_state("ready");
    let offered = screen.expect(Duration::from_secs(10), "call_offered", |v| {
        v["call_id"] == id
    });
    assert_eq!(offered["callback"], true, "{offered}");
    assert_eq!(offered["topic"], "food", "{offered}");
    screen.expect(Duration::from_secs(10), "call_answered", |v| {
        v["call_id"] == id
    });
    let ended = screen.expect(Duration::from_secs(15), "call_ended", |v| {
        v["call_id"] == id
    });
    assert_eq!(ended["disposition"], "callback", "{ended}");
    screen.expect(Duration::from_secs(5), "state_changed", |v| {
        v["state"] == "wrap_up"
    });
    stop(baresip);

    let (ok, messages) = far_end_finished(far, &trace);
    assert!(ok, "the callback did not complete:\n{messages}");
    assert!(
        messages.contains("INVITE sip:+16135550123@127.0.0.1 SIP/2.0"),
        "the caller's number is called back through the trunk:\n{messages}"
    );
    let rec = record(&engine, &id);
    let kinds = step_kinds(&rec);
    for k in [
        "callback_requested",
        "callback_dialling",
        "answered",
        "connected",
        "talked",
        "ended",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in {kinds:?}");
    }
    assert_eq!(rec["call"]["callback"], true, "{rec:#}");
    // The callback a navigator took and finished, on today's figures.
    std::thread::sleep(Duration::from_millis(1200));
    let view = queues(&engine);
    let today = today_line(&view, "centre:ottawa", "en");
    assert_eq!(
        (
            &today["offered"],
            &today["callbacks_answered"],
            &today["handled"],
            &today["answered"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(0)),
        "{view:#}"
    );
    assert!(
        today["average_handle_s"].as_f64().is_some_and(|s| s >= 2.0),
        "{view:#}"
    );
    // Its screen pop, in the pop histogram.
    let (_, metrics) = http(engine.http, "GET", "/metrics", None, "");
    assert!(
        metrics
            .lines()
            .any(|l| l == "frontdoor_pop_seconds_count 1"),
        "{metrics}"
    );
}

/// The view's figures of today for a queue and language.
fn today_line<'a>(view: &'a Value, queue: &str, language: &str) -> &'a Value {
    view["today"]
        .as_array()
        .and_then(|lines| {
            lines
                .iter()
                .find(|l| l["queue"] == queue && l["language"] == language)
        })
        .unwrap_or_else(|| panic!("no {queue} {language} line today: {view:#}"))
}

#[test]
fn premium_and_international_callers_are_not_offered_a_callback_the_trunk_would_pay_for() {
    let dir = TempDir::new("trunk");
    let (far, port, _trace) = far_end_hanging_up(&dir);
    let engine = Engine::start_in(
        &config(&format!(
            "[trunk]\nproxy = \"127.0.0.1:{port}\"\nkeepalive_s = 0\n"
        )),
        ottawa_always_open,
    );
    // Logged in, not ready: callers wait in the queue.
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let _screen = Screen::open(&engine, "nav1");
    for number in ["+19005550123", "+447700900123"] {
        // English, the region menu (their number says no region): east,
        // food; on hold, 1 — which would ask for a callback.
        let steps = [
            Step::Pause(1000),
            Step::Key('1'),
            Step::Pause(1300),
            Step::Key('1'),
            Step::Pause(1300),
            Step::Key('2'),
            Step::Pause(3000),
            Step::Key('1'),
            Step::Pause(2000),
        ];
        let run = call(&engine, number, &steps, true);
        run.assert_success(&engine);
        let id = engine.id_of(&run.call_id());
        let queued = engine.lines(|v| {
            message(v) == "queue step"
                && v["fields"]["step"] == "queued"
                && v["fields"]["call_id"] == id
        });
        assert_eq!(
            queued.len(),
            1,
            "{number} waited in a queue:\n{}",
            engine.dump()
        );
        assert!(
            engine
                .lines(|v| message(v) == "callback requested" && call_id(v) == id)
                .is_empty(),
            "{number} was offered a callback:\n{}",
            engine.dump()
        );
    }
    stop(far);
}

#[test]
fn an_offer_nobody_answers_is_taken_back_and_the_navigator_is_not_left_reserved() {
    let engine = Engine::start_in(
        &config("[queues]\nring_timeout_s = 2\nannounce_every_s = 4\n"),
        ottawa_always_open,
    );
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let dir = TempDir::new("phone");
    // The phone rings and nobody picks up.
    let baresip = wait_registered(
        &engine,
        || phone_answering(&engine, &dir, "nav1", PASSWORD, "manual"),
        "nav1",
    );
    let mut screen = Screen::open(&engine, "nav1");
    screen.set_state("ready");
    // Queued at about 3 s; the caller gives up at about 15 s.
    let steps = english_then_food(&[Step::Pause(12000)]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let first = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
        let id = first["call_id"].as_str().unwrap().to_owned();
        let withdrawn = screen.expect(Duration::from_secs(5), "call_withdrawn", |v| {
            v["call_id"] == id
        });
        assert_eq!(withdrawn["reason"], "no_answer", "{withdrawn}");
        screen.expect(Duration::from_secs(2), "state_changed", |v| {
            v["state"] == "not_ready" && v["reason"] == "no_answer"
        });
        // Ready again: the call, back at the head of its queue, comes again.
        let from = screen.frames.len();
        screen.send(json!({"type": "set_state", "id": "s-again", "state": "ready"}));
        let again = screen.wait_from(from, Duration::from_secs(5), "call_offered", |v| {
            v["call_id"] == id
        });
        assert!(
            again.is_some(),
            "offered a second time: {:#?}",
            screen.frames
        );
        screen
            .wait_from(from, Duration::from_secs(5), "call_withdrawn", |v| {
                v["call_id"] == id && v["reason"] == "no_answer"
            })
            .unwrap_or_else(|| panic!("not taken back: {:#?}", screen.frames));
        caller.join().unwrap()
    });
    stop(baresip);
    run.assert_success(&engine);
    let rec = record(&engine, &engine.id_of(&run.call_id()));
    let kinds = step_kinds(&rec);
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("offered"), 2, "{kinds:?}");
    assert_eq!(count("no_answer"), 2, "{kinds:?}");
    assert_eq!(count("abandoned"), 1, "{kinds:?}");
    assert_eq!(rec["call"]["disposition"], "abandoned_in_queue", "{rec:#}");
    // On hold all along: the loop, and every 4 s the place in line.
    let id = engine.id_of(&run.call_id());
    let said = |what: &str| {
        engine
            .lines(|v| message(v) == what && call_id(v) == id)
            .iter()
            .map(|v| {
                v["fields"]["prompts"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    // (No trunk to call back through: no callback offer.)
    assert_eq!(said("hold"), ["en/hold_loop"]);
    assert!(
        said("play")
            .iter()
            .any(|p| p.starts_with("en/queue_position_intro en/num_1 en/queue_position_outro")),
        "{:?}",
        said("play")
    );
}

#[test]
fn a_caller_who_hangs_up_while_the_phone_rings_takes_the_offer_back() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let dir = TempDir::new("phone");
    let baresip = wait_registered(
        &engine,
        || phone_answering(&engine, &dir, "nav1", PASSWORD, "manual"),
        "nav1",
    );
    let mut screen = Screen::open(&engine, "nav1");
    screen.set_state("ready");
    // Queued at about 3 s; the phone rings (20 s ring timeout); the caller
    // gives up at about 6 s.
    let steps = english_then_food(&[Step::Pause(3000)]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let offered = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
        let id = offered["call_id"].as_str().unwrap().to_owned();
        let from = screen.frames.len();
        let gone = screen.expect(Duration::from_secs(10), "call_withdrawn", |v| {
            v["call_id"] == id
        });
        assert_eq!(gone["reason"], "caller_hung_up", "{gone}");
        screen
            .wait_from(from, Duration::from_secs(2), "state_changed", |v| {
                v["state"] == "ready"
            })
            .unwrap_or_else(|| panic!("not ready again: {:#?}", screen.frames));
        caller.join().unwrap()
    });
    stop(baresip);
    run.assert_success(&engine);
    let kinds = step_kinds(&record(&engine, &engine.id_of(&run.call_id())));
    assert!(kinds.iter().any(|k| k == "abandoned"), "{kinds:?}");
}

#[test]
fn a_navigator_transfers_their_call_to_an_outside_line_from_the_screen() {
    let dir = TempDir::new("partner");
    let (far, trace, uri) = line(&dir);
    let engine = Engine::start_in(&config(&destination(&uri)), ottawa_always_open);
    let pdir = TempDir::new("phone");
    let (baresip, mut screen) = ready_navigator(&engine, &pdir);
    let steps = english_then_food(&[]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, false));
        let offered = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
        let id = offered["call_id"].as_str().unwrap().to_owned();
        screen.expect(Duration::from_secs(10), "call_answered", |v| {
            v["call_id"] == id
        });
        screen.send(json!({
            "type": "transfer", "id": "t-1", "call_id": id,
            "target": {"kind": "sip", "uri": uri},
        }));
        let withdrawn = screen.expect(Duration::from_secs(5), "call_withdrawn", |v| {
            v["call_id"] == id
        });
        assert_eq!(withdrawn["reason"], "transferred");
        screen.expect(Duration::from_secs(5), "state_changed", |v| {
            v["state"] == "wrap_up"
        });
        // The outside line answers, talks 3 s and hangs up: the caller's
        // call ends then.
        caller.join().unwrap()
    });
    stop(baresip);
    let messages = both_ended(&run, &engine, far, &trace);
    assert!(
        messages.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "{messages}"
    );
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    let rec = record(&engine, &id);
    assert!(
        step_kinds(&rec).iter().any(|k| k == "transferred"),
        "{rec:#}"
    );
    assert_eq!(rec["call"]["disposition"], "transferred", "{rec:#}");
}

#[test]
fn a_navigator_hangs_up_from_the_screen_and_their_break_starts_after_wrap_up() {
    let engine = Engine::start_in("[cti]\nwrap_up_s = 2\n", ottawa_always_open);
    let dir = TempDir::new("phone");
    let (baresip, mut screen) = ready_navigator(&engine, &dir);
    let steps = english_then_food(&[]);
    let run = std::thread::scope(|s| {
        // The caller waits for the engine's BYE.
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, false));
        let offered = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
        let id = offered["call_id"].as_str().unwrap().to_owned();
        screen.expect(Duration::from_secs(10), "call_answered", |v| {
            v["call_id"] == id
        });
        // A break, asked for during the call, waits for the call and its
        // wrap-up to end.
        screen.send(
            json!({"type": "set_state", "id": "b-1", "state": "not_ready", "reason": "break"}),
        );
        let queued = screen.expect(Duration::from_secs(5), "state_changed", |v| {
            v["next_state"] == "not_ready"
        });
        assert_eq!(queued["state"], "busy", "{queued}");
        assert_eq!(queued["next_reason"], "break", "{queued}");
        // (The caller's scenario is waiting for the BYE by now.)
        std::thread::sleep(Duration::from_millis(500));
        screen.send(json!({"type": "hangup", "id": "h-1", "call_id": id}));
        let ended = screen.expect(Duration::from_secs(5), "call_ended", |v| v["call_id"] == id);
        assert_eq!(ended["disposition"], "answered", "{ended}");
        screen.expect(Duration::from_secs(5), "state_changed", |v| {
            v["state"] == "wrap_up"
        });
        caller.join().unwrap()
    });
    stop(baresip);
    run.assert_success(&engine);
    assert_eq!(
        engine.call_ended(&engine.id_of(&run.call_id()))["fields"]["reason"],
        "LocalBye"
    );
}

#[test]
fn all_of_a_navigators_phones_ring_and_a_dead_one_does_not_hold_the_call_up() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let desk = TempDir::new("desk-phone");
    let desk_phone = registered_phone(&engine, &desk, "nav1");
    // A second phone registers, then dies without unregistering.
    let soft = TempDir::new("softphone");
    let softphone = phone(&engine, &soft, "nav1", PASSWORD);
    if engine
        .wait_for(Duration::from_secs(10), |v| {
            message(v) == "registered" && v["fields"]["contacts"] == 2
        })
        .is_none()
    {
        stop(softphone);
        stop(desk_phone);
        panic!("the second phone did not register:\n{}", engine.dump());
    }
    stop(softphone);
    let mut screen = Screen::open(&engine, "nav1");
    screen.set_state("ready");
    let steps = english_then_food(&[Step::Pause(8000)]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let offered = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
        let id = offered["call_id"].as_str().unwrap().to_owned();
        screen.expect(Duration::from_secs(10), "call_answered", |v| {
            v["call_id"] == id
        });
        caller.join().unwrap()
    });
    stop(desk_phone);
    run.assert_success(&engine);
    let rung = engine.lines(|v| message(v) == "ringing the navigator");
    assert_eq!(rung.len(), 2, "both phones at once:\n{}", engine.dump());
    assert_ne!(rung[0]["fields"]["peer"], rung[1]["fields"]["peer"]);
    let at = |v: &Value| v["timestamp"].as_str().unwrap().to_owned();
    let answered = engine
        .lines(|v| message(v) == "leg answered")
        .first()
        .map(at)
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    assert!(
        at(&rung[1]) < answered,
        "the second phone rang before the first answered"
    );
}

#[test]
fn a_callback_asked_for_before_a_restart_is_still_made_after_it() {
    let dir = TempDir::new("trunk");
    let (far, port, trace) = far_end_hanging_up(&dir);
    let trunk = format!("[trunk]\nproxy = \"127.0.0.1:{port}\"\nkeepalive_s = 0\n");
    let first = Engine::start_in(&config(&trunk), ottawa_always_open);
    // A navigator is logged in, not ready: the caller waits and asks for a
    // callback.
    account(&first, "nav1", "navigator", "ottawa", "en,fr", false);
    let screen = Screen::open(&first, "nav1");
    let steps = english_then_food(&[Step::Pause(2000), Step::Key('1')]);
    let run = call(&first, OTTAWA, &steps, false);
    run.assert_success(&first);
    let id = first.id_of(&run.call_id());
    first.call_ended(&id);
    first
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "queue step" && v["fields"]["step"] == "callback_requested"
        })
        .unwrap_or_else(|| panic!("{}", first.dump()));
    let db = first.db.clone();
    // (first stays in scope: its folder holds the store.)
    let mut first = first;
    first.terminate(Duration::from_secs(10));
    drop(screen);

    // The engine restarts on the same store; a navigator logs in, ready.
    let second = Engine::start_in(&format!("{trunk}[cti]\ndb = {db:?}\n"), ottawa_always_open);
    let restored = second
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "callbacks taken back after a restart"
        })
        .unwrap_or_else(|| panic!("{}", second.dump()));
    assert_eq!(restored["fields"]["restored"], 1);
    // Today's figures did not start again from zero: the call before the
    // restart is counted, from its record.
    let mut today = Value::Null;
    for _ in 0..30 {
        let view = queues(&second);
        if let Some(line) = view["today"].as_array().and_then(|t| {
            t.iter()
                .find(|l| l["queue"] == "centre:ottawa" && l["language"] == "en")
        }) {
            today = line.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(today["offered"], 1, "{today}");
    assert_eq!(today["callbacks_requested"], 1, "{today}");
    let pdir = TempDir::new("phone");
    let baresip = registered_phone(&second, &pdir, "nav1");
    let mut screen = Screen::open(&second, "nav1");
    screen.set_state("ready");
    let offered = screen.expect(Duration::from_secs(10), "call_offered", |v| {
        v["call_id"] == id
    });
    assert_eq!(offered["callback"], true, "{offered}");
    screen.expect(Duration::from_secs(10), "call_answered", |v| {
        v["call_id"] == id
    });
    screen.expect(Duration::from_secs(15), "call_ended", |v| {
        v["call_id"] == id
    });
    stop(baresip);
    let (ok, messages) = far_end_finished(far, &trace);
    assert!(ok, "the callback did not complete:\n{messages}");
    assert!(
        messages.contains("INVITE sip:+16135550123@127.0.0.1 SIP/2.0"),
        "{messages}"
    );
}

#[test]
fn a_callback_that_cannot_reach_the_caller_waits_on_the_supervisors_list() {
    // The trunk says busy to the one attempt allowed.
    let dir = TempDir::new("busy-trunk");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scenarios/busy_uas.xml");
    let (far, port, trace) = crate::external::far_end(&dir, &["-sf", scenario.to_str().unwrap()]);
    let engine = Engine::start_in(
        &config(&format!(
            "[trunk]\nproxy = \"127.0.0.1:{port}\"\nkeepalive_s = 0\n[queues]\ncallback_attempts = 1\n"
        )),
        ottawa_always_open,
    );
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let pdir = TempDir::new("phone");
    let baresip = registered_phone(&engine, &pdir, "nav1");
    let mut screen = Screen::open(&engine, "nav1");
    let steps = english_then_food(&[Step::Pause(2000), Step::Key('1')]);
    let run = call(&engine, OTTAWA, &steps, false);
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    screen.set_state("ready");
    screen.expect(Duration::from_secs(10), "call_offered", |v| {
        v["call_id"] == id
    });
    let withdrawn = screen.expect(Duration::from_secs(15), "call_withdrawn", |v| {
        v["call_id"] == id
    });
    assert_eq!(withdrawn["reason"], "callback_failed", "{withdrawn}");
    stop(baresip);
    let (_, messages) = far_end_finished(far, &trace);
    assert!(messages.contains("SIP/2.0 486 Busy Here"), "{messages}");

    // On the supervisors' list, not lost; a supervisor deals with it.
    std::thread::sleep(Duration::from_millis(1200));
    let view = queues(&engine);
    let listed = &view["supervisor_list"][0];
    assert_eq!(listed["call_id"], id.as_str(), "{view:#}");
    assert_eq!(listed["attempts"], 1, "{view:#}");
    let token = supervisor(&engine);
    let (status, body) = http(
        engine.http,
        "POST",
        &format!("/api/queues/callbacks/{id}"),
        Some(&token),
        r#"{"action": "resolve"}"#,
    );
    assert_eq!(status, 202, "{body}");
    engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "queue step" && v["fields"]["step"] == "callback_resolved"
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    // The step is logged when the queues take it; its record reaches the
    // store through the spool a moment later.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let kinds = loop {
        let kinds = step_kinds(&record(&engine, &id));
        if kinds.iter().any(|k| k == "callback_resolved") || std::time::Instant::now() > deadline {
            break kinds;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for k in [
        "callback_dialling",
        "callback_failed",
        "callback_to_supervisor",
        "callback_resolved",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in {kinds:?}");
    }
}

/// The navigator answers the call offered to them, then consults `uri`
/// (a warm transfer) until it answers; the call's id.
fn consulting(screen: &mut Screen, uri: &str) -> String {
    let offered = screen.expect(Duration::from_secs(10), "call_offered", |_| true);
    let id = offered["call_id"].as_str().unwrap().to_owned();
    screen.expect(Duration::from_secs(10), "call_answered", |v| {
        v["call_id"] == id
    });
    screen.send(json!({
        "type": "transfer", "id": "w-1", "call_id": id, "mode": "consult",
        "target": {"kind": "sip", "uri": uri},
    }));
    screen.expect(Duration::from_secs(5), "transfer_progress", |v| {
        v["state"] == "ringing"
    });
    screen.expect(Duration::from_secs(5), "transfer_progress", |v| {
        v["state"] == "answered"
    });
    id
}

#[test]
fn a_navigator_consults_an_outside_line_then_hands_the_caller_over() {
    // The outside line answers and stays until the caller hangs up.
    let dir = TempDir::new("agency");
    let (far, port, trace) = crate::external::far_end(&dir, &["-sn", "uas"]);
    let uri = format!("sip:agency@127.0.0.1:{port}");
    let engine = Engine::start_in(&config(&destination(&uri)), ottawa_always_open);
    let pdir = TempDir::new("phone");
    let (baresip, mut screen) = ready_navigator(&engine, &pdir);
    let steps = english_then_food(&[Step::Pause(10000)]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let id = consulting(&mut screen, &uri);
        // The caller waits on hold meanwhile.
        engine
            .wait_for(Duration::from_secs(2), |v| {
                message(v) == "hold" && call_id(v) == id
            })
            .unwrap_or_else(|| panic!("{}", engine.dump()));
        screen.send(json!({"type": "complete_transfer", "id": "w-2", "call_id": id}));
        screen.expect(Duration::from_secs(5), "transfer_progress", |v| {
            v["state"] == "completed"
        });
        let withdrawn = screen.expect(Duration::from_secs(5), "call_withdrawn", |v| {
            v["call_id"] == id
        });
        assert_eq!(withdrawn["reason"], "transferred");
        screen.expect(Duration::from_secs(5), "state_changed", |v| {
            v["state"] == "wrap_up"
        });
        caller.join().unwrap()
    });
    stop(baresip);
    let messages = both_ended(&run, &engine, far, &trace);
    assert!(
        messages.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "{messages}"
    );
    assert!(
        messages.contains("BYE sip:"),
        "the caller's hang-up reached the line:\n{messages}"
    );
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    let rec = record(&engine, &id);
    let kinds = step_kinds(&rec);
    for k in [
        "consult_ringing",
        "consult_answered",
        "consult_completed",
        "transferred",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in {kinds:?}");
    }
    assert_eq!(rec["call"]["disposition"], "transferred", "{rec:#}");
}

#[test]
fn a_navigator_who_cancels_a_consult_is_back_with_the_caller() {
    let dir = TempDir::new("agency");
    let (far, port, trace) = crate::external::far_end(&dir, &["-sn", "uas"]);
    let uri = format!("sip:agency@127.0.0.1:{port}");
    let engine = Engine::start_in(&config(&destination(&uri)), ottawa_always_open);
    let pdir = TempDir::new("phone");
    let (baresip, mut screen) = ready_navigator(&engine, &pdir);
    let steps = english_then_food(&[Step::Pause(8000)]);
    let run = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        let id = consulting(&mut screen, &uri);
        screen.send(json!({"type": "cancel_transfer", "id": "w-2", "call_id": id}));
        screen.expect(Duration::from_secs(5), "transfer_progress", |v| {
            v["state"] == "cancelled"
        });
        // Still theirs: the call ends when the caller hangs up.
        let ended = screen.expect(Duration::from_secs(15), "call_ended", |v| {
            v["call_id"] == id
        });
        assert_eq!(ended["disposition"], "answered", "{ended}");
        assert!(
            screen
                .wait(Duration::ZERO, "call_withdrawn", |_| true)
                .is_none(),
            "{:#?}",
            screen.frames
        );
        caller.join().unwrap()
    });
    stop(baresip);
    both_ended(&run, &engine, far, &trace);
    // Bridged back: the caller's leg relayed the navigator's phone again.
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    let media = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "media closed" && call_id(v) == id
        })
        .unwrap();
    assert!(
        media["fields"]["relayed"].as_u64().unwrap_or(0) > 0,
        "{media}"
    );
}

#[test]
fn a_navigator_whose_account_is_disabled_is_logged_out_of_the_queues() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let mut screen = Screen::open(&engine, "nav1");
    screen.set_state("ready");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["--db", &engine.db, "user", "disable", "--username", "nav1"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Within the queues' account check (every 10 s).
    engine
        .wait_for(Duration::from_secs(15), |v| {
            message(v) == "account disabled or removed: logged out"
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "navigator state" && v["fields"]["state"] == "logged_out"
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    // Their screen is closed.
    let closed = (0..50).any(|_| match screen.ws.read() {
        Ok(tungstenite::Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => true,
        Err(tungstenite::Error::Io(e))
            if !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            true
        }
        Err(tungstenite::Error::AlreadyClosed | tungstenite::Error::Protocol(_)) => true,
        _ => false,
    });
    assert!(closed, "the websocket stayed open: {:#?}", screen.frames);
}

/// The phone is registered by another device of its host (a provisioning
/// tool: REGISTER from its own port, the phone's port in Contact): the call
/// rings where the Contact says, and is answered (`[registrar] nat = auto`).
#[test]
fn a_phone_registered_by_another_device_rings_where_its_contact_says() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let dir = TempDir::new("phone");
    let phone_port = crate::harness::free_udp_port();
    let baresip = crate::registrar::unregistered_phone(&engine, &dir, "nav1", phone_port);
    // sipp registers it, from a port of its own.
    let scenario = dir.path().join("register_for.xml");
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scenarios/register.xml"),
    )
    .unwrap();
    std::fs::write(
        &scenario,
        template.replace(
            "Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>",
            &format!("Contact: <sip:[user]@127.0.0.1:{phone_port}>"),
        ),
    )
    .unwrap();
    crate::harness::sipp(
        &engine,
        scenario.to_str().unwrap(),
        "u1",
        &[("user", "nav1".to_owned())],
        &["-au", "nav1", "-ap", PASSWORD],
    )
    .assert_success(&engine);
    let run = answered_by_nav1(&engine);
    stop(baresip);
    run.assert_success(&engine);
    let rung = engine
        .lines(|v| message(v) == "ringing the navigator")
        .pop()
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    assert!(
        rung["fields"]["peer"]
            .as_str()
            .is_some_and(|p| p.ends_with(&format!(":{phone_port}"))),
        "rang {rung}, the phone is on {phone_port}"
    );
}

/// A caller whose phone negotiated no telephone-event sends its keys as
/// tones in the audio (made by sox): they are heard, once each.
#[test]
fn keys_sent_as_tones_in_the_audio_are_heard_when_no_telephone_event_was_offered() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    let steps = [
        Step::Pause(1000),
        Step::Tone('1'),
        Step::Pause(1300),
        Step::Tone('2'),
        Step::Pause(2500),
    ];
    let run = call_edited(&engine, OTTAWA, &steps, true, |scenario| {
        scenario
            .replace("RTP/AVP 0 8 101", "RTP/AVP 0 8")
            .replace("      a=rtpmap:101 telephone-event/8000\n", "")
            .replace("      a=fmtp:101 0-16\n", "")
    });
    run.assert_success(&engine);
    let id = engine.id_of(&run.call_id());
    assert_eq!(engine.keys_pressed(&id), ["1", "2"], "{}", engine.dump());
    let route = engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "route" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no route:\n{}", engine.dump()));
    assert_eq!(route["fields"]["language"], "en", "{route}");
    assert_eq!(route["fields"]["target"], "centre:ottawa", "{route}");
}

/// Debian's linphone, a second real softphone: as a navigator's phone
/// registered with SHA-256 digest only, it rings and answers; as a caller,
/// its call is answered, hears the greeting and hangs up.
#[test]
fn linphone_is_a_navigators_phone_with_sha_256_and_a_caller() {
    let engine = Engine::start_in(
        &config("[registrar]\nalgorithms = [\"SHA-256\"]\n"),
        ottawa_always_open,
    );
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let phone = crate::registrar::Linphone::start(&engine, "nav1", PASSWORD, true);
    assert!(
        engine
            .wait_for(Duration::from_secs(10), |v| {
                message(v) == "registered" && v["fields"]["aor"] == "nav1"
            })
            .is_some(),
        "linphone did not register with SHA-256:\n{}",
        engine.dump()
    );
    let run = answered_by_nav1(&engine);
    run.assert_success(&engine);

    // Now linphone calls 211, once its first call is over.
    engine.wait_for(Duration::from_secs(5), |v| message(v) == "leg media closed");
    std::thread::sleep(Duration::from_millis(1500));
    let before = engine.lines(|v| message(v) == "flow started").len();
    assert!(phone.run(&["dial", &format!("sip:211@{}", engine.sip)]));
    let started = engine.wait_for_count(Duration::from_secs(10), before + 1, |v| {
        message(v) == "flow started"
    });
    std::thread::sleep(Duration::from_secs(2));
    phone.run(&["generic", "terminate"]);
    assert!(
        started,
        "linphone's call was not answered:\n{}",
        engine.dump()
    );
    drop(phone);
    let id = engine
        .lines(|v| message(v) == "flow started")
        .get(before)
        .map(|v| call_id(v).to_owned())
        .expect("linphone's call");
    // Headless, linphone has no microphone and sends no audio; the engine
    // plays it the greeting, and linphone's hang-up ends the call.
    let closed = engine.wait_for(Duration::from_secs(10), |v| {
        message(v) == "media closed"
            && call_id(v) == id
            && v["fields"]["sent"].as_u64().unwrap_or(0) > 50
    });
    assert!(
        closed.is_some(),
        "no greeting for linphone:\n{}",
        engine.dump()
    );
    assert_eq!(engine.call_ended(&id)["fields"]["reason"], "RemoteBye");
}
