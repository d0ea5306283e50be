//! The SIP extensions a carrier's INVITE may carry: which ones we know
//! (`Require`, RFC 3261 §8.2.2.3), session timers (RFC 4028) and reliable
//! provisional responses (RFC 3262, `100rel`), and where a call was
//! diverted from (`Diversion`, RFC 5806; `History-Info`, RFC 7044).
//!
//! **Session timers.** A carrier (or a proxy on its way) asks for a
//! `Session-Expires` so that a call whose other end vanished does not stay
//! up, billed, for hours. For a call we answer:
//! - below our `Min-SE` ([`SessionTimerConfig::min`]): 422 with `Min-SE`;
//! - the caller supports timers (`Supported: timer`): it refreshes
//!   (`refresher=uac`, unless its request names the refresher), and a call
//!   whose refreshes stop is ended with BYE `min(32 s, interval / 3)` before
//!   it would expire (§10);
//! - we are to refresh (`refresher=uas`, or the caller does not support
//!   timers and a proxy inserted the header): we send an UPDATE without a
//!   body at half the interval (§10), when the caller allows UPDATE; when it
//!   does not, we answer as a UA without the extension would (no
//!   `Session-Expires` in our 2xx: no timer, RFC 4028 §9's fallback).
//!   A refresh answered 481 or not at all ends the call; any other
//!   failure stops the timer but keeps the caller connected.
//!
//! **100rel.** We never send a provisional response reliably: with
//! `Require: 100rel` no 180 is sent at all (only 100 Trying, which is
//! never reliable), which RFC 3262 allows. A PRACK then matches nothing
//! (481). On calls we place, a reliable 1xx from the far end is PRACKed
//! (see [`super::uac`]).
//!
//! Like the rest of the user agent: pure functions of the headers, no I/O.

use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers};

use crate::message::scan;

/// The extensions we support, for `Supported` and the `Require` check.
pub const SUPPORTED: &str = "timer, 100rel";

/// Session timer settings (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Our `Min-SE`: a shorter `Session-Expires` gets 422. RFC 4028 §4
    /// says at least 90 s. Default 90 s.
    pub min: Duration,
    /// The longest interval we keep: a longer one asked for is lowered to
    /// this (never below the request's own `Min-SE`). Default 1800 s.
    pub max: Duration,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            min: Duration::from_secs(90),
            max: Duration::from_secs(1800),
        }
    }
}

/// Who refreshes the session (RFC 4028 §7.1 `refresher` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refresher {
    /// The caller (the UAC of the INVITE).
    Uac,
    /// We do.
    Uas,
}

impl Refresher {
    fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A call's session timer, once negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SessionTimer {
    pub interval: Duration,
    pub refresher: Refresher,
    /// The caller listed `timer` in Supported: our 2xx says `Require: timer`.
    pub peer_supports: bool,
    /// When the next action is due: our refresh (UAS refresher) or the
    /// BYE for a session not refreshed (UAC refresher). Set when the
    /// session (re)starts.
    pub due: Option<Instant>,
}

impl SessionTimer {
    /// The headers our 2xx (to the INVITE, a re-INVITE or an UPDATE)
    /// carries.
    pub fn response_headers(&self) -> Vec<Header> {
        let mut headers = vec![Header::Other(
            "Session-Expires".into(),
            format!(
                "{};refresher={}",
                self.interval.as_secs(),
                self.refresher.as_str()
            ),
        )];
        if self.peer_supports {
            headers.push(Header::Require(rsip::headers::Require::new("timer")));
        }
        headers
    }

    /// The session was refreshed (or began) at `now`: when to act next.
    pub fn restart(&mut self, now: Instant) -> Instant {
        let due = match self.refresher {
            Refresher::Uas => now + self.interval / 2,
            Refresher::Uac => {
                now + self.interval - (self.interval / 3).min(Duration::from_secs(32))
            }
        };
        self.due = Some(due);
        due
    }
}

/// What a request asks of the session timer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Negotiation {
    /// No session timer for this call.
    None,
    Timer(SessionTimer),
    /// 422 with this `Min-SE`, in seconds.
    TooSmall(u64),
}

/// The values of the header fields called `name` (the typed `Require` and
/// `Supported` of rsip, or any other by name), each split at its commas.
pub(super) fn header_values<'h>(
    headers: &'h Headers,
    name: &'static str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .iter()
        .filter_map(move |h| match h {
            Header::Require(v) if name.eq_ignore_ascii_case("Require") => Some(v.value()),
            Header::Supported(v) if name.eq_ignore_ascii_case("Supported") => Some(v.value()),
            Header::Allow(v) if name.eq_ignore_ascii_case("Allow") => Some(v.value()),
            Header::Other(n, v) if n.trim().eq_ignore_ascii_case(name) => Some(v.as_str()),
            _ => None,
        })
        .flat_map(scan::list)
}

/// Whether the option tag (or method) `token` is in the `name` headers.
pub(super) fn lists(headers: &Headers, name: &'static str, token: &str) -> bool {
    header_values(headers, name).any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The option tags of `Require` that we do not support, for 420's
/// `Unsupported` (RFC 3261 §8.2.2.3). Empty: go on.
pub(super) fn unsupported(headers: &Headers) -> Vec<String> {
    header_values(headers, "Require")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .filter(|t| !SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(t)))
        .map(str::to_owned)
        .collect()
}

/// The `delta-seconds` and parameters of a `Session-Expires` or `Min-SE`.
fn delta_seconds(headers: &Headers, name: &'static str) -> Option<(u64, Option<Refresher>)> {
    let value = header_values(headers, name).next()?;
    let mut pieces = scan::split(value, b';');
    let seconds = pieces.next()?.trim().parse::<u64>().ok()?;
    let refresher = pieces.find_map(|p| {
        let p = scan::params(p).next()?;
        if !p.name.eq_ignore_ascii_case("refresher") {
            return None;
        }
        match p.value?.trim() {
            v if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            v if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some((seconds, refresher))
}

/// RFC 4028 §9: the session timer a request (an INVITE, or a refresh)
/// asks of us as its UAS. An unreadable `Session-Expires` asks nothing.
pub(super) fn negotiate(headers: &Headers, config: &SessionTimerConfig) -> Negotiation {
    let Some((asked, refresher)) = delta_seconds(headers, "Session-Expires") else {
        return Negotiation::None;
    };
    let min = config.min.as_secs();
    if asked < min {
        return Negotiation::TooSmall(min);
    }
    let their_min = delta_seconds(headers, "Min-SE").map_or(0, |(s, _)| s);
    let interval = asked.min(config.max.as_secs()).max(their_min).max(min);
    let peer_supports = lists(headers, "Supported", "timer") || lists(headers, "Require", "timer");
    let refresher = refresher.unwrap_or(if peer_supports {
        Refresher::Uac
    } else {
        Refresher::Uas
    });
    if refresher == Refresher::Uas && !lists(headers, "Allow", "UPDATE") {
        // We refresh with UPDATE only: a caller that cannot take one gets
        // no timer, as from a UA without the extension.
        return Negotiation::None;
    }
    Negotiation::Timer(SessionTimer {
        interval: Duration::from_secs(interval),
        refresher,
        peer_supports,
        due: None,
    })
}

/// Where the call was diverted from, as the carrier tells it: the user
/// part (usually the number) of the first `Diversion` URI (RFC 5806: the
/// most recent diversion comes first; its URI is the number that
/// forwarded), else of the first `History-Info` entry (RFC 7044: the
/// entries run from the original target on). `None` when neither header
/// is present or readable.
pub(super) fn diverted_from(headers: &Headers) -> Option<String> {
    let first_user = |name: &'static str| {
        header_values(headers, name).find_map(|entry| {
            let parts = scan::name_addr(entry).ok()?;
            let uri = scan::trim_lws(parts.uri);
            // History-Info URIs may carry `?Reason=…` headers.
            let uri = uri.split('?').next().unwrap_or(uri);
            let parsed = crate::message::parse_uri(uri).ok();
            let user = match parsed.as_ref().and_then(|u| u.user()) {
                Some(user) => user.split(';').next().unwrap_or_default().to_owned(),
                None => uri.strip_prefix("tel:")?.split(';').next()?.to_owned(),
            };
            let clean: String = user
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            (!clean.is_empty()).then_some(clean)
        })
    };
    first_user("Diversion").or_else(|| first_user("History-Info"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::default();
        for (name, value) in lines {
            h.push(match *name {
                "Supported" => Header::Supported(rsip::headers::Supported::new(*value)),
                "Require" => Header::Require(rsip::headers::Require::new(*value)),
                "Allow" => Header::Allow(rsip::headers::Allow::new(*value)),
                other => Header::Other(other.into(), (*value).into()),
            });
        }
        h
    }

    fn timer(lines: &[(&str, &str)]) -> Negotiation {
        negotiate(&headers(lines), &SessionTimerConfig::default())
    }

    #[test]
    fn a_caller_supporting_timers_refreshes_and_we_police() {
        let Negotiation::Timer(mut t) =
            timer(&[("Session-Expires", "1800"), ("Supported", "timer, 100rel")])
        else {
            panic!("a timer");
        };
        assert_eq!(t.interval, Duration::from_secs(1800));
        assert_eq!(t.refresher, Refresher::Uac);
        let h = t.response_headers();
        assert_eq!(h.len(), 2, "Session-Expires and Require: timer");
        assert_eq!(h[0].to_string(), "Session-Expires: 1800;refresher=uac");
        let now = Instant::now();
        // Ended 32 s before expiry when the caller stops refreshing.
        assert_eq!(t.restart(now), now + Duration::from_secs(1768));
        // A short interval: a third before.
        let Negotiation::Timer(mut t) = timer(&[
            ("Session-Expires", "90;refresher=uac"),
            ("Supported", "timer"),
        ]) else {
            panic!("a timer");
        };
        assert_eq!(t.restart(now), now + Duration::from_secs(60));
    }

    #[test]
    fn we_refresh_only_when_the_caller_takes_update() {
        let Negotiation::Timer(mut t) = timer(&[
            ("Session-Expires", "600"),
            ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ]) else {
            panic!("a timer");
        };
        assert_eq!(t.refresher, Refresher::Uas);
        assert!(!t.peer_supports);
        assert_eq!(t.response_headers().len(), 1, "no Require: timer");
        let now = Instant::now();
        assert_eq!(t.restart(now), now + Duration::from_secs(300));
        // Asked to refresh by a caller that allows no UPDATE: no timer.
        assert_eq!(
            timer(&[
                ("Session-Expires", "600;refresher=uas"),
                ("Supported", "timer"),
                ("Allow", "INVITE, ACK, BYE")
            ]),
            Negotiation::None
        );
    }

    #[test]
    fn intervals_are_bounded_by_both_minimums_and_our_maximum() {
        assert_eq!(
            timer(&[("Session-Expires", "60")]),
            Negotiation::TooSmall(90)
        );
        let interval = |lines: &[(&str, &str)]| match timer(lines) {
            Negotiation::Timer(t) => t.interval.as_secs(),
            other => panic!("{other:?}"),
        };
        let supported = ("Supported", "timer");
        assert_eq!(interval(&[("Session-Expires", "86400"), supported]), 1800);
        assert_eq!(
            interval(&[("Session-Expires", "86400"), ("Min-SE", "3600"), supported]),
            3600
        );
        assert_eq!(
            timer(&[("Session-Expires", "soon"), supported]),
            Negotiation::None
        );
        assert_eq!(timer(&[supported]), Negotiation::None);
    }

    #[test]
    fn only_extensions_we_know_may_be_required() {
        assert!(unsupported(&headers(&[("Require", "timer, 100rel")])).is_empty());
        assert_eq!(
            unsupported(&headers(&[
                ("Require", "100rel, precondition"),
                ("Require", "sec-agree")
            ])),
            ["precondition", "sec-agree"]
        );
        assert!(unsupported(&headers(&[("Supported", "precondition")])).is_empty());
    }

    #[test]
    fn the_diverting_number_comes_from_diversion_then_history_info() {
        let d = headers(&[
            (
                "Diversion",
                "<sip:+16135550100@carrier.example>;reason=unconditional;counter=1, <sip:+16135550199@carrier.example>",
            ),
            ("History-Info", "<sip:+18005550000@carrier.example>;index=1"),
        ]);
        assert_eq!(diverted_from(&d).as_deref(), Some("+16135550100"));
        let h = headers(&[(
            "History-Info",
            "<sip:+18005550000@carrier.example?Reason=SIP%3Bcause%3D302>;index=1, <sip:211@frontdoor>;index=1.1",
        )]);
        assert_eq!(diverted_from(&h).as_deref(), Some("+18005550000"));
        let tel = headers(&[("Diversion", "<tel:+1-613-555-0100;phone-context=x>")]);
        assert_eq!(diverted_from(&tel).as_deref(), Some("+1-613-555-0100"));
        assert_eq!(diverted_from(&headers(&[("Diversion", "<<<")])), None);
        assert_eq!(diverted_from(&Headers::default()), None);
    }
}
