//! The mirror as an engine task: keeps ServiceNow's onsite-task and
//! part-order records in step with the store.
//!
//! The store's record rows carry `updated_at`, so the work list is "cases
//! whose records changed since the last pass". The watermark lives in
//! memory: after a start (or a crash) the first pass sweeps every case with
//! records, which is cheap because [`Mirror::push`] looks each record up by
//! its HPE id and writes only differences — that lookup is also what makes a
//! retry never create a second record.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::mirror::{Mirror, MirrorError};
use crate::gsem::backoff::{Backoff, jitter};
use crate::gsem::shared::{SharedStore, Shutdown, now_ms, sleep_or_stop, with_store};
use crate::store::StoreError;
use crate::store::prelude::*;

/// How often the store is asked for changed records.
const PASS_INTERVAL: Duration = Duration::from_secs(1);

/// Starts mirroring until shutdown.
pub fn spawn(
    mirror: Mirror,
    store: SharedStore,
    backoff: Backoff,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(run(Arc::new(mirror), store, backoff, shutdown))
}

async fn run(mirror: Arc<Mirror>, store: SharedStore, backoff: Backoff, mut shutdown: Shutdown) {
    // Everything changed "after the beginning of time": the first pass is
    // the recovery sweep.
    let mut watermark = i64::MIN;
    let mut failures = 0u32;
    loop {
        let wait = match pass(&mirror, &store, watermark).await {
            Ok(next) => {
                watermark = next;
                failures = 0;
                PASS_INTERVAL
            }
            Err((error, retry_after)) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%error, "ServiceNow mirror: will retry");
                retry_after.unwrap_or_else(|| backoff.delay(failures, jitter()))
            }
        };
        if sleep_or_stop(wait, &mut shutdown).await {
            return;
        }
    }
}

/// Mirrors every case whose records changed after `watermark`; returns the
/// next watermark, or the error that stopped the pass (the same cases are
/// tried again from the old watermark).
async fn pass(
    mirror: &Arc<Mirror>,
    store: &SharedStore,
    watermark: i64,
) -> Result<i64, (MirrorError, Option<Duration>)> {
    // Rows changed while this pass runs get `updated_at >= started`, so the
    // next pass, from `started - 1`, sees them; some are mirrored twice,
    // which costs one GET each.
    let started = now_ms();
    let cases = with_store(store, move |s| {
        s.cases_with_records_changed_since(watermark)
    })
    .await
    .map_err(|e: StoreError| (MirrorError::from(e), None))?;
    for (case_id, _) in cases {
        let for_items = Arc::clone(mirror);
        let items = match with_store(store, move |s| for_items.case_items(s, case_id)).await {
            Ok(items) => items,
            // A case whose incident casebridge has not seen cannot be
            // related to one yet; the next change of its records retries.
            Err(e) if !e.is_transient() => {
                tracing::error!(error = %e, case_id, "ServiceNow mirror: case skipped");
                continue;
            }
            Err(e) => return Err((e, None)),
        };
        let sweep = mirror.push_all(&items).await;
        for failure in &sweep.failed {
            tracing::error!(error = %failure, case_id, "ServiceNow mirror: record refused");
        }
        if let Some(stopped) = sweep.stopped {
            let retry_after = stopped.retry_after();
            return Err((stopped, retry_after));
        }
    }
    Ok(started - 1)
}
