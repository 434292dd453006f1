//! Outside text is shown, never obeyed: anything a terminal would act on
//! (C0/C1 controls, escape sequences, bidi overrides that reorder what
//! follows) becomes a visible mark. Only the display is changed; callers
//! keep the original text.

use std::borrow::Cow;

/// Width of a tab stop in displayed text.
const TAB_STOP: usize = 4;

/// The visible mark for a character a terminal would obey, or `None` for an
/// ordinary character. Newline and tab are handled by the caller.
fn mark(c: char) -> Option<Cow<'static, str>> {
    let code = c as u32;
    match c {
        // C0 and DEL have their Control Pictures (␀ … ␟, ␡); ESC shows as ␛
        // so `ESC[2J` reads as `␛[2J`.
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + code).map(|p| Cow::Owned(p.to_string())),
        '\u{7f}' => Some(Cow::Borrowed("␡")),
        // C1 controls (CSI U+009B among them), bidi embeddings, overrides,
        // isolates and marks, line/paragraph separators, BOM.
        '\u{80}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}' => Some(Cow::Owned(format!("⟨U+{code:04X}⟩"))),
        _ => None,
    }
}

fn needs_work(c: char) -> bool {
    c == '\t' || c == '\r' || (c != '\n' && mark(c).is_some())
}

/// Text safe to draw: controls and bidi controls as visible marks, tabs
/// expanded to the next stop of 4, `\r\n` as `\n`, a lone `\r` as `␍`.
/// Newlines stay newlines. Clean text is returned borrowed.
pub fn sanitize_for_display(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_work) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut column = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push('\n');
                column = 0;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\t' => {
                let spaces = TAB_STOP - column % TAB_STOP;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            _ => match mark(c) {
                Some(m) => {
                    column += m.chars().count();
                    out.push_str(&m);
                }
                None => {
                    out.push(c);
                    column += 1;
                }
            },
        }
    }
    Cow::Owned(out)
}

/// One line of text for a single-line field: newlines shown as `⏎`.
pub fn sanitize_line(text: &str) -> String {
    sanitize_for_display(text).replace('\n', "⏎")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            sanitize_for_display("héllo 🌍\nok"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(
            sanitize_for_display("a\u{1b}[2Jb\u{1b}]0;pwn\u{7}"),
            "a␛[2Jb␛]0;pwn␇"
        );
        assert_eq!(sanitize_for_display("x\u{9b}31m"), "x⟨U+009B⟩31m");
        assert_eq!(sanitize_for_display("nul\u{0}del\u{7f}"), "nul␀del␡");
    }

    #[test]
    fn bidi_controls_become_visible() {
        assert_eq!(
            sanitize_for_display("file\u{202e}fdp.exe \u{2066}x\u{2069}\u{200f}\u{61c}"),
            "file⟨U+202E⟩fdp.exe ⟨U+2066⟩x⟨U+2069⟩⟨U+200F⟩⟨U+061C⟩"
        );
    }

    #[test]
    fn tabs_and_newlines_keep_their_meaning() {
        assert_eq!(sanitize_for_display("a\tb\r\nab\tc\rd"), "a   b\nab  c␍d");
        assert_eq!(sanitize_line("one\ntwo"), "one⏎two");
    }
}
