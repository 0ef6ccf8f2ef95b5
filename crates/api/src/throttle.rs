//! Rate limits on what costs or risks the most: login attempts (a password guesser) and
//! job creation (a flood of starts), per user and per client address.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ApiError;

/// Login attempts a minute per user name; an address may make three times as many (a team
/// behind one proxy logs in from one address).
const LOGINS_PER_MINUTE: u32 = 10;
/// Starts (each of which may queue many runs) a minute, per user.
const STARTS_PER_MINUTE: u32 = 60;
/// Refused requests without a login the audit log keeps a minute, per address (beyond it a
/// flood of them would fill the log; they are still refused).
const REFUSALS_PER_MINUTE: u32 = 60;
/// Keys are forgotten once their limit has refilled, checked every this many checks.
const RETAIN_EVERY: u64 = 1024;

/// The server's rate limiters (one per server: limits are per process).
pub struct Throttle {
    logins: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<String>,
    starts: DefaultKeyedRateLimiter<String>,
    refusals: DefaultKeyedRateLimiter<String>,
    checks: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(LOGINS_PER_MINUTE, STARTS_PER_MINUTE)
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Throttle {
    /// Limiters allowing `logins` login attempts a minute per name (three times as many per
    /// address) and `starts` starts a minute per user (each may use a minute's worth at once).
    pub fn new(logins: u32, starts: u32) -> Throttle {
        Throttle {
            logins: RateLimiter::keyed(per_minute(logins)),
            addresses: RateLimiter::keyed(per_minute(logins.saturating_mul(3))),
            starts: RateLimiter::keyed(per_minute(starts)),
            refusals: RateLimiter::keyed(per_minute(REFUSALS_PER_MINUTE)),
            checks: Default::default(),
        }
    }

    /// Counts a login attempt for `username` from `address`; a 429 once either has used
    /// its minute's worth.
    pub(crate) fn login(&self, username: &str, address: Option<IpAddr>) -> Result<(), Limited> {
        self.tidy();
        let by_name = format!("user:{username}");
        let by_address = format!(
            "addr:{}",
            address.map(|a| a.to_string()).unwrap_or_default()
        );
        check(
            &self.addresses,
            &by_address,
            "login attempts from this address",
        )?;
        check(&self.logins, &by_name, "login attempts for this name")
    }

    /// Counts a start by `who`; a 429 once they have used their minute's worth.
    pub(crate) fn start(&self, who: &str) -> Result<(), Limited> {
        self.tidy();
        check(&self.starts, &who.to_string(), "starts")
    }

    /// Whether a refused request from `address` without a login should still be written to
    /// the audit log.
    pub(crate) fn log_refusal(&self, address: Option<&str>) -> bool {
        self.tidy();
        self.refusals
            .check_key(&address.unwrap_or_default().to_string())
            .is_ok()
    }

    fn tidy(&self) {
        let n = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.logins.retain_recent();
            self.addresses.retain_recent();
            self.starts.retain_recent();
            self.refusals.retain_recent();
        }
    }
}

fn check(
    limiter: &DefaultKeyedRateLimiter<String>,
    key: &String,
    what: &str,
) -> Result<(), Limited> {
    limiter.check_key(key).map_err(|not_until| Limited {
        what: what.to_string(),
        wait: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

/// A limit was reached: answered as a 429 `rate_limited` with `Retry-After`.
#[derive(Debug)]
pub(crate) struct Limited {
    what: String,
    wait: Duration,
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let seconds = (self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0)).max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many {}: try again in {seconds} s", self.what),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_limited_by_name_and_by_address() {
        let throttle = Throttle::new(2, 5);
        let here = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..2 {
            assert!(throttle.login("alice", here).is_ok());
        }
        let refused = throttle.login("alice", here).unwrap_err().into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        // The same name from elsewhere is refused too: a guesser cycling addresses.
        assert!(throttle
            .login("alice", Some(IpAddr::from([10, 0, 0, 2])))
            .is_err());
        // Other names from the same address, up to three times the per-name quota in all
        // (the refused attempts above counted against the address as well).
        assert!(throttle.login("bob", here).is_ok());
        assert!(throttle.login("carol", here).is_ok());
        assert!(throttle.login("dave", here).is_ok());
        assert!(throttle.login("erin", here).is_err());
    }

    #[test]
    fn starts_are_limited_per_user() {
        let throttle = Throttle::new(3, 2);
        assert!(throttle.start("alice").is_ok());
        assert!(throttle.start("alice").is_ok());
        assert!(throttle.start("alice").is_err());
        assert!(throttle.start("bob").is_ok());
    }
}
