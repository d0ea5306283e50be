//! Counting failed sign-ins (the HTTP login, a phone's REGISTER) per
//! username and per source address; past a limit, further attempts are
//! refused until a back-off period has passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per username and per source address.
pub struct Throttle {
    entries: Mutex<HashMap<String, ThrottleEntry>>,
    per_user: u32,
    per_peer: u32,
    backoff: Duration,
}

struct ThrottleEntry {
    failures: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

impl Throttle {
    pub fn new(per_user: u32, per_peer: u32, backoff: Duration) -> Throttle {
        Throttle {
            entries: Mutex::new(HashMap::new()),
            per_user,
            per_peer,
            backoff,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ThrottleEntry>> {
        // Counters only: a poisoned lock still holds usable numbers.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keys(user: &str, peer: &str) -> [String; 2] {
        [format!("user:{user}"), format!("peer:{peer}")]
    }

    /// How long to wait before trying again, if blocked.
    /// `user` is `None` when the caller vouches for the source (a phone
    /// already registered from there): only the source's count applies.
    pub fn blocked(&self, user: Option<&str>, peer: &str) -> Option<Duration> {
        let now = Instant::now();
        let map = self.lock();
        let [user_key, peer_key] = Self::keys(user.unwrap_or_default(), peer);
        [user.map(|_| user_key), Some(peer_key)]
            .iter()
            .flatten()
            .filter_map(|k| map.get(k).and_then(|e| e.blocked_until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// One more failure for `user` and for `peer`; whether it blocked
    /// either.
    pub fn failed(&self, user: &str, peer: &str) -> bool {
        let mut blocked = false;
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() > 100_000 {
            map.retain(|_, e| {
                now.duration_since(e.since) < self.backoff
                    || e.blocked_until.is_some_and(|u| u > now)
            });
        }
        for (key, limit) in Self::keys(user, peer)
            .into_iter()
            .zip([self.per_user, self.per_peer])
        {
            let e = map.entry(key).or_insert(ThrottleEntry {
                failures: 0,
                since: now,
                blocked_until: None,
            });
            if now.duration_since(e.since) > self.backoff {
                e.failures = 0;
                e.since = now;
            }
            e.failures += 1;
            if e.failures >= limit {
                e.blocked_until = Some(now + self.backoff);
                e.failures = 0;
                e.since = now;
                blocked = true;
            }
        }
        blocked
    }

    /// `user` got in: their count starts again.
    pub fn succeeded(&self, user: &str) {
        self.lock().remove(&format!("user:{user}"));
    }
}
