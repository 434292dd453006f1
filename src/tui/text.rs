//! Wrapping outside text for display: sanitized first, then greedy word
//! wrap by display width (a word longer than the line is broken).

use unicode_segmentation::UnicodeSegmentation;

use super::editor::width;
use super::sanitize::sanitize_for_display;

/// The display lines of `text` at `limit` columns; always at least one.
pub fn wrap(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let clean = sanitize_for_display(text);
    let mut out = Vec::new();
    for line in clean.split('\n') {
        wrap_line(line, limit, &mut out);
    }
    out
}

fn wrap_line(line: &str, limit: usize, out: &mut Vec<String>) {
    let mut current = String::new();
    let mut used = 0;
    for word in line.split_word_bounds() {
        let w = width(word);
        if used + w <= limit {
            current.push_str(word);
            used += w;
            continue;
        }
        if word.trim().is_empty() {
            // Spaces at a break are dropped rather than starting a line.
            out.push(std::mem::take(&mut current));
            used = 0;
            continue;
        }
        if used > 0 && w <= limit {
            let full = std::mem::take(&mut current);
            out.push(full.trim_end().to_owned());
            current.push_str(word);
            used = w;
            continue;
        }
        for g in word.graphemes(true) {
            let gw = width(g);
            if used + gw > limit && used > 0 {
                out.push(std::mem::take(&mut current));
                used = 0;
            }
            current.push_str(g);
            used += gw;
        }
    }
    out.push(current);
}

/// `text` cut to `limit` columns with `…` when it does not fit, sanitized
/// and on one line.
pub fn fit(text: &str, limit: usize) -> String {
    let clean = super::sanitize::sanitize_line(text);
    if width(&clean) <= limit {
        return clean;
    }
    let mut out = String::new();
    let mut used = 0;
    for g in clean.graphemes(true) {
        let w = width(g);
        if used + w + 1 > limit {
            break;
        }
        out.push_str(g);
        used += w;
    }
    if limit > 0 {
        out.truncate(out.trim_end().len());
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_words_and_breaks_long_ones() {
        assert_eq!(
            wrap("the quick brown fox", 10),
            vec!["the quick", "brown fox"]
        );
        assert_eq!(wrap("abcdefghijkl x", 5), vec!["abcde", "fghij", "kl x"]);
        assert_eq!(wrap("a\n\nb", 5), vec!["a", "", "b"]);
        assert_eq!(
            wrap("日本語のテキスト", 6),
            vec!["日本語", "のテキ", "スト"]
        );
    }

    #[test]
    fn wrapping_sanitizes_first() {
        assert_eq!(wrap("x\u{1b}[2Jy", 80), vec!["x␛[2Jy"]);
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("Engineer dispatched", 10), "Engineer…");
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("a\nb", 10), "a⏎b");
    }
}
