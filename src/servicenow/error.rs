//! What a Table API call can fail with, and whether trying again helps.

use std::time::Duration;

/// A failed ServiceNow call. Messages name the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SnError {
    #[error("ServiceNow refuses our credentials: check servicenow.user/password")]
    Credentials,
    #[error(
        "ServiceNow's /oauth_token.do refuses our OAuth client or user: check servicenow.client_id/client_secret and servicenow.user/password"
    )]
    OAuthRefused,
    #[error(
        "ServiceNow forbids {action}: {message}{}; give the integration user the role or ACL it needs",
        detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Forbidden {
        action: String,
        message: String,
        detail: Option<String>,
    },
    #[error(
        "ServiceNow has no record at {path} (missing, or hidden from the integration user by an ACL)"
    )]
    NotFound { path: String },
    #[error(
        "ServiceNow rejected {action}: {message}{}",
        detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    BadRequest {
        action: String,
        message: String,
        detail: Option<String>,
    },
    #[error(
        "ServiceNow is rate limiting us (HTTP 429){}",
        retry_after.map(|d| format!("; it asks us to wait {} s", d.as_secs())).unwrap_or_else(|| "; back off and try again".to_owned())
    )]
    RateLimited { retry_after: Option<Duration> },
    #[error("ServiceNow answered HTTP {status} to {action}: {message}")]
    Status {
        status: u16,
        action: String,
        message: String,
    },
    #[error(
        "cannot reach ServiceNow for {action}: {source} (check servicenow.instance_url and the network)"
    )]
    Transport {
        action: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("ServiceNow sent an answer casebridge cannot use, to {action}: {reason}")]
    Protocol { action: String, reason: String },
    #[error(
        "field `{field}` is not one casebridge knows on table {table}: ServiceNow would silently ignore it (and widen a query); fix the name"
    )]
    UnknownField { table: String, field: String },
    #[error("encoded query cannot carry {value:?} for `{field}`: it contains `{bad}`")]
    QueryValue {
        field: String,
        value: String,
        bad: char,
    },
    #[error("encoded query part `{part}` cannot be used: {reason}")]
    QuerySyntax { part: String, reason: String },
    #[error("ServiceNow instance URL {url} cannot be used: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("cannot set up the HTTPS client for ServiceNow: {0} (check servicenow.ca_bundle)")]
    ClientSetup(#[source] reqwest::Error),
}

impl SnError {
    /// Whether the same call may succeed later: rate limits, server errors
    /// and network failures. Everything else needs a fix first.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }

    /// How long the instance asked us to wait; `None` for a bare 429 (the
    /// caller backs off on its own) and for every other error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:20:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn transience() {
        assert!(SnError::RateLimited { retry_after: None }.is_transient());
        assert!(
            SnError::Status {
                status: 503,
                action: String::new(),
                message: String::new()
            }
            .is_transient()
        );
        assert!(!SnError::Credentials.is_transient());
        assert!(
            !SnError::NotFound {
                path: String::new()
            }
            .is_transient()
        );
        assert_eq!(
            SnError::RateLimited {
                retry_after: Some(Duration::from_secs(5))
            }
            .retry_after(),
            Some(Duration::from_secs(5))
        );
    }
}
