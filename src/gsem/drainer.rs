//! The outbox drainer: sends the head of the outbox to GSEM, strictly in
//! order, and records what GSEM said (spec §4).
//!
//! The head is retried until it is acknowledged or parked; a parked message
//! holds back only its own case (the store's `outbox_head` skips the rest).
//! Every decision and its schedule are in the store, so a restart carries on
//! exactly where the last run stopped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::backoff::{Backoff, jitter};
use super::classify::{Outcome, Reply, Sent, TransportFailure, classify};
use super::client::{GsemClient, HttpReply};
use super::health::Health;
use super::shared::{SharedStore, Shutdown, from_ms, now_ms, stopping, with_store};
use crate::sis::state::{self, Decision, Event, State};
use crate::sis::{TransactionName, parse_ack};
use crate::store::prelude::*;
use crate::store::{OutboxRow, OutboxState, OutboxStats, StoreError, Tx};

/// Rows committed by another process (the CLI, a test) are noticed within
/// this long even when nobody rings the bell.
pub const STORE_POLL: Duration = Duration::from_millis(500);

/// Shown in `last_error` while a first attempt awaits its reply, so that a
/// crash in between leaves the row marked as attempted (its resend may then
/// be recognised as already applied, spec §4).
///
/// Which refusals of a resend count as inferred acknowledgements is spec
/// §4's list, as `classify` implements it: only 1003 answers (a SERVICE
/// REQUEST's "duplicate RequesterID"; a CONFIRM CLOSE or REQUEST CLOSURE
/// with `CurrentState` 7). Issue 3's summary says "1002/1003"; the spec, the
/// contract, names no 1002 case, and a 1002 (unknown id) on a resend parks
/// the message like any other refusal.
const IN_FLIGHT: &str = "sent; no reply recorded yet";

#[derive(Debug, Clone)]
pub struct DrainerConfig {
    pub backoff: Backoff,
    /// `RemoteAgentName` we address, named when GSEM does not know it.
    pub remote_agent: String,
}

/// The drainer task.
#[derive(Debug)]
pub struct Drainer {
    client: GsemClient,
    store: SharedStore,
    config: DrainerConfig,
    wake: Arc<Notify>,
    health: Health,
}

impl Drainer {
    /// Starts draining. `wake` is notified by whoever queues a message in
    /// this process; other processes' rows are found by polling.
    pub fn spawn(
        client: GsemClient,
        store: SharedStore,
        config: DrainerConfig,
        wake: Arc<Notify>,
        health: Health,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let drainer = Drainer {
            client,
            store,
            config,
            wake,
            health,
        };
        tokio::spawn(drainer.run(shutdown))
    }

    async fn run(self, mut shutdown: Shutdown) {
        // The head the last commit already looked at (and marked in flight).
        let mut ahead = None;
        while !stopping(&shutdown) {
            let wait = match self.step(ahead.take(), &mut shutdown).await {
                Ok(Step::Again(next)) => {
                    ahead = next;
                    continue;
                }
                Ok(Step::Wait(wait)) => wait,
                Ok(Step::Stop) => break,
                Err(e) => {
                    tracing::error!(error = %e, "outbox drainer: store error");
                    self.health
                        .update(|h| h.outbound.last_error = Some(format!("store: {e}")));
                    STORE_POLL
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Sends the head and records what GSEM said. `ahead` is the head as the
    /// previous message's commit found it; without it the store is asked.
    async fn step(
        &self,
        ahead: Option<Ahead>,
        shutdown: &mut Shutdown,
    ) -> Result<Step, StoreError> {
        let ahead = match ahead {
            Some(ahead) => ahead,
            None => {
                let now = now_ms();
                let (ahead, stats) =
                    with_store(&self.store, move |s| s.transaction(|tx| take_head(tx, now)))
                        .await?;
                self.report(&ahead, stats);
                ahead
            }
        };
        let row = match ahead {
            Ahead::Empty => return Ok(Step::Wait(STORE_POLL)),
            Ahead::Later { at } => {
                let until = Duration::from_millis((at - now_ms()).max(0).unsigned_abs());
                return Ok(Step::Wait(until.min(STORE_POLL)));
            }
            Ahead::Due(row) => row,
        };
        // As read before any in-flight mark of this attempt.
        let resend = row.unanswered_attempt();
        let reply = tokio::select! {
            reply = self.client.post_message(&row.body) => reply,
            // Abandoning is safe: the row stays queued, and its resend is
            // recognised by the rules for lost replies.
            _ = shutdown.changed() => return Ok(Step::Stop),
        };
        let outcome = self.classify(&row, resend, &reply);
        let next = self.record(row, outcome, reply.is_ok()).await?;
        Ok(Step::Again(next))
    }

    fn report(&self, ahead: &Ahead, stats: OutboxStats) {
        self.health.update(|h| {
            h.outbound.queued = stats.queued;
            h.outbound.parked = stats.parked;
            h.outbound.oldest_queued_age_ms = stats.oldest_queued_age_ms;
            if matches!(ahead, Ahead::Empty) {
                h.outbound.next_retry_at = None;
            }
        });
    }

    fn classify(
        &self,
        row: &OutboxRow,
        resend: bool,
        reply: &Result<HttpReply, TransportFailure>,
    ) -> Outcome {
        let sent = Sent {
            transaction: TransactionName::parse(&row.transaction_name),
            resend,
            url: self.client.message_url(),
            remote_agent: &self.config.remote_agent,
        };
        match reply {
            Err(failure) => classify(&sent, &Reply::Transport(failure.clone())),
            Ok(http) => {
                let ack = parse_ack(http.body.as_bytes()).ok();
                classify(
                    &sent,
                    &Reply::Http {
                        status: http.status,
                        ack: ack.as_ref(),
                        body: &http.body,
                        retry_after: http.retry_after,
                    },
                )
            }
        }
    }

    /// `answered`: GSEM gave an HTTP answer, whatever it said. An
    /// acknowledgement or a parking moves the queue on, and its commit also
    /// takes the next head (`Some`); a retry leaves the head where it is.
    async fn record(
        &self,
        row: OutboxRow,
        outcome: Outcome,
        answered: bool,
    ) -> Result<Option<Ahead>, StoreError> {
        let now = now_ms();
        let at = from_ms(now);
        self.health.update(|h| {
            if answered {
                h.outbound.reachable_since.get_or_insert(at);
                h.outbound.unreachable_since = None;
            } else {
                h.outbound.unreachable_since.get_or_insert(at);
                h.outbound.reachable_since = None;
            }
        });
        match outcome {
            Outcome::Acked { current_state } | Outcome::Inferred { current_state } => {
                let inferred = matches!(outcome, Outcome::Inferred { .. });
                let (ahead, stats) = with_store(&self.store, move |s| {
                    s.transaction(|tx| {
                        record_ack(tx, &row, inferred, current_state, now)?;
                        take_head(tx, now)
                    })
                })
                .await?;
                self.health.update(|h| {
                    h.outbound.config_problem = None;
                    h.outbound.last_error = None;
                    h.outbound.next_retry_at = None;
                });
                self.report(&ahead, stats);
                Ok(Some(ahead))
            }
            Outcome::Park { code, detail, .. } => {
                tracing::warn!(seq = row.seq, code, %detail, "GSEM refused a message: parked");
                let shown = detail.clone();
                let (ahead, stats) = with_store(&self.store, move |s| {
                    s.transaction(|tx| {
                        record_park(tx, &row, &detail, now)?;
                        take_head(tx, now)
                    })
                })
                .await?;
                self.health.update(|h| {
                    h.outbound.config_problem = None;
                    h.outbound.last_error = Some(shown);
                });
                self.report(&ahead, stats);
                Ok(Some(ahead))
            }
            Outcome::Config {
                problem,
                retry_after,
            } => {
                tracing::error!(seq = row.seq, %problem, "GSEM configuration problem; the outbox waits");
                self.retry_later(row, problem.clone(), retry_after, now)
                    .await?;
                self.health
                    .update(|h| h.outbound.config_problem = Some(problem));
                Ok(None)
            }
            Outcome::Transient {
                reason,
                retry_after,
            } => {
                tracing::warn!(seq = row.seq, %reason, "GSEM send failed; will retry");
                self.retry_later(row, reason, retry_after, now).await?;
                Ok(None)
            }
        }
    }

    async fn retry_later(
        &self,
        row: OutboxRow,
        error: String,
        retry_after: Option<Duration>,
        now: i64,
    ) -> Result<(), StoreError> {
        let failures = u32::try_from(row.attempts.max(1)).unwrap_or(u32::MAX);
        let next =
            self.config
                .backoff
                .next_attempt_at(from_ms(now), failures, retry_after, jitter());
        let next_ms = next.timestamp_millis();
        let shown = error.clone();
        let seq = row.seq;
        with_store(&self.store, move |s| {
            s.transaction(|tx| {
                still_queued(tx, seq, |tx| tx.outbox_record_attempt(seq, next_ms, &error))
            })
        })
        .await?;
        self.health.update(|h| {
            h.outbound.last_error = Some(shown);
            h.outbound.next_retry_at = Some(next);
        });
        Ok(())
    }
}

enum Step {
    /// Go on at once, with the head if the last commit took it.
    Again(Option<Ahead>),
    Wait(Duration),
    Stop,
}

/// The head of the outbox as a transaction found it.
enum Ahead {
    Empty,
    /// Scheduled for a retry at this time (ms).
    Later {
        at: i64,
    },
    /// To be sent now; as it was read, before its in-flight mark.
    Due(OutboxRow),
}

/// Finds the head and, if it is due for its first attempt, marks it in
/// flight in the same transaction: "committed before it is sent" holds
/// although the mark shares the commit that recorded the message before
/// it, so a message costs one commit. The mark is what makes a later send
/// a resend, whose 1003 refusals may prove this attempt got through
/// (spec §4). Stopping between this commit and the send leaves a marked
/// message unsent, exactly as a crash between a separate mark and the send
/// would.
fn take_head(tx: &Tx<'_>, now: i64) -> Result<(Ahead, OutboxStats), StoreError> {
    let ahead = match tx.outbox_head()? {
        None => Ahead::Empty,
        Some(row) if row.next_attempt_at > now => Ahead::Later {
            at: row.next_attempt_at,
        },
        Some(row) => {
            if !row.unanswered_attempt() {
                tx.outbox_record_attempt(row.seq, now, IN_FLIGHT)?;
            }
            Ahead::Due(row)
        }
    };
    Ok((ahead, tx.outbox_stats(now)?))
}

/// Runs `f` only if message `seq` is still queued: while its request was in
/// flight an inbound ACCEPT PROBLEM may have counted as its acknowledgement,
/// or the operator may have dropped it. Then there is nothing to record.
fn still_queued(
    tx: &Tx<'_>,
    seq: i64,
    f: impl FnOnce(&Tx<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    match tx.outbox_get(seq)? {
        Some(row) if row.state == OutboxState::Queued => f(tx),
        _ => Ok(()),
    }
}

/// Marks the message sent and moves the case's confirmed state as the SIS
/// table and the acknowledgement's `CurrentState` say, in one transaction.
fn record_ack(
    tx: &Tx<'_>,
    row: &OutboxRow,
    inferred: bool,
    current_state: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    still_queued(tx, row.seq, |tx| {
        tx.outbox_mark_acked(row.seq, inferred, now)?;
        let transaction = TransactionName::parse(&row.transaction_name);
        let Some(case) = tx.case_by_id(row.case_id)? else {
            return Err(StoreError::NotFound {
                what: "case",
                id: row.case_id.to_string(),
            });
        };
        let confirmed = State::from_code(i64::from(case.state));
        let event = Event::Acknowledged {
            transaction: transaction.clone(),
            current_state,
        };
        if let Decision::Apply(applied) = state::apply(confirmed, &event) {
            let code = applied.state as u8;
            if code != case.state {
                tx.set_case_state(case.id, code, now)?;
            }
            if let Some(audit) = applied.audit {
                tx.audit_append("engine", Some(case.id), "state", &audit.to_string(), now)?;
            }
        }
        if transaction == TransactionName::ServiceRequest && case.sent_at.is_none() {
            tx.set_case_sent_at(case.id, now)?;
        }
        let how = if inferred {
            "acknowledgement inferred: an earlier attempt got through"
        } else {
            "acknowledged by GSEM"
        };
        tx.audit_append(
            "engine",
            Some(case.id),
            "outbox",
            &format!("{transaction} (message {}) {how}", row.seq),
            now,
        )?;
        Ok(())
    })
}

fn record_park(tx: &Tx<'_>, row: &OutboxRow, detail: &str, now: i64) -> Result<(), StoreError> {
    still_queued(tx, row.seq, |tx| {
        tx.outbox_park(row.seq, detail, now)?;
        tx.audit_append(
            "engine",
            Some(row.case_id),
            "outbox",
            &format!(
                "{} (message {}) refused by GSEM and parked: {detail}",
                row.transaction_name, row.seq
            ),
            now,
        )?;
        Ok(())
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::config::{Environment, Gsem};
    use crate::sim::gsem::{Fault, GsemSim, GsemSimConfig};
    use crate::sim::pki::{ClientAuth, TestPki, TestPkiPaths, server_config};
    use crate::store::{NewCase, Role, Store};

    pub(crate) const AGENT_KEY: &str = "agent-key-for-tests";
    const SAMPLE_01: &str = include_str!("../../assets/samples/01-service-request.json");

    /// A simulator with mutual TLS, its PKI on disk, and GSEM settings
    /// pointing at it.
    pub(crate) struct Gateway {
        pub sim: GsemSim,
        pub settings: Gsem,
        pub _pki: TestPkiPaths,
    }

    pub(crate) async fn gateway(dir: &Path, configure: impl FnOnce(&mut GsemSimConfig)) -> Gateway {
        crate::tls::install_crypto_provider();
        let pki = TestPki::generate("casebridge.test").unwrap();
        let paths = pki.write_to(dir).unwrap();
        let tls = server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )
        .unwrap();
        let mut config = GsemSimConfig::new(Arc::new(tls), AGENT_KEY);
        config.provider.answer_delay = None;
        configure(&mut config);
        let sim = GsemSim::start(config).await.unwrap();
        let base: reqwest::Url = sim.base_url().parse().unwrap();
        let settings = Gsem {
            environment: Environment::Dev,
            config_url: base.join("redfish/v1/gsem").unwrap(),
            message_url: base.join("redfish/v1/message").unwrap(),
            base_url: base,
            agent_key_header: "X-Agent-Key".into(),
            agent_key: crate::config::Secret::new(AGENT_KEY),
            remote_agent_name: "SFDC_Train_REST_P042".into(),
            remote_agent_type: "CUSTOMER".into(),
            client_cert: paths.client.cert.clone(),
            client_key: paths.client.key.clone(),
            ca_bundle: Some(paths.ca.cert.clone()),
            request_timeout: Duration::from_secs(2),
            backoff: crate::config::Backoff {
                start: Duration::from_millis(20),
                cap: Duration::from_millis(100),
            },
            inbound_body_limit: 1024 * 1024,
            delivery: crate::config::Delivery::Pull {
                poll_interval: Duration::from_millis(50),
            },
        };
        Gateway {
            sim,
            settings,
            _pki: paths,
        }
    }

    pub(crate) fn open_store(dir: &Path) -> SharedStore {
        Arc::new(Mutex::new(
            Store::open(&dir.join("cases.db"), Role::Tool).unwrap(),
        ))
    }

    /// A case for `incident` with its SERVICE REQUEST (sample 01 with the
    /// incident's ids) queued; returns (case id, seq).
    pub(crate) fn queue_service_request(store: &SharedStore, incident: &str) -> (i64, i64) {
        let s = store.lock().unwrap();
        let case = s
            .create_case(
                &NewCase {
                    incident_number: incident.into(),
                    severity: "MEDIUM".into(),
                    title: "fabric down".into(),
                    description: "x1000c3s2b0 lost its links".into(),
                    system_id: None,
                    opened_by: "jdoe".into(),
                },
                now_ms(),
            )
            .unwrap();
        let body = SAMPLE_01
            .replace("INC0097539_3", &case.tracking_number)
            .replace("INC0097539", &case.requester_id);
        let seq = s
            .outbox_enqueue(case.id, "SERVICE REQUEST", &body, Some(3), now_ms())
            .unwrap();
        (case.id, seq)
    }

    fn drainer_config(gateway: &Gateway) -> DrainerConfig {
        DrainerConfig {
            backoff: Backoff::new(gateway.settings.backoff.start, gateway.settings.backoff.cap),
            remote_agent: gateway.settings.remote_agent_name.clone(),
        }
    }

    struct Running {
        wake: Arc<Notify>,
        health: Health,
        stop: tokio::sync::watch::Sender<bool>,
        task: JoinHandle<()>,
    }

    fn start(gateway: &Gateway, store: &SharedStore) -> Running {
        let client = GsemClient::new(&gateway.settings).unwrap();
        let wake = Arc::new(Notify::new());
        let health = Health::new();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = Drainer::spawn(
            client,
            Arc::clone(store),
            drainer_config(gateway),
            Arc::clone(&wake),
            health.clone(),
            shutdown,
        );
        Running {
            wake,
            health,
            stop,
            task,
        }
    }

    impl Running {
        async fn stop(self) {
            self.stop.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(5), self.task)
                .await
                .unwrap()
                .unwrap();
        }
    }

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

    fn outbox_state(store: &SharedStore, seq: i64) -> OutboxRow {
        store.lock().unwrap().outbox_get(seq).unwrap().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_acknowledged_service_request_confirms_state_3() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        let store = open_store(dir.path());
        let (case_id, seq) = queue_service_request(&store, "INC0097539");
        let running = start(&gw, &store);
        running.wake.notify_one();
        wait_for("the ack", || {
            outbox_state(&store, seq).state == OutboxState::Acked
        })
        .await;
        let case = store.lock().unwrap().case_by_id(case_id).unwrap().unwrap();
        assert_eq!(case.state, 3);
        assert!(case.sent_at.is_some());
        let received = gw.sim.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].body, outbox_state(&store, seq).body.as_bytes());
        assert!(received[0].is_accepted());
        let health = running.health.snapshot().outbound;
        assert!(health.reachable_since.is_some());
        assert_eq!(health.unreachable_since, None);
        assert_eq!(health.config_problem, None);
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outage_is_retried_with_a_stored_schedule_then_sent_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        gw.sim
            .set_fault(Fault::Unavailable503 { retry_after: None });
        let store = open_store(dir.path());
        let (_, first) = queue_service_request(&store, "INC0000001");
        let (_, second) = queue_service_request(&store, "INC0000002");
        let running = start(&gw, &store);
        wait_for("three failed attempts", || {
            outbox_state(&store, first).attempts >= 3
        })
        .await;
        let row = outbox_state(&store, first);
        assert_eq!(row.state, OutboxState::Queued);
        assert_eq!(row.last_error.as_deref(), Some("GSEM answered HTTP 503"));
        assert!(row.next_attempt_at >= row.created_at);
        // The second message waits behind the head.
        assert_eq!(outbox_state(&store, second).attempts, 0);
        assert!(running.health.snapshot().outbound.next_retry_at.is_some());

        gw.sim.set_fault(Fault::None);
        wait_for("both acks", || {
            outbox_state(&store, second).state == OutboxState::Acked
        })
        .await;
        assert_eq!(outbox_state(&store, first).state, OutboxState::Acked);
        let order: Vec<Option<String>> = gw
            .sim
            .received()
            .into_iter()
            .filter(|r| r.is_accepted())
            .map(|r| r.requester_id)
            .collect();
        assert_eq!(
            order,
            [
                Some("INC0000001".to_string()),
                Some("INC0000002".to_string())
            ]
        );
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_refused_marks_gsem_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        gw.sim.set_fault(Fault::RefuseConnections);
        let store = open_store(dir.path());
        let (_, seq) = queue_service_request(&store, "INC0000003");
        let running = start(&gw, &store);
        // The attempt is committed before health is updated: wait for both.
        wait_for("a failed attempt, reported", || {
            outbox_state(&store, seq).attempts >= 2
                && running.health.snapshot().outbound.last_error.is_some()
        })
        .await;
        let health = running.health.snapshot().outbound;
        assert!(health.unreachable_since.is_some());
        assert_eq!(health.reachable_since, None);
        assert!(
            health
                .last_error
                .as_deref()
                .unwrap()
                .starts_with("cannot connect"),
            "{health:?}"
        );
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refusal_parks_only_its_own_case() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        let store = open_store(dir.path());
        let (bad_case, bad) = queue_service_request(&store, "INC0000010");
        // A note behind the refused SERVICE REQUEST, of the same case.
        let behind = store
            .lock()
            .unwrap()
            .outbox_enqueue(bad_case, "QUERY INCIDENT", "{}", None, now_ms())
            .unwrap();
        // Break the first message: no ContractID (1001 missing field).
        let body = outbox_state(&store, bad)
            .body
            .replace("\"ContractID\": \"CN=2155240525\", ", "");
        {
            let s = store.lock().unwrap();
            s.outbox_park(bad, "setup", now_ms()).unwrap();
            s.outbox_retry(bad, Some(&body), now_ms()).unwrap();
        }
        let (_, good) = queue_service_request(&store, "INC0000011");
        let running = start(&gw, &store);
        wait_for("the other case", || {
            outbox_state(&store, good).state == OutboxState::Acked
        })
        .await;
        let parked = outbox_state(&store, bad);
        assert_eq!(parked.state, OutboxState::Parked);
        assert!(
            parked.last_error.as_deref().unwrap().contains("ContractID"),
            "{parked:?}"
        );
        assert_eq!(outbox_state(&store, behind).state, OutboxState::Queued);
        assert_eq!(outbox_state(&store, behind).attempts, 0);
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_agent_keeps_the_head_and_reports_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |c| c.agent_name = "SOMEONE_ELSE".into()).await;
        let store = open_store(dir.path());
        let (_, seq) = queue_service_request(&store, "INC0000020");
        let running = start(&gw, &store);
        wait_for("two attempts", || outbox_state(&store, seq).attempts >= 2).await;
        assert_eq!(outbox_state(&store, seq).state, OutboxState::Queued);
        assert_eq!(
            running.health.snapshot().outbound.config_problem.as_deref(),
            Some("GSEM does not know agent SFDC_Train_REST_P042: check the remote agent name")
        );
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resend_whose_first_attempt_got_through_is_inferred() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        let store = open_store(dir.path());
        let (case_id, seq) = queue_service_request(&store, "INC0000030");
        // The first attempt reached GSEM, and its reply was lost in a crash.
        let client = GsemClient::new(&gw.settings).unwrap();
        let body = outbox_state(&store, seq).body;
        assert_eq!(client.post_message(&body).await.unwrap().status, 200);
        store
            .lock()
            .unwrap()
            .outbox_record_attempt(seq, now_ms(), IN_FLIGHT)
            .unwrap();
        let running = start(&gw, &store);
        wait_for("the inferred ack", || {
            outbox_state(&store, seq).state == OutboxState::Inferred
        })
        .await;
        let case = store.lock().unwrap().case_by_id(case_id).unwrap().unwrap();
        assert_eq!(case.state, 3);
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retried_refusal_is_a_first_attempt_again() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        let store = open_store(dir.path());
        let (case_id, seq) = queue_service_request(&store, "INC0000040");
        // GSEM holds this RequesterID unfinished already (another case of
        // ours): the SERVICE REQUEST is refused 1003 "duplicate RequesterID".
        let client = GsemClient::new(&gw.settings).unwrap();
        let body = outbox_state(&store, seq).body;
        assert_eq!(client.post_message(&body).await.unwrap().status, 200);
        // Our own attempt was answered with a refusal and parked; the
        // operator retries it. GSEM answered every attempt, so the same
        // refusal again is no proof that one got through: parked again.
        {
            let s = store.lock().unwrap();
            s.outbox_record_attempt(seq, now_ms(), "refused").unwrap();
            s.outbox_park(seq, "1003 duplicate RequesterID", now_ms())
                .unwrap();
            s.outbox_retry(seq, None, now_ms()).unwrap();
        }
        let retried = outbox_state(&store, seq);
        assert!(!retried.unanswered_attempt(), "{retried:?}");
        let running = start(&gw, &store);
        wait_for("parked again", || {
            let row = outbox_state(&store, seq);
            row.state == OutboxState::Parked && row.attempts == 4
        })
        .await;
        let row = outbox_state(&store, seq);
        assert!(
            row.last_error
                .as_deref()
                .unwrap()
                .starts_with("duplicate RequesterID INC0000040"),
            "{row:?}"
        );
        let case = store.lock().unwrap().case_by_id(case_id).unwrap().unwrap();
        assert_eq!(case.state, 0, "not taken as accepted");
        running.stop().await;
    }

    #[test]
    fn the_commit_of_an_ack_marks_the_next_head_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let (_, first) = queue_service_request(&store, "INC0000060");
        let (_, second) = queue_service_request(&store, "INC0000061");
        let s = store.lock().unwrap();
        let now = now_ms();
        let Ahead::Due(row) = s.transaction(|tx| take_head(tx, now)).unwrap().0 else {
            panic!("the first message is due");
        };
        assert_eq!((row.seq, row.attempts), (first, 0));
        assert_eq!(s.outbox_get(first).unwrap().unwrap().attempts, 1);

        let (ahead, stats) = s
            .transaction(|tx| {
                record_ack(tx, &row, false, Some(3), now)?;
                take_head(tx, now)
            })
            .unwrap();
        let Ahead::Due(next) = ahead else {
            panic!("the second message is due");
        };
        // Read before its mark: its send is a first attempt, not a resend.
        assert_eq!((next.seq, next.attempts), (second, 0));
        let marked = s.outbox_get(second).unwrap().unwrap();
        assert_eq!(marked.attempts, 1);
        assert_eq!(marked.last_error.as_deref(), Some(IN_FLIGHT));
        assert_eq!(
            s.outbox_get(first).unwrap().unwrap().state,
            OutboxState::Acked
        );
        assert_eq!(stats.queued, 1);

        // Taken again (a restart before the send): a resend, not marked twice.
        let Ahead::Due(again) = s.transaction(|tx| take_head(tx, now)).unwrap().0 else {
            panic!("the second message is still due");
        };
        assert_eq!(again.attempts, 1);
        assert_eq!(s.outbox_get(second).unwrap().unwrap().attempts, 1);

        // A retry scheduled later is left alone until then.
        s.outbox_record_attempt(second, now + 60_000, "GSEM answered HTTP 503")
            .unwrap();
        assert!(matches!(
            s.transaction(|tx| take_head(tx, now)).unwrap().0,
            Ahead::Later { at } if at == now + 60_000
        ));
        assert_eq!(s.outbox_get(second).unwrap().unwrap().attempts, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_from_another_connection_are_found_by_polling() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        let store = open_store(dir.path());
        let running = start(&gw, &store);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Another process: its own connection, and nobody rings the bell.
        let other = open_store(dir.path());
        let (_, seq) = queue_service_request(&other, "INC0000040");
        let queued = tokio::time::Instant::now();
        wait_for("the ack", || {
            outbox_state(&store, seq).state == OutboxState::Acked
        })
        .await;
        assert!(
            queued.elapsed() < Duration::from_secs(1),
            "{:?}",
            queued.elapsed()
        );
        running.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_abandons_a_hanging_request_and_keeps_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), |_| {}).await;
        gw.sim.set_fault(Fault::Hang);
        let store = open_store(dir.path());
        let (_, seq) = queue_service_request(&store, "INC0000050");
        let running = start(&gw, &store);
        wait_for("the first attempt", || {
            outbox_state(&store, seq).attempts == 1
        })
        .await;
        running.stop().await;
        assert_eq!(outbox_state(&store, seq).state, OutboxState::Queued);
    }
}
