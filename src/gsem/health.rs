//! What the GSEM tasks tell the console about themselves: one snapshot in a
//! `tokio::sync::watch` channel, written by each task for its own part.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The outbound side: the drainer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundHealth {
    /// Since when GSEM has answered (any HTTP answer counts).
    pub reachable_since: Option<DateTime<Utc>>,
    /// Since when it has not answered at all; `None` while reachable.
    pub unreachable_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// When the head of the outbox is tried again.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// A configuration or credentials problem: shown loudly until it clears.
    pub config_problem: Option<String>,
    pub queued: u64,
    pub parked: u64,
    /// Age of the oldest queued message, in milliseconds.
    pub oldest_queued_age_ms: Option<i64>,
}

/// A message at the head of the pull queue that we cannot acknowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedHead {
    pub since: DateTime<Utc>,
    pub sha256: String,
    /// The alert as shown: since when, and that GSEM must remove it.
    pub alert: String,
}

/// The inbound side: pull poller or push receiver, and the processor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundHealth {
    /// Last time a pull or a push succeeded.
    pub last_received_at: Option<DateTime<Utc>>,
    pub unreachable_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub config_problem: Option<String>,
    /// Pull mode: a head without a readable MessageId.
    pub blocked_head: Option<BlockedHead>,
    /// Push mode: "inbound queue blocked by an oversized message since T".
    pub oversized_alert: Option<String>,
    /// Push requests refused for want of authentication.
    pub unauthenticated: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GsemHealth {
    pub outbound: OutboundHealth,
    pub inbound: InboundHealth,
}

/// The writing end, shared by the GSEM tasks; hand [`Health::subscribe`]'s
/// receivers to the console.
#[derive(Debug, Clone)]
pub struct Health(Arc<watch::Sender<GsemHealth>>);

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Self(Arc::new(watch::Sender::new(GsemHealth::default())))
    }

    pub fn subscribe(&self) -> watch::Receiver<GsemHealth> {
        self.0.subscribe()
    }

    pub fn snapshot(&self) -> GsemHealth {
        self.0.borrow().clone()
    }

    /// Changes the snapshot; receivers wake only if something changed.
    pub fn update(&self, f: impl FnOnce(&mut GsemHealth)) {
        self.0.send_if_modified(|health| {
            let before = health.clone();
            f(health);
            *health != before
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_wake_only_on_a_change() {
        let health = Health::new();
        let mut rx = health.subscribe();
        health.update(|h| h.outbound.queued = 0);
        assert!(!rx.has_changed().unwrap());
        health.update(|h| h.outbound.queued = 3);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().outbound.queued, 3);
        assert_eq!(health.snapshot().outbound.queued, 3);
    }
}
