//! The head of a SIP message as lines: the start line, then header fields
//! unfolded (RFC 3261 §7.3.1), with compact names expanded (RFC 3261 §7.3.3)
//! and the whitespace around the colon gone.
//!
//! Lines may end in CRLF or, leniently, in a bare LF. Nothing here knows
//! what a header means; that is [`super::normalize`]'s work.

use super::ParseError;

/// Longest header field we accept once unfolded. Real phones stay far below
/// (an RFC 8224 Identity header is about 1 KiB); a longer one is an attack or
/// a bug and gets a 400.
pub(super) const MAX_HEADER_LEN: usize = 16 * 1024;
/// Most header fields we accept in one message (RFC 4475 `longreq` has 45).
pub(super) const MAX_HEADERS: usize = 256;

/// One header field: `name` as sent (compact forms expanded), `value`
/// unfolded and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field {
    pub name: String,
    pub value: String,
}

impl Field {
    /// Header names are case-insensitive (RFC 3261 §7.3.1).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The start line and header fields of one message.
#[derive(Debug)]
pub(super) struct Head<'a> {
    /// Without its line end.
    pub start_line: &'a [u8],
    pub fields: Vec<Field>,
    /// Offset of the body: just after the empty line. `None` when the
    /// buffer ends before any empty line.
    pub body_start: Option<usize>,
}

/// How strictly [`read`] treats a malformed header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Any malformed line or exceeded limit is an error.
    Strict,
    /// Skip what cannot be read: used to salvage a 400 from a bad request.
    Lenient,
}

/// RFC 3261 §7.3.3 compact forms, and those of later RFCs (RFC 3515 `r`,
/// RFC 3841 `a`/`j`/`d`, RFC 3892 `b`, RFC 4028 `x`, RFC 6665 `o`/`u`,
/// RFC 8224 `y`).
const COMPACT: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// The long name of a compact header name, if `name` is one.
pub(super) fn expand_compact(name: &[u8]) -> Option<&'static str> {
    match name {
        [c] => {
            let c = c.to_ascii_lowercase();
            COMPACT.iter().find(|(k, _)| *k == c).map(|(_, long)| *long)
        }
        _ => None,
    }
}

/// RFC 3261 §25.1 `token` characters.
pub(super) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

pub(super) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| is_token_char(*b))
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_wsp(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_wsp(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// RFC 3261 §7.5: CRLFs before the start line are ignored (and on a stream
/// they are RFC 5626 keep-alives).
pub(super) fn leading_line_ends(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()
}

/// One line from `from`: the line without its end, the offset after it, and
/// whether a line end was there at all.
fn next_line(buf: &[u8], from: usize) -> (&[u8], usize, bool) {
    let rest = &buf[from..];
    match rest.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let line = &rest[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, from + i + 1, true)
        }
        None => (rest, buf.len(), false),
    }
}

/// Where the body starts: the offset after the first empty line, if the
/// buffer holds one. `buf` must not start with a line end.
pub(super) fn find_body_start(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|b| *b == b'\n') {
        let after = i + nl + 1;
        match buf.get(after..) {
            Some([b'\n', ..]) => return Some(after + 1),
            Some([b'\r', b'\n', ..]) => return Some(after + 2),
            _ => i = after,
        }
    }
    None
}

/// Read the head of the message in `buf`, skipping leading line ends.
pub(super) fn read(buf: &[u8], mode: Mode) -> Result<Head<'_>, ParseError> {
    let start = leading_line_ends(buf);
    if start == buf.len() {
        return Err(ParseError::KeepAlive);
    }
    let (start_line, mut pos, _) = next_line(buf, start);
    let mut fields: Vec<Field> = Vec::new();
    // The value being assembled, as bytes until it is complete.
    let mut current: Option<(String, Vec<u8>)> = None;
    let mut body_start = None;
    while pos < buf.len() {
        let (line, next, had_end) = next_line(buf, pos);
        pos = next;
        if line.is_empty() {
            if had_end {
                body_start = Some(pos);
            }
            break;
        }
        // `line` is not empty here.
        if is_wsp(line[0]) {
            // RFC 3261 §7.3.1: a continuation line; the fold is one SP.
            match current.as_mut() {
                Some((_, value)) => {
                    let more = trim_wsp(line);
                    if !more.is_empty() {
                        if !value.is_empty() {
                            value.push(b' ');
                        }
                        value.extend_from_slice(more);
                    }
                }
                None if mode == Mode::Strict => {
                    return Err(ParseError::Syntax(
                        "continuation line before any header".into(),
                    ));
                }
                None => {}
            }
        } else {
            if let Some(done) = current.take() {
                push_field(&mut fields, done, mode)?;
            }
            match line.iter().position(|b| *b == b':') {
                Some(colon) => {
                    // Whitespace may stand between the name and the colon.
                    let name = trim_wsp(&line[..colon]);
                    if !is_token(name) {
                        if mode == Mode::Strict {
                            return Err(ParseError::Syntax(format!(
                                "bad header name {:?}",
                                String::from_utf8_lossy(name)
                            )));
                        }
                        continue;
                    }
                    let name = match expand_compact(name) {
                        Some(long) => long.to_owned(),
                        // Token characters are ASCII.
                        None => String::from_utf8_lossy(name).into_owned(),
                    };
                    current = Some((name, trim_wsp(&line[colon + 1..]).to_vec()));
                }
                None if mode == Mode::Strict => {
                    return Err(ParseError::Syntax(format!(
                        "header line without a colon: {:?}",
                        short(&String::from_utf8_lossy(line))
                    )));
                }
                None => {}
            }
        }
        if mode == Mode::Strict
            && let Some((name, value)) = &current
            && value.len() > MAX_HEADER_LEN
        {
            return Err(ParseError::HeaderTooLong {
                name: name.clone(),
                limit: MAX_HEADER_LEN,
            });
        }
    }
    if let Some(done) = current.take() {
        push_field(&mut fields, done, mode)?;
    }
    Ok(Head {
        start_line,
        fields,
        body_start,
    })
}

fn push_field(
    fields: &mut Vec<Field>,
    (name, value): (String, Vec<u8>),
    mode: Mode,
) -> Result<(), ParseError> {
    if mode == Mode::Strict && fields.len() >= MAX_HEADERS {
        return Err(ParseError::TooManyHeaders { limit: MAX_HEADERS });
    }
    // Header values are UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8); an old phone
    // sending Latin-1 in a display name still gets through, with U+FFFD.
    // A lone CR inside a line cannot be echoed safely: it becomes SP.
    let value = String::from_utf8_lossy(trim_wsp(&value)).replace('\r', " ");
    fields.push(Field { name, value });
    Ok(())
}

/// The Content-Length values in a head, for stream framing: every
/// `Content-Length` or `l` field, unfolded, nothing else interpreted.
pub(super) fn content_lengths(head: &[u8]) -> Vec<Vec<u8>> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut in_length = false;
    let (_, mut pos, _) = next_line(head, 0);
    while pos < head.len() {
        let (line, next, _) = next_line(head, pos);
        pos = next;
        if line.is_empty() {
            break;
        }
        // `line` is not empty here.
        if is_wsp(line[0]) {
            if in_length && let Some(last) = found.last_mut() {
                last.push(b' ');
                last.extend_from_slice(trim_wsp(line));
            }
            continue;
        }
        in_length = false;
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = trim_wsp(&line[..colon]);
            if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
                in_length = true;
                found.push(trim_wsp(&line[colon + 1..]).to_vec());
            }
        }
    }
    found.iter_mut().for_each(|v| *v = trim_wsp(v).to_vec());
    found
}

/// A Content-Length value (RFC 3261 §20.14: `1*DIGIT`).
pub(super) fn parse_content_length(value: &[u8]) -> Result<usize, ParseError> {
    let bad = || ParseError::BadContentLength(short(&String::from_utf8_lossy(value)));
    if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // At most ten ASCII digits: valid UTF-8, and it fits a u64.
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(bad)
}

/// A value cut short for an error message.
pub(super) fn short(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
