//! A navigator's text frame on the CTI websocket, decoded as `cti/src/ws.rs`
//! decodes it ([`decode_frame`]); a log then goes through the store's
//! checks ([`validate_log`]).
//!
//! Beyond "never panics": a frame that decodes encodes back to the same
//! frame (the docs test holds the documented examples to this).

#![no_main]

use frontdoor_cti::protocol::{ClientCmd, ClientFrame, decode_frame};
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
    let frame = match decode_frame(text, MAX_FRAME_BYTES) {
        Ok(frame) => frame,
        Err(e) => {
            let _ = (e.reason, e.field);
            return;
        }
    };
    if let ClientCmd::LogCall(log) = &frame.cmd {
        for crisis_call in [false, true] {
            if let Err(e) = validate_log(log, crisis_call) {
                let _ = e.to_string();
            }
        }
    }
    let json = serde_json::to_string(&frame).expect("a client frame always encodes");
    // A draft is any JSON the page kept; serde_json reads some floats one
    // unit in the last place off, so its round trip is not exact.
    if !matches!(frame.cmd, ClientCmd::SaveDraft { .. }) {
        let back: ClientFrame =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not decode ({e})"));
        assert_eq!(back, frame, "{json}");
    }
});
