//! Keys as data. Every command has a name (the `[ui.keys]` name), a group,
//! default keys and a description; key lookup, the key bar and the help
//! screen are all generated from the one table, so they cannot drift apart.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Which part of the console a command works in. A screen accepts a fixed,
/// ordered list of groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    Global,
    Navigation,
    List,
    CaseActions,
    CaseView,
    Panes,
    Parked,
    Dialog,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Global => "Everywhere",
            Group::Navigation => "Moving around",
            Group::List => "Case list",
            Group::CaseActions => "Case actions (list and case view)",
            Group::CaseView => "Case view",
            Group::Panes => "Tasks, parts and messages",
            Group::Parked => "Parked and quarantined messages",
            Group::Dialog => "Dialogs and editors",
        }
    }
}

macro_rules! commands {
    ($($variant:ident $name:literal $group:ident [$($key:literal),*] $short:literal $help:literal;)*) => {
        /// Everything a key can do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Command { $($variant,)* }

        impl Command {
            pub const ALL: &'static [Command] = &[$(Command::$variant,)*];

            /// The name used in `[ui.keys]`.
            pub fn name(self) -> &'static str {
                match self { $(Command::$variant => $name,)* }
            }

            pub fn group(self) -> Group {
                match self { $(Command::$variant => Group::$group,)* }
            }

            /// A word or two for the key bar.
            pub fn short(self) -> &'static str {
                match self { $(Command::$variant => $short,)* }
            }

            /// The line of the help screen.
            pub fn help(self) -> &'static str {
                match self { $(Command::$variant => $help,)* }
            }

            fn default_keys(self) -> &'static [&'static str] {
                match self { $(Command::$variant => &[$($key),*],)* }
            }
        }
    };
}

commands! {
    Quit "quit" Global ["q"] "quit" "Quit casebridge (Ctrl-c always quits)";
    Help "help" Global ["?"] "help" "Show this help";
    Back "back" Global ["Esc"] "back" "Close the dialog or go back to the list";
    ParkedView "parked" Global ["p"] "parked" "Parked and quarantined messages";
    OpenCase "open_case" Global ["n"] "new case" "Open an HPE case from an incident";
    Up "up" Navigation ["k", "Up"] "up" "Move up";
    Down "down" Navigation ["j", "Down"] "down" "Move down";
    Top "top" Navigation ["g", "Home"] "top" "Go to the top";
    Bottom "bottom" Navigation ["G", "End"] "bottom" "Go to the bottom";
    PageUp "page_up" Navigation ["PageUp", "Ctrl-b"] "page up" "One page up";
    PageDown "page_down" Navigation ["PageDown", "Ctrl-f"] "page down" "One page down";
    NextPane "next_pane" Navigation ["Tab"] "pane" "Next pane or tab";
    PrevPane "prev_pane" Navigation ["Shift-Tab"] "pane" "Previous pane or tab";
    ShowCase "show_case" List ["Enter"] "open" "Show the selected case";
    Filter "filter" List ["/"] "filter" "Filter by text, state:N, system:NAME, is:pending|failed|info|overdue";
    Sort "sort" List ["s"] "sort" "Sort by the next column";
    Reverse "reverse" List ["S"] "reverse" "Reverse the sort order";
    View "view" List ["v"] "open/closed" "Switch between open, closed and all cases";
    Comment "comment" CaseActions ["c"] "comment" "Comment to HPE and the incident";
    Close "close" CaseActions ["x"] "close" "Close the case (closure notes required)";
    Reject "reject" CaseActions ["d"] "reject" "Reject HPE's proposed resolution (state 6)";
    Query "query" CaseActions ["a"] "query" "Ask HPE for the case's status (QUERY INCIDENT)";
    Raw "raw" CaseView ["r"] "raw" "Show the raw text of the selected entry or update";
    Expand "expand" Panes ["Enter", "Space"] "expand" "Expand or collapse the selected row";
    Retry "retry" Parked ["r"] "retry" "Retry the parked message / replay the quarantined one";
    EditRetry "edit_retry" Parked ["e"] "edit+retry" "Edit the parked message's body, then retry";
    Drop "drop" Parked ["x"] "drop" "Drop the parked message / discard the quarantined one";
    Submit "submit" Dialog ["Ctrl-s"] "submit" "Submit the dialog (Enter inserts a new line)";
    NextField "next_field" Dialog ["Tab"] "next field" "Next field";
    PrevField "prev_field" Dialog ["Shift-Tab"] "prev field" "Previous field";
    Confirm "confirm" Dialog ["y"] "yes" "Confirm (in a confirmation; n or Esc declines)";
}

/// A key with its modifiers, normalised so that `G` and `Shift-G` are one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyChord {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> KeyChord {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            // The case of the letter already says Shift; BackTab says it too.
            KeyCode::Char(_) | KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                code
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        let code = match code {
            // Terminals send Ctrl-letters in either case.
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        KeyChord { code, mods }
    }

    pub fn from_event(event: &KeyEvent) -> KeyChord {
        KeyChord::new(event.code, event.modifiers)
    }

    /// Reads `q`, `G`, `?`, `Enter`, `F5`, `Ctrl-r`, `Alt-x`, `Shift-Tab`.
    pub fn parse(text: &str) -> Result<KeyChord, KeymapError> {
        let bad = || KeymapError::BadKey(text.to_owned());
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (flag, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if rest.len() == len {
                break;
            }
            mods |= flag;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "space" => KeyCode::Char(' '),
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=24) => KeyCode::F(n),
                    _ => return Err(bad()),
                },
                _ => return Err(bad()),
            },
        };
        Ok(KeyChord::new(code, mods))
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PageUp"),
            KeyCode::PageDown => f.write_str("PageDown"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A `[ui.keys]` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error(
        "ui.keys: {0:?} is not a console action; the help screen (?) lists them, e.g. comment, open_case, filter"
    )]
    UnknownAction(String),
    #[error(
        "ui.keys: {0:?} is not a key; write one key, e.g. \"n\", \"F5\", \"Ctrl-r\" or \"Shift-Tab\""
    )]
    BadKey(String),
    #[error("ui.keys: Ctrl-c always quits and cannot be given to {0}; choose another key")]
    Reserved(String),
}

/// The key bindings in effect.
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<Command, Vec<KeyChord>>,
    lookup: HashMap<(Group, KeyChord), Command>,
}

impl Keymap {
    /// The defaults.
    pub fn defaults() -> Keymap {
        let keys = Command::ALL
            .iter()
            .map(|&c| {
                let chords = c
                    .default_keys()
                    .iter()
                    .filter_map(|k| KeyChord::parse(k).ok())
                    .collect();
                (c, chords)
            })
            .collect();
        Keymap::build(keys)
    }

    /// The defaults with `[ui.keys]` applied: each entry replaces that
    /// command's keys by the one given, and takes that key away from every
    /// other command so the user's choice always wins.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::defaults();
        for (action, key) in overrides {
            let command = Command::ALL
                .iter()
                .copied()
                .find(|c| c.name() == action)
                .ok_or_else(|| KeymapError::UnknownAction(action.clone()))?;
            let chord = KeyChord::parse(key)?;
            if chord == KeyChord::new(KeyCode::Char('c'), KeyModifiers::CONTROL) {
                return Err(KeymapError::Reserved(action.clone()));
            }
            for chords in map.keys.values_mut() {
                chords.retain(|c| *c != chord);
            }
            map.keys.insert(command, vec![chord]);
        }
        Ok(Keymap::build(map.keys))
    }

    fn build(keys: BTreeMap<Command, Vec<KeyChord>>) -> Keymap {
        let lookup = keys
            .iter()
            .flat_map(|(&c, chords)| chords.iter().map(move |&k| ((c.group(), k), c)))
            .collect();
        Keymap { keys, lookup }
    }

    /// The command a key means on a screen accepting `groups`, first group
    /// first.
    pub fn command(&self, groups: &[Group], chord: KeyChord) -> Option<Command> {
        groups
            .iter()
            .find_map(|&g| self.lookup.get(&(g, chord)).copied())
    }

    pub fn keys(&self, command: Command) -> &[KeyChord] {
        self.keys.get(&command).map_or(&[], Vec::as_slice)
    }

    /// `j/Down` for the help screen, `j` for the key bar.
    pub fn keys_text(&self, command: Command) -> String {
        let keys = self.keys(command);
        if keys.is_empty() {
            return "(none)".to_owned();
        }
        keys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    pub fn first_key(&self, command: Command) -> Option<KeyChord> {
        self.keys(command).first().copied()
    }

    /// The help screen's content: for each group, its commands and keys.
    pub fn help(&self) -> Vec<(Group, Vec<(String, Command)>)> {
        let mut groups: BTreeMap<Group, Vec<(String, Command)>> = BTreeMap::new();
        for &c in Command::ALL {
            groups
                .entry(c.group())
                .or_default()
                .push((self.keys_text(c), c));
        }
        groups.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chord(text: &str) -> KeyChord {
        KeyChord::parse(text).unwrap()
    }

    #[test]
    fn keys_parse_and_print_round_trip() {
        for text in [
            "q",
            "G",
            "?",
            "/",
            "Enter",
            "Esc",
            "F5",
            "Ctrl-r",
            "Alt-x",
            "Shift-Tab",
            "Space",
            "PageDown",
        ] {
            assert_eq!(chord(text).to_string(), text);
        }
        assert_eq!(chord("ctrl-R"), chord("Ctrl-r"));
        assert_eq!(chord("Ctrl--").code, KeyCode::Char('-'));
        assert_eq!(
            KeyChord::parse("Hyper-x"),
            Err(KeymapError::BadKey("Hyper-x".into()))
        );
        assert_eq!(
            KeyChord::parse("F99"),
            Err(KeymapError::BadKey("F99".into()))
        );
    }

    #[test]
    fn shifted_letters_and_backtab_normalise() {
        assert_eq!(
            KeyChord::new(KeyCode::Char('G'), KeyModifiers::SHIFT),
            chord("G")
        );
        assert_eq!(
            KeyChord::new(KeyCode::BackTab, KeyModifiers::SHIFT),
            chord("Shift-Tab")
        );
        assert_eq!(
            KeyChord::new(KeyCode::Tab, KeyModifiers::SHIFT),
            chord("Shift-Tab")
        );
    }

    #[test]
    fn defaults_resolve_by_group_order() {
        let map = Keymap::defaults();
        let list = [
            Group::List,
            Group::CaseActions,
            Group::Navigation,
            Group::Global,
        ];
        assert_eq!(map.command(&list, chord("Enter")), Some(Command::ShowCase));
        assert_eq!(map.command(&list, chord("j")), Some(Command::Down));
        assert_eq!(map.command(&list, chord("c")), Some(Command::Comment));
        assert_eq!(
            map.command(&[Group::Parked], chord("r")),
            Some(Command::Retry)
        );
        assert_eq!(
            map.command(&[Group::CaseView], chord("r")),
            Some(Command::Raw)
        );
        assert_eq!(map.command(&list, chord("r")), None);
    }

    #[test]
    fn an_override_replaces_one_command_and_steals_its_key() {
        let overrides: BTreeMap<String, String> = [
            ("comment".to_owned(), "m".to_owned()),
            ("quit".to_owned(), "c".to_owned()),
        ]
        .into();
        let map = Keymap::with_overrides(&overrides).unwrap();
        let list = [
            Group::List,
            Group::CaseActions,
            Group::Navigation,
            Group::Global,
        ];
        assert_eq!(map.command(&list, chord("m")), Some(Command::Comment));
        assert_eq!(map.command(&list, chord("c")), Some(Command::Quit));
        assert_eq!(map.command(&list, chord("q")), None);
        assert_eq!(map.keys_text(Command::Down), "j/Down");
    }

    #[test]
    fn bad_overrides_name_the_problem() {
        let unknown: BTreeMap<String, String> = [("frobnicate".to_owned(), "z".to_owned())].into();
        assert_eq!(
            Keymap::with_overrides(&unknown).unwrap_err().to_string(),
            "ui.keys: \"frobnicate\" is not a console action; the help screen (?) lists them, e.g. comment, open_case, filter"
        );
        let reserved: BTreeMap<String, String> = [("help".to_owned(), "Ctrl-C".to_owned())].into();
        assert_eq!(
            Keymap::with_overrides(&reserved).unwrap_err(),
            KeymapError::Reserved("help".into())
        );
    }

    #[test]
    fn every_command_has_a_key_and_a_unique_name() {
        let map = Keymap::defaults();
        let mut names = std::collections::HashSet::new();
        for &c in Command::ALL {
            assert!(!map.keys(c).is_empty(), "{c:?}");
            assert!(names.insert(c.name()), "{c:?}");
        }
    }
}
