//! docs/cti-protocol.md matches the real message types.

use frontdoor_cti::protocol::{
    BoardFrame, CLIENT_TYPES, ClientFrame, QueuesView, RegionSource, SERVER_TYPES, ServerFrame,
    TransferState, WithdrawReason,
};
use serde_json::Value;

pub(crate) fn json_examples(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```json") => cur = Some(String::new()),
            (Some(buf), "```") => {
                out.push(std::mem::take(buf));
                cur = None;
            }
            (Some(buf), l) => {
                buf.push_str(l);
                buf.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(cur.is_none(), "an unclosed ```json block");
    out
}

#[test]
fn every_documented_example_round_trips_and_every_message_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/cti-protocol.md"
    ))
    .expect("docs/cti-protocol.md");
    // The websocket's messages come before "Other HTTP routes"; the JSON
    // after it (HTTP bodies such as the queues' view) has no `type` and is
    // only checked to be JSON.
    let (messages, http) = doc
        .split_once("\n## Other HTTP routes\n")
        .expect("an \"Other HTTP routes\" section");
    let mut views = 0;
    let mut board_seen = Vec::new();
    for text in json_examples(http) {
        let v = serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("bad JSON example ({e}):\n{text}"));
        if let Some(kind) = v.get("type").and_then(Value::as_str) {
            // A frame of the wallboard's websocket.
            let frame: BoardFrame = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("wallboard example {kind}: {e}\n{text}"));
            assert_eq!(
                serde_json::to_value(&frame).unwrap(),
                v,
                "wallboard example {kind} does not round-trip"
            );
            board_seen.push(kind.to_owned());
        } else if v.get("supervisor_list").is_some() {
            // The queues' view is typed: it round-trips like the messages.
            let view: QueuesView = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("the queues' view: {e}\n{text}"));
            assert_eq!(serde_json::to_value(&view).unwrap(), v, "the queues' view");
            views += 1;
        }
    }
    assert_eq!(views, 1, "one example of the queues' view");
    assert_eq!(
        board_seen,
        ["hello", "board", "heartbeat", "error"],
        "one example of each wallboard frame"
    );
    let examples = json_examples(messages);
    assert!(examples.len() >= SERVER_TYPES.len() + CLIENT_TYPES.len());
    let mut server_seen = Vec::new();
    let mut client_seen = Vec::new();
    for text in &examples {
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("bad JSON example ({e}):\n{text}"));
        let kind = v["type"]
            .as_str()
            .unwrap_or_else(|| panic!("example without a type:\n{text}"))
            .to_string();
        let back = if v.get("seq").is_some() {
            let f: ServerFrame = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("server example {kind}: {e}\n{text}"));
            server_seen.push(kind.clone());
            serde_json::to_value(&f).unwrap()
        } else {
            let f: ClientFrame = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("client example {kind}: {e}\n{text}"));
            client_seen.push(kind.clone());
            serde_json::to_value(&f).unwrap()
        };
        assert_eq!(
            back, v,
            "example {kind} does not round-trip (a field is missing, extra or renamed)"
        );
    }
    for t in SERVER_TYPES {
        assert!(
            server_seen.iter().any(|s| s == t),
            "server message {t} has no example"
        );
        assert!(
            doc.contains(&format!("### `{t}`")),
            "server message {t} has no section"
        );
    }
    for t in CLIENT_TYPES {
        assert!(
            client_seen.iter().any(|s| s == t),
            "client command {t} has no example"
        );
        assert!(
            doc.contains(&format!("### `{t}`")),
            "client command {t} has no section"
        );
    }
    assert!(doc.contains(&format!(
        "version {}",
        frontdoor_cti::protocol::PROTOCOL_VERSION
    )));
    // The title, the text, the table and the example of `hello` agree.
    let v = frontdoor_cti::protocol::PROTOCOL_VERSION;
    for said in [
        format!("# The CTI protocol — version {v}"),
        format!("version is **{v}**"),
        format!("| `protocol_version` | integer | `{v}` |"),
        format!("\"protocol_version\": {v},"),
        format!("- Version {v}:"),
    ] {
        assert!(
            doc.contains(&said),
            "docs/cti-protocol.md does not say {said:?}"
        );
    }
}

/// The row of the doc's table that documents `field` in section `section`.
fn field_row<'a>(doc: &'a str, section: &str, field: &str) -> &'a str {
    let (_, rest) = doc
        .split_once(&format!("### `{section}`"))
        .unwrap_or_else(|| panic!("no section {section}"));
    rest.lines()
        .find(|l| l.starts_with(&format!("| `{field}` |")))
        .unwrap_or_else(|| panic!("{section} documents no {field}"))
}

/// Every value of the closed lists on the wire is documented where the
/// field is, and serializes as its `as_str`.
#[test]
fn every_transfer_state_withdraw_reason_and_region_source_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/cti-protocol.md"
    ))
    .expect("docs/cti-protocol.md");
    let check = |section: &str, field: &str, name: &str, wire: Value| {
        assert_eq!(wire, Value::from(name), "{section}.{field}");
        assert!(
            field_row(&doc, section, field).contains(&format!("`{name}`")),
            "{section}.{field}: `{name}` is not documented"
        );
    };
    for s in TransferState::ALL {
        check(
            "transfer_progress",
            "state",
            s.as_str(),
            serde_json::to_value(s).unwrap(),
        );
    }
    for r in WithdrawReason::ALL {
        check(
            "call_withdrawn",
            "reason",
            r.as_str(),
            serde_json::to_value(r).unwrap(),
        );
    }
    for r in RegionSource::ALL {
        check(
            "call_offered",
            "region_source",
            r.as_str(),
            serde_json::to_value(r).unwrap(),
        );
        assert_eq!(RegionSource::parse(r.as_str()), Some(r));
    }
}
