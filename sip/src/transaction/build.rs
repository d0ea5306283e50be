//! The few messages the transaction layer writes itself: 100 Trying
//! (§17.2.1), the 200 or 481 answering a CANCEL (§9.2), the ACK for a
//! non-2xx final response (§17.1.1.3) and a CANCEL (§9.1).

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Method, Request, Response, StatusCode};

use super::key;
use crate::message::scan;

/// A response to `request` built per RFC 3261 §8.2.6: Via headers, From,
/// Call-ID and CSeq copied, To copied with `to_tag` added when it has none
/// (§8.2.6.2; pass `None` for a 100 Trying, which needs no tag).
pub(crate) fn response(request: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::default();
    for header in request.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(header.clone())
            }
            Header::Timestamp(_) if code == 100 => headers.push(header.clone()),
            Header::To(to) => {
                let value = match to_tag {
                    Some(tag) if key::tag_of(to.value()).is_none() => {
                        format!("{};tag={tag}", to.value())
                    }
                    _ => to.value().to_owned(),
                };
                headers.push(Header::To(rsip::headers::To::new(value)));
            }
            _ => {}
        }
    }
    headers.push(Header::ContentLength(0.into()));
    Response {
        status_code: StatusCode::from(code),
        version: Default::default(),
        headers,
        body: Vec::new(),
    }
}

/// The ACK for a non-2xx final response to `invite` (RFC 3261 §17.1.1.3):
/// Request-URI, Call-ID, From, CSeq number and Route of the INVITE, the To
/// of the response, and only the INVITE's top Via (so it shares the branch).
pub(crate) fn ack_for_non_2xx(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::default();
    push_top_via(&mut headers, invite);
    for header in invite.headers.iter() {
        match header {
            Header::From(_) | Header::CallId(_) | Header::Route(_) | Header::MaxForwards(_) => {
                headers.push(header.clone())
            }
            _ => {}
        }
    }
    if let Some(to) = response.headers.iter().find(|h| matches!(h, Header::To(_))) {
        headers.push(to.clone());
    }
    push_cseq(&mut headers, invite, Method::Ack);
    headers.push(Header::ContentLength(0.into()));
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: Default::default(),
        headers,
        body: Vec::new(),
    }
}

/// The CANCEL for `invite` (RFC 3261 §9.1): Request-URI, Call-ID, To, From,
/// CSeq number, Route and the single top Via of the INVITE.
pub(crate) fn cancel_for(invite: &Request) -> Request {
    let mut headers = Headers::default();
    push_top_via(&mut headers, invite);
    for header in invite.headers.iter() {
        match header {
            Header::From(_)
            | Header::To(_)
            | Header::CallId(_)
            | Header::Route(_)
            | Header::MaxForwards(_) => headers.push(header.clone()),
            _ => {}
        }
    }
    push_cseq(&mut headers, invite, Method::Cancel);
    headers.push(Header::ContentLength(0.into()));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: Default::default(),
        headers,
        body: Vec::new(),
    }
}

/// A fresh To tag (RFC 3261 §19.3): see [`crate::message::new_tag`].
pub(crate) fn new_tag() -> String {
    crate::message::new_tag()
}

/// The first value of the first Via header of `request`.
fn push_top_via(headers: &mut Headers, request: &Request) {
    if let Some(Header::Via(via)) = request.headers.iter().find(|h| matches!(h, Header::Via(_))) {
        let top = scan::split(via.value(), b',')
            .next()
            .unwrap_or_default()
            .trim();
        headers.push(Header::Via(rsip::headers::Via::new(top)));
    }
}

fn push_cseq(headers: &mut Headers, request: &Request, method: Method) {
    // The INVITE was keyed (its CSeq parsed) before a transaction existed
    // for it, so the fallback is never used; it keeps this function total.
    let number = key::cseq(&request.headers).map(|(n, _)| n).unwrap_or(1);
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
        "{number} {method}"
    ))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::testkit::{header, headers_named, invite_with_route};

    #[test]
    fn trying_copies_the_transaction_headers_and_adds_no_tag() {
        let invite = invite_with_route();
        let trying = response(&invite, 100, None);
        assert_eq!(trying.status_code.code(), 100);
        assert_eq!(headers_named(&trying.headers, "Via").len(), 2);
        assert_eq!(header(&trying.headers, "To"), "<sip:211@frontdoor.example>");
        assert_eq!(header(&trying.headers, "CSeq"), "1 INVITE");
        assert_eq!(header(&trying.headers, "Call-ID"), "r1@carrier.example");
        assert!(headers_named(&trying.headers, "Route").is_empty());
        assert_eq!(header(&trying.headers, "Content-Length"), "0");
    }

    #[test]
    fn a_final_response_gets_a_to_tag_once() {
        let invite = invite_with_route();
        let busy = response(&invite, 486, Some("t1"));
        assert_eq!(
            header(&busy.headers, "To"),
            "<sip:211@frontdoor.example>;tag=t1"
        );
        let mut tagged = invite.clone();
        for h in tagged.headers.iter_mut() {
            if let Header::To(to) = h {
                *to = rsip::headers::To::new("<sip:211@frontdoor.example>;tag=old");
            }
        }
        let again = response(&tagged, 486, Some("t2"));
        assert_eq!(
            header(&again.headers, "To"),
            "<sip:211@frontdoor.example>;tag=old"
        );
    }

    /// RFC 3261 §17.1.1.3: the ACK for a non-2xx takes the To of the
    /// response and one Via, the INVITE's top one.
    #[test]
    fn ack_for_non_2xx_has_the_rfc_headers() {
        let invite = invite_with_route();
        let busy = response(&invite, 486, Some("busy-tag"));
        let ack = ack_for_non_2xx(&invite, &busy);
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, invite.uri);
        assert_eq!(
            headers_named(&ack.headers, "Via"),
            ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKroute"]
        );
        assert_eq!(
            header(&ack.headers, "To"),
            "<sip:211@frontdoor.example>;tag=busy-tag"
        );
        assert_eq!(
            header(&ack.headers, "From"),
            "<sip:caller@carrier.example>;tag=f1"
        );
        assert_eq!(header(&ack.headers, "Call-ID"), "r1@carrier.example");
        assert_eq!(header(&ack.headers, "CSeq"), "1 ACK");
        assert_eq!(
            headers_named(&ack.headers, "Route"),
            ["<sip:edge.example;lr>"]
        );
    }

    /// RFC 3261 §9.1: the CANCEL copies Request-URI, Call-ID, To, From,
    /// CSeq number, Route and the top Via.
    #[test]
    fn cancel_has_the_rfc_headers() {
        let invite = invite_with_route();
        let cancel = cancel_for(&invite);
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.uri, invite.uri);
        assert_eq!(
            headers_named(&cancel.headers, "Via"),
            ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKroute"]
        );
        assert_eq!(header(&cancel.headers, "To"), "<sip:211@frontdoor.example>");
        assert_eq!(
            header(&cancel.headers, "From"),
            "<sip:caller@carrier.example>;tag=f1"
        );
        assert_eq!(header(&cancel.headers, "CSeq"), "1 CANCEL");
        assert_eq!(
            headers_named(&cancel.headers, "Route"),
            ["<sip:edge.example;lr>"]
        );
        assert!(headers_named(&cancel.headers, "Content-Type").is_empty());
    }

    #[test]
    fn tags_are_fresh() {
        assert_ne!(new_tag(), new_tag());
        assert_eq!(new_tag().len(), 16);
    }
}
