//! `remote_event_p99_ms`: from a comment committed by `serve` to its event
//! at a remote console, over real HTTPS on loopback. `serve` runs
//! in-process (its engine against the GSEM and ServiceNow simulators); the
//! console is `console::remote` with the case open, as an operator
//! watching it would have. Run in a child process of the bench, so that its
//! memory does not count in the console's `rss_mb`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use casebridge::config::{self, remote};
use casebridge::console::{ConsoleLink, Event, History, OpenCase, Priority, Request, RequestId};
use casebridge::engine::{Engine, StoreKind};
use casebridge::serve::Server;
use chrono::Utc;
use tokio::sync::mpsc;

#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "../../tests/serve_rig/mod.rs"]
pub mod serve_rig;

/// Makes the bench binary measure this alone and print [`RESULT`].
pub const CHILD_FLAG: &str = "--remote-events";
const RESULT: &str = "remote_event_p99_ms=";
const WAIT: Duration = Duration::from_secs(30);

/// Runs the measurement of `comments` comments in a child process and
/// returns its p99 in milliseconds (its other figures go to stdout).
pub fn measure_in_child(comments: usize) -> anyhow::Result<f64> {
    let output = Command::new(std::env::current_exe().context("find the bench binary")?)
        .args([CHILD_FLAG, &comments.to_string()])
        .output()
        .context("run the remote event measurement")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "the remote event measurement failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    for line in stdout.lines() {
        match line.strip_prefix(RESULT) {
            Some(value) => return value.parse().context("read the p99"),
            None => println!("{line}"),
        }
    }
    bail!("the remote event measurement printed no {RESULT}: {stdout}")
}

/// The child's work: prints the spread and then [`RESULT`].
pub fn run(comments: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let mut samples = runtime.block_on(latencies(comments))?;
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    println!(
        "remote events over {} comments: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    println!("{RESULT}{:.2}", at(0.99));
    Ok(())
}

async fn latencies(comments: usize) -> anyhow::Result<Vec<Duration>> {
    // HPE accepts the case by itself soon after GSEM takes it.
    let backends =
        serve_rig::Backends::start_with("127.0.0.1:0", Some(Duration::from_millis(100))).await;
    let settings = config::load(&backends.config_path)?;
    let engine = Engine::start(&settings, StoreKind::Real).await?;
    let server = Server::start(&settings, engine).await?;
    let console_dir = backends.dir.path().join("console");
    serve_rig::write_private(&console_dir.join("password"), serve_rig::ADA_PASSWORD);
    let remote_path = console_dir.join("remote.toml");
    serve_rig::write_private(
        &remote_path,
        &format!(
            "[remote]\nurl = \"{url}\"\nuser = \"ada\"\npassword = {{ file = \"password\" }}\nca = \"{ca}\"\n",
            url = server.url(),
            ca = backends.paths.ca.cert.display(),
        ),
    );
    let (link, relay) = casebridge::console::remote::connect(&remote::load(&remote_path)?).await?;
    let mut console = Watcher::start(link);

    let case = console.accepted_case(&backends.incident).await?;
    console.send(Request::LoadCase {
        case,
        history: History::All,
    });
    let actions = server.engine().actions().clone();
    let mut samples = Vec::with_capacity(comments);
    for i in 0..comments {
        let text = format!("remote latency probe {i}");
        actions
            .add_note(case, "ada", &text, Utc::now())
            .await
            .with_context(|| format!("commit comment {i}"))?;
        let committed = Instant::now();
        let arrived = console.arrival_of(&text).await?;
        samples.push(arrived.saturating_duration_since(committed));
    }
    drop(console);
    relay.await.context("the remote console's task")?;
    server.stop().await;
    Ok(samples)
}

/// The remote console, with every event stamped as it arrives (so that
/// waiting for one does not delay the stamping of the next).
struct Watcher {
    requests: mpsc::UnboundedSender<(RequestId, Request)>,
    events: mpsc::UnboundedReceiver<(Instant, Event)>,
    next: u64,
}

impl Watcher {
    fn start(mut link: ConsoleLink) -> Watcher {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (requests, mut outgoing) = mpsc::unbounded_channel::<(RequestId, Request)>();
        tokio::spawn(async move {
            loop {
                let alive = tokio::select! {
                    event = link.recv() => event
                        .is_some_and(|event| events_tx.send((Instant::now(), event)).is_ok()),
                    request = outgoing.recv() => request
                        .is_some_and(|(id, request)| link.send(id, request).is_ok()),
                };
                if !alive {
                    break;
                }
            }
        });
        Watcher {
            requests,
            events,
            next: 0,
        }
    }

    fn send(&mut self, request: Request) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        // A closed link shows as a missing event below.
        let _ = self.requests.send((id, request));
        id
    }

    async fn next_event(&mut self, what: &str) -> anyhow::Result<(Instant, Event)> {
        match tokio::time::timeout(WAIT, self.events.recv()).await {
            Ok(Some(stamped)) => Ok(stamped),
            Ok(None) => bail!("the remote console stopped while waiting for {what}"),
            Err(_) => bail!("no {what} within {WAIT:?}"),
        }
    }

    /// When the detail showing `text` arrived.
    async fn arrival_of(&mut self, text: &str) -> anyhow::Result<Instant> {
        loop {
            if let (at, Event::CaseDetail(detail)) = self.next_event("the comment's event").await?
                && detail.timeline.iter().any(|t| t.text == text)
            {
                return Ok(at);
            }
        }
    }

    /// Opens a case on `incident` through the console once serve's sync has
    /// read it, and waits until HPE has accepted it (notes allowed).
    async fn accepted_case(&mut self, incident: &str) -> anyhow::Result<i64> {
        loop {
            self.send(Request::LoadIncidents);
            let found = loop {
                if let (_, Event::Incidents(list)) = self.next_event("the incidents").await? {
                    break list.iter().any(|i| i.number == incident);
                }
            };
            if found {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let open = self.send(Request::OpenCase(OpenCase {
            incident: incident.to_owned(),
            system: "compute".into(),
            priority: Priority::Normal,
            title: "Slingshot fabric manager down".into(),
            description: "fmn01 stopped answering".into(),
        }));
        let case = loop {
            match self.next_event("the open-case answer").await?.1 {
                Event::RequestAccepted { request, case } if request == open => {
                    break case.context("the accepted request names its case")?;
                }
                Event::RequestFailed { request, reason } if request == open => {
                    bail!("the case was refused: {reason}")
                }
                _ => {}
            }
        };
        loop {
            if let (_, Event::CaseChanged(summary)) = self.next_event("HPE's acceptance").await?
                && summary.id == case
                && summary.provider_id.is_some()
                && !summary.flags.pending
            {
                return Ok(case);
            }
        }
    }
}
