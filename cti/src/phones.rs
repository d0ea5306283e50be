//! Browser phones: the CTI carries a browser's WebRTC signalling (its
//! offer, the engine's answer, the connection's state) to and from the
//! engine's WebRTC gateway, which the binary owns and hands in
//! ([`crate::Cti::set_phones`]).

use tokio::sync::oneshot;

/// The engine's browser phones, as the CTI sees them.
pub trait BrowserPhones: Send + Sync {
    /// Answers `navigator`'s browser's `offer` (replacing an earlier
    /// connection of theirs): the SDP answer, or why not.
    fn connect(&self, navigator: &str, offer: String) -> oneshot::Receiver<Result<String, String>>;
    /// The navigator answers, on their browser, the call ringing it: why
    /// not, when none rings there.
    fn answer(&self, navigator: &str) -> Result<(), String>;
    /// Ends `navigator`'s browser phone (they turned it off, or logged
    /// out).
    fn remove(&self, navigator: &str);
}
