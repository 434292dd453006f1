//! When to try the head of the outbox again.
//!
//! The result is an absolute time that the drainer stores with the row, so a
//! restart resumes the schedule instead of hammering GSEM or forgetting it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A `Retry-After` longer than this is treated as this: honouring an hour
/// keeps GSEM's wish, while a day-long value is more likely a proxy's
/// misconfiguration than a plan, and the case would sit unseen meanwhile.
pub const RETRY_AFTER_LIMIT: Duration = Duration::from_secs(3600);

/// Capped exponential backoff with "equal jitter": each delay lies between
/// half and all of `min(cap, start * 2^(failures-1))`, so retries of many
/// engines spread out but never wait longer than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub start: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn new(start: Duration, cap: Duration) -> Self {
        Self {
            start,
            cap: cap.max(start),
        }
    }

    /// The delay after `failures` failed attempts in a row (1 for the first
    /// failure). `jitter` is a fraction in `[0, 1]`; values outside are
    /// clamped.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        let base = self
            .start
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.cap)
            .min(self.cap);
        let jitter = if jitter.is_nan() {
            1.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        base.mul_f64(0.5 + 0.5 * jitter)
    }

    /// The absolute time of the next attempt: the backoff delay, or GSEM's
    /// `Retry-After` when that is later.
    pub fn next_attempt_at(
        &self,
        now: DateTime<Utc>,
        failures: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> DateTime<Utc> {
        let mut delay = self.delay(failures, jitter);
        if let Some(asked) = retry_after {
            delay = delay.max(asked.min(RETRY_AFTER_LIMIT));
        }
        now + chrono::Duration::from_std(delay).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110
/// §10.2.3). A date in the past means "now"; anything else is ignored.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A fresh fraction in `[0, 1]` for [`Backoff::delay`]. std's `RandomState`
/// is seeded randomly per process and advanced per instance, which is all
/// the randomness jitter needs, without another dependency.
pub fn jitter() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
    }

    #[test]
    fn doubles_from_start_up_to_the_cap() {
        let b = backoff();
        let full: Vec<u64> = (1..=8)
            .map(|n| b.delay(n, 1.0).as_millis() as u64)
            .collect();
        assert_eq!(full, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        let half: Vec<u64> = (1..=6)
            .map(|n| b.delay(n, 0.0).as_millis() as u64)
            .collect();
        assert_eq!(half, [500, 1000, 2000, 4000, 8000, 15000]);
    }

    #[test]
    fn zero_failures_counts_as_the_first() {
        assert_eq!(backoff().delay(0, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn huge_failure_counts_stay_at_the_cap() {
        let b = backoff();
        for n in [31, 32, 33, 1000, u32::MAX] {
            assert_eq!(b.delay(n, 1.0), Duration::from_secs(30), "failures {n}");
        }
    }

    #[test]
    fn jitter_is_clamped() {
        let b = backoff();
        assert_eq!(b.delay(2, -3.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, 7.0), Duration::from_secs(2));
        assert_eq!(b.delay(2, f64::NAN), Duration::from_secs(2));
        assert_eq!(b.delay(2, 0.5), Duration::from_millis(1500));
    }

    #[test]
    fn a_cap_below_start_is_raised_to_start() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.delay(4, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn next_attempt_is_absolute_and_honours_retry_after() {
        let now = Utc.with_ymd_and_hms(2024, 4, 29, 4, 57, 50).unwrap();
        let b = backoff();
        assert_eq!(
            b.next_attempt_at(now, 3, None, 1.0),
            Utc.with_ymd_and_hms(2024, 4, 29, 4, 57, 54).unwrap()
        );
        // Retry-After later than the backoff wins ...
        assert_eq!(
            b.next_attempt_at(now, 1, Some(Duration::from_secs(120)), 1.0),
            Utc.with_ymd_and_hms(2024, 4, 29, 4, 59, 50).unwrap()
        );
        // ... an earlier one does not shorten it ...
        assert_eq!(
            b.next_attempt_at(now, 3, Some(Duration::from_secs(1)), 1.0),
            Utc.with_ymd_and_hms(2024, 4, 29, 4, 57, 54).unwrap()
        );
        // ... and an absurd one is limited.
        assert_eq!(
            b.next_attempt_at(now, 1, Some(Duration::from_secs(86_400 * 30)), 1.0),
            Utc.with_ymd_and_hms(2024, 4, 29, 5, 57, 50).unwrap()
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn jitter_is_a_fraction_and_varies() {
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..=1.0).contains(j)));
        let first = draws[0];
        assert!(draws.iter().any(|j| *j != first));
    }
}
