//! The engine's end of the console link, remote: a task that holds the
//! [`EngineLink`] and forwards both ways to a `casebridge serve` over HTTPS
//! ([`super::wire`] is the contract), so the UI runs unchanged.
//!
//! Requests go out one at a time, in the order the console made them, as
//! `POST /api/v1/requests`; their outcome comes back on the event stream.
//! Losing the stream (it ends, breaks, or stays silent for three keep-alive
//! periods) is reported as [`Connection::Lost`] and repaired with capped
//! backoff, logging in again when serve no longer knows the session; the
//! console then gets [`Connection::Connected`], a fresh snapshot, and the
//! detail of the case it had open. Nothing is ever resent on its own: a
//! request whose POST broke mid-way may have reached serve, and sending a
//! comment twice is worse than asking the operator to look first.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::link::{ConsoleLink, EngineLink};
use super::protocol::{Connection, Event, History, Request, RequestId};
use super::types::CaseId;
use super::wire::{
    ApiError, EVENTS_PATH, KEEPALIVE_SECS, REQUESTS_PATH, RequestEnvelope, SESSION_PATH,
    SessionGranted,
};
use crate::config::Secret;
use crate::config::remote::{RemoteKey, RemoteSettings};
use crate::gsem::backoff::{Backoff, jitter};
use crate::gsem::pem::{TlsFileError, load_ca_bundle};

/// A login, a request or the stream's response headers take at most this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence on the stream longer than this means the connection is dead
/// even if TCP has not noticed (a suspended laptop, a dropped VPN).
const SILENCE_LIMIT: Duration = Duration::from_secs(3 * KEEPALIVE_SECS);
const RECONNECT: Backoff = Backoff {
    start: Duration::from_secs(1),
    cap: Duration::from_secs(30),
};

/// Why the first connection to serve failed; each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{setting}: {source}")]
    Ca {
        setting: String,
        source: TlsFileError,
    },
    #[error("cannot set up the HTTPS client for {url}: {source}. Check {setting}")]
    Client {
        url: String,
        setting: String,
        source: reqwest::Error,
    },
    #[error(
        "cannot connect to {url}: {cause}. Check that `casebridge serve` runs there and that {setting} names its host and port, and that no firewall is in the way"
    )]
    Unreachable {
        url: String,
        cause: String,
        setting: String,
    },
    #[error(
        "TLS with {url} failed: {cause}. Check that {ca} is the CA that signed serve's certificate and that the host in {setting} is a name that certificate carries"
    )]
    Tls {
        url: String,
        cause: String,
        ca: String,
        setting: String,
    },
    #[error(
        "{url} did not answer within {secs} s. Check that {setting} names `casebridge serve`, and serve's log"
    )]
    Timeout {
        url: String,
        secs: u64,
        setting: String,
    },
    #[error(
        "{url} refused the login of {user:?}: {reason}. Check the user name ({user_setting}) and the password ({password_setting}); serve's [[serve.users]] holds both"
    )]
    LoginRefused {
        url: String,
        user: String,
        reason: String,
        user_setting: String,
        password_setting: String,
    },
    #[error(
        "{url}: {what} answered HTTP {status}: {reason}. Check that {setting} names a `casebridge serve` of this version, and serve's log"
    )]
    Status {
        url: String,
        what: &'static str,
        status: u16,
        reason: String,
        setting: String,
    },
}

/// Logs in to serve, opens the event stream and starts the task between
/// it and the returned console end. A first failure is returned, naming
/// the fix; later ones are reported on the link and repaired. The task
/// ends (and ends the session) when the console drops its link.
pub async fn connect(
    target: &RemoteSettings,
) -> Result<(ConsoleLink, JoinHandle<()>), RemoteError> {
    crate::tls::install_crypto_provider();
    let serve = Arc::new(Serve::new(target)?);
    let (token, response) = attempt(&serve, None)
        .await
        .map_err(|f| f.into_error(target))?;
    let (console, engine) = ConsoleLink::pair();
    let (outgoing, queue) = mpsc::unbounded_channel();
    let (trouble_tx, trouble) = mpsc::unbounded_channel();
    let sender = tokio::spawn(send_requests(
        Arc::clone(&serve),
        queue,
        engine.events.clone(),
        trouble_tx,
    ));
    let relay = Relay {
        serve,
        link: engine,
        outgoing,
        trouble,
        token,
        open_case: None,
    };
    let task = tokio::spawn(relay.run(response, sender));
    Ok((console, task))
}

/// serve's address, credentials and HTTP client.
struct Serve {
    http: reqwest::Client,
    /// For messages and [`Connection`]: the URL without its final `/`.
    name: String,
    session_url: Url,
    events_url: Url,
    requests_url: Url,
    user: String,
    password: Secret,
}

impl Serve {
    fn new(target: &RemoteSettings) -> Result<Self, RemoteError> {
        let name = target.url.as_str().trim_end_matches('/').to_owned();
        let client_error = |source| RemoteError::Client {
            url: name.clone(),
            setting: target.where_to_set(RemoteKey::Url),
            source,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &target.ca {
            let ca_error = |source| RemoteError::Ca {
                setting: target.where_to_set(RemoteKey::Ca),
                source,
            };
            let (pem, _) = load_ca_bundle(ca).map_err(ca_error)?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ca_error(TlsFileError::BadPem {
                    path: ca.clone(),
                    why: e.to_string(),
                })
            })?;
            builder = builder.tls_certs_only(roots).https_only(true);
        }
        let http = builder.build().map_err(client_error)?;
        // The paths are absolute in the contract; relative to the base they
        // keep a path prefix (serve behind a reverse proxy).
        let join = |path: &str| {
            target
                .url
                .join(path.trim_start_matches('/'))
                .map_err(|e| RemoteError::Status {
                    url: name.clone(),
                    what: "the URL",
                    status: 0,
                    reason: e.to_string(),
                    setting: target.where_to_set(RemoteKey::Url),
                })
        };
        Ok(Serve {
            session_url: join(SESSION_PATH)?,
            events_url: join(EVENTS_PATH)?,
            requests_url: join(REQUESTS_PATH)?,
            http,
            name,
            user: target.user.clone(),
            password: target.password.clone(),
        })
    }

    async fn login(&self) -> Result<SessionGranted, Failure> {
        let response = self
            .http
            .post(self.session_url.clone())
            .basic_auth(&self.user, Some(self.password.expose()))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(Failure::transport)?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failure::LoginRefused(refusal(response).await));
        }
        if !status.is_success() {
            return Err(Failure::status(
                "the login",
                status,
                refusal(response).await,
            ));
        }
        response
            .json::<SessionGranted>()
            .await
            .map_err(|e| Failure::status("the login", status, format!("unreadable answer: {e}")))
    }

    /// The stream's response, once its headers are in.
    async fn open_events(&self, token: &str) -> Result<reqwest::Response, Failure> {
        let request = self
            .http
            .get(self.events_url.clone())
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send();
        // Not the request's own timeout: that would also cut the stream.
        let response = tokio::time::timeout(REQUEST_TIMEOUT, request)
            .await
            .map_err(|_| Failure::Transport {
                kind: Transport::Timeout,
                cause: format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            })?
            .map_err(Failure::transport)?;
        match response.status() {
            StatusCode::OK => Ok(response),
            StatusCode::UNAUTHORIZED => Err(Failure::SessionRefused(refusal(response).await)),
            status => Err(Failure::status(
                "the event stream",
                status,
                refusal(response).await,
            )),
        }
    }

    async fn post(&self, token: &str, envelope: &RequestEnvelope) -> Posted {
        let sent = self
            .http
            .post(self.requests_url.clone())
            .bearer_auth(token)
            .json(envelope)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Posted::Handed,
            Ok(response) => {
                let status = response.status();
                let reason = refusal(response).await;
                match status {
                    StatusCode::UNAUTHORIZED | StatusCode::CONFLICT => Posted::NoSession(reason),
                    _ => Posted::Refused(reason),
                }
            }
            // No connection was made, so nothing was sent.
            Err(e) if e.is_connect() => Posted::NotSent(crate::tls::innermost_cause(&e).1),
            Err(e) => Posted::Unknown(crate::tls::innermost_cause(&e).1),
        }
    }

    /// Ends the session; best effort, since serve expires it anyway.
    async fn logout(&self, token: &str) {
        let ended = self
            .http
            .delete(self.session_url.clone())
            .bearer_auth(token)
            .timeout(CONNECT_TIMEOUT)
            .send()
            .await;
        if let Err(e) = ended {
            tracing::info!(serve = %self.name, cause = %crate::tls::innermost_cause(&e).1, "remote console: the session could not be ended; serve expires it");
        }
    }
}

/// serve's words for a refusal, from its [`ApiError`] body.
async fn refusal(response: reqwest::Response) -> String {
    let status = response.status();
    match response.json::<ApiError>().await {
        Ok(body) => body.error,
        Err(_) => status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_owned(),
    }
}

/// Logs in unless `token` still opens the stream.
async fn attempt(
    serve: &Serve,
    token: Option<Arc<str>>,
) -> Result<(Arc<str>, reqwest::Response), Failure> {
    if let Some(token) = token {
        match serve.open_events(&token).await {
            Ok(response) => return Ok((token, response)),
            // serve restarted or the session expired: log in afresh.
            Err(Failure::SessionRefused(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let token: Arc<str> = serve.login().await?.token.into();
    let response = serve.open_events(&token).await?;
    Ok((token, response))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Connect,
    Tls,
    Timeout,
    Other,
}

/// Why one attempt to reach serve failed.
#[derive(Debug)]
enum Failure {
    Transport {
        kind: Transport,
        cause: String,
    },
    LoginRefused(String),
    SessionRefused(String),
    Status {
        what: &'static str,
        status: u16,
        reason: String,
    },
}

impl Failure {
    fn transport(error: reqwest::Error) -> Failure {
        let (tls, cause) = crate::tls::innermost_cause(&error);
        let kind = if error.is_timeout() {
            Transport::Timeout
        } else if tls {
            Transport::Tls
        } else if error.is_connect() {
            Transport::Connect
        } else {
            Transport::Other
        };
        Failure::Transport { kind, cause }
    }

    fn status(what: &'static str, status: StatusCode, reason: String) -> Failure {
        Failure::Status {
            what,
            status: status.as_u16(),
            reason,
        }
    }

    /// For [`Connection::Lost`]: short, the UI adds the rest.
    fn reason(&self) -> String {
        match self {
            Failure::Transport {
                kind: Transport::Tls,
                cause,
            } => format!("TLS failed: {cause}"),
            Failure::Transport { cause, .. } => cause.clone(),
            Failure::LoginRefused(reason) => format!("serve refused the login: {reason}"),
            Failure::SessionRefused(reason) => format!("serve refused the session: {reason}"),
            Failure::Status {
                what,
                status,
                reason,
            } => format!("{what}: HTTP {status}: {reason}"),
        }
    }

    fn into_error(self, target: &RemoteSettings) -> RemoteError {
        let url = target.url.as_str().trim_end_matches('/').to_owned();
        let setting = target.where_to_set(RemoteKey::Url);
        match self {
            Failure::Transport {
                kind: Transport::Tls,
                cause,
            } => RemoteError::Tls {
                url,
                cause,
                ca: target.where_to_set(RemoteKey::Ca),
                setting,
            },
            Failure::Transport {
                kind: Transport::Timeout,
                ..
            } => RemoteError::Timeout {
                url,
                secs: REQUEST_TIMEOUT.as_secs(),
                setting,
            },
            Failure::Transport { cause, .. } => RemoteError::Unreachable {
                url,
                cause,
                setting,
            },
            Failure::LoginRefused(reason) | Failure::SessionRefused(reason) => {
                RemoteError::LoginRefused {
                    url,
                    user: target.user.clone(),
                    reason,
                    user_setting: target.where_to_set(RemoteKey::User),
                    password_setting: target.where_to_set(RemoteKey::Password),
                }
            }
            Failure::Status {
                what,
                status,
                reason,
            } => RemoteError::Status {
                url,
                what,
                status,
                reason,
                setting,
            },
        }
    }
}

/// One request on its way to serve, with the session it belongs to.
struct Outgoing {
    id: RequestId,
    request: Request,
    token: Arc<str>,
}

/// What became of one POST.
enum Posted {
    Handed,
    /// serve answered with a refusal: nothing was done.
    Refused(String),
    /// serve no longer knows the session or its stream.
    NoSession(String),
    NotSent(String),
    /// The connection broke after the request may have left.
    Unknown(String),
}

/// Posts the queued requests in order; answers the console itself when a
/// POST did not hand the request over, and tells the relay when serve no
/// longer knows the session.
async fn send_requests(
    serve: Arc<Serve>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<Event>,
    trouble: mpsc::UnboundedSender<(Arc<str>, String)>,
) {
    while let Some(out) = queue.recv().await {
        let envelope = RequestEnvelope {
            id: out.id,
            request: out.request,
        };
        let reason = match serve.post(&out.token, &envelope).await {
            Posted::Handed => continue,
            Posted::Refused(reason) => format!("serve refused it: {reason}"),
            Posted::NoSession(reason) => {
                // The relay reconnects; the request itself was not taken.
                let _ = trouble.send((
                    Arc::clone(&out.token),
                    format!("serve refused the session: {reason}"),
                ));
                format!(
                    "not sent: serve refused the session ({reason}); send it again once reconnected"
                )
            }
            Posted::NotSent(cause) => format!(
                "not sent: cannot reach {} ({cause}); send it again once reconnected",
                serve.name
            ),
            Posted::Unknown(cause) => format!(
                "the connection to {} broke while sending ({cause}): it may or may not have reached serve. \
                 Check the case's timeline before sending it again",
                serve.name
            ),
        };
        let failed = Event::RequestFailed {
            request: envelope.id,
            reason,
        };
        // A console that is gone needs no answer.
        let _ = events.send(failed);
    }
}

/// How a connected period ended.
enum Ended {
    ConsoleGone,
    Lost(String),
}

/// The task between the console's link and serve.
struct Relay {
    serve: Arc<Serve>,
    link: EngineLink,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// Sessions serve refused a request of, and why.
    trouble: mpsc::UnboundedReceiver<(Arc<str>, String)>,
    token: Arc<str>,
    /// The case whose detail the console follows, the request that asked
    /// for it and how much history, so a reconnection can ask again.
    open_case: Option<(RequestId, CaseId, History)>,
}

impl Relay {
    async fn run(mut self, first: reqwest::Response, sender: JoinHandle<()>) {
        self.emit(Event::Connection(Connection::Connected {
            to: self.serve.name.clone(),
        }));
        let mut response = first;
        loop {
            let reader = tokio::spawn(read_stream(
                response,
                self.link.events.clone(),
                SILENCE_LIMIT,
            ));
            match self.connected(reader).await {
                Ended::ConsoleGone => break,
                Ended::Lost(reason) => match self.reconnect(reason).await {
                    Some(next) => response = next,
                    None => break,
                },
            }
        }
        // Requests already queued still go out; then the session ends.
        drop(self.outgoing);
        if let Err(e) = sender.await {
            tracing::error!(error = %e, "remote console: the request sender failed");
        }
        self.serve.logout(&self.token).await;
    }

    fn emit(&self, event: Event) {
        // Sending fails only once the console is gone, which `requests`
        // reports to the loop.
        let _ = self.link.events.send(event);
    }

    fn note(&mut self, id: RequestId, request: &Request) {
        match request {
            Request::LoadCase { case, history } => self.open_case = Some((id, *case, *history)),
            Request::UnloadCase => self.open_case = None,
            _ => {}
        }
    }

    async fn connected(&mut self, mut reader: JoinHandle<String>) -> Ended {
        let ended = loop {
            tokio::select! {
                request = self.link.requests.recv() => match request {
                    Some((id, request)) => {
                        self.note(id, &request);
                        let out = Outgoing { id, request, token: Arc::clone(&self.token) };
                        if self.outgoing.send(out).is_err() {
                            self.emit(Event::RequestFailed {
                                request: id,
                                reason: "not sent: the remote console's sender has stopped; restart casebridge".to_owned(),
                            });
                        }
                    }
                    None => break Ended::ConsoleGone,
                },
                lost = &mut reader => {
                    return Ended::Lost(lost.unwrap_or_else(|e| format!("the event reader failed: {e}")));
                }
                // Only the current session's refusal means the link is broken;
                // a request queued before a reconnection carries the old one.
                Some((token, reason)) = self.trouble.recv() => {
                    if token == self.token {
                        break Ended::Lost(reason);
                    }
                }
            }
        };
        reader.abort();
        ended
    }

    /// Retries until the stream is back (`Some`), refusing requests
    /// meanwhile; `None` when the console went away first.
    async fn reconnect(&mut self, first_reason: String) -> Option<reqwest::Response> {
        let since = Utc::now();
        let mut reason = first_reason;
        let mut failures = 0u32;
        loop {
            failures = failures.saturating_add(1);
            let delay = RECONNECT.delay(failures, jitter());
            let retry_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::warn!(serve = %self.serve.name, %reason, "remote console: connection lost, retrying in {delay:?}");
            self.emit(Event::Connection(Connection::Lost {
                to: self.serve.name.clone(),
                since,
                reason: reason.clone(),
                retry_at: Some(retry_at),
            }));
            let refusal = format!(
                "not sent: the connection to {} is lost ({reason}); casebridge reconnects by itself, send it again once connected",
                self.serve.name
            );
            self.refusing(tokio::time::sleep(delay), &refusal).await?;
            let serve = Arc::clone(&self.serve);
            let token = Some(Arc::clone(&self.token));
            let attempt = async move { attempt(&serve, token).await };
            match self.refusing(attempt, &refusal).await? {
                Ok((token, response)) => {
                    self.token = token;
                    self.emit(Event::Connection(Connection::Connected {
                        to: self.serve.name.clone(),
                    }));
                    if let Some((id, case, history)) = self.open_case {
                        let again = Outgoing {
                            id,
                            request: Request::LoadCase { case, history },
                            token: Arc::clone(&self.token),
                        };
                        // The sender outlives this loop, so this cannot fail.
                        let _ = self.outgoing.send(again);
                    }
                    tracing::info!(serve = %self.serve.name, "remote console: reconnected");
                    return Some(response);
                }
                Err(failure) => reason = failure.reason(),
            }
        }
    }

    /// Waits for `work`, answering every request meanwhile with `refusal`;
    /// `None` when the console went away first.
    async fn refusing<F: Future>(&mut self, work: F, refusal: &str) -> Option<F::Output> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return Some(done),
                request = self.link.requests.recv() => match request {
                    Some((id, request)) => {
                        self.note(id, &request);
                        self.emit(Event::RequestFailed { request: id, reason: refusal.to_owned() });
                    }
                    None => return None,
                },
            }
        }
    }
}

/// Forwards the stream's events to the console until it stops or is
/// silent for `silence`; returns why.
async fn read_stream(
    mut response: reqwest::Response,
    events: mpsc::UnboundedSender<Event>,
    silence: Duration,
) -> String {
    let mut parser = SseParser::default();
    let mut payloads = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(silence, response.chunk()).await {
            Err(_) => return format!("no data or keep-alive from serve for {silence:?}"),
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return "serve closed the event stream".to_owned(),
            Ok(Err(e)) => {
                return format!(
                    "the event stream broke: {}",
                    crate::tls::innermost_cause(&e).1
                );
            }
        };
        parser.push(&chunk, &mut payloads);
        for data in payloads.drain(..) {
            match serde_json::from_str::<Event>(&data) {
                Ok(event) => {
                    if events.send(event).is_err() {
                        return "the console has closed".to_owned();
                    }
                }
                // A newer serve may send events this console does not know.
                Err(e) => {
                    tracing::warn!(error = %e, "remote console: skipped an event it cannot read")
                }
            }
        }
    }
}

/// The part of server-sent events (WHATWG HTML §9.2) serve uses: `data:`
/// lines make an event, a blank line ends it, comments and other fields
/// are skipped. Chunks may split lines anywhere.
#[derive(Debug, Default)]
struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds one chunk; each finished event's data is pushed to `out`.
    fn push(&mut self, mut chunk: &[u8], out: &mut Vec<String>) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&chunk[..end]);
            chunk = &chunk[end + 1..];
            let line = std::mem::take(&mut self.line);
            self.finish_line(&line, out);
            // Keep the buffer's capacity for the next line.
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(chunk);
    }

    fn finish_line(&mut self, line: &[u8], out: &mut Vec<String>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            out.extend(self.data.take());
            return;
        }
        if line.starts_with(b":") {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            let value = String::from_utf8_lossy(value);
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use axum::body::Bytes;
    use hyper::body::Frame;

    /// A response body that yields its frames, then ends or stays silent.
    struct Scripted {
        frames: VecDeque<&'static [u8]>,
        end: bool,
    }

    impl hyper::body::Body for Scripted {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            match self.frames.pop_front() {
                Some(frame) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(frame))))),
                None if self.end => Poll::Ready(None),
                // Never woken: only the silence timeout ends the wait.
                None => Poll::Pending,
            }
        }
    }

    async fn read(frames: &[&'static [u8]], end: bool) -> (String, Vec<Event>) {
        let body = Scripted {
            frames: frames.iter().copied().collect(),
            end,
        };
        let response =
            reqwest::Response::from(axum::http::Response::new(reqwest::Body::wrap(body)));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let why = read_stream(response, tx, Duration::from_millis(200)).await;
        let mut events = Vec::new();
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        (why, events)
    }

    #[tokio::test]
    async fn the_stream_reader_forwards_events_and_says_why_it_stopped() {
        let frames: [&'static [u8]; 4] = [
            b": keep-alive\n\n",
            b"data: {\"type\":\"request_failed\",\"data\":{\"request\":3,\"reason\":\"x\"}}\n\n",
            b"data: {\"type\":\"from_a_newer_serve\",\"data\":1}\n\ndata: {\"type\":\"request_accepted\",",
            b"\"data\":{\"request\":4,\"case\":7}}\n\n",
        ];
        let expected = vec![
            Event::RequestFailed {
                request: RequestId(3),
                reason: "x".into(),
            },
            Event::RequestAccepted {
                request: RequestId(4),
                case: Some(7),
            },
        ];
        let (why, events) = read(&frames, true).await;
        assert_eq!(why, "serve closed the event stream");
        assert_eq!(events, expected);

        let started = tokio::time::Instant::now();
        let (why, events) = read(&frames, false).await;
        assert_eq!(why, "no data or keep-alive from serve for 200ms");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(events, expected);
    }

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk, &mut out);
        }
        out
    }

    #[test]
    fn sse_events_split_anywhere_are_reassembled() {
        let stream = b": keep-alive\n\ndata: {\"a\":1}\n\ndata: {\"b\":\xc3\xa9}\r\n\r\n";
        let whole = parse(&[stream]);
        assert_eq!(whole, ["{\"a\":1}", "{\"b\":é}"]);
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(parse(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse(&bytes), whole);
    }

    #[test]
    fn sse_multi_line_data_other_fields_and_unfinished_events() {
        let out = parse(&[
            b"event: x\nid: 7\ndata: one\ndata:two\ndata\n\nretry: 5\n\ndata: never ended\n",
        ]);
        assert_eq!(out, ["one\ntwo\n"]);
    }

    #[test]
    fn lost_reasons_are_short_and_name_the_cause() {
        let tls = Failure::Transport {
            kind: Transport::Tls,
            cause: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert_eq!(
            tls.reason(),
            "TLS failed: invalid peer certificate: UnknownIssuer"
        );
        let refused = Failure::LoginRefused("wrong user name or password".into());
        assert_eq!(
            refused.reason(),
            "serve refused the login: wrong user name or password"
        );
        let status = Failure::status(
            "the event stream",
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping".into(),
        );
        assert_eq!(status.reason(), "the event stream: HTTP 503: stopping");
    }
}
