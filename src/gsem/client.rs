//! The HTTPS client that talks to GSEM: mutual TLS from PEM files, the agent
//! key header on every request, a request timeout, and replies reduced to
//! what [`crate::gsem::classify`] and the pull poller need.

use std::time::Duration;

use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::backoff::parse_retry_after;
use super::classify::TransportFailure;
use super::pem::{CertificateInfo, CheckedIdentity, TlsFileError, load_ca_bundle};
use crate::config::Gsem;
use crate::sis::PullAck;

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
    pub fn new(settings: &Gsem) -> Result<Self, ClientError> {
        let identity =
            CheckedIdentity::load(&settings.client_cert, &settings.client_key, Utc::now())?;
        let header = HeaderName::from_bytes(settings.agent_key_header.as_bytes())
            .map_err(|_| ClientError::HeaderName(settings.agent_key_header.clone()))?;
        let mut value = HeaderValue::from_str(settings.agent_key.expose())
            .map_err(|_| ClientError::AgentKey)?;
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
            message_url: settings.message_url.to_string(),
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
        let body = PullAck::processed(message_id)
            .to_json()
            .map_err(|e| TransportFailure::Other(e.to_string()))?;
        self.send(
            self.http
                .patch(&self.message_url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
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
