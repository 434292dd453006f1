//! `casebridge hash-password`: the argon2 PHC string for a
//! `[[serve.users]]` `password_hash`, so that no password is ever written
//! in the config.

use std::io::{BufRead, IsTerminal, Write};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::config;

/// Reads the password (asked twice without echo on a terminal, else the
/// first line of stdin) and prints its hash on stdout.
pub(super) fn hash_from_stdin() -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        let first = ask_hidden("Password: ")?;
        let again = ask_hidden("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ: nothing was hashed; run it again");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    let hash = config::hash_password(&password)?;
    writeln!(std::io::stdout().lock(), "{hash}")?;
    Ok(())
}

/// One line typed on the terminal in raw mode, so nothing is echoed.
fn ask_hidden(prompt: &str) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{prompt}")?;
    stderr.flush()?;
    crossterm::terminal::enable_raw_mode()?;
    let typed = read_line_raw();
    // Whatever happened, the terminal gets its normal mode back.
    let restored = crossterm::terminal::disable_raw_mode();
    writeln!(stderr)?;
    restored?;
    typed?.ok_or_else(|| anyhow::anyhow!("interrupted: nothing was hashed"))
}

/// The keys up to Enter; `None` on Ctrl-C, Ctrl-D or Esc.
fn read_line_raw() -> std::io::Result<Option<String>> {
    let mut text = String::new();
    loop {
        let Event::Key(KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            ..
        }) = event::read()?
        else {
            continue;
        };
        let control = modifiers.contains(KeyModifiers::CONTROL);
        match code {
            KeyCode::Enter => return Ok(Some(text)),
            KeyCode::Esc => return Ok(None),
            KeyCode::Char('c' | 'd') if control => return Ok(None),
            KeyCode::Char(c) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            _ => {}
        }
    }
}
