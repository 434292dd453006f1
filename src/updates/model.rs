//! What the update parser produces.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

use super::date::UpdateDate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Task,
    Part,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Task => "task",
            RecordKind::Part => "part",
        }
    }

    /// Fields a text record line of this kind can carry, in the order the
    /// parser tries their tags when two could start at the same place.
    pub(crate) fn text_fields(self) -> &'static [Field] {
        match self {
            RecordKind::Task => &[
                Field::Status,
                Field::EngineerEta,
                Field::ScheduledStart,
                Field::Description,
                Field::Completed,
            ],
            RecordKind::Part => &[
                Field::PartNumber,
                Field::Description,
                Field::Quantity,
                Field::Status,
                Field::Carrier,
                Field::Tracking,
                Field::Eta,
                Field::ReturnRequired,
                Field::ReturnStatus,
            ],
        }
    }

    pub(crate) fn structured_fields(self) -> &'static [Field] {
        match self {
            RecordKind::Task => &[
                Field::Id,
                Field::Status,
                Field::EngineerEta,
                Field::ScheduledStart,
                Field::Description,
                Field::Completed,
            ],
            RecordKind::Part => &[
                Field::Id,
                Field::PartNumber,
                Field::Description,
                Field::Quantity,
                Field::Status,
                Field::Carrier,
                Field::Tracking,
                Field::Eta,
                Field::ReturnRequired,
                Field::ReturnStatus,
            ],
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::Task => "onsite task",
            RecordKind::Part => "part order",
        })
    }
}

/// A field of a record, as named in the rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Field {
    Id,
    Status,
    EngineerEta,
    ScheduledStart,
    Description,
    Completed,
    PartNumber,
    Quantity,
    Carrier,
    Tracking,
    Eta,
    ReturnRequired,
    ReturnStatus,
}

impl Field {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Status => "status",
            Field::EngineerEta => "engineer_eta",
            Field::ScheduledStart => "scheduled_start",
            Field::Description => "description",
            Field::Completed => "completed",
            Field::PartNumber => "part_number",
            Field::Quantity => "quantity",
            Field::Carrier => "carrier",
            Field::Tracking => "tracking",
            Field::Eta => "eta",
            Field::ReturnRequired => "return_required",
            Field::ReturnStatus => "return_status",
        }
    }
}

macro_rules! canonical_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn from_name(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|s| s.as_str() == name)
            }
        }

        impl Canonical for $name {
            fn canonical_name(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

canonical_enum!(
    /// The timeline statuses of an onsite task.
    TaskStatus { Scheduled => "scheduled", Dispatched => "dispatched", Onsite => "onsite", Complete => "complete", Cancelled => "cancelled" }
);
canonical_enum!(
    /// The timeline statuses of a part order.
    PartStatus { Ordered => "ordered", Backordered => "backordered", Shipped => "shipped", Delivered => "delivered" }
);
canonical_enum!(
    /// Where the defective part is on its way back to HPE (not a timeline status).
    ReturnStatus { Pending => "pending", InTransit => "in_transit", Returned => "returned" }
);

/// A word HPE wrote and what the rules made of it. `canonical` is `None`
/// for a word the rules do not know: it is kept verbatim and shown flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Word<C> {
    pub raw: String,
    pub canonical: Option<C>,
}

impl<C> Word<C> {
    pub fn is_known(&self) -> bool {
        self.canonical.is_some()
    }
}

impl<C: Canonical> Word<C> {
    /// The word as it goes on the timeline or screen: canonical, else verbatim.
    pub fn name(&self) -> &str {
        match &self.canonical {
            Some(c) => c.canonical_name(),
            None => &self.raw,
        }
    }
}

/// A meaning a rules vocabulary maps words onto.
pub trait Canonical {
    fn canonical_name(&self) -> &str;
}

impl Canonical for String {
    fn canonical_name(&self) -> &str {
        self
    }
}

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `ACTIVITY.ActionLog` and `NameValuePairList`.
    Structured,
    /// A record line of `Comment`; `span` is its byte range in the comment,
    /// its line ending included when the record ends the line.
    Text { span: Range<usize> },
}

/// One onsite-task update. `None` means the update did not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskUpdate {
    /// HPE's work-order id.
    pub task_id: String,
    pub status: Option<Word<TaskStatus>>,
    pub scheduled_start: Option<UpdateDate>,
    pub engineer_eta: Option<UpdateDate>,
    pub description: Option<String>,
    pub completed: Option<UpdateDate>,
    pub origin: Origin,
    /// The record's own text: the comment bytes of its span, or the pairs
    /// it was read from as `key=value` lines.
    pub raw: String,
    /// Values present but unreadable (the raw text still has them).
    pub warnings: Vec<String>,
}

/// One part-order update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartUpdate {
    /// HPE's order id.
    pub order_id: String,
    pub part_number: Option<String>,
    pub description: Option<String>,
    pub quantity: Option<u32>,
    pub status: Option<Word<PartStatus>>,
    pub carrier: Option<Word<String>>,
    pub tracking: Option<String>,
    pub eta: Option<UpdateDate>,
    /// Whether the defective part must go back to HPE.
    pub return_required: Option<bool>,
    pub return_status: Option<Word<ReturnStatus>>,
    pub origin: Origin,
    pub raw: String,
    pub warnings: Vec<String>,
}

/// Why something that looked like an update was not read as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotUnderstoodReason {
    /// A record keyword with no readable id after it, or an update
    /// `ActionLog` whose pairs have no id.
    MissingId { kind: RecordKind },
    /// An id but not one tag after it.
    NoTags { kind: RecordKind, id: String },
    /// Words between the id and the first tag that are no tag.
    UnexpectedText {
        kind: RecordKind,
        id: String,
        text: String,
    },
}

impl fmt::Display for NotUnderstoodReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotUnderstoodReason::MissingId { kind } => {
                write!(f, "{kind} update without a readable id")
            }
            NotUnderstoodReason::NoTags { kind, id } => {
                write!(f, "{kind} {id}: no STATUS or other tag")
            }
            NotUnderstoodReason::UnexpectedText { kind, id, text } => {
                write!(f, "{kind} {id}: `{text}` is not a tag")
            }
        }
    }
}

/// Something that looked like an update but could not be read. It is never
/// dropped: text-form ones stay in [`Parsed::remainder`] where they were;
/// structured ones are added to [`Parsed::note`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotUnderstood {
    pub text: String,
    pub reason: NotUnderstoodReason,
    /// `Text` with its byte range in the comment, or `Structured`.
    pub origin: Origin,
}

/// The result of parsing one message.
///
/// The text invariant: the `Origin::Text` spans of `tasks` and `parts` are
/// disjoint, each record's `raw` is exactly `comment[span]`, and removing
/// every span from the comment leaves exactly `remainder`. So the comment is
/// `remainder` with the records' raw text put back at their spans: nothing
/// is lost and no byte is altered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    pub tasks: Vec<TaskUpdate>,
    pub parts: Vec<PartUpdate>,
    /// The comment without its record text: human sentences, blank lines
    /// and lines not understood, bytes as received.
    pub remainder: String,
    pub not_understood: Vec<NotUnderstood>,
}

impl Parsed {
    /// The note to keep in the case's journal, if any: the remainder when
    /// it has more than whitespace, then the text of structured updates
    /// that were not understood, one per line.
    pub fn note(&self) -> Option<String> {
        let mut parts: Vec<&str> = Vec::new();
        if !self.remainder.trim().is_empty() {
            parts.push(&self.remainder);
        }
        parts.extend(
            self.not_understood
                .iter()
                .filter(|n| n.origin == Origin::Structured)
                .map(|n| n.text.as_str()),
        );
        (!parts.is_empty()).then(|| parts.join("\n"))
    }

    /// All text spans of records, in comment order.
    pub fn record_spans(&self) -> Vec<Range<usize>> {
        let mut spans: Vec<Range<usize>> = self
            .tasks
            .iter()
            .map(|t| &t.origin)
            .chain(self.parts.iter().map(|p| &p.origin))
            .filter_map(|o| match o {
                Origin::Text { span } => Some(span.clone()),
                Origin::Structured => None,
            })
            .collect();
        spans.sort_by_key(|s| s.start);
        spans
    }
}
