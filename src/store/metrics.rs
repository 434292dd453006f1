//! Counts for `/metrics`: read-only, one statement, cheap enough to run on
//! every scrape (the state counts use the state indexes).

use super::{Access, OutboxStats, StoreError};
use crate::store::prelude::*;

/// What the store says about the exchange with GSEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeCounts {
    pub outbox: OutboxStats,
    /// Messages sent to GSEM at least once.
    pub sent: u64,
    /// Messages GSEM acknowledged (or whose acknowledgement was inferred).
    pub acknowledged: u64,
    /// Messages the operator dropped after GSEM refused them.
    pub dropped: u64,
    /// When GSEM last acknowledged one of our messages.
    pub last_acknowledged_at: Option<i64>,
    /// Inbound messages applied to their case.
    pub inbound_processed: u64,
    /// Inbound messages set aside as not understood.
    pub inbound_quarantined: u64,
    /// Inbound messages not yet processed.
    pub inbound_pending: u64,
    /// Quarantine entries waiting for an operator.
    pub quarantine_open: u64,
    /// When the last inbound message was received.
    pub last_received_at: Option<i64>,
}

/// Reads the counts at `now` (unix ms).
pub fn exchange_counts(store: &impl Access, now: i64) -> Result<ExchangeCounts, StoreError> {
    let outbox = store.outbox_stats(now)?;
    let counts = store.conn().query_row(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE attempts > 0),
                (SELECT COUNT(*) FROM outbox WHERE state IN ('acked', 'inferred')),
                (SELECT COUNT(*) FROM outbox WHERE state = 'dropped'),
                (SELECT MAX(acked_at) FROM outbox WHERE state = 'acked'),
                (SELECT COUNT(*) FROM inbox WHERE state = 'processed'),
                (SELECT COUNT(*) FROM inbox WHERE state = 'quarantined'),
                (SELECT COUNT(*) FROM inbox WHERE state = 'new'),
                (SELECT COUNT(*) FROM quarantine WHERE state = 'open'),
                (SELECT MAX(received_at) FROM inbox)",
        [],
        |r| {
            Ok(ExchangeCounts {
                outbox,
                sent: r.get(0)?,
                acknowledged: r.get(1)?,
                dropped: r.get(2)?,
                last_acknowledged_at: r.get(3)?,
                inbound_processed: r.get(4)?,
                inbound_quarantined: r.get(5)?,
                inbound_pending: r.get(6)?,
                quarantine_open: r.get(7)?,
                last_received_at: r.get(8)?,
            })
        },
    )?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewCase, NewQuarantine, Role, Store, Via};

    #[test]
    fn counts_follow_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), Role::Tool).unwrap();
        let empty = exchange_counts(&store, 1_000).unwrap();
        assert_eq!(empty.sent, 0);
        assert_eq!(empty.outbox.queued, 0);
        assert_eq!(empty.last_received_at, None);
        assert_eq!(empty.last_acknowledged_at, None);

        let case = store
            .create_case(
                &NewCase {
                    incident_number: "INC0001".into(),
                    severity: "3".into(),
                    title: "t".into(),
                    description: "d".into(),
                    system_id: None,
                    opened_by: "ada".into(),
                },
                100,
            )
            .unwrap()
            .id;
        let a = store
            .outbox_enqueue(case, "SERVICE REQUEST", "{}", None, 100)
            .unwrap();
        let b = store
            .outbox_enqueue(case, "PROVIDE PROBLEM INFORMATION", "{}", None, 200)
            .unwrap();
        store
            .outbox_enqueue(case, "QUERY INCIDENT", "{}", None, 300)
            .unwrap();
        store.outbox_record_attempt(a, 400, "timeout").unwrap();
        store.outbox_mark_acked(a, false, 500).unwrap();
        store.outbox_park(b, "refused", 650).unwrap();
        let inbox = store
            .inbox_insert(Some("m1"), b"{}", Via::Pull, 800)
            .unwrap()
            .id();
        store.inbox_mark_processed(inbox, 810).unwrap();
        let bad = store
            .inbox_insert(Some("m2"), b"x", Via::Pull, 900)
            .unwrap()
            .id();
        store.inbox_mark_quarantined(bad, 910).unwrap();
        store
            .quarantine_insert(&NewQuarantine::whole(b"x", "not json", Some(bad)), 910)
            .unwrap();
        store
            .inbox_insert(Some("m3"), b"{}", Via::Pull, 950)
            .unwrap();

        let c = exchange_counts(&store, 1_000).unwrap();
        assert_eq!(c.outbox.queued, 1);
        assert_eq!(c.outbox.parked, 1);
        assert_eq!(c.outbox.oldest_queued_age_ms, Some(700));
        assert_eq!(c.sent, 2);
        assert_eq!(c.acknowledged, 1);
        assert_eq!(c.dropped, 0);
        assert_eq!(c.last_acknowledged_at, Some(500));
        assert_eq!(c.inbound_processed, 1);
        assert_eq!(c.inbound_quarantined, 1);
        assert_eq!(c.inbound_pending, 1);
        assert_eq!(c.quarantine_open, 1);
        assert_eq!(c.last_received_at, Some(950));
    }
}
