//! Who is calling, decided once when the call arrives.
//!
//! The number comes from P-Asserted-Identity when a trusted peer (the
//! carrier's trunk, our own proxy: `sip.trusted_proxies`) sends it — RFC
//! 3325 §2.3 trusts that header only inside the trust domain — and from
//! From otherwise. It is normalised once (E.164, or withheld) and the same
//! value goes to the IVR (the region), the call record and the screen pop
//! (the caller's history), and the outbound legs (the number presented).

use std::net::IpAddr;

use frontdoor_ivr::regions::{Caller, normalize_caller};
use frontdoor_sip::ua::IncomingCall;

/// The peers whose P-Asserted-Identity is believed: addresses or
/// `address/prefix` networks (`sip.trusted_proxies`). The same list is
/// exempt from the per-source limits ([`frontdoor_sip::guard`]).
pub use frontdoor_sip::guard::Networks as TrustedPeers;

/// Where the caller's identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// P-Asserted-Identity from a trusted peer.
    Asserted,
    /// The From header.
    From,
}

impl IdentitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Asserted => "p-asserted-identity",
            IdentitySource::From => "from",
        }
    }
}

/// The caller of an incoming call, normalised.
pub fn identify(incoming: &IncomingCall, trusted: &TrustedPeers) -> (Caller, IdentitySource) {
    identify_from(
        incoming.caller.as_deref(),
        incoming.asserted.as_deref(),
        incoming.peer.addr.ip(),
        trusted,
    )
}

/// [`identify`] from the INVITE's From user, asserted identity and source.
fn identify_from(
    from: Option<&str>,
    asserted: Option<&str>,
    peer: IpAddr,
    trusted: &TrustedPeers,
) -> (Caller, IdentitySource) {
    if let Some(asserted) = asserted
        && trusted.contains(peer)
    {
        let caller = normalize_caller(asserted);
        if caller != Caller::Withheld {
            return (caller, IdentitySource::Asserted);
        }
    }
    let caller = from.map_or(Caller::Withheld, normalize_caller);
    (caller, IdentitySource::From)
}

/// The caller as the call record and the logs have it: the E.164 number,
/// `anonymous` when withheld, or what From said when it is not a number
/// (a SIP user such as `alice`).
pub fn recorded(caller: &Caller) -> &str {
    match caller {
        Caller::Number(n) | Caller::Unknown(n) => n,
        Caller::Withheld => "anonymous",
    }
}

/// `text` with the middle of every run of 7 or more digits masked
/// (`+16135550123` → `+1613•••••23`, also inside a SIP URI): what logs at
/// info and above show of a caller's number. The area code stays (it says
/// the region); the whole number is only in the store and at debug.
pub fn mask_number(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let run = &chars[start..i];
        if run.len() < 7 {
            out.extend(run);
        } else {
            out.extend(&run[..4]);
            out.extend(std::iter::repeat_n('•', run.len() - 6));
            out.extend(&run[run.len() - 2..]);
        }
    }
    out
}

/// The caller as logs at info show it: [`recorded`], masked.
pub fn logged(caller: &Caller) -> String {
    mask_number(recorded(caller))
}

/// The caller's number when there is one (for outbound legs and callbacks).
pub fn number(caller: &Caller) -> Option<&str> {
    match caller {
        Caller::Number(n) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedPeers {
        TrustedPeers::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
            .expect("valid entries")
    }

    struct Invite<'a>(Option<&'a str>, Option<&'a str>, [u8; 4]);

    fn incoming<'a>(from: Option<&'a str>, asserted: Option<&'a str>, peer: [u8; 4]) -> Invite<'a> {
        Invite(from, asserted, peer)
    }

    fn identify(invite: &Invite<'_>, trusted: &TrustedPeers) -> (Caller, IdentitySource) {
        identify_from(invite.0, invite.1, IpAddr::from(invite.2), trusted)
    }

    #[test]
    fn numbers_in_logs_keep_their_area_code_and_last_two_digits() {
        assert_eq!(mask_number("+16135550123"), "+1613•••••23");
        assert_eq!(
            mask_number("sip:+16135550123@trunk.example.org:5060"),
            "sip:+1613•••••23@trunk.example.org:5060"
        );
        assert_eq!(mask_number("anonymous"), "anonymous");
        assert_eq!(mask_number("211"), "211");
        assert_eq!(mask_number("ext 123456"), "ext 123456");
        assert_eq!(mask_number("4165551234"), "4165••••34");
    }

    #[test]
    fn a_trusted_peers_asserted_identity_gives_the_number_of_a_withheld_caller() {
        let t = trusted(&["192.0.2.10"]);
        let call = incoming(None, Some("+16135550123"), [192, 0, 2, 10]);
        assert_eq!(
            identify(&call, &t),
            (
                Caller::Number("+16135550123".into()),
                IdentitySource::Asserted
            )
        );
    }

    #[test]
    fn an_asserted_identity_from_anyone_else_is_ignored() {
        let t = trusted(&["192.0.2.10"]);
        let call = incoming(None, Some("+16135550123"), [203, 0, 113, 9]);
        assert_eq!(
            identify(&call, &t),
            (Caller::Withheld, IdentitySource::From)
        );
        let call = incoming(Some("6135550199"), Some("+16135550123"), [203, 0, 113, 9]);
        assert_eq!(identify(&call, &t).0, Caller::Number("+16135550199".into()));
    }

    #[test]
    fn the_from_number_is_normalised_once_so_every_spelling_is_one_caller() {
        let t = TrustedPeers::default();
        for from in ["6135550123", "+16135550123", "16135550123", "613-555-0123"] {
            let call = incoming(Some(from), None, [127, 0, 0, 1]);
            assert_eq!(
                identify(&call, &t).0,
                Caller::Number("+16135550123".into()),
                "{from}"
            );
        }
        let call = incoming(Some("anonymous"), None, [127, 0, 0, 1]);
        assert_eq!(identify(&call, &t).0, Caller::Withheld);
    }
}
