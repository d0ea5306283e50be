//! Calls on the browser phone, as a navigator lives them: headless Chromium
//! with a fake microphone (a tone from a file) is the navigator's phone,
//! against `frontdoor serve` and sipp callers whose audio the test hears.
//! The call rings the page with the pop; the navigator answers and hangs up
//! with the keyboard; each side hears the other. A browser phone that dies
//! sets its navigator not ready and the call goes to the next navigator; a
//! browser and a SIP phone ring together and the first to answer wins.

use super::wallboard::{heard, listen};
use super::*;
use crate::browser::{Browser, keys};
use crate::browser_phone::{assert_heard, inbound_audio};
use crate::harness::{amplitude, tone_wav};

/// The navigator's voice, from the browser's fake microphone.
const NAVIGATOR_HZ: f64 = 1000.0;
/// The caller's voice.
const CALLER_HZ: u32 = 440;

/// `user`'s desk (their account made already) with its browser phone on,
/// the browser's own microphone processing off (a steady test tone is what
/// noise suppression removes), working, and `Ready`; the fake microphone
/// says NAVIGATOR_HZ from a file in the returned folder.
fn ready_on_the_browser(engine: &Engine, name: &str, user: &str) -> (Browser, TempDir) {
    let dir = TempDir::new(name);
    let wav = dir.path().join("voice.wav");
    tone_wav(&wav, NAVIGATOR_HZ, 60);
    let browser = Browser::open_with_microphone(name, Some(&wav));
    desk::logged_in(&browser, engine, user);
    browser.click("#phone-enable");
    browser.wait_text("#phone-status", "Working: calls ring here");
    // In the settings: the headset cleans up its own sound.
    browser.click("#phone-controls summary");
    browser.click("#phone-processing");
    browser.wait_until(
        "a new connection without processing",
        "return window.frontdoorPhone.status === 'connected' && \
         !window.frontdoorPhone.pc.getSenders()[0].track.getSettings().noiseSuppression",
    );
    browser.wait_text("#phone-status", "Working: calls ring here");
    browser.click("#phone-controls summary");
    engine
        .wait_for(Duration::from_secs(5), |v| {
            message(v) == "browser phone" && v["fields"]["state"] == "Connected"
        })
        .unwrap_or_else(|| panic!("the engine did not see it connect:\n{}", engine.dump()));
    browser.keys(&keys::shortcut('R'));
    browser.wait_text("#state-name", "Ready");
    (browser, dir)
}

/// The first telephone-event (its event code) that arrives on `socket`
/// within `window`.
fn event_heard(socket: &std::net::UdpSocket, window: Duration) -> Option<u8> {
    let mut buf = [0u8; 2048];
    let until = Instant::now() + window;
    while Instant::now() < until {
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n >= 16
            && buf[1] & 0x7f != 0
        {
            return Some(buf[12]);
        }
    }
    None
}

/// The detail of the record's `answered_on` step.
fn answered_on(engine: &Engine, id: &str) -> String {
    let rec = record(engine, id);
    rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "answered_on")
        .and_then(|e| e["detail"].as_str())
        .unwrap_or_else(|| panic!("no answered_on step: {rec:#}"))
        .to_owned()
}

#[test]
fn a_navigator_answers_in_the_browser_with_the_keyboard_talks_and_hangs_up_from_the_page() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let (browser, _dir) = ready_on_the_browser(&engine, "browser-call", "nav1");

    // A caller from 613: English, food, then their voice for 20 s while
    // they wait for the navigator to hang up.
    let caller_port = free_media_port();
    let caller_audio = std::net::UdpSocket::bind(("127.0.0.1", caller_port)).unwrap();
    let steps = english_then_food(&[Step::Pause(300), Step::Sine(CALLER_HZ, 1000)]);
    let (run, caller_heard, browser_stats, ring_ms, event, phases) = std::thread::scope(|s| {
        let caller =
            s.spawn(|| call_hearing_on(&engine, OTTAWA, &steps, false, |x| x, caller_port));
        // It rings in the page with the pop; the Answer button has the focus.
        browser.wait_visible("#phone-ring");
        let offered_at = Instant::now();
        assert_eq!(
            browser.text("#phone-ring-text"),
            "A call is ringing on this browser."
        );
        browser.wait_text("#call-status", "Ringing");
        assert_eq!(browser.focused(), "phone-answer");
        assert_eq!(
            engine
                .lines(|v| message(v) == "ringing the navigator's browser")
                .len(),
            1
        );
        browser.axe("browser-ringing");
        browser.screenshot("browser-ringing");
        // Answered with the keyboard.
        browser.keys(&keys::shortcut('A'));
        browser.wait_text("#phone-on-call", "On a call on this browser.");
        let ring_ms = offered_at.elapsed().as_millis();
        browser.wait_text("#state-name", "On a call");
        assert!(!browser.visible("#phone-ring"));
        // The caller hears the navigator's microphone.
        let _ = listen(&caller_audio, Duration::from_millis(500));
        let caller_heard = listen(&caller_audio, Duration::from_millis(2000)).0;
        std::thread::sleep(Duration::from_millis(1000));
        let browser_stats = inbound_audio(&browser, "window.frontdoorPhone.pc");
        browser.axe("browser-on-call");
        browser.screenshot("browser-on-call");
        // A key from the page's keypad reaches the far end as an RFC 4733
        // telephone-event (as another IVR a call is transferred to hears it).
        browser.click("#phone-controls summary");
        browser.click("#phone-keypad [data-key='5']");
        browser.wait_text("#phone-keys-sent", "Keys sent: 5");
        let event = event_heard(&caller_audio, Duration::from_secs(3));
        browser.click("#phone-controls summary");
        // The network changes: the page makes a new connection (an ICE
        // restart) and the call carries on over it.
        browser.eval(
            "window.oldPhone = window.frontdoorPhone.pc; window.dispatchEvent(new Event('online'))",
            vec![],
        );
        browser.wait_until(
            "a new connection, working",
            "return window.frontdoorPhone.pc !== window.oldPhone && \
             window.frontdoorPhone.pc.connectionState === 'connected'",
        );
        let _ = listen(&caller_audio, Duration::from_millis(500));
        let mut phases = vec![(
            "after the new connection",
            listen(&caller_audio, Duration::from_millis(1500)).0,
        )];
        // Muted (Alt+Shift+M), then not; held (the call controls'
        // Hold), then resumed: what the caller hears each time.
        let mut phase = |name: &'static str, press: &dyn Fn()| {
            press();
            std::thread::sleep(Duration::from_millis(300));
            let _ = listen(&caller_audio, Duration::from_millis(200));
            phases.push((name, listen(&caller_audio, Duration::from_millis(1000)).0));
        };
        phase("muted", &|| {
            browser.keys(&keys::shortcut('M'));
            browser.wait_text("#phone-mute", "Unmute");
        });
        phase("unmuted", &|| {
            browser.keys(&keys::shortcut('M'));
            browser.wait_text("#phone-mute", "Mute");
        });
        phase("held", &|| {
            browser.click("#btn-hold");
            browser.wait_text("#btn-hold", "Resume");
        });
        phase("resumed", &|| {
            browser.click("#btn-hold");
            browser.wait_text("#btn-hold", "Hold");
        });
        // The navigator hangs up from the page, with the keyboard.
        browser.keys(&keys::shortcut('H'));
        browser.wait_text("#state-name", "Wrap-up");
        (
            caller.join().unwrap(),
            caller_heard,
            browser_stats,
            ring_ms,
            event,
            phases,
        )
    });
    run.assert_success(&engine);
    eprintln!(
        "browser call: answered {ring_ms} ms after it rang; the browser heard {browser_stats}"
    );

    // The caller's side: the browser's tone, decoded from its RTP.
    assert!(
        caller_heard.len() >= 8000,
        "the caller heard {} samples",
        caller_heard.len()
    );
    let share = heard(&caller_heard, NAVIGATOR_HZ);
    assert!(
        share > 0.6,
        "the caller heard the navigator's {NAVIGATOR_HZ} Hz in {:.0} % of the time (amplitude {:.0})",
        share * 100.0,
        amplitude(&caller_heard, NAVIGATOR_HZ)
    );
    // The browser's side: the caller's audio arrived and was not silence.
    assert_heard(&browser_stats);
    assert_eq!(event, Some(5), "the caller's side got the key 5");
    for (phase, samples) in &phases {
        let share = heard(samples, NAVIGATOR_HZ);
        eprintln!("browser call, {phase}: the caller heard the navigator {share:.2} of the time");
        let expected = !matches!(*phase, "muted" | "held");
        assert!(
            if expected { share > 0.6 } else { share < 0.1 },
            "{phase}: the caller heard the navigator {:.0} % of the time",
            share * 100.0
        );
    }
    let connections = engine.lines(|v| message(v) == "browser phone connecting");
    assert_eq!(
        connections.len(),
        3,
        "on, without processing, after the network change"
    );
    assert!(
        connections
            .windows(2)
            .all(|w| w[0]["fields"]["media"] == w[1]["fields"]["media"]),
        "the device keeps its loopback address: {connections:?}"
    );
    // The record names the browser as the phone that answered.
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    assert_eq!(answered_on(&engine, &id), "browser");
}

#[test]
fn a_browser_phone_that_dies_sets_its_navigator_not_ready_and_the_call_goes_to_the_next_navigator()
{
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let (browser, _dir) = ready_on_the_browser(&engine, "browser-dies", "nav1");
    // nav2 has a SIP phone that answers at once, and is not ready yet.
    account(&engine, "nav2", "navigator", "ottawa", "en", false);
    let nav2_dir = TempDir::new("nav2-phone");
    let nav2_phone = registered_phone(&engine, &nav2_dir, "nav2");
    let mut nav2 = Screen::open(&engine, "nav2");

    let steps = english_then_food(&[Step::Pause(12_000)]);
    let (run, lost_after) = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        browser.wait_visible("#phone-ring");
        nav2.set_state("ready");
        // The browser's connection dies.
        browser.eval("window.frontdoorPhone.pc.close()", vec![]);
        let closed_at = Instant::now();
        // nav1 is set not ready, with the reason, within seconds.
        browser.wait_text("#state-name", "Not ready");
        let lost_after = closed_at.elapsed();
        browser.wait_text("#state-bar", "Phone problem");
        browser.wait_text("#phone-status", "Not working");
        assert!(!browser.visible("#phone-ring"), "it rings no more");
        browser.axe("browser-phone-dead");
        browser.screenshot("browser-phone-dead");
        // The call goes to nav2, whose phone answers.
        nav2.expect(Duration::from_secs(15), "call_offered", |_| true);
        nav2.expect(Duration::from_secs(10), "call_answered", |_| true);
        (caller.join().unwrap(), lost_after)
    });
    stop(nav2_phone);
    run.assert_success(&engine);
    eprintln!("browser phone closed: not ready after {lost_after:?}");
    assert!(
        lost_after < Duration::from_secs(10),
        "not ready only after {lost_after:?}"
    );
    let withdrawn = engine.lines(|v| {
        message(v) == "browser phone lost: the navigator is set not ready"
            && v["fields"]["navigator"] == "nav1"
    });
    assert_eq!(withdrawn.len(), 1, "{}", engine.dump());
    let id = engine.id_of(&run.call_id());
    engine.call_ended(&id);
    let phone = answered_on(&engine, &id);
    assert!(phone.starts_with("sip:nav2"), "answered by {phone}");
}

#[test]
fn a_browser_phone_and_a_sip_phone_ring_together_and_the_first_to_answer_wins() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    let phone = desk::nav1_with_phone(&engine, false);
    let (browser, _dir) = ready_on_the_browser(&engine, "browser-and-sip", "nav1");

    // 1. The SIP phone answers first: the page stops ringing.
    let steps = english_then_food(&[Step::Pause(4000)]);
    let first = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        browser.wait_visible("#phone-ring");
        crate::registrar::answer(phone.control);
        browser.wait_text("#state-name", "On a call");
        browser.wait_until(
            "the ring stopped",
            "return document.querySelector('#phone-ring').hidden",
        );
        assert_eq!(browser.text("#phone-on-call"), "");
        caller.join().unwrap()
    });
    first.assert_success(&engine);
    let rung = engine.lines(|v| {
        message(v) == "ringing the navigator" || message(v) == "ringing the navigator's browser"
    });
    assert_eq!(rung.len(), 2, "both rang:\n{}", engine.dump());
    let first_id = engine.id_of(&first.call_id());
    engine.call_ended(&first_id);
    let phone = answered_on(&engine, &first_id);
    assert!(phone.starts_with("sip:nav1"), "answered by {phone}");
    // Wrap-up over (2 s here would be 30: be ready again by hand).
    browser.keys(&keys::shortcut('R'));
    browser.wait_text("#state-name", "Ready");

    // 2. The browser answers first: the SIP phone stops ringing (CANCEL).
    let second = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, OTTAWA, &steps, true));
        browser.wait_visible("#phone-ring");
        browser.click("#phone-answer");
        browser.wait_text("#phone-on-call", "On a call on this browser.");
        caller.join().unwrap()
    });
    second.assert_success(&engine);
    let second_id = engine.id_of(&second.call_id());
    engine.call_ended(&second_id);
    assert_eq!(answered_on(&engine, &second_id), "browser");
    // The SIP phone's ringing leg was cancelled, not answered.
    let answered_legs = engine.lines(|v| message(v) == "leg answered");
    assert_eq!(
        answered_legs.len(),
        2,
        "one leg answered per call:\n{}",
        engine.dump()
    );
}
