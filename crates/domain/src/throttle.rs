//! Brute-force protection for logins: failures are counted per account and per client
//! address, and past a threshold each further failure locks the key out for a growing wait
//! (Keycloak's defaults: 30 failures, then 60 s more per failure up to 15 minutes; the count
//! starts again 12 hours after the last failure).
//!
//! Every password checked counts: a malformed login name (against the client address), and the
//! password given to `changePassword`, `disableTotp`, `regenerateRecoveryCodes` and
//! `deleteMyAccount` (against the account and the address). The same counters limit password
//! reset requests per typed address and per client address ([`ThrottlePolicy::rate_limit`]).

use time::{Duration, OffsetDateTime};

/// How failures turn into lockouts for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before the first lockout.
    pub max_failures: u32,
    /// The first lockout's length, added again at every further failure.
    pub wait_increment: Duration,
    pub max_wait: Duration,
    /// A failure this long after the previous one counts as the first again.
    pub reset_after: Duration,
}

impl ThrottlePolicy {
    /// Keycloak's defaults, for accounts.
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        max_failures: 30,
        wait_increment: Duration::seconds(60),
        max_wait: Duration::minutes(15),
        reset_after: Duration::hours(12),
    };

    /// At most `requests` in a row, each less than `window` after the previous one; the last
    /// of them locks the key for `window`, and once the key is released a single further
    /// request within `window` locks it again. `requests` 0 turns the limit off.
    pub const fn rate_limit(requests: u32, window: Duration) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: requests,
            wait_increment: window,
            max_wait: window,
            reset_after: window,
        }
    }

    /// When the key, now at `failures` failures in a row, is locked until (after a failure
    /// at `now`); `None` below the threshold.
    pub fn locked_until(&self, failures: u32, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if failures < self.max_failures || self.max_failures == 0 {
            return None;
        }
        let steps = i32::try_from(failures - self.max_failures + 1).unwrap_or(i32::MAX);
        let wait = self.wait_increment.saturating_mul(steps).min(self.max_wait);
        Some(now + wait)
    }

    /// Where the count starts from for a failure at `now` after one at `last`.
    pub fn counts_from(&self, last: OffsetDateTime, now: OffsetDateTime) -> bool {
        now - last < self.reset_after
    }
}

/// The key that counts the failures of an account.
pub fn account_key(user: crate::UserId) -> String {
    format!("account:{user}")
}

/// The key that counts the failures of a well-formed login name that matches no account.
pub fn unknown_login_key(normalized_login: &str) -> String {
    format!("login:{normalized_login}")
}

/// The key that counts the failures from a client address.
pub fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// The key that counts password reset requests for a typed (normalized) e-mail address,
/// whether or not an account has it, so that a limit tells nothing about accounts.
pub fn reset_email_key(normalized_email: &str) -> String {
    format!("reset-email:{normalized_email}")
}

/// The key that counts password reset requests from a client address.
pub fn reset_address_key(address: &str) -> String {
    format!("reset-address:{address}")
}

/// The refusal for a locked key. It does not say whether the account exists: unknown login
/// names are locked out the same way.
pub fn locked_out(until: OffsetDateTime, now: OffsetDateTime) -> String {
    let minutes = ((until - now).whole_seconds() + 59).div_euclid(60).max(1);
    format!(
        "too many failed logins: try again in about {minutes} minute{}, or ask an administrator \
         to clear the lockout",
        if minutes == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_starts_at_the_threshold_grows_by_the_increment_and_stops_at_the_maximum() {
        let policy = ThrottlePolicy::ACCOUNT;
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(policy.locked_until(29, now), None);
        assert_eq!(
            policy.locked_until(30, now),
            Some(now + Duration::seconds(60))
        );
        assert_eq!(
            policy.locked_until(31, now),
            Some(now + Duration::seconds(120))
        );
        assert_eq!(
            policy.locked_until(44, now),
            Some(now + Duration::minutes(15))
        );
        assert_eq!(
            policy.locked_until(1000, now),
            Some(now + Duration::minutes(15))
        );
    }

    #[test]
    fn a_rate_limit_lets_its_requests_through_then_one_per_window() {
        let window = Duration::hours(1);
        let policy = ThrottlePolicy::rate_limit(3, window);
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(policy.locked_until(1, now), None);
        assert_eq!(policy.locked_until(2, now), None);
        // The third is served and locks the key for the window; after it, each one does.
        assert_eq!(policy.locked_until(3, now), Some(now + window));
        assert_eq!(policy.locked_until(4, now), Some(now + window));
        assert!(policy.counts_from(now, now + Duration::minutes(59)));
        assert!(!policy.counts_from(now, now + window));
        assert_eq!(
            ThrottlePolicy::rate_limit(0, window).locked_until(99, now),
            None
        );
    }

    #[test]
    fn the_refusal_says_how_long_to_wait_in_whole_minutes() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert!(locked_out(now + Duration::seconds(61), now).contains("about 2 minutes"));
        assert!(locked_out(now + Duration::seconds(10), now).contains("about 1 minute,"));
    }

    #[test]
    fn failures_twelve_hours_apart_start_the_count_again() {
        let policy = ThrottlePolicy::ACCOUNT;
        let last = OffsetDateTime::UNIX_EPOCH;
        assert!(policy.counts_from(last, last + Duration::hours(11)));
        assert!(!policy.counts_from(last, last + Duration::hours(12)));
    }
}
