#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end: the real binary in demo mode under tmux. Opens a case through
//! the dialog, sees GSEM accept it and HPE answer, comments on it, sees the
//! comment acknowledged, quits, and checks that the process exited 0 and
//! left the terminal as it found it. Then the other ways out: SIGTERM, and
//! the terminal going away with and without the SIGHUP that usually comes
//! with it.
//!
//! Runs on its own tmux server (`-L`), so it never touches the user's
//! sessions; HOME and the XDG directories point at a tempdir, so no real
//! config is found and the demo's files go there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use regex::Regex;

const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;
const SESSION: &str = "e2e";

/// A tmux server of this test's own, killed on drop.
struct Tmux {
    socket: String,
    config: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", SESSION])
    }

    /// Keys as tmux names them (`Enter`, `C-s`, `Escape`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Text typed literally.
    fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", SESSION, "-l", text]);
    }

    fn pane(&self, format: &str) -> String {
        self.ok(&["display-message", "-p", "-t", SESSION, format])
            .trim()
            .to_owned()
    }

    /// Waits for the pane to die, then for tmux to report its exit status.
    ///
    /// tmux marks the pane dead when its pty closes and learns the status
    /// when it reaps the process. tmux 3.3 built with libutempter sets
    /// SIGCHLD to SIG_DFL while the utempter helper runs, which it does on
    /// that very pty close: a SIGCHLD arriving then is lost and the zombie
    /// waits for the next one. Sending tmux a SIGCHLD makes it reap.
    fn exit_status(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while self.pane("#{pane_dead}") != "1" {
            assert!(
                Instant::now() < deadline,
                "casebridge did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let server = self.pane("#{pid}");
        loop {
            let status = self.pane("#{pane_dead_status}");
            if !status.is_empty() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tmux reports no exit status (signal: {:?}, process state: {:?})",
                self.pane("#{pane_dead_signal}"),
                process_state(self.pane("#{pane_pid}").parse().unwrap())
            );
            let _ = Command::new("kill").args(["-s", "CHLD", &server]).status();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls the screen until `done` holds; panics with the screen and the
    /// demo's log after `timeout`.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        log_dir: &Path,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}. Screen:\n{screen}\nEnd of the demo's log:\n{}",
                    demo_log(log_dir)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The process's state letter from /proc (`Z` for a zombie), `None` once it
/// is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Waits until the process has exited (reaped or a zombie).
fn wait_exited(pid: u32, timeout: Duration) -> Result<(), char> {
    let deadline = Instant::now() + timeout;
    loop {
        match process_state(pid) {
            None | Some('Z') => return Ok(()),
            Some(state) if Instant::now() > deadline => return Err(state),
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The demo's log files, whatever is left of them (the demo removes its
/// directory on a clean exit).
fn demo_log(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return "(no demo directory)".into();
    };
    for entry in entries.flatten() {
        let logs = entry.path().join("logs");
        for log in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(log.path()).unwrap_or_default());
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A demo console in a pane of a tmux server of its own, its case list on
/// screen.
struct DemoRun {
    tmux: Tmux,
    home: tempfile::TempDir,
    /// Where the demo keeps its store and logs; removed on a clean exit.
    demo_dir: PathBuf,
}

impl DemoRun {
    /// Starts the demo under tmux; `wrap` turns the command that runs the
    /// binary into the pane's shell command. `None` (and a note) without
    /// tmux, outside CI.
    fn start(test: &str, wrap: impl FnOnce(&str, &Path) -> String) -> Option<DemoRun> {
        if !tmux_available() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is missing under CI: .ci/test installs it"
            );
            eprintln!("SKIPPED {test}: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let home = tempfile::tempdir().unwrap();
        let data = home.path().join("data");
        let config = home.path().join("tmux.conf");
        // The dead pane stays, with the exit status, for the checks at the
        // end.
        std::fs::write(&config, "set -g remain-on-exit on\n").unwrap();
        let tmux = Tmux {
            socket: format!("casebridge-e2e-{}-{test}", std::process::id()),
            config,
        };
        let binary = env!("CARGO_BIN_EXE_casebridge");
        let command = format!(
            "env -u CASEBRIDGE_CONFIG -u CASEBRIDGE_LOG -u CASEBRIDGE_OPERATOR HOME='{home}' \
             XDG_CONFIG_HOME='{home}/config' XDG_DATA_HOME='{data}'",
            home = home.path().display(),
            data = data.display(),
        );
        let shell_command = wrap(&format!("{command} '{binary}'"), home.path());
        tmux.ok(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            &shell_command,
        ]);
        let run = DemoRun {
            tmux,
            home,
            demo_dir: data.join("casebridge"),
        };
        run.wait("the case list", 60, &|s| s.contains("Cases: open"));
        Some(run)
    }

    fn wait(&self, what: &str, secs: u64, done: &dyn Fn(&str) -> bool) -> String {
        self.tmux
            .wait_for(what, Duration::from_secs(secs), &self.demo_dir, done)
    }

    /// The pid of the process in the pane.
    fn pane_pid(&self) -> u32 {
        self.tmux.pane("#{pane_pid}").parse().unwrap()
    }

    /// The demo removed its directory on the way out.
    fn assert_demo_dir_removed(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.demo_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "the demo left {left:?}");
    }

    /// Exit status 0, the normal screen back with the demo's parting words,
    /// the directory gone.
    fn assert_clean_exit(&self) {
        let status = self.tmux.exit_status(Duration::from_secs(30));
        assert_eq!(status, "0", "exit status:\n{}", self.tmux.screen());
        assert_eq!(
            self.tmux.pane("#{alternate_on}"),
            "0",
            "the alternate screen was left"
        );
        let screen = self.tmux.screen();
        assert!(
            screen.contains("To use casebridge for real"),
            "the demo's parting words are on the normal screen:\n{screen}"
        );
        assert!(
            !screen.contains("Cases: open"),
            "the console's frame is gone:\n{screen}"
        );
        self.assert_demo_dir_removed();
    }
}

fn plain(command: &str, _home: &Path) -> String {
    command.to_owned()
}

#[test]
fn demo_console_opens_a_case_comments_and_quits_cleanly() {
    let Some(run) = DemoRun::start("quits", plain) else {
        return;
    };
    let tmux = &run.tmux;
    let wait = |what: &str, secs: u64, done: &dyn Fn(&str) -> bool| run.wait(what, secs, done);

    // The demo's list, with its banner.
    let screen = tmux.screen();
    assert!(screen.contains("DEMO: simulators only"), "{screen}");
    assert!(screen.contains("Waiting on us"), "{screen}");

    // n: the incident picker; the PDU incident has no case yet.
    tmux.keys(&["n"]);
    wait("the incident picker", 10, &|s| s.contains("PDU x1100-pdu2"));
    tmux.type_text("PDU x1100");
    let screen = wait("the PDU incident alone", 10, &|s| {
        !s.contains("nid004521") && s.contains("PDU x1100-pdu2")
    });
    // The list behind the picker shares the line: the number nearest the text.
    let number = Regex::new(r".*(INC\d{7})[^\n]*?PDU x1100-pdu2")
        .unwrap()
        .captures(&screen)
        .unwrap_or_else(|| panic!("no incident number beside the PDU incident:\n{screen}"))[1]
        .to_owned();
    // Enter: the form, prefilled from the incident; Ctrl-s: the question.
    tmux.keys(&["Enter"]);
    wait("the open-case form", 10, &|s| {
        s.contains("cabinet x1100 on a single feed") && s.contains("Priority")
    });
    tmux.keys(&["C-s"]);
    wait(&format!("the confirmation for {number}"), 10, &|s| {
        s.contains(&format!("Open an HPE case for {number}"))
    });
    tmux.keys(&["y"]);
    // Queued, then in the list without HPE's case number until HPE answers
    // (the demo's HPE takes 3 s).
    let requested = Regex::new(&format!(r"{number}\s+requested…")).unwrap();
    wait("the request accepted and the case requested", 15, &|s| {
        s.contains(&format!("new case for {number}: queued")) && requested.is_match(s)
    });

    // Only the new case of that incident is open: filter the list to it.
    tmux.keys(&["/"]);
    tmux.type_text(&number);
    tmux.keys(&["Enter"]);
    let row = Regex::new(&format!(r"{number}\s+(\d{{10}})")).unwrap();
    let screen = wait("HPE's case number", 30, &|s| row.is_match(s));
    let provider_id = row.captures(&screen).unwrap()[1].to_owned();

    // Enter: the case view; c: a comment; Ctrl-s sends it.
    tmux.keys(&["Enter"]);
    let screen = wait("the case view", 10, &|s| {
        s.contains(&provider_id) && s.contains("Timeline")
    });
    let sent_before = screen.matches("✓ sent").count();
    tmux.keys(&["c"]);
    wait("the comment dialog", 10, &|s| s.contains("Ctrl-s"));
    let comment = "Breaker reset at 14:05; feed A is back, please confirm the PDU firmware level.";
    tmux.type_text(comment);
    tmux.keys(&["C-s"]);
    let screen = wait("the comment acknowledged", 30, &|s| {
        s.contains("Breaker reset at 14:05")
            && !s.contains("⧗ pending")
            && s.matches("✓ sent").count() > sent_before
    });
    assert!(
        screen.contains(&format!("comment on {number}")),
        "the status line names the comment:\n{screen}"
    );

    // q: quit. The pane dies with status 0 and the normal screen is back,
    // showing what casebridge printed on leaving.
    tmux.keys(&["q"]);
    run.assert_clean_exit();
}

#[test]
fn demo_console_ends_cleanly_on_sigterm() {
    let Some(run) = DemoRun::start("sigterm", plain) else {
        return;
    };
    let pid = run.pane_pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-s", "TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    run.assert_clean_exit();
}

#[test]
fn demo_console_exits_when_its_pane_is_killed() {
    let Some(run) = DemoRun::start("killed", plain) else {
        return;
    };
    let pid = run.pane_pid();
    // The pty closes: the kernel hangs the terminal up and sends SIGHUP.
    run.tmux.ok(&["kill-server"]);
    if let Err(state) = wait_exited(pid, Duration::from_secs(5)) {
        panic!("casebridge still runs (state {state}) 5 s after its terminal went away");
    }
    run.assert_demo_dir_removed();
}

#[test]
fn demo_console_in_a_session_of_its_own_exits_when_its_terminal_goes_away() {
    // setsid: no SIGHUP reaches the console when the pty closes, only the
    // hangup of its terminal tells it. The shell ignores SIGHUP to outlive
    // the pty and write down the exit status.
    let Some(run) = DemoRun::start("setsid", |command, home| {
        let home = home.display();
        let binary = command.replace(" '", " setsid '");
        format!(
            "trap '' HUP; {binary} <&1 & echo $! > '{home}/pid'; wait $!; echo $? > '{home}/status'"
        )
    }) else {
        return;
    };
    let pid: u32 = std::fs::read_to_string(run.home.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    run.tmux.ok(&["kill-server"]);
    if let Err(state) = wait_exited(pid, Duration::from_secs(5)) {
        panic!("casebridge still runs (state {state}) 5 s after its terminal went away");
    }
    let status_file = run.home.path().join("status");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !status_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&status_file).unwrap().trim(),
        "0",
        "exit status"
    );
    run.assert_demo_dir_removed();
}
