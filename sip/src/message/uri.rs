//! SIP and SIPS URIs (RFC 3261 §19.1), parsed into [`rsip::Uri`].
//!
//! rsip 0.4's own URI tokenizer splits the user part at the first `.`, so
//! `sip:j.user@example.com` comes out with no user and a host of
//! `j.user@example.com`, and it stops at a `;` inside the user part
//! (RFC 4475 `semiuri`). The Request-URI decides where a call goes, so it is
//! parsed here instead, into the same rsip types.

use std::net::{IpAddr, Ipv6Addr};

use rsip::common::uri::param::{OtherParam, OtherParamValue};
use rsip::{Auth, Domain, Host, HostWithPort, Param, Port, Scheme, Uri};

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UriError {
    /// A well-formed scheme other than `sip`/`sips` (RFC 3261 §8.2.2.1: 416).
    Scheme(String),
    /// Not a URI we can read.
    Bad(String),
}

/// RFC 3261 §25.1 characters that may appear in a SIP URI (after escaping,
/// `[`/`]` for IPv6 references).
fn is_uri_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !b"<>\"{}|\\^`".contains(&b)
}

/// RFC 3986 `scheme`.
pub(super) fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

fn check_escapes(s: &str) -> Result<(), UriError> {
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(UriError::Bad("bad %-escape".into()));
            }
        }
    }
    Ok(())
}

/// Parse a `sip:`/`sips:` URI without URI headers (`?…`), which are not
/// allowed in a Request-URI (RFC 3261 §19.1.1, table 1).
pub(super) fn parse(s: &str) -> Result<Uri, UriError> {
    if s.is_empty() {
        return Err(UriError::Bad("empty URI".into()));
    }
    let Some(colon) = s.find(':') else {
        return Err(UriError::Bad("no scheme".into()));
    };
    let scheme = &s[..colon];
    if !is_scheme(scheme) {
        return Err(UriError::Bad(format!("bad scheme {scheme:?}")));
    }
    let scheme = if scheme.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else {
        return Err(UriError::Scheme(scheme.to_owned()));
    };
    let rest = &s[colon + 1..];
    if let Some(b) = rest.bytes().find(|b| !is_uri_char(*b)) {
        return Err(UriError::Bad(format!(
            "character {:?} not allowed in a URI",
            char::from(b)
        )));
    }
    check_escapes(rest)?;

    // `@` is allowed unescaped only as the end of the userinfo.
    let (auth, host_part) = match rest.split_once('@') {
        Some((userinfo, host_part)) => {
            if host_part.contains('@') {
                return Err(UriError::Bad("more than one '@'".into()));
            }
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password.to_owned())),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return Err(UriError::Bad("empty user part".into()));
            }
            (
                Some(Auth {
                    user: user.to_owned(),
                    password,
                }),
                host_part,
            )
        }
        None => (None, rest),
    };
    if host_part.contains('?') {
        return Err(UriError::Bad("URI headers are not allowed here".into()));
    }
    let (host_port, params) = match host_part.split_once(';') {
        Some((host_port, params)) => (host_port, Some(params)),
        None => (host_part, None),
    };
    let host_with_port = parse_host_port(host_port)?;
    let params = match params {
        Some(params) => params
            .split(';')
            .map(parse_param)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(Uri {
        scheme: Some(scheme),
        auth,
        host_with_port,
        params,
        headers: Vec::new(),
    })
}

fn parse_host_port(s: &str) -> Result<HostWithPort, UriError> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(UriError::Bad("unterminated IPv6 reference".into()));
        };
        let addr: Ipv6Addr = addr
            .parse()
            .map_err(|_| UriError::Bad(format!("bad IPv6 address {addr:?}")))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UriError::Bad("junk after ']'".into()))?,
            ),
        };
        // rsip prints an IpAddr host bare, which would be ambiguous before
        // a port: keep the reference, brackets included, as a name.
        (Host::Domain(Domain::new(format!("[{addr}]"))), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !valid {
            return Err(UriError::Bad(format!("bad host {host:?}")));
        }
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Host::IpAddr(ip),
            Err(_) => Host::Domain(Domain::new(host)),
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => {
            let ok = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
            let n = ok.then(|| p.parse::<u16>().ok()).flatten();
            Some(Port::new(
                n.ok_or_else(|| UriError::Bad(format!("bad port {p:?}")))?,
            ))
        }
    };
    Ok(HostWithPort { host, port })
}

fn parse_param(s: &str) -> Result<Param, UriError> {
    let (name, value) = match s.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (s, None),
    };
    if name.is_empty() || value.is_some_and(str::is_empty) {
        return Err(UriError::Bad(format!("bad URI parameter {s:?}")));
    }
    // rsip refuses a transport or method it does not know; such a parameter
    // is still legal and is kept as it came.
    Ok(Param::try_from((name, value))
        .unwrap_or_else(|_| Param::Other(OtherParam::new(name), value.map(OtherParamValue::new))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_with_dots_keeps_its_user_part() {
        let uri = parse("sip:j.user@example.com").unwrap();
        assert_eq!(uri.user(), Some("j.user"));
        assert_eq!(uri.host().to_string(), "example.com");
        assert_eq!(uri.to_string(), "sip:j.user@example.com");
    }

    #[test]
    fn rfc4475_semiuri_user_part_holds_a_semicolon() {
        let uri = parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(uri.user(), Some("user;par=u%40example.net"));
        assert_eq!(uri.host().to_string(), "example.com");
        assert!(uri.params.is_empty());
    }

    #[test]
    fn port_params_and_password() {
        let uri = parse("sips:211:secret@10.0.0.1:5061;transport=tcp;lr;x-unknown=1").unwrap();
        assert_eq!(uri.scheme, Some(Scheme::Sips));
        assert_eq!(uri.user(), Some("211"));
        assert_eq!(
            uri.auth.as_ref().and_then(|a| a.password.as_deref()),
            Some("secret")
        );
        assert_eq!(uri.host(), &Host::IpAddr("10.0.0.1".parse().unwrap()));
        assert_eq!(uri.port().map(|p| u16::from(*p)), Some(5061));
        assert_eq!(uri.params.len(), 3);
        assert_eq!(
            uri.to_string(),
            "sips:211:secret@10.0.0.1:5061;transport=TCP;lr;x-unknown=1"
        );
    }

    #[test]
    fn unknown_transport_parameter_is_kept() {
        let uri = parse("sip:a@b;transport=foo").unwrap();
        assert_eq!(uri.to_string(), "sip:a@b;transport=foo");
    }

    #[test]
    fn ipv6_reference_keeps_its_brackets() {
        let uri = parse("sip:211@[2001:db8::1]:5060").unwrap();
        assert_eq!(uri.to_string(), "sip:211@[2001:db8::1]:5060");
    }

    #[test]
    fn refusals() {
        let table: &[(&str, UriError)] = &[
            ("tel:+16135550123", UriError::Scheme("tel".into())),
            (
                "soap.beep://192.0.2.103:3002",
                UriError::Scheme("soap.beep".into()),
            ),
            (
                "<sip:user@example.com>",
                UriError::Bad("bad scheme \"<sip\"".into()),
            ),
            (
                "sip:user@example.com?Route=%3Csip:example.com%3E",
                UriError::Bad("URI headers are not allowed here".into()),
            ),
            ("sip:a@b@c", UriError::Bad("more than one '@'".into())),
            ("sip:@host", UriError::Bad("empty user part".into())),
            ("sip:host:99999", UriError::Bad("bad port \"99999\"".into())),
            (
                "sip:ho st",
                UriError::Bad("character ' ' not allowed in a URI".into()),
            ),
            ("sip:a%zz@host", UriError::Bad("bad %-escape".into())),
            (
                "sip:host;;lr",
                UriError::Bad("bad URI parameter \"\"".into()),
            ),
            ("sip:", UriError::Bad("bad host \"\"".into())),
            ("nothing", UriError::Bad("no scheme".into())),
        ];
        for (input, expected) in table {
            assert_eq!(parse(input).as_ref().err(), Some(expected), "{input}");
        }
    }
}
