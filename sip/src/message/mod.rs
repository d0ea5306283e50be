//! SIP messages: a normalising pre-pass in front of rsip, stream framing,
//! and the responses a UAS builds from a request.
//!
//! rsip 0.4 is the message model, but its parser refuses legal input and
//! ignores Content-Length. [`parse`] therefore reads the head itself
//! (`head`: line ends, folding, compact names, whitespace around the
//! colon), regularises the values rsip is picky about (`normalize`),
//! frames the body by Content-Length, checks what RFC 3261 §8.1.1 makes
//! mandatory, and only then hands rsip a text it can read. The Request-URI
//! is parsed here too (`uri`): rsip mangles user parts with `.` or `;`.
//!
//! A message that fails is not dropped silently: [`error_response`] (and
//! [`bad_request`]) salvage what a response needs from the raw bytes and
//! build the 400 (or 416, 501, 505) with a `Warning` that says why.
//!
//! On a stream, [`frame`] cuts messages by the empty line and
//! Content-Length (RFC 3261 §18.3) and recognises RFC 5626 keep-alives.
//!
//! Proven against the RFC 4475 torture messages (see `torture.rs`). What
//! rsip still cannot carry, and so is refused:
//! - extension methods: `rsip::Method` is a closed enum, so an unknown
//!   method is [`ParseError::UnknownMethod`], answered 501 (RFC 4475
//!   `intmeth`, `esc02`, `mismatch02` — for a UA that is the RFC's answer);
//! - a top Via with an IPv6 sent-by or a transport rsip does not know
//!   (rsip's typed Via cannot read them; the transaction layer needs it).

mod head;
mod normalize;
pub(crate) mod scan;
mod uri;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod torture;

use std::net::{IpAddr, SocketAddr};

use rsip::headers::UntypedHeader;
use rsip::message::HeadersExt;
use rsip::prelude::ToTypedHeader;
use rsip::{Header, Headers, Method, Request, Response, SipMessage, StatusCode};

use head::Mode;

/// Why a message could not be read. Each variant is something the peer got
/// wrong; [`ParseError::status_code`] says how to answer it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but line ends: a keep-alive (RFC 5626 §4.4.1), not an error
    /// to log loudly nor to answer.
    #[error("empty message (keep-alive)")]
    KeepAlive,
    /// The head has no empty line after it (RFC 3261 §7).
    #[error("headers not terminated by an empty line")]
    Unterminated,
    /// On a stream: bigger than the configured maximum.
    #[error("message larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("header {name} longer than {limit} bytes")]
    HeaderTooLong { name: String, limit: usize },
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    /// On a stream Content-Length is mandatory (RFC 3261 §18.3).
    #[error("missing Content-Length")]
    MissingContentLength,
    #[error("bad Content-Length {0:?}")]
    BadContentLength(String),
    /// Content-Length promises more than the datagram holds (RFC 3261 §18.3).
    #[error("body shorter than Content-Length ({declared} declared, {present} present)")]
    BodyTruncated { declared: usize, present: usize },
    #[error("bad start line: {0}")]
    BadStartLine(String),
    /// A method rsip cannot represent (extension methods): 501.
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// RFC 3261 §8.2.4 wants a 505 for anything but SIP/2.0.
    #[error("unsupported version {0}")]
    UnsupportedVersion(String),
    /// RFC 3261 §8.2.2.1: 416.
    #[error("unsupported URI scheme {0}")]
    UnsupportedUriScheme(String),
    #[error("bad Request-URI: {0}")]
    BadRequestUri(String),
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    #[error("bad {name} header: {reason}")]
    BadHeader { name: String, reason: String },
    /// RFC 3261 §8.1.1.5: the CSeq method is the request method.
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch { method: String, cseq: String },
    /// A line rsip or the pre-pass could not read.
    #[error("syntax error: {0}")]
    Syntax(String),
}

impl ParseError {
    /// A short human phrase, for the `Warning` header and logs.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The response a request that failed this way deserves.
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::UnknownMethod(_) => 501,
            ParseError::UnsupportedVersion(_) => 505,
            ParseError::UnsupportedUriScheme(_) => 416,
            // RFC 3261 §21.5.11: the whole message is over our limit.
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        }
    }
}

/// The outcome of looking for one message at the start of a TCP stream
/// buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// More bytes are needed.
    Incomplete,
    /// The first message, head and body, is this many bytes.
    Complete(usize),
    /// This many leading CR/LF bytes (RFC 5626 keep-alive) to drop.
    Keepalive(usize),
}

/// A parsed start line.
enum StartLine {
    Request { method: Method, uri: rsip::Uri },
    Response { code: u16, reason: String },
}

/// Longest start line we read.
const MAX_START_LINE: usize = head::MAX_HEADER_LEN;

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    if line.len() > MAX_START_LINE {
        return Err(ParseError::BadStartLine("too long".into()));
    }
    let text = String::from_utf8_lossy(line);
    let is_version = |s: &str| {
        s.as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    };
    let check_version = |v: &str| -> Result<(), ParseError> {
        if v.eq_ignore_ascii_case("SIP/2.0") {
            Ok(())
        } else if is_version(v) {
            Err(ParseError::UnsupportedVersion(head::short(v)))
        } else {
            Err(ParseError::BadStartLine(format!(
                "bad version {:?}",
                head::short(v)
            )))
        }
    };
    if is_version(&text) {
        // RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase.
        let (version, rest) = text.split_once(' ').unwrap_or((&text, ""));
        check_version(version)?;
        let (code, reason) = match rest.get(..3) {
            // `get(..3)` succeeded, so `rest` has a fourth byte unless its length is 3.
            Some(code) if rest.len() == 3 || rest.as_bytes()[3] == b' ' => {
                (code, rest.get(4..).unwrap_or(""))
            }
            _ => return Err(ParseError::BadStartLine("bad status code".into())),
        };
        let code = code
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=699).contains(c) && code.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ParseError::BadStartLine("bad status code".into()))?;
        return Ok(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces
    // (RFC 4475 `lwsstart`, `trws`, `lwsruri`).
    let parts: Vec<&str> = text.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(ParseError::BadStartLine(
            "expected method, URI and version separated by single spaces".into(),
        ));
    };
    if !head::is_token(method.as_bytes()) {
        return Err(ParseError::BadStartLine("bad method".into()));
    }
    check_version(version)?;
    // Methods are case-sensitive (RFC 3261 §7.1); rsip's are not.
    let method = Method::all()
        .into_iter()
        .find(|m| m.to_string() == *method)
        .ok_or_else(|| ParseError::UnknownMethod(head::short(method)))?;
    let uri = uri::parse(uri).map_err(|e| match e {
        uri::UriError::Scheme(s) => ParseError::UnsupportedUriScheme(s),
        uri::UriError::Bad(reason) => ParseError::BadRequestUri(reason),
    })?;
    Ok(StartLine::Request { method, uri })
}

/// Parse one complete message (a UDP datagram, or one framed TCP message).
///
/// Normalises (expands compact forms, unfolds, trims whitespace around the
/// colon, header names case-insensitive), frames the body by
/// Content-Length (missing: the rest of the datagram; larger than what is
/// there: an error; extra bytes after the body: ignored), parses with rsip
/// and checks the mandatory headers of RFC 3261 §8.1.1 (Via, From, To,
/// Call-ID, CSeq; Max-Forwards may be missing), that the CSeq method is the
/// request method and its number a 32-bit number, that the Request-URI and
/// the top Via are readable, and that the version is SIP/2.0.
pub fn parse(buf: &[u8]) -> Result<SipMessage, ParseError> {
    let head = head::read(buf, Mode::Strict)?;
    let start = parse_start_line(head.start_line)?;
    let body_start = head.body_start.ok_or(ParseError::Unterminated)?;
    let fields = normalize::normalize(head.fields)?;
    let method = match &start {
        StartLine::Request { method, .. } => Some(method.to_string()),
        StartLine::Response { .. } => None,
    };
    normalize::check(&fields, method.as_deref())?;

    let present = buf.len() - body_start;
    let length = match normalize::first(&fields, "Content-Length") {
        Some(value) => {
            let declared = head::parse_content_length(value.as_bytes())?;
            if declared > present {
                return Err(ParseError::BodyTruncated { declared, present });
            }
            declared
        }
        None => present,
    };
    let body = buf[body_start..body_start + length].to_vec();

    // Hand rsip a head it can read; the Request-URI is already parsed.
    let mut text = match &start {
        StartLine::Request { method, .. } => {
            format!("{method} sip:placeholder.invalid SIP/2.0\r\n")
        }
        StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
    };
    for field in &fields {
        text.push_str(&field.name);
        text.push_str(": ");
        text.push_str(&field.value);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut message = SipMessage::try_from(text.as_str())
        .map_err(|e| ParseError::Syntax(head::short(&e.to_string())))?;
    match (&mut message, start) {
        (SipMessage::Request(request), StartLine::Request { uri, .. }) => {
            request.uri = uri;
            request.body = body;
        }
        (SipMessage::Response(response), StartLine::Response { .. }) => response.body = body,
        _ => return Err(ParseError::Syntax("start line changed kind".into())),
    }

    // The transaction layer reads the top Via typed (RFC 3261 §17.2.3).
    let via = message
        .via_header()
        .map_err(|_| ParseError::MissingHeader("Via"))?;
    via.typed().map_err(|e| ParseError::BadHeader {
        name: "Via".into(),
        reason: head::short(&e.to_string()),
    })?;
    let cseq = message
        .cseq_header()
        .map_err(|_| ParseError::MissingHeader("CSeq"))?;
    cseq.typed().map_err(|e| ParseError::BadHeader {
        name: "CSeq".into(),
        reason: head::short(&e.to_string()),
    })?;
    Ok(message)
}

/// Frame by the empty line and Content-Length (compact `l:` too). A message
/// (head and body) bigger than `max_len`, a missing Content-Length (RFC
/// 3261 §18.3 makes it mandatory on a stream) or an unreadable one is an
/// error: the stream cannot be resynchronised, close the connection.
pub fn frame(buf: &[u8], max_len: usize) -> Result<Framing, ParseError> {
    let leading = head::leading_line_ends(buf);
    if leading > 0 {
        return Ok(Framing::Keepalive(leading));
    }
    let Some(body_start) = head::find_body_start(buf) else {
        return if buf.len() > max_len {
            Err(ParseError::TooLarge { limit: max_len })
        } else {
            Ok(Framing::Incomplete)
        };
    };
    if body_start > max_len {
        return Err(ParseError::TooLarge { limit: max_len });
    }
    let values = head::content_lengths(&buf[..body_start]);
    let Some(first) = values.first() else {
        return Err(ParseError::MissingContentLength);
    };
    if values.iter().any(|v| v != first) {
        return Err(ParseError::DuplicateHeader("Content-Length"));
    }
    let length = head::parse_content_length(first)?;
    match body_start.checked_add(length) {
        Some(total) if total <= max_len => Ok(if buf.len() >= total {
            Framing::Complete(total)
        } else {
            Framing::Incomplete
        }),
        _ => Err(ParseError::TooLarge { limit: max_len }),
    }
}

/// The response a request that failed to parse deserves (400, or 416, 501,
/// 505 per [`ParseError::status_code`]), when the raw bytes still carry what
/// a response needs; see [`bad_request`].
pub fn error_response(raw: &[u8], error: &ParseError) -> Option<Vec<u8>> {
    reject(raw, error.status_code(), &error.reason())
}

/// The 400 Bad Request to send for a request that failed to parse, when the
/// raw bytes still carry what a response needs: a request line whose
/// method is not ACK, and Via, From, To, Call-ID, CSeq (RFC 3261 §8.2.6).
/// `None` when it cannot be answered (a response, an ACK, garbage, a
/// missing Call-ID…): drop and log. A `Warning: 399 frontdoor "<reason>"`
/// (RFC 3261 §20.43) says why. Never panics.
pub fn bad_request(raw: &[u8], reason: &str) -> Option<Vec<u8>> {
    reject(raw, 400, reason)
}

fn reject(raw: &[u8], code: u16, reason: &str) -> Option<Vec<u8>> {
    let head = head::read(raw, Mode::Lenient).ok()?;
    let line = String::from_utf8_lossy(head.start_line);
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let (method, version) = (words.first()?, words.last()?);
    let is_request = words.len() >= 3
        && head::is_token(method.as_bytes())
        && !method
            .as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
        && version
            .as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
    // RFC 3261 §17.2.3: an ACK is never answered.
    if !is_request || *method == "ACK" {
        return None;
    }
    let vias: Vec<&str> = head
        .fields
        .iter()
        .filter(|f| f.is("Via"))
        .flat_map(|f| normalize::split_list(&f.value))
        .filter(|v| !v.is_empty())
        .collect();
    let echo = |name: &str| {
        normalize::first(&head.fields, name)
            .filter(|v| !v.is_empty() && v.len() <= head::MAX_HEADER_LEN)
    };
    let (from, to, call_id, cseq) = (echo("From")?, echo("To")?, echo("Call-ID")?, echo("CSeq")?);
    if vias.is_empty() || vias.iter().any(|v| v.len() > head::MAX_HEADER_LEN) {
        return None;
    }
    let mut out = format!("SIP/2.0 {code} {}\r\n", reason_phrase(code));
    for via in vias {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    out.push_str(&format!("From: {from}\r\n"));
    // RFC 3261 §8.2.6.2: the UAS adds a To tag.
    if has_tag(to) {
        out.push_str(&format!("To: {to}\r\n"));
    } else {
        out.push_str(&format!("To: {to};tag={}\r\n", new_tag()));
    }
    out.push_str(&format!("Call-ID: {call_id}\r\nCSeq: {cseq}\r\n"));
    out.push_str(&format!("Warning: 399 frontdoor {}\r\n", quoted(reason)));
    out.push_str(&format!(
        "Server: {}\r\nContent-Length: 0\r\n\r\n",
        server()
    ));
    Some(out.into_bytes())
}

/// An RFC 3261 §25.1 quoted-string holding `text`, control characters
/// replaced, cut to a sensible length.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars().take(200) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn server() -> String {
    format!("frontdoor/{}", env!("CARGO_PKG_VERSION"))
}

/// Whether a From/To value carries a `tag` header parameter: one after a
/// top-level `;` (after the `>`, or after the URI when there are no
/// brackets, RFC 3261 §20.10). Total: the value may be malformed here.
fn has_tag(value: &str) -> bool {
    scan::split(value, b';').skip(1).any(|p| {
        let name = p.split('=').next().unwrap_or("").trim();
        name.eq_ignore_ascii_case("tag")
    })
}

/// RFC 3581 §4 and RFC 3261 §18.2.1: stamp the top Via of a received
/// request with `received=<source ip>` when the sent-by host differs from
/// it (or when `rport` is present), and fill an empty `rport` with the
/// source port.
pub fn stamp_via(request: &mut Request, source: SocketAddr) {
    let ip = match source.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let Some(via) = request.headers.iter_mut().find_map(|h| match h {
        Header::Via(via) => Some(via),
        _ => None,
    }) else {
        return;
    };
    // A Via built elsewhere may still hold a list: stamp its first element.
    let mut elements: Vec<String> = normalize::split_list(via.value())
        .into_iter()
        .map(str::to_owned)
        .collect();
    let Some(top) = elements.first_mut() else {
        return;
    };
    *top = stamp_via_value(top, ip, source.port());
    via.replace(elements.join(", "));
}

fn stamp_via_value(value: &str, ip: IpAddr, port: u16) -> String {
    let mut parts: Vec<String> = scan::split(value, b';')
        .map(|p| p.trim().to_owned())
        .collect();
    // `split` always yields at least one piece.
    let sent_by = parts[0].split_whitespace().nth(1).unwrap_or("");
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => sent_by.split(':').next().unwrap_or(""),
    };
    let same_host = host.parse::<IpAddr>().is_ok_and(|h| h == ip);
    let name_of = |p: &str| {
        p.split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let rport = parts.iter().position(|p| name_of(p) == "rport");
    if let Some(i) = rport
        && !parts[i].contains('=')
    {
        parts[i] = format!("rport={port}");
    }
    if !same_host || rport.is_some() {
        let received = format!("received={ip}");
        match parts.iter().position(|p| name_of(p) == "received") {
            Some(i) => parts[i] = received,
            None => parts.push(received),
        }
    }
    parts.join(";")
}

/// Methods whose 2xx (and 1xx) responses create a dialog: those copy
/// Record-Route (RFC 3261 §12.1.1, RFC 6665 §4.1.3).
fn creates_dialog(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Subscribe | Method::Refer | Method::Notify
    )
}

/// Build a response to `request` per RFC 3261 §8.2.6: copies every Via in
/// order, From, To (adding `;tag=<to_tag>` if given and the To has none),
/// Call-ID and CSeq; Record-Route too for a dialog-creating 1xx/2xx
/// (§12.1.1) and Timestamp for a 100 (§8.2.6.1). Adds `Server` and
/// `Content-Length: 0`; [`to_bytes`] fixes the length if a body is set later.
pub fn response(request: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::default();
    for header in request.headers.iter() {
        if let Header::Via(_) = header {
            headers.push(header.clone());
        }
    }
    for header in request.headers.iter() {
        match header {
            Header::From(_) | Header::CallId(_) | Header::CSeq(_) => headers.push(header.clone()),
            Header::To(to) => {
                let value = to.value();
                let to = match to_tag {
                    Some(tag) if !has_tag(value) => format!("{value};tag={tag}"),
                    _ => value.to_owned(),
                };
                headers.push(Header::To(rsip::headers::To::new(to)));
            }
            Header::RecordRoute(_)
                if (101..300).contains(&code) && creates_dialog(&request.method) =>
            {
                headers.push(header.clone());
            }
            Header::Timestamp(_) if code == 100 => headers.push(header.clone()),
            _ => {}
        }
    }
    headers.push(Header::Server(rsip::headers::Server::new(server())));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::from(0)));
    Response {
        status_code: StatusCode::from(code),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// The RFC 3261 §21 reason phrase of a status code (rsip prints its enum
/// variant names instead: "BadRequest").
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Provisional",
            2 => "Success",
            3 => "Redirection",
            4 => "Request Failure",
            5 => "Server Failure",
            _ => "Global Failure",
        },
    }
}

/// Serialise with a Content-Length that matches the body (rsip's Display
/// keeps whatever Content-Length header is there) and RFC reason phrases.
pub fn to_bytes(msg: &SipMessage) -> Vec<u8> {
    let mut out = match msg {
        SipMessage::Request(r) => format!("{} {} {}\r\n", r.method, r.uri, r.version),
        SipMessage::Response(r) => {
            let code = r.status_code.code();
            let reason = match &r.status_code {
                // rsip's placeholder for codes it has no name for.
                StatusCode::Other(_, reason) if !reason.is_empty() && reason != "Other" => {
                    reason.as_str()
                }
                _ => reason_phrase(code),
            };
            format!("{} {code} {reason}\r\n", r.version)
        }
    };
    let (headers, body) = match msg {
        SipMessage::Request(r) => (&r.headers, &r.body),
        SipMessage::Response(r) => (&r.headers, &r.body),
    };
    for header in headers.iter() {
        if matches!(header, Header::ContentLength(_)) {
            continue;
        }
        // A value set by a careless caller must not split the message.
        out.extend(
            header
                .to_string()
                .chars()
                .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
        );
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `bytes` random bytes from the operating system's cryptographic
/// generator, as lower-case hex. RFC 3261 §19.3 wants tags and Call-IDs
/// that cannot be guessed: a guessed tag or Call-ID lets a stranger end or
/// take over a call. (Should the OS generator ever fail, the thread's
/// fastrand generator stands in rather than the call failing.)
fn random_hex(bytes: usize) -> String {
    let mut buf = [0u8; 16];
    let buf = &mut buf[..bytes.min(16)];
    if getrandom::fill(buf).is_err() {
        fastrand::fill(buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh RFC 3261 §8.1.1.7 branch: the magic cookie and 128 random bits.
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(16))
}

/// A fresh tag (RFC 3261 §19.3: at least 32 random bits; this has 64).
pub fn new_tag() -> String {
    random_hex(8)
}

/// A fresh Call-ID's random part (RFC 3261 §8.1.1.4: 128 random bits).
pub fn new_call_id() -> String {
    random_hex(16)
}

/// Parse a `sip:`/`sips:` URI the way the Request-URI is parsed, keeping
/// user parts with `.` or `;` intact (rsip's own parser splits them). For
/// the layers above, e.g. the user of a REGISTER's To URI.
pub fn parse_uri(text: &str) -> Result<rsip::Uri, ParseError> {
    uri::parse(text).map_err(|e| match e {
        uri::UriError::Scheme(s) => ParseError::UnsupportedUriScheme(s),
        uri::UriError::Bad(reason) => ParseError::BadHeader {
            name: "URI".into(),
            reason,
        },
    })
}
