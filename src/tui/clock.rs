//! Times as the operator reads them: local time, and ages relative to the
//! app's notion of now (set by ticks, so drawing never reads the clock).

use chrono::{DateTime, FixedOffset, Local, Offset, TimeDelta, Utc};

/// The zone times are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The machine's local time zone (daylight saving followed per time).
    Local,
    /// A fixed offset: tests, and sites that want UTC.
    Fixed(FixedOffset),
}

impl Zone {
    fn offset_at(&self, time: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Local => time.with_timezone(&Local).offset().fix(),
            Zone::Fixed(offset) => *offset,
        }
    }

    /// `2025-03-01 14:05`.
    pub fn date_time(&self, time: DateTime<Utc>) -> String {
        time.with_timezone(&self.offset_at(time))
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `14:05` when on the same local day as `now`, else `03-01 14:05`.
    pub fn short(&self, time: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let offset = self.offset_at(time);
        let local = time.with_timezone(&offset);
        if local.date_naive() == now.with_timezone(&offset).date_naive() {
            local.format("%H:%M").to_string()
        } else {
            local.format("%m-%d %H:%M").to_string()
        }
    }
}

/// `now`, `45s`, `12m`, `3h`, `5d`; a time in the future (clock skew) shows
/// as `now`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = now.signed_duration_since(since);
    if delta < TimeDelta::seconds(5) {
        "now".to_owned()
    } else if delta < TimeDelta::minutes(1) {
        format!("{}s", delta.num_seconds())
    } else if delta < TimeDelta::hours(1) {
        format!("{}m", delta.num_minutes())
    } else if delta < TimeDelta::days(2) {
        format!("{}h", delta.num_hours())
    } else {
        format!("{}d", delta.num_days())
    }
}

/// `in 40s` / `due` for a time to come.
pub fn until(when: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if when <= now {
        "due".to_owned()
    } else {
        format!("in {}", age(now, when))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn ages_round_down_to_the_unit() {
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
        let cases = [
            (2, "now"),
            (45, "45s"),
            (12 * 60 + 59, "12m"),
            (3 * 3600, "3h"),
            (47 * 3600, "47h"),
            (5 * 86400, "5d"),
        ];
        for (secs, want) in cases {
            assert_eq!(age(now - TimeDelta::seconds(secs), now), want);
        }
        assert_eq!(age(now + TimeDelta::seconds(30), now), "now");
        assert_eq!(until(now + TimeDelta::seconds(40), now), "in 40s");
        assert_eq!(until(now, now), "due");
    }

    #[test]
    fn fixed_zone_formats_local_time() {
        let zone = Zone::Fixed(FixedOffset::west_opt(8 * 3600).unwrap());
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 20, 0, 0).unwrap();
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 19, 5, 0).unwrap();
        assert_eq!(zone.date_time(t), "2025-03-01 11:05");
        assert_eq!(zone.short(t, now), "11:05");
        assert_eq!(zone.short(t - TimeDelta::days(1), now), "02-28 11:05");
    }
}
