//! Recording one message's parsed updates in the store: the task and part
//! tables with their timelines, and the journal for what is left as a note.

use crate::store::prelude::*;
use crate::store::{self, Insert, JournalState, NewJournal, RecordOutcome, StoreError, Tx};

use super::model::{NotUnderstood, Origin, Parsed, PartUpdate, RecordKind, TaskStatus, TaskUpdate};

/// Journal kind of the human text of an update message.
pub const NOTE_KIND: &str = "note";
pub use crate::store::NOT_UNDERSTOOD_KIND;

/// Where a parsed message came from.
#[derive(Debug, Clone, Copy)]
pub struct UpdateContext<'a> {
    pub inbox_id: Option<i64>,
    /// GSEM's `MessageId`: the journal entries of this message are keyed on
    /// it, so a redelivery adds no second note.
    pub message_id: Option<&'a str>,
    /// The message's event time (gsem.md §5) as text, normalised by the
    /// caller; it is part of each event's identity.
    pub event_time: Option<&'a str>,
    /// The same, unix ms; `None` when it did not parse.
    pub event_at_ms: Option<i64>,
    /// Shown as the journal entries' author.
    pub author: &'a str,
}

/// What recording one message did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    pub tasks: Vec<RecordOutcome>,
    pub parts: Vec<RecordOutcome>,
    /// Timeline events added (a repeat adds none).
    pub events_added: usize,
    /// Updates whose event was already there.
    pub repeats: usize,
    /// Records whose current status changed.
    pub status_changes: usize,
    pub not_understood: usize,
    /// Records an update touched (not a mere repeat): what a mirror must
    /// write. Store record ids.
    pub changed: Vec<(RecordKind, i64)>,
    /// The journal entry of the human text, if any.
    pub note: Option<Insert>,
}

/// The store's input for one task update.
pub fn store_task(update: &TaskUpdate, ctx: &UpdateContext<'_>) -> store::TaskUpdate {
    let completion = update
        .completed
        .as_ref()
        .map(|d| d.canonical())
        .or_else(|| {
            // A task reported complete without a completion time completed at
            // the event time of that report.
            let complete = update
                .status
                .as_ref()
                .is_some_and(|s| s.canonical == Some(TaskStatus::Complete));
            complete
                .then(|| ctx.event_time.map(str::to_string))
                .flatten()
        });
    store::TaskUpdate {
        task_id: update.task_id.clone(),
        status: update.status.as_ref().map(|s| s.name().to_string()),
        status_known: update.status.as_ref().is_none_or(|s| s.is_known()),
        scheduled_start: update.scheduled_start.as_ref().map(|d| d.canonical()),
        engineer_eta: update.engineer_eta.as_ref().map(|d| d.canonical()),
        description: update.description.clone(),
        completion,
        event_time: ctx.event_time.map(str::to_string),
        event_at_ms: ctx.event_at_ms,
        raw_text: Some(update.raw.clone()),
        inbox_id: ctx.inbox_id,
    }
}

/// The store's input for one part-order update.
pub fn store_part(update: &PartUpdate, ctx: &UpdateContext<'_>) -> store::PartUpdate {
    store::PartUpdate {
        order_id: update.order_id.clone(),
        status: update.status.as_ref().map(|s| s.name().to_string()),
        status_known: update.status.as_ref().is_none_or(|s| s.is_known()),
        part_number: update.part_number.clone(),
        part_description: update.description.clone(),
        quantity: update.quantity.map(i64::from),
        carrier: update.carrier.as_ref().map(|c| c.name().to_string()),
        tracking_number: update.tracking.clone(),
        eta: update.eta.as_ref().map(|d| d.canonical()),
        return_required: update.return_required,
        return_status: update.return_status.as_ref().map(|s| s.name().to_string()),
        return_status_known: update.return_status.as_ref().is_none_or(|s| s.is_known()),
        event_time: ctx.event_time.map(str::to_string),
        event_at_ms: ctx.event_at_ms,
        raw_text: Some(update.raw.clone()),
        inbox_id: ctx.inbox_id,
    }
}

/// Records one message's updates for case `case_id` inside `tx`, so they
/// commit together with whatever else the caller does for that message
/// (`store.transaction(|tx| apply_parsed(tx, ...))`). Writes:
/// * every task and part update, with its timeline event;
/// * the human text left ([`Parsed::remainder`], when not blank) as one
///   journal note;
/// * each update not understood as a journal entry of kind
///   [`NOT_UNDERSTOOD_KIND`]: its text and why.
///
/// This replaces journaling the `Comment` of such a message directly.
pub fn apply_parsed(
    tx: &Tx<'_>,
    case_id: i64,
    parsed: &Parsed,
    ctx: &UpdateContext<'_>,
    now: i64,
) -> Result<Applied, StoreError> {
    let mut applied = Applied {
        not_understood: parsed.not_understood.len(),
        ..Applied::default()
    };
    for update in &parsed.tasks {
        let outcome = tx.record_task_event(case_id, &store_task(update, ctx), now)?;
        applied.count(RecordKind::Task, &outcome);
        applied.tasks.push(outcome);
    }
    for update in &parsed.parts {
        let outcome = tx.record_part_event(case_id, &store_part(update, ctx), now)?;
        applied.count(RecordKind::Part, &outcome);
        applied.parts.push(outcome);
    }
    let event_at = ctx.event_at_ms.unwrap_or(now);
    let entry = |kind: &str, text: String, remote_id: Option<String>| NewJournal {
        case_id,
        origin: store::Origin::Hpe,
        kind: kind.to_string(),
        author: ctx.author.to_string(),
        text,
        event_at,
        remote_id,
        state: JournalState::Received,
        outbox_seq: None,
    };
    if !parsed.remainder.trim().is_empty() {
        let note = entry(
            NOTE_KIND,
            parsed.remainder.clone(),
            ctx.message_id.map(str::to_string),
        );
        applied.note = Some(tx.journal_insert(&note, now)?);
    }
    for (index, item) in parsed.not_understood.iter().enumerate() {
        let remote_id = ctx
            .message_id
            .map(|id| format!("{id}#not-understood-{}", index + 1));
        tx.journal_insert(
            &entry(NOT_UNDERSTOOD_KIND, not_understood_text(item), remote_id),
            now,
        )?;
    }
    Ok(applied)
}

/// The entry reads as the reason, then the text exactly as received.
fn not_understood_text(item: &NotUnderstood) -> String {
    let place = match item.origin {
        Origin::Structured => "name/value pairs",
        Origin::Text { .. } => "comment line",
    };
    format!("{} ({place}):\n{}", item.reason, item.text)
}

impl Applied {
    fn count(&mut self, kind: RecordKind, outcome: &RecordOutcome) {
        match outcome.event {
            Some(Insert::Duplicate(_)) => self.repeats += 1,
            Some(Insert::Inserted(_)) => self.events_added += 1,
            None => {}
        }
        if outcome.status_changed {
            self.status_changes += 1;
        }
        let repeat = matches!(outcome.event, Some(Insert::Duplicate(_)));
        if !repeat && !self.changed.contains(&(kind, outcome.record_id)) {
            self.changed.push((kind, outcome.record_id));
        }
    }
}
