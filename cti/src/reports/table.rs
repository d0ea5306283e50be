//! A report as a table, and how it is written: JSON (the API), CSV (exports)
//! and aligned text (the command line).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColType {
    /// A code (period, taxonomy code, centre, region, reason).
    Dim,
    /// Words (a taxonomy term's name, a target).
    Text,
    /// A count: what suppression looks at.
    Count,
    /// 0–100, one decimal.
    Percent,
    /// Seconds, one decimal.
    Seconds,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub key: &'static str,
    #[serde(rename = "type")]
    pub ty: ColType,
}

/// One value of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Does not apply (no answered call, no earlier period).
    Null,
    Text(String),
    Count(i64),
    Num(f64),
    /// A count under the threshold, hidden: shown as `<N`.
    Small,
    /// Hidden so that a small count cannot be worked out from it (by
    /// subtraction from a total, or a rate computed from it): shown as `x`.
    Hidden,
}

/// How the page draws the report: bars of column `y` by column `x`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub x: &'static str,
    pub y: &'static str,
    /// Add up the rows with the same `x`.
    pub sum: bool,
    /// One chart per value of this column.
    pub group: Option<&'static str>,
}

/// A report: its columns, its rows, a total row, and what suppression must
/// know about how the cells add up.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    pub by: Option<&'static str>,
    pub tag: Option<String>,
    /// The threshold when anything could be suppressed; `None` for exact counts.
    pub suppressed_below: Option<u64>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub total: Vec<Cell>,
    pub chart: Chart,
    /// In every row, column `.0` is the sum of columns `.1`.
    pub(crate) sums: Vec<(usize, Vec<usize>)>,
    /// Column `.0` is computed from the counts in columns `.1` of its row.
    pub(crate) derived: Vec<(usize, Vec<usize>)>,
    /// The rows whose counts add up to the total row, as groups (e.g. each
    /// dimension of the demographics); one group when empty.
    pub(crate) groups: Vec<usize>,
    /// Cells that hold the same count ((row, column) pairs: a bucket's
    /// `previous` and the bucket before's count): hidden together.
    pub(crate) links: Vec<((usize, usize), (usize, usize))>,
}

impl Report {
    pub(crate) fn new(
        kind: &'static str,
        columns: &[(&'static str, ColType)],
        chart: Chart,
    ) -> Report {
        Report {
            kind,
            from: String::new(),
            to: String::new(),
            by: None,
            tag: None,
            suppressed_below: None,
            columns: columns
                .iter()
                .map(|&(key, ty)| Column { key, ty })
                .collect(),
            rows: Vec::new(),
            total: Vec::new(),
            chart,
            sums: Vec::new(),
            derived: Vec::new(),
            groups: Vec::new(),
            links: Vec::new(),
        }
    }

    /// The index of a column.
    pub(crate) fn col(&self, key: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.key == key)
            .unwrap_or_else(|| panic!("report {} has no column {key}", self.kind))
    }

    fn text_of(&self, cell: &Cell) -> String {
        match cell {
            Cell::Null => String::new(),
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Num(x) => format!("{:.1}", round1(*x)),
            Cell::Small => format!("<{}", self.suppressed_below.unwrap_or(0)),
            Cell::Hidden => "x".into(),
        }
    }

    /// CSV: the column keys, the rows, the total row.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(self.columns.iter().map(|c| c.key));
        for row in self.rows.iter().chain(std::iter::once(&self.total)) {
            let _ = w.write_record(row.iter().map(|c| self.text_of(c)));
        }
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Aligned text for a terminal: words left, numbers right.
    pub fn to_table(&self) -> String {
        let mut lines: Vec<Vec<String>> =
            vec![self.columns.iter().map(|c| c.key.to_string()).collect()];
        for row in self.rows.iter().chain(std::iter::once(&self.total)) {
            lines.push(
                row.iter()
                    .map(|c| match c {
                        Cell::Null => "-".into(),
                        other => self.text_of(other),
                    })
                    .collect(),
            );
        }
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (n, line) in lines.iter().enumerate() {
            let cells: Vec<String> = line
                .iter()
                .enumerate()
                .map(|(i, v)| match self.columns[i].ty {
                    ColType::Dim | ColType::Text => format!("{v:<w$}", w = widths[i]),
                    _ => format!("{v:>w$}", w = widths[i]),
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
            if n == 0 || n == lines.len() - 2 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&rule.join("  "));
                out.push('\n');
            }
        }
        if let Some(n) = self.suppressed_below {
            out.push_str(&format!("(counts under {n} are shown as <{n})\n"));
        }
        out
    }
}

/// One decimal, halves away from zero (the same in JSON and CSV).
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

struct Cells<'a>(&'a Report, &'a [Cell]);

impl Serialize for Cells<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|c| match c {
            Cell::Null => serde_json::Value::Null,
            Cell::Text(t) => serde_json::Value::from(t.as_str()),
            Cell::Count(n) => serde_json::Value::from(*n),
            Cell::Num(x) => serde_json::Value::from(round1(*x)),
            Cell::Small | Cell::Hidden => serde_json::Value::from(self.0.text_of(c)),
        }))
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.kind)?;
        m.serialize_entry("from", &self.from)?;
        m.serialize_entry("to", &self.to)?;
        m.serialize_entry("by", &self.by)?;
        m.serialize_entry("tag", &self.tag)?;
        m.serialize_entry("suppressed_below", &self.suppressed_below)?;
        m.serialize_entry("columns", &self.columns)?;
        let rows: Vec<Cells> = self.rows.iter().map(|r| Cells(self, r)).collect();
        m.serialize_entry("rows", &rows)?;
        m.serialize_entry("total", &Cells(self, &self.total))?;
        m.serialize_entry("chart", &self.chart)?;
        m.end()
    }
}
