//! `frontdoor flow check | test | simulate` as operations staff run them,
//! on the shipped flows and on a copy with a mistake; and the engine
//! refusing to start on a broken flow set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{self, TempDir};

fn frontdoor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(args)
        .env("RUST_LOG", "off")
        .env("FRONTDOOR_HTTP", "127.0.0.1:0")
        .env(
            "FRONTDOOR_DB",
            format!(
                "sqlite://{}/frontdoor-flow-cli-test.db",
                std::env::temp_dir().display()
            ),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the frontdoor binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of the shipped flows, tests included.
fn copy_of_flows(dir: &TempDir) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let to = dir.path().join("flows");
    for sub in ["", "tests"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for entry in std::fs::read_dir(from.join(sub)).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    to
}

#[test]
fn the_shipped_flows_pass_check_and_their_tests() {
    let check = frontdoor(&["flow", "check"]);
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(stdout(&check).contains("flows ok"), "{}", stdout(&check));
    let test = frontdoor(&["flow", "test"]);
    let out = stdout(&test);
    assert!(test.status.success(), "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn a_copy_with_a_mistake_fails_check_at_its_file_line_col() {
    let dir = TempDir::new("flowcheck");
    let flows = copy_of_flows(&dir);
    let file = flows.join("211.yaml");
    // A menu option to a node that does not exist.
    harness::edit(&file, "\"2\": french", "\"2\": frensh");
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().position(|l| l.contains("frensh")).unwrap() + 1;
    let col = text.lines().nth(line - 1).unwrap().find("frensh").unwrap() + 1;
    let out = frontdoor(&["flow", "check", flows.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let printed = stdout(&out);
    assert!(
        printed.contains(&format!(
            "{}:{line}:{col}: unknown node `frensh` (did you mean `french`?)",
            file.display()
        )),
        "{printed}"
    );
    // The same set is refused by the engine at start.
    let serve = frontdoor(&[
        "serve",
        "--sip",
        "127.0.0.1:0",
        "--flows",
        flows.to_str().unwrap(),
    ]);
    assert!(!serve.status.success());
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(err.contains(&format!("211.yaml:{line}:{col}")), "{err}");
}

#[test]
fn a_failing_flow_test_case_fails_flow_test() {
    let dir = TempDir::new("flowtest");
    let flows = copy_of_flows(&dir);
    std::fs::write(
        flows.join("tests/wrong.yaml"),
        "- name: an Ottawa caller does not go to Windsor\n  caller: \"+16135550123\"\n  at: \"2026-11-23T10:00\"\n  keys: [\"1\", \"1\"]\n  expect:\n    route: centre:windsor\n",
    )
    .unwrap();
    let out = frontdoor(&["flow", "test", flows.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let printed = stdout(&out);
    assert!(
        printed.contains("FAIL")
            && printed.contains("route: want centre:windsor, got centre:ottawa"),
        "{printed}"
    );
}

#[test]
fn simulate_prints_the_prompts_keys_and_route() {
    let out = frontdoor(&[
        "flow",
        "simulate",
        "--caller",
        "+18075550123",
        "--at",
        "2026-11-23T10:00",
        "--keys",
        "2,9",
    ]);
    let printed = stdout(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("set      region = north"), "{printed}");
    assert!(printed.contains("set      language = fr"), "{printed}");
    assert!(printed.contains("play     topic_menu [fr]"), "{printed}");
    assert!(
        printed.contains("route    crisis priority crisis language fr"),
        "{printed}"
    );
}

#[test]
fn regions_import_fills_the_exchanges_from_the_central_office_codes_and_check_counts_them() {
    let dir = TempDir::new("regions-import");
    let flows = copy_of_flows(&dir);
    let co = dir.path().join("co-codes.csv");
    std::fs::write(
        &co,
        "NPA,CO Code (NXX),Status,Exchange Area,Province\n\
         249,220,In Service,SUDBURY,ON\n\
         289,244,In Service,\"HAMILTON\",ON\n\
         742,555,In Service,UNHEARD OF,ON\n\
         204,555,In Service,WINNIPEG,MB\n",
    )
    .unwrap();
    let map = dir.path().join("exchanges.csv");
    std::fs::write(
        &map,
        "exchange,region\nSudbury,north\nHamilton,central_south\n",
    )
    .unwrap();
    let flows_arg = flows.to_str().unwrap();
    let out = frontdoor(&[
        "regions",
        "import",
        co.to_str().unwrap(),
        "--exchanges",
        map.to_str().unwrap(),
        "--flows",
        flows_arg,
    ]);
    let said = stdout(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("3 Ontario central-office codes: 2 mapped to a region, 1 in 1 exchange(s)"),
        "{said}"
    );
    assert!(
        said.contains("not mapped: UNHEARD OF (1 code(s))"),
        "{said}"
    );
    let table = std::fs::read_to_string(flows.join("regions.csv")).unwrap();
    assert!(
        table.contains("249-220,north,SUDBURY\n")
            && table.contains("289-244,central_south,HAMILTON\n")
    );
    assert!(table.contains("613,east,"), "the area-code rows stay");
    let out = frontdoor(&["flow", "check", flows_arg]);
    let said = stdout(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("2 exchanges map to a region"), "{said}");
    assert!(said.contains("249: 1, 289: 1"), "{said}");
    assert!(
        said.contains("every one of Ontario's 18 area codes has a row"),
        "{said}"
    );
    // A region the flows do not have is refused at its line, and nothing is written.
    std::fs::write(&map, "exchange,region\nSudbury,atlantis\n").unwrap();
    let out = frontdoor(&[
        "regions",
        "import",
        co.to_str().unwrap(),
        "--exchanges",
        map.to_str().unwrap(),
        "--flows",
        flows_arg,
    ]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("exchanges.csv:2: region \"atlantis\""),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(flows.join("regions.csv")).unwrap(),
        table
    );
}
