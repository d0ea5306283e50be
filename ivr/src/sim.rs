//! Calls without a phone: the simulator behind `frontdoor flow simulate`
//! and the case runner behind `frontdoor flow test`.
//!
//! Both drive [`crate::interp::Call`], the code real calls run. Prompts
//! finish at once and timers fire at once, so a whole call takes
//! microseconds. Keys are given in order: each is pressed at the first
//! moment the call would act on it (during a menu or digit entry, or a
//! global key during any prompt once it is in force); `-` is a silence: the
//! menu's prompt plays out and its timer fires.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::flowset::{Diagnostic, Diagnostics, FlowSet, parse_yaml};
use crate::interp::{Call, CallInfo, Input, Output, Route};
use crate::model::TestCaseDef;
use crate::regions::normalize_caller;
use crate::schedule;

/// One key press, or a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    Key(char),
    Silence,
}

/// Parse `1,9,-,12#`: a comma-separated list; each item is keys pressed one
/// after the other, or `-` for a silence.
pub fn parse_keys(s: &str) -> Result<Vec<Press>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if item == "-" {
            out.push(Press::Silence);
            continue;
        }
        for c in item.chars() {
            if c.is_ascii_digit() || c == '*' || c == '#' {
                out.push(Press::Key(c));
            } else {
                return Err(format!(
                    "`{item}`: keys are 0-9, * and #, and - for a silence"
                ));
            }
        }
    }
    Ok(out)
}

/// What a simulated call did.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub lines: Vec<String>,
    pub route: Option<Route>,
    pub hung_up: bool,
    /// Every prompt played, by id, in order.
    pub prompts: Vec<String>,
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Keys given but never used.
    pub unused_keys: usize,
}

impl Transcript {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            let _ = writeln!(s, "{l}");
        }
        s
    }
}

/// Run one call through the flow set.
pub fn simulate(
    set: &Arc<FlowSet>,
    caller: &str,
    at: jiff::Zoned,
    keys: &[Press],
    emergency: bool,
) -> Transcript {
    let mut t = Transcript::default();
    let info = CallInfo {
        caller: normalize_caller(caller),
        dialled: "211".into(),
        at: at.clone(),
        emergency,
    };
    t.lines.push(format!(
        "call     from {caller} at {} ({}), emergency mode {}, flows {}",
        at.strftime("%Y-%m-%d %H:%M %Z"),
        at.strftime("%A"),
        if emergency { "on" } else { "off" },
        set.hash
    ));
    let mut call = Call::new(set.clone(), info);
    let mut keys = keys.iter().copied().peekable();
    let mut outputs = call.start();
    let mut playing = false;
    let mut timer = false;
    for _ in 0..10_000 {
        for o in std::mem::take(&mut outputs) {
            match o {
                Output::Step(node) => t.lines.push(format!("node     {node}")),
                Output::Play(prompts) => {
                    playing = true;
                    for p in prompts {
                        t.lines.push(format!(
                            "play     {} [{}] \"{}\"",
                            p.id,
                            p.lang.as_str(),
                            set.prompt_text(&p.id, p.lang)
                        ));
                        t.prompts.push(p.id);
                    }
                }
                Output::StopPlaying => {
                    playing = false;
                    t.lines.push("stop     (barge-in)".into());
                }
                Output::StartTimer(d) => {
                    timer = true;
                    t.lines
                        .push(format!("wait     {} s for a key", d.as_secs()));
                }
                Output::StopTimer => timer = false,
                Output::Fact(fact) => {
                    for (name, value) in fact.attributes() {
                        t.lines.push(format!("set      {name} = {value}"));
                    }
                }
                Output::Note(n) => t.lines.push(format!("decide   {n}")),
                Output::Route(r) => {
                    t.lines.push(format!(
                        "route    {} priority {} language {} region {} ({})",
                        r.target,
                        r.priority.as_str(),
                        r.language.map(|l| l.as_str()).unwrap_or("none"),
                        r.region.as_deref().unwrap_or("unknown"),
                        r.reason
                    ));
                    t.route = Some(r);
                }
                Output::Hangup => {
                    t.hung_up = true;
                    t.lines.push("hangup".into());
                }
            }
        }
        if t.hung_up || t.route.is_some() {
            break;
        }
        match keys.peek().copied() {
            Some(Press::Key(k)) if call.accepts(k) => {
                keys.next();
                t.lines.push(format!("key      {k}"));
                outputs = call.handle(Input::Key(k));
                continue;
            }
            Some(Press::Silence) if call.waits_for_caller() && !playing && timer => {
                keys.next();
                t.lines.push("silence".into());
                timer = false;
                outputs = call.handle(Input::TimerFired);
                continue;
            }
            _ => {}
        }
        if playing {
            playing = false;
            outputs = call.handle(Input::PromptsFinished);
        } else if timer {
            timer = false;
            t.lines.push("silence  (no more keys)".into());
            outputs = call.handle(Input::TimerFired);
        } else {
            t.lines.push("stuck    the call waits for nothing".into());
            break;
        }
    }
    t.unused_keys = keys.count();
    if t.unused_keys > 0 {
        t.lines
            .push(format!("unused   {} key(s) never pressed", t.unused_keys));
    }
    t.attributes = call.attributes().clone();
    t
}

/// The outcome of the cases in a tests directory.
#[derive(Debug, Default)]
pub struct TestReport {
    /// One line per case: `ok   file:line: name` or `FAIL file:line: name: why`.
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
}

/// Read and run every `*.yaml` case file of `dir`. Files that do not parse
/// are errors (with their position); failing cases are in the report.
pub fn run_tests(set: &Arc<FlowSet>, dir: &Path) -> Result<TestReport, Diagnostics> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            Diagnostics(vec![Diagnostic {
                file: dir.to_owned(),
                line: 1,
                col: 1,
                message: format!("cannot read the tests directory: {e}"),
            }])
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    let mut report = TestReport::default();
    for path in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Diagnostic {
                    file: path.clone(),
                    line: 1,
                    col: 1,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let cases: Vec<TestCaseDef> = match parse_yaml(&path, &text) {
            Ok(c) => c,
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        for case in cases {
            match run_case(set, &path, &case) {
                Err(d) => problems.push(d),
                Ok(failures) => {
                    let at = format!("{}:{}", path.display(), case.name.referenced.line());
                    if failures.is_empty() {
                        report.passed += 1;
                        report
                            .lines
                            .push(format!("ok    {at}: {}", case.name.value));
                    } else {
                        report.failed += 1;
                        report.lines.push(format!(
                            "FAIL  {at}: {}: {}",
                            case.name.value,
                            failures.join("; ")
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        problems.sort();
        Err(Diagnostics(problems))
    }
}

fn run_case(
    set: &Arc<FlowSet>,
    path: &Path,
    case: &TestCaseDef,
) -> Result<Vec<String>, Diagnostic> {
    let bad = |loc: serde_saphyr::Location, message: String| Diagnostic {
        file: path.to_owned(),
        line: loc.line(),
        col: loc.column(),
        message,
    };
    let at = match &case.at {
        Some(a) => schedule::parse_local(&a.value).map_err(|e| bad(a.referenced, e))?,
        None => {
            schedule::parse_local("2026-11-23T10:00").map_err(|e| bad(case.name.referenced, e))?
        }
    };
    let mut keys = Vec::new();
    for k in &case.keys {
        keys.extend(parse_keys(&k.value).map_err(|e| bad(k.referenced, e))?);
    }
    let t = simulate(set, &case.caller.value, at, &keys, case.emergency);
    let mut failures = Vec::new();
    if let Some(want) = &case.expect.route {
        let got = t
            .route
            .as_ref()
            .map(|r| r.target.to_string())
            .unwrap_or_else(|| "no route".into());
        if got != want.value {
            failures.push(format!("route: want {}, got {got}", want.value));
        }
    }
    for (name, want) in &case.expect.attributes.0 {
        let got = t.attributes.get(&name.value).map(String::as_str);
        if got != Some(want.value.as_str()) {
            failures.push(format!(
                "{}: want {}, got {}",
                name.value,
                want.value,
                got.unwrap_or("(unset)")
            ));
        }
    }
    let mut played = t.prompts.iter();
    for want in &case.expect.prompts {
        if !played.any(|p| *p == want.value) {
            failures.push(format!("prompt {} not played (in order)", want.value));
            break;
        }
    }
    if t.unused_keys > 0 {
        failures.push(format!("{} key(s) never used", t.unused_keys));
    }
    Ok(failures)
}
