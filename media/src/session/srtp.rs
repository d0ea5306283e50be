//! SRTP (RFC 3711) for a session whose keys were exchanged in SDP over TLS
//! (SDES, RFC 4568): the session encrypts what it sends with its own key
//! and decrypts what it receives with the peer's, each with replay
//! protection. The transform is the webrtc-rs project's sans-IO `rtc-srtp`.

use rtc_srtp::context::Context;
use rtc_srtp::option::srtp_replay_protection;
use rtc_srtp::protection_profile::ProtectionProfile;

/// The SDES crypto suites a session speaks (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`: every SRTP phone has it.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: a 32-bit tag.
    AesCm128HmacSha1_32,
}

/// Master key (16 bytes) then master salt (14 bytes), as SDES carries them.
pub const MASTER_LEN: usize = 30;
const KEY_LEN: usize = 16;

/// A session's SRTP keys: ours for what it sends, the peer's for what it
/// receives. Never printed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: SrtpSuite,
    pub send: [u8; MASTER_LEN],
    pub recv: [u8; MASTER_LEN],
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Packets the SRTP contexts could not protect or unprotect.
#[derive(Debug, thiserror::Error)]
#[error("SRTP: {0}")]
pub struct SrtpError(String);

/// The two contexts of a session and the keys they were made from.
pub(crate) struct Srtp {
    pub keys: SrtpKeys,
    send: Context,
    recv: Context,
}

/// Packets a receiver accepts out of order (RFC 3711 §3.3.2: at least 64).
const REPLAY_WINDOW: usize = 128;

impl Srtp {
    pub fn new(keys: SrtpKeys) -> Result<Srtp, SrtpError> {
        let profile = match keys.suite {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        };
        let provider =
            rtc_srtp::crypto::default_provider().map_err(|e| SrtpError(e.to_string()))?;
        let context = |master: &[u8; MASTER_LEN]| {
            let (key, salt) = master.split_at(KEY_LEN);
            Context::new(
                key,
                salt,
                profile,
                Some(srtp_replay_protection(REPLAY_WINDOW)),
                None,
                provider.crypto(),
            )
            .map_err(|e| SrtpError(e.to_string()))
        };
        Ok(Srtp {
            keys,
            send: context(&keys.send)?,
            recv: context(&keys.recv)?,
        })
    }

    /// An RTP packet made ready to send.
    pub fn protect(&mut self, rtp: &[u8]) -> Result<bytes::BytesMut, SrtpError> {
        self.send
            .encrypt_rtp(rtp)
            .map_err(|e| SrtpError(e.to_string()))
    }

    /// A received SRTP packet, authenticated, not a replay, decrypted.
    pub fn unprotect(&mut self, srtp: &[u8]) -> Result<bytes::BytesMut, SrtpError> {
        self.recv
            .decrypt_rtp(srtp)
            .map_err(|e| SrtpError(e.to_string()))
    }
}

impl std::fmt::Debug for Srtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.keys.fmt(f)
    }
}

/// Whether a datagram on the RTP port is RTCP (RFC 5761 §4: packet types
/// 192–223 in the second byte).
pub(crate) fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.get(1).is_some_and(|b| (192..=223).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacket;

    fn keys(a: u8, b: u8) -> SrtpKeys {
        SrtpKeys {
            suite: SrtpSuite::AesCm128HmacSha1_80,
            send: [a; MASTER_LEN],
            recv: [b; MASTER_LEN],
        }
    }

    fn packet(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend(std::iter::repeat_n(0xff, 160));
        p
    }

    #[test]
    fn what_one_side_protects_the_other_unprotects_once() {
        let mut us = Srtp::new(keys(1, 2)).unwrap();
        let mut them = Srtp::new(keys(2, 1)).unwrap();
        let plain = packet(7);
        let sent = us.protect(&plain).unwrap();
        assert_eq!(sent.len(), plain.len() + 10, "an 80-bit tag");
        assert_ne!(&sent[12..172], &plain[12..], "the payload is encrypted");
        assert_eq!(&them.unprotect(&sent).unwrap()[..], &plain[..]);
        assert!(them.unprotect(&sent).is_err(), "a replay is refused");
        let mut forged = us.protect(&packet(8)).unwrap();
        forged[20] ^= 1;
        assert!(
            them.unprotect(&forged).is_err(),
            "a changed packet is refused"
        );
        assert!(
            RtpPacket::parse(&them.unprotect(&us.protect(&packet(9)).unwrap()).unwrap()).is_ok()
        );
    }

    #[test]
    fn plain_rtp_is_refused_and_rtcp_is_told_apart() {
        let mut them = Srtp::new(keys(2, 1)).unwrap();
        assert!(them.unprotect(&packet(1)).is_err());
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&packet(1)));
        assert!(format!("{:?}", keys(1, 2)).contains("AesCm128HmacSha1_80"));
        assert!(
            !format!("{:?}", keys(1, 2)).contains("[1"),
            "no key in Debug"
        );
    }
}
