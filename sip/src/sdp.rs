//! SDP offer/answer (RFC 3264) for the audio frontdoor speaks: G.711 µ-law
//! (PCMU, PT 0), A-law (PCMA, PT 8) and RFC 4733 telephone-event.
//!
//! SDP text is read and written with rtc-sdp (RFC 4566). rtc-sdp is written
//! for WebRTC and insists on the RFC's line order and a few fields desk
//! phones get wrong, so a pre-pass hands it only what negotiation needs, in
//! order: `v o s c t a` then per stream `m c a`. Lines we never use
//! (`i u e p b z k r`) are dropped, a missing or empty `s=`/`t=` is filled
//! in, an `o=` it would refuse is replaced (we never read the remote o=), and
//! a media type it does not know (`m=x-foo …`) is read as `application` —
//! the answer still names it as offered when it rejects it with port 0.
//!
//! Our side is one audio stream: the first offered audio stream we can use
//! is accepted, every other `m=` line is answered with port 0 (RFC 3264 §6).
//!
//! SRTP: an `RTP/SAVP` stream is accepted when the signalling is over TLS
//! ([`LocalMedia::srtp`]), with the first of its `a=crypto` lines we speak
//! ([`sdes`]) and a fresh key of ours in the answer; over plain transport
//! it gets 488 (its keys would have crossed the network readable).

pub mod sdes;

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc_sdp::SessionDescription;
use rtc_sdp::description::common::{Address, Attribute, ConnectionInformation};
use rtc_sdp::description::media::{MediaDescription, MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, TimeDescription, Timing};

/// The payload type we offer telephone-event on (RFC 4733 §7.1.1: dynamic).
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// The packet time we ask for and send by default.
pub const DEFAULT_PTIME_MS: u32 = 20;

/// A codec both sides can speak. Only G.711: every phone has it, and the
/// IVR prompts are stored in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 §6).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }
}

/// RFC 3264 §5.1 / RFC 4566 §6 stream direction, from one side's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The other side's view of the same stream (RFC 3264 §6.1: sendonly is
    /// answered recvonly, and the reverse).
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The attribute name (`a=sendrecv`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(key: &str) -> Option<Direction> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// Our side of the media: where we receive RTP, and the `o=` identity of
/// our session (RFC 4566 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub session_version: u64,
    /// SRTP may be negotiated: the SDP travels over TLS. Default false.
    pub srtp: bool,
}

impl LocalMedia {
    /// A new session with a random id (RFC 4566 §5.2) and version 1.
    pub fn new(addr: IpAddr, port: u16) -> LocalMedia {
        LocalMedia {
            addr,
            port,
            session_id: fastrand::u64(1..1 << 62),
            session_version: 1,
            srtp: false,
        }
    }

    /// RFC 3264 §8: an SDP that changes the session keeps the `o=` line but
    /// for a version incremented by one.
    pub fn next_version(&mut self) {
        self.session_version += 1;
    }
}

/// The outcome of a negotiation: what to send, to where, with which
/// payload types.
#[derive(Debug, Clone, PartialEq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The peer's telephone-event payload type, if it does RFC 4733.
    pub telephone_event: Option<u8>,
    pub remote: SocketAddr,
    /// OUR direction: whether we may send and should expect to receive.
    pub direction: Direction,
    /// The packet time to send at (the peer's `a=ptime`, else 20 ms).
    pub ptime_ms: u32,
    /// The SRTP keys when the stream is `RTP/SAVP`.
    pub srtp: Option<Srtp>,
}

/// An SRTP stream's keys: the peer's (for what it sends) and ours (for
/// what we send, in our answer), with the suite and tag of the offer's
/// line. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Srtp {
    pub suite: sdes::CryptoSuite,
    pub tag: u32,
    pub remote_key: [u8; sdes::MASTER_LEN],
    pub local_key: [u8; sdes::MASTER_LEN],
}

impl std::fmt::Debug for Srtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Srtp")
            .field("suite", &self.suite)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

/// Why SDP could not be negotiated.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("no audio stream")]
    NoAudio,
    #[error("no common codec (we speak PCMU and PCMA)")]
    NoCommonCodec,
    /// SRTP, DTLS-SRTP (WebRTC) and other profiles we cannot speak.
    #[error("unsupported media profile {0} (we speak RTP/AVP)")]
    UnsupportedProfile(String),
    /// A host name or multicast group where we need a unicast address.
    #[error("unsupported connection address {0}")]
    UnsupportedAddress(String),
    /// SRTP offered over signalling that is not TLS.
    #[error(
        "SRTP offered over a transport that is not TLS: its keys would cross the network readable"
    )]
    SrtpNotOverTls,
    /// SRTP offered with no `a=crypto` line we speak.
    #[error(
        "no SRTP crypto line we speak (AES_CM_128_HMAC_SHA1_80 or _32, one inline key, no MKI)"
    )]
    NoCommonCrypto,
    /// The operating system gave no randomness for our SRTP key.
    #[error("no randomness for an SRTP key")]
    NoKey,
}

impl SdpError {
    /// The SIP response for an offer that failed this way: 488 Not
    /// Acceptable Here (RFC 3261 §13.3.1.3), 400 for unreadable SDP.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 400,
            _ => 488,
        }
    }
}

// ---- reading ------------------------------------------------------------------

/// A connection address as far as we can use it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conn {
    Ip(IpAddr),
    Unsupported(String),
}

/// One `m=` section, reduced to what negotiation looks at.
#[derive(Debug, Clone)]
struct Stream {
    /// The media type as offered (even one rtc-sdp does not know).
    media: String,
    port: u16,
    proto: String,
    formats: Vec<String>,
    conn: Option<Conn>,
    direction: Option<Direction>,
    /// `a=rtpmap:<pt> <encoding>/<clock>` as (pt, encoding, clock).
    rtpmaps: Vec<(u8, String, u32)>,
    ptime: Option<u32>,
    /// The `a=crypto` lines we speak, in order.
    cryptos: Vec<sdes::Crypto>,
}

#[derive(Debug, Clone)]
struct Description {
    conn: Option<Conn>,
    direction: Option<Direction>,
    ptime: Option<u32>,
    streams: Vec<Stream>,
}

/// Media types rtc-sdp accepts on an `m=` line.
const KNOWN_MEDIA: &[&str] = &["audio", "video", "text", "application", "message", "image"];

/// Reorder and tidy SDP lines so rtc-sdp reads them; see the module
/// comment. Returns the text and the media type of each `m=` line as sent.
fn prepare(sdp: &[u8]) -> Result<(String, Vec<String>), SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::Malformed("not UTF-8".into()))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("v=0") {
        return Err(SdpError::Malformed("does not start with v=0".into()));
    }
    let mut origin = None;
    let mut name = None;
    let mut conn = None;
    let mut timing = None;
    let mut attributes = Vec::new();
    // Per stream: the m= value, its c= and its a= lines.
    let mut streams: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    let mut media_types = Vec::new();
    for line in lines {
        let Some((kind, value)) = line.split_once('=') else {
            return Err(SdpError::Malformed(format!(
                "not a type=value line: {:?}",
                short(line)
            )));
        };
        let value = value.trim();
        // `kind` has exactly one byte when the index is reached.
        if kind.len() != 1 || !kind.as_bytes()[0].is_ascii_lowercase() {
            return Err(SdpError::Malformed(format!(
                "bad line type {:?}",
                short(kind)
            )));
        }
        match (kind, streams.last_mut()) {
            ("m", _) => {
                let mut fields = value.split_whitespace();
                let media = fields.next().unwrap_or_default().to_owned();
                let rest: Vec<&str> = fields.collect();
                let known = if KNOWN_MEDIA.contains(&media.as_str()) {
                    media.as_str()
                } else {
                    "application"
                };
                streams.push((format!("{known} {}", rest.join(" ")), None, Vec::new()));
                media_types.push(media);
            }
            ("c", Some(stream)) => {
                stream.1.get_or_insert_with(|| value.to_owned());
            }
            ("a", Some(stream)) => stream.2.push(value.to_owned()),
            (_, Some(_)) => {}
            ("o", None) => {
                origin.get_or_insert_with(|| value.to_owned());
            }
            ("s", None) => {
                name.get_or_insert_with(|| value.to_owned());
            }
            ("c", None) => {
                conn.get_or_insert_with(|| value.to_owned());
            }
            ("t", None) => {
                timing.get_or_insert_with(|| value.to_owned());
            }
            ("a", None) => attributes.push(value.to_owned()),
            _ => {}
        }
    }
    let origin = origin
        .filter(|o| origin_is_readable(o))
        .unwrap_or_else(|| "- 0 0 IN IP4 0.0.0.0".into());
    let name = name.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into());
    let timing = timing
        .filter(|t| {
            let f: Vec<&str> = t.split_whitespace().collect();
            f.len() >= 2 && f.iter().all(|n| n.parse::<u64>().is_ok())
        })
        .unwrap_or_else(|| "0 0".into());
    let mut out = format!("v=0\r\no={origin}\r\ns={name}\r\n");
    if let Some(conn) = conn {
        out.push_str(&format!("c={conn}\r\n"));
    }
    out.push_str(&format!("t={timing}\r\n"));
    for a in attributes {
        out.push_str(&format!("a={a}\r\n"));
    }
    for (m, c, attributes) in streams {
        out.push_str(&format!("m={m}\r\n"));
        if let Some(c) = c {
            out.push_str(&format!("c={c}\r\n"));
        }
        for a in attributes {
            out.push_str(&format!("a={a}\r\n"));
        }
    }
    Ok((out, media_types))
}

/// What rtc-sdp accepts in `o=`.
fn origin_is_readable(o: &str) -> bool {
    let f: Vec<&str> = o.split_whitespace().collect();
    f.len() == 6
        && f[1].parse::<u64>().is_ok()
        && f[2].parse::<u64>().is_ok()
        && f[3] == "IN"
        && (f[4] == "IP4" || f[4] == "IP6")
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn read(sdp: &[u8]) -> Result<Description, SdpError> {
    let (text, media_types) = prepare(sdp)?;
    let parsed = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|e| SdpError::Malformed(e.to_string()))?;
    let streams = parsed
        .media_descriptions
        .iter()
        .zip(media_types)
        .map(|(m, media)| {
            let port = u16::try_from(m.media_name.port.value)
                .map_err(|_| SdpError::Malformed("bad m= port".into()))?;
            Ok(Stream {
                media,
                port,
                proto: m.media_name.protos.join("/"),
                formats: m.media_name.formats.clone(),
                conn: m.connection_information.as_ref().map(conn_of),
                direction: direction_of(&m.attributes),
                rtpmaps: m.attributes.iter().filter_map(rtpmap_of).collect(),
                ptime: ptime_of(&m.attributes),
                cryptos: m
                    .attributes
                    .iter()
                    .filter(|a| a.key == "crypto")
                    .filter_map(|a| sdes::parse(a.value.as_deref()?))
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, SdpError>>()?;
    Ok(Description {
        conn: parsed.connection_information.as_ref().map(conn_of),
        direction: direction_of(&parsed.attributes),
        ptime: ptime_of(&parsed.attributes),
        streams,
    })
}

fn conn_of(c: &ConnectionInformation) -> Conn {
    let address = c
        .address
        .as_ref()
        .map(|a| a.to_string())
        .unwrap_or_default();
    match address.parse::<IpAddr>() {
        Ok(ip) if !ip.is_multicast() => Conn::Ip(ip),
        _ => Conn::Unsupported(address),
    }
}

fn direction_of(attributes: &[Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .find_map(|a| Direction::from_attribute(&a.key))
}

fn ptime_of(attributes: &[Attribute]) -> Option<u32> {
    let value = attributes
        .iter()
        .find(|a| a.key == "ptime")?
        .value
        .as_deref()?;
    // Some phones write "20.0".
    let ms = value.trim().parse::<f64>().ok()?;
    // Between 10 and 60: the cast is exact.
    (10.0..=60.0)
        .contains(&ms)
        .then(|| ((ms / 10.0).round() * 10.0) as u32)
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
fn rtpmap_of(a: &Attribute) -> Option<(u8, String, u32)> {
    if a.key != "rtpmap" {
        return None;
    }
    let (pt, encoding) = a.value.as_deref()?.trim().split_once(' ')?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?.to_owned();
    let clock = parts.next()?.parse().ok()?;
    Some((pt.parse().ok()?, name, clock))
}

impl Stream {
    fn is_audio(&self) -> bool {
        self.media == "audio"
    }

    /// Profiles whose RTP we can speak. AVPF (RFC 4585) is AVP with
    /// feedback we may ignore.
    fn profile_ok(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/AVP") || self.proto.eq_ignore_ascii_case("RTP/AVPF")
    }

    /// SRTP with SDES keys (SAVPF: with feedback we may ignore).
    fn is_savp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/SAVP") || self.proto.eq_ignore_ascii_case("RTP/SAVPF")
    }

    /// The SRTP keys for this stream: the first crypto line we speak, and
    /// a fresh key of ours.
    fn srtp(&self, allowed: bool) -> Result<Srtp, SdpError> {
        if !allowed {
            return Err(SdpError::SrtpNotOverTls);
        }
        let theirs = self.cryptos.first().ok_or(SdpError::NoCommonCrypto)?;
        Ok(Srtp {
            suite: theirs.suite,
            tag: theirs.tag,
            remote_key: theirs.key,
            local_key: sdes::fresh_key().ok_or(SdpError::NoKey)?,
        })
    }

    fn rtpmap(&self, pt: u8) -> Option<(&str, u32)> {
        self.rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, n, c)| (n.as_str(), *c))
    }

    /// The first format we speak, in the order listed (RFC 3264 §6.1: the
    /// offerer's preference).
    fn first_codec(&self) -> Option<Codec> {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find_map(|pt| {
                let codec = Codec::from_payload_type(pt)?;
                // A static type remapped to something else is not G.711.
                match self.rtpmap(pt) {
                    Some((name, clock))
                        if !name.eq_ignore_ascii_case(codec.name()) || clock != 8000 =>
                    {
                        None
                    }
                    _ => Some(codec),
                }
            })
    }

    fn telephone_event(&self) -> Option<u8> {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .find(|pt| {
                self.rtpmap(*pt).is_some_and(|(name, clock)| {
                    name.eq_ignore_ascii_case("telephone-event") && clock == 8000
                })
            })
    }
}

impl Description {
    /// Where to send the stream's RTP.
    fn remote(&self, stream: &Stream) -> Result<SocketAddr, SdpError> {
        match stream.conn.as_ref().or(self.conn.as_ref()) {
            Some(Conn::Ip(ip)) => Ok(SocketAddr::new(*ip, stream.port)),
            Some(Conn::Unsupported(a)) => Err(SdpError::UnsupportedAddress(a.clone())),
            None => Err(SdpError::Malformed(
                "no c= line for the audio stream".into(),
            )),
        }
    }

    /// The direction the peer declared for `stream`, with the RFC 3264
    /// §8.4 / RFC 2543 hold (`c=0.0.0.0`) folded in: such a peer does not
    /// want to receive.
    fn peer_direction(&self, stream: &Stream, remote: SocketAddr) -> Direction {
        let declared = stream
            .direction
            .or(self.direction)
            .unwrap_or(Direction::SendRecv);
        let receives = declared.receives() && !remote.ip().is_unspecified();
        Direction::from_flags(declared.sends(), receives)
    }

    fn ptime(&self, stream: &Stream) -> u32 {
        stream.ptime.or(self.ptime).unwrap_or(DEFAULT_PTIME_MS)
    }

    /// The stream to use and its negotiated parameters; `srtp_allowed`:
    /// an `RTP/SAVP` stream may be taken (the signalling is over TLS).
    fn negotiate(&self, srtp_allowed: bool) -> Result<(usize, Negotiated), SdpError> {
        if !self.streams.iter().any(Stream::is_audio) {
            return Err(SdpError::NoAudio);
        }
        let mut first_error = None;
        for (i, stream) in self.streams.iter().enumerate() {
            if !stream.is_audio() || stream.port == 0 {
                continue;
            }
            let srtp = if stream.profile_ok() {
                Ok(None)
            } else if stream.is_savp() {
                stream.srtp(srtp_allowed).map(Some)
            } else {
                Err(SdpError::UnsupportedProfile(stream.proto.clone()))
            };
            let outcome = srtp.and_then(|srtp| {
                stream
                    .first_codec()
                    .ok_or(SdpError::NoCommonCodec)
                    .and_then(|codec| {
                        let remote = self.remote(stream)?;
                        Ok(Negotiated {
                            codec,
                            telephone_event: stream.telephone_event(),
                            remote,
                            direction: self.peer_direction(stream, remote).reverse(),
                            ptime_ms: self.ptime(stream),
                            srtp,
                        })
                    })
            });
            match outcome {
                Ok(negotiated) => return Ok((i, negotiated)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(SdpError::NoAudio))
    }
}

// ---- writing ------------------------------------------------------------------

fn address_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IP4" } else { "IP6" }
}

fn session(local: &LocalMedia) -> SessionDescription {
    let addr_type = address_type(local.addr).to_owned();
    SessionDescription {
        version: 0,
        origin: Origin {
            username: "frontdoor".into(),
            session_id: local.session_id,
            session_version: local.session_version,
            network_type: "IN".into(),
            address_type: addr_type.clone(),
            unicast_address: local.addr.to_string(),
        },
        session_name: "frontdoor".into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: addr_type,
            address: Some(Address {
                address: local.addr.to_string(),
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        ..Default::default()
    }
}

fn attribute(key: &str, value: Option<String>) -> Attribute {
    Attribute::new(key.to_owned(), value)
}

/// Our audio stream: `codecs` in order, telephone-event on `event`.
fn audio(
    local: &LocalMedia,
    proto: &str,
    codecs: &[Codec],
    event: Option<u8>,
    direction: Direction,
    srtp: Option<&Srtp>,
) -> MediaDescription {
    let mut formats: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|c| {
            attribute(
                "rtpmap",
                Some(format!("{} {}/8000", c.payload_type(), c.name())),
            )
        })
        .collect();
    if let Some(pt) = event {
        formats.push(pt.to_string());
        attributes.push(attribute(
            "rtpmap",
            Some(format!("{pt} telephone-event/8000")),
        ));
        attributes.push(attribute("fmtp", Some(format!("{pt} 0-15"))));
    }
    attributes.push(attribute("ptime", Some(DEFAULT_PTIME_MS.to_string())));
    attributes.push(attribute(direction.as_str(), None));
    if let Some(srtp) = srtp {
        // RFC 4568 §5.1.2: the answer's line has the chosen offer line's tag.
        let ours = sdes::Crypto {
            tag: srtp.tag,
            suite: srtp.suite,
            key: srtp.local_key,
        };
        attributes.push(attribute("crypto", Some(sdes::format(&ours))));
    }
    MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort {
                // isize holds any u16 on the platforms we build for.
                value: isize::try_from(local.port).unwrap_or(0),
                range: None,
            },
            protos: proto.split('/').map(str::to_owned).collect(),
            formats,
        },
        attributes,
        ..Default::default()
    }
}

/// Answer an offer (RFC 3264 §6): the first offered audio stream we can
/// use is accepted with the first of its formats we speak (PCMU or PCMA,
/// in the offerer's order) and telephone-event if offered (its PT kept);
/// our direction is the reverse of the offered one (sendonly → recvonly:
/// the caller put us on hold; inactive → inactive), and `c=0.0.0.0` (RFC
/// 2543 hold) means we must not send. Every other `m=` line is answered
/// with port 0. Session- and media-level `c=` are both understood.
pub fn answer(offer: &[u8], local: &LocalMedia) -> Result<(Vec<u8>, Negotiated), SdpError> {
    let offered = read(offer)?;
    let (chosen, negotiated) = offered.negotiate(local.srtp)?;
    let mut sdp = session(local);
    for (i, stream) in offered.streams.iter().enumerate() {
        let media = if i == chosen {
            audio(
                local,
                &stream.proto,
                &[negotiated.codec],
                negotiated.telephone_event,
                negotiated.direction,
                negotiated.srtp.as_ref(),
            )
        } else {
            // RFC 3264 §6: rejected, with the offered formats.
            MediaDescription {
                media_name: MediaName {
                    media: stream.media.clone(),
                    port: RangedPort {
                        value: 0,
                        range: None,
                    },
                    protos: stream.proto.split('/').map(str::to_owned).collect(),
                    formats: stream.formats.clone(),
                },
                ..Default::default()
            }
        };
        sdp.media_descriptions.push(media);
    }
    Ok((sdp.marshal().into_bytes(), negotiated))
}

/// Our offer (for an INVITE without SDP — late offer — and outbound
/// calls): PCMU, PCMA, telephone-event/8000 on PT 101, `a=ptime:20`, and
/// the given direction.
pub fn offer(local: &LocalMedia, direction: Direction) -> Vec<u8> {
    let mut sdp = session(local);
    sdp.media_descriptions.push(audio(
        local,
        "RTP/AVP",
        &[Codec::Pcmu, Codec::Pcma],
        Some(TELEPHONE_EVENT_PT),
        direction,
        None,
    ));
    sdp.marshal().into_bytes()
}

/// Read the answer to our offer (in a 200 OK or an ACK).
pub fn parse_answer(answer: &[u8]) -> Result<Negotiated, SdpError> {
    // Our offers are plain RTP/AVP: an SRTP answer to one is not valid.
    read(answer)?
        .negotiate(false)
        .map(|(_, negotiated)| negotiated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "198.51.100.7".parse().unwrap(),
            port: 20_000,
            session_id: 4242,
            session_version: 1,
            srtp: false,
        }
    }

    fn sdp(lines: &[&str]) -> Vec<u8> {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn head(c: &str) -> Vec<&str> {
        vec![
            "v=0",
            "o=phone 123 456 IN IP4 192.0.2.10",
            "s=call",
            c,
            "t=0 0",
        ]
    }

    fn lines_of(bytes: &[u8]) -> Vec<String> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A desk phone's usual offer.
    fn typical() -> Vec<u8> {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend([
            "m=audio 4000 RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ]);
        sdp(&l)
    }

    #[test]
    fn typical_phone_offer_pcmu_pcma_and_dtmf() {
        let (answer, n) = answer(&typical(), &local()).unwrap();
        assert_eq!(
            n,
            Negotiated {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                remote: "192.0.2.10:4000".parse().unwrap(),
                direction: Direction::SendRecv,
                ptime_ms: 20,
                srtp: None,
            }
        );
        assert_eq!(
            lines_of(&answer),
            [
                "v=0",
                "o=frontdoor 4242 1 IN IP4 198.51.100.7",
                "s=frontdoor",
                "c=IN IP4 198.51.100.7",
                "t=0 0",
                "m=audio 20000 RTP/AVP 0 101",
                "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=fmtp:101 0-15",
                "a=ptime:20",
                "a=sendrecv",
            ]
        );
    }

    #[test]
    fn offerer_order_decides_and_dynamic_event_pt_is_kept() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend([
            "m=audio 4000 RTP/AVP 8 0 96",
            "a=rtpmap:96 telephone-event/8000",
            "a=ptime:30",
        ]);
        let (answer, n) = answer(&sdp(&l), &local()).unwrap();
        assert_eq!(
            (n.codec, n.telephone_event, n.ptime_ms),
            (Codec::Pcma, Some(96), 30)
        );
        let lines = lines_of(&answer);
        assert!(lines.contains(&"m=audio 20000 RTP/AVP 8 96".to_owned()));
        assert!(lines.contains(&"a=rtpmap:96 telephone-event/8000".to_owned()));
    }

    #[test]
    fn pcma_only_without_rtpmap() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.push("m=audio 4000 RTP/AVP 8");
        let (_, n) = answer(&sdp(&l), &local()).unwrap();
        assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, None));
    }

    #[test]
    fn g729_only_is_488() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend(["m=audio 4000 RTP/AVP 18", "a=rtpmap:18 G729/8000"]);
        let error = answer(&sdp(&l), &local()).unwrap_err();
        assert_eq!(error, SdpError::NoCommonCodec);
        assert_eq!(error.status_code(), 488);
    }

    #[test]
    fn opus_first_then_pcmu() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend([
            "m=audio 4000 RTP/AVP 111 0 126",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:126 telephone-event/48000",
            "a=rtpmap:0 PCMU/8000",
        ]);
        let (_, n) = answer(&sdp(&l), &local()).unwrap();
        // telephone-event at 48 kHz goes with opus, not with G.711.
        assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, None));
    }

    #[test]
    fn webrtc_profile_is_488() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend([
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
            "a=rtpmap:111 opus/48000/2",
        ]);
        let error = answer(&sdp(&l), &local()).unwrap_err();
        assert_eq!(
            error,
            SdpError::UnsupportedProfile("UDP/TLS/RTP/SAVPF".into())
        );
        assert_eq!(error.status_code(), 488);
    }

    #[test]
    fn video_and_unknown_streams_are_rejected_with_port_0() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend([
            "m=video 5000 RTP/AVP 31 34",
            "a=rtpmap:31 H261/90000",
            "m=audio 4000 RTP/AVP 0",
            "m=x-whiteboard 6000 TCP wb",
            "m=audio 4002 RTP/AVP 8",
        ]);
        let (answer, n) = answer(&sdp(&l), &local()).unwrap();
        assert_eq!(n.remote, "192.0.2.10:4000".parse().unwrap());
        let m: Vec<String> = lines_of(&answer)
            .into_iter()
            .filter(|l| l.starts_with("m="))
            .collect();
        assert_eq!(
            m,
            [
                "m=video 0 RTP/AVP 31 34",
                "m=audio 20000 RTP/AVP 0",
                "m=x-whiteboard 0 TCP wb",
                "m=audio 0 RTP/AVP 8",
            ]
        );
    }

    #[test]
    fn directions_rfc3264_6_1() {
        let table = [
            ("a=sendrecv", Direction::SendRecv),
            ("a=sendonly", Direction::RecvOnly),
            ("a=recvonly", Direction::SendOnly),
            ("a=inactive", Direction::Inactive),
        ];
        for (attribute, ours) in table {
            let mut l = head("c=IN IP4 192.0.2.10");
            l.extend(["m=audio 4000 RTP/AVP 0", attribute]);
            let (answer, n) = answer(&sdp(&l), &local()).unwrap();
            assert_eq!(n.direction, ours, "{attribute}");
            assert!(
                lines_of(&answer).contains(&format!("a={}", ours.as_str())),
                "{attribute}"
            );
        }
        // Session-level direction applies to streams that state none.
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend(["a=sendonly", "m=audio 4000 RTP/AVP 0"]);
        assert_eq!(
            answer(&sdp(&l), &local()).unwrap().1.direction,
            Direction::RecvOnly
        );
    }

    #[test]
    fn rfc2543_hold_with_0_0_0_0_means_we_do_not_send() {
        for (attribute, ours) in [
            ("a=sendrecv", Direction::RecvOnly),
            ("a=recvonly", Direction::Inactive),
        ] {
            let mut l = head("c=IN IP4 0.0.0.0");
            l.extend(["m=audio 4000 RTP/AVP 0", attribute]);
            let (_, n) = answer(&sdp(&l), &local()).unwrap();
            assert_eq!(n.direction, ours, "{attribute}");
            assert!(!n.direction.sends());
        }
    }

    #[test]
    fn media_level_c_overrides_session_level_and_either_is_enough() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend(["m=audio 4000 RTP/AVP 0", "c=IN IP4 192.0.2.99"]);
        assert_eq!(
            answer(&sdp(&l), &local()).unwrap().1.remote,
            "192.0.2.99:4000".parse().unwrap()
        );
        let l = [
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.10",
            "s=-",
            "t=0 0",
            "m=audio 4000 RTP/AVP 0",
            "c=IN IP6 2001:db8::5",
        ];
        assert_eq!(
            answer(&sdp(&l), &local()).unwrap().1.remote,
            "[2001:db8::5]:4000".parse().unwrap()
        );
        let l = [
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.10",
            "s=-",
            "t=0 0",
            "m=audio 4000 RTP/AVP 0",
        ];
        assert!(matches!(
            answer(&sdp(&l), &local()),
            Err(SdpError::Malformed(_))
        ));
        let mut l = head("c=IN IP4 media.example.com");
        l.push("m=audio 4000 RTP/AVP 0");
        assert_eq!(
            answer(&sdp(&l), &local()).unwrap_err(),
            SdpError::UnsupportedAddress("media.example.com".into())
        );
    }

    #[test]
    fn sloppy_phone_sdp_is_still_read() {
        // LF line ends, no s=, b= and a= before t=, an o= with a 20-digit id,
        // trailing spaces, and attributes before c=.
        let text = "v=0\no=- 12345678901234567890123 1 IN IP4 192.0.2.10\nb=AS:64\na=tool:x\nc=IN IP4 192.0.2.10 \nm=audio 4000 RTP/AVP 0\na=sendrecv\nc=IN IP4 192.0.2.11\nb=TIAS:64000\n";
        let (_, n) = answer(text.as_bytes(), &local()).unwrap();
        assert_eq!(n.remote, "192.0.2.11:4000".parse().unwrap());
    }

    #[test]
    fn malformed_offers_are_400() {
        for bad in [
            &b""[..],
            b"hello",
            b"v=1\r\n",
            b"v=0\r\nthis is not sdp\r\n",
            b"v=0\r\nm=audio x RTP/AVP 0\r\n",
            b"\xff\xfe",
        ] {
            let error = answer(bad, &local()).unwrap_err();
            assert!(matches!(error, SdpError::Malformed(_)), "{bad:?}: {error}");
            assert_eq!(error.status_code(), 400);
        }
        assert_eq!(
            answer(&sdp(&head("c=IN IP4 192.0.2.10")), &local()).unwrap_err(),
            SdpError::NoAudio
        );
        let mut l = head("c=IN IP4 192.0.2.10");
        l.push("m=audio 0 RTP/AVP 0");
        assert_eq!(answer(&sdp(&l), &local()).unwrap_err(), SdpError::NoAudio);
    }

    #[test]
    fn origin_is_stable_and_version_moves_when_told() {
        let mut local = local();
        let (first, _) = answer(&typical(), &local).unwrap();
        let (again, _) = answer(&typical(), &local).unwrap();
        assert_eq!(
            lines_of(&first)[1],
            "o=frontdoor 4242 1 IN IP4 198.51.100.7"
        );
        assert_eq!(first, again);
        local.next_version();
        let (changed, _) = answer(&typical(), &local).unwrap();
        assert_eq!(
            lines_of(&changed)[1],
            "o=frontdoor 4242 2 IN IP4 198.51.100.7"
        );
        let fresh = LocalMedia::new(local.addr, 20_002);
        assert_ne!(fresh.session_id, 0);
        assert_eq!(fresh.session_version, 1);
    }

    #[test]
    fn late_offer_round_trip() {
        // We offer (INVITE without SDP, our offer in the 200 OK) …
        let ours = LocalMedia {
            addr: "198.51.100.7".parse().unwrap(),
            port: 20_000,
            session_id: 1,
            session_version: 1,
            srtp: false,
        };
        let our_offer = offer(&ours, Direction::SendRecv);
        let lines = lines_of(&our_offer);
        for expected in [
            "m=audio 20000 RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=ptime:20",
            "a=sendrecv",
        ] {
            assert!(
                lines.contains(&expected.to_owned()),
                "{expected} in {lines:?}"
            );
        }
        // … the caller answers (here: another frontdoor) …
        let theirs = LocalMedia {
            addr: "192.0.2.10".parse().unwrap(),
            port: 4000,
            session_id: 9,
            session_version: 1,
            srtp: false,
        };
        let (their_answer, they_negotiated) = answer(&our_offer, &theirs).unwrap();
        assert_eq!(
            they_negotiated.remote,
            "198.51.100.7:20000".parse().unwrap()
        );
        // … and we read that answer from the ACK.
        let n = parse_answer(&their_answer).unwrap();
        assert_eq!(
            n,
            Negotiated {
                codec: Codec::Pcmu,
                telephone_event: Some(101),
                remote: "192.0.2.10:4000".parse().unwrap(),
                direction: Direction::SendRecv,
                ptime_ms: 20,
                srtp: None,
            }
        );
        // An offer on hold, answered: we only send.
        let (held, _) = answer(&offer(&ours, Direction::SendOnly), &theirs).unwrap();
        assert_eq!(parse_answer(&held).unwrap().direction, Direction::SendOnly);
    }

    #[test]
    fn parse_answer_refusals() {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.push("m=audio 0 RTP/AVP 0");
        assert_eq!(parse_answer(&sdp(&l)).unwrap_err(), SdpError::NoAudio);
        let mut l = head("c=IN IP4 192.0.2.10");
        l.push("m=audio 4000 RTP/AVP 18");
        assert_eq!(parse_answer(&sdp(&l)).unwrap_err(), SdpError::NoCommonCodec);
    }

    #[test]
    fn direction_helpers() {
        for d in [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ] {
            assert_eq!(d.reverse().reverse(), d);
            assert_eq!(d.reverse().sends(), d.receives());
        }
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.name(), "PCMA");
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
    }

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn srtp_offer(crypto: &[&str]) -> Vec<u8> {
        let mut l = head("c=IN IP4 192.0.2.10");
        l.extend([
            "m=audio 4000 RTP/SAVP 0 101",
            "a=rtpmap:101 telephone-event/8000",
        ]);
        l.extend(crypto.iter().copied());
        sdp(&l)
    }

    #[test]
    fn rfc4568_an_srtp_offer_over_tls_is_answered_with_a_key_of_ours() {
        let tls = LocalMedia {
            srtp: true,
            ..local()
        };
        let offer = srtp_offer(&[
            &format!("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}{KEY}"),
            &format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20"),
        ]);
        let (answer, n) = answer(&offer, &tls).unwrap();
        let srtp = n.srtp.clone().expect("SRTP negotiated");
        assert_eq!(srtp.tag, 2, "the first line we speak");
        assert_eq!(srtp.suite, sdes::CryptoSuite::AesCm128HmacSha1_80);
        assert_eq!(&srtp.remote_key[..4], b"YS__");
        assert_ne!(srtp.local_key, srtp.remote_key);
        let lines = lines_of(&answer);
        assert!(
            lines.contains(&"m=audio 20000 RTP/SAVP 0 101".to_owned()),
            "{lines:?}"
        );
        let ours: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with("a=crypto:"))
            .collect();
        assert_eq!(ours.len(), 1, "{lines:?}");
        let ours = sdes::parse(ours[0].strip_prefix("a=crypto:").unwrap()).unwrap();
        assert_eq!((ours.tag, ours.key), (2, srtp.local_key));
        assert!(
            !format!("{n:?}").contains("89, 83"),
            "no key in Debug: {n:?}"
        );
        // A second answer to the same offer: a new key.
        let (_, again) = super::answer(&offer, &tls).unwrap();
        assert_ne!(again.srtp.unwrap().local_key, srtp.local_key);
    }

    #[test]
    fn an_srtp_offer_is_refused_over_plain_transport_or_without_a_line_we_speak() {
        let offer = srtp_offer(&[&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")]);
        assert_eq!(
            answer(&offer, &local()).unwrap_err(),
            SdpError::SrtpNotOverTls
        );
        let tls = LocalMedia {
            srtp: true,
            ..local()
        };
        let mki = srtp_offer(&[&format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"
        )]);
        assert_eq!(answer(&mki, &tls).unwrap_err(), SdpError::NoCommonCrypto);
        assert_eq!(SdpError::NoCommonCrypto.status_code(), 488);
        // A plain offer over TLS stays plain.
        let (answer, n) = answer(&typical(), &tls).unwrap();
        assert!(n.srtp.is_none());
        assert!(!lines_of(&answer).iter().any(|l| l.starts_with("a=crypto")));
    }
}
