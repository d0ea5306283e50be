//! A checked flow set: the flows, centres, regions and prompt catalog that
//! go live together, compiled from their files with every problem found.
//!
//! [`FlowSet::compile`] never stops at the first problem: it reports each one
//! as a [`Diagnostic`] (`file:line:col: message`) so an edit is fixed in one
//! round. Only a set with no problem at all is returned, and only such a set
//! can reach a caller.

mod check;
mod compile;
mod load;
mod node;
mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::regions::RegionTable;
use crate::schedule::Hours;

pub use load::Sources;
pub(crate) use yaml::parse_yaml;

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u64,
    pub col: u64,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// Every problem of a flow set, sorted by file and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The caller's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "French",
        }
    }
}
pub type NodeId = usize;

/// Who may take a call and how soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Normal,
    High,
    Crisis,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Crisis => "crisis",
        }
    }
}

/// Where a `route` node sends the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTo {
    /// A named centre's queue.
    Centre(String),
    /// The queue of the centre serving the caller's region (open now, or
    /// the first open centre of its overflow order).
    Region,
    /// The province-wide crisis queue.
    Crisis,
    /// An external SIP URI.
    External(String),
}

/// What a `switch` looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchOn {
    Region,
    Language,
    Emergency,
    Withheld,
    /// Open or closed now: a flow schedule or a centre's hours.
    Schedule(String),
    /// A call attribute or a collected variable.
    Var(String),
}

#[derive(Debug, Clone)]
pub struct Menu {
    pub prompt: Vec<String>,
    pub options: Vec<(char, NodeId)>,
    pub timeout: Duration,
    pub tries: u32,
    pub no_input: Vec<String>,
    pub no_match: Vec<String>,
    pub default: NodeId,
}

#[derive(Debug, Clone)]
pub struct Collect {
    pub var: String,
    pub prompt: Vec<String>,
    pub min: u32,
    pub max: u32,
    pub terminator: Option<char>,
    pub timeout: Duration,
    pub tries: u32,
    pub no_input: Vec<String>,
    pub next: NodeId,
    pub fail: NodeId,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Play {
        prompts: Vec<String>,
        next: NodeId,
    },
    Menu(Menu),
    Language {
        lang: Lang,
        next: NodeId,
    },
    Collect(Collect),
    Switch {
        on: SwitchOn,
        cases: Vec<(String, NodeId)>,
        default: NodeId,
    },
    Set {
        attrs: Vec<(String, String)>,
        next: NodeId,
    },
    Route {
        to: RouteTo,
        priority: Priority,
        prompt: Vec<String>,
        /// Waiting callers are offered a callback, on this key.
        callback: Option<char>,
    },
    Hangup {
        prompts: Vec<String>,
    },
    Goto(NodeId),
    Include {
        start: NodeId,
        next: NodeId,
    },
    Return,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: Kind,
    /// Where it is defined: the flow file's name and the line of its name.
    pub file: String,
    pub line: u64,
}

#[derive(Debug, Clone)]
pub struct GlobalKey {
    pub key: char,
    pub from: NodeId,
    pub goto: NodeId,
}

#[derive(Debug, Clone)]
pub struct Emergency {
    pub announcement: Vec<String>,
    pub after: Option<NodeId>,
    pub option: Option<EmergencyOption>,
}

#[derive(Debug, Clone)]
pub struct EmergencyOption {
    pub key: char,
    pub goto: NodeId,
    pub prompt: Vec<String>,
    pub menus: Vec<NodeId>,
}

#[derive(Debug, Clone)]
pub struct Centre {
    pub id: String,
    pub name: String,
    pub city: String,
    pub region: String,
    pub languages: Vec<Lang>,
    pub hours: Hours,
    pub overflow: Vec<String>,
    /// How long a call waits here before the next centre of `overflow`
    /// may take it too; `None`: the engine's default.
    pub overflow_after: Option<std::time::Duration>,
    pub external: Option<String>,
}

/// A prompt's text in each language.
#[derive(Debug, Clone, Default)]
pub struct PromptText {
    pub en: String,
    pub fr: String,
}

impl PromptText {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Fr => &self.fr,
        }
    }
}

/// What a caller waiting in a queue can press, as the flow declares it:
/// the flow's crisis key (its global key to the crisis queue, which
/// callers are told works at any time) and, where the route offers a
/// callback, the route's `callback_key`. `flow check` proves the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldKeys {
    /// Moves the waiting call to the crisis queue.
    pub crisis: char,
    /// Asks to be called back keeping their place; `None`: no callback here.
    pub callback: Option<char>,
}

/// The callback key of a route that does not name one.
pub const DEFAULT_CALLBACK_KEY: char = '1';

/// A checked, ready-to-run flow set.
#[derive(Debug, Clone)]
pub struct FlowSet {
    pub hash: String,
    pub nodes: Vec<Node>,
    pub start: NodeId,
    pub global_keys: Vec<GlobalKey>,
    /// The crisis key: the global key that works from the start and routes
    /// to the crisis queue. It works on hold too (see [`HoldKeys`]).
    pub crisis_key: char,
    pub emergency: Option<Emergency>,
    pub schedules: HashMap<String, Hours>,
    pub centres: Vec<Centre>,
    pub crisis_name: String,
    pub crisis_external: String,
    pub regions: RegionTable,
    pub catalog: HashMap<String, PromptText>,
}

impl FlowSet {
    /// Read and check a flows directory with its prompts.
    pub fn load(flows_dir: &Path, prompts_dir: &Path) -> Result<FlowSet, Diagnostics> {
        FlowSet::compile(&Sources::read(flows_dir, prompts_dir)?)
    }

    /// Check the sources and build the set, or return every problem found.
    pub fn compile(sources: &Sources) -> Result<FlowSet, Diagnostics> {
        let mut c = compile::Compiler::default();
        let set = c.run(sources);
        if c.problems.is_empty() {
            Ok(set)
        } else {
            c.problems.sort();
            c.problems.dedup();
            Err(Diagnostics(c.problems))
        }
    }

    pub fn node(&self, id: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.id == id)
    }

    pub fn centre(&self, id: &str) -> Option<&Centre> {
        self.centres.iter().find(|c| c.id == id)
    }

    /// The region ids the centres serve, in file order.
    pub fn region_ids(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for c in &self.centres {
            if !seen.contains(&c.region.as_str()) {
                seen.push(&c.region);
            }
        }
        seen
    }

    pub fn prompt_text(&self, id: &str, lang: Lang) -> &str {
        self.catalog.get(id).map(|t| t.get(lang)).unwrap_or("")
    }
}

/// Steps a call may take without waiting for the caller before the
/// interpreter calls it a loop (the checker refuses such loops first).
pub const STEP_LIMIT: usize = 500;

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Close enough to be a typo of each other: at most two edits, and few
/// for the length (`de` is not a typo of `en`).
fn looks_like(a: &str, b: &str) -> bool {
    let d = edit_distance(a, b);
    d <= 2 && d * 3 <= a.chars().count().max(b.chars().count())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
