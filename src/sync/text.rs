//! The texts casebridge writes onto incidents, and how a text too long for
//! the instance's journal is cut.

/// Written before every HPE note on the incident, and recognised when it
/// comes back so that it is never sent to HPE again.
pub const MARKER_PREFIX: &str = "[HPE";

/// `correlation_display` of a paired incident.
pub const CORRELATION_DISPLAY: &str = "HPE GSEM";

/// `[HPE 5381923377]`, or `[HPE]` while HPE has not told its case number.
pub fn marker(provider_id: Option<&str>) -> String {
    match provider_id {
        Some(id) => format!("{MARKER_PREFIX} {id}]"),
        None => format!("{MARKER_PREFIX}]"),
    }
}

/// Whether a journal entry starts with our origin marker (`[HPE …]`).
pub fn has_marker(text: &str) -> bool {
    let text = text.trim_start();
    text.strip_prefix(MARKER_PREFIX)
        .is_some_and(|rest| rest.starts_with(']') || rest.starts_with(' '))
}

/// An HPE note as it goes onto the incident.
pub fn hpe_note(provider_id: Option<&str>, text: &str) -> String {
    format!("{} {text}", marker(provider_id))
}

/// The marker that ends a cut text: `… [truncated by casebridge: N of M characters]`.
fn truncation_marker(kept: usize, total: usize) -> String {
    format!("… [truncated by casebridge: {kept} of {total} characters]")
}

/// Fits `text` into `max` characters (Unicode scalar values, as the
/// platform counts). A longer text keeps its beginning and ends in a visible
/// marker saying how much was kept, so the result is exactly `max`
/// characters long and nobody mistakes it for the whole note. The full text
/// stays in casebridge's journal.
pub fn fit(text: &str, max: Option<usize>) -> String {
    let total = text.chars().count();
    let Some(max) = max.filter(|max| total > *max) else {
        return text.to_owned();
    };
    // The marker's length depends on the digits of `kept`; shrinking `kept`
    // never lengthens it, so one correction step settles it.
    let mut kept = max.saturating_sub(truncation_marker(max, total).chars().count());
    let marker_len = truncation_marker(kept, total).chars().count();
    kept = max.saturating_sub(marker_len);
    let head: String = text.chars().take(kept).collect();
    format!("{head}{}", truncation_marker(kept, total))
}

/// Compares a journal entry read back with the text we wrote: the platform
/// may store line ends as `\n` and trim trailing white space.
pub fn same_entry(read: &str, written: &str) -> bool {
    fn norm(s: &str) -> String {
        s.replace("\r\n", "\n").trim_end().to_owned()
    }
    read == written || norm(read) == norm(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(marker(Some("5381923377")), "[HPE 5381923377]");
        assert_eq!(marker(None), "[HPE]");
        assert_eq!(
            hpe_note(Some("5381923377"), "Part shipped"),
            "[HPE 5381923377] Part shipped"
        );
        assert!(has_marker("[HPE 5381923377] Part shipped"));
        assert!(has_marker("  [HPE] x"));
        assert!(!has_marker("[HPEX] x"));
        assert!(!has_marker("see [HPE 1] above"));
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(fit("abc", Some(3)), "abc");
        assert_eq!(fit("abc", None), "abc");
        let long = "x".repeat(100_000);
        assert_eq!(fit(&long, None), long);
    }

    #[test]
    fn long_text_is_cut_to_exactly_max_with_the_marker() {
        let text = "é".repeat(5000);
        let out = fit(&text, Some(4000));
        assert_eq!(out.chars().count(), 4000);
        let marker = "… [truncated by casebridge: 3948 of 5000 characters]";
        assert_eq!(marker.chars().count(), 52);
        assert_eq!(out, format!("{}{marker}", "é".repeat(3948)));
    }

    #[test]
    fn marker_digits_shrinking_is_handled() {
        // With max 60 and 10^6 characters, `kept` falls from two digits to one.
        let text = "a".repeat(1_000_000);
        let out = fit(&text, Some(60));
        assert_eq!(out.chars().count(), 60);
        assert!(out.ends_with("characters]"), "{out}");
        // Even a limit below the marker's length gives a marker, never a panic.
        assert_eq!(
            fit(&text, Some(5)),
            "… [truncated by casebridge: 0 of 1000000 characters]"
        );
    }

    #[test]
    fn entries_compare_across_line_end_normalisation() {
        assert!(same_entry("a\nb", "a\r\nb"));
        assert!(same_entry("a b", "a b  "));
        assert!(!same_entry("a b", "a c"));
    }
}
