//! The terminal runner: raw mode and the alternate screen for as long as the
//! console runs, restored on every way out (return, error, panic, SIGTERM,
//! SIGHUP); one `select!` over keys, engine events and a one-second tick;
//! a frame is drawn only when something changed.

use std::fs::File;
use std::io::{self, IsTerminal, Stdout};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc as std_mpsc};
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
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{Signal, SignalKind, signal};
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

/// How long the input thread gets to notice the stop flag (it polls every
/// 50 ms) before it is taken for stuck.
const READER_GRACE: Duration = Duration::from_millis(250);

/// Reads terminal input on a thread of its own (crossterm's reads block),
/// polling so that it notices when the console ends.
struct InputReader {
    stop: Arc<AtomicBool>,
    /// Disconnected once the thread has returned.
    finished: std_mpsc::Receiver<()>,
    handle: Option<thread::JoinHandle<()>>,
}

impl InputReader {
    fn spawn(tx: mpsc::UnboundedSender<io::Result<TermEvent>>) -> InputReader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (finishing, finished) = std_mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let _finishing = finishing;
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
            finished,
            handle: Some(handle),
        }
    }

    fn has_finished(&self, within: Duration) -> bool {
        matches!(
            self.finished.recv_timeout(within),
            Err(std_mpsc::RecvTimeoutError::Disconnected) | Ok(())
        )
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(handle) = self.handle.take() else {
            return;
        };
        if !self.has_finished(READER_GRACE) {
            // On a hung-up tty crossterm's read loop gets end of file or EIO
            // forever and never returns (it only leaves on "would block"):
            // give it a stdin that says "nothing yet" so that it comes back
            // and sees the stop flag.
            if let Err(error) = quiet_stdin() {
                tracing::warn!(%error, "cannot replace the hung-up terminal on stdin");
            }
            if !self.has_finished(READER_GRACE) {
                // Joining would hang the exit; the thread ends with the
                // process.
                tracing::warn!("the terminal input thread is stuck; leaving it behind");
                return;
            }
        }
        let _ = handle.join();
    }
}

/// The other end of the socket [`quiet_stdin`] puts on stdin, kept open for
/// the rest of the process: were it closed, reads would see end of file.
static QUIET_PEER: OnceLock<UnixStream> = OnceLock::new();

/// Puts an empty non-blocking socket on stdin, so that reads answer "would
/// block" instead of failing.
fn quiet_stdin() -> io::Result<()> {
    let (ours, peer) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    rustix::stdio::dup2_stdin(&ours)?;
    let _ = QUIET_PEER.set(peer);
    Ok(())
}

/// The terminal crossterm reads (stdin when it is a tty, else /dev/tty), as
/// a descriptor of our own.
fn terminal_fd() -> io::Result<OwnedFd> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        stdin.as_fd().try_clone_to_owned()
    } else {
        File::open("/dev/tty").map(OwnedFd::from)
    }
}

/// Notices the terminal going away (its window closed, the ssh session
/// dropped, the tmux pane killed) even when no SIGHUP comes, e.g. for a
/// console in a session of its own: a hung-up tty polls as "closed".
struct Hangup {
    tty: Option<AsyncFd<OwnedFd>>,
}

impl Hangup {
    fn watch() -> Hangup {
        let tty = terminal_fd()
            // SAFETY: the descriptor is a duplicate of our own, owned by the
            // AsyncFd and closed only when it drops (quiet_stdin replaces
            // fd 0, never this one).
            .and_then(|fd| {
                unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                    .map_err(|e| e.into_parts().1)
            })
            .map_err(|error| tracing::warn!(%error, "cannot watch the terminal for a hangup"))
            .ok();
        Hangup { tty }
    }

    async fn wait(&self) {
        if let Some(tty) = &self.tty {
            while let Ok(mut ready) = tty.readable().await {
                if ready.ready().is_read_closed() || ready.ready().is_error() {
                    return;
                }
                // Only a key: the input thread reads it; wait for the next
                // change.
                ready.clear_ready();
            }
        }
        std::future::pending::<()>().await;
    }
}

/// Once the terminal is gone every write to it fails, and the print macros
/// panic on a failed write: whatever is still said on the way out (ratatui's
/// cursor complaint, the demo's parting words, an error) goes to /dev/null
/// instead. A hung-up tty answers EIO where a live one answers its settings.
fn silence_dead_terminal() {
    let hung_up = |fd: std::os::fd::BorrowedFd<'_>| {
        rustix::termios::tcgetattr(fd).err() == Some(rustix::io::Errno::IO)
    };
    let Ok(null) = File::options().write(true).open("/dev/null") else {
        return;
    };
    if hung_up(io::stdout().as_fd()) {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    if hung_up(io::stderr().as_fd()) {
        let _ = rustix::stdio::dup2_stderr(&null);
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

/// Why the loop ended.
enum End {
    /// `q`, Ctrl-c, SIGTERM or SIGINT.
    Asked,
    /// SIGHUP: mostly the terminal going away, its hangup not seen yet.
    HangupSignal,
    /// The terminal went away.
    HungUp,
}

/// Runs the console until the operator quits, a stop signal comes or the
/// terminal goes away. Requests go to the engine through `link`; nothing
/// here waits on the engine.
pub async fn run(link: ConsoleLink, settings: Settings) -> Result<(), TuiError> {
    let mut guard = TerminalGuard::enter()?;
    let hangup = Hangup::watch();
    let (input_tx, input) = mpsc::unbounded_channel();
    let reader = InputReader::spawn(input_tx);
    let outcome = drive(&mut guard, &hangup, input, link, settings).await;
    let hung_up = match &outcome {
        Ok(End::HungUp) => true,
        Ok(End::Asked) => false,
        // The kernel's SIGHUP, or a draw or a read failing because the
        // terminal is gone, can come before the hangup itself shows: taken
        // for a plain stop, restoring the dead terminal would panic on
        // ratatui's complaint and skip the demo's clean-up.
        Ok(End::HangupSignal) | Err(_) => tokio::time::timeout(HANGUP_SETTLE, hangup.wait())
            .await
            .is_ok(),
    };
    if hung_up {
        tracing::info!("the terminal went away: the console ends");
        // Before the terminal is dropped: ratatui reports a failure to show
        // the cursor with eprintln!, which would panic.
        silence_dead_terminal();
    }
    drop(guard);
    // After the terminal is restored, so that a stuck reader costs nothing
    // visible.
    drop(reader);
    if hung_up {
        return Ok(());
    }
    outcome.map(|_| ())
}

/// How long a failed terminal read or write waits for the hangup that
/// explains it.
const HANGUP_SETTLE: Duration = Duration::from_millis(200);

async fn drive(
    guard: &mut TerminalGuard,
    hangup: &Hangup,
    mut input: mpsc::UnboundedReceiver<io::Result<TermEvent>>,
    mut link: ConsoleLink,
    settings: Settings,
) -> Result<End, TuiError> {
    let size = guard.terminal.size().map_err(TuiError::Terminal)?;
    let mut app = App::new(
        settings,
        Utc::now(),
        Rect::new(0, 0, size.width, size.height),
    );
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
            end = terminate.recv() => return Ok(end),
            () = hangup.wait() => return Ok(End::HungUp),
        }
        for (id, request) in app.take_requests() {
            if engine_open && link.send(id, request).is_err() {
                engine_open = false;
                app.update(Action::EngineGone);
            }
        }
        if app.should_quit() {
            return Ok(End::Asked);
        }
    }
}

/// SIGTERM, SIGHUP and SIGINT end the console like `q` does, so the terminal
/// is restored (raw mode turns Ctrl-c into a key, so SIGINT only comes from
/// `kill`).
struct Terminate {
    term: Option<Signal>,
    hup: Option<Signal>,
    int: Option<Signal>,
}

impl Terminate {
    fn new() -> Terminate {
        let listen = |kind: SignalKind| {
            signal(kind)
                .map_err(|error| tracing::warn!(%error, ?kind, "cannot listen for a stop signal"))
                .ok()
        };
        Terminate {
            term: listen(SignalKind::terminate()),
            hup: listen(SignalKind::hangup()),
            int: listen(SignalKind::interrupt()),
        }
    }

    async fn recv(&mut self) -> End {
        async fn one(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = one(&mut self.term) => End::Asked,
            () = one(&mut self.hup) => End::HangupSignal,
            () = one(&mut self.int) => End::Asked,
        }
    }
}
