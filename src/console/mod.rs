//! The console's interface to the engine: the data it shows, the requests
//! it makes, the events it receives, and the state-table refusals it can
//! tell the operator about before anything is sent. No UI types here, so the
//! CLI and a remote client use the same interface.

mod link;
pub mod local;
mod protocol;
pub mod remote;
pub mod rules;
mod types;
pub mod wire;

pub use link::{ConsoleLink, EngineLink, LinkClosed};
pub use protocol::{Connection, Event, History, OpenCase, Request, RequestId, Snapshot};
pub use types::{
    CaseDetail, CaseFlags, CaseId, CaseSummary, EntryStatus, Health, IncidentSummary, Origin,
    ParkedMessage, PartView, Priority, QuarantineEntry, RecordEvent, SyncMode, SystemChoice,
    TaskView, TimelineEntry, is_finished, state_words,
};
