//! A real softphone calls the engine: baresip (auto-answer off, it is the
//! caller) dials 211, and its `sndfile` module records the audio it decoded
//! to a WAV file (`dump-…-dec.wav`); the test checks that it heard the
//! engine's prompt.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{self, Engine, TempDir, free_media_port, free_udp_port, message};

#[test]
fn baresip_calls_and_hears_the_welcome_prompt() {
    let engine = Engine::start_in("", |flows| {
        std::fs::write(flows.join("211.yaml"), harness::SHORT_FLOW).unwrap()
    });
    let dir = TempDir::new("baresip");
    let input = dir.path().join("in.wav");
    let recordings = dir.path().join("recordings");
    std::fs::create_dir(&recordings).unwrap();
    write_silence(&input, Duration::from_secs(90));
    let sip_port = free_udp_port();
    let rtp = free_media_port();
    // Loopback only (net_interface): the phone's SDP names 127.0.0.1 whatever
    // network the machine has, or lacks.
    std::fs::write(
        dir.path().join("config"),
        format!(
            "poll_method epoll\n\
             net_interface 127.0.0.1\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             sip_transports udp\n\
             audio_source aufile,{inp}\n\
             audio_alert aufile,/dev/null\n\
             audio_srate 8000\n\
             audio_channels 1\n\
             rtp_ports {rtp}-{rtp_last}\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module sndfile.so\n\
             snd_path {out}\n\
             module_app account.so\n\
             module_app menu.so\n",
            out = recordings.display(),
            inp = input.display(),
            rtp_last = rtp + 3,
        ),
    )
    .unwrap();
    // No registration (regint=0); calls out only; auto-answer off.
    std::fs::write(
        dir.path().join("accounts"),
        "<sip:caller@127.0.0.1>;regint=0;answermode=manual\n",
    )
    .unwrap();
    let phone = Command::new("baresip")
        .args(["-f"])
        .arg(dir.path())
        .args(["-e", &format!("/dial sip:211@{}", engine.sip), "-t", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baresip (Debian package baresip)");

    // The engine plays a short menu, waits 1 s for a key, routes by the
    // menu's default and, with no navigator logged in, tells the caller
    // the call could not be connected and hangs up.
    let ended = engine.wait_for(Duration::from_secs(45), |v| message(v) == "call ended");
    std::thread::sleep(Duration::from_millis(500));
    let phone_log = stop(phone);
    let ended = ended.unwrap_or_else(|| panic!("the call did not end; baresip said:\n{phone_log}"));
    assert_eq!(ended["fields"]["reason"], "LocalBye", "the engine hung up");

    let (seconds, loud_seconds) = received_audio(&recordings, &phone_log);
    assert!(seconds > 5.0, "baresip recorded {seconds:.1} s");
    assert!(
        loud_seconds > 3.0,
        "only {loud_seconds:.1} s of speech-level audio in {seconds:.1} s"
    );
}

/// Stops baresip (SIGTERM) and returns what it printed.
pub fn stop(phone: std::process::Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &phone.id().to_string()])
        .status();
    let waited = phone.wait_with_output().unwrap();
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&waited.stdout),
        String::from_utf8_lossy(&waited.stderr)
    )
}

/// What baresip recorded of the audio it received (`sndfile`'s `-dec.wav`
/// in `recordings`): its length and how much of it is speech-level, in
/// seconds.
pub fn received_audio(recordings: &std::path::Path, phone_log: &str) -> (f64, f64) {
    let decoded = std::fs::read_dir(recordings)
        .unwrap()
        .map_while(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("baresip recorded no received audio; it said:\n{phone_log}"));
    let mut reader = hound::WavReader::open(&decoded).unwrap_or_else(|e| {
        panic!(
            "{} is not a WAV file ({e}); baresip said:\n{phone_log}",
            decoded.display()
        )
    });
    let spec = reader.spec();
    let samples: Vec<i16> = reader.samples::<i16>().map_while(Result::ok).collect();
    let seconds = samples.len() as f64 / spec.sample_rate as f64 / spec.channels as f64;
    let loud = samples.chunks(160).filter(|c| rms(c) > 500.0).count();
    let loud_seconds = loud as f64 * 160.0 / spec.sample_rate as f64 / spec.channels as f64;
    (seconds, loud_seconds)
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

pub fn write_silence(path: &std::path::Path, length: Duration) {
    let mut w = harness::mono_wav(path, 8000);
    for _ in 0..(length.as_secs() * 8000) {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
}
