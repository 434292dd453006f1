//! Pull mode (spec §5): fetch the head of our GSEM queue, commit it to the
//! inbox, acknowledge it with PATCH, and repeat until the queue is empty.
//!
//! The body is committed before it is acknowledged, whatever it holds: the
//! inbox processor decides later whether it is usable. Only a head without a
//! readable MessageId cannot be acknowledged; it is quarantined once and
//! reported until GSEM removes it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::backoff::jitter;
use super::client::{GsemClient, HttpReply};
use super::health::{BlockedHead, Health};
use super::shared::{SharedStore, Shutdown, from_ms, now_ms, sleep_or_stop, with_store};
use crate::sis::{PullReply, parse_pull, peek_message_id};
use crate::store::prelude::*;
use crate::store::{NewQuarantine, StoreError, Via};

/// Why a pulled head was quarantined without being acknowledged.
pub const NO_MESSAGE_ID: &str =
    "no readable MessageId: GSEM must remove this message from the queue";

/// The pull poller task.
pub struct PullPoller {
    client: GsemClient,
    store: SharedStore,
    poll_interval: Duration,
    inbox_wake: Arc<Notify>,
    health: Health,
    /// SHA-256 of the head we cannot acknowledge, so it is quarantined once.
    blocked: Option<String>,
}

/// What one round against the queue found.
enum Round {
    /// Took a message: ask again at once.
    Took,
    /// Empty, blocked, or failed: sleep the poll interval.
    Rest,
}

impl PullPoller {
    pub fn spawn(
        client: GsemClient,
        store: SharedStore,
        poll_interval: Duration,
        inbox_wake: Arc<Notify>,
        health: Health,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let poller = PullPoller {
            client,
            store,
            poll_interval,
            inbox_wake,
            health,
            blocked: None,
        };
        tokio::spawn(poller.run(shutdown))
    }

    async fn run(mut self, mut shutdown: Shutdown) {
        loop {
            let round = tokio::select! {
                round = self.round() => round,
                _ = shutdown.changed() => return,
            };
            let rest = match round {
                Ok(Round::Took) => Duration::ZERO,
                Ok(Round::Rest) => self.poll_interval.mul_f64(0.8 + 0.4 * jitter()),
                Err(e) => {
                    tracing::error!(error = %e, "pull poller: store error");
                    self.health
                        .update(|h| h.inbound.last_error = Some(format!("store: {e}")));
                    self.poll_interval
                }
            };
            if sleep_or_stop(rest, &mut shutdown).await {
                return;
            }
        }
    }

    async fn round(&mut self) -> Result<Round, StoreError> {
        let reply = match self.client.get_message().await {
            Ok(reply) => reply,
            Err(failure) => {
                self.unreachable(failure.to_string());
                return Ok(Round::Rest);
            }
        };
        if !self.answered(&reply) {
            return Ok(Round::Rest);
        }
        let raw = reply.body.into_bytes();
        let message_id = match parse_pull(&raw) {
            Ok(PullReply::Empty) => {
                self.clear_blocked();
                return Ok(Round::Rest);
            }
            Ok(PullReply::Message(inbound)) => inbound.message_id().map(str::to_string),
            // Not usable, but it may still carry its id: then it is
            // committed and acknowledged like any other, and the processor
            // quarantines it with the reason.
            Err(_) => peek_message_id(&raw),
        };
        let Some(message_id) = message_id else {
            self.block(raw).await?;
            return Ok(Round::Rest);
        };
        self.clear_blocked();
        let now = now_ms();
        let id = message_id.clone();
        with_store(&self.store, move |s| {
            s.inbox_insert(Some(&id), &raw, Via::Pull, now)
        })
        .await?;
        self.inbox_wake.notify_one();
        match self.client.patch_message(&message_id).await {
            Ok(reply) if (200..300).contains(&reply.status) => Ok(Round::Took),
            Ok(reply) => {
                // Committed already: the redelivery is deduplicated.
                self.problem(format!(
                    "GSEM answered {} to the PATCH of {message_id}",
                    reply.status
                ));
                Ok(Round::Rest)
            }
            Err(failure) => {
                self.unreachable(failure.to_string());
                Ok(Round::Rest)
            }
        }
    }

    /// Records an HTTP answer to a GET; false when it is not a queue reply.
    fn answered(&self, reply: &HttpReply) -> bool {
        let at = from_ms(now_ms());
        let status = reply.status;
        let problem = match status {
            200..=299 => None,
            401 | 403 => Some("GSEM refuses our credentials".to_string()),
            300..=399 | 404 | 405 => Some(format!(
                "GSEM answers {status} at {}: check the base URL and paths",
                self.client.message_url()
            )),
            _ => None,
        };
        self.health.update(|h| {
            h.inbound.unreachable_since = None;
            h.inbound.config_problem = problem.clone();
            if (200..300).contains(&status) {
                h.inbound.last_received_at = Some(at);
                h.inbound.last_error = None;
            } else {
                h.inbound.last_error = Some(format!("GSEM answered {status} to the pull"));
            }
        });
        (200..300).contains(&status)
    }

    fn unreachable(&self, why: String) {
        let at = from_ms(now_ms());
        self.health.update(|h| {
            h.inbound.unreachable_since.get_or_insert(at);
            h.inbound.last_error = Some(why);
        });
    }

    fn problem(&self, why: String) {
        self.health.update(|h| h.inbound.last_error = Some(why));
    }

    async fn block(&mut self, raw: Vec<u8>) -> Result<(), StoreError> {
        let entry_sha = NewQuarantine::whole(&raw, NO_MESSAGE_ID, None).sha256;
        if self.blocked.as_deref() == Some(entry_sha.as_str()) {
            return Ok(());
        }
        let now = now_ms();
        with_store(&self.store, move |s| {
            s.quarantine_insert(&NewQuarantine::whole(&raw, NO_MESSAGE_ID, None), now)
        })
        .await?;
        let since = from_ms(now);
        tracing::error!(sha256 = %entry_sha, "GSEM queue head has no readable MessageId");
        self.health.update(|h| {
            h.inbound.blocked_head = Some(BlockedHead {
                since,
                sha256: entry_sha.clone(),
                alert: blocked_alert(since),
            });
        });
        self.blocked = Some(entry_sha);
        Ok(())
    }

    fn clear_blocked(&mut self) {
        if self.blocked.take().is_some() {
            self.health.update(|h| h.inbound.blocked_head = None);
        }
    }
}

/// The alert shown while the queue head cannot be acknowledged.
pub fn blocked_alert(since: DateTime<Utc>) -> String {
    format!(
        "inbound queue blocked since {} by a message without a readable MessageId: \
         GSEM must remove it from the queue (it is in quarantine)",
        crate::sis::date::format(since)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gsem::drainer::tests::{gateway, open_store};
    use crate::store::InboxState;

    const NOTE: &str = include_str!("../../assets/samples/03-note-from-hpe.json");
    const ACCEPT: &str = include_str!("../../assets/samples/02-accept-problem.json");

    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pulls_commits_and_acknowledges_until_empty_and_waits_at_a_blocked_head() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        assert_eq!(gw.sim.enqueue_raw(ACCEPT), Some("q-000101".to_string()));
        assert_eq!(
            gw.sim.enqueue_raw("not json at all, but with an id? no"),
            None
        );
        assert_eq!(gw.sim.enqueue_raw(NOTE), Some("q-000117".to_string()));
        let store = open_store(dir.path());
        let health = Health::new();
        let wake = Arc::new(Notify::new());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = PullPoller::spawn(
            crate::gsem::client::GsemClient::new(&gw.settings).unwrap(),
            Arc::clone(&store),
            Duration::from_millis(50),
            Arc::clone(&wake),
            health.clone(),
            shutdown,
        );
        wait_for("the blocked head", || {
            health.snapshot().inbound.blocked_head.is_some()
        })
        .await;
        // The first message is in the inbox and acknowledged; the second
        // blocks the queue and went to quarantine once.
        let first = store.lock().unwrap().inbox_get(1).unwrap().unwrap();
        assert_eq!(first.message_id.as_deref(), Some("q-000101"));
        assert_eq!(first.raw, ACCEPT.as_bytes());
        assert_eq!(first.via, Via::Pull);
        assert_eq!(first.state, InboxState::New);
        assert_eq!(gw.sim.queue_len(), 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quarantine = store
            .lock()
            .unwrap()
            .quarantine_list(crate::store::QuarantineState::Open)
            .unwrap();
        assert_eq!(quarantine.len(), 1);
        assert_eq!(quarantine[0].reason, NO_MESSAGE_ID);
        assert_eq!(quarantine[0].delivery_count, 1);
        let alert = health.snapshot().inbound.blocked_head.unwrap().alert;
        assert!(alert.contains("GSEM must remove it"), "{alert}");

        // GSEM's operators remove it: the poller carries on by itself.
        gw.sim.remove_head();
        wait_for("the queue to drain", || gw.sim.queue_len() == 0).await;
        wait_for("the second row", || {
            store.lock().unwrap().inbox_get(2).unwrap().is_some()
        })
        .await;
        let second = store.lock().unwrap().inbox_get(2).unwrap().unwrap();
        assert_eq!(second.message_id.as_deref(), Some("q-000117"));
        assert_eq!(health.snapshot().inbound.blocked_head, None);
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
