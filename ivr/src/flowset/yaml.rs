//! Parsing one YAML file, and the parser's errors as messages for the
//! people who edit flows, at the `file:line:col` where the cause is.

use std::path::Path;

use super::{Diagnostic, edit_distance, looks_like};

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
