//! SDES (RFC 4568): SRTP master keys carried in SDP `a=crypto` lines. Only
//! worth anything when the SDP travels over TLS, so the offer/answer above
//! takes SRTP only when told the signalling is ([`super::LocalMedia::srtp`]).
//!
//! What is spoken: the suites `AES_CM_128_HMAC_SHA1_80` and `_32`, one
//! `inline:` key per line (30 bytes: key then salt), an optional lifetime,
//! no MKI and no session parameters — what SRTP desk phones and softphones
//! offer. A line asking for more is passed over, not refused: another line
//! of the offer may do.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// Master key (16 bytes) then master salt (14 bytes).
pub const MASTER_LEN: usize = 30;

/// The crypto suites spoken (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoSuite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn parse(name: &str) -> Option<CryptoSuite> {
        [
            CryptoSuite::AesCm128HmacSha1_80,
            CryptoSuite::AesCm128HmacSha1_32,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// One usable `a=crypto` line. Its key is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: CryptoSuite,
    pub key: [u8; MASTER_LEN],
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Reads the value of an `a=crypto` attribute:
/// `<tag> <suite> inline:<key||salt>[|<lifetime>][|<MKI>:<length>] [<session params>]`.
/// `None` for what is not spoken here (see the module comment) or broken.
pub fn parse(value: &str) -> Option<Crypto> {
    let mut fields = value.split_whitespace();
    let tag = fields.next()?;
    if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let suite = CryptoSuite::parse(fields.next()?)?;
    let key_params = fields.next()?;
    if fields.next().is_some() {
        return None; // session parameters (UNENCRYPTED_SRTP, KDR, …)
    }
    if key_params.contains(';') {
        return None; // more than one key
    }
    let inline = key_params.strip_prefix("inline:")?;
    let mut parts = inline.split('|');
    let encoded = parts.next()?;
    for part in parts {
        if part.contains(':') {
            return None; // an MKI: every packet would carry it
        }
        // A lifetime: `2^31` or a number; at most 2^48 packets anyway.
        let ok = part
            .strip_prefix("2^")
            .unwrap_or(part)
            .bytes()
            .all(|b| b.is_ascii_digit());
        if part.is_empty() || !ok {
            return None;
        }
    }
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let key: [u8; MASTER_LEN] = decoded.try_into().ok()?;
    Some(Crypto {
        tag: tag.parse().ok()?,
        suite,
        key,
    })
}

/// The value of our `a=crypto` line.
pub fn format(c: &Crypto) -> String {
    format!(
        "{} {} inline:{}",
        c.tag,
        c.suite.name(),
        STANDARD.encode(c.key)
    )
}

/// A fresh master key and salt from the operating system's generator; none
/// if it fails (no SRTP then, never a guessable key).
pub fn fresh_key() -> Option<[u8; MASTER_LEN]> {
    let mut key = [0u8; MASTER_LEN];
    getrandom::fill(&mut key).ok()?;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn rfc4568_lines_are_read_and_written_back() {
        let c = parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20")).unwrap();
        assert_eq!((c.tag, c.suite), (1, CryptoSuite::AesCm128HmacSha1_80));
        assert_eq!(&c.key[..4], b"YS__");
        assert_eq!(
            format(&c),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")
        );
        let c = parse(&format!("2 aes_cm_128_hmac_sha1_32 inline:{KEY}")).unwrap();
        assert_eq!(c.suite, CryptoSuite::AesCm128HmacSha1_32);
        assert!(!format!("{c:?}").contains("89"), "no key in Debug: {c:?}");
    }

    #[test]
    fn what_is_not_spoken_is_passed_over() {
        for line in [
            format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_owned(),
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!".to_owned(),
            format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 {KEY}"),
            "".to_owned(),
        ] {
            assert!(parse(&line).is_none(), "{line}");
        }
    }

    #[test]
    fn fresh_keys_differ() {
        assert_ne!(fresh_key().unwrap(), fresh_key().unwrap());
    }
}
