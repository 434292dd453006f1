//! Dates inside onsite-task and part-order updates.
//!
//! These are looser than GSEM envelope dates: field engineers' systems write
//! date-only ETAs, drop the seconds, add `UTC` or `Z`, use a `T` separator or
//! slashes. A date that cannot be read is kept as the raw text, so the record
//! survives and the operator still sees what HPE wrote.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Serialize;

/// A date as HPE wrote it, with what could be read from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateDate {
    /// The text exactly as it appeared (trimmed of surrounding spaces).
    pub raw: String,
    pub value: DateValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum DateValue {
    /// A moment, converted to UTC. `seconds` says whether HPE gave them.
    DateTime { utc: NaiveDateTime, seconds: bool },
    /// A calendar day with no time: kept as a day, never widened to midnight.
    Date(NaiveDate),
    /// Not a date this parser knows: only `raw` is meaningful.
    Unparsed,
}

impl UpdateDate {
    pub fn parse(text: &str) -> UpdateDate {
        let raw = text.trim().to_string();
        let value = parse_value(&raw).unwrap_or(DateValue::Unparsed);
        UpdateDate { raw, value }
    }

    /// The canonical text: `YYYY-MM-DD HH:MM[:SS]` in UTC, `YYYY-MM-DD`, or
    /// the raw text when unparsed.
    pub fn canonical(&self) -> String {
        match &self.value {
            DateValue::DateTime { utc, seconds: true } => {
                utc.format("%Y-%m-%d %H:%M:%S").to_string()
            }
            DateValue::DateTime {
                utc,
                seconds: false,
            } => utc.format("%Y-%m-%d %H:%M").to_string(),
            DateValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            DateValue::Unparsed => self.raw.clone(),
        }
    }

    pub fn is_parsed(&self) -> bool {
        !matches!(self.value, DateValue::Unparsed)
    }
}

fn parse_value(raw: &str) -> Option<DateValue> {
    // GSEM appends the local time after a comma (`2024-04-29 09:00, 11:00 CEST`);
    // the part before it is UTC.
    let text = raw.split(',').next().unwrap_or(raw).trim();
    let (date_part, rest) = split_date(text)?;
    let date = parse_day(date_part)?;
    let rest = rest.trim_start_matches(['T', 't', ' ']).trim();
    if rest.is_empty() {
        return Some(DateValue::Date(date));
    }
    let (time_part, zone) = split_zone(rest)?;
    let (time, seconds) = parse_time(time_part)?;
    let local = NaiveDateTime::new(date, time);
    let utc = match zone {
        None => local,
        Some(offset) => DateTime::<FixedOffset>::from_naive_utc_and_offset(local - offset, offset)
            .with_timezone(&Utc)
            .naive_utc(),
    };
    Some(DateValue::DateTime { utc, seconds })
}

/// `YYYY-MM-DD` or `YYYY/MM/DD` at the start; returns it and the remainder.
fn split_date(text: &str) -> Option<(&str, &str)> {
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '-' || *c == '/'))
        .map_or(text.len(), |(i, _)| i);
    (end > 0).then(|| text.split_at(end))
}

fn parse_day(text: &str) -> Option<NaiveDate> {
    let normalised = text.replace('/', "-");
    NaiveDate::parse_from_str(&normalised, "%Y-%m-%d").ok()
}

/// Splits a time from a trailing zone: `UTC`, `GMT`, `Z`, `+hh:mm`, `-hhmm`.
/// A zone word this parser does not know makes the whole date unparsed,
/// rather than guessing it is UTC.
fn split_zone(text: &str) -> Option<(&str, Option<FixedOffset>)> {
    let upper = text.to_ascii_uppercase();
    for word in ["UTC", "GMT", "Z"] {
        if let Some(time) = upper.strip_suffix(word) {
            return Some((text[..time.len()].trim_end(), None));
        }
    }
    if let Some(pos) = text.rfind(['+', '-']) {
        let offset = parse_offset(&text[pos..])?;
        return Some((text[..pos].trim_end(), Some(offset)));
    }
    Some((text, None))
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn parse_time(text: &str) -> Option<(NaiveTime, bool)> {
    for (format, seconds) in [("%H:%M:%S%.f", true), ("%H:%M", false)] {
        if let Ok(time) = NaiveTime::parse_from_str(text, format) {
            return Some((time, seconds));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn every_form_reads_or_stays_raw() {
        let cases: &[(&str, DateValue)] = &[
            (
                "2024-04-29 14:00:00",
                DateValue::DateTime {
                    utc: dt("2024-04-29 14:00:00"),
                    seconds: true,
                },
            ),
            (
                "2024-04-30 18:00 UTC",
                DateValue::DateTime {
                    utc: dt("2024-04-30 18:00:00"),
                    seconds: false,
                },
            ),
            (
                "2024-04-30T18:00:05Z",
                DateValue::DateTime {
                    utc: dt("2024-04-30 18:00:05"),
                    seconds: true,
                },
            ),
            (
                "2024-04-30t18:00z",
                DateValue::DateTime {
                    utc: dt("2024-04-30 18:00:00"),
                    seconds: false,
                },
            ),
            (
                "2024-04-30 20:00+02:00",
                DateValue::DateTime {
                    utc: dt("2024-04-30 18:00:00"),
                    seconds: false,
                },
            ),
            (
                "2024-04-30 13:00:00 -0500",
                DateValue::DateTime {
                    utc: dt("2024-04-30 18:00:00"),
                    seconds: true,
                },
            ),
            (
                "2024-04-29 09:00, 11:00 CEST",
                DateValue::DateTime {
                    utc: dt("2024-04-29 09:00:00"),
                    seconds: false,
                },
            ),
            (
                "2024-04-30",
                DateValue::Date(NaiveDate::from_ymd_opt(2024, 4, 30).unwrap()),
            ),
            (
                "2024/04/30",
                DateValue::Date(NaiveDate::from_ymd_opt(2024, 4, 30).unwrap()),
            ),
            ("tomorrow AM", DateValue::Unparsed),
            ("2024-02-30", DateValue::Unparsed),
            ("2024-04-30 25:00", DateValue::Unparsed),
            ("2024-04-30 18:00 CEST", DateValue::Unparsed),
            ("", DateValue::Unparsed),
        ];
        for (text, want) in cases {
            assert_eq!(&UpdateDate::parse(text).value, want, "{text}");
        }
    }

    #[test]
    fn canonical_keeps_precision_and_raw() {
        assert_eq!(
            UpdateDate::parse(" 2024-04-30T18:00Z ").canonical(),
            "2024-04-30 18:00"
        );
        assert_eq!(UpdateDate::parse("2024-04-30").canonical(), "2024-04-30");
        assert_eq!(UpdateDate::parse("next week").canonical(), "next week");
        assert_eq!(UpdateDate::parse(" next week ").raw, "next week");
    }
}
