//! The one scanner for the structure of a SIP header value.
//!
//! RFC 3261 §25.1 gives header values two kinds of text where a separator
//! (`,` between list elements, `;` before a parameter, `=` inside one) means
//! nothing: a quoted-string (`"Doe, J"`, where `\` escapes the next byte),
//! and a URI inside `<…>` (`<sip:a@b;lr>`). Every part of this crate that
//! splits a header value — list headers, name-addr, `;param` lists, digest
//! parameters, P-Asserted-Identity — walks it with this module, so they all
//! agree on where a value's top level is.
//!
//! The walk is total: an unterminated quoted-string or an unclosed `<` runs
//! to the end of the value. Callers that must refuse such a value ask
//! [`balanced`] (or get a [`ScanError`] from [`name_addr`] and
//! [`quoted_len`]). Nothing here panics, whatever the input.

use std::fmt;

/// Why a header value does not scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// A `"` opens a quoted-string that never closes (or ends on a `\`).
    UnterminatedQuote,
    /// A `<` with no `>` after it.
    UnclosedAngle,
    /// Something other than `;param`s after the `>` of a name-addr.
    JunkAfterAngle,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScanError::UnterminatedQuote => "unterminated quoted string",
            ScanError::UnclosedAngle => "'<' without '>'",
            ScanError::JunkAfterAngle => "junk after '>'",
        })
    }
}

/// A byte-at-a-time walk over a header value that knows whether each byte
/// stands at the top level. For callers that do more than split (squeeze
/// whitespace, check a display name); the rest use the functions below.
#[derive(Debug, Default)]
pub(crate) struct Scanner {
    in_quotes: bool,
    escaped: bool,
    /// Depth of `<…>`; a `>` at depth 0 is an ordinary byte.
    angle: usize,
}

impl Scanner {
    pub(crate) fn new() -> Self {
        Scanner::default()
    }

    /// Feed one byte; true when it stands at the top level: outside
    /// quoted-strings and `<…>`, and not itself a quote or bracket.
    pub(crate) fn outside(&mut self, b: u8) -> bool {
        if self.in_quotes {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_quotes = false;
            }
            return false;
        }
        match b {
            b'"' => {
                self.in_quotes = true;
                false
            }
            b'<' => {
                self.angle += 1;
                false
            }
            b'>' if self.angle > 0 => {
                self.angle -= 1;
                false
            }
            _ => self.angle == 0,
        }
    }

    /// Inside a quoted-string (after its opening `"`).
    pub(crate) fn in_quotes(&self) -> bool {
        self.in_quotes
    }

    /// Whether what was fed so far closed every quote and bracket.
    pub(crate) fn finish(&self) -> Result<(), ScanError> {
        if self.in_quotes {
            Err(ScanError::UnterminatedQuote)
        } else if self.angle > 0 {
            Err(ScanError::UnclosedAngle)
        } else {
            Ok(())
        }
    }
}

/// Whether every quoted-string and `<…>` in `value` is closed.
pub(crate) fn balanced(value: &str) -> Result<(), ScanError> {
    let mut scanner = Scanner::new();
    for b in value.bytes() {
        scanner.outside(b);
    }
    scanner.finish()
}

/// The pieces of `value` between its top-level `sep` bytes, untrimmed and
/// including empty ones: `split("a, b,", b',')` yields `"a"`, `" b"`, `""`.
/// Always at least one piece.
pub(crate) fn split(value: &str, sep: u8) -> Split<'_> {
    Split {
        value,
        sep,
        start: 0,
        pos: 0,
        scanner: Scanner::new(),
        done: false,
    }
}

/// The elements of a comma-separated list header (RFC 3261 §7.3.1),
/// trimmed, empty ones skipped.
pub(crate) fn list(value: &str) -> impl Iterator<Item = &str> {
    split(value, b',').map(trim_lws).filter(|p| !p.is_empty())
}

/// The iterator of [`split`].
#[derive(Debug)]
pub(crate) struct Split<'a> {
    value: &'a str,
    sep: u8,
    start: usize,
    pos: usize,
    scanner: Scanner,
    done: bool,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let bytes = self.value.as_bytes();
        while self.pos < bytes.len() {
            let (i, b) = (self.pos, bytes[self.pos]);
            self.pos += 1;
            if self.scanner.outside(b) && b == self.sep {
                // `sep` is ASCII, so `i` and `i + 1` are char boundaries.
                let piece = &self.value[self.start..i];
                self.start = i + 1;
                return Some(piece);
            }
        }
        self.done = true;
        Some(&self.value[self.start..])
    }
}

/// Trim RFC 3261 LWS (SP, HTAB, CR, LF) — not every Unicode space.
pub(crate) fn trim_lws(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// The length of the quoted-string that `text` starts with, both quotes
/// included: `quoted_len(r#""a\"b" rest"#) == Ok(6)`. `text` must start
/// with `"`.
pub(crate) fn quoted_len(text: &str) -> Result<usize, ScanError> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return Err(ScanError::UnterminatedQuote);
    }
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Ok(i + 1),
            _ => {}
        }
    }
    Err(ScanError::UnterminatedQuote)
}

/// The text of a whole quoted-string (`"a\"b"` → `a"b`), its `\` escapes
/// undone (RFC 3261 §25.1 `quoted-pair`).
pub(crate) fn unquote(quoted: &str) -> Result<String, ScanError> {
    if quoted_len(quoted)? != quoted.len() {
        return Err(ScanError::UnterminatedQuote);
    }
    let inner = &quoted[1..quoted.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            // quoted_len saw that no `\` ends the string.
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A `name-addr` or `addr-spec` with header parameters, as From, To,
/// Contact and P-Asserted-Identity carry them (RFC 3261 §20.10, §25.1).
/// Structure only: the URI and the display name are not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameAddr<'a> {
    /// The text before the `<`, trimmed (quotes kept); empty for an
    /// addr-spec.
    pub display: &'a str,
    /// What stands between `<` and `>`, untrimmed; for an addr-spec, the
    /// value up to its first `;` (RFC 3261 §20.10: the parameters after an
    /// addr-spec are the header's).
    pub uri: &'a str,
    /// Whether the URI was in `<…>`.
    pub bracketed: bool,
    /// The header parameters: empty, or starting with `;`.
    pub params: &'a str,
}

/// Split a name-addr / addr-spec (see [`NameAddr`]). The `<` that opens
/// the URI is the first one outside a quoted-string; its URI ends at the
/// next `>`.
pub(crate) fn name_addr(value: &str) -> Result<NameAddr<'_>, ScanError> {
    let value = trim_lws(value);
    balanced(value).or_else(|e| match e {
        // Reported below, after the first `<` is found.
        ScanError::UnclosedAngle => Ok(()),
        e => Err(e),
    })?;
    match uri_open(value) {
        Some(lt) => {
            let gt = value[lt..]
                .find('>')
                .map(|g| lt + g)
                .ok_or(ScanError::UnclosedAngle)?;
            let params = value[gt + 1..].trim_start_matches([' ', '\t', '\r', '\n']);
            if !params.is_empty() && !params.starts_with(';') {
                return Err(ScanError::JunkAfterAngle);
            }
            Ok(NameAddr {
                display: trim_lws(&value[..lt]),
                uri: &value[lt + 1..gt],
                bracketed: true,
                params,
            })
        }
        None => {
            let end = value.find(';').unwrap_or(value.len());
            Ok(NameAddr {
                display: "",
                uri: &value[..end],
                bracketed: false,
                params: &value[end..],
            })
        }
    }
}

/// Where the URI of a name-addr opens: the first `<` outside a
/// quoted-string.
pub(crate) fn uri_open(value: &str) -> Option<usize> {
    let mut scanner = Scanner::new();
    value.bytes().position(|b| {
        let outside = scanner.outside(b);
        !scanner.in_quotes() && !outside && b == b'<'
    })
}

/// One `;name[=value]` parameter, trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    /// The whole parameter as written (`expires = 60`), trimmed.
    pub text: &'a str,
    pub name: &'a str,
    /// The value as written (a quoted one keeps its quotes).
    pub value: Option<&'a str>,
}

/// The parameters of `text` (`;a=1;b;c="x;y"`, the leading `;` optional),
/// split outside quoted-strings and `<…>`, empty ones skipped.
pub(crate) fn params(text: &str) -> impl Iterator<Item = Param<'_>> {
    split(text, b';').filter_map(|raw| {
        let text = trim_lws(raw);
        if text.is_empty() {
            return None;
        }
        let (name, value) = match split(text, b'=').next() {
            Some(name) if name.len() < text.len() => {
                (trim_lws(name), Some(trim_lws(&text[name.len() + 1..])))
            }
            _ => (text, None),
        };
        Some(Param { text, name, value })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(value: &str, sep: u8) -> Vec<&str> {
        split(value, sep).collect()
    }

    #[test]
    fn split_at_top_level_separators_only() {
        let table: &[(&str, u8, &[&str])] = &[
            ("", b',', &[""]),
            ("a", b',', &["a"]),
            ("a, b,", b',', &["a", " b", ""]),
            ("a;;,;,,", b',', &["a;;", ";", "", ""]),
            // RFC 3261 §25.1: a comma in a quoted display name.
            (
                r#""Doe, J" <sip:a@b>, <sip:c@d>"#,
                b',',
                &[r#""Doe, J" <sip:a@b>"#, " <sip:c@d>"],
            ),
            // An escaped quote does not close the string.
            (
                r#""a \" , b" <sip:x>, y"#,
                b',',
                &[r#""a \" , b" <sip:x>"#, " y"],
            ),
            (r#""\\", x"#, b',', &[r#""\\""#, " x"]),
            // Commas and semicolons inside <…> belong to the URI.
            (
                "<sip:a@b;x=1,2>;q=0.5, <sip:b,c;lr>",
                b',',
                &["<sip:a@b;x=1,2>;q=0.5", " <sip:b,c;lr>"],
            ),
            ("<sip:a@b;lr>;x=1", b';', &["<sip:a@b;lr>", "x=1"]),
            (r#";a="x;y";b"#, b';', &["", r#"a="x;y""#, "b"]),
            // A stray `>` is an ordinary byte.
            ("a>b,c", b',', &["a>b", "c"]),
            // Unterminated: the rest is one piece, never a panic.
            (r#""open, a, b"#, b',', &[r#""open, a, b"#]),
            ("<sip:a, b", b',', &["<sip:a, b"]),
            (r#"a, "b\"#, b',', &["a", r#" "b\"#]),
            ("é, ü", b',', &["é", " ü"]),
        ];
        for (value, sep, want) in table {
            assert_eq!(pieces(value, *sep), *want, "{value:?}");
        }
    }

    #[test]
    fn list_trims_and_skips_empty_elements() {
        let got: Vec<&str> = list(" <sip:a>, ,\t\"x, y\" <sip:b> ,").collect();
        assert_eq!(got, ["<sip:a>", "\"x, y\" <sip:b>"]);
        assert_eq!(list("").count(), 0);
    }

    #[test]
    fn balanced_reports_what_is_left_open() {
        let table = [
            ("", Ok(())),
            (r#""a" <sip:b>;x="c""#, Ok(())),
            (r#""a \"b\"""#, Ok(())),
            (r#""a"#, Err(ScanError::UnterminatedQuote)),
            (r#""a\""#, Err(ScanError::UnterminatedQuote)),
            (r#""a\"#, Err(ScanError::UnterminatedQuote)),
            ("<sip:a", Err(ScanError::UnclosedAngle)),
            ("<<sip:a>", Err(ScanError::UnclosedAngle)),
            ("a>", Ok(())),
        ];
        for (value, want) in table {
            assert_eq!(balanced(value), want, "{value:?}");
        }
    }

    #[test]
    fn quoted_strings_measure_and_unquote() {
        assert_eq!(quoted_len(r#""a\"b" rest"#), Ok(6));
        assert_eq!(quoted_len(r#""""#), Ok(2));
        assert_eq!(quoted_len(r#""abc"#), Err(ScanError::UnterminatedQuote));
        assert_eq!(quoted_len(r#""abc\"#), Err(ScanError::UnterminatedQuote));
        assert_eq!(quoted_len("abc"), Err(ScanError::UnterminatedQuote));
        assert_eq!(quoted_len(""), Err(ScanError::UnterminatedQuote));
        assert_eq!(unquote(r#""a\"b\\c""#).as_deref(), Ok(r#"a"b\c"#));
        assert_eq!(unquote(r#""Fréd""#).as_deref(), Ok("Fréd"));
        assert_eq!(unquote(r#""a" b"#), Err(ScanError::UnterminatedQuote));
        assert_eq!(unquote(r#"""#), Err(ScanError::UnterminatedQuote));
    }

    #[test]
    fn name_addr_splits_display_uri_and_params() {
        let na = |display, uri, bracketed, params| NameAddr {
            display,
            uri,
            bracketed,
            params,
        };
        let table = [
            ("sip:a@b", Ok(na("", "sip:a@b", false, ""))),
            ("sip:a@b;tag=1", Ok(na("", "sip:a@b", false, ";tag=1"))),
            (
                "<sip:a@b;lr>;tag=1",
                Ok(na("", "sip:a@b;lr", true, ";tag=1")),
            ),
            (
                r#" "Doe, <J>" <sip:+1613@b;user=phone> ; tag=x "#,
                Ok(na(
                    r#""Doe, <J>""#,
                    "sip:+1613@b;user=phone",
                    true,
                    "; tag=x",
                )),
            ),
            (
                r#""a \"<b>\"" <tel:+1>"#,
                Ok(na(r#""a \"<b>\"""#, "tel:+1", true, "")),
            ),
            (
                "SMITH, JOHN <sip:a@b>",
                Ok(na("SMITH, JOHN", "sip:a@b", true, "")),
            ),
            ("<>", Ok(na("", "", true, ""))),
            (r#""Mr. J <sip:a@b>"#, Err(ScanError::UnterminatedQuote)),
            ("<sip:a@b", Err(ScanError::UnclosedAngle)),
            ("<sip:a@b> x", Err(ScanError::JunkAfterAngle)),
            (r#"<sip:a@b>;x="open"#, Err(ScanError::UnterminatedQuote)),
        ];
        for (value, want) in table {
            assert_eq!(name_addr(value), want, "{value:?}");
        }
    }

    /// A value built from the pieces that trouble a scanner.
    fn tricky(rng: &mut fastrand::Rng) -> String {
        const PIECES: &[&str] = &[
            "\"", "\\", "<", ">", ",", ";", "=", " ", "\t", "a", "sip:x@y", "\u{e9}", "\r\n",
        ];
        (0..rng.usize(0..24))
            .map(|_| PIECES[rng.usize(..PIECES.len())])
            .collect()
    }

    #[test]
    fn random_values_never_panic_and_pieces_join_back() {
        let mut rng = fastrand::Rng::with_seed(3261);
        for _ in 0..5000 {
            let value = tricky(&mut rng);
            for sep in [b',', b';', b'='] {
                let pieces: Vec<&str> = split(&value, sep).collect();
                assert_eq!(pieces.join(&char::from(sep).to_string()), value);
            }
            let _ = balanced(&value);
            let _ = quoted_len(&value);
            let _ = unquote(&value);
            let _ = uri_open(&value);
            let _ = list(&value).count();
            let _ = params(&value).count();
            if let Ok(parts) = name_addr(&value) {
                assert!(parts.params.is_empty() || parts.params.starts_with(';'));
            }
        }
    }

    #[test]
    fn params_iterate_outside_quotes() {
        let got: Vec<(&str, Option<&str>)> = params(r#";tag = 1;;lr; x="a;b=c" ;q=0.5"#)
            .map(|p| (p.name, p.value))
            .collect();
        assert_eq!(
            got,
            [
                ("tag", Some("1")),
                ("lr", None),
                ("x", Some(r#""a;b=c""#)),
                ("q", Some("0.5")),
            ]
        );
        let first = params("expires = 60").next().unwrap();
        assert_eq!(first.text, "expires = 60");
        assert_eq!(params("").count(), 0);
        assert_eq!(params(r#";x="open;y"#).count(), 1);
        let empty = params(";tag=").next().unwrap();
        assert_eq!((empty.name, empty.value), ("tag", Some("")));
    }
}
