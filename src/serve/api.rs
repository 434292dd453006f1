//! The endpoints of [`crate::console::wire`]: what each checks, does and
//! answers. Every refusal is an [`ApiError`] naming the fix.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::auth::{NoStream, RandomFailed, SessionRef, Sessions, Users};
use super::{metrics, stream};
use crate::config::Settings;
use crate::console::local::LocalError;
use crate::console::wire::{
    ApiError, EVENTS_PATH, HEALTHZ_PATH, METRICS_PATH, REQUESTS_PATH, RequestEnvelope, SESSION_PATH,
};
use crate::engine::Engine;
use crate::gsem::shared::{now_ms, with_store};
use crate::store::StoreError;

/// The largest request body accepted (a comment or an edited message with
/// room to spare).
pub const REQUEST_BODY_LIMIT: usize = 1024 * 1024;

/// What the API offers, for the refusals of anything else.
const ENDPOINTS: &str = "the console API is POST and DELETE /api/v1/session, GET /api/v1/events, \
     POST /api/v1/requests, GET /healthz and GET /metrics";

/// What every handler shares.
pub(super) struct Api {
    pub settings: Settings,
    pub engine: Engine,
    pub users: Users,
    pub sessions: Sessions,
    pub metrics_public: bool,
    pub shutdown: watch::Receiver<bool>,
    /// The event streams' tasks, waited for when stopping.
    pub streams: Mutex<Vec<JoinHandle<()>>>,
}

impl Api {
    fn track(&self, task: JoinHandle<()>) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.retain(|t| !t.is_finished());
        streams.push(task);
    }

    /// The stream tasks still to wait for.
    pub fn take_streams(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.streams.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn session(&self, headers: &HeaderMap) -> Result<SessionRef, Refusal> {
        let token = authorization(headers)
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Refusal::NoSession)?;
        self.sessions.find(token.trim()).ok_or(Refusal::NoSession)
    }

    /// A bearer token or a user's name and password, whichever is given.
    async fn anyone(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match authorization(headers) {
            Some(v) if v.starts_with("Bearer ") => self.session(headers).map(|_| ()),
            _ => self.login(headers).await.map(|_| ()),
        }
    }

    async fn login(&self, headers: &HeaderMap) -> Result<(String, String), Refusal> {
        let (name, password) = basic_credentials(headers).ok_or(Refusal::NoCredentials)?;
        self.users
            .check(&name, &password)
            .await
            .ok_or(Refusal::WrongPassword)
    }
}

pub(super) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route(SESSION_PATH, post(login).delete(logout))
        .route(EVENTS_PATH, get(events))
        .route(REQUESTS_PATH, post(requests))
        .route(HEALTHZ_PATH, get(healthz))
        .route(METRICS_PATH, get(metrics))
        .fallback(|| async { Refusal::NotFound })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed })
        .with_state(api)
}

/// Why a call was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    #[error(
        "log in with HTTP Basic credentials: the name and password of your [[serve.users]] entry"
    )]
    NoCredentials,
    #[error(
        "wrong user name or password: check both, or ask the relay's administrator for your [[serve.users]] entry"
    )]
    WrongPassword,
    #[error(
        "no session, or it ended after being idle: log in again with POST /api/v1/session and use the token it gives"
    )]
    NoSession,
    #[error(
        "this session has no open event stream: open GET /api/v1/events first; the request's outcome arrives there"
    )]
    NoStream,
    #[error(
        "the request body is over {REQUEST_BODY_LIMIT} bytes or was not received in full: send one request at a time"
    )]
    Body,
    #[error(
        "the body is not a request envelope ({0}): send JSON {{\"id\": N, \"request\": {{\"type\": \"...\", \"data\": ...}}}}"
    )]
    BadEnvelope(String),
    #[error("no such endpoint: {ENDPOINTS}")]
    NotFound,
    #[error("this endpoint does not take that method: {ENDPOINTS}")]
    MethodNotAllowed,
    #[error("{0}")]
    Random(#[from] RandomFailed),
    #[error("cannot start this session's console: {0}")]
    Local(#[from] LocalError),
    #[error("the store cannot be read: {0}")]
    Store(#[from] StoreError),
    #[error("the server is stopping: connect again in a moment")]
    Stopping,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::NoCredentials | Refusal::WrongPassword | Refusal::NoSession => {
                StatusCode::UNAUTHORIZED
            }
            Refusal::NoStream => StatusCode::CONFLICT,
            Refusal::Body => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BadEnvelope(_) => StatusCode::BAD_REQUEST,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Local(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::Random(_) | Refusal::Store(_) | Refusal::Stopping => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "serve: a call failed");
        }
        let challenge = match self {
            Refusal::NoCredentials | Refusal::WrongPassword => Some("Basic realm=\"casebridge\""),
            Refusal::NoSession => Some("Bearer realm=\"casebridge\""),
            _ => None,
        };
        let mut response = (
            status,
            axum::Json(ApiError {
                error: self.to_string(),
            }),
        )
            .into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = authorization(headers)?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (name, password) = pair.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

async fn login(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, Refusal> {
    let (user, operator) = api.login(&headers).await?;
    tracing::info!(%user, %operator, "serve: session opened");
    let granted = api.sessions.open(user, operator)?;
    Ok((StatusCode::CREATED, axum::Json(granted)).into_response())
}

async fn logout(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<StatusCode, Refusal> {
    let session = api.session(&headers)?;
    api.sessions.close(&session);
    tracing::info!(user = %session.user, "serve: session closed");
    Ok(StatusCode::NO_CONTENT)
}

async fn events(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, Refusal> {
    let session = api.session(&headers)?;
    if *api.shutdown.borrow() {
        return Err(Refusal::Stopping);
    }
    let opened = stream::open(
        &api.engine,
        &api.settings,
        &session.operator,
        api.shutdown.clone(),
    )?;
    api.track(opened.task);
    api.sessions
        .attach(&session, opened.slot)
        .map_err(|_| Refusal::NoSession)?;
    let mut response = Body::new(opened.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise hold events back in a buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

async fn requests(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, Refusal> {
    let session = api.session(&headers)?;
    let bytes = axum::body::to_bytes(body, REQUEST_BODY_LIMIT)
        .await
        .map_err(|_| Refusal::Body)?;
    let envelope: RequestEnvelope =
        serde_json::from_slice(&bytes).map_err(|e| Refusal::BadEnvelope(e.to_string()))?;
    api.sessions
        .send(&session, envelope.id, envelope.request)
        .map_err(|e| match e {
            NoStream::Gone => Refusal::NoSession,
            NoStream::Closed => Refusal::NoStream,
        })?;
    Ok(StatusCode::ACCEPTED)
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn metrics(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, Refusal> {
    if !api.metrics_public {
        api.anyone(&headers).await?;
    }
    let counts = with_store(api.engine.store(), |s| {
        crate::store::metrics::exchange_counts(s, now_ms())
    })
    .await?;
    let gsem = api.engine.gsem_health().borrow().clone();
    let servicenow = api.engine.servicenow_health().borrow().clone();
    let text = metrics::render(&counts, &gsem, &servicenow);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response())
}
