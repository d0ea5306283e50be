//! Header values made regular for rsip, and the checks RFC 3261 asks of a
//! received message.
//!
//! rsip reads `Via: SIP/2.0/UDP host;branch=x` but not the same Via written
//! `SIP / 2.0 / UDP host ; branch = x` (legal: RFC 3261 §25.1 allows LWS
//! around `/`, `;`, `=`), nor several Vias in one field. So:
//! - list headers (Via, Contact, Route, Record-Route) are split at their
//!   top-level commas into one field each (RFC 3261 §7.3.1 makes both forms
//!   equal);
//! - LWS next to the separators of Via, From, To, Contact, Route and
//!   Record-Route is dropped, other runs become one SP, quoted strings and
//!   `<…>` untouched.

use std::net::Ipv6Addr;

use super::ParseError;
use super::head::{Field, is_token, is_token_char};
use super::scan::{self, Scanner};
use super::uri::is_scheme;

/// Split a header value at its top-level commas, each element trimmed
/// (empty ones kept: an empty Via element is an error).
pub(super) fn split_list(value: &str) -> Vec<&str> {
    scan::split(value, b',').map(str::trim).collect()
}

/// Drop LWS next to any of `separators`, squeeze other runs to one SP,
/// leave quoted strings and `<…>` alone.
pub(super) fn squeeze(value: &str, separators: &[u8]) -> String {
    let value = value.trim();
    let bytes = value.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut scanner = Scanner::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let outside = scanner.outside(b);
        if outside && (b == b' ' || b == b'\t') {
            let run_end = bytes[i..]
                .iter()
                .position(|c| *c != b' ' && *c != b'\t')
                .map_or(bytes.len(), |n| i + n);
            let before = out.last().copied();
            let after = bytes.get(run_end).copied();
            let next_to_separator = before.is_some_and(|c| separators.contains(&c))
                || after.is_some_and(|c| separators.contains(&c));
            if !next_to_separator {
                out.push(b' ');
            }
            i = run_end;
            continue;
        }
        out.push(b);
        i += 1;
    }
    // Only ASCII whitespace was removed or replaced: still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Split list headers, regularise whitespace; see the module comment.
pub(super) fn normalize(fields: Vec<Field>) -> Result<Vec<Field>, ParseError> {
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        if field.is("Via") {
            for part in split_list(&field.value) {
                if part.is_empty() {
                    return Err(bad("Via", "empty element in the Via list"));
                }
                out.push(Field {
                    name: "Via".into(),
                    value: squeeze(part, b";=/:"),
                });
            }
        } else if let Some(name) = ["Contact", "Route", "Record-Route"]
            .into_iter()
            .find(|n| field.is(n))
        {
            if name == "Contact" && field.value == "*" {
                out.push(Field {
                    name: name.into(),
                    value: field.value,
                });
                continue;
            }
            for part in split_list(&field.value)
                .into_iter()
                .filter(|p| !p.is_empty())
            {
                out.push(Field {
                    name: name.into(),
                    value: squeeze(part, b";="),
                });
            }
        } else if field.is("From") || field.is("To") {
            let value = squeeze(&field.value, b";=");
            out.push(Field { value, ..field });
        } else if field.is("CSeq") {
            let value = field.value.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(Field { value, ..field });
        } else {
            out.push(field);
        }
    }
    Ok(out)
}

fn bad(name: &str, reason: impl Into<String>) -> ParseError {
    ParseError::BadHeader {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Headers that may appear at most once (RFC 3261 §7.3.1, §20).
const SINGLE: &[&str] = &[
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
];
/// RFC 3261 §8.1.1: what every request (and so every response) carries.
const MANDATORY: &[&str] = &["Via", "From", "To", "Call-ID", "CSeq"];

/// The first value of header `name`.
pub(super) fn first<'f>(fields: &'f [Field], name: &str) -> Option<&'f str> {
    fields.iter().find(|f| f.is(name)).map(|f| f.value.as_str())
}

/// Check a normalised head. `method` is the request method, `None` for a
/// response.
pub(super) fn check(fields: &[Field], method: Option<&str>) -> Result<(), ParseError> {
    for name in SINGLE {
        if fields.iter().filter(|f| f.is(name)).count() > 1 {
            return Err(ParseError::DuplicateHeader(name));
        }
    }
    for name in MANDATORY {
        if !fields.iter().any(|f| f.is(name)) {
            return Err(ParseError::MissingHeader(name));
        }
    }
    for field in fields {
        let value = field.value.as_str();
        if field.is("Via") {
            check_via(value)?;
        } else if field.is("From") || field.is("To") {
            // Lenient display names: a caller ID like `SMITH, JOHN <sip:…>`
            // must not cost a caller their call.
            check_name_addr(value, DisplayName::Lenient)
                .map_err(|reason| bad(&field.name, reason))?;
        } else if field.is("Contact") && value != "*" {
            // Strict: in a Contact list a stray comma splits the value.
            check_name_addr(value, DisplayName::Strict).map_err(|reason| bad("Contact", reason))?;
        } else if field.is("Call-ID") {
            if value.is_empty() || value.bytes().any(|b| b == b' ' || b == b'\t') {
                return Err(bad("Call-ID", "must be one word"));
            }
        } else if field.is("Max-Forwards") {
            // RFC 3261 §20.22: an integer from 0 to 255.
            let ok = !value.is_empty()
                && value.bytes().all(|b| b.is_ascii_digit())
                && value.parse::<u8>().is_ok();
            if !ok {
                return Err(bad("Max-Forwards", "must be a number from 0 to 255"));
            }
        } else if field.is("CSeq") {
            check_cseq(value, method)?;
        }
    }
    Ok(())
}

/// RFC 3261 §8.1.1.5: `CSeq: <32-bit number> <method>`; in a request the
/// method is the request's (§8.2.2… and RFC 4475 `mismatch01`).
fn check_cseq(value: &str, method: Option<&str>) -> Result<(), ParseError> {
    let Some((number, cseq_method)) = value.split_once(' ') else {
        return Err(bad("CSeq", "must be a number and a method"));
    };
    let numeric = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    if !numeric
        || number.trim_start_matches('0').len() > 10
        || number
            .parse::<u64>()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .is_none()
    {
        return Err(bad("CSeq", "sequence number is not a 32-bit number"));
    }
    if !is_token(cseq_method.as_bytes()) {
        return Err(bad("CSeq", "bad method"));
    }
    match method {
        Some(method) if method != cseq_method => Err(ParseError::CSeqMismatch {
            method: method.to_owned(),
            cseq: cseq_method.to_owned(),
        }),
        Some(_) => Ok(()),
        None if rsip::Method::all()
            .iter()
            .any(|m| m.to_string() == cseq_method) =>
        {
            Ok(())
        }
        None => Err(bad("CSeq", format!("unknown method {cseq_method}"))),
    }
}

/// RFC 3261 §20.42 `via-parm`, after [`squeeze`]:
/// `SIP/2.0/<transport> <host>[:<port>][;<param>[=<value>]]…`.
fn check_via(value: &str) -> Result<(), ParseError> {
    let Some((protocol, rest)) = value.split_once(' ') else {
        return Err(bad("Via", "no sent-by"));
    };
    let parts: Vec<&str> = protocol.split('/').collect();
    let [name, version, transport] = parts.as_slice() else {
        return Err(bad("Via", "bad sent-protocol"));
    };
    if !name.eq_ignore_ascii_case("SIP") || !is_token(transport.as_bytes()) {
        return Err(bad("Via", "bad sent-protocol"));
    }
    if *version != "2.0" {
        return Err(ParseError::UnsupportedVersion(format!("SIP/{version}")));
    }
    let parts = scan::split(rest, b';').collect::<Vec<_>>();
    let (sent_by, params) = parts.split_first().unwrap_or((&"", &[]));
    check_host_port(sent_by).map_err(|reason| bad("Via", reason))?;
    check_params(params).map_err(|reason| bad("Via", reason))
}

fn check_host_port(s: &str) -> Result<(), String> {
    let (host_ok, port) = if let Some(v6) = s.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("unterminated IPv6 reference".into());
        };
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("junk after ']'")?),
        };
        (addr.parse::<Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        (ok, port)
    };
    if !host_ok {
        return Err(format!("bad host in {s:?}"));
    }
    if let Some(port) = port {
        let ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        if !ok || port.parse::<u16>().is_err() {
            return Err(format!("bad port {port:?}"));
        }
    }
    Ok(())
}

/// `;name[=value]` parameters: a token name, a value that is a token, an
/// address or a quoted string.
fn check_params(params: &[&str]) -> Result<(), String> {
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (*param, None),
        };
        if !is_token(name.as_bytes()) {
            return Err(format!("bad parameter {param:?}"));
        }
        if let Some(value) = value {
            let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
            let plain = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| is_token_char(b) || b"[]:".contains(&b));
            if !quoted && !plain {
                return Err(format!("bad parameter value {param:?}"));
            }
        }
    }
    Ok(())
}

/// How closely [`check_name_addr`] reads a display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DisplayName {
    /// RFC 3261 §25.1: one quoted string, or tokens separated by LWS.
    Strict,
    /// Anything before the `<`, quotes balanced.
    Lenient,
}

/// RFC 3261 §20.10, §25.1 `name-addr` / `addr-spec` with header params, as
/// From, To and Contact carry them.
pub(super) fn check_name_addr(value: &str, display_name: DisplayName) -> Result<(), String> {
    if let Err(e @ scan::ScanError::UnterminatedQuote) = scan::balanced(value) {
        return Err(e.to_string());
    }
    let params = match scan::uri_open(value) {
        Some(lt) => {
            let display = value[..lt].trim();
            if display_name == DisplayName::Strict {
                check_display_name(display)?;
            }
            let Some(gt) = value[lt..].find('>') else {
                return Err("'<' without '>'".into());
            };
            let uri = &value[lt + 1..lt + gt];
            if uri.bytes().any(|b| b == b' ' || b == b'\t') {
                return Err("whitespace inside <…>".into());
            }
            check_scheme(uri)?;
            let after = value[lt + gt + 1..].trim_start();
            if !after.is_empty() && !after.starts_with(';') {
                return Err("junk after '>'".into());
            }
            after
        }
        None => {
            let (uri, params) = match value.find(';') {
                Some(i) => (&value[..i], &value[i..]),
                None => (value, ""),
            };
            // RFC 3261 §20.10: a URI with ',', '?' or ';' must be in <…>.
            if let Some(c) = uri
                .chars()
                .find(|c| matches!(c, '?' | ',' | '"' | ' ' | '\t'))
            {
                return Err(format!("{c:?} in a URI outside <…>"));
            }
            check_scheme(uri)?;
            params
        }
    };
    match params.strip_prefix(';') {
        Some(params) => check_params(&scan::split(params, b';').collect::<Vec<_>>()),
        None if params.is_empty() => Ok(()),
        None => Err("junk after the URI".into()),
    }
}

fn check_scheme(uri: &str) -> Result<(), String> {
    match uri.split_once(':') {
        Some((scheme, rest)) if is_scheme(scheme) && !rest.is_empty() => Ok(()),
        _ => Err(format!("not a URI: {:?}", super::head::short(uri))),
    }
}

/// A display name is one quoted string or tokens separated by LWS.
fn check_display_name(display: &str) -> Result<(), String> {
    if display.is_empty() {
        return Ok(());
    }
    if display.starts_with('"') {
        return match scan::quoted_len(display) {
            Ok(len) if len == display.len() => Ok(()),
            Ok(_) => Err("junk after the quoted display name".into()),
            Err(e) => Err(e.to_string()),
        };
    }
    if display
        .bytes()
        .all(|b| is_token_char(b) || b == b' ' || b == b'\t')
    {
        Ok(())
    } else {
        Err("display name must be quoted".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeeze_drops_lws_next_to_separators_only() {
        assert_eq!(
            squeeze(
                "SIP  / 2.0  / TCP     spindle.example.com   ;\t branch  =   z9hG4bK9ikj8",
                b";=/:"
            ),
            "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8"
        );
        assert_eq!(
            squeeze(
                r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
                b";="
            ),
            r#""J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8"#
        );
        assert_eq!(
            squeeze(r#""a  ;  b" <sip:x@y ; z>"#, b";="),
            r#""a  ;  b" <sip:x@y ; z>"#
        );
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        assert_eq!(
            split_list(r#""Doe, J" <sip:a@b;x=1,2>, <sip:c@d> ,sip:e@f"#),
            vec![r#""Doe, J" <sip:a@b;x=1,2>"#, "<sip:c@d>", "sip:e@f"]
        );
        assert_eq!(split_list("a;;,;,,"), vec!["a;;", ";", "", ""]);
    }

    #[test]
    fn name_addr_grammar() {
        let good = [
            "sip:a@b",
            "<sip:a@b>;tag=1",
            "caller<sip:caller@example.com>;tag=323",
            r#""Quoted string \"\"" <sip:jdrosen@example.com>;newparam=newvalue;secondparam;q=0.33"#,
            "isbn:2983792873",
            "sip:+19725552222@gw1.example.net;unknownparam",
            "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
            r#"<sip:a@b>;+sip.instance="<urn:uuid:1>""#,
        ];
        for v in good {
            assert_eq!(check_name_addr(v, DisplayName::Strict), Ok(()), "{v}");
        }
        let bad = [
            (
                r#""Mr. J. User <sip:j.user@example.com>"#,
                "unterminated quoted string",
            ),
            (
                r#""Watson, Thomas" < sip:t.watson@example.org >"#,
                "whitespace inside <…>",
            ),
            (
                "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
                "display name must be quoted",
            ),
            (
                "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
                "'?' in a URI outside <…>",
            ),
            (r#""Joe" <sip:joe@example.org>;;;;"#, "bad parameter \"\""),
            ("<sip:a@b", "'<' without '>'"),
            ("<sip:a@b> x", "junk after '>'"),
            ("nothing", "not a URI: \"nothing\""),
        ];
        for (v, reason) in bad {
            assert_eq!(
                check_name_addr(v, DisplayName::Strict),
                Err(reason.to_owned()),
                "{v}"
            );
        }
        // From and To forgive an unquoted display name, not the rest.
        let from = "SMITH, JOHN <sip:+16135550123@carrier.example>;tag=1";
        assert_eq!(check_name_addr(from, DisplayName::Lenient), Ok(()));
        assert!(check_name_addr("Fr\u{e9}d\u{e9}ric <sip:a@b>", DisplayName::Lenient).is_ok());
        assert!(
            check_name_addr(
                r#""Mr. J. User <sip:j.user@example.com>"#,
                DisplayName::Lenient
            )
            .is_err()
        );
    }

    #[test]
    fn via_grammar() {
        assert_eq!(
            check_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport;received=[2001:db8::1]"),
            Ok(())
        );
        assert_eq!(
            check_via("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en"),
            Ok(())
        );
        assert_eq!(
            check_via("SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK1"),
            Ok(())
        );
        assert!(
            matches!(check_via("SIP/7.0/UDP c.example.com"), Err(ParseError::UnsupportedVersion(v)) if v == "SIP/7.0")
        );
        for v in [
            "SIP/2.0/UDP 192.0.2.15;;",
            ";",
            "SIP/2.0 host",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host;branch=",
        ] {
            assert!(check_via(v).is_err(), "{v}");
        }
    }

    #[test]
    fn cseq_is_a_32_bit_number_and_the_request_method() {
        assert_eq!(check_cseq("0009 INVITE", Some("INVITE")), Ok(()));
        assert_eq!(check_cseq("4294967295 BYE", Some("BYE")), Ok(()));
        assert!(check_cseq("4294967296 BYE", Some("BYE")).is_err());
        assert!(check_cseq("36893488147419103232 REGISTER", Some("REGISTER")).is_err());
        assert!(check_cseq("-1 BYE", Some("BYE")).is_err());
        assert!(matches!(
            check_cseq("8 INVITE", Some("OPTIONS")),
            Err(ParseError::CSeqMismatch { .. })
        ));
        assert_eq!(check_cseq("35 INVITE", None), Ok(()));
        assert!(check_cseq("35 NEWMETHOD", None).is_err());
    }
}
