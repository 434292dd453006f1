//! The console API of `casebridge serve`, as both ends see it: the paths,
//! the bodies, and how events travel. One HTTPS origin; every body is JSON.
//!
//! - `POST /api/v1/session` with HTTP Basic credentials (a `[[serve.users]]`
//!   name and password) answers 201 [`SessionGranted`]. Every other
//!   `/api/v1` call carries `Authorization: Bearer <token>`.
//! - `GET /api/v1/events` is the session's live stream, as server-sent
//!   events: each `data:` line is one [`crate::console::Event`] in JSON, the
//!   first a `snapshot`; a comment line every [`KEEPALIVE_SECS`] keeps
//!   proxies from closing it. Opening it again replaces the previous stream
//!   of the same session (a reconnecting console).
//! - `POST /api/v1/requests` with a [`RequestEnvelope`] answers 202 once the
//!   request is handed to the session's engine end; its outcome arrives on
//!   the stream as `request_accepted` or `request_failed` with the same id.
//!   409 when the session has no open stream.
//! - `DELETE /api/v1/session` ends the session.
//! - `GET /healthz` (no authentication) and `GET /metrics` (Prometheus text).
//!
//! Every refusal (4xx, 5xx) has an [`ApiError`] body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::protocol::{Request, RequestId};

pub const SESSION_PATH: &str = "/api/v1/session";
pub const EVENTS_PATH: &str = "/api/v1/events";
pub const REQUESTS_PATH: &str = "/api/v1/requests";
pub const HEALTHZ_PATH: &str = "/healthz";
pub const METRICS_PATH: &str = "/metrics";

/// How often the event stream sends a keep-alive comment; a client that
/// hears nothing for three times this long treats the connection as lost.
pub const KEEPALIVE_SECS: u64 = 10;

/// The answer to a successful login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGranted {
    pub token: String,
    /// The `[[operators]]` id the user acts as.
    pub operator: String,
    /// The session ends then unless used; each call extends it.
    pub expires_at: DateTime<Utc>,
}

/// One console request, with the id its answer on the stream will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub id: RequestId,
    pub request: Request,
}

/// The body of every refusal: what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
