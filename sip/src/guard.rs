//! What one source may ask of us: admission control for a port that faces
//! the internet, sans-IO like the rest of this crate (every check takes
//! `now`).
//!
//! - **Scanners.** Requests whose `User-Agent` names a known scanner
//!   (friendly-scanner, sipvicious, sipcli…) are dropped unanswered: an
//!   answer only tells them something listens here.
//! - **Rates.** New INVITEs and REGISTERs per source address are limited
//!   (a burst, then a steady rate; GCRA from the `governor` crate). Over
//!   the rate a request is dropped unanswered before it costs a
//!   transaction.
//! - **Concurrent calls per source**: past the limit an INVITE gets 503
//!   (the user agent counts the calls).
//! - **Exempt**: the carrier's trunk and our own proxies (the trusted
//!   peers) bring every caller from one address; no per-source limit
//!   applies to them, only the global call limit. Nor to this host's
//!   loopback addresses, unless `limit_loopback`.
//!
//! What was shed and why is reported ([`Shed`]) so the driver can count it
//! and warn once per source and minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Addresses or `address/prefix` networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<(IpAddr, u8)>);

impl Networks {
    /// Parse `["192.0.2.10", "198.51.100.0/24", "2001:db8::/32"]`.
    pub fn parse(entries: &[String]) -> Result<Networks, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (entry.as_str(), None),
            };
            let addr: IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("`{entry}` is not an IP address or address/prefix"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("`{entry}`: the prefix must be 0 to {max}"))?,
            };
            nets.push((addr, prefix));
        }
        Ok(Networks(nets))
    }

    /// `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        self.0.iter().any(|(net, prefix)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The limits. Rates are per source address.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// New INVITEs a second, steady (0: no limit).
    pub invites_per_s: u32,
    /// New INVITEs at once before the rate applies.
    pub invite_burst: u32,
    /// REGISTERs a second, steady (0: no limit).
    pub registers_per_s: u32,
    /// REGISTERs at once before the rate applies.
    pub register_burst: u32,
    /// Calls in progress from one source (0: no limit).
    pub calls_per_source: usize,
    /// Substrings of `User-Agent` (any case) whose requests are dropped.
    pub scanner_user_agents: Vec<String>,
    /// Sources no per-source limit applies to (the trusted peers).
    pub exempt: Networks,
    /// Whether the limits apply to this host's own loopback addresses too
    /// (a local proxy or test tool). Default false: loopback is exempt.
    pub limit_loopback: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            invites_per_s: 5,
            invite_burst: 20,
            registers_per_s: 2,
            register_burst: 10,
            calls_per_source: 30,
            scanner_user_agents: DEFAULT_SCANNERS.iter().map(|s| (*s).to_owned()).collect(),
            exempt: Networks::default(),
            limit_loopback: false,
        }
    }
}

impl GuardConfig {
    /// Whether no per-source limit applies to `ip`: a trusted peer, or this
    /// host's loopback unless `limit_loopback`.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        (unmapped(ip).is_loopback() && !self.limit_loopback) || self.exempt.contains(ip)
    }
}

/// User agents of the common SIP scanners.
pub const DEFAULT_SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipsak",
    "sundayddr",
    "iwar",
    "pplsip",
    "voipbuster",
];

/// Why a request was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shed {
    /// Its User-Agent is a scanner's.
    Scanner,
    /// Its source sent new INVITEs faster than the rate.
    InviteRate,
    /// Its source sent REGISTERs faster than the rate.
    RegisterRate,
    /// Its source has as many calls in progress as it may (503).
    SourceCalls,
    /// Every call the engine may carry is in progress (503).
    Full,
}

impl Shed {
    pub fn as_str(self) -> &'static str {
        match self {
            Shed::Scanner => "scanner",
            Shed::InviteRate => "invite_rate",
            Shed::RegisterRate => "register_rate",
            Shed::SourceCalls => "source_calls",
            Shed::Full => "full",
        }
    }
}

type Limiter =
    RateLimiter<IpAddr, HashMapStateStore<IpAddr>, FakeRelativeClock, NoOpMiddleware<Nanos>>;

/// Sources remembered at most (limiter states, warnings): past it the
/// ones idle longest are forgotten.
const MAX_SOURCES: usize = 100_000;
/// One warning per source and kind this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The per-source admission state.
pub struct Guard {
    config: GuardConfig,
    scanners: Vec<String>,
    /// The limiters' clock, set from each check's `now`.
    clock: FakeRelativeClock,
    origin: Option<Instant>,
    elapsed: Duration,
    invites: Option<Limiter>,
    registers: Option<Limiter>,
    warned: HashMap<(IpAddr, Shed), Instant>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("config", &self.config)
            .finish()
    }
}

fn limiter(per_s: u32, burst: u32, clock: &FakeRelativeClock) -> Option<Limiter> {
    let per_s = NonZeroU32::new(per_s)?;
    let burst = NonZeroU32::new(burst).unwrap_or(per_s);
    Some(RateLimiter::new(
        Quota::per_second(per_s).allow_burst(burst),
        HashMapStateStore::default(),
        clock.clone(),
    ))
}

impl Guard {
    pub fn new(config: GuardConfig) -> Guard {
        let clock = FakeRelativeClock::default();
        Guard {
            scanners: config
                .scanner_user_agents
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            invites: limiter(config.invites_per_s, config.invite_burst, &clock),
            registers: limiter(config.registers_per_s, config.register_burst, &clock),
            clock,
            origin: None,
            elapsed: Duration::ZERO,
            warned: HashMap::new(),
            config,
        }
    }

    /// Whether no per-source limit applies to `ip`.
    fn exempt(&self, ip: IpAddr) -> bool {
        self.config.is_exempt(ip)
    }

    /// The configured limit of calls from one source, if `ip` has one.
    pub fn calls_limit(&self, ip: IpAddr) -> Option<usize> {
        (self.config.calls_per_source > 0 && !self.exempt(ip))
            .then_some(self.config.calls_per_source)
    }

    /// Whether a `User-Agent` value is a scanner's.
    pub fn is_scanner(&self, user_agent: &str) -> bool {
        let ua = user_agent.to_ascii_lowercase();
        self.scanners.iter().any(|s| ua.contains(s.as_str()))
    }

    /// A new INVITE (`register` false) or a REGISTER from `ip`: whether
    /// it is within the source's rate.
    pub fn admit(&mut self, now: Instant, ip: IpAddr, register: bool) -> Result<(), Shed> {
        if self.exempt(ip) {
            return Ok(());
        }
        self.set_clock(now);
        let (limiter, shed) = if register {
            (&self.registers, Shed::RegisterRate)
        } else {
            (&self.invites, Shed::InviteRate)
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if limiter.len() >= MAX_SOURCES {
            limiter.retain_recent();
        }
        limiter.check_key(&unmapped(ip)).map_err(|_| shed)
    }

    /// Whether shedding `why` from `ip` deserves a warning now (the first
    /// time in [`WARN_EVERY`]); the rest are only counted.
    pub fn should_warn(&mut self, now: Instant, ip: IpAddr, why: Shed) -> bool {
        if self.warned.len() >= MAX_SOURCES {
            self.warned
                .retain(|_, at| now.saturating_duration_since(*at) < WARN_EVERY);
        }
        match self.warned.get(&(ip, why)) {
            Some(at) if now.saturating_duration_since(*at) < WARN_EVERY => false,
            _ => {
                if self.warned.len() < MAX_SOURCES {
                    self.warned.insert((ip, why), now);
                }
                true
            }
        }
    }

    /// Moves the limiters' clock to `now` (it never goes back).
    fn set_clock(&mut self, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        let elapsed = now.saturating_duration_since(origin);
        if elapsed > self.elapsed {
            self.clock.advance(elapsed - self.elapsed);
            self.elapsed = elapsed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn networks_match_addresses_and_prefixes() {
        let nets = Networks::parse(&[
            "192.0.2.10".into(),
            "198.51.100.0/24".into(),
            "2001:db8::/32".into(),
        ])
        .expect("valid");
        assert!(nets.contains(ip("192.0.2.10")));
        assert!(!nets.contains(ip("192.0.2.11")));
        assert!(nets.contains(ip("198.51.100.200")));
        assert!(!nets.contains(ip("198.51.101.1")));
        assert!(nets.contains(ip("::ffff:192.0.2.10")));
        assert!(nets.contains(ip("2001:db8:1::5")));
        assert!(!nets.contains(ip("2001:db9::1")));
        let everything = Networks::parse(&["0.0.0.0/0".into()]).expect("valid");
        assert!(everything.contains(ip("203.0.113.9")));
        assert!(!Networks::default().contains(ip("127.0.0.1")));
        for bad in ["nonsense", "192.0.2.1/33", "::/129", "192.0.2.1/x", ""] {
            assert!(Networks::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate_and_others_are_untouched() {
        let mut guard = Guard::new(GuardConfig {
            invites_per_s: 5,
            invite_burst: 10,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let flood = ip("203.0.113.9");
        assert_eq!(
            guard.calls_limit(ip("127.0.0.1")),
            None,
            "loopback is exempt"
        );
        let admitted = (0..100)
            .filter(|_| guard.admit(t0, flood, false).is_ok())
            .count();
        assert_eq!(admitted, 10, "the burst");
        assert_eq!(guard.admit(t0, flood, false), Err(Shed::InviteRate));
        // Another source is not affected.
        assert!(guard.admit(t0, ip("198.51.100.7"), false).is_ok());
        // One second later: five more.
        let t1 = t0 + Duration::from_secs(1);
        let admitted = (0..100)
            .filter(|_| guard.admit(t1, flood, false).is_ok())
            .count();
        assert_eq!(admitted, 5, "the rate");
        // REGISTERs have their own limit.
        assert!(guard.admit(t1, flood, true).is_ok());
    }

    #[test]
    fn exempt_sources_and_a_zero_rate_are_never_limited() {
        let mut guard = Guard::new(GuardConfig {
            invites_per_s: 1,
            invite_burst: 1,
            registers_per_s: 0,
            calls_per_source: 2,
            exempt: Networks::parse(&["192.0.2.0/24".into()]).expect("valid"),
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let trunk = ip("192.0.2.1");
        assert!((0..1000).all(|_| guard.admit(t0, trunk, false).is_ok()));
        assert_eq!(guard.calls_limit(trunk), None);
        let other = ip("203.0.113.9");
        assert_eq!(guard.calls_limit(other), Some(2));
        assert!((0..1000).all(|_| guard.admit(t0, other, true).is_ok()));
    }

    #[test]
    fn scanners_are_known_by_their_user_agent_in_any_case() {
        let guard = Guard::new(GuardConfig::default());
        assert!(guard.is_scanner("friendly-scanner"));
        assert!(guard.is_scanner("SIPVicious 0.3.4"));
        assert!(guard.is_scanner("sipcli/v1.8"));
        assert!(!guard.is_scanner("baresip v1.0.0 (x86_64/linux)"));
        assert!(!guard.is_scanner("Yealink SIP-T46S"));
    }

    #[test]
    fn a_shed_source_is_warned_about_once_a_minute() {
        let mut guard = Guard::new(GuardConfig::default());
        let t0 = Instant::now();
        let src = ip("203.0.113.9");
        assert!(guard.should_warn(t0, src, Shed::InviteRate));
        assert!(!guard.should_warn(t0 + Duration::from_secs(30), src, Shed::InviteRate));
        assert!(guard.should_warn(t0, src, Shed::Scanner), "another reason");
        assert!(guard.should_warn(t0 + WARN_EVERY, src, Shed::InviteRate));
    }
}
