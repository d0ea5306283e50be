//! Navigators' phones register with the engine: a real softphone (baresip)
//! registers as its account with digest authentication; a wrong password
//! is challenged and never registered; a disabled account gets 403; and the
//! registration survives a restart of the engine.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{Engine, TempDir, free_media_port, free_udp_port, message, sipp};
use crate::records::add_user;

/// A baresip phone registering `user` with `password` (every 60 s) and
/// answering calls at once, sending a 440 Hz tone as its voice. The password goes in
/// baresip's account line, which cannot carry spaces.
pub fn phone(engine: &Engine, dir: &TempDir, user: &str, password: &str) -> Child {
    phone_answering(engine, dir, user, password, "auto")
}

/// Like [`phone`], with baresip's answer mode: `auto`, or `manual` (it
/// rings and nobody ever answers).
pub fn phone_answering(
    engine: &Engine,
    dir: &TempDir,
    user: &str,
    password: &str,
    answermode: &str,
) -> Child {
    baresip(
        engine,
        dir,
        user,
        password,
        answermode,
        "",
        30,
        Some(60),
        free_udp_port(),
    )
}

/// A phone (baresip answering at once) listening on `sip_port` that does
/// not register itself: another device registers it.
pub fn unregistered_phone(engine: &Engine, dir: &TempDir, user: &str, sip_port: u16) -> Child {
    baresip(engine, dir, user, "", "auto", "", 30, None, sip_port)
}

/// A phone that rings until the test answers it: [`answer`] with the
/// returned control port (baresip's `ctrl_tcp`). It runs for `lifetime_s`.
pub fn phone_answered_by_test(
    engine: &Engine,
    dir: &TempDir,
    user: &str,
    password: &str,
    lifetime_s: u32,
) -> (Child, u16) {
    let control = free_udp_port();
    let extra = format!("module_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{control}\n");
    let child = baresip(
        engine,
        dir,
        user,
        password,
        "manual",
        &extra,
        lifetime_s,
        Some(60),
        free_udp_port(),
    );
    (child, control)
}

/// Answers the call ringing on a [`phone_answered_by_test`].
pub fn answer(control: u16) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", control)).expect("baresip control");
    let cmd = r#"{"command":"accept","params":"","token":"t1"}"#;
    write!(s, "{}:{cmd},", cmd.len()).unwrap();
    s.flush().unwrap();
    // The reply says it was done; wait for it so the answer is under way.
    let mut buf = [0u8; 512];
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let _ = std::io::Read::read(&mut s, &mut buf);
}

/// baresip as `user`'s phone on `sip_port`, registering every `regint`
/// seconds (none: it does not register).
#[allow(clippy::too_many_arguments)]
pub(crate) fn baresip(
    engine: &Engine,
    dir: &TempDir,
    user: &str,
    password: &str,
    answermode: &str,
    extra_config: &str,
    lifetime_s: u32,
    regint: Option<u32>,
    sip_port: u16,
) -> Child {
    let rtp = free_media_port();
    // baresip ends the call when its source file ends: a minute of tone.
    let tone = dir.path().join("tone.wav");
    crate::harness::tone_wav(&tone, 440.0, 60);
    let tone = tone.display();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "poll_method epoll\n\
             net_interface 127.0.0.1\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             sip_transports udp\n\
             rtp_ports {rtp}-{rtp_last}\n\
             audio_player aufile,/dev/null\n\
             audio_source aufile,{tone}\n\
             audio_alert aufile,/dev/null\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module_app account.so\n\
             module_app menu.so\n{extra_config}",
            rtp_last = rtp + 3,
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:{user}@127.0.0.1:{port}>;auth_pass={password};regint={regint};answermode={answermode}\n",
            port = engine.sip.port(),
            regint = regint.unwrap_or(0),
        ),
    )
    .unwrap();
    Command::new("baresip")
        .args(["-f"])
        .arg(dir.path())
        .args(["-t", &lifetime_s.to_string()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("baresip.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start baresip (Debian package baresip)")
}

pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_navigator_phone_registers_with_digest_auth_and_survives_a_restart() {
    let mut first = Engine::start();
    add_user(
        &first,
        "nav1",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let dir = TempDir::new("phone");
    let baresip = phone(&first, &dir, "nav1", "correct-horse-battery");
    let registered = first.wait_for(Duration::from_secs(10), |v| {
        message(v) == "registered" && v["fields"]["aor"] == "nav1"
    });
    stop(baresip);
    let registered =
        registered.unwrap_or_else(|| panic!("baresip did not register:\n{}", first.dump()));
    assert_eq!(registered["fields"]["contacts"], 1);
    assert!(
        !first
            .lines(|v| message(v) == "REGISTER challenged")
            .is_empty(),
        "challenged first (401), then registered"
    );

    // The binding is in the store: the engine restarted on it restores it.
    first.terminate(Duration::from_secs(10));
    let second = Engine::start_with(&format!("[cti]\ndb = {:?}\n", first.db));
    let restored = second
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "registrations restored"
        })
        .unwrap_or_else(|| panic!("no restore logged:\n{}", second.dump()));
    assert_eq!(restored["fields"]["restored"], 1, "{restored}");
}

#[test]
fn a_wrong_password_is_only_ever_challenged() {
    let engine = Engine::start();
    add_user(
        &engine,
        "nav1",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let dir = TempDir::new("phone");
    let baresip = phone(&engine, &dir, "nav1", "wrong-horse-battery");
    let challenged = engine.wait_for_count(Duration::from_secs(10), 2, |v| {
        message(v) == "REGISTER challenged"
    });
    std::thread::sleep(Duration::from_millis(500));
    stop(baresip);
    assert!(challenged, "challenged twice:\n{}", engine.dump());
    assert!(
        engine.lines(|v| message(v) == "registered").is_empty(),
        "never registered"
    );
}

#[test]
fn a_disabled_account_gets_403() {
    let engine = Engine::start();
    add_user(
        &engine,
        "nav1",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["--db", &engine.db, "user", "disable", "--username", "nav1"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = TempDir::new("phone");
    let baresip = phone(&engine, &dir, "nav1", "correct-horse-battery");
    let refused = engine.wait_for(Duration::from_secs(10), |v| {
        message(v) == "REGISTER refused" && v["fields"]["code"] == 403
    });
    stop(baresip);
    refused.unwrap_or_else(|| panic!("no 403:\n{}", engine.dump()));
    assert!(engine.lines(|v| message(v) == "registered").is_empty());
}

/// sipp answers the first challenge it gets: on the default settings that
/// must register it.
#[test]
fn sipp_registers_on_the_default_settings_at_once() {
    let engine = Engine::start();
    add_user(
        &engine,
        "nav1",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let run = sipp(
        &engine,
        "register.xml",
        "u1",
        &[("user", "nav1".to_owned())],
        &["-au", "nav1", "-ap", "correct-horse-battery"],
    );
    run.assert_success(&engine);
    assert!(
        engine
            .wait_for(Duration::from_secs(2), |v| {
                message(v) == "registered" && v["fields"]["aor"] == "nav1"
            })
            .is_some(),
        "{}",
        engine.dump()
    );
}

/// Debian's linphone as `user`'s phone, registering to `engine`:
/// linphonecsh drives a background linphonec, one per user of the machine,
/// so tests that use it take turns ([`Linphone::start`] waits for the
/// others). `auto_answer`: it answers calls at once.
pub struct Linphone {
    dir: TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Linphone {
    pub fn start(engine: &Engine, user: &str, password: &str, auto_answer: bool) -> Linphone {
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let dir = TempDir::new("linphone");
        let rc = dir.path().join("linphonerc");
        // Without its data directory linphone never gets as far as registering.
        std::fs::create_dir_all(dir.path().join(".local/share/linphone")).unwrap();
        std::fs::write(
            &rc,
            format!(
                "[sip]\nsip_port={sip}\nsip_tcp_port=-1\ndefault_proxy=0\n\
                 [rtp]\naudio_rtp_port={rtp}\n\
                 [sound]\ncapture_dev_id=\nplayback_dev_id=\n\
                 [proxy_0]\nreg_proxy=<sip:{engine}>\nreg_identity=sip:{user}@127.0.0.1\n\
                 reg_expires=120\nreg_sendregister=1\n\
                 [auth_info_0]\nusername={user}\npasswd={password}\nrealm=frontdoor\n",
                sip = free_udp_port(),
                rtp = free_media_port(),
                engine = engine.sip,
            ),
        )
        .unwrap();
        let phone = Linphone { dir, _turn: turn };
        let mut init = vec!["init", "-c", rc.to_str().unwrap()];
        if auto_answer {
            init.push("-a");
        }
        assert!(phone.run(&init), "linphonecsh init failed");
        phone
    }

    /// Runs `linphonecsh ARGS`; whether it succeeded.
    pub fn run(&self, args: &[&str]) -> bool {
        Command::new("linphonecsh")
            .args(args)
            // Its database and state go in the test's directory.
            .env("HOME", self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run linphonecsh (package linphone-cli)")
            .success()
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        self.run(&["exit"]);
    }
}

#[test]
fn linphone_registers_on_the_default_settings_at_once() {
    let engine = Engine::start();
    add_user(
        &engine,
        "nav2",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let phone = Linphone::start(&engine, "nav2", "correct-horse-battery", false);
    let registered = engine.wait_for(Duration::from_secs(10), |v| {
        message(v) == "registered" && v["fields"]["aor"] == "nav2"
    });
    drop(phone);
    assert!(
        registered.is_some(),
        "linphone did not register at once:\n{}",
        engine.dump()
    );
}

#[test]
fn register_password_guessing_is_throttled_and_the_real_phone_still_registers() {
    let engine = Engine::start();
    add_user(
        &engine,
        "nav1",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let dir = TempDir::new("phone");
    let registered = |n: usize| {
        engine.wait_for_count(Duration::from_secs(10), n, |v| {
            message(v) == "registered" && v["fields"]["aor"] == "nav1"
        })
    };
    let baresip = phone(&engine, &dir, "nav1", "correct-horse-battery");
    assert!(registered(1), "{}", engine.dump());
    stop(baresip);

    // Someone else guesses nav1's password, twelve times, from another address.
    let run = sipp(
        &engine,
        "register.xml",
        "u1",
        &[("user", "nav1".to_owned())],
        &[
            "-i",
            "127.0.0.5",
            "-m",
            "12",
            "-au",
            "nav1",
            "-ap",
            "guess-1234",
        ],
    );
    let failures = engine.lines(|v| message(v) == "REGISTER failed authentication");
    assert_eq!(
        failures.len(),
        5,
        "throttled after 5 failures:\n{}",
        engine.dump()
    );
    assert!(
        failures.iter().all(|v| v["level"] == "WARN"),
        "each failure is a warning"
    );
    assert!(
        !engine
            .lines(|v| message(v) == "REGISTER throttled: too many failures")
            .is_empty(),
        "the throttle is said"
    );
    assert!(
        run.messages.contains("SIP/2.0 403 Forbidden"),
        "the guesser gets 403 once throttled:\n{}",
        run.messages
    );
    assert!(!run.messages.contains("SIP/2.0 200 OK"));

    // The real phone, from its own address, still registers.
    let baresip = phone(&engine, &dir, "nav1", "correct-horse-battery");
    let again = registered(2);
    stop(baresip);
    assert!(
        again,
        "the phone did not register again:\n{}",
        engine.dump()
    );
}

/// `user add` without a secret of the admin's choosing: the phone gets a
/// generated one, shown once; it registers with that, never with the web
/// password.
#[test]
fn user_add_gives_the_phone_its_own_secret() {
    let engine = Engine::start();
    let out = crate::records::user_add(
        &engine.db,
        &[
            "--username",
            "nav3",
            "--role",
            "navigator",
            "--centre",
            "ottawa",
            "--password-stdin",
        ],
        "the-web-password\n",
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    let secret = shown
        .lines()
        .find(|l| l.starts_with("SIP secret for nav3's phone (shown once"))
        .and_then(|l| l.rsplit(": ").next())
        .unwrap_or_else(|| panic!("no secret shown: {shown}"))
        .to_owned();
    let register = |password: &str| {
        sipp(
            &engine,
            "register.xml",
            "u1",
            &[("user", "nav3".to_owned())],
            &["-au", "nav3", "-ap", password],
        )
    };
    assert!(
        !register("the-web-password").success,
        "the web password is not the phone's"
    );
    register(&secret).assert_success(&engine);
}
