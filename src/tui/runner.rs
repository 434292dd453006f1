//! The terminal runner: raw mode and the alternate screen for as long as the
//! console runs, restored on every way out (return, error, panic, SIGTERM,
//! SIGHUP); one `select!` over keys, engine events and a one-second tick;
//! a frame is drawn only when something changed.

use std::io::{self, Stdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use chrono::Utc;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::layout::Rect;
use tokio::sync::mpsc;

use super::app::{Action, App, Settings};
use super::view::render;
use crate::console::ConsoleLink;

/// Why the console could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(
        "cannot use the terminal: {0}. The console needs an interactive terminal; run `casebridge serve` for the headless engine"
    )]
    Terminal(#[source] io::Error),
    #[error("cannot read the keyboard: {0}")]
    Input(#[source] io::Error),
}

/// Puts the terminal back as it was. Safe to call more than once.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Holds the terminal in console mode; dropping it restores the terminal.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> Result<TerminalGuard, TuiError> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Before the message, or it lands in the alternate screen.
            restore();
            previous(info);
        }));
        enable_raw_mode().map_err(TuiError::Terminal)?;
        let guard = execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)
            .map_err(TuiError::Terminal)
            .and_then(|()| {
                Terminal::new(CrosstermBackend::new(io::stdout())).map_err(TuiError::Terminal)
            })
            .map(|terminal| TerminalGuard { terminal });
        if guard.is_err() {
            restore();
        }
        guard
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Reads terminal input on a thread of its own (crossterm's reads block),
/// polling so that it notices when the console ends.
struct InputReader {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl InputReader {
    fn spawn(tx: mpsc::UnboundedSender<io::Result<TermEvent>>) -> InputReader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let next = match event::poll(Duration::from_millis(50)) {
                    Ok(false) => continue,
                    Ok(true) => event::read(),
                    Err(e) => Err(e),
                };
                let failed = next.is_err();
                if tx.send(next).is_err() || failed {
                    break;
                }
            }
        });
        InputReader {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn to_action(event: TermEvent) -> Option<Action> {
    match event {
        TermEvent::Key(key) => Some(Action::Key(key)),
        TermEvent::Paste(text) => Some(Action::Paste(text)),
        TermEvent::Resize(width, height) => Some(Action::Resize { width, height }),
        _ => None,
    }
}

/// Runs the console until the operator quits. Requests go to the engine
/// through `link`; nothing here waits on the engine.
pub async fn run(mut link: ConsoleLink, settings: Settings) -> Result<(), TuiError> {
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size().map_err(TuiError::Terminal)?;
    let mut app = App::new(
        settings,
        Utc::now(),
        Rect::new(0, 0, size.width, size.height),
    );
    let (input_tx, mut input) = mpsc::unbounded_channel();
    let _reader = InputReader::spawn(input_tx);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut terminate = Terminate::new();
    let mut engine_open = true;
    loop {
        if app.take_dirty() {
            guard
                .terminal
                .draw(|frame| render(&app, frame))
                .map_err(TuiError::Terminal)?;
        }
        tokio::select! {
            next = input.recv() => match next {
                Some(Ok(event)) => {
                    if let Some(action) = to_action(event) {
                        app.update(action);
                    }
                }
                Some(Err(e)) => return Err(TuiError::Input(e)),
                None => return Err(TuiError::Input(io::Error::other("the input reader stopped"))),
            },
            event = link.recv(), if engine_open => match event {
                Some(event) => {
                    app.update(Action::Engine(event));
                    // A burst of events makes one frame.
                    while let Some(event) = link.try_recv() {
                        app.update(Action::Engine(event));
                    }
                }
                None => {
                    engine_open = false;
                    app.update(Action::EngineGone);
                }
            },
            _ = tick.tick() => app.update(Action::Tick(Utc::now())),
            () = terminate.recv() => break,
        }
        for (id, request) in app.take_requests() {
            if engine_open && link.send(id, request).is_err() {
                engine_open = false;
                app.update(Action::EngineGone);
            }
        }
        if app.should_quit() {
            break;
        }
    }
    drop(guard);
    Ok(())
}

/// SIGTERM and SIGHUP end the console like `q` does, so the terminal is
/// restored.
struct Terminate {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Terminate {
    fn new() -> Terminate {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::terminate())
                .and_then(|t| Ok((t, signal(SignalKind::hangup())?)))
                .ok();
            Terminate { signals }
        }
        #[cfg(not(unix))]
        Terminate {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((term, hup)) = &mut self.signals {
            tokio::select! {
                _ = term.recv() => return,
                _ = hup.recv() => return,
            }
        }
        std::future::pending::<()>().await;
    }
}
