//! Reading a REGISTER: its address of record (from To, RFC 3261 §10.3
//! step 5), Call-ID, CSeq, Expires and Contacts (`*` only with Expires 0,
//! step 6; the Contact syntax of §20.10), checked for syntax before anyone
//! is authenticated.

use rsip::headers::UntypedHeader;
use rsip::prelude::*;
use rsip::{Header, Method, Request};

use crate::message::{self, scan};

/// A Contact of the request.
#[derive(Debug)]
pub(super) enum ContactSpec {
    /// `Contact: *`
    Star,
    Uri {
        uri: String,
        params: String,
        expires: Option<u64>,
    },
}

/// A REGISTER read and checked for syntax.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) aor: Option<String>,
    pub(super) call_id: String,
    pub(super) cseq: u32,
    pub(super) contacts: Vec<ContactSpec>,
    pub(super) expires: Option<u64>,
}

/// The REGISTER's fields, or why it gets a 400.
pub(super) fn parse_register(request: &Request) -> Result<Parsed, String> {
    if request.method != Method::Register {
        return Err(format!("{} is not REGISTER", request.method));
    }
    let to = request
        .to_header()
        .map_err(|_| "missing To header".to_owned())?;
    let (to_uri, _) = split_name_addr(to.value()).map_err(|e| format!("bad To header: {e}"))?;
    let to_uri = message::parse_uri(&to_uri).map_err(|e| format!("bad To URI: {e}"))?;
    let aor = to_uri
        .user()
        .map(str::to_owned)
        .filter(|user| !user.is_empty());
    let call_id = request
        .call_id_header()
        .map_err(|_| "missing Call-ID header".to_owned())?
        .value()
        .trim()
        .to_owned();
    if call_id.is_empty() {
        return Err("empty Call-ID".into());
    }
    let cseq = request
        .cseq_header()
        .map_err(|_| "missing CSeq header".to_owned())?
        .seq()
        .map_err(|_| "bad CSeq header".to_owned())?;

    let mut expires = None;
    for header in request.headers.iter() {
        if let Header::Expires(value) = header {
            if expires.is_some() {
                return Err("more than one Expires header".into());
            }
            expires = Some(
                parse_delta(value.value())
                    .ok_or_else(|| format!("bad Expires header {:?}", value.value()))?,
            );
        }
    }

    let mut contacts = Vec::new();
    for header in request.headers.iter() {
        let Header::Contact(value) = header else {
            continue;
        };
        let items: Vec<&str> = scan::list(value.value()).collect();
        if items.is_empty() {
            return Err("empty Contact header".into());
        }
        for item in items {
            contacts.push(parse_contact(item)?);
        }
    }
    if contacts.iter().any(|c| matches!(c, ContactSpec::Star)) {
        if contacts.len() > 1 {
            return Err("Contact: * must be the only contact".into());
        }
        if expires != Some(0) {
            return Err("Contact: * requires Expires: 0".into());
        }
    }
    Ok(Parsed {
        aor,
        call_id,
        cseq,
        contacts,
        expires,
    })
}

/// RFC 3261 §25.1 `delta-seconds`; values past `u64` saturate (they are
/// clamped anyway).
fn parse_delta(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

/// `[display-name] <uri> *(;param)` or `uri *(;param)` → (uri, params
/// text starting at the first `;` after the URI, or empty).
fn split_name_addr(value: &str) -> Result<(String, &str), String> {
    let parts = scan::name_addr(value).map_err(|e| e.to_string())?;
    let uri = scan::trim_lws(parts.uri);
    if parts.bracketed && uri.is_empty() {
        return Err("empty URI".into());
    }
    if !parts.bracketed && (uri.is_empty() || uri.contains(char::is_whitespace)) {
        return Err(format!("not a URI: {:?}", value.trim()));
    }
    Ok((uri.to_owned(), parts.params))
}

fn parse_contact(value: &str) -> Result<ContactSpec, String> {
    if value.trim() == "*" {
        return Ok(ContactSpec::Star);
    }
    let bad = |e: String| format!("bad Contact {value:?}: {e}");
    let (uri, rest) = split_name_addr(value).map_err(bad)?;
    message::parse_uri(&uri).map_err(|e| bad(e.to_string()))?;
    let mut params = String::new();
    let mut expires = None;
    for scan::Param {
        text: param,
        name,
        value: val,
    } in scan::params(rest)
    {
        if name.eq_ignore_ascii_case("expires") {
            if expires.is_some() {
                return Err(bad("expires given twice".into()));
            }
            expires = Some(
                val.and_then(parse_delta)
                    .ok_or_else(|| bad(format!("bad expires parameter {param:?}")))?,
            );
        } else {
            params.push(';');
            params.push_str(param);
        }
    }
    Ok(ContactSpec::Uri {
        uri,
        params,
        expires,
    })
}
