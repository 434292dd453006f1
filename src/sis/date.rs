//! GSEM dates: UTC `YYYY-MM-DD hh:mm[:ss]`, optionally followed by `,` and a
//! local time that we ignore (§2). Not ISO 8601.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// A text that is not a GSEM date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a GSEM date: expected UTC `YYYY-MM-DD hh:mm[:ss]` ({reason})")]
pub struct DateError {
    pub input: String,
    pub reason: &'static str,
}

/// Reads a GSEM date as UTC. The local part after `,`, if any, is ignored:
/// the UTC part is the authority.
pub fn parse(text: &str) -> Result<DateTime<Utc>, DateError> {
    let fail = |reason| DateError {
        input: text.to_owned(),
        reason,
    };
    let utc_part = text.split(',').next().unwrap_or_default().trim();
    let (date, time) = utc_part
        .split_once(' ')
        .ok_or_else(|| fail("no space between date and time"))?;
    let [year, month, day] = numbers(date, '-', &[4, 2, 2]).ok_or_else(|| fail("bad date"))?;
    let (hour, minute, second) = match numbers(time, ':', &[2, 2, 2]) {
        Some([h, m, s]) => (h, m, s),
        None => {
            let [h, m] = numbers(time, ':', &[2, 2]).ok_or_else(|| fail("bad time"))?;
            (h, m, 0)
        }
    };
    let date = i32::try_from(year)
        .ok()
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
        .ok_or_else(|| fail("no such day"))?;
    let time = NaiveTime::from_hms_opt(hour, minute, second).ok_or_else(|| fail("no such time"))?;
    Ok(NaiveDateTime::new(date, time).and_utc())
}

/// Writes a date the way we send it: UTC with seconds, no local part.
pub fn format(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Splits `text` at `separator` into exactly `widths.len()` runs of ASCII
/// digits of the given widths.
fn numbers<const N: usize>(text: &str, separator: char, widths: &[usize; N]) -> Option<[u32; N]> {
    let mut parts = text.split(separator);
    let mut out = [0; N];
    for (slot, width) in out.iter_mut().zip(widths) {
        let part = parts.next()?;
        if part.len() != *width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn reads_with_and_without_seconds_and_local_part() {
        assert_eq!(
            parse("2024-04-29 04:52:40").unwrap(),
            utc(2024, 4, 29, 4, 52, 40)
        );
        assert_eq!(
            parse("2024-04-29 04:52").unwrap(),
            utc(2024, 4, 29, 4, 52, 0)
        );
        assert_eq!(
            parse("2024-04-29 04:52:40,2024-04-28 21:52:40").unwrap(),
            utc(2024, 4, 29, 4, 52, 40)
        );
        assert_eq!(
            parse("2024-04-29 04:52,local").unwrap(),
            utc(2024, 4, 29, 4, 52, 0)
        );
    }

    #[test]
    fn writes_utc_with_seconds() {
        assert_eq!(format(utc(2024, 5, 3, 15, 0, 0)), "2024-05-03 15:00:00");
    }

    #[test]
    fn rejects_what_is_not_the_grammar_with_a_value() {
        for bad in [
            "",
            "2024-04-29",
            "2024-04-29T04:52:40",
            "2024-04-29T04:52:40Z",
            "24-04-29 04:52",
            "2024-4-29 04:52",
            "2024-04-29 4:52",
            "2024-04-29 04:52:40.5",
            "2024-02-30 04:52",
            "2024-04-29 24:00",
            "2024-04-29 04:60",
            "+024-04-29 04:52",
            "2024-04-29 04:52:40:01",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.input, bad);
        }
        assert_eq!(
            parse("2024-02-30 04:52").unwrap_err().to_string(),
            "`2024-02-30 04:52` is not a GSEM date: expected UTC `YYYY-MM-DD hh:mm[:ss]` (no such day)"
        );
    }
}
