//! Start-up refusals an operations person meets: each stops the engine with
//! a non-zero exit and a message that says what to fix.

use std::net::UdpSocket;
use std::process::{Command, Output};

use crate::harness::TempDir;

/// Run `frontdoor serve` with `args` on a free loopback port unless given.
fn frontdoor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(args)
        .env("RUST_LOG", "off")
        // Never the default store or HTTP port of a real installation.
        .env("FRONTDOOR_HTTP", "127.0.0.1:0")
        .env(
            "FRONTDOOR_DB",
            format!(
                "sqlite://{}/frontdoor-startup-test.db",
                std::env::temp_dir().display()
            ),
        )
        .output()
        .expect("run the frontdoor binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_sip_port_in_use_is_explained() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = frontdoor(&["serve", "--sip", &addr, "--rtp-ports", "39000-39009"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot bind SIP over UDP on {addr}")),
        "{err}"
    );
    assert!(err.contains("in use"), "{err}");
}

#[test]
fn a_bad_config_line_is_reported_as_file_line_col() {
    let dir = TempDir::new("badconfig");
    let config = dir.path().join("frontdoor.toml");
    std::fs::write(
        &config,
        "[sip]\nnumbers = [\"211\"]\n\n[calls]\nmax_calls = -3\n",
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = frontdoor(&["--config", &config, "serve", "--sip", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("{config}:5:13: ")), "{err}");
}

#[test]
fn a_prompt_in_the_wrong_format_is_named() {
    // A copy of the shipped prompts with one recording replaced.
    let dir = TempDir::new("badprompt");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    for sub in ["", "en", "fr"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(shipped.join(sub)).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    // 44.1 kHz stereo: a studio export, not telephone audio.
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let bad = dir.path().join("en/welcome.wav");
    let mut w = hound::WavWriter::create(&bad, spec).unwrap();
    for _ in 0..4410 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let prompts = dir.path().to_string_lossy().into_owned();
    let out = frontdoor(&["serve", "--sip", "127.0.0.1:0", "--prompts", &prompts]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&bad.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("8000"), "says what is expected: {err}");
}
