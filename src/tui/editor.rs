//! A small text editor for comments, notes and dialog fields: graphemes are
//! the unit of movement and deletion, pastes of any length go in at once,
//! long lines wrap softly. Text is kept exactly as typed or pasted (apart
//! from `\r\n` becoming `\n`); only its display is sanitized.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_segmentation::UnicodeSegmentation;

use super::sanitize::sanitize_for_display;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    lines: Vec<String>,
    row: usize,
    /// Byte offset into `lines[row]`, always on a grapheme boundary.
    col: usize,
    multi_line: bool,
    /// Display column kept across vertical moves through shorter lines.
    goal: Option<usize>,
}

/// How one grapheme is drawn: sanitized, a tab as 4 spaces (editor columns
/// must not depend on tab stops for the cursor to stay exact).
fn shown(grapheme: &str) -> std::borrow::Cow<'_, str> {
    if grapheme == "\t" {
        std::borrow::Cow::Borrowed("    ")
    } else {
        sanitize_for_display(grapheme)
    }
}

/// Display width as ratatui measures it, so the cursor lands where ratatui
/// draws.
pub fn width(text: &str) -> usize {
    Span::raw(text).width()
}

fn display_width(line: &str) -> usize {
    line.graphemes(true).map(|g| width(&shown(g))).sum()
}

impl Editor {
    pub fn multi_line(text: &str) -> Editor {
        let mut editor = Editor {
            lines: vec![String::new()],
            row: 0,
            col: 0,
            multi_line: true,
            goal: None,
        };
        editor.insert_str(text);
        editor
    }

    pub fn single_line(text: &str) -> Editor {
        let mut editor = Editor {
            multi_line: false,
            ..Editor::multi_line("")
        };
        editor.insert_str(text);
        editor
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn is_blank(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }

    /// (line, grapheme index) of the cursor.
    pub fn cursor(&self) -> (usize, usize) {
        (
            self.row,
            self.lines[self.row][..self.col].graphemes(true).count(),
        )
    }

    fn line(&self) -> &str {
        &self.lines[self.row]
    }

    /// Inserts typed or pasted text at the cursor. `\r\n` and a lone `\r`
    /// are line breaks; a single-line field turns them into spaces.
    pub fn insert_str(&mut self, text: &str) {
        self.goal = None;
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        let normalized = if self.multi_line {
            normalized
        } else {
            normalized.replace('\n', " ")
        };
        let tail = self.lines[self.row].split_off(self.col);
        let mut parts = normalized.split('\n');
        if let Some(first) = parts.next() {
            self.lines[self.row].push_str(first);
        }
        for part in parts {
            self.row += 1;
            self.lines.insert(self.row, part.to_owned());
        }
        self.col = self.lines[self.row].len();
        self.lines[self.row].push_str(&tail);
    }

    pub fn insert_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.insert_str(c.encode_utf8(&mut buf));
    }

    pub fn newline(&mut self) {
        if self.multi_line {
            self.insert_str("\n");
        }
    }

    fn prev_boundary(&self) -> Option<usize> {
        self.line()[..self.col]
            .grapheme_indices(true)
            .next_back()
            .map(|(i, _)| i)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.line()[self.col..]
            .graphemes(true)
            .next()
            .map(|g| self.col + g.len())
    }

    pub fn left(&mut self) {
        self.goal = None;
        match self.prev_boundary() {
            Some(i) => self.col = i,
            None if self.row > 0 => {
                self.row -= 1;
                self.col = self.line().len();
            }
            None => {}
        }
    }

    pub fn right(&mut self) {
        self.goal = None;
        match self.next_boundary() {
            Some(i) => self.col = i,
            None if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = 0;
            }
            None => {}
        }
    }

    pub fn backspace(&mut self) {
        self.goal = None;
        match self.prev_boundary() {
            Some(i) => {
                let col = self.col;
                self.lines[self.row].replace_range(i..col, "");
                self.col = i;
            }
            None if self.row > 0 => {
                let line = self.lines.remove(self.row);
                self.row -= 1;
                self.col = self.lines[self.row].len();
                self.lines[self.row].push_str(&line);
            }
            None => {}
        }
    }

    pub fn delete(&mut self) {
        self.goal = None;
        match self.next_boundary() {
            Some(i) => {
                let col = self.col;
                self.lines[self.row].replace_range(col..i, "");
            }
            None if self.row + 1 < self.lines.len() => {
                let next = self.lines.remove(self.row + 1);
                self.lines[self.row].push_str(&next);
            }
            None => {}
        }
    }

    pub fn home(&mut self) {
        self.goal = None;
        self.col = 0;
    }

    pub fn end(&mut self) {
        self.goal = None;
        self.col = self.line().len();
    }

    /// Start of the previous word (words as Unicode segments them).
    fn word_start_before(&self) -> usize {
        self.line()[..self.col]
            .split_word_bound_indices()
            .rev()
            .find(|(_, w)| !w.trim().is_empty())
            .map_or(0, |(i, _)| i)
    }

    fn word_end_after(&self) -> usize {
        let rest = &self.line()[self.col..];
        rest.split_word_bound_indices()
            .find(|(_, w)| !w.trim().is_empty())
            .map_or(self.line().len(), |(i, w)| self.col + i + w.len())
    }

    pub fn word_left(&mut self) {
        if self.col == 0 {
            self.left();
        } else {
            self.goal = None;
            self.col = self.word_start_before();
        }
    }

    pub fn word_right(&mut self) {
        if self.col == self.line().len() {
            self.right();
        } else {
            self.goal = None;
            self.col = self.word_end_after();
        }
    }

    pub fn delete_word_back(&mut self) {
        if self.col == 0 {
            self.backspace();
            return;
        }
        let start = self.word_start_before();
        let col = self.col;
        self.lines[self.row].replace_range(start..col, "");
        self.col = start;
        self.goal = None;
    }

    pub fn kill_to_end(&mut self) {
        let col = self.col;
        self.lines[self.row].truncate(col);
        self.goal = None;
    }

    pub fn kill_to_start(&mut self) {
        let col = self.col;
        self.lines[self.row].replace_range(..col, "");
        self.col = 0;
        self.goal = None;
    }

    fn move_vertically(&mut self, down: bool) {
        let goal = self
            .goal
            .unwrap_or_else(|| display_width(&self.line()[..self.col]));
        let target = if down {
            if self.row + 1 >= self.lines.len() {
                self.end();
                return;
            }
            self.row + 1
        } else {
            if self.row == 0 {
                self.home();
                return;
            }
            self.row - 1
        };
        self.row = target;
        let mut col = 0;
        let mut seen = 0;
        for (i, g) in self.line().grapheme_indices(true) {
            let w = width(&shown(g));
            if seen + w > goal {
                break;
            }
            seen += w;
            col = i + g.len();
        }
        self.col = col;
        self.goal = Some(goal);
    }

    pub fn up(&mut self) {
        self.move_vertically(false);
    }

    pub fn down(&mut self) {
        self.move_vertically(true);
    }

    /// Applies an editing key; `false` when the key is not an editing key
    /// (so the dialog may use it).
    pub fn handle_key(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char(c) if !ctrl && !alt => self.insert_char(c),
            KeyCode::Char('a') if ctrl => self.home(),
            KeyCode::Char('e') if ctrl => self.end(),
            KeyCode::Char('w') if ctrl => self.delete_word_back(),
            KeyCode::Char('k') if ctrl => self.kill_to_end(),
            KeyCode::Char('u') if ctrl => self.kill_to_start(),
            KeyCode::Char('b') if alt => self.word_left(),
            KeyCode::Char('f') if alt => self.word_right(),
            KeyCode::Enter if self.multi_line => self.newline(),
            KeyCode::Backspace if ctrl || alt => self.delete_word_back(),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left if ctrl || alt => self.word_left(),
            KeyCode::Right if ctrl || alt => self.word_right(),
            KeyCode::Left => self.left(),
            KeyCode::Right => self.right(),
            KeyCode::Up if self.multi_line => self.up(),
            KeyCode::Down if self.multi_line => self.down(),
            KeyCode::Home => self.home(),
            KeyCode::End => self.end(),
            _ => return false,
        }
        true
    }

    /// Soft-wrapped display rows and the cursor's (row, column) among them.
    fn layout(&self, width_limit: usize) -> (Vec<String>, (usize, usize)) {
        let limit = width_limit.max(1);
        let mut rows = Vec::with_capacity(self.lines.len());
        let mut cursor = (0, 0);
        for (r, line) in self.lines.iter().enumerate() {
            let mut current = String::new();
            let mut used = 0;
            for (i, g) in line.grapheme_indices(true) {
                let s = shown(g);
                let w = width(&s);
                if used + w > limit && used > 0 {
                    rows.push(std::mem::take(&mut current));
                    used = 0;
                }
                if r == self.row && i == self.col {
                    cursor = (rows.len(), used);
                }
                current.push_str(&s);
                used += w;
            }
            if r == self.row && self.col == line.len() {
                if used >= limit {
                    rows.push(std::mem::take(&mut current));
                    used = 0;
                }
                cursor = (rows.len(), used);
            }
            rows.push(current);
        }
        (rows, cursor)
    }

    /// Draws the text into `area`, scrolled so the cursor is visible, and
    /// places the terminal cursor when `focused`.
    pub fn render(&self, frame: &mut Frame, area: Rect, style: Style, focused: bool) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let (rows, (crow, ccol)) = self.layout(usize::from(area.width).saturating_sub(1));
        let height = usize::from(area.height);
        let top = (crow + 1).saturating_sub(height);
        let lines: Vec<Line> = rows
            .into_iter()
            .skip(top)
            .take(height)
            .map(|r| Line::styled(r, style))
            .collect();
        frame.render_widget(Paragraph::new(lines), area);
        if focused {
            let x = area
                .x
                .saturating_add(u16::try_from(ccol).unwrap_or(u16::MAX));
            let y = area
                .y
                .saturating_add(u16::try_from(crow - top).unwrap_or(u16::MAX));
            frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), y));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn graphemes_are_the_unit() {
        // A family emoji (ZWJ sequence) and an e with a combining accent.
        let mut e = Editor::multi_line("a👨‍👩‍👧e\u{301}");
        e.backspace();
        assert_eq!(e.text(), "a👨‍👩‍👧");
        e.left();
        assert_eq!(e.cursor(), (0, 1));
        e.insert_char('ß');
        assert_eq!(e.text(), "aß👨‍👩‍👧");
        e.delete();
        assert_eq!(e.text(), "aß");
    }

    #[test]
    fn paste_splits_lines_and_keeps_the_tail() {
        let mut e = Editor::multi_line("start END");
        for _ in 0..3 {
            e.left();
        }
        e.insert_str("one\r\ntwo\rthree ");
        assert_eq!(e.text(), "start one\ntwo\nthree END");
        assert_eq!(e.cursor(), (2, 6));
        let mut single = Editor::single_line("");
        single.insert_str("a\nb");
        assert_eq!(single.text(), "a b");
    }

    #[test]
    fn long_paste_goes_in_whole() {
        let text: String = (0..5000)
            .map(|i| format!("line {i} «ünïcödé» 日本語\n"))
            .collect();
        let mut e = Editor::multi_line("");
        e.insert_str(&text);
        assert_eq!(e.text(), text);
        assert_eq!(e.cursor(), (5000, 0));
    }

    #[test]
    fn enter_is_a_newline_and_backspace_joins() {
        let mut e = Editor::multi_line("ab");
        e.left();
        assert!(e.handle_key(&key(KeyCode::Enter)));
        assert_eq!(e.text(), "a\nb");
        e.backspace();
        assert_eq!(e.text(), "ab");
        assert!(!Editor::single_line("").handle_key(&key(KeyCode::Enter)));
    }

    #[test]
    fn vertical_moves_keep_the_display_column() {
        let mut e = Editor::multi_line("日本語です\nab\n日本語です");
        e.up();
        assert_eq!(e.cursor(), (1, 2));
        e.up();
        // "日本" is 4 columns wide; the goal column 10 was kept from line 2.
        assert_eq!(e.cursor(), (0, 5));
        e.down();
        e.down();
        assert_eq!(e.cursor(), (2, 5));
    }

    #[test]
    fn words_and_kills() {
        let mut e = Editor::multi_line("close the case now");
        e.delete_word_back();
        assert_eq!(e.text(), "close the case ");
        e.word_left();
        e.word_left();
        assert_eq!(e.cursor(), (0, 6));
        e.kill_to_end();
        assert_eq!(e.text(), "close ");
        e.kill_to_start();
        assert_eq!(e.text(), "");
    }

    #[test]
    fn layout_wraps_and_places_the_cursor() {
        let e = Editor::multi_line("abcdef\n\u{1b}[2J");
        let (rows, cursor) = e.layout(4);
        // The cursor after a full row starts the next one.
        assert_eq!(rows, vec!["abcd", "ef", "␛[2J", ""]);
        assert_eq!(cursor, (3, 0));
        let e = Editor::multi_line("ab\tc");
        assert_eq!(e.layout(10).0, vec!["ab    c"]);
    }
}
