//! A flow set drawn as SVG (`frontdoor flow diagram`, the operations
//! console): every node a box naming it and what it does, in columns by
//! how many steps it is from the greeting, every way out an arrow with its
//! key or case; the keys that work at any time and emergency mode in a box
//! of their own. Each node's box carries its file and line (`data-file`,
//! `data-line`, and a tooltip), so a page can take the reader to the YAML.
//!
//! Plain SVG with presentation attributes only (no `style`), so it can be
//! put in a page served under a strict Content-Security-Policy.

use std::collections::VecDeque;
use std::fmt::Write;

use crate::flowset::{FlowSet, Kind, NodeId, RouteTo, SwitchOn};

const BOX_W: usize = 210;
const BOX_H: usize = 46;
const COL_GAP: usize = 110;
const ROW_GAP: usize = 26;
const MARGIN: usize = 20;
/// Room above the columns for the "any time" box.
const TOP: usize = 70;

/// The arrows out of a node: (target, label).
fn exits(kind: &Kind) -> Vec<(NodeId, String)> {
    match kind {
        Kind::Play { next, .. } | Kind::Set { next, .. } => vec![(*next, String::new())],
        Kind::Language { lang, next } => vec![(*next, lang.as_str().to_owned())],
        Kind::Menu(m) => {
            let mut out: Vec<(NodeId, String)> = m
                .options
                .iter()
                .map(|(k, to)| (*to, k.to_string()))
                .collect();
            out.push((m.default, "no key".into()));
            out
        }
        Kind::Collect(c) => vec![(c.next, "digits".into()), (c.fail, "fail".into())],
        Kind::Switch { cases, default, .. } => {
            let mut out: Vec<(NodeId, String)> =
                cases.iter().map(|(case, to)| (*to, case.clone())).collect();
            out.push((*default, "other".into()));
            out
        }
        Kind::Goto(to) => vec![(*to, String::new())],
        Kind::Include { start, next } => vec![(*start, "include".into()), (*next, "after".into())],
        Kind::Route { .. } | Kind::Hangup { .. } | Kind::Return => Vec::new(),
    }
}

/// What a node does, in a few words.
fn summary(kind: &Kind) -> String {
    let prompts = |p: &[String]| p.join(", ");
    match kind {
        Kind::Play { prompts: p, .. } => format!("play {}", prompts(p)),
        Kind::Menu(m) => format!("menu {}", prompts(&m.prompt)),
        Kind::Language { lang, .. } => format!("language {}", lang.as_str()),
        Kind::Collect(c) => format!("collect {}", c.var),
        Kind::Switch { on, .. } => match on {
            SwitchOn::Region => "switch on region".into(),
            SwitchOn::Language => "switch on language".into(),
            SwitchOn::Emergency => "switch on emergency".into(),
            SwitchOn::Withheld => "switch on withheld".into(),
            SwitchOn::Schedule(s) => format!("open? {s}"),
            SwitchOn::Var(v) => format!("switch on {v}"),
        },
        Kind::Set { attrs, .. } => {
            let set: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("set {}", set.join(", "))
        }
        Kind::Route { to, priority, .. } => match to {
            RouteTo::Centre(c) => format!("→ queue {c}"),
            RouteTo::Region => format!("→ region's centre ({})", priority.as_str()),
            RouteTo::Crisis => "→ crisis queue".into(),
            RouteTo::External(uri) => format!("→ {uri}"),
        },
        Kind::Hangup { .. } => "hang up".into(),
        Kind::Goto(_) => "go to".into(),
        Kind::Include { .. } => "include".into(),
        Kind::Return => "return".into(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// At most `n` characters, with an ellipsis when cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

/// Each node's column: steps from the start, then from the other ways in
/// (global keys, emergency mode, includes); nodes reached from nowhere last.
fn columns(set: &FlowSet) -> Vec<usize> {
    let n = set.nodes.len();
    let mut depth = vec![usize::MAX; n];
    let mut seeds = vec![set.start];
    seeds.extend(set.global_keys.iter().map(|g| g.goto));
    if let Some(e) = &set.emergency
        && let Some(o) = &e.option
    {
        seeds.push(o.goto);
    }
    for seed in seeds {
        if seed >= n || depth[seed] != usize::MAX {
            continue;
        }
        depth[seed] = if seed == set.start { 0 } else { 1 };
        let mut queue = VecDeque::from([seed]);
        while let Some(at) = queue.pop_front() {
            for (to, _) in exits(&set.nodes[at].kind) {
                if to < n && depth[to] == usize::MAX {
                    depth[to] = depth[at] + 1;
                    queue.push_back(to);
                }
            }
        }
    }
    let last = depth
        .iter()
        .filter(|d| **d != usize::MAX)
        .max()
        .map_or(0, |d| d + 1);
    depth
        .iter()
        .map(|d| if *d == usize::MAX { last } else { *d })
        .collect()
}

/// The flow set as an SVG document.
pub fn svg(set: &FlowSet) -> String {
    let col = columns(set);
    let mut rows_in = vec![0usize; col.iter().max().map_or(1, |c| c + 1)];
    let mut pos = Vec::with_capacity(set.nodes.len());
    for c in &col {
        pos.push((*c, rows_in[*c]));
        rows_in[*c] += 1;
    }
    let xy = |id: NodeId| {
        let (c, r) = pos[id];
        (
            MARGIN + c * (BOX_W + COL_GAP),
            TOP + MARGIN + r * (BOX_H + ROW_GAP),
        )
    };
    let width = MARGIN * 2 + rows_in.len() * (BOX_W + COL_GAP);
    let height = TOP + MARGIN * 2 + rows_in.iter().max().copied().unwrap_or(1) * (BOX_H + ROW_GAP);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\" \
         role=\"img\" aria-labelledby=\"flow-diagram-title\">\n\
         <title id=\"flow-diagram-title\">Call flow, version {}: {} nodes</title>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" \
         fill=\"#474c54\"/></marker></defs>\n",
        esc(&set.hash),
        set.nodes.len()
    );
    // What works from anywhere.
    let mut anytime: Vec<String> = set
        .global_keys
        .iter()
        .map(|g| format!("key {} → {}", g.key, set.nodes[g.goto].id))
        .collect();
    if let Some(e) = &set.emergency {
        let after = e.after.map(|a| set.nodes[a].id.clone()).unwrap_or_default();
        anytime.push(format!(
            "emergency mode: {} after {after}",
            e.announcement.join(", ")
        ));
        if let Some(o) = &e.option {
            anytime.push(format!(
                "emergency key {} → {}",
                o.key, set.nodes[o.goto].id
            ));
        }
    }
    if !anytime.is_empty() {
        let text = esc(&format!("At any time: {}", anytime.join(" · ")));
        let _ = writeln!(
            out,
            "<g class=\"anytime\"><rect x=\"{MARGIN}\" y=\"{MARGIN}\" width=\"{}\" height=\"34\" rx=\"6\" \
             fill=\"#fff4e0\" stroke=\"#7a4700\"/><text x=\"{}\" y=\"{}\" fill=\"#1b1b1b\">{text}</text></g>",
            width - 2 * MARGIN,
            MARGIN + 10,
            MARGIN + 21
        );
    }
    // Arrows under the boxes: one per pair of nodes, its labels joined;
    // the labels into one node stacked above each other.
    let mut into = vec![0usize; set.nodes.len()];
    for (from, node) in set.nodes.iter().enumerate() {
        let (fx, fy) = xy(from);
        let mut arrows: Vec<(NodeId, String)> = Vec::new();
        for (to, label) in exits(&node.kind) {
            match arrows.iter_mut().find(|(t, _)| *t == to) {
                Some((_, l)) if !label.is_empty() => {
                    if !l.is_empty() {
                        l.push_str(", ");
                    }
                    l.push_str(&label);
                }
                Some(_) => {}
                None => arrows.push((to, label)),
            }
        }
        for (to, label) in arrows {
            if to >= set.nodes.len() {
                continue;
            }
            let (tx, ty) = xy(to);
            let (x1, y1) = (fx + BOX_W, fy + BOX_H / 2);
            let (x2, y2) = (tx, ty + BOX_H / 2);
            let path = if tx > fx {
                let mid = (x1 + x2) / 2;
                format!("M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}")
            } else {
                // Back (or same column): round below the boxes.
                let low = fy.max(ty) + BOX_H + ROW_GAP / 2;
                format!(
                    "M {} {} C {} {low}, {} {low}, {} {}",
                    fx + BOX_W / 2,
                    fy + BOX_H,
                    fx + BOX_W / 2,
                    tx + BOX_W / 2,
                    tx + BOX_W / 2,
                    ty + BOX_H
                )
            };
            let _ = writeln!(
                out,
                "<path d=\"{path}\" fill=\"none\" stroke=\"#474c54\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>"
            );
            if !label.is_empty() {
                // Beside the arrow's head: every target has its own place,
                // so a menu's keys do not sit on each other.
                let stacked = into[to] * 12;
                into[to] += 1;
                let (lx, ly, anchor) = if tx > fx {
                    (x2 - 10, (y2 - 5).saturating_sub(stacked), "end")
                } else {
                    (tx + BOX_W / 2 + 6, ty + BOX_H + 12, "start")
                };
                let label = esc(&cut(&label, 18));
                let _ = writeln!(
                    out,
                    "<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#0b4f8a\" font-weight=\"bold\">{label}</text>"
                );
            }
        }
    }
    // The boxes.
    for (id, node) in set.nodes.iter().enumerate() {
        let (x, y) = xy(id);
        let (fill, stroke) = match &node.kind {
            Kind::Route {
                to: RouteTo::Crisis,
                ..
            } => ("#fde8e8", "#8a0f14"),
            Kind::Route { .. } => ("#e6f4ea", "#1d6b3a"),
            Kind::Hangup { .. } => ("#eef0f3", "#474c54"),
            Kind::Menu(_) => ("#e8f0fa", "#0b4f8a"),
            _ => ("#ffffff", "#5c616a"),
        };
        let start = if id == set.start { " (start)" } else { "" };
        let where_ = format!("{}:{}", node.file, node.line);
        let _ = writeln!(
            out,
            "<g class=\"node\" id=\"node-{}\" data-node=\"{}\" data-file=\"{}\" data-line=\"{}\">\
             <title>{} — {}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/>\
             <text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"#1b1b1b\">{}{start}</text>\
             <text x=\"{}\" y=\"{}\" fill=\"#474c54\">{}</text></g>",
            esc(&node.id),
            esc(&node.id),
            esc(&node.file),
            node.line,
            esc(&node.id),
            esc(&where_),
            x + 8,
            y + 18,
            esc(&cut(&node.id, 26)),
            x + 8,
            y + 36,
            esc(&cut(&summary(&node.kind), 32)),
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_shipped_flows_are_drawn_with_every_node_named_and_placed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let set = crate::FlowSet::load(&root.join("flows"), &root.join("prompts")).unwrap();
        let svg = super::svg(&set);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        for node in &set.nodes {
            assert!(
                svg.contains(&format!("data-node=\"{}\"", node.id)),
                "{} is not drawn",
                node.id
            );
            assert!(node.line > 0 && !node.file.is_empty(), "{}", node.id);
        }
        let greeting = set.node("greeting").unwrap();
        let g = &set.nodes[greeting];
        assert_eq!(g.file, "211.yaml");
        let text = std::fs::read_to_string(root.join("flows/211.yaml")).unwrap();
        let line = text
            .lines()
            .nth(usize::try_from(g.line).unwrap() - 1)
            .unwrap();
        assert_eq!(line.trim(), "greeting:", "the greeting's line");
        assert!(svg.contains("greeting (start)"));
        assert!(svg.contains("At any time: key 9 → crisis"));
        // Nothing a strict page would refuse.
        assert!(!svg.contains("style="));
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(super::esc("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(super::cut("abcdef", 4), "abc…");
    }
}
