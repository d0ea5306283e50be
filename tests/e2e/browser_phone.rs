//! The browser phone's media against real Chromium: headless Chromium with
//! a fake microphone (a 1,000 Hz tone from a file) makes a peer connection
//! to the engine's WebRTC gateway (ICE-lite, DTLS-SRTP, PCMU), and audio
//! crosses both ways: the gateway's loopback side (where a call's RTP
//! session will be) hears the tone, and Chromium receives the engine's
//! audio (`getStats`: packets and audio level).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::browser::Browser;
use crate::harness::{Engine, TempDir, amplitude, tone_wav};

/// What the peer connection `pc` (a page expression) has received so far:
/// its inbound audio's packets, audio level and energy (`getStats`).
pub(crate) fn inbound_audio(browser: &Browser, pc: &str) -> serde_json::Value {
    browser.rt_execute_async(&format!(
        "const done = arguments[arguments.length - 1];
         {pc}.getStats().then((report) => {{
           let found = null;
           report.forEach((s) => {{ if (s.type === 'inbound-rtp' && s.kind === 'audio') found = s; }});
           done({{ packets: found?.packetsReceived ?? 0, level: found?.audioLevel ?? 0, energy: found?.totalAudioEnergy ?? 0 }});
         }});"
    ))
}

/// The browser received at least 100 packets of audio that was not silence.
#[track_caller]
pub(crate) fn assert_heard(stats: &serde_json::Value) {
    assert!(
        stats["packets"].as_u64().unwrap_or(0) >= 100,
        "the browser received {stats}"
    );
    assert!(
        stats["level"].as_f64().unwrap_or(0.0) > 0.01
            || stats["energy"].as_f64().unwrap_or(0.0) > 0.01,
        "the browser heard silence: {stats}"
    );
}

#[test]
fn chromium_connects_to_the_gateway_and_audio_crosses_both_ways() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (gateway, _events) = rt.block_on(async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let public = socket.local_addr().unwrap();
        frontdoor_media::webrtc::gateway::Gateway::start(socket, public)
    });
    // A page of the engine's: a secure context (127.0.0.1) for the microphone.
    let engine = Engine::start();
    let dir = TempDir::new("browser-phone");
    let wav = dir.path().join("tone.wav");
    tone_wav(&wav, 1000.0, 30);
    let browser = Browser::open_with_microphone("browser-phone", Some(&wav));
    browser.goto(&format!("http://{}/", engine.http));
    let offer = browser.rt_execute_async(
        "const done = arguments[arguments.length - 1];
         (async () => {
           const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
           const pc = new RTCPeerConnection();
           mic.getTracks().forEach((t) => pc.addTrack(t, mic));
           window.phone = pc;
           pc.addEventListener('track', (e) => {
             const speaker = new Audio();
             speaker.srcObject = new MediaStream([e.track]);
             speaker.play().catch(() => {});
             window.speaker = speaker;
           });
           await pc.setLocalDescription(await pc.createOffer());
           await new Promise((ok) => {
             if (pc.iceGatheringState === 'complete') ok();
             pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && ok());
             setTimeout(ok, 3000);
           });
           done(pc.localDescription.sdp);
         })().catch((e) => done('error: ' + e));",
    );
    let offer = offer.as_str().unwrap().to_owned();
    assert!(offer.starts_with("v=0"), "{offer}");
    let connected = rt
        .block_on(gateway.connect("nav1", &offer))
        .unwrap_or_else(|e| panic!("{e}\n{offer}"));
    browser.eval(
        "window.phone.setRemoteDescription({ type: 'answer', sdp: arguments[0] })",
        vec![json!(connected.answer)],
    );
    browser.wait_until(
        "the browser phone connected",
        "return window.phone.connectionState === 'connected'",
    );

    // The engine's side: sends 3 s of a 440 Hz tone, 20 ms PCMU packets, to
    // the device's loopback address, and hears what the browser says.
    let engine_side = UdpSocket::bind("127.0.0.1:0").unwrap();
    engine_side
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    for i in 0..150u32 {
        let frame: Vec<i16> = (0..160)
            .map(|k| {
                let t = f64::from(i * 160 + k) / 8000.0;
                (8000.0 * (t * 440.0 * std::f64::consts::TAU).sin()) as i16
            })
            .collect();
        let mut packet = vec![0x80, if i == 0 { 0x80 } else { 0 }];
        packet.extend_from_slice(&(i as u16).to_be_bytes());
        packet.extend_from_slice(&(i * 160).to_be_bytes());
        packet.extend_from_slice(&0x00C0_FFEE_u32.to_be_bytes());
        frontdoor_media::Codec::Pcmu.encode_into(&frame, &mut packet);
        engine_side.send_to(&packet, connected.media).unwrap();
        let next = start + Duration::from_millis(20) * (i + 1);
        while Instant::now() < next {
            if let Ok((n, _)) = engine_side.recv_from(&mut buf)
                && n > 12
                && buf[1] & 0x7f == 0
            {
                frontdoor_media::Codec::Pcmu.decode_into(&buf[12..n], &mut heard);
            }
        }
    }
    // The browser's microphone reached the engine's side: its tone.
    assert!(
        heard.len() >= 8000,
        "the engine's side heard {} samples",
        heard.len()
    );
    let tail = &heard[heard.len() - 8000..];
    assert!(
        amplitude(tail, 1000.0) > 1000.0,
        "no 1,000 Hz tone in what the engine heard (amplitude {:.0})",
        amplitude(tail, 1000.0)
    );
    // The browser received the engine's audio.
    assert_heard(&inbound_audio(&browser, "window.phone"));
    let totals = rt.block_on(gateway.stats());
    assert!(
        totals.to_engine >= 100 && totals.to_browsers >= 100,
        "{totals:?}"
    );
    browser.eval("window.phone.close()", vec![]);
}

/// A navigator turns their browser phone on at the desk: the engine
/// answers over the CTI websocket, the connection comes up, and the panel
/// says it works, in words and to assistive technology (axe-core clean).
/// On an engine without a WebRTC port, the panel says to use a SIP phone.
#[test]
fn a_navigator_turns_the_browser_phone_on_at_the_desk_and_sees_it_work() {
    use crate::acd::account;
    use crate::acd::desk::logged_in;

    let engine = Engine::start_in("", |_| {});
    account(&engine, "nav1", "navigator", "ottawa", "en,fr", false);
    let browser = Browser::open_with_microphone("desk-phone", None);
    logged_in(&browser, &engine, "nav1");
    assert_eq!(
        browser.text("#phone-status"),
        "Off: calls ring your SIP phone."
    );
    browser.click("#phone-enable");
    browser.wait_text("#phone-status", "Working: calls ring here");
    assert_eq!(
        browser.eval("return window.frontdoorPhone.pc.connectionState", vec![]),
        json!("connected")
    );
    assert!(
        !browser.visible("#phone-enable"),
        "no button while it works"
    );
    engine
        .wait_for(Duration::from_secs(5), |v| {
            crate::harness::message(v) == "browser phone" && v["fields"]["state"] == "Connected"
        })
        .unwrap_or_else(|| panic!("the engine did not see it connect:\n{}", engine.dump()));
    browser.axe("phone-working");
    browser.screenshot("phone-working");
    browser.click("#lang-toggle");
    browser.wait_text("#phone-status", "Fonctionne : les appels sonnent ici");
    browser.axe("phone-working-fr");
    browser.click("#lang-toggle");
    // The page opened again (or the next login on this browser): the phone
    // is set up at once, with no click, ready for the first call.
    browser.goto(&format!("http://{}/", engine.http));
    browser.wait_until(
        "the desk connected",
        "return window.frontdoorDesk && window.frontdoorDesk.ready",
    );
    browser.wait_text("#phone-status", "Working: calls ring here");
    assert!(!browser.visible("#phone-enable"));

    // An engine without browser phones says so, and the page says what to do.
    let off = Engine::start_in("[media]\nwebrtc = false\n", |_| {});
    account(&off, "nav2", "navigator", "ottawa", "en", false);
    logged_in(&browser, &off, "nav2");
    browser.click("#phone-enable");
    browser.wait_text(
        "#phone-status",
        "Not available: this engine has no browser phones. Use your SIP phone.",
    );
    browser.axe("phone-unavailable");
}
