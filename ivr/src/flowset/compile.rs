//! Compiling a flow set: the files in, the checked model out, every
//! problem on the way collected as a [`Diagnostic`]. The node kinds are
//! compiled in `node.rs`, the whole-set properties checked in `check.rs`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::{
    Centre, Diagnostic, Emergency, EmergencyOption, FlowSet, GlobalKey, Lang, Node, NodeId,
    PromptText, Sources, edit_distance, looks_like, parse_yaml, valid_id,
};
use crate::model::{self, NodeDef, Ordered, Text};
use crate::regions::RegionTable;
use crate::schedule::Hours;

pub(super) fn loc_of<T>(s: &Spanned<T>) -> Location {
    s.referenced
}

pub(super) const DEFAULT_TIMEOUT_S: u32 = 6;
pub(super) const DEFAULT_TRIES: u32 = 3;
pub(super) const DEFAULT_NO_INPUT: &str = "no_input";
pub(super) const DEFAULT_NO_MATCH: &str = "no_match";

#[derive(Default)]
pub(super) struct Compiler {
    pub(super) problems: Vec<Diagnostic>,
    /// Node id → (index, file index, location).
    pub(super) index: HashMap<String, (NodeId, usize, Location)>,
    pub(super) files: Vec<PathBuf>,
    /// Prompt references to check once the catalog is known: (file, loc,
    /// id, the node whose default prompt it is).
    pub(super) prompt_refs: Vec<(usize, Location, String, Option<String>)>,
    /// The catalog did not parse: its own error says so, and every prompt
    /// "not in the catalog" would only repeat it.
    pub(super) catalog_failed: bool,
    /// Flow files that did not parse, for the hint on unknown names.
    pub(super) unparsed: Vec<String>,
    /// Each sub-flow: its file, name, the position of the name, its start.
    pub(super) subflow_pos: Vec<(usize, String, Location, NodeId)>,
    /// Collect node → the position of its `fail:` (or of its name).
    pub(super) collect_pos: HashMap<NodeId, Location>,
    /// Sub-flow name → start node.
    pub(super) subflows: HashMap<String, NodeId>,
    /// File index → is a sub-flow.
    pub(super) is_subflow: Vec<bool>,
    /// Node → file index, location.
    pub(super) node_pos: Vec<(usize, Location)>,
    /// A problem that changes the shape of the graph (an unknown node, a
    /// missing `next:`, a file that did not parse, …): the graph checks
    /// would only repeat it in other words, so they are skipped. Any other
    /// problem leaves them on, so one run reports everything.
    pub(super) graph_broken: bool,
    /// Menu node → the positions of its option keys and of its default.
    pub(super) menu_pos: HashMap<NodeId, (Vec<Location>, Location)>,
    /// Each global key of the main flow: the positions of the key and of `from`.
    pub(super) global_key_pos: Vec<(Location, Option<Location>)>,
    /// Route node offering a callback → the position of its callback key
    /// (or of its `callback: true` when the key is the default).
    pub(super) callback_pos: HashMap<NodeId, Location>,
    /// The emergency option: the position of its key and of each listed menu.
    pub(super) emergency_pos: Option<(Location, Vec<Location>)>,
}

impl Compiler {
    pub(super) fn at(&mut self, file: usize, loc: Location, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            file: self.files[file].clone(),
            line: loc.line().max(1),
            col: loc.column().max(1),
            message: message.into(),
        });
    }

    pub(super) fn at_path(&mut self, path: &Path, loc: Location, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            file: path.to_owned(),
            line: loc.line().max(1),
            col: loc.column().max(1),
            message: message.into(),
        });
    }

    pub(super) fn node_ref(&mut self, file: usize, name: &Text) -> NodeId {
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
    pub(super) fn unparsed_hint(&self) -> String {
        if self.unparsed.is_empty() {
            String::new()
        } else {
            format!(
                " (or it is in {}, which could not be read: see its error)",
                self.unparsed.join(", ")
            )
        }
    }

    pub(super) fn closest_node(&self, name: &str) -> String {
        self.index
            .keys()
            .filter(|k| looks_like(k, name))
            .min_by_key(|k| edit_distance(k, name))
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default()
    }

    pub(super) fn prompts(&mut self, file: usize, list: &[Text]) -> Vec<String> {
        for p in list {
            self.prompt_refs
                .push((file, loc_of(p), p.value.clone(), None));
        }
        list.iter().map(|p| p.value.clone()).collect()
    }

    pub(super) fn key(&mut self, file: usize, key: &Text) -> char {
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

    pub(super) fn seconds(
        &mut self,
        file: usize,
        v: &Option<Spanned<u32>>,
        default: u32,
    ) -> Duration {
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

    pub(super) fn tries(&mut self, file: usize, v: &Option<Spanned<u32>>) -> u32 {
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
    pub(super) fn hours(
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

    pub(super) fn run(&mut self, src: &Sources) -> FlowSet {
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
                file: self.files[*file]
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                line: loc_of(name).line().max(1),
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
            // Found by the graph checks; a set without one is refused.
            crisis_key: '9',
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
            && let Some(key) = self.check_graph(&set, file, f)
        {
            set.crisis_key = key;
        }
        set.nodes.shrink_to_fit();
        set
    }

    /// `#: x` is a YAML comment, so a hash key written without quotes
    /// silently vanishes from its menu: refuse it.
    pub(super) fn hash_keys(&mut self, path: &Path, text: &str) {
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

    pub(super) fn catalog(&mut self, src: &Sources) -> HashMap<String, PromptText> {
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

    pub(super) fn centres(&mut self, src: &Sources) -> (Vec<Centre>, String, String) {
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

    pub(super) fn sip_uri(&mut self, path: &Path, uri: &Text) {
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

    pub(super) fn regions(&mut self, src: &Sources, centres: &[Centre]) -> RegionTable {
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
                if row.region != crate::regions::ASK
                    && !centres.iter().any(|c| c.region == row.region)
                {
                    self.problems.push(Diagnostic {
                        file: path.clone(),
                        line: u64::from(row.line),
                        col: u64::from(row.region_col),
                        message: format!(
                            "region `{}` is served by no centre in centres.yaml \
                             (or use `ask`: the caller is asked their region)",
                            row.region
                        ),
                    });
                }
            }
        }
        table
    }

    pub(super) fn prompts_or(
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
}

pub(super) struct Ctx<'a> {
    /// centres.yaml parsed: checks against its centres and regions make sense.
    pub(super) centres_known: bool,
    pub(super) centres: &'a [Centre],
    pub(super) schedules: &'a HashMap<String, Hours>,
    pub(super) regions: Vec<String>,
}
