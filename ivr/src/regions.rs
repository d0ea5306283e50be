//! Caller numbers to regions: the prefix table of `flows/regions.csv`.
//!
//! The caller's number (From / P-Asserted-Identity) is first normalised with
//! [`normalize_caller`], then looked up in a [`RegionTable`]: the longest
//! matching prefix wins, an exchange (NPA-NXX, 6 digits) before its area code
//! (NPA, 3 digits). Area codes that span several regions (705, 905, …) have no
//! area-code row, only exchange rows, so a caller from an exchange the table
//! does not know — like a withheld, unknown or out-of-province caller — gets
//! no region and the flow asks with its region menu.
//!
//! This module is sans-IO: [`RegionTable::parse`] takes the file's text.
//!
//! # The table format (`flows/regions.csv`)
//!
//! ```text
//! # Comment lines start with `#`; blank lines are ignored.
//! prefix,region,note
//! 613,east,Ottawa and Eastern Ontario
//! 705-445,central,Collingwood
//! ```
//!
//! - One row a line: `prefix,region[,note]`.
//! - `#` at the start of a line (after optional spaces) makes it a comment.
//! - Blank lines are ignored.
//! - An optional header line `prefix,region,note` (or `prefix,region`) may
//!   come before the first row.
//! - `prefix`: a 3-digit area code (NPA, e.g. `613`) or 6 digits, area code
//!   and exchange (NPA-NXX, e.g. `705445`), also written `705-445` (the dash
//!   is removed). Area codes and exchanges start with a digit 2–9.
//! - `region`: a region id from `flows/centres.yaml` (lowercase letters,
//!   digits and `_`). That the id exists is checked with the centres, not
//!   here.
//! - `note`: free text for people (the city, the source of the row); it may
//!   not contain a comma.
//! - Spaces around fields are ignored. Quoted fields are not supported (the
//!   format is simple enough not to need them), so no field can contain a
//!   comma.
//! - Each prefix may appear once.
//!
//! Operations staff can load a full exchange table in this same format.
//!
//! The parser is hand-written: the format is tiny, and a hand-written parser
//! reports every problem with its line and column.

use std::collections::HashMap;

/// How a caller's region was found; shown to navigators beside the region,
/// because area codes are not where callers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionSource {
    /// A 3-digit area-code (NPA) row of `regions.csv` matched.
    AreaCode,
    /// A 6-digit area code and exchange (NPA-NXX) row matched.
    Exchange,
    /// The caller chose it in the flow's region menu.
    RegionMenu,
}

impl RegionSource {
    /// As the flow language and transcripts say it: "area code",
    /// "exchange table" or "region menu" (`region_source` in flow tests).
    pub fn as_str(self) -> &'static str {
        match self {
            RegionSource::AreaCode => "area code",
            RegionSource::Exchange => "exchange table",
            RegionSource::RegionMenu => "region menu",
        }
    }
}

/// A caller as presented in From / P-Asserted-Identity, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// E.164 with its '+', e.g. "+16135550123".
    Number(String),
    /// The caller withheld their number (anonymous, restricted, …).
    Withheld,
    /// Something that is neither a number nor a known withheld marker, as given.
    Unknown(String),
}

/// Words that mean the number is withheld (compared without case).
const WITHHELD: [&str; 4] = ["anonymous", "restricted", "unavailable", "private"];

/// Normalise a SIP user part or display number.
///
/// "+16135550123", "16135550123", "6135550123", "613-555-0123",
/// "(613) 555-0123", "tel:+1-613-555-0123" → `Number("+16135550123")` (NANP,
/// +1); other E.164 numbers with '+' kept as `Number` (e.g. "+442071234567");
/// "anonymous", "Anonymous", "restricted", "unavailable", "private", "" →
/// `Withheld`; anything else → `Unknown(raw)`.
///
/// Also accepted: a `sip:`/`sips:`/`tel:` scheme, a `@host` part and
/// `;parameters` (they are dropped), and spaces, dots, dashes and
/// parentheses between digits. A NANP number needs an area code and an
/// exchange that start with 2–9.
pub fn normalize_caller(raw: &str) -> Caller {
    let mut text = raw.trim();
    for scheme in ["sips:", "sip:", "tel:"] {
        if text.len() >= scheme.len()
            && text.is_char_boundary(scheme.len())
            && text[..scheme.len()].eq_ignore_ascii_case(scheme)
        {
            text = &text[scheme.len()..];
            break;
        }
    }
    // Drop a host part and URI parameters.
    let text = text.split(['@', ';']).next().unwrap_or("").trim();

    if text.is_empty() || WITHHELD.iter().any(|w| text.eq_ignore_ascii_case(w)) {
        return Caller::Withheld;
    }

    let (plus, rest) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Caller::Unknown(raw.to_string()),
        }
    }

    let nanp = |ten: &str| {
        let b = ten.as_bytes();
        ten.len() == 10 && (b'2'..=b'9').contains(&b[0]) && (b'2'..=b'9').contains(&b[3])
    };
    if plus {
        if let Some(ten) = digits.strip_prefix('1') {
            if nanp(ten) {
                return Caller::Number(format!("+{digits}"));
            }
            return Caller::Unknown(raw.to_string());
        }
        // Other countries: E.164 has at most 15 digits and no leading 0.
        if (7..=15).contains(&digits.len()) && !digits.starts_with('0') {
            return Caller::Number(format!("+{digits}"));
        }
        return Caller::Unknown(raw.to_string());
    }
    if nanp(&digits) {
        return Caller::Number(format!("+1{digits}"));
    }
    if let Some(ten) = digits.strip_prefix('1')
        && nanp(ten)
    {
        return Caller::Number(format!("+{digits}"));
    }
    Caller::Unknown(raw.to_string())
}

/// The region of a row whose callers are asked their region: an area code
/// that spans regions (705, 905 and their overlays) is known to be
/// Ontario's, but only its exchanges say where.
pub const ASK: &str = "ask";

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRow {
    /// 3 or 6 digits (without a dash).
    pub prefix: String,
    pub region: String,
    /// 1-based line of the row in the table text.
    pub line: u32,
    /// 1-based column of the region field.
    pub region_col: u32,
}

/// Prefix → region, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct RegionTable {
    rows: Vec<RegionRow>,
    /// Prefix → index into `rows`.
    index: HashMap<String, usize>,
}

/// A problem in the table text: 1-based line and column of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// One field of a line: its text (trimmed) and its 1-based column.
struct Field<'a> {
    text: &'a str,
    col: u32,
}

/// Split a line on commas, trimming each field; the column is that of the
/// field's first non-space character (in characters, as editors count).
fn fields(line: &str) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in line.split(',') {
        let lead = piece.len() - piece.trim_start().len();
        let col = line[..start + lead].chars().count() + 1;
        out.push(Field {
            text: piece.trim(),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        });
        start += piece.len() + 1;
    }
    out
}

/// Is this a valid prefix? Returns it without its dash.
fn parse_prefix(text: &str) -> Result<String, String> {
    let usage = "use a 3-digit area code (613) or area code and exchange (705445 or 705-445)";
    let digits: String = match text.split_once('-') {
        Some((npa, nxx)) if npa.len() == 3 && nxx.len() == 3 => format!("{npa}{nxx}"),
        Some(_) => return Err(format!("bad prefix `{text}`: {usage}")),
        None => text.to_string(),
    };
    if text.is_empty() {
        return Err(format!("empty prefix: {usage}"));
    }
    if !(digits.len() == 3 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad prefix `{text}`: {usage}"));
    }
    let b = digits.as_bytes();
    if !(b'2'..=b'9').contains(&b[0]) {
        return Err(format!(
            "bad prefix `{text}`: an area code starts with a digit 2-9"
        ));
    }
    if b.len() == 6 && !(b'2'..=b'9').contains(&b[3]) {
        return Err(format!(
            "bad prefix `{text}`: an exchange starts with a digit 2-9"
        ));
    }
    Ok(digits)
}

fn check_region(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("empty region: give a region id from centres.yaml".to_string());
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "bad region `{text}`: a region id has only lowercase letters, digits and _"
        ));
    }
    Ok(())
}

fn is_header(fields: &[Field<'_>]) -> bool {
    let names = ["prefix", "region", "note"];
    (fields.len() == 2 || fields.len() == 3)
        && fields
            .iter()
            .zip(names)
            .all(|(f, n)| f.text.eq_ignore_ascii_case(n))
}

impl RegionTable {
    /// Parse the CSV text. Collects ALL problems (bad prefix, wrong field
    /// count, empty region, duplicate prefix — "duplicate prefix 613: first
    /// given on line 4") and returns the good rows too.
    pub fn parse(text: &str) -> (RegionTable, Vec<RowError>) {
        let mut table = RegionTable::default();
        let mut errors = Vec::new();
        let mut seen_row = false;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw_line) in text.split('\n').enumerate() {
            let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields = fields(line);
            let first_row = !seen_row;
            seen_row = true;
            if first_row && is_header(&fields) {
                continue;
            }
            let mut error = |col: u32, message: String| {
                errors.push(RowError {
                    line: line_no,
                    col,
                    message,
                })
            };
            match fields.len() {
                0 | 1 => {
                    let col = fields.first().map_or(1, |f| f.col);
                    error(
                        col,
                        "expected `prefix,region[,note]`: this line has no region".to_string(),
                    );
                    continue;
                }
                2 | 3 => {}
                _ => {
                    error(
                        fields[3].col,
                        "too many fields: expected `prefix,region[,note]` \
                         (a note cannot contain a comma; quoted fields are not supported)"
                            .to_string(),
                    );
                    continue;
                }
            }
            let (prefix_field, region_field) = (&fields[0], &fields[1]);
            let prefix = match parse_prefix(prefix_field.text) {
                Ok(p) => Some(p),
                Err(message) => {
                    error(prefix_field.col, message);
                    None
                }
            };
            let region_ok = match check_region(region_field.text) {
                Ok(()) => true,
                Err(message) => {
                    error(region_field.col, message);
                    false
                }
            };
            let Some(prefix) = prefix else { continue };
            if let Some(&first) = table.index.get(&prefix) {
                let first_line = table.rows[first].line;
                error(
                    prefix_field.col,
                    format!("duplicate prefix {prefix}: first given on line {first_line}"),
                );
                continue;
            }
            if !region_ok {
                continue;
            }
            table.index.insert(prefix.clone(), table.rows.len());
            table.rows.push(RegionRow {
                prefix,
                region: region_field.text.to_string(),
                line: line_no,
                region_col: region_field.col,
            });
        }
        (table, errors)
    }

    /// Longest prefix wins: NPA-NXX (6 digits) before NPA (3). Only +1
    /// numbers are looked up.
    pub fn lookup(&self, caller: &Caller) -> Option<(&str, RegionSource)> {
        let Caller::Number(number) = caller else {
            return None;
        };
        let national = number.strip_prefix("+1")?;
        if national.len() != 10 || !national.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let row = |prefix: &str| {
            self.index
                .get(prefix)
                .map(|&i| self.rows[i].region.as_str())
        };
        if let Some(region) = row(&national[..6]) {
            return (region != ASK).then_some((region, RegionSource::Exchange));
        }
        row(&national[..3])
            .filter(|region| *region != ASK)
            .map(|region| (region, RegionSource::AreaCode))
    }

    /// The good rows, in the order of the text.
    pub fn rows(&self) -> &[RegionRow] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Caller {
        Caller::Number(s.to_string())
    }

    #[test]
    fn region_source_names() {
        assert_eq!(RegionSource::Exchange.as_str(), "exchange table");
        assert_eq!(RegionSource::AreaCode.as_str(), "area code");
        assert_eq!(RegionSource::RegionMenu.as_str(), "region menu");
    }

    #[test]
    fn normalize_nanp_forms() {
        for raw in [
            "+16135550123",
            "16135550123",
            "6135550123",
            "613-555-0123",
            "(613) 555-0123",
            "tel:+1-613-555-0123",
            "TEL:+1.613.555.0123",
            "+1 (613) 555-0123",
            " 613 555 0123 ",
            "sip:+16135550123@carrier.example;user=phone",
            "1-613-555-0123",
        ] {
            assert_eq!(normalize_caller(raw), num("+16135550123"), "{raw}");
        }
    }

    #[test]
    fn normalize_international() {
        assert_eq!(normalize_caller("+442071234567"), num("+442071234567"));
        assert_eq!(normalize_caller("+33 1 23 45 67 89"), num("+33123456789"));
        // Too long for E.164, or a leading 0 after '+'.
        assert!(matches!(
            normalize_caller("+1234567890123456"),
            Caller::Unknown(_)
        ));
        assert!(matches!(
            normalize_caller("+0441234567"),
            Caller::Unknown(_)
        ));
    }

    #[test]
    fn normalize_withheld() {
        for raw in [
            "anonymous",
            "Anonymous",
            "ANONYMOUS",
            "restricted",
            "unavailable",
            "private",
            "",
            "   ",
            "sip:anonymous@anonymous.invalid",
        ] {
            assert_eq!(normalize_caller(raw), Caller::Withheld, "{raw:?}");
        }
    }

    #[test]
    fn normalize_unknown_keeps_raw() {
        for raw in [
            "alice",
            "211",
            "555-0123",
            "+1613555012",
            "+161355501234",
            "0135550123",
            "6131550123",
            "613-555-0123x12",
            "++16135550123",
            "\u{1F600}",
            "t\u{e9}l:",
            "61355501２3",
        ] {
            assert_eq!(
                normalize_caller(raw),
                Caller::Unknown(raw.to_string()),
                "{raw}"
            );
        }
    }

    #[test]
    fn parse_format_and_lookup() {
        let text = "\u{feff}# a comment\r\n\
                    prefix,region,note\r\n\
                    \r\n\
                    613,east,Ottawa\r\n\
                    \x20 # indented comment\n\
                    705-445, central ,Collingwood, Ontario's Blue Mountains\n";
        let (table, errors) = RegionTable::parse(text);
        assert_eq!(
            errors,
            vec![RowError {
                line: 6,
                col: 32,
                message: "too many fields: expected `prefix,region[,note]` \
                          (a note cannot contain a comma; quoted fields are not supported)"
                    .to_string()
            }]
        );
        let text = "# a comment\nprefix,region,note\n\n613,east,Ottawa\n705-445, central ,Collingwood\n705,north\n";
        let (table2, errors) = RegionTable::parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            table2.rows(),
            &[
                RegionRow {
                    prefix: "613".into(),
                    region: "east".into(),
                    line: 4,
                    region_col: 5
                },
                RegionRow {
                    prefix: "705445".into(),
                    region: "central".into(),
                    line: 5,
                    region_col: 10
                },
                RegionRow {
                    prefix: "705".into(),
                    region: "north".into(),
                    line: 6,
                    region_col: 5
                },
            ]
        );
        assert_eq!(table.rows().len(), 1);
        assert_eq!(
            table2.lookup(&num("+17054451234")),
            Some(("central", RegionSource::Exchange))
        );
        assert_eq!(
            table2.lookup(&num("+17054461234")),
            Some(("north", RegionSource::AreaCode))
        );
        assert_eq!(
            table2.lookup(&num("+16135550123")),
            Some(("east", RegionSource::AreaCode))
        );
        assert_eq!(table2.lookup(&num("+14165550123")), None);
        assert_eq!(table2.lookup(&num("+61355501234")), None);
        assert_eq!(table2.lookup(&num("+1613")), None);
        assert_eq!(table2.lookup(&num("+1613555012\u{e9}")), None);
        assert_eq!(table2.lookup(&Caller::Withheld), None);
        assert_eq!(table2.lookup(&Caller::Unknown("6135550123".into())), None);
    }

    #[test]
    fn an_area_code_marked_ask_is_known_but_its_unlisted_exchanges_are_asked() {
        let text =
            "905,ask,spans regions\n905-522,central_south,Hamilton\n905-523,ask,a split exchange\n";
        let (table, errors) = RegionTable::parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            table.lookup(&num("+19055221234")),
            Some(("central_south", RegionSource::Exchange))
        );
        assert_eq!(table.lookup(&num("+19055301234")), None, "unlisted: asked");
        assert_eq!(
            table.lookup(&num("+19055231234")),
            None,
            "an exchange may ask too"
        );
    }

    #[test]
    fn parse_collects_every_problem() {
        let text = "\
prefix,region,note
613,east,Ottawa
61,east
6135,east
613-55,east
013,east
705-145,central
abc,east
416,
416,East
416,to ronto
416
705-445,central,Collingwood
705445,north,again
613,east,again
1,2,3,4
,east
";
        let (table, errors) = RegionTable::parse(text);
        let got: Vec<(u32, u32, &str)> = errors
            .iter()
            .map(|e| (e.line, e.col, e.message.as_str()))
            .collect();
        let usage = "use a 3-digit area code (613) or area code and exchange (705445 or 705-445)";
        assert_eq!(
            got,
            vec![
                (3, 1, format!("bad prefix `61`: {usage}").as_str()),
                (4, 1, format!("bad prefix `6135`: {usage}").as_str()),
                (5, 1, format!("bad prefix `613-55`: {usage}").as_str()),
                (
                    6,
                    1,
                    "bad prefix `013`: an area code starts with a digit 2-9"
                ),
                (
                    7,
                    1,
                    "bad prefix `705-145`: an exchange starts with a digit 2-9"
                ),
                (8, 1, format!("bad prefix `abc`: {usage}").as_str()),
                (9, 5, "empty region: give a region id from centres.yaml"),
                (
                    10,
                    5,
                    "bad region `East`: a region id has only lowercase letters, digits and _"
                ),
                (
                    11,
                    5,
                    "bad region `to ronto`: a region id has only lowercase letters, digits and _"
                ),
                (
                    12,
                    1,
                    "expected `prefix,region[,note]`: this line has no region"
                ),
                (14, 1, "duplicate prefix 705445: first given on line 13"),
                (15, 1, "duplicate prefix 613: first given on line 2"),
                (
                    16,
                    7,
                    "too many fields: expected `prefix,region[,note]` \
                     (a note cannot contain a comma; quoted fields are not supported)"
                ),
                (17, 1, format!("empty prefix: {usage}").as_str()),
            ]
        );
        // The good rows are kept.
        let prefixes: Vec<&str> = table.rows().iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, vec!["613", "705445"]);
    }

    #[test]
    fn header_only_first_and_columns_count_characters() {
        // A header after the first row is just a bad row.
        let (_, errors) = RegionTable::parse("613,east\nprefix,region\n");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].col), (2, 1));
        // Columns are in characters, not bytes.
        let (_, errors) = RegionTable::parse("613,east,Montr\u{e9}al,x\n");
        assert_eq!((errors[0].line, errors[0].col), (1, 19));
        // Odd input never panics.
        for text in [
            "",
            "\n\n",
            ",",
            ",,,",
            "\u{1F600},\u{1F600}",
            "\r",
            "#",
            "-,-",
            "---,---",
        ] {
            let _ = RegionTable::parse(text);
        }
    }

    #[test]
    fn shipped_table() {
        let (table, errors) = RegionTable::parse(include_str!("../../flows/regions.csv"));
        assert!(errors.is_empty(), "{errors:?}");
        let look = |raw: &str| table.lookup(&normalize_caller(raw));
        assert_eq!(look("+16135550123"), Some(("east", RegionSource::AreaCode)));
        assert_eq!(
            look("+18075550123"),
            Some(("north", RegionSource::AreaCode))
        );
        assert_eq!(
            look("+17054451234"),
            Some(("central", RegionSource::Exchange))
        );
        assert_eq!(
            look("+17056731234"),
            Some(("north", RegionSource::Exchange))
        );
        assert_eq!(look("+17059991234"), None);
        assert_eq!(
            look("+19056841234"),
            Some(("central_south", RegionSource::Exchange))
        );
        assert_eq!(
            look("+19054501234"),
            Some(("toronto", RegionSource::Exchange))
        );
        assert_eq!(
            look("+14165550123"),
            Some(("toronto", RegionSource::AreaCode))
        );
        assert_eq!(look("+12125550123"), None);
        assert_eq!(table.lookup(&Caller::Withheld), None);
        assert_eq!(look("anonymous"), None);

        // The split area codes' rows ask, and only they; every area code
        // of Ontario has a row; every region is used; the ids are those of
        // centres.yaml.
        let regions = [
            "east",
            "north",
            "central",
            "central_south",
            "toronto",
            "southwest",
        ];
        let split = ["705", "249", "683", "905", "289", "365", "742"];
        for row in table.rows() {
            if split.contains(&row.prefix.as_str()) {
                assert_eq!(row.region, ASK, "line {}", row.line);
            } else {
                assert!(regions.contains(&row.region.as_str()), "{row:?}");
            }
        }
        for code in [
            "226", "249", "289", "343", "365", "382", "416", "437", "519", "548", "613", "647",
            "683", "705", "742", "753", "807", "905",
        ] {
            assert!(table.rows().iter().any(|r| r.prefix == code), "{code}");
        }
        assert_eq!(
            look("+17059991234"),
            None,
            "an unlisted 705 exchange is asked"
        );
        for region in regions {
            assert!(table.rows().iter().any(|r| r.region == region), "{region}");
        }
        let exchanges = table.rows().iter().filter(|r| r.prefix.len() == 6).count();
        assert!((40..=80).contains(&exchanges), "{exchanges}");
    }
}
