//! `/metrics` in the Prometheus text format (version 0.0.4): the outbox,
//! the inbound side, and when each side was last heard from.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::gsem::health::GsemHealth;
use crate::gsem::shared::from_ms;
use crate::store::metrics::ExchangeCounts;
use crate::sync::health::ServiceNowHealth;

pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics page. A side never heard from since the start has no
/// `casebridge_last_contact_timestamp_seconds` sample.
pub(super) fn render(
    counts: &ExchangeCounts,
    gsem: &GsemHealth,
    servicenow: &ServiceNowHealth,
) -> String {
    let mut out = String::new();
    let outbox = &counts.outbox;
    let oldest_secs = outbox.oldest_queued_age_ms.unwrap_or(0).max(0) as f64 / 1000.0;
    let metrics: [(&str, &str, &str, String); 10] = [
        (
            "casebridge_outbox_depth",
            "gauge",
            "Messages to GSEM queued to be sent or retried.",
            outbox.queued.to_string(),
        ),
        (
            "casebridge_outbox_oldest_age_seconds",
            "gauge",
            "Age of the oldest queued message to GSEM (0 when none is queued).",
            seconds(oldest_secs),
        ),
        (
            "casebridge_outbox_sent_total",
            "counter",
            "Messages sent to GSEM at least once.",
            counts.sent.to_string(),
        ),
        (
            "casebridge_outbox_acknowledged_total",
            "counter",
            "Messages GSEM acknowledged (or whose acknowledgement was inferred).",
            counts.acknowledged.to_string(),
        ),
        (
            "casebridge_outbox_refused",
            "gauge",
            "Messages GSEM refused, parked until an operator retries or drops them.",
            outbox.parked.to_string(),
        ),
        (
            "casebridge_outbox_dropped_total",
            "counter",
            "Messages an operator dropped instead of sending.",
            counts.dropped.to_string(),
        ),
        (
            "casebridge_inbound_processed_total",
            "counter",
            "Messages from GSEM applied to their case.",
            counts.inbound_processed.to_string(),
        ),
        (
            "casebridge_inbound_quarantined",
            "gauge",
            "Messages from GSEM set aside as not understood.",
            counts.inbound_quarantined.to_string(),
        ),
        (
            "casebridge_inbound_pending",
            "gauge",
            "Messages from GSEM received but not yet processed.",
            counts.inbound_pending.to_string(),
        ),
        (
            "casebridge_quarantine_open",
            "gauge",
            "Quarantine entries waiting for an operator (replay or discard).",
            counts.quarantine_open.to_string(),
        ),
    ];
    for (name, kind, help, value) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
    let gsem_contact = [
        gsem.inbound.last_received_at,
        counts.last_acknowledged_at.map(from_ms),
    ]
    .into_iter()
    .flatten()
    .max();
    let name = "casebridge_last_contact_timestamp_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} When each side last answered or delivered (unix time)."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (side, at) in [
        ("gsem", gsem_contact),
        ("servicenow", servicenow.last_contact),
    ] {
        if let Some(at) = at {
            let _ = writeln!(out, "{name}{{side=\"{side}\"}} {}", timestamp(at));
        }
    }
    out
}

fn seconds(value: f64) -> String {
    format!("{value:.3}")
}

fn timestamp(at: DateTime<Utc>) -> String {
    seconds(at.timestamp_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxStats;

    #[test]
    fn every_metric_has_help_type_and_one_sample() {
        let counts = ExchangeCounts {
            outbox: OutboxStats {
                queued: 2,
                parked: 1,
                oldest_queued_age_ms: Some(1_500),
            },
            sent: 7,
            acknowledged: 5,
            dropped: 1,
            last_acknowledged_at: Some(1_700_000_000_250),
            inbound_processed: 9,
            inbound_quarantined: 1,
            inbound_pending: 0,
            quarantine_open: 1,
            last_received_at: None,
        };
        let mut gsem = GsemHealth::default();
        gsem.inbound.last_received_at = Some(from_ms(1_700_000_000_000));
        let text = render(&counts, &gsem, &ServiceNowHealth::default());
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "casebridge_outbox_depth 2",
                "casebridge_outbox_oldest_age_seconds 1.500",
                "casebridge_outbox_sent_total 7",
                "casebridge_outbox_acknowledged_total 5",
                "casebridge_outbox_refused 1",
                "casebridge_outbox_dropped_total 1",
                "casebridge_inbound_processed_total 9",
                "casebridge_inbound_quarantined 1",
                "casebridge_inbound_pending 0",
                "casebridge_quarantine_open 1",
                "casebridge_last_contact_timestamp_seconds{side=\"gsem\"} 1700000000.250",
            ]
        );
        assert!(text.contains("# TYPE casebridge_outbox_sent_total counter\n"));
    }
}
