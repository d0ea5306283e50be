//! Who the caller is, as the navigator's screen and the lines the engine
//! calls see it: a withheld caller has no history (other withheld callers'
//! calls are other people's), every spelling of one number is one caller,
//! and a carrier's asserted identity is believed from a trusted peer.

use super::*;

/// A crisis-trained navigator in Toronto (their phone registered, answering
/// at once), their screen open and ready.
fn ready_crisis_navigator(engine: &Engine, dir: &TempDir) -> (Child, Screen) {
    account(engine, "tor1", "navigator", "toronto", "en,fr", true);
    let baresip = registered_phone(engine, dir, "tor1");
    let mut screen = Screen::open(engine, "tor1");
    screen.set_state("ready");
    (baresip, screen)
}

/// The call's record, read by operations staff (who may read any call's).
fn ops_record(engine: &Engine, id: &str) -> Value {
    record_as(engine, &staff(engine, "ops1", "ops"), id)
}

/// A caller who presses 9 (crisis) and talks for `talk_ms`, then hangs up.
fn crisis_caller(talk_ms: u64) -> Vec<Step> {
    vec![Step::Pause(800), Step::Key('9'), Step::Pause(talk_ms)]
}

#[test]
fn a_withheld_callers_pop_says_anonymous_and_lists_no_other_withheld_callers_calls() {
    // A short wrap-up: the navigator is ready for the next call at once.
    let engine = Engine::start_in("[cti]\nwrap_up_s = 1\n", |_| {});
    let dir = TempDir::new("phone");
    let (baresip, mut screen) = ready_crisis_navigator(&engine, &dir);

    // Someone with a withheld number calls in crisis; the navigator talks
    // with them and logs what they needed.
    let first = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, "anonymous", &crisis_caller(4000), true));
        let offered = screen.expect(Duration::from_secs(15), "call_offered", |_| true);
        assert_eq!(offered["caller"], "anonymous", "{offered}");
        screen.expect(Duration::from_secs(10), "call_answered", |_| true);
        caller.join().unwrap()
    });
    first.assert_success(&engine);
    let first_id = engine.id_of(&first.call_id());
    screen.expect(Duration::from_secs(10), "call_ended", |v| {
        v["call_id"] == first_id
    });
    let mark = screen.frames.len();
    screen.send(json!({
        "type": "log_call", "id": "log-withheld-1", "call_id": first_id,
        "needs": [{"code": "BD-1800", "met": true}],
        "notes": "private notes about someone else",
        "crisis_details": {"type": "other", "risk": "low", "action": "listened; food bank",
            "emergency_services": false, "emergency_confirmed": false},
    }));
    screen.expect(Duration::from_secs(10), "log_saved", |v| {
        v["call_id"] == first_id
    });
    screen
        .wait_from(mark, Duration::from_secs(10), "state_changed", |v| {
            v["state"] == "ready"
        })
        .expect("ready again after wrap-up");

    // Another withheld caller: their pop must not show the first caller's
    // call, needs or notes.
    let second = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, "Anonymous", &crisis_caller(3000), true));
        let offered = screen.expect(Duration::from_secs(15), "call_offered", |v| {
            v["call_id"] != first_id
        });
        assert_eq!(offered["caller"], "anonymous", "{offered}");
        assert_eq!(
            offered["previous_contacts"],
            json!([]),
            "a withheld caller has no history: {offered}"
        );
        caller.join().unwrap()
    });
    stop(baresip);
    second.assert_success(&engine);
    let rec = ops_record(&engine, &first_id);
    assert_eq!(rec["call"]["caller"], "anonymous", "{rec:#}");
}

#[test]
fn every_spelling_of_a_callers_number_is_one_history() {
    let engine = Engine::start_in(&config(""), ottawa_always_open);
    // The caller's first call, from a phone that sends ten digits: they
    // hang up in the greeting.
    let first = call(&engine, "6135550123", &[Step::Pause(1500)], true);
    first.assert_success(&engine);
    let first_id = engine.id_of(&first.call_id());
    engine.call_ended(&first_id);
    assert_eq!(
        ops_record(&engine, &first_id)["call"]["caller"],
        "+16135550123",
        "the number is recorded as E.164"
    );

    // The same caller again, this time as +1…: their pop lists the first call.
    let dir = TempDir::new("phone");
    let (baresip, mut screen) = ready_navigator(&engine, &dir);
    let steps = english_then_food(&[Step::Pause(4000)]);
    let second = std::thread::scope(|s| {
        let caller = s.spawn(|| call(&engine, "+16135550123", &steps, true));
        let offered = screen.expect(Duration::from_secs(15), "call_offered", |_| true);
        assert_eq!(offered["caller"], "+16135550123", "{offered}");
        let earlier: Vec<&str> = offered["previous_contacts"]
            .as_array()
            .unwrap_or_else(|| panic!("{offered}"))
            .iter()
            .filter_map(|c| c["call_id"].as_str())
            .collect();
        assert_eq!(earlier, vec![first_id.as_str()], "{offered}");
        caller.join().unwrap()
    });
    stop(baresip);
    second.assert_success(&engine);
}

#[test]
fn a_private_caller_whose_number_a_trusted_peer_asserts_reaches_the_crisis_line_with_it() {
    let dir = TempDir::new("crisis-line");
    let (far, trace, uri) = line(&dir);
    // The carrier's trunk (here: loopback) is trusted; nobody is logged in,
    // so key 9 goes to the crisis line at once.
    let engine = Engine::start_in(
        &config("[sip]\ntrusted_proxies = [\"127.0.0.0/8\"]\n"),
        crisis_line_is(&uri),
    );
    let steps = [Step::Pause(800), Step::Key('9')];
    // The caller's phone withholds the number (From anonymous, Privacy: id);
    // the carrier asserts it.
    let run = call_edited(&engine, "anonymous", &steps, false, |scenario| {
        scenario.replace(
            "      Call-ID: [call_id]\n      CSeq: 1 INVITE\n",
            "      Call-ID: [call_id]\n      CSeq: 1 INVITE\n      \
             P-Asserted-Identity: \"Caller\" <sip:+16135550123@[local_ip]>\n      \
             Privacy: id\n",
        )
    });
    let messages = both_ended(&run, &engine, far, &trace);
    assert!(
        messages.contains("P-Asserted-Identity: <sip:+16135550123@127.0.0.1>"),
        "the asserted number is presented to the crisis line:\n{messages}"
    );
    assert!(
        messages.contains("Privacy: id"),
        "the caller's privacy request goes with it:\n{messages}"
    );
    let id = engine.id_of(&run.call_id());
    let rec = ops_record(&engine, &id);
    assert_eq!(rec["call"]["caller"], "+16135550123", "{rec:#}");
    let arrived = engine
        .wait_for(Duration::from_secs(2), |v| {
            message(v) == "call arrived" && call_id(v) == id
        })
        .unwrap_or_else(|| panic!("{}", engine.dump()));
    assert_eq!(
        arrived["fields"]["identity"], "p-asserted-identity",
        "{arrived}"
    );
}
