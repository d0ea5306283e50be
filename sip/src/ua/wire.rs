//! The headers and messages the user agent writes and reads inside a
//! dialog: Contact, Allow, the 2xx with SDP, in-dialog requests, tags.

use rsip::headers::UntypedHeader;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response};

use super::{ALLOW, ALLOW_WITH_REGISTER, Call, UaConfig};
use crate::Transport;
use crate::message::{self, scan};

pub(super) fn has_sdp_content_type(request: &Request) -> bool {
    request.headers.iter().any(|h| match h {
        Header::ContentType(ct) => ct
            .value()
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/sdp"),
        _ => false,
    })
}

/// The elements of a comma-separated header value (`<a>, <b>`), such as a
/// Record-Route: split at top-level commas (not inside `<…>` or a
/// quoted-string), trimmed, empty ones skipped.
pub(super) fn split_header_list(value: &str) -> Vec<String> {
    scan::list(value).map(str::to_owned).collect()
}

/// The Record-Route entries of a message, top first, each header's list
/// split (RFC 3261 §12.1.1 for the UAS, §12.1.2 reversed for the UAC).
pub(super) fn record_routes(headers: &rsip::Headers) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| match h {
            rsip::Header::RecordRoute(rr) => Some(rr.value().to_owned()),
            _ => None,
        })
        .flat_map(|v| split_header_list(&v))
        .collect()
}

pub(super) fn contact_value(config: &UaConfig, transport: Transport) -> String {
    let user = config
        .numbers
        .first()
        .map(String::as_str)
        .unwrap_or("frontdoor");
    contact_uri(config, user, transport)
}

/// `<sip:user@our address>` for `transport`: the TLS port when over TLS.
pub(super) fn contact_uri(config: &UaConfig, user: &str, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{user}@{}>", config.local_addr),
        Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", config.local_addr),
        Transport::Tls => {
            let mut addr = config.local_addr;
            addr.set_port(config.tls_port.unwrap_or(5061));
            format!("<sip:{user}@{addr};transport=tls>")
        }
    }
}

/// A 200 OK to an INVITE or re-INVITE, with Contact, Record-Route copied
/// (RFC 3261 §12.1.1) and an SDP body.
pub(super) fn ok_with_sdp(
    config: &UaConfig,
    invite: &Request,
    local_tag: &str,
    sdp: Vec<u8>,
) -> Response {
    let mut response = message::response(invite, 200, Some(local_tag));
    for h in invite.headers.iter() {
        if let Header::RecordRoute(rr) = h {
            response.headers.push(Header::RecordRoute(rr.clone()));
        }
    }
    let transport = invite
        .via_header()
        .ok()
        .and_then(|v| v.typed().ok())
        .map(|v| match v.transport {
            rsip::Transport::Tcp => Transport::Tcp,
            rsip::Transport::Tls => Transport::Tls,
            _ => Transport::Udp,
        })
        .unwrap_or(Transport::Udp);
    response
        .headers
        .push(Header::Contact(rsip::headers::Contact::new(contact_value(
            config, transport,
        ))));
    response.headers.push(allow_header(config));
    response
        .headers
        .push(Header::Supported(rsip::headers::Supported::new(
            super::SUPPORTED,
        )));
    response
        .headers
        .push(Header::ContentType(rsip::headers::ContentType::new(
            "application/sdp",
        )));
    response.body = sdp;
    response
}

/// `Allow` with the methods we serve (RFC 3261 §20.5): in 405s, OPTIONS
/// answers and 2xx to INVITE.
pub(super) fn allow_header(config: &UaConfig) -> Header {
    let methods = if config.registrar {
        ALLOW_WITH_REGISTER
    } else {
        ALLOW
    };
    Header::Allow(rsip::headers::Allow::new(methods))
}

/// Build a request inside the call's dialog (RFC 3261 §12.2.1.1).
pub(super) fn build_in_dialog(config: &UaConfig, c: &Call, method: Method) -> Request {
    let mut headers = rsip::Headers::default();
    headers.push(Header::Via(rsip::headers::Via::new(format!(
        "SIP/2.0/{} {};branch={};rport",
        c.peer.transport.via_token(),
        config.local_addr,
        message::new_branch()
    ))));
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    headers.push(Header::From(rsip::headers::From::new(format!(
        "{};tag={}",
        strip_tag(&c.local_party),
        c.local_tag
    ))));
    headers.push(Header::To(rsip::headers::To::new(c.remote_party.clone())));
    headers.push(Header::CallId(rsip::headers::CallId::new(
        c.call_id.clone(),
    )));
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
        "{} {}",
        c.local_cseq, method
    ))));
    for route in &c.route_set {
        headers.push(Header::Route(rsip::headers::Route::new(route.clone())));
    }
    headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
        config.product.clone(),
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    let uri = message::parse_uri(&c.remote_target)
        .or_else(|_| message::parse_uri(&format!("sip:{}", c.peer.addr)))
        .unwrap_or_default();
    Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

pub(super) fn has_tag(party: &str) -> bool {
    tag_of(party).is_some()
}

/// The `tag` parameter of a From/To value (after the `>` of a name-addr).
pub(super) fn tag_of(party: &str) -> Option<String> {
    let params = scan::name_addr(party).ok()?.params;
    scan::params(params)
        .find_map(|p| p.name.eq_ignore_ascii_case("tag").then_some(p.value)?)
        .map(str::to_owned)
}

/// The value cut before its `tag` header parameter (a `;` outside `<…>`
/// and quotes). The To of an INVITE carries no tag of ours; if a peer sent
/// one anyway, never duplicate it.
pub(super) fn strip_tag(party: &str) -> &str {
    let mut start = 0;
    for (i, piece) in scan::split(party, b';').enumerate() {
        let is_tag = scan::params(piece)
            .next()
            .is_some_and(|p| p.name.eq_ignore_ascii_case("tag"));
        if i > 0 && is_tag {
            // `start` is past the `;` that opens this piece.
            return &party[..start - 1];
        }
        start += piece.len() + 1;
    }
    party
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_header_parameters_only() {
        let table = [
            ("<sip:211@a>;tag=1", "<sip:211@a>", Some("1")),
            ("<sip:211@a>;x=1; TAG = 2;y", "<sip:211@a>;x=1", Some("2")),
            ("<sip:211@a;tag=inside>", "<sip:211@a;tag=inside>", None),
            ("\"a;tag=b\" <sip:211@a>", "\"a;tag=b\" <sip:211@a>", None),
            ("sip:211@a;tag=1", "sip:211@a", Some("1")),
            ("<sip:211@a>", "<sip:211@a>", None),
        ];
        for (value, stripped, tag) in table {
            assert_eq!(strip_tag(value), stripped, "{value:?}");
            assert_eq!(tag_of(value).as_deref(), tag, "{value:?}");
        }
    }
}
