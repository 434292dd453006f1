//! The scripting commands' side of the console link: where the link comes
//! from, and one request at a time with its answer awaited. Everything goes
//! through [`crate::console`], so a command behaves the same on the store
//! beside a local engine as against a remote `serve`.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::ScriptError;
use crate::config::Settings;
use crate::config::remote::RemoteSettings;
use crate::console::local::{self, EngineEnd};
use crate::console::{
    CaseDetail, CaseId, Connection, ConsoleLink, Event, History, IncidentSummary, LinkClosed,
    Request, RequestId, Snapshot,
};

/// Where the engine is.
pub(crate) enum Source<'a> {
    /// The store of the engine the site config names, opened beside it: what
    /// is queued there is sent by that engine (`serve` or a console), which
    /// looks for rows committed by other processes every second.
    Local {
        settings: &'a Settings,
        operator: &'a str,
    },
    /// A `casebridge serve`, logged in to as its [[serve.users]] entry,
    /// which names the operator.
    Remote(&'a RemoteSettings),
}

/// The one place that knows local from remote: a console link and the task
/// serving its engine end.
async fn connect(source: &Source<'_>) -> Result<(ConsoleLink, JoinHandle<()>), ScriptError> {
    match source {
        Source::Local { settings, operator } => {
            // Opening would create an empty store, and every list would be
            // empty for a mistyped path.
            if !settings.store.path.exists() {
                return Err(ScriptError::NoStore(settings.store.path.clone()));
            }
            let (link, engine_end) = ConsoleLink::pair();
            let end = EngineEnd::beside(settings)?;
            let task = local::spawn(end, settings, operator, engine_end)?;
            Ok((link, task))
        }
        Source::Remote(remote) => Ok(crate::console::remote::connect(remote).await?),
    }
}

/// A connected link, after the engine's first snapshot.
pub(crate) struct Session {
    link: ConsoleLink,
    engine: JoinHandle<()>,
    next: u64,
    timeout: Duration,
    /// Why a remote link is down, while it is: said when an answer is late.
    lost: Option<String>,
}

impl Session {
    /// Connects and waits for the snapshot the engine sends first.
    pub(crate) async fn open(
        source: &Source<'_>,
        timeout: Duration,
    ) -> Result<(Session, Snapshot), ScriptError> {
        let (link, engine) = connect(source).await?;
        let mut session = Session {
            link,
            engine,
            next: 0,
            timeout,
            lost: None,
        };
        let snapshot = session
            .wait("the engine's snapshot", |event| match event {
                Event::Snapshot(snapshot) => Some(Ok(*snapshot)),
                // A store that cannot be read is said in the health's problem.
                Event::Health(health) => health.problem.map(|p| Err(ScriptError::Engine(p))),
                _ => None,
            })
            .await?;
        Ok((session, snapshot))
    }

    fn send(&mut self, request: Request) -> Result<RequestId, ScriptError> {
        self.next += 1;
        let id = RequestId(self.next);
        self.link.send(id, request)?;
        Ok(id)
    }

    /// Sends an action and waits for its answer: the case it created or
    /// touched, or the engine's refusal in its words.
    pub(crate) async fn act(
        &mut self,
        request: Request,
        what: &str,
    ) -> Result<Option<CaseId>, ScriptError> {
        let id = self.send(request)?;
        self.wait(what, |event| match event {
            Event::RequestAccepted { request, case } if request == id => Some(Ok(case)),
            Event::RequestFailed { request, reason } if request == id => {
                Some(Err(ScriptError::Refused(reason)))
            }
            _ => None,
        })
        .await
    }

    /// The detail of a case the snapshot listed.
    pub(crate) async fn detail(&mut self, case: CaseId) -> Result<CaseDetail, ScriptError> {
        self.send(Request::LoadCase {
            case,
            history: History::All,
        })?;
        self.wait("the case's detail", |event| match event {
            Event::CaseDetail(detail) if detail.summary.id == case => Some(Ok(*detail)),
            _ => None,
        })
        .await
    }

    /// An incident casebridge has read from ServiceNow, by number.
    pub(crate) async fn incident(&mut self, number: &str) -> Result<IncidentSummary, ScriptError> {
        let id = self.send(Request::LookupIncident {
            number: number.to_string(),
        })?;
        let wanted = number.trim();
        self.wait("the incident", |event| match event {
            Event::IncidentFound(found) if found.number.eq_ignore_ascii_case(wanted) => {
                Some(Ok(found))
            }
            Event::RequestFailed { request, reason } if request == id => {
                Some(Err(ScriptError::NoIncident(reason)))
            }
            _ => None,
        })
        .await
    }

    /// Consumes events until `pick` answers, or the time is up.
    async fn wait<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(Event) -> Option<Result<T, ScriptError>>,
    ) -> Result<T, ScriptError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let event = match tokio::time::timeout_at(deadline, self.link.recv()).await {
                Ok(Some(event)) => event,
                Ok(None) => return Err(ScriptError::Closed(LinkClosed)),
                Err(_) => {
                    return Err(ScriptError::NoAnswer {
                        what: what.to_string(),
                        secs: self.timeout.as_secs(),
                        lost: self.lost.clone(),
                    });
                }
            };
            if let Event::Connection(connection) = &event {
                self.lost = match connection {
                    Connection::Lost { to, reason, .. } => Some(format!("{to}: {reason}")),
                    Connection::Connected { .. } => None,
                };
            }
            if let Some(answer) = pick(event) {
                return answer;
            }
        }
    }

    /// Lets the engine end finish: it stops once the link is gone.
    pub(crate) async fn close(self) {
        drop(self.link);
        if let Ok(Err(error)) = tokio::time::timeout(Duration::from_secs(5), self.engine).await {
            tracing::error!(%error, "the console's engine end failed");
        }
    }
}
