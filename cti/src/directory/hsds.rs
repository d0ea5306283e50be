//! Reading, checking and writing community resource directories in the
//! Open Referral Human Services Data Specification (HSDS) 3.0.
//!
//! HSDS has two forms and [`read`] takes either:
//! - the **tabular form**: a folder of CSV files, one per table
//!   (`organizations.csv`, `services.csv`, `locations.csv`, …), with an
//!   optional `datapackage.json` (a Frictionless Data package: each
//!   resource's `name` is the HSDS table, its `path` the file);
//! - the **JSON form** of the HSDS API: a service object with everything
//!   about it nested inside (its `organization`, `phones`, `schedules`,
//!   `languages`, `service_areas`, `attributes` with their `taxonomy_term`,
//!   and its `service_at_locations`, each with its `location` and that
//!   location's `addresses`, `phones`, `languages` and `schedules`), a list of
//!   such services, or a page of them (`{"contents": [...], ...}`).
//!
//! Both become the same flat [`Dataset`]. A nested object is flattened into
//! its table with its parent's id in the link column the tabular form uses
//! (a phone inside a service gets `service_id`), and an object that appears
//! in several places (a location shared by two services, an organization
//! nested in each of its services, a phone listed under its service and its
//! location) is kept once, its link columns merged. Two copies with the same
//! id that disagree are a problem.
//!
//! Every problem is reported, not only the first, each with where it is:
//! `services.csv:7` (the line where the CSV record starts; the header is
//! line 1) or `services.json:[3].service_at_locations[0].location.latitude`.
//! Unknown columns and fields are ignored (HSDS allows extensions), and so
//! are the HSDS tables the directory does not keep (contacts, programs,
//! funding, cost options, accessibility, metadata…).
//!
//! [`check`] holds the rules (required fields, enumerations, references,
//! duplicate ids, coordinates, schedules) so that a dataset built in code,
//! such as the synthetic directory, is held to them too. The writers produce
//! what [`read`] reads back unchanged.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::*;

/// The tabular form's descriptor, next to the CSV files.
const DATAPACKAGE: &str = "datapackage.json";

/// The HSDS 3.0 tables (datapackage resource names), which are also the
/// values `attribute.link_entity` may take.
const HSDS_TABLES: &[&str] = &[
    "organization",
    "program",
    "service",
    "service_at_location",
    "location",
    "address",
    "phone",
    "schedule",
    "service_area",
    "language",
    "funding",
    "cost_option",
    "required_document",
    "accessibility",
    "contact",
    "taxonomy",
    "taxonomy_term",
    "metadata",
    "meta_table_description",
    "organization_identifier",
];

const SERVICE_STATUSES: &[&str] = &["active", "inactive", "defunct", "temporarily closed"];
const LOCATION_TYPES: &[&str] = &["physical", "postal", "virtual"];
const DAYS: &[&str] = &["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Reads a dataset: `path` is either a folder holding a tabular data package
/// (CSV files, one per HSDS table, named as HSDS's `datapackage.json` names
/// them — `organizations.csv`, `services.csv`, `locations.csv`,
/// `addresses.csv`, `service_at_location.csv` (or `service_at_locations.csv`),
/// `phones.csv`, `schedules.csv`, `languages.csv`, `service_areas.csv`,
/// `taxonomy_terms.csv`, `attributes.csv`; a `datapackage.json` in the folder
/// may name other paths) or a `.json` file in the JSON form (a service object,
/// a list of them, or an API page `{"contents": [...]}`).
///
/// Then runs [`check`]. Returns every problem found, sorted by file and line.
pub fn read(path: &Path) -> Result<Dataset, Vec<Problem>> {
    let csv_file = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if path.is_dir() {
        read_tabular(path)
    } else if path.is_file() && csv_file {
        Err(vec![Problem {
            origin: Origin { file: path.display().to_string(), at: String::new() },
            message: "one CSV file is not a dataset: give the folder holding services.csv and the other tables"
                .into(),
        }])
    } else if path.is_file() {
        read_json(path)
    } else {
        Err(vec![Problem {
            origin: Origin {
                file: path.display().to_string(),
                at: String::new(),
            },
            message: "no such file or folder (expected a folder of HSDS CSV files or a .json file)"
                .into(),
        }])
    }
}

/// The checks [`read`] runs after parsing, public so that a dataset built in
/// code can be checked too: required fields, enumerations, references between
/// tables, duplicate ids, coordinates and schedules. Problems are sorted by
/// file and line.
pub fn check(dataset: &Dataset) -> Vec<Problem> {
    check_skipping(dataset, &HashSet::new())
}

fn read_tabular(dir: &Path) -> Result<Dataset, Vec<Problem>> {
    let mut reader = CsvReader {
        dir,
        listed: HashMap::new(),
        problems: Vec::new(),
        missing_columns: HashSet::new(),
        dataset: Dataset::default(),
    };
    reader.read_datapackage();
    reader.table::<Organization>();
    let services_file = reader.table::<Service>();
    reader.table::<Location>();
    reader.table::<Address>();
    reader.table::<ServiceAtLocation>();
    reader.table::<Phone>();
    reader.table::<Schedule>();
    reader.table::<Language>();
    reader.table::<ServiceArea>();
    reader.table::<TaxonomyTerm>();
    reader.table::<Attribute>();

    let CsvReader {
        dataset,
        mut problems,
        missing_columns,
        ..
    } = reader;
    let mut checked = check_skipping(&dataset, &missing_columns);
    let file = match &services_file {
        Some(file) => file.clone(),
        None => {
            // "No services.csv" says it better than "no services".
            checked.retain(|p| !p.origin.file.is_empty());
            problems.push(Problem {
                origin: Origin {
                    file: dir.display().to_string(),
                    at: String::new(),
                },
                message: format!("no {} here: a dataset needs its services", Service::FILE),
            });
            Service::FILE.to_owned()
        }
    };
    problems.extend(checked);
    finish(dataset, problems, &file)
}

fn read_json(path: &Path) -> Result<Dataset, Vec<Problem>> {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let whole = |message: String| Problem {
        origin: Origin {
            file: file.clone(),
            at: String::new(),
        },
        message,
    };
    let text = match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return Err(vec![whole("is not UTF-8 text (save it as UTF-8)".into())]),
        },
        Err(e) => return Err(vec![whole(format!("cannot be read: {e}"))]),
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => return Err(vec![json_syntax_problem(&file, &e)]),
    };

    let mut reader = JsonReader {
        file: file.clone(),
        dataset: Dataset::default(),
        indexes: Indexes::default(),
        problems: Vec::new(),
    };
    match &value {
        Value::Array(items) => reader.services(items, ""),
        Value::Object(object) => match object.get("contents") {
            Some(Value::Array(items)) => reader.services(items, "contents"),
            Some(_) => reader.problem("contents", "contents should be a list of services".into()),
            None => reader.service(object, ""),
        },
        _ => reader.problem(
            "",
            "expected a service, a list of services or a page of them ({\"contents\": [...]})"
                .into(),
        ),
    }
    let JsonReader {
        dataset,
        mut problems,
        ..
    } = reader;
    problems.extend(check(&dataset));
    finish(dataset, problems, &file)
}

/// Fills in the file of dataset-wide problems and decides.
fn finish(
    dataset: Dataset,
    mut problems: Vec<Problem>,
    file: &str,
) -> Result<Dataset, Vec<Problem>> {
    for problem in &mut problems {
        if problem.origin.file.is_empty() {
            problem.origin.file = file.to_owned();
        }
    }
    sort_problems(&mut problems);
    if problems.is_empty() {
        Ok(dataset)
    } else {
        Err(problems)
    }
}

/// By file, then by CSV line; JSON problems keep the order they were found in
/// (document order, then the checks).
fn sort_problems(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        a.origin
            .file
            .cmp(&b.origin.file)
            .then_with(|| line_number(&a.origin).cmp(&line_number(&b.origin)))
    });
}

fn line_number(origin: &Origin) -> u64 {
    if is_line(&origin.at) {
        origin.at.parse().unwrap_or(0)
    } else {
        0
    }
}

fn json_syntax_problem(file: &str, e: &serde_json::Error) -> Problem {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    Problem {
        origin: Origin {
            file: file.to_owned(),
            at: format!("{}:{}", e.line(), e.column()),
        },
        message: format!("not valid JSON: {message}"),
    }
}

// ---------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------

/// How a column is typed in the data package (and in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Integer,
}

/// One column's value, borrowed from a record, for writing either form and
/// for comparing two copies of a record.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell<'a> {
    Text(Option<&'a str>),
    Number(Option<f64>),
    Integer(Option<i64>),
}

impl<'a> Cell<'a> {
    fn is_empty(self) -> bool {
        match self {
            Cell::Text(text) => text.is_none_or(str::is_empty),
            Cell::Number(n) => n.is_none(),
            Cell::Integer(n) => n.is_none(),
        }
    }

    fn csv(self) -> String {
        match self {
            Cell::Text(text) => text.unwrap_or("").to_owned(),
            Cell::Number(n) => n.map(|n| n.to_string()).unwrap_or_default(),
            Cell::Integer(n) => n.map(|n| n.to_string()).unwrap_or_default(),
        }
    }

    fn json(self) -> Option<J<'a>> {
        match self {
            Cell::Text(Some(text)) if !text.is_empty() => Some(J::Str(text)),
            Cell::Number(Some(n)) => Some(J::Number(n)),
            Cell::Integer(Some(n)) => Some(J::Integer(n)),
            _ => None,
        }
    }
}

/// Each record type's clean-up while reading (on top of trimming every value).
trait Tidy {
    fn tidy(&mut self) {}
}

impl Tidy for Organization {}
impl Tidy for Service {}
impl Tidy for Location {}
impl Tidy for Address {}
impl Tidy for ServiceAtLocation {}
impl Tidy for ServiceArea {}
impl Tidy for TaxonomyTerm {}
impl Tidy for Attribute {}

impl Tidy for Phone {
    /// Some publishers (and the HSDS example) wrap numbers in double quotes.
    fn tidy(&mut self) {
        if self.number.contains('"') {
            self.number = self.number.replace('"', "").trim().to_owned();
        }
    }
}

impl Tidy for Language {
    fn tidy(&mut self) {
        if let Some(code) = &mut self.code {
            code.make_ascii_lowercase();
        }
    }
}

impl Tidy for Schedule {
    /// `freq` and `byday` upper case, lists without spaces, times as `HH:MM`.
    /// What cannot be tidied is left as given for [`check`] to report.
    fn tidy(&mut self) {
        if let Some(freq) = &mut self.freq {
            freq.make_ascii_uppercase();
        }
        for list in [&mut self.byday, &mut self.bymonthday]
            .into_iter()
            .flatten()
        {
            list.retain(|c| !c.is_whitespace());
            list.make_ascii_uppercase();
        }
        for time in [&mut self.opens_at, &mut self.closes_at] {
            if let Some(text) = time
                && let Some((hour, minute)) = parse_time(text, true)
            {
                *text = format!("{hour:02}:{minute:02}");
            }
        }
    }
}

/// What the readers, the checks and the writers need to know of a table.
/// Implemented by `table!` from one list of fields, so the columns, the
/// parser and the writer cannot drift apart.
trait Table: Tidy + Clone + PartialEq + Sized {
    /// The HSDS resource name, also the `link_entity` naming this table.
    const NAME: &'static str;
    /// The tabular form's file.
    const FILE: &'static str;
    /// The HSDS columns kept, in HSDS's order.
    const COLUMNS: &'static [(&'static str, Kind)];
    /// The columns HSDS (or the directory) requires.
    const REQUIRED: &'static [&'static str];
    fn parse(fields: &mut Fields<'_>) -> Self;
    /// The values in `COLUMNS` order.
    fn cells(&self) -> Vec<Cell<'_>>;
    /// The optional link columns, which copies of the record nested under
    /// different parents fill in one by one (`service_id`, `location_id`…).
    fn links(&mut self) -> Vec<(&'static str, &mut Option<String>)>;
    fn origin(&self) -> &Origin;
    fn id(&self) -> &str;
    fn rows_mut(dataset: &mut Dataset) -> &mut Vec<Self>;
    fn index(indexes: &mut Indexes) -> &mut HashMap<String, usize>;
}

macro_rules! table {
    (@column $field:ident) => { stringify!($field) };
    (@column $field:ident $column:literal) => { $column };
    (@kind Req) => { Kind::Text };
    (@kind Opt) => { Kind::Text };
    (@kind Num) => { Kind::Number };
    (@kind Int) => { Kind::Integer };
    (@parse $f:ident, $column:expr, Req) => { $f.text($column).unwrap_or_default() };
    (@parse $f:ident, $column:expr, Opt) => { $f.text($column) };
    (@parse $f:ident, $column:expr, Num) => { $f.number($column) };
    (@parse $f:ident, $column:expr, Int) => { $f.integer($column) };
    (@cell $value:expr, Req) => { Cell::Text(Some($value.as_str())) };
    (@cell $value:expr, Opt) => { Cell::Text($value.as_deref()) };
    (@cell $value:expr, Num) => { Cell::Number($value) };
    (@cell $value:expr, Int) => { Cell::Integer($value) };
    (
        $ty:ident {
            name: $name:literal,
            file: $file:literal,
            rows: $rows:ident,
            required: [$($required:literal),* $(,)?],
            links: [$($link:ident),* $(,)?],
            fields: { $($field:ident: $kind:ident $(= $column:literal)?),* $(,)? } $(,)?
        }
    ) => {
        impl Table for $ty {
            const NAME: &'static str = $name;
            const FILE: &'static str = $file;
            const COLUMNS: &'static [(&'static str, Kind)] =
                &[$((table!(@column $field $($column)?), table!(@kind $kind))),*];
            const REQUIRED: &'static [&'static str] = &[$($required),*];

            fn parse(f: &mut Fields<'_>) -> Self {
                let mut record = $ty {
                    origin: f.origin(),
                    $($field: table!(@parse f, table!(@column $field $($column)?), $kind),)*
                };
                record.tidy();
                record
            }

            fn cells(&self) -> Vec<Cell<'_>> {
                vec![$(table!(@cell self.$field, $kind)),*]
            }

            fn links(&mut self) -> Vec<(&'static str, &mut Option<String>)> {
                vec![$((stringify!($link), &mut self.$link)),*]
            }

            fn origin(&self) -> &Origin {
                &self.origin
            }

            fn id(&self) -> &str {
                &self.id
            }

            fn rows_mut(dataset: &mut Dataset) -> &mut Vec<Self> {
                &mut dataset.$rows
            }

            fn index(indexes: &mut Indexes) -> &mut HashMap<String, usize> {
                &mut indexes.$rows
            }
        }
    };
}

table!(Organization {
    name: "organization",
    file: "organizations.csv",
    rows: organizations,
    required: ["id", "name"],
    links: [],
    fields: {
        id: Req,
        name: Req,
        alternate_name: Opt,
        description: Opt,
        email: Opt,
        website: Opt,
    },
});

table!(Service {
    name: "service",
    file: "services.csv",
    rows: services,
    required: ["id", "organization_id", "name", "status"],
    links: [],
    fields: {
        id: Req,
        organization_id: Req,
        name: Req,
        alternate_name: Opt,
        description: Opt,
        url: Opt,
        email: Opt,
        status: Req,
        interpretation_services: Opt,
        application_process: Opt,
        fees_description: Opt,
        eligibility_description: Opt,
        minimum_age: Num,
        maximum_age: Num,
        alert: Opt,
        last_modified: Opt,
    },
});

table!(Location {
    name: "location",
    file: "locations.csv",
    rows: locations,
    required: ["id", "location_type"],
    links: [organization_id],
    fields: {
        id: Req,
        location_type: Req,
        organization_id: Opt,
        name: Opt,
        alternate_name: Opt,
        description: Opt,
        transportation: Opt,
        latitude: Num,
        longitude: Num,
    },
});

table!(Address {
    name: "address",
    file: "addresses.csv",
    rows: addresses,
    required: [
        "id",
        "location_id",
        "address_1",
        "city",
        "state_province",
        "postal_code",
        "country",
        "address_type",
    ],
    links: [],
    fields: {
        id: Req,
        location_id: Req,
        attention: Opt,
        address_1: Req,
        address_2: Opt,
        city: Req,
        region: Opt,
        state_province: Req,
        postal_code: Req,
        country: Req,
        address_type: Req,
    },
});

table!(ServiceAtLocation {
    name: "service_at_location",
    file: "service_at_location.csv",
    rows: service_at_locations,
    required: ["id", "service_id", "location_id"],
    links: [],
    fields: {
        id: Req,
        service_id: Req,
        location_id: Req,
        description: Opt,
    },
});

table!(Phone {
    name: "phone",
    file: "phones.csv",
    rows: phones,
    required: ["id", "number"],
    links: [location_id, service_id, organization_id, contact_id, service_at_location_id],
    fields: {
        id: Req,
        location_id: Opt,
        service_id: Opt,
        organization_id: Opt,
        contact_id: Opt,
        service_at_location_id: Opt,
        number: Req,
        extension: Opt,
        kind: Opt = "type",
        description: Opt,
    },
});

table!(Schedule {
    name: "schedule",
    file: "schedules.csv",
    rows: schedules,
    required: ["id"],
    links: [service_id, location_id, service_at_location_id],
    fields: {
        id: Req,
        service_id: Opt,
        location_id: Opt,
        service_at_location_id: Opt,
        valid_from: Opt,
        valid_to: Opt,
        dtstart: Opt,
        until: Opt,
        freq: Opt,
        interval: Int,
        byday: Opt,
        bymonthday: Opt,
        description: Opt,
        opens_at: Opt,
        closes_at: Opt,
        attending_type: Opt,
        notes: Opt,
    },
});

table!(Language {
    name: "language",
    file: "languages.csv",
    rows: languages,
    required: ["id"],
    links: [service_id, location_id, phone_id],
    fields: {
        id: Req,
        service_id: Opt,
        location_id: Opt,
        phone_id: Opt,
        name: Opt,
        code: Opt,
        note: Opt,
    },
});

// `service_at_location_id` is not an HSDS 3.0 column of service_area; the
// model keeps it, so it is read and written as an extension column.
table!(ServiceArea {
    name: "service_area",
    file: "service_areas.csv",
    rows: service_areas,
    required: ["id"],
    links: [service_id, service_at_location_id],
    fields: {
        id: Req,
        service_id: Opt,
        service_at_location_id: Opt,
        name: Opt,
        description: Opt,
        extent: Opt,
        extent_type: Opt,
    },
});

table!(TaxonomyTerm {
    name: "taxonomy_term",
    file: "taxonomy_terms.csv",
    rows: taxonomy_terms,
    required: ["id", "name"],
    links: [],
    fields: {
        id: Req,
        code: Opt,
        name: Req,
        description: Opt,
        parent_id: Opt,
        taxonomy: Opt,
        language: Opt,
    },
});

table!(Attribute {
    name: "attribute",
    file: "attributes.csv",
    rows: attributes,
    required: ["id", "link_id", "taxonomy_term_id", "link_entity"],
    links: [],
    fields: {
        id: Req,
        link_id: Req,
        taxonomy_term_id: Req,
        link_type: Opt,
        link_entity: Req,
        value: Opt,
    },
});

/// Where each id of each table sits in the dataset, while reading JSON.
#[derive(Default)]
struct Indexes {
    organizations: HashMap<String, usize>,
    services: HashMap<String, usize>,
    locations: HashMap<String, usize>,
    addresses: HashMap<String, usize>,
    service_at_locations: HashMap<String, usize>,
    phones: HashMap<String, usize>,
    schedules: HashMap<String, usize>,
    languages: HashMap<String, usize>,
    service_areas: HashMap<String, usize>,
    taxonomy_terms: HashMap<String, usize>,
    attributes: HashMap<String, usize>,
}

// ---------------------------------------------------------------------------
// Fields of one record, from a CSV row or a JSON object
// ---------------------------------------------------------------------------

/// The fields of one record while it is parsed, with the problems found in
/// them collected as they are met.
struct Fields<'a> {
    file: &'a str,
    source: Source<'a>,
    problems: &'a mut Vec<Problem>,
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Csv {
        line: u64,
        columns: &'a HashMap<String, usize>,
        record: &'a csv::StringRecord,
    },
    Json {
        path: &'a str,
        object: &'a Map<String, Value>,
    },
}

enum Raw<'a> {
    Absent,
    Text(&'a str),
    Number(&'a serde_json::Number),
    Bool(bool),
    Nested,
}

impl<'a> Fields<'a> {
    fn origin(&self) -> Origin {
        let at = match self.source {
            Source::Csv { line, .. } => line.to_string(),
            Source::Json { path, .. } => path.to_owned(),
        };
        Origin {
            file: self.file.to_owned(),
            at,
        }
    }

    fn problem(&mut self, column: &str, message: String) {
        let origin = field_origin(&self.origin(), Some(column));
        self.problems.push(Problem { origin, message });
    }

    fn raw(&self, column: &str) -> Raw<'a> {
        match self.source {
            Source::Csv {
                columns, record, ..
            } => match columns.get(column).and_then(|&i| record.get(i)) {
                Some(text) => Raw::Text(text),
                None => Raw::Absent,
            },
            Source::Json { object, .. } => match object.get(column) {
                None | Some(Value::Null) => Raw::Absent,
                Some(Value::String(text)) => Raw::Text(text),
                Some(Value::Number(n)) => Raw::Number(n),
                Some(Value::Bool(b)) => Raw::Bool(*b),
                Some(Value::Array(_) | Value::Object(_)) => Raw::Nested,
            },
        }
    }

    /// The value trimmed; an empty value is no value.
    fn text(&mut self, column: &str) -> Option<String> {
        let text = match self.raw(column) {
            Raw::Absent => return None,
            Raw::Text(text) => text.trim(),
            Raw::Number(n) => return Some(n.to_string()),
            Raw::Bool(b) => return Some(b.to_string()),
            Raw::Nested => {
                self.problem(
                    column,
                    format!("{column} should be a single value, not a list or an object"),
                );
                return None;
            }
        };
        (!text.is_empty()).then(|| text.to_owned())
    }

    fn number(&mut self, column: &str) -> Option<f64> {
        if let Raw::Number(n) = self.raw(column) {
            return n.as_f64();
        }
        let text = self.text(column)?;
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                self.problem(column, format!("{column} \"{text}\" is not a number"));
                None
            }
        }
    }

    fn integer(&mut self, column: &str) -> Option<i64> {
        let text = self.text(column)?;
        if let Ok(n) = text.parse::<i64>() {
            return Some(n);
        }
        match text.parse::<f64>() {
            // 2^53: every whole f64 below it is exact.
            Ok(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(n as i64),
            _ => {
                self.problem(column, format!("{column} \"{text}\" is not a whole number"));
                None
            }
        }
    }
}

/// A CSV record's origin is its line; a JSON field's is its object's path
/// with the field's name appended.
fn field_origin(record: &Origin, column: Option<&str>) -> Origin {
    match column {
        Some(column) if !is_line(&record.at) => Origin {
            file: record.file.clone(),
            at: join(&record.at, column),
        },
        _ => record.clone(),
    }
}

fn is_line(at: &str) -> bool {
    !at.is_empty() && at.bytes().all(|b| b.is_ascii_digit())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

// ---------------------------------------------------------------------------
// The tabular form
// ---------------------------------------------------------------------------

struct CsvReader<'a> {
    dir: &'a Path,
    /// Resource name → path, from datapackage.json.
    listed: HashMap<String, String>,
    problems: Vec<Problem>,
    /// `(file, column)` of required columns missing from a header: reported
    /// once there, not again on every row by the checks.
    missing_columns: HashSet<(String, &'static str)>,
    dataset: Dataset,
}

impl CsvReader<'_> {
    fn problem(&mut self, file: &str, at: &str, message: String) {
        self.problems.push(Problem {
            origin: Origin {
                file: file.to_owned(),
                at: at.to_owned(),
            },
            message,
        });
    }

    /// Takes each table's path from datapackage.json when there is one.
    fn read_datapackage(&mut self) {
        let path = self.dir.join(DATAPACKAGE);
        if !path.is_file() {
            return;
        }
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.problem(DATAPACKAGE, "", format!("cannot be read: {e}"));
                return;
            }
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(e) => {
                self.problems.push(json_syntax_problem(DATAPACKAGE, &e));
                return;
            }
        };
        let Some(resources) = value.get("resources").and_then(Value::as_array) else {
            self.problem(
                DATAPACKAGE,
                "resources",
                "expected a list of resources".into(),
            );
            return;
        };
        for (i, resource) in resources.iter().enumerate() {
            let Some(name) = resource.get("name").and_then(Value::as_str) else {
                continue;
            };
            if !KEPT_TABLES.contains(&name) {
                continue;
            }
            let at = format!("resources[{i}].path");
            match resource.get("path") {
                Some(Value::String(p)) if p.contains("://") => self.problem(
                    DATAPACKAGE,
                    &at,
                    format!(
                        "{p} is remote; download it next to {DATAPACKAGE} and give its file name"
                    ),
                ),
                Some(Value::String(p)) => {
                    self.listed.insert(name.to_owned(), p.clone());
                }
                _ => self.problem(DATAPACKAGE, &at, "expected the file's path as text".into()),
            }
        }
    }

    /// The file holding table `T`, if there is one.
    fn file_for<T: Table>(&mut self) -> Option<String> {
        if let Some(path) = self.listed.get(T::NAME).cloned() {
            if self.dir.join(&path).is_file() {
                return Some(path);
            }
            self.problem(
                DATAPACKAGE,
                "",
                format!("the {} resource's file {path} does not exist", T::NAME),
            );
            return None;
        }
        let alternatives: &[&str] = if T::NAME == ServiceAtLocation::NAME {
            // HSDS names it service_at_location.csv; some exports pluralise.
            &["service_at_location.csv", "service_at_locations.csv"]
        } else {
            &[T::FILE]
        };
        alternatives
            .iter()
            .find(|f| self.dir.join(f).is_file())
            .map(|f| (*f).to_owned())
    }

    /// Reads table `T` if its file is there (a missing table is an empty one);
    /// returns the file's name.
    fn table<T: Table>(&mut self) -> Option<String> {
        let file = self.file_for::<T>()?;
        let bytes = match fs::read(self.dir.join(&file)) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.problem(&file, "", format!("cannot be read: {e}"));
                return Some(file);
            }
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(bytes.as_slice());
        let header = match reader.headers() {
            Ok(header) => header.clone(),
            Err(e) => {
                self.csv_problem(&file, 1, &e);
                return Some(file);
            }
        };
        if header.iter().all(|name| name.trim().is_empty()) {
            self.problem(
                &file,
                "1",
                "is empty: expected a header row naming the columns".into(),
            );
            return Some(file);
        }
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            columns.entry(name.trim().to_ascii_lowercase()).or_insert(i);
        }
        for &required in T::REQUIRED {
            if !columns.contains_key(required) {
                self.problem(&file, "1", format!("no {required} column (required)"));
                self.missing_columns.insert((file.clone(), required));
            }
        }

        let mut lines = Lines {
            bytes: &bytes,
            at: 0,
            line: 1,
        };
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = lines.of(record.position());
                    // Spreadsheets leave rows of bare commas behind.
                    if record.iter().all(|cell| cell.trim().is_empty()) {
                        continue;
                    }
                    if record.len() != header.len() {
                        self.problem(
                            &file,
                            &line.to_string(),
                            format!(
                                "this row has {} cells but the header has {}",
                                record.len(),
                                header.len()
                            ),
                        );
                    }
                    let mut fields = Fields {
                        file: &file,
                        source: Source::Csv {
                            line,
                            columns: &columns,
                            record: &record,
                        },
                        problems: &mut self.problems,
                    };
                    let row = T::parse(&mut fields);
                    T::rows_mut(&mut self.dataset).push(row);
                }
                Err(e) => {
                    let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
                    let line = lines.of(e.position());
                    self.csv_problem(&file, line, &e);
                    if fatal {
                        break;
                    }
                }
            }
        }
        Some(file)
    }

    fn csv_problem(&mut self, file: &str, line: u64, e: &csv::Error) {
        let message = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => {
                "this row is not UTF-8 text (save the file as UTF-8)".to_owned()
            }
            _ => e.to_string(),
        };
        self.problem(file, &line.to_string(), message);
    }
}

/// The line each record starts on, counted from the records' byte offsets
/// as they go by. (`csv::Position::line` lags by one after a `\r\n` line
/// end: the record's start is taken before the `\n` is read.)
struct Lines<'b> {
    bytes: &'b [u8],
    /// Bytes before `at` hold `line - 1` line ends.
    at: usize,
    line: u64,
}

impl Lines<'_> {
    fn of(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return self.line;
        };
        let mut start = usize::try_from(position.byte())
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // The line end before the record is not part of it.
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.at {
            let ends = self.bytes[self.at..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += ends as u64;
            self.at = start;
        }
        self.line
    }
}

/// The tables the directory keeps, by HSDS resource name.
const KEPT_TABLES: &[&str] = &[
    Organization::NAME,
    Service::NAME,
    Location::NAME,
    Address::NAME,
    ServiceAtLocation::NAME,
    Phone::NAME,
    Schedule::NAME,
    Language::NAME,
    ServiceArea::NAME,
    TaxonomyTerm::NAME,
    Attribute::NAME,
];

/// Writes the dataset as a tabular data package into folder `dir` (created
/// if missing): one CSV file per table with HSDS's file and column names (the
/// columns the directory keeps), a header row, `\n` line ends, and a
/// `datapackage.json` listing the resources and their fields.
pub fn write_csv(dataset: &Dataset, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut resources = Vec::new();
    write_table(dir, &dataset.organizations, &mut resources)?;
    write_table(dir, &dataset.services, &mut resources)?;
    write_table(dir, &dataset.locations, &mut resources)?;
    write_table(dir, &dataset.addresses, &mut resources)?;
    write_table(dir, &dataset.service_at_locations, &mut resources)?;
    write_table(dir, &dataset.phones, &mut resources)?;
    write_table(dir, &dataset.schedules, &mut resources)?;
    write_table(dir, &dataset.languages, &mut resources)?;
    write_table(dir, &dataset.service_areas, &mut resources)?;
    write_table(dir, &dataset.taxonomy_terms, &mut resources)?;
    write_table(dir, &dataset.attributes, &mut resources)?;
    let package = J::Object(vec![
        ("name", J::Str("frontdoor-directory")),
        (
            "title",
            J::Str("Community resource directory (HSDS 3.0 tabular form)"),
        ),
        ("profile", J::Str("tabular-data-package")),
        ("resources", J::List(resources)),
    ]);
    write_json_value(&package, &dir.join(DATAPACKAGE))
}

fn write_table<T: Table>(
    dir: &Path,
    rows: &[T],
    resources: &mut Vec<J<'static>>,
) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(io::BufWriter::new(fs::File::create(dir.join(T::FILE))?));
    writer.write_record(T::COLUMNS.iter().map(|(name, _)| name))?;
    for row in rows {
        writer.write_record(row.cells().into_iter().map(Cell::csv))?;
    }
    writer.flush()?;

    let fields = T::COLUMNS
        .iter()
        .map(|&(name, kind)| {
            let kind = match kind {
                Kind::Text => "string",
                Kind::Number => "number",
                Kind::Integer => "integer",
            };
            J::Object(vec![("name", J::Str(name)), ("type", J::Str(kind))])
        })
        .collect();
    resources.push(J::Object(vec![
        ("name", J::Str(T::NAME)),
        ("path", J::Str(T::FILE)),
        ("profile", J::Str("tabular-data-resource")),
        ("format", J::Str("csv")),
        ("mediatype", J::Str("text/csv")),
        ("encoding", J::Str("utf-8")),
        (
            "schema",
            J::Object(vec![
                ("fields", J::List(fields)),
                ("primaryKey", J::Str("id")),
            ]),
        ),
    ]));
    Ok(())
}

// ---------------------------------------------------------------------------
// The JSON form
// ---------------------------------------------------------------------------

struct JsonReader {
    file: String,
    dataset: Dataset,
    indexes: Indexes,
    problems: Vec<Problem>,
}

type Object = Map<String, Value>;

impl JsonReader {
    fn problem(&mut self, at: &str, message: String) {
        self.problems.push(Problem {
            origin: Origin {
                file: self.file.clone(),
                at: at.to_owned(),
            },
            message,
        });
    }

    fn parse<T: Table>(&mut self, object: &Object, path: &str) -> T {
        let mut fields = Fields {
            file: &self.file,
            source: Source::Json { path, object },
            problems: &mut self.problems,
        };
        T::parse(&mut fields)
    }

    /// The objects of list `key`, each with its path.
    fn objects<'v>(
        &mut self,
        object: &'v Object,
        key: &str,
        path: &str,
    ) -> Vec<(String, &'v Object)> {
        let at = join(path, key);
        match object.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut objects = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{at}[{i}]");
                    match item {
                        Value::Object(o) => objects.push((at, o)),
                        _ => self.problem(&at, format!("expected an object in {key}")),
                    }
                }
                objects
            }
            Some(_) => {
                self.problem(&at, format!("{key} should be a list"));
                Vec::new()
            }
        }
    }

    /// The object `key`, with its path.
    fn object<'v>(
        &mut self,
        object: &'v Object,
        key: &str,
        path: &str,
    ) -> Option<(String, &'v Object)> {
        let at = join(path, key);
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some((at, o)),
            Some(_) => {
                self.problem(&at, format!("{key} should be an object"));
                None
            }
        }
    }

    /// Sets a link column from the object a record is nested in; a different
    /// value given in the record itself is a problem (and the nesting wins).
    fn imply(
        &mut self,
        slot: &mut Option<String>,
        column: &str,
        id: &str,
        whose: &str,
        path: &str,
    ) {
        if id.is_empty() {
            return;
        }
        match slot {
            None => *slot = Some(id.to_owned()),
            Some(given) if given != id => {
                let message = format!("{column} \"{given}\" differs from {whose} (\"{id}\")");
                self.problem(&join(path, column), message);
                *given = id.to_owned();
            }
            Some(_) => {}
        }
    }

    fn imply_required(
        &mut self,
        slot: &mut String,
        column: &str,
        id: &str,
        whose: &str,
        path: &str,
    ) {
        let mut value = (!slot.is_empty()).then(|| std::mem::take(slot));
        self.imply(&mut value, column, id, whose, path);
        *slot = value.unwrap_or_default();
    }

    /// Parses a record nested in a `parent` (its `column` links to `id`).
    fn child<T: Table>(
        &mut self,
        object: &Object,
        path: &str,
        column: &str,
        id: &str,
        parent: &str,
    ) -> T {
        let mut record: T = self.parse(object, path);
        let whose = format!("the {parent} it is nested in");
        for (name, slot) in record.links() {
            if name == column {
                self.imply(slot, column, id, &whose, path);
            }
        }
        record
    }

    /// Keeps a record once per id: a later copy fills in link columns the
    /// first lacked; a copy that disagrees otherwise is a problem.
    fn add<T: Table>(&mut self, mut record: T) {
        let rows = T::rows_mut(&mut self.dataset);
        if record.id().is_empty() {
            rows.push(record); // the checks report the missing id
            return;
        }
        let index = T::index(&mut self.indexes);
        let Some(&i) = index.get(record.id()) else {
            index.insert(record.id().to_owned(), rows.len());
            rows.push(record);
            return;
        };
        let first = &mut rows[i];
        for ((_, kept), (_, other)) in first.links().into_iter().zip(record.links()) {
            match (kept.is_some(), other.is_some()) {
                (false, true) => kept.clone_from(other),
                (true, false) => other.clone_from(kept),
                _ => {}
            }
        }
        let differing: Vec<&str> = T::COLUMNS
            .iter()
            .zip(first.cells().into_iter().zip(record.cells()))
            .filter(|(_, (a, b))| a != b)
            .map(|((name, _), _)| *name)
            .collect();
        if !differing.is_empty() {
            let there = match first.origin().at.as_str() {
                "" => "an earlier copy".to_owned(),
                at => format!("the copy at {at}"),
            };
            let message = format!(
                "{} \"{}\" differs from {there} ({})",
                T::NAME,
                record.id(),
                differing.join(", ")
            );
            self.problems.push(Problem {
                origin: record.origin().clone(),
                message,
            });
        }
    }

    fn services(&mut self, items: &[Value], path: &str) {
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            match item {
                Value::Object(object) => self.service(object, &at),
                _ => self.problem(&at, "expected a service object".into()),
            }
        }
    }

    fn service(&mut self, object: &Object, path: &str) {
        let mut service: Service = self.parse(object, path);
        if let Some((at, organization)) = self.object(object, "organization", path) {
            let id = self.organization(organization, &at);
            self.imply_required(
                &mut service.organization_id,
                "organization_id",
                &id,
                "its nested organization",
                path,
            );
        }
        let id = service.id.clone();
        self.add(service);
        for (at, o) in self.objects(object, "phones", path) {
            self.phone(o, &at, "service_id", &id, "service");
        }
        for (at, o) in self.objects(object, "schedules", path) {
            self.leaf::<Schedule>(o, &at, "service_id", &id, "service");
        }
        for (at, o) in self.objects(object, "service_areas", path) {
            self.leaf::<ServiceArea>(o, &at, "service_id", &id, "service");
        }
        for (at, o) in self.objects(object, "languages", path) {
            self.leaf::<Language>(o, &at, "service_id", &id, "service");
        }
        for (at, o) in self.objects(object, "service_at_locations", path) {
            self.service_at_location(o, &at, &id);
        }
        self.contacts(object, path);
        self.attributes(object, path, Service::NAME, &id);
    }

    fn organization(&mut self, object: &Object, path: &str) -> String {
        let organization: Organization = self.parse(object, path);
        let id = organization.id.clone();
        self.add(organization);
        for (at, o) in self.objects(object, "phones", path) {
            self.phone(o, &at, "organization_id", &id, "organization");
        }
        for (at, o) in self.objects(object, "locations", path) {
            self.location(o, &at, Some(&id));
        }
        self.contacts(object, path);
        self.attributes(object, path, Organization::NAME, &id);
        id
    }

    fn service_at_location(&mut self, object: &Object, path: &str, service_id: &str) {
        let mut sal: ServiceAtLocation = self.parse(object, path);
        self.imply_required(
            &mut sal.service_id,
            "service_id",
            service_id,
            "the service it is nested in",
            path,
        );
        if let Some((at, location)) = self.object(object, "location", path) {
            let location_id = self.location(location, &at, None);
            self.imply_required(
                &mut sal.location_id,
                "location_id",
                &location_id,
                "its nested location",
                path,
            );
        }
        let id = sal.id.clone();
        self.add(sal);
        let parent = ServiceAtLocation::NAME;
        for (at, o) in self.objects(object, "phones", path) {
            self.phone(o, &at, "service_at_location_id", &id, parent);
        }
        for (at, o) in self.objects(object, "schedules", path) {
            self.leaf::<Schedule>(o, &at, "service_at_location_id", &id, parent);
        }
        // Not in HSDS 3.0 (service areas hang off services), but the model
        // keeps a service_at_location_id on them, and write_json puts them here.
        for (at, o) in self.objects(object, "service_areas", path) {
            self.leaf::<ServiceArea>(o, &at, "service_at_location_id", &id, parent);
        }
        self.contacts(object, path);
        self.attributes(object, path, parent, &id);
    }

    fn location(&mut self, object: &Object, path: &str, organization_id: Option<&str>) -> String {
        let mut location: Location = self.parse(object, path);
        if let Some(organization_id) = organization_id {
            self.imply(
                &mut location.organization_id,
                "organization_id",
                organization_id,
                "the organization it is nested in",
                path,
            );
        }
        let id = location.id.clone();
        self.add(location);
        for (at, o) in self.objects(object, "addresses", path) {
            let mut address: Address = self.parse(o, &at);
            self.imply_required(
                &mut address.location_id,
                "location_id",
                &id,
                "the location it is nested in",
                &at,
            );
            let address_id = address.id.clone();
            self.add(address);
            self.attributes(o, &at, Address::NAME, &address_id);
        }
        for (at, o) in self.objects(object, "phones", path) {
            self.phone(o, &at, "location_id", &id, "location");
        }
        for (at, o) in self.objects(object, "languages", path) {
            self.leaf::<Language>(o, &at, "location_id", &id, "location");
        }
        for (at, o) in self.objects(object, "schedules", path) {
            self.leaf::<Schedule>(o, &at, "location_id", &id, "location");
        }
        self.contacts(object, path);
        self.attributes(object, path, Location::NAME, &id);
        id
    }

    fn phone(&mut self, object: &Object, path: &str, column: &str, id: &str, parent: &str) {
        let phone: Phone = self.child(object, path, column, id, parent);
        let phone_id = phone.id.clone();
        self.add(phone);
        for (at, o) in self.objects(object, "languages", path) {
            self.leaf::<Language>(o, &at, "phone_id", &phone_id, "phone");
        }
        self.attributes(object, path, Phone::NAME, &phone_id);
    }

    /// A record with nothing nested in it but attributes.
    fn leaf<T: Table>(
        &mut self,
        object: &Object,
        path: &str,
        column: &str,
        id: &str,
        parent: &str,
    ) {
        let record: T = self.child(object, path, column, id, parent);
        let record_id = record.id().to_owned();
        self.add(record);
        self.attributes(object, path, T::NAME, &record_id);
    }

    /// Contacts are not kept, but their phones are (with `contact_id`).
    fn contacts(&mut self, object: &Object, path: &str) {
        for (at, contact) in self.objects(object, "contacts", path) {
            let id = match contact.get("id") {
                Some(Value::String(id)) => id.trim().to_owned(),
                _ => String::new(),
            };
            for (phone_at, o) in self.objects(contact, "phones", &at) {
                self.phone(o, &phone_at, "contact_id", &id, "contact");
            }
        }
    }

    fn attributes(&mut self, object: &Object, path: &str, entity: &str, id: &str) {
        for (at, o) in self.objects(object, "attributes", path) {
            let mut attribute: Attribute = self.parse(o, &at);
            let whose = format!("the {entity} it is nested in");
            self.imply_required(&mut attribute.link_id, "link_id", id, &whose, &at);
            self.imply_required(
                &mut attribute.link_entity,
                "link_entity",
                entity,
                &whose,
                &at,
            );
            if let Some((term_at, term)) = self.object(o, "taxonomy_term", &at) {
                let term: TaxonomyTerm = self.parse(term, &term_at);
                self.imply_required(
                    &mut attribute.taxonomy_term_id,
                    "taxonomy_term_id",
                    &term.id,
                    "its nested taxonomy_term",
                    &at,
                );
                self.add(term);
            }
            self.add(attribute);
        }
    }
}

/// A JSON value whose objects keep their fields in the order written (HSDS's
/// order, `id` first), which `serde_json::Value` does not without a feature.
enum J<'a> {
    Str(&'a str),
    Number(f64),
    Integer(i64),
    List(Vec<J<'a>>),
    Object(Vec<(&'a str, J<'a>)>),
}

impl Serialize for J<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            J::Str(text) => serializer.serialize_str(text),
            J::Number(n) => serializer.serialize_f64(*n),
            J::Integer(n) => serializer.serialize_i64(*n),
            J::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            J::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

fn write_json_value(value: &J<'_>, file: &Path) -> io::Result<()> {
    let mut out = io::BufWriter::new(fs::File::create(file)?);
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes the dataset in the JSON form: a list of service objects with
/// everything about each nested inside, as [`read`] accepts.
///
/// Each record is written under one parent (a phone under its service if it
/// has one, else its service at location, its location, its organization),
/// with its other link columns as fields. Records no service reaches (an
/// organization without services, a location no service is at and whose
/// organization has no service, a taxonomy term no attribute uses, a phone
/// only of a contact) have no place in this form and are left out; use
/// [`write_csv`] to keep everything.
pub fn write_json(dataset: &Dataset, file: &Path) -> io::Result<()> {
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent)?;
    }
    let writer = JsonWriter::new(dataset);
    let services = dataset.services.iter().map(|s| writer.service(s)).collect();
    write_json_value(&J::List(services), file)
}

type ByParent<'d, T> = HashMap<(&'static str, &'d str), Vec<&'d T>>;

/// The first of a record's parents that is written, as `(table, id)`.
fn place<'d>(
    candidates: [(&'static str, Option<&'d str>, &HashSet<&'d str>); 4],
) -> Option<(&'static str, &'d str)> {
    candidates.into_iter().find_map(|(entity, id, written)| {
        id.filter(|id| written.contains(id)).map(|id| (entity, id))
    })
}

/// The dataset indexed by where each record is written.
struct JsonWriter<'d> {
    organizations: HashMap<&'d str, &'d Organization>,
    locations: HashMap<&'d str, &'d Location>,
    terms: HashMap<&'d str, &'d TaxonomyTerm>,
    /// By service id.
    service_at_locations: HashMap<&'d str, Vec<&'d ServiceAtLocation>>,
    /// By location id.
    addresses: HashMap<&'d str, Vec<&'d Address>>,
    /// Locations no service is at, by organization id.
    organization_locations: HashMap<&'d str, Vec<&'d Location>>,
    phones: ByParent<'d, Phone>,
    schedules: ByParent<'d, Schedule>,
    languages: ByParent<'d, Language>,
    service_areas: ByParent<'d, ServiceArea>,
    attributes: HashMap<(&'d str, &'d str), Vec<&'d Attribute>>,
}

impl<'d> JsonWriter<'d> {
    fn new(d: &'d Dataset) -> Self {
        let services: HashSet<&str> = d.services.iter().map(|s| s.id.as_str()).collect();
        let organizations: HashMap<&str, &Organization> =
            d.organizations.iter().map(|o| (o.id.as_str(), o)).collect();
        let locations: HashMap<&str, &Location> =
            d.locations.iter().map(|l| (l.id.as_str(), l)).collect();
        let written_organizations: HashSet<&str> = d
            .services
            .iter()
            .map(|s| s.organization_id.as_str())
            .filter(|id| organizations.contains_key(id))
            .collect();

        let mut service_at_locations: HashMap<&str, Vec<&ServiceAtLocation>> = HashMap::new();
        let mut written_sals = HashSet::new();
        let mut written_locations = HashSet::new();
        for sal in &d.service_at_locations {
            if services.contains(sal.service_id.as_str()) {
                service_at_locations
                    .entry(sal.service_id.as_str())
                    .or_default()
                    .push(sal);
                written_sals.insert(sal.id.as_str());
                if locations.contains_key(sal.location_id.as_str()) {
                    written_locations.insert(sal.location_id.as_str());
                }
            }
        }
        let mut organization_locations: HashMap<&str, Vec<&Location>> = HashMap::new();
        for location in &d.locations {
            if let Some(organization) = location.organization_id.as_deref()
                && !written_locations.contains(location.id.as_str())
                && written_organizations.contains(organization)
            {
                organization_locations
                    .entry(organization)
                    .or_default()
                    .push(location);
            }
        }
        written_locations.extend(
            organization_locations
                .values()
                .flatten()
                .map(|l| l.id.as_str()),
        );

        let mut addresses: HashMap<&str, Vec<&Address>> = HashMap::new();
        for address in &d.addresses {
            addresses
                .entry(address.location_id.as_str())
                .or_default()
                .push(address);
        }
        let none: HashSet<&str> = HashSet::new();

        let mut phones: ByParent<Phone> = HashMap::new();
        for phone in &d.phones {
            if let Some(key) = place([
                ("service", phone.service_id.as_deref(), &services),
                (
                    "service_at_location",
                    phone.service_at_location_id.as_deref(),
                    &written_sals,
                ),
                ("location", phone.location_id.as_deref(), &written_locations),
                (
                    "organization",
                    phone.organization_id.as_deref(),
                    &written_organizations,
                ),
            ]) {
                phones.entry(key).or_default().push(phone);
            }
        }
        let mut schedules: ByParent<Schedule> = HashMap::new();
        for schedule in &d.schedules {
            if let Some(key) = place([
                ("service", schedule.service_id.as_deref(), &services),
                (
                    "service_at_location",
                    schedule.service_at_location_id.as_deref(),
                    &written_sals,
                ),
                (
                    "location",
                    schedule.location_id.as_deref(),
                    &written_locations,
                ),
                ("", None, &none),
            ]) {
                schedules.entry(key).or_default().push(schedule);
            }
        }
        let written_phones: HashSet<&str> =
            phones.values().flatten().map(|p| p.id.as_str()).collect();
        let mut languages: ByParent<Language> = HashMap::new();
        for language in &d.languages {
            if let Some(key) = place([
                ("service", language.service_id.as_deref(), &services),
                (
                    "location",
                    language.location_id.as_deref(),
                    &written_locations,
                ),
                ("phone", language.phone_id.as_deref(), &written_phones),
                ("", None, &none),
            ]) {
                languages.entry(key).or_default().push(language);
            }
        }
        let mut service_areas: ByParent<ServiceArea> = HashMap::new();
        for area in &d.service_areas {
            if let Some(key) = place([
                ("service", area.service_id.as_deref(), &services),
                (
                    "service_at_location",
                    area.service_at_location_id.as_deref(),
                    &written_sals,
                ),
                ("", None, &none),
                ("", None, &none),
            ]) {
                service_areas.entry(key).or_default().push(area);
            }
        }
        let mut attributes: HashMap<(&str, &str), Vec<&Attribute>> = HashMap::new();
        for attribute in &d.attributes {
            attributes
                .entry((attribute.link_entity.as_str(), attribute.link_id.as_str()))
                .or_default()
                .push(attribute);
        }
        JsonWriter {
            organizations,
            locations,
            terms: d
                .taxonomy_terms
                .iter()
                .map(|t| (t.id.as_str(), t))
                .collect(),
            service_at_locations,
            addresses,
            organization_locations,
            phones,
            schedules,
            languages,
            service_areas,
            attributes,
        }
    }

    fn service(&self, service: &'d Service) -> J<'d> {
        let id = service.id.as_str();
        let mut object = fields(service, &[]);
        if let Some(organization) = self.organizations.get(service.organization_id.as_str()) {
            object.push(("organization", self.organization(organization)));
        }
        self.push_leaves(&mut object, "service", id, "service_id");
        let sals: Vec<J> = self
            .service_at_locations
            .get(id)
            .into_iter()
            .flatten()
            .map(|sal| self.service_at_location(sal))
            .collect();
        push_list(&mut object, "service_at_locations", sals);
        self.push_attributes(&mut object, Service::NAME, id);
        J::Object(object)
    }

    fn organization(&self, organization: &'d Organization) -> J<'d> {
        let id = organization.id.as_str();
        let mut object = fields(organization, &[]);
        let phones = self.phones_of("organization", id, "organization_id");
        push_list(&mut object, "phones", phones);
        let locations: Vec<J> = self
            .organization_locations
            .get(id)
            .into_iter()
            .flatten()
            .map(|l| self.location(l, &["organization_id"]))
            .collect();
        push_list(&mut object, "locations", locations);
        self.push_attributes(&mut object, Organization::NAME, id);
        J::Object(object)
    }

    fn service_at_location(&self, sal: &'d ServiceAtLocation) -> J<'d> {
        let id = sal.id.as_str();
        let location = self.locations.get(sal.location_id.as_str());
        let skip: &[&str] = if location.is_some() {
            &["service_id", "location_id"]
        } else {
            &["service_id"]
        };
        let mut object = fields(sal, skip);
        let column = "service_at_location_id";
        push_list(
            &mut object,
            "phones",
            self.phones_of("service_at_location", id, column),
        );
        push_list(
            &mut object,
            "schedules",
            self.simple(&self.schedules, "service_at_location", id, column),
        );
        push_list(
            &mut object,
            "service_areas",
            self.simple(&self.service_areas, "service_at_location", id, column),
        );
        self.push_attributes(&mut object, ServiceAtLocation::NAME, id);
        if let Some(location) = location {
            object.push(("location", self.location(location, &[])));
        }
        J::Object(object)
    }

    fn location(&self, location: &'d Location, skip: &[&str]) -> J<'d> {
        let id = location.id.as_str();
        let mut object = fields(location, skip);
        let addresses: Vec<J> = self
            .addresses
            .get(id)
            .into_iter()
            .flatten()
            .map(|a| {
                let mut address = fields(*a, &["location_id"]);
                self.push_attributes(&mut address, Address::NAME, &a.id);
                J::Object(address)
            })
            .collect();
        push_list(&mut object, "addresses", addresses);
        push_list(
            &mut object,
            "phones",
            self.phones_of("location", id, "location_id"),
        );
        push_list(
            &mut object,
            "languages",
            self.simple(&self.languages, "location", id, "location_id"),
        );
        push_list(
            &mut object,
            "schedules",
            self.simple(&self.schedules, "location", id, "location_id"),
        );
        self.push_attributes(&mut object, Location::NAME, id);
        J::Object(object)
    }

    /// The phones, schedules, service areas and languages of a service.
    fn push_leaves(
        &self,
        object: &mut Vec<(&'d str, J<'d>)>,
        entity: &'static str,
        id: &'d str,
        column: &str,
    ) {
        push_list(object, "phones", self.phones_of(entity, id, column));
        push_list(
            object,
            "schedules",
            self.simple(&self.schedules, entity, id, column),
        );
        push_list(
            object,
            "service_areas",
            self.simple(&self.service_areas, entity, id, column),
        );
        push_list(
            object,
            "languages",
            self.simple(&self.languages, entity, id, column),
        );
    }

    fn phones_of(&self, entity: &'static str, id: &'d str, column: &str) -> Vec<J<'d>> {
        let Some(phones) = self.phones.get(&(entity, id)) else {
            return Vec::new();
        };
        phones
            .iter()
            .map(|phone| {
                let mut object = fields(*phone, &[column]);
                let languages = self.simple(&self.languages, "phone", &phone.id, "phone_id");
                push_list(&mut object, "languages", languages);
                self.push_attributes(&mut object, Phone::NAME, &phone.id);
                J::Object(object)
            })
            .collect()
    }

    /// Records with nothing nested in them but attributes.
    fn simple<T: Table>(
        &self,
        by: &ByParent<'d, T>,
        entity: &'static str,
        id: &'d str,
        column: &str,
    ) -> Vec<J<'d>> {
        let Some(records) = by.get(&(entity, id)) else {
            return Vec::new();
        };
        records
            .iter()
            .map(|record| {
                let mut object = fields(*record, &[column]);
                self.push_attributes(&mut object, T::NAME, record.id());
                J::Object(object)
            })
            .collect()
    }

    fn push_attributes(&self, object: &mut Vec<(&'d str, J<'d>)>, entity: &'d str, id: &'d str) {
        let Some(attributes) = self.attributes.get(&(entity, id)) else {
            return;
        };
        let list = attributes
            .iter()
            .map(|attribute| {
                let term = self.terms.get(attribute.taxonomy_term_id.as_str());
                let skip: &[&str] = if term.is_some() {
                    &["link_id", "taxonomy_term_id"]
                } else {
                    &["link_id"]
                };
                let mut object = fields(*attribute, skip);
                if let Some(term) = term {
                    object.push(("taxonomy_term", J::Object(fields(*term, &[]))));
                }
                J::Object(object)
            })
            .collect();
        push_list(object, "attributes", list);
    }
}

/// A record's non-empty fields, in HSDS's order, but for `skip`.
fn fields<'a, T: Table>(record: &'a T, skip: &[&str]) -> Vec<(&'a str, J<'a>)> {
    T::COLUMNS
        .iter()
        .zip(record.cells())
        .filter(|((name, _), _)| !skip.contains(name))
        .filter_map(|(&(name, _), cell)| cell.json().map(|value| (name, value)))
        .collect()
}

fn push_list<'a>(object: &mut Vec<(&'a str, J<'a>)>, key: &'a str, items: Vec<J<'a>>) {
    if !items.is_empty() {
        object.push((key, J::List(items)));
    }
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

/// The ids of one table, and how a reference to it is worded.
struct Target<'d> {
    ids: HashSet<&'d str>,
    name: &'static str,
    file: &'d str,
}

struct Checker<'d> {
    problems: Vec<Problem>,
    missing_columns: &'d HashSet<(String, &'static str)>,
}

fn check_skipping(d: &Dataset, missing_columns: &HashSet<(String, &'static str)>) -> Vec<Problem> {
    let mut c = Checker {
        problems: Vec::new(),
        missing_columns,
    };
    if d.services.is_empty() {
        c.problems.push(Problem {
            origin: Origin::default(),
            message: "the dataset has no services".into(),
        });
    }
    let organizations = c.table(&d.organizations);
    let services = c.table(&d.services);
    let locations = c.table(&d.locations);
    let addresses = c.table(&d.addresses);
    let sals = c.table(&d.service_at_locations);
    let phones = c.table(&d.phones);
    let schedules = c.table(&d.schedules);
    let languages = c.table(&d.languages);
    let service_areas = c.table(&d.service_areas);
    let terms = c.table(&d.taxonomy_terms);
    c.table(&d.attributes);

    for s in &d.services {
        c.reference(
            &s.origin,
            "organization_id",
            Some(&s.organization_id),
            &organizations,
        );
        c.one_of(&s.origin, "status", &s.status, SERVICE_STATUSES);
        for (column, age) in [
            ("minimum_age", s.minimum_age),
            ("maximum_age", s.maximum_age),
        ] {
            if let Some(age) = age
                && !(0.0..=130.0).contains(&age)
            {
                c.push(
                    &s.origin,
                    Some(column),
                    format!("{column} {age} is not an age in years"),
                );
            }
        }
        if let (Some(min), Some(max)) = (s.minimum_age, s.maximum_age)
            && min > max
        {
            c.push(
                &s.origin,
                Some("minimum_age"),
                format!("minimum_age {min} is above maximum_age {max}"),
            );
        }
    }
    for l in &d.locations {
        c.reference(
            &l.origin,
            "organization_id",
            l.organization_id.as_deref(),
            &organizations,
        );
        c.one_of(&l.origin, "location_type", &l.location_type, LOCATION_TYPES);
        for (column, value, limit) in [
            ("latitude", l.latitude, 90.0),
            ("longitude", l.longitude, 180.0),
        ] {
            if let Some(value) = value
                && !(-limit..=limit).contains(&value)
            {
                c.push(
                    &l.origin,
                    Some(column),
                    format!("{column} {value} is out of range (expected -{limit} to {limit})"),
                );
            }
        }
    }
    for a in &d.addresses {
        c.reference(&a.origin, "location_id", Some(&a.location_id), &locations);
        c.one_of(&a.origin, "address_type", &a.address_type, LOCATION_TYPES);
    }
    for sal in &d.service_at_locations {
        c.reference(&sal.origin, "service_id", Some(&sal.service_id), &services);
        c.reference(
            &sal.origin,
            "location_id",
            Some(&sal.location_id),
            &locations,
        );
    }
    for p in &d.phones {
        c.reference(
            &p.origin,
            "location_id",
            p.location_id.as_deref(),
            &locations,
        );
        c.reference(&p.origin, "service_id", p.service_id.as_deref(), &services);
        c.reference(
            &p.origin,
            "organization_id",
            p.organization_id.as_deref(),
            &organizations,
        );
        c.reference(
            &p.origin,
            "service_at_location_id",
            p.service_at_location_id.as_deref(),
            &sals,
        );
    }
    for s in &d.schedules {
        c.reference(&s.origin, "service_id", s.service_id.as_deref(), &services);
        c.reference(
            &s.origin,
            "location_id",
            s.location_id.as_deref(),
            &locations,
        );
        c.reference(
            &s.origin,
            "service_at_location_id",
            s.service_at_location_id.as_deref(),
            &sals,
        );
        c.schedule(s);
    }
    for l in &d.languages {
        c.reference(&l.origin, "service_id", l.service_id.as_deref(), &services);
        c.reference(
            &l.origin,
            "location_id",
            l.location_id.as_deref(),
            &locations,
        );
        c.reference(&l.origin, "phone_id", l.phone_id.as_deref(), &phones);
    }
    for a in &d.service_areas {
        c.reference(&a.origin, "service_id", a.service_id.as_deref(), &services);
        c.reference(
            &a.origin,
            "service_at_location_id",
            a.service_at_location_id.as_deref(),
            &sals,
        );
    }
    for a in &d.attributes {
        c.reference(
            &a.origin,
            "taxonomy_term_id",
            Some(&a.taxonomy_term_id),
            &terms,
        );
        let target = match a.link_entity.as_str() {
            "" => continue, // reported as missing
            "organization" => &organizations,
            "service" => &services,
            "location" => &locations,
            "address" => &addresses,
            "service_at_location" => &sals,
            "phone" => &phones,
            "schedule" => &schedules,
            "language" => &languages,
            "service_area" => &service_areas,
            "taxonomy_term" => &terms,
            entity if HSDS_TABLES.contains(&entity) => continue, // not kept
            entity => {
                c.push(
                    &a.origin,
                    Some("link_entity"),
                    format!(
                        "link_entity \"{entity}\" is not an HSDS table (expected a table name such as service, organization or location)"
                    ),
                );
                continue;
            }
        };
        c.reference(&a.origin, "link_id", Some(&a.link_id), target);
    }
    let mut problems = c.problems;
    sort_problems(&mut problems);
    problems
}

impl<'d> Checker<'d> {
    fn push(&mut self, origin: &Origin, column: Option<&str>, message: String) {
        self.problems.push(Problem {
            origin: field_origin(origin, column),
            message,
        });
    }

    /// Required fields and duplicate ids; returns the table's ids.
    fn table<T: Table>(&mut self, rows: &'d [T]) -> Target<'d> {
        let required: Vec<usize> = T::REQUIRED
            .iter()
            .filter_map(|r| T::COLUMNS.iter().position(|(name, _)| name == r))
            .collect();
        let mut first: HashMap<&str, &Origin> = HashMap::with_capacity(rows.len());
        for row in rows {
            let cells = row.cells();
            for &i in &required {
                let column = T::COLUMNS[i].0;
                if cells[i].is_empty()
                    && !self
                        .missing_columns
                        .contains(&(row.origin().file.clone(), column))
                {
                    self.push(
                        row.origin(),
                        Some(column),
                        format!("{column} is missing (required)"),
                    );
                }
            }
            if row.id().is_empty() {
                continue;
            }
            match first.entry(row.id()) {
                Entry::Vacant(e) => {
                    e.insert(row.origin());
                }
                Entry::Occupied(e) => {
                    let message = match describe(e.get(), row.origin()) {
                        Some(there) => {
                            format!("id \"{}\" is used twice (first at {there})", row.id())
                        }
                        None => format!("id \"{}\" is used twice", row.id()),
                    };
                    self.push(row.origin(), Some("id"), message);
                }
            }
        }
        let file = rows
            .first()
            .map(|r| r.origin().file.as_str())
            .filter(|f| f.ends_with(".csv"))
            .unwrap_or(T::FILE);
        Target {
            ids: first.into_keys().collect(),
            name: T::NAME,
            file,
        }
    }

    fn reference(
        &mut self,
        origin: &Origin,
        column: &str,
        value: Option<&str>,
        target: &Target<'_>,
    ) {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return;
        };
        if target.ids.contains(value) {
            return;
        }
        let message = if origin.file.ends_with(".csv") {
            format!("{column} \"{value}\" is not in {}", target.file)
        } else {
            format!("{column} \"{value}\" matches no {}", target.name)
        };
        self.push(origin, Some(column), message);
    }

    fn one_of(&mut self, origin: &Origin, column: &str, value: &str, allowed: &[&str]) {
        if !value.is_empty() && !allowed.contains(&value) {
            self.push(
                origin,
                Some(column),
                format!("{column} \"{value}\" is not one of: {}", allowed.join(", ")),
            );
        }
    }

    fn schedule(&mut self, s: &Schedule) {
        let o = &s.origin;
        if s.service_id.is_none() && s.location_id.is_none() && s.service_at_location_id.is_none() {
            self.push(
                o,
                None,
                "a schedule needs a service_id, location_id or service_at_location_id".into(),
            );
        }
        let monthly = match s.freq.as_deref() {
            None => false,
            Some("MONTHLY") => true,
            Some("WEEKLY") => false,
            Some(freq) => {
                self.push(
                    o,
                    Some("freq"),
                    format!("freq \"{freq}\" is not WEEKLY or MONTHLY"),
                );
                false
            }
        };
        if let Some(interval) = s.interval
            && interval < 1
        {
            self.push(
                o,
                Some("interval"),
                format!("interval {interval} should be 1 or more"),
            );
        }
        for item in s.byday.iter().flat_map(|list| list.split(',')) {
            let day_at = item.len().saturating_sub(2);
            let (ordinal, day) = item.split_at_checked(day_at).unwrap_or(("", item));
            if !DAYS.contains(&day) {
                self.push(
                    o,
                    Some("byday"),
                    format!("byday has \"{item}\", which is not a day (expected MO, TU, WE, TH, FR, SA or SU)"),
                );
            } else if !ordinal.is_empty() {
                let n = ordinal
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (1..=5).contains(&n.abs()));
                if n.is_none() {
                    self.push(
                        o,
                        Some("byday"),
                        format!("byday has \"{item}\": the number before the day should be 1 to 5 or -1 to -5"),
                    );
                } else if !monthly {
                    self.push(
                        o,
                        Some("byday"),
                        format!("byday has \"{item}\": a numbered day (such as 1MO or -1FR) needs freq MONTHLY"),
                    );
                }
            }
        }
        for item in s.bymonthday.iter().flat_map(|list| list.split(',')) {
            let ok = item
                .parse::<i32>()
                .is_ok_and(|n| (1..=31).contains(&n.abs()));
            if !ok {
                self.push(
                    o,
                    Some("bymonthday"),
                    format!("bymonthday has \"{item}\", which is not a day of the month (expected 1 to 31, or -1 to -31 counting from the end)"),
                );
            }
        }
        for (column, value, closing) in [
            ("opens_at", &s.opens_at, false),
            ("closes_at", &s.closes_at, true),
        ] {
            if let Some(value) = value
                && parse_time(value, false).is_none_or(|(h, m)| h == 24 && !(closing && m == 0))
            {
                let expected = if closing {
                    "HH:MM, or 24:00 for midnight"
                } else {
                    "HH:MM"
                };
                self.push(
                    o,
                    Some(column),
                    format!("{column} \"{value}\" is not a time (expected {expected})"),
                );
            }
        }
        match (&s.opens_at, &s.closes_at) {
            (Some(_), None) => self.push(o, Some("closes_at"), "opens_at is given but not closes_at".into()),
            (None, Some(_)) => self.push(o, Some("opens_at"), "closes_at is given but not opens_at".into()),
            (Some(_), Some(_)) if s.freq.is_none() && s.byday.is_none() && s.bymonthday.is_none() => {
                self.push(
                    o,
                    None,
                    "opening times are given but not which days: give freq with byday or bymonthday".into(),
                )
            }
            _ => {}
        }
        let mut dates = [None, None];
        for (i, (column, value)) in [
            ("valid_from", &s.valid_from),
            ("valid_to", &s.valid_to),
            ("dtstart", &s.dtstart),
            ("until", &s.until),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(value) = value else { continue };
            match parse_date(value) {
                Some(date) if i < 2 => dates[i] = Some(date),
                Some(_) => {}
                None => self.push(
                    o,
                    Some(column),
                    format!("{column} \"{value}\" is not a date (expected YYYY-MM-DD)"),
                ),
            }
        }
        if let [Some(from), Some(to)] = dates
            && from > to
        {
            self.push(
                o,
                Some("valid_from"),
                format!("valid_from {from} is after valid_to {to}"),
            );
        }
    }
}

/// Where an earlier record is, as seen from a later one: `line 3`, a JSON
/// path, or `file:at` in another file.
fn describe(first: &Origin, here: &Origin) -> Option<String> {
    if first.at.is_empty() {
        return None;
    }
    Some(if first.file != here.file {
        format!("{}:{}", first.file, first.at)
    } else if is_line(&first.at) {
        format!("line {}", first.at)
    } else {
        first.at.clone()
    })
}

/// `HH:MM` or `HH:MM:SS` (and `H:MM` when `lenient`), 00:00 to 24:00.
fn parse_time(text: &str, lenient: bool) -> Option<(u32, u32)> {
    let mut parts = text.split(':');
    let (hour, minute, second) = (parts.next()?, parts.next()?, parts.next());
    if parts.next().is_some() {
        return None;
    }
    let two = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    let hour_ok =
        two(hour) || (lenient && hour.len() == 1 && hour.bytes().all(|b| b.is_ascii_digit()));
    if !hour_ok || !two(minute) || second.is_some_and(|s| !two(s)) {
        return None;
    }
    let (h, m) = (hour.parse().ok()?, minute.parse().ok()?);
    let s: u32 = second.map_or(Some(0), |s| s.parse().ok())?;
    let valid = (h < 24 && m < 60 && s < 60) || (h == 24 && m == 0 && s == 0);
    valid.then_some((h, m))
}

/// `YYYY-MM-DD`, a real date.
fn parse_date(text: &str) -> Option<jiff::civil::Date> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const VANIER: &str = "a1000000-0000-4000-8000-000000000001";
    const FOOD_BANK: &str = "b2000000-0000-4000-8000-000000000001";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/hsds")
            .join(name)
    }

    /// A fresh folder under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("frontdoor-hsds-{name}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The tabular example, copied to a temp folder to be broken.
    fn example_copy(name: &str) -> TempDir {
        let dir = TempDir::new(name);
        for entry in fs::read_dir(fixture("example")).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), dir.join(&entry.file_name().to_string_lossy())).unwrap();
        }
        dir
    }

    /// The JSON example, copied with `from` replaced by `to` (`count` times).
    fn json_copy(name: &str, edits: &[(&str, &str, usize)]) -> (TempDir, PathBuf) {
        let dir = TempDir::new(name);
        let mut text = fs::read_to_string(fixture("example.json")).unwrap();
        for &(from, to, count) in edits {
            assert_eq!(
                text.matches(from).count(),
                count,
                "{from:?} in example.json"
            );
            text = text.replace(from, to);
        }
        let file = dir.join("example.json");
        fs::write(&file, text).unwrap();
        (dir, file)
    }

    /// Replaces `from` (which must be there) by `to` on line `line` (1-based).
    fn edit_line(file: &Path, line: usize, from: &str, to: &str) {
        let text = fs::read_to_string(file).unwrap();
        let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
        let target = &mut lines[line - 1];
        assert!(
            target.contains(from),
            "{from:?} is not on line {line} of {}",
            file.display()
        );
        *target = target.replacen(from, to, 1);
        fs::write(file, lines.concat()).unwrap();
    }

    fn problems(result: Result<Dataset, Vec<Problem>>) -> Vec<String> {
        result
            .expect_err("expected problems")
            .iter()
            .map(Problem::to_string)
            .collect()
    }

    fn read_ok(path: &Path) -> Dataset {
        read(path).unwrap_or_else(|problems| {
            panic!(
                "{} has problems:\n{}",
                path.display(),
                strings(&problems).join("\n")
            )
        })
    }

    fn strings(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(Problem::to_string).collect()
    }

    /// Without origins, each table sorted by id: what both forms must agree on.
    fn normalised(mut d: Dataset) -> Dataset {
        fn norm<T: Table>(rows: &mut [T], origin: impl Fn(&mut T) -> &mut Origin) {
            for row in rows.iter_mut() {
                *origin(row) = Origin::default();
            }
            rows.sort_by(|a, b| a.id().cmp(b.id()));
        }
        norm(&mut d.organizations, |r| &mut r.origin);
        norm(&mut d.services, |r| &mut r.origin);
        norm(&mut d.locations, |r| &mut r.origin);
        norm(&mut d.addresses, |r| &mut r.origin);
        norm(&mut d.service_at_locations, |r| &mut r.origin);
        norm(&mut d.phones, |r| &mut r.origin);
        norm(&mut d.schedules, |r| &mut r.origin);
        norm(&mut d.languages, |r| &mut r.origin);
        norm(&mut d.service_areas, |r| &mut r.origin);
        norm(&mut d.taxonomy_terms, |r| &mut r.origin);
        norm(&mut d.attributes, |r| &mut r.origin);
        d
    }

    fn counts(d: &Dataset) -> [usize; 11] {
        [
            d.organizations.len(),
            d.services.len(),
            d.locations.len(),
            d.addresses.len(),
            d.service_at_locations.len(),
            d.phones.len(),
            d.schedules.len(),
            d.languages.len(),
            d.service_areas.len(),
            d.taxonomy_terms.len(),
            d.attributes.len(),
        ]
    }

    #[test]
    fn example_tabular_and_json_forms_read_to_the_same_dataset() {
        let tabular = read_ok(&fixture("example"));
        let json = read_ok(&fixture("example.json"));
        assert_eq!(counts(&tabular), [3, 5, 4, 5, 6, 7, 8, 11, 2, 5, 6]);
        assert_eq!(normalised(tabular), normalised(json));
    }

    #[test]
    fn example_reads_as_its_files_say() {
        let d = read_ok(&fixture("example"));
        let food_bank = &d.services[0];
        assert_eq!(
            food_bank.origin,
            Origin {
                file: "services.csv".into(),
                at: "2".into()
            }
        );
        assert_eq!(food_bank.name, "Vanier Food Bank");
        assert_eq!(
            food_bank.alternate_name.as_deref(),
            Some("Banque alimentaire de Vanier")
        );
        assert_eq!(food_bank.organization_id, VANIER);
        // At two locations.
        let at: Vec<&str> = d
            .service_at_locations
            .iter()
            .filter(|sal| sal.service_id == FOOD_BANK)
            .map(|sal| sal.location_id.as_str())
            .collect();
        assert_eq!(
            at,
            [
                "c3000000-0000-4000-8000-000000000001",
                "c3000000-0000-4000-8000-000000000002"
            ]
        );
        // A multi-line description; the record after it starts on line 7.
        assert_eq!(
            d.services[3].description.as_deref(),
            Some(
                "Advice and representation for tenants facing eviction, repairs or rent increases.\nBring your lease and any notices from your landlord."
            )
        );
        assert_eq!(d.services[4].origin.at, "7");
        assert_eq!(d.services[2].minimum_age, Some(18.0));
        // The quotes some publishers put around numbers are dropped.
        assert_eq!(d.phones[3].number, "+1 807-555-0117");
        assert_eq!(d.phones[4].extension.as_deref(), Some("2"));
        assert_eq!(d.phones[6].kind.as_deref(), Some("fax"));
        // Times as HH:MM, freq and byday upper case without spaces.
        let building = &d.schedules[6];
        assert_eq!(
            (building.opens_at.as_deref(), building.closes_at.as_deref()),
            (Some("08:30"), Some("18:00"))
        );
        assert_eq!(building.interval, Some(1));
        let clinic = &d.schedules[7];
        assert_eq!(
            (clinic.freq.as_deref(), clinic.byday.as_deref()),
            (Some("WEEKLY"), Some("TU,TH"))
        );
        assert_eq!(d.schedules[5].byday.as_deref(), Some("-1FR"));
        // Language codes lower case.
        assert_eq!(d.languages[10].code.as_deref(), Some("fr"));
        assert_eq!(
            d.languages[10].phone_id.as_deref(),
            Some("f6000000-0000-4000-8000-000000000001")
        );
        assert_eq!(d.locations[0].latitude, Some(45.4379));
        assert_eq!(d.taxonomy_terms[0].code.as_deref(), Some("BD-1800.2000"));
    }

    #[test]
    fn json_records_nested_in_several_places_are_kept_once_with_their_parents_ids() {
        let d = read_ok(&fixture("example.json"));
        // Organization 1 is nested in two services, location 1 in two service
        // at locations, term BD-1800.2000 in two attributes.
        assert_eq!(d.organizations.iter().filter(|o| o.id == VANIER).count(), 1);
        assert_eq!(
            d.locations[0].origin.at,
            "[0].service_at_locations[0].location"
        );
        let reception = d.phones.iter().find(|p| p.id.ends_with("0002")).unwrap();
        assert_eq!(reception.organization_id.as_deref(), Some(VANIER));
        assert_eq!(reception.origin.at, "[0].organization.phones[0]");
        let schedule = d.schedules.iter().find(|s| s.id.ends_with("0003")).unwrap();
        assert_eq!(
            schedule.service_at_location_id.as_deref(),
            Some("e5000000-0000-4000-8000-000000000002")
        );
        let address = d.addresses.iter().find(|a| a.id.ends_with("0004")).unwrap();
        assert_eq!(address.location_id, "c3000000-0000-4000-8000-000000000003");
        let attribute = &d.attributes[0];
        assert_eq!(
            (
                attribute.link_id.as_str(),
                attribute.link_entity.as_str(),
                attribute.taxonomy_term_id.as_str()
            ),
            (FOOD_BANK, "service", "4a000000-0000-4000-8000-000000000001")
        );
    }

    #[test]
    fn a_page_of_services_and_a_single_service_read_too() {
        let dir = TempDir::new("page");
        let list = fs::read_to_string(fixture("example.json")).unwrap();
        let page = format!(
            "{{\"total_items\": 5, \"total_pages\": 1, \"page_number\": 1, \"size\": 5, \"first_page\": true, \"last_page\": true, \"empty\": false, \"contents\": {list}}}"
        );
        fs::write(dir.join("page.json"), page).unwrap();
        let from_page = read_ok(&dir.join("page.json"));
        assert_eq!(from_page.services[1].origin.at, "contents[1]");
        assert_eq!(
            normalised(from_page),
            normalised(read_ok(&fixture("example.json")))
        );

        let services: Value = serde_json::from_str(&list).unwrap();
        fs::write(dir.join("one.json"), services[2].to_string()).unwrap();
        let one = read_ok(&dir.join("one.json"));
        assert_eq!(counts(&one), [1, 1, 1, 2, 1, 1, 2, 2, 1, 2, 2]);
        assert_eq!(
            one.services[0].origin,
            Origin {
                file: "one.json".into(),
                at: String::new()
            }
        );
        assert_eq!(
            one.locations[0].origin.at,
            "service_at_locations[0].location"
        );
    }

    #[test]
    fn write_csv_then_read_gives_the_same_dataset() {
        let d = read_ok(&fixture("example.json"));
        let dir = TempDir::new("write-csv");
        write_csv(&d, &dir.0).unwrap();
        let back = read_ok(&dir.0);
        assert_eq!(
            back.services[0].origin,
            Origin {
                file: "services.csv".into(),
                at: "2".into()
            }
        );
        assert_eq!(normalised(back), normalised(d.clone()));

        // Byte for byte the same when written again; the descriptor lists the files.
        let again = TempDir::new("write-csv-again");
        write_csv(&d, &again.0).unwrap();
        for file in ["services.csv", "schedules.csv", "datapackage.json"] {
            assert_eq!(
                fs::read(dir.join(file)).unwrap(),
                fs::read(again.join(file)).unwrap(),
                "{file}"
            );
        }
        let package: Value =
            serde_json::from_slice(&fs::read(dir.join(DATAPACKAGE)).unwrap()).unwrap();
        let paths: Vec<&str> = package["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "organizations.csv",
                "services.csv",
                "locations.csv",
                "addresses.csv",
                "service_at_location.csv",
                "phones.csv",
                "schedules.csv",
                "languages.csv",
                "service_areas.csv",
                "taxonomy_terms.csv",
                "attributes.csv"
            ]
        );
        assert_eq!(
            package["resources"][5]["schema"]["fields"][8]["name"],
            "type"
        );
        let header = fs::read_to_string(dir.join("phones.csv")).unwrap();
        assert!(header.starts_with(
            "id,location_id,service_id,organization_id,contact_id,service_at_location_id,number,extension,type,description\n"
        ));
    }

    #[test]
    fn write_json_then_read_gives_the_same_dataset() {
        let d = read_ok(&fixture("example"));
        let dir = TempDir::new("write-json");
        let file = dir.join("out/directory.json");
        write_json(&d, &file).unwrap();
        let back = read_ok(&file);
        assert_eq!(normalised(back), normalised(d.clone()));
        let again = dir.join("again.json");
        write_json(&d, &again).unwrap();
        assert_eq!(fs::read(&file).unwrap(), fs::read(&again).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("[\n  {\n    \"id\": \"b2000000-0000-4000-8000-000000000001\",\n"),
            "{text}"
        );
    }

    #[test]
    fn a_datapackage_may_name_other_paths_and_without_one_the_plural_file_name_is_read() {
        let dir = example_copy("paths");
        fs::rename(dir.join("services.csv"), dir.join("services-2026.csv")).unwrap();
        let package = dir.join(DATAPACKAGE);
        let text = fs::read_to_string(&package).unwrap();
        fs::write(
            &package,
            text.replace(
                "\"path\": \"services.csv\"",
                "\"path\": \"services-2026.csv\"",
            ),
        )
        .unwrap();
        let d = read_ok(&dir.0);
        assert_eq!(d.services[0].origin.file, "services-2026.csv");
        assert_eq!(normalised(d), normalised(read_ok(&fixture("example"))));

        let dir = example_copy("plural");
        fs::remove_file(dir.join(DATAPACKAGE)).unwrap();
        fs::rename(
            dir.join("service_at_location.csv"),
            dir.join("service_at_locations.csv"),
        )
        .unwrap();
        let d = read_ok(&dir.0);
        assert_eq!(d.service_at_locations.len(), 6);
        assert_eq!(
            d.service_at_locations[0].origin.file,
            "service_at_locations.csv"
        );
    }

    #[test]
    fn a_service_with_an_unknown_organization_is_reported_at_its_line() {
        let dir = example_copy("unknown-org");
        edit_line(
            &dir.join("services.csv"),
            4,
            "a1000000-0000-4000-8000-000000000002",
            "a1000000-0000-4000-8000-000000000099",
        );
        assert_eq!(
            problems(read(&dir.0)),
            [
                "services.csv:4: organization_id \"a1000000-0000-4000-8000-000000000099\" is not in organizations.csv"
            ]
        );
    }

    #[test]
    fn a_schedule_on_day_xx_is_reported() {
        let dir = example_copy("byday");
        edit_line(&dir.join("schedules.csv"), 3, ",SA,", ",XX,");
        assert_eq!(
            problems(read(&dir.0)),
            [
                "schedules.csv:3: byday has \"XX\", which is not a day (expected MO, TU, WE, TH, FR, SA or SU)"
            ]
        );
    }

    #[test]
    fn a_latitude_of_100_is_out_of_range() {
        let dir = example_copy("latitude");
        edit_line(&dir.join("locations.csv"), 4, ",48.3818,", ",100,");
        assert_eq!(
            problems(read(&dir.0)),
            ["locations.csv:4: latitude 100 is out of range (expected -90 to 90)"]
        );
    }

    #[test]
    fn a_missing_required_name_is_reported() {
        let dir = example_copy("name");
        edit_line(
            &dir.join("organizations.csv"),
            3,
            ",Thunder Bay Food Bank,",
            ",,",
        );
        assert_eq!(
            problems(read(&dir.0)),
            ["organizations.csv:3: name is missing (required)"]
        );
    }

    #[test]
    fn a_duplicate_id_is_reported_with_where_it_was_first() {
        let dir = example_copy("duplicate");
        edit_line(
            &dir.join("phones.csv"),
            7,
            "f6000000-0000-4000-8000-000000000006",
            "f6000000-0000-4000-8000-000000000003",
        );
        assert_eq!(
            problems(read(&dir.0)),
            [
                "phones.csv:7: id \"f6000000-0000-4000-8000-000000000003\" is used twice (first at line 4)"
            ]
        );
    }

    #[test]
    fn lines_count_from_where_a_record_starts_after_a_multi_line_field() {
        let dir = example_copy("multi-line");
        edit_line(
            &dir.join("services.csv"),
            7,
            ",temporarily closed,",
            ",paused,",
        );
        assert_eq!(
            problems(read(&dir.0)),
            [
                "services.csv:7: status \"paused\" is not one of: active, inactive, defunct, temporarily closed"
            ]
        );
    }

    #[test]
    fn lines_are_right_in_files_with_crlf_line_ends_and_a_byte_order_mark() {
        let dir = example_copy("crlf");
        let file = dir.join("services.csv");
        edit_line(
            &file,
            4,
            "a1000000-0000-4000-8000-000000000002",
            "a1000000-0000-4000-8000-000000000099",
        );
        edit_line(&file, 7, ",temporarily closed,", ",paused,");
        let text = fs::read_to_string(&file).unwrap();
        fs::write(&file, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
        assert_eq!(
            problems(read(&dir.0)),
            [
                "services.csv:4: organization_id \"a1000000-0000-4000-8000-000000000099\" is not in organizations.csv",
                "services.csv:7: status \"paused\" is not one of: active, inactive, defunct, temporarily closed",
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_sorted_by_file_and_line() {
        let dir = example_copy("many");
        edit_line(&dir.join("services.csv"), 7, ",temporarily closed,", ",,");
        edit_line(
            &dir.join("services.csv"),
            3,
            "a1000000-0000-4000-8000-000000000001",
            "nobody",
        );
        edit_line(&dir.join("locations.csv"), 2, ",physical,", ",building,");
        edit_line(&dir.join("locations.csv"), 3, ",-75.6512", ",east");
        edit_line(&dir.join("schedules.csv"), 5, ",11:30,13:00,", ",11:30,,");
        edit_line(
            &dir.join("schedules.csv"),
            8,
            ",2026-01-05,2026-12-23,",
            ",2026-12-23,2026-01-05,",
        );
        edit_line(&dir.join("attributes.csv"), 2, ",service,", ",services,");
        edit_line(
            &dir.join("languages.csv"),
            12,
            "f6000000-0000-4000-8000-000000000001",
            "f6000000-0000-4000-8000-000000000042",
        );
        edit_line(&dir.join("addresses.csv"), 6, ",Toronto,ON,", ",Toronto,,");
        assert_eq!(
            problems(read(&dir.0)),
            [
                "addresses.csv:6: state_province is missing (required)",
                "attributes.csv:2: link_entity \"services\" is not an HSDS table (expected a table name such as service, organization or location)",
                "languages.csv:12: phone_id \"f6000000-0000-4000-8000-000000000042\" is not in phones.csv",
                "locations.csv:2: location_type \"building\" is not one of: physical, postal, virtual",
                "locations.csv:3: longitude \"east\" is not a number",
                "schedules.csv:5: opens_at is given but not closes_at",
                "schedules.csv:8: valid_from 2026-12-23 is after valid_to 2026-01-05",
                "services.csv:3: organization_id \"nobody\" is not in organizations.csv",
                "services.csv:7: status is missing (required)",
            ]
        );
    }

    #[test]
    fn a_missing_required_column_is_reported_once_at_the_header() {
        let dir = example_copy("column");
        edit_line(&dir.join("services.csv"), 1, ",status,", ",state,");
        assert_eq!(
            problems(read(&dir.0)),
            ["services.csv:1: no status column (required)"]
        );
    }

    #[test]
    fn a_row_with_too_few_cells_is_reported() {
        let dir = example_copy("cells");
        let file = dir.join("service_at_location.csv");
        edit_line(&file, 4, ",c3000000-0000-4000-8000-000000000001,", ",");
        assert_eq!(
            problems(read(&dir.0)),
            [
                "service_at_location.csv:4: this row has 3 cells but the header has 4",
                "service_at_location.csv:4: location_id is missing (required)",
            ]
        );
    }

    #[test]
    fn a_folder_without_services_is_a_problem() {
        let dir = TempDir::new("no-services");
        fs::copy(
            fixture("example/organizations.csv"),
            dir.join("organizations.csv"),
        )
        .unwrap();
        let found = read(&dir.0).unwrap_err();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].origin,
            Origin {
                file: dir.0.display().to_string(),
                at: String::new()
            }
        );
        assert_eq!(
            found[0].message,
            "no services.csv here: a dataset needs its services"
        );

        fs::write(dir.join("services.csv"), "id,organization_id,name,status\n").unwrap();
        assert_eq!(
            problems(read(&dir.0)),
            ["services.csv: the dataset has no services"]
        );
        let nothing = dir.join("nothing.json");
        assert_eq!(
            problems(read(&nothing)),
            [format!(
                "{}: no such file or folder (expected a folder of HSDS CSV files or a .json file)",
                nothing.display()
            )]
        );
        let one_file = dir.join("services.csv");
        assert_eq!(
            problems(read(&one_file)),
            [format!(
                "{}: one CSV file is not a dataset: give the folder holding services.csv and the other tables",
                one_file.display()
            )]
        );
    }

    #[test]
    fn an_unclosed_json_list_reports_line_and_column() {
        let text = fs::read_to_string(fixture("example.json")).unwrap();
        let dir = TempDir::new("unclosed");
        let file = dir.join("broken.json");
        fs::write(&file, text.trim_end().strip_suffix(']').unwrap()).unwrap();
        // The end of the file: the line after the last "}".
        let lines = text.trim_end().lines().count();
        assert_eq!(
            problems(read(&file)),
            [format!(
                "broken.json:{lines}:0: not valid JSON: EOF while parsing a list"
            )]
        );
    }

    #[test]
    fn a_json_service_without_status_is_reported_at_its_path() {
        let (_dir, file) = json_copy(
            "status",
            &[(
                "\"status\": \"active\",\n    \"fees_description\": \"Free / Gratuit\",",
                "\"fees_description\": \"Free / Gratuit\",",
                1,
            )],
        );
        assert_eq!(
            problems(read(&file)),
            ["example.json:[1].status: status is missing (required)"]
        );
    }

    #[test]
    fn json_copies_that_disagree_and_nested_values_are_reported_at_their_paths() {
        let (_dir, file) = json_copy(
            "copies",
            &[
                ("\"latitude\": 45.4379", "\"latitude\": 100", 2),
                (
                    "\"number\": \"+1 613-555-0142\",",
                    "\"service_id\": \"b2000000-0000-4000-8000-000000000002\",\n\"number\": \"+1 613-555-0142\",",
                    1,
                ),
                (
                    "\"organization_id\": \"a1000000-0000-4000-8000-000000000003\",\n    \"name\": \"Rent Bank\"",
                    "\"organization_id\": \"a1000000-0000-4000-8000-000000000099\",\n    \"name\": \"Rent Bank\"",
                    1,
                ),
            ],
        );
        // And the second copy of the shared Parkdale location differs.
        let mut text = fs::read_to_string(&file).unwrap();
        let old = "\"Second floor; elevator at the back of the building.\"";
        let last = text.rfind(old).unwrap();
        text.replace_range(last..last + old.len(), "\"Second floor.\"");
        fs::write(&file, text).unwrap();
        assert_eq!(
            problems(read(&file)),
            [
                "example.json:[0].phones[0].service_id: service_id \"b2000000-0000-4000-8000-000000000002\" differs from the service it is nested in (\"b2000000-0000-4000-8000-000000000001\")",
                "example.json:[4].service_at_locations[0].location: location \"c3000000-0000-4000-8000-000000000004\" differs from the copy at [3].service_at_locations[0].location (description)",
                "example.json:[4].organization_id: organization_id \"a1000000-0000-4000-8000-000000000099\" matches no organization",
                "example.json:[0].service_at_locations[0].location.latitude: latitude 100 is out of range (expected -90 to 90)",
            ]
        );
    }

    /// The schedule rules, on a dataset built in code: each case changes the
    /// first schedule of the example (schedules.csv line 2).
    #[test]
    fn schedule_rules() {
        let base = read_ok(&fixture("example"));
        type Change = fn(&mut Schedule);
        let cases: &[(&str, Change, &[&str])] = &[
            ("weekly MO-FR 09:00-17:00", |_| {}, &[]),
            (
                "freq DAILY",
                |s| s.freq = Some("DAILY".into()),
                &["freq \"DAILY\" is not WEEKLY or MONTHLY"],
            ),
            (
                "a numbered day when weekly",
                |s| s.byday = Some("1MO".into()),
                &["byday has \"1MO\": a numbered day (such as 1MO or -1FR) needs freq MONTHLY"],
            ),
            (
                "numbered days when monthly",
                |s| {
                    s.freq = Some("MONTHLY".into());
                    s.byday = Some("2TU,-1FR".into())
                },
                &[],
            ),
            (
                "the sixth Monday",
                |s| {
                    s.freq = Some("MONTHLY".into());
                    s.byday = Some("6MO".into())
                },
                &["byday has \"6MO\": the number before the day should be 1 to 5 or -1 to -5"],
            ),
            (
                "day 32",
                |s| {
                    s.freq = Some("MONTHLY".into());
                    s.byday = None;
                    s.bymonthday = Some("1,32".into())
                },
                &[
                    "bymonthday has \"32\", which is not a day of the month (expected 1 to 31, or -1 to -31 counting from the end)",
                ],
            ),
            (
                "the last day",
                |s| {
                    s.freq = Some("MONTHLY".into());
                    s.byday = None;
                    s.bymonthday = Some("-1".into())
                },
                &[],
            ),
            (
                "day 0",
                |s| s.bymonthday = Some("0".into()),
                &[
                    "bymonthday has \"0\", which is not a day of the month (expected 1 to 31, or -1 to -31 counting from the end)",
                ],
            ),
            (
                "opens 9am",
                |s| s.opens_at = Some("9am".into()),
                &["opens_at \"9am\" is not a time (expected HH:MM)"],
            ),
            (
                "opens at 24:00",
                |s| s.opens_at = Some("24:00".into()),
                &["opens_at \"24:00\" is not a time (expected HH:MM)"],
            ),
            (
                "closes at 24:00",
                |s| s.closes_at = Some("24:00".into()),
                &[],
            ),
            (
                "closes with seconds",
                |s| s.closes_at = Some("17:30:00".into()),
                &[],
            ),
            (
                "closes at 25:00",
                |s| s.closes_at = Some("25:00".into()),
                &["closes_at \"25:00\" is not a time (expected HH:MM, or 24:00 for midnight)"],
            ),
            (
                "no closing time",
                |s| s.closes_at = None,
                &["opens_at is given but not closes_at"],
            ),
            (
                "no opening time",
                |s| s.opens_at = None,
                &["closes_at is given but not opens_at"],
            ),
            (
                "no days",
                |s| {
                    s.freq = None;
                    s.byday = None
                },
                &["opening times are given but not which days: give freq with byday or bymonthday"],
            ),
            ("a day without freq", |s| s.freq = None, &[]),
            (
                "30 February",
                |s| s.valid_from = Some("2026-02-30".into()),
                &["valid_from \"2026-02-30\" is not a date (expected YYYY-MM-DD)"],
            ),
            (
                "a date the other way round",
                |s| s.until = Some("01/05/2026".into()),
                &["until \"01/05/2026\" is not a date (expected YYYY-MM-DD)"],
            ),
            (
                "valid backwards",
                |s| {
                    s.valid_from = Some("2026-05-01".into());
                    s.valid_to = Some("2026-04-01".into())
                },
                &["valid_from 2026-05-01 is after valid_to 2026-04-01"],
            ),
            (
                "valid one day",
                |s| {
                    s.valid_from = Some("2026-05-01".into());
                    s.valid_to = Some("2026-05-01".into())
                },
                &[],
            ),
            (
                "interval 0",
                |s| s.interval = Some(0),
                &["interval 0 should be 1 or more"],
            ),
            (
                "attached to nothing",
                |s| s.service_id = None,
                &["a schedule needs a service_id, location_id or service_at_location_id"],
            ),
        ];
        for (case, change, expected) in cases {
            let mut d = base.clone();
            change(&mut d.schedules[0]);
            let expected: Vec<String> = expected
                .iter()
                .map(|m| format!("schedules.csv:2: {m}"))
                .collect();
            assert_eq!(strings(&check(&d)), expected, "{case}");
        }
    }

    #[test]
    fn checks_of_a_dataset_built_in_code_name_fields() {
        let mut d = normalised(read_ok(&fixture("example.json")));
        d.attributes[0].link_id = "b2000000-0000-4000-8000-000000000077".into();
        d.addresses[0].address_type = "home".into();
        d.services[1].minimum_age = Some(30.0);
        d.services[1].maximum_age = Some(20.0);
        d.phones[0].number = String::new();
        assert_eq!(
            strings(&check(&d)),
            [
                ":number: number is missing (required)",
                ":minimum_age: minimum_age 30 is above maximum_age 20",
                ":address_type: address_type \"home\" is not one of: physical, postal, virtual",
                ":link_id: link_id \"b2000000-0000-4000-8000-000000000077\" matches no service",
            ]
        );
    }
}
