//! The sync engine's ServiceNow side: read the incidents that matter and
//! their new journal entries, turn them into work for HPE (notes, closes)
//! and turn HPE's side into writes on the incident (comments, correlation,
//! state), never echoing a change back.
//!
//! Deciding is apart from doing: [`plan`] is a pure function of stored
//! state and what was just read; [`engine`] polls, reads, and carries the
//! plan out, with the [`ledger`] making journal writes safe to retry.

pub mod ledger;
pub mod plan;
pub mod text;
