//! Onsite-task and part-order updates (gsem.md §6).
//!
//! HPE's field service posts work orders and part shipments onto a case as
//! PROVIDE PROBLEM INFORMATION, either structured (`ActionLog` plus
//! `eCPExtMessage_EXT_TASK_*` / `_PART_*` pairs) or as record lines in
//! `Comment`. [`parse_update`] turns one message into [`TaskUpdate`]s,
//! [`PartUpdate`]s and the human text left over, driven by [`Rules`]
//! (`assets/update-rules.toml`, overridable per site).
//!
//! "Looks like an update but not understood" means exactly:
//! * text: a line whose first word is a record keyword (`ONSITE TASK`,
//!   `PART ORDER`, as the rules spell them) and that has no readable id, no
//!   tag after the id, or other words between the id and the first tag;
//! * structured: an update `ActionLog`, or pairs with an update key, with no
//!   id pair (unless the comment carried a record line of that kind).
//!
//! A record keyword later in a record line starts another record only when
//! what follows reads as one; otherwise it is words of the value before it.

mod apply;
mod date;
pub mod mirror;
pub mod mirror_task;
mod model;
mod parse;
mod rules;

pub use apply::{
    Applied, NOT_UNDERSTOOD_KIND, NOTE_KIND, UpdateContext, apply_parsed, store_part, store_task,
};
pub use date::{DateValue, UpdateDate};
pub use mirror::{Mirror, MirrorAction, MirrorError, MirrorItem, MirrorOutcome, Sweep};
pub use model::{
    Canonical, NotUnderstood, NotUnderstoodReason, Origin, Parsed, PartStatus, PartUpdate,
    RecordKind, ReturnStatus, TaskStatus, TaskUpdate, Word,
};
pub use parse::{UpdateInput, parse_update};
pub use rules::{Rules, RulesError};
