//! What the console and `doctor` show about the ServiceNow side.

use chrono::{DateTime, Utc};

/// Published on a `tokio::sync::watch` channel after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceNowHealth {
    /// Last answer from the instance (any successful call).
    pub last_contact: Option<DateTime<Utc>>,
    /// Last completed polling round.
    pub last_poll: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// The instance refuses our credentials (401): nothing moves until the
    /// credentials are fixed; casebridge keeps trying.
    pub credentials_problem: bool,
    /// `sys_journal_field` answers empty although entries are known to be
    /// there: the integration user lacks its read ACL. New comments cannot
    /// be seen and writes cannot be checked.
    pub journal_blocked: bool,
    /// No request before this time: the instance's `Retry-After`.
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// ServiceNow comments waiting for their case to leave state 6 (or for
    /// its SERVICE REQUEST to be acknowledged).
    pub held_comments: usize,
    /// Journal writes accepted by ServiceNow but not confirmed by reading
    /// them back (journal blocked), since the engine started.
    pub unverified_writes: u64,
}
