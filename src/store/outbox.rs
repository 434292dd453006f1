//! The outbox: every message to GSEM, committed before it is sent, in one
//! strict order.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Access, JournalState, StoreError};

sql_enum! {
    pub enum OutboxState {
        /// Waiting to be sent, or being retried.
        Queued = "queued",
        /// Refused for good; waits for the operator (retry or drop), and
        /// holds back later messages of its case.
        Parked = "parked",
        Acked = "acked",
        /// Counted as acknowledged: a resend's refusal showed that an earlier
        /// attempt got through.
        Inferred = "inferred",
        Dropped = "dropped",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Position in the one global order.
    pub seq: i64,
    pub case_id: i64,
    pub transaction_name: String,
    /// The exact JSON bytes to send, fixed at commit so a resend is identical.
    pub body: String,
    /// The SIS state the case is in once this message is acknowledged, if it changes one.
    pub state_after: Option<u8>,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub acked_at: Option<i64>,
}

impl OutboxRow {
    /// Whether an attempt may have reached GSEM without its answer being
    /// recorded (a reply lost to a timeout or a crash after the send): then
    /// the next send is a resend, to which spec §4's inferred
    /// acknowledgements apply. Every attempt leaves its mark in `last_error`
    /// before it is sent; an operator's retry of a refusal clears it.
    pub fn unanswered_attempt(&self) -> bool {
        self.attempts > 0 && self.last_error.is_some()
    }
}

/// For health and the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    pub queued: u64,
    pub parked: u64,
    /// Age of the oldest queued message.
    pub oldest_queued_age_ms: Option<i64>,
}

const OUTBOX_COLUMNS: &str = "seq, case_id, transaction_name, body, state_after, state, \
     attempts, next_attempt_at, last_error, created_at, acked_at";

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        seq: r.get(0)?,
        case_id: r.get(1)?,
        transaction_name: r.get(2)?,
        body: r.get(3)?,
        state_after: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        acked_at: r.get(10)?,
    })
}

fn outbox_list(
    c: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxRow>, StoreError> {
    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {condition} ORDER BY seq");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, outbox_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Moves message `seq` from one of the states in `from` by `set` (an SQL
/// assignment list, `?1` being `seq`) and, if given, moves the journal
/// entries it carries to `journal`.
fn transition(
    c: &Connection,
    seq: i64,
    from: &[OutboxState],
    action: &'static str,
    set: &str,
    params: impl rusqlite::Params,
    journal: Option<JournalState>,
) -> Result<(), StoreError> {
    // The drainer runs these for every message: cached, they are parsed once.
    let state: Option<OutboxState> = c
        .prepare_cached("SELECT state FROM outbox WHERE seq = ?1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    match state {
        None => {
            return Err(StoreError::NotFound {
                what: "outbox message",
                id: seq.to_string(),
            });
        }
        Some(state) if !from.contains(&state) => {
            return Err(StoreError::OutboxState {
                seq,
                state: state.to_string(),
                action,
            });
        }
        Some(_) => {}
    }
    c.prepare_cached(&format!("UPDATE outbox SET {set} WHERE seq = ?1"))?
        .execute(params)?;
    if let Some(journal) = journal {
        c.prepare_cached("UPDATE journal SET state = ?2 WHERE outbox_seq = ?1")?
            .execute(params![seq, journal])?;
    }
    Ok(())
}

/// The outbox.
pub trait OutboxOps: Access {
    /// Queues a message after every other one; returns its `seq`. Commit it
    /// in the same [`Tx`](super::Tx) as the change it reports.
    fn outbox_enqueue(
        &self,
        case_id: i64,
        transaction_name: &str,
        body: &str,
        state_after: Option<u8>,
        now: i64,
    ) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "INSERT INTO outbox(case_id, transaction_name, body, state_after, state,
                 next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5)
             RETURNING seq",
            params![case_id, transaction_name, body, state_after, now],
            |r| r.get(0),
        )?)
    }

    /// The next message to send: the oldest queued one whose case has no
    /// parked message before it. A parked message holds back its own case
    /// only. The caller waits until its `next_attempt_at`.
    fn outbox_head(&self) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE state = 'queued' AND NOT EXISTS (SELECT 1 FROM outbox AS p
                 WHERE p.case_id = outbox.case_id AND p.state = 'parked' AND p.seq < outbox.seq)
             ORDER BY seq LIMIT 1"
        );
        Ok(self
            .conn()
            .prepare_cached(&sql)?
            .query_row([], outbox_row)
            .optional()?)
    }

    fn outbox_get(&self, seq: i64) -> Result<Option<OutboxRow>, StoreError> {
        Ok(outbox_list(self.conn(), "seq = ?1", [seq])?.pop())
    }

    /// Every message of a case, in order.
    fn outbox_for_case(&self, case_id: i64) -> Result<Vec<OutboxRow>, StoreError> {
        outbox_list(self.conn(), "case_id = ?1", [case_id])
    }

    /// Messages waiting for the operator.
    fn outbox_parked(&self) -> Result<Vec<OutboxRow>, StoreError> {
        outbox_list(self.conn(), "state = 'parked'", [])
    }

    /// Counts a failed attempt of a queued message and when to try again.
    fn outbox_record_attempt(
        &self,
        seq: i64,
        next_attempt_at: i64,
        last_error: &str,
    ) -> Result<(), StoreError> {
        self.atomic(|c| {
            transition(
                c,
                seq,
                &[OutboxState::Queued],
                "retried",
                "attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3",
                params![seq, next_attempt_at, last_error],
                None,
            )
        })
    }

    /// Records GSEM's acknowledgement (`inferred`: deduced from a resend's
    /// refusal). The journal entries it carries become `Sent`.
    fn outbox_mark_acked(&self, seq: i64, inferred: bool, now: i64) -> Result<(), StoreError> {
        let state = if inferred {
            OutboxState::Inferred
        } else {
            OutboxState::Acked
        };
        self.atomic(|c| {
            transition(
                c,
                seq,
                &[OutboxState::Queued],
                "acknowledged",
                "state = ?2, attempts = attempts + 1, acked_at = ?3",
                params![seq, state, now],
                Some(JournalState::Sent),
            )
        })
    }

    /// Parks a message GSEM refused for good, with the refusal's detail.
    fn outbox_park(&self, seq: i64, error: &str, now: i64) -> Result<(), StoreError> {
        self.atomic(|c| {
            transition(
                c,
                seq,
                &[OutboxState::Queued],
                "parked",
                "state = 'parked', attempts = attempts + 1, last_error = ?2,
                 next_attempt_at = ?3",
                params![seq, error, now],
                Some(JournalState::Failed),
            )
        })
    }

    /// Queues a parked message again in its old place, optionally with an
    /// edited body, to be tried at once. Its refusal (kept in the audit
    /// trail) is cleared: GSEM answered every earlier attempt, so none of
    /// them can have taken effect unseen, and the next send is a first
    /// attempt again (see [`OutboxRow::unanswered_attempt`]).
    fn outbox_retry(&self, seq: i64, body: Option<&str>, now: i64) -> Result<(), StoreError> {
        self.atomic(|c| {
            transition(
                c,
                seq,
                &[OutboxState::Parked],
                "retried",
                "state = 'queued', body = COALESCE(?2, body), next_attempt_at = ?3,
                 last_error = NULL",
                params![seq, body, now],
                Some(JournalState::Pending),
            )
        })
    }

    /// Drops a queued or parked message for good; its journal entries become `Dropped`.
    fn outbox_drop(&self, seq: i64, now: i64) -> Result<(), StoreError> {
        self.atomic(|c| {
            transition(
                c,
                seq,
                &[OutboxState::Queued, OutboxState::Parked],
                "dropped",
                "state = 'dropped', next_attempt_at = ?2",
                params![seq, now],
                Some(JournalState::Dropped),
            )
        })
    }

    /// Health polls this all the time, the drainer after every message:
    /// the counts come from the `(state, seq)` index alone, and the oldest
    /// queued message is the first one in queue order (`seq` follows
    /// `created_at`), one index step and one row away, where a `MIN` over
    /// `created_at` would read every queued row.
    fn outbox_stats(&self, now: i64) -> Result<OutboxStats, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'queued'),
                    (SELECT COUNT(*) FROM outbox WHERE state = 'parked'),
                    ?1 - (SELECT created_at FROM outbox WHERE state = 'queued'
                          ORDER BY seq LIMIT 1)",
        )?;
        Ok(stmt.query_row([now], |r| {
            Ok(OutboxStats {
                queued: r.get(0)?,
                parked: r.get(1)?,
                oldest_queued_age_ms: r.get(2)?,
            })
        })?)
    }

    /// The case's pending state: its confirmed state advanced by the
    /// `state_after` of its queued and parked messages (the last one that
    /// has one wins). What we send is checked against this.
    fn case_pending_state(&self, case_id: i64) -> Result<u8, StoreError> {
        self.atomic(|c| {
            let pending: Option<u8> = c
                .query_row(
                    "SELECT state_after FROM outbox
                     WHERE case_id = ?1 AND state IN ('queued', 'parked')
                         AND state_after IS NOT NULL
                     ORDER BY seq DESC LIMIT 1",
                    [case_id],
                    |r| r.get(0),
                )
                .optional()?;
            match pending {
                Some(state) => Ok(state),
                None => c
                    .query_row("SELECT state FROM cases WHERE id = ?1", [case_id], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "case",
                        id: case_id.to_string(),
                    }),
            }
        })
    }
}

impl<A: Access> OutboxOps for A {}
