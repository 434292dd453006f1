//! Push delivery (§5): GSEM POSTs the head of the queue to the requester's
//! endpoint, one message in flight, and retries that same head with backoff
//! until it is answered 2xx.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{GsemSimError, Shared};

/// How the simulator authenticates to the requester's endpoint.
#[derive(Clone)]
pub enum PushAuth {
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// A client certificate of the simulator's own (PEM).
    ClientCert {
        cert_pem: String,
        key_pem: String,
    },
}

impl std::fmt::Debug for PushAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are never formatted.
        f.write_str(match self {
            PushAuth::None => "None",
            PushAuth::Basic { .. } => "Basic(..)",
            PushAuth::Bearer(_) => "Bearer(..)",
            PushAuth::ClientCert { .. } => "ClientCert(..)",
        })
    }
}

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The requester's endpoint, `http://` or `https://`.
    pub url: String,
    pub auth: PushAuth,
    /// CA bundle (PEM) the endpoint's server certificate must chain to;
    /// `None`: the platform's roots.
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    pub backoff_start: Duration,
    pub backoff_cap: Duration,
}

impl PushConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: PushAuth::None,
            ca_pem: None,
            timeout: Duration::from_secs(30),
            backoff_start: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
        }
    }
}

/// What one delivery attempt got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// The endpoint answered with this HTTP status.
    Status(u16),
    /// No HTTP answer: connection refused, reset, timeout, TLS failure.
    Error(String),
}

impl PushOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, PushOutcome::Status(s) if (200..300).contains(s))
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushAttempt {
    pub at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub delivery_count: u32,
    pub outcome: PushOutcome,
}

/// The push loop as a health page would show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushHealth {
    /// Messages delivered (answered 2xx).
    pub delivered: u64,
    /// Attempts that were not answered 2xx.
    pub failed_attempts: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Since when the head has been failing, when it is.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_outcome: Option<PushOutcome>,
}

pub(crate) fn client(config: &PushConfig) -> Result<reqwest::Client, GsemSimError> {
    let mut builder = reqwest::Client::builder().timeout(config.timeout);
    if let Some(ca) = &config.ca_pem {
        let roots = reqwest::Certificate::from_pem_bundle(ca.as_bytes())
            .map_err(GsemSimError::PushClient)?;
        builder = builder.tls_certs_only(roots);
    }
    if let PushAuth::ClientCert { cert_pem, key_pem } = &config.auth {
        let identity = reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes())
            .map_err(GsemSimError::PushClient)?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(GsemSimError::PushClient)
}

pub(crate) async fn run(shared: Arc<Shared>, config: PushConfig, client: reqwest::Client) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut backoff = config.backoff_start;
    loop {
        let entry = loop {
            if let Some(entry) = shared.lock().queue.deliver_head() {
                break entry;
            }
            tokio::select! {
                () = shared.queue_changed.notified() => {}
                _ = shutdown.changed() => return,
            }
        };
        let mut request = client
            .post(&config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(entry.delivery_bytes());
        request = match &config.auth {
            PushAuth::Basic { user, password } => request.basic_auth(user, Some(password)),
            PushAuth::Bearer(token) => request.bearer_auth(token),
            PushAuth::None | PushAuth::ClientCert { .. } => request,
        };
        let outcome = tokio::select! {
            result = request.send() => match result {
                Ok(response) => PushOutcome::Status(response.status().as_u16()),
                Err(e) => PushOutcome::Error(error_chain(&e)),
            },
            _ = shutdown.changed() => return,
        };
        let success = outcome.is_success();
        {
            let now = Utc::now();
            let mut state = shared.lock();
            state.push_attempts.push(PushAttempt {
                at: now,
                message_id: entry.message_id.clone(),
                delivery_count: entry.delivery_count,
                outcome: outcome.clone(),
            });
            let health = &mut state.push;
            health.last_outcome = Some(outcome);
            if success {
                health.delivered += 1;
                health.consecutive_failures = 0;
                health.failing_since = None;
            } else {
                health.failed_attempts += 1;
                health.consecutive_failures += 1;
                health.failing_since.get_or_insert(now);
            }
            if success {
                // The head may have been removed by a test meanwhile.
                state.queue.remove_if_head(entry.seq);
            }
        }
        if success {
            backoff = config.backoff_start;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(config.backoff_cap);
    }
}

/// The error with its causes: reqwest's top level says only "error sending
/// request", the cause says "connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
