//! How many fresh phone tokens one account may be given per minute on this instance
//! (`CONGDANSO_QR_TOKENS_PER_MINUTE`, default 30): the home page's script asks for one every
//! couple of minutes per open tab, so anything near the limit is a loop or a script, and each
//! token is a signature and a database read. Tokens stay single use whatever this allows; the
//! limit guards the instance's CPU, so it is kept per instance, in memory, like the name cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Above this many accounts, windows already over are dropped before a new one is added.
const MAX_TRACKED: usize = 50_000;

#[derive(Debug, Default)]
pub struct TokenThrottle {
    windows: Mutex<HashMap<Uuid, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    given: u32,
}

impl TokenThrottle {
    /// Takes one token of `account`'s allowance for the minute that began with its first token:
    /// `Err(wait)` when `per_minute` were given already in that minute.
    pub fn take(&self, account: Uuid, now: DateTime<Utc>, per_minute: u32) -> Result<(), Duration> {
        let minute = chrono::Duration::minutes(1);
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&account) {
            windows.retain(|_, w| now - w.started < minute);
        }
        let window = windows.entry(account).or_insert(Window {
            started: now,
            given: 0,
        });
        if now - window.started >= minute || now < window.started {
            *window = Window {
                started: now,
                given: 0,
            };
        }
        if window.given >= per_minute {
            let left = (window.started + minute - now).num_milliseconds().max(1000);
            return Err(Duration::from_millis(u64::try_from(left).unwrap_or(1000)));
        }
        window.given += 1;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_minute_gives_the_allowance_then_waits_for_the_window_to_end() {
        let throttle = TokenThrottle::default();
        let account = Uuid::now_v7();
        let other = Uuid::now_v7();
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        for _ in 0..3 {
            assert!(throttle.take(account, t0, 3).is_ok());
        }
        let wait = throttle
            .take(account, t0 + chrono::Duration::seconds(20), 3)
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        // Another account has its own allowance.
        assert!(throttle.take(other, t0, 3).is_ok());
        // The window over, a new one starts.
        assert!(
            throttle
                .take(account, t0 + chrono::Duration::seconds(60), 3)
                .is_ok()
        );
    }

    #[test]
    fn many_threads_at_once_get_exactly_the_allowance() {
        let throttle = std::sync::Arc::new(TokenThrottle::default());
        let account = Uuid::now_v7();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let throttle = throttle.clone();
                std::thread::spawn(move || throttle.take(account, now, 30).is_ok())
            })
            .collect();
        let given = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(given, 30);
    }
}
