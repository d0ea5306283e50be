//! Transaction identity: which transaction a message belongs to
//! (RFC 3261 §17.1.3 for responses, §17.2.3 for requests).
//!
//! The header fields involved are read straight from the untyped header
//! values with small, total parsers: a message the layer cannot key becomes
//! an `Err` with the reason, never a panic.

use std::fmt;
use std::hash::{Hash, Hasher};

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Method};

use super::TxError;
use crate::message::scan;

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";

/// Identifies a transaction (RFC 3261 §17.1.3 / §17.2.3: top Via branch +
/// sent-by + method, CANCEL and ACK distinct from INVITE as the RFC says).
///
/// Client and server transactions never share a key: the side is part of
/// it, so a peer that reuses one of our branches cannot reach our client
/// transaction through a request. Opaque: obtain keys from
/// [`Transactions`](super::Transactions) and its events.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    id: Id,
    method: KeyMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Client,
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Id {
    /// RFC 3261 §17.1.3 / §17.2.3: the branch (with the magic cookie) of the
    /// top Via, plus its sent-by on the server side (empty on the client
    /// side, where §17.1.3 matches on the branch alone).
    Branch { branch: String, sent_by: String },
    /// RFC 3261 §17.2.3, last paragraphs: a request from an RFC 2543 peer
    /// (no magic cookie) is matched on Call-ID, CSeq number, From tag and the
    /// top Via. The To tag is left out so that the ACK for a non-2xx
    /// response, which carries our tag, still matches its INVITE.
    Rfc2543 {
        call_id: String,
        cseq: u32,
        from_tag: String,
        via: String,
    },
}

/// `rsip::Method` without `Hash`: hash its discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyMethod(Method);

impl Hash for KeyMethod {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(&self.0).hash(state);
    }
}

impl TransactionKey {
    /// The key of the server transaction a received request belongs to, with
    /// the request's own method (an ACK keys as ACK here; see
    /// [`with_method`](Self::with_method) to find its INVITE). The error says
    /// what is missing or malformed.
    pub(crate) fn server(request: &rsip::Request) -> Result<Self, String> {
        let via = top_via(&request.headers)?;
        let id = match via.branch {
            Some(branch) if branch.starts_with(MAGIC_COOKIE) => Id::Branch {
                branch: branch.to_owned(),
                sent_by: via.sent_by.to_ascii_lowercase(),
            },
            branch => {
                let (cseq, _) = cseq(&request.headers)?;
                let call_id = call_id(&request.headers)?;
                let from_tag = tag_of(header_value(&request.headers, "From", |h| match h {
                    Header::From(v) => Some(v.value()),
                    _ => None,
                })?)
                .unwrap_or_default();
                let mut via_id = via.sent_by.to_ascii_lowercase();
                if let Some(branch) = branch {
                    via_id.push(';');
                    via_id.push_str(branch);
                }
                Id::Rfc2543 {
                    call_id: call_id.to_owned(),
                    cseq,
                    from_tag: from_tag.to_owned(),
                    via: via_id,
                }
            }
        };
        Ok(TransactionKey {
            role: Role::Server,
            id,
            method: KeyMethod(request.method),
        })
    }

    /// The key of a client transaction for a request we are about to send:
    /// the top Via must carry a branch with the magic cookie (§8.1.1.7).
    pub(crate) fn client(request: &rsip::Request) -> Result<Self, TxError> {
        let via = top_via(&request.headers).map_err(TxError::BadRequest)?;
        match via.branch {
            Some(branch) if branch.starts_with(MAGIC_COOKIE) => Ok(TransactionKey {
                role: Role::Client,
                id: Id::Branch {
                    branch: branch.to_owned(),
                    sent_by: String::new(),
                },
                method: KeyMethod(request.method),
            }),
            Some(branch) => Err(TxError::BadRequest(format!(
                "top Via branch {branch:?} lacks the {MAGIC_COOKIE} magic cookie"
            ))),
            None => Err(TxError::BadRequest("top Via has no branch".into())),
        }
    }

    /// The key of the client transaction a response belongs to (§17.1.3):
    /// the top Via branch and the CSeq method.
    pub(crate) fn for_response(response: &rsip::Response) -> Result<Self, String> {
        let via = top_via(&response.headers)?;
        let branch = via.branch.ok_or("top Via has no branch")?;
        let (_, method) = cseq(&response.headers)?;
        Ok(TransactionKey {
            role: Role::Client,
            id: Id::Branch {
                branch: branch.to_owned(),
                sent_by: String::new(),
            },
            method: KeyMethod(method),
        })
    }

    /// The same transaction identity with another method: the INVITE an ACK
    /// or a CANCEL refers to (§17.2.3, §9.2), or the CANCEL of an INVITE.
    pub(crate) fn with_method(&self, method: Method) -> Self {
        TransactionKey {
            method: KeyMethod(method),
            ..self.clone()
        }
    }

    #[cfg(test)]
    pub(crate) fn role(&self) -> Role {
        self.role
    }
}

impl fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            Role::Client => "client",
            Role::Server => "server",
        };
        write!(f, "{role} {} ", self.method.0)?;
        match &self.id {
            Id::Branch { branch, sent_by } if sent_by.is_empty() => f.write_str(branch),
            Id::Branch { branch, sent_by } => write!(f, "{branch}@{sent_by}"),
            Id::Rfc2543 {
                call_id,
                cseq,
                from_tag,
                via,
            } => {
                write!(f, "rfc2543 {call_id} {cseq} from-tag={from_tag} via={via}")
            }
        }
    }
}

impl fmt::Debug for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionKey({self})")
    }
}

/// The parts of the top Via that identify a transaction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TopVia<'a> {
    /// `host[:port]` as sent.
    pub(crate) sent_by: &'a str,
    pub(crate) branch: Option<&'a str>,
}

/// Reads the top Via: the first value of the first Via header
/// (`SIP/2.0/UDP host:port;branch=…;rport`). Whitespace around the slashes
/// of the sent-protocol is allowed (RFC 3261 §25.1, LWS around SLASH).
pub(crate) fn top_via(headers: &Headers) -> Result<TopVia<'_>, String> {
    let value = header_value(headers, "Via", |h| match h {
        Header::Via(v) => Some(v.value()),
        _ => None,
    })?;
    parse_via(value).ok_or_else(|| format!("malformed top Via {value:?}"))
}

fn parse_via(value: &str) -> Option<TopVia<'_>> {
    // The first via-parm of a comma-separated list.
    let first = scan::split(value, b',').next()?.trim();
    let (head, params) = match first.split_once(';') {
        Some((head, params)) => (head, Some(params)),
        None => (first, None),
    };
    // head = "SIP / 2.0 / UDP host:port": the sent-by follows the transport
    // token, which follows the last slash.
    let after_slash = &head[head.rfind('/')? + 1..];
    let mut parts = after_slash.split_whitespace();
    let _transport = parts.next()?;
    let sent_by = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let branch = params.and_then(|params| {
        scan::params(params)
            .find_map(|p| p.name.eq_ignore_ascii_case("branch").then_some(p.value)?)
    });
    Some(TopVia {
        sent_by,
        branch: branch.filter(|b| !b.is_empty()),
    })
}

/// The CSeq number and method (`314159 INVITE`).
pub(crate) fn cseq(headers: &Headers) -> Result<(u32, Method), String> {
    let value = header_value(headers, "CSeq", |h| match h {
        Header::CSeq(v) => Some(v.value()),
        _ => None,
    })?;
    let bad = || format!("malformed CSeq {value:?}");
    let mut parts = value.split_whitespace();
    let number = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let method = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    Ok((number, method))
}

pub(crate) fn call_id(headers: &Headers) -> Result<&str, String> {
    header_value(headers, "Call-ID", |h| match h {
        Header::CallId(v) => Some(v.value().trim()),
        _ => None,
    })
}

/// The `tag` parameter of a From or To value, if any. Parameters inside the
/// angle brackets belong to the URI and are skipped.
pub(crate) fn tag_of(value: &str) -> Option<&str> {
    // Without brackets, URI parameters would be header parameters
    // (RFC 3261 §20.10), so every `;` starts one: scan::name_addr does so.
    let params = scan::name_addr(value).ok()?.params;
    scan::params(params).find_map(|p| {
        p.name
            .eq_ignore_ascii_case("tag")
            .then_some(p.value.filter(|v| !v.is_empty()))?
    })
}

/// The To tag of a message, if any.
pub(crate) fn to_tag(headers: &Headers) -> Option<&str> {
    headers
        .iter()
        .find_map(|h| match h {
            Header::To(v) => Some(v.value()),
            _ => None,
        })
        .and_then(tag_of)
}

fn header_value<'a>(
    headers: &'a Headers,
    name: &str,
    pick: impl Fn(&'a Header) -> Option<&'a str>,
) -> Result<&'a str, String> {
    headers
        .iter()
        .find_map(pick)
        .ok_or_else(|| format!("missing {name} header"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::testkit::{parse_request, parse_response};

    fn request(method: &str, via: &str, from_tag: &str) -> rsip::Request {
        parse_request(&format!(
            "{method} sip:211@frontdoor.example SIP/2.0\r\n\
             Via: {via}\r\n\
             From: <sip:+16135550123@carrier.example>;tag={from_tag}\r\n\
             To: <sip:211@frontdoor.example>\r\n\
             Call-ID: k1@carrier.example\r\n\
             CSeq: 7 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        ))
    }

    const VIA: &str = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKk1;rport";

    #[test]
    fn parse_via_table() {
        // (value, sent-by, branch)
        let table = [
            (VIA, Some(("192.0.2.10:5060", Some("z9hG4bKk1")))),
            (
                "SIP / 2.0 / UDP  Host.Example ; branch = z9hG4bKx ",
                Some(("Host.Example", Some("z9hG4bKx"))),
            ),
            (
                "SIP/2.0/TCP [2001:db8::1]:5060;received=1.2.3.4;BRANCH=z9hG4bKv6",
                Some(("[2001:db8::1]:5060", Some("z9hG4bKv6"))),
            ),
            (
                "SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2",
                Some(("a.example", Some("z9hG4bK1"))),
            ),
            ("SIP/2.0/UDP old.example", Some(("old.example", None))),
            (
                "SIP/2.0/UDP old.example;branch=",
                Some(("old.example", None)),
            ),
            ("garbage", None),
            ("SIP/2.0/UDP", None),
            ("SIP/2.0/UDP a b;branch=z9hG4bK1", None),
            ("", None),
        ];
        for (value, expected) in table {
            let got = parse_via(value).map(|v| (v.sent_by, v.branch));
            assert_eq!(got, expected, "{value:?}");
        }
    }

    #[test]
    fn tag_of_table() {
        let table = [
            ("<sip:a@b>;tag=abc", Some("abc")),
            ("\"Bob\" <sip:a@b;tag=inside>;x=1;TAG=out", Some("out")),
            ("<sip:a@b;tag=inside>", None),
            ("sip:a@b;tag=bare", Some("bare")),
            ("sip:a@b", None),
            ("<sip:a@b>;tag=", None),
        ];
        for (value, expected) in table {
            assert_eq!(tag_of(value), expected, "{value:?}");
        }
    }

    /// RFC 3261 §17.2.3: the ACK for a non-2xx matches the INVITE's
    /// transaction; the CANCEL is a transaction of its own.
    #[test]
    fn ack_keys_to_the_invite_and_cancel_does_not() {
        let invite = TransactionKey::server(&request("INVITE", VIA, "f1")).unwrap();
        let ack = TransactionKey::server(&request("ACK", VIA, "f1")).unwrap();
        let cancel = TransactionKey::server(&request("CANCEL", VIA, "f1")).unwrap();
        assert_ne!(ack, invite);
        assert_eq!(ack.with_method(Method::Invite), invite);
        assert_ne!(cancel, invite);
        assert_eq!(cancel.with_method(Method::Invite), invite);
    }

    #[test]
    fn sent_by_is_part_of_a_server_key() {
        let a = TransactionKey::server(&request("OPTIONS", VIA, "f1")).unwrap();
        let other_host = VIA.replace("192.0.2.10", "192.0.2.11");
        let b = TransactionKey::server(&request("OPTIONS", &other_host, "f1")).unwrap();
        assert_ne!(a, b);
        // Host names compare case-insensitively.
        let upper = "SIP/2.0/UDP HOST.example;branch=z9hG4bKk1";
        let lower = "SIP/2.0/UDP host.EXAMPLE;branch=z9hG4bKk1";
        assert_eq!(
            TransactionKey::server(&request("OPTIONS", upper, "f1")).unwrap(),
            TransactionKey::server(&request("OPTIONS", lower, "f1")).unwrap()
        );
    }

    #[test]
    fn client_and_server_keys_never_collide() {
        let req = request("OPTIONS", VIA, "f1");
        let server = TransactionKey::server(&req).unwrap();
        let client = TransactionKey::client(&req).unwrap();
        assert_ne!(server, client);
        assert_eq!(client.role(), Role::Client);
        assert_eq!(server.role(), Role::Server);
    }

    /// RFC 3261 §17.2.3: without the magic cookie, fall back to Call-ID,
    /// CSeq, From tag and top Via.
    #[test]
    fn rfc2543_requests_match_on_dialog_fields() {
        let via = "SIP/2.0/UDP old.example:5060";
        let invite = TransactionKey::server(&request("INVITE", via, "f1")).unwrap();
        let again = TransactionKey::server(&request("INVITE", via, "f1")).unwrap();
        let ack = TransactionKey::server(&request("ACK", via, "f1")).unwrap();
        let other_from = TransactionKey::server(&request("INVITE", via, "f2")).unwrap();
        assert_eq!(invite, again);
        assert_eq!(ack.with_method(Method::Invite), invite);
        assert_ne!(other_from, invite);
        // An old-style branch (no cookie) also counts as part of the Via.
        let b1 = TransactionKey::server(&request("INVITE", "SIP/2.0/UDP h;branch=1", "f")).unwrap();
        let b2 = TransactionKey::server(&request("INVITE", "SIP/2.0/UDP h;branch=2", "f")).unwrap();
        assert_ne!(b1, b2);
    }

    #[test]
    fn client_keys_need_a_cookie_branch() {
        let old = request("OPTIONS", "SIP/2.0/UDP h;branch=1234", "f");
        assert!(matches!(
            TransactionKey::client(&old),
            Err(TxError::BadRequest(_))
        ));
        let none = request("OPTIONS", "SIP/2.0/UDP h", "f");
        assert!(matches!(
            TransactionKey::client(&none),
            Err(TxError::BadRequest(_))
        ));
    }

    /// RFC 3261 §17.1.3: a response matches on the top Via branch and the
    /// CSeq method, so the 200 for a CANCEL does not match the INVITE.
    #[test]
    fn responses_match_on_branch_and_cseq_method() {
        let invite = request("INVITE", VIA, "f1");
        let client = TransactionKey::client(&invite).unwrap();
        let resp = |method: &str| {
            parse_response(&format!(
                "SIP/2.0 200 OK\r\nVia: {VIA};received=203.0.113.1\r\n\
                 From: <sip:a@b>;tag=f1\r\nTo: <sip:c@d>;tag=t\r\n\
                 Call-ID: k1@carrier.example\r\nCSeq: 7 {method}\r\n\
                 Content-Length: 0\r\n\r\n"
            ))
        };
        assert_eq!(
            TransactionKey::for_response(&resp("INVITE")).unwrap(),
            client
        );
        assert_eq!(
            TransactionKey::for_response(&resp("CANCEL")).unwrap(),
            client.with_method(Method::Cancel)
        );
    }

    #[test]
    fn missing_headers_are_errors_not_panics() {
        let no_via =
            parse_request("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n");
        assert!(matches!(TransactionKey::server(&no_via), Err(m) if m.contains("Via")));
        let bad_cseq = parse_request(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nCall-ID: x\r\nCSeq: one OPTIONS\r\n\r\n",
        );
        assert!(matches!(TransactionKey::server(&bad_cseq), Err(m) if m.contains("CSeq")));
    }

    #[test]
    fn display_names_side_method_and_branch() {
        let key = TransactionKey::server(&request("INVITE", VIA, "f1")).unwrap();
        assert_eq!(key.to_string(), "server INVITE z9hG4bKk1@192.0.2.10:5060");
        let key = TransactionKey::client(&request("BYE", VIA, "f1")).unwrap();
        assert_eq!(key.to_string(), "client BYE z9hG4bKk1");
    }
}
