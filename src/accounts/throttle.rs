//! Brute-force protection as a pure policy: the caller loads a [`ThrottleState`] (per account,
//! per IP, …), asks [`ThrottleState::check`] before verifying anything, and stores what
//! [`ThrottleState::record_failure`] returns *before* verifying (the attempt is counted in
//! advance with a compare-and-set, so concurrent guesses cannot all slip in), then settles:
//! a success clears the key or takes the count back ([`ThrottleState::refund`]).
//!
//! A few failures are free (typos); after that each failure locks for twice as long as the
//! previous one, up to a cap. Exponential growth stops online guessing without letting a
//! stranger lock a citizen out for more than an hour.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures tolerated within the window before the first lockout; the failure that
    /// reaches this count locks.
    pub free_failures: u32,
    pub base_lockout: Duration,
    pub max_lockout: Duration,
    /// Quiet time after which the failure count starts over.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures, then 30 s doubling up to 1 h; the count is forgotten after 15 quiet minutes.
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_lockout: Duration::seconds(30),
            max_lockout: Duration::hours(1),
            window: Duration::minutes(15),
        }
    }
}

impl ThrottlePolicy {
    /// The lockout imposed once `failures` failures are on record: none below
    /// `free_failures`, then `base × 2^(failures − free_failures)`, never above `max_lockout`.
    pub fn lockout_after(&self, failures: u32) -> Option<Duration> {
        let exponent = failures.checked_sub(self.free_failures)?;
        let lockout = 2_i32
            .checked_pow(exponent)
            .and_then(|factor| self.base_lockout.checked_mul(factor))
            .unwrap_or(self.max_lockout);
        Some(lockout.min(self.max_lockout))
    }
}

/// How long until the next attempt is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up and at least 1, as `Retry-After` and
    /// `AppError::RateLimited` want it.
    pub fn to_std(self) -> std::time::Duration {
        let millis = self.0.num_milliseconds();
        let secs = millis.saturating_add(999) / 1000;
        std::time::Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1))
    }
}

/// What is stored between attempts. `Default` is the clean state (no failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Consecutive failures in the current window.
    pub failures: u32,
    /// When the first failure of the current window happened.
    pub window_started_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl ThrottleState {
    /// `Err` while locked. Attempts refused here must not be verified nor recorded.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), RetryAfter> {
        match self.locked_until {
            Some(until) if until > now => Err(RetryAfter(until - now)),
            _ => Ok(()),
        }
    }

    /// The state after one more failure at `now`.
    ///
    /// The count starts over once `policy.window` has passed both since the window started
    /// *and since the last lockout ended*. Counting quiet time only from the window start would
    /// make the cap unreachable: with the defaults the lockouts up to the 9th failure already
    /// add up to more than 15 minutes, so an attacker retrying at each lock expiry would be
    /// back to free guesses every quarter hour.
    #[must_use]
    pub fn record_failure(self, now: DateTime<Utc>, policy: &ThrottlePolicy) -> ThrottleState {
        let (failures, window_started_at) = if self.failures == 0 || self.window_over(now, policy) {
            (1, now)
        } else {
            (self.failures.saturating_add(1), self.window_started_at)
        };
        let locked_until = policy.lockout_after(failures).map(|lockout| {
            now.checked_add_signed(lockout)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        });
        ThrottleState {
            failures,
            window_started_at,
            locked_until,
        }
    }

    /// The state after a successful attempt: everything forgotten.
    #[must_use]
    pub fn record_success(self) -> ThrottleState {
        ThrottleState::default()
    }

    /// The state after an attempt counted in advance turned out to be a success: that one
    /// count is taken back (for keys that a success does not clear, such as a client address
    /// shared by many people). A lockout that only the refunded count imposed is lifted.
    #[must_use]
    pub fn refund(self, policy: &ThrottlePolicy) -> ThrottleState {
        let failures = self.failures.saturating_sub(1);
        let locked_until = if policy.lockout_after(failures).is_some() {
            self.locked_until
        } else {
            None
        };
        ThrottleState {
            failures,
            window_started_at: self.window_started_at,
            locked_until,
        }
    }

    fn window_over(&self, now: DateTime<Utc>, policy: &ThrottlePolicy) -> bool {
        let quiet_since = self.locked_until.map_or(self.window_started_at, |until| {
            until.max(self.window_started_at)
        });
        quiet_since
            .checked_add_signed(policy.window)
            .is_some_and(|end| now >= end)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn secs(n: i64) -> Duration {
        Duration::seconds(n)
    }

    /// `n` failures in quick succession (one second apart) starting at `start`.
    fn fail_n(n: u32, start: DateTime<Utc>, policy: &ThrottlePolicy) -> ThrottleState {
        (0..n).fold(ThrottleState::default(), |s, i| {
            s.record_failure(start + secs(i64::from(i)), policy)
        })
    }

    #[test]
    fn default_policy_values() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.free_failures, 5);
        assert_eq!(p.base_lockout, secs(30));
        assert_eq!(p.max_lockout, Duration::hours(1));
        assert_eq!(p.window, Duration::minutes(15));
    }

    #[test]
    fn lockout_grows_exponentially_then_caps() {
        let p = ThrottlePolicy::default();
        for f in 0..5 {
            assert_eq!(p.lockout_after(f), None, "{f}");
        }
        assert_eq!(p.lockout_after(5), Some(secs(30)));
        assert_eq!(p.lockout_after(6), Some(secs(60)));
        assert_eq!(p.lockout_after(7), Some(secs(120)));
        assert_eq!(p.lockout_after(11), Some(secs(1920)));
        assert_eq!(p.lockout_after(12), Some(Duration::hours(1))); // 3840 s capped
        assert_eq!(p.lockout_after(40), Some(Duration::hours(1))); // 2^35 overflows i32
        assert_eq!(p.lockout_after(u32::MAX), Some(Duration::hours(1)));
    }

    #[test]
    fn free_failures_do_not_lock() {
        let p = ThrottlePolicy::default();
        let s = fail_n(4, t0(), &p);
        assert_eq!(s.failures, 4);
        assert_eq!(s.locked_until, None);
        assert_eq!(s.check(t0() + secs(4)), Ok(()));
    }

    #[test]
    fn reaching_free_failures_locks_and_check_reports_remaining_time() {
        let p = ThrottlePolicy::default();
        let s = fail_n(5, t0(), &p);
        let last = t0() + secs(4);
        assert_eq!(s.locked_until, Some(last + secs(30)));
        assert_eq!(s.check(last), Err(RetryAfter(secs(30))));
        assert_eq!(s.check(last + secs(10)), Err(RetryAfter(secs(20))));
    }

    #[test]
    fn lock_expires() {
        let p = ThrottlePolicy::default();
        let s = fail_n(5, t0(), &p);
        let until = s.locked_until.unwrap();
        assert!(s.check(until - Duration::milliseconds(1)).is_err());
        assert_eq!(s.check(until), Ok(()));
        assert_eq!(s.check(until + secs(1)), Ok(()));
    }

    #[test]
    fn failure_after_expiry_doubles_the_lock() {
        let p = ThrottlePolicy::default();
        let s = fail_n(5, t0(), &p);
        let at = s.locked_until.unwrap();
        let s = s.record_failure(at, &p);
        assert_eq!(s.failures, 6);
        assert_eq!(s.locked_until, Some(at + secs(60)));
    }

    #[test]
    fn persistent_attacker_reaches_the_cap() {
        let p = ThrottlePolicy::default();
        let mut s = ThrottleState::default();
        let mut now = t0();
        let mut last_failure = now;
        // Retry the instant each lock expires.
        for _ in 0..20 {
            assert_eq!(s.check(now), Ok(()));
            s = s.record_failure(now, &p);
            last_failure = now;
            now = s.locked_until.unwrap_or(now + secs(1));
        }
        assert_eq!(s.failures, 20, "the count never reset");
        assert_eq!(s.locked_until, Some(last_failure + Duration::hours(1)));
    }

    #[test]
    fn window_resets_the_count_after_quiet_time() {
        let p = ThrottlePolicy::default();
        let s = fail_n(4, t0(), &p);
        // Still inside the window: the 5th failure locks.
        let inside = s.record_failure(t0() + Duration::minutes(14), &p);
        assert_eq!(inside.failures, 5);
        assert!(inside.locked_until.is_some());
        // Window over: counting restarts at 1, no lock.
        let later = t0() + Duration::minutes(15);
        let after = s.record_failure(later, &p);
        assert_eq!(after.failures, 1);
        assert_eq!(after.window_started_at, later);
        assert_eq!(after.locked_until, None);
    }

    #[test]
    fn window_counts_from_the_end_of_the_last_lockout() {
        let p = ThrottlePolicy::default();
        let s = fail_n(9, t0(), &p); // 9th failure locks for 480 s
        let until = s.locked_until.unwrap();
        // 16 min after the window started but only 1 min after the lock ended: no reset.
        let s2 = s.record_failure(until + Duration::minutes(1), &p);
        assert_eq!(s2.failures, 10);
        // A full window of quiet after the lock ended: reset.
        let s3 = s.record_failure(until + Duration::minutes(15), &p);
        assert_eq!(s3.failures, 1);
        assert_eq!(s3.locked_until, None);
    }

    #[test]
    fn success_resets_everything() {
        let p = ThrottlePolicy::default();
        let s = fail_n(6, t0(), &p).record_success();
        assert_eq!(s, ThrottleState::default());
        assert_eq!(s.check(t0()), Ok(()));
        let next = s.record_failure(t0() + secs(100), &p);
        assert_eq!((next.failures, next.locked_until), (1, None));
    }

    #[test]
    fn refund_takes_back_one_count_and_the_lock_it_caused() {
        let p = ThrottlePolicy::default();
        let s = fail_n(3, t0(), &p).refund(&p);
        assert_eq!((s.failures, s.locked_until), (2, None));
        // The 5th count locked; refunding it lifts that lock.
        let s = fail_n(5, t0(), &p).refund(&p);
        assert_eq!((s.failures, s.locked_until), (4, None));
        // Past the free failures a lock stays: earlier counts impose one too.
        let locked = fail_n(7, t0(), &p);
        let s = locked.refund(&p);
        assert_eq!((s.failures, s.locked_until), (6, locked.locked_until));
        assert_eq!(ThrottleState::default().refund(&p).failures, 0);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        use std::time::Duration as Std;
        assert_eq!(RetryAfter(secs(30)).to_std(), Std::from_secs(30));
        assert_eq!(
            RetryAfter(Duration::milliseconds(29_001)).to_std(),
            Std::from_secs(30)
        );
        assert_eq!(
            RetryAfter(Duration::milliseconds(1)).to_std(),
            Std::from_secs(1)
        );
        assert_eq!(RetryAfter(Duration::zero()).to_std(), Std::from_secs(1));
    }
}
