#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end: the real binary in demo mode under tmux. Opens a case through
//! the dialog, sees GSEM accept it and HPE answer, comments on it, sees the
//! comment acknowledged, quits, and checks that the process exited 0 and
//! left the terminal as it found it. Then the other ways out: SIGTERM, and
//! the terminal going away with and without the SIGHUP that usually comes
//! with it. Last, the same console with `--remote` against the real
//! `casebridge serve` (a child process in front of the simulators), which
//! is also stopped and started again under it.
//!
//! Runs on its own tmux server (`-L`), so it never touches the user's
//! sessions; HOME and the XDG directories point at a tempdir, so no real
//! config is found and the console's files go there.

mod serve_rig;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use casebridge::sim::servicenow::NewIncident;
use casebridge::store::prelude::*;
use casebridge::store::{Role, Store};
use regex::Regex;
use serve_rig::{ADA_PASSWORD, Backends, free_port, spawn_serve};

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
    /// `logs` after `timeout`.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        logs: &dyn Fn() -> String,
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
                    "timed out after {timeout:?} waiting for {what}. Screen:\n{screen}\n{}",
                    logs()
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

/// The last lines of the log files under `dir` (those in a `logs`
/// directory at any depth: the demo keeps its own in its directory, which
/// it removes on a clean exit).
fn log_tail(dir: &Path) -> String {
    fn collect(dir: &Path, in_logs: bool, text: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, path.ends_with("logs"), text);
            } else if in_logs {
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut text = String::new();
    collect(dir, false, &mut text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Whether tmux is there to run `test`; without it, a note, and a failure
/// under CI.
fn tmux_for(test: &str) -> bool {
    let available = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing under CI: .ci/test installs it"
        );
        eprintln!("SKIPPED {test}: tmux is not installed (apt-get install tmux)");
    }
    available
}

/// A console in a pane of a tmux server of its own, its case list on
/// screen.
struct ConsoleRun {
    tmux: Tmux,
    home: tempfile::TempDir,
    /// The console's data dir: the demo's directory (store and logs,
    /// removed on a clean exit) or a remote console's logs.
    data_dir: PathBuf,
    /// Whose logs (under a directory of theirs) a failed wait shows after
    /// the console's.
    other_logs: Vec<(&'static str, PathBuf)>,
}

impl ConsoleRun {
    /// Starts the console under tmux; `wrap` turns the command that runs
    /// the binary into the pane's shell command. `None` (and a note)
    /// without tmux, outside CI.
    fn start(
        test: &str,
        other_logs: Vec<(&'static str, PathBuf)>,
        wrap: impl FnOnce(&str, &Path) -> String,
    ) -> Option<ConsoleRun> {
        if !tmux_for(test) {
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
        let run = ConsoleRun {
            tmux,
            home,
            data_dir: data.join("casebridge"),
            other_logs,
        };
        run.wait("the case list", 60, &|s| s.contains("Cases: open"));
        Some(run)
    }

    /// From the list with the case selected: Enter opens its view, `c` a
    /// comment, Ctrl-s sends it; returns the screen once the timeline shows
    /// `shown` (the comment's start, which fits one line) acknowledged and
    /// the status line names the comment on `incident`.
    fn comment_from_case_view(
        &self,
        provider_id: &str,
        incident: &str,
        comment: &str,
        shown: &str,
    ) -> String {
        self.tmux.keys(&["Enter"]);
        let screen = self.wait("the case view", 10, &|s| {
            s.contains(provider_id) && s.contains("Timeline")
        });
        let sent_before = screen.matches("✓ sent").count();
        self.tmux.keys(&["c"]);
        self.wait("the comment dialog", 10, &|s| s.contains("Ctrl-s"));
        self.tmux.type_text(comment);
        self.tmux.keys(&["C-s"]);
        let screen = self.wait("the comment acknowledged", 30, &|s| {
            s.contains(shown)
                && !s.contains("⧗ pending")
                && s.matches("✓ sent").count() > sent_before
        });
        assert!(
            screen.contains(&format!("comment on {incident}")),
            "the status line names the comment:\n{screen}"
        );
        screen
    }

    fn wait(&self, what: &str, secs: u64, done: &dyn Fn(&str) -> bool) -> String {
        self.tmux
            .wait_for(what, Duration::from_secs(secs), &|| self.logs(), done)
    }

    fn logs(&self) -> String {
        let mut text = format!("End of the console's log:\n{}", log_tail(&self.data_dir));
        for (whose, dir) in &self.other_logs {
            text.push_str(&format!("\nEnd of {whose}'s log:\n{}", log_tail(dir)));
        }
        text
    }

    /// The pid of the process in the pane.
    fn pane_pid(&self) -> u32 {
        self.tmux.pane("#{pane_pid}").parse().unwrap()
    }

    /// The demo removed its directory on the way out.
    fn assert_demo_dir_removed(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.data_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "the demo left {left:?}\n{}", self.logs());
    }

    /// Exit status 0 and the normal screen back, without the console's
    /// frame; the screen is returned.
    fn assert_exit_0_and_screen_restored(&self) -> String {
        let status = self.tmux.exit_status(Duration::from_secs(30));
        assert_eq!(status, "0", "exit status:\n{}", self.tmux.screen());
        assert_eq!(
            self.tmux.pane("#{alternate_on}"),
            "0",
            "the alternate screen was left"
        );
        let screen = self.tmux.screen();
        assert!(
            !screen.contains("Cases: open"),
            "the console's frame is gone:\n{screen}"
        );
        screen
    }

    /// [`ConsoleRun::assert_exit_0_and_screen_restored`], with the demo's
    /// parting words on the normal screen and its directory gone.
    fn assert_clean_exit(&self) {
        let screen = self.assert_exit_0_and_screen_restored();
        assert!(
            screen.contains("To use casebridge for real"),
            "the demo's parting words are on the normal screen:\n{screen}"
        );
        self.assert_demo_dir_removed();
    }
}

fn plain(command: &str, _home: &Path) -> String {
    command.to_owned()
}

#[test]
fn demo_console_opens_a_case_comments_and_quits_cleanly() {
    let Some(run) = ConsoleRun::start("quits", Vec::new(), plain) else {
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
    // The form's title starts with the same words as the question.
    wait(&format!("the confirmation for {number}"), 10, &|s| {
        s.contains(&format!("Open an HPE case for {number} on "))
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

    let comment = "Breaker reset at 14:05; feed A is back, please confirm the PDU firmware level.";
    run.comment_from_case_view(&provider_id, &number, comment, "Breaker reset at 14:05");

    // q: quit. The pane dies with status 0 and the normal screen is back,
    // showing what casebridge printed on leaving.
    tmux.keys(&["q"]);
    run.assert_clean_exit();
}

#[test]
fn demo_console_ends_cleanly_on_sigterm() {
    let Some(run) = ConsoleRun::start("sigterm", Vec::new(), plain) else {
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
    let Some(run) = ConsoleRun::start("killed", Vec::new(), plain) else {
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
    let Some(run) = ConsoleRun::start("setsid", Vec::new(), |command, home| {
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

/// The console with `--remote` (the user, password and CA from the
/// `CASEBRIDGE_REMOTE_*` variables) against the real `casebridge serve`,
/// whose engine talks to the GSEM simulator (HPE accepting new cases by
/// itself) and the ServiceNow simulator: a case opened through the dialog,
/// accepted, commented on. Then serve stops on SIGTERM under the console,
/// which says so while a second comment is being typed, and starts again
/// on the same port: the console reconnects, the typed text is still there
/// and goes out, and `q` exits 0.
#[test]
fn remote_console_against_serve_opens_a_case_comments_survives_a_restart_and_quits() {
    // Checked before anything is started.
    if !tmux_for("remote") {
        return;
    }
    // The simulators run on this runtime's threads while the test drives
    // tmux from its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A fixed port: serve comes back on it after the restart.
    let port = free_port();
    let backends = runtime.block_on(Backends::start_with(
        &format!("127.0.0.1:{port}"),
        Some(Duration::from_secs(3)),
    ));
    // An incident of its own: a case needs a description.
    let mut new = NewIncident::new("Rosetta switch x3000c0r15 unreachable");
    new.description =
        "The switch fails its health check since 02:10; 14 nodes lost their fabric links.".into();
    let incident = backends
        .sn
        .create_incident(&new)
        .unwrap()
        .get("number")
        .to_owned();
    let mut serve = spawn_serve(&backends);

    // The incident picker shows what the engine has read from ServiceNow
    // when it opens: wait for the first poll.
    let store = Store::open(&backends.store_path, Role::Tool).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.incident_by_number(&incident).unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "serve's engine never read {incident} from ServiceNow:\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let url = format!("https://127.0.0.1:{port}");
    let ca = backends.paths.ca.cert.display().to_string();
    let run = ConsoleRun::start(
        "remote",
        vec![("serve", backends.dir.path().to_owned())],
        |command, _home| {
            format!(
                "CASEBRIDGE_REMOTE_USER=ada CASEBRIDGE_REMOTE_PASSWORD='{ADA_PASSWORD}' \
                 CASEBRIDGE_REMOTE_CA='{ca}' {command} --remote '{url}'"
            )
        },
    )
    .expect("tmux was there a moment ago");
    let tmux = &run.tmux;
    let wait = |what: &str, secs: u64, done: &dyn Fn(&str) -> bool| run.wait(what, secs, done);
    let connected = format!("remote: 127.0.0.1:{port}");
    // The connection shows before the snapshot (the health after it).
    let screen = wait("the snapshot from serve", 20, &|s| {
        s.contains(&connected) && s.contains("GSEM ● up")
    });
    assert!(!screen.contains("DEMO"), "{screen}");

    // n: the incident picker, narrowed to the switch; Enter: the form,
    // prefilled from the incident; Ctrl-s: the question; y: queued.
    tmux.keys(&["n"]);
    wait("the incident picker", 10, &|s| {
        s.contains(&incident) && s.contains(&backends.incident)
    });
    tmux.type_text("Rosetta");
    wait("the switch's incident alone", 10, &|s| {
        s.contains(&incident) && !s.contains(&backends.incident)
    });
    tmux.keys(&["Enter"]);
    wait("the open-case form", 10, &|s| {
        s.contains("14 nodes lost their fabric links") && s.contains("Priority")
    });
    tmux.keys(&["C-s"]);
    wait(&format!("the confirmation for {incident}"), 10, &|s| {
        s.contains(&format!(
            "Open an HPE case for {incident} on compute with priority Normal?"
        ))
    });
    tmux.keys(&["y"]);
    let requested = Regex::new(&format!(r"{incident}\s+requested…")).unwrap();
    wait("the request accepted and the case requested", 15, &|s| {
        s.contains(&format!("new case for {incident}: queued")) && requested.is_match(s)
    });

    // HPE's case number, the one GSEM gave.
    let row = Regex::new(&format!(r"{incident}\s+(\d{{10}})")).unwrap();
    let screen = wait("HPE's case number", 30, &|s| row.is_match(s));
    let provider_id = row.captures(&screen).unwrap()[1].to_owned();
    assert_eq!(
        backends.gsem.case(&incident).unwrap().provider_id,
        Some(provider_id.clone())
    );

    let comment = "Fabric manager restarted on smw1; 3 links still down, logs attached.";
    let screen = run.comment_from_case_view(
        &provider_id,
        &incident,
        comment,
        "Fabric manager restarted on smw1",
    );
    let sent_before = screen.matches("✓ sent").count();
    assert_eq!(
        backends.gsem.received_comments_for(&provider_id).last(),
        Some(&comment.to_owned())
    );

    // serve stops cleanly on SIGTERM; the console says it cannot reach it.
    let status = serve.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        serve.stderr()
    );
    wait("serve unreachable in the health bar", 15, &|s| {
        s.contains("✗ serve unreachable since") && !s.contains(&connected)
    });
    // A comment typed meanwhile.
    tmux.keys(&["c"]);
    wait("the comment dialog", 10, &|s| s.contains("Ctrl-s"));
    let second = "Replaced the fabric manager's NIC; please confirm the links from your side.";
    tmux.type_text(second);
    wait("the second comment typed", 10, &|s| {
        s.contains("Replaced the fabric manager's NIC")
    });

    // serve again, on the same port and store: the console reconnects and
    // the typed comment is still there to send.
    let mut serve = spawn_serve(&backends);
    wait("the console connected again", 40, &|s| {
        s.contains(&connected) && !s.contains("unreachable")
    });
    let screen = tmux.screen();
    assert!(
        screen.contains("Replaced the fabric manager's NIC"),
        "the typed comment survived the reconnection:\n{screen}"
    );
    tmux.keys(&["C-s"]);
    wait("the second comment acknowledged", 30, &|s| {
        s.contains("Replaced the fabric manager's NIC")
            && !s.contains("⧗ pending")
            && s.matches("✓ sent").count() > sent_before
    });
    assert_eq!(
        backends.gsem.received_comments_for(&provider_id),
        [comment, second]
    );

    tmux.keys(&["q"]);
    run.assert_exit_0_and_screen_restored();
    let status = serve.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        serve.stderr()
    );
}
