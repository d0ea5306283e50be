//! frontdoor-sip: the SIP protocol core of frontdoor, sans-IO.
//!
//! Nothing in this crate opens a socket, reads a clock or spawns a task. The
//! driver (the `frontdoor` binary) feeds it bytes and the current time and
//! pumps out what it must send, what happened, and when to wake it next:
//!
//! ```text
//! loop {
//!     endpoint.handle_datagram(now, peer, bytes)  // or handle_timeout(now)
//!     while let Some(t) = endpoint.poll_transmit() { send t.bytes to t.peer }
//!     while let Some(e) = endpoint.poll_event()    { act on e (answer, hang up…) }
//!     sleep until endpoint.poll_timeout()
//! }
//! ```
//!
//! Layers, bottom up:
//! - [`message`]: a normalising pre-pass in front of rsip (compact header
//!   forms, folded lines, whitespace before the colon, body framed by
//!   Content-Length), stream framing for TCP, and 400 responses for
//!   malformed requests. One header scanner (`message/scan.rs`) knows where
//!   quoted-strings and `<…>` begin and end; every part of the crate that
//!   splits a header value (lists, name-addr, `;params`, digest
//!   parameters, P-Asserted-Identity) goes through it.
//! - [`sdp`]: offer/answer for G.711 (PCMU, PCMA) and telephone-event.
//! - [`transaction`]: the RFC 3261 §17 transaction state machines, every
//!   timer a value in a table.
//! - [`ua`]: the user agent: dialogs and calls, what the driver talks to.

pub mod digest;
pub mod guard;
pub mod message;
pub mod registrar;
pub mod sdp;
pub mod transaction;
pub mod trunk;
pub mod ua;

use std::fmt;
use std::net::SocketAddr;

/// The transport a message arrived on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// SIP over TLS (RFC 3261 §26.2.1, `transport=tls`): a TCP stream
    /// under TLS; framed like TCP.
    Tls,
}

impl Transport {
    /// RFC 3261 §18: unreliable transports need retransmission timers.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The token used in Via headers (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// The other end of a message: where it came from, or where it goes.
/// For TCP the address names the connection (the driver keeps one
/// connection per remote address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}
