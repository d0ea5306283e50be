//! Start the real `frontdoor` binary and drive real peers against it.
//!
//! Each [`Engine`] runs the binary on 127.0.0.1 with a port the kernel picks
//! (`--sip 127.0.0.1:0`), JSON logs on stderr, and a config file written for
//! the test. Its log lines are collected so tests can assert what the engine
//! did, by Call-ID. The engine is killed when the value drops.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running engine.
pub struct Engine {
    child: Child,
    pub sip: SocketAddr,
    /// The HTTP API (CTI, /healthz, /metrics).
    pub http: SocketAddr,
    /// The engine's store (SQLite in its temporary folder).
    pub db: String,
    logs: Arc<Mutex<Vec<Value>>>,
    /// Holds the config file until the engine is dropped.
    _dir: TempDir,
}

/// A folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU16 = AtomicU16::new(0);
        let dir = std::env::temp_dir().join(format!(
            "frontdoor-e2e-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("FRONTDOOR_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A distinct RTP range per engine so parallel tests never share ports:
/// 20000–29999, clear of the peers' ports ([`free_udp_port`]) and of the
/// kernel's ephemeral range.
fn rtp_range() -> String {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let base = 20_000 + (std::process::id() as u16 % 25) * 400 + (n % 8) * 50;
    format!("{}-{}", base, base + 49)
}

impl Engine {
    /// Start with the test timers: T1 = 100 ms, so the no-ACK and timeout
    /// paths take seconds, not half a minute.
    pub fn start() -> Engine {
        Engine::start_with("")
    }

    /// Start with extra TOML merged over the test config (T1 = 100 ms):
    /// `extra`'s keys win. The engine serves a copy of the shipped flows.
    pub fn start_with(extra: &str) -> Engine {
        Engine::start_in(extra, |_| {})
    }

    /// Like [`Engine::start_with`], with `prepare` changing the engine's copy
    /// of the shipped flows (its argument: the copy's folder) before start.
    pub fn start_in(extra: &str, prepare: impl FnOnce(&Path)) -> Engine {
        let dir = TempDir::new("engine");
        let config = dir.path().join("frontdoor.toml");
        let flows = dir.path().join("flows");
        copy_flows(&flows);
        prepare(&flows);
        let db = format!("sqlite://{}", dir.path().join("frontdoor.db").display());
        let mut table: toml::Table = format!(
            "[sip]\nt1_ms = 100\n[flows]\ndir = {:?}\nreload_poll_ms = 200\n[cti]\nhttp = \"127.0.0.1:0\"\ndb = {db:?}\n",
            flows.display().to_string()
        )
        .parse()
        .expect("test config");
        let extra: toml::Table = extra.parse().expect("extra test config");
        for (section, values) in extra {
            match (table.get_mut(&section), values) {
                (Some(toml::Value::Table(base)), toml::Value::Table(values)) => base.extend(values),
                (_, values) => {
                    table.insert(section, values);
                }
            }
        }
        // The store the engine really uses (`extra` may name another one).
        let db = table["cti"]["db"].as_str().expect("cti.db").to_owned();
        // Its spool: beside a SQLite store (so an engine restarted on the
        // same store replays what the last one spooled), else in the
        // engine's folder, unless `extra` names one.
        if let Some(cti) = table.get_mut("cti").and_then(|c| c.as_table_mut())
            && !cti.contains_key("spool")
        {
            let spool = match db.strip_prefix("sqlite://") {
                Some(file) => format!("{file}.spool"),
                None => dir.path().join("frontdoor.spool").display().to_string(),
            };
            cti.insert("spool".into(), toml::Value::String(spool));
        }
        // A fixed SIP address when `extra` names one (an engine restarted
        // where its phones know it), else a free port.
        let sip = table
            .get("sip")
            .and_then(|s| s.get("listen"))
            .and_then(|l| l.as_str())
            .unwrap_or("127.0.0.1:0")
            .to_owned();
        // The RTP ports: the test's own when `extra` names them, else a
        // small range of the kernel's ephemeral one.
        let rtp_ports = table
            .get("media")
            .and_then(|m| m.get("rtp_ports"))
            .and_then(|r| r.as_str())
            .map_or_else(rtp_range, str::to_owned);
        std::fs::write(&config, table.to_string()).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_frontdoor"))
            .args(["--log-format", "json", "--config"])
            .arg(&config)
            .args(["serve", "--sip", &sip, "--rtp-ports", &rtp_ports])
            .env("RUST_LOG", "info,frontdoor=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the frontdoor binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(_) => eprintln!("engine (not JSON): {line}"),
                }
            }
        });
        let mut engine = Engine {
            child,
            sip: "0.0.0.0:0".parse().unwrap(),
            http: "0.0.0.0:0".parse().unwrap(),
            db: db.clone(),
            logs,
            _dir: dir,
        };
        let ready = engine
            .wait_for(Duration::from_secs(20), |v| {
                message(v) == "frontdoor is answering calls"
            })
            .unwrap_or_else(|| {
                let status = engine.child.try_wait();
                panic!(
                    "engine did not start ({status:?}); logs:\n{}",
                    engine.dump()
                )
            });
        engine.sip = ready["fields"]["sip"].as_str().unwrap().parse().unwrap();
        engine.http = ready["fields"]["http"].as_str().unwrap().parse().unwrap();
        engine
    }

    /// The folder of the flows this engine serves.
    pub fn flows_dir(&self) -> PathBuf {
        self._dir.path().join("flows")
    }

    /// Wait until a log line satisfies `pred`; returns it.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = self.logs.lock().unwrap().iter().find(|v| pred(v)) {
                return Some(v.clone());
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `count` log lines satisfy `pred`.
    pub fn wait_for_count(
        &self,
        timeout: Duration,
        count: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.logs.lock().unwrap().iter().filter(|v| pred(v)).count() >= count {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log line so far satisfying `pred`.
    pub fn lines(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|v| pred(v))
            .cloned()
            .collect()
    }

    /// The call's "call ended" line (waits up to 5 s; panics with the logs).
    #[track_caller]
    pub fn call_ended(&self, id: &str) -> Value {
        self.wait_for(Duration::from_secs(5), |v| {
            message(v) == "call ended" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("no 'call ended' for {id}:\n{}", self.dump()))
    }

    /// The engine's own id of the call that came with SIP Call-ID `sip`
    /// (its records, the screen pop and the API use it); waits up to 5 s.
    #[track_caller]
    pub fn id_of(&self, sip: &str) -> String {
        self.wait_for(Duration::from_secs(5), |v| {
            message(v) == "call arrived" && sip_call_id(v) == sip
        })
        .and_then(|v| v["fields"]["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no 'call arrived' for {sip}:\n{}", self.dump()))
    }

    /// The keys the engine logged for the call, in order.
    pub fn keys_pressed(&self, id: &str) -> Vec<String> {
        self.lines(|v| message(v) == "key pressed" && call_id(v) == id)
            .iter()
            .map(|v| v["fields"]["digit"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    /// All logs, for failure messages: a line each, `time level target:
    /// message field=value … [Call-ID]`.
    pub fn dump(&self) -> String {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(compact)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Send SIGTERM and wait for the exit, up to `timeout`.
    /// Send a signal (`HUP`, `TERM`, …) to the engine.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // FRONTDOOR_E2E_LOGS=1 shows them for passing tests too.
        if std::thread::panicking() || std::env::var_os("FRONTDOOR_E2E_LOGS").is_some() {
            eprintln!("---- engine logs ----\n{}", self.dump());
        }
    }
}

/// One JSON log line, short.
fn compact(v: &Value) -> String {
    let time = v["timestamp"].as_str().and_then(|t| t.get(11..23));
    let mut line = format!(
        "{} {:5} {}: {}",
        time.unwrap_or("?"),
        v["level"].as_str().unwrap_or("?"),
        v["target"].as_str().unwrap_or("?"),
        message(v)
    );
    for (key, value) in v["fields"].as_object().into_iter().flatten() {
        if key != "message" {
            match value.as_str() {
                Some(text) => line += &format!(" {key}={text}"),
                None => line += &format!(" {key}={value}"),
            }
        }
    }
    if !call_id(v).is_empty() {
        line += &format!(" [{}]", call_id(v));
    }
    line
}

/// The `message` field of a JSON log line.
pub fn message(v: &Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or("")
}

/// The Call-ID of the call span a log line was written in.
pub fn call_id(v: &Value) -> &str {
    // The engine's own id of the call; lines logged before it had one
    // (none today) by the SIP Call-ID.
    v["span"]["id"]
        .as_str()
        .or_else(|| v["span"]["call_id"].as_str())
        .unwrap_or("")
}

/// The SIP Call-ID of a log line's call.
pub fn sip_call_id(v: &Value) -> &str {
    v["span"]["call_id"].as_str().unwrap_or("")
}

/// Ports for the test's peers (sipp, baresip) come from 10000–19999, in
/// blocks handed out in turn and checked free. The kernel's own choices
/// (an engine's `--sip 127.0.0.1:0`, a peer's other sockets) come from its
/// ephemeral range (32768 and up) and engines' RTP from 20000–29999, so
/// nothing else can take a port between the test picking it and the peer
/// binding it, and a port a finished peer left is not handed out again soon
/// (an engine may still be retransmitting to it).
fn free_block(len: u32) -> u16 {
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 20 * 500;
    loop {
        // One wheel for every size, so blocks never overlap within a lap;
        // even steps, so a media block starts with its RTP port.
        let at = (start + NEXT.fetch_add(len + len % 2, Ordering::Relaxed)) % SPAN;
        if at + len > SPAN {
            continue;
        }
        let base = FIRST + at;
        let free = (base..base + len).all(|p| UdpSocket::bind(("127.0.0.1", p as u16)).is_ok());
        if free {
            return base as u16;
        }
    }
}

/// A UDP port free right now, for a peer's SIP.
pub fn free_udp_port() -> u16 {
    free_block(1)
}

/// An even UDP port with the three above it free too (sipp's media ports:
/// audio and video, RTP and RTCP; a phone's RTP range).
pub fn free_media_port() -> u16 {
    free_block(4)
}

/// A finished sipp run.
pub struct SippRun {
    pub success: bool,
    pub stderr: String,
    /// The SIP messages sipp saw and sent (`-trace_msg`).
    pub messages: String,
}

/// Run one sipp scenario from tests/e2e/scenarios against `engine`.
/// `keys` are `-key name value` pairs for the scenario.
pub fn sipp(
    engine: &Engine,
    scenario: &str,
    transport: &str,
    keys: &[(&str, String)],
    extra: &[&str],
) -> SippRun {
    sipp_to(engine.sip, scenario, transport, keys, extra)
}

/// [`sipp`] sending to `target` (a proxy in front of the engine).
pub fn sipp_to(
    target: std::net::SocketAddr,
    scenario: &str,
    transport: &str,
    keys: &[(&str, String)],
    extra: &[&str],
) -> SippRun {
    let dir = TempDir::new("sipp");
    let scenario_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/scenarios")
        .join(scenario);
    let messages = dir.path().join("messages.log");
    let mut cmd = Command::new("sipp");
    cmd.arg(target.to_string())
        .args(["-sf"])
        .arg(&scenario_path)
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-t",
            transport,
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
        ])
        .args([
            "-p",
            &free_udp_port().to_string(),
            "-mp",
            &free_media_port().to_string(),
        ])
        .args(["-trace_msg", "-message_file"])
        .arg(&messages)
        .args(["-trace_err", "-error_file"])
        .arg(dir.path().join("errors.log"))
        .current_dir(dir.path());
    for (k, v) in keys {
        cmd.args(["-key", k, v]);
    }
    cmd.args(extra);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run sipp (package sip-tester)");
    SippRun {
        success: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned()
            + &std::fs::read_to_string(dir.path().join("errors.log")).unwrap_or_default(),
        messages: std::fs::read_to_string(&messages).unwrap_or_default(),
    }
}

impl SippRun {
    #[track_caller]
    pub fn assert_success(&self, engine: &Engine) {
        assert!(
            self.success,
            "sipp failed\n--- stderr/errors ---\n{}\n--- messages ---\n{}\n--- engine ---\n{}",
            self.stderr,
            self.messages,
            engine.dump()
        );
    }

    /// The Call-ID sipp used (from its message trace).
    pub fn call_id(&self) -> String {
        self.messages
            .lines()
            .find_map(|l| {
                l.strip_prefix("Call-ID:")
                    .or_else(|| l.strip_prefix("Call-ID: "))
            })
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }
}

/// The shipped flows and their tests copied into `to`.
fn copy_flows(to: &Path) {
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"), to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create flows copy");
    for entry in std::fs::read_dir(from).expect("read flows").flatten() {
        let path = entry.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy a flow file");
        } else if entry.file_name() == "tests" {
            // The flow tests: the operations console runs them.
            copy_dir(&path, &to.join("tests"));
        }
    }
}

/// Edit a file of an engine's flows: replace `from` (which must be there) by `to`.
#[track_caller]
pub fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("read flow file");
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write flow file");
}

/// A flow that ends quickly for a caller who presses nothing: one short
/// menu (1 s to answer, one try) whose default routes.
pub const SHORT_FLOW: &str = r#"
start: greeting
global_keys:
  "9": { goto: crisis }
nodes:
  greeting:
    menu:
      prompt: [crisis_key]
      options: { "1": to_region }
      timeout_s: 1
      tries: 1
      default: to_region
  to_region:
    route: { to: region, prompt: [goodbye] }
  crisis:
    route: { to: crisis }
"#;

/// A step of a sipp caller: a pause of `pause_ms`, then key `key` sent as a
/// SIP INFO (`application/dtmf-relay`, CSeq `cseq`) and, with `events`,
/// also as RFC 4733 events from sipp's own recordings, as many desk phones
/// send both.
pub fn info_key_step(pause_ms: u32, key: char, cseq: u32, events: bool) -> String {
    let events = if events {
        format!(
            "<nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_{key}.pcap\"/></action></nop>\n  "
        )
    } else {
        String::new()
    };
    format!(
        "  <pause milliseconds=\"{pause_ms}\"/>\n  {events}<send retrans=\"500\"><![CDATA[\n\n\
      INFO [next_url] SIP/2.0\n\
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport\n\
      From: \"Test Caller\" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n\
      To: <sip:211@[remote_ip]:[remote_port]>[peer_tag_param]\n\
      [routes]\n\
      Call-ID: [call_id]\n\
      CSeq: {cseq} INFO\n\
      Max-Forwards: 70\n\
      Content-Type: application/dtmf-relay\n\
      Content-Length: [len]\n\n\
      Signal={key}\n\
      Duration=160\n\n\
    ]]></send>\n  <recv response=\"200\"/>\n"
    )
}

/// `tests/e2e/scenarios/ivr_call.xml` with `steps` where it says
/// `<!-- KEYS -->`, written into `dir`; its path.
pub fn ivr_call_with(dir: &TempDir, steps: &str) -> PathBuf {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scenarios/ivr_call.xml"),
    )
    .unwrap();
    let scenario = dir.path().join("call.xml");
    std::fs::write(&scenario, template.replace("  <!-- KEYS -->\n", steps)).unwrap();
    scenario
}

/// The amplitude of `hz` in `samples` (8 kHz), by the Goertzel algorithm.
pub fn amplitude(samples: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * power.sqrt() / samples.len().max(1) as f64
}

/// A new mono 16-bit WAV file at `rate` Hz, for the test to write samples
/// to (then `finalize`).
pub fn mono_wav(
    path: &std::path::Path,
    rate: u32,
) -> hound::WavWriter<std::io::BufWriter<std::fs::File>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec).unwrap()
}

/// A tone of `hz` for `seconds` as an 8 kHz mono WAV file.
pub fn tone_wav(path: &std::path::Path, hz: f64, seconds: u32) {
    let mut w = mono_wav(path, 8000);
    for i in 0..8000 * seconds {
        let t = f64::from(i) / 8000.0;
        w.write_sample((8000.0 * (t * hz * std::f64::consts::TAU).sin()) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}
