//! Who the network says is calling: P-Asserted-Identity (RFC 3325 §9.1)
//! and the caller's request to withhold it, `Privacy: id` (RFC 3325 §9.3,
//! RFC 3323 §4.2).
//!
//! A carrier often leaves From to the caller's phone (a withheld or
//! display-only value) and puts the number it vouches for in
//! P-Asserted-Identity. Anyone can write that header, though: RFC 3325 §2.3
//! trusts it only from a peer inside our trust domain. This module only
//! reads it; the call controller decides, by [`super::IncomingCall::peer`],
//! whether to believe it.
//!
//! Reading never fails: a header we cannot read asserts nothing (`None`),
//! and never costs the caller their call.

use rsip::{Header, Headers};

use crate::message::{self, scan};

/// The caller's number as the P-Asserted-Identity headers give it: the
/// user part of the first `sip:`/`sips:` URI that has one, or else the
/// number of the first `tel:` URI. A header may list several identities
/// (RFC 3325 §9.1: at most one `sip:`/`sips:` and one `tel:`), and several
/// headers may be present; they are read in order. Telephone-subscriber
/// parameters (`;npdi`, `;phone-context=…`) are not part of the number, nor
/// are `tel:` visual separators (`-`, `.`, `(`, `)`). `anonymous` asserts
/// nothing.
pub(super) fn asserted_identity(headers: &Headers) -> Option<String> {
    let mut tel = None;
    let values = headers.iter().filter_map(|h| match h {
        Header::Other(name, value) if name.trim().eq_ignore_ascii_case("P-Asserted-Identity") => {
            Some(value.as_str())
        }
        _ => None,
    });
    for identity in values.flat_map(scan::list) {
        let Ok(parts) = scan::name_addr(identity) else {
            continue;
        };
        let uri = scan::trim_lws(parts.uri);
        let Some((scheme, rest)) = uri.split_once(':') else {
            continue;
        };
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            if let Some(user) = sip_user(uri) {
                return Some(user);
            }
        } else if scheme.eq_ignore_ascii_case("tel") && tel.is_none() {
            tel = tel_number(rest);
        }
    }
    tel
}

/// The user part of a `sip:`/`sips:` URI, without telephone-subscriber
/// parameters; `None` for a URI we cannot parse, no user, or `anonymous`.
fn sip_user(uri: &str) -> Option<String> {
    let parsed = message::parse_uri(uri).ok()?;
    let user = parsed.user()?;
    let number = user.split(';').next().unwrap_or_default();
    let usable = !number.is_empty() && !number.eq_ignore_ascii_case("anonymous");
    usable.then(|| number.to_owned())
}

/// RFC 3966 `telephone-subscriber`: a global number (`+` then digits) or a
/// local one (hex digits, `*`, `#`), with visual separators dropped.
fn tel_number(text: &str) -> Option<String> {
    let number = text.split(';').next().unwrap_or_default();
    let (plus, digits) = match number.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", number),
    };
    let digits: String = digits
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    let ok = !digits.is_empty()
        && if plus.is_empty() {
            digits
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '*' || c == '#')
        } else {
            digits.chars().all(|c| c.is_ascii_digit())
        };
    ok.then(|| format!("{plus}{digits}"))
}

/// Whether a `Privacy` header lists `id` (RFC 3325 §9.3): the caller asks
/// that their asserted identity go no further than the trust domain.
/// Values are tokens separated by `;` (RFC 3323 §4.2), case-insensitive; a
/// `,` between them is read as a `;` too, so a sloppy list still withholds
/// the number rather than showing it.
pub(super) fn privacy_id(headers: &Headers) -> bool {
    headers
        .iter()
        .filter_map(|h| match h {
            Header::Other(name, value) if name.trim().eq_ignore_ascii_case("Privacy") => {
                Some(value.as_str())
            }
            _ => None,
        })
        .flat_map(|value| value.split([';', ',']))
        .any(|token| scan::trim_lws(token).eq_ignore_ascii_case("id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut headers = Headers::default();
        for (name, value) in fields {
            headers.push(Header::Other((*name).into(), (*value).into()));
        }
        headers
    }

    fn asserted(values: &[&str]) -> Option<String> {
        let fields: Vec<(&str, &str)> =
            values.iter().map(|v| ("P-Asserted-Identity", *v)).collect();
        asserted_identity(&headers(&fields))
    }

    #[test]
    fn rfc3325_9_1_the_asserted_number() {
        let table: &[(&[&str], Option<&str>)] = &[
            // A display name (with a comma) and URI and header parameters.
            (
                &[r#""Doe, Jane" <sip:+16135550123@trunk.example;user=phone>;x=1"#],
                Some("+16135550123"),
            ),
            (&["<sip:+16135550123@trunk.example>"], Some("+16135550123")),
            (&["sips:4165550199@trunk.example"], Some("4165550199")),
            // Several identities: the sip URI wins, in either order.
            (
                &["<tel:+16135550100>, <sip:+16135550123@trunk.example>"],
                Some("+16135550123"),
            ),
            (
                &["<sip:+16135550123@trunk.example>, <tel:+16135550100>"],
                Some("+16135550123"),
            ),
            // Several header fields.
            (
                &["<tel:+16135550100>", "<sip:+16135550123@trunk.example>"],
                Some("+16135550123"),
            ),
            // tel: alone, with visual separators and parameters.
            (&["<tel:+1-613-555-0123>"], Some("+16135550123")),
            (
                &["tel:+1.613.555.0123;phone-context=example"],
                Some("+16135550123"),
            ),
            (&["<tel:7042;phone-context=example.com>"], Some("7042")),
            // Telephone-subscriber parameters in the user part.
            (
                &["<sip:+16135550123;npdi@trunk.example;user=phone>"],
                Some("+16135550123"),
            ),
            // A sip URI without a user, or anonymous, falls back to tel.
            (
                &["<sip:trunk.example>, <tel:+16135550123>"],
                Some("+16135550123"),
            ),
            (
                &["<sip:anonymous@anonymous.invalid>, <tel:+16135550123>"],
                Some("+16135550123"),
            ),
            (&["<sip:Anonymous@anonymous.invalid>"], None),
            // Nothing asserted.
            (&[], None),
            (&[""], None),
        ];
        for (values, want) in table {
            assert_eq!(asserted(values).as_deref(), *want, "{values:?}");
        }
    }

    #[test]
    fn a_malformed_identity_asserts_nothing_and_never_panics() {
        let garbage: &[&str] = &[
            r#""unterminated <sip:+16135550123@trunk.example>"#,
            "<sip:+16135550123@trunk.example",
            "<sip:+16135550123@trunk.example> junk",
            "<>",
            "<:>",
            "sip:",
            "tel:",
            "tel:+",
            "tel:+1613x",
            "<http://example.com/+16135550123>",
            "mailto:a@b",
            "\u{0}\u{7f}<>\"\\",
            ",,,;;;<<<>>>",
            "<sip:@trunk.example>",
            "Fréd <sip:\u{e9}@b>",
        ];
        for value in garbage {
            assert_eq!(asserted(&[value]), None, "{value:?}");
        }
        // An unclosed `<` swallows the rest of its header's list (the
        // scanner cannot tell where it ends), but not the next header.
        assert_eq!(asserted(&["<sip:open, <tel:+16135550123>"]), None);
        assert_eq!(
            asserted(&["garbage<", "<tel:+16135550123>"]).as_deref(),
            Some("+16135550123")
        );
    }

    #[test]
    fn the_header_name_is_case_insensitive_and_other_headers_do_not_count() {
        let h = headers(&[("p-asserted-identity", "<tel:+16135550123>")]);
        assert_eq!(asserted_identity(&h).as_deref(), Some("+16135550123"));
        let h = headers(&[("P-Preferred-Identity", "<tel:+16135550123>")]);
        assert_eq!(asserted_identity(&h), None);
    }

    #[test]
    fn rfc3325_9_3_privacy_id() {
        let table: &[(&[&str], bool)] = &[
            (&["id"], true),
            (&["ID"], true),
            (&["header; id"], true),
            (&["header;id;critical"], true),
            (&[" id ; critical "], true),
            (&["header, id"], true),
            (&["none"], false),
            (&["header"], false),
            (&["user;session"], false),
            (&["idx"], false),
            (&[""], false),
            (&[], false),
            (&["none", "id"], true),
        ];
        for (values, want) in table {
            let fields: Vec<(&str, &str)> = values.iter().map(|v| ("Privacy", *v)).collect();
            assert_eq!(privacy_id(&headers(&fields)), *want, "{values:?}");
        }
        assert!(privacy_id(&headers(&[("privacy", "id")])));
        assert!(!privacy_id(&headers(&[("X-Privacy", "id")])));
    }
}
