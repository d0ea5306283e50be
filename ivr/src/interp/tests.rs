use super::*;
use crate::flowset::Sources;
use std::path::PathBuf;

/// A flow set of `flows` (file name, text) on the shipped centres,
/// regions and prompt catalog, every catalog prompt recorded.
fn set_of(flows: &[(&str, &str)]) -> Arc<FlowSet> {
    let catalog = include_str!("../../../prompts/catalog.yaml");
    let mut recordings = HashSet::new();
    for line in catalog.lines() {
        if let Some(id) = line.strip_suffix(':')
            && !id.starts_with([' ', '#'])
        {
            for lang in Lang::ALL {
                recordings.insert((lang, id.to_owned()));
            }
        }
    }
    let sources = Sources {
        flows: flows
            .iter()
            .map(|(n, t)| (PathBuf::from(n), (*t).to_owned()))
            .collect(),
        centres: (
            "centres.yaml".into(),
            include_str!("../../../flows/centres.yaml").into(),
        ),
        regions: (
            "regions.csv".into(),
            include_str!("../../../flows/regions.csv").into(),
        ),
        catalog: ("catalog.yaml".into(), catalog.into()),
        recordings,
        prompts_dir: "prompts".into(),
        recordings_digest: Vec::new(),
    };
    match FlowSet::compile(&sources) {
        Ok(set) => Arc::new(set),
        Err(d) => panic!("test flow does not compile:\n{d}"),
    }
}

fn flow(text: &str) -> Arc<FlowSet> {
    set_of(&[("main.yaml", text)])
}

fn at(s: &str) -> jiff::Zoned {
    crate::schedule::parse_local(s).unwrap()
}

fn call(set: &Arc<FlowSet>, caller: &str, when: &str) -> Call {
    call_em(set, caller, when, false)
}

fn call_em(set: &Arc<FlowSet>, caller: &str, when: &str, emergency: bool) -> Call {
    Call::new(
        set.clone(),
        CallInfo {
            caller: crate::regions::normalize_caller(caller),
            dialled: "211".into(),
            at: at(when),
            emergency,
        },
    )
}

/// The prompts of every Play, as "lang/id".
fn played(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Play(p) => Some(p),
            _ => None,
        })
        .flatten()
        .map(|p| format!("{}/{}", p.lang.as_str(), p.id))
        .collect()
}

fn steps(outs: &[Output]) -> Vec<&str> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Step(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn route(outs: &[Output]) -> Option<&Route> {
    outs.iter().find_map(|o| match o {
        Output::Route(r) => Some(r),
        _ => None,
    })
}

fn timer(outs: &[Output]) -> Option<Duration> {
    outs.iter().find_map(|o| match o {
        Output::StartTimer(d) => Some(*d),
        _ => None,
    })
}

const WEEKDAY: &str = "2026-11-23T10:00";
const OTTAWA: &str = "+16135550123";

/// Menus with a crisis key, a play, language and a route.
const MENU_FLOW: &str = r#"
start: greeting
global_keys:
  "9": { goto: crisis, from: greeting }
nodes:
  greeting:
    menu:
      prompt: [welcome]
      options: { "1": english, "2": french }
      timeout_s: 5
      tries: 3
      default: english
  english: { language: en, next: info }
  french: { language: fr, next: info }
  info:
    play: [emergency_911]
    next: topic
  topic:
    menu:
      prompt: [topic_menu]
      options: { "1": housing }
      tries: 2
      default: other
  housing: { set: { topic: housing }, next: out }
  other: { set: { topic: other }, next: out }
  out:
    route: { to: region, prompt: [connecting] }
  crisis:
    route: { to: crisis, prompt: [crisis_connecting] }
"#;

#[test]
fn before_a_language_every_prompt_plays_in_english_then_french() {
    let set = flow(MENU_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    let outs = c.start();
    assert_eq!(steps(&outs), ["greeting"]);
    assert_eq!(played(&outs), ["en/welcome", "fr/welcome"]);
    assert_eq!(timer(&outs), None, "no timer while the menu prompt plays");
    assert_eq!(c.attributes()["region"], "east");
    assert_eq!(c.attributes()["region_source"], "area code");
    let outs = c.handle(Input::PromptsFinished);
    assert_eq!(timer(&outs), Some(Duration::from_secs(5)));
}

#[test]
fn a_menu_key_barges_in_and_the_language_holds_for_every_later_prompt() {
    let set = flow(MENU_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('2'));
    assert_eq!(outs[0], Output::StopPlaying);
    assert_eq!(steps(&outs), ["french", "info"]);
    assert_eq!(played(&outs), ["fr/emergency_911"]);
    assert_eq!(c.language(), Some(Lang::Fr));
    // A non-global key during a play node is ignored.
    let outs = c.handle(Input::Key('1'));
    assert!(
        played(&outs).is_empty() && steps(&outs).is_empty(),
        "{outs:?}"
    );
    let outs = c.handle(Input::PromptsFinished);
    assert_eq!(played(&outs), ["fr/topic_menu"]);
    let outs = c.handle(Input::Key('1'));
    assert_eq!(played(&outs), ["fr/connecting"]);
    let r = route(&outs).expect("routed");
    assert_eq!(r.target, Target::Centre("ottawa".into()));
    assert_eq!(r.language, Some(Lang::Fr));
    assert_eq!(r.priority, Priority::Normal);
    assert_eq!(c.attributes()["topic"], "housing");
    assert!(c.is_done());
    assert!(
        c.handle(Input::Key('1')).is_empty(),
        "nothing after the route"
    );
}

#[test]
fn no_input_replays_the_menu_with_the_no_input_prompt_then_takes_the_default() {
    let set = flow(MENU_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    c.handle(Input::Key('1'));
    c.handle(Input::PromptsFinished); // info played; topic menu plays
    c.handle(Input::PromptsFinished);
    let outs = c.handle(Input::TimerFired);
    assert_eq!(played(&outs), ["en/no_input", "en/topic_menu"]);
    assert_eq!(timer(&outs), None);
    let outs = c.handle(Input::PromptsFinished);
    assert_eq!(
        timer(&outs),
        Some(Duration::from_secs(6)),
        "default timeout"
    );
    let outs = c.handle(Input::TimerFired);
    assert!(
        outs.contains(&Output::Note(
            "menu topic: no input after 2 tries → default other".into()
        )),
        "{outs:?}"
    );
    assert_eq!(
        route(&outs).unwrap().target,
        Target::Centre("ottawa".into())
    );
    assert_eq!(c.attributes()["topic"], "other");
}

#[test]
fn a_wrong_key_plays_no_match_and_counts_as_a_try() {
    let set = flow(MENU_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('5'));
    assert_eq!(outs[0], Output::StopPlaying);
    assert_eq!(
        played(&outs),
        ["en/no_match", "en/welcome", "fr/no_match", "fr/welcome"]
    );
    c.handle(Input::PromptsFinished);
    let outs = c.handle(Input::TimerFired); // try 2: no input
    assert_eq!(played(&outs)[0], "en/no_input");
    let outs = c.handle(Input::Key('7')); // try 3: no match → default
    assert_eq!(steps(&outs), ["english", "info"]);
}

#[test]
fn an_early_timer_or_a_stale_finish_changes_nothing() {
    let set = flow(MENU_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    assert!(c.handle(Input::TimerFired).is_empty(), "no timer armed yet");
    c.handle(Input::PromptsFinished);
    let outs = c.handle(Input::PromptsFinished);
    assert!(outs.is_empty(), "{outs:?}");
}

#[test]
fn the_global_crisis_key_works_from_the_first_prompt_during_menus_and_plays() {
    let set = flow(MENU_FLOW);
    // During the very first prompt.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('9'));
    assert_eq!(outs[0], Output::StopPlaying);
    let r = route(&outs).unwrap();
    assert_eq!(r.target, Target::Crisis);
    assert_eq!(r.priority, Priority::Crisis);
    assert_eq!(
        played(&outs),
        ["en/crisis_connecting", "fr/crisis_connecting"]
    );
    assert_eq!(c.attributes()["crisis"], "true");
    // During a play node after the language.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    c.handle(Input::Key('1'));
    assert!(c.accepts('9') && !c.accepts('1'));
    let outs = c.handle(Input::Key('9'));
    assert_eq!(route(&outs).unwrap().target, Target::Crisis);
    assert_eq!(played(&outs), ["en/crisis_connecting"]);
}

#[test]
fn a_global_key_is_in_force_only_once_the_call_has_passed_its_from_node() {
    let set = flow(
        r#"
start: first
global_keys:
  "9": { goto: crisis }
  "0": { goto: toronto, from: second }
nodes:
  first:
    menu: { prompt: [welcome], options: { "1": second }, default: second }
  second:
    menu: { prompt: [topic_menu], options: { "1": out }, default: out }
  out: { route: { to: region } }
  toronto: { route: { to: "centre:toronto" } }
  crisis: { route: { to: crisis } }
"#,
    );
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('0'));
    assert!(route(&outs).is_none(), "0 is a wrong key in `first`");
    assert_eq!(played(&outs)[0], "en/no_match");
    c.handle(Input::Key('1'));
    let outs = c.handle(Input::Key('0'));
    assert_eq!(
        route(&outs).unwrap().target,
        Target::Centre("toronto".into())
    );
}

#[test]
fn collect_takes_digits_up_to_the_terminator_or_the_maximum() {
    let set = flow(
        r#"
start: ask
global_keys:
  "9": { goto: crisis }
nodes:
  ask:
    collect:
      var: postal
      prompt: [topic_menu]
      min: 3
      max: 6
      timeout_s: 4
      tries: 2
      fail: gave_up
    next: check
  check:
    switch:
      on: var:postal
      cases: { "123": crisis }
      default: out
  gave_up: { set: { topic: unknown }, next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
    );
    // Terminator.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('4'));
    assert_eq!(outs[0], Output::StopPlaying);
    assert_eq!(
        timer(&outs),
        Some(Duration::from_secs(4)),
        "inter-digit wait"
    );
    c.handle(Input::Key('5'));
    c.handle(Input::Key('6'));
    let outs = c.handle(Input::Key('#'));
    assert_eq!(c.attributes()["postal"], "456");
    assert_eq!(steps(&outs), ["check", "out"]);
    // Global keys are digits here: 9 is data, not the crisis key.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    for k in "129999".chars() {
        c.handle(Input::Key(k));
    }
    assert_eq!(c.attributes()["postal"], "129999", "ends at max length");
    assert!(c.is_done());
    // Too short, then the timer: the prompt again; then the fail node.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    c.handle(Input::Key('1'));
    let outs = c.handle(Input::TimerFired);
    assert_eq!(
        played(&outs),
        [
            "en/no_input",
            "en/topic_menu",
            "fr/no_input",
            "fr/topic_menu"
        ]
    );
    c.handle(Input::PromptsFinished);
    let outs = c.handle(Input::TimerFired);
    assert_eq!(steps(&outs), ["gave_up", "out"]);
    assert_eq!(c.attributes()["topic"], "unknown");
}

#[test]
fn switch_on_region_withheld_and_a_variable() {
    let set = flow(
        r#"
start: where
global_keys:
  "9": { goto: crisis }
nodes:
  where:
    switch:
      on: region
      cases: { unknown: hidden, north: north }
      default: out
  hidden:
    switch:
      on: withheld
      cases: { "yes": ask }
      default: ask
  ask:
    menu: { prompt: [region_menu], options: { "2": set_north }, default: out }
  set_north: { set: { region: north }, next: north }
  north: { route: { to: region } }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
    );
    let mut c = call(&set, "+18075550123", WEEKDAY);
    let outs = c.start();
    assert_eq!(steps(&outs), ["where", "north"]);
    assert_eq!(
        route(&outs).unwrap().target,
        Target::Centre("thunder_bay".into())
    );
    let mut c = call(&set, "anonymous", WEEKDAY);
    let outs = c.start();
    assert_eq!(steps(&outs), ["where", "hidden", "ask"]);
    assert_eq!(c.attributes()["withheld"], "yes");
    let outs = c.handle(Input::Key('2'));
    assert_eq!(c.attributes()["region"], "north");
    assert_eq!(c.attributes()["region_source"], "region menu");
    assert_eq!(route(&outs).unwrap().region.as_deref(), Some("north"));
    // A split area code resolves by exchange.
    let mut c = call(&set, "+17054451234", WEEKDAY);
    c.start();
    assert_eq!(c.attributes()["region"], "central");
    assert_eq!(c.attributes()["region_source"], "exchange table");
}

#[test]
fn a_route_says_whether_the_flow_offers_a_callback() {
    let with = MENU_FLOW.replace(
        "route: { to: region, prompt: [connecting] }",
        "route: { to: region, prompt: [connecting], callback: true }",
    );
    for (text, offered) in [(MENU_FLOW.to_owned(), false), (with, true)] {
        let set = flow(&text);
        let mut c = call(&set, OTTAWA, "2026-11-23T10:00");
        c.start();
        c.handle(Input::Key('1'));
        c.handle(Input::PromptsFinished);
        let outs = c.handle(Input::Key('1'));
        assert_eq!(route(&outs).unwrap().callback, offered);
        // The crisis route never offers one.
        let mut c = call(&set, OTTAWA, "2026-11-23T10:00");
        c.start();
        let outs = c.handle(Input::Key('9'));
        assert!(!route(&outs).unwrap().callback);
    }
}

#[test]
fn the_region_route_takes_the_open_centre_then_its_overflow() {
    let set = flow(MENU_FLOW);
    let go = |when: &str| {
        let mut c = call(&set, OTTAWA, when);
        c.start();
        c.handle(Input::Key('1'));
        c.handle(Input::PromptsFinished);
        let outs = c.handle(Input::Key('1'));
        route(&outs).unwrap().clone()
    };
    assert_eq!(
        go("2026-11-23T10:00").target,
        Target::Centre("ottawa".into())
    );
    // Overnight: Ottawa closed, its overflow (Toronto, 24/7) takes it.
    let night = go("2026-11-24T03:00");
    assert_eq!(night.target, Target::Centre("toronto".into()));
    assert!(night.reason.contains("overflow"), "{}", night.reason);
    // Christmas Day: closed all day in Ottawa.
    assert_eq!(
        go("2026-12-25T11:00").target,
        Target::Centre("toronto".into())
    );
}

#[test]
fn a_french_caller_goes_past_a_centre_without_french() {
    let set = flow(MENU_FLOW);
    // 705-445 is Collingwood, whose centre serves English only.
    let mut c = call(&set, "+17054451234", WEEKDAY);
    c.start();
    c.handle(Input::Key('2'));
    c.handle(Input::PromptsFinished);
    let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
    assert_eq!(r.target, Target::Centre("toronto".into()), "{}", r.reason);
    assert!(r.reason.contains("language"), "{}", r.reason);
    // In English, Collingwood itself.
    let mut c = call(&set, "+17054451234", WEEKDAY);
    c.start();
    c.handle(Input::Key('1'));
    c.handle(Input::PromptsFinished);
    let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
    assert_eq!(r.target, Target::Centre("collingwood".into()));
}

#[test]
fn a_schedule_switch_follows_local_time_across_the_dst_changes() {
    let set = flow(
        r#"
start: hours
global_keys:
  "9": { goto: crisis }
schedules:
  early:
    hours: { daily: "01:00-02:00" }
nodes:
  hours:
    switch:
      on: schedule:early
      cases: { open: open, closed: closed }
      default: closed
  open: { set: { topic: open }, next: out }
  closed: { set: { topic: closed }, next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
    );
    let topic = |when: &str| {
        let mut c = call(&set, OTTAWA, when);
        c.start();
        c.attributes()["topic"].clone()
    };
    // 2026-11-01: clocks fall back at 02:00 EDT to 01:00 EST.
    assert_eq!(topic("2026-11-01T05:30:00Z"), "open", "01:30 EDT");
    assert_eq!(topic("2026-11-01T06:30:00Z"), "open", "01:30 EST, again");
    assert_eq!(topic("2026-11-01T07:30:00Z"), "closed", "02:30 EST");
    // 2026-03-08: clocks spring forward at 02:00 EST to 03:00 EDT.
    assert_eq!(topic("2026-03-08T06:30:00Z"), "open", "01:30 EST");
    assert_eq!(topic("2026-03-08T07:30:00Z"), "closed", "03:30 EDT");
    // The same UTC hour is a different local hour in summer and winter.
    assert_eq!(topic("2026-07-01T05:30:00Z"), "open", "01:30 EDT");
    assert_eq!(topic("2026-01-15T05:30:00Z"), "closed", "00:30 EST");
}

#[test]
fn play_hangup_goto_and_a_sub_flow_that_returns() {
    let set = set_of(&[
        (
            "main.yaml",
            r#"
start: hello
global_keys:
  "9": { goto: crisis }
nodes:
  hello: { play: [welcome], next: sub }
  sub: { include: ask_topic, next: jump }
  jump: { goto: decide }
  decide:
    switch:
      on: var:topic
      cases: { food: bye }
      default: out
  bye: { hangup: [goodbye] }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
        ),
        (
            "topic.yaml",
            r#"
subflow: ask_topic
start: topic_q
nodes:
  topic_q:
    menu: { prompt: [topic_menu], options: { "2": food }, default: done }
  food: { set: { topic: food }, next: done }
  done: { return: true }
"#,
        ),
    ]);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::PromptsFinished);
    assert_eq!(steps(&outs), ["sub", "topic_q"]);
    let outs = c.handle(Input::Key('2'));
    assert_eq!(steps(&outs), ["food", "done", "jump", "decide", "bye"]);
    assert_eq!(played(&outs), ["en/goodbye", "fr/goodbye"]);
    assert!(!outs.contains(&Output::Hangup), "after the goodbye");
    let outs = c.handle(Input::PromptsFinished);
    assert_eq!(outs, [Output::Hangup]);
    assert!(c.is_done());
}

#[test]
fn external_and_named_centre_routes() {
    let set = flow(
        r#"
start: m
global_keys:
  "9": { goto: crisis }
nodes:
  m:
    menu:
      prompt: [welcome]
      options: { "1": ext, "2": win }
      default: win
  ext: { route: { to: "sip:pbx@partner.example.org", priority: high } }
  win: { route: { to: "centre:windsor" } }
  crisis: { route: { to: crisis } }
"#,
    );
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
    assert_eq!(
        r.target,
        Target::External("sip:pbx@partner.example.org".into())
    );
    assert_eq!(r.priority, Priority::High);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('2'));
    assert_eq!(
        route(&outs).unwrap().target,
        Target::Centre("windsor".into())
    );
    assert_eq!(c.attributes()["centre"], "windsor");
}

const EMERGENCY_FLOW: &str = r#"
start: greeting
global_keys:
  "9": { goto: crisis }
emergency:
  after: greeting
  announcement: [emergency_announcement]
  option: { key: "8", goto: help, prompt: [emergency_option], menus: [topic] }
nodes:
  greeting:
    menu: { prompt: [welcome], options: { "1": english }, default: english }
  english: { language: en, next: topic }
  topic:
    menu: { prompt: [topic_menu], options: { "1": out }, default: out }
  help: { play: [emergency_info], next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#;

#[test]
fn emergency_mode_announces_after_the_greeting_and_offers_its_option() {
    let set = flow(EMERGENCY_FLOW);
    let mut c = call_em(&set, OTTAWA, WEEKDAY, true);
    let outs = c.start();
    assert_eq!(
        played(&outs),
        ["en/welcome", "fr/welcome"],
        "not before the greeting"
    );
    let outs = c.handle(Input::Key('1'));
    assert_eq!(
        played(&outs),
        [
            "en/emergency_announcement",
            "en/topic_menu",
            "en/emergency_option"
        ]
    );
    let outs = c.handle(Input::Key('8'));
    assert_eq!(steps(&outs), ["help"]);
    assert_eq!(played(&outs), ["en/emergency_info"]);
}

#[test]
fn the_crisis_key_skips_the_emergency_announcement() {
    let set = flow(EMERGENCY_FLOW);
    let mut c = call_em(&set, OTTAWA, WEEKDAY, true);
    c.start();
    let outs = c.handle(Input::Key('9'));
    assert_eq!(route(&outs).unwrap().target, Target::Crisis);
    assert!(played(&outs).is_empty(), "{outs:?}");
}

#[test]
fn with_emergency_mode_off_the_option_and_announcement_vanish() {
    let set = flow(EMERGENCY_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    let outs = c.handle(Input::Key('1'));
    assert_eq!(played(&outs), ["en/topic_menu"]);
    let outs = c.handle(Input::Key('8'));
    assert_eq!(
        played(&outs),
        ["en/no_match", "en/topic_menu"],
        "8 is no choice"
    );
}

#[test]
fn emergency_mode_switched_on_during_a_call_counts_from_the_next_menu() {
    let set = flow(EMERGENCY_FLOW);
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    c.handle(Input::Emergency(true));
    let outs = c.handle(Input::Key('1'));
    assert_eq!(
        played(&outs),
        [
            "en/emergency_announcement",
            "en/topic_menu",
            "en/emergency_option"
        ]
    );
    c.handle(Input::Emergency(false));
    let outs = c.handle(Input::Key('8'));
    assert_eq!(played(&outs)[0], "en/no_match");
}

#[test]
fn the_shipped_flow_routes_an_ottawa_caller_and_a_crisis_caller() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let set = Arc::new(
        FlowSet::load(&dir.join("flows"), &dir.join("prompts")).unwrap_or_else(|d| panic!("{d}")),
    );
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    c.handle(Input::Key('1'));
    let r = route(&c.handle(Input::Key('1'))).unwrap().clone();
    assert_eq!(r.target, Target::Centre("ottawa".into()));
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    assert_eq!(
        route(&c.handle(Input::Key('9'))).unwrap().target,
        Target::Crisis
    );
}

fn facts(outs: &[Output]) -> Vec<Fact> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Fact(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn what_the_call_learns_comes_out_as_typed_facts() {
    use crate::regions::RegionSource;
    let set = flow(MENU_FLOW);
    let region = |region: &str, source| Fact::Region {
        region: region.into(),
        source,
    };
    // A 3-digit area-code row: Ottawa.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    assert_eq!(
        facts(&c.start()),
        [
            Fact::Caller(Caller::Number(OTTAWA.into())),
            region("east", RegionSource::AreaCode)
        ]
    );
    c.handle(Input::Key('2'));
    c.handle(Input::PromptsFinished);
    let outs = c.handle(Input::Key('1'));
    assert_eq!(
        facts(&outs),
        [Fact::Topic("housing".into()), Fact::Centre("ottawa".into())]
    );
    // A 6-digit exchange row: Collingwood.
    let mut c = call(&set, "+17054451234", WEEKDAY);
    assert_eq!(
        facts(&c.start())[1],
        region("central", RegionSource::Exchange)
    );
    // The language, then the crisis route.
    let mut c = call(&set, OTTAWA, WEEKDAY);
    c.start();
    assert_eq!(
        facts(&c.handle(Input::Key('2'))),
        [Fact::Language(Lang::Fr)]
    );
    assert_eq!(facts(&c.handle(Input::Key('9'))), [Fact::Crisis(true)]);
}

#[test]
fn a_withheld_caller_is_a_fact_and_the_region_menu_names_its_source() {
    use crate::regions::RegionSource;
    let set = flow(
        r#"
start: ask
global_keys:
  "9": { goto: crisis }
nodes:
  ask:
    menu: { prompt: [region_menu], options: { "2": set_north }, default: out }
  set_north: { set: { region: north, team: b }, next: out }
  out: { route: { to: region } }
  crisis: { route: { to: crisis } }
"#,
    );
    let mut c = call(&set, "anonymous", WEEKDAY);
    assert_eq!(facts(&c.start()), [Fact::Caller(Caller::Withheld)]);
    let outs = c.handle(Input::Key('2'));
    assert_eq!(
        facts(&outs)[..2],
        [
            Fact::Region {
                region: "north".into(),
                source: RegionSource::RegionMenu
            },
            Fact::Variable {
                name: "team".into(),
                value: "b".into()
            }
        ]
    );
}
