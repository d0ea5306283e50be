//! A navigator's text frame on the CTI websocket, decoded the way
//! `cti/src/ws.rs` (`handle_text`) decodes it: JSON, an object with a known
//! `type` and an `id`, then `log_call` read on its own (so a wrong field is
//! named by its path) and every other command as a [`ClientFrame`]; a log
//! then goes through the store's checks ([`validate_log`]).
//!
//! `handle_text` answers each step's failure on the socket, so it cannot
//! be called without a server; these steps follow it and must change with
//! it.
//!
//! Beyond "never panics": a frame that decodes encodes back to the same
//! frame (the docs test holds the documented examples to this).

#![no_main]

use frontdoor_cti::protocol::{CLIENT_TYPES, CallLog, ClientCmd, ClientFrame};
use frontdoor_cti::store::validate_log;
use libfuzzer_sys::fuzz_target;

/// The default `max_frame_bytes` (cti/src/lib.rs): larger frames are
/// refused before they are read.
const MAX_FRAME_BYTES: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // A websocket text frame is UTF-8 (tungstenite refuses others).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > MAX_FRAME_BYTES {
        return;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Some(obj) = value.as_object() else {
        return;
    };
    let id = obj.get("id").and_then(|v| v.as_str()).map(str::to_string);
    let Some(kind) = obj.get("type").and_then(|v| v.as_str()).map(str::to_string) else {
        return;
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return;
    }
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return;
    };
    let frame = if kind == "log_call" {
        let mut body = value;
        if let Some(obj) = body.as_object_mut() {
            obj.remove("id");
            obj.remove("type");
        }
        let log: CallLog = match serde_path_to_error::deserialize(body) {
            Ok(log) => log,
            Err(e) => {
                let _ = (e.path().to_string(), e.inner().to_string());
                return;
            }
        };
        for crisis_call in [false, true] {
            if let Err(e) = validate_log(&log, crisis_call) {
                let _ = e.to_string();
            }
        }
        ClientFrame {
            id,
            cmd: ClientCmd::LogCall(log),
        }
    } else {
        match serde_json::from_value::<ClientFrame>(value) {
            Ok(frame) => frame,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    };
    let json = serde_json::to_string(&frame).expect("a client frame always encodes");
    // A draft is any JSON the page kept; serde_json reads some floats one
    // unit in the last place off, so its round trip is not exact.
    if !matches!(frame.cmd, ClientCmd::SaveDraft { .. }) {
        let back: ClientFrame =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not decode ({e})"));
        assert_eq!(back, frame, "{json}");
    }
});
