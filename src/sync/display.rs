//! The journal as text: the fallback when `sys_journal_field` cannot be
//! read. With `sysparm_display_value=true` the incident's journal field is
//! one string of every entry, newest first, each under a header
//! `YYYY-MM-DD HH:MM:SS - Display Name (Additional comments)` in the API
//! user's time zone, its text after it and a blank line between entries.
//! Such entries have no sys_id: they are known by their time, author and
//! text instead ([`entry_key`]), so two identical entries by one person in
//! one second are one.

use chrono::{NaiveDateTime, TimeZone};
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::config::Journal;
use crate::servicenow::TIME_FORMAT;

/// One entry read from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEntry {
    /// UTC.
    pub created_on: NaiveDateTime,
    /// The author's display name, as the header shows it.
    pub author: String,
    pub text: String,
}

/// The label the platform puts in the header of `journal`'s entries.
pub fn label(journal: Journal) -> &'static str {
    match journal {
        Journal::Comments => "Additional comments",
        Journal::WorkNotes => "Work notes",
    }
}

/// The identity of an entry by what it says: its second (UTC), its author's
/// user name and a hash of its text. The same key is computed for entries
/// read from `sys_journal_field`, so that a comment seen both ways is one.
pub fn entry_key(created_on: NaiveDateTime, author: &str, text: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(created_on.format(TIME_FORMAT).to_string());
    hash.update([0]);
    hash.update(author);
    hash.update([0]);
    hash.update(text);
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("text:{hex}")
}

/// Splits the display value of a journal field into its entries, oldest
/// first. Header times are read in `time_zone` (at a DST fold, the earlier
/// reading). Text before the first header is not an entry and is skipped.
pub fn parse(text: &str, label: &str, time_zone: chrono_tz::Tz) -> Vec<TextEntry> {
    let header = format!(
        r"^(\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}) - (.*) \({}\)$",
        regex::escape(label)
    );
    // The pattern is built from an escaped label: it always compiles.
    let Ok(header) = Regex::new(&header) else {
        return Vec::new();
    };
    // (start of the header line, start of the text, time, author)
    let mut heads: Vec<(usize, usize, NaiveDateTime, String)> = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let at_entry_start = start == 0 || text[..start].ends_with("\n\n");
        if at_entry_start && let Some(caps) = header.captures(&text[start..end]) {
            let local = NaiveDateTime::parse_from_str(&caps[1], TIME_FORMAT).ok();
            let utc = local
                .and_then(|l| time_zone.from_local_datetime(&l).earliest())
                .map(|t| t.naive_utc());
            if let Some(utc) = utc {
                heads.push((start, (end + 1).min(text.len()), utc, caps[2].to_owned()));
            }
        }
        start = end + 1;
    }
    let mut entries: Vec<TextEntry> = heads
        .iter()
        .enumerate()
        .map(|(i, (_, body, at, author))| {
            let until = heads.get(i + 1).map_or(text.len(), |next| next.0);
            let raw = &text[*body..until];
            let raw = raw
                .strip_suffix("\n\n")
                .or_else(|| raw.strip_suffix('\n'))
                .unwrap_or(raw);
            TextEntry {
                created_on: *at,
                author: author.clone(),
                text: raw.to_owned(),
            }
        })
        .collect();
    entries.reverse();
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, TIME_FORMAT).unwrap()
    }

    #[test]
    fn splits_newest_first_text_into_entries_oldest_first_in_utc() {
        let text = "2026-03-01 09:15:02 - Jordan Smith (Additional comments)\nsecond\r\nline\n\n\
                    2026-03-01 09:15:02 - casebridge Integration (Additional comments)\n[HPE 1] x\n\n\
                    2026-02-28 23:59:59 - Jordan Smith (Additional comments)\nfirst\n\n";
        let entries = parse(text, "Additional comments", chrono_tz::America::Los_Angeles);
        assert_eq!(
            entries,
            [
                TextEntry {
                    created_on: at("2026-03-01 07:59:59"),
                    author: "Jordan Smith".into(),
                    text: "first".into()
                },
                TextEntry {
                    created_on: at("2026-03-01 17:15:02"),
                    author: "casebridge Integration".into(),
                    text: "[HPE 1] x".into()
                },
                TextEntry {
                    created_on: at("2026-03-01 17:15:02"),
                    author: "Jordan Smith".into(),
                    text: "second\r\nline".into()
                },
            ]
        );
    }

    #[test]
    fn a_header_inside_a_text_or_of_another_journal_is_text() {
        let text = "2026-03-01 10:00:00 - A B (Additional comments)\nsee:\n2026-03-01 09:00:00 - C D (Additional comments)\nquoted\n\n\
                    2026-03-01 08:00:00 - E F (Work notes)\nnot a comment header\n\n";
        let entries = parse(text, "Additional comments", chrono_tz::UTC);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].text,
            "see:\n2026-03-01 09:00:00 - C D (Additional comments)\nquoted\n\n\
             2026-03-01 08:00:00 - E F (Work notes)\nnot a comment header"
        );
        assert!(parse("", "Additional comments", chrono_tz::UTC).is_empty());
    }

    #[test]
    fn the_key_is_time_author_and_text() {
        let t = at("2026-03-01 10:00:00");
        let a = entry_key(t, "jsmith", "ok");
        assert_eq!(a, entry_key(t, "jsmith", "ok"));
        assert!(a.starts_with("text:") && a.len() == 5 + 32, "{a}");
        assert_ne!(a, entry_key(t, "jsmith", "ok "));
        assert_ne!(a, entry_key(t, "jdoe", "ok"));
        assert_ne!(a, entry_key(at("2026-03-01 10:00:01"), "jsmith", "ok"));
    }
}
