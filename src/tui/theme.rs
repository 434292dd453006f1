//! Styles, with and without colour. Under `NO_COLOR` every distinction is
//! still made by a modifier (bold, reverse, underline, italic) or by a mark
//! in the text, never by colour alone.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    /// Colour unless the `NO_COLOR` convention (<https://no-color.org>) asks
    /// otherwise: present and not empty.
    pub fn from_env() -> Theme {
        Theme::new(std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()))
    }

    fn fg(&self, color: Color, fallback: Modifier) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new().add_modifier(fallback)
        }
    }

    pub fn text(&self) -> Style {
        Style::new()
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        self.fg(Color::Cyan, Modifier::UNDERLINED)
            .add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red, Modifier::BOLD)
            .add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Yellow, Modifier::BOLD)
    }

    pub fn pending(&self) -> Style {
        self.fg(Color::Yellow, Modifier::ITALIC)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green, Modifier::empty())
    }

    pub fn hpe(&self) -> Style {
        self.fg(Color::Magenta, Modifier::BOLD)
    }

    pub fn local(&self) -> Style {
        self.fg(Color::Blue, Modifier::BOLD)
    }

    pub fn servicenow(&self) -> Style {
        self.fg(Color::Cyan, Modifier::BOLD)
    }

    pub fn focus_border(&self) -> Style {
        self.fg(Color::Cyan, Modifier::BOLD)
            .add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan, Modifier::BOLD)
            .add_modifier(Modifier::BOLD)
    }
}
