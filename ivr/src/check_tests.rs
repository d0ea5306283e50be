//! Validation tests: one broken fixture per kind of problem the checker
//! reports, each asserting the exact `file:line:col: message` of every
//! diagnostic it produces.
//!
//! Fixtures are the shipped flow set (`flows/`, `prompts/catalog.yaml`, every
//! catalog prompt recorded in both languages) with ONE edit applied, or a
//! small flow of the test's own where that is clearer. Positions in edits of
//! the shipped files are found with [`pos`] (the unique occurrence of a
//! piece of text), so the tests say *which token* a message points at and
//! survive unrelated edits of the shipped files; positions in the small
//! flows are written out.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::flowset::{FlowSet, Kind, Lang, Sources};

const FLOW: &str = include_str!("../../flows/211.yaml");
const CENTRES: &str = include_str!("../../flows/centres.yaml");
const REGIONS: &str = include_str!("../../flows/regions.csv");
const CATALOG: &str = include_str!("../../prompts/catalog.yaml");

const FLOW_FILE: &str = "flows/211.yaml";
const CENTRES_FILE: &str = "flows/centres.yaml";
const REGIONS_FILE: &str = "flows/regions.csv";
const CATALOG_FILE: &str = "prompts/catalog.yaml";

/// The prompt ids of the catalog: lines `id:` at the start of a line.
fn catalog_ids() -> Vec<&'static str> {
    CATALOG
        .lines()
        .filter_map(|l| l.strip_suffix(':'))
        .filter(|id| !id.starts_with([' ', '#']))
        .collect()
}

/// The shipped flow set, every catalog prompt recorded in both languages.
fn shipped() -> Sources {
    let mut recordings = HashSet::new();
    for id in catalog_ids() {
        for lang in Lang::ALL {
            recordings.insert((lang, id.to_owned()));
        }
    }
    Sources {
        flows: vec![(PathBuf::from(FLOW_FILE), FLOW.to_owned())],
        centres: (PathBuf::from(CENTRES_FILE), CENTRES.to_owned()),
        regions: (PathBuf::from(REGIONS_FILE), REGIONS.to_owned()),
        catalog: (PathBuf::from(CATALOG_FILE), CATALOG.to_owned()),
        recordings,
        prompts_dir: PathBuf::from("prompts"),
        recordings_digest: Vec::new(),
    }
}

/// The shipped set with its flow files replaced by `flows` (name, text).
fn with_flows(flows: &[(&str, &str)]) -> Sources {
    let mut s = shipped();
    s.flows = flows
        .iter()
        .map(|(n, t)| (PathBuf::from(n), (*t).to_owned()))
        .collect();
    s
}

/// The shipped set with `flows/211.yaml` replaced by `text`.
fn with_flow(text: &str) -> Sources {
    with_flows(&[(FLOW_FILE, text)])
}

/// `text` with the one occurrence of `from` replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the fixture edit expects `{from}` exactly once"
    );
    text.replacen(from, to, 1)
}

/// The 1-based line and column of the one occurrence of `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "`{needle}` must occur exactly once to name a position"
    );
    let offset = text.find(needle).unwrap_or_default();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// The position `n` characters right of `at`.
fn right((line, col): (usize, usize), n: usize) -> (usize, usize) {
    (line, col + n)
}

/// `file:line:col: message`, as the checker prints it.
fn diag(file: &str, (line, col): (usize, usize), message: &str) -> String {
    format!("{file}:{line}:{col}: {message}")
}

/// Every diagnostic of `src`, as printed (none when it compiles).
fn problems(src: &Sources) -> Vec<String> {
    match FlowSet::compile(src) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(ToString::to_string).collect(),
    }
}

/// Assert that `src` has exactly one problem and return it.
fn only_problem(src: &Sources) -> String {
    let p = problems(src);
    assert_eq!(
        p.len(),
        1,
        "expected exactly one problem, got:\n{}",
        p.join("\n")
    );
    p.into_iter().next().unwrap_or_default()
}

/// A small complete main flow: a menu, a route and the crisis key.
const MINI: &str = "\
start: greeting
global_keys:
  \"9\": { goto: crisis }
nodes:
  greeting:
    menu:
      prompt: [welcome]
      options:
        \"1\": help
      default: help
  help:
    route: { to: region }
  crisis:
    route: { to: crisis }
";

// ---------------------------------------------------------------------------
// 1. The shipped set.

#[test]
fn shipped_set_compiles_without_problems() {
    let set = match FlowSet::compile(&shipped()) {
        Ok(set) => set,
        Err(d) => panic!("the shipped flow set has problems:\n{d}"),
    };
    // One node per `  name:` line under `nodes:` in 211.yaml.
    let nodes = FLOW
        .split_once("\nnodes:\n")
        .map(|(_, n)| n)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.len() > 2
                && l.starts_with("  ")
                && !l[2..].starts_with([' ', '#'])
                && l.ends_with(':')
        })
        .count();
    assert_eq!(set.nodes.len(), nodes);
    assert_eq!(set.nodes.len(), 21);
    assert_eq!(set.nodes[set.start].id, "greeting");
    assert_eq!(set.global_keys.len(), 1);
    assert_eq!(set.global_keys[0].key, '9');
    assert_eq!(set.nodes[set.global_keys[0].goto].id, "crisis");
    assert_eq!(set.centres.len(), 6);
    assert!(matches!(set.nodes[set.start].kind, Kind::Menu(_)));
}

#[test]
fn shipped_directories_load_with_their_recordings() {
    // The same set read from disk: every prompt has both WAV files.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Err(d) = FlowSet::load(&root.join("flows"), &root.join("prompts")) {
        panic!("flows/ and prompts/ do not load:\n{d}");
    }
}

#[test]
fn the_small_fixture_flow_compiles() {
    assert_eq!(problems(&with_flow(MINI)), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// 2. YAML syntax.

#[test]
fn bad_indentation_is_reported_where_the_parser_stops() {
    let text = edit(
        FLOW,
        "    language: en\n    next: find_region",
        "    language: en\n   next: find_region",
    );
    // The line after `language: en`, where `next:` starts one column early.
    let line = pos(&text, "language: en").0 + 1;
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (line, 4),
            "while parsing a block mapping, did not find expected key (check the indentation)"
        )
    );
}

#[test]
fn unclosed_quote_is_reported_at_the_quote() {
    let text = MINI.replace("route: { to: crisis }", "route: { to: \"crisis }");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, (14, 18), "unclosed quote")
    );
}

// ---------------------------------------------------------------------------
// 3. Schema.

#[test]
fn unknown_field_in_a_menu() {
    let text = edit(FLOW, "prompt: [topic_menu]", "promt: [topic_menu]");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "promt:"),
            "unknown field `promt` (did you mean `prompt`?), expected one of prompt, options, timeout_s, tries, no_input, no_match, default"
        )
    );
}

#[test]
fn wrong_type_for_tries() {
    let text = edit(
        FLOW,
        "      tries: 2\n      default: topic_other",
        "      tries: many\n      default: topic_other",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "many"),
            "expected a whole number, found `many`"
        )
    );
}

#[test]
fn missing_required_field() {
    let text = MINI.replace("      default: help\n", "");
    assert_eq!(
        only_problem(&with_flow(&text)),
        // The parser points at `options:`, the last key it read; the
        // checker names the mapping that lacks the field.
        diag(FLOW_FILE, (6, 5), "`menu` is missing `default:`")
    );
}

#[test]
fn duplicate_node_in_one_file() {
    let text = edit(FLOW, "  french:\n", "  english:\n");
    let second = (pos(&text, "  english:\n    language: fr").0, 3);
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            second,
            "duplicate mapping key `english` is not allowed here"
        )
    );
}

#[test]
fn duplicate_option_key_in_a_menu() {
    let text = edit(FLOW, "\"2\": french", "\"1\": french");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "\"1\": french"),
            "duplicate mapping key `1` is not allowed here"
        )
    );
}

#[test]
fn same_key_quoted_and_unquoted_in_a_menu() {
    // `1:` and `"1":` are different YAML keys but the same phone key.
    let text = edit(FLOW, "\"2\": french", "1: french");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "1: french"),
            "menu `greeting` has key 1 twice: first for `english`"
        )
    );
}

#[test]
fn key_that_is_not_a_phone_key() {
    let text = edit(FLOW, "\"0\": topic_other", "\"10\": topic_other");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "\"10\""),
            "`10` is not a phone key: use one of 0-9, * or # (quote * and #)"
        )
    );
}

#[test]
fn tries_out_of_range() {
    let text = edit(
        FLOW,
        "      tries: 2\n      default: topic_other",
        "      tries: 0\n      default: topic_other",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            right(pos(&text, "tries: 0"), 7),
            "0 tries is out of range: use 1 to 10"
        )
    );
}

// ---------------------------------------------------------------------------
// 4. Unknown nodes.

#[test]
fn unknown_node_in_next_with_a_hint() {
    let text = edit(
        FLOW,
        "language: fr\n    next: find_region",
        "language: fr\n    next: find_regoin",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "find_regoin"),
            "unknown node `find_regoin` (did you mean `find_region`?)"
        )
    );
}

#[test]
fn menu_option_to_nowhere() {
    let text = edit(FLOW, "\"4\": topic_income", "\"4\": topic_incom");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "topic_incom\n"),
            "unknown node `topic_incom` (did you mean `topic_income`?)"
        )
    );
}

#[test]
fn unknown_menu_default_without_a_close_name() {
    let text = edit(FLOW, "default: topic_other", "default: nowhere");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, pos(&text, "nowhere"), "unknown node `nowhere`")
    );
}

#[test]
fn unknown_node_in_a_global_key() {
    let text = edit(FLOW, "goto: crisis,", "goto: crises,");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "crises"),
            "unknown node `crises` (did you mean `crisis`?)"
        )
    );
}

#[test]
fn unknown_node_in_a_global_key_from() {
    let text = edit(FLOW, "from: greeting", "from: greting");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "greting"),
            "unknown node `greting` (did you mean `greeting`?)"
        )
    );
}

#[test]
fn unknown_node_in_a_switch_case() {
    let text = edit(FLOW, "unknown: region_menu", "unknown: region_menus");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "region_menus"),
            "unknown node `region_menus` (did you mean `region_menu`?)"
        )
    );
}

#[test]
fn unknown_start_node() {
    let text = edit(FLOW, "start: greeting", "start: welcome");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, pos(&text, "welcome\n"), "unknown node `welcome`")
    );
}

#[test]
fn unknown_node_in_the_emergency_option() {
    let text = edit(FLOW, "goto: emergency_help", "goto: emergency_hlp");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "emergency_hlp"),
            "unknown node `emergency_hlp` (did you mean `emergency_help`?)"
        )
    );
}

// ---------------------------------------------------------------------------
// 5. Duplicate node across files.

#[test]
fn duplicate_node_across_two_files_names_the_first_definition() {
    let sub = "\
subflow: extra
start: topic
nodes:
  topic:
    return: true
";
    let src = with_flows(&[(FLOW_FILE, FLOW), ("flows/extra.yaml", sub)]);
    let first = pos(FLOW, "  topic:\n");
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/extra.yaml",
            (4, 3),
            &format!(
                "duplicate node `topic`: first defined at {FLOW_FILE}:{}:{}",
                first.0,
                first.1 + 2
            )
        )
    );
}

// ---------------------------------------------------------------------------
// 6. Unreachable node.

#[test]
fn node_nothing_reaches() {
    let text = format!("{FLOW}  orphan:\n    goto: topic\n");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            right(pos(&text, "  orphan:"), 2),
            "node `orphan` is never reached from the start"
        )
    );
}

// ---------------------------------------------------------------------------
// 7. Loops without caller input.

#[test]
fn goto_loop_without_input() {
    let text = MINI.replace("\"1\": help", "\"1\": help\n        \"2\": ping")
        + "  ping:\n    goto: pong\n  pong:\n    goto: ping\n";
    assert_eq!(
        problems(&with_flow(&text)),
        [diag(
            FLOW_FILE,
            (16, 3),
            "loop with no caller input: ping -> pong -> ping (put a menu in it)"
        )]
    );
}

#[test]
fn switch_loop_without_input() {
    let text = MINI.replace("\"1\": help", "\"1\": help\n        \"2\": which")
        + "  which:\n    switch:\n      on: language\n      cases:\n        fr: mark\n      default: help\n  mark:\n    set: { topic: other }\n    next: which\n";
    assert_eq!(
        problems(&with_flow(&text)),
        [diag(
            FLOW_FILE,
            (16, 3),
            "loop with no caller input: which -> mark -> which (put a menu in it)"
        )]
    );
}

#[test]
fn loop_through_a_menu_is_fine() {
    let text = MINI.replace("\"1\": help", "\"1\": help\n        \"2\": again")
        + "  again:\n    play: [no_match]\n    next: greeting\n";
    assert_eq!(problems(&with_flow(&text)), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// 8. Prompts.

#[test]
fn prompt_not_in_the_catalog() {
    let text = edit(FLOW, "[emergency_info]", "[emergency_infos]");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "emergency_infos"),
            "prompt `emergency_infos` is not in prompts/catalog.yaml"
        )
    );
}

#[test]
fn prompt_without_its_french_recording() {
    let mut src = shipped();
    src.recordings
        .remove(&(Lang::Fr, "emergency_info".to_owned()));
    assert_eq!(
        only_problem(&src),
        diag(
            FLOW_FILE,
            pos(FLOW, "emergency_info]"),
            "prompt `emergency_info` has no French recording (prompts/fr/emergency_info.wav)"
        )
    );
}

#[test]
fn catalog_entry_without_its_french_text() {
    let mut src = shipped();
    let fr = CATALOG
        .lines()
        .skip_while(|l| *l != "emergency_911:")
        .nth(2)
        .unwrap_or_default();
    assert!(fr.starts_with("  fr: "), "{fr}");
    src.catalog.1 = edit(CATALOG, &format!("{fr}\n"), "");
    assert_eq!(
        only_problem(&src),
        diag(
            CATALOG_FILE,
            pos(&src.catalog.1, "emergency_911:\n"),
            "prompt `emergency_911` has no French text"
        )
    );
}

// ---------------------------------------------------------------------------
// 9. Centres, routes and regions.

#[test]
fn route_to_an_unknown_centre() {
    let text = edit(FLOW, "to: region\n", "to: centre:nowhere\n");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "centre:nowhere"),
            "unknown centre `nowhere`: centres.yaml has ottawa, thunder_bay, collingwood, st_catharines, toronto, windsor"
        )
    );
}

#[test]
fn route_to_an_unknown_target() {
    let text = edit(FLOW, "to: region\n", "to: somewhere\n");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "somewhere"),
            "unknown route target `somewhere`: use region, crisis, centre:ID or a sip: URI"
        )
    );
}

#[test]
fn route_to_a_bad_sip_uri() {
    let text = edit(FLOW, "to: region\n", "to: sip:nobody\n");
    // (An outside line offers no callback.)
    let text = edit(&text, "      callback: true\n", "");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "sip:nobody"),
            "`sip:nobody` is not a SIP URI: write it as sip:user@host[:port]"
        )
    );
}

#[test]
fn a_callback_offered_on_the_crisis_route() {
    let text = edit(
        FLOW,
        "      priority: crisis\n",
        "      priority: crisis\n      callback: true\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            {
                let (line, _) = pos(&text, "priority: crisis\n      callback: true");
                (line + 1, 17)
            },
            "callback: a callback is offered only in a centre's queue (to: region or centre:ID), never to crisis calls or outside lines"
        )
    );
}

#[test]
fn a_centre_overflow_wait_that_is_not_a_number() {
    let mut src = shipped();
    src.centres.1 = edit(
        CENTRES,
        "    overflow: [ottawa]\n",
        "    overflow: [ottawa]\n    overflow_after_s: soon\n",
    );
    let found = problems(&src);
    assert_eq!(found.len(), 1, "{found:?}");
    let (line, col) = pos(&src.centres.1, "soon");
    assert!(
        found[0].starts_with(&format!("{CENTRES_FILE}:{line}:{col}: ")),
        "{found:?}"
    );
}

#[test]
fn route_with_an_unknown_priority() {
    let text = edit(FLOW, "priority: crisis", "priority: urgent");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "urgent"),
            "unknown priority `urgent`: use normal, high or crisis"
        )
    );
}

#[test]
fn set_an_unknown_region() {
    let text = edit(FLOW, "set: { region: east }", "set: { region: easst }");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "easst"),
            "unknown region `easst`: centres.yaml serves east, north, central, central_south, toronto, southwest"
        )
    );
}

#[test]
fn regions_csv_row_with_a_region_no_centre_serves() {
    let mut src = shipped();
    src.regions.1 = edit(REGIONS, "807,north,", "807,nowhere,");
    assert_eq!(
        only_problem(&src),
        diag(
            REGIONS_FILE,
            pos(&src.regions.1, "nowhere"),
            "region `nowhere` is served by no centre in centres.yaml (or use `ask`: the caller is asked their region)"
        )
    );
}

#[test]
fn regions_csv_bad_prefix() {
    let mut src = shipped();
    src.regions.1 = edit(REGIONS, "807,north,", "80x,north,");
    let p = only_problem(&src);
    let at = pos(&src.regions.1, "80x");
    assert!(
        p.starts_with(&diag(REGIONS_FILE, at, "")),
        "{p} is not at {at:?}"
    );
}

#[test]
fn centre_hours_with_a_bad_time() {
    let mut src = shipped();
    src.centres.1 = edit(CENTRES, "sat: \"09:00-17:00\"", "sat: \"09:00-17:70\"");
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            pos(&src.centres.1, "\"09:00-17:70\""),
            "bad time `17:70`: use HH:MM, 00:00 to 24:00"
        )
    );
}

#[test]
fn centre_hours_with_a_bad_day() {
    let mut src = shipped();
    src.centres.1 = edit(CENTRES, "sat: \"09:00-17:00\"", "sta: \"09:00-17:00\"");
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            pos(&src.centres.1, "sta:"),
            "unknown day `sta`: use mon..sun, mon-fri, daily or holidays"
        )
    );
}

#[test]
fn centre_hours_with_a_range_ending_before_it_starts() {
    let mut src = shipped();
    src.centres.1 = edit(CENTRES, "sat: \"09:00-17:00\"", "sat: \"17:00-09:00\"");
    let p = only_problem(&src);
    let at = pos(&src.centres.1, "\"17:00-09:00\"");
    assert!(
        p.starts_with(&diag(CENTRES_FILE, at, "bad range `17:00-09:00`")),
        "{p}"
    );
}

#[test]
fn centre_with_empty_hours() {
    let mut src = shipped();
    src.centres.1 = edit(
        CENTRES,
        "    hours:\n      daily: always\n",
        "    hours: {}\n",
    );
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            right(pos(&src.centres.1, "  toronto:\n"), 2),
            "centre `toronto`: opening hours are empty: give at least `daily: always` or one day range"
        )
    );
}

#[test]
fn centre_overflow_to_an_unknown_centre() {
    let mut src = shipped();
    src.centres.1 = edit(CENTRES, "overflow: [ottawa]", "overflow: [otawa]");
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            pos(&src.centres.1, "otawa"),
            "overflow to unknown centre `otawa`"
        )
    );
}

#[test]
fn centre_with_a_bad_external_uri() {
    let mut src = shipped();
    src.centres.1 = edit(
        CENTRES,
        "\"sip:211toronto@pbx.toronto.example.org\"",
        "\"211toronto@pbx.toronto.example.org\"",
    );
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            pos(&src.centres.1, "\"211toronto@"),
            "`211toronto@pbx.toronto.example.org` is not a SIP URI: write it as sip:user@host[:port]"
        )
    );
}

// ---------------------------------------------------------------------------
// 10. Duplicate keys.

#[test]
fn menu_option_using_the_global_crisis_key() {
    let text = edit(FLOW, "\"0\": topic_other", "\"9\": topic_other");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "\"9\": topic_other"),
            "menu `topic` uses key 9, a global key: callers pressing 9 always get the global action"
        )
    );
}

#[test]
fn menu_option_clashing_with_the_emergency_option() {
    let text = edit(FLOW, "\"0\": topic_other", "\"8\": topic_other");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "\"8\": topic_other"),
            "menu `topic` uses key 8, the emergency option's key in this menu"
        )
    );
}

#[test]
fn emergency_option_using_a_global_key() {
    let text = edit(FLOW, "key: \"8\"", "key: \"9\"");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "\"9\"\n"),
            "the emergency option uses key 9, a global key: callers pressing 9 always get the global action"
        )
    );
}

#[test]
fn emergency_option_listing_a_node_that_is_not_a_menu() {
    let text = edit(FLOW, "menus: [topic]", "menus: [topic, to_region]");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "to_region]"),
            "emergency option lists `to_region`, which is not a menu"
        )
    );
}

// ---------------------------------------------------------------------------
// 11. Node kinds and next.

#[test]
fn node_with_two_kinds() {
    let text = edit(
        FLOW,
        "play: [emergency_info]\n",
        "play: [emergency_info]\n    goto: topic\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            right(pos(&text, "  emergency_help:"), 2),
            "node `emergency_help` has play and goto: a node does one thing; split it and link the parts with next"
        )
    );
}

#[test]
fn node_with_no_kind() {
    let text = edit(FLOW, "    play: [emergency_info]\n", "");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            right(pos(&text, "  emergency_help:"), 2),
            "node `emergency_help` does nothing: give it one of play, menu, language, collect, switch, set, route, hangup, goto, include, return"
        )
    );
}

#[test]
fn play_node_without_next() {
    let text = edit(FLOW, "    next: topic_emergency\n", "");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            right(pos(&text, "  emergency_help:"), 2),
            "node `emergency_help` (play) needs `next:`: where the call goes after it"
        )
    );
}

#[test]
fn route_node_with_next() {
    let text = edit(
        FLOW,
        "      prompt: [connecting]\n",
        "      prompt: [connecting]\n    next: topic\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (pos(&text, "[connecting]\n").0 + 1, 11),
            "a route node has no `next:` (it decides where the call goes itself)"
        )
    );
}

// ---------------------------------------------------------------------------
// 12. The crisis key and menu defaults.

#[test]
fn no_crisis_key() {
    let text = edit(
        FLOW,
        "global_keys:\n  \"9\": { goto: crisis, from: greeting }\n",
        "",
    );
    assert_eq!(
        problems(&with_flow(&text)),
        [
            diag(
                FLOW_FILE,
                right(pos(&text, "start: greeting"), 7),
                "no crisis key: the main flow needs a global key that works from its start and routes to crisis (e.g. global_keys: {\"9\": {goto: crisis}})"
            ),
            // Without the key, nothing leads to the crisis node either.
            diag(
                FLOW_FILE,
                right(pos(&text, "  crisis:\n"), 2),
                "node `crisis` is never reached from the start"
            ),
        ]
    );
}

#[test]
fn crisis_key_not_from_the_start() {
    let text = edit(FLOW, "from: greeting", "from: topic");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "topic }"),
            "the crisis key 9 works only from `topic`: it must work from the start (`greeting`), from the very first prompt; remove `from:` or name the start"
        )
    );
}

#[test]
fn global_key_that_does_not_reach_crisis() {
    let text = edit(FLOW, "goto: crisis, from", "goto: topic, from");
    assert_eq!(
        problems(&with_flow(&text)),
        [
            diag(
                FLOW_FILE,
                pos(&text, "\"9\""),
                "no crisis key: the main flow needs a global key that works from its start and routes to crisis (e.g. global_keys: {\"9\": {goto: crisis}})"
            ),
            diag(
                FLOW_FILE,
                right(pos(&text, "  crisis:\n"), 2),
                "node `crisis` is never reached from the start"
            ),
        ]
    );
}

#[test]
fn menu_default_leading_to_a_hangup() {
    let text =
        edit(FLOW, "default: topic_other", "default: bye") + "  bye:\n    hangup: [goodbye]\n";
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "bye\n"),
            "menu `topic`: its default `bye` does not lead to a route; a caller who presses nothing must still reach someone"
        )
    );
}

// ---------------------------------------------------------------------------
// 13. Sub-flows.

const MAIN_WITH_INCLUDE: &str = "\
start: greeting
global_keys:
  \"9\": { goto: crisis }
nodes:
  greeting:
    menu:
      prompt: [welcome]
      options:
        \"1\": ask_topic
      default: ask_topic
  ask_topic:
    include: topics
    next: to_region
  to_region:
    route: { to: region }
  crisis:
    route: { to: crisis }
";

const TOPICS: &str = "\
subflow: topics
start: topic
nodes:
  topic:
    menu:
      prompt: [topic_menu]
      options:
        \"1\": housing
      default: done
  housing:
    set: { topic: housing }
    next: done
  done:
    return: true
";

#[test]
fn include_subflow_and_return_compile() {
    let src = with_flows(&[
        (FLOW_FILE, MAIN_WITH_INCLUDE),
        ("flows/topics.yaml", TOPICS),
    ]);
    let set = match FlowSet::compile(&src) {
        Ok(set) => set,
        Err(d) => panic!("{d}"),
    };
    let include = set.node("ask_topic").map(|i| &set.nodes[i].kind);
    assert!(
        matches!(include, Some(Kind::Include { start, .. }) if set.nodes[*start].id == "topic"),
        "{include:?}"
    );
}

#[test]
fn return_in_the_main_flow() {
    let text = edit(
        FLOW,
        "play: [emergency_info]\n    next: topic_emergency",
        "return: true",
    );
    assert_eq!(
        problems(&with_flow(&text)),
        [diag(
            FLOW_FILE,
            {
                let (line, col) = pos(&text, "return: true");
                (line, col + "return: ".len())
            },
            "`return` is only for sub-flows (files with `subflow:`)"
        )]
    );
}

#[test]
fn include_of_an_unknown_subflow() {
    let src = with_flows(&[
        (
            FLOW_FILE,
            &MAIN_WITH_INCLUDE.replace("include: topics", "include: topic"),
        ),
        ("flows/topics.yaml", TOPICS),
    ]);
    assert_eq!(
        only_problem(&src),
        diag(
            FLOW_FILE,
            (12, 14),
            "unknown sub-flow `topic` (did you mean `topics`?)"
        )
    );
}

#[test]
fn two_main_flows() {
    let second = "start: extra\nnodes:\n  extra:\n    route: { to: region }\n";
    let src = with_flows(&[(FLOW_FILE, MINI), ("flows/extra.yaml", second)]);
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/extra.yaml",
            (1, 8),
            "a second main flow (no `subflow:` name): the main flow is flows/211.yaml"
        )
    );
}

// ---------------------------------------------------------------------------
// 14. Every problem in one run, sorted.

#[test]
fn every_problem_of_a_broken_set_in_one_run_sorted() {
    let text = MINI
        .replace("prompt: [welcome]", "prompt: [welcom]")
        .replace("\"1\": help", "\"1\": help\n        \"22\": help")
        .replace("to: region", "to: centre:nowhere")
        + "  orphan:\n    set: { region: easst }\n    next: help\n";
    let mut src = with_flow(&text);
    src.regions.1 = edit(REGIONS, "807,north,", "807,nowhere,");
    let at_csv = pos(&src.regions.1, "nowhere");
    assert_eq!(
        problems(&src),
        [
            diag(
                FLOW_FILE,
                (7, 16),
                "prompt `welcom` is not in prompts/catalog.yaml"
            ),
            diag(
                FLOW_FILE,
                (10, 9),
                "`22` is not a phone key: use one of 0-9, * or # (quote * and #)"
            ),
            diag(
                FLOW_FILE,
                (13, 18),
                "unknown centre `nowhere`: centres.yaml has ottawa, thunder_bay, collingwood, st_catharines, toronto, windsor"
            ),
            diag(
                FLOW_FILE,
                (16, 3),
                "node `orphan` is never reached from the start"
            ),
            diag(
                FLOW_FILE,
                (17, 20),
                "unknown region `easst`: centres.yaml serves east, north, central, central_south, toronto, southwest"
            ),
            diag(
                REGIONS_FILE,
                at_csv,
                "region `nowhere` is served by no centre in centres.yaml (or use `ask`: the caller is asked their region)"
            ),
        ]
    );
}

// ---------------------------------------------------------------------------
// More schema and node checks.

#[test]
fn missing_top_level_field() {
    let text = MINI.replace("start: greeting\n", "");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, (1, 1), "the file is missing `start:`")
    );
}

#[test]
fn missing_field_of_a_centre_names_the_centre() {
    let mut src = shipped();
    src.centres.1 = edit(CENTRES, "    city: Toronto\n", "");
    // Only the parser's problem: no "unknown region" for every `set:` of
    // the flow because the centres could not be read.
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            right(pos(&src.centres.1, "  toronto:\n"), 2),
            "`toronto` is missing `city:`"
        )
    );
}

#[test]
fn unknown_top_level_field_with_a_hint() {
    let text = MINI.replace("global_keys:", "global_key:");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (2, 1),
            "unknown field `global_key` (did you mean `global_keys`?), expected one of subflow, start, global_keys, emergency, schedules, nodes"
        )
    );
}

#[test]
fn a_list_where_a_name_belongs() {
    let text = MINI.replace("start: greeting", "start: [greeting]");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (1, 8),
            "expected a single value here (a name or a text), not a list or a mapping"
        )
    );
}

#[test]
fn empty_flow_file() {
    assert_eq!(
        only_problem(&with_flow("")),
        diag(FLOW_FILE, (1, 1), "unexpected end of file")
    );
}

#[test]
fn negative_tries_and_long_timeout() {
    let text = MINI.replace(
        "      default: help\n",
        "      default: help\n      timeout_s: 500\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (11, 18),
            "500 seconds is out of range: use 1 to 120"
        )
    );
    let text = MINI.replace(
        "      default: help\n",
        "      default: help\n      tries: -1\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, (11, 14), "expected a whole number, found `-1`")
    );
}

#[test]
fn bad_node_name() {
    let text = MINI.replace("\"1\": help", "\"1\": Help") + "  Help:\n    goto: help\n";
    assert_eq!(
        problems(&with_flow(&text)),
        [diag(
            FLOW_FILE,
            (15, 3),
            "node name `Help`: use lowercase letters, digits and _"
        )]
    );
}

#[test]
fn collect_problems() {
    let text = MINI.replace(
        "  help:\n",
        "  help:\n    collect: { var: Acct, prompt: [welcome], min: 5, max: 3, terminator: x }\n    next: to_queue\n  to_queue:\n",
    );
    assert_eq!(
        problems(&with_flow(&text)),
        [
            diag(
                FLOW_FILE,
                (12, 21),
                "variable name `Acct`: use lowercase letters, digits and _"
            ),
            diag(
                FLOW_FILE,
                (12, 59),
                "collect lengths min 5 max 3: need 1 <= min <= max <= 32"
            ),
            diag(
                FLOW_FILE,
                (12, 74),
                "`x` is not a phone key: use one of 0-9, * or # (quote * and #)"
            ),
        ]
    );
}

#[test]
fn collect_failing_into_a_hangup() {
    let text = MINI.replace(
        "  help:\n",
        "  help:\n    collect: { var: acct, prompt: [welcome], max: 3, fail: bye }\n    next: to_queue\n  bye:\n    hangup: [goodbye]\n  to_queue:\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 60),
            "collect `help`: when its tries run out it goes to `bye`, which does not lead to a route; a caller who enters nothing must still reach someone (give it `fail:`)"
        )
    );
}

#[test]
fn switch_problems() {
    let case = |sw: &str| {
        MINI.replace(
            "  help:\n",
            &format!("  help:\n    switch: {sw}\n  to_queue:\n"),
        )
    };
    let text = case("{ on: colour, cases: { red: to_queue }, default: to_queue }");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 19),
            "cannot switch on `colour`: use region, language, emergency, withheld, schedule:NAME or var:NAME"
        )
    );
    let text = case("{ on: language, cases: { de: to_queue }, default: to_queue }");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 38),
            "`de` never matches `language`: its values are en, fr, none"
        )
    );
    let text = case("{ on: \"schedule:nite\", cases: { open: to_queue }, default: to_queue }");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 19),
            "unknown schedule `nite`: name a schedule of this flow or a centre"
        )
    );
    // A centre's hours are a schedule too.
    let text = case("{ on: \"schedule:ottawa\", cases: { open: to_queue }, default: to_queue }");
    assert_eq!(problems(&with_flow(&text)), Vec::<String>::new());
}

#[test]
fn set_problems() {
    let text = MINI.replace(
        "  help:\n",
        "  help:\n    set: { language: fr, Topic: x }\n    next: to_queue\n  to_queue:\n",
    );
    assert_eq!(
        problems(&with_flow(&text)),
        [
            diag(
                FLOW_FILE,
                (12, 12),
                "`language` is set by the engine (use a language or route node)"
            ),
            diag(
                FLOW_FILE,
                (12, 26),
                "attribute name `Topic`: use lowercase letters, digits and _"
            ),
        ]
    );
}

#[test]
fn unknown_language() {
    let text = edit(FLOW, "language: fr", "language: de");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "de\n"),
            "unknown language `de`: use en or fr"
        )
    );
}

#[test]
fn global_key_declared_twice() {
    // `9:` and `"9":` are two YAML keys but one phone key.
    let text = edit(FLOW, "  \"9\": {", "  9: { goto: topic }\n  \"9\": {");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "\"9\": {"),
            "global key 9 is declared twice: first going to `topic`"
        )
    );
}

#[test]
fn global_key_that_is_not_a_phone_key() {
    let text = MINI.replace(
        "\"9\": { goto: crisis }",
        "\"x\": { goto: crisis }\n  \"9\": { goto: crisis }",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (3, 3),
            "`x` is not a phone key: use one of 0-9, * or # (quote * and #)"
        )
    );
}

#[test]
fn unknown_emergency_after_node() {
    let text = edit(FLOW, "after: greeting", "after: greting");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            pos(&text, "greting"),
            "unknown node `greting` (did you mean `greeting`?)"
        )
    );
}

// ---------------------------------------------------------------------------
// More prompt checks.

#[test]
fn default_prompt_without_a_recording_says_whose_default_it_is() {
    let mut src = with_flow(MINI);
    src.recordings.remove(&(Lang::En, "no_input".to_owned()));
    assert_eq!(
        only_problem(&src),
        diag(
            FLOW_FILE,
            (5, 3),
            "prompt `no_input` has no English recording (prompts/en/no_input.wav); `greeting` uses it as its default `no_input:`"
        )
    );
}

#[test]
fn catalog_syntax_error_is_reported_once() {
    let mut src = shipped();
    src.catalog.1 = edit(CATALOG, "welcome:\n", "welcome:\n  en \"x\n");
    // Not also "prompt … is not in the catalog" for every prompt of the flow.
    assert_eq!(
        only_problem(&src),
        diag(
            CATALOG_FILE,
            (pos(&src.catalog.1, "welcome:\n").0 + 1, 3),
            "expected `name: value` entries here (a mapping), indented under their parent"
        )
    );
}

#[test]
fn empty_catalog_is_reported_once() {
    let mut src = shipped();
    src.catalog.1 = "# nothing yet\n".to_owned();
    assert_eq!(
        only_problem(&src),
        diag(
            CATALOG_FILE,
            (1, 1),
            "the prompt catalog is empty: every prompt a flow plays needs an entry here"
        )
    );
}

// ---------------------------------------------------------------------------
// More centre and region checks.

#[test]
fn centre_without_languages() {
    let mut src = shipped();
    src.centres.1 = edit(
        CENTRES,
        "  collingwood:\n",
        "  collingwood:\n    languages: []\n",
    )
    .replacen("    languages: [en]\n", "", 1);
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            right(pos(&src.centres.1, "  collingwood:\n"), 2),
            "a centre needs at least one language"
        )
    );
}

#[test]
fn centre_overflowing_to_itself() {
    let mut src = shipped();
    src.centres.1 = edit(CENTRES, "overflow: [ottawa]", "overflow: [toronto]");
    assert_eq!(
        only_problem(&src),
        diag(
            CENTRES_FILE,
            (pos(&src.centres.1, "always\n    overflow").0 + 1, 16),
            "a centre cannot overflow to itself"
        )
    );
}

#[test]
fn centre_with_a_bad_closed_date() {
    let mut src = shipped();
    src.centres.1 = edit(
        CENTRES,
        "      daily: always\n",
        "      daily: always\n    closed_dates: [\"2026-13-01\"]\n",
    );
    let p = only_problem(&src);
    let at = pos(&src.centres.1, "\"2026-13-01\"");
    assert!(
        p.starts_with(&diag(CENTRES_FILE, at, "bad closed date `2026-13-01`")),
        "{p}"
    );
}

#[test]
fn regions_csv_duplicate_prefix() {
    let mut src = shipped();
    src.regions.1 = edit(REGIONS, "807,north,", "613,north,");
    let first = pos(REGIONS, "613,east");
    assert_eq!(
        only_problem(&src),
        diag(
            REGIONS_FILE,
            (pos(&src.regions.1, "613,north").0, 1),
            &format!("duplicate prefix 613: first given on line {}", first.0)
        )
    );
}

// ---------------------------------------------------------------------------
// More sub-flow checks.

#[test]
fn subflow_nothing_includes_is_one_problem() {
    let src = with_flows(&[(FLOW_FILE, MINI), ("flows/topics.yaml", TOPICS)]);
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/topics.yaml",
            (1, 10),
            "sub-flow `topics` is never included (no reachable `include: topics`)"
        )
    );
}

#[test]
fn subflow_with_global_keys() {
    let src = with_flows(&[
        (FLOW_FILE, MAIN_WITH_INCLUDE),
        (
            "flows/topics.yaml",
            &TOPICS.replace(
                "start: topic",
                "start: topic\nglobal_keys:\n  \"0\": { goto: done }",
            ),
        ),
    ]);
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/topics.yaml",
            (1, 10),
            "global_keys and emergency belong in the main flow, not a sub-flow"
        )
    );
}

#[test]
fn two_subflows_with_one_name() {
    let other = TOPICS
        .replace("topic:", "topic2:")
        .replace("start: topic", "start: topic2")
        .replace("housing", "housing2")
        .replace("done", "done2");
    let src = with_flows(&[
        (FLOW_FILE, MAIN_WITH_INCLUDE),
        ("flows/topics.yaml", TOPICS),
        ("flows/topics2.yaml", &other),
    ]);
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/topics2.yaml",
            (1, 10),
            "duplicate sub-flow name `topics`: first named at flows/topics.yaml:1:10"
        )
    );
}

#[test]
fn subflow_file_that_does_not_parse() {
    let src = with_flows(&[
        (FLOW_FILE, MAIN_WITH_INCLUDE),
        (
            "flows/topics.yaml",
            &TOPICS.replace("start: topic", "start: [topic"),
        ),
    ]);
    assert_eq!(
        problems(&src),
        [
            diag(
                FLOW_FILE,
                (12, 14),
                "unknown sub-flow `topics` (or it is in flows/topics.yaml, which could not be read: see its error)"
            ),
            diag(
                "flows/topics.yaml",
                (2, 8),
                "expected a single value here (a name or a text), not a list or a mapping"
            ),
        ]
    );
}

#[test]
fn subflow_menu_default_returning_is_fine() {
    // `topic`'s default is `done`, a return: the include goes on to a route.
    let src = with_flows(&[
        (FLOW_FILE, MAIN_WITH_INCLUDE),
        ("flows/topics.yaml", TOPICS),
    ]);
    assert_eq!(problems(&src), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// Everyday editing slips.

#[test]
fn tab_indentation() {
    let text = MINI.replace("  help:\n    route", "  help:\n\troute");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 2),
            "tabs disallowed within this context (block indentation): indent with spaces, not tabs"
        )
    );
}

#[test]
fn no_space_after_a_colon() {
    let text = MINI.replace("    route: { to: region }", "    route:{ to: region }");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 5),
            "unknown field `route:{ to` (put a space after the colon), expected one of play, menu, language, collect, switch, set, route, hangup, goto, include, return, next, note"
        )
    );
    let text = MINI.replace("    route: { to: region }", "    goto:crisis");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (12, 5),
            "expected `name: value` entries here (a mapping), indented under their parent (found `goto:crisis`: put a space after the colon)"
        )
    );
}

#[test]
fn unquoted_star_key() {
    let text = MINI.replace("\"1\": help", "*: help");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (9, 9),
            "`*` starts a YAML alias here: write the star key in quotes, \"*\""
        )
    );
}

#[test]
fn unquoted_hash_key() {
    // YAML reads `#: help` as a comment: the option would silently vanish.
    let text = MINI.replace("\"1\": help", "#: help\n        \"1\": help");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (9, 9),
            "`#:` is read as a comment, not as the hash key: write the key in quotes, \"#\""
        )
    );
}

#[test]
fn a_list_where_a_mapping_belongs() {
    let text = MINI.replace(
        "      options:\n        \"1\": help",
        "      options:\n        - help",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            (9, 9),
            "expected `name: value` entries here (a mapping), indented under their parent"
        )
    );
}

#[test]
fn a_name_where_a_list_belongs() {
    let text = MINI.replace("prompt: [welcome]", "prompt: welcome");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, (7, 15), "expected a list here, e.g. [a, b]")
    );
}

#[test]
fn no_main_flow() {
    let src = with_flows(&[("flows/topics.yaml", TOPICS)]);
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/topics.yaml",
            (1, 1),
            "no main flow: one flow file must have `start:` and no `subflow:` name"
        )
    );
}

#[test]
fn no_centres() {
    let mut src = with_flow(MINI);
    src.centres.1 = "# none\ncentres: {}\ncrisis:\n  name: x\n  external: \"sip:a@b\"\n".into();
    assert_eq!(
        only_problem(&src),
        diag(CENTRES_FILE, (2, 1), "no centres defined")
    );
}

#[test]
fn flow_schedule_problems() {
    let text = MINI.replace(
        "nodes:",
        "schedules:\n  nite:\n    hours: {}\n  days:\n    hours: { mon-fry: \"08:00-17:00\" }\nnodes:",
    );
    assert_eq!(
        problems(&with_flow(&text)),
        [
            diag(
                FLOW_FILE,
                (5, 3),
                "schedule `nite`: opening hours are empty: give at least `daily: always` or one day range"
            ),
            diag(
                FLOW_FILE,
                (8, 14),
                "unknown day `fry`: use mon..sun, mon-fri, daily or holidays"
            ),
        ]
    );
}

#[test]
fn schedule_defined_in_two_files() {
    let sched = "schedules:\n  nite:\n    hours: { daily: always }\n";
    let main = MINI.replace("nodes:", &format!("{sched}nodes:"));
    let sub = format!("subflow: extra\nstart: extra\n{sched}nodes:\n  extra:\n    return: true\n");
    let main = main.replace("\"1\": help", "\"1\": help\n        \"2\": more")
        + "  more:\n    include: extra\n    next: help\n";
    let src = with_flows(&[(FLOW_FILE, &main), ("flows/extra.yaml", &sub)]);
    assert_eq!(
        only_problem(&src),
        diag(
            "flows/extra.yaml",
            (4, 3),
            "duplicate schedule `nite`: first defined at flows/211.yaml:5:3"
        )
    );
}

#[test]
fn every_file_is_checked_in_one_run() {
    // A syntax error in the flow does not stop the other files' checks.
    let mut src = with_flow(&MINI.replace("prompt: [welcome]", "prompt: [welcome"));
    src.centres.1 = edit(CENTRES, "sat: \"09:00-17:00\"", "sat: \"09:00-17:70\"");
    src.regions.1 = edit(REGIONS, "807,north,", "807,nowhere,");
    src.catalog.1 = edit(CATALOG, "welcome:\n", "welcome:\n  de: \"Willkommen\"\n");
    let p = problems(&src);
    assert_eq!(
        p,
        [
            // The parser stops at the next line's `:`; the open `[` is the cause.
            diag(FLOW_FILE, (7, 15), "`[` is never closed: end it with `]`"),
            diag(
                CENTRES_FILE,
                pos(&src.centres.1, "\"09:00-17:70\""),
                "bad time `17:70`: use HH:MM, 00:00 to 24:00"
            ),
            diag(
                REGIONS_FILE,
                pos(&src.regions.1, "nowhere"),
                "region `nowhere` is served by no centre in centres.yaml (or use `ask`: the caller is asked their region)"
            ),
            diag(
                CATALOG_FILE,
                right(pos(&src.catalog.1, "  de:"), 2),
                "unknown field `de`, expected one of en, fr"
            ),
        ]
    );
}

#[test]
fn unclosed_list_is_reported_at_its_bracket() {
    let text = edit(FLOW, "prompt: [region_menu]", "prompt: [region_menu");
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(
            FLOW_FILE,
            right(pos(&text, "prompt: [region_menu"), 8),
            "`[` is never closed: end it with `]`"
        )
    );
    // A bracket inside plain text is not a list.
    let text = MINI.replace("  help:\n", "  help:\n    note: see [docs\n") + "  bad:\n   x: 1\n";
    let p = only_problem(&with_flow(&text));
    assert!(!p.contains("never closed"), "{p}");
}

#[test]
fn switch_case_given_twice() {
    let text = MINI.replace(
        "  help:\n",
        "  help:\n    switch:\n      on: var:choice\n      cases:\n        1: to_queue\n        \"1\": help2\n      default: to_queue\n  help2:\n    goto: to_queue\n  to_queue:\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, (16, 9), "switch case `1` is given twice")
    );
}

#[test]
fn catalog_id_that_is_not_a_file_name() {
    let mut src = shipped();
    src.catalog.1 = format!("{CATALOG}\nNew-Prompt:\n  en: \"x\"\n  fr: \"x\"\n");
    assert_eq!(
        only_problem(&src),
        diag(
            CATALOG_FILE,
            pos(&src.catalog.1, "New-Prompt:"),
            "prompt id `New-Prompt`: start with a letter, then lowercase letters, digits and _"
        )
    );
}

#[test]
fn schema_error_inside_a_multi_line_mapping_is_not_an_unclosed_bracket() {
    let text = MINI.replace(
        "    menu:\n      prompt: [welcome]\n      options:\n        \"1\": help\n      default: help\n",
        "    menu: { prompt: [welcome], options: { \"1\": help },\n      default: help, tries: many }\n",
    );
    assert_eq!(
        only_problem(&with_flow(&text)),
        diag(FLOW_FILE, (7, 29), "expected a whole number, found `many`")
    );
}

// ---------------------------------------------------------------------------
// The keys of a caller waiting in a queue: the flow's crisis key works on
// hold too, and a route's callback key (1 unless `callback_key:` says
// otherwise) is never the crisis key.

/// The shipped flow with `callback_key: KEY` on the route to the region.
fn with_callback_key(flow: &str, key: &str) -> String {
    edit(
        flow,
        "      callback: true\n",
        &format!("      callback: true\n      callback_key: {key}\n"),
    )
}

#[test]
fn ops_edits_of_the_keys_a_waiting_caller_presses() {
    let crisis_on_7 = edit(FLOW, "\"9\": { goto: crisis", "\"7\": { goto: crisis");
    let callback_on_9 = with_callback_key(FLOW, "\"9\"");
    let both_on_7 = with_callback_key(&crisis_on_7, "\"7\"");
    let callback_on_3 = with_callback_key(FLOW, "\"3\"");
    let callback_on_10 = with_callback_key(FLOW, "\"10\"");
    let callback_key_on_crisis = edit(
        FLOW,
        "      priority: crisis\n",
        "      priority: crisis\n      callback_key: \"3\"\n",
    );
    let no_crisis_key = edit(
        FLOW,
        "global_keys:\n  \"9\": { goto: crisis, from: greeting }\n",
        "",
    );
    let crisis_on_1 = "\
start: greeting
global_keys:
  \"1\": { goto: crisis }
nodes:
  greeting:
    menu: { prompt: [welcome], options: { \"2\": help }, default: help }
  help:
    route: { to: region, callback: true }
  crisis:
    route: { to: crisis }
";
    let clash = |key: char| {
        format!(
            "route `to_region`: its callback key {key} is the crisis key: a caller in crisis on hold must reach the crisis queue with it; give the route another `callback_key:`"
        )
    };
    let table: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "moving the crisis key to 7 moves it on hold too",
            &crisis_on_7,
            vec![],
        ),
        (
            "a route may take callbacks on another key",
            &callback_on_3,
            vec![],
        ),
        (
            "a callback key that is the crisis key is refused",
            &callback_on_9,
            vec![diag(FLOW_FILE, pos(&callback_on_9, "\"9\"\n"), &clash('9'))],
        ),
        (
            "moving the crisis key onto a route's callback key is refused",
            &both_on_7,
            vec![diag(FLOW_FILE, pos(&both_on_7, "\"7\"\n"), &clash('7'))],
        ),
        (
            "moving the crisis key onto the default callback key 1 is refused",
            crisis_on_1,
            vec![diag(
                FLOW_FILE,
                right(pos(crisis_on_1, "callback: true"), 10),
                "route `help`: its callback key 1 is the crisis key: a caller in crisis on hold must reach the crisis queue with it; give the route another `callback_key:`",
            )],
        ),
        (
            "a callback key that is not a phone key is refused",
            &callback_on_10,
            vec![diag(
                FLOW_FILE,
                pos(&callback_on_10, "\"10\""),
                "`10` is not a phone key: use one of 0-9, * or # (quote * and #)",
            )],
        ),
        (
            "a callback key where no callback is offered is refused",
            &callback_key_on_crisis,
            vec![diag(
                FLOW_FILE,
                right(pos(&callback_key_on_crisis, "callback_key: \"3\""), 14),
                "callback_key: this route offers no callback (add `callback: true`, or remove the key)",
            )],
        ),
        (
            "removing the crisis key is refused, so it cannot vanish from hold either",
            &no_crisis_key,
            vec![
                diag(
                    FLOW_FILE,
                    right(pos(&no_crisis_key, "start: greeting"), 7),
                    "no crisis key: the main flow needs a global key that works from its start and routes to crisis (e.g. global_keys: {\"9\": {goto: crisis}})",
                ),
                diag(
                    FLOW_FILE,
                    right(pos(&no_crisis_key, "  crisis:\n"), 2),
                    "node `crisis` is never reached from the start",
                ),
            ],
        ),
    ];
    for (story, text, want) in table {
        assert_eq!(problems(&with_flow(text)), want, "{story}");
    }
}

#[test]
fn the_crisis_key_on_hold_is_the_flows_crisis_key() {
    let set = FlowSet::compile(&with_flow(&edit(
        FLOW,
        "\"9\": { goto: crisis",
        "\"7\": { goto: crisis",
    )))
    .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(set.crisis_key, '7');
    let set = FlowSet::compile(&shipped()).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(set.crisis_key, '9');
    let callbacks: Vec<(&str, Option<char>)> = set
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::Route { callback, .. } => Some((n.id.as_str(), *callback)),
            _ => None,
        })
        .collect();
    assert_eq!(callbacks, [("to_region", Some('1')), ("crisis", None)]);
}
