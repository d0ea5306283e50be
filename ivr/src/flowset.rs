//! A checked flow set: the flows, centres, regions and prompt catalog that
//! go live together, compiled from their files with every problem found.
//!
//! [`FlowSet::compile`] never stops at the first problem: it reports each one
//! as a [`Diagnostic`] (`file:line:col: message`) so an edit is fixed in one
//! round. Only a set with no problem at all is returned, and only such a set
//! can reach a caller.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use crate::model::{self, NodeDef, Ordered, Text};
use crate::regions::RegionTable;
use crate::schedule::Hours;

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

/// The files of a flow set, read but not yet checked. Tests build one in
/// memory; [`Sources::read`] reads a directory.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Flow files (`*.yaml` of the flows directory except `centres.yaml`).
    pub flows: Vec<(PathBuf, String)>,
    pub centres: (PathBuf, String),
    pub regions: (PathBuf, String),
    pub catalog: (PathBuf, String),
    /// The recordings present: `(lang, id)` for each `prompts/<lang>/<id>.wav`.
    pub recordings: HashSet<(Lang, String)>,
    /// Where the recordings live, for messages.
    pub prompts_dir: PathBuf,
    /// A digest of the recordings' sound, so a re-recorded prompt makes a
    /// new version (empty for sources built in memory).
    pub recordings_digest: Vec<u8>,
}

impl Sources {
    /// Read the flows directory and the prompts directory.
    pub fn read(flows_dir: &Path, prompts_dir: &Path) -> Result<Sources, Diagnostics> {
        let mut problems = Vec::new();
        let mut flow_paths = Vec::new();
        match std::fs::read_dir(flows_dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
                    if is_yaml && path.file_name().is_some_and(|n| n != "centres.yaml") {
                        flow_paths.push(path);
                    }
                }
            }
            Err(e) => problems.push(file_problem(flows_dir, format!("cannot read: {e}"))),
        }
        let mut read = |path: PathBuf| -> (PathBuf, String) {
            match std::fs::read_to_string(&path) {
                Ok(text) => (path, text),
                Err(e) => {
                    problems.push(file_problem(&path, format!("cannot read: {e}")));
                    (path, String::new())
                }
            }
        };
        let centres = read(flows_dir.join("centres.yaml"));
        let regions = read(flows_dir.join("regions.csv"));
        let catalog = read(prompts_dir.join("catalog.yaml"));
        flow_paths.sort();
        let flows = flow_paths.into_iter().map(&mut read).collect();
        let mut recordings = HashSet::new();
        let mut wavs = Vec::new();
        for lang in Lang::ALL {
            let dir = prompts_dir.join(lang.as_str());
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "wav")
                        && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                    {
                        recordings.insert((lang, stem.to_owned()));
                        wavs.push(path);
                    }
                }
            }
        }
        wavs.sort();
        let recordings_digest = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for path in &wavs {
                h.update(path.to_string_lossy().as_bytes());
                // An unreadable file is reported when the recordings load.
                h.update(std::fs::read(path).unwrap_or_default());
            }
            h.finalize().to_vec()
        };
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(Sources {
            flows,
            centres,
            regions,
            catalog,
            recordings,
            prompts_dir: prompts_dir.to_owned(),
            recordings_digest,
        })
    }

    /// A short stable fingerprint of everything in the set: the version id.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut feed = |path: &Path, text: &str| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            h.update(name.unwrap_or_default().as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        };
        for (path, text) in &self.flows {
            feed(path, text);
        }
        feed(&self.centres.0, &self.centres.1);
        feed(&self.regions.0, &self.regions.1);
        feed(&self.catalog.0, &self.catalog.1);
        let mut recordings: Vec<_> = self.recordings.iter().collect();
        recordings.sort();
        for (lang, id) in recordings {
            h.update(lang.as_str().as_bytes());
            h.update(id.as_bytes());
        }
        h.update(&self.recordings_digest);
        let digest = h.finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn file_problem(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: path.to_owned(),
        line: 1,
        col: 1,
        message,
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
        /// Waiting callers are offered a callback.
        callback: bool,
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

/// A checked, ready-to-run flow set.
#[derive(Debug, Clone)]
pub struct FlowSet {
    pub hash: String,
    pub nodes: Vec<Node>,
    pub start: NodeId,
    pub global_keys: Vec<GlobalKey>,
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
        let mut c = Compiler::default();
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

/// Parse one YAML file, turning a syntax or schema error into a diagnostic.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, Diagnostic> {
    serde_saphyr::from_str(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line().max(1), l.column().max(1)))
            .unwrap_or((1, 1));
        use serde_saphyr::Error as E;
        let schema_error = matches!(
            e.without_snippet(),
            E::SerdeUnknownField { .. }
                | E::SerdeMissingField { .. }
                | E::SerdeInvalidType { .. }
                | E::SerdeInvalidValue { .. }
                | E::InvalidScalar { .. }
                | E::DuplicateMappingKey { .. }
        );
        if !schema_error && let Some((bline, bcol, open)) = unclosed_bracket(text, line) {
            // The parser stumbles on a later line; the cause is here.
            let close = if open == '[' { ']' } else { '}' };
            return Diagnostic {
                file: path.to_owned(),
                line: bline,
                col: bcol,
                message: format!("`{open}` is never closed: end it with `{close}`"),
            };
        }
        if let serde_saphyr::Error::SerdeMissingField { field, .. } = e.without_snippet() {
            if col == 1 {
                // A top-level key is missing: the file as a whole lacks it.
                return Diagnostic {
                    file: path.to_owned(),
                    line: 1,
                    col: 1,
                    message: format!("the file is missing `{field}:`"),
                };
            }
            if let Some((pline, pcol, parent)) = parent_key(text, line, col) {
                // The parser points at the last key it read; the mapping that
                // lacks the field is named by its parent key.
                return Diagnostic {
                    file: path.to_owned(),
                    line: pline,
                    col: pcol,
                    message: format!("`{parent}` is missing `{field}:`"),
                };
            }
        }
        Diagnostic {
            file: path.to_owned(),
            line,
            col,
            message: parse_message(&e, text),
        }
    })
}

/// A `[` or `{` opened on a line before `line` and still open there
/// (outside quotes and comments): the likely cause of a parse error on
/// `line`. Its 1-based line and column.
fn unclosed_bracket(text: &str, line: u64) -> Option<(u64, u64, char)> {
    let mut open: Vec<(u64, u64, char)> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let n = u64::try_from(i + 1).ok()?;
        if n >= line {
            break;
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        // The last non-blank character outside quotes: a bracket opens a
        // flow collection only after `:`, `-`, `,`, another bracket or at
        // the start (`see [docs` in a note is plain text).
        let mut last = ':';
        for (j, c) in l.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') if matches!(last, ':' | '-' | ',' | '[' | '{') => {
                    open.push((n, u64::try_from(j + 1).ok()?, c));
                }
                (None, ']' | '}') if !open.is_empty() => {
                    open.pop();
                }
                _ => {}
            }
            prev = c;
            if !c.is_whitespace() {
                last = c;
            }
        }
    }
    open.first().copied()
}

/// The key of the block mapping that holds the key at `line`, `col`: the
/// nearest line above with less indentation. Only for block style (the key
/// starts its line); `None` otherwise.
fn parent_key(text: &str, line: u64, col: u64) -> Option<(u64, u64, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let at = usize::try_from(line).ok()?.checked_sub(1)?;
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let here = lines.get(at)?;
    if u64::try_from(indent(here)).ok()? + 1 != col {
        return None;
    }
    for (i, l) in lines[..at].iter().enumerate().rev() {
        let t = l.trim_start_matches(' ');
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(l) < indent(here) {
            let key = t.strip_prefix("- ").unwrap_or(t);
            let (key, _) = key.split_once(':')?;
            let key = key.trim().trim_matches('"').trim_matches('\'');
            let col = indent(l) + (t.len() - t.strip_prefix("- ").unwrap_or(t).len()) + 1;
            return Some((
                u64::try_from(i + 1).ok()?,
                u64::try_from(col).ok()?,
                key.to_owned(),
            ));
        }
    }
    None
}

/// The parser's message for people who edit flows: no position (it is
/// given once, in front), no parser jargon where a plainer word exists.
fn parse_message(e: &serde_saphyr::Error, text: &str) -> String {
    use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};
    let e = e.without_snippet();
    match e {
        Error::InvalidScalar { ty, location } if ty.starts_with('u') || ty.starts_with('i') => {
            return format!(
                "expected a whole number, found `{}`",
                scalar_at(text, location.line(), location.column())
            );
        }
        Error::Unexpected { expected, .. } => match *expected {
            "string scalar" | "scalar" => {
                return "expected a single value here (a name or a text), not a list or a mapping"
                    .to_owned();
            }
            "mapping start" => {
                let found = scalar_at(
                    text,
                    e.location().map_or(1, |l| l.line()),
                    e.location().map_or(1, |l| l.column()),
                );
                let hint = if found.contains(':') && !found.contains(": ") {
                    format!(" (found `{found}`: put a space after the colon)")
                } else {
                    String::new()
                };
                return format!(
                    "expected `name: value` entries here (a mapping), indented under their parent{hint}"
                );
            }
            "sequence start" => return "expected a list here, e.g. [a, b]".to_owned(),
            _ => {}
        },
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let hint = if field.contains(':') {
                " (put a space after the colon)".to_owned()
            } else {
                expected
                    .iter()
                    .filter(|x| looks_like(x, field))
                    .min_by_key(|x| edit_distance(x, field))
                    .map(|x| format!(" (did you mean `{x}`?)"))
                    .unwrap_or_default()
            };
            return format!(
                "unknown field `{field}`{hint}, expected one of {}",
                expected.join(", ")
            );
        }
        _ => {}
    }
    let message = UserMessageFormatter.format_message(e).into_owned();
    let message = strip_position_suffix(strip_position_prefix(&message).trim());
    if message.contains("did not find expected key")
        || message.contains("mapping values are not allowed")
        || message.contains("did not find expected '-'")
    {
        format!("{message} (check the indentation)")
    } else if message.contains("tabs disallowed") {
        format!("{message}: indent with spaces, not tabs")
    } else if message == "reference to unknown value" {
        // `*name` is a YAML alias; here it is almost always the star key.
        "`*` starts a YAML alias here: write the star key in quotes, \"*\"".to_owned()
    } else {
        message.to_owned()
    }
}

/// The scalar written at 1-based `line`, `col` of `text`, for messages.
fn scalar_at(text: &str, line: u64, col: u64) -> String {
    let line = usize::try_from(line.max(1) - 1).unwrap_or(usize::MAX);
    let col = usize::try_from(col.max(1) - 1).unwrap_or(usize::MAX);
    let rest: String = text
        .lines()
        .nth(line)
        .unwrap_or("")
        .chars()
        .skip(col)
        .collect();
    let end = rest.find([',', '}', ']', '#']).unwrap_or(rest.len());
    rest[..end].trim().to_owned()
}

fn strip_position_prefix(message: &str) -> &str {
    let first_line = message.lines().next().unwrap_or(message);
    match first_line.find(": ") {
        Some(i) if first_line[..i].contains("line") && first_line[..i].contains("col") => {
            &first_line[i + 2..]
        }
        _ => first_line,
    }
}

/// Drop a trailing " at line N, column M" some parser messages carry.
fn strip_position_suffix(message: &str) -> &str {
    if let Some(i) = message.rfind(" at line ") {
        let tail = &message[i + " at line ".len()..];
        if let Some((n, m)) = tail.split_once(", column ")
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && !m.is_empty()
            && m.bytes().all(|b| b.is_ascii_digit())
        {
            return &message[..i];
        }
    }
    message
}

fn loc_of<T>(s: &Spanned<T>) -> Location {
    s.referenced
}

const DEFAULT_TIMEOUT_S: u32 = 6;
const DEFAULT_TRIES: u32 = 3;
const DEFAULT_NO_INPUT: &str = "no_input";
const DEFAULT_NO_MATCH: &str = "no_match";
/// Steps a call may take without waiting for the caller before the
/// interpreter calls it a loop (the checker refuses such loops first).
pub const STEP_LIMIT: usize = 500;

#[derive(Default)]
struct Compiler {
    problems: Vec<Diagnostic>,
    /// Node id → (index, file index, location).
    index: HashMap<String, (NodeId, usize, Location)>,
    files: Vec<PathBuf>,
    /// Prompt references to check once the catalog is known: (file, loc,
    /// id, the node whose default prompt it is).
    prompt_refs: Vec<(usize, Location, String, Option<String>)>,
    /// The catalog did not parse: its own error says so, and every prompt
    /// "not in the catalog" would only repeat it.
    catalog_failed: bool,
    /// Flow files that did not parse, for the hint on unknown names.
    unparsed: Vec<String>,
    /// Each sub-flow: its file, name, the position of the name, its start.
    subflow_pos: Vec<(usize, String, Location, NodeId)>,
    /// Collect node → the position of its `fail:` (or of its name).
    collect_pos: HashMap<NodeId, Location>,
    /// Sub-flow name → start node.
    subflows: HashMap<String, NodeId>,
    /// File index → is a sub-flow.
    is_subflow: Vec<bool>,
    /// Node → file index, location.
    node_pos: Vec<(usize, Location)>,
    /// A problem that changes the shape of the graph (an unknown node, a
    /// missing `next:`, a file that did not parse, …): the graph checks
    /// would only repeat it in other words, so they are skipped. Any other
    /// problem leaves them on, so one run reports everything.
    graph_broken: bool,
    /// Menu node → the positions of its option keys and of its default.
    menu_pos: HashMap<NodeId, (Vec<Location>, Location)>,
    /// Each global key of the main flow: the positions of the key and of `from`.
    global_key_pos: Vec<(Location, Option<Location>)>,
    /// The emergency option: the position of its key and of each listed menu.
    emergency_pos: Option<(Location, Vec<Location>)>,
}

impl Compiler {
    fn at(&mut self, file: usize, loc: Location, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            file: self.files[file].clone(),
            line: loc.line().max(1),
            col: loc.column().max(1),
            message: message.into(),
        });
    }

    fn at_path(&mut self, path: &Path, loc: Location, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            file: path.to_owned(),
            line: loc.line().max(1),
            col: loc.column().max(1),
            message: message.into(),
        });
    }

    fn node_ref(&mut self, file: usize, name: &Text) -> NodeId {
        match self.index.get(&name.value) {
            Some(&(id, _, _)) => id,
            None => {
                self.graph_broken = true;
                let hint = self.closest_node(&name.value);
                let hint = if hint.is_empty() {
                    self.unparsed_hint()
                } else {
                    hint
                };
                self.at(
                    file,
                    loc_of(name),
                    format!("unknown node `{}`{hint}", name.value),
                );
                0
            }
        }
    }

    /// For a name nothing defines: it may be in a flow file that did not parse.
    fn unparsed_hint(&self) -> String {
        if self.unparsed.is_empty() {
            String::new()
        } else {
            format!(
                " (or it is in {}, which could not be read: see its error)",
                self.unparsed.join(", ")
            )
        }
    }

    fn closest_node(&self, name: &str) -> String {
        self.index
            .keys()
            .filter(|k| looks_like(k, name))
            .min_by_key(|k| edit_distance(k, name))
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default()
    }

    fn prompts(&mut self, file: usize, list: &[Text]) -> Vec<String> {
        for p in list {
            self.prompt_refs
                .push((file, loc_of(p), p.value.clone(), None));
        }
        list.iter().map(|p| p.value.clone()).collect()
    }

    fn key(&mut self, file: usize, key: &Text) -> char {
        let mut chars = key.value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
            _ => {
                self.at(
                    file,
                    loc_of(key),
                    format!(
                        "`{}` is not a phone key: use one of 0-9, * or # (quote * and #)",
                        key.value
                    ),
                );
                '?'
            }
        }
    }

    fn seconds(&mut self, file: usize, v: &Option<Spanned<u32>>, default: u32) -> Duration {
        let s = v.as_ref().map(|v| v.value).unwrap_or(default);
        if let Some(v) = v
            && !(1..=120).contains(&v.value)
        {
            self.at(
                file,
                loc_of(v),
                format!("{} seconds is out of range: use 1 to 120", v.value),
            );
        }
        Duration::from_secs(u64::from(s))
    }

    fn tries(&mut self, file: usize, v: &Option<Spanned<u32>>) -> u32 {
        if let Some(v) = v
            && !(1..=10).contains(&v.value)
        {
            self.at(
                file,
                loc_of(v),
                format!("{} tries is out of range: use 1 to 10", v.value),
            );
        }
        v.as_ref().map(|v| v.value).unwrap_or(DEFAULT_TRIES)
    }

    /// Opening hours of `owner` (e.g. "centre `toronto`", named at `owner_loc`).
    fn hours(
        &mut self,
        path: &Path,
        (owner, owner_loc): (&str, Location),
        hours: &Ordered<Text, Text>,
        closed_dates: &[Text],
    ) -> Hours {
        let mut h = Hours::closed();
        if hours.0.is_empty() {
            self.at_path(
                path,
                owner_loc,
                format!(
                    "{owner}: opening hours are empty: give at least `daily: always` or one day range"
                ),
            );
        }
        for (days, ranges) in &hours.0 {
            if let Err(e) = h.add(&days.value, &ranges.value) {
                let loc = if e.starts_with("unknown day") || e.starts_with("empty day") {
                    loc_of(days)
                } else {
                    loc_of(ranges)
                };
                self.at_path(path, loc, e);
            }
        }
        for d in closed_dates {
            if let Err(e) = h.add_closed_date(&d.value) {
                self.at_path(path, loc_of(d), e);
            }
        }
        h
    }

    fn run(&mut self, src: &Sources) -> FlowSet {
        let catalog = self.catalog(src);
        let problems_before = self.problems.len();
        let (centres, crisis_name, crisis_external) = self.centres(src);
        // The centres file did not parse (its only error is the parser's).
        let centres_failed = centres.is_empty() && self.problems.len() > problems_before;
        let regions = self.regions(src, &centres);

        // Parse every flow file; collect node names first so references in
        // any file can be resolved.
        let mut parsed = Vec::new();
        for (path, text) in &src.flows {
            let file = self.files.len();
            self.files.push(path.clone());
            self.hash_keys(path, text);
            match parse_yaml::<model::FlowFile>(path, text) {
                Ok(f) => {
                    self.is_subflow.push(f.subflow.is_some());
                    parsed.push((file, f));
                }
                Err(d) => {
                    self.is_subflow.push(false);
                    self.graph_broken = true;
                    self.unparsed.push(path.display().to_string());
                    self.problems.push(d);
                }
            }
        }
        let mut defs: Vec<(usize, &Text, &NodeDef)> = Vec::new();
        for (file, f) in &parsed {
            for (name, def) in &f.nodes.0 {
                if let Some(&(_, other_file, other_loc)) = self.index.get(&name.value) {
                    self.graph_broken = true;
                    let other = self.files[other_file].display().to_string();
                    self.at(
                        *file,
                        loc_of(name),
                        format!(
                            "duplicate node `{}`: first defined at {other}:{}:{}",
                            name.value,
                            other_loc.line(),
                            other_loc.column()
                        ),
                    );
                    continue;
                }
                if !valid_id(&name.value) {
                    self.at(
                        *file,
                        loc_of(name),
                        format!(
                            "node name `{}`: use lowercase letters, digits and _",
                            name.value
                        ),
                    );
                }
                self.index
                    .insert(name.value.clone(), (defs.len(), *file, loc_of(name)));
                self.node_pos.push((*file, loc_of(name)));
                defs.push((*file, name, def));
            }
        }

        // The main flow and the sub-flows.
        let mut main: Option<(usize, &model::FlowFile)> = None;
        for (file, f) in &parsed {
            match &f.subflow {
                None => {
                    if let Some((other, _)) = main {
                        self.graph_broken = true;
                        let other = self.files[other].display().to_string();
                        self.at(
                            *file,
                            loc_of(&f.start),
                            format!(
                                "a second main flow (no `subflow:` name): the main flow is {other}"
                            ),
                        );
                    } else {
                        main = Some((*file, f));
                    }
                }
                Some(name) => {
                    let start = self.node_ref(*file, &f.start);
                    let first = self
                        .subflow_pos
                        .iter()
                        .find(|p| p.1 == name.value)
                        .map(|p| (p.0, p.2));
                    if let Some((other, other_loc)) = first {
                        // The includes go to the first; the second's nodes
                        // would all look unreachable.
                        self.graph_broken = true;
                        let other = self.files[other].display().to_string();
                        self.at(
                            *file,
                            loc_of(name),
                            format!(
                                "duplicate sub-flow name `{}`: first named at {other}:{}:{}",
                                name.value,
                                other_loc.line(),
                                other_loc.column()
                            ),
                        );
                    } else {
                        self.subflows.insert(name.value.clone(), start);
                        self.subflow_pos
                            .push((*file, name.value.clone(), loc_of(name), start));
                    }
                    if !f.global_keys.0.is_empty() || f.emergency.is_some() {
                        self.at(
                            *file,
                            loc_of(name),
                            "global_keys and emergency belong in the main flow, not a sub-flow",
                        );
                    }
                }
            }
        }

        let mut schedules = HashMap::new();
        let mut schedule_pos: HashMap<String, (usize, Location)> = HashMap::new();
        for (file, f) in &parsed {
            for (name, def) in &f.schedules.0 {
                if let Some(&(other, other_loc)) = schedule_pos.get(&name.value) {
                    let other = self.files[other].display().to_string();
                    self.at(
                        *file,
                        loc_of(name),
                        format!(
                            "duplicate schedule `{}`: first defined at {other}:{}:{}",
                            name.value,
                            other_loc.line(),
                            other_loc.column()
                        ),
                    );
                    continue;
                }
                schedule_pos.insert(name.value.clone(), (*file, loc_of(name)));
                let owner = format!("schedule `{}`", name.value);
                let path = self.files[*file].clone();
                let h = self.hours(&path, (&owner, loc_of(name)), &def.hours, &def.closed_dates);
                schedules.insert(name.value.clone(), h);
            }
        }

        let ctx = Ctx {
            centres_known: !centres_failed,
            centres: &centres,
            schedules: &schedules,
            regions: centres.iter().fold(Vec::new(), |mut seen, c| {
                if !seen.contains(&c.region) {
                    seen.push(c.region.clone());
                }
                seen
            }),
        };
        let mut nodes = Vec::with_capacity(defs.len());
        for (i, (file, name, def)) in defs.iter().enumerate() {
            if let Some(m) = &def.menu {
                let keys = m.options.0.iter().map(|(k, _)| loc_of(k)).collect();
                self.menu_pos.insert(i, (keys, loc_of(&m.default)));
            }
            if let Some(c) = &def.collect {
                let at = c.fail.as_ref().or(def.next.as_ref()).unwrap_or(name);
                self.collect_pos.insert(i, loc_of(at));
            }
            let kind = self.node(*file, name, def, &ctx);
            nodes.push(Node {
                id: name.value.clone(),
                kind,
            });
        }

        let (start, global_keys, emergency) = match main {
            Some((file, f)) => {
                let start = self.node_ref(file, &f.start);
                let mut keys: Vec<GlobalKey> = Vec::new();
                for (key, def) in &f.global_keys.0 {
                    self.global_key_pos
                        .push((loc_of(key), def.from.as_ref().map(loc_of)));
                    let k = self.key(file, key);
                    if k != '?'
                        && let Some(first) = keys.iter().position(|g| g.key == k)
                    {
                        self.at(
                            file,
                            loc_of(key),
                            format!(
                                "global key {k} is declared twice: first going to `{}`",
                                f.global_keys.0[first].1.goto.value
                            ),
                        );
                    }
                    let goto = self.node_ref(file, &def.goto);
                    let from = match &def.from {
                        Some(from) => self.node_ref(file, from),
                        None => start,
                    };
                    keys.push(GlobalKey { key: k, from, goto });
                }
                self.emergency_pos = f
                    .emergency
                    .as_ref()
                    .and_then(|e| e.option.as_ref())
                    .map(|o| (loc_of(&o.key), o.menus.iter().map(loc_of).collect()));
                let emergency = f.emergency.as_ref().map(|e| {
                    let announcement = self.prompts(file, &e.announcement);
                    let after = e.after.as_ref().map(|a| self.node_ref(file, a));
                    let option = e.option.as_ref().map(|o| EmergencyOption {
                        key: self.key(file, &o.key),
                        goto: self.node_ref(file, &o.goto),
                        prompt: self.prompts(file, &o.prompt),
                        menus: o.menus.iter().map(|m| self.node_ref(file, m)).collect(),
                    });
                    Emergency {
                        announcement,
                        after,
                        option,
                    }
                });
                (start, keys, emergency)
            }
            None => {
                self.graph_broken = true;
                let path = src
                    .flows
                    .first()
                    .map(|(p, _)| p.clone())
                    .unwrap_or_else(|| PathBuf::from("flows"));
                if self.problems.iter().all(|p| p.file != path) {
                    self.at_path(
                        &path,
                        Location::UNKNOWN,
                        "no main flow: one flow file must have `start:` and no `subflow:` name",
                    );
                }
                (0, Vec::new(), None)
            }
        };

        let mut set = FlowSet {
            hash: src.hash(),
            nodes,
            start,
            global_keys,
            emergency,
            schedules,
            centres,
            crisis_name,
            crisis_external,
            regions,
            catalog,
        };
        self.check_prompts(src, &set);
        if !self.graph_broken
            && let Some((file, f)) = main
        {
            self.check_graph(&set, file, f);
        }
        set.nodes.shrink_to_fit();
        set
    }

    /// `#: x` is a YAML comment, so a hash key written without quotes
    /// silently vanishes from its menu: refuse it.
    fn hash_keys(&mut self, path: &Path, text: &str) {
        for (i, line) in text.lines().enumerate() {
            let body = line.trim_start();
            if body.starts_with("#:") {
                let col = line.chars().count() - body.chars().count() + 1;
                self.problems.push(Diagnostic {
                    file: path.to_owned(),
                    line: u64::try_from(i + 1).unwrap_or(u64::MAX),
                    col: u64::try_from(col).unwrap_or(1),
                    message: "`#:` is read as a comment, not as the hash key: write the key in quotes, \"#\""
                        .to_owned(),
                });
            }
        }
    }

    fn catalog(&mut self, src: &Sources) -> HashMap<String, PromptText> {
        let (path, text) = &src.catalog;
        let mut catalog = HashMap::new();
        match parse_yaml::<model::CatalogFile>(path, text) {
            Ok(entries) => {
                if entries.0.is_empty() {
                    self.catalog_failed = true;
                    self.at_path(
                        path,
                        Location::UNKNOWN,
                        "the prompt catalog is empty: every prompt a flow plays needs an entry here",
                    );
                }
                for (id, entry) in entries.0 {
                    // Ids are file names (prompts/<lang>/<id>.wav).
                    if !id.value.starts_with(|c: char| c.is_ascii_lowercase())
                        || !valid_id(&id.value)
                    {
                        self.at_path(
                            path,
                            loc_of(&id),
                            format!(
                                "prompt id `{}`: start with a letter, then lowercase letters, digits and _",
                                id.value
                            ),
                        );
                    }
                    for (lang, t) in [(Lang::En, &entry.en), (Lang::Fr, &entry.fr)] {
                        if t.as_deref().is_none_or(|t| t.trim().is_empty()) {
                            self.at_path(
                                path,
                                loc_of(&id),
                                format!("prompt `{}` has no {} text", id.value, lang.name()),
                            );
                        }
                    }
                    catalog.insert(
                        id.value,
                        PromptText {
                            en: entry.en.unwrap_or_default(),
                            fr: entry.fr.unwrap_or_default(),
                        },
                    );
                }
            }
            Err(d) => {
                self.catalog_failed = true;
                self.problems.push(d);
            }
        }
        catalog
    }

    fn centres(&mut self, src: &Sources) -> (Vec<Centre>, String, String) {
        let (path, text) = &src.centres;
        let file = match parse_yaml::<model::CentresFile>(path, text) {
            Ok(f) => f,
            Err(d) => {
                self.problems.push(d);
                return (Vec::new(), String::new(), String::new());
            }
        };
        let ids: HashSet<&str> = file
            .centres
            .0
            .iter()
            .map(|(k, _)| k.value.as_str())
            .collect();
        let mut centres = Vec::new();
        for (id, def) in &file.centres.0 {
            if !valid_id(&id.value) {
                self.at_path(
                    path,
                    loc_of(id),
                    format!(
                        "centre id `{}`: use lowercase letters, digits and _",
                        id.value
                    ),
                );
            }
            let mut languages = Vec::new();
            for l in &def.languages {
                match Lang::parse(&l.value) {
                    Some(lang) => languages.push(lang),
                    None => self.at_path(
                        path,
                        loc_of(l),
                        format!("unknown language `{}`: use en or fr", l.value),
                    ),
                }
            }
            if def.languages.is_empty() {
                self.at_path(path, loc_of(id), "a centre needs at least one language");
            }
            for o in &def.overflow {
                if !ids.contains(o.value.as_str()) {
                    self.at_path(
                        path,
                        loc_of(o),
                        format!("overflow to unknown centre `{}`", o.value),
                    );
                } else if o.value == id.value {
                    self.at_path(path, loc_of(o), "a centre cannot overflow to itself");
                }
            }
            if let Some(ext) = &def.external {
                self.sip_uri(path, ext);
            }
            let owner = format!("centre `{}`", id.value);
            let hours = self.hours(path, (&owner, loc_of(id)), &def.hours, &def.closed_dates);
            centres.push(Centre {
                id: id.value.clone(),
                name: def.name.clone(),
                city: def.city.clone(),
                region: def.region.value.clone(),
                languages,
                hours,
                overflow: def.overflow.iter().map(|o| o.value.clone()).collect(),
                overflow_after: def
                    .overflow_after_s
                    .as_ref()
                    .map(|s| std::time::Duration::from_secs(u64::from(s.value))),
                external: def.external.as_ref().map(|e| e.value.clone()),
            });
        }
        if centres.is_empty() {
            // The position of the `centres:` key (the empty mapping has none).
            let line = text
                .lines()
                .position(|l| l.starts_with("centres:"))
                .map_or(1, |i| i + 1);
            self.problems.push(Diagnostic {
                file: path.clone(),
                line: u64::try_from(line).unwrap_or(1),
                col: 1,
                message: "no centres defined".to_owned(),
            });
        }
        self.sip_uri(path, &file.crisis.external);
        (
            centres,
            file.crisis.name.clone(),
            file.crisis.external.value.clone(),
        )
    }

    fn sip_uri(&mut self, path: &Path, uri: &Text) {
        let ok = (uri.value.starts_with("sip:") || uri.value.starts_with("sips:"))
            && uri.value.contains('@')
            && !uri.value.contains(char::is_whitespace);
        if !ok {
            self.at_path(
                path,
                loc_of(uri),
                format!(
                    "`{}` is not a SIP URI: write it as sip:user@host[:port]",
                    uri.value
                ),
            );
        }
    }

    fn regions(&mut self, src: &Sources, centres: &[Centre]) -> RegionTable {
        let (path, text) = &src.regions;
        let (table, errors) = RegionTable::parse(text);
        for e in errors {
            self.problems.push(Diagnostic {
                file: path.clone(),
                line: u64::from(e.line),
                col: u64::from(e.col),
                message: e.message,
            });
        }
        if !centres.is_empty() {
            for row in table.rows() {
                if !centres.iter().any(|c| c.region == row.region) {
                    self.problems.push(Diagnostic {
                        file: path.clone(),
                        line: u64::from(row.line),
                        col: u64::from(row.region_col),
                        message: format!(
                            "region `{}` is served by no centre in centres.yaml",
                            row.region
                        ),
                    });
                }
            }
        }
        table
    }

    fn node(&mut self, file: usize, name: &Text, def: &NodeDef, ctx: &Ctx) -> Kind {
        let kinds = [
            ("play", def.play.is_some()),
            ("menu", def.menu.is_some()),
            ("language", def.language.is_some()),
            ("collect", def.collect.is_some()),
            ("switch", def.switch.is_some()),
            ("set", def.set.is_some()),
            ("route", def.route.is_some()),
            ("hangup", def.hangup.is_some()),
            ("goto", def.goto.is_some()),
            ("include", def.include.is_some()),
            ("return", def.ret.is_some()),
        ];
        let present: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
        if present.len() != 1 {
            let msg = if present.is_empty() {
                format!(
                    "node `{}` does nothing: give it one of play, menu, language, collect, switch, set, route, hangup, goto, include, return",
                    name.value
                )
            } else {
                format!(
                    "node `{}` has {}: a node does one thing; split it and link the parts with next",
                    name.value,
                    present.join(" and ")
                )
            };
            self.graph_broken = true;
            self.at(file, loc_of(name), msg);
            return Kind::Return;
        }
        let kind = present[0];
        let needs_next = matches!(kind, "play" | "language" | "collect" | "set" | "include");
        let next = match (&def.next, needs_next) {
            (Some(n), true) => self.node_ref(file, n),
            (None, true) => {
                self.graph_broken = true;
                self.at(
                    file,
                    loc_of(name),
                    format!(
                        "node `{}` ({kind}) needs `next:`: where the call goes after it",
                        name.value
                    ),
                );
                0
            }
            (Some(n), false) => {
                self.at(
                    file,
                    loc_of(n),
                    format!("a {kind} node has no `next:` (it decides where the call goes itself)"),
                );
                0
            }
            (None, false) => 0,
        };
        if let Some(p) = &def.play {
            if p.is_empty() {
                self.at(file, loc_of(name), "play needs at least one prompt");
            }
            return Kind::Play {
                prompts: self.prompts(file, p),
                next,
            };
        }
        if let Some(m) = &def.menu {
            let mut options: Vec<(char, NodeId)> = Vec::new();
            for (i, (key, target)) in m.options.0.iter().enumerate() {
                let k = self.key(file, key);
                // `1:` and `"1":` are two YAML keys but one phone key.
                if let Some(first) = m.options.0[..i]
                    .iter()
                    .zip(&options)
                    .find(|(_, (c, _))| *c == k && k != '?')
                {
                    self.at(
                        file,
                        loc_of(key),
                        format!(
                            "menu `{}` has key {k} twice: first for `{}`",
                            name.value, first.0.1.value
                        ),
                    );
                }
                let to = self.node_ref(file, target);
                options.push((k, to));
            }
            if m.options.0.is_empty() {
                self.at(file, loc_of(name), "a menu needs options");
            }
            return Kind::Menu(Menu {
                prompt: self.prompts(file, &m.prompt),
                options,
                timeout: self.seconds(file, &m.timeout_s, DEFAULT_TIMEOUT_S),
                tries: self.tries(file, &m.tries),
                no_input: self.prompts_or(file, &m.no_input, DEFAULT_NO_INPUT, name),
                no_match: self.prompts_or(file, &m.no_match, DEFAULT_NO_MATCH, name),
                default: self.node_ref(file, &m.default),
            });
        }
        if let Some(l) = &def.language {
            let lang = Lang::parse(&l.value).unwrap_or_else(|| {
                self.at(
                    file,
                    loc_of(l),
                    format!("unknown language `{}`: use en or fr", l.value),
                );
                Lang::En
            });
            return Kind::Language { lang, next };
        }
        if let Some(c) = &def.collect {
            let min = c.min.as_ref().map(|m| m.value).unwrap_or(1);
            if c.max.value == 0 || c.max.value > 32 || min > c.max.value {
                self.at(
                    file,
                    loc_of(&c.max),
                    format!(
                        "collect lengths min {min} max {}: need 1 <= min <= max <= 32",
                        c.max.value
                    ),
                );
            }
            let terminator = match &c.terminator {
                Some(t) => Some(self.key(file, t)),
                None => Some('#'),
            };
            if !valid_id(&c.var.value) {
                self.at(
                    file,
                    loc_of(&c.var),
                    format!(
                        "variable name `{}`: use lowercase letters, digits and _",
                        c.var.value
                    ),
                );
            }
            let fail = match &c.fail {
                Some(f) => self.node_ref(file, f),
                None => next,
            };
            return Kind::Collect(Collect {
                var: c.var.value.clone(),
                prompt: self.prompts(file, &c.prompt),
                min,
                max: c.max.value,
                terminator,
                timeout: self.seconds(file, &c.timeout_s, DEFAULT_TIMEOUT_S),
                tries: self.tries(file, &c.tries),
                no_input: self.prompts_or(file, &c.no_input, DEFAULT_NO_INPUT, name),
                next,
                fail,
            });
        }
        if let Some(s) = &def.switch {
            return self.switch(file, s, ctx);
        }
        if let Some(set) = &def.set {
            let mut attrs = Vec::new();
            for (k, v) in &set.0 {
                self.check_set(file, k, v, ctx);
                attrs.push((k.value.clone(), v.value.clone()));
            }
            return Kind::Set { attrs, next };
        }
        if let Some(r) = &def.route {
            let to = match r.to.value.as_str() {
                "region" => RouteTo::Region,
                "crisis" => RouteTo::Crisis,
                v if v.starts_with("centre:") => {
                    let id = &v["centre:".len()..];
                    if ctx.centres_known && !ctx.centres.iter().any(|c| c.id == id) {
                        let known: Vec<_> = ctx.centres.iter().map(|c| c.id.as_str()).collect();
                        self.at(
                            file,
                            loc_of(&r.to),
                            format!(
                                "unknown centre `{id}`: centres.yaml has {}",
                                known.join(", ")
                            ),
                        );
                    }
                    RouteTo::Centre(id.to_owned())
                }
                v if v.starts_with("sip:") || v.starts_with("sips:") => {
                    let path = self.files[file].clone();
                    self.sip_uri(&path, &r.to);
                    RouteTo::External(v.to_owned())
                }
                v => {
                    self.at(
                        file,
                        loc_of(&r.to),
                        format!(
                            "unknown route target `{v}`: use region, crisis, centre:ID or a sip: URI"
                        ),
                    );
                    RouteTo::Region
                }
            };
            let priority = match r.priority.as_ref().map(|p| p.value.as_str()) {
                None if to == RouteTo::Crisis => Priority::Crisis,
                None | Some("normal") => Priority::Normal,
                Some("high") => Priority::High,
                Some("crisis") => Priority::Crisis,
                Some(other) => {
                    let p = r.priority.as_ref().map(loc_of).unwrap_or(Location::UNKNOWN);
                    self.at(
                        file,
                        p,
                        format!("unknown priority `{other}`: use normal, high or crisis"),
                    );
                    Priority::Normal
                }
            };
            let callback = match &r.callback {
                Some(cb) if cb.value && !matches!(to, RouteTo::Region | RouteTo::Centre(_)) => {
                    self.at(
                        file,
                        loc_of(cb),
                        "callback: a callback is offered only in a centre's queue (to: region or centre:ID), never to crisis calls or outside lines",
                    );
                    false
                }
                Some(cb) => cb.value,
                None => false,
            };
            return Kind::Route {
                to,
                priority,
                prompt: self.prompts(file, &r.prompt),
                callback,
            };
        }
        if let Some(h) = &def.hangup {
            return Kind::Hangup {
                prompts: self.prompts(file, h),
            };
        }
        if let Some(g) = &def.goto {
            return Kind::Goto(self.node_ref(file, g));
        }
        if let Some(inc) = &def.include {
            let Some(&start) = self.subflows.get(&inc.value) else {
                self.graph_broken = true;
                let hint = self
                    .subflows
                    .keys()
                    .filter(|k| looks_like(k, &inc.value))
                    .min_by_key(|k| edit_distance(k, &inc.value))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_else(|| self.unparsed_hint());
                self.at(
                    file,
                    loc_of(inc),
                    format!("unknown sub-flow `{}`{hint}", inc.value),
                );
                return Kind::Return;
            };
            return Kind::Include { start, next };
        }
        if let Some(r) = &def.ret {
            if !r.value {
                self.at(
                    file,
                    loc_of(r),
                    "`return: false` does nothing: write `return: true`, or use another node kind",
                );
            }
            if !self.is_subflow[file] {
                self.graph_broken = true;
                self.at(
                    file,
                    loc_of(r),
                    "`return` is only for sub-flows (files with `subflow:`)",
                );
            }
            return Kind::Return;
        }
        Kind::Return
    }

    fn prompts_or(
        &mut self,
        file: usize,
        list: &Option<Vec<Text>>,
        default: &str,
        at: &Text,
    ) -> Vec<String> {
        match list {
            Some(l) => self.prompts(file, l),
            None => {
                self.prompt_refs.push((
                    file,
                    loc_of(at),
                    default.to_owned(),
                    Some(format!(
                        "`{}` uses it as its default `{default}:`",
                        at.value
                    )),
                ));
                vec![default.to_owned()]
            }
        }
    }

    fn check_set(&mut self, file: usize, k: &Text, v: &Text, ctx: &Ctx) {
        match k.value.as_str() {
            "region" if ctx.centres_known && !ctx.regions.contains(&v.value) => {
                self.at(
                    file,
                    loc_of(v),
                    format!(
                        "unknown region `{}`: centres.yaml serves {}",
                        v.value,
                        ctx.regions.join(", ")
                    ),
                );
            }
            "language" | "crisis" | "caller" | "region_source" | "withheld" => self.at(
                file,
                loc_of(k),
                format!(
                    "`{}` is set by the engine (use a language or route node)",
                    k.value
                ),
            ),
            name if !valid_id(name) => self.at(
                file,
                loc_of(k),
                format!("attribute name `{name}`: use lowercase letters, digits and _"),
            ),
            _ => {}
        }
    }

    fn switch(&mut self, file: usize, s: &model::SwitchDef, ctx: &Ctx) -> Kind {
        let on = s.on.value.as_str();
        let (switch_on, allowed): (SwitchOn, Option<Vec<String>>) = match on {
            "region" => {
                let mut r = ctx.regions.clone();
                r.push("unknown".into());
                (SwitchOn::Region, Some(r).filter(|_| ctx.centres_known))
            }
            "language" => (
                SwitchOn::Language,
                Some(vec!["en".into(), "fr".into(), "none".into()]),
            ),
            "emergency" => (SwitchOn::Emergency, Some(vec!["on".into(), "off".into()])),
            "withheld" => (SwitchOn::Withheld, Some(vec!["yes".into(), "no".into()])),
            v if v.starts_with("schedule:") => {
                let name = &v["schedule:".len()..];
                if !ctx.schedules.contains_key(name)
                    && ctx.centres_known
                    && !ctx.centres.iter().any(|c| c.id == name)
                {
                    self.at(
                        file,
                        loc_of(&s.on),
                        format!(
                            "unknown schedule `{name}`: name a schedule of this flow or a centre"
                        ),
                    );
                }
                (
                    SwitchOn::Schedule(name.to_owned()),
                    Some(vec!["open".into(), "closed".into()]),
                )
            }
            v if v.starts_with("var:") => (SwitchOn::Var(v["var:".len()..].to_owned()), None),
            v => {
                self.at(
                    file,
                    loc_of(&s.on),
                    format!(
                        "cannot switch on `{v}`: use region, language, emergency, withheld, schedule:NAME or var:NAME"
                    ),
                );
                (SwitchOn::Var(String::new()), None)
            }
        };
        let mut cases: Vec<(String, NodeId)> = Vec::new();
        for (value, target) in &s.cases.0 {
            // `1:` and `"1":` are two YAML keys but one value.
            if cases.iter().any(|c| c.0 == value.value) {
                self.at(
                    file,
                    loc_of(value),
                    format!("switch case `{}` is given twice", value.value),
                );
            }
            if let Some(allowed) = &allowed
                && !allowed.contains(&value.value)
            {
                self.at(
                    file,
                    loc_of(value),
                    format!(
                        "`{}` never matches `{on}`: its values are {}",
                        value.value,
                        allowed.join(", ")
                    ),
                );
            }
            let to = self.node_ref(file, target);
            cases.push((value.value.clone(), to));
        }
        Kind::Switch {
            on: switch_on,
            cases,
            default: self.node_ref(file, &s.default),
        }
    }

    fn check_prompts(&mut self, src: &Sources, set: &FlowSet) {
        let refs = std::mem::take(&mut self.prompt_refs);
        for (file, loc, id, default_of) in refs {
            let why = default_of.map(|d| format!("; {d}")).unwrap_or_default();
            if !self.catalog_failed && !set.catalog.contains_key(&id) {
                self.at(
                    file,
                    loc,
                    format!("prompt `{id}` is not in {}{why}", src.catalog.0.display()),
                );
                continue;
            }
            for lang in Lang::ALL {
                if !src.recordings.contains(&(lang, id.clone())) {
                    let wav = src
                        .prompts_dir
                        .join(lang.as_str())
                        .join(format!("{id}.wav"));
                    self.at(
                        file,
                        loc,
                        format!(
                            "prompt `{id}` has no {} recording ({}){why}",
                            lang.name(),
                            wav.display()
                        ),
                    );
                }
            }
        }
    }

    /// The properties every flow set must have: everything is reachable,
    /// no loop without the caller, every menu ends in a route, the crisis
    /// key works from the first prompt, keys do not collide.
    fn check_graph(&mut self, set: &FlowSet, main_file: usize, main: &model::FlowFile) {
        let n = set.nodes.len();
        // Edges without caller input, and edges after input.
        let mut quiet: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        let mut all: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (i, node) in set.nodes.iter().enumerate() {
            match &node.kind {
                Kind::Play { next, .. } | Kind::Language { next, .. } | Kind::Set { next, .. } => {
                    quiet[i].push(*next)
                }
                Kind::Goto(t) => quiet[i].push(*t),
                Kind::Switch { cases, default, .. } => {
                    quiet[i].extend(cases.iter().map(|c| c.1));
                    quiet[i].push(*default);
                }
                Kind::Include { start, next } => {
                    quiet[i].push(*start);
                    quiet[i].push(*next);
                }
                Kind::Menu(m) => {
                    all[i].extend(m.options.iter().map(|o| o.1));
                    // The default is taken after the tries, without a key.
                    all[i].push(m.default);
                }
                Kind::Collect(c) => {
                    all[i].push(c.next);
                    all[i].push(c.fail);
                }
                Kind::Route { .. } | Kind::Hangup { .. } | Kind::Return => {}
            }
            let q = quiet[i].clone();
            all[i].extend(q);
        }
        for gk in &set.global_keys {
            for (i, a) in all.iter_mut().enumerate() {
                if i == gk.from {
                    a.push(gk.goto);
                }
            }
        }
        if let Some(e) = &set.emergency
            && let Some(o) = &e.option
        {
            for &m in &o.menus {
                all[m].push(o.goto);
            }
        }

        // Reachability from the start.
        let mut seen = vec![false; n];
        let mut stack = vec![set.start];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(all[i].iter().copied());
        }
        // A sub-flow nothing includes is one problem, not one per node.
        let mut unused_files = HashSet::new();
        for (file, name, loc, start) in self.subflow_pos.clone() {
            if !seen[start] {
                unused_files.insert(file);
                self.at(
                    file,
                    loc,
                    format!("sub-flow `{name}` is never included (no reachable `include: {name}`)"),
                );
            }
        }
        for (i, reached) in seen.iter().enumerate() {
            if !reached && !unused_files.contains(&self.node_pos[i].0) {
                let (file, loc) = self.node_pos[i];
                self.at(
                    file,
                    loc,
                    format!("node `{}` is never reached from the start", set.nodes[i].id),
                );
            }
        }

        // Loops with no caller input: cycles in the quiet graph.
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut reported = HashSet::new();
        for root in 0..n {
            self.quiet_cycles(
                set,
                &quiet,
                root,
                &mut state,
                &mut Vec::new(),
                &mut reported,
            );
        }

        // Every menu's default, every switch and every quiet path ends in a
        // route (or a deliberate hang-up), never nowhere.
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Menu(m) = &node.kind
                && !ends_in_route(set, &quiet, m.default)
            {
                let (file, node_loc) = self.node_pos[i];
                let loc = self.menu_pos.get(&i).map_or(node_loc, |p| p.1);
                self.at(
                    file,
                    loc,
                    format!(
                        "menu `{}`: its default `{}` does not lead to a route; a caller who presses nothing must still reach someone",
                        node.id, set.nodes[m.default].id
                    ),
                );
            }
        }

        // A caller who enters no digits is not hung up on either.
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Collect(c) = &node.kind
                && !ends_in_route(set, &quiet, c.fail)
            {
                let (file, node_loc) = self.node_pos[i];
                let loc = self.collect_pos.get(&i).copied().unwrap_or(node_loc);
                self.at(
                    file,
                    loc,
                    format!(
                        "collect `{}`: when its tries run out it goes to `{}`, which does not lead to a route; a caller who enters nothing must still reach someone (give it `fail:`)",
                        node.id, set.nodes[c.fail].id
                    ),
                );
            }
        }

        // The crisis key: a global key from the start whose target routes
        // to the crisis queue without further input.
        let crisis_key = set
            .global_keys
            .iter()
            .any(|gk| gk.from == set.start && routes_to_crisis(set, &quiet, gk.goto));
        let late_crisis_key = set
            .global_keys
            .iter()
            .position(|gk| routes_to_crisis(set, &quiet, gk.goto));
        if crisis_key {
            // The crisis fast-path works from the first prompt.
        } else if let Some(j) = late_crisis_key {
            // A key to crisis exists but starts working later: callers in
            // crisis must not have to sit through the first menu.
            let gk = &set.global_keys[j];
            let loc = self
                .global_key_pos
                .get(j)
                .map_or(loc_of(&main.start), |p| p.1.unwrap_or(p.0));
            self.at(
                main_file,
                loc,
                format!(
                    "the crisis key {} works only from `{}`: it must work from the start (`{}`), from the very first prompt; remove `from:` or name the start",
                    gk.key, set.nodes[gk.from].id, set.nodes[set.start].id
                ),
            );
        } else {
            let loc = main
                .global_keys
                .0
                .first()
                .map(|(k, _)| loc_of(k))
                .unwrap_or(loc_of(&main.start));
            self.at(
                main_file,
                loc,
                "no crisis key: the main flow needs a global key that works from its start and routes to crisis (e.g. global_keys: {\"9\": {goto: crisis}})",
            );
        }

        // Duplicate keys: a menu option cannot reuse a global key active
        // there or the emergency key of that menu.
        let globals: Vec<char> = set.global_keys.iter().map(|g| g.key).collect();
        let emergency_key = set
            .emergency
            .as_ref()
            .and_then(|e| e.option.as_ref())
            .map(|o| (o.key, o.menus.clone()));
        for (i, node) in set.nodes.iter().enumerate() {
            if let Kind::Menu(m) = &node.kind {
                for (j, (k, _)) in m.options.iter().enumerate() {
                    if *k == '?' {
                        continue; // not a phone key, reported already
                    }
                    let (file, node_loc) = self.node_pos[i];
                    let loc = self
                        .menu_pos
                        .get(&i)
                        .and_then(|p| p.0.get(j).copied())
                        .unwrap_or(node_loc);
                    if globals.contains(k) {
                        self.at(
                            file,
                            loc,
                            format!(
                                "menu `{}` uses key {k}, a global key: callers pressing {k} always get the global action",
                                node.id
                            ),
                        );
                    }
                    if let Some((ek, menus)) = &emergency_key
                        && ek == k
                        && menus.contains(&i)
                    {
                        self.at(
                            file,
                            loc,
                            format!(
                                "menu `{}` uses key {k}, the emergency option's key in this menu",
                                node.id
                            ),
                        );
                    }
                }
            }
        }
        if let Some(e) = &set.emergency
            && let Some(o) = &e.option
        {
            let (key_loc, menu_locs) = self
                .emergency_pos
                .clone()
                .unwrap_or((loc_of(&main.start), Vec::new()));
            if o.key != '?' && globals.contains(&o.key) {
                self.at(
                    main_file,
                    key_loc,
                    format!(
                        "the emergency option uses key {k}, a global key: callers pressing {k} always get the global action",
                        k = o.key
                    ),
                );
            }
            for (j, &m) in o.menus.iter().enumerate() {
                if !matches!(set.nodes[m].kind, Kind::Menu(_)) {
                    let loc = menu_locs.get(j).copied().unwrap_or(key_loc);
                    self.at(
                        main_file,
                        loc,
                        format!(
                            "emergency option lists `{}`, which is not a menu",
                            set.nodes[m].id
                        ),
                    );
                }
            }
        }
    }

    fn quiet_cycles(
        &mut self,
        set: &FlowSet,
        quiet: &[Vec<NodeId>],
        at: NodeId,
        state: &mut [u8],
        path: &mut Vec<NodeId>,
        reported: &mut HashSet<NodeId>,
    ) {
        match state[at] {
            2 => return,
            1 => {
                let start = path.iter().position(|&p| p == at).unwrap_or(0);
                let cycle = &path[start..];
                if cycle.iter().any(|c| reported.contains(c)) {
                    return;
                }
                reported.extend(cycle.iter().copied());
                let names: Vec<_> = cycle.iter().map(|&c| set.nodes[c].id.as_str()).collect();
                let (file, loc) = self.node_pos[at];
                self.at(
                    file,
                    loc,
                    format!(
                        "loop with no caller input: {} -> {} (put a menu in it)",
                        names.join(" -> "),
                        set.nodes[at].id
                    ),
                );
                return;
            }
            _ => {}
        }
        state[at] = 1;
        path.push(at);
        for &next in &quiet[at] {
            self.quiet_cycles(set, quiet, next, state, path, reported);
        }
        path.pop();
        state[at] = 2;
    }
}

struct Ctx<'a> {
    /// centres.yaml parsed: checks against its centres and regions make sense.
    centres_known: bool,
    centres: &'a [Centre],
    schedules: &'a HashMap<String, Hours>,
    regions: Vec<String>,
}

/// Every quiet path from `from` ends in a route (hang-ups and sub-flow
/// returns count as ends too; a menu or collect on the way is the caller's
/// next chance and is checked on its own).
fn ends_in_route(set: &FlowSet, quiet: &[Vec<NodeId>], from: NodeId) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    let mut route = false;
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        match &set.nodes[i].kind {
            Kind::Route { .. } => route = true,
            // A menu or digit entry is the caller's next chance (checked on
            // its own); a sub-flow's return goes on at its include (checked
            // there).
            Kind::Menu(_) | Kind::Collect(_) | Kind::Return => route = true,
            Kind::Hangup { .. } => return false,
            _ => {}
        }
        stack.extend(quiet[i].iter().copied());
    }
    route
}

fn routes_to_crisis(set: &FlowSet, quiet: &[Vec<NodeId>], from: NodeId) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    let mut crisis = false;
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        match &set.nodes[i].kind {
            Kind::Route { to, .. } => {
                if *to != RouteTo::Crisis {
                    return false;
                }
                crisis = true;
            }
            Kind::Menu(_) | Kind::Collect(_) | Kind::Hangup { .. } => return false,
            _ => {}
        }
        stack.extend(quiet[i].iter().copied());
    }
    crisis
}

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
