//! TLS: a certificate in `[tls]` gives SIP over TLS (a baresip call) and
//! HTTPS/WSS for the CTI server (curl and openssl as clients).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{Engine, TempDir, free_media_port, free_udp_port, message};

use crate::records::add_user;

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert.pem, key.pem).
fn self_signed(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

#[test]
fn sip_over_tls_and_https_with_a_configured_certificate() {
    let dir = TempDir::new("tls");
    let (cert, key) = self_signed(dir.path());
    let engine = Engine::start_with(&format!("[tls]\ncert = {cert:?}\nkey = {key:?}\n"));
    let sip_tls = tls_address(&engine);

    // A call over TLS from baresip (sipp is built without TLS), which
    // checks our certificate against it as its CA.
    let mut phone = phone_over_tls(dir.path(), &cert, &sip_tls, None);
    let arrived = engine.wait_for(std::time::Duration::from_secs(10), |v| {
        message(v) == "call arrived"
            && v["fields"]["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("TLS:"))
    });
    let started = engine.wait_for(std::time::Duration::from_secs(5), |v| {
        message(v) == "flow started"
    });
    let _ = phone.kill();
    let _ = phone.wait();
    assert!(arrived.is_some(), "no call over TLS:\n{}", engine.dump());
    assert!(
        started.is_some(),
        "the call over TLS was not answered:\n{}",
        engine.dump()
    );

    // HTTPS: sign in with curl (the certificate checked against our own CA).
    add_user(
        &engine,
        "nav1",
        "navigator",
        "ottawa",
        "correct-horse-battery",
    );
    let out = Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &cert,
            "-H",
            "Content-Type: application/json",
        ])
        .args([
            "-d",
            r#"{"username":"nav1","password":"correct-horse-battery"}"#,
        ])
        .arg(format!("https://{}/api/login", engine.http))
        .output()
        .expect("run curl");
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{body} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    // Plain HTTP on the same port is not spoken.
    let plain = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/healthz", engine.http))
        .output()
        .expect("run curl");
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");

    // WSS: the websocket upgrade over TLS.
    let request = format!(
        "GET /cti/ws?token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        host = engine.http
    );
    let mut s_client = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-CAfile",
            &cert,
            "-verify_return_error",
        ])
        .args(["-connect", &engine.http.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    {
        use std::io::Write;
        let mut stdin = s_client.stdin.take().unwrap();
        stdin.write_all(request.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    let _ = s_client.kill();
    let out = s_client.wait_with_output().unwrap();
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.starts_with("HTTP/1.1 101"),
        "no websocket over TLS: {reply}"
    );
    assert!(reply.contains("\"type\":\"hello\""), "{reply}");
}

/// SRTP with SDES over TLS: baresip calls over TLS insisting on SRTP
/// (`mediaenc=srtp-mand`). The engine takes its key, answers with its own,
/// and the prompt baresip decrypts is speech; what baresip sends decrypts
/// and authenticates at the engine.
#[test]
fn a_phone_offering_srtp_over_tls_gets_encrypted_media_both_ways() {
    let dir = TempDir::new("srtp");
    let (cert, key) = self_signed(dir.path());
    let engine = Engine::start_in(
        &format!("[tls]\ncert = {cert:?}\nkey = {key:?}\n"),
        |flows| std::fs::write(flows.join("211.yaml"), crate::harness::SHORT_FLOW).unwrap(),
    );
    let sip_tls = tls_address(&engine);
    let recordings = dir.path().join("recordings");
    std::fs::create_dir(&recordings).unwrap();
    let phone = phone_over_tls(dir.path(), &cert, &sip_tls, Some(&recordings));
    // The short flow: a menu, its default route, no navigator, goodbye.
    let ended = engine.wait_for(std::time::Duration::from_secs(40), |v| {
        message(v) == "call ended"
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let phone_log = crate::baresip::stop(phone);
    assert!(
        ended.is_some(),
        "the call did not end; baresip said:\n{phone_log}\nengine:\n{}",
        engine.dump()
    );
    let negotiated = engine
        .lines(|v| message(v) == "media negotiated")
        .pop()
        .expect("media negotiated");
    assert!(
        negotiated["fields"]["srtp"]
            .as_str()
            .is_some_and(|s| s.starts_with("AES_CM_128_HMAC_SHA1_")),
        "{negotiated}"
    );
    let closed = engine
        .lines(|v| message(v) == "media closed")
        .pop()
        .expect("media closed");
    assert!(
        closed["fields"]["received"].as_u64().unwrap_or(0) > 50,
        "baresip's SRTP was not heard: {closed}"
    );
    assert_eq!(closed["fields"]["srtp_rejected"], 0, "{closed}");
    let (seconds, loud) = crate::baresip::received_audio(&recordings, &phone_log);
    assert!(
        loud > 3.0,
        "baresip decrypted only {loud:.1} s of speech in {seconds:.1} s:\n{phone_log}"
    );
}

/// The engine's SIP over TLS address, from its start line.
fn tls_address(engine: &Engine) -> String {
    let ready = engine
        .lines(|v| message(v) == "frontdoor is answering calls")
        .pop()
        .expect("started");
    ready["fields"]["sip_tls"]
        .as_str()
        .and_then(|s| {
            s.strip_prefix("Some(")?
                .strip_suffix(')')
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no SIP over TLS address: {ready}"))
}

/// baresip in `dir`/phone dialling the engine's `sip_tls` address over
/// TLS, checking our certificate `cert` as its CA, sending silence. With
/// `srtp_recordings`, it insists on SRTP (`mediaenc=srtp-mand`) and records
/// what it receives there (`sndfile`).
fn phone_over_tls(
    dir: &Path,
    cert: &str,
    sip_tls: &str,
    srtp_recordings: Option<&Path>,
) -> std::process::Child {
    let input = dir.join("in.wav");
    crate::baresip::write_silence(&input, std::time::Duration::from_secs(60));
    let phone_dir = dir.join("phone");
    std::fs::create_dir(&phone_dir).unwrap();
    let rtp = free_media_port();
    let (modules, account) = match srtp_recordings {
        Some(out) => (
            format!(
                "module sndfile.so\nsnd_path {}\nmodule srtp.so\n",
                out.display()
            ),
            ";mediaenc=srtp-mand",
        ),
        None => (String::new(), ""),
    };
    std::fs::write(
        phone_dir.join("config"),
        format!(
            "poll_method epoll\nnet_interface 127.0.0.1\nsip_listen 127.0.0.1:{sip_port}\n\
             sip_transports udp,tls\nsip_cafile {cert}\naudio_source aufile,{inp}\n\
             audio_alert aufile,/dev/null\naudio_srate 8000\naudio_channels 1\n\
             rtp_ports {rtp}-{rtp_last}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\n{modules}module_app account.so\nmodule_app menu.so\n",
            sip_port = free_udp_port(),
            inp = input.display(),
            rtp_last = rtp + 3,
        ),
    )
    .unwrap();
    std::fs::write(
        phone_dir.join("accounts"),
        format!("<sip:caller@127.0.0.1>;regint=0;answermode=manual{account}\n"),
    )
    .unwrap();
    Command::new("baresip")
        .arg("-f")
        .arg(&phone_dir)
        .args([
            "-e",
            &format!("/dial sip:211@{sip_tls};transport=tls"),
            "-t",
            "45",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baresip")
}
