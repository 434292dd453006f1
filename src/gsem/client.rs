//! The HTTPS client that talks to GSEM: mutual TLS from PEM files, the agent
//! key header on every request, a request timeout, and replies reduced to
//! what [`crate::gsem::classify`] and the pull poller need.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::backoff::parse_retry_after;
use super::classify::TransportFailure;
use super::pem::{CertificateInfo, CheckedIdentity, TlsFileError, load_ca_bundle};

/// Everything the client needs, taken from the validated GSEM settings.
#[derive(Clone)]
pub struct ClientSettings {
    /// Base URL; normalised here to end in `/`.
    pub base_url: String,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub ca_bundle: Option<PathBuf>,
    pub agent_key_header: String,
    /// HPE's confidential id of this agent: never logged or shown.
    pub agent_key: String,
    /// Path of the message endpoint relative to the base URL.
    pub message_path: String,
    pub request_timeout: Duration,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("base_url", &self.base_url)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("ca_bundle", &self.ca_bundle)
            .field("agent_key_header", &self.agent_key_header)
            .field("agent_key", &"***")
            .field("message_path", &self.message_path)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    File(#[from] TlsFileError),
    #[error(
        "agent key header name {0:?} is not a valid HTTP header name: fix the GSEM agent key header in the config"
    )]
    HeaderName(String),
    #[error(
        "the GSEM agent key contains characters an HTTP header cannot carry: check the agent key in the config"
    )]
    AgentKey,
    #[error("cannot build the HTTPS client for GSEM: {0}")]
    Build(#[source] reqwest::Error),
}

/// One HTTP answer from GSEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<Duration>,
}

/// A GSEM client for one environment.
#[derive(Debug, Clone)]
pub struct GsemClient {
    http: reqwest::Client,
    message_url: String,
    certificate: CertificateInfo,
}

impl GsemClient {
    /// Builds the client, checking the PEM files first so that a wrong key or
    /// an expired certificate stops start-up with the file named.
    pub fn new(settings: &ClientSettings) -> Result<Self, ClientError> {
        let identity =
            CheckedIdentity::load(&settings.client_cert, &settings.client_key, Utc::now())?;
        let header = HeaderName::from_bytes(settings.agent_key_header.as_bytes())
            .map_err(|_| ClientError::HeaderName(settings.agent_key_header.clone()))?;
        let mut value =
            HeaderValue::from_str(&settings.agent_key).map_err(|_| ClientError::AgentKey)?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header, value);

        let mut builder = reqwest::Client::builder()
            .identity(reqwest::Identity::from_pem(&identity.pem).map_err(ClientError::Build)?)
            .default_headers(headers)
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &settings.ca_bundle {
            let (pem, _) = load_ca_bundle(ca)?;
            let roots =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsFileError::BadPem {
                    path: ca.clone(),
                    why: e.to_string(),
                })?;
            builder = builder.tls_certs_only(roots);
        }
        let http = builder.build().map_err(ClientError::Build)?;
        Ok(Self {
            http,
            message_url: join_url(&settings.base_url, &settings.message_path),
            certificate: identity.info,
        })
    }

    pub fn message_url(&self) -> &str {
        &self.message_url
    }

    /// The client certificate as checked at start-up.
    pub fn certificate(&self) -> &CertificateInfo {
        &self.certificate
    }

    /// `POST` one transaction; `body` is sent byte for byte as stored.
    pub async fn post_message(&self, body: &str) -> Result<HttpReply, TransportFailure> {
        self.send(
            self.http
                .post(&self.message_url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// Pull mode: fetch the head of our inbound queue.
    pub async fn get_message(&self) -> Result<HttpReply, TransportFailure> {
        self.send(self.http.get(&self.message_url)).await
    }

    /// Pull mode: acknowledge the fetched head (sample 13's body).
    pub async fn patch_message(&self, message_id: &str) -> Result<HttpReply, TransportFailure> {
        let body = serde_json::json!({"MessageId": message_id, "Status": "PROCESSED"});
        self.send(self.http.patch(&self.message_url).json(&body))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<HttpReply, TransportFailure> {
        let response = request.send().await.map_err(|e| transport_failure(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = response.text().await.map_err(|e| transport_failure(&e))?;
        Ok(HttpReply {
            status,
            body,
            retry_after,
        })
    }
}

/// `base` normalised to end in `/`, then `path` without a leading `/`.
pub fn join_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    format!("{base}/{}", path.trim_start_matches('/'))
}

/// Sorts a reqwest error into the transport kinds health reports, naming the
/// innermost cause (reqwest's own text is only "error sending request").
fn transport_failure(error: &reqwest::Error) -> TransportFailure {
    if error.is_timeout() {
        return TransportFailure::Timeout;
    }
    let mut innermost = error.to_string();
    let mut source = std::error::Error::source(error);
    let mut tls = false;
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return TransportFailure::Timeout;
        }
        innermost = cause.to_string();
        source = cause.source();
    }
    if tls {
        TransportFailure::Tls(innermost)
    } else if error.is_connect() {
        TransportFailure::Connect(innermost)
    } else {
        TransportFailure::Other(innermost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_exactly_one_slash() {
        assert_eq!(
            join_url("https://gsem.test", "redfish/v1/message"),
            "https://gsem.test/redfish/v1/message"
        );
        assert_eq!(
            join_url("https://gsem.test/base/", "/redfish/v1/message"),
            "https://gsem.test/base/redfish/v1/message"
        );
    }

    #[test]
    fn debug_never_shows_the_agent_key() {
        let settings = ClientSettings {
            base_url: "https://gsem.test/".into(),
            client_cert: "c.pem".into(),
            client_key: "k.pem".into(),
            ca_bundle: None,
            agent_key_header: "X-Agent-Key".into(),
            agent_key: "s3cret-agent".into(),
            message_path: "redfish/v1/message".into(),
            request_timeout: Duration::from_secs(1),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cret-agent"), "{shown}");
    }
}
